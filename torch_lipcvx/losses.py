"""Convex losses of the network's outputs: the one small protocol every solver uses
(docs/losses.md).

A loss is a convex function ``ℓ(F_i, y_i)`` of one sample's outputs ``F_i ∈ R^k`` (``k = 1``: a
scalar output). The data term of ``J`` is its mean ``(1/n) Σ_i ℓ(F_i, y_i)``. Because the outputs
of a network with fixed patterns and fixed outer weights are linear in the hidden weights, the
restriction (12) and program (6) stay convex for every loss here (docs/programs.md §6).

The protocol (:class:`Loss`) is what a solver needs and nothing more:

* :meth:`Loss.value` — per-sample losses ``(n,)`` (differentiable by autograd, for training);
* :meth:`Loss.gradient` — ``∂ℓ/∂F_i``, shape ``(n, k)``;
* :meth:`Loss.hessian_action` — ``(∇²ℓ)(F_i) V_i`` for directions ``V (n, k)``;
* :meth:`Loss.cvxpy` — the same loss as a cvxpy expression (the cross-check; exponential cones
  for the logistic losses);
* :meth:`Loss.targets` — validates ``y`` in the user's terms before any work.

The torch interior point builds its Newton matrix from :meth:`~Loss.hessian_action` (``k``
actions per row); the squared loss has a constant Hessian, which the solvers exploit.

Targets: regression losses take float targets ``(n,)`` (one output) or ``(n, k)``; the binary
logistic loss takes labels in ``{0, 1}`` (or ``±1``) with one output; softmax cross-entropy takes
integer class labels ``(n,)`` in ``[0, k)`` with ``k ≥ 2`` outputs.
"""

from __future__ import annotations

import math
import numbers
from typing import Union

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "Loss",
    "SquaredError",
    "Huber",
    "BinaryLogistic",
    "SoftmaxCrossEntropy",
    "LossLike",
    "LOSSES",
    "get_loss",
]


