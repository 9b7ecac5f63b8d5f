"""Print the tables of benchmarks/RESULTS.md from the JSONs that ``bench_solvers.py`` wrote.

    python benchmarks/results_tables.py benchmarks/results/bench_solvers_lipsdp.json --section lipsdp
    python benchmarks/results_tables.py benchmarks/results/bench_solvers.json \\
        benchmarks/results/bench_solvers_wine.json --section restriction_step program6
    python benchmarks/results_tables.py benchmarks/results/bench_sgd_lip.json --section sgd_lip
    python benchmarks/results_tables.py benchmarks/results/bench_scale.json --scale
    python benchmarks/results_tables.py benchmarks/results/bench_lipsdp_large_d.json --large-d

A section's rows are data sets (a later file's row replaces an earlier one's for the same data
set); its columns are the methods in the order they ran. Each cell is the seconds, the speed-up
over the first method (the plain baseline) and the value's relative difference to the last one
(the torch solver or ``auto``). Algorithm 1's step-by-step tables come from
``algorithm1_table.py``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

VALUE_KEYS = ("L", "value", "loss")
ITER = re.compile(r" \((\d+ it), \w+\)")    # "torch IPM (41 it, optimal)": per data set


def _value(row: dict) -> float | None:
    for key in VALUE_KEYS:
        if key in row:
            return float(row[key])
    return None


def section_table(results: list[dict], section: str) -> str:
    """A markdown table of one section (``lipsdp``, ``restriction_step``, ``program6``, ...)."""
    rows = [r for r in results if r.get(section)]
    if not rows:
        raise SystemExit(f"no results for section {section!r} in the given files")
    methods = [ITER.sub("", m["method"]) for m in rows[0][section]]
    head = ["data set"] + methods
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        entries = r[section]
        base_t, ref_v = float(entries[0]["time"]), _value(entries[-1])
        cells = [f"{r['dataset']} (n = {r['n']}, d = {r['d']}, m = {r['m']})"]
        for k, e in enumerate(entries):
            t, v = float(e["time"]), _value(e)
            cell = f"{t:.3g} s"
            found = ITER.search(e["method"])
            if found:
                cell += f" [{found.group(1)}]"
            if k:
                cell += f" ({base_t / t:.3g}×)"
            if v is not None and ref_v and k < len(entries) - 1:
                cell += f", {(v - ref_v) / abs(ref_v):+.1e}"
            elif v is not None:
                cell += f", {v:.10g}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scale_table(results: list[dict]) -> str:
    """The large-n table: one (12) solve by the torch interior point per size."""
    lines = ["| n (train) | m | Gram build | (12) solve | iterations | status | peak | "
             "one n×m array |", "|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in sorted(results, key=lambda r: (r["n"], r["m"])):
        lines.append(f"| {r['n']} | {r['m']} | {r['build_time']:.1f} s | {r['solve_time']:.0f} s"
                     f" | {r['iterations']} | {r['status']} | {r['peak_GiB']:.2f} GiB "
                     f"({r['device']}) | {r['nm_GiB']:.2f} GiB |")
    return "\n".join(lines)


def large_d_table(rows: list[dict]) -> str:
    """LipSDP with many inputs (``bench_lipsdp_large_d.py``): ``auto`` against its parts."""
    lines = ["| network | d | m | `auto`: s | peak MB | certified gap | method | `newton` s | "
             "`apg` s (gap) | cvxpy fallback would need |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        a, nw, apg = r["auto"], r["newton"], r["apg"]
        fits = "fits" if r["fallback_fits"] else "does not fit"
        lines.append(f"| {r['kind']} | {r['d']} | {r['m']} | {a['time_s']:.2f} | "
                     f"{a['peak_mem_mb']:.0f} | {a['gap']:.1e} | {a['solver']} | "
                     f"{nw['time_s']:.2f} | {apg['time_s']:.2f} ({apg['gap']:.1e}) | "
                     f"{r['fallback_gib']:.1f} GiB ({fits}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", nargs="+", type=Path, help="result files of bench_solvers.py")
    p.add_argument("--section", nargs="+", default=["lipsdp", "restriction_step", "program6"],
                   help="sections to print (keys of each data set's result)")
    p.add_argument("--scale", action="store_true", help="the files are --scale results")
    p.add_argument("--large-d", action="store_true",
                   help="the files are bench_lipsdp_large_d.py results")
    args = p.parse_args(argv)
    if args.large_d:
        rows = [r for path in args.json for r in json.loads(path.read_text())["rows"]]
        print(large_d_table(rows))
        return
    results: dict = {}
    scale: list[dict] = []
    for path in args.json:
        data = json.loads(path.read_text())
        rows = data["results"] if isinstance(data["results"], list) else [data["results"]]
        if args.scale:
            scale += rows
        for r in rows:
            if "dataset" in r:
                results.setdefault(r["dataset"], {}).update(r)
    if args.scale:
        print(scale_table(scale))
        return
    for section in args.section:
        print(f"{section}: seconds (speed-up over the first column), value relative to the last "
              f"column\n")
        print(section_table(list(results.values()), section))
        print()


if __name__ == "__main__":
    main()
