"""Every solver gives the same answer in any units of the targets and of the inputs.

Multiplying y and the outer weights by s multiplies J by exactly s² and leaves the problem the
same (docs/conventions.md, docs/programs.md): (12) with T → s²T and β → s²β (the ridge term is on the hidden weights,
which keep their units), the α-step with T → s²T, (6) with β → sβ. Solvers
with absolute tolerances lose this: before the programs were solved in units of the targets'
spread, targets in units of 1e-4 gave Clarabel's (12) and (6) 1.8–2.1× the optimum and the
interior point's (12) 1.6% above it, all reported "optimal". Each test compares J/s² at
s = 1e-4 and s = 1e3 with s = 1 on the same instance.

Inputs ``X → τX`` with hidden weights ``W̄ → W̄/τ`` leave f unchanged and divide L by τ, so
λ → τ²λ gives the same J when β = 0 (the ridge term mixes W̄ with the biases, so with β > 0 the
program changes; there the cvxpy optimum is compared with the interior point's in the same
units). Before the cvxpy restriction was solved for ``X/τ`` (``programs.input_scale``),
Clarabel's (12) ended 1.8% above the optimum at τ = 1e-3, and SCS's 17% above at τ = 1e3.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from torch_lipcvx import ShallowReLU, lipsdp, postprocess
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx.models import ShallowWeights, activation_patterns, sign_order
from torch_lipcvx.algorithm1.path import DEFAULT_PATH_SOLVER_ARGS, RestrictionLayer
from torch_lipcvx._engine.programs import (AlphaRestriction, L2Program, LipschitzRestriction,
                                   default_solver_options, input_scale, target_scale)

from conftest import INSTANCES, make_instance

SCALES = [1e-4, 1e3]
LAM, BETA = 1e-2, 1e-2


@pytest.fixture(scope="module")
def problem():
    net, X, y = make_instance(*INSTANCES[2])
    w = net.weights().to(dtype=torch.float64)
    w = w.permute(sign_order(w.alpha))
    return w, X, y, activation_patterns(X, w), torch.as_tensor(lipsdp(w).t)


def _scaled(w: ShallowWeights, s: float) -> ShallowWeights:
    return ShallowWeights.from_tilde(w.W_tilde, w.alpha * s, None if w.c is None else w.c * s)


#: The interior point's stopping test (``fast.PatternBarrier``): duality gap ≤ tol·|f| and dual
#: residual ≤ tol^(2/3), relative; the residual is the binding one for the objective's accuracy.
IPM_TOL = inspect.signature(PatternBarrier.solve_restriction).parameters["tol"].default


def solve_accuracy(solver: str, J_sigma: float, options: dict | None = None) -> float:
    """The relative accuracy in J of ONE convex solve, as each solver states it.

    ``J_sigma`` is the optimum in the units the programs are solved in (targets divided by σ,
    ``programs.target_scale``). SCS stops when its gap and residuals are below
    ``eps_abs + eps_rel·|value|``; Clarabel when its gap is below ``tol_gap_abs`` or
    ``tol_gap_rel·|value|`` and its residuals below ``tol_feas``; the torch interior point when
    its gap is below ``tol·|f|`` and its dual residual below ``tol^(2/3)``. The bound is the sum
    of the absolute part over ``J_sigma`` and the relative parts, for the settings actually used
    (the package's defaults unless ``options`` says otherwise). The same instance in units
    scaled by a factor that is not a power of two is, to the solver, a different problem (σ
    rounds to a power of two), so it stops at a different point inside this accuracy: two such
    answers may differ by twice it, and a tolerance tighter than that tests one machine's digits.
    """
    if solver == "torch":
        return IPM_TOL ** (2 / 3)
    o = dict(options if options is not None else default_solver_options(solver))
    if solver == "SCS":
        return o["eps_abs"] / J_sigma + o["eps_rel"]
    if solver in ("CLARABEL", "Clarabel"):
        return o["tol_gap_abs"] / J_sigma + o["tol_gap_rel"] + o["tol_feas"]
    raise ValueError(f"no stated accuracy for solver {solver!r}")


def _sigma(y: torch.Tensor, s: float) -> float:
    """The larger of the two runs' σ, in the reference's units (a smaller J_sigma: the looser)."""
    return max(target_scale(y.numpy()), target_scale(s * y.numpy()) / s)


def test_target_scale_is_a_power_of_two_near_the_spread():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(500, generator=g, dtype=torch.float64).numpy()
    assert target_scale((y - y.mean()) / y.std()) == 1.0      # standardised: the identity
    for s in (1e-7, 3e-3, 1.0, 7e5):
        sigma = target_scale(s * y)
        assert np.log2(sigma) == round(np.log2(sigma))
        assert 2 ** -0.5 <= s * y.std() / sigma < 2 ** 0.5
    assert target_scale(np.full(10, -3e-5)) == target_scale(np.array([3e-5]))  # constant: RMS
    assert target_scale(np.zeros(5)) == 1.0


@pytest.mark.parametrize("s", SCALES)
def test_interior_point_is_unit_free(problem, s):
    w, X, y, D, t = problem
    ref = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    ipm = PatternBarrier(X, s * y, D, s * w.alpha, output_bias=True)
    J1 = ref.solve_restriction(w.alpha, t, LAM, BETA, w.W_tilde, w.c)[3]
    Js = ipm.solve_restriction(s * w.alpha, s * s * t, LAM, s * s * BETA, w.W_tilde, s * w.c)[3]
    assert J1.status == Js.status == "optimal"
    assert Js.value / s ** 2 == pytest.approx(J1.value, rel=1e-8)
    V0 = w.alpha.abs()[:, None] * w.W_tilde
    V1, c1, L1 = PatternBarrier(X, y, D, w.alpha.sign(), output_bias=True).solve_l2(BETA, V0, w.c)
    ipm6 = PatternBarrier(X, s * y, D, w.alpha.sign(), output_bias=True)
    Vs, cs, Ls = ipm6.solve_l2(s * BETA, s * V0, s * w.c)
    assert L1.status == Ls.status == "optimal"
    assert Ls.value / s ** 2 == pytest.approx(L1.value, rel=1e-8)
    torch.testing.assert_close(Vs / s, V1, rtol=1e-5, atol=1e-5 * float(V1.abs().max()))


@pytest.mark.parametrize("s", SCALES)
def test_cvxpy_programs_are_unit_free(problem, s):
    w, X, y, D, t = problem
    Xn, yn, Dn, a, tn = X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(), t.numpy()
    ref = LipschitzRestriction(Xn, yn, Dn, a, LAM, BETA, True).solve(tn)
    out = LipschitzRestriction(Xn, s * yn, Dn, s * a, LAM, s * s * BETA, True).solve(s * s * tn)
    assert out[3].value / s ** 2 == pytest.approx(ref[3].value, rel=1e-6)
    assert out[2] / s ** 2 == pytest.approx(ref[2], rel=1e-4)               # ρ in y's units
    # the returned point is the program's, in the caller's units: its objective is the value
    Wt, c, rho = out[0], out[1], out[2]
    pred = (torch.relu(X @ torch.as_tensor(Wt[:, :-1]).T + torch.as_tensor(Wt[:, -1]))
            @ (s * w.alpha) + c)
    J = float(((pred - s * y) ** 2).mean()) + LAM * rho + s * s * BETA / 2 * float((Wt ** 2).sum())
    assert J == pytest.approx(out[3].value, rel=1e-5)
    sign = np.sign(a)
    ref6 = L2Program(Xn, yn, Dn, sign, BETA, True).solve()
    out6 = L2Program(Xn, s * yn, Dn, sign, s * BETA, True).solve()
    assert out6[2].value / s ** 2 == pytest.approx(ref6[2].value, rel=1e-6)
    np.testing.assert_allclose(out6[0] / s, ref6[0], atol=1e-4 * np.abs(ref6[0]).max())


@pytest.mark.parametrize("s", SCALES)
def test_restriction_layer_is_unit_free(problem, s):
    """(12) through the layer (Clarabel via diffcp) at ``s·y``: the same optimum and point.

    Tolerances from Clarabel's settings (``DEFAULT_PATH_SOLVER_ARGS``): each solve is within
    ``ε = accuracy·J`` of the optimum J*, so the two values differ by at most 2ε. The point: (12)
    is β-strongly convex in W̃ (the ridge (β/2)‖W̃‖²; c and ρ minimised out keep that), so
    ``(β/2)‖W̃ − W̃*‖²_F ≤ J(W̃) − J* ≤ ε`` and the two W̃ lie within ``2·√(2ε/β)`` of each other.
    (A unit that is nearly dead, ‖w̃_j‖ ~ 1e-5, has a bias that moves J by less than ε: its
    entries differ by up to 20% between runs, 7.6e-5 absolute, which an entry-wise tolerance
    relative to max|W̃| does not allow for; c and ρ are not checked for the same reason.)
    """
    w, X, y, D, t = problem
    ref = RestrictionLayer(X, y, D, w.alpha, beta=BETA)(t, LAM)
    out = RestrictionLayer(X, s * y, D, s * w.alpha, beta=s * s * BETA)(s * s * t, LAM)

    def J(sol, ys, a, beta):   # the program's objective at the returned point, caller's units
        Wt = sol.W_tilde
        pred = torch.relu(X @ Wt[:, :-1].T + Wt[:, -1]) @ a + sol.c
        return (float(((pred - ys) ** 2).mean()) + LAM * float(sol.rho)
                + beta / 2 * float((Wt ** 2).sum()))

    J1, Js = J(ref, y, w.alpha, BETA), J(out, s * y, s * w.alpha, s * s * BETA) / s ** 2
    eps = solve_accuracy("Clarabel", J1 / _sigma(y, s) ** 2,
                         DEFAULT_PATH_SOLVER_ARGS["Clarabel"]) * J1
    assert abs(Js - J1) <= 2 * eps
    assert float((out.W_tilde - ref.W_tilde).norm()) <= 2 * (2 * eps / BETA) ** 0.5


@pytest.mark.parametrize("t_mode", ["fixed", "free"])
@pytest.mark.parametrize("s", SCALES)
def test_alpha_step_is_unit_free(problem, s, t_mode):
    w, X, y, D, t = problem
    H = torch.relu(X @ w.W.T + w.b).numpy()
    prog = AlphaRestriction(X.shape[0], w.m, w.d, LAM, BETA, True, t_mode=t_mode)
    a1, c1, rho1, t1, info1 = prog.solve(H, y.numpy(), w.W.numpy(), t.numpy())
    a_s, c_s, rho_s, t_s, info_s = prog.solve(H, s * y.numpy(), w.W.numpy(), s * s * t.numpy())
    assert info_s.value / s ** 2 == pytest.approx(info1.value, rel=1e-6)
    assert rho_s / s ** 2 == pytest.approx(rho1, rel=1e-4)
    np.testing.assert_allclose(a_s / s, a1, atol=1e-4 * np.abs(a1).max())
    np.testing.assert_allclose(t_s / s ** 2, t1, rtol=1e-3, atol=1e-4 * np.abs(t1).max())


@pytest.mark.parametrize("solver", ["torch", "CLARABEL", "SCS"])
@pytest.mark.parametrize("s", SCALES)
def test_postprocess_is_unit_free(problem, s, solver):
    """Algorithm 1 (two steps) and the ℓ2 case end to end: the same J/s² in any units.

    Each Algorithm-1 step (a LipSDP certificate, then (12)) is compared from the SAME start, the
    reference run's iterate, within twice the two solves' stated accuracy (``solve_accuracy``).
    Whole runs are not compared: a step's answer inside that accuracy moves the next step's
    start, and with it the activation patterns of nearly dead units, by more than the accuracy
    (by Clarabel, 4.5e-8 after one step became 5e-7 after two). The ℓ2 case is one solve of (6).
    """
    w, X, y, _, _ = problem
    net1 = ShallowReLU.from_weights(w, dtype=torch.float64)
    run = postprocess(net1, X, y, lam=LAM, solver=solver, max_iter=2, tol=0.0)
    assert len(run.history) == 3
    start = net1
    for step in range(2):
        ws = start.weights().to(dtype=torch.float64)
        ref = postprocess(start, X, y, lam=LAM, solver=solver, max_iter=1, tol=0.0)
        nets = ShallowReLU.from_weights(_scaled(ws, s), dtype=torch.float64)
        out = postprocess(nets, X, s * y, lam=LAM, solver=solver, max_iter=1, tol=0.0)
        assert len(out.history) == len(ref.history) == 2
        J1 = ref.objective_after
        acc = 2 * solve_accuracy(solver, J1 / _sigma(y, s) ** 2)     # LipSDP, then (12)
        assert out.objective_after / s ** 2 == pytest.approx(J1, rel=2 * acc)
        start = ref.model
    ref6 = postprocess(net1, X, y, beta=BETA, solver=solver)
    out6 = postprocess(ShallowReLU.from_weights(_scaled(w, s), dtype=torch.float64), X, s * y,
                       beta=s * BETA, solver=solver)
    J6 = ref6.objective_after
    acc6 = solve_accuracy(solver, J6 / _sigma(y, s) ** 2)
    assert out6.objective_after / s ** 2 == pytest.approx(J6, rel=2 * acc6)


INPUT_SCALES = [1e-3, 10.0, 1e3]


def _inputs_scaled(w: ShallowWeights, tau: float) -> ShallowWeights:
    """The same function of ``tau · x``: ``W̄ / tau``, biases and α unchanged."""
    Wt = w.W_tilde.clone()
    Wt[:, :-1] /= tau
    return ShallowWeights.from_tilde(Wt, w.alpha, w.c)


def test_input_scale_is_a_power_of_two_near_the_rms():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(300, 4, generator=g, dtype=torch.float64).numpy()
    assert input_scale(X) == 1.0                                   # unit RMS: the identity
    for s in (1e-6, 0.3, 10.0, 4e4):
        tau = input_scale(s * X)
        assert np.log2(tau) == round(np.log2(tau))
        assert 2 ** -0.5 <= s * np.sqrt(np.mean(X ** 2)) / tau < 2 ** 0.5
    assert input_scale(np.zeros((3, 2))) == 1.0


@pytest.mark.parametrize("beta", [0.0, BETA])
@pytest.mark.parametrize("tau", INPUT_SCALES)
def test_cvxpy_restriction_is_free_of_input_units(problem, tau, beta):
    """(12) by Clarabel at ``τX``: the interior point's optimum, and (β = 0) the τ = 1 one."""
    w, X, y, D, t = problem
    Xs, lam = tau * X, LAM * tau ** 2
    ws = _inputs_scaled(w, tau)
    Wt, c, rho, info = LipschitzRestriction(Xs.numpy(), y.numpy(), D.numpy().astype(float),
                                            w.alpha.numpy(), lam, beta, True).solve(t.numpy())
    ipm = PatternBarrier(Xs, y, D, w.alpha, output_bias=True)
    J_ipm = ipm.solve_restriction(w.alpha, t, lam, beta, ws.W_tilde, ws.c)[3]
    assert J_ipm.status == "optimal"
    J_sigma = J_ipm.value / target_scale(y.numpy()) ** 2      # each solve within its accuracy
    acc = solve_accuracy("CLARABEL", J_sigma) + solve_accuracy("torch", J_sigma)
    assert info.value == pytest.approx(J_ipm.value, rel=acc)
    # the point comes back in the caller's units: its objective is the reported value
    Wt = torch.as_tensor(Wt)
    pred = torch.relu(Xs @ Wt[:, :-1].T + Wt[:, -1]) @ w.alpha + c
    J = float(((pred - y) ** 2).mean()) + lam * rho + beta / 2 * float((Wt ** 2).sum())
    assert J == pytest.approx(info.value, rel=1e-5)
    if beta == 0.0:
        ref = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float),
                                   w.alpha.numpy(), LAM, 0.0, True).solve(t.numpy())
        assert info.value == pytest.approx(ref[3].value, rel=1e-6)
        assert rho * tau ** 2 == pytest.approx(ref[2], rel=1e-4)      # L scales as 1/τ


