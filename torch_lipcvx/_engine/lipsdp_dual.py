"""LipSDP by its dual (docs/lipsdp.md, docs/solvers.md): the torch solvers of ``solver="auto"``
and ``"torch"`` for the certificate. No cvxpy; float64 on the device of the data (CPU or CUDA,
same code); the caller re-verifies the multipliers exactly, so the guarantees do not rest on
the solvers' accuracy. (Its counterpart for programs (6) and (12) is :mod:`.barrier`.)

With ``P = 2T − ααᵀ ≻ 0`` (Sherman–Morrison, see
:class:`~torch_lipcvx._engine.programs.LipSDPProgram`)

    φ(t) = λ_max(½ Σ_j t_j w̄_j w̄_jᵀ + g gᵀ / (4(1 − s))),   g = W̄ᵀα,  s = Σ_j α_j²/(2t_j) < 1,

and ``ρ* = min_t φ(t)``. Writing ``λ_max(Q) = max{⟨Q, Z⟩ : Z ⪰ 0, tr Z = 1}`` and swapping min and
max (Sion: convex in t, linear in Z, the spectraplex is compact), the inner minimum over t has a
closed form (Lagrange on ``s_j = α_j²/(2t_j)``): for ``a_j = w̄_jᵀ Z w̄_j`` and ``c = gᵀ Z g``

    min_t ⟨Q(t), Z⟩ = ¼ (√c + Σ_j |α_j| √a_j)²,  attained at  t_j = |α_j| (√c + Σ_l |α_l|√a_l) /
    (2√a_j).

So ``L* = √ρ* = max_{Z ⪰ 0, tr Z = 1} ½ (√(gᵀZg) + Σ_j |α_j| √(w̄_jᵀ Z w̄_j))``: a concave
maximisation over ``d × d`` matrices, whatever m. (For rank-one ``Z = vvᵀ`` with ``gᵀv ≥ 0`` the
value is ``Σ_j relu(α_j w̄_jᵀ v)``, the directional derivative of f for the pattern picked by v:
LipSDP is exactly the relaxation of rank one to ``Z ⪰ 0``.) Two methods maximise it and turn an
iterate Z into the primal ``t(Z)`` above; both stop when the primal value ``φ(t)`` (an upper bound,
evaluated exactly) and the dual value ``h(Z)²/4`` (a lower bound on ``ρ*``) agree to ``tol``:

* :func:`lipsdp_newton` (the default of ``solver="auto"``/``"torch"`` whenever its Newton system
  has at most :data:`NEWTON_MAX_SYSTEM` rows): a barrier method, ``max h(Z) + μ log det Z`` over
  ``tr Z = 1`` by Newton. On the central path ``Q(t(Z)) ⪯ (h/2)(νI − μZ⁻¹)``, so the certified
  gap is at most ``2μd/h`` relative and closes linearly in μ: 1e-9 in 35–70 Newton steps. The
  Newton matrix is solved in the ``d(d+1)/2`` coordinates of Z (0.03–0.15 s on servo, wine and
  random nets with m = 100…1000, d = 4…11) or, when cheaper (d > 32, m + 1 < d(d+1)/2), through
  the ``(m + 1) × (m + 1)`` Schur-complement matrix of Woodbury's formula (random nets, one core:
  d = 50, m = 100: 0.2 s; d = 100, m = 1000: ~2 s; gaps 4e-10 to 7e-9).
* :func:`lipsdp_dual`: accelerated projected gradient (projection onto the spectraplex = one
  ``d × d`` eigendecomposition), ``O(m d²)`` per iteration, for networks too large for Newton;
  its primal converges slowly (a 1e-6 gap can take thousands of iterations).

The caller re-verifies ``t`` exactly (:func:`~torch_lipcvx.bounds.certify_t`).
"""


from __future__ import annotations

import math
import time
from typing import Optional

import torch
from torch import Tensor

from .._checks import check_nonneg, check_positive, check_positive_int
from ..solvers import SolveRecord

