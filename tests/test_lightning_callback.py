"""ConvexPostProcessing (torch_lipcvx.lightning.callback): J never goes up, the module changes only
on a
verified decrease, bad settings fail early, the summary survives checkpoints, DDP ranks agree."""

from __future__ import annotations

import copy
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

pl = pytest.importorskip("lightning.pytorch")

import torch_lipcvx.lightning.callback as callbacks_mod  # noqa: E402
from torch_lipcvx import ShallowReLU, objective  # noqa: E402
from torch_lipcvx.lightning import ConvexPostProcessing  # noqa: E402
from torch_lipcvx.lightning import RegressionDataModule, ShallowReLURegressor  # noqa: E402
from torch_lipcvx.algorithm1.postprocess import IterationRecord, PostProcessResult  # noqa: E402



def task(n=60, d=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.05 * torch.randn(n, generator=g, dtype=dtype)
    return X, y


def make_trainer(tmp_path, callbacks, epochs=3, logger=False, checkpointing=False, **kw):
    """A quiet CPU trainer; ``logger`` is how many CSV loggers it has (``True`` is one);
    ``checkpointing=True`` allows the ``ModelCheckpoint`` callbacks passed in ``callbacks``."""
    from lightning.pytorch.loggers import CSVLogger
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                          logger=[CSVLogger(tmp_path, name=f"csv{i}") for i in range(int(logger))]
                          or False,
                          enable_checkpointing=checkpointing, enable_progress_bar=False,
                          enable_model_summary=False, num_sanity_val_steps=0,
                          default_root_dir=tmp_path, callbacks=list(callbacks), **kw)


class Snapshot(pl.Callback):
    """Deep-copy the network in on_fit_end; listed before ConvexPostProcessing, it runs first."""

    def __init__(self):
        self.net = None

    def on_fit_end(self, trainer, pl_module):
        self.net = copy.deepcopy(pl_module.model)


def fit(tmp_path, cb, *, dtype="float64", logger=False, epochs=3):
    X, y = task()
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0, dtype=dtype)
    snap = Snapshot()
    trainer = make_trainer(tmp_path, [snap, cb], epochs=epochs, logger=logger)
    trainer.fit(module, datamodule=RegressionDataModule(X, y, batch_size=20))
    return module, snap.net, trainer, X, y


def same_params(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("lam, beta", [(1e-2, 1e-3), (0.0, 1e-2)], ids=["lipschitz", "l2"])
def test_fit_lowers_objective(tmp_path, lam, beta, capsys):
    cb = ConvexPostProcessing(lam=lam, beta=beta, max_iter=3, verbose=True)
    module, before, trainer, X, y = fit(tmp_path, cb, logger=2)
    J_before = objective(before, X, y, lam=lam, beta=beta).value
    J_after = objective(module.model, X, y, lam=lam, beta=beta).value
    s = cb.summary
    assert s["J_before"] == pytest.approx(J_before, rel=1e-5)
    assert s["applied"] == 1.0 and cb.applied
    assert not same_params(module.model, before)
    assert J_after <= J_before
    assert J_after == pytest.approx(s["J_after"], rel=1e-4, abs=1e-8)
    assert cb.result is not None and cb.result.objective_after == s["J_after"]
    assert isinstance(module.model, ShallowReLU) and module.model.dtype == torch.float64
    # permuting units leaves f unchanged, so the written network is the result's network
    with torch.no_grad():
        torch.testing.assert_close(module.model(X), cb.result.model(X))
    out = capsys.readouterr().out
    assert "iter   0" in out and "ConvexPostProcessing: J" in out
    # logged to every one of trainer.loggers
    assert len(trainer.loggers) == 2
    for logger in trainer.loggers:
        logger.save()
        text = Path(logger.log_dir, "metrics.csv").read_text()
        for key in ("J_before", "J_after", "mse_before", "mse_after", "L_upper_before",
                    "L_upper_after", "L_lower_before", "L_lower_after"):
            assert f"postprocess/{key}" in text
    s = cb.summary
    assert s["L_lower_before"] <= s["L_upper_before"] * (1 + 1e-9)
    assert s["L_lower_after"] <= s["L_upper_after"] * (1 + 1e-9)


def test_float32_module_and_explicit_data(tmp_path):
    X, y = task()
    cb = ConvexPostProcessing(lam=1e-2, max_iter=2, X=X, y=y, verbose=False)
    module, before, _, _, _ = fit(tmp_path, cb, dtype="float32")
    assert module.model.dtype == torch.float32
    assert cb.applied and not same_params(module.model, before)
    assert objective(module.model, X, y, lam=1e-2).value <= objective(before, X, y, lam=1e-2).value
    # the J reported is that of the float32 weights written back, not of a float64 solution
    assert cb.summary["J_after"] == pytest.approx(objective(module.model, X, y, lam=1e-2).value,
                                                  rel=1e-7)


def test_module_untouched_when_postprocessing_fails(tmp_path, monkeypatch):
    from torch_lipcvx.solvers import SolverError

    def fails(model, X, y, **kw):
        raise SolverError("solver exploded")

    monkeypatch.setattr(callbacks_mod, "postprocess", fails)
    cb = ConvexPostProcessing(lam=1e-2, verbose=False)
    # as restored from a checkpoint of an earlier, successful run: must not outlive this failure
    cb.load_state_dict({"summary": {"J_before": 2.0, "J_after": 1.0}, "applied": True})
    snap = Snapshot()
    X, y = task()
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0, dtype="float64")
    with pytest.raises(SolverError, match="solver exploded"):
        make_trainer(tmp_path, [snap, cb]).fit(module, datamodule=RegressionDataModule(X, y))
    assert same_params(module.model, snap.net)
    assert not cb.applied and cb.summary is None and cb.result is None


