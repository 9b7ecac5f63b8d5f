"""The torch solvers of the engine room (torch_lipcvx._engine: lipsdp_dual, barrier) against the
plain cvxpy programs (docs/solvers.md).

Properties: the LipSDP dual's certificate is a valid, re-verified bound no looser than the SDP
solver's (within its gap); the interior point's optimum of (6) and (12) equals cvxpy's and its
point has the patterns exactly; ``solver="auto"`` in postprocess never does worse than its input
and agrees with the default path.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from torch_lipcvx import ShallowReLU, lipsdp, postprocess
from torch_lipcvx.bounds import certify_t, lmi_max_eig
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.lipsdp_dual import lipsdp_dual
from torch_lipcvx._engine.lipsdp_dual import lipsdp_newton
from torch_lipcvx.models import activation_patterns, sign_order
from torch_lipcvx._engine.programs import L2Program, LipschitzRestriction

from conftest import INSTANCES, make_instance

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("m,d,seed", [(20, 3, 0), (60, 5, 1), (200, 8, 2)])
def test_lipsdp_dual_is_a_certified_bound_matching_the_sdp(m, d, seed):
    w = ShallowReLU(d, m, dtype=torch.float64).reset_parameters(
        torch.Generator().manual_seed(seed)).weights()
    rho_up, t, info = lipsdp_dual(w.W, w.alpha, tol=1e-6)
    assert info.lower <= rho_up * (1 + 1e-12)
    rho, t_used, _ = certify_t(w.W, w.alpha, t)
    assert lmi_max_eig(w.W, w.alpha, t_used, rho) <= 1e-9 * rho
    ref = lipsdp(w, solver="CLARABEL")                # cvxpy, reduced form
    # the dual lower bound holds for the SDP optimum, so the SDP's certificate is above it
    assert ref.rho >= info.lower * (1 - 1e-7)
    # never looser than the SDP solver by more than 1e-5 in L; often tighter (Clarabel at its
    # default tolerances stops up to ~1e-4 above ρ*, which the dual lower bound exposes)
    assert rho <= ref.rho * (1 + 2e-5)
    if info.status == "optimal":
        assert rho <= info.lower * (1 + 2e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_lipsdp_newton_closes_the_gap_on_the_data_device(device):
    """The barrier Newton method certifies a 1e-9 gap (the first-order method, 1e-6) and both
    bracket the same ρ*; it runs on the device of W."""
    w = ShallowReLU(6, 150, dtype=torch.float64).reset_parameters(
        torch.Generator().manual_seed(4)).weights()
    rho, t, info = lipsdp_newton(w.W.to(device), w.alpha.to(device))
    assert t.device.type == device and info.status == "optimal"
    assert info.lower <= rho <= info.lower * (1 + 1e-9)
    rho_c, t_used, _ = certify_t(w.W, w.alpha, t.cpu())
    assert lmi_max_eig(w.W, w.alpha, t_used, rho_c) <= 1e-9 * rho_c
    _, _, apg = lipsdp_dual(w.W, w.alpha, tol=1e-6)
    assert apg.lower <= rho_c and info.lower <= apg.value * (1 + 1e-12)


def test_lipsdp_auto_is_certified_and_close():
    net, _, _ = make_instance(3, 200, 4, 20)
    w = net.weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a fallback is allowed, and warned
        a = lipsdp(w, solver="auto")
    b = lipsdp(w)
    assert lmi_max_eig(w.W, w.alpha, torch.as_tensor(a.t), a.rho) <= 1e-9 * a.rho
    assert abs(a.L - b.L) <= 1e-5 * b.L


def _assert_patterns(ipm, W, c, coef, X):
    """Every cone row is ≥ 0 (rows at exactly 0 are active constraints: relu(0) = 0 either way),
    so the ReLU network with these weights reproduces the convex model's output exactly."""
    S = ipm.cone_rows(W)
    assert float(S.min()) >= -1e-13 * float(S.abs().max())
    Z = X @ W[:, :-1].T + W[:, -1]
    net_out = torch.relu(Z) @ coef + c
    model_out = torch.where(ipm.D, Z, torch.zeros(())) @ coef + c
    assert torch.allclose(net_out, model_out, rtol=0, atol=1e-12)


