"""The interior point of torch_lipcvx._engine.ipm: its algebra, and its optima against plain cvxpy +
SCS.

Properties: the Nesterov–Todd scalings satisfy ``W z = W⁻ᵀ s = λ``; each part's Newton block is
the matrix of ``dx ↦ ‖W⁻ᵀ L dx‖²`` and its adjoint is ``L``'s; the optimum of (12) equals the one
of the plain single-LMI program solved by SCS at tight tolerance (1e-4 relative in J, the issue's
bar; in practice ~1e-7) and Clarabel's; the point is strictly feasible (the patterns hold and the
LMI is strict) and never worse than the start, for β = 0 (with dead units eliminated), β > 0 and
without output bias.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_lipcvx import lipsdp
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.ipm import Cone, GroupSOC, Rows, SchurLMI, SubsetRows
from torch_lipcvx.models import activation_patterns, sign_order
from torch_lipcvx._engine.programs import LipschitzRestriction

from conftest import INSTANCES, make_instance

DT = torch.float64


def _pd(k: int, g: torch.Generator) -> torch.Tensor:
    A = torch.randn(k, k, generator=g, dtype=DT)
    return A @ A.T + 0.5 * torch.eye(k, dtype=DT)


def test_lmi_scaling_is_nesterov_todd():
    """The LMI's scaling (its ``d × d`` block): ``rᵀ z r = r⁻¹ s r⁻ᵀ = diag(λ)``. Its Newton
    term, products and adjoint: tests/test_schur_lmi.py."""
    g = torch.Generator().manual_seed(0)
    m, d = 6, 3
    p, N = d + 1, 6 * 4 + 2
    part = SchurLMI(_pd(m, g), m, p, d, N - 1, N)
    s, z = _pd(d, g), _pd(d, g)
    r, rinv, lam = part.scaling(s, z)
    assert torch.allclose(r.T @ z @ r, torch.diag(lam), atol=1e-10)
    assert torch.allclose(rinv @ s @ rinv.T, torch.diag(lam), atol=1e-10)


def test_group_soc_scaling_newton_and_steps():
    g = torch.Generator().manual_seed(1)
    m, p = 5, 4
    N = m * p + m
    part = GroupSOC(m, p, m * p, N, DT, "cpu")

    def interior():
        v = torch.randn(m, p + 1, generator=g, dtype=DT)
        v[:, 0] = v[:, 1:].norm(dim=1) + 0.3
        return v

    s, z = interior(), interior()
    sc = part.scaling(s, z)
    v, beta, lam = sc
    assert torch.allclose(part._wapply(v, beta, z), lam, atol=1e-12)
    assert torch.allclose(part._winv(v, beta, s), lam, atol=1e-12)
    K = torch.zeros(N, N, dtype=DT)
    part.newton(K, sc)
    dx = torch.randn(N, generator=g, dtype=DT)
    ds = part.scale_ds(sc, dx)
    assert torch.allclose(dx @ K @ dx, (ds * ds).sum(), rtol=1e-10)
    r = torch.randn(m, p + 1, generator=g, dtype=DT)
    assert torch.allclose(part.circ(lam, part.inv_circ(lam, r)), r, atol=1e-10)
    d = torch.randn(m, p + 1, generator=g, dtype=DT)
    a = part.max_step(lam, d)
    edge = lam + a * d
    assert float((edge[:, 0] - edge[:, 1:].norm(dim=1)).min()) == pytest.approx(0, abs=1e-10)


def test_rows_newton_is_block_diagonal_by_unit():
    g = torch.Generator().manual_seed(2)
    n, d, m = 30, 2, 4
    p, N = d + 1, m * (d + 1) + 1
    Xt = torch.cat([torch.randn(n, d, generator=g, dtype=DT), torch.ones(n, 1, dtype=DT)], 1)
    D = torch.rand(n, m, generator=g) > 0.5
    mask = torch.tensor([True, False, True, True])
    part = Rows(Xt, D, mask, (Xt[:, :, None] * Xt[:, None, :]).reshape(n, p * p), N)
    s = torch.rand(n, m, generator=g, dtype=DT) + 0.1
    z = torch.rand(n, m, generator=g, dtype=DT) + 0.1
    sc = part.scaling(s, z)
    K = torch.zeros(N, N, dtype=DT)
    part.newton(K, sc)
    dx = torch.randn(N, generator=g, dtype=DT)
    ds = part.scale_ds(sc, dx)
    assert torch.allclose(dx @ K @ dx, (ds * ds).sum(), rtol=1e-10)
    assert float(ds[:, 1].abs().max()) == 0.0          # the masked unit has no rows
    Y = torch.randn(n, m, generator=g, dtype=DT)
    assert torch.allclose(part.adjoint(Y) @ dx, (Y * part.lin(dx)).sum(), rtol=1e-10)


def test_subset_rows_equal_the_selected_rows():
    """SubsetRows on the rows idx[j] of each unit: its slack, map, adjoint and Newton block are
    those of Rows restricted to the same rows."""
    g = torch.Generator().manual_seed(3)
    n, d, m, k = 40, 3, 5, 7
    p, N = d + 1, m * (d + 1) + 1
    Xt = torch.cat([torch.randn(n, d, generator=g, dtype=DT), torch.ones(n, 1, dtype=DT)], 1)
    D = torch.rand(n, m, generator=g) > 0.5
    idx = torch.stack([torch.randperm(n, generator=g)[:k] for _ in range(m)])
    valid = torch.rand(m, k, generator=g) > 0.2
    part = SubsetRows(Xt, D, idx, valid, N)
    full = Rows(Xt, D, torch.ones(m, dtype=torch.bool),
                (Xt[:, :, None] * Xt[:, None, :]).reshape(n, p * p), N)
    x = torch.randn(N, generator=g, dtype=DT)
    S_full = full.slack(x)
    S = part.slack(x)
    assert torch.allclose(S[valid], S_full.T.gather(1, idx)[valid])
    assert bool((S[~valid] == 1).all())
    s = torch.rand(m, k, generator=g, dtype=DT) + 0.1
    z = torch.rand(m, k, generator=g, dtype=DT) + 0.1
    sc = part.scaling(s, z)
    K = torch.zeros(N, N, dtype=DT)
    part.newton(K, sc)
    ds = part.scale_ds(sc, x)
    assert torch.allclose(x @ K @ x, (ds * ds).sum(), rtol=1e-10)
    Y = torch.randn(m, k, generator=g, dtype=DT)
    assert torch.allclose(part.adjoint(Y) @ x, (Y * part.lin(x)).sum(), rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_screened_rows_reach_the_full_optimum(seed):
    """Row screening (a subset of rows, violated rows added until none is) ends at the optimum
    of the full programs (12) and (6), with every row of the full data strictly positive."""
    import torch_lipcvx._engine.barrier as fast
    w, X, y, D = _setup(seed, 600, 3, 12)
    t = torch.as_tensor(lipsdp(w).t)
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    old = fast.SCREEN_K, fast.SCREEN_ADD
    fast.SCREEN_K, fast.SCREEN_ADD = 16, 8        # a small subset: several rounds are needed
    try:
        out = [ipm.solve_restriction(w.alpha, t, 1e-2, 0.0, w.W_tilde, w.c, screen=sc)
               for sc in (False, True)]
        sign = torch.sign(w.alpha)
        ipm6 = PatternBarrier(X, y, D, sign, output_bias=True)
        V0 = w.alpha.abs()[:, None] * w.W_tilde
        out6 = [ipm6.solve_l2(1e-3, V0, w.c, screen=sc) for sc in (False, True)]
    finally:
        fast.SCREEN_K, fast.SCREEN_ADD = old
    (_, _, _, full), (W, _, _, scr) = out
    assert scr.status == "optimal" and full.status == "optimal"
    assert abs(scr.value - full.value) <= 1e-7 * abs(full.value)
    assert float(ipm.cone_rows(W).min()) > 0
    (_, _, full6), (V, _, scr6) = out6
    assert abs(scr6.value - full6.value) <= 1e-7 * abs(full6.value)
    assert float(ipm6.cone_rows(V).min()) > 0


def _setup(seed, n, d, m, output_bias=True):
    net, X, y = make_instance(seed, n, d, m, output_bias=output_bias)
    w = net.weights().to(dtype=DT)
    w = w.permute(sign_order(w.alpha))
    return w, X, y, activation_patterns(X, w)


def _start_value(ipm, w, t, lam, beta, c):
    s = float((w.alpha ** 2 / (2 * t)).sum())
    M = torch.diag(t / 2) + torch.outer(w.alpha, w.alpha) / (4 * (1 - s))
    rho = float(torch.linalg.eigvalsh(w.W.T @ M @ w.W)[-1])
    return ipm.model_mse(w.W_tilde, c) + 0.5 * beta * float((w.W_tilde ** 2).sum()) + lam * rho


@pytest.mark.parametrize("beta,output_bias", [(0.0, True), (1e-2, True), (0.0, False)])
def test_restriction_matches_plain_scs_and_clarabel(beta, output_bias):
    w, X, y, D = _setup(4, 40, 3, 6, output_bias)
    lam = 1e-2
    t = torch.as_tensor(lipsdp(w).t)
    c0 = w.c
    args = (X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(), lam, beta,
            output_bias)
    plain = LipschitzRestriction(*args, form="full")
    _, _, _, info_scs = plain.solve(t.numpy(), "SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9,
                                                       "max_iters": 200_000})
    _, _, _, info_cl = LipschitzRestriction(*args).solve(t.numpy())
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=output_bias)
    W, c, rho, info = ipm.solve_restriction(w.alpha, t, lam, beta, w.W_tilde, c0)
    assert info.status == "optimal"
    assert abs(info.value - info_scs.value) <= 1e-4 * info_scs.value
    assert abs(info.value - info_cl.value) <= 1e-6 * info_cl.value
    assert float(ipm.cone_rows(W).min()) > 0                    # the patterns hold strictly
    assert info.value <= _start_value(ipm, w, t, lam, beta, c0) + 1e-12


@pytest.mark.parametrize("inst", INSTANCES[:2], ids=lambda p: f"seed{p[0]}")
def test_restriction_strictly_feasible_at_every_lambda(inst):
    """From tiny λ (MSE dominates) to large λ (units die): feasible, no worse than the start,
    and the reported ρ is the LMI's smallest for this t at the returned point."""
    w, X, y, D = _setup(*inst)
    t = torch.as_tensor(lipsdp(w).t)
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    s = float((w.alpha ** 2 / (2 * t)).sum())
    M = torch.diag(t / 2) + torch.outer(w.alpha, w.alpha) / (4 * (1 - s))
    for lam in (1e-4, 1e-1, 10.0):
        W, c, rho, info = ipm.solve_restriction(w.alpha, t, lam, 0.0, w.W_tilde, w.c)
        assert info.status == "optimal", (lam, info)
        assert float(ipm.cone_rows(W).min()) > 0                    # strictly
        assert info.value <= _start_value(ipm, w, t, lam, 0.0, w.c) + 1e-12
        Wb = W[:, :-1]
        assert rho == pytest.approx(float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1]), rel=1e-12)
        # info.lower is a lower bound on the optimum, info.value the objective at a feasible
        # point: Clarabel's optimum lies between them (to its tolerance)
        ref = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float),
                                   w.alpha.numpy(), lam, 0.0, True).solve(t.numpy())[3].value
        assert info.lower <= ref * (1 + 1e-7) and ref <= info.value * (1 + 1e-7), (lam, ref, info)


