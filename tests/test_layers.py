"""The differentiable LipSDP certificate (torch_lipcvx.layers) and SGD-lip (torch_lipcvx.train;
docs/lipsdp.md §9).

Every check is in float64 on tiny networks (m ≤ 6, d ≤ 3) and compares the CvxpyLayer path with
an independent computation: LipSDP solved by Clarabel through plain cvxpy (``lipsdp``) for values,
central finite differences of that same function for gradients, the Schur form of the program for
the reduced form's derived parameters, and exact identities of ρ* (rescaling invariance,
homogeneity). Tolerances, and what they were measured at when written:

* values: layer vs Clarabel ``lipsdp`` within 1e-5 relative (observed ≤ 2e-9 on N(0, 1) weights,
  1.6e-6 on PyTorch-initialised ones, where the *layer* is lower: both values are certified, and
  Clarabel's absolute gap tolerance leaves its ``t`` slightly suboptimal when ρ* ≪ 1);
* gradients vs central finite differences (h = 1e-4) of Clarabel ``lipsdp``: max-abs error
  ≤ 1e-4 of the largest gradient entry (observed 2e-7 to 1e-5 over five networks, default and
  tight SCS alike; the residual is the reference's noise: the reduced and Schur forms of the
  layer agree to 1e-8 where finite differences scatter by 1e-5 as h changes).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from torch_lipcvx import lipsdp
from torch_lipcvx.bounds import certify_t, lmi_max_eig
from torch_lipcvx.layers import LipSDPLayer, dual_certificate, lipschitz_penalty
from torch_lipcvx.models import ShallowReLU, ShallowWeights
from torch_lipcvx._engine.programs import LipSDPProgram
from torch_lipcvx.train import TrainResult, l2_penalty, train_sgd, train_sgd_lip

from conftest import make_instance

# cvxpylayers 1.2 converts tensors with np.array(...) under NumPy 2 (its backward, not our code)
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

DTYPE = torch.float64
TIGHT = {"eps_abs": 1e-10, "eps_rel": 1e-10}
VALUE_RTOL = 1e-5
GRAD_RTOL = 1e-4


def random_net(seed: int, m: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, d, generator=g, dtype=DTYPE),
            torch.randn(m, generator=g, dtype=DTYPE))


def ref_rho(W: torch.Tensor, alpha: torch.Tensor, program=None) -> float:
    """Clarabel LipSDP through plain cvxpy, re-verified in float64 (the reference)."""
    w = ShallowWeights(W.detach(), torch.zeros(W.shape[0], dtype=DTYPE), alpha.detach())
    return lipsdp(w, solver="CLARABEL", program=program).rho


def fd_gradients(W: torch.Tensor, alpha: torch.Tensor, h: float = 1e-4):
    """Central finite differences of Clarabel's ``lipsdp(...).rho`` in every weight."""
    program = LipSDPProgram(*W.shape)
    gW, ga = torch.zeros_like(W), torch.zeros_like(alpha)
    for idx in [(i, j) for i in range(W.shape[0]) for j in range(W.shape[1])]:
        Wp, Wm = W.clone(), W.clone()
        Wp[idx] += h
        Wm[idx] -= h
        gW[idx] = (ref_rho(Wp, alpha, program) - ref_rho(Wm, alpha, program)) / (2 * h)
    for j in range(alpha.shape[0]):
        ap, am = alpha.clone(), alpha.clone()
        ap[j] += h
        am[j] -= h
        ga[j] = (ref_rho(W, ap, program) - ref_rho(W, am, program)) / (2 * h)
    return gW, ga


def layer_gradients(layer, W, alpha, **kw):
    Wr, ar = W.clone().requires_grad_(True), alpha.clone().requires_grad_(True)
    rho = layer(Wr, ar, **kw)
    rho.backward()
    return rho.detach(), Wr.grad, ar.grad


