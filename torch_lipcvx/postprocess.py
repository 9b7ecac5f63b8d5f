"""Deprecated path (removed in the next release): moved to
:mod:`torch_lipcvx.algorithm1.postprocess`."""

from ._deprecated import forward

__getattr__, __dir__ = forward(__name__)
