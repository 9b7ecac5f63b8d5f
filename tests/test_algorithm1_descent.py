"""The one descent rule of Algorithm 1 (torch_lipcvx.algorithm1.descent, docs/algorithm1.md §2).

Candidates are built by hand (the trained network, noisy copies of it) so that each property is
exercised directly; every ``J`` is recomputed here with a fresh certificate, never taken from the
object under test.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from torch_lipcvx.bounds import lipsdp
from torch_lipcvx.algorithm1.descent import (WARN_FLOOR, WARN_SLACK, Descent, IterationRecord,
                                             Verdict, raised_beyond_slack, small_decrease)
from torch_lipcvx.models import ShallowWeights
from torch_lipcvx.objective import Objective, score
from torch_lipcvx.solvers import SolverError

from conftest import make_instance

LAM, BETA = 1e-2, 1e-3


def certify(w: ShallowWeights):
    return lipsdp(w, solver="CLARABEL")


def J_of(w: ShallowWeights, X, y, lam=LAM, beta=BETA) -> float:
    return score(w, X, y, lam=lam, beta=beta, rho=certify(w).rho).value


def noisy(w: ShallowWeights, scale: float, seed: int) -> ShallowWeights:
    g = torch.Generator().manual_seed(seed)
    return ShallowWeights(w.W + scale * torch.randn(w.W.shape, generator=g, dtype=w.W.dtype),
                          w.b + scale * torch.randn(w.b.shape, generator=g, dtype=w.b.dtype),
                          w.alpha.clone(), None if w.c is None else w.c.clone())


@pytest.fixture(scope="module")
def problem():
    net, X, y = make_instance(5, n=50, d=2, m=6)
    return net.weights().to(torch.float64), X, y


def _same(a: ShallowWeights, b: ShallowWeights) -> bool:
    return all(torch.equal(p, q) for p, q in zip((a.W, a.b, a.alpha), (b.W, b.b, b.alpha)))


def test_start_is_certified_scored_and_recorded(problem):
    w, X, y = problem
    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    assert d.J.value == J_of(w, X, y)
    assert len(d.history) == 1 and not d.rejected and not d.moved
    rec = d.history[0]
    assert isinstance(rec, IterationRecord)
    assert (rec.iteration, rec.step, rec.objective, rec.solve_time) == (0, "input", d.J.value, 0.0)


def test_a_better_candidate_is_accepted(problem):
    w, X, y = problem
    start = noisy(w, 0.3, seed=1)                       # the trained net is far better than this
    d = Descent(start, X, y, lam=LAM, beta=BETA, certify=certify)
    v = d.consider(w, 1, step="restriction", solve_time=0.25)
    assert v.accepted and v.error is None and v.reason == "" and not v.worse
    assert v.objective.value == J_of(w, X, y) < J_of(start, X, y) == v.previous.value
    assert _same(d.w, w) and d.J == v.objective and d.moved
    assert d.history[-1] == IterationRecord(1, v.objective.value, v.objective.mse,
                                            v.objective.l2, v.objective.rho, v.objective.L,
                                            v.time, 0.25, "restriction")
    assert not d.rejected


def test_an_equal_candidate_is_accepted(problem):
    """J must not rise: a candidate with the same J (here the same network) is accepted."""
    w, X, y = problem
    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    assert d.consider(w, 1, step="same").accepted
    assert d.history[1].objective == d.history[0].objective


def test_a_worse_candidate_is_rejected_recorded_and_the_network_kept(problem):
    w, X, y = problem
    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    before = (d.w, d.cert, d.J)
    bad = noisy(w, 0.3, seed=2)
    v = d.consider(bad, 3, step="restriction")
    assert not v.accepted and v.worse and v.reason == "objective increased (solver inaccuracy)"
    assert (d.w, d.cert, d.J) == before and len(d.history) == 1
    assert d.rejected == [{"iteration": 3, "objective": J_of(bad, X, y),
                           "previous": before[2].value,
                           "reason": "objective increased (solver inaccuracy)"}]


def test_never_returns_a_worse_network(problem):
    """Whatever the candidates, the history is non-increasing and the current network's J (fresh
    certificate, recomputed here) is that of the last record and never above the start's."""
    w, X, y = problem
    start = noisy(w, 0.2, seed=3)
    d = Descent(start, X, y, lam=LAM, beta=BETA, certify=certify)
    for k in range(1, 9):          # noisy copies of the current network, and once the trained one
        cand = w if k == 4 else noisy(d.w, 0.02 * k, seed=10 + k)
        d.consider(cand, k, step="random")
    J = [r.objective for r in d.history]
    assert all(b <= a for a, b in zip(J, J[1:]))
    assert len(d.history) + len(d.rejected) == 9 and d.rejected and d.moved
    assert d.J.value == J[-1] == J_of(d.w, X, y) <= J_of(start, X, y)


def test_a_failed_certificate_rejects_the_candidate(problem):
    w, X, y = problem
    calls = {"n": 0}

    def flaky(weights):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SolverError("forced failure")
        return certify(weights)

    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=flaky)
    v = d.consider(noisy(w, 1e-3, seed=4), 2, step="restriction")
    assert not v.accepted and isinstance(v.error, SolverError) and v.objective is None
    assert not v.worse
    assert v.reason == "certificate failed at iteration 2: forced failure"
    row = d.rejected[-1]
    assert math.isnan(row["objective"]) and row["previous"] == d.J.value
    assert row["reason"] == v.reason and len(d.history) == 1
    # a failure of any other kind is not a verdict: it reaches the caller
    d2 = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    d2.certify = lambda weights: (_ for _ in ()).throw(ValueError("bad weights"))
    with pytest.raises(ValueError, match="bad weights"):
        d2.consider(w, 1, step="x")


