"""A regularisation path of Algorithm 1 (docs/algorithm1.md §3.4) by batched ``cvxpylayers`` calls.

:class:`RestrictionLayer` builds the Lipschitz restriction (12) of docs/programs.md §2 once, for
fixed data, patterns ``D`` and outer weights ``α``, as a :class:`cvxpylayers.torch.CvxpyLayer` whose
cvxpy Parameters carry what changes between solves: the LipSDP multipliers ``t`` (``T = diag(t)``)
and the Lipschitz weight ``λ``. Calling it with ``t (B, m)`` and ``lam (B,)`` solves ``B`` programs
in one call (diffcp's batched cone solver: Clarabel by default, SCS when gradients are wanted).

:func:`regularisation_path` runs Algorithm 1 for several ``λ`` in lock-step: per iteration one
LipSDP certificate per ``λ`` (:func:`~torch_lipcvx.bounds.lipsdp`, Clarabel by default) and one
batched layer call for every ``λ`` still running. Every candidate is re-scored exactly (the
network's own MSE in float64, a certified ``ρ``), never with the solver's objective, and is kept
only if it lowers ``J``: as in :func:`~torch_lipcvx.algorithm1.postprocess.postprocess`, the
histories are non-increasing and the user's model is never modified.

Objective (docs/conventions.md §2, the project convention; ``c`` is the free, unpenalised output
bias):

    J = (1/n) Σ_i (f(x_i) − y_i)² + (β/2) Σ_j (‖w_j‖² + b_j² + α_j²) + λ ρ*,   ρ* = L².

Units: ``ρ`` is ``L²`` with ``L`` the certified ℓ2 Lipschitz bound in output units per input unit
(the units the model sees); ``λ`` is in (output units)² per ``ρ`` unit, i.e. (input units)².
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from .. import defaults
from .._checks import check_data_scale, check_nonneg, check_positive_int
from .._progress import check_progress, progress_bar
from .descent import Certifier, Descent
from ..layers import call_cvxpy_layer, short_value
from ..models import ShallowReLU, ShallowWeights, activation_patterns, sign_order
from ..objective import check_inputs
from .postprocess import PostProcessResult
from ..solvers import DIFFCP_METHODS, Solver, SolverLike
from .._engine.programs import (DEFAULT_SOLVER, cp, SolverError, _augment, _sym, input_scale,
                       target_scale)

__all__ = [
    "RestrictionLayer",
    "RestrictionSolution",
    "RegularisationPath",
    "regularisation_path",
    "DEFAULT_PATH_SOLVER_ARGS",
]

#: Default diffcp options of :class:`RestrictionLayer`, by ``solve_method``; the options a user
#: passes override them. The default method is Clarabel (:data:`DEFAULT_METHOD`): measured on
#: n = 200, d = 4, m = 20 (one core), a batch of 4 λ took 0.54 s with Clarabel and 79 s with SCS at
#: eps 1e-8 (single SCS solves took 0.5–70 s, slowest when units die, i.e. ``w̄_j → 0`` and
#: ``t_j`` grows, at large λ; at eps 1e-6, 0.5–13 s and 1e-3 relative error in W̃). SCS is the
#: only method with correct gradients and is used when asked for (``solve_method="SCS"``);
#: diffcp's ``mode="dense"`` (used only when a backward pass is needed) matched central finite
#: differences of ``dρ/dλ`` to 2e-5 where its default ``"lsqr"`` was 9% off (n = 40, m = 6).
#: ``n_jobs_forward`` (threads over the batch) is left at diffcp's default, all CPUs.
DEFAULT_PATH_SOLVER_ARGS = {
    "SCS": {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iters": 100_000, "mode": "dense"},
    "Clarabel": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9},
}

#: The layer's default ``solve_method`` (forward solves).
DEFAULT_METHOD = "Clarabel"

#: Solvers diffcp can run here. Clarabel is for forward solves only: diffcp 1.1.9 permutes the
#: dual of PSD cones wrongly (see :mod:`torch_lipcvx.layers`), so its gradients are wrong, while
#: its primal solution (all the path uses) is right; diffcp does not check Clarabel's status, so
#: a failed solve shows only in the (re-scored) solution.
_METHODS = tuple(DIFFCP_METHODS)

#: diffcp's own options (not the solver's), kept when a call switches ``solve_method``.
_DIFFCP_KEYS = ("n_jobs_forward", "n_jobs_backward", "mode", "verbose")

_CPU64 = dict(device="cpu", dtype=torch.float64)


class RestrictionSolution(NamedTuple):
    """What :class:`RestrictionLayer` returns (float64 CPU tensors, as the solver gives them).

    Attributes:
        W_tilde: ``(B, m, d + 1)`` (or ``(m, d + 1)`` unbatched) hidden weights ``[W̄, b]``.
        c: ``(B,)`` (or 0-d) output bias, or ``None`` when the layer has no free output bias.
        rho: ``(B,)`` (or 0-d) the solver's ``ρ`` (an upper bound on ``ρ*`` of the new network
            only up to solver tolerance: re-certify with :func:`~torch_lipcvx.bounds.certify_t`).
        solve_time: wall seconds of the whole (batched) call.
    """

    W_tilde: Tensor
    c: Optional[Tensor]
    rho: Tensor
    solve_time: float

    def __repr__(self) -> str:
        return (f"RestrictionSolution(W_tilde={tuple(self.W_tilde.shape)}, "
                f"rho={short_value(self.rho)}, "
                f"solve_time={self.solve_time:.3g}s)")


def _as64(value, name: str) -> Tensor:
    """A float64 CPU tensor (differentiable cast for tensors), naming ``name`` on failure."""
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must be real numbers, got dtype {value.dtype}")
        return value.to(**_CPU64)
    try:
        return torch.as_tensor(np.asarray(value, dtype=float), **_CPU64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a tensor or array of real numbers, "
                         f"got {type(value).__name__}") from None


def _check_solver_args(solver_args) -> dict:
    """A dict of diffcp options whose ``solve_method`` is SCS or Clarabel (normalised)."""
    if solver_args is None:
        return {}
    if not isinstance(solver_args, dict):
        raise ValueError(f"solver_args must be a dict of diffcp/SCS options or None, "
                         f"got {type(solver_args).__name__}")
    args = dict(solver_args)
    if "solve_method" in args:
        try:          # a name (either spelling) or a Solver, parsed once
            method = Solver.parse(args["solve_method"], only=_METHODS)
        except ValueError:
            raise ValueError(f"solver_args['solve_method'] must be 'SCS' or 'Clarabel', "
                             f"got {args['solve_method']!r}") from None
        args["solve_method"] = method.diffcp_method
    return args


# ---------------------------------------------------------------------------------- the layer
class RestrictionLayer(nn.Module):
    """Program (12) (docs/programs.md) as a batched ``CvxpyLayer``, built once for ``X, y, D, α``.

        min   (1/n)‖Σ_j α_j D_j X̃ w̃_j + c − y‖² + λ ρ + (β/2) Σ_j ‖w̃_j‖²
        s.t.  (2D_j − I) X̃ w̃_j ≥ 0                       for every unit j,
              [[ρ I_d, −W̄ᵀT], [−T W̄, 2T − ααᵀ]] ⪰ 0,      T = diag(t),

    over ``W̃ (m, d + 1)``, ``ρ`` and (``output_bias=True``) the free output bias ``c``: the same
    program, scaling and conventions as
    :class:`~torch_lipcvx._engine.programs.LipschitzRestriction`, with ``λ`` a cvxpy Parameter as
    well as ``T``. The problem is DPP (checked), so it is canonicalised once here and each call only
    fills in parameter values.

    ``form``:

    * ``"decomposed"`` (default): the LMI split exactly into ``m + 2`` small ones (sizes
      ``d + 1``, ``d + 1`` and ``d``; see ``LipschitzRestriction``), with Parameters
      ``r = sqrt(t/2)`` (m,), ``k = 1/(2 sqrt(1 − Σ_j α_j²/(2t_j)))`` and ``λ``. ``r`` and ``k``
      are computed from ``t`` in torch on each call (so autograd chains through them).
    * ``"full"``: the single LMI of size ``d + m`` above, with ``t`` itself the Parameter (slow
      beyond a few dozen units; for cross-checks).

    Args:
        X: ``(n, d)`` inputs; y: ``(n,)`` targets (tensors or arrays; used in float64).
        D: ``(n, m)`` boolean activation patterns (column j is the diagonal of ``D_j``).
        alpha: ``(m,)`` fixed outer weights, all nonzero (drop units with ``α_j = 0`` first: they
            change neither f nor the certificate).
        beta: ``β ≥ 0``, weight of the ridge term ``(β/2)Σ_j‖w̃_j‖²`` (a constant of the layer).
        output_bias: whether ``c`` is a variable (else the model has no output bias).
        form: ``"decomposed"`` or ``"full"``.
        solver_args: default diffcp options, merged over :data:`DEFAULT_PATH_SOLVER_ARGS`
            (``solve_method`` ``"Clarabel"`` (default; forward only) or ``"SCS"`` (needed for
            gradients), SCS's ``eps_abs``/``eps_rel``/``max_iters`` or Clarabel's ``tol_*``
            settings, diffcp's ``n_jobs_forward``, ...); each call may override them.

    Shape contract of :meth:`forward`: ``t`` is ``(m,)`` or ``(B, m)`` with ``2T − ααᵀ ≻ 0`` in
    every row (true for any certified LipSDP ``t``, e.g. ``lipsdp(w).t``); ``lam`` a number, a
    0-d tensor or ``(B,)``. Unbatched inputs broadcast against batched ones; the outputs are
    batched iff an input is. Outputs are float64 on the CPU.

    Raises:
        ValueError: bad shapes, NaN/Inf, a zero ``α_j``, bad ``beta``/``form``/``solver_args``.
    """

    FORMS = ("decomposed", "full")

    def __init__(self, X, y, D, alpha, *, beta: float = 0.0, output_bias: bool = True,
                 form: str = "decomposed", solver_args: Optional[dict] = None) -> None:
        super().__init__()
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {self.FORMS}, got {form!r}")
        X = _as64(X, "X").detach()
        y = _as64(y, "y").detach()
        if y.dim() == 2 and y.shape[1] == 1:
            y = y[:, 0]
        D = torch.as_tensor(D).detach().cpu()
        alpha = _as64(alpha, "alpha").detach()
        if X.dim() != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must have shape (n, d) with n, d >= 1, got {tuple(X.shape)}")
        n, d = X.shape
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},), got {tuple(y.shape)}")
        if alpha.dim() != 1 or alpha.shape[0] == 0:
            raise ValueError(f"alpha must have shape (m,) with m >= 1, got {tuple(alpha.shape)}")
        m = alpha.shape[0]
        if D.shape != (n, m):
            raise ValueError(f"D must have shape (n, m) = ({n}, {m}), got {tuple(D.shape)}")
        if D.dtype != torch.bool:
            if not bool(((D == 0) | (D == 1)).all()):
                raise ValueError("D must be boolean (or 0/1) activation patterns")
            D = D != 0
        for name, v in (("X", X), ("y", y), ("alpha", alpha)):
            if not bool(torch.isfinite(v).all()):
                raise ValueError(f"{name} contains NaN/Inf")
        check_data_scale(X, y)
        if bool((alpha == 0).any()):
            raise ValueError("alpha must have no zero entry (drop units with alpha_j = 0 first)")
        beta = check_nonneg(beta, "beta")
        from cvxpylayers.torch import CvxpyLayer  # deferred: importing it costs ~1 s

        start = time.perf_counter()
        self.n, self.m, self.d = n, m, d
        self.beta, self.output_bias, self.form = beta, bool(output_bias), form
        self.register_buffer("alpha", alpha.clone())
        self.solver_args = _check_solver_args(solver_args)
        # built in units of σ (y/σ, α/σ, β/σ², T/σ²; c and ρ scaled back, W̃ unchanged): exact,
        # so the solvers' absolute tolerances are relative in any units (programs.target_scale)
        self.scale = target_scale(y.numpy())
        # and in units of τ on the inputs (X/τ, W̄τ, ρτ², λ/τ², ridge β/τ² on W̄; as
        # programs.LipschitzRestriction)
        self.input_scale = input_scale(X.numpy())
        problem, params, variables = self._build(X.numpy() / self.input_scale,
                                                 y.numpy() / self.scale,
                                                 D.numpy().astype(float),
                                                 alpha.numpy() / self.scale)
        if not problem.is_dpp():  # pragma: no cover - guards the formulation
            raise AssertionError("the restriction (12) must be DPP in t and lam")
        self.problem = problem
        self._cvxpy_layer = CvxpyLayer(problem, parameters=params, variables=variables)
        self.setup_time = time.perf_counter() - start

    def _build(self, X: np.ndarray, y: np.ndarray, D: np.ndarray, alpha: np.ndarray):
        """The cvxpy problem, its Parameters (in call order) and the returned Variables."""
        n, d, m = self.n, self.d, self.m
        Wt = cp.Variable((m, d + 1))
        rho = cp.Variable()
        c = cp.Variable() if self.output_bias else None
        lam = cp.Parameter(nonneg=True)
        Z = _augment(X) @ Wt.T                                   # (n, m) pre-activations
        pred = cp.sum(cp.multiply(D * alpha[None, :], Z), axis=1)
        if c is not None:
            pred = pred + c
        objective = cp.sum_squares(pred - y) / n + lam * rho
        if self.beta > 0:
            ridge = np.append(np.full(d, 1.0 / self.input_scale), 1.0)
            objective = objective + (self.beta / self.scale ** 2 / 2) * cp.sum_squares(
                cp.multiply(Wt, ridge[None, :]))
        Wbar = Wt[:, :d]
        constraints = [cp.multiply(2.0 * D - 1.0, Z) >= 0]
        if self.form == "full":
            t = cp.Parameter(m, nonneg=True)
            TW = cp.multiply(t[:, None], Wbar)
            lmi = cp.bmat([[rho * np.eye(d), -TW.T],
                           [-TW, 2 * cp.diag(t) - np.outer(alpha, alpha)]])
            constraints.append(_sym(lmi) >> 0)
            params = [t, lam]
        else:
            r = cp.Parameter(m, nonneg=True)
            k = cp.Parameter(nonneg=True)
            one = np.ones((1, 1))
            G = [cp.Variable((d, d), symmetric=True) for _ in range(m)]
            H = cp.Variable((d, d), symmetric=True)
            for j in range(m):
                v = cp.reshape(r[j] * Wbar[j, :], (d, 1), order="F")
                constraints.append(cp.bmat([[G[j], v], [v.T, one]]) >> 0)
            g = cp.reshape(k * (alpha @ Wbar), (d, 1), order="F")
            constraints.append(cp.bmat([[H, g], [g.T, one]]) >> 0)
            constraints.append(rho * np.eye(d) - cp.sum(G) - H >> 0)
            params = [r, k, lam]
        variables = [Wt, rho] + ([c] if c is not None else [])
        return cp.Problem(cp.Minimize(objective), constraints), params, variables

    def extra_repr(self) -> str:
        return (f"n={self.n}, m={self.m}, d={self.d}, beta={self.beta:g}, "
                f"output_bias={self.output_bias}, form={self.form}")

    def _merged_args(self, call: dict) -> dict:
        """Defaults of the method, then the layer's options, then the call's. A call that switches
        ``solve_method`` keeps only the layer's diffcp options (``n_jobs_*``, ``mode``,
        ``verbose``), not its solver settings (SCS's and Clarabel's names differ)."""
        own = self.solver_args.get("solve_method", DEFAULT_METHOD)
        method = call.get("solve_method", own)
        base = (self.solver_args if method == own
                else {k: v for k, v in self.solver_args.items() if k in _DIFFCP_KEYS})
        return {**DEFAULT_PATH_SOLVER_ARGS[method], **base, **call, "solve_method": method}

    def _inputs(self, t, lam) -> tuple[Tensor, Tensor, bool]:
        """Validate and broadcast ``t`` and ``lam`` to ``(B, m)`` and ``(B,)`` float64."""
        t = _as64(t, "t")
        lam = _as64(lam, "lam")
        if t.dim() not in (1, 2) or t.shape[-1] != self.m:
            raise ValueError(f"t must have shape ({self.m},) or (B, {self.m}), "
                             f"got {tuple(t.shape)}")
        if lam.dim() > 1:
            raise ValueError(f"lam must be a number or have shape (B,), got {tuple(lam.shape)}")
        batched = t.dim() == 2 or lam.dim() == 1
        tb = t if t.dim() == 2 else t.unsqueeze(0)
        lb = lam if lam.dim() == 1 else lam.reshape(1)
        if tb.shape[0] != lb.shape[0]:
            if tb.shape[0] == 1 and t.dim() == 1:
                tb = tb.expand(lb.shape[0], self.m)
            elif lb.shape[0] == 1 and lam.dim() == 0:
                lb = lb.expand(tb.shape[0])
            else:
                raise ValueError(f"t and lam have different batch sizes: {tb.shape[0]} and "
                                 f"{lb.shape[0]}")
        if tb.shape[0] == 0:
            raise ValueError("t and lam have an empty batch dimension")
        for name, v in (("t", tb), ("lam", lb)):
            if not bool(torch.isfinite(v.detach()).all()):
                raise ValueError(f"{name} contains NaN/Inf")
        if bool((lb.detach() < 0).any()):
            raise ValueError(f"lam must be >= 0, got min {float(lb.detach().min()):g}")
        if bool((tb.detach() <= 0).any()):
            raise ValueError("t must be > 0 (a certified LipSDP t of the current network)")
        s = (self.alpha.to(**_CPU64) ** 2 / (2 * tb.detach())).sum(1)
        if bool((s >= 1).any()):
            raise ValueError("t must certify the current network: 2T - alpha alpha^T must be "
                             f"positive definite, i.e. sum_j alpha_j^2/(2 t_j) < 1 (got "
                             f"{float(s.max()):.6g}); pass a LipSDP t (e.g. lipsdp(w).t)")
        return tb, lb, batched

    def forward(self, t, lam, *, solver_args: Optional[dict] = None) -> RestrictionSolution:
        """Solve (12) for each row of ``t`` and entry of ``lam`` in one batched call.

        Args:
            t: ``(m,)`` or ``(B, m)`` LipSDP multipliers (``T = diag(t)``), each row certifying
                (``Σ_j α_j²/(2t_j) < 1``).
            lam: ``λ ≥ 0``: a number, a 0-d tensor or ``(B,)``.
            solver_args: diffcp options overriding the layer's for this call.

        Returns:
            :class:`RestrictionSolution` ``(W_tilde, c, rho, solve_time)``.

        Raises:
            ValueError: bad shapes or values (see :meth:`_inputs`), or gradients requested with
                Clarabel.
            SolverError: the solver failed or returned a non-finite solution.

        Warns:
            RuntimeWarning: SCS stopped at its iteration limit (``Solved/Inaccurate``).
        """
        start = time.perf_counter()
        args = self._merged_args(_check_solver_args(solver_args))
        tb, lb, batched = self._inputs(t, lam)
        needs_grad = torch.is_grad_enabled() and (tb.requires_grad or lb.requires_grad)
        if needs_grad and args["solve_method"] != "SCS":
            raise ValueError("gradients through RestrictionLayer need solver_args="
                             "{'solve_method': 'SCS'} (Clarabel through diffcp returns wrong "
                             "duals for PSD cones, hence wrong gradients)")
        if not needs_grad:
            args.pop("mode", None)   # diffcp hands every option to the solver without backward
        sigma, tau = self.scale, self.input_scale
        if self.form == "full":
            params = (tb / sigma ** 2, lb / tau ** 2)
        else:
            s = (self.alpha.to(**_CPU64) ** 2 / (2 * tb)).sum(1)
            params = ((tb / 2).sqrt() / sigma, 0.5 / (1 - s).sqrt(), lb / tau ** 2)
        out = call_cvxpy_layer(
            self._cvxpy_layer, params, args, errors=(Exception,),   # diffcp's or a solver's own
            failed=f"{args['solve_method']} failed on the restriction (12) inside RestrictionLayer",
            hint="try other solver_args", inaccurate="SCS stopped at its iteration limit inside "
            "RestrictionLayer; the solution may be inaccurate (callers re-score it): raise "
            "solver_args['max_iters']", stacklevel=3)
        Wt = torch.cat([out[0][..., :self.d] / tau, out[0][..., self.d:]], dim=-1)
        rho = out[1] * (sigma / tau) ** 2
        c = out[2] * sigma if self.output_bias else None
        for name, v in (("W_tilde", Wt), ("rho", rho), ("c", c)):
            if v is not None and not bool(torch.isfinite(v.detach()).all()):
                raise SolverError(f"{args['solve_method']} returned a non-finite {name} on the "
                                  "restriction (12) inside RestrictionLayer")
        if not batched:
            Wt, rho = Wt[0], rho[0]
            c = None if c is None else c[0]
        return RestrictionSolution(Wt, c, rho, time.perf_counter() - start)


# --------------------------------------------------------------------------- the path
@dataclass
class RegularisationPath:
    """What :func:`regularisation_path` returns: one :class:`PostProcessResult` per ``λ``.

    Attributes:
        lams: ``(K,)`` float64, the ``λ`` values in the order given.
        results: ``K`` results (``results[i].lam == lams[i]``); each ``history`` is non-increasing
            in ``objective``, ``history[0]`` the input network. ``IterationRecord.solve_time`` is
            the wall time of the batched layer call that produced the iterate (shared by every
            ``λ`` of that batch).
        pattern_violation: ``(K,)`` float, in output units: how far the final network leaves
            the input's patterns ``D``, ``max_{i,j} |α_j| relu(−(2D_ij − 1) x̃_iᵀw̃_j)`` (0 when
            every pattern is kept; of the order of the solver's feasibility tolerance otherwise).
            On the data, the network's output differs from that of the convex model of (12) by
            at most ``m`` times this.
        pattern_mismatch: ``(K,)`` int, how many entries of the final ``(n, m)`` activation
            patterns on ``X`` differ from the input's. The optimum of (12) typically puts data
            points exactly on a unit's hyperplane (an active cone constraint), where a solver's
            ``−1e-12`` flips the pattern; such flips change ``f`` by that much only, and ``J`` is
            always scored on the network as it is.
        layer_time: wall seconds spent in batched layer calls; layer_calls: their number;
            batch_sizes: the batch size of each call.
        setup_time: seconds to build (canonicalise) the layer; total_time: wall seconds in all.
    """

    lams: np.ndarray
    results: list[PostProcessResult]
    pattern_violation: np.ndarray
    pattern_mismatch: np.ndarray
    layer_time: float = 0.0
    layer_calls: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    setup_time: float = 0.0
    total_time: float = 0.0

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> PostProcessResult:
        return self.results[i]

    def __iter__(self):
        return iter(self.results)

    @property
    def models(self) -> list[ShallowReLU]:
        return [r.model for r in self.results]

    def table(self) -> dict[str, list]:
        """One row per ``λ``: final ``J``, MSE, certified ``L``, input ``J``, iterations, message."""
        return {
            "lam": [float(v) for v in self.lams],
            "objective": [r.objective_after for r in self.results],
            "mse": [r.history[-1].mse for r in self.results],
            "L": [r.history[-1].L for r in self.results],
            "objective_before": [r.objective_before for r in self.results],
            "iterations": [r.history[-1].iteration for r in self.results],
            "rejected": [len(r.rejected) for r in self.results],
            "message": [r.message for r in self.results],
        }

    def __repr__(self) -> str:
        return (f"RegularisationPath({len(self.lams)} lams, {self.layer_calls} batched calls, "
                f"layer {self.layer_time:.2f}s of {self.total_time:.2f}s)")


def _check_lams(lams) -> np.ndarray:
    """A non-empty 1-D array of finite ``λ ≥ 0``."""
    if isinstance(lams, (str, bytes)) or lams is None:
        raise ValueError(f"lams must be a 1-D sequence of numbers >= 0, got {lams!r}")
    try:
        arr = (lams.detach().cpu().double().numpy() if isinstance(lams, Tensor)
               else np.asarray(lams, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"lams must be a 1-D sequence of numbers >= 0, got {lams!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"lams must be 1-D (one value per path point; wrap a single value as "
                         f"[lam]), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("lams is empty: give at least one value lam >= 0")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"lams contains NaN/Inf: {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"lams must all be >= 0, got min {arr.min():g}")
    return arr


class _Lane:
    """One ``λ`` of the path: its :class:`~torch_lipcvx.algorithm1.descent.Descent` and whether
    it runs."""

    def __init__(self, lam: float, descent: Descent) -> None:
        self.lam, self.descent = lam, descent
        self.message = ""
        self.running = True


def _log_lane(lane: _Lane, note: str = "") -> None:
    """The verbose line of a ``λ``'s last accepted iterate."""
    rec = lane.descent.history[-1]
    print(f"[torch_lipcvx] lam={lane.lam:<10.4g} iter {rec.iteration:3d}  "
          f"J={rec.objective:.8g}  mse={rec.mse:.6g}  L={rec.L:.6g}  "
          f"t={rec.time:.1f}s  {note}", flush=True)


