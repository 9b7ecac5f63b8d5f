"""Properties of the SGD and PGD adversarial training baselines (docs/attacks.md §1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch_lipcvx.attacks import pgd_attack
from torch_lipcvx.models import ShallowReLU, ShallowWeights
from torch_lipcvx.train import TrainResult, l2_penalty, train_pgd, train_sgd

DTYPE = torch.float64


def sine_task(seed: int = 0, n: int = 100, d: int = 2):
    """``y = sin(3 x₁) + 0.1·noise`` with ``x`` uniform in ``[−1, 1]^d``, float64."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=DTYPE) * 2 - 1
    y = torch.sin(3 * X[:, 0]) + 0.1 * torch.randn(n, generator=g, dtype=DTYPE)
    return X, y


def mse(model, X, y) -> float:
    with torch.no_grad():
        return float((model(X) - y).pow(2).mean())


def l2_penalty_value(model) -> float:
    return float(l2_penalty(model).detach())


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------- l2_penalty
def test_l2_penalty_includes_hidden_bias_excludes_output_bias():
    w = ShallowWeights(W=torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=DTYPE),
                       b=torch.tensor([3.0, -4.0], dtype=DTYPE),
                       alpha=torch.tensor([0.5, -2.0], dtype=DTYPE),
                       c=torch.tensor(100.0, dtype=DTYPE))
    net = ShallowReLU.from_weights(w)
    # Σ_j ‖[w_j; b_j]‖² + α_j² = (1 + 4 + 9) + (0 + 1 + 16) + 0.25 + 4; c = 100 is not included
    expected = 14.0 + 17.0 + 4.25
    assert l2_penalty_value(net) == expected
    assert l2_penalty_value(net.to_sequential()) == expected
    # changing c leaves it unchanged; changing b changes it
    with torch.no_grad():
        net.output.bias.fill_(-7.0)
    assert l2_penalty_value(net) == expected
    with torch.no_grad():
        net.hidden.bias.fill_(0.0)
    assert l2_penalty_value(net) == expected - 25.0


def test_l2_penalty_is_differentiable_and_rejects_other_models():
    net = ShallowReLU(2, 3, dtype=DTYPE)
    l2_penalty(net).backward()
    torch.testing.assert_close(net.hidden.bias.grad, 2 * net.hidden.bias.detach())
    assert net.output.bias.grad is None
    with pytest.raises(ValueError, match="only one hidden ReLU layer"):
        l2_penalty(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(),
                                 nn.Linear(3, 1)))


# ---------------------------------------------------------------------------- train_sgd
def test_sgd_decreases_loss_and_builds_float64_model():
    X, y = sine_task()
    init = ShallowReLU(2, 20, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(0))
    res = train_sgd(None, X, y, hidden=20, epochs=100, lr=2e-2, seed=0)
    assert isinstance(res, TrainResult)
    assert isinstance(res.model, ShallowReLU) and res.model.dtype == DTYPE and res.model.m == 20
    # the initial model is the one built from the seed
    assert mse(res.model, X, y) < 0.5 * mse(init, X, y)
    assert len(res.history) == 100
    assert [h["epoch"] for h in res.history] == list(range(1, 101))
    assert res.history[-1]["mse"] < res.history[0]["loss"]
    assert res.history[-1]["mse"] == pytest.approx(mse(res.model, X, y), rel=1e-12)
    assert "TrainResult(" in repr(res) and "mse=" in repr(res)


@pytest.mark.parametrize("optimizer, batch_size", [("adam", None), ("sgd", 16), ("adam", 32)])
def test_sgd_reproducible_and_seed_dependent(optimizer, batch_size):
    X, y = sine_task(1)
    kw = dict(hidden=10, epochs=20, lr=1e-2, batch_size=batch_size, optimizer=optimizer)
    a = train_sgd(None, X, y, seed=3, **kw)
    b = train_sgd(None, X, y, seed=3, **kw)
    c = train_sgd(None, X, y, seed=4, **kw)
    assert same_weights(a.model, b.model)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert not same_weights(a.model, c.model)


