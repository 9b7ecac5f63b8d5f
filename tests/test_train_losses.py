"""The training baselines with every loss and k >= 1 outputs (train_sgd, train_pgd, SGD-lip)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch_lipcvx.bounds import lipsdp
from torch_lipcvx.layers import lipschitz_penalty, vector_certificate
from torch_lipcvx.losses import Huber, get_loss
from torch_lipcvx.models import ShallowReLU, ShallowWeights
from torch_lipcvx.train import train_pgd, train_sgd, train_sgd_lip

DTYPE = torch.float64
N, D = 60, 3


def _data(seed: int = 0):
    """Inputs and four kinds of targets derived from them (float64)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(N, D, generator=g, dtype=DTYPE) * 2 - 1
    Y3 = torch.stack([torch.sin(3 * X[:, 0]), X[:, 1] * X[:, 2], X.sum(1)], 1)
    y1 = torch.sin(3 * X[:, 0]) + 0.1 * torch.randn(N, generator=g, dtype=DTYPE)
    binary = (X[:, 0] + X[:, 1] > 0).long()
    classes = (X[:, 0] > 0).long() + 2 * (X[:, 1] > 0).long()            # 4 classes
    return X, {"squared": Y3, "huber": y1, "logistic": binary, "cross_entropy": classes}


def _mean_loss(model, X, y, loss) -> float:
    loss = get_loss(loss)
    with torch.no_grad():
        return float(loss.value(model(X), loss.targets(y, X.shape[0], model.out_features)).mean())


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------- train_sgd
@pytest.mark.parametrize("loss,k", [("squared", 3), ("huber", 1), ("logistic", 1),
                                    ("cross_entropy", 4)])
