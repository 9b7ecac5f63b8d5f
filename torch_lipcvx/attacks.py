"""Adversarial attacks and certified error bounds for regression (docs/attacks.md).

For a regression model ``f`` and a point ``(x, y)`` the attacks maximise the squared error

    (f(x + δ) − y)²   over   ‖δ‖_p ≤ ε,   p ∈ {2, ∞},

independently for every row of ``X``, all rows in one batch.

* :func:`pgd_attack` is projected gradient ascent (Madry, Makelov, Schmidt, Tsipras, Vladu,
  2018) with a random start, ``steps`` steps of size ``alpha`` and projection onto the ball.
* :func:`random_search_attack` is the same-budget baseline: the best of ``samples`` points drawn
  uniformly at random in the ball.
* :func:`certified_squared_error_bound` is ``(|f(x) − y| + L·ε)²`` for a Lipschitz bound ``L``
  in the attack's norm.

Guarantees: an attack's per-sample loss (and its mean, the adversarial MSE) is a *lower* bound on
the worst-case squared error in the ball: a real point in the ball attains it. The certified bound
is an *upper* bound, valid whenever ``L`` is a true Lipschitz upper bound of ``f`` for the same
norm (``L₂`` from LipSDP for ``norm=2``; an ℓ∞ bound, docs/linf.md, for ``norm=inf``).

Units: ``eps`` is measured in the units the model sees. If the model was trained on standardised
inputs, ``eps`` is in standard deviations of each feature, not in raw units. ``L`` is in output
units per input unit, so ``L·eps`` is in output units.

Classification (docs/attacks.md §4): :func:`pgd_classification` attacks a classifier (logits
``(n, k)``, or one logit for a binary classifier) on the cross-entropy or the negative logit
margin and keeps, per point, the smallest margin found; :func:`certified_radius` turns the clean
margin and a Lipschitz bound into a radius within which the class provably does not change
(``margin / (√2·L)`` for ℓ2, ``margin / (2L)`` for ℓ∞, ``margin / L`` for one logit).

Argument names follow torchattacks (``eps``, ``alpha``, ``steps``, ``random_start``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor, nn

from ._checks import (UNIT_ROUNDOFF, as_tensor, check_nonneg, check_norm, check_positive_int,
                      check_squared_errors_finite, check_X, check_Xy)

__all__ = [
    "AttackResult",
    "ClassificationAttackResult",
    "certified_radius",
    "certified_squared_error_bound",
    "classification_margin",
    "pgd_attack",
    "pgd_classification",
    "random_search_attack",
]

NormLike = Union[int, float, str]


@dataclass
class AttackResult:
    """Outcome of an attack on ``n`` points.

    Attributes:
        X_adv: the adversarial inputs, ``(n, d)``, detached, on ``X``'s device, in the model's
            dtype.
            ``X_adv − X`` lies in the ball ``‖δ‖_p ≤ eps`` (and in ``bounds`` when given).
        loss: per-sample squared error ``(f(X_adv) − y)²``, ``(n,)``, detached. Never below the
            clean loss ``(f(X) − y)²``, since ``δ = 0`` is always a candidate.
        eps: the radius of the ball, in the units the model sees.
        norm: ``2.0`` or ``math.inf``.

    ``mse`` (the mean of ``loss``) is the adversarial MSE, a lower bound on the worst-case MSE.
    """

    X_adv: Tensor
    loss: Tensor
    eps: float
    norm: float

    @property
    def mse(self) -> Tensor:
        """Adversarial mean squared error ``(1/n) Σ_i loss_i`` (0-d tensor)."""
        return self.loss.mean()

    def __repr__(self) -> str:
        n, d = self.X_adv.shape
        norm = "inf" if math.isinf(self.norm) else "2"
        return (f"AttackResult(n={n}, d={d}, norm={norm}, eps={self.eps:g}, "
                f"mse={float(self.mse):.6g}, max_loss={float(self.loss.max()):.6g})")


# ---------------------------------------------------------------------------- validation
def _input_width(model: nn.Module) -> Optional[int]:
    """The number of input features ``model`` reads, where its structure says so: a
    :class:`~torch_lipcvx.ShallowReLU`, an ``nn.Linear``, or an ``nn.Sequential`` whose first
    module is one of those (``None`` for any other module: its width shows at evaluation)."""
    from .models import ShallowReLU

    while isinstance(model, nn.Sequential) and len(model) > 0:
        model = model[0]
    if isinstance(model, ShallowReLU):
        return model.in_features
    if isinstance(model, nn.Linear):
        return model.in_features
    return None


def _check_model(model, X: Tensor) -> Optional[torch.dtype]:
    """Require an ``nn.Module`` whose parameters and buffers are finite and all sit on ``X``'s
    device.

    Returns the model's floating dtype, the one its floating parameters and buffers share
    (``None`` if it has none, or if they disagree: then the data are left as they are)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module mapping (n, d) to (n,) or (n, 1), "
                        f"got {type(model).__name__}")
    dtypes = set()
    for kind, tensors in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in tensors:
            if t.device != X.device:
                raise ValueError(f"model {kind} {name!r} is on {t.device} but X is on {X.device}; "
                                 "move the model or the data so that they share a device")
            if t.is_floating_point():
                dtypes.add(t.dtype)
                if not bool(torch.isfinite(t).all()):
                    n_bad = int((~torch.isfinite(t)).sum())
                    raise ValueError(f"model {kind} {name!r} contains {n_bad} NaN/Inf value(s); "
                                     "the model's outputs and errors would be NaN/Inf")
    return dtypes.pop() if len(dtypes) == 1 else None


def _model_inputs(model, X, y, labels: bool = False, multi: bool = False
                  ) -> tuple[Tensor, Tensor]:
    """Validate ``X``, ``y`` and ``model``; return ``X`` and ``y`` detached, on ``X``'s device,
    in the model's floating dtype (so a float32 network can be attacked with float64 data, as
    the rest of the library allows; ``y`` of shape ``(n, 1)`` becomes ``(n,)``). ``X`` must have
    the model's input width where :func:`_input_width` knows it.

    With ``labels`` (classification), ``y`` keeps its own dtype (only its shape is checked here;
    its values are checked against the number of classes by :func:`_check_labels`)."""
    width = _input_width(model) if isinstance(model, nn.Module) else None
    if labels:
        X, y = check_X(X, "X", width), _label_shape(y, X)
    else:
        X, y = check_Xy(X, y, width, multi=multi)
    dtype = _check_model(model, X)
    X = X.detach().to(dtype=dtype or X.dtype)
    if labels:
        return X, y.detach().to(device=X.device)
    return X, y.detach().to(device=X.device, dtype=X.dtype)


