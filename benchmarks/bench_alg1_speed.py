"""Algorithm 1 on small problems, to convergence: main against an older commit, same start (issue 30).

    python benchmarks/bench_alg1_speed.py [--datasets servo machine wine] [--max-iter 100]
        [--baseline-python /work/venv_f2c/bin/python] [--baseline-label f2c955f]
        [--before SRC_DIR] [--out FILE]

Per data set (bundled UCI split 0; a 100-unit network trained by Adam, 300 epochs, seed 0, as in
bench_solvers.py; λ = 1e-2, β = 0, ``solver="auto"``, tol 1e-4), one thread:

* the start network and the data are saved once (``torch.save``), then
* Algorithm 1 of this checkout runs in this process, and
* the same call runs in a subprocess under ``--baseline-python`` (a virtual environment with
  an older commit installed, e.g. the first wave's f2c955f), on the saved start, one thread;
  skipped when that interpreter does not exist;
* with ``--before DIR`` (a copy of an older checkout's ``torch_lipcvx`` package under DIR,
  e.g. ``git archive <commit> torch_lipcvx | tar -x -C DIR``), the same call once more in a
  subprocess of this interpreter with ``PYTHONPATH=DIR``: main before a change, same conditions.

Printed and saved: both times (wall and CPU seconds), both final J and their relative
difference, the step counts and the ratio. For this checkout also, per Algorithm-1 step, the
interior-point iterations and seconds and the step's distance from the floor measured in the
same process: iterations × (one float64 Cholesky of the Newton size ``m(d+1) + 2`` + one data
pass over the ``n × m × (d+1)`` pattern data: the rows ``X̃W̃ᵀ`` and the adjoint
``X̃ᵀY``).

Writes a JSON (default ``benchmarks/results/bench_alg1_speed.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import torch

HERE = Path(__file__).resolve().parent

# the baseline's run, in a fresh interpreter of the other environment (its torch_lipcvx)
_BASELINE = r"""
import json, sys, time, torch
torch.set_num_threads(1)
import torch_lipcvx
from torch_lipcvx.models import ShallowReLU
s = torch.load(sys.argv[1])
net = ShallowReLU(s["d"], s["m"]).double()
net.load_state_dict(s["state"])
t0, c0 = time.perf_counter(), time.process_time()
res = torch_lipcvx.postprocess(net, s["X"], s["y"], lam=s["lam"], max_iter=s["max_iter"],
                               solver="auto")
print(json.dumps({"time": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "J": res.objective_after, "steps": len(res.history) - 1,
                  "message": res.message, "file": torch_lipcvx.__file__}))
"""


def best_time(fn, repeat: int = 5) -> float:
    fn()
    out = []
    for _ in range(repeat):
        tic = time.perf_counter()
        fn()
        out.append(time.perf_counter() - tic)
    return min(out)


def floor_parts(X: torch.Tensor, m: int) -> dict:
    """One float64 Cholesky of the Newton size and one data pass, best of 5 (seconds)."""
    n, d = X.shape
    p = d + 1
    N = m * p + 2
    g = torch.Generator().manual_seed(0)
    A = torch.randn(N, N, dtype=torch.float64, generator=g)
    K = A @ A.T + N * torch.eye(N, dtype=torch.float64)
    Xt = torch.cat([X.double(), torch.ones(n, 1, dtype=torch.float64)], 1)
    W = torch.randn(m, p, dtype=torch.float64, generator=g)
    D = torch.rand(n, m, generator=g) > 0.5
    Y = torch.rand(n, m, dtype=torch.float64, generator=g)

    def data_pass():
        Z = Xt @ W.T
        S = torch.where(D, Z, -Z)
        G = Xt.T @ torch.where(D, Y, -Y)
        return S, G

    return {"N": N, "cholesky": best_time(lambda: torch.linalg.cholesky(K)),
            "data_pass": best_time(data_pass)}


def run_main(net, X, y, lam: float, max_iter: int) -> tuple[dict, list]:
    """Algorithm 1 of this checkout; every interior-point solve's record, in order."""
    from torch_lipcvx import postprocess
    from torch_lipcvx._engine.barrier import PatternBarrier

    records: list = []
    original = PatternBarrier.solve_restriction

    def recording(self, *a, **kw):
        out = original(self, *a, **kw)
        records.append(out[-1])
        return out

    PatternBarrier.solve_restriction = recording
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        res = postprocess(net, X, y, lam=lam, max_iter=max_iter, solver="auto")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        PatternBarrier.solve_restriction = original
    hist = [{"step": r.iteration, "J": r.objective, "time": r.time,
             "solve_time": r.solve_time} for r in res.history]
    return {"time": wall, "cpu": cpu, "J": res.objective_after, "steps": len(res.history) - 1,
            "message": res.message, "history": hist}, records