def regularisation_path(model: nn.Module, X, y, lams: Union[Sequence[float], np.ndarray, Tensor],
                        *, max_iter: int = defaults.MAX_ITER, tol: float = defaults.TOL,
                        beta: float = defaults.BETA,
                        solver_args: Optional[dict] = None, form: str = "decomposed",
                        lipsdp_solver: SolverLike = DEFAULT_SOLVER, verbose: bool = False,
                        progress: Optional[bool] = None) -> RegularisationPath:
    """Algorithm 1 (Lipschitz case, docs/algorithm1.md) for every ``λ`` in ``lams``, in lock-step.

    The units are ordered ``α > 0`` first and the activation patterns ``D`` and outer weights ``α``
    of the input network are fixed; one :class:`RestrictionLayer` is built for them. Then, for
    ``k = 1, …, max_iter``, with ``T_λ`` the certificate of the current network of each ``λ``
    still running, one batched layer call solves every restriction (12), and each candidate is
    scored exactly: ``J = MSE + (β/2)·l2 + λ ρ*`` with the network's own MSE (float64) and
    ``ρ*`` the smaller of two certified values, LipSDP of the candidate
    (:func:`~torch_lipcvx.bounds.lipsdp`, re-verified) and ``T_λ`` re-verified on the candidate
    (:func:`~torch_lipcvx.bounds.certify_t`; docs/programs.md §2: ``T_λ`` stays feasible). A
    candidate that does not lower ``J`` is rejected (the previous network is kept) and that ``λ``
    stops, as it does when its relative decrease falls below ``tol``. Every recorded ``J`` is thus
    that of the network itself (float64 weights), not the solver's value, and never above the
    input's.

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear(d, m), ReLU(), Linear(m, 1))``;
            never modified (all work is on copies).
        X: ``(n, d)`` training inputs; y: ``(n,)`` targets (any float dtype/device; float64 CPU
            inside).
        lams: ``(K,)`` values ``λ ≥ 0`` (list, array or tensor; duplicates allowed). ``λ = 0``
            minimises MSE (+ ridge) with the patterns and ``α`` fixed (not program (6)).
        max_iter: at most this many batched restriction solves.
        tol: a ``λ`` stops when its relative decrease of ``J`` in one step is ``≤ tol``.
        beta: ``β ≥ 0`` (the ridge term; units with ``α_j = 0`` are zeroed when ``β > 0``).
        solver_args: diffcp options for the layer (see :class:`RestrictionLayer` and
            :data:`DEFAULT_PATH_SOLVER_ARGS`): Clarabel at tolerance 1e-9 by default;
            ``{"solve_method": "SCS"}`` is much slower here (SCS is only approximately feasible:
            its iterates are re-scored exactly like any other, and may be rejected).
        form: the layer's LMI form, ``"decomposed"`` (default) or ``"full"``.
        lipsdp_solver: solver of the per-``λ`` LipSDP certificates (``"CLARABEL"``, ``"SCS"``,
            ``"auto"`` or ``"torch"``; see :func:`~torch_lipcvx.bounds.lipsdp`).
        verbose: print one line per ``λ`` per iteration.
        progress: a tqdm bar over the iterations on stderr (showing how many ``λ`` still run and
            the lowest ``J``): ``None`` (default) when stderr is a terminal, ``True``/``False``
            always/never.

    Returns:
        :class:`RegularisationPath` with one
        :class:`~torch_lipcvx.algorithm1.postprocess.PostProcessResult` per ``λ`` (new models on the
        input's device and dtype, units ordered ``α > 0`` first).

    Raises:
        ValueError: ``lams`` empty, not 1-D, negative or NaN/Inf; bad shapes or NaN in ``X``/``y``
            or the weights; negative ``beta``/``tol``; ``max_iter < 1``; bad ``solver_args``; a
            model that is not a one-hidden-layer ReLU network with scalar output.
        SolverError: the first batched solve failed (a later failure keeps every
            ``λ``'s previous iterate and warns; a failed LipSDP certificate of a candidate
            rejects that candidate, stops its ``λ`` and warns, at any iteration).
    """
    start = time.perf_counter()
    lam_arr = _check_lams(lams)
    net, w0, X, y, _, beta = check_inputs(model, X, y, 0.0, beta,
                                          one_output="regularisation_path")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_nonneg(tol, "tol")
    args = _check_solver_args(solver_args)
    if form not in RestrictionLayer.FORMS:
        raise ValueError(f"form must be one of {RestrictionLayer.FORMS}, got {form!r}")
    show = check_progress(progress)
    certify = Certifier(Solver.parse(lipsdp_solver), None, collect=True)

    w = w0.permute(sign_order(w0.alpha))
    cert0 = certify(w)
    D0 = activation_patterns(X, w)
    # one descent per λ from the same start and certificate; a candidate's ρ is the smaller of
    # its fresh LipSDP and its λ's current T re-verified on it (reuse_t)
    lanes = [_Lane(float(lam), Descent(w, X, y, lam=float(lam), beta=beta, certify=certify,
                                       dtype=net.dtype, start=start, certificate=cert0,
                                       reuse_t=True))
             for lam in lam_arr]
    if verbose:
        for lane in lanes:
            _log_lane(lane, "input network")

    act = w.alpha != 0
    ai = torch.nonzero(act)[:, 0]
    layer_time, layer_calls, batch_sizes, setup_time = 0.0, 0, [], 0.0
    n_bad = 0
    if not bool(act.any()):
        for lane in lanes:
            lane.message = "no unit with a nonzero outer weight: nothing to optimise"
    else:
        layer = RestrictionLayer(X, y, D0[:, ai], w.alpha[ai], beta=beta,
                                 output_bias=w.c is not None, form=form, solver_args=args)
        setup_time = layer.setup_time
        for lane in lanes:
            lane.message = f"reached max_iter={max_iter}"
        with progress_bar(show, max_iter, f"regularisation path ({len(lanes)} lambda)") as bar:
            for k in range(1, max_iter + 1):
                run = [lane for lane in lanes if lane.running]
                if not run:
                    break
                t_batch = torch.stack([torch.as_tensor(lane.descent.cert.t, **_CPU64)[ai]
                                       for lane in run])
                lam_batch = torch.tensor([lane.lam for lane in run], **_CPU64)
                try:
                    with torch.no_grad():
                        sol = layer(t_batch, lam_batch)
                except SolverError as exc:
                    if k == 1:
                        raise
                    warnings.warn(f"iteration {k}: {exc}; kept the previous networks",
                                  RuntimeWarning, stacklevel=2)
                    for lane in run:
                        lane.message = f"solver failed at iteration {k}: {exc}"
                        lane.running = False
                    break
                layer_time += sol.solve_time
                layer_calls += 1
                batch_sizes.append(len(run))
                for b, lane in enumerate(run):
                    Wt = lane.descent.w.W_tilde.clone()
                    Wt[ai] = sol.W_tilde[b]
                    if beta > 0:
                        Wt[~act] = 0.0
                    c = None if sol.c is None else sol.c[b].clone()
                    cand = ShallowWeights.from_tilde(Wt, lane.descent.w.alpha, c)
                    verdict = lane.descent.consider(cand, k, step="restriction-batch",
                                                    solve_time=sol.solve_time)
                    if verdict.error is not None:
                        # the candidate cannot be scored: this λ keeps what it has (as
                        # postprocess does), the other λ go on
                        lane.message, lane.running = verdict.reason, False
                        warnings.warn(f"lam={lane.lam:g}, iteration {k}: the candidate's LipSDP "
                                      f"certificate failed ({verdict.error}); kept the previous "
                                      "network", RuntimeWarning, stacklevel=2)
                    elif verdict.accepted:
                        if verbose:
                            _log_lane(lane)
                        if lane.descent.decreased_less_than(verdict.previous.value, tol):
                            lane.message = f"converged: relative decrease below tol={tol:g}"
                            lane.running = False
                    else:
                        if verdict.worse:
                            n_bad += 1
                        lane.message = f"converged: candidate at iteration {k} did not lower J"
                        lane.running = False
                        if verbose:
                            print(f"[torch_lipcvx] lam={lane.lam:<10.4g} iter {k:3d}  candidate "
                                  f"J={verdict.objective.value:.8g} rejected (not lower)",
                                  flush=True)
                bar.update(1, running=sum(lane.running for lane in lanes))
    if n_bad:
        warnings.warn(f"{n_bad} candidate(s) raised J by more than 1e-6 relative and were "
                      "rejected (previous networks kept); tighten the tolerances in solver_args",
                      RuntimeWarning, stacklevel=2)
    certify.warn_fallbacks()

    results, violation, mismatch = [], [], []
    sgn = 2.0 * D0.to(torch.float64) - 1.0
    for lane in lanes:
        w_lam = lane.descent.w
        Z = X @ w_lam.W.T + w_lam.b                          # (n, m) pre-activations
        viol = torch.relu(-sgn * Z) * w_lam.alpha.abs()
        violation.append(float(viol.max()))
        mismatch.append(int((activation_patterns(X, w_lam) != D0).sum()))
        out = ShallowReLU.from_weights(w_lam, device=net.device, dtype=net.dtype)
        results.append(PostProcessResult(
            model=out, history=lane.descent.history, rejected=lane.descent.rejected,
            certificate=lane.descent.cert, message=lane.message, lam=lane.lam, beta=beta))
    return RegularisationPath(
        lams=lam_arr.copy(), results=results, pattern_violation=np.asarray(violation),
        pattern_mismatch=np.asarray(mismatch, dtype=int), layer_time=layer_time,
        layer_calls=layer_calls, batch_sizes=batch_sizes, setup_time=setup_time,
        total_time=time.perf_counter() - start)
