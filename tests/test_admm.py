"""Properties of the ADMM baseline (docs/admm.md §5): the SDP step, the bookkeeping and tiny runs.

Everything runs on CPU in float64 on small instances. The SDP step is checked against the LMI
itself (eigenvalues in float64), the spectral form of φ_T, a fresh LipSDP, and an independent
cvxpy formulation written here from scratch with constant data. J is never asserted to decrease
(ADMM has no descent guarantee, docs/admm.md §4).
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
import torch
from torch import nn

from torch_lipcvx import ShallowReLU, ShallowWeights, objective, postprocess
from torch_lipcvx.admm import (ADMM, ADMMResult, _augmented_penalty, phi_T, schur_lmi,
                               schur_lmi_min_eig, sdp_step)
from torch_lipcvx.bounds import lipsdp, lmi_max_eig, naive_bound, sampled_lower_bound
from torch_lipcvx._engine.programs import ADMMSDPStep, SolverError

from conftest import make_instance

F64 = torch.float64
TOL = 1e-6


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Run this module's tiny tensors on one intra-op thread, then restore the setting.

    On a shared 2-core machine, 300 Adam steps of a 10-unit net took 4.8 s with 2 threads
    (oversubscribed) and 0.25 s with 1; no tested property depends on it.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _sdp_instance(seed: int, m: int = 8, d: int = 3, zero_t: bool = False, scale: float = 1.3):
    """Targets near a network and the LipSDP ``t`` of that network (so T is realistic)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, d, generator=g, dtype=F64) / math.sqrt(d)
    alpha = torch.randn(m, generator=g, dtype=F64) / math.sqrt(m)
    if zero_t:
        alpha[1] = 0.0  # LipSDP gives t_1 = 0 for a unit with α_1 = 0
    cert = lipsdp(ShallowWeights(W, torch.zeros(m, dtype=F64), alpha))
    t = torch.as_tensor(cert.t)
    V_W = W + 0.3 * torch.randn(m, d, generator=g, dtype=F64)
    V_a = scale * alpha + 0.1 * torch.randn(m, generator=g, dtype=F64)
    return V_W, V_a, t


def _stack(Z, a):
    return torch.cat([Z.reshape(-1), a])


# ------------------------------------------------------------------------------ SDP step
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam_over_kappa", [1e-2, 0.3])
def test_sdp_step_is_feasible_and_certifies_the_copy(seed, lam_over_kappa):
    V_W, V_a, t = _sdp_instance(seed)
    res = sdp_step(V_W, V_a, t, lam_over_kappa)
    assert res.status == "optimal"
    assert res.min_eig >= -1e-7
    assert res.min_eig == pytest.approx(schur_lmi_min_eig(res.Z, res.a, t, res.rho))
    # spectral form in float64: ‖C⁻¹TZ‖² ≤ ρ(1 + tol)
    assert phi_T(res.Z, res.a, t) <= res.rho * (1 + TOL) + 1e-12
    # T is feasible for the copy network, so a fresh LipSDP can only be lower
    m = V_W.shape[0]
    cert = lipsdp(ShallowWeights(res.Z, torch.zeros(m, dtype=F64), res.a))
    assert cert.rho <= res.rho * (1 + TOL) + 1e-12


@pytest.mark.parametrize("seed", [0, 3])
def test_sdp_step_is_tight(seed):
    """With λ > 0, ρ = φ_T(Z, a); a_j² ≤ 2t_j; t_j = 0 gives a_j = 0."""
    V_W, V_a, t = _sdp_instance(seed, zero_t=True, scale=3.0)
    assert t[1] == 0 and V_a[1] != 0
    res = sdp_step(V_W, V_a, t, 0.1)
    assert res.rho == pytest.approx(phi_T(res.Z, res.a, t), rel=1e-6)
    assert bool((res.a ** 2 <= 2 * t + 1e-8).all())
    assert res.a[1] == 0
    # a unit with t_j = 0 leaves the LMI: its z_j is just its target
    assert torch.allclose(res.Z[1], V_W[1], atol=1e-7)


def test_prox_with_zero_weight_returns_targets_inside_the_domain():
    V_W, V_a, t = _sdp_instance(4, scale=0.5)
    assert float((V_a ** 2 / (2 * t)).sum()) < 1
    res = sdp_step(V_W, V_a, t, 0.0)
    assert torch.allclose(res.Z, V_W, atol=1e-6)
    assert torch.allclose(res.a, V_a, atol=1e-6)


