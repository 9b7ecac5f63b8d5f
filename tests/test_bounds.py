"""Properties of the Lipschitz bounds (docs/lipsdp.md): certificates are valid, tight where the
truth is known, agree with an independent formulation, and sandwich every sampled gradient norm."""

from __future__ import annotations

import math

import pytest
import torch

from torch_lipcvx import ShallowReLU, ShallowWeights, lipschitz_bounds, lipsdp
from torch_lipcvx.bounds import (certify_t, lmi_max_eig, naive_bound, sampled_lower_bound,
                                spectral_rho)
from torch_lipcvx._engine.programs import lipsdp_original_lmi

from conftest import make_instance


def random_weights(seed: int, m: int, d: int) -> ShallowWeights:
    g = torch.Generator().manual_seed(seed)
    return ShallowWeights(torch.randn(m, d, generator=g, dtype=torch.float64),
                          torch.randn(m, generator=g, dtype=torch.float64),
                          torch.randn(m, generator=g, dtype=torch.float64) / math.sqrt(m),
                          torch.tensor(0.3, dtype=torch.float64))


def max_sampled_gradient(w: ShallowWeights, q: float, n: int = 20000, seed: int = 1) -> float:
    g = torch.Generator().manual_seed(seed)
    X = torch.cat([torch.randn(n, w.d, generator=g, dtype=torch.float64) * s for s in (0.3, 1, 10)])
    G = ((X @ w.W.T + w.b > 0).double() * w.alpha) @ w.W
    return float(torch.linalg.vector_norm(G, ord=q, dim=1).max())


CASES = [(0, 5, 2), (1, 10, 3), (2, 20, 5), (3, 15, 4)]


@pytest.mark.parametrize("solver", ["SCS", "CLARABEL"])
@pytest.mark.parametrize("seed,m,d", CASES)
def test_lipsdp_is_a_valid_certificate(seed, m, d, solver):
    w = random_weights(seed, m, d)
    cert = lipsdp(w, solver=solver)
    # the certificate is what the LMI certifies, checked independently in float64
    assert lmi_max_eig(w.W, w.alpha, torch.as_tensor(cert.t), cert.rho) <= 1e-9 * cert.rho
    assert cert.L >= max_sampled_gradient(w, 2.0) * (1 - 1e-12)
    assert cert.L <= naive_bound(w, 2.0) * (1 + 1e-9)


@pytest.mark.parametrize("seed,m,d", CASES)
def test_lipsdp_agrees_with_the_original_lmi(seed, m, d):
    """Our LipSDP (Schur form with Clarabel, original form with SCS, both re-verified) against a
    plain cvxpy formulation of the un-Schured LMI M(ρ, T) ⪯ 0 solved with tight SCS."""
    w = random_weights(seed, m, d)
    rho_ref, _, _ = lipsdp_original_lmi(w.W.numpy(), w.alpha.numpy(), "SCS",
                                        {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 500000})
    for solver, form, rel in [("CLARABEL", "reduced", 1e-5), ("CLARABEL", "schur", 1e-5),
                              ("CLARABEL", "original", 1e-5), ("SCS", "reduced", 2e-3),
                              ("SCS", "original", 2e-4)]:
        cert = lipsdp(w, solver=solver, form=form)
        assert cert.rho == pytest.approx(rho_ref, rel=rel), (solver, form)
        assert cert.rho >= rho_ref * (1 - 1e-6), "a certified value cannot beat the optimum"


def test_naive_l2_bound_is_certified_under_rounding():
    """‖W̄‖₂‖α‖₂ for W̄ = u vᵀ with Pythagorean u, v, α is an integer product; the float64 SVD
    alone lands below it on 140 of these 1000 cases, the certified bound on none."""
    import itertools
    trip = [(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29), (12, 35, 37),
            (9, 40, 41), (28, 45, 53), (11, 60, 61), (33, 56, 65)]
    f64 = dict(dtype=torch.float64)
    for (a, b, c), (e, f, g), (p, q, r) in itertools.product(trip, repeat=3):
        w = ShallowWeights(torch.outer(torch.tensor([a, b], **f64), torch.tensor([e, f], **f64)),
                           torch.zeros(2, **f64), torch.tensor([p, q], **f64))
        assert naive_bound(w, 2.0) >= c * g * r


