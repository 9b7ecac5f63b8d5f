"""The one solver configuration and the one solve record (docs/solvers.md).

* a ``solver=`` argument is parsed once, by :meth:`Solver.parse`, into a frozen :class:`Solver`;
  every bad name or option gets the same message;
* the defaults rule: ``"auto"`` where every problem has a torch method, Clarabel where a problem
  has none, SCS for the diffcp layer; the signatures and the CLI follow it;
* a :class:`Solver` is accepted wherever a name is, with the same result;
* any conic solver installed in cvxpy that handles semidefinite cones is accepted by name;
* every solve is described by one :class:`SolveRecord`, built by keyword.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import torch_lipcvx as tl
from torch_lipcvx.algorithm1 import extensions as ext
from torch_lipcvx import solvers
from torch_lipcvx.models import activation_patterns
from torch_lipcvx.solvers import (CVXPY_DEFAULT, DEFAULT, LAYER_DEFAULT, SolveRecord, Solver,
                                  installed_cvxpy_solvers)

from conftest import make_instance

BAD_NAME = r"solver must be one of \('auto', 'torch', 'torch-dense', 'torch-cg', 'CLARABEL', 'SCS'\)"


@pytest.fixture(scope="module")
def tiny():
    return make_instance(0, 60, 2, 6)


def _others() -> list[str]:
    """Installed cvxpy solvers for our programs other than the two the library is tested with."""
    return [s for s in installed_cvxpy_solvers() if s not in solvers.CVXPY_SOLVERS]


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("given, name", [
    ("auto", "auto"), ("AUTO", "auto"), (" torch ", "torch"), ("clarabel", "CLARABEL"),
    ("Scs", "SCS"), ("CLARABEL", "CLARABEL"),
])
def test_names_are_parsed_case_insensitively_to_one_spelling(given, name):
    spec = Solver.parse(given)
    assert spec.name == name and str(spec) == name
    assert Solver(given) == spec                     # the constructor validates the same way
    assert Solver.parse(spec) is spec                # a Solver passes through untouched


def test_a_solver_is_frozen_and_its_options_read_only():
    spec = Solver.parse("SCS", {"eps_abs": 1e-7})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "CLARABEL"
    with pytest.raises(TypeError):
        spec.options["eps_abs"] = 1.0
    assert dict(spec.options) == {"eps_abs": 1e-7}
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert hash(Solver.parse("scs", {"eps_abs": 1e-7})) == hash(spec)
    assert repr(spec) == "Solver('SCS', options={'eps_abs': 1e-07})"


def test_options_merge_over_a_solvers_own():
    base = Solver("CLARABEL", {"tol_feas": 1e-9, "max_iter": 50})
    merged = Solver.parse(base, {"max_iter": 80})
    assert dict(merged.options) == {"tol_feas": 1e-9, "max_iter": 80}
    assert dict(base.options) == {"tol_feas": 1e-9, "max_iter": 50}
    assert Solver.parse(base, {}) is base and Solver.parse(base, None) is base
    assert base.with_options(None).options_or_none is None


@pytest.mark.parametrize("bad", ["GUROBI_SDP", "", "  ", 3, None, 1.5, ["SCS"]])
def test_a_bad_name_gets_the_one_message(bad):
    with pytest.raises(ValueError, match=BAD_NAME):
        Solver.parse(bad)
    with pytest.raises(ValueError, match=BAD_NAME):
        tl.lipsdp(make_instance(0, 20, 2, 3, steps=1)[0].weights(), solver=bad)


def test_none_means_the_default_only_where_a_function_says_so():
    assert Solver.parse(None, default=CVXPY_DEFAULT).name == "CLARABEL"
    assert Solver.parse(None, default=DEFAULT).name == "auto"


def test_bad_options_are_a_type_error_after_the_name():
    with pytest.raises(TypeError, match="solver_options must be a dict or None, got list"):
        Solver.parse("auto", [("tol", 1e-3)])
    with pytest.raises(ValueError, match=BAD_NAME):     # the name is checked first
        Solver.parse("nope", [("tol", 1e-3)])
    with pytest.raises(TypeError, match="solver_options must be a dict"):
        Solver("SCS", 3)


def test_only_restricts_the_names_and_lists_them():
    assert Solver.parse("clarabel", only=("SCS", "CLARABEL")).name == "CLARABEL"
    with pytest.raises(ValueError, match=r"solver must be one of \('auto', 'SCS'\), got 'torch'"):
        Solver.parse("torch", only=("auto", "SCS"))
    with pytest.raises(ValueError, match="solver must be one of"):
        Solver.parse(Solver("CLARABEL"), only=("SCS",))


def test_a_cvxpy_solver_that_cannot_solve_our_programs_is_refused():
    import cvxpy as cp
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC
    usable = set(installed_cvxpy_solvers())
    assert {"CLARABEL", "SCS"} <= usable
    # known to cvxpy but not installed, or installed but without semidefinite cones (LP solvers)
    refused = [s for s in sorted(SOLVER_MAP_CONIC) if s not in usable]
    assert refused
    for name in refused[:4]:
        with pytest.raises(ValueError, match=f"solver {name} is not installed or cannot solve "
                                             "semidefinite programs"):
            Solver.parse(name.lower())
    assert all(s in cp.installed_solvers() for s in usable)


# ------------------------------------------------------------------------------ the rules
def test_the_rules_of_each_kind_of_solver():
    auto, torch_, clar, scs = (Solver(n) for n in ("auto", "torch", "CLARABEL", "SCS"))
    assert (auto.uses_torch, auto.fallback, auto.allows_cvxpy) == (True, True, True)
    assert (torch_.uses_torch, torch_.fallback, torch_.allows_cvxpy) == (True, False, False)
    assert (clar.uses_torch, clar.fallback, clar.allows_cvxpy) == (False, False, True)
    assert auto.cvxpy_name == torch_.cvxpy_name == "CLARABEL" and scs.cvxpy_name == "SCS"
    # the torch methods' options never reach cvxpy
    assert Solver("auto", {"tol": 1e-3}).cvxpy == Solver("CLARABEL")
    assert Solver("SCS", {"eps_abs": 1e-7}).cvxpy == Solver("SCS", {"eps_abs": 1e-7})
    assert Solver("auto", {"tol": 1e-3}).cvxpy_options() == solvers.cvxpy_default_options(
        "CLARABEL")
    opts = Solver("SCS", {"eps_abs": 1e-7}).cvxpy_options()
    assert opts["eps_abs"] == 1e-7 and opts["max_iters"] == 100_000
    assert (scs.diffcp_method, clar.diffcp_method) == ("SCS", "Clarabel")
    with pytest.raises(ValueError, match="diffcp runs only"):
        auto.diffcp_method
    assert (clar.alternative, scs.alternative, auto.alternative) == ("SCS", "CLARABEL", "SCS")


def _default(fn, name="solver"):
    return inspect.signature(fn).parameters[name].default


def test_the_defaults_rule_in_the_signatures_and_the_cli():
    from torch_lipcvx.admm import ADMM, sdp_step
    from torch_lipcvx.lightning import ConvexPostProcessing
    from torch_lipcvx.cli import build_parser
    from torch_lipcvx.layers import LipSDPLayer, lipschitz_penalty
    from torch_lipcvx.train import train_sgd_lip
    # every problem has a torch method: "auto"
    for fn in (tl.lipsdp, tl.lipschitz_bounds, tl.objective, tl.solve_l2_program,
               tl.postprocess, ConvexPostProcessing):
        assert _default(fn) == DEFAULT, fn
    # a problem that only cvxpy solves: Clarabel for the whole run
    for fn in (ADMM, sdp_step, ext.alpha_step, ext.pattern_step, ext.postprocess_extended,
               ext.sampled_lipschitz):
        assert _default(fn) == CVXPY_DEFAULT, fn
    assert _default(tl.regularisation_path, "lipsdp_solver") == CVXPY_DEFAULT
    # the diffcp layer: SCS; the penalty: the layer's SCS with a layer, else "auto"
    assert _default(LipSDPLayer) == LAYER_DEFAULT == "SCS"
    assert _default(lipschitz_penalty) is None and _default(train_sgd_lip) is None
    from torch_lipcvx.layers import _check_penalty_solver
    assert _check_penalty_solver(None, None).name == DEFAULT
    assert _check_penalty_solver(None, object()).name == LAYER_DEFAULT
    # the CLI's --solver
    parser = build_parser()
    for argv in (["certify", "--model", "m.pt"], ["demo"]):
        assert parser.parse_args(argv).solver == DEFAULT
    assert parser.parse_args(["certify", "--model", "m.pt", "--solver", "scs"]).solver == "SCS"
    with pytest.raises(SystemExit):
        parser.parse_args(["certify", "--model", "m.pt", "--solver", "nope"])


def test_importing_and_parsing_torch_names_load_no_cvxpy():
    code = textwrap.dedent("""
        import json, sys
        from torch_lipcvx.solvers import Solver
        Solver.parse("auto"); Solver.parse("TORCH", {"tol": 1e-3})
        print(json.dumps("cvxpy" in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False


# ------------------------------------------------------------------------------ a Solver everywhere
def test_a_solver_object_gives_the_same_certificate_as_its_name(tiny):
    w = tiny[0].weights()
    for name, opts in (("CLARABEL", None), ("SCS", {"eps_abs": 1e-7, "eps_rel": 1e-7}),
                       ("torch", {"method": "newton"}), ("auto", None)):
        by_name = tl.lipsdp(w, solver=name, solver_options=opts)
        by_obj = tl.lipsdp(w, solver=Solver(name, opts or {}))
        assert by_obj.rho == by_name.rho and by_obj.solver == by_name.solver
        assert np.array_equal(by_obj.t, by_name.t)
    iv = tl.lipschitz_bounds(tiny[0], solver=Solver("CLARABEL"), n_samples=16, ascent_steps=2)
    assert iv.upper == tl.lipschitz_bounds(tiny[0], solver="clarabel", n_samples=16,
                                           ascent_steps=2).upper


@pytest.mark.parametrize("name", ["auto", "torch", "CLARABEL"])
def test_a_solver_object_gives_the_same_postprocessing_as_its_name(tiny, name):
    net, X, y = tiny
    opts = {"tol": 1e-9} if name != "CLARABEL" else {"tol_feas": 1e-9}
    a = tl.postprocess(net, X, y, lam=1e-2, max_iter=2, solver=name, solver_options=opts)
    b = tl.postprocess(net, X, y, lam=1e-2, max_iter=2, solver=Solver(name, opts))
    assert [r.objective for r in a.history] == [r.objective for r in b.history]
    J_a = tl.objective(net, X, y, lam=1e-2, solver=name)
    assert tl.objective(net, X, y, lam=1e-2, solver=Solver(name)).value == J_a.value
    s_a = tl.solve_l2_program(net, X, y, beta=1e-3, solver=name)
    s_b = tl.solve_l2_program(net, X, y, beta=1e-3, solver=Solver(name))
    assert s_a.objective.value == s_b.objective.value


def test_a_solver_object_is_accepted_by_admm_the_extensions_the_path_and_the_layers(tiny):
    from torch_lipcvx.admm import ADMM, check_sdp_solver, sdp_step
    from torch_lipcvx.lightning import ConvexPostProcessing
    from torch_lipcvx.layers import LipSDPLayer, lipschitz_penalty
    net, X, y = tiny
    common = dict(lam=1e-2, loss_steps=5, min_iter=1, max_iter=1)
    a = ADMM(net, X, y, solver="auto", sdp_solver="scs", **common)
    b = ADMM(net, X, y, solver=Solver("auto"), sdp_solver=Solver("SCS"), **common)
    assert (a.solver, a.sdp_solver) == (b.solver, b.sdp_solver) == ("auto", "SCS")
    assert a.run().objective == b.run().objective
    assert check_sdp_solver(Solver("auto", {"tol": 1e-3})) == "CLARABEL"
    with pytest.raises(ValueError, match="no torch solver"):
        check_sdp_solver(Solver("torch"))
    w = net.weights()
    t = tl.lipsdp(w, solver="CLARABEL").t
    s1 = sdp_step(w.W, w.alpha, t, 1e-2, solver="clarabel")
    s2 = sdp_step(w.W, w.alpha, t, 1e-2, solver=Solver("CLARABEL"))
    assert s1.solver == s2.solver == "CLARABEL" and s1.rho == s2.rho

    r1 = ext.alpha_step(net, X, y, lam=1e-2, solver="auto")
    r2 = ext.alpha_step(net, X, y, lam=1e-2, solver=Solver("auto"))
    assert r1.objective.value == r2.objective.value
    D = activation_patterns(X, w)
    _, J1, _ = ext.pattern_step(net, X, y, D, lam=1e-2, solver="CLARABEL")
    _, J2, _ = ext.pattern_step(net, X, y, D, lam=1e-2, solver=Solver("clarabel"))
    assert J1.value == J2.value

    p1 = tl.regularisation_path(net, X, y, [1e-2], max_iter=1, lipsdp_solver="auto")
    p2 = tl.regularisation_path(net, X, y, [1e-2], max_iter=1, lipsdp_solver=Solver("auto"))
    assert p1.results[0].objective_after == p2.results[0].objective_after

    layer = LipSDPLayer(w.m, w.d, solver=Solver("scs"))
    assert layer.solver == "SCS"
    with pytest.raises(ValueError, match="solver must be one of"):
        LipSDPLayer(w.m, w.d, solver=Solver("CLARABEL"))
    pen = lipschitz_penalty(net, solver=Solver("auto"))
    assert float(pen.detach()) == float(lipschitz_penalty(net, solver="auto").detach())
    cb = ConvexPostProcessing(lam=1e-2, solver=Solver("torch", {"tol": 1e-9}))
    assert (cb.solver, cb.solver_options) == ("torch", {"tol": 1e-9})


def test_the_restriction_layer_takes_its_diffcp_method_as_a_name_or_a_solver(tiny):
    from torch_lipcvx.algorithm1.path import _check_solver_args
    assert _check_solver_args({"solve_method": "clarabel"})["solve_method"] == "Clarabel"
    assert _check_solver_args({"solve_method": Solver("SCS")})["solve_method"] == "SCS"
    with pytest.raises(ValueError, match="solve_method"):
        _check_solver_args({"solve_method": "auto"})


# ------------------------------------------------------------------------------ other cvxpy solvers
@pytest.mark.skipif(not _others(), reason="no cvxpy conic solver for SDPs other than "
                                          "CLARABEL and SCS is installed")
def test_another_installed_cvxpy_solver_is_accepted_by_name(tiny):
    name = _others()[0]
    net, X, y = tiny
    assert Solver.parse(name.lower()).name == name
    ref = tl.lipsdp(net.weights(), solver="CLARABEL")
    cert = tl.lipsdp(net.weights(), solver=name.lower())
    assert cert.solver.startswith(name)
    assert abs(cert.rho - ref.rho) <= 1e-4 * ref.rho       # both certified; solver tolerance
    res = tl.postprocess(net, X, y, lam=1e-2, max_iter=2, solver=name)
    assert res.objective_after <= res.objective_before
    assert res.certificate.solver.startswith(name)


# ------------------------------------------------------------------------------ the record
def test_one_record_type_built_by_keyword():
    import importlib
    from torch_lipcvx._engine import ipm, lipsdp_dual, programs
    assert programs.SolveInfo is lipsdp_dual.FastInfo is ipm.IPMInfo is SolveRecord
    pp = importlib.import_module("torch_lipcvx.algorithm1.postprocess")
    assert pp._FastSolveInfo is SolveRecord
    with pytest.raises(TypeError):
        SolveRecord("optimal", "CLARABEL")             # keyword only
    r = SolveRecord(status="optimal", solver="SCS", iterations=3, solve_time=0.5, value=1.0)
    assert (r.fallbacks, r.device, r.dual, r.options) == (0, "cpu", None, {})
    assert np.isnan(r.lower) and np.isnan(r.gap) and np.isnan(r.dual_residual)


def test_every_solver_reports_a_solve_record(tiny):
    from torch_lipcvx._engine.barrier import PatternBarrier
    from torch_lipcvx._engine.lipsdp_dual import lipsdp_newton
    from torch_lipcvx._engine.programs import LipSDPProgram
    net, X, y = tiny
    w = net.weights()
    _, _, info = LipSDPProgram(w.m, w.d).solve(w.W.numpy(), w.alpha.numpy(),
                                                 Solver("CLARABEL"))
    assert isinstance(info, SolveRecord) and info.solver == "CLARABEL"
    assert info.status == "optimal" and info.iterations > 0 and info.options["tol_feas"] == 1e-8
    _, _, info = lipsdp_newton(w.W, w.alpha)
    assert isinstance(info, SolveRecord) and info.status == "optimal"
    assert info.lower <= info.value and info.dual is not None
    D = activation_patterns(X, w)
    act = w.alpha != 0
    pb = PatternBarrier(X, y, D[:, act], w.alpha[act], output_bias=w.c is not None)
    t = torch.as_tensor(tl.lipsdp(w).t)[act]
    *_, info = pb.solve_restriction(w.alpha[act], t, 1e-2, 0.0, w.W_tilde[act], w.c)
    assert isinstance(info, SolveRecord) and info.iterations > 0
    assert info.lower <= info.value + 1e-12 and info.gap >= 0
