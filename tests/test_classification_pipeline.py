"""λ chosen on held-out data, and the pipeline `fit`, for classifiers and k-output regressors
(issue 29): the table's accuracies are ordered, the choice follows the criterion, every convex
step keeps its guarantee."""

import math

import pytest
import torch

import torch_lipcvx as tl
from torch_lipcvx.algorithm1.select import select_lam, validation_split
from torch_lipcvx.metrics import accuracy


def _blobs(n=120, d=3, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g, dtype=torch.float64) * 2.5
    y = torch.randint(0, k, (n,), generator=g)
    X = centres[y] + torch.randn(n, d, generator=g, dtype=torch.float64)
    return X, y


@pytest.fixture(scope="module")
def classifier():
    X, y = _blobs()
    net = tl.train_sgd(None, X, y, hidden=8, epochs=60, lr=1e-2, seed=0,
                       loss="cross_entropy").model
    return net, X, y


def test_select_lam_scores_classifiers_on_accuracy(classifier):
    net, X, y = classifier
    Xf, yf, Xv, yv = validation_split(X, y, 0.25, seed=0)
    assert yf.dtype == torch.int64                       # labels keep their dtype
    sel = select_lam(net, Xf, yf, Xv, yv, lams=[1e-3, 1e-1], eps=0.5, loss="cross_entropy",
                     max_iter=2, attack_steps=5)
    t = sel.table
    for i in range(len(t["lam"])):
        assert t["val_cert_acc"][i] <= t["val_robust_acc"][i] <= t["val_acc"][i]
        assert t["objective"][i] <= t["objective_start"][i]
        assert math.isnan(t["val_mse"][i])
        assert t["score"][i] == pytest.approx(1 - t["val_robust_acc"][i])
    assert sel.index == min(range(len(t["lam"])), key=lambda i: (t["score"][i], i))
    assert sel.model.out_features == 3
    assert "val_robust_acc" in repr(sel)
    clean = select_lam(net, Xf, yf, Xv, yv, lams=[1e-3], criterion="clean", eps=0.5,
                       loss="cross_entropy", max_iter=1, attack_steps=5)
    assert clean.table["score"][0] == pytest.approx(1 - clean.table["val_acc"][0])


def test_fit_trains_and_chooses_a_classifier(tmp_path):
    X, y = _blobs(n=100, seed=1)
    res = tl.fit(X, y, loss="cross_entropy", hidden=8, epochs=40, lams=[1e-2, 1e-1], eps=0.5,
                 attack_steps=5, progress=False)
    assert res.model.out_features == 3 and math.isfinite(res.L)
    s = res.summary()
    assert {"val_acc", "val_robust_acc", "val_cert_acc"} <= set(s) and s["loss"] == "cross_entropy"
    assert float(accuracy(res.model, X, y)) > 0.5
    # the refit keeps the guarantee on all rows
    J = [h.objective for h in res.refit.history]
    assert all(b <= a for a, b in zip(J, J[1:]))
    assert res.plot(tmp_path / "sel.png").is_file()


def test_fit_with_the_logistic_loss_and_bad_labels():
    X, y = _blobs(n=80, k=2, seed=2)
    res = tl.fit(X, y, loss="logistic", hidden=6, epochs=30, lams=[1e-2], eps=0.3,
                 attack_steps=3, refit=False, progress=False)
    assert res.model.out_features == 1
    with pytest.raises(ValueError, match=r"labels in \{0, 1\}"):
        tl.fit(X, y + 1, loss="logistic", hidden=4, epochs=5, progress=False)


def test_select_lam_for_a_k_output_regressor_uses_the_summed_squared_error():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(80, 2, generator=g, dtype=torch.float64)
    Y = torch.stack([X[:, 0] ** 2, torch.sin(X[:, 1]), X.sum(1)], 1)
    net = tl.train_sgd(None, X, Y, hidden=8, epochs=40, seed=0).model
    assert net.out_features == 3
    Xf, yf, Xv, yv = validation_split(X, Y, 0.25, seed=0)
    sel = select_lam(net, Xf, yf, Xv, yv, lams=[1e-2], eps=0.0, criterion="clean", max_iter=1)
    with torch.no_grad():
        mse = float(((net(Xv) - yv) ** 2).sum(1).mean())
    assert sel.table["val_mse"][0] == pytest.approx(mse, rel=1e-12)
