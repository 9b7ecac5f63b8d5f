"""torch_lipcvx: certified Lipschitz bounds and convex post-processing for shallow ReLU networks.

See MATH.md-based module docstrings: ``models`` (the network), ``bounds`` (certificates),
``programs`` (the cvxpy programs), ``postprocess`` (Algorithm 1), ``data`` (loaders).
"""

from .bounds import LipschitzInterval, LipSDPResult, lipschitz_bounds, lipsdp
from .models import ShallowReLU, ShallowWeights
from .postprocess import (Objective, PostProcessResult, objective, postprocess,
                          solve_l2_program)
from .programs import SolverError

__version__ = "0.1.0"

__all__ = [
    "ShallowReLU",
    "ShallowWeights",
    "LipschitzInterval",
    "LipSDPResult",
    "Objective",
    "PostProcessResult",
    "SolverError",
    "lipschitz_bounds",
    "lipsdp",
    "objective",
    "postprocess",
    "solve_l2_program",
]
