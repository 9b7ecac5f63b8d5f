"""Lightning integration (torch_lipcvx.lightning.module): fitting lowers the MSE, adversarial
training
and validation metrics run, checkpoints round-trip, the objective matches train_sgd."""

from __future__ import annotations

import csv
import warnings

import pytest
import torch
from torch import nn

pl = pytest.importorskip("lightning.pytorch")

from torch_lipcvx import ShallowReLU  # noqa: E402
from torch_lipcvx.lightning import RegressionDataModule, ShallowReLURegressor  # noqa: E402
from torch_lipcvx.train import train_sgd  # noqa: E402



def task(n=96, n_val=32, d=2, seed=0, dtype=torch.float32):
    """y = sin(2 x₀) + 0.5 x₁ + noise; returns train and validation tensors."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n + n_val, d, generator=g, dtype=dtype)
    y = torch.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.05 * torch.randn(n + n_val, generator=g, dtype=dtype)
    return X[:n], y[:n], X[n:], y[n:]


def trainer(tmp_path, epochs, logger=True, callbacks=()):
    from lightning.pytorch.loggers import CSVLogger
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                          logger=CSVLogger(tmp_path) if logger else False,
                          enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, num_sanity_val_steps=0,
                          callbacks=list(callbacks))


class EpochMetrics(pl.Callback):
    """Record trainer.callback_metrics at every training-epoch end."""

    def __init__(self):
        self.epochs = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def mse(module, X, y):
    with torch.no_grad():
        return float(((module(X) - y) ** 2).mean())


# ---------------------------------------------------------------------------- plain training
def test_fit_lowers_mse_and_logs(tmp_path):
    X, y, Xv, yv = task()
    module = ShallowReLURegressor(2, hidden=32, lr=2e-2, beta=1e-4)
    dm = RegressionDataModule(X, y, Xv, yv, batch_size=32)
    record = EpochMetrics()
    before = mse(module, X, y)
    t = trainer(tmp_path, 25, callbacks=[record])
    t.fit(module, datamodule=dm)

    assert isinstance(module.model, ShallowReLU)
    assert len(record.epochs) == 25
    train_mse = [e["train_mse"] for e in record.epochs]
    assert train_mse[-1] < 0.5 * train_mse[0]
    assert mse(module, X, y) < 0.5 * before
    metrics = t.callback_metrics
    assert {"train_loss", "train_mse", "val_mse"} <= set(metrics)
    assert "val_adv_mse" not in metrics and "train_adv_mse" not in metrics  # eps = 0
    assert float(metrics["train_loss"]) > float(metrics["train_mse"])  # + (β/2)·l2 > 0
    # val_mse is the clean MSE of the final network on the validation data
    assert float(metrics["val_mse"]) == pytest.approx(mse(module, Xv, yv), rel=1e-5)
    # the CSV logger wrote the epoch-level metrics
    rows = list(csv.DictReader(open(t.logger.log_dir + "/metrics.csv")))
    assert {"train_loss", "train_mse", "val_mse", "epoch"} <= set(rows[0])
    assert sum(bool(r["val_mse"]) for r in rows) == 25


def test_matches_train_sgd(tmp_path):
    """Full batch, same seed: the Lightning module follows train_sgd's objective step for step."""
    X, y, _, _ = task(n=64, dtype=torch.float64)
    ref = train_sgd(None, X, y, hidden=8, beta=1e-2, epochs=15, lr=1e-2, seed=3)
    module = ShallowReLURegressor(2, hidden=8, beta=1e-2, lr=1e-2, seed=3, dtype=torch.float64)
    trainer(tmp_path, 15, logger=False).fit(module, datamodule=RegressionDataModule(X, y))
    for a, b in zip(module.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_lipschitz_penalty_training_matches_train_sgd_lip_and_lowers_L(tmp_path):
    """lam > 0, full batch, same seed: the module takes train_sgd_lip's steps (the same certified
    penalty and dual gradient) and ends with a smaller certified L than lam = 0."""
    from torch_lipcvx import lipsdp
    from torch_lipcvx.train import train_sgd_lip
    X, y, _, _ = task(n=64, dtype=torch.float64)
    ref = train_sgd_lip(None, X, y, lam=0.05, hidden=8, beta=1e-3, epochs=12, lr=1e-2, seed=3)
    record = EpochMetrics()
    module = ShallowReLURegressor(2, hidden=8, beta=1e-3, lam=0.05, lr=1e-2, seed=3,
                                  dtype=torch.float64)
    trainer(tmp_path, 12, logger=False, callbacks=[record]).fit(
        module, datamodule=RegressionDataModule(X, y))
    for a, b in zip(module.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-11)
    assert "train_lipschitz" in record.epochs[-1]
    plain = ShallowReLURegressor(2, hidden=8, beta=1e-3, lr=1e-2, seed=3, dtype=torch.float64)
    trainer(tmp_path, 12, logger=False).fit(plain, datamodule=RegressionDataModule(X, y))
    assert lipsdp(module.model.weights()).L < lipsdp(plain.model.weights()).L
    with pytest.raises(ValueError, match="lam"):
        ShallowReLURegressor(2, lam=-1.0)


def test_no_validation_data(tmp_path):
    X, y, _, _ = task(n=32)
    module = ShallowReLURegressor(2, hidden=4, optimizer="sgd")
    t = trainer(tmp_path, 2, logger=False)
    t.fit(module, datamodule=RegressionDataModule(X, y, batch_size=16))
    assert "val_mse" not in t.callback_metrics and "train_mse" in t.callback_metrics
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    (pred,) = t.predict(module, loader)
    torch.testing.assert_close(pred, module(X).detach())


# ---------------------------------------------------------------------------- adversarial
@pytest.mark.parametrize("norm", [2, "inf"])
def test_adversarial_training_and_validation(tmp_path, norm):
    X, y, Xv, yv = task(n=48, n_val=24)
    module = ShallowReLURegressor(2, hidden=8, eps=0.1, norm=norm, attack_steps=3,
                                  val_attack_steps=5, val_certified=True, log_lipschitz=True,
                                  lipschitz_options=dict(n_samples=16, ascent_steps=3))
    record = EpochMetrics()
    t = trainer(tmp_path, 3, logger=False, callbacks=[record])
    t.fit(module, datamodule=RegressionDataModule(X, y, Xv, yv, batch_size=16))
    m = {k: float(v) for k, v in t.callback_metrics.items()}
    for key in ("train_adv_mse", "train_mse", "val_mse", "val_adv_mse", "val_certified_adv_mse",
                "lipschitz/lower", "lipschitz/upper"):
        assert key in m, key
    for epoch in record.epochs:  # attacked batches never beat the clean ones
        assert epoch["train_adv_mse"] >= epoch["train_mse"]
    # clean < PGD (lower bound) ≤ certified (upper bound); the attack works under inference mode
    assert m["val_mse"] < m["val_adv_mse"] <= m["val_certified_adv_mse"]
    assert 0 < m["lipschitz/lower"] <= m["lipschitz/upper"]
    # the certified metric used the certified L of the final network
    L = module.val_metrics["certified_adv_mse"].lipschitz_used
    assert L == pytest.approx(m["lipschitz/upper"], rel=1e-6)  # Lightning logs float32
    # test loop logs the same metrics with the test_ prefix
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xv, yv), batch_size=8)
    out = t.test(module, dataloaders=loader, verbose=False)
    assert out[0]["test_mse"] == pytest.approx(m["val_mse"], rel=1e-5)
    assert {"test_adv_mse", "test_certified_adv_mse"} <= set(out[0])


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(tmp_path):
    X, y, Xv, yv = task(n=32, n_val=16)
    module = ShallowReLURegressor(2, hidden=6, eps=0.05, beta=1e-3, lr=5e-3)
    t = trainer(tmp_path, 2, logger=False)
    t.fit(module, datamodule=RegressionDataModule(X, y, Xv, yv, batch_size=16))
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)
    loaded = ShallowReLURegressor.load_from_checkpoint(path)
    assert dict(loaded.hparams) == dict(module.hparams)
    assert loaded._attack_gen.get_state().equal(module._attack_gen.get_state())
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(Xv), module(Xv), rtol=0, atol=0)


