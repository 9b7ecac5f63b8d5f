"""The matrix-free Newton system of the interior point: preconditioned conjugate gradients
(docs/solvers.md §3.2, docs/programs.md).

The dense interior point (:class:`torch_lipcvx._engine.ipm._NewtonSystem`) forms and factorises
the Newton matrix ``K = ∇²f + Σ_k L_kᵀ W_k⁻² L_k`` of size ``N ≈ m (d + 1)``: time ``O(N³)`` and
memory ``O(N²)`` per iteration, out of reach at ``m (d + 1) ≳ 2·10⁴``. Here ``K`` is never
formed. Each product ``K v`` is a few batched passes over the data (the objective's Hessian
action, :meth:`~.ipm.SmoothObjective.hessian_operator`) plus each cone's own action
(:meth:`~.ipm.Cone.hvp`), so one product costs ``O(n m (d + 1))`` and the memory stays
``O(n m + m (d + 1))`` (``O(m (d + 1)²)`` more with exact unit blocks, see below).

The system is solved by conjugate gradients, preconditioned **by unit** (block Jacobi): the
coordinates of unit j (its ``d + 1`` weights, and its group bound ``τ_j`` in program (6)) form
one block, every other coordinate (the output bias, ρ) its own diagonal entry. The pattern rows
make the Newton matrix ill-conditioned near the optimum (``z/s`` spans twenty orders of
magnitude), but their term ``X̃ᵀ diag(z_j/s_j) X̃`` is block diagonal by unit and lies entirely
in the preconditioner's blocks, so the conditioning CG sees is that of the coupling *between*
units (the objective's Gram, the LMI), which stays bounded along the central path.

Two preconditioners (:class:`UnitPreconditioner`):

* ``"block"`` — the exact ``q × q`` unit blocks of ``K`` (``q = d + 1``, or ``d + 2`` with τ),
  factorised by a batched Cholesky: ``O(m q²)`` memory, ``O(n m q²)`` to form per iteration;
* ``"diag"`` — the diagonal of ``K`` (Jacobi): ``O(m q)`` memory and ``O(n m q)`` time, for
  wide inputs (MNIST's ``d = 784``) where the blocks no longer fit.

Every cone and objective contributes to the preconditioner through the same few calls
(:meth:`UnitPreconditioner.rows` for a weighted ``X̃ᵀ diag(ω_j) X̃`` per unit, ``unit_kron``,
``unit_rank1``, ``unit_full``, ``diag``), so a new cone adds one method.

The directions are inexact: CG stops at a residual tied to the interior point's own dual
residual, a tenth of it times the factor by which the step is about to shrink the gap
(:meth:`CGNewtonSystem.expect`), so the residual CG leaves falls with the gap. Primal
feasibility is unaffected (the slacks are recomputed from ``x``) and the complementarity
equations are met exactly (the dual direction is computed from ``dx``), so inexactness shows
only in the dual residual, which the stopping test reads. The returned point is judged by the
descent loop like any other (docs/algorithm1.md §2).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from .distributed import RowComm, local_or

__all__ = ["CGOptions", "UnitPreconditioner", "CGNewtonSystem", "pcg", "auto_newton", "nystrom"]

#: Unit blocks are used (``precond="auto"``) while ``m q²`` stays below this many entries
#: (200 MB in float64) and forming them costs at most ``BLOCK_MAX_WIDTH`` times a data pass.
BLOCK_MAX_ENTRIES = 25_000_000
BLOCK_MAX_WIDTH = 64
#: CG iterations per solve below which the preconditioner's low-rank terms (each costs a few
#: dozen operator products per interior-point iteration) are not worth building
LOWRANK_AFTER = 8


@dataclass
class CGOptions:
    """How the matrix-free Newton systems are solved.

    Attributes:
        m, p: units and weights per unit (``d + 1``).
        Xt: ``(n, p)`` the inputs with a column of ones (the rows the unit blocks are built from).
        extra: ``(m,)`` index of each unit's extra coordinate (τ_j in program (6)), or ``None``.
        precond: ``"block"``, ``"diag"`` or ``"auto"`` (blocks while they are cheap).
        max_iter: CG iterations per solve at most.
        eta_min: the smallest relative residual asked of CG.
        res_tol: the relative dual residual at which a solve whose gap is closed stops even
            without a certified bound (status ``"inexact"``): CG's directions leave a residual
            of 1e-6–1e-4 relative on these programs once the barrier's curvature spans ~20
            orders of magnitude (measured: J then agrees with the dense solve to 2e-7).
        chunk: rows per chunk in the passes that build the blocks.
        comm: the row reductions when ``Xt`` is this process's shard of the rows
            (:class:`~.distributed.RowComm`, docs/solvers.md §3.3): the unit blocks are
            all-reduced sums; ``None``: one process.
    """

    m: int
    p: int
    Xt: Tensor
    extra: Optional[Tensor] = None
    precond: str = "auto"
    max_iter: int = 500
    eta_min: float = 1e-10
    chunk: int = 4096
    res_tol: float = 1e-4
    #: the CG iterations of the previous solve (set by :class:`CGNewtonSystem`): the low-rank
    #: terms of the preconditioner are built only once CG needs more than ``LOWRANK_AFTER``
    last_cg: int = 0
    comm: Optional[RowComm] = None

    def mode(self) -> str:
        """The preconditioner that runs: ``"block"`` or ``"diag"``."""
        if self.precond in ("block", "diag"):
            return self.precond
        q = self.p + (1 if self.extra is not None else 0)
        return "block" if (self.m * q * q <= BLOCK_MAX_ENTRIES and q <= BLOCK_MAX_WIDTH) \
            else "diag"


#: ``auto_newton``'s rule. Measured (one (12) solve, dense vs matrix-free, side by side, one
#: thread): benchmarks/results/bench_newton_rule_20261207_schur_cg.json, with the LMI in its
#: d × d Schur form on both paths: matrix-free/dense time 25×, 11.5×, 6.3×, 16×, 4.6× at
#: ``m (d + 1)`` = 250, 1100, 2200, 3300, 5200 (a power law through the last two rows would
#: cross 1 near N ≈ 9,000). Beyond the ladder, at n = 9000, m = 1000 (N = 11,001, rastrigin,
#: benchmarks/results/bench_scale_n9000_schur_dense.json and ..._schur_cg.json) the dense solve
#: converged in 228 s (31 iterations, 3.99 GiB peak) while the matrix-free one was still 5e-4
#: from optimal after 900 s: the ladder's random networks are easier for CG. So the dense
#: system is kept while its Newton matrix (three ``N × N`` float64 buffers) fits in
#: ``DENSE_MAX_BYTES`` = 4 GiB, N ≤ 13,300, on the CPU and, until measured there, on a GPU
#: (dense factorisations are relatively faster on GPUs, so the crossover can only be further
#: out; benchmarks/gpu_check.sh refits it); beyond, matrix-free. (Earlier fits with the
#: matrix-free path's LMI as a (d + m) block: 17,600, bench_newton_rule_20261207_schur.json;
#: with that block on the dense path too, 7300, bench_newton_rule_20261207.json.)
DENSE_MAX_N_CPU = 13_300
DENSE_MAX_N_CUDA = 13_300
DENSE_MAX_BYTES = 4 * 1024 ** 3


def auto_newton(m: int, d: int, device="cpu") -> str:
    """The Newton system ``solver="auto"``/``"torch"`` uses for programs (6)/(12) with ``m``
    units and ``d`` inputs on ``device``: ``"dense"`` or ``"cg"`` (docs/solvers.md §3.2, the
    rule and its measurements; it depends on the size ``m (d + 1)`` of the Newton system only)."""
    N = m * (d + 1)
    limit = DENSE_MAX_N_CUDA if torch.device(device).type == "cuda" else DENSE_MAX_N_CPU
    return "dense" if (N <= limit and 8 * N * N * 3 <= DENSE_MAX_BYTES) else "cg"


def nystrom(op: Callable[[Tensor], Tensor], N: int, rank: int, *, like: Tensor,
            free: Optional[Tensor] = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A rank-``rank`` randomized Nyström approximation ``U diag(λ) Uᵀ`` of the positive
    semidefinite operator ``op`` on ``R^N`` (Tropp, Yurtsever, Udell, Cevher 2017; used as a
    preconditioner by Frangella, Tropp, Udell 2023): ``rank`` products with ``op``, then small
    dense algebra. Returns ``(U (N, r), λ (r,))`` with ``λ ≥ 0``. ``free`` masks the
    coordinates that move (the others are zero in every column)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    Om = torch.randn(N, rank, generator=g, dtype=like.dtype).to(like.device)
    if free is not None:
        Om = Om * free[:, None]
    Om, _ = torch.linalg.qr(Om)
    Y = torch.stack([op(Om[:, i]) for i in range(rank)], 1)
    nu = 2.2e-16 * float(torch.linalg.matrix_norm(Y)) + 1e-300
    Y = Y + nu * Om
    C, info = torch.linalg.cholesky_ex(0.5 * (Om.T @ Y + Y.T @ Om))
    if int(info) != 0:
        return Om[:, :0], Om.new_zeros(0)
    B = torch.linalg.solve_triangular(C, Y.T, upper=False).T          # Y C⁻ᵀ
    U, S, _ = torch.linalg.svd(B, full_matrices=False)
    return U, (S * S - nu).clamp_min(0.0)


class UnitPreconditioner:
    """Block-Jacobi (or Jacobi) approximation of the Newton matrix, one block per unit.

    Unit j's block holds the coordinates ``j p … j p + p − 1`` (its weights ``w̃_j``) and, when
    ``extra`` is given, ``extra[j]``; all other coordinates get a diagonal entry. Contributions
    are added by the objective and the cones, then :meth:`factor` and :meth:`apply`.

    Args:
        opts: the :class:`CGOptions` (sizes, data, mode).
        N: the number of coordinates; free: ``(N,)`` boolean, the coordinates that move.
    """

    def __init__(self, opts: CGOptions, N: int, free: Tensor) -> None:
        Xt = opts.Xt
        self.opts, self.N, self.free = opts, N, free
        self.m, self.p = opts.m, opts.p
        self.mode = opts.mode()
        self.dtype, self.device = Xt.dtype, Xt.device
        m, p = self.m, self.p
        idx = (torch.arange(m, device=self.device) * p)[:, None] + torch.arange(p, device=self.device)
        if opts.extra is not None:
            idx = torch.cat([idx, opts.extra.to(self.device)[:, None]], 1)
        self.idx = idx                                            # (m, q)
        self.q = idx.shape[1]
        in_unit = torch.zeros(N, dtype=torch.bool, device=self.device)
        in_unit[idx.reshape(-1)] = True
        self.rest = torch.nonzero(~in_unit)[:, 0]
        self.rest_diag = torch.zeros(N, dtype=self.dtype, device=self.device)
        self.w_rows: Optional[Tensor] = None                      # (n, m) weights, summed
        # the rows' blocks X̃ᵀ diag(ω_j) X̃ exactly (n m p² flops) or by their diagonal (n m p)
        self.exact_rows = self.mode == "block" and self.p <= BLOCK_MAX_WIDTH
        if self.mode == "block":
            self.B = torch.zeros(m, self.q, self.q, dtype=self.dtype, device=self.device)
        else:
            self.B = torch.zeros(m, self.q, dtype=self.dtype, device=self.device)
        self.L: Optional[Tensor] = None
        self.low: list[tuple[Tensor, Tensor]] = []                # (U (N, r), w (r,)) terms
        #: whether low-rank terms are asked for (CG needed many iterations on the last solve)
        self.want_lowrank = opts.last_cg > LOWRANK_AFTER

    # ---------------------------------------------------------------- contributions
    def lowrank(self, U: Tensor, w: Tensor) -> None:
        """Add ``U diag(w) Uᵀ`` (``U (N, r)``, ``w > 0``) exactly, by Woodbury's formula: for a
        term of few large eigenvalues that couples the units (the LMI near the optimum, where
        its slack has a few small eigenvalues and its Newton term a few huge ones)."""
        self.low.append((U, w))

    def rows(self, w: Tensor) -> None:
        """Add ``X̃ᵀ diag(w[:, j]) X̃`` to unit j's weight block, for ``w (n, m)`` ≥ 0."""
        self.w_rows = w.clone() if self.w_rows is None else self.w_rows + w

    def subset_rows(self, A: Tensor, w: Tensor) -> None:
        """Add ``Σ_r w[j, r] A[j, r] A[j, r]ᵀ`` to unit j's weight block (``A (m, k, p)``)."""
        if self.mode == "block":
            self.B[:, :self.p, :self.p] += torch.einsum("jr,jrp,jrq->jpq", w, A, A)
        else:
            self.B[:, :self.p] += torch.einsum("jr,jrp->jp", w, A * A)

    def unit_kron(self, coef: Tensor, M: Tensor) -> None:
        """Add ``coef[j] · M`` (``M (d', d')``, ``d' ≤ p``) on the first ``d'`` weights of unit j."""
        k = M.shape[0]
        if self.mode == "block":
            self.B[:, :k, :k] += coef[:, None, None] * M[None]
        else:
            self.B[:, :k] += coef[:, None] * torch.diagonal(M)[None]

    def unit_rank1(self, U: Tensor) -> None:
        """Add ``u_j u_jᵀ`` (``U (m, d')``) on the first ``d'`` weights of unit j."""
        k = U.shape[1]
        if self.mode == "block":
            self.B[:, :k, :k] += U[:, :, None] * U[:, None, :]
        else:
            self.B[:, :k] += U * U

    def unit_full(self, Bq: Tensor) -> None:
        """Add the ``(m, q, q)`` blocks ``Bq`` (in this preconditioner's unit order)."""
        if self.mode == "block":
            self.B += Bq
        else:
            self.B += torch.diagonal(Bq, dim1=1, dim2=2)

    def unit_ridge(self, value: float) -> None:
        """Add ``value`` to the diagonal of every unit's ``p`` weights."""
        if self.mode == "block":
            self.B[:, :self.p, :self.p].diagonal(dim1=1, dim2=2).add_(value)
        else:
            self.B[:, :self.p] += value

    def diag(self, index, value) -> None:
        """Add ``value`` to the diagonal entries ``index`` outside the units."""
        self.rest_diag[index] += value

    # ------------------------------------------------------------------ factor / apply
    def form_rows(self, w: Tensor) -> Tensor:
        """``X̃ᵀ diag(w[:, j]) X̃`` for every unit: ``(m, p, p)`` when :attr:`exact_rows`, else
        its diagonal ``(m, p)``; one chunked pass over the rows (summed over the processes of
        ``opts.comm``)."""
        Xt, p = self.opts.Xt, self.p
        comm = local_or(self.opts.comm)
        if not self.exact_rows:
            return comm.sum_(w.T @ (Xt * Xt))
        chunk = max(1, min(self.opts.chunk, 10_000_000 // (p * p)))
        acc = torch.zeros(self.m, p * p, dtype=self.dtype, device=self.device)
        for lo in range(0, Xt.shape[0], chunk):
            Xc = Xt[lo:lo + chunk]
            outer = (Xc[:, :, None] * Xc[:, None, :]).reshape(len(Xc), p * p)
            acc += w[lo:lo + chunk].T @ outer
        return comm.sum_(acc).reshape(self.m, p, p)

    def add_formed_rows(self, F: Tensor) -> None:
        """Add what :meth:`form_rows` returned (kept by a caller whose weights do not change)."""
        p = self.p
        if F.dim() == 3:
            self.B[:, :p, :p] += F
        elif self.mode == "block":
            self.B[:, :p, :p].diagonal(dim1=1, dim2=2).add_(F)
        else:
            self.B[:, :p] += F

    def _form_rows(self) -> None:
        if self.w_rows is not None:
            self.add_formed_rows(self.form_rows(self.w_rows))
            self.w_rows = None

    def factor(self) -> None:
        """Factorise the blocks (frozen coordinates become identity rows)."""
        self._form_rows()
        fmask = self.free[self.idx]                               # (m, q)
        if self.mode == "block":
            B = self.B * (fmask[:, :, None] & fmask[:, None, :])
            B.diagonal(dim1=1, dim2=2).copy_(torch.where(
                fmask, torch.diagonal(self.B, dim1=1, dim2=2), torch.ones((), dtype=B.dtype,
                                                                           device=B.device)))
            scale = torch.diagonal(B, dim1=1, dim2=2).abs().amax(1).clamp_min(1e-300)
            ridge = 0.0
            for _ in range(8):
                Bt = B if ridge == 0.0 else B + (ridge * scale)[:, None, None] * torch.eye(
                    self.q, dtype=B.dtype, device=B.device)
                L, info = torch.linalg.cholesky_ex(Bt)
                if not bool((info != 0).any()):
                    break
                ridge = 1e-14 if ridge == 0.0 else ridge * 100
            self.L = L
        else:
            dg = torch.where(fmask, self.B, torch.ones((), dtype=self.dtype, device=self.device))
            self.L = 1.0 / dg.clamp_min(1e-300 * float(dg.abs().max()) + 1e-300)
        r = self.rest_diag[self.rest]
        self.rest_inv = torch.where(r > 0, 1.0 / r.clamp_min(1e-300), torch.ones_like(r)) \
            if r.numel() else r
        # a coordinate outside the units with no curvature of its own (ρ on its own, τ without a
        # cone) is scaled by the largest unit diagonal instead of 1
        if r.numel():
            big = float(torch.diagonal(self.B, dim1=1, dim2=2).abs().max()) \
                if self.mode == "block" else float(self.B.abs().max())
            self.rest_inv = torch.where(r > 0, self.rest_inv,
                                        torch.full_like(r, 1.0 / max(big, 1e-300)))
        self._woodbury()

    def _woodbury(self) -> None:
        """The capacitance ``C = diag(w)⁻¹ + Uᵀ P₀⁻¹ U`` of the low-rank terms, factorised."""
        self.U = None
        if not self.low:
            return
        U = torch.cat([u for u, _ in self.low], 1) * self.free[:, None]
        w = torch.cat([v for _, v in self.low])
        PU = torch.stack([self._apply_blocks(U[:, i]) for i in range(U.shape[1])], 1)
        # keep the terms that dominate the blocks along their own direction (w gᵀP₀⁻¹g ≥ 1):
        # the others change little and only cost round-off in the capacitance
        big = w * (U * PU).sum(0) >= 1.0
        if not bool(big.any()):
            return
        U, PU, w = U[:, big], PU[:, big], w[big]
        C = torch.diag(1.0 / w) + U.T @ PU
        L, info = torch.linalg.cholesky_ex(0.5 * (C + C.T))
        if int(info) == 0:
            self.U, self.PU, self.CL = U, PU, L

    def apply(self, r: Tensor) -> Tensor:
        """``P⁻¹ r`` for an ``(N,)`` residual (zero on frozen coordinates)."""
        y = self._apply_blocks(r)
        if self.U is not None:
            y = y - self.PU @ torch.cholesky_solve((self.U.T @ y)[:, None], self.CL)[:, 0]
        return y

    def _apply_blocks(self, r: Tensor) -> Tensor:
        out = torch.zeros_like(r)
        ru = r[self.idx]                                          # (m, q)
        if self.mode == "block":
            out[self.idx] = torch.cholesky_solve(ru[:, :, None], self.L)[:, :, 0]
        else:
            out[self.idx] = ru * self.L
        if self.rest.numel():
            out[self.rest] = r[self.rest] * self.rest_inv
        return out * self.free


def pcg(op: Callable[[Tensor], Tensor], b: Tensor, precond: Callable[[Tensor], Tensor], *,
        tol: float, max_iter: int, atol: float = 0.0,
        deadline: Optional[float] = None) -> tuple[Tensor, int, float]:
    """Preconditioned conjugate gradients for ``op(x) = b`` (``op`` symmetric positive definite).

    Stops when ``‖b − op(x)‖₂ ≤ tol ‖b‖₂``, or ``‖b − op(x)‖∞ ≤ atol``, or after ``max_iter``
    iterations, or once ``time.perf_counter()`` passes ``deadline``. Returns ``(x, iterations,
    relative residual ‖r‖₂/‖b‖₂)``. The residual is the recurrence's (the recurrence is accurate
    to round-off at these sizes).
    """
    x = torch.zeros_like(b)
    bn = float(torch.linalg.vector_norm(b))
    if bn == 0.0 or not math.isfinite(bn):
        return x, 0, 0.0 if bn == 0.0 else math.inf
    r = b.clone()
    zv = precond(r)
    pdir = zv.clone()
    rz = float(r @ zv)
    rel = 1.0
    best, best_rel = x.clone(), rel
    for it in range(1, max_iter + 1):
        Ap = op(pdir)
        pAp = float(pdir @ Ap)
        if not pAp > 0 or not math.isfinite(pAp) or not rz > 0:
            break
        a = rz / pAp
        x.add_(pdir, alpha=a)
        r.add_(Ap, alpha=-a)
        rel = float(torch.linalg.vector_norm(r)) / bn
        if rel < best_rel:
            best, best_rel = x.clone(), rel
        if rel <= tol or (atol > 0 and float(r.abs().max()) <= atol):
            return x, it, rel
        if rel > 1e3 * best_rel:          # lost to round-off (K's condition near 1/ε): stop
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        zv = precond(r)
        rz_new = float(r @ zv)
        pdir.mul_(rz_new / rz).add_(zv)
        rz = rz_new
    # not converged: the iterate of smallest residual (CG's residual is not monotone)
    return best, it, best_rel


class CGNewtonSystem:
    """The matrix-free counterpart of :class:`torch_lipcvx._engine.ipm._NewtonSystem` (same two
    methods, :meth:`factor` and :meth:`direction`): ``K dx = rhs`` by :func:`pcg` with a
    :class:`UnitPreconditioner`, ``K`` applied as ``∇²f(x)·v + Σ_k cone_k.hvp(v)``.

    Attributes:
        cg_iterations: CG iterations of all the solves so far (the caller sums them).
    """

    def __init__(self, opts: CGOptions, fobj, x: Tensor, rd: Tensor, parts: Sequence,
                 sc: list, lam: list, fi: Tensor, all_free: bool, res: float,
                 target: float, deadline: Optional[float] = None) -> None:
        self.opts, self.fobj, self.x, self.rd, self.parts = opts, fobj, x, rd, parts
        self.sc, self.lam = sc, lam
        N = x.numel()
        self.free = torch.zeros(N, dtype=x.dtype, device=x.device)
        self.free[fi] = 1.0
        # CG's residual becomes the next iterate's dual residual: ask for a tenth of the
        # current one (in the ∞-norm the stopping test reads), and never more than the final
        # target needs (a fifth of it)
        rd_inf = float(rd[fi].abs().max()) if fi.numel() else 0.0
        scale = rd_inf / res if res > 0 and math.isfinite(res) else 1.0
        self._rd_inf, self._floor = rd_inf, 0.01 * target * scale
        self.expect(1.0)
        #: ``time.perf_counter()`` value after which CG stops (:func:`~.ipm.solve`'s
        #: ``time_limit``: one Newton system cannot run far past it); ``None``: none
        self.deadline = deadline
        self.eta = opts.eta_min
        self.cg_iterations = 0
        self.L = None                   # set by factor (the dense system's attribute)
        self._hess: Optional[Callable[[Tensor], Tensor]] = None
        self.ridge = 0.0

    def expect(self, ratio: float) -> None:
        """The step about to be taken shrinks the gap about ``ratio``-fold (Mehrotra's σ, or
        ``1 − α_aff``): ask CG for a residual that much below a tenth of the dual residual, so
        that the dual residual falls with the gap. Measured (servo, (12), β = 1e-3): with a
        fixed tenth, one step cut the gap 64-fold and the residual 10-fold, and the next
        directions, from that badly centred point, drove f from 0.39 to 1e14."""
        self.atol = max(0.1 * self._rd_inf * min(max(ratio, 1e-4), 1.0), self._floor)

    def factor(self, ridge: float) -> bool:
        """Build the preconditioner (and the objective's Hessian action at ``x``)."""
        if self._hess is None:
            self._hess = self.fobj.hessian_operator(self.x)
        pc = UnitPreconditioner(self.opts, self.x.numel(), self.free.bool())
        self.fobj.precond(self.x, pc)
        for pt, c in zip(self.parts, self.sc):
            pt.precond(c, pc)
        pc.factor()
        self.pc = pc
        if ridge > 0:
            big = torch.diagonal(pc.B, dim1=1, dim2=2) if pc.mode == "block" else pc.B
            self.ridge = ridge * float(big.abs().max())
        self.L = pc
        return True

    def matvec(self, v: Tensor) -> Tensor:
        """``K v`` on the free coordinates (zero elsewhere)."""
        v = v * self.free
        out = self._hess(v)
        for pt, c in zip(self.parts, self.sc):
            out = out + pt.hvp(c, v)
        if self.ridge > 0:
            out = out + self.ridge * v
        return out * self.free

    def direction(self, rc: list) -> tuple[Tensor, list, list, float]:
        """As :meth:`ipm._NewtonSystem.direction`, with ``dx`` from preconditioned CG."""
        parts, lam, sc = self.parts, self.lam, self.sc
        u = [pt.inv_circ(l, r) for pt, l, r in zip(parts, lam, rc)]
        rhs = (-self.rd + sum(pt.rhs(c, uu) for pt, c, uu in zip(parts, sc, u))) * self.free
        # (every solve starts from zero: starting the corrector from the predictor's direction
        # was measured to save nothing, 12,075 vs 11,357 CG iterations on the 400 × 50 instance)
        dx, its, _ = pcg(self.matvec, rhs, self.pc.apply, tol=self.eta,
                         max_iter=self.opts.max_iter, atol=self.atol,
                         deadline=self.deadline)
        self.opts.last_cg = its
        self.cg_iterations += its
        dsh = [pt.scale_ds(c, dx) for pt, c in zip(parts, sc)]
        dzh = [uu - ds for uu, ds in zip(u, dsh)]
        a = min(min(pt.max_step(l, ds), pt.max_step(l, dz))
                for pt, l, ds, dz in zip(parts, lam, dsh, dzh))
        return dx, dsh, dzh, a
