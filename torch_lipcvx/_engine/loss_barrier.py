"""The restriction (12) for any convex loss and ``k ≥ 1`` outputs (docs/programs.md §6).

With the patterns ``D_j`` and the outer weights ``a_j ∈ R^k`` fixed, the outputs are linear in the
hidden weights,

    F_i = Σ_j D_ij (x̃_iᵀ w̃_j) a_j + c         (F = (D ∘ X̃W̃ᵀ) A + 1cᵀ, shape (n, k)),

so for a convex loss ℓ (:mod:`torch_lipcvx.losses`)

    min  (1/n) Σ_i ℓ(F_i, y_i) + λ ρ + (β/2) ‖W̃‖²
    s.t. (2 D_j − I) X̃ w̃_j ≥ 0,   [[ρ I_d, −W̄ᵀT], [−TW̄, 2T − AAᵀ]] ⪰ 0

is convex, and the current network (with its own ``ρ`` for ``T``) is feasible. Two solvers:

* :class:`LossBarrier` — the torch interior point of :mod:`.ipm` with the loss as a
  :class:`~.ipm.SmoothObjective` (its gradient and Hessian from the loss's protocol), the LMI as
  ``ρ I − W̄ᵀ M W̄ ⪰ 0`` with ``M = T(2T − AAᵀ)⁻¹T`` (:func:`~.lipsdp_vector.metric_matrix`;
  :class:`~.ipm.SchurLMI`, docs/solvers.md §3.1) on dense and matrix-free Newton systems;
* :class:`CvxpyLossRestriction` — the plain cvxpy formulation (exponential cones for the
  logistic losses), the cross-check and the fallback.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from . import ipm
from .barrier import PatternBarrier, _fast_info, check_newton
from .distributed import LOCAL
from .lipsdp_vector import metric_matrix
from .._checks import check_nonneg, check_patterns
from ..losses import Loss, SoftmaxCrossEntropy
from ..solvers import SolveRecord, SolverError, SolverLike

__all__ = ["LossBarrier", "CvxpyLossRestriction", "CvxpyLossProgram6", "restriction_metric",
           "directions", "directions_to_weights"]


def restriction_metric(A: Tensor, t: Tensor) -> Tensor:
    """``M = T(2T − AAᵀ)⁻¹T`` for outer weights ``A (m, k)`` (``(m,)`` for one output): the
    LMI of (12) reads ``ρ I ⪰ W̄ᵀ M W̄``. ``ValueError`` if ``t`` does not certify ``A``."""
    A = A[:, None] if A.dim() == 1 else A
    if bool((t <= 0).any()):
        raise ValueError("t must be positive on every unit of the restriction")
    return metric_matrix(A, t)


class _LossObjective(ipm.SmoothObjective):
    """``(1/n) Σ ℓ(F_i, y_i) + (β/2)‖W̃‖² + lᵀe`` in ``x = (vec W̃, c, e)``: for (12) the extra
    block ``e`` is ρ with ``l = λ``; for (6) it is τ (the group norms' bounds) with ``l = β·1``
    and no ridge."""

    def __init__(self, bar: "LossBarrier", A: Tensor, lin: Tensor, beta: float) -> None:
        self.bar, self.A, self.lin, self.beta = bar, A, lin, beta
        self.mp = bar.m * bar.p
        self.ne = lin.numel()
        self._hess: Optional[Tensor] = None

    def outputs(self, x: Tensor) -> Tensor:
        b = self.bar
        W = x[: self.mp].reshape(b.m, b.p)
        Z = torch.where(b.D, b.Xt @ W.T, torch.zeros((), dtype=x.dtype, device=x.device))
        return Z @ self.A + x[self.mp: self.mp + b.k]

    def value(self, x: Tensor) -> float:
        W = x[: self.mp]
        data = float(self.bar.loss.value(self.outputs(x), self.bar.y).mean())
        return data + 0.5 * self.beta * float(W @ W) + float(self.lin @ x[-self.ne:])

    def gradient(self, x: Tensor) -> Tensor:
        b = self.bar
        G = b.loss.gradient(self.outputs(x), b.y) / b.n                 # (n, k)
        gW = (torch.where(b.D, G @ self.A.T, torch.zeros((), dtype=x.dtype, device=x.device))
              .T @ b.Xt)                                                 # (m, p)
        g = torch.zeros_like(x)
        g[: self.mp] = gW.reshape(-1) + self.beta * x[: self.mp]
        g[self.mp: self.mp + b.k] = G.sum(0)
        g[-self.ne:] = self.lin
        return g

    def _weights(self, x: Tensor) -> Tensor:
        """The loss's ``k × k`` Hessians at the current outputs, divided by n: ``(n, k, k)``."""
        b = self.bar
        return b.loss.hessian(self.outputs(x), b.y) / b.n

    def hessian_operator(self, x: Tensor):
        """``v ↦ ∇²f(x) v`` as two passes over the rows: ``Φᵀ (H_i (Φ v)_i)`` plus the ridge."""
        b = self.bar
        Hs = self._weights(x)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)

        def hvp(v: Tensor) -> Tensor:
            F = self.outputs(v)                                       # (n, k), Φ v
            G = torch.einsum("irs,is->ir", Hs, F)
            out = torch.zeros_like(v)
            gW = torch.where(b.D, G @ self.A.T, zero).T @ b.Xt
            out[: self.mp] = gW.reshape(-1) + self.beta * v[: self.mp]
            out[self.mp: self.mp + b.k] = G.sum(0)
            return out
        return hvp

    def precond(self, x: Tensor, pc) -> None:
        """Unit j's block ``X̃ᵀ diag(D_ij a_jᵀ H_i a_j / n) X̃``, β on the weights and the
        output bias's diagonal ``Σ_i diag(H_i)/n``."""
        b = self.bar
        Hs = self._weights(x)
        w = torch.einsum("jr,irs,js->ij", self.A, Hs, self.A) * b.D.to(x.dtype)
        pc.rows(w)
        if self.beta > 0:
            pc.unit_ridge(self.beta)
        pc.diag(torch.arange(self.mp, self.mp + b.k, device=x.device),
                torch.diagonal(Hs, dim1=1, dim2=2).sum(0))

    def hessian(self, x: Tensor) -> Tensor:
        """``(1/n) Σ_i Φ_iᵀ H_i Φ_i`` (plus the ridge), with ``H_i`` the loss's ``k × k``
        Hessian at ``F_i``. The ``W̃``–``W̃`` block is ``Σ_i (D_i D_iᵀ ∘ A H_i Aᵀ) ⊗ x̃_i x̃_iᵀ``,
        assembled as one product ``(x̃ ⊗ x̃)ᵀ C`` over the rows (``C_i = D_i D_iᵀ ∘ A H_i Aᵀ``,
        ``m × m`` per row): ``O(n m² (d + 1)²)`` flops whatever ``k``."""
        b = self.bar
        if b.loss.quadratic and self._hess is not None:
            return self._hess.clone()
        N, mp, k, m, p = x.numel(), self.mp, b.k, b.m, b.p
        F = self.outputs(x)
        Hs = b.loss.hessian(F, b.y) / b.n                                # (n, k, k)
        H = torch.zeros(N, N, dtype=x.dtype, device=x.device)
        Df = b.D.to(x.dtype)
        for lo in range(0, b.n, b.chunk):
            sl = slice(lo, lo + b.chunk)
            Hc, Dc, Xc = Hs[sl], Df[sl], b.Xt[sl]
            AH = torch.einsum("jr,irs->ijs", self.A, Hc)                 # (c, m, k): a_jᵀ H_i
            C = torch.einsum("ijs,ls->ijl", AH, self.A) * Dc[:, :, None] * Dc[:, None, :]
            WW = b.outer[sl].T @ C.reshape(len(Hc), m * m)                # (p², m²)
            H[:mp, :mp] += WW.reshape(p, p, m, m).permute(2, 0, 3, 1).reshape(mp, mp)
            Wc = torch.einsum("ij,ip,ijs->jps", Dc, Xc, AH).reshape(mp, k)
            H[:mp, mp:mp + k] += Wc
            H[mp:mp + k, :mp] += Wc.T
            H[mp:mp + k, mp:mp + k] += Hc.sum(0)
        i = torch.arange(mp, device=x.device)
        H[i, i] += self.beta
        if b.loss.quadratic:
            self._hess = H.clone()
        return H


