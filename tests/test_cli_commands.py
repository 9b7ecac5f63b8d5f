"""The train / certify / postprocess / attack / bench subcommands, end to end at tiny sizes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from torch_lipcvx.cli import main

from conftest import DATA_DIR

PNG = b"\x89PNG\r\n\x1a\n"
SUBCOMMANDS = ["demo", "train", "certify", "postprocess", "attack", "bench"]


def run(argv, capsys):
    """Run the CLI; return ``(exit code, stdout, stderr)`` whether it returns or exits."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("data", [["--data", "rastrigin", "--n", "80"],
                                  ["--data", "servo", "--data-dir", DATA_DIR]],
                         ids=["rastrigin", "servo"])
def test_chain_train_certify_postprocess_attack(tmp_path, capsys, data):
    model = tmp_path / "model.pt"
    code, out, err = run(["train", *data, "--hidden", "8", "--epochs", "60", "--out", model],
                         capsys)
    assert code == 0, err
    assert "epoch 6/60" in out and "epoch 60/60" in out  # progress about every 10%
    assert "saved" in out and model.is_file()
    ckpt = torch.load(model, weights_only=True)
    for key in ("state_dict", "in_features", "hidden", "output_bias", "dtype", "data", "config"):
        assert key in ckpt
    assert ckpt["hidden"] == 8 and ckpt["data"]["name"] == data[1]

    cjson, cpng = tmp_path / "cert.json", tmp_path / "cert.png"
    code, out, err = run(["certify", "--model", model, *data, "--json", cjson, "--plot", cpng],
                         capsys)
    assert code == 0, err
    assert "lipsdp" in out and "naive" in out and "sampled_gradient" in out
    cert = json.loads(cjson.read_text())
    assert 0 < cert["lower"] <= cert["upper"] == min(cert["upper_bounds"].values())
    assert cpng.read_bytes()[:8] == PNG

    # post-processing uses the data recorded in the checkpoint when --data is not given
    new, hcsv, hpng = tmp_path / "new.pt", tmp_path / "hist.csv", tmp_path / "hist.png"
    code, out, err = run(["postprocess", "--model", model, "--lam", "1e-2", "--max-iter", "2",
                          "--out", new, "--csv", hcsv, "--plot", hpng], capsys)
    assert code == 0, err
    assert "[torch_lipcvx] iter   0" in out and "post-processed" in out
    hist = read_csv(hcsv)
    J = [float(r["objective"]) for r in hist]
    assert J[-1] <= J[0] * (1 + 1e-9) and all(b <= a * (1 + 1e-9) for a, b in zip(J, J[1:]))
    assert hpng.read_bytes()[:8] == PNG and new.is_file()

    acsv, apng = tmp_path / "adv.csv", tmp_path / "adv.png"
    code, out, err = run(["attack", "--model", model, "--model", new, "--eps", "0", "0.05",
                          "0.2", "--steps", "5", "--csv", acsv, "--plot", apng], capsys)
    assert code == 0, err
    assert "PGD MSE" in out and "certified" in out
    rows = read_csv(acsv)
    assert len(rows) == 6 and {r["model"] for r in rows} == {"model", "new"}
    for r in rows:
        assert float(r["pgd_mse"]) <= float(r["certified_mse"]) * (1 + 1e-9)
        if float(r["eps"]) == 0:
            assert float(r["pgd_mse"]) == pytest.approx(float(r["certified_mse"]))
    assert apng.read_bytes()[:8] == PNG


def test_certify_inf_norm_without_data(tmp_path, capsys):
    model = tmp_path / "m.pt"
    assert run(["train", "--n", "60", "--hidden", "5", "--epochs", "20", "--quiet", "--out",
                model], capsys)[0] == 0
    code, out, err = run(["certify", "--model", model, "--norm", "inf"], capsys)
    assert code == 0, err
    assert "sqrt_d_lipsdp" in out and "linf" in out


def test_train_pgd(tmp_path, capsys):
    model = tmp_path / "pgd.pt"
    code, out, err = run(["train", "--n", "60", "--hidden", "5", "--epochs", "10", "--method",
                          "pgd", "--eps", "0.1", "--norm", "inf", "--out", model], capsys)
    assert code == 0, err
    assert "[pgd]" in out and torch.load(model, weights_only=True)["config"]["method"] == "pgd"


def test_train_sgd_lip_lowers_the_certified_L(tmp_path, capsys):
    """--method sgd-lip: MSE + lam*L^2 with the certified LipSDP L (dual gradient); against plain
    training from the same seed and steps it ends with a smaller certified L."""
    from torch_lipcvx import lipsdp
    from torch_lipcvx.cli import _load_checkpoint

    def trained(path):
        net, ck = _load_checkpoint(path)
        return ck, net

    lip, sgd = tmp_path / "lip.pt", tmp_path / "sgd.pt"
    common = ["--n", "60", "--hidden", "6", "--epochs", "30", "--lr", "2e-2"]
    code, out, err = run(["train", *common, "--method", "sgd-lip", "--lam", "0.1", "--out", lip],
                         capsys)
    assert code == 0, err
    assert "[sgd-lip]" in out and "lam=0.1" in out
    assert run(["train", *common, "--quiet", "--out", sgd], capsys)[0] == 0
    ck, net_lip = trained(lip)
    assert ck["config"]["method"] == "sgd-lip" and ck["config"]["lam"] == 0.1
    _, net_sgd = trained(sgd)
    assert lipsdp(net_lip.weights()).L < 0.9 * lipsdp(net_sgd.weights()).L
    code, _, err = run(["train", *common, "--method", "sgd-lip", "--out", lip], capsys)
    assert code == 2 and "--method sgd-lip needs --lam" in err
    code, _, err = run(["train", *common, "--lam", "0.1", "--out", lip], capsys)
    assert code == 2 and "--lam is for --method sgd-lip" in err


