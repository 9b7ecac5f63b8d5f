"""Fast torch solvers: LipSDP by its dual (MATH.md §2) and an interior point for programs (6), (12).

Neither needs cvxpy; both run in float64 on the device of the data (CPU or CUDA, same code) and
return results that the callers re-verify exactly, so the guarantees of Algorithm 1 do not rest
on the solvers' accuracy.

LipSDP by its dual
------------------
With ``P = 2T − ααᵀ ≻ 0`` (Sherman–Morrison, see :class:`~torch_lipcvx.programs.LipSDPProgram`)

    φ(t) = λ_max(½ Σ_j t_j w̄_j w̄_jᵀ + g gᵀ / (4(1 − s))),   g = W̄ᵀα,  s = Σ_j α_j²/(2t_j) < 1,

and ``ρ* = min_t φ(t)``. Writing ``λ_max(Q) = max{⟨Q, Z⟩ : Z ⪰ 0, tr Z = 1}`` and swapping min and
max (Sion: convex in t, linear in Z, the spectraplex is compact), the inner minimum over t has a
closed form (Lagrange on ``s_j = α_j²/(2t_j)``): for ``a_j = w̄_jᵀ Z w̄_j`` and ``c = gᵀ Z g``

    min_t ⟨Q(t), Z⟩ = ¼ (√c + Σ_j |α_j| √a_j)²,  attained at  t_j = |α_j| (√c + Σ_l |α_l|√a_l) / (2√a_j).

So ``L* = √ρ* = max_{Z ⪰ 0, tr Z = 1} ½ (√(gᵀZg) + Σ_j |α_j| √(w̄_jᵀ Z w̄_j))``: a concave
maximisation over ``d × d`` matrices, whatever m. (For rank-one ``Z = vvᵀ`` with ``gᵀv ≥ 0`` the
value is ``Σ_j relu(α_j w̄_jᵀ v)``, the directional derivative of f for the pattern picked by v:
LipSDP is exactly the relaxation of rank one to ``Z ⪰ 0``.) :func:`lipsdp_dual` maximises it by
accelerated projected gradient (projection onto the spectraplex = one ``d × d`` eigendecomposition),
turns each iterate into the primal ``t`` above and stops when the primal value ``φ(t)`` (an upper
bound) and the dual value (a lower bound on ``ρ*``) agree to ``tol`` relative. Cost per iteration:
``O(m d²)``. The caller re-verifies ``t`` exactly (:func:`~torch_lipcvx.bounds.certify_t`).

Interior point for (6) and (12)
-------------------------------
Both programs read, in ``z = (W̃, c, extra)`` with ``W̃ (m, d + 1)`` and an output bias c (free, or
frozen at 0),

    min  (1/n)‖Φ x − y‖² + (β/2)‖W̃‖² + (linear in extra)   s.t.  S = (2D − 1) ∘ (X̃ W̃ᵀ) ≥ 0

with ``Φ = [a_1 D_1 X̃, …, a_m D_m X̃, 1]`` (``a = α`` for (12), ``a = ±1`` for (6)) and

* (12): extra = ρ, and ``ρ I − W̄ᵀ M W̄ ⪰ 0`` with ``M = T/2 + ααᵀ/(4(1 − s)) = T P⁻¹ T``: the
  LMI of MATH.md §5 after a Schur complement on ``P = 2T − ααᵀ ≻ 0``;
* (6): extra = τ, and ``‖w̃_j‖ ≤ τ_j`` (the group norms).

:class:`PatternBarrier` solves them by a primal–dual interior point: Mehrotra predictor–corrector
on the ``n × m`` cone rows, the LMI through a slack ``Σ`` with a ``d × d`` dual (HKM direction),
the second-order cones by their barrier. The Newton matrix is the Gram matrix ``(2/n)ΦᵀΦ``
(accumulated once over row chunks) plus block-diagonal ``X̃ᵀ diag(Λ_j/S_j) X̃`` and the LMI's
``(m d + 1)`` block, factorised by Cholesky; memory is ``O(n m + (m (d + 1))²)``. Iterates stay
strictly inside the cones, so the result keeps the patterns (rows reaching 0 are active
constraints, where relu(0) = 0 either way). Units whose bias has a flat direction when β = 0 are
eliminated exactly (:meth:`PatternBarrier._flat_units`). The objective of the returned point is
evaluated exactly (ρ by an eigenvalue for the given t).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "FastInfo",
    "lipsdp_dual",
    "PatternBarrier",
    "spectral_rho_fixed_t",
]


@dataclass
class FastInfo:
    """What a fast solve did.

    Attributes:
        status: ``"optimal"`` (tolerances met), ``"max_iter"`` (limit reached) or ``"stalled"``
            (no more progress in float64, or a numerically singular Newton matrix); the result is
            feasible either way, only less accurate.
        iterations: iterations run.
        solve_time: seconds.
        value: objective of the returned (feasible) point; for LipSDP the certified ρ upper bound.
        lower: a lower bound on the optimum: LipSDP's dual value; ``value − gap`` for the
            interior point.
        dual_residual: interior point: the stationarity residual at the end (∞-norm).
        device: where the iterations ran.
    """

    status: str
    iterations: int
    solve_time: float
    value: float
    lower: float = math.nan
    dual_residual: float = math.nan
    device: str = "cpu"


# ------------------------------------------------------------------------------------- LipSDP
def _project_spectraplex(Z: Tensor) -> Tensor:
    """Euclidean projection of a symmetric ``(d, d)`` matrix onto ``{Z ⪰ 0, tr Z = 1}``."""
    lam, Q = torch.linalg.eigh(0.5 * (Z + Z.T))
    u = torch.sort(lam, descending=True).values
    css = torch.cumsum(u, 0) - 1.0
    k = torch.arange(1, lam.numel() + 1, dtype=lam.dtype, device=lam.device)
    r = int(torch.nonzero(u - css / k > 0)[-1])
    lam = torch.clamp(lam - css[r] / (r + 1), min=0.0)
    return (Q * lam) @ Q.T


def _dual_value(Z: Tensor, W: Tensor, absa: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``h(Z) = √(gᵀZg) + Σ_j |α_j| √(w̄_jᵀZw̄_j)`` and the quadratic forms ``a``, ``c``."""
    a = ((W @ Z) * W).sum(1).clamp_min(0.0)
    c = (g @ Z @ g).clamp_min(0.0)
    return c.sqrt() + (absa * a.sqrt()).sum(), a, c


