"""Bad input raises the documented error, naming the argument, and the user's model is never
touched -- neither by a rejected call nor by a successful or failed post-processing run
(docs/conventions.md §6: "fail fast with a clear error, and lose nothing")."""

from __future__ import annotations

import copy
import importlib
import math
import warnings

import pytest
import torch
from torch import Tensor, nn

import torch_lipcvx
from torch_lipcvx import ShallowReLU, ShallowWeights, SolverError

# ``torch_lipcvx.postprocess`` is the function (re-exported in __init__), which shadows the
# submodule of the same name; fetch the module itself.
postprocess_module = importlib.import_module("torch_lipcvx.algorithm1.postprocess")

DTYPE = torch.float64
N, D, M = 40, 2, 6

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="CUDA not available")),
]


def problem(seed: int = 0, dtype=DTYPE, device="cpu"):
    """A seeded ``ShallowReLU(2, 6)`` and a smooth regression task ``X (40, 2)``, ``y (40,)``."""
    g = torch.Generator().manual_seed(seed)
    net = ShallowReLU(D, M, dtype=DTYPE).reset_parameters(g)
    with torch.no_grad():
        net.output.weight.mul_(3.0)
    X = torch.randn(N, D, generator=g, dtype=DTYPE)
    y = torch.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    return net.to(device, dtype), X.to(device, dtype), y.to(device, dtype)


# ------------------------------------------------------------------------------- snapshots
def snapshot(model: nn.Module) -> dict:
    """Everything a call could change on the user's model, copied."""
    return {
        "state": copy.deepcopy(model.state_dict()),
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "grad": {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()},
        "training": [mod.training for mod in model.modules()],
        "ptrs": {k: p.data_ptr() for k, p in model.named_parameters()},
        "type": type(model),
    }


