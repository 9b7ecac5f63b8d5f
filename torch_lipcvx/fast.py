"""Deprecated path (removed in the next release): moved to
:mod:`torch_lipcvx._engine.lipsdp_dual` and :mod:`torch_lipcvx._engine.barrier`."""

from ._deprecated import forward

__getattr__, __dir__ = forward(__name__)
