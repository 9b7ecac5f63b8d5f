"""Input validation shared by the public functions (private).

Every check raises a ``ValueError`` (or ``TypeError``) whose message names the argument, what was
expected and what was found, so that a user can fix the call without reading our code.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import Tensor


def as_tensor(value, name: str) -> Tensor:
    """Turn ``value`` (tensor, array or nested list) into a tensor, naming ``name`` on failure."""
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except Exception as exc:  # pragma: no cover - message only
        raise TypeError(f"{name} must be a tensor or array-like, got {type(value).__name__}") from exc


def check_finite(x: Tensor, name: str) -> None:
    """Raise if ``x`` holds NaN or Inf."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN/Inf value(s); clean or impute the data first")


def check_X(X, name: str = "X", d: Optional[int] = None) -> Tensor:
    """Validate a design matrix: a finite, non-empty floating tensor of shape ``(n, d)``."""
    X = as_tensor(X, name)
    if X.dim() != 2:
        want = f"(n, {d})" if d is not None else "(n, d)"
        raise ValueError(f"{name} must have shape {want}, got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has shape {tuple(X.shape)}, expected at least one row")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}) to match the model's input size, "
                         f"got shape {tuple(X.shape)}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no columns: it has shape {tuple(X.shape)}, expected at "
                         "least one feature")
    if X.is_complex():
        raise ValueError(f"{name} must be real, got dtype {X.dtype}")
    if not X.is_floating_point():
        X = X.to(torch.get_default_dtype())
    check_finite(X, name)
    return X


def check_Xy(X, y, d: Optional[int] = None, *, multi: bool = False) -> tuple[Tensor, Tensor]:
    """Validate data ``X (n, d)`` and targets ``y (n,)`` (``(n, 1)`` is accepted and flattened;
    with ``multi``, ``(n, k)`` targets of a ``k``-output network too)."""
    X = check_X(X, "X", d)
    y = as_tensor(y, "y")
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if multi and y.dim() == 2 and y.shape[0] == X.shape[0]:
        pass
    elif y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) (one target per row of X), "
                         f"got shape {tuple(y.shape)}")
    if y.is_complex():
        raise ValueError(f"y must be real, got dtype {y.dtype}")
    if not y.is_floating_point():
        y = y.to(X.dtype)
    check_finite(y, "y")
    return X, y


#: the largest magnitude of a data entry (``X``, ``y``) the fitting functions accept: 2²⁵⁶ ≈ 1.2e77.
#: Their programs multiply up to four data entries (Gram matrices ``X̃ᵀX̃`` and their products in
#: the interior point), and 2²⁵⁶ is the fourth root of float64's largest number, 2¹⁰²⁴.
DATA_LIMIT = 2.0 ** 256


def _largest(t: Optional[Tensor]) -> float:
    """The largest magnitude in ``t`` (0 for None or an empty tensor)."""
    return 0.0 if t is None or t.numel() == 0 else float(t.detach().abs().max())


def check_data_scale(X: Tensor, y: Optional[Tensor] = None) -> None:
    """Raise ``ValueError`` if an entry of ``X`` or ``y`` exceeds :data:`DATA_LIMIT` in magnitude
    (finite data that the float64 programs cannot square and multiply without overflow)."""
    for name, t in (("X", X), ("y", y)):
        big = _largest(t)
        if big > DATA_LIMIT:
            raise ValueError(f"{name} has entries of magnitude up to {big:.3g}, above the "
                             f"{DATA_LIMIT:.3g} the float64 programs can square and multiply "
                             f"without overflow; rescale (e.g. standardise) {name}")


def check_weights_scale(weights, name: str = "model") -> None:
    """Raise ``ValueError`` if a weight (``W``, ``b``, ``alpha``, ``c`` of a ``ShallowWeights``)
    exceeds :data:`DATA_LIMIT` in magnitude: the fitting programs multiply the weights with the
    data and with each other, as they do the data (see :func:`check_data_scale`)."""
    for key in ("W", "b", "alpha", "c"):
        big = _largest(getattr(weights, key, None))
        if big > DATA_LIMIT:
            raise ValueError(f"{name} has weights ({key}) of magnitude up to {big:.3g}, above the "
                             f"{DATA_LIMIT:.3g} the float64 programs can square and multiply "
                             f"without overflow; rescale the weights (e.g. change the units of "
                             "the inputs or the output)")


def check_squared_errors_finite(residuals: Tensor, what: str = "model") -> None:
    """Raise ``ValueError`` if some squared residual ``(f(x_i) − y_i)²`` is NaN/Inf in the
    residuals' dtype: the network's output or its error overflows on these data."""
    r = residuals.detach()
    bad = ~torch.isfinite(r ** 2)
    if bool(bad.any()):
        finite = r[torch.isfinite(r)].abs()
        top = f"{float(finite.max()):.3g}" if finite.numel() else "inf"
        raise ValueError(f"the squared error (f(x) - y)^2 of {what} overflows (or is NaN) on "
                         f"{int(bad.sum())} row(s) of X in {r.dtype} (finite |f(x) - y| up to "
                         f"{top}): the weights or the data (X, y) are too large; rescale them")


#: the largest ratio λρ / (data terms) of a starting network that the fitting functions accept:
#: 2⁵³, beyond which the data terms are below float64's rounding of the objective ``J``
LAM_RATIO_MAX = 2.0 ** 53


