"""torch_lipcvx: certified Lipschitz bounds and convex post-processing for shallow ReLU networks.

The layout (docs/index.md has the one-screen map; docs/design.md the choices behind it):
``pipeline`` (``fit``, the recommended pipeline: SGD-lip, a convex λ-path, λ chosen on held-out
rows; docs/pipeline.md), ``models`` (ShallowReLU), ``bounds`` (certificates and intervals, the LipSDP dispatch),
``linf`` (ℓ∞ bounds), ``losses`` (the convex losses, docs/losses.md), ``objective`` (J),
``solvers`` (Solver, SolveRecord), ``algorithm1``
(Algorithm 1 and its variants), ``admm`` (the ADMM baseline), ``train`` (SGD, PGD, SGD-lip),
``layers`` (the differentiable certificate), ``attacks``, ``metrics`` (torchmetrics),
``lightning`` (LightningModule, DataModule, callback), ``data``, ``checkpoint``, ``plots``,
``cli``, ``defaults``; ``_engine`` is the engine room (cvxpy programs, interior point, pattern
barrier, LipSDP dual), private by convention.

What is a top-level name here (the rule): the pipeline (``fit``); the models; the certificates and their results;
Algorithm 1 and its variants, J, and the solver configuration and record; training; attacks and
metrics; the Lightning names. Data access, checkpoints, plots, defaults and the command line are
used as submodules (``torch_lipcvx.data.load_dataset``, ``torch_lipcvx.checkpoint``, ...), as is
everything in ``__all__`` of a submodule that is not listed here.

What loads when: the names of :data:`_EAGER` load with the package (torch and NumPy only: no
cvxpy, scipy, Lightning, torchmetrics or matplotlib; cvxpy loads when a cvxpy solver is used).
The names of :data:`_LAZY` (training, ADMM, the layers, the extensions, the metrics, Lightning)
and every submodule load on first access, so ``import torch_lipcvx`` stays quick.
"""

import sys as _sys
from importlib import import_module as _import_module
from types import ModuleType as _ModuleType

from .attacks import (AttackResult, ClassificationAttackResult, certified_radius,
                      certified_squared_error_bound, pgd_attack, pgd_classification)
from .bounds import (LipschitzInterval, LipSDPFallbackWarning, LipSDPResult, lipschitz_bounds,
                     lipsdp)
from .linf import LinfExactResult, LinfLPResult, linf_exact, linf_lp
from .models import ShallowReLU, ShallowWeights
from .objective import Objective, objective
from .solvers import SolveRecord, Solver, SolverError
from .algorithm1.path import RegularisationPath, RestrictionLayer, regularisation_path
from .algorithm1.postprocess import PostProcessResult, postprocess, solve_l2_program

__version__ = "0.1.0"

#: The names loaded with the package, by their home module (the imports above).
_EAGER = {
    "models": ("ShallowReLU", "ShallowWeights"),
    "bounds": ("LipschitzInterval", "LipSDPResult", "LipSDPFallbackWarning", "lipschitz_bounds",
               "lipsdp"),
    "linf": ("LinfExactResult", "LinfLPResult", "linf_exact", "linf_lp"),
    "objective": ("Objective", "objective"),
    "solvers": ("Solver", "SolveRecord", "SolverError"),
    "algorithm1.postprocess": ("PostProcessResult", "postprocess", "solve_l2_program"),
    "algorithm1.path": ("RestrictionLayer", "RegularisationPath", "regularisation_path"),
    "attacks": ("AttackResult", "pgd_attack", "certified_squared_error_bound",
                "ClassificationAttackResult", "pgd_classification", "certified_radius"),
}

#: The names loaded on first access: name -> home module.
_LAZY = {
    "train_sgd": "train",
    "train_pgd": "train",
    "train_sgd_lip": "train",
    "TrainResult": "train",
    "ADMM": "admm",
    "ADMMResult": "admm",
    "LipSDPLayer": "layers",
    "lipschitz_penalty": "layers",
    "dual_certificate": "layers",
    "postprocess_extended": "algorithm1.extensions",
    "sampled_lipschitz": "algorithm1.extensions",
    "alpha_step": "algorithm1.extensions",
    "select_lam": "algorithm1.select",
    "fit": "pipeline",
    "FitResult": "pipeline",
    "LamSelection": "algorithm1.select",
    "AdversarialMSE": "metrics",
    "CertifiedAdversarialMSE": "metrics",
    "adversarial_mse": "metrics",
    "certified_adversarial_mse": "metrics",
    "RobustAccuracy": "metrics",
    "CertifiedAccuracy": "metrics",
    "robust_accuracy": "metrics",
    "certified_accuracy": "metrics",
    "ShallowReLURegressor": "lightning.module",
    "RegressionDataModule": "lightning.module",
    "ConvexPostProcessing": "lightning.callback",
}

__all__ = [name for names in _EAGER.values() for name in names] + list(_LAZY)

#: The submodules, each an attribute of the package loaded on first access (``tl.data``).
#: (``objective`` is a submodule too, but the name is the function J: import the module as
#: ``torch_lipcvx.objective`` with ``import ... as`` or ``from torch_lipcvx.objective import``.)
_SUBMODULES = ("admm", "algorithm1", "attacks", "bounds", "checkpoint", "cli", "data",
               "defaults", "layers", "lightning", "linf", "losses", "metrics", "models", "pipeline",
               "plots", "solvers", "train")

#: Module paths of the previous release kept for one more (each warns DeprecationWarning on first
#: import; ``torch_lipcvx._deprecated``): still attributes, no longer listed by ``dir()``.
_OLD_SUBMODULES = ("callbacks", "descent", "extensions", "fast", "ipm", "path", "programs")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES or name in _OLD_SUBMODULES:
        return _import_module(f".{name}", __name__)   # the import sets the attribute too
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and submodules, the lazily loaded ones included (for ``dir()`` and tab
    completion)."""
    return sorted((set(globals()) | set(__all__) | set(_SUBMODULES)) - set(_OLD_SUBMODULES))


#: Top-level functions that share their name with a module path (``torch_lipcvx.postprocess`` is
#: also the deprecated path of Algorithm 1's module, ``torch_lipcvx.objective`` J's module).
_FUNCTIONS_NAMED_LIKE_MODULES = ("objective", "postprocess")


class _Package(_ModuleType):
    """The package's module type. The import machinery sets every imported submodule as an
    attribute of its package; importing the module path ``torch_lipcvx.postprocess`` would then
    hide the function ``torch_lipcvx.postprocess``, which keeps its place."""

    def __setattr__(self, name: str, value) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, _ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