class Loss:
    """A convex loss of one sample's outputs (docs/losses.md). Subclasses set ``name`` and
    ``classification`` and implement the per-sample maths on ``F (n, k)`` (``k = 1`` included).

    Attributes:
        name: the loss's name (``postprocess(loss=name)``).
        classification: whether the targets are class labels (accuracy makes sense).
        quadratic: whether the loss is a quadratic (its Hessian does not depend on ``F``).
    """

    name: str = ""
    classification: bool = False
    quadratic: bool = False

    # ------------------------------------------------------------------ the protocol
    def value(self, F: Tensor, y: Tensor) -> Tensor:
        """Per-sample losses ``ℓ(F_i, y_i)``, shape ``(n,)``, for outputs ``F`` (``(n,)`` or
        ``(n, k)``) and targets as :meth:`targets` returns them. Differentiable in ``F``."""
        return self._value(_2d(F), y)

    def gradient(self, F: Tensor, y: Tensor) -> Tensor:
        """``∂ℓ(F_i, y_i)/∂F_i``, shape ``(n, k)``."""
        return self._gradient(_2d(F), y)

    def hessian_action(self, F: Tensor, y: Tensor, V: Tensor) -> Tensor:
        """``∇²ℓ(F_i, y_i) V_i`` for directions ``V (n, k)``; shape ``(n, k)``."""
        return self._hessian_action(_2d(F), y, _2d(V))

    def hessian(self, F: Tensor, y: Tensor) -> Tensor:
        """The per-sample Hessians ``(n, k, k)``, from ``k`` Hessian actions."""
        F = _2d(F)
        n, k = F.shape
        eye = torch.eye(k, dtype=F.dtype, device=F.device)
        cols = [self._hessian_action(F, y, eye[r].expand(n, k)) for r in range(k)]
        return torch.stack(cols, dim=2)

    def cvxpy(self, F, y: np.ndarray):
        """``Σ_i ℓ(F_i, y_i)`` as a cvxpy expression of the affine outputs ``F`` (``(n, k)``)."""
        raise NotImplementedError

    def targets(self, y, n: int, k: int, dtype: torch.dtype = torch.float64) -> Tensor:
        """Validate targets for ``n`` samples and ``k`` outputs; return them as this loss uses
        them (float ``(n,)``/``(n, k)`` for regression, int64 labels for classification)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))

    # ------------------------------------------------------------------ to implement
    def _value(self, F: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def _gradient(self, F: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def _hessian_action(self, F: Tensor, y: Tensor, V: Tensor) -> Tensor:
        raise NotImplementedError


def _2d(F: Tensor) -> Tensor:
    return F[:, None] if F.dim() == 1 else F


def _float_targets(y, n: int, k: int, dtype: torch.dtype, who: str) -> Tensor:
    y = torch.as_tensor(y)
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"y must hold real numbers for the {who} loss, got dtype {y.dtype}")
    want = (n,) if k == 1 else (n, k)
    if k == 1 and y.shape == (n, 1):
        y = y[:, 0]
    if tuple(y.shape) != want:
        raise ValueError(f"y must have shape {want} for a network with {k} output"
                         f"{'s' if k > 1 else ''} and {n} rows, got {tuple(y.shape)}")
    y = y.to(dtype if y.is_floating_point() else torch.float64)
    if not bool(torch.isfinite(y).all()):
        raise ValueError("y contains NaN/Inf")
    return y


class SquaredError(Loss):
    """``ℓ(F, y) = ‖F − y‖²`` (summed over outputs; the mean over rows is the MSE)."""

    name = "squared"
    quadratic = True

    def _value(self, F, y):
        return (F - y.reshape(F.shape)).pow(2).sum(dim=1)

    def _gradient(self, F, y):
        return 2 * (F - y.reshape(F.shape))

    def _hessian_action(self, F, y, V):
        return 2 * V

    def cvxpy(self, F, y):
        import cvxpy as cp
        return cp.sum_squares(F - y.reshape(F.shape))

    def targets(self, y, n, k, dtype=torch.float64):
        return _float_targets(y, n, k, dtype, "squared")


class Huber(Loss):
    """``ℓ(F, y) = Σ_r h_δ(F_r − y_r)``, ``h_δ(u) = u²`` for ``|u| ≤ δ`` and ``2δ|u| − δ²``
    beyond (cvxpy's ``huber``; it equals the squared error for residuals up to ``δ``).

    Args:
        delta: δ > 0, in output units (default 1, i.e. one standard deviation of standardised
            targets).
    """

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) \
                or not math.isfinite(delta) or delta <= 0:
            raise ValueError(f"delta must be a finite number > 0, got {delta!r}")
        self.delta = float(delta)

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta:g})"

    def _value(self, F, y):
        u = (F - y.reshape(F.shape)).abs()
        d = self.delta
        return torch.where(u <= d, u * u, 2 * d * u - d * d).sum(dim=1)

    def _gradient(self, F, y):
        u = F - y.reshape(F.shape)
        return 2 * u.clamp(-self.delta, self.delta)

    def _hessian_action(self, F, y, V):
        u = (F - y.reshape(F.shape)).abs()
        return 2 * (u <= self.delta).to(V) * V

    def cvxpy(self, F, y):
        import cvxpy as cp
        return cp.sum(cp.huber(F - y.reshape(F.shape), self.delta))

    def targets(self, y, n, k, dtype=torch.float64):
        return _float_targets(y, n, k, dtype, "huber")


def _labels(y, n: int) -> Tensor:
    y = torch.as_tensor(y)
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"y must be class labels of shape ({n},), got {tuple(y.shape)}")
    if y.is_floating_point():
        if not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
            raise ValueError("y must hold integer class labels; got non-integer values")
        y = y.to(torch.int64)
    elif y.dtype == torch.bool:
        y = y.to(torch.int64)
    elif y.is_complex():
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    return y.to(torch.int64)


class BinaryLogistic(Loss):
    """``ℓ(f, y) = log(1 + exp(−s f))`` with ``s = 2y − 1``: a network with one output (the
    logit of class 1), labels ``y ∈ {0, 1}`` (``±1`` accepted and mapped to ``{0, 1}``)."""

    name = "logistic"
    classification = True

    def _sign(self, y: Tensor, like: Tensor) -> Tensor:
        return (2 * y - 1).to(like)[:, None]

    def _value(self, F, y):
        return torch.nn.functional.softplus(-self._sign(y, F) * F).sum(dim=1)

    def _gradient(self, F, y):
        s = self._sign(y, F)
        return -s * torch.sigmoid(-s * F)

    def _hessian_action(self, F, y, V):
        p = torch.sigmoid(F)
        return p * (1 - p) * V

    def cvxpy(self, F, y):
        import cvxpy as cp
        s = (2 * y - 1).astype(float).reshape(-1, 1)
        return cp.sum(cp.logistic(-cp.multiply(s, F)))

    def targets(self, y, n, k, dtype=torch.float64):
        if k != 1:
            raise ValueError(f"the logistic loss needs a network with one output (the logit of "
                             f"class 1), got {k} outputs; use loss='cross_entropy' for k >= 2")
        y = _labels(y, n)
        values = set(torch.unique(y).tolist())
        if not values <= {0, 1, -1}:
            raise ValueError(f"the logistic loss takes labels in {{0, 1}} (or ±1), got values "
                             f"{sorted(values)[:6]}")
        return torch.where(y < 0, torch.zeros_like(y), y)


class SoftmaxCrossEntropy(Loss):
    """``ℓ(F, y) = log Σ_r exp(F_r) − F_y``: ``k ≥ 2`` logits, integer labels in ``[0, k)``
    (``torch.nn.functional.cross_entropy`` per sample)."""

    name = "cross_entropy"
    classification = True

    def _value(self, F, y):
        return torch.logsumexp(F, dim=1) - F.gather(1, y[:, None])[:, 0]

    def _gradient(self, F, y):
        p = torch.softmax(F, dim=1)
        return p - torch.nn.functional.one_hot(y, F.shape[1]).to(F)

    def _hessian_action(self, F, y, V):
        p = torch.softmax(F, dim=1)
        return p * V - p * (p * V).sum(dim=1, keepdim=True)

    def cvxpy(self, F, y):
        import cvxpy as cp
        n, k = F.shape
        picked = cp.sum(cp.multiply(np.eye(k)[y], F))
        return cp.sum(cp.log_sum_exp(F, axis=1)) - picked

    def targets(self, y, n, k, dtype=torch.float64):
        if k < 2:
            raise ValueError("the cross-entropy loss needs a network with k >= 2 outputs (one "
                             "logit per class); for two classes with one output use "
                             "loss='logistic'")
        y = _labels(y, n)
        if n and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(f"class labels must lie in [0, {k}) for a network with {k} outputs, "
                             f"got labels from {int(y.min())} to {int(y.max())}")
        return y


#: the losses by name (``postprocess(loss=...)``, the CLI's ``--loss``)
LOSSES = {"squared": SquaredError, "huber": Huber, "logistic": BinaryLogistic,
          "cross_entropy": SoftmaxCrossEntropy}
_ALIASES = {"mse": "squared", "squared_error": "squared", "bce": "logistic",
            "binary_cross_entropy": "logistic", "ce": "cross_entropy", "softmax": "cross_entropy"}

#: a loss given by name (a key of :data:`LOSSES` or an alias) or as a :class:`Loss`
LossLike = Union[str, Loss, None]


def get_loss(loss: LossLike) -> Loss:
    """The :class:`Loss` for a name (``"squared"`` (default for ``None``), ``"huber"``,
    ``"logistic"``, ``"cross_entropy"``, or the aliases ``"mse"``, ``"bce"``, ``"ce"``) or an
    instance (returned as is)."""
    if loss is None:
        return SquaredError()
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name (one of {sorted(LOSSES)}) or a "
                        f"torch_lipcvx.losses.Loss, got {type(loss).__name__}")
    key = _ALIASES.get(loss.lower(), loss.lower())
    if key in LOSSES:
        return LOSSES[key]()
    raise ValueError(f"loss must be one of {sorted(LOSSES)} (or a torch_lipcvx.losses.Loss), "
                     f"got {loss!r}")
