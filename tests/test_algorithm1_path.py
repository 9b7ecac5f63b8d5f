"""The batched restriction layer and the regularisation path (docs/algorithm1.md §3.4).

The layer's answers are cross-checked against plain cvxpy (programs.LipschitzRestriction, built
and solved one λ at a time with Clarabel); the path's networks are re-scored independently.
Instances are tiny (n = 40, d = 3, m = 6); SCS runs with eps 1e-8, one thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_lipcvx import RegularisationPath, RestrictionLayer, objective, regularisation_path
from torch_lipcvx.bounds import lipsdp
from torch_lipcvx.models import activation_patterns, augment, sign_order
from torch_lipcvx._engine.programs import LipschitzRestriction

from conftest import make_instance

LAMS = [1e-3, 1e-2, 1e-1]
SCS = {"solve_method": "SCS", "eps_abs": 1e-8, "eps_rel": 1e-8, "n_jobs_forward": 1}
CLARABEL = {"solve_method": "Clarabel", "n_jobs_forward": 1}
TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}   # the plain reference


@pytest.fixture(scope="module")
def case():
    """A trained 6-unit net on 40 points, units ordered α > 0 first, with D and LipSDP's t."""
    net, X, y = make_instance(0, n=40, d=3, m=6)
    w = net.weights()
    w = w.permute(sign_order(w.alpha))
    D = activation_patterns(X, w)
    t = torch.as_tensor(lipsdp(w).t)
    return net, X, y, w, D, t


@pytest.fixture(scope="module")
def layer(case):
    _, X, y, w, D, _ = case
    return RestrictionLayer(X, y, D, w.alpha, solver_args=CLARABEL)


def _plain(case, lam, beta=0.0, output_bias=True):
    """(W̃, c, ρ, optimal value) of (12) by plain cvxpy/Clarabel (tol 1e-10), one λ at a time."""
    _, X, y, w, D, t = case
    prog = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(),
                                lam, beta, output_bias)
    Wt, c, rho, info = prog.solve(t.numpy(), "CLARABEL", TIGHT)
    return Wt, c, rho, info.value


def _value(case, Wt, c, rho, lam, beta=0.0):
    """Objective of (12) at a point, and its worst constraint violation (cones, LMI)."""
    _, X, y, w, D, t = case
    Wt = torch.as_tensor(Wt, dtype=torch.float64)
    Z = augment(X) @ Wt.T
    pred = (D.double() * w.alpha * Z).sum(1) + (0.0 if c is None else float(c))
    val = float(((pred - y) ** 2).mean()) + lam * float(rho) + beta / 2 * float((Wt ** 2).sum())
    cone = float(torch.relu(-(2 * D.double() - 1) * Z).max())
    d = X.shape[1]
    TW = t[:, None] * Wt[:, :d]
    M = torch.cat([torch.cat([float(rho) * torch.eye(d, dtype=torch.float64), -TW.T], 1),
                   torch.cat([-TW, 2 * torch.diag(t) - torch.outer(w.alpha, w.alpha)], 1)])
    lmi = float(torch.relu(-torch.linalg.eigvalsh(M).min()))
    return val, max(cone, lmi)


def _assert_matches_plain(case, sol, viol_tol: float, val_rel: float, c_abs=None) -> None:
    """Each λ of the batched solution ``sol`` against the plain cvxpy program: feasible within
    ``viol_tol``, optimal within ``val_rel``, ρ within 2e-5, W̃ within 1e-4 of its scale (it is
    only weakly determined along flat directions of the MSE) and, if given, c within ``c_abs``."""
    for i, lam in enumerate(LAMS):
        Wt, c, rho, opt = _plain(case, lam)
        val, viol = _value(case, sol.W_tilde[i], sol.c[i], sol.rho[i], lam)
        assert viol < viol_tol
        assert val == pytest.approx(opt, rel=val_rel)
        assert float(sol.rho[i]) == pytest.approx(rho, rel=2e-5)
        assert np.abs(sol.W_tilde[i].numpy() - Wt).max() <= 1e-4 * np.abs(Wt).max()
        if c_abs is not None:
            assert float(sol.c[i]) == pytest.approx(c, abs=c_abs)


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


# ----------------------------------------------------------------------------------- the layer
def test_layer_is_dpp_and_scs_batch_matches_plain_cvxpy(case, layer):
    assert layer.problem.is_dpp()
    t = case[-1]
    sol = layer(t, torch.tensor(LAMS, dtype=torch.float64), solver_args=SCS)
    assert sol.W_tilde.shape == (3, 6, 4) and sol.c.shape == (3,) and sol.rho.shape == (3,)
    _assert_matches_plain(case, sol, viol_tol=1e-6, val_rel=1e-6, c_abs=1e-4)


