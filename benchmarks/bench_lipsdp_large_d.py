"""Benchmark: ``lipsdp(..., solver="auto")`` for networks with many inputs (d = 50, 100), m up to
1000.

Before issue 26, ``solver="auto"`` stopped its first-order method at a certified relative gap of
3–4e-7 for d > 32, above the 1e-7 it accepts, and fell back to Clarabel through cvxpy: 35.8 s at
d = 50, m = 100, killed out of memory at m = 500, a 56 GiB MemoryError at m = 1000. Now the
first-order method aims at the accepted gap and the barrier Newton method (Woodbury's
``(m + 1) × (m + 1)`` system) closes what it leaves open (docs/lipsdp.md, docs/solvers.md); a
cvxpy fallback is sized before it is built.

For every network, each in a fresh process (so that its peak memory is its own):

* ``auto``: ``lipsdp(w, solver="auto")`` (time, peak resident memory above the process's
  resident memory before the call, Linux only, certified relative gap ``(rho −
  rho_lower)/rho_lower``, method, any warning);
* ``torch``: ``solver="torch"`` (the same torch methods, never cvxpy);
* ``newton``: the Newton method alone (``solver_options={"method": "newton"}``);
* ``apg``: the first-order method alone at its default tolerance (1e-6), the old ``"torch"`` path.

The cost floor of each network: the time of one Cholesky factorisation of the matrix the Newton
method factorises each step (``(m + 1)²`` or ``(d(d+1)/2)²``,
:func:`~torch_lipcvx._engine.lipsdp_dual.newton_system`) and of one ``d × d`` eigendecomposition
(one first-order step's projection); the ratios of ``auto``'s time to them. The size of the cvxpy
fallback ``auto`` would build (:func:`~torch_lipcvx._engine.programs.lipsdp_program_size`) is listed
beside the available memory.

Networks: ``random`` (Gaussian ``W``, ``α ~ N(0, 1/m)``) and ``zerosum`` (units in ± pairs, so
``g = W̄ᵀα = 0`` and the optimum sits on the boundary ``s = 1``, where every candidate of the
first-order method used to be infinite in rounding; they are now moved just inside).

Measured (one thread, a shared 2-core machine, results/bench_lipsdp_large_d.json): ``auto``
0.03–0.23 s at gaps 1e-8 to 5e-8, no fallback, peak memory ≤ 14 MB; Newton alone 0.06–1.9 s at
gaps 1e-9 to 7e-9 (≤ 76 MB); the first-order method at its old 1e-6 tolerance stops at gaps up to
8e-7 (what sent ``auto`` to cvxpy before). The cvxpy fallback would need 1.8 GiB (d = 50, m = 100)
to 598 GiB (d = 100, m = 1000).

Run (one thread, as the numbers in the report): ``OMP_NUM_THREADS=1 python
benchmarks/bench_lipsdp_large_d.py`` (about 3 minutes); ``--quick`` for d = 50, m = 100 only.
Writes ``benchmarks/results/bench_lipsdp_large_d.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

from torch_lipcvx.models import ShallowWeights

METHODS = ("auto", "torch", "newton", "apg")
SIZES = [(50, 100), (50, 500), (50, 1000), (100, 100), (100, 500), (100, 1000)]
KINDS = ("random", "zerosum")
OUT = Path(__file__).resolve().parent / "results" / "bench_lipsdp_large_d.json"


def make_net(kind: str, d: int, m: int, seed: int = 0) -> ShallowWeights:
    """``random``: Gaussian ``W (m, d)`` and biases, ``α ~ N(0, 1/m)``; ``zerosum``: the same
    with ``m/2`` units repeated with ``−α`` (``W̄ᵀα = 0``)."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    if kind == "random":
        return ShallowWeights(torch.randn(m, d, generator=g, dtype=f64),
                              torch.randn(m, generator=g, dtype=f64),
                              torch.randn(m, generator=g, dtype=f64) / math.sqrt(m))
    W = torch.randn(m // 2, d, generator=g, dtype=f64)
    a = torch.randn(m // 2, generator=g, dtype=f64) / math.sqrt(m)
    return ShallowWeights(torch.cat([W, W]), torch.randn(2 * (m // 2), generator=g, dtype=f64),
                          torch.cat([a, -a]))


def _status_bytes(field: str) -> int:
    """``VmRSS``/``VmHWM`` of ``/proc/self/status`` in bytes (0 where it cannot be read)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _reset_peak() -> bool:
    """Reset the process's peak resident memory (Linux: ``5`` into ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def run_one(kind: str, d: int, m: int, method: str) -> dict:
    """One certificate in this process: time, peak memory above the baseline, gap, method."""
    from torch_lipcvx.bounds import lipsdp
    w = make_net(kind, d, m)
    lipsdp(make_net(kind, 4, 3), solver=("auto" if method == "auto" else "torch"))  # warm-up
    base = _status_bytes("VmRSS")
    reset = _reset_peak()
    solver = "auto" if method == "auto" else "torch"
    options = {"method": method} if method in ("newton", "apg") else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        res = lipsdp(w, solver=solver, solver_options=options)
        elapsed = time.perf_counter() - start
    gap = (res.rho - res.rho_lower) / res.rho_lower if res.rho_lower > 0 else math.inf
    return {"kind": kind, "d": d, "m": m, "method": method, "time_s": elapsed,
            "peak_mem_mb": (_status_bytes("VmHWM") - base) / 2 ** 20 if reset else None,
            "L": res.L, "gap": gap,
            "solver": res.solver, "status": res.status,
            "warnings": [str(c.message)[:200] for c in caught]}


def cost_floor(d: int, m: int, repeat: int = 5) -> dict:
    """Best-of-``repeat`` time of one Cholesky of the Newton system and one ``d × d`` eigh."""
    from torch_lipcvx._engine.lipsdp_dual import newton_system
    system, size, flops, nbytes = newton_system(m, d)
    g = torch.Generator().manual_seed(0)
    A = torch.randn(size, size, generator=g, dtype=torch.float64)
    A = A @ A.T / size + torch.eye(size, dtype=torch.float64)
    B = torch.randn(d, d, generator=g, dtype=torch.float64)
    B = B + B.T

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    return {"newton_system": system, "newton_size": size, "newton_flops_per_step": flops,
            "newton_bytes": nbytes, "cholesky_s": best(lambda: torch.linalg.cholesky(A)),
            "eigh_s": best(lambda: torch.linalg.eigh(B))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="d = 50, m = 100 only")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", nargs=4, metavar=("KIND", "D", "M", "METHOD"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        kind, d, m, method = args.one
        print(json.dumps(run_one(kind, int(d), int(m), method)))
        return
    from torch_lipcvx.bounds import FALLBACK_MEMORY_SHARE, available_memory
    from torch_lipcvx._engine.programs import lipsdp_program_size
    sizes = SIZES[:1] if args.quick else SIZES
    rows = []
    avail = available_memory()
    for d, m in sizes:
        floor = cost_floor(d, m)
        fallback = lipsdp_program_size(m, d)
        for kind in KINDS:
            row = {"kind": kind, "d": d, "m": m, **floor,
                   "fallback_gib": fallback["bytes"] / 2 ** 30,
                   "fallback_fits": avail is None
                   or fallback["bytes"] <= FALLBACK_MEMORY_SHARE * avail}
            for method in METHODS:
                out = subprocess.run([sys.executable, __file__, "--one", kind, str(d), str(m),
                                      method], capture_output=True, text=True, check=True)
                res = json.loads(out.stdout.strip().splitlines()[-1])
                row[method] = {k: res[k] for k in ("time_s", "peak_mem_mb", "L", "gap",
                                                   "solver", "status", "warnings")}
            row["auto_over_cholesky"] = row["auto"]["time_s"] / floor["cholesky_s"]
            row["auto_over_eigh"] = row["auto"]["time_s"] / floor["eigh_s"]
            rows.append(row)
            a, t, n, p = (row[k] for k in METHODS)
            print(f"{kind:8s} d={d:3d} m={m:4d}  auto {a['time_s']:6.2f}s {a['peak_mem_mb']:6.0f}MB "
                  f"gap {a['gap']:.1e} [{a['solver']}]{' WARN' if a['warnings'] else ''}  "
                  f"torch {t['time_s']:6.2f}s gap {t['gap']:.1e}  newton {n['time_s']:6.2f}s "
                  f"{n['peak_mem_mb']:5.0f}MB gap {n['gap']:.1e}  apg {p['time_s']:5.2f}s "
                  f"gap {p['gap']:.1e}  chol({floor['newton_size']}) "
                  f"{floor['cholesky_s'] * 1e3:6.2f}ms x{row['auto_over_cholesky']:.0f}  "
                  f"eigh({d}) {floor['eigh_s'] * 1e3:5.2f}ms x{row['auto_over_eigh']:.0f}  "
                  f"fallback {row['fallback_gib']:.3g}GiB", flush=True)
    meta = {"torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor(),
            "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get(
                "OMP_NUM_THREADS"), "available_memory_gib": None if avail is None
            else avail / 2 ** 30, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
