"""ℓ∞ Lipschitz bounds for shallow ReLU networks, LiPopt-style (docs/linf.md).

For ℓ∞ input perturbations the Lipschitz constant of ``f(x) = Σ_j α_j relu(w_jᵀx + b_j) + c`` is
``L∞ = sup_x ‖∇f(x)‖₁``. Relaxing each ReLU derivative to ``s_j ∈ [0, 1]`` gives LiPopt's
polynomial program (Latorre, Rolland, Cevher 2020), here bilinear:

    L∞ ≤ P* := max_{t ∈ [−1,1]^d, s ∈ [0,1]^m}  p(t, s) = Σ_j α_j s_j (w̄_jᵀ t)
             = max_{t ∈ {−1,1}^d}  Σ_j relu(a_jᵀ t),      a_j = α_j w̄_j.

Everything here bounds ``P*`` (output units per input unit, inputs in the units the model sees).
``P*`` is an upper bound on ``L∞``, not always equal to it: the relaxation allows activation
patterns that no input realises (``f = relu(x) − relu(−x − 1)`` has ``L∞ = 1`` and ``P* = 2``).

Methods (all certified in float64, all exploit the exact decomposition of ``P*`` into a sum over
the connected components of the graph "unit j reads input i" (``a_ji ≠ 0``)):

* :func:`linf_exact`: ``P*`` itself, by batched enumeration of ``{−1, 1}^{d_c}`` per component in
  torch (float64, on the weights' device), using ``t ↔ −t`` symmetry and a split
  ``a_jᵀt = a_j,loᵀt_lo + a_j,hiᵀt_hi`` so that each vertex costs ``O(m)``; practical to
  ``d_c ≈ 20`` (a guard refuses larger components). The reported bound adds a rigorous float64
  rounding margin (relative ≈ 1e-13).
* :func:`linf_lp`: the LP hierarchy. In ``[0, 1]`` variables ``x = (u, s)``, ``t = 2u − 1``, the
  degree-k Krivine/Handelman certificate is

      θ − p(x) = Σ_{(A, B)} c_{A,B} Π_{v∈A} x_v Π_{v∈B} (1 − x_v),    c ≥ 0,

  matched coefficient-wise; minimising θ is an LP (HiGHS through :func:`scipy.optimize.linprog`,
  no licence needed). Two choices make it small and strong:

  - *Multilinear products.* ``p`` is affine in each variable, so its maximum over the box is
    attained at a vertex, where ``x_v² = x_v``. Products therefore run over distinct variables
    (``A ∩ B = ∅``) and the identity is matched modulo ``x_v² = x_v`` (the Sherali–Adams form of
    Krivine's certificate). This is never weaker than the plain products ``x^a (1 − x)^b`` of
    the same degree on the same cliques, which LiPopt uses (modulo ``x_v² = x_v`` they reduce to
    these or to 0), and the dense hierarchy is finite: degree ``d + m`` gives ``P*``.
  - *Sparsity (LiPopt).* With ``sparse=True`` the products are those inside one unit's clique
    ``C_j = {s_j} ∪ {u_i : a_ji ≠ 0}`` (units reading few inputs, pruned weights), and each
    connected component is solved as its own LP. With ``sparse=False`` all variables form one
    clique (LiPopt's dense certificate). Only products of exactly ``min(k, |C|)`` variables are
    generated: a smaller one is the sum ``P·x_v + P·(1 − x_v)`` of two of them.

  Properties (tested): the degree-(k−1) cone lies inside the degree-k cone, so
  ``LP_k ≤ LP_{k−1}``; degree 2 already contains the naive certificate
  ``Σ_j Σ_i |a_ji| (1 − s_j + 2 s_j (1 − u'_i))`` (``u'_i = u_i`` or ``1 − u_i`` by the sign of
  ``a_ji``), so ``LP_2 ≤ Σ_j |α_j| ‖w̄_j‖₁``; dense ≤ sparse at equal degree, with equality at
  degree 2 (the moments only the dense LP has are unconstrained; degree 2 is McCormick's
  relaxation of the products ``s_j u_i``) and, at every degree, on networks whose bipartite
  unit–input graph is a forest, where degree 2 is already exact (the McCormick/BQP relaxation
  of a forest is integral, Padberg 1989). On randomly pruned networks sparse and dense agreed to
  1e-12 relative at degree 3 in every case we measured (``benchmarks/bench_linf.py``), with the
  sparse LP many times smaller and faster; that is an observation, not a theorem.

  *Certification.* The solver's objective is never reported. From its ``c`` (clipped to
  ``c ≥ 0``) the float64 residual ``r = (θ − p) − Σ c·products`` is recomputed coefficient-wise,
  and since every multilinear monomial lies in ``[0, 1]`` on the box,
  ``P* ≤ θ₀ + Σ_μ |r_μ|`` plus a bound on the float64 rounding of that evaluation (standard
  summation error bounds). This holds for *any* ``c ≥ 0``, so an inaccurate or time-limited
  solve can only loosen the bound, never invalidate it.

* :func:`linf_naive`: ``Σ_j |α_j| ‖w̄_j‖₁``. (``√d · L₂`` from LipSDP lives in
  :mod:`torch_lipcvx.bounds`.)
* :func:`linf_vertex_lower_bound`: a *lower* bound on ``L∞`` itself. For a vertex ``t`` the best
  relaxed pattern is ``s_j = 1[a_jᵀt > 0]``; if some input ``x`` realises it (an LP on
  ``σ_j (w_jᵀx + b_j) ≥ δ > 0``), ``‖∇f(x)‖₁ ≥ tᵀ∇f(x) = Σ_j relu(a_jᵀt)``. The reported value is
  the exact gradient norm at that real point. When the maximising vertex of :func:`linf_exact` is
  realisable this equals ``P*`` and the interval ``[lower, upper]`` closes.

Shapes: ``W (m, d)``, ``alpha (m,)``, ``b (m,)``; vertices ``(K, d)`` with entries ±1. Inputs may
be float32 and on any device; the maths runs in float64 (enumeration on the weights' device, the
LPs on the CPU with NumPy/SciPy, the only place outside :mod:`torch_lipcvx._engine.programs` that
builds an optimisation problem). Results are plain floats and CPU tensors.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import combinations
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ._checks import UNIT_ROUNDOFF, as_tensor, check_finite, check_positive_int, check_X, gamma
from .models import ShallowWeights, realised_gradient_norms

__all__ = [
    "DEFAULT_DEGREE",
    "DEFAULT_MAX_EXACT_DIM",
    "DEFAULT_MAX_PRODUCTS",
    "METHODS",
    "LinfBounds",
    "LinfExactResult",
    "LinfLPResult",
    "LinfLowerBound",
    "LinfProgram",
    "check_degree",
    "check_method",
    "linf_exact",
    "linf_lower_bound",
    "linf_lp",
    "linf_lp_size",
    "linf_naive",
    "linf_program",
    "linf_upper_bounds",
    "linf_vertex_lower_bound",
    "linf_vertex_search",
    "lp_name",
]

#: Degree of the LP hierarchy used when none is given. Degree 2 is McCormick's relaxation of the
#: products ``s_j u_i`` (about ``naive / 2`` on dense networks); degree 3 is often exact.
DEFAULT_DEGREE = 3
#: Largest connected component (in inputs) that :func:`linf_exact` enumerates by default.
DEFAULT_MAX_EXACT_DIM = 20
#: Hard ceiling for ``max_dim`` (2^30 vertices per component).
HARD_MAX_EXACT_DIM = 30
#: Largest number of products :func:`linf_lp` builds by default (about 30 s of HiGHS on 2 cores
#: for a degree-3 LP of this size; ``method="best"`` falls back to degree 2, then to no LP).
DEFAULT_MAX_PRODUCTS = 200_000

_ENUM_BLOCK = 1 << 22  # elements per enumeration block (32 MiB in float64)


# ------------------------------------------------------------------------------ the program
@dataclass(frozen=True, kw_only=True)
class LinfProgram:
    """The bilinear program ``P* = max_{t ∈ {−1,1}^d} Σ_j relu(a_jᵀ t)`` of a network.

    Attributes:
        A: ``(m', d)`` float64 CPU tensor, rows ``a_j = α_j w̄_j`` of the *active* units
            (``a_j ≠ 0``).
        units: ``(m',)`` indices of those units in the network.
        d: input dimension of the network.
        components: list of ``(inputs, rows)`` LongTensor pairs: the connected components of the
            bipartite graph ``a_ji ≠ 0`` (inputs read by no active unit are left out).
        naive: ``Σ_j ‖a_j‖₁`` (float), the naive bound.
    """

    A: Tensor
    units: Tensor
    d: int
    components: list
    naive: float

    @property
    def m(self) -> int:
        """Number of active units."""
        return self.A.shape[0]

    @property
    def max_component_dim(self) -> int:
        """Inputs in the largest connected component (0 for a constant network)."""
        return max((len(c[0]) for c in self.components), default=0)


def _as_weights(weights) -> ShallowWeights:
    if not isinstance(weights, ShallowWeights):
        raise TypeError(f"weights must be ShallowWeights (use model.weights()), "
                        f"got {type(weights).__name__}")
    for key in ("W", "alpha"):
        v = getattr(weights, key)
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"weights.{key} contains NaN/Inf values")
    return weights


def _components(A: Tensor) -> list:
    """Connected components of the bipartite graph rows–columns of ``A != 0`` (union–find)."""
    m, d = A.shape
    parent = list(range(m + d))

    def find(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    rows, cols = torch.nonzero(A != 0, as_tuple=True)
    for j, i in zip(rows.tolist(), cols.tolist()):
        rj, ri = find(j), find(m + i)
        if rj != ri:
            parent[rj] = ri
    groups: dict[int, tuple[list, list]] = {}
    for j in range(m):
        groups.setdefault(find(j), ([], []))[1].append(j)
    read = (A != 0).any(0).tolist()
    for i in range(d):
        if read[i]:
            groups.setdefault(find(m + i), ([], []))[0].append(i)
    return [(torch.tensor(ins, dtype=torch.long), torch.tensor(rs, dtype=torch.long))
            for ins, rs in groups.values() if rs]


_TINY = float(torch.finfo(torch.float64).tiny)   # smallest normal float64


def _products(W: Tensor, alpha: Tensor) -> Tensor:
    """``A = α_j w̄_ji`` (float64), refused when a nonzero product or ``Σ|A|`` leaves float64's
    normal range (an overflow gave ``P* = NaN``; subnormals void the relative rounding margins)."""
    A = alpha[:, None] * W
    mag = A.abs()[(alpha[:, None] != 0) & (W != 0)]
    if mag.numel() and not (float(mag.min()) >= _TINY and math.isfinite(float(mag.sum()))):
        raise ValueError("the products α_j·w_ji or their sum are outside float64's normal range "
                         "(about 2.2e-308 to 1.8e308): rescale the weights (the ℓ∞ bound is "
                         "homogeneous in α and in W̄)")
    return A


def linf_program(weights: ShallowWeights) -> LinfProgram:
    """Extract the program of docs/linf.md from a network's weights (float64, CPU).

    Units with ``α_j = 0`` or ``w̄_j = 0`` never change the gradient and are dropped; biases do
    not enter.

    Raises:
        TypeError: ``weights`` is not :class:`~torch_lipcvx.ShallowWeights`.
        ValueError: NaN/Inf weights; products ``α_j w_ji`` (or their sum) outside float64's
            normal range.
    """
    w = _as_weights(weights)
    W = w.W.detach().to("cpu", torch.float64)
    alpha = w.alpha.detach().to("cpu", torch.float64)
    A = _products(W, alpha)
    keep = (A != 0).any(1)
    A = A[keep].contiguous()
    units = torch.nonzero(keep).flatten()
    return LinfProgram(
        A=A, units=units, d=W.shape[1], components=_components(A), naive=float(A.abs().sum()))


def linf_naive(weights: ShallowWeights) -> float:
    """Naive certified bound ``Σ_j |α_j| ‖w̄_j‖₁`` (float64 plus a rounding margin of relative
    ``≈ 4γ_{m+d+2}``; ≥ ``P*`` ≥ ``L∞``). Raises as :func:`linf_program`."""
    w = _as_weights(weights)
    W = w.W.detach().to("cpu", torch.float64)
    alpha = w.alpha.detach().to("cpu", torch.float64)
    _products(W, alpha)
    m, d = W.shape
    # a sum of m·d nonnegative products (d-term sums, one product, an m-term sum): relative error
    # ≤ γ_{m+d}; the factor 4 also covers the rounding of the final multiplication
    return float((alpha.abs() * W.abs().sum(1)).sum()) * (1 + 4 * gamma(m + d + 2))


# ----------------------------------------------------------------------------- enumeration
@dataclass
class LinfExactResult:
    """The exact value ``P*`` of the ℓ∞ program (docs/linf.md) by enumeration.

    Attributes:
        value: ``P*`` as computed in float64.
        upper: ``value`` plus a rigorous float64 rounding margin: a certified upper bound on
            ``P*`` and hence on ``L∞`` (output units per input unit).
        argmax: ``(d,)`` float64 vertex ``t ∈ {−1, 1}^d`` attaining ``value`` (inputs read by no
            active unit are set to +1).
        candidates: ``(K, d)`` vertices with the next-best values (``argmax`` first), for the
            pattern lower bound; ``candidate_values`` ``(K,)``.
        n_vertices: vertices evaluated (``Σ_c 2^{d_c}``); n_components, max_component_dim.
        time: wall seconds.
    """

    value: float
    upper: float
    argmax: Tensor
    candidates: Tensor
    candidate_values: Tensor
    n_vertices: int
    n_components: int
    max_component_dim: int
    time: float

    def __repr__(self) -> str:
        return (f"LinfExactResult(P*={self.value:.6g}, upper={self.upper:.6g}, "
                f"vertices={self.n_vertices}, components={self.n_components}, "
                f"max_dim={self.max_component_dim}, time={self.time:.2f}s)")


def _sign_table(bits: int, dtype, device) -> Tensor:
    """All of ``{−1, 1}^bits`` as a ``(2^bits, bits)`` tensor (row r = binary digits of r)."""
    r = torch.arange(1 << bits, device=device)[:, None]
    return (((r >> torch.arange(bits, device=device)) & 1) * 2 - 1).to(dtype)


def _enumerate_component(A: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """Best ``top_k`` vertices of ``g(t) = Σ_j relu(a_jᵀt)`` over ``{−1,1}^{d_c}``, ``A (m_c,
    d_c)``.

    ``t`` and ``−t`` are evaluated together (``g(−t) = g(t) − Σ_j a_jᵀt``) from the half-cube
    ``t_0 = +1``, and ``a_jᵀt`` is assembled from precomputed low-bit and high-bit partial sums,
    so one vertex costs ``O(m_c)``. Returns ``(values (K,), vertices (K, d_c))``, best first.
    """
    m_c, d_c = A.shape
    dev, dt = A.device, A.dtype
    rest = d_c - 1
    lo_bits = min(rest, 12, max(0, int(math.log2(max(1, _ENUM_BLOCK // max(1, m_c))))))
    hi_bits = rest - lo_bits
    T_lo = _sign_table(lo_bits, dt, dev)                      # (2^lo, lo)
    P_lo = A[:, 0][None, :] + T_lo @ A[:, 1:1 + lo_bits].T    # (2^lo, m_c), includes t_0 = +1
    S_lo = P_lo.sum(1)                                        # Σ_j a_jᵀt, low part
    n_lo = P_lo.shape[0]
    chunk = max(1, _ENUM_BLOCK // max(1, n_lo * m_c))
    best_v = torch.empty(0, dtype=dt, device=dev)
    best_i = torch.empty(0, dtype=torch.long, device=dev)   # index: hi * 2^lo + lo, sign bit
    best_neg = torch.empty(0, dtype=torch.bool, device=dev)
    A_hi = A[:, 1 + lo_bits:]
    for start in range(0, 1 << hi_bits, chunk):
        stop = min(start + chunk, 1 << hi_bits)
        r = torch.arange(start, stop, device=dev)[:, None]
        T_hi = (((r >> torch.arange(hi_bits, device=dev)) & 1) * 2 - 1).to(dt)
        P_hi = T_hi @ A_hi.T                                  # (h, m_c)
        V = P_hi[:, None, :] + P_lo[None, :, :]               # (h, 2^lo, m_c)
        g_pos = torch.relu(V).sum(-1)                         # g(t)
        g_neg = g_pos - (P_hi.sum(1)[:, None] + S_lo[None, :])  # g(−t)
        vals = torch.cat([g_pos.flatten(), g_neg.flatten()])
        k = min(top_k, vals.numel())
        v, idx = torch.topk(vals, k)
        half = g_pos.numel()
        neg = idx >= half
        idx = torch.where(neg, idx - half, idx) + start * n_lo
        best_v = torch.cat([best_v, v])
        best_i = torch.cat([best_i, idx])
        best_neg = torch.cat([best_neg, neg])
        if best_v.numel() > top_k:
            v, sel = torch.topk(best_v, top_k)
            best_v, best_i, best_neg = v, best_i[sel], best_neg[sel]
    order = torch.argsort(best_v, descending=True)
    best_v, best_i, best_neg = best_v[order], best_i[order], best_neg[order]
    lo_idx, hi_idx = best_i % n_lo, best_i // n_lo
    t = torch.ones(best_v.numel(), d_c, dtype=dt, device=dev)
    if lo_bits:
        t[:, 1:1 + lo_bits] = ((lo_idx[:, None] >> torch.arange(lo_bits, device=dev)) & 1) * 2 - 1
    if hi_bits:
        t[:, 1 + lo_bits:] = ((hi_idx[:, None] >> torch.arange(hi_bits, device=dev)) & 1) * 2 - 1
    t = torch.where(best_neg[:, None], -t, t)
    return best_v, t


def _check_max_dim(max_dim) -> int:
    if isinstance(max_dim, bool) or not isinstance(max_dim, int):
        raise TypeError(f"max_dim must be an integer between 1 and {HARD_MAX_EXACT_DIM}, "
                        f"got {max_dim!r}")
    if not 1 <= max_dim <= HARD_MAX_EXACT_DIM:
        raise ValueError(f"max_dim must be an integer between 1 and {HARD_MAX_EXACT_DIM}, "
                         f"got {max_dim!r}")
    return max_dim


def linf_exact(weights: ShallowWeights, *, max_dim: int = DEFAULT_MAX_EXACT_DIM,
               top_k: int = 8, device=None) -> LinfExactResult:
    """Exact value of the ℓ∞ program ``P* = max_{t∈{−1,1}^d} Σ_j relu(α_j w̄_jᵀ t)`` (docs/linf.md).

    ``P*`` is the best bound any relaxation of LiPopt's program can give, and an upper bound on
    ``L∞`` (equal to it when the maximising activation pattern is realised by some input, see
    :func:`linf_vertex_lower_bound`). The program is a sum over the connected components of the
    unit–input graph, and each component ``c`` is enumerated over ``{−1, 1}^{d_c}`` in float64
    torch, in blocks, on ``device`` (default: the weights' device). Cost ``O(Σ_c 2^{d_c} m_c)``.

    Args:
        weights: the network (``W (m, d)``, ``alpha (m,)``; biases do not enter).
        max_dim: largest component (number of inputs) to enumerate; at most 30.
        top_k: how many best vertices to keep per component (for the lower bound).
        device: where to enumerate (CPU or CUDA).

    Returns:
        :class:`LinfExactResult`; ``upper`` is certified (value + rounding margin).

    Raises:
        TypeError / ValueError: bad ``weights``, ``max_dim`` or ``top_k``; a component with more
            than ``max_dim`` inputs (the message gives its size and how to proceed).
    """
    max_dim = _check_max_dim(max_dim)
    top_k = check_positive_int(top_k, "top_k")
    start = time.perf_counter()
    prog = linf_program(weights)
    if prog.max_component_dim > max_dim:
        raise ValueError(
            f"exact enumeration needs 2^{prog.max_component_dim} vertices: the largest connected "
            f"component of the network reads {prog.max_component_dim} inputs (d = {prog.d}), "
            f"more than max_dim={max_dim}; use method='lp' (or 'best'), or raise max_dim "
            f"(at most {HARD_MAX_EXACT_DIM})")
    dev = torch.device(device) if device is not None else weights.W.device
    argmax = torch.ones(prog.d, dtype=torch.float64)
    total, n_vertices = 0.0, 0
    per_comp = []
    for inputs, rows in prog.components:
        Ac = prog.A[rows][:, inputs].to(dev)
        vals, verts = _enumerate_component(Ac, top_k)
        vals, verts = vals.cpu(), verts.cpu()
        per_comp.append((inputs, vals, verts))
        total += float(vals[0])
        argmax[inputs] = verts[0]
        n_vertices += 1 << len(inputs)
    # candidates: the argmax, then the argmax with one component moved to its next-best vertex
    cand, cand_v = [argmax.clone()], [total]
    for inputs, vals, verts in per_comp:
        for r in range(1, vals.numel()):
            t = argmax.clone()
            t[inputs] = verts[r]
            cand.append(t)
            cand_v.append(total - float(vals[0]) + float(vals[r]))
    order = sorted(range(len(cand)), key=lambda i: -cand_v[i])[:top_k]
    candidates = torch.stack([cand[i] for i in order]) if cand else argmax[None]
    candidate_values = torch.tensor([cand_v[i] for i in order], dtype=torch.float64)
    # rounding, N = naive = Σ_j ‖a_j‖₁: the products a_ji = α_j w_ji (≤ u·N); each a_jᵀt two
    # partial sums of ≤ d_c terms added (≤ (d_c + 1)u·‖a_j‖₁); g(t) = Σ_j relu(·) a sum of m_c
    # terms; g(−t) = g(t) minus two more m_c-term sums of those partials: ≤ 3(d_c + m_c + 2)u·N
    # per component value, then one sum over the components. Each γ_k ≤ 2ku here (ku ≪ 1).
    margin = (2.0 * (3 * (prog.max_component_dim + prog.m + 2) + len(prog.components) + 2)
              * UNIT_ROUNDOFF * prog.naive)
    upper = total + margin
    return LinfExactResult(
        value=total, upper=upper, argmax=argmax, candidates=candidates,
        candidate_values=candidate_values, n_vertices=n_vertices, n_components=len(prog.components),
        max_component_dim=prog.max_component_dim, time=time.perf_counter() - start)


# ------------------------------------------------------------------------------ LP hierarchy
@dataclass
class LinfLPResult:
    """A certified degree-k LiPopt-style LP bound on ``P*`` (hence on ``L∞``).

    Attributes:
        bound: the certified upper bound (float64 re-verification of the certificate, see the
            module docstring); never the solver's number.
        degree, sparse: the hierarchy level and whether products were restricted to unit cliques.
        solver_objective: the sum of the solvers' objectives, for information only.
        residual: ``Σ_μ |r_μ|`` of the certificate identity (included in ``bound``).
        n_products, n_monomials, nnz: LP size (columns, equality rows, nonzeros), summed over
            the LPs solved (one per connected component when ``sparse``).
        n_lps: number of LPs solved.
        status: the solvers' messages (distinct ones, joined).
        build_time, solve_time, verify_time: wall seconds.
    """

    bound: float
    degree: int
    sparse: bool
    solver_objective: float
    residual: float
    n_products: int
    n_monomials: int
    nnz: int
    n_lps: int
    status: str
    build_time: float
    solve_time: float
    verify_time: float

    @property
    def time(self) -> float:
        """Total wall seconds (build + solve + verify)."""
        return self.build_time + self.solve_time + self.verify_time

    def __repr__(self) -> str:
        return (f"LinfLPResult(bound={self.bound:.6g}, degree={self.degree}, "
                f"sparse={self.sparse}, products={self.n_products}, monomials={self.n_monomials}, "
                f"residual={self.residual:.2g}, status={self.status!r}, time={self.time:.2f}s)")


def check_degree(degree) -> int:
    """The LP degree: an integer ``>= 2`` (the program is bilinear, degree 1 cannot certify it)."""
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
        raise TypeError(f"degree must be an integer >= 2, got {degree!r}")
    if degree < 2:
        raise ValueError(f"degree must be an integer >= 2 (the ℓ∞ program is bilinear in (t, s), "
                         f"so products of degree < 2 cannot certify it), got {degree!r}")
    return int(degree)


def _cliques(prog: LinfProgram, sparse: bool) -> list[list[np.ndarray]]:
    """Variable cliques per LP. Variables: ``u_i`` is ``i`` (``0..d−1``), ``s_j`` is ``d + j``.

    ``sparse``: one LP per connected component, cliques ``{s_j} ∪ {u_i : a_ji ≠ 0}``.
    Otherwise one LP over all variables of active units and read inputs (a single clique).
    """
    d = prog.d
    nz = (prog.A != 0).numpy()
    if not sparse:
        read = np.nonzero(nz.any(0))[0]
        allv = np.concatenate([read, d + np.arange(prog.m)]).astype(np.int64)
        return [[allv]] if prog.m else []
    lps = []
    for _, rows in prog.components:
        lps.append([np.concatenate([np.nonzero(nz[j])[0], [d + j]]).astype(np.int64)
                    for j in rows.tolist()])
    return lps


def _n_products_estimate(cliques: list[np.ndarray], k: int, d: int) -> int:
    """Number of products of one LP (an upper bound when pure-input subsets are shared).

    A unit clique ``C_j = {s_j} ∪ N_j`` gives ``C(|N_j|, r − 1)`` subsets with ``s_j`` and
    ``C(|N_j|, r)`` without, ``r = min(k, |C_j|)``, each with ``2^r`` sign patterns; the latter
    are shared between units, so at most ``C(|∪ N_j|, r)`` of them are distinct. Exact for a
    single (dense) clique: ``C(|C|, r) 2^r``.
    """
    if len(cliques) == 1:
        n = len(cliques[0])
        r = min(k, n)
        return math.comb(n, r) << r
    with_s = 0
    pure: dict[int, int] = {}
    inputs: set = set()
    for c in cliques:
        n_in = int(np.count_nonzero(c < d))
        r = min(k, n_in + 1)
        with_s += math.comb(n_in, r - 1) << r
        pure[r] = pure.get(r, 0) + math.comb(n_in, r)
        inputs.update(c[c < d].tolist())
    return with_s + sum(min(v, math.comb(len(inputs), r)) << r for r, v in pure.items())


def linf_lp_size(weights: ShallowWeights, degree: int = DEFAULT_DEGREE, *,
                 sparse: bool = True) -> int:
    """Number of products (LP columns) :func:`linf_lp` would build: exact for the dense LP, an
    upper bound for the sparse one (input-only subsets shared between units count once at most
    ``C(d_c, k)`` times). Cheap (nothing is built); :func:`linf_lp` compares it with
    ``max_products`` before building anything.
    """
    degree = check_degree(degree)
    prog = linf_program(weights)
    return sum(_n_products_estimate(c, degree, prog.d) for c in _cliques(prog, bool(sparse)))


@lru_cache(maxsize=64)
def _combos(n: int, r: int) -> np.ndarray:
    """All ``r``-subsets of ``range(n)`` as an ``(C(n, r), r)`` int64 array (lexicographic)."""
    if r == 0:
        return np.zeros((1, 0), dtype=np.int64)
    return np.array(list(combinations(range(n), r)), dtype=np.int64).reshape(-1, r)


@lru_cache(maxsize=16)
def _sign_template(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expansion of ``Π_{v∈A} x_v Π_{v∈S∖A} (1 − x_v)`` over ``r`` variables (bit masks).

    Returns ``(A_mask, M_mask, sign)`` over all ``3^r`` pairs ``A ⊆ M ⊆ S``: the product with
    ``x``-set ``A`` has coefficient ``(−1)^{|M∖A|}`` on the monomial ``x^M``.
    """
    a_l, m_l, s_l = [], [], []
    for a in range(1 << r):
        rest = ((1 << r) - 1) & ~a
        sub = rest
        while True:
            a_l.append(a)
            m_l.append(a | sub)
            s_l.append(-1.0 if bin(sub).count("1") % 2 else 1.0)
            if sub == 0:
                break
            sub = (sub - 1) & rest
    return np.array(a_l), np.array(m_l), np.array(s_l)


def _encode(cols: list[np.ndarray], base: int, n: int) -> np.ndarray:
    """Integer keys of ``n`` sorted variable tuples (columns of ids); 0 is the empty set."""
    key = np.zeros(n, dtype=np.int64)
    for c in cols:
        key = key * base + (c + 1)
    return key


def _build_lp(cliques: list[np.ndarray], k: int, n_vars: int):
    """Entries of the expansion matrix ``E`` (monomials × products) of the degree-k certificate.

    For every clique, every subset ``S`` of exactly ``r = min(k, |C|)`` of its variables (shared
    subsets once) and every ``A ⊆ S``, one product ``Π_A x_v Π_{S∖A} (1 − x_v)`` (a column).
    Returns ``(keys, cols, vals, n_cols, is_const)``: entry ``i`` puts ``vals[i] = ±1`` on the
    monomial with integer key ``keys[i]`` (see :func:`_encode`; 0 is the constant) in column
    ``cols[i]``; ``is_const`` ``(n_cols,)`` marks the products with constant term 1 (``A = ∅``).
    """
    base = n_vars + 1
    r_max = max((min(k, len(c)) for c in cliques), default=0)   # products have min(k, |C|) vars
    if r_max * math.log2(base) > 62:
        raise ValueError(f"degree {k} with {n_vars} variables is too large to index; "
                         "lower the degree")
    by_r: dict[int, list[np.ndarray]] = {}
    for c in cliques:
        c = np.sort(c)
        r = min(k, len(c))
        by_r.setdefault(r, []).append(c[_combos(len(c), r)])
    keys_l, cols_l, vals_l, const_l = [], [], [], []
    offset = 0
    for r in sorted(by_r):
        S = np.concatenate(by_r[r])
        S = np.unique(S, axis=0) if len(S) > 1 else S          # de-duplicate shared subsets
        n_S = S.shape[0]
        A_mask, M_mask, sign = _sign_template(r)
        bits = np.arange(r)
        for a, msk, sg in zip(A_mask, M_mask, sign):
            sel = bits[(msk >> bits) & 1 == 1]
            keys_l.append(_encode([S[:, b] for b in sel], base, n_S))
            cols_l.append(offset + np.arange(n_S, dtype=np.int64) * (1 << r) + a)
            vals_l.append(np.full(n_S, sg))
        const = np.zeros(n_S << r, dtype=bool)
        const[0::1 << r] = True                                  # A = ∅ is mask 0
        const_l.append(const)
        offset += n_S << r
    keys = np.concatenate(keys_l)
    cols = np.concatenate(cols_l)
    vals = np.concatenate(vals_l)
    return keys, cols, vals, offset, np.concatenate(const_l)


def _poly_terms(prog: LinfProgram, rows: Optional[Tensor] = None) -> tuple[np.ndarray, np.ndarray]:
    """Monomial keys and coefficients of ``p`` in ``(u, s)``.

    ``p = Σ_j s_j a_jᵀ(2u − 1) = Σ_{j,i} 2 a_ji s_j u_i − Σ_j (Σ_i a_ji) s_j`` (rows ``rows`` only).
    """
    d = prog.d
    base = d + prog.m + 1
    A = prog.A.numpy()
    rows_np = np.arange(prog.m) if rows is None else rows.numpy()
    jj, ii = np.nonzero(A[rows_np])
    jj = rows_np[jj]
    k2 = _encode([ii, d + jj], base, ii.size)
    k1 = _encode([d + rows_np], base, rows_np.size)
    coef2 = 2.0 * A[jj, ii]
    coef1 = -A[rows_np].sum(1)
    return np.concatenate([k2, k1]), np.concatenate([coef2, coef1])


def _solve_one(cliques: list[np.ndarray], k: int, prog: LinfProgram, rows: Optional[Tensor],
               options: dict):
    """Build, solve and verify one LP.

    Returns ``(bound, objective, residual, (n_cols, n_rows, nnz), status, times)``.
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    t0 = time.perf_counter()
    n_vars = prog.d + prog.m
    keys, cols, vals, n_cols, is_const = _build_lp(cliques, k, n_vars)
    p_keys, p_coef = _poly_terms(prog, rows)
    uniq, inv = np.unique(np.concatenate([keys, p_keys]), return_inverse=True)
    inv_E, inv_p = inv[:keys.size], inv[keys.size:]
    if uniq[0] != 0:  # pragma: no cover - every product with A = ∅ has a constant term
        raise RuntimeError("internal error: no constant monomial")
    E = sp.csr_matrix((vals, (inv_E, cols)), shape=(uniq.size, n_cols))
    rhs = np.zeros(uniq.size)
    np.add.at(rhs, inv_p, -p_coef)                  # θ − p = E c: row μ ≠ ∅ gives E_μ c = −p_μ
    A_eq, b_eq = E[1:], rhs[1:]
    cost = is_const.astype(float)                   # θ = p_∅ + Σ_{A=∅} c  (p has no constant)
    if A_eq.shape[0] and np.any((np.abs(A_eq).sum(1).A1 == 0) & (b_eq != 0)):
        raise ValueError(f"degree {k} cannot represent the program (a monomial of p is in no "
                         "product); raise the degree")
    t1 = time.perf_counter()
    options = dict(options)
    method = options.pop("method", "highs")
    res = linprog(cost, A_eq=A_eq.tocsc(), b_eq=b_eq, bounds=(0, None), method=method,
                  options=options)
    t2 = time.perf_counter()
    if res.x is None:
        from .solvers import SolverError
        raise SolverError(f"HiGHS returned no solution for the degree-{k} ℓ∞ LP: {res.message}")
    if res.status != 0:
        warnings.warn(f"HiGHS stopped before optimality on the degree-{k} ℓ∞ LP "
                      f"({res.message}); the bound from its point is certified but may be loose",
                      RuntimeWarning, stacklevel=3)
    c = np.maximum(np.asarray(res.x, dtype=np.float64), 0.0)
    bound, residual = _certify(A_eq, b_eq, cost, c, p_coef)
    t3 = time.perf_counter()
    return (bound, float(res.fun), residual, (n_cols, uniq.size - 1, E.nnz), str(res.message),
            (t1 - t0, t2 - t1, t3 - t2))


def _certify(A_eq, b_eq: np.ndarray, cost: np.ndarray, c: np.ndarray,
             p_coef: np.ndarray) -> tuple[float, float]:
    """Certified ``max p`` from any ``c ≥ 0``: ``θ₀ + Σ_μ |r_μ|`` plus float64 rounding bounds.

    Let ``θ₀ = Σ_{A=∅} c_P`` (the constant term of ``Q = Σ_P c_P P``; ``p`` has none) and
    ``r_μ = b_μ − (A_eq c)_μ = −p_μ − Q_μ`` for every monomial ``μ ≠ ∅``. Then, as multilinear
    polynomials, ``Q = θ₀ − p − Σ_μ r_μ x^μ``, i.e. ``p = θ₀ − Q − Σ_μ r_μ x^μ``. At a vertex of
    ``[0, 1]^n`` every product ``P ≥ 0`` and every ``x^μ ∈ {0, 1}``, so
    ``p ≤ θ₀ + Σ_μ |r_μ|``; ``p`` is affine in each variable, so its maximum over the box is
    attained at a vertex. Rounding: each computed ``r_μ`` is a sum of ``n_μ + 1`` terms, off by
    at most ``γ_{n_μ+2} (|b_μ| + Σ_P |E_μP| c_P)``; ``θ₀`` by ``γ_n θ₀``; the coefficients of
    ``p`` (``2α_j w_ji`` exact up to one rounding, ``Σ_i α_j w_ji`` a sum) by ``γ_{n_p}`` of
    their magnitudes; the final sum by a relative ``4u``.
    """
    r = b_eq - A_eq @ c
    absA = abs(A_eq)
    mag = np.abs(b_eq) + absA @ c
    n_terms = np.diff(A_eq.tocsr().indptr) + 2
    theta0 = math.fsum((cost * c).tolist())
    residual = math.fsum(np.abs(r).tolist())
    err = float(np.sum(gamma(n_terms.astype(float)) * mag))
    err += gamma(max(1, int(np.count_nonzero(cost)))) * theta0
    err += gamma(len(p_coef) + 2) * float(np.abs(p_coef).sum())
    bound = (theta0 + residual + err) * (1 + 4 * UNIT_ROUNDOFF)
    return bound, residual


def _scale_exponent(A: Tensor) -> int:
    """``e`` with ``max|A|·2^−e ∈ [1/2, 1)``, lowered so that no nonzero entry of ``A·2^−e`` is
    subnormal (exact scaling)."""
    mag = A.abs()[A != 0]
    if not mag.numel():
        return 0
    return min(math.frexp(float(mag.max()))[1], math.frexp(float(mag.min()))[1] + 1021)


def _ldexp_up(x: float, e: int) -> float:
    """``x·2^e`` never rounded down (``inf`` on overflow): scales a certified bound back."""
    try:
        y = math.ldexp(x, e)
    except OverflowError:
        return math.inf if x > 0 else -math.inf
    return math.nextafter(y, math.inf) if 0 < x and abs(y) < _TINY else y


def linf_lp(weights: ShallowWeights, degree: int = DEFAULT_DEGREE, *, sparse: bool = True,
            max_products: int = DEFAULT_MAX_PRODUCTS,
            solver_options: Optional[dict] = None) -> LinfLPResult:
    """Certified LiPopt-style LP bound of degree ``degree`` on the ℓ∞ program (docs/linf.md).

    Solves ``min θ`` subject to ``θ − p = Σ c_{A,B} Π_A x_v Π_B (1 − x_v)``, ``c ≥ 0`` (see the
    module docstring for the products and the certification), with HiGHS through
    :func:`scipy.optimize.linprog`. The result bounds ``P*`` and hence ``L∞`` from above.
    Guarantees: ``P* ≤ LP_k ≤ LP_{k−1} ≤ … ≤ LP_2 ≤`` naive (up to solver tolerance; every
    reported value is certified whatever the solver returns), dense ``≤`` sparse.

    Args:
        weights: the network (biases do not enter).
        degree: hierarchy level ``k >= 2`` (products of ``k`` distinct variables).
        sparse: products inside unit cliques, one LP per connected component (LiPopt's sparse
            certificate); ``False``: all variables in one clique (dense).
        max_products: refuse to build an LP with more products than this (memory, time).
        solver_options: options for :func:`scipy.optimize.linprog`'s HiGHS. The default is its
            interior-point method with crossover (``{"method": "highs-ipm"}``, 5× faster than
            simplex here); e.g. ``{"method": "highs-ds"}``, ``{"time_limit": 60}``,
            ``{"run_crossover": "off"}``. A solve that stops early still gives a certified
            (looser) bound, with a warning.

    Returns:
        :class:`LinfLPResult`.

    Raises:
        TypeError / ValueError: bad ``weights``, ``degree`` (not an integer ``>= 2``) or
            ``max_products``; an LP larger than ``max_products`` (the message gives its size).
        SolverError: HiGHS returned no point at all.
    """
    degree = check_degree(degree)
    max_products = check_positive_int(max_products, "max_products")
    if not isinstance(sparse, bool):
        raise TypeError(f"sparse must be True or False, got {sparse!r}")
    options = {"method": "highs-ipm"}
    options.update(solver_options or {})
    prog = linf_program(weights)
    lps = _cliques(prog, sparse)
    size = sum(_n_products_estimate(c, degree, prog.d) for c in lps)
    if size > max_products:
        raise ValueError(
            f"the degree-{degree} {'sparse' if sparse else 'dense'} ℓ∞ LP would have about "
            f"{size:,} products (d = {prog.d}, {prog.m} active units), more than "
            f"max_products={max_products:,}; lower the degree"
            f"{'' if sparse else ', use sparse=True'}, prune the network or raise max_products")
    comps = prog.components if sparse else [(None, None)]
    bound = obj = resid = 0.0
    n_cols = n_rows = nnz = 0
    statuses: list[str] = []
    times = [0.0, 0.0, 0.0]
    for cliques, (_, rows) in zip(lps, comps):
        # HiGHS's tolerances are absolute: solve at max|a_ji| ≈ 1 (P* is homogeneous in A, and
        # a power of two scales exactly) and scale the certified numbers back, rounding up
        e = _scale_exponent(prog.A if rows is None else prog.A[rows])
        scaled = replace(prog, A=torch.ldexp(prog.A, torch.tensor(-e, dtype=torch.float64)))
        b, o, r, (nc, nr, nz), status, ts = _solve_one(cliques, degree, scaled, rows, options)
        b, o, r = _ldexp_up(b, e), _ldexp_up(o, e), _ldexp_up(r, e)
        bound += b
        obj += o
        resid += r
        n_cols, n_rows, nnz = n_cols + nc, n_rows + nr, nnz + nz
        if status not in statuses:
            statuses.append(status)
        times = [a + b_ for a, b_ in zip(times, ts)]
    bound *= 1 + 2 * len(lps) * UNIT_ROUNDOFF  # the sum over components
    return LinfLPResult(
        bound=bound, degree=degree, sparse=sparse, solver_objective=obj, residual=resid,
        n_products=n_cols, n_monomials=n_rows, nnz=nnz, n_lps=len(lps),
        status="; ".join(statuses) or "trivial", build_time=times[0], solve_time=times[1],
        verify_time=times[2])


# ---------------------------------------------------------------------------- lower bounds
@dataclass(kw_only=True)
class LinfLowerBound:
    """A lower bound on ``L∞`` attained at a real input.

    Attributes:
        value: ``‖∇f(x)‖₁`` at ``x`` (exact, float64): a valid lower bound on ``L∞``.
        x: ``(d,)`` float64 point (``None`` when no candidate pattern was realisable).
        vertex: ``(d,)`` the vertex ``t`` whose relaxed-optimal pattern ``x`` realises.
        program_value: ``Σ_j relu(a_jᵀ t)`` at that vertex (``value ≥ program_value`` up to
            rounding).
        n_tried, n_realised: candidate vertices checked and realisable.
    """

    value: float
    x: Optional[Tensor]
    vertex: Optional[Tensor]
    program_value: float
    n_tried: int
    n_realised: int


def _realise(W: np.ndarray, b: np.ndarray, sigma: np.ndarray) -> Optional[np.ndarray]:
    """A point ``x`` with ``σ_j (w_jᵀx + b_j) > 0`` for every ``σ_j ≠ 0`` (LP), or ``None``."""
    from scipy.optimize import linprog

    sel = sigma != 0
    if not sel.any():
        return np.zeros(W.shape[1])
    G = sigma[sel, None] * W[sel]
    h = sigma[sel] * b[sel]
    scale = np.maximum(np.linalg.norm(G, axis=1), 1e-300)
    G, h = G / scale[:, None], h / scale
    d = W.shape[1]
    # max δ  s.t.  G x + h ≥ δ,  δ ≤ 1   ⇔   min −δ  s.t.  −G x + δ ≤ h
    res = linprog(np.r_[np.zeros(d), -1.0], A_ub=np.c_[-G, np.ones(len(h))], b_ub=h,
                  bounds=[(None, None)] * d + [(None, 1.0)], method="highs")
    if res.x is None or res.status != 0 or -res.fun <= 1e-9:
        return None
    return res.x[:d]


def linf_vertex_lower_bound(weights: ShallowWeights, vertices: Tensor) -> LinfLowerBound:
    """Lower bound on ``L∞`` from vertices ``t`` whose optimal relaxed pattern an input realises.

    For each vertex (rows of ``vertices (K, d)``, entries ±1) the pattern
    ``s_j = 1[α_j w̄_jᵀ t > 0]`` maximises the relaxed program at ``t``; an LP looks for an input
    ``x`` with exactly that pattern on every unit with ``α_j w̄_jᵀ t ≠ 0`` (strict margins). At such
    an ``x``, ``‖∇f(x)‖₁ ≥ tᵀ∇f(x) = Σ_j relu(α_j w̄_jᵀ t)``. The value reported is the exact
    gradient norm recomputed at ``x`` in float64 (pattern ``1[w_jᵀx + b_j > 0]``), so it is a
    valid lower bound however the LP went.

    Returns:
        :class:`LinfLowerBound` (value 0 and ``x = None`` when no pattern is realisable).

    Raises:
        ValueError: ``vertices`` not of shape ``(K, d)`` or with entries other than ±1.
    """
    w = _as_weights(weights)
    W = w.W.detach().to("cpu", torch.float64)
    b = w.b.detach().to("cpu", torch.float64)
    alpha = w.alpha.detach().to("cpu", torch.float64)
    V = torch.as_tensor(vertices).detach().to("cpu", torch.float64)
    if V.dim() == 1:
        V = V[None]
    if V.dim() != 2 or V.shape[1] != W.shape[1]:
        raise ValueError(f"vertices must have shape (K, {W.shape[1]}), got {tuple(V.shape)}")
    if not bool(((V == 1) | (V == -1)).all()):
        raise ValueError("vertices must have entries ±1 (rows t ∈ {−1, 1}^d)")
    A = alpha[:, None] * W
    best = LinfLowerBound(
        value=0.0, x=None, vertex=None, program_value=0.0, n_tried=0, n_realised=0)
    Wn, bn = W.numpy(), b.numpy()
    tried = realised = 0
    for t in V:
        z = A @ t
        sigma = torch.sign(z).numpy()
        tried += 1
        x = _realise(Wn, bn, sigma)
        if x is None:
            continue
        realised += 1
        xt = torch.as_tensor(x, dtype=torch.float64)
        val = float(realised_gradient_norms(xt[None], W, b, alpha, 1.0)[0])
        if val > best.value:
            best = LinfLowerBound(
                value=val, x=xt, vertex=t.clone(), program_value=float(torch.relu(z).sum()),
                n_tried=0, n_realised=0)
    best.n_tried, best.n_realised = tried, realised
    return best


def linf_vertex_search(weights: ShallowWeights, starts: Optional[Tensor] = None, *,
                       n_random: int = 64, top_k: int = 8, max_rounds: int = 100,
                       generator: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor]:
    """Good vertices of the ℓ∞ program by batched 1-flip ascent (a heuristic, for lower bounds).

    Starts from the rows of ``starts`` (``(B, d)``, signs taken) and ``n_random`` random vertices;
    each round flips, in every start, the coordinate that increases ``Σ_j relu(a_jᵀ t)`` most.

    Returns:
        ``(values (K,), vertices (K, d))``: the best ``top_k`` local maxima found, best first.
        The values are *not* bounds on ``L∞`` (see :func:`linf_vertex_lower_bound`).

    Raises:
        ValueError: ``starts`` not of shape ``(B, d)`` (or ``(d,)``) or not finite; negative
            ``n_random`` or ``max_rounds``, ``top_k < 1``, or no start at all.
    """
    n_random = check_positive_int(n_random, "n_random", minimum=0)
    top_k = check_positive_int(top_k, "top_k")
    max_rounds = check_positive_int(max_rounds, "max_rounds", minimum=0)
    prog = linf_program(weights)
    A = prog.A
    d = prog.d
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    T = [torch.randint(0, 2, (n_random, d), generator=gen).to(torch.float64) * 2 - 1]
    if starts is not None:
        S = as_tensor(starts, "starts").detach()
        S = check_X(S[None] if S.dim() == 1 else S, "starts", d).to("cpu", torch.float64)
        T.append(torch.where(S >= 0, 1.0, -1.0))
    T = torch.cat(T)
    if T.shape[0] == 0:
        raise ValueError("linf_vertex_search needs at least one start: n_random=0 and no starts")
    if A.shape[0] == 0:
        return torch.zeros(1, dtype=torch.float64), T[:1]
    chunk = max(1, _ENUM_BLOCK // (d * A.shape[0]))
    for lo in range(0, T.shape[0], chunk):                          # independent ascents
        Tc = T[lo:lo + chunk]
        Z = Tc @ A.T                                                # (B, m)
        for _ in range(max_rounds):
            g = torch.relu(Z).sum(1)
            # value after flipping coordinate i: Σ_j relu(z_j − 2 t_i a_ji)
            Zf = Z[:, None, :] - 2 * Tc[:, :, None] * A.T[None, :, :]   # (B, d, m)
            gain, i = (torch.relu(Zf).sum(2) - g[:, None]).max(1)
            move = gain > 1e-12 * (1 + g)
            if not bool(move.any()):
                break
            rows = torch.nonzero(move).flatten()
            Tc[rows, i[rows]] *= -1
            Z[rows] = Zf[rows, i[rows]]
    g = torch.relu(T @ A.T).sum(1)
    uniq, inv = torch.unique(T, dim=0, return_inverse=True)
    gu = torch.full((uniq.shape[0],), -math.inf, dtype=torch.float64).scatter_reduce(
        0, inv, g, reduce="amax")
    k = min(top_k, uniq.shape[0])
    v, idx = torch.topk(gu, k)
    return v, uniq[idx]


# ------------------------------------------------------------------- used by lipschitz_bounds
#: Methods of :func:`~torch_lipcvx.bounds.lipschitz_bounds`, by input norm (the first is the
#: default).
METHODS = {2.0: ("lipsdp", "naive"), math.inf: ("best", "exact", "lp", "lipsdp", "naive", "all")}


def check_method(norm: float, method: Optional[str]) -> str:
    """Resolve ``method`` for the (already checked) ``norm``; ``None`` gives the norm's default.

    ℓ2: ``"lipsdp"`` (default) or ``"naive"``. ℓ∞: ``"best"`` (default), ``"exact"``, ``"lp"``,
    ``"lipsdp"`` (``√d·L₂``), ``"naive"`` or ``"all"``.
    """
    allowed = METHODS[norm]
    if method is None:
        return allowed[0]
    if isinstance(method, str) and method in allowed:
        return method
    if norm == 2:
        raise ValueError(f"method must be 'lipsdp' or 'naive', got {method!r} (for norm=2; "
                         "'best', 'exact', 'lp' and 'all' are ℓ∞ methods, for norm=inf)")
    raise ValueError(f"method must be one of 'best', 'exact', 'lp', 'lipsdp', 'naive' or 'all' "
                     f"for norm=inf, got {method!r}")


@dataclass
class LinfBounds:
    """ℓ∞ upper bounds computed by :func:`linf_upper_bounds`.

    Attributes:
        upper_bounds: certified upper bounds by method name (``"exact"``, ``"lp{k}_sparse"`` or
            ``"lp{k}_dense"``); output units per input unit.
        exact: the enumeration result, when computed.
        lp: the LP results, when computed.
        skipped: method name → why it was not computed (too large for the budget).
    """

    upper_bounds: dict = field(default_factory=dict)
    exact: Optional[LinfExactResult] = None
    lp: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)


def lp_name(degree: int, sparse: bool) -> str:
    """Key of an LP bound in ``upper_bounds``: ``"lp3_sparse"``, ``"lp2_dense"``, ..."""
    return f"lp{degree}_{'sparse' if sparse else 'dense'}"


def check_linf_options(degree, sparse, max_exact_dim, max_products) -> None:
    """Validate the ℓ∞ options of :func:`~torch_lipcvx.bounds.lipschitz_bounds`."""
    if degree is not None:
        check_degree(degree)
    if not isinstance(sparse, bool):
        raise TypeError(f"sparse must be True or False, got {sparse!r}")
    _check_max_dim(max_exact_dim)
    check_positive_int(max_products, "max_products")


def linf_upper_bounds(weights: ShallowWeights, method: str = "best", *,
                      degree: Optional[int] = None, sparse: bool = True,
                      max_exact_dim: int = DEFAULT_MAX_EXACT_DIM,
                      max_products: int = DEFAULT_MAX_PRODUCTS,
                      lp_options: Optional[dict] = None) -> LinfBounds:
    """The program-based ℓ∞ upper bounds that ``method`` asks for (naive and ``√d·L₂`` excluded).

    * ``"exact"``: :func:`linf_exact` (raises if a component is larger than ``max_exact_dim``).
    * ``"lp"``: :func:`linf_lp` of degree ``degree`` (default: 3 if that LP has at most
      ``max_products`` products, else 2); raises if too large.
    * ``"best"``: ``"exact"`` when every component has at most ``max_exact_dim`` inputs (it is
      never looser than any LP), else the LP as for ``"lp"`` when it fits the budget, else
      nothing (the caller still has naive and ``√d·L₂``).
    * ``"all"``: the exact value and the LP, each when it fits.
    * ``"lipsdp"``, ``"naive"``: nothing.

    Returns:
        :class:`LinfBounds` (every value certified).
    """
    out = LinfBounds()
    if method in ("lipsdp", "naive"):
        return out
    want_exact = method in ("exact", "best", "all")
    want_lp = method in ("lp", "all")
    if want_exact:
        prog = linf_program(weights)
        if prog.max_component_dim <= max_exact_dim or method == "exact":
            out.exact = linf_exact(weights, max_dim=max_exact_dim)
            out.upper_bounds["exact"] = out.exact.upper
        else:
            out.skipped["exact"] = (f"largest component reads {prog.max_component_dim} inputs "
                                    f"> max_exact_dim={max_exact_dim}")
            want_lp = want_lp or method == "best"
    if want_lp:
        k = degree
        if k is None:
            k = (DEFAULT_DEGREE if linf_lp_size(weights, DEFAULT_DEGREE, sparse=sparse)
                 <= max_products else 2)
        size = linf_lp_size(weights, k, sparse=sparse)
        if size <= max_products or method == "lp":
            res = linf_lp(weights, k, sparse=sparse, max_products=max_products,
                          solver_options=lp_options)
            out.lp.append(res)
            out.upper_bounds[lp_name(k, sparse)] = res.bound
        else:
            out.skipped[lp_name(k, sparse)] = f"{size:,} products > max_products={max_products:,}"
    return out


def linf_lower_bound(weights: ShallowWeights, *, exact: Optional[LinfExactResult] = None,
                     x_start: Optional[Tensor] = None,
                     generator: Optional[torch.Generator] = None) -> LinfLowerBound:
    """The vertex-pattern lower bound on ``L∞`` (see :func:`linf_vertex_lower_bound`).

    Candidate vertices: the best vertices of ``exact`` when given (so the bound equals ``P*``
    whenever the maximising pattern is realisable), else local maxima found by
    :func:`linf_vertex_search` started from ``sign ∇f(x_start)`` and from random vertices (64,
    fewer for large ``d·m`` to keep the search at about 2e8 flops).

    Raises:
        ValueError: ``x_start`` without exactly ``d`` finite entries.
    """
    w = _as_weights(weights)
    if exact is not None:
        cands = exact.candidates
    else:
        starts = None
        if x_start is not None:
            W = w.W.detach().to("cpu", torch.float64)
            b = w.b.detach().to("cpu", torch.float64)
            alpha = w.alpha.detach().to("cpu", torch.float64)
            x = as_tensor(x_start, "x_start").detach().reshape(-1)
            if x.numel() != w.d:
                raise ValueError(f"x_start must hold the network's {w.d} inputs, got shape "
                                 f"{tuple(torch.as_tensor(x_start).shape)}")
            check_finite(x, "x_start")
            x = x.to("cpu", torch.float64)
            starts = (((W @ x + b > 0).to(W) * alpha) @ W)[None]
        rounds = 2 * w.d + 10
        n_random = int(min(64, max(4, 2e8 / (w.d * max(1, w.m) * rounds))))  # ≈ 2e8 flops
        _, cands = linf_vertex_search(w, starts, n_random=n_random, generator=generator,
                                      max_rounds=rounds)
    return linf_vertex_lower_bound(w, cands)
