"""Benchmark: ℓ∞ Lipschitz bounds of shallow ReLU networks, LiPopt-style (docs/linf.md).

Random networks in the spirit of LiPopt's experiments (Latorre, Rolland, Cevher 2020): Gaussian
hidden weights, outer weights N(0, 1/m), d from 5 to 100 inputs, m from 10 to 500 units, dense
or pruned (each unit keeps ``--fan-in`` random inputs). For every network, side by side in one
process, each method's certified upper bound on L∞ = sup_x ‖∇f(x)‖₁ and its wall time:

* ``exact``: the exact value P* of LiPopt's program (enumeration of {−1,1}^{d_c} per connected
  component), when every component reads at most ``--max-exact-dim`` inputs;
* ``lp{k}_sparse``: the degree-k LP with products inside unit cliques (LiPopt's sparsity), one LP
  per connected component; ``lp{k}_dense``: all products (small sizes only),
  to measure what sparsity buys (value and time, dense/sparse);
* ``sqrt_d_lipsdp``: √d·L₂ with L₂ from LipSDP (skipped when the SDP is too large here);
* ``naive``: Σ_j |α_j| ‖w_j‖₁;
* ``lower``: the best lower bound (sampled gradients, refined by ascent, and the vertex-pattern
  bound), a real gradient norm.

Ratios are to ``exact`` where it is computable, else to the smallest certified upper bound.
Every LP is capped by ``--lp-time-limit`` (a capped solve still gives a certified, looser bound).

Run: ``python benchmarks/bench_linf.py`` (about 10 minutes on 2 cores) or ``--quick`` (about 1).
Writes ``benchmarks/results/bench_linf.json`` and ``benchmarks/results/bench_linf.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from pathlib import Path

import torch

from torch_lipcvx.bounds import lipsdp, naive_bound, sampled_lower_bound
from torch_lipcvx.linf import (linf_exact, linf_lower_bound, linf_lp, linf_lp_size, linf_program,
                               lp_name)
from torch_lipcvx.models import ShallowWeights

# (d, m, fan_in or None for dense, seed offset)
FULL = [(5, 10, None, 0), (8, 30, None, 1), (10, 50, None, 0), (10, 100, None, 0),
        (20, 100, None, 0), (20, 500, None, 0), (50, 200, None, 0), (100, 500, None, 0),
        (10, 20, 4, 0), (12, 30, 4, 0), (20, 100, 5, 0), (50, 200, 5, 0), (100, 500, 5, 0)]
QUICK = [(5, 10, None, 0), (8, 30, None, 1), (10, 50, None, 0), (10, 20, 4, 0),
         (30, 100, 5, 0)]


def make_net(seed: int, d: int, m: int, fan_in) -> ShallowWeights:
    """Gaussian ``W (m, d)``, biases N(0, 1), ``α ~ N(0, 1/m)``; ``fan_in`` random inputs/unit."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, d, generator=g, dtype=torch.float64)
    if fan_in is not None and fan_in < d:
        keep = torch.argsort(torch.rand(m, d, generator=g), dim=1)[:, :fan_in]
        mask = torch.zeros(m, d, dtype=torch.bool).scatter_(1, keep, True)
        W = W * mask
    return ShallowWeights(W, torch.randn(m, generator=g, dtype=torch.float64),
                          torch.randn(m, generator=g, dtype=torch.float64) / math.sqrt(m))


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def sqrt_d_l2(w: ShallowWeights, max_md: int):
    """``(√d·L₂, how)`` with L₂ from LipSDP, or ``(None, why)`` when too large for cvxpy here."""
    if w.m * w.d > max_md:
        return None, f"m*d = {w.m * w.d} > --lipsdp-max-md {max_md}"
    return math.sqrt(w.d) * lipsdp(w, solver="CLARABEL").L, "LipSDP (cvxpy, Clarabel), re-verified"


