"""Robustness metrics for regression in the torchmetrics style (docs/attacks.md §3).

For a regression model ``f`` and data ``(x_i, y_i)``, ``i = 1..n``, the *worst-case MSE* within
the ball ``‖δ‖_p ≤ ε`` (p ∈ {2, ∞}) is

    MSE*(ε) = (1/n) Σ_i max_{‖δ_i‖_p ≤ ε} (f(x_i + δ_i) − y_i)².

Two computable numbers bracket it:

* **Adversarial MSE (a lower bound).** ``(1/n) Σ_i ℓ_i`` with ``ℓ_i`` the squared error that PGD
  (:func:`torch_lipcvx.attacks.pgd_attack`) attains at a real point of the ball, so
  ``adversarial_mse ≤ MSE*(ε)``. :func:`adversarial_mse`, :class:`AdversarialMSE`.
* **Certified adversarial MSE (an upper bound).** ``(1/n) Σ_i (|f(x_i) − y_i| + L ε)²`` with ``L`` a
  certified Lipschitz upper bound of ``f`` for the same norm (LipSDP's ``L₂`` for ℓ2; for ℓ∞ the
  tightest available bound of docs/linf.md: the exact value of LiPopt's program when the network's
  components read at most 20 inputs, else the smallest of the LiPopt-style LP, ``√d·L₂`` and the
  naive bound), so ``MSE*(ε) ≤ certified_adversarial_mse``. :func:`certified_adversarial_mse`,
  :class:`CertifiedAdversarialMSE`.

At ``ε = 0`` both equal the clean MSE.

Layout (as in torchmetrics): the maths lives in private pure functions, ``_*_update`` returns the
sufficient statistics ``(sum of per-sample losses, count)`` of one batch and ``_*_compute`` turns
them into ``sum / count``. The public functions run update then compute on one batch; the
:class:`~torchmetrics.Metric` classes accumulate the two statistics over batches in states
``sum_loss`` and ``total``, both reduced across processes by summation, so the value over several
batches (or processes) is the MSE over all their samples, exactly as on the concatenated data.

Metric ``update`` signature: ``update(model, X, y)``. The model is an argument of every update,
not of the constructor: a ``Metric`` is an ``nn.Module``, and holding the network would register
its parameters a second time inside the metric (duplicate ``state_dict`` entries in a
``LightningModule``), and a callback that replaces ``pl_module.model`` would leave the metric
attacking a stale network.

Classification (docs/attacks.md §4): for a classifier (logits ``(n, k)``, or one logit for a
binary classifier; integer labels) :func:`accuracy`, :func:`robust_accuracy` /
:class:`RobustAccuracy` (PGD on the cross-entropy or the margin: an *upper* bound on the true
robust accuracy) and :func:`certified_accuracy` / :class:`CertifiedAccuracy` (points whose logit
margin exceeds ``√2·L·ε`` for ℓ2, ``2·L·ε`` for ℓ∞, ``L·ε`` for one logit: a *lower* bound).
Their states are two integer counts (correct, total), summed across processes.

Lipschitz logging: a Lipschitz interval is a property of the network, not an average over data,
so it is not a ``Metric``. :func:`log_lipschitz_interval` computes
:func:`~torch_lipcvx.bounds.lipschitz_bounds` once and logs ``lipschitz/lower`` and
``lipschitz/upper`` through ``pl_module.log_dict``; call it from an epoch-end hook.

Units: ``eps`` is measured in the units the model sees (standard deviations of each feature when
the inputs are standardised); ``L`` is in output units per input unit; the metrics are in squared
output units.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from ._checks import check_nonneg, check_norm, check_positive_int
from .attacks import (NormLike, _check_alpha, _check_loss, _clean_margins, _clean_residuals,
                      _model_inputs, certified_radius, certified_squared_error_bound,
                      classification_margin, pgd_attack, pgd_classification)
from .bounds import LipschitzInterval, lipschitz_bounds
from .linf import DEFAULT_MAX_EXACT_DIM, check_method, linf_program
from .models import ShallowWeights, as_shallow_relu

__all__ = [
    "AdversarialMSE",
    "CertifiedAccuracy",
    "CertifiedAdversarialMSE",
    "RobustAccuracy",
    "accuracy",
    "accuracy_curve",
    "adversarial_mse",
    "certified_accuracy",
    "certified_adversarial_mse",
    "certified_lipschitz",
    "lipschitz_interval_dict",
    "log_lipschitz_interval",
]

LipschitzLike = Union[float, int, LipschitzInterval, None]


# ---------------------------------------------------------------------------- plumbing
@contextlib.contextmanager
def _autograd_allowed():
    """Leave ``torch.inference_mode`` for the body (no-op outside it).

    Lightning runs validation under ``torch.inference_mode()``, where ``torch.enable_grad()``
    does *not* bring autograd back: PGD would get no input gradients and silently return its
    random start. The body must also clone any inference tensors it differentiates through
    (:func:`_plain`).
    """
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            yield
    else:
        yield


def _plain(t):
    """A normal tensor with ``t``'s values: clones inference tensors, passes anything else on."""
    return t.clone() if isinstance(t, Tensor) and t.is_inference() else t


def _check_lipschitz(lipschitz: LipschitzLike, norm: float, name: str = "lipschitz") -> Optional[float]:
    """``None``, a number ``>= 0``, or a :class:`LipschitzInterval` for ``norm`` (its ``upper``)."""
    if lipschitz is None:
        return None
    if isinstance(lipschitz, LipschitzInterval):
        if lipschitz.norm != norm:
            have = "inf" if math.isinf(lipschitz.norm) else "2"
            want = "inf" if math.isinf(norm) else "2"
            raise ValueError(f"{name} is a LipschitzInterval for norm={have}, but the metric's "
                             f"norm is {want}; the certified bound needs L for the attack's norm")
        return check_nonneg(lipschitz.upper, f"{name}.upper")
    return check_nonneg(lipschitz, name)


