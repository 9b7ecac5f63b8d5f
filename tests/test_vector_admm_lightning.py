"""k >= 1 outputs in the ADMM baseline (docs/admm.md §6), the Lightning module and the
ConvexPostProcessing callback (issue 29): ADMM lowers J of a 3-output regressor and reports the J
that objective.score gives; its k-output SDP step is the one-output step when the extra columns
are zero; the Lightning module trains 3-output regressors and 4-class classifiers, and the
callback post-processes them without raising J."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from torch_lipcvx import ShallowReLU
from torch_lipcvx.admm import (ADMM, ADMMSDPStepVector, phi_T, schur_lmi_min_eig, sdp_step)
from torch_lipcvx.bounds import lipsdp
from torch_lipcvx.losses import SquaredError
from torch_lipcvx.objective import objective, score

pl = pytest.importorskip("lightning.pytorch")

from torch_lipcvx.lightning import (ConvexPostProcessing, RegressionDataModule,  # noqa: E402
                                    ShallowReLURegressor)

F64 = torch.float64


def regression3(n=60, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=F64)
    Y = torch.stack([torch.sin(2 * X[:, 0]), 0.5 * X[:, 1], X[:, 0] * X[:, 1]], dim=1)
    return X, Y + 0.05 * torch.randn(n, 3, generator=g, dtype=F64)


def classification4(n=80, d=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=F64)
    y = (X[:, 0] > 0).long() * 2 + (X[:, 1] > 0).long()      # 4 quadrants
    return X, y


# ---------------------------------------------------------------------------- ADMM, k outputs
def test_admm_three_outputs_lowers_J_scored_by_score():
    X, Y = regression3()
    net = ShallowReLU(2, 8, out_features=3, dtype=F64,
                      generator=torch.Generator().manual_seed(0))
    before = copy.deepcopy(net.state_dict())
    admm = ADMM(net, X, Y, lam=1e-2, beta=1e-3, loss_steps=50, min_iter=3, max_iter=3)
    assert admm.a.shape == (8, 3) and admm.U_alpha.shape == (8, 3)
    res = admm.run(progress=False)
    J0 = res.history[0].objective
    assert len(res.history) == 4
    assert res.objective.value < J0
    # the result's J is objective.score's, with a fresh certificate of the returned weights
    w = res.model.weights().to(dtype=F64)
    J = score(w, X, Y, lam=1e-2, beta=1e-3, rho=lipsdp(w).rho, loss=SquaredError())
    assert res.objective.value == pytest.approx(J.value, rel=1e-6)
    assert objective(res.model, X, Y, lam=1e-2, beta=1e-3,
                     loss="squared").value == pytest.approx(J.value, rel=1e-6)
    # the data term is (1/n)‖F − Y‖²_F, summed over outputs
    F = res.model(X).detach()
    assert res.objective.mse == pytest.approx(float(((F - Y) ** 2).sum(1).mean()), rel=1e-9)
    for r in res.history[1:]:
        assert r.lmi_min_eig > -1e-6                     # the SDP step is feasible
        assert r.sdp_phi <= r.sdp_rho * (1 + 1e-5) + 1e-8   # and tight up to tolerance
        assert r.sdp_phi >= r.sdp_rho * (1 - 1e-4) - 1e-8
        assert r.copy_rho <= r.sdp_rho * (1 + 1e-5) + 1e-8
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)     # input untouched


def test_vector_sdp_step_with_zero_columns_is_the_scalar_step():
    g = torch.Generator().manual_seed(3)
    m, d = 6, 3
    V_W = torch.randn(m, d, generator=g, dtype=F64)
    v = torch.randn(m, generator=g, dtype=F64)
    t = torch.rand(m, generator=g, dtype=F64) + 0.5
    t[2] = 0.0                                            # a unit with t_j = 0: a_j = 0
    one = sdp_step(V_W, v, t, 0.3)
    V_A = torch.stack([v, torch.zeros_like(v)], dim=1)
    two = sdp_step(V_W, V_A, t, 0.3, program=ADMMSDPStepVector(m, d, 2))
    assert two.a.shape == (m, 2)
    assert torch.allclose(two.Z, one.Z, atol=1e-5)
    assert torch.allclose(two.a[:, 0], one.a, atol=1e-5)
    assert float(two.a[:, 1].abs().max()) < 1e-5
    assert two.rho == pytest.approx(one.rho, rel=1e-4, abs=1e-7)
    assert float(two.a[2].abs().max()) == 0.0
    assert two.min_eig > -1e-7
    # phi_T of k outputs equals the one-output value on [a, 0]
    assert phi_T(two.Z, torch.stack([one.a, torch.zeros(m, dtype=F64)], 1), t) == pytest.approx(
        phi_T(two.Z, one.a, t), rel=1e-9)
    assert schur_lmi_min_eig(two.Z, two.a, t, two.rho) == pytest.approx(two.min_eig)


def test_admm_rejects_other_losses_and_bad_targets():
    X, Y = regression3(n=20)
    net = ShallowReLU(2, 4, out_features=3, dtype=F64)
    with pytest.raises(ValueError, match="squared loss only"):
        ADMM(net, X, Y, lam=1e-2, loss="huber")
    with pytest.raises(ValueError, match=r"y must have shape \(20, 3\)"):
        ADMM(net, X, Y[:, :2], lam=1e-2)
    with pytest.raises(ValueError, match="unknown|loss"):
        ADMM(net, X, Y, lam=1e-2, loss="nope")


# ---------------------------------------------------------------------------- Lightning
class Snapshot(pl.Callback):
    """Deep-copies the network at fit end (listed before the post-processing callback)."""

    def __init__(self):
        self.net = None

    def on_fit_end(self, trainer, pl_module):
        self.net = copy.deepcopy(pl_module.model)


def _trainer(tmp_path, callbacks, epochs=2):
    from lightning.pytorch.loggers import CSVLogger
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                          logger=CSVLogger(tmp_path, name="csv"), enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False,
                          num_sanity_val_steps=0, default_root_dir=tmp_path,
                          callbacks=list(callbacks))


def _fit(tmp_path, module, cb, X, y, X_val, y_val):
    snap = Snapshot()
    trainer = _trainer(tmp_path, [snap, cb])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=RegressionDataModule(X, y, X_val, y_val, batch_size=20))
    return trainer, snap.net


def test_lightning_three_output_regression(tmp_path):
    X, Y = regression3()
    module = ShallowReLURegressor(2, hidden=8, out_features=3, lr=2e-2, beta=1e-3,
                                  log_lipschitz=True, dtype="float64")
    assert module.model.out_features == 3 and module.hparams.out_features == 3
    cb = ConvexPostProcessing(lam=1e-2, beta=1e-3, max_iter=2, verbose=False)
    trainer, before = _fit(tmp_path, module, cb, X[:45], Y[:45], X[45:], Y[45:])
    metrics = trainer.callback_metrics
    for key in ("train_loss", "train_mse", "val_mse", "lipschitz/lower", "lipschitz/upper"):
        assert key in metrics, key
    assert float(metrics["lipschitz/lower"]) <= float(metrics["lipschitz/upper"]) + 1e-9
    s = cb.summary
    for key in ("J_before", "J_after", "mse_before", "mse_after", "L_upper_before",
                "L_upper_after", "L_lower_before", "L_lower_after", "improvement", "applied"):
        assert key in s, key
    assert s["J_after"] <= s["J_before"]
    assert s["L_lower_after"] <= s["L_upper_after"] * (1 + 1e-9)
    kw = dict(lam=1e-2, beta=1e-3, loss="squared")
    J_before = objective(before, X[:45], Y[:45], **kw).value
    J_after = objective(module.model, X[:45], Y[:45], **kw).value
    assert J_after <= J_before * (1 + 1e-9)
    assert s["J_before"] == pytest.approx(J_before, rel=1e-6)
    # the logged val_mse is the data term (1/n)Σ‖F_i − Y_i‖² of the trained network
    assert module(X[:2]).shape == (2, 3)


def test_lightning_four_class_cross_entropy(tmp_path):
    X, y = classification4()
    module = ShallowReLURegressor(2, hidden=10, out_features=4, loss="cross_entropy", lr=5e-2,
                                  beta=1e-3, log_lipschitz=True, dtype="float64")
    cb = ConvexPostProcessing(lam=1e-3, beta=1e-3, max_iter=2, loss="cross_entropy",
                              verbose=False)
    trainer, before = _fit(tmp_path, module, cb, X[:60], y[:60], X[60:], y[60:])
    metrics = trainer.callback_metrics
    for key in ("train_loss", "train_data_loss", "val_loss", "val_acc", "lipschitz/lower",
                "lipschitz/upper"):
        assert key in metrics, key
    assert 0.0 <= float(metrics["val_acc"]) <= 1.0
    s = cb.summary
    assert s["J_after"] <= s["J_before"]
    kw = dict(lam=1e-3, beta=1e-3, loss="cross_entropy")
    J_before = objective(before, X[:60], y[:60], **kw).value
    J_after = objective(module.model, X[:60], y[:60], **kw).value
    assert J_after <= J_before * (1 + 1e-9)
    assert s["J_before"] == pytest.approx(J_before, rel=1e-6)
    if s["applied"]:
        assert J_after < J_before
    else:
        assert torch.equal(module.model.hidden.weight, before.hidden.weight)


def test_lightning_module_cross_entropy_training_loss_is_the_loss_mean():
    X, y = classification4(n=12)
    module = ShallowReLURegressor(2, hidden=5, out_features=4, loss="ce", beta=0.0,
                                  dtype="float64")
    module.log = lambda *a, **k: None
    loss = module.training_step((X, y), 0)
    expected = torch.nn.functional.cross_entropy(module.model(X), y)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)


def test_lightning_vector_settings_that_are_not_available_raise():
    # lam > 0, eps > 0 and val_certified with k >= 2 are all available
    ShallowReLURegressor(2, hidden=4, out_features=3, eps=0.1, val_certified=True)
    ShallowReLURegressor(2, hidden=4, out_features=3, lam=1e-2, eps=0.1)
    ShallowReLURegressor(2, hidden=4, out_features=4, loss="ce", eps=0.1, val_certified=True)
    with pytest.raises(ValueError):
        ShallowReLURegressor(2, hidden=4, loss="nope")
    with pytest.raises(ValueError):
        ConvexPostProcessing(lam=1e-2, loss="nope")


# ------------------------------------------------- lam > 0, adversarial regression, select, k >= 2
def test_lightning_lam_penalty_three_outputs_is_the_vector_lipsdp(tmp_path):
    """lam > 0 with k = 3: the training loss is data + (β/2)‖θ‖² + λ·ρ with ρ the certified vector
    LipSDP value of the current weights (≥ the sampled Jacobian bound), and its gradient reaches
    the output weights; a short fit runs and logs train_lipschitz."""
    from torch_lipcvx.bounds import lipschitz_bounds
    from torch_lipcvx.objective import l2_penalty
    X, Y = regression3(n=30)
    lam, beta = 1e-1, 1e-3
    module = ShallowReLURegressor(2, hidden=6, out_features=3, lam=lam, beta=beta,
                                  dtype="float64")
    logged = {}
    module.log = lambda name, value, **k: logged.__setitem__(name, value)
    loss = module.training_step((X, Y), 0)
    data = ((module.model(X) - Y) ** 2).sum(dim=1).mean()
    rho = float(loss.detach() - data.detach() - beta / 2 * l2_penalty(module.model).detach()) / lam
    iv = lipschitz_bounds(module.model, X=X)
    assert iv.lower ** 2 <= rho * (1 + 1e-9)                 # certified: above the sampled bound
    assert rho == pytest.approx(lipsdp(module.model.weights()).rho, rel=1e-3)
    assert float(logged["train_lipschitz"]) == pytest.approx(rho ** 0.5, rel=1e-9)
    loss.backward()
    with_lam = module.model.output.weight.grad.clone()
    plain = ShallowReLURegressor(model=copy.deepcopy(module.model), beta=beta)
    plain.model.zero_grad()
    plain.log = lambda *a, **k: None
    plain.training_step((X, Y), 0).backward()
    assert not torch.allclose(with_lam, plain.model.output.weight.grad)
    del module.log
    trainer = _trainer(tmp_path, [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=RegressionDataModule(X, Y, batch_size=15))
    assert torch.isfinite(trainer.callback_metrics["train_lipschitz"])
    assert torch.isfinite(trainer.callback_metrics["train_loss"])


def test_lightning_adversarial_three_output_regression(tmp_path):
    """eps > 0 with k = 3: PGD on ‖f(x) − y‖² (pgd_attack with (n, k) targets); the attacked data
    term is never below the clean one, and val_adv_mse ≥ val_mse for the same weights."""
    X, Y = regression3(n=40)
    module = ShallowReLURegressor(2, hidden=6, out_features=3, eps=0.2, attack_steps=5,
                                  val_attack_steps=5, lr=1e-2, dtype="float64",
                                  val_certified=True)
    logged = {}
    module.log = lambda name, value, **k: logged.__setitem__(name, value)
    module.training_step((X[:30], Y[:30]), 0)
    assert float(logged["train_adv_mse"]) >= float(logged["train_mse"]) * (1 - 1e-12)
    assert float(logged["train_adv_mse"]) > float(logged["train_mse"])     # the attack did work
    del module.log
    trainer = _trainer(tmp_path, [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=RegressionDataModule(X[:30], Y[:30], X[30:], Y[30:],
                                                            batch_size=15))
    m = trainer.callback_metrics
    assert float(m["val_adv_mse"]) >= float(m["val_mse"]) * (1 - 1e-9)
    # the certified bound (‖f(x) − y‖₂ + Lε)² is never below what PGD found
    assert float(m["val_certified_adv_mse"]) >= float(m["val_adv_mse"]) * (1 - 1e-9)
    assert float(m["train_adv_mse"]) >= float(m["train_mse"]) * (1 - 1e-9)


def test_callback_select_cross_entropy(tmp_path):
    """select= with the cross-entropy on a tiny 4-class problem: λ chosen on validation robust
    accuracy by select_lam(loss=...), the selection table has the accuracies (certified ≤ robust
    ≤ clean per row), and J at the chosen λ never rises."""
    X, y = classification4(n=60)
    module = ShallowReLURegressor(2, hidden=6, out_features=4, loss="cross_entropy", lr=5e-2,
                                  beta=1e-3, dtype="float64")
    cb = ConvexPostProcessing(beta=1e-3, max_iter=2, loss="cross_entropy", verbose=False,
                              select={"lams": [1e-3, 1e-1], "eps": 0.1, "attack_steps": 5})
    trainer, before = _fit(tmp_path, module, cb, X[:40], y[:40], X[40:], y[40:])
    sel = cb.selection
    assert sel is not None and len(sel.table["lam"]) == 3
    for row in sel.rows():
        # (the accuracies are fractions of 20 rows, some rounded to float32: compare to 1e-6)
        cert, rob, acc = row["val_cert_acc"], row["val_robust_acc"], row["val_acc"]
        assert 0 <= cert <= rob + 1e-6 and rob <= acc + 1e-6 and acc <= 1
    s = cb.summary
    assert s["lam"] == sel.lam and s["J_after"] <= s["J_before"]
    lam = sel.lam if sel.postprocessed else sel.table["lam"][1]
    kw = dict(lam=lam, beta=1e-3, loss="cross_entropy")
    assert objective(module.model, X[:40], y[:40], **kw).value <= \
        objective(before, X[:40], y[:40], **kw).value * (1 + 1e-9)


def test_callback_select_three_output_regression_explicit_validation(tmp_path):
    """select= with k = 3 (squared loss) and explicit X_val/y_val: the choice is made on the
    validation ‖F − Y‖² data term and J at the chosen λ never rises."""
    X, Y = regression3(n=40)
    module = ShallowReLURegressor(2, hidden=6, out_features=3, lr=2e-2, beta=1e-3,
                                  dtype="float64")
    cb = ConvexPostProcessing(beta=1e-3, max_iter=2, verbose=False, X_val=X[30:], y_val=Y[30:],
                              select={"lams": [1e-2], "criterion": "clean"})
    trainer, before = _fit(tmp_path, module, cb, X[:30], Y[:30], X[30:], Y[30:])
    sel = cb.selection
    with torch.no_grad():
        val = [float(((net(X[30:]) - Y[30:]) ** 2).sum(dim=1).mean()) for net in sel.models]
    assert sel.index == min(range(len(val)), key=val.__getitem__)
    assert cb.summary["J_after"] <= cb.summary["J_before"]