def test_scs_batch_equals_individual_calls(case, layer):
    _, _, _, _, _, t = case
    batch = layer(t.expand(3, -1), torch.tensor(LAMS, dtype=torch.float64), solver_args=SCS)
    for i, lam in enumerate(LAMS):
        one = layer(t, lam, solver_args=SCS)
        assert one.W_tilde.shape == (6, 4) and one.rho.dim() == 0 and one.c.dim() == 0
        torch.testing.assert_close(one.W_tilde, batch.W_tilde[i], rtol=0, atol=1e-9)
        torch.testing.assert_close(one.rho, batch.rho[i], rtol=0, atol=1e-9)


def test_default_clarabel_layer_and_full_form_match_plain_cvxpy(case, layer):
    _, X, y, w, D, t = case
    full = RestrictionLayer(X, y, D, w.alpha, form="full", solver_args=CLARABEL)
    assert full.problem.is_dpp()
    lams = torch.tensor(LAMS, dtype=torch.float64)
    for sol in (layer(t, lams), full(t, lams)):
        _assert_matches_plain(case, sol, viol_tol=1e-8, val_rel=1e-7)


def test_ridge_without_output_bias_matches_plain_cvxpy(case):
    _, X, y, w, D, t = case
    lay = RestrictionLayer(X, y, D, w.alpha, beta=0.05, output_bias=False, solver_args=CLARABEL)
    ts = torch.stack([t, 1.5 * t])           # any certifying t is allowed: 1.5 t certifies too
    sol = lay(ts, 0.02)
    assert sol.c is None and sol.W_tilde.shape == (2, 6, 4)
    Wt, _, rho, opt = _plain(case, 0.02, beta=0.05, output_bias=False)
    val, viol = _value(case, sol.W_tilde[0], None, sol.rho[0], 0.02, beta=0.05)
    assert viol < 1e-8 and val == pytest.approx(opt, rel=1e-7)
    assert np.abs(sol.W_tilde[0].numpy() - Wt).max() <= 1e-4 * np.abs(Wt).max()


# cvxpylayers 1.2 converts tensors with np.array(...) under NumPy 2 (its backward, not our code)
@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_scs_gradient_in_lam_matches_finite_differences(case, layer):
    *_, t = case
    lam = torch.tensor(LAMS[1:], dtype=torch.float64, requires_grad=True)
    layer(t, lam, solver_args=SCS).rho.sum().backward()
    tight = {**CLARABEL, **TIGHT}
    for i, v in enumerate(LAMS[1:]):
        h = 1e-4 * v
        fd = (layer(t, v + h, solver_args=tight).rho - layer(t, v - h, solver_args=tight).rho)
        assert float(lam.grad[i]) == pytest.approx(float(fd) / (2 * h), rel=1e-3)
        assert float(lam.grad[i]) < 0          # a heavier penalty lowers ρ


def test_bad_layer_inputs_raise(case, layer):
    _, X, y, w, D, t = case
    bad = [
        ((t[:5], 0.1), r"t must have shape \(6,\)"),
        ((t, torch.ones(2, 2)), "lam must be a number"),
        ((t.expand(2, -1), torch.ones(3)), "different batch sizes"),
        ((t, -1.0), "lam must be >= 0"),
        ((t, float("nan")), "lam contains NaN"),
        ((torch.full((6,), float("nan")), 0.1), "t contains NaN"),
        ((1e-6 * t, 0.1), "t must certify"),
        ((-t, 0.1), "t must be > 0"),
    ]
    for (tt, lam), match in bad:
        with pytest.raises(ValueError, match=match):
            layer(tt, lam)
    with pytest.raises(ValueError, match="solve_method"):
        layer(t, 0.1, solver_args={"solve_method": "ECOS"})
    with pytest.raises(ValueError, match="need solver_args"):
        layer(t.clone().requires_grad_(True), 0.1)
    alpha0 = w.alpha.clone()
    alpha0[0] = 0.0
    with pytest.raises(ValueError, match="no zero entry"):
        RestrictionLayer(X, y, D, alpha0)
    with pytest.raises(ValueError, match="D must have shape"):
        RestrictionLayer(X, y, D[:, :5], w.alpha)
    with pytest.raises(ValueError, match="y must have shape"):
        RestrictionLayer(X, y[:10], D, w.alpha)
    with pytest.raises(ValueError, match="form"):
        RestrictionLayer(X, y, D, w.alpha, form="schur")


# ------------------------------------------------------------------------------------ the path
def _check_path(path, net, X, y, lams, beta=0.0):
    assert isinstance(path, RegularisationPath) and len(path) == len(lams)
    for lam, res in zip(lams, path):
        assert res.lam == lam
        J = [r.objective for r in res.history]
        assert all(b <= a for a, b in zip(J, J[1:])), J
        J_input = objective(net, X, y, lam=lam, beta=beta).value
        assert res.objective_before == pytest.approx(J_input, rel=1e-9)
        assert res.objective_after <= J_input
        # honest: the returned network, re-scored from scratch with a fresh LipSDP certificate
        fresh = objective(res.model, X, y, lam=lam, beta=beta)
        assert fresh.mse == pytest.approx(res.history[-1].mse, rel=1e-9, abs=1e-15)
        assert fresh.value == pytest.approx(res.objective_after, rel=1e-6)
    assert np.all(path.pattern_violation < 1e-6)