def _same_weights(a: ShallowWeights, b: ShallowWeights) -> bool:
    """Whether two weight sets are bit-identical (same shapes, devices, dtypes and values)."""
    for key in ("W", "b", "alpha", "c"):
        s, t = getattr(a, key), getattr(b, key)
        if (s is None) != (t is None):
            return False
        if s is None:
            continue
        if s.shape != t.shape or s.device != t.device or s.dtype != t.dtype or not torch.equal(s, t):
            return False
    return True


def certified_lipschitz(model: nn.Module, norm: NormLike = 2, *, method: Optional[str] = None,
                        **bounds_kwargs: Any) -> float:
    """Certified Lipschitz upper bound ``L`` of a shallow ReLU network for the input norm ``norm``.

    ``lipschitz_bounds(model, norm, method=method).upper``, the smallest certified bound computed.
    Default methods: for ℓ2 ``"lipsdp"`` (LipSDP's re-verified ``L₂`` or the naive
    ``‖W̄‖₂‖α‖₂``); for ℓ∞ ``"best"``, the tightest available: the exact value of LiPopt's program
    (docs/linf.md) when every connected component of the network reads at most ``max_exact_dim``
    (20) inputs, else the smallest of the LiPopt-style LP (degree 3 when it has at most
    ``max_products`` products, else 2), ``√d·L₂`` and ``Σ_j |α_j| ‖w̄_j‖₁``. ``method="lipsdp"``
    gives the older ℓ∞ choice (``√d·L₂`` or naive). When the exact value is computable the
    default runs ``method="exact"`` only, skipping the SDP: ``P* ≤ √d·L₂`` and ``P* ≤`` naive
    always (LipSDP's relaxation also admits every ``s ∈ [0, 1]^m``), so the result is the same.
    Only the upper end is used, so the sampled lower-bound search runs with a single sample and
    step (override with ``n_samples=``/``ascent_steps=``). Runs outside ``torch.inference_mode``.

    Returns:
        ``L`` (float, output units per input unit), a certified upper bound.

    Raises:
        ValueError: not a shallow ReLU network with scalar output, NaN/Inf weights, unknown norm
            or method (for the norm). ``SolverError``: the SDP or LP solver failed.
    """
    bounds_kwargs.setdefault("n_samples", 1)
    bounds_kwargs.setdefault("ascent_steps", 1)
    if method is None and check_norm(norm) != 2:
        max_dim = bounds_kwargs.get("max_exact_dim", DEFAULT_MAX_EXACT_DIM)
        if isinstance(max_dim, int) and not isinstance(max_dim, bool):
            w = as_shallow_relu(model).weights()
            component = max(linf_program(w.output(r)).max_component_dim for r in range(w.k))
            method = "exact" if component <= max_dim else "best"
    with _autograd_allowed():
        return float(lipschitz_bounds(model, norm, method=method, **bounds_kwargs).upper)


def _sum_count(losses: Tensor) -> tuple[Tensor, int]:
    """``(Σ_i losses_i, n)``, the sum in the losses' dtype or float32 if that is wider: a float16
    model's sum of 2000 losses of 100 is 2e5, past float16's largest number, 65504. A sum that
    overflows even so raises ``ValueError`` (the losses are too large to average)."""
    total = losses.sum(dtype=torch.promote_types(losses.dtype, torch.float32))
    if not bool(torch.isfinite(total)):
        raise ValueError(f"the sum of the batch's {losses.shape[0]} squared errors overflows "
                         f"{total.dtype} (largest {float(losses.max()):.3g}): the weights or the "
                         "data (X, y) are too large; rescale them")
    return total, losses.shape[0]


# ---------------------------------------------------------------------------- adversarial MSE
def _adversarial_losses(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
                        steps: int = 20, alpha: Optional[float] = None,
                        random_start: bool = True, restarts: int = 1,
                        generator: Optional[torch.Generator] = None,
                        bounds: Optional[tuple[float, float]] = None) -> Tensor:
    """PGD-attained squared errors ``ℓ_i = (f(x_i + δ_i) − y_i)²`` of one batch, ``(n,)``, from
    :func:`~torch_lipcvx.attacks.pgd_attack` (which validates every argument): detached, on
    ``X``'s device, in the model's dtype. Works under ``torch.inference_mode``."""
    with _autograd_allowed():
        result = pgd_attack(model, _plain(X), _plain(y), eps, norm, steps=steps, alpha=alpha,
                            random_start=random_start, restarts=restarts, generator=generator,
                            bounds=bounds)
    return result.loss


def _adversarial_mse_update(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
                            steps: int = 20, alpha: Optional[float] = None,
                            random_start: bool = True, restarts: int = 1,
                            generator: Optional[torch.Generator] = None,
                            bounds: Optional[tuple[float, float]] = None) -> tuple[Tensor, int]:
    """Sum of PGD-attained squared errors on one batch, and the batch size.

    Returns ``(Σ_i ℓ_i, n)`` with ``ℓ_i`` from :func:`_adversarial_losses`; the sum is a
    detached 0-d tensor on ``X``'s device, in the model's dtype or float32 if that is wider
    (:func:`_sum_count`). Works under ``torch.inference_mode``.
    """
    return _sum_count(_adversarial_losses(model, X, y, eps, norm, steps, alpha, random_start,
                                          restarts, generator, bounds))


def _adversarial_mse_compute(sum_loss: Tensor, total: Union[int, Tensor]) -> Tensor:
    """``sum_loss / total``: the adversarial MSE (NaN when ``total`` is 0)."""
    return sum_loss / total


