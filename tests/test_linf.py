"""Properties of the ℓ∞ Lipschitz bounds (docs/linf.md, torch_lipcvx.linf): the exact program value
agrees with an independent brute force and with closed forms; the LiPopt-style LP hierarchy is
certified, monotone in the degree, never looser than the naive bound, and its sparse form matches
the dense one; intervals say which method made each end; certified ℓ∞ MSE uses the tightest
bound; bad input fails with a clear message and the model is never modified."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

import torch_lipcvx.linf as linf
from torch_lipcvx import CertifiedAdversarialMSE, ShallowReLU, ShallowWeights, lipschitz_bounds
from torch_lipcvx.bounds import lipsdp, naive_bound
from torch_lipcvx.linf import (linf_exact, linf_lower_bound, linf_lp, linf_lp_size, linf_naive,
                               linf_program, linf_vertex_lower_bound)
from torch_lipcvx.metrics import certified_adversarial_mse, certified_lipschitz

INF = math.inf
FAST = dict(n_samples=256, ascent_steps=20)   # lower-bound search settings for these tiny nets


def random_weights(seed: int, m: int, d: int, keep: float = 1.0) -> ShallowWeights:
    """Gaussian weights; ``keep < 1`` prunes each input weight independently (a sparse net)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, d, generator=g, dtype=torch.float64)
    if keep < 1:
        W = W * (torch.rand(m, d, generator=g, dtype=torch.float64) < keep)
    return ShallowWeights(W, torch.randn(m, generator=g, dtype=torch.float64),
                          torch.randn(m, generator=g, dtype=torch.float64) / math.sqrt(m),
                          torch.tensor(0.1, dtype=torch.float64))


