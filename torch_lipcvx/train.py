"""Gradient-based training baselines for shallow ReLU networks (docs/conventions.md §2).

* :func:`train_sgd` minimises the project's objective with ``λ = 0``:
  ``(1/n) Σ_i ℓ(f(x_i), y_i) + (β/2) Σ_j (‖w̃_j‖² + ‖a_j‖²)``, with ``w̃_j = [w_j; b_j]`` (the
  hidden bias is penalised, the output bias ``c`` is not), by Adam or plain SGD on minibatches.
  ``ℓ`` is the squared error by default, or any loss of :mod:`torch_lipcvx.losses` (``loss=``:
  ``"huber"``, ``"logistic"``, ``"cross_entropy"``), for networks with ``k ≥ 1`` outputs.
* :func:`train_pgd` is Madry et al.'s (2018) adversarial training: for every minibatch an inner
  PGD attack maximises the loss within ``‖δ‖_p ≤ eps`` (the squared error by
  :func:`torch_lipcvx.attacks.pgd_attack` for the regression losses, the cross-entropy by
  :func:`torch_lipcvx.attacks.pgd_classification` for the classification losses), then the outer
  step minimises the adversarial loss plus the same ℓ2 term.
* :func:`train_sgd_lip`, "SGD-lip" (docs/lipsdp.md §9): Adam on the objective with ``λ > 0``, the
  certified ``ρ* = L²`` differentiated through the dual certificate or
  :class:`~torch_lipcvx.layers.LipSDPLayer` (:func:`~torch_lipcvx.layers.lipschitz_penalty`; for
  ``k ≥ 2`` outputs by the envelope theorem on the vector LipSDP's optimal multipliers).

With the squared error and one output (the default) the arithmetic is the one these trainers have
always used (``objective.mse``), bit for bit.

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
from ._checks import (as_tensor, check_data_scale, check_nonneg, check_norm, check_positive,
                      check_positive_int, check_seed, check_squared_errors_finite, check_X,
                      check_Xy, outside_inference_mode, seeded_generator)
from .attacks import NormLike, _check_alpha, _margins, pgd_attack, pgd_classification
from .losses import Loss, LossLike, SoftmaxCrossEntropy, SquaredError, _labels, get_loss
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
            :func:`train_pgd` the adversarial objective) and the data term of the model on the
            whole training set at the end of the epoch: ``mse`` for the squared error (the mean
            over rows of ``‖f(x_i) − y_i‖²``, summed over the ``k`` outputs), ``loss_data`` (the
            mean loss) for every other loss, and for the classification losses also
            ``accuracy`` (the fraction of training points with a positive margin,
            docs/attacks.md §4). :func:`train_pgd` adds the adversarial data term averaged
            over the epoch's minibatches: ``adv_mse`` (squared error) or ``adv_loss`` (other
            losses), and ``adv_accuracy`` for classification (accuracy on the adversarial
            points, before each step). :func:`train_sgd_lip` adds ``rho``.
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
                  progress=None, loss: LossLike = None, out_features=None):
    """Validate the shared arguments; returns ``(X, y, model, beta, epochs, lr, batch_size,
    optimizer, loss, k)``.

    ``loss`` is ``None`` for the squared error with one output (the path these trainers have
    always taken, its checks and arithmetic unchanged), else the :class:`Loss`; ``k`` is the
    number of outputs (the model's, ``out_features``, or inferred from ``y``:
    :func:`_infer_outputs`). The targets are validated by ``loss.targets`` before any work.
    """
    loss_obj = get_loss(loss)
    if out_features is not None:
        check_positive_int(out_features, "out_features")
    if model is not None:
        model = as_shallow_relu(model, "model")
        if out_features is not None and out_features != model.out_features:
            raise ValueError(f"out_features = {out_features} does not match the model, which has "
                             f"{model.out_features} output(s); leave out_features out when "
                             "passing a model")
    if model is None and out_features is None:
        X = check_X(X, "X")
        k = _infer_outputs(loss_obj, y, X.shape[0])
    else:
        k = model.out_features if model is not None else out_features
    if k > 1 or not isinstance(loss_obj, SquaredError):
        return _check_loss_common(X, y, model, hidden, beta, epochs, lr, batch_size, optimizer,
                                  seed, progress, loss_obj, k)
    if model is not None:
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
    return (X, y, model, *_check_hyper(beta, epochs, lr, batch_size, optimizer, seed, progress),
            None, 1)


def _check_hyper(beta, epochs, lr, batch_size, optimizer, seed, progress):
    """Validate the optimisation arguments; returns ``(beta, epochs, lr, batch_size,
    optimizer)``."""
    beta = check_nonneg(beta, "beta")
    epochs = check_positive_int(epochs, "epochs")
    lr = check_positive(lr, "lr")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(optimizer, str) or optimizer.lower() not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    check_seed(seed)
    check_progress(progress)
    return beta, epochs, lr, batch_size, optimizer.lower()


def _infer_outputs(loss: Loss, y, n: int) -> int:
    """The number of outputs ``k`` of a new network for ``loss`` and targets ``y`` (``n`` rows):
    cross-entropy: the number of classes (largest label + 1, at least 2); logistic: 1; squared
    error and Huber: ``y.shape[1]`` for 2-D targets, else 1."""
    if isinstance(loss, SoftmaxCrossEntropy):
        labels = _labels(y.detach() if isinstance(y, Tensor) else y, n)
        if int(labels.min()) < 0:
            raise ValueError(f"class labels must be integers >= 0, got labels down to "
                             f"{int(labels.min())}")
        return max(int(labels.max()) + 1, 2)
    if loss.classification:
        return 1
    y = as_tensor(y, "y")
    return int(y.shape[1]) if y.dim() == 2 else 1


def _check_loss_common(X, y, model, hidden, beta, epochs, lr, batch_size, optimizer, seed,
                       progress, loss: Loss, k: int):
    """:func:`_check_common` for ``k ≥ 2`` outputs or a loss other than the squared error."""
    if model is not None:
        check_weights_finite(model.weights(), "model")
        X = check_X(X, "X", model.in_features)
    else:
        X = check_X(X, "X")
        check_positive_int(hidden, "hidden")
    dtype = model.dtype if model is not None else X.dtype
    y = loss.targets(y.detach() if isinstance(y, Tensor) else y, X.shape[0], k, dtype=dtype)
    check_data_scale(X, y if y.is_floating_point() else None)
    X, y = (t.clone() if t.is_inference() else t for t in (X, y))
    if model is not None:
        with torch.no_grad():
            out = model(X.to(model.device, model.dtype))
            if y.is_floating_point():
                check_squared_errors_finite(out - y.to(out).reshape(out.shape), "model on (X, y)")
            elif not bool(torch.isfinite(out).all()):
                raise ValueError("the model's outputs on X are NaN/Inf: the weights or X are too "
                                 "large; rescale them")
    return (X, y, model, *_check_hyper(beta, epochs, lr, batch_size, optimizer, seed, progress),
            loss, k)


def _initial_model(model: Optional[ShallowReLU], X: Tensor, hidden: int, seed: int,
                   k: int = 1) -> ShallowReLU:
    """A new model to train: a copy of ``model``, or ``ShallowReLU(d, hidden, k)`` seeded by
    ``seed``.

    A copy keeps the model's device and dtype. A fresh model is built on ``X``'s device and dtype
    and initialised from ``torch.Generator().manual_seed(seed)`` only (drawn on the CPU, so the
    same weights on any device). No global RNG is touched, on any device: ``nn.Linear``'s own
    initialisation (which draws from the default device's global RNG) is skipped.
    """
    if model is not None:
        return model.clone()
    return ShallowReLU(X.shape[1], hidden, k, dtype=X.dtype, device=X.device,
                       generator=seeded_generator(seed))


def _to_model(net: ShallowReLU, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``X`` and the targets on the model's device and dtype (class labels keep int64)."""
    X = X.to(device=net.device, dtype=net.dtype)
    if y.is_floating_point():
        return X, y.to(device=net.device, dtype=net.dtype)
    return X, y.to(device=net.device)


def _data_term(loss: Optional[Loss], out: Tensor, y: Tensor) -> Tensor:
    """The data term of the objective: ``mse(out, y)`` on the default path (``loss`` None), else
    the mean of ``loss.value(out, y)``."""
    return mse(out, y) if loss is None else loss.value(out, y).mean()


def _data_record(loss: Optional[Loss], out: Tensor, y: Tensor, data: Optional[Tensor] = None
                 ) -> dict:
    """The history's data keys for outputs ``out`` (``data``: their data term, if computed):
    ``mse`` (squared error), else ``loss_data``, and ``accuracy`` for classification."""
    value = float(_data_term(loss, out, y) if data is None else data)
    if loss is None or isinstance(loss, SquaredError):
        return {"mse": value}
    record = {"loss_data": value}
    if loss.classification:
        record["accuracy"] = _accuracy(out, y)
    return record


def _accuracy(out: Tensor, y: Tensor) -> float:
    """Fraction of rows with a positive margin (docs/attacks.md §4), ``y`` int64 labels."""
    return float((_margins(out.detach(), y) > 0).to(torch.float64).mean())


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
         tag: str = "sgd", progress: Optional[bool] = None, loss: Optional[Loss] = None
         ) -> TrainResult:
    """Shared loop. ``attack(model, Xb, yb) -> Xb_adv`` replaces each batch when given;
    ``loss`` is ``None`` for the default squared error with one output (``objective.mse``)."""
    start = time.perf_counter()
    if loss is None:
        X = X.to(device=model.device, dtype=model.dtype)
        y = y.to(device=model.device, dtype=model.dtype)
    else:
        X, y = _to_model(model, X, y)
    n = X.shape[0]
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    shuffle_gen = seeded_generator(seed, 1)
    history: list[dict] = []
    every = _log_every(epochs)
    model.train()
    with progress_bar(progress, epochs, f"train ({tag})", unit="epoch") as bar:
        _epochs(model, X, y, n, opt, shuffle_gen, history, beta=beta, epochs=epochs, lr=lr,
                batch_size=batch_size, verbose=verbose, every=every, attack=attack, tag=tag,
                bar=bar, loss=loss)
    model.eval()
    return TrainResult(model=model, history=history, wall_time=time.perf_counter() - start)


