"""Convex post-processing of a trained shallow ReLU network: Algorithm 1 (docs/algorithm1.md).

* ℓ2 case (``lam = 0``): fix the activation patterns of the units with ``α_j > 0`` (multiset P)
  and ``α_j < 0`` (multiset N), solve the convex program (6) once and map the solution back
  (docs/programs.md §1). The trained network is feasible with objective ≥ the optimum (AM–GM), so
  the result is never worse ("C-ℓ2").
* Lipschitz case (``lam > 0``): alternate LipSDP (certificate ``T_k`` of the current network) and
  the convex restriction (12) with ``T_k``, the patterns and ``α`` fixed (docs/programs.md §2). Each
  restriction contains the current network with its own ``ρ``, so ``J`` never increases
  (Corollary 11).

Objective (docs/conventions.md §2; the project convention; computed by
:mod:`torch_lipcvx.objective`, whose ``Objective`` and ``objective`` this module re-exports):

    J = (1/n) Σ_i (f(x_i) − y_i)² + (β/2) Σ_j (‖w_j‖² + b_j² + α_j²) + λ ρ*

with ``ρ* = L²`` a fresh LipSDP certificate re-verified in float64 (the output bias ``c`` is free
and not penalised). Every candidate network is scored this way, never with the solver's own
objective; a candidate that does not lower ``J`` is rejected and the previous network kept, so the
returned history is non-increasing. The user's model is never modified.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from .. import defaults
from .._checks import check_nonneg, check_positive_int, check_seed, check_solver_options
from .._progress import check_progress, progress_bar
from ..bounds import LipSDPResult
# IterationRecord is re-exported (its home is .descent, with the descent rule)
from .descent import Certifier, Descent, IterationRecord, ObjectiveHistory, Verdict
from .._engine.newton_cg import auto_newton
from .._engine.barrier import PatternBarrier
from .._engine.ipm import Snapshot
from .._engine.distributed import RowComm, local_or
from ..models import ShallowReLU, ShallowWeights, activation_patterns, sign_order
# Objective and objective are re-exported: their home is torch_lipcvx.objective
from ..objective import Objective, check_inputs, objective, score
from ..losses import Loss, LossLike, SquaredError, get_loss
from .._engine.loss_barrier import (CvxpyLossProgram6, CvxpyLossRestriction, LossBarrier,
                                    directions, directions_to_weights)
from .._engine.programs import (DEFAULT_SOLVER, L2Program, LipschitzRestriction, SolverError,
                       convex_to_weights)
from ..solvers import DEFAULT, SolveRecord, Solver, SolverLike

__all__ = [
    "Objective",
    "IterationRecord",
    "PostProcessResult",
    "ConvexSolution",
    "objective",
    "solve_l2_program",
    "postprocess",
]

_CPU64 = dict(device="cpu", dtype=torch.float64)


def _newton(solver: Solver, X: Tensor, m: int, device) -> dict:
    """The ``newton=`` keyword of the torch interior point for ``solver`` (its name or option,
    else the fitted size rule :func:`~torch_lipcvx._engine.newton_cg.auto_newton`)."""
    return {"newton": solver.newton or auto_newton(m, X.shape[1], device),
            "precond": solver.options.get("precond", "auto") if solver.uses_torch else "auto"}


#: the ``solver_options`` the loss barrier's solves take (the others choose the Newton system
#: or screen rows of the squared loss)
_LOSS_OPTIONS = ("tol", "max_iter", "time_limit")


def _loss_options(options: Optional[dict]) -> dict:
    """The entries of ``options`` the loss barrier's solves take (:data:`_LOSS_OPTIONS`)."""
    return {k: v for k, v in (options or {}).items() if k in _LOSS_OPTIONS}
#: torch statuses whose point stands as Algorithm 1's candidate: neither redone by cvxpy nor,
#: after a warm start, cold ("inexact": the matrix-free path's floor; "time_limit": the
#: user's budget, its last feasible iterate)
_STANDS = ("optimal", "inexact", "time_limit")


def _fast_failed(solver: Solver, what: str, info) -> bool:
    """Whether a torch solve must be replaced by cvxpy (a solver with a fallback, ``"auto"``,
    only; warns). The torch interior point (:mod:`torch_lipcvx._engine.ipm`) runs whenever
    ``solver.uses_torch``, on the model's device; it was measured against the compiled
    cvxpy/Clarabel programs in benchmarks/bench_solvers.py (the README's performance section)."""
    if info.status in _STANDS:
        return False
    if solver.fallback:
        warnings.warn(f"the torch solver for {what} stopped with status {info.status!r} after "
                      f"{info.iterations} iterations; falling back to cvxpy/{DEFAULT_SOLVER}",
                      RuntimeWarning, stacklevel=3)
        return True
    return False


