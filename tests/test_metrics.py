"""Robustness metrics (torch_lipcvx.metrics): class vs functional vs plain reference, bounds
ordering (PGD ≤ certified), eps = 0, reset, state merging, inference mode and bad input."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from torch import nn

import torch_lipcvx.metrics as tm
from torch_lipcvx import ShallowReLU, lipschitz_bounds
from torch_lipcvx.attacks import pgd_attack
from torch_lipcvx.metrics import (AdversarialMSE, CertifiedAdversarialMSE, adversarial_mse,
                                  certified_adversarial_mse, lipschitz_interval_dict,
                                  log_lipschitz_interval)

from conftest import make_instance

NORMS = [2, "inf"]
SIZES = (17, 30, 13)  # three batches of different sizes
PGD = dict(steps=8, restarts=2)


@pytest.fixture(scope="module")
def inst():
    """A trained float64 network (d = 3, m = 10) and 60 points."""
    return make_instance(1, n=sum(SIZES), d=3, m=10, steps=200)


@pytest.fixture(scope="module")
def upper(inst):
    """Certified upper bounds on L for both norms (one LipSDP solve each)."""
    net = inst[0]
    return {norm: lipschitz_bounds(net, norm, n_samples=16, ascent_steps=5).upper for norm in NORMS}


def batches(X, y):
    return list(zip(X.split(SIZES), y.split(SIZES)))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- class vs functional
def test_class_attributes():
    for cls in (AdversarialMSE, CertifiedAdversarialMSE):
        assert cls.is_differentiable is False
        assert cls.higher_is_better is False
        assert cls.full_state_update is False
    m = AdversarialMSE(0.1)
    assert set(m._defaults) == {"sum_loss", "total"}
    assert all(fx.__name__ == "dim_zero_sum" for fx in m._reductions.values())


@pytest.mark.parametrize("norm", NORMS)
def test_adversarial_class_equals_functional_and_reference(inst, norm):
    """Same seed, same draw order: class (update and forward), functional and a direct
    pgd_attack loop agree exactly over three batches."""
    net, X, y = inst
    eps = 0.3
    metric = AdversarialMSE(eps, norm, generator=gen(), **PGD)
    g_fun, g_ref = gen(), gen()
    batch_values, fun_sum, ref_losses = [], 0.0, []
    for Xb, yb in batches(X, y):
        batch_values.append(metric(net, Xb, yb))  # forward: batch value, accumulates
        value = adversarial_mse(net, Xb, yb, eps, norm, generator=g_fun, **PGD)
        fun_sum = fun_sum + value * len(yb)
        ref_losses.append(pgd_attack(net, Xb, yb, eps, norm, generator=g_ref, **PGD).loss)
        torch.testing.assert_close(batch_values[-1], ref_losses[-1].mean(), rtol=0, atol=0)
        torch.testing.assert_close(value, ref_losses[-1].mean(), rtol=0, atol=0)
    reference = torch.cat(ref_losses).mean()
    assert metric.compute().dtype == torch.float64
    assert int(metric.total) == len(y)
    torch.testing.assert_close(metric.compute(), reference, rtol=1e-14, atol=0)
    torch.testing.assert_close(fun_sum / len(y), reference, rtol=1e-14, atol=0)
    with torch.no_grad():
        clean = ((net(X) - y) ** 2).mean()
    assert float(reference) > float(clean)  # the attack does something


@pytest.mark.parametrize("norm", NORMS)
def test_certified_class_equals_functional_and_loop(inst, upper, norm):
    net, X, y = inst
    eps, L = 0.3, upper[norm]
    metric = CertifiedAdversarialMSE(eps, L, norm)
    fun_sum = 0.0
    for Xb, yb in batches(X, y):
        metric.update(net, Xb, yb)
        fun_sum = fun_sum + certified_adversarial_mse(net, Xb, yb, eps, L, norm) * len(yb)
    with torch.no_grad():
        f = net(X).tolist()
    loop = sum((abs(fi - yi) + L * eps) ** 2 for fi, yi in zip(f, y.tolist())) / len(f)
    assert metric.lipschitz_used == L
    assert float(metric.compute()) == pytest.approx(loop, rel=1e-13)
    assert float(fun_sum / len(y)) == pytest.approx(loop, rel=1e-13)


@pytest.mark.parametrize("norm", NORMS)
def test_certified_lipschitz_none_uses_the_certified_upper_bound(inst, upper, norm):
    net, X, y = inst
    eps = 0.2
    expected = certified_adversarial_mse(net, X, y, eps, upper[norm], norm)
    metric = CertifiedAdversarialMSE(eps, None, norm)
    for Xb, yb in batches(X, y):
        metric.update(net, Xb, yb)
    assert metric.lipschitz_used == pytest.approx(upper[norm], rel=1e-12)
    torch.testing.assert_close(metric.compute(), expected, rtol=1e-12, atol=0)
    # a LipschitzInterval is accepted (its upper end) when its norm matches
    interval = lipschitz_bounds(net, norm, n_samples=4, ascent_steps=2)
    torch.testing.assert_close(certified_adversarial_mse(net, X, y, eps, interval, norm), expected,
                               rtol=1e-12, atol=0)


def test_certified_recomputes_lipschitz_only_when_weights_change(inst, monkeypatch):
    net, X, y = inst
    calls = []
    real = tm.certified_lipschitz

    def counting(model, norm=2, **kw):
        calls.append(1)
        return real(model, norm, **kw)

    monkeypatch.setattr(tm, "certified_lipschitz", counting)
    net = net.clone()
    metric = CertifiedAdversarialMSE(0.1)
    for Xb, yb in batches(X, y):
        metric.update(net, Xb, yb)
    assert len(calls) == 1
    L_before = metric.lipschitz_used
    with torch.no_grad():
        net.output.weight.mul_(2.0)  # L doubles exactly (positive homogeneity in alpha)
    metric.update(net, X, y)
    assert len(calls) == 2
    assert metric.lipschitz_used == pytest.approx(2 * L_before, rel=1e-6)


# ---------------------------------------------------------------------------- maths properties
@pytest.mark.parametrize("norm", NORMS)
def test_pgd_below_certified(inst, upper, norm):
    """lower bound (PGD) ≤ upper bound (certified with an honest L), batch-wise and overall."""
    net, X, y = inst
    adv, cert = AdversarialMSE(0.5, norm, generator=gen(3), **PGD), CertifiedAdversarialMSE(
        0.5, upper[norm], norm)
    for Xb, yb in batches(X, y):
        assert float(adv(net, Xb, yb)) <= float(cert(net, Xb, yb))
    assert float(adv.compute()) <= float(cert.compute())


@pytest.mark.parametrize("norm", NORMS)
def test_eps_zero_gives_clean_mse(inst, upper, norm):
    net, X, y = inst
    with torch.no_grad():
        clean = ((net(X) - y) ** 2).mean()
    adv = AdversarialMSE(0.0, norm, generator=gen())
    cert = CertifiedAdversarialMSE(0.0, upper[norm], norm)
    for Xb, yb in batches(X, y):
        adv.update(net, Xb, yb)
        cert.update(net, Xb, yb)
    for value in (adv.compute(), cert.compute(), adversarial_mse(net, X, y, 0.0, norm),
                  certified_adversarial_mse(net, X, y, 0.0, upper[norm], norm)):
        torch.testing.assert_close(value, clean, rtol=1e-13, atol=0)


def test_reset(inst):
    net, X, y = inst
    (X1, y1), (X2, y2), _ = batches(X, y)
    for metric, fun in ((AdversarialMSE(0.3, generator=gen(), random_start=False),
                         lambda Xb, yb: adversarial_mse(net, Xb, yb, 0.3, random_start=False)),
                        (CertifiedAdversarialMSE(0.3, 2.0),
                         lambda Xb, yb: certified_adversarial_mse(net, Xb, yb, 0.3, 2.0))):
        metric.update(net, X1, y1)
        metric.reset()
        assert int(metric.total) == 0 and float(metric.sum_loss) == 0.0
        metric.update(net, X2, y2)
        torch.testing.assert_close(metric.compute(), fun(X2, y2), rtol=1e-14, atol=0)


def test_dtype_follows_input():
    g = gen(5)
    net = ShallowReLU(2, 4, generator=g)
    X, y = torch.randn(6, 2, generator=g), torch.randn(6, generator=g)
    for metric in (AdversarialMSE(0.1, generator=gen()), CertifiedAdversarialMSE(0.1, 1.0)):
        metric.update(net, X, y)
        assert metric.compute().dtype == torch.float32
        metric.reset()
        metric.update(net.clone().double(), X.double(), y.double())
        assert metric.compute().dtype == torch.float64


def test_half_precision_batch_sums_do_not_overflow():
    """A float16 model: the per-batch sum of 2000 losses near 100 (2e5) was taken in float16,
    whose largest number is 65504, so a mean of 100 came out as inf."""
    g = gen(6)
    net = ShallowReLU(3, 5, generator=g).half()
    X, y = torch.randn(2000, 3, generator=g).half(), torch.full((2000,), 10.0).half()
    with torch.no_grad():
        clean = float(((net(X).float() - y.float()) ** 2).mean())
    assert 90 < clean < 110
    adv = adversarial_mse(net, X, y, 0.1, steps=2, generator=gen())
    cert = certified_adversarial_mse(net, X, y, 0.1, 1.0)
    assert adv.dtype == cert.dtype == torch.float16
    metrics = AdversarialMSE(0.1, steps=2, generator=gen()), CertifiedAdversarialMSE(0.1, 1.0)
    for metric in metrics:
        metric.update(net, X, y)
    for value in (adv, cert, *(metric.compute() for metric in metrics)):
        assert math.isfinite(float(value)) and clean * 0.999 <= float(value) < clean * 1.2


@pytest.mark.parametrize("kind", ["adversarial", "certified"])
def test_sync_sends_one_dtype_from_every_rank(inst, upper, kind):
    """A rank that saw no batch holds the float32 default of ``sum_loss`` while a rank that
    attacked float64 data holds float64: the all-gather then mixes 4- and 8-byte tensors (gloo
    aborted the process: "Received data size doesn't match expected size"). Two ranks are
    emulated: rank 1 is empty, each sends what it holds; a gather requires equal dtypes."""
    net, X, y = inst

    def make():
        if kind == "adversarial":
            return AdversarialMSE(0.3, "inf", random_start=False, steps=4)
        return CertifiedAdversarialMSE(0.3, upper["inf"], "inf")

    rank0, rank1 = make(), make()
    rank0.update(net, X, y)
    sent = {}

    def record(tensor, group=None):
        sent.setdefault("rank1", []).append(tensor.clone())
        return [tensor, tensor]

    rank1._sync_dist(record)
    from_rank1 = iter(sent["rank1"])

    def gather(tensor, group=None):
        other = next(from_rank1)
        assert other.dtype == tensor.dtype and other.shape == tensor.shape
        return [tensor, other]

    rank0._sync_dist(gather)
    assert int(rank0.total) == len(y)   # the empty rank added nothing
    reference = make()
    reference.update(net, X, y)
    torch.testing.assert_close(rank0.compute(), reference.compute(), rtol=1e-14, atol=0)


def test_y_column_accepted(inst):
    net, X, y = inst
    a = certified_adversarial_mse(net, X, y[:, None], 0.1, 1.0)
    torch.testing.assert_close(a, certified_adversarial_mse(net, X, y, 0.1, 1.0))


# ---------------------------------------------------------------------------- distributed reduction
@pytest.mark.parametrize("kind", ["adversarial", "certified"])
def test_merged_states_equal_metric_on_concatenated_data(inst, upper, kind):
    """Two "ranks" see two halves; merging their states (sum) equals one metric on all data.

    PGD without a random start is deterministic row by row, so the split does not matter.
    """
    net, X, y = inst

    def make():
        if kind == "adversarial":
            return AdversarialMSE(0.3, "inf", random_start=False, steps=10)
        return CertifiedAdversarialMSE(0.3, upper[2])

    rank0, rank1, whole = make(), make(), make()
    half = len(y) // 2
    rank0.update(net, X[:half], y[:half])
    rank1.update(net, X[half:], y[half:])
    whole.update(net, X, y)
    # the reduction done by hand: every state is reduced with "sum"
    by_hand = (rank0.sum_loss + rank1.sum_loss) / (rank0.total + rank1.total)
    rank0.merge_state(rank1)
    torch.testing.assert_close(rank0.compute(), whole.compute(), rtol=1e-13, atol=0)
    torch.testing.assert_close(by_hand, whole.compute(), rtol=1e-13, atol=0)
    assert int(rank0.total) == len(y)


# ---------------------------------------------------------------------------- inference mode
def test_update_under_inference_mode_still_attacks(inst):
    """Lightning validates under torch.inference_mode(): the attack must still get gradients."""
    net, X, y = inst
    outside = AdversarialMSE(0.3, random_start=False, steps=10)
    outside.update(net, X, y)
    inside = AdversarialMSE(0.3, random_start=False, steps=10)
    with torch.inference_mode():
        Xi, yi = X.clone(), y.clone()  # inference tensors, like a validation batch
        inside.update(net, Xi, yi)
        value = inside.compute()
        cert = certified_adversarial_mse(net, Xi, yi, 0.3)  # LipSDP inside inference mode
    torch.testing.assert_close(value, outside.compute(), rtol=1e-14, atol=0)
    with torch.no_grad():
        clean = ((net(X) - y) ** 2).mean()
    assert float(clean) < float(value) <= float(cert)


# ---------------------------------------------------------------------------- Lipschitz logging
class _FakeModule:
    def __init__(self, model):
        self.model = model
        self.logged = {}

    def log_dict(self, values, **kwargs):
        self.logged.update(values)
        self.kwargs = kwargs


def test_log_lipschitz_interval(inst):
    net, X, _ = inst
    module = _FakeModule(net)
    interval = log_lipschitz_interval(module, X=X, bounds_kwargs=dict(n_samples=32, ascent_steps=5),
                                      prog_bar=True)
    assert set(module.logged) == {"lipschitz/lower", "lipschitz/upper"}
    assert module.logged["lipschitz/upper"] == interval.upper
    assert 0 < module.logged["lipschitz/lower"] <= module.logged["lipschitz/upper"]
    assert module.kwargs == {"prog_bar": True}
    assert lipschitz_interval_dict(interval, "L_inf") == {"L_inf/lower": interval.lower,
                                                          "L_inf/upper": interval.upper}
    with pytest.raises(ValueError, match="give the LightningModule a `model` attribute"):
        log_lipschitz_interval(_FakeModule(None))


# ---------------------------------------------------------------------------- bad input
def test_bad_input_raises(inst):
    net, X, y = inst
    with pytest.raises(ValueError, match=r"y must have shape \(60,\)"):
        adversarial_mse(net, X, y[:-1], 0.1)
    with pytest.raises(ValueError, match=r"y must have shape \(60,\)"):
        CertifiedAdversarialMSE(0.1, 1.0).update(net, X, y[:-1])
    with pytest.raises(ValueError, match=r"y must have shape \(60,\)"):
        certified_adversarial_mse(net, X, y[:-1], 0.1)  # checked before any SDP solve
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3\), got shape \(3,\)"):
        AdversarialMSE(0.1).update(net, X[0], y[:1])
    with pytest.raises(ValueError, match="contains 1 NaN/Inf"):
        AdversarialMSE(0.1).update(net, X, torch.where(torch.arange(60) == 3, math.nan, y))
    for bad_eps in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            AdversarialMSE(bad_eps)
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            CertifiedAdversarialMSE(bad_eps, 1.0)
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            adversarial_mse(net, X, y, bad_eps)
        with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
            certified_adversarial_mse(net, X, y, bad_eps, 1.0)
    for bad_norm in (1, "l1", 3.0):
        with pytest.raises(ValueError, match="norm must be 2 or inf"):
            AdversarialMSE(0.1, bad_norm)
        with pytest.raises(ValueError, match="norm must be 2 or inf"):
            CertifiedAdversarialMSE(0.1, 1.0, bad_norm)
        with pytest.raises(ValueError, match="norm must be 2 or inf"):
            adversarial_mse(net, X, y, 0.1, bad_norm)
        with pytest.raises(ValueError, match="norm must be 2 or inf"):
            certified_adversarial_mse(net, X, y, 0.1, 1.0, bad_norm)
    with pytest.raises(ValueError, match="lipschitz must be a finite number >= 0"):
        CertifiedAdversarialMSE(0.1, -1.0)
    with pytest.raises(ValueError, match="lipschitz must be a finite number >= 0"):
        certified_adversarial_mse(net, X, y, 0.1, -1.0)
    interval = lipschitz_bounds(net, 2, n_samples=4, ascent_steps=2)
    with pytest.raises(ValueError, match="LipschitzInterval for norm=2, but the metric's norm is inf"):
        CertifiedAdversarialMSE(0.1, interval, "inf")
    with pytest.raises(ValueError, match="method must be 'lipsdp' or 'naive'"):
        CertifiedAdversarialMSE(0.1, method="exact")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        AdversarialMSE(0.1, steps=0)
    with pytest.raises(TypeError, match="steps must be an integer >= 1"):
        AdversarialMSE(0.1, steps=2.5)
    with pytest.raises(ValueError, match="restarts must be an integer >= 1"):
        AdversarialMSE(0.1, restarts=0)
    with pytest.raises(ValueError, match="alpha .* must be a finite number > 0"):
        AdversarialMSE(0.1, alpha=-1.0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        AdversarialMSE(0.1, generator=0)
    deep = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="expected exactly 3 layers"):
        CertifiedAdversarialMSE(0.1).update(deep.double(), X, y)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        AdversarialMSE(0.1).update(lambda x: x.sum(1), X, y)


def test_docstring_examples():
    result = doctest.testmod(tm, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
