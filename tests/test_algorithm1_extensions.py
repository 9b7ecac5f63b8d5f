"""Extensions of Algorithm 1 (docs/algorithm1.md): the α-step, pattern re-extraction, the extended
driver and samp-lip. Properties, not snapshots; small float64 instances (the conftest's)."""

from __future__ import annotations

import copy
import warnings

import cvxpy as cp
import numpy as np
import pytest
import torch

import torch_lipcvx as tl
from torch_lipcvx._engine.programs import AlphaRestriction
from torch_lipcvx.algorithm1 import extensions as ext
from torch_lipcvx.bounds import spectral_rho
from torch_lipcvx.models import activation_patterns, augment
from torch_lipcvx.objective import score
from torch_lipcvx.algorithm1.descent import Certifier

from conftest import make_instance

REL = 1e-6          # relative slack for "never worse" (certificate margin + solver tolerance)
#: Two LipSDP solves of the same network (another compiled program, another unit order) agree to
#: about 1e-6 relative (Clarabel's accuracy on these small SDPs), not to rounding.
CERT = 1e-5


@pytest.fixture(scope="module")
def small():
    return make_instance(1, 100, 3, 10)


@pytest.fixture(scope="module")
def tiny():
    return make_instance(0, 60, 2, 6)


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------ the α-step
@pytest.mark.parametrize("t_mode", ["free", "fixed"])
@pytest.mark.parametrize("lam,beta", [(1e-2, 0.0), (1e-3, 1e-3)])
def test_alpha_step_is_never_worse_than_its_start(small, t_mode, lam, beta):
    net, X, y = small
    before = _state(net)
    r = ext.alpha_step(net, X, y, lam=lam, beta=beta, t_mode=t_mode)
    assert r.objective.value <= r.objective_before.value * (1 + REL)
    assert r.improvement > 0          # a briefly trained net is never α-optimal
    assert _same(before, net.state_dict())
    # the candidate really is the network scored: same hidden layer, J recomputed independently
    w0, w1 = net.weights(), r.model.weights()
    assert torch.equal(w0.W, w1.W) and torch.equal(w0.b, w1.b)
    J = tl.objective(r.model, X, y, lam=lam, beta=beta)
    assert J.value == pytest.approx(r.objective.value, rel=CERT)


def test_free_t_is_at_least_as_good_as_fixed_t(small):
    net, X, y = small
    free = ext.alpha_step(net, X, y, lam=1e-2, t_mode="free")
    fixed = ext.alpha_step(net, X, y, lam=1e-2, t_mode="fixed")
    assert free.objective.value <= fixed.objective.value * (1 + REL)
    assert free.solver_value <= fixed.solver_value * (1 + REL)


def _plain_alpha_program(H, y, W, lam, t=None, output_bias=True):
    """An independent formulation: the Schur LMI of docs/lipsdp.md written out directly with numeric
    data (no Parameters, no reduction), α variable and T fixed (given) or free."""
    n, m = H.shape
    d = W.shape[1]
    a = cp.Variable(m)
    rho = cp.Variable()
    c = cp.Variable() if output_bias else 0.0
    tt = cp.Variable(m, nonneg=True) if t is None else t
    TW = cp.multiply(tt[:, None], W) if t is None else t[:, None] * W
    twoT = 2 * cp.diag(tt) if t is None else 2 * np.diag(t)
    S = cp.bmat([[rho * np.eye(d), -TW.T, np.zeros((d, 1))],
                 [-TW, twoT, -cp.reshape(a, (m, 1), order="F")],
                 [np.zeros((1, d)), -cp.reshape(a, (1, m), order="F"), np.ones((1, 1))]])
    prob = cp.Problem(cp.Minimize(cp.sum_squares(H @ a + c - y) / n + lam * rho),
                      [(S + S.T) / 2 >> 0])
    prob.solve(solver="CLARABEL")
    return prob.value, np.asarray(a.value)


