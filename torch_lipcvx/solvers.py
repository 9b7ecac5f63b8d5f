"""Who solves: the one place where a ``solver=`` argument is decoded (docs/solvers.md).

Every public function that solves something takes ``solver=`` (a name or a :class:`Solver`) and,
where it has options, ``solver_options=``. It turns them into one :class:`Solver` by
:meth:`Solver.parse` before any work, and hands that object down; no other module compares solver
names. A :class:`Solver` knows

* its **name**: ``"auto"`` or ``"torch"`` (the library's torch methods: the LipSDP dual/Newton
  methods of :mod:`torch_lipcvx._engine.lipsdp_dual`, the interior point of
  :mod:`torch_lipcvx._engine.ipm`), or the upper-case name of a conic solver installed in cvxpy
  (``"CLARABEL"``, ``"SCS"``, and any other that handles second-order and semidefinite cones, e.g.
  ``"MOREAU"`` or ``"MOSEK"`` when installed). Names are case-insensitive;
* its **options** (read-only): keyword arguments of that solver, or of the torch methods;
* its **fallback rule**: only ``"auto"`` falls back, from a torch solve that misses its tolerances
  to cvxpy (Clarabel), with a warning (:attr:`Solver.fallback`);
* which cvxpy solver runs the problems that have no torch method (:attr:`Solver.cvxpy_name`):
  the named one, or Clarabel for ``"auto"``/``"torch"``.

**The defaults rule** (written once, here). A function defaults to ``"auto"``
(:data:`DEFAULT`) when every problem it solves has a torch method: ``lipsdp``,
``lipschitz_bounds``, ``objective``, ``solve_l2_program``, ``postprocess``, the Lightning callback
and the CLI. A function with a problem that only cvxpy solves defaults to Clarabel
(:data:`CVXPY_DEFAULT`) for all of its problems, so that one solver family solves the whole run:
``ADMM`` (its SDP step), the extensions (``alpha_step``, ``pattern_step``,
``postprocess_extended``, ``sampled_lipschitz``: their programs) and ``regularisation_path``
(the cvxpylayers restriction; its ``lipsdp_solver``). The differentiable layers go through
diffcp, where only SCS gives correct gradients on PSD cones: ``LipSDPLayer`` and
``lipschitz_penalty`` with a layer default to SCS (:data:`LAYER_DEFAULT`). These are the
effective defaults the library has always had; no number depends on this module.

Importing this module loads no cvxpy: cvxpy is asked which solvers are installed only when a
name other than ``"auto"``/``"torch"`` is parsed.

:class:`SolveRecord` is the one record of any solve (a cvxpy program, the torch LipSDP methods,
the interior point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Union

__all__ = [
    "Solver",
    "SolverLike",
    "SolveRecord",
    "SolverError",
    "DEFAULT",
    "TORCH",
    "CVXPY_DEFAULT",
    "LAYER_DEFAULT",
    "TORCH_SOLVERS",
    "CVXPY_SOLVERS",
    "AUTO_FALLBACK_SOLVERS",
    "DIFFCP_METHODS",
    "installed_cvxpy_solvers",
    "cvxpy_default_options",
]

#: The library's torch methods: ``"auto"`` (with the cvxpy fallback) and ``"torch"`` (without),
#: and ``"torch-dense"``/``"torch-cg"``: ``"torch"`` with the interior point's Newton systems of
#: programs (6)/(12) solved by dense Cholesky, resp. matrix-free conjugate gradients (for
#: ``"auto"``/``"torch"`` a rule fitted on measurements picks, docs/solvers.md §3.2).
TORCH_SOLVERS = ("auto", "torch", "torch-dense", "torch-cg")
#: The Newton system each torch solver name fixes (``None``: chosen by problem size and device).
NEWTON_OF = {"torch-dense": "dense", "torch-cg": "cg"}
#: The cvxpy solvers the library is tested with (others installed in cvxpy are accepted too).
CVXPY_SOLVERS = ("CLARABEL", "SCS")
#: Default of the functions whose problems all have a torch method.
DEFAULT = "auto"
#: The torch methods without the cvxpy fallback (e.g. for the differentiable dual certificate).
TORCH = "torch"
#: The cvxpy solver of ``"auto"``/``"torch"`` for problems without a torch method, and the
#: default of the functions that have such a problem (ADMM, the extensions, the λ-path).
#: Clarabel (interior point) on our reduced/decomposed forms is both faster and far more accurate
#: than SCS here: LipSDP at m = 100, d = 10 takes 0.17 s (verified L within 2e-6 of the Schur
#: form) against SCS's 0.7 s at 6e-4; three AM steps of (12) at n = 180, m = 100 take 2.5 s vs 15 s.
CVXPY_DEFAULT = "CLARABEL"
#: The cvxpy solvers that ``"auto"``'s LipSDP fallback tries, in this order (docs/solvers.md §2).
AUTO_FALLBACK_SOLVERS = (CVXPY_DEFAULT, "SCS")
#: Default of the differentiable cvxpylayers certificate (diffcp's Clarabel gives wrong gradients
#: on PSD cones of size ≥ 4).
LAYER_DEFAULT = "SCS"

#: The cvxpy solvers that diffcp (under cvxpylayers) can run, with diffcp's spelling of their
#: names (its ``solve_method``); gradients through Clarabel's PSD cones are wrong there.
DIFFCP_METHODS = {"SCS": "SCS", "CLARABEL": "Clarabel"}

#: Our default tolerances for the cvxpy solvers we know, tight enough for the 1e-6-relative checks
#: downstream (a caller's options override them; other solvers run at their own defaults).
_CVXPY_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "SCS": {"eps_abs": 1e-6, "eps_rel": 1e-6, "max_iters": 100_000},
    "CLARABEL": {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8},
}


def cvxpy_default_options(name: str) -> dict[str, Any]:
    """A fresh copy of our default options for the cvxpy solver ``name`` (``{}`` if none)."""
    return dict(_CVXPY_DEFAULT_OPTIONS.get(name, {}))


def installed_cvxpy_solvers() -> tuple[str, ...]:
    """The conic solvers installed in cvxpy that handle second-order and semidefinite cones
    (what every program of the library needs), in cvxpy's order. Imports cvxpy."""
    from cvxpy.constraints import PSD, SOC
    from cvxpy.reductions.solvers.defines import INSTALLED_CONIC_SOLVERS, SOLVER_MAP_CONIC
    out = []
    for name in INSTALLED_CONIC_SOLVERS:
        cones = getattr(SOLVER_MAP_CONIC.get(name), "SUPPORTED_CONSTRAINTS", ())
        names = {c.__name__ for c in cones}
        if SOC.__name__ in names and (PSD.__name__ in names or "SvecPSD" in names):
            out.append(name)
    return tuple(out)