def _epochs(model: ShallowReLU, X: Tensor, y: Tensor, n: int, opt, shuffle_gen, history: list,
            *, beta: float, epochs: int, lr: float, batch_size: Optional[int], verbose: bool,
            every: int, attack, tag: str, bar, loss: Optional[Loss] = None) -> None:
    """The epochs of :func:`_fit`, appending to ``history``."""
    classify = loss is not None and loss.classification
    for epoch in range(1, epochs + 1):
        total_loss, total_adv, adv_correct = 0.0, 0.0, 0.0
        for idx in _batches(n, batch_size, shuffle_gen, X.device):
            Xb, yb = X[idx], y[idx]
            if attack is not None:
                Xb = attack(model, Xb, yb)
            opt.zero_grad(set_to_none=True)
            out = model(Xb)
            data = _data_term(loss, out, yb)
            objective = training_loss(data, model, beta=beta)
            objective.backward()
            opt.step()
            total_loss += float(objective.detach()) * len(idx)
            total_adv += float(data.detach()) * len(idx)
            if attack is not None and classify:
                adv_correct += _accuracy(out, yb) * len(idx)
        with torch.no_grad():
            record = {"epoch": epoch, "loss": total_loss / n,
                      **_data_record(loss, model(X), y)}
        if attack is not None:
            if loss is None or isinstance(loss, SquaredError):
                record["adv_mse"] = total_adv / n
            else:
                record["adv_loss"] = total_adv / n
            if classify:
                record["adv_accuracy"] = adv_correct / n
        _record_epoch(history, record, lr=lr, verbose=verbose, every=every, epochs=epochs,
                      tag=tag, bar=bar)


