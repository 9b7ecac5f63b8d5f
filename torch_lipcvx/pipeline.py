"""The recommended pipeline: ``fit`` — SGD-lip, a convex λ-path, λ chosen on held-out rows.

One call from data to a certified network (docs/pipeline.md has the measurements behind each
choice):

1. **Hold out** a seeded share of the training rows for validation
   (:func:`~torch_lipcvx.algorithm1.select.validation_split`), unless ``X_val, y_val`` are given.
2. **Start**: train SGD-lip (:func:`~torch_lipcvx.train.train_sgd_lip`, Adam on MSE + λ₀ρ*, the
   certified ``L²`` as a differentiable penalty) on the remaining rows at ``start_lam`` — or take
   the user's trained network (``start=``).
3. **Path**: for each ``λ`` of ``lams``, Algorithm 1 (:func:`~torch_lipcvx.postprocess`, at most
   ``max_iter`` restriction solves) from that start on the same rows
   (:func:`~torch_lipcvx.select_lam`). Every candidate is globally optimal for its convex
   restriction and ``J_λ(candidate) ≤ J_λ(start)``.
4. **Choose** the candidate (the start itself included) with the best validation score: PGD MSE at
   ``eps`` (default), clean MSE, or the lowest error with certified ``L ≤ L_budget``.
5. **Refit** (``refit=True``): the chosen ``λ``'s Algorithm 1 run again, from the same start,
   on ALL the rows (fit + validation), so the held-out rows are not lost to the final network;
   ``J_λ(final) ≤ J_λ(start)`` on all rows.

Why this shape (docs/pipeline.md §2): on the frontier benchmark a convex restriction from an
SGD-lip net lands where SGD-lip trained at that ``λ`` lands, so one training plus a path of
convex steps (≈0.5–1 s each at ``m = 100``) buys a choice of ``λ`` for the price of about one
more training, where choosing SGD-lip's own ``λ`` costs one training per ``λ``.

Units: ``X``, ``y`` as given (the built-in loaders standardise both); ``eps`` in input units;
``λ`` weighs ``ρ = L²`` (docs/conventions.md).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from . import defaults
from ._checks import (check_nonneg, check_positive, check_positive_int, check_seed,
                      check_solver_options, check_X, check_Xy)
from .losses import LossLike, SquaredError, get_loss
from ._progress import check_progress, progress_bar
from .models import ShallowReLU, as_shallow_relu
from .solvers import DEFAULT, Solver, SolverLike

__all__ = ["fit", "FitResult", "check_fit_options"]




@dataclass(kw_only=True)
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the final network, a new :class:`~torch_lipcvx.ShallowReLU` (float64, on ``X``'s
            device).
        lam: the ``λ`` of the final network's objective: the chosen ``λ``, or ``start_lam`` when
            the start network itself was chosen.
        L: the final network's certified ℓ2 Lipschitz upper bound (LipSDP; output units per
            input unit).
        start: the start network (the SGD-lip result's model, or a copy of ``start=``).
        selection: the :class:`~torch_lipcvx.algorithm1.select.LamSelection` (the whole path,
            its validation scores and ``plot()``).
        refit: the :class:`~torch_lipcvx.PostProcessResult` of the final run (from ``start``, at
            ``lam``, on all rows), or ``None`` with ``refit=False``.
        n_fit, n_val: rows the start and the path were fitted on; rows held out.
        times: wall seconds by stage: ``train``, ``path`` (the path and the validation scores),
            ``refit``, ``total``.
        settings: the options the call ran with (criterion, eps, norm, L_budget, start_lam,
            lams, max_iter, refit, epochs, hidden, seed).
    """

    model: ShallowReLU
    lam: float
    L: float
    start: ShallowReLU
    selection: object
    refit: Optional[object] = None
    n_fit: int = 0
    n_val: int = 0
    times: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def plot(self, path, title: str = ""):
        """The selection's plot: validation scores and certified ``L`` against ``λ`` (PNG)."""
        return self.selection.plot(path, title=title)

    def summary(self) -> dict:
        """One flat dict for tables and JSON: chosen ``λ``, ``L``, validation scores, times."""
        row = self.selection.chosen
        scores = {k: row[k] for k in ("val_mse", "val_adv_mse", "val_acc", "val_robust_acc",
                                      "val_cert_acc") if k in row}
        return {"lam": self.lam, "L": self.L, "chosen_from": (
                    "start" if not self.selection.postprocessed else "path"),
                **scores,
                "n_fit": self.n_fit, "n_val": self.n_val,
                **{f"time_{k}": v for k, v in self.times.items()},
                **{k: v for k, v in self.settings.items() if k != "lams"}}

    def __repr__(self) -> str:
        s = self.settings
        crit = s.get("criterion")
        how = (f"criterion={crit!r}" + (f", eps={s.get('eps'):g}" if crit != "clean" else "")
               + (f", L_budget={s.get('L_budget'):g}" if s.get("L_budget") is not None else ""))
        return (f"FitResult(lam={self.lam:g}, L={self.L:.6g}, {how}; "
                f"{self.n_fit}+{self.n_val} rows, refit={self.refit is not None}, "
                f"{self.times.get('total', 0.0):.1f}s)")


