"""``torch_lipcvx.fit``, the recommended pipeline (docs/pipeline.md): what it promises, checked as
properties on small random problems, and its bad inputs."""

import json
import math

import pytest
import torch

import torch_lipcvx as tl
from torch_lipcvx import ShallowReLU, fit
from torch_lipcvx.algorithm1.select import LamBudgetError
from torch_lipcvx.cli import main as cli_main
from torch_lipcvx.objective import objective

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]
SMALL = dict(hidden=8, epochs=30, lams=[1e-2, 1e-1, 1.0], attack_steps=5, progress=False)


def data(n: int = 50, d: int = 3, seed: int = 0, device: str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sin(2 * X[:, 0]) + 0.3 * X[:, 1] + 0.05 * torch.randn(n, generator=g,
                                                                        dtype=torch.float64)
    return X.to(device), y.to(device)


@pytest.fixture(scope="module")
def result():
    X, y = data()
    return X, y, fit(X, y, eps=0.1, **SMALL)


def test_fit_returns_a_certified_network_on_all_rows(result):
    X, y, res = result
    assert isinstance(res.model, ShallowReLU) and res.model.m == 8
    assert res.n_fit + res.n_val == X.shape[0] and res.n_val == round(0.2 * X.shape[0])
    assert math.isfinite(res.L) and res.L > 0
    # the certificate is an upper bound: never below a sampled gradient norm
    iv = tl.lipschitz_bounds(res.model, norm=2, X=X, n_samples=512, ascent_steps=20)
    assert iv.lower <= res.L * (1 + 1e-6)
    # the refit ran from the start on ALL rows and never raised J_lam there
    h = res.refit.history
    assert res.refit is not None and h[-1].objective <= h[0].objective * (1 + 1e-9)
    J_start = objective(res.start, X, y, lam=res.lam).value
    assert h[0].objective == pytest.approx(J_start, rel=1e-6)
    assert objective(res.model, X, y, lam=res.lam).value <= J_start * (1 + 1e-9)
    assert set(res.times) == {"train", "path", "refit", "total"}
    assert "FitResult(lam=" in repr(res)


def test_fit_chooses_the_best_validation_score(result):
    _, _, res = result
    table = res.selection.table
    scores = table["score"]
    assert scores[res.selection.index] == min(scores)
    assert table["lam"][0] == 0.0 and not table["postprocessed"][0]      # the start is a row
    expect = res.selection.lam if res.selection.postprocessed else res.settings["start_lam"]
    assert res.lam == expect
    s = res.summary()
    assert s["lam"] == res.lam and s["chosen_from"] in ("start", "path")


def test_every_path_candidate_is_no_worse_than_the_start_for_its_own_lam(result):
    X, y, res = result
    sel = res.selection
    for lam, J, J0 in zip(sel.table["lam"][1:], sel.table["objective"][1:],
                          sel.table["objective_start"][1:]):
        assert J <= J0 * (1 + 1e-9), lam


def test_fit_is_reproducible_and_does_not_touch_its_inputs():
    X, y = data(seed=1)
    X0, y0 = X.clone(), y.clone()
    a = fit(X, y, criterion="clean", **SMALL)
    b = fit(X, y, criterion="clean", **SMALL)
    assert torch.equal(X, X0) and torch.equal(y, y0)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert a.lam == b.lam


def test_fit_from_a_given_start_leaves_it_untouched():
    X, y = data(seed=2)
    start = tl.train_sgd(None, X, y, hidden=8, epochs=30, progress=False).model
    snap = {k: v.clone() for k, v in start.state_dict().items()}
    res = fit(X, y, start=start, **SMALL)
    for k, v in start.state_dict().items():
        assert torch.equal(v, snap[k]), k
    assert res.settings["trained_start"] is False and res.times["train"] < 1.0
    assert res.model is not start


def test_fit_with_validation_rows_fits_every_training_row_and_refit_off():
    X, y = data(seed=3)
    Xv, yv = data(n=20, seed=4)
    res = fit(X, y, X_val=Xv, y_val=yv, refit=False, **SMALL)
    assert res.n_fit == X.shape[0] and res.n_val == 20 and res.refit is None
    assert "refit" not in res.times and res.model is res.selection.model
    assert res.L == pytest.approx(res.selection.chosen["L"])


def test_fit_budget_criterion_respects_the_budget_and_names_the_smallest_L():
    X, y = data(seed=5)
    res = fit(X, y, criterion="budget", L_budget=0.8, refit=False, **SMALL)
    assert res.L <= 0.8
    with pytest.raises(LamBudgetError, match="smallest L reached"):
        fit(X, y, criterion="budget", L_budget=1e-6, **SMALL)


@pytest.mark.parametrize("kw, exc, match", [
    ({"val_fraction": 1.0}, ValueError, "val_fraction"),
    ({"val_fraction": 0.0}, ValueError, "val_fraction"),
    ({"start_lam": 0.0}, ValueError, "start_lam"),
    ({"start_lam": float("nan")}, ValueError, "start_lam"),
    ({"refit": "yes"}, TypeError, "refit"),
    ({"hidden": 0}, ValueError, "hidden"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"max_iter": 0}, ValueError, "max_iter"),
    ({"eps": -0.1}, ValueError, "eps"),
    ({"criterion": "best"}, ValueError, "criterion"),
    ({"criterion": "budget"}, ValueError, "L_budget"),
    ({"L_budget": 1.0}, ValueError, "L_budget"),
    ({"lams": [0.0, 1.0]}, ValueError, "lams"),
    ({"norm": 3}, ValueError, "norm"),
    ({"beta": -1.0}, ValueError, "beta"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"X_val": torch.zeros(3, 3, dtype=torch.float64)}, ValueError, "y_val"),
    ({"solver": "nope"}, ValueError, "solver"),
    ({"solver_options": {"bogus": 1}}, ValueError, "bogus"),
])
def test_bad_options_are_named_before_any_work(kw, exc, match, monkeypatch):
    import torch_lipcvx.train as train
    monkeypatch.setattr(train, "train_sgd_lip", lambda *a, **k: pytest.fail("work started"))
    X, y = data()
    opts = {**SMALL, **kw}
    with pytest.raises(exc, match=match):
        fit(X, y, **opts)


