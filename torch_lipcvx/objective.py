"""The objective ``J`` and its parts: the one implementation (docs/conventions.md §2).

    J = (1/n) ‖f(X) − y‖²  +  (β/2) Σ_j (‖w_j‖² + b_j² + α_j²)  +  λ ρ

or, with another convex loss (:mod:`torch_lipcvx.losses`), ``(1/n) Σ_i ℓ(f(x_i), y_i)`` as the
data term and ``‖a_j‖²`` for ``α_j²`` with ``k`` outputs (docs/losses.md).

with ``ρ = L²`` a certified LipSDP bound (docs/lipsdp.md); the hidden bias ``b`` is penalised, the
output bias ``c`` is not. Every module that trains on ``J`` or scores a network with it calls the
functions here; none writes the formula itself.

Two entry points share the parts, because training and scoring need different arithmetic:

* **Training (autograd tensors, the model's dtype and device).** :func:`mse` is the data term,
  :func:`l2_penalty` the ℓ2 term without ``β/2``, :func:`lipschitz_term` the term ``λ·ρ`` for a
  differentiable ``ρ`` (:func:`torch_lipcvx.layers.lipschitz_penalty`) and :func:`training_loss`
  adds the ℓ2 term to a data term. Used by :mod:`~torch_lipcvx.train`, :mod:`~torch_lipcvx.layers`,
  :mod:`~torch_lipcvx.lightning.module` and the loss step of :mod:`~torch_lipcvx.admm`.
* **Scoring (float64, a certified ``ρ``).** :func:`score` returns the :class:`Objective` record of
  float64 weights for a given certified ``ρ``; :func:`objective` validates a model and data,
  computes a fresh certificate and scores. Algorithm 1, the λ-path, the extensions and ADMM score
  every network with :func:`score`, never with a solver's own objective value.

Floating-point sums are not associative, so each caller keeps the order in which it has always
added the terms (documented at the call); the functions here fix the order within each part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn

from . import defaults
from ._checks import (check_data_scale, check_nonneg, check_squared_errors_finite,
                      check_weights_scale, check_X, check_Xy)
from .bounds import lipsdp
from .solvers import DEFAULT, SolverLike
from .losses import Loss, LossLike, SquaredError, get_loss
from .models import (ShallowReLU, ShallowWeights, as_shallow_relu, check_weights_finite,
                     forward_weights, require_one_output)

__all__ = [
    "Objective",
    "objective",
    "score",
    "mse",
    "l2_penalty",
    "lipschitz_term",
    "training_loss",
    "check_inputs",
]

_CPU64 = dict(device="cpu", dtype=torch.float64)

#: A shallow ReLU network, or its hidden weights ``W (m, d)``, hidden biases ``b (m,)`` and output
#: weights ``alpha`` (``(m,)`` or ``(1, m)``) as tensors (autograd tensors allowed).
L2Params = Union[nn.Module, ShallowWeights, Tuple[Tensor, Tensor, Tensor]]


@dataclass(frozen=True)
class Objective:
    """The training objective of docs/conventions.md §2 and its parts (float64).

    Attributes:
        value: ``J = mse + (beta/2)·l2 + lam·rho``.
        mse: the data term: ``(1/n)‖f(X) − y‖²`` (squared output units) for the squared loss,
            else the mean loss ``(1/n) Σ_i ℓ(f(x_i), y_i)`` (also :attr:`data`).
        l2: ``Σ_j (‖w̃_j‖² + α_j²)`` (hidden bias included, output bias excluded).
        rho: certified ``ρ = L²`` (LipSDP, re-verified), ``L`` in output units per input unit.
        lam, beta: the weights used.
    """

    value: float
    mse: float
    l2: float
    rho: float
    lam: float
    beta: float
    loss: str = "squared"

    def __repr__(self) -> str:
        data = "mse" if self.loss == "squared" else f"{self.loss} loss"
        return (f"Objective(J={self.value:.6g}: {data}={self.mse:.6g}, l2={self.l2:.6g}, "
                f"L={self.L:.6g}; lam={self.lam:g}, beta={self.beta:g})")

    @property
    def data(self) -> float:
        """The data term of ``J`` (the mean loss; the MSE for the squared loss)."""
        return self.mse

    @property
    def L(self) -> float:
        """The certified Lipschitz bound ``sqrt(rho)`` (output units per input unit)."""
        return math.sqrt(self.rho)


# ---------------------------------------------------------------------------- the parts
def mse(pred: Tensor, y: Tensor) -> Tensor:
    """The data term ``(1/n) Σ_i (pred_i − y_i)²``, a 0-d tensor (differentiable).

    Args:
        pred: ``(n,)`` network outputs ``f(X)``; y: ``(n,)`` targets (same dtype and device).

    Returns:
        The mean squared error in squared output units, in ``pred``'s dtype.
    """
    return (pred - y).pow(2).mean()


def _l2_tensors(params: L2Params) -> tuple[Tensor, Tensor, Tensor]:
    if isinstance(params, ShallowWeights):
        return params.W, params.b, params.alpha
    if isinstance(params, tuple) and len(params) == 3 and all(isinstance(p, Tensor)
                                                               for p in params):
        return params
    if not isinstance(params, nn.Module):
        raise TypeError("l2_penalty needs a ShallowReLU, nn.Sequential(Linear, ReLU, Linear), "
                        "ShallowWeights or a tuple (W, b, alpha) of tensors, got "
                        f"{type(params).__name__}")
    if isinstance(params, ShallowReLU):
        hidden, output = params.hidden, params.output
    else:
        as_shallow_relu(params)  # a named error unless Sequential(Linear, ReLU, Linear(m, 1))
        hidden, output = params[0], params[2]
    return hidden.weight, hidden.bias, output.weight


def l2_penalty(params: L2Params) -> Tensor:
    """``Σ_j (‖w̃_j‖² + α_j²)`` with ``w̃_j = [w_j; b_j]``: the ℓ2 term of ``J`` without ``β/2``.

    The hidden bias ``b`` is included; the output bias ``c`` is not (docs/conventions.md §2).
    Multiply by ``beta / 2`` to get the term of the objective. Differentiable in the parameters.

    Args:
        params: a :class:`ShallowReLU` or ``nn.Sequential(Linear(d, m), ReLU(), Linear(m, 1))``,
            or :class:`ShallowWeights`, or a tuple ``(W, b, alpha)`` of tensors
            (``(m, d)``, ``(m,)``, ``(m,)`` or ``(1, m)``).

    Returns:
        A 0-d tensor on the parameters' device and dtype (squared weight units).

    Raises:
        ValueError: a module that is not a shallow ReLU network with scalar output.
        TypeError: ``params`` is none of the accepted kinds.
    """
    W, b, alpha = _l2_tensors(params)
    return W.pow(2).sum() + b.pow(2).sum() + alpha.pow(2).sum()


def lipschitz_term(lam: float, rho: Tensor) -> Tensor:
    """The Lipschitz term ``λ·ρ`` of ``J`` (``ρ = L²``; a tensor keeps its graph)."""
    return lam * rho


def training_loss(data: Tensor, params: L2Params, *, beta: float) -> Tensor:
    """``data + (β/2)·l2_penalty(params)``; ``data`` itself when ``beta`` is 0 (no ℓ2 graph).

    The training form of ``J`` with ``λ = 0``: callers that penalise ``ρ`` add
    :func:`lipschitz_term` after it (or pass ``mse + λρ`` as ``data``, the order
    :func:`torch_lipcvx.train.train_sgd_lip` sums in).

    Args:
        data: the 0-d data term (:func:`mse`, or an adversarial MSE).
        params: the network or its weights, as for :func:`l2_penalty`.
        beta: β ≥ 0, the weight of the ℓ2 term (validated by the caller).

    Returns:
        A 0-d tensor, differentiable in ``data`` and the parameters.
    """
    return data + 0.5 * beta * l2_penalty(params) if beta > 0 else data


# ---------------------------------------------------------------------------- scoring
def score(w: ShallowWeights, X: Tensor, y: Tensor, *, lam: float, beta: float,
          rho: float, loss: Optional[Loss] = None) -> Objective:
    """``J = mse + (β/2)·l2 + λ·ρ`` of float64 weights for a certified ``rho`` (floats).

    Args:
        w: the network's weights (float64 on the CPU, as :func:`check_inputs` returns them).
        X: ``(n, d)`` inputs and y: ``(n,)`` targets, in ``w``'s dtype and device.
        lam, beta: the weights λ, β ≥ 0 (validated by the caller).
        rho: a certified ``ρ = L²`` of ``w`` (e.g. ``lipsdp(w).rho``), never a solver's value.
        loss: the data term's loss (:mod:`torch_lipcvx.losses`); ``None``: the squared error,
            ``y`` then ``(n,)`` (one output) or ``(n, k)``; labels as the loss's
            :meth:`~torch_lipcvx.losses.Loss.targets` returns them otherwise.

    Returns:
        :class:`Objective`.
    """
    if loss is None and w.k > 1:
        loss = SquaredError()              # ‖f(x) − y‖² per row: the k-output squared error
    if loss is not None and not (isinstance(loss, SquaredError) and w.k == 1):
        data = float(loss.value(forward_weights(X, w), y).mean())
        l2 = float(l2_penalty(w))
        return Objective(value=data + 0.5 * beta * l2 + lam * rho, mse=data, l2=l2, rho=rho,
                         lam=lam, beta=beta, loss=loss.name)
    m = float(mse(forward_weights(X, w), y))
    l2 = float(l2_penalty(w))
    return Objective(
        value=m + 0.5 * beta * l2 + lam * rho, mse=m, l2=l2, rho=rho, lam=lam, beta=beta)


def check_inputs(model: nn.Module, X, y, lam, beta, loss: LossLike = None, *,
                 one_output: Optional[str] = None
                 ) -> tuple[ShallowReLU, ShallowWeights, Tensor, Tensor, float, float]:
    """Validate the inputs of ``J`` before any work; returns them ready to score.

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(·, 1))``.
        X: ``(n, d)`` inputs; y: ``(n,)`` targets (any float dtype and device).
        lam, beta: λ ≥ 0 and β ≥ 0.
        loss: ``None`` or ``"squared"`` for the squared error (``y (n,)`` for one output,
            ``(n, k)`` for ``k``), or another loss of :mod:`torch_lipcvx.losses` whose
            :meth:`~torch_lipcvx.losses.Loss.targets` checks ``y``.
        one_output: the caller's name when it is defined for one output only: a network with
            ``k ≥ 2`` outputs is then refused with a clear error (docs/losses.md §1).

    Returns:
        ``(net, w, X, y, lam, beta)``: the model as a :class:`ShallowReLU`, its weights and the
        data in float64 on the CPU (class labels as int64), the validated weights as floats.

    Raises:
        ValueError, TypeError: NaN/Inf or out-of-range weights or data, mismatched shapes,
            negative ``lam``/``beta``, squared errors that overflow.
    """
    net = as_shallow_relu(model)
    if one_output is not None:
        require_one_output(net.out_features, one_output)
    w = net.weights()
    check_weights_finite(w)
    check_weights_scale(w)
    loss = get_loss(loss)
    if w.k > 1 or not isinstance(loss, SquaredError):
        return _check_loss_inputs(net, w, X, y, lam, beta, loss)
    X, y = check_Xy(X, y, net.in_features)
    check_data_scale(X, y)
    lam = check_nonneg(lam, "lam")
    beta = check_nonneg(beta, "beta")
    w, X, y = w.to(**_CPU64), X.detach().to(**_CPU64), y.detach().to(**_CPU64)
    check_squared_errors_finite(forward_weights(X, w) - y, "model on (X, y)")
    return net, w, X, y, lam, beta


def _check_loss_inputs(net: ShallowReLU, w: ShallowWeights, X, y, lam, beta, loss: Loss):
    """:func:`check_inputs` for ``k ≥ 2`` outputs or a loss other than the squared error."""
    X = check_X(X, "X", net.in_features)
    Xf = X.detach().to(**_CPU64)
    yt = loss.targets(y.detach() if isinstance(y, Tensor) else y, X.shape[0], w.k)
    if yt.is_floating_point():
        check_data_scale(Xf, yt.reshape(-1))
    else:
        check_data_scale(Xf, torch.zeros(X.shape[0], dtype=torch.float64))
    lam = check_nonneg(lam, "lam")
    beta = check_nonneg(beta, "beta")
    w = w.to(**_CPU64)
    yt = yt.to("cpu", torch.float64) if yt.is_floating_point() else yt.to("cpu")
    values = loss.value(forward_weights(Xf, w), yt)
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"the {loss.name} loss of the model on (X, y) overflows float64; "
                         "rescale the data or the weights")
    return net, w, Xf, yt, lam, beta


def objective(model: nn.Module, X, y, *, lam: float = 0.0, beta: float = defaults.BETA,
              solver: SolverLike = DEFAULT, solver_options: Optional[dict] = None,
              loss: LossLike = None) -> Objective:
    """Evaluate ``J`` of docs/conventions.md §2 for a network on data, with a fresh certified ``ρ``.

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(·, 1))``.
        X: ``(n, d)`` inputs; y: ``(n,)`` targets (any float dtype/device; computed in float64).
        lam: λ ≥ 0, weight of ``ρ = L²``; beta: β ≥ 0, weight of the ℓ2 term (×1/2).
        solver, solver_options: for LipSDP (:func:`~torch_lipcvx.bounds.lipsdp`; with
            ``"auto"``/``"torch"`` the options go to the torch method).

    Returns:
        :class:`Objective` (floats).

    Raises:
        ValueError, TypeError: as :func:`check_inputs`, or an unknown ``solver``.
    """
    _, w, X, y, lam, beta = check_inputs(model, X, y, lam, beta, loss)
    # lipsdp checks ``solver`` before any work; the options are LipSDP's for every solver
    rho = lipsdp(w, solver=solver, solver_options=solver_options).rho
    return score(w, X, y, lam=lam, beta=beta, rho=rho,
                 loss=None if loss is None else get_loss(loss))