@pytest.mark.parametrize("tau", [1e-3, 1e3])
def test_restriction_layer_is_free_of_input_units(problem, tau):
    w, X, y, D, t = problem
    ref = RestrictionLayer(X, y, D, w.alpha)(t, LAM)
    out = RestrictionLayer(tau * X, y, D, w.alpha)(t, LAM * tau ** 2)
    assert float(out.rho) * tau ** 2 == pytest.approx(float(ref.rho), rel=1e-4)

    def J(sol, Xs, lam):       # the program's objective at the returned point, caller's units
        Wt = sol.W_tilde
        pred = torch.relu(Xs @ Wt[:, :-1].T + Wt[:, -1]) @ w.alpha + sol.c
        return float(((pred - y) ** 2).mean()) + lam * float(sol.rho)

    # (the point itself may differ along a flat direction: one unit's bias moved by 0.8%)
    assert J(out, tau * X, LAM * tau ** 2) == pytest.approx(J(ref, X, LAM), rel=1e-5)


@pytest.mark.filterwarnings("ignore:SCS's LipSDP solution.*re-solved in the Schur form")
@pytest.mark.parametrize("solver", ["SCS", "CLARABEL"])
@pytest.mark.parametrize("tau", INPUT_SCALES)
def test_postprocess_is_free_of_input_units(problem, tau, solver):
    """Algorithm 1 (three steps, β = 0) by cvxpy at ``τX``: the torch solver's J at τ = 1 (step by
    step). SCS
    fell to 3× (τ = 10) and kept the input network (τ = 1e3: its LipSDP t for the first
    candidate did not certify) before the cvxpy programs were solved in units of X, LipSDP's
    compiled program stopped warm-starting SCS, and such a t was re-solved in the Schur form."""
    w, X, y, _, _ = problem
    # Each step from the same start (the torch solver's iterate), within the sum of the two
    # solvers' stated accuracies over its two solves (``solve_accuracy``): cross-solver answers
    # inside those accuracies steer later steps apart by more (whole runs: Clarabel 2.2e-6 and
    # SCS up to 5.7e-6 above the torch solver after three steps, against 1e-6 and 4.6e-6 per solve)
    start = ShallowReLU.from_weights(w, dtype=torch.float64)
    for step in range(3):
        ref = postprocess(start, X, y, lam=LAM, solver="torch", max_iter=1, tol=0.0)
        net = ShallowReLU.from_weights(_inputs_scaled(start.weights().to(dtype=torch.float64),
                                                      tau), dtype=torch.float64)
        out = postprocess(net, tau * X, y, lam=LAM * tau ** 2, solver=solver, max_iter=1,
                          tol=0.0)
        assert len(out.history) == 2 and not out.rejected
        J1 = ref.objective_after
        J_sigma = J1 / target_scale(y.numpy()) ** 2
        acc = 2 * (solve_accuracy(solver, J_sigma) + solve_accuracy("torch", J_sigma))
        assert out.objective_after == pytest.approx(J1, rel=acc)
        start = ref.model


