"""The small-problem speed work of issue 30 (item 3), as properties, never times.

* the warm start of the restriction (12) across Algorithm-1 steps
  (``PatternBarrier.solve_restriction(warm=...)``) reaches the cold start's optimum within the
  solver's tolerance, is never worse than its start, keeps the patterns strictly;
* Algorithm 1 with the warm starts (the default) ends at the cold runs' J and keeps its descent
  guarantee (a non-increasing history, a certificate that re-verifies);
* the interior point's cheaper linear algebra changes nothing but rounding: the rows' float
  signs and their step bound, the LMI's scaling as before.
"""

from __future__ import annotations

import pytest
import torch

from torch_lipcvx import lipsdp, postprocess
from torch_lipcvx._engine import barrier as barrier_mod
from torch_lipcvx._engine import ipm as ipm_mod
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.ipm import Rows, SchurLMI, Snapshot
from torch_lipcvx.bounds import certify_t
from torch_lipcvx.models import ShallowWeights, activation_patterns, sign_order

from conftest import make_instance

DT = torch.float64
LAM = 1e-2


def _setup(seed: int, n: int, d: int, m: int):
    net, X, y = make_instance(seed, n, d, m)
    w = net.weights().to(dtype=DT)
    w = w.permute(sign_order(w.alpha))
    return w, X, y


def _two_steps(w, X, y, beta: float = 0.0):
    """Step 1 of (12) cold (with a snapshot), the network it gives, and step 2's ``t``."""
    D = activation_patterns(X, w)
    bar = PatternBarrier(X, y, D, w.alpha, output_bias=w.c is not None)
    t1 = torch.as_tensor(lipsdp(w).t)
    snap = Snapshot()
    W1, c1, _, info1 = bar.solve_restriction(w.alpha, t1, LAM, beta, w.W_tilde, w.c,
                                             snapshot=snap)
    assert info1.status == "optimal" and snap.x is not None
    w1 = ShallowWeights.from_tilde(W1, w.alpha, c1)
    t2 = torch.as_tensor(lipsdp(w1).t)
    return bar, w1, t2, snap, (w.W_tilde, w.c)


def _start_value(bar, w1, t, beta):
    s = float((w1.alpha ** 2 / (2 * t)).sum())
    M = torch.diag(t / 2) + torch.outer(w1.alpha, w1.alpha) / (4 * (1 - s))
    rho = float(torch.linalg.eigvalsh(w1.W.T @ M @ w1.W)[-1])
    return bar.model_mse(w1.W_tilde, w1.c) + 0.5 * beta * float((w1.W_tilde ** 2).sum()) \
        + LAM * rho


@pytest.mark.parametrize("seed,n,d,m,beta", [(1, 100, 3, 10, 0.0), (2, 150, 5, 16, 0.0),
                                             (3, 120, 4, 12, 1e-3)])
def test_warm_start_reaches_the_cold_optimum(seed, n, d, m, beta):
    w, X, y = _setup(seed, n, d, m)
    bar, w1, t2, snap, anchor = _two_steps(w, X, y, beta)
    cold = bar.solve_restriction(w1.alpha, t2, LAM, beta, w1.W_tilde, w1.c, anchor=anchor)
    snap2 = Snapshot()
    warm = bar.solve_restriction(w1.alpha, t2, LAM, beta, w1.W_tilde, w1.c, anchor=anchor,
                                 warm=snap, snapshot=snap2)
    assert cold[3].status == "optimal" and warm[3].status == "optimal"
    # both within the solver's tolerance (1e-9 of the objective's scale) of the optimum
    assert abs(warm[3].value - cold[3].value) <= 1e-7 * abs(cold[3].value)
    assert warm[3].lower <= cold[3].value + 1e-12 and cold[3].lower <= warm[3].value + 1e-12
    assert float(bar.cone_rows(warm[0]).min()) > 0          # the patterns hold strictly
    assert warm[3].value <= _start_value(bar, w1, t2, beta) + 1e-12   # never worse than W0
    assert snap2.x is not None and snap2.context is not None


def test_the_snapshot_keeps_a_well_centred_iterate():
    """The dense solve of (12) keeps, besides its last iterate, its first iterate after the
    start at a relative gap of at most ``WARM_CENTRE_GAP``: strictly inside every cone (its
    rows' slacks far from the last iterate's ~1e-12) with its slacks and duals."""
    w, X, y = _setup(2, 150, 5, 16)
    bar, w1, t2, snap, anchor = _two_steps(w, X, y)
    assert snap.centre_gap == barrier_mod.WARM_CENTRE_GAP and snap.centre is not None
    xc, Sc, Zc = snap.centre
    assert not torch.equal(xc, snap.x)
    keep = snap.context[0]
    rows = bar.cone_rows(xc[: bar.m * bar.p].reshape(bar.m, bar.p))[:, keep]
    assert float(rows.min()) > 0 and float(Zc[0][:, keep].min()) > 0
    assert float(torch.linalg.eigvalsh(Sc[1])[0]) > 0 and float(torch.linalg.eigvalsh(Zc[1])[0]) > 0
    pairs = float((Sc[0][:, keep] * Zc[0][:, keep]).sum() + (Sc[1] * Zc[1]).sum())
    last = bar.cone_rows(snap.x[: bar.m * bar.p].reshape(bar.m, bar.p))[:, keep]
    assert float(rows.min()) > 10 * float(last.min())         # not at the boundary yet
    assert pairs > 0