def test_l2_program_matches_plain_scs():
    """Program (6) by the IPM (group SOCs) equals cvxpy + SCS at tight tolerance."""
    from torch_lipcvx._engine.programs import L2Program
    w, X, y, D = _setup(5, 50, 3, 8)
    beta = 1e-2
    sign = torch.sign(w.alpha)
    ref = L2Program(X.numpy(), y.numpy(), D.numpy().astype(float), sign.numpy(), beta, True)
    _, _, info_scs = ref.solve("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000})
    ipm = PatternBarrier(X, y, D, sign, output_bias=True)
    start = w.alpha.abs()[:, None] * w.W_tilde
    V, c, info = ipm.solve_l2(beta, start, w.c)
    assert info.status == "optimal"
    assert abs(info.value - info_scs.value) <= 1e-4 * info_scs.value
    assert float(ipm.cone_rows(V).min()) > 0
    start_value = ipm.model_mse(start, w.c) + beta * float(start.norm(dim=1).sum())
    assert info.value <= start_value + 1e-12


# ----------------------------------------------------------------------- degenerate inputs
def test_solve_rejects_a_start_outside_the_cones():
    """The returned point is documented strictly feasible "whatever the accuracy reached": a
    start on the boundary or outside the cone must be refused, not handed back as 'stalled'."""
    from torch_lipcvx._engine import ipm
    Xt = torch.ones(1, 1, dtype=DT)
    part = Rows(Xt, torch.tensor([[True]]), torch.tensor([True]), Xt.reshape(1, 1), 1)
    P, b = torch.eye(1, dtype=DT), torch.tensor([-1.0], dtype=DT)
    x, info = ipm.solve(P, b, torch.tensor([1.0], dtype=DT), [part])
    assert info.status == "optimal" and float(x) > 0 and float(x) < 1e-8
    for x0 in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="strictly feasible"):
            ipm.solve(P, b, torch.tensor([x0], dtype=DT), [part])