def test_prox_is_nonexpansive():
    m, d = 8, 3
    _, _, t = _sdp_instance(5, m, d)
    program = ADMMSDPStep(m, d)
    g = torch.Generator().manual_seed(6)
    for _ in range(4):
        V = [(torch.randn(m, d, generator=g, dtype=F64), 0.5 * torch.randn(m, generator=g,
                                                                           dtype=F64))
             for _ in range(2)]
        P = [sdp_step(VW, Va, t, 0.2, program=program) for VW, Va in V]
        dist_out = torch.linalg.vector_norm(_stack(P[0].Z, P[0].a) - _stack(P[1].Z, P[1].a))
        dist_in = torch.linalg.vector_norm(_stack(*V[0]) - _stack(*V[1]))
        assert float(dist_out) <= float(dist_in) * (1 + 1e-5) + 1e-7


def _independent_sdp_step(V_W, V_a, t, weight):
    """The SDP step written from scratch: constant T, plain Schur-form LMI, SCS at eps 1e-9."""
    V_W, V_a, t = V_W.numpy(), V_a.numpy(), t.numpy()
    m, d = V_W.shape
    Z, a, rho = cp.Variable((m, d)), cp.Variable((m, 1)), cp.Variable()
    T = np.diag(t)
    S = cp.bmat([[rho * np.eye(d), -(T @ Z).T, np.zeros((d, 1))],
                 [-(T @ Z), 2 * T, -a],
                 [np.zeros((1, d)), -a.T, np.ones((1, 1))]])
    prob = cp.Problem(cp.Minimize(weight * rho + 0.5 * cp.sum_squares(Z - V_W)
                                  + 0.5 * cp.sum_squares(a[:, 0] - V_a)),
                      [(S + S.T) / 2 >> 0])
    prob.solve(solver="SCS", eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    assert prob.status == "optimal"
    return Z.value, a.value[:, 0], float(rho.value)


@pytest.mark.parametrize("seed, scale", [(7, 1.0), (8, 2.0)])
def test_sdp_step_matches_an_independent_formulation(seed, scale):
    """Same optimal value; the minimiser agrees as far as the objective's 1-strong convexity in
    (Z, a) implies (‖x − x*‖² ≤ 2 (f(x) − f*)); seed 8 puts a near the domain's boundary, where
    ρ is ill-conditioned."""
    weight = 0.15
    V_W, V_a, t = _sdp_instance(seed, m=6, d=2, scale=scale)
    res = sdp_step(V_W, V_a, t, weight)
    Z, a, rho = _independent_sdp_step(V_W, V_a, t, weight)
    Z, a = torch.as_tensor(Z), torch.as_tensor(a)
    assert schur_lmi_min_eig(Z, a, t, rho) >= -1e-7

    def value(Z, a, rho):
        return weight * rho + 0.5 * float(((Z - V_W) ** 2).sum() + ((a - V_a) ** 2).sum())

    f_ours, f_ref = value(res.Z, res.a, res.rho), value(Z, a, rho)
    assert f_ours == pytest.approx(f_ref, rel=1e-7, abs=1e-10)
    assert float(torch.linalg.vector_norm(_stack(res.Z, res.a) - _stack(Z, a))) <= 1e-4
    assert res.rho == pytest.approx(rho, rel=1e-4)


def test_schur_lmi_matches_the_lipsdp_certificate():
    """S_T(W̄, α, ρ*) ⪰ 0 at a re-verified LipSDP (ρ*, t): docs/lipsdp.md §2's two LMIs agree."""
    V_W, V_a, t = _sdp_instance(9)
    g = torch.Generator().manual_seed(9)
    W = torch.randn(8, 3, generator=g, dtype=F64)
    alpha = torch.randn(8, generator=g, dtype=F64) / 3
    cert = lipsdp(ShallowWeights(W, torch.zeros(8, dtype=F64), alpha))
    t = torch.as_tensor(cert.t)
    assert schur_lmi_min_eig(W, alpha, t, cert.rho) >= -1e-9
    assert phi_T(W, alpha, t) == pytest.approx(cert.rho, rel=1e-8)
    S = schur_lmi(W, alpha, t, cert.rho)
    assert torch.equal(S, S.T) and S.shape == (3 + 8 + 1, 3 + 8 + 1)


def test_sdp_step_rejects_bad_inputs():
    V_W, V_a, t = _sdp_instance(0)
    with pytest.raises(ValueError, match="t must be >= 0"):
        sdp_step(V_W, V_a, -t, 0.1)
    with pytest.raises(ValueError, match="expected V_W"):
        sdp_step(V_W, V_a[:-1], t, 0.1)
    with pytest.raises(ValueError, match="weight must be"):
        sdp_step(V_W, V_a, t, -1.0)
    with pytest.raises(ValueError, match="NaN"):
        sdp_step(V_W * math.nan, V_a, t, 0.1)
    with pytest.raises(ValueError, match="program has size"):
        sdp_step(V_W, V_a, t, 0.1, program=ADMMSDPStep(3, 3))


# ------------------------------------------------------------------------------ bookkeeping
def test_scaled_and_unscaled_coupling_have_the_same_gradients():
    """(κ/2)‖W − Z + U‖² and tr(Yᵀ(W − Z)) + (κ/2)‖W − Z‖² with Y = κU differ by a constant."""
    g = torch.Generator().manual_seed(0)
    W, Z, U = (torch.randn(5, 3, generator=g, dtype=F64) for _ in range(3))
    al, a, Ua = (torch.randn(5, generator=g, dtype=F64) for _ in range(3))
    kappa = 0.7
    W.requires_grad_(True)
    al.requires_grad_(True)
    scaled = _augmented_penalty(W, al, Z, a, U, Ua, kappa)
    gW, ga = torch.autograd.grad(scaled, (W, al))
    Y, Ya = kappa * U, kappa * Ua
    unscaled = ((Y * (W - Z)).sum() + (Ya * (al - a)).sum()
                + 0.5 * kappa * (((W - Z) ** 2).sum() + ((al - a) ** 2).sum()))
    hW, ha = torch.autograd.grad(unscaled, (W, al))
    assert torch.allclose(gW, hW, atol=1e-12) and torch.allclose(ga, ha, atol=1e-12)
    const = 0.5 * kappa * ((U ** 2).sum() + (Ua ** 2).sum())
    assert float((scaled - unscaled).detach()) == pytest.approx(float(const), rel=1e-12)


@pytest.fixture(scope="module")
def tiny():
    """n = 50, d = 2, m = 10 (docs/admm.md §5.5)."""
    return make_instance(11, n=50, d=2, m=10)


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_sdp_step_never_touches_the_network(tiny):
    net, X, y = tiny
    admm = ADMM(net, X, y, lam=1e-2, loss_steps=30, min_iter=1, max_iter=2)
    admm._loss_step()
    before = _state(admm.theta)
    cert = lipsdp(admm.theta.weights())
    Z0, a0 = admm.Z.clone(), admm.a.clone()
    admm._sdp_and_dual_step(cert.t)
    assert all(torch.equal(v, before[k]) for k, v in admm.theta.state_dict().items())
    assert not torch.equal(admm.Z, Z0) and not torch.equal(admm.a, a0)
    # the copy network borrows b and c from θ unchanged
    cw, w = admm.copy_weights, admm.theta.weights()
    assert torch.equal(cw.b, w.b) and torch.equal(cw.c, w.c)
    # after a full step the scaled duals are the running sums of the primal residuals
    U_W, U_a = admm.U_W.clone(), admm.U_alpha.clone()
    rec = admm.step()
    W, al = admm.theta.hidden.weight.detach(), admm.theta.output.weight.detach()[0]
    assert rec.primal_residual > 0
    assert admm.U_W.shape == (10, 2) and admm.U_alpha.shape == (10,)
    assert torch.allclose(admm.U_W, U_W + W - admm.Z, rtol=0, atol=1e-14)
    assert torch.allclose(admm.U_alpha, U_a + al - admm.a, rtol=0, atol=1e-14)


def test_one_iteration_follows_admm_md(tiny, monkeypatch):
    """docs/admm.md §2 (a)–(d) with U ≠ 0: the SDP step gets V = (W̄ᵏ⁺¹ + Uᵏ), weight λ/κ and the T
    of a LipSDP of the loss-step weights; then U += W̄ − Z; the row's residuals are docs/admm.md
    §4's."""
    import torch_lipcvx.admm as admm_mod

    net, X, y = tiny
    lam, kappa = 1e-2, 0.5
    admm = ADMM(net, X, y, lam=lam, penalty=kappa, loss_steps=20, min_iter=1, max_iter=3)
    admm.step()
    U_W, U_a, Z0, a0 = admm.U_W.clone(), admm.U_alpha.clone(), admm.Z.clone(), admm.a.clone()
    assert float(U_W.abs().max()) > 0
    seen = {}
    real = admm_mod.sdp_step

    def spy(V_W, V_a, t, weight, **kwargs):
        seen.update(V_W=V_W.clone(), V_a=V_a.clone(), t=np.array(t, dtype=float), weight=weight)
        return real(V_W, V_a, t, weight, **kwargs)

    monkeypatch.setattr(admm_mod, "sdp_step", spy)
    rec = admm.step()
    W, al = admm.theta.hidden.weight.detach(), admm.theta.output.weight.detach()[0]
    assert torch.equal(seen["V_W"], W + U_W) and torch.equal(seen["V_a"], al + U_a)
    assert seen["weight"] == pytest.approx(lam / kappa, rel=1e-15)
    # T certifies the loss-step network θᵏ⁺¹ at the reported ρ*
    assert np.array_equal(seen["t"], admm.t)
    assert lmi_max_eig(W, al, torch.as_tensor(admm.t), rec.rho) <= 1e-9 * rec.rho
    assert torch.allclose(admm.U_W, U_W + W - admm.Z, rtol=0, atol=1e-14)
    assert torch.allclose(admm.U_alpha, U_a + al - admm.a, rtol=0, atol=1e-14)
    r = math.sqrt(float(((W - admm.Z) ** 2).sum() + ((al - admm.a) ** 2).sum()))
    s = kappa * math.sqrt(float(((admm.Z - Z0) ** 2).sum() + ((admm.a - a0) ** 2).sum()))
    assert rec.primal_residual == pytest.approx(r, rel=1e-12)
    assert rec.dual_residual == pytest.approx(s, rel=1e-12)


@pytest.mark.parametrize("as_sequential", [False, True])
def test_input_model_is_unchanged(tiny, as_sequential):
    net, X, y = tiny
    model = net.to_sequential() if as_sequential else net
    before = _state(model)
    admm = ADMM(model, X, y, lam=1e-2, loss_steps=20, min_iter=1, max_iter=1)
    res = admm.run()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert res.model is not model and isinstance(res.model, ShallowReLU)


def test_returned_model_follows_the_input_dtype(tiny):
    net, X, y = tiny
    net32 = ShallowReLU.from_weights(net.weights(), dtype=torch.float32)
    res = ADMM(net32, X, y, lam=1e-2, loss_steps=20, min_iter=1, max_iter=1).run()
    assert res.model.dtype == torch.float32 and res.model.device == net32.device
    # the certificate is for the weights actually returned (cast to float32)
    assert res.certificate.rho == pytest.approx(lipsdp(res.model.weights().to(
        dtype=F64)).rho, rel=1e-6)


def test_same_seed_reproduces_exactly(tiny):
    net, X, y = tiny
    runs = []
    for _ in range(2):
        admm = ADMM(net, X, y, lam=1e-2, loss_steps=15, batch_size=16, min_iter=2,
                    max_iter=2, seed=3)
        runs.append(admm.run())
    skip = {"time", "loss_time", "lipsdp_time", "sdp_time", "copy_time"}
    for r0, r1 in zip(runs[0].history, runs[1].history):
        for key in r0.__dataclass_fields__:
            if key not in skip:
                v0, v1 = getattr(r0, key), getattr(r1, key)
                assert v0 == v1 or (v0 != v0 and v1 != v1), key
    assert all(torch.equal(v, runs[1].model.state_dict()[k])
               for k, v in runs[0].model.state_dict().items())
    other = ADMM(net, X, y, lam=1e-2, loss_steps=15, batch_size=16, min_iter=1, max_iter=1,
                 seed=4).run()
    assert other.history[1].objective != runs[0].history[1].objective


def test_a_failed_step_rolls_back(tiny, monkeypatch):
    net, X, y = tiny
    admm = ADMM(net, X, y, lam=1e-2, loss_steps=10, min_iter=1, max_iter=3)
    admm.step()
    state, Z, U = _state(admm.theta), admm.Z.clone(), admm.U_W.clone()

    def fail(*args, **kwargs):
        raise SolverError("simulated failure")

    monkeypatch.setattr(admm._program, "solve", fail)
    with pytest.raises(SolverError, match="simulated"):
        admm.step()
    assert admm.iteration == 1 and len(admm.history) == 2
    assert all(torch.equal(v, state[k]) for k, v in admm.theta.state_dict().items())
    assert torch.equal(admm.Z, Z) and torch.equal(admm.U_W, U)
    with pytest.warns(RuntimeWarning, match="ADMM stopped"):
        res = admm.run()   # a failure after the first iteration of a run keeps the history
    assert "stopped at iteration 2" in res.message and len(res.history) == 2


def test_lam_zero_keeps_the_copies_on_the_network(tiny):
    """λ = 0: the loss-step network lies in dom φ_T, so Z = W̄, a = α and U stays 0."""
    net, X, y = tiny
    res = ADMM(net, X, y, lam=0.0, beta=1e-3, loss_steps=20, min_iter=2, max_iter=2).run()
    for r in res.history[1:]:
        assert r.primal_residual <= 1e-5 and r.dual_norm <= 1e-5


def test_stopping_rules(tiny):
    net, X, y = tiny
    common = dict(lam=1e-2, loss_steps=10, min_iter=1, max_iter=4)
    res = ADMM(net, X, y, tol=1e9, **common).run()
    assert len(res.history) == 2 and res.message.startswith("converged")
    res = ADMM(net, X, y, delta_L=1e9, **common).run()
    assert len(res.history) == 2 and "delta_L" in res.message
    res = ADMM(net, X, y, tol=0.0, **common).run()
    assert len(res.history) == 5 and res.message == "reached max_iter=4"


def test_patience_stops_after_that_many_consecutive_small_changes(tiny):
    """The stopping rule only decides when to stop (same seed, same iterates), so one run with
    tol = 0 predicts where every (tol, patience) must stop."""
    net, X, y = tiny
    common = dict(lam=1e-2, loss_steps=10, min_iter=1, max_iter=6)
    ref = ADMM(net, X, y, tol=0.0, **common).run().history
    L = [r.L for r in ref]
    change = [abs(L[k] - L[k - 1]) / L[k - 1] for k in range(1, len(L))]   # change[k-1]: iter k
    k = len(change) // 2                             # about half the changes count as small
    tol = (sorted(change)[k] + sorted(change)[k + 1]) / 2
    for patience in (1, 2, 3):
        stop = next((k for k in range(patience, 7)
                     if all(c <= tol for c in change[k - patience:k])), 6)
        res = ADMM(net, X, y, tol=tol, patience=patience, **common).run()
        assert len(res.history) == stop + 1, (patience, change, tol)
        assert [r.L for r in res.history] == L[:stop + 1]
    res = ADMM(net, X, y, tol=1e9, patience=3, **common).run()
    assert len(res.history) == 4 and res.message.endswith("for 3 iterations")


def test_sdp_step_solver_can_differ_from_the_lipsdp_solver(tiny):
    net, X, y = tiny
    admm = ADMM(net, X, y, lam=1e-2, loss_steps=10, min_iter=1, max_iter=1, sdp_solver="scs")
    assert (admm.solver, admm.sdp_solver) == ("CLARABEL", "SCS")
    rec = admm.step()
    assert rec.lipsdp_status == "optimal" and rec.sdp_status in ("optimal", "optimal_inaccurate")
    assert rec.lmi_min_eig >= -1e-4 * max(1.0, rec.sdp_rho)


def test_solver_auto_runs_lipsdp_in_torch_and_the_sdp_step_on_clarabel(tiny):
    """``solver="auto"`` (as :func:`bounds.check_any_solver` accepts it): LipSDP by the torch
    method, the SDP step (no torch method) by Clarabel; the certificates equal Clarabel's."""
    net, X, y = tiny
    common = dict(lam=1e-2, loss_steps=10, min_iter=1, max_iter=1)
    auto = ADMM(net, X, y, solver="AUTO", **common)
    assert (auto.solver, auto.sdp_solver, auto.sdp_solver_options) == ("auto", "CLARABEL", None)
    ref = ADMM(net, X, y, **common)
    ra, rr = auto.step(), ref.step()
    assert ra.lipsdp_status == "optimal" and ra.sdp_status == "optimal"
    assert ra.L == pytest.approx(rr.L, rel=1e-6)
    # the SDP step's ρ depends on T, which the two LipSDP solvers fix only up to their accuracy
    assert ra.sdp_rho == pytest.approx(rr.sdp_rho, rel=1e-4)
    # the reported ρ is a certificate of exactly those weights
    w = auto._last[0]
    assert lmi_max_eig(w.W, w.alpha, torch.as_tensor(auto.t), ra.rho) <= 1e-9 * ra.rho
    assert ADMM(net, X, y, solver="torch", sdp_solver="scs", **common).sdp_solver == "SCS"
    assert ADMM(net, X, y, sdp_solver="auto", **common).sdp_solver == "CLARABEL"
    with pytest.raises(ValueError, match="no torch solver"):
        ADMM(net, X, y, sdp_solver="torch", **common)


def test_sdp_step_accepts_auto():
    V_W, V_a, t = _sdp_instance(0)
    a, b = sdp_step(V_W, V_a, t, 0.1, solver="auto"), sdp_step(V_W, V_a, t, 0.1)
    assert a.solver == "CLARABEL" and torch.equal(a.Z, b.Z) and a.rho == b.rho
    with pytest.raises(ValueError, match="no torch solver"):
        sdp_step(V_W, V_a, t, 0.1, solver="torch")


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def tiny_run(tiny):
    net, X, y = tiny
    admm = ADMM(net, X, y, lam=1e-2, min_iter=3, max_iter=3)
    return admm.run(), X, y


def test_tiny_end_to_end_run(tiny_run):
    res, X, y = tiny_run
    assert isinstance(res, ADMMResult)
    assert len(res.history) == 1 + 3
    assert [r.iteration for r in res.history] == [0, 1, 2, 3]
    assert all(math.isfinite(r.objective) for r in res.history)
    assert all(r.lmi_min_eig >= -1e-7 for r in res.history[1:])
    assert res.selected_iteration == 3
    w = res.model.weights()
    lower, _ = sampled_lower_bound(w, X=X)
    assert lower <= res.certificate.rho ** 0.5 * (1 + 1e-9)
    assert res.certificate.L <= naive_bound(w) * (1 + 1e-9)
    # the reported J is J of the returned network (fresh certificate)
    J = objective(res.model, X, y, lam=1e-2)
    assert res.objective.value == pytest.approx(J.value, rel=1e-6)
    assert res.history[-1].objective == pytest.approx(J.value, rel=1e-6)


def test_select_best_returns_the_lowest_row(tiny):
    net, X, y = tiny
    res = ADMM(net, X, y, lam=1e-2, loss_steps=50, min_iter=2, max_iter=2,
               select="best").run()
    Js = [r.objective for r in res.history]
    assert res.selected_iteration == int(np.argmin(Js))
    assert res.objective.value == pytest.approx(min(Js), rel=1e-9)


def test_postprocessing_the_admm_network_is_never_worse(tiny_run):
    """docs/admm.md §5.6: Algorithm 1 from ADMM's network reaches J ≤ J_ADMM (via objective)."""
    res, X, y = tiny_run
    J_admm = objective(res.model, X, y, lam=1e-2).value
    post = postprocess(res.model, X, y, lam=1e-2, max_iter=3)
    J_post = objective(post.model, X, y, lam=1e-2).value
    assert J_post <= J_admm * (1 + TOL) + 1e-10


# ------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lam=-1.0), ValueError, "lam must be"),
    (dict(lam=math.nan), ValueError, "lam must be"),
    (dict(lam=1e-2, beta=-1.0), ValueError, "beta must be"),
    (dict(lam=1e-2, penalty=0.0), ValueError, "penalty must be a finite number > 0"),
    (dict(lam=1e-2, penalty=-1.0), ValueError, "penalty must be"),
    (dict(lam=1e-2, loss_steps=0), ValueError, "loss_steps must be"),
    (dict(lam=1e-2, loss_steps=2.5), TypeError, "loss_steps must be"),
    (dict(lam=1e-2, lr=0.0), ValueError, "lr must be a finite number > 0"),
    (dict(lam=1e-2, batch_size=0), ValueError, "batch_size must be"),
    (dict(lam=1e-2, min_iter=0), ValueError, "min_iter must be"),
    (dict(lam=1e-2, min_iter=3, max_iter=2), ValueError, "max_iter must be >= min_iter"),
    (dict(lam=1e-2, tol=-1.0), ValueError, "tol must be"),
    (dict(lam=1e-2, delta_L=-0.5), ValueError, "delta_L must be"),
    (dict(lam=1e-2, patience=0), ValueError, "patience must be"),
    (dict(lam=1e-2, select="first"), ValueError, "select must be 'last' or 'best'"),
    (dict(lam=1e-2, solver="MOSEK9"), ValueError, "solver must be one of"),
    (dict(lam=1e-2, sdp_solver="nope"), ValueError, "solver must be one of"),
    (dict(lam=1e-2, solver_options=[1]), TypeError, "solver_options must be a dict"),
    (dict(lam=1e-2, seed=1.5), TypeError, "seed must be an integer"),
])
def test_bad_settings_raise(tiny, kwargs, error, match):
    net, X, y = tiny
    with pytest.raises(error, match=match):
        ADMM(net, X, y, **kwargs)