@pytest.mark.parametrize("t_mode", ["free", "fixed"])
def test_alpha_program_matches_an_independent_formulation(tiny, t_mode):
    net, X, y = tiny
    lam = 1e-2
    w = net.weights().to(torch.float64)
    cert = Certifier("CLARABEL", None)(w)
    H = torch.relu(X @ w.W.T + w.b).numpy()
    t = cert.t if t_mode == "fixed" else None
    ref_value, ref_alpha = _plain_alpha_program(H, y.numpy(), w.W.numpy(), lam, t)
    for form in ("reduced", "schur"):
        prog = AlphaRestriction(X.shape[0], w.m, w.d, lam, 0.0, True, t_mode=t_mode, form=form)
        alpha, c, rho, t_out, info = prog.solve(H, y.numpy(), w.W.numpy(), t)
        assert info.value == pytest.approx(ref_value, rel=1e-5)
        np.testing.assert_allclose(alpha, ref_alpha, atol=1e-4 * np.abs(ref_alpha).max())
        # the solver's ρ is tight: the spectral form (float64, docs/lipsdp.md) with its own t
        t_used = cert.t if t_mode == "fixed" else t_out
        phi = spectral_rho(w.W, torch.as_tensor(alpha), torch.as_tensor(t_used))
        assert phi == pytest.approx(rho, rel=1e-4)


def test_alpha_step_optimum_is_a_minimum_of_the_spectral_objective(tiny):
    """With T fixed, F(α) = mse(α) + λ‖C(α)⁻¹TW̄‖² (docs/lipsdp.md) is convex; random perturbations
    of the step's α (with the output bias re-fitted) never lower it."""
    net, X, y = tiny
    lam = 1e-2
    w = net.weights().to(torch.float64)
    t = torch.as_tensor(Certifier("CLARABEL", None)(w).t)
    r = ext.alpha_step(net, X, y, lam=lam, t_mode="fixed")
    a_star = r.weights.alpha
    H = torch.relu(X @ w.W.T + w.b)

    def F(a):
        res = H @ a - y
        res = res - res.mean()                     # optimal free output bias
        return float((res ** 2).mean()) + lam * spectral_rho(w.W, a, t)

    f0 = F(a_star)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        delta = torch.randn(a_star.shape, generator=g, dtype=torch.float64)
        assert F(a_star + 1e-3 * delta) >= f0 - 1e-7 * abs(f0)


# ------------------------------------------------------------------------- re-extraction
def test_flipped_patterns_keep_the_network_feasible_and_the_step_keeps_descent(small):
    net, X, y = small
    lam = 1e-2
    pp = tl.postprocess(net, X, y, lam=lam, max_iter=4)
    w0 = net.weights().to(torch.float64)
    used = activation_patterns(X, w0.permute(tl.models.sign_order(w0.alpha)))
    w = pp.model.weights()
    D = ext.flip_ties(X, w, used, tie_tol=1e-6)
    assert D.shape == used.shape and D.dtype == torch.bool
    Z = augment(X) @ w.W_tilde.T
    scale = Z.abs().amax(0)
    violation = torch.where(D, -Z, Z).clamp(min=0) / scale   # (2D − I)X̃w̃ ≥ 0 violated by...
    assert float(violation.max()) <= 1e-6
    assert int((D != used).sum()) > 0                        # the optimum of (12) has ties
    cand, J_new, J_old = ext.pattern_step(pp.model, X, y, D, lam=lam)
    assert J_new.value <= J_old.value * (1 + REL)
    assert J_old.value == pytest.approx(pp.objective_after, rel=CERT)


# ---------------------------------------------------------------------------------- driver
@pytest.mark.parametrize("reextract", [False, True])
def test_extended_driver_is_monotone_and_never_worse_than_algorithm_1(small, reextract):
    net, X, y = small
    lam = 1e-2
    before = _state(net)
    r = ext.postprocess_extended(net, X, y, lam=lam, reextract=reextract, max_rounds=2,
                                 w_max_iter=5)
    assert _same(before, net.state_dict())
    J = [h.objective for h in r.history]
    assert all(b <= a for a, b in zip(J, J[1:]))
    assert all(c.accepted == (c in r.history) for c in r.candidates)
    steps = {c.step for c in r.candidates}
    assert {"input", "w-step", "alpha-step"} <= steps
    assert ("reextract" in steps) == reextract
    plain = tl.postprocess(net, X, y, lam=lam, max_iter=5, solver=ext.DEFAULT_SOLVER)
    assert r.objective_after <= plain.objective_after * (1 + REL)
    # the history's last J is the returned network's J
    assert tl.objective(r.model, X, y, lam=lam).value == pytest.approx(r.objective_after, rel=CERT)
    assert r.objective_after == pytest.approx(
        score(r.model.weights(), X, y, lam=lam, beta=0.0, rho=r.certificate.rho).value, rel=1e-12)


