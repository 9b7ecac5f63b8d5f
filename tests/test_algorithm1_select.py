"""select_lam (torch_lipcvx.algorithm1.select): λ chosen on held-out data. The chosen row is the
argmin of the criterion over the table, the budget is respected, the input network is a
candidate and is never modified, every run is never worse than its own start; the CLI's
``select`` and the callback's ``select=`` use it."""

from __future__ import annotations

import copy
import csv
import math

import numpy as np
import pytest
import torch

import torch_lipcvx as tl
from torch_lipcvx import LamSelection, objective, select_lam
from torch_lipcvx.algorithm1.select import LamBudgetError, validation_split

from conftest import make_instance

LAMS = [1e-3, 1e-2, 1e-1]


@pytest.fixture(scope="module")
def task():
    net, X, y = make_instance(5, n=90, d=3, m=8)
    X_fit, y_fit, X_val, y_val = validation_split(X, y, 0.25, seed=0)
    return net, X_fit, y_fit, X_val, y_val


@pytest.fixture(scope="module", params=[True, False], ids=["warm", "cold"])
def selection(request, task):
    net, X, y, Xv, yv = task
    before = copy.deepcopy(net.state_dict())
    sel = select_lam(net, X, y, Xv, yv, lams=LAMS, beta=1e-3, eps=0.2, max_iter=4,
                     warm_start=request.param)
    return sel, before


def test_table_has_the_input_row_and_every_lam(selection, task):
    sel, _ = selection
    assert isinstance(sel, LamSelection)
    t = sel.table
    assert len(t["lam"]) == len(LAMS) + 1 and len(sel.models) == len(LAMS) + 1
    assert t["lam"][0] == 0.0 and t["postprocessed"][0] is False
    assert t["lam"][1:] == LAMS and all(t["postprocessed"][1:])
    assert np.allclose(sel.lams, LAMS)
    net, X, y, Xv, yv = task
    # row 0 is the input network itself: its clean validation MSE and certified L
    with torch.no_grad():
        clean = float(((net(Xv) - yv) ** 2).mean())
    assert t["val_mse"][0] == pytest.approx(clean, rel=1e-9)
    assert t["L"][0] == pytest.approx(objective(net, X, y).L, rel=1e-6)
    # PGD never below the clean error (δ = 0 is a candidate)
    assert all(a >= c - 1e-12 for a, c in zip(t["val_adv_mse"], t["val_mse"]))


def test_chosen_is_the_argmin_of_the_criterion(selection):
    sel, _ = selection
    scores = sel.table["val_adv_mse"]           # the default criterion: adversarial
    assert sel.index == int(np.argmin(scores))
    assert sel.table["score"] == scores
    assert sel.lam == sel.table["lam"][sel.index]
    assert sel.postprocessed == (sel.index > 0)
    assert same_function(sel.model, sel.models[sel.index])


def test_each_run_never_worse_than_its_own_start(selection, task):
    sel, _ = selection
    net, X, y, _, _ = task
    t = sel.table
    for k in range(1, len(t["lam"])):
        assert t["objective"][k] <= t["objective_start"][k] * (1 + 1e-9)
        res = sel.results[k - 1]
        hist = [r.objective for r in res.history]
        assert all(b <= a * (1 + 1e-9) for a, b in zip(hist, hist[1:]))
        if not sel.warm_start:      # cold: every run starts from the input network
            J_in = objective(net, X, y, lam=t["lam"][k], beta=1e-3).value
            assert t["objective_start"][k] == pytest.approx(J_in, rel=1e-6)
    if sel.warm_start:              # warm: each run starts from the previous result
        for k in range(2, len(t["lam"])):
            J_prev = objective(sel.models[k - 1], X, y, lam=t["lam"][k], beta=1e-3).value
            assert t["objective_start"][k] == pytest.approx(J_prev, rel=1e-6)


def test_input_model_untouched(selection, task):
    sel, before = selection
    net = task[0]
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(m is not net for m in sel.models) and sel.model is not net


