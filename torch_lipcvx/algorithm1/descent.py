"""The descent rule of Algorithm 1, written once (docs/algorithm1.md §2).

Every variant of Algorithm 1 in this package —
:func:`~torch_lipcvx.algorithm1.postprocess.postprocess`, the λ-path
:func:`~torch_lipcvx.algorithm1.path.regularisation_path` and the extended driver
:func:`~torch_lipcvx.algorithm1.extensions.postprocess_extended` — produces candidate networks by
its own convex steps and hands each one to a :class:`Descent`, which applies the one rule:

1. round the candidate to the model's dtype (the weights that would be returned);
2. certify it afresh (a LipSDP certificate re-verified in float64, docs/lipsdp.md §4) and score
   it on the network itself with :func:`~torch_lipcvx.objective.score`:
   ``J = mse + (β/2)·l2 + λ·ρ`` (docs/conventions.md §2), never with a solver's own value;
3. accept it if ``J`` does not rise (``J_new ≤ J``, exact float comparison): it becomes the
   current network and a history record is appended; otherwise keep the current network and
   record the rejection. A certificate that fails (``SolverError``) rejects the
   candidate too.

So ``history`` is non-increasing in ``J`` by construction and the current network is never worse
than the start. :meth:`Descent.consider` returns a :class:`Verdict`; what to do with it (stop,
warn, log, go on) is the caller's loop. Whether a rejection deserves a warning is one rule for
all callers: :attr:`Verdict.worse`, a rise beyond :data:`WARN_SLACK` (relative) plus
:data:`WARN_FLOOR` (absolute), which signals a solver tolerance that is too loose rather than
rounding. The stopping rule on the relative decrease is :func:`small_decrease`.

:class:`Certifier` is the ``certify`` the clients (and ADMM's scoring) use: LipSDP with the
compiled program cached and, on request, the ``"auto"`` fallback notes summed up in one warning.

Everything here works on float64 CPU weights (:class:`~torch_lipcvx.models.ShallowWeights`) and
data, as :func:`~torch_lipcvx.objective.check_inputs` returns them.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import Tensor

from .._checks import check_lam_scale
from ..bounds import LipSDPFallbackWarning, LipSDPResult, certify_t, lipsdp
from ..models import ShallowWeights
from ..losses import Loss
from ..objective import Objective, score
from .._engine.lipsdp_vector import certify_t_vector
from .._engine.programs import DEFAULT_SOLVER, LipSDPProgram, SolverError
from ..solvers import Solver, SolverLike

__all__ = [
    "WARN_SLACK",
    "WARN_FLOOR",
    "IterationRecord",
    "ObjectiveHistory",
    "Certifier",
    "Verdict",
    "Descent",
    "raised_beyond_slack",
    "small_decrease",
]

#: A rejected candidate whose ``J`` exceeds the current ``J`` by more than this fraction (plus
#: :data:`WARN_FLOOR`) is reported (a warning or a count): the solver's tolerance was too loose.
#: Smaller rises are the rounding of a converged step and are rejected silently.
WARN_SLACK = 1e-6
#: The absolute part of the warning threshold (``J`` in squared output units).
WARN_FLOOR = 1e-12

_CPU64 = dict(device="cpu", dtype=torch.float64)


def raised_beyond_slack(new: float, current: float) -> bool:
    """Whether ``new > current·(1 + WARN_SLACK) + WARN_FLOOR`` (a rise worth reporting)."""
    return new > current * (1 + WARN_SLACK) + WARN_FLOOR


def small_decrease(before: float, after: float, tol: float) -> bool:
    """The stopping rule: ``J`` fell from ``before`` to ``after`` by at most ``tol`` relative,
    i.e. ``before − after ≤ tol·|before|`` (``tol ≥ 0``, validated by the caller)."""
    return (before - after) <= tol * abs(before)


@dataclass(frozen=True)
class IterationRecord:
    """One accepted iterate of Algorithm 1 (iteration 0 is the input network).

    ``time`` is wall seconds since the start of the run (e.g. of
    :func:`~torch_lipcvx.algorithm1.postprocess.postprocess`); ``solve_time`` the solver's seconds
    for the
    step that produced this iterate (0 for the input). ``mse`` is the data term of ``J``: the
    MSE for the squared loss, the mean loss for another (``postprocess(loss=...)``,
    docs/losses.md).
    """

    iteration: int
    objective: float
    mse: float
    l2: float
    rho: float
    L: float
    time: float
    solve_time: float
    step: str

    def __repr__(self) -> str:
        return (f"IterationRecord({self.iteration}: J={self.objective:.6g}, mse={self.mse:.6g}, "
                f"L={self.L:.6g}, step={self.step!r}, t={self.time:.3g}s)")

    @classmethod
    def from_verdict(cls, verdict: "Verdict") -> "IterationRecord":
        """The record of a scored candidate (``verdict.objective`` must not be ``None``)."""
        J = verdict.objective
        return cls(verdict.iteration, J.value, J.mse, J.l2, J.rho, J.L, verdict.time,
                   verdict.solve_time, verdict.step)


class ObjectiveHistory:
    """``objective_before/after`` and ``improvement`` of a result whose ``history`` holds records
    with an ``objective`` (non-increasing, ``history[0]`` the input)."""

    history: list

    @property
    def objective_before(self) -> float:
        return self.history[0].objective

    @property
    def objective_after(self) -> float:
        return self.history[-1].objective

    @property
    def improvement(self) -> float:
        """Relative decrease ``(J_before − J_after) / J_before`` (≥ 0)."""
        j0 = self.objective_before
        return (j0 - self.objective_after) / j0 if j0 > 0 else 0.0


# ---------------------------------------------------------------------------- certificates
class Certifier:
    """Fresh, re-verified LipSDP certificates with the compiled program cached: the ``certify`` of
    a :class:`Descent` (and of ADMM's scoring).

    ``options`` go to the cvxpy solvers; the torch methods (``"auto"``/``"torch"``) get
    ``torch_options`` (default none: a caller's ``solver_options`` are usually the interior
    point's, whose ``tol`` would loosen the certificate). With ``collect``, lipsdp's notes that
    ``"auto"`` fell back to cvxpy are counted instead of shown, for one summary at the end
    (:meth:`warn_fallbacks`); without it they reach the user as they come."""

    def __init__(self, solver: SolverLike, options: Optional[dict],
                 torch_options: Optional[dict] = None, *, collect: bool = False) -> None:
        spec = Solver.parse(solver)
        # LipSDP's solver: a cvxpy one with ``options``, the torch methods with ``torch_options``
        self.solver = (spec.with_options(torch_options) if spec.uses_torch
                       else Solver.parse(spec, options))
        self.collect = collect
        self.program: Optional[LipSDPProgram] = None
        self.fallbacks = 0          # LipSDP dual runs that ended on cvxpy (solver "auto")

    def warn_fallbacks(self, stacklevel: int = 3) -> None:
        """One ``RuntimeWarning`` summing up the collected fallback notes (none: nothing)."""
        if self.fallbacks:
            warnings.warn(f"{self.fallbacks} LipSDP certificate(s) fell back from the dual "
                          f"method to cvxpy/{DEFAULT_SOLVER} (the dual method failed or did not "
                          "close its gap)", RuntimeWarning, stacklevel=stacklevel)

    def __call__(self, w: ShallowWeights) -> LipSDPResult:
        w = w.to(**_CPU64)
        if self.solver.uses_torch and not self.collect:
            return lipsdp(w, solver=self.solver)
        if self.solver.uses_torch:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                out = lipsdp(w, solver=self.solver)
            # the fallback notes are summed up once by the caller; the rest (e.g. a solver's
            # own warning) reach the user as is
            for wm in caught:
                if issubclass(wm.category, LipSDPFallbackWarning):
                    self.fallbacks += 1
                else:
                    warnings.warn_explicit(wm.message, wm.category, wm.filename, wm.lineno)
            return out
        if w.k > 1:                 # the vector LipSDP compiles its own program
            return lipsdp(w, solver=self.solver)
        m_act = int(((w.alpha != 0) & (w.W.abs().sum(1) > 0)).sum())
        if m_act and (self.program is None or (self.program.m, self.program.d) != (m_act, w.d)):
            self.program = LipSDPProgram(m_act, w.d)
        return lipsdp(w, solver=self.solver, program=self.program)


# ---------------------------------------------------------------------------- the rule
@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What :meth:`Descent.consider` decided about one candidate.

    Attributes:
        accepted: whether the candidate became the current network.
        iteration: the caller's step counter (0 for the start network).
        step: the caller's name for the step that made the candidate (``"restriction"``, ...).
        objective: the candidate's ``J`` and its parts (float64), ``None`` when its certificate
            failed.
        previous: the current ``J`` the candidate was compared with.
        time: wall seconds since the run's start when the verdict was reached.
        solve_time: the caller's seconds for the step (for the records).
        note: the caller's remark (for the records).
        error: the certificate's ``SolverError`` when it failed, else ``None``.
    """

    accepted: bool
    iteration: int
    step: str
    objective: Optional[Objective]
    previous: Objective
    time: float
    solve_time: float = 0.0
    note: str = ""
    error: Optional[Exception] = None

    @property
    def reason(self) -> str:
        """Why the candidate was rejected (``""`` when accepted)."""
        if self.accepted:
            return ""
        if self.error is not None:
            return f"certificate failed at iteration {self.iteration}: {self.error}"
        return "objective increased (solver inaccuracy)"

    @property
    def worse(self) -> bool:
        """A rejection whose ``J`` rose beyond the slack (:func:`raised_beyond_slack`): worth a
        warning. ``False`` for accepted candidates and failed certificates."""
        return (not self.accepted and self.objective is not None
                and raised_beyond_slack(self.objective.value, self.previous.value))

    def rejection(self) -> dict:
        """The rejection as a row of ``PostProcessResult.rejected``: ``iteration``,
        ``objective`` (NaN when the certificate failed), ``previous`` and ``reason``."""
        return {"iteration": self.iteration,
                "objective": math.nan if self.objective is None else self.objective.value,
                "previous": self.previous.value, "reason": self.reason}


class Descent:
    """The state of one run of Algorithm 1: the current network, its certificate and ``J``, the
    history of accepted iterates and the rejections, advanced only by :meth:`consider`.

    Args:
        w: the start network's weights (float64 CPU), units in the order the caller wants.
        X: ``(n, d)`` inputs; y: ``(n,)`` targets (float64 CPU, validated).
        lam, beta: λ ≥ 0 and β ≥ 0 of ``J`` (validated by the caller).
        certify: ``weights -> LipSDPResult``, a fresh re-verified certificate (e.g. a
            :class:`Certifier`); it may raise
            :class:`~torch_lipcvx._engine.SolverError`.
        dtype: the model's dtype; candidates are rounded to it before they are certified.
        start: the ``time.perf_counter()`` the records' ``time`` counts from (default now).
        certificate: the start network's certificate when the caller already has it (shared by
            several runs, e.g. the λ of a path); default: ``certify(w)``.
        reuse_t: also re-verify the current certificate's ``T`` on each candidate
            (:func:`~torch_lipcvx.bounds.certify_t`) and keep the smaller certified ``ρ``: after
            a solve of the restriction (12) with ``T`` fixed, ``T`` stays feasible
            (docs/programs.md §2), and a solver's inaccuracy may make a fresh LipSDP worse.
        record: ``Verdict -> record`` for :attr:`history` (default :class:`IterationRecord`).

    Raises:
        ValueError: a ``lam`` whose ``λρ`` swamps the start network's data terms (see
            :func:`~torch_lipcvx._checks.check_lam_scale`).
        SolverError: the start network's certificate failed.

    Attributes:
        w, cert, J: the current network (float64, rounded to ``dtype``), its certificate and
            :class:`~torch_lipcvx.objective.Objective`.
        history: one record per accepted network, ``history[0]`` the start (``"input"``); their
            ``objective`` is non-increasing.
        rejected: one :meth:`Verdict.rejection` row per rejected candidate.
    """

    def __init__(self, w: ShallowWeights, X: Tensor, y: Tensor, *, lam: float, beta: float,
                 certify: Callable[[ShallowWeights], LipSDPResult],
                 dtype: torch.dtype = torch.float64, start: Optional[float] = None,
                 certificate: Optional[LipSDPResult] = None, reuse_t: bool = False,
                 record: Callable[[Verdict], Any] = IterationRecord.from_verdict,
                 loss: Optional[Loss] = None) -> None:
        self.X, self.y, self.lam, self.beta, self.loss = X, y, lam, beta, loss
        self.certify, self.dtype, self.reuse_t, self.record = certify, dtype, reuse_t, record
        self.start = time.perf_counter() if start is None else start
        cert = certify(w) if certificate is None else certificate
        J = score(w, X, y, lam=lam, beta=beta, rho=cert.rho, loss=loss)
        check_lam_scale(lam, J.rho, J.mse, 0.5 * beta * J.l2,
                        y if y.is_floating_point() else torch.zeros(()))
        self.w, self.cert, self.J = w, cert, J
        self.history: list = [record(Verdict(
            accepted=True, iteration=0, step="input", objective=J, previous=J,
            time=self._elapsed()))]
        self.rejected: list[dict] = []

    def _elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def moved(self) -> bool:
        """Whether a candidate has been accepted since the start."""
        return len(self.history) > 1

    def consider(self, candidate: ShallowWeights, iteration: int, *, step: str,
                 solve_time: float = 0.0, note: str = "") -> Verdict:
        """Score ``candidate`` and accept it if its ``J`` does not exceed the current one.

        Args:
            candidate: float64 weights (the step's output, same units as the start network);
                rounded to ``dtype`` first.
            iteration: the caller's counter, for the records.
            step, solve_time, note: the caller's labels, for the records.

        Returns:
            :class:`Verdict`; on acceptance :attr:`w`, :attr:`cert`, :attr:`J` are the candidate's
            and a record is appended to :attr:`history`, else a row to :attr:`rejected`. A failed
            certificate (``SolverError``) is a rejection with ``verdict.error`` set; any other
            error propagates.
        """
        cand = candidate.rounded(self.dtype)       # score the weights that would be returned
        previous = self.J
        try:
            cert = self.certify(cand)
        except SolverError as exc:
            verdict = Verdict(
                accepted=False, iteration=iteration, step=step, objective=None, previous=previous,
                time=self._elapsed(), solve_time=solve_time, note=note, error=exc)
            self.rejected.append(verdict.rejection())
            return verdict
        if self.reuse_t and cand.k > 1:
            try:
                rho_T, t_T, _ = certify_t_vector(cand.W, cand.A, self.cert.t, repair=False)
            except ValueError:              # the old T does not certify the new outer weights
                rho_T = math.inf
            if rho_T < cert.rho:
                cert = dataclasses.replace(cert, rho=rho_T, t=t_T.numpy(), status="previous T")
        elif self.reuse_t:
            rho_T, t_T, _ = certify_t(cand.W, cand.alpha, self.cert.t)
            if rho_T < cert.rho:            # the old T certifies better (solver inaccuracy)
                cert = dataclasses.replace(cert, rho=rho_T, t=t_T.numpy(), status="previous T")
        J = score(cand, self.X, self.y, lam=self.lam, beta=self.beta, rho=cert.rho,
                  loss=self.loss)
        accepted = J.value <= previous.value
        verdict = Verdict(
            accepted=accepted, iteration=iteration, step=step, objective=J, previous=previous,
            time=self._elapsed(), solve_time=solve_time, note=note)
        if accepted:
            self.w, self.cert, self.J = cand, cert, J
            self.history.append(self.record(verdict))
        else:
            self.rejected.append(verdict.rejection())
        return verdict

    def reorder(self, order: Tensor) -> None:
        """Permute the current network's units by ``order`` (``(m,)`` indices) and its
        certificate's ``t`` with them (``f``, ``ρ`` and ``J`` are unchanged)."""
        self.w = self.w.permute(order)
        self.cert = dataclasses.replace(self.cert, t=np.asarray(self.cert.t)[order.numpy()])

    def decreased_less_than(self, before: float, tol: float) -> bool:
        """:func:`small_decrease` from ``before`` to the current ``J``."""
        return small_decrease(before, self.J.value, tol)

    def __repr__(self) -> str:
        return (f"Descent(J={self.J.value:.6g}, accepted={len(self.history) - 1}, "
                f"rejected={len(self.rejected)}, lam={self.lam:g}, beta={self.beta:g})")
