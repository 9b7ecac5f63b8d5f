"""Vector outputs and convex losses (issue 29): the model, the k-output LipSDP against sampled
Jacobians, the restriction (12) for every loss against the plain cvxpy program, and
postprocess(loss=...) with its guarantee."""

import copy
import math

import pytest
import torch
from torch import nn

import torch_lipcvx as tl
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.lipsdp_vector import certify_t_vector
from torch_lipcvx._engine.loss_barrier import (CvxpyLossProgram6, CvxpyLossRestriction,
                                               LossBarrier, directions, directions_to_weights,
                                               restriction_metric)
from torch_lipcvx.bounds import lipsdp, naive_bound
from torch_lipcvx.losses import Huber, get_loss
from torch_lipcvx.objective import check_inputs, score
from torch_lipcvx.models import (ShallowWeights, activation_patterns, realised_gradient_norms,
                                 realised_jacobian_norms)

f64 = torch.float64


# ------------------------------------------------------------------------------ the model
def test_vector_model_matches_its_sequential_and_round_trips():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4))
    net = tl.ShallowReLU.from_sequential(seq)
    X = torch.randn(9, 3)
    assert net.out_features == 4 and net(X).shape == (9, 4) and net(X[0]).shape == (4,)
    torch.testing.assert_close(net(X), seq(X), rtol=0, atol=0)
    torch.testing.assert_close(net.to_sequential()(X), seq(X), rtol=0, atol=0)
    w = net.weights()
    assert w.k == 4 and w.A.shape == (5, 4) and w.c.shape == (4,)
    torch.testing.assert_close(tl.ShallowReLU.from_weights(w)(X), net(X), rtol=0, atol=0)
    torch.testing.assert_close(w.output(2).alpha, w.A[:, 2])
    J = net.input_gradients(X)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(net, X[i])
        torch.testing.assert_close(J[i], jac)


def test_one_output_is_unchanged():
    torch.manual_seed(1)
    a = tl.ShallowReLU(3, 4)
    torch.manual_seed(1)
    b = tl.ShallowReLU(3, 4, out_features=1)
    X = torch.randn(5, 3)
    assert a(X).shape == (5,) and torch.equal(a(X), b(X))
    assert a.weights().alpha.shape == (4,) and a.weights().c.dim() == 0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_out_features_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        tl.ShallowReLU(3, 4, out_features=bad)


def test_inconsistent_vector_weights_are_named():
    with pytest.raises(ValueError, match="inconsistent weight shapes"):
        ShallowWeights(torch.zeros(3, 2), torch.zeros(3), torch.zeros(3, 2), torch.zeros(3))


# ------------------------------------------------------------------------------ certificates
@pytest.mark.parametrize("seed", range(6))
def test_vector_lipsdp_is_between_sampled_jacobians_and_the_naive_bound(seed):
    g = torch.Generator().manual_seed(seed)
    d, m, k = 2 + seed % 3, 6 + seed, 2 + seed % 3
    net = tl.ShallowReLU(d, m, out_features=k, dtype=f64, generator=g)
    w = net.weights()
    cert = lipsdp(w)
    X = torch.randn(3000, d, generator=g, dtype=f64) * 3
    low = float(realised_jacobian_norms(X, w.W, w.b, w.A, 2).max())
    assert low <= cert.L <= naive_bound(w, 2)
    # autograd Jacobians of the module agree (spectral norm never above the certificate)
    for x in X[:20]:
        assert float(torch.linalg.matrix_norm(
            torch.autograd.functional.jacobian(net, x), ord=2)) <= cert.L * (1 + 1e-12)
    iv = tl.lipschitz_bounds(net, X=X[:200])
    assert iv.lower <= iv.upper and iv.upper == pytest.approx(cert.L, rel=1e-9)


def test_vector_lipsdp_solvers_agree_and_a_zero_column_gives_the_scalar_value():
    g = torch.Generator().manual_seed(3)
    w = tl.ShallowReLU(4, 10, out_features=3, dtype=f64, generator=g).weights()
    clar = lipsdp(w, solver="CLARABEL").rho
    tor = lipsdp(w, solver="torch").rho
    auto = lipsdp(w).rho
    # both within their stated accuracy of the SDP optimum (Newton: a 1e-7 relative gap;
    # Clarabel: its 1e-8 tolerances), and the Newton method's lower bound is below both
    assert tor == pytest.approx(clar, rel=1e-6)
    assert lipsdp(w).rho_lower <= min(clar, tor)
    assert auto == tor
    s = tl.ShallowReLU(4, 10, dtype=f64, generator=g).weights()
    wide = ShallowWeights(s.W, s.b, torch.stack([s.alpha, torch.zeros_like(s.alpha)], 1))
    assert lipsdp(wide, solver="CLARABEL").rho == pytest.approx(lipsdp(s).rho, rel=1e-6)