def test_a_worse_candidate_is_rejected(small, monkeypatch):
    net, X, y = small
    real = ext._alpha_candidate

    def worse(w, *args, **kwargs):
        new, *rest = real(w, *args, **kwargs)
        return (tl.ShallowWeights(new.W, new.b, 3 * new.alpha, new.c), *rest)

    monkeypatch.setattr(ext, "_alpha_candidate", worse)
    r = ext.postprocess_extended(net, X, y, lam=1e-2, reextract=False, max_rounds=1,
                                 w_max_iter=2)
    alpha = [c for c in r.candidates if c.step == "alpha-step"]
    assert alpha and not alpha[0].accepted
    assert all(h.step != "alpha-step" for h in r.history)


def test_extended_follows_the_model_dtype_and_validates(tiny):
    net, X, y = tiny
    net32 = copy.deepcopy(net).float()
    r = ext.postprocess_extended(net32, X.float(), y.float(), lam=1e-2, max_rounds=1,
                                 w_max_iter=2)
    assert r.model.dtype == torch.float32
    with pytest.raises(ValueError, match="lam must be > 0"):
        ext.postprocess_extended(net, X, y, lam=0.0)
    with pytest.raises(ValueError, match="t_mode"):
        ext.postprocess_extended(net, X, y, lam=1e-2, t_mode="both")
    with pytest.raises(ValueError, match="max_rounds"):
        ext.postprocess_extended(net, X, y, lam=1e-2, max_rounds=0)


@pytest.mark.parametrize("beta", [0.0, 1e-2])
def test_extended_driver_with_every_outer_weight_zero(tiny, beta):
    """f ≡ c (every α_j = 0, as an α-step can leave it when a constant is optimal): nothing for
    (12) to optimise. The driver once crashed inside cvxpy (β > 0) or warned in every round
    (β = 0); it must return a network no worse than the input, without warnings."""
    net, X, y = tiny
    net = copy.deepcopy(net)
    with torch.no_grad():
        net.output.weight.zero_()
    J0 = tl.objective(net, X, y, lam=1e-2, beta=beta).value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = ext.postprocess_extended(net, X, y, lam=1e-2, beta=beta, alpha_step=False,
                                     max_rounds=2)
    assert r.objective_after <= J0
    with pytest.raises(ValueError, match="no unit has a nonzero outer weight"):
        ext.pattern_step(net, X, y, net.activation_patterns(X), lam=1e-2, beta=beta)


# -------------------------------------------------------------------------------- samp-lip
def test_samp_lip_returns_a_valid_network_without_a_guarantee(small):
    net, X, y = small
    before = _state(net)
    s = ext.sampled_lipschitz(net, X, y, lam=1e-2, n_sampled=4, seed=3, max_iter=3)
    assert _same(before, net.state_dict())
    assert s.sample.shape == (4,) and len(set(s.sample.tolist())) == 4
    # the start: two copies (±|α_j|) of every sampled unit, predicting the constant c
    w_s = s.start.weights()
    assert s.start.m == 8 and torch.equal(w_s.alpha[:4], -w_s.alpha[4:])
    out = s.start(X)
    assert torch.allclose(out, out[0].expand_as(out), atol=1e-12)
    # Algorithm 1 from it: monotone from the start, a finite certified network
    J = [h.objective for h in s.result.history]
    assert all(b <= a for a, b in zip(J, J[1:]))
    w = s.model.weights()
    assert s.model.m == 8 and all(bool(torch.isfinite(v).all()) for v in (w.W, w.b, w.alpha))
    iv = tl.lipschitz_bounds(s.model, 2, X=X, n_samples=256, ascent_steps=10)
    assert iv.lower <= iv.upper * (1 + 1e-9)
    assert tl.objective(s.model, X, y, lam=1e-2).value == pytest.approx(s.objective, rel=CERT)
    with pytest.raises(ValueError, match="n_sampled"):
        ext.sampled_lipschitz(net, X, y, lam=1e-2, n_sampled=11)


