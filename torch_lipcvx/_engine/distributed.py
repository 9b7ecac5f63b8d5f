"""The interior point's row reductions across processes (docs/solvers.md §3.3).

Every pass of the matrix-free interior point over the data (``newton="cg"``,
:class:`~.barrier.PatternQuadratic`, :class:`~.ipm.Rows`, the unit blocks of
:class:`~.newton_cg.UnitPreconditioner`) is a sum over the rows ``i = 1 … n``, and every test on
the rows (the step to the boundary, interiority, the worst complementarity product) is a minimum
or an "all" over them. With the rows split across the processes of a ``torch.distributed``
group, each process runs its pass on its own rows and one collective combines them:

* sums (gradients, Hessian actions, ``⟨s, z⟩``, the unit blocks ``X̃ᵀ diag(ω_j) X̃``):
  ``all_reduce(SUM)`` of the local partial sums (:meth:`RowComm.sum_`);
* minima, maxima and "all" tests: ``all_reduce(MIN/MAX)`` (:meth:`RowComm.min`, ``max``,
  ``all``, and their elementwise forms ``min_``/``max_`` on per-unit vectors);
* counts (``n`` in ``1/n``, the barrier degree ``ν = n·m``): :meth:`RowComm.n_total`.

Everything else (the weights ``x``, the LMI, the Newton directions, CG's vectors of size
``m (d + 1)``) is small and replicated: every process runs the same iteration on the same
reduced numbers, so all stay identical. :class:`RowComm` with no group (the default, one
process) makes every operation the identity, so the single-process code path is unchanged.

Only ``torch.distributed`` is used (gloo on CPU, NCCL on CUDA); a tensor on another device than
the backend needs (a CPU tensor under NCCL) is copied to it and back.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["RowComm", "row_shard"]


def row_shard(n: int, rank: int, world: int) -> slice:
    """The contiguous block of rows ``[⌊r n/w⌋, ⌊(r + 1) n/w⌋)`` of process ``rank`` out of
    ``world`` (sizes differ by at most one; a process may get none when ``n < world``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n (the number of rows) must be an integer >= 0, got {n!r}")
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise ValueError(f"world (the number of processes) must be an integer >= 1, got {world!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world:
        raise ValueError(f"rank must be an integer in [0, {world}), got {rank!r}")
    return slice(rank * n // world, (rank + 1) * n // world)


class RowComm:
    """Reductions over rows sharded across processes; one process: every operation the identity.

    Build it with :meth:`from_default_group` inside an initialised ``torch.distributed``
    program (every process of the group must then make the same calls in the same order, as
    the interior point does), or ``RowComm()`` for one process.

    Args:
        group: a ``torch.distributed`` process group, or ``None`` for one process.

    Attributes:
        rank: this process's rank in the group (0 for one process).
        world: the number of processes (1 for one process).
        device: where the backend reduces (``cuda`` for NCCL, else ``cpu``).
    """

    def __init__(self, group=None) -> None:
        self.group = group
        if group is None:
            self.rank, self.world = 0, 1
            self.device = torch.device("cpu")
            return
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError("RowComm(group) needs an initialised torch.distributed process "
                             "group (torch.distributed.init_process_group); use RowComm() for "
                             "one process")
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        backend = str(dist.get_backend(group)).lower()
        self.device = (torch.device("cuda", torch.cuda.current_device())
                       if "nccl" in backend else torch.device("cpu"))

    @classmethod
    def from_default_group(cls) -> "RowComm":
        """The default (world) group of an initialised ``torch.distributed`` program, or a
        one-process :class:`RowComm` when ``torch.distributed`` is not initialised."""
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return cls(dist.group.WORLD)
        return cls()

    @property
    def distributed(self) -> bool:
        """Whether more than one process shares the rows."""
        return self.world > 1

    def __repr__(self) -> str:
        return f"RowComm(rank={self.rank}, world={self.world})"

    # ------------------------------------------------------------------ rows
    def shard(self, n: int) -> slice:
        """This process's contiguous rows out of ``n`` (:func:`row_shard`)."""
        return row_shard(n, self.rank, self.world)

    def n_total(self, n_local: int) -> int:
        """The number of rows over all processes, given this process's ``n_local``."""
        if not self.distributed:
            return int(n_local)
        t = torch.tensor([float(n_local)], dtype=torch.float64)
        return int(round(float(self._reduce(t, "sum")[0])))

    # ------------------------------------------------------------------ reductions
    def _reduce(self, t: Tensor, op: str) -> Tensor:
        """``all_reduce`` of ``t`` in place (copied to the backend's device and back)."""
        import torch.distributed as dist
        ops = {"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}
        if t.device == self.device and t.is_contiguous():
            dist.all_reduce(t, op=ops[op], group=self.group)
            return t
        buf = t.to(self.device).contiguous()
        dist.all_reduce(buf, op=ops[op], group=self.group)
        t.copy_(buf)
        return t

    def sum_(self, t: Tensor) -> Tensor:
        """Sum ``t`` over the processes, in place (every process gets the total); returns it."""
        return self._reduce(t, "sum") if self.distributed else t

    def min_(self, t: Tensor) -> Tensor:
        """Elementwise minimum of ``t`` over the processes, in place; returns it."""
        return self._reduce(t, "min") if self.distributed else t

    def max_(self, t: Tensor) -> Tensor:
        """Elementwise maximum of ``t`` over the processes, in place; returns it."""
        return self._reduce(t, "max") if self.distributed else t

    def sum(self, v: float) -> float:
        """``v`` summed over the processes."""
        return self._scalar(v, "sum")

    def min(self, v: float) -> float:
        """The smallest ``v`` over the processes (``inf`` stays ``inf``)."""
        return self._scalar(v, "min")

    def max(self, v: float) -> float:
        """The largest ``v`` over the processes."""
        return self._scalar(v, "max")

    def all(self, v: bool) -> bool:
        """Whether ``v`` holds on every process."""
        return bool(self._scalar(1.0 if v else 0.0, "min") > 0.5)

    def any(self, v: bool) -> bool:
        """Whether ``v`` holds on some process."""
        return bool(self._scalar(1.0 if v else 0.0, "max") > 0.5)

    def _scalar(self, v: float, op: str) -> float:
        if not self.distributed:
            return float(v)
        return float(self._reduce(torch.tensor([float(v)], dtype=torch.float64), op)[0])


#: The one-process :class:`RowComm` (every operation the identity).
LOCAL = RowComm()


def local_or(comm: Optional[RowComm]) -> RowComm:
    """``comm``, or the one-process :data:`LOCAL` for ``None``; ``TypeError`` for anything else."""
    if comm is None:
        return LOCAL
    if not isinstance(comm, RowComm):
        raise TypeError(f"comm must be a RowComm (torch_lipcvx._engine.distributed) or None, got "
                        f"{type(comm).__name__}")
    return comm