def check_lam_scale(lam: float, rho: float, mse: float, ridge: float, y: Tensor) -> None:
    """Raise ``ValueError`` if ``λρ`` outweighs the data terms of the starting network by more
    than :data:`LAM_RATIO_MAX`: the fit then no longer shows in ``J`` in float64, and the
    programs, scaled by ``λ``, are beyond the solvers' precision. The data terms are measured as
    ``max(MSE + ridge, mean(y²))`` (the latter being the zero predictor's MSE, so that a network
    that fits perfectly is not refused); all-zero targets and data terms skip the check."""
    scale = max(mse + ridge, float((y.detach().to(torch.float64) ** 2).mean()))
    if lam > 0 and scale > 0 and lam * rho > LAM_RATIO_MAX * scale:
        top = LAM_RATIO_MAX * scale / rho
        shown = float(f"{top:.3g}")
        if shown > top:                    # the advice, rounded to 3 digits, must be accepted
            shown = float(f"{top * (1 - 5e-3):.3g}")
        raise ValueError(f"lam = {lam:g} is too large for this network and data: lam*rho = "
                         f"{lam * rho:.3g} outweighs the data terms (about {scale:.3g}) by more "
                         f"than 2**53, so the fit is lost in the float64 rounding of J; use "
                         f"lam <= {shown:.3g}")


def check_solver_options(options, solver, torch_keys: tuple[str, ...]) -> Optional[dict]:
    """``solver_options``: ``None`` or a dict. For the torch solvers (``"auto"``, ``"torch"``)
    its keys must be among ``torch_keys`` and ``tol`` / ``max_iter`` valid, so that a wrong
    option is named as the user wrote it (the cvxpy solvers check their own settings)."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise TypeError(f"solver_options must be a dict or None, got {type(options).__name__}")
    from .solvers import Solver
    spec = Solver.parse(solver)               # a name or a Solver (docs/solvers.md)
    if spec.uses_torch:
        unknown = sorted(str(k) for k in options if k not in torch_keys)
        if unknown:
            raise ValueError(f"solver_options has unknown key(s) {unknown} for solver "
                             f"{spec.name!r}; the torch interior point accepts {list(torch_keys)}")
        if "tol" in options:
            check_positive(options["tol"], "solver_options['tol']")
        if "max_iter" in options:
            check_positive_int(options["max_iter"], "solver_options['max_iter']")
        if options.get("time_limit") is not None:
            check_positive(options["time_limit"], "solver_options['time_limit']")
        if "newton" in options or "precond" in options:
            from ._engine.barrier import check_newton
            check_newton(options.get("newton", "dense"), options.get("precond", "auto"))
            # the Newton system is chosen when the solver is built (Solver.newton), not per solve
            options = {k: v for k, v in options.items() if k not in ("newton", "precond")}
            return options or None
    return options


def outside_inference_mode(fn):
    """Decorator: run ``fn`` with ``torch.inference_mode`` switched off (as in Lightning's
    validation loop), for functions that need autograd (training, PGD, ADMM's loss step). The
    function must itself copy any inference tensor it differentiates through."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if torch.is_inference_mode_enabled():
            with torch.inference_mode(False):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)
    return wrapper


def _check_real(value, name: str, positive: bool) -> float:
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number {bound}, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number {bound}, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


#: unit roundoff of float64
UNIT_ROUNDOFF = 2.0 ** -53


def gamma(k):
    """Higham's ``γ_k = k·u / (1 − k·u)`` for float64 (``u`` = :data:`UNIT_ROUNDOFF`): the
    relative error bound of a ``k``-term sum or dot product (``k`` a number or an array)."""
    return k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)


def check_nonneg(value, name: str) -> float:
    """A finite real number >= 0."""
    return _check_real(value, name, positive=False)


def check_positive(value, name: str) -> float:
    """A finite real number > 0."""
    return _check_real(value, name, positive=True)


def check_patterns(D, name: str = "D") -> Tensor:
    """Activation patterns as a boolean tensor (same device): ``D`` boolean, or numbers that are
    all 0 or 1. Anything else (0.5, NaN, complex) silently defines another program, so it
    raises ``ValueError`` naming ``name``."""
    D = as_tensor(D, name).detach()
    if D.dtype != torch.bool:
        if D.is_complex() or not bool(((D == 0) | (D == 1)).all()):
            raise ValueError(f"{name} must be boolean (or 0/1) activation patterns; got values "
                             "other than 0 and 1 (or NaN)")
        D = D != 0
    return D


def check_seed(seed) -> int:
    """An integer seed in ``[-2**63, 2**64)``, the range ``torch.Generator.manual_seed`` takes
    (``bool`` refused)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError(f"seed must be an integer in [-2**63, 2**64) (torch.Generator's range), "
                         f"got {seed}")
    return seed


def seeded_generator(seed: int, offset: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` for the stream ``seed + offset``, taken modulo 2⁶⁴: for every
    seed torch accepts that is the stream of ``manual_seed(seed + offset)`` (torch reads −1 as
    2⁶⁴ − 1), and derived streams (``seed + 2``) never overflow at the top of the range."""
    return torch.Generator().manual_seed((seed + offset) % 2 ** 64)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_norm(norm) -> float:
    """Normalise a norm argument to ``2.0`` or ``math.inf``."""
    if isinstance(norm, str):
        key = norm.strip().lower()
        table = {"2": 2.0, "l2": 2.0, "inf": math.inf, "linf": math.inf, "infinity": math.inf}
        if key in table:
            return table[key]
    elif norm in (2, 2.0):
        return 2.0
    elif norm == math.inf:
        return math.inf
    raise ValueError(f"norm must be 2 or inf (also '2', 'inf', 'l2', 'linf'), got {norm!r}")