# ---------------------------------------------------------------------------- public API
@outside_inference_mode
def train_sgd(model: Optional[nn.Module], X: Tensor, y: Tensor, *,
              hidden: int = defaults.HIDDEN, beta: float = defaults.BETA,
              epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
              batch_size: Optional[int] = None, optimizer: OptimizerName = "adam",
              seed: int = defaults.SEED, verbose: bool = False,
              progress: Optional[bool] = None, loss: LossLike = None,
              out_features: Optional[int] = None) -> TrainResult:
    """Train a shallow ReLU network on ``(1/n) Σ_i ℓ(f(x_i), y_i) + (β/2)·l2_penalty``.

    Args:
        model: a :class:`ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(m, k))`` to start
            from (copied, never modified; the copy keeps its device and dtype and the data are
            moved to them), or ``None`` to build ``ShallowReLU(d, hidden, k)`` on ``X``'s device
            and dtype (float64 data give a float64 model), initialised from a generator seeded
            by ``seed``.
        X: inputs ``(n, d)``; y: targets as ``loss`` takes them (:mod:`torch_lipcvx.losses`):
            floats ``(n,)`` or ``(n, 1)`` for one output, ``(n, k)`` for ``k`` outputs (squared
            error, Huber); class labels ``(n,)``: ``{0, 1}`` or ``±1`` (logistic, one output),
            integers in ``[0, k)`` (cross-entropy, ``k ≥ 2`` logits). Checked before any work.
        loss: ``None`` or ``"squared"`` (the default squared error ``‖f(x) − y‖²``; with one
            output the arithmetic is unchanged, bit for bit), ``"huber"``, ``"logistic"``,
            ``"cross_entropy"`` (or their aliases), or a :class:`~torch_lipcvx.losses.Loss`.
        out_features: the number of outputs ``k`` of a new network (``model=None``); by default
            inferred: cross-entropy the number of classes (largest label + 1, at least 2),
            logistic 1, squared error and Huber ``y.shape[1]`` for 2-D targets, else 1. With a
            ``model`` it must be ``None`` or the model's ``k``.
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
        :class:`TrainResult` with the new model (in eval mode) and the per-epoch history (keys
        ``epoch``, ``loss`` and ``mse`` for the squared error, ``loss_data`` for another loss,
        ``accuracy`` for a classification loss; see :class:`TrainResult`).

    Raises:
        ValueError: bad shapes, NaN/Inf data, targets the loss does not take (labels outside
            ``[0, k)``, non-integer labels, the logistic loss with ``k ≠ 1``, ...), unknown
            ``loss``, ``out_features`` that contradicts the model, ``beta < 0``, ``epochs < 1``,
            ``lr <= 0``, ``batch_size < 1``, unknown optimizer, a model that is not a shallow
            ReLU network or whose input size does not match ``X``.
        FloatingPointError: the loss became NaN/Inf.
    """
    X, y, model, beta, epochs, lr, batch_size, optimizer, loss, k = _check_common(
        X, y, model, hidden, beta, epochs, lr, batch_size, optimizer, seed, progress, loss,
        out_features)
    net = _initial_model(model, X, hidden, seed, k)
    return _fit(net, X, y, beta=beta, epochs=epochs, lr=lr, batch_size=batch_size,
                optimizer=optimizer, seed=seed, verbose=verbose, tag="sgd", progress=progress,
                loss=loss)