def test_bad_data_and_models_raise(tiny):
    net, X, y = tiny
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        Xn = X.clone()
        Xn[0, 0] = math.nan
        ADMM(net, Xn, y, lam=1e-2)
    with pytest.raises(ValueError, match="y must have shape"):
        ADMM(net, X, y[:-1], lam=1e-2)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        ADMM(net, X[:, :1], y, lam=1e-2)
    with pytest.raises(ValueError, match="expected exactly 3 layers"):
        ADMM(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(),
                           nn.Linear(4, 1)), X, y, lam=1e-2)
    with pytest.raises(ValueError, match="model must be a ShallowReLU"):
        ADMM(nn.Linear(2, 1), X, y, lam=1e-2)
    bad = net.clone()
    with torch.no_grad():
        bad.output.weight[0, 0] = math.inf
    with pytest.raises(ValueError, match="model has NaN/Inf"):
        ADMM(bad, X, y, lam=1e-2)


def test_solver_options_reach_the_torch_lipsdp():
    """With a torch LipSDP the ``solver_options`` go to it (as documented): an unknown key is
    refused at the start's certificate instead of being dropped silently."""
    net, X, y = make_instance(0, n=40, m=6, steps=50)
    with pytest.raises(TypeError):
        ADMM(net, X, y, lam=1e-2, solver="torch", solver_options={"bogus": 1})
    ADMM(net, X, y, lam=1e-2, solver="torch", solver_options={"tol": 1e-10})


