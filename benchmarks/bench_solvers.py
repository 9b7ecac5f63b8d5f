"""Benchmark: the torch solvers (``solver="auto"``) against cvxpy, side by side in one process.

For each data set (a network trained by SGD, m hidden units):

* LipSDP: the plain original (d+m) LMI with SCS (eps 1e-6), the reduced form with Clarabel (our
  cvxpy default) and the dual first-order method (``lipsdp(..., solver="auto")``); certified L
  (float64 re-verification) and time, with ratios to the plain SCS run.
* one step of the restriction (12) with the network's own T: the plain single-LMI form with SCS
  (``--plain``), the decomposed form with Clarabel (default), and the torch primal–dual interior
  point (``PatternBarrier``); objective value and time.
* Algorithm 1 to convergence (``postprocess``): default (Clarabel) and ``solver="auto"``.

Times on shared 2-core machines are noisy: compare the ratios. ``--device cuda`` runs the torch
solver on a GPU when one exists (the cvxpy runs stay on the CPU).

Run: ``python benchmarks/bench_solvers.py [--datasets servo wine] [--plain] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

from torch_lipcvx import lipsdp, postprocess
from torch_lipcvx.data import load_dataset
from torch_lipcvx.fast import PatternBarrier
from torch_lipcvx.models import activation_patterns, sign_order
from torch_lipcvx.programs import LipschitzRestriction, lipsdp_original_lmi
from torch_lipcvx.bounds import certify_t
from torch_lipcvx.train import train_sgd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench(name: str, args) -> dict:
    data = load_dataset(name, args.data_dir, seed=args.seed)
    X, y = data.X_train, data.y_train
    net = train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=1e-2,
                    seed=args.seed).model.double()
    w = net.weights()
    w = w.permute(sign_order(w.alpha))
    out: dict = {"dataset": name, "n": data.n, "d": data.d, "m": args.hidden}
    print(f"\n== {name}: n={X.shape[0]}, d={X.shape[1]}, m={args.hidden}, lam={args.lam:g}")

    rows = []
    if args.plain:
        (rho_p, t_p, _), tp = timed(lipsdp_original_lmi, w.W.numpy(), w.alpha.numpy(), "SCS",
                                   {"eps_abs": 1e-6, "eps_rel": 1e-6, "max_iters": 100_000})
        rows.append(("original LMI + SCS", certify_t(w.W, w.alpha, t_p)[0] ** 0.5, tp))
    ref, tr = timed(lipsdp, w)
    rows.append(("reduced + Clarabel", ref.L, tr))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast, tf = timed(lipsdp, w, solver="auto")
    rows.append(("dual (auto)" + (" [fell back]" if caught else ""), fast.L, tf))
    base = rows[0][2]
    print("LipSDP:")
    for label, L, t in rows:
        print(f"  {label:28s} L={L:.10g}  {t:8.3f}s  ratio={base / t:7.1f}x")
    out["lipsdp"] = [{"method": a, "L": b, "time": c} for a, b, c in rows]

    D = activation_patterns(X, w)
    t = torch.as_tensor(ref.t)
    rows = []
    if args.plain:
        prog = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float),
                                    w.alpha.numpy(), args.lam, 0.0, True, form="full")
        (_, _, _, info), tp = timed(prog.solve, t.numpy(), "SCS")
        rows.append(("full LMI + SCS", info.value, tp))
    prog = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(),
                                args.lam, 0.0, True)
    (_, _, _, info), tc = timed(prog.solve, t.numpy())
    rows.append(("decomposed + Clarabel", info.value, tc))
    dev = torch.device(args.device)
    ipm, ts = timed(PatternBarrier, X.to(dev), y.to(dev), D.to(dev), w.alpha.to(dev),
                    output_bias=True)
    (_, _, _, finfo), ti = timed(ipm.solve_restriction, w.alpha, t, args.lam, 0.0, w.W_tilde, w.c)
    rows.append((f"torch IPM ({finfo.iterations} it, {finfo.status})", finfo.value, ti + ts))
    base = rows[0][2]
    print("one step of (12):")
    for label, v, tt in rows:
        print(f"  {label:28s} value={v:.10g}  {tt:8.2f}s  ratio={base / tt:7.2f}x")
    out["restriction_step"] = [{"method": a, "value": b, "time": c} for a, b, c in rows]

    if not args.skip_algorithm:
        res_d, td = timed(postprocess, net, X, y, lam=args.lam, max_iter=args.max_iter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res_a, ta = timed(postprocess, net, X, y, lam=args.lam, max_iter=args.max_iter,
                              solver="auto")
        print("Algorithm 1:")
        print(f"  default (Clarabel)   J={res_d.objective_after:.10g}  steps={len(res_d.history) - 1}"
              f"  {td:8.2f}s")
        print(f"  auto                 J={res_a.objective_after:.10g}  steps={len(res_a.history) - 1}"
              f"  {ta:8.2f}s  ratio={td / ta:5.2f}x  fallbacks={len(caught)}")
        out["algorithm1"] = {"default": {"J": res_d.objective_after, "time": td},
                             "auto": {"J": res_a.objective_after, "time": ta,
                                      "fallback_warnings": len(caught)}}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["servo", "wine"])
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--lam", type=float, default=1e-2)
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plain", action="store_true", help="also run the plain SCS forms (slow)")
    p.add_argument("--skip-algorithm", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="benchmarks/results/bench_solvers.json")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    report = {"config": vars(args), "results": [bench(name, args) for name in args.datasets]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
