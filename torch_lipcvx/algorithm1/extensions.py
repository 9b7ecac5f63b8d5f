"""Extensions of Algorithm 1 (docs/algorithm1.md §3), and the "samp-lip" baseline.

The extensions of docs/algorithm1.md §3: an α-step (with W̃ and T fixed, (12) is also convex in
α, signs free); re-extracting patterns after a step; continuing with SGD or ADMM and
post-processing again —
each step a convex problem, so descent is kept. This module adds the first two and a driver:

* :func:`alpha_step`: the hidden layer ``W̃`` fixed, minimise
  ``(1/n)‖f(X) − y‖² + λρ + (β/2)Σ_j α_j²`` over the outer weights ``α`` (signs free), the output
  bias and ``ρ``, subject to the Schur-form LipSDP LMI of docs/lipsdp.md, which is linear in
  ``(α, ρ)`` for fixed ``W̄`` and ``T`` (:class:`~torch_lipcvx._engine.programs.AlphaRestriction`).
  ``t_mode="fixed"`` keeps ``T`` from the current certificate (the step as docs/algorithm1.md §3.1
  states it); ``t_mode="free"`` (default) optimises ``T`` too, which stays convex because with
  ``W̄`` fixed the LMI is jointly linear in ``(ρ, t, α)``; it can only do better.
* :func:`flip_ties` / :func:`pattern_step`: pattern re-extraction. After a solve of (12) many data
  points sit on the boundary of their unit's pattern cone (``w̃_jᵀx̃_i = 0``, the constraint is
  active). Such a point contributes 0 to the output whichever side it is assigned to, so the
  current network stays feasible (up to solver tolerance) when those points change sides.
  :func:`flip_ties` re-extracts the patterns with every near-tie flipped to the other side of the
  pattern the last solve used, and :func:`pattern_step` solves (12) once with those patterns and
  the current certificate ``T``: the units may now cross the boundaries that stopped them.
* :func:`postprocess_extended`: alternates the W-step (the public
  :func:`torch_lipcvx.postprocess`, Algorithm 1, which re-extracts the patterns of the network it
  is given), the α-step and the re-extraction step, for ``max_rounds`` rounds.
* :func:`sampled_lipschitz`: "samp-lip", Algorithm 1 run on randomly sampled patterns used for both
  signs (the paper's Table 1; design below). It carries **no** guarantee relative to the input.

Guarantee (driver): every candidate (the output of each step) is scored on the network itself,
with a fresh LipSDP certificate re-verified in float64 and the float64 MSE
(``J = mse + (β/2)·l2 + λ·ρ``, docs/conventions.md §2, the same scoring as
:func:`torch_lipcvx.postprocess`), and is accepted only if ``J`` does not increase. So
``history[k].objective`` is non-increasing and the returned network is never worse than the input.
The input model is never modified; results come back on its device and dtype (each candidate rounded
to that dtype before it is scored); the maths runs in float64.

samp-lip design. The paper (§4) says samp-lip "randomly samples 50 among 100 activation patterns
of the pre-trained SNN and sets P = N = sample" and runs Algorithm 1, whose restriction (12) keeps
the outer-weight magnitudes ``|α|`` of the base network. We therefore build a network of ``2k``
units: for each sampled unit ``j``, a copy ``(w̃_j, +|α_j|)`` and a copy ``(w̃_j, −|α_j|)``. Each
copy has pattern ``D_j`` by construction, so this network is a feasible point of (12) for the
multisets P = N = sample, and its LipSDP certificate gives a feasible ``T``. Its output is the
constant ``c`` (the copies cancel): the starting point is the constant predictor. Algorithm 1
(:func:`torch_lipcvx.postprocess`) then alternates LipSDP and (12) from it; its ``J`` never
increases from the *start*, but nothing relates it to the base network's ``J``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np
import torch
from torch import Tensor, nn

from .. import defaults
from .._checks import check_nonneg, check_patterns, check_positive_int, check_seed
from .._progress import check_progress, progress_bar
from ..bounds import LipSDPResult
from .descent import Certifier, Descent, ObjectiveHistory, Verdict
from ..models import ShallowReLU, ShallowWeights, activation_patterns, augment, sign_order
from ..objective import Objective, check_inputs, score
from .postprocess import PostProcessResult, postprocess
from .._engine.programs import (DEFAULT_SOLVER, AlphaRestriction, LipschitzRestriction,
                               SolverError)
from ..solvers import Solver, SolverLike

__all__ = [
    "AlphaStepResult",
    "ExtendedRecord",
    "ExtendedResult",
    "SampledLipResult",
    "alpha_step",
    "flip_ties",
    "pattern_step",
    "postprocess_extended",
    "sampled_lipschitz",
]

_CPU64 = dict(device="cpu", dtype=torch.float64)
#: α-step outputs with |α_j| at most this fraction of max |α| are set to 0 (see _alpha_candidate).
_ALPHA_SNAP = 1e-5


# ------------------------------------------------------------------------------- solver names
def _resolve_solver(solver: SolverLike, options: Optional[dict]) -> tuple[Solver, Solver]:
    """``(for postprocess and the certificates, for the cvxpy programs built here)``, parsed once.

    ``"auto"``/``"torch"`` (the torch solvers) go to :func:`torch_lipcvx.postprocess` and to the
    certificates unchanged; the α-step and the re-extraction step are cvxpy programs and use
    :attr:`Solver.cvxpy <torch_lipcvx.solvers.Solver.cvxpy>` then: the default cvxpy solver with
    cvxpy's defaults (the options are the torch solvers', e.g. the interior point's ``tol``,
    which Clarabel refuses).
    """
    outer = Solver.parse(solver, options)
    return outer, outer.cvxpy


# ------------------------------------------------------------------------------------ results
@dataclass
class AlphaStepResult:
    """One α-step (no acceptance test applied; :func:`postprocess_extended` applies one).

    Attributes:
        model: the candidate network (a NEW :class:`ShallowReLU`, input's device and dtype).
        weights: its float64 CPU weights.
        objective: its ``J`` with a fresh certificate (:class:`~torch_lipcvx.Objective`).
        objective_before: ``J`` of the input network, scored the same way.
        certificate: the fresh certificate of the candidate.
        t: ``(m,)`` the T of the step (the certificate's when fixed, the solver's when free; zeros
            on frozen units).
        solver_value: the solver's objective (information only).
        status, solve_time: what the solver said, wall seconds.
    """

    model: ShallowReLU
    weights: ShallowWeights
    objective: Objective
    objective_before: Objective
    certificate: LipSDPResult
    t: Optional[np.ndarray]
    solver_value: float
    status: str
    solve_time: float

    def __repr__(self) -> str:
        return (f"AlphaStepResult(J {self.objective_before.value:.6g} -> "
                f"{self.objective.value:.6g}, L={self.objective.L:.6g}, status={self.status!r}, "
                f"solve_time={self.solve_time:.3g}s, model=ShallowReLU({self.model.extra_repr()}))")

    @property
    def improvement(self) -> float:
        """``(J_before − J_after) / J_before`` (≥ 0 up to solver tolerance)."""
        j0 = self.objective_before.value
        return (j0 - self.objective.value) / j0 if j0 > 0 else 0.0


@dataclass(frozen=True)
class ExtendedRecord:
    """One candidate of :func:`postprocess_extended` (accepted or not).

    ``round`` 0 is the input; ``step`` is ``"input"``, ``"w-step"`` (Algorithm 1, possibly several
    restriction solves), ``"alpha-step"`` or ``"reextract"``. ``objective`` etc. describe the
    candidate; ``time`` is wall seconds since the start; ``step_time`` the step's own seconds.
    """

    round: int
    step: str
    objective: float
    mse: float
    l2: float
    rho: float
    L: float
    accepted: bool
    time: float
    step_time: float
    note: str = ""

    def __repr__(self) -> str:
        return (f"ExtendedRecord(round {self.round}, {self.step}: J={self.objective:.6g}, "
                f"L={self.L:.6g}, {'accepted' if self.accepted else 'rejected'}, "
                f"t={self.time:.3g}s)")

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> "ExtendedRecord":
        """The record of a scored candidate
        (:meth:`~torch_lipcvx.algorithm1.descent.Descent.consider`)."""
        J = verdict.objective
        return cls(verdict.iteration, verdict.step, J.value, J.mse, J.l2, J.rho, J.L,
                   verdict.accepted, verdict.time, verdict.solve_time, verdict.note)


@dataclass
class ExtendedResult(ObjectiveHistory):
    """What :func:`postprocess_extended` returns.

    Attributes:
        model: a NEW :class:`ShallowReLU` (input's device and dtype); the input (reordered,
            ``α > 0`` first) if nothing improved.
        history: the accepted candidates, ``history[0]`` the input; ``objective`` non-increasing.
        candidates: every candidate, accepted or rejected, in order (the full history).
        certificate: the fresh LipSDP certificate of ``model``.
        message: why the loop stopped.
    """

    model: ShallowReLU
    history: list[ExtendedRecord]
    candidates: list[ExtendedRecord] = field(default_factory=list)
    certificate: Optional[LipSDPResult] = None
    message: str = ""
    lam: float = 0.0
    beta: float = 0.0

    def step_gains(self) -> dict[str, float]:
        """Total decrease of ``J`` contributed by each kind of step (accepted candidates)."""
        gains: dict[str, float] = {}
        for prev, rec in zip(self.history, self.history[1:]):
            gains[rec.step] = gains.get(rec.step, 0.0) + (prev.objective - rec.objective)
        return gains

    def history_table(self, all_candidates: bool = False) -> dict[str, list]:
        """The history (or every candidate) as columns."""
        rows = self.candidates if all_candidates else self.history
        keys = ExtendedRecord.__dataclass_fields__.keys()
        return {k: [getattr(r, k) for r in rows] for k in keys}

    def __repr__(self) -> str:
        n_rej = sum(not r.accepted for r in self.candidates)
        return (f"ExtendedResult(J {self.objective_before:.6g} -> {self.objective_after:.6g} "
                f"({100 * self.improvement:.2f}% lower), accepted={len(self.history) - 1}, "
                f"rejected={n_rej}, L={self.history[-1].L:.6g}, message={self.message!r})")


@dataclass
class SampledLipResult:
    """What :func:`sampled_lipschitz` ("samp-lip") returns.

    Attributes:
        model: the final network (``2k`` units; input's device and dtype).
        result: Algorithm 1's :class:`~torch_lipcvx.PostProcessResult` from the start network.
        start: the start network (the sampled units, each with ``±|α_j|``; it predicts ``c``).
        sample: ``(k,)`` indices of the sampled units of the input model.
        objective_input: ``J`` of the input model (for comparison only: no guarantee).
        seed: the sampling seed.
    """

    model: ShallowReLU
    result: PostProcessResult
    start: ShallowReLU
    sample: np.ndarray
    objective_input: Objective
    seed: int

    @property
    def objective(self) -> float:
        return self.result.objective_after

    def __repr__(self) -> str:
        return (f"SampledLipResult(k={self.sample.size}, J input {self.objective_input.value:.6g},"
                f" start {self.result.objective_before:.6g} -> {self.objective:.6g})")


# ------------------------------------------------------------------------------- pure helpers
def _hidden_features(X: Tensor, w: ShallowWeights) -> Tensor:
    """``H = relu(X W̄ᵀ + b)``, ``(n, m)`` float64."""
    return torch.relu(X @ w.W.T + w.b)


def flip_ties(X: Tensor, weights: ShallowWeights, previous: Tensor, *,
              tie_tol: float = 1e-6) -> Tensor:
    """Re-extract activation patterns, flipping the points that sit on a unit's boundary.

    For unit ``j`` a point ``i`` is a near-tie when ``|w̃_jᵀx̃_i| ≤ tie_tol · max_i |w̃_jᵀx̃_i|``.
    Near-ties get the opposite of ``previous[i, j]`` (the pattern the last solve of (12) used);
    every other point gets its actual side (``w̃_jᵀx̃_i ≥ 0``). Near-ties contribute
    ``relu(≈0) ≈ 0`` either way, so the network stays feasible for the new patterns up to
    ``tie_tol`` (exactly for exact ties).

    Args:
        X: ``(n, d)`` float64 data; weights: the network (float64); previous: ``(n, m)`` bool.
        tie_tol: relative tie tolerance ``≥ 0``.

    Returns:
        ``(n, m)`` boolean patterns.

    Raises:
        ValueError: shapes that do not match the network, ``previous`` not boolean (or 0/1),
            ``tie_tol`` negative or NaN.
    """
    tie_tol = check_nonneg(tie_tol, "tie_tol")
    previous = check_patterns(previous, "previous").cpu()
    if X.dim() != 2 or X.shape[1] != weights.d or previous.shape != (X.shape[0], weights.m):
        raise ValueError(f"X must be (n, {weights.d}) and previous (n, {weights.m}) for this "
                         f"network, got shapes {tuple(X.shape)} and {tuple(previous.shape)}")
    Z = augment(X) @ weights.W_tilde.T
    scale = Z.abs().amax(0, keepdim=True)
    near = Z.abs() <= tie_tol * scale
    own = Z >= 0
    return torch.where(near, ~previous.to(Z.device), own)


def _frozen_split(w: ShallowWeights, t: Optional[np.ndarray], t_mode: str) -> Tensor:
    """Units the α-step may change: ``w̄_j ≠ 0`` (a unit with ``w̄_j = 0`` is a constant, absorbed
    by the output bias), and with ``t_mode="fixed"`` also ``t_j > 0`` (``t_j = 0`` forces
    ``α_j = 0`` in the LMI)."""
    free = w.W.abs().sum(1) > 0
    if t_mode == "fixed" and t is not None:
        free &= torch.as_tensor(t) > 0
    return free


# ------------------------------------------------------------------------------------ α-step
def _alpha_candidate(w: ShallowWeights, X: Tensor, y: Tensor, lam: float, beta: float,
                     t: Optional[np.ndarray], t_mode: str, solver: Solver, options: Optional[dict],
                     form: str = "reduced", cache: Optional[dict] = None
                     ) -> tuple[ShallowWeights, Optional[np.ndarray], float, str, float]:
    """Solve the α-step from float64 weights ``w``; return ``(weights, t, value, status, time)``."""
    free = _frozen_split(w, t, t_mode)
    idx = torch.nonzero(free)[:, 0]
    H = _hidden_features(X, w)
    frozen_out = H[:, ~free] @ w.alpha[~free]
    r = (y - frozen_out).numpy()
    m_free = int(idx.numel())
    if m_free == 0:
        raise ValueError("no unit the alpha-step can change (every w_j is zero or has t_j = 0)")
    key = (X.shape[0], m_free, w.d, lam, beta, w.c is not None, t_mode, form)
    program = None if cache is None else cache.get(key)
    if program is None:
        program = AlphaRestriction(X.shape[0], m_free, w.d, lam, beta, w.c is not None,
                                   t_mode=t_mode, form=form)
        if cache is not None:
            cache.clear()
            cache[key] = program
    t_in = None if t is None else np.asarray(t, dtype=float)[idx.numpy()]
    alpha_f, c, _, t_f, info = program.solve(H[:, idx].numpy(), r, w.W[idx].numpy(), t_in,
                                             solver, options)
    # An interior-point solver leaves outer weights that should be 0 at ~1e-6 of the largest;
    # such units make LipSDP ill-conditioned (certificates then vary at ~1e-6 relative), so they
    # are set to 0 (the output moves by less than that; the candidate is scored afterwards).
    alpha_f = np.where(np.abs(alpha_f) <= _ALPHA_SNAP * np.abs(alpha_f).max(initial=0.0), 0.0,
                       alpha_f)
    alpha = w.alpha.clone()
    alpha[idx] = torch.as_tensor(alpha_f)
    new = ShallowWeights(w.W, w.b, alpha, None if c is None else torch.tensor(c, **_CPU64))
    t_full = None
    if t_f is not None:
        t_full = np.zeros(w.m)
        t_full[idx.numpy()] = t_f
    return new, t_full, info.value, info.status, info.solve_time


def alpha_step(model: nn.Module, X, y, *, lam: float, beta: float = 0.0,
               t_mode: Literal["free", "fixed"] = "free", form: Literal["reduced", "schur"] =
               "reduced", solver: SolverLike = DEFAULT_SOLVER,
               solver_options: Optional[dict] = None) -> AlphaStepResult:
    """One α-step (docs/algorithm1.md §3.1): the hidden layer fixed, the outer weights optimised.

    Solves, over ``α`` (signs free; units with ``w̄_j = 0`` are left as they are), the output bias
    and ``ρ`` (and ``T`` when ``t_mode="free"``),

        min (1/n)‖relu(X̃W̃ᵀ)α + c − y‖² + λρ + (β/2)‖α‖²
        s.t. [[ρI, −W̄ᵀT, 0], [−TW̄, 2T, −α], [0, −αᵀ, 1]] ⪰ 0,

    with ``T`` from the input's LipSDP certificate (``"fixed"``) or free (``"free"``; convex
    because the LMI is jointly linear in ``(ρ, t, α)`` for fixed ``W̄``). The input network is
    feasible with its own certified ``ρ``, so the optimum is never above the input's ``J``; the
    candidate is scored with a fresh certificate (up to solver tolerance it is not above either).

    Args:
        model: :class:`ShallowReLU` or a conforming ``nn.Sequential``; never modified.
        X: ``(n, d)``; y: ``(n,)``; any float dtype and device (computed in float64 on the CPU).
        lam: λ ≥ 0 (``0``: no Lipschitz term, a least-squares/ridge step); beta: β ≥ 0.
        t_mode: ``"free"`` (default) or ``"fixed"``.
        form: ``"reduced"`` (default; LMI of size d + 1) or ``"schur"`` (size d + m + 1).
        solver, solver_options: ``"CLARABEL"``/``"SCS"`` for the program and the certificates;
            with ``"auto"``/``"torch"`` the certificates use the torch solvers and the program
            the default cvxpy solver, with its default settings (``solver_options`` are then
            the torch solvers', as everywhere in the library).

    Returns:
        :class:`AlphaStepResult` (the candidate, not yet accepted or rejected).

    Raises:
        ValueError: bad shapes, NaN/Inf, negative ``lam``/``beta``, unknown ``t_mode``/``form``,
            no unit that can change.
        SolverError: the solver failed.
    """
    net, w, X, y, lam, beta = check_inputs(model, X, y, lam, beta,
                                           one_output="alpha_step")
    if t_mode not in ("free", "fixed"):
        raise ValueError(f"t_mode must be 'free' or 'fixed', got {t_mode!r}")
    if form not in ("reduced", "schur"):
        raise ValueError(f"form must be 'reduced' or 'schur', got {form!r}")
    outer, own = _resolve_solver(solver, solver_options)
    certify = Certifier(outer, solver_options)
    cert0 = certify(w)
    J0 = score(w, X, y, lam=lam, beta=beta, rho=cert0.rho)
    t = cert0.t if (lam > 0 and t_mode == "fixed") else None
    new, t_out, value, status, sec = _alpha_candidate(w, X, y, lam, beta, t, t_mode, own,
                                                      own.options_or_none,
                                                      form)
    new = new.rounded(net.dtype)              # certify the weights that will be returned
    cert = certify(new)
    J = score(new, X, y, lam=lam, beta=beta, rho=cert.rho)
    out = ShallowReLU.from_weights(new, device=net.device, dtype=net.dtype)
    return AlphaStepResult(
        model=out, weights=new, objective=J, objective_before=J0, certificate=cert, t=t_out,
        solver_value=value, status=status, solve_time=sec)


# ----------------------------------------------------------------------- re-extraction step
def _pattern_candidate(w: ShallowWeights, X: Tensor, y: Tensor, D: Tensor, t: np.ndarray,
                       lam: float, beta: float, solver: Solver, options: Optional[dict]
                       ) -> tuple[ShallowWeights, float, str, float]:
    """One solve of (12) with patterns ``D (n, m)`` and ``T = diag(t)``; units with ``α_j = 0``
    are left out (they change neither f nor the certificate)."""
    act = w.alpha != 0
    if not bool(act.any()):
        raise ValueError("no unit has a nonzero outer weight: the restriction (12) has nothing "
                         "to optimise")
    ai = torch.nonzero(act)[:, 0]
    program = LipschitzRestriction(X.numpy(), y.numpy(), D[:, ai].numpy().astype(float),
                                   w.alpha[ai].numpy(), lam, beta, w.c is not None)
    Wt_a, c, _, info = program.solve(np.asarray(t, dtype=float)[ai.numpy()], solver, options)
    Wt = w.W_tilde.clone()
    Wt[ai] = torch.as_tensor(Wt_a)
    if beta > 0:
        Wt[~act] = 0.0
    new = ShallowWeights.from_tilde(Wt, w.alpha, None if c is None else torch.tensor(c, **_CPU64))
    return new, info.value, info.status, info.solve_time


def pattern_step(model: nn.Module, X, y, patterns: Tensor, *, lam: float, beta: float = 0.0,
                 solver: SolverLike = DEFAULT_SOLVER, solver_options: Optional[dict] = None
                 ) -> tuple[ShallowReLU, Objective, Objective]:
    """Solve the restriction (12) once with the given patterns and the model's own certificate T.

    Args:
        model: the current network (never modified); X: ``(n, d)``; y: ``(n,)``.
        patterns: ``(n, m)`` boolean, e.g. from :func:`flip_ties`. When the model is (nearly)
            feasible for them, the optimum is (nearly) never worse than the model.
        lam: λ > 0; beta: β ≥ 0; solver, solver_options: as :func:`alpha_step`.

    Returns:
        ``(candidate, J_candidate, J_model)``, both ``J`` scored with fresh certificates.

    Raises:
        ValueError: bad shapes or NaN/Inf in ``X``/``y``/the weights, ``patterns`` not
            ``(n, m)`` or not boolean (or 0/1), ``lam ≤ 0``, ``beta < 0``, no unit with a nonzero
            outer weight.
        SolverError: the solver failed.
    """
    net, w, X, y, lam, beta = check_inputs(model, X, y, lam, beta,
                                           one_output="pattern_step")
    if lam <= 0:
        raise ValueError(f"lam must be > 0 for the restriction (12), got {lam!r}")
    patterns = check_patterns(patterns, "patterns").cpu()
    if patterns.shape != (X.shape[0], w.m):
        raise ValueError(f"patterns must have shape {(X.shape[0], w.m)}, "
                         f"got {tuple(patterns.shape)}")
    outer, own = _resolve_solver(solver, solver_options)
    certify = Certifier(outer, solver_options)
    cert0 = certify(w)
    J0 = score(w, X, y, lam=lam, beta=beta, rho=cert0.rho)
    new, _, _, _ = _pattern_candidate(w, X, y, patterns, cert0.t, lam, beta, own,
                                      own.options_or_none)
    new = new.rounded(net.dtype)              # score the weights that will be returned
    J = score(new, X, y, lam=lam, beta=beta, rho=certify(new).rho)
    return ShallowReLU.from_weights(new, device=net.device, dtype=net.dtype), J, J0


# ------------------------------------------------------------------------------------ driver
def postprocess_extended(model: nn.Module, X, y, *, lam: float, beta: float = defaults.BETA,
                         alpha_step: bool = True, reextract: bool = True,
                         t_mode: Literal["free", "fixed"] = "free", max_rounds: int = 5,
                         w_max_iter: int = defaults.MAX_ITER, tol: float = defaults.TOL,
                         tie_tol: float = 1e-6,
                         solver: SolverLike = DEFAULT_SOLVER, solver_options: Optional[dict] = None,
                         verbose: bool = False,
                         progress: Optional[bool] = None) -> ExtendedResult:
    """Algorithm 1 with an α-step and pattern re-extraction, never worse than the input.

    Each round runs, in order:

    1. **W-step**: :func:`torch_lipcvx.postprocess` (Algorithm 1: LipSDP and the restriction (12)
       alternated, at most ``w_max_iter`` solves, stopping at relative decrease ``tol``) from the
       current network, with the patterns of that network (so every round re-extracts them);
    2. **α-step** (``alpha_step=True``): :func:`alpha_step` with ``t_mode``;
    3. **re-extraction** (``reextract=True``): :func:`flip_ties` on the patterns the W-step used,
       then :func:`pattern_step` with the current certificate.

    Every candidate is scored with a fresh certificate and accepted only if ``J`` does not
    increase. The loop stops after ``max_rounds`` rounds or when a round lowers ``J`` by less than
    ``tol`` relative. A solver failure in a step rejects that step's candidate (with a warning)
    and the loop goes on.

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(·, 1))``; never
            modified.
        X: ``(n, d)`` training inputs; y: ``(n,)`` targets (any float dtype/device; float64 maths).
        lam: λ > 0 (the Lipschitz case; use :func:`torch_lipcvx.postprocess` for the ℓ2 case).
        beta: β ≥ 0.
        alpha_step, reextract: which extra steps to run (both off = Algorithm 1 restarted each
            round from its own output, which changes nothing but tie assignments).
        t_mode: the α-step's T (``"free"``, default, or ``"fixed"``).
        max_rounds: rounds at most (≥ 1). w_max_iter: restriction solves per W-step (≥ 1).
        tol: relative decrease per round (and per W-step) below which to stop.
        tie_tol: relative tolerance of :func:`flip_ties`.
        solver, solver_options: passed to :func:`torch_lipcvx.postprocess` (``"auto"`` too, when
            it accepts it); the programs and certificates built here use the concrete solver.
            With ``"auto"``/``"torch"`` the options are the torch solvers' (e.g. the interior
            point's ``tol``), and the cvxpy programs here (α-step, re-extraction) run with
            cvxpy's defaults.
        verbose: one line per candidate.
        progress: a tqdm bar over the rounds on stderr: ``None`` (default) when stderr is a
            terminal, ``True``/``False`` always/never.

    Returns:
        :class:`ExtendedResult`.

    Raises:
        ValueError: bad shapes, NaN/Inf, ``lam ≤ 0``, ``beta < 0``, bad counts or tolerances.
        SolverError: the very first LipSDP failed.
    """
    start = time.perf_counter()
    net, w, X, y, lam, beta = check_inputs(model, X, y, lam, beta,
                                           one_output="postprocess_extended")
    if lam <= 0:
        raise ValueError(f"lam must be > 0 (the Lipschitz case), got {lam!r}; for the l2 case "
                         "use torch_lipcvx.postprocess")
    max_rounds = check_positive_int(max_rounds, "max_rounds")
    w_max_iter = check_positive_int(w_max_iter, "w_max_iter")
    tol = check_nonneg(tol, "tol")
    tie_tol = check_nonneg(tie_tol, "tie_tol")
    if t_mode not in ("free", "fixed"):
        raise ValueError(f"t_mode must be 'free' or 'fixed', got {t_mode!r}")
    show = check_progress(progress)
    outer_solver, own = _resolve_solver(solver, solver_options)
    certify = Certifier(outer_solver, solver_options)
    # with the torch solvers, solver_options are theirs (postprocess's interior point): the cvxpy
    # programs built here then run with cvxpy's defaults, as postprocess's cvxpy fallbacks do
    own_options = own.options_or_none

    w = w.permute(sign_order(w.alpha))
    descent = Descent(w, X, y, lam=lam, beta=beta, certify=certify, dtype=net.dtype, start=start,
                      record=ExtendedRecord.from_verdict)
    candidates = [descent.history[0]]
    alpha_cache: dict = {}
    bar = progress_bar(show, max_rounds, "Algorithm 1 (extended)", unit="round")
    if verbose:
        _log_candidate(bar, candidates[0])

    message = f"reached max_rounds={max_rounds}"
    with bar:
        for k in range(1, max_rounds + 1):
            J_round = descent.J.value
            # 1. W-step: Algorithm 1 from the current network, with its own (re-extracted) patterns
            order = sign_order(descent.w.alpha)
            if not torch.equal(order, torch.arange(descent.w.m)):
                # units reordered (the α-step may flip signs): permute t with them (ρ is invariant)
                descent.reorder(order)
            w = descent.w
            D_used = activation_patterns(X, w)
            tic = time.perf_counter()
            try:
                # float64 on the model's device: the torch solvers run where the model lives (the
                # candidate is rounded to the model's dtype and re-scored by the descent)
                res = postprocess(ShallowReLU.from_weights(w, device=net.device), X, y, lam=lam,
                                  beta=beta, max_iter=w_max_iter, tol=tol, solver=outer_solver,
                                  solver_options=solver_options, progress=False)
                cand = res.model.weights().to(**_CPU64)
                _consider(descent, candidates, cand, k, "w-step", time.perf_counter() - tic,
                          f"{len(res.history) - 1} restriction solve(s) accepted", verbose, bar)
            except (SolverError, ValueError) as exc:
                _failed(candidates, k, "w-step", exc, time.perf_counter() - tic,
                        descent.start, verbose, bar)
            # 2. α-step
            if alpha_step:
                tic = time.perf_counter()
                try:
                    t = descent.cert.t if t_mode == "fixed" else None
                    cand, _, _, status, _ = _alpha_candidate(descent.w, X, y, lam, beta, t, t_mode,
                                                             own, own_options, cache=alpha_cache)
                    _consider(descent, candidates, cand, k, "alpha-step",
                              time.perf_counter() - tic, status, verbose, bar)
                except (SolverError, ValueError) as exc:
                    _failed(candidates, k, "alpha-step", exc, time.perf_counter() - tic,
                            descent.start, verbose, bar)
            # 3. re-extraction: flip the near-ties of the patterns the W-step used, solve (12) once
            # (nothing to do once every α_j is 0: f is the constant c, and (12) has no variable)
            w = descent.w
            if reextract and bool((w.alpha != 0).any()):
                tic = time.perf_counter()
                D_new = flip_ties(X, w, D_used, tie_tol=tie_tol)
                n_flip = int((D_new != activation_patterns(X, w)).sum())
                try:
                    cand, _, status, _ = _pattern_candidate(w, X, y, D_new, descent.cert.t, lam,
                                                            beta, own, own_options)
                    _consider(descent, candidates, cand, k, "reextract",
                              time.perf_counter() - tic,
                              f"{int((D_new != D_used).sum())} pattern entries changed, "
                              f"{n_flip} off the network's own; {status}", verbose, bar)
                except (SolverError, ValueError) as exc:
                    _failed(candidates, k, "reextract", exc, time.perf_counter() - tic,
                            descent.start, verbose, bar)
            bar.update(1, J=descent.J.value, L=descent.J.L)
            if descent.decreased_less_than(J_round, tol):
                message = f"converged: round {k} lowered J by less than tol={tol:g} (relative)"
                break
    out = ShallowReLU.from_weights(descent.w, device=net.device, dtype=net.dtype)
    return ExtendedResult(
        model=out, history=descent.history, candidates=candidates, certificate=descent.cert,
        message=message, lam=lam, beta=beta)


def _log_candidate(bar, rec: ExtendedRecord) -> None:
    """The verbose line of one candidate of :func:`postprocess_extended`."""
    tag = "accepted" if rec.accepted else "rejected"
    bar.write(f"[extended] round {rec.round:2d} {rec.step:10s} J={rec.objective:.8g}  "
              f"mse={rec.mse:.6g}  L={rec.L:.6g}  {tag}  ({rec.step_time:.1f}s, "
              f"t={rec.time:.1f}s) {rec.note}")


def _consider(descent: Descent, candidates: list, cand: ShallowWeights, k: int, step: str,
              sec: float, note: str, verbose: bool, bar) -> bool:
    """Hand a step's candidate to ``descent`` and record it in ``candidates``; a rejected W-step
    beyond the slack warns. A failed certificate is raised, so the caller records the step as
    failed (as for a failed solve)."""
    verdict = descent.consider(cand, k, step=step, solve_time=sec, note=note)
    if verdict.error is not None:
        raise verdict.error
    rec = descent.history[-1] if verdict.accepted else ExtendedRecord.from_verdict(verdict)
    candidates.append(rec)
    if verdict.worse and step == "w-step":
        warnings.warn(f"round {k}: the W-step's network scored J={verdict.objective.value:.8g} > "
                      f"J={verdict.previous.value:.8g}; kept the previous network",
                      RuntimeWarning, stacklevel=3)
    if verbose:
        _log_candidate(bar, rec)
    return verdict.accepted


def _failed(candidates: list, k: int, step: str, exc: Exception, sec: float, start: float,
            verbose: bool, bar) -> None:
    """Record (and warn about) a step whose solve or certificate failed: no candidate."""
    warnings.warn(f"round {k}: {step} failed ({exc}); kept the previous network",
                  RuntimeWarning, stacklevel=3)
    rec = ExtendedRecord(
        round=k, step=step, objective=math.nan, mse=math.nan, l2=math.nan, rho=math.nan, L=math.nan,
        accepted=False, time=time.perf_counter() - start, step_time=sec, note=f"failed: {exc}")
    candidates.append(rec)
    if verbose:
        _log_candidate(bar, rec)


# ---------------------------------------------------------------------------------- samp-lip
def sampled_lipschitz(model: nn.Module, X, y, *, lam: float, beta: float = defaults.BETA,
                      n_sampled: Optional[int] = None, seed: int = defaults.SEED,
                      max_iter: int = defaults.MAX_ITER, tol: float = defaults.TOL,
                      solver: SolverLike = DEFAULT_SOLVER, solver_options: Optional[dict] = None,
                      verbose: bool = False, progress: Optional[bool] = None
                      ) -> SampledLipResult:
    """"samp-lip": Algorithm 1 with P = N = a random sample of the model's patterns (no guarantee).

    Draws ``k = n_sampled`` (default ``m // 2``) of the model's ``m`` units uniformly without
    replacement (``torch.randperm`` with a generator seeded by ``seed``, the same draw as
    :func:`torch_lipcvx.solve_l2_program` with ``patterns="sampled"``), builds the start network
    with two copies ``(w̃_j, +|α_j|)`` and ``(w̃_j, −|α_j|)`` of every sampled unit (each copy has
    pattern ``D_j``; the network predicts the constant ``c``; LipSDP of it gives a feasible ``T``)
    and runs :func:`torch_lipcvx.postprocess` (Algorithm 1) from it. See the module docstring.

    Args:
        model: the base network (e.g. ADMM's); never modified.
        X: ``(n, d)``; y: ``(n,)``.
        lam: λ > 0; beta: β ≥ 0.
        n_sampled: ``1 ≤ k ≤ m``; seed: the sampling seed.
        max_iter, tol, solver, solver_options, verbose, progress: passed to
            :func:`torch_lipcvx.postprocess` (a rerun with the cvxpy solver after a torch solver
            failed gets no options).

    Returns:
        :class:`SampledLipResult`; ``result.history`` is non-increasing from the *start* network.

    Raises:
        ValueError: bad inputs, ``lam ≤ 0``, ``n_sampled`` out of range, or no sampled unit with a
            nonzero outer weight.
    """
    net, w, X, y, lam, beta = check_inputs(model, X, y, lam, beta,
                                           one_output="sampled_lipschitz")
    if lam <= 0:
        raise ValueError(f"lam must be > 0 (the Lipschitz case), got {lam!r}")
    m = w.m
    k = n_sampled if n_sampled is not None else max(1, m // 2)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"n_sampled must be an integer, got {n_sampled!r}")
    if not 1 <= k <= m:
        raise ValueError(f"n_sampled must be between 1 and the number of units ({m}), got {k}")
    check_seed(seed)
    check_progress(progress)
    pick = torch.randperm(m, generator=torch.Generator().manual_seed(seed))[:k]
    pick = torch.sort(pick).values
    a = w.alpha[pick].abs()
    if not bool((a > 0).any()):
        raise ValueError("no sampled unit has a nonzero outer weight")
    Wt = w.W_tilde[pick]
    start_w = ShallowWeights.from_tilde(torch.cat([Wt, Wt]), torch.cat([a, -a]), w.c)
    outer_solver, own = _resolve_solver(solver, solver_options)
    J_in = score(w, X, y, lam=lam, beta=beta,
                 rho=Certifier(outer_solver, solver_options)(w).rho)
    def run(solver_name: Solver, options: Optional[dict]) -> PostProcessResult:
        # in the model's dtype, so that postprocess certifies the weights it returns, and on its
        # device, where the torch solvers then run
        return postprocess(ShallowReLU.from_weights(start_w, device=net.device, dtype=net.dtype),
                           X, y, lam=lam, beta=beta, max_iter=max_iter, tol=tol,
                           solver=solver_name, solver_options=options, verbose=verbose,
                           progress=progress)

    try:
        res = run(outer_solver, solver_options)
    except (RuntimeError, ValueError) as exc:     # SolverError included
        if not outer_solver.uses_torch:
            raise
        # The torch LipSDP (solver "auto"/"torch") can fail on the start network, whose units
        # come in exactly cancelling pairs (W̄ᵀα = 0): "no finite multipliers", or a t on the
        # boundary Σα²/(2t) = 1 that the restriction (12) refuses. The cvxpy path certifies it.
        warnings.warn(f"samp-lip: solver {outer_solver.name!r} failed ({exc}); rerunning "
                      f"Algorithm 1 with {own.name}", RuntimeWarning, stacklevel=2)
        res = run(own, None)          # solver_options were the torch solvers' (cvxpy's defaults)
    out = res.model.to(device=net.device, dtype=net.dtype)
    start = ShallowReLU.from_weights(start_w, device=net.device, dtype=net.dtype)
    return SampledLipResult(
        model=out, result=res, start=start, sample=pick.numpy(), objective_input=J_in, seed=seed)