def _clean_residuals(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """``f(X) − y`` at the clean points, ``(n,)``, detached (model in eval mode, modes
    restored): ``ValueError`` when the model cannot read ``X`` or a squared error is NaN/Inf."""
    with _EvalMode(model), torch.no_grad():
        try:
            r = _residuals(model, X, y)
        except RuntimeError as exc:
            raise ValueError(f"the model could not be evaluated on X of shape {tuple(X.shape)} "
                             f"(does X have the number of columns the model reads?): {exc}"
                             ) from exc
    check_squared_errors_finite(r, "the model on (X, y)")
    return r.detach()


def _clean_losses(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """``(f(X) − y)²`` at the clean points, ``(n,)`` (``‖f(x_i) − y_i‖²`` for ``k`` outputs),
    detached; see :func:`_clean_residuals`."""
    r = _clean_residuals(model, X, y) ** 2
    return r.sum(dim=1) if r.dim() == 2 else r


def _check_losses_finite(loss: Tensor) -> Tensor:
    """``loss`` itself, or ``ValueError`` if an attacked point's squared error overflowed (a
    point of the ball where the model's error exceeds the dtype's range)."""
    bad = ~torch.isfinite(loss)
    if bool(bad.any()):
        raise ValueError(f"the squared error (f(x + delta) - y)^2 overflows {loss.dtype} at an "
                         f"attacked point of {int(bad.sum())} row(s) of X: the weights, the data "
                         "(X, y) or eps are too large; rescale them")
    return loss


def _check_eps(eps) -> float:
    """``eps``: a finite number >= 0."""
    return check_nonneg(eps, "eps")


def _check_alpha(alpha, name: str = "alpha") -> Optional[float]:
    """``alpha`` (named ``name``): ``None`` (use the default) or a finite number > 0."""
    if alpha is None:
        return None
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name} (the PGD step size) must be a real number > 0 or None, "
                        f"got {alpha!r}") from None
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"{name} (the PGD step size) must be a finite number > 0 or None, "
                         f"got {alpha!r}")
    return a


def _check_bounds(bounds, X: Tensor) -> Optional[tuple[float, float]]:
    """``bounds``: ``None`` or ``(low, high)`` with ``low < high`` and every entry of ``X`` inside."""
    if bounds is None:
        return None
    try:
        low, high = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be None or a pair (low, high) of numbers, "
                         f"got {bounds!r}") from None
    if math.isnan(low) or math.isnan(high) or not low < high:
        raise ValueError(f"bounds must be a pair (low, high) with low < high, got {bounds!r}")
    if bool((X < low).any()) or bool((X > high).any()):
        raise ValueError(f"X has entries outside bounds={bounds!r} (min {float(X.min()):g}, "
                         f"max {float(X.max()):g}); the clean point must satisfy the bounds")
    return low, high


def _inward(bounds: tuple[float, float], dtype: torch.dtype) -> tuple[float, float]:
    """``bounds`` rounded inwards to ``dtype``: the widest box of ``dtype`` values inside them
    (``0.1`` as float32 is 0.100000001 > 0.1, so a clamp to ``0.1`` in float32 would leave it)."""
    out = []
    for value, inwards in ((bounds[0], math.inf), (bounds[1], -math.inf)):
        v = torch.tensor(value, dtype=dtype)
        if (float(v) < value) if inwards > 0 else (float(v) > value):
            v = torch.nextafter(v, torch.tensor(inwards, dtype=dtype))
        out.append(float(v))
    return out[0], out[1]


def _check_inputs(model, X, y, eps, norm, bounds, labels: bool = False, multi: bool = False):
    """Shared validation: returns ``(X, y, eps, norm, bounds)``, data as :func:`_model_inputs`
    (``labels``: ``y`` holds class labels, see there).

    ``bounds`` are checked against the caller's ``X`` and rounded inwards to the model's dtype;
    the cast ``X`` is moved inside them (by at most one rounding) when the cast took it out."""
    bounds = _check_bounds(bounds, as_tensor(X, "X"))
    X, y = _model_inputs(model, X, y, labels, multi)
    if bounds is not None:
        bounds = _inward(bounds, X.dtype)
        X = X.clamp(bounds[0], bounds[1])
    return X, y, _check_eps(eps), check_norm(norm), bounds


