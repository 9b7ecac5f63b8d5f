"""The cvxpy programs: LipSDP (docs/lipsdp.md), the ℓ2 program (6) and the Lipschitz restriction
(12) (docs/programs.md), with the map from convex variables back to network weights.

This is the only module that imports cvxpy. Each program is a small class whose constructor does
the one-off work (building the problem with the data fixed and checking that it is DPP) and whose
``solve`` only fills in parameter values and calls the solver, so that the alternating loop of
Algorithm 1 compiles each program once. NumPy float64 appears only here, at the cvxpy boundary.

Solvers: any cvxpy conic solver, as a name or a :class:`~torch_lipcvx.solvers.Solver`
(docs/solvers.md): ``"CLARABEL"`` (default; interior point, accurate, fast on the reduced/decomposed
forms below) and ``"SCS"`` (first-order; cheaper per iteration, accurate only to about 1e-4 in
practice) are the tested ones.
Every solver status is checked: a status other than optimal raises :class:`SolverError`;
``optimal_inaccurate`` is accepted (and recorded in the :class:`~torch_lipcvx.solvers.SolveRecord`),
since the callers re-verify every result independently (certificates in float64, objectives on the
network).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Optional

import numpy as np

from .._checks import check_nonneg, check_patterns, check_Xy
from ..solvers import (CVXPY_DEFAULT, CVXPY_SOLVERS, SolveRecord, Solver, SolverError,
                       SolverLike, cvxpy_default_options)


class _LazyModule:
    """A module imported on first attribute access: ``cp.Variable`` imports cvxpy (about 1 s,
    and scipy with it) the first time a cvxpy program is built or a cvxpy solver named, so that
    ``import torch_lipcvx`` and the torch solvers never load it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__") or attr == "_name":    # copy/pickle probes: not cvxpy's
            raise AttributeError(attr)
        import importlib
        module = importlib.import_module(self._name)
        globals()["cp"] = module        # later look-ups in this module skip the proxy
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazily imported module {self._name!r}>"


#: cvxpy, imported on first use (see :class:`_LazyModule`); other modules use ``programs.cp``
cp: Any = _LazyModule("cvxpy")

__all__ = [
    "SolverError",
    "SOLVERS",
    "LipSDPProgram",
    "lipsdp_program_size",
    "L2Program",
    "LipschitzRestriction",
    "convex_to_weights",
    "default_solver_options",
    "input_scale",
    "target_scale",
]

#: The cvxpy solvers the library is tested with (:data:`torch_lipcvx.solvers.CVXPY_SOLVERS`; any
#: other conic solver installed in cvxpy is accepted too, see :mod:`torch_lipcvx.solvers`).
SOLVERS = CVXPY_SOLVERS
#: The default cvxpy solver (:data:`torch_lipcvx.solvers.CVXPY_DEFAULT`, where the choice is
#: explained).
DEFAULT_SOLVER = CVXPY_DEFAULT
#: Our default tolerances for a cvxpy solver (kept importable under this name).
default_solver_options = cvxpy_default_options
#: The record of a cvxpy solve (the one record type, :class:`torch_lipcvx.solvers.SolveRecord`).
SolveInfo = SolveRecord


def check_solver(solver: SolverLike) -> str:
    """The canonical name of a cvxpy solver (``'scs'`` → ``'SCS'``, a :class:`Solver` too),
    validated by :meth:`Solver.parse`; ``"auto"``/``"torch"`` are refused here."""
    spec = Solver.parse(solver)
    if spec.uses_torch:
        raise ValueError(f"solver must be a cvxpy solver (e.g. one of {SOLVERS}) here, "
                         f"got {solver!r}")
    return spec.name


def _solve(problem: cp.Problem, solver: SolverLike, options: Optional[dict], what: str,
           warn_inaccurate: bool = True, our_defaults: bool = True) -> SolveRecord:
    """Solve ``problem`` with a cvxpy solver (a name or a :class:`Solver`, whose own options
    ``options`` extend) and check its status; raise :class:`SolverError` on failure.

    ``optimal_inaccurate`` is accepted, with a ``RuntimeWarning`` if ``warn_inaccurate`` (LipSDP
    passes False: its ``t`` is always re-verified and repaired, so the status changes nothing).
    ``our_defaults=False`` leaves out our tight default tolerances (the solver's own apply).
    """
    spec = Solver.parse(solver, options).cvxpy
    solver = spec.cvxpy_name
    opts = default_solver_options(solver) if our_defaults else {}
    opts.update(spec.options)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # cvxpy's own "may be inaccurate" note; we warn below
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=solver, **opts)
    except cp.error.SolverError as exc:
        raise SolverError(f"{solver} failed on {what}: {exc}") from exc
    elapsed = time.perf_counter() - start
    status = problem.status
    if status == cp.OPTIMAL_INACCURATE and warn_inaccurate:
        warnings.warn(f"{solver} returned optimal_inaccurate on {what}; the result is re-scored "
                      "before use", RuntimeWarning, stacklevel=3)
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        other = spec.alternative
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, cp.UNBOUNDED,
                      cp.UNBOUNDED_INACCURATE):
            why = ("it reports the problem infeasible or unbounded; the programs here always "
                   "have a feasible point, so this is numerical trouble (badly scaled data?)")
        else:
            why = "iteration/time limit or numerical trouble"
        raise SolverError(f"{solver} returned status '{status}' on {what} ({why}); try "
                          f"solver='{other}' or other solver_options")
    iterations = getattr(problem.solver_stats, "num_iters", None)
    return SolveRecord(status=status, solver=solver, solve_time=elapsed,
                       value=float(problem.value), options=opts, iterations=iterations)


def _sym(M):
    """Symmetric part, so cvxpy sees a provably symmetric PSD argument."""
    return (M + M.T) / 2