def bit_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape, device and bytes (so NaN weights compare equal to themselves)."""
    return (a.dtype == b.dtype and a.shape == b.shape and a.device == b.device
            and a.detach().cpu().numpy().tobytes() == b.detach().cpu().numpy().tobytes())


def assert_unchanged(model: nn.Module, snap: dict) -> None:
    now = snapshot(model)
    assert now["type"] is snap["type"]
    assert now["state"].keys() == snap["state"].keys()
    for k in snap["state"]:
        assert bit_equal(now["state"][k], snap["state"][k]), f"{k} changed"
        if not torch.isnan(snap["state"][k]).any():
            assert torch.equal(now["state"][k], snap["state"][k])
    assert now["requires_grad"] == snap["requires_grad"]
    assert now["training"] == snap["training"]
    assert now["ptrs"] == snap["ptrs"]
    assert now["grad"].keys() == snap["grad"].keys()
    for k, g in snap["grad"].items():
        assert (g is None and now["grad"][k] is None) or bit_equal(g, now["grad"][k])


def user_model(kind: str = "good") -> nn.Module:
    """The model handed in, with non-default flags so that any reset would be noticed."""
    if kind == "good":
        model = problem()[0]
    elif kind == "sequential":
        model = problem()[0].to_sequential()
    elif kind == "two_hidden":
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = nn.Sequential(nn.Linear(D, M), nn.ReLU(), nn.Linear(M, M), nn.ReLU(),
                                  nn.Linear(M, 1)).double()
    elif kind == "tanh":
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = nn.Sequential(nn.Linear(D, M), nn.Tanh(), nn.Linear(M, 1)).double()
    elif kind == "nan_weights":
        model = problem()[0]
        with torch.no_grad():
            model.hidden.weight[1, 0] = float("nan")
    else:  # pragma: no cover
        raise KeyError(kind)
    model.eval()
    params = list(model.parameters())
    params[1].requires_grad_(False)
    params[0].grad = torch.full_like(params[0], 0.25)
    return model


# ------------------------------------------------------------------------- the public callers
def call_lipschitz_bounds(model, X, y, **kw):
    kw = {"solver": "CLARABEL", "n_samples": 8, "ascent_steps": 2, **kw}
    norm = kw.pop("norm", 2)
    return torch_lipcvx.lipschitz_bounds(model, norm, X=X, **kw)


def call_postprocess(model, X, y, **kw):
    kw = {"lam": 0.1, "max_iter": 1, "solver": "CLARABEL", **kw}
    return torch_lipcvx.postprocess(model, X, y, **kw)


def call_objective(model, X, y, **kw):
    kw = {"lam": 0.1, "solver": "CLARABEL", **kw}
    return torch_lipcvx.objective(model, X, y, **kw)


def call_solve_l2_program(model, X, y, **kw):
    kw = {"beta": 1e-2, "solver": "CLARABEL", **kw}
    return torch_lipcvx.solve_l2_program(model, X, y, **kw)


CALLERS = {
    "lipschitz_bounds": (call_lipschitz_bounds, {"X", "solver", "norm", "method", "n_samples",
                                                 "seed"}),
    "postprocess": (call_postprocess, {"X", "y", "lam", "beta", "tol", "max_iter", "solver"}),
    "objective": (call_objective, {"X", "y", "lam", "beta", "solver"}),
    "solve_l2_program": (call_solve_l2_program, {"X", "y", "beta", "solver", "patterns",
                                                 "n_sampled", "seed"}),
}


def _X(f):
    return lambda X, y: (f(X), y)


def _y(f):
    return lambda X, y: (X, f(y))


def _nan_at(t, idx, value=float("nan")):
    t = t.clone()
    t[idx] = value
    return t


# (id, argument it concerns, data transform or None, extra keyword arguments, error, match)
BAD = [
    ("X-1d", "X", _X(lambda X: X[0]), {}, ValueError, r"X must have shape \(n, 2\), got shape \(2,\)"),
    ("X-3d", "X", _X(lambda X: X[:, :, None]), {}, ValueError,
     r"X must have shape \(n, 2\), got shape \(40, 2, 1\)"),
    ("X-columns", "X", _X(lambda X: torch.cat([X, X[:, :1]], 1)), {}, ValueError,
     r"X must have shape \(n, 2\) to match the model's input size, got shape \(40, 3\)"),
    ("X-nan", "X", _X(lambda X: _nan_at(X, (3, 1))), {}, ValueError,
     r"X contains 1 NaN/Inf value"),
    ("X-empty", "X", lambda X, y: (X[:0], y[:0]), {}, ValueError, r"X is empty"),
    ("X-string", "X", _X(lambda X: "not data"), {}, TypeError, r"X must be a tensor or array-like"),
    ("y-length", "y", _y(lambda y: y[:-1]), {}, ValueError,
     r"y must have shape \(40,\) \(one target per row of X\), got shape \(39,\)"),
    ("y-2col", "y", _y(lambda y: torch.stack([y, y], 1)), {}, ValueError,
     r"y must have shape \(40,\).*got shape \(40, 2\)"),
    ("y-inf", "y", _y(lambda y: _nan_at(y, 5, float("inf"))), {}, ValueError,
     r"y contains 1 NaN/Inf value"),
    ("y-complex", "y", _y(lambda y: y.to(torch.complex128)), {}, ValueError,
     r"y must be real, got dtype torch.complex128"),
    ("lam-negative", "lam", None, {"lam": -0.1}, ValueError, r"lam must be a finite number >= 0"),
    ("lam-nan", "lam", None, {"lam": float("nan")}, ValueError, r"lam must be a finite number"),
    ("lam-inf", "lam", None, {"lam": math.inf}, ValueError, r"lam must be a finite number"),
    ("lam-string", "lam", None, {"lam": "big"}, TypeError, r"lam must be a real number"),
    ("beta-negative", "beta", None, {"beta": -1e-3}, ValueError,
     r"beta must be a finite number >= 0"),
    ("beta-nan", "beta", None, {"beta": float("nan")}, ValueError, r"beta must be a finite number"),
    ("tol-negative", "tol", None, {"tol": -1e-4}, ValueError, r"tol must be a finite number >= 0"),
    ("max_iter-zero", "max_iter", None, {"max_iter": 0}, ValueError,
     r"max_iter must be an integer >= 1, got 0"),
    ("max_iter-float", "max_iter", None, {"max_iter": 2.5}, TypeError,
     r"max_iter must be an integer"),
    ("max_iter-bool", "max_iter", None, {"max_iter": True}, TypeError,
     r"max_iter must be an integer"),
    ("solver-unknown", "solver", None, {"solver": "MOSEK_PLUS"}, ValueError,
     r"solver must be one of \('auto', 'torch', 'torch-dense', 'torch-cg', 'CLARABEL', 'SCS'\).*got 'MOSEK_PLUS'"),
    ("solver-none", "solver", None, {"solver": None}, ValueError, r"solver must be one of"),
    ("norm-l3", "norm", None, {"norm": "l3"}, ValueError, r"norm must be 2 or inf.*got 'l3'"),
    ("norm-3", "norm", None, {"norm": 3}, ValueError, r"norm must be 2 or inf.*got 3"),
    ("norm-1", "norm", None, {"norm": 1}, ValueError, r"norm must be 2 or inf.*got 1"),
    ("method-unknown", "method", None, {"method": "lipopt"}, ValueError,
     r"method must be 'lipsdp' or 'naive', got 'lipopt'"),
    ("n_samples-zero", "n_samples", None, {"n_samples": 0}, ValueError,
     r"n_samples must be an integer >= 1"),
    ("seed-float", "seed", None, {"seed": 1.5}, TypeError, r"seed must be an integer"),
    ("seed-range", "seed", None, {"seed": 2 ** 64}, ValueError,
     r"seed must be an integer in \[-2\*\*63, 2\*\*64\)"),
    ("patterns-bogus", "patterns", None, {"patterns": "bogus"}, ValueError,
     r"patterns must be 'network' or 'sampled', got 'bogus'"),
    ("n_sampled-zero", "n_sampled", None, {"patterns": "sampled", "n_sampled": 0}, ValueError,
     r"n_sampled must be between 1 and the number of units \(6\), got 0"),
    ("n_sampled-too-many", "n_sampled", None, {"patterns": "sampled", "n_sampled": 7}, ValueError,
     r"n_sampled must be between 1 and the number of units \(6\), got 7"),
]

BAD_CASES = [
    pytest.param(fn, arg, transform, kw, exc, match, id=f"{fn}-{case}")
    for fn, (_, accepted) in CALLERS.items()
    for case, arg, transform, kw, exc, match in BAD
    if arg in accepted
]


@pytest.mark.parametrize("fn, arg, transform, kw, exc, match", BAD_CASES)
def test_bad_argument_raises_and_leaves_model_untouched(fn, arg, transform, kw, exc, match):
    call = CALLERS[fn][0]
    model = user_model("good")
    snap = snapshot(model)
    _, X, y = problem()
    X0, y0 = X.clone(), y.clone()
    if transform is not None:
        X, y = transform(X, y)
    with pytest.raises(exc, match=match):
        call(model, X, y, **kw)
    assert_unchanged(model, snap)
    if transform is None:  # the data is not modified either
        assert torch.equal(X, X0) and torch.equal(y, y0)


BAD_MODELS = [
    ("two_hidden", r"expected exactly 3 layers.*only one hidden ReLU layer is supported"),
    ("tanh", r"the activation must be nn\.ReLU, got Tanh"),
    ("nan_weights", r"model has NaN/Inf in its weights \(W\)"),
]


@pytest.mark.parametrize("kind, match", BAD_MODELS, ids=[k for k, _ in BAD_MODELS])
@pytest.mark.parametrize("fn", list(CALLERS))
def test_bad_model_raises_and_is_left_untouched(fn, kind, match):
    model = user_model(kind)
    snap = snapshot(model)
    _, X, y = problem()
    with pytest.raises(ValueError, match=match):
        CALLERS[fn][0](model, X, y)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("fn", list(CALLERS))
@pytest.mark.parametrize("model", [nn.Linear(D, 1), nn.ModuleList([nn.Linear(D, M)]), "net"],
                         ids=["linear", "modulelist", "string"])
def test_non_network_model_is_rejected(fn, model):
    _, X, y = problem()
    with pytest.raises(ValueError, match=r"model must be a ShallowReLU or nn\.Sequential"):
        CALLERS[fn][0](model, X, y)


def test_leaky_relu_network_is_rejected_everywhere():
    model = nn.Sequential(nn.Linear(D, M), nn.LeakyReLU(), nn.Linear(M, 1)).double()
    snap = snapshot(model)
    _, X, y = problem()
    for call, _ in CALLERS.values():
        with pytest.raises(ValueError, match=r"activation must be nn\.ReLU, got LeakyReLU"):
            call(model, X, y)
    assert_unchanged(model, snap)


# ------------------------------------------------------------------------------------ lipsdp
def _weights_snapshot(w: ShallowWeights):
    return [None if t is None else t.clone() for t in (w.W, w.b, w.alpha, w.c)]


def _assert_weights_unchanged(w: ShallowWeights, snap) -> None:
    for t, s in zip((w.W, w.b, w.alpha, w.c), snap):
        assert (t is None and s is None) or bit_equal(t, s)


@pytest.mark.parametrize("solver", ["GUROBI_SDP", "", 3])
def test_lipsdp_rejects_unknown_solver(solver):
    w = problem()[0].weights()
    snap = _weights_snapshot(w)
    with pytest.raises(ValueError, match=r"solver must be one of \('auto', 'torch', 'torch-dense', 'torch-cg', 'CLARABEL', 'SCS'\)"):
        torch_lipcvx.lipsdp(w, solver=solver)
    _assert_weights_unchanged(w, snap)


@pytest.mark.parametrize("where", ["W", "alpha"])
def test_lipsdp_rejects_nonfinite_weights(where):
    w = problem()[0].weights()
    if where == "W":
        w = ShallowWeights(_nan_at(w.W, (0, 0)), w.b, w.alpha, w.c)
    else:
        w = ShallowWeights(w.W, w.b, _nan_at(w.alpha, 2, -math.inf), w.c)
    snap = _weights_snapshot(w)
    with pytest.raises(ValueError, match=rf"NaN/Inf in its weights \({where}\)"):
        torch_lipcvx.lipsdp(w, solver="CLARABEL")
    _assert_weights_unchanged(w, snap)


def test_lipsdp_accepts_solver_name_in_any_case():
    w = problem()[0].weights()
    assert torch_lipcvx.lipsdp(w, solver="clarabel").solver == "CLARABEL"


def test_lipsdp_given_a_module_raises_type_error():
    model = user_model("good")
    snap = snapshot(model)
    try:
        with pytest.raises(TypeError, match="weights"):
            torch_lipcvx.lipsdp(model, solver="CLARABEL")
    finally:
        assert_unchanged(model, snap)


def test_lipschitz_bounds_validates_solver_for_every_method():
    model = user_model("good")
    with pytest.raises(ValueError, match="solver must be one of"):
        torch_lipcvx.lipschitz_bounds(model, 2, method="naive", solver="bogus", n_samples=8,
                                      ascent_steps=2)


# ---------------------------------------------------------------- successful postprocessing
def _check_result_model(res, model, snap, dtype, device):
    assert_unchanged(model, snap)
    new = res.model
    assert isinstance(new, ShallowReLU) and new is not model
    assert new.dtype == dtype and new.device == torch.device(device)
    assert not {p.data_ptr() for p in new.parameters()} & set(snap["ptrs"].values())
    J = [r.objective for r in res.history]
    assert all(b <= a for a, b in zip(J, J[1:]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lam, beta", [(0.1, 0.0), (0.0, 1e-2)], ids=["lipschitz", "l2"])
def test_successful_postprocess_returns_new_model_and_keeps_input(lam, beta, dtype, device):
    model, X, y = problem(dtype=dtype, device=device)
    model.eval()
    model.hidden.bias.requires_grad_(False)
    snap = snapshot(model)
    X0, y0 = X.clone(), y.clone()
    res = torch_lipcvx.postprocess(model, X, y, lam=lam, beta=beta, max_iter=2,
                                   solver="CLARABEL")
    _check_result_model(res, model, snap, dtype, device)
    assert torch.equal(X, X0) and torch.equal(y, y0)
    assert len(res.history) >= 2 and res.objective_after < res.objective_before
    # the reported objective is the objective of the returned model (recomputed independently)
    again = torch_lipcvx.objective(res.model, X, y, lam=lam, beta=beta, solver="CLARABEL")
    assert again.value == pytest.approx(res.objective_after, rel=1e-5 if dtype == DTYPE else 1e-3)
    assert_unchanged(model, snap)


def test_postprocess_accepts_sequential_and_returns_shallow_relu():
    net, X, y = problem()
    seq = net.to_sequential()
    seq.train()
    snap = snapshot(seq)
    res = torch_lipcvx.postprocess(seq, X, y, lam=0.1, max_iter=2, solver="CLARABEL")
    assert_unchanged(seq, snap)
    assert isinstance(res.model, ShallowReLU) and res.model.dtype == DTYPE
    # the starting objective is that of the Sequential
    J0 = torch_lipcvx.objective(seq, X, y, lam=0.1, solver="CLARABEL").value
    assert res.objective_before == pytest.approx(J0, rel=1e-6)
    assert res.objective_after <= res.objective_before


def test_postprocess_with_nothing_to_optimise_still_returns_a_copy():
    model, X, y = problem()
    with torch.no_grad():
        model.output.weight.zero_()
    snap = snapshot(model)
    res = torch_lipcvx.postprocess(model, X, y, lam=0.1, solver="CLARABEL")
    assert "nothing to optimise" in res.message
    _check_result_model(res, model, snap, DTYPE, "cpu")
    with torch.no_grad():
        assert torch.equal(res.model(X), model(X))


# ------------------------------------------------------------------------ solver failures
@pytest.mark.parametrize("solver", ["CLARABEL", "SCS"])
def test_infeasible_status_is_named_as_such(solver):
    import cvxpy as cp
    from torch_lipcvx._engine.programs import _solve
    x = cp.Variable()
    problem = cp.Problem(cp.Minimize(x), [x >= 1, x <= 0])
    with pytest.raises(SolverError, match=r"infeasible or unbounded.*numerical trouble"):
        _solve(problem, solver, None, "a test program")
    if solver == "CLARABEL":    # SCS at its iteration limit says optimal_inaccurate (accepted)
        with pytest.raises(SolverError, match=r"iteration/time limit"):
            _solve(cp.Problem(cp.Minimize(cp.sum_squares(x - 3)), [x >= 1]), solver,
                   {"max_iter": 1}, "a test program")


@pytest.mark.parametrize("lam, beta", [(0.1, 0.0), (0.0, 1e-2)], ids=["lipschitz", "l2"])
def test_first_solve_failing_raises_solver_error_and_keeps_model(lam, beta):
    # documented: "programs.SolverError: the very first solve failed"
    model = user_model("good")
    snap = snapshot(model)
    _, X, y = problem()
    with pytest.raises(SolverError, match=r"CLARABEL returned status 'user_limit'"):
        torch_lipcvx.postprocess(model, X, y, lam=lam, beta=beta, max_iter=2, solver="CLARABEL",
                                 solver_options={"max_iter": 1})
    assert_unchanged(model, snap)


def test_later_solve_failing_warns_and_keeps_previous_iterate(monkeypatch):
    # documented: "a later failure keeps the previous iterate and warns"
    original = postprocess_module.LipschitzRestriction.solve
    calls = {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise SolverError("injected failure")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(postprocess_module.LipschitzRestriction, "solve", flaky)
    model = user_model("good")
    snap = snapshot(model)
    _, X, y = problem()
    with pytest.warns(RuntimeWarning, match=r"iteration 2: injected failure; kept the previous"):
        res = torch_lipcvx.postprocess(model, X, y, lam=0.1, max_iter=5, solver="CLARABEL")
    assert calls["n"] == 2
    assert res.message.startswith("solver failed at iteration 2")
    assert [r.iteration for r in res.history] == [0, 1]
    _check_result_model(res, model, snap, DTYPE, "cpu")
    # the returned network is iterate 1, with its certified objective
    again = torch_lipcvx.objective(res.model, X, y, lam=0.1, solver="CLARABEL")
    assert again.value == pytest.approx(res.history[-1].objective, rel=1e-6)


@pytest.mark.parametrize("lam, beta", [(0.1, 0.0), (0.0, 1e-2)], ids=["lipschitz", "l2"])
def test_inaccurate_scs_warns_keeps_model_and_reports_certified_objective(lam, beta):
    # SCS stopped after one iteration reports 'optimal_inaccurate': accepted with a warning, every
    # result re-verified, so the reported J is still an upper bound on the true objective.
    model = user_model("good")
    snap = snapshot(model)
    _, X, y = problem()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = torch_lipcvx.postprocess(model, X, y, lam=lam, beta=beta, max_iter=2, solver="SCS",
                                       solver_options={"max_iters": 1})
    assert any(issubclass(w.category, RuntimeWarning) and "optimal_inaccurate" in str(w.message)
               for w in caught)
    _check_result_model(res, model, snap, DTYPE, "cpu")
    accurate_after = torch_lipcvx.objective(res.model, X, y, lam=lam, beta=beta, solver="CLARABEL")
    assert accurate_after.value <= res.objective_after * (1 + 1e-6)
    accurate_before = torch_lipcvx.objective(model, X, y, lam=lam, beta=beta, solver="CLARABEL")
    assert accurate_before.value <= res.objective_before * (1 + 1e-6)


# ====================================================== the matrix: every public entry point
# Every public function that reads a network, against every class of bad input (a huge single
# weight, NaN/Inf weights, X of the wrong width or without columns, NaN or huge X/y, wrong
# types, bad hyper-parameters) and torch.inference_mode: each call either raises the named
# error (type and message, naming the argument) or succeeds with finite outputs; the user's
# model is bit-identical afterwards either way.
from torch_lipcvx import train as train_module  # noqa: E402

HUGE = 1e200


def _w(model):
    """The weights of a ShallowReLU (what the weight-level functions take); anything else as is."""
    return model.weights() if isinstance(model, ShallowReLU) else model


def _W_alpha(model):
    """``(W̄, α)`` of a ShallowReLU, what the layer-level functions take; a non-model twice."""
    if isinstance(model, ShallowReLU):
        return model.hidden.weight, model.output.weight[0]
    return model, model


def _metric(metric, model, X, y):
    metric.update(model, X, y)
    return metric.compute()


#: name -> (group, call(model, X, y, **kw)); the groups share their expected errors
ENTRY_POINTS = {
    "lipsdp": ("weights", lambda m, X, y, **kw: torch_lipcvx.lipsdp(_w(m), **kw)),
    "linf_lp": ("linf", lambda m, X, y, **kw: torch_lipcvx.linf_lp(_w(m), **kw)),
    "linf_exact": ("linf", lambda m, X, y, **kw: torch_lipcvx.linf_exact(_w(m), **kw)),
    "lipschitz_bounds": ("bounds", lambda m, X, y, **kw: torch_lipcvx.lipschitz_bounds(
        m, 2, X=X, **{"n_samples": 4, "ascent_steps": 2, **kw})),
    "lipschitz_bounds_inf": ("bounds", lambda m, X, y, **kw: torch_lipcvx.lipschitz_bounds(
        m, "inf", X=X, **{"n_samples": 4, "ascent_steps": 2, **kw})),
    "objective": ("fit", lambda m, X, y, **kw: torch_lipcvx.objective(m, X, y, **{"lam": 0.1,
                                                                                   **kw})),
    "postprocess": ("fit", lambda m, X, y, **kw: torch_lipcvx.postprocess(
        m, X, y, **{"lam": 0.1, "max_iter": 1, **kw})),
    "postprocess_l2": ("fit", lambda m, X, y, **kw: torch_lipcvx.postprocess(
        m, X, y, **{"beta": 1e-2, **kw})),
    "solve_l2_program": ("fit", lambda m, X, y, **kw: torch_lipcvx.solve_l2_program(
        m, X, y, **{"beta": 1e-2, **kw})),
    "ADMM": ("fit", lambda m, X, y, **kw: torch_lipcvx.ADMM(
        m, X, y, **{"lam": 0.1, "loss_steps": 2, "min_iter": 1, "max_iter": 1, **kw}).run()),
    "regularisation_path": ("fit", lambda m, X, y, **kw: torch_lipcvx.regularisation_path(
        m, X, y, kw.pop("lams", [kw.pop("lam", 0.1)]), **{"max_iter": 1, **kw})),
    "postprocess_extended": ("fit", lambda m, X, y, **kw: torch_lipcvx.postprocess_extended(
        m, X, y, **{"lam": 0.1, "max_rounds": 1, "w_max_iter": 1, **kw})),
    "sampled_lipschitz": ("fit", lambda m, X, y, **kw: torch_lipcvx.sampled_lipschitz(
        m, X, y, **{"lam": 0.1, "max_iter": 1, **kw})),
    "alpha_step": ("fit", lambda m, X, y, **kw: torch_lipcvx.alpha_step(m, X, y, **{"lam": 0.1,
                                                                                    **kw})),
    "train_sgd": ("fit", lambda m, X, y, **kw: train_module.train_sgd(
        m, X, y, **{"epochs": 2, **kw})),
    "train_pgd": ("fit", lambda m, X, y, **kw: train_module.train_pgd(
        m, X, y, **{"eps": 0.1, "epochs": 1, "attack_steps": 2, **kw})),
    "pgd_attack": ("attack", lambda m, X, y, **kw: torch_lipcvx.pgd_attack(
        m, X, y, **{"eps": 0.1, "steps": 3, **kw})),
    "random_search_attack": ("attack", lambda m, X, y, **kw: importlib.import_module(
        "torch_lipcvx.attacks").random_search_attack(m, X, y, **{"eps": 0.1, "samples": 3,
                                                                 **kw})),
    "certified_squared_error_bound": ("attack", lambda m, X, y, **kw:
                                      torch_lipcvx.certified_squared_error_bound(
                                          m, X, y, **{"eps": 0.1, "lipschitz": 1.0, **kw})),
    "adversarial_mse": ("attack", lambda m, X, y, **kw: torch_lipcvx.adversarial_mse(
        m, X, y, **{"eps": 0.1, "steps": 3, **kw})),
    "certified_adversarial_mse": ("attack", lambda m, X, y, **kw:
                                  torch_lipcvx.certified_adversarial_mse(
                                      m, X, y, **{"eps": 0.1, **kw})),
    "AdversarialMSE.update": ("attack", lambda m, X, y, **kw: _metric(
        torch_lipcvx.AdversarialMSE(**{"eps": 0.1, "steps": 3, **kw}), m, X, y)),
    "CertifiedAdversarialMSE.update": ("attack", lambda m, X, y, **kw: _metric(
        torch_lipcvx.CertifiedAdversarialMSE(**{"eps": 0.1, **kw}), m, X, y)),
    "certified_lipschitz": ("model", lambda m, X, y, **kw: importlib.import_module(
        "torch_lipcvx.metrics").certified_lipschitz(m, **kw)),
    "lipschitz_penalty": ("layer", lambda m, X, y, **kw: torch_lipcvx.lipschitz_penalty(m, **kw)),
    "dual_certificate": ("layer", lambda m, X, y, **kw: torch_lipcvx.dual_certificate(
        *_W_alpha(m), **kw)),
    "LipSDPLayer": ("layer", lambda m, X, y, **kw: torch_lipcvx.LipSDPLayer(M, D, **kw)(
        *_W_alpha(m))),
    "RestrictionLayer": ("restriction", lambda m, X, y, **kw: torch_lipcvx.RestrictionLayer(
        X, y, torch.ones(N, M, dtype=torch.bool), m.output.weight[0] if isinstance(m, nn.Module)
        else m, **kw)),
    "ShallowReLU.from_sequential": ("convert", lambda m, X, y, **kw: ShallowReLU.from_sequential(
        m.to_sequential() if isinstance(m, ShallowReLU) else m)),
}

_OVERFLOW = r"squared error \(f\(x\) - y\)\^2 of (the )?model on \(X, y\) overflows"
_TOO_LARGE = (r"model has weights \({}\) of magnitude up to 1e\+{}, above the 1\.16e\+77 the "
              r"float64 programs can square and multiply")
_RESCALE = r"outside float64's normal range.*rescale the weights"
_WIDTH = r"X must have shape \(n, 2\) to match the model's input size, got shape \(40, {}\)"
# what each group answers to each class of bad input: (exception, match) or "ok" (a correct,
# finite result) or "copy" (a faithful copy of the network, NaN included: a conversion)
EXPECTED = {
    "huge_weight": {
        "model": (ValueError, _RESCALE), "layer": (ValueError, _RESCALE),
        "weights": (ValueError, _RESCALE), "bounds": (ValueError, _RESCALE), "linf": "ok",
        "fit": (ValueError, _TOO_LARGE.format("W", 200)), "attack": (ValueError, _OVERFLOW),
        "convert": "copy"},
    # two weights each within what the programs take, whose product overflows the errors
    "huge_product": {
        "model": (ValueError, _RESCALE), "layer": (ValueError, _RESCALE),
        "weights": (ValueError, _RESCALE), "bounds": (ValueError, _RESCALE), "linf": "ok",
        "fit": (ValueError, _OVERFLOW), "attack": (ValueError, _OVERFLOW), "convert": "copy"},
    # a huge weight on a unit that no row of X switches on: the errors stay finite, the
    # Lipschitz bound does not
    "huge_inactive_weight": {
        "model": (ValueError, _RESCALE), "layer": (ValueError, _RESCALE),
        "weights": (ValueError, _RESCALE), "bounds": (ValueError, _RESCALE), "linf": "ok",
        "fit": (ValueError, _TOO_LARGE.format("W", 200)),
        "attack": "ok", "convert": "copy"},
    "nan_weight": {
        "model": (ValueError, r"model has NaN/Inf in its weights \(W\)"),
        "layer": (ValueError, r"W contains 1 NaN/Inf value"),
        "weights": (ValueError, r"weights has NaN/Inf in its weights \(W\)"),
        "linf": (ValueError, r"weights\.W contains NaN/Inf"),
        "bounds": (ValueError, r"model has NaN/Inf in its weights \(W\)"),
        "fit": (ValueError, r"model has NaN/Inf in its weights \(W\)"),
        "attack": (ValueError, r"model parameter 'hidden\.weight' contains 1 NaN/Inf"),
        "convert": "copy"},
    "inf_alpha": {
        "model": (ValueError, r"model has NaN/Inf in its weights \(alpha\)"),
        "layer": (ValueError, r"alpha contains 1 NaN/Inf value"),
        "restriction": (ValueError, r"alpha contains NaN/Inf"),
        "weights": (ValueError, r"weights has NaN/Inf in its weights \(alpha\)"),
        "linf": (ValueError, r"weights\.alpha contains NaN/Inf"),
        "bounds": (ValueError, r"model has NaN/Inf in its weights \(alpha\)"),
        "fit": (ValueError, r"model has NaN/Inf in its weights \(alpha\)"),
        "attack": (ValueError, r"model parameter 'output\.weight' contains 1 NaN/Inf"),
        "convert": "copy"},
    "X_wide": {g: (ValueError, _WIDTH.format(3)) for g in ("bounds", "fit", "attack")},
    "X_no_columns": {**{g: (ValueError, _WIDTH.format(0)) for g in ("bounds", "fit", "attack")},
                     "restriction": (ValueError, r"X must have shape \(n, d\) with n, d >= 1")},
    "X_nan": {**{g: (ValueError, r"X contains 1 NaN/Inf value") for g in ("bounds", "fit",
                                                                            "attack")},
              "restriction": (ValueError, r"X contains NaN/Inf")},
    "X_huge": {"bounds": "ok", "fit": (ValueError, r"X has entries of magnitude up to 1e\+200"),
               "restriction": (ValueError, r"X has entries of magnitude up to 1e\+200"),
               "attack": (ValueError, _OVERFLOW)},
    "y_huge": {"fit": (ValueError, r"y has entries of magnitude up to 1e\+200"),
               "restriction": (ValueError, r"y has entries of magnitude up to 1e\+200"),
               "attack": (ValueError, _OVERFLOW)},
    "y_inf": {**{g: (ValueError, r"y contains 1 NaN/Inf value") for g in ("fit", "attack")},
              "restriction": (ValueError, r"y contains NaN/Inf")},
    "X_string": {**{g: (TypeError, r"X must be a tensor or array-like, got str")
                    for g in ("bounds", "fit", "attack")},
                 "restriction": (ValueError, r"X must be a tensor or array of real numbers, "
                                             r"got str")},
    "model_string": {
        "model": (ValueError, r"model must be a ShallowReLU or nn\.Sequential"),
        "layer": (ValueError, r"W must be a torch\.Tensor, got str"),
        "restriction": (ValueError, r"alpha must be a tensor or array of real numbers, got str"),
        "weights": (TypeError, r"weights must be ShallowWeights"),
        "linf": (TypeError, r"weights must be ShallowWeights"),
        "bounds": (ValueError, r"model must be a ShallowReLU or nn\.Sequential"),
        "fit": (ValueError, r"model must be a ShallowReLU or nn\.Sequential"),
        "attack": (TypeError, r"model must be a torch\.nn\.Module"),
        "convert": (ValueError, r"expected nn\.Sequential\(Linear\(d, m\), ReLU\(\), "
                                r"Linear\(m, 1\)\), got a str")},
}


def _bad_model(case: str) -> nn.Module:
    model = user_model("good")
    with torch.no_grad():
        if case == "huge_weight":       # one huge weight among normal ones
            model.hidden.weight[1, 0] = HUGE
        elif case == "huge_inactive_weight":    # unit 1 is on only where x_0 > 10: never
            model.hidden.weight[1, 0], model.hidden.weight[1, 1] = HUGE, 0.0
            model.hidden.bias[1] = -10 * HUGE
        elif case == "huge_product":
            model.hidden.weight[1, 0], model.hidden.bias[1] = 1e77, 1e77
            model.output.weight[0, 1] = 1e77
        elif case == "nan_weight":
            model.hidden.weight[1, 0] = math.nan
        elif case == "inf_alpha":
            model.output.weight[0, 2] = math.inf
    return model


def _bad_data(case: str, X: Tensor, y: Tensor):
    X, y = X.clone(), y.clone()
    if case == "X_wide":
        X = torch.cat([X, X[:, :1]], 1)
    elif case == "X_no_columns":
        X = X[:, :0]
    elif case == "X_nan":
        X[3, 1] = math.nan
    elif case == "X_huge":
        X[3, 1] = HUGE
    elif case == "y_huge":
        y[5] = HUGE
    elif case == "y_inf":
        y[5] = math.inf
    elif case == "X_string":
        X = "not data"
    return X, y


# bad hyper-parameters (and types), one or two per entry point: (id, kw, exception, match)
HYPER = {
    "lipsdp": [("solver", {"solver": "bogus"}, ValueError, r"solver must be one of")],
    "linf_lp": [("degree", {"degree": 0}, ValueError, r"degree")],
    "linf_exact": [("max_dim", {"max_dim": 0}, ValueError,
                    r"max_dim must be an integer between 1 and")],
    "lipschitz_bounds": [("n_samples", {"n_samples": 0}, ValueError,
                          r"n_samples must be an integer >= 1")],
    "lipschitz_bounds_inf": [("method", {"method": "bogus"}, ValueError, r"method")],
    "objective": [("lam", {"lam": -1.0}, ValueError, r"lam must be a finite number >= 0"),
                  ("beta", {"beta": "x"}, TypeError, r"beta must be a real number")],
    "postprocess": [
        ("solver_options", {"solver_options": {"bogus": 1}}, ValueError,
         r"solver_options has unknown key\(s\) \['bogus'\] for solver 'auto'.*"
         r"\['tol', 'max_iter', 'screen', 'newton', 'precond', 'time_limit'\]"),
        ("solver_options-tol", {"solver_options": {"tol": "x"}}, TypeError,
         r"solver_options\['tol'\] must be a real number > 0"),
        ("solver_options-time_limit", {"solver_options": {"time_limit": 0}}, ValueError,
         r"solver_options\['time_limit'\] must be a finite number > 0"),
        ("lam-huge", {"lam": 1e300}, ValueError, r"lam = 1e\+300 is too large .* use lam <="),
        ("max_iter", {"max_iter": 0}, ValueError, r"max_iter must be an integer >= 1")],
    "postprocess_l2": [("solver_options", {"solver_options": "tol=1"}, TypeError,
                        r"solver_options must be a dict or None, got str")],
    "solve_l2_program": [("beta", {"beta": -1.0}, ValueError,
                          r"beta must be a finite number >= 0")],
    "ADMM": [("penalty", {"penalty": 0.0}, ValueError, r"penalty must be a finite number > 0"),
             ("lam-huge", {"lam": 1e300}, ValueError, r"lam = 1e\+300 is too large")],
    "regularisation_path": [("lams", {"lams": [-1.0]}, ValueError, r"lams must all be >= 0"),
                            ("lam-huge", {"lams": [1e300]}, ValueError,
                             r"lam = 1e\+300 is too large")],
    "postprocess_extended": [("lam", {"lam": 0.0}, ValueError, r"lam must be > 0"),
                             ("lam-huge", {"lam": 1e300}, ValueError,
                              r"lam = 1e\+300 is too large")],
    "sampled_lipschitz": [("lam-huge", {"lam": 1e300}, ValueError, r"lam = 1e\+300 is too large")],
    "alpha_step": [("lam", {"lam": math.nan}, ValueError, r"lam must be a finite number")],
    "train_sgd": [("epochs", {"epochs": 0}, ValueError, r"epochs must be an integer >= 1")],
    "train_pgd": [("eps", {"eps": -1.0}, ValueError, r"eps must be a finite number >= 0")],
    "pgd_attack": [("eps", {"eps": -1.0}, ValueError, r"eps must be a finite number >= 0"),
                   ("steps", {"steps": 0}, ValueError, r"steps must be an integer >= 1")],
    "random_search_attack": [("samples", {"samples": 1.5}, TypeError,
                              r"samples must be an integer")],
    "certified_squared_error_bound": [
        ("lipschitz", {"lipschitz": -1.0}, ValueError, r"lipschitz must be a finite number >= 0"),
        ("lipschitz-huge", {"lipschitz": 1e300}, ValueError,
         r"certified bound \(\|f\(x\) - y\| \+ lipschitz\*eps\)\^2 overflows")],
    "adversarial_mse": [("eps", {"eps": math.nan}, ValueError, r"eps must be a finite number")],
    "certified_adversarial_mse": [("lipschitz", {"lipschitz": -1.0}, ValueError,
                                   r"lipschitz must be a finite number >= 0")],
    "AdversarialMSE.update": [("alpha", {"alpha": 0.0}, ValueError,
                               r"alpha \(the PGD step size\) must be a finite number > 0")],
    "certified_lipschitz": [("norm", {"norm": "l1"}, ValueError, r"norm must be 2 or inf")],
    "lipschitz_penalty": [("solver", {"solver": "bogus"}, ValueError, r"solver")],
    "dual_certificate": [("solver_options", {"solver_options": {"method": "bogus"}}, ValueError,
                          r"solver_options\['method'\] must be 'newton' or 'apg'")],
    "LipSDPLayer": [("form", {"form": "bogus"}, ValueError, r"form")],
    "RestrictionLayer": [("beta", {"beta": -1.0}, ValueError,
                          r"beta must be a finite number >= 0")],
    "CertifiedAdversarialMSE.update": [("norm", {"norm": 3}, ValueError,
                                        r"norm must be 2 or inf")],
}

#: data-free entry points do not read X or y
_DATA_FREE = {"weights", "linf", "convert"}
_KEY_OUTPUTS = ("value", "mse", "rho", "L", "upper", "lower", "loss", "X_adv", "bound",
                "objective_after", "objective_before", "objective", "model")


def _finite(out) -> bool:
    """Whether the result's numbers (tensors, floats, the returned network) are all finite."""
    if isinstance(out, Tensor):
        return bool(torch.isfinite(out.detach()).all())
    if isinstance(out, float):
        return math.isfinite(out)
    if isinstance(out, nn.Module):
        return all(_finite(p) for p in out.parameters())
    if isinstance(out, (tuple, list)):
        return all(_finite(o) for o in out)
    return all(_finite(getattr(out, k)) for k in _KEY_OUTPUTS
               if isinstance(getattr(out, k, None), (Tensor, float, nn.Module))
               or type(getattr(out, k, None)).__name__ == "Objective")