def test_certify_t_vector_repairs_or_refuses_a_bad_t():
    g = torch.Generator().manual_seed(4)
    w = tl.ShallowReLU(3, 5, out_features=2, dtype=f64, generator=g).weights()
    tiny = torch.full((5,), 1e-9, dtype=f64)
    with pytest.raises(ValueError, match="does not certify"):
        certify_t_vector(w.W, w.A, tiny, repair=False)
    rho, t, repaired = certify_t_vector(w.W, w.A, tiny)
    assert repaired and rho >= lipsdp(w).rho * (1 - 1e-9)


def test_linf_bounds_of_k_outputs_are_the_max_over_outputs():
    g = torch.Generator().manual_seed(5)
    net = tl.ShallowReLU(3, 6, out_features=3, dtype=f64, generator=g)
    iv = tl.lipschitz_bounds(net, norm="inf")
    per = [tl.lipschitz_bounds(tl.ShallowReLU.from_weights(net.weights().output(r)), norm="inf")
           for r in range(3)]
    assert iv.upper == max(p.upper for p in per) and iv.lower == max(p.lower for p in per)
    X = torch.randn(2000, 3, generator=g, dtype=f64) * 3
    w = net.weights()
    assert float(realised_jacobian_norms(X, w.W, w.b, w.A, math.inf).max()) <= iv.upper


def test_one_column_jacobian_norms_are_the_gradient_norms():
    g = torch.Generator().manual_seed(6)
    w = tl.ShallowReLU(4, 7, dtype=f64, generator=g).weights()
    X = torch.randn(50, 4, generator=g, dtype=f64)
    for norm, q in ((2, 2.0), (math.inf, 1.0)):
        a = realised_jacobian_norms(X, w.W, w.b, w.A, norm)
        b = realised_gradient_norms(X, w.W, w.b, w.alpha, q)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ the restriction (12)
LOSS_CASES = [("squared", 1), ("squared", 3), (Huber(0.5), 1), (Huber(0.5), 2),
              ("logistic", 1), ("cross_entropy", 3)]


def _instance(loss_name, k, seed, n=50, d=3, m=7):
    g = torch.Generator().manual_seed(seed)
    loss = get_loss(loss_name)
    X = torch.randn(n, d, generator=g, dtype=f64)
    w = tl.ShallowReLU(d, m, out_features=k, dtype=f64, generator=g).weights()
    if loss.classification:
        y = torch.randint(0, max(k, 2), (n,), generator=g)
    else:
        y = torch.randn(n, k, generator=g, dtype=f64) if k > 1 else torch.randn(n, generator=g,
                                                                                 dtype=f64)
    return loss, X, loss.targets(y, n, k), w


@pytest.mark.parametrize("loss_name, k", LOSS_CASES)
@pytest.mark.parametrize("lam, beta", [(0.1, 1e-3), (0.1, 0.0), (0.0, 1e-2)])
def test_torch_restriction_matches_the_plain_cvxpy_program(loss_name, k, lam, beta):
    for seed in (0, 1):
        loss, X, y, w = _instance(loss_name, k, seed)
        D = activation_patterns(X, w)
        t = torch.as_tensor(lipsdp(w).t)
        bar = LossBarrier(X, y, D, w.A, loss, output_bias=True)
        W, c, rho, info = bar.solve_restriction(t, lam, beta, w.W_tilde, w.c)
        assert info.status == "optimal"
        M = restriction_metric(w.A, t)

        def value(Wx, cx):
            Wb = Wx[:, :-1]
            return (bar.model_loss(Wx, cx) + 0.5 * beta * float((Wx * Wx).sum())
                    + lam * float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1]))

        start = value(w.W_tilde, w.c)
        assert info.value <= start
        assert info.value == pytest.approx(value(W, c), rel=1e-12)
        assert bool((bar.cone_rows(W) >= 0).all())          # the patterns hold exactly
        Wc, cc, _, _ = CvxpyLossRestriction(X.numpy(), y.numpy(), D.numpy(), w.A.numpy(), loss,
                                            lam, beta, True).solve(t.numpy())
        ref = value(torch.as_tensor(Wc), torch.as_tensor(cc))
        # both within their tolerances of one optimum (cvxpy's point may bend a row by ~1e-9)
        assert info.value == pytest.approx(ref, rel=1e-6)