def sine_task(seed: int = 0, n: int = 60, d: int = 2):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=DTYPE) * 2 - 1
    y = torch.sin(3 * X[:, 0]) + 0.1 * torch.randn(n, generator=g, dtype=DTYPE)
    return X, y


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def layer53():
    return LipSDPLayer(5, 3)


# ------------------------------------------------------------------------------ values
@pytest.mark.parametrize("seed,m,d", [(0, 3, 1), (1, 4, 2), (2, 5, 3), (3, 6, 3)])
def test_value_matches_clarabel_lipsdp_and_t_certifies(seed, m, d):
    W, alpha = random_net(seed, m, d)
    res = LipSDPLayer(m, d).solve(W, alpha)
    ref = ref_rho(W, alpha)
    assert res.rho.shape == () and res.rho.dtype == DTYPE
    assert abs(float(res.rho) / ref - 1) < VALUE_RTOL
    assert abs(float(res.solver_rho) / ref - 1) < VALUE_RTOL
    # the returned t is in the network's own scale and certifies the returned value
    rho_t, _, repaired = certify_t(W, alpha, res.t, repair=False)
    assert not repaired and math.isclose(rho_t, float(res.rho), rel_tol=1e-9)
    assert lmi_max_eig(W, alpha, res.t, float(res.rho) * (1 + 1e-9)) <= 1e-9 * float(res.rho)


def test_reduced_and_schur_forms_agree_in_value_and_gradient():
    """The reduced form's parameters are derived from (W, α) in torch; the Schur form takes
    (W, α) directly, so agreement checks the derivation and its chain rule."""
    W, alpha = random_net(7, 5, 3)
    r1, gW1, ga1 = layer_gradients(LipSDPLayer(5, 3, solver_args=TIGHT), W, alpha)
    r2, gW2, ga2 = layer_gradients(LipSDPLayer(5, 3, form="schur", solver_args=TIGHT), W, alpha)
    assert math.isclose(float(r1), float(r2), rel_tol=1e-8)
    scale = float(torch.cat([gW1.flatten(), ga1]).abs().max())
    assert float((gW1 - gW2).abs().max()) < 1e-6 * scale
    assert float((ga1 - ga2).abs().max()) < 1e-6 * scale


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("seed,m,d,args,trained", [(0, 5, 3, TIGHT, False),
                                                    (11, 4, 2, None, False),
                                                    (0, 6, 2, None, True)],
                         ids=["randn-m5-d3-tight", "randn-m4-d2-default", "trained-m6-d2-default"])
def test_gradient_matches_finite_differences_of_clarabel(seed, m, d, args, trained):
    """The trained case has a unit almost orthogonal to the top eigenvector (an ill-conditioned
    backward system): diffcp's default LSQR backward was off by 2e-3 there; dense mode is not."""
    if trained:
        w = make_instance(seed, 60, d, m)[0].weights()
        W, alpha = w.W, w.alpha
    else:
        W, alpha = random_net(seed, m, d)
    _, gW, ga = layer_gradients(LipSDPLayer(m, d, solver_args=args), W, alpha)
    fW, fa = fd_gradients(W, alpha)
    scale = float(torch.cat([fW.flatten(), fa]).abs().max())
    assert float((gW - fW).abs().max()) <= GRAD_RTOL * scale
    assert float((ga - fa).abs().max()) <= GRAD_RTOL * scale


def test_gradcheck_tight_solver():
    W, alpha = random_net(4, 4, 2)
    layer = LipSDPLayer(4, 2, solver_args=TIGHT)
    assert torch.autograd.gradcheck(lambda W, a: layer(W, a), (W.requires_grad_(),
                                                               alpha.requires_grad_()),
                                    eps=1e-5, atol=1e-6, rtol=1e-5)