def test_single_unit_is_exact():
    """For f(x) = α relu(wᵀx + b) the Lipschitz constant is |α|‖w‖, and LipSDP is tight."""
    w = ShallowWeights(torch.tensor([[3.0, -4.0]], dtype=torch.float64),
                       torch.tensor([0.5], dtype=torch.float64),
                       torch.tensor([-2.0], dtype=torch.float64))
    cert = lipsdp(w, solver="CLARABEL")
    assert cert.L == pytest.approx(10.0, rel=1e-6)
    assert naive_bound(w, 2.0) == pytest.approx(10.0)
    iv = lipschitz_bounds(ShallowReLU.from_weights(w), solver="CLARABEL")
    assert iv.lower == pytest.approx(10.0, rel=1e-12)
    assert iv.lower <= iv.upper


def test_same_sign_units_sharing_a_direction():
    """Two units on the same hyperplane direction with positive α: L = (α₁ + α₂)‖w‖ exactly."""
    w = ShallowWeights(torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64),
                       torch.tensor([0.0, 1.0], dtype=torch.float64),
                       torch.tensor([1.0, 0.5], dtype=torch.float64))
    exact = 2.0 * math.sqrt(5.0)
    assert lipsdp(w, solver="CLARABEL").L == pytest.approx(exact, rel=1e-5)
    assert lipschitz_bounds(ShallowReLU.from_weights(w), solver="CLARABEL").lower == \
        pytest.approx(exact, rel=1e-12)


def test_repair_of_an_infeasible_t():
    w = random_weights(4, 12, 3)
    cert = lipsdp(w, solver="CLARABEL")
    t_bad = torch.as_tensor(cert.t) * 0.5       # 2T − ααᵀ is no longer positive definite
    assert math.isinf(spectral_rho(w.W, w.alpha, t_bad))
    rho, t_fixed, repaired = certify_t(w.W, w.alpha, t_bad)
    assert repaired and math.isfinite(rho)
    assert lmi_max_eig(w.W, w.alpha, t_fixed, rho) <= 1e-9 * rho
    assert rho >= cert.rho * (1 - 1e-6)
    with pytest.raises(ValueError, match="does not certify"):
        certify_t(w.W, w.alpha, t_bad, repair=False)


def test_zero_outer_weights_are_ignored():
    w = random_weights(5, 8, 3)
    alpha = w.alpha.clone()
    alpha[[1, 4]] = 0.0
    w0 = ShallowWeights(w.W, w.b, alpha, w.c)
    w_drop = ShallowWeights(w.W[alpha != 0], w.b[alpha != 0], alpha[alpha != 0], w.c)
    c0, c1 = lipsdp(w0, solver="CLARABEL"), lipsdp(w_drop, solver="CLARABEL")
    assert c0.rho == pytest.approx(c1.rho, rel=1e-6)
    assert c0.t[1] == 0 and c0.t[4] == 0
    zero = ShallowWeights(w.W, w.b, torch.zeros_like(w.alpha), w.c)
    assert lipsdp(zero).rho == 0.0