def supported_weights(seed: int, supports, d: int) -> ShallowWeights:
    """Unit j reads exactly the inputs ``supports[j]`` (random nonzero weights)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.zeros(len(supports), d, dtype=torch.float64)
    for j, s in enumerate(supports):
        W[j, list(s)] = torch.randn(len(s), generator=g, dtype=torch.float64)
    m = len(supports)
    return ShallowWeights(W, torch.randn(m, generator=g, dtype=torch.float64),
                          torch.randn(m, generator=g, dtype=torch.float64))


def brute_force(w: ShallowWeights) -> float:
    """max over t ∈ {−1,1}^d AND s ∈ {0,1}^m of p(t, s) = Σ_j α_j s_j w_jᵀt, vertex by vertex."""
    A = (w.alpha[:, None] * w.W).numpy()
    best = -math.inf
    for t in itertools.product((-1.0, 1.0), repeat=w.d):
        z = A @ np.array(t)
        for s in itertools.product((0.0, 1.0), repeat=w.m):
            best = max(best, float(np.dot(s, z)))
    return best


def net_of(w: ShallowWeights) -> ShallowReLU:
    return ShallowReLU.from_weights(w)


# ------------------------------------------------------------------------------ exact value
@pytest.mark.parametrize("seed,m,d,keep", [(0, 3, 1, 1.0), (1, 5, 3, 1.0), (2, 6, 4, 0.5),
                                           (3, 7, 5, 1.0), (4, 8, 6, 0.4)])
def test_exact_equals_an_independent_brute_force(seed, m, d, keep):
    w = random_weights(seed, m, d, keep)
    ex = linf_exact(w)
    ref = brute_force(w)
    assert ex.value == pytest.approx(ref, rel=1e-12, abs=1e-14)
    assert ref <= ex.upper <= ref * (1 + 1e-12) + 1e-15      # certified, with a tiny margin
    A = w.alpha[:, None] * w.W
    assert float(torch.relu(A @ ex.argmax).sum()) == pytest.approx(ex.value, rel=1e-12)
    assert set(ex.argmax.tolist()) <= {-1.0, 1.0}
    assert ex.value <= linf_naive(w) * (1 + 1e-12)


def test_exact_closed_forms():
    # f = relu(x) − relu(−x − 1): L∞ = 1, but the relaxed program allows both units on: P* = 2
    w = ShallowWeights(torch.tensor([[1.0], [-1.0]], dtype=torch.float64),
                       torch.tensor([0.0, -1.0], dtype=torch.float64),
                       torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert linf_exact(w).value == 2.0
    iv = lipschitz_bounds(net_of(w), INF, **FAST)
    assert iv.upper == pytest.approx(2.0) and iv.upper_bounds["exact"] == pytest.approx(2.0)
    assert iv.lower == pytest.approx(1.0)            # the true constant, found by sampling
    # equal outer directions add up: P* = Σ_j |α_j| ‖w_j‖₁; opposite ones do not: P* = ‖a‖₁
    a = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    same = ShallowWeights(torch.cat([a, 2 * a, 3 * a]), torch.zeros(3, dtype=torch.float64),
                          torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64))
    assert linf_exact(same).value == pytest.approx(3.5 * (1 + 0.5 * 2 + 2 * 3), rel=1e-14)
    assert linf_exact(same).value == pytest.approx(linf_naive(same), rel=1e-14)
    opposite = ShallowWeights(torch.cat([a, a]), torch.zeros(2, dtype=torch.float64),
                              torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert linf_exact(opposite).value == pytest.approx(3.5, rel=1e-14)
    # a 2-d case by hand: relu(t1 + t2) + relu(t1 − t2) peaks at 2 (t = (1, ±1))
    two = ShallowWeights(torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64),
                         torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    assert linf_exact(two).value == 2.0 and linf_naive(two) == pytest.approx(4.0, rel=1e-14)


def test_exact_decomposes_over_components_beyond_the_size_guard():
    """Three independent blocks of 8 inputs: d = 24 > 20, yet enumeration is exact (3·2^8)."""
    blocks = [random_weights(10 + i, 5, 8) for i in range(3)]
    W = torch.block_diag(*[b.W for b in blocks])
    w = ShallowWeights(W, torch.cat([b.b for b in blocks]), torch.cat([b.alpha for b in blocks]))
    ex = linf_exact(w)
    assert (ex.n_components, ex.max_component_dim, ex.n_vertices) == (3, 8, 3 * 2 ** 8)
    assert ex.value == pytest.approx(sum(linf_exact(b).value for b in blocks), rel=1e-13)
    # a dense d = 24 network is refused with a message saying why and what to do
    with pytest.raises(ValueError, match=r"reads 24 inputs \(d = 24\), more than max_dim=20.*"
                                         r"method='lp'"):
        linf_exact(random_weights(0, 4, 24))


def test_naive_bound_is_certified_under_rounding():
    """f = relu(x₁ + 2⁻⁵⁴x₂ + 2⁻⁵⁴x₃) has ‖∇f‖₁ = 1 + 2⁻⁵³ wherever it is on, but the float64
    sum of |w| rounds to 1: the naive bound (and so the interval's upper end) must still be ≥."""
    tiny = 2.0 ** -54
    w = ShallowWeights(torch.tensor([[1.0, tiny, tiny]], dtype=torch.float64),
                       torch.ones(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    true = Fraction(1) + 2 * Fraction(tiny)                # ‖∇f(x)‖₁ at x = 0, exactly
    assert Fraction(linf_naive(w)) >= true
    assert Fraction(naive_bound(w, INF)) >= true
    assert Fraction(linf_exact(w).upper) >= true
    iv = lipschitz_bounds(net_of(w), INF, **FAST)
    assert Fraction(iv.upper) >= true
    assert linf_naive(w) <= 1 + 1e-14                      # a rounding margin, nothing more


# ----------------------------------------------------------------------------- LP hierarchy
HIERARCHY = [(0, 6, 4, 1.0), (14, 8, 5, 1.0), (7, 8, 5, 0.5), (1, 12, 6, 1.0)]


@pytest.mark.parametrize("seed,m,d,keep", HIERARCHY)
def test_lower_exact_lp_hierarchy_naive_chain(seed, m, d, keep):
    """lower ≤ exact ≤ LP_4 ≤ LP_3 ≤ LP_2 ≤ naive, and exact ≤ √d·L₂ (LipSDP's relaxation also
    allows every s ∈ [0, 1]^m), up to solver tolerance."""
    w = random_weights(seed, m, d, keep)
    net = net_of(w)
    ex = linf_exact(w)
    lp = {k: linf_lp(w, k) for k in (2, 3, 4)}
    naive = linf_naive(w)
    tol = 1e-7 * naive
    iv = lipschitz_bounds(net, INF, **FAST)
    assert iv.lower <= ex.value + tol
    assert ex.value <= lp[4].bound + tol
    assert lp[4].bound <= lp[3].bound + tol
    assert lp[3].bound <= lp[2].bound + tol
    assert lp[2].bound <= naive + tol
    assert ex.value <= math.sqrt(d) * lipsdp(w).L * (1 + 1e-6)
    for r in lp.values():
        assert r.residual <= 1e-8 * naive and r.bound >= r.solver_objective - tol
        assert r.n_products == linf_lp_size(w, r.degree)


@pytest.mark.parametrize("scale", [1e-4, 1e-6, 1e5, 1e150])
def test_lp_bound_is_scale_invariant(scale):
    """P* is homogeneous in a_j = α_j w̄_j; HiGHS's tolerances are absolute, so the LP must not
    see the scale (at 1e-4 the degree-3 bound was 62× P*, above degree 2 and naive)."""
    w = random_weights(14, 8, 5)
    ws = ShallowWeights(w.W * scale, w.b, w.alpha * scale)
    s2 = scale * scale
    for k in (2, 3):
        assert linf_lp(ws, k).bound == pytest.approx(s2 * linf_lp(w, k).bound, rel=1e-6)
        assert linf_lp(ws, k, sparse=False).bound == pytest.approx(
            s2 * linf_lp(w, k, sparse=False).bound, rel=1e-6)
    assert linf_exact(ws).value <= linf_lp(ws, 3).bound <= linf_lp(ws, 2).bound <= linf_naive(ws)


def test_products_outside_float64_range_are_refused():
    """α_j w_ji overflowing (P* = NaN before) or subnormal (rounding margins invalid) is refused."""
    for W, alpha in (([[1e200, -1e200]], [1e200]), ([[1e-170, -3e-160]], [1e-150])):
        w = ShallowWeights(torch.tensor(W, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                           torch.tensor(alpha, dtype=torch.float64))
        for f in (linf_exact, linf_lp, linf_naive):
            with pytest.raises(ValueError, match="outside float64's normal range"):
                f(w)


def test_degree_three_is_strictly_tighter_somewhere():
    """The hierarchy is not flat: on this net McCormick (degree 2) is 34% loose, degree 3 exact."""
    w = random_weights(14, 8, 5)
    ex = linf_exact(w).value
    assert linf_lp(w, 2).bound > 1.3 * ex
    assert linf_lp(w, 3).bound == pytest.approx(ex, rel=1e-7)


def test_degree_above_the_clique_size_is_the_full_clique():
    """Products have exactly min(k, |C|) variables, so any k ≥ |C| gives the same LP (and the
    size that linf_lp_size reports), however large k is."""
    w = random_weights(5, 3, 2)
    for sparse in (True, False):
        ref = linf_lp(w, 5, sparse=sparse)
        for k in (6, 40):
            res = linf_lp(w, k, sparse=sparse)
            assert res.bound == ref.bound and res.n_products == ref.n_products
            assert res.n_products == linf_lp_size(w, k, sparse=sparse)


def test_dense_lp_of_full_degree_is_exact():
    """Degree d + m products (Sherali–Adams of full rank) describe the whole vertex set."""
    w = random_weights(5, 3, 2)
    res = linf_lp(w, 5, sparse=False)
    assert res.bound == pytest.approx(linf_exact(w).value, rel=1e-7)


FOREST = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (0,), (4,), (2,)]   # unit–input graph is a tree


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_equals_dense_on_pruned_networks(seed):
    """Pruned to a forest (each unit reads ≤ 2 inputs, no cycles): sparse LP = dense LP = exact
    from degree 2 on (McCormick is exact on forests, Padberg 1989). Randomly pruned: equal at
    degree 2 (the dense-only moments are unconstrained) and dense ≤ sparse at degree 3."""
    w = supported_weights(seed, FOREST, 6)
    ex = linf_exact(w).value
    for k in (2, 3):
        sp, de = linf_lp(w, k), linf_lp(w, k, sparse=False)
        assert sp.bound == pytest.approx(ex, rel=1e-7) and de.bound == pytest.approx(ex, rel=1e-7)
        assert sp.n_products < de.n_products and sp.n_lps == 1 and de.n_lps == 1
    w = random_weights(20 + seed, 10, 6, keep=0.4)
    tol = 1e-7 * linf_naive(w)
    assert linf_lp(w, 2).bound == pytest.approx(linf_lp(w, 2, sparse=False).bound, abs=tol)
    sp3, de3 = linf_lp(w, 3), linf_lp(w, 3, sparse=False)
    assert de3.bound <= sp3.bound + tol
    assert linf_exact(w).value <= de3.bound + tol


def test_sparse_lp_splits_connected_components():
    blocks = [random_weights(30 + i, 4, 3) for i in range(2)]
    w = ShallowWeights(torch.block_diag(*[b.W for b in blocks]),
                       torch.cat([b.b for b in blocks]), torch.cat([b.alpha for b in blocks]))
    sp, de = linf_lp(w, 3), linf_lp(w, 3, sparse=False)
    assert (sp.n_lps, de.n_lps) == (2, 1)
    assert sp.bound == pytest.approx(de.bound, rel=1e-7)
    assert sp.bound == pytest.approx(sum(linf_lp(b, 3).bound for b in blocks), rel=1e-7)


def test_lp_bound_is_certified_whatever_the_solver_returns(monkeypatch):
    """Halve the solver's point and lie about its objective: the re-verified bound stays valid."""
    import scipy.optimize

    w = random_weights(14, 8, 5)
    ex = linf_exact(w).value
    honest = linf_lp(w, 3)
    real = scipy.optimize.linprog

    def corrupt(*args, **kwargs):
        res = real(*args, **kwargs)
        res.x = res.x * 0.5
        res.fun = 0.0
        return res

    monkeypatch.setattr(scipy.optimize, "linprog", corrupt)
    bad = linf_lp(w, 3)
    assert bad.solver_objective == 0.0
    assert bad.residual > 0.1 * ex
    assert bad.bound >= ex and bad.bound >= honest.bound * (1 - 1e-9)


def test_rescaling_units_leaves_the_bounds_unchanged():
    w = random_weights(3, 7, 5)
    c = torch.linspace(0.2, 5.0, 7, dtype=torch.float64)
    w2 = ShallowWeights(w.W * c[:, None], w.b * c, w.alpha / c, w.c)
    assert linf_exact(w2).value == pytest.approx(linf_exact(w).value, rel=1e-12)
    assert linf_lp(w2, 3).bound == pytest.approx(linf_lp(w, 3).bound, rel=1e-7)


def test_inactive_units_and_unread_inputs():
    w = random_weights(4, 6, 5)
    W, alpha = w.W.clone(), w.alpha.clone()
    W[:, 2] = 0.0          # input 2 unread
    alpha[1] = 0.0         # unit 1 silent
    W[4] = 0.0             # unit 4 constant
    w0 = ShallowWeights(W, w.b, alpha)
    keep = torch.tensor([j not in (1, 4) for j in range(6)])
    w1 = ShallowWeights(W[keep][:, [0, 1, 3, 4]], w.b[keep], alpha[keep])
    assert linf_program(w0).m == 4
    assert linf_exact(w0).value == pytest.approx(linf_exact(w1).value, rel=1e-13)
    assert linf_lp(w0, 3).bound == pytest.approx(linf_lp(w1, 3).bound, rel=1e-7)
    zero = ShallowWeights(W, w.b, torch.zeros(6, dtype=torch.float64))
    iv = lipschitz_bounds(net_of(zero), INF, method="all", degree=2, **FAST)
    assert iv.upper == 0.0 and iv.lower == 0.0
    assert all(v == 0.0 for v in iv.upper_bounds.values())


# ----------------------------------------------------------------------- lower bound, interval
def test_interval_closes_when_the_maximising_pattern_is_realisable():
    """With m ≤ d hyperplanes in general position every pattern occurs: lower = exact."""
    w = random_weights(8, 4, 6)
    net = net_of(w)
    iv = lipschitz_bounds(net, INF, **FAST)
    # the maximising region is found by both searches; which one reports it is a matter of the
    # last bit of their rounding margins
    assert iv.upper_method == "exact" and iv.lower_method in ("vertex_pattern", "sampled_gradient")
    assert iv.lower == pytest.approx(iv.upper, rel=1e-12) and iv.lower <= iv.upper
    g = net.input_gradients(iv.argmax[None, :].to(torch.float64))[0]
    assert float(g.abs().sum()) == pytest.approx(iv.lower, rel=1e-12)


def test_vertex_lower_bound_is_attained_and_valid():
    w = random_weights(9, 12, 6)
    ex = linf_exact(w)
    lb = linf_vertex_lower_bound(w, ex.candidates)
    assert lb.n_tried == ex.candidates.shape[0]
    if lb.x is not None:
        G = ((w.W @ lb.x + w.b > 0).double() * w.alpha) @ w.W
        assert float(G.abs().sum()) == pytest.approx(lb.value, rel=1e-12)
        assert lb.value >= lb.program_value * (1 - 1e-12)
    assert lb.value <= ex.upper
    # without the enumeration (local search over vertices) the bound is still below P*
    assert linf_lower_bound(w).value <= ex.upper


def test_vertex_search_bad_arguments_are_named():
    w = random_weights(1, 4, 5)
    ok = torch.ones(2, 5)
    with pytest.raises(ValueError, match=r"starts must have shape \(n, 5\)"):
        linf.linf_vertex_search(w, torch.ones(2, 4))
    with pytest.raises(ValueError, match="starts contains 1 NaN"):
        linf.linf_vertex_search(w, torch.tensor([[1.0, float("nan"), 1, 1, 1]]))
    with pytest.raises(ValueError, match="n_random"):
        linf.linf_vertex_search(w, ok, n_random=-1)
    with pytest.raises(ValueError, match="top_k"):
        linf.linf_vertex_search(w, ok, top_k=0)
    with pytest.raises(ValueError, match="at least one start"):
        linf.linf_vertex_search(w, n_random=0)
    # a single (d,) start is one row; it is searched from, and the result is a vertex
    v, T = linf.linf_vertex_search(w, torch.ones(5), n_random=0)
    assert T.shape[1] == 5 and bool((T.abs() == 1).all())
    with pytest.raises(ValueError, match=r"x_start must hold the network's 5 inputs"):
        linf_lower_bound(w, x_start=torch.ones(4))
    with pytest.raises(ValueError, match="x_start contains"):
        linf_lower_bound(w, x_start=torch.full((5,), float("inf")))
    assert linf_lower_bound(w, x_start=torch.ones(1, 5)).value >= 0


# ------------------------------------------------------------------------ lipschitz_bounds API
def test_methods_and_names():
    w = random_weights(2, 8, 5)
    net = net_of(w)
    ex = linf_exact(w).upper
    best = lipschitz_bounds(net, INF, **FAST)
    assert set(best.upper_bounds) == {"naive", "sqrt_d_lipsdp", "exact"}
    assert best.upper == ex == min(best.upper_bounds.values()) and best.upper_method == "exact"
    assert best.certificate is not None
    allm = lipschitz_bounds(net, INF, method="all", **FAST)
    assert set(allm.upper_bounds) == {"naive", "sqrt_d_lipsdp", "exact", "lp3_sparse"}
    lp = lipschitz_bounds(net, INF, method="lp", degree=2, sparse=False, **FAST)
    assert set(lp.upper_bounds) == {"naive", "lp2_dense"} and lp.certificate is None
    exact = lipschitz_bounds(net, INF, method="exact", **FAST)
    assert set(exact.upper_bounds) == {"naive", "exact"}
    old = lipschitz_bounds(net, INF, method="lipsdp", **FAST)
    assert set(old.upper_bounds) == {"naive", "sqrt_d_lipsdp"}
    assert lipschitz_bounds(net, INF, method="naive", **FAST).upper == naive_bound(w, INF)
    # past the enumeration limit, "best" falls back to the LP (degree 3 when it fits)
    fallback = lipschitz_bounds(net, INF, max_exact_dim=3, **FAST)
    assert set(fallback.upper_bounds) == {"naive", "sqrt_d_lipsdp", "lp3_sparse"}
    assert fallback.upper >= ex * (1 - 1e-7)
    small = lipschitz_bounds(net, INF, max_exact_dim=3, max_products=300, **FAST)
    assert "lp2_sparse" in small.upper_bounds
    tiny = lipschitz_bounds(net, INF, max_exact_dim=3, max_products=10, **FAST)
    assert set(tiny.upper_bounds) == {"naive", "sqrt_d_lipsdp"}
    # ℓ2 is unchanged
    l2 = lipschitz_bounds(net, 2, **FAST)
    assert set(l2.upper_bounds) == {"naive", "lipsdp"} and l2.lower_method == "sampled_gradient"


def test_float32_sequential_model_is_not_modified():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1))
    before = {k: v.clone() for k, v in seq.state_dict().items()}
    iv = lipschitz_bounds(seq, "linf", method="all", **FAST)
    assert all(torch.equal(before[k], v) for k, v in seq.state_dict().items())
    assert all(p.grad is None for p in seq.parameters())
    assert isinstance(iv.upper, float) and isinstance(iv.lower, float)
    assert iv.lower <= iv.upper
    w = ShallowReLU.from_sequential(seq).weights().to(torch.float64)
    assert iv.upper_bounds["exact"] == pytest.approx(linf_exact(w).upper, rel=1e-6)


# ----------------------------------------------------------------------- certified ℓ∞ MSE
def test_certified_linf_mse_uses_the_tightest_bound(monkeypatch):
    import torch_lipcvx.bounds as tb

    w = random_weights(6, 10, 4)
    net = net_of(w)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y = torch.randn(20, generator=g, dtype=torch.float64)
    ex = linf_exact(w).upper
    loose = math.sqrt(4) * lipsdp(w).L
    assert ex < loose and ex < linf_naive(w)
    assert certified_lipschitz(net, INF, method="lipsdp") == pytest.approx(loose, rel=1e-9)
    assert certified_lipschitz(net, INF, method="best") == pytest.approx(ex, rel=1e-12)
    looser = CertifiedAdversarialMSE(0.1, norm=INF, method="lipsdp")
    looser.update(net, X, y)
    # P* is computable here and never above √d·L₂, so the default solves no SDP at all
    monkeypatch.setattr(tb, "lipsdp", lambda *a, **k: pytest.fail("needless SDP solve"))
    assert certified_lipschitz(net, INF) == pytest.approx(ex, rel=1e-12)
    eps = 0.1
    with torch.no_grad():
        err = (net(X) - y).abs()
    expected = float(((err + ex * eps) ** 2).mean())
    assert float(certified_adversarial_mse(net, X, y, eps, norm=INF)) == pytest.approx(expected,
                                                                                     rel=1e-12)
    metric = CertifiedAdversarialMSE(eps, norm=INF)
    metric.update(net, X, y)
    assert metric.lipschitz_used == pytest.approx(ex, rel=1e-12)
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-12)
    assert float(looser.compute()) > float(metric.compute())