def test_sgd_global_rng_untouched():
    X, y = sine_task(2)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_sgd(None, X, y, hidden=5, epochs=3, batch_size=10, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_input_model_unchanged():
    X, y = sine_task(3)
    net = ShallowReLU(2, 8, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(0))
    before = net.clone()
    start = mse(net, X, y)
    res = train_sgd(net, X, y, epochs=30, lr=1e-2)
    assert same_weights(net, before)
    assert all(p.grad is None for p in net.parameters())
    assert res.model is not net and mse(res.model, X, y) < start
    # a Sequential input is accepted and left unchanged too
    seq = before.to_sequential()
    seq_before = {k: v.clone() for k, v in seq.state_dict().items()}
    res = train_pgd(seq, X, y, eps=0.1, epochs=3, attack_steps=2)
    assert isinstance(res.model, ShallowReLU)
    assert all(torch.equal(v, seq_before[k]) for k, v in seq.state_dict().items())


def test_beta_shrinks_l2_penalty():
    X, y = sine_task(4)
    kw = dict(hidden=20, epochs=150, lr=2e-2, seed=0)
    plain = train_sgd(None, X, y, beta=0.0, **kw)
    shrunk = train_sgd(None, X, y, beta=0.05, **kw)
    assert l2_penalty_value(shrunk.model) < l2_penalty_value(plain.model)
    # full batch: epoch 1's loss is the objective (1/n)‖f(X) − y‖² + (β/2)·l2_penalty of the init
    init = ShallowReLU(2, 20, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(0))
    objective = mse(init, X, y) + 0.5 * 0.05 * l2_penalty_value(init)
    assert shrunk.history[0]["loss"] == pytest.approx(objective, rel=1e-12)


def test_verbose_prints_about_ten_lines(capsys):
    X, y = sine_task(5)
    train_sgd(None, X, y, hidden=4, epochs=50, verbose=True)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[sgd]")]
    assert 5 <= len(lines) <= 12
    train_sgd(None, X, y, hidden=4, epochs=5)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------- train_pgd
def adversarial_mse(model, X, y, eps, norm) -> float:
    """A strong fixed evaluation attack: 20 steps, 2 random restarts, fixed generator."""
    res = pgd_attack(model, X, y, eps, norm, steps=20, restarts=2,
                     generator=torch.Generator().manual_seed(7))
    return float(res.mse)


@pytest.mark.parametrize("seed", [0, 2])
def test_adversarial_training_lowers_adversarial_mse(seed):
    # A steep target (slope up to 3) and a large ball: plain training fits the slope and is easy
    # to attack; adversarial training flattens f and wins on the adversarial MSE.
    X, y = sine_task(seed)
    eps = 0.3
    kw = dict(hidden=20, epochs=200, lr=2e-2, seed=seed)
    plain = train_sgd(None, X, y, **kw)
    robust = train_pgd(None, X, y, eps=eps, norm=2, attack_steps=5, **kw)
    assert adversarial_mse(robust.model, X, y, eps, 2) < adversarial_mse(plain.model, X, y, eps, 2)
    assert {"epoch", "loss", "mse", "adv_mse"} <= robust.history[-1].keys()


def test_pgd_training_reproducible_and_linf():
    X, y = sine_task(6, n=60)
    kw = dict(eps=0.2, norm="inf", hidden=8, epochs=10, batch_size=20, attack_steps=3)
    a = train_pgd(None, X, y, seed=1, **kw)
    b = train_pgd(None, X, y, seed=1, **kw)
    c = train_pgd(None, X, y, seed=2, **kw)
    assert same_weights(a.model, b.model)
    assert not same_weights(a.model, c.model)


def test_pgd_training_with_eps_zero_matches_sgd():
    X, y = sine_task(7, n=50)
    kw = dict(hidden=6, epochs=10, lr=1e-2, seed=0)
    a = train_pgd(None, X, y, eps=0.0, **kw)
    b = train_sgd(None, X, y, **kw)
    assert same_weights(a.model, b.model)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    (dict(beta=-1.0), "beta must be a finite number >= 0"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(optimizer="lbfgs"), "optimizer must be 'adam' or 'sgd'"),
    (dict(hidden=0), "hidden must be an integer >= 1"),
])
def test_bad_training_arguments_raise(kwargs, match):
    X, y = sine_task(n=10)
    with pytest.raises(ValueError, match=match):
        train_sgd(None, X, y, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=-0.1), "eps must be a finite number >= 0"),
    (dict(eps=float("nan")), "eps must be a finite number >= 0"),
    (dict(eps=0.1, norm=3), "norm must be 2 or inf"),
    (dict(eps=0.1, attack_steps=0), "attack_steps must be an integer >= 1"),
    (dict(eps=0.1, attack_alpha=0.0), "attack_alpha .* must be a finite number > 0"),
])
def test_bad_pgd_training_arguments_raise(kwargs, match):
    X, y = sine_task(n=10)
    with pytest.raises(ValueError, match=match):
        train_pgd(None, X, y, **kwargs)


