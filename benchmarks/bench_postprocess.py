"""Benchmark: Algorithm 1 on rastrigin (n=1000, d=10, m=100 by default).

Reports, side by side in one process (times are noisy on shared machines; compare ratios):

* LipSDP: our default (reduced form, size d+1 LMI, Clarabel) against the plain formulations of
  docs/lipsdp.md (the original size d+m LMI with SCS, the Schur form with Clarabel);
* one step of the restriction (12): our default (chordally decomposed LMI, Clarabel) against the
  plain single (d+m) LMI with SCS (``--skip-plain`` leaves this out: it takes minutes);
* Algorithm 1 to convergence with the default path: time per AM step and J per iteration.

Run: ``python benchmarks/bench_postprocess.py [--n 1000 --d 10 --hidden 100 --lam 1e-3]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from torch_lipcvx import lipsdp, postprocess
from torch_lipcvx.data import rastrigin
from torch_lipcvx.models import activation_patterns, sign_order
from torch_lipcvx.algorithm1.postprocess import objective
from torch_lipcvx._engine.programs import LipschitzRestriction
from torch_lipcvx.train import train_sgd


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--d", type=int, default=10)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--lam", type=float, default=1e-3)
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-plain", action="store_true", help="skip the slow plain (12) solve")
    p.add_argument("--out", default="benchmarks/results/bench_postprocess.json")
    args = p.parse_args()

    data = rastrigin(args.n, args.d, seed=args.seed, test_fraction=0.0)
    X, y = data.X_train, data.y_train
    net = train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=1e-2,
                    seed=args.seed).model
    w = net.weights()
    print(f"rastrigin n={data.n} d={data.d}, m={args.hidden}, lam={args.lam:g}")
    report: dict = {"config": vars(args), "lipsdp": [], "restriction_step": [], "algorithm1": {}}

    print("\nLipSDP (certified L after float64 re-verification)")
    ref = None
    for solver, form in [("CLARABEL", "reduced"), ("SCS", "original"), ("CLARABEL", "schur")]:
        cert, sec = timed(lipsdp, w, solver=solver, form=form)
        ref = ref or (cert, sec)
        row = {"solver": solver, "form": form, "L": cert.L, "seconds": sec,
               "slowdown_vs_default": sec / ref[1], "rel_diff_L": cert.L / ref[0].L - 1}
        report["lipsdp"].append(row)
        print(f"  {solver:8s} {form:9s} L={cert.L:.8f}  {sec:7.2f} s  "
              f"({row['slowdown_vs_default']:.1f}x default; L {row['rel_diff_L']:+.1e})")

    print("\nOne step of the restriction (12) from the trained network")
    ws = w.permute(sign_order(w.alpha))
    cert = lipsdp(ws)
    D = activation_patterns(X, ws).numpy().astype(float)
    forms = [("CLARABEL", "decomposed"), ("SCS", "decomposed")] + (
        [] if args.skip_plain else [("SCS", "full")])
    base = None
    for solver, form in forms:
        (prog, t_build) = timed(LipschitzRestriction, X.numpy(), y.numpy(), D, ws.alpha.numpy(),
                                args.lam, 0.0, True, form)
        (_, _, _, info), t_solve = timed(prog.solve, cert.t, solver)
        base = base or t_build + t_solve
        row = {"solver": solver, "form": form, "program_value": info.value, "build_s": t_build,
               "solve_s": t_solve, "slowdown_vs_default": (t_build + t_solve) / base}
        report["restriction_step"].append(row)
        print(f"  {solver:8s} {form:10s} value={info.value:.8f}  build {t_build:6.2f} s  "
              f"solve {t_solve:7.2f} s  ({row['slowdown_vs_default']:.1f}x default)")

    print("\nAlgorithm 1 (default path)")
    J0 = objective(net, X, y, lam=args.lam)
    res, sec = timed(postprocess, net, X, y, lam=args.lam, max_iter=args.max_iter, tol=1e-4,
                     verbose=True)
    steps = np.diff([r.time for r in res.history])
    report["algorithm1"] = {"seconds": sec, "history": res.history_table(),
                            "seconds_per_step": steps.tolist(), "J0_check": J0.value,
                            "message": res.message}
    print(f"  J {res.objective_before:.6f} -> {res.objective_after:.6f} "
          f"({100 * res.improvement:.2f}% lower) in {len(steps)} steps, {sec:.1f} s total, "
          f"{np.mean(steps) if len(steps) else float('nan'):.2f} s per step")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
