"""Properties of the convex programs and of Algorithm 1 (docs/programs.md and docs/algorithm1.md).

Every instance is a small network briefly trained by Adam (conftest.make_instance). Objectives are
recomputed on the returned networks in float64 with fresh certificates, never taken from a solver.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_lipcvx import ShallowReLU, objective, postprocess, solve_l2_program
from torch_lipcvx.bounds import lipsdp, lmi_max_eig
from torch_lipcvx.models import activation_patterns, augment, sign_order
from torch_lipcvx._engine.programs import L2Program, LipschitzRestriction, convex_to_weights

from conftest import make_instance

SOLVER = "CLARABEL"   # interior point: accurate on these small instances
TOL = 1e-6            # relative solver tolerance allowed in "never worse" checks


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def _unchanged(net, state):
    return all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


# ----------------------------------------------------------------------------------- ℓ2 case
@pytest.mark.parametrize("beta", [1e-3, 1e-1])
def test_l2_program_is_never_worse(instance, beta):
    net, X, y = instance
    J0 = objective(net, X, y, beta=beta, solver=SOLVER).value
    sol = solve_l2_program(net, X, y, beta=beta, solver=SOLVER)
    assert sol.solver_value <= J0 * (1 + TOL)
    assert sol.objective.value <= J0 * (1 + TOL)
    # the network's own J equals the convex optimum (mapping (7)/(13) is exact)
    assert sol.objective.value == pytest.approx(sol.solver_value, rel=1e-5)


def test_l2_network_reproduces_convex_predictions(instance):
    net, X, y = instance
    w = net.weights()
    w = w.permute(sign_order(w.alpha))
    D = activation_patterns(X, w).numpy().astype(float)
    sign = np.sign(w.alpha.numpy())
    prog = L2Program(X.numpy(), y.numpy(), D, sign, 1e-2, True)
    V, c, _ = prog.solve(SOLVER)
    convex_pred = (D * sign) * (augment(X).numpy() @ V.T)
    convex_pred = convex_pred.sum(1) + c
    Wt, alpha = convex_to_weights(V, sign)
    rebuilt = ShallowReLU.from_weights(
        type(w).from_tilde(torch.as_tensor(Wt), torch.as_tensor(alpha), torch.tensor(c)))
    assert np.allclose(rebuilt(X).detach().numpy(), convex_pred, rtol=1e-6, atol=1e-7)
    # the ℓ2 term maps to β·Σ‖v‖ exactly: (1/2)(‖w̃‖² + α²) = ‖v‖
    half_l2 = 0.5 * ((Wt ** 2).sum(1) + alpha ** 2)
    assert np.allclose(half_l2, np.linalg.norm(V, axis=1), rtol=1e-10, atol=1e-14)


def test_input_network_is_feasible_for_program_6_with_no_larger_objective(instance):
    """u_j = |α_j| w̃_j satisfies the cones, and β Σ‖u_j‖ ≤ (β/2)Σ(‖w̃_j‖² + α_j²) (AM–GM)."""
    net, X, y = instance
    w = net.weights()
    U = w.alpha.abs()[:, None] * w.W_tilde
    S = 2 * activation_patterns(X, w).double() - 1
    assert float((S * (augment(X) @ U.T)).min()) >= 0
    assert float(torch.linalg.vector_norm(U, dim=1).sum()) <= 0.5 * float(
        (w.W_tilde ** 2).sum() + (w.alpha ** 2).sum()) + 1e-12


def test_sampled_patterns_have_no_guarantee_but_are_valid(instance):
    net, X, y = instance
    sol = solve_l2_program(net, X, y, beta=1e-2, patterns="sampled", seed=3, solver=SOLVER)
    k = net.m // 2
    assert sol.model.m == 2 * k
    assert (sol.sign[:k] == 1).all() and (sol.sign[k:] == -1).all()
    assert np.array_equal(sol.pattern_index[:k], sol.pattern_index[k:])
    assert sol.objective.value == pytest.approx(sol.solver_value, rel=1e-5)


# ---------------------------------------------------------------------------- Lipschitz case
def test_input_network_is_feasible_for_restriction_12(instance):
    net, X, y = instance
    w = net.weights()
    cert = lipsdp(w, solver=SOLVER)
    S = 2 * activation_patterns(X, w).double() - 1
    assert float((S * (augment(X) @ w.W_tilde.T)).min()) >= 0          # cones hold exactly
    act = w.alpha != 0
    assert lmi_max_eig(w.W[act], w.alpha[act], torch.as_tensor(cert.t)[act], cert.rho) <= \
        1e-9 * cert.rho                                                  # LMI holds with its ρ


@pytest.mark.parametrize("lam", [1e-3, 1e-1])
def test_restriction_12_optimum_is_never_worse(instance, lam):
    net, X, y = instance
    w = net.weights()
    J0 = objective(net, X, y, lam=lam, solver=SOLVER)
    cert = lipsdp(w, solver=SOLVER)
    D = activation_patterns(X, w).numpy().astype(float)
    prog = LipschitzRestriction(X.numpy(), y.numpy(), D, w.alpha.numpy(), lam, 0.0, True)
    Wt, c, rho, info = prog.solve(cert.t, SOLVER)
    assert info.value <= J0.value * (1 + TOL)
    # the solution's true certificate is no larger than the program's ρ (T stays feasible)
    new = type(w).from_tilde(torch.as_tensor(Wt), w.alpha, torch.tensor(c))
    assert lipsdp(new, solver=SOLVER).rho <= rho * (1 + 1e-5)
    J1 = objective(ShallowReLU.from_weights(new), X, y, lam=lam, solver=SOLVER)
    assert J1.value <= J0.value * (1 + TOL)


def test_restriction_network_reproduces_convex_predictions(instance):
    """The network built from (12)'s solution outputs Σ_j α_j D_j X̃ w̃_j + c on the data."""
    net, X, y = instance
    w = net.weights()
    cert = lipsdp(w, solver=SOLVER)
    D = activation_patterns(X, w).numpy().astype(float)
    prog = LipschitzRestriction(X.numpy(), y.numpy(), D, w.alpha.numpy(), 1e-2, 0.0, True)
    Wt, c, _, _ = prog.solve(cert.t, SOLVER)
    convex_pred = ((D * w.alpha.numpy()) * (augment(X).numpy() @ Wt.T)).sum(1) + c
    new = type(w).from_tilde(torch.as_tensor(Wt), w.alpha, torch.tensor(c))
    with torch.no_grad():
        net_pred = ShallowReLU.from_weights(new)(X).numpy()
    assert np.allclose(net_pred, convex_pred, rtol=1e-6, atol=1e-7)


