"""Plots (matplotlib, headless). Plotting lives only here.

Every function writes a PNG and returns its path; nothing is shown on screen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .bounds import LipschitzInterval  # noqa: E402
from .algorithm1.postprocess import PostProcessResult  # noqa: E402

__all__ = ["plot_accuracy", "plot_adversarial_mse", "plot_lam_selection",
           "plot_lipschitz_interval", "plot_objective_history"]

#: floor for values drawn on a log axis (a bound of exactly 0 is drawn there)
_LOG_FLOOR = 1e-12


def _check_mapping(items, name: str, kind: type, attr: str = "") -> None:
    """``items`` is a non-empty mapping label → ``kind`` (or, with ``attr``, anything that has
    that attribute); raise naming ``name`` otherwise."""
    if not isinstance(items, Mapping):
        raise TypeError(f"{name} must be a mapping label -> {kind.__name__}, got "
                        f"{type(items).__name__}")
    if not items:
        raise ValueError(f"{name} is empty: nothing to plot")
    for label, value in items.items():
        if not (hasattr(value, attr) if attr else isinstance(value, kind)):
            raise TypeError(f"{name} must map labels to {kind.__name__}, got {label!r}: "
                            f"{type(value).__name__}")


def plot_objective_history(results: Mapping[str, PostProcessResult],
                           path: Union[str, os.PathLike], title: str = "") -> Path:
    """Objective ``J``, MSE and certified ``L`` per iteration of Algorithm 1, one line per run.

    Args:
        results: label → :class:`PostProcessResult` (e.g. ``{"Lipschitz": r1, "l2": r2}``; any
            result with a ``history_table()`` holding ``iteration``, ``objective``, ``mse``, ``L``).
        path: output PNG path (parent folders are created).
        title: figure title.

    Returns:
        The path written.

    Raises:
        ValueError, TypeError: ``results`` empty, or not a mapping to ``PostProcessResult``.
    """
    _check_mapping(results, "results", PostProcessResult, "history_table")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    panels = [("objective", "objective J (each run's own)"), ("mse", "training MSE"), ("L", "certified L (LipSDP)")]
    for label, res in results.items():
        table = res.history_table()
        for ax, (key, name) in zip(axes, panels):
            ax.plot(table["iteration"], table[key], marker="o", label=label)
            ax.set_title(name)
            ax.set_xlabel("iteration (0 = input network)")
            ax.grid(alpha=0.3)
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_adversarial_mse(table: Iterable[Mapping], path: Union[str, os.PathLike],
                         title: str = "") -> Path:
    """Adversarial MSE against the attack radius ε, one colour per model.

    Solid line with dots: the PGD adversarial MSE (a *lower* bound on the worst-case MSE in the
    ball). Dashed line, same colour: the certified *upper* bound
    ``mean_i (|f(x_i) − y_i| + L·ε)²``. The true worst-case MSE lies between the two.

    Args:
        table: rows (e.g. the ``attack`` subcommand's CSV rows), each a mapping with keys
            ``"model"`` (label, str), ``"eps"`` (radius ε ≥ 0, in the units of the model's
            inputs, e.g. standardised), ``"pgd_mse"`` and ``"certified_mse"`` (squared output
            units, e.g. standardised target units). Values may be strings (read from CSV).
        path: output PNG path (parent folders are created).
        title: figure title.

    Returns:
        The path written. The y axis is logarithmic when the values span more than a factor 20
        and are all positive.

    Raises:
        ValueError: ``table`` empty, or a row missing one of the four keys.
    """
    keys = ("model", "eps", "pgd_mse", "certified_mse")
    series: dict[str, list[tuple[float, float, float]]] = {}
    for i, row in enumerate(table):
        missing = [k for k in keys if k not in row]
        if missing:
            raise ValueError(f"table row {i} is missing {', '.join(sorted(missing))} (each row "
                             f"needs {', '.join(keys)}), got keys {sorted(row)}")
        series.setdefault(str(row["model"]), []).append(
            (float(row["eps"]), float(row["pgd_mse"]), float(row["certified_mse"])))
    if not series:
        raise ValueError("table is empty: nothing to plot")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    values = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, pts) in enumerate(series.items()):
        pts.sort()
        eps = [p[0] for p in pts]
        color = colors[k % len(colors)]
        ax.plot(eps, [p[1] for p in pts], marker="o", color=color, label=f"{label}: PGD (lower)")
        ax.plot(eps, [p[2] for p in pts], linestyle="--", marker="^", markerfacecolor="none",
                color=color, label=f"{label}: certified (upper)")
        values += [p[1] for p in pts] + [p[2] for p in pts]
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("attack radius ε (input units)")
    ax.set_ylabel("test MSE under attack")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    ax.set_title(title or "adversarial MSE: PGD (solid) vs certified bound (dashed)")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_lam_selection(selection, path: Union[str, os.PathLike], title: str = "") -> Path:
    """The λ selection of :func:`~torch_lipcvx.select_lam`: validation MSE (clean and PGD) and
    certified ``L`` against ``λ``.

    Left panel: clean validation MSE (solid) and PGD validation MSE at the selection's ``ε``
    (dashed) against ``λ`` (log axis); the input network (no post-processing) as horizontal
    dotted lines of the same colours. Right panel: the certified ℓ2 ``L`` (LipSDP upper bound),
    the input's as a dotted line, and ``L_budget`` when there is one. The chosen candidate is
    circled in both panels.

    Args:
        selection: a :class:`~torch_lipcvx.algorithm1.select.LamSelection` (anything with its
            ``table``, ``index``, ``criterion``, ``eps``, ``norm`` and ``L_budget``).
        path: output PNG path (parent folders are created).
        title: figure title.

    Returns:
        The path written.

    Raises:
        TypeError: ``selection`` is not a selection.
    """
    if not all(hasattr(selection, a) for a in ("table", "index", "eps", "norm", "L_budget")):
        raise TypeError(f"selection must be a LamSelection (from select_lam), got "
                        f"{type(selection).__name__}")
    t = selection.table
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    classify = "val_acc" in t
    clean_key, adv_key = ("val_acc", "val_robust_acc") if classify else ("val_mse",
                                                                         "val_adv_mse")
    what = "accuracy" if classify else "MSE"
    lams, clean, adv, L = t["lam"][1:], t[clean_key][1:], t[adv_key][1:], t["L"][1:]
    norm = "∞" if selection.norm == float("inf") else "2"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0]
    ax.plot(lams, clean, marker="o", color=colors[0], label=f"clean validation {what}")
    ax.axhline(t[clean_key][0], color=colors[0], linestyle=":", label="clean, input network")
    if selection.eps > 0:
        ax.plot(lams, adv, marker="^", linestyle="--", color=colors[1],
                label=f"PGD validation {what} (ε={selection.eps:g}, ℓ{norm})")
        ax.axhline(t[adv_key][0], color=colors[1], linestyle=":",
                   label="PGD, input network")
        if classify:
            ax.plot(lams, t["val_cert_acc"][1:], marker="s", linestyle="-.", color=colors[3],
                    label=f"certified validation accuracy (ε={selection.eps:g})")
    ax.set_ylabel(f"validation {what}")
    ax = axes[1]
    ax.plot(lams, L, marker="o", color=colors[2], label="certified L (LipSDP)")
    ax.axhline(t["L"][0], color=colors[2], linestyle=":", label="input network")
    if selection.L_budget is not None:
        ax.axhline(selection.L_budget, color="k", linestyle="--", label="L budget")
    ax.set_ylabel("certified L (ℓ2, upper bound)")
    k = selection.index
    for ax, key in ((axes[0], adv_key if getattr(selection, "criterion", "") == "adversarial"
                     else clean_key), (axes[1], "L")):
        if k > 0:
            ax.plot([t["lam"][k]], [t[key][k]], marker="o", markersize=14, markerfacecolor="none",
                    color="k", linestyle="none", label=f"chosen: λ={t['lam'][k]:g}")
        else:
            ax.plot([], [], linestyle="none", label="chosen: the input network")
        ax.set_xscale("log")
        ax.set_xlabel("λ (weight of L²)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle(title or f"λ chosen on validation data (criterion: "
                          f"{getattr(selection, 'criterion', '?')})")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


_UPPER_MARKERS = {"lipsdp": "s", "sqrt_d_lipsdp": "D", "naive": "X"}


def plot_lipschitz_interval(intervals: Union[LipschitzInterval, Mapping[str, LipschitzInterval]],
                            path: Union[str, os.PathLike], title: str = "") -> Path:
    """Certified Lipschitz intervals ``[lower, upper]`` on a log axis, one row per model.

    Each row shows a grey bar from the lower bound to the best (smallest) upper bound, a dot at
    the lower bound (its method in the legend) and one marker per upper bound that was computed
    (``lipsdp``, ``sqrt_d_lipsdp``, ``naive``...), with the values written next to the ends.
    The true Lipschitz constant lies inside the bar.

    Args:
        intervals: one :class:`~torch_lipcvx.bounds.LipschitzInterval`, or label → interval.
            Values are in output units per input unit (for the interval's ``norm``).
        path: output PNG path (parent folders are created).
        title: figure title.

    Returns:
        The path written. A bound of exactly 0 is drawn at 1e-12 (log axis).

    Raises:
        ValueError, TypeError: ``intervals`` empty, or not a mapping to ``LipschitzInterval``.
    """
    if isinstance(intervals, LipschitzInterval):
        intervals = {"model": intervals}
    _check_mapping(intervals, "intervals", LipschitzInterval)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = list(intervals)
    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.8 * len(labels)), constrained_layout=True)
    seen: set[str] = set()
    lo_all, hi_all = [], []
    for row, label in enumerate(labels):
        iv = intervals[label]
        y = len(labels) - 1 - row
        lo = max(iv.lower, _LOG_FLOOR)
        hi = max(iv.upper, lo)
        ax.barh(y, hi - lo, left=lo, height=0.16, color="0.85", edgecolor="0.5",
                label="interval containing L" if "bar" not in seen else None)
        seen.add("bar")
        name = f"lower: {iv.lower_method}"
        ax.plot(lo, y, "o", color="tab:blue", markersize=9, label=name if name not in seen else None)
        seen.add(name)
        ax.annotate(f"{iv.lower:.4g}", (lo, y), textcoords="offset points", xytext=(0, 13),
                    ha="center", fontsize=8, color="tab:blue")
        for k, (method, val) in enumerate(sorted(iv.upper_bounds.items(), key=lambda kv: kv[1])):
            name = f"upper: {method}"
            at = max(val, _LOG_FLOOR)
            ax.plot(at, y, _UPPER_MARKERS.get(method, "P"), color=f"C{k + 1}", markersize=9,
                    label=name if name not in seen else None)
            seen.add(name)
            hi = max(hi, at)
            ax.annotate(f"{val:.4g}", (at, y), textcoords="offset points",
                        xytext=(0, -19 if k % 2 == 0 else 13), ha="center", fontsize=8,
                        color=f"C{k + 1}")
        hi_all.append(hi)
        lo_all.append(lo)
    ax.set_xscale("log")
    ax.set_xlim(min(lo_all) / 2, max(hi_all) * 2)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_yticks(range(len(labels)), labels[::-1])
    norms = {("inf" if iv.norm == float("inf") else f"{iv.norm:g}") for iv in intervals.values()}
    ax.set_xlabel(f"Lipschitz constant (ℓ{'/'.join(sorted(norms))} input norm; log scale)")
    ax.grid(alpha=0.3, axis="x", which="both")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "certified Lipschitz interval: lower bound and upper bounds by method")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_accuracy(rows: Iterable[Mapping], path: Union[str, os.PathLike], title: str = ""
                  ) -> Path:
    """A classifier's test accuracy against the attack radius, one colour per model: clean
    (dotted), PGD robust (solid; an *upper* bound on the true robust accuracy) and certified
    (dashed; a *lower* bound, from the Lipschitz margin, docs/attacks.md §4).

    Args:
        rows: mappings with ``model`` (a label), ``eps`` (the radius, input units),
            ``clean_acc``, ``robust_acc`` and ``certified_acc`` (shares in [0, 1]).
        path: output PNG path (parent folders are created).
        title: figure title.

    Returns:
        The path written.

    Raises:
        ValueError: ``rows`` is empty or a row lacks one of those keys.
    """
    rows = list(rows)
    keys = ("model", "eps", "clean_acc", "robust_acc", "certified_acc")
    if not rows or any(not isinstance(r, Mapping) or any(k not in r for k in keys)
                       for r in rows):
        raise ValueError(f"rows must be a non-empty list of mappings with keys {keys}")
    series: dict[str, list] = {}
    for r in rows:
        series.setdefault(str(r["model"]), []).append(
            (float(r["eps"]), float(r["clean_acc"]), float(r["robust_acc"]),
             float(r["certified_acc"])))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, pts) in enumerate(series.items()):
        pts.sort()
        eps = [q[0] for q in pts]
        c = colors[i % len(colors)]
        ax.plot(eps, [q[1] for q in pts], linestyle=":", color=c, label=f"{label}: clean")
        ax.plot(eps, [q[2] for q in pts], marker="o", color=c, label=f"{label}: PGD robust")
        ax.plot(eps, [q[3] for q in pts], linestyle="--", marker="^", markerfacecolor="none",
                color=c, label=f"{label}: certified")
    ax.set_xlabel("attack radius ε (standardised input units)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