@outside_inference_mode
def train_pgd(model: Optional[nn.Module], X: Tensor, y: Tensor, *, eps: float,
              norm: NormLike = 2, hidden: int = defaults.HIDDEN, beta: float = defaults.BETA,
              epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
              batch_size: Optional[int] = None, optimizer: OptimizerName = "adam",
              attack_steps: int = 10, attack_alpha: Optional[float] = None,
              seed: int = defaults.SEED, verbose: bool = False,
              progress: Optional[bool] = None, loss: LossLike = None,
              out_features: Optional[int] = None) -> TrainResult:
    """Madry-style adversarial training (docs/attacks.md), for regression and classification.

    For each minibatch an inner PGD attack (random start, ``attack_steps`` steps of size
    ``attack_alpha``, one restart) finds ``x_i + δ_i`` with ``‖δ_i‖_p ≤ eps``; the outer step
    then minimises ``(1/|B|) Σ_{i∈B} ℓ(f(x_i + δ_i), y_i) + (β/2)·l2_penalty``. The attack:

    * regression losses (squared error, Huber): :func:`~torch_lipcvx.attacks.pgd_attack`
      maximising the squared error ``‖f(x_i + δ_i) − y_i‖²`` (summed over the ``k`` outputs).
      For Huber this is the same worst case: the
      Huber loss is increasing in ``|residual|``, so with one output both are maximised by the
      same point (with ``k ≥ 2`` the squared error stands in for it);
    * classification losses (logistic, cross-entropy):
      :func:`~torch_lipcvx.attacks.pgd_classification` with ``loss="ce"`` (it ascends the
      cross-entropy and returns, per row, the candidate with the smallest margin).

    The history's ``loss`` is the adversarial objective, ``adv_mse`` (squared error) or
    ``adv_loss`` (other losses) its data term, ``adv_accuracy`` (classification) the accuracy on
    the adversarial points, and ``mse`` / ``loss_data`` / ``accuracy`` the clean training
    values at the end of the epoch.

    Args:
        eps: attack radius ``>= 0``, in the units of ``X`` (e.g. standardised inputs). ``eps = 0``
            reduces to :func:`train_sgd`.
        norm: ``2`` or ``inf``.
        attack_steps: PGD steps per minibatch, ``>= 1``.
        attack_alpha: PGD step size; default ``2.5 * eps / attack_steps`` (Madry's convention).
        model, X, y, hidden, beta, epochs, lr, batch_size, optimizer, seed, verbose, progress,
            loss, out_features: as for :func:`train_sgd`. The PGD random starts come from a
            generator seeded by ``seed + 2``.

    Returns:
        :class:`TrainResult` (history entries also carry ``adv_mse`` or ``adv_loss``, and
        ``adv_accuracy`` for classification).

    Raises:
        ValueError: as for :func:`train_sgd`, and ``eps < 0`` or NaN, unknown ``norm``,
            ``attack_steps < 1``, ``attack_alpha <= 0``.
        FloatingPointError: the loss became NaN/Inf.
    """
    X, y, model, beta, epochs, lr, batch_size, optimizer, loss, k = _check_common(
        X, y, model, hidden, beta, epochs, lr, batch_size, optimizer, seed, progress, loss,
        out_features)
    eps = check_nonneg(eps, "eps")
    norm = check_norm(norm)
    attack_steps = check_positive_int(attack_steps, "attack_steps")
    attack_alpha = _check_alpha(attack_alpha, "attack_alpha")
    net = _initial_model(model, X, hidden, seed, k)
    attack_gen = seeded_generator(seed, 2)
    kw = dict(steps=attack_steps, alpha=attack_alpha, random_start=True, generator=attack_gen)

    def attack(m: ShallowReLU, Xb: Tensor, yb: Tensor) -> Tensor:
        if loss is not None and loss.classification:
            return pgd_classification(m, Xb, yb, eps, norm, loss="ce", **kw).X_adv
        return pgd_attack(m, Xb, yb, eps, norm, **kw).X_adv

    return _fit(net, X, y, beta=beta, epochs=epochs, lr=lr, batch_size=batch_size,
                optimizer=optimizer, seed=seed, verbose=verbose, attack=attack, tag="pgd",
                progress=progress, loss=loss)