def test_squared_loss_of_one_output_agrees_with_the_scalar_barrier():
    loss, X, y, w = _instance("squared", 1, 7)
    D = activation_patterns(X, w)
    t = torch.as_tensor(lipsdp(w).t)
    a = LossBarrier(X, y, D, w.A, loss, output_bias=True).solve_restriction(
        t, 0.1, 1e-3, w.W_tilde, w.c)
    b = PatternBarrier(X, y, D, w.alpha, output_bias=True).solve_restriction(
        w.alpha, t, 0.1, 1e-3, w.W_tilde, w.c)
    assert a[3].value == pytest.approx(b[3].value, rel=1e-8)


@pytest.mark.parametrize("loss_name, k", LOSS_CASES)
def test_program6_torch_matches_cvxpy_and_is_never_worse_than_the_network(loss_name, k):
    loss, X, y, w = _instance(loss_name, k, 21)
    D = activation_patterns(X, w)
    U, norms = directions(w.A)
    V0 = norms[:, None] * w.W_tilde
    beta = 1e-2
    bar = LossBarrier(X, y, D, U, loss, output_bias=True)
    V, c, info = bar.solve_program6(beta, V0, w.c)
    assert info.status == "optimal" and bool((bar.cone_rows(V) >= 0).all())
    Vc, cc, _ = CvxpyLossProgram6(X.numpy(), y.numpy(), D.numpy(), U.numpy(), loss, beta,
                                  True).solve()

    def value(Vx, cx):
        return bar.model_loss(Vx, cx) + beta * float(torch.linalg.vector_norm(Vx, dim=1).sum())

    assert info.value == pytest.approx(value(torch.as_tensor(Vc), torch.as_tensor(cc)), rel=1e-6)
    # the map back is a network with the program's value as J (λ = 0), at most the start's J
    Wt, A = directions_to_weights(V, U)
    net_w = ShallowWeights.from_tilde(Wt, A[:, 0] if k == 1 else A, c.reshape(()) if k == 1
                                      else c)
    J = score(net_w, X, y, lam=0.0, beta=beta, rho=0.0, loss=loss).value
    J0 = score(w, X, y, lam=0.0, beta=beta, rho=0.0, loss=loss).value
    assert J == pytest.approx(info.value, rel=1e-9) and J <= J0


# ------------------------------------------------------------------------------- postprocess
@pytest.mark.parametrize("loss_name, k", LOSS_CASES)
def test_postprocess_never_raises_J_and_leaves_the_model_alone(loss_name, k):
    loss, X, y, w = _instance(loss_name, k, 11, n=80)
    net = tl.ShallowReLU.from_weights(w, dtype=torch.float32)
    before = copy.deepcopy(net.state_dict())
    res = tl.postprocess(net, X.float(), y, lam=0.05, beta=1e-3, loss=loss, max_iter=4)
    J = [h.objective for h in res.history]
    assert all(b <= a for a, b in zip(J, J[1:])) and J[-1] < J[0]
    assert all(torch.equal(v, net.state_dict()[key]) for key, v in before.items())
    out = res.model
    assert out.out_features == k and out.dtype == torch.float32
    # the reported J is the returned model's, scored with the reported certificate, and that
    # certificate is valid: never below a sampled Jacobian norm of the returned model
    _, w2, X2, y2, _, _ = check_inputs(out, X.float(), y, 0.05, 1e-3, loss)
    assert score(w2, X2, y2, lam=0.05, beta=1e-3, rho=res.certificate.rho,
                 loss=loss).value == pytest.approx(J[-1], rel=1e-12)
    Xs = torch.cat([X, 3 * torch.randn(2000, X.shape[1], dtype=f64)])
    low = float(realised_jacobian_norms(Xs, w2.W, w2.b, w2.A, 2).max())
    assert low ** 2 <= res.certificate.rho


def test_postprocess_with_a_cvxpy_solver_and_lam_zero():
    loss, X, y, w = _instance("cross_entropy", 3, 12, n=60)
    net = tl.ShallowReLU.from_weights(w)
    res = tl.postprocess(net, X, y, lam=0.05, beta=1e-3, loss="ce", max_iter=2,
                         solver="CLARABEL")
    assert res.history[-1].objective <= res.history[0].objective
    res0 = tl.postprocess(net, X, y, lam=0.0, beta=1e-3, loss="ce")
    assert res0.history[-1].objective < res0.history[0].objective
    assert res0.message == "solved program (6)"
    with pytest.raises(ValueError, match="beta > 0 or lam > 0"):
        tl.postprocess(net, X, y, lam=0.0, beta=0.0, loss="ce")