def adversarial_mse(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
                    steps: int = 20, alpha: Optional[float] = None, random_start: bool = True,
                    restarts: int = 1, generator: Optional[torch.Generator] = None,
                    bounds: Optional[tuple[float, float]] = None) -> Tensor:
    """Adversarial MSE under ℓ2/ℓ∞ PGD: a *lower* bound on the worst-case MSE in the ε-ball.

    .. math:: \\text{AdvMSE} = \\frac{1}{n}\\sum_{i=1}^n \\big(f(x_i + \\delta_i) - y_i\\big)^2,
       \\qquad \\|\\delta_i\\|_p \\le \\varepsilon,

    with ``δ_i`` found by :func:`~torch_lipcvx.attacks.pgd_attack` (random start, ``steps``
    steps, best iterate kept). Every ``x_i + δ_i`` is a real point of the ball, so the value is
    ``≤ max_{‖δ_i‖ ≤ ε} (1/n) Σ (f(x_i + δ_i) − y_i)²`` and ``≥`` the clean MSE; ``eps = 0`` gives
    the clean MSE exactly.

    Args:
        model: ``nn.Module`` mapping ``(n, d)`` to ``(n,)`` or ``(n, 1)``, on ``X``'s device; not
            modified (evaluated in eval mode, modes restored, no ``.grad`` written).
        X: inputs ``(n, d)``, in the units the model sees (e.g. standardised).
        y: targets ``(n,)`` or ``(n, 1)``.
        eps: radius ``>= 0`` of the ball, in the units of ``X``.
        norm: ``2`` or ``inf`` (also ``"l2"``, ``"linf"``, ``math.inf``).
        steps, alpha, random_start, restarts, generator, bounds: as for
            :func:`~torch_lipcvx.attacks.pgd_attack` (``alpha`` defaults to ``2.5·eps/steps``).

    Returns:
        0-d tensor (squared output units) on ``X``'s device, in the model's dtype, detached.

    Raises:
        ValueError: bad shapes, NaN/Inf data, ``eps < 0``, unknown ``norm``, ``steps < 1``,
            ``restarts < 1``, ``alpha <= 0``, model on another device or with a wrong output shape.
        TypeError: ``model`` not an ``nn.Module``; non-integer ``steps``/``restarts``.

    Example:
        >>> import torch
        >>> from torch_lipcvx import ShallowReLU, ShallowWeights
        >>> net = ShallowReLU.from_weights(ShallowWeights(    # f(x) = relu(x)
        ...     torch.tensor([[1.0]]), torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor(0.0)))
        >>> X, y = torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 0.0])
        >>> adversarial_mse(net, X, y, eps=0.0)              # clean: (1 + 4) / 2
        tensor(2.5000)
        >>> adversarial_mse(net, X, y, eps=0.5, generator=torch.Generator().manual_seed(0))
        tensor(4.2500)
    """
    losses = _adversarial_losses(model, X, y, eps, norm, steps, alpha, random_start, restarts,
                                 generator, bounds)
    return _adversarial_mse_compute(*_sum_count(losses)).to(losses.dtype)


# ---------------------------------------------------------------------------- certified MSE
def _certified_adversarial_mse_update(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                                      lipschitz: float) -> tuple[Tensor, int]:
    """Sum of ``(|f(x_i) − y_i| + L·eps)²`` on one batch, and the batch size.

    Per-sample terms come from :func:`_certified_losses`; the sum is a detached 0-d tensor on
    ``X``'s device, in the model's dtype or float32 if that is wider (:func:`_sum_count`).
    """
    return _sum_count(_certified_losses(model, X, y, eps, lipschitz))


def _certified_losses(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                      lipschitz: float) -> Tensor:
    """Per-sample ``(|f(x_i) − y_i| + L·eps)²``, ``(n,)``, from
    :func:`~torch_lipcvx.attacks.certified_squared_error_bound` (which validates every
    argument): detached, on ``X``'s device, in the model's dtype."""
    with _autograd_allowed():
        return certified_squared_error_bound(model, _plain(X), _plain(y), eps, lipschitz)


def _certified_adversarial_mse_compute(sum_loss: Tensor, total: Union[int, Tensor]) -> Tensor:
    """``sum_loss / total``: the certified adversarial MSE (NaN when ``total`` is 0)."""
    return sum_loss / total


def certified_adversarial_mse(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                              lipschitz: LipschitzLike = None, norm: NormLike = 2, *,
                              method: Optional[str] = None) -> Tensor:
    """Certified adversarial MSE: an *upper* bound on the worst-case MSE in the ε-ball.

    .. math:: \\text{CertMSE} = \\frac{1}{n}\\sum_{i=1}^n \\big(|f(x_i) - y_i| + L\\,\\varepsilon\\big)^2
       \\;\\ge\\; \\frac{1}{n}\\sum_{i=1}^n \\max_{\\|\\delta_i\\|_p \\le \\varepsilon}
       \\big(f(x_i + \\delta_i) - y_i\\big)^2,

    valid because ``|f(x + δ) − y| ≤ |f(x) − y| + L‖δ‖_p`` whenever ``L`` is a Lipschitz upper
    bound of ``f`` for the norm ``p``. Hence ``adversarial_mse ≤ certified_adversarial_mse`` for
    the same ``eps`` and norm, with equality to the clean MSE at ``eps = 0``.

    Args:
        model: as for :func:`adversarial_mse`.
        X: inputs ``(n, d)``, in the units the model sees; y: targets ``(n,)`` or ``(n, 1)``.
        eps: radius ``>= 0``, in the units of ``X``.
        lipschitz: ``L`` in output units per input unit. A number (the caller vouches that it is a
            certified upper bound for ``norm``), a :class:`~torch_lipcvx.LipschitzInterval`
            (its ``upper`` is used; its norm must equal ``norm``), or ``None`` to compute the
            certified :func:`certified_lipschitz` of ``model`` (a ShallowReLU or a conforming
            ``nn.Sequential``).
        norm: ``2`` or ``inf``: the attack's norm, used to compute or check ``L``.
        method: when ``lipschitz`` is ``None``, how :func:`certified_lipschitz` bounds ``L``:
            ``None`` (default: ``"lipsdp"`` for ℓ2, ``"best"``, the tightest available, for ℓ∞),
            or any method of :func:`~torch_lipcvx.bounds.lipschitz_bounds` for ``norm``.

    Returns:
        0-d tensor (squared output units) on ``X``'s device, in the model's dtype, detached.

    Raises:
        ValueError: bad shapes, NaN/Inf data, ``eps < 0``, ``lipschitz < 0``, unknown ``norm``,
            a method unknown for ``norm``, an interval for another norm, a model that is not a
            shallow ReLU network (only when ``lipschitz`` is ``None``).

    Example:
        >>> import torch
        >>> from torch_lipcvx import ShallowReLU, ShallowWeights
        >>> net = ShallowReLU.from_weights(ShallowWeights(    # f(x) = relu(x), L = 1
        ...     torch.tensor([[1.0]]), torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor(0.0)))
        >>> X, y = torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 0.0])
        >>> certified_adversarial_mse(net, X, y, eps=0.5, lipschitz=1.0)   # (1.5² + 2.5²) / 2
        tensor(4.2500)
    """
    norm = check_norm(norm)
    check_method(norm, method)
    L = _check_lipschitz(lipschitz, norm)
    eps = check_nonneg(eps, "eps")
    if L is None:
        with _autograd_allowed():
            # the data checked before the SDP
            _clean_residuals(model, *_model_inputs(model, _plain(X), _plain(y), multi=True))
        L = _output_l2(model, certified_lipschitz(model, norm, method=method), norm)
    losses = _certified_losses(model, X, y, eps, L)
    return _certified_adversarial_mse_compute(*_sum_count(losses)).to(losses.dtype)


