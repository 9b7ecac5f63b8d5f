"""torch_lipcvx.checkpoint: one format for the CLI and the paper runner.

Properties: a saved network loads back bit for bit with its dtype and metadata; files written by
the earlier writers (the CLI's ``torch.save`` of the format dict, the paper runner's dict
without ``dtype``) load bit-identically; the writer's file holds exactly the format dict;
corrupted, truncated, foreign and mismatched files are refused with a CheckpointError naming
the file; bad arguments fail before anything is written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from torch_lipcvx.checkpoint import (FORMAT_KEYS, Checkpoint, CheckpointError, load_checkpoint,
                                     save_checkpoint)
from torch_lipcvx.models import ShallowReLU

from test_cli_commands import _flip_tensor_byte    # one byte of a tensor record, CRC kept

META = {"data": {"name": "rastrigin", "data_dir": None, "split": 0, "seed": 0, "n": 40, "d": 3},
        "config": {"hidden": 5, "eps": [0.0, 0.1], "out": "model.pt", "lam": None}}


def _net(dtype=torch.float64, output_bias=True, seed=0) -> ShallowReLU:
    g = torch.Generator().manual_seed(seed)
    return ShallowReLU(3, 5, output_bias=output_bias, dtype=dtype).reset_parameters(g)


def _write_cli_v1(path: Path, model: ShallowReLU, data, config) -> None:
    """The CLI's writer before torch_lipcvx.checkpoint existed (kept to test compatibility)."""
    torch.save({"state_dict": model.state_dict(), "in_features": model.in_features,
                "hidden": model.m, "output_bias": model.has_output_bias,
                "dtype": str(model.dtype).replace("torch.", ""), "data": data,
                "config": config}, path)


def _write_paper_v1(path: Path, model: ShallowReLU) -> None:
    """The paper runner's writer before torch_lipcvx.checkpoint existed (no dtype, no meta)."""
    torch.save({"state_dict": model.state_dict(), "in_features": model.in_features,
                "hidden": model.m, "output_bias": model.has_output_bias}, path)


def _same_network(a: ShallowReLU, b: ShallowReLU) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return (sa.keys() == sb.keys() and a.dtype == b.dtype
            and a.has_output_bias == b.has_output_bias
            and all(torch.equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype for k in sa))


@pytest.mark.parametrize("dtype,output_bias", [(torch.float64, True), (torch.float32, False)])
def test_round_trip_is_bit_identical(tmp_path, dtype, output_bias):
    net = _net(dtype, output_bias)
    path = save_checkpoint(tmp_path / "sub" / "net.pt", net, **META)
    assert path == tmp_path / "sub" / "net.pt" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]     # no temporary left
    ck = load_checkpoint(path)
    assert isinstance(ck, Checkpoint) and ck.path == path and ck.meta == META
    assert _same_network(ck.model, net) and not ck.model.training
    x = torch.randn(7, 3, dtype=dtype)
    assert torch.equal(ck.model(x), net.eval()(x))
    # no metadata: an empty record
    assert load_checkpoint(save_checkpoint(tmp_path / "bare.pt", net)).meta == {}


def test_the_file_holds_exactly_the_format_dict(tmp_path):
    """The format is unchanged: what the new writer stores is what the old CLI writer stored."""
    net = _net()
    save_checkpoint(tmp_path / "new.pt", net, **META)
    _write_cli_v1(tmp_path / "old.pt", net, META["data"], META["config"])
    new = torch.load(tmp_path / "new.pt", weights_only=True)
    old = torch.load(tmp_path / "old.pt", weights_only=True)
    assert list(new) == list(old) == [*FORMAT_KEYS, "data", "config"]
    assert all(torch.equal(new["state_dict"][k], old["state_dict"][k]) for k in old["state_dict"])
    assert {k: v for k, v in new.items() if k != "state_dict"} == \
        {k: v for k, v in old.items() if k != "state_dict"}


def test_files_of_the_earlier_writers_load_bit_identically(tmp_path):
    net = _net(seed=3)
    _write_cli_v1(tmp_path / "cli.pt", net, META["data"], META["config"])
    ck = load_checkpoint(tmp_path / "cli.pt")
    assert _same_network(ck.model, net) and ck.meta == META
    _write_paper_v1(tmp_path / "paper.pt", net)
    ck = load_checkpoint(tmp_path / "paper.pt")
    assert _same_network(ck.model, net) and ck.model.dtype == torch.float64 and ck.meta == {}
    # a float32 network of the runner's format keeps its weights' dtype
    net32 = _net(torch.float32)
    _write_paper_v1(tmp_path / "paper32.pt", net32)
    assert _same_network(load_checkpoint(tmp_path / "paper32.pt").model, net32)


def test_cli_and_paper_runner_use_the_checkpoint_module(tmp_path):
    from torch_lipcvx.cli import _load_checkpoint, _save_checkpoint
    net = _net(seed=5)
    _save_checkpoint(net, str(tmp_path / "cli.pt"), META["data"], META["config"])
    model, meta = _load_checkpoint(str(tmp_path / "cli.pt"))
    assert _same_network(model, net) and meta == META
    run = Path(__file__).resolve().parents[1] / "benchmarks" / "paper" / "run.py"
    spec = importlib.util.spec_from_file_location("paper_run", run)
    paper_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paper_run)
    paper_run.atomic_save_model(tmp_path / "unit" / "c_l2.pt", net)
    assert _same_network(paper_run.load_model(tmp_path / "unit" / "c_l2.pt"), net)
    assert (tmp_path / "unit" / "c_l2.pt").stat().st_mode & 0o777 == 0o644
    # the runner's file is a full checkpoint: the CLI reads it too
    assert _same_network(_load_checkpoint(str(tmp_path / "unit" / "c_l2.pt"))[0], net)


def test_bad_files_are_refused_with_named_errors(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", _net(), **META)
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pt is not a torch_lipcvx checkpoint"):
        load_checkpoint(text)
    _flip_tensor_byte(good, tmp_path / "flipped.pt")
    with pytest.raises(CheckpointError, match=r"flipped.pt is corrupted: .*CRC-32"):
        load_checkpoint(tmp_path / "flipped.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="cut.pt is corrupted or truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    raw = torch.load(good, weights_only=True)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict, got list"):
        load_checkpoint(tmp_path / "list.pt")
    torch.save({"state_dict": raw["state_dict"]}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="missing key.*in_features"):
        load_checkpoint(tmp_path / "partial.pt")
    torch.save(dict(raw, hidden=7), tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="architecture .*hidden=7"):
        load_checkpoint(tmp_path / "wrong.pt")
    torch.save(dict(raw, dtype="int64"), tmp_path / "int.pt")
    with pytest.raises(CheckpointError, match="bad dtype 'int64'"):
        load_checkpoint(tmp_path / "int.pt")
    assert issubclass(CheckpointError, ValueError)


def test_bad_arguments_fail_before_writing(tmp_path):
    out = tmp_path / "never.pt"
    with pytest.raises(TypeError, match="model must be a ShallowReLU, got Linear"):
        save_checkpoint(out, torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="metadata name.*dtype"):
        save_checkpoint(out, _net(), dtype="float32")
    with pytest.raises(TypeError, match=r"config\['where'\] is a \w*Path"):
        save_checkpoint(out, _net(), config={"where": Path("x")})
    with pytest.raises(TypeError, match="metadata keys must be strings"):
        save_checkpoint(out, _net(), data={1: "a"})
    assert not out.exists() and list(tmp_path.iterdir()) == []