# ---------------------------------------------------------------------------- plumbing
def _residuals(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Evaluate ``f(X) − y`` per row, ``(n,)``; the model may return ``(n,)`` or ``(n, 1)``
    (or ``(n, k)`` against targets ``(n, k)``: a ``k``-output regressor, residuals ``(n, k)``)."""
    out = model(X)
    if not isinstance(out, Tensor):
        raise ValueError(f"the model must return a tensor, got {type(out).__name__}")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if y.dim() == 2 and out.shape == y.shape:
        return out - y
    if out.shape != y.shape:
        raise ValueError(f"the model must map X of shape {tuple(X.shape)} to shape "
                         f"({X.shape[0]},) or ({X.shape[0]}, 1), got shape {tuple(out.shape)}")
    return out - y


def _squared_errors(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Evaluate ``(f(X) − y)²`` per row, ``(n,)`` (``‖f(x_i) − y_i‖²`` for ``k`` outputs)."""
    r = _residuals(model, X, y) ** 2
    return r.sum(dim=1) if r.dim() == 2 else r


def _random(kind: str, shape, like: Tensor, generator: Optional[torch.Generator]) -> Tensor:
    """Draw ``rand``/``randn`` numbers on the generator's device and move them to ``like``'s."""
    device = generator.device if generator is not None else like.device
    fn = torch.rand if kind == "rand" else torch.randn
    return fn(shape, generator=generator, dtype=like.dtype, device=device).to(like.device)


def _sample_ball(X: Tensor, eps: float, norm: float, generator) -> Tensor:
    """Draw ``δ`` uniformly in the ball of radius ``eps``, one per row of ``X``: ``(n, d)``.

    ℓ∞: uniform in the box ``[−eps, eps]^d``. ℓ2: a Gaussian direction normalised to unit length
    times the radius ``eps·U^(1/d)`` with ``U ~ Uniform(0, 1)``, which is uniform in the ball.
    """
    n, d = X.shape
    if math.isinf(norm):
        return (2 * _random("rand", (n, d), X, generator) - 1) * eps
    direction = _random("randn", (n, d), X, generator)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(torch.finfo(X.dtype).tiny)
    radius = eps * _random("rand", (n, 1), X, generator) ** (1.0 / d)
    return direction * radius


def _project(delta: Tensor, eps: float, norm: float) -> Tensor:
    """Project each row of ``delta`` onto the ball of radius ``eps``.

    ℓ∞: clamp every coordinate to ``[−eps, eps]``. ℓ2: rescale rows longer than ``eps`` to length
    ``eps`` (the Euclidean projection).
    """
    if math.isinf(norm):
        return delta.clamp(-eps, eps)
    lengths = delta.norm(dim=1, keepdim=True)
    scale = torch.where(lengths > eps, eps / lengths.clamp_min(torch.finfo(delta.dtype).tiny),
                        torch.ones_like(lengths))
    return delta * scale


def _fit_ball(delta: Tensor, eps: float, norm: float) -> Tensor:
    """``delta`` with every row inside the ball of radius ``eps`` as exact ``delta.dtype`` values
    (measured in float64); rows already inside are returned unchanged (see :func:`_clip`)."""
    if math.isinf(norm):
        e = torch.tensor(eps, dtype=delta.dtype)
        if float(e) > eps:
            e = torch.nextafter(e, torch.tensor(0.0, dtype=delta.dtype))
        return delta.clamp(-float(e), float(e))
    lengths = delta.to(torch.float64).norm(dim=1, keepdim=True)
    outside = lengths > eps
    if not bool(outside.any()):
        return delta
    target = eps * (1 - torch.finfo(delta.dtype).eps)   # eps·(1 − 2u), finfo's eps being 2u
    scale = target / lengths.clamp_min(torch.finfo(torch.float64).tiny)
    return torch.where(outside, (delta.to(torch.float64) * scale).to(delta.dtype), delta)


def _clip(X: Tensor, delta: Tensor, eps: float, norm: float, bounds) -> Tensor:
    """Return the point ``X + delta``, clamped to ``bounds`` when given, inside the ball.

    Since ``X`` itself lies inside ``bounds``, clamping only shortens each coordinate of ``delta``,
    so the point stays in the ball for both norms. Rounding in ``X + delta`` can put the
    difference ``X_new − X`` an ulp outside the ball; such rows are moved one ulp towards ``X``
    (a few times at most). The test is made in float64 whatever the model's dtype (the
    difference of two float32, float16 or bfloat16 numbers is exact in float64, and so is
    ``eps``), so that the constraint holds for the returned point as a float64 user measures it,
    not merely up to the model dtype's rounding.

    So that one or two such moves suffice, ``delta`` is first made to lie in the ball as a
    ``dtype`` tensor: ℓ∞ clamps it to ``eps`` rounded down to the dtype (``0.1`` in float32 is
    ``0.1 + 1.5e-9``, an excess that a coordinate crossing 0, whose ulp is 1e-11, could not shed
    in 64 one-ulp moves), ℓ2 rescales a row longer than ``eps`` (measured in float64) to
    ``eps·(1 − 2u)``, ``u`` the dtype's unit roundoff, which covers the rounding of the rescale.
    Then ``X + delta`` misses the ball by at most half an ulp of the sum per coordinate, and one
    move towards ``X`` puts every coordinate back within ``|delta_i|``.
    """
    delta = _fit_ball(delta, eps, norm)
    X_new = X + delta
    if bounds is not None:
        X_new = X_new.clamp(bounds[0], bounds[1])
    X64 = X.to(torch.float64)
    for _ in range(64):
        diff = X_new.to(torch.float64) - X64
        size = diff.abs().amax(dim=1) if math.isinf(norm) else diff.norm(dim=1)
        outside = size > eps
        if not bool(outside.any()):
            break
        X_new = torch.where(outside[:, None], torch.nextafter(X_new, X), X_new)
    return X_new


def _ascent_direction(g: Tensor, norm: float) -> Tensor:
    """Steepest-ascent direction of unit ``norm`` for the gradient ``g``, ``(n, d)``.

    ℓ∞: ``sign(g)``. ℓ2: ``g / ‖g‖₂`` per row; a zero gradient gives a zero step.
    """
    if math.isinf(norm):
        return g.sign()
    return g / g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(g.dtype).tiny)