def test_candidates_are_rounded_to_the_models_dtype_before_scoring(problem):
    w, X, y = problem
    d = Descent(w.rounded(torch.float32), X, y, lam=LAM, beta=BETA, certify=certify,
                dtype=torch.float32)
    cand = noisy(w, 1e-9, seed=5)
    v = d.consider(cand, 1, step="x")
    rounded = cand.rounded(torch.float32)
    assert v.objective.value == J_of(rounded, X, y)
    if v.accepted:
        assert _same(d.w, rounded)


def test_slack_of_the_warning():
    assert WARN_SLACK == 1e-6 and WARN_FLOOR == 1e-12
    assert not raised_beyond_slack(1.0, 1.0)
    assert not raised_beyond_slack(1.0 + 0.5e-6, 1.0)           # rounding: rejected silently
    assert raised_beyond_slack(1.0 + 2e-6, 1.0)
    assert not raised_beyond_slack(0.5e-12, 0.0) and raised_beyond_slack(2e-12, 0.0)

    def verdict(new: float, accepted: bool = False) -> Verdict:
        obj = lambda v: Objective(v, v, 0.0, 0.0, 0.0, 0.0)     # noqa: E731
        return Verdict(accepted=accepted, iteration=1, step="x", objective=obj(new),
                       previous=obj(1.0), time=0.0)

    assert verdict(1.0 + 2e-6).worse and not verdict(1.0 + 0.5e-6).worse
    assert not verdict(0.5, accepted=True).worse


def test_stopping_rule_on_the_relative_decrease(problem):
    assert small_decrease(1.0, 1.0, 0.0)                  # no decrease stops even at tol 0
    assert not small_decrease(1.0, 0.9, 0.05) and small_decrease(1.0, 0.96, 0.05)
    w, X, y = problem
    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    assert d.decreased_less_than(d.J.value, 0.0)
    assert not d.decreased_less_than(2 * d.J.value, 0.1)


def test_reuse_t_keeps_the_smaller_certified_rho(problem):
    """With ``reuse_t`` the current T, re-verified on the candidate, replaces a fresh certificate
    that is worse (here made worse on purpose)."""
    w, X, y = problem

    def loose(weights):
        c = certify(weights)
        return dataclasses.replace(c, rho=2 * c.rho)

    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify, reuse_t=True)
    d.certify = loose
    v = d.consider(w, 1, step="x")
    assert v.accepted and d.cert.status == "previous T"
    assert d.cert.rho <= 1.000001 * certify(w).rho
    plain = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    plain.certify = loose
    assert not plain.consider(w, 1, step="x").accepted        # ρ doubled: J rose


def test_reorder_permutes_the_units_and_the_certificate(problem):
    w, X, y = problem
    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify)
    order = torch.arange(w.m - 1, -1, -1)
    t0 = d.cert.t.copy()
    d.reorder(order)
    assert torch.equal(d.w.W, w.W[order]) and (d.cert.t == t0[order.numpy()]).all()
    assert score(d.w, X, y, lam=LAM, beta=BETA, rho=d.cert.rho).value == pytest.approx(
        d.J.value, rel=1e-12)


def test_custom_records_and_a_given_start_certificate(problem):
    w, X, y = problem
    cert = certify(w)
    d = Descent(w, X, y, lam=LAM, beta=BETA, certify=certify, certificate=cert,
                record=lambda v: (v.iteration, v.step, v.note))
    assert d.cert is cert and d.history == [(0, "input", "")]
    d.consider(w, 1, step="x", note="hello")
    assert d.history[-1] == (1, "x", "hello")


def test_a_lam_that_swamps_the_data_is_refused(problem):
    w, X, y = problem
    with pytest.raises(ValueError, match="too large"):
        Descent(w, X, y, lam=1e30, beta=BETA, certify=certify)


def test_the_clients_judge_every_candidate_through_descent(monkeypatch):
    """postprocess, the λ-path and the extended driver have no accept/reject rule of their own:
    every candidate they record went through Descent.consider."""
    from torch_lipcvx import postprocess, postprocess_extended, regularisation_path

    steps = []
    real = Descent.consider

    def spy(self, candidate, iteration, **kw):
        steps.append(kw["step"])
        return real(self, candidate, iteration, **kw)

    monkeypatch.setattr(Descent, "consider", spy)
    net, X, y = make_instance(13, n=40, d=2, m=5)
    res = postprocess(net, X, y, lam=1e-2, max_iter=3, tol=0.0, solver="CLARABEL")
    assert steps == ["restriction"] * (len(res.history) - 1 + len(res.rejected)) and steps
    steps.clear()
    path = regularisation_path(net, X, y, [1e-2, 1e-1], max_iter=2, tol=0.0)
    assert steps == ["restriction-batch"] * sum(len(r.history) - 1 + len(r.rejected)
                                                for r in path) and steps
    steps.clear()
    ext = postprocess_extended(net, X, y, lam=1e-2, max_rounds=1, w_max_iter=1,
                               solver="CLARABEL")
    outer = [s for s in steps if s in ("w-step", "alpha-step", "reextract")]
    assert outer == [c.step for c in ext.candidates[1:]] == ["w-step", "alpha-step", "reextract"]
