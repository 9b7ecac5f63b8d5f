"""LipSDP-neuron for networks with ``k ≥ 2`` outputs (docs/lipsdp.md §10).

For ``f(x) = Aᵀ relu(W̄x + b) + c`` with ``A (m, k)`` the certificate is the LMI of the scalar
case with the rank-one ``ααᵀ`` replaced by ``AAᵀ``:

    [[ ρ I_d , −W̄ᵀT ], [ −T W̄ , 2T − A Aᵀ ]] ⪰ 0,   T = diag(t) ⪰ 0   ⟹   ‖f(x) − f(x')‖₂ ≤ √ρ ‖x − x'‖₂.

With ``P = 2T − AAᵀ ≻ 0`` (equivalently ``S = Aᵀ(2T)⁻¹A ≺ I_k`` on the units with ``t_j > 0``) the
Schur complement and Woodbury's identity give the smallest ``ρ`` for a given ``t``:

    ρ(t) = λ_max( Σ_j (t_j/2) w̄_j w̄_jᵀ + ¼ G (I_k − S)⁻¹ Gᵀ ),   G = W̄ᵀA  (d × k),

the scalar formula of docs/lipsdp.md §2 with ``c_T g gᵀ`` replaced by its rank-``k`` analogue
(:func:`certify_t_vector`). The SDP over ``t`` is solved by cvxpy (Clarabel by default, or the
solver named) and every ``t`` is re-verified this way in float64; the reported ``ρ`` is never the
solver's number.
"""

from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .._checks import gamma

__all__ = ["certify_t_vector", "solve_lipsdp_vector", "lipsdp_vector_torch", "metric_matrix"]

#: the relative margin kept from the boundary ``λ_max(S) = 1`` when a ``t`` is repaired
_MARGIN = 1e-9


def _s_matrix(A: Tensor, t: Tensor) -> Tensor:
    """``S = Aᵀ(2T)⁻¹A`` over the units with ``t_j > 0`` (``k × k``)."""
    on = t > 0
    Ao = A[on]
    return (Ao / (2 * t[on])[:, None]).T @ Ao


def metric_matrix(A: Tensor, t: Tensor) -> Tensor:
    """``M = T P⁻¹ T = T/2 + ¼ A (I − S)⁻¹ Aᵀ`` (``m × m``), so that ``ρ(t) = λ_max(W̄ᵀ M W̄)``;
    ``ValueError`` when ``S ⊀ I`` (``t`` does not certify these outer weights)."""
    k = A.shape[1]
    S = _s_matrix(A, t)
    I = torch.eye(k, dtype=A.dtype, device=A.device)
    C, info = torch.linalg.cholesky_ex(I - S)
    if int(info) != 0 or not float(torch.linalg.eigvalsh(S)[-1]) < 1 - _MARGIN:
        raise ValueError("t does not certify the outer weights (2T - A A^T is not positive "
                         "definite)")
    Ainv = torch.cholesky_solve(A.T, C)                 # (I − S)⁻¹ Aᵀ, (k, m)
    M = torch.diag(t / 2) + 0.25 * A @ Ainv
    return 0.5 * (M + M.T)


def certify_t_vector(W: Tensor, A: Tensor, t, *, repair: bool = True) -> tuple[float, Tensor, bool]:
    """The certified ``ρ(t)`` of the LMI above, in float64 (docs/lipsdp.md §10).

    Args:
        W: ``(m, d)`` hidden weights; A: ``(m, k)`` outer weights; t: ``(m,)`` multipliers
            (``t_j = 0`` allowed only where ``a_j = 0``).
        repair: when ``t`` does not certify (``λ_max(S) ≥ 1`` or a ``t_j ≤ 0`` with ``a_j ≠
            0``), scale it up (``t ← γ t``, the smallest such ``γ`` with a margin) instead of
            raising.

    Returns:
        ``(ρ, t, repaired)``: ``ρ ≥ λ_max(W̄ᵀ M W̄)`` with a rounding margin (``γ``-bounds of the
        sums, relative), the ``t`` used and whether it was rescaled.
    """
    W = W.detach().to("cpu", torch.float64)
    A = A.detach().to("cpu", torch.float64)
    t = torch.as_tensor(np.asarray(t, dtype=np.float64)).clone()
    m, d = W.shape
    act = (A != 0).any(dim=1)
    t = torch.where(act, t, torch.zeros_like(t))
    repaired = False
    if bool((t[act] <= 0).any()) or not bool(torch.isfinite(t).all()):
        if not repair:
            raise ValueError("t must be positive and finite on the units with a nonzero outer "
                             "weight")
        norms = torch.linalg.vector_norm(A, dim=1)
        fill = float(norms[act].pow(2).sum()) if bool(act.any()) else 1.0
        t = torch.where(act & ~(t > 0) | ~torch.isfinite(t), torch.full_like(t, fill), t)
        t = torch.where(act, t, torch.zeros_like(t))
        repaired = True
    if not bool(act.any()):
        return 0.0, t, repaired
    s_max = float(torch.linalg.eigvalsh(_s_matrix(A, t))[-1])
    if not s_max < 1 - _MARGIN:
        if not repair:
            raise ValueError("t does not certify the outer weights (lambda_max(S) >= 1)")
        t = t * (s_max / (1 - 1e3 * _MARGIN)) * (1 + 1e-12)
        repaired = True
    M = metric_matrix(A, t)
    Q = W.T @ M @ W
    rho = float(torch.linalg.eigvalsh(0.5 * (Q + Q.T))[-1])
    # rounding: the products and the eigenvalue solver, relative to the entries' magnitudes
    scale = float(torch.linalg.matrix_norm(W.abs().T @ M.abs() @ W.abs(), ord=2))
    rho = max(rho, 0.0) + gamma(4 * (m + d) + 8) * scale + 1e-12 * rho
    return rho, t, repaired


