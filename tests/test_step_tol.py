"""How accurately Algorithm 1's steps are solved (docs/algorithm1.md §2): each torch solve of
(12) stops at ``defaults.step_tol(tol)``, a thousandth of Algorithm 1's ``tol`` within
``STEP_TOL_RANGE``, unless ``solver_options`` sets ``tol``.

Properties: the rule's values; the tolerance actually handed to every step's solve (squared loss
and another loss), the user's own ``tol`` kept; each step's record meets the gap it was given;
the result is never worse than the input and equals the tightly solved run's ``J`` within the
accuracy the rule promises.
"""

from __future__ import annotations

import math

import pytest

from torch_lipcvx import defaults, postprocess
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.loss_barrier import LossBarrier

from conftest import make_instance


def test_the_rule_is_a_thousandth_of_algorithm1s_tol_within_its_range():
    lo, hi = defaults.STEP_TOL_RANGE
    assert defaults.step_tol(1e-4) == pytest.approx(1e-7)
    assert defaults.step_tol(defaults.TOL) == pytest.approx(defaults.STEP_TOL_FRACTION
                                                            * defaults.TOL)
    assert defaults.step_tol(0.0) == lo          # run to max_iter: the solvers' own 1e-9
    assert defaults.step_tol(1e-12) == lo
    assert defaults.step_tol(0.5) == hi          # a coarse Algorithm 1 never gets sloppy steps


def _spy(monkeypatch, cls):
    """Record the ``tol`` of every ``cls.solve_restriction`` call."""
    seen = []
    orig = cls.solve_restriction

    def solve(self, *args, **kwargs):
        seen.append(kwargs.get("tol"))
        return orig(self, *args, **kwargs)
    monkeypatch.setattr(cls, "solve_restriction", solve)
    return seen


@pytest.mark.parametrize("tol", [1e-4, 1e-2, 0.0])
def test_each_step_is_handed_the_rules_tolerance(monkeypatch, tol):
    net, X, y = make_instance(1, 100, 3, 10)
    seen = _spy(monkeypatch, PatternBarrier)
    res = postprocess(net, X, y, lam=1e-2, max_iter=3, tol=tol, solver="torch", progress=False)
    assert seen and all(t == defaults.step_tol(tol) for t in seen)
    for rec in res.solves:                      # each solve met the gap it was given
        if rec.status == "optimal":
            assert rec.gap <= defaults.step_tol(tol) * max(1.0, abs(rec.value)) * 10


def test_a_users_tol_is_kept(monkeypatch):
    net, X, y = make_instance(1, 100, 3, 10)
    seen = _spy(monkeypatch, PatternBarrier)
    postprocess(net, X, y, lam=1e-2, max_iter=2, solver="torch", progress=False,
                solver_options={"tol": 3e-9})
    assert seen and all(t == 3e-9 for t in seen)


def test_another_loss_gets_the_rule_too(monkeypatch):
    net, X, y = make_instance(2, 80, 3, 8)
    seen = _spy(monkeypatch, LossBarrier)
    postprocess(net, X, y, lam=1e-2, max_iter=2, solver="torch", loss="huber", progress=False)
    assert seen and all(t == defaults.step_tol(defaults.TOL) for t in seen)


def test_a_cvxpy_solver_gets_no_torch_tol(monkeypatch):
    from torch_lipcvx.algorithm1 import postprocess as pp
    captured = []
    orig = pp._RestrictionStep.__init__

    def init(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        captured.append(self.options)
    monkeypatch.setattr(pp._RestrictionStep, "__init__", init)
    net, X, y = make_instance(1, 60, 2, 6)
    postprocess(net, X, y, lam=1e-2, max_iter=1, solver="CLARABEL", progress=False)
    assert captured == [None]


def test_the_looser_steps_reach_the_tight_runs_J():
    """The rule's promise: the result is never worse than the input, and equals the run with
    every step at 1e-9 to well within Algorithm 1's own tolerance."""
    net, X, y = make_instance(3, 200, 4, 20)
    loose = postprocess(net, X, y, lam=1e-2, max_iter=30, solver="torch", progress=False)
    tight = postprocess(net, X, y, lam=1e-2, max_iter=30, solver="torch", progress=False,
                        solver_options={"tol": 1e-9})
    assert loose.objective_after <= loose.objective_before
    assert len(loose.history) == len(tight.history)
    assert math.isclose(loose.objective_after, tight.objective_after,
                        rel_tol=0.1 * defaults.TOL)