def test_decomposed_restriction_matches_the_full_lmi(instance):
    """The fast form of (12) (m + 2 small LMIs) has the optimum of the plain (d + m) LMI."""
    net, X, y = instance
    w = net.weights()
    cert = lipsdp(w, solver=SOLVER)
    D = activation_patterns(X, w).numpy().astype(float)
    values = {}
    for form in ("decomposed", "full"):
        prog = LipschitzRestriction(X.numpy(), y.numpy(), D, w.alpha.numpy(), 1e-2, 1e-3, True,
                                    form=form)
        values[form] = prog.solve(cert.t, SOLVER)[3].value
    assert values["decomposed"] == pytest.approx(values["full"], rel=1e-6)


@pytest.mark.parametrize("lam,beta", [(1e-2, 0.0), (1e-1, 0.0), (1e-2, 1e-3)])
def test_postprocess_history_never_increases(instance, lam, beta):
    net, X, y = instance
    state = _state(net)
    res = postprocess(net, X, y, lam=lam, beta=beta, max_iter=4, tol=1e-6, solver=SOLVER)
    Js = [r.objective for r in res.history]
    assert all(b <= a for a, b in zip(Js, Js[1:]))
    assert res.objective_after <= res.objective_before
    assert _unchanged(net, state)
    # the history's numbers are those of the returned network
    J = objective(res.model, X, y, lam=lam, beta=beta, solver=SOLVER)
    assert J.value == pytest.approx(res.objective_after, rel=1e-6)
    last = res.history[-1]
    assert last.objective == pytest.approx(last.mse + 0.5 * beta * last.l2 + lam * last.rho,
                                           rel=1e-12)
    # on a network trained without any Lipschitz term, the first step helps a lot
    assert len(res.history) >= 2 and res.objective_after < res.objective_before


