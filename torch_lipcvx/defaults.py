"""The library's default settings, in one place.

Every function signature of the Python API, every ``torch-lipcvx`` option and the demo read
their defaults from here, so that ``postprocess(model, X, y, lam=...)``, ``torch-lipcvx
postprocess --lam ...`` and ``torch-lipcvx demo`` do the same thing unless told otherwise.
(Changing a value here at run time does not change the defaults of functions already
imported: Python evaluates a default once, when the function is defined.)

Units follow docs/conventions.md: ``X`` and ``y`` are as given (the built-in loaders
standardise both), ``λ`` weighs ``ρ = L²`` and ``β`` the ℓ2 term ``(β/2)Σ_j(‖w̃_j‖² + α_j²)``
of the objective ``J``.
"""

from __future__ import annotations

__all__ = [
    "HIDDEN",
    "EPOCHS",
    "LR",
    "BETA",
    "LAM",
    "MAX_ITER",
    "TOL",
    "STEP_TOL_FRACTION",
    "STEP_TOL_RANGE",
    "step_tol",
    "SEED",
    "ADMM_MAX_ITER",
    "ADMM_TOL",
    "ADMM_LOSS_STEPS",
    "DEMO_BETA",
    "SELECT_LAMS",
    "SELECT_EPS",
    "SELECT_ATTACK_STEPS",
    "SELECT_WARM_START",
    "SELECT_VAL_FRACTION",
    "FIT_LAMS",
    "FIT_START_LAM",
    "FIT_MAX_ITER",
]

# ------------------------------------------------------------------------------ networks, training
#: Hidden units ``m`` of a network built from scratch (training, the CLI, the demo).
HIDDEN: int = 100
#: Full-batch epochs (one optimiser step each) of ``train_sgd``/``train_pgd``/``train_sgd_lip``.
#: At ``m = 100`` on a few hundred rows, Adam at ``LR`` has settled by then (about 1 s on a CPU).
EPOCHS: int = 1000
#: Adam's learning rate (PyTorch's other Adam defaults), for training and ADMM's loss step.
LR: float = 1e-2
#: Seed of every random choice (initialisation, minibatches, PGD starts, rastrigin data).
SEED: int = 0

# ------------------------------------------------------------------------------ the objective J
#: ``β``, weight of the ℓ2 term: 0, the term is off unless asked for (docs/conventions.md).
BETA: float = 0.0
#: ``λ``, weight of ``ρ = L²`` where a Lipschitz weight is needed and none is given: the CLI's
#: ``postprocess``/``bench`` and the demo. (In :func:`~torch_lipcvx.postprocess` ``lam`` is the
#: objective's own weight and defaults to 0, the ℓ2 case; the functions that only make sense
#: with a Lipschitz term, e.g. ADMM, ask for ``lam``.)
LAM: float = 1e-3

# ------------------------------------------------------------------------------ Algorithm 1
#: At most this many restriction solves of Algorithm 1 (docs/algorithm1.md) and of its
#: variants (``postprocess_extended``'s W-step, ``sampled_lipschitz``, ``regularisation_path``).
MAX_ITER: int = 20
#: Algorithm 1 stops when one step lowers ``J`` by less than ``TOL`` relative.
TOL: float = 1e-4
#: Each Algorithm-1 step's torch solve of (12) stops at a relative gap of ``STEP_TOL_FRACTION``
#: times Algorithm 1's ``tol`` (within ``STEP_TOL_RANGE``) unless ``solver_options`` sets its
#: ``tol`` (docs/algorithm1.md §2): a step's error stays a thousandth of the smallest decrease
#: that counts. With ``tol = 1e-4`` this is 1e-7 instead of the solvers' 1e-9: on servo (to
#: convergence, 45 steps) 18 % less time, the final ``J`` within 1.5e-6 relative.
STEP_TOL_FRACTION: float = 1e-3
STEP_TOL_RANGE: tuple = (1e-9, 1e-6)

# ------------------------------------------------------------------------------ choosing λ
#: The ``λ`` grid of :func:`~torch_lipcvx.select_lam` and ``torch-lipcvx select``: 9 points,
#: log-spaced from 1e-4 to 1 (on standardised data, from "L barely moves" to "nearly the mean").
SELECT_LAMS: tuple = tuple(10.0 ** (k / 2) for k in range(-8, 1))
#: PGD radius (input units) of the ``"adversarial"`` validation score.
SELECT_EPS: float = 0.1
#: PGD steps of the validation attack.
SELECT_ATTACK_STEPS: int = 50
#: Whether each ``λ`` of the selection starts from the previous ``λ``'s result; ``False``: each
#: starts from the input network. On servo (splits 0–2, m = 100) both gave the same validation
#: scores within 1.2% at every λ and the same chosen λ, and cold starts were not slower, so the
#: default is the start with the stronger guarantee (docs/algorithm1.md §3.6).
SELECT_WARM_START: bool = False
#: Share of the training rows ``torch-lipcvx select`` holds out for validation (seeded).
SELECT_VAL_FRACTION: float = 0.2

# ------------------------------------------------------------------------------ the pipeline (fit)
#: The ``λ`` path of :func:`~torch_lipcvx.fit` and ``torch-lipcvx fit``: 5 points from 1e-3 to 1.
#: ``FIT_START_LAM`` itself is left out: the SGD-lip start is always a candidate, and a convex
#: step at the start's own ``λ`` barely moves it (servo: ``J`` −0.4%, ``L`` unchanged). Each
#: point costs one restriction solve at the fit rows' size (docs/pipeline.md).
FIT_LAMS: tuple = (1e-3, 3e-2, 1e-1, 3e-1, 1.0)
#: SGD-lip's ``λ₀`` for the start network of :func:`~torch_lipcvx.fit`: the middle of SGD-lip's
#: grid on the frontier benchmark (1e-3 … 1e-1). It fixes the start's activation patterns and
#: outer weights; the path then moves ``λ`` on both sides of it (docs/pipeline.md §2).
FIT_START_LAM: float = 1e-2
#: Restriction solves per Algorithm 1 run inside :func:`~torch_lipcvx.fit`. The first solve does
#: most of the work: on servo from an SGD-lip net (λ 1e-3 … 1), 20 solves instead of 1 lowered
#: ``J`` by a further 0.3–7% at 13–27× the time (docs/pipeline.md §2).
FIT_MAX_ITER: int = 1

# ------------------------------------------------------------------------------ ADMM baseline
#: Outer iterations of the ADMM baseline at most (docs/admm.md).
ADMM_MAX_ITER: int = 50
#: ADMM stops (after its minimum iterations) once ``L`` changes by at most this relative.
ADMM_TOL: float = 1e-3
#: Adam steps of ADMM's loss step per outer iteration.
ADMM_LOSS_STEPS: int = 300

# ------------------------------------------------------------------------------ the demo
#: ``β`` of ``torch-lipcvx demo``, whose point is to show both cases of post-processing: the ℓ2
#: case (program (6)) needs ``β > 0`` to be more than least squares on fixed patterns, and the
#: torch interior point solves it only then. Everything else in the demo is a default above.
DEMO_BETA: float = 1e-3


def step_tol(tol: float) -> float:
    """The relative gap each Algorithm-1 step's torch solve stops at, for Algorithm 1's ``tol``
    (a relative decrease of ``J``): ``STEP_TOL_FRACTION · tol`` clipped to ``STEP_TOL_RANGE``."""
    lo, hi = STEP_TOL_RANGE
    return min(hi, max(lo, STEP_TOL_FRACTION * float(tol)))