def _setup(seed, n, d, m):
    net, X, y = make_instance(seed, n, d, m)
    w = net.weights().to(dtype=torch.float64)
    w = w.permute(sign_order(w.alpha))
    return w, X, y, activation_patterns(X, w)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("inst", INSTANCES[:3], ids=lambda p: f"seed{p[0]}")
def test_restriction_ipm_matches_cvxpy(inst, device):
    w, X, y, D = _setup(*inst)
    lam = 1e-2
    t = torch.as_tensor(lipsdp(w).t)
    ref = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(),
                               lam, 0.0, True)
    _, _, _, info_ref = ref.solve(t.numpy())
    ipm = PatternBarrier(X.to(device), y.to(device), D.to(device), w.alpha.to(device),
                         output_bias=True)
    W, c, rho, info = ipm.solve_restriction(w.alpha, t, lam, 0.0, w.W_tilde, w.c)
    assert W.device.type == device
    _assert_patterns(ipm, W.cpu(), c.cpu(), w.alpha, X)
    assert info.value <= info_ref.value * (1 + 1e-6) + 1e-9
    assert info.value >= info_ref.value * (1 - 1e-6) - 1e-9
    # never worse than the start (the current network with its own ρ for this t)
    start = ipm.model_mse(w.W_tilde.to(device), w.c.to(device)) + lam * float(
        torch.linalg.eigvalsh(w.W.T @ (torch.diag(t / 2) + torch.outer(w.alpha, w.alpha) / (
            4 * (1 - (w.alpha ** 2 / (2 * t)).sum()))) @ w.W)[-1])
    assert info.value <= start + 1e-10


@pytest.mark.parametrize("inst", INSTANCES[:3], ids=lambda p: f"seed{p[0]}")
def test_l2_ipm_matches_cvxpy(inst):
    w, X, y, D = _setup(*inst)
    beta = 1e-2
    sign = torch.sign(w.alpha)
    ref = L2Program(X.numpy(), y.numpy(), D.numpy().astype(float), sign.numpy(), beta, True)
    _, _, info_ref = ref.solve()
    ipm = PatternBarrier(X, y, D, sign, output_bias=True)
    V, c, info = ipm.solve_l2(beta, w.alpha.abs()[:, None] * w.W_tilde, w.c)
    _assert_patterns(ipm, V, c, sign, X)
    assert abs(info.value - info_ref.value) <= 1e-6 * info_ref.value