@dataclass
class PostProcessResult(ObjectiveHistory):
    """What :func:`postprocess` returns.

    Attributes:
        model: a NEW :class:`ShallowReLU` on the input model's device and dtype, units ordered
            ``α > 0`` first (Algorithm 1); a reordered copy of the input if nothing improved.
        history: accepted iterates; ``history[k].objective`` is non-increasing.
        rejected: candidates that were not accepted, with the reason.
        certificate: the LipSDP certificate of the returned network (float64).
        message: why the loop stopped.
        solves: the record (:class:`~torch_lipcvx.solvers.SolveRecord`) of every solve of the
            restriction (12), in order, accepted or not: status, iterations (and CG iterations
            on the matrix-free path), the program's value, ``lower`` and whether it is a
            certified bound (``certified``), so how far each step was from its optimum is on
            record (docs/solvers.md §3.2).
    """

    model: ShallowReLU
    history: list[IterationRecord]
    rejected: list[dict] = field(default_factory=list)
    certificate: Optional[LipSDPResult] = None
    message: str = ""
    lam: float = 0.0
    beta: float = 0.0
    solves: list[SolveRecord] = field(default_factory=list)

    def history_table(self) -> dict[str, list]:
        """The history as columns (for CSV, pandas or plotting)."""
        keys = IterationRecord.__dataclass_fields__.keys()
        return {k: [getattr(r, k) for r in self.history] for k in keys}

    def __repr__(self) -> str:
        return (f"PostProcessResult(J {self.objective_before:.6g} -> {self.objective_after:.6g} "
                f"({100 * self.improvement:.2f}% lower), iterations={len(self.history) - 1}, "
                f"rejected={len(self.rejected)}, L={self.history[-1].L:.6g}, "
                f"message={self.message!r})")


@dataclass(kw_only=True)
class ConvexSolution:
    """A raw solution of program (6) mapped back to a network (no acceptance test applied).

    ``weights`` are float64 on CPU; ``model`` follows the input's device and dtype.
    """

    model: ShallowReLU
    weights: ShallowWeights
    objective: Objective
    solver_value: float
    solve_time: float
    status: str
    pattern_index: np.ndarray
    sign: np.ndarray

    def __repr__(self) -> str:
        return (f"ConvexSolution(J={self.objective.value:.6g}, mse={self.objective.mse:.6g}, "
                f"L={self.objective.L:.6g}, status={self.status!r}, "
                f"solve_time={self.solve_time:.3g}s, model=ShallowReLU({self.model.extra_repr()}))")