def test_solver_auto_runs_every_extension(small):
    """``solver="auto"`` (the torch solvers) goes to postprocess and the certificates; the cvxpy
    programs here use the default solver."""
    net, X, y = small
    r = ext.postprocess_extended(net, X, y, lam=1e-2, max_rounds=1, w_max_iter=3, solver="auto")
    J = [h.objective for h in r.history]
    assert all(b <= a for a, b in zip(J, J[1:])) and r.improvement > 0
    with warnings.catch_warnings():
        # the torch LipSDP may fail on samp-lip's start (exactly cancelling unit pairs); the
        # documented fallback reruns Algorithm 1 with the cvxpy solver and warns
        warnings.simplefilter("ignore", RuntimeWarning)
        s = ext.sampled_lipschitz(net, X, y, lam=1e-2, n_sampled=4, max_iter=2, solver="auto")
    assert s.model.m == 8 and s.objective <= s.result.objective_before
    a = ext.alpha_step(net, X, y, lam=1e-2, solver="auto")
    assert a.objective.value <= a.objective_before.value * (1 + CERT)


@pytest.mark.parametrize("bad", [0.5, float("nan")])
def test_pattern_step_and_flip_ties_refuse_patterns_that_are_not_boolean(tiny, bad):
    """Patterns were cast with ``.to(torch.bool)``, so 0.5 or NaN silently meant "active"."""
    net, X, y = tiny
    P = net.activation_patterns(X).double()
    P[0, 0] = bad
    with pytest.raises(ValueError, match="patterns must be boolean"):
        ext.pattern_step(net, X, y, P, lam=1e-2)
    with pytest.raises(ValueError, match="previous must be boolean"):
        ext.flip_ties(X, net.weights(), P)
    with pytest.raises(ValueError, match=r"previous \(n, 6\)"):
        ext.flip_ties(X, net.weights(), P[:, :5] > 0)
    with pytest.raises(ValueError, match="tie_tol"):
        ext.flip_ties(X, net.weights(), P > 0, tie_tol=-1.0)
    # 0/1 numbers are patterns
    D = net.activation_patterns(X)
    assert torch.equal(ext.flip_ties(X, net.weights(), D.double(), tie_tol=0.0), D)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_inner_algorithm_1_runs_on_the_models_cuda_device(tiny, monkeypatch):
    """The W-step and samp-lip once handed postprocess a CPU copy whatever the model: for a CUDA
    model its torch solvers then ran on the CPU (postprocess runs them on its input's device)."""
    net, X, y = tiny
    net_cuda = copy.deepcopy(net).cuda()
    seen = []
    real = ext.postprocess

    def spy(model, *args, **kwargs):
        seen.append(model.device)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(ext, "postprocess", spy)
    r = ext.postprocess_extended(net_cuda, X, y, lam=1e-2, max_rounds=1, w_max_iter=1,
                                 alpha_step=False, reextract=False, solver="auto")
    s = ext.sampled_lipschitz(net_cuda, X, y, lam=1e-2, n_sampled=2, max_iter=1)
    assert len(seen) == 2 and all(dev.type == "cuda" for dev in seen)
    assert r.model.device.type == "cuda" and s.model.device.type == "cuda"


def test_extended_with_torch_solver_options_does_not_hand_them_to_cvxpy(tiny):
    """With ``solver="auto"`` the options are the interior point's (postprocess accepts
    ``tol``); they also went to the cvxpy α-step, where Clarabel raised a TypeError that ended
    the run after the W-step had been accepted."""
    net, X, y = tiny
    r = ext.postprocess_extended(net, X, y, lam=1e-2, solver="auto", max_rounds=1, w_max_iter=1,
                                 solver_options={"tol": 1e-10})
    steps = [c.step for c in r.candidates]
    assert steps == ["input", "w-step", "alpha-step", "reextract"]
    assert not any(c.note.startswith("failed") for c in r.candidates)
    J = [h.objective for h in r.history]
    assert all(b <= a for a, b in zip(J, J[1:])) and r.improvement > 0
    # the single steps follow the same rule
    a = ext.alpha_step(net, X, y, lam=1e-2, solver="auto", solver_options={"tol": 1e-10})
    assert np.isfinite(a.objective.value) and a.status
    D = activation_patterns(X.double(), net.weights().to(torch.float64))
    cand, J, J0 = ext.pattern_step(net, X, y, D, lam=1e-2, solver="auto",
                                   solver_options={"tol": 1e-10})
    assert np.isfinite(J.value) and np.isfinite(J0.value)
