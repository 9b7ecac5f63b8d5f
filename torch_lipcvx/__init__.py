"""torch_lipcvx: certified Lipschitz bounds and convex post-processing for shallow ReLU networks.

Modules (each docstring says which part of docs/ it implements): ``models`` (ShallowReLU),
``bounds`` (certificates and intervals), ``programs`` (the cvxpy programs), ``postprocess``
(Algorithm 1), ``data`` (loaders and built-in data), ``attacks`` (PGD for regression), ``train``
(SGD and adversarial training), ``admm`` (the ADMM baseline), ``layers`` (differentiable LipSDP),
``metrics`` (torchmetrics), ``lightning`` (LightningModule), ``callbacks`` (the Lightning callback
that post-processes after ``fit``), ``plots``, ``cli``.

The names of the heavier optional parts (ADMM, LipSDPLayer, the metrics, the LightningModule and
the callback) are importable from here too, and every submodule is an attribute
(``torch_lipcvx.data``, ``torch_lipcvx.plots``, ...); both load their module on first use, so
``import torch_lipcvx`` stays quick: it loads neither cvxpy nor scipy (they load when a cvxpy
solver is used), nor Lightning, torchmetrics or matplotlib. ``torch_lipcvx.defaults`` holds the
default settings shared by the functions, the command line and the demo.
"""

import sys as _sys
from importlib import import_module as _import_module
from types import ModuleType as _ModuleType

from .attacks import AttackResult, certified_squared_error_bound, pgd_attack
from .bounds import LipschitzInterval, LipSDPResult, lipschitz_bounds, lipsdp
from .linf import LinfExactResult, LinfLPResult, linf_exact, linf_lp
from .models import ShallowReLU, ShallowWeights
from .algorithm1.path import RegularisationPath, RestrictionLayer, regularisation_path
from .algorithm1.postprocess import (Objective, PostProcessResult, objective, postprocess,
                          solve_l2_program)
from ._engine.programs import SolverError

__version__ = "0.1.0"

_LAZY = {
    "train_sgd": "train",
    "train_pgd": "train",
    "TrainResult": "train",
    "train_sgd_lip": "train",
    "ADMM": "admm",
    "ADMMResult": "admm",
    "LipSDPLayer": "layers",
    "lipschitz_penalty": "layers",
    "dual_certificate": "layers",
    "AdversarialMSE": "metrics",
    "CertifiedAdversarialMSE": "metrics",
    "adversarial_mse": "metrics",
    "certified_adversarial_mse": "metrics",
    "ShallowReLURegressor": "lightning.module",
    "ConvexPostProcessing": "lightning.callback",
    "RegressionDataModule": "lightning.module",
    "postprocess_extended": "algorithm1.extensions",
    "sampled_lipschitz": "algorithm1.extensions",
    "alpha_step": "algorithm1.extensions",
}

__all__ = [
    "ShallowReLU",
    "ShallowWeights",
    "LipschitzInterval",
    "LipSDPResult",
    "Objective",
    "PostProcessResult",
    "SolverError",
    "AttackResult",
    "lipschitz_bounds",
    "lipsdp",
    "LinfExactResult",
    "LinfLPResult",
    "linf_exact",
    "linf_lp",
    "objective",
    "postprocess",
    "solve_l2_program",
    "pgd_attack",
    "certified_squared_error_bound",
    "RestrictionLayer",
    "RegularisationPath",
    "regularisation_path",
    *_LAZY,
]


#: The submodules, each an attribute of the package loaded on first access (``tl.data``).
_SUBMODULES = ("admm", "attacks", "bounds", "callbacks", "cli", "data", "defaults", "extensions",
               "fast", "ipm", "layers", "lightning", "linf", "metrics", "models", "path", "plots",
               "postprocess", "programs", "train")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _import_module(f".{name}", __name__)   # the import sets the attribute too
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and submodules, the lazily loaded ones included (for ``dir()`` and tab
    completion)."""
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


class _Package(_ModuleType):
    """The package's module type. The import machinery sets every imported submodule as an
    attribute of its package; the deprecated module path ``torch_lipcvx.postprocess`` would then
    hide the function ``torch_lipcvx.postprocess``, which keeps its place."""

    def __setattr__(self, name: str, value) -> None:
        if name == "postprocess" and isinstance(value, _ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