__all__ = [
    "FastInfo",
    "lipsdp_dual",
    "rho_from_dual",
    "lipsdp_newton",
    "NEWTON_MAX_SYSTEM",
    "newton_system",
    "spectral_rho_fixed_t",
]

#: The record of a torch solve (the one record type, :class:`torch_lipcvx.solvers.SolveRecord`):
#: ``status`` is ``"optimal"`` (tolerances met), ``"max_iter"``, ``"stalled"`` (no more progress in
#: float64, or a numerically singular Newton matrix) or ``"screened_partial"`` (row screening ran
#: out of rounds), the result being feasible either way; ``value`` the objective of the returned
#: point (for LipSDP ``φ(t)`` at the returned ``t``, an upper bound on ρ* up to rounding: certify it
#: with :func:`~torch_lipcvx.bounds.certify_t`); ``lower`` LipSDP's dual value (``value − gap``
#: for the interior point); ``dual`` LipSDP's dual matrix ``Z ⪰ 0`` (``d × d``, ``tr Z = 1``) at
#: which ``lower = h(Z)²/4`` was attained, ρ*'s gradient by Danskin's theorem
#: (:func:`rho_from_dual`).
FastInfo = SolveRecord


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


def rho_from_dual(W: Tensor, alpha: Tensor, Z: Tensor) -> Tensor:
    """LipSDP's dual value ``h(Z)²/4`` at a fixed ``Z``, differentiable in ``W`` and ``alpha``.

    ``h(Z) = √(gᵀZg) + Σ_j |α_j| √(w̄_jᵀZw̄_j)`` with ``g = W̄ᵀα`` (module docstring). For any
    ``Z ⪰ 0`` with ``tr Z = 1`` this is a lower bound on ``ρ*(W̄, α)``; at the optimal ``Z*`` it
    equals ρ* and, ρ* being the maximum over Z of a function smooth in ``(W̄, α)``, its gradient
    with Z held fixed is ρ*'s gradient wherever ρ* is differentiable (Danskin's theorem; where
    the optimal Z is not unique, it is a subgradient of the concave-in-Z envelope). Units with
    ``α_j = 0`` or ``w̄_j = 0`` are removed (zero gradient, also through ``g``): ρ* has a kink
    there, and zero is the one-sided derivative on its flat side, as
    :class:`~torch_lipcvx.layers.LipSDPLayer` chooses.

    Args:
        W: ``(m, d)`` hidden weights without bias; alpha: ``(m,)``; Z: ``(d, d)`` (not
            differentiated). All on one device; the result has ``W``'s dtype.

    Returns:
        A 0-d tensor, ``ρ`` in output units² per input unit².
    """
    Z = Z.to(device=W.device, dtype=W.dtype)
    live = ((alpha != 0) & (W != 0).any(1)).detach()
    W = torch.where(live[:, None], W, torch.zeros_like(W))       # removed: zero gradient
    alpha = torch.where(live, alpha, torch.zeros_like(alpha))
    a = ((W @ Z) * W).sum(1)
    on = (alpha != 0) & (a > 0)
    sa = torch.where(on, a, torch.ones_like(a)).sqrt()
    h = (alpha.abs() * torch.where(on, sa, torch.zeros_like(sa))).sum()
    g = W.T @ alpha
    c = g @ Z @ g
    if float(c.detach()) > 0:
        h = h + c.sqrt()
    return h * h / 4


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


def _off_boundary(W: Tensor, alpha: Tensor, t: Tensor, margin: float) -> tuple[float, Tensor]:
    """The best ``k·t`` (``k ≥ 1``) with ``s(k t) ≤ 1 − margin``, and its ``φ``.

    ``φ(k t) = λ_max(k A + G/(1 − s/k))`` trades the two terms; ``t`` from the dual sits on (or
    just off) the boundary ``s = 1`` when ``g = W̄ᵀα`` is (nearly) zero. A few ``k`` just above
    the smallest admissible one are tried; the first term grows like k, so this costs at most
    ~``margin`` relative when ``t`` itself is interior.
    """
    s = float((alpha ** 2 / (2 * t)).sum())
    k0 = max(1.0, s / (1.0 - margin))
    best = (spectral_rho_fixed_t(W, alpha, k0 * t), k0 * t) if s < 1 - margin else (math.inf, t)
    if s > 1 - 1e-6:
        for p in (14, 12, 10, 9, 8, 7, 6):
            kt = k0 * (1 + 10.0 ** -p) * t
            val = spectral_rho_fixed_t(W, alpha, kt)
            if val < best[0]:
                best = (val, kt)
    return best


