"""Old module paths kept for one release (docs/design.md, "Deprecation policy").

Each old path is a small module that warns :class:`DeprecationWarning` once, when it is first
imported, and forwards every attribute (private names included) to the module(s) that hold the
code now, so ``from torch_lipcvx.fast import PatternBarrier`` keeps working until the next release.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any, Callable

#: Old module path -> the new module(s) whose attributes it forwards, looked up in this order.
MOVED: dict[str, tuple[str, ...]] = {
    "torch_lipcvx.programs": ("torch_lipcvx._engine.programs",),
    "torch_lipcvx.ipm": ("torch_lipcvx._engine.ipm",),
    "torch_lipcvx.fast": ("torch_lipcvx._engine.lipsdp_dual", "torch_lipcvx._engine.barrier"),
    "torch_lipcvx.descent": ("torch_lipcvx.algorithm1.descent",),
    "torch_lipcvx.postprocess": ("torch_lipcvx.algorithm1.postprocess",),
    "torch_lipcvx.extensions": ("torch_lipcvx.algorithm1.extensions",),
    "torch_lipcvx.path": ("torch_lipcvx.algorithm1.path",),
    "torch_lipcvx.callbacks": ("torch_lipcvx.lightning.callback",),
}


def forward(old: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Warn that module ``old`` moved (the warning names the importer's line) and return the
    ``__getattr__`` and ``__dir__`` of its shim, which forward to its new home(s)."""
    new = MOVED[old]
    warnings.warn(f"{old} is deprecated and will be removed in the next release: import from "
                  f"{' or '.join(new)} instead", DeprecationWarning, stacklevel=3)

    def __getattr__(name: str) -> Any:
        for target in new:
            module = import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({n for target in new for n in dir(import_module(target))})

    return __getattr__, __dir__
