"""Command line: ``torch-lipcvx <subcommand>`` (also ``python -m torch_lipcvx``).

Subcommands:

* ``demo``: train a 100-unit ShallowReLU on the built-in rastrigin data, certify it, post-process it
  (ℓ2 case and Lipschitz case), print a before/after table and write a plot and a JSON file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

__all__ = ["main"]


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Plain-text table: ``columns`` is a list of (key, header, format)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append([("-" if row.get(k) is None else format(row[k], f)) for k, _, f in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _demo(args: argparse.Namespace) -> int:
    from .bounds import lipschitz_bounds
    from .data import rastrigin
    from .plots import plot_objective_history
    from .postprocess import objective, postprocess
    from .train import train_sgd

    start = time.perf_counter()
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    data = rastrigin(args.n, args.d, seed=args.seed)
    X, y, Xte, yte = data.X_train, data.y_train, data.X_test, data.y_test
    say(f"data: rastrigin, {data.n} training and {data.n_test} test points, d={data.d} "
        f"(standardised)")

    say(f"[1/4] training a {args.hidden}-unit ShallowReLU with Adam ({args.epochs} full-batch "
        f"epochs, beta={args.beta:g}) ...")
    t0 = time.perf_counter()
    trained = train_sgd(None, X, y, hidden=args.hidden, beta=args.beta, epochs=args.epochs,
                        lr=args.lr, seed=args.seed).model
    t_train = time.perf_counter() - t0

    say("[2/4] certifying (LipSDP upper bound, sampled-gradient lower bound) ...")

    def row(name: str, model, t: Optional[float]) -> dict:
        iv = lipschitz_bounds(model, X=X, solver=args.solver)
        with torch.no_grad():
            test_mse = float(((model(Xte) - yte) ** 2).mean()) if data.n_test else None
        J_l2 = objective(model, X, y, beta=args.beta, solver=args.solver)
        J_lip = objective(model, X, y, lam=args.lam, solver=args.solver)
        return {"model": name, "mse": J_l2.mse, "test_mse": test_mse, "L_lower": iv.lower,
                "L_upper": iv.upper, "J_l2": J_l2.value, "J_lip": J_lip.value, "time": t}

    rows = [row("SGD (input)", trained, t_train)]

    say(f"[3/4] post-processing, l2 case: program (6) with beta={args.beta:g} ...")
    res_l2 = postprocess(trained, X, y, beta=args.beta, solver=args.solver, verbose=not args.quiet)
    rows.append(row("C-l2 (program 6)", res_l2.model, res_l2.history[-1].time))

    say(f"[4/4] post-processing, Lipschitz case: Algorithm 1 with lam={args.lam:g}, "
        f"max_iter={args.max_iter} ...")
    res_lip = postprocess(trained, X, y, lam=args.lam, max_iter=args.max_iter, tol=args.tol,
                          solver=args.solver, verbose=not args.quiet)
    rows.append(row("C-lip (Algorithm 1)", res_lip.model, res_lip.history[-1].time))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_objective_history({"C-lip (Algorithm 1)": res_lip, "C-l2 (program 6)": res_l2},
                                 out / "demo_history.png",
                                 title=f"torch_lipcvx demo: rastrigin n={data.n}, d={data.d}, "
                                       f"m={args.hidden}")
    columns = [("model", "model", "s"), ("mse", "train MSE", ".5f"), ("test_mse", "test MSE", ".5f"),
               ("L_lower", "L lower", ".4f"), ("L_upper", "L upper", ".4f"),
               ("J_l2", f"J l2 (beta={args.beta:g})", ".6f"),
               ("J_lip", f"J lip (lam={args.lam:g})", ".6f"), ("time", "time [s]", ".2f")]
    print()
    print(_table(rows, columns))
    print()
    print(f"l2 case:        J {res_l2.objective_before:.6f} -> {res_l2.objective_after:.6f} "
          f"({100 * res_l2.improvement:.2f}% lower; guaranteed never worse)")
    print(f"Lipschitz case: J {res_lip.objective_before:.6f} -> {res_lip.objective_after:.6f} "
          f"({100 * res_lip.improvement:.2f}% lower, {len(res_lip.history) - 1} iterations; "
          f"{res_lip.message})")
    summary = {"config": vars(args), "rows": rows, "l2_history": res_l2.history_table(),
               "lip_history": res_lip.history_table(),
               "wall_time": time.perf_counter() - start}
    (out / "demo_results.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"plot of the objective history: {png}")
    print(f"results: {out / 'demo_results.json'}  (total {summary['wall_time']:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torch-lipcvx",
        description="Certified Lipschitz bounds and convex post-processing of shallow ReLU "
                    "networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="train, certify and post-process a network on built-in rastrigin data",
        description="Train a ShallowReLU with Adam on synthetic rastrigin data (no download), "
                    "certify it (LipSDP), post-process it in the l2 case (program (6)) and the "
                    "Lipschitz case (Algorithm 1), print a before/after table and write a plot "
                    "of the objective history and a JSON summary.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    demo.add_argument("--n", type=int, default=400, help="rastrigin points (10%% held out)")
    demo.add_argument("--d", type=int, default=2, help="input dimension")
    demo.add_argument("--hidden", type=int, default=100, help="hidden units m")
    demo.add_argument("--epochs", type=int, default=2000, help="full-batch Adam epochs")
    demo.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    demo.add_argument("--beta", type=float, default=1e-3, help="l2 weight (l2 case)")
    demo.add_argument("--lam", type=float, default=1e-3, help="Lipschitz weight on L^2")
    demo.add_argument("--max-iter", type=int, default=10, help="Algorithm 1 iterations at most")
    demo.add_argument("--tol", type=float, default=1e-3, help="relative decrease to stop")
    demo.add_argument("--solver", default="CLARABEL", choices=["CLARABEL", "SCS"])
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="torch_lipcvx_demo", help="output folder")
    demo.add_argument("--quiet", action="store_true", help="only print the final table")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``torch-lipcvx`` command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