def test_bench_small(capsys):
    code, out, err = run(["bench", "--n", "60", "--hidden", "6", "--epochs", "50",
                          "--repeat", "1"], capsys)
    assert code == 0, err
    assert "LipSDP" in out and "one post-processing step" in out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and len(out) > 200 and "default" in out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-input rastrigin checkpoint."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    assert main(["train", "--n", "40", "--hidden", "4", "--epochs", "5", "--quiet",
                 "--out", str(path)]) == 0
    return path


def test_bad_inputs(tmp_path, capsys, monkeypatch, tiny_model):
    monkeypatch.delenv("TORCH_LIPCVX_DATA", raising=False)

    def bad(argv, *words):
        code, out, err = run(argv, capsys)
        assert code == 2, (argv, out, err)
        line = err.strip()
        assert "Traceback" not in err and len(line.splitlines()) == 1, err
        for w in words:
            assert w in line, (w, line)

    # an unknown data set: the message lists the data sets that are there
    bad(["train", "--data", "boston", "--out", tmp_path / "x.pt"], "unknown data set 'boston'",
        "machine, rastrigin, servo, solar, wine")
    bad(["train", "--data", "wine", "--data-dir", tmp_path / "nowhere"],
        "data directory not found")
    # nonexistent checkpoint
    bad(["certify", "--model", tmp_path / "missing.pt"], "checkpoint not found", "missing.pt")
    # a text file is not a checkpoint
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint\n")
    bad(["certify", "--model", text], "not a torch_lipcvx checkpoint", "notes.pt")
    # a checkpoint missing keys
    ckpt = torch.load(tiny_model, weights_only=True)
    partial = tmp_path / "partial.pt"
    torch.save({"state_dict": ckpt["state_dict"]}, partial)
    bad(["postprocess", "--model", partial, "--data", "rastrigin"], "missing key",
        "in_features")
    # wrong architecture: the recorded hidden size does not match the weights
    wrong = tmp_path / "wrong.pt"
    torch.save(dict(ckpt, hidden=7), wrong)
    bad(["attack", "--model", wrong], "architecture", "hidden=7")
    # the model's input size does not match the data
    bad(["postprocess", "--model", tiny_model, "--data", "servo", "--data-dir", DATA_DIR],
        "expects 2 input features", "servo")
    bad(["attack", "--model", tiny_model, "--data", "rastrigin", "--d", "3"],
        "expects 2 input features")
    bad(["certify", "--model", tiny_model, "--data", "rastrigin", "--d", "5"],
        "expects 2 input features")
    # a seed torch cannot take: argparse's usage line and the range named, exit 2
    code, _, err = run(["attack", "--model", tiny_model, "--seed", str(2 ** 64)], capsys)
    assert code == 2 and "seed must be an integer in [-2**63, 2**64)" in err


@pytest.mark.parametrize("command", ["postprocess", "certify"])
def test_solver_failure_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch, tiny_model, command):
    """A failing solve (here: one CLARABEL iteration) is reported in one line, exit code 1,
    and no checkpoint is written."""
    out = tmp_path / "never.pt"
    argv = {"postprocess": ["postprocess", "--model", tiny_model, "--solver", "CLARABEL",
                            "--out", out, "--quiet"],
            "certify": ["certify", "--model", tiny_model, "--solver", "CLARABEL", "--quiet"]}
    import torch_lipcvx.programs as programs
    real = programs.default_solver_options
    monkeypatch.setattr(programs, "default_solver_options",
                        lambda solver: {**real(solver), "max_iter": 1})
    code, stdout, err = run(argv[command], capsys)
    assert code == 1, (stdout, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "solver failed: CLARABEL returned status" in err
    assert not out.exists()


def test_own_data_file_round_trip(tmp_path, capsys):
    """--data-file: a user's CSV (header, target in the first column, raw units) trains, and
    the checkpoint's record brings the same split back to postprocess and attack."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(90, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 100.0, 0.01])
    y = torch.sin(X[:, 0]) + X[:, 1] / 100 + 1000.0
    table = tmp_path / "mine.csv"
    rows = "\n".join(",".join(repr(float(v)) for v in [yi, *xi]) for yi, xi in zip(y, X))
    table.write_text("y,a,b,c\n" + rows + "\n")
    model, new = tmp_path / "m.pt", tmp_path / "n.pt"
    data = ["--data-file", table, "--header", "--target", "0", "--split", "3"]
    code, out, err = run(["train", *data, "--hidden", "6", "--epochs", "40", "--out", model,
                          "--quiet"], capsys)
    assert code == 0, err
    rec = torch.load(model, weights_only=True)["data"]
    assert rec["name"] == "csv" and rec["target"] == 0 and rec["header"] and rec["split"] == 3
    assert "trained mine" in out
    code, out, err = run(["postprocess", "--model", model, "--lam", "1e-2", "--max-iter", "2",
                          "--out", new, "--quiet"], capsys)
    assert code == 0, err
    assert torch.load(new, weights_only=True)["data"] == rec
    code, out, err = run(["attack", "--model", new, "--eps", "0.1", "--steps", "3", "--quiet"],
                         capsys)
    assert code == 0, err
    code, out, err = run(["train", *data, "--data", "servo"], capsys)
    assert code == 2 and "not both" in err
    code, out, err = run(["train", "--data-file", table, "--header", "--target", "7"], capsys)
    assert code == 2 and "out of range" in err and "4 columns" in err
    code, out, err = run(["train", "--data-file", table], capsys)     # the header is not numeric
    assert code == 2 and "comma-separated numbers" in err