def _check_units(W: Tensor, alpha: Tensor, who: str) -> tuple[Tensor, Tensor]:
    """``(W, alpha)`` in float64 after checking what the LipSDP methods need."""
    if W.dim() != 2 or alpha.shape != (W.shape[0],):
        raise ValueError(f"{who} needs W (m, d) and alpha (m,), got shapes {tuple(W.shape)} and "
                         f"{tuple(alpha.shape)}")
    W, alpha = W.to(torch.float64), alpha.to(torch.float64)
    if not (bool(torch.isfinite(W).all()) and bool(torch.isfinite(alpha).all())):
        raise ValueError(f"{who}: W or alpha contains NaN/Inf")
    if W.shape[0] == 0 or bool((alpha == 0).any()) or bool((W.abs().sum(1) == 0).any()):
        raise ValueError(f"{who} needs at least one unit, every alpha_j != 0 and every "
                         "row of W nonzero")
    return W, alpha


#: The Newton systems of :func:`lipsdp_newton`: ``"svec"`` solves the ``n × n`` Newton matrix in
#: the ``n = d(d+1)/2`` coordinates of Z; ``"lowrank"`` solves, by Woodbury, a ``k × k`` system with
#: ``k = m + 1`` (the Hessian of h is a sum of ``k`` rank-one terms ``w̄_jw̄_jᵀ ⊗ w̄_jw̄_jᵀ`` and
#: the barrier's ``μ Z⁻¹ ⊗ Z⁻¹`` is inverted in closed form, ``X ↦ ZXZ/μ``).
NEWTON_SYSTEMS = ("auto", "svec", "lowrank")
#: Largest Newton system (``min(n, k)``, see :func:`newton_system`) for which ``solver="auto"``/
#: ``"torch"`` use :func:`lipsdp_newton` (else :func:`lipsdp_dual`): about 3·4000² float64 numbers
#: (0.4 GB) and ~2e10 flops per step (~0.5 s on one core; 40–60 steps).
NEWTON_MAX_SYSTEM = 4000
#: Rounds of iterative refinement of the ``"lowrank"`` Newton solve (stopped once the residual
#: stops halving).
NEWTON_REFINE = 6
#: Up to this ``n = d(d+1)/2`` (d ≤ 32) :func:`newton_system` keeps the ``"svec"`` system, which
#: reaches a 1e-9 gap where the Woodbury solve's cancellation can stop ``"lowrank"`` at ~1e-8.
NEWTON_SVEC_MIN = 528


def newton_system(m: int, d: int) -> tuple[str, int, float, float]:
    """The cheaper Newton system of :func:`lipsdp_newton` for ``m`` units and ``d`` inputs.

    Returns:
        ``(system, size, flops, nbytes)``: ``"svec"`` or ``"lowrank"``, the order of the matrix
        factorised each step (``n = d(d+1)/2``, resp. ``k = m + 1``), the flops of one Newton step
        (forming and factorising it) and the bytes of its largest arrays (float64).
    """
    n, k = d * (d + 1) // 2, m + 1
    svec = (m * n * n + n ** 3 / 3 + 4 * n * n * d, 8.0 * (m * n + 5 * n * n))
    low = (k * k * d + k ** 3 / 3 + 2 * (NEWTON_REFINE + 1) * (4 * k * d * d + 6 * d ** 3),
           8.0 * (3 * k * d + 3 * k * k + 10 * d * d))
    if n <= NEWTON_SVEC_MIN or svec[0] <= low[0]:
        return "svec", n, svec[0], svec[1]
    return "lowrank", k, low[0], low[1]