def _certified_settings(metric, eps: float, lipschitz: LipschitzLike, norm: NormLike,
                        method: Optional[str]) -> None:
    """The checked settings of a certified metric (:class:`CertifiedAdversarialMSE`,
    :class:`CertifiedAccuracy`): ``eps``, ``norm``, a fixed ``lipschitz`` or ``None`` (then the
    certified bound of the model's current weights by ``method``, cached by
    :func:`_lipschitz_for`), and ``lipschitz_used``, the last ``L`` an update used."""
    metric.eps = check_nonneg(eps, "eps")
    metric.norm = check_norm(norm)
    metric.lipschitz = _check_lipschitz(lipschitz, metric.norm)
    check_method(metric.norm, method)
    metric.method = method
    metric.lipschitz_used = metric.lipschitz
    metric._cache = None


def _output_l2(model: nn.Module, L: float, norm: float) -> float:
    """A bound on ``‖f(x + δ) − f(x)‖₂ / ‖δ‖`` from the certified ``L`` of ``norm``: ``L``
    itself, except ``√k·L`` for ℓ∞ with ``k ≥ 2`` outputs (the ℓ∞→ℓ∞ bound, docs/losses.md §3)."""
    k = as_shallow_relu(model).out_features
    return L * math.sqrt(k) if (k > 1 and math.isinf(norm)) else L


# ---------------------------------------------------------------------------- Metric classes
def _lipschitz_for(metric, model: nn.Module) -> float:
    """``metric.lipschitz`` when fixed, else the certified bound of ``model``'s current weights
    for ``metric.norm`` and ``metric.method``, cached in ``metric._cache`` and recomputed only
    when the weights differ (bit for bit) from the cached ones."""
    if metric.lipschitz is not None:
        return metric.lipschitz
    weights = as_shallow_relu(model).weights()
    if metric._cache is None or not _same_weights(metric._cache[0], weights):
        metric._cache = (weights, certified_lipschitz(model, metric.norm, method=metric.method))
    return metric._cache[1]