def run_baseline(python: str, start: Path, path: Optional[str] = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    if path is not None:
        env["PYTHONPATH"] = path
    out = subprocess.run([python, "-c", _BASELINE, str(start)], capture_output=True, text=True,
                         cwd=tempfile.gettempdir(), env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the baseline run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["servo", "machine", "wine"])
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--lam", type=float, default=1e-2)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline-python", default="/work/venv_f2c/bin/python")
    ap.add_argument("--baseline-label", default="f2c955f")
    ap.add_argument("--before", default=None,
                    help="a directory holding an older torch_lipcvx package (main before)")
    ap.add_argument("--out", default=str(HERE / "results" / "bench_alg1_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    import torch_lipcvx
    from torch_lipcvx.data import load_dataset
    from torch_lipcvx.train import train_sgd

    results = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_alg1_speed_"))
    for name in args.datasets:
        data = load_dataset(name, seed=args.seed)
        X, y = data.X_train.double(), data.y_train.double()
        net = train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=1e-2,
                        seed=args.seed).model.double()
        start = tmp / f"start_{name}.pt"
        torch.save({"state": net.state_dict(), "X": X, "y": y, "d": X.shape[1],
                    "m": args.hidden, "lam": args.lam, "max_iter": args.max_iter}, start)
        print(f"== {name}: n={X.shape[0]}, d={X.shape[1]}, m={args.hidden}, lam={args.lam:g}",
              flush=True)
        floor = floor_parts(X, args.hidden)
        main_row, records = run_main(net, X, y, args.lam, args.max_iter)
        per_iter = floor["cholesky"] + floor["data_pass"]
        steps = []
        for i, r in enumerate(records):
            fl = r.iterations * per_iter
            steps.append({"solve": i + 1, "iterations": r.iterations, "status": r.status,
                          "seconds": r.solve_time, "floor_seconds": fl,
                          "above_floor": r.solve_time / fl if fl > 0 else None})
        iters = [s["iterations"] for s in steps]
        main_row.update(solves=len(steps), iterations=sum(iters),
                        iterations_per_solve=sum(iters) / max(len(iters), 1),
                        solve_seconds=sum(s["seconds"] for s in steps),
                        floor_seconds=sum(s["floor_seconds"] for s in steps), per_solve=steps)
        main_row["above_floor"] = main_row["solve_seconds"] / max(main_row["floor_seconds"], 1e-12)
        print(f"  main: {main_row['time']:.2f}s (cpu {main_row['cpu']:.2f}s), "
              f"J={main_row['J']:.10g}, {main_row['steps']} steps, "
              f"{main_row['iterations_per_solve']:.1f} IPM iterations/solve, interior point "
              f"{main_row['solve_seconds']:.2f}s = {main_row['above_floor']:.1f}x its floor "
              f"(Cholesky N={floor['N']}: {1e3 * floor['cholesky']:.2f} ms, data pass "
              f"{1e3 * floor['data_pass']:.2f} ms)", flush=True)
        row = {"dataset": name, "n": X.shape[0], "d": X.shape[1], "m": args.hidden,
               "floor": floor, "main": main_row}
        if Path(args.baseline_python).exists():
            base = run_baseline(args.baseline_python, start)
            row["baseline"] = base
            row["ratio"] = base["time"] / main_row["time"]
            row["ratio_cpu"] = base["cpu"] / main_row["cpu"]
            row["rel_dJ"] = (main_row["J"] - base["J"]) / abs(base["J"])
            print(f"  {args.baseline_label}: {base['time']:.2f}s (cpu {base['cpu']:.2f}s), "
                  f"J={base['J']:.10g}, {base['steps']} steps -> ratio {row['ratio']:.1f}x "
                  f"(cpu {row['ratio_cpu']:.1f}x), rel. dJ {row['rel_dJ']:+.1e}", flush=True)
        if args.before is not None:
            before = run_baseline(sys.executable, start, args.before)
            row["before"] = before
            row["ratio_before"] = before["time"] / main_row["time"]
            row["ratio_before_cpu"] = before["cpu"] / main_row["cpu"]
            print(f"  before: {before['time']:.2f}s (cpu {before['cpu']:.2f}s), "
                  f"J={before['J']:.10g}, {before['steps']} steps -> ratio "
                  f"{row['ratio_before']:.1f}x (cpu {row['ratio_before_cpu']:.1f}x)", flush=True)
        results.append(row)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "config": {**vars(args), "torch": torch.__version__, "threads": 1,
                       "machine": platform.processor() or platform.machine(),
                       "package": str(Path(torch_lipcvx.__file__).parent)},
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