@pytest.mark.parametrize("X, y, match", [
    (torch.zeros(10, 2, dtype=torch.float64), torch.zeros(9, dtype=torch.float64), "y"),
    (torch.full((10, 2), float("nan"), dtype=torch.float64), torch.zeros(10, dtype=torch.float64),
     "X"),
    (torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), "at least 4"),
])
def test_bad_data_is_named(X, y, match):
    with pytest.raises(ValueError, match=match):
        fit(X, y, **SMALL)


def test_solver_options_reach_every_convex_step():
    X, y = data(n=60, seed=6)
    a = fit(X, y, **SMALL)
    b = fit(X, y, solver_options={"screen": True, "tol": 1e-7}, **SMALL)
    # the same start; the convex steps agree within the looser tolerance
    assert torch.equal(a.start.hidden.weight, b.start.hidden.weight)
    ja, jb = a.selection.table["objective"], b.selection.table["objective"]
    assert ja == pytest.approx(jb, rel=1e-4)


def test_wrong_width_of_the_start_is_named():
    X, y = data()
    with pytest.raises(ValueError):
        fit(X, y, start=ShallowReLU(5, 4).double(), **SMALL)


@pytest.mark.parametrize("device", DEVICES)
def test_fit_follows_the_data_device(device):
    X, y = data(n=40, device=device)
    res = fit(X, y, **SMALL)
    assert next(res.model.parameters()).device.type == device
    with torch.no_grad():
        assert torch.isfinite(res.model(X)).all()


def test_cli_fit_writes_checkpoint_json_and_plot(tmp_path, capsys):
    out, js, png = tmp_path / "m.pt", tmp_path / "s.json", tmp_path / "p.png"
    rc = cli_main(["fit", "--data", "rastrigin", "--n", "80", "--hidden", "8", "--epochs", "20",
                   "--lams", "0.01", "0.1", "--steps", "5", "--out", str(out), "--json", str(js),
                   "--plot", str(png), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "certified L <=" in text and "test MSE" in text
    summary = json.loads(js.read_text())
    assert summary["L_certified"] > 0 and summary["lam"] > 0 and png.is_file()
    from torch_lipcvx.checkpoint import load_checkpoint
    ckpt = load_checkpoint(out)
    assert ckpt.meta["config"]["chosen_lam"] == summary["lam"]


def test_cli_fit_rejects_a_bad_option_in_the_users_terms(capsys):
    rc = cli_main(["fit", "--data", "rastrigin", "--n", "80", "--criterion", "budget"])
    assert rc == 2
    assert "L_budget (--budget)" in capsys.readouterr().err