def same_function(a, b) -> bool:
    X = torch.randn(30, a.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.allclose(a(X), b(X))


def test_clean_criterion_and_the_no_postprocessing_answer(task):
    net, X, y, Xv, yv = task
    # validate on the training rows themselves: the input network (lowest training MSE among
    # the candidates at beta = 0, since each λ trades fit for L) is the honest answer
    sel = select_lam(net, X, y, X, y, lams=[1e-1, 1.0], criterion="clean", eps=0.0, max_iter=3)
    assert sel.index == int(np.argmin(sel.table["val_mse"]))
    if sel.index == 0:
        assert not sel.postprocessed and sel.lam == 0.0
        assert same_function(sel.model, net) and sel.model is not net
        assert "input network" in repr(sel)


def test_budget_respected(task):
    net, X, y, Xv, yv = task
    Ls = select_lam(net, X, y, Xv, yv, lams=LAMS, eps=0.0, max_iter=3,
                    criterion="clean").table["L"]
    gamma = float(np.median(Ls))
    sel = select_lam(net, X, y, Xv, yv, lams=LAMS, criterion="budget", L_budget=gamma,
                     eps=0.0, max_iter=3)
    t = sel.table
    assert t["feasible"] == [L <= gamma for L in t["L"]]
    assert t["L"][sel.index] <= gamma
    feasible_scores = [v for v, ok in zip(t["val_mse"], t["feasible"]) if ok]
    assert t["val_mse"][sel.index] == min(feasible_scores)
    assert all(s == math.inf for s, ok in zip(t["score"], t["feasible"]) if not ok)
    # adversarial budget metric: scored by the PGD error instead
    adv = select_lam(net, X, y, Xv, yv, lams=LAMS, criterion="budget", L_budget=gamma,
                     budget_metric="adversarial", eps=0.2, max_iter=3)
    ok = [v for v, f in zip(adv.table["val_adv_mse"], adv.table["feasible"]) if f]
    assert adv.table["val_adv_mse"][adv.index] == min(ok)


def test_budget_nobody_meets_is_a_named_error(task):
    net, X, y, Xv, yv = task
    with pytest.raises(LamBudgetError, match="smallest L reached"):
        select_lam(net, X, y, Xv, yv, lams=[1e-3], criterion="budget", L_budget=1e-6,
                   eps=0.0, max_iter=2)


@pytest.mark.parametrize("kwargs, match", [
    ({"criterion": "best"}, "criterion"),
    ({"criterion": "budget"}, "L_budget"),
    ({"L_budget": 1.0}, "only used with criterion='budget'"),
    ({"criterion": "budget", "L_budget": -1.0}, "L_budget"),
    ({"budget_metric": "train"}, "budget_metric"),
    ({"lams": [0.0, 1e-2]}, "lams"),
    ({"lams": []}, "lams"),
    ({"lams": [float("nan")]}, "NaN"),
    ({"eps": -0.1}, "eps"),
    ({"norm": 3}, "norm"),
    ({"attack_steps": 0}, "attack_steps"),
    ({"max_iter": 0}, "max_iter"),
    ({"beta": -1.0}, "beta"),
    ({"solver": "nope"}, "solver"),
])
def test_bad_arguments_named_before_any_work(task, kwargs, match, monkeypatch):
    import torch_lipcvx.algorithm1.select as mod
    monkeypatch.setattr(mod, "postprocess", lambda *a, **k: pytest.fail("work was done"))
    net, X, y, Xv, yv = task
    with pytest.raises((ValueError, TypeError), match=match):
        select_lam(net, X, y, Xv, yv, **kwargs)


def test_bad_validation_data(task):
    net, X, y, Xv, yv = task
    with pytest.raises(ValueError, match="validation data"):
        select_lam(net, X, y, Xv[:, :2], yv, lams=[1e-2])
    with pytest.raises(TypeError, match="warm_start"):
        select_lam(net, X, y, Xv, yv, warm_start=1)


def test_validation_split_rule():
    X = torch.arange(20.0).reshape(10, 2)
    y = torch.arange(10.0)
    Xf, yf, Xv, yv = validation_split(X, y, 0.2, seed=3)
    assert len(yv) == 2 and len(yf) == 8
    assert sorted(torch.cat([yf, yv]).tolist()) == y.tolist()
    assert torch.equal(validation_split(X, y, 0.2, seed=3)[3], yv)        # seeded
    assert yf.tolist() == sorted(yf.tolist())                              # original order
    with pytest.raises(ValueError, match="fraction"):
        validation_split(X, y, 1.0)


def test_plot_and_rows(selection, tmp_path):
    sel, _ = selection
    png = sel.plot(tmp_path / "sel.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = sel.rows()
    assert rows[sel.index] == sel.chosen and len(rows) == len(LAMS) + 1


def test_top_level_names():
    assert tl.select_lam is select_lam and tl.LamSelection is LamSelection


# ------------------------------------------------------------------------------ the CLI
def test_cli_select_round_trip(tmp_path, capsys):
    from torch_lipcvx.checkpoint import load_checkpoint
    from torch_lipcvx.cli import main
    model = tmp_path / "m.pt"
    assert main(["train", "--data", "rastrigin", "--n", "80", "--hidden", "6", "--epochs", "80",
                 "--quiet", "--out", str(model)]) == 0
    out, csv_path, png = tmp_path / "chosen.pt", tmp_path / "path.csv", tmp_path / "path.png"
    code = main(["select", "--model", str(model), "--criterion", "clean", "--lams", "1e-2",
                 "1e-1", "--max-iter", "3", "--out", str(out), "--csv", str(csv_path),
                 "--plot", str(png), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0, text
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["lam"]) for r in rows] == [0.0, 1e-2, 1e-1]
    k = int(np.argmin([float(r["val_mse"]) for r in rows]))
    ckpt = load_checkpoint(out)
    assert ckpt.meta["config"]["chosen_lam"] == float(rows[k]["lam"])
    assert ckpt.meta["config"]["val_fraction"] == 0.2
    assert ckpt.model.in_features == 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a budget nobody meets: one line on stderr, exit code 2, nothing written
    out2 = tmp_path / "none.pt"
    code = main(["select", "--model", str(model), "--criterion", "budget", "--budget", "1e-9",
                 "--lams", "1e-2", "--max-iter", "2", "--out", str(out2), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "smallest L reached" in err and not out2.exists()
    # --budget without --criterion budget: a usage error before any work
    code = main(["select", "--model", str(model), "--budget", "1.0", "--out", str(out2)])
    assert code == 2 and "L_budget" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the callback
def test_callback_select_uses_the_datamodules_validation_data(tmp_path, monkeypatch):
    pl = pytest.importorskip("lightning.pytorch")
    import warnings
    import torch_lipcvx.algorithm1.select as mod
    from torch_lipcvx.lightning import (ConvexPostProcessing, RegressionDataModule,
                                        ShallowReLURegressor)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 2, generator=g, dtype=torch.float64)
    y = torch.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    Xv = torch.randn(15, 2, generator=g, dtype=torch.float64)
    yv = torch.sin(2 * Xv[:, 0]) + 0.5 * Xv[:, 1]
    seen = {}
    real = mod.select_lam

    def spy(model, X_, y_, X_val, y_val, **kw):
        seen.update(X=X_, X_val=X_val, y_val=y_val)
        return real(model, X_, y_, X_val, y_val, **kw)

    monkeypatch.setattr(mod, "select_lam", spy)
    # a budget the trained network misses: a post-processed candidate is chosen; started from
    # the trained network (warm_start=False), it cannot have a higher J at its λ
    cb = ConvexPostProcessing(select={"lams": [1e-1, 1.0], "criterion": "budget",
                                      "L_budget": 0.5, "budget_metric": "adversarial",
                                      "eps": 0.1, "warm_start": False},
                              beta=1e-3, max_iter=3, verbose=False)
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0,
                             default_root_dir=tmp_path, callbacks=[cb])
        trainer.fit(module, datamodule=RegressionDataModule(X, y, Xv, yv, batch_size=20))
    assert torch.equal(seen["X_val"], Xv) and torch.equal(seen["y_val"], yv)
    assert torch.equal(seen["X"], X)
    sel = cb.selection
    assert sel is not None and sel.index == int(np.argmin(sel.table["score"]))
    assert sel.table["L"][0] > 0.5 and sel.postprocessed
    s = cb.summary
    assert s["lam"] == sel.lam
    assert cb.applied == (sel.postprocessed and s["J_after"] < s["J_before"])
    assert cb.applied
    if cb.applied:
        assert same_function(module.model, sel.model)
        assert cb.revalidated        # the validation loop ran again on the new network


def test_callback_select_bad_settings():
    pytest.importorskip("lightning.pytorch")
    from torch_lipcvx.lightning import ConvexPostProcessing
    with pytest.raises(ValueError, match="unknown keys"):
        ConvexPostProcessing(select={"lamz": [1e-2]})
    with pytest.raises(ValueError, match="leave lam at 0"):
        ConvexPostProcessing(lam=1e-2, select={})
    with pytest.raises(ValueError, match="L_budget"):
        ConvexPostProcessing(select={"criterion": "budget"})
    with pytest.raises(TypeError, match="select must be"):
        ConvexPostProcessing(select="adversarial")
    with pytest.raises(ValueError, match="only used with select"):
        ConvexPostProcessing(lam=1e-2, X_val=torch.zeros(3, 2), y_val=torch.zeros(3))
