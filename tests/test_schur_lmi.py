"""The LMI of (12) in its d × d Schur form (``ipm.SchurLMI``, docs/solvers.md §3.1), the cone
for ``ρ I − W̄ᵀ M W̄ ⪰ 0`` on both Newton systems.

Properties: its linearisation is the derivative of its value, its adjoint the transpose of the
linearisation, its Newton term the quadratic form of the scaled linearisation plus the
constraint's curvature ``2 M ⊗ Y``, its matrix-free products and unit blocks that term's, the
right-hand side the adjoint of the scaled step with the residual; the slack moves along the
linearisation plus the residual; a dense solve of (12) equals the matrix-free one (and
Clarabel's elsewhere, tests/test_newton_cg.py), ends within its tolerance of feasibility, and
reports the value of its point at the exact ``ρ``.
"""

from __future__ import annotations

import pytest
import torch

from torch_lipcvx import lipsdp
from torch_lipcvx._engine import ipm
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx.models import activation_patterns, sign_order

from conftest import make_instance

DT = torch.float64


def _cone(seed=0, m=6, d=3):
    g = torch.Generator().manual_seed(seed)
    p, N = d + 1, m * (d + 1) + 2
    A = torch.randn(m, m, generator=g, dtype=DT)
    M = A @ A.T + torch.eye(m, dtype=DT)
    cone = ipm.SchurLMI(M, m, p, d, N - 1, N)
    x = torch.randn(N, generator=g, dtype=DT)
    Wb = x[: m * p].reshape(m, p)[:, :d]
    x[-1] = 2.0 * float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1]) + 1.0    # strictly inside
    return cone, x, torch.randn(N, generator=g, dtype=DT), g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_linearisation_is_the_derivative_and_the_adjoint_its_transpose(seed):
    cone, x, dx, g = _cone(seed)
    s = cone.slack(x)
    cone.linearise(x, s)
    h = 1e-6
    fd = (cone.slack(x + h * dx) - cone.slack(x - h * dx)) / (2 * h)
    L = cone.lin(dx)
    assert torch.allclose(fd, L, rtol=1e-7, atol=1e-7 * float(L.abs().max()))
    Y = torch.randn(cone.d, cone.d, generator=g, dtype=DT)
    Y = Y + Y.T
    assert float((Y * L).sum()) == pytest.approx(float(cone.adjoint(Y) @ dx), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_newton_term_is_the_scaled_form_plus_the_curvature(seed):
    cone, x, dx, g = _cone(seed)
    s = cone.slack(x)
    Y = torch.randn(cone.d, cone.d, generator=g, dtype=DT)
    Z = Y @ Y.T + torch.eye(cone.d, dtype=DT)
    cone.linearise(x, s)
    sc = cone.scaling(s, Z)
    r, rinv, lam = sc
    assert torch.allclose(r.T @ Z @ r, torch.diag(lam), atol=1e-10)
    assert torch.allclose(rinv @ s @ rinv.T, torch.diag(lam), atol=1e-10)
    K = torch.zeros(cone.N, cone.N, dtype=DT)
    cone.newton(K, sc)
    V = rinv.T @ rinv
    L = cone.lin(dx)
    dW = dx[: cone.m * cone.p].reshape(cone.m, cone.p)[:, : cone.d]
    want = (L * (V @ L @ V)).sum() + 2.0 * torch.trace(Z @ dW.T @ cone.M @ dW)
    assert float(dx @ K @ dx) == pytest.approx(float(want), rel=1e-11)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_matrix_free_products_and_unit_blocks_are_the_newton_terms(seed):
    """``hvp`` (the matrix-free Newton system's product) is :meth:`newton`'s term applied, and
    the preconditioner's unit blocks and ρ's diagonal are that term's own."""
    from torch_lipcvx._engine import newton_cg
    cone, x, dx, g = _cone(seed)
    s = cone.slack(x)
    Y = torch.randn(cone.d, cone.d, generator=g, dtype=DT)
    cone.linearise(x, s)
    sc = cone.scaling(s, Y @ Y.T + torch.eye(cone.d, dtype=DT))
    K = torch.zeros(cone.N, cone.N, dtype=DT)
    cone.newton(K, sc)
    for _ in range(3):
        v = torch.randn(cone.N, generator=g, dtype=DT)
        assert torch.allclose(cone.hvp(sc, v), K @ v, rtol=1e-12, atol=1e-12 * float(K.abs().max()))
    m, p = cone.m, cone.p
    Xt = torch.ones(4, p, dtype=DT)
    opts = newton_cg.CGOptions(m=m, p=p, Xt=Xt, precond="block")
    pc = newton_cg.UnitPreconditioner(opts, cone.N, torch.ones(cone.N, dtype=torch.bool))
    cone.precond(sc, pc)
    for j in range(m):
        blk = K[j * p:(j + 1) * p, j * p:(j + 1) * p]
        assert torch.allclose(pc.B[j], blk, rtol=1e-12, atol=1e-12 * float(K.abs().max()))
    assert float(pc.rest_diag[cone.ri]) == pytest.approx(float(K[cone.ri, cone.ri]), rel=1e-12)


def test_the_slack_moves_along_the_linearisation_and_removes_its_residual():
    cone, x, dx, g = _cone(3)
    G = cone.slack(x)
    s = G + 0.1 * torch.eye(cone.d, dtype=DT)          # a slack off the constraint's value
    cone.linearise(x, s)
    a = 0.7
    moved = cone.moved(s, x + a * dx, dx, a)
    assert torch.allclose(moved, s + a * (cone.lin(dx) + (G - s)), atol=1e-12)
    # a full step lands on the value of the linearised constraint: the true value minus the
    # curvature dW̄ᵀ M dW̄
    full = cone.moved(s, x + dx, dx, 1.0)
    dW = dx[: cone.m * cone.p].reshape(cone.m, cone.p)[:, : cone.d]
    assert torch.allclose(full, cone.slack(x + dx) + dW.T @ cone.M @ dW, atol=1e-9)
    # the right-hand side is the adjoint of the scaled step, the residual included
    Z = torch.eye(cone.d, dtype=DT)
    sc = cone.scaling(s, Z)
    u = torch.randn(cone.d, cone.d, generator=g, dtype=DT)
    u = u + u.T
    rinv = sc[1]
    resid = rinv @ (G - s) @ rinv.T                    # the scaled residual W⁻ᵀ r
    # ⟨W⁻ᵀ(L dx + r), u⟩ = ⟨dx, Lᵀ W⁻¹ u⟩ + ⟨W⁻ᵀ r, u⟩, and rhs(u) = Lᵀ W⁻¹ (u − W⁻ᵀ r)
    lhs = float((cone.scale_ds(sc, dx) * u).sum())
    assert lhs == pytest.approx(float(dx @ cone.adjoint(rinv.T @ u @ rinv))
                                + float((resid * u).sum()), rel=1e-10)
    assert torch.allclose(cone.rhs(sc, u), cone.adjoint(rinv.T @ (u - resid) @ rinv),
                          atol=1e-12)


def _barrier(seed, n, d, m, newton):
    net, X, y = make_instance(seed, n, d, m)
    w = net.weights().to(dtype=DT)
    w = w.permute(sign_order(w.alpha))
    D = activation_patterns(X, w)
    bar = PatternBarrier(X, y, D, w.alpha, output_bias=True, newton=newton)
    return bar, w, torch.as_tensor(lipsdp(w).t)


@pytest.mark.parametrize("seed,n,d,m", [(0, 60, 2, 6), (1, 100, 3, 10), (2, 150, 5, 16)])
@pytest.mark.parametrize("beta", [0.0, 1e-3])
def test_the_dense_and_matrix_free_solves_agree_and_score_their_point_exactly(seed, n, d, m,
                                                                               beta):
    dense, w, t = _barrier(seed, n, d, m, "dense")
    lifted, _, _ = _barrier(seed, n, d, m, "cg")
    for bar in (dense, lifted):
        assert isinstance(bar.lmi_part(torch.eye(m, dtype=DT), m * (d + 1) + 2), ipm.SchurLMI)
    lam = 1e-2
    W1, c1, rho1, i1 = dense.solve_restriction(w.alpha, t, lam, beta, w.W_tilde, w.c)
    W2, c2, rho2, i2 = lifted.solve_restriction(w.alpha, t, lam, beta, w.W_tilde, w.c)
    assert i1.status == "optimal" and i2.status in ("optimal", "inexact")
    assert abs(i1.value - i2.value) <= 1e-6 * abs(i2.value)
    # the value reported is the point's, with its exact ρ = λ_max(W̄ᵀ M W̄)
    s = float((w.alpha ** 2 / (2 * t)).sum())
    M = torch.diag(t / 2) + torch.outer(w.alpha, w.alpha) / (4 * (1 - s))
    Wb = W1[:, :d]
    assert rho1 == pytest.approx(float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1]), rel=1e-12)
    exact = dense.model_mse(W1, c1) + 0.5 * beta * float((W1 ** 2).sum()) + lam * rho1
    assert i1.value == pytest.approx(exact, rel=1e-12)
    assert float(dense.cone_rows(W1).min()) > 0                 # the patterns hold strictly
