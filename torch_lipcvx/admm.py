"""The ADMM baseline of Pauli, Koch, Berberich, Kohler and Allgöwer (2022): Lipschitz-regularised
training by the alternating direction method of multipliers (docs/admm.md).

The problem ``min_θ J(θ) = F(θ) + λ ρ*(W̄, α)`` with the smooth part
``F(θ) = (1/n)‖f(X) − y‖² + (β/2) Σ_j (‖w̃_j‖² + α_j²)`` (docs/conventions.md §2) is split over
copies ``(Z, a) ≈ (W̄, α)`` of the weights that enter the Lipschitz bound, for a fixed
``T = diag(t)``:

    min F(θ) + λρ   s.t.  S_T(Z, a, ρ) ⪰ 0,  W̄ = Z,  α = a          (docs/admm.md §1)

One iteration (docs/admm.md §2), in scaled form (duals ``U = Y/κ``, penalty ``κ``):

(a) loss step: ``loss_steps`` Adam steps from the current θ on
    ``F(θ) + (κ/2)(‖W̄ − Z + U_W‖²_F + ‖α − a + U_α‖²)`` over all of θ (biases included);
    one Adam object is kept across iterations;
(b) T refresh: a fresh, float64-re-verified LipSDP of the loss-step weights gives ``t`` and
    ``ρ*``, hence ``J_{k+1} = mse + (β/2)·l2 + λ ρ*``;
(c) SDP step: ``(Z, a, ρ) = prox_{(λ/κ)φ_T}(W̄ + U_W, α + U_α)``
    (:class:`~torch_lipcvx._engine.programs.ADMMSDPStep`, built once per ADMM object);
(d) dual update: ``U_W += W̄ − Z``, ``U_α += α − a``.

Biases ``b`` and ``c`` are not copied: they change only in the loss step. There is no
convergence guarantee and ``J`` is not monotone (docs/admm.md §4); the history is kept whole.

Deviations from the authors' code, all from docs/admm.md's [ours] choices: scaled duals (identical
iterates); one LipSDP per iteration after the loss step; ``F`` keeps the ℓ2 term ``(β/2)·l2``
during ADMM so that the loss step works on the same objective as ``J`` (the code drops it: pass
``beta=0`` for the pure Lipschitz case, where both agree); the stopping rule is made relative and
capped (``tol``, ``max_iter``).

``k ≥ 1`` outputs (docs/admm.md §6): ``y`` is ``(n, k)``, the data term ``(1/n)‖F − Y‖²_F``, the
outer weights ``a_j ∈ R^k`` (``A (m, k)``) are copied as a whole and the LMI gains a ``k × k``
identity block (``S_T(Z, A, ρ)`` with ``−A`` in place of ``−a``); ``k = 1`` runs the code of one
output unchanged.

Units: ``L`` in output units per input unit (the units the model sees), ``rho = L**2``, MSE with
``1/n``. Every ``rho``/``L`` reported in a history row or a result is a certified upper bound from
a fresh LipSDP of exactly those weights (never the SDP step's ``ρ``, which certifies the copy).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import torch
from torch import Tensor, nn

from . import defaults
from ._checks import (check_data_scale, check_lam_scale, check_nonneg, check_positive,
                      check_positive_int, check_seed, check_squared_errors_finite,
                      check_weights_scale, check_X, check_Xy, outside_inference_mode,
                      seeded_generator)
from ._progress import ProgressBar, check_progress, progress_bar
from .bounds import LipSDPResult, spectral_rho
from ._engine.lipsdp_vector import metric_matrix
from ._engine.programs import _solve, _sym
from .losses import LossLike, SquaredError, get_loss
from .algorithm1.descent import Certifier
from .models import ShallowReLU, ShallowWeights, as_shallow_relu, check_weights_finite
from .objective import Objective, mse, score, training_loss
from ._engine.programs import DEFAULT_SOLVER, ADMMSDPStep, SolverError
from .solvers import DEFAULT, SolveRecord, Solver, SolverLike

__all__ = [
    "ADMM",
    "ADMMRecord",
    "ADMMResult",
    "ADMMSDPStepVector",
    "SDPStepResult",
    "check_sdp_solver",
    "phi_T",
    "schur_lmi",
    "schur_lmi_min_eig",
    "sdp_step",
]

#: Above this many training rows the loss step uses minibatches of 128 (docs/admm.md §3).
FULL_BATCH_MAX_N = 2000
#: Minibatch size used above :data:`FULL_BATCH_MAX_N` rows when ``batch_size=None``.
DEFAULT_BATCH = 128

_CPU64 = dict(device="cpu", dtype=torch.float64)


def check_sdp_solver(solver: SolverLike) -> str:
    """The name of the cvxpy solver of the SDP step for a solver name or
    :class:`~torch_lipcvx.solvers.Solver` (see :func:`_sdp_solver`).

    Raises:
        ValueError: ``"torch"``, or an unknown or uninstalled solver.
    """
    return _sdp_solver(Solver.parse(solver)).name


def _sdp_solver(solver: Solver) -> Solver:
    """The cvxpy :class:`~torch_lipcvx.solvers.Solver` of the SDP step, which has no torch
    method: ``"auto"`` means Clarabel (:attr:`Solver.cvxpy
    <torch_lipcvx.solvers.Solver.cvxpy>`), a cvxpy solver itself; ``"torch"`` (no cvxpy) cannot
    solve it (ValueError)."""
    if not solver.allows_cvxpy:
        raise ValueError("the ADMM SDP step has no torch solver: use sdp_solver='auto' (Clarabel) "
                         "or a cvxpy solver ('CLARABEL', 'SCS')")
    return solver.cvxpy


# ------------------------------------------------------------------------------ pure maths
def schur_lmi(Z: Tensor, a: Tensor, t: Tensor, rho: float) -> Tensor:
    """``S_T(Z, a, ρ) = [[ρI_d, −ZᵀT, 0], [−TZ, 2T, −a], [0, −aᵀ, 1]]``, float64 on CPU.

    Args:
        Z: ``(m, d)`` copy of the hidden weights ``W̄``; a: ``(m,)`` copy of ``α``, or ``(m, k)``
            copy of the outer weights ``A`` of ``k ≥ 2`` outputs; t: ``(m,)`` diagonal of
            ``T ⪰ 0``; rho: ``ρ``.

    Returns:
        The symmetric ``(d + m + 1, d + m + 1)`` matrix of docs/admm.md §1; ``S_T ⪰ 0`` iff
        ``(Z, a, ρ) ∈ 𝓛_T`` (then ``sqrt(ρ)`` bounds the ℓ2 Lipschitz constant of ``(Z, ·, a)``).
        For ``a (m, k)``: ``[[ρI_d, −ZᵀT, 0], [−TZ, 2T, −A], [0, −Aᵀ, I_k]]``, size
        ``d + m + k`` (docs/admm.md §6).
    """
    Z, a, t = (torch.as_tensor(v).detach().to(**_CPU64) for v in (Z, a, t))
    m, d = Z.shape
    if a.dim() == 2:
        k = a.shape[1]
        S = torch.zeros(d + m + k, d + m + k, **_CPU64)
        TZ = t[:, None] * Z
        S[:d, :d] = float(rho) * torch.eye(d, **_CPU64)
        S[d:d + m, :d] = -TZ
        S[:d, d:d + m] = -TZ.T
        S[d:d + m, d:d + m] = 2 * torch.diag(t)
        S[d:d + m, d + m:] = -a
        S[d + m:, d:d + m] = -a.T
        S[d + m:, d + m:] = torch.eye(k, **_CPU64)
        return S
    TZ = t[:, None] * Z
    S = torch.zeros(d + m + 1, d + m + 1, **_CPU64)
    S[:d, :d] = float(rho) * torch.eye(d, **_CPU64)
    S[d:d + m, :d] = -TZ
    S[:d, d:d + m] = -TZ.T
    S[d:d + m, d:d + m] = 2 * torch.diag(t)
    S[d:d + m, -1] = -a
    S[-1, d:d + m] = -a
    S[-1, -1] = 1.0
    return S


def schur_lmi_min_eig(Z: Tensor, a: Tensor, t: Tensor, rho: float) -> float:
    """``λ_min(S_T(Z, a, ρ))`` in float64 (``≥ 0`` iff feasible; small negatives are rounding)."""
    return float(torch.linalg.eigvalsh(schur_lmi(Z, a, t, rho)).min())


def phi_T(Z: Tensor, a: Tensor, t: Tensor) -> float:
    """``φ_T(Z, a) = min{ρ : S_T(Z, a, ρ) ⪰ 0}`` by the spectral form, float64.

    Units with ``t_j = 0`` must have ``a_j = 0`` and then drop out. On the rest, if
    ``P = 2T − aaᵀ ≻ 0`` (i.e. ``Σ_j a_j²/(2t_j) < 1``) then ``φ_T = ‖C⁻¹TZ‖₂²`` with ``P = CCᵀ``
    (docs/lipsdp.md). Returns ``inf`` outside that open domain (and on its boundary).

    With ``a (m, k)`` (``k ≥ 2`` outputs, docs/admm.md §6): ``P = 2T − AAᵀ ≻ 0`` and
    ``φ_T = λ_max(Zᵀ T P⁻¹ T Z)`` (the same number as ``‖C⁻¹TZ‖₂²``), computed through
    :func:`~torch_lipcvx._engine.lipsdp_vector.metric_matrix`; rows ``a_j`` with ``t_j = 0`` must
    be zero.
    """
    Z, a, t = (torch.as_tensor(v).detach().to(**_CPU64) for v in (Z, a, t))
    off = t == 0
    if bool((a[off] != 0).any()):
        return math.inf
    on = ~off
    if int(on.sum()) == 0:
        return 0.0
    if a.dim() == 2:
        try:
            M = metric_matrix(a[on], t[on])
        except ValueError:
            return math.inf
        Zo = Z[on]
        return max(float(torch.linalg.eigvalsh(Zo.T @ M @ Zo)[-1]), 0.0)
    return spectral_rho(Z[on], a[on], t[on])


@dataclass(frozen=True)
class SDPStepResult:
    """One solved SDP step (docs/admm.md §2(c)), float64 on CPU.

    Attributes:
        Z: ``(m, d)``; a: ``(m,)`` (``(m, k)`` for ``k ≥ 2`` outputs): the new copies.
        rho: the solver's ``ρ`` (certifies ``(Z, a)`` up to ``min_eig``; not used as a certificate).
        min_eig: ``λ_min(S_T(Z, a, ρ))`` recomputed in float64 (≥ −tol when feasible).
        status, solver, solve_time: what the solver said and how long it took (wall seconds,
            including cvxpy's parameter update).
    """

    Z: Tensor
    a: Tensor
    rho: float
    min_eig: float
    status: str
    solver: str
    solve_time: float

    def __repr__(self) -> str:
        return (f"SDPStepResult(rho={self.rho:.6g}, min_eig={self.min_eig:.3g}, "
                f"status={self.status!r}, solver={self.solver!r}, solve_time="
                f"{self.solve_time:.3g}s, Z={tuple(self.Z.shape)})")


def sdp_step(V_W: Tensor, V_alpha: Tensor, t, weight: float, *,
             program: Optional[ADMMSDPStep] = None, solver: SolverLike = DEFAULT_SOLVER,
             solver_options: Optional[dict] = None) -> SDPStepResult:
    """The SDP step: ``prox`` of ``weight·φ_T`` at ``(V_W, V_alpha)``, solved by cvxpy.

        argmin_{Z, a, ρ}  weight·ρ + ½(‖Z − V_W‖²_F + ‖a − V_alpha‖²)   s.t.  S_T(Z, a, ρ) ⪰ 0

    In ADMM, ``weight = λ/κ`` and ``V = (W̄ + U_W, α + U_α)``.

    Args:
        V_W: ``(m, d)`` targets for ``Z``; V_alpha: ``(m,)`` targets for ``a``, or ``(m, k)``
            with ``k ≥ 2`` outputs (then the LMI of docs/admm.md §6 and
            :class:`ADMMSDPStepVector`).
        t: ``(m,)`` diagonal of ``T``, ``≥ 0`` (tensor or array).
        weight: ``≥ 0``. With 0 the step is the projection onto the domain of ``φ_T`` and ``ρ``
            is not unique.
        program: a prebuilt :class:`~torch_lipcvx._engine.programs.ADMMSDPStep` of size ``(m, d)``
            (:class:`ADMMSDPStepVector` of size ``(m, d, k)`` for ``k ≥ 2``).
        solver, solver_options: ``"CLARABEL"`` (default), ``"SCS"``, another cvxpy conic solver
            or ``"auto"`` (Clarabel; see :func:`check_sdp_solver`), or a
            :class:`~torch_lipcvx.solvers.Solver`, and the solver's settings.

    Returns:
        :class:`SDPStepResult` (float64, CPU).

    Raises:
        ValueError: bad shapes, NaN/Inf, negative ``t`` or ``weight``, a program of another size.
        SolverError: the solver failed.
    """
    V_W = torch.as_tensor(V_W).detach().to(**_CPU64)
    V_alpha = torch.as_tensor(V_alpha).detach().to(**_CPU64)
    t = torch.as_tensor(np.asarray(t, dtype=float) if not isinstance(t, Tensor) else t)
    t = t.detach().to(**_CPU64)
    if V_W.dim() != 2:
        raise ValueError(f"V_W must have shape (m, d), got {tuple(V_W.shape)}")
    m, d = V_W.shape
    if V_alpha.dim() == 2 and V_alpha.shape[1] >= 2:
        k = V_alpha.shape[1]
        if program is None:
            program = ADMMSDPStepVector(m, d, k)
        elif (program.m, program.d, getattr(program, "k", 1)) != (m, d, k):
            raise ValueError(f"program has size {(program.m, program.d, getattr(program, 'k', 1))}"
                             f", the targets {(m, d, k)}")
    elif program is None:
        program = ADMMSDPStep(m, d)
    elif (program.m, program.d) != (m, d) or getattr(program, "k", 1) != 1:
        raise ValueError(f"program has size {(program.m, program.d)}, the targets {(m, d)}")
    solver = Solver.parse(_sdp_solver(Solver.parse(solver)), solver_options)
    try:
        Z, a, rho, info = program.solve(V_W.numpy(), V_alpha.numpy(), t.numpy(), float(weight),
                                        solver)
    except BaseException as exc:
        # Clarabel's Rust core can abort with a pyo3 PanicException (a BaseException) on a badly
        # scaled SDP: report it as the solver failure it is
        if type(exc).__name__ != "PanicException":
            raise
        raise SolverError(f"{solver.name} failed on the ADMM SDP step: {exc}") from None
    Z, a = torch.as_tensor(Z), torch.as_tensor(a)
    return SDPStepResult(
        Z=Z, a=a, rho=rho, min_eig=schur_lmi_min_eig(Z, a, t, rho), status=info.status,
        solver=solver.name, solve_time=info.solve_time)


class ADMMSDPStepVector:
    """The SDP step for ``k ≥ 2`` outputs (docs/admm.md §6), built once per size:

        min_{Z, A, ρ}  μ ρ + ½ (‖Z − V_W‖²_F + ‖A − V_A‖²_F)
        s.t.           S_T(Z, A, ρ) = [[ ρ I_d , −ZᵀT , 0   ],
                                       [ −T Z  ,  2T  , −A  ],
                                       [  0    , −Aᵀ  , I_k ]]  ⪰ 0

    over ``Z (m, d)``, ``A (m, k)`` and ``ρ`` with ``T = diag(t)``: the prox of ``μ·φ_T`` at
    ``(V_W, V_A)``, ``φ_T(Z, A) = min{ρ : S_T ⪰ 0}``. The Schur complement on the ``I_k`` block
    is LipSDP's LMI with ``AAᵀ`` (docs/lipsdp.md), so ``S_T ⪰ 0`` certifies ``‖f(x) − f(x')‖₂ ≤
    √ρ ‖x − x'‖₂`` for ``(Z, ·, A)``. With ``k = 1`` it is :class:`ADMMSDPStep`'s program (which
    ADMM keeps using for one output). One LMI of size ``d + m + k``; ``V_W``, ``V_A``, ``t`` and
    ``μ`` are Parameters (DPP).

    Units with ``t_j = 0``: the minor ``[[2t_j, −a_jᵀ], [−a_j, I_k]] ⪰ 0`` means
    ``‖a_j‖² ≤ 2t_j``, so the row ``a_j`` is 0; as in :class:`ADMMSDPStep` such units enter with
    ``1`` on the diagonal, ``0`` in ``T·Z`` and the explicit constraint ``a_j = 0`` (the same
    feasible set, strictly feasible).

    Args:
        m: hidden units; d: input dimension; k: outputs (``≥ 2``).
    """

    def __init__(self, m: int, d: int, k: int) -> None:
        import cvxpy as cp
        if k < 2:
            raise ValueError(f"ADMMSDPStepVector needs k >= 2 outputs (use ADMMSDPStep for one), "
                             f"got k={k!r}")
        self.m, self.d, self.k = m, d, k
        self.Z = cp.Variable((m, d))
        self.A = cp.Variable((m, k))
        self.rho = cp.Variable()
        self.V_W = cp.Parameter((m, d))
        self.V_A = cp.Parameter((m, k))
        self.t_z = cp.Parameter(m, nonneg=True)
        self.t_d = cp.Parameter(m, nonneg=True)
        self.mask = cp.Parameter(m, nonneg=True)
        self.weight = cp.Parameter(nonneg=True)
        TZ = cp.multiply(self.t_z[:, None], self.Z)
        S = cp.bmat([[self.rho * np.eye(d), -TZ.T, np.zeros((d, k))],
                     [-TZ, 2 * cp.diag(self.t_d), -self.A],
                     [np.zeros((k, d)), -self.A.T, np.eye(k)]])
        objective = self.weight * self.rho + 0.5 * (cp.sum_squares(self.Z - self.V_W)
                                                    + cp.sum_squares(self.A - self.V_A))
        constraints = [_sym(S) >> 0, cp.multiply(self.mask[:, None], self.A) == 0]
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():  # pragma: no cover - guards the formulation
            raise AssertionError("the k-output ADMM SDP step must be DPP in its parameters")

    def solve(self, V_W: np.ndarray, V_A: np.ndarray, t: np.ndarray, weight: float,
              solver: SolverLike = DEFAULT_SOLVER, options: Optional[dict] = None
              ) -> tuple[np.ndarray, np.ndarray, float, SolveRecord]:
        """Solve at targets ``V_W (m, d)``, ``V_A (m, k)`` with ``T = diag(t)``, ``t ≥ 0``.

        Returns:
            ``(Z, A, ρ, info)`` as the solver gives them (callers re-check the LMI in float64).

        Raises:
            ValueError: wrong shapes, NaN/Inf, negative ``t`` or ``weight``.
            SolverError: the solver failed or hit a limit.
        """
        V_W = np.asarray(V_W, dtype=float)
        V_A = np.asarray(V_A, dtype=float)
        t = np.asarray(t, dtype=float)
        m, d, k = self.m, self.d, self.k
        if V_W.shape != (m, d) or V_A.shape != (m, k) or t.shape != (m,):
            raise ValueError(f"expected V_W {(m, d)}, V_alpha {(m, k)}, t {(m,)}; got "
                             f"{V_W.shape}, {V_A.shape}, {t.shape}")
        for name, v in (("V_W", V_W), ("V_alpha", V_A), ("t", t)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} contains NaN/Inf")
        if np.any(t < 0):
            raise ValueError(f"t must be >= 0, got min {t.min():g}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        zero = t == 0
        self.V_W.value, self.V_A.value = V_W, V_A
        self.t_z.value = t
        self.t_d.value = np.where(zero, 1.0, t)
        self.mask.value = zero.astype(float)
        self.weight.value = float(weight)
        info = _solve(self.problem, solver, options, "the ADMM SDP step")
        Z = np.asarray(self.Z.value, dtype=float)
        A = np.asarray(self.A.value, dtype=float)
        A[zero] = 0.0
        return Z, A, float(self.rho.value), info


def _augmented_penalty(W: Tensor, alpha: Tensor, Z: Tensor, a: Tensor, U_W: Tensor,
                       U_alpha: Tensor, kappa: float) -> Tensor:
    """``(κ/2)(‖W̄ − Z + U_W‖²_F + ‖α − a + U_α‖²)``: the scaled-form coupling of docs/admm.md §1.

    Up to a constant in θ it equals the unscaled ``tr(Yᵀ(W̄ − Z)) + (κ/2)‖W̄ − Z‖²`` with
    ``Y = κU`` (same gradients, so the same iterates).
    """
    return 0.5 * kappa * (((W - Z + U_W) ** 2).sum() + ((alpha - a + U_alpha) ** 2).sum())


def _t_range(t: np.ndarray) -> tuple[float, float]:
    """``(min t, max t)``, NaN for an empty ``t``."""
    return (float(t.min()), float(t.max())) if t.size else (math.nan, math.nan)


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True, kw_only=True)
class ADMMRecord:
    """One row of the ADMM history (docs/admm.md §4). Row 0 is the start θ⁰ (``NaN`` where a field
    belongs to an iteration).

    Attributes:
        iteration: k (0 for the start).
        objective: ``J_k = mse + (β/2)·l2 + λ·rho`` of the loss-step network θᵏ (the number every
            method is compared on).
        mse, l2: its parts (``l2 = Σ_j(‖w̃_j‖² + α_j²)``).
        rho, L: certified ``ρ*(θᵏ)`` from a fresh LipSDP of θᵏ and ``L = sqrt(rho)``.
        sdp_rho: the SDP step's ``ρᵏ`` (the solver's number; it certifies the copy network).
        sdp_phi: ``φ_T(Zᵏ, aᵏ)`` recomputed in float64 (``inf`` off the open domain); equals
            ``sdp_rho`` up to solver tolerance when ``λ > 0``.
        copy_objective, copy_rho: ``J`` and a fresh LipSDP ``ρ*`` of the copy network
            ``(Zᵏ, bᵏ, aᵏ, cᵏ)``.
        primal_residual: ``r_k = ‖(W̄ᵏ − Zᵏ, αᵏ − aᵏ)‖_F`` (one Frobenius norm over both blocks).
        dual_residual: ``s_k = κ‖(Zᵏ − Zᵏ⁻¹, aᵏ − aᵏ⁻¹)‖_F``.
        dual_norm: ``‖(U_W, U_α)‖_F`` of the scaled duals after the update (``‖Y‖ = κ·dual_norm``).
        lmi_min_eig: ``λ_min(S_T(Zᵏ, aᵏ, ρᵏ))`` in float64.
        t_min, t_max: range of the ``t`` used in the SDP step.
        loss: the loss-step objective ``F + coupling`` on the full data at the step's end.
        lipsdp_status, sdp_status: solver statuses.
        loss_time, lipsdp_time, sdp_time, copy_time: wall seconds of (a), (b), (c) and of the
            copy's certificate.
        time: wall seconds since the ADMM object was created.
    """

    iteration: int
    objective: float
    mse: float
    l2: float
    rho: float
    L: float
    sdp_rho: float
    sdp_phi: float
    copy_objective: float
    copy_rho: float
    primal_residual: float
    dual_residual: float
    dual_norm: float
    lmi_min_eig: float
    t_min: float
    t_max: float
    loss: float
    lipsdp_status: str
    sdp_status: str
    loss_time: float
    lipsdp_time: float
    sdp_time: float
    copy_time: float
    time: float

    def __repr__(self) -> str:
        return (f"ADMMRecord({self.iteration}: J={self.objective:.6g}, mse={self.mse:.6g}, "
                f"L={self.L:.6g}, r={self.primal_residual:.3g}, s={self.dual_residual:.3g}, "
                f"t={self.time:.3g}s)")


@dataclass
class ADMMResult:
    """What :meth:`ADMM.run` returns.

    Attributes:
        model: a NEW :class:`ShallowReLU` on the input model's device and dtype: the last
            loss-step network θᴷ (``select="last"``) or the row of ``history`` with the lowest
            ``objective`` (``select="best"``, row 0 included).
        history: every row, ``history[0]`` the start; never filtered.
        certificate: a fresh LipSDP certificate of ``model``'s weights (float64, re-verified).
        objective: ``J`` of ``model`` with that certificate (:class:`~torch_lipcvx.Objective`).
        selected_iteration: the history row ``model`` comes from.
        message: why the run stopped.
        lam, beta, penalty, select: the settings.
        wall_time: seconds since the ADMM object was created.
    """

    model: ShallowReLU
    history: list[ADMMRecord]
    certificate: LipSDPResult
    objective: Objective
    selected_iteration: int
    message: str = ""
    lam: float = 0.0
    beta: float = 0.0
    penalty: float = 0.25
    select: str = "last"
    wall_time: float = 0.0

    def history_table(self) -> dict[str, list]:
        """The history as columns (for CSV, pandas or plotting)."""
        keys = ADMMRecord.__dataclass_fields__.keys()
        return {k: [getattr(r, k) for r in self.history] for k in keys}

    def __repr__(self) -> str:
        j0 = self.history[0].objective
        return (f"ADMMResult(J {j0:.6g} -> {self.objective.value:.6g} (iteration "
                f"{self.selected_iteration}, select={self.select!r}), iterations="
                f"{len(self.history) - 1}, L={self.certificate.L:.6g}, message={self.message!r})")


# ------------------------------------------------------------------------------ the optimizer
class ADMM:
    """ADMM for Lipschitz-regularised training of a shallow ReLU net, step by step (docs/admm.md).

    Usage::

        admm = ADMM(l2_trained_net, X, y, lam=1e-2)
        result = admm.run()          # or: admm.step() repeatedly, then admm.result()

    The start should be an ℓ2-trained network (``β > 0``, ``λ = 0``; docs/admm.md §2, e.g.
    :func:`torch_lipcvx.train.train_sgd` with ``beta > 0``). ADMM works on a float64 deep copy
    on the model's device (the SDPs run on the CPU); the input model is never modified.

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear(d, m), ReLU(), Linear(m, k))``,
            ``k ≥ 1`` outputs (docs/admm.md §6).
        X: ``(n, d)`` training inputs (the units the model sees); y: ``(n,)`` or ``(n, 1)`` for
            one output, ``(n, k)`` for ``k ≥ 2`` (the data term is ``(1/n)‖F − Y‖²_F``).
        lam: λ ≥ 0, weight of ``ρ = L²``. ``lam = 0`` is allowed (a control run): the SDP step
            then only keeps ``(Z, a)`` in the domain of ``φ_T``, which the loss-step network
            already is in, so ADMM reduces to proximal-point training of ``F``.
        beta: β ≥ 0, weight of the ℓ2 term ``(β/2)Σ_j(‖w̃_j‖² + α_j²)`` in ``F`` and ``J``.
        penalty: κ > 0, the ADMM penalty (code ``rho``; docs/admm.md §3 default 0.25, scan
            {0.25, 1, 4}).
        loss_steps: Adam steps per loss step (default 300).
        lr: Adam learning rate (default 1e-2); one Adam object is kept across iterations.
        batch_size: minibatch size of the loss step; ``None`` means full batch for
            ``n ≤ 2000`` and 128 above (docs/admm.md §3). Minibatches are reshuffled every pass over
            the data by a generator seeded by ``seed``.
        min_iter: at least this many iterations in :meth:`run` (docs/admm.md §3 default 5).
        max_iter: at most this many (default 50; the authors' code has no cap).
        tol: relative stopping threshold: after ``min_iter``, stop once
            ``|L_k − L_{k−1}| ≤ tol·L_{k−1}`` (``L = sqrt(ρ*)`` of the loss-step network;
            default 1e-3, docs/admm.md §3).
        delta_L: if given, the code's absolute rule instead: stop once ``|L_k − L_{k−1}| < delta_L``
            (the code used 1.0 on its 2-D toy, 0.5 on MNIST).
        patience: stop only once the change has stayed below the threshold for this many
            consecutive iterations (default 1: docs/admm.md's rule, which one small step can
            trigger; rounding alone, e.g. another thread count, moved a servo run's stop from
            iteration 27 to 10 and its J by 5%, so 3 makes the rule robust).
        select: ``"last"`` (faithful: return θᴷ) or ``"best"`` (the θᵏ with the lowest ``J_k``,
            the start included).
        solver, solver_options: for LipSDP (T refresh, ``J``, the final certificate) and, unless
            ``sdp_solver`` is given, for the SDP step. ``"CLARABEL"`` (default), ``"SCS"``, or the
            names of :func:`~torch_lipcvx.bounds.lipsdp`'s torch methods, ``"auto"``/``"torch"``
            (then LipSDP runs in torch and the SDP step, which has no torch method, uses Clarabel
            with its default settings; ``solver_options`` go to the torch method only).
        sdp_solver, sdp_solver_options: solver of the SDP step if different: ``"CLARABEL"``,
            ``"SCS"`` or ``"auto"`` (Clarabel) (docs/admm.md suggests
            SCS at eps 1e-6 there: at m = 100 it took 0.4–0.9 s per step against Clarabel's
            1.0–1.4 s, with ``λ_min(S_T)`` down to −5e-5 against ≥ 0).
        seed: seeds the minibatch order (the only randomness); a CPU run reproduces exactly.
        verbose: print one line per iteration.
        loss: the data term's loss: ``None`` or ``"squared"`` (the only one ADMM implements:
            docs/admm.md §6); any other loss is a ``ValueError``.

    Attributes (state, read-only by convention): ``theta`` (the float64 ShallowReLU copy),
    ``Z (m, d)``, ``a (m,)`` (``(m, k)`` for ``k ≥ 2`` outputs), ``U_W (m, d)``, ``U_alpha``
    (the shape of ``a``), ``t (m,)`` (NumPy, from the last LipSDP), ``optimizer`` (Adam),
    ``iteration``, ``history``.

    Raises:
        ValueError: bad shapes, NaN/Inf in the data or weights, a model that is not a
            one-hidden-layer ReLU network, a ``loss`` other than the squared error, negative
            ``lam``/``beta``/``tol``/
            ``delta_L``, ``penalty ≤ 0``, ``lr ≤ 0``, ``loss_steps``/``batch_size``/``min_iter``/
            ``patience < 1``, ``max_iter < min_iter``, unknown ``select`` or solver; data or
            weights above 2²⁵⁶ in magnitude, squared errors that overflow, or a ``lam`` whose
            ``λρ`` exceeds 2⁵³ times the data terms of the start (as for
            :func:`~torch_lipcvx.postprocess`).
        TypeError: a non-integer count or seed, ``solver_options`` not a dict.
        SolverError: the LipSDP of the start failed.
    """

    @outside_inference_mode
    def __init__(self, model: nn.Module, X, y, *, lam: float, beta: float = defaults.BETA,
                 penalty: float = 0.25, loss_steps: int = defaults.ADMM_LOSS_STEPS,
                 lr: float = defaults.LR, batch_size: Optional[int] = None, min_iter: int = 5,
                 max_iter: int = defaults.ADMM_MAX_ITER, tol: float = defaults.ADMM_TOL,
                 delta_L: Optional[float] = None, patience: int = 1,
                 select: Literal["last", "best"] = "last", solver: SolverLike = DEFAULT_SOLVER,
                 solver_options: Optional[dict] = None, sdp_solver: SolverLike = None,
                 sdp_solver_options: Optional[dict] = None, seed: int = 0,
                 verbose: bool = False, loss: LossLike = None) -> None:
        self._start = time.perf_counter()
        if not isinstance(get_loss(loss), SquaredError):
            raise ValueError(f"ADMM implements the squared loss only (docs/admm.md §6), got "
                             f"loss={loss!r}; use postprocess(..., loss=...) for other losses")
        net = as_shallow_relu(model, "model")
        w0 = net.weights()
        check_weights_finite(w0, "model")
        check_weights_scale(w0, "model")
        #: outputs k; for k >= 2 the data term is SquaredError's (1/n)‖F − Y‖²_F (score's J)
        self.k = w0.k
        self._data_loss: Optional[SquaredError] = None if self.k == 1 else SquaredError()
        if self.k == 1:
            X, y = check_Xy(X, y, net.in_features)
            check_data_scale(X, y)
        else:
            X = check_X(X, "X", net.in_features)
            y = self._data_loss.targets(y, X.shape[0], self.k, X.dtype)
            check_data_scale(X, y.reshape(-1))
        # inference tensors (made under torch.inference_mode) cannot enter the loss step's
        # autograd graph: work on normal copies
        X, y = (t.clone() if t.is_inference() else t for t in (X, y))
        self.lam = check_nonneg(lam, "lam")
        self.beta = check_nonneg(beta, "beta")
        self.penalty = check_positive(penalty, "penalty")
        self.loss_steps = check_positive_int(loss_steps, "loss_steps")
        self.lr = check_positive(lr, "lr")
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size")
        self.min_iter = check_positive_int(min_iter, "min_iter")
        self.max_iter = check_positive_int(max_iter, "max_iter")
        if self.max_iter < self.min_iter:
            raise ValueError(f"max_iter must be >= min_iter ({self.min_iter}), got {max_iter!r}")
        self.tol = check_nonneg(tol, "tol")
        self.delta_L = None if delta_L is None else check_nonneg(delta_L, "delta_L")
        self.patience = check_positive_int(patience, "patience")
        if select not in ("last", "best"):
            raise ValueError(f"select must be 'last' or 'best', got {select!r}")
        self.select = select
        spec = Solver.parse(solver)
        # the SDP step: the LipSDP solver, or Clarabel when that is a torch method ("auto" for
        # sdp_solver=None means exactly that: Solver.cvxpy)
        share = sdp_solver is None and not spec.uses_torch
        sdp = _sdp_solver(spec if share else Solver.parse(sdp_solver, default=DEFAULT))
        for name, opts in (("solver_options", solver_options),
                           ("sdp_solver_options", sdp_solver_options)):
            if opts is not None and not isinstance(opts, dict):
                raise TypeError(f"{name} must be a dict or None, got {type(opts).__name__}")
        if share and sdp_solver_options is None:
            sdp_solver_options = solver_options
        self._solver = Solver.parse(spec, solver_options)
        self._sdp_solver = Solver.parse(sdp, sdp_solver_options)
        #: the solvers' names and options as given (public attributes)
        self.solver, self.sdp_solver = self._solver.name, self._sdp_solver.name
        self.solver_options, self.sdp_solver_options = solver_options, sdp_solver_options
        check_seed(seed)
        self.seed, self.verbose = seed, bool(verbose)

        # ---- state (docs/admm.md §2, initialisation)
        self._out_device, self._out_dtype = net.device, net.dtype
        dev = net.device
        self.theta = ShallowReLU.from_weights(w0, device=dev, dtype=torch.float64)
        self.X = X.detach().to(dev, torch.float64)
        self.y = y.detach().to(dev, torch.float64)
        with torch.no_grad():
            check_squared_errors_finite(self.theta(self.X) - self.y, "model on (X, y)")
        n = self.X.shape[0]
        self.batch_size = batch_size if batch_size is not None else (
            None if n <= FULL_BATCH_MAX_N else DEFAULT_BATCH)
        self._gen = seeded_generator(seed)
        self._batch_queue: list[Tensor] = []
        self.optimizer = torch.optim.Adam(self.theta.parameters(), lr=self.lr)
        self.Z = self.theta.hidden.weight.detach().clone()
        self.a = self._alpha().detach().clone()
        self.U_W = torch.zeros_like(self.Z)
        self.U_alpha = torch.zeros_like(self.a)
        self._certify = Certifier(self._solver, self.solver_options, self.solver_options)
        self._program = (ADMMSDPStep(self.theta.m, self.theta.in_features) if self.k == 1 else
                         ADMMSDPStepVector(self.theta.m, self.theta.in_features, self.k))
        self.iteration = 0

        w = self._weights()
        tic = time.perf_counter()
        cert = self._certify(w)
        cert_time = time.perf_counter() - tic
        self.t = cert.t.copy()
        J = score(w, self.X.cpu(), self.y.cpu(), lam=self.lam, beta=self.beta, rho=cert.rho,
                  loss=self._data_loss)
        # the zero predictor's data term is mean ‖y_i‖² (row norms for k outputs)
        check_lam_scale(self.lam, J.rho, J.mse, 0.5 * self.beta * J.l2,
                        self.y if self.k == 1 else self.y.norm(dim=1))
        nan = math.nan
        t_min, t_max = _t_range(self.t)
        self._history = [ADMMRecord(
            iteration=0, objective=J.value, mse=J.mse, l2=J.l2, rho=J.rho, L=cert.L,
            sdp_rho=nan, sdp_phi=nan, copy_objective=J.value, copy_rho=J.rho,
            primal_residual=0.0, dual_residual=nan, dual_norm=0.0, lmi_min_eig=nan,
            t_min=t_min, t_max=t_max, loss=nan, lipsdp_status=cert.status, sdp_status="",
            loss_time=0.0, lipsdp_time=cert_time, sdp_time=0.0, copy_time=0.0,
            time=self._elapsed())]
        self._last = (w, cert)
        self._best = (J.value, 0, w, cert)
        self._log(self._history[0], "start")

    # ------------------------------------------------------------------ small helpers
    def _elapsed(self) -> float:
        return time.perf_counter() - self._start

    def _alpha(self) -> Tensor:
        """θ's outer weights as the parameter view ``(m,)`` (one output) or ``(m, k)``."""
        weight = self.theta.output.weight
        return weight[0] if self.k == 1 else weight.T

    def _weights(self) -> ShallowWeights:
        """θ's weights as float64 CPU tensors."""
        return self.theta.weights().to(**_CPU64)

    def _log(self, r: ADMMRecord, note: str = "") -> None:
        if not self.verbose:
            return
        if r.iteration == 0:
            print(f"[admm] iter   0  J={r.objective:.8g}  mse={r.mse:.6g}  L={r.L:.6g}  "
                  f"t={r.time:.1f}s  {note}", flush=True)
            return
        line = (f"[admm] iter {r.iteration:3d}  J={r.objective:.8g}  mse={r.mse:.6g}  "
                f"L={r.L:.6g}  copy J={r.copy_objective:.6g}  r={r.primal_residual:.3g}  "
                f"s={r.dual_residual:.3g}  min_eig={r.lmi_min_eig:.1e}  "
                f"(loss {r.loss_time:.1f}s, lipsdp {r.lipsdp_time:.1f}s, sdp {r.sdp_time:.1f}s)  "
                f"t={r.time:.1f}s  {note}")
        bar = getattr(self, "_bar", None)
        if bar is not None:         # inside run(): a line above the progress bar
            bar.write(line)
        else:
            print(line, flush=True)

    def _next_batch(self) -> Optional[Tensor]:
        """Row indices of the next minibatch (``None`` = full batch)."""
        if self.batch_size is None or self.batch_size >= self.X.shape[0]:
            return None
        if not self._batch_queue:
            perm = torch.randperm(self.X.shape[0], generator=self._gen).to(self.X.device)
            self._batch_queue = list(perm.split(self.batch_size))[::-1]
        return self._batch_queue.pop()

    def _loss(self, idx: Optional[Tensor]) -> Tensor:
        """``F`` on the batch ``idx`` plus the scaled coupling term (docs/admm.md §2(a))."""
        Xb, yb = (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])
        net = self.theta
        data = (mse(net(Xb), yb) if self._data_loss is None
                else self._data_loss.value(net(Xb), yb).mean())
        W, b, alpha = net.hidden.weight, net.hidden.bias, self._alpha()
        loss = training_loss(data, (W, b, alpha), beta=self.beta)
        return loss + _augmented_penalty(W, alpha, self.Z, self.a, self.U_W, self.U_alpha,
                                         self.penalty)

    # ------------------------------------------------------------------ the four steps
    def _loss_step(self) -> float:
        """(a) ``loss_steps`` Adam steps on θ; returns the full-data loss at the end."""
        self.theta.train()
        for _ in range(self.loss_steps):
            idx = self._next_batch()
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss(idx)
            if not bool(torch.isfinite(loss)):
                raise FloatingPointError(f"the loss step diverged at iteration "
                                         f"{self.iteration + 1} (loss {float(loss)}); lower lr "
                                         f"(now {self.lr:g}) or penalty (now {self.penalty:g})")
            loss.backward()
            self.optimizer.step()
        self.theta.eval()
        with torch.no_grad():
            return float(self._loss(None))

    def _sdp_and_dual_step(self, t: np.ndarray) -> SDPStepResult:
        """(c) the SDP step at ``V = (W̄ + U_W, α + U_α)`` with ``T = diag(t)``; (d) the dual
        update. Touches only ``Z``, ``a``, ``U``; θ (so ``b`` and ``c``) is left as it is."""
        W = self.theta.hidden.weight.detach()
        alpha = self._alpha().detach()
        res = sdp_step(W + self.U_W, alpha + self.U_alpha, t, self.lam / self.penalty,
                       program=self._program, solver=self._sdp_solver)
        self.Z = res.Z.to(W.device)
        self.a = res.a.to(W.device)
        self.U_W = self.U_W + W - self.Z
        self.U_alpha = self.U_alpha + alpha - self.a
        return res

    @outside_inference_mode
    def step(self) -> ADMMRecord:
        """Run ONE ADMM iteration (docs/admm.md §2 (a)–(d)) and append its history row.

        Returns:
            The new :class:`ADMMRecord`.

        Raises:
            SolverError: LipSDP or the SDP step failed; FloatingPointError: the loss
            step diverged. In both cases the state is rolled back to before the call.
        """
        saved = (copy.deepcopy(self.theta.state_dict()),
                 copy.deepcopy(self.optimizer.state_dict()),
                 self.Z, self.a, self.U_W, self.U_alpha, self.t,
                 list(self._batch_queue), self._gen.get_state())
        try:
            return self._step()
        except BaseException:
            (theta_state, opt_state, self.Z, self.a, self.U_W, self.U_alpha, self.t,
             self._batch_queue, gen_state) = saved
            self.theta.load_state_dict(theta_state)
            self.optimizer.load_state_dict(opt_state)
            self._gen.set_state(gen_state)
            raise

    def _step(self) -> ADMMRecord:
        k = self.iteration + 1
        Z_prev, a_prev = self.Z, self.a
        # (a) loss step
        tic = time.perf_counter()
        loss = self._loss_step()
        loss_time = time.perf_counter() - tic
        # (b) T refresh; the same certificate scores J_k
        w = self._weights()
        tic = time.perf_counter()
        cert = self._certify(w)
        lipsdp_time = time.perf_counter() - tic
        t = cert.t.copy()
        J = score(w, self.X.cpu(), self.y.cpu(), lam=self.lam, beta=self.beta, rho=cert.rho,
                  loss=self._data_loss)
        # (c) SDP step and (d) dual update
        res = self._sdp_and_dual_step(t)
        # bookkeeping: the copy network (Zᵏ, bᵏ, aᵏ, cᵏ) with its own fresh certificate
        Z, a = self.Z.to(**_CPU64), self.a.to(**_CPU64)
        w_copy = ShallowWeights(Z, w.b, a, w.c)
        tic = time.perf_counter()
        cert_copy = self._certify(w_copy)
        copy_time = time.perf_counter() - tic
        J_copy = score(w_copy, self.X.cpu(), self.y.cpu(), lam=self.lam, beta=self.beta,
                       rho=cert_copy.rho, loss=self._data_loss)
        r = math.sqrt(float(((w.W - Z) ** 2).sum() + ((w.alpha - a) ** 2).sum()))
        s = self.penalty * math.sqrt(float(((Z - Z_prev.to(**_CPU64)) ** 2).sum()
                                           + ((a - a_prev.to(**_CPU64)) ** 2).sum()))
        u = math.sqrt(float((self.U_W ** 2).sum() + (self.U_alpha ** 2).sum()))
        t_min, t_max = _t_range(t)
        rec = ADMMRecord(
            iteration=k, objective=J.value, mse=J.mse, l2=J.l2, rho=J.rho, L=cert.L,
            sdp_rho=res.rho, sdp_phi=phi_T(Z, a, t), copy_objective=J_copy.value,
            copy_rho=cert_copy.rho, primal_residual=r, dual_residual=s, dual_norm=u,
            lmi_min_eig=res.min_eig, t_min=t_min, t_max=t_max, loss=loss,
            lipsdp_status=cert.status, sdp_status=res.status, loss_time=loss_time,
            lipsdp_time=lipsdp_time, sdp_time=res.solve_time, copy_time=copy_time,
            time=self._elapsed())
        # commit
        self.t = t
        self.iteration = k
        self._history.append(rec)
        self._last = (w, cert)
        if J.value < self._best[0]:
            self._best = (J.value, k, w, cert)
        self._log(rec)
        return rec

    # ------------------------------------------------------------------ driver
    def _converged(self) -> Optional[str]:
        """The stopping rule of docs/admm.md §3, checked after each iteration of :meth:`run`."""
        k = self.iteration
        if k >= self.max_iter:
            return f"reached max_iter={self.max_iter}"
        if k < self.min_iter or k < self.patience:
            return None

        def small(i: int) -> bool:         # history row i against row i - 1 (row 0: the start)
            L, L_prev = self._history[i].L, self._history[i - 1].L
            # the code's "continue while |ΔL| >= δ_L" stops at |ΔL| < δ_L; the relative rule of
            # docs/admm.md §3 stops at |ΔL| <= tol·L_(k-1)
            return (abs(L - L_prev) < self.delta_L if self.delta_L is not None
                    else abs(L - L_prev) <= self.tol * L_prev)

        if not all(small(len(self._history) - j) for j in range(1, self.patience + 1)):
            return None
        times = "" if self.patience == 1 else f" for {self.patience} iterations"
        if self.delta_L is not None:
            L, L_prev = self._history[-1].L, self._history[-2].L
            return f"converged: |L_k - L_(k-1)| = {abs(L - L_prev):.3g} < delta_L{times}"
        return f"converged: |L_k - L_(k-1)| <= tol*L_(k-1) (tol={self.tol:g}){times}"

    @outside_inference_mode
    def run(self, progress: Optional[bool] = None) -> ADMMResult:
        """Iterate until the stopping rule (docs/admm.md §3) and return the result.

        ``progress``: a tqdm bar over the iterations (up to ``max_iter``) on stderr, showing ``J``
        and ``L``: ``None`` (default) when stderr is a terminal, ``True``/``False`` always/never.

        At least ``min_iter`` iterations in total (counting earlier :meth:`step` calls), then
        until ``|L_k − L_{k−1}| ≤ tol·L_{k−1}`` (or ``< delta_L``) has held for ``patience``
        consecutive iterations, at most ``max_iter`` in total.
        A solver failure or a diverging loss step after the first completed iteration stops the
        run with a ``RuntimeWarning`` and keeps everything computed so far (the state is rolled
        back to the last complete iteration, and ``message`` says what happened).

        Raises:
            SolverError, FloatingPointError: in the very first iteration (nothing to
            return yet).
        """
        show = check_progress(progress)
        message = self._converged()
        with progress_bar(show, self.max_iter, "ADMM") as bar:
            bar.update(self.iteration)      # iterations done by earlier step() calls
            self._bar: Optional[ProgressBar] = bar
            try:
                while message is None:
                    try:
                        r = self.step()
                    except (SolverError, FloatingPointError) as exc:
                        if self.iteration == 0:
                            raise
                        warnings.warn(f"ADMM stopped at iteration {self.iteration + 1}: {exc}",
                                      RuntimeWarning, stacklevel=2)
                        message = f"stopped at iteration {self.iteration + 1}: {exc}"
                        break
                    bar.update(1, J=r.objective, L=r.L)
                    message = self._converged()
            finally:
                self._bar = None
        return self.result(message)

    @outside_inference_mode
    def result(self, message: str = "") -> ADMMResult:
        """The current result: a new model per ``select`` with a fresh certificate.

        The model is cast to the input model's device and dtype; if that changes the weights
        (dtype other than float64) the cast weights are certified afresh.
        """
        if self.select == "best":
            _, k, w, cert = self._best
        else:
            (w, cert), k = self._last, self.iteration
        out = ShallowReLU.from_weights(w, device=self._out_device, dtype=self._out_dtype)
        w_out = out.weights().to(**_CPU64)
        if not all(torch.equal(getattr(w_out, f), getattr(w, f)) for f in ("W", "b", "alpha")):
            cert = self._certify(w_out)
        J = score(w_out, self.X.cpu(), self.y.cpu(), lam=self.lam, beta=self.beta, rho=cert.rho,
                  loss=self._data_loss)
        return ADMMResult(
            model=out, history=list(self._history), certificate=cert, objective=J,
            selected_iteration=k, message=message, lam=self.lam, beta=self.beta,
            penalty=self.penalty, select=self.select, wall_time=self._elapsed())

    @property
    def history(self) -> list[ADMMRecord]:
        """All rows so far (a copy of the list; row 0 is the start)."""
        return list(self._history)

    @property
    def copy_weights(self) -> ShallowWeights:
        """The copy network ``(Z, b, a, c)`` (float64, CPU), the one the SDP step's ρ certifies."""
        w = self._weights()
        return ShallowWeights(self.Z.to(**_CPU64), w.b, self.a.to(**_CPU64), w.c)

    def __repr__(self) -> str:
        r = self._history[-1]
        return (f"ADMM(iteration={self.iteration}, J={r.objective:.6g}, L={r.L:.6g}, "
                f"lam={self.lam:g}, beta={self.beta:g}, penalty={self.penalty:g})")
