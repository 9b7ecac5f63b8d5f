"""Programs (6) and (12) with fixed patterns by an interior point in torch (docs/programs.md,
docs/solvers.md): :class:`PatternBarrier`, the torch counterpart of the cvxpy programs of
:mod:`.programs`. No cvxpy; float64 on the device of the data (CPU or CUDA, same code).

Both programs read, in ``z = (W̃, c, extra)`` with ``W̃ (m, d + 1)`` and an output bias c (free, or
frozen at 0),

    min  (1/n)‖Φ x − y‖² + (β/2)‖W̃‖² + (linear in extra)   s.t.  S = (2D − 1) ∘ (X̃ W̃ᵀ) ≥ 0

with ``Φ = [a_1 D_1 X̃, …, a_m D_m X̃, 1]`` (``a = α`` for (12), ``a = ±1`` for (6)) and

* (12): extra = ρ, and ``ρ I − W̄ᵀ M W̄ ⪰ 0`` with ``M = T/2 + ααᵀ/(4(1 − s)) = T P⁻¹ T``: the
  LMI of docs/programs.md §2 after a Schur complement on ``P = 2T − ααᵀ ≻ 0``;
* (6): extra = τ, and ``‖w̃_j‖ ≤ τ_j`` (the group norms).

:class:`PatternBarrier` solves them with :func:`torch_lipcvx._engine.ipm.solve`, a primal–dual
interior point with Nesterov–Todd scaling, Mehrotra's predictor–corrector and Gondzio's centrality
correctors; the LMI of (12) in its ``d × d`` form ``ρ I − W̄ᵀ M W̄ ⪰ 0``
(:class:`~torch_lipcvx._engine.ipm.SchurLMI`, docs/solvers.md §3.1; :meth:`lmi_part`), on the
dense and the matrix-free Newton systems alike.
The Newton matrix is the Gram matrix ``(2/n)ΦᵀΦ`` (accumulated once over row chunks) plus
block-diagonal ``X̃ᵀ diag(z_j/s_j) X̃`` per unit, the LMI's ``(m d + 1)`` block or the cones'
blocks, factorised by Cholesky; memory is ``O(n m + (m (d + 1))²)``. The start is the current
network and every iterate is primal feasible, so the result keeps the patterns exactly (rows
reaching 0 are active constraints, where relu(0) = 0 either way). The iterates are not monotone in
the objective: with status ``"optimal"`` the result is never worse than the start (the start itself
is returned if the optimum found is not below it); after an early stop it is the last iterate, which
can be worse (callers compare, Algorithm 1 rejects it). Units whose bias has a flat direction when
β = 0 are eliminated exactly (:meth:`PatternBarrier._flat_units`). The objective of the returned
point is evaluated exactly (ρ by an eigenvalue for the given t).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

import torch
from torch import Tensor

from . import ipm, newton_cg
from .distributed import RowComm, local_or
from .._checks import check_nonneg, check_patterns, check_positive
from ..solvers import SolveRecord

__all__ = ["PatternBarrier"]

# Constraint screening of the pattern rows (PatternBarrier._rows_solve): used by default when
# n·m reaches SCREEN_MIN; SCREEN_K rows per unit to start, up to SCREEN_ADD violated rows per
# unit added per round, at most SCREEN_ROUNDS rounds.
SCREEN_MIN = 5_000_000
SCREEN_K = 256
SCREEN_ADD = 64
SCREEN_ROUNDS = 8
# The warm start of (12) across Algorithm-1 steps (PatternBarrier._warm_start): the start moves
# WARM_RECENTRE of the way towards the anchor (per unit, less where t_j is large), and the
# previous solve's duals are put back inside the cones with μ = WARM_MU·|f|/ν.
WARM_RECENTRE = 0.1
WARM_MU = 0.1
# ... unless the previous solve's well-centred iterate (ipm.Snapshot.centre, its first iterate
# at a relative gap of WARM_CENTRE_GAP) is close enough: the LMI's matrix W̄ᵀMW̄ there moved at
# most WARM_CENTRE_CHANGE (relative, spectral norm) with the new t; then the solve restarts
# from it (PatternBarrier._centre_start). Fitted on servo, machine and wine (m = 100).
WARM_CENTRE_GAP = 1e-4
WARM_CENTRE_CHANGE = 0.1



#: The Newton systems of the interior point: ``"dense"`` (Cholesky of the ``m (d + 1)`` matrix)
#: or ``"cg"`` (matrix-free, :mod:`.newton_cg`); the preconditioners of ``"cg"``.
NEWTON_METHODS = ("dense", "cg")
PRECONDITIONERS = ("auto", "block", "diag")


def check_newton(newton, precond) -> tuple[str, str]:
    """Validate the ``newton`` and ``precond`` choices (``ValueError`` in the user's terms)."""
    if newton not in NEWTON_METHODS:
        raise ValueError(f"newton must be one of {NEWTON_METHODS} (the dense Cholesky or the "
                         f"matrix-free conjugate gradients), got {newton!r}")
    if precond not in PRECONDITIONERS:
        raise ValueError(f"precond must be one of {PRECONDITIONERS}, got {precond!r}")
    return newton, precond


def _colmin(A: Tensor) -> Tensor:
    """The smallest entry of each column of ``A (n, m)`` (``inf`` without rows)."""
    return A.amin(0) if A.shape[0] else A.new_full((A.shape[1],), math.inf)


def _colmax(A: Tensor) -> Tensor:
    """The largest entry of each column of ``A (n, m)`` (``-inf`` without rows)."""
    return A.amax(0) if A.shape[0] else A.new_full((A.shape[1],), -math.inf)


def row_chunks(n: int, m: int, budget: int = 20_000_000) -> int:
    """Rows per chunk so that an ``(rows, m)`` float64 temporary holds at most ``budget``
    entries (160 MB): the passes over the data stay within ``O(n m)`` memory in pieces."""
    return max(1, min(n, budget // max(m, 1)))


class PatternQuadratic(ipm.SmoothObjective):
    """``(1/n)‖Φ_W W̃ + c − y‖² + (β/2)‖W̃‖² + lᵀe`` in ``x = (vec W̃, c, e)``, matrix-free.

    ``Φ_W W̃ = Σ_j a_j D_j X̃ w̃_j`` (``a`` the barrier's ``coef``). Every value, gradient and
    Hessian action is one or two passes over the rows in chunks (``O(n m (d + 1))`` flops,
    ``O(chunk · m)`` memory); nothing of size ``(m (d + 1))²`` is formed. Used by the
    matrix-free path (``newton="cg"``) of :class:`PatternBarrier`. With the barrier's ``comm``
    the rows are this process's shard: each pass's sum is all-reduced once and ``n`` is the
    total (docs/solvers.md §3.3).
    """

    def __init__(self, bar: "PatternBarrier", beta: float, lin: Tensor) -> None:
        self.bar, self.beta, self.lin = bar, float(beta), lin
        self.mp = bar.m * bar.p
        self.ne = lin.numel()
        self.rows = row_chunks(bar.n, bar.m)
        self._da_all: Optional[Tensor] = None
        if self.rows >= bar.n:
            self._da_all = self._da(slice(0, bar.n))
        self._scale: Optional[Tensor] = None
        self._unit: dict = {}

    def _da(self, sl: slice) -> Tensor:
        """``D ∘ a`` on the rows ``sl`` as floats (kept whole while it is one chunk)."""
        if self._da_all is not None:
            return self._da_all
        b = self.bar
        return b.D[sl].to(b.Xt.dtype) * b.coef

    def forward(self, W: Tensor, c) -> Tensor:
        """``Φ_W W̃ + c`` ``(n,)`` for ``W̃ (m, p)``."""
        b = self.bar
        out = torch.empty(b.n, dtype=W.dtype, device=W.device)
        for lo in range(0, b.n, self.rows):
            sl = slice(lo, lo + self.rows)
            out[sl] = ((b.Xt[sl] @ W.T) * self._da(sl)).sum(1)
        return out + c

    def adjoint(self, r: Tensor) -> Tensor:
        """``Φ_Wᵀ r`` as ``(m, p)`` for ``r (n,)``."""
        b = self.bar
        g = torch.zeros(b.m, b.p, dtype=r.dtype, device=r.device)
        for lo in range(0, b.n, self.rows):
            sl = slice(lo, lo + self.rows)
            g += (self._da(sl) * r[sl, None]).T @ b.Xt[sl]
        return g

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[: self.mp].reshape(self.bar.m, self.bar.p), x[self.mp]

    def value(self, x: Tensor) -> float:
        W, c = self._split(x)
        res = self.forward(W, c) - self.bar.y
        return (self.bar.comm.sum(float(res @ res)) / self.bar.n_total
                + 0.5 * self.beta * float(W.reshape(-1) @ W.reshape(-1))
                + float(self.lin @ x[-self.ne:]))

    def gradient(self, x: Tensor) -> Tensor:
        W, c = self._split(x)
        r = (self.forward(W, c) - self.bar.y) * (2.0 / self.bar.n_total)
        g = torch.empty_like(x)
        g[: self.mp] = self.adjoint(r).reshape(-1)
        g[self.mp] = r.sum()
        self.bar.comm.sum_(g[: self.mp + 1])          # the sums over rows, one all-reduce
        g[: self.mp] += self.beta * x[: self.mp]
        g[-self.ne:] = self.lin
        return g

    def hessian(self, x: Tensor) -> Tensor:
        raise NotImplementedError("PatternQuadratic is matrix-free; the dense path uses the Gram")

    def hessian_operator(self, x: Tensor):
        n, comm = self.bar.n_total, self.bar.comm

        def hvp(v: Tensor) -> Tensor:
            W, c = self._split(v)
            u = self.forward(W, c) * (2.0 / n)
            out = torch.zeros_like(v)
            out[: self.mp] = self.adjoint(u).reshape(-1)
            out[self.mp] = u.sum()
            comm.sum_(out[: self.mp + 1])             # the sums over rows, one all-reduce
            out[: self.mp] += self.beta * v[: self.mp]
            return out
        return hvp

    def scale(self) -> Optional[Tensor]:
        """``(2/n) Φᵀ y`` (the linear term of the quadratic, as the dense path measures the dual
        residual against it)."""
        if self._scale is None:
            b = self.bar
            s = torch.zeros(self.mp + 1 + self.ne, dtype=b.y.dtype, device=b.device)
            s[: self.mp] = b.comm.sum_(self.adjoint(b.y * (2.0 / b.n_total))).reshape(-1)
            s[self.mp] = 2.0 * b.y_mean
            self._scale = s
        return self._scale

    def precond(self, x: Tensor, pc) -> None:
        """Unit j's block of the Gram, ``(2/n) a_j² X̃ᵀ D_j X̃`` (constant: formed once and kept),
        β on the weights and 2 on the output bias."""
        b = self.bar
        key = (pc.mode, pc.exact_rows)
        if key not in self._unit:
            w = b.D.to(b.Xt.dtype) * (b.coef ** 2 * (2.0 / b.n_total))
            self._unit[key] = pc.form_rows(w)        # summed over the processes' rows
        pc.add_formed_rows(self._unit[key])
        if self.beta > 0:
            pc.unit_ridge(self.beta)
        pc.diag(self.mp, 2.0)



#: :func:`lagrangian_bound` is skipped when forming its unit blocks would cost more flops than
#: this (n m (d + 1)²; about a minute on one core).
BOUND_MAX_FLOPS = 2e11


def lagrangian_bound(fobj: ipm.SmoothObjective, parts: list, x: Tensor, Z: list, free: Tensor,
                     c_index: Optional[int], c_curvature: float,
                     ridge: float = 0.0) -> Optional[float]:
    """A proven lower bound on the optimum of the pattern programs from the interior point's
    duals (docs/solvers.md §3.2): the Lagrangian ``L(x, z) = f(x) − Σ_k ⟨z_k, s_k(x)⟩`` at a
    point where it is stationary, hence its minimum, hence (weak duality) ``≤ p*``.

    The iterate's duals leave a residual ``∇ₓL ≠ 0`` (inexact Newton directions); it is removed
    exactly, keeping every dual in its cone: the output bias by its closed-form minimiser (the
    squared loss has curvature ``c_curvature`` in it), the extra block by scaling the LMI's
    (resp. each group cone's) dual so that ``∂L/∂ρ = 0`` (``∂L/∂τ_j = 0``), and each unit's
    weights by moving the pattern rows' duals: ``z'_ij = z_ij (1 + σ_ij x̃_iᵀ y_j)`` with
    ``(X̃ᵀ diag(z_j) X̃) y_j = ∇_{w̃_j}L`` (the smallest change, weighted by ``z``). If some
    ``z'_ij`` would be negative it is clipped at 0 and the residual left is paid for by the
    ridge: ``L`` is ``ridge``-strongly convex in the weights, so ``min L ≥ L − ‖g‖²/(2 ridge)``;
    without a ridge such a residual, or one on a unit without rows, leaves no bound (``None``).
    Cost: a few passes over the rows and one ``(d + 1)``-block solve per unit.
    """
    x = x.clone()
    rows = parts[0]
    if not isinstance(rows, ipm.Rows):
        return None
    m, p = rows.m, rows.p
    rows_per_unit = rows.k if isinstance(rows, ipm.SubsetRows) else rows.n
    if m * p * p > newton_cg.BLOCK_MAX_ENTRIES or rows_per_unit * m * p * p > BOUND_MAX_FLOPS:
        return None                  # the unit blocks would not fit, or cost many solves' work
    if c_index is not None and bool(free[c_index]):
        x[c_index] -= fobj.gradient(x)[c_index] / c_curvature
    grad = fobj.gradient(x)
    g = grad
    Zs = [Z[0]]
    for pt, z in zip(parts[1:], Z[1:]):
        adj = pt.adjoint(z)
        if isinstance(pt, ipm.SchurLMI):
            tr = float(adj[pt.ri])
            if not tr > 0:
                return None
            z = z * (float(g[pt.ri]) / tr)
        elif isinstance(pt, ipm.GroupSOC):
            head = z[:, 0]
            if not bool((head > 0).all()):
                return None
            z = z * (g[pt.t0: pt.t0 + pt.m] / head)[:, None]
        else:
            return None
        Zs.append(z)
        g = g - pt.adjoint(z)
    g = g - rows.adjoint(Z[0])
    g = g * free
    m, p = rows.m, rows.p
    G = g[: m * p].reshape(m, p)
    rest = g.clone()
    rest[: m * p] = 0.0
    scale = float(grad.abs().max()) + 1e-300
    if float(rest.abs().max()) > 1e-12 * scale:            # coordinates no dual can move
        return None
    keep = rows.mask.clone() if rows.mask.dim() == 1 else rows.mask.any(1)
    if ridge == 0 and bool(keep.logical_not().any()) \
            and float(G[~keep].abs().max()) > 1e-12 * scale:
        return None
    z = Z[0] * rows.maskf
    zc, left = z, G.reshape(-1)
    for _ in range(4):       # absorb, clip the duals that would turn negative, absorb the rest
        Y = _unit_solve(rows, zc, left.reshape(m, p), keep)
        if isinstance(rows, ipm.SubsetRows):
            ratio = torch.einsum("jrp,jp->jr", rows.A, Y)
        else:
            ratio = rows.lin(torch.cat([Y.reshape(-1), x.new_zeros(x.numel() - m * p)]))
        zc = zc * (1.0 + ratio.clamp_min(-1.0)) * rows.maskf
        left = (g - (rows.adjoint(zc) - rows.adjoint(Z[0])))[: m * p] * free[: m * p]
        if float(left.abs().max()) <= 1e-13 * scale:
            break
    Zs[0] = zc
    if ridge > 0:
        penalty = float(left @ left) / (2.0 * ridge)
    elif float(left.abs().max()) <= 1e-12 * scale:
        penalty = 0.0
    else:
        return None
    S = [pt.slack(x) for pt in parts]
    return fobj.value(x) - sum(pt.dot(s_, z_) for pt, s_, z_ in zip(parts, S, Zs)) - penalty


def _unit_solve(rows, z: Tensor, G: Tensor, keep: Tensor) -> Tensor:
    """``y_j = (Σ_i z_ij x̃_i x̃_iᵀ)⁻¹ g_j`` for the kept units (zero for the others and for a
    unit whose block is singular even with a 1e-12 relative ridge)."""
    m, p = G.shape
    if isinstance(rows, ipm.SubsetRows):
        B = torch.einsum("jr,jrp,jrq->jpq", z, rows.A, rows.A)
    else:
        B = torch.zeros(m, p * p, dtype=G.dtype, device=G.device)
        Xt = rows.Xt
        chunk = max(1, 10_000_000 // (p * p))
        for lo in range(0, Xt.shape[0], chunk):
            Xc = Xt[lo:lo + chunk]
            B += z[lo:lo + chunk].T @ (Xc[:, :, None] * Xc[:, None, :]).reshape(len(Xc), p * p)
        B = rows.comm.sum_(B).reshape(m, p, p)          # over every process's rows
    Bk = B[keep]
    tr = torch.diagonal(Bk, dim1=1, dim2=2).sum(1).clamp_min(1e-300)
    Bk = Bk + (1e-12 * tr)[:, None, None] * torch.eye(p, dtype=G.dtype, device=G.device)
    L, info = torch.linalg.cholesky_ex(Bk)
    ok = info == 0               # a unit with too few rows left: no move (its residual stays)
    Y = torch.zeros(m, p, dtype=G.dtype, device=G.device)
    Yk = torch.zeros(int(keep.sum()), p, dtype=G.dtype, device=G.device)
    Yk[ok] = torch.cholesky_solve(G[keep][ok][:, :, None], L[ok])[:, :, 0]
    Y[keep] = Yk
    return Y


class PatternBarrier:
    """Programs (6) and (12) with fixed patterns, by the primal–dual interior point of :mod:`.ipm`.

    Both programs are, in ``z = (vec W̃, c, extra)`` with ``W̃ (m, d + 1)`` one row per unit,

        min  f₀(z) = (1/n)‖Φ x − y‖² + (β_s/2)‖W̃‖² + (linear term in extra)
        s.t. S = (2D − 1) ∘ (X̃ W̃ᵀ) ≥ 0                              (n × m pattern rows)
             (12): [[ρ I_d, (R W̄)ᵀ], [R W̄, I_m]] ⪰ 0, RᵀR = T P⁻¹ T   (extra = ρ, term λρ)
             (6):  ‖w̃_j‖ ≤ τ_j                                        (extra = τ, term β Σ τ_j)

    with ``Φ = [a_1 D_1 X̃, …, a_m D_m X̃, 1]`` (``a = α`` for (12), ``±1`` for (6)). The LMI is
    the one of docs/programs.md §2 after a Schur complement on ``P = 2T − ααᵀ ≻ 0``
    (``ρ ≥ ‖R W̄‖₂²``). The Gram matrix ``(2/n)ΦᵀΦ`` is accumulated once over row chunks; each
    iteration adds the cones' Newton blocks and factorises a matrix of size ``m (d + 1) + O(m)``.

    The start (the current network, nudged into the interior of its pattern cones) is primal
    feasible and every iterate stays strictly feasible, so the returned weights satisfy the
    patterns exactly. With status ``"optimal"`` the result is never worse than the start; after
    an early stop (``"max_iter"``, ``"stalled"``, ``"screened_partial"``) it is the last,
    well-centred iterate, which can be worse than the start (the iterates are not monotone).

    Args:
        X: ``(n, d)`` inputs; y: ``(n,)``; D: ``(n, m)`` boolean patterns; coef: ``(m,)``.
            All tensors on one device (CPU or CUDA); the work runs there in float64.
        output_bias: whether the output bias c is a free variable.
        chunk: rows per chunk when accumulating ``ΦᵀΦ``.
        comm: the rows ``X, y, D`` are this process's shard of the data, and every process of
            this :class:`~.distributed.RowComm` builds the barrier on its own shard and makes
            the same calls (docs/solvers.md §3.3): every sum, minimum and count over the rows is
            all-reduced, the rest is replicated, and each process returns the same point. With
            more than one process only ``newton="cg"`` without row screening is available
            (``ValueError`` otherwise). ``None``: one process.
    """

    def __init__(self, X: Tensor, y: Tensor, D: Tensor, coef: Tensor, *, output_bias: bool,
                 chunk: int = 4096, newton: str = "dense", precond: str = "auto",
                 comm: Optional[RowComm] = None) -> None:
        dt = torch.float64
        dev = X.device
        self.comm = comm = local_or(comm)
        if X.dim() != 2 or y.shape != (X.shape[0],) or D.dim() != 2 or D.shape[0] != X.shape[0] \
                or coef.shape != (D.shape[1],):
            raise ValueError(f"PatternBarrier needs X (n, d), y (n,), D (n, m) and coef (m,), got "
                             f"shapes {tuple(X.shape)}, {tuple(y.shape)}, {tuple(D.shape)} and "
                             f"{tuple(coef.shape)}")
        for name, v in (("y", y), ("D", D), ("coef", coef)):
            if v.device != dev:
                raise ValueError(f"PatternBarrier: {name} is on {v.device}, X on {dev}; put all "
                                 "tensors on one device")
        self.newton, self.precond = check_newton(newton, precond)
        if comm.distributed and self.newton != "cg":
            raise ValueError(f"PatternBarrier: rows shared by {comm.world} processes (comm) need "
                             f"the matrix-free Newton systems, newton='cg'; got {newton!r}")
        for name, v in (("X", X), ("y", y), ("coef", coef)):   # on every process (one verdict)
            if not comm.all(bool(torch.isfinite(v).all())):
                raise ValueError(f"PatternBarrier: {name} contains NaN/Inf")
        self.device = dev
        self.n, self.d = X.shape
        self.m = D.shape[1]
        self.p = self.d + 1
        n = self.n
        self.n_total = comm.n_total(n)     # the rows of every process (n: this process's)
        self.chunk = chunk
        self.Xt = torch.cat([X.to(dt), torch.ones(n, 1, dtype=dt, device=dev)], 1)
        self.y = y.to(dt)
        self.D = check_patterns(D, "D")
        self.coef = coef.to(dt)
        self.output_bias = bool(output_bias)
        self.nw = self.m * self.p + 1          # c always has a column; it is frozen when not free
        # the objective's size for the interior point's gap test: the MSE of the best constant
        # predictor (J scales with it when y changes units), so accuracy is relative in any units
        if comm.distributed:
            N = self.n_total
            self.yy = comm.sum(float(self.y @ self.y)) / N
            self.y_mean = comm.sum(float(self.y.sum())) / N
            var = comm.sum(float(((self.y - self.y_mean) ** 2).sum())) / N
        else:
            self.yy = float(self.y @ self.y) / n
            self.y_mean = float(self.y.mean())
            var = float(((self.y - self.y.mean()) ** 2).mean())
        self.f_scale = var if var > 0 else (self.yy if self.yy > 0 else 1.0)
        self._gram: Optional[tuple[Tensor, Tensor]] = None
        self._outer: Optional[Tensor] = None

    @property
    def H(self) -> Tensor:
        """The Gram matrix ``(2/n) ΦᵀΦ`` ``(m p + 1, m p + 1)`` of the dense path (built on first
        use, over row chunks; the matrix-free path never builds it)."""
        return self._gram_parts()[0]

    @property
    def q(self) -> Tensor:
        """``(2/n) Φᵀ y`` ``(m p + 1,)``."""
        return self._gram_parts()[1]

    def _gram_parts(self) -> tuple[Tensor, Tensor]:
        if self._gram is None:
            dt, dev, n, m, p = torch.float64, self.device, self.n, self.m, self.p
            gram = torch.zeros(self.nw, self.nw, dtype=dt, device=dev)
            rhs = torch.zeros(self.nw, dtype=dt, device=dev)
            for lo in range(0, n, self.chunk):
                Xc, Dc, yc = self.Xt[lo:lo + self.chunk], self.D[lo:lo + self.chunk], \
                    self.y[lo:lo + self.chunk]
                Phi = ((Dc.to(dt) * self.coef)[:, :, None] * Xc[:, None, :]).reshape(len(Xc), m * p)
                Phi = torch.cat([Phi, torch.ones(len(Xc), 1, dtype=dt, device=dev)], 1)
                gram += Phi.T @ Phi
                rhs += Phi.T @ yc
            self._gram = (gram * (2.0 / n), rhs * (2.0 / n))
        return self._gram

    def _dense_outer(self) -> Optional[Tensor]:
        """:attr:`outer` on the dense path (its Newton blocks use it); ``None`` matrix-free."""
        return self.outer if self.newton == "dense" else None

    @property
    def outer(self) -> Tensor:
        """``x̃ᵢ x̃ᵢᵀ`` per row ``(n, p²)``, for the dense path's per-unit Newton blocks."""
        if self._outer is None:
            self._outer = (self.Xt[:, :, None] * self.Xt[:, None, :]).reshape(self.n, self.p ** 2)
        return self._outer

    def _cg_kw(self, extra: Optional[Tensor] = None) -> dict:
        """:func:`ipm.solve`'s keywords for the matrix-free Newton systems (none on the dense
        path): the :class:`~.newton_cg.CGOptions` (``extra``: each unit's τ coordinate, for
        program (6)) and no Gondzio correctors (each would cost a full CG solve)."""
        if self.newton != "cg":
            return {}
        return {"cg": ipm.CGOptions(m=self.m, p=self.p, Xt=self.Xt, extra=extra,
                                    precond=self.precond, chunk=self.chunk, comm=self.comm),
                "gondzio": 0}

    # -------------------------------------------------------------------------------- helpers
    def cone_rows(self, W: Tensor) -> Tensor:
        """``S = (2D − 1) ∘ (X̃ W̃ᵀ)`` ``(n, m)``: all ≥ 0 iff ``W̃`` has the patterns D."""
        Z = self.Xt @ W.T
        return torch.where(self.D, Z, -Z)

    def _check_start(self, W: Tensor, name: str) -> None:
        if not isinstance(W, Tensor) or W.shape != (self.m, self.p):
            raise ValueError(f"{name} must be a tensor of shape ({self.m}, {self.p}) (one row "
                             f"[w_j, b_j] per unit), got "
                             f"{tuple(W.shape) if isinstance(W, Tensor) else type(W).__name__}")
        if not bool(torch.isfinite(W).all()):
            raise ValueError(f"{name} contains NaN/Inf")

    def _start_point(self, W: Tensor, c0: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        """The start ``(W̃, c)`` as a solve returns it: ``c`` is ``None`` without an output bias
        (and 0 when free but not given), as in :meth:`_start`."""
        W = W.clone()                      # never hand back the caller's own tensor
        if not self.output_bias:
            return W, None
        return W, (c0.to(W).reshape(()).clone() if c0 is not None else W.new_zeros(()))

    def interior_start(self, W: Tensor) -> Tensor:
        """Nudge each unit's bias so that every cone row is strictly positive.

        A feasible ``W̃`` (patterns of its own) may have rows with ``x̃ᵀw̃ = 0`` exactly (dead or
        zero units); adding ``ε_j`` to the bias, half the smallest margin of the inactive rows,
        makes them active-positive without flipping any inactive row.
        """
        comm = self.comm
        S = self.cone_rows(W)
        if comm.all(bool((S > 0).all())):
            return W
        if comm.any(bool((S < 0).any())):
            raise ValueError("the start point does not have the given activation patterns")
        W = W.clone()
        scale = self._xt_absmax() * max(float(W.abs().max()), 1e-3)
        # per unit (over every process's rows): a row at 0, and the smallest inactive margin
        zero = comm.max_(_colmax((S <= 0).to(S.dtype))) > 0
        off_min = comm.min_(_colmin(torch.where(self.D, math.inf, S)))
        for j in torch.nonzero(zero)[:, 0].tolist():
            eps = 0.5 * float(off_min[j]) if math.isfinite(float(off_min[j])) else scale
            W[j, -1] += eps if eps > 0 else 1e-8 * scale
        if not comm.all(bool((self.cone_rows(W) > 0).all())):
            raise ValueError("could not find a strictly feasible start for the pattern cones")
        return W

    def _xt_absmax(self) -> float:
        """``max |X̃|`` over every process's rows."""
        return self.comm.max(float(self.Xt.abs().max()) if self.Xt.numel() else 0.0)

    def on_patterns(self, W: Tensor) -> bool:
        """Whether every cone row of ``W̃ (m, p)`` is ``≥ 0`` (on every process's rows): ``W̃``
        has the patterns D (rows at 0 allowed)."""
        return self.comm.all(bool((self.cone_rows(W) >= 0).all()))

    def segment_interior(self, W_in: Tensor, W_out: Tensor,
                         keep: Optional[Tensor] = None) -> float:
        """The largest ``θ ∈ [0, 1]`` with every cone row of ``W_in + θ (W_out − W_in)``
        strictly positive (on the units in ``keep``, default all), for ``W_in`` strictly inside.

        The rows are linear in ``W̃``, so the bound is ``min S_in/(S_in − S_out)`` over the rows
        that ``W_out`` violates, stepped back by a relative 1e-10 (more if round-off needs it).
        Used to make a point that bends the patterns by round-off (a cvxpy solution, a screened
        relaxation's optimum) exactly feasible; by convexity its objective is at most the
        θ-combination of the two ends'.
        """
        comm = self.comm
        S0, S1 = self.cone_rows(W_in), self.cone_rows(W_out)
        if keep is not None:
            S0, S1 = S0[:, keep], S1[:, keep]
        if not comm.all(bool((S0 > 0).all())):
            raise ValueError("segment_interior: W_in must have every cone row strictly positive")
        if comm.all(bool((S1 > 0).all())):
            return 1.0
        bad = S1 <= 0
        bound = comm.min(float((S0[bad] / (S0[bad] - S1[bad])).min()) if bool(bad.any())
                         else math.inf)
        shrink = 1e-10
        while shrink < 1.0:
            th = bound * (1.0 - shrink)
            S = self.cone_rows(W_in + th * (W_out - W_in))
            if comm.all(bool(((S[:, keep] if keep is not None else S) > 0).all())):
                return th
            shrink *= 10.0
        return 0.0

    def model_mse(self, W: Tensor, c: Optional[Tensor]) -> float:
        """``(1/n)‖Σ_j a_j D_j X̃ w̃_j + c − y‖²`` computed from the residual (no cancellation)."""
        Z = torch.where(self.D, self.Xt @ W.T, torch.zeros((), dtype=W.dtype, device=W.device))
        out = Z @ self.coef + (c if c is not None else 0.0)
        if self.comm.distributed:
            return self.comm.sum(float(((out - self.y) ** 2).sum())) / self.n_total
        return float(((out - self.y) ** 2).mean())

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
        comm = self.comm
        on = self.D.all(0)
        off = ~self.D.any(0)
        if comm.distributed:                       # over every process's rows
            on = comm.min_(on.to(torch.float64)) > 0.5
            off = comm.min_(off.to(torch.float64)) > 0.5
        both = bool((alpha[on] > 0).any()) and bool((alpha[on] < 0).any())
        if not (self.output_bias or both):
            on = torch.zeros_like(on)
        return on, off

    def _restore_biases(self, W: Tensor, c: Tensor, W0: Tensor, alpha: Tensor, on: Tensor,
                        off: Tensor) -> tuple[Tensor, Tensor]:
        """Choose the biases of the eliminated units (see :meth:`_flat_units`), keeping each
        unit's original margin, and put the change of ``Σ α_j b_j`` into the constant."""
        W = W.clone()
        comm = self.comm
        Xw = self.Xt[:, :-1] @ W[:, :-1].T
        # per unit, over every process's rows: the margin at W0 and the range of X w̄_j
        S0_min = comm.min_(_colmin(self.cone_rows(W0)))
        Xw_max, Xw_min = comm.max_(_colmax(Xw)), comm.min_(_colmin(Xw))
        tiny = 1e-9 * self._xt_absmax() * max(float(W.abs().max()), 1e-12)
        for j in torch.nonzero(off)[:, 0].tolist():
            margin = max(float(S0_min[j]), tiny)
            W[j, -1] = -Xw_max[j] - margin
        shift = W.new_zeros(())
        for j in torch.nonzero(on)[:, 0].tolist():
            margin = max(float(S0_min[j]), tiny)
            b = torch.maximum(W0[j, -1], -Xw_min[j] + margin)
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

    def _quadratic(self, N: int, beta: float, lin_extra: Tensor):
        """``Hf, bf`` of ``f₀ = MSE + (β/2)‖W̃‖² + lin_extra·extra`` (up to a constant); on the
        matrix-free path ``(PatternQuadratic, None)``, the same objective with its constant."""
        if self.newton == "cg":
            return PatternQuadratic(self, beta, lin_extra), None
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

    # ------------------------------------------------------------------ rows, screened
    def _check_screen(self, screen: Optional[bool]) -> None:
        """Row screening picks rows from all n at once: not with rows shared across processes."""
        if screen and self.comm.distributed:
            raise ValueError(f"screen=True is not available with rows shared by "
                             f"{self.comm.world} processes (comm); leave screen at None or False")

    def _rows_solve(self, Hf: Tensor, bf: Tensor, z0: Tensor, keep: Tensor, others: list,
                    N: int, *, screen: Optional[bool], label: str, verbose: bool,
                    ridge: float = 0.0, **kw) -> tuple[Tensor, SolveRecord]:
        """:func:`ipm.solve` with the pattern rows of the units in ``keep`` and the parts
        ``others``; with ``screen`` (default: when ``n m ≥ SCREEN_MIN``) by constraint screening.

        Screening: each unit starts with its ``SCREEN_K`` rows of smallest normalised slack at
        ``z0``; the program on those rows (a relaxation: its optimum is a lower bound) is solved,
        the full ``n × m`` rows are checked once, and the violated rows (up to ``SCREEN_ADD`` per
        unit, most violated first) are added, until none is violated: then the relaxation's
        optimum is feasible, hence optimal, for the full program. Every round restarts from
        ``z0``, which is strictly feasible for all rows. If ``SCREEN_ROUNDS`` rounds do not
        suffice, the result is the farthest point towards the last optimum on the segment from
        ``z0`` that keeps every row strictly positive: feasible, and by convexity never worse
        than ``z0`` when the last relaxation was solved to tolerance (status
        ``"screened_partial"``). Cost per iteration ``O(m k p)`` instead of
        ``O(n m p)``; one pass over all rows per round.
        """
        n, m, p = self.n, self.m, self.p
        if screen is None:
            screen = n * m >= SCREEN_MIN and n > 2 * SCREEN_K and not self.comm.distributed
        self._check_screen(screen)
        fobj = Hf if bf is None else ipm.Quadratic(Hf, bf, kw.get("const", 0.0))
        limit = kw.pop("time_limit", None)
        if limit is not None:
            limit = check_positive(limit, f"{label}: time_limit")
        deadline = None if limit is None else time.perf_counter() + limit

        def certify(parts: list):
            return lambda x, Z: lagrangian_bound(fobj, parts, x, Z, kw["free"], self.nw - 1, 2.0,
                                                 ridge)
        if screen:
            kw.pop("duals", None)           # each screening round starts cold from z0
            kw.pop("snapshot", None)
        if not screen:
            outer = self._dense_outer()
            parts = [ipm.Rows(self.Xt, self.D, keep, outer, N, comm=self.comm)] + others
            return ipm.solve(Hf, bf, z0, parts, verbose=verbose, label=label,
                             certify=certify(parts), time_limit=limit, **kw)
        W0 = z0[: m * p].reshape(m, p)
        norms = torch.linalg.vector_norm(self.Xt, dim=1).clamp_min(1e-300)[:, None]
        k = min(n, SCREEN_K)
        idx = torch.topk(self.cone_rows(W0) / norms, k, dim=0, largest=False).indices.T
        valid = keep[:, None].expand(m, k).clone()
        total = 0.0
        for rnd in range(1, SCREEN_ROUNDS + 1):
            parts = [ipm.SubsetRows(self.Xt, self.D, idx, valid, N)] + others
            left = None if deadline is None else max(deadline - time.perf_counter(), 1e-9)
            z, info = ipm.solve(Hf, bf, z0, parts, verbose=verbose,
                                label=f"{label} screen {rnd}", certify=certify(parts),
                                time_limit=left, **kw)
            total += info.solve_time
            S = self.cone_rows(z[: m * p].reshape(m, p)) / norms
            S[:, ~keep] = 1.0
            bad = S <= 0
            nbad = int(bad.sum())
            if verbose:
                print(f"[torch_lipcvx] {label} screening round {rnd}: {int(valid.sum())} rows, "
                      f"{nbad} violated", flush=True)
            if nbad == 0:
                info.solve_time = total
                return z, info
            if rnd == SCREEN_ROUNDS or info.status == "time_limit":
                break
            add = min(SCREEN_ADD, int(bad.sum(0).max()))
            new = torch.topk(torch.where(bad, S, math.inf), add, dim=0, largest=False)
            idx = torch.cat([idx, new.indices.T], 1)
            valid = torch.cat([valid, torch.isfinite(new.values.T) & keep[:, None]], 1)
        # out of rounds: back off towards z0 until every row is strictly positive
        lo = self.segment_interior(W0, z[: m * p].reshape(m, p), keep)
        z = z0 + lo * (z - z0)
        # the relaxation's bound stays valid: report it through the gap at the new point
        f_new = (float(0.5 * z @ (Hf @ z) - bf @ z) + kw.get("const", 0.0)
                 if bf is not None else Hf.value(z))
        info.gap = f_new - (info.value - info.gap)
        status = "time_limit" if info.status == "time_limit" else "screened_partial"
        info.status, info.solve_time, info.value = status, total, f_new
        return z, info

    # ---------------------------------------------------------------------------- (12)
    #: the keyword arguments a user may pass through ``solver_options`` (``postprocess`` with the
    #: torch solvers): both :meth:`solve_restriction` and :meth:`solve_l2` take the first three;
    #: ``newton``/``precond`` choose the Newton system when the barrier is built
    OPTIONS = ("tol", "max_iter", "screen", "newton", "precond", "time_limit")

    def lmi_part(self, Mt: Tensor, N: int) -> ipm.Cone:
        """The LMI ``ρ I ⪰ W̄ᵀ Mt W̄`` of (12) as the interior point's cone part: its ``d × d``
        Schur form (:class:`~torch_lipcvx._engine.ipm.SchurLMI`), for both Newton systems."""
        return ipm.restriction_lmi(Mt, self.m, self.p, self.d, N)

    def _warm_start(self, warm: ipm.Snapshot, z0: Tensor, Hf: Tensor, bf: Tensor, keep: Tensor,
                    lmi: ipm.Cone) -> list[Tensor]:
        """The duals of a warm start of (12) at the primal start ``z0``, from ``warm``, the last
        iterate of the previous solve (another ``t``; the rows, λ and β the same).

        The pattern rows' multipliers barely move between Algorithm-1 steps: the previous
        optimum's ``z``, plus ``μ s⁻¹`` (``μ = WARM_MU·|f(z0)|/ν``) to put them back inside the
        cone at the new slacks. The LMI's multiplier ``Y`` of ``ρI ⪰ W̄ᵀMW̄`` (``tr Y = λ`` at
        an optimum) is kept as it is: ``Y + μ S⁻¹``, positive definite. Measured (m = 100,
        λ = 1e-2, benchmarks/bench_alg1_speed.py): 15–20 iterations a step after the first few
        on servo, machine and wine (30–37 with the LMI as a ``(d + m)`` block whose dual had to
        be lifted to the new ``M``, 50–60 cold); the optimum reached is the cold start's, to the
        tolerance. Dense Newton systems only (``Hf`` a matrix).
        """
        m, p = self.m, self.p
        f0 = float(0.5 * z0 @ (Hf @ z0) - bf @ z0) + self.yy
        nu = float(self.n_total * int(keep.sum()) + lmi.nu)
        mu = WARM_MU * max(abs(f0), 1e-12 * self.f_scale) / nu
        W = z0[: m * p].reshape(m, p)
        Zr = torch.where(keep[None, :], warm.duals[0] + mu / self.cone_rows(W), warm.duals[0])
        Y = warm.duals[1]
        S = lmi.slack(z0)
        Zl = Y + mu * torch.cholesky_inverse(torch.linalg.cholesky(0.5 * (S + S.T)))
        return [Zr, 0.5 * (Zl + Zl.T)]

    def _centre_start(self, warm: ipm.Snapshot, z0: Tensor, free: Tensor, Mt: Tensor,
                      keep: Tensor) -> Optional[tuple[Tensor, list[Tensor]]]:
        """A warm start of (12) from the previous solve's well-centred iterate
        (:attr:`~torch_lipcvx._engine.ipm.Snapshot.centre`): ``(x0, duals)``, or ``None`` when
        there is none or the new ``M`` moved the LMI's matrix ``W̄ᵀMW̄`` there by more than
        ``WARM_CENTRE_CHANGE`` (relative, spectral norm; the early steps of Algorithm 1, whose
        ``t`` still moves a lot, start better by :meth:`_warm_start`).

        The point is kept as it is (its rows' slacks, hence their pairing with the duals, are
        the same: only the LMI changed), but for the coordinates that do not move (taken from
        ``z0``) and ρ, raised or lowered by the change of ``λ_max(W̄ᵀMW̄)`` so that the LMI's
        slack keeps its smallest eigenvalue. The duals are the iterate's own. Measured
        (m = 100, benchmarks/bench_alg1_speed.py): 8–16 iterations a step once it is taken
        (from the third to fifth step on), where :meth:`_warm_start` takes 17–22."""
        if warm.centre is None:
            return None
        xc, Sc, Zc = warm.centre
        m, p, d, N = self.m, self.p, self.d, xc.numel()
        Wb = xc[: m * p].reshape(m, p)[:, :d]
        A_old, A_new = Wb.T @ warm.context[4] @ Wb, Wb.T @ Mt @ Wb
        if float(torch.linalg.matrix_norm(A_new - A_old, 2)) > \
                WARM_CENTRE_CHANGE * float(torch.linalg.matrix_norm(A_old, 2)):
            return None
        x = torch.where(free, xc, z0)
        if not bool((self.cone_rows(x[: m * p].reshape(m, p))[:, keep] > 0).all()):
            return None
        margin = max(float(xc[N - 1]) - float(torch.linalg.eigvalsh(A_old)[-1]),
                     float(torch.linalg.eigvalsh(Sc[1])[0]))
        if not margin > 0:
            return None
        x[N - 1] = float(torch.linalg.eigvalsh(A_new)[-1]) + margin
        return x, [z.clone() for z in Zc]

    def solve_restriction(self, alpha: Tensor, t: Tensor, lam: float, beta: float, W0: Tensor,
                          c0: Optional[Tensor] = None, *, tol: float = 1e-9,
                          max_iter: int = 200, verbose: bool = False,
                          screen: Optional[bool] = None,
                          anchor: Optional[tuple[Tensor, Optional[Tensor]]] = None,
                          recentre: float = 1e-2, warm: Optional[ipm.Snapshot] = None,
                          snapshot: Optional[ipm.Snapshot] = None,
                          time_limit: Optional[float] = None,
                          on_iteration: Optional[Callable[[int, float, float], None]] = None
                          ) -> tuple[Tensor, Optional[Tensor], float, SolveRecord]:
        """Program (12) for ``T = diag(t)``; ``coef`` must be ``alpha``.

        Args:
            alpha: ``(m,)`` nonzero outer weights; t: ``(m,)`` with ``Σ_j α_j²/(2t_j) < 1``.
            lam: λ ≥ 0 (λ > 0 in Algorithm 1); beta: β ≥ 0 (the term ``(β/2)‖W̃‖²``).
            W0: ``(m, d + 1)`` the current network (it has the patterns); c0: its output bias.
            tol: stop when the central-path gap bound is below ``tol`` relative.
            screen: solve on a screened subset of the pattern rows, adding violated rows until
                none is (see :meth:`_rows_solve`); default when ``n m ≥ SCREEN_MIN``.
            anchor: ``(W̃_a, c_a)``, a point with the patterns and good margins (Algorithm 1
                passes its input network). The start is moved ``recentre`` of the way towards
                it: the previous step's optimum has many rows active to ~1e-12, a badly
                centred start; 1% off it halves the iterations (wine: 155 → 68), and the
                start stays feasible (the cone is convex).
            warm: the :class:`~torch_lipcvx._engine.ipm.Snapshot` of the previous solve of (12)
                on this barrier with the same ``lam`` and ``beta`` (Algorithm 1's previous
                step, another ``t``): a warm start from ``W0`` and that solve's duals
                (:meth:`_warm_start`); ignored when it does not match or rows are screened.
            snapshot: a :class:`~torch_lipcvx._engine.ipm.Snapshot` to fill with this solve's
                last iterate (the next step's ``warm``).
            time_limit: seconds for this solve (all screening rounds together); when they
                have passed it stops with status ``"time_limit"`` at its last (feasible)
                iterate (:func:`~torch_lipcvx._engine.ipm.solve`). ``None``: no limit.
            on_iteration: ``(iteration, relative gap, relative dual residual) -> None``,
                called once per interior-point iteration (a progress bar's note).

        Returns:
            ``(W̃, c, ρ, info)``; every cone row of ``W̃`` is strictly positive, ``ρ`` is
            ``λ_max(W̄ᵀMW̄)`` at the returned point (the LMI's smallest ρ for this t) and
            ``info.value`` the program's objective there, ``info.lower`` a lower bound on the
            optimum (``value − ν/t``). With ``info.status == "optimal"``, ``info.value`` is at
            most the objective of the start (``W0`` nudged into its cones' interior, its ``c0``
            and its own ρ for this t); after an early stop it can be above it.

        Raises:
            ValueError: shapes that do not match the program, NaN/Inf in ``t`` or ``W0``,
                ``lam`` or ``beta`` negative or not finite, a ``t`` that does not certify
                (``2T − ααᵀ ⊁ 0``), a ``W0`` without the patterns.
        """
        dt, dev = torch.float64, self.device
        m, p, d, nw = self.m, self.p, self.d, self.nw
        lam, beta = check_nonneg(lam, "lam"), check_nonneg(beta, "beta")
        self._check_start(W0, "W0")
        self._check_screen(screen)
        alpha, t = alpha.to(dev, dt), t.to(dev, dt)
        if alpha.shape != (m,) or t.shape != (m,):
            raise ValueError(f"alpha and t must have shape ({m},), got {tuple(alpha.shape)} and "
                             f"{tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError("t contains NaN/Inf")
        s = float((alpha ** 2 / (2 * t)).sum())
        if bool((t <= 0).any()) or not s < 1:
            raise ValueError("t must certify the current network (2T - alpha alpha^T > 0)")
        Mt = torch.diag(t / 2) + torch.outer(alpha, alpha) / (4 * (1 - s))
        N = nw + 1
        W0 = self.interior_start(W0.to(dev, dt))
        start = self._start_point(W0, c0)
        on, off = self._flat_units(alpha) if beta == 0 else (torch.zeros(m, dtype=torch.bool,
                                                                          device=dev),) * 2
        keep = ~(on | off)
        context = (keep, float(lam), float(beta), N, Mt)
        # the dense path's warm start (the matrix-free path of large problems starts cold)
        warm_ok = (warm is not None and warm.x is not None and warm.context is not None
                   and self.newton == "dense" and warm.context[1:4] == context[1:4]
                   and torch.equal(warm.context[0], keep))
        if snapshot is not None and snapshot.centre_gap is None and self.newton == "dense":
            snapshot.centre_gap = WARM_CENTRE_GAP
        if anchor is not None and recentre > 0:
            Wa = self.interior_start(anchor[0].to(dev, dt))
            th = recentre
            if self.newton == "cg" or warm_ok:
                # per unit: a unit with a large t_j (one the certificate has squeezed to a tiny
                # w̄_j) moves less, θ_j ∝ (median t / t_j)^½, so the start's ρ stays near the
                # optimum's (a plain 1% towards the anchor can raise ρ 10⁴-fold at t_j ~ 1e9)
                # (the matrix-free path starts cold, by the same rule from its 1%: measured, a
                # plain 1% started a step at f = 132 for an optimum of 0.28 and never recovered)
                base = WARM_RECENTRE if warm_ok else recentre
                th = base * (t.median() / t).clamp(max=1.0).sqrt()[:, None]
            W0 = W0 + th * (Wa - W0)
            if c0 is not None and anchor[1] is not None:
                tc = WARM_RECENTRE if warm_ok else recentre
                c0 = c0.to(dev, dt) + tc * (anchor[1].to(dev, dt) - c0.to(dev, dt))
        Hf, bf = self._quadratic(N, beta, torch.tensor([float(lam)], dtype=dt, device=dev))
        free = torch.ones(N, dtype=torch.bool, device=dev)
        free[torch.nonzero(~keep)[:, 0] * p + d] = False
        free[nw - 1] = self.output_bias or bool(on.any())
        lmi = [self.lmi_part(Mt, N)]
        Wb0 = W0[:, :d]
        rho0 = float(torch.linalg.eigvalsh(Wb0.T @ Mt @ Wb0)[-1])
        rho0 = rho0 * (1 + 1e-1) + 1e-9 * max(rho0, 1.0)
        z0 = self._start(W0, c0, W0.new_tensor([rho0]))
        duals = None
        if warm_ok:
            centred = self._centre_start(warm, z0, free, Mt, keep)
            if centred is not None:
                z0, duals = centred
            else:
                duals = self._warm_start(warm, z0, Hf, bf, keep, lmi[0])
        z, info = self._rows_solve(Hf, bf, z0, keep, lmi, N, screen=screen, free=free,
                                   const=self.yy, f_scale=self.f_scale, tol=tol,
                                   max_iter=max_iter, verbose=verbose,
                                   label="(12)", ridge=beta, duals=duals, snapshot=snapshot,
                                   time_limit=time_limit, on_iteration=on_iteration,
                                   **self._cg_kw())
        if snapshot is not None:
            snapshot.context = context
        W, c, _ = self._unpack(z)
        if not bool(keep.all()):
            W, c = self._restore_biases(W, c, W0, alpha, on, off)
        c = c if self.output_bias else None

        def objective(W: Tensor, c: Optional[Tensor]) -> tuple[float, float]:
            Wb = W[:, :d]
            rho = float(torch.linalg.eigvalsh(Wb.T @ Mt @ Wb)[-1])
            return self.model_mse(W, c) + 0.5 * beta * float((W * W).sum()) + lam * rho, rho

        value, rho = objective(W, c)
        info = _fast_info(info, value)
        if info.status in ("optimal", "inexact"):   # converged, maybe just above an optimal start
            value_s, rho_s = objective(*start)
            if value_s < value:
                (W, c), rho, info.value = start, rho_s, value_s
        return W, c, rho, info

    # ----------------------------------------------------------------------------- (6)
    def solve_l2(self, beta: float, V0: Tensor, c0: Optional[Tensor] = None, *, tol: float = 1e-9,
                 max_iter: int = 200, verbose: bool = False, screen: Optional[bool] = None,
                 time_limit: Optional[float] = None,
                 on_iteration: Optional[Callable[[int, float, float], None]] = None
                 ) -> tuple[Tensor, Optional[Tensor], SolveRecord]:
        """Program (6); ``coef`` are the slot signs σ_j.

        Args:
            beta: β > 0 (the term ``β Σ_j ‖v_j‖₂``; with β = 0 the program has flat directions
                and the cvxpy path is used instead).
            V0: ``(m, d + 1)`` a point with the patterns (e.g. ``|α_j| w̃_j``); c0: output bias.
            screen: row screening, as in :meth:`solve_restriction`.
            time_limit, on_iteration: as in :meth:`solve_restriction`.

        Returns:
            ``(V, c, info)`` with every cone row strictly positive; never worse than the start
            when ``info.status == "optimal"`` (as :meth:`solve_restriction`).

        Raises:
            ValueError: ``beta`` not a finite number > 0, ``V0`` of the wrong shape, with
                NaN/Inf or without the patterns.
        """
        beta = check_positive(beta, "beta (the barrier solver for program (6) needs beta > 0)")
        self._check_start(V0, "V0")
        self._check_screen(screen)
        dt, dev = torch.float64, self.device
        m, p, nw = self.m, self.p, self.nw
        N = nw + m
        V0 = self.interior_start(V0.to(dev, dt))
        start = self._start_point(V0, c0)
        Hf, bf = self._quadratic(N, 0.0, torch.full((m,), float(beta), dtype=dt, device=dev))
        free = torch.ones(N, dtype=torch.bool, device=dev)
        free[nw - 1] = self.output_bias
        soc = [ipm.GroupSOC(m, p, nw, N, dt, dev)]
        keep = torch.ones(m, dtype=torch.bool, device=dev)
        tau0 = torch.linalg.vector_norm(V0, dim=1) * (1 + 1e-1) + 1e-9 * max(float(V0.abs().max()), 1.0)
        z0 = self._start(V0, c0, tau0)
        z, info = self._rows_solve(Hf, bf, z0, keep, soc, N, screen=screen, free=free,
                                   const=self.yy, f_scale=self.f_scale, tol=tol,
                                   max_iter=max_iter, verbose=verbose,
                                   label="(6)", time_limit=time_limit,
                                   on_iteration=on_iteration,
                                   **self._cg_kw(nw + torch.arange(m, device=dev)))
        V, c, _ = self._unpack(z)
        c = c if self.output_bias else None

        def objective(V: Tensor, c: Optional[Tensor]) -> float:
            return self.model_mse(V, c) + beta * float(torch.linalg.vector_norm(V, dim=1).sum())

        value = objective(V, c)
        info = _fast_info(info, value)
        if info.status in ("optimal", "inexact"):   # as in solve_restriction
            value_s = objective(*start)
            if value_s < value:
                (V, c), info.value = start, value_s
        return V, c, info


def _fast_info(info: SolveRecord, value: float) -> SolveRecord:
    """The interior point's record with ``value`` evaluated exactly at the returned point and
    ``lower = value − sᵀz`` (the duality-gap estimate of the optimum)."""
    if info.certified:       # a proven bound (lagrangian_bound): the gap is measured from it
        lower, gap = min(info.lower, value), max(value - info.lower, 0.0)
    else:
        lower, gap = value - info.gap, info.gap
    return SolveRecord(status=info.status, iterations=info.iterations,
                       solve_time=info.solve_time, value=value, lower=lower,
                       gap=gap, dual_residual=info.dual_residual, device=info.device,
                       inner_iterations=info.inner_iterations, certified=info.certified)
