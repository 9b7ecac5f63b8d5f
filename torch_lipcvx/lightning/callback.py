"""Lightning callbacks: convex post-processing at the end of training (Algorithm 1,
``docs/algorithm1.md``).

:class:`ConvexPostProcessing` runs :func:`torch_lipcvx.algorithm1.postprocess.postprocess` on the
trained shallow ReLU network of a ``LightningModule`` when ``trainer.fit`` ends, and writes the
result back into the module (in place, parameters copied under ``torch.no_grad``) only when the
objective

    J = (1/n) Σ_i (f(x_i) − y_i)² + (β/2) Σ_j (‖w̃_j‖² + α_j²) + λ ρ*   (docs/conventions.md)

evaluated on the full training set in float64 with a fresh, re-verified LipSDP certificate
``ρ* = L²``, went down (with ``loss=`` or ``k ≥ 2`` outputs the data term is the mean loss
``(1/n) Σ_i ℓ(f(x_i), y_i)``, docs/losses.md, and ``α_j²`` is ``‖a_j‖²``).
Units: ``X`` in the units the model sees; ``L`` (ℓ2 norm) in output units
per input unit, a certified upper bound. After a write-back the callback re-validates and
re-saves the trainer's ``ModelCheckpoint`` files (``last.ckpt``, the best-model path), so the
checkpoints and ``trainer.callback_metrics`` describe the post-processed network.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
import warnings
import weakref
from typing import Any, Iterator, Optional

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset

from .. import defaults
from .._checks import check_nonneg, check_positive_int
from .._engine.distributed import RowComm
from ..losses import LossLike, SquaredError, get_loss
from ..models import ShallowReLU, ShallowWeights
from ..bounds import sampled_lower_bound
from ..algorithm1.postprocess import PostProcessResult, postprocess
from ..solvers import DEFAULT, Solver, SolverLike
from .module import check_Xy_outputs

__all__ = ["ConvexPostProcessing"]

def _validation_source(trainer: pl.Trainer, pl_module: pl.LightningModule) -> Optional[dict]:
    """Keyword arguments of ``trainer.validate`` that validate on the data ``fit`` validated on
    (the DataModule, the loaders passed to ``fit`` or the module's ``val_dataloader``), or
    ``None`` when ``fit`` had no validation (no ``validation_step``, no validation data, or
    ``limit_val_batches=0``)."""
    from lightning.pytorch.utilities.model_helpers import is_overridden
    if not is_overridden("validation_step", pl_module) or trainer.limit_val_batches == 0:
        return None
    datamodule = trainer.datamodule
    if datamodule is not None:  # fit read its validation data from the DataModule, if any
        return {"datamodule": datamodule} if is_overridden("val_dataloader", datamodule) else None
    loaders = trainer.val_dataloaders  # the loaders passed to fit (or built by the module)
    if loaders is not None:
        return {"dataloaders": loaders}
    return {} if is_overridden("val_dataloader", pl_module) else None


def _gather(loader: DataLoader, what: str) -> tuple[Tensor, Tensor]:
    """Every ``(x, y)`` of ``loader``'s dataset, in index order (sampler and shuffling ignored),
    as CPU tensors ``X (n, d)`` float64 and ``y (n,)`` (``(n, k)`` for ``k ≥ 2`` targets per
    row), float64 (integer labels stay int64); ``what`` names the data in errors."""
    dataset = loader.dataset
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        batches = loader  # no index order to restore: iterate as served
    else:
        batches = DataLoader(dataset, batch_size=loader.batch_size or 256, shuffle=False,
                             collate_fn=loader.collate_fn, num_workers=0)
    xs, ys = [], []
    for batch in batches:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(f"ConvexPostProcessing expects {what} batches (x, y), got "
                             f"{type(batch).__name__}; pass X= and y= instead")
        x, t = batch
        xs.append(torch.as_tensor(x).detach().to("cpu", torch.float64))
        t = torch.as_tensor(t).detach().to("cpu")
        t = t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)
        ys.append(t.reshape(len(x), -1))
    if not xs:
        raise ValueError(f"the {what} dataloader is empty; pass X= and y=")
    X, y = torch.cat(xs), torch.cat(ys)
    return X, (y[:, 0] if y.shape[1] == 1 else y)


@contextlib.contextmanager
def _fit_state_kept(trainer: pl.Trainer) -> Iterator[None]:
    """Restore what a nested ``trainer.validate`` changes in a trainer that is ending ``fit``.

    ``validate`` sets the trainer's state (function, status, stage), re-attaches the data (the
    fit loop's loaders and data sources, the DataModule hook selector) and empties the logged
    metrics; callbacks that run after this one in ``on_fit_end``, the module's own
    ``on_fit_end`` and ``teardown("fit")`` must still see the trainer as ``fit`` left it.
    The metrics that the validation run did not recompute (the ``train_*`` ones) are kept.
    Inside, ``validate`` restores no checkpoint into the module (it would when the user set
    ``trainer.ckpt_path`` or on SLURM with an ``hpc_ckpt`` file): it must score the module as
    it is; and it launches no processes (this already runs in every launched process, and a
    spawn launcher would start new ones from each).
    """
    state = (trainer.state.fn, trainer.state.status, trainer.state.stage)
    metrics = (dict(trainer.callback_metrics), dict(trainer.logged_metrics),
               dict(trainer.progress_bar_metrics))
    loops = [trainer.fit_loop, trainer.fit_loop.epoch_loop.val_loop]
    # Lightning internals (2.x); getattr keeps this working should they be renamed
    saved = [(loop, getattr(loop, "_combined_loader", None),
              getattr(getattr(loop, "_data_source", None), "instance", None)) for loop in loops]
    connector = trainer._data_connector
    selector = getattr(connector, "_datahook_selector", None)
    ckpt_connector = trainer._checkpoint_connector
    ckpt_state = (getattr(ckpt_connector, "_ckpt_path", None),
                  getattr(ckpt_connector, "_user_managed", False))
    # an instance attribute shadows the method for this validate() only
    ckpt_connector._select_ckpt_path = lambda *args, **kwargs: None
    strategy = trainer.strategy
    launcher = getattr(strategy, "_launcher", None)
    strategy._launcher = None
    try:
        yield
    finally:
        strategy._launcher = launcher
        del ckpt_connector._select_ckpt_path
        ckpt_connector._ckpt_path, ckpt_connector._user_managed = ckpt_state
        trainer.state.fn, trainer.state.status, trainer.state.stage = state
        for loop, combined, instance in saved:
            if hasattr(loop, "_combined_loader"):
                loop._combined_loader = combined
            if getattr(loop, "_data_source", None) is not None:
                loop._data_source.instance = instance
        if selector is not None:
            connector._datahook_selector = selector
        for old, new in zip(metrics, (trainer.callback_metrics, trainer.logged_metrics,
                                      trainer.progress_bar_metrics)):
            for key, value in old.items():
                new.setdefault(key, value)


def _supported_strategy(strategy: Any) -> bool:
    """Single-device and DDP strategies (every rank keeps a full copy of the module).

    DeepSpeed subclasses DDP but shards the model (ZeRO), so it is excluded; FSDP and model
    parallelism are not DDP subclasses.
    """
    from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy, SingleDeviceStrategy
    if isinstance(strategy, DeepSpeedStrategy):
        return False
    return isinstance(strategy, (SingleDeviceStrategy, DDPStrategy))


class ConvexPostProcessing(pl.Callback):
    """Post-process the trained ``ShallowReLU`` of a ``LightningModule`` when ``fit`` ends.

    Hooks used:

    * ``__init__``: every argument is validated (``ValueError``/``TypeError`` naming the value).
    * ``setup`` (stage ``"fit"``, before any training step): the module's network
      (``getattr(pl_module, model_attr)``, dotted paths allowed) must be a :class:`ShallowReLU`
      (an ``nn.Sequential`` is rejected: we write back into the module, so it must already be
      one; ``ShallowReLURegressor(model=seq)`` converts it), explicit ``X`` must match its input
      size, and the strategy must be single-device or DDP (sharded strategies such as FSDP and
      DeepSpeed are rejected).
    * ``on_fit_end``: the full training set is gathered in float64 (explicit ``X``, ``y`` if given,
      else every ``(x, y)`` of the training ``DataLoader``'s dataset, in index order, ignoring the
      sampler and shuffling). :func:`postprocess` runs on the network as it is (it never
      modifies its input; the maths runs in float64 and every candidate is rounded to the
      network's dtype before it is scored, so ``J_after`` is the objective of the weights
      written back). Lightning has moved the module to the CPU before ``on_fit_end``, so the
      solvers run there. Under DDP with two or more processes, the squared loss of one output,
      a torch solver (``"auto"``, ``"torch"``) and no ``select``, it runs on **every rank**,
      each rank's interior point on its contiguous shard of the rows, the sums over rows
      all-reduced (``postprocess(..., comm=...)``, docs/solvers.md §3.3); LipSDP and the
      scoring of each candidate run on every rank on the full data, and the summary (with its
      sampled lower bounds) on rank zero. Otherwise (one process, another loss, ``k`` outputs,
      a cvxpy solver, dense Newton systems or row screening asked for, ``select``) it runs on
      global rank zero alone. Rank zero then
      broadcasts the resulting weights and the summary (``trainer.strategy.broadcast(.., src=0)``),
      so every rank ends with identical weights. The weights are copied into the module's
      network in place (its device and dtype, ``ShallowReLU.load_weights``) ONLY if
      ``J_after < J_before``; otherwise the module is left bit-identical. Post-processing reorders
      the hidden units (``α > 0`` first); a permutation of units leaves ``f`` unchanged. When the
      trainer has loggers, ``postprocess/J_before``, ``J_after``, ``mse_before``, ``mse_after``,
      ``L_upper_before``, ``L_upper_after`` (certified LipSDP), ``L_lower_before``,
      ``L_lower_after`` (sampled gradient norms), ``improvement``, ``applied`` are logged with
      ``log_metrics(..., step=trainer.global_step)`` of every logger in ``trainer.loggers``.
      After a write-back, the validation loop and the checkpoints are refreshed (below).

    Checkpoints and metrics after the write-back (``refresh_checkpoints=True``, the default).
    ``on_fit_end`` runs after Lightning's checkpoint callbacks have written their last files, so
    without a refresh ``last.ckpt``, ``best_model_path`` and ``trainer.callback_metrics`` would
    describe the trained, not the post-processed, network. When the weights were written back,
    the callback therefore, on every rank:

    1. re-validates: ``trainer.validate`` runs the module's validation loop on the data ``fit``
       validated on (the DataModule's ``val_dataloader``, the loaders passed to ``fit``, or the
       module's own), only if ``fit`` had validation. The new ``val_*`` values replace the old
       ones in ``trainer.callback_metrics`` (also ``logged_metrics``, ``progress_bar_metrics``,
       and the loggers, at the same ``global_step``); the training metrics stay. The trainer's
       state and data are restored afterwards, so later ``on_fit_end`` hooks and
       ``teardown("fit")`` see it as ``fit`` left it. Other callbacks' validation hooks run
       during this loop; checkpoint and early-stopping callbacks do nothing outside ``fit``.
    2. re-saves, through every ``ModelCheckpoint`` of the trainer (``trainer.save_checkpoint``,
       honouring its ``save_weights_only``; the strategy writes on global rank zero only): its
       ``last_model_path`` (``last.ckpt``) is overwritten with the post-processed module (a
       ``save_last="link"`` symlink is replaced by a file, so the file it pointed to is kept);
       if it has a ``best_model_path``, the post-processed module is written to
       ``<dirpath>/postprocessed.ckpt`` (:attr:`CHECKPOINT_NAME`) and ``best_model_path`` and
       ``best_model_score`` point to it and to its re-validated monitored value (``None`` when
       the re-validation did not log the monitored key, e.g. a training metric).

    The rule for "best" is unconditional: the post-processed network becomes the best model
    even when its monitored score is worse than the best epoch's. Post-processing is the last
    step of the fit the user asked for, and it deliberately trades training MSE for a smaller
    certified Lipschitz bound; its criterion is ``J``, not the monitored metric, and the
    reported ``J_after`` and ``L_upper_after`` hold for this network only. The epoch checkpoint
    that was best is kept under its own name (and in ``best_k_models``, with its score), so
    nothing is lost and no file holds weights other than the ones its name and score describe.
    The files hold the callback's ``summary`` too (:meth:`state_dict`). Their optimizer states
    are those of training, kept in the old order of the hidden units that post-processing
    reorders: a fit resumed from them pairs those moments with permuted units (load the weights
    with ``load_from_checkpoint`` to train on afresh). The re-validation never loads a
    checkpoint into the module (not even ``trainer.ckpt_path``) and starts no processes; should
    the module's weights differ after it, the callback puts the post-processed weights back and
    raises ``RuntimeError`` without re-saving. When ``J`` did not decrease,
    nothing is re-validated or re-saved: files and metrics stay those of the trained network,
    which is the module. With ``refresh_checkpoints=False`` neither step runs; then
    ``trainer.validate(module, ...)`` and ``trainer.save_checkpoint(path)`` after ``fit`` do it
    by hand.

    With launchers that run training in child processes of the current one (``ddp_spawn``,
    ``ddp_fork``, notebooks), the refresh runs (and rank zero writes the files) in the
    children; the weights come back to the main process with the module but
    ``result``/``summary`` stay in the children.
    Lightning leaves the process group open after ``fit``; a script that ends right after it
    should close it on every rank (``torch.distributed.barrier()``, then
    ``torch.distributed.destroy_process_group()``): without that a gloo rank was once seen to
    abort at interpreter exit (SIGABRT, "terminate called without an active exception") after
    all its work was done (``examples/lightning_callback.py`` does it).

    Args:
        lam: λ ≥ 0, weight of ``ρ = L²`` (Lipschitz case, iterative; ``docs/programs.md``).
        beta: β ≥ 0, weight of the ℓ2 term; with ``lam = 0`` the ℓ2 case (one solve of
            program (6); ``docs/programs.md``). ``lam = beta = 0`` is rejected: ``J`` would be
            the plain MSE and nothing would be regularised (call :func:`postprocess` directly
            for that).
        max_iter: at most this many restriction solves, ``>= 1``.
        tol: relative-decrease stopping tolerance, ``>= 0``.
        solver: ``"auto"`` (default: torch solvers on the model's device, cvxpy fallback),
            ``"torch"``, ``"CLARABEL"`` or ``"SCS"`` (see :func:`~torch_lipcvx.postprocess`).
        solver_options: solver keyword arguments, a dict or ``None``.
        X, y: optional explicit training data ``(n, d)`` and ``(n,)`` (``(n, k)`` for ``k ≥ 2``
            outputs with a regression loss; class labels ``(n,)``) (both or neither) to use
            instead of the training dataloader's dataset.
        model_attr: attribute of the LightningModule holding the ``ShallowReLU``.
        refresh_checkpoints: after a write-back, re-validate and re-save the checkpoints (see
            above); ``True`` (default) or ``False``.
        verbose: print one line per iteration and a summary (rank zero only); 2 also prints
            the interior point's iterations.
        select: ``None`` (default: post-process at ``lam``), or a dict of
            :func:`~torch_lipcvx.select_lam` settings (``{}`` for its defaults; keys ``lams``,
            ``criterion``, ``eps``, ``norm``, ``L_budget``, ``budget_metric``, ``warm_start``,
            ``attack_steps``, ``attack_restarts``, ``seed``; checked here): choose ``λ`` on the
            validation data of ``fit`` (the DataModule's ``val_dataloader``, or a single
            validation ``DataLoader`` passed to ``fit``; explicit ``X_val``, ``y_val`` take
            precedence) and post-process on the training data with the chosen ``λ``. ``lam``
            must then be left at 0. The chosen network is written back only if it is a
            post-processed one (not the input) AND lowers ``J`` at the chosen ``λ`` against the
            trained network (``J_before``/``J_after`` are taken at that ``λ``; ``summary``
            gains ``lam`` and ``val_score``; :attr:`selection` holds the whole path).
        X_val, y_val: optional explicit validation data for ``select`` (both or neither).
        loss: the data term's loss, passed to :func:`~torch_lipcvx.postprocess` (``None``,
            the default: the squared error; ``"huber"``, ``"logistic"``, ``"cross_entropy"``
            or a :class:`~torch_lipcvx.losses.Loss`). Networks with ``k ≥ 2`` outputs
            (``ShallowReLU(d, m, out_features=k)``) are post-processed with it as well; the
            logged keys are the same (``mse_*`` is then the mean loss, the data term of ``J``).
            ``select`` passes it to :func:`~torch_lipcvx.select_lam` (``loss=``): for a
            classification loss ``λ`` is chosen on validation (robust) accuracy, for a
            regression loss with ``k ≥ 2`` outputs on the (adversarial) ``(1/n)Σ‖F_i − Y_i‖²``.

    Attributes:
        result: the :class:`~torch_lipcvx.algorithm1.postprocess.PostProcessResult` of the last run
            (on every rank when the ranks shared the convex step, else global rank zero only;
            ``None`` elsewhere and before a run; not checkpointed).
        summary: a dict of floats (keys ``J_before``, ``J_after``, ``mse_before``,
            ``mse_after``, ``L_upper_before``, ``L_upper_after``, ``L_lower_before``,
            ``L_lower_after``, ``improvement``,
            ``iterations``, ``applied``) on every rank; saved and restored with checkpoints.
        selection: the :class:`~torch_lipcvx.LamSelection` of the last run with ``select``
            (global rank zero only; else ``None``).
        applied: whether the last run wrote into the module (``False``, and ``summary``
            ``None``, after a run that failed).
        revalidated: whether the last run re-ran the validation loop on the written-back
            network (``False`` without a write-back, without validation data or with
            ``refresh_checkpoints=False``).

    Raises:
        ValueError/TypeError: bad settings (at construction); wrong architecture, mismatched
            ``X`` or an unsupported strategy (in ``setup``); training batches that are not
            ``(x, y)`` pairs or no training data (in ``on_fit_end``).
        RuntimeError: post-processing failed on rank zero (raised on every rank, with the
            rank-zero error message), or, when the ranks shared the convex step, on another
            rank (raised on every rank).
    """

    def __init__(self, *, lam: float = 0.0, beta: float = defaults.BETA,
                 max_iter: int = defaults.MAX_ITER, tol: float = defaults.TOL,
                 solver: SolverLike = DEFAULT,
                 solver_options: Optional[dict] = None, X: Optional[Tensor] = None,
                 y: Optional[Tensor] = None, model_attr: str = "model",
                 refresh_checkpoints: bool = True, verbose: bool = True,
                 select: Optional[dict] = None, X_val: Optional[Tensor] = None,
                 y_val: Optional[Tensor] = None, loss: LossLike = None) -> None:
        get_loss(loss)                  # a named error now for an unknown loss
        #: the loss as given (``None``: squared error), passed to postprocess as is
        self.loss = loss
        self.lam = check_nonneg(lam, "lam")
        self.beta = check_nonneg(beta, "beta")
        self.select: Optional[dict] = None
        if select is not None:
            from ..algorithm1.select import check_select_options
            if not isinstance(select, dict):
                raise TypeError(f"select must be None or a dict of select_lam settings (e.g. "
                                f"{{'criterion': 'adversarial', 'eps': 0.1}}), got "
                                f"{type(select).__name__}")
            allowed = ("lams", "criterion", "eps", "norm", "L_budget", "budget_metric",
                       "warm_start", "attack_steps", "attack_restarts", "seed")
            unknown = sorted(set(select) - set(allowed))
            if unknown:
                raise ValueError(f"select has unknown keys {unknown}; allowed: {list(allowed)}")
            if self.lam != 0:
                raise ValueError(f"select chooses lam on the validation data: leave lam at 0, "
                                 f"got lam={lam!r}")
            check_select_options(**select)          # every setting now, none at fit end
            self.select = dict(select)
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        if X_val is not None and self.select is None:
            raise ValueError("X_val and y_val are only used with select=...")
        self.X_val: Optional[Tensor] = None
        self.y_val: Optional[Tensor] = None
        if X_val is not None:
            X_val, y_val = check_Xy_outputs(X_val, y_val)
            self.X_val = X_val.detach().to("cpu", torch.float64).clone()
            self.y_val = y_val.detach().to("cpu", torch.float64).clone()
        self.selection = None
        if self.lam == 0 and self.beta == 0 and self.select is None:
            raise ValueError("lam and beta are both 0: set lam > 0 (Lipschitz case) or beta > 0 "
                             f"(ℓ2 case), got lam={lam!r}, beta={beta!r}")
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.tol = check_nonneg(tol, "tol")
        # parsed once (a name or a Solver); kept as its name and a plain dict, which pickle and
        # Lightning's hyperparameter logging take as they are
        spec = Solver.parse(solver, solver_options)
        self.solver, self.solver_options = spec.name, spec.options_or_none
        if (X is None) != (y is None):
            raise ValueError("pass both X and y, or neither (then the training dataloader is "
                             f"used), got X={'None' if X is None else 'a tensor'} and "
                             f"y={'None' if y is None else 'a tensor'}")
        self.X: Optional[Tensor] = None
        self.y: Optional[Tensor] = None
        if X is not None:
            X, y = check_Xy_outputs(X, y)
            self.X = X.detach().to("cpu", torch.float64).clone()
            self.y = y.detach().to("cpu", torch.float64).clone()
        if not isinstance(model_attr, str) or not model_attr or any(
                not part.isidentifier() for part in model_attr.split(".")):
            raise ValueError(f"model_attr must be an attribute name such as 'model', got "
                             f"{model_attr!r}")
        self.model_attr = model_attr
        if not isinstance(refresh_checkpoints, bool):
            raise TypeError(f"refresh_checkpoints must be True or False, got "
                            f"{refresh_checkpoints!r}")
        self.refresh_checkpoints = refresh_checkpoints
        self.revalidated = False
        self._fresh_metrics: set[str] = set()  # keys the last re-validation logged
        self.verbose = int(verbose)       # 2: also the interior point's iterations
        self.result: Optional[PostProcessResult] = None
        self.summary: Optional[dict[str, float]] = None
        self.applied = False

    #: file name (in each ``ModelCheckpoint``'s ``dirpath``, with its extension) of the
    #: post-processed checkpoint that ``best_model_path`` points to after the refresh
    CHECKPOINT_NAME = "postprocessed"

    @property
    def state_key(self) -> str:
        """Checkpoint key; distinguishes several instances by their settings."""
        return self._generate_state_key(lam=self.lam, beta=self.beta, model_attr=self.model_attr)

    # ------------------------------------------------------------------ helpers
    def _network(self, pl_module: pl.LightningModule) -> ShallowReLU:
        try:
            net = functools.reduce(getattr, self.model_attr.split("."), pl_module)
        except AttributeError:
            raise ValueError(f"{type(pl_module).__name__} has no attribute {self.model_attr!r} "
                             "(model_attr): cannot find the network to post-process") from None
        if isinstance(net, ShallowReLU):
            return net
        if isinstance(net, nn.Sequential):
            raise ValueError(
                f"{type(pl_module).__name__}.{self.model_attr} is an nn.Sequential; "
                "ConvexPostProcessing writes the result back into the module, so it must be a "
                "ShallowReLU: convert it with ShallowReLU.from_sequential(...) and assign it "
                "(ShallowReLURegressor(model=seq) does this)")
        raise ValueError(f"{type(pl_module).__name__}.{self.model_attr} must be a ShallowReLU, "
                         f"got {type(net).__name__}")

    def _training_data(self, trainer: pl.Trainer) -> tuple[Tensor, Tensor]:
        """The full training set as float64 CPU tensors ``(n, d)``, ``(n,)``."""
        if self.X is not None:
            return self.X, self.y
        loader = trainer.train_dataloader
        if loader is None and trainer.datamodule is not None:
            loader = trainer.datamodule.train_dataloader()
        if loader is None:
            raise ValueError("ConvexPostProcessing found no training dataloader; pass X= and y=")
        if not isinstance(loader, DataLoader):
            raise ValueError("ConvexPostProcessing needs a single training DataLoader, got "
                             f"{type(loader).__name__}; pass X= and y= instead")
        return _gather(loader, "training")

    def _validation_data(self, trainer: pl.Trainer) -> tuple[Tensor, Tensor]:
        """The full validation set of ``fit`` as float64 CPU tensors (for ``select``)."""
        if self.X_val is not None:
            return self.X_val, self.y_val
        loader = None
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "val_dataloader"):
            try:
                loader = datamodule.val_dataloader()
            except Exception:            # Lightning's default raises when there is none
                loader = None
        if loader is None:
            loader = trainer.val_dataloaders
        if isinstance(loader, (list, tuple)) and len(loader) == 1:
            loader = loader[0]
        if not isinstance(loader, DataLoader):
            raise ValueError("ConvexPostProcessing(select=...) needs validation data: give the "
                             "DataModule X_val and y_val (a val_dataloader), pass one validation "
                             "DataLoader to fit, or pass X_val= and y_val=")
        return _gather(loader, "validation")

    def _row_comm(self, trainer: pl.Trainer, net: ShallowReLU) -> Optional[RowComm]:
        """The processes that share the rows of the convex step (every rank of a DDP run of two
        or more processes), or ``None`` where it runs on rank zero alone: one process,
        ``select``, another loss than the squared error, ``k`` outputs, a cvxpy solver, row
        screening or dense Newton systems asked for (docs/solvers.md §3.3)."""
        if trainer.world_size < 2 or self.select is not None or net.out_features != 1:
            return None
        if not isinstance(get_loss(self.loss), SquaredError):
            return None
        spec = Solver.parse(self.solver, self.solver_options)
        if not spec.uses_torch or (self.solver_options or {}).get("screen") \
                or getattr(spec, "newton", None) == "dense":       # dense: all rows in one place
            return None
        comm = RowComm.from_default_group()
        return comm if comm.distributed else None

    def _run_every_rank(self, trainer: pl.Trainer, net: ShallowReLU, comm: RowComm) -> dict:
        """:func:`postprocess` on every rank, the rows of its convex steps shared by ``comm``;
        the payload on rank zero (``{}`` elsewhere). A failure on any rank is raised on every
        rank (after the others learn of it, so none hangs)."""
        zero = trainer.is_global_zero
        payload: dict = {}
        error: Optional[BaseException] = None
        try:
            X, y = self._training_data(trainer)
            kwargs = {} if self.loss is None else {"loss": self.loss}
            res = postprocess(net, X, y, lam=self.lam, beta=self.beta, max_iter=self.max_iter,
                              tol=self.tol, solver=self.solver,
                              solver_options=self.solver_options,
                              verbose=self.verbose if zero else False,
                              progress=None if zero else False, comm=comm, **kwargs)
            self.result = res
            if zero:
                payload = self._payload(net, X, res.model, res.history[0], res.history[-1],
                                        iterations=float(len(res.history) - 1))
        except Exception as exc:
            error = exc
            payload = {"error": f"{type(exc).__name__}: {exc}"}
        if comm.any(error is not None):                   # every rank learns of it
            self.result = None
            if error is not None:
                raise error
            raise RuntimeError("convex post-processing failed on another rank (the ranks "
                               "shared its rows)")
        return payload

    def _run_rank_zero(self, trainer: pl.Trainer, net: ShallowReLU) -> dict:
        X, y = self._training_data(trainer)
        if self.select is not None:
            return self._select_rank_zero(trainer, net, X, y)
        # on the module's device and in its dtype: the torch solvers run there, and the
        # certificate and J reported are those of the weights written back (postprocess never
        # modifies its input)
        kwargs = {} if self.loss is None else {"loss": self.loss}
        res = postprocess(net, X, y, lam=self.lam, beta=self.beta, max_iter=self.max_iter,
                          tol=self.tol, solver=self.solver, solver_options=self.solver_options,
                          verbose=self.verbose, **kwargs)
        self.result = res
        return self._payload(net, X, res.model, res.history[0], res.history[-1],
                             iterations=float(len(res.history) - 1))

    def _select_rank_zero(self, trainer: pl.Trainer, net: ShallowReLU, X: Tensor,
                          y: Tensor) -> dict:
        """``select``: choose λ on the validation data, then judge the chosen network by ``J``
        at that λ against the trained network (the input row of the selection)."""
        from ..algorithm1.select import select_lam
        from ..objective import objective
        X_val, y_val = self._validation_data(trainer)
        # the squared loss named for k >= 2 outputs: J's data term (1/n)‖F − Y‖²_F
        loss = "squared" if self.loss is None and net.out_features > 1 else self.loss
        kwargs = {} if loss is None else {"loss": loss}
        sel = select_lam(net, X, y, X_val, y_val, beta=self.beta, max_iter=self.max_iter,
                         tol=self.tol, solver=self.solver, solver_options=self.solver_options,
                         progress=False, **self.select, **kwargs)
        self.selection = sel
        extra = {"lam": sel.lam, "val_score": float(sel.table["score"][sel.index])}
        self.result = sel.results[sel.index - 1] if sel.postprocessed else None
        lam = sel.lam if sel.postprocessed else float(sel.table["lam"][1])
        # J at the chosen λ of the trained network and of the chosen one (warm-started runs
        # start from the previous λ's result, so history[0] is not the trained network)
        before = objective(net, X, y, lam=lam, beta=self.beta, solver=self.solver, **kwargs)
        after = before if not sel.postprocessed else objective(
            sel.model, X, y, lam=lam, beta=self.beta, solver=self.solver, **kwargs)
        h0 = types.SimpleNamespace(objective=before.value, mse=before.mse, L=before.L)
        h1 = types.SimpleNamespace(objective=after.value, mse=after.mse, L=after.L)
        return self._payload(net, X, sel.model, h0, h1, extra=extra,
                             iterations=float(sel.table["iterations"][sel.index]))

    def _payload(self, net: ShallowReLU, X: Tensor, new: ShallowReLU, h0, h1, *,
                 iterations: float, extra: Optional[dict] = None) -> dict:
        """The summary and (when ``J`` went down) the weights of ``new`` to broadcast from rank
        zero; ``h0``/``h1`` carry ``objective``, ``mse`` and ``L`` before and after."""
        applied = h1.objective < h0.objective
        # the lower ends of the Lipschitz intervals (sampled exact gradient norms, seeded)
        L_lower_before = sampled_lower_bound(net.weights().to("cpu", torch.float64), X=X)[0]
        L_lower_after = sampled_lower_bound(new.weights().to("cpu", torch.float64), X=X)[0]
        summary = {"J_before": h0.objective, "J_after": h1.objective, "mse_before": h0.mse,
                   "mse_after": h1.mse, "L_upper_before": h0.L, "L_upper_after": h1.L,
                   "L_lower_before": L_lower_before, "L_lower_after": L_lower_after,
                   "improvement": ((h0.objective - h1.objective) / h0.objective
                                   if h0.objective > 0 else 0.0),
                   "iterations": iterations, "applied": float(applied), **(extra or {})}
        w = new.weights().to("cpu", torch.float64)
        weights = {"W": w.W, "b": w.b, "alpha": w.alpha, "c": w.c} if applied else None
        return {"summary": {k: float(v) for k, v in summary.items()}, "weights": weights}

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check the network, explicit data and strategy before training starts."""
        if stage != "fit":
            return
        net = self._network(pl_module)
        if self.X is not None and self.X.shape[1] != net.in_features:
            raise ValueError(f"X has {self.X.shape[1]} features but {self.model_attr} expects "
                             f"{net.in_features}")
        if self.X is not None:        # y must suit the loss and the network's k outputs
            get_loss(self.loss).targets(self.y, self.X.shape[0], net.out_features)
        if self.select is not None and self.X_val is not None:
            # explicit validation targets must suit the loss and the network's k outputs too
            get_loss(self.loss).targets(self.y_val, self.X_val.shape[0], net.out_features)
        strategy = trainer.strategy
        if not _supported_strategy(strategy):
            raise ValueError(f"ConvexPostProcessing supports single-device and DDP strategies "
                             f"(every rank holds the full network), got "
                             f"{type(strategy).__name__}")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Post-process on rank zero, broadcast, write back if ``J`` decreased, log."""
        net = self._network(pl_module)
        # a failure below must not leave the previous run's (or a checkpoint's) outcome behind
        self.result, self.summary, self.applied, self.revalidated = None, None, False, False
        self.selection = None
        payload: dict
        comm = self._row_comm(trainer, net)
        if comm is not None:
            payload = self._run_every_rank(trainer, net, comm)
        elif trainer.is_global_zero:
            try:
                payload = self._run_rank_zero(trainer, net)
            except Exception as exc:  # tell the other ranks before raising, so none hangs
                payload = {"error": f"{type(exc).__name__}: {exc}"}
                trainer.strategy.broadcast(payload, src=0)
                raise
        else:
            payload = {}
        payload = trainer.strategy.broadcast(payload, src=0)
        if "error" in payload:
            raise RuntimeError(f"convex post-processing failed on rank zero: {payload['error']}")
        self.summary = dict(payload["summary"])
        self.applied = payload["weights"] is not None
        if self.applied:
            w = payload["weights"]
            net.load_weights(ShallowWeights(w["W"], w["b"], w["alpha"], w["c"]))
        for logger in trainer.loggers:
            logger.log_metrics({f"postprocess/{k}": v for k, v in self.summary.items()},
                               step=trainer.global_step)
        if self.verbose and trainer.is_global_zero:
            s = self.summary
            print(f"[torch_lipcvx] ConvexPostProcessing: J {s['J_before']:.6g} -> "
                  f"{s['J_after']:.6g}, L_upper {s['L_upper_before']:.6g} -> "
                  f"{s['L_upper_after']:.6g}; "
                  + ("weights updated" if self.applied else "J did not decrease: module unchanged"),
                  flush=True)
        if self.applied and self.refresh_checkpoints:
            self._revalidate(trainer, pl_module)
            self._resave_checkpoints(trainer)

    # ------------------------------------------------------------------ refresh
    def _revalidate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Run the validation loop of ``fit`` again on the written-back network (every rank).

        ``trainer.validate`` sets up the strategy (device, process group) and tears it down
        again as after ``fit``; its metrics replace the validation ones in
        ``trainer.callback_metrics`` (and ``logged_metrics``, ``progress_bar_metrics``) and go
        to the loggers at the same ``global_step``. Checkpoint and early-stopping callbacks do
        not act on it (they act only while fitting).
        """
        kwargs = _validation_source(trainer, pl_module)
        if kwargs is None:
            return
        net = self._network(pl_module)
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        with _fit_state_kept(trainer), warnings.catch_warnings():
            # Lightning's advice for validate() under DDP (padded shards): the loop is the one
            # fit ran, with the same samplers, so its values are those fit would have logged
            warnings.filterwarnings("ignore", message=r"Using `DistributedSampler` with the "
                                    r"dataloaders\. During `trainer\.validate\(\)`")
            trainer.validate(pl_module, verbose=False, **kwargs)
            fresh = set(trainer.callback_metrics)  # before the training metrics are merged back
        now = net.state_dict()
        if not all(torch.equal(state[k].cpu(), now[k].detach().cpu()) for k in state):
            net.load_state_dict(state)  # never save a network other than the post-processed one
            raise RuntimeError("ConvexPostProcessing: the re-validation changed the network's "
                               "weights (a checkpoint restored by trainer.validate?); the "
                               "post-processed weights are back in the module but the "
                               "checkpoints were not refreshed (refresh_checkpoints=False "
                               "skips this step)")
        self.revalidated = True
        self._fresh_metrics = fresh

    def _resave_checkpoints(self, trainer: pl.Trainer) -> None:
        """Write the post-processed module through every ``ModelCheckpoint`` (see the class doc).

        Every rank calls ``trainer.save_checkpoint`` (the strategy writes on global rank zero
        only and waits for all ranks); symbolic ``last`` links are removed on rank zero first.
        """
        from lightning.pytorch.callbacks import ModelCheckpoint
        # first every ModelCheckpoint's new state (each file holds all of them), then the files
        writes: dict[str, ModelCheckpoint] = {}
        for ckpt in trainer.checkpoint_callbacks:
            if not isinstance(ckpt, ModelCheckpoint) or ckpt.dirpath is None:
                continue
            if ckpt.best_model_path:
                best = os.path.join(ckpt.dirpath, self.CHECKPOINT_NAME + ckpt.FILE_EXTENSION)
                # the monitored value of this network, if the re-validation logged it (a
                # training metric left in callback_metrics describes the trained network)
                score = (trainer.callback_metrics[ckpt.monitor]
                         if self.revalidated and ckpt.monitor in self._fresh_metrics else None)
                ckpt.best_model_path = best
                ckpt.best_model_score = (None if score is None
                                         else torch.as_tensor(score).detach().clone())
                writes.setdefault(best, ckpt)
            if ckpt.last_model_path:
                writes.setdefault(ckpt.last_model_path, ckpt)
        for path, ckpt in writes.items():
            if trainer.is_global_zero and os.path.islink(path):
                os.remove(path)  # save_last="link": never write through into its target
            trainer.save_checkpoint(path, weights_only=ckpt.save_weights_only)
            for logger in trainer.loggers:
                logger.after_save_checkpoint(weakref.proxy(ckpt))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """``{"summary": dict or None, "applied": bool}`` (the full result is not saved)."""
        return {"summary": None if self.summary is None else dict(self.summary),
                "applied": self.applied}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``summary`` and ``applied`` from :meth:`state_dict`."""
        summary = state_dict.get("summary")
        self.summary = None if summary is None else {k: float(v) for k, v in summary.items()}
        self.applied = bool(state_dict.get("applied", False))