@pytest.mark.parametrize("seed,n,d,m,beta", [(1, 100, 3, 10, 0.0), (3, 120, 4, 12, 1e-3)])
def test_a_start_from_the_centred_iterate_reaches_the_cold_optimum(monkeypatch, seed, n, d, m,
                                                                   beta):
    """The warm start from the previous solve's well-centred iterate (taken whatever the
    change of ``t``) ends at the cold start's optimum, never worse than ``W0``, with the
    patterns; with the change rule at 0 it is never taken (the other warm start: same optimum)."""
    w, X, y = _setup(seed, n, d, m)
    bar, w1, t2, snap, anchor = _two_steps(w, X, y, beta)
    cold = bar.solve_restriction(w1.alpha, t2, LAM, beta, w1.W_tilde, w1.c, anchor=anchor)
    taken = []
    original = PatternBarrier._centre_start

    def spy(self, *a):
        out = original(self, *a)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(PatternBarrier, "_centre_start", spy)
    for change, expect in ((float("inf"), True), (0.0, False)):
        monkeypatch.setattr(barrier_mod, "WARM_CENTRE_CHANGE", change)
        warm = bar.solve_restriction(w1.alpha, t2, LAM, beta, w1.W_tilde, w1.c, anchor=anchor,
                                     warm=snap)
        assert taken[-1] is expect
        assert warm[3].status == "optimal"
        assert abs(warm[3].value - cold[3].value) <= 1e-7 * abs(cold[3].value)
        assert float(bar.cone_rows(warm[0]).min()) > 0
        assert warm[3].value <= _start_value(bar, w1, t2, beta) + 1e-12


def test_a_warm_start_that_does_not_match_is_ignored():
    """Another λ (the LMI's multiplier scales with it): the solve starts cold, same result."""
    w, X, y = _setup(1, 100, 3, 10)
    bar, w1, t2, snap, anchor = _two_steps(w, X, y)
    other = bar.solve_restriction(w1.alpha, t2, 2 * LAM, 0.0, w1.W_tilde, w1.c, anchor=anchor)
    mismatched = bar.solve_restriction(w1.alpha, t2, 2 * LAM, 0.0, w1.W_tilde, w1.c,
                                       anchor=anchor, warm=snap)
    assert mismatched[3].iterations == other[3].iterations
    assert mismatched[3].value == other[3].value


def _cold_postprocess(monkeypatch, *args, **kw):
    """postprocess with every solve of (12) started cold (the warm start switched off)."""
    original = PatternBarrier.solve_restriction

    def cold(self, *a, **k):
        k["warm"] = None
        return original(self, *a, **k)

    with monkeypatch.context() as mp:
        mp.setattr(PatternBarrier, "solve_restriction", cold)
        return postprocess(*args, **kw)


@pytest.mark.parametrize("seed,n,d,m", [(0, 60, 2, 6), (2, 150, 5, 16)])
def test_algorithm1_with_warm_starts_ends_where_cold_starts_do(monkeypatch, seed, n, d, m):
    net, X, y = make_instance(seed, n, d, m)
    # each step solved to 1e-9 (not Algorithm 1's default 1e-7, defaults.step_tol). With β = 0
    # a step's optimal W̃ is not unique (its J is), and the next certificate depends on which
    # optimum a solve ends at, so the two paths drift apart within the steps' tolerance:
    # measured 2.7e-8 and 1.2e-6 relative after 8 steps
    kw = dict(lam=LAM, max_iter=8, solver="torch", solver_options={"tol": 1e-9})
    warm = postprocess(net, X, y, **kw)
    cold = _cold_postprocess(monkeypatch, net, X, y, **kw)
    assert abs(warm.objective_after - cold.objective_after) <= 5e-6 * cold.objective_after
    # the descent guarantee: non-increasing J, never worse than the input, a certificate that
    # re-verifies exactly on the returned weights
    J = [r.objective for r in warm.history]
    assert all(b <= a for a, b in zip(J, J[1:]))
    assert warm.objective_after <= warm.objective_before
    w = warm.model.weights().to(dtype=DT)        # the certificate's unit order
    rho_T, _, _ = certify_t(w.W, w.alpha, warm.certificate.t)
    assert rho_T <= warm.certificate.rho * (1 + 1e-9) + 1e-12