def test_euler_identities_of_the_gradient(layer53):
    """ρ* is 2-homogeneous in W̄ and in α, and invariant under per-unit rescaling, so
    ⟨W̄, ∇_W̄ρ⟩ = ⟨α, ∇_αρ⟩ = 2ρ and w̄_j·∇_{w̄_j}ρ = α_j ∂ρ/∂α_j for every unit."""
    W, alpha = random_net(5, 5, 3)
    rho, gW, ga = layer_gradients(layer53, W, alpha)
    assert math.isclose(float((W * gW).sum()), 2 * float(rho), rel_tol=1e-6)
    assert math.isclose(float((alpha * ga).sum()), 2 * float(rho), rel_tol=1e-6)
    torch.testing.assert_close((W * gW).sum(1), alpha * ga, rtol=1e-6, atol=1e-8 * float(rho))


# ------------------------------------------------------------------------------ invariance
def test_positive_unit_rescaling_leaves_rho_unchanged(layer53):
    W, alpha = random_net(6, 5, 3)
    c = torch.tensor([0.1, 3.0, 1.0, 7.5, 0.02], dtype=DTYPE)
    rho, gW, ga = layer_gradients(layer53, W, alpha)
    rho_c, gW_c, ga_c = layer_gradients(layer53, W * c[:, None], alpha / c)
    assert math.isclose(float(rho_c), float(rho), rel_tol=1e-9)
    assert math.isclose(ref_rho(W * c[:, None], alpha / c), float(rho), rel_tol=VALUE_RTOL)
    # gradients transform covariantly: ∂ρ/∂(c w) = (∂ρ/∂w)/c, ∂ρ/∂(α/c) = c ∂ρ/∂α (up to SCS
    # noise, which the 1/c = 50 of the last unit amplifies)
    scale = float(torch.cat([(gW / c[:, None]).flatten(), ga * c]).abs().max())
    assert float((gW_c - gW / c[:, None]).abs().max()) <= 1e-6 * scale
    assert float((ga_c - ga * c).abs().max()) <= 1e-6 * scale


def test_units_with_zero_alpha_or_zero_weights_are_removed():
    W, alpha = random_net(2, 6, 3)
    W[1] = 0.0
    alpha[3] = 0.0
    layer = LipSDPLayer(6, 3)
    rho, gW, ga = layer_gradients(layer, W, alpha)
    keep = [0, 2, 4, 5]
    assert abs(float(rho) / ref_rho(W[keep], alpha[keep]) - 1) < VALUE_RTOL
    assert torch.equal(gW[[1, 3]], torch.zeros(2, 3, dtype=DTYPE))
    assert ga[1] == 0 and ga[3] == 0
    res = layer.solve(W, alpha)
    assert res.t[1] == 0 and res.t[3] == 0
    # a network with no active unit has ρ* = 0 and finite (zero) gradients
    rho0, gW0, ga0 = layer_gradients(layer, torch.zeros(6, 3, dtype=DTYPE), alpha)
    assert float(rho0) == 0.0 and torch.equal(gW0, torch.zeros_like(gW0))
    assert torch.equal(ga0, torch.zeros_like(ga0))


# ------------------------------------------------------------------------------ batching
def test_batch_of_three_equals_three_single_calls(layer53):
    g = torch.Generator().manual_seed(9)
    Wb = torch.randn(3, 5, 3, generator=g, dtype=DTYPE, requires_grad=True)
    ab = torch.randn(3, 5, generator=g, dtype=DTYPE, requires_grad=True)
    rho_b = layer53(Wb, ab)
    assert rho_b.shape == (3,)
    rho_b.sum().backward()
    rho_b = rho_b.detach()
    for i in range(3):
        rho_i, gW_i, ga_i = layer_gradients(layer53, Wb[i].detach(), ab[i].detach())
        assert math.isclose(float(rho_b[i]), float(rho_i), rel_tol=1e-9)
        torch.testing.assert_close(Wb.grad[i], gW_i, rtol=1e-7, atol=1e-10)
        torch.testing.assert_close(ab.grad[i], ga_i, rtol=1e-7, atol=1e-10)
    # an unbatched input broadcasts against a batched one
    rho_bc = layer53(Wb.detach(), ab[0].detach())
    for i in range(3):
        assert math.isclose(float(rho_bc[i]), float(layer53(Wb[i].detach(), ab[0].detach())),
                            rel_tol=1e-9)


