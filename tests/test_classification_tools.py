"""Classification attacks, certified radii and accuracy metrics (docs/attacks.md §4).

The networks are tiny ``Linear → ReLU → Linear`` stacks in float64 (any ``nn.Module`` returning
logits works); the Lipschitz bounds used for the certificates are honest products of layer norms:
``‖W₂‖₂‖W₁‖₂`` for ℓ2 and ``‖W₂‖∞‖W₁‖∞`` (largest absolute row sums) for ℓ∞ → ℓ∞.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from torch_lipcvx.attacks import (ClassificationAttackResult, certified_radius,
                                  classification_margin, pgd_classification)
from torch_lipcvx.metrics import (CertifiedAccuracy, RobustAccuracy, accuracy,
                                  certified_accuracy, certified_lipschitz, robust_accuracy)
from torch_lipcvx.models import ShallowReLU

DTYPE = torch.float64
NORMS = [2, math.inf]
KS = [1, 3]


class Squeeze(nn.Module):
    """Wrap a one-output network so that it returns ``(n,)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).squeeze(-1)


def tiny_net(k: int, d: int = 2, m: int = 8, seed: int = 0) -> nn.Module:
    """A seeded ``Linear(d, m) → ReLU → Linear(m, k)`` in float64 (``(n,)`` output for k = 1),
    with larger weights than the default init and each logit centred on standard normal
    inputs, so that the decision boundaries run through the data."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, k)).to(DTYPE)
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
        ref = torch.randn(500, d, dtype=DTYPE)
        net[2].bias.sub_(net(ref).median(dim=0).values)
    return Squeeze(net) if k == 1 else net


def layers(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    seq = net.net if isinstance(net, Squeeze) else net
    return seq[0].weight.detach(), seq[2].weight.detach()


def lipschitz_bound(net: nn.Module, norm: float) -> float:
    """A valid Lipschitz upper bound of the whole output map for ``norm`` (ℓ∞: ℓ∞ → ℓ∞)."""
    W1, W2 = layers(net)
    if norm == 2:
        return float(torch.linalg.matrix_norm(W2, 2) * torch.linalg.matrix_norm(W1, 2))
    return float(W2.abs().sum(dim=1).max() * W1.abs().sum(dim=1).max())


def labelled_data(net: nn.Module, k: int, n: int = 60, d: int = 2, seed: int = 1,
                  flip: float = 0.2):
    """Points ``X (n, d)`` labelled by the net's own prediction, with a fraction ``flip``
    relabelled to another class (so that some points are misclassified)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DTYPE)
    with torch.no_grad():
        out = net(X)
    y = (out > 0).long() if k == 1 else out.argmax(dim=1)
    flipped = torch.rand(n, generator=g) < flip
    shift = torch.randint(1, max(k, 2), (n,), generator=g)
    y = torch.where(flipped, (y + shift) % max(k, 2), y)
    return X, y


