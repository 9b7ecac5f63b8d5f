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

Argument names follow torchattacks (``eps``, ``alpha``, ``steps``, ``random_start``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor, nn

from ._checks import (UNIT_ROUNDOFF, as_tensor, check_nonneg, check_norm, check_positive_int,
                      check_squared_errors_finite, check_Xy)

__all__ = [
    "AttackResult",
    "certified_squared_error_bound",
    "pgd_attack",
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


def _model_inputs(model, X, y) -> tuple[Tensor, Tensor]:
    """Validate ``X``, ``y`` and ``model``; return ``X`` and ``y`` detached, on ``X``'s device,
    in the model's floating dtype (so a float32 network can be attacked with float64 data, as
    the rest of the library allows; ``y`` of shape ``(n, 1)`` becomes ``(n,)``). ``X`` must have
    the model's input width where :func:`_input_width` knows it."""
    X, y = check_Xy(X, y, _input_width(model) if isinstance(model, nn.Module) else None)
    dtype = _check_model(model, X)
    X = X.detach().to(dtype=dtype or X.dtype)
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
    """``(f(X) − y)²`` at the clean points, ``(n,)``, detached; see :func:`_clean_residuals`."""
    return _clean_residuals(model, X, y) ** 2


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


def _check_inputs(model, X, y, eps, norm, bounds):
    """Shared validation: returns ``(X, y, eps, norm, bounds)``, data as :func:`_model_inputs`.

    ``bounds`` are checked against the caller's ``X`` and rounded inwards to the model's dtype;
    the cast ``X`` is moved inside them (by at most one rounding) when the cast took it out."""
    bounds = _check_bounds(bounds, as_tensor(X, "X"))
    X, y = _model_inputs(model, X, y)
    if bounds is not None:
        bounds = _inward(bounds, X.dtype)
        X = X.clamp(bounds[0], bounds[1])
    return X, y, _check_eps(eps), check_norm(norm), bounds


# ---------------------------------------------------------------------------- plumbing
def _residuals(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Evaluate ``f(X) − y`` per row, ``(n,)``; the model may return ``(n,)`` or ``(n, 1)``."""
    out = model(X)
    if not isinstance(out, Tensor):
        raise ValueError(f"the model must return a tensor, got {type(out).__name__}")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != y.shape:
        raise ValueError(f"the model must map X of shape {tuple(X.shape)} to shape "
                         f"({X.shape[0]},) or ({X.shape[0]}, 1), got shape {tuple(out.shape)}")
    return out - y


def _squared_errors(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Evaluate ``(f(X) − y)²`` per row, ``(n,)``."""
    return _residuals(model, X, y) ** 2


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


def pgd_attack(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
               steps: int = 20, alpha: Optional[float] = None, random_start: bool = True,
               restarts: int = 1, generator: Optional[torch.Generator] = None,
               bounds: Optional[tuple[float, float]] = None) -> AttackResult:
    """ℓ2 or ℓ∞ projected gradient ascent on the per-sample squared error (docs/attacks.md).

    Maximises ``(f(x_i + δ_i) − y_i)²`` over ``‖δ_i‖_p ≤ eps`` for every row ``i`` at once.
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
    X, y, eps, norm, bounds = _check_inputs(model, X, y, eps, norm, bounds)
    steps = check_positive_int(steps, "steps")
    restarts = check_positive_int(restarts, "restarts")
    alpha = _check_alpha(alpha)
    best_loss = _clean_losses(model, X, y)
    best_X = X.clone()
    if eps == 0:
        return AttackResult(X_adv=best_X, loss=best_loss, eps=eps, norm=norm)
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
                loss, g = _input_gradient(model, X_cur, y)
                best_X, best_loss = _keep_best(best_X, best_loss, X_cur, loss)
                delta = _project(X_cur - X + step * _ascent_direction(g, norm), eps, norm)
                X_cur = _clip(X, delta, eps, norm, bounds)
            with torch.no_grad():
                loss = _squared_errors(model, X_cur, y).detach()
            best_X, best_loss = _keep_best(best_X, best_loss, X_cur, loss)
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
    X, y, eps, norm, bounds = _check_inputs(model, X, y, eps, norm, bounds)
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
    """Certified per-sample upper bound ``(|f(x_i) − y_i| + L·eps)²`` on the attacked error.

    If ``L = lipschitz`` is a Lipschitz upper bound of ``f`` for the attack's norm (``L₂`` from
    LipSDP for ℓ2 attacks, an ℓ∞ bound for ℓ∞ attacks), then ``|f(x + δ) − y| ≤ |f(x) − y| + L·eps``
    for every ``‖δ‖ ≤ eps``, so the value is an *upper* bound on the worst-case squared error
    (any attack's loss is a lower bound). Its mean bounds the worst-case MSE. It is computed in
    float64 from the model's residuals at the clean points and rounded upwards; what it does not
    cover is the model's own rounding at the perturbed points (about 1e-7 relative in float32).

    Args:
        model: as for :func:`pgd_attack` (evaluated in eval mode, modes restored).
        X: inputs ``(n, d)``; y: targets ``(n,)`` or ``(n, 1)``.
        eps: radius, ``>= 0``, in the units of ``X``.
        lipschitz: ``L >= 0``, in output units per input unit.

    Returns:
        ``(n,)`` tensor, detached, on ``X``'s device, in the model's dtype.

    Raises:
        ValueError: negative/NaN ``eps`` or ``lipschitz``, bad shapes (``X`` of another width
            than the model reads), NaN in the data or the model's parameters, model on another
            device, a squared error or bound that overflows the model's dtype.
    """
    X, y = _model_inputs(model, X, y)
    eps = _check_eps(eps)
    lipschitz = check_nonneg(lipschitz, "lipschitz")
    err = _clean_residuals(model, X, y).abs()
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