def target_scale(y) -> float:
    """σ, the power of two nearest the spread of the targets ``y`` (their standard deviation;
    their root mean square if they are constant; 1 if they are all zero).

    The cvxpy programs of a fitting problem are solved in units of σ and their solution scaled
    back, exact in binary floating point: the outputs and the weights that carry the units are
    divided by σ (y, c and ρ/σ² always; in (12) the fixed ``α`` with ``T → T/σ²`` and
    ``β → β/σ²``, ``W̃`` unchanged; in the α-step the variable ``α`` with ``T → T/σ²``; in (6)
    ``V`` with ``β → β/σ``), which multiplies J by exactly ``1/σ²``. So the solvers' absolute
    tolerances (Clarabel's ``tol_gap_abs``, SCS's ``eps_abs``) act as relative ones in any units
    of y: targets in units of 1e-4 (and outer weights with them) gave (12) and (6) 1.8–2.1× the
    optimum otherwise. Standardised targets (every loader's) have σ = 1, the identity.
    """
    y = np.asarray(y, dtype=float)
    rms = float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
    spread = float(np.std(y)) if y.size else 0.0
    if not spread > 1e-8 * rms:                  # constant targets (std is round-off)
        spread = rms
    if not (spread > 0 and math.isfinite(spread)):
        return 1.0
    return math.ldexp(1.0, math.frexp(spread / math.sqrt(2))[1])


def input_scale(X) -> float:
    """τ, the power of two nearest the root mean square of the inputs ``X (n, d)`` (1 if they
    are all zero).

    The cvxpy restriction (12) (:class:`LipschitzRestriction`, ``path.RestrictionLayer``) is
    solved for ``X/τ`` with the input weights ``W̄τ`` (and ρτ², λ/τ², the ridge β/τ² on ``W̄``
    only), exact in binary floating point and the same program: with inputs in units of 1e-3
    Clarabel's (12) otherwise ended 1.8% above the optimum (``tests/test_units.py``). Program (6)
    needs no such scaling (measured). Standardised inputs (every loader's) have τ = 1, the
    identity.
    """
    return _pow2_near_rms(X)


def _pow2_near_rms(A) -> float:
    """The power of two nearest the root mean square of the array ``A`` (1 if it is all zero)."""
    A = np.asarray(A, dtype=float)
    rms = float(np.sqrt(np.mean(A ** 2))) if A.size else 0.0
    if not (rms > 0 and math.isfinite(rms)):
        return 1.0
    return math.ldexp(1.0, math.frexp(rms / math.sqrt(2))[1])


def _scaled_info(info: SolveInfo, factor: float) -> SolveInfo:
    """``info`` with the objective value in the caller's units (times ``factor``)."""
    return dataclasses.replace(info, value=info.value * factor)