def test_float32_inputs_give_float32_output_and_gradients(layer53):
    W, alpha = random_net(1, 5, 3)
    W32, a32 = W.float().requires_grad_(), alpha.float().requires_grad_()
    rho = layer53(W32, a32)
    rho.backward()
    assert rho.dtype == torch.float32 and W32.grad.dtype == torch.float32
    W64, a64 = W32.detach().double(), a32.detach().double()
    assert math.isclose(float(rho.detach()), ref_rho(W64, a64), rel_tol=1e-5)
    # rounded up, not to nearest: still an upper bound on the float64 certificate
    assert float(rho.detach()) >= float(layer53(W64, a64))


# ------------------------------------------------------------------------------ convenience
def test_lipschitz_penalty_flows_into_the_module_parameters():
    net = ShallowReLU(3, 5, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(3))
    layer = LipSDPLayer(5, 3)
    rho = lipschitz_penalty(net, layer)
    assert rho.shape == () and abs(float(rho.detach()) / lipsdp(net.weights()).rho - 1) < VALUE_RTOL
    rho.backward()
    assert net.hidden.weight.grad is not None and net.output.weight.grad is not None
    assert net.hidden.bias.grad is None  # biases do not enter ρ*
    seq = net.to_sequential()
    rho_seq = lipschitz_penalty(seq, solver="SCS")       # builds its own layer
    rho_seq.backward()
    assert math.isclose(float(rho_seq.detach()), float(rho.detach()), rel_tol=1e-9)
    torch.testing.assert_close(seq[0].weight.grad, net.hidden.weight.grad)


# ------------------------------------------------------------------------------ SGD-lip
def test_train_sgd_lip_lowers_objective_and_certified_L():
    X, y = sine_task()
    net0 = ShallowReLU(2, 6, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(5))
    before = net0.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    lam = 0.1
    res = train_sgd_lip(net0, X, y, lam=lam, epochs=30, lr=2e-2, seed=0)
    assert isinstance(res, TrainResult) and len(res.history) == 30
    assert set(res.history[-1]) == {"epoch", "loss", "mse", "rho"}
    # the input model is untouched
    assert all(torch.equal(net0.state_dict()[k], v) for k, v in before.items())
    # the objective at the start vs the end (both with certified ρ*)
    with torch.no_grad():
        start = float((net0(X) - y).pow(2).mean()) + lam * lipsdp(net0.weights()).rho
    last = res.history[-1]
    assert last["loss"] < start
    assert math.isclose(last["loss"], last["mse"] + lam * last["rho"], rel_tol=1e-12)
    assert abs(last["rho"] / lipsdp(res.model.weights()).rho - 1) < VALUE_RTOL
    # a smaller certified L than plain SGD with the same seed, epochs and lr
    sgd = train_sgd(net0, X, y, epochs=30, lr=2e-2, seed=0)
    assert lipsdp(res.model.weights()).L < 0.9 * lipsdp(sgd.model.weights()).L


def test_train_sgd_lip_is_reproducible_and_reduces_to_sgd_at_lam_zero():
    X, y = sine_task(1)
    a = train_sgd_lip(None, X, y, lam=0.05, hidden=4, beta=1e-3, epochs=8, seed=3)
    b = train_sgd_lip(None, X, y, lam=0.05, hidden=4, beta=1e-3, epochs=8, seed=3)
    assert same_weights(a.model, b.model) and a.history == b.history
    # λ = 0: the same full-batch Adam steps as train_sgd, bit for bit
    z = train_sgd_lip(None, X, y, lam=0.0, hidden=4, beta=1e-3, epochs=8, seed=3)
    s = train_sgd(None, X, y, hidden=4, beta=1e-3, epochs=8, seed=3)
    assert same_weights(z.model, s.model)
    assert math.isclose(z.history[-1]["mse"], s.history[-1]["mse"], rel_tol=1e-12)
    last = z.history[-1]
    assert math.isclose(last["loss"], last["mse"] + 0.5e-3 * float(l2_penalty(z.model).detach()),
                        rel_tol=1e-12)


