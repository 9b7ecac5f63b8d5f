"""torch_lipcvx.plots: every function writes a PNG; bad input gets an error naming the argument."""

from __future__ import annotations

import warnings

import pytest

from torch_lipcvx import plots
from torch_lipcvx.bounds import LipschitzInterval
from torch_lipcvx.models import ShallowReLU
from torch_lipcvx.algorithm1.postprocess import IterationRecord, PostProcessResult


def interval(lower=1.0, upper=2.0, upper_bounds=None):
    return LipschitzInterval(2.0, lower, upper, "gradient", "lipsdp",
                             {"lipsdp": upper} if upper_bounds is None else upper_bounds)


def result():
    recs = [IterationRecord(k, 1.0 - 0.1 * k, 0.5, 0.0, 1.0, 1.0, 0.1 * k, 0.0, "x")
            for k in range(3)]
    return PostProcessResult(ShallowReLU(2, 3), recs)


def test_plots_write_pngs(tmp_path):
    assert plots.plot_lipschitz_interval(interval(), tmp_path / "a" / "iv.png").stat().st_size > 0
    assert plots.plot_objective_history({"run": result()}, tmp_path / "h.png").stat().st_size > 0
    rows = [{"model": "m", "eps": e, "pgd_mse": "0.1", "certified_mse": 0.2} for e in (0, 0.1)]
    assert plots.plot_adversarial_mse(rows, tmp_path / "adv.png").stat().st_size > 0


def test_interval_without_upper_bounds_dict_and_zero_interval(tmp_path):
    # upper_bounds is optional in LipschitzInterval (default {}): the bar still goes to `upper`
    assert plots.plot_lipschitz_interval(interval(upper_bounds={}), tmp_path / "a.png").exists()
    # a constant network: L = 0 at both ends, on a log axis (matplotlib must not warn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_lipschitz_interval(interval(0.0, 0.0), tmp_path / "b.png")


@pytest.mark.parametrize("call, match", [
    (lambda p: plots.plot_lipschitz_interval({}, p), "intervals is empty"),
    (lambda p: plots.plot_lipschitz_interval({"a": 3.0}, p), "LipschitzInterval.*'a'.*float"),
    (lambda p: plots.plot_objective_history({}, p), "results is empty"),
    (lambda p: plots.plot_objective_history({"a": 3}, p), "PostProcessResult.*'a'.*int"),
    (lambda p: plots.plot_adversarial_mse([], p), "table is empty"),
    (lambda p: plots.plot_adversarial_mse([{"model": "a", "eps": 0}], p),
     "row 0.*missing.*certified_mse.*pgd_mse"),
])
def test_bad_input_raises_naming_the_problem(tmp_path, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_accuracy_writes_and_refuses_rows_without_the_accuracies(tmp_path):
    from torch_lipcvx.plots import plot_accuracy
    rows = [{"model": m, "eps": e, "clean_acc": 0.9, "robust_acc": 0.9 - e / 2,
             "certified_acc": 0.8 - e / 2} for m in ("before", "after") for e in (0.0, 0.5, 1.0)]
    assert plot_accuracy(rows, tmp_path / "a" / "acc.png", title="t").is_file()
    with pytest.raises(ValueError, match="clean_acc"):
        plot_accuracy([{"model": "x", "eps": 0.1}], tmp_path / "b.png")
    with pytest.raises(ValueError, match="non-empty"):
        plot_accuracy([], tmp_path / "c.png")
