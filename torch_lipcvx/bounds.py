"""Lipschitz bounds for shallow ReLU networks (docs/lipsdp.md, docs/linf.md): certified upper bounds
and sampled lower bounds, reported together as an interval.

Upper bounds (certified):

* ``"lipsdp"`` (ℓ2): LipSDP-neuron solved with cvxpy (Clarabel by default, SCS selectable) or in
  torch (``solver="auto"``/``"torch"``). The solver's ``ρ`` is never reported: its ``t`` is
  re-verified in float64 through the reduced form ``ρ(t) = λ_max(½W̄ᵀTW̄ + ggᵀ/(4(1 − s)))``
  (equal to the spectral form ``‖C⁻¹ T W̄‖₂²`` with ``2T − ααᵀ = C Cᵀ``) with every rounding
  error bounded (:func:`certify_t`), and if ``t`` is slightly infeasible (``2T − ααᵀ`` not
  positive definite) it is repaired by the best positive rescaling ``s·t``.
* ``"naive"``: ``‖W̄‖₂ ‖α‖₂`` (ℓ2), ``Σ_j |α_j| ‖w̄_j‖₁`` (ℓ∞ inputs).
* ``"sqrt_d_lipsdp"`` (ℓ∞ inputs): ``√d · L₂``.
* ℓ∞ inputs also: the exact value of LiPopt's relaxed program by enumeration and the LP
  hierarchy of :mod:`torch_lipcvx.linf` (docs/linf.md).

``solver="auto"``/``"torch"`` solves LipSDP by its ``d × d`` dual
(:mod:`torch_lipcvx._engine.lipsdp_dual`): a barrier Newton method with a certified primal–dual gap
of 1e-9 in ρ (d ≤ 32) and, for larger d, the first-order method aiming at :data:`AUTO_ACCEPT_GAP`
with the Newton method (through Woodbury's ``(m + 1) × (m + 1)`` system) closing what it leaves open
(:func:`_fast_solve`; d = 50 and 100, m = 100…1000: 0.03–0.25 s on one core at gaps 1e-8 to 5e-8, no
fallback, ``benchmarks/bench_lipsdp_large_d.py``). Measured on 2 cores (float64, m = 100 unless
said): servo 0.04 s, wine 0.035 s, random d = 10 nets with m = 100, 500, 1000 in 0.03, 0.07, 0.1 s;
plain cvxpy + SCS on the original ``(d + m)`` LMI at eps 1e-8 took 25 s, 18 s and 8 s at m = 100 and
did not finish in 600 s at m = 500 (eps 1e-6); Clarabel on the reduced form 0.07–0.15 s at m = 100,
0.7–2 s at m = 500 and 3–10 s at m = 1000. The certified L of "auto" was never above any cvxpy
solver's re-verified L (90 random instances, servo, wine).

Lower bound: the largest exact gradient norm ``‖∇f(x)‖_q`` (q = 2 for ℓ2 inputs, q = 1 for ℓ∞
inputs) over many sampled points (data, Gaussian points at the data's scale, points far out along
random directions), refined by batched gradient ascent on a softplus-smoothed gradient norm whose
temperature is annealed to zero; every reported value is the gradient norm of the ReLU network at
a point inside one of its linear regions (points within rounding of a kink do not count), less the
rounding error of its computation, hence a valid lower bound.

Units: ``L`` is in output units per input unit (the units the model sees, e.g. standardised
inputs); ``rho = L**2``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import (UNIT_ROUNDOFF, check_norm, check_positive_int, check_seed, check_X,
                      gamma)
from ._engine.lipsdp_dual import (NEWTON_MAX_SYSTEM, _off_boundary, lipsdp_dual, lipsdp_newton,
                   newton_system, spectral_rho_fixed_t)
from .linf import (DEFAULT_MAX_EXACT_DIM, DEFAULT_MAX_PRODUCTS, check_linf_options,
                   check_method, linf_lower_bound, linf_naive, linf_upper_bounds)
from .models import (ShallowReLU, ShallowWeights, as_shallow_relu, check_weights_finite,
                     realised_gradient_norms, realised_jacobian_norms)
from ._engine.programs import LipSDPProgram, SolverError, lipsdp_program_size
from .solvers import (AUTO_FALLBACK_SOLVERS, DEFAULT, TORCH_SOLVERS, SolveRecord, Solver,
                      SolverLike)

#: Solver names that select the torch methods of :mod:`torch_lipcvx._engine.lipsdp_dual` (kept
#: importable; :attr:`Solver.uses_torch <torch_lipcvx.solvers.Solver.uses_torch>` is the test).
FAST_SOLVERS = TORCH_SOLVERS


def check_any_solver(solver: SolverLike) -> str:
    """The canonical name of a solver name or :class:`~torch_lipcvx.solvers.Solver`, validated
    by :meth:`Solver.parse <torch_lipcvx.solvers.Solver.parse>` (kept for old callers; new code
    parses into a Solver and passes that on)."""
    return Solver.parse(solver).name

__all__ = [
    "LipSDPResult",
    "LipschitzInterval",
    "lipsdp",
    "lipschitz_bounds",
    "certify_t",
    "spectral_rho",
    "lmi_max_eig",
    "naive_bound",
    "sampled_lower_bound",
]

# Relative margin added to a verified ρ (on top of its bounded rounding errors) and to the
# naive bound (to cover the float64 SVD).
ROUNDING_MARGIN = 1e-10


@dataclass
class LipSDPResult:
    """A re-verified LipSDP certificate.

    Attributes:
        rho: certified ``ρ = L²`` (float64, verified from ``t``; never the solver's number).
        t: ``(m,)`` float64 multipliers, the diagonal of T, for the network's units in their order
            (``t_j = 0`` for units with ``α_j = 0``, which the certificate ignores).
        solver_rho: the solver's own objective, for information only.
        solver, status: which solver ran and what it said.
        repaired: whether ``t`` had to be rescaled to become feasible.
        solve_time, verify_time: wall seconds.
        rho_lower: a lower bound on the LipSDP optimum ρ* from the torch methods' dual (so
            ``rho − rho_lower`` bounds how far ``rho`` is from ρ*); NaN when not known.
        dual: the torch methods' dual matrix ``Z`` (``(d, d)`` float64, ``Z ⪰ 0``, ``tr Z = 1``)
            with ``rho_lower = h(Z)²/4`` (:func:`~torch_lipcvx._engine.lipsdp_dual.rho_from_dual`):
            ρ*'s gradient in the weights by Danskin's theorem. ``None`` for the cvxpy solvers and
            networks without a unit to certify.
    """

    rho: float
    t: np.ndarray
    solver_rho: float
    solver: str
    status: str
    repaired: bool
    solve_time: float
    verify_time: float
    rho_lower: float = math.nan
    dual: Optional[np.ndarray] = None

    @property
    def L(self) -> float:
        """Certified ℓ2 Lipschitz upper bound ``sqrt(rho)``."""
        return math.sqrt(self.rho)

    def __repr__(self) -> str:
        return (f"LipSDPResult(L={self.L:.6g}, rho={self.rho:.6g}, solver={self.solver}, "
                f"status={self.status}, repaired={self.repaired}, time={self.solve_time:.2f}s)")


@dataclass
class LipschitzInterval:
    """``lower ≤ L ≤ upper`` for the norm ``norm`` of input perturbations.

    Attributes:
        norm: 2.0 or ``math.inf``.
        lower, upper: the bounds (output units per input unit).
        lower_method, upper_method: which method produced each end.
        upper_bounds: every certified upper bound computed, by method name.
        certificate: the LipSDP certificate, when one was computed.
        argmax: ``(d,)`` point where the lower bound's gradient was found.
    """

    norm: float
    lower: float
    upper: float
    lower_method: str
    upper_method: str
    upper_bounds: dict = field(default_factory=dict)
    certificate: Optional[LipSDPResult] = None
    argmax: Optional[Tensor] = None

    @property
    def gap(self) -> float:
        """Relative gap ``(upper − lower) / upper``."""
        return (self.upper - self.lower) / self.upper if self.upper > 0 else 0.0

    def __repr__(self) -> str:
        n = "2" if self.norm == 2 else "inf"
        return (f"LipschitzInterval(norm={n}: {self.lower:.6g} [{self.lower_method}] <= L <= "
                f"{self.upper:.6g} [{self.upper_method}])")


# ------------------------------------------------------------------------------- verification
def _active(w: ShallowWeights) -> Tensor:
    """Units that can change the gradient: ``α_j ≠ 0`` (boolean ``(m,)``)."""
    return w.alpha != 0


def spectral_rho(W: Tensor, alpha: Tensor, t: Tensor) -> float:
    """``ρ(t) = ‖C⁻¹ T W̄‖₂²`` with ``2T − ααᵀ = C Cᵀ``, in float64; ``inf`` if not PD.

    Args:
        W: ``(m, d)``; alpha: ``(m,)`` (all nonzero); t: ``(m,)``.

    By the Schur complement, ``M(ρ, T) ⪯ 0`` ⇔ ``ρ ≥ ρ(t)`` whenever ``2T − ααᵀ ≻ 0``.
    """
    W, alpha, t = (v.detach().to("cpu", torch.float64) for v in (W, alpha, t))
    if W.shape[0] == 0:
        return 0.0
    if bool((t <= 0).any()):
        return math.inf
    P = 2 * torch.diag(t) - torch.outer(alpha, alpha)
    C, info = torch.linalg.cholesky_ex(P)
    if int(info) != 0:
        return math.inf
    Y = torch.linalg.solve_triangular(C, t[:, None] * W, upper=False)
    return float(torch.linalg.matrix_norm(Y, ord=2)) ** 2


def _rho_upper(W: Tensor, alpha: Tensor, t: Tensor) -> float:
    """A rigorous float64 upper bound on ``ρ(t)`` (the smallest ρ with ``M(ρ, T) ⪯ 0``), ``inf``
    unless ``t > 0`` and ``s = Σ α_j²/(2t_j) < 1`` hold beyond rounding.

    Through the reduced form ``ρ(t) = λ_max(½W̄ᵀTW̄ + ggᵀ/(4(1 − s)))``, ``g = W̄ᵀα`` (module
    docstring of :mod:`~torch_lipcvx._engine.lipsdp_dual`), with every rounding error bounded
    explicitly (Higham's ``γ_k`` for the sums, ``ggᵀ ⪯ (1 + η)ĝĝᵀ + (1 + 1/η)ΔΔᵀ`` for the error
    ``Δ`` of ``ĝ``, a backward-stable eigensolver's ``O(d·u)‖Q‖``). Unlike ``‖C⁻¹TW̄‖²`` through the
    Cholesky factor of ``2T − ααᵀ``, whose relative error grows like ``u/(1 − s)``, the error of the
    ``ggᵀ`` term stays small when ``s → 1`` (where ``g ≈ 0`` puts LipSDP's optimum).

    Args: ``W (m, d)``, ``alpha (m,)``, ``t (m,)``, float64 CPU, every ``alpha_j ≠ 0``.
    """
    m, d = W.shape
    if m == 0:
        return 0.0
    if not (bool((t > 0).all()) and bool(torch.isfinite(2 * t).all())):
        return math.inf
    u, tiny = UNIT_ROUNDOFF, sys.float_info.min      # tiny: covers terms that underflow
    s_hat = float((alpha * alpha / (2 * t)).sum())
    s_up = s_hat * (1 + 2 * gamma(m + 2)) + m * tiny
    den = (1.0 - s_up) * (1 - 4 * u)                 # ≤ 1 − s
    if not den > 0:
        return math.inf
    if not bool((W != 0).any()):
        return 0.0                                   # Q = 0 exactly
    c = 1.0 / (4.0 * den) * (1 + 2 * u)              # ≥ 1/(4(1 − s))
    g = W.T @ alpha
    g_norm = float(torch.linalg.vector_norm(g))
    g_err = float(torch.linalg.vector_norm(2 * gamma(m + 1) * (W.abs().T @ alpha.abs()))) \
        * (1 + 2 * gamma(d + 2)) + d * m * tiny      # ≥ ‖g − ĝ‖
    A = 0.5 * (W.T * t) @ W
    tr = float(0.5 * (t * (W * W).sum(1)).sum())
    A_err = 2 * gamma(m + d + 3) * tr + d * m * tiny  # ≥ ‖A − Â‖₂ (≤ γ_{m+2}·tr A)
    if g_norm > 0 and g_err > 0:
        eta = g_err / g_norm
        k = c * (1 + eta) * (1 + 2 * u)
        G_err = c * (g_err * g_err + g_err * g_norm)
    else:                                            # ĝ = 0: ggᵀ ⪯ ‖Δ‖²I; or Δ = 0
        k = c * (1 + 2 * u) if g_err == 0 else 0.0
        G_err = c * g_err * g_err
    Q = A + k * torch.outer(g, g)
    Q = 0.5 * (Q + Q.T)
    if not bool(torch.isfinite(Q).all()):
        return math.inf                              # overflow: nothing to certify in float64
    q_norm = float(torch.linalg.matrix_norm(Q))      # Frobenius ≥ spectral
    lam = float(torch.linalg.eigvalsh(Q)[-1])
    err = A_err + G_err + gamma(3) * k * g_norm * g_norm + 2 * u * q_norm + 8 * d * u * q_norm
    return (lam + err) * (1 + 4 * u)


def _ray_threshold(alpha: Tensor, t: Tensor) -> float:
    """``r = Σ α_j²/(2 t_j)``: ``2sT − ααᵀ ≻ 0`` ⇔ ``s > r`` (matrix determinant lemma)."""
    return float((alpha.double() ** 2 / (2 * t.double())).sum())


def certify_t(W: Tensor, alpha: Tensor, t, *, repair: bool = True) -> tuple[float, Tensor, bool]:
    """Certified ``ρ`` from multipliers ``t`` (float64), repairing a slightly infeasible ``t``.

    Only units with ``α_j ≠ 0`` enter (the others change neither f's gradient nor the LMI's
    feasibility once ``t_j = 0``). If ``2T − ααᵀ`` is not positive definite, nonpositive entries
    are lifted and ``t`` is rescaled by the ``s > Σ α_j²/(2 t_j)`` minimising ``ρ(s·t)`` (a
    convex function of s, golden-section search).

    Args:
        W: ``(m, d)``; alpha: ``(m,)``; t: ``(m,)`` array or tensor.

    Returns:
        ``(rho, t_used, repaired)``: ``rho`` is a rigorous upper bound on the smallest ρ the
        LMI certifies with ``t_used`` (every float64 rounding error bounded, :func:`_rho_upper`)
        times a further relative margin of 1e-10; ``t_used`` is ``(m,)`` float64 with zeros on
        inactive units.

    Raises:
        ValueError: shapes that do not match, NaN/Inf in ``W``, ``alpha`` or ``t``; no rescaling
            certifies (cannot happen for finite weights and t ≥ 0 when ``repair`` is on), or
            ``repair=False`` and ``t`` is infeasible.
    """
    W = W.detach().to("cpu", torch.float64)
    alpha = alpha.detach().to("cpu", torch.float64)
    t = torch.as_tensor(np.asarray(t, dtype=float) if not isinstance(t, Tensor) else t)
    t = t.detach().to("cpu", torch.float64).clone()
    if W.dim() != 2 or alpha.shape != (W.shape[0],) or t.shape != (W.shape[0],):
        raise ValueError(f"certify_t needs W (m, d), alpha (m,) and t (m,), got shapes "
                         f"{tuple(W.shape)}, {tuple(alpha.shape)} and {tuple(t.shape)}")
    for name, v in (("W", W), ("alpha", alpha), ("t", t)):
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"certify_t: {name} contains NaN/Inf")
    act = alpha != 0
    Wa, aa, ta = W[act], alpha[act], t[act]
    t_out = torch.zeros_like(t)
    if Wa.shape[0] == 0:
        return 0.0, t_out, False
    rho = _rho_upper(Wa, aa, ta)
    repaired = False
    if not math.isfinite(rho):
        if not repair:
            raise ValueError("t does not certify: 2T - alpha alpha^T is not positive definite "
                             "(beyond rounding)")
        repaired = True
        floor = 1e-12 * max(float(ta.max()), float((aa ** 2).max()))
        ta = torch.clamp(ta, min=floor)
        r = _ray_threshold(aa, ta)
        lo, hi = r * (1 + 1e-12 + 8 * gamma(len(aa) + 2)), r * 4 + 1e-12
        # golden-section search of the convex, finite-on-(r, ∞) function s -> ρ(s t)
        g = (math.sqrt(5) - 1) / 2
        a, b = lo, hi
        x1, x2 = b - g * (b - a), a + g * (b - a)
        f1, f2 = _rho_upper(Wa, aa, x1 * ta), _rho_upper(Wa, aa, x2 * ta)
        for _ in range(60):
            if f1 <= f2:
                b, x2, f2 = x2, x1, f1
                x1 = b - g * (b - a)
                f1 = _rho_upper(Wa, aa, x1 * ta)
            else:
                a, x1, f1 = x1, x2, f2
                x2 = a + g * (b - a)
                f2 = _rho_upper(Wa, aa, x2 * ta)
        s = x1 if f1 <= f2 else x2
        ta = s * ta
        rho = _rho_upper(Wa, aa, ta)
        if not math.isfinite(rho):  # pragma: no cover - would be a bug
            raise ValueError("could not repair t into a valid LipSDP certificate")
    t_out[act] = ta
    return rho * (1 + ROUNDING_MARGIN), t_out, repaired


def lmi_max_eig(W: Tensor, alpha: Tensor, t: Tensor, rho: float, *, scaled: bool = False) -> float:
    """Largest eigenvalue of ``M(ρ, T) = [[−ρI, W̄ᵀT], [TW̄, −2T + ααᵀ]]`` (≤ 0 iff certified).

    Float64; used by tests and by callers that want to see the LMI itself.

    ``scaled=True`` returns instead the largest eigenvalue of the congruent ``D M D`` with
    ``D = diag(I_d, T^{-1/2})`` on the units with ``t_j > 0`` (the others, which need
    ``α_j = 0``, add zero rows), i.e. ``[[−ρI, W̄ᵀT^{1/2}], [T^{1/2}W̄, −2I +
    T^{-1/2}ααᵀT^{-1/2}]]``: the same sign, and accurate when ``t`` spans many orders of magnitude
    (a unit with a tiny ``w̄_j`` needs a huge ``t_j``, and then the eigenvalues of M itself carry
    rounding errors of order ``eps · max t``).
    """
    W, alpha, t = (v.detach().to("cpu", torch.float64) for v in (W, alpha, torch.as_tensor(t)))
    d = W.shape[1]
    if scaled:
        on = t > 0
        if bool((alpha[~on] != 0).any()):
            return math.inf
        r = t[on].sqrt()
        TW, u = r[:, None] * W[on], alpha[on] / r
        low = -2 * torch.eye(int(on.sum()), dtype=W.dtype) + torch.outer(u, u)
    else:
        TW = t[:, None] * W
        low = -2 * torch.diag(t) + torch.outer(alpha, alpha)
    M = torch.cat([torch.cat([-rho * torch.eye(d, dtype=W.dtype), TW.T], 1),
                   torch.cat([TW, low], 1)], 0)
    return float(torch.linalg.eigvalsh(M).max())


# ------------------------------------------------------------------------------------- LipSDP
#: Units are left out of the SDP, smallest ``|α_j|·‖w̄_j‖`` first, while the sum of those products
#: stays below this share of the largest one; they are added back with a certified ``t_j``
#: (:func:`_add_negligible`). Since ``L ≥ max_j |α_j|‖w̄_j‖ / 2``, this costs at most ~2e-12
#: relative in L.
NEGLIGIBLE_SHARE = 1e-12
#: Clarabel settings of ``solver="auto"``'s fallback: tight enough for 1e-6 relative in L (on
#: the balanced data; Clarabel's defaults in
#: :func:`~torch_lipcvx._engine.programs.default_solver_options` stop up to ~1e-5 relative above
#: ρ*).
AUTO_CLARABEL_OPTIONS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
#: SCS settings of ``solver="auto"``'s last fallback.
AUTO_SCS_OPTIONS = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000}
#: ``solver="auto"`` accepts the torch method's certificate when its certified relative gap in ρ
#: is at most this (else it falls back to cvxpy); the Newton method reaches ~1e-9.
AUTO_ACCEPT_GAP = 1e-7


def _row_norms(W: Tensor) -> Tensor:
    """``‖w̄_j‖₂`` of each row of ``W (m, d)`` without underflow or overflow: each row is scaled
    by its largest entry first (``torch.linalg.vector_norm`` squares the entries, so a row of
    entries below ~1e-154, as the power-of-two rescaling of :func:`lipsdp` leaves beside one
    huge weight, had norm 0 and made the negligible units' budget divide by zero)."""
    top = W.abs().amax(1) if W.shape[1] else torch.zeros(W.shape[0], dtype=W.dtype)
    safe = torch.where(top > 0, top, torch.ones_like(top))
    return top * torch.linalg.vector_norm(W / safe[:, None], dim=1)


def _balance(W: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor, Tensor, float]:
    """Rescale the units so the SDP is well scaled, by LipSDP's invariances (docs/lipsdp.md §6).

    Per unit ``(w̄_j, α_j, t_j) → (c_j w̄_j, α_j / c_j, t_j / c_j²)`` and globally
    ``(W̄, ρ) → (W̄/σ, ρ/σ²)`` leave the LMI's feasibility unchanged. With
    ``c_j² = σ |α_j| / ‖w̄_j‖`` every unit gets ``‖w̄'_j‖ = |α'_j| = √(|α_j|‖w̄_j‖/σ)``, and σ (the
    naive bound ``‖W̄_b‖₂‖α_b‖₂`` of the balanced net, ≥ L) makes ``ρ' ≤ 1``. Without it a unit
    with ``‖w̄_j‖ = 2e-7`` and ``|α_j| = 1e3`` makes Clarabel fail (its optimal ``t_j`` is ~1e10),
    and Clarabel's absolute tolerances dominate when ρ is tiny.

    Args: ``W (m, d)`` with nonzero rows, ``alpha (m,)`` nonzero; float64.

    Returns:
        ``(W', alpha', c2, sigma)``: a ``t'`` for ``(W', alpha')`` certifies ``(W, alpha)`` with
        ``t = c2 · t'`` and ``ρ = sigma² · ρ'``.
    """
    norms = _row_norms(W)
    r = torch.sqrt(alpha.abs()) * torch.sqrt(norms)          # (no underflow of the product)
    Wb = W * (r / norms)[:, None]
    sigma = float(torch.linalg.matrix_norm(Wb, ord=2)) * float(_row_norms(r[None])[0])
    c = math.sqrt(sigma) * torch.sqrt(alpha.abs()) / torch.sqrt(norms)
    c2 = c * c
    if not (bool(torch.isfinite(c2).all()) and bool((c2 > 0).all()) and sigma > 0
            and math.isfinite(sigma)):
        raise ValueError("the units' scales are too far apart to certify in float64: a LipSDP "
                         "multiplier t_j ~ |alpha_j| / ||w_j|| would be outside float64's "
                         "normal range; rescale the weights so that the units' scales agree: "
                         + _REBALANCE)
    return W * (c / sigma)[:, None], alpha / c, c2, sigma


def _negligible(W: Tensor, alpha: Tensor) -> Tensor:
    """Active units whose products ``|α_j|‖w̄_j‖`` sum (smallest first) to at most
    :data:`NEGLIGIBLE_SHARE` of the largest (units with ``w̄_j = 0`` always)."""
    p = alpha.abs() * _row_norms(W)
    out = torch.zeros_like(p, dtype=torch.bool)
    act = torch.nonzero(alpha != 0)[:, 0]
    if act.numel() == 0:
        return out
    pa = p[act]
    order = torch.argsort(pa)
    small = torch.cumsum(pa[order], 0) <= NEGLIGIBLE_SHARE * float(pa.max())
    out[act[order[small]]] = True
    return out


def _core_outside(alpha: Tensor, t: Tensor, core: Tensor, rest: Tensor) -> bool:
    """Whether :func:`_add_negligible` must first rescale the core's ``t`` (units ``rest`` to add,
    and the core's ``s = Σ α_j²/(2t_j)`` not below 1 − 1e-12)."""
    return bool(rest.any()) and bool(core.any()) and \
        not 1.0 - _ray_threshold(alpha[core], t[core]) > 1e-12


def _add_negligible(W: Tensor, alpha: Tensor, t: Tensor, core: Tensor, tiny: Tensor,
                    zero: Tensor) -> Tensor:
    """Multipliers for the units left out of the SDP, given the core's ``t`` (all ``(m,)``).

    Tiny units (``w̄_j ≠ 0``) get ``t_j = |α_j| / (‖w̄_j‖ κ)``: they use ``s_N = κ δ / 2`` of the
    budget ``s = Σ α_j²/(2t_j) < 1`` (``δ = Σ_N |α_j|‖w̄_j‖``) and add at most ``δ/(2κ)`` to
    ``λ_max``; κ is the best of a grid of budget shares, scored by the exact reduced-form ``φ``
    (so the bound is at least as good as the triangle inequality ``L_core + δ``, up to the grid).
    Units with ``w̄_j = 0`` then take a 1e-6 share of what is left (half the budget when no unit
    moves). A core ``t`` with ``s ≥ 1 − 1e-12`` (an SDP solver's, on or just outside the
    boundary) is first rescaled into the interior (:func:`certify_t`'s repair). The caller
    certifies the result (:func:`certify_t`).
    """
    t = t.clone()
    if _core_outside(alpha, t, core, tiny | zero):
        # an SDP solver's t can sit on or just outside s = 1 (g = W̄ᵀα ≈ 0): rescale it into
        # the interior first, else the units below get no budget (t_j < 0, then lifted to a
        # floor that blows up the final rescaling)
        t[core] = certify_t(W[core], alpha[core], t[core])[1]
    if bool(tiny.any()):
        budget = 1.0 - _ray_threshold(alpha[core], t[core])
        norms = _row_norms(W[tiny])
        delta = float((alpha[tiny].abs() * norms).sum())
        on = core | tiny
        best, best_t = math.inf, None
        for share in (0.5, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10, 1e-12):
            kappa = 2 * share * budget / delta
            t[tiny] = alpha[tiny].abs() / (norms * kappa)
            val = spectral_rho_fixed_t(W[on], alpha[on], t[on])
            if val < best:
                best, best_t = val, t[tiny].clone()
        if best_t is not None:
            t[tiny] = best_t
    if bool(zero.any()):
        moving = core | tiny
        used = _ray_threshold(alpha[moving], t[moving]) if bool(moving.any()) else 0.0
        budget = 1e-6 * max(1.0 - used, 0.0) if bool(moving.any()) else 0.5
        budget = budget if budget > 0 else 1e-12
        t[zero] = alpha[zero] ** 2 * int(zero.sum()) / (2 * budget)
    return t


def _fast_solve(W: Tensor, alpha: Tensor, options: dict, auto: bool):
    """The torch method for ``(W, alpha)`` (balanced, every unit active and moving):
    ``(rho, t, info, method)``; ``options`` may name ``method`` (``"newton"``/``"apg"``).

    Without options, the method follows the size of the barrier Newton method's system
    (:func:`~torch_lipcvx._engine.lipsdp_dual.newton_system`): up to ``d = 32`` (or when its
    ``d(d+1)/2`` system is the cheaper one) Newton runs first; beyond, the first-order method runs
    first (a few hundredths of a second where it reaches the gap), aiming at half
    :data:`AUTO_ACCEPT_GAP` with a stall detector, and Newton through Woodbury's ``(m + 1) × (m +
    1)`` system only when it stops above :data:`AUTO_ACCEPT_GAP`. The other method runs too when the
    first stops above that gap; both bounds are certified, so the smaller ρ and the larger dual
    bound are kept (``method`` then reads ``"apg+newton"`` or ``"newton+apg"``). A Newton system
    larger than :data:`~torch_lipcvx._engine.lipsdp_dual.NEWTON_MAX_SYSTEM` leaves the first-order
    method alone. With options but no ``method``, the first method alone runs with them.
    """
    opts = dict(options)
    method = opts.pop("method", None)
    if method is not None and method not in ("newton", "apg"):
        raise ValueError(f"solver_options['method'] must be 'newton' or 'apg', got {method!r}")
    if method is None:
        system, size, _, _ = newton_system(*W.shape)
        if size > NEWTON_MAX_SYSTEM:
            chain = ["apg"]
        else:
            chain = ["newton", "apg"] if system == "svec" else ["apg", "newton"]
        if opts:
            chain = chain[:1]
    else:
        chain = [method]
    best, failure = None, None
    for name in chain:
        try:
            if name == "newton":
                rho, t, info = lipsdp_newton(W, alpha, **opts)
            else:
                # (before Newton, a budget of 2000 iterations: Newton closes what it leaves open)
                rho, t, info = _apg(W, alpha, opts, auto or len(chain) > 1,
                                    2000 if chain == ["apg", "newton"] else 20_000)
        except (RuntimeError, torch.linalg.LinAlgError) as exc:
            failure = failure or exc          # the other method may still certify
            continue
        if best is None:
            best = (rho, t, info, name)
        else:
            b_rho, b_t, b_info, b_name = best
            up = (rho, t) if rho < b_rho else (b_rho, b_t)
            low = info if info.lower > b_info.lower else b_info
            best = (*up, SolveRecord(status=f"{b_info.status}+{info.status}",
                                     iterations=b_info.iterations + info.iterations,
                                     solve_time=b_info.solve_time + info.solve_time,
                                     value=up[0], lower=low.lower, device=info.device,
                                     dual=low.dual), f"{b_name}+{name}")
        if _gap(best[2]) <= AUTO_ACCEPT_GAP:
            break
    if best is None:
        raise failure
    return best


def _gap(info: SolveRecord) -> float:
    """The certified relative gap ``(value − lower) / lower`` of a torch LipSDP run."""
    return (info.value - info.lower) / info.lower if info.lower > 0 else math.inf


def _apg(W: Tensor, alpha: Tensor, opts: dict, tight: bool, max_iter: int = 20_000
         ) -> tuple[float, Tensor, SolveRecord]:
    """:func:`~torch_lipcvx._engine.lipsdp_dual.lipsdp_dual`, its ``t`` moved off the boundary ``s =
    1``; with ``tight``, by default aiming at half :data:`AUTO_ACCEPT_GAP` (up to ``max_iter``
    iterations, stopped after 300 that do not halve the gap)."""
    opts = dict(opts)
    if tight:
        opts.setdefault("tol", 0.5 * AUTO_ACCEPT_GAP)
        opts.setdefault("max_iter", max_iter)
        opts.setdefault("stall_window", 300)
    rho, t, info = lipsdp_dual(W, alpha, **opts)
    s = float((alpha ** 2 / (2 * t)).sum())
    if s > 1 - 1e-10:    # the dual's t sits on the boundary when g = W̄ᵀα ≈ 0
        rho, t = _off_boundary(W, alpha, t, 1e-10)
        info.value = rho
    return rho, t, info


class LipSDPFallbackWarning(RuntimeWarning):
    """``solver="auto"``'s note that the torch method did not certify and cvxpy solved LipSDP
    too (callers that certify many networks count these and warn once)."""


#: a cvxpy solution whose certified ρ (after :func:`certify_t`'s repair) exceeds the solver's own
#: by more than this relative amount is re-solved in the Schur form (an independent formulation)
RETRY_LOOSENESS = 1e-3


def _retry_schur(W: Tensor, alpha: Tensor, solver: Solver, first: tuple,
                 solve_time: float) -> tuple[float, Tensor, str, str, float]:
    """Re-solve LipSDP on balanced ``(W, alpha)`` in the Schur form after the reduced form's
    ``t`` did not certify near the solver's ρ (SCS can end "optimal" with an infeasible ``t``
    whose repair is thousands of times loose: seen on a (12) solution with one unit of share
    7e-5, while the Schur and original forms gave the optimum). Warns; keeps the smaller
    certified ρ. Returns ``(ρ', t', name, status, solve_time)`` for :func:`lipsdp`."""
    rho_b, t_b, rho_c, status = first
    name = solver.name
    try:
        rho_s, t_s, info = LipSDPProgram(*W.shape, form="schur").solve(
            W.numpy(), alpha.numpy(), solver)
    except SolverError as exc:
        note = f"the Schur form failed too ({exc})"
    else:
        solve_time += info.solve_time
        t_s = torch.as_tensor(t_s)
        rho_sc = certify_t(W, alpha, t_s)[0]
        note = (f"its t certifies {rho_sc / rho_s:.6g}x its own rho, "
                f"{rho_sc / rho_c:.3g}x the reduced form's certified rho")
        if rho_sc < rho_c:
            rho_b, t_b, name, status = rho_s, t_s, f"{solver.name}/schur", info.status
            note += ", kept"
    warnings.warn(f"{solver.name}'s LipSDP solution (reduced form, status {status}) certifies only "
                  f"{rho_c / first[0]:.6g}x its own rho; re-solved in the Schur form: {note}",
                  RuntimeWarning, stacklevel=3)
    return rho_b, t_b, name, status, solve_time


#: ``solver="auto"`` builds its cvxpy fallback only when the estimated peak memory
#: (:func:`~torch_lipcvx._engine.programs.lipsdp_program_size`) is at most this share of the
#: available memory (:func:`available_memory`).
FALLBACK_MEMORY_SHARE = 0.5


def available_memory() -> Optional[int]:
    """Bytes of memory this process can still use: ``MemAvailable`` of ``/proc/meminfo`` (else
    the available physical pages from ``os.sysconf``), capped by a cgroup v2 limit when one is
    set; ``None`` when none of these can be read."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            try:
                avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (AttributeError, ValueError, OSError):
                return None
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return avail


def _auto_fallback(W: Tensor, alpha: Tensor, program: Optional[LipSDPProgram], why: str,
                   have_bound: bool) -> tuple[list, float]:
    """``solver="auto"``'s cvxpy fallback on balanced data: Clarabel at tight tolerances, then SCS,
    then (if both fail) the triangle-inequality multipliers of :func:`_add_negligible` applied to
    every unit, which always certify. Warns once. Returns candidates ``(φ, t, name, status)`` and
    the solvers' time.

    The cvxpy program is first sized (:func:`~torch_lipcvx._engine.programs.lipsdp_program_size`);
    one whose estimated peak memory exceeds :data:`FALLBACK_MEMORY_SHARE` of the available memory is
    never built (at d = 50, m = 1000 cvxpy asked for 56 GiB): the warning says so and, when the
    torch method already certified a bound (``have_bound``), no candidate is added, else the
    triangle-inequality multipliers are."""
    cands, elapsed = [], 0.0
    reuse = program is not None and (program.m, program.d) == tuple(W.shape)
    form = program.form if reuse else "reduced"
    size = lipsdp_program_size(*W.shape, form=form)
    avail = available_memory()
    if avail is not None and size["bytes"] > FALLBACK_MEMORY_SHARE * avail:
        why += (f"; the cvxpy fallback ({form} form: {size['variables']} variables, LMI of size "
                f"{size['lmi_sizes'][0]}, {size['cones']} cones, about "
                f"{size['bytes'] / 2 ** 30:.3g} GiB) cannot fit in the "
                f"{avail / 2 ** 30:.3g} GiB available and was skipped")
        if have_bound:
            warnings.warn(f"LipSDP {why}; kept the torch method's certified (looser) bound",
                          LipSDPFallbackWarning, stacklevel=3)
            return cands, elapsed
    else:
        prog = None
        for cvx, opts in zip(AUTO_FALLBACK_SOLVERS, (AUTO_CLARABEL_OPTIONS, AUTO_SCS_OPTIONS)):
            try:
                prog = prog or (program if reuse else LipSDPProgram(*W.shape))
                _, t_c, info_c = prog.solve(W.numpy(), alpha.numpy(), cvx, opts)
            except SolverError as exc:
                why += f"; {cvx} failed ({exc})"
                continue
            elapsed += info_c.solve_time
            t_c = torch.as_tensor(t_c)
            cands.append((spectral_rho_fixed_t(W, alpha, t_c), t_c, f"auto/{cvx}",
                          info_c.status))
            break
    if not cands:
        none = torch.zeros(W.shape[0], dtype=torch.bool)
        t_n = _add_negligible(W, alpha, torch.zeros(W.shape[0], dtype=W.dtype), none, ~none, none)
        cands.append((spectral_rho_fixed_t(W, alpha, t_n), t_n, "auto/triangle", "fallback"))
    warnings.warn(f"LipSDP {why}; also solved by {cands[-1][2]}, kept the smallest certified "
                  "bound", LipSDPFallbackWarning, stacklevel=3)
    return cands, elapsed


def lipsdp(weights: ShallowWeights, *, solver: SolverLike = DEFAULT,
           solver_options: Optional[dict] = None,
           program: Optional[LipSDPProgram] = None, form: str = "reduced") -> LipSDPResult:
    """LipSDP-neuron certificate for the ℓ2 Lipschitz constant, re-verified in float64.

    Every solver sees the same preprocessed problem: units with ``α_j = 0`` get ``t_j = 0``; units
    whose ``|α_j|‖w̄_j‖`` are negligible (:data:`NEGLIGIBLE_SHARE`, including ``w̄_j = 0``) are
    left out and given a certified ``t_j`` afterwards; the rest are rescaled by LipSDP's
    invariances (:func:`_balance`), which changes nothing mathematically but lets the SDP solvers
    work on ``O(1)`` data. The returned ``rho`` is always :func:`certify_t` of the full network.

    Args:
        weights: the network (``W (m, d)``, ``alpha (m,)``; biases do not enter).
        solver: a name or a :class:`~torch_lipcvx.solvers.Solver` (docs/solvers.md):
            ``"auto"`` (default) or ``"torch"``: the torch methods of
            :mod:`torch_lipcvx._engine.lipsdp_dual` (no cvxpy); ``"CLARABEL"``, ``"SCS"`` or another
            conic solver installed in cvxpy: cvxpy. ``"torch"`` runs
            :func:`~torch_lipcvx._engine.lipsdp_dual.lipsdp_newton` and
            :func:`~torch_lipcvx._engine.lipsdp_dual.lipsdp_dual` in the order :func:`_fast_solve`
            gives (Newton first up to d = 32, the first-order method first beyond, the other one
            only if the first stops above :data:`AUTO_ACCEPT_GAP`) and returns the smallest
            certified ρ (certified, possibly looser than asked). ``"auto"`` does the same and, if
            the certified gap is still above :data:`AUTO_ACCEPT_GAP`, also solves with Clarabel at
            tight tolerances (:data:`AUTO_CLARABEL_OPTIONS`), then SCS if Clarabel fails, warns, and
            returns the smallest certified ρ; it never raises a solver error. That cvxpy program is
            sized first (:func:`~torch_lipcvx._engine.programs.lipsdp_program_size`) and skipped,
            with the warning, when it would need more than :data:`FALLBACK_MEMORY_SHARE` of the
            available memory (:func:`available_memory`): the torch method's certified bound is kept.
            With a cvxpy solver, a ``t`` that certifies more than :data:`RETRY_LOOSENESS` above the
            solver's own ρ is re-solved in the Schur form (one warning; the smaller certified ρ is
            kept, ``solver`` then reads ``"<SOLVER>/schur"``).
        solver_options: keyword arguments for the solver (override our tight defaults; merged
            over a Solver's own options); for the
            torch methods ``tol``, ``max_iter``, ``verbose`` and ``method`` (``"newton"`` or
            ``"apg"``: that method alone; ``stall_window`` for ``"apg"``; ``shrink``, ``margin``
            and ``system`` for ``"newton"``).
        program: a prebuilt :class:`~torch_lipcvx._engine.programs.LipSDPProgram` of the right size
            (``m_core × d``: units with ``α_j ≠ 0`` that are not negligible) to reuse its
            compilation across calls; otherwise one is built.
        form: the SDP formulation when no program is given (``"reduced"``, the default, or
            ``"original"``/``"schur"``; see :class:`~torch_lipcvx._engine.programs.LipSDPProgram`).

    Returns:
        :class:`LipSDPResult` whose ``rho`` is certified: ``M(rho, diag(t)) ⪯ 0`` holds in float64
        up to the documented rounding margin. ``solver`` is the cvxpy solver's name, or
        ``"<auto|torch>/<newton|apg|CLARABEL|SCS>"`` for the method whose ``t`` was kept;
        ``rho_lower`` is the torch method's dual bound on ρ* (NaN for cvxpy solvers).

    Raises:
        SolverError: a cvxpy solver failed or hit its limit (never with ``"auto"``).
        ValueError: an unknown ``solver`` or ``form``; NaN/Inf weights; weights spanning too
            many orders of magnitude to rescale exactly, or a ``ρ`` or ``t`` outside float64's
            range at the weights' scale (the message says how to rebalance the units).
        TypeError: ``weights`` not :class:`ShallowWeights`.
    """
    solver = Solver.parse(solver, solver_options)
    if form not in LipSDPProgram.FORMS:      # checked for every solver ("auto" may fall back)
        raise ValueError(f"form must be one of {LipSDPProgram.FORMS}, got {form!r}")
    if not isinstance(weights, ShallowWeights):
        raise TypeError(f"weights must be ShallowWeights (use model.weights()), "
                        f"got {type(weights).__name__}")
    check_weights_finite(weights, "weights")
    if weights.k > 1:
        return _lipsdp_vector(weights, solver)
    W = weights.W.detach().to("cpu", torch.float64)
    alpha = weights.alpha.detach().to("cpu", torch.float64)
    act = alpha != 0
    m = W.shape[0]
    if int(act.sum()) == 0:
        return LipSDPResult(
            rho=0.0, t=np.zeros(m), solver_rho=0.0, solver=solver.name, status="trivial",
            repaired=False, solve_time=0.0, verify_time=0.0)
    # the scale of the units that enter (a unit with α_j = 0 does not, whatever its w̄_j)
    kW, ka = _pow2_exponent(W[act]), _pow2_exponent(alpha)
    if max(abs(kW), abs(ka)) > _SCALE_EXPONENT:
        Ws = torch.where(act[:, None], torch.ldexp(W, torch.tensor(-kW)),
                         torch.zeros((), dtype=W.dtype))
        As = torch.ldexp(alpha, torch.tensor(-ka))
        if not (torch.equal(torch.ldexp(Ws[act], torch.tensor(kW)), W[act])
                and torch.equal(torch.ldexp(As, torch.tensor(ka)), alpha)):
            raise ValueError(
                f"the weights span too many orders of magnitude to certify in float64: rescaling "
                f"W by 2^{-kW} and alpha by 2^{-ka} (to bring their largest entries near 1) "
                "would round some entries to subnormal numbers or zero; " + _REBALANCE)
        # before any work: max_j |α_j|‖w̄_j‖/2 ≤ L ≤ ‖W̄‖₂‖α‖₂ bracket ρ's exponent
        prods = As.abs() * _row_norms(Ws)
        lo = 2 * (math.log2(float(prods.max()) / 2) + kW + ka)
        hi = 2 * (math.log2(float(torch.linalg.matrix_norm(Ws, ord=2))
                            * float(torch.linalg.vector_norm(As))) + kW + ka)
        if lo > sys.float_info.max_exp - 1 or hi < sys.float_info.min_exp:
            raise _range_error(lo if lo > sys.float_info.max_exp - 1 else hi)
        return _rescaled(lipsdp(ShallowWeights(Ws, weights.b, As, weights.c),
                                solver=solver, program=program, form=form), kW, ka, act)
    neg = _negligible(W, alpha)
    zero = act & (W.abs().sum(1) == 0)
    tiny = neg & ~zero
    core = act & ~neg
    t_full = torch.zeros(m, dtype=torch.float64)
    name, status, solver_rho, solve_time, lower = solver.name, "trivial", 0.0, 0.0, math.nan
    dual = None
    if bool(core.any()):
        Wb, ab, c2, sigma = _balance(W[core], alpha[core])
        cands = []                       # (ρ' by the reduced form, t', name, status)
        if solver.uses_torch:
            auto = solver.fallback
            try:
                rho_b, t_b, info, method = _fast_solve(Wb, ab, dict(solver.options), auto)
            except (RuntimeError, torch.linalg.LinAlgError) as exc:
                if not auto:
                    raise
                why = f"torch method failed ({exc})"
            else:
                name, status, solve_time = f"{solver.name}/{method}", info.status, info.solve_time
                lower = info.lower * sigma ** 2
                dual = None if info.dual is None else info.dual.cpu().numpy()
                cands.append((rho_b, t_b, name, status))
                gap = (info.value - info.lower) / info.lower if info.lower > 0 else math.inf
                why = None if gap <= AUTO_ACCEPT_GAP else \
                    f"{method} stopped ({info.status}) at certified relative gap {gap:.1e}"
            if auto and why is not None:
                more, elapsed = _auto_fallback(Wb, ab, program, why, bool(cands))
                cands += more
                solve_time += elapsed
        else:
            if program is None or (program.m, program.d) != tuple(Wb.shape):
                program = LipSDPProgram(*Wb.shape, form=form)
            rho_b, t_b, info = program.solve(Wb.numpy(), ab.numpy(), solver)
            status, solve_time = info.status, info.solve_time
            t_b = torch.as_tensor(t_b)
            rho_c = certify_t(Wb, ab, t_b)[0]
            if program.form != "schur" and not rho_c <= (1 + RETRY_LOOSENESS) * rho_b:
                rho_b, t_b, name, status, solve_time = _retry_schur(
                    Wb, ab, solver, (rho_b, t_b, rho_c, status), solve_time)
            cands.append((rho_b, t_b, name, status))
        rho_b, t_b, name, status = min(cands, key=lambda c: c[0])
        solver_rho = rho_b * sigma ** 2
        t_full[core] = t_b * c2
    pre_repaired = _core_outside(alpha, t_full, core, tiny | zero)
    t_full = _add_negligible(W, alpha, t_full, core, tiny, zero)
    start = time.perf_counter()
    rho, t_used, repaired = certify_t(W, alpha, t_full)
    repaired = repaired or pre_repaired
    return LipSDPResult(
        rho=rho, t=t_used.numpy(), solver_rho=solver_rho, solver=name, status=status,
        repaired=repaired, solve_time=solve_time, verify_time=time.perf_counter() - start,
        rho_lower=lower, dual=dual)


#: how to fix weights whose scales float64 cannot certify (the end of those errors' messages)
_REBALANCE = ("rebalance the units (f is unchanged by (w_j, b_j, alpha_j) -> (c w_j, c b_j, "
              "alpha_j / c), c > 0) or drop the negligible ones")
#: weights whose largest entry lies outside [2⁻³⁰, 2³⁰] are certified after an exact rescaling
_SCALE_EXPONENT = 30


def _pow2_exponent(x: Tensor) -> int:
    """``e`` with ``max|x| ∈ [2^(e−1), 2^e)`` (0 for ``x = 0``)."""
    top = float(x.abs().max()) if x.numel() else 0.0
    return math.frexp(top)[1] if top > 0 else 0


def _range_error(e: float) -> ValueError:
    """The error for a network whose ``ρ = L² ≈ 2^e`` float64 cannot hold."""
    return ValueError(f"the network's Lipschitz bound L ≈ 10^{e * math.log10(2) / 2:.0f} "
                      f"(LipSDP's ρ = L² ≈ 2^{e:.0f}) is outside float64's normal range (L must "
                      "lie between ~1.5e-154 and ~1.3e154 to certify; a single huge weight is "
                      "enough): rescale the weights, e.g. change the units of the inputs or the "
                      "output")


def _rescaled(res: LipSDPResult, kW: int, ka: int, act: Tensor) -> LipSDPResult:
    """The certificate of ``(2^kW·W̄, 2^ka·α)`` from that of ``(W̄, α)``: LipSDP is homogeneous,
    ``ρ`` scales by ``2^(2kW+2ka)`` and ``t`` by ``2^(2ka)``, both exactly (powers of two), so
    the rescaled ``ρ`` is as certified as the original. The dual ``Z`` (trace 1) is unchanged.
    ``act``: the units with ``α_j ≠ 0`` (``(m,)`` boolean), whose ``t_j`` must stay exact.

    Raises:
        ValueError: ``ρ = L²`` is outside float64's normal range (``L`` below about 1.5e-154 or
            above 1.3e154), or a multiplier ``t_j`` of an active unit is: no certified float64
            ``ρ`` (resp. ``t``) exists to report.
    """
    k = 2 * kW + 2 * ka
    e = math.frexp(res.rho)[1] + k                   # ρ ∈ [2^(e−1), 2^e)
    if res.rho > 0 and not (sys.float_info.min_exp <= e <= sys.float_info.max_exp - 1):
        raise _range_error(e)
    rho = math.ldexp(res.rho, k)
    with np.errstate(over="ignore", under="ignore"):
        t = np.ldexp(res.t, 2 * ka)
        on = act.numpy()
        if not (np.all(np.isfinite(t[on]))
                and np.array_equal(np.ldexp(t[on], -2 * ka), res.t[on])):
            raise ValueError("the network's LipSDP multipliers t lie outside float64's range at "
                             f"the weights' scale (alpha ~ 2^{ka}): rescale the weights to "
                             "certify them")
    return dataclasses.replace(
        res, rho=rho, t=t, solver_rho=math.ldexp(res.solver_rho, k),
        rho_lower=math.ldexp(res.rho_lower, k) if math.isfinite(res.rho_lower) else res.rho_lower)


def _lipsdp_vector(weights: ShallowWeights, solver: Solver) -> LipSDPResult:
    """LipSDP for ``k ≥ 2`` outputs (docs/lipsdp.md §10, docs/losses.md §2): ``"auto"``/
    ``"torch"``: the Newton barrier method of :mod:`~torch_lipcvx._engine.lipsdp_vector` (its
    ``tol`` and ``max_iter`` from the options), with its lower bound as ``rho_lower``; a cvxpy
    name: that solver on the SDP with ``AAᵀ``. The ``t`` is re-verified in float64 by
    :func:`~torch_lipcvx._engine.lipsdp_vector.certify_t_vector`; ``"auto"`` redoes a
    Newton run that did not converge with Clarabel and keeps the smaller certified ρ."""
    from ._engine.lipsdp_vector import (certify_t_vector, lipsdp_vector_newton,
                                        solve_lipsdp_vector)

    W = weights.W.detach().to("cpu", torch.float64)
    A = weights.A.detach().to("cpu", torch.float64)
    m, d = W.shape
    if not bool((A != 0).any()) or not bool((W != 0).any()):
        return LipSDPResult(rho=0.0, t=np.zeros(m), solver_rho=0.0, solver=solver.name,
                            status="trivial", repaired=False, solve_time=0.0, verify_time=0.0)
    runs = []
    if solver.uses_torch:
        opts = {k: v for k, v in solver.options.items() if k in ("tol", "max_iter")}
        t, val, status, seconds, lower = lipsdp_vector_newton(W, A, **opts)
        runs.append((f"{solver.name}/newton", (t, val, status, seconds), lower))
    if not solver.uses_torch or (solver.fallback and runs[0][1][2] != "converged"):
        runs.append((solver.cvxpy_name if not solver.uses_torch else f"auto/{solver.cvxpy_name}",
                     solve_lipsdp_vector(W, A, solver.cvxpy_name, solver.cvxpy_options()),
                     math.nan))
    best = None
    for name, (t, val, status, seconds), lower in runs:
        if not np.isfinite(t).all() or status in ("infeasible", "unbounded", "solver_error"):
            continue
        start = time.perf_counter()
        rho, t_used, repaired = certify_t_vector(W, A, t)
        res = LipSDPResult(rho=rho, t=t_used.numpy(), solver_rho=val, solver=name,
                           status=status, repaired=repaired, solve_time=seconds,
                           verify_time=time.perf_counter() - start, rho_lower=lower)
        if best is None or res.rho < best.rho:
            best = res
    if best is None:
        raise SolverError(f"vector LipSDP: no solver returned a certificate "
                          f"({[(n, r[2]) for n, r, _ in runs]})")
    return best


# ------------------------------------------------------------------------------- other bounds
def naive_bound(weights: ShallowWeights, norm: float = 2.0) -> float:
    """Certified naive bound: ``‖W̄‖₂‖α‖₂`` (ℓ2) or ``Σ_j |α_j| ‖w̄_j‖₁`` (ℓ∞ inputs), each with
    a relative rounding margin (:data:`ROUNDING_MARGIN`, resp. :func:`linf_naive`'s).

    ``norm`` is 2 or ``inf`` (also ``"l2"``, ``"linf"``...); output units per input unit.
    """
    norm = check_norm(norm)
    if weights.k > 1:
        if norm != 2:
            return max(naive_bound(weights.output(r), norm) for r in range(weights.k))
        A = weights.A.detach().to("cpu", torch.float64)
        W = weights.W.detach().to("cpu", torch.float64)
        return (float(torch.linalg.matrix_norm(W, ord=2) * torch.linalg.matrix_norm(A, ord=2))
                * (1 + ROUNDING_MARGIN))
    W = weights.W.detach().to("cpu", torch.float64)
    alpha = weights.alpha.detach().to("cpu", torch.float64)
    if norm == 2:
        # the same relative margin as a LipSDP certificate: it covers the float64 SVD
        return (float(torch.linalg.matrix_norm(W, ord=2) * torch.linalg.vector_norm(alpha))
                * (1 + ROUNDING_MARGIN))
    return linf_naive(weights)


def sampled_lower_bound(weights: ShallowWeights, norm: float = 2.0, *, X: Optional[Tensor] = None,
                        n_samples: int = 2048, steps: int = 100,
                        generator: Optional[torch.Generator] = None) -> tuple[float, Tensor]:
    """A lower bound on the Lipschitz constant: the largest realised gradient norm found
    (:func:`~torch_lipcvx.models.realised_gradient_norms`: points inside a linear region only).

    Candidates: ``n_samples`` Gaussian points at the scale of the hyperplanes' offsets,
    ``n_samples`` points far out along random directions and, if ``X (n, d)`` is given, its rows
    and ``n_samples`` Gaussian points at the data's scale (when that is larger), as a second
    pool. In each pool the best candidates of up to 256 distinct gradient norms (points of one
    linear region share theirs) are refined by Adam ascent on the smoothed
    norm ``‖W̄ᵀ(α ⊙ σ((W̄x + b)/τ))‖_q`` with τ annealed; the exact norm is evaluated at every
    step. Runs on the weights' device in float64, outside ``torch.inference_mode`` (autograd,
    on copies of the weights), and for weights outside ``2^±30`` at an exact power-of-two scale
    (the same regions, every gradient scaled exactly; a single 1e200 weight once overflowed the
    ℓ2 norms and gave ``-inf``).

    ``norm`` is 2 or ``inf`` (also ``"l2"``, ``"linf"``...): the norm of input perturbations,
    so the gradients are measured in its dual norm (2, resp. 1).

    Returns:
        ``(value, x)``: the bound (output units per input unit) and a ``(d,)`` point attaining it.

    Raises:
        ValueError: an unknown norm, ``X`` not ``(n, d)`` or with NaN/Inf, ``n_samples < 1`` or
            ``steps < 0``.
    """
    q = 2.0 if check_norm(norm) == 2 else 1.0
    check_positive_int(n_samples, "n_samples")
    check_positive_int(steps, "steps", minimum=0)
    if X is not None:
        X = check_X(X, "X", weights.d)
    if weights.k > 1:
        return _sampled_lower_bound_vector(weights, 2.0 if q == 2.0 else math.inf, X,
                                           n_samples, generator)
    # the ascent uses autograd: outside inference mode (Lightning validates inside it), with
    # grad enabled, on clones (a tensor made under inference mode cannot enter autograd)
    with torch.inference_mode(False), torch.enable_grad():
        dev = weights.W.device
        W = weights.W.detach().to(dev, torch.float64).clone()
        b = weights.b.detach().to(dev, torch.float64).clone()
        alpha = weights.alpha.detach().to(dev, torch.float64).clone()
        X = None if X is None else X.detach().clone()
        # weights far from 1 (a single 1e200 among normal ones overflowed ‖∇f‖₂ to inf, and
        # the bound came out -inf) are searched at an exact power-of-two scale: the regions
        # (signs of W̄x + b) are unchanged and every gradient scales by 2^-(kW + ka) exactly
        kW, ka = _pow2_exponent(W), _pow2_exponent(alpha)
        if max(abs(kW), abs(ka)) <= _SCALE_EXPONENT:
            kW = ka = 0
        W, b, alpha = (torch.ldexp(v, torch.tensor(-k, device=dev))
                       for v, k in ((W, kW), (b, kW), (alpha, ka)))
        value, x = _sampled_lower_bound(W, b, alpha, q, X, n_samples, steps, generator)
    if kW + ka and value > 0:
        try:
            value = math.ldexp(value, kW + ka)
        except OverflowError:
            value = sys.float_info.max               # still below the true value
    return value, x


def _sampled_lower_bound_vector(weights: ShallowWeights, norm: float, X: Optional[Tensor],
                                n_samples: int, generator: Optional[torch.Generator]
                                ) -> tuple[float, Tensor]:
    """:func:`sampled_lower_bound` for ``k ≥ 2`` outputs: the largest certified Jacobian norm
    (:func:`~torch_lipcvx.models.realised_jacobian_norms`; spectral for ℓ2, ``∞→∞`` for ℓ∞) over
    Gaussian points at the hyperplanes' offsets, far points along random directions and the
    rows of ``X``; no ascent (every point of one linear region has the same Jacobian)."""
    dev = weights.W.device
    W = weights.W.detach().to(dev, torch.float64)
    b = weights.b.detach().to(dev, torch.float64)
    A = weights.A.detach().to(dev, torch.float64)
    gen = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)
    m, d = W.shape
    wn = torch.linalg.vector_norm(W, dim=1)
    shaping = (A != 0).any(dim=1) & (wn > 0)
    offsets = b[shaping].abs() / wn[shaping]
    scale = float(offsets.median()) if offsets.numel() else 1.0
    scale = scale if scale > 0 else 1.0
    g = torch.randn(2 * n_samples, d, generator=gen, dtype=torch.float64).to(dev)
    cands = [2 * scale * g[:n_samples], 1e3 * scale * g[n_samples:]
             / torch.linalg.vector_norm(g[n_samples:], dim=1, keepdim=True).clamp_min(1e-300)]
    if X is not None:
        Xd = X.detach().to(dev, torch.float64)
        cands.append(Xd)
        if Xd.shape[0] > 1:
            cands.append(Xd[torch.randint(Xd.shape[0], (n_samples,), generator=gen).to(dev)]
                         + float(Xd.std()) * 0.1 * g[:n_samples])
    pts = torch.cat(cands)
    vals = torch.cat([realised_jacobian_norms(c, W, b, A, norm)
                      for c in pts.split(4096)])
    i = int(torch.argmax(vals))
    return float(vals[i]), pts[i].detach().clone()


def _sampled_lower_bound(W: Tensor, b: Tensor, alpha: Tensor, q: float, X: Optional[Tensor],
                         n_samples: int, steps: int, generator: Optional[torch.Generator]
                         ) -> tuple[float, Tensor]:
    """The search of :func:`sampled_lower_bound` on float64 ``W (m, d)``, ``b (m,)``,
    ``alpha (m,)`` on one device (checked and scaled by the caller; autograd enabled)."""
    dev = W.device
    m, d = W.shape
    gen = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dev)

    wn = torch.linalg.vector_norm(W, dim=1)
    # the hyperplanes' distances from the origin, of the units that shape f (a dead unit,
    # w̄_j = 0, has none; α_j = 0 does not matter)
    shaping = (alpha != 0) & (wn > 0)
    offsets = b[shaping].abs() / wn[shaping]
    # (in X's units, so the search is the same in any units: no absolute floor; a median of 0
    # falls back to the smallest positive offset, and with every hyperplane through 0, f is
    # positively homogeneous and any scale sees every region)
    scale = float(offsets.median()) if offsets.numel() else 0.0
    if not scale > 0:
        positive = offsets[offsets > 0]
        scale = float(positive.min()) if positive.numel() else 1.0
    # Gaussian points at the typical scale and, when the offsets spread wider (many hyperplanes
    # through 0 put the median at 0), at the largest offset too, so every region is in reach
    far = 2 * float(offsets.max()) if offsets.numel() else 0.0
    if far > 2 * scale:
        half = n_samples // 2
        cands = [scale * randn(n_samples - half, d) * 2, far * randn(half, d)]
    else:
        cands = [scale * randn(n_samples, d) * 2]
    u = randn(n_samples, d)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min(1e-300)
    cands.append(u * max(scale, far) * 1e3 + scale * randn(n_samples, d) * 0.01)
    pools = [(torch.cat(cands, 0), scale)]
    if X is not None:
        # the data rows and Gaussian points at the data's scale form a second pool *besides*
        # the one above (the same draws as without X), with its own starts and step sizes, so
        # that data can add candidates but not displace them: the bound with X is never below
        # the bound without it
        Xd = X.detach().to(dev, torch.float64)
        sx = float(Xd.std()) if Xd.shape[0] > 1 else 0.0
        pools.append((torch.cat([Xd, sx * randn(n_samples, d) * 2]) if sx > scale else Xd,
                      max(scale, sx)))
    best_val, best_x = -math.inf, None
    starts, row_scale = [], []
    for Xc, sc in pools:
        norms = realised_gradient_norms(Xc, W, b, alpha, q)
        v, i = norms.max(0)
        if float(v) > best_val:
            best_val, best_x = float(v), Xc[i].clone()
        # the ascent starts from the best candidates of *different* linear regions: the points
        # of one region share their gradient, and a large region (e.g. the one most data rows
        # sit in) would otherwise fill every start with the same local maximum
        vals, order = norms.sort(descending=True, stable=True)
        new_value = torch.ones_like(vals, dtype=torch.bool)
        new_value[1:] = vals[1:] != vals[:-1]         # the first point of each distinct norm
        pick = order[new_value][:256]
        starts.append(Xc[pick])
        row_scale.append(torch.full((pick.numel(), 1), sc, dtype=torch.float64, device=dev))
    x = torch.cat(starts).clone().requires_grad_(True)
    sc = torch.cat(row_scale)                        # (k, 1): each start's pool scale
    # plain Adam written out (torch.optim's first use imports the compiler stack: ~3 s); every
    # row is an independent ascent (the loss is a sum over rows)
    mom, var, lr = torch.zeros_like(x), torch.zeros_like(x), 0.05 * sc
    temps = (torch.logspace(0, -4, steps, dtype=torch.float64, device=dev)
             * float(wn.mean().clamp_min(1e-300)))
    with torch.enable_grad():
        for it, tau in enumerate(temps, start=1):
            g = (torch.sigmoid((x @ W.T + b) / (tau * sc)) * alpha) @ W
            (grad,) = torch.autograd.grad(torch.linalg.vector_norm(g, ord=q, dim=1).sum(), x)
            grad = grad * sc ** 2          # unit-free in X (Adam's 1e-12 is then relative)
            with torch.no_grad():
                mom.mul_(0.9).add_(grad, alpha=0.1)
                var.mul_(0.999).addcmul_(grad, grad, value=0.001)
                x.add_(lr * (mom / (1 - 0.9 ** it)) / ((var / (1 - 0.999 ** it)).sqrt() + 1e-12))
                exact = realised_gradient_norms(x, W, b, alpha, q)
                v, i = exact.max(0)
                if float(v) > best_val:
                    best_val, best_x = float(v), x[i].detach().clone()
    return best_val, best_x


def lipschitz_bounds(model: nn.Module, norm=2, *, method: Optional[str] = None,
                     solver: SolverLike = DEFAULT, solver_options: Optional[dict] = None,
                     X: Optional[Tensor] = None, n_samples: int = 2048, ascent_steps: int = 100,
                     seed: int = 0, degree: Optional[int] = None, sparse: bool = True,
                     max_exact_dim: int = DEFAULT_MAX_EXACT_DIM,
                     max_products: int = DEFAULT_MAX_PRODUCTS,
                     lp_options: Optional[dict] = None) -> LipschitzInterval:
    """Lower and upper bounds on the Lipschitz constant of a shallow ReLU network.

    Upper bounds by method (every one certified in float64; the reported ``upper`` is the
    smallest computed, all are kept in ``upper_bounds`` under the names in brackets):

    * ``norm=2``: ``"lipsdp"`` (default): LipSDP [``lipsdp``] and the naive ``‖W̄‖₂‖α‖₂``
      [``naive``]; ``"naive"``: the naive bound only.
    * ``norm=inf`` (docs/linf.md, :mod:`torch_lipcvx.linf`): ``"best"`` (default): the exact
      program value [``exact``] when every connected component of the network reads at most
      ``max_exact_dim`` inputs, else the LiPopt-style LP [``lp{k}_sparse``] when it has at most
      ``max_products`` products; always also ``√d·L₂`` [``sqrt_d_lipsdp``] and
      ``Σ_j |α_j| ‖w̄_j‖₁`` [``naive``]. ``"exact"``, ``"lp"``: that bound and the naive one
      (raising if it is too large). ``"lipsdp"``: ``√d·L₂`` and naive (the pre-ℓ∞-LP default).
      ``"naive"``. ``"all"``: everything that fits.

    The ℓ∞ ``exact`` value is the maximum of LiPopt's relaxed program, an upper bound on ``L∞``
    that every LP bound is ``≥``; it equals ``L∞`` when its maximising activation pattern is
    realised by an input, which the lower bound checks.

    Lower bound: the largest exact gradient norm found by :func:`sampled_lower_bound`
    [``sampled_gradient``]; for ``norm=inf`` also the vertex-pattern bound
    (:func:`~torch_lipcvx.linf.linf_lower_bound`) [``vertex_pattern``], which closes the interval
    when the exact maximiser's pattern is realisable. ``argmax`` is the point attaining it.

    Args:
        model: a :class:`~torch_lipcvx.ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(·,
        1))``;
            not modified.
        norm: 2 or ``inf`` (the norm of input perturbations; gradients are measured in the dual
            norm, 2 or 1).
        method: see above; ``None`` (default) is ``"lipsdp"`` for ℓ2 and ``"best"`` for ℓ∞.
        solver, solver_options: for LipSDP (a name or a :class:`~torch_lipcvx.solvers.Solver`:
            ``"auto"``, ``"torch"``, ``"CLARABEL"``, ``"SCS"`` or another cvxpy conic solver;
            see :func:`lipsdp`).
        X: optional ``(n, d)`` data to seed the lower-bound search.
        n_samples, ascent_steps, seed: the lower-bound search (see :func:`sampled_lower_bound`).
        degree: ℓ∞ LP degree (an integer ``>= 2``); ``None``: 3 if that LP fits ``max_products``,
            else 2.
        sparse: ℓ∞ LP with products inside unit cliques (LiPopt's sparsity; default) or dense.
        max_exact_dim: largest component (in inputs) enumerated exactly (``2^d`` vertices).
        max_products: largest ℓ∞ LP (number of products) built.
        lp_options: options for HiGHS (``scipy.optimize.linprog``), e.g. ``{"time_limit": 60}``.

    Returns:
        :class:`LipschitzInterval` (floats; output units per input unit).

    Raises:
        ValueError: unknown norm or method (methods depend on the norm), a model that is not a
            shallow ReLU network with scalar output, NaN/Inf weights, ``X`` of the wrong shape,
            ``degree`` not an integer ``>= 2`` (TypeError if not an integer) or given with
            ``norm=2``, ``method="exact"`` on a component larger than ``max_exact_dim``,
            ``method="lp"`` on an LP larger than ``max_products``; a LipSDP bound whose ``ρ = L²``
            or multipliers float64 cannot hold (e.g. one weight of 1e200 among weights ~1: L ≈
            1e200), named as :func:`lipsdp` names it.
        SolverError: the SDP or LP solver failed.

    Works under ``torch.inference_mode()`` (the lower bound's ascent runs outside it, on copies
    of the weights).
    """
    norm = check_norm(norm)
    method = check_method(norm, method)
    solver = Solver.parse(solver, solver_options)
    check_linf_options(degree, sparse, max_exact_dim, max_products)
    if norm == 2 and degree is not None:
        raise ValueError(f"degree applies to the ℓ∞ LP (norm=inf), got degree={degree!r} with "
                         "norm=2")
    net = as_shallow_relu(model)
    w = net.weights()
    check_weights_finite(w)
    check_positive_int(n_samples, "n_samples")
    check_positive_int(ascent_steps, "ascent_steps")
    check_seed(seed)
    if X is not None:
        X = check_X(X, "X", net.in_features)
    if w.k > 1 and norm != 2:
        return _linf_bounds_vector(w, method=method, solver=solver, X=X, n_samples=n_samples,
                                   ascent_steps=ascent_steps, seed=seed, degree=degree,
                                   sparse=sparse, max_exact_dim=max_exact_dim,
                                   max_products=max_products, lp_options=lp_options)
    uppers: dict[str, float] = {}
    cert = None
    uppers["naive"] = naive_bound(w, norm)
    if method in ("lipsdp", "best", "all"):
        cert = lipsdp(w, solver=solver)
        if norm == 2:
            uppers["lipsdp"] = cert.L
        else:
            uppers["sqrt_d_lipsdp"] = math.sqrt(w.d) * cert.L
    exact = None
    if norm != 2:
        linf = linf_upper_bounds(w, method, degree=degree, sparse=sparse,
                                 max_exact_dim=max_exact_dim, max_products=max_products,
                                 lp_options=lp_options)
        uppers.update(linf.upper_bounds)
        exact = linf.exact
    upper_method = min(uppers, key=uppers.get)
    gen = torch.Generator().manual_seed(seed)
    lower, x = sampled_lower_bound(w, norm, X=X, n_samples=n_samples, steps=ascent_steps,
                                   generator=gen)
    lower_method = "sampled_gradient"
    if norm != 2:
        vertex = linf_lower_bound(w, exact=exact, x_start=x, generator=gen)
        if vertex.x is not None and vertex.value > lower:
            lower, x, lower_method = vertex.value, vertex.x.to(x.device), "vertex_pattern"
    return LipschitzInterval(
        norm=norm, lower=lower, upper=uppers[upper_method], lower_method=lower_method,
        upper_method=upper_method, upper_bounds=uppers, certificate=cert, argmax=x)


def _linf_bounds_vector(w: ShallowWeights, **kw) -> LipschitzInterval:
    """ℓ∞ bounds of a ``k``-output network: ``L_{∞→∞} = max_r L_r`` with ``L_r`` the ℓ∞ constant
    of output ``r`` alone (``‖f(x) − f(x')‖_∞ = max_r |f_r(x) − f_r(x')|``), so the interval is
    the per-output intervals' maximum at both ends (docs/linf.md §7). ``upper_bounds`` holds
    each method's maximum over the outputs (a method that did not run for every output is left
    out)."""
    intervals = [lipschitz_bounds(ShallowReLU.from_weights(w.output(r)), math.inf, **kw)
                 for r in range(w.k)]
    low = max(intervals, key=lambda iv: iv.lower)
    up = max(intervals, key=lambda iv: iv.upper)
    common = set.intersection(*(set(iv.upper_bounds) for iv in intervals))
    uppers = {name: max(iv.upper_bounds[name] for iv in intervals) for name in common}
    return LipschitzInterval(norm=math.inf, lower=low.lower, upper=up.upper,
                             lower_method=low.lower_method,
                             upper_method=f"max over {w.k} outputs ({up.upper_method})",
                             upper_bounds=uppers, certificate=None, argmax=low.argmax)