# ------------------------------------------------------------------------------ the ℓ2 program
def _l2_slots(alpha: Tensor, patterns: str, n_sampled: Optional[int],
              generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pattern slots (indices into the units) and signs for program (6)."""
    a = alpha.numpy()
    if patterns == "network":
        idx = np.flatnonzero(a != 0)
        return idx, np.sign(a[idx])
    m = a.shape[0]
    k = n_sampled if n_sampled is not None else max(1, m // 2)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"n_sampled must be an integer, got {n_sampled!r}")
    if not 1 <= k <= m:
        raise ValueError(f"n_sampled must be between 1 and the number of units ({m}), got {k}")
    pick = torch.randperm(m, generator=generator)[:k].numpy()
    pick.sort()
    return np.concatenate([pick, pick]), np.concatenate([np.ones(k), -np.ones(k)])


def solve_l2_program(model: nn.Module, X, y, *, beta: float,
                     patterns: Literal["network", "sampled"] = "network",
                     n_sampled: Optional[int] = None, seed: int = 0, solver: SolverLike = DEFAULT,
                     solver_options: Optional[dict] = None) -> ConvexSolution:
    """Solve program (6) with the patterns of ``model`` and map back (docs/programs.md §1).

    Args:
        model: the trained network (not modified); its patterns on ``X`` define the slots.
        X: ``(n, d)``; y: ``(n,)``.
        beta: β ≥ 0.
        patterns: ``"network"`` ("C-ℓ2"): P = patterns of units with α > 0, N = those with α < 0;
            the network is feasible, so the program's optimum is never worse than it; the
            network returned is the solver's solution, within its tolerance of that optimum
            (about 1e-8 relative: it can end that far above an input that was already optimal).
            :func:`postprocess` with ``lam = 0`` solves the same program and keeps the input
            when the solution scores worse. ``"sampled"`` ("samp-ℓ2", the
            scnn-style baseline): ``n_sampled`` (default m/2) of the m patterns drawn at random with
            ``seed`` and used as both P and N; no guarantee.
        solver, solver_options: ``"auto"`` (default: the torch interior point, cvxpy as
            fallback), ``"torch"``, ``"CLARABEL"`` or ``"SCS"``, and their settings.

    Returns:
        :class:`ConvexSolution`; the network has one unit per slot (``2·n_sampled`` units when
        sampled) and reproduces the convex model's output where the cone constraints hold.
    """
    if patterns not in ("network", "sampled"):
        raise ValueError(f"patterns must be 'network' or 'sampled', got {patterns!r}")
    if patterns == "network" and n_sampled is not None:
        raise ValueError("n_sampled is only used with patterns='sampled'")
    check_seed(seed)
    net, w, X, y, _, beta = check_inputs(model, X, y, 0.0, beta,
                                         one_output="solve_l2_program (postprocess with lam=0 "
                                                    "takes k outputs)")
    solver = Solver.parse(solver, solver_options)
    solver_options = check_solver_options(solver.options_or_none, solver, PatternBarrier.OPTIONS)
    D = activation_patterns(X, w).numpy()
    idx, sign = _l2_slots(w.alpha, patterns, n_sampled, torch.Generator().manual_seed(seed))
    if idx.size == 0:
        raise ValueError("model has no unit with a nonzero outer weight: no pattern to use")
    start = None
    if patterns == "network":
        start = (w.alpha[idx].abs()[:, None] * w.W_tilde[idx]).numpy()
    V, c, info = _solve_l2(X, y, D[:, idx], sign, beta, w.c, start, solver, solver_options,
                           net.device)
    Wt, alpha = convex_to_weights(V, sign)
    new = ShallowWeights.from_tilde(torch.as_tensor(Wt), torch.as_tensor(alpha),
                                    None if c is None else torch.tensor(c, dtype=torch.float64))
    new = new.rounded(net.dtype)              # certify the weights that will be returned
    cert = Certifier(solver, solver_options)(new)
    obj = score(new, X, y, lam=0.0, beta=beta, rho=cert.rho)
    out = ShallowReLU.from_weights(new, device=net.device, dtype=net.dtype)
    return ConvexSolution(
        model=out, weights=new, objective=obj, solver_value=info.value, solve_time=info.solve_time,
        status=info.status, pattern_index=idx, sign=sign)


# ------------------------------------------------------------------------------- Algorithm 1
def postprocess(model: nn.Module, X, y, *, lam: float = 0.0, beta: float = defaults.BETA,
                max_iter: int = defaults.MAX_ITER, tol: float = defaults.TOL,
                solver: SolverLike = DEFAULT, solver_options: Optional[dict] = None,
                verbose: Union[bool, int] = False, progress: Optional[bool] = None,
                loss: LossLike = None, comm: Optional[RowComm] = None) -> PostProcessResult:
    """Post-process a trained shallow ReLU network by convex optimisation (Algorithm 1).

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear(d, m), ReLU(), Linear(m, k))``,
            trained any way. Never modified.
        X: ``(n, d)`` training inputs (the units the model sees); y: ``(n,)`` targets (``(n, k)``
            for the squared or Huber loss of ``k`` outputs; integer class labels ``(n,)`` for the
            classification losses). Any float
            dtype and device; the maths runs in float64 (torch solvers on the model's device,
            cvxpy and the certificates on the CPU), and every candidate is rounded to the
            model's dtype before it is certified and scored.
        lam: λ ≥ 0, weight of ``ρ = L²`` (ℓ2 Lipschitz bound squared). ``lam = 0`` is the ℓ2 case:
            one solve of program (6).
        beta: β ≥ 0, weight of the ℓ2 term ``(β/2)Σ_j(‖w̃_j‖² + α_j²)`` (bias included).
        max_iter: at most this many restriction solves (Lipschitz case; default
            :data:`~torch_lipcvx.defaults.MAX_ITER`).
        tol: stop when the relative decrease of ``J`` in one step is below ``tol`` (default
            :data:`~torch_lipcvx.defaults.TOL`).
        solver: ``"auto"`` (default), ``"torch"``, or ``"CLARABEL"`` / ``"SCS"`` (cvxpy) for the
            programs and LipSDP. ``"auto"``: LipSDP by the dual method of
            :mod:`torch_lipcvx._engine.lipsdp_dual` (falling back to Clarabel, with one warning per
            call, when its gap stays open), and programs (6)/(12) by the torch primal–dual interior
            point of :mod:`torch_lipcvx._engine.ipm` on the model's device (CPU or GPU); a torch
            solve that misses its tolerances is redone by cvxpy with a warning. ``"torch"``: the
            torch solvers everywhere, no fallback.
        solver_options: solver keyword arguments overriding our defaults (for
            ``"auto"``/``"torch"``: the interior point's ``tol`` (default for the steps of (12):
            :func:`~torch_lipcvx.defaults.step_tol` of ``tol``, 1e-7 at the default; docs/
            algorithm1.md §2), ``max_iter``, ``screen``,
            ``newton``, ``precond`` and ``time_limit``, seconds per solve: a solve that reaches
            it returns its last, feasible iterate with status ``"time_limit"`` and a certified
            gap where one is computed, judged by the descent test like any candidate, never
            redone by cvxpy; docs/solvers.md §3).
        verbose: ``True`` (or 1): print one line per iteration; 2: also two lines per iteration
            of the torch interior point (about 30–70 per solve).
        progress: a tqdm bar over the iterations on stderr (showing ``J`` and ``L``): ``None``
            (default) when stderr is a terminal, ``True``/``False`` always/never.
        loss: the data term of ``J`` (docs/losses.md): ``None``/``"squared"`` (default),
            ``"huber"`` (or :class:`~torch_lipcvx.losses.Huber` ``(delta)``), ``"logistic"``
            (one output, labels in {0, 1} or ±1) or ``"cross_entropy"`` (``k ≥ 2`` logits,
            integer labels). With ``k ≥ 2`` outputs or a loss other than the squared error, every
            step is the restriction (12) with the outer weights ``a_j`` fixed (docs/programs.md
            §6), also for ``lam = 0`` (then without the LMI; program (6) is the squared loss's,
            one output), and ``J`` is non-increasing the same way.
        comm: share the convex steps' rows across the processes of a ``torch.distributed``
            group (:class:`~torch_lipcvx._engine.distributed.RowComm`, docs/solvers.md §3.3):
            every process calls ``postprocess`` with the same arguments and the full data; the
            torch interior point of (12) and (6) then runs matrix-free (``newton="cg"``) on
            each process's contiguous shard of the rows, all-reducing its sums, and every
            process returns the same result. LipSDP and the scoring of each candidate run on
            every process on the full data. The squared loss, one output and the torch
            solvers (``"auto"``, ``"torch"``) only; ``None`` (default): one process (a
            one-process ``RowComm()`` runs the same matrix-free path on all the rows).

    Returns:
        :class:`PostProcessResult` with a new model (input's device and dtype), the history of
        accepted iterates (``J`` non-increasing), the rejected candidates and the final certificate.

    Raises:
        ValueError: bad shapes, NaN/Inf in data or weights, negative ``lam``/``beta``/``tol``,
            ``max_iter < 1``, unknown solver, or a model that is not a one-hidden-layer ReLU
            network with scalar output; data or weights above 2²⁵⁶ (≈ 1.2e77) in magnitude, or
            a network whose squared errors overflow on the data (rescale them); a ``lam`` with
            ``λρ`` more than 2⁵³ times the data terms of the input (the fit would be lost in
            float64 rounding; the message gives the largest usable ``lam``); unknown
            ``solver_options`` keys for ``"auto"``/``"torch"`` (they take ``tol``,
            ``max_iter``, ``screen``, ``newton``, ``precond``, ``time_limit``); a ``comm`` of
            several processes with another loss, ``k`` outputs, a cvxpy solver or
            ``screen=True``.
        TypeError: ``solver_options`` not a dict, or a wrongly typed value in it; ``comm`` not
            a ``RowComm``.
        SolverError: the very first solve, or the certificate of its result, failed
            (a later failure of either keeps the previous iterate, warns, records the candidate
            in ``rejected`` and says so in ``message``).
    """
    start = time.perf_counter()
    net, w0, X, y, lam, beta = check_inputs(model, X, y, lam, beta, loss)
    loss = get_loss(loss)
    general = w0.k > 1 or not isinstance(loss, SquaredError)
    if loss.classification and lam == 0 and beta == 0:
        raise ValueError(f"lam = 0 and beta = 0 with the {loss.name} loss: program (6) then "
                         "has no regularisation and is unbounded on separable data; give "
                         "beta > 0 or lam > 0")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_nonneg(tol, "tol")
    solver = Solver.parse(solver, solver_options)
    solver_options = check_solver_options(solver.options_or_none, solver, PatternBarrier.OPTIONS)
    comm = _check_comm(comm, general, loss, solver, solver_options)
    show = check_progress(progress)
    certify = Certifier(solver, solver_options, collect=True)
    solver_verbose = int(verbose) >= 2
    if general:
        with progress_bar(show, max_iter if lam > 0 else 1, "Algorithm 1") as bar:
            return _postprocess_loss(net, w0, X, y, loss, lam, beta, max_iter, tol, solver,
                                     solver_options, certify, verbose, solver_verbose, start,
                                     bar)
    with progress_bar(show, max_iter if lam > 0 else 1, "Algorithm 1" if lam > 0
                      else "program (6)") as bar:
        return _postprocess(net, w0, X, y, lam, beta, max_iter, tol, solver, solver_options,
                            certify, verbose, solver_verbose, start, bar, comm)


def _check_comm(comm, general: bool, loss: Loss, solver: Solver,
                options: Optional[dict]) -> Optional[RowComm]:
    """``postprocess``'s ``comm``: ``None``, or the :class:`RowComm` whose processes share the
    rows of the torch interior point (``ValueError`` where that cannot run with several
    processes: another loss or ``k`` outputs, a cvxpy solver, row screening, dense Newton
    systems)."""
    if comm is None:
        return None
    comm = local_or(comm)
    if not comm.distributed:
        return comm
    what = ("k outputs" if general and isinstance(loss, SquaredError) else
            f"the {loss.name} loss" if general else
            f"solver={solver.name!r}" if not solver.uses_torch else
            "screen=True" if (options or {}).get("screen") else
            # a solver that fixes the dense Newton systems (the Gram needs all rows in one place)
            f"solver={solver.name!r} with dense Newton systems"
            if getattr(solver, "newton", None) == "dense" else None)
    if what is not None:
        raise ValueError(f"comm shares the rows of the torch interior point for the squared "
                         f"loss of one output across {comm.world} processes; {what} is not "
                         "available that way: pass comm=None (one process)")
    return comm


def _postprocess(net: ShallowReLU, w0: ShallowWeights, X: Tensor, y: Tensor, lam: float,
                 beta: float, max_iter: int, tol: float, solver: Solver,
                 solver_options: Optional[dict], certify: Certifier, verbose: Union[bool, int],
                 solver_verbose: bool, start: float, bar,
                 comm: Optional[RowComm] = None) -> PostProcessResult:
    """The work of :func:`postprocess` (arguments checked), advancing the progress ``bar``;
    ``comm``: the processes that share the rows of the steps' interior point.

    The steps (program (6), or the restriction (12) with the current certificate) make the
    candidates; a :class:`~torch_lipcvx.algorithm1.descent.Descent` accepts or rejects them."""
    w = w0.permute(sign_order(w0.alpha))
    descent = Descent(w, X, y, lam=lam, beta=beta, certify=certify, dtype=net.dtype, start=start)
    solves: list[SolveRecord] = []          # every solve of (12), for the result
    if verbose:
        _log_iterate(bar, descent.history[0], "input network")
    D = activation_patterns(X, w)
    message = ""
    if lam == 0.0:
        idx, sign = _l2_slots(w.alpha, "network", None, torch.Generator())
        if idx.size == 0:
            message = "no unit with a nonzero outer weight: nothing to optimise"
        else:
            start_v = (w.alpha[idx].abs()[:, None] * w.W_tilde[idx]).numpy()
            V, c, info = _solve_l2(X, y, D.numpy()[:, idx], sign, beta, w.c, start_v, solver,
                                   solver_options, net.device, solver_verbose, comm=comm,
                                   bar=bar)
            Wt_s, alpha_s = convex_to_weights(V, sign)
            Wt = torch.zeros_like(w.W_tilde)
            alpha = torch.zeros_like(w.alpha)
            Wt[torch.as_tensor(idx)] = torch.as_tensor(Wt_s)
            alpha[torch.as_tensor(idx)] = torch.as_tensor(alpha_s)
            cand = ShallowWeights.from_tilde(Wt, alpha, _c(c))
            verdict = _consider(descent, cand, 1, info.solve_time, "l2-program", verbose, bar)
            bar.update(1, J=descent.J.value, L=descent.J.L)
            message = ("solved program (6)" if verdict.accepted
                       else "program (6) did not improve J")
    else:
        act = (w.alpha != 0)
        if not bool(act.any()):
            message = "no unit with a nonzero outer weight: nothing to optimise"
        else:
            ai = torch.nonzero(act)[:, 0]
            step12 = _RestrictionStep(X, y, D[:, ai], w.alpha[ai], lam, beta, w.c is not None,
                                      solver, _step_options(solver, solver_options, tol),
                                      net.device, solver_verbose, comm=comm, bar=bar)
            message = _restriction_loop(descent, step12, w, act, beta, max_iter, tol,
                                        verbose, bar, _c, solves)
    certify.warn_fallbacks(stacklevel=4)
    out = ShallowReLU.from_weights(descent.w, device=net.device, dtype=net.dtype)
    return PostProcessResult(
        model=out, history=descent.history, rejected=descent.rejected, certificate=descent.cert,
        message=message, lam=lam, beta=beta, solves=solves)


def _postprocess_loss(net: ShallowReLU, w0: ShallowWeights, X: Tensor, y: Tensor, loss: Loss,
                      lam: float, beta: float, max_iter: int, tol: float, solver: Solver,
                      solver_options: Optional[dict], certify: Certifier,
                      verbose: Union[bool, int], solver_verbose: bool, start: float,
                      bar) -> PostProcessResult:
    """:func:`postprocess` for ``k ≥ 2`` outputs or a loss other than the squared error: the
    restriction (12) with the outer weights fixed (docs/programs.md §6), by the torch interior
    point (:class:`~torch_lipcvx._engine.loss_barrier.LossBarrier`) or the plain cvxpy program.
    Candidates are re-certified with the previous ``T`` kept when it certifies better (it stays
    feasible for the restriction's solution), so ``J`` never rises."""
    w = w0.permute(sign_order(w0.alpha))
    descent = Descent(w, X, y, lam=lam, beta=beta, certify=certify, dtype=net.dtype,
                      start=start, reuse_t=True, loss=loss)
    solves: list[SolveRecord] = []          # every solve of (12), for the result
    if verbose:
        _log_iterate(bar, descent.history[0], "input network",
                     data=_data_name(descent))
    act = (w.A != 0).any(dim=1)
    message = "no unit with a nonzero outer weight: nothing to optimise"
    if bool(act.any()) and lam == 0:
        message = _program6_loss(descent, w, X, y, loss, beta, act, solver, solver_options,
                                 net.device, verbose, solver_verbose, bar)
    elif bool(act.any()):
        ai = torch.nonzero(act)[:, 0]
        D = activation_patterns(X, w)[:, ai]
        step = _LossStep(X, y, D, w.A[ai], loss, lam, beta, w.c is not None, solver,
                         _step_options(solver, solver_options, tol), net.device, solver_verbose,
                         bar=bar)
        message = _restriction_loop(descent, step, w, act, beta, max_iter, tol, verbose, bar,
                                    lambda c: c, solves)
    certify.warn_fallbacks(stacklevel=4)
    out = ShallowReLU.from_weights(descent.w, device=net.device, dtype=net.dtype)
    return PostProcessResult(
        model=out, history=descent.history, rejected=descent.rejected, certificate=descent.cert,
        message=message, lam=lam, beta=beta, solves=solves)


def _program6_loss(descent: Descent, w: ShallowWeights, X: Tensor, y: Tensor, loss: Loss,
                   beta: float, act: Tensor, solver: Solver, options: Optional[dict], device,
                   verbose: Union[bool, int], solver_verbose: bool, bar) -> str:
    """``lam = 0`` for a general loss or ``k`` outputs: one solve of program (6) with the
    patterns and the outer directions ``u_j = a_j/‖a_j‖`` fixed (docs/programs.md §6), mapped
    back and handed to ``descent``; returns the message."""
    ai = torch.nonzero(act)[:, 0]
    D = activation_patterns(X, w)[:, ai]
    U, norms = directions(w.A[ai])
    V0 = norms[:, None] * w.W_tilde[ai]
    V = c = point = barrier = None
    start = time.perf_counter()
    if solver.uses_torch and beta > 0:
        barrier = LossBarrier(X.to(device), y.to(device), D.to(device), U.to(device), loss,
                              output_bias=w.c is not None, **_newton(solver, X, len(ai), device))
        opts = _loss_options(options)
        Vb, cb, info = barrier.solve_program6(beta, V0, w.c, verbose=solver_verbose,
                                              on_iteration=_solver_note(bar), **opts)
        if not _fast_failed(solver, f"program (6) with the {loss.name} loss", info):
            V, c = Vb.cpu(), cb
        point = (Vb, cb)
    if V is None:
        program = CvxpyLossProgram6(X.numpy(), y.numpy(), D.numpy(), U.numpy(), loss, beta,
                                    w.c is not None)
        Vn, cn, info = program.solve(solver.cvxpy, None if solver.uses_torch else options)
        if point is not None:
            Vn, cn = _onto_patterns(barrier, point[0], point[1], Vn, cn)
        V = torch.as_tensor(np.asarray(Vn), dtype=torch.float64)
        c = cn
    Wt_s, A_s = directions_to_weights(V, U)
    Wt = torch.zeros_like(w.W_tilde)
    A = torch.zeros_like(w.A)
    Wt[ai], A[ai] = Wt_s, A_s
    k = w.k
    cand = ShallowWeights.from_tilde(Wt, A[:, 0] if k == 1 else A, _output_bias(c, k))
    verdict = _consider(descent, cand, 1, time.perf_counter() - start, "l2-program", verbose,
                        bar)
    bar.update(1, J=descent.J.value, L=descent.J.L)
    return "solved program (6)" if verdict.accepted else "program (6) did not improve J"


def _output_bias(c, k: int) -> Optional[Tensor]:
    """A solver's output bias (tensor, array or float; ``None`` without one) as the weights
    hold it: float64 on the CPU, 0-d for one output, ``(k,)`` otherwise."""
    if c is None:
        return None
    c = torch.as_tensor(np.asarray(c.detach().cpu() if isinstance(c, Tensor) else c),
                        dtype=torch.float64)
    return c.reshape(()) if k == 1 else c.reshape(k)


class _LossStep:
    """One solve of (12) for a general loss per call: the torch interior point (``"auto"`` with
    the cvxpy fallback, ``"torch"`` without) or the plain cvxpy program (a cvxpy solver).
    Returns ``(W̃ (m, d + 1) float64 CPU tensor, c or None, info)``."""

    def __init__(self, X: Tensor, y: Tensor, D: Tensor, A: Tensor, loss: Loss, lam: float,
                 beta: float, output_bias: bool, solver: Solver, options: Optional[dict],
                 device, verbose: bool, bar=None) -> None:
        self.args = (X, y, D, A, loss, lam, beta, output_bias)
        self.solver, self.options, self.verbose = solver, options, verbose
        self.note = _solver_note(bar)
        self.k = 1 if A.dim() == 1 else A.shape[1]
        self.barrier = None
        if solver.uses_torch:
            self.barrier = LossBarrier(X.to(device), y.to(device), D.to(device), A.to(device),
                                       loss, output_bias=output_bias,
                                       **_newton(solver, X, D.shape[1], device))

    def __call__(self, t: Tensor, W0: Tensor, c0: Optional[Tensor]):
        X, y, D, A, loss, lam, beta, ob = self.args
        point = None
        if self.barrier is not None:
            opts = _loss_options(self.options)
            W, c, _, info = self.barrier.solve_restriction(t, lam, beta, W0, c0,
                                                           verbose=self.verbose,
                                                           on_iteration=self.note, **opts)
            if not _fast_failed(self.solver, f"the restriction (12) with the {loss.name} loss",
                                info):
                return W.cpu(), _output_bias(c, self.k), info
            point = (W, c)
        program = CvxpyLossRestriction(X.numpy(), y.numpy(), D.numpy(),
                                       A.numpy(), loss, lam, beta, ob)
        opts = None if self.solver.uses_torch else self.options
        Wt, c, _, info = program.solve(t.numpy(), self.solver.cvxpy, opts)
        if point is not None:
            Wt, c = _onto_patterns(self.barrier, point[0], point[1], Wt,
                                   None if c is None else c)
        return torch.as_tensor(np.asarray(Wt), dtype=torch.float64), _output_bias(c, self.k), info


def _restriction_loop(descent: Descent, step, w: ShallowWeights, act: Tensor, beta: float,
                      max_iter: int, tol: float, verbose: Union[bool, int], bar, to_c,
                      solves: list) -> str:
    """The Lipschitz case of Algorithm 1 (docs/algorithm1.md §2): at most ``max_iter`` solves of
    the restriction (12) by ``step`` (``(t, W̃ of the active units, c) -> (W̃, c, info)``) with
    the current certificate's ``T``, each candidate handed to ``descent``; stops at the first
    rejection, a solver failure after some progress, or a relative decrease below ``tol``.
    ``to_c`` turns the step's output bias into the weights' form; each solve's record is
    appended to ``solves``. Returns the message."""
    ai = torch.nonzero(act)[:, 0]
    # the accepted iterate as the solver returned it (float64), the next solve's start: the
    # model's dtype may round it off the fixed patterns, where the interior point cannot start
    w_solver = w
    message = f"reached max_iter={max_iter}"
    for k in range(1, max_iter + 1):
        try:
            Wt_a, c, info = step(torch.as_tensor(descent.cert.t[ai.numpy()]),
                                 w_solver.W_tilde[ai], w_solver.c)
        except SolverError as exc:
            if not descent.moved:
                raise
            warnings.warn(f"iteration {k}: {exc}; kept the previous network",
                          RuntimeWarning, stacklevel=4)
            message = f"solver failed at iteration {k}: {exc}"
            break
        solves.append(info)
        Wt = w_solver.W_tilde.clone()
        Wt[ai] = torch.as_tensor(Wt_a)
        if beta > 0:
            Wt[~act] = 0.0
        cand = ShallowWeights.from_tilde(Wt, w_solver.alpha, to_c(c))
        verdict = _consider(descent, cand, k, info.solve_time, "restriction", verbose, bar,
                            depth=1)
        bar.update(1, J=descent.J.value, L=descent.J.L)
        if not verdict.accepted:
            message = (verdict.reason if verdict.error is not None else
                       f"converged: candidate at iteration {k} did not lower J")
            break
        w_solver = cand
        if descent.decreased_less_than(verdict.previous.value, tol):
            message = f"converged: relative decrease below tol={tol:g}"
            break
    return message


def _data_name(descent: Descent) -> str:
    """``mse`` for the squared loss, else the loss's name (the verbose lines' data term)."""
    loss = getattr(descent, "loss", None)
    return "mse" if loss is None or loss.name == "squared" else f"{loss.name} loss"


def _log_iterate(bar, rec: IterationRecord, note: str = "", data: str = "mse") -> None:
    """The verbose line of an accepted iterate (``data``: the data term's name)."""
    bar.write(f"[torch_lipcvx] iter {rec.iteration:3d}  J={rec.objective:.8g}  "
              f"{data}={rec.mse:.6g}  L={rec.L:.6g}  t={rec.time:.1f}s  {note}")


def _consider(descent: Descent, cand: ShallowWeights, k: int, solve_time: float, step: str,
              verbose: Union[bool, int], bar, depth: int = 0) -> Verdict:
    """Hand the candidate of step ``k`` to ``descent`` and report the verdict as
    :func:`postprocess` does: a failed certificate before anything was accepted raises (as a
    failed first solve does), later ones warn; a rejection beyond the slack warns."""
    verdict = descent.consider(cand, k, step=step, solve_time=solve_time)
    if verdict.error is not None:
        # the candidate cannot be scored: keep what has been gained so far (nothing gained yet:
        # the error goes to the caller)
        if not descent.moved:
            raise verdict.error
        warnings.warn(f"iteration {k}: the candidate's LipSDP certificate failed "
                      f"({verdict.error}); kept the previous network", RuntimeWarning,
                      stacklevel=4 + depth)
    elif verdict.accepted:
        if verbose:
            _log_iterate(bar, descent.history[-1], data=_data_name(descent))
    else:
        if verdict.worse:
            warnings.warn(f"iteration {k}: candidate J={verdict.objective.value:.8g} > "
                          f"J={verdict.previous.value:.8g}; kept the previous network (solver "
                          "tolerance too loose?)", RuntimeWarning, stacklevel=4 + depth)
        if verbose:
            bar.write(f"[torch_lipcvx] iter {k:3d}  candidate J={verdict.objective.value:.8g} "
                      "rejected (not lower)")
    return verdict


def _c(c: Optional[float]) -> Optional[Tensor]:
    return None if c is None else torch.tensor(c, dtype=torch.float64)


#: The record of a torch solve here (kept importable; the one record type is
#: :class:`~torch_lipcvx.solvers.SolveRecord`).
_FastSolveInfo = SolveRecord


def _solve_l2(X: Tensor, y: Tensor, D: np.ndarray, sign: np.ndarray, beta: float,
              c0: Optional[Tensor], start: Optional[np.ndarray], solver: Solver,
              options: Optional[dict], device, verbose: bool = False,
              comm: Optional[RowComm] = None, bar=None):
    """Program (6) by the torch interior point (``solver.uses_torch``, on ``device``; on this
    process's rows of ``comm``, see :func:`_rows_of`) or cvxpy (all the rows); its iterations
    noted on the progress ``bar`` (:func:`_solver_note`).

    Returns ``(V (k, d + 1), c, info)`` as NumPy/float like :meth:`L2Program.solve`.
    """
    ipm, V_ipm = None, None
    if solver.uses_torch and beta > 0 and start is not None:
        rows, kw = _rows_of(comm, X.shape[0])
        ipm = PatternBarrier(X[rows].to(device), y[rows].to(device),
                             torch.as_tensor(D[rows]).to(device),
                             torch.as_tensor(sign, dtype=torch.float64).to(device),
                             output_bias=c0 is not None,
                             **{**_newton(solver, X, len(sign), device), **kw})
        V_ipm, c_ipm, info = ipm.solve_l2(beta, torch.as_tensor(start), c0, verbose=verbose,
                                          on_iteration=_solver_note(bar), **(options or {}))
        if not _fast_failed(solver, "program (6)", info):
            return V_ipm.cpu().numpy(), None if c_ipm is None else float(c_ipm), info
    program = L2Program(X.numpy(), y.numpy(), D.astype(float), sign, beta, c0 is not None)
    V, c, info = program.solve(solver.cvxpy, None if solver.uses_torch else options)
    if ipm is not None:
        V, c = _onto_patterns(ipm, V_ipm, c_ipm, V, c)
    return V, c, info


def _rows_of(comm: Optional[RowComm], n: int) -> tuple[slice, dict]:
    """The rows of the ``n`` this process gives the interior point, and the
    :class:`PatternBarrier` keywords: all rows and none without ``comm``; with ``comm``, its
    contiguous shard, the matrix-free Newton systems and the row reductions."""
    if comm is None:
        return slice(0, n), {}
    return comm.shard(n), {"newton": "cg", "comm": comm}


def _onto_patterns(ipm: PatternBarrier, W_in: Tensor, c_in: Optional[Tensor], W_out: np.ndarray,
                   c_out: Optional[float]) -> tuple[np.ndarray, Optional[float]]:
    """Make a cvxpy fallback's solution ``W_out`` (whose cone rows may be ~1e-9 negative) have
    the fixed patterns exactly: the point of the segment from the interior point's last iterate
    ``W_in`` (strictly feasible) that is farthest towards ``W_out`` with every row positive.

    Both ends are feasible for the convex program up to the rows, so by convexity the result is
    no worse than the θ-combination of their objectives (θ ≈ 1 − 1e-8 in practice), and the
    next Algorithm-1 step can start the interior point from it.
    """
    W1 = torch.as_tensor(W_out, dtype=torch.float64).to(W_in.device)
    try:
        th = ipm.segment_interior(W_in, W1)
    except ValueError:          # the iterate touches a row: keep cvxpy's point as it is
        return W_out, c_out
    W = (W_in + th * (W1 - W_in)).cpu().numpy()
    if c_out is None or c_in is None:
        return W, c_out
    if np.ndim(c_out) > 0:                 # k outputs: c is a vector
        c_in = c_in.detach().cpu().numpy()
        return W, c_in + th * (np.asarray(c_out) - c_in)
    return W, float(c_in) + th * (float(c_out) - float(c_in))


def _solver_note(bar) -> Optional[Callable[[int, float, float], None]]:
    """What the torch interior point reports on the progress ``bar`` each iteration (its
    ``on_iteration``): the iteration and the relative gap, so that a long step is seen to move;
    ``None`` without a bar shown."""
    if bar is None or not bar.enabled:
        return None
    return lambda k, gap, res: bar.note(solve=f"it {k}, gap {gap:.1e}")


def _step_options(solver: Solver, options: Optional[dict], tol: float) -> Optional[dict]:
    """The options of each Algorithm-1 step's solve: a torch solver's ``tol`` follows Algorithm
    1's (:func:`~torch_lipcvx.defaults.step_tol`) unless the user set it; cvxpy's are as given."""
    if not solver.uses_torch or "tol" in (options or {}):
        return options
    return {**(options or {}), "tol": defaults.step_tol(tol)}


class _RestrictionStep:
    """One solve of (12) per call, by the torch interior point or the compiled cvxpy program.

    Both are built once per :func:`postprocess` call (the Gram matrix, resp. the DPP program);
    with ``"auto"`` a torch solve that does not reach its tolerances is redone by cvxpy. Each
    torch solve after the first is warm-started from the previous one's last iterate
    (:meth:`PatternBarrier._warm_start`); a warm solve that misses its tolerances is redone
    cold before any fallback, so the warm start changes the iteration count, never the result
    beyond the solver's tolerance. ``records`` keeps every torch solve's record.
    """

    def __init__(self, X: Tensor, y: Tensor, D: Tensor, alpha: Tensor, lam: float, beta: float,
                 output_bias: bool, solver: Solver, options: Optional[dict], device,
                 verbose: bool, comm: Optional[RowComm] = None, bar=None) -> None:
        self.args = (X, y, D, alpha, lam, beta, output_bias)
        self.solver, self.options, self.device, self.verbose = solver, options, device, verbose
        self.note = _solver_note(bar)
        self.ipm = None
        self.program = None
        self.anchor: Optional[tuple[Tensor, Optional[Tensor]]] = None   # the first start
        self.snapshot: Optional[Snapshot] = None      # the last torch solve's last iterate
        self.records: list[SolveRecord] = []
        if solver.uses_torch:       # on this process's rows of comm (all without)
            rows, kw = _rows_of(comm, X.shape[0])
            self.ipm = PatternBarrier(X[rows].to(device), y[rows].to(device),
                                      D[rows].to(device), alpha.to(device),
                                      output_bias=output_bias,
                                      **{**_newton(solver, X, D.shape[1], device), **kw})

    def _cvxpy(self) -> LipschitzRestriction:
        if self.program is None:
            X, y, D, alpha, lam, beta, ob = self.args
            self.program = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float),
                                                alpha.numpy(), lam, beta, ob)
        return self.program

    def __call__(self, t: Tensor, W0: Tensor, c0: Optional[Tensor]):
        """Return ``(W̃ (m, d + 1) array, c, info)`` for ``T = diag(t)``."""
        _, _, _, alpha, lam, beta, _ = self.args
        ipm_point = None
        if self.ipm is not None and not self.ipm.on_patterns(W0.to(self.device)):
            # cvxpy's solutions bend a pattern by ~1e-9; after a fallback they are pulled back
            # onto the patterns (_onto_patterns), so this is left for starts that cannot be
            warnings.warn("the current network does not have the fixed patterns exactly; this "
                          f"step of (12) uses cvxpy/{DEFAULT_SOLVER}", RuntimeWarning, stacklevel=3)
        elif self.ipm is not None:
            if self.anchor is None:
                self.anchor = (W0.to(self.device), None if c0 is None else c0.to(self.device))
                anchor = None
            else:
                anchor = self.anchor
            warm, self.snapshot = self.snapshot, None
            snap = Snapshot()
            W, c, _, info = self.ipm.solve_restriction(alpha, t, lam, beta, W0, c0,
                                                       verbose=self.verbose, anchor=anchor,
                                                       warm=warm, snapshot=snap,
                                                       on_iteration=self.note,
                                                       **(self.options or {}))
            self.records.append(info)
            if warm is not None and info.status not in _STANDS:
                snap = Snapshot()           # the warm start went wrong: redo it cold
                W, c, _, info = self.ipm.solve_restriction(alpha, t, lam, beta, W0, c0,
                                                           verbose=self.verbose, anchor=anchor,
                                                           snapshot=snap, on_iteration=self.note,
                                                           **(self.options or {}))
                self.records.append(info)
            if not _fast_failed(self.solver, "the restriction (12)", info):
                self.snapshot = snap
                return W.cpu().numpy(), None if c is None else float(c), info
            ipm_point = (W, c)
        opts = None if self.solver.uses_torch else self.options
        Wt, c, _, info = self._cvxpy().solve(t.numpy(), self.solver.cvxpy, opts)
        if ipm_point is not None:
            Wt, c = _onto_patterns(self.ipm, ipm_point[0], ipm_point[1], Wt, c)
        return Wt, c, info