#: where an entry point answers otherwise than its group
EXPECTED_OVERRIDES = {
    # training needs no certificate: the unit that is never on is trained as it is
    ("train_sgd", "huge_inactive_weight"): "ok",
    ("train_pgd", "huge_inactive_weight"): "ok",
    ("train_sgd", "huge_weight"): (ValueError, _OVERFLOW),
    ("train_pgd", "huge_weight"): (ValueError, _OVERFLOW),
    # the certified metrics compute the certificate of the network (no Lipschitz bound given)
    ("certified_adversarial_mse", "huge_inactive_weight"): (ValueError, _RESCALE),
    ("CertifiedAdversarialMSE.update", "huge_inactive_weight"): (ValueError, _RESCALE),
    # the layer's program is solved for the balanced network: rho = L^2 ~ 1e308 is still a
    # float64 number, and a correct one
    ("LipSDPLayer", "huge_product"): "ok",
    ("lipschitz_penalty", "model_string"): (ValueError,
                                            r"model must be a ShallowReLU or nn\.Sequential"),
}


def _matrix_cases():
    for name, (group, _) in ENTRY_POINTS.items():
        for case, by_group in EXPECTED.items():
            if group in by_group:
                expected = EXPECTED_OVERRIDES.get((name, case), by_group[group])
                yield pytest.param(name, case, None, expected, id=f"{name}-{case}")
        for hid, kw, exc, match in HYPER.get(name, []):
            yield pytest.param(name, f"hyper-{hid}", kw, (exc, match), id=f"{name}-hyper-{hid}")


