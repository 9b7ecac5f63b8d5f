"""Smoke test of the paper reproduction (benchmarks/paper/run.py): the --quick pipeline at toy
sizes writes its tables and plots, resumes without redoing finished work, and every row obeys the
guarantees (C-ℓ2 ≥ SGD, C-lip and its extensions ≥ ADMM on their objectives)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import load_script

#: cvxpylayers (SGD-lip) trips a NumPy 2 deprecation inside diffcp; not ours to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "paper" / "run.py"
TINY = ["--set", "hidden=8", "--set", "rastrigin.n=100", "--set", "sgd.epochs=100",
        "--set", "pgd.epochs=20", "--set", "admm.loss_steps=20", "--set", "sgd_lip.epochs=2",
        "--set", "n_sampled=4", "--set", "bounds.n_samples=64", "--set", "bounds.ascent_steps=5",
        "--set", "attack.steps=5"]


@pytest.fixture(scope="module")
def paper():
    return load_script(RUN, "paper_run")


@pytest.fixture(scope="module")
def first_run(paper, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    argv = ["all", "--quick", "--datasets", "servo", "rastrigin", "--trials", "2", "--out",
            str(out), "--data-dir", str(data_dir), *TINY]          # the default solver, auto
    return argv, out, paper.main(argv)


def test_quick_run_writes_tables_csvs_and_plots(paper, first_run):
    argv, out, summary = first_run
    n_methods = len(paper.METHODS)
    assert summary["computed"] == 2 * 2 * n_methods and summary["skipped"] == 0
    for name in ("table1.md", "table1.csv", "table1_vs_paper.md", "figure1.csv",
                 "figure1_winners.md", "lipschitz.md", "lipschitz.csv", "records.csv",
                 "figure1_servo.png", "figure1_rastrigin.png", "runs.jsonl", "timing.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "figure1_servo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table1.md").read_text()
    for label in ("C-l2", "samp-l2", "C-lip", "samp-lip", "C-lip+alpha", "C-lip+alpha+re",
                  "SGD-lip", "+23.71%", "-109.45%"):
        assert label in table
    assert "all rows pass" in table
    winners = (out / "figure1_winners.md").read_text()
    assert "servo, ℓ2 attack" in winners and "rastrigin, ℓ∞ attack" in winners
    assert not list(out.rglob("*.tmp"))


def test_the_default_solver_is_the_librarys_auto_and_is_part_of_the_key(paper, first_run):
    argv, out, summary = first_run
    assert paper.resolve_solver("auto") == "auto" and summary["solver"] == "auto"
    cfg = json.loads((out / f"config_{summary['config_key']}.json").read_text())
    assert cfg["solver"] == "auto" and cfg["solvers"] == paper.effective_solvers("auto")
    assert cfg["solvers"]["postprocess"] == "auto" and cfg["solvers"]["admm_lipsdp"] == "auto"
    base = dict(paper.QUICK, seed=0)
    keys = {paper.config_key(dict(base, solver=s, solvers=paper.effective_solvers(s)))
            for s in ("auto", "CLARABEL", "SCS")}
    assert len(keys) == 3


def test_every_record_has_seeds_intervals_and_the_eps_grid(paper, first_run):
    argv, out, summary = first_run
    recs = [json.loads(p.read_text()) for p in (out / "records").rglob("*.json")]
    assert len(recs) == summary["computed"]
    for r in recs:
        assert r["seeds"] is not None and r["config_key"] == summary["config_key"]
        assert r["solvers"] == paper.effective_solvers("auto")
        assert set(r["eval_parts_s"]) == {"objective", "intervals", "attacks"}
        assert 0 <= r["L2_lower"] <= r["L2_upper"] * (1 + 1e-9)
        assert 0 <= r["Linf_lower"] <= r["Linf_upper"] * (1 + 1e-9)
        for norm in ("2", "inf"):
            curve = r["adv_mse_test"][norm]
            assert list(map(float, curve)) == paper.QUICK["eps"]
            assert curve["0.0"] == pytest.approx(r["mse_test"], rel=1e-9)
            assert all(v >= curve["0.0"] * (1 - 1e-9) for v in curve.values())  # ≥ clean


def test_guarantees_hold_in_every_row(paper, first_run):
    argv, out, summary = first_run
    assert summary["violations"] == []
    rows = summary["table1_rows"]
    tol = paper.GUARANTEE_TOL_PCT
    for method in ("c_l2", "c_lip", "c_lip_alpha", "c_lip_alpha_re"):
        got = [r for r in rows if r["method"] == method]
        assert len(got) == 4
        assert all(r["improvement_pct"] >= -tol for r in got), got
    # the extensions start from C-lip, so they are never worse than C-lip either
    by = {(r["dataset"], r["trial"], r["method"]): r["J_method"] for r in rows}
    for (ds, t, m), J in by.items():
        if m.startswith("c_lip_alpha"):
            assert J <= by[(ds, t, "c_lip")] * (1 + 1e-5)


def test_rerun_skips_finished_work_and_redoes_only_what_is_missing(paper, first_run):
    argv, out, summary = first_run
    again = paper.main(argv)
    assert again["computed"] == 0 and again["skipped"] == summary["computed"]
    (out / "records" / summary["config_key"] / "servo" / "trial01" / "c_lip_alpha.json").unlink()
    third = paper.main(argv)
    assert third["computed"] == 1
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert [json.loads(x)["computed"] for x in lines] == [summary["computed"], 0, 1]


def test_a_failing_method_is_recorded_skipped_on_rerun_and_retried_on_request(paper, data_dir,
                                                                              tmp_path,
                                                                              monkeypatch):
    from torch_lipcvx.solvers import SolverError
    cfg = paper.QUICK | {"hidden": 4, "sgd": {"epochs": 5, "lr": 1e-2, "batch_size": None},
                         "bounds": {"n_samples": 16, "ascent_steps": 2}}
    job = {"dataset": "servo", "trial": 0, "cfg": cfg, "key": "k", "out": str(tmp_path),
           "data_dir": str(data_dir), "solver": "CLARABEL", "seed": 0,
           "methods": ["c_l2", "c_lip"]}
    real = paper.RUNNERS["c_l2"]

    def broken(tr):
        raise SolverError("CLARABEL failed on purpose")

    monkeypatch.setitem(paper.RUNNERS, "c_l2", broken)
    monkeypatch.setitem(paper.RUNNERS, "admm", lambda tr: (_ for _ in ()).throw(
        ValueError("admm broken too")))
    first = paper.run_unit(job)
    assert first["failed"] == ["admm", "c_l2", "c_lip"] and "sgd" in first["computed"]
    rec = json.loads((tmp_path / "records" / "k" / "servo" / "trial00" / "c_lip.json").read_text())
    assert rec["status"] == "failed" and "dependency admm failed" in rec["error"]
    again = paper.run_unit(job)
    assert again["computed"] == [] and again["failed"] == ["c_l2", "c_lip"]  # admm not needed
    monkeypatch.setitem(paper.RUNNERS, "c_l2", real)
    retried = paper.run_unit(dict(job, methods=["c_l2"], retry_failed=True))
    assert retried["computed"] == ["c_l2"] and retried["failed"] == []
    assert len(paper.load_records(tmp_path, "k", status="failed")) == 2


def test_halving_retries_algorithm_1_with_fewer_iterations(paper):
    from torch_lipcvx.solvers import SolverError
    calls = []

    def run(k):
        calls.append(k)
        if k > 6:
            raise SolverError("certificate failed at iteration 7")
        return k

    value, note = paper._halving(run, 20)
    assert value == 5 and calls == [20, 10, 5] and note["max_iter_used"] == 5
    assert [r["max_iter"] for r in note["retries"]] == [20, 10]


def test_report_fills_the_generated_blocks_of_a_results_file(paper, first_run, tmp_path):
    argv, out, summary = first_run
    md = tmp_path / "RESULTS.md"
    names = ("status", "table1", "beyond", "figure1", "lipschitz", "time")
    text = ("# Results\n\nprose stays\n\n"
            + "".join(f"<!-- generated: {n} -->\nstale {n}\n<!-- /generated: {n} -->\n\n"
                      for n in names)
            + "<!-- generated: other -->\nnot ours\n<!-- /generated: other -->\n")
    md.write_text(text)
    got = paper.main(["report", *argv[1:], "--results-md", str(md)])
    assert got["results_md_blocks"] == list(names) and got["computed"] == 0
    new = md.read_text()
    assert new.startswith("# Results\n\nprose stays\n") and "not ours" in new
    assert not any(f"stale {n}" in new for n in names)
    assert "| servo | 2 of 2 | 0 | 28 of 28 |" in new and "| rastrigin | 2 of 2 |" in new
    assert "machine" not in new                                # only the data sets asked for
    assert "| servo | C-ℓ2 | +23.71% | **" in new and "Signs that differ from the paper:" in new
    assert "every row passes" in new and "| servo | C-lip+α+re | 2 |" in new
    assert "| servo | SGD | yes | " in new and "| rastrigin | ADMM | no | " in new
    assert "C-lip lowest at" in new
    assert f"| **all** | **{2 * 2 * len(paper.METHODS)}** |" in new
    assert "Logged invocations (`runs.jsonl`): " in new
    # filling is idempotent, and files without markers are left alone
    again, filled = paper.fill_generated(new, {"status": paper.status_block(
        paper.load_records(out, summary["config_key"]), 2, ("servo", "rastrigin"))})
    assert filled == ["status"] and again == new
    assert paper.fill_generated("no markers\n", {"status": "x"}) == ("no markers\n", [])


def test_a_stopped_run_logs_its_wall_time_and_keeps_finished_units(data_dir, tmp_path):
    out = tmp_path / "stopped"
    cmd = [sys.executable, str(RUN), "all", "--quick", "--datasets", "servo", "--trials", "1",
           "--out", str(out), "--data-dir", str(data_dir), *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 120
    while not list(out.glob("records/*/servo/trial00/*.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "no record was written"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    (log,) = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    assert log["interrupted"] is True and log["skipped"] is None and log["wall_s"] > 0
    kept = list(out.glob("records/*/servo/trial00/*.json"))
    assert log["computed"] == len(kept) >= 1
