"""Compare another device's Algorithm-1 J on wine with the committed CPU runs (gpu_check.sh).

``python benchmarks/gpu_compare.py OUT/bench_solvers_wine_cuda.json`` prints the relative gap of
its ``auto`` J to the CPU's ``auto`` (results/bench_solvers_wine_plain.json) and to plain SCS at
eps 1e-8 (results/bench_solvers_wine_algorithm1_eps1e-8.json), all from the same start network,
and exits with the number of gaps above 1e-4 (issue 5's "same J").
"""

from __future__ import annotations

import sys
from pathlib import Path

from algorithm1_table import columns

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCES = {"CPU auto": ("bench_solvers_wine_plain.json", "auto"),
              "plain SCS eps 1e-8": ("bench_solvers_wine_algorithm1_eps1e-8.json", "plain")}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    new = columns(Path(argv[0]))["auto"]
    bad = 0
    for label, (name, column) in REFERENCES.items():
        ref = columns(RESULTS / name)[column]
        gap = (new["J"] - ref["J"]) / ref["J"]
        ok = abs(gap) <= 1e-4
        bad += not ok
        print(f"{new.get('device', '?')} auto: J = {new['J']:.10f} in {new['steps']} steps; "
              f"{label}: J = {ref['J']:.10f} in {ref['steps']} steps; relative gap {gap:+.1e} "
              f"({'within' if ok else 'OUTSIDE'} 1e-4)")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
