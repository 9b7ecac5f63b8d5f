"""The issue-29 examples run end to end at small sizes (examples/multi_output_regression.py,
examples/classification.py): exit normally, write their plot, and print/return numbers with the
properties the method promises (J never rises under post-processing; certified accuracy ≤ PGD
robust accuracy ≤ clean accuracy; PGD error never below the clean error) and, at these settings,
a smaller certified L after post-processing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn")         # the bundled diabetes and breast cancer sets

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_multi_output_regression(tmp_path, capsys):
    mod = _load("multi_output_regression")
    rows = mod.main(["--hidden", "8", "--epochs", "60", "--max-iter", "1", "--lam", "0.1",
                     "--eps", "0", "0.2", "--steps", "5", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "diabetes: 3 outputs" in text and "C-lip (lam=0.1)" in text
    png = tmp_path / "multi_output_regression.png"
    assert png.is_file() and png.read_bytes()[:8] == PNG
    before, after = rows
    assert after["J"] <= before["J"] * (1 + 1e-9)            # Algorithm 1's guarantee
    assert after["L_upper"] <= before["L_upper"]             # what λ = 0.1 buys here
    for r in rows:
        assert 0 < r["L_lower"] <= r["L_upper"] * (1 + 1e-9)
        assert r["pgd_mse"][0] == pytest.approx(r["test_mse"], rel=1e-9)   # eps = 0: clean
        assert r["pgd_mse"][1] >= r["test_mse"] * (1 - 1e-12)              # PGD ≥ clean
        assert f"{r['test_mse']:9.4f}" in text


def test_example_classification_with_fit(tmp_path, capsys):
    mod = _load("classification")
    out = mod.main(["--hidden", "8", "--epochs", "60", "--max-iter", "1", "--eps", "0", "0.25",
                    "0.5", "--steps", "5", "--fit", "--fit-epochs", "5", "--fit-lams", "1e-2",
                    "--fit-max-iter", "1", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "breast_cancer" in text and "<- chosen" in text
    assert "tl.fit: " in text and "chosen on held-out robust accuracy" in text
    png = tmp_path / "classification.png"
    assert png.is_file() and png.read_bytes()[:8] == PNG
    assert out["J_after"] <= out["J_before"] * (1 + 1e-9)
    rows = out["rows"] + out["fit"]
    assert {r["model"].split()[0] for r in rows} == {"SGD", "C-lip", "fit"}
    for r in rows:
        # accuracies are fractions of the 57 test rows, some in float32: compare to 1e-6
        assert 0 <= r["certified"] <= r["robust"] + 1e-6
        assert r["robust"] <= r["clean"] + 1e-6 and r["clean"] <= 1
        if r["eps"] == 0:
            assert r["certified"] == pytest.approx(r["clean"]) == pytest.approx(r["robust"])
    L = {r["model"].split()[0]: r["L"] for r in rows}
    assert L["C-lip"] <= L["SGD"]
    # a larger radius never certifies more points
    sgd = [r["certified"] for r in out["rows"] if r["model"] == "SGD"]
    assert all(b <= a + 1e-6 for a, b in zip(sgd, sgd[1:]))