@pytest.mark.parametrize("seed,m,d", CASES[:3])
def test_interval_sandwiches_sampled_gradients(seed, m, d):
    w = random_weights(seed, m, d)
    net = ShallowReLU.from_weights(w)
    iv2 = lipschitz_bounds(net, norm=2, solver="CLARABEL")
    assert iv2.lower <= iv2.upper
    # the search is at least about as good as brute-force sampling
    assert iv2.lower >= 0.9 * max_sampled_gradient(w, 2.0, n=2000)
    assert iv2.upper_method == "lipsdp"
    assert set(iv2.upper_bounds) == {"naive", "lipsdp"}
    ivi = lipschitz_bounds(net, norm="inf", solver="CLARABEL")
    assert ivi.lower <= ivi.upper * (1 + 1e-12)
    assert ivi.upper >= max_sampled_gradient(w, 1.0)
    assert ivi.upper_bounds["sqrt_d_lipsdp"] == pytest.approx(math.sqrt(d) * iv2.upper)
    assert ivi.upper == min(ivi.upper_bounds.values())
    naive = lipschitz_bounds(net, method="naive")
    assert naive.certificate is None and naive.upper == pytest.approx(naive_bound(w, 2.0))


def test_lower_bound_uses_data_and_is_attained():
    net, X, _ = make_instance(7, n=50, d=3, m=8, steps=50)
    iv = lipschitz_bounds(net, X=X, solver="CLARABEL")
    # the reported point attains the lower bound exactly
    g = net.input_gradients(iv.argmax[None, :])[0]
    assert float(torch.linalg.vector_norm(g)) == pytest.approx(iv.lower, rel=1e-12)
    assert iv.lower >= float(torch.linalg.vector_norm(net.input_gradients(X), dim=1).max())


def test_float32_model_and_sequential_input():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1))
    iv = lipschitz_bounds(seq, solver="CLARABEL")
    w = ShallowReLU.from_sequential(seq).weights().to(torch.float64)
    assert iv.upper == pytest.approx(lipsdp(w, solver="CLARABEL").L, rel=1e-6)
    assert isinstance(iv.upper, float) and iv.lower <= iv.upper


def test_units_without_input_weights_do_not_loosen_the_certificate():
    """A unit with α_j ≠ 0 but w̄_j = 0 is a constant: the certificate equals that of the network
    without it (to 1e-5), and its t still certifies the whole network (usable by (12))."""
    w = random_weights(6, 8, 3)
    W = w.W.clone()
    W[[2, 5]] = 0.0
    w0 = ShallowWeights(W, w.b, w.alpha, w.c)
    keep = torch.tensor([j not in (2, 5) for j in range(8)])
    w_drop = ShallowWeights(W[keep], w.b[keep], w.alpha[keep], w.c)
    c0, c1 = lipsdp(w0, solver="CLARABEL"), lipsdp(w_drop, solver="CLARABEL")
    assert c0.rho == pytest.approx(c1.rho, rel=1e-5) and c0.rho >= c1.rho * (1 - 1e-8)
    assert c0.t[2] > 0 and c0.t[5] > 0
    assert lmi_max_eig(W, w.alpha, torch.as_tensor(c0.t), c0.rho) <= 1e-9 * c0.rho
    flat = ShallowWeights(torch.zeros_like(W), w.b, w.alpha, w.c)
    cf = lipsdp(flat)
    assert cf.rho == 0.0 and (torch.as_tensor(cf.t) > 0).all()
    assert lmi_max_eig(flat.W, flat.alpha, torch.as_tensor(cf.t), 0.0) <= 1e-12


# ------------------------------------------------------------------ the sampled lower bound
def _weights64(W, b, alpha, c=None):
    t = lambda v: torch.as_tensor(v, dtype=torch.float64)          # noqa: E731
    return ShallowWeights(t(W), t(b), t(alpha), None if c is None else t(c))


@pytest.mark.parametrize("norm", [2, "inf"])
def test_lower_bound_ignores_a_point_on_a_kink(norm):
    """f(x) = ½relu(x+10) − ½relu(10−x) − ¾relu(x) + ¾relu(−x) has slope ¼ on (−10, 10) and
    −¼ outside: L = ¼. At x = 0 two opposite hyperplanes coincide, and the strict rule
    1[z > 0] switches both off: "gradient" 1.0, the slope of no region. A data point there
    must not lift the lower bound above L."""
    w = _weights64([[1.0], [-1.0], [1.0], [-1.0]], [10.0, 10.0, 0.0, 0.0],
                   [0.5, -0.5, -0.75, 0.75], 0.0)
    net = ShallowReLU.from_weights(w)
    X = torch.tensor([[0.0], [3.0]], dtype=torch.float64)
    assert float(net.input_gradients(X)[0].abs().max()) == 1.0      # the kink's artefact
    for data in (X, None):
        iv = lipschitz_bounds(net, norm, X=data)
        assert iv.lower <= 0.25 and iv.lower == pytest.approx(0.25, rel=1e-12)
        assert iv.lower <= iv.upper


