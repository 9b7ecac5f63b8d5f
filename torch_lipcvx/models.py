"""Shallow ReLU networks (docs/conventions.md §1).

``f(x) = Σ_j α_j · relu(w_jᵀ x + b_j) + c`` with ``m`` hidden units, input size ``d`` and a scalar
output, or ``f(x) = Aᵀ relu(W x + b) + c`` with ``k`` outputs (outer weights ``A (m, k)``, one row
``a_j ∈ R^k`` per unit; docs/losses.md §1). The maths lives in pure functions on
:class:`ShallowWeights` (plain tensors); the :class:`ShallowReLU` module is a thin ``nn.Module``
around two ``nn.Linear`` layers so that it interoperates with ``nn.Sequential``, optimisers,
Lightning and ``state_dict``.

Shapes: ``W (m, d)``, ``b (m,)``, ``alpha (m,)`` (one output) or ``(m, k)`` (``k ≥ 2`` outputs),
``c`` a 0-d tensor (resp. ``(k,)``) or ``None``; data ``X (n, d)``;
augmented data ``X̃ = [X, 1]`` of shape ``(n, d + 1)``; ``W̃ = [W, b]`` of shape ``(m, d + 1)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ._checks import check_X, gamma

__all__ = [
    "ShallowReLU",
    "ShallowWeights",
    "activation_patterns",
    "augment",
    "forward_weights",
    "realised_gradient_norms",
    "sign_order",
]


@dataclass(frozen=True)
class ShallowWeights:
    """Plain (detached) weights of a shallow ReLU network.

    Attributes:
        W: hidden weights without bias, ``(m, d)`` (``W̄`` in docs/conventions.md).
        b: hidden biases, ``(m,)``.
        alpha: outer weights, ``(m,)`` for a scalar output or ``(m, k)`` for ``k ≥ 2`` outputs
            (the matrix ``A``, row ``j`` is unit ``j``'s outer weight ``a_j``).
        c: output bias (0-d tensor, resp. ``(k,)``) or ``None`` when the network has none.
    """

    W: Tensor
    b: Tensor
    alpha: Tensor
    c: Optional[Tensor] = None

    def __post_init__(self) -> None:
        for key in ("W", "b", "alpha"):
            if not isinstance(getattr(self, key), Tensor):
                raise TypeError(f"ShallowWeights.{key} must be a tensor, "
                                f"got {type(getattr(self, key)).__name__}")
        if self.c is not None and not isinstance(self.c, Tensor):
            raise TypeError(f"ShallowWeights.c must be a 0-d tensor or None, got "
                            f"{type(self.c).__name__}")
        m = self.W.shape[0] if self.W.dim() == 2 else None
        vector = self.alpha.dim() == 2 and self.alpha.shape[1] >= 2
        ok_alpha = m is not None and (self.alpha.shape == (m,) or (
            vector and self.alpha.shape[0] == m))
        ok_c = self.c is None or (self.c.shape == (self.alpha.shape[1],) if vector
                                  else self.c.numel() == 1)
        if m is None or self.b.shape != (m,) or not ok_alpha or not ok_c:
            raise ValueError(f"inconsistent weight shapes: W {tuple(self.W.shape)}, "
                             f"b {tuple(self.b.shape)}, alpha {tuple(self.alpha.shape)}"
                             f"{'' if self.c is None else f', c {tuple(self.c.shape)}'}; "
                             "expected (m, d), (m,), alpha (m,) with a scalar c, or alpha (m, k) "
                             "with k >= 2 and c (k,)")

    def __repr__(self) -> str:
        dtype = str(self.W.dtype).replace("torch.", "")
        k = "" if self.k == 1 else f", k={self.k}"
        return (f"ShallowWeights(d={self.d}, m={self.m}{k}, output_bias={self.c is not None}, "
                f"dtype={dtype}, device={self.W.device})")

    @property
    def m(self) -> int:
        """Number of hidden units."""
        return self.W.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.W.shape[1]

    @property
    def k(self) -> int:
        """Number of outputs (1 for a scalar output, ``alpha`` of shape ``(m,)``)."""
        return 1 if self.alpha.dim() == 1 else self.alpha.shape[1]

    @property
    def A(self) -> Tensor:
        """The outer weights as a matrix ``(m, k)`` (``alpha[:, None]`` for one output)."""
        return self.alpha[:, None] if self.alpha.dim() == 1 else self.alpha

    def output(self, r: int) -> "ShallowWeights":
        """The scalar network of output ``r`` (``0 ≤ r < k``): outer weights ``A[:, r]``."""
        if self.k == 1:
            return self
        return ShallowWeights(self.W, self.b, self.alpha[:, r],
                              None if self.c is None else self.c[r])

    @property
    def W_tilde(self) -> Tensor:
        """``[W, b]``, shape ``(m, d + 1)``."""
        return torch.cat([self.W, self.b[:, None]], dim=1)

    def to(self, *args, **kwargs) -> "ShallowWeights":
        """Move/cast every tensor (same arguments as ``Tensor.to``)."""
        return ShallowWeights(self.W.to(*args, **kwargs), self.b.to(*args, **kwargs),
                              self.alpha.to(*args, **kwargs),
                              None if self.c is None else self.c.to(*args, **kwargs))

    def rounded(self, dtype: torch.dtype) -> "ShallowWeights":
        """These weights rounded to ``dtype`` and cast back to their own dtype (same device).

        The weights a model in ``dtype`` holds, kept in (say) float64 for the maths: solvers work
        in float64, so a candidate is rounded before it is certified and scored, and the
        certificate and ``J`` reported are those of the model returned. A no-op (``self``) when
        ``dtype`` is at least as precise as the weights.
        """
        if torch.finfo(dtype).eps <= torch.finfo(self.W.dtype).eps:
            return self
        own = self.W.dtype
        return self.to(dtype=dtype).to(dtype=own)

    def permute(self, order: Tensor) -> "ShallowWeights":
        """Reorder hidden units by the index tensor ``order`` (``(m,)``)."""
        return ShallowWeights(self.W[order], self.b[order], self.alpha[order], self.c)

    @staticmethod
    def from_tilde(W_tilde: Tensor, alpha: Tensor, c: Optional[Tensor] = None) -> "ShallowWeights":
        """Build from ``W̃ = [W, b]`` of shape ``(m, d + 1)``."""
        return ShallowWeights(W_tilde[:, :-1], W_tilde[:, -1], alpha, c)


def augment(X: Tensor) -> Tensor:
    """``X̃ = [X, 1]``: shape ``(n, d)`` to ``(n, d + 1)``."""
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], dim=1)


def forward_weights(X: Tensor, w: ShallowWeights) -> Tensor:
    """Network output ``f(X)``, shape ``(n,)`` (``(n, k)`` for ``k ≥ 2`` outputs), for inputs
    ``X (n, d)``."""
    out = torch.relu(X @ w.W.T + w.b) @ w.alpha
    return out if w.c is None else out + w.c


def activation_patterns(X: Tensor, w: ShallowWeights) -> Tensor:
    """Activation patterns ``D`` as a boolean ``(n, m)`` tensor: ``D[i, j] = 1[w̃_jᵀ x̃_i ≥ 0]``.

    Column ``j`` is the diagonal of ``D_j`` in docs/conventions.md §1. A pre-activation exactly zero
    counts as active (the convention that makes ``(2D − I) X̃ w̃ ≥ 0`` hold for the network's own
    weights).
    """
    return (X @ w.W.T + w.b) >= 0


def sign_order(alpha: Tensor) -> Tensor:
    """A stable permutation putting units with ``α_j > 0`` first, then ``α_j < 0``, then zeros.

    This is the unit order of Algorithm 1 (docs/algorithm1.md). For outer weights ``(m, k)`` with
    ``k ≥ 2`` there is no sign: units with a nonzero row come first, zero rows last.
    """
    if alpha.dim() == 2:
        key = torch.where((alpha != 0).any(dim=1), 0, 2)
        return torch.sort(key, stable=True).indices
    key = torch.where(alpha > 0, 0, torch.where(alpha < 0, 1, 2))
    return torch.sort(key, stable=True).indices


def _empty_linear(in_features: int, out_features: int, bias: bool = True, *, device=None,
                  dtype=None) -> nn.Linear:
    """An ``nn.Linear`` with uninitialised parameters (what ``torch.nn.utils.skip_init`` gives,
    without its round trip through the meta device, whose first use imports torch's symbolic
    shape machinery, sympy included: about 0.6 s of every command's start-up)."""
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.in_features, layer.out_features = in_features, out_features
    layer.weight = nn.Parameter(torch.empty(out_features, in_features, device=device,
                                            dtype=dtype))
    if bias:
        layer.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype))
    else:
        layer.register_parameter("bias", None)
    return layer