@pytest.mark.parametrize("name, case, kw, expected", list(_matrix_cases()))
def test_bad_input_matrix(name, case, kw, expected):
    group, call = ENTRY_POINTS[name]
    model = _bad_model(case)
    snap = snapshot(model)
    _, X, y = problem()
    X, y = _bad_data(case, X, y)
    arg = "net" if case == "model_string" else model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(expected, tuple):
            exc, match = expected
            with pytest.raises(exc, match=match):
                call(arg, X, y, **(kw or {}))
        else:
            out = call(arg, X, y)
            if expected == "copy":     # a conversion copies the weights, NaN or huge included
                assert all(bit_equal(a, b) for a, b in zip(out.parameters(), model.parameters()))
            else:
                assert _finite(out), f"{name} returned a non-finite result for {case}"
    assert_unchanged(model, snap)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_every_entry_point_works_under_inference_mode(name):
    # Lightning runs validation under torch.inference_mode(); every function that reads the
    # network works there, with finite results and the model untouched
    group, call = ENTRY_POINTS[name]
    model = user_model("good")
    snap = snapshot(model)
    _, X, y = problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.inference_mode():
            out = call(model, X, y)
    assert _finite(out)
    assert_unchanged(model, snap)


def test_large_lam_limit_is_relative_to_the_data_and_spares_a_perfect_fit():
    # the lam limit compares lam*rho with the data terms, never with a zero MSE: a network that
    # fits y exactly is post-processed at a large lam (it trades fit for a smaller L)
    model, X, _ = problem()
    with torch.no_grad():
        y = model(X)
    res = torch_lipcvx.postprocess(model, X, y, lam=10.0, max_iter=2)
    assert res.objective_after <= res.objective_before and _finite(res)
    # and the message of a refused lam names the largest one accepted, which is accepted
    with pytest.raises(ValueError, match=r"lam = 1e\+30 is too large .* use lam <= ") as info:
        torch_lipcvx.postprocess(model, X, y, lam=1e30, max_iter=1)
    top = float(str(info.value).rsplit("use lam <= ", 1)[1])
    res = torch_lipcvx.postprocess(model, X, y, lam=top, max_iter=1)
    assert _finite(res)