# ------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("kwargs,match", [
    ({"m": 0, "d": 2}, "m must be a positive integer"),
    ({"m": 3, "d": 2.5}, "d must be a positive integer"),
    ({"m": 3, "d": 2, "solver": "CLARABEL"}, "solver must be one of"),
    ({"m": 3, "d": 2, "form": "original"}, "form must be one of"),
    ({"m": 3, "d": 2, "solver_args": [1]}, "solver_args must be a dict"),
    ({"m": 3, "d": 2, "solver_args": {"solve_method": "Clarabel"}}, "must be 'SCS'"),
])
def test_bad_constructor_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LipSDPLayer(**kwargs)


def test_bad_forward_inputs_raise():
    layer = LipSDPLayer(3, 2)
    W, alpha = random_net(0, 3, 2)
    with pytest.raises(ValueError, match=r"W must have shape \(3, 2\)"):
        layer(W.T, alpha)
    with pytest.raises(ValueError, match=r"alpha must have shape \(3,\)"):
        layer(W, alpha[:2])
    with pytest.raises(ValueError, match="different batch sizes"):
        layer(W.expand(2, 3, 2), alpha.expand(4, 3))
    bad = W.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="W contains 1 NaN/Inf"):
        layer(bad, alpha)
    bad_a = alpha.clone()
    bad_a[2] = float("inf")
    with pytest.raises(ValueError, match="alpha contains 1 NaN/Inf"):
        layer(W, bad_a)
    with pytest.raises(ValueError, match="floating-point"):
        layer(W.long(), alpha)
    with pytest.raises(ValueError, match="solver_args must be a dict"):
        layer(W, alpha, solver_args="fast")


def test_iteration_limit_warns_and_value_stays_certified():
    W, alpha = random_net(0, 5, 3)
    layer = LipSDPLayer(5, 3)
    with pytest.warns(RuntimeWarning, match="SCS stopped at its iteration limit"):
        res = layer.solve(W, alpha, solver_args={"max_iters": 5})
    assert bool(res.repaired) and math.isfinite(float(res.rho))
    assert float(res.rho) >= ref_rho(W, alpha) * (1 - VALUE_RTOL)
    assert certify_t(W, alpha, res.t, repair=False)[0] <= float(res.rho) * (1 + 1e-9)


def test_bad_training_and_penalty_inputs_raise():
    X, y = sine_task()
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        train_sgd_lip(None, X, y, lam=-1.0, hidden=3, epochs=1)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        train_sgd_lip(None, X, y, lam=float("nan"), hidden=3, epochs=1)
    Xn = X.clone()
    Xn[0, 0] = float("nan")
    with pytest.raises(ValueError, match="X contains 1 NaN/Inf"):
        train_sgd_lip(None, Xn, y, lam=0.1, hidden=3, epochs=1)
    with pytest.raises(ValueError, match="layer must be a LipSDPLayer for m=3, d=2"):
        train_sgd_lip(None, X, y, lam=0.1, hidden=3, epochs=1, layer=LipSDPLayer(4, 2))
    net = ShallowReLU(2, 3, dtype=DTYPE)
    with pytest.raises(ValueError, match="layer is built for m=4, d=2"):
        lipschitz_penalty(net, LipSDPLayer(4, 2))
    with pytest.raises(ValueError, match="model must be a ShallowReLU"):
        lipschitz_penalty(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="solver must be one of"):
        lipschitz_penalty(net, solver="CLARABEL")
    with pytest.raises(ValueError, match="solver must be one of"):
        train_sgd_lip(None, X, y, lam=0.1, hidden=3, epochs=1, solver="fast")
    bad = net.hidden.weight.detach().clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="W contains 1 NaN/Inf"):
        dual_certificate(bad, net.output.weight[0].detach())
    with pytest.raises(ValueError, match=r"W must be \(m, d\) and alpha \(m,\)"):
        dual_certificate(net.hidden.weight, net.output.weight[0, :2])