class ShallowReLU(nn.Module):
    """A shallow ReLU network, ``f(x) = Σ_j α_j relu(w_jᵀx + b_j) (+ c)``, or with ``k`` outputs
    ``f(x) = Aᵀ relu(Wx + b) (+ c)`` (docs/losses.md §1).

    Args:
        in_features: input dimension ``d``.
        hidden: number of hidden units ``m``.
        out_features: number of outputs ``k`` (default 1: a scalar output, ``forward`` returns
            ``(n,)``; ``k ≥ 2``: logits or a vector regression, ``forward`` returns ``(n, k)``).
        output_bias: whether the network has the output bias ``c`` (default ``True``).
        device, dtype: as for ``nn.Linear``.
        generator: if given, weights are drawn from it (see :meth:`reset_parameters`) and the global
            RNG is not touched; otherwise PyTorch's ``nn.Linear`` initialisation is used.

    Shapes: ``forward`` takes ``(n, d)`` (or ``(d,)``) and returns ``(n,)`` (or a 0-d tensor);
    with ``k ≥ 2`` outputs ``(n, k)`` (or ``(k,)``). Parameters live in ``self.hidden``
    (``nn.Linear(d, m)``) and ``self.output`` (``nn.Linear(m, k)``), so ``state_dict`` keys match
    ``nn.Sequential(Linear, ReLU, Linear)``
    up to the layer names. Initialisation is PyTorch's default for ``nn.Linear``; seed it with
    ``torch.manual_seed`` or pass ``generator`` to :meth:`reset_parameters`.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int = 1, *,
                 output_bias: bool = True, device=None, dtype=None,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("hidden", hidden),
                        ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        in_features, hidden, out_features = int(in_features), int(hidden), int(out_features)
        device = torch.get_default_device() if device is None else device
        # built uninitialised, then initialised once: from `generator` if given (the global RNG is
        # then left untouched), else exactly as nn.Linear does
        self.hidden = _empty_linear(in_features, hidden, device=device, dtype=dtype)
        self.output = _empty_linear(hidden, out_features, bias=output_bias, device=device,
                                    dtype=dtype)
        if generator is not None:
            self.reset_parameters(generator)
        else:
            self.hidden.reset_parameters()
            self.output.reset_parameters()

    # ------------------------------------------------------------------ construction
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> "ShallowReLU":
        """Re-draw the weights uniformly in ``±1/sqrt(fan_in)`` (PyTorch's bias rule), in place.

        The numbers are drawn on ``generator``'s device (any device; a CPU generator gives the
        same weights whatever the module's device) and copied to the module's; without a
        generator, from the global RNG of the default device."""
        device = generator.device if generator is not None else None
        with torch.no_grad():
            for layer in (self.hidden, self.output):
                bound = layer.in_features ** -0.5
                layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator,
                                              dtype=layer.weight.dtype, device=device)
                                   * 2 * bound - bound)
                if layer.bias is not None:
                    layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator,
                                                dtype=layer.bias.dtype, device=device)
                                     * 2 * bound - bound)
        return self

    @classmethod
    def from_weights(cls, weights: ShallowWeights, *, device=None, dtype=None) -> "ShallowReLU":
        """Build a module holding copies of ``weights`` (on ``device``/``dtype`` if given)."""
        W, c = weights.W, weights.c
        device = device if device is not None else W.device
        dtype = dtype if dtype is not None else W.dtype
        net = cls._uninitialised(W.shape[1], W.shape[0], c is not None, device, dtype,
                                 weights.k)
        net.load_weights(weights)
        return net

    @classmethod
    def _uninitialised(cls, d: int, m: int, output_bias: bool, device, dtype,
                       k: int = 1) -> "ShallowReLU":
        """A module whose weights are about to be overwritten (no RNG use, no init cost)."""
        device = torch.get_default_device() if device is None else device
        net = cls.__new__(cls)
        nn.Module.__init__(net)
        net.hidden = _empty_linear(d, m, device=device, dtype=dtype)
        net.output = _empty_linear(m, k, bias=output_bias, device=device, dtype=dtype)
        return net

    @classmethod
    def from_sequential(cls, seq: nn.Module) -> "ShallowReLU":
        """Convert ``nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, k))`` (any ``k ≥ 1``).

        The weights are copied; ``seq`` is not modified. Anything else (more layers, another
        activation, a non-Sequential module, a subclass of ``nn.Sequential`` or
        ``nn.Linear`` that overrides ``forward``, a lazy layer not yet initialised) raises
        ``ValueError`` naming what is wrong.
        """
        if isinstance(seq, ShallowReLU):
            return seq.clone()
        if not isinstance(seq, nn.Sequential):
            raise ValueError("expected nn.Sequential(Linear(d, m), ReLU(), Linear(m, 1)), "
                             f"got a {type(seq).__name__}")
        if type(seq).forward is not nn.Sequential.forward:
            raise ValueError(f"{type(seq).__name__} overrides nn.Sequential.forward, so it need "
                             "not compute Linear -> ReLU -> Linear; convert a plain nn.Sequential")
        layers = list(seq)
        kinds = [type(layer).__name__ for layer in layers]
        if len(layers) != 3:
            raise ValueError("expected exactly 3 layers, Linear(d, m), ReLU(), Linear(m, 1), "
                             f"got {len(layers)}: {kinds}; only one hidden ReLU layer is supported")
        first, act, last = layers
        if not isinstance(first, nn.Linear) or not isinstance(last, nn.Linear):
            raise ValueError(f"expected layers Linear, ReLU, Linear, got {kinds}")
        for i, layer in ((0, first), (2, last)):
            if type(layer).forward is not nn.Linear.forward:
                raise ValueError(f"layer [{i}] is a {type(layer).__name__}, which overrides "
                                 "nn.Linear.forward; only the affine map of nn.Linear is supported")
            if any(nn.parameter.is_lazy(p) for p in layer.parameters()):
                raise ValueError(f"layer [{i}] ({type(layer).__name__}) is not initialised yet; "
                                 "run one forward pass so that its input size is known")
        if type(act) is not nn.ReLU:
            raise ValueError(f"the activation must be nn.ReLU, got {type(act).__name__}; "
                             "the certificates and convex programs assume ReLU")
        if first.bias is None:
            raise ValueError("the hidden Linear layer must have a bias (bias=True)")
        if last.in_features != first.out_features:
            raise ValueError(f"layer sizes do not chain: hidden has {first.out_features} units, "
                             f"output layer expects {last.in_features}")
        params = [(f"[{i}].{name}", t) for i, layer in ((0, first), (2, last))
                  for name, t in layer.named_parameters()]
        kinds = {(t.dtype, t.device) for _, t in params}
        if len(kinds) > 1:
            listed = ", ".join(f"{name}: {t.dtype}, {t.device}" for name, t in params)
            raise ValueError(f"the layers' parameters must share one dtype and device (the "
                             f"Sequential cannot run its own forward otherwise), got {listed}")
        w = first.weight
        net = cls._uninitialised(first.in_features, first.out_features, last.bias is not None,
                                 w.device, w.dtype, last.out_features)
        with torch.no_grad():
            net.hidden.weight.copy_(first.weight)
            net.hidden.bias.copy_(first.bias)
            net.output.weight.copy_(last.weight)
            if last.bias is not None:
                net.output.bias.copy_(last.bias)
        return net

    def to_sequential(self) -> nn.Sequential:
        """A new ``nn.Sequential(Linear(d, m), ReLU(), Linear(m, k))`` with copied weights."""
        first = nn.Linear(self.in_features, self.m, device=self.device, dtype=self.dtype)
        last = nn.Linear(self.m, self.out_features, bias=self.has_output_bias, device=self.device,
                         dtype=self.dtype)
        first.load_state_dict(self.hidden.state_dict())
        last.load_state_dict(self.output.state_dict())
        return nn.Sequential(first, nn.ReLU(), last)

    def clone(self) -> "ShallowReLU":
        """A deep copy with the same device and dtype."""
        return ShallowReLU.from_weights(self.weights())

    # ------------------------------------------------------------------ weights
    @property
    def in_features(self) -> int:
        return self.hidden.in_features

    @property
    def m(self) -> int:
        """Number of hidden units."""
        return self.hidden.out_features

    @property
    def out_features(self) -> int:
        """Number of outputs ``k`` (1: a scalar output)."""
        return self.output.out_features

    @property
    def has_output_bias(self) -> bool:
        return self.output.bias is not None

    @property
    def device(self) -> torch.device:
        return self.hidden.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.hidden.weight.dtype

    def weights(self) -> ShallowWeights:
        """Detached copies of ``(W, b, alpha, c)`` on the module's device and dtype (``alpha``
        ``(m,)`` and ``c`` 0-d for one output; ``(m, k)`` and ``(k,)`` for ``k ≥ 2``)."""
        if self.out_features == 1:
            c = self.output.bias.detach().clone()[0] if self.has_output_bias else None
            alpha = self.output.weight.detach().clone()[0]
        else:
            c = self.output.bias.detach().clone() if self.has_output_bias else None
            alpha = self.output.weight.detach().T.clone()
        return ShallowWeights(self.hidden.weight.detach().clone(), self.hidden.bias.detach().clone(),
                              alpha, c)

    def load_weights(self, weights: ShallowWeights) -> None:
        """Copy ``weights`` into this module in place (cast to its device and dtype)."""
        if weights.W.shape != self.hidden.weight.shape:
            raise ValueError(f"W has shape {tuple(weights.W.shape)}, this module needs "
                             f"{tuple(self.hidden.weight.shape)}")
        if weights.k != self.out_features:
            raise ValueError(f"the weights have {weights.k} outputs, this module "
                             f"{self.out_features}")
        if (weights.c is not None) != self.has_output_bias:
            raise ValueError("output bias mismatch: the weights "
                             f"{'have' if weights.c is not None else 'lack'} c, the module "
                             f"{'has' if self.has_output_bias else 'has no'} output bias")
        with torch.no_grad():
            self.hidden.weight.copy_(weights.W)
            self.hidden.bias.copy_(weights.b)
            self.output.weight.copy_(weights.A.T)
            if weights.c is not None:
                self.output.bias.copy_(weights.c.reshape(-1))

    # ------------------------------------------------------------------ evaluation
    def forward(self, x: Tensor) -> Tensor:
        """``f(x)``: ``(n, d) -> (n,)`` or ``(d,) -> ()``; ``(n, k)`` or ``(k,)`` for ``k ≥ 2``."""
        out = self.output(torch.relu(self.hidden(x)))
        return out.squeeze(-1) if self.output.out_features == 1 else out

    def activation_patterns(self, X: Tensor) -> Tensor:
        """Boolean ``(n, m)`` patterns on data ``X (n, d)`` (see :func:`activation_patterns`)."""
        X = check_X(X, "X", self.in_features).to(self.device, self.dtype)
        return activation_patterns(X, self.weights())

    def input_gradients(self, X: Tensor) -> Tensor:
        """Gradients ``∇f(x_i)``, shape ``(n, d)``: ``W̄ᵀ(α ⊙ 1[w̃ᵀx̃ > 0])`` per row; with
        ``k ≥ 2`` outputs the Jacobians ``Aᵀ diag(1[w̃ᵀx̃ > 0]) W̄``, shape ``(n, k, d)``.

        Exact where ``f`` is differentiable. At a point on a kink (some ``w̃_jᵀx̃ = 0``) it is
        the pattern with those units off, which need not be the gradient of any region next to
        the point: for lower bounds on ``L`` use :func:`realised_gradient_norms`.
        """
        w = self.weights()
        X = check_X(X, "X", self.in_features).to(w.W)
        on = (X @ w.W.T + w.b > 0).to(w.W)
        if w.k == 1:
            return (on * w.alpha) @ w.W
        return torch.einsum("nj,jr,jd->nrd", on, w.A, w.W)

    def extra_repr(self) -> str:
        k = "" if self.out_features == 1 else f", out_features={self.out_features}"
        return (f"in_features={self.in_features}, hidden={self.m}{k}, "
                f"output_bias={self.has_output_bias}")


def as_shallow_relu(model: nn.Module, name: str = "model") -> ShallowReLU:
    """Accept a :class:`ShallowReLU` or a convertible ``nn.Sequential``; anything else raises.

    Returns the model itself when it already is a ``ShallowReLU`` (callers must not modify it) or
    a converted copy.
    """
    if isinstance(model, ShallowReLU):
        return model
    if isinstance(model, nn.Sequential):
        return ShallowReLU.from_sequential(model)
    raise ValueError(f"{name} must be a ShallowReLU or nn.Sequential(Linear(d, m), ReLU(), "
                     f"Linear(m, k)), got {type(model).__name__}")


def check_weights_finite(w: ShallowWeights, name: str = "model") -> None:
    """Raise if any weight is NaN/Inf."""
    for key in ("W", "b", "alpha", "c"):
        t = getattr(w, key)
        if t is not None and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} has NaN/Inf in its weights ({key}); cannot certify or "
                             "post-process it")


def realised_gradient_norms(X: Tensor, W: Tensor, b: Tensor, alpha: Tensor,
                            q: float) -> Tensor:
    """Certified lower bounds on ``‖∇f(x_i)‖_q`` for each row of ``X (n, d)``; shape ``(n,)``.

    A row counts only where ``f`` is differentiable with the computed pattern: every unit that
    shapes ``f`` (``α_j ≠ 0``, ``w̄_j ≠ 0``) has a pre-activation farther from 0 than its rounding
    error, so the point lies inside an open linear region and the pattern is the exact one. A
    row on (or within rounding of) a kink gets 0: there the strict rule ``1[z > 0]`` can give a
    pattern no region has (two coinciding opposite hyperplanes would both read "off"), whose
    norm is not a lower bound. From the norm of the computed gradient the rounding of the
    gradient and of the norm is subtracted, so the value is a lower bound in exact arithmetic
    (0 for a network that is exactly 0, not 1e-17).

    The work is done in float64 whatever the inputs' dtype (the rounding margins are float64's:
    in float32 a point 1e-7 from a kink got a pattern no region has and a norm above ``L``); the
    result has the inputs' dtype, rounded downwards when that is narrower."""
    dtype = torch.promote_types(torch.promote_types(X.dtype, W.dtype),
                                torch.promote_types(b.dtype, alpha.dtype))
    X, W, b, alpha = (t.to(torch.float64) for t in (X, W, b, alpha))
    m, d = W.shape
    Z = X @ W.T + b
    Zerr = gamma(d + 1) * (X.abs() @ W.abs().T + b.abs())
    shaping = (alpha != 0) & (W != 0).any(dim=1)
    sure = ((Z.abs() > Zerr) | ~shaping).all(dim=1)
    G = ((Z > 0).to(W) * alpha) @ W
    norms = torch.linalg.vector_norm(G, ord=q, dim=1)
    err = gamma(m) * torch.linalg.vector_norm(alpha.abs() @ W.abs(), ord=q) \
        + gamma(d + 1) * norms
    out = torch.where(sure, (norms - err).clamp_min(0.0), torch.zeros_like(norms))
    low = out.to(dtype)
    return torch.where(low.to(torch.float64) > out, torch.nextafter(low, torch.zeros_like(low)), low)