def _dual_grad(a: Tensor, c: Tensor, W: Tensor, absa: Tensor, g: Tensor) -> Tensor:
    sa, sc = a.sqrt(), c.sqrt()
    floor = 1e-12 * max(float(sa.max()), float(sc), 1e-150)   # a_j → 0 is an infinite slope
    G = (W.T * (absa / (2 * sa.clamp_min(floor)))) @ W
    return G + torch.outer(g, g) / (2 * sc.clamp_min(floor))


def _best_t(a: Tensor, c: Tensor, absa: Tensor) -> Tensor:
    """The minimising ``t`` for a fixed ``Z`` (module docstring); ``inf`` where ``a_j = 0``."""
    h = c.sqrt() + (absa * a.sqrt()).sum()
    return absa * h / (2 * a.sqrt())


def spectral_rho_fixed_t(W: Tensor, alpha: Tensor, t: Tensor) -> float:
    """``φ(t) = λ_max(½ W̄ᵀTW̄ + ggᵀ/(4(1 − s)))`` (``inf`` unless ``s < 1`` and ``t > 0``).

    Args: ``W (m, d)``, ``alpha (m,)`` nonzero, ``t (m,)``; float64 on any device.
    """
    if bool((t <= 0).any()) or not bool(torch.isfinite(t).all()):
        return math.inf
    s = float((alpha ** 2 / (2 * t)).sum())
    if s >= 1:
        return math.inf
    g = W.T @ alpha
    Q = 0.5 * (W.T * t) @ W + torch.outer(g, g) / (4 * (1 - s))
    return float(torch.linalg.eigvalsh(0.5 * (Q + Q.T))[-1])


def lipsdp_dual(W: Tensor, alpha: Tensor, *, tol: float = 1e-6, max_iter: int = 2000,
                verbose: bool = False) -> tuple[float, Tensor, FastInfo]:
    """LipSDP's ``ρ*`` by accelerated projected gradient on its ``d × d`` dual (module docstring).

    Args:
        W: ``(m, d)`` hidden weights without bias, every row nonzero; alpha: ``(m,)``, all nonzero.
            Float64 recommended; the work is ``O(m d²)`` per iteration.
        tol: stop when ``(upper − lower) ≤ tol · lower`` for ρ.
        max_iter: iteration limit (the best primal ``t`` found is returned either way).
        verbose: print the gap every 100 iterations.

    Returns:
        ``(rho_upper, t, info)``: ``rho_upper = φ(t)`` computed in float64 (not yet rounded up;
        use :func:`~torch_lipcvx.bounds.certify_t`), ``t (m,)``, and :class:`FastInfo` with the
        dual bound ``info.lower ≤ ρ*``.
    """
    start = time.perf_counter()
    W = W.to(torch.float64)
    alpha = alpha.to(torch.float64)
    d = W.shape[1]
    absa, g = alpha.abs(), W.T @ alpha
    # scale-free start: the step is in units of Z, the gradient in units of ‖W‖²‖α‖
    Z = torch.eye(d, dtype=W.dtype, device=W.device) / d
    hZ, a, c = _dual_value(Z, W, absa, g)
    Y, tk = Z.clone(), 1.0
    gnorm = float(torch.linalg.matrix_norm(_dual_grad(a, c, W, absa, g)))
    step = 1.0 / max(gnorm, 1e-300)
    best_up, best_t = math.inf, None
    lower, status, k = float(hZ) ** 2 / 4, "max_iter", 0

    def check(a_, c_) -> None:
        nonlocal best_up, best_t
        t = _best_t(a_, c_, absa)
        if bool(torch.isfinite(t).all()):
            up = spectral_rho_fixed_t(W, alpha, t)
            if up < best_up:
                best_up, best_t = up, t

    check(a, c)
    for k in range(1, max_iter + 1):
        hY, aY, cY = _dual_value(Y, W, absa, g)
        G = _dual_grad(aY, cY, W, absa, g)
        for _ in range(60):  # backtracking on the ascent model
            Zn = _project_spectraplex(Y + step * G)
            hn, an, cn = _dual_value(Zn, W, absa, g)
            Dn = Zn - Y
            if float(hn) >= float(hY + (G * Dn).sum() - (Dn * Dn).sum() / (2 * step)) \
                    - 1e-14 * abs(float(hY)):
                break
            step *= 0.5
        if float(hn) < float(hZ):  # not monotone: restart the momentum from Z
            Y, tk = Z.clone(), 1.0
            continue
        tkn = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
        Y = Zn + ((tk - 1) / tkn) * (Zn - Z)
        Z, hZ, tk = Zn, hn, tkn
        step *= 1.25
        lower = max(lower, float(hZ) ** 2 / 4)
        if k % 5 == 0 or k == max_iter:
            check(an, cn)
            if verbose and k % 100 == 0:
                print(f"[torch_lipcvx] lipsdp dual {k:5d}  upper={best_up:.10g}  "
                      f"lower={lower:.10g}", flush=True)
            if best_up - lower <= tol * lower:
                status = "optimal"
                break
    if best_t is None:  # pragma: no cover - the uniform start always gives finite t
        raise RuntimeError("LipSDP dual found no finite multipliers")
    info = FastInfo(status, k, time.perf_counter() - start, best_up, lower, device=str(W.device))
    return best_up, best_t, info