def test_resumed_fit_equals_uninterrupted_fit(tmp_path):
    """Stopping after 2 epochs and resuming from the checkpoint gives the same weights as 4
    epochs in one go: the shuffling and attack generators are checkpointed too."""
    X, y, Xv, yv = task(n=48, n_val=16)

    def fresh():
        return (ShallowReLURegressor(2, hidden=6, eps=0.05, lr=5e-3, seed=3),
                RegressionDataModule(X, y, Xv, yv, batch_size=16, seed=5))

    whole, dm = fresh()
    trainer(tmp_path, 4, logger=False).fit(whole, datamodule=dm)
    first, dm = fresh()
    t = trainer(tmp_path, 2, logger=False)
    t.fit(first, datamodule=dm)
    path = tmp_path / "half.ckpt"
    t.save_checkpoint(path)
    resumed, dm = fresh()
    trainer(tmp_path, 4, logger=False).fit(resumed, datamodule=dm, ckpt_path=path)
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_checkpoint_loaded_onto_cuda_restores_the_generators(tmp_path):
    """torch.load(map_location="cuda") moves the generators' CPU states to the GPU."""
    X, y, Xv, yv = task(n=32, n_val=16)
    module = ShallowReLURegressor(2, hidden=6, eps=0.05, lr=5e-3)
    dm = RegressionDataModule(X, y, Xv, yv, batch_size=16)
    t = trainer(tmp_path, 1, logger=False)
    t.fit(module, datamodule=dm)
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cuda", weights_only=False)
    other = ShallowReLURegressor(2, hidden=6, eps=0.05, lr=5e-3)
    other.on_load_checkpoint(checkpoint)
    assert other._attack_gen.get_state().equal(module._attack_gen.get_state())
    other_dm = RegressionDataModule(X, y, Xv, yv, batch_size=16)
    other_dm.load_state_dict(checkpoint[type(dm).__qualname__])
    assert other_dm._train_gen.get_state().equal(dm._train_gen.get_state())


