"""The command line and the examples run end to end at small sizes and write real files."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from torch_lipcvx.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_small(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--n", "80", "--hidden", "8", "--epochs", "100", "--max-iter", "2",
                 "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    for word in ("SGD (input)", "C-l2 (program 6)", "C-lip (Algorithm 1)", "L upper", "J lip",
                 "What a user would pick", "SGD-lip", "fit (lam=", "test PGD MSE"):
        assert word in text
    png = out / "demo_history.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "demo_results.json").read_text())
    rows = {r["model"]: r for r in summary["rows"]}
    # each post-processed network is no worse on its own objective, and intervals are ordered
    assert rows["C-l2 (program 6)"]["J_l2"] <= rows["SGD (input)"]["J_l2"] * (1 + 1e-6)
    assert rows["C-lip (Algorithm 1)"]["J_lip"] <= rows["SGD (input)"]["J_lip"] * (1 + 1e-6)
    assert all(r["L_lower"] <= r["L_upper"] for r in rows.values())
    # the side-by-side part: SGD, SGD-lip and the pipeline, each certified and attacked
    compare = summary["compare"]
    assert [r["model"].split(" ")[0] for r in compare] == ["SGD", "SGD-lip", "fit"]
    for r in compare:
        assert r["L_upper"] > 0 and r["time"] > 0
        assert r["test_pgd_mse"] >= r["test_mse"] * (1 - 1e-12)    # PGD never below clean
    assert summary["fit"]["lam"] > 0 and summary["fit"]["L"] > 0
    lip = summary["lip_history"]["objective"]
    assert all(b <= a for a, b in zip(lip, lip[1:]))
    # the recorded options are the command's, each a plain JSON value (no function object)
    assert summary["config"]["hidden"] == 8 and "func" not in summary["config"]


def test_help_and_bad_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    assert "rastrigin" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (["attack", "--model", "m.pt", "--steps", "0"], "argument --steps: must be an integer >= 1"),
    (["attack", "--model", "m.pt", "--restarts", "-1"], "argument --restarts: must be an integer"),
    (["bench", "--n", "0"], "argument --n: must be an integer >= 1, got '0'"),
    (["demo", "--hidden", "0"], "argument --hidden: must be an integer >= 1"),
    (["demo", "--lam", "nan"], "argument --lam: must be a finite number >= 0"),
    (["train", "--lr", "-1"], "argument --lr: must be a finite number > 0, got '-1'"),
    (["train", "--split", "-2"], "argument --split: must be an integer >= 0"),
    (["postprocess", "--model", "m.pt", "--tol=-1e-3"], "argument --tol: must be a finite"),
    (["train", "--test-fraction", "1"], "argument --test-fraction: test_fraction must be in [0, 1)"),
    (["train", "--test-fraction", "nan"], "argument --test-fraction: test_fraction must be in"),
    (["train", "--test-fraction", "half"], "argument --test-fraction: test_fraction must be a "
                                           "number in [0, 1), got 'half'"),
])
def test_bad_numbers_are_one_line_errors_with_exit_2(argv, message, capsys):
    """Checked by argparse before any work: usage plus one error line, exit 2, no traceback."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_shows_only_real_defaults(capsys):
    for command in ("train", "certify", "postprocess", "attack", "bench", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "(default: None)" not in text and "%%" not in text, command


def test_example_postprocess_sequential(capsys, monkeypatch):
    # servo, bundled with the package: no data directory
    monkeypatch.setattr(sys, "argv", ["postprocess_sequential.py",
                                      "--hidden", "8", "--epochs", "100", "--max-iter", "2"])
    runpy.run_path(str(ROOT / "examples" / "postprocess_sequential.py"), run_name="__main__")
    text = capsys.readouterr().out
    assert "servo" in text and "post-processed nn.Sequential" in text


def _run_example(name, args, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")


def test_example_lightning_callback(capsys, monkeypatch):
    _run_example("lightning_callback.py", ["--epochs", "10", "--hidden", "8", "--max-iter", "2"],
                 monkeypatch)
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("rastrigin: J")][0]
    before, after = (float(v) for v in line.split("J ")[1].split(",")[0].split(" -> "))
    assert after <= before


def test_example_certify_then_attack(data_dir, capsys, monkeypatch):
    # the example itself asserts PGD loss <= certified bound for every point (an explicit
    # --data-dir still works: the bundled folder given by path)
    _run_example("certify_then_attack.py", ["--data", "servo", "--data-dir", str(data_dir),
                                            "--hidden", "8", "--epochs", "50",
                                            "--eps", "0", "0.1"], monkeypatch)
    text = capsys.readouterr().out
    assert "norm 2" in text and "norm inf" in text and "certified (upper)" in text


def test_example_lipschitz_training():
    """SGD vs SGD-lip vs C-lip: C-lip never worse than SGD in J (guaranteed), SGD-lip lowers the J
    it descends from SGD's start, every interval is ordered and PGD never beats the clean MSE."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("lipschitz_training",
                                                  ROOT / "examples" / "lipschitz_training.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = {r["model"].split()[0]: r for r in mod.main(["--hidden", "8", "--epochs", "60",
                                                         "--max-iter", "3", "--lam", "1e-2"])}
    assert rows["C-lip"]["J"] <= rows["SGD"]["J"]
    assert rows["SGD-lip"]["J"] < rows["SGD"]["J"]
    for r in rows.values():
        assert 0 < r["L_lower"] <= r["L_upper"]
        assert r["adv_mse"] >= r["test_mse"]