def test_lower_bound_of_an_exactly_cancelling_network_is_zero():
    """Two units that cancel exactly: f ≡ 0 and L = 0, so no rounding residue may be reported."""
    w = _weights64([[0.3, -1.7], [0.3, -1.7]], [0.1, 0.1], [0.7, -0.7])
    iv = lipschitz_bounds(ShallowReLU.from_weights(w), 2, X=torch.randn(50, 2, dtype=torch.float64))
    assert iv.lower == 0.0


@pytest.mark.parametrize("extra", ["dead-units", "hyperplanes-through-0"])
def test_lower_bound_reaches_the_steepest_region_at_any_offset(extra):
    """d = 1, exact L by the breakpoints: f = 0.1·relu(x) + 2·relu(x − 40) − 2.5·relu(x − 60)
    has slopes 0, 0.1, 2.1, −0.4, so L = 2.1 on (40, 60) only. Six dead units (w = 0, b = 1)
    once put the sampling scale at ~1e300, and six more hyperplanes through 0 put it at 1e-3:
    either way no sample came near (40, 60)."""
    W, b, alpha = [[1.0], [1.0], [1.0]], [0.0, -40.0, -60.0], [0.1, 2.0, -2.5]
    if extra == "dead-units":
        W, b, alpha = W + [[0.0]] * 6, b + [1.0] * 6, alpha + [1.0] * 6
    else:   # three pairs ±0.01·relu(x) that cancel exactly
        W = W + [[1.0], [1.0]] * 3
        b, alpha = b + [0.0] * 6, alpha + [0.01, -0.01] * 3
    iv = lipschitz_bounds(ShallowReLU.from_weights(_weights64(W, b, alpha)), 2)
    assert iv.lower <= 2.1 and iv.lower == pytest.approx(2.1, rel=1e-12) and iv.upper >= 2.1


@pytest.mark.parametrize("solver", ["auto", "CLARABEL"])
@pytest.mark.parametrize("s", [1e-60, 1e-12, 1e12, 1e60])
def test_lipsdp_is_certified_at_extreme_weight_scales(s, solver):
    """f = s·relu(s x) − ½s·relu(2s x + 1): L = s² exactly, certified at any scale whose
    ρ = L² float64 can hold (weights outside 2^±30 are rescaled by exact powers of two; the
    per-unit balancing of the solve already coped with these, so this guards the path)."""
    w = _weights64([[s], [2 * s]], [0.0, 1.0], [s, -0.5 * s], 0.0)
    res = lipsdp(w, solver=solver)
    assert res.L >= s * s and res.L == pytest.approx(s * s, rel=1e-6)
    # the returned t certifies ρ for the original weights, as certify_t recomputes it
    assert certify_t(w.W, w.alpha, torch.as_tensor(res.t))[0] == pytest.approx(res.rho, rel=1e-9)


def test_lipsdp_refuses_a_rho_outside_float64():
    """L = 1e-180: ρ = 1e-360 underflows. It was once reported as 0 (at 1e-80 weights, a
    subnormal ρ gave an L below the true one), and at large scales solver errors surfaced."""
    w = _weights64([[1e-90]], [0.0], [1e-90], 0.0)
    with pytest.raises(ValueError, match="outside float64's normal range"):
        lipsdp(w)