# ------------------------------------------------------------------------------ the dual path
def dual_gradients(W, alpha):
    Wr, ar = W.clone().requires_grad_(True), alpha.clone().requires_grad_(True)
    rho, res = dual_certificate(Wr, ar)
    rho.backward()
    return rho.detach(), Wr.grad, ar.grad, res


@pytest.mark.parametrize("seed,m,d,trained", [(0, 5, 3, False), (11, 4, 2, False),
                                               (0, 6, 2, True), (3, 6, 3, False)],
                         ids=["randn-m5-d3", "randn-m4-d2", "trained-m6-d2", "randn-m6-d3"])
def test_dual_gradient_matches_finite_differences_of_clarabel(seed, m, d, trained):
    """Danskin's gradient (torch dual, no cvxpy) against central finite differences of the
    plain cvxpy/Clarabel certificate; the value against Clarabel's."""
    if trained:
        w = make_instance(seed, 60, d, m)[0].weights()
        W, alpha = w.W, w.alpha
    else:
        W, alpha = random_net(seed, m, d)
    rho, gW, ga, res = dual_gradients(W, alpha)
    assert abs(float(rho) / ref_rho(W, alpha) - 1) < VALUE_RTOL
    assert float(rho) == res.rho                     # the certified value, not the dual's
    assert res.rho_lower <= res.rho
    fW, fa = fd_gradients(W, alpha)
    scale = float(torch.cat([fW.flatten(), fa]).abs().max())
    assert float((gW - fW).abs().max()) <= GRAD_RTOL * scale
    assert float((ga - fa).abs().max()) <= GRAD_RTOL * scale


def test_dual_and_layer_gradients_agree_on_a_larger_network():
    """m = 30, d = 5: the fast path against the CvxpyLayer at tight SCS tolerance."""
    W, alpha = random_net(21, 30, 5)
    rho, gW, ga, _ = dual_gradients(W, alpha)
    rho_l, gW_l, ga_l = layer_gradients(LipSDPLayer(30, 5, solver_args=TIGHT), W, alpha)
    assert math.isclose(float(rho), float(rho_l), rel_tol=1e-6)
    scale = float(torch.cat([gW_l.flatten(), ga_l]).abs().max())
    assert float((gW - gW_l).abs().max()) <= 1e-5 * scale
    assert float((ga - ga_l).abs().max()) <= 1e-5 * scale


def test_dual_gradient_satisfies_the_euler_identities():
    W, alpha = random_net(5, 12, 4)
    rho, gW, ga, _ = dual_gradients(W, alpha)
    assert math.isclose(float((W * gW).sum()), 2 * float(rho), rel_tol=1e-8)
    assert math.isclose(float((alpha * ga).sum()), 2 * float(rho), rel_tol=1e-8)
    torch.testing.assert_close((W * gW).sum(1), alpha * ga, rtol=1e-7, atol=1e-10 * float(rho))


def test_dual_path_removes_inactive_units_and_handles_the_trivial_network():
    W, alpha = random_net(2, 6, 3)
    W[1] = 0.0
    alpha[3] = 0.0
    rho, gW, ga, _ = dual_gradients(W, alpha)
    keep = [0, 2, 4, 5]
    assert abs(float(rho) / ref_rho(W[keep], alpha[keep]) - 1) < VALUE_RTOL
    assert torch.equal(gW[[1, 3]], torch.zeros(2, 3, dtype=DTYPE))
    assert ga[1] == 0 and ga[3] == 0
    rho0, gW0, ga0, _ = dual_gradients(torch.zeros(6, 3, dtype=DTYPE), alpha)
    assert float(rho0) == 0.0 and torch.equal(gW0, torch.zeros_like(gW0))
    assert torch.equal(ga0, torch.zeros_like(ga0))