def test_path_descends_never_worse_and_leaves_the_model_alone(case):
    net, X, y, *_ = case
    before = _state(net)
    lams = [0.0] + LAMS
    path = regularisation_path(net, X, y, lams, max_iter=6, solver_args={"n_jobs_forward": 1})
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    _check_path(path, net, X, y, lams)
    assert path.layer_calls >= 1 and path.batch_sizes[0] == len(lams)
    assert all(r.objective_after < r.objective_before for r in path.results[1:])
    # larger λ, smaller certified L (and larger MSE) at the end of the path
    L = path.table()["L"]
    assert L[1] > L[2] > L[3]
    # each λ lands close to the one-λ-at-a-time Algorithm 1 (same steps, solved by cvxpy)
    from torch_lipcvx import postprocess
    single = postprocess(net, X, y, lam=LAMS[1], max_iter=6)
    assert path[2].objective_after == pytest.approx(single.objective_after, rel=1e-5)


def test_path_with_scs_sequential_beta_and_a_dead_unit():
    net, X, y = make_instance(1, n=40, d=3, m=6)
    seq = net.to_sequential()
    with torch.no_grad():
        seq[2].weight[0, 0] = 0.0          # a unit with α = 0 (left out of (12), zeroed by β)
    before = _state(seq)
    path = regularisation_path(seq, X, y, torch.tensor([0.05, 0.5], dtype=torch.float64), max_iter=2, beta=1e-3,
                               solver_args=SCS)
    assert all(torch.equal(v, before[k]) for k, v in seq.state_dict().items())
    _check_path(path, seq, X, y, [0.05, 0.5], beta=1e-3)
    for res in path:
        w = res.model.weights()
        if len(res.history) > 1:
            assert torch.all(w.W[w.alpha == 0] == 0) and torch.all(w.b[w.alpha == 0] == 0)


@pytest.mark.parametrize("lams, match", [
    ([], "lams is empty"),
    ([0.1, -1.0], "lams must all be >= 0"),
    ([0.1, float("nan")], "NaN"),
    ([[0.1, 0.2]], "lams must be 1-D"),
    (0.1, "lams must be 1-D"),
    ("0.1", "1-D sequence"),
    (None, "1-D sequence"),
])
def test_bad_lams_raise(case, lams, match):
    net, X, y, *_ = case
    with pytest.raises(ValueError, match=match):
        regularisation_path(net, X, y, lams)


def test_other_bad_path_inputs_raise(case):
    net, X, y, *_ = case
    with pytest.raises(ValueError, match="X must have shape"):
        regularisation_path(net, X[:, :2], y, [0.1])
    with pytest.raises(ValueError, match="y must have shape"):
        regularisation_path(net, X, y[:5], [0.1])
    with pytest.raises(ValueError, match="max_iter"):
        regularisation_path(net, X, y, [0.1], max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        regularisation_path(net, X, y, [0.1], tol=-1.0)
    with pytest.raises(ValueError, match="beta"):
        regularisation_path(net, X, y, [0.1], beta=-1.0)
    with pytest.raises(ValueError, match="solver_args"):
        regularisation_path(net, X, y, [0.1], solver_args=[1])
    with pytest.raises(ValueError, match="form"):
        regularisation_path(net, X, y, [0.1], form="schur")


def test_a_failed_certificate_keeps_every_lams_progress(monkeypatch):
    """A LipSDP failure on one λ's candidate at a later iteration once escaped from
    regularisation_path and lost every λ's accepted iterates. It must reject that candidate only
    (the λ keeps its last network, with the reason and a warning) and let the other λ go on."""
    from torch_lipcvx import SolverError
    from torch_lipcvx.algorithm1.descent import Certifier

    net, X, y = make_instance(13, n=40, d=2, m=5)
    real_call = Certifier.__call__
    calls = {"n": 0}

    def flaky(self, w):
        calls["n"] += 1
        if calls["n"] == 4:      # 1: the input, 2–3: iteration 1, 4: the first λ at iteration 2
            raise SolverError("forced LipSDP failure")
        return real_call(self, w)

    monkeypatch.setattr(Certifier, "__call__", flaky)
    before = _state(net)
    with pytest.warns(RuntimeWarning, match="certificate failed"):
        path = regularisation_path(net, X, y, [1e-2, 1e-1], max_iter=3, tol=0.0,
                                   solver_args=CLARABEL)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    first, second = path
    assert len(first.history) == 2 and first.objective_after < first.objective_before
    assert first.rejected[-1]["reason"].startswith("certificate failed at iteration 2")
    assert first.message.startswith("certificate failed at iteration 2")
    assert len(second.history) > 2 and not second.rejected