class _SumCountMetric(Metric):
    """States ``sum_loss`` and ``total``, both summed across processes; value ``sum / total``.

    ``sum_loss`` starts as a 0-d tensor of the default dtype and is updated out of place, so it
    takes the dtype of the losses (float64 data accumulate in float64). For the reduction across
    processes every process casts it to float64 first: a gather needs one dtype on every rank, and
    a rank that saw no batch still holds the float32 default while the others hold float64 (gloo
    aborted the process on the size mismatch). The synced value is then float64.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound: float = 0.0

    sum_loss: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("sum_loss", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def _sync_dist(self, *args: Any, **kwargs: Any) -> None:
        self.sum_loss = self.sum_loss.to(torch.float64)  # one dtype on every rank; see above
        super()._sync_dist(*args, **kwargs)

    def _accumulate(self, sum_loss: Tensor, total: int) -> None:
        new = self.sum_loss + sum_loss.to(self.sum_loss.device)
        if not bool(torch.isfinite(new)):
            raise ValueError(f"the running sum of squared errors overflows {new.dtype} at this "
                             "update: the weights or the data (X, y) are too large; rescale them")
        self.sum_loss = new
        self.total = self.total + total


class AdversarialMSE(_SumCountMetric):
    """Adversarial MSE under ℓ2/ℓ∞ PGD, accumulated over batches: a *lower* bound on the
    worst-case MSE in the ε-ball.

    .. math:: \\text{AdvMSE} = \\frac{1}{N}\\sum_{i=1}^N \\big(f(x_i + \\delta_i) - y_i\\big)^2,
       \\qquad \\|\\delta_i\\|_p \\le \\varepsilon,

    over all ``N`` samples seen since the last ``reset``; ``δ_i`` from
    :func:`~torch_lipcvx.attacks.pgd_attack` (see :func:`adversarial_mse`).

    As input to ``forward`` and ``update``: ``model`` (``nn.Module``, ``(n, d) -> (n,)`` or
    ``(n, 1)``, on ``X``'s device; not modified), ``X`` ``(n, d)`` in the units the model sees, and
    ``y`` ``(n,)`` or ``(n, 1)``. The model is an update argument (see the module docstring).
    ``update`` works under ``torch.no_grad`` and ``torch.inference_mode`` (Lightning validation):
    the attack leaves inference mode internally to differentiate with respect to the inputs.

    As output of ``forward`` and ``compute``: a 0-d tensor (squared output units).

    Args:
        eps: radius ``>= 0``, in the units the model sees. ``0`` gives the clean MSE.
        norm: ``2`` or ``inf``.
        steps, alpha, random_start, restarts, bounds: PGD settings, as for
            :func:`~torch_lipcvx.attacks.pgd_attack`.
        generator: ``torch.Generator`` for the random starts, drawn from in update order (so a
            seeded generator makes the metric reproducible). ``reset`` does not rewind it.
            ``None`` uses the global RNG.
        kwargs: torchmetrics ``Metric`` keyword arguments.

    Raises:
        ValueError / TypeError: at construction, for a bad ``eps``, ``norm``, ``steps``,
            ``restarts`` or ``alpha``; at update, as for :func:`adversarial_mse`.

    Example:
        >>> import torch
        >>> from torch_lipcvx import ShallowReLU, ShallowWeights
        >>> net = ShallowReLU.from_weights(ShallowWeights(    # f(x) = relu(x)
        ...     torch.tensor([[1.0]]), torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor(0.0)))
        >>> metric = AdversarialMSE(eps=0.5, generator=torch.Generator().manual_seed(0))
        >>> metric.update(net, torch.tensor([[1.0]]), torch.tensor([0.0]))   # (1 + 0.5)²
        >>> metric.update(net, torch.tensor([[2.0]]), torch.tensor([0.0]))   # (2 + 0.5)²
        >>> metric.compute()
        tensor(4.2500)
    """

    def __init__(self, eps: float, norm: NormLike = 2, steps: int = 20,
                 alpha: Optional[float] = None, random_start: bool = True, restarts: int = 1,
                 generator: Optional[torch.Generator] = None,
                 bounds: Optional[tuple[float, float]] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eps = check_nonneg(eps, "eps")
        self.norm = check_norm(norm)
        self.steps = check_positive_int(steps, "steps")
        self.alpha = _check_alpha(alpha)
        self.random_start = bool(random_start)
        self.restarts = check_positive_int(restarts, "restarts")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator
        self.bounds = bounds

    def update(self, model: nn.Module, X: Tensor, y: Tensor) -> None:
        """Attack the batch ``(X, y)`` and add its summed loss and size to the states."""
        sum_loss, total = _adversarial_mse_update(model, X, y, self.eps, self.norm, self.steps,
                                                  self.alpha, self.random_start, self.restarts,
                                                  self.generator, self.bounds)
        self._accumulate(sum_loss, total)

    def compute(self) -> Tensor:
        """Adversarial MSE over every sample seen since the last ``reset``."""
        return _adversarial_mse_compute(self.sum_loss, self.total)


class CertifiedAdversarialMSE(_SumCountMetric):
    """Certified adversarial MSE, accumulated over batches: an *upper* bound on the worst-case
    MSE in the ε-ball.

    .. math:: \\text{CertMSE} = \\frac{1}{N}\\sum_{i=1}^N \\big(|f(x_i) - y_i| + L\\,\\varepsilon\\big)^2

    over all ``N`` samples seen since the last ``reset`` (see :func:`certified_adversarial_mse`).
    It is ``≥`` :class:`AdversarialMSE` for the same ``eps`` and norm.

    As input to ``forward`` and ``update``: ``model``, ``X`` ``(n, d)``, ``y`` ``(n,)`` or
    ``(n, 1)``, as for :class:`AdversarialMSE`.

    As output of ``forward`` and ``compute``: a 0-d tensor (squared output units).

    Choice of ``L``:

    * ``lipschitz`` a number or a :class:`~torch_lipcvx.LipschitzInterval` (its ``upper``): fixed
      for every update; the caller vouches that it bounds every model passed in.
    * ``lipschitz=None`` (default): ``L`` is the certified :func:`certified_lipschitz` of the
      model passed to *that* update (ℓ2: LipSDP, re-verified; ℓ∞: the tightest available
      bound, exact for networks whose components read at most 20 inputs). It is computed at
      the first update and recomputed only when the model's weights differ (bit for bit) from
      the ones it was computed for, so an evaluation epoch over a fixed network computes one
      certificate, and a network that changes between updates always gets its own.
      ``lipschitz_used`` holds the last ``L``.

    Args:
        eps: radius ``>= 0``, in the units the model sees.
        lipschitz: see above.
        norm: ``2`` or ``inf``: the norm of the perturbations (and of ``L``).
        method: when ``lipschitz`` is ``None``: ``None`` (default: ``"lipsdp"`` for ℓ2,
            ``"best"`` for ℓ∞) or a method of :func:`~torch_lipcvx.bounds.lipschitz_bounds` for
            ``norm`` (ℓ2: ``"lipsdp"``, ``"naive"``; ℓ∞ also ``"exact"``, ``"lp"``, ``"all"``).
        kwargs: torchmetrics ``Metric`` keyword arguments.

    Raises:
        ValueError / TypeError: at construction, for a bad ``eps``, ``lipschitz``, ``norm`` or
            ``method`` (or an interval for another norm); at update, as for
            :func:`certified_adversarial_mse`.

    Example:
        >>> import torch
        >>> from torch_lipcvx import ShallowReLU, ShallowWeights
        >>> net = ShallowReLU.from_weights(ShallowWeights(    # f(x) = relu(x), L = 1
        ...     torch.tensor([[1.0]]), torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor(0.0)))
        >>> metric = CertifiedAdversarialMSE(eps=0.5, lipschitz=1.0)
        >>> metric.update(net, torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 0.0]))
        >>> metric.compute()
        tensor(4.2500)
    """

    def __init__(self, eps: float, lipschitz: LipschitzLike = None, norm: NormLike = 2, *,
                 method: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _certified_settings(self, eps, lipschitz, norm, method)

    def _lipschitz_for(self, model: nn.Module) -> float:
        """The fixed ``L``, or the (cached) certified bound of ``model``'s current weights."""
        return _lipschitz_for(self, model)

    def update(self, model: nn.Module, X: Tensor, y: Tensor) -> None:
        """Add the batch's summed certified bounds and size to the states."""
        if self.lipschitz is None:
            with _autograd_allowed():
                # the data checked before the SDP
                _clean_residuals(model, *_model_inputs(model, _plain(X), _plain(y),
                                                       multi=True))
        L = self._lipschitz_for(model)
        if self.lipschitz is None:
            L = _output_l2(model, L, self.norm)
        sum_loss, total = _certified_adversarial_mse_update(model, X, y, self.eps, L)
        self.lipschitz_used = L
        self._accumulate(sum_loss, total)

    def compute(self) -> Tensor:
        """Certified adversarial MSE over every sample seen since the last ``reset``."""
        return _certified_adversarial_mse_compute(self.sum_loss, self.total)