def run_config(d: int, m: int, fan_in, seed: int, args) -> dict:
    w = make_net(seed, d, m, fan_in)
    label = f"d={d} m={m} " + ("dense" if fan_in is None else f"fan-in {fan_in}")
    prog = linf_program(w)
    row: dict = {"label": label, "d": d, "m": m, "fan_in": fan_in, "seed": seed,
                 "components": len(prog.components), "max_component_dim": prog.max_component_dim,
                 "bounds": {}, "times": {}, "skipped": {}, "lp": {}}
    B, T, S = row["bounds"], row["times"], row["skipped"]
    exact = None
    if prog.max_component_dim <= args.max_exact_dim:
        exact, T["exact"] = timed(linf_exact, w, max_dim=args.max_exact_dim)
        B["exact"] = exact.upper
    else:
        S["exact"] = f"component of {prog.max_component_dim} inputs > {args.max_exact_dim}"
    B["naive"], T["naive"] = timed(naive_bound, w, math.inf)
    (val, how), T["sqrt_d_lipsdp"] = timed(sqrt_d_l2, w, args.lipsdp_max_md)
    if val is None:
        S["sqrt_d_lipsdp"] = how
        del T["sqrt_d_lipsdp"]
    else:
        B["sqrt_d_lipsdp"] = val
    options = {"time_limit": float(args.lp_time_limit)}
    for k in args.degrees:
        for sparse in (True, False):
            name = lp_name(k, sparse)
            cap = args.max_products if sparse else args.dense_max_products
            if k >= 4:
                cap = min(cap, args.max_products_high)
            size = linf_lp_size(w, k, sparse=sparse)
            if size > cap:
                S[name] = f"{size:,} products > {cap:,}"
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res, T[name] = timed(linf_lp, w, k, sparse=sparse, max_products=cap,
                                     solver_options=options)
            B[name] = res.bound
            row["lp"][name] = {"products": res.n_products, "monomials": res.n_monomials,
                               "nnz": res.nnz, "lps": res.n_lps, "build_s": res.build_time,
                               "solve_s": res.solve_time, "verify_s": res.verify_time,
                               "residual": res.residual, "status": res.status,
                               "stopped_early": any("before optimality" in str(c.message)
                                                    for c in caught)}
    gen = torch.Generator().manual_seed(seed)
    (lo, x), t_samp = timed(sampled_lower_bound, w, math.inf, n_samples=2048, steps=100,
                            generator=gen)
    vert, t_vert = timed(linf_lower_bound, w, exact=exact, x_start=x, generator=gen)
    row["lower"] = max(lo, vert.value)
    row["lower_method"] = "vertex_pattern" if vert.value > lo else "sampled_gradient"
    T["lower"] = t_samp + t_vert
    best = min(B.values())
    row["best_upper"], row["best_method"] = best, min(B, key=B.get)
    ref = B.get("exact", best)
    row["reference"] = "exact" if "exact" in B else row["best_method"]
    row["ratio"] = {k: v / ref for k, v in B.items()}
    row["ratio"]["lower"] = row["lower"] / ref
    return row


def print_row(r: dict, methods: list) -> None:
    cells = []
    for meth in methods:
        if meth in r["bounds"]:
            cells.append(f"{r['ratio'][meth]:6.3f} {r['times'][meth]:6.2f}s")
        else:
            cells.append(f"{'—':>14}")
    print(f"{r['label']:<22} {r['reference']:>13} {r['best_upper']:9.4g} " + " ".join(cells)
          + f" {r['ratio']['lower']:6.3f}", flush=True)