def test_lipsdp_rescaling_never_drops_a_unit():
    """Weights outside 2^±30 are rescaled by powers of two. The scale once included units with
    α_j = 0, and a rescaling that rounds entries to zero was not noticed: f = 1e100·relu(1e-100·x)
    beside a unit with α = 0 and w̄ = 1e250 has L = 1, and L = 0 was reported. Units that
    need scales float64 cannot hold together (1e-30·1e30 beside 1e300·1e-300, L = 2) are
    refused instead."""
    w = _weights64([[1e-100], [1e250]], [0.0, 0.0], [1e100, 0.0])
    for solver in ("auto", "CLARABEL"):
        res = lipsdp(w, solver=solver)
        assert res.L >= 1.0 and res.L == pytest.approx(1.0, rel=1e-6)
        assert res.t[1] == 0 and res.t[0] > 0
    lossy = _weights64([[1e-30], [1e300]], [0.0, 0.0], [1e30, 1e-300])
    with pytest.raises(ValueError, match="orders of magnitude"):
        lipsdp(lossy)


def _certifies_exactly(W, alpha, t, rho) -> bool:
    """``ρI − (½W̄ᵀTW̄ + ggᵀ/(4(1 − s))) ≻ 0`` with ``s < 1`` in exact rational arithmetic (the
    float64 inputs as they are): ``M(ρ, T) ≺ 0`` up to the kernel, i.e. ρ is certified."""
    from fractions import Fraction as F
    Wf = [[F(x) for x in row] for row in W.tolist()]
    a, tt = [F(x) for x in alpha.tolist()], [F(x) for x in t.tolist()]
    m, d = len(Wf), len(Wf[0])
    if not all(x > 0 for x in tt):
        return False
    s = sum(a[j] * a[j] / (2 * tt[j]) for j in range(m))
    if s >= 1:
        return False
    g = [sum(a[j] * Wf[j][k] for j in range(m)) for k in range(d)]
    A = [[(F(rho) if k == l else F(0)) - sum(tt[j] * Wf[j][k] * Wf[j][l] for j in range(m)) / 2
          - g[k] * g[l] / (4 * (1 - s)) for l in range(d)] for k in range(d)]
    for i in range(d):            # Gaussian elimination: positive definite iff every pivot > 0
        if A[i][i] <= 0:
            return False
        for k in range(i + 1, d):
            f = A[k][i] / A[i][i]
            for l in range(i, d):
                A[k][l] -= f * A[i][l]
    return True


@pytest.mark.parametrize("gap", [1e-9, 1e-13])
@pytest.mark.parametrize("seed", range(4))
def test_certify_t_is_rigorous_when_2T_minus_aa_is_ill_conditioned(seed, gap):
    """certify_t's ρ was ‖C⁻¹TW̄‖² through a Cholesky factor of 2T − ααᵀ plus a 1e-10 margin:
    its relative error grows like 1e-16/(1 − s), s = Σ α_j²/(2t_j), so for s = 1 − 1e-9 it fell
    1e-7 below the true ρ(t) (seed 0) and for s = 1 − 1e-13 up to 1e-3 below. Now every
    rounding error is bounded: the certificate holds in exact arithmetic, for such t and for
    LipSDP's own (on a zero-sum network, where its t sits at s ≈ 1 − 1e-10)."""
    w = random_weights(seed, 8, 3)
    t0 = torch.as_tensor(lipsdp(w, solver="CLARABEL").t)
    s = float((w.alpha ** 2 / (2 * t0)).sum())
    t = t0 * (s / (1 - gap))
    rho, t_used, repaired = certify_t(w.W, w.alpha, t)
    assert not repaired and torch.equal(t_used, t)
    assert _certifies_exactly(w.W, w.alpha, t_used, rho)
    zs = ShallowWeights(torch.cat([w.W, w.W]), torch.cat([w.b, w.b]),
                        torch.cat([w.alpha, -w.alpha]))
    cert = lipsdp(zs)
    assert _certifies_exactly(zs.W, zs.alpha, torch.as_tensor(cert.t), cert.rho)
    assert cert.rho <= cert.rho_lower * (1 + 1e-8)          # and still tight