def train_sgd_lip(model: Optional[nn.Module], X: Tensor, y: Tensor, *, lam: float,
                  hidden: int = defaults.HIDDEN, beta: float = defaults.BETA,
                  epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
                  seed: int = defaults.SEED, verbose: bool = False,
                  layer: Optional[LipSDPLayer] = None, solver: SolverLike = None,
                  solver_args: Optional[dict] = None, progress: Optional[bool] = None,
                  loss: LossLike = None, out_features: Optional[int] = None) -> TrainResult:
    """"SGD-lip": Adam on ``(1/n) Σ_i ℓ(f(x_i), y_i) + λρ*(W̄, A) + (β/2)·l2_penalty``
    (docs/lipsdp.md).

    ρ* is LipSDP's certified ``L²`` (:func:`lipschitz_penalty`), so each step differentiates the
    certificate itself: one LipSDP solve per epoch, differentiated by Danskin's theorem on its
    dual (``solver="auto"``) or implicitly through :class:`LipSDPLayer` (``"SCS"``). With
    ``k ≥ 2`` outputs every step solves the vector LipSDP for its optimal multipliers ``t*``
    (:func:`~torch_lipcvx.bounds.lipsdp`, with ``solver``) and differentiates
    ``λ_max(W̄ᵀ M(t*, A) W̄)`` in both ``W̄`` and ``A`` (the envelope theorem;
    :func:`~torch_lipcvx.layers.vector_certificate`); no ``layer`` is used. Full batch: one Adam
    step (PyTorch defaults) per epoch.

    Args:
        model: a :class:`~torch_lipcvx.ShallowReLU` or conforming ``nn.Sequential`` to start from
            (copied, never modified), or ``None`` to build ``ShallowReLU(d, hidden)`` on ``X``'s
            device and dtype from a generator seeded by ``seed`` (as :func:`train_sgd` does, so both
            start from the same network).
        X: inputs ``(n, d)``; y: targets as ``loss`` takes them (see :func:`train_sgd`).
        loss, out_features: the loss and the number of outputs of a new network, as for
            :func:`train_sgd` (default: the squared error, one output, unchanged bit for bit).
        lam: Lipschitz weight ``λ >= 0`` (``λ = 0`` trains on the data term (+ ℓ2) alone; ρ* is
            still recorded).
        hidden: ``m`` when ``model`` is None. beta: ℓ2 weight ``β >= 0``. epochs: ``>= 1``.
        lr: Adam learning rate ``> 0``. seed: makes the run reproducible (bit-identical on CPU).
        verbose: print a progress line about every 10% of the epochs.
        progress: a tqdm bar over the epochs on stderr: ``None`` (default) when stderr is a
            terminal, ``True``/``False`` always/never.
        layer: a prebuilt :class:`LipSDPLayer` of size ``(m, d)`` (else one is built when
            needed); one output only.
        solver: ``"auto"`` (default without a ``layer``) or ``"SCS"`` (default with one); see
            :func:`lipschitz_penalty` (for ``k ≥ 2``: the solver of the vector LipSDP).
        solver_args: SCS/diffcp options for every layer solve.

    Returns:
        :class:`~torch_lipcvx.train.TrainResult`. Each history entry describes the network at the
        *end* of its epoch: ``loss`` (the objective ``data + λ·rho + (β/2)·l2_penalty``), the
        data term on the whole training set (``mse`` for the squared error, else ``loss_data``,
        and ``accuracy`` for classification; as :func:`train_sgd`) and ``rho`` (certified LipSDP
        ``L²`` of the whole output map, re-verified: the last entry's is ``lipsdp`` of the
        returned model). This costs one solve more than the number of steps.

    Raises:
        ValueError: as :func:`~torch_lipcvx.train.train_sgd` (shapes, targets, loss, NaN, β,
            epochs, lr, model), and ``lam < 0`` or NaN, a ``layer`` of the wrong size, or a
            ``layer`` for a network with ``k ≥ 2`` outputs.
        FloatingPointError: the objective became NaN/Inf.
        SolverError: SCS failed.
    """
    from .layers import LipSDPLayer, _check_penalty_solver, _check_solver_args
    X, y, model, beta, epochs, lr, _, _, loss, k = _check_common(
        X, y, model, hidden, beta, epochs, lr, None, "adam", seed, progress, loss, out_features)
    lam = check_nonneg(lam, "lam")
    args = _check_solver_args(solver_args)
    solver = _check_penalty_solver(solver, layer)
    if k > 1 and layer is not None:
        raise ValueError(f"layer: a LipSDPLayer certifies networks with one output, this one has "
                         f"{k}; leave layer out (the vector LipSDP is solved with solver="
                         f"{solver.name!r})")
    start = time.perf_counter()
    net: ShallowReLU = _initial_model(model, X, hidden, seed, k)
    if loss is None:
        X = X.to(device=net.device, dtype=net.dtype)
        y = y.to(device=net.device, dtype=net.dtype)
    else:
        X, y = _to_model(net, X, y)
    if layer is None and k == 1 and not solver.uses_torch:   # k >= 2: the vector LipSDP
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
                        bar=bar, loss=loss)
    net.eval()
    return TrainResult(model=net, history=history, wall_time=time.perf_counter() - start)