def _keep_best(best_X: Tensor, best_loss: Tensor, X_new: Tensor, loss: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, keep the candidate with the larger loss (ties keep the earlier one)."""
    better = loss > best_loss
    return torch.where(better[:, None], X_new, best_X), torch.where(better, loss, best_loss)


class _EvalMode:
    """Context manager: put every submodule in eval mode, then restore each one's own flag."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.flags = [(module, module.training) for module in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc) -> None:
        for module, flag in self.flags:
            module.training = flag


def _input_gradient(model: nn.Module, X_point: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row loss ``(f(x) − y)²`` and its gradient with respect to the input, both detached.

    Only the input gets a gradient (``torch.autograd.grad`` with ``inputs=x``), so no ``.grad``
    is written on the model's parameters. The rows are independent because the model is in eval
    mode, so the gradient of the summed loss is the per-row gradient.
    """
    with torch.enable_grad():
        x = X_point.detach().requires_grad_(True)
        loss = _squared_errors(model, x, y)
        if loss.requires_grad:
            (g,) = torch.autograd.grad(loss.sum(), x, allow_unused=True)
        else:
            g = None
    if g is None:
        g = torch.zeros_like(x)
    return loss.detach(), g.detach()


# ---------------------------------------------------------------------------- attacks
#: radius of the first restart's random start, relative to eps
_NEAR_START = 1e-3


def _pgd_search(model: nn.Module, X: Tensor, eps: float, norm: float, steps: int,
                alpha: Optional[float], random_start: bool, restarts: int, generator, bounds,
                best_X: Tensor, best_score: Tensor, with_gradient, score, keep_best
                ) -> tuple[Tensor, Tensor]:
    """The PGD loop shared by :func:`pgd_attack` and :func:`pgd_classification`.

    ``with_gradient(X_point)`` returns ``(score (n,), g (n, d))``, ``g`` the input gradient of
    the loss that is ascended; ``score(X_point)`` the score alone; ``keep_best(best_X,
    best_score, X_new, score)`` keeps the better candidate per row. Starting from the clean
    candidates ``(best_X, best_score)``, every iterate of every restart and each restart's final
    iterate are candidates. Runs with the model in eval mode (modes restored). ``alpha=None``
    gives the step ``2.5·eps/steps``.
    """
    step = alpha if alpha is not None else 2.5 * eps / steps
    with _EvalMode(model):
        for r in range(restarts):
            # the first restart starts next to the clean point: a uniform start can flip the
            # sign of the residual and climb to the lower of the two local maxima of
            # (r + gᵀδ)² (a linear model's worst case was missed by up to 89% on some rows);
            # radius eps/1000 rather than 0 breaks the tie where the gradient vanishes (r = 0)
            radius = eps * _NEAR_START if r == 0 else eps
            delta = (_sample_ball(X, radius, norm, generator) if random_start
                     else torch.zeros_like(X))
            X_cur = _clip(X, delta, eps, norm, bounds)
            for _ in range(steps):
                value, g = with_gradient(X_cur)
                best_X, best_score = keep_best(best_X, best_score, X_cur, value)
                delta = _project(X_cur - X + step * _ascent_direction(g, norm), eps, norm)
                X_cur = _clip(X, delta, eps, norm, bounds)
            with torch.no_grad():
                value = score(X_cur)
            best_X, best_score = keep_best(best_X, best_score, X_cur, value)
    return best_X, best_score


def pgd_attack(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
               steps: int = 20, alpha: Optional[float] = None, random_start: bool = True,
               restarts: int = 1, generator: Optional[torch.Generator] = None,
               bounds: Optional[tuple[float, float]] = None) -> AttackResult:
    """ℓ2 or ℓ∞ projected gradient ascent on the per-sample squared error (docs/attacks.md).

    Maximises ``(f(x_i + δ_i) − y_i)²`` over ``‖δ_i‖_p ≤ eps`` for every row ``i`` at once
    (``‖f(x_i + δ_i) − y_i‖²`` for a ``k``-output regressor with targets ``y (n, k)``).
    Each restart starts at ``δ⁰`` and takes ``steps`` steps. With ``random_start``, the first
    restart's ``δ⁰`` is uniform in the ball of radius ``eps/1000`` (next to the clean point, on the
    side of the residual's sign: a start far out can climb to the wrong one of the two maxima
    of ``(r + gᵀδ)²``) and every further restart's uniform in the whole ball; without it, ``δ⁰ =
    0``. The steps:

    * ℓ∞: ``δ ← clamp(δ + alpha·sign(g), −eps, eps)``;
    * ℓ2: ``δ ← Π(δ + alpha·g/‖g‖₂)``, ``Π`` rescaling rows longer than ``eps`` back to ``eps``
      (a zero gradient gives a zero step),

    with ``g`` the gradient of the squared error with respect to the input. Per row, the best loss
    seen over the clean point ``δ = 0``, every iterate of every restart, and the final iterates is
    returned, so the result is never worse than the clean point.

    The result is a *lower* bound on the worst-case squared error in the ball; see
    :func:`certified_squared_error_bound` for an upper bound.

    Args:
        model: any ``nn.Module`` mapping ``(n, d)`` to ``(n,)`` or ``(n, 1)``, on ``X``'s device.
            It is put in eval mode during the attack (each submodule's mode is restored after),
            its parameters are not modified and no ``.grad`` is written on them.
        X: inputs ``(n, d)``, in the units the model sees (e.g. standardised).
        y: targets ``(n,)`` or ``(n, 1)``. ``X`` and ``y`` are cast to the model's floating
            dtype (a float32 network can be attacked with float64 data) and ``y`` to ``X``'s
            device.
        eps: radius of the ball, ``>= 0``, in the units of ``X``. ``eps = 0`` returns ``X`` (cast
            to the model's dtype).
        norm: ``2`` or ``inf`` (also ``"2"``, ``"inf"``, ``"l2"``, ``"linf"``, ``math.inf``).
        steps: gradient steps per restart, ``>= 1``.
        alpha: step size, in the units of ``eps`` (the ℓp length of one step). Default
            ``2.5 * eps / steps``, Madry et al.'s convention: enough to cross the ball from any
            start within the step budget.
        random_start: start from a uniform point in a ball (ℓ∞: uniform in the box; ℓ2: uniform
            in the ball; radius ``eps/1000`` for the first restart, ``eps`` for the others)
            rather than from ``X``. Without it, every restart repeats the same run.
        restarts: independent restarts, ``>= 1``.
        generator: ``torch.Generator`` for the random starts (any device; numbers are drawn on
            its device and moved to ``X``'s). ``None`` uses the global RNG of ``X``'s device.
        bounds: optional ``(low, high)`` box for the valid inputs; ``X_adv`` is clamped to it
            after every step. ``X`` itself must lie inside. No clamping when ``None``. In a
            model dtype below float64 the box is rounded inwards to that dtype.

    The ball is centred at ``X`` as the model sees it, cast to its dtype; ``‖X_adv − X‖ ≤ eps``
    and ``bounds`` hold for the returned point exactly (checked in float64).

    Returns:
        :class:`AttackResult` with ``X_adv (n, d)`` and ``loss (n,)`` on ``X``'s device, in the
        model's dtype.

    Raises:
        ValueError: ``eps`` negative, NaN or infinite; unknown ``norm``; ``X``/``y`` shapes that
            do not match, or ``X`` of another width than the model reads (checked up front for
            a ShallowReLU, ``nn.Linear`` or a Sequential starting with one, else when the model
            fails on ``X``); NaN/Inf in ``X``, ``y`` or the model's parameters; a squared error
            that overflows the model's dtype (at the clean or an attacked point);
            ``steps < 1``; ``restarts < 1``; ``alpha <= 0``; bad ``bounds`` or ``X`` outside
            them; model on another device than ``X``; a model output of the wrong shape.
        TypeError: ``model`` is not an ``nn.Module``; non-integer ``steps``/``restarts``.

    Works under ``torch.inference_mode()`` too (as in Lightning's validation loop): the attack then
    runs on copies of ``X`` and ``y`` with inference mode locally switched off.
    """
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            return pgd_attack(model, as_tensor(X, "X").clone(), as_tensor(y, "y").clone(), eps,
                              norm, steps, alpha, random_start, restarts, generator, bounds)
    X, y, eps, norm, bounds = _check_inputs(model, X, y, eps, norm, bounds, multi=True)
    steps = check_positive_int(steps, "steps")
    restarts = check_positive_int(restarts, "restarts")
    alpha = _check_alpha(alpha)
    best_loss = _clean_losses(model, X, y)
    best_X = X.clone()
    if eps == 0:
        return AttackResult(X_adv=best_X, loss=best_loss, eps=eps, norm=norm)
    best_X, best_loss = _pgd_search(
        model, X, eps, norm, steps, alpha, random_start, restarts, generator, bounds,
        best_X, best_loss,
        with_gradient=lambda X_point: _input_gradient(model, X_point, y),
        score=lambda X_point: _squared_errors(model, X_point, y).detach(),
        keep_best=_keep_best)
    return AttackResult(X_adv=best_X, loss=_check_losses_finite(best_loss), eps=eps, norm=norm)


def random_search_attack(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                         norm: NormLike = 2, samples: int = 20,
                         generator: Optional[torch.Generator] = None,
                         bounds: Optional[tuple[float, float]] = None) -> AttackResult:
    """Best of ``samples`` uniformly random points in the ball: a gradient-free baseline.

    With ``samples = steps`` it has the same number of model evaluations per point as
    :func:`pgd_attack` with one restart, and no gradients. Points are uniform in the ball: ℓ∞
    uniform in the box ``[−eps, eps]^d``; ℓ2 a Gaussian direction normalised times the radius
    ``eps·U^(1/d)``. The clean point ``δ = 0`` is also a candidate. A *lower* bound on the
    worst-case squared error.

    Args:
        model, X, y, eps, norm, generator, bounds: as for :func:`pgd_attack`.
        samples: number of random points per row, ``>= 1``.

    Returns:
        :class:`AttackResult` on ``X``'s device, in the model's dtype.

    Raises:
        ValueError, TypeError: as for :func:`pgd_attack`, and ``samples < 1``.
    """
    X, y, eps, norm, bounds = _check_inputs(model, X, y, eps, norm, bounds, multi=True)
    samples = check_positive_int(samples, "samples")
    best_loss = _clean_losses(model, X, y)
    with _EvalMode(model), torch.no_grad():
        best_X = X.clone()
        if eps > 0:
            for _ in range(samples):
                X_new = _clip(X, _sample_ball(X, eps, norm, generator), eps, norm, bounds)
                best_X, best_loss = _keep_best(best_X, best_loss, X_new,
                                               _squared_errors(model, X_new, y).detach())
    return AttackResult(X_adv=best_X, loss=_check_losses_finite(best_loss), eps=eps, norm=norm)


def certified_squared_error_bound(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                                  lipschitz: float) -> Tensor:
    """Certified per-sample upper bound ``(|f(x_i) − y_i| + L·eps)²`` on the attacked error
    (``(‖f(x_i) − y_i‖₂ + L·eps)²`` for a ``k``-output regressor).

    If ``L = lipschitz`` is a Lipschitz upper bound of ``f`` for the attack's norm (``L₂`` from
    LipSDP for ℓ2 attacks, an ℓ∞ bound for ℓ∞ attacks), then ``|f(x + δ) − y| ≤ |f(x) − y| + L·eps``
    for every ``‖δ‖ ≤ eps``, so the value is an *upper* bound on the worst-case squared error
    (any attack's loss is a lower bound). With ``k`` outputs, ``L`` must bound
    ``‖f(x + δ) − f(x)‖₂ / ‖δ‖`` (LipSDP's ``L`` for ℓ2 attacks; ``√k`` times an ℓ∞→ℓ∞ bound
    for ℓ∞ attacks, docs/losses.md §3). Its mean bounds the worst-case MSE. It is computed in
    float64 from the model's residuals at the clean points and rounded upwards; what it does not
    cover is the model's own rounding at the perturbed points (about 1e-7 relative in float32).

    Args:
        model: as for :func:`pgd_attack` (evaluated in eval mode, modes restored).
        X: inputs ``(n, d)``; y: targets ``(n,)`` or ``(n, 1)`` (``(n, k)`` for ``k`` outputs).
        eps: radius, ``>= 0``, in the units of ``X``.
        lipschitz: ``L >= 0``, in output units per input unit.

    Returns:
        ``(n,)`` tensor, detached, on ``X``'s device, in the model's dtype.

    Raises:
        ValueError: negative/NaN ``eps`` or ``lipschitz``, bad shapes (``X`` of another width
            than the model reads), NaN in the data or the model's parameters, model on another
            device, a squared error or bound that overflows the model's dtype.
    """
    X, y = _model_inputs(model, X, y, multi=True)
    eps = _check_eps(eps)
    lipschitz = check_nonneg(lipschitz, "lipschitz")
    r = _clean_residuals(model, X, y)
    err = torch.linalg.vector_norm(r, dim=1) if r.dim() == 2 else r.abs()
    # in float64, rounded upwards (three roundings of at most u = 2⁻⁵³ each, then the cast back):
    # with a tight L the bound once came out an ulp below the exact worst case
    bound = (err.to(torch.float64) + lipschitz * eps) ** 2 * (1 + 4 * UNIT_ROUNDOFF)
    out = bound.to(err.dtype)
    out = torch.where(out.to(torch.float64) < bound, torch.nextafter(out, out.new_tensor(math.inf)),
                      out)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"the certified bound (|f(x) - y| + lipschitz*eps)^2 overflows "
                         f"{out.dtype} (lipschitz*eps = {lipschitz * eps:.3g}, largest "
                         f"|f(x) - y| = {float(err.max()):.3g}); lipschitz, eps or the "
                         "errors are too large")
    return out


# ============================================================================ classification
# Conventions (docs/attacks.md §4): a classifier returns logits (n, k) for k >= 2 classes, or
# one logit (n,) / (n, 1) for a binary classifier (k = 1, class 1 iff f(x) > 0). Labels are
# integer class indices in [0, k) (k = 1: {0, 1}, also ±1). The margin of a point is
# f_y − max_{j≠y} f_j (k >= 2) or s·f with s = 2y − 1 (k = 1); it is correctly classified iff
# its margin is > 0.

#: the PGD losses of :func:`pgd_classification`
CLASSIFICATION_LOSSES = ("ce", "margin")

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


@dataclass
class ClassificationAttackResult:
    """Outcome of an attack on a classifier at ``n`` points.

    Attributes:
        X_adv: the adversarial inputs, ``(n, d)``, detached, on ``X``'s device, in the model's
            dtype. ``X_adv − X`` lies in the ball ``‖δ‖_p ≤ eps`` (and in ``bounds`` when given).
        margin: per-sample margin at ``X_adv``, ``(n,)`` (logit units): ``f_y − max_{j≠y} f_j``
            for ``k >= 2`` logits, ``s·f`` with ``s = 2y − 1`` for one logit. Never above
            ``clean_margin``, since ``δ = 0`` is always a candidate.
        clean_margin: per-sample margin at the clean points ``X``, ``(n,)``.
        eps: the radius of the ball, in the units the model sees.
        norm: ``2.0`` or ``math.inf``.
        loss: the loss PGD ascended, ``"ce"`` or ``"margin"``.

    A point counts as correctly classified iff its margin is ``> 0``. ``robust_accuracy`` is
    an *upper* bound on the true robust accuracy at ``eps`` (an attack may miss an adversarial
    point, never invents one).
    """

    X_adv: Tensor
    margin: Tensor
    clean_margin: Tensor
    eps: float
    norm: float
    loss: str

    @property
    def correct(self) -> Tensor:
        """Whether each point is still classified correctly at ``X_adv``: ``margin > 0``,
        bool ``(n,)``."""
        return self.margin > 0

    @property
    def robust_accuracy(self) -> Tensor:
        """Fraction of points still correct after the attack (0-d float tensor in ``[0, 1]``)."""
        return self.correct.to(torch.get_default_dtype()).mean()

    @property
    def clean_accuracy(self) -> Tensor:
        """Fraction of points correct at the clean inputs (0-d float tensor in ``[0, 1]``)."""
        return (self.clean_margin > 0).to(torch.get_default_dtype()).mean()

    def __repr__(self) -> str:
        n, d = self.X_adv.shape
        norm = "inf" if math.isinf(self.norm) else "2"
        return (f"ClassificationAttackResult(n={n}, d={d}, norm={norm}, eps={self.eps:g}, "
                f"loss={self.loss!r}, clean_accuracy={float(self.clean_accuracy):.4g}, "
                f"robust_accuracy={float(self.robust_accuracy):.4g})")


def _label_shape(y, X: Tensor) -> Tensor:
    """``y`` as a tensor of shape ``(n,)`` (``(n, 1)`` is flattened), one label per row of
    ``X``, real; its values are checked by :func:`_check_labels`."""
    y = as_tensor(y, "y")
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) (one class label per row of X), "
                         f"got shape {tuple(y.shape)}")
    if y.is_complex():
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    return y


def _check_labels(y: Tensor, k: int) -> Tensor:
    """Class labels as a ``torch.long`` tensor ``(n,)`` for a classifier with ``k`` logits.

    ``k >= 2``: an integer (or bool) tensor with values in ``[0, k)``. ``k = 1``: values in
    ``{0, 1}`` or in ``{-1, 1}`` (``-1`` maps to ``0``), of any real dtype."""
    if k == 1:
        if y.is_floating_point() and not bool(torch.isfinite(y).all()):
            raise ValueError("y contains NaN/Inf; a binary classifier's labels must be 0/1 or ±1")
        values = set(torch.unique(y.detach()).tolist())
        if not values <= {0, 1} and not values <= {-1, 1}:
            shown = sorted(values)[:6]
            raise ValueError(f"y must hold binary labels in {{0, 1}} (or ±1) for a model with one "
                             f"output logit, got values {shown}"
                             + (" (a mix of -1 and 0 is ambiguous)" if {-1, 0} <= values else ""))
        return (y > 0).long()
    if y.dtype == torch.bool:
        y = y.long()
    if y.dtype not in _INT_DTYPES:
        raise ValueError(f"y must hold integer class indices (e.g. a torch.long tensor) for a "
                         f"model with {k} output logits, got dtype {y.dtype}")
    y = y.long()
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= k:
        raise ValueError(f"y must hold class indices in [0, {k}) for a model with {k} output "
                         f"logits, got values from {low} to {high}")
    return y


def _logits(model: nn.Module, X: Tensor, k: Optional[int] = None) -> Tensor:
    """The model's logits at ``X``: ``(n,)`` for one output (a model returning ``(n,)`` or
    ``(n, 1)``), ``(n, k)`` for ``k >= 2``; if ``k`` is given, the shape must match it."""
    out = model(X)
    if not isinstance(out, Tensor):
        raise ValueError(f"the model must return a tensor, got {type(out).__name__}")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    n = X.shape[0]
    ok = (out.dim() == 1 and out.shape[0] == n) or (out.dim() == 2 and out.shape[0] == n)
    if ok and k is not None:
        ok = (out.dim() == 1) if k == 1 else (out.dim() == 2 and out.shape[1] == k)
    if not ok or not out.is_floating_point():
        raise ValueError(f"a classifier must map X of shape {tuple(X.shape)} to logits of shape "
                         f"({n}, k) with k >= 2, or ({n},) / ({n}, 1) for a binary classifier, "
                         f"got {tuple(out.shape)} ({out.dtype})")
    return out


def _n_classes(logits: Tensor) -> int:
    """``k``: 1 for a single logit ``(n,)``, else the number of columns."""
    return 1 if logits.dim() == 1 else logits.shape[1]


def _margins(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample margin ``(n,)``: ``f_y − max_{j≠y} f_j`` (``(n, k)`` logits) or ``(2y − 1)·f``
    (``(n,)`` logits); ``y`` long labels already checked."""
    if logits.dim() == 1:
        return torch.where(y == 1, logits, -logits)
    own = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], -math.inf).amax(dim=1)
    return own - others


def _class_loss(logits: Tensor, y: Tensor, loss: str) -> Tensor:
    """Per-sample loss ``(n,)`` that PGD ascends: cross-entropy on the logits (binary
    cross-entropy with logits for one output) or the negative margin."""
    if loss == "margin":
        return -_margins(logits, y)
    if logits.dim() == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits, y.to(logits.dtype),
                                                              reduction="none")
    return nn.functional.cross_entropy(logits, y, reduction="none")


def _check_loss(loss) -> str:
    """``loss``: one of :data:`CLASSIFICATION_LOSSES`."""
    if not isinstance(loss, str) or loss.lower() not in CLASSIFICATION_LOSSES:
        raise ValueError(f"loss must be 'ce' (cross-entropy on the logits) or 'margin' (the "
                         f"negative logit margin, CW-style), got {loss!r}")
    return loss.lower()


def _clean_margins(model: nn.Module, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor, int]:
    """Evaluate the model at the clean points (eval mode, modes restored), check the labels
    against its number of outputs; return ``(margins (n,), labels long (n,), k)``, detached.

    ``ValueError`` when the model cannot read ``X``, returns a wrong shape or NaN/Inf logits,
    or when the labels do not fit its number of outputs."""
    with _EvalMode(model), torch.no_grad():
        try:
            logits = _logits(model, X)
        except RuntimeError as exc:
            raise ValueError(f"the model could not be evaluated on X of shape {tuple(X.shape)} "
                             f"(does X have the number of columns the model reads?): {exc}"
                             ) from exc
        bad = ~torch.isfinite(logits)
        if bool(bad.any()):
            rows = int((bad.any(dim=1) if bad.dim() == 2 else bad).sum())
            raise ValueError(f"the model's logits are NaN/Inf on {rows} row(s) of X: the "
                             "weights or the data are too large; rescale them")
        k = _n_classes(logits)
        y = _check_labels(y, k)
        return _margins(logits, y).detach(), y, k


def _margin_gradient(model: nn.Module, X_point: Tensor, y: Tensor, k: int,
                     loss: str) -> tuple[Tensor, Tensor]:
    """Per-row margin at ``X_point`` and the input gradient of the per-row ``loss``, both
    detached (only the input gets a gradient, as in :func:`_input_gradient`)."""
    with torch.enable_grad():
        x = X_point.detach().requires_grad_(True)
        logits = _logits(model, x, k)
        margin = _margins(logits.detach(), y)
        value = _class_loss(logits, y, loss)
        if value.requires_grad:
            (g,) = torch.autograd.grad(value.sum(), x, allow_unused=True)
        else:
            g = None
    if g is None:
        g = torch.zeros_like(x)
    return margin, g.detach()


def _keep_smaller(best_X: Tensor, best_margin: Tensor, X_new: Tensor,
                  margin: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, keep the candidate with the smaller margin (ties and NaN keep the earlier one):
    a misclassifying point (margin <= 0) always beats a correctly classified one."""
    better = margin < best_margin
    return torch.where(better[:, None], X_new, best_X), torch.where(better, margin, best_margin)


def classification_margin(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Per-sample logit margin at the clean points, ``(n,)`` (logit units), detached.

    ``f_{y_i}(x_i) − max_{j≠y_i} f_j(x_i)`` for a model with ``k >= 2`` logits, ``s_i f(x_i)``
    with ``s_i = 2y_i − 1`` for a binary model with one logit. Point ``i`` is correctly
    classified iff its margin is ``> 0`` (a tie counts as an error).

    Args:
        model: ``nn.Module`` mapping ``(n, d)`` to logits ``(n, k)``, ``k >= 2``, or to one logit
            ``(n,)`` / ``(n, 1)``; on ``X``'s device; evaluated in eval mode (modes restored).
        X: inputs ``(n, d)``, in the units the model sees (cast to the model's dtype).
        y: labels ``(n,)``: integer class indices in ``[0, k)``; for one logit ``{0, 1}`` or
            ``±1``.

    Raises:
        ValueError: shapes, NaN/Inf in ``X`` or the model, labels outside the classes, a model
            output of the wrong shape. TypeError: ``model`` not an ``nn.Module``.
    """
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            return classification_margin(model, as_tensor(X, "X").clone(),
                                         as_tensor(y, "y").clone())
    X, y = _model_inputs(model, X, y, labels=True)
    return _clean_margins(model, X, y)[0]


def pgd_classification(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
                       steps: int = 20, alpha: Optional[float] = None,
                       random_start: bool = True, restarts: int = 1,
                       generator: Optional[torch.Generator] = None,
                       bounds: Optional[tuple[float, float]] = None,
                       loss: str = "ce") -> ClassificationAttackResult:
    """ℓ2 or ℓ∞ projected gradient attack on a classifier (docs/attacks.md §4).

    For every row ``i`` at once, ascends the per-sample ``loss`` over ``‖δ_i‖_p ≤ eps``:

    * ``"ce"`` (default, torchattacks' PGD): cross-entropy of the logits at ``x_i + δ_i``
      against ``y_i`` (binary cross-entropy with logits for one output);
    * ``"margin"`` (Carlini–Wagner style): the negative margin ``max_{j≠y} f_j − f_y``
      (``−s·f`` for one output). It does not saturate where the softmax does (a confident
      point's cross-entropy gradient underflows to 0), so it is the stronger choice on
      confident networks.

    The steps, random starts, restarts, step size (default ``2.5·eps/steps``) and ``bounds`` are
    those of :func:`pgd_attack` (ℓ∞: ``δ ← clamp(δ + alpha·sign(g), −eps, eps)``; ℓ2:
    ``δ ← Π(δ + alpha·g/‖g‖₂)``). Per row, the candidate with the smallest *margin* among the
    clean point, every iterate of every restart and the final iterates is returned, whichever
    loss is ascended: a misclassifying point (margin ``<= 0``) when one was found, else the
    point closest to the decision boundary in margin. So the returned margin is never above
    the clean margin, and ``eps = 0`` returns the clean point.

    ``result.robust_accuracy`` is an *upper* bound on the true robust accuracy at ``eps``;
    :func:`certified_radius` gives a lower bound.

    Args:
        model: ``nn.Module`` mapping ``(n, d)`` to logits ``(n, k)`` with ``k >= 2``, or to one
            logit ``(n,)`` / ``(n, 1)`` (binary: class 1 iff ``f(x) > 0``), on ``X``'s device.
            Put in eval mode during the attack (modes restored), not modified, no ``.grad``
            written on its parameters.
        X: inputs ``(n, d)``, in the units the model sees (cast to the model's dtype).
        y: labels ``(n,)`` (or ``(n, 1)``): integer class indices in ``[0, k)``; for one
            logit ``{0, 1}`` or ``±1`` (``-1`` is class 0).
        eps: radius of the ball, ``>= 0``, in the units of ``X``.
        norm: ``2`` or ``inf`` (also ``"l2"``, ``"linf"``, ``math.inf``).
        steps, alpha, random_start, restarts, generator, bounds: as for :func:`pgd_attack`.
        loss: ``"ce"`` or ``"margin"``.

    Returns:
        :class:`ClassificationAttackResult` (``X_adv``, ``margin``, ``clean_margin``,
        ``correct``, ``robust_accuracy``).

    Raises:
        ValueError: ``eps`` negative, NaN or infinite; unknown ``norm`` or ``loss``; ``X``/``y``
            row counts that differ; labels that are not class indices of the model's outputs
            (non-integer for ``k >= 2``, outside ``[0, k)``, not 0/1 or ±1 for one logit);
            NaN/Inf in ``X`` or the model's parameters or logits; ``steps < 1``,
            ``restarts < 1``, ``alpha <= 0``; bad ``bounds``; model on another device; a model
            output of the wrong shape.
        TypeError: ``model`` is not an ``nn.Module``; non-integer ``steps``/``restarts``.

    Works under ``torch.inference_mode()`` (the attack leaves it locally).
    """
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            return pgd_classification(model, as_tensor(X, "X").clone(), as_tensor(y, "y").clone(),
                                      eps, norm, steps, alpha, random_start, restarts, generator,
                                      bounds, loss)
    X, y, eps, norm, bounds = _check_inputs(model, X, y, eps, norm, bounds, labels=True)
    steps = check_positive_int(steps, "steps")
    restarts = check_positive_int(restarts, "restarts")
    alpha = _check_alpha(alpha)
    loss = _check_loss(loss)
    clean_margin, y, k = _clean_margins(model, X, y)
    best_X, best_margin = X.clone(), clean_margin.clone()
    if eps > 0:
        best_X, best_margin = _pgd_search(
            model, X, eps, norm, steps, alpha, random_start, restarts, generator, bounds,
            best_X, best_margin,
            with_gradient=lambda X_point: _margin_gradient(model, X_point, y, k, loss),
            score=lambda X_point: _margins(_logits(model, X_point, k), y).detach(),
            keep_best=_keep_smaller)
    return ClassificationAttackResult(X_adv=best_X, margin=best_margin, clean_margin=clean_margin,
                                      eps=eps, norm=norm, loss=loss)


def certified_radius(model: nn.Module, X: Tensor, y: Tensor, lipschitz: float,
                     norm: NormLike = 2) -> Tensor:
    """Certified radius of every point from its logit margin and a Lipschitz bound ``L``.

    With ``m_i`` the clean margin (:func:`classification_margin`) and ``L`` a Lipschitz upper
    bound of the whole output map ``x ↦ f(x)`` for ``norm``:

    * ℓ2 (``L`` bounds ``‖f(x) − f(x')‖₂ / ‖x − x'‖₂``): ``r_i = m_i / (√2·L)`` for ``k >= 2``
      logits, since ``f_y − f_j = (e_y − e_j)ᵀf`` and ``‖e_y − e_j‖₂ = √2``;
    * ℓ∞ (``L`` bounds ``‖f(x) − f(x')‖∞ / ‖x − x'‖∞``, the largest of the outputs' ℓ∞
      Lipschitz constants): ``r_i = m_i / (2L)``, since ``|(e_y − e_j)ᵀv| ≤ 2‖v‖∞``;
    * one logit (binary), either norm: ``r_i = m_i / L``.

    No point of the open ball ``‖δ‖_p < r_i`` around a correctly classified ``x_i`` changes its
    class; point ``i`` is certified at radius ``eps`` iff it is correct and ``r_i > eps``.
    Misclassified points (``m_i <= 0``) get ``r_i = 0``; with ``L = 0`` (a constant network)
    correct points get ``r_i = inf``. Computed in float64 and rounded downwards; what it does
    not cover is the model's own rounding of the logits.

    Args:
        model, X, y: as for :func:`classification_margin`.
        lipschitz: ``L >= 0`` (finite), in logit units per input unit, for ``norm`` (see above;
            the caller vouches that it is a certified upper bound).
        norm: ``2`` or ``inf``.

    Returns:
        ``(n,)`` float64 tensor of radii (units of ``X``), detached, on ``X``'s device.

    Raises:
        ValueError: as for :func:`classification_margin`; ``lipschitz`` negative, NaN or
            infinite; unknown ``norm``.
    """
    norm = check_norm(norm)
    lipschitz = check_nonneg(lipschitz, "lipschitz")
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            return certified_radius(model, as_tensor(X, "X").clone(), as_tensor(y, "y").clone(),
                                    lipschitz, norm)
    X, y = _model_inputs(model, X, y, labels=True)
    margin, _, k = _clean_margins(model, X, y)
    return _radius_from_margin(margin, lipschitz, norm, k)


def _radius_from_margin(margin: Tensor, lipschitz: float, norm: float, k: int) -> Tensor:
    """``max(m, 0) / (c·L)``, ``c = 1`` (k = 1), ``√2`` (ℓ2) or ``2`` (ℓ∞), in float64 rounded
    down by four unit roundoffs (the division, √2 and the product); ``inf`` for ``m > 0`` and
    ``L = 0``."""
    m = margin.to(torch.float64).clamp_min(0.0)
    factor = 1.0 if k == 1 else (2.0 if math.isinf(norm) else math.sqrt(2.0))
    if lipschitz == 0:
        return torch.where(m > 0, torch.full_like(m, math.inf), torch.zeros_like(m))
    return m / (factor * lipschitz) * (1 - 4 * UNIT_ROUNDOFF)
