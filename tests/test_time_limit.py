"""A time limit on the interior point's solves (``solver_options={"time_limit": s}``,
docs/solvers.md §3).

Properties: a solve that reaches its limit stops with status ``"time_limit"`` at a strictly
feasible iterate (the patterns kept, every LMI slack positive definite), on the dense and the
matrix-free Newton systems, with and without row screening, for the squared loss and the other
losses; Algorithm 1 never falls back to cvxpy for it and its result is never worse than its
input; a bad limit is refused before any work, with the model untouched. Timing-independent:
the limits are far below one iteration or far above a whole solve.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from torch_lipcvx import lipsdp, postprocess
from torch_lipcvx._engine import ipm
from torch_lipcvx._engine.lipsdp_dual import spectral_rho_fixed_t
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx.models import activation_patterns, sign_order

from conftest import make_instance

TINY = 1e-9        # below any iteration: the solve stops at its first test
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _setup(seed=1, n=100, d=3, m=10):
    net, X, y = make_instance(seed, n, d, m)
    w = net.weights().to(dtype=torch.float64)
    w = w.permute(sign_order(w.alpha))
    return net, w, X, y, activation_patterns(X, w)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("newton", ["dense", "cg"])
@pytest.mark.parametrize("screen", [False, True])
def test_restriction_stops_feasible_at_its_limit(newton, screen, device):
    _, w, X, y, D = _setup()
    put = lambda v: v.to(device)  # noqa: E731
    bar = PatternBarrier(put(X), put(y), put(D), put(w.alpha), output_bias=True, newton=newton)
    t = torch.as_tensor(lipsdp(w).t)
    W, c, rho, info = bar.solve_restriction(w.alpha, t, 1e-2, 0.0, put(w.W_tilde), put(w.c),
                                            time_limit=TINY, screen=screen)
    assert info.status == "time_limit"
    assert info.iterations <= 1
    assert float(bar.cone_rows(W).min()) > 0           # strictly inside every pattern cone
    Wb = W[:, : X.shape[1]].double().cpu()
    assert rho >= spectral_rho_fixed_t(Wb, w.alpha, t) * (1 - 1e-12)   # the LMI holds
    # a limit far above the solve changes nothing
    W2, _, _, info2 = bar.solve_restriction(w.alpha, t, 1e-2, 0.0, put(w.W_tilde), put(w.c),
                                            time_limit=1e6, screen=screen)
    W3, _, _, info3 = bar.solve_restriction(w.alpha, t, 1e-2, 0.0, put(w.W_tilde), put(w.c),
                                            screen=screen)
    assert info2.status == info3.status and info2.iterations == info3.iterations
    assert torch.equal(W2, W3)


def test_l2_program_stops_at_its_limit():
    _, w, X, y, D = _setup()
    V0 = w.alpha.abs()[:, None] * w.W_tilde        # units ordered α > 0 first (sign_order)
    bar = PatternBarrier(X, y, D, torch.sign(w.alpha), output_bias=True)
    V, _, info = bar.solve_l2(1e-3, V0, w.c, time_limit=TINY)
    assert info.status == "time_limit"
    assert float(bar.cone_rows(V).min()) > 0


def test_ipm_refuses_a_bad_limit():
    P = torch.eye(2, dtype=torch.float64)
    b = torch.ones(2, dtype=torch.float64)
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="time_limit"):
            ipm.solve(P, b, torch.ones(2, dtype=torch.float64), [], time_limit=bad)
    with pytest.raises(TypeError, match="time_limit"):
        ipm.solve(P, b, torch.ones(2, dtype=torch.float64), [], time_limit=[1])


@pytest.mark.parametrize("solver,loss", [("auto", None), ("torch-cg", None),
                                         ("auto", "huber")])
def test_algorithm1_under_a_limit_keeps_descent_without_fallback(solver, loss):
    net, _, X, y, _ = _setup(seed=2, n=120, d=3, m=12)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)     # no "falling back to cvxpy"
        res = postprocess(net, X, y, lam=1e-2, beta=1e-3 if loss else 0.0, max_iter=3,
                          solver=solver, loss=loss, solver_options={"time_limit": TINY},
                          progress=False)
    assert [r.status for r in res.solves] and all(r.status == "time_limit" for r in res.solves)
    assert res.objective_after <= res.objective_before
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("bad,err", [(0, ValueError), (-5, ValueError), (float("nan"), ValueError),
                                     ("soon", TypeError)])
def test_postprocess_refuses_a_bad_limit_before_any_work(bad, err):
    net, _, X, y, _ = _setup()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(err, match=r"solver_options\['time_limit'\]"):
        postprocess(net, X, y, lam=1e-2, solver_options={"time_limit": bad}, progress=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_cli_postprocess_time_limit(tmp_path, capsys):
    from conftest import run_cli
    model = tmp_path / "model.pt"
    code, _, err = run_cli(["train", "--data", "rastrigin", "--n", "80", "--hidden", "8",
                            "--epochs", "30", "--out", model], capsys)
    assert code == 0, err
    new = tmp_path / "new.pt"
    code, out, err = run_cli(["postprocess", "--model", model, "--lam", "1e-2", "--max-iter",
                              "2", "--time-limit", "1e-9", "--out", new], capsys)
    assert code == 0, err
    assert "post-processed" in out and new.is_file()
    code, _, err = run_cli(["postprocess", "--model", model, "--lam", "1e-2", "--solver",
                            "CLARABEL", "--time-limit", "5", "--out", new], capsys)
    assert code != 0 and "--time-limit" in err
    code, _, err = run_cli(["postprocess", "--model", model, "--time-limit", "-1"], capsys)
    assert code != 0 and "time-limit" in err
