"""The command line on classification sets: ``--loss``, k outputs in checkpoints, accuracy
reports, and ``demo --task classification``, end to end at tiny sizes."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import DATA_DIR, PNG, read_csv
from conftest import run_cli as run

pytest.importorskip("sklearn")

TOL = 1e-9


def one_error_line(code, out, err, command: str) -> str:
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"torch-lipcvx {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def check_ordered(clean: float, robust: float, cert: float) -> None:
    """certified <= PGD robust <= clean accuracy (certified points are truly robust; PGD never
    raises a margin)."""
    assert 0 <= cert <= robust + TOL and robust <= clean + TOL and clean <= 1


def test_demo_classification_small(tmp_path, capsys):
    out = tmp_path / "demo"
    code, text, err = run(["demo", "--task", "classification", "--n", "150", "--hidden", "8",
                           "--epochs", "60", "--max-iter", "1", "--eps", "0.5", "1",
                           "--out", out, "--quiet"], capsys)
    assert code == 0, err
    for word in ("before (SGD)", "after (Algorithm 1", "clean acc", "PGD acc eps=0.5",
                 "certified acc eps=1", "certified L", "guaranteed never worse"):
        assert word in text
    png = out / "demo_classification_accuracy.png"
    assert png.is_file() and png.read_bytes()[:8] == PNG
    summary = json.loads((out / "demo_classification_results.json").read_text())
    assert summary["data"]["n_train"] == 150 and summary["data"]["num_classes"] == 10
    before, after = summary["rows"]
    for row in (before, after):
        for eps in ("0.5", "1"):
            check_ordered(row["clean_acc"], row[f"robust_acc@{eps}"],
                          row[f"certified_acc@{eps}"])
        # a larger radius certifies no more points
        assert row["certified_acc@1"] <= row["certified_acc@0.5"]
        assert 0 < row["L_lower"] <= row["L_upper"] * (1 + 1e-6)
    # post-processing lowers its objective, and here (lam > 0) the certified L with it
    assert after["J"] <= before["J"] * (1 + 1e-9)
    assert after["L_upper"] <= before["L_upper"] * (1 + 1e-9)
    # the curves of the plot: the same ordering at every radius, all accuracies at eps = 0
    for r in summary["curves"]:
        check_ordered(r["clean_acc"], r["robust_acc"], r["certified_acc"])
        if r["eps"] == 0:
            assert r["robust_acc"] == r["certified_acc"] == pytest.approx(r["clean_acc"])


def test_demo_regression_is_the_default_and_rejects_several_radii(tmp_path, capsys):
    code, out, err = run(["demo", "--eps", "0.1", "0.2", "--out", tmp_path / "d"], capsys)
    assert "one --eps radius" in one_error_line(code, out, err, "demo")
    code, out, err = run(["demo", "--task", "classification", "--d", "3",
                          "--out", tmp_path / "d"], capsys)
    assert "--d" in one_error_line(code, out, err, "demo")
    assert not (tmp_path / "d").exists()


def _chain(tmp_path, capsys, data: list, loss: list, k: int) -> None:
    """train -> certify -> postprocess -> attack on a classification set."""
    model = tmp_path / "model.pt"
    code, out, err = run(["train", *data, *loss, "--hidden", "6", "--epochs", "40",
                          "--out", model, "--quiet"], capsys)
    assert code == 0, err
    assert "test accuracy" in out and "MSE" not in out
    ckpt = torch.load(model, weights_only=True)
    assert ckpt["loss"] == ("logistic" if k == 1 else "cross_entropy")
    assert ckpt.get("out_features", 1) == k
    assert ckpt["state_dict"]["output.weight"].shape[0] == k

    cjson = tmp_path / "cert.json"
    code, out, err = run(["certify", "--model", model, *data, "--json", cjson, "--quiet"],
                         capsys)
    assert code == 0, err
    cert = json.loads(cjson.read_text())
    assert cert["out_features"] == k and 0 < cert["lower"] <= cert["upper"] * (1 + 1e-9)

    # the loss and k come from the checkpoint: no --loss, no --data
    new, hcsv = tmp_path / "new.pt", tmp_path / "hist.csv"
    code, out, err = run(["postprocess", "--model", model, "--lam", "1e-2", "--max-iter", "1",
                          "--out", new, "--csv", hcsv, "--quiet"], capsys)
    assert code == 0, err
    assert "test accuracy" in out and f"train {ckpt['loss']} loss" in out
    J = [float(r["objective"]) for r in read_csv(hcsv)]
    assert J[-1] <= J[0] * (1 + 1e-9)
    post = torch.load(new, weights_only=True)
    assert post["loss"] == ckpt["loss"] and post.get("out_features", 1) == k

    acsv, apng = tmp_path / "adv.csv", tmp_path / "adv.png"
    code, out, err = run(["attack", "--model", model, "--model", new, "--eps", "0", "0.5",
                          "2", "--steps", "5", "--csv", acsv, "--plot", apng, "--quiet"],
                         capsys)
    assert code == 0, err
    assert "clean acc" in out and "certified acc" in out and "MSE" not in out
    rows = read_csv(acsv)
    assert len(rows) == 6 and {r["model"] for r in rows} == {"model", "new"}
    for r in rows:
        clean, robust, cert = (float(r[c]) for c in ("clean_acc", "robust_acc", "certified_acc"))
        check_ordered(clean, robust, cert)
        if float(r["eps"]) == 0:
            assert robust == pytest.approx(clean) and cert == pytest.approx(clean)
    for name in ("model", "new"):
        cert = [float(r["certified_acc"]) for r in rows if r["model"] == name]
        assert cert == sorted(cert, reverse=True)
    assert apng.read_bytes()[:8] == PNG


def test_chain_digits_cross_entropy(tmp_path, capsys):
    _chain(tmp_path, capsys, ["--data", "digits"], [], 10)


def test_chain_breast_cancer_logistic(tmp_path, capsys):
    _chain(tmp_path, capsys, ["--data", "breast_cancer"], ["--loss", "logistic"], 1)


def test_breast_cancer_defaults_to_two_logits_and_select_scores_accuracy(tmp_path, capsys):
    model, sel, scsv = tmp_path / "bc.pt", tmp_path / "sel.pt", tmp_path / "sel.csv"
    code, out, err = run(["train", "--data", "breast_cancer", "--hidden", "6", "--epochs", "30",
                          "--out", model, "--quiet"], capsys)
    assert code == 0, err
    ckpt = torch.load(model, weights_only=True)
    assert ckpt["loss"] == "cross_entropy" and ckpt["out_features"] == 2
    code, out, err = run(["select", "--model", model, "--loss", "cross_entropy", "--lams",
                          "1e-2", "--max-iter", "1", "--steps", "5", "--eps", "0.5",
                          "--out", sel, "--csv", scsv, "--quiet"], capsys)
    assert code == 0, err
    assert "val PGD acc" in out and "test acc" in out
    rows = read_csv(scsv)
    assert len(rows) == 2
    for r in rows:
        check_ordered(float(r["val_acc"]), float(r["val_robust_acc"]), float(r["val_cert_acc"]))
    assert torch.load(sel, weights_only=True)["loss"] == "cross_entropy"


def test_fit_on_a_classification_set_reports_accuracy(tmp_path, capsys):
    js = tmp_path / "fit.json"
    code, out, err = run(["fit", "--data", "breast_cancer", "--hidden", "6", "--epochs", "30",
                          "--lams", "1e-2", "--max-iter", "1", "--steps", "5", "--eps", "0.5",
                          "--out", tmp_path / "fit.pt", "--json", js, "--quiet"], capsys)
    assert code == 0, err
    assert "test accuracy" in out
    summary = json.loads(js.read_text())
    assert summary["loss"] == "cross_entropy"
    check_ordered(summary["test_acc"], summary["test_robust_acc"], summary["test_certified_acc"])
    assert torch.load(tmp_path / "fit.pt", weights_only=True)["out_features"] == 2


def test_bad_loss_data_and_checkpoint_combinations(tmp_path, capsys):
    out_pt = tmp_path / "never.pt"
    # a binary loss on ten classes; a classification loss on a regression set and back
    for argv, words in (
            (["train", "--data", "digits", "--loss", "logistic"], ("logistic", "10 classes")),
            (["train", "--data", "servo", "--data-dir", DATA_DIR, "--loss", "cross_entropy"],
             ("classification loss", "regression set")),
            (["train", "--data", "rastrigin", "--n", "40", "--loss", "logistic"],
             ("classification loss",)),
            (["train", "--data", "breast_cancer", "--loss", "squared"],
             ("regression loss", "classification set")),
            (["fit", "--data", "digits", "--loss", "huber"], ("regression loss",))):
        code, out, err = run([*argv, "--out", out_pt], capsys)
        line = one_error_line(code, out, err, argv[0])
        assert all(w in line for w in words), line
    assert not out_pt.exists()

    # a checkpoint's loss against --loss, and against a data set of the other task
    model = tmp_path / "digits.pt"
    code, out, err = run(["train", "--data", "digits", "--hidden", "4", "--epochs", "5",
                          "--out", model, "--quiet"], capsys)
    assert code == 0, err
    for cmd in (["postprocess", "--out", out_pt], ["certify"], ["attack"],
                ["select", "--out", out_pt]):
        code, out, err = run([cmd[0], "--model", model, "--loss", "squared", *cmd[1:]], capsys)
        line = one_error_line(code, out, err, cmd[0])
        assert "does not match the checkpoint" in line and "cross_entropy" in line
    reg = tmp_path / "reg.pt"
    code, out, err = run(["train", "--data", "rastrigin", "--n", "40", "--hidden", "4",
                          "--epochs", "5", "--out", reg, "--quiet"], capsys)
    assert code == 0, err
    code, out, err = run(["postprocess", "--model", reg, "--data", "breast_cancer",
                          "--out", out_pt], capsys)
    line = one_error_line(code, out, err, "postprocess")
    assert "regression loss" in line or "input features" in line
    assert not out_pt.exists()
