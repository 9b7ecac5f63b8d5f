"""The loss protocol (torch_lipcvx.losses): derivatives against autograd, cvxpy against torch,
targets checked in the user's terms."""

import math

import numpy as np
import pytest
import torch

from torch_lipcvx.losses import (BinaryLogistic, Huber, SoftmaxCrossEntropy, SquaredError,
                                 get_loss)

CASES = [("squared", 1), ("squared", 3), ("huber", 1), ("huber", 2), ("logistic", 1),
         ("cross_entropy", 2), ("cross_entropy", 5)]


def _data(name, k, n=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    F = torch.randn(n, k, generator=g, dtype=torch.float64) * 2
    loss = get_loss(name)
    if name == "logistic":
        y = torch.randint(0, 2, (n,), generator=g)
    elif name == "cross_entropy":
        y = torch.randint(0, k, (n,), generator=g)
    else:
        y = torch.randn(n, k, generator=g, dtype=torch.float64) if k > 1 else \
            torch.randn(n, generator=g, dtype=torch.float64)
    return loss, F, loss.targets(y, n, k)


@pytest.mark.parametrize("name, k", CASES)
def test_gradient_and_hessian_match_autograd(name, k):
    loss, F, y = _data(name, k)
    Fg = F.clone().requires_grad_(True)
    total = loss.value(Fg, y).sum()
    (g,) = torch.autograd.grad(total, Fg, create_graph=True)
    torch.testing.assert_close(loss.gradient(F, y), g.detach(), rtol=1e-10, atol=1e-12)
    V = torch.randn_like(F)
    (hv,) = torch.autograd.grad((g * V).sum(), Fg)
    torch.testing.assert_close(loss.hessian_action(F, y, V), hv, rtol=1e-10, atol=1e-12)
    H = loss.hessian(F, y)
    assert H.shape == (F.shape[0], k, k)
    torch.testing.assert_close(torch.einsum("nij,nj->ni", H, V), hv, rtol=1e-10, atol=1e-12)
    # convex: every per-sample Hessian is positive semidefinite
    assert bool((torch.linalg.eigvalsh(H) >= -1e-12).all())


@pytest.mark.parametrize("name, k", CASES)
def test_cvxpy_expression_equals_the_torch_value(name, k):
    cp = pytest.importorskip("cvxpy")
    loss, F, y = _data(name, k)
    Fv = cp.Variable(F.shape)
    Fv.value = F.numpy()
    expr = loss.cvxpy(Fv, y.numpy())
    assert expr.is_convex()
    assert math.isclose(float(expr.value), float(loss.value(F, y).sum()), rel_tol=1e-10)


def test_squared_and_huber_agree_on_small_residuals_and_huber_is_linear_beyond():
    F = torch.tensor([[0.2], [3.0]], dtype=torch.float64)
    y = torch.zeros(2, dtype=torch.float64)
    sq, hub = SquaredError().value(F, y), Huber(1.0).value(F, y)
    assert float(sq[0]) == pytest.approx(float(hub[0]))
    assert float(hub[1]) == pytest.approx(2 * 3.0 - 1.0)


def test_logistic_accepts_pm1_labels_and_cross_entropy_matches_torch():
    loss = BinaryLogistic()
    assert torch.equal(loss.targets(torch.tensor([-1, 1, 1]), 3, 1), torch.tensor([0, 1, 1]))
    F = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 2, 1, 1, 0])
    torch.testing.assert_close(SoftmaxCrossEntropy().value(F, y),
                               torch.nn.functional.cross_entropy(F, y, reduction="none"))
    f = torch.randn(5, dtype=torch.float64)
    yb = torch.tensor([0, 1, 1, 0, 1])
    torch.testing.assert_close(
        loss.value(f, yb),
        torch.nn.functional.binary_cross_entropy_with_logits(f, yb.double(), reduction="none"))


@pytest.mark.parametrize("name, y, k, match", [
    ("cross_entropy", [0, 1, 3], 3, r"labels must lie in \[0, 3\)"),
    ("cross_entropy", [0.5, 1.0, 2.0], 3, "integer class labels"),
    ("cross_entropy", [0, 1, 1], 1, "k >= 2 outputs"),
    ("logistic", [0, 1, 2], 1, r"labels in \{0, 1\}"),
    ("logistic", [0, 1, 1], 3, "one output"),
    ("squared", [[1.0, 2.0]] * 3, 3, r"shape \(3, 3\)"),
    ("squared", [1.0, float("nan"), 0.0], 1, "NaN"),
])
def test_bad_targets_are_named(name, y, k, match):
    with pytest.raises(ValueError, match=match):
        get_loss(name).targets(torch.tensor(y), 3, k)


def test_get_loss_names_aliases_and_errors():
    assert isinstance(get_loss(None), SquaredError)
    assert isinstance(get_loss("MSE"), SquaredError)
    assert isinstance(get_loss("ce"), SoftmaxCrossEntropy)
    assert isinstance(get_loss("bce"), BinaryLogistic)
    h = Huber(0.3)
    assert get_loss(h) is h
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("hinge")
    with pytest.raises(TypeError, match="got int"):
        get_loss(3)
    with pytest.raises(ValueError, match="delta"):
        Huber(0.0)
    assert Huber(0.5) == Huber(0.5) and Huber(0.5) != Huber(1.0)
    assert np.isfinite(hash(Huber(0.5)))