def test_checkpoint_round_trip_with_given_float64_model(tmp_path):
    X, y, _, _ = task(n=32, dtype=torch.float64)
    seq = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 1)).double()
    module = ShallowReLURegressor(model=seq, lr=1e-2)
    assert module.hparams.in_features == 2 and module.hparams.hidden == 5
    assert module.hparams.dtype == "float64"
    assert module.hparams_initial == module.hparams  # what the loggers record
    t = trainer(tmp_path, 1, logger=False)
    t.fit(module, datamodule=RegressionDataModule(X, y))
    path = tmp_path / "given.ckpt"
    t.save_checkpoint(path)
    loaded = ShallowReLURegressor.load_from_checkpoint(path)
    assert loaded.model.dtype == torch.float64
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), module(X), rtol=0, atol=0)


def test_given_shallow_relu_is_the_trained_module(tmp_path):
    net = ShallowReLU(2, 4, generator=torch.Generator().manual_seed(0))
    module = ShallowReLURegressor(model=net)
    assert module.model is net


# ---------------------------------------------------------------------------- bad configuration
def test_bad_configuration_raises():
    net = ShallowReLU(2, 3)
    with pytest.raises(ValueError, match="pass exactly one of in_features"):
        ShallowReLURegressor()
    with pytest.raises(ValueError, match="pass exactly one of in_features"):
        ShallowReLURegressor(2, model=net)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd', got 'lbfgs'"):
        ShallowReLURegressor(2, optimizer="lbfgs")
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        ShallowReLURegressor(2, beta=-1.0)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        ShallowReLURegressor(2, eps=-0.1)
    with pytest.raises(ValueError, match="norm must be 2 or inf"):
        ShallowReLURegressor(2, norm=1)
    with pytest.raises(ValueError, match="val_certified=True needs a validation radius > 0"):
        ShallowReLURegressor(2, val_certified=True)
    with pytest.raises(ValueError, match="hidden must be an integer >= 1"):
        ShallowReLURegressor(2, hidden=0)
    with pytest.raises(ValueError, match="expected exactly 3 layers"):
        ShallowReLURegressor(model=nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    X, y = torch.randn(8, 2), torch.randn(8)
    with pytest.raises(ValueError, match="pass both X_val and y_val, or neither"):
        RegressionDataModule(X, y, X_val=X)
    with pytest.raises(ValueError, match=r"y must have shape \(8,\)"):
        RegressionDataModule(X, y[:5])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        RegressionDataModule(X, y, batch_size=0)
    with pytest.raises(TypeError, match="seed must be an integer, got 1.5"):
        RegressionDataModule(X, y, seed=1.5)


def test_bad_lipschitz_options_raise_at_construction():
    # not after a full training epoch, at the first validation end
    with pytest.raises(ValueError, match="lipschitz_options.*'n_sample'.*n_samples"):
        ShallowReLURegressor(2, log_lipschitz=True, lipschitz_options={"n_sample": 16})
    with pytest.raises(ValueError, match="lipschitz_options.*'norm'"):
        ShallowReLURegressor(2, log_lipschitz=True, lipschitz_options={"norm": 2})
    with pytest.raises(TypeError, match="lipschitz_options must be a dict or None, got int"):
        ShallowReLURegressor(2, lipschitz_options=5)
    ShallowReLURegressor(2, log_lipschitz=True, lipschitz_options={"n_samples": 8, "seed": 1})


def test_seeds_across_torch_range():
    """The attack streams are seed + 2 and seed + 3: at the top of torch's range they wrap
    (seed=2**64-1 crashed with 'Overflow when unpacking long long'); beyond it, a clear error."""
    top = ShallowReLURegressor(2, hidden=3, seed=2 ** 64 - 1)
    assert top._attack_gen.initial_seed() == 1 and top._val_gen.initial_seed() == 2
    with pytest.raises(ValueError, match=r"seed must be an integer in \[-2\*\*63, 2\*\*64\)"):
        ShallowReLURegressor(2, hidden=3, seed=2 ** 64)
    with pytest.raises(ValueError, match="seed must be an integer in"):
        RegressionDataModule(torch.zeros(4, 2), torch.zeros(4), seed=-2 ** 63 - 1)