def check_fit_options(*, start_lam: float, val_fraction: float, refit: bool, hidden: int,
                      epochs: int, max_iter: int) -> dict:
    """The pipeline's own options, checked (named ``ValueError``/``TypeError``)."""
    start_lam = check_positive(start_lam, "start_lam")
    val_fraction = check_positive(val_fraction, "val_fraction")
    if not val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1) (the share of the training rows held "
                         f"out to choose λ), got {val_fraction!r}")
    if not isinstance(refit, bool):
        raise TypeError(f"refit must be True or False, got {refit!r}")
    return {"start_lam": start_lam, "val_fraction": val_fraction, "refit": refit,
            "hidden": check_positive_int(hidden, "hidden"),
            "epochs": check_positive_int(epochs, "epochs"),
            "max_iter": check_positive_int(max_iter, "max_iter")}


def fit(X: Tensor, y: Tensor, *,
        criterion: Literal["adversarial", "clean", "budget"] = "adversarial",
        eps: float = defaults.SELECT_EPS, norm: Union[float, str] = 2,
        L_budget: Optional[float] = None,
        budget_metric: Literal["clean", "adversarial"] = "clean",
        lams: Union[Sequence[float], np.ndarray, Tensor, None] = None,
        start_lam: float = defaults.FIT_START_LAM,
        start: Optional[nn.Module] = None,
        hidden: int = defaults.HIDDEN, epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
        beta: float = defaults.BETA,
        X_val: Optional[Tensor] = None, y_val: Optional[Tensor] = None,
        val_fraction: float = defaults.SELECT_VAL_FRACTION,
        max_iter: int = defaults.FIT_MAX_ITER, refit: bool = True,
        solver: SolverLike = DEFAULT, solver_options: Optional[dict] = None,
        attack_steps: int = defaults.SELECT_ATTACK_STEPS,
        seed: int = defaults.SEED, progress: Optional[bool] = None,
        loss: LossLike = None) -> FitResult:
    """Train a certified-robust shallow ReLU regressor or classifier: the recommended pipeline.

    SGD-lip at ``start_lam`` on the fit rows, then Algorithm 1 at each ``λ`` of ``lams`` from it,
    the candidate with the best validation score chosen, then (``refit``) Algorithm 1 at that
    ``λ`` from the same start on all rows. See the module doc and docs/pipeline.md for what was measured and what the
    guarantee promises: every convex step lowers (never raises) ``J_λ`` of the network it starts
    from; a lower ``J_λ`` is not a promise of lower test error.

    Args:
        X: ``(n, d)`` training inputs; y: ``(n,)`` or ``(n, 1)`` targets (``(n, k)`` for ``k``
            outputs; integer class labels ``(n,)`` for a classification ``loss``). Keep the test
            rows out.
        criterion: how the candidate is chosen on the validation rows: ``"adversarial"`` (PGD MSE
            at ``eps`` in ``norm``, the default), ``"clean"`` (MSE) or ``"budget"`` (the lowest
            ``budget_metric`` error among candidates with certified ``L ≤ L_budget``).
        eps: PGD radius ``≥ 0`` in input units (default
            :data:`~torch_lipcvx.defaults.SELECT_EPS`). norm: ``2`` or ``inf``.
        L_budget: ``γ > 0``, required by (and only used with) ``criterion="budget"``.
        budget_metric: ``"clean"`` or ``"adversarial"``, the error ``"budget"`` minimises.
        lams: the ``λ > 0`` of the path (default :data:`~torch_lipcvx.defaults.FIT_LAMS`, 5
            points 1e-3 … 1; the start's own ``start_lam`` is a candidate anyway).
        start_lam: SGD-lip's ``λ₀ > 0`` (default :data:`~torch_lipcvx.defaults.FIT_START_LAM`).
        start: a trained :class:`~torch_lipcvx.ShallowReLU` (or conforming ``nn.Sequential``) to
            start from instead of training SGD-lip; never modified. ``hidden``, ``epochs`` and
            ``lr`` are then unused, and ``start_lam`` is only the ``λ`` of a refit when the start
            itself is chosen.
        hidden: hidden units ``m ≥ 1`` of the SGD-lip network. epochs: its full-batch Adam steps.
        lr: its Adam learning rate. beta: the ℓ2 weight ``β ≥ 0`` of every objective.
        X_val, y_val: validation rows (then ``X, y`` are all fitted and none are held out);
            default: a seeded ``val_fraction`` of ``X, y``.
        val_fraction: share held out, in ``(0, 1)`` (default 0.2).
        max_iter: restriction solves per Algorithm 1 run (default
            :data:`~torch_lipcvx.defaults.FIT_MAX_ITER`; the first solve does most of the work).
        refit: run Algorithm 1 at the chosen ``λ`` again, from the start, on all rows (fit and
            validation) at the end (default ``True``).
        solver, solver_options: the convex steps' solver, as in :func:`~torch_lipcvx.postprocess`
            (e.g. ``solver_options={"screen": True}`` screens the pattern rows: 2–2.5× faster
            per step on wine and rastrigin, 2.7–2.8× slower on solar; docs/pipeline.md §5).
        attack_steps: PGD steps of the validation attack.
        seed: seeds the hold-out draw, SGD-lip's initialisation and the attack's starts.
        progress: tqdm bars (``None``: when stderr is a terminal).
        loss: the loss of every stage (docs/losses.md §4): ``None``/``"squared"`` (default),
            ``"huber"``, ``"logistic"`` (one output, binary labels) or ``"cross_entropy"``
            (``k`` = the number of classes outputs). For the classification losses the choice
            is made on validation accuracy: ``"adversarial"`` maximises robust accuracy under
            PGD at ``eps`` (:func:`~torch_lipcvx.select_lam`), ``"clean"`` accuracy; the
            selection table also reports certified accuracy.

    Returns:
        :class:`FitResult` (final model, chosen ``λ``, certified ``L``, the path, timings).

    Raises:
        ValueError, TypeError: a bad argument, named, before any work.
        LamBudgetError: no candidate has ``L ≤ L_budget`` (the message gives the smallest ``L``).
        SolverError: as :func:`~torch_lipcvx.postprocess`.

    Example::

        >>> import torch_lipcvx as tl
        >>> d = tl.data.load_dataset("servo", split=0)
        >>> res = tl.fit(d.X_train, d.y_train, eps=0.1)          # doctest: +SKIP
        >>> res.model, res.lam, res.L                             # doctest: +SKIP
    """
    from .algorithm1.postprocess import postprocess
    from .algorithm1.select import check_select_options, select_lam, validation_split
    from .objective import check_inputs
    from .train import _infer_outputs, train_sgd_lip

    t0 = time.perf_counter()
    lams = defaults.FIT_LAMS if lams is None else lams
    sel_opts = check_select_options(lams=lams, criterion=criterion, eps=eps, norm=norm,
                                    L_budget=L_budget, budget_metric=budget_metric,
                                    attack_steps=attack_steps, seed=seed)
    opts = check_fit_options(start_lam=start_lam, val_fraction=val_fraction, refit=refit,
                             hidden=hidden, epochs=epochs, max_iter=max_iter)
    from ._engine.barrier import PatternBarrier
    check_solver_options(Solver.parse(solver, solver_options).options_or_none, solver,
                         PatternBarrier.OPTIONS)
    seed = check_seed(seed)
    beta = check_nonneg(beta, "beta")
    lr = check_positive(lr, "lr")
    show = check_progress(progress)
    lossf = get_loss(loss)
    k_start = as_shallow_relu(start, "start").out_features if start is not None else None
    general = not isinstance(lossf, SquaredError) or (k_start or 1) > 1 or (
        isinstance(y, Tensor) and y.dim() == 2 and y.shape[1] > 1)
    if start is not None:
        # the start's shape against X and the targets against the loss, named errors
        check_inputs(start, X, y, 0.0, beta, lossf if general else None)
    if general:
        X = check_X(X, "X")
        k = k_start if k_start is not None else _infer_outputs(lossf, y, X.shape[0])
        y = lossf.targets(y, X.shape[0], k)
    else:
        X, y = check_Xy(X, y)
        y = y.reshape(-1)
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val (validation rows), or neither (then "
                         f"val_fraction={val_fraction!r} of the rows are held out)")
    if X_val is None:
        if X.shape[0] < 4:
            raise ValueError(f"fit holds out validation rows and needs at least 4 training rows, "
                             f"got {X.shape[0]}; pass X_val, y_val to use all of them")
        X_fit, y_fit, X_val, y_val = validation_split(X, y, opts["val_fraction"], seed=seed)
        X_all, y_all = X, y
    elif general:
        X_val = check_X(X_val, "X_val", X.shape[1]).to(X)
        y_val = lossf.targets(y_val, X_val.shape[0], k).to(y)
        X_fit, y_fit = X, y
        X_all, y_all = torch.cat([X, X_val]), torch.cat([y, y_val])
    else:
        X_val, y_val = check_Xy(X_val, y_val, X.shape[1])
        X_val, y_val = X_val.to(X), y_val.reshape(-1).to(X)
        X_fit, y_fit = X, y
        X_all, y_all = torch.cat([X, X_val]), torch.cat([y, y_val])

    times: dict[str, float] = {}
    with progress_bar(show, 3 if opts["refit"] else 2, "fit", unit="stage") as bar:
        # ---- 1. the start
        tic = time.perf_counter()
        if start is None:
            X64 = X_fit.to(torch.float64)
            y64 = y_fit.to(torch.float64) if y_fit.is_floating_point() else y_fit
            extra = {"loss": lossf, "out_features": k} if general else {}
            trained = train_sgd_lip(None, X64, y64, lam=opts["start_lam"], hidden=opts["hidden"],
                                    beta=beta, epochs=opts["epochs"], lr=lr, seed=seed,
                                    progress=False, **extra)
            net0 = trained.model
        else:
            net0 = copy.deepcopy(start)
        times["train"] = time.perf_counter() - tic
        bar.update(1, stage="path")
        # ---- 2. the path and the choice
        tic = time.perf_counter()
        sel = select_lam(net0, X_fit, y_fit, X_val, y_val, lams=sel_opts["lams"],
                         criterion=criterion, eps=sel_opts["eps"], norm=sel_opts["norm"],
                         L_budget=sel_opts["L_budget"], budget_metric=budget_metric, beta=beta,
                         max_iter=opts["max_iter"], solver=solver,
                         solver_options=solver_options, attack_steps=sel_opts["attack_steps"],
                         seed=seed, progress=False, loss=lossf if general else None)
        times["path"] = time.perf_counter() - tic
        lam = sel.lam if sel.postprocessed else opts["start_lam"]
        final, L, refit_res = sel.model, float(sel.chosen["L"]), None
        # ---- 3. the refit on all rows
        if opts["refit"]:
            bar.update(1, stage="refit")
            tic = time.perf_counter()
            # the chosen λ's convex step, redone on all rows FROM THE START: the same patterns
            # and outer weights as the chosen candidate, fitted to every row. (Starting from the
            # chosen candidate instead — an optimum of the 80% program, many rows active to
            # round-off — sent the interior point to its 200-iteration cap on wine at λ = 0.3
            # and into a 2-minute cvxpy fallback on 4 of 5 splits; docs/pipeline.md §2.)
            refit_res = postprocess(net0, X_all, y_all, lam=lam, beta=beta,
                                    max_iter=opts["max_iter"], solver=solver,
                                    solver_options=solver_options, progress=False,
                                    loss=lossf if general else None)
            final, L = refit_res.model, float(refit_res.history[-1].L)
            times["refit"] = time.perf_counter() - tic
        bar.update(1)
    times["total"] = time.perf_counter() - t0
    if not math.isfinite(L):
        raise RuntimeError(f"fit: the final certificate is not finite (L={L}); please report")
    settings = {"criterion": criterion, "eps": sel_opts["eps"], "norm": sel_opts["norm"],
                "L_budget": sel_opts["L_budget"], "budget_metric": budget_metric,
                "start_lam": opts["start_lam"], "lams": [float(v) for v in sel_opts["lams"]],
                "max_iter": opts["max_iter"], "refit": opts["refit"], "epochs": opts["epochs"],
                "hidden": opts["hidden"], "beta": float(beta), "seed": seed,
                "trained_start": start is None, "loss": lossf.name}
    return FitResult(model=final, lam=float(lam), L=L, start=copy.deepcopy(net0),
                     selection=sel, refit=refit_res, n_fit=int(X_fit.shape[0]),
                     n_val=int(X_val.shape[0]), times=times, settings=settings)
