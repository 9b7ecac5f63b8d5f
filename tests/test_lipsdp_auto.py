"""``lipsdp(..., solver="auto")``: the torch Newton method on LipSDP's dual (docs/lipsdp.md) against
a plain cvxpy + SCS formulation of the original LMI at tight tolerance, and the preprocessing every
solver shares (balanced units, negligible units bounded separately).

Properties: the certified L of "auto" equals plain SCS's to 1e-5 relative and is never above it
(beyond rounding); every certificate is a valid LMI certificate and never below a sampled gradient
norm; a unit with a tiny but nonzero ``w̄_j`` and a large ``α_j`` no longer breaks Clarabel; the
fallback to cvxpy and the stall detector work.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from torch_lipcvx import ShallowWeights, bounds, lipsdp
from torch_lipcvx._engine import programs
from torch_lipcvx.bounds import NEGLIGIBLE_SHARE, certify_t, lmi_max_eig
from torch_lipcvx._engine.lipsdp_dual import lipsdp_dual, lipsdp_newton, newton_system
from torch_lipcvx._engine.programs import SolverError, lipsdp_original_lmi

F64 = torch.float64
SCS_TIGHT = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 500_000}


def _weights(seed: int, m: int, d: int) -> ShallowWeights:
    g = torch.Generator().manual_seed(seed)
    return ShallowWeights(torch.randn(m, d, generator=g, dtype=F64),
                          torch.randn(m, generator=g, dtype=F64),
                          torch.randn(m, generator=g, dtype=F64) / math.sqrt(m))


def _max_sampled_gradient(w: ShallowWeights, n: int = 20000, seed: int = 1) -> float:
    g = torch.Generator().manual_seed(seed)
    X = torch.cat([torch.randn(n, w.d, generator=g, dtype=F64) * s for s in (0.3, 1, 10)])
    G = ((X @ w.W.T + w.b > 0).to(F64) * w.alpha) @ w.W
    return float(torch.linalg.vector_norm(G, dim=1).max())


def _assert_certificate(w: ShallowWeights, cert) -> None:
    """The LMI in float64 (scaled by T^{-1/2}: t spans ~12 orders of magnitude when a unit has a
    tiny w̄_j, and M's own eigenvalues then carry rounding errors ~eps·max t), and the sampled
    gradients."""
    assert lmi_max_eig(w.W, w.alpha, torch.as_tensor(cert.t), cert.rho, scaled=True) <= \
        1e-9 * cert.rho
    assert cert.L >= _max_sampled_gradient(w) * (1 - 1e-12)


@pytest.mark.parametrize("seed,m,d", [(0, 6, 2), (1, 12, 3), (2, 20, 4)])
def test_auto_equals_plain_scs_to_1e5(seed, m, d):
    """Issue 5: on small instances the fast LipSDP equals plain cvxpy+SCS (original (d+m) LMI,
    eps 1e-9) within 1e-5 relative in L: both SCS's own value and its re-verified t."""
    w = _weights(seed, m, d)
    auto = lipsdp(w, solver="auto")
    assert auto.solver == "auto/newton" and auto.status == "optimal"
    rho_scs, t_scs, _ = lipsdp_original_lmi(w.W.numpy(), w.alpha.numpy(), "SCS", SCS_TIGHT)
    L_scs = math.sqrt(certify_t(w.W, w.alpha, t_scs)[0])
    assert abs(auto.L - L_scs) <= 1e-5 * L_scs
    assert abs(auto.L - math.sqrt(rho_scs)) <= 1e-5 * auto.L
    assert auto.L <= L_scs * (1 + 1e-9)          # a certified SCS t cannot beat ρ* (≈ auto)
    # the dual bound: rho_lower ≤ ρ* ≤ rho, 1e-9 apart
    assert auto.rho_lower <= auto.rho <= auto.rho_lower * (1 + 1e-8)
    assert auto.rho_lower <= rho_scs * (1 + 1e-6)
    _assert_certificate(w, auto)


@pytest.mark.parametrize("solver", ["auto", "CLARABEL", "SCS"])
def test_tiny_input_weights_with_large_alpha(solver):
    """Regression: ``‖w̄_j‖ ≈ 2e-7`` with ``α_j = ±1e3`` made Clarabel fail ('Solver CLARABEL
    failed') on the raw data; balanced units fix it. The certificate stays valid and within the
    triangle inequality of the net without those units."""
    w = _weights(3, 20, 4)
    W, alpha = w.W.clone(), w.alpha.clone()
    for j, sign in ((0, 1.0), (1, -1.0), (2, 1.0)):
        W[j] = W[j] / torch.linalg.vector_norm(W[j]) * 2e-7
        alpha[j] = sign * 1e3
    wt = ShallowWeights(W, w.b, alpha)
    cert = lipsdp(wt, solver=solver)
    _assert_certificate(wt, cert)
    keep = torch.arange(20) >= 3
    rest = lipsdp(ShallowWeights(W[keep], w.b[keep], alpha[keep]), solver="auto")
    assert cert.L >= rest.L * (1 - 1e-9)
    assert cert.L <= rest.L + 3 * 1e3 * 2e-7
    ref = lipsdp(wt, solver="auto")
    assert cert.L == pytest.approx(ref.L, rel=1e-6 if solver != "SCS" else 1e-4)


def test_negligible_units_are_bounded_separately():
    """Units whose |α_j|‖w̄_j‖ are negligible (1e-14 of the largest) leave the SDP, get a finite
    t_j > 0, and the certificate equals the one without them (plus the zero-w̄ unit rule)."""
    w = _weights(4, 15, 3)
    W, alpha = w.W.clone(), w.alpha.clone()
    W[[0, 1]] *= 1e-15                    # tiny and nonzero
    W[2] = 0.0                            # exactly zero
    assert float((alpha[:3].abs() * W[:3].norm(dim=1)).sum()) <= NEGLIGIBLE_SHARE * float(
        (alpha.abs() * W.norm(dim=1)).max())
    wt = ShallowWeights(W, w.b, alpha)
    keep = torch.arange(15) >= 3
    rest = lipsdp(ShallowWeights(W[keep], w.b[keep], alpha[keep]), solver="auto")
    for solver in ("auto", "CLARABEL"):
        cert = lipsdp(wt, solver=solver)
        assert bool((torch.as_tensor(cert.t)[:3] > 0).all()) and math.isfinite(cert.rho)
        _assert_certificate(wt, cert)
        assert cert.rho == pytest.approx(rest.rho, rel=1e-5) and cert.rho >= rest.rho * (1 - 1e-9)


def test_zero_sum_network_stays_off_the_boundary():
    """g = W̄ᵀα = 0 (units in ± pairs): the dual's t lies on s = 1; the returned t keeps
    s = Σ α_j²/(2t_j) < 1 strictly (as program (12) needs) at a ~1e-10 cost."""
    w = _weights(5, 6, 3)
    W = torch.cat([w.W, w.W])
    alpha = torch.cat([w.alpha, -w.alpha])
    wz = ShallowWeights(W, torch.zeros(12, dtype=F64), alpha)
    assert float(torch.linalg.vector_norm(W.T @ alpha)) <= 1e-15   # rounding only
    cert = lipsdp(wz, solver="auto")
    assert cert.status == "optimal" and cert.rho <= cert.rho_lower * (1 + 1e-8)
    s = float((alpha ** 2 / (2 * torch.as_tensor(cert.t))).sum())
    assert s < 1 - 1e-11
    _assert_certificate(wz, cert)
    assert cert.L == pytest.approx(lipsdp(wz, solver="CLARABEL").L, rel=1e-6)


def test_closed_forms_single_unit_and_one_input():
    """m = 1: L = |α|‖w̄‖; d = 1: L = (|Σ α_j w_j| + Σ |α_j w_j|)/2 (LipSDP's value in 1-D)."""
    one = ShallowWeights(torch.tensor([[3.0, -4.0, 12.0]], dtype=F64), torch.zeros(1, dtype=F64),
                         torch.tensor([-0.5], dtype=F64))
    assert lipsdp(one, solver="auto").L == pytest.approx(6.5, rel=1e-9)
    w = _weights(6, 9, 1)
    exact = 0.5 * (abs(float(w.W[:, 0] @ w.alpha)) + float((w.W[:, 0] * w.alpha).abs().sum()))
    assert lipsdp(w, solver="auto").L == pytest.approx(exact, rel=1e-9)


def test_auto_falls_back_to_cvxpy_when_the_gap_stays_open():
    w = _weights(7, 12, 3)
    with pytest.warns(RuntimeWarning, match="also solved by auto/CLARABEL"):
        cert = lipsdp(w, solver="auto", solver_options={"max_iter": 2})
    assert cert.solver == "auto/CLARABEL"
    _assert_certificate(w, cert)
    assert cert.L == pytest.approx(lipsdp(w, solver="auto").L, rel=1e-6)
    # "torch" never calls cvxpy: it returns the (certified, looser) bound of 2 Newton steps
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loose = lipsdp(w, solver="torch", solver_options={"max_iter": 2})
    assert loose.solver == "torch/newton" and loose.status == "max_iter"
    _assert_certificate(w, loose)


def test_auto_never_raises_a_solver_error(monkeypatch):
    """If the torch method fails and both cvxpy solvers fail too, "auto" still returns a valid
    certificate (triangle-inequality multipliers, at least as good as Σ_j |α_j|‖w̄_j‖)."""
    w = _weights(9, 10, 3)

    def fail(*args, **kwargs):
        raise SolverError("forced failure")

    def broken(*args, **kwargs):
        raise torch.linalg.LinAlgError("forced failure")

    monkeypatch.setattr(programs.LipSDPProgram, "solve", fail)
    monkeypatch.setattr(bounds, "lipsdp_newton", broken)
    # Newton failing alone: the first-order method certifies instead, no fallback
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apg = lipsdp(w, solver="auto")
    assert apg.solver == "auto/apg"
    _assert_certificate(w, apg)
    monkeypatch.setattr(bounds, "lipsdp_dual", broken)
    with pytest.warns(RuntimeWarning, match="CLARABEL failed.*SCS failed"):
        cert = lipsdp(w, solver="auto")
    assert cert.solver == "auto/triangle" and math.isnan(cert.rho_lower)
    _assert_certificate(w, cert)
    assert cert.L <= float((w.alpha.abs() * w.W.norm(dim=1)).sum()) * (1 + 1e-9)
    with pytest.raises(torch.linalg.LinAlgError):
        lipsdp(w, solver="torch")
    with pytest.raises(SolverError):
        lipsdp(w, solver="CLARABEL")


def test_newton_and_first_order_methods_agree_and_the_stall_detector_stops_early():
    w = _weights(8, 40, 5)
    rho_n, t_n, info_n = lipsdp_newton(w.W, w.alpha)
    assert info_n.status == "optimal" and rho_n <= info_n.lower * (1 + 1e-9)
    rho_a, t_a, info_a = lipsdp_dual(w.W, w.alpha, tol=1e-6)
    assert info_a.lower <= rho_n * (1 + 1e-12) and info_n.lower <= rho_a * (1 + 1e-12)
    assert certify_t(w.W, w.alpha, t_a)[0] <= rho_n * (1 + 2e-6)
    # an unreachable tolerance: the stall detector gives up long before max_iter
    _, _, stalled = lipsdp_dual(w.W, w.alpha, tol=1e-14, max_iter=5000, stall_window=50)
    assert stalled.status == "stalled" and stalled.iterations < 5000
    via = lipsdp(w, solver="torch", solver_options={"method": "apg", "stall_window": 50})
    assert via.solver == "torch/apg" and via.rho >= info_n.lower
    with pytest.raises(ValueError, match="method"):
        lipsdp(w, solver="torch", solver_options={"method": "bfgs"})


def test_negligible_units_beside_an_sdp_solution_on_the_boundary():
    """A zero-sum network (g = W̄ᵀα = 0: the optimal t lies on s = 1) plus two negligible units.
    An SDP solver's core t can come back with s ≥ 1, leaving the negligible units no budget:
    their t_j went negative, certify_t lifted them to a floor and the final rescaling blew the
    bound up (SCS: L = 1.6e6 for L = 8.01). The core t is now rescaled into the interior first;
    every solver gives the bound of the network without those units, certified."""
    g = torch.Generator().manual_seed(0)
    for _ in range(5):                          # the sixth draw was the failing one
        torch.randn(8, 3, generator=g, dtype=F64), torch.randn(8, generator=g, dtype=F64)
        torch.randn(2, 3, generator=g, dtype=F64)
    W, a = torch.randn(8, 3, generator=g, dtype=F64), torch.randn(8, generator=g, dtype=F64)
    W, a = torch.cat([W, W]), torch.cat([a, -a])
    core = ShallowWeights(W, torch.zeros(16, dtype=F64), a)
    Wt = torch.cat([W, torch.randn(2, 3, generator=g, dtype=F64) * 1e-16])
    wt = ShallowWeights(Wt, torch.zeros(18, dtype=F64), torch.cat([a, torch.tensor([1.0, -1.0],
                                                                                  dtype=F64)]))
    ref = lipsdp(core, solver="auto").L
    for solver in ("auto", "CLARABEL", "SCS"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = lipsdp(wt, solver=solver)
        _assert_certificate(wt, cert)
        assert ref * (1 - 1e-9) <= cert.L <= ref * (1 + 1e-5), solver


# ------------------------------------------------------------------ d > 32 (issue 26, item 8)
def _zero_sum(seed: int, m: int, d: int) -> ShallowWeights:
    """Units in ± pairs: g = W̄ᵀα = 0, the optimum on the boundary s = 1 (where the first-order
    method alone stalls above the accepted gap, so "auto" needs the Newton method)."""
    w = _weights(seed, m // 2, d)
    return ShallowWeights(torch.cat([w.W, w.W]), torch.cat([w.b, w.b]),
                          torch.cat([w.alpha, -w.alpha]))


@pytest.mark.parametrize("make", [_weights, _zero_sum], ids=["random", "zero_sum"])
def test_auto_certifies_d50_m500_without_a_fallback(make):
    """d = 50, m = 500 on CPU: "auto" once stopped its first-order method at a 3.4e-7 gap and fell
    back to Clarabel, which was killed out of memory. Now it certifies within the accepted gap
    with the torch methods alone (no cvxpy, no warning), above every sampled gradient norm."""
    w = make(11, 500, 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = lipsdp(w, solver="auto")
    assert cert.solver.startswith("auto/") and "CLARABEL" not in cert.solver \
        and "SCS" not in cert.solver
    assert cert.rho_lower <= cert.rho <= cert.rho_lower * (1 + bounds.AUTO_ACCEPT_GAP)
    _assert_certificate(w, cert)
    # the torch path is the same certificate, without the option of a fallback
    torch_cert = lipsdp(w, solver="torch")
    assert torch_cert.rho <= torch_cert.rho_lower * (1 + bounds.AUTO_ACCEPT_GAP)


def test_auto_with_d_above_32_agrees_with_cvxpy():
    """d = 40, m = 10: "auto" (certified gap ≤ 1e-7 in ρ) against Clarabel at tight tolerances
    (AUTO_CLARABEL_OPTIONS, 1e-6 relative in L). Both are certified upper bounds on ρ*, and
    auto's dual bound is a lower bound on ρ*: so auto ≤ Clarabel·(1 + gap) and the two agree to
    Clarabel's accuracy."""
    for make in (_weights, _zero_sum):
        w = make(12, 10, 40)
        auto = lipsdp(w, solver="auto")
        clar = lipsdp(w, solver="CLARABEL", solver_options=bounds.AUTO_CLARABEL_OPTIONS)
        assert auto.rho_lower <= clar.rho
        assert auto.rho <= clar.rho * (1 + bounds.AUTO_ACCEPT_GAP)
        assert auto.L == pytest.approx(clar.L, rel=1e-6)
        _assert_certificate(w, auto)


@pytest.mark.parametrize("make", [_weights, _zero_sum], ids=["random", "zero_sum"])
def test_newton_systems_bracket_the_same_optimum(make):
    """The Newton method through Woodbury's (m + 1) system and through the d(d+1)/2 system:
    each one's dual bound is below the other's primal value, and both close the gap to the
    accepted one."""
    w = make(13, 30, 34)
    rho_s, _, info_s = lipsdp_newton(w.W, w.alpha, system="svec")
    rho_l, t_l, info_l = lipsdp_newton(w.W, w.alpha, system="lowrank")
    assert info_s.lower <= rho_l * (1 + 1e-12) and info_l.lower <= rho_s * (1 + 1e-12)
    assert rho_l <= info_l.lower * (1 + bounds.AUTO_ACCEPT_GAP)
    assert certify_t(w.W, w.alpha, t_l)[0] <= rho_s * (1 + 2 * bounds.AUTO_ACCEPT_GAP)
    assert newton_system(30, 34)[0] == "lowrank" and newton_system(1000, 10)[0] == "svec"
    with pytest.raises(ValueError, match="system must be one of"):
        lipsdp_newton(w.W, w.alpha, system="dense")


def test_fallback_that_cannot_fit_is_skipped_with_a_warning(monkeypatch):
    """A cvxpy fallback is sized before it is built: with too little memory available it is
    skipped (no cvxpy program built), the warning says why, and the torch method's certified,
    looser bound is kept; with no torch bound at all, the triangle-inequality one."""
    w = _weights(14, 12, 3)
    need = programs.lipsdp_program_size(12, 3)["bytes"]
    monkeypatch.setattr(bounds, "available_memory", lambda: int(need))   # half is too little

    def never(*args, **kwargs):
        raise AssertionError("a cvxpy program was built")

    monkeypatch.setattr(programs.LipSDPProgram, "__init__", never)
    with pytest.warns(bounds.LipSDPFallbackWarning, match="cannot fit .* was skipped; kept the "
                      "torch method's certified"):
        loose = lipsdp(w, solver="auto", solver_options={"max_iter": 2})
    assert loose.solver == "auto/newton" and loose.status == "max_iter"
    _assert_certificate(w, loose)
    def broken(*args, **kwargs):
        raise torch.linalg.LinAlgError("forced failure")

    monkeypatch.setattr(bounds, "lipsdp_newton", broken)
    with pytest.warns(bounds.LipSDPFallbackWarning, match="was skipped; also solved by "
                      "auto/triangle"):
        tri = lipsdp(w, solver="auto", solver_options={"method": "newton"})
    _assert_certificate(w, tri)


def test_program_size_estimate():
    """The estimate grows with m and d, covers the 56 GiB cvxpy asked for at d = 50, m = 1000,
    and refuses sizes that are not positive integers."""
    size = programs.lipsdp_program_size
    assert size(1000, 50)["bytes"] >= 56 * 2 ** 30
    assert size(100, 50)["bytes"] < size(500, 50)["bytes"] < size(500, 100)["bytes"]
    assert size(100, 10, "original")["bytes"] > size(100, 10)["bytes"]
    assert size(100, 10)["lmi_sizes"] == [11] and size(100, 10, "schur")["lmi_sizes"] == [111]
    assert bounds.available_memory() is None or bounds.available_memory() > 0
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="m must be a positive integer"):
            size(bad, 3)
    with pytest.raises(ValueError, match="form must be one of"):
        size(3, 3, "dense")


def test_first_order_method_on_a_zero_sum_network_stays_inside():
    """g = W̄ᵀα = 0: the first-order method's t(Z) lies on s = 1, where φ is infinite in rounding;
    each candidate is moved just inside (as the Newton method's are), so it returns a finite,
    certified t with s < 1 that brackets the Newton method's optimum."""
    w = _zero_sum(15, 400, 33)
    rho, t, info = lipsdp_dual(w.W, w.alpha, tol=5e-8, max_iter=2000, stall_window=300)
    assert float((w.alpha ** 2 / (2 * t)).sum()) < 1 and math.isfinite(rho)
    rho_n, _, info_n = lipsdp_newton(w.W, w.alpha)
    assert info.lower <= rho_n * (1 + 1e-12) and info_n.lower <= rho * (1 + 1e-12)
    assert certify_t(w.W, w.alpha, t)[0] <= info_n.lower * (1 + 1e-5)
