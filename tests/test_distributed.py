"""The convex step with its rows sharded across processes (docs/solvers.md §3.3).

Two CPU processes with gloo (distributed_script.py, started here as two subprocesses) each hold
about half of the rows; the matrix-free interior point (``newton="cg"``) all-reduces every sum
and minimum over rows. Properties: each rank returns the same point, bit for bit; that point is
the one-process solve's on all the rows (``J`` to 1e-7 relative, same status), for (12) with
β = 0 (with units eliminated: biases restored from minima over all the rows) and β > 0 and for
(6); ``postprocess(..., comm=...)`` gives one-process results likewise. The Lightning callback
across two ranks is tests/test_lightning_callback.py's DDP test (it now shares the convex step).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distributed_cases import CASES, barrier_solves, postprocess_runs
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.distributed import RowComm, row_shard

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(out: Path, world: int = 2, device: str = "cpu") -> list[dict]:
    """Run distributed_script.py as ``world`` gloo ranks (tensors on ``device``); each rank's
    saved results."""
    port = _free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), LOCAL_RANK=str(r),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
                   DIST_DEVICE=device)
        procs.append(subprocess.Popen([sys.executable, str(HERE / "distributed_script.py"),
                                       str(out)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=240)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-4000:]
    return [torch.load(out / f"rank{r}.pt") for r in range(world)]


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def solves(tmp_path_factory):
    return _run_ranks(tmp_path_factory.mktemp("ranks"))


def _check_equal(r0: dict, r1: dict, single: dict) -> None:
    assert _same(r0, r1)                        # every rank holds the same point, bit for bit
    for name, one in single.items():
        shard = r0[name]
        # the same verdict; "optimal" and "inexact" (the matrix-free path's accuracy floor, a
        # returned solution all the same) differ only in which threshold a last round-off
        # crossed, so a solve that ends right at one may get either
        assert shard["status"] == one["status"] \
            or {shard["status"], one["status"]} <= {"optimal", "inexact"}, name
        assert abs(shard["value"] - one["value"]) <= 1e-7 * abs(one["value"]), name
        # the certified lower bound (per-unit blocks summed over the ranks' rows) likewise
        assert shard["certified"] == one["certified"], name
        # each bound is a bound on the other solve's optimum too (how tight it is depends on
        # the final duals' residual, which round-off in the sums changes: not compared)
        best = min(shard["value"], one["value"])
        assert max(shard["lower"], one["lower"]) <= best + 1e-12 * abs(best), name
        # the same point, to the accuracy the tolerance fixes it (β = 0 leaves flat directions)
        assert float((shard["W"] - one["W"]).norm()) <= 1e-3 * float(one["W"].norm()), name


@pytest.mark.parametrize("case", sorted(CASES))
def test_sharded_solves_equal_the_one_process_solve(solves, case):
    _check_equal(solves[0][case], solves[1][case], barrier_solves(CASES[case], None))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sharded_solves_on_cuda_equal_the_one_process_solve(tmp_path):
    """Both ranks' tensors on the GPU (gloo stages its reductions through the CPU; NCCL, with
    one GPU per rank, reduces on the GPUs)."""
    ranks = _run_ranks(tmp_path, device="cuda")
    for case in sorted(CASES):
        _check_equal(ranks[0][case], ranks[1][case], barrier_solves(CASES[case], None))


def test_a_shared_barrier_refuses_dense_newton_and_screening(solves):
    errors = solves[0]["errors"]
    assert "newton='cg'" in errors["dense"] and "2 processes" in errors["dense"]
    assert "screen=True" in errors["screen"]


def test_flat_units_are_eliminated_across_ranks(solves):
    """The case whose unit 0 fires nowhere and unit 1 everywhere: at β = 0 their biases are set
    from extremes over all the rows, so the sharded point keeps every pattern on every row."""
    from distributed_cases import setup
    w, X, y, D, t = setup(CASES["flat"])
    bar = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    W = solves[0]["flat"]["restriction beta=0"]["W"]
    assert float(bar.cone_rows(W).min()) > 0


def test_postprocess_across_ranks_equals_one_process(solves):
    r0, r1 = (s["postprocess"] for s in solves)
    assert _same(r0, r1)
    one = postprocess_runs(RowComm())
    for name in ("algorithm1", "l2"):
        J0, J1 = r0[name]["J"], one[name]["J"]
        assert len(J0) == len(J1) >= 2 and J0[-1] < J0[0], name
        # each step starts where the last ended: solver-tolerance differences (each solve's
        # J to ~1e-9) add up over the steps, hence 1e-6 here rather than one solve's 1e-7
        assert all(abs(a - b) <= 1e-6 * abs(b) for a, b in zip(J0, J1)), (name, J0, J1)


# ------------------------------------------------------------------ one process, no group
def test_row_shard_covers_the_rows_once():
    for n in (0, 1, 5, 91):
        for world in (1, 2, 3, 7):
            parts = [row_shard(n, r, world) for r in range(world)]
            assert [i for s in parts for i in range(n)[s]] == list(range(n))
            sizes = [s.stop - s.start for s in parts]
            assert max(sizes) - min(sizes) <= 1


def test_one_process_comm_is_the_identity():
    comm = RowComm.from_default_group()            # no process group here
    assert (comm.rank, comm.world, comm.distributed) == (0, 1, False)
    t = torch.arange(3.0)
    assert comm.sum_(t) is t and torch.equal(t, torch.arange(3.0))
    assert comm.min(2.5) == 2.5 and comm.max(-1.0) == -1.0 and comm.n_total(7) == 7
    assert comm.all(True) and not comm.all(False) and comm.any(True)
    assert comm.shard(10) == slice(0, 10)


class _TwoRanks(RowComm):
    """A stand-in for a RowComm of two processes: enough for the checks made before any
    collective (a reduction on it would fail: there is no process group)."""

    def __init__(self) -> None:
        super().__init__()
        self.world = 2


@pytest.mark.parametrize("kwargs,what", [
    ({"solver": "CLARABEL"}, "solver='CLARABEL'"),
    ({"solver": "auto", "solver_options": {"screen": True}}, "screen=True"),
    ({"loss": "huber"}, "huber loss"),
])
def test_postprocess_refuses_what_cannot_share_rows(kwargs, what):
    from torch_lipcvx import postprocess
    from conftest import make_instance
    net, X, y = make_instance(0, 30, 2, 4, steps=10)
    with pytest.raises(ValueError, match="comm shares the rows") as err:
        postprocess(net, X, y, lam=1e-2, comm=_TwoRanks(), **kwargs)
    assert what in str(err.value)


def test_a_shared_barrier_refuses_dense_newton_before_any_reduction():
    X = torch.randn(10, 2, dtype=torch.float64)
    D = torch.ones(10, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="newton='cg'"):
        PatternBarrier(X, X[:, 0], D, torch.ones(3, dtype=torch.float64), output_bias=True,
                       comm=_TwoRanks())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rank"):
        row_shard(10, 2, 2)
    with pytest.raises(ValueError, match="world"):
        row_shard(10, 0, 0)
    X = torch.randn(10, 2, dtype=torch.float64)
    D = torch.ones(10, 3, dtype=torch.bool)
    with pytest.raises(TypeError, match="comm must be a RowComm"):
        PatternBarrier(X, X[:, 0], D, torch.ones(3, dtype=torch.float64), output_bias=True,
                       comm="gloo")