def plot(rows: list, methods: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 8.5), constrained_layout=True)
    x = list(range(len(rows)))
    markers = {"exact": "*", "naive": "X", "sqrt_d_lipsdp": "D", "lower": "o"}
    for k, meth in enumerate(methods + ["lower"]):
        xs = [i for i, r in enumerate(rows) if meth in r["ratio"]]
        if not xs:
            continue
        off = (k - len(methods) / 2) * 0.05
        ax1.plot([i + off for i in xs], [rows[i]["ratio"][meth] for i in xs],
                 markers.get(meth, "s" if "sparse" in meth else "^"), label=meth, markersize=7)
        if meth != "lower":
            ax2.plot([i + off for i in xs], [max(rows[i]["times"][meth], 1e-4) for i in xs],
                     markers.get(meth, "s" if "sparse" in meth else "^"), label=meth,
                     markersize=7)
    ax1.axhline(1.0, color="0.5", lw=0.8)
    ax1.set_yscale("log")
    ax1.set_ylabel("bound / reference\n(reference: exact P* if computable, else best upper)")
    ax1.set_title("ℓ∞ Lipschitz bounds on random shallow ReLU networks (lower is tighter)")
    ax2.set_yscale("log")
    ax2.set_ylabel("wall time [s]")
    for ax in (ax1, ax2):
        ax.set_xticks(x, [r["label"] + ("" if r["reference"] == "exact" else " *")
                          for r in rows], rotation=30, ha="right", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax2.set_xlabel("network (* = exact not computable; ratios to the best upper bound)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="five small networks (about a minute)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--degrees", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--max-exact-dim", type=int, default=20)
    p.add_argument("--max-products", type=int, default=400_000,
                   help="largest sparse LP built (products)")
    p.add_argument("--dense-max-products", type=int, default=120_000,
                   help="largest dense LP built (products), for the sparse-vs-dense comparison")
    p.add_argument("--max-products-high", type=int, default=60_000,
                   help="largest LP of degree >= 4 built (products)")
    p.add_argument("--lp-time-limit", type=float, default=120.0, help="HiGHS time limit [s]")
    p.add_argument("--lipsdp-max-md", type=int, default=10_000,
                   help="skip LipSDP (cvxpy) when m*d is larger")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--out", default="benchmarks/results/bench_linf.json")
    p.add_argument("--plot", default="benchmarks/results/bench_linf.png")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = QUICK if args.quick else FULL
    methods = (["exact"] + [lp_name(k, True) for k in args.degrees]
               + [lp_name(k, False) for k in args.degrees] + ["sqrt_d_lipsdp", "naive"])
    print("ℓ∞ Lipschitz bounds: each method's bound / reference and seconds (— = not computed);"
          "\nreference: exact P* when computable, else the best upper bound; values in the JSON")
    print(f"{'network':<22} {'reference':>13} {'value':>9} "
          + " ".join(f"{m_:>14}" for m_ in methods) + f" {'lower':>6}")
    rows = []
    start = time.perf_counter()
    for d, m, fan_in, offset in configs:
        r = run_config(d, m, fan_in, args.seed + offset, args)
        rows.append(r)
        print_row(r, methods)
    total = time.perf_counter() - start
    print("\nskipped:")
    for r in rows:
        for meth, why in r["skipped"].items():
            print(f"  {r['label']:<24} {meth:<16} {why}")
    print("\nsparse (unit cliques) vs dense (one clique) LP, same degree:")
    for r in rows:
        for k in args.degrees:
            sp, de = lp_name(k, True), lp_name(k, False)
            if sp in r["bounds"] and de in r["bounds"]:
                rel = (r["bounds"][de] - r["bounds"][sp]) / r["bounds"][sp]
                print(f"  {r['label']:<24} degree {k}: sparse {r['bounds'][sp]:.10g} "
                      f"({r['lp'][sp]['products']:,} products, {r['times'][sp]:.2f} s), dense "
                      f"{r['bounds'][de]:.10g} ({r['lp'][de]['products']:,} products, "
                      f"{r['times'][de]:.2f} s): relative difference {rel:+.1e}, dense/sparse "
                      f"time {r['times'][de] / max(r['times'][sp], 1e-9):.1f}x")
    print(f"\ntotal {total:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"config": vars(args), "torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "total_s": total}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    plot(rows, methods, Path(args.plot))
    print(f"wrote {out} and {args.plot}")


if __name__ == "__main__":
    main()