# ---------------------------------------------------------------------------- classification
# Accuracies of a classifier (logits (n, k), or one logit for a binary classifier; labels and
# margins as in torch_lipcvx.attacks, docs/attacks.md §4). On the same data, eps and norm:
#     certified_accuracy <= true robust accuracy <= robust_accuracy (PGD) <= accuracy.
# Layout as above: per-sample "correct" flags, an update returning (number correct, count), a
# compute returning their ratio; the Metric classes sum both counts across batches/processes.

def _correct_count(correct: Tensor) -> tuple[Tensor, int]:
    """``(number of True entries as a 0-d long tensor, n)`` of a bool ``(n,)`` tensor."""
    return correct.sum(dtype=torch.int64), correct.shape[0]


def _accuracy_compute(correct: Union[int, Tensor], total: Union[int, Tensor]) -> Tensor:
    """``correct / total`` as a 0-d tensor of the default float dtype (NaN when ``total`` is 0)."""
    correct = torch.as_tensor(correct)
    return correct.to(torch.get_default_dtype()) / torch.as_tensor(total, device=correct.device)


def _clean_correct(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Per-sample ``margin > 0`` at the clean points, bool ``(n,)`` (validates everything)."""
    with _autograd_allowed():
        return classification_margin(model, _plain(X), _plain(y)) > 0


def _robust_correct(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
                    steps: int = 20, alpha: Optional[float] = None, random_start: bool = True,
                    restarts: int = 1, generator: Optional[torch.Generator] = None,
                    bounds: Optional[tuple[float, float]] = None, loss: str = "ce") -> Tensor:
    """Per-sample "still correct after PGD", bool ``(n,)``, from
    :func:`~torch_lipcvx.attacks.pgd_classification` (which validates every argument)."""
    with _autograd_allowed():
        result = pgd_classification(model, _plain(X), _plain(y), eps, norm, steps=steps,
                                    alpha=alpha, random_start=random_start, restarts=restarts,
                                    generator=generator, bounds=bounds, loss=loss)
    return result.correct


def _certified_correct(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                       lipschitz: float, norm: float) -> Tensor:
    """Per-sample "certified at radius eps" (correct and certified radius ``> eps``), bool
    ``(n,)``, from :func:`~torch_lipcvx.attacks.certified_radius`."""
    with _autograd_allowed():
        return certified_radius(model, _plain(X), _plain(y), lipschitz, norm) > eps


def _check_classifier_data(model: nn.Module, X: Tensor, y: Tensor) -> None:
    """Validate model, data and labels (one clean evaluation) before a Lipschitz certificate
    is computed, so that bad data fail fast, not after an SDP."""
    with _autograd_allowed():
        _clean_margins(model, *_model_inputs(model, _plain(X), _plain(y), labels=True))


def accuracy(model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
    """Clean accuracy of a classifier: the fraction of points with margin ``> 0``.

    Args:
        model: ``nn.Module`` mapping ``(n, d)`` to logits ``(n, k)``, ``k >= 2``, or one logit
            ``(n,)`` / ``(n, 1)`` (binary: class 1 iff ``f(x) > 0``); evaluated in eval mode.
        X: inputs ``(n, d)``; y: labels ``(n,)``, class indices in ``[0, k)`` (one logit:
            ``{0, 1}`` or ``±1``).

    Returns:
        0-d tensor in ``[0, 1]`` (default float dtype), on ``X``'s device.

    Raises:
        ValueError / TypeError: as for :func:`~torch_lipcvx.attacks.classification_margin`.
    """
    return _accuracy_compute(*_correct_count(_clean_correct(model, X, y)))


def robust_accuracy(model: nn.Module, X: Tensor, y: Tensor, eps: float, norm: NormLike = 2,
                    steps: int = 20, alpha: Optional[float] = None, random_start: bool = True,
                    restarts: int = 1, generator: Optional[torch.Generator] = None,
                    bounds: Optional[tuple[float, float]] = None, loss: str = "ce") -> Tensor:
    """Robust accuracy under ℓ2/ℓ∞ PGD: an *upper* bound on the true robust accuracy.

    The fraction of points that :func:`~torch_lipcvx.attacks.pgd_classification` (on ``loss``,
    ``"ce"`` or ``"margin"``) fails to misclassify within ``‖δ‖_p ≤ eps``. A found adversarial
    point is real, a missed one is possible, so the value is ``>=`` the true robust accuracy,
    ``<=`` the clean :func:`accuracy`, and equals it at ``eps = 0``.

    Args:
        model, X, y: as for :func:`accuracy`.
        eps: radius ``>= 0``, in the units of ``X``.
        norm, steps, alpha, random_start, restarts, generator, bounds, loss: as for
            :func:`~torch_lipcvx.attacks.pgd_classification`.

    Returns:
        0-d tensor in ``[0, 1]`` (default float dtype), on ``X``'s device.

    Raises:
        ValueError / TypeError: as for :func:`~torch_lipcvx.attacks.pgd_classification`.
    """
    correct = _robust_correct(model, X, y, eps, norm, steps, alpha, random_start, restarts,
                              generator, bounds, loss)
    return _accuracy_compute(*_correct_count(correct))


def accuracy_curve(model: nn.Module, X: Tensor, y: Tensor, eps: Sequence[float], *,
                   lipschitz: LipschitzLike, norm: NormLike = 2, steps: int = 20,
                   restarts: int = 1, seed: int = 0) -> list[dict]:
    """A classifier's clean, PGD robust and certified accuracy at each radius of ``eps``: the
    one evaluation behind ``select_lam``/``fit``'s validation scores, the CLI's ``attack`` and
    demo, and the frontier benchmark's classification panel (docs/attacks.md §4).

    A point counts as robust when it is correctly classified and both seeded PGD attacks
    (:func:`~torch_lipcvx.attacks.pgd_classification` on the cross-entropy and on the margin,
    each with a generator seeded ``seed``) fail; certified when it is correct with certified
    radius ``> eps`` from ``lipschitz`` (:func:`~torch_lipcvx.attacks.certified_radius`). The
    shares are exact counts over the rows, so ``certified ≤ robust ≤ clean`` holds exactly
    (a certified point cannot be attacked; checked in tests/test_classification_tools.py).

    Args:
        model: a classifier (``(n, k)`` logits, or one logit for two classes).
        X: ``(n, d)``; y: ``(n,)`` integer labels; eps: radii ``≥ 0`` (input units).
        lipschitz: a certified upper bound on ``L`` for ``norm`` (output units per input unit),
            or ``None``: no certificate (``certified_acc`` is then NaN).
        norm: 2 or ``inf``; steps, restarts, seed: the attacks'.

    Returns:
        One dict per radius: ``eps``, ``clean_acc``, ``robust_acc``, ``certified_acc``
        (floats in [0, 1]).
    """
    from .attacks import certified_radius, classification_margin
    p = next(model.parameters())
    X = _plain(X).to(device=p.device, dtype=p.dtype)
    y = _plain(y).to(p.device)
    n = X.shape[0]
    with _autograd_allowed():
        correct = classification_margin(model, X, y) > 0
        L = _check_lipschitz(lipschitz, check_norm(norm))
        radius = None if L is None else certified_radius(model, X, y, L, norm)
    out = []
    for e in eps:
        robust = correct
        if check_nonneg(e, "eps") > 0:
            for kind in ("ce", "margin"):
                robust = robust & _robust_correct(
                    model, X, y, e, norm, steps=steps, restarts=restarts,
                    generator=torch.Generator(device=p.device).manual_seed(seed), loss=kind)
        cert = math.nan if radius is None else int((correct & (radius > e)).sum()) / n
        out.append({"eps": float(e), "clean_acc": int(correct.sum()) / n,
                    "robust_acc": int(robust.sum()) / n, "certified_acc": cert})
    return out


def certified_accuracy(model: nn.Module, X: Tensor, y: Tensor, eps: float,
                       lipschitz: LipschitzLike = None, norm: NormLike = 2, *,
                       method: Optional[str] = None) -> Tensor:
    """Certified accuracy: a *lower* bound on the true robust accuracy in the ε-ball.

    The fraction of points that are correctly classified with certified radius ``> eps``
    (:func:`~torch_lipcvx.attacks.certified_radius`): margin ``> √2·L·eps`` for ℓ2 and
    ``k >= 2`` logits, ``> 2·L·eps`` for ℓ∞, ``> L·eps`` for one logit, with ``L`` a
    Lipschitz upper bound of the output map for ``norm`` (ℓ∞: of ``‖f(x) − f(x')‖∞``). No point
    of the ball around a certified point changes class, so the value is ``<=`` the true robust
    accuracy (hence ``<=`` :func:`robust_accuracy`); at ``eps = 0`` it equals :func:`accuracy`.

    Args:
        model, X, y: as for :func:`accuracy`.
        eps: radius ``>= 0``, in the units of ``X``.
        lipschitz: ``L`` (logit units per input unit): a number ``>= 0`` (the caller vouches that
            it is a certified upper bound for ``norm``), a
            :class:`~torch_lipcvx.LipschitzInterval` for ``norm`` (its ``upper``), or ``None``
            to compute :func:`certified_lipschitz` of ``model`` (a shallow ReLU network).
        norm: ``2`` or ``inf``.
        method: when ``lipschitz`` is ``None``: as for :func:`certified_adversarial_mse`.

    Returns:
        0-d tensor in ``[0, 1]`` (default float dtype), on ``X``'s device.

    Raises:
        ValueError / TypeError: as for :func:`accuracy`; ``eps`` or ``lipschitz`` negative,
            NaN or infinite; unknown ``norm`` or ``method``; an interval for another norm.
    """
    norm = check_norm(norm)
    check_method(norm, method)
    L = _check_lipschitz(lipschitz, norm)
    eps = check_nonneg(eps, "eps")
    if L is None:
        _check_classifier_data(model, X, y)      # before the certificate
        L = certified_lipschitz(model, norm, method=method)
    return _accuracy_compute(*_correct_count(_certified_correct(model, X, y, eps, L, norm)))


class _CountMetric(Metric):
    """States ``correct`` and ``total`` (0-d ``int64``), both summed across processes; value
    ``correct / total`` in the default float dtype. Integer counts are exact over any number of
    batches and need no dtype alignment for the reduction."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound: float = 0.0
    plot_upper_bound: float = 1.0

    correct: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def _accumulate(self, correct: Tensor, total: int) -> None:
        self.correct = self.correct + correct.to(self.correct.device)
        self.total = self.total + total

    def compute(self) -> Tensor:
        """The accuracy over every sample seen since the last ``reset``."""
        return _accuracy_compute(self.correct, self.total)


class RobustAccuracy(_CountMetric):
    """Robust accuracy under ℓ2/ℓ∞ PGD, accumulated over batches: an *upper* bound on the true
    robust accuracy in the ε-ball (see :func:`robust_accuracy`).

    As input to ``forward`` and ``update``: ``model`` (logits ``(n, k)``, or one logit for a
    binary classifier; not modified), ``X`` ``(n, d)`` in the units the model sees, ``y``
    ``(n,)`` class labels. The model is an update argument (see the module docstring).
    ``update`` works under ``torch.no_grad`` and ``torch.inference_mode``.

    As output of ``forward`` and ``compute``: a 0-d tensor in ``[0, 1]``.

    Args:
        eps: radius ``>= 0``, in the units the model sees. ``0`` gives the clean accuracy.
        norm, steps, alpha, random_start, restarts, bounds, loss: PGD settings, as for
            :func:`~torch_lipcvx.attacks.pgd_classification`.
        generator: ``torch.Generator`` for the random starts, drawn from in update order.
        kwargs: torchmetrics ``Metric`` keyword arguments.

    Raises:
        ValueError / TypeError: at construction, for a bad ``eps``, ``norm``, ``steps``,
            ``restarts``, ``alpha`` or ``loss``; at update, as for :func:`robust_accuracy`.
    """

    def __init__(self, eps: float, norm: NormLike = 2, steps: int = 20,
                 alpha: Optional[float] = None, random_start: bool = True, restarts: int = 1,
                 generator: Optional[torch.Generator] = None,
                 bounds: Optional[tuple[float, float]] = None, loss: str = "ce",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eps = check_nonneg(eps, "eps")
        self.norm = check_norm(norm)
        self.steps = check_positive_int(steps, "steps")
        self.alpha = _check_alpha(alpha)
        self.random_start = bool(random_start)
        self.restarts = check_positive_int(restarts, "restarts")
        self.loss = _check_loss(loss)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, "
                            f"got {type(generator).__name__}")
        self.generator = generator
        self.bounds = bounds

    def update(self, model: nn.Module, X: Tensor, y: Tensor) -> None:
        """Attack the batch ``(X, y)`` and add its number of robust points and size."""
        correct = _robust_correct(model, X, y, self.eps, self.norm, self.steps, self.alpha,
                                  self.random_start, self.restarts, self.generator, self.bounds,
                                  self.loss)
        self._accumulate(*_correct_count(correct))


class CertifiedAccuracy(_CountMetric):
    """Certified accuracy, accumulated over batches: a *lower* bound on the true robust
    accuracy in the ε-ball (see :func:`certified_accuracy`).

    As input to ``forward`` and ``update``: ``model``, ``X``, ``y`` as for
    :class:`RobustAccuracy`. As output of ``forward`` and ``compute``: a 0-d tensor in
    ``[0, 1]``.

    Choice of ``L`` as for :class:`CertifiedAdversarialMSE`: a fixed number or interval, or
    ``None`` for :func:`certified_lipschitz` of the model passed to each update (cached while
    its weights stay bit-identical); ``lipschitz_used`` holds the last ``L``.

    Args:
        eps: radius ``>= 0``, in the units the model sees.
        lipschitz: see above.
        norm: ``2`` or ``inf``.
        method: when ``lipschitz`` is ``None``, as for :class:`CertifiedAdversarialMSE`.
        kwargs: torchmetrics ``Metric`` keyword arguments.

    Raises:
        ValueError / TypeError: at construction, for a bad ``eps``, ``lipschitz``, ``norm`` or
            ``method``; at update, as for :func:`certified_accuracy`.
    """

    def __init__(self, eps: float, lipschitz: LipschitzLike = None, norm: NormLike = 2, *,
                 method: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _certified_settings(self, eps, lipschitz, norm, method)

    def update(self, model: nn.Module, X: Tensor, y: Tensor) -> None:
        """Add the batch's number of certified points and size to the states."""
        if self.lipschitz is None:
            _check_classifier_data(model, X, y)      # before the certificate
        L = _lipschitz_for(self, model)
        correct = _certified_correct(model, X, y, self.eps, L, self.norm)
        self.lipschitz_used = L
        self._accumulate(*_correct_count(correct))


# ---------------------------------------------------------------------------- Lipschitz logging
def lipschitz_interval_dict(interval: LipschitzInterval, prefix: str = "lipschitz") -> dict[str, float]:
    """``{f"{prefix}/lower": lower, f"{prefix}/upper": upper}`` for any logger.

    ``lower`` is a sampled gradient norm (a lower bound on ``L``), ``upper`` a certified upper
    bound; both in output units per input unit, for the norm ``interval.norm``.
    """
    if not isinstance(interval, LipschitzInterval):
        raise TypeError(f"interval must be a LipschitzInterval, got {type(interval).__name__}")
    return {f"{prefix}/lower": float(interval.lower), f"{prefix}/upper": float(interval.upper)}


def log_lipschitz_interval(pl_module, model: Optional[nn.Module] = None, *, norm: NormLike = 2,
                           X: Optional[Tensor] = None, prefix: str = "lipschitz",
                           bounds_kwargs: Optional[dict] = None,
                           **log_kwargs: Any) -> LipschitzInterval:
    """Compute ``lower ≤ L ≤ upper`` for a shallow ReLU network and log both ends.

    Calls :func:`~torch_lipcvx.bounds.lipschitz_bounds` (certified ``upper``: the smallest bound
    computed, LipSDP or naive for ℓ2, by default the tightest available for ℓ∞; ``lower``: an
    exact gradient norm at a real point) and logs
    ``{prefix}/lower`` and ``{prefix}/upper`` via ``pl_module.log_dict``. Call it from an
    epoch-end hook (``on_validation_epoch_end``, ``on_train_epoch_end``): the interval is a
    property of the network, one SDP per call, not a per-batch average.

    Args:
        pl_module: the ``LightningModule`` (anything with ``log_dict``).
        model: the network (ShallowReLU or conforming ``nn.Sequential``); default
            ``pl_module.model``.
        norm: ``2`` or ``inf``, the norm of input perturbations.
        X: optional ``(n, d)`` data seeding the lower-bound search.
        prefix: key prefix.
        bounds_kwargs: further arguments of :func:`lipschitz_bounds` (``method``, ``solver``,
            ``n_samples``, ``ascent_steps``, ``seed``).
        log_kwargs: passed to ``pl_module.log_dict`` (e.g. ``prog_bar=True``).

    Returns:
        The :class:`~torch_lipcvx.LipschitzInterval`.

    Raises:
        ValueError: as for :func:`lipschitz_bounds`; ``model`` missing and ``pl_module`` has no
            ``model`` attribute.
    """
    if model is None:
        model = getattr(pl_module, "model", None)
        if model is None:
            raise ValueError("pass model=..., or give the LightningModule a `model` attribute "
                             "holding the ShallowReLU")
    with _autograd_allowed():
        interval = lipschitz_bounds(model, norm, X=_plain(X), **(bounds_kwargs or {}))
    pl_module.log_dict(lipschitz_interval_dict(interval, prefix), **log_kwargs)
    return interval