def _tiny_data(seed=0, n=15, d=2, m=4):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    Wt = rng.standard_normal((m, d + 1))
    D = np.hstack([X, np.ones((n, 1))]) @ Wt.T >= 0
    alpha = np.array([0.5, 0.4, -0.3, -0.6])[:m]
    return X, y, D.astype(float), alpha, Wt


def test_programs_read_y_as_one_target_per_row():
    """y of shape (n, 1) must mean the same program as y (n,): cvxpy broadcasts pred (n,) − y
    (n, 1) to an (n, n) matrix, a silently different (and much larger) objective."""
    from torch_lipcvx._engine.programs import L2Program
    X, y, D, alpha, _ = _tiny_data()
    sign = np.sign(alpha)
    ref = L2Program(X, y, D, sign, 1e-2, True).solve()[2].value
    assert L2Program(X, y[:, None], D, sign, 1e-2, True).solve()[2].value == \
        pytest.approx(ref, rel=1e-6)
    t = np.ones(len(alpha))
    ref12 = LipschitzRestriction(X, y, D, alpha, 1e-2, 0.0, True).solve(t)[3].value
    assert LipschitzRestriction(X, y[:, None], D, alpha, 1e-2, 0.0, True).solve(t)[3].value == \
        pytest.approx(ref12, rel=1e-6)
    with pytest.raises(ValueError, match="y"):
        L2Program(X, y[:-1], D, sign, 1e-2, True)
    with pytest.raises(ValueError, match="D"):
        LipschitzRestriction(X, y, D[:-1], alpha, 1e-2, 0.0, True)