def require_one_output(k: int, what: str) -> None:
    """Raise a ``ValueError`` naming ``what`` when a network has ``k ≥ 2`` outputs and ``what``
    is defined for one output only (docs/losses.md §1 lists what takes ``k`` outputs)."""
    if k != 1:
        raise ValueError(f"{what} is defined for networks with one output; this network has "
                         f"{k} outputs (out_features={k}). See docs/losses.md §1 for what "
                         "takes vector outputs")


def realised_jacobian_norms(X: Tensor, W: Tensor, b: Tensor, A: Tensor, norm: float) -> Tensor:
    """Certified lower bounds on the operator norm of the Jacobian ``J(x_i) = Aᵀ diag(D_i) W̄``
    of a ``k``-output network at each row of ``X (n, d)``; shape ``(n,)``.

    ``norm = 2``: the spectral norm ``‖J‖₂`` (ℓ2 → ℓ2); ``norm = inf``: ``‖J‖_{∞→∞}``, the
    largest row ℓ1 norm (the largest ℓ∞ Lipschitz constant of one output). As
    :func:`realised_gradient_norms`: only rows inside an open linear region count (others get 0),
    and the rounding of the Jacobian and of its norm is subtracted; float64 throughout.
    With ``A (m, 1)`` this is the gradient norm (ℓ2, resp. ℓ1) of the scalar network.
    """
    dtype = torch.promote_types(torch.promote_types(X.dtype, W.dtype),
                                torch.promote_types(b.dtype, A.dtype))
    X, W, b, A = (t.to(torch.float64) for t in (X, W, b, A))
    m, d = W.shape
    k = A.shape[1]
    Z = X @ W.T + b
    Zerr = gamma(d + 1) * (X.abs() @ W.abs().T + b.abs())
    shaping = (A != 0).any(dim=1) & (W != 0).any(dim=1)
    sure = ((Z.abs() > Zerr) | ~shaping).all(dim=1)
    J = torch.einsum("nj,jr,jd->nrd", (Z > 0).to(W), A, W)
    bound = A.abs().T @ W.abs()                      # (k, d): |J| ≤ this entrywise
    if norm == 2:
        norms = torch.linalg.matrix_norm(J, ord=2)
        err = gamma(m) * float(torch.linalg.matrix_norm(bound)) \
            + gamma(4 * max(k, d) + 4) * norms
    else:
        norms = J.abs().sum(dim=2).max(dim=1).values
        err = gamma(m) * float(bound.sum(dim=1).max()) + gamma(d + 1) * norms
    out = torch.where(sure, (norms - err).clamp_min(0.0), torch.zeros_like(norms))
    low = out.to(dtype)
    return torch.where(low.to(torch.float64) > out, torch.nextafter(low, torch.zeros_like(low)), low)