def lipsdp_newton(W: Tensor, alpha: Tensor, *, tol: float = 1e-9, max_iter: int = 200,
                  shrink: float = 0.05, margin: float = 1e-10, system: str = "auto",
                  verbose: bool = False) -> tuple[float, Tensor, FastInfo]:
    """LipSDP's ``ρ*`` by a barrier (interior-point) Newton method on its ``d × d`` dual.

    Maximises ``h(Z) + μ log det Z`` over ``tr Z = 1`` (module docstring) by equality-constrained
    Newton with backtracking and shrinks ``μ`` by ``shrink`` once centred. At a centred point the
    primal ``t(Z)`` satisfies ``φ(t) ≤ h²/4 + μ d h/2`` (the barrier's stationarity gives
    ``Q(t(Z)) ⪯ (h/2)(ν I − μ Z⁻¹)``), so the certified gap closes like μ. The quadratic forms
    ``w̄_jᵀ Z w̄_j = ‖Lᵀw̄_j‖²`` are taken through the Cholesky factor ``Z = LLᵀ`` (relative
    accuracy for units nearly orthogonal to the optimal directions, whose Hessian terms
    ``|α_j|/(4 a_j^{3/2})`` grow large). About 35–60 steps for a 1e-9 gap, whatever m and d.

    The Newton matrix ``K = Σ_j δ_j svec(w̄_jw̄_jᵀ)svec(w̄_jw̄_jᵀ)ᵀ (+ the g term) + μ Z⁻¹ ⊗ Z⁻¹``
    is solved either in the ``n = d(d+1)/2`` coordinates of ``svec(Z)`` (``"svec"``: ``O(m n² +
    n³)`` per step) or by Woodbury through the ``k × k`` matrix ``μ diag(1/δ) + (V Z Vᵀ)∘(V Z Vᵀ)``
    with ``V = [W̄; gᵀ]`` (``"lowrank"``: ``O(k² d + k³)`` per step, ``k = m + 1``), the
    Schur-complement matrix of a standard SDP interior point; ``"auto"`` takes the cheaper
    (:func:`newton_system`), so d = 100 costs what m = 100 costs.

    Args:
        W: ``(m, d)`` hidden weights without bias, every row nonzero; alpha: ``(m,)``, all nonzero.
            Any device; computed in float64.
        tol: stop when ``upper − lower ≤ tol · lower`` for ρ (``upper = φ(t)`` evaluated exactly in
            the reduced form, ``lower = h(Z)²/4`` at a feasible Z).
        max_iter: Newton-step limit.
        shrink: factor applied to μ after each centring.
        margin: the returned t has ``s = Σ α_j²/(2t_j) ≤ 1 − margin`` (off the boundary that
            program (12) needs strictly inside); costs at most ~``margin`` relative in ρ.
        system: ``"auto"``, ``"svec"`` or ``"lowrank"`` (see above).
        verbose: print the gap at each centring.

    Returns:
        ``(rho_upper, t, info)`` as :func:`lipsdp_dual`: ``rho_upper = φ(t)`` (not yet rounded up;
        use :func:`~torch_lipcvx.bounds.certify_t`), ``info.lower ≤ ρ*``, ``info.status``
        ``"optimal"`` (gap ≤ tol), ``"stalled"`` (the gap stopped shrinking, or a Newton system was
        numerically singular) or ``"max_iter"``.

    Raises:
        ValueError: shapes that do not match, NaN/Inf, a zero row of W or zero entry of alpha
            (drop such units first), ``shrink`` outside (0, 1), ``margin`` outside [0, 1), an
            unknown ``system``.
    """
    start = time.perf_counter()
    W, alpha = _check_units(W, alpha, "lipsdp_newton")
    tol = check_positive(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    if not 0 < check_positive(shrink, "shrink") < 1:
        raise ValueError(f"shrink must lie in (0, 1) (the factor applied to mu), got {shrink!r}")
    if not check_nonneg(margin, "margin") < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    if system not in NEWTON_SYSTEMS:
        raise ValueError(f"system must be one of {NEWTON_SYSTEMS}, got {system!r}")
    dev, dt = W.device, W.dtype
    m, d = W.shape
    if system == "auto":
        system = newton_system(m, d)[0]
    absa, g = alpha.abs(), W.T @ alpha
    use_g = bool((g != 0).any())
    eye = torch.eye(d, dtype=dt, device=dev)
    if system == "svec":
        iu = torch.triu_indices(d, d, device=dev)
        diag = iu[0] == iu[1]
        sc = torch.where(diag, 1.0, math.sqrt(2.0)).to(dt)      # svec scaling
        B = W[:, iu[0]] * W[:, iu[1]] * sc                       # rows svec(w̄_j w̄_jᵀ)
        bg = g[iu[0]] * g[iu[1]] * sc
        e = diag.to(dt)                                          # svec(I): tr Z = eᵀz

        def unvec(z: Tensor) -> Tensor:
            Z = torch.zeros(d, d, dtype=dt, device=dev)
            Z[iu[0], iu[1]] = z / sc
            Z[iu[1], iu[0]] = z / sc
            return Z
    else:
        V = torch.cat([W, g[None]]) if use_g else W              # (k, d)

    def point(Z: Tensor, mu: float):
        """Barrier objective and its pieces at Z, or (-inf, None) outside the domain."""
        L, info = torch.linalg.cholesky_ex(Z)
        if int(info) != 0:
            return -math.inf, None
        a = ((W @ L) ** 2).sum(1)
        c = ((g @ L) ** 2).sum()
        if bool((a <= 0).any()) or (use_g and float(c) <= 0):
            return -math.inf, None
        h = (absa * a.sqrt()).sum() + (c.sqrt() if use_g else 0.0)
        return float(h) + 2 * mu * float(torch.log(torch.diagonal(L)).sum()), (h, a, c, L)

    def direction(Z: Tensor, pt, mu: float):
        """The Newton step ``dZ`` (``tr dZ = 0``) and the squared decrement, or None."""
        h, a, c, L = pt
        Zi = torch.cholesky_inverse(L)
        sa = a.sqrt()
        G = (W.T * (absa / (2 * sa))) @ W + mu * Zi                # ∇ of the barrier objective
        delta = absa / (4 * a * sa)                                # −∇²h = Σ δ_j (·)
        if use_g:
            G = G + torch.outer(g, g) / (2 * c.sqrt())
        if system == "svec":
            grad = G[iu[0], iu[1]] * sc
            K = (B.T * delta) @ B
            if use_g:
                K = K + torch.outer(bg, bg) / (4 * c * c.sqrt())
            A0, A1 = Zi[iu[0]], Zi[iu[1]]                         # μ·(Z⁻¹ ⊗ Z⁻¹) in svec
            K = K + (mu / 2) * (A0[:, iu[0]] * A1[:, iu[1]] + A0[:, iu[1]] * A1[:, iu[0]]) \
                * (sc[:, None] * sc[None, :])
            Lk, info = torch.linalg.cholesky_ex(K)
            if int(info) != 0:
                return None
            sol = torch.cholesky_solve(torch.stack([grad, e], 1), Lk)
            Kg, Ke = unvec(sol[:, 0]), unvec(sol[:, 1])
        else:
            dv = torch.cat([delta, (1 / (4 * c * c.sqrt()))[None]]) if use_g else delta
            VZ = V @ Z
            P = VZ @ V.T
            S = P * P
            S.diagonal().add_(mu / dv)                             # μ·(D⁻¹ + Vᵀ K₀⁻¹ V)
            Ls, info = torch.linalg.cholesky_ex(S)
            if int(info) != 0:
                return None

            def woodbury(R: Tensor) -> Tensor:                    # K⁻¹R, Woodbury
                ZRZ = Z @ R @ Z
                y = torch.cholesky_solve(((V @ ZRZ) * V).sum(1)[:, None], Ls)[:, 0]
                X = (ZRZ - (VZ.T * y) @ VZ) / mu
                return 0.5 * (X + X.T)

            def apply(X: Tensor) -> Tensor:                       # K(X)
                q = ((V @ X) * V).sum(1) * dv
                return (V.T * q) @ V + mu * (Zi @ X @ Zi)

            def solve(R: Tensor) -> Tensor:
                # iterative refinement: the Woodbury formula loses accuracy to cancellation
                # once μ is small and Z nearly low-rank (its residual is what limits the gap)
                X = woodbury(R)
                best = math.inf
                for _ in range(NEWTON_REFINE):
                    r = R - apply(X)
                    rn = float(torch.linalg.matrix_norm(r))
                    if not rn < 0.5 * best:
                        break
                    best = rn
                    X = X + woodbury(r)
                return X

            Kg, Ke = solve(G), solve(eye)
        dZ = Kg - (float(torch.trace(Kg)) / float(torch.trace(Ke))) * Ke
        return dZ, float((G * dZ).sum())

    Z = eye / d
    _, pt = point(Z, 0.0)
    if pt is None:
        raise ValueError("W has rows too small to represent in float64")
    mu = float(pt[0]) / (2 * d)              # central-path gap bound 2μd/h = 1 at the start
    Fz, pt = point(Z, mu)
    best_up, best_t = math.inf, None
    lower, Z_low = float(pt[0]) ** 2 / 4, Z
    gaps: list[float] = []
    status, k, since = "max_iter", 0, 0
    for k in range(1, max_iter + 1):
        step_dir = direction(Z, pt, mu)
        if step_dir is None:
            status = "stalled"
            break
        dZ, dec = step_dir
        step, new = 1.0, (-math.inf, None)
        while step > 1e-10:
            new = point(Z + step * dZ, mu)
            if new[0] >= Fz + 0.25 * step * dec - 1e-15 * abs(Fz):
                break
            step *= 0.5
        if new[1] is None or step <= 1e-10:
            status = "stalled"
            break
        Z, (Fz, pt) = Z + step * dZ, new
        h, a, c, L = pt
        value = float(h) ** 2 / (4 * float(torch.trace(Z)))
        if value > lower:
            lower, Z_low = value, Z
        since += 1
        if dec > 0.1 * mu and since < 10:
            continue
        since = 0
        up, t = _off_boundary(W, alpha, absa * h / (2 * a.sqrt()), margin)
        if up < best_up:
            best_up, best_t = up, t
        gap = (best_up - lower) / lower
        gaps.append(gap)
        if verbose:
            print(f"[torch_lipcvx] lipsdp newton {k:4d}  mu={mu:.2e}  upper={best_up:.12g}  "
                  f"lower={lower:.12g}  gap={gap:.1e}", flush=True)
        if gap <= tol:
            status = "optimal"
            break
        if len(gaps) > 4 and gap > 0.5 * gaps[-4]:
            status = "stalled"      # float64 limit: no progress over three μ levels
            break
        mu *= shrink
        Fz, pt = point(Z, mu)
    if best_t is None:
        h, a, c, L = pt
        best_up, best_t = _off_boundary(W, alpha, absa * h / (2 * a.sqrt()), margin)
        if best_t is None or not math.isfinite(best_up):  # pragma: no cover - would be a bug
            raise RuntimeError("LipSDP Newton method found no finite multipliers")
    info = SolveRecord(status=status, iterations=k, solve_time=time.perf_counter() - start,
                       value=best_up, lower=lower, device=str(dev),
                       dual=Z_low / float(torch.trace(Z_low)), certified=True)
    return best_up, best_t, info


def lipsdp_dual(W: Tensor, alpha: Tensor, *, tol: float = 1e-6, max_iter: int = 2000,
                stall_window: Optional[int] = None,
                verbose: bool = False) -> tuple[float, Tensor, FastInfo]:
    """LipSDP's ``ρ*`` by accelerated projected gradient on its ``d × d`` dual (module docstring).

    First-order: ``O(m d²)`` per iteration whatever d, but the primal ``t(Z)`` converges slowly
    (wine, m = 100: gap 1.5e-6 after 1000 iterations). :func:`lipsdp_newton` is the default
    while its Newton system has at most :data:`NEWTON_MAX_SYSTEM` rows; this method serves larger
    networks.

    Args:
        W: ``(m, d)`` hidden weights without bias, every row nonzero; alpha: ``(m,)``, all nonzero.
            Float64 recommended; the work is ``O(m d²)`` per iteration.
        tol: stop when ``(upper − lower) ≤ tol · lower`` for ρ.
        max_iter: iteration limit (the best primal ``t`` found is returned either way).
        stall_window: if given, stop with status ``"stalled"`` once the gap has not halved over
            the last ``stall_window`` iterations (checked every 5): sublinear progress that would
            not reach ``tol`` soon, so a caller with a fallback can give up early.
        verbose: print the gap every 100 iterations.

    Returns:
        ``(rho_upper, t, info)``: ``rho_upper = φ(t)`` computed in float64 (not yet rounded up;
        use :func:`~torch_lipcvx.bounds.certify_t`), ``t (m,)``, and :class:`FastInfo` with the
        dual bound ``info.lower ≤ ρ*``.

    Raises:
        ValueError: shapes that do not match, NaN/Inf, a zero row of W or zero entry of alpha.
    """
    start = time.perf_counter()
    W, alpha = _check_units(W, alpha, "lipsdp_dual")
    tol = check_positive(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    if stall_window is not None:
        stall_window = check_positive_int(stall_window, "stall_window")
    d = W.shape[1]
    absa, g = alpha.abs(), W.T @ alpha
    # scale-free start: the step is in units of Z, the gradient in units of ‖W‖²‖α‖
    Z = torch.eye(d, dtype=W.dtype, device=W.device) / d
    hZ, aZ, cZ = _dual_value(Z, W, absa, g)
    Y, tk = Z.clone(), 1.0
    gnorm = float(torch.linalg.matrix_norm(_dual_grad(aZ, cZ, W, absa, g)))
    step = 1.0 / max(gnorm, 1e-300)
    best_up, best_t = math.inf, None
    lower, status, k, Z_low = float(hZ) ** 2 / 4, "max_iter", 0, Z
    history: list[tuple[int, float]] = []

    def check(a_, c_) -> None:
        nonlocal best_up, best_t
        t = _best_t(a_, c_, absa)
        if bool(torch.isfinite(t).all()):
            # t(Z) sits on the boundary s = 1 when g = W̄ᵀα ≈ 0 (φ = inf there in rounding):
            # the best k·t just inside (the same t and φ when it is interior)
            up, t = _off_boundary(W, alpha, t, 1e-10)
            if up < best_up:
                best_up, best_t = up, t

    check(aZ, cZ)
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
        else:
            tkn = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
            Y = Zn + ((tk - 1) / tkn) * (Zn - Z)
            Z, hZ, aZ, cZ, tk = Zn, hn, an, cn, tkn
            step *= 1.25
            value = float(hZ) ** 2 / 4
            if value > lower:
                lower, Z_low = value, Z
        if k % 5 == 0 or k == max_iter:   # (restarts count: a stall detector must see them)
            check(aZ, cZ)
            if verbose and k % 100 == 0:
                print(f"[torch_lipcvx] lipsdp dual {k:5d}  upper={best_up:.10g}  "
                      f"lower={lower:.10g}", flush=True)
            gap = (best_up - lower) / lower
            if gap <= tol:
                status = "optimal"
                break
            history.append((k, gap))
            if stall_window is not None:
                old = [gp for kk, gp in history if kk <= k - stall_window]
                if old and gap > 0.5 * old[-1]:
                    status = "stalled"
                    break
    if best_t is None:  # pragma: no cover - the uniform start always gives finite t
        raise RuntimeError("LipSDP dual found no finite multipliers")
    info = SolveRecord(status=status, iterations=k, solve_time=time.perf_counter() - start,
                       value=best_up, lower=lower, device=str(W.device), dual=Z_low,
                       certified=True)
    return best_up, best_t, info