def test_seed_outside_torch_range_is_refused(tiny):
    """torch's manual_seed takes only [-2**63, 2**64) (beyond: 'Overflow when unpacking long
    long'); check_seed says so, naming the range, as every seeded function does."""
    net, X, y = tiny
    kw = dict(lam=1e-2, loss_steps=3, batch_size=16, min_iter=1, max_iter=1)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[-2\*\*63, 2\*\*64\)"):
        ADMM(net, X, y, seed=2 ** 64 + 3, **kw)
    assert ADMM(net, X, y, seed=-1, **kw)._gen.initial_seed() == 2 ** 64 - 1   # torch's reading


def test_clarabel_panic_in_the_sdp_step_is_a_solver_error(monkeypatch):
    """Clarabel's Rust core aborts a badly scaled SDP with a pyo3 PanicException, a
    BaseException that no ``except Exception`` catches: the SDP step reports it as the solver
    failure it is (SolverError), and ``run`` handles it like any other."""
    class PanicException(BaseException):
        pass

    def panic(self, *args, **kwargs):
        raise PanicException("Eigval error: Eigen(1)")

    monkeypatch.setattr(ADMMSDPStep, "solve", panic)
    net, X, y = make_instance(0, n=40, m=6, steps=50)
    admm = ADMM(net, X, y, lam=1e-2, loss_steps=2, min_iter=1, max_iter=1)
    with pytest.raises(SolverError, match=r"failed on the ADMM SDP step: Eigval error"):
        admm.run()


def test_admm_under_inference_mode_runs_as_outside():
    """Lightning validates under torch.inference_mode(): ADMM leaves it for its autograd loss
    step, on normal copies of the data, and gives what it gives outside."""
    net, X, y = make_instance(0, n=40, m=6, steps=50)
    kw = dict(lam=1e-2, loss_steps=3, min_iter=1, max_iter=2)
    outside = ADMM(net, X, y, **kw).run()
    with torch.inference_mode():
        X_inf, y_inf = X.clone(), y.clone()         # inference tensors
        inside = ADMM(net, X_inf, y_inf, **kw).run()
    assert inside.objective.value == pytest.approx(outside.objective.value, rel=1e-12)
    assert not any(p.is_inference() for p in inside.model.parameters())