# ------------------------------------------------------------------------------- bad input
def test_bad_input_raises_with_a_message():
    w = random_weights(0, 5, 3)
    net = net_of(w)
    snap = {k: v.clone() for k, v in net.state_dict().items()}
    for bad in (1, 0, -3):
        with pytest.raises(ValueError, match="degree must be an integer >= 2"):
            linf_lp(w, bad)
        with pytest.raises(ValueError, match="degree must be an integer >= 2"):
            lipschitz_bounds(net, INF, method="lp", degree=bad)
    for bad in (2.5, "3", True):
        with pytest.raises(TypeError, match="degree must be an integer >= 2"):
            lipschitz_bounds(net, INF, method="lp", degree=bad)
    with pytest.raises(ValueError, match="method must be one of 'best', 'exact', 'lp'.*"
                                         "for norm=inf, got 'lipopt'"):
        lipschitz_bounds(net, INF, method="lipopt")
    with pytest.raises(ValueError, match="method must be 'lipsdp' or 'naive', got 'lp'"):
        lipschitz_bounds(net, 2, method="lp")
    with pytest.raises(ValueError, match="degree applies to the ℓ∞ LP"):
        lipschitz_bounds(net, 2, degree=3)
    with pytest.raises(TypeError, match="sparse must be True or False"):
        lipschitz_bounds(net, INF, method="lp", sparse="yes")
    with pytest.raises(ValueError, match="max_dim must be an integer between 1 and 30"):
        lipschitz_bounds(net, INF, max_exact_dim=31)
    with pytest.raises(ValueError, match="max_products must be an integer >= 1"):
        lipschitz_bounds(net, INF, max_products=0)
    with pytest.raises(ValueError, match=r"would have about [\d,]+ products .*max_products=10"):
        lipschitz_bounds(net, INF, method="lp", max_products=10)
    big = net_of(random_weights(1, 3, 22))
    with pytest.raises(ValueError, match="reads 22 inputs.*more than max_dim=20"):
        lipschitz_bounds(big, INF, method="exact")
    with pytest.raises(TypeError, match="weights must be ShallowWeights"):
        linf_exact(net)
    nan = ShallowWeights(w.W.clone(), w.b, w.alpha.clone())
    nan.alpha[0] = float("nan")
    with pytest.raises(ValueError, match="NaN/Inf"):
        linf_lp(nan)
    with pytest.raises(ValueError, match=r"vertices must have shape \(K, 3\)"):
        linf_vertex_lower_bound(w, torch.ones(2, 4))
    for bad in (torch.zeros(2, 3), 2 * torch.ones(1, 3), torch.full((1, 3), math.nan)):
        with pytest.raises(ValueError, match=r"vertices must have entries ±1"):
            linf_vertex_lower_bound(w, bad)
    with pytest.raises(ValueError, match="method must be 'lipsdp' or 'naive'"):
        CertifiedAdversarialMSE(0.1, method="exact")          # ℓ2 metric: ℓ∞ methods refused
    assert all(torch.equal(snap[k], v) for k, v in net.state_dict().items())


def test_lp_size_guard_is_checked_before_building(monkeypatch):
    w = random_weights(0, 40, 12)
    monkeypatch.setattr(linf, "_build_lp", lambda *a, **k: pytest.fail("built a refused LP"))
    with pytest.raises(ValueError, match="dense ℓ∞ LP would have about"):
        linf_lp(w, 4, sparse=False)
