"""Plots (matplotlib, headless). Plotting lives only here.

Every function writes a PNG and returns its path; nothing is shown on screen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .postprocess import PostProcessResult  # noqa: E402

__all__ = ["plot_objective_history"]


def plot_objective_history(results: Mapping[str, PostProcessResult],
                           path: Union[str, os.PathLike], title: str = "") -> Path:
    """Objective ``J``, MSE and certified ``L`` per iteration of Algorithm 1, one line per run.

    Args:
        results: label → :class:`PostProcessResult` (e.g. ``{"Lipschitz": r1, "l2": r2}``).
        path: output PNG path (parent folders are created).
        title: figure title.

    Returns:
        The path written.
    """
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
