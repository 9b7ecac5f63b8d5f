"""The objective J and its parts (torch_lipcvx.objective; docs/conventions.md §2)."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch
from torch import nn

import torch_lipcvx as tl
from torch_lipcvx.bounds import LipSDPFallbackWarning, lipsdp
from torch_lipcvx.models import ShallowReLU
from torch_lipcvx.objective import (Objective, check_inputs, l2_penalty, lipschitz_term, mse,
                                    objective, score, training_loss)

from conftest import make_instance

SOLVER = "CLARABEL"


def _by_hand(net: ShallowReLU, X, y, lam: float, beta: float, rho: float) -> float:
    """J written out from the network's layers, independently of the module under test."""
    W, b = net.hidden.weight.detach(), net.hidden.bias.detach()
    alpha = net.output.weight.detach()[0]
    pred = torch.relu(X @ W.T + b) @ alpha + net.output.bias.detach()[0]
    data = float(((pred - y) ** 2).sum()) / len(y)
    ridge = float((W * W).sum() + (b * b).sum() + (alpha * alpha).sum())
    return data + beta / 2 * ridge + lam * rho


@pytest.mark.parametrize("lam,beta", [(0.0, 1e-2), (1e-1, 0.0), (1e-1, 1e-2)])
def test_objective_is_mse_plus_ridge_plus_lam_rho_with_a_fresh_certificate(lam, beta):
    net, X, y = make_instance(0, n=40, d=3, m=6, steps=50)
    J = objective(net, X, y, lam=lam, beta=beta, solver=SOLVER)
    rho = lipsdp(net.weights(), solver=SOLVER).rho
    assert J.rho == pytest.approx(rho, rel=1e-9)
    assert J.L == pytest.approx(rho ** 0.5, rel=1e-9)
    assert J.value == pytest.approx(_by_hand(net, X, y, lam, beta, J.rho), rel=1e-12)
    assert J.value == J.mse + 0.5 * beta * J.l2 + lam * J.rho
    assert (J.lam, J.beta) == (lam, beta)


def test_the_output_bias_is_not_penalised_and_the_hidden_bias_is():
    net, X, y = make_instance(1, n=30, d=2, m=5, steps=20)
    base = float(l2_penalty(net).detach())
    with torch.no_grad():
        net.output.bias += 3.0
    assert float(l2_penalty(net).detach()) == base
    with torch.no_grad():
        net.hidden.bias[0] += 1.0
    assert float(l2_penalty(net).detach()) > base


def test_l2_penalty_reads_every_form_of_the_weights_alike():
    net, _, _ = make_instance(2, n=30, d=3, m=4, steps=20)
    seq = nn.Sequential(net.hidden, nn.ReLU(), net.output)
    w = net.weights()
    triple = (net.hidden.weight, net.hidden.bias, net.output.weight[0])
    values = [float(l2_penalty(p).detach()) for p in (net, seq, w, triple)]
    assert values == [values[0]] * 4
    assert values[0] == pytest.approx(float(sum((p ** 2).sum() for p in (w.W, w.b, w.alpha))),
                                      rel=1e-14)


def test_l2_penalty_gradient_is_twice_the_weights():
    net, _, _ = make_instance(3, n=30, d=3, m=4, steps=0)
    l2_penalty(net).backward()
    assert torch.equal(net.hidden.weight.grad, 2 * net.hidden.weight.detach())
    assert torch.equal(net.hidden.bias.grad, 2 * net.hidden.bias.detach())
    assert torch.equal(net.output.weight.grad, 2 * net.output.weight.detach())
    assert net.output.bias.grad is None


def test_l2_penalty_refuses_what_is_not_a_shallow_network():
    with pytest.raises(ValueError):
        l2_penalty(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    with pytest.raises(TypeError, match="l2_penalty"):
        l2_penalty([torch.zeros(2, 2)])


def test_training_loss_adds_half_beta_l2_and_is_the_data_term_itself_without_beta():
    net, X, y = make_instance(4, n=30, d=3, m=4, steps=10)
    data = mse(net(X), y)
    assert training_loss(data, net, beta=0.0) is data
    loss = training_loss(data, net, beta=0.2)
    assert float(loss.detach()) == pytest.approx(
        float(data.detach()) + 0.1 * float(l2_penalty(net).detach()), rel=1e-14)
    loss.backward()
    assert net.hidden.weight.grad is not None
    assert float(lipschitz_term(0.5, torch.tensor(4.0))) == 2.0


def test_mse_is_the_mean_of_the_squared_errors():
    g = torch.Generator().manual_seed(0)
    pred, y = torch.randn(17, generator=g), torch.randn(17, generator=g)
    assert float(mse(pred, y)) == pytest.approx(float(nn.functional.mse_loss(pred, y)), rel=1e-6)


def test_score_of_the_checked_inputs_is_what_objective_returns():
    net, X, y = make_instance(5, n=40, d=3, m=6, steps=30)
    _, w, X64, y64, lam, beta = check_inputs(net, X.float(), y.float(), 1e-1, 1e-2)
    assert w.W.dtype == X64.dtype == torch.float64
    rho = lipsdp(w, solver=SOLVER).rho
    J = score(w, X64, y64, lam=lam, beta=beta, rho=rho)
    assert isinstance(J, Objective)
    assert J == objective(net, X.float(), y.float(), lam=lam, beta=beta, solver=SOLVER)


@pytest.mark.parametrize("bad", [{"lam": -1.0}, {"beta": -1e-3}])
def test_negative_weights_are_refused_before_any_work(bad):
    net, X, y = make_instance(6, n=20, d=2, m=3, steps=0)
    with pytest.raises(ValueError, match=next(iter(bad))):
        objective(net, X, y, **bad)


def test_the_old_paths_still_give_the_same_objects():
    pp = importlib.import_module("torch_lipcvx.algorithm1.postprocess")
    tr = importlib.import_module("torch_lipcvx.train")
    assert pp.objective is objective and tl.objective is objective
    assert pp.Objective is Objective and tl.Objective is Objective
    assert tr.l2_penalty is l2_penalty


@pytest.mark.parametrize("solver", ["auto", "torch"])
def test_objective_passes_solver_options_to_the_torch_lipsdp(solver):
    """``objective(..., solver_options=...)`` documents them as LipSDP's, but with the default
    ``"auto"`` (and ``"torch"``) they were dropped silently."""
    net, X, y = make_instance(0, n=30, d=2, m=4, steps=20)
    with pytest.raises(ValueError, match="method"):
        objective(net, X, y, lam=1.0, solver=solver, solver_options={"method": "bogus"})
    tight = objective(net, X, y, lam=1.0, solver=solver, solver_options={"tol": 1e-11})
    assert tight.rho == pytest.approx(lipsdp(net.weights(), solver=SOLVER).rho, rel=1e-6)


def test_a_one_shot_certificate_shows_the_fallback_note_itself(monkeypatch):
    """objective() certifies once and collects nothing: lipsdp's "fell back to cvxpy" note
    reaches the user as it comes."""
    mod = importlib.import_module("torch_lipcvx.objective")
    real = mod.lipsdp

    def noisy(w, **kw):
        warnings.warn(LipSDPFallbackWarning("LipSDP torch method failed (test); also solved by "
                                            "auto/CLARABEL, kept the smallest certified bound"))
        return real(w, **kw)

    monkeypatch.setattr(mod, "lipsdp", noisy)
    net, X, y = make_instance(13, n=60, d=2, m=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        objective(net, X, y, lam=1e-1, solver="auto")
    assert any("also solved by auto/CLARABEL" in str(w.message) for w in caught)