class LossBarrier(PatternBarrier):
    """The restriction (12) for a convex loss and ``k`` outputs by the torch interior point.

    Args:
        X: ``(n, d)`` inputs; y: targets as ``loss.targets`` returns them; D: ``(n, m)`` boolean
            patterns; A: ``(m, k)`` fixed outer weights (``(m,)`` for one output).
        loss: a :class:`~torch_lipcvx.losses.Loss`.
        output_bias: whether the output bias ``c (k,)`` is a free variable.
    """

    def __init__(self, X: Tensor, y: Tensor, D: Tensor, A: Tensor, loss: Loss, *,
                 output_bias: bool, chunk: int = 2048, newton: str = "dense",
                 precond: str = "auto") -> None:
        dt, dev = torch.float64, X.device
        A = A[:, None] if A.dim() == 1 else A
        if X.dim() != 2 or D.dim() != 2 or D.shape[0] != X.shape[0] or A.shape[0] != D.shape[1]:
            raise ValueError(f"LossBarrier needs X (n, d), D (n, m) and A (m, k), got shapes "
                             f"{tuple(X.shape)}, {tuple(D.shape)} and {tuple(A.shape)}")
        self.device = dev
        self.n, self.d = X.shape
        self.m = D.shape[1]
        self.p = self.d + 1
        self.k = A.shape[1]
        self.chunk = chunk
        self.Xt = torch.cat([X.to(dt), torch.ones(self.n, 1, dtype=dt, device=dev)], 1)
        self.y = y.to(dev) if not y.is_floating_point() else y.to(dev, dt)
        self.D = check_patterns(D, "D")
        self.A = A.to(dev, dt)
        self.coef = self.A
        self.loss = loss
        self.output_bias = bool(output_bias)
        self.nw = self.m * self.p + self.k
        self.newton, self.precond = check_newton(newton, precond)
        self._gram, self._outer = None, None          # the dense path's, built on first use
        self.comm = LOCAL

    def model_loss(self, W: Tensor, c: Optional[Tensor]) -> float:
        """The data term ``(1/n) Σ ℓ(F_i, y_i)`` of the weights ``W̃`` and ``c``."""
        Z = torch.where(self.D, self.Xt @ W.T, torch.zeros((), dtype=W.dtype, device=W.device))
        F = Z @ self.A + (c if c is not None else 0.0)
        return float(self.loss.value(F, self.y).mean())

    def _flat(self) -> tuple[Tensor, Tensor]:
        """Units whose bias is a flat direction when β = 0: ``off`` (fire nowhere) always,
        ``on`` (fire everywhere) when the output bias can absorb ``b_j a_j``."""
        on = self.D.all(0) if self.output_bias else torch.zeros(self.m, dtype=torch.bool,
                                                                   device=self.device)
        return on, ~self.D.any(0)

    def _bias_start(self, c0: Optional[Tensor], N: int) -> tuple[Optional[Tensor], Tensor, Tensor]:
        """The start's output bias (``None`` without one), its block of ``x`` (zeros when it
        is frozen) and the ``free`` mask of the ``N`` coordinates with that block set: frozen
        without an output bias; for softmax cross-entropy its last entry frozen (the loss is
        invariant to a common shift of the logits)."""
        m, p, k, dev = self.m, self.p, self.k, self.device
        c_start = (c0.to(dev, torch.float64).reshape(k).clone()
                   if (c0 is not None and self.output_bias) else None)
        free = torch.ones(N, dtype=torch.bool, device=dev)
        free[m * p: m * p + k] = self.output_bias
        if self.output_bias and isinstance(self.loss, SoftmaxCrossEntropy):
            free[m * p + k - 1] = False
        c_vec = c_start if c_start is not None else torch.zeros(k, dtype=torch.float64,
                                                                device=dev)
        return c_start, c_vec, free

    def solve_restriction(self, t: Tensor, lam: float, beta: float, W0: Tensor,
                          c0: Optional[Tensor] = None, *, tol: float = 1e-9,
                          max_iter: int = 200, verbose: bool = False,
                          time_limit: Optional[float] = None,
                          on_iteration: Optional[Callable[[int, float, float], None]] = None
                          ) -> tuple[Tensor, Optional[Tensor], float, SolveRecord]:
        """Solve (12) for ``T = diag(t)`` (the outer weights are this barrier's ``A``) from the
        current network ``(W0, c0)``.

        Returns ``(W̃ (m, p), c (k,) or None, ρ, info)`` as
        :meth:`PatternBarrier.solve_restriction` does: every pattern row strictly positive; with
        status ``"optimal"`` never worse than the start. With ``λ = 0`` the LMI and ρ are left
        out (ρ does not enter the objective). ``time_limit`` and ``on_iteration`` as there.
        """
        dt, dev = torch.float64, self.device
        m, p, d, k = self.m, self.p, self.d, self.k
        lam, beta = check_nonneg(lam, "lam"), check_nonneg(beta, "beta")
        self._check_start(W0, "W0")
        t = t.to(dev, dt)
        M = restriction_metric(self.A, t)
        N = m * p + k + 1
        W0 = self.interior_start(W0.to(dev, dt))
        c_start, c_vec, free = self._bias_start(c0, N)
        start = (W0.clone(), c_start)
        on, off = self._flat() if beta == 0 else (torch.zeros(m, dtype=torch.bool,
                                                              device=dev),) * 2
        keep = ~(on | off)
        free[torch.nonzero(~keep)[:, 0] * p + d] = False
        Wb0 = W0[:, :d]
        rho0 = float(torch.linalg.eigvalsh(Wb0.T @ M @ Wb0)[-1])
        rho0 = rho0 * (1 + 1e-1) + 1e-9 * max(rho0, 1.0)
        parts = [ipm.Rows(self.Xt, self.D, keep, self._dense_outer(), N)]
        if lam > 0:
            parts.append(ipm.restriction_lmi(M, m, p, d, N))
        else:
            free[N - 1] = False
        x0 = torch.cat([W0.reshape(-1), c_vec, W0.new_tensor([rho0])])
        fobj = _LossObjective(self, self.A, W0.new_tensor([float(lam)]), beta)
        f_scale = max(self.model_loss(W0, c_start), 1e-6)
        x, info = ipm.solve(fobj, None, x0, parts, free=free, f_scale=f_scale, tol=tol,
                            max_iter=max_iter, verbose=verbose, label="(12) loss",
                            time_limit=time_limit, on_iteration=on_iteration,
                            **self._cg_kw())
        W = x[: m * p].reshape(m, p)
        c = x[m * p: m * p + k] if self.output_bias else None
        if not bool(keep.all()):
            W, c = self._restore(W, c, W0, on, off)

        def objective(W: Tensor, c: Optional[Tensor]) -> tuple[float, float]:
            Wb = W[:, :d]
            rho = float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1])
            return (self.model_loss(W, c) + 0.5 * beta * float((W * W).sum())
                    + lam * rho, rho)

        value, rho = objective(W, c)
        info = _fast_info(info, value)
        if info.status in ("optimal", "inexact"):
            value_s, rho_s = objective(*start)
            if value_s < value:
                (W, c), rho, info.value = start, rho_s, value_s
        return W, c, rho, info

    def solve_program6(self, beta: float, V0: Tensor, c0: Optional[Tensor] = None, *,
                       tol: float = 1e-9, max_iter: int = 200, verbose: bool = False,
                       time_limit: Optional[float] = None,
                       on_iteration: Optional[Callable[[int, float, float], None]] = None
                       ) -> tuple[Tensor, Optional[Tensor], SolveRecord]:
        """Program (6) with the patterns ``D`` and the outer *directions* ``u_j`` (this
        barrier's ``A``, rows of unit norm; ``±1`` for one output) fixed (docs/programs.md §6):

            min (1/n) Σ_i ℓ(Σ_j D_ij (x̃_iᵀ v_j) u_j + c, y_i) + β Σ_j ‖v_j‖₂   s.t. the patterns.

        Needs ``β > 0``. Returns ``(V (m, p), c, info)``; every pattern row strictly positive,
        never worse than the start ``V0`` (``v_j = ‖a_j‖ w̃_j``) when optimal. ``time_limit``
        and ``on_iteration`` as in :meth:`solve_restriction`.
        """
        dt, dev = torch.float64, self.device
        m, p, k = self.m, self.p, self.k
        if not beta > 0:
            raise ValueError("the torch solver of program (6) needs beta > 0")
        self._check_start(V0, "V0")
        V0 = self.interior_start(V0.to(dev, dt))
        N = m * p + k + m
        c_start, c_vec, free = self._bias_start(c0, N)
        start = (V0.clone(), c_start)
        tau0 = torch.linalg.vector_norm(V0, dim=1) * (1 + 1e-1) \
            + 1e-9 * max(float(V0.abs().max()), 1.0)
        x0 = torch.cat([V0.reshape(-1), c_vec, tau0])
        parts = [ipm.Rows(self.Xt, self.D, torch.ones(m, dtype=torch.bool, device=dev),
                          self._dense_outer(), N), ipm.GroupSOC(m, p, m * p + k, N, dt, dev)]
        fobj = _LossObjective(self, self.A, torch.full((m,), float(beta), dtype=dt, device=dev),
                              0.0)
        f_scale = max(self.model_loss(V0, c_start), 1e-6)
        x, info = ipm.solve(fobj, None, x0, parts, free=free, f_scale=f_scale, tol=tol,
                            max_iter=max_iter, verbose=verbose, label="(6) loss",
                            time_limit=time_limit, on_iteration=on_iteration,
                            **self._cg_kw(m * p + k + torch.arange(m, device=dev)))
        V = x[: m * p].reshape(m, p)
        c = x[m * p: m * p + k] if self.output_bias else None

        def objective(V: Tensor, c: Optional[Tensor]) -> float:
            return self.model_loss(V, c) + beta * float(torch.linalg.vector_norm(V, dim=1).sum())

        value = objective(V, c)
        info = _fast_info(info, value)
        if info.status in ("optimal", "inexact"):
            value_s = objective(*start)
            if value_s < value:
                (V, c), info.value = start, value_s
        return V, c, info

    def _restore(self, W: Tensor, c: Optional[Tensor], W0: Tensor, on: Tensor,
                 off: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """Biases of the eliminated units: an off unit's just below its smallest margin, an on
        unit's raised to keep its rows positive, the change of ``Σ_j b_j a_j`` moved into ``c``."""
        W = W.clone()
        Xw = self.Xt[:, :-1] @ W[:, :-1].T
        S0 = self.cone_rows(W0)
        tiny = 1e-9 * float(self.Xt.abs().max()) * max(float(W.abs().max()), 1e-12)
        for j in torch.nonzero(off)[:, 0].tolist():
            W[j, -1] = -Xw[:, j].max() - max(float(S0[:, j].min()), tiny)
        for j in torch.nonzero(on)[:, 0].tolist():
            b = torch.maximum(W0[j, -1], -Xw[:, j].min() + max(float(S0[:, j].min()), tiny))
            c = c - self.A[j] * (b - W[j, -1])
            W[j, -1] = b
        return W, c


def _cvxpy_outputs(X: np.ndarray, D: np.ndarray, A: np.ndarray, output_bias: bool):
    """The variables and the affine outputs of the pattern programs in cvxpy: ``W̃ (m, d + 1)``,
    ``c (k,)`` or ``None``, the pre-activations ``Z = X̃W̃ᵀ`` and ``F = (D ∘ Z) A + 1cᵀ``."""
    import cvxpy as cp

    n, d = X.shape
    m, k = A.shape
    Wt = cp.Variable((m, d + 1))
    c = cp.Variable(k) if output_bias else None
    Z = np.hstack([X, np.ones((n, 1))]) @ Wt.T
    F = cp.multiply(D, Z) @ A
    if c is not None:
        F = F + np.ones((n, 1)) @ cp.reshape(c, (1, k), order="C")
    return Wt, c, Z, F


def _solve_loss_program(prob, solver: SolverLike, options: Optional[dict],
                        what: str) -> SolveRecord:
    """:func:`.programs._solve` (our tolerances, status checks, the one record); once more at
    the solver's own tolerances when ours are out of its reach (exponential cones)."""
    from .programs import _solve
    try:
        return _solve(prob, solver, options, what)
    except SolverError:
        return _solve(prob, solver, options, what, our_defaults=False)


class CvxpyLossRestriction:
    """The plain cvxpy formulation of (12) for a convex loss and ``k`` outputs (docs/programs.md
    §6): the LMI as ``[[ρI, (RW̄)ᵀ], [RW̄, I_m]] ⪰ 0`` with ``RᵀR = T(2T − AAᵀ)⁻¹T``, the loss by
    :meth:`~torch_lipcvx.losses.Loss.cvxpy`. The cross-check of :class:`LossBarrier`."""

    def __init__(self, X: np.ndarray, y: np.ndarray, D: np.ndarray, A: np.ndarray, loss: Loss,
                 lam: float, beta: float, output_bias: bool) -> None:
        self.X, self.y, self.D = X, y, D.astype(float)
        self.A = A[:, None] if A.ndim == 1 else A
        self.loss, self.lam, self.beta, self.output_bias = loss, lam, beta, output_bias

    def solve(self, t: np.ndarray, solver: SolverLike = "CLARABEL",
              options: Optional[dict] = None
              ) -> tuple[np.ndarray, Optional[np.ndarray], float, SolveRecord]:
        """Solve for ``T = diag(t)``: ``(W̃ (m, d + 1), c (k,) or None, ρ, record)``."""
        import cvxpy as cp

        n, d = self.X.shape
        m = self.A.shape[0]
        Wt, c, Z, F = _cvxpy_outputs(self.X, self.D, self.A, self.output_bias)
        cons = [cp.multiply(2 * self.D - 1, Z) >= 0]
        obj = self.loss.cvxpy(F, self.y) / n + 0.5 * self.beta * cp.sum_squares(Wt)
        rho = cp.Variable()
        if self.lam > 0:
            # the LMI after the Schur complement on P = 2T − AAᵀ: [[ρI, (RW̄)ᵀ], [RW̄, I]] ⪰ 0
            # with RᵀR = T P⁻¹ T (the original form is ill-conditioned when t spans many
            # orders of magnitude, as LipSDP's t does for units with tiny outer weights)
            M = restriction_metric(torch.as_tensor(self.A), torch.as_tensor(t)).numpy()
            R = np.linalg.cholesky(M).T
            E = R @ Wt[:, :d]
            lmi = cp.bmat([[rho * np.eye(d), E.T], [E, np.eye(m)]])
            cons.append(0.5 * (lmi + lmi.T) >> 0)
            obj = obj + self.lam * rho
        prob = cp.Problem(cp.Minimize(obj), cons)
        info = _solve_loss_program(prob, solver, options,
                                   f"the restriction (12) with the {self.loss.name} loss")
        return (Wt.value, None if c is None else np.asarray(c.value),
                float(rho.value) if self.lam > 0 else math.nan, info)


class CvxpyLossProgram6:
    """Program (6) for a convex loss with the patterns and the outer directions ``u_j`` fixed,
    in plain cvxpy (docs/programs.md §6): the cross-check of :meth:`LossBarrier.solve_program6`
    and the solver when ``β = 0`` or a cvxpy solver is asked for."""

    def __init__(self, X: np.ndarray, y: np.ndarray, D: np.ndarray, U: np.ndarray, loss: Loss,
                 beta: float, output_bias: bool) -> None:
        self.X, self.y, self.D = X, y, D.astype(float)
        self.U = U[:, None] if U.ndim == 1 else U
        self.loss, self.beta, self.output_bias = loss, beta, output_bias

    def solve(self, solver: SolverLike = "CLARABEL", options: Optional[dict] = None
              ) -> tuple[np.ndarray, Optional[np.ndarray], SolveRecord]:
        """``(V (m, d + 1), c (k,) or None, record)``."""
        import cvxpy as cp

        n = self.X.shape[0]
        V, c, Z, F = _cvxpy_outputs(self.X, self.D, self.U, self.output_bias)
        obj = self.loss.cvxpy(F, self.y) / n + self.beta * cp.sum(cp.norm(V, 2, axis=1))
        prob = cp.Problem(cp.Minimize(obj), [cp.multiply(2 * self.D - 1, Z) >= 0])
        info = _solve_loss_program(prob, solver, options,
                                   f"program (6) with the {self.loss.name} loss")
        return V.value, None if c is None else np.asarray(c.value), info


def directions(A: Tensor) -> tuple[Tensor, Tensor]:
    """Unit outer directions ``u_j = a_j/‖a_j‖`` (``(m, k)``) and the norms ``‖a_j‖`` (``(m,)``);
    a zero row keeps a zero direction."""
    A = A[:, None] if A.dim() == 1 else A
    norms = torch.linalg.vector_norm(A, dim=1)
    U = torch.where(norms[:, None] > 0, A / norms.clamp_min(1e-300)[:, None],
                    torch.zeros_like(A))
    return U, norms


def directions_to_weights(V: Tensor, U: Tensor, rel_zero: float = 1e-12
                          ) -> tuple[Tensor, Tensor]:
    """Map (6)'s solution back: ``w̃_j = v_j/√‖v_j‖``, ``a_j = u_j √‖v_j‖`` (rows with
    ``‖v_j‖`` below ``rel_zero`` of the largest become zero units), so that
    ``½(‖w̃_j‖² + ‖a_j‖²) = ‖v_j‖`` and the network reproduces the convex model's outputs."""
    norms = torch.linalg.vector_norm(V, dim=1)
    keep = norms > rel_zero * max(float(norms.max()) if norms.numel() else 0.0, 1e-300)
    scale = torch.where(keep, norms.sqrt(), torch.zeros_like(norms))
    W = torch.where(keep[:, None], V / scale.clamp_min(1e-300)[:, None], torch.zeros_like(V))
    return W, U * scale[:, None]