def test_postprocess_l2_case_is_one_solve_and_matches_solve_l2_program(instance):
    net, X, y = instance
    res = postprocess(net, X, y, beta=1e-2, solver=SOLVER)
    sol = solve_l2_program(net, X, y, beta=1e-2, solver=SOLVER)
    assert len(res.history) == 2 and res.history[1].step == "l2-program"
    assert res.objective_after == pytest.approx(sol.objective.value, rel=1e-6)
    with torch.no_grad():
        assert torch.allclose(res.model(X), sol.model(X), rtol=1e-6, atol=1e-8)


def test_postprocess_scs_agrees_with_clarabel():
    net, X, y = make_instance(11, n=60, d=2, m=8)
    a = postprocess(net, X, y, lam=1e-2, max_iter=2, solver="SCS")
    b = postprocess(net, X, y, lam=1e-2, max_iter=2, solver="CLARABEL")
    assert a.history[1].objective == pytest.approx(b.history[1].objective, rel=1e-3)


def test_units_with_zero_outer_weight_and_no_output_bias():
    net, X, y = make_instance(12, n=60, d=2, m=8, output_bias=False)
    with torch.no_grad():
        net.output.weight[0, 2] = 0.0
    res = postprocess(net, X, y, lam=1e-2, max_iter=2, solver=SOLVER)
    assert not res.model.has_output_bias
    assert res.objective_after <= res.objective_before
    # ordering: positive, negative, zero units
    a = res.model.weights().alpha
    key = torch.where(a > 0, 0, torch.where(a < 0, 1, 2))
    assert torch.all(key[1:] >= key[:-1])


def test_a_worse_candidate_is_rejected_and_the_network_kept(monkeypatch):
    """If the solver returns something worse (here: forced), the previous network is kept, the
    history does not move, and the rejection is recorded with a warning."""
    net, X, y = make_instance(13, n=50, d=2, m=6)
    real_solve = LipschitzRestriction.solve

    def bad_solve(self, t, solver="SCS", options=None):
        Wt, c, rho, info = real_solve(self, t, solver, options)
        return Wt + 0.5, c, rho, info           # far from optimal, breaks the patterns too

    monkeypatch.setattr(LipschitzRestriction, "solve", bad_solve)
    with pytest.warns(RuntimeWarning, match="kept the previous network"):
        res = postprocess(net, X, y, lam=1e-1, max_iter=3, solver=SOLVER)
    assert len(res.history) == 1 and len(res.rejected) == 1
    assert res.rejected[0]["objective"] > res.objective_before
    with torch.no_grad():
        assert torch.allclose(res.model(X), net(X), rtol=0, atol=1e-12)
    assert "did not lower J" in res.message


