"""The train / certify / postprocess / attack / bench subcommands, end to end at tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from torch_lipcvx.cli import main

from conftest import DATA_DIR, PNG, read_csv
from conftest import run_cli as run

SUBCOMMANDS = ["demo", "train", "certify", "postprocess", "attack", "bench"]


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
    import torch_lipcvx._engine.programs as programs
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


def test_version(capsys):
    import torch_lipcvx
    code, out, err = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"torch-lipcvx {torch_lipcvx.__version__}"


def test_bundled_and_folder_data_sets_by_name(tmp_path, capsys, monkeypatch):
    """--data takes any bundled set without --data-dir, and any folder in the layout with it;
    the checkpoint records no directory for a bundled set (portable) and the folder's otherwise."""
    monkeypatch.delenv("TORCH_LIPCVX_DATA", raising=False)
    model = tmp_path / "machine.pt"
    code, out, err = run(["train", "--data", "machine", "--hidden", "4", "--epochs", "5",
                          "--quiet", "--out", model], capsys)
    assert code == 0, err
    rec = torch.load(model, weights_only=True)["data"]
    assert rec["name"] == "machine" and rec["data_dir"] is None and "trained machine" in out
    root = tmp_path / "mine"
    (root / "Plant").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    table = torch.randn(40, 4, generator=g, dtype=torch.float64)
    mask = torch.zeros(40, 2, dtype=torch.int64)
    mask[::4, 0] = 1
    mask[1::4, 1] = 1
    import numpy as np
    np.savetxt(root / "Plant" / "data.csv.gz", table.numpy(), delimiter=",")
    np.savetxt(root / "Plant" / "test_mask.csv.gz", mask.numpy(), delimiter=",", fmt="%d")
    code, out, err = run(["train", "--data", "Plant", "--data-dir", root, "--split", "1",
                          "--hidden", "4", "--epochs", "5", "--out", tmp_path / "p.pt"], capsys)
    assert code == 0, err
    assert "data: Plant split 1: 30 training / 10 test rows, d=3" in out
    rec = torch.load(tmp_path / "p.pt", weights_only=True)["data"]
    assert rec["name"] == "Plant" and rec["data_dir"] == str(root.resolve())
    code, out, err = run(["train", "--data", "servo", "--data-dir", root], capsys)
    assert code == 2 and "unknown data set 'servo'" in err and "there: Plant, rastrigin" in err