def test_certify_t_refuses_bad_input():
    w = random_weights(1, 6, 3)
    t = torch.as_tensor(lipsdp(w).t)
    for bad in (float("nan"), float("inf")):
        tb = t.clone()
        tb[2] = bad
        with pytest.raises(ValueError, match="t contains NaN/Inf"):
            certify_t(w.W, w.alpha, tb)
    with pytest.raises(ValueError, match=r"t \(m,\)"):
        certify_t(w.W, w.alpha, t[:4])
    with pytest.raises(ValueError, match="W contains NaN/Inf"):
        certify_t(w.W * float("nan"), w.alpha, t)
    with pytest.raises(ValueError, match="form must be one of"):
        lipsdp(w, form="bogus")               # checked for "auto" too (its fallback uses it)


def test_sampled_lower_bound_checks_its_arguments():
    """norm="l2" once measured gradients in ℓ1 (anything but the number 2 did): a "lower bound"
    of 10.1 for a network whose certified L₂ is 5.23. It is now the ℓ2 bound, and an unknown
    norm, a wrong-shaped or non-finite X and n_samples < 1 are refused."""
    g = torch.Generator().manual_seed(0)
    f64 = dict(dtype=torch.float64)
    w = ShallowWeights(torch.randn(10, 5, generator=g, **f64), torch.randn(10, generator=g, **f64),
                       torch.randn(10, generator=g, **f64))
    upper = lipsdp(w).L
    by_str = sampled_lower_bound(w, "l2", steps=20)[0]
    assert by_str == sampled_lower_bound(w, 2, steps=20)[0] and by_str <= upper
    assert sampled_lower_bound(w, "linf", steps=20)[0] == sampled_lower_bound(w, math.inf,
                                                                               steps=20)[0]
    with pytest.raises(ValueError, match="norm must be 2 or inf"):
        sampled_lower_bound(w, 3)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        sampled_lower_bound(w, X=torch.randn(4, 3, **f64))
    with pytest.raises(ValueError, match="NaN"):
        sampled_lower_bound(w, X=torch.full((4, 5), float("nan"), **f64))
    with pytest.raises(ValueError, match="n_samples"):
        sampled_lower_bound(w, n_samples=0)


@pytest.mark.parametrize("seed", range(24, 30))
def test_sampled_lower_bound_with_data_is_never_below_the_one_without(seed):
    """Data rows clustered in one or a few linear regions used to fill every ascent start (the
    best 256 candidates, all from the same region), so passing X could lower the bound (seed 27:
    0.3367 with X, 0.3390 without). The data now form a pool of their own beside the random
    candidates, and the starts are taken from distinct regions."""
    from torch_lipcvx.bounds import sampled_lower_bound
    g = torch.Generator().manual_seed(seed)
    w = ShallowReLU(2, 30, generator=g, dtype=torch.float64).weights()
    X = 0.01 * torch.randn(3000, 2, generator=g, dtype=torch.float64) \
        + torch.randn(2, generator=g, dtype=torch.float64)
    with_x, x_at = sampled_lower_bound(w, 2.0, X=X)
    without, _ = sampled_lower_bound(w, 2.0)
    assert with_x >= without * (1 - 1e-12)
    assert with_x <= lipsdp(w).L
    G = ((w.W @ x_at + w.b > 0).double() * w.alpha) @ w.W        # the gradient at the point
    assert float(G.norm()) >= with_x