@pytest.mark.parametrize("solver", [SOLVER, "auto"])
def test_a_failed_certificate_keeps_the_progress_so_far(monkeypatch, solver):
    """A LipSDP failure on a later candidate (seen in the paper run: a near-still unit) must not
    lose the iterates already accepted: the last one is returned, with a warning, the candidate
    is recorded as rejected and the message says why. On the very first candidate it raises."""
    from torch_lipcvx import SolverError
    from torch_lipcvx.algorithm1.descent import Certifier

    net, X, y = make_instance(13, n=60, d=2, m=6)
    ref = postprocess(net, X, y, lam=1e-1, max_iter=2, tol=0.0, solver=solver)
    assert len(ref.history) == 3
    real_call = Certifier.__call__
    calls = {"n": 0}

    def flaky(self, w, fail_at):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise SolverError("forced LipSDP failure")
        return real_call(self, w)

    # calls: 1 = the input, 2 = candidate 1, 3 = candidate 2
    monkeypatch.setattr(Certifier, "__call__", lambda self, w: flaky(self, w, 3))
    with pytest.warns(RuntimeWarning, match="certificate failed"):
        res = postprocess(net, X, y, lam=1e-1, max_iter=2, tol=0.0, solver=solver)
    assert len(res.history) == 2 and res.objective_after < res.objective_before
    assert res.objective_after == pytest.approx(ref.history[1].objective, rel=1e-9)
    assert res.rejected[-1]["reason"].startswith("certificate failed")
    assert "certificate failed at iteration 2" in res.message
    with torch.no_grad():
        assert not torch.allclose(res.model(X), net(X))      # the accepted step is kept

    calls["n"] = 0
    monkeypatch.setattr(Certifier, "__call__", lambda self, w: flaky(self, w, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(SolverError, match="forced"):
        postprocess(net, X, y, lam=1e-1, max_iter=2, solver=solver)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_continuing_from_the_result_never_increases_J():
    net, X, y = make_instance(13, n=50, d=2, m=6)
    first = postprocess(net, X, y, lam=1e-1, max_iter=3, tol=0.0, solver=SOLVER)
    second = postprocess(first.model, X, y, lam=1e-1, max_iter=3, tol=0.0, solver=SOLVER)
    assert second.objective_before == pytest.approx(first.objective_after, rel=1e-6)
    assert second.objective_after <= second.objective_before


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_model_gets_the_certificate_of_the_weights_returned(dtype):
    """The solvers work in float64 and the result is cast to the model's dtype: the certificate,
    the history's J and the guarantee must be those of the cast network, not of the float64
    solution (which, rounded, can have a larger LipSDP bound)."""
    net, X, y = make_instance(3, n=60, d=2, m=12)
    net = net.to(dtype)
    state = _state(net)
    for lam, beta in ((1e-2, 0.0), (0.0, 1e-2)):
        res = postprocess(net, X, y, lam=lam, beta=beta, max_iter=3)
        assert res.model.hidden.weight.dtype == dtype and _unchanged(net, state)
        returned = res.model.weights().to(torch.float64)
        assert res.certificate.L == lipsdp(returned).L          # same weights, same certificate
        J = objective(res.model, X, y, lam=lam, beta=beta)
        assert res.objective_after == pytest.approx(J.value, rel=1e-12, abs=1e-15)
        assert res.objective_after <= objective(net, X, y, lam=lam, beta=beta).value
    sol = solve_l2_program(net, X, y, beta=1e-2)
    assert sol.objective.value == pytest.approx(objective(sol.model, X, y, beta=1e-2).value,
                                                rel=1e-12)


@pytest.mark.parametrize("seed", ["1", 1.5, True])
def test_sampled_l2_program_refuses_a_seed_that_is_not_an_integer(seed):
    """``seed`` once went to ``torch.Generator.manual_seed`` unchecked: a str or float raised a
    RuntimeError about ``manual_seed``, and ``True`` was silently taken as seed 1."""
    net, X, y = make_instance(0, n=30, d=2, m=4, steps=20)
    with pytest.raises(TypeError, match="seed must be an integer"):
        solve_l2_program(net, X, y, beta=1e-2, patterns="sampled", seed=seed)


def test_only_lipsdp_fallback_notes_are_counted_and_other_warnings_reach_the_user(monkeypatch):
    """The certifier collects lipsdp's "fell back to cvxpy" notes into one summary warning; any
    other warning raised while certifying (a solver's own) is passed on, not counted."""
    import importlib
    import warnings
    pp = importlib.import_module("torch_lipcvx.algorithm1.descent")        # the certifier's home
    from torch_lipcvx.bounds import LipSDPFallbackWarning
    real = pp.lipsdp

    def noisy(w, **kw):
        warnings.warn(LipSDPFallbackWarning("LipSDP torch method failed (test); also solved by "
                                            "auto/CLARABEL, kept the smallest certified bound"))
        warnings.warn("some solver's own remark", RuntimeWarning)
        return real(w, **kw)

    monkeypatch.setattr(pp, "lipsdp", noisy)
    net, X, y = make_instance(13, n=60, d=2, m=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = postprocess(net, X, y, lam=1e-1, max_iter=2, tol=0.0, solver="auto")
    n_cert = len(res.history) + len(res.rejected)        # one certificate per scored network
    texts = [str(w.message) for w in caught]
    assert texts.count("some solver's own remark") == n_cert
    summary = [t for t in texts if "fell back from the dual method" in t]
    assert summary == [f"{n_cert} LipSDP certificate(s) fell back from the dual method to "
                       "cvxpy/CLARABEL (the dual method failed or did not close its gap)"]
    # one-shot certificates (objective() and the rest) collect nothing: tests/test_objective.py