def test_dual_path_float32_is_rounded_up():
    W, alpha = random_net(1, 5, 3)
    W32, a32 = W.float().requires_grad_(), alpha.float().requires_grad_()
    rho, _ = dual_certificate(W32, a32)
    rho.backward()
    assert rho.dtype == torch.float32 and W32.grad.dtype == torch.float32
    assert float(rho.detach()) >= dual_certificate(W32.detach().double(),
                                                   a32.detach().double())[0].item()


def test_penalty_auto_is_the_default_and_falls_back_to_the_layer(monkeypatch):
    net = ShallowReLU(3, 5, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(3))
    rho = lipschitz_penalty(net)                              # "auto": no layer built
    rho.backward()
    g_auto = net.hidden.weight.grad.clone()
    net.zero_grad()
    rho_l = lipschitz_penalty(net, LipSDPLayer(5, 3, solver_args=TIGHT))   # a layer: "SCS"
    rho_l.backward()
    assert math.isclose(float(rho.detach()), float(rho_l.detach()), rel_tol=1e-6)
    torch.testing.assert_close(g_auto, net.hidden.weight.grad, rtol=1e-5, atol=1e-7)

    import torch_lipcvx.layers as layers

    def fails(*args, **kwargs):
        raise RuntimeError("the torch LipSDP method stopped at certified relative gap 1e-3")
    monkeypatch.setattr(layers, "dual_certificate", fails)
    with pytest.warns(RuntimeWarning, match="using LipSDPLayer"):
        rho_f = lipschitz_penalty(net, solver="auto")
    assert math.isclose(float(rho_f.detach()), float(rho_l.detach()), rel_tol=1e-6)


def test_train_sgd_lip_auto_follows_the_layer_path():
    """Same start, same Adam steps: the two differentiable certificates give the same run up to
    the SCS layer's tolerance."""
    X, y = sine_task(2)
    net0 = ShallowReLU(2, 6, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(7))
    a = train_sgd_lip(net0, X, y, lam=0.1, epochs=10, lr=2e-2, seed=0)          # auto
    s = train_sgd_lip(net0, X, y, lam=0.1, epochs=10, lr=2e-2, seed=0, solver="SCS",
                      solver_args=TIGHT)
    for ha, hs in zip(a.history, s.history):
        assert math.isclose(ha["loss"], hs["loss"], rel_tol=1e-6)
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    assert abs(a.history[-1]["rho"] / lipsdp(a.model.weights()).rho - 1) < VALUE_RTOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_dual_path_on_cuda_follows_the_model():
    net = ShallowReLU(3, 8, dtype=DTYPE).reset_parameters(torch.Generator().manual_seed(1))
    ref = lipschitz_penalty(net)
    ref.backward()
    g_cpu = net.hidden.weight.grad.clone()
    net = net.cuda()
    net.zero_grad()
    rho = lipschitz_penalty(net)
    rho.backward()
    assert rho.device.type == "cuda" and net.hidden.weight.grad.device.type == "cuda"
    assert math.isclose(float(rho), float(ref), rel_tol=1e-9)
    torch.testing.assert_close(net.hidden.weight.grad.cpu(), g_cpu, rtol=1e-7, atol=1e-10)


def test_dual_gradient_for_d_above_the_newton_limit():
    """d = 34 > NEWTON_MAX_DIM: the first-order dual (gap ~1e-6) still gives the gradient, checked
    against the layer at tight SCS."""
    W, alpha = random_net(8, 12, 34)
    rho, gW, ga, res = dual_gradients(W, alpha)
    assert res.solver == "torch/apg"
    rho_l, gW_l, ga_l = layer_gradients(LipSDPLayer(12, 34, solver_args=TIGHT), W, alpha)
    assert abs(float(rho) / float(rho_l) - 1) < 1e-5
    scale = float(torch.cat([gW_l.flatten(), ga_l]).abs().max())
    assert float((gW - gW_l).abs().max()) <= 1e-3 * scale
    assert float((ga - ga_l).abs().max()) <= 1e-3 * scale