def solve_lipsdp_vector(W: Tensor, A: Tensor, solver: str = "CLARABEL",
                        options: Optional[dict] = None) -> tuple[np.ndarray, float, str, float]:
    """Solve the vector LipSDP over ``t`` and ``ρ`` with cvxpy (units with ``a_j = 0`` get
    ``t_j = 0``). The data are rescaled by powers of two (``W̄/σ_W``, ``A/σ_A``; exact) so the
    solver works on ``O(1)`` numbers.

    Returns:
        ``(t (m,), solver ρ, status, seconds)`` in the caller's units; ``t`` is not yet verified.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    W = W.detach().to("cpu", torch.float64)
    A = A.detach().to("cpu", torch.float64)
    m, d = W.shape
    act = (A != 0).any(dim=1).numpy()
    Wn, An = W.numpy()[act], A.numpy()[act]
    sw = 2.0 ** round(math.log2(max(float(np.sqrt((Wn ** 2).mean())), 1e-300)))
    sa = 2.0 ** round(math.log2(max(float(np.sqrt((An ** 2).mean())), 1e-300)))
    Wn, An = Wn / sw, An / sa
    ma = Wn.shape[0]
    t = cp.Variable(ma, nonneg=True)
    rho = cp.Variable()
    # the LMI's matrix as one sparse affine map of (t, ρ): building it from cp.diag(t) products
    # took 50 s to compile at d = 64, m = 50; this takes well under one
    size = d + ma
    rows, cols, vals = [], [], []

    def put(i, j, var, v):
        rows.append(i * size + j), cols.append(var), vals.append(v)

    for i in range(d):
        put(i, i, ma, 1.0)
    for j in range(ma):
        put(d + j, d + j, j, 2.0)
        for i in range(d):
            if Wn[j, i] != 0:
                put(i, d + j, j, -Wn[j, i])
                put(d + j, i, j, -Wn[j, i])
    B = sp.csr_matrix((vals, (rows, cols)), shape=(size * size, ma + 1))
    const = np.zeros((size, size))
    const[d:, d:] = -An @ An.T
    x = cp.hstack([t, cp.reshape(rho, (1,), order="C")])
    M = cp.reshape(B @ x, (size, size), order="C") + const
    prob = cp.Problem(cp.Minimize(rho), [M >> 0])
    start = time.perf_counter()
    opts = dict(options or {})
    try:
        prob.solve(solver=solver, **opts)
    except cp.error.SolverError as exc:
        from ..solvers import SolverError
        raise SolverError(f"vector LipSDP: {solver} failed ({exc})") from exc
    seconds = time.perf_counter() - start
    full = np.zeros(m)
    if t.value is not None:
        full[act] = np.maximum(t.value, 0.0) * sa ** 2
    val = float(rho.value) * sw ** 2 * sa ** 2 if rho.value is not None else math.nan
    return full, val, str(prob.status), seconds


def lipsdp_vector_torch(W: Tensor, A: Tensor, *, tol: float = 1e-7, max_iter: int = 3000
                        ) -> tuple[np.ndarray, float, str, float]:
    """The vector LipSDP over ``t`` by a first-order barrier method in torch (no cvxpy).

    Minimises the convex ``ρ(t) = λ_max(Q(t))`` (``Q(t) = W̄ᵀ M(t) W̄``, matrix-convex in ``t``)
    smoothed as ``μ log tr exp(Q/μ) − ν log det(I − S(t))`` in ``u = log t``, by gradient steps
    with Barzilai–Borwein lengths and a non-monotone backtracking that rejects every ``t`` with
    ``S ⊀ I``; ``μ`` and ``ν`` shrink tenfold per stage from ``1e-2 ρ`` to ``tol·ρ``. The
    spectral gradient ``V diag(softmax(λ/μ)) Vᵀ`` is formed explicitly (stable when eigenvalues
    coincide). ``t`` is not verified here (:func:`certify_t_vector` does it).

    Returns:
        ``(t (m,), ρ(t) as computed, status, seconds)``; status ``"converged"`` or
        ``"max_iter"``.
    """
    start_time = time.perf_counter()
    W = W.detach().to(torch.float64)
    A = A.detach().to(torch.float64)
    m, d = W.shape
    act = (A != 0).any(dim=1)
    Wa, Aa = W[act], A[act]
    k = A.shape[1]
    eye = torch.eye(k, dtype=W.dtype, device=W.device)
    wn = torch.linalg.vector_norm(Wa, dim=1).clamp_min(1e-300)
    an = torch.linalg.vector_norm(Aa, dim=1)
    t0 = an / wn
    s0 = float(torch.linalg.eigvalsh(_s_matrix(Aa, t0))[-1])
    u = torch.log(t0 * (2 * s0))                      # λ_max(S) = 1/2 to start

    def parts(u: Tensor):
        t = torch.exp(u)
        S = (Aa / (2 * t)[:, None]).T @ Aa
        C, info = torch.linalg.cholesky_ex(eye - S)
        if int(info) != 0:
            return None
        Gm = Wa.T @ Aa                                  # (d, k)
        Q = (Wa * (t / 2)[:, None]).T @ Wa + 0.25 * Gm @ torch.cholesky_solve(Gm.T, C)
        return t, S, C, 0.5 * (Q + Q.T)

    def value_grad(u: Tensor, mu: float, nu: float):
        u = u.detach().requires_grad_(True)
        with torch.enable_grad():
            got = parts(u)
            if got is None:
                return math.inf, None, math.inf
            t, S, C, Q = got
            with torch.no_grad():
                lam, V = torch.linalg.eigh(Q)
                top = float(lam[-1])
                wts = torch.softmax(lam / mu, dim=0)
                smooth = top + mu * float(torch.log(wts.new_tensor(1.0) /
                                                    wts[-1].clamp_min(1e-300)))
                GQ = (V * wts) @ V.T
            logdet = 2 * torch.log(torch.diagonal(C)).sum()
            f = (Q * GQ).sum() - nu * logdet
            f.backward()
        value = smooth - nu * float(logdet.detach())
        return value, u.grad.detach(), top

    rho_scale = None
    status = "max_iter"
    it = 0
    best_u, best_rho = u.clone(), math.inf
    mu_rel = 1e-2
    while True:
        if rho_scale is None:
            _, _, rho_scale = value_grad(u, 1.0, 0.0)
            rho_scale = max(rho_scale, 1e-300)
        mu = nu = mu_rel * rho_scale
        f, g, top = value_grad(u, mu, nu)
        history = [f]
        step = 1.0 / max(float(g.abs().max()), 1e-300) * 0.1
        u_prev, g_prev = None, None
        for _ in range(max_iter):
            it += 1
            if u_prev is not None:
                su, sg = u - u_prev, g - g_prev
                denom = float(su @ sg)
                if denom > 0:
                    step = min(float(su @ su) / denom, 1e6)
            ref = max(history[-10:])
            gg = float(g @ g)
            accepted = False
            for _ in range(60):
                u_new = u - step * g
                f_new, g_new, top_new = value_grad(u_new, mu, nu)
                if f_new <= ref - 1e-4 * step * gg:
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                break
            u_prev, g_prev = u, g
            u, f, g, top = u_new, f_new, g_new, top_new
            history.append(f)
            if top < best_rho:
                best_u, best_rho = u.clone(), top
            if len(history) > 20 and history[-21] - f <= 1e-2 * mu:
                break
            if it >= max_iter:
                break
        if mu_rel <= tol or it >= max_iter:
            status = "converged" if mu_rel <= tol else "max_iter"
            break
        mu_rel *= 0.1
        rho_scale = best_rho
    t = torch.zeros(m, dtype=W.dtype, device=W.device)
    t[act] = torch.exp(best_u)
    return t.cpu().numpy(), best_rho, status, time.perf_counter() - start_time