def test_data_file_with_a_test_mask_or_indices(tmp_path, capsys):
    """--data-file with --test-mask FILE (one column, or one per split picked by --split) or
    --test-indices (a list or a file): exactly those rows are the test rows, the record brings
    them back to later commands, and bad masks are one-line errors (exit 2)."""
    import numpy as np
    from torch_lipcvx.cli import _data_spec, _load_data, build_parser
    g = torch.Generator().manual_seed(1)
    table = torch.randn(30, 3, generator=g, dtype=torch.float64)
    data = tmp_path / "reactor.csv.gz"
    np.savetxt(data, table.numpy(), delimiter=",", fmt="%.17g")
    masks = np.zeros((30, 2), dtype=int)
    masks[[1, 5, 9], 0] = 1
    masks[[0, 2, 4, 6], 1] = 1
    np.savetxt(tmp_path / "masks.csv", masks, delimiter=",", fmt="%d")
    np.savetxt(tmp_path / "one.csv", masks[:, 0], fmt="%d")
    (tmp_path / "rows.txt").write_text("1\n5\n9\n")

    def test_rows(*opts):
        args = build_parser().parse_args(["train", "--data-file", str(data), *map(str, opts)])
        ds = _load_data(_data_spec(args))
        assert ds.name == "reactor"
        return ds.n_test, ds.unstandardize_y(ds.y_test)

    for opts in (["--test-mask", tmp_path / "one.csv"], ["--test-mask", tmp_path / "masks.csv"],
                 ["--test-indices", "9,1,5"], ["--test-indices", tmp_path / "rows.txt"]):
        n_test, y = test_rows(*opts)
        assert n_test == 3 and torch.allclose(y, table[[1, 5, 9], -1]), opts
    n_test, y = test_rows("--test-mask", tmp_path / "masks.csv", "--split", "1")
    assert n_test == 4 and torch.allclose(y, table[[0, 2, 4, 6], -1])

    model, new = tmp_path / "m.pt", tmp_path / "n.pt"
    code, out, err = run(["train", "--data-file", data, "--test-indices", "9,1,5", "--hidden",
                          "4", "--epochs", "5", "--quiet", "--out", model], capsys)
    assert code == 0, err
    rec = torch.load(model, weights_only=True)["data"]
    assert rec["test_indices"] == [9, 1, 5] and rec["split"] is None
    assert rec["test_fraction"] is None and "trained reactor" in out
    code, out, err = run(["postprocess", "--model", model, "--max-iter", "1", "--quiet",
                          "--out", new], capsys)
    assert code == 0, err
    assert torch.load(new, weights_only=True)["data"] == rec

    def bad(opts, *words):
        code, out, err = run(["train", "--data-file", data, "--epochs", "2", "--out",
                              tmp_path / "never.pt", *opts], capsys)
        assert code == 2, (opts, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        for w in words:
            assert w in err, (w, err)
        assert not (tmp_path / "never.pt").exists()

    np.savetxt(tmp_path / "short.csv", masks[:-2, 0], fmt="%d")
    bad(["--test-mask", tmp_path / "short.csv"], "short.csv has 28 entries", "30 rows")
    twos = masks[:, 0] * 2
    np.savetxt(tmp_path / "twos.csv", twos, fmt="%d")
    bad(["--test-mask", tmp_path / "twos.csv"], "only True/False or 0/1, found 2.0 at row 1")
    np.savetxt(tmp_path / "none.csv", np.zeros(30), fmt="%d")
    bad(["--test-mask", tmp_path / "none.csv"], "marks no row as a test row")
    bad(["--test-mask", tmp_path / "masks.csv", "--split", "2"], "split must be an integer in 0..1")
    bad(["--test-mask", tmp_path / "missing.csv"], "missing.csv")
    bad(["--test-indices", "1,30"], "row indices in 0..29", "found 30")
    bad(["--test-indices", "1,1"], "lists row 1 more than once")
    bad(["--test-indices", "-1"], "neither a comma-separated list", "nor an existing file")
    (tmp_path / "words.txt").write_text("1, two\n")
    bad(["--test-indices", tmp_path / "words.txt"], "must hold integer row indices", "'two'")
    bad(["--test-indices", ",".join(map(str, range(30)))], "marks every row (30)")
    bad(["--test-indices", "1", "--test-mask", tmp_path / "one.csv"], "not both")
    bad(["--test-indices", "1", "--test-fraction", "0.2"], "--test-fraction chooses")
    bad(["--test-indices", "1", "--split", "2"], "--split chooses")
    code, _, err = run(["train", "--data", "servo", "--test-indices", "1"], capsys)
    assert code == 2 and "--test-mask and --test-indices are for --data-file" in err


@pytest.mark.parametrize("command", ["train", "certify", "postprocess", "attack", "demo"])
def test_an_output_under_a_file_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, tiny_model,
                                                       command):
    """An output path that cannot be written (under an existing file, or a folder where a file is
    needed) is refused before any work: one line naming the option, exit 2, nothing written."""
    import torch_lipcvx.cli as cli

    def no_work(args):
        raise AssertionError("the command ran although an output path cannot be written")

    monkeypatch.setattr(cli, f"_{command}", no_work)
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    model = ["--model", tiny_model]
    cases = {"train": [["--out", afile / "m.pt"]],
             "certify": [model + ["--json", afile / "x.json"], model + ["--plot", afile / "x.png"],
                         model + ["--json", tmp_path]],
             "postprocess": [model + ["--out", afile / "m.pt"],
                             model + ["--csv", afile / "h.csv", "--out", tmp_path / "n.pt"],
                             model + ["--plot", afile / "sub" / "h.png", "--out", tmp_path / "n.pt"]],
             "attack": [model + ["--csv", afile / "a.csv"], model + ["--plot", afile / "a.png"]],
             "demo": [["--out", afile], ["--out", afile / "demo"]]}[command]
    for argv in cases:
        code, out, err = run([command, *argv, "--quiet"], capsys)
        assert code == 2, (argv, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        option = next(a for a in argv if str(a).startswith("--") and a != "--model")
        assert f"cannot write {option}" in err, err
    assert not (tmp_path / "n.pt").exists()


def test_an_os_error_during_the_run_is_one_line(tmp_path, capsys, monkeypatch, tiny_model):
    """A write that fails after the checks (here: the disk fills up) is one line, exit 2."""
    import torch_lipcvx.cli as cli

    def full(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "x.json"))

    monkeypatch.setattr(cli.Path, "write_text", full)
    code, out, err = run(["certify", "--model", tiny_model, "--json", tmp_path / "x.json",
                          "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "x.json: No space left on device" in err


def _flip_tensor_byte(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` with one byte inverted inside the first tensor record of the zip
    (torch.save stores records uncompressed, so the archive still opens; only its CRC-32 tells)."""
    import zipfile
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = next(i for i in zf.infolist() if "/data/" in i.filename and i.file_size > 8)
    off = info.header_offset
    start = off + 30 + int.from_bytes(raw[off + 26:off + 28], "little") \
        + int.from_bytes(raw[off + 28:off + 30], "little")
    raw[start + info.file_size // 2] ^= 0xFF
    dst.write_bytes(bytes(raw))


@pytest.mark.parametrize("command", ["certify", "postprocess", "attack"])
def test_a_corrupted_checkpoint_is_refused(tmp_path, capsys, tiny_model, command):
    bad_ckpt = tmp_path / "flipped.pt"
    _flip_tensor_byte(tiny_model, bad_ckpt)
    # torch itself loads the damaged file without complaint: the check is ours
    damaged = torch.load(bad_ckpt, weights_only=True)["state_dict"]
    good = torch.load(tiny_model, weights_only=True)["state_dict"]
    assert any(not torch.equal(damaged[k], good[k]) for k in good)
    out = tmp_path / "never.pt"
    argv = [command, "--model", bad_ckpt, "--quiet"] + (["--out", out] if command == "postprocess"
                                                         else [])
    code, stdout, err = run(argv, capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "flipped.pt is corrupted" in err and "CRC-32" in err
    assert not out.exists()
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(tiny_model.read_bytes()[:-200])
    code, _, err = run(["certify", "--model", truncated], capsys)
    assert code == 2 and "cut.pt is corrupted or truncated" in err and "Traceback" not in err
