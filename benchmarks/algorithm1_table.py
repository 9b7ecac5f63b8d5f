"""The README's Algorithm-1 table: plain cvxpy + SCS against ``solver="auto"``, step by step.

Reads what ``bench_solvers.py --sections algorithm --plain`` wrote: one JSON holding both columns
(the plain loop's rows, finished or partial, and the ``auto`` row), or, while the plain loop is
still being advanced alone (``--skip-auto``), its checkpoint plus a separate ``auto`` JSON. Prints
a markdown table (J and CPU seconds at equal step counts, their ratio and J's relative gap) and
the end-to-end lines: each column to its own convergence, and ``auto``'s time to reach the plain
loop's final J (the ratio at equal J).

Run: ``python benchmarks/algorithm1_table.py benchmarks/results/bench_solvers_wine_plain.json``
``[--auto benchmarks/results/bench_solvers_wine_algorithm1_auto.json] [--clarabel JSON]``
``[--checkpoint PT]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional


def _rows(path: Path) -> dict:
    data = json.loads(path.read_text())
    res = data["results"][0]["algorithm1"]
    out = {}
    for row in res["rows"]:
        key = ("plain" if row["method"].startswith("plain") else
               "clarabel" if "Clarabel" in row["method"] else "auto")
        out[key] = row
    if "plain" not in out and "plain_partial" in res:
        part = res["plain_partial"]
        out["plain"] = {"history": [h for h in part["history"] if not h.get("rejected")],
                        "partial": True, "cpu": part["cpu"], "time": part["time"]}
    return out


def load(plain_json: Path, auto_json: Optional[Path], checkpoint: Optional[Path],
         clarabel_json: Optional[Path] = None) -> tuple[dict, dict, Optional[dict]]:
    """``(plain, auto, clarabel)`` rows, each with a per-step ``history`` (``step``, ``J``,
    ``cpu`` or ``time``); ``plain["finished"]`` says whether the plain loop converged; the
    Clarabel row (the cvxpy path, ``solver="CLARABEL"``) is ``None`` unless given."""
    rows = _rows(plain_json) if plain_json.exists() else {}
    if auto_json is not None:
        rows.setdefault("auto", _rows(auto_json).get("auto"))
    if clarabel_json is not None:
        rows.setdefault("clarabel", _rows(clarabel_json).get("clarabel"))
    plain = rows.get("plain")
    if checkpoint is not None and checkpoint.exists():
        import torch
        state = torch.load(checkpoint)
        if plain is None or len(state["history"]) > len(plain["history"]):
            plain = {"history": state["history"], "cpu": state["cpu"], "time": state["wall"],
                     "finished": state["finished"]}
    if plain is None or rows.get("auto") is None:
        raise SystemExit("need both a plain and an auto column (see --help)")
    plain.setdefault("finished", not plain.get("partial", False))
    return plain, rows["auto"], rows.get("clarabel")


def table(plain: dict, auto: dict, clarabel: Optional[dict] = None) -> str:
    hp = {h["step"]: h for h in plain["history"] if h["step"] > 0}
    ha = {h["step"]: h for h in auto["history"] if h["step"] > 0}
    hc = {h["step"]: h for h in clarabel["history"] if h["step"] > 0} if clarabel else {}
    head = "| steps | plain SCS: J | CPU s | `auto`: J | s | CPU ratio | J: plain above `auto` |"
    rule = "|---:|---:|---:|---:|---:|---:|---:|"
    if hc:
        head += " Clarabel: J − `auto` | Clarabel s |"
        rule += "---:|---:|"
    lines = [head, rule]
    for k in sorted(set(hp) & set(ha)):
        p, a = hp[k], ha[k]
        line = (f"| {k} | {p['J']:.10f} | {p['cpu']:.0f} | {a['J']:.10f} | {a['time']:.1f} | "
                f"{p['cpu'] / a['time']:.0f}× | {(p['J'] - a['J']) / a['J']:.1e} |")
        if hc:
            c = hc.get(k)
            line += (f" {(c['J'] - a['J']) / a['J']:+.1e} | {c['time']:.0f} |" if c else " | |")
        lines.append(line)
    return "\n".join(lines)


def summary(plain: dict, auto: dict, clarabel: Optional[dict] = None) -> str:
    hp = [h for h in plain["history"] if h["step"] > 0]
    ha = [h for h in auto["history"] if h["step"] > 0]
    last_p, last_a = hp[-1], ha[-1]
    state = "finished" if plain["finished"] else "not yet finished"
    out = [f"plain: {state} after {last_p['step']} steps, J = {last_p['J']:.10f}, "
           f"{plain['cpu']:.0f} CPU s",
           f"auto: {last_a['step']} steps, J = {last_a['J']:.10f}, {last_a['time']:.1f} s "
           f"(end-to-end CPU ratio {plain['cpu'] / last_a['time']:.0f}×; auto's J is "
           f"{(last_p['J'] - last_a['J']) / last_a['J']:.1e} below plain's)"]
    if clarabel:
        hc = [h for h in clarabel["history"] if h["step"] > 0]
        out.append(f"Clarabel (cvxpy): {hc[-1]['step']} steps, J = {hc[-1]['J']:.10f} "
                   f"({(hc[-1]['J'] - last_a['J']) / last_a['J']:+.1e} vs auto), "
                   f"{clarabel['cpu']:.0f} CPU s (auto {clarabel['cpu'] / last_a['time']:.0f}× "
                   "faster)")
    reach = next((h for h in ha if h["J"] <= last_p["J"]), None)
    if reach is not None:
        out.append(f"auto reaches plain's final J at step {reach['step']}, {reach['time']:.1f} s: "
                   f"ratio at equal J {plain['cpu'] / reach['time']:.0f}×")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("plain_json", type=Path)
    p.add_argument("--auto", type=Path, default=None, help="a separate auto-column JSON")
    p.add_argument("--clarabel", type=Path, default=None,
                   help="a JSON with the solver='CLARABEL' column (the cvxpy path)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="the plain loop's checkpoint (used when it has more steps)")
    args = p.parse_args()
    plain, auto, clarabel = load(args.plain_json, args.auto, args.checkpoint, args.clarabel)
    print(table(plain, auto, clarabel))
    print()
    print(summary(plain, auto, clarabel))


if __name__ == "__main__":
    main()
