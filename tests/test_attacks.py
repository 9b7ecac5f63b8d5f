"""Properties of the regression attacks and the certified bound (docs/attacks.md)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from torch_lipcvx.attacks import (
    AttackResult,
    _inward,
    certified_squared_error_bound,
    pgd_attack,
    random_search_attack,
)
from torch_lipcvx.models import ShallowReLU

DTYPE = torch.float64
NORMS = [2, "inf"]

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="CUDA not available")),
]


def random_problem(seed: int, n: int = 60, d: int = 3, m: int = 12, device="cpu"):
    """A seeded random ShallowReLU and data ``X (n, d)``, ``y (n,)`` in float64."""
    g = torch.Generator().manual_seed(seed)
    net = ShallowReLU(d, m, dtype=DTYPE).reset_parameters(g)
    with torch.no_grad():  # larger weights than the default init: a less flat function
        net.hidden.weight.mul_(2.0)
        net.output.weight.mul_(3.0)
    X = torch.randn(n, d, generator=g, dtype=DTYPE)
    y = torch.randn(n, generator=g, dtype=DTYPE)
    return net.to(device), X.to(device), y.to(device)


def naive_lipschitz(net: ShallowReLU, norm) -> float:
    """Honest Lipschitz upper bounds: ‖W̄‖₂‖α‖₂ (ℓ2) and Σ_j |α_j| ‖w̄_j‖₁ (ℓ∞ inputs)."""
    W = net.hidden.weight.detach().cpu()
    alpha = net.output.weight.detach().cpu()[0]
    if norm == 2:
        return float(torch.linalg.matrix_norm(W, ord=2) * alpha.norm())
    return float((alpha.abs() * W.abs().sum(dim=1)).sum())


def clean_loss(net, X, y):
    with torch.no_grad():
        return (net(X) - y) ** 2


def perturbation_norms(res: AttackResult, X, norm):
    delta = res.X_adv - X
    return delta.norm(dim=1) if norm == 2 else delta.abs().amax(dim=1)


# ---------------------------------------------------------------------------- properties
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pgd_at_least_clean_and_inside_ball(norm, seed):
    net, X, y = random_problem(seed)
    eps = 0.4
    res = pgd_attack(net, X, y, eps, norm, steps=15, restarts=2,
                     generator=torch.Generator().manual_seed(seed))
    assert res.X_adv.shape == X.shape and res.loss.shape == y.shape
    assert res.X_adv.dtype == DTYPE and res.loss.dtype == DTYPE
    assert (res.loss >= clean_loss(net, X, y)).all()
    norms = perturbation_norms(res, X, norm)
    if norm == 2:
        assert (norms <= eps * (1 + 1e-12)).all()
    else:
        assert (norms <= eps).all()
    # the reported loss is the loss at the returned point
    torch.testing.assert_close(res.loss, clean_loss(net, res.X_adv, y), rtol=1e-12, atol=0)
    assert res.mse == res.loss.mean()
    assert res.eps == eps and res.norm == (2.0 if norm == 2 else math.inf)
    assert "AttackResult(" in repr(res) and "mse=" in repr(res)


@pytest.mark.parametrize("norm", NORMS)
def test_random_search_inside_ball_and_at_least_clean(norm):
    net, X, y = random_problem(3)
    eps = 0.3
    res = random_search_attack(net, X, y, eps, norm, samples=10,
                               generator=torch.Generator().manual_seed(0))
    assert (res.loss >= clean_loss(net, X, y)).all()
    norms = perturbation_norms(res, X, norm)
    assert (norms <= eps * (1 + 1e-12)).all()


@pytest.mark.parametrize("norm", NORMS)
def test_pgd_beats_random_search_with_same_budget(norm):
    budget = 20
    for seed in range(4):
        net, X, y = random_problem(10 + seed, d=1 + seed)
        pgd = pgd_attack(net, X, y, 0.5, norm, steps=budget,
                         generator=torch.Generator().manual_seed(seed))
        rnd = random_search_attack(net, X, y, 0.5, norm, samples=budget,
                                   generator=torch.Generator().manual_seed(seed))
        assert pgd.mse >= rnd.mse, (seed, float(pgd.mse), float(rnd.mse))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pgd_below_certified_bound(norm, seed):
    net, X, y = random_problem(seed, d=2 + seed)
    eps = 0.5
    L = naive_lipschitz(net, norm)
    bound = certified_squared_error_bound(net, X, y, eps, L)
    assert bound.shape == y.shape
    res = pgd_attack(net, X, y, eps, norm, steps=30, restarts=3,
                     generator=torch.Generator().manual_seed(seed))
    assert (res.loss <= bound * (1 + 1e-12)).all()
    # the bound at eps = 0 is the clean loss
    torch.testing.assert_close(certified_squared_error_bound(net, X, y, 0.0, L), clean_loss(net, X, y))


def test_certified_bound_formula():
    net, X, y = random_problem(4)
    with torch.no_grad():
        expected = ((net(X) - y).abs() + 2.0 * 0.25) ** 2
    torch.testing.assert_close(certified_squared_error_bound(net, X, y, 0.25, 2.0), expected)


@pytest.mark.parametrize("norm", NORMS)
def test_eps_zero_returns_clean(norm):
    net, X, y = random_problem(5)
    for attack in (pgd_attack, random_search_attack):
        res = attack(net, X, y, 0.0, norm)
        assert torch.equal(res.X_adv, X)
        assert torch.equal(res.loss, clean_loss(net, X, y))


def test_linear_model_reaches_the_exact_worst_case():
    """For f(x) = aᵀx the worst case is (|f(x) − y| + ε‖a‖_q)², q the dual norm: PGD finds it."""
    torch.manual_seed(0)
    lin = nn.Linear(3, 1, bias=False).to(DTYPE)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 3, generator=g, dtype=DTYPE)
    y = torch.randn(20, generator=g, dtype=DTYPE)
    a = lin.weight.detach()[0]
    for norm, dual in ((2, a.norm()), ("inf", a.abs().sum())):
        res = pgd_attack(lin, X, y, 0.2, norm, steps=10, random_start=False)
        exact = certified_squared_error_bound(lin, X, y, 0.2, float(dual))
        torch.testing.assert_close(res.loss, exact, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm", [2, "inf"])
def test_default_random_start_reaches_a_linear_models_worst_case(norm):
    """With the default random start, too: a uniform start far out can flip the residual's sign
    and climb to the lower of the two maxima of (r + aᵀδ)² (rows once missed it by up to 89%).
    The first restart starts within eps/1000 of the clean point, so only rows with
    |r| < eps‖a‖/1000 can take the other side, at a cost below 4|r|/(eps‖a‖) ≤ 0.4%."""
    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(6, 1).to(DTYPE)
    X = torch.randn(2000, 6, generator=g, dtype=DTYPE)
    with torch.no_grad():
        y = lin(X)[:, 0] + 0.1 * torch.randn(2000, generator=g, dtype=DTYPE)
    a = lin.weight.detach()[0]
    dual = float(a.norm() if norm == 2 else a.abs().sum())
    res = pgd_attack(lin, X, y, 0.5, norm, generator=torch.Generator().manual_seed(0))
    exact = certified_squared_error_bound(lin, X, y, 0.5, dual)
    assert bool((res.loss <= exact * (1 + 1e-12)).all())     # f's own rounding at x + δ
    assert float((res.loss / exact).min()) >= 1 - 4e-3
    assert float(res.loss.sum() / exact.sum()) >= 1 - 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("norm", [2, "inf"])
def test_ball_and_bounds_hold_exactly_below_float64(dtype, norm):
    """In a model dtype below float64 the ball (around X as the model sees it) and the box
    must hold for the returned point measured in float64: the checks were once made in the
    model's dtype (float32: excess 1e-7 of eps; bfloat16: 5e-3) and the box clamped to a bound
    rounded outwards (0.1 as float32 is above 0.1)."""
    net, X, y = random_problem(2, n=200)
    net = net.to(dtype)
    X = X.clamp(-1.0, 0.1)
    res = pgd_attack(net, X, y, 1e-2, norm, steps=5, bounds=(-1.0, 0.1),
                     generator=torch.Generator().manual_seed(0))
    low, high = _inward((-1.0, 0.1), dtype)        # 0.1 rounded down to the dtype
    assert low == -1.0 and high <= 0.1
    centre = X.to(dtype).clamp(low, high).to(torch.float64)
    diff = res.X_adv.to(torch.float64) - centre
    size = diff.abs().amax(dim=1) if norm == "inf" else diff.norm(dim=1)
    assert float(size.max()) <= 1e-2
    assert float(res.X_adv.to(torch.float64).max()) <= 0.1
    assert float(res.X_adv.to(torch.float64).min()) >= -1.0


def test_bounds_are_respected():
    net, X, y = random_problem(6)
    X = X.clamp(-1, 1)
    res = pgd_attack(net, X, y, 0.5, "inf", steps=10, bounds=(-1.0, 1.0),
                     generator=torch.Generator().manual_seed(0))
    assert res.X_adv.min() >= -1 and res.X_adv.max() <= 1
    assert ((res.X_adv - X).abs() <= 0.5).all()
    with pytest.raises(ValueError, match="outside bounds"):
        pgd_attack(net, X * 3, y, 0.5, bounds=(-1.0, 1.0))
    with pytest.raises(ValueError, match="low < high"):
        pgd_attack(net, X, y, 0.5, bounds=(1.0, -1.0))


def test_seeded_generator_is_reproducible():
    net, X, y = random_problem(7)
    r1 = pgd_attack(net, X, y, 0.3, 2, generator=torch.Generator().manual_seed(3))
    r2 = pgd_attack(net, X, y, 0.3, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(r1.X_adv, r2.X_adv)


# ---------------------------------------------------------------------------- the model is untouched
@pytest.mark.parametrize("norm", NORMS)
def test_model_unchanged_and_no_grads(norm):
    net, X, y = random_problem(8)
    net.hidden.bias.requires_grad_(False)  # mixed requires_grad state must survive
    net.train()
    net.output.eval()  # mixed training flags must survive too
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = {k: p.requires_grad for k, p in net.named_parameters()}
    modes = {k: mod.training for k, mod in net.named_modules()}
    pgd_attack(net, X.requires_grad_(True), y, 0.3, norm, steps=5)
    random_search_attack(net, X, y, 0.3, norm, samples=5)
    certified_squared_error_bound(net, X, y, 0.3, 1.0)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert {k: p.requires_grad for k, p in net.named_parameters()} == flags
    assert all(p.grad is None for p in net.parameters())
    assert {k: mod.training for k, mod in net.named_modules()} == modes
    assert X.grad is None


def test_model_in_eval_mode_during_attack():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1).to(DTYPE)

        def forward(self, x):
            seen.append(self.training)
            return self.lin(x)

    spy = Spy().train()
    X = torch.zeros(4, 2, dtype=DTYPE)
    pgd_attack(spy, X, torch.ones(4, dtype=DTYPE), 0.1, steps=3)
    assert seen and not any(seen)
    assert spy.training


# ---------------------------------------------------------------------------- other models, devices
@pytest.mark.parametrize("norm", NORMS)
def test_works_with_sequential(norm):
    net, X, y = random_problem(9)
    seq = net.to_sequential()  # outputs (n, 1)
    kwargs = dict(steps=10, generator=torch.Generator().manual_seed(1))
    r_seq = pgd_attack(seq, X, y, 0.3, norm, **kwargs)
    kwargs["generator"] = torch.Generator().manual_seed(1)
    r_net = pgd_attack(net, X, y, 0.3, norm, **kwargs)
    assert r_seq.loss.shape == (X.shape[0],)
    torch.testing.assert_close(r_seq.loss, r_net.loss)
    assert (r_seq.loss >= clean_loss(net, X, y)).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("norm", NORMS)
def test_runs_on_device(device, norm):
    net, X, y = random_problem(11, device=device)
    eps = 0.4
    res = pgd_attack(net, X, y, eps, norm, steps=10, restarts=2,
                     generator=torch.Generator(device=device).manual_seed(0))
    assert res.X_adv.device.type == device and res.loss.device.type == device
    assert (res.loss >= clean_loss(net, X, y)).all()
    assert (perturbation_norms(res, X, norm) <= eps * (1 + 1e-12)).all()
    # a CPU generator also works with data on another device
    res = random_search_attack(net, X, y, eps, norm, samples=5,
                               generator=torch.Generator().manual_seed(0))
    assert res.X_adv.device.type == device
    bound = certified_squared_error_bound(net, X, y, eps, naive_lipschitz(net, norm))
    assert bound.device.type == device


def test_device_mismatch_raises():
    net, X, y = random_problem(0)
    net = net.to("meta")
    with pytest.raises(ValueError, match="is on meta but X is on cpu"):
        pgd_attack(net, X, y, 0.1)


@pytest.mark.parametrize("model_dtype, data_dtype", [(torch.float32, torch.float64),
                                                     (torch.float64, torch.float32)])
def test_data_follow_the_models_dtype(model_dtype, data_dtype):
    """A float32 network with float64 data (the README's tour: ShallowReLU defaults to float32,
    the loaders return float64), and the reverse: the attack runs in the model's dtype, PGD still
    finds at least the clean loss, and the certified bound still sits above it."""
    net, X, y = random_problem(0)
    net = net.to(model_dtype)
    Xd, yd = X.to(data_dtype), y.to(data_dtype)
    res = pgd_attack(net, Xd, yd, 0.1, norm="inf", steps=10, generator=torch.Generator().manual_seed(0))
    assert res.X_adv.dtype == res.loss.dtype == model_dtype
    clean = (net(Xd.to(model_dtype)) - yd.to(model_dtype)).pow(2).detach()
    assert bool((res.loss >= clean - 1e-6).all())
    bound = certified_squared_error_bound(net, Xd, yd[:, None], 0.1, lipschitz=100.0)
    assert bound.dtype == model_dtype
    assert bool((bound >= res.loss - 1e-5).all())
    assert random_search_attack(net, Xd, yd, 0.1, samples=2).loss.dtype == model_dtype


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=-0.1), "eps must be a finite number >= 0"),
    (dict(eps=float("nan")), "eps must be a finite number >= 0"),
    (dict(eps=0.1, norm=1), "norm must be 2 or inf"),
    (dict(eps=0.1, norm="l3"), "norm must be 2 or inf"),
    (dict(eps=0.1, steps=0), "steps must be an integer >= 1"),
    (dict(eps=0.1, restarts=0), "restarts must be an integer >= 1"),
    (dict(eps=0.1, alpha=0.0), "alpha .* must be a finite number > 0"),
    (dict(eps=0.1, alpha=-1.0), "alpha .* must be a finite number > 0"),
])
def test_bad_arguments_raise(kwargs, match):
    net, X, y = random_problem(0, n=10)
    with pytest.raises(ValueError, match=match):
        pgd_attack(net, X, y, **kwargs)


def test_bad_data_raise():
    net, X, y = random_problem(0, n=10)
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        pgd_attack(net, X, y[:5], 0.1)
    with pytest.raises(ValueError, match="X must have shape"):
        pgd_attack(net, X[0], y, 0.1)
    Xn = X.clone()
    Xn[0, 0] = float("nan")
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        pgd_attack(net, Xn, y, 0.1)
    yn = y.clone()
    yn[3] = float("nan")
    with pytest.raises(ValueError, match="y contains 1 NaN"):
        pgd_attack(net, X, yn, 0.1)
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        random_search_attack(net, X, y, 0.1, samples=0)
    with pytest.raises(ValueError, match="lipschitz must be a finite number >= 0"):
        certified_squared_error_bound(net, X, y, 0.1, -1.0)
    with pytest.raises(ValueError, match=r"got shape \(10, 2\)"):
        pgd_attack(nn.Linear(3, 2).to(DTYPE), X, y, 0.1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        pgd_attack(lambda x: x.sum(1), X, y, 0.1)


def test_pgd_under_inference_mode_equals_normal_mode():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
    X = torch.randn(30, 2, dtype=torch.float64)
    y = torch.randn(30, dtype=torch.float64)
    ref = pgd_attack(net, X, y, 0.3, steps=5, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        got = pgd_attack(net, X, y, 0.3, steps=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(got.loss, ref.loss) and torch.equal(got.X_adv, ref.X_adv)
    assert float(got.mse) > float(((net(X).squeeze(-1) - y) ** 2).mean().detach())


def test_pgd_under_inference_mode_accepts_arrays_and_lists():
    """Outside inference mode NumPy arrays and nested lists are accepted; inside, the copy made
    for autograd called ``X.clone()`` and failed with an AttributeError."""
    net, X, y = random_problem(9, n=5)
    ref = pgd_attack(net, X.numpy(), y.numpy(), 0.3, steps=3, random_start=False)
    ref_list = pgd_attack(net, X.tolist(), y.tolist(), 0.3, steps=3, random_start=False)
    with torch.inference_mode():
        got = pgd_attack(net, X.numpy(), y.numpy(), 0.3, steps=3, random_start=False)
        got_list = pgd_attack(net, X.tolist(), y.tolist(), 0.3, steps=3, random_start=False)
    assert torch.equal(got.loss, ref.loss) and torch.equal(got_list.loss, ref_list.loss)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("norm", [2, math.inf])
def test_clip_keeps_the_ball_when_the_point_crosses_zero(dtype, norm):
    """``delta = eps`` rounded to the dtype is above eps (0.1 in float32 is 0.1 + 1.5e-9); when
    ``X + delta`` lands next to 0, where floats are 1e-11 apart, the 64 one-ulp moves towards X
    did not bring it back: PGD's ℓ∞ step returned points 5.6e-10 outside the ball."""
    from torch_lipcvx.attacks import _clip
    X = torch.tensor([[-0.09976521134376526, 0.5], [-0.0998, -0.3], [0.09985, 0.0],
                      [-0.1, 0.25]], dtype=dtype)
    eps = 0.1
    delta = torch.tensor([[eps, eps], [eps, 0.0], [-eps, 0.0], [eps, -eps]], dtype=dtype)
    if norm == 2:
        delta = delta / delta.norm(dim=1, keepdim=True) * eps
    out = _clip(X, delta, eps, norm, None)
    diff = out.to(torch.float64) - X.to(torch.float64)
    size = diff.abs().amax(dim=1) if math.isinf(norm) else diff.norm(dim=1)
    assert float(size.max()) <= eps
    # the point is moved by rounding only, not pulled far inside the ball
    assert float(size.min()) >= eps * (1 - 8 * torch.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("norm", [2, "inf"])
def test_ball_holds_exactly_on_random_problems_below_float64(dtype, norm):
    """The property behind the test above, on seeded random problems and both attacks."""
    for seed in range(8):
        net, X, y = random_problem(seed, n=40, d=1 + seed % 4)
        net = net.to(dtype)
        g = torch.Generator().manual_seed(seed)
        for eps in (0.1, 0.3337):
            for res in (pgd_attack(net, X, y, eps, norm, steps=5, restarts=2, generator=g),
                        random_search_attack(net, X, y, eps, norm, samples=5, generator=g)):
                diff = res.X_adv.to(torch.float64) - X.to(dtype).to(torch.float64)
                size = diff.abs().amax(dim=1) if norm == "inf" else diff.norm(dim=1)
                assert float(size.max()) <= eps, (seed, eps)
                assert bool((res.loss >= clean_loss(net, X.to(dtype), y.to(dtype))).all())


class _Wrapped(nn.Module):
    """A model whose input width its structure does not tell (not a Linear/Sequential)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1).double()

    def forward(self, x):
        return self.lin(x)


def test_wrong_width_of_any_module_is_a_named_error():
    # a ShallowReLU/Linear/Sequential is checked up front; any other module when it fails on X
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"the model could not be evaluated on X of shape "
                                         r"\(5, 3\) \(does X have the number of columns"):
        pgd_attack(_Wrapped(), X, y, 0.1)
    with pytest.raises(ValueError, match=r"X has no columns: it has shape \(5, 0\)"):
        certified_squared_error_bound(_Wrapped(), X[:, :0], y, 0.1, 1.0)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\) to match the model's input "
                                         r"size, got shape \(5, 3\)"):
        pgd_attack(nn.Sequential(nn.Linear(2, 1)).double(), X, y, 0.1)


def test_nonfinite_parameters_and_overflow_are_named_errors():
    X, y = torch.randn(5, 2, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    model = _Wrapped()
    with torch.no_grad():
        model.lin.bias.fill_(math.nan)
    with pytest.raises(ValueError, match=r"model parameter 'lin\.bias' contains 1 NaN/Inf"):
        pgd_attack(model, X, y, 0.1)
    with torch.no_grad():
        model.lin.bias.fill_(1e200)     # finite, but its square is not a float64
    with pytest.raises(ValueError, match=r"squared error \(f\(x\) - y\)\^2 of the model on "
                                         r"\(X, y\) overflows"):
        pgd_attack(model, X, y, 0.1)
    with torch.no_grad():
        model.lin.bias.fill_(1e150)     # the clean errors fit; the certified bound does not
    with pytest.raises(ValueError, match=r"certified bound .* overflows torch\.float64"):
        certified_squared_error_bound(model, X, y, 1.0, 1e160)