def test_module_untouched_without_improvement(tmp_path, monkeypatch):
    calls = []

    def no_gain(model, X, y, **kw):
        calls.append((X.shape, X.dtype, model.dtype))
        rec = IterationRecord(0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0, "input")
        other = ShallowReLU(2, 8, dtype=torch.float64)  # different weights: must not be written
        return PostProcessResult(other, [rec, rec], message="no gain")

    monkeypatch.setattr(callbacks_mod, "postprocess", no_gain)
    cb = ConvexPostProcessing(lam=1e-2, verbose=False)
    module, before, *_ = fit(tmp_path, cb)
    assert calls == [(torch.Size([60, 2]), torch.float64, torch.float64)]  # full training set
    assert same_params(module.model, before)
    assert cb.summary["applied"] == 0.0 and not cb.applied


@pytest.mark.parametrize("kwargs, match", [
    (dict(lam=-1.0), "lam"),
    (dict(beta=-0.5), "beta"),
    (dict(lam=0.0, beta=0.0), "lam and beta are both 0"),
    (dict(lam=1.0, tol=-1e-3), "tol"),
    (dict(lam=1.0, max_iter=0), "max_iter"),
    (dict(lam=1.0, solver="NOPE"), "NOPE"),
    (dict(lam=1.0, X=torch.zeros(5, 2)), "both X and y"),
    (dict(lam=1.0, y=torch.zeros(5)), "both X and y"),
    (dict(lam=1.0, X=torch.zeros(5, 2), y=torch.zeros(4)), r"y must have shape \(5,\)"),
    (dict(lam=1.0, X=torch.zeros(5), y=torch.zeros(5)), "X must have shape"),
    (dict(lam=1.0, model_attr="not an attr"), "model_attr"),
    (dict(lam=1.0, refresh_checkpoints="yes"), "refresh_checkpoints"),
])
def test_invalid_settings_raise_at_construction(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ConvexPostProcessing(**kwargs)


class SequentialModule(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return ((self.model(batch[0])[:, 0] - batch[1]) ** 2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-2)


def test_wrong_architecture_raises_in_setup(tmp_path):
    X, y = task(dtype=torch.float32)
    module = SequentialModule()
    trainer = make_trainer(tmp_path, [ConvexPostProcessing(lam=1e-2)])
    with pytest.raises(ValueError, match="nn.Sequential.*must be a ShallowReLU"):
        trainer.fit(module, datamodule=RegressionDataModule(X, y, batch_size=20))
    assert module.steps == 0
    trainer = make_trainer(tmp_path, [ConvexPostProcessing(lam=1e-2, model_attr="net")])
    with pytest.raises(ValueError, match="no attribute 'net'"):
        trainer.fit(module, datamodule=RegressionDataModule(X, y, batch_size=20))
    assert module.steps == 0


def test_explicit_data_size_mismatch_raises_in_setup(tmp_path):
    cb = ConvexPostProcessing(lam=1e-2, X=torch.zeros(5, 3), y=torch.zeros(5))
    module = ShallowReLURegressor(2, hidden=8)
    X, y = task(dtype=torch.float32)
    with pytest.raises(ValueError, match="X has 3 features"):
        make_trainer(tmp_path, [cb]).fit(module, datamodule=RegressionDataModule(X, y))


def test_sharded_strategy_rejected_in_setup():
    from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy
    module = ShallowReLURegressor(2, hidden=8)
    cb = ConvexPostProcessing(lam=1e-2)
    for cls in (FSDPStrategy, DeepSpeedStrategy):
        trainer = types.SimpleNamespace(strategy=cls.__new__(cls))
        with pytest.raises(ValueError, match=cls.__name__):
            cb.setup(trainer, module, "fit")


def test_state_dict_round_trip_and_checkpoint(tmp_path):
    cb = ConvexPostProcessing(lam=1e-2, max_iter=2, verbose=False)
    module, _, trainer, X, y = fit(tmp_path, cb, epochs=2)
    state = cb.state_dict()
    fresh = ConvexPostProcessing(lam=1e-2, verbose=False)
    assert fresh.summary is None
    fresh.load_state_dict(copy.deepcopy(state))
    assert fresh.summary == cb.summary and fresh.applied == cb.applied

    # a real checkpoint written by the Trainer after fit holds the summary and the new weights
    path = tmp_path / "after.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=False)
    assert ckpt["callbacks"][cb.state_key]["summary"] == cb.summary
    restored = ShallowReLURegressor.load_from_checkpoint(path)
    assert same_params(restored.model, module.model)

    # and the Trainer restores it into a new callback when resuming fit from that checkpoint
    seen = {}

    class Peek(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            seen["summary"] = copy.deepcopy(new_cb.summary)

    new_cb = ConvexPostProcessing(lam=1e-2, max_iter=2, verbose=False)
    trainer2 = make_trainer(tmp_path, [Peek(), new_cb], epochs=3)
    trainer2.fit(ShallowReLURegressor(2, hidden=8, seed=1, dtype="float64"),
                 datamodule=RegressionDataModule(X, y, batch_size=20), ckpt_path=path)
    assert seen["summary"] == cb.summary


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_ddp_two_cpu_processes(tmp_path, strategy):
    script = Path(__file__).with_name("ddp_callback_script.py")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), strategy], timeout=300,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    w0, w1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    b0, b1 = (torch.load(tmp_path / f"rank{r}_before.pt") for r in (0, 1))
    s0, s1 = (torch.load(tmp_path / f"rank{r}_summary.pt") for r in (0, 1))
    assert w0.keys() == w1.keys() == b0.keys()
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # bit-identical across ranks
    assert all(torch.equal(b0[k], b1[k]) for k in b0)  # DDP kept the ranks in sync before
    assert s0 == s1 and s0["applied"] == 1.0
    assert not all(torch.equal(w0[k], b0[k]) for k in w0)  # the callback changed the weights
    assert s0["J_after"] < s0["J_before"]
    e0, e1 = (torch.load(tmp_path / f"rank{r}_extra.pt") for r in (0, 1))
    # the convex step ran on both ranks, each on its shard of the rows (docs/solvers.md §3.3)
    assert e0["has_result"] and e1["has_result"]
    # epoch-level training metrics are reduced over both ranks' shards, not rank-local
    assert {"train_loss", "train_mse"} <= e0["metrics"].keys()
    assert e0["metrics"] == pytest.approx(e1["metrics"], rel=1e-6)
    # after the write-back every rank re-validated: the same val_mse, that of the new weights
    # (float32 network and metric: its rounding only)
    assert e0["revalidated"] and e1["revalidated"]
    assert e0["val_mse"] == e1["val_mse"] == e0["best_model_score"] == e1["best_model_score"]
    val = torch.load(tmp_path / "val.pt")
    net = ShallowReLU(2, 8)
    net.load_state_dict(w0)
    with torch.no_grad():
        mse = float((net(val["X"]) - val["y"]).pow(2).mean())
    assert e0["val_mse"] == pytest.approx(mse, rel=1e-6)
    # only rank zero wrote files; last.ckpt and the best path reload the post-processed weights
    ckpt_dir = tmp_path / "ckpt"
    assert e1["writes"] == [] and e0["writes"][-2:] == [str(ckpt_dir / "postprocessed.ckpt"),
                                                        str(ckpt_dir / "last.ckpt")]
    assert e0["best_model_path"] == e1["best_model_path"] == str(ckpt_dir / "postprocessed.ckpt")
    for path in (e0["last_model_path"], e0["best_model_path"]):
        restored = ShallowReLURegressor.load_from_checkpoint(path)
        assert same_params(restored.model, net)


# ---------------------------------------------------------------- checkpoints after write-back
class FitEndRecorder(pl.Callback):
    """Listed before ConvexPostProcessing: what the trainer holds when ``on_fit_end`` starts
    (the metrics, and the bytes of every file in the checkpoint folder)."""

    def __init__(self, ckpt_dir: Path):
        self.ckpt_dir = ckpt_dir
        self.metrics, self.files, self.best_model_path = None, None, None

    def on_fit_end(self, trainer, pl_module):
        self.metrics = {k: v.clone() for k, v in trainer.callback_metrics.items()}
        self.files = folder_bytes(self.ckpt_dir)
        self.best_model_path = trainer.checkpoint_callback.best_model_path


def folder_bytes(folder: Path) -> dict:
    """``{name: bytes}`` of the regular files, ``{name: "-> target"}`` of the links."""
    return {p.name: f"-> {p.resolve().name}" if p.is_symlink() else p.read_bytes()
            for p in sorted(folder.iterdir())}


def fit_with_checkpoints(tmp_path, cb, *, save_last=True, monitor="val_mse", val="datamodule",
                         extra=()):
    """Fit a float64 ShallowReLURegressor on 60 training and 20 validation points with a
    ModelCheckpoint in ``tmp_path/ckpt``; ``val``: ``"datamodule"`` (validation data in the
    DataModule), ``"loaders"`` (DataLoaders passed to fit) or ``None`` (no validation)."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    X, y = task(n=80)
    Xt, yt, Xv, yv = X[:60], y[:60], X[60:], y[60:]
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0, dtype="float64")
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=save_last, monitor=monitor)
    rec = FitEndRecorder(tmp_path / "ckpt")
    trainer = make_trainer(tmp_path, [rec, ckpt, *extra, cb], checkpointing=True)
    if val == "datamodule":
        trainer.fit(module, datamodule=RegressionDataModule(Xt, yt, Xv, yv, batch_size=20))
    elif val == "loaders":
        from torch.utils.data import DataLoader, TensorDataset
        trainer.fit(module, DataLoader(TensorDataset(Xt, yt), batch_size=20, shuffle=True),
                    DataLoader(TensorDataset(Xv, yv), batch_size=20))
    else:
        trainer.fit(module, datamodule=RegressionDataModule(Xt, yt, batch_size=20))
    return types.SimpleNamespace(module=module, trainer=trainer, ckpt=ckpt, rec=rec, X=Xt, y=yt,
                                 X_val=Xv, y_val=yv)


def assert_reloads_postprocessed(path, run, cb, lam, beta):
    """The checkpoint at ``path`` rebuilds the post-processed network, bit for bit, with the
    callback's J, and carries the callback's summary."""
    restored = ShallowReLURegressor.load_from_checkpoint(path)
    assert same_params(restored.model, run.module.model)
    w, r = restored.model.weights(), cb.result.model.weights()
    assert all(torch.equal(a, b) for a, b in zip((w.W, w.b, w.alpha, w.c),
                                                  (r.W, r.b, r.alpha, r.c)))
    J = objective(restored.model, run.X, run.y, lam=lam, beta=beta).value
    assert J == objective(run.module.model, run.X, run.y, lam=lam, beta=beta).value
    # the callback's J is that of the same weights with its own certificate solve
    assert J == pytest.approx(cb.result.objective_after, rel=1e-6)
    state = torch.load(path, weights_only=False)["callbacks"][cb.state_key]
    assert state == {"summary": cb.summary, "applied": True}


@pytest.mark.parametrize("save_last", [True, "link"])
def test_checkpoints_and_metrics_follow_postprocessing(tmp_path, save_last):
    from lightning.pytorch.callbacks import ModelCheckpoint
    lam, beta = 1e-2, 1e-3
    cb = ConvexPostProcessing(lam=lam, beta=beta, max_iter=2, verbose=False)
    # a second ModelCheckpoint: weights only, no monitor (its "best" is the latest epoch)
    other = ModelCheckpoint(dirpath=tmp_path / "other", save_last=True, save_weights_only=True)
    run = fit_with_checkpoints(tmp_path, cb, save_last=save_last, extra=[other])
    ckpt, trainer, rec = run.ckpt, run.trainer, run.rec
    assert cb.applied and cb.revalidated
    old_best = Path(rec.best_model_path)
    assert old_best.parent == tmp_path / "ckpt" and old_best.name.startswith("epoch=")
    if save_last == "link":
        assert rec.files["last.ckpt"] == f"-> {old_best.name}"

    # last.ckpt and the best-model path reload the post-processed network
    assert ckpt.last_model_path == str(tmp_path / "ckpt" / "last.ckpt")
    assert ckpt.best_model_path == str(tmp_path / "ckpt" / "postprocessed.ckpt")
    for path in (ckpt.last_model_path, ckpt.best_model_path):
        assert not Path(path).is_symlink()
        assert_reloads_postprocessed(path, run, cb, lam, beta)
    # the checkpoint written during training (and the link's target) is kept as it was
    after = folder_bytes(tmp_path / "ckpt")
    assert after[old_best.name] == rec.files[old_best.name]
    assert set(after) == set(rec.files) | {"postprocessed.ckpt"}

    # the validation metrics are those of the post-processed network, the training ones stay
    with torch.no_grad():
        mse = (run.module.model(run.X_val) - run.y_val).pow(2).mean()
    val_mse = trainer.callback_metrics["val_mse"]
    torch.testing.assert_close(val_mse, mse, rtol=1e-12, atol=0)
    assert not torch.equal(val_mse, rec.metrics["val_mse"])
    assert torch.equal(ckpt.best_model_score, val_mse)
    for key in ("train_loss", "train_mse"):
        assert torch.equal(trainer.callback_metrics[key], rec.metrics[key])
    # the ModelCheckpoints' states inside the files name the new best paths
    state = torch.load(ckpt.last_model_path, weights_only=False)["callbacks"]
    mc_states = {v["dirpath"]: v for k, v in state.items() if k.startswith("ModelCheckpoint")}
    assert mc_states[ckpt.dirpath]["best_model_path"] == ckpt.best_model_path
    assert torch.equal(mc_states[ckpt.dirpath]["best_model_score"], val_mse)
    assert mc_states[other.dirpath]["best_model_path"] == other.best_model_path
    # the second one's files (weights only) hold the post-processed network as well
    assert other.best_model_path == str(tmp_path / "other" / "postprocessed.ckpt")
    assert other.best_model_score is None
    for path in (other.last_model_path, other.best_model_path):
        assert "optimizer_states" not in torch.load(path, weights_only=False)
        restored = ShallowReLURegressor.load_from_checkpoint(path)
        assert same_params(restored.model, run.module.model)
    # the trainer is left as fit leaves it
    from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus
    assert trainer.state.fn == TrainerFn.FITTING and trainer.state.status == TrainerStatus.FINISHED
    assert trainer.train_dataloader is not None and trainer.val_dataloaders is not None


@pytest.mark.parametrize("val, monitor", [("loaders", "val_mse"), (None, None),
                                          ("datamodule", "train_loss")])
def test_refresh_with_fit_loaders_or_without_validation(tmp_path, val, monitor):
    lam, beta = 1e-2, 0.0
    cb = ConvexPostProcessing(lam=lam, max_iter=2, verbose=False)
    run = fit_with_checkpoints(tmp_path, cb, val=val, monitor=monitor)
    assert cb.applied and cb.revalidated == (val is not None)
    for path in (run.ckpt.last_model_path, run.ckpt.best_model_path):
        assert_reloads_postprocessed(path, run, cb, lam, beta)
    if val is None:  # nothing was validated: no validation metric, no score
        assert "val_mse" not in run.trainer.callback_metrics and run.ckpt.best_model_score is None
    elif monitor == "train_loss":  # a training metric: no value for the new network
        assert run.ckpt.best_model_score is None
        assert run.ckpt.best_model_path.endswith("postprocessed.ckpt")
    else:
        with torch.no_grad():
            mse = (run.module.model(run.X_val) - run.y_val).pow(2).mean()
        torch.testing.assert_close(run.trainer.callback_metrics["val_mse"], mse, rtol=1e-12,
                                   atol=0)
        # the loaders passed to fit are the trainer's again after the nested validation
        assert run.trainer.train_dataloader is not None


def test_checkpoints_untouched_without_improvement_or_refresh(tmp_path, monkeypatch):
    # refresh_checkpoints=False: the weights change, the files and metrics stay
    cb = ConvexPostProcessing(lam=1e-2, max_iter=2, refresh_checkpoints=False, verbose=False)
    run = fit_with_checkpoints(tmp_path / "off", cb)
    assert cb.applied and not cb.revalidated
    assert folder_bytes(tmp_path / "off" / "ckpt") == run.rec.files
    assert run.ckpt.best_model_path == run.rec.best_model_path
    assert torch.equal(run.trainer.callback_metrics["val_mse"], run.rec.metrics["val_mse"])

    # J did not decrease: nothing written back, nothing re-validated or re-saved
    def no_gain(model, X, y, **kw):
        rec = IterationRecord(0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0, "input")
        return PostProcessResult(ShallowReLU(2, 8, dtype=torch.float64), [rec, rec], message="")

    monkeypatch.setattr(callbacks_mod, "postprocess", no_gain)
    cb = ConvexPostProcessing(lam=1e-2, verbose=False)
    run = fit_with_checkpoints(tmp_path / "nogain", cb)
    assert not cb.applied and not cb.revalidated
    assert folder_bytes(tmp_path / "nogain" / "ckpt") == run.rec.files
    assert run.ckpt.best_model_path == run.rec.best_model_path
    assert torch.equal(run.trainer.callback_metrics["val_mse"], run.rec.metrics["val_mse"])


def test_revalidation_restores_no_checkpoint(tmp_path):
    """``trainer.ckpt_path`` set by the user (fit resumes from it) must not be loaded again by
    the re-validation: the refreshed files hold the post-processed weights."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    first = fit_with_checkpoints(tmp_path / "first", ConvexPostProcessing(
        lam=1e-2, max_iter=1, refresh_checkpoints=False, verbose=False))
    X, y = task(n=80)
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0, dtype="float64")
    ckpt = ModelCheckpoint(dirpath=tmp_path / "second", save_last=True, monitor="val_mse")
    cb = ConvexPostProcessing(lam=1e-2, max_iter=2, verbose=False)
    trainer = make_trainer(tmp_path, [ckpt, cb], epochs=4, checkpointing=True)
    trainer.ckpt_path = first.ckpt.last_model_path  # user-managed: fit resumes from it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ModelCheckpoint's dirpath differs from the file's
        trainer.fit(module, datamodule=RegressionDataModule(X[:60], y[:60], X[60:], y[60:],
                                                            batch_size=20))
    assert cb.applied and cb.revalidated
    assert trainer.ckpt_path == first.ckpt.last_model_path
    for path in (ckpt.last_model_path, ckpt.best_model_path):
        restored = ShallowReLURegressor.load_from_checkpoint(path)
        assert same_params(restored.model, module.model)
        assert same_params(restored.model, cb.result.model)