@pytest.mark.parametrize("loss, k, y, match", [
    ("cross_entropy", 3, [0, 1, 5], r"labels must lie in \[0, 3\)"),
    ("logistic", 3, [0, 1, 1], "one output"),
    ("squared", 3, [0.0, 1.0, 2.0], r"shape \(3, 3\)"),
])
def test_postprocess_names_bad_targets_before_any_work(loss, k, y, match):
    net = tl.ShallowReLU(2, 4, out_features=k)
    with pytest.raises(ValueError, match=match):
        tl.postprocess(net, torch.randn(3, 2), torch.tensor(y), lam=0.1, loss=loss)


@pytest.mark.parametrize("loss_name, k", LOSS_CASES)
def test_the_interior_points_gradient_and_hessian_are_the_objectives(loss_name, k):
    from torch_lipcvx._engine.loss_barrier import _LossObjective
    loss, X, y, w = _instance(loss_name, k, 31, n=20, d=2, m=3)
    D = activation_patterns(X, w)
    bar = LossBarrier(X, y, D, w.A, loss, output_bias=True, chunk=7)
    fobj = _LossObjective(bar, bar.A, torch.tensor([0.3], dtype=f64), 0.01)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(w.m * (w.d + 1) + k + 1, generator=g, dtype=f64)

    def f(v):
        W = v[: w.m * (w.d + 1)].reshape(w.m, w.d + 1)
        Z = torch.where(bar.D, bar.Xt @ W.T, torch.zeros((), dtype=f64))
        F = Z @ bar.A + v[w.m * (w.d + 1): -1]
        return loss.value(F, y).mean() + 0.005 * (W * W).sum() + 0.3 * v[-1]

    grad = torch.autograd.functional.jacobian(f, x)
    hess = torch.autograd.functional.hessian(f, x)
    torch.testing.assert_close(fobj.gradient(x), grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fobj.hessian(x), hess, rtol=1e-9, atol=1e-12)
    assert fobj.value(x) == pytest.approx(float(f(x)), rel=1e-12)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_postprocess_with_a_loss_follows_the_models_device(device):
    """The torch solvers run where the model lives; the result comes back there and agrees
    with the CPU run within the interior point's tolerance (names contain 'cuda' for
    benchmarks/gpu_check.sh's `pytest -k cuda`)."""
    loss, X, y, w = _instance("cross_entropy", 3, 41, n=60)
    net = tl.ShallowReLU.from_weights(w).to(device)
    res = tl.postprocess(net, X.to(device), y.to(device), lam=0.05, beta=1e-3, loss="ce",
                         max_iter=2)
    assert res.model.device.type == device
    ref = tl.postprocess(tl.ShallowReLU.from_weights(w), X, y, lam=0.05, beta=1e-3, loss="ce",
                         max_iter=2)
    assert res.history[-1].objective == pytest.approx(ref.history[-1].objective, rel=1e-6)


@pytest.mark.parametrize("norm", [2, math.inf])
def test_certified_adversarial_mse_bounds_pgd_for_k_outputs(norm):
    g = torch.Generator().manual_seed(51)
    net = tl.ShallowReLU(3, 8, out_features=3, dtype=f64, generator=g)
    X = torch.randn(30, 3, generator=g, dtype=f64)
    Y = torch.randn(30, 3, generator=g, dtype=f64)
    adv = tl.adversarial_mse(net, X, Y, 0.3, norm=norm, steps=30)
    cert = tl.certified_adversarial_mse(net, X, Y, 0.3, norm=norm)
    with torch.no_grad():
        clean = float(((net(X) - Y) ** 2).sum(1).mean())
    assert clean <= float(adv) <= float(cert)
    m = tl.CertifiedAdversarialMSE(eps=0.3, norm=norm)
    m.update(net, X, Y)
    assert float(m.compute()) == pytest.approx(float(cert), rel=1e-12)


@pytest.mark.parametrize("call", ["postprocess_extended", "alpha_step", "sampled_lipschitz",
                                  "regularisation_path", "solve_l2_program"])
def test_one_output_methods_refuse_k_outputs_by_name(call):
    net = tl.ShallowReLU(3, 6, out_features=3)
    X, Y = torch.randn(20, 3), torch.randn(20, 3)
    kwargs = {"regularisation_path": {"lams": [0.1]}, "solve_l2_program": {"beta": 0.1}}.get(
        call, {"lam": 0.1})
    with pytest.raises(ValueError, match=f"{call}.*one output.*3 outputs"):
        getattr(tl, call)(net, X, Y, **kwargs)