def test_a_compiled_lipsdp_program_gives_scs_no_memory_of_earlier_networks():
    """postprocess's certifier reuses one compiled program for every candidate; a certificate
    must not depend on what was certified before. cvxpy's default warm start made it so for
    SCS (started from the previous network's solution): on one (12) candidate SCS then ended
    optimal_inaccurate with a t whose repair was 6% loose (2000x with inputs in units of 1e3),
    where a cold start gave the optimum. Now SCS starts cold: the same t, bit for bit."""
    from torch_lipcvx._engine.programs import LipSDPProgram

    net, _, _ = make_instance(2, 150, 5, 16)
    w = net.weights()
    g = torch.Generator().manual_seed(0)
    other = ShallowWeights(torch.randn(w.m, w.d, generator=g, dtype=torch.float64), w.b,
                           torch.randn(w.m, generator=g, dtype=torch.float64), w.c)
    program = LipSDPProgram(w.m, w.d)
    lipsdp(other, solver="SCS", program=program)
    shared = lipsdp(w, solver="SCS", program=program)
    fresh = lipsdp(w, solver="SCS", program=LipSDPProgram(w.m, w.d))
    assert shared.status == fresh.status == "optimal"
    assert shared.rho == fresh.rho and (shared.t == fresh.t).all()


def test_lipsdp_re_solves_in_the_schur_form_when_t_does_not_certify(monkeypatch):
    """A cvxpy solver can end "optimal" with a t far from certifying its own ρ (SCS did on a
    (12) candidate with one unit of share 7e-5); lipsdp then re-solves in the Schur form,
    warns, and keeps the tighter certified bound."""
    from torch_lipcvx._engine.programs import LipSDPProgram

    net, _, _ = make_instance(1, 100, 3, 10)
    w = net.weights()
    ref = lipsdp(w, solver="CLARABEL")
    solve = LipSDPProgram.solve

    def bad_reduced(self, W, alpha, solver="CLARABEL", options=None):
        rho, t, info = solve(self, W, alpha, solver, options)
        if self.form == "reduced":
            t = t.copy()
            t[0] *= 1e-3                      # infeasible: the repair scales all of t up
        return rho, t, info

    monkeypatch.setattr(LipSDPProgram, "solve", bad_reduced)
    with pytest.warns(RuntimeWarning, match="re-solved in the Schur form"):
        res = lipsdp(w, solver="CLARABEL")
    assert res.solver == "CLARABEL/schur"
    assert ref.L * (1 - 1e-6) <= res.L <= ref.L * (1 + 1e-5)
    assert certify_t(w.W, w.alpha, torch.as_tensor(res.t))[0] == pytest.approx(res.rho, rel=1e-9)


@pytest.mark.parametrize("norm", [2, math.inf])
@pytest.mark.parametrize("tau", [2.0 ** -20, 1e-3, 2.0 ** 20])
def test_sampled_lower_bound_is_the_same_in_any_units_of_x(tau, norm):
    """Inputs τx (hidden weights W̄/τ) are the same network with L/τ: the search (its pools,
    step sizes and smoothing) is in X's units, so it finds the same point. An absolute floor of
    1e-3 on the sampling scale and Adam's absolute 1e-12 gave 5.51–6.14 (×1/τ) instead of 5.52
    on this network (τ = 1e-6 … 1e6)."""
    net, X, _ = make_instance(2, 150, 5, 16)
    w = net.weights()
    ws = ShallowWeights(w.W / tau, w.b, w.alpha, w.c)
    for data in (None, X):
        ref, x_ref = sampled_lower_bound(w, norm, X=data)
        out, x_out = sampled_lower_bound(ws, norm, X=None if data is None else tau * data)
        assert out * tau == pytest.approx(ref, rel=1e-9)
        torch.testing.assert_close(x_out / tau, x_ref, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- bad inputs (issue 26, item 5)
def _net_with(W, b, alpha) -> ShallowReLU:
    net = ShallowReLU(W.shape[1], W.shape[0], dtype=torch.float64)
    with torch.no_grad():
        net.hidden.weight.copy_(W)
        net.hidden.bias.copy_(b)
        net.output.weight.copy_(alpha[None])
    return net


def _normal_net(seed: int = 0, m: int = 5, d: int = 3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, d, generator=g, dtype=torch.float64),
            torch.randn(m, generator=g, dtype=torch.float64),
            torch.randn(m, generator=g, dtype=torch.float64))