def _augment(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _check_data(X, y, D, coef, weights: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
    """``X (n, d)``, ``y (n,)`` (``(n, 1)`` is flattened: cvxpy would broadcast ``pred − y`` to
    ``(n, n)``), ``D (n, k)`` of 0/1, ``coef (k,)``, all finite, and every weight finite and
    ``>= 0``."""
    Xt, yt = check_Xy(X, y)
    X, y = Xt.double().numpy(), yt.double().numpy()
    D, coef = np.asarray(D), np.asarray(coef, dtype=float)
    n = X.shape[0]
    if D.ndim != 2 or D.shape[0] != n or coef.shape != (D.shape[1],):
        raise ValueError(f"D must have shape ({n}, k) and the outer coefficients (k,), got "
                         f"{D.shape} and {coef.shape}")
    for name, v in (("D", D), ("coef", coef)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains NaN/Inf")
    # D_j is a 0/1 diagonal: other values silently give another program
    D = check_patterns(D, "D").numpy()
    _check_weights(weights)
    return X, y, D, coef


def _check_weights(weights: dict) -> None:
    """Every weight (λ, β) a finite number ``>= 0``: the programs test ``> 0`` to add a term, so
    a negative one would silently be read as 0."""
    for name, v in weights.items():
        check_nonneg(v, name)


# --------------------------------------------------------------------------------------- LipSDP
class LipSDPProgram:
    """LipSDP-neuron for a shallow net, ``min ρ`` over ``ρ, t ≥ 0`` (docs/lipsdp.md).

    Three equivalent formulations, chosen by ``form``:

    * ``"reduced"`` (default): one LMI of size ``d + 1`` and ``m`` second-order cones. With
      ``P = 2T − ααᵀ ≻ 0``, Sherman–Morrison gives ``T P⁻¹ T = T/2 + ααᵀ / (4(1 − s(t)))`` with
      ``s(t) = Σ_j α_j²/(2 t_j) < 1``, so the spectral form ``ρ ≥ ‖C⁻¹TW̄‖²`` of docs/lipsdp.md
      reads

          ρ I_d ⪰ ½ Σ_j t_j w̄_j w̄_jᵀ + g gᵀ / (4(1 − s(t))),   g = W̄ᵀα,

      and by a Schur complement, with ``u_j ≥ α_j²/(2 t_j)`` (a cone),

          [[ ρ I_d − ½ Σ_j t_j w̄_j w̄_jᵀ ,  g/2      ],
           [ gᵀ/2                        ,  1 − Σ u_j ]]  ⪰ 0.

      Its cost grows like ``m`` instead of ``m³``–``m⁶``: the form that scales.
    * ``"original"``: ``M(ρ, T) = [[−ρ I_d, W̄ᵀT], [T W̄, −2T + ααᵀ]] ⪯ 0`` (size d + m).
    * ``"schur"``: ``[[ρ I_d, −W̄ᵀT, 0], [−T W̄, 2T, −α], [0, −αᵀ, 1]] ⪰ 0`` (size d + m + 1).

    Measured at m = 100, d = 10 (2 cores): original form SCS 1.5 s (eps 1e-4) to 12 s (1e-6),
    Clarabel 77 s; Schur form SCS 12 s (1e-4), Clarabel 1.2 s. All data enter as Parameters, so
    one instance serves every network of the same size (DPP).
    """

    FORMS = ("reduced", "original", "schur")

    def __init__(self, m: int, d: int, form: str = "reduced") -> None:
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {self.FORMS}, got {form!r}")
        self.m, self.d, self.form = m, d, form
        self.t = cp.Variable(m, nonneg=True)
        self.rho = cp.Variable()
        if form == "reduced":
            self.outer = cp.Parameter((d * d, m))      # column j: vec(w̄_j w̄_jᵀ)
            self.g = cp.Parameter((d, 1))              # W̄ᵀα
            self.a = cp.Parameter(m, nonneg=True)      # α_j² / 2
            u = cp.Variable(m, nonneg=True)
            Q = cp.reshape(self.outer @ self.t, (d, d), order="F")
            S = cp.bmat([[self.rho * np.eye(d) - Q / 2, self.g / 2],
                         [self.g.T / 2, cp.reshape(1 - cp.sum(u), (1, 1), order="F")]])
            constraints = [_sym(S) >> 0, cp.multiply(self.a, cp.inv_pos(self.t)) <= u]
        else:
            self.W = cp.Parameter((m, d))
            TW = cp.multiply(self.t[:, None], self.W)
            if form == "original":
                self.A = cp.Parameter((m, m), symmetric=True)   # ααᵀ
                M = cp.bmat([[-self.rho * np.eye(d), TW.T],
                             [TW, -2 * cp.diag(self.t) + self.A]])
                constraints = [_sym(M) << 0]
            else:
                self.alpha = cp.Parameter(m)
                col = cp.reshape(self.alpha, (m, 1), order="F")
                S = cp.bmat([[self.rho * np.eye(d), -TW.T, np.zeros((d, 1))],
                             [-TW, 2 * cp.diag(self.t), -col],
                             [np.zeros((1, d)), -col.T, np.ones((1, 1))]])
                constraints = [_sym(S) >> 0]
        self.problem = cp.Problem(cp.Minimize(self.rho), constraints)
        assert self.problem.is_dpp()

    def solve(self, W: np.ndarray, alpha: np.ndarray, solver: SolverLike = DEFAULT_SOLVER,
              options: Optional[dict] = None) -> tuple[float, np.ndarray, SolveInfo]:
        """Return the solver's ``(ρ, t, info)``; ``t`` still needs float64 re-verification.

        ``W (m, d)`` and ``alpha (m,)`` must have no zero entry in ``alpha``.

        Raises:
            ValueError: shapes other than ``(m, d)`` and ``(m,)`` of this program, NaN/Inf.
        """
        W = np.asarray(W, dtype=float)
        alpha = np.asarray(alpha, dtype=float)
        if W.shape != (self.m, self.d) or alpha.shape != (self.m,):
            raise ValueError(f"expected W {(self.m, self.d)} and alpha {(self.m,)}; got "
                             f"{W.shape} and {alpha.shape}")
        for name, v in (("W", W), ("alpha", alpha)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} contains NaN/Inf")
        if self.form == "reduced":
            self.outer.value = np.einsum("jk,jl->lkj", W, W).reshape(self.d * self.d, self.m,
                                                                      order="F")
            self.g.value = (W.T @ alpha)[:, None]
            self.a.value = alpha ** 2 / 2
        elif self.form == "original":
            self.W.value, self.A.value = W, np.outer(alpha, alpha)
        else:
            self.W.value, self.alpha.value = W, alpha
        # one instance serves unrelated networks: cvxpy's default warm start (SCS starts from
        # the previous network's solution) then misleads SCS, which ended a later certificate
        # at optimal_inaccurate and, repaired, up to 2000x loose (tests/test_bounds.py)
        options = {"warm_start": False, **(options or {})}
        info = _solve(self.problem, solver, options, f"LipSDP ({self.form} form)",
                      warn_inaccurate=False)
        return float(self.rho.value), np.maximum(np.asarray(self.t.value, dtype=float), 0.0), info


def lipsdp_original_lmi(W: np.ndarray, alpha: np.ndarray, solver: SolverLike = DEFAULT_SOLVER,
                        options: Optional[dict] = None) -> tuple[float, np.ndarray, SolveInfo]:
    """LipSDP with the original (un-Schured) LMI ``M(ρ, T) ⪯ 0`` of docs/lipsdp.md.

    ``M = [[−ρ I, W̄ᵀT], [T W̄, −2T + ααᵀ]]``. An independent formulation used to cross-check
    :class:`LipSDPProgram`; built afresh on each call.
    """
    m, d = W.shape
    t = cp.Variable(m, nonneg=True)
    rho = cp.Variable()
    TW = cp.multiply(t[:, None], W)
    M = cp.bmat([[-rho * np.eye(d), TW.T], [TW, -2 * cp.diag(t) + np.outer(alpha, alpha)]])
    problem = cp.Problem(cp.Minimize(rho), [_sym(M) << 0])
    info = _solve(problem, solver, options, "LipSDP (original LMI)", warn_inaccurate=False)
    return float(rho.value), np.maximum(np.asarray(t.value, dtype=float), 0.0), info


def lipsdp_program_size(m: int, d: int, form: str = "reduced") -> dict[str, Any]:
    """A rough size of :class:`LipSDPProgram` ``(m, d, form)`` and of its Clarabel solve, without
    building it (no cvxpy), so that a caller can skip one that cannot fit in memory.

    Peak memory of building and solving the reduced form, measured for d = 10…30, m = 50…200:
    about 50 bytes per ``d²m²`` (cvxpy's parameter-to-data map of the ``(d², m)`` parameter, one
    array of ``24 d²m²`` bytes; at d = 50, m = 1000 cvxpy asked for 56 GiB), estimated here as
    ``64 d²(m + 1)²`` bytes plus 0.3 GB. The original and Schur forms add the dense Newton block of
    their ``N = d + m (+ 1)`` LMI in the conic solver, ``8 (N(N + 1)/2)²`` bytes.

    Returns:
        ``{"variables", "lmi_sizes", "cones", "bytes"}``: the number of scalar variables, the
        sizes of the LMIs, the number of second-order cones and the estimated peak bytes.

    Raises:
        ValueError: ``m`` or ``d`` not a positive integer, or an unknown ``form``.
    """
    for name, v in (("m", m), ("d", d)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if form not in LipSDPProgram.FORMS:
        raise ValueError(f"form must be one of {LipSDPProgram.FORMS}, got {form!r}")
    m, d = int(m), int(d)
    nbytes = 64.0 * d * d * (m + 1) ** 2 + 3e8
    if form == "reduced":
        return {"variables": 2 * m + 1, "lmi_sizes": [d + 1], "cones": m, "bytes": nbytes}
    size = d + m + (form == "schur")
    svec = size * (size + 1) / 2
    return {"variables": m + 1, "lmi_sizes": [size], "cones": 0,
            "bytes": nbytes + 8.0 * svec * svec}


# --------------------------------------------------------------------------------- program (6)
class L2Program:
    """The ℓ2-regularised convex program (6) of docs/programs.md §1 with the patterns fixed.

        min_V (1/n)‖Σ_j σ_j D_j X̃ v_j + c − y‖² + β Σ_j ‖v_j‖₂   s.t. (2D_j − I) X̃ v_j ≥ 0

    with one row ``v_j`` of ``V (k, d + 1)`` per pattern slot, ``σ_j = +1`` for slots of the
    multiset P and ``−1`` for N (so ``u_i`` and ``z_k`` of docs/programs.md §1 are the rows with σ =
    ±1), and the optional free output bias ``c`` (not penalised).

    Args:
        X: ``(n, d)`` data; y: ``(n,)`` targets; D: ``(n, k)`` boolean patterns, one column per
        slot; sign: ``(k,)`` array of ±1 (anything else raises ``ValueError``); beta: ℓ2 weight
        β ≥ 0; output_bias: whether ``c`` is free.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, D: np.ndarray, sign: np.ndarray,
                 beta: float, output_bias: bool) -> None:
        X, y, D, sign = _check_data(X, y, D, sign, {"beta": beta})
        if not np.all(np.abs(sign) == 1):
            # another coefficient is another program: the map back (convex_to_weights) would
            # then no longer give (β/2)(‖w̃‖² + α²) = β‖v‖ nor the convex model's output
            raise ValueError(f"sign must hold only +1 and -1 (one per pattern slot), got "
                             f"{np.unique(sign)}")
        n, d = X.shape
        k = D.shape[1]
        Xt = _augment(X)
        self.scale = sigma = target_scale(y)      # solved for y/σ, V/σ with β/σ (exact)
        y, beta = y / sigma, beta / sigma
        self.V = cp.Variable((k, d + 1))
        self.c = cp.Variable() if output_bias else None
        Z = Xt @ self.V.T
        pred = cp.sum(cp.multiply(D * sign[None, :], Z), axis=1)
        if self.c is not None:
            pred = pred + self.c
        objective = cp.sum_squares(pred - y) / n
        if beta > 0:
            objective = objective + beta * cp.sum(cp.norm(self.V, 2, axis=1))
        constraints = [cp.multiply(2.0 * D - 1.0, Z) >= 0]
        self.problem = cp.Problem(cp.Minimize(objective), constraints)

    def solve(self, solver: SolverLike = DEFAULT_SOLVER, options: Optional[dict] = None,
              warm: Optional[np.ndarray] = None) -> tuple[np.ndarray, Optional[float], SolveInfo]:
        """Return ``(V, c, info)`` in the units of y (``info.value`` the program's objective)."""
        sigma = self.scale
        if warm is not None:
            self.V.value = np.asarray(warm, dtype=float) / sigma
        info = _solve(self.problem, solver, options, "the l2 program (6)")
        c = None if self.c is None else float(self.c.value) * sigma
        return np.asarray(self.V.value, dtype=float) * sigma, c, _scaled_info(info, sigma ** 2)


def convex_to_weights(V: np.ndarray, sign: np.ndarray, rel_zero: float = 1e-12
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Map (6)'s solution back to a network (docs/programs.md §1, the paper's (7)/(13)).

    ``w̃_j = v_j / sqrt(‖v_j‖)``, ``α_j = σ_j sqrt(‖v_j‖)``; rows with ‖v_j‖ below
    ``rel_zero · max_j ‖v_j‖`` become zero units. Then ``(1/2)(‖w̃_j‖² + α_j²) = ‖v_j‖`` and the
    network reproduces the convex model's output wherever the cone constraints hold.

    Returns ``W̃ (k, d + 1)`` and ``α (k,)``.
    """
    if not np.all(np.isfinite(V)):
        raise ValueError("V contains NaN/Inf: not a solution of (6)")
    norms = np.linalg.norm(V, axis=1)
    keep = norms > rel_zero * max(norms.max(initial=0.0), 1e-300)
    scale = np.zeros_like(norms)
    scale[keep] = np.sqrt(norms[keep])
    Wt = np.zeros_like(V)
    Wt[keep] = V[keep] / scale[keep, None]
    return Wt, sign * scale


# -------------------------------------------------------------------------------- program (12)
class LipschitzRestriction:
    """The convex restriction (12) (docs/programs.md §2), built once; ``T`` enters as Parameters.

        min  (1/n)‖Σ_j α_j D_j X̃ w̃_j + c − y‖² + λ ρ + (β/2) Σ_j ‖w̃_j‖²
        s.t. (2D_j − I) X̃ w̃_j ≥ 0,
             [[ρ I_d, −W̄ᵀT], [−T W̄, 2T − ααᵀ]] ⪰ 0

    over ``W̃ (m, d + 1)``, ``ρ`` and the optional free output bias ``c``. ``α (m,)`` must be
    nonzero (callers drop units with α_j = 0: they change neither f nor the certificate), and ``t``
    must certify (``2T − ααᵀ ≻ 0``, true for any re-verified LipSDP ``t``).

    ``form="decomposed"`` (default) writes the LMI exactly as ``m + 2`` small ones. With
    ``2T − ααᵀ ≻ 0`` the LMI is ``ρ I ⪰ Σ_j (t_j/2) w̄_j w̄_jᵀ + c_T g gᵀ`` with ``g = W̄ᵀα`` and
    ``c_T = 1/(4(1 − Σ_j α_j²/(2t_j)))`` (see :class:`LipSDPProgram`), and this arrow-shaped
    (chordal) condition splits without loss into

        [[G_j, r_j w̄_j], [r_j w̄_jᵀ, 1]] ⪰ 0,  [[H, k g], [k gᵀ, 1]] ⪰ 0,  ρ I_d − Σ_j G_j − H ⪰ 0

    with ``r_j = sqrt(t_j/2)`` and ``k = sqrt(c_T)`` as Parameters (sizes d + 1, d + 1 and d).
    ``form="full"`` keeps the single LMI of size d + m with ``t`` as the Parameter (slow beyond a
    few dozen units; used to cross-check).

    Args:
        X: ``(n, d)``; y: ``(n,)``; D: ``(n, m)`` boolean patterns; alpha: ``(m,)`` fixed outer
        weights; lam: λ ≥ 0; beta: β ≥ 0; output_bias: whether ``c`` is a variable.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, D: np.ndarray, alpha: np.ndarray,
                 lam: float, beta: float, output_bias: bool, form: str = "decomposed") -> None:
        if form not in ("decomposed", "full"):
            raise ValueError(f"form must be 'decomposed' or 'full', got {form!r}")
        X, y, D, alpha = _check_data(X, y, D, alpha, {"lam": lam, "beta": beta})
        n, d = X.shape
        m = D.shape[1]
        self.d, self.form = d, form
        self.alpha = np.asarray(alpha, dtype=float)
        # solved in units of σ: y/σ, α/σ, T/σ², β/σ², ρ/σ² (c/σ; W̃ unchanged): exact, and the
        # same program up to the factor σ² on J (see target_scale)
        self.scale = sigma = target_scale(y)
        y, alpha, beta = y / sigma, self.alpha / sigma, beta / sigma ** 2
        # and in units of τ on the inputs: X/τ, W̄τ, ρτ², λ/τ², ridge β/τ² on W̄ (input_scale)
        self.input_scale = tau = input_scale(X)
        Xt = _augment(X / tau)
        self.Wt = cp.Variable((m, d + 1))
        self.rho = cp.Variable()
        self.c = cp.Variable() if output_bias else None
        Z = Xt @ self.Wt.T
        pred = cp.sum(cp.multiply(D * alpha[None, :], Z), axis=1)
        if self.c is not None:
            pred = pred + self.c
        objective = cp.sum_squares(pred - y) / n + (lam / tau ** 2) * self.rho
        if beta > 0:
            ridge = np.append(np.full(d, 1.0 / tau), 1.0)
            objective = objective + (beta / 2) * cp.sum_squares(cp.multiply(self.Wt,
                                                                            ridge[None, :]))
        Wbar = self.Wt[:, :d]
        constraints = [cp.multiply(2.0 * D - 1.0, Z) >= 0]
        if form == "full":
            self.t = cp.Parameter(m, nonneg=True)
            TW = cp.multiply(self.t[:, None], Wbar)
            lmi = cp.bmat([[self.rho * np.eye(d), -TW.T],
                           [-TW, 2 * cp.diag(self.t) - np.outer(alpha, alpha)]])
            constraints.append(_sym(lmi) >> 0)
        else:
            self.r = cp.Parameter(m, nonneg=True)
            self.k = cp.Parameter(nonneg=True)
            one = np.ones((1, 1))
            G = [cp.Variable((d, d), symmetric=True) for _ in range(m)]
            H = cp.Variable((d, d), symmetric=True)
            for j in range(m):
                v = cp.reshape(self.r[j] * Wbar[j, :], (d, 1), order="F")
                constraints.append(cp.bmat([[G[j], v], [v.T, one]]) >> 0)
            g = cp.reshape(self.k * (alpha @ Wbar), (d, 1), order="F")
            constraints.append(cp.bmat([[H, g], [g.T, one]]) >> 0)
            constraints.append(self.rho * np.eye(d) - cp.sum(G) - H >> 0)
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():  # pragma: no cover - guards the formulation
            raise AssertionError("the restriction (12) must be DPP in its parameters")

    def solve(self, t: np.ndarray, solver: SolverLike = DEFAULT_SOLVER,
              options: Optional[dict] = None
              ) -> tuple[np.ndarray, Optional[float], float, SolveInfo]:
        """Solve with ``T = diag(t)``; return ``(W̃, c, ρ, info)`` as the solver gives them (in the
        units of y: see :func:`target_scale`).

        Raises:
            ValueError: ``t`` not of shape ``(m,)``, with NaN/Inf, or not satisfying
                ``2T − ααᵀ ≻ 0``.
        """
        t = np.asarray(t, dtype=float)
        m = self.alpha.shape[0]
        if t.shape != (m,):
            raise ValueError(f"t must have shape ({m},) (one entry per unit), got {t.shape}")
        if not np.all(np.isfinite(t)):
            raise ValueError("t contains NaN/Inf")
        s = float(np.sum(self.alpha ** 2 / (2 * np.maximum(t, 1e-300))))
        if np.any(t <= 0) or s >= 1:
            raise ValueError("t must certify the current network (2T - alpha alpha^T > 0)")
        sigma = self.scale
        if self.form == "full":
            self.t.value = t / sigma ** 2
        else:
            self.r.value = np.sqrt(t / 2) / sigma
            self.k.value = np.sqrt(1 / (4 * (1 - s)))     # s = Σ α_j²/(2 t_j) is unit-free
        info = _solve(self.problem, solver, options, "the Lipschitz restriction (12)")
        c = None if self.c is None else float(self.c.value) * sigma
        tau = self.input_scale
        Wt = np.asarray(self.Wt.value, dtype=float).copy()
        Wt[:, :self.d] /= tau
        return Wt, c, float(self.rho.value) * sigma ** 2 / tau ** 2, _scaled_info(info, sigma ** 2)


# ------------------------------------------------------------------------ ADMM SDP step
class ADMMSDPStep:
    """The SDP ("Lipschitz") step of the ADMM baseline (docs/admm.md §2(c)), built once per size.

        min_{Z, a, ρ}  μ ρ + ½ (‖Z − V_W‖²_F + ‖a − V_α‖²)
        s.t.           S_T(Z, a, ρ) = [[ ρ I_d , −ZᵀT , 0  ],
                                       [ −T Z  ,  2T  , −a ],
                                       [  0    , −aᵀ  ,  1 ]]  ⪰ 0

    over ``Z (m, d)``, ``a (m,)`` and ``ρ``, with ``T = diag(t)``. With ``μ = λ/κ`` this has the
    minimisers of docs/admm.md's ``λρ + (κ/2)(‖Z − V_W‖² + ‖a − V_α‖²)``: it is the prox of
    ``μ·φ_T`` at ``(V_W, V_α)``, ``φ_T(Z, a) = min{ρ : S_T ⪰ 0}`` (the Schur form of docs/lipsdp.md,
    linear in ``(Z, a, ρ)`` for fixed ``T``). One LMI of size ``d + m + 1``; ``V_W``, ``V_α``, ``t``
    and ``μ`` are Parameters (DPP, ``T·Z`` written as ``multiply(t[:, None], Z)``), so one instance
    serves every ADMM iteration.

    Units with ``t_j = 0``: the 2×2 minor ``[[2t_j, −a_j], [−a_j, 1]]`` forces ``a_j = 0`` and
    then ``z_j`` leaves the LMI. To keep a strictly feasible LMI for the interior-point solver,
    such units enter with ``t_j`` replaced by 1 on the diagonal, 0 in ``T·Z``, and the explicit
    constraint ``a_j = 0``; this is the same feasible set.

    Measured at m = 100, d = 10–11 (2 shared cores): Clarabel 1.0–1.4 s per solve with
    ``λ_min(S_T) ≥ 0`` to 1e-9 (it splits the arrow-shaped LMI into cliques itself; with its
    chordal decomposition off, 170 s); SCS at eps 1e-6 0.4–0.9 s when warm-started by the
    previous ADMM iterate (1–2.6 s cold), with ``λ_min`` down to −5e-5 at ``ρ ≈ 50``. An explicit
    chordal split into ``m`` LMIs of size ``d + 2`` (exact; it gave the same solution) was slower
    with both solvers, so only the plain form is provided.

    Args:
        m: number of hidden units; d: input dimension.
    """

    def __init__(self, m: int, d: int) -> None:
        self.m, self.d = m, d
        self.Z = cp.Variable((m, d))
        self.a = cp.Variable(m)
        self.rho = cp.Variable()
        self.V_W = cp.Parameter((m, d))
        self.V_alpha = cp.Parameter(m)
        self.t_z = cp.Parameter(m, nonneg=True)     # t, the coefficient of Z
        self.t_d = cp.Parameter(m, nonneg=True)     # t with zeros replaced by 1 (the diagonal)
        self.mask = cp.Parameter(m, nonneg=True)    # 1 where t_j = 0 (then a_j = 0)
        self.weight = cp.Parameter(nonneg=True)     # μ = λ/κ
        TZ = cp.multiply(self.t_z[:, None], self.Z)
        col = cp.reshape(self.a, (m, 1), order="F")
        S = cp.bmat([[self.rho * np.eye(d), -TZ.T, np.zeros((d, 1))],
                     [-TZ, 2 * cp.diag(self.t_d), -col],
                     [np.zeros((1, d)), -col.T, np.ones((1, 1))]])
        objective = self.weight * self.rho + 0.5 * (cp.sum_squares(self.Z - self.V_W)
                                                    + cp.sum_squares(self.a - self.V_alpha))
        constraints = [_sym(S) >> 0, cp.multiply(self.mask, self.a) == 0]
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():  # pragma: no cover - guards the formulation
            raise AssertionError("the ADMM SDP step must be DPP in its parameters")

    def solve(self, V_W: np.ndarray, V_alpha: np.ndarray, t: np.ndarray, weight: float,
              solver: SolverLike = DEFAULT_SOLVER, options: Optional[dict] = None
              ) -> tuple[np.ndarray, np.ndarray, float, SolveInfo]:
        """Solve at targets ``V_W (m, d)``, ``V_alpha (m,)`` with ``T = diag(t)``, ``t ≥ 0``.

        ``weight`` is ``μ = λ/κ ≥ 0``; with ``μ = 0``, ``ρ`` is not unique (only ``(Z, a)`` is).

        Returns:
            ``(Z, a, ρ, info)`` as the solver gives them (float64 arrays); callers re-check the
            LMI in float64.

        Raises:
            ValueError: wrong shapes, NaN/Inf, negative ``t`` or ``weight``.
            SolverError: the solver failed or hit a limit.
        """
        V_W = np.asarray(V_W, dtype=float)
        V_alpha = np.asarray(V_alpha, dtype=float)
        t = np.asarray(t, dtype=float)
        if V_W.shape != (self.m, self.d) or V_alpha.shape != (self.m,) or t.shape != (self.m,):
            raise ValueError(f"expected V_W {(self.m, self.d)}, V_alpha {(self.m,)}, t "
                             f"{(self.m,)}; got {V_W.shape}, {V_alpha.shape}, {t.shape}")
        for name, v in (("V_W", V_W), ("V_alpha", V_alpha), ("t", t)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} contains NaN/Inf")
        if np.any(t < 0):
            raise ValueError(f"t must be >= 0, got min {t.min():g}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        zero = t == 0
        self.V_W.value, self.V_alpha.value = V_W, V_alpha
        self.t_z.value = t
        self.t_d.value = np.where(zero, 1.0, t)
        self.mask.value = zero.astype(float)
        self.weight.value = float(weight)
        info = _solve(self.problem, solver, options, "the ADMM SDP step")
        Z = np.asarray(self.Z.value, dtype=float)
        a = np.asarray(self.a.value, dtype=float)
        a[zero] = 0.0
        return Z, a, float(self.rho.value), info


# ------------------------------------------------------------------ the α-step (extensions)
class AlphaRestriction:
    """The α-step of docs/algorithm1.md §3.1: program (12) with the hidden weights fixed, a
    convex program in the outer weights ``α`` (signs free), built once; data enter as Parameters.

        min_{α, c, ρ}  (1/n)‖H α + c − r‖² + λ ρ + (β/2)‖α‖²
        s.t.           S_T(α, ρ) = [[ ρ I_d , −W̄ᵀT , 0  ],
                                    [ −T W̄  ,  2T  , −α ],
                                    [   0   , −αᵀ  ,  1 ]]  ⪰ 0

    with ``H = relu(X̃ W̃ᵀ)`` the ``(n, m)`` hidden features of the fixed hidden layer, ``r`` the
    targets minus the output of any units the caller keeps frozen, and ``c`` the optional free
    output bias. The Schur form (docs/lipsdp.md) is linear in ``(α, ρ)`` for fixed ``W̄`` and ``T``.

    ``t_mode``:

    * ``"fixed"``: ``T = diag(t)`` is a Parameter (the current network's LipSDP certificate),
      exactly the step docs/algorithm1.md §3.1 names; every ``t_j`` must be ``> 0``.
    * ``"free"``: ``t ≥ 0`` is a variable too. With ``W̄`` fixed every block of ``S_T`` (``ρI``,
      ``−W̄ᵀT``, ``2T``, ``−α``) is affine in ``(ρ, t, α)`` jointly, so the step stays convex and
      its optimum is never above the fixed-``T`` one (the fixed ``t`` is feasible). At the optimum,
      ``ρ = ρ*(W̄, α)`` is LipSDP of the new network itself.

    ``form``:

    * ``"reduced"`` (default): the Schur complement on the ``2T`` block, exact for ``t > 0``
      (``W̄ᵀT(2T)⁻¹TW̄ = ½Σ_j t_j w̄_j w̄_jᵀ``, ``W̄ᵀT(2T)⁻¹α = g/2`` with ``g = W̄ᵀα``):

          [[ ρ I_d − ½ Σ_j t_j w̄_j w̄_jᵀ ,  g/2         ],
           [ gᵀ/2                         ,  1 − Σ_j u_j ]]  ⪰ 0,    α_j² ≤ 2 t_j u_j,

      one LMI of size ``d + 1`` and ``m`` rotated second-order cones (the same reduction as
      :class:`LipSDPProgram`'s reduced form, with ``g`` now affine in the variable ``α``).
    * ``"schur"``: the LMI of size ``d + m + 1`` as written above (slow; for cross-checks).

    ``lam = 0`` drops the LMI (then the step is ridge/least squares in ``α``).

    Args:
        n: number of data rows; m: number of (non-frozen) units; d: input dimension.
        lam: λ ≥ 0; beta: β ≥ 0; output_bias: whether ``c`` is a variable.
        t_mode: ``"fixed"`` or ``"free"``; form: ``"reduced"`` or ``"schur"``.
    """

    def __init__(self, n: int, m: int, d: int, lam: float, beta: float, output_bias: bool,
                 t_mode: str = "free", form: str = "reduced") -> None:
        if t_mode not in ("fixed", "free"):
            raise ValueError(f"t_mode must be 'fixed' or 'free', got {t_mode!r}")
        if form not in ("reduced", "schur"):
            raise ValueError(f"form must be 'reduced' or 'schur', got {form!r}")
        _check_weights({"lam": lam, "beta": beta})
        self.n, self.m, self.d = n, m, d
        self.lam, self.beta, self.t_mode, self.form = float(lam), float(beta), t_mode, form
        self.alpha = cp.Variable(m)
        self.rho = cp.Variable(nonneg=True)
        self.c = cp.Variable() if output_bias else None
        self.H = cp.Parameter((n, m))
        self.r = cp.Parameter(n)
        pred = self.H @ self.alpha
        if self.c is not None:
            pred = pred + self.c
        objective = cp.sum_squares(pred - self.r) / n
        if beta > 0:
            objective = objective + (beta / 2) * cp.sum_squares(self.alpha)
        constraints = []
        self.t = None
        if lam > 0:
            self.lam_par = cp.Parameter(nonneg=True)    # λκ² for the solve's W̄/κ (see solve)
            objective = objective + self.lam_par * self.rho
            constraints = self._lmi(m, d)
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():  # pragma: no cover - guards the formulation
            raise AssertionError("the alpha-step must be DPP in its parameters")

    def _lmi(self, m: int, d: int) -> list:
        """The Lipschitz constraint in the chosen form and t-mode (see the class docstring)."""
        free = self.t_mode == "free"
        if free:
            self.t = cp.Variable(m, nonneg=True)
        col = cp.reshape(self.alpha, (m, 1), order="F")
        if self.form == "schur":
            if free:
                self.W = cp.Parameter((m, d))
                TW = cp.multiply(self.t[:, None], self.W)
                twoT = 2 * cp.diag(self.t)
            else:
                self.TW = cp.Parameter((m, d))          # diag(t) W̄ (a product of parameters)
                self.t_par = cp.Parameter(m, nonneg=True)
                TW = self.TW
                twoT = 2 * cp.diag(self.t_par)
            S = cp.bmat([[self.rho * np.eye(d), -TW.T, np.zeros((d, 1))],
                         [-TW, twoT, -col],
                         [np.zeros((1, d)), -col.T, np.ones((1, 1))]])
            return [_sym(S) >> 0]
        self.W = cp.Parameter((m, d))
        g = cp.reshape(self.W.T @ self.alpha, (d, 1), order="F")
        u = cp.Variable(m, nonneg=True)
        if free:
            self.outer = cp.Parameter((d * d, m))       # column j: vec(w̄_j w̄_jᵀ)
            Q = cp.reshape(self.outer @ self.t, (d, d), order="F") / 2
            # α_j² ≤ 2 t_j u_j  ⇔  ‖(2α_j, t_j − 2u_j)‖₂ ≤ t_j + 2u_j  (rotated cone, vectorised)
            cones = [cp.SOC(self.t + 2 * u, cp.vstack([2 * self.alpha, self.t - 2 * u]), axis=0)]
        else:
            self.Q = cp.Parameter((d, d), symmetric=True)  # ½ Σ_j t_j w̄_j w̄_jᵀ
            self.inv2t = cp.Parameter(m, nonneg=True)      # 1/(2 t_j)
            Q = self.Q
            cones = [cp.multiply(self.inv2t, cp.square(self.alpha)) <= u]
        S = cp.bmat([[self.rho * np.eye(d) - Q, g / 2],
                     [g.T / 2, cp.reshape(1 - cp.sum(u), (1, 1), order="F")]])
        return [_sym(S) >> 0, *cones]

    def solve(self, H: np.ndarray, r: np.ndarray, W: np.ndarray, t: Optional[np.ndarray] = None,
              solver: SolverLike = DEFAULT_SOLVER, options: Optional[dict] = None
              ) -> tuple[np.ndarray, Optional[float], float, Optional[np.ndarray], SolveInfo]:
        """Solve for features ``H (n, m)``, targets ``r (n,)`` and hidden weights ``W (m, d)``.

        ``t (m,)`` (all ``> 0``) is required when ``t_mode="fixed"`` and ignored otherwise.

        Returns:
            ``(α, c, ρ, t, info)`` as the solver gives them (``t`` is the solver's ``t`` when free,
            the given one when fixed, ``None`` when ``lam = 0``); callers re-certify.

        Raises:
            ValueError: wrong shapes, NaN/Inf, a missing or nonpositive ``t`` in fixed mode.
            SolverError: the solver failed.
        """
        H = np.asarray(H, dtype=float)
        r = np.asarray(r, dtype=float)
        W = np.asarray(W, dtype=float)
        if H.shape != (self.n, self.m) or r.shape != (self.n,) or W.shape != (self.m, self.d):
            raise ValueError(f"expected H {(self.n, self.m)}, r {(self.n,)}, W {(self.m, self.d)};"
                             f" got {H.shape}, {r.shape}, {W.shape}")
        for name, v in (("H", H), ("r", r), ("W", W)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} contains NaN/Inf")
        # solved for r/σ: α/σ, c/σ, ρ/σ² and T/σ² (homogeneous, exact; see target_scale)
        sigma = target_scale(r)
        self.H.value, self.r.value = H, r / sigma
        fixed = self.lam > 0 and self.t_mode == "fixed"
        if fixed:
            if t is None:
                raise ValueError("t_mode='fixed' needs t")
            t = np.asarray(t, dtype=float)
            if t.shape != (self.m,) or not np.all(np.isfinite(t)) or np.any(t <= 0):
                raise ValueError(f"t must be a finite (m,) = {(self.m,)} array > 0")
        # and for W̄/κ (κ the power of two nearest its RMS): ρ/κ², λκ², t unchanged (exact).
        # W̄ carries the inputs' units (1/X): hidden weights of 1e3 made Clarabel fail here.
        kappa = _pow2_near_rms(W) if self.lam > 0 else 1.0
        W = W / kappa
        if self.lam > 0:
            self.lam_par.value = self.lam * kappa ** 2
            ts = None if t is None else np.asarray(t, dtype=float) / sigma ** 2
            if self.form == "schur":
                if fixed:
                    self.TW.value, self.t_par.value = ts[:, None] * W, ts
                else:
                    self.W.value = W
            else:
                self.W.value = W
                if fixed:
                    self.Q.value = _sym_np(0.5 * (W.T * ts) @ W)
                    self.inv2t.value = 1.0 / (2.0 * ts)
                else:
                    self.outer.value = np.einsum("jk,jl->lkj", W, W).reshape(
                        self.d * self.d, self.m, order="F")
        # optimal_inaccurate is accepted silently: callers always re-score the candidate
        info = _solve(self.problem, solver, options, f"the alpha-step ({self.t_mode} T)",
                      warn_inaccurate=False)
        alpha = np.asarray(self.alpha.value, dtype=float) * sigma
        c = None if self.c is None else float(self.c.value) * sigma
        rho = float(self.rho.value) * (sigma * kappa) ** 2 if self.lam > 0 else float("nan")
        if self.lam == 0:
            t_out = None
        elif fixed:
            t_out = t
        else:
            t_out = np.maximum(np.asarray(self.t.value, dtype=float), 0.0) * sigma ** 2
        return alpha, c, rho, t_out, _scaled_info(info, sigma ** 2)


def _sym_np(M: np.ndarray) -> np.ndarray:
    """Exactly symmetric copy of a float64 matrix (for symmetric Parameters)."""
    return (M + M.T) / 2


__all__.append("AlphaRestriction")
