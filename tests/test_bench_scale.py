"""Smoke test of benchmarks/bench_scale.py (issue 30): the --quick run end to end, and the
pieces of the pyscnn comparison that need no pyscnn."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH, "bench_scale")


def test_quick_run_dense_and_cg_agree(bench, tmp_path):
    out = tmp_path / "quick.json"
    rc = bench.main(["--quick", "--out", str(out)])
    report = json.loads(out.read_text())
    runs = report["runs"]
    assert rc == 0, [r.get("error") for r in runs]
    assert {(r["program"], r["newton"]) for r in runs} == {
        ("12", "dense"), ("12", "cg"), ("6", "dense"), ("6", "cg")}
    for r in runs:
        assert math.isfinite(r["J"]) and r["iterations"] >= 1 and r["solve_time"] > 0
        assert r["peak_GiB"] > 0 and r["trajectory"], r
        # the returned point is feasible: J is an upper bound on the optimum, lower a lower one
        assert r["lower"] <= r["J"] + 1e-9 * abs(r["J"])
        # "inexact": the matrix-free solve stopped at CG's residual floor; its gap still says
        # how far it is from the optimum
        assert r["status"] in ("optimal", "inexact"), r
        assert r["rel_gap"] < 1e-6, r
    assert len(report["dense_vs_cg"]) == 2
    for row in report["dense_vs_cg"]:
        assert abs(row["J_rel_diff"]) < 1e-6, row


def test_paired_patterns_match_pyscnn_form(bench):
    X, y, model = bench.make_instance(200, 3, 15, seed=1)
    w = model.weights()
    D = model.activation_patterns(X)
    D = torch.cat([D, D[:, :2], torch.zeros(200, 1, dtype=torch.bool)], 1)   # a copy, a zero
    Wt = torch.cat([w.W_tilde, w.W_tilde[:2], -w.W_tilde[:1].abs() - 1e3], 0)
    alpha = torch.cat([w.alpha, w.alpha[:2], w.alpha[:1]])
    D2, sign, V0, keep = bench.paired_patterns(D, Wt, alpha)
    p = len(keep)
    assert D2.shape == (200, 2 * p) and V0.shape == (2 * p, 4)
    assert torch.equal(sign, torch.cat([torch.ones(p), -torch.ones(p)]).to(sign))
    cols = {tuple(c.tolist()) for c in D2[:, :p].T}
    assert len(cols) == p and all(any(c) for c in cols)          # distinct, none all-zero
    assert torch.equal(D2[:, :p], D2[:, p:])
    Xt = torch.cat([X, torch.ones(200, 1, dtype=X.dtype)], 1)
    assert bool((((2 * D2.to(X.dtype) - 1) * (Xt @ V0.T)) >= 0).all())    # V0 has the patterns


def test_time_to_objective(bench):
    ours = [{"newton": "cg", "J": 1.0, "solve_time": 3.0,
             "trajectory": [{"round": 1, "it": k, "f": 2.0 - k * 0.25, "gap": 0.0, "t": float(k)}
                            for k in range(5)]}]
    theirs = [{"tol": 1e-6, "J": 1.2, "solve_time": 10.0, "max_violation": 0.0,
               "trajectory": [{"t": 1.0, "J": 1.5, "constraint_gap": 0.0},
                              {"t": 2.0, "J": 0.9, "constraint_gap": 1e-3},
                              {"t": 9.0, "J": 1.2, "constraint_gap": 0.0}]}]
    (row,) = bench.compare_pyscnn(ours, theirs, echo=False)
    assert row["ours_to_pyscnn_J"] == 4.0             # first f <= 1.2: f(4) = 1.0
    assert row["pyscnn_to_ours_J"] == 2.0             # below 1.0, but infeasible
    assert row["pyscnn_to_ours_J_feasible"] is None   # never within its constraint tolerance
    assert row["best_J"] == 1.0 and row["ours_to_best_1e-6"] == 4.0