def test_sgd_lowers_each_loss_and_leaves_the_input_model_alone(loss, k):
    X, ys = _data()
    y = ys[loss]
    start = ShallowReLU(D, 12, k, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
    before = start.state_dict()
    before = {key: v.clone() for key, v in before.items()}
    res = train_sgd(start, X, y, epochs=60, lr=2e-2, loss=loss, seed=0)
    assert all(torch.equal(start.state_dict()[key], v) for key, v in before.items())
    assert res.model is not start and res.model.out_features == k
    first, last = _mean_loss(start, X, y, loss), _mean_loss(res.model, X, y, loss)
    assert last < 0.5 * first
    key = "mse" if loss == "squared" else "loss_data"
    assert res.history[-1][key] == pytest.approx(last, rel=1e-12)
    if loss in ("logistic", "cross_entropy"):
        with torch.no_grad():
            out = res.model(X)
        pred = (out > 0).long() if k == 1 else out.argmax(1)
        assert res.history[-1]["accuracy"] == pytest.approx(float((pred == y).double().mean()))
        assert res.history[-1]["accuracy"] > 0.8
    else:
        assert "accuracy" not in res.history[-1]


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_sgd_is_reproducible_and_infers_the_outputs(loss):
    X, ys = _data()
    kw = dict(hidden=6, epochs=5, lr=1e-2, loss=loss, seed=4, batch_size=16)
    a, b = train_sgd(None, X, ys[loss], **kw), train_sgd(None, X, ys[loss], **kw)
    assert _same(a.model, b.model) and a.history == b.history
    assert a.model.out_features == {"squared": 3, "logistic": 1, "cross_entropy": 4}[loss]
    assert a.model.dtype == DTYPE
    c = train_sgd(None, X, ys[loss], **{**kw, "seed": 5})
    assert not _same(a.model, c.model)


def test_inferred_outputs_for_classes_and_explicit_out_features():
    X, ys = _data()
    # labels 0..2 only: three classes; one class only: still two logits
    assert train_sgd(None, X, ys["cross_entropy"].clamp(max=2), hidden=4, epochs=1,
                     loss="ce").model.out_features == 3
    assert train_sgd(None, X, torch.zeros(N, dtype=torch.long), hidden=4, epochs=1,
                     loss="ce").model.out_features == 2
    # more logits than the labels need, when asked for
    assert train_sgd(None, X, ys["cross_entropy"], hidden=4, epochs=1, loss="ce",
                     out_features=6).model.out_features == 6
    # Huber with 2-D targets: one output per column; (n, 1) is one output
    assert train_sgd(None, X, ys["squared"], hidden=4, epochs=1,
                     loss=Huber(0.5)).model.out_features == 3
    assert train_sgd(None, X, ys["huber"][:, None], hidden=4, epochs=1,
                     loss="huber").model.out_features == 1
    # ±1 labels for the logistic loss are 0/1 labels
    pm = 2.0 * ys["logistic"] - 1
    a = train_sgd(None, X, pm, hidden=4, epochs=3, loss="logistic")
    b = train_sgd(None, X, ys["logistic"], hidden=4, epochs=3, loss="logistic")
    assert _same(a.model, b.model)


def test_default_path_equals_explicit_squared_loss_bit_for_bit():
    X, ys = _data()
    a = train_sgd(None, X, ys["huber"], hidden=5, epochs=4, seed=2)
    b = train_sgd(None, X, ys["huber"], hidden=5, epochs=4, seed=2, loss="squared")
    assert _same(a.model, b.model) and a.history == b.history
    assert set(a.history[0]) == {"epoch", "loss", "mse"}


@pytest.mark.parametrize("loss,y_of,kw,match", [
    ("cross_entropy", lambda ys: ys["cross_entropy"], {"out_features": 3},
     r"class labels must lie in \[0, 3\)"),
    ("cross_entropy", lambda ys: ys["cross_entropy"] + 0.5, {},
     r"y must hold integer class labels"),
    ("cross_entropy", lambda ys: ys["cross_entropy"] - 1, {},
     r"class labels must be integers >= 0"),
    ("logistic", lambda ys: ys["logistic"], {"out_features": 3},
     r"logistic loss needs a network with one output"),
    ("logistic", lambda ys: ys["cross_entropy"], {}, r"labels in \{0, 1\}"),
    ("cross_entropy", lambda ys: ys["cross_entropy"], {"out_features": 1},
     r"cross-entropy loss needs a network with k >= 2 outputs"),
    ("squared", lambda ys: ys["squared"], {"out_features": 2}, r"y must have shape \(60, 2\)"),
    ("hinge", lambda ys: ys["huber"], {}, r"loss must be one of"),
    ("squared", lambda ys: ys["huber"], {"out_features": 0}, r"out_features must be an integer"),
])
def test_bad_targets_raise_before_training(loss, y_of, kw, match, monkeypatch):
    import torch_lipcvx.train as train_module

    def no_training(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(train_module, "_fit", no_training)
    monkeypatch.setattr(train_module, "_sgd_lip_epochs", no_training)
    X, ys = _data()
    for fn, extra in ((train_sgd, {}), (train_pgd, {"eps": 0.1}), (train_sgd_lip, {"lam": 0.1})):
        with pytest.raises(ValueError, match=match):
            fn(None, X, y_of(ys), hidden=4, epochs=1, loss=loss, **kw, **extra)


def test_a_given_model_fixes_k():
    X, ys = _data()
    net = ShallowReLU(D, 5, 4, dtype=DTYPE)
    with pytest.raises(ValueError, match="out_features = 3 does not match the model"):
        train_sgd(net, X, ys["cross_entropy"], loss="ce", out_features=3, epochs=1)
    with pytest.raises(ValueError, match="logistic loss needs a network with one output"):
        train_sgd(net, X, ys["logistic"], loss="logistic", epochs=1)
    # an nn.Sequential classifier is accepted (and copied)
    seq = net.to_sequential()
    res = train_sgd(seq, X, ys["cross_entropy"], loss="ce", epochs=2)
    assert res.model.out_features == 4 and _same(ShallowReLU.from_sequential(seq), net)


# ---------------------------------------------------------------------------- train_pgd
def test_pgd_with_cross_entropy_reports_clean_and_adversarial_accuracy():
    X, ys = _data()
    y = ys["cross_entropy"]
    res = train_pgd(None, X, y, eps=0.05, hidden=12, epochs=40, lr=2e-2, loss="ce",
                    attack_steps=3, seed=0)
    last = res.history[-1]
    assert {"loss", "loss_data", "accuracy", "adv_loss", "adv_accuracy"} <= set(last)
    with torch.no_grad():
        acc = float((res.model(X).argmax(1) == y).double().mean())
    assert last["accuracy"] == pytest.approx(acc)
    assert last["accuracy"] > 0.7
    # the attack makes the training loss larger than the clean one at the same weights
    assert res.history[0]["adv_loss"] >= res.history[0]["loss_data"] - 0.05
    # eps = 0 is plain training, bit for bit
    z = train_pgd(None, X, y, eps=0.0, hidden=6, epochs=4, loss="ce", attack_steps=2, seed=1)
    s = train_sgd(None, X, y, hidden=6, epochs=4, loss="ce", seed=1)
    assert _same(z.model, s.model)


@pytest.mark.parametrize("loss,k", [("logistic", 1), ("squared", 3), ("huber", 1)])
def test_pgd_runs_for_the_other_losses(loss, k):
    X, ys = _data()
    res = train_pgd(None, X, ys[loss], eps=0.05, hidden=8, epochs=6, lr=2e-2, loss=loss,
                    attack_steps=3, seed=0)
    assert res.model.out_features == k
    key = "adv_mse" if loss == "squared" else "adv_loss"
    assert all(h[key] >= 0 for h in res.history)
    # the inner attack is active: eps > 0 trains other weights than eps = 0 (plain training)
    clean = train_pgd(None, X, ys[loss], eps=0.0, hidden=8, epochs=6, lr=2e-2, loss=loss,
                      attack_steps=3, seed=0)
    assert not _same(res.model, clean.model)
    assert _same(clean.model, train_sgd(None, X, ys[loss], hidden=8, epochs=6, lr=2e-2,
                                        loss=loss, seed=0).model)


# ---------------------------------------------------------------------------- SGD-lip, k >= 2
def test_vector_certificate_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(6, 3, generator=g, dtype=DTYPE).requires_grad_(True)
    A = torch.randn(6, 3, generator=g, dtype=DTYPE).requires_grad_(True)
    rho, res = vector_certificate(W, A)
    assert float(rho.detach()) == res.rho
    rho.backward()

    def certified(Wv, Av):
        return lipsdp(ShallowWeights(Wv, torch.zeros(6, dtype=DTYPE), Av, None)).rho

    h = 1e-5
    for which, idx in (("W", (2, 1)), ("A", (4, 0))):
        plus, minus = [W.detach().clone(), A.detach().clone()], [W.detach().clone(),
                                                                  A.detach().clone()]
        i = 0 if which == "W" else 1
        plus[i][idx] += h
        minus[i][idx] -= h
        fd = (certified(*plus) - certified(*minus)) / (2 * h)
        grad = (W.grad if which == "W" else A.grad)[idx]
        assert float(grad) == pytest.approx(fd, rel=1e-4, abs=1e-6 * res.rho)


def test_lipschitz_penalty_takes_k_outputs():
    net = ShallowReLU(D, 5, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(2))
    rho = lipschitz_penalty(net)
    assert float(rho.detach()) == pytest.approx(lipsdp(net.weights()).rho, rel=1e-9)
    rho.backward()
    assert net.hidden.weight.grad is not None and net.output.weight.grad is not None
    assert float(net.output.weight.grad.abs().sum()) > 0


def test_sgd_lip_with_three_outputs_lowers_the_certified_L():
    X, ys = _data()
    y = ys["squared"]
    kw = dict(hidden=8, epochs=12, lr=3e-2, seed=0)
    lip = train_sgd_lip(None, X, y, lam=0.5, **kw)
    plain = train_sgd(None, X, y, **kw)
    assert lip.model.out_features == 3
    rho_lip, rho_plain = lipsdp(lip.model.weights()).rho, lipsdp(plain.model.weights()).rho
    assert rho_lip < 0.8 * rho_plain
    # the history describes the returned model: its certified rho and its data term
    assert lip.history[-1]["rho"] == pytest.approx(rho_lip, rel=1e-6)
    assert lip.history[-1]["mse"] == pytest.approx(_mean_loss(lip.model, X, y, "squared"),
                                                   rel=1e-12)
    # λ = 0: the same Adam steps as train_sgd, bit for bit (rho is still recorded)
    zero = train_sgd_lip(None, X, y, lam=0.0, **{**kw, "epochs": 3})
    same = train_sgd(None, X, y, **{**kw, "epochs": 3})
    assert _same(zero.model, same.model) and zero.history[-1]["rho"] > 0


def test_sgd_lip_with_cross_entropy_records_accuracy_and_refuses_a_layer():
    X, ys = _data()
    y = ys["cross_entropy"]
    res = train_sgd_lip(None, X, y, lam=0.01, hidden=6, epochs=4, lr=2e-2, loss="ce", seed=0)
    assert res.model.out_features == 4
    assert {"loss", "loss_data", "accuracy", "rho"} <= set(res.history[-1])
    from torch_lipcvx.layers import LipSDPLayer
    with pytest.raises(ValueError, match="LipSDPLayer certifies networks with one output"):
        train_sgd_lip(None, X, y, lam=0.01, hidden=6, epochs=1, loss="ce",
                      layer=LipSDPLayer(6, D))