def test_one_huge_weight_gives_the_named_range_error():
    """A single 1e200 among weights ~1 gave ZeroDivisionError from every certifier: after the
    power-of-two rescaling the other rows held entries ~1e-200, whose squares underflow, so their
    norms were 0. L ≈ 1e200 (ρ ≈ 1e400) is outside what float64 certifies: the same named error
    as for all-large weights, from lipsdp (every solver) and lipschitz_bounds (both norms)."""
    W, b, a = _normal_net()
    W[1, 2] = 1e200
    net = _net_with(W, b, a)
    msg = r"L ≈ 10\^200 .* outside float64's normal range .*rescale the weights"
    for solver in ("auto", "torch", "CLARABEL"):
        with pytest.raises(ValueError, match=msg):
            lipsdp(net.weights(), solver=solver)
    for norm in (2, math.inf):
        with pytest.raises(ValueError, match=msg):
            lipschitz_bounds(net, norm)
    with pytest.raises(ValueError, match=r"L ≈ 10\^300 .*outside float64's normal range"):
        lipsdp(_weights64([[1e150, 1e150]], [0.0], [1e150]))          # all large: the same


def test_one_large_weight_float64_can_hold_is_certified():
    """A single 1e100 among weights ~1 (L ≈ 1e100, ρ ≈ 1e200): certified, above the sampled
    gradient norm (which is finite: its ℓ2 norm once overflowed to -inf)."""
    W, b, a = _normal_net(1)
    W[1, 2] = 1e100
    net = _net_with(W, b, a)
    iv = lipschitz_bounds(net)
    assert 0 < iv.lower <= iv.upper and math.isfinite(iv.lower)
    assert iv.lower >= 0.5 * abs(float(a[1])) * 1e100       # the unit's own slope, half of it
    assert iv.upper <= naive_bound(net.weights()) * (1 + 1e-12)
    value, _ = sampled_lower_bound(_weights64(W * 1e100, b, a), 2)   # ~1e200: no overflow
    assert math.isfinite(value) and value > 1e199


def test_units_whose_multipliers_float64_cannot_hold_are_named():
    """One unit 2^600 times larger in w̄ and 2^600 smaller in α than the others: L is ordinary,
    but its LipSDP multiplier t_j ~ |α_j|/‖w̄_j‖ ≈ 2^-1200 is not a float64: a named error (it
    once divided by zero, then produced NaN), not a wrong certificate."""
    W, b, a = _normal_net(2)
    W[1] *= 2.0 ** 600
    a[1] *= 2.0 ** -600
    for solver in ("auto", "CLARABEL"):
        with pytest.raises(ValueError, match="t_j ~ .* outside float64's normal range; "
                           "rescale the weights"):
            lipsdp(ShallowWeights(W, b, a), solver=solver)


@pytest.mark.parametrize("norm", [2, math.inf])
def test_lipschitz_bounds_under_inference_mode(norm):
    """Lightning validates under torch.inference_mode(); the sampled lower bound's ascent uses
    autograd, and raised "element 0 of tensors does not require grad". The result is the same as
    outside, also for a network (and data) created inside inference mode; the model is not
    modified."""
    net = ShallowReLU(3, 6, dtype=torch.float64).reset_parameters(torch.Generator().manual_seed(3))
    X = torch.randn(30, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ref = lipschitz_bounds(net, norm, X=X)
    before = [p.clone() for p in net.parameters()]
    with torch.inference_mode():
        inside = lipschitz_bounds(net, norm, X=X)
        net2 = ShallowReLU(3, 6, dtype=torch.float64).reset_parameters(
            torch.Generator().manual_seed(3))
        inside2 = lipschitz_bounds(net2, norm, X=X.clone())
        value, _ = sampled_lower_bound(net2.weights(), norm, X=X.clone())
    assert (inside.lower, inside.upper) == (ref.lower, ref.upper)
    assert (inside2.lower, inside2.upper) == (ref.lower, ref.upper)
    assert value == ref.lower or inside.lower_method != "sampled_gradient"
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