def _known_cvxpy_solvers() -> tuple[str, ...]:
    """Every solver name cvxpy knows, installed or not. Imports cvxpy."""
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC, SOLVER_MAP_QP
    return tuple(sorted(set(SOLVER_MAP_CONIC) | set(SOLVER_MAP_QP)))


def _bad_name(solver: Any, only: Optional[tuple[str, ...]]) -> ValueError:
    if only is not None:
        return ValueError(f"solver must be one of {only}, got {solver!r}")
    return ValueError(f"solver must be one of {TORCH_SOLVERS + CVXPY_SOLVERS} (case-insensitive; "
                      f"'auto' is the default) or another conic solver installed in cvxpy that "
                      f"handles semidefinite cones, got {solver!r}")


def _normalise(solver: Any, only: Optional[tuple[str, ...]] = None) -> str:
    """The canonical name of ``solver`` (``"auto"``/``"torch"`` lower-case, cvxpy names upper-case)
    or the one ValueError; ``only`` restricts the names a function accepts."""
    if not isinstance(solver, str) or not solver.strip():
        raise _bad_name(solver, only)
    key = solver.strip()
    name = key.lower() if key.lower() in TORCH_SOLVERS else key.upper()
    if only is not None:
        if name not in {n.lower() if n.lower() in TORCH_SOLVERS else n.upper() for n in only}:
            raise _bad_name(solver, only)
    if name in TORCH_SOLVERS:
        return name
    installed = installed_cvxpy_solvers()               # imports cvxpy (a cvxpy name was given)
    if name in installed:
        return name
    if name in CVXPY_SOLVERS or name in _known_cvxpy_solvers():
        raise ValueError(f"solver {name} is not installed or cannot solve semidefinite programs "
                         f"(the installed ones that can: {list(installed)})")
    raise _bad_name(solver, only)


