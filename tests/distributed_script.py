"""One rank of the row-sharded interior point (torch.distributed, gloo); used by
test_distributed.py.

Usage: ``RANK=r WORLD_SIZE=w MASTER_ADDR=127.0.0.1 MASTER_PORT=p python distributed_script.py
OUTDIR``. Writes ``OUTDIR/rank{r}.pt``, a dict: per instance of distributed_cases.CASES, the
restriction (12) (β = 0 and β > 0) and program (6) by ``PatternBarrier(newton="cg", comm=...)``
on this rank's rows; ``"errors"``: what a shared barrier refuses; ``"postprocess"``:
``postprocess(..., comm=...)`` (Algorithm 1, and program (6) with ``lam = 0``) on the full data,
the convex steps sharded. With ``DIST_DEVICE=cuda`` in the environment: the barrier solves only,
on CUDA tensors (the gloo reductions staged through the CPU).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))

from distributed_cases import CASES, barrier_solves, postprocess_runs, refusals  # noqa: E402
from torch_lipcvx._engine.distributed import RowComm  # noqa: E402


def main(out: Path) -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://")
    comm = RowComm.from_default_group()
    try:
        device = os.environ.get("DIST_DEVICE", "cpu")
        res = {name: barrier_solves(case, comm, device) for name, case in CASES.items()}
        if device == "cpu":
            res["errors"] = refusals(comm)
            res["postprocess"] = postprocess_runs(comm)
        torch.save(res, out / f"rank{comm.rank}.pt")
    finally:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