def test_bad_training_data_raise():
    X, y = sine_task(n=10)
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        train_sgd(None, X, y[:4])
    Xn = X.clone()
    Xn[1, 1] = float("nan")
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        train_sgd(None, Xn, y)
    with pytest.raises(ValueError, match=r"must have shape \(n, 3\)"):
        train_sgd(ShallowReLU(3, 4, dtype=DTYPE), X, y)
    with pytest.raises(ValueError, match="model must be a ShallowReLU"):
        train_sgd(nn.Linear(2, 1), X, y)


def test_fresh_model_draws_from_no_global_rng(monkeypatch):
    """The fresh model must come from the seeded generator only. It was built by nn.Linear's own
    initialisation first (a draw from the global RNG of the default device) and re-drawn from
    the generator under ``fork_rng(devices=[])``, which restores only the CPU RNG: with a CUDA
    default device the global CUDA RNG was advanced."""
    import torch.nn.init as init
    for name in ("kaiming_uniform_", "uniform_"):
        real = getattr(init, name)

        def refuse(tensor, *args, _real=real, **kwargs):
            if tensor.device.type != "meta":       # skip_init runs nn.Linear's init on meta
                raise AssertionError("a global RNG draw")
            return _real(tensor, *args, **kwargs)
        monkeypatch.setattr(init, name, refuse)
    X, y = sine_task(4, n=20)
    res = train_sgd(None, X, y, hidden=4, epochs=1, seed=5)
    ref = ShallowReLU(2, 4, dtype=DTYPE, generator=torch.Generator().manual_seed(5))
    assert same_weights(train_sgd(ref, X, y, epochs=1, seed=5).model, res.model)


def test_seeds_at_the_end_of_torch_range():
    """torch takes seeds in [-2**63, 2**64); seed + 1 (minibatch order) and seed + 2 (PGD
    starts) overflowed there ('Overflow when unpacking long long'). Now they wrap modulo 2**64,
    which is the same stream for every seed that worked before (-1 is 2**64 - 1 to torch)."""
    X, y = sine_task(5, n=20)
    kw = dict(hidden=3, epochs=2, batch_size=5)
    a = train_sgd(None, X, y, seed=2 ** 64 - 1, **kw)
    b = train_sgd(None, X, y, seed=-1, **kw)
    assert same_weights(a.model, b.model)
    p = train_pgd(None, X, y, eps=0.1, seed=2 ** 64 - 2, **kw)
    q = train_pgd(None, X, y, eps=0.1, seed=-2, **kw)
    assert same_weights(p.model, q.model)