@dataclass(frozen=True)
class Solver:
    """A validated solver choice: its name, its options and (by its name) its fallback rule.

    Build one with :meth:`parse` (or ``Solver("scs", {"eps_abs": 1e-7})``, which validates the
    same way). Every function with a ``solver=`` argument accepts a :class:`Solver` wherever it
    accepts a name. Frozen: ``options`` is a read-only mapping.

    Attributes:
        name: ``"auto"``, ``"torch"`` or an upper-case cvxpy solver name.
        options: keyword arguments of that solver (for ``"auto"``/``"torch"``: the torch
            methods' ``tol``, ``max_iter``, ... as the function in question documents them).
    """

    name: str = DEFAULT
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _normalise(self.name))
        opts = self.options
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise TypeError(f"solver_options must be a dict or None, got {type(opts).__name__}")
        object.__setattr__(self, "options", MappingProxyType(dict(opts)))

    # --------------------------------------------------------------- construction at the edge
    @classmethod
    def parse(cls, solver: "SolverLike", solver_options: Optional[Mapping] = None, *,
              default: Optional[str] = None, only: Optional[tuple[str, ...]] = None
              ) -> "Solver":
        """The :class:`Solver` of a public function's ``solver``/``solver_options`` arguments.

        Args:
            solver: a name (case-insensitive), a :class:`Solver`, or ``None`` for ``default``.
            solver_options: ``None`` or a dict; merged over a given Solver's own options.
            default: what ``None`` means, for functions whose default depends on other
                arguments (e.g. ``lipschitz_penalty``'s on its ``layer``); without one, ``None``
                is refused like any other bad name. (Functions state their default name in
                their signature, by the defaults rule of the module docstring.)
            only: the names this function accepts, if it accepts fewer than all (e.g. the
                diffcp layers); the error then lists them.

        Raises:
            ValueError: an unknown name, a cvxpy solver that is not installed or cannot solve
                semidefinite programs, or a name outside ``only``.
            TypeError: ``solver_options`` is not a dict.
        """
        if solver is None and default is not None:
            solver = default
        name = _normalise(solver.name if isinstance(solver, Solver) else solver, only)
        if solver_options is not None and not isinstance(solver_options, Mapping):
            raise TypeError(f"solver_options must be a dict or None, "
                            f"got {type(solver_options).__name__}")
        if isinstance(solver, Solver):
            if not solver_options:
                return solver
            return cls(name, {**solver.options, **solver_options})
        return cls(name, solver_options or {})

    def with_options(self, options: Optional[Mapping]) -> "Solver":
        """The same solver with ``options`` instead of its own."""
        return Solver(self.name, options or {})

    # --------------------------------------------------------------------------- the rules
    @property
    def uses_torch(self) -> bool:
        """Whether the library's torch methods run (``"auto"`` and ``"torch"``)."""
        return self.name in TORCH_SOLVERS

    @property
    def newton(self) -> Optional[str]:
        """The interior point's Newton system this solver fixes for programs (6)/(12):
        ``"dense"`` (``"torch-dense"``), ``"cg"`` (``"torch-cg"``) or ``None`` (``"auto"`` and
        ``"torch"``: :func:`torch_lipcvx._engine.newton_cg.auto_newton` picks by size and
        device; ``solver_options={"newton": ...}`` overrides); ``None`` for cvxpy solvers."""
        if self.name in NEWTON_OF:
            return NEWTON_OF[self.name]
        if self.uses_torch and self.options.get("newton") is not None:
            return str(self.options["newton"])
        return None

    @property
    def fallback(self) -> bool:
        """Whether a torch solve that misses its tolerances is redone by cvxpy (``"auto"``)."""
        return self.name == "auto"

    @property
    def allows_cvxpy(self) -> bool:
        """Whether cvxpy may run at all: not for ``"torch"`` (the torch methods, no fallback)."""
        return not self.uses_torch or self.fallback

    @property
    def cvxpy_name(self) -> str:
        """The cvxpy solver for the problems with no torch method: the named one, or
        :data:`CVXPY_DEFAULT` for ``"auto"``/``"torch"``."""
        return CVXPY_DEFAULT if self.uses_torch else self.name

    @property
    def cvxpy(self) -> "Solver":
        """This solver if it is a cvxpy one; else :data:`CVXPY_DEFAULT` with no options (the
        options of ``"auto"``/``"torch"`` are the torch methods', which cvxpy refuses)."""
        return Solver(self.cvxpy_name) if self.uses_torch else self

    @property
    def options_or_none(self) -> Optional[dict]:
        """The options as a new dict, or ``None`` when there are none."""
        return dict(self.options) or None

    def cvxpy_options(self) -> dict[str, Any]:
        """Our default options for :attr:`cvxpy_name`, overridden by this Solver's own when it is
        a cvxpy solver (the torch methods' options never reach cvxpy)."""
        opts = cvxpy_default_options(self.cvxpy_name)
        if not self.uses_torch:
            opts.update(self.options)
        return opts

    @property
    def diffcp_method(self) -> str:
        """diffcp's ``solve_method`` for this solver (``"SCS"`` or ``"Clarabel"``), for the
        cvxpylayers layers; ValueError for a solver diffcp cannot run."""
        if self.name not in DIFFCP_METHODS:
            raise ValueError(f"diffcp runs only {tuple(DIFFCP_METHODS.values())}, "
                             f"not {self.name!r}")
        return DIFFCP_METHODS[self.name]

    @property
    def alternative(self) -> str:
        """The other tested cvxpy solver, for error messages: SCS for Clarabel, else Clarabel."""
        return CVXPY_SOLVERS[1] if self.cvxpy_name == CVXPY_SOLVERS[0] else CVXPY_SOLVERS[0]

    # ------------------------------------------------------------------------------ protocol
    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        opts = f", options={dict(self.options)!r}" if self.options else ""
        return f"Solver({self.name!r}{opts})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Solver):
            return NotImplemented
        return self.name == other.name and dict(self.options) == dict(other.options)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(map(str, self.options)))))

    def __reduce__(self):
        return (Solver, (self.name, dict(self.options)))