def margins_at(net: nn.Module, Z: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Margins at the points ``Z`` (any leading shape ``(..., d)``) for labels ``y`` (broadcast
    over the leading dimension of ``Z``), computed directly."""
    with torch.no_grad():
        out = net(Z)
    if k == 1:
        return torch.where(y == 1, out, -out)
    own = out.gather(-1, y[..., None].expand(*out.shape[:-1], 1))[..., 0]
    others = out.scatter(-1, y[..., None].expand(*out.shape[:-1], 1), -math.inf).amax(dim=-1)
    return own - others


def ball_grid(eps: float, norm: float, d: int = 2) -> torch.Tensor:
    """A dense set of offsets in the closed ball of radius ``eps`` (d = 2): a 41 × 41 grid of the
    square for ℓ∞; 20 radii × 72 angles (and the centre) for the disc."""
    if math.isinf(norm):
        t = torch.linspace(-eps, eps, 41, dtype=DTYPE)
        return torch.cartesian_prod(t, t)
    r = torch.linspace(0, eps, 21, dtype=DTYPE)[1:]
    a = torch.linspace(0, 2 * math.pi, 73, dtype=DTYPE)[:-1]
    pts = torch.stack([torch.outer(r, a.cos()).flatten(), torch.outer(r, a.sin()).flatten()], 1)
    return torch.cat([torch.zeros(1, 2, dtype=DTYPE), pts])


def delta_norms(res: ClassificationAttackResult, X: torch.Tensor, norm: float) -> torch.Tensor:
    delta = res.X_adv - X
    return delta.abs().amax(dim=1) if math.isinf(norm) else delta.norm(dim=1)


# ---------------------------------------------------------------------------- PGD
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_pgd_keeps_the_smallest_margin_inside_the_ball(k, norm, loss):
    net = tiny_net(k)
    X, y = labelled_data(net, k)
    eps = 0.3
    res = pgd_classification(net, X, y, eps, norm, steps=10, restarts=2, loss=loss,
                             generator=torch.Generator().manual_seed(0))
    assert res.X_adv.shape == X.shape and res.margin.shape == (X.shape[0],)
    assert torch.equal(res.clean_margin, classification_margin(net, X, y))
    assert bool((res.margin <= res.clean_margin).all())
    assert bool((delta_norms(res, X, norm) <= eps).all())
    # the reported margin is the margin at the returned point
    assert torch.allclose(res.margin, margins_at(net, res.X_adv, y, k), rtol=0, atol=1e-12)
    assert torch.equal(res.correct, res.margin > 0)
    assert float(res.robust_accuracy) <= float(res.clean_accuracy)
    assert float(res.robust_accuracy) < float(res.clean_accuracy)     # the attack does something
    assert "robust_accuracy" in repr(res)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("norm", NORMS)
def test_eps_zero_is_the_clean_accuracy(k, norm):
    net = tiny_net(k)
    X, y = labelled_data(net, k)
    res = pgd_classification(net, X, y, 0.0, norm)
    assert torch.equal(res.X_adv, X) and torch.equal(res.margin, res.clean_margin)
    clean = accuracy(net, X, y)
    assert 0 < float(clean) < 1
    assert float(robust_accuracy(net, X, y, 0.0, norm)) == float(clean)
    L = lipschitz_bound(net, norm)
    assert float(certified_accuracy(net, X, y, 0.0, lipschitz=L, norm=norm)) == float(clean)
    assert float(clean) == float((classification_margin(net, X, y) > 0).float().mean())


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_linear_binary_classifier_pgd_is_exact_and_matches_the_certificate(norm, loss):
    """For f(x) = wᵀx + b the worst margin in the ball is s·f(x) − eps·‖w‖_q (q the dual norm),
    PGD reaches it, and the certificate with L = ‖w‖_q is exact: certified = robust."""
    torch.manual_seed(3)
    net = nn.Linear(4, 1).to(DTYPE)                 # (n, 1) output: a binary classifier
    g = torch.Generator().manual_seed(4)
    X = torch.randn(200, 4, generator=g, dtype=DTYPE)
    y = (torch.rand(200, generator=g) < 0.5).long()
    w = net.weight.detach()[0]
    L = float(w.abs().sum()) if math.isinf(norm) else float(w.norm())
    eps = 0.25
    res = pgd_classification(net, X, y, eps, norm, steps=10, loss=loss,
                             generator=torch.Generator().manual_seed(0))
    exact = res.clean_margin - eps * L
    assert bool((res.margin >= exact - 1e-12).all())     # never below the true worst case
    assert torch.allclose(res.margin, exact, rtol=0, atol=1e-6)
    robust = float(res.robust_accuracy)
    assert 0 < robust < float(res.clean_accuracy)
    assert float(certified_accuracy(net, X, y, eps, lipschitz=L, norm=norm)) == robust
    radius = certified_radius(net, X, y, L, norm)
    assert torch.allclose(radius, (res.clean_margin / L).clamp_min(0), rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- certificates
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("norm", NORMS)
def test_certified_points_never_change_class_brute_force(k, norm):
    """Soundness on d = 2: around every point certified at eps, a dense grid of the ℓ2 disc /
    ℓ∞ square of radius eps keeps the class, and PGD finds no adversarial example."""
    net = tiny_net(k, seed=10 + k)
    X, y = labelled_data(net, k, n=80, seed=2)
    L = lipschitz_bound(net, norm)
    radius = certified_radius(net, X, y, L, norm)
    assert radius.shape == (80,) and radius.dtype == torch.float64
    margin = classification_margin(net, X, y)
    assert bool((radius[margin <= 0] == 0).all())
    factor = 1.0 if k == 1 else (2.0 if math.isinf(norm) else math.sqrt(2.0))
    assert torch.allclose(radius, margin.clamp_min(0) / (factor * L), rtol=1e-12, atol=0)

    eps = float(radius[radius > 0].median())
    certified = radius > eps
    assert int(certified.sum()) >= 5
    offsets = ball_grid(eps, norm)
    Z = X[certified][:, None, :] + offsets[None]                  # (c, g, 2)
    m = margins_at(net, Z, y[certified][:, None].expand(-1, offsets.shape[0]), k)
    assert bool((m > 0).all())

    res = pgd_classification(net, X, y, eps, norm, steps=20, restarts=3, loss="margin",
                             generator=torch.Generator().manual_seed(1))
    assert bool(res.correct[certified].all())
    cert = float(certified_accuracy(net, X, y, eps, lipschitz=L, norm=norm))
    assert cert == pytest.approx(float(certified.double().mean()), abs=1e-6)
    assert cert <= float(res.robust_accuracy) <= float(accuracy(net, X, y))


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("norm", NORMS)
def test_pgd_finds_what_brute_force_finds(k, norm):
    """On d = 2 a dense grid of the ball finds the adversarial points; PGD with the margin loss
    and three restarts finds almost all of them."""
    net = tiny_net(k, seed=20 + k)
    X, y = labelled_data(net, k, n=60, seed=3, flip=0.0)
    eps = 0.3
    offsets = ball_grid(eps, norm)
    m = margins_at(net, X[:, None, :] + offsets[None], y[:, None].expand(-1, offsets.shape[0]), k)
    grid_broken = (m <= 0).any(dim=1)
    res = pgd_classification(net, X, y, eps, norm, steps=20, restarts=3, loss="margin",
                             generator=torch.Generator().manual_seed(2))
    assert int(grid_broken.sum()) >= 5
    found = (~res.correct)[grid_broken].double().mean()
    assert float(found) >= 0.9


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("norm", NORMS)
def test_accuracies_are_ordered_across_eps(k, norm):
    net = tiny_net(k, seed=5)
    X, y = labelled_data(net, k, seed=5)
    L = lipschitz_bound(net, norm)
    clean = float(accuracy(net, X, y))
    previous = (1.0, 1.0)
    for eps in (0.0, 0.05, 0.2, 0.5):
        rob = float(robust_accuracy(net, X, y, eps, norm, steps=15, restarts=2, loss="margin",
                                    generator=torch.Generator().manual_seed(0)))
        cert = float(certified_accuracy(net, X, y, eps, lipschitz=L, norm=norm))
        assert cert <= rob <= clean
        assert cert <= previous[0]                     # certified accuracy falls with eps
        previous = (cert, rob)


def test_zero_lipschitz_certifies_every_correct_point():
    net = tiny_net(3)
    X, y = labelled_data(net, 3)
    radius = certified_radius(net, X, y, 0.0, 2)
    margin = classification_margin(net, X, y)
    assert bool(torch.isinf(radius[margin > 0]).all()) and bool((radius[margin <= 0] == 0).all())
    assert float(certified_accuracy(net, X, y, 10.0, lipschitz=0.0)) == float(accuracy(net, X, y))


def test_certified_lipschitz_default_for_a_shallow_relu():
    """lipschitz=None computes the library's certificate (here a scalar-output ShallowReLU)."""
    net = ShallowReLU(2, 6, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(0))
    X, y = labelled_data(net, 1, n=40)
    L = certified_lipschitz(net, 2)
    assert L <= lipschitz_bound_shallow(net) * (1 + 1e-9)
    eps = 0.05
    want = certified_accuracy(net, X, y, eps, lipschitz=L)
    assert float(certified_accuracy(net, X, y, eps)) == float(want)
    metric = CertifiedAccuracy(eps)
    metric.update(net, X[:20], y[:20])
    metric.update(net, X[20:], y[20:])
    assert float(metric.compute()) == float(want) and metric.lipschitz_used == L


def lipschitz_bound_shallow(net: ShallowReLU) -> float:
    return float(torch.linalg.matrix_norm(net.hidden.weight.detach(), 2)
                 * net.output.weight.detach().norm())


# ---------------------------------------------------------------------------- labels and models
def test_binary_labels_pm1_and_column_output_agree():
    net = tiny_net(1)
    X, y = labelled_data(net, 1)
    pm = (2 * y - 1).double()                                  # ±1 floats
    assert torch.equal(classification_margin(net, X, y), classification_margin(net, X, pm))
    column = nn.Sequential(*net.net)                           # returns (n, 1)
    assert torch.equal(classification_margin(column, X, y), classification_margin(net, X, y))
    a = pgd_classification(net, X, y, 0.2, generator=torch.Generator().manual_seed(0))
    b = pgd_classification(column, X, pm[:, None], 0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.margin, b.margin)


def test_model_untouched_modes_restored_no_grad():
    net = tiny_net(3)
    net.train()
    net[1].eval()
    X, y = labelled_data(net, 3)
    before = [p.detach().clone() for p in net.parameters()]
    pgd_classification(net, X, y, 0.2, steps=5)
    assert net.training and not net[1].training and net[0].training
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


def test_works_under_inference_mode():
    net = tiny_net(3)
    X, y = labelled_data(net, 3)
    want = robust_accuracy(net, X, y, 0.3, random_start=False)
    with torch.inference_mode():
        got = robust_accuracy(net, X, y, 0.3, random_start=False)
        metric = RobustAccuracy(0.3, random_start=False)
        metric.update(net, X, y)
        radius = certified_radius(net, X, y, 1.0)
    assert float(got) == float(want) and float(metric.compute()) == float(want)
    assert radius.shape == (X.shape[0],)


def test_float32_model_with_float64_data():
    net = tiny_net(3).float()
    X, y = labelled_data(net.double(), 3)
    net = net.float()
    res = pgd_classification(net, X, y, 0.2, math.inf, steps=5)
    assert res.X_adv.dtype == torch.float32
    assert bool(((res.X_adv.double() - X.float().double()).abs().amax(dim=1) <= 0.2).all())


@pytest.mark.parametrize("k, y, match", [
    (3, lambda y: y.double(), "integer class indices"),
    (3, lambda y: torch.where(y == 0, 3, y), r"\[0, 3\)"),
    (3, lambda y: torch.where(y == 0, -1, y), r"\[0, 3\)"),
    (3, lambda y: y[:-1], "one class label per row"),
    (3, lambda y: torch.stack([y, y], 1), "one class label per row"),
    (1, lambda y: y + 1, "binary labels"),
    (1, lambda y: torch.where(y == 1, 1, -1).index_put((torch.tensor([0]),), torch.tensor(0)),
     "ambiguous"),
    (1, lambda y: y.double() * 0.5, "binary labels"),
])
def test_bad_labels_raise(k, y, match):
    net = tiny_net(k)
    X, y0 = labelled_data(net, k)
    bad = y(y0)
    for call in (lambda: pgd_classification(net, X, bad, 0.1),
                 lambda: certified_radius(net, X, bad, 1.0),
                 lambda: accuracy(net, X, bad),
                 lambda: certified_accuracy(net, X, bad, 0.1, lipschitz=1.0)):
        with pytest.raises(ValueError, match=match):
            call()


def test_bad_arguments_raise():
    net = tiny_net(3)
    X, y = labelled_data(net, 3)
    with pytest.raises(ValueError, match="eps"):
        pgd_classification(net, X, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        certified_accuracy(net, X, y, math.nan, lipschitz=1.0)
    with pytest.raises(ValueError, match="norm"):
        pgd_classification(net, X, y, 0.1, norm=1)
    with pytest.raises(ValueError, match="norm"):
        certified_radius(net, X, y, 1.0, norm=3)
    with pytest.raises(ValueError, match="loss"):
        pgd_classification(net, X, y, 0.1, loss="hinge")
    for L in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="lipschitz"):
            certified_radius(net, X, y, L)
        with pytest.raises(ValueError, match="lipschitz"):
            CertifiedAccuracy(0.1, lipschitz=L)
    with pytest.raises(ValueError, match="shape"):
        pgd_classification(net, X[:, :1], y, 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd_classification(net, X, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="loss"):
        RobustAccuracy(0.1, loss="bce")
    with pytest.raises(TypeError, match="nn.Module"):
        pgd_classification(lambda x: x, X, y, 0.1)
    with pytest.raises(ValueError, match="logits"):                 # (n, k, 1): not logits
        pgd_classification(nn.Sequential(net, nn.Unflatten(1, (3, 1))), X, y, 0.1)
    with pytest.raises(ValueError, match="NaN/Inf"):
        pgd_classification(net, X * math.inf, y, 0.1)


# ---------------------------------------------------------------------------- Metric classes
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("norm", NORMS)
def test_metric_classes_agree_with_the_functions_over_two_batches(k, norm):
    net = tiny_net(k, seed=7)
    X, y = labelled_data(net, k, n=50, seed=7)
    parts = [(X[:20], y[:20]), (X[20:], y[20:])]
    eps, L = 0.15, lipschitz_bound(net, norm)

    g_metric, g_fn = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    robust = RobustAccuracy(eps, norm, steps=8, restarts=2, loss="margin", generator=g_metric)
    cert = CertifiedAccuracy(eps, lipschitz=L, norm=norm)
    want_r, want_c = 0.0, 0.0
    for Xb, yb in parts:
        robust.update(net, Xb, yb)
        cert.update(net, Xb, yb)
        want_r += len(yb) * float(robust_accuracy(net, Xb, yb, eps, norm, steps=8, restarts=2,
                                                  loss="margin", generator=g_fn))
        want_c += len(yb) * float(certified_accuracy(net, Xb, yb, eps, lipschitz=L, norm=norm))
    assert float(robust.compute()) == pytest.approx(want_r / 50, abs=1e-6)
    assert float(cert.compute()) == pytest.approx(want_c / 50, abs=1e-6)
    assert int(robust.total) == 50 and int(cert.total) == 50
    # the certified count over two batches equals the one on the concatenated data
    assert float(cert.compute()) == float(certified_accuracy(net, X, y, eps, lipschitz=L,
                                                             norm=norm))
    assert float(cert.compute()) <= float(robust.compute())
    robust.reset()
    assert int(robust.total) == 0 and int(robust.correct) == 0


def test_accuracy_curve_is_ordered_and_matches_the_metrics():
    from torch_lipcvx.metrics import accuracy_curve, certified_accuracy, robust_accuracy
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    net = net.double()
    X = torch.randn(40, 2, dtype=torch.float64)
    with torch.no_grad():
        y = net(X).argmax(1)
        y[:5] = (y[:5] + 1) % 3                               # a few wrong ones
    with torch.no_grad():
        L = float(torch.linalg.matrix_norm(net[2].weight, 2)
                  * torch.linalg.matrix_norm(net[0].weight, 2))
    rows = accuracy_curve(net, X, y, [0.0, 0.1, 0.3], lipschitz=L, steps=10, seed=3)
    assert rows[0]["robust_acc"] == rows[0]["clean_acc"] == pytest.approx(35 / 40)
    for r in rows:
        assert r["certified_acc"] <= r["robust_acc"] <= r["clean_acc"]
        assert r["certified_acc"] == pytest.approx(float(certified_accuracy(
            net, X, y, r["eps"], lipschitz=L)), abs=1e-6)
    ce = robust_accuracy(net, X, y, 0.3, steps=10, generator=torch.Generator().manual_seed(3))
    assert rows[2]["robust_acc"] <= float(ce) + 1e-6        # both attacks: never above one
    none = accuracy_curve(net, X, y, [0.1], lipschitz=None, steps=5)
    assert math.isnan(none[0]["certified_acc"])