def test_postprocess_auto_never_worse_and_agrees():
    net, X, y = make_instance(1, 100, 3, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = postprocess(net, X, y, lam=1e-2, solver="auto", max_iter=3)
    b = postprocess(net, X, y, lam=1e-2, max_iter=3, solver="CLARABEL")
    J = [r.objective for r in a.history]
    assert all(x >= y_ for x, y_ in zip(J, J[1:]))
    assert a.objective_after <= a.objective_before
    assert abs(a.objective_after - b.objective_after) <= 1e-4 * b.objective_after


def test_ipm_rejects_a_start_without_the_patterns():
    w, X, y, D = _setup(*INSTANCES[0])
    ipm = PatternBarrier(X, y, ~D, w.alpha, output_bias=True)
    t = torch.as_tensor(lipsdp(w).t)
    with pytest.raises(ValueError, match="patterns"):
        ipm.solve_restriction(w.alpha, t, 1e-2, 0.0, w.W_tilde, w.c)
    with pytest.raises(ValueError, match="certify"):
        ipm.solve_restriction(w.alpha, t * 0, 1e-2, 0.0, w.W_tilde, w.c)


@pytest.mark.parametrize("device", DEVICES)
def test_postprocess_torch_solver_on_the_model_device(device):
    net, X, y = make_instance(3, 200, 4, 20)
    net = net.to(device)
    before = [p.detach().clone() for p in net.parameters()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = postprocess(net, X.to(device), y.to(device), lam=1e-2, solver="torch", max_iter=2)
        l2 = postprocess(net, X.to(device), y.to(device), beta=1e-2, solver="torch")
    ref = postprocess(net.cpu(), X, y, beta=1e-2, solver="CLARABEL")
    assert all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(before, net.parameters()))
    assert res.objective_after <= res.objective_before
    assert res.model.hidden.weight.device.type == device
    assert abs(l2.objective_after - ref.objective_after) <= 1e-6 * ref.objective_after


def test_segment_interior_pulls_a_bent_point_onto_the_patterns():
    """A point whose rows are ~1e-9 negative (what cvxpy returns) is moved onto the patterns
    exactly, almost all the way (θ ≈ 1); a point inside is returned as is (θ = 1)."""
    w, X, y, D = _setup(*INSTANCES[1])
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    W_in = ipm.interior_start(w.W_tilde)
    assert ipm.segment_interior(W_in, W_in) == 1.0
    S = ipm.cone_rows(W_in)
    j = int(torch.argmin(S.min(0).values))
    W_out = W_in.clone()
    W_out[j, -1] -= float(S[:, j].min()) + 1e-9          # one unit's smallest row now −1e-9
    assert float(ipm.cone_rows(W_out).min()) < 0
    th = ipm.segment_interior(W_in, W_out)
    assert 0.0 < th < 1.0 and th > 1 - 1e-3
    assert float(ipm.cone_rows(W_in + th * (W_out - W_in)).min()) > 0
    with pytest.raises(ValueError, match="strictly positive"):
        ipm.segment_interior(W_out, W_in)


def test_auto_fallback_keeps_the_patterns_and_the_next_steps_on_the_ipm():
    """When the interior point stops early (here: 3 iterations allowed), "auto" redoes the step
    by cvxpy and pulls its solution onto the patterns, so the next step starts the interior
    point again (no 'does not have the fixed patterns' fallback) and J still never rises."""
    net, X, y = make_instance(2, 150, 5, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = postprocess(net, X, y, lam=1e-2, solver="auto", solver_options={"max_iter": 3},
                          max_iter=3)
    msgs = [str(w_.message) for w_ in caught]
    assert any("falling back to cvxpy" in s for s in msgs)
    assert not any("does not have the fixed patterns" in s for s in msgs)
    J = [r.objective for r in res.history]
    assert len(J) >= 3 and all(a >= b for a, b in zip(J, J[1:]))
    ref = postprocess(net, X, y, lam=1e-2, max_iter=3, solver="CLARABEL")
    assert abs(res.objective_after - ref.objective_after) <= 1e-4 * ref.objective_after


def test_anchored_start_reaches_the_same_optimum():
    """Algorithm 1 moves the start 1% towards its first network (recentring); the optimum of
    (12) does not depend on the start."""
    w, X, y, D = _setup(*INSTANCES[2])
    lam = 1e-2
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    t = torch.as_tensor(lipsdp(w).t)
    W1, c1, _, _ = ipm.solve_restriction(w.alpha, t, lam, 0.0, w.W_tilde, w.c)
    from torch_lipcvx.models import ShallowWeights
    t2 = torch.as_tensor(lipsdp(ShallowWeights.from_tilde(W1, w.alpha, c1)).t)
    plain = ipm.solve_restriction(w.alpha, t2, lam, 0.0, W1, c1)[3]
    anchored = ipm.solve_restriction(w.alpha, t2, lam, 0.0, W1, c1,
                                     anchor=(w.W_tilde, w.c))[3]
    assert anchored.status == plain.status == "optimal"
    assert abs(anchored.value - plain.value) <= 1e-7 * plain.value


def test_verbose_shows_every_interior_point_iteration(capsys):
    """verbose=2: one line per Algorithm-1 iteration and one per interior-point iteration
    (objective and gap), for (12) and for (6); verbose=True: the Algorithm-1 lines alone."""
    net, X, y = make_instance(0, 80, 3, 8)
    res = postprocess(net, X, y, lam=1e-2, solver="torch", max_iter=2, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(res.history) + len(res.rejected)
    assert all(ln.startswith("[torch_lipcvx] iter") for ln in lines)
    res = postprocess(net, X, y, lam=1e-2, solver="torch", max_iter=1, verbose=2)
    out = capsys.readouterr().out
    ipm_lines = [ln for ln in out.splitlines() if ln.startswith("[torch_lipcvx]") and "gap=" in ln]
    assert len(ipm_lines) >= 5
    iters = [int(ln.split()[2]) for ln in ipm_lines]
    assert iters[:3] == [0, 1, 2]                       # consecutive iterations, from the start
    assert res.history[-1].iteration == 1
    postprocess(net, X, y, beta=1e-2, solver="torch", verbose=2)
    out6 = capsys.readouterr().out
    assert sum("gap=" in ln for ln in out6.splitlines()) >= 5


@pytest.mark.parametrize("inst,output_bias,anchored", [(0, True, True), (3, False, False)])
def test_restriction_from_its_own_optimum_is_never_worse(inst, output_bias, anchored):
    """Started at the optimum of (12) for the same t, the interior point meets its tolerance a
    little above the start (8e-11 and 1.5e-11 relative here); it now returns the start then, so
    with status "optimal" the result is never worse than the start. Cross-checked against the
    program's optimum by cvxpy."""
    net, X, y = make_instance(*INSTANCES[inst], output_bias=output_bias)
    w = net.weights().to(dtype=torch.float64)
    w = w.permute(sign_order(w.alpha))
    D = activation_patterns(X, w)
    lam, beta = 1e-2, 1e-2
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=output_bias)
    t = torch.as_tensor(lipsdp(w).t)
    W1, c1, rho1, info1 = ipm.solve_restriction(w.alpha, t, lam, beta, w.W_tilde, w.c)
    assert info1.status == "optimal"
    anchor = (w.W_tilde, w.c) if anchored else None
    W2, c2, rho2, info2 = ipm.solve_restriction(w.alpha, t, lam, beta, W1, c1, anchor=anchor)
    assert info2.status == "optimal" and info2.value <= info1.value
    out = torch.relu(X @ W2[:, :-1].T + W2[:, -1]) @ w.alpha + (c2 if c2 is not None else 0.0)
    J2 = float(((out - y) ** 2).mean()) + 0.5 * beta * float((W2 ** 2).sum()) + lam * rho2
    assert J2 == pytest.approx(info2.value, rel=1e-12) and J2 <= info1.value * (1 + 1e-14)
    ref = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(),
                               lam, beta, output_bias)
    assert info2.value == pytest.approx(ref.solve(t.numpy())[3].value, rel=1e-6)


def test_fast_solvers_refuse_bad_settings():
    """NaN/Inf or wrong-shaped t, negative or NaN λ, β (the interior point once ran 200
    iterations to an objective of -1e65 for λ = -1), a wrong-shaped start or data, and wrong
    shapes or NaN for the LipSDP methods: each refused, naming the problem."""
    w, X, y, D = _setup(*INSTANCES[0])
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    t = torch.as_tensor(lipsdp(w).t)
    solve = ipm.solve_restriction
    tn = t.clone()
    tn[0] = float("nan")
    with pytest.raises(ValueError, match="t contains NaN"):
        solve(w.alpha, tn, 1e-2, 0.0, w.W_tilde, w.c)
    with pytest.raises(ValueError, match="shape"):
        solve(w.alpha, t[:3], 1e-2, 0.0, w.W_tilde, w.c)
    for lam, beta, name in ((-1.0, 0.0, "lam"), (float("nan"), 0.0, "lam"),
                            (1e-2, -1.0, "beta"), (1e-2, float("nan"), "beta")):
        with pytest.raises(ValueError, match=name):
            solve(w.alpha, t, lam, beta, w.W_tilde, w.c)
    with pytest.raises(ValueError, match=r"W0 must be a tensor of shape"):
        solve(w.alpha, t, 1e-2, 0.0, w.W_tilde[:, :-1], w.c)
    with pytest.raises(ValueError, match="beta"):
        ipm.solve_l2(float("inf"), w.W_tilde, w.c)
    with pytest.raises(ValueError, match=r"y \(n,\)"):
        PatternBarrier(X, y[:, None], D, w.alpha, output_bias=True)
    with pytest.raises(ValueError, match="X contains NaN"):
        PatternBarrier(X * float("nan"), y, D, w.alpha, output_bias=True)
    for fn in (lipsdp_newton, lipsdp_dual):
        with pytest.raises(ValueError, match=r"alpha \(m,\)"):
            fn(w.W, w.alpha[:3])
        with pytest.raises(ValueError, match="NaN"):
            fn(w.W * float("nan"), w.alpha)
    with pytest.raises(ValueError, match="shrink"):
        lipsdp_newton(w.W, w.alpha, shrink=2.0)
    # tol and max_iter of both LipSDP methods (solver_options={"tol": -1} ran to "stalled"),
    # with PatternBarrier's D: 0.5 and NaN were read as "active"
    for fn in (lipsdp_newton, lipsdp_dual):
        with pytest.raises(ValueError, match="tol"):
            fn(w.W, w.alpha, tol=-1.0)
        with pytest.raises(TypeError, match="max_iter"):
            fn(w.W, w.alpha, max_iter=2.5)
    with pytest.raises(ValueError, match="tol"):
        lipsdp(w, solver="torch", solver_options={"tol": -1})
    Dh = D.double()
    Dh[0, 0] = 0.5
    with pytest.raises(ValueError, match="D must be boolean"):
        PatternBarrier(X, y, Dh, w.alpha, output_bias=True)


def test_early_stop_can_end_above_the_start_and_postprocess_rejects_it():
    """After an early stop the interior point returns its last iterate, which can score worse
    than the start (the iterates are centred, not monotone): started at the optimum of (12)
    and allowed one iteration, it ends above it. Algorithm 1 with ``solver="torch"`` compares
    every candidate with the current network: restarted from a converged network with one
    interior-point iteration per step, it rejects the worse candidate, keeps J and leaves the
    input model untouched."""
    net, X, y = make_instance(*INSTANCES[0])
    w = net.weights().to(dtype=torch.float64)
    w = w.permute(sign_order(w.alpha))
    D = activation_patterns(X, w)
    lam = 1e-2
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    t = torch.as_tensor(lipsdp(w).t)
    W1, c1, _, info1 = ipm.solve_restriction(w.alpha, t, lam, 0.0, w.W_tilde, w.c)
    assert info1.status == "optimal"
    _, _, _, early = ipm.solve_restriction(w.alpha, t, lam, 0.0, W1, c1, max_iter=1)
    assert early.status == "max_iter" and early.value > info1.value
    converged = postprocess(net, X, y, lam=lam, solver="torch", max_iter=30).model
    before = {k: v.clone() for k, v in converged.state_dict().items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = postprocess(converged, X, y, lam=lam, solver="torch",
                          solver_options={"max_iter": 1}, max_iter=4)
    assert any("kept the previous network" in str(w_.message) for w_ in caught)
    assert res.rejected and res.rejected[0]["objective"] > res.rejected[0]["previous"]
    assert res.objective_after == res.objective_before
    assert all(torch.equal(before[k], v) for k, v in converged.state_dict().items())