def _sgd_lip_epochs(net: ShallowReLU, X: Tensor, y: Tensor, opt, history: list, *, lam: float,
                    beta: float, epochs: int, lr: float, verbose: bool, every: int,
                    layer: Optional[LipSDPLayer], solver: Solver, args: dict, bar,
                    loss: Optional[Loss] = None) -> None:
    """The epochs of :func:`train_sgd_lip`, appending to ``history``."""
    from .layers import lipschitz_penalty
    for epoch in range(0, epochs + 1):
        last = epoch == epochs
        opt.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(not last):
            out = net(X)
            data = _data_term(loss, out, y)
            with torch.set_grad_enabled(not last and lam > 0):
                rho = lipschitz_penalty(net, layer, solver=solver, solver_args=args)
            # J summed as (mse + λρ) + (β/2)·l2, the order this trainer has always used
            objective = training_loss(data + lipschitz_term(lam, rho), net, beta=beta)
        if epoch > 0:   # the weights now are those at the end of the previous epoch
            record = {"epoch": epoch, "loss": float(objective.detach()),
                      **_data_record(loss, out.detach(), y, data.detach()),
                      "rho": float(rho.detach())}
            _record_epoch(history, record, lr=lr, verbose=verbose, every=every, epochs=epochs,
                          tag="sgd-lip", bar=bar)
        if last:
            break
        if not math.isfinite(float(objective.detach())):
            raise FloatingPointError(f"training diverged before epoch {epoch + 1} (loss "
                                     f"{float(objective.detach())}); lower lr (now {lr:g})")
        objective.backward()
        opt.step()
