"""Gradient-based training baselines for shallow ReLU networks (docs/conventions.md §2).

* :func:`train_sgd` minimises the project's objective with ``λ = 0``:
  ``(1/n) Σ_i (f(x_i) − y_i)² + (β/2) Σ_j (‖w̃_j‖² + α_j²)``, with ``w̃_j = [w_j; b_j]`` (the hidden
  bias is penalised, the output bias ``c`` is not), by Adam or plain SGD on minibatches.
* :func:`train_pgd` is Madry et al.'s (2018) adversarial training: for every minibatch an inner
  PGD attack (:func:`torch_lipcvx.attacks.pgd_attack`) maximises the squared error within
  ``‖δ‖_p ≤ eps``, then the outer step minimises the adversarial MSE plus the same ℓ2 term.
* :func:`train_sgd_lip`, "SGD-lip" (docs/lipsdp.md §9): Adam on the objective with ``λ > 0``, the
  certified ``ρ* = L²`` differentiated through the dual certificate or
  :class:`~torch_lipcvx.layers.LipSDPLayer` (:func:`~torch_lipcvx.layers.lipschitz_penalty`).

All three return a *new* :class:`~torch_lipcvx.models.ShallowReLU`; the model passed in is never
modified. Runs are reproducible: the initialisation, the minibatch order and the PGD random starts
come from ``torch.Generator`` objects seeded by ``seed``, so the same seed gives bit-identical
weights on CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Optional

import torch
from torch import Tensor, nn

from . import defaults
from ._checks import (check_data_scale, check_nonneg, check_norm, check_positive,
                      check_positive_int, check_seed, check_squared_errors_finite, check_Xy,
                      outside_inference_mode, seeded_generator)
from .attacks import NormLike, _check_alpha, pgd_attack
from ._progress import check_progress, progress_bar
from .models import ShallowReLU, as_shallow_relu, check_weights_finite
# l2_penalty is re-exported: its home is torch_lipcvx.objective
from .objective import l2_penalty, lipschitz_term, mse, training_loss
from .solvers import Solver, SolverLike

if TYPE_CHECKING:     # the layer is imported where SGD-lip runs (layers imports this module)
    from .layers import LipSDPLayer

__all__ = ["TrainResult", "l2_penalty", "train_pgd", "train_sgd", "train_sgd_lip"]

OptimizerName = Literal["adam", "sgd"]


@dataclass
class TrainResult:
    """A trained network and its history.

    Attributes:
        model: the trained network, a new :class:`ShallowReLU` (the input model is untouched).
        history: one dict per epoch with keys ``epoch`` (1-based), ``loss`` (the training
            objective, averaged over the epoch's minibatches weighted by their size; for
            :func:`train_pgd` the adversarial objective) and ``mse`` (the clean MSE with 1/n of the
            model on the whole training set at the end of the epoch). :func:`train_pgd` adds
            ``adv_mse``, the adversarial MSE averaged over the epoch's minibatches.
        wall_time: seconds spent training.
    """

    model: ShallowReLU
    history: list[dict] = field(default_factory=list)
    wall_time: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1] if self.history else {}
        extra = "".join(f", {k}={v:.6g}" for k, v in last.items() if k != "epoch")
        return (f"TrainResult(model=ShallowReLU({self.model.extra_repr()}), "
                f"epochs={len(self.history)}{extra}, wall_time={self.wall_time:.3g}s)")


# ---------------------------------------------------------------------------- maths
def _linear_layers(model: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    """The hidden and output ``nn.Linear`` of a ShallowReLU or a conforming ``nn.Sequential``."""
    if isinstance(model, ShallowReLU):
        return model.hidden, model.output
    as_shallow_relu(model)  # raises a named error unless Sequential(Linear, ReLU, Linear(m, 1))
    return model[0], model[2]


def _record_epoch(history: list, record: dict, *, lr: float, verbose: bool, every: int,
                  epochs: int, tag: str, bar=None) -> None:
    """Append one epoch's record (raising if its loss diverged), print it when verbose and
    advance the progress ``bar`` (a :class:`~torch_lipcvx._progress.ProgressBar`) if given."""
    epoch = record["epoch"]
    if not math.isfinite(record["loss"]):
        raise FloatingPointError(f"training diverged at epoch {epoch} (loss {record['loss']}); "
                                 f"lower lr (now {lr:g})")
    history.append(record)
    if bar is not None:
        bar.update(1, **{k: v for k, v in record.items() if k != "epoch"})
    if verbose and (epoch % every == 0 or epoch == epochs):
        line = (f"[{tag}] epoch {epoch}/{epochs}  "
                + "  ".join(f"{k} {v:.6g}" for k, v in record.items() if k != "epoch"))
        if bar is not None:
            bar.write(line)
        else:
            print(line, flush=True)


# ---------------------------------------------------------------------------- plumbing
def _check_common(X, y, model, hidden, beta, epochs, lr, batch_size, optimizer, seed,
                  progress=None):
    """Validate the shared arguments; returns ``(X, y, beta, epochs, lr, batch_size,
    optimizer)``."""
    if model is not None:
        model = as_shallow_relu(model, "model")
        check_weights_finite(model.weights(), "model")
        X, y = check_Xy(X, y, model.in_features)
    else:
        X, y = check_Xy(X, y)
        check_positive_int(hidden, "hidden")
    check_data_scale(X, y)
    # inference tensors (torch.inference_mode) cannot enter autograd: train on normal copies
    X, y = (t.clone() if t.is_inference() else t for t in (X, y))
    if model is not None:
        with torch.no_grad():
            out = model(X.to(model.device, model.dtype))
            check_squared_errors_finite(out - y.to(out), "model on (X, y)")
    beta = check_nonneg(beta, "beta")
    epochs = check_positive_int(epochs, "epochs")
    lr = check_positive(lr, "lr")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(optimizer, str) or optimizer.lower() not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    check_seed(seed)
    check_progress(progress)
    return X, y, model, beta, epochs, lr, batch_size, optimizer.lower()


def _initial_model(model: Optional[ShallowReLU], X: Tensor, hidden: int, seed: int) -> ShallowReLU:
    """A new model to train: a copy of ``model``, or ``ShallowReLU(d, hidden)`` seeded by ``seed``.

    A copy keeps the model's device and dtype. A fresh model is built on ``X``'s device and dtype
    and initialised from ``torch.Generator().manual_seed(seed)`` only (drawn on the CPU, so the
    same weights on any device). No global RNG is touched, on any device: ``nn.Linear``'s own
    initialisation (which draws from the default device's global RNG) is skipped.
    """
    if model is not None:
        return model.clone()
    return ShallowReLU(X.shape[1], hidden, dtype=X.dtype, device=X.device,
                       generator=seeded_generator(seed))


def _make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """Adam with PyTorch defaults, or plain SGD (no momentum)."""
    return torch.optim.Adam(params, lr=lr) if name == "adam" else torch.optim.SGD(params, lr=lr)


def _batches(n: int, batch_size: Optional[int], generator: torch.Generator, device) -> list[Tensor]:
    """Index tensors of one epoch's minibatches: a shuffled partition of ``range(n)``.

    ``batch_size=None`` (or ``>= n``) gives one full batch in the original order.
    """
    if batch_size is None or batch_size >= n:
        return [torch.arange(n, device=device)]
    perm = torch.randperm(n, generator=generator).to(device)
    return list(perm.split(batch_size))


def _log_every(epochs: int) -> int:
    """Print period for ``verbose``: about ten lines per run."""
    return max(1, epochs // 10)


def _fit(model: ShallowReLU, X: Tensor, y: Tensor, *, beta: float, epochs: int, lr: float,
         batch_size: Optional[int], optimizer: str, seed: int, verbose: bool, attack=None,
         tag: str = "sgd", progress: Optional[bool] = None) -> TrainResult:
    """Shared loop. ``attack(model, Xb, yb) -> Xb_adv`` replaces each batch when given."""
    start = time.perf_counter()
    X = X.to(device=model.device, dtype=model.dtype)
    y = y.to(device=model.device, dtype=model.dtype)
    n = X.shape[0]
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    shuffle_gen = seeded_generator(seed, 1)
    history: list[dict] = []
    every = _log_every(epochs)
    model.train()
    with progress_bar(progress, epochs, f"train ({tag})", unit="epoch") as bar:
        _epochs(model, X, y, n, opt, shuffle_gen, history, beta=beta, epochs=epochs, lr=lr,
                batch_size=batch_size, verbose=verbose, every=every, attack=attack, tag=tag,
                bar=bar)
    model.eval()
    return TrainResult(model=model, history=history, wall_time=time.perf_counter() - start)


def _epochs(model: ShallowReLU, X: Tensor, y: Tensor, n: int, opt, shuffle_gen, history: list,
            *, beta: float, epochs: int, lr: float, batch_size: Optional[int], verbose: bool,
            every: int, attack, tag: str, bar) -> None:
    """The epochs of :func:`_fit`, appending to ``history``."""
    for epoch in range(1, epochs + 1):
        total_loss, total_adv = 0.0, 0.0
        for idx in _batches(n, batch_size, shuffle_gen, X.device):
            Xb, yb = X[idx], y[idx]
            if attack is not None:
                Xb = attack(model, Xb, yb)
            opt.zero_grad(set_to_none=True)
            data = mse(model(Xb), yb)
            loss = training_loss(data, model, beta=beta)
            loss.backward()
            opt.step()
            total_loss += float(loss.detach()) * len(idx)
            total_adv += float(data.detach()) * len(idx)
        with torch.no_grad():
            clean = float(mse(model(X), y))
        record = {"epoch": epoch, "loss": total_loss / n, "mse": clean}
        if attack is not None:
            record["adv_mse"] = total_adv / n
        _record_epoch(history, record, lr=lr, verbose=verbose, every=every, epochs=epochs,
                      tag=tag, bar=bar)


# ---------------------------------------------------------------------------- public API
@outside_inference_mode
def train_sgd(model: Optional[nn.Module], X: Tensor, y: Tensor, *,
              hidden: int = defaults.HIDDEN, beta: float = defaults.BETA,
              epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
              batch_size: Optional[int] = None, optimizer: OptimizerName = "adam",
              seed: int = defaults.SEED, verbose: bool = False,
              progress: Optional[bool] = None) -> TrainResult:
    """Train a shallow ReLU network on ``(1/n) Σ (f(x_i) − y_i)² + (β/2)·l2_penalty``.

    Args:
        model: a :class:`ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(m, 1))`` to start
            from (copied, never modified; the copy keeps its device and dtype and the data are
            moved to them), or ``None`` to build ``ShallowReLU(d, hidden)`` on ``X``'s device and
            dtype (float64 data give a float64 model), initialised from a generator seeded by
            ``seed``.
        X: inputs ``(n, d)``; y: targets ``(n,)`` or ``(n, 1)``.
        hidden: number of hidden units ``m`` when ``model`` is ``None`` (ignored otherwise;
            default :data:`~torch_lipcvx.defaults.HIDDEN`).
        beta: ℓ2 weight ``β >= 0`` (docs/conventions.md §2; the hidden bias is penalised, ``c`` is
        not). epochs: passes over the data, ``>= 1`` (default
        :data:`~torch_lipcvx.defaults.EPOCHS`). lr: learning rate, ``> 0`` (default
        :data:`~torch_lipcvx.defaults.LR`). batch_size: minibatch size; ``None`` means full batch.
        Minibatches are reshuffled every
            epoch by a generator seeded by ``seed + 1``.
        optimizer: ``"adam"`` (PyTorch defaults) or ``"sgd"`` (no momentum).
        seed: makes the run reproducible (bit-identical on CPU); the global RNG is not used.
        verbose: print a progress line about every 10% of the epochs.
        progress: a tqdm bar over the epochs on stderr: ``None`` (default) when stderr is a
            terminal, ``True``/``False`` always/never.

    Returns:
        :class:`TrainResult` with the new model (in eval mode) and the per-epoch history.

    Raises:
        ValueError: bad shapes, NaN/Inf data, ``beta < 0``, ``epochs < 1``, ``lr <= 0``,
            ``batch_size < 1``, unknown optimizer, a model that is not a shallow ReLU network or
            whose input size does not match ``X``.
        FloatingPointError: the loss became NaN/Inf.
    """
    X, y, model, beta, epochs, lr, batch_size, optimizer = _check_common(
        X, y, model, hidden, beta, epochs, lr, batch_size, optimizer, seed, progress)
    net = _initial_model(model, X, hidden, seed)
    return _fit(net, X, y, beta=beta, epochs=epochs, lr=lr, batch_size=batch_size,
                optimizer=optimizer, seed=seed, verbose=verbose, tag="sgd", progress=progress)


@outside_inference_mode
def train_pgd(model: Optional[nn.Module], X: Tensor, y: Tensor, *, eps: float,
              norm: NormLike = 2, hidden: int = defaults.HIDDEN, beta: float = defaults.BETA,
              epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
              batch_size: Optional[int] = None, optimizer: OptimizerName = "adam",
              attack_steps: int = 10, attack_alpha: Optional[float] = None,
              seed: int = defaults.SEED, verbose: bool = False,
              progress: Optional[bool] = None) -> TrainResult:
    """Madry-style adversarial training for regression (docs/attacks.md).

    For each minibatch, :func:`~torch_lipcvx.attacks.pgd_attack` (random start, ``attack_steps``
    steps of size ``attack_alpha``, one restart) finds ``x_i + δ_i`` with ``‖δ_i‖_p ≤ eps`` that
    maximises ``(f(x_i + δ_i) − y_i)²``; the outer step then minimises
    ``(1/|B|) Σ_{i∈B} (f(x_i + δ_i) − y_i)² + (β/2)·l2_penalty``. The history's ``loss`` is this
    adversarial objective, ``adv_mse`` its data term and ``mse`` the clean training MSE.

    Args:
        eps: attack radius ``>= 0``, in the units of ``X`` (e.g. standardised inputs). ``eps = 0``
            reduces to :func:`train_sgd`.
        norm: ``2`` or ``inf``.
        attack_steps: PGD steps per minibatch, ``>= 1``.
        attack_alpha: PGD step size; default ``2.5 * eps / attack_steps`` (Madry's convention).
        model, X, y, hidden, beta, epochs, lr, batch_size, optimizer, seed, verbose, progress:
            as for :func:`train_sgd`. The PGD random starts come from a generator seeded by
            ``seed + 2``.

    Returns:
        :class:`TrainResult` (history entries also carry ``adv_mse``).

    Raises:
        ValueError: as for :func:`train_sgd`, and ``eps < 0`` or NaN, unknown ``norm``,
            ``attack_steps < 1``, ``attack_alpha <= 0``.
        FloatingPointError: the loss became NaN/Inf.
    """
    X, y, model, beta, epochs, lr, batch_size, optimizer = _check_common(
        X, y, model, hidden, beta, epochs, lr, batch_size, optimizer, seed, progress)
    eps = check_nonneg(eps, "eps")
    norm = check_norm(norm)
    attack_steps = check_positive_int(attack_steps, "attack_steps")
    attack_alpha = _check_alpha(attack_alpha, "attack_alpha")
    net = _initial_model(model, X, hidden, seed)
    attack_gen = seeded_generator(seed, 2)

    def attack(m: ShallowReLU, Xb: Tensor, yb: Tensor) -> Tensor:
        return pgd_attack(m, Xb, yb, eps, norm, steps=attack_steps, alpha=attack_alpha,
                          random_start=True, generator=attack_gen).X_adv

    return _fit(net, X, y, beta=beta, epochs=epochs, lr=lr, batch_size=batch_size,
                optimizer=optimizer, seed=seed, verbose=verbose, attack=attack, tag="pgd",
                progress=progress)


def train_sgd_lip(model: Optional[nn.Module], X: Tensor, y: Tensor, *, lam: float,
                  hidden: int = defaults.HIDDEN, beta: float = defaults.BETA,
                  epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
                  seed: int = defaults.SEED, verbose: bool = False,
                  layer: Optional[LipSDPLayer] = None, solver: SolverLike = None,
                  solver_args: Optional[dict] = None, progress: Optional[bool] = None
                  ) -> TrainResult:
    """"SGD-lip": Adam on ``(1/n)‖f(X) − y‖² + λρ*(W̄, α) + (β/2)·l2_penalty`` (docs/lipsdp.md).

    ρ* is LipSDP's certified ``L²`` (:func:`lipschitz_penalty`), so each step differentiates the
    certificate itself: one LipSDP solve per epoch, differentiated by Danskin's theorem on its
    dual (``solver="auto"``) or implicitly through :class:`LipSDPLayer` (``"SCS"``). Full batch:
    one Adam step (PyTorch defaults) per epoch.

    Args:
        model: a :class:`~torch_lipcvx.ShallowReLU` or conforming ``nn.Sequential`` to start from
            (copied, never modified), or ``None`` to build ``ShallowReLU(d, hidden)`` on ``X``'s
            device and dtype from a generator seeded by ``seed`` (as :func:`train_sgd` does, so both
            start from the same network).
        X: inputs ``(n, d)``; y: targets ``(n,)`` or ``(n, 1)``.
        lam: Lipschitz weight ``λ >= 0`` (``λ = 0`` trains on MSE (+ ℓ2) alone; ρ* is still
            recorded).
        hidden: ``m`` when ``model`` is None. beta: ℓ2 weight ``β >= 0``. epochs: ``>= 1``.
        lr: Adam learning rate ``> 0``. seed: makes the run reproducible (bit-identical on CPU).
        verbose: print a progress line about every 10% of the epochs.
        progress: a tqdm bar over the epochs on stderr: ``None`` (default) when stderr is a
            terminal, ``True``/``False`` always/never.
        layer: a prebuilt :class:`LipSDPLayer` of size ``(m, d)`` (else one is built when
            needed).
        solver: ``"auto"`` (default without a ``layer``) or ``"SCS"`` (default with one); see
            :func:`lipschitz_penalty`.
        solver_args: SCS/diffcp options for every layer solve.

    Returns:
        :class:`~torch_lipcvx.train.TrainResult`. Each history entry describes the network at the
        *end* of its epoch: ``loss`` (the objective ``mse + λ·rho + (β/2)·l2_penalty``), ``mse``
        (1/n, whole training set) and ``rho`` (certified LipSDP ``L²``, re-verified). This costs
        one solve more than the number of steps.

    Raises:
        ValueError: as :func:`~torch_lipcvx.train.train_sgd` (shapes, NaN, β, epochs, lr, model),
            and ``lam < 0`` or NaN, or a ``layer`` of the wrong size.
        FloatingPointError: the objective became NaN/Inf.
        SolverError: SCS failed.
    """
    from .layers import LipSDPLayer, _check_penalty_solver, _check_solver_args
    X, y, model, beta, epochs, lr, _, _ = _check_common(
        X, y, model, hidden, beta, epochs, lr, None, "adam", seed, progress)
    lam = check_nonneg(lam, "lam")
    args = _check_solver_args(solver_args)
    solver = _check_penalty_solver(solver, layer)
    start = time.perf_counter()
    net: ShallowReLU = _initial_model(model, X, hidden, seed)
    X = X.to(device=net.device, dtype=net.dtype)
    y = y.to(device=net.device, dtype=net.dtype)
    if layer is None and not solver.uses_torch:
        layer = LipSDPLayer(net.m, net.in_features)
    elif layer is not None and (not isinstance(layer, LipSDPLayer)
                                or (layer.m, layer.d) != (net.m, net.in_features)):
        raise ValueError(f"layer must be a LipSDPLayer for m={net.m}, d={net.in_features}, "
                         f"got {layer!r}")
    opt = _make_optimizer("adam", net.parameters(), lr)
    every = _log_every(epochs)
    history: list[dict] = []
    net.train()
    with progress_bar(progress, epochs, "train (sgd-lip)", unit="epoch") as bar:
        _sgd_lip_epochs(net, X, y, opt, history, lam=lam, beta=beta, epochs=epochs, lr=lr,
                        verbose=verbose, every=every, layer=layer, solver=solver, args=args,
                        bar=bar)
    net.eval()
    return TrainResult(model=net, history=history, wall_time=time.perf_counter() - start)


def _sgd_lip_epochs(net: ShallowReLU, X: Tensor, y: Tensor, opt, history: list, *, lam: float,
                    beta: float, epochs: int, lr: float, verbose: bool, every: int,
                    layer: Optional[LipSDPLayer], solver: Solver, args: dict, bar) -> None:
    """The epochs of :func:`train_sgd_lip`, appending to ``history``."""
    from .layers import lipschitz_penalty
    for epoch in range(0, epochs + 1):
        last = epoch == epochs
        opt.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(not last):
            data = mse(net(X), y)
            with torch.set_grad_enabled(not last and lam > 0):
                rho = lipschitz_penalty(net, layer, solver=solver, solver_args=args)
            # J summed as (mse + λρ) + (β/2)·l2, the order this trainer has always used
            loss = training_loss(data + lipschitz_term(lam, rho), net, beta=beta)
        if epoch > 0:   # the weights now are those at the end of the previous epoch
            record = {"epoch": epoch, "loss": float(loss.detach()), "mse": float(data.detach()),
                      "rho": float(rho.detach())}
            _record_epoch(history, record, lr=lr, verbose=verbose, every=every, epochs=epochs,
                          tag="sgd-lip", bar=bar)
        if last:
            break
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"training diverged before epoch {epoch + 1} (loss "
                                     f"{float(loss.detach())}); lower lr (now {lr:g})")
        loss.backward()
        opt.step()