def test_rows_float_signs_equal_the_boolean_form(monkeypatch):
    g = torch.Generator().manual_seed(3)
    n, m, d = 40, 7, 3
    p, N = d + 1, 7 * 4 + 2
    Xt = torch.cat([torch.randn(n, d, generator=g, dtype=DT), torch.ones(n, 1, dtype=DT)], 1)
    D = torch.rand(n, m, generator=g) > 0.5
    mask = torch.ones(m, dtype=torch.bool)
    mask[2] = False
    outer = (Xt[:, :, None] * Xt[:, None, :]).reshape(n, p * p)
    fast = Rows(Xt, D, mask, outer, N)
    monkeypatch.setattr(ipm_mod, "SIGN_CACHE", 0)
    plain = Rows(Xt, D, mask, outer, N)
    assert fast.sgn is not None and plain.sgn is None
    x = torch.randn(N, generator=g, dtype=DT)
    Y = torch.randn(n, m, generator=g, dtype=DT)
    assert torch.equal(fast.slack(x), plain.slack(x))
    assert torch.equal(fast.lin(x), plain.lin(x))
    assert torch.allclose(fast.adjoint(Y), plain.adjoint(Y), rtol=1e-14, atol=1e-14)
    lam = torch.rand(n, m, generator=g, dtype=DT) + 0.1
    dd = torch.randn(n, m, generator=g, dtype=DT) * fast.maskf
    a = fast.max_step(lam, dd)
    assert a > 0
    assert float((lam + a * dd)[:, mask].min()) == pytest.approx(0.0, abs=1e-12)
    assert fast.max_step(lam, dd.abs()) == float("inf")


def test_lmi_scaling_is_the_nesterov_todd_scaling():
    """``rᵀ z r = r⁻¹ s r⁻ᵀ = diag(λ)`` and ``r r⁻¹ = I`` for well- and ill-centred pairs."""
    g = torch.Generator().manual_seed(5)
    m, d = 9, 4
    p, N = d + 1, 9 * 5 + 2
    B = torch.randn(m, m, generator=g, dtype=DT)
    part = SchurLMI(B @ B.T + torch.eye(m, dtype=DT), m, p, d, N - 1, N)
    for spread in (1.0, 1e3):
        A = torch.randn(d, d, generator=g, dtype=DT)
        s = A @ A.T + 1e-2 * torch.eye(d, dtype=DT)
        z = torch.linalg.inv(s) * spread + 1e-3 * torch.eye(d, dtype=DT)
        r, rinv, lam = part.scaling(s, z)
        L = torch.diag(lam)
        assert torch.allclose(r.T @ z @ r, L, atol=1e-9 * float(lam.max()))
        assert torch.allclose(rinv @ s @ rinv.T, L, atol=1e-9 * float(lam.max()))
        assert torch.allclose(r @ rinv, torch.eye(d, dtype=DT), atol=1e-8)


def test_snapshot_duals_restart_the_same_program():
    """Restarting one program from its own last iterate's duals (``solve(duals=...)``) is at
    the optimum at once: no step is needed and the value is unchanged. (The dense path's LMI is
    the Schur form, whose last iterate may miss ``ρ ≥ λ_max(W̄ᵀMW̄)`` by the solve's tolerance:
    the restart takes the smallest strictly feasible ρ.)"""
    w, X, y = _setup(1, 100, 3, 10)
    D = activation_patterns(X, w)
    bar = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    t = torch.as_tensor(lipsdp(w).t)
    snap = Snapshot()
    W, c, _, info = bar.solve_restriction(w.alpha, t, LAM, 0.0, w.W_tilde, w.c, snapshot=snap)
    parts_x = snap.x
    Hf, bf = bar._quadratic(parts_x.numel(), 0.0, torch.tensor([LAM], dtype=DT))
    keep = snap.context[0]
    s = float((w.alpha ** 2 / (2 * t)).sum())
    M = torch.diag(t / 2) + torch.outer(w.alpha, w.alpha) / (4 * (1 - s))
    N = parts_x.numel()
    parts = [Rows(bar.Xt, bar.D, keep, bar._dense_outer(), N), bar.lmi_part(M, N)]
    assert isinstance(parts[1], SchurLMI)
    x0 = parts_x.clone()
    Wb = x0[: bar.m * bar.p].reshape(bar.m, bar.p)[:, : bar.d]
    x0[-1] = max(float(x0[-1]), float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1]) * (1 + 1e-12))
    free = torch.ones(N, dtype=torch.bool)
    free[torch.nonzero(~keep)[:, 0] * bar.p + bar.d] = False
    x, again = ipm_mod.solve(Hf, bf, x0, parts, free=free, const=bar.yy,
                             f_scale=bar.f_scale, duals=snap.duals)
    assert again.status == "optimal" and again.iterations <= 1    # the first test passes
    assert torch.equal(x, x0)
    assert abs(again.value - info.value) <= 1e-9 * max(bar.f_scale, abs(info.value))