# ------------------------------------------------------------------- interior point for (6), (12)
class PatternBarrier:
    """Primal log-barrier (interior-point) method for programs (6) and (12) with fixed patterns.

    Both programs are, in ``z = (vec W̃, c, extra)`` with ``W̃ (m, d + 1)`` one row per unit,

        min  f₀(z) = (1/n)‖Φ x − y‖² + (β_s/2)‖W̃‖² + (linear term in extra)
        s.t. S = (2D − 1) ∘ (X̃ W̃ᵀ) ≥ 0                    (n × m cone rows)
             (12): ρ I_d − W̄ᵀ M W̄ ⪰ 0, M = T/2 + k²ααᵀ = T P⁻¹ T   (extra = ρ, linear term λρ)
             (6):  ‖w̃_j‖ ≤ τ_j                                (extra = τ, linear term β Σ τ_j)

    with ``Φ = [a_1 D_1 X̃, …, a_m D_m X̃, 1]`` (``a = α`` for (12), ``±1`` for (6)). The first
    constraint is the LMI of (12) after a Schur complement on ``2T − ααᵀ ≻ 0`` (MATH.md §2, spectral
    form); the barrier ``−log det(ρI − W̄ᵀMW̄)`` equals that of the full ``(d + m + 1)`` LMI.

    Newton's method on ``t·f₀ − Σ log S − log det(·) [− Σ log(τ² − ‖w̃‖²)]`` with ``t`` raised by
    ``mu`` until the central-path gap bound ``ν/t`` is below ``tol·|f₀|``, where
    ``ν = n m + d + m + 1 [+ 2m]``. The Newton matrix is ``t·∇²f₀`` (the constant Gram matrix
    ``(2/n)ΦᵀΦ``, accumulated over row chunks) plus the barrier Hessians: block diagonal
    ``X̃ᵀ diag(1/S_j²) X̃`` per unit, the LMI's dense ``(m d + 1)`` block, or the cones' blocks. One
    step costs ``O(n m (d + 1)²)`` plus a Cholesky of size ``m (d + 1) + O(m)``.

    Iterates stay strictly inside every cone, so the returned weights satisfy the patterns exactly
    (every pre-activation keeps its sign), and the start (the current network, nudged into the
    interior) makes the result no worse than it up to the gap bound.

    Args:
        X: ``(n, d)`` inputs; y: ``(n,)``; D: ``(n, m)`` boolean patterns; coef: ``(m,)``.
            All tensors on one device (CPU or CUDA); the work runs there in float64.
        output_bias: whether the output bias c is a free variable.
        chunk: rows per chunk when accumulating ``ΦᵀΦ``.
    """

    def __init__(self, X: Tensor, y: Tensor, D: Tensor, coef: Tensor, *, output_bias: bool,
                 chunk: int = 4096) -> None:
        dt = torch.float64
        dev = X.device
        self.device = dev
        self.n, self.d = X.shape
        self.m = D.shape[1]
        self.p = self.d + 1
        n, m, p = self.n, self.m, self.p
        self.Xt = torch.cat([X.to(dt), torch.ones(n, 1, dtype=dt, device=dev)], 1)
        self.y = y.to(dt)
        self.D = D.to(torch.bool)
        self.coef = coef.to(dt)
        self.output_bias = bool(output_bias)
        self.nw = m * p + 1          # c always has a column; it is frozen when not free
        gram = torch.zeros(self.nw, self.nw, dtype=dt, device=dev)
        rhs = torch.zeros(self.nw, dtype=dt, device=dev)
        for lo in range(0, n, chunk):
            Xc, Dc, yc = self.Xt[lo:lo + chunk], self.D[lo:lo + chunk], self.y[lo:lo + chunk]
            Phi = ((Dc.to(dt) * self.coef)[:, :, None] * Xc[:, None, :]).reshape(len(Xc), m * p)
            Phi = torch.cat([Phi, torch.ones(len(Xc), 1, dtype=dt, device=dev)], 1)
            gram += Phi.T @ Phi
            rhs += Phi.T @ yc
        self.H = gram * (2.0 / n)
        self.q = rhs * (2.0 / n)
        self.yy = float(self.y @ self.y) / n
        self.outer = (self.Xt[:, :, None] * self.Xt[:, None, :]).reshape(n, p * p)

    # -------------------------------------------------------------------------------- helpers
    def cone_rows(self, W: Tensor) -> Tensor:
        """``S = (2D − 1) ∘ (X̃ W̃ᵀ)`` ``(n, m)``: all ≥ 0 iff ``W̃`` has the patterns D."""
        Z = self.Xt @ W.T
        return torch.where(self.D, Z, -Z)

    def _cone_T(self, R: Tensor) -> Tensor:
        return (self.Xt.T @ torch.where(self.D, R, -R)).T

    def least_squares(self, x: Tensor) -> float:
        """``(1/n)‖Φx − y‖²`` (the MSE of the convex model) from the Gram matrix."""
        return float(0.5 * x @ (self.H @ x) - self.q @ x + self.yy)

    def interior_start(self, W: Tensor) -> Tensor:
        """Nudge each unit's bias so that every cone row is strictly positive.

        A feasible ``W̃`` (patterns of its own) may have rows with ``x̃ᵀw̃ = 0`` exactly (dead or
        zero units); adding ``ε_j`` to the bias, half the smallest margin of the inactive rows,
        makes them active-positive without flipping any inactive row.
        """
        S = self.cone_rows(W)
        if bool((S > 0).all()):
            return W
        if bool((S < 0).any()):
            raise ValueError("the start point does not have the given activation patterns")
        W = W.clone()
        scale = float(self.Xt.abs().max()) * max(float(W.abs().max()), 1e-3)
        for j in torch.nonzero((S <= 0).any(0))[:, 0].tolist():
            off = S[:, j][~self.D[:, j]]
            eps = 0.5 * float(off.min()) if off.numel() else scale
            W[j, -1] += eps if eps > 0 else 1e-8 * scale
        if not bool((self.cone_rows(W) > 0).all()):
            raise ValueError("could not find a strictly feasible start for the pattern cones")
        return W

    def model_mse(self, W: Tensor, c: Optional[Tensor]) -> float:
        """``(1/n)‖Σ_j a_j D_j X̃ w̃_j + c − y‖²`` computed from the residual (no cancellation)."""
        Z = torch.where(self.D, self.Xt @ W.T, torch.zeros((), dtype=W.dtype, device=W.device))
        out = Z @ self.coef + (c if c is not None else 0.0)
        return float(((out - self.y) ** 2).mean())

    # ------------------------------------------------------------------------ the IPM engine
    def _ipm(self, z0: Tensor, *, Hf: Tensor, bf: Tensor, units: Optional[Tensor],
             other: "_Part", tol: float, max_iter: int, verbose: bool, label: str,
             free: Tensor) -> tuple[Tensor, FastInfo]:
        """Primal–dual interior point (Mehrotra predictor–corrector) for the cone rows.

        Minimises ``f₀(z) = ½ zᵀHf z − bfᵀz`` subject to ``S(z) = cone rows > 0`` (duals
        ``Λ ≥ 0`` of the same ``(n, m)`` shape) and the constraint of ``other`` (the LMI of (12),
        primal–dual with a ``d × d`` dual matrix, or the second-order cones of (6), by their
        barrier). Iterates stay strictly feasible: ``S = G z`` exactly, fraction to the boundary
        0.99, backtracking for ``other``. Stops when the complementarity gap is below
        ``tol·|f₀|`` and the stationarity residual below ``√tol`` relative.
        """
        start = time.perf_counter()
        z = z0.clone()
        fi = torch.nonzero(free)[:, 0]
        nf = fi.numel()
        eye = torch.eye(nf, dtype=z.dtype, device=z.device)
        m, p = self.m, self.p
        mask = units if units is not None else torch.ones(m, dtype=torch.bool, device=z.device)
        ncone = int(mask.sum()) * self.n
        maskf = mask.to(z.dtype)[None, :]

        def rows(v: Tensor) -> Tensor:
            S = self.cone_rows(v[: m * p].reshape(m, p))
            return torch.where(mask[None, :], S, torch.ones((), dtype=S.dtype, device=S.device))

        def lift(R: Tensor) -> Tensor:
            out = torch.zeros_like(z)
            out[: m * p] = self._cone_T(R * maskf).reshape(-1)
            return out

        def max_step(v: Tensor, dv: Tensor) -> float:
            neg = dv < 0
            if not bool(neg.any()):
                return 1.0
            return min(1.0, float((-v[neg] / dv[neg]).min()))

        S = rows(z)
        f_scale = max(abs(float(0.5 * z @ (Hf @ z) - bf @ z)), 1e-12)
        mu = f_scale / max(ncone + other.nu, 1.0)
        Lam = mu / S * maskf
        Y = other.init_dual(z, mu)
        g_scale = max(float((Hf @ z - bf)[fi].abs().max()), 1e-12)
        status, k, gap, res = "max_iter", 0, math.inf, math.inf
        for k in range(1, max_iter + 1):
            gf = Hf @ z - bf
            Hc = ((Lam / S).T @ self.outer).reshape(m, p, p)
            K = Hf + other.hessian(z, Y, mu)
            K[: m * p, : m * p] += torch.block_diag(*Hc)
            Lc = _cholesky_ridge(K[fi[:, None], fi[None, :]], eye)
            if Lc is None:      # numerically singular at the very end: keep the current point
                status = "stalled"
                break

            def direction(target: float, corr: Optional[Tensor]):
                top = target - (corr if corr is not None else 0.0)
                rhs = -gf + lift(top / S) + other.rhs(z, Y, target, mu)
                dz = torch.zeros_like(z)
                dz[fi] = torch.cholesky_solve(rhs[fi][:, None], Lc)[:, 0]
                dS = (rows(z + dz) - S) * maskf
                dL = (top - S * Lam - Lam * dS) / S * maskf
                return dz, dS, dL, other.dual_step(z, dz, Y, target, mu)

            dz, dS, dL, dY = direction(0.0, None)                   # predictor (affine)
            a_aff = min(max_step(S, dS), max_step(Lam, dL), other.max_dual_step(Y, dY))
            mu_aff = float(((S + a_aff * dS) * (Lam + a_aff * dL)).sum()) / max(ncone, 1)
            sigma = min(max((mu_aff / mu) ** 3, 1e-4), 0.9)
            dz, dS, dL, dY = direction(sigma * mu, dS * dL)         # corrector
            a = 0.99 * min(max_step(S, dS), max_step(Lam, dL), other.max_dual_step(Y, dY))
            while a > 1e-14 and not other.feasible(z + a * dz):
                a *= 0.8
            z = z + a * dz
            Lam = torch.clamp(Lam + a * dL, min=1e-300) * maskf
            Y = other.update_dual(Y, dY, a)
            S = rows(z)
            gap = float((S * Lam).sum()) + other.gap(z, Y, mu)
            mu = max(gap / max(ncone + other.nu, 1.0), 1e-300)
            res = (Hf @ z - bf) - lift(Lam) - other.adjoint(z, Y, mu)
            res = float(res[fi].abs().max())
            f_now = float(0.5 * z @ (Hf @ z) - bf @ z)
            infeas = other.infeasibility(z, Y)
            if verbose:
                print(f"[torch_lipcvx] {label} ipm {k:3d}  f={f_now + self.yy:.10g}  gap={gap:.2e}  "
                      f"res={res:.1e}  infeas={infeas:.1e}  step={a:.3f}", flush=True)
            small = gap <= tol * max(abs(f_now + self.yy), 1e-12) and infeas <= tol
            if small and (res <= math.sqrt(tol) * max(g_scale, 1.0) or a < 1e-3):
                status = "optimal"
                break
            if a < 1e-10 or k == max_iter:   # no more progress in float64: keep the point
                loose = math.sqrt(tol) * 1e-3                 # 3e-8 for tol = 1e-9
                ok = gap <= loose * max(abs(f_now + self.yy), 1e-12) and infeas <= loose
                status = "optimal" if (small or ok) else ("stalled" if a < 1e-10 else "max_iter")
                break
        info = FastInfo(status, k, time.perf_counter() - start, math.nan, -gap,
                        device=str(z.device))
        info.dual_residual = res
        return z, info

    def _flat_units(self, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """Units whose bias has a flat direction when β = 0 (boolean ``(m,)`` masks).

        ``off``: units that fire on no row. Their bias appears only in their own cone rows
        ``X w̄_j + b_j ≤ 0``, which some bias always satisfies: the rows and the bias leave the
        program and ``b_j`` is chosen afterwards. ``on``: units that fire on every row, when the
        output has a free constant (the output bias c, or always-on units of both signs). Their
        biases enter f only through ``Σ_j α_j b_j + c`` and their rows ``X w̄_j + b_j ≥ 0`` only
        bound ``b_j`` below, so the same holds with the constant absorbing the change. Without
        this the barrier problem has a direction of recession with a constant objective.
        """
        on = self.D.all(0)
        off = ~self.D.any(0)
        both = bool((alpha[on] > 0).any()) and bool((alpha[on] < 0).any())
        if not (self.output_bias or both):
            on = torch.zeros_like(on)
        return on, off

    def _restore_biases(self, W: Tensor, c: Tensor, W0: Tensor, alpha: Tensor, on: Tensor,
                        off: Tensor) -> tuple[Tensor, Tensor]:
        """Choose the biases of the eliminated units (see :meth:`_flat_units`), keeping each
        unit's original margin, and put the change of ``Σ α_j b_j`` into the constant."""
        W = W.clone()
        Xw = self.Xt[:, :-1] @ W[:, :-1].T
        S0 = self.cone_rows(W0)
        tiny = 1e-9 * float(self.Xt.abs().max()) * max(float(W.abs().max()), 1e-12)
        for j in torch.nonzero(off)[:, 0].tolist():
            margin = max(float(S0[:, j].min()), tiny)
            W[j, -1] = -Xw[:, j].max() - margin
        shift = W.new_zeros(())
        for j in torch.nonzero(on)[:, 0].tolist():
            margin = max(float(S0[:, j].min()), tiny)
            b = torch.maximum(W0[j, -1], -Xw[:, j].min() + margin)
            shift = shift + alpha[j] * (b - W0[j, -1])
            W[j, -1] = b
        offset = c - shift        # what the constant must still contribute
        if self.output_bias:
            return W, offset
        if float(offset) != 0.0 and bool(on.any()):
            sign = 1.0 if float(offset) > 0 else -1.0
            j = int(torch.nonzero(on & (torch.sign(alpha) == sign))[0])
            W[j, -1] = W[j, -1] + offset / alpha[j]
        return W, W.new_zeros(())

    def _quadratic(self, N: int, beta: float, lin_extra: Tensor) -> tuple[Tensor, Tensor]:
        """``Hf, bf`` of ``f₀ = MSE + (β/2)‖W̃‖² + lin_extra·extra`` (up to a constant)."""
        dt, dev = torch.float64, self.device
        m, p, nw = self.m, self.p, self.nw
        Hf = torch.zeros(N, N, dtype=dt, device=dev)
        Hf[:nw, :nw] = self.H
        bf = torch.zeros(N, dtype=dt, device=dev)
        bf[:nw] = self.q
        i = torch.arange(m * p, device=dev)
        Hf[i, i] += beta
        bf[nw:] -= lin_extra
        return Hf, bf

    def _start(self, W0: Tensor, c0: Optional[Tensor], extra: Tensor) -> Tensor:
        c = c0.to(W0) if (c0 is not None and self.output_bias) else W0.new_zeros(())
        parts = [W0.reshape(-1), c.reshape(1), extra.reshape(-1)]
        return torch.cat(parts)

    def _unpack(self, z: Tensor) -> tuple[Tensor, Optional[Tensor], Tensor]:
        m, p, nw = self.m, self.p, self.nw
        return z[: m * p].reshape(m, p), z[nw - 1], z[nw:]

    # ---------------------------------------------------------------------------- (12)
    def solve_restriction(self, alpha: Tensor, t: Tensor, lam: float, beta: float, W0: Tensor,
                          c0: Optional[Tensor] = None, *, tol: float = 1e-9,
                          max_iter: int = 200, verbose: bool = False
                          ) -> tuple[Tensor, Optional[Tensor], float, FastInfo]:
        """Program (12) for ``T = diag(t)``; ``coef`` must be ``alpha``.

        Args:
            alpha: ``(m,)`` nonzero outer weights; t: ``(m,)`` with ``Σ_j α_j²/(2t_j) < 1``.
            lam: λ > 0; beta: β ≥ 0 (the term ``(β/2)‖W̃‖²``).
            W0: ``(m, d + 1)`` the current network (it has the patterns); c0: its output bias.
            tol: stop when the central-path gap bound is below ``tol`` relative.

        Returns:
            ``(W̃, c, ρ, info)``; every cone row of ``W̃`` is strictly positive, ``ρ`` is
            ``λ_max(W̄ᵀMW̄)`` at the returned point (the LMI's smallest ρ for this t) and
            ``info.value`` the program's objective there, ``info.lower`` a lower bound on the
            optimum (``value − ν/t``).
        """
        dt, dev = torch.float64, self.device
        m, p, d, nw = self.m, self.p, self.d, self.nw
        alpha, t = alpha.to(dev, dt), t.to(dev, dt)
        s = float((alpha ** 2 / (2 * t)).sum())
        if bool((t <= 0).any()) or s >= 1:
            raise ValueError("t must certify the current network (2T - alpha alpha^T > 0)")
        Mt = torch.diag(t / 2) + torch.outer(alpha, alpha) / (4 * (1 - s))
        N = nw + 1
        W0 = self.interior_start(W0.to(dev, dt))
        Hf, bf = self._quadratic(N, beta, torch.tensor([float(lam)], dtype=dt, device=dev))
        on, off = self._flat_units(alpha) if beta == 0 else (torch.zeros(m, dtype=torch.bool,
                                                                          device=dev),) * 2
        keep = ~(on | off)
        free = torch.ones(N, dtype=torch.bool, device=dev)
        free[torch.nonzero(~keep)[:, 0] * p + d] = False
        free[nw - 1] = self.output_bias or bool(on.any())
        units = None if bool(keep.all()) else keep
        lmi = _LMIPart(Mt, m, p, d, N)

        Wb0 = W0[:, :d]
        rho0 = float(torch.linalg.eigvalsh(Wb0.T @ Mt @ Wb0)[-1])
        rho0 = rho0 * (1 + 1e-2) + 1e-9 * max(rho0, 1.0)
        z0 = self._start(W0, c0, W0.new_tensor([rho0]))
        z, info = self._ipm(z0, Hf=Hf, bf=bf, units=units, other=lmi, tol=tol, max_iter=max_iter,
                            verbose=verbose, label="(12)", free=free)
        W, c, _ = self._unpack(z)
        if units is not None:
            W, c = self._restore_biases(W, c, W0, alpha, on, off)
        c = c if self.output_bias else None
        Wb = W[:, :d]
        rho = float(torch.linalg.eigvalsh(Wb.T @ Mt @ Wb)[-1])
        info.value = self.model_mse(W, c) + 0.5 * beta * float((W * W).sum()) + lam * rho
        info.lower = info.value + info.lower
        return W, c, rho, info

    # ----------------------------------------------------------------------------- (6)
    def solve_l2(self, beta: float, V0: Tensor, c0: Optional[Tensor] = None, *, tol: float = 1e-9,
                 max_iter: int = 200, verbose: bool = False
                 ) -> tuple[Tensor, Optional[Tensor], FastInfo]:
        """Program (6); ``coef`` are the slot signs σ_j.

        Args:
            beta: β > 0 (the term ``β Σ_j ‖v_j‖₂``; with β = 0 the program has flat directions
                and the cvxpy path is used instead).
            V0: ``(m, d + 1)`` a point with the patterns (e.g. ``|α_j| w̃_j``); c0: output bias.

        Returns:
            ``(V, c, info)`` with every cone row strictly positive.
        """
        if not beta > 0:
            raise ValueError("the barrier solver for program (6) needs beta > 0")
        dt, dev = torch.float64, self.device
        m, p, nw = self.m, self.p, self.nw
        N = nw + m
        V0 = self.interior_start(V0.to(dev, dt))
        Hf, bf = self._quadratic(N, 0.0, torch.full((m,), float(beta), dtype=dt, device=dev))
        free = torch.ones(N, dtype=torch.bool, device=dev)
        free[nw - 1] = self.output_bias
        soc = _SOCPart(m, p, nw, N, dt, dev)

        tau0 = torch.linalg.vector_norm(V0, dim=1) * (1 + 1e-2) + 1e-9 * max(float(V0.abs().max()), 1.0)
        z0 = self._start(V0, c0, tau0)
        z, info = self._ipm(z0, Hf=Hf, bf=bf, units=None, other=soc, tol=tol, max_iter=max_iter,
                            verbose=verbose, label="(6)", free=free)
        V, c, _ = self._unpack(z)
        c = c if self.output_bias else None
        info.value = self.model_mse(V, c) + beta * float(torch.linalg.vector_norm(V, dim=1).sum())
        info.lower = info.value + info.lower
        return V, c, info


# ----------------------------------------------------------------- the non-polyhedral constraints
class _Part:
    """A constraint handled next to the cone rows in :meth:`PatternBarrier._ipm`."""

    nu: float = 0.0

    def feasible(self, z: Tensor) -> bool: ...
    def init_dual(self, z: Tensor, mu: float): ...
    def hessian(self, z: Tensor, Y, mu: float) -> Tensor: ...
    def rhs(self, z: Tensor, Y, target: float, mu: float) -> Tensor: ...
    def dual_step(self, z: Tensor, dz: Tensor, Y, target: float, mu: float): ...
    def max_dual_step(self, Y, dY) -> float: ...
    def update_dual(self, Y, dY, a: float): ...
    def gap(self, z: Tensor, Y, mu: float) -> float: ...
    def infeasibility(self, z: Tensor, Y) -> float:
        return 0.0
    def adjoint(self, z: Tensor, Y, mu: float) -> Tensor: ...


class _LMIPart(_Part):
    """``F(z) = ρ I − W̄ᵀ M W̄ ⪰ 0`` through a slack ``Σ = F(z)``, ``Σ ≻ 0``, with dual ``Z``.

    Primal–dual (HKM direction) in ``(Σ, Z)``: the equality ``F(z) − Σ = 0`` is linearised, so
    the quadratic term of F never blocks a step (its residual shrinks by ``(1 − a)`` per step up
    to ``O(a²)``). ``A*(Z)``, the adjoint of ``DF``, is ``(tr Z, −2 M W̄ Z)``; the Newton matrix
    gets ``2 (M ⊗ Z)`` (the curvature of F) plus ``tr(Σ⁻¹ dF Z dF)``.
    """

    def __init__(self, Mt: Tensor, m: int, p: int, d: int, N: int) -> None:
        self.Mt, self.m, self.p, self.d, self.N = Mt, m, p, d, N
        self.nu = float(d)
        dev = Mt.device
        self.wbar = torch.nonzero((torch.arange(p, device=dev) < d).repeat(m))[:, 0]
        self.sel = torch.cat([self.wbar, torch.tensor([N - 1], device=dev)])
        self.eye = torch.eye(d, dtype=Mt.dtype, device=dev)

    def _parts(self, z: Tensor):
        Wb = z[: self.m * self.p].reshape(self.m, self.p)[:, : self.d]
        NW = self.Mt @ Wb
        F = z[-1] * self.eye - Wb.T @ NW
        return Wb, NW, 0.5 * (F + F.T)

    def feasible(self, z: Tensor) -> bool:
        return True

    def init_dual(self, z: Tensor, mu: float):
        Sig = self._parts(z)[2]
        return Sig, mu * _inv_pd(Sig)

    def _lift(self, gW: Tensor, g_rho: Tensor) -> Tensor:
        out = torch.zeros(self.N, dtype=gW.dtype, device=gW.device)
        out[self.wbar] = gW.reshape(-1)
        out[-1] = g_rho
        return out

    def _adj(self, z: Tensor, Z: Tensor) -> Tensor:
        _, NW, _ = self._parts(z)
        return self._lift(-2.0 * NW @ Z, torch.trace(Z))

    def hessian(self, z: Tensor, Y, mu: float) -> Tensor:
        m, d = self.m, self.d
        Sig, Z = Y
        _, NW, _ = self._parts(z)
        R1, R2 = _psd_sqrt(_inv_pd(Sig)), _psd_sqrt(Z)
        # R1 dF R2 = dρ R1R2 − R1 dW̄ᵀ N R2 − R1 Nᵀ dW̄ R2, as a (d², m d + 1) matrix
        J = torch.einsum("ak,jb->abjk", R1, NW @ R2) + torch.einsum("ja,kb->abjk", NW @ R1, R2)
        J = torch.cat([-J.reshape(d * d, m * d), (R1 @ R2).reshape(d * d, 1)], 1)
        HL = J.T @ J
        HL[: m * d, : m * d] += 2.0 * torch.kron(self.Mt, Z.contiguous())
        H = torch.zeros(self.N, self.N, dtype=Z.dtype, device=Z.device)
        H[self.sel[:, None], self.sel[None, :]] = HL
        return H

    def rhs(self, z: Tensor, Y, target: float, mu: float) -> Tensor:
        Sig, Z = Y
        Si = _inv_pd(Sig)
        rF = self._parts(z)[2] - Sig
        T = Si @ rF @ Z
        return self._adj(z, target * Si - 0.5 * (T + T.T))

    def dual_step(self, z: Tensor, dz: Tensor, Y, target: float, mu: float):
        Sig, Z = Y
        _, NW, F = self._parts(z)
        dWb = dz[: self.m * self.p].reshape(self.m, self.p)[:, : self.d]
        dSig = dz[-1] * self.eye - dWb.T @ NW - NW.T @ dWb + (F - Sig)
        Si = _inv_pd(Sig)
        T = Si @ dSig @ Z
        return dSig, target * Si - Z - 0.5 * (T + T.T)

    def max_dual_step(self, Y, dY) -> float:
        return min(_max_psd_step(Y[0], dY[0]), _max_psd_step(Y[1], dY[1]))

    def update_dual(self, Y, dY, a: float):
        S = Y[0] + a * dY[0]
        Z = Y[1] + a * dY[1]
        return 0.5 * (S + S.T), 0.5 * (Z + Z.T)

    def gap(self, z: Tensor, Y, mu: float) -> float:
        return float((Y[0] * Y[1]).sum())

    def infeasibility(self, z: Tensor, Y) -> float:
        """``‖F(z) − Σ‖`` relative to ``‖F(z)‖``."""
        F = self._parts(z)[2]
        return float(torch.linalg.matrix_norm(F - Y[0])) / max(float(torch.linalg.matrix_norm(F)), 1e-300)

    def adjoint(self, z: Tensor, Y, mu: float) -> Tensor:
        return self._adj(z, Y[1])


def _cholesky_ridge(K: Tensor, eye: Tensor) -> Optional[Tensor]:
    """Cholesky factor of ``K``, adding a growing ridge (1e-14 … 1e-8 of its diagonal) if needed."""
    L, info = torch.linalg.cholesky_ex(K)
    scale = float(torch.diagonal(K).abs().max())
    ridge = 1e-14
    while int(info) != 0 and ridge <= 1e-8:
        L, info = torch.linalg.cholesky_ex(K + ridge * scale * eye)
        ridge *= 100
    return L if int(info) == 0 else None


def _inv_pd(A: Tensor) -> Tensor:
    ev, Q = torch.linalg.eigh(0.5 * (A + A.T))
    return (Q / ev.clamp_min(torch.finfo(A.dtype).tiny)) @ Q.T


def _max_psd_step(A: Tensor, dA: Tensor) -> float:
    """Largest ``a ≤ 1`` with ``A + a dA ⪰ 0`` (A ≻ 0; 0 if A has lost definiteness)."""
    ev, Q = torch.linalg.eigh(0.5 * (A + A.T))
    if float(ev.min()) <= 0:
        return 0.0
    Li = Q / ev.sqrt()
    lo = float(torch.linalg.eigvalsh(Li.T @ (0.5 * (dA + dA.T)) @ Li).min())
    return 1.0 if lo >= 0 else min(1.0, -1.0 / lo)


class _SOCPart(_Part):
    """``‖v_j‖ ≤ τ_j`` for every unit, by the barrier ``−Σ log(τ_j² − ‖v_j‖²)`` with weight μ."""

    def __init__(self, m: int, p: int, nw: int, N: int, dtype, device) -> None:
        self.m, self.p, self.nw, self.N = m, p, nw, N
        self.nu = float(2 * m)
        self.eye = torch.eye(p, dtype=dtype, device=device)
        self.rows = torch.arange(m * p, device=device)
        self.cols = nw + torch.arange(m, device=device).repeat_interleave(p)
        self.tt = nw + torch.arange(m, device=device)

    def _vt(self, z: Tensor):
        V = z[: self.m * self.p].reshape(self.m, self.p)
        tau = z[self.nw:]
        return V, tau, tau ** 2 - (V * V).sum(1)

    def feasible(self, z: Tensor) -> bool:
        _, tau, q = self._vt(z)
        return bool((q > 0).all()) and bool((tau > 0).all())

    def init_dual(self, z: Tensor, mu: float):
        return None

    def _grad(self, z: Tensor) -> Tensor:
        V, tau, q = self._vt(z)
        g = torch.zeros(self.N, dtype=z.dtype, device=z.device)
        g[: self.m * self.p] = (2 * V / q[:, None]).reshape(-1)
        g[self.nw:] = -2 * tau / q
        return g

    def hessian(self, z: Tensor, Y, mu: float) -> Tensor:
        V, tau, q = self._vt(z)
        H = torch.zeros(self.N, self.N, dtype=z.dtype, device=z.device)
        q2 = q ** 2
        H[: self.m * self.p, : self.m * self.p] = torch.block_diag(
            *(2 * self.eye / q[:, None, None] + 4 * V[:, :, None] * V[:, None, :] / q2[:, None, None]))
        cross = (-4 * tau[:, None] * V / q2[:, None]).reshape(-1)
        H[self.rows, self.cols] = cross
        H[self.cols, self.rows] = cross
        H[self.tt, self.tt] = -2 / q + 4 * tau ** 2 / q2
        return mu * H

    def rhs(self, z: Tensor, Y, target: float, mu: float) -> Tensor:
        return -mu * self._grad(z)

    def dual_step(self, z, dz, Y, target, mu):
        return None

    def max_dual_step(self, Y, dY) -> float:
        return 1.0

    def update_dual(self, Y, dY, a):
        return None

    def gap(self, z: Tensor, Y, mu: float) -> float:
        return self.nu * mu

    def adjoint(self, z: Tensor, Y, mu: float) -> Tensor:
        return -mu * self._grad(z)


def _psd_sqrt(A: Tensor) -> Tensor:
    ev, Q = torch.linalg.eigh(0.5 * (A + A.T))
    return (Q * ev.clamp_min(0).sqrt()) @ Q.T