#: What a ``solver=`` argument accepts.
SolverLike = Union[str, Solver, None]


class SolverError(RuntimeError):
    """A convex solver failed, reported infeasibility, or hit its iteration/time limit."""


@dataclass(kw_only=True)
class SolveRecord:
    """What one solve did, whoever solved it (built by keyword).

    Attributes:
        status: the solver's word: cvxpy's (``"optimal"``, ``"optimal_inaccurate"``) or the torch
            methods' (``"optimal"``, ``"max_iter"``, ``"stalled"``, ``"screened_partial"``; the
            result is feasible either way, only less accurate).
        solver: the cvxpy solver's name, or empty for the torch methods.
        iterations: iterations run (``None`` when the solver does not say).
        solve_time: wall seconds.
        value: the objective at the returned point (for LipSDP ``φ(t)``, an upper bound on ``ρ*``
            up to rounding; for a cvxpy program the solver's objective).
        fallbacks: how many solves within this one were redone by cvxpy.
        lower: a lower bound on the optimum (LipSDP: the dual value; the interior point:
            ``value − gap``); NaN if none.
        gap: the interior point's duality gap ``sᵀz``; NaN otherwise.
        dual_residual: the interior point's stationarity residual at the end; NaN otherwise.
        device: where the iterations ran.
        options: the options the cvxpy solver was called with.
        dual: the torch LipSDP methods' dual matrix ``Z`` (``d × d``) at which ``lower`` was
            attained (:func:`~torch_lipcvx._engine.lipsdp_dual.rho_from_dual`); ``None`` otherwise.
        inner_iterations: the matrix-free interior point's conjugate-gradient iterations (all
            its Newton solves together); ``None`` otherwise.
        certified: whether ``lower`` is a proven lower bound on the optimum (LipSDP's dual value;
            the interior point's Lagrangian bound, docs/solvers.md §3.2) rather than an estimate
            (the interior point's ``value − gap`` with a nonzero dual residual).
    """

    status: str
    solver: str = ""
    iterations: Optional[int] = None
    solve_time: float = 0.0
    value: float = math.nan
    fallbacks: int = 0
    lower: float = math.nan
    gap: float = math.nan
    dual_residual: float = math.nan
    device: str = "cpu"
    options: dict = field(default_factory=dict)
    dual: Any = None
    inner_iterations: Optional[int] = None
    certified: bool = False