@pytest.mark.parametrize("t_mode", ["fixed", "free"])
@pytest.mark.parametrize("tau", [1e-3, 1e3])
def test_alpha_step_is_free_of_input_units(problem, tau, t_mode):
    """The α-step sees X only through the fixed features H (unchanged) and W̄ (→ W̄/τ): with
    λτ² the same program. Hidden weights of 1e3 (τ = 1e-3) made Clarabel fail on it before it
    was solved for W̄/κ."""
    w, X, y, D, t = problem
    H = torch.relu(X @ w.W.T + w.b).numpy()
    prog1 = AlphaRestriction(X.shape[0], w.m, w.d, LAM, BETA, True, t_mode=t_mode)
    progs = AlphaRestriction(X.shape[0], w.m, w.d, LAM * tau ** 2, BETA, True, t_mode=t_mode)
    a1, c1, rho1, t1, info1 = prog1.solve(H, y.numpy(), w.W.numpy(), t.numpy())
    a_s, c_s, rho_s, t_s, info_s = progs.solve(H, y.numpy(), w.W.numpy() / tau, t.numpy())
    assert info_s.value == pytest.approx(info1.value, rel=1e-6)
    assert rho_s * tau ** 2 == pytest.approx(rho1, rel=1e-4)
    np.testing.assert_allclose(a_s, a1, atol=1e-4 * np.abs(a1).max())
