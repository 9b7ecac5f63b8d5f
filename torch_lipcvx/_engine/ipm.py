"""A primal–dual interior point in torch for the pattern programs (6) and (12) (docs/programs.md).

Both programs are conic quadratic programs in ``x`` (the unit weights, the output bias and one
extra block), with a *primal-feasible* start (the current network):

    min  ½ xᵀ P x − bᵀ x
    s.t. s_k = h_k + L_k x ∈ K_k                      for every cone part k

with the parts, each a :class:`Cone` (the one interface :func:`solve` uses: a new kind of cone
is a new subclass, no change to the solver)

* :class:`Rows` — the pattern cones: ``(2D − 1) ∘ (X̃ W̃ᵀ) ≥ 0``, ``n × m`` nonnegative rows whose
  map is block diagonal by unit (its Newton block is one ``(d+1) × (d+1)`` matrix per unit);
* :class:`SchurLMI` — the LMI of (12), ``ρ I − W̄ᵀ M W̄ ⪰ 0`` with ``M = T P⁻¹ T`` (the Schur
  complement of docs/lipsdp.md on ``P = 2T − ααᵀ ≻ 0``), a ``d × d`` block concave in ``W̄``:
  its slack is a variable, linearised at each iterate (:meth:`Cone.linearise`,
  :meth:`Cone.moved`; docs/solvers.md §3.1);
* :class:`GroupSOC` — the group norms of (6): ``‖v_j‖ ≤ τ_j``, m second-order cones.

:func:`solve` is the standard path-following method with Nesterov–Todd scaling and Mehrotra's
predictor–corrector (as in CVXOPT's ``coneqp``, Vandenberghe 2010): at each iteration the scaled
point ``λ = W z = W⁻ᵀ s`` is computed per part, the reduced Newton system
``(P + Σ L_kᵀ W_k⁻² L_k) dx = rhs`` is factorised once by Cholesky and solved twice (affine and
combined directions), and the step keeps ``s`` and ``z`` in the interior. Primal feasibility is
exact throughout for the affine parts: ``s`` is recomputed from ``x``, so the returned point
satisfies every pattern row strictly, whatever the accuracy reached (:class:`SchurLMI`'s ``ρ``
may fall short of ``λ_max(W̄ᵀ M W̄)`` within the tolerance; the callers score each point with its
exact ``ρ``). Gondzio's centrality
correctors (two extra solves with the same factor) trim the iteration count. Measured: 37–96
iterations on the UCI sets and rastrigin at m = 100, 140 at n = 9·10⁴; Clarabel needs a similar
count on the same programs (25–58), these are hard, degenerate programs (many rows active at
the optimum). Cost per iteration: ``O(n m (d+1)²)`` for the rows, ``O(m³ + (m d)²)`` for the LMI,
one Cholesky of size ``m (d + 1)``.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from typing import Callable, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from .._checks import check_nonneg, check_positive, check_positive_int
from .distributed import LOCAL, RowComm, local_or
from . import newton_cg
from .newton_cg import CGNewtonSystem, CGOptions
from ..solvers import SolveRecord

#: :class:`Rows` keeps its signs ``2D − 1`` (times the mask) as floats, one multiply per pass
#: over the rows instead of a ``where`` and a mask, when ``n m`` is at most this (160 MB: the
#: passes over the rows are a large share of an iteration at every size the rows are not
#: screened, e.g. n = 9000, m = 1000 on the matrix-free path).
SIGN_CACHE = 20_000_000

__all__ = ["IPMInfo", "Cone", "Rows", "SubsetRows", "SchurLMI", "GroupSOC", "SmoothObjective",
           "Quadratic", "solve"]


#: The record of :func:`solve` (the one record type, :class:`torch_lipcvx.solvers.SolveRecord`):
#: ``status`` ('optimal', 'max_iter' or 'stalled'), iterations, wall time (s), primal objective
#: ``value`` (a feasible point's), ``gap`` (``sᵀz``, an estimate of the distance to the optimum),
#: relative ``dual_residual``, ``device``.
IPMInfo = SolveRecord


# --------------------------------------------------------------------------- objectives
class SmoothObjective(ABC):
    """A smooth convex objective ``f(x)`` as :func:`solve` sees it: value, gradient and the
    Hessian (dense ``(N, N)``, which the Newton system adds its cone blocks to). The quadratic of
    the squared loss is :class:`Quadratic`; the other losses of :mod:`torch_lipcvx.losses` give
    their own (``torch_lipcvx._engine.loss_barrier``). Newton's method on the KKT conditions
    then uses the Hessian at the current point (a sequential-quadratic interior point)."""

    @abstractmethod
    def value(self, x: Tensor) -> float:
        """``f(x)``."""

    @abstractmethod
    def gradient(self, x: Tensor) -> Tensor:
        """``∇f(x)``, ``(N,)``."""

    @abstractmethod
    def hessian(self, x: Tensor) -> Tensor:
        """``∇²f(x)``, a new ``(N, N)`` tensor (the caller adds to it in place)."""

    def scale(self) -> Optional[Tensor]:
        """A vector whose size the dual residual is measured against besides the gradient
        (the linear term of a quadratic), or ``None``."""
        return None

    def newton_matrix(self, x: Tensor) -> Tensor:
        """``∇²f(x)`` ``(N, N)`` for the caller to add to in place: valid until the next call
        (the dense Newton system's; objectives may hand out the same buffer every time)."""
        return self.hessian(x)

    def hessian_operator(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        """``v ↦ ∇²f(x) v`` for ``(N,)`` vectors: what the matrix-free Newton system
        (:mod:`.newton_cg`) applies. The default forms :meth:`hessian` once; objectives over
        data override it with passes over the rows."""
        H = self.hessian(x)
        return lambda v: H @ v

    def precond(self, x: Tensor, pc) -> None:
        """Add this objective's unit blocks of ``∇²f(x)`` to the preconditioner ``pc``
        (a :class:`~.newton_cg.UnitPreconditioner`) for the matrix-free Newton system."""
        raise NotImplementedError(f"{type(self).__name__} has no matrix-free preconditioner")


class Quadratic(SmoothObjective):
    """``½ xᵀPx − bᵀx + const`` (``P (N, N)`` positive semidefinite, ``b (N,)``)."""

    def __init__(self, P: Tensor, b: Tensor, const: float = 0.0) -> None:
        self.P, self.b, self.const = P, b, const
        self._buf: Optional[Tensor] = None        # newton_matrix's, one per solve

    def value(self, x: Tensor) -> float:
        return _quadratic(self.P, self.b, self.const, x)

    def gradient(self, x: Tensor) -> Tensor:
        return self.P @ x - self.b

    def hessian(self, x: Tensor) -> Tensor:
        return self.P.clone()

    def newton_matrix(self, x: Tensor) -> Tensor:
        # one buffer for the whole solve: a fresh (N, N) allocation per iteration costs more
        # than the copy (page faults; N = 500, one thread)
        if self._buf is None:
            self._buf = torch.empty_like(self.P)
        return self._buf.copy_(self.P)

    def hessian_operator(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        return lambda v: self.P @ v

    def scale(self) -> Optional[Tensor]:
        return self.b


# --------------------------------------------------------------------------- cone parts
class Cone(ABC):
    """One cone part ``s = h + L x ∈ K`` of the program, as :func:`solve` sees it.

    :func:`solve` talks to its cones only through these methods, so a new kind of cone is a
    new subclass and the solver's code does not change. ``s``, ``z`` and the (scaled)
    directions are tensors in the part's own layout (its *slack shape*, e.g. ``(n, m)`` rows or
    a ``(k, k)`` matrix); the scaling ``sc`` is whatever :meth:`scaling` returns and is handed
    back unchanged. Notation of Vandenberghe (2010, the CVXOPT ``coneqp`` paper): the
    Nesterov–Todd scaling ``W`` with ``W z = W⁻ᵀ s = λ``, the Jordan product ``∘`` with its
    identity ``e``.

    Attributes:
        nu: the barrier's degree (one per orthant row, one per second-order cone, the order of
            a semidefinite block); the gap over ``Σ nu`` is the centring parameter μ.
    """

    nu: float

    @abstractmethod
    def slack(self, x: Tensor) -> Tensor:
        """``s(x) = h + L x`` for the ``(N,)`` point ``x``."""

    @abstractmethod
    def adjoint(self, Y: Tensor) -> Tensor:
        """``Lᵀ Y``, an ``(N,)`` vector, for ``Y`` of the slack shape."""

    @abstractmethod
    def init_dual(self, s: Tensor, mu: float) -> Tensor:
        """A strictly interior dual start, ``z ≈ μ s⁻¹`` (``s ∘ z ≈ μ e``)."""

    @abstractmethod
    def dot(self, a: Tensor, b: Tensor) -> float:
        """``⟨a, b⟩`` over the part's constraint entries."""

    @abstractmethod
    def scaling(self, s: Tensor, z: Tensor):
        """The NT scaling of the interior pair ``(s, z)`` (an opaque value)."""

    @abstractmethod
    def lam(self, sc) -> Tensor:
        """The scaled point ``λ = W z = W⁻ᵀ s`` of the scaling ``sc``."""

    @abstractmethod
    def newton(self, K: Tensor, sc) -> None:
        """Add ``Lᵀ W⁻² L`` to the ``(N, N)`` Newton matrix ``K`` in place."""

    @abstractmethod
    def scale_ds(self, sc, dx: Tensor) -> Tensor:
        """``W⁻ᵀ L dx``: the scaled primal direction of the ``(N,)`` step ``dx``."""

    @abstractmethod
    def unscale_dz(self, sc, dzh: Tensor) -> Tensor:
        """``W⁻¹ d̂z``: the dual direction from its scaled form."""

    @abstractmethod
    def rhs(self, sc, u: Tensor) -> Tensor:
        """``Lᵀ W⁻¹ u``, an ``(N,)`` vector (the part's term of the Newton right-hand side)."""

    @abstractmethod
    def circ(self, a: Tensor, b: Tensor) -> Tensor:
        """The Jordan product ``a ∘ b``."""

    @abstractmethod
    def inv_circ(self, lam: Tensor, r: Tensor) -> Tensor:
        """``u`` with ``λ ∘ u = r``."""

    @abstractmethod
    def identity(self, like: Tensor) -> Tensor:
        """The identity ``e`` of ``∘``, in the slack shape of ``like``."""

    @abstractmethod
    def max_step(self, lam: Tensor, d: Tensor) -> float:
        """The largest ``a ≥ 0`` with ``λ + a d`` in the cone (``inf`` if no bound)."""

    @abstractmethod
    def update_dual(self, z: Tensor, dz: Tensor, a: float) -> Tensor:
        """The dual after the step, ``z + a dz`` (kept in the cone's form)."""

    @abstractmethod
    def interior(self, s: Tensor) -> bool:
        """Whether the slack ``s`` is strictly inside the cone."""

    def worst(self, s: Tensor, z: Tensor) -> float:
        """The smallest complementarity product of the pair (for the neighbourhood of the
        central path that :func:`solve` keeps); ``inf``: this part sets no bound."""
        return math.inf

    # a part whose constraint is not affine in x (SchurLMI) keeps its slack as a variable:
    # linearised at every iterate, moved along the linearisation, its gap to the constraint's
    # value closed by the Newton steps; an affine part recomputes its slack from x
    def linearise(self, x: Tensor, s: Tensor) -> None:
        """Called at the start of every iteration with the current point and this part's slack
        (for a non-affine part: its Jacobian and ``s(x) − s`` there); affine parts need
        nothing."""

    def moved(self, s: Tensor, x_new: Tensor, dx: Tensor, a: float) -> Tensor:
        """The slack after the step ``x_new = x + a dx`` from the slack ``s``: for an affine
        part ``slack(x_new)``, recomputed (immune to round-off at the boundary)."""
        return self.slack(x_new)

    def restore_cost(self, z: Tensor) -> float:
        """What restoring the constraint at the point of the last :meth:`linearise` would add to
        the objective (added to the pair's ``⟨s, z⟩`` for the gap the stopping test and the
        reports use; μ is the pair's alone); 0 for an affine part, whose slack is its value."""
        return 0.0

    def neighbourhood(self, centrality: float) -> float:
        """The fraction of μ that :meth:`worst` must keep after a step, given :func:`solve`'s
        ``centrality``."""
        return 1e-2

    def centrality_correction(self, r: Tensor, lam: Tensor, ds: Tensor, dz: Tensor,
                              trial: float, sigma: float, mu: float) -> Tensor:
        """Gondzio's corrector: the right-hand side ``r`` of the complementarity equation,
        adjusted so that a step ``trial`` along ``(ds, dz)`` moves the products towards
        ``σμ``; by default unchanged (no corrector)."""
        return r

    # the matrix-free Newton system (.newton_cg): the action of the part's Newton term and its
    # share of the unit-block preconditioner
    def hvp(self, sc, dx: Tensor) -> Tensor:
        """``Lᵀ W⁻² L dx`` (``(N,)``), the action of :meth:`newton`'s term without forming it."""
        return self.rhs(sc, self.scale_ds(sc, dx))

    def precond(self, sc, pc) -> None:
        """Add this part's unit blocks of ``Lᵀ W⁻² L`` to the preconditioner ``pc``."""
        raise NotImplementedError(f"{type(self).__name__} has no matrix-free preconditioner")


class Rows(Cone):
    """Nonnegative rows ``S = (2D − 1) ∘ (X̃ W̃ᵀ) ≥ 0`` of the units in ``mask`` (``(n, m)``).

    ``W̃`` is ``x[:m p]`` reshaped ``(m, p)``, ``p = d + 1``; ``outer`` holds ``x̃ᵢ x̃ᵢᵀ`` per row
    ``(n, p²)`` for the per-unit Newton blocks.

    ``comm`` (:class:`~.distributed.RowComm`): the rows given are this process's shard; every
    sum over rows (:meth:`adjoint`, :meth:`dot`, :meth:`hvp`, the preconditioner's blocks
    through :class:`~.newton_cg.CGOptions`) is all-reduced, every min/all test
    (:meth:`max_step`, :meth:`interior`, :meth:`worst`, :meth:`init_dual`'s floor) too, and
    :attr:`nu` counts the rows of all processes (docs/solvers.md §3.3). Matrix-free Newton
    systems only (the dense :meth:`newton` block is this process's rows alone).
    """

    #: the row reductions (one process unless given)
    comm: RowComm = LOCAL

    def __init__(self, Xt: Tensor, D: Tensor, mask: Tensor, outer: Tensor, N: int,
                 comm: Optional[RowComm] = None) -> None:
        self.Xt, self.D, self.outer, self.N = Xt, D, outer, N
        self.n, self.p = Xt.shape
        self.m = D.shape[1]
        self.mask = mask
        self.maskf = mask.to(Xt.dtype)[None, :]
        self.comm = local_or(comm)
        self.nu = float(self.comm.n_total(self.n) * int(mask.sum()))
        self.all = bool(mask.all())
        self.sgn = ((2.0 * D.to(Xt.dtype) - 1.0) * self.maskf
                    if self.n * self.m <= SIGN_CACHE else None)

    def slack(self, x: Tensor) -> Tensor:
        W = x[: self.m * self.p].reshape(self.m, self.p)
        Z = self.Xt @ W.T
        if self.sgn is not None:
            return Z * self.sgn if self.all else Z * self.sgn + (1.0 - self.maskf)
        S = torch.where(self.D, Z, -Z)
        return torch.where(self.mask[None, :], S, torch.ones((), dtype=S.dtype, device=S.device))

    def lin(self, dx: Tensor) -> Tensor:
        W = dx[: self.m * self.p].reshape(self.m, self.p)
        Z = self.Xt @ W.T
        if self.sgn is not None:
            return Z * self.sgn
        return torch.where(self.D, Z, -Z) * self.maskf

    def adjoint(self, Y: Tensor) -> Tensor:
        out = torch.zeros(self.N, dtype=Y.dtype, device=Y.device)
        Y = Y * self.sgn if self.sgn is not None else torch.where(self.D, Y, -Y) * self.maskf
        out[: self.m * self.p] = (self.Xt.T @ Y).T.reshape(-1)
        return self.comm.sum_(out)

    def values(self, a: Tensor) -> Tensor:
        """The entries of a slack-shaped tensor that are constraints (1-D)."""
        return a if self.all else a[:, self.mask]

    def init_dual(self, s: Tensor, mu: float) -> Tensor:
        # z = μ/s, except on rows (nearly) active at the start, e.g. the optimum of a previous
        # step: there s ~ 1e-12 would give huge duals and a huge dual residual; cap them
        floor = 1e-2 * self._mean(self.values(s)) if bool(self.mask.any()) else 1.0
        return mu / s.clamp_min(floor) * self.maskf + (1 - self.maskf)

    def _mean(self, v: Tensor) -> float:
        """The mean of the entries ``v`` over every process's rows."""
        if not self.comm.distributed:
            return float(v.mean())
        tot = self.comm.sum_(torch.stack([v.sum(), v.new_tensor(float(v.numel()))]))
        return float(tot[0] / tot[1])

    def dot(self, a: Tensor, b: Tensor) -> float:
        if self.all:                 # (with every unit kept: one fused pass, no temporaries)
            return self.comm.sum(float(torch.dot(a.reshape(-1), b.reshape(-1))))
        return self.comm.sum(float((a * b * self.maskf).sum()))

    # NT scaling of the nonnegative orthant: W = diag(√(s/z)), λ = √(s z)
    def scaling(self, s: Tensor, z: Tensor):
        return torch.sqrt(s / z), torch.sqrt(s * z)

    def lam(self, sc) -> Tensor:
        return sc[1]

    def newton(self, K: Tensor, sc) -> None:
        w = sc[0]
        Hc = (self.maskf / (w * w)).T @ self.outer            # (m, p²)
        m, p = self.m, self.p
        # the (m, p, m, p) view of the unit block; its unit-diagonal is a strided (p, p, m) view
        blocks = K[: m * p, : m * p].view(m, p, m, p).diagonal(dim1=0, dim2=2)
        blocks += Hc.reshape(m, p, p).permute(1, 2, 0)

    def scale_ds(self, sc, dx: Tensor) -> Tensor:        # W⁻ᵀ L dx
        return self.lin(dx) / sc[0]

    def unscale_dz(self, sc, dzh: Tensor) -> Tensor:     # W⁻¹ d̂z
        return dzh / sc[0] if self.all else dzh / sc[0] * self.maskf

    def rhs(self, sc, u: Tensor) -> Tensor:              # Lᵀ W⁻¹ u
        return self.adjoint(u / sc[0])

    def circ(self, a: Tensor, b: Tensor) -> Tensor:
        return a * b if self.all else a * b * self.maskf

    def inv_circ(self, lam: Tensor, r: Tensor) -> Tensor:
        return r / lam if self.all else r / lam * self.maskf

    def identity(self, like: Tensor) -> Tensor:
        return self.maskf.expand_as(like).clone()

    def max_step(self, lam: Tensor, d: Tensor) -> float:
        # masked-out columns carry d = 0 (their u and L dx are zero): no bound from them
        # the bound is −1 / min(d/λ) over the rows where d < 0 (λ > 0)
        low = float((d / lam).min()) if d.numel() else 0.0
        return self.comm.min(-1.0 / low if low < 0 else math.inf)

    def update_dual(self, z: Tensor, dz: Tensor, a: float) -> Tensor:
        if self.all:
            return torch.clamp(z + a * dz, min=1e-300)
        return torch.where(self.mask[None, :], torch.clamp(z + a * dz, min=1e-300), z)

    def interior(self, s: Tensor) -> bool:
        return self.comm.all(bool((self.values(s) > 0).all()))

    def worst(self, s: Tensor, z: Tensor) -> float:
        """The smallest ``s·z`` over the rows (``inf`` without rows)."""
        if not bool(self.mask.any()):
            return math.inf
        v = self.values(s * z)
        return self.comm.min(float(v.min()) if v.numel() else math.inf)

    def centrality_correction(self, r: Tensor, lam: Tensor, ds: Tensor, dz: Tensor,
                              trial: float, sigma: float, mu: float) -> Tensor:
        """Gondzio: the products ``(λ + trial d̂s)(λ + trial d̂z)`` pulled into
        ``[0.1, 10]·σμ`` (a large product lowered by at most ``10 σμ``)."""
        v = (lam + trial * ds) * (lam + trial * dz)
        tgt = v.clamp(0.1 * sigma * mu, 10.0 * sigma * mu)
        return r + (tgt - v).clamp(min=-10.0 * sigma * mu) * self.maskf

    def precond(self, sc, pc) -> None:
        """Unit j's block ``X̃ᵀ diag(z_j/s_j) X̃`` (the whole of this part's Newton term)."""
        pc.rows(self._weights(sc))

    def _weights(self, sc) -> Tensor:
        """``z/s`` on the rows (0 off the mask), cached for the scaling in use."""
        if getattr(self, "_w_for", None) is not sc:
            w = sc[0]
            self._w_for, self._w_val = sc, self.maskf / (w * w)
        return self._w_val

    def hvp(self, sc, dx: Tensor) -> Tensor:
        """``X̃ᵀ diag(z_j/s_j) X̃ w̃_j`` per unit: two products with the data (the pattern's sign
        appears twice and cancels)."""
        W = dx[: self.m * self.p].reshape(self.m, self.p)
        out = torch.zeros(self.N, dtype=dx.dtype, device=dx.device)
        out[: self.m * self.p] = ((self.Xt @ W.T) * self._weights(sc)).T.matmul(self.Xt).reshape(-1)
        return self.comm.sum_(out)


class SubsetRows(Rows):
    """A subset of the pattern rows: unit j keeps the rows ``idx[j, r]`` where ``valid[j, r]``.

    The slack is ``(m, k)``: ``S[j, r] = σ_{ij} x̃_iᵀ w̃_j`` with ``i = idx[j, r]`` and
    ``σ = ±1`` the pattern's sign. Used for constraint screening at large n (see
    :class:`torch_lipcvx._engine.barrier.PatternBarrier`): the cost per iteration is ``O(m k p)``
    instead of ``O(n m p)``.
    """

    def __init__(self, Xt: Tensor, D: Tensor, idx: Tensor, valid: Tensor, N: int) -> None:
        self.m, self.k = idx.shape
        self.n, self.p = Xt.shape
        self.N = N
        sign = torch.where(D.gather(0, idx.T).T, 1.0, -1.0).to(Xt.dtype)   # (m, k)
        self.A = sign[:, :, None] * Xt[idx]                                 # (m, k, p)
        self.mask = valid
        self.maskf = valid.to(Xt.dtype)
        self.all = bool(valid.all())
        self.nu = float(valid.sum())

    def values(self, a: Tensor) -> Tensor:
        return a[self.mask]

    def _apply(self, x: Tensor) -> Tensor:
        W = x[: self.m * self.p].reshape(self.m, self.p)
        return torch.einsum("jrp,jp->jr", self.A, W)

    def slack(self, x: Tensor) -> Tensor:
        return torch.where(self.mask, self._apply(x), torch.ones((), dtype=x.dtype,
                                                                 device=x.device))

    def lin(self, dx: Tensor) -> Tensor:
        return self._apply(dx) * self.maskf

    def adjoint(self, Y: Tensor) -> Tensor:
        out = torch.zeros(self.N, dtype=Y.dtype, device=Y.device)
        out[: self.m * self.p] = torch.einsum("jr,jrp->jp", Y * self.maskf, self.A).reshape(-1)
        return out

    def newton(self, K: Tensor, sc) -> None:
        w = sc[0]
        Hc = torch.einsum("jr,jrp,jrq->jpq", self.maskf / (w * w), self.A, self.A)
        m, p = self.m, self.p
        blocks = K[: m * p, : m * p].view(m, p, m, p).diagonal(dim1=0, dim2=2)
        blocks += Hc.permute(1, 2, 0)

    def update_dual(self, z: Tensor, dz: Tensor, a: float) -> Tensor:
        return torch.where(self.mask, torch.clamp(z + a * dz, min=1e-300), z)

    def precond(self, sc, pc) -> None:
        pc.subset_rows(self.A, self._weights(sc))

    def hvp(self, sc, dx: Tensor) -> Tensor:
        out = torch.zeros(self.N, dtype=dx.dtype, device=dx.device)
        Y = self._apply(dx) * self._weights(sc)
        out[: self.m * self.p] = torch.einsum("jr,jrp->jp", Y, self.A).reshape(-1)
        return out


#: Rank of the LMI term's Nyström approximation in the matrix-free preconditioner.
LMI_RANK = 32


class _PSDBlock(Cone):
    """What a positive semidefinite ``k × k`` block shares: its central dual, inner product,
    Nesterov–Todd scaling, Jordan product, step lengths and neighbourhood (a subclass says how
    the block depends on ``x``: :class:`SchurLMI`)."""

    def __init__(self, like: Tensor, m: int, p: int, d: int, rho_index: int, N: int,
                 k: int) -> None:
        """The layout of program (12) the LMI reads: ``W̄`` the first ``d`` columns of
        ``x[:m p]`` reshaped ``(m, p)`` (flat indices :attr:`wbar`), ρ at ``x[rho_index]``;
        a ``k × k`` block of barrier degree ``k``."""
        self.m, self.p, self.d, self.ri, self.N, self.k = m, p, d, rho_index, N, k
        self.nu = float(k)
        dev = like.device
        self.wbar = torch.nonzero((torch.arange(p, device=dev) < d).repeat(m))[:, 0]
        self.eye = torch.eye(k, dtype=like.dtype, device=dev)

    def _wbar(self, x: Tensor) -> Tensor:
        return x[: self.m * self.p].reshape(self.m, self.p)[:, : self.d]

    def init_dual(self, s: Tensor, mu: float) -> Tensor:
        return mu * torch.cholesky_inverse(torch.linalg.cholesky(s))

    def dot(self, a: Tensor, b: Tensor) -> float:
        return float((a * b).sum())

    def scaling(self, s: Tensor, z: Tensor):
        """NT scaling: ``r`` with ``rᵀ z r = r⁻¹ s r⁻ᵀ = diag(λ)``.

        With ``s = L Lᵀ`` and ``Lᵀ z L = V diag(λ²) Vᵀ``: ``r = L V diag(λ)^-½`` and
        ``r⁻¹ = diag(λ)^½ Vᵀ L⁻¹``. One symmetric eigendecomposition instead of the SVD of
        ``L_zᵀ L`` (half the time at ``d + m = 1010``); squaring costs no accuracy here because
        the steps keep the pairs near the central path, where every ``λ_i² ≈ μ``."""
        Ls = torch.linalg.cholesky(0.5 * (s + s.T))
        M = Ls.T @ z @ Ls
        lam2, V = torch.linalg.eigh(0.5 * (M + M.T))
        if not bool((lam2 > 0).all()):
            raise torch.linalg.LinAlgError("the LMI's dual left its cone")
        lam = lam2.sqrt()
        r = Ls @ V / lam.sqrt()[None, :]
        rinv = lam.sqrt()[:, None] * torch.linalg.solve_triangular(Ls.T, V, upper=True).T
        return r, rinv, lam

    def lam(self, sc) -> Tensor:
        return torch.diag(sc[2])

    def unscale_dz(self, sc, dzh: Tensor) -> Tensor:
        rinv = sc[1]
        return rinv.T @ dzh @ rinv

    def circ(self, a: Tensor, b: Tensor) -> Tensor:
        return 0.5 * (a @ b + b @ a)

    def inv_circ(self, lam: Tensor, r: Tensor) -> Tensor:
        lv = torch.diagonal(lam)
        return 2.0 * r / (lv[:, None] + lv[None, :])

    def identity(self, like: Tensor) -> Tensor:
        return self.eye.clone()

    def max_step(self, lam: Tensor, d: Tensor) -> float:
        li = torch.diagonal(lam).rsqrt()
        ev = torch.linalg.eigvalsh(li[:, None] * (0.5 * (d + d.T)) * li[None, :])
        lo = float(ev[0])
        return math.inf if lo >= 0 else -1.0 / lo

    def update_dual(self, z: Tensor, dz: Tensor, a: float) -> Tensor:
        z = z + a * dz
        return 0.5 * (z + z.T)

    def interior(self, s: Tensor) -> bool:
        return int(torch.linalg.cholesky_ex(0.5 * (s + s.T))[1]) == 0

    def worst(self, s: Tensor, z: Tensor) -> float:
        """The smallest eigenvalue of ``S^½ Z S^½`` (``inf`` if S is not positive definite)."""
        Ls, info = torch.linalg.cholesky_ex(0.5 * (s + s.T))
        if int(info) != 0:
            return math.inf
        return float(torch.linalg.eigvalsh(Ls.T @ z @ Ls)[0])

    def neighbourhood(self, centrality: float) -> float:
        return centrality


class SchurLMI(_PSDBlock):
    """``S = ρ I_d − W̄ᵀ M W̄ ⪰ 0`` (⇔ ``ρ ≥ ‖R W̄‖₂²`` with ``RᵀR = M``): the LMI of program
    (12) in its ``d × d`` Schur form (docs/solvers.md §3.1), for the dense and the matrix-free
    Newton systems (:meth:`newton`; :meth:`hvp` and :meth:`precond`).

    The same constraint as the affine ``(d + m)`` block ``[[ρ I, (R W̄)ᵀ], [R W̄, I]] ⪰ 0``, but
    concave in ``W̄``, so its slack is a variable of the interior point (:meth:`linearise`,
    :meth:`moved`): each step moves it along the linearisation ``L(dx) = dρ I − (dW̄ᵀC +
    CᵀdW̄)``, ``C = M W̄``, plus the residual ``r = S(x) − s``, which the Newton step removes
    (a full step leaves only the curvature ``−a² dW̄ᵀ M dW̄``). The Newton matrix gains the
    constraint's curvature ``2 M ⊗ Y`` (``Y`` its dual). An iterate may miss ``ρ ≥
    λ_max(W̄ᵀ M W̄)`` by a little, so the gap that stops the solve is the pair's plus the cost of
    raising ρ to restore it (:meth:`restore_cost`), and callers score the points they return with
    the exact ρ. Every eigenproblem is ``d × d`` instead of ``(d + m)``, the barrier's degree is
    ``d`` instead of ``d + m``, and warm starts across Algorithm 1's steps keep the duals
    directly. (Keeping every iterate strictly inside the constraint itself was measured to
    stall: the steps shrink to nothing; docs/solvers.md §3.1.)
    """

    def __init__(self, M: Tensor, m: int, p: int, d: int, rho_index: int, N: int) -> None:
        super().__init__(M, m, p, d, rho_index, N, d)
        self.M = M
        self._C: Optional[Tensor] = None      # M W̄ at the last linearisation
        self._G: Optional[Tensor] = None      # S(x) there
        self._r: Optional[Tensor] = None      # S(x) − s there
        self._z: Optional[Tensor] = None      # the dual of the scaling in use
        self._V: Optional[Tensor] = None      # (r rᵀ)⁻¹ of that scaling

    def _value(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(ρ I − W̄ᵀ M W̄, M W̄)`` at ``x``, the first symmetric."""
        Wb = self._wbar(x)
        C = self.M @ Wb
        G = x[self.ri] * self.eye - Wb.T @ C
        return 0.5 * (G + G.T), C

    def slack(self, x: Tensor) -> Tensor:
        """The constraint's value ``ρ I − W̄ᵀ M W̄`` at ``x`` (symmetric, ``d × d``)."""
        return self._value(x)[0]

    def linearise(self, x: Tensor, s: Tensor) -> None:
        self._G, self._C = self._value(x)
        self._r = self._G - s

    def restore_cost(self, z: Tensor) -> float:
        """Where ``S(x)`` is not positive semidefinite, ``ρ`` must rise by ``δ = −λ_min(S(x))``,
        which costs ``δ tr Y`` (``tr Y = ∂f/∂ρ`` at dual feasibility)."""
        short = max(0.0, -float(torch.linalg.eigvalsh(self._G)[0]))
        return short * float(torch.trace(z))

    def moved(self, s: Tensor, x_new: Tensor, dx: Tensor, a: float) -> Tensor:
        """``s + a (L(dx) + r)``, the slack along the linearisation."""
        t = s + a * (self.lin(dx) + self._r)
        return 0.5 * (t + t.T)

    def lin(self, dx: Tensor) -> Tensor:
        """The linearisation at the last :meth:`linearise`: ``dρ I − (dW̄ᵀC + CᵀdW̄)``."""
        T = self._wbar(dx).T @ self._C
        return dx[self.ri] * self.eye - (T + T.T)

    def adjoint(self, Y: Tensor) -> Tensor:
        """``Lᵀ Y``: ``−2 C Y`` on ``W̄``, ``tr Y`` on ρ (the Jacobian at the last
        :meth:`linearise`)."""
        Ys = 0.5 * (Y + Y.T)
        out = torch.zeros(self.N, dtype=Y.dtype, device=Y.device)
        out[self.wbar] = (-2.0 * self._C @ Ys).reshape(-1)
        out[self.ri] = torch.trace(Ys)
        return out

    def scaling(self, s: Tensor, z: Tensor):
        """The NT scaling; also keeps, for the scaling in use, ``Y`` symmetric and ``V = (r rᵀ)⁻¹``
        (what :meth:`newton`, :meth:`hvp` and :meth:`precond` read: once per iteration, not per
        CG product)."""
        self._z = 0.5 * (z + z.T)
        sc = super().scaling(s, z)
        self._V = sc[1].T @ sc[1]
        return sc

    def newton(self, K: Tensor, sc) -> None:
        """Add ``Lᵀ V L(·) V`` (``V = (r rᵀ)⁻¹``) and the curvature ``2 M ⊗ Y`` on ``(W̄, ρ)``:
        on ``W̄`` (rows ``(k, a)``, columns ``(l, b)``) ``2 (C V Cᵀ)_kl V_ab + 2 (CV)_kb (CV)_la
        + 2 M_kl Y_ab``, on ``(ρ, W̄)`` ``−2 C V²``, on ``(ρ, ρ)`` ``‖V‖²``."""
        d, m, p = self.d, self.m, self.p
        V = self._V
        X = self._C @ V                                        # (m, d)
        A = X @ self._C.T                                      # (m, m)
        KW = K[: m * p, : m * p].view(m, p, m, p)[:, :d, :, :d]
        KW.addcmul_(A[:, None, :, None], V[None, :, None, :], value=2.0)
        KW.addcmul_(X[:, None, None, :], X.T[None, :, :, None], value=2.0)
        KW.addcmul_(self.M[:, None, :, None], self._z[None, :, None, :], value=2.0)
        kx = -2.0 * X @ V
        K[: m * p, self.ri].view(m, p)[:, :d] += kx
        K[self.ri, : m * p].view(m, p)[:, :d] += kx
        K[self.ri, self.ri] += (V * V).sum()

    def hvp(self, sc, dx: Tensor) -> Tensor:
        """The action of :meth:`newton`'s term, ``Lᵀ(V L(dx) V) + 2 M dW̄ Y``, in ``O(m d² +
        m² d)`` (``M`` a dense ``m × m``): the matrix-free Newton system's."""
        V = self._V
        out = self.adjoint(V @ self.lin(dx) @ V)
        out[self.wbar] += (2.0 * (self.M @ self._wbar(dx)) @ self._z).reshape(-1)
        return out

    def precond(self, sc, pc) -> None:
        """Unit k's block of :meth:`newton`'s term, ``2 (C V Cᵀ)_kk V + 2 (CV)_k (CV)_kᵀ +
        2 M_kk Y``, and ρ's diagonal ``‖V‖²_F``. Near the optimum the LMI's active directions
        make a few huge eigenvalues of the term that couple all units: once CG needs many
        iterations its leading eigenpairs (randomized Nyström, :func:`~.newton_cg.nystrom`,
        ``LMI_RANK`` products) are added once more, by Woodbury's formula; counted twice on
        the blocks they at most double the preconditioner along those directions, while the
        blocks keep every coordinate's own curvature."""
        V = self._V
        X = self._C @ V                                        # (m, d)
        if pc.want_lowrank:
            U, w = newton_cg.nystrom(lambda v: self.hvp(sc, v), self.N, min(LMI_RANK, self.N),
                                     like=V, free=pc.free.to(V.dtype))
            if w.numel():
                pc.lowrank(U, w)
        pc.unit_kron(2.0 * (X * self._C).sum(1), V)
        pc.unit_rank1(math.sqrt(2.0) * X)
        pc.unit_kron(2.0 * torch.diagonal(self.M), self._z)
        pc.diag(self.ri, float((V * V).sum()))

    def scale_ds(self, sc, dx: Tensor) -> Tensor:
        """``r⁻¹ (L(dx) + r) r⁻ᵀ``: the slack's step includes the residual's removal."""
        rinv = sc[1]
        return rinv @ (self.lin(dx) + self._r) @ rinv.T

    def rhs(self, sc, u: Tensor) -> Tensor:
        """``Lᵀ r⁻ᵀ (u − r⁻¹ r r⁻ᵀ) r⁻¹``: the residual's share of the Newton right-hand side."""
        rinv = sc[1]
        return self.adjoint(rinv.T @ (u - rinv @ self._r @ rinv.T) @ rinv)


def restriction_lmi(M: Tensor, m: int, p: int, d: int, N: int) -> SchurLMI:
    """The LMI ``ρ I ⪰ W̄ᵀ M W̄`` of program (12) (ρ the last of ``N`` coordinates) as a cone part:
    its ``d × d`` Schur form (:class:`SchurLMI`), for the dense and the matrix-free Newton
    systems alike (docs/solvers.md §3.1)."""
    return SchurLMI(M, m, p, d, N - 1, N)


class GroupSOC(Cone):
    """``‖v_j‖₂ ≤ τ_j`` for every unit j: m second-order cones of dimension ``p + 1``.

    ``v_j`` is row j of ``x[:m p]`` reshaped ``(m, p)``; ``τ = x[tau_start : tau_start + m]``.
    Slack layout ``(m, p + 1)``: column 0 is τ_j, the rest v_j.
    """

    def __init__(self, m: int, p: int, tau_start: int, N: int, dtype, device) -> None:
        self.m, self.p, self.t0, self.N = m, p, tau_start, N
        self.nu = float(m)
        J = torch.ones(p + 1, dtype=dtype, device=device)
        J[1:] = -1
        self.J = J

    def lin(self, dx: Tensor) -> Tensor:
        V = dx[: self.m * self.p].reshape(self.m, self.p)
        tau = dx[self.t0: self.t0 + self.m]
        return torch.cat([tau[:, None], V], 1)

    slack = lin

    def adjoint(self, Y: Tensor) -> Tensor:
        out = torch.zeros(self.N, dtype=Y.dtype, device=Y.device)
        out[: self.m * self.p] = Y[:, 1:].reshape(-1)
        out[self.t0: self.t0 + self.m] = Y[:, 0]
        return out

    def _jdot(self, a: Tensor, b: Tensor) -> Tensor:
        return (a * b * self.J).sum(1)

    def init_dual(self, s: Tensor, mu: float) -> Tensor:
        # the central point: z = μ s⁻¹ (Jordan inverse J s / (sᵀ J s)), so s ∘ z = μ e
        return mu * s * self.J / self._jdot(s, s)[:, None]

    def dot(self, a: Tensor, b: Tensor) -> float:
        return float((a * b).sum())

    def scaling(self, s: Tensor, z: Tensor):
        """NT scaling ``W = β (2 v vᵀ − J)`` per cone (Vandenberghe 2010, §4)."""
        ns = self._jdot(s, s).sqrt()
        nz = self._jdot(z, z).sqrt()
        sb, zb = s / ns[:, None], z / nz[:, None]
        gamma = torch.sqrt((1 + (sb * zb).sum(1)) / 2)
        wb = (sb + zb * self.J) / (2 * gamma[:, None])
        v = wb.clone()
        v[:, 0] += 1
        v = v / torch.sqrt(2 * (wb[:, 0] + 1))[:, None]
        beta = torch.sqrt(ns / nz)
        lam = self._wapply(v, beta, z)
        return v, beta, lam

    def _wapply(self, v: Tensor, beta: Tensor, a: Tensor) -> Tensor:
        """``W a = β (2 v (vᵀ a) − J a)``."""
        return beta[:, None] * (2 * v * (v * a).sum(1, keepdim=True) - a * self.J)

    def _winv(self, v: Tensor, beta: Tensor, a: Tensor) -> Tensor:
        """``W⁻¹ a = (2 J v (vᵀ J a) − J a) / β``."""
        Jv = v * self.J
        return (2 * Jv * (Jv * a).sum(1, keepdim=True) - a * self.J) / beta[:, None]

    def lam(self, sc) -> Tensor:
        return sc[2]

    def newton(self, K: Tensor, sc) -> None:
        """Add ``Lᵀ W⁻² L``: per cone the ``(p + 1)`` matrix ``W⁻²`` on ``(τ_j, v_j)``."""
        v, beta = sc[0], sc[1]
        m, p = self.m, self.p
        Jv = v * self.J
        Winv = (2 * Jv[:, :, None] * Jv[:, None, :] - torch.diag(self.J)[None]) / beta[:, None, None]
        W2 = Winv @ Winv                                      # (m, p+1, p+1)
        idx = torch.cat([self.t0 + torch.arange(m, device=K.device)[:, None],
                         (torch.arange(m, device=K.device) * p)[:, None]
                         + torch.arange(p, device=K.device)[None, :]], 1)      # (m, p+1)
        K[idx[:, :, None], idx[:, None, :]] += W2

    def scale_ds(self, sc, dx: Tensor) -> Tensor:
        return self._winv(sc[0], sc[1], self.lin(dx))

    def unscale_dz(self, sc, dzh: Tensor) -> Tensor:
        return self._winv(sc[0], sc[1], dzh)

    def rhs(self, sc, u: Tensor) -> Tensor:
        return self.adjoint(self._winv(sc[0], sc[1], u))

    def circ(self, a: Tensor, b: Tensor) -> Tensor:
        head = (a * b).sum(1, keepdim=True)
        return torch.cat([head, a[:, :1] * b[:, 1:] + b[:, :1] * a[:, 1:]], 1)

    def inv_circ(self, lam: Tensor, r: Tensor) -> Tensor:
        l0, l1 = lam[:, 0], lam[:, 1:]
        r0, r1 = r[:, 0], r[:, 1:]
        det = l0 * l0 - (l1 * l1).sum(1)
        u0 = (l0 * r0 - (l1 * r1).sum(1)) / det
        u1 = (r1 - u0[:, None] * l1) / l0[:, None]
        return torch.cat([u0[:, None], u1], 1)

    def identity(self, like: Tensor) -> Tensor:
        e = torch.zeros_like(like)
        e[:, 0] = 1
        return e

    def max_step(self, lam: Tensor, d: Tensor) -> float:
        """Largest a with ``λ + a d`` in every cone (λ interior)."""
        # q(a) = (λ + a d)ᵀ J (λ + a d) = A a² + 2 B a + C, C > 0; also λ0 + a d0 ≥ 0
        A = self._jdot(d, d)
        B = self._jdot(lam, d)
        C = self._jdot(lam, lam)
        amax = torch.full_like(A, math.inf)
        disc = torch.clamp(B * B - A * C, min=0).sqrt()
        # smallest positive root of A a² + 2B a + C
        with torch.no_grad():
            r1 = torch.where(A != 0, (-B - disc) / A, -C / (2 * B))
            r2 = torch.where(A != 0, (-B + disc) / A, -C / (2 * B))
        for r in (r1, r2):
            amax = torch.where((r > 0) & torch.isfinite(r), torch.minimum(amax, r), amax)
        neg0 = d[:, 0] < 0
        amax = torch.where(neg0, torch.minimum(amax, -lam[:, 0] / d[:, 0]), amax)
        return float(amax.min())

    def update_dual(self, z: Tensor, dz: Tensor, a: float) -> Tensor:
        return z + a * dz

    def interior(self, s: Tensor) -> bool:
        return bool((s[:, 0] > torch.linalg.vector_norm(s[:, 1:], dim=1)).all())

    def precond(self, sc, pc) -> None:
        """Each cone's ``W⁻²`` on ``(v_j, τ_j)`` (the preconditioner's unit order puts τ last)."""
        v, beta = sc[0], sc[1]
        Jv = v * self.J
        Winv = (2 * Jv[:, :, None] * Jv[:, None, :] - torch.diag(self.J)[None]) \
            / beta[:, None, None]
        W2 = Winv @ Winv
        perm = torch.cat([torch.arange(1, self.p + 1), torch.zeros(1, dtype=torch.long)]).to(v.device)
        pc.unit_full(W2[:, perm][:, :, perm])


# ------------------------------------------------------------------------------- the solver
#: Gondzio's centrality correctors per iteration, and the Newton size from which they are used
#: by default. A corrector reuses the factor but costs a direction: two triangular solves and
#: every cone's step length (for the LMI two symmetric eigenvalue problems, of size d + m when
#: these were measured, d × d since the Schur form).
#: Measured on Algorithm 1's warm-started solves of (12), m = 100, one thread
#: (benchmarks/RESULTS.md, "Algorithm 1 on small problems"). Since the steps restart from the
#: previous solve's well-centred iterate (barrier.WARM_CENTRE_GAP) two correctors cut the
#: iterations to convergence 556 → 390 on servo (N = 502; 2.83 → 2.44 s) and 389 → 317 on
#: machine (N = 802; 4.0 → 3.8 s); wine (N = 1202) had them already. (With the earlier warm
#: start from the last iterate, none was 22% faster at N = 502, hence a bound of 1000 then.)
#: Below 400 they were not measured and stay off.
GONDZIO = 2
GONDZIO_MIN_N = 400


def _cholesky(K: Tensor) -> Optional[Tensor]:
    """Cholesky factor of ``K``, with a growing ridge (1e-14 … 1e-8 of its diagonal) if needed."""
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) == 0:
        return L
    scale = float(torch.diagonal(K).abs().max())
    eye = torch.eye(K.shape[0], dtype=K.dtype, device=K.device)
    ridge = 1e-14
    while ridge <= 1e-8:
        L, info = torch.linalg.cholesky_ex(K + ridge * scale * eye)
        if int(info) == 0:
            return L
        ridge *= 100
    return None


def solve(P, b: Optional[Tensor], x0: Tensor, parts: Sequence[Cone], *,
          free: Optional[Tensor] = None, const: float = 0.0, mu0: Optional[float] = None,
          tol: float = 1e-9, max_iter: int = 100, verbose: bool = False, label: str = "ipm",
          objective: Optional[Callable[[Tensor], float]] = None,
          gondzio: Optional[int] = None, centrality: float = 0.5, f_scale: float = 1.0,
          cg: Optional["CGOptions"] = None,
          certify: Optional[Callable[[Tensor, list], Optional[float]]] = None,
          duals: Optional[Sequence[Optional[Tensor]]] = None,
          snapshot: Optional["Snapshot"] = None,
          time_limit: Optional[float] = None,
          on_iteration: Optional[Callable[[int, float, float], None]] = None
          ) -> tuple[Tensor, IPMInfo]:
    """Minimise ``½ xᵀPx − bᵀx (+ const)`` over ``{x : part.slack(x) ∈ cone, every part}``.

    Args:
        P: ``(N, N)`` positive semidefinite; b: ``(N,)``. Or ``P`` a :class:`SmoothObjective`
            (any smooth convex objective; ``b`` and ``const`` are then ignored, pass ``None``).
        x0: ``(N,)`` strictly feasible start (every slack in the cone's interior).
        parts: the cone parts, any :class:`Cone` (here :class:`Rows`, :class:`SchurLMI`,
            :class:`GroupSOC`); the solver uses nothing but the :class:`Cone` methods.
        free: ``(N,)`` boolean, the coordinates that move (others stay at ``x0``); default all.
        mu0: the initial centring parameter (duals ``z = μ₀ s⁻¹``, capped on nearly active
            rows); default ``max(|f(x0)|, 1e-3‖∇f(x0)‖∞‖x0‖∞)``, in the objective's units.
        tol: stop when ``sᵀz ≤ tol·max(f_scale, |f|)`` and the dual residual
            ``‖Px − b − Σ Aᵀz‖∞`` is below ``tol^(2/3)·max(‖b‖∞, ‖Px − b‖∞)`` (all over the
            free coordinates).
        f_scale: the objective's natural size, in its units (> 0): below it the gap test is
            absolute (``tol·f_scale``), above it relative. The default 1 suits data of unit
            scale; a caller whose objective scales with its data passes that scale (the
            pattern programs pass the variance of y), so the accuracy does not depend on the
            units of the data.
        objective: optional exact evaluation of the objective for the log (default the quadratic).
        gondzio: centrality correctors per iteration (at most; each costs one more
            solve with the factor and the cones' step lengths). Default ``None``:
            :data:`GONDZIO` when the Newton system has at least :data:`GONDZIO_MIN_N`
            coordinates, where its factorisation dominates an iteration, else none.
        centrality: neighbourhood of the central path kept by the step length, for the LMI
            (``λ_min(S^½ Z S^½) ≥ centrality·μ``); 0 switches the neighbourhood off.
        cg: solve each Newton system matrix-free, by preconditioned conjugate gradients with
            these options (:class:`~.newton_cg.CGOptions`; the objective and every part must
            implement ``hessian_operator``/``hvp`` and ``precond``); default the dense Cholesky.
            ``info.inner_iterations`` counts the CG iterations.
        certify: ``(x, duals) -> a proven lower bound on the optimum (or None)``. With it, the
            solve also stops as ``"optimal"`` when the gap test holds and the *certified* gap
            ``f(x) − bound`` is below ``tol·max(f_scale, |f|)`` though the dual residual is not
            yet below its target (inexact Newton directions leave one); the last bound is
            returned in ``info.lower`` with ``info.certified = True``.
        duals: a warm start's duals, one per part (``None`` entries: ``μ₀ s⁻¹`` as usual),
            each strictly inside its cone, e.g. from the :class:`Snapshot` of a solve of a
            similar program. The iterates stay primal feasible whatever they are; they only
            change the path (and the iteration count) to the optimum.
        snapshot: a :class:`Snapshot` filled with the last iterate (``x``, the duals, μ) when
            the solve ends, for the ``duals`` of a later, similar program (and with its
            advanced centre when it asks for one, :class:`Snapshot`).
        time_limit: seconds (wall clock, this solve): once they have passed, the solve stops
            before its next step with status ``"time_limit"`` and returns its current iterate,
            strictly feasible like every iterate (for the affine parts; see :class:`SchurLMI`),
            with its gap (and, with ``certify``, a certified lower bound). ``None``: no limit.
        on_iteration: called once per iteration, before its stopping tests, with the iteration
            number (0 for the start), the relative gap ``sᵀz / max(f_scale, |f|)`` and the
            relative dual residual: what a progress bar shows during a long solve.

    Returns:
        ``(x, info)``: the last iterate, strictly feasible for the affine parts (slacks
        recomputed from x; a :class:`SchurLMI` within its tolerance); the
        stopping test, ``info.gap`` and ``info.dual_residual`` are those of this returned point
        (also after the last of ``max_iter`` steps).

    Raises:
        ValueError: ``x0`` is not strictly feasible, NaN/Inf in ``P``, ``b`` or ``x0``, ``tol``
            not a finite number > 0, ``mu0`` not a finite number > 0, ``max_iter`` or
            ``gondzio`` not an integer >= 0, ``centrality`` outside [0, 1), ``f_scale`` not a
            finite number > 0, ``time_limit`` not ``None`` or a finite number > 0.
    """
    if isinstance(P, SmoothObjective):
        fobj = P
        P = b = torch.zeros(1, dtype=x0.dtype, device=x0.device)
    else:
        fobj = Quadratic(P, b, const)
    if gondzio is None:
        gondzio = GONDZIO if x0.numel() >= GONDZIO_MIN_N else 0
    max_iter, gondzio, tol, mu0, f_scale = _check_options(
        P, b, x0, label=label, max_iter=max_iter, gondzio=gondzio, tol=tol, mu0=mu0,
        f_scale=f_scale, centrality=centrality)
    if time_limit is not None:
        time_limit = check_positive(time_limit, f"{label}: time_limit")
    start = time.perf_counter()
    # CG stops at the limit too, so that an iteration ends soon after it
    deadline = None if time_limit is None else start + time_limit
    dev = x0.device
    N = x0.numel()
    free = torch.ones(N, dtype=torch.bool, device=dev) if free is None else free
    fi = torch.nonzero(free)[:, 0]
    all_free = bool(free.all())
    fixed = None if all_free else torch.nonzero(~free)[:, 0]
    x = x0.clone()
    S = [pt.slack(x) for pt in parts]
    if not _interior(parts, S):
        raise ValueError(f"{label}: x0 must be strictly feasible (every slack in the interior of "
                         "its cone)")
    nu = sum(pt.nu for pt in parts)
    f0 = fobj.value(x)
    if mu0 is None:
        # z = μ s⁻¹ (centred). μ has the units of the objective; a generous start keeps the
        # barrier's curvature dominant while P is singular (n < m (d + 1)): too small a μ gives
        # huge, useless steps, too large costs only a few (affine) iterations.
        gx = fobj.gradient(x)[fi]
        mu0 = max(abs(f0), 1e-3 * float(gx.abs().max()) * float(x[fi].abs().max()), 1e-12)
    mu = mu0
    Z = [pt.init_dual(s, mu) if duals is None or duals[i] is None else duals[i].clone()
         for i, (pt, s) in enumerate(zip(parts, S))]
    status, k, gap, res = "max_iter", 0, math.inf, math.inf
    inner = 0
    lower: Optional[float] = None
    certified_stop, cert_res = False, math.inf
    best_res, best_at = math.inf, 0
    worst: Optional[list] = None     # the parts' Cone.worst at the current point, when known
    # one pass more than max_iter steps: the last pass only tests the point the last step made
    for k in range(1, max_iter + 2):
        for pt, s_ in zip(parts, S):
            pt.linearise(x, s_)
        rd, res, gap, pair = _residuals(fobj, x, parts, S, Z, fi)
        f_now = fobj.value(x)
        if verbose:
            print(f"[torch_lipcvx] {label} {k - 1:3d}  f={f_now:.12g}  gap={gap:.2e}  "
                  f"dres={res:.1e}  {time.perf_counter() - start:.1f}s", flush=True)
        tol_f = tol * max(f_scale, abs(f_now))
        if on_iteration is not None:
            on_iteration(k - 1, gap / max(f_scale, abs(f_now)), res)
        if (snapshot is not None and snapshot.centre_gap is not None and snapshot.centre is None
                and k > 1 and gap <= snapshot.centre_gap * max(f_scale, abs(f_now))):
            snapshot.centre = (x.clone(), [s_.clone() for s_ in S], [z_.clone() for z_ in Z])
        if gap <= tol_f and res <= tol ** (2 / 3):
            status = "optimal"
            break
        # (the bound costs a few data passes: tried again only once the residual fell 10×)
        if certify is not None and gap <= tol_f and res <= min(1e-2, 0.1 * cert_res):
            cert_res = res
            bound = certify(x, Z)             # any dual point's bound is valid: keep the best
            if bound is not None:
                lower = bound if lower is None else max(lower, bound)
                # (gap − pair: what restoring a non-affine part's constraint would add to f)
                if f_now + (gap - pair) - lower <= tol_f:
                    status, certified_stop = "optimal", True
                    break
        if cg is not None and gap <= tol_f and res <= cg.res_tol:
            # CG's floor: the gap is closed, the dual residual as small as inexact directions
            # make it, and no certified bound closes the gap: feasible, accurate, not proven
            # (tested before the stall rule: a point that meets this is not "stalled", which
            # "auto" would redo by cvxpy; measured on wine, m = 100, β = 0)
            status = "inexact"
            break
        if cg is not None:
            # inexact directions that stop reducing the dual residual (10% in 15 iterations
            # once the gap is closed), or let it grow a thousandfold (measured: a doubled
            # pattern set, n = 2000, diverged to f = 9e6): stop rather than spin to max_iter
            if res < 0.9 * best_res:
                best_res, best_at = res, k
            elif (gap <= tol_f and k - best_at >= 15) or res > max(1e3 * best_res, 1.0):
                status = "stalled"
                break
        if k > max_iter:
            break
        if time_limit is not None and time.perf_counter() - start >= time_limit:
            status = "time_limit"
            break
        mu = pair / nu
        try:
            sc = [pt.scaling(s, z) for pt, s, z in zip(parts, S, Z)]
        except RuntimeError:       # torch.linalg.LinAlgError: an SVD/Cholesky at the very end
            status = "stalled"     # keep the current (feasible) point; "auto" redoes it by cvxpy
            break
        lam = [pt.lam(c) for pt, c in zip(parts, sc)]
        if cg is None:
            newton = _NewtonSystem(fobj, x, rd, parts, sc, lam, fixed)
        else:
            newton = CGNewtonSystem(cg, fobj, x, rd, parts, sc, lam, fi, all_free, res,
                                    tol ** (2 / 3), deadline=deadline)
        if cg is not None and gap <= tol_f:
            # the gap is closed but inexact directions left a dual residual: centre at the
            # current μ (σ = 1) so the step removes the residual without driving the pairs
            # to the boundary (where the scaling degenerates)
            step = _centring(newton, mu)
        else:
            step = _predictor_corrector(newton, gap, mu, gondzio)
        inner += getattr(newton, "cg_iterations", 0)
        if step is None:
            status = "stalled"
            break
        a, x_new, S_new = _boundary_step(x, step.dx, parts, step.a_max, S)
        if a <= 1e-12:
            status = "stalled"
            break
        dz = [pt.unscale_dz(c, d) for pt, c, d in zip(parts, sc, step.dzh)]
        bad = [type(pt).__name__ for pt, d in zip(parts, dz) if not bool(torch.isfinite(d).all())]
        if bad:
            if verbose:
                print(f"[torch_lipcvx] {label} non-finite dual direction in {bad} (scaled "
                      f"{[float(d.abs().max()) for d in step.dzh]}); stopping", flush=True)
            status = "stalled"
            break
        a_full = a
        a, cuts, x, S, Z, worst = _centred_step(x, step.dx, x_new, S_new, Z, dz, a, parts, S,
                                                mu, nu, centrality, worst)
        if verbose:
            print(f"[torch_lipcvx] {label}      step={a:.3f} (boundary {a_full:.3f}, "
                  f"{cuts} centrality cuts)  affine={step.a_aff:.3f}  sigma={step.sigma:.1e}",
                  flush=True)
    if snapshot is not None:
        snapshot.x, snapshot.duals, snapshot.mu = x, Z, pair / nu
    k = min(k, max_iter)
    value = objective(x) if objective is not None else fobj.value(x)
    if certify is not None and not certified_stop:
        bound = certify(x, Z)
        if bound is not None:
            lower = bound if lower is None else max(lower, bound)
    info = SolveRecord(status=status, iterations=k, solve_time=time.perf_counter() - start,
                       value=value, gap=gap, dual_residual=res, device=str(dev),
                       inner_iterations=inner if cg is not None else None)
    if lower is not None:
        info.lower, info.certified = lower, True
    return x, info


class Snapshot:
    """The last iterate of a :func:`solve` (its ``x``, the duals of its parts and μ), kept to
    warm-start a later solve of a similar program (``solve(..., duals=...)``): Algorithm 1
    solves the restriction (12) once per step with a slightly different ``T``
    (:meth:`~torch_lipcvx._engine.barrier.PatternBarrier.solve_restriction`). ``x`` is
    ``None`` until a solve has filled it; ``context`` is the caller's note of the program.

    With ``centre_gap`` it also keeps a **well-centred iterate** (the warm-start point of
    Gondzio 1998 and Gondzio & Grothey 2002, who restart from an iterate of the previous solve
    taken at a loose gap rather than from its last one): ``centre = (x, slacks, duals)`` of the
    first iterate after the start whose relative gap ``Σ⟨s, z⟩ / max(f_scale, |f|)`` is at most
    ``centre_gap``. It is still well inside the cones, where the last iterate has its active
    rows at ~1e-12 (docs/algorithm1.md §2)."""

    def __init__(self, centre_gap: Optional[float] = None) -> None:
        self.x: Optional[Tensor] = None
        self.duals: Optional[list] = None
        self.mu = math.nan
        self.context = None
        self.centre_gap = centre_gap
        self.centre: Optional[tuple[Tensor, list, list]] = None


# ------------------------------------------------------------------------- the solver's steps
def _check_options(P: Tensor, b: Tensor, x0: Tensor, *, label: str, max_iter: int,
                   gondzio: int, tol: float, mu0: Optional[float], f_scale: float,
                   centrality: float) -> tuple[int, int, float, Optional[float], float]:
    """:func:`solve`'s argument checks (its Raises); the checked ``(max_iter, gondzio, tol, mu0,
    f_scale)``."""
    for name, v in (("P", P), ("b", b)):
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{label}: {name} contains NaN/Inf")
    if not bool(torch.isfinite(x0).all()):      # also where no cone reads it (e.g. the bias c)
        raise ValueError(f"{label}: x0 contains NaN/Inf; it must be finite and strictly "
                         "feasible")
    # the library's checks: TypeError for a wrong type, ValueError for a wrong value
    max_iter = check_positive_int(max_iter, f"{label}: max_iter", minimum=0)
    gondzio = check_positive_int(gondzio, f"{label}: gondzio", minimum=0)
    tol = check_positive(tol, f"{label}: tol")
    mu0 = None if mu0 is None else check_positive(mu0, f"{label}: mu0")
    f_scale = check_positive(f_scale, f"{label}: f_scale")
    if check_nonneg(centrality, f"{label}: centrality") >= 1:
        raise ValueError(f"{label}: centrality must be a number in [0, 1), got {centrality!r}")
    return max_iter, gondzio, tol, mu0, f_scale


def _quadratic(P: Tensor, b: Tensor, const: float, v: Tensor) -> float:
    """``½ vᵀPv − bᵀv + const``."""
    return float(0.5 * v @ (P @ v) - b @ v) + const


def _residuals(fobj: SmoothObjective, x: Tensor, parts: Sequence[Cone], S: Sequence[Tensor],
               Z: Sequence[Tensor], fi: Tensor) -> tuple[Tensor, float, float]:
    """The dual residual ``rd = ∇f(x) − Σ L_kᵀ z_k`` (``(N,)``; ``Px − b − …`` for a quadratic),
    its size relative to ``max(‖b‖∞, ‖∇f(x)‖∞)`` over the free coordinates ``fi``, the gap
    (the pairs' ``Σ ⟨s_k, z_k⟩`` plus :meth:`Cone.restore_cost`) and the pairs' sum (μ's)."""
    gx = fobj.gradient(x)
    rd = gx - sum(pt.adjoint(z) for pt, z in zip(parts, Z))
    b = fobj.scale()
    scale = max(float(b[fi].abs().max()) if b is not None else 0.0,
                float(gx[fi].abs().max()), 1e-12)
    res = float(rd[fi].abs().max()) / scale
    dots = [pt.dot(s, z) for pt, s, z in zip(parts, S, Z)]
    gap = sum(dt + pt.restore_cost(z) for dt, pt, z in zip(dots, parts, Z))
    return rd, res, gap, sum(dots)


class _NewtonSystem:
    """One iteration's reduced Newton system ``(P + Σ L_kᵀ W_k⁻² L_k) dx = rhs`` on the free
    coordinates (``fixed``: the indices held at their value, or ``None``): factorised by
    :meth:`factor`, solved for each complementarity right-hand side by :meth:`direction`."""

    def __init__(self, fobj: SmoothObjective, x: Tensor, rd: Tensor, parts: Sequence[Cone],
                 sc: list, lam: list, fixed: Optional[Tensor]) -> None:
        self.fobj, self.x, self.rd, self.parts = fobj, x, rd, parts
        self.sc, self.lam, self.fixed = sc, lam, fixed
        self.L: Optional[Tensor] = None

    def expect(self, ratio: float) -> None:
        """The step about to be taken shrinks the gap about ``ratio``-fold; exact directions
        need nothing from it (the matrix-free system tightens CG,
        :meth:`~.newton_cg.CGNewtonSystem.expect`)."""

    def factor(self, ridge: float) -> bool:
        """Cholesky of the Newton matrix, its diagonal raised by ``ridge`` times its largest
        entry; False (and no factor) if it is not positive definite."""
        # newton_matrix() is P's copy to add to in place (one copy of P per iteration), a
        # retry with a ridge (rare) asks for it again
        K = self.fobj.newton_matrix(self.x)
        for pt, c in zip(self.parts, self.sc):
            pt.newton(K, c)
        if ridge > 0:
            K.diagonal().add_(ridge * float(K.diagonal().abs().max()))
        if self.fixed is not None:
            # the fixed coordinates' rows and columns become the identity's, in place (their
            # right-hand side is zeroed, so their dx is 0): no copy of the free submatrix
            # (two index_selects cost more than the Cholesky at N = 500)
            fixed = self.fixed
            K.index_fill_(0, fixed, 0.0).index_fill_(1, fixed, 0.0)
            K[fixed, fixed] = 1.0
        self.L = _cholesky(K)
        return self.L is not None

    def direction(self, rc: list) -> tuple[Tensor, list, list, float]:
        """The direction for the right-hand sides ``rc`` of ``λ ∘ (d̂s + d̂z) = rc``: ``(dx,
        d̂s, d̂z, the largest step keeping λ + a d̂s and λ + a d̂z in the cones)``."""
        parts, lam, sc = self.parts, self.lam, self.sc
        u = [pt.inv_circ(l, r) for pt, l, r in zip(parts, lam, rc)]
        rhs = -self.rd + sum(pt.rhs(c, uu) for pt, c, uu in zip(parts, sc, u))
        # two triangular solves: torch.cholesky_solve is 3-7x slower for one right-hand side
        # (N = 500…1200, one thread)
        r = (rhs if self.fixed is None else rhs.index_fill(0, self.fixed, 0.0))[:, None]
        dx = torch.linalg.solve_triangular(
            self.L.mT, torch.linalg.solve_triangular(self.L, r, upper=False), upper=True)[:, 0]
        dsh = [pt.scale_ds(c, dx) for pt, c in zip(parts, sc)]
        dzh = [uu - ds for uu, ds in zip(u, dsh)]
        a = min(min(pt.max_step(l, ds), pt.max_step(l, dz))
                for pt, l, ds, dz in zip(parts, lam, dsh, dzh))
        return dx, dsh, dzh, a


class _Step(NamedTuple):
    """The search direction of one iteration and what it was made from."""

    dx: Tensor
    dsh: list
    dzh: list
    a_max: float      # the largest step to the boundary along it
    a_aff: float      # the affine (predictor) step
    sigma: float      # the centring weight


def _predictor_corrector(newton: _NewtonSystem, gap: float, mu: float,
                         gondzio: int) -> Optional[_Step]:
    """Mehrotra's predictor–corrector direction with up to ``gondzio`` centrality correctors,
    all from one factor of the Newton matrix; None if it cannot be factorised (even with a
    ridge) or gives a non-finite direction."""
    parts, lam = newton.parts, newton.lam
    if not newton.factor(0.0):
        return None
    rc = [-pt.circ(l, l) for pt, l in zip(parts, lam)]
    dx, dsh, dzh, a_aff = newton.direction(rc)                # affine (predictor)
    for ridge in (1e-12, 1e-10, 1e-8):
        # a factor that "succeeded" on a numerically singular matrix can give inf/NaN
        # directions (n = 9·10⁴, m = 1000): regularise the Newton matrix and redo
        if bool(torch.isfinite(dx).all()) and math.isfinite(a_aff):
            break
        if not newton.factor(ridge):
            break
        dx, dsh, dzh, a_aff = newton.direction(rc)
    if newton.L is None or not (bool(torch.isfinite(dx).all()) and math.isfinite(a_aff)):
        return None
    a_aff = min(1.0, a_aff)
    gap_aff = sum(pt.dot(l + a_aff * ds, l + a_aff * dz)
                  for pt, l, ds, dz in zip(parts, lam, dsh, dzh))
    sigma = min(1.0, max(0.0, gap_aff / gap)) ** 3
    newton.expect(max(sigma, 1.0 - a_aff))    # inexact directions: as accurate as that
    rc = [-pt.circ(l, l) + sigma * mu * pt.identity(l) - pt.circ(ds, dz)
          for pt, l, ds, dz in zip(parts, lam, dsh, dzh)]
    dx, dsh, dzh, a_max = newton.direction(rc)                # combined (corrector)
    for _ in range(gondzio):                                  # centrality correctors
        if a_max >= 1.0:
            break
        trial = min(1.0, 1.5 * a_max + 0.1)
        rc2 = [pt.centrality_correction(r, l, ds, dz, trial, sigma, mu)
               for pt, l, ds, dz, r in zip(parts, lam, dsh, dzh, rc)]
        cand = newton.direction(rc2)
        if cand[3] < 1.01 * a_max:
            break
        dx, dsh, dzh, a_max = cand
        rc = rc2
    return _Step(dx=dx, dsh=dsh, dzh=dzh, a_max=a_max, a_aff=a_aff, sigma=sigma)


def _centring(newton, mu: float) -> Optional[_Step]:
    """The pure centring direction (``σ = 1``: complementarity pulled to ``μ e``, the dual
    residual removed), from one factor; None if it cannot be formed."""
    parts, lam = newton.parts, newton.lam
    if not newton.factor(0.0):
        return None
    rc = [-pt.circ(l, l) + mu * pt.identity(l) for pt, l in zip(parts, lam)]
    dx, dsh, dzh, a_max = newton.direction(rc)
    if not (bool(torch.isfinite(dx).all()) and math.isfinite(a_max)):
        return None
    return _Step(dx=dx, dsh=dsh, dzh=dzh, a_max=a_max, a_aff=a_max, sigma=1.0)


def _boundary_step(x: Tensor, dx: Tensor, parts: Sequence[Cone],
                   a_max: float, S: Sequence[Tensor]) -> tuple[float, Tensor, list]:
    """``0.99`` of the step to the boundary (at most 1), halved while the slacks after it
    (:meth:`Cone.moved` from the current slacks ``S``: recomputed from ``x + a dx`` for the
    affine parts) are not interior (round-off at the boundary): ``(a, x + a dx, slacks)``."""
    a = min(1.0, 0.99 * a_max)
    x_new = x + a * dx
    S_new = [pt.moved(s, x_new, dx, a) for pt, s in zip(parts, S)]
    # primal slacks are recomputed from x: guard against round-off at the boundary
    while a > 1e-12 and not _interior(parts, S_new):
        a *= 0.5
        x_new = x + a * dx
        S_new = [pt.moved(s, x_new, dx, a) for pt, s in zip(parts, S)]
    return a, x_new, S_new


def _centred_step(x: Tensor, dx: Tensor, x_new: Tensor, S_new: list, Z: list, dz: list,
                  a: float, parts: Sequence[Cone], S: list, mu: float, nu: float,
                  centrality: float, worst: Optional[list] = None
                  ) -> tuple[float, int, Tensor, list, list, Optional[list]]:
    """Shorten the step ``a`` (by 0.8, at most 30 times) until the new point lies in the
    neighbourhood of the central path: ``(a, cuts, x, slacks, duals, worst)`` after the step,
    ``worst`` the parts' :meth:`Cone.worst` at the new point (``None`` when not computed);
    ``worst`` given: the same at the current point (the previous step's, not recomputed).

    Each part's :meth:`Cone.worst` product must stay at least :meth:`Cone.neighbourhood` times
    the new μ (the LMI: its smallest eigenvalue of ``S^½ Z S^½`` at least ``centrality``·μ; a
    pattern row: ``s·z`` at least 1e-2 μ), each bound relaxed to half of where the iterate
    already is (a start with nearly active rows is let be). Without it the first, nearly full
    affine steps leave the LMI badly centred and the next 20–40 steps tiny (wine, (12):
    87 → 54 iterations). ``centrality = 0`` switches it off.
    """
    Z_new = [pt.update_dual(z, d, a) for pt, z, d in zip(parts, Z, dz)]
    if centrality <= 0:
        return a, 0, x_new, S_new, Z_new, None
    bound = [min(pt.neighbourhood(centrality), 0.5 * w / mu)
             for pt, w in zip(parts, worst if worst is not None else _worst(parts, S, Z))]
    cuts = 0
    for cuts in range(30):
        mu_new = sum(pt.dot(s_, z_) for pt, s_, z_ in zip(parts, S_new, Z_new)) / nu
        w_new = _worst(parts, S_new, Z_new)
        if all(w >= b_ * mu_new for w, b_ in zip(w_new, bound)):
            return a, cuts, x_new, S_new, Z_new, w_new
        a *= 0.8
        x_new = x + a * dx
        S_new = [pt.moved(s, x_new, dx, a) for pt, s in zip(parts, S)]
        Z_new = [pt.update_dual(z, d, a) for pt, z, d in zip(parts, Z, dz)]
    return a, cuts, x_new, S_new, Z_new, None


def _worst(parts: Sequence[Cone], S: Sequence[Tensor], Z: Sequence[Tensor]) -> list[float]:
    """Per part, its smallest complementarity product (:meth:`Cone.worst`)."""
    return [pt.worst(s, z) for pt, s, z in zip(parts, S, Z)]


def _interior(parts: Sequence[Cone], S: Sequence[Tensor]) -> bool:
    """Whether every slack is strictly inside its cone."""
    return all(pt.interior(s) for pt, s in zip(parts, S))
