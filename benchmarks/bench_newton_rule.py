"""Which Newton system should ``solver="auto"`` use? Dense Cholesky vs matrix-free CG, measured.

One solve of the restriction (12) (λ = 1e-2, β = 0, from a random network with its own LipSDP
certificate) on synthetic data, by the dense interior point and by the matrix-free one, side by
side in this process, for a ladder of sizes ``N = m (d + 1)``. Prints time, iterations, CG
iterations, J and the ratio; writes benchmarks/results/bench_newton_rule.json. The rule in
``torch_lipcvx._engine.newton_cg.auto_newton`` is fitted on these rows (docs/solvers.md §3.2):
the crossover size where the matrix-free solve becomes faster.

    python benchmarks/bench_newton_rule.py [--threads 1] [--device cpu] [--quick]
        [--sizes 3000x10x300 ...] [--append]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from torch_lipcvx import ShallowReLU
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx.bounds import lipsdp
from torch_lipcvx.models import ShallowWeights

LADDER = [(400, 4, 50), (1000, 10, 100), (2000, 10, 200), (3000, 10, 300), (4000, 12, 400)]
QUICK = [(200, 4, 20), (400, 4, 50)]


def instance(n: int, d: int, m: int, device: str, seed: int = 0):
    """Synthetic data, a random network's patterns and its LipSDP multipliers."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sin(X @ torch.randn(d, generator=g, dtype=torch.float64))
    torch.manual_seed(seed)
    net = ShallowReLU(d, m).double()
    w = net.weights()
    t = torch.as_tensor(lipsdp(w).t, dtype=torch.float64)
    Wt = torch.cat([w.W, w.b[:, None]], 1)
    D = (X @ w.W.T + w.b) > 0
    put = lambda v: v.to(device)  # noqa: E731
    return put(X), put(y), put(D), put(w.alpha), put(t), put(Wt)


def run(n: int, d: int, m: int, device: str) -> dict:
    X, y, D, alpha, t, Wt = instance(n, d, m, device)
    row = {"n": n, "d": d, "m": m, "N": m * (d + 1)}
    for newton in ("dense", "cg"):
        bar = PatternBarrier(X, y, D, alpha, output_bias=True, newton=newton)
        t0 = time.perf_counter()
        _, _, _, info = bar.solve_restriction(alpha, t, 1e-2, 0.0, Wt,
                                              torch.zeros((), dtype=torch.float64, device=device),
                                              screen=False)
        row[newton] = {"time_s": time.perf_counter() - t0, "iterations": info.iterations,
                       "cg_iterations": info.inner_iterations, "J": info.value,
                       "status": info.status, "gap": info.gap}
    row["speedup_cg"] = row["dense"]["time_s"] / row["cg"]["time_s"]
    row["J_rel_diff"] = abs(row["cg"]["J"] - row["dense"]["J"]) / abs(row["dense"]["J"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", nargs="*", help="NxDxM sizes instead of the ladder, e.g. 3000x10x300")
    ap.add_argument("--append", action="store_true", help="add the rows to an existing --out")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "bench_newton_rule.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    ladder = QUICK if a.quick else LADDER
    if a.sizes:
        ladder = [tuple(int(v) for v in s.split("x")) for s in a.sizes]
    for n, d, m in ladder:
        r = run(n, d, m, a.device)
        rows.append(r)
        print(f"n={n:5d} d={d:3d} m={m:4d} N={r['N']:6d}  dense {r['dense']['time_s']:8.2f}s "
              f"({r['dense']['iterations']} it)  cg {r['cg']['time_s']:8.2f}s "
              f"({r['cg']['iterations']} it, {r['cg']['cg_iterations']} CG)  "
              f"cg speed-up {r['speedup_cg']:.2f}x  J rel diff {r['J_rel_diff']:.1e}", flush=True)
        if not a.quick:         # after every row: a long ladder keeps what it measured
            os.makedirs(os.path.dirname(a.out), exist_ok=True)
            old = []
            if a.append and os.path.exists(a.out):
                with open(a.out) as f:
                    old = json.load(f)["rows"]
            with open(a.out, "w") as f:
                json.dump({"device": a.device, "threads": a.threads, "torch": torch.__version__,
                           "machine": platform.processor() or platform.machine(),
                           "load": os.getloadavg(), "rows": old + rows}, f, indent=1)


if __name__ == "__main__":
    main()
