"""The Lightning parts (needs ``lightning`` and ``torchmetrics``; loaded only when used).

* :mod:`.module` — :class:`~.module.ShallowReLURegressor` (a ``LightningModule`` that trains a
  :class:`~torch_lipcvx.models.ShallowReLU`, optionally adversarially, and logs the metrics of
  :mod:`torch_lipcvx.metrics`) and :class:`~.module.RegressionDataModule`.
* :mod:`.callback` — :class:`~.callback.ConvexPostProcessing`, the callback that runs
  Algorithm 1 when ``fit`` ends and writes the result back only if J went down.

The three names are importable from here and from :mod:`torch_lipcvx`. (Inside this package
``lightning.pytorch`` is always the third-party package: imports are absolute.)
"""

from .callback import ConvexPostProcessing
from .module import RegressionDataModule, ShallowReLURegressor

__all__ = ["ConvexPostProcessing", "RegressionDataModule", "ShallowReLURegressor"]


def __getattr__(name: str):
    # this path was the module of the LightningModule (today .module): its other names still resolve
    from . import module
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