def test_programs_reject_negative_weights():
    """β < 0 (or λ < 0) was silently read as 0 (``if beta > 0``): a different program."""
    from torch_lipcvx._engine.programs import L2Program
    X, y, D, alpha, _ = _tiny_data()
    with pytest.raises(ValueError, match="beta"):
        L2Program(X, y, D, np.sign(alpha), -1e-2, True)
    with pytest.raises(ValueError, match="beta"):
        LipschitzRestriction(X, y, D, alpha, 1e-2, -1e-2, True)
    with pytest.raises(ValueError, match="lam"):
        LipschitzRestriction(X, y, D, alpha, -1e-2, 0.0, True)
    from torch_lipcvx._engine.programs import AlphaRestriction
    with pytest.raises(ValueError, match="lam"):
        AlphaRestriction(len(y), len(alpha), X.shape[1], -1e-2, 0.0, True)
    with pytest.raises(ValueError, match="beta"):
        AlphaRestriction(len(y), len(alpha), X.shape[1], 1e-2, -1e-2, True)


def test_convex_to_weights_refuses_a_non_finite_solution():
    """A NaN row made the threshold NaN and every unit silently a zero unit."""
    from torch_lipcvx._engine.programs import convex_to_weights
    V = np.ones((3, 4))
    V[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        convex_to_weights(V, np.array([1.0, 1.0, -1.0]))


def test_program_values_are_the_documented_objectives_at_their_solutions():
    """The solvers' values are the objectives of docs/programs.md recomputed by hand at the returned
    points: (6): (1/n)‖pred − y‖² + β Σ‖v_j‖ (bias included); (12): (1/n)‖Σ α_j D_j X̃ w̃_j + c −
    y‖² + λ ρ + (β/2)‖W̃‖²_F (bias included), with ρ the LMI's smallest for this t."""
    from torch_lipcvx._engine.programs import L2Program
    X, y, D, alpha, _ = _tiny_data(1, n=25, d=3)
    Xt = np.hstack([X, np.ones((len(y), 1))])
    beta, lam = 0.05, 0.02
    sign = np.sign(alpha)
    V, c, info = L2Program(X, y, D, sign, beta, True).solve()
    pred = ((D * sign) * (Xt @ V.T)).sum(1) + c
    J6 = ((pred - y) ** 2).mean() + beta * np.linalg.norm(V, axis=1).sum()
    assert info.value == pytest.approx(J6, rel=1e-6)
    t = 1.5 * np.maximum(alpha ** 2, 1e-3) * len(alpha)          # 2T − ααᵀ ≻ 0
    for form in ("decomposed", "full"):
        W, c, rho, info = LipschitzRestriction(X, y, D, alpha, lam, beta, True, form=form).solve(t)
        pred = ((D * alpha) * (Xt @ W.T)).sum(1) + c
        s = (alpha ** 2 / (2 * t)).sum()
        M = np.diag(t / 2) + np.outer(alpha, alpha) / (4 * (1 - s))
        rho_min = np.linalg.eigvalsh(W[:, :-1].T @ M @ W[:, :-1])[-1]
        assert rho == pytest.approx(rho_min, rel=1e-5)
        J12 = ((pred - y) ** 2).mean() + lam * rho + 0.5 * beta * (W ** 2).sum()
        assert info.value == pytest.approx(J12, rel=1e-6), form


def test_max_iter_tests_the_point_it_returns():
    """After the last of ``max_iter`` steps the returned point itself is tested: a point that
    meets the tolerances is 'optimal' (it was reported 'max_iter', so "auto" redid the solve by
    cvxpy), and gap and dual residual are the returned point's (they were the previous one's)."""
    w, X, y, D = _setup(1, 50, 3, 6)
    t = torch.as_tensor(lipsdp(w).t)
    ipm = PatternBarrier(X, y, D, w.alpha, output_bias=True)
    W, _, _, info = ipm.solve_restriction(w.alpha, t, 1e-2, 0.0, w.W_tilde, w.c)
    assert info.status == "optimal"
    k = info.iterations              # k - 1 steps, then the test passed
    W2, _, _, info2 = ipm.solve_restriction(w.alpha, t, 1e-2, 0.0, w.W_tilde, w.c,
                                            max_iter=k - 1)
    assert torch.equal(W, W2)
    assert info2.status == "optimal" and info2.iterations == k - 1
    assert info2.lower == info.lower and info2.dual_residual == info.dual_residual
    _, _, _, info3 = ipm.solve_restriction(w.alpha, t, 1e-2, 0.0, w.W_tilde, w.c,
                                           max_iter=k - 3)
    assert info3.status == "max_iter" and info3.iterations == k - 3


def test_solve_refuses_a_non_finite_start_and_bad_settings():
    """A NaN in a coordinate no cone reads (here the output bias) passed the interior test and
    came back as a NaN 'solution' (status 'stalled'); NaN/negative tol ran to max_iter, and a
    non-integer max_iter or a string tol failed deep inside with unrelated TypeErrors."""
    from torch_lipcvx._engine import ipm
    Xt = torch.ones(1, 1, dtype=DT)
    part = Rows(Xt, torch.tensor([[True]]), torch.tensor([True]), Xt.reshape(1, 1), 2)
    P, b = torch.eye(2, dtype=DT), torch.tensor([-1.0, 1.0], dtype=DT)
    x, info = ipm.solve(P, b, torch.tensor([1.0, 0.0], dtype=DT), [part])
    assert info.status == "optimal" and float(x[1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="x0.*NaN"):
        ipm.solve(P, b, torch.tensor([1.0, float("nan")], dtype=DT), [part])
    with pytest.raises(ValueError, match="b contains NaN"):
        ipm.solve(P, torch.tensor([-1.0, float("inf")], dtype=DT),
                  torch.tensor([1.0, 0.0], dtype=DT), [part])
    x0 = torch.tensor([1.0, 0.0], dtype=DT)
    # the library's rule: ValueError for a bad value, TypeError for a wrong type
    for kw, name in (({"tol": float("nan")}, "tol"), ({"tol": -1e-9}, "tol"),
                     ({"max_iter": -1}, "max_iter"), ({"gondzio": -1}, "gondzio"),
                     ({"mu0": 0.0}, "mu0"), ({"centrality": 1.5}, "centrality")):
        with pytest.raises(ValueError, match=name):
            ipm.solve(P, b, x0, [part], **kw)
    for kw, name in (({"tol": "tight"}, "tol"), ({"max_iter": 2.5}, "max_iter"),
                     ({"centrality": None}, "centrality")):
        with pytest.raises(TypeError, match=name):
            ipm.solve(P, b, x0, [part], **kw)


def test_programs_refuse_a_bad_t_signs_other_than_pm1_and_non_binary_patterns():
    """(12)'s t: NaN was reported as 'Parameter value must be nonnegative', a wrong length as a
    NumPy broadcast error and an (m, 1) column as 't must certify'. (6)'s signs and both
    programs' patterns D: any value was accepted, silently another program than (6)/(12) (the
    map back needs σ = ±1; D must be 0/1)."""
    from torch_lipcvx._engine.programs import L2Program
    X, y, D, alpha, _ = _tiny_data()
    prog = LipschitzRestriction(X, y, D, alpha, 1e-2, 0.0, True)
    for t in (np.array([np.nan, 1.0, 1.0, 1.0]), np.array([np.inf, 1.0, 1.0, 1.0])):
        with pytest.raises(ValueError, match="t contains NaN"):
            prog.solve(t)
    for t in (np.ones(3), np.ones((4, 1)), np.array(5.0)):
        with pytest.raises(ValueError, match=r"t must have shape \(4,\)"):
            prog.solve(t)
    for sign in (np.array([1.0, 1.0, -1.0, 0.5]), np.array([2.0, 1.0, -1.0, -1.0]),
                 np.array([1.0, 0.0, -1.0, -1.0])):
        with pytest.raises(ValueError, match="sign"):
            L2Program(X, y, D, sign, 1e-2, True)
    D_half = D.copy()
    D_half[0, 0] = 0.5                       # not a pattern: (2D − I) is no sign any more
    with pytest.raises(ValueError, match=r"D must be boolean \(or 0/1\) activation patterns"):
        L2Program(X, y, D_half, np.sign(alpha), 1e-2, True)
    with pytest.raises(ValueError, match=r"D must be boolean \(or 0/1\) activation patterns"):
        LipschitzRestriction(X, y, D_half, alpha, 1e-2, 0.0, True)
    assert LipschitzRestriction(X, y, D.astype(bool), alpha, 1e-2, 0.0, True).solve(
        np.ones(4))[3].value == pytest.approx(prog.solve(np.ones(4))[3].value, rel=1e-6)


def test_lipsdp_program_names_bad_weights():
    """NaN weights were reported by cvxpy as 'Parameter value must be real', a wrong W shape as
    a NumPy reshape error."""
    from torch_lipcvx._engine.programs import LipSDPProgram
    prog = LipSDPProgram(4, 2)
    alpha = np.array([0.5, 0.4, -0.3, -0.6])
    with pytest.raises(ValueError, match="W contains NaN"):
        prog.solve(np.full((4, 2), np.nan), alpha)
    with pytest.raises(ValueError, match=r"expected W \(4, 2\)"):
        prog.solve(np.ones((5, 2)), alpha)
    with pytest.raises(ValueError, match="expected W"):
        prog.solve(np.ones((4, 2)), np.ones(5))
    rho, t, _ = prog.solve(np.ones((4, 2)), alpha)
    assert rho > 0 and t.shape == (4,)


class _Orthant(Cone):
    """A toy cone written against the :class:`Cone` interface only: ``s = h + G x ≥ 0``."""

    def __init__(self, G: torch.Tensor, h: torch.Tensor) -> None:
        self.G, self.h = G, h
        self.nu = float(G.shape[0])

    def slack(self, x):
        return self.h + self.G @ x

    def adjoint(self, Y):
        return self.G.T @ Y

    def init_dual(self, s, mu):
        return mu / s

    def dot(self, a, b):
        return float(a @ b)

    def scaling(self, s, z):
        return torch.sqrt(s / z), torch.sqrt(s * z)

    def lam(self, sc):
        return sc[1]

    def newton(self, K, sc):
        K += self.G.T @ (self.G / (sc[0] ** 2)[:, None])

    def scale_ds(self, sc, dx):
        return (self.G @ dx) / sc[0]

    def unscale_dz(self, sc, dzh):
        return dzh / sc[0]

    def rhs(self, sc, u):
        return self.adjoint(u / sc[0])

    def circ(self, a, b):
        return a * b

    def inv_circ(self, lam, r):
        return r / lam

    def identity(self, like):
        return torch.ones_like(like)

    def max_step(self, lam, d):
        neg = d < 0
        return float((-lam[neg] / d[neg]).min()) if bool(neg.any()) else float("inf")

    def update_dual(self, z, dz, a):
        return z + a * dz

    def interior(self, s):
        return bool((s > 0).all())

    def worst(self, s, z):
        return float((s * z).min())


def test_a_new_cone_needs_no_solver_code():
    """A cone implementing :class:`Cone` (here a box ``0 ≤ x ≤ 1`` as an orthant) is solved by
    :func:`ipm.solve` unchanged, alone and beside a built-in part: the projection of ``q`` onto
    the box is ``clip(q, 0, 1)``; with a group norm ``‖x[:3]‖ ≤ x[3]`` it matches the KKT
    point."""
    from torch_lipcvx._engine import ipm
    k = 6
    q = torch.tensor([-0.5, 0.3, 1.7, 0.9, -2.0, 0.5], dtype=DT)
    box = _Orthant(torch.cat([torch.eye(k, dtype=DT), -torch.eye(k, dtype=DT)]),
                   torch.cat([torch.zeros(k, dtype=DT), torch.ones(k, dtype=DT)]))
    x0 = torch.full((k,), 0.5, dtype=DT)
    # min ½‖x − q‖² = ½ xᵀx − qᵀx + ½‖q‖²
    x, info = ipm.solve(torch.eye(k, dtype=DT), q, x0, [box], const=0.5 * float(q @ q))
    assert info.status == "optimal"
    assert torch.allclose(x, q.clamp(0, 1), atol=1e-6)
    assert bool((x > 0).all() and (x < 1).all())                  # strictly inside
    # beside a GroupSOC: ‖v‖ ≤ τ for v = x[:3], τ = x[3]; minimise ½‖x − q‖² in the box
    soc = GroupSOC(1, 3, 3, k, DT, "cpu")
    x0 = torch.tensor([0.1, 0.1, 0.1, 0.5, 0.5, 0.5], dtype=DT)
    x, info = ipm.solve(torch.eye(k, dtype=DT), q, x0, [box, soc])
    assert info.status == "optimal"
    v, tau = x[:3], x[3]
    assert float(torch.linalg.vector_norm(v)) < float(tau) and bool((x > 0).all())
    # the last two coordinates only meet the box: clip(q, 0, 1)
    assert torch.allclose(x[4:], q[4:].clamp(0, 1), atol=1e-6)
    # and the result is the cvxpy projection onto the same set
    import cvxpy as cp
    xv = cp.Variable(k)
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(xv - q.numpy())),
               [xv >= 0, xv <= 1, cp.norm(xv[:3]) <= xv[3]]).solve(solver="CLARABEL")
    assert np.allclose(x.numpy(), xv.value, atol=1e-5)
