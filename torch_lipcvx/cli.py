"""Command line: ``torch-lipcvx <subcommand>`` (also ``python -m torch_lipcvx``).

Subcommands:

* ``demo``: train a 100-unit ShallowReLU on the built-in rastrigin data, certify it, post-process it
  (ℓ2 case and Lipschitz case), print a before/after table and write a plot and a JSON file.
  ``demo --task classification``: a 32-unit digits classifier (10 logits, cross-entropy),
  certified (LipSDP, ℓ2), post-processed by Algorithm 1 at one fixed λ, and attacked; prints its
  clean, PGD robust and certified test accuracy and certified L before and after, and writes a
  plot of accuracy against ε and a JSON file.
* ``train``: train a ShallowReLU (Adam, or PGD adversarial training) and save a checkpoint.
* ``certify``: lower and upper bounds on a checkpoint's Lipschitz constant (JSON, plot).
* ``postprocess``: Algorithm 1 / program (6) on a checkpoint; writes the new checkpoint, the
  history as CSV and a plot.
* ``select``: λ chosen on held-out data (:func:`~torch_lipcvx.select_lam`): Algorithm 1 over a λ
  grid on the checkpoint's training rows less a seeded validation share (``--val-fraction``,
  never the test rows), each candidate (the input network included) scored on that share;
  writes the chosen checkpoint, the path as CSV and a plot.
* ``attack``: PGD adversarial test MSE against the certified bound, for several checkpoints and
  radii (CSV, plot); for a classifier, the clean, PGD robust (ℓ2 or ℓ∞, ``--norm``) and
  certified accuracy per radius instead.
* ``bench``: quick timing of LipSDP and one post-processing step at a small size.

Data: ``--data rastrigin`` (synthetic), ``--data NAME`` for a data set folder (the bundled
``servo``, ``machine``, ``solar``, ``wine``, or any folder in that layout under ``--data-dir``),
or ``--data-file FILE`` for your own table, split at random (``--split``, ``--test-fraction``)
or by a given ``--test-mask FILE`` or ``--test-indices`` (``docs/data.md``). scikit-learn's sets
(the ``sklearn`` extra): ``diabetes`` (regression) and the classification sets ``breast_cancer``
(2 classes) and ``digits`` (10 classes).

Losses (``--loss``, docs/conventions.md): ``squared`` (the default for regression sets) or
``huber`` for regression; ``cross_entropy`` (one logit per class, the default for
classification sets, two logits for ``breast_cancer``) or ``logistic`` (two classes, one
output) for classification. ``train`` builds the network's number of outputs ``k`` from the
loss and the data; the checkpoint records the loss and ``k``, and ``certify``,
``postprocess``, ``select`` and ``attack`` reuse them (a ``--loss`` that contradicts the
checkpoint, or a loss that does not fit the data set, is a bad input). Classifiers are
selected (``select``, ``fit``) on validation robust accuracy and scored by accuracy.

Bad inputs (unknown data set, unreadable, corrupted or mismatched checkpoints, an output path
that cannot be written...) print one line ``torch-lipcvx COMMAND: error: ...`` on stderr and make
:func:`main` return 2; a convex solver that fails (``SolverError``: status, iteration limit)
prints one such line too and returns 1. Output paths are checked before any work, so no output
file is written for a failed command.

Checkpoints: :mod:`torch_lipcvx.checkpoint` (``torch.save`` of a dict, read with
``weights_only=True``, CRC-32 checksums verified before loading), with this metadata::

    "data": {name, data_dir, split, seed, n, d}
     (data_dir None: the bundled data sets; your own table: {"name": "csv", path, target,
     header, test_fraction, split, seed, test_mask, test_indices}),
    "config": {...the command's options...},
    "loss": "squared" | "huber" | "logistic" | "cross_entropy"
     (missing in files written before losses: squared)

and, for ``k >= 2`` outputs, ``"out_features": k`` beside the network's own keys.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from . import defaults
from ._checks import check_nonneg, check_positive, check_seed
from .solvers import CVXPY_SOLVERS, DEFAULT, TORCH_SOLVERS, Solver

__all__ = ["main"]


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Plain-text table: ``columns`` is a list of (key, header, format)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append([("-" if row.get(k) is None else format(row[k], f)) for k, _, f in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


#: The classification demo's settings for the options left out: a 32-unit digits classifier
#: (about 98% clean test accuracy after 300 full-batch Adam epochs, a few seconds), one fixed
#: lam that more than halves its certified L at a small cost in clean accuracy (two Algorithm 1
#: steps, the second adding little), and radii at which the PGD and certified accuracies are
#: neither 0 nor 1.
_DEMO_CLASSIFICATION = {"n": None, "hidden": 32, "epochs": 300, "lr": defaults.LR,
                        "beta": defaults.DEMO_BETA, "lam": 3e-2, "max_iter": 2,
                        "eps": [0.5, 1.0]}


class _Given(argparse.Action):
    """Stores an option's value and notes that it was given (in ``args._given``), so that the
    classification demo can put its own defaults in place of the regression demo's."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, "_given", set(getattr(namespace, "_given", None) or ()) | {self.dest})


def _demo(args: argparse.Namespace) -> int:
    """``demo``: the regression demo, or with ``--task classification`` the classification
    demo with its own settings for the options left out."""
    given = vars(args).pop("_given", None) or set()
    if args.task == "classification":
        if "d" in given:
            raise CLIError("--d is the rastrigin dimension of the regression demo; digits has "
                           "d=64")
        for key, value in _DEMO_CLASSIFICATION.items():
            if key not in given:
                setattr(args, key, value)
        return _demo_classification(args)
    if isinstance(args.eps, list):
        if len(args.eps) != 1:
            raise CLIError(f"the regression demo takes one --eps radius, got {len(args.eps)}")
        args.eps = args.eps[0]
    return _demo_regression(args)


def _demo_regression(args: argparse.Namespace) -> int:
    from .attacks import pgd_attack
    from .bounds import lipschitz_bounds
    from .data import rastrigin
    from .pipeline import fit
    from .plots import plot_objective_history
    from .algorithm1.postprocess import objective, postprocess
    from .train import train_sgd, train_sgd_lip

    start = time.perf_counter()
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    data = rastrigin(args.n, args.d, seed=args.seed)
    X, y, Xte, yte = data.X_train, data.y_train, data.X_test, data.y_test
    say(f"data: rastrigin, {data.n} training and {data.n_test} test points, d={data.d} "
        f"(standardised)")

    def test_errors(model) -> dict:
        """Clean and PGD (ℓ2, --eps) MSE on the test rows; the same seeded attack for all."""
        if not data.n_test:
            return {"test_mse": None, "test_pgd_mse": None}
        with torch.no_grad():
            clean = float(((model(Xte).reshape(-1) - yte) ** 2).mean())
        gen = torch.Generator().manual_seed(args.seed)
        adv = float(pgd_attack(model, Xte, yte, args.eps, 2, steps=defaults.SELECT_ATTACK_STEPS,
                               generator=gen).mse) if args.eps > 0 else clean
        return {"test_mse": clean, "test_pgd_mse": adv}

    # ---- part 1: what a user would pick, side by side
    say(f"[1/5] SGD: a {args.hidden}-unit ShallowReLU, Adam ({args.epochs} full-batch epochs, "
        f"beta={args.beta:g}) ...")
    t0 = time.perf_counter()
    trained = train_sgd(None, X, y, hidden=args.hidden, beta=args.beta, epochs=args.epochs,
                        lr=args.lr, seed=args.seed, progress=_progress(args)).model
    t_train = time.perf_counter() - t0
    say(f"[2/5] SGD-lip: the same, with the certified L^2 as a penalty (lam="
        f"{defaults.FIT_START_LAM:g}) ...")
    t0 = time.perf_counter()
    sgd_lip = train_sgd_lip(None, X, y, lam=defaults.FIT_START_LAM, hidden=args.hidden,
                            beta=args.beta, epochs=args.epochs, lr=args.lr, seed=args.seed,
                            progress=_progress(args)).model
    t_lip = time.perf_counter() - t0
    say(f"[3/5] fit, the recommended pipeline: SGD-lip, a convex lam-path, lam chosen by PGD "
        f"MSE (eps={args.eps:g}) on 20% of the training rows, refit on all ...")
    t0 = time.perf_counter()
    fitted = fit(X, y, criterion="adversarial" if args.eps > 0 else "clean", eps=args.eps,
                 hidden=args.hidden, beta=args.beta, epochs=args.epochs, lr=args.lr,
                 seed=args.seed, progress=_progress(args))
    t_fit = time.perf_counter() - t0
    compare = []
    for name, model, t in (("SGD", trained, t_train), ("SGD-lip", sgd_lip, t_lip),
                           (f"fit (lam={fitted.lam:g})", fitted.model, t_fit)):
        iv = lipschitz_bounds(model, X=X, solver=args.solver)
        compare.append({"model": name, "L_upper": iv.upper, **test_errors(model), "time": t})

    # ---- part 2: the guarantee, on the SGD network
    say("certifying (LipSDP upper bound, sampled-gradient lower bound) ...")

    def row(name: str, model, t: Optional[float]) -> dict:
        iv = lipschitz_bounds(model, X=X, solver=args.solver)
        with torch.no_grad():
            test_mse = float(((model(Xte) - yte) ** 2).mean()) if data.n_test else None
        J_l2 = objective(model, X, y, beta=args.beta, solver=args.solver)
        J_lip = J_l2.mse + args.lam * J_l2.rho     # same certificate, no second solve
        return {"model": name, "mse": J_l2.mse, "test_mse": test_mse, "L_lower": iv.lower,
                "L_upper": iv.upper, "J_l2": J_l2.value, "J_lip": J_lip, "time": t}

    rows = [row("SGD (input)", trained, t_train)]

    say(f"[4/5] post-processing the SGD net, l2 case: program (6) with beta={args.beta:g} ...")
    res_l2 = postprocess(trained, X, y, beta=args.beta, solver=args.solver, verbose=not args.quiet,
                         progress=_progress(args))
    rows.append(row("C-l2 (program 6)", res_l2.model, res_l2.history[-1].time))

    say(f"[5/5] post-processing the SGD net, Lipschitz case: Algorithm 1 with lam={args.lam:g}, "
        f"max_iter={args.max_iter} ...")
    res_lip = postprocess(trained, X, y, lam=args.lam, max_iter=args.max_iter,
                          tol=args.tol, solver=args.solver, verbose=not args.quiet,
                          progress=_progress(args))
    rows.append(row("C-lip (Algorithm 1)", res_lip.model, res_lip.history[-1].time))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_objective_history({"C-lip (Algorithm 1)": res_lip, "C-l2 (program 6)": res_l2},
                                 out / "demo_history.png",
                                 title=f"torch_lipcvx demo: rastrigin n={data.n}, d={data.d}, "
                                       f"m={args.hidden}")
    print()
    print(f"What a user would pick (certified L: LipSDP upper bound; test rows: {data.n_test}; "
          f"PGD l2 eps={args.eps:g}):")
    print(_table(compare, [("model", "model", "s"), ("L_upper", "certified L", ".4f"),
                           ("test_mse", "test MSE", ".5f"),
                           ("test_pgd_mse", "test PGD MSE", ".5f"),
                           ("time", "time [s]", ".2f")]))
    print()
    print("The guarantee (each post-processed network lowers its own objective J):")
    columns = [("model", "model", "s"), ("mse", "train MSE", ".5f"), ("test_mse", "test MSE", ".5f"),
               ("L_lower", "L lower", ".4f"), ("L_upper", "L upper", ".4f"),
               ("J_l2", f"J l2 (beta={args.beta:g})", ".6f"),
               ("J_lip", f"J lip (lam={args.lam:g})", ".6f"), ("time", "time [s]", ".2f")]
    print(_table(rows, columns))
    print()
    print(f"l2 case:        J {res_l2.objective_before:.6f} -> {res_l2.objective_after:.6f} "
          f"({100 * res_l2.improvement:.2f}% lower; guaranteed never worse)")
    print(f"Lipschitz case: J {res_lip.objective_before:.6f} -> {res_lip.objective_after:.6f} "
          f"({100 * res_lip.improvement:.2f}% lower, {len(res_lip.history) - 1} iterations; "
          f"{res_lip.message})")
    summary = {"config": _config(args), "compare": compare, "fit": fitted.summary(),
               "rows": rows, "l2_history": res_l2.history_table(),
               "lip_history": res_lip.history_table(),
               "wall_time": time.perf_counter() - start}
    (out / "demo_results.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"plot of the objective history: {png}")
    print(f"results: {out / 'demo_results.json'}  (total {summary['wall_time']:.1f} s)")
    return 0


def _demo_classification(args: argparse.Namespace) -> int:
    """``demo --task classification``: digits, a ShallowReLU classifier (cross-entropy),
    certified (LipSDP, ℓ2), post-processed by Algorithm 1 at one fixed lam, and its clean, PGD
    robust and certified test accuracy before and after (table, plot, JSON)."""
    import numpy as np
    from .algorithm1.postprocess import postprocess
    from .bounds import lipschitz_bounds
    from .train import train_sgd

    start = time.perf_counter()
    say = _say(args)
    radii = list(args.eps)
    data = _load_data({"name": "digits", "data_dir": None, "split": 0, "seed": 0, "n": None,
                       "d": None})
    X, y, Xte, yte = data.X_train, data.y_train, data.X_test, data.y_test
    if args.n is not None and args.n < data.n:
        keep = torch.randperm(data.n, generator=torch.Generator().manual_seed(args.seed))[:args.n]
        X, y = X[keep], y[keep]
    K = data.num_classes
    say(f"data: digits (scikit-learn), {X.shape[0]} training and {Xte.shape[0]} test images, "
        f"d={data.d} pixels (standardised), {K} classes")
    say(f"[1/4] training a ShallowReLU({data.d}, {args.hidden}, out_features={K}) on the "
        f"cross-entropy: Adam, {args.epochs} full-batch epochs, lr={args.lr:g}, "
        f"beta={args.beta:g} ...")
    t0 = time.perf_counter()
    trained = train_sgd(None, X, y, hidden=args.hidden, beta=args.beta, epochs=args.epochs,
                        lr=args.lr, seed=args.seed, loss="cross_entropy", out_features=K,
                        progress=_progress(args)).model
    t_train = time.perf_counter() - t0
    say("[2/4] certifying it (LipSDP upper bound, sampled-gradient lower bound, l2) ...")
    iv0 = lipschitz_bounds(trained, 2, X=X, solver=args.solver)
    say(f"[3/4] post-processing it: Algorithm 1 on the cross-entropy with lam={args.lam:g}, "
        f"beta={args.beta:g}, max_iter={args.max_iter} (lam fixed, not selected on held-out "
        f"rows; 'torch-lipcvx select' chooses one) ...")
    t0 = time.perf_counter()
    res = postprocess(trained, X, y, loss="cross_entropy", lam=args.lam, beta=args.beta,
                      max_iter=args.max_iter, tol=args.tol, solver=args.solver,
                      verbose=not args.quiet, progress=_progress(args))
    t_post = time.perf_counter() - t0
    iv1 = lipschitz_bounds(res.model, 2, X=X, solver=args.solver)
    grid = sorted(set(radii) | {float(e) for e in np.linspace(0.0, 2 * max(radii + [0.5]), 9)})
    say(f"[4/4] attacking both on the {Xte.shape[0]} test images: l2 PGD "
        f"({defaults.SELECT_ATTACK_STEPS} steps, cross-entropy and margin) and the certified "
        f"accuracy at {len(grid)} radii ...")
    from .metrics import accuracy_curve
    rows, curves = [], []
    for name, net, iv, h, secs in (("before (SGD)", trained, iv0, res.history[0], t_train),
                                   (f"after (Algorithm 1, lam={args.lam:g})", res.model, iv1,
                                    res.history[-1], t_post)):
        scores = accuracy_curve(net, Xte, yte, grid, lipschitz=iv.upper, norm=2.0,
                                steps=defaults.SELECT_ATTACK_STEPS, seed=args.seed)
        curves += [{"model": name, **r} for r in scores]
        row = {"model": name, "clean_acc": scores[0]["clean_acc"], "L_lower": iv.lower,
               "L_upper": iv.upper, "train_loss": h.mse, "J": h.objective, "time": secs}
        for r in scores:
            if r["eps"] in radii:
                row[f"robust_acc@{r['eps']:g}"] = r["robust_acc"]
                row[f"certified_acc@{r['eps']:g}"] = r["certified_acc"]
        rows.append(row)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .plots import plot_accuracy
    png = plot_accuracy(curves, out / "demo_classification_accuracy.png",
                         title=f"digits, m={args.hidden}, l2: before/after post-processing "
                               f"(lam={args.lam:g})")
    print()
    print(f"Digits classifier before and after post-processing (test rows: {Xte.shape[0]}; "
          f"PGD: l2, {defaults.SELECT_ATTACK_STEPS} steps; certified L: LipSDP upper bound):")
    columns = [("model", "model", "s"), ("clean_acc", "clean acc", ".4f")]
    for e in radii:
        columns += [(f"robust_acc@{e:g}", f"PGD acc eps={e:g}", ".4f"),
                    (f"certified_acc@{e:g}", f"certified acc eps={e:g}", ".4f")]
    columns += [("L_upper", "certified L", ".4f"), ("L_lower", "L lower", ".4f"),
                ("J", f"J (lam={args.lam:g})", ".5f"), ("time", "time [s]", ".2f")]
    print(_table(rows, columns))
    print()
    print(f"J (cross-entropy + lam*L^2 + beta/2*||theta||^2): {res.objective_before:.6f} -> "
          f"{res.objective_after:.6f} ({100 * res.improvement:.2f}% lower, "
          f"{len(res.history) - 1} iteration(s); {res.message}; guaranteed never worse)")
    print(f"certified L: {iv0.upper:.4f} -> {iv1.upper:.4f}; clean test accuracy "
          f"{rows[0]['clean_acc']:.4f} -> {rows[1]['clean_acc']:.4f} (lam={args.lam:g} fixed, "
          f"not selected on held-out rows)")
    summary = {"config": _config(args), "data": {"name": "digits", "n_train": int(X.shape[0]),
                                                 "n_test": int(Xte.shape[0]), "d": data.d,
                                                 "num_classes": K},
               "radii": radii, "rows": rows, "curves": curves, "history": res.history_table(),
               "wall_time": time.perf_counter() - start}
    (out / "demo_classification_results.json").write_text(
        json.dumps(summary, indent=2, default=str))
    print(f"plot of the accuracy against eps: {png}")
    print(f"results: {out / 'demo_classification_results.json'}  "
          f"(total {summary['wall_time']:.1f} s)")
    return 0


# ============================================================================ shared helpers
class CLIError(Exception):
    """A bad input: reported as one line on stderr, exit code 2."""


#: The solvers ``--solver`` names in its help (any conic solver installed in cvxpy that handles
#: semidefinite cones is accepted too, case-insensitive; see :mod:`torch_lipcvx.solvers`).
SOLVER_CHOICES = TORCH_SOLVERS + CVXPY_SOLVERS
_SOLVER_HELP = ("auto (torch solvers, cvxpy fallback), torch, or a cvxpy solver (CLARABEL, SCS, "
                "or another installed one)")


def _solver_name(text: str) -> str:
    """``--solver``: parsed once by :meth:`Solver.parse <torch_lipcvx.solvers.Solver.parse>`
    (cvxpy is asked only for a cvxpy name); its canonical name, or argparse's usage error."""
    try:
        return Solver.parse(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _say(args) -> Any:
    return (lambda *a: None) if getattr(args, "quiet", False) else (lambda *a: print(*a, flush=True))


def _progress(args) -> Optional[bool]:
    """The library's ``progress`` for a command: off with ``--quiet`` or ``--no-progress``, on
    with ``--progress``, else on unless ``TORCH_LIPCVX_PROGRESS`` says off (a person running a
    command wants to see that it is alive, in a terminal or in a log)."""
    if getattr(args, "quiet", False):
        return False
    chosen = getattr(args, "progress", None)
    if chosen is None:
        from ._progress import env_progress
        env = env_progress()
        return True if env is None else env
    return chosen


def _test_indices_arg(text: str) -> list[int]:
    """``--test-indices``: comma-separated 0-based row indices (``3,17,42``), or a file of them
    (separated by commas, spaces or new lines; ``.gz`` allowed)."""
    if re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", text):
        return [int(t) for t in text.split(",")]
    path = Path(text).expanduser()
    if not path.is_file():
        raise CLIError(f"--test-indices {text!r} is neither a comma-separated list of row "
                       f"indices (0-based, >= 0, e.g. 3,17,42) nor an existing file")
    try:
        if path.name.endswith(".gz"):
            import gzip
            with gzip.open(path, "rt") as fh:
                content = fh.read()
        else:
            content = path.read_text()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise CLIError(f"could not read --test-indices file {path}: {exc}") from None
    tokens = [t for t in re.split(r"[,\s]+", content.strip()) if t]
    try:
        return [int(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not re.fullmatch(r"[+-]?\d+", t))
        raise CLIError(f"--test-indices file {path} must hold integer row indices (0-based), "
                       f"found {bad[:40]!r}") from None


def _data_spec(args, ckpt: Optional[dict] = None, required: bool = True) -> Optional[dict]:
    """The data options of ``args``, completed from the checkpoint's ``data`` record."""
    rec = dict((ckpt or {}).get("data") or {})
    if args.data_file is not None and args.data is not None:
        raise CLIError("pass either --data NAME or --data-file FILE, not both")
    test_mask, test_indices = getattr(args, "test_mask", None), getattr(args, "test_indices", None)
    name = "csv" if args.data_file is not None else (args.data or rec.get("name"))
    if name is None:
        if required:
            raise CLIError("no data set: pass --data or --data-file (the checkpoint does not "
                           "record one)")
        return None
    if name != "csv" and (test_mask is not None or test_indices is not None):
        raise CLIError("--test-mask and --test-indices are for --data-file; a data set folder's "
                       "splits are the columns of its test_mask.csv.gz (choose one with --split)")
    if str(name).lower() == "rastrigin":
        name = "rastrigin"
    elif name != "csv":
        from .data import _sklearn_key
        name = _sklearn_key(name) or name     # "Digits", "breast-cancer": the canonical name
    same = name == rec.get("name")
    if name == "csv":
        path = args.data_file or rec.get("path")
        same = same and (args.data_file is None
                         or str(Path(args.data_file).resolve()) == rec.get("path"))
        if path is None:
            raise CLIError("the checkpoint's data record names no file: pass --data-file FILE")
        if test_mask is not None and test_indices is not None:
            raise CLIError("pass either --test-mask FILE or --test-indices, not both")
        given = test_mask is not None or test_indices is not None
        if given and args.test_fraction is not None:
            raise CLIError("--test-fraction chooses a random split and --test-mask/--test-indices "
                           "give the test rows: pass one of them, not both")
        if test_indices is not None and args.split is not None:
            raise CLIError("--split chooses a random split (or a --test-mask column) and "
                           "--test-indices gives the test rows: pass one of them, not both")
        if given:
            mask = str(Path(test_mask).expanduser().resolve()) if test_mask is not None else None
            indices = _test_indices_arg(test_indices) if test_indices is not None else None
        else:   # the recorded given split, unless this command asks for a random one
            mask = rec.get("test_mask") if same and args.test_fraction is None else None
            indices = (rec.get("test_indices") if same and args.test_fraction is None
                       and args.split is None else None)

        def opt(key: str, default):
            value = getattr(args, key)
            return value if value is not None else (rec.get(key, default) if same else default)

        random_split = mask is None and indices is None
        if indices is not None:
            split = None
        elif given:                 # a new mask file: --split picks its column (default 0)
            split = args.split if args.split is not None else 0
        else:
            split = opt("split", 0)
        return {"name": "csv", "path": str(Path(path).resolve()), "target": opt("target", -1),
                "header": bool(args.header or (same and rec.get("header", False))),
                "test_fraction": opt("test_fraction", 0.1) if random_split else None,
                "split": split, "seed": opt("seed", 0),
                "test_mask": mask, "test_indices": indices}
    spec = {"name": name,
            "data_dir": args.data_dir or (rec.get("data_dir") if same else None),
            "split": args.split if args.split is not None else (rec.get("split", 0) if same else 0),
            "seed": args.seed if args.seed is not None else (rec.get("seed", 0) if same else 0),
            "n": args.n if args.n is not None else (rec.get("n", 400) if same else 400),
            "d": args.d if args.d is not None else (rec.get("d", 2) if same else 2)}
    return spec


def _load_data(spec: dict):
    """Load the data described by :func:`_data_spec` (CLIError on any problem)."""
    from .data import BUNDLED_DATA_DIR, SKLEARN_DATASETS, _dataset_folder, load_csv, load_dataset
    name = spec["name"]
    if name == "csv":
        mask, indices = spec.get("test_mask"), spec.get("test_indices")
        try:
            return load_csv(spec["path"], target=spec["target"], header=spec["header"],
                            test_fraction=spec["test_fraction"], split=spec["split"],
                            test_mask=mask, test_indices=indices)
        except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
            raise CLIError(f"could not load {spec['path']}: {exc}") from None
    root = spec["data_dir"]
    if name in SKLEARN_DATASETS:      # scikit-learn's files, never a folder: nothing to record
        spec["data_dir"] = root = None
    elif name != "rastrigin":
        if root is not None and not Path(root).expanduser().is_dir():
            raise CLIError(f"data directory not found: {root}")
        try:
            folder = _dataset_folder(name, root, also=("rastrigin",), sklearn=True)
        except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
            raise CLIError(str(exc)) from None
        # recorded: the folder's own name, and its directory unless it is the bundled one
        spec["name"] = name = folder.name
        bundled = folder.parent.resolve() == BUNDLED_DATA_DIR.resolve()
        spec["data_dir"] = None if bundled else str(folder.parent.resolve())
        root = folder.parent
    try:
        return load_dataset(name, root, spec["split"], seed=spec["seed"], n=spec["n"], d=spec["d"])
    except (ValueError, TypeError, FileNotFoundError, OSError, ImportError) as exc:
        raise CLIError(f"could not load data set {name!r}: {exc}") from None


def _load_checkpoint(path: str):
    """Read a checkpoint written by ``train``/``postprocess``: ``(model, metadata dict)``
    (:func:`torch_lipcvx.checkpoint.load_checkpoint`; its errors become :class:`CLIError`)."""
    from .checkpoint import CheckpointError, load_checkpoint
    try:
        ckpt = load_checkpoint(path)
    except (CheckpointError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    return ckpt.model, ckpt.meta


def _check_fits(model, data, path: str) -> None:
    if model.in_features != data.d:
        raise CLIError(f"model {path} expects {model.in_features} input features but data set "
                       f"{data.name!r} has d={data.d}")


def _save_checkpoint(model, path: str, data_spec: Optional[dict], config: dict,
                     loss: Optional[str] = None) -> Path:
    """Write a checkpoint with the command line's metadata: ``data``, ``config`` and, when
    given, ``loss`` (the number of outputs is the network's own record, see
    :mod:`torch_lipcvx.checkpoint`)."""
    from .checkpoint import save_checkpoint
    meta = {} if loss is None else {"loss": loss}
    return save_checkpoint(path, model, data=data_spec, config=config, **meta)


# ---------------------------------------------------------------------------- losses
#: ``--loss``: the regression losses, then the classification losses.
REGRESSION_LOSSES = ("squared", "huber")
CLASSIFICATION_LOSSES = ("logistic", "cross_entropy")
LOSS_CHOICES = REGRESSION_LOSSES + CLASSIFICATION_LOSSES


def _is_classification(data) -> bool:
    from .data import ClassificationData
    return isinstance(data, ClassificationData)


def _library_loss(loss: str) -> Optional[str]:
    """The library's ``loss=`` for a ``--loss`` name: ``None`` for the squared error (the
    library's default path, so a regression command computes exactly what it did before)."""
    return None if loss == "squared" else loss


def _check_loss(loss: str, data, k: Optional[int] = None, path: Optional[str] = None) -> None:
    """CLIError unless ``loss`` fits the data set (and a network with ``k`` outputs)."""
    from .data import ClassificationData
    name = data.name
    where = f"the checkpoint {path}'s loss {loss}" if path else f"--loss {loss}"
    if isinstance(data, ClassificationData):
        K = data.num_classes
        if loss in REGRESSION_LOSSES:
            raise CLIError(f"{where} is a regression loss and {name!r} is a classification set "
                           f"({K} classes): use --loss cross_entropy ({K} logits)"
                           + (" or --loss logistic (one output)" if K == 2 else ""))
        if loss == "logistic" and K != 2:
            raise CLIError(f"{where} is binary (one output) and {name!r} has {K} classes: use "
                           f"--loss cross_entropy ({K} logits)")
        want = 1 if loss == "logistic" else K
    else:
        if loss in CLASSIFICATION_LOSSES:
            raise CLIError(f"{where} is a classification loss and {name!r} is a regression set "
                           f"(a real-valued target): use --loss squared or --loss huber, or a "
                           f"classification set (breast_cancer, digits)")
        want = 1
    if k is not None and k != want:
        raise CLIError(f"model {path} has {k} output(s) but {loss} on {name!r} needs {want}")


def _resolve_loss(args, data, ckpt: Optional[dict] = None, model=None,
                  path: Optional[str] = None) -> str:
    """The loss of a command: the checkpoint's record (files written before losses were
    recorded: squared), else ``--loss``, else squared for a regression set and cross_entropy
    for a classification set. A ``--loss`` that contradicts the checkpoint is a CLIError, and
    so is a loss that does not fit the data or the network's number of outputs."""
    given = getattr(args, "loss", None)
    if ckpt is not None:
        recorded = str(ckpt.get("loss") or "squared")
        if given is not None and given != recorded:
            raise CLIError(f"--loss {given} does not match the checkpoint {path}, trained with "
                           f"loss {recorded}: leave --loss out (the checkpoint's loss is used)")
        loss = recorded
    else:
        loss = given or ("cross_entropy" if _is_classification(data) else "squared")
    if loss not in LOSS_CHOICES:
        raise CLIError(f"the checkpoint {path} records an unknown loss {loss!r} (expected one of "
                       f"{', '.join(LOSS_CHOICES)})")
    _check_loss(loss, data, None if model is None else model.out_features, path)
    return loss


def _norm(text: str) -> float:
    t = str(text).strip().lower()
    if t in ("2", "l2"):
        return 2.0
    if t in ("inf", "linf", "infinity"):
        return math.inf
    raise argparse.ArgumentTypeError(f"norm must be 2 or inf, got {text!r}")


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = minimum - 1
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return v
    return parse


_count = _int_at_least(1)       # sizes, epochs, iterations, steps
_index = _int_at_least(0)       # splits


def _seed(text: str) -> int:
    """An argparse type: a seed >= 0 that torch accepts (below 2**64)."""
    v = _index(text)
    try:
        return check_seed(v)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _real(check):
    """An argparse type from one of the library's number checks (its message, without a name:
    argparse names the option)."""
    def parse(text: str) -> float:
        try:
            return check(text, "")
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None
    return parse


_nonneg = _real(check_nonneg)       # a finite number >= 0
_positive = _real(check_positive)   # a finite number > 0


def _fraction(text: str) -> float:
    """An argparse type: a number in [0, 1) (a held-out fraction; the loaders' own check)."""
    from .data import _check_fraction
    try:
        return _check_fraction(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _open_fraction(text: str) -> float:
    """An argparse type: a number in (0, 1) (a share that must hold at least one row)."""
    v = _fraction(text)
    if v == 0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text!r}")
    return v


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only where there is a default to show (not ``None``/``False``:
    those options say in their help what happens when they are left out)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def _norm_name(norm: float) -> str:
    return "inf" if math.isinf(norm) else "2"


def _write_csv(path: str, rows: list[dict]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def _config(args) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), list)) else str(v))
            for k, v in vars(args).items() if k != "func"}


# ============================================================================ train
def _train(args: argparse.Namespace) -> int:
    from .train import train_pgd, train_sgd
    say = _say(args)
    if args.method == "sgd-lip" and args.lam is None:
        raise CLIError("--method sgd-lip needs --lam (the Lipschitz weight, penalty lam*L^2)")
    if args.method != "sgd-lip" and args.lam is not None:
        raise CLIError(f"--lam is for --method sgd-lip, not {args.method}")
    spec = _data_spec(args)
    data = _load_data(spec)
    loss = _resolve_loss(args, data)
    classify = _is_classification(data)
    k = data.num_classes if loss == "cross_entropy" else 1
    say(f"data: {data.name} split {spec['split']}: {data.n} training / {data.n_test} test rows, "
        f"d={data.d} (standardised)" + (f", {data.num_classes} classes" if classify else ""))
    say(f"training a {args.hidden}-unit ShallowReLU ({args.method}, {args.epochs} full-batch Adam "
        f"epochs, lr={args.lr:g}, beta={args.beta:g}"
        + (f", eps={args.eps:g}, norm={_norm_name(args.norm)}" if args.method == "pgd" else "")
        + (f", lam={args.lam:g}" if args.method == "sgd-lip" else "")
        + (f", loss={loss}, {k} output(s)" if loss != "squared" else "")
        + ") ...")
    kw = dict(hidden=args.hidden, beta=args.beta, epochs=args.epochs, lr=args.lr,
              seed=spec["seed"], verbose=not args.quiet, progress=_progress(args))
    if loss != "squared":
        kw.update(loss=loss, out_features=k)
    try:
        if args.method == "pgd":
            res = train_pgd(None, data.X_train, data.y_train, eps=args.eps, norm=args.norm, **kw)
        elif args.method == "sgd-lip":
            from .train import train_sgd_lip
            res = train_sgd_lip(None, data.X_train, data.y_train, lam=args.lam, **kw)
        else:
            res = train_sgd(None, data.X_train, data.y_train, **kw)
    except (ValueError, FloatingPointError) as exc:
        raise CLIError(f"training failed: {exc}") from None
    model = res.model
    if classify:
        from .metrics import accuracy
        train_acc = float(accuracy(model, data.X_train, data.y_train))
        test_acc = (float(accuracy(model, data.X_test, data.y_test)) if data.n_test
                    else float("nan"))
        scores = f"train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}"
    else:
        with torch.no_grad():
            train_mse = float(((model(data.X_train) - data.y_train) ** 2).mean())
            test_mse = (float(((model(data.X_test) - data.y_test) ** 2).mean())
                        if data.n_test else float("nan"))
        scores = f"train MSE {train_mse:.5f}, test MSE {test_mse:.5f}"
    config = _config(args)
    config["norm"] = _norm_name(args.norm)
    config["loss"] = loss
    out = _save_checkpoint(model, args.out, spec, config, loss)
    print(f"trained {data.name}: m={args.hidden}"
          + (f", k={k} outputs ({loss})" if k > 1 else f" ({loss})" if loss != "squared" else "")
          + f", {args.method}, {args.epochs} epochs in {res.wall_time:.1f} s; {scores}; "
          f"saved {out}")
    return 0


# ============================================================================ certify
def _certify(args: argparse.Namespace) -> int:
    from .bounds import lipschitz_bounds
    say = _say(args)
    model, ckpt = _load_checkpoint(args.model)
    X = None
    loss = str(ckpt.get("loss") or "squared")
    if args.loss is not None and args.loss != loss:
        raise CLIError(f"--loss {args.loss} does not match the checkpoint {args.model}, trained "
                       f"with loss {loss}: leave --loss out (the checkpoint's loss is used)")
    spec = _data_spec(args, ckpt, required=False) if (args.data or args.data_file) else None
    if spec is not None:
        data = _load_data(spec)
        _check_fits(model, data, args.model)
        _resolve_loss(args, data, ckpt, model, args.model)
        X = data.X_train
    k = model.out_features
    say(f"certifying {args.model} (d={model.in_features}, m={model.m}, "
        + (f"k={k} outputs, " if k > 1 else "") + f"norm={_norm_name(args.norm)}) ...")
    t0 = time.perf_counter()
    iv = lipschitz_bounds(model, args.norm, X=X, solver=args.solver)
    sec = time.perf_counter() - t0
    print(f"Lipschitz constant (l{_norm_name(args.norm)} input norm) in "
          f"[{iv.lower:.6g}, {iv.upper:.6g}]  (lower: {iv.lower_method}, upper: "
          f"{iv.upper_method}; gap x{iv.upper / iv.lower if iv.lower > 0 else float('inf'):.3g}; "
          f"{sec:.2f} s)")
    for method, val in sorted(iv.upper_bounds.items(), key=lambda kv: kv[1]):
        print(f"  upper bound {method:14s} {val:.6g}")
    result = {"model": str(args.model), "norm": _norm_name(args.norm), "lower": iv.lower,
              "upper": iv.upper, "lower_method": iv.lower_method,
              "upper_method": iv.upper_method, "upper_bounds": dict(iv.upper_bounds),
              "out_features": k, "loss": loss, "data": spec, "seconds": sec}
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}")
    if args.plot:
        from .plots import plot_lipschitz_interval
        png = plot_lipschitz_interval({Path(args.model).stem: iv}, args.plot,
                                      title=f"Lipschitz interval of {Path(args.model).name}")
        print(f"wrote {png}")
    return 0


# ============================================================================ postprocess
def _postprocess(args: argparse.Namespace) -> int:
    from .algorithm1.postprocess import postprocess
    say = _say(args)
    model, ckpt = _load_checkpoint(args.model)
    spec = _data_spec(args, ckpt)
    data = _load_data(spec)
    _check_fits(model, data, args.model)
    loss = _resolve_loss(args, data, ckpt, model, args.model)
    classify = _is_classification(data)
    X, y = data.X_train, data.y_train
    case = (f"Lipschitz case (Algorithm 1, lam={args.lam:g}, beta={args.beta:g}, "
            f"max_iter={args.max_iter})" if args.lam > 0 else
            f"l2 case (program (6), beta={args.beta:g})")
    say(f"post-processing {args.model} on {data.name} ({data.n} rows): {case}"
        + (f", loss {loss}" if loss != "squared" else "") + " ...")
    try:
        opts = None if args.time_limit is None else {"time_limit": args.time_limit}
        if opts is not None and not Solver.parse(args.solver).uses_torch:
            raise CLIError(f"--time-limit applies to the torch solvers (auto, torch, torch-cg), "
                           f"not to --solver {args.solver}")
        res = postprocess(model, X, y, lam=args.lam, beta=args.beta, max_iter=args.max_iter,
                          tol=args.tol, solver=args.solver, verbose=not args.quiet,
                          progress=_progress(args), loss=_library_loss(loss),
                          solver_options=opts)
    except ValueError as exc:
        raise CLIError(f"post-processing failed: {exc}") from None

    def test_score(net) -> Optional[float]:
        """Test MSE (regression) or test accuracy (classification)."""
        if not data.n_test:
            return None
        if classify:
            from .metrics import accuracy
            return float(accuracy(net, data.X_test, data.y_test))
        with torch.no_grad():
            return float(((net(data.X_test) - data.y_test) ** 2).mean())

    h0, h1 = res.history[0], res.history[-1]
    rows = [{"model": "input", "J": h0.objective, "mse": h0.mse, "test_mse": test_score(model),
             "L": h0.L, "time": 0.0},
            {"model": "post-processed", "J": h1.objective, "mse": h1.mse,
             "test_mse": test_score(res.model), "L": h1.L, "time": h1.time}]
    train_head = "train MSE" if loss == "squared" else f"train {loss} loss"
    test_head = "test accuracy" if classify else "test MSE"
    print()
    print(_table(rows, [("model", "model", "s"), ("J", "J", ".6f"), ("mse", train_head, ".5f"),
                        ("test_mse", test_head, ".5f"), ("L", "L (LipSDP)", ".4f"),
                        ("time", "time [s]", ".2f")]))
    print(f"J {res.objective_before:.6f} -> {res.objective_after:.6f} "
          f"({100 * res.improvement:.2f}% lower, {len(res.history) - 1} iteration(s); "
          f"{res.message})")
    config = _config(args)
    config["source"] = str(args.model)
    config["loss"] = loss
    out = _save_checkpoint(res.model, args.out, spec, config, loss)
    print(f"wrote {out}")
    if args.csv:
        table = res.history_table()
        rows_csv = [dict(zip(table, vals)) for vals in zip(*table.values())]
        print(f"wrote {_write_csv(args.csv, rows_csv)}")
    if args.plot:
        from .plots import plot_objective_history
        label = f"lam={args.lam:g}, beta={args.beta:g}"
        png = plot_objective_history({label: res}, args.plot,
                                     title=f"post-processing {Path(args.model).name} on "
                                           f"{data.name}")
        print(f"wrote {png}")
    return 0


# ============================================================================ select
def _select(args: argparse.Namespace) -> int:
    from .algorithm1.select import LamBudgetError, check_select_options, select_lam, \
        validation_split
    say = _say(args)
    lams = args.lams if args.lams is not None else None
    try:   # every selection setting before any work (argparse checked each alone)
        check_select_options(lams=lams, criterion=args.criterion, eps=args.eps, norm=args.norm,
                             L_budget=args.budget, budget_metric=args.budget_metric,
                             warm_start=args.warm_start, attack_steps=args.steps)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc).replace("L_budget", "L_budget (--budget)")) from None
    model, ckpt = _load_checkpoint(args.model)
    spec = _data_spec(args, ckpt)
    data = _load_data(spec)
    _check_fits(model, data, args.model)
    loss = _resolve_loss(args, data, ckpt, model, args.model)
    classify = _is_classification(data)
    X_fit, y_fit, X_val, y_val = validation_split(data.X_train, data.y_train, args.val_fraction,
                                                  seed=args.val_seed)
    say(f"choosing lam for {args.model} on {data.name}: fitting on {len(y_fit)} training rows, "
        f"validating on {len(y_val)} (--val-fraction {args.val_fraction:g}, --val-seed "
        f"{args.val_seed}); the {data.n_test} test rows are not used ...")
    try:
        sel = select_lam(model, X_fit, y_fit, X_val, y_val, lams=lams, criterion=args.criterion,
                         eps=args.eps, norm=args.norm, L_budget=args.budget,
                         budget_metric=args.budget_metric, beta=args.beta,
                         warm_start=args.warm_start, max_iter=args.max_iter, tol=args.tol,
                         solver=args.solver, attack_steps=args.steps, progress=_progress(args),
                         loss=_library_loss(loss))
    except LamBudgetError as exc:
        raise CLIError(str(exc)) from None
    rows = sel.rows()
    if classify:
        from .metrics import accuracy
    with torch.no_grad():
        for r, net in zip(rows, sel.models):
            dtype = next(net.parameters()).dtype
            if not data.n_test:
                r["test_acc" if classify else "test_mse"] = None
            elif classify:
                r["test_acc"] = float(accuracy(net, data.X_test.to(dtype), data.y_test))
            else:
                r["test_mse"] = float(((net(data.X_test.to(dtype))
                                        - data.y_test.to(dtype)) ** 2).mean())
            r["chosen"] = r is rows[sel.index]
    if classify:
        scores = [("val_acc", "val acc", ".4f"), ("val_robust_acc", "val PGD acc", ".4f"),
                  ("val_cert_acc", "val certified acc", ".4f"), ("test_acc", "test acc", ".4f")]
    else:
        scores = [("val_mse", "val MSE", ".5f"), ("val_adv_mse", "val PGD MSE", ".5f"),
                  ("test_mse", "test MSE", ".5f")]
    print()
    print(_table([{**r, "lam": "input" if not r["postprocessed"] else f"{r['lam']:g}",
                   "mark": "<-" if r["chosen"] else ""} for r in rows],
                 [("lam", "lam", "s"), ("objective", "train J", ".6f"), ("L", "L (LipSDP)", ".4f"),
                  *scores, ("mark", "", "s")]))
    what = (f"lam={sel.lam:g} (post-processed)" if sel.postprocessed
            else "the input network (no post-processing lowers the validation score)")
    print(f"chosen by {args.criterion}"
          + (f" (L <= {args.budget:g}, {args.budget_metric} "
             f"{'error' if classify else 'MSE'})" if args.criterion == "budget"
             else f" (eps={args.eps:g}, norm {_norm_name(args.norm)})"
             if args.criterion == "adversarial" else "") + f": {what}")
    config = _config(args)
    config.update(source=str(args.model), chosen_lam=sel.lam, postprocessed=sel.postprocessed,
                  loss=loss)
    out = _save_checkpoint(sel.model, args.out, spec, config, loss)
    print(f"wrote {out}")
    if args.csv:
        print(f"wrote {_write_csv(args.csv, rows)}")
    if args.plot:
        png = sel.plot(args.plot, title=f"choosing lam for {Path(args.model).name} on "
                                        f"{data.name}")
        print(f"wrote {png}")
    return 0


# ============================================================================ fit
def _fit(args: argparse.Namespace) -> int:
    from .algorithm1.select import LamBudgetError, check_select_options
    from .attacks import pgd_attack
    from .pipeline import check_fit_options, fit
    say = _say(args)
    try:   # every setting before any work (argparse checked each alone)
        check_select_options(lams=args.lams, criterion=args.criterion, eps=args.eps,
                             norm=args.norm, L_budget=args.budget,
                             budget_metric=args.budget_metric, attack_steps=args.steps)
        check_fit_options(start_lam=args.start_lam, val_fraction=args.val_fraction,
                          refit=args.refit, hidden=args.hidden, epochs=args.epochs,
                          max_iter=args.max_iter)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc).replace("L_budget", "L_budget (--budget)")) from None
    spec = _data_spec(args)
    data = _load_data(spec)
    loss = _resolve_loss(args, data)
    classify = _is_classification(data)
    seed = spec["seed"]
    say(f"data: {data.name} split {spec['split']}: {data.n} training / {data.n_test} test rows, "
        f"d={data.d} (standardised"
        + (f"; {data.num_classes} classes, loss {loss}" if classify
           else f"; loss {loss}" if loss != "squared" else "")
        + "); the test rows are only used for the final report")
    say(f"fit: SGD-lip (lam0={args.start_lam:g}, m={args.hidden}, {args.epochs} epochs) on "
        f"{1 - args.val_fraction:.0%} of the training rows, Algorithm 1 at "
        f"{len(args.lams) if args.lams else len(defaults.FIT_LAMS)} lam values, chosen by {args.criterion} on the "
        f"other {args.val_fraction:.0%}" + (", refit on all training rows" if args.refit else "")
        + " ...")
    try:
        res = fit(data.X_train, data.y_train, criterion=args.criterion, eps=args.eps,
                  norm=args.norm, L_budget=args.budget, budget_metric=args.budget_metric,
                  lams=args.lams, start_lam=args.start_lam, hidden=args.hidden,
                  epochs=args.epochs, lr=args.lr, beta=args.beta,
                  val_fraction=args.val_fraction, max_iter=args.max_iter, refit=args.refit,
                  solver=args.solver, attack_steps=args.steps, seed=seed,
                  progress=_progress(args), loss=_library_loss(loss))
    except LamBudgetError as exc:
        raise CLIError(str(exc)) from None
    sel = res.selection
    rows = sel.rows()
    for r in rows:
        r["mark"] = "<-" if r is rows[sel.index] else ""
        r["lam_s"] = "start" if not r["postprocessed"] else f"{r['lam']:g}"
    if not args.quiet:
        print()
        scores = ([("val_acc", "val acc", ".4f"), ("val_robust_acc", "val PGD acc", ".4f"),
                   ("val_cert_acc", "val certified acc", ".4f")] if classify else
                  [("val_mse", "val MSE", ".5f"), ("val_adv_mse", "val PGD MSE", ".5f")])
        print(_table(rows, [("lam_s", "lam", "s"), ("L", "L (LipSDP)", ".4f"), *scores,
                            ("time", "time s", ".2f"), ("mark", "", "s")]))
    model = res.model
    if classify:
        return _fit_classification_report(args, res, data, spec, loss, rows, seed)
    p = next(model.parameters())
    Xt, yt = data.X_test.to(p), data.y_test.to(p)
    summary = {"data": data.name, "lam": res.lam, "L_certified": res.L, "test_mse": None,
               "test_pgd_mse": None, "eps": args.eps, "norm": _norm_name(args.norm),
               **{f"time_{k}_s": v for k, v in res.times.items()}}
    if data.n_test:
        with torch.no_grad():
            summary["test_mse"] = float(((model(Xt).reshape(-1) - yt) ** 2).mean())
        if args.eps > 0:
            gen = torch.Generator().manual_seed(seed)
            summary["test_pgd_mse"] = float(pgd_attack(model, Xt, yt, args.eps, args.norm,
                                                       steps=args.steps, generator=gen).mse)
    scores = ("test MSE " + ("-" if summary["test_mse"] is None else f"{summary['test_mse']:.5f}")
              + (f", test PGD MSE (eps={args.eps:g}, {_norm_name(args.norm)}) "
                 f"{summary['test_pgd_mse']:.5f}" if summary["test_pgd_mse"] is not None else ""))
    _fit_outputs(args, res, data, spec, loss, rows, summary, scores)
    return 0


def _fit_outputs(args, res, data, spec: dict, loss: str, rows: list[dict], summary: dict,
                 scores: str) -> None:
    """``fit``'s summary line (the choice, ``scores`` on the test rows, the stage times) and
    its files: the checkpoint, then the optional CSV, JSON and plot."""
    chosen = (f"lam={res.lam:g}" if res.selection.postprocessed
              else f"the SGD-lip start (lam={res.lam:g})")
    print(f"fit {data.name}: chose {chosen}; certified L <= {res.L:.4f}; {scores}; "
          f"{res.times['total']:.1f} s (train {res.times['train']:.1f}, path "
          f"{res.times['path']:.1f}" + (f", refit {res.times['refit']:.1f}" if args.refit else "")
          + ")")
    config = _config(args)
    config["norm"] = _norm_name(args.norm)
    config.update(chosen_lam=res.lam, L_certified=res.L, loss=loss)
    out = _save_checkpoint(res.model, args.out, spec, config, loss)
    print(f"wrote {out}")
    if args.csv:
        print(f"wrote {_write_csv(args.csv, [{k: v for k, v in r.items() if k not in ('lam_s', 'mark')} for r in rows])}")
    if args.json:
        _check_writable(args.json, "--json")
        out_json = Path(args.json)
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps({**summary, **{k: v for k, v in res.summary().items()
                                                      if k not in summary}}, indent=1))
        print(f"wrote {out_json}")
    if args.plot:
        print(f"wrote {res.plot(args.plot, title=f'fit on {data.name}: choosing lam')}")


def _fit_classification_report(args, res, data, spec: dict, loss: str, rows: list[dict],
                               seed: int) -> int:
    """``fit`` on a classification set: the test rows' clean, PGD robust and certified
    accuracy at ``--eps`` (``--norm``) of the chosen network, then its files."""
    model = res.model
    summary = {"data": data.name, "loss": loss, "lam": res.lam, "L_certified": res.L,
               "test_acc": None, "test_robust_acc": None, "test_certified_acc": None,
               "eps": args.eps, "norm": _norm_name(args.norm),
               **{f"time_{k}_s": v for k, v in res.times.items()}}
    if data.n_test:
        from .metrics import accuracy_curve, certified_lipschitz
        L = res.L if args.norm == 2 else certified_lipschitz(model, args.norm)
        score = accuracy_curve(model, data.X_test, data.y_test, [args.eps], lipschitz=L,
                               norm=args.norm, steps=args.steps, seed=seed)[0]
        summary.update(test_acc=score["clean_acc"], test_robust_acc=score["robust_acc"],
                       test_certified_acc=score["certified_acc"])
    acc = ("-" if summary["test_acc"] is None else
           f"{summary['test_acc']:.4f}, at eps={args.eps:g} ({_norm_name(args.norm)}) PGD "
           f"{summary['test_robust_acc']:.4f}, certified {summary['test_certified_acc']:.4f}")
    _fit_outputs(args, res, data, spec, loss, rows, summary, f"test accuracy {acc}")
    return 0


# ============================================================================ attack
def _attack(args: argparse.Namespace) -> int:
    from .attacks import certified_squared_error_bound, pgd_attack
    from .bounds import lipschitz_bounds
    say = _say(args)
    loaded = [(path, *_load_checkpoint(path)) for path in args.model]
    spec = _data_spec(args, loaded[0][2])
    data = _load_data(spec)
    X, y = data.X_test, data.y_test
    which = "test"
    if data.n_test == 0:
        X, y, which = data.X_train, data.y_train, "training"
    losses = []
    for path, model, meta in loaded:
        _check_fits(model, data, path)
        losses.append(_resolve_loss(args, data, meta, model, path))
    if any(e < 0 or not math.isfinite(e) for e in args.eps):
        raise CLIError(f"--eps values must be finite and >= 0, got {args.eps}")
    stems = [Path(p).stem for p in args.model]
    labels = stems if len(set(stems)) == len(stems) else [str(p) for p in args.model]
    if _is_classification(data):
        return _attack_classifiers(args, loaded, labels, losses, data, X, y, which)
    say(f"attacking {len(loaded)} model(s) on {data.name} ({which} rows: {X.shape[0]}), "
        f"norm={_norm_name(args.norm)}, eps={args.eps}, {args.steps} PGD steps ...")
    rows = []
    for label, (path, model, _) in zip(labels, loaded):
        L = lipschitz_bounds(model, args.norm, solver=args.solver).upper
        for eps in args.eps:
            gen = torch.Generator().manual_seed(args.seed if args.seed is not None else 0)
            adv = float(pgd_attack(model, X, y, eps, args.norm, steps=args.steps,
                                   restarts=args.restarts, generator=gen).mse)
            cert = float(certified_squared_error_bound(model, X, y, eps, L).mean())
            rows.append({"model": label, "eps": eps, "norm": _norm_name(args.norm),
                         "pgd_mse": adv, "certified_mse": cert, "L_upper": L})
            say(f"  {label}: eps={eps:g}  PGD MSE {adv:.5f}  certified <= {cert:.5f}")
    return _attack_report(args, rows, [("pgd_mse", "PGD MSE (lower)", ".5f"),
                                       ("certified_mse", "certified MSE (upper)", ".5f")],
                          "plot_adversarial_mse",
                          f"{data.name} {which} set, ℓ{_norm_name(args.norm)} PGD "
                          f"({args.steps} steps) vs certified bound")


def _attack_report(args, rows: list[dict], columns: list[tuple], plot: str, title: str) -> int:
    """``attack``'s output: the table (model, eps, ``columns``, L upper), the CSV and the plot
    (the function ``plot`` of :mod:`torch_lipcvx.plots`, loaded only then) when asked for."""
    print()
    print(_table(rows, [("model", "model", "s"), ("eps", "eps", "g"), *columns,
                        ("L_upper", "L upper", ".4f")]))
    if args.csv:
        print(f"wrote {_write_csv(args.csv, rows)}")
    if args.plot:
        from . import plots
        print(f"wrote {getattr(plots, plot)(rows, args.plot, title=title)}")
    return 0


def _attack_classifiers(args, loaded, labels, losses, data, X, y, which: str) -> int:
    """``attack`` on a classification set: clean, PGD robust and certified accuracy per
    model and radius (CSV rows: model, loss, eps, norm, clean_acc, robust_acc, certified_acc,
    L_upper)."""
    from .bounds import lipschitz_bounds
    from .metrics import accuracy_curve
    say = _say(args)
    seed = args.seed if args.seed is not None else 0
    say(f"attacking {len(loaded)} classifier(s) on {data.name} ({which} rows: {X.shape[0]}, "
        f"{data.num_classes} classes), norm={_norm_name(args.norm)}, eps={args.eps}, "
        f"{args.steps} PGD steps (cross-entropy and margin) ...")
    rows = []
    for label, loss, (path, model, _) in zip(labels, losses, loaded):
        L = lipschitz_bounds(model, args.norm, solver=args.solver).upper
        for r in accuracy_curve(model, X, y, args.eps, lipschitz=L, norm=args.norm,
                                steps=args.steps, restarts=args.restarts, seed=seed):
            rows.append({"model": label, "loss": loss, "eps": r["eps"],
                         "norm": _norm_name(args.norm), "clean_acc": r["clean_acc"],
                         "robust_acc": r["robust_acc"], "certified_acc": r["certified_acc"],
                         "L_upper": L})
            say(f"  {label}: eps={r['eps']:g}  clean {r['clean_acc']:.4f}  PGD robust "
                f"{r['robust_acc']:.4f}  certified {r['certified_acc']:.4f}")
    return _attack_report(args, rows, [("clean_acc", "clean acc", ".4f"),
                                       ("robust_acc", "PGD robust acc (upper)", ".4f"),
                                       ("certified_acc", "certified acc (lower)", ".4f")],
                          "plot_accuracy",
                          f"{data.name} {which} set, ℓ{_norm_name(args.norm)} PGD "
                          f"({args.steps} steps) vs certified accuracy")


# ============================================================================ bench
def _bench(args: argparse.Namespace) -> int:
    from .bounds import lipsdp
    from .data import rastrigin
    from .algorithm1.postprocess import postprocess
    from .train import train_sgd
    data = rastrigin(args.n, args.d, seed=args.seed, test_fraction=0.0)
    X, y = data.X_train, data.y_train
    t0 = time.perf_counter()
    net = train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=defaults.LR,
                    seed=args.seed, progress=False).model
    t_train = time.perf_counter() - t0
    print(f"rastrigin n={data.n} d={data.d}, m={args.hidden}, lam={args.lam:g} "
          f"(training {args.epochs} epochs: {t_train:.2f} s)")
    w = net.weights()
    times, cert = [], None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cert = lipsdp(w, solver=args.solver)
        times.append(time.perf_counter() - t0)
    print(f"LipSDP ({args.solver}, reduced form): L={cert.L:.6f}  "
          f"best {min(times):.3f} s of {args.repeat}")
    t0 = time.perf_counter()
    res = postprocess(net, X, y, lam=args.lam, max_iter=1, tol=0.0, solver=args.solver,
                      progress=False)
    sec = time.perf_counter() - t0
    step = res.history[-1].solve_time if len(res.history) > 1 else float("nan")
    print(f"one post-processing step (Algorithm 1, max_iter=1): {sec:.3f} s total "
          f"(solver {step:.3f} s); J {res.objective_before:.6f} -> {res.objective_after:.6f}")
    return 0


def _add_progress_option(p: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress``: tqdm bars on stderr for the long steps (training,
    Algorithm 1). Left out: on, unless ``TORCH_LIPCVX_PROGRESS=0`` or ``--quiet``."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr for training and post-processing [default: on; "
                        "off with --quiet or TORCH_LIPCVX_PROGRESS=0]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torch-lipcvx",
        description="Certified Lipschitz bounds and convex post-processing of shallow ReLU "
                    "networks.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version of torch_lipcvx and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="SGD, SGD-lip and the fit pipeline side by side, then the guarantee, on "
                     "built-in rastrigin data; --task classification: a digits classifier "
                     "before and after post-processing",
        description="On synthetic rastrigin data (no download): train SGD and SGD-lip and run "
                    "the recommended pipeline (fit), and print their certified L, clean and PGD "
                    "test MSE and time; then post-process the SGD net in the l2 case (program "
                    "(6)) and the Lipschitz case (Algorithm 1), print a before/after table of "
                    "the objective J, and write a plot of its history and a JSON summary. "
                    "With --task classification: on scikit-learn's digits (standardised), train "
                    "a ShallowReLU classifier on the cross-entropy, certify it (LipSDP, l2), "
                    "post-process it by Algorithm 1 at one fixed lam, attack both (l2 PGD) and "
                    "print their clean, PGD robust and certified test accuracy and certified L; "
                    "write a plot of accuracy against eps and a JSON summary.",
        formatter_class=_HelpFormatter)
    demo.add_argument("--task", choices=["regression", "classification"], default="regression",
                      help="regression: rastrigin, SGD vs SGD-lip vs fit, then the guarantee; "
                           "classification: a digits classifier certified, post-processed and "
                           "attacked, accuracy before and after")
    given = dict(action=_Given)      # the classification demo's own defaults replace the rest
    C = _DEMO_CLASSIFICATION
    demo.add_argument("--n", type=_count, default=400, **given,
                      help="rastrigin points (10%% held out); classification: a seeded "
                           "subsample of this many training images [default there: all]")
    demo.add_argument("--d", type=_count, default=2, **given,
                      help="input dimension (regression only)")
    demo.add_argument("--hidden", type=_count, default=defaults.HIDDEN, **given,
                      help=f"hidden units m (classification: {C['hidden']})")
    demo.add_argument("--epochs", type=_count, default=defaults.EPOCHS, **given,
                      help=f"full-batch Adam epochs (classification: {C['epochs']})")
    demo.add_argument("--lr", type=_positive, default=defaults.LR, **given,
                      help="Adam learning rate")
    demo.add_argument("--beta", type=_nonneg, default=defaults.DEMO_BETA, **given,
                      help="l2 weight of training and of the l2 case (> 0, so that the l2 "
                           "case is more than least squares)")
    demo.add_argument("--lam", type=_nonneg, default=defaults.LAM, **given,
                      help=f"Lipschitz weight on L^2 (classification: {C['lam']:g})")
    demo.add_argument("--max-iter", type=_count, default=defaults.MAX_ITER, **given,
                      help=f"Algorithm 1 iterations at most (classification: {C['max_iter']})")
    demo.add_argument("--tol", type=_nonneg, default=defaults.TOL,
                      help="relative decrease to stop")
    demo.add_argument("--eps", type=_nonneg, nargs="+", default=defaults.SELECT_EPS, **given,
                      help="PGD radius (l2, standardised input units) of the comparison and of "
                           "fit's validation criterion (0: clean MSE); classification: the "
                           "table's radii, one or more (default there: "
                           + " ".join(f"{e:g}" for e in C["eps"]) + ")")
    demo.add_argument("--solver", default=DEFAULT, type=_solver_name, metavar="SOLVER",
                      help=_SOLVER_HELP)
    demo.add_argument("--seed", type=_seed, default=defaults.SEED,
                      help="data and initialisation seed")
    demo.add_argument("--out", default="torch_lipcvx_demo", help="output folder")
    demo.add_argument("--quiet", action="store_true", help="only print the final table")
    _add_progress_option(demo)
    demo.set_defaults(func=_demo)

    fmt = _HelpFormatter

    def data_options(p, help_default: str) -> None:
        g = p.add_argument_group("data", help_default)
        g.add_argument("--data", default=None, metavar="NAME",
                       help="data set: synthetic rastrigin, a bundled UCI set (servo, machine, "
                            "solar, wine), scikit-learn's diabetes (regression) or "
                            "breast_cancer and digits (classification; these three need the "
                            "extra: pip install 'torch_lipcvx[sklearn]'), or any data set "
                            "folder NAME under --data-dir")
        g.add_argument("--data-dir", default=None, metavar="DIR",
                       help="folder holding NAME/data.csv.gz and NAME/test_mask.csv.gz, one "
                            "folder per data set [default: $TORCH_LIPCVX_DATA if set, then the "
                            "bundled sets]")
        g.add_argument("--split", type=_index, default=None,
                       help="train/test split: a column of the data set's (or --test-mask's) "
                            "mask (bundled sets: 0..9), the seed of --data-file's random split, "
                            "or rastrigin's draw [default 0]")
        g.add_argument("--n", type=_count, default=None, help="rastrigin rows [default 400]")
        g.add_argument("--d", type=_count, default=None, help="rastrigin dimension [default 2]")
        g.add_argument("--seed", type=_seed, default=None, help="rastrigin/initialisation/attack "
                                                              "seed [default 0]")
        g.add_argument("--data-file", default=None, metavar="FILE",
                       help="your own data instead of --data: a comma-separated numeric table "
                            "(.csv or .csv.gz), one row per example, named after the file; "
                            "--split picks a seeded random train/test split (or give "
                            "--test-mask/--test-indices), standardised like the UCI sets")
        g.add_argument("--target", type=int, default=None,
                       help="--data-file: index of the target column, negative from the end "
                            "[default -1, the last]")
        g.add_argument("--header", action="store_true",
                       help="--data-file: the first line holds column names")
        g.add_argument("--test-fraction", type=_fraction, default=None,
                       help="--data-file: fraction of rows held out for testing [default 0.1]")
        g.add_argument("--test-mask", default=None, metavar="MASKFILE",
                       help="--data-file: the test rows as a file of 0/1 values, one per data "
                            "row (no header; .csv or .csv.gz); with several columns, one per "
                            "split, --split picks the column")
        g.add_argument("--test-indices", default=None, metavar="ROWS",
                       help="--data-file: the test rows' 0-based indices, comma-separated "
                            "(e.g. 3,17,42) or a file of them")

    def loss_option(p, from_checkpoint: bool) -> None:
        p.add_argument("--loss", choices=LOSS_CHOICES, default=None,
                       help=("the loss the checkpoint was trained with [default: its record; "
                             "another value is an error]") if from_checkpoint else
                            ("the training loss: squared or huber (regression sets), "
                             "cross_entropy (one logit per class) or logistic (two classes, one "
                             "output) [default: squared for a regression set, cross_entropy "
                             "for a classification set]"))

    def common(p) -> None:
        p.add_argument("--solver", default=DEFAULT, type=_solver_name, metavar="SOLVER",
                       help=_SOLVER_HELP)
        p.add_argument("--quiet", action="store_true", help="only print the results")
        _add_progress_option(p)

    def selection_options(p, eps_help: str) -> None:
        """How a λ is chosen on validation rows (``select`` and ``fit``)."""
        p.add_argument("--criterion", choices=["adversarial", "clean", "budget"],
                       default="adversarial", help="what the validation rows choose by")
        p.add_argument("--eps", type=_nonneg, default=defaults.SELECT_EPS, help=eps_help)
        p.add_argument("--norm", type=_norm, default=2.0, help="attack norm: 2 or inf")
        p.add_argument("--steps", type=_count, default=defaults.SELECT_ATTACK_STEPS,
                       help="PGD steps of the validation attack")
        p.add_argument("--budget", type=_positive, default=None,
                       help="--criterion budget: the largest certified L allowed")
        p.add_argument("--budget-metric", choices=["clean", "adversarial"], default="clean",
                       help="--criterion budget: the validation error minimised under the budget")

    tr = sub.add_parser(
        "train", help="train a ShallowReLU and save a checkpoint",
        description="Train a one-hidden-layer ReLU network with full-batch Adam (--method sgd), "
                    "Madry-style PGD adversarial training (--method pgd) or Adam on MSE + "
                    "lam*L^2 with the certified LipSDP L differentiated through its dual "
                    "(--method sgd-lip --lam LAM) on standardised "
                    "data, print progress about every 10% of the epochs and save a checkpoint "
                    "(state_dict, architecture, loss, data and options) for the other "
                    "subcommands. On a classification set the network has one logit per class "
                    "(--loss cross_entropy, the default) or one output (--loss logistic, two "
                    "classes).",
        formatter_class=fmt)
    data_options(tr, "default: rastrigin (n=400, d=2, split 0, seed 0)")
    loss_option(tr, False)
    tr.add_argument("--hidden", type=_count, default=defaults.HIDDEN, help="hidden units m")
    tr.add_argument("--epochs", type=_count, default=defaults.EPOCHS, help="full-batch epochs")
    tr.add_argument("--lr", type=_positive, default=defaults.LR, help="Adam learning rate")
    tr.add_argument("--beta", type=_nonneg, default=defaults.BETA,
                    help="l2 weight (beta/2)*||theta||^2")
    tr.add_argument("--method", choices=["sgd", "pgd", "sgd-lip"], default="sgd",
                    help="plain training, PGD adversarial training, or Lipschitz-regularised "
                         "training (certified LipSDP penalty)")
    tr.add_argument("--lam", type=_nonneg, default=None,
                    help="Lipschitz weight for --method sgd-lip: the loss is MSE + lam*L^2")
    tr.add_argument("--eps", type=_nonneg, default=0.1, help="PGD training radius (--method pgd)")
    tr.add_argument("--norm", type=_norm, default=2.0, help="PGD training norm: 2 or inf")
    tr.add_argument("--out", default="model.pt", help="checkpoint to write")
    tr.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_progress_option(tr)
    tr.set_defaults(func=_train, data_default="rastrigin")

    ce = sub.add_parser(
        "certify", help="lower and upper bounds on a checkpoint's Lipschitz constant",
        description="Certify a checkpoint: a LipSDP (and naive) upper bound and a sampled-"
                    "gradient lower bound on its Lipschitz constant. Prints the interval with "
                    "the method of each end and every upper bound; optionally writes JSON and "
                    "a plot of the interval.", formatter_class=fmt)
    ce.add_argument("--model", required=True, help="checkpoint from train/postprocess")
    ce.add_argument("--norm", type=_norm, default=2.0, help="input norm: 2 or inf")
    data_options(ce, "optional: training inputs seed the lower-bound search (none by default)")
    loss_option(ce, True)
    ce.add_argument("--json", default=None, help="write the interval as JSON here")
    ce.add_argument("--plot", default=None, help="write a PNG of the interval here")
    common(ce)
    ce.set_defaults(func=_certify)

    pp = sub.add_parser(
        "postprocess", help="convex post-processing (Algorithm 1 / program (6)) of a checkpoint",
        description="Post-process a checkpoint on its training data: with --lam > 0, "
                    "Algorithm 1 minimises MSE + lam*L^2 + (beta/2)*||theta||^2 (L certified by "
                    "LipSDP); with --lam 0, one solve of program (6) (l2 case). J never "
                    "increases. Prints one line per iteration and a before/after table; writes "
                    "the new checkpoint, optionally the history (CSV) and a plot.",
        formatter_class=fmt)
    pp.add_argument("--model", required=True, help="checkpoint from train")
    data_options(pp, "default: the data recorded in the checkpoint")
    loss_option(pp, True)
    pp.add_argument("--lam", type=_nonneg, default=defaults.LAM,
                    help="weight of L^2 (0: l2 case)")
    pp.add_argument("--beta", type=_nonneg, default=defaults.BETA, help="l2 weight")
    pp.add_argument("--max-iter", type=_count, default=defaults.MAX_ITER,
                    help="Algorithm 1 iterations at most")
    pp.add_argument("--tol", type=_nonneg, default=defaults.TOL,
                    help="stop below this relative decrease")
    pp.add_argument("--time-limit", type=_positive, default=None, metavar="SECONDS",
                    help="stop each convex solve after this many seconds at its last feasible "
                         "iterate (torch solvers; the step is kept only if J does not increase)")
    pp.add_argument("--out", default="model_postprocessed.pt", help="checkpoint to write")
    pp.add_argument("--csv", default=None, help="write the iteration history as CSV here")
    pp.add_argument("--plot", default=None, help="write a PNG of the history here")
    common(pp)
    pp.set_defaults(func=_postprocess)

    se = sub.add_parser(
        "select", help="choose lam on held-out data: Algorithm 1 over a lam grid, each "
                       "candidate scored on a validation share of the training rows",
        description="Run Algorithm 1 for each lam of --lams (each from the input network; "
                    "--warm-start: from the previous lam's result) on the checkpoint's training rows "
                    "less a validation share; score every candidate, the input network "
                    "included, on that share (clean MSE, PGD MSE at --eps, or the lowest error "
                    "with certified L <= --budget) and save the best. The validation rows: "
                    "round(--val-fraction * n_train) of the training rows drawn with "
                    "--val-seed; the test rows are never used (their MSE is printed only).",
        formatter_class=fmt)
    se.add_argument("--model", required=True, help="checkpoint from train")
    data_options(se, "default: the data recorded in the checkpoint")
    loss_option(se, True)
    selection_options(se, "PGD radius of the validation attack (standardised input units)")
    se.add_argument("--lams", type=_positive, nargs="+", default=None,
                    help="the lam grid [default: 9 log-spaced values from 1e-4 to 1]")
    se.add_argument("--beta", type=_nonneg, default=defaults.BETA, help="l2 weight")
    se.add_argument("--warm-start", action=argparse.BooleanOptionalAction,
                    default=defaults.SELECT_WARM_START,
                    help="start each lam from the previous lam's result (else from the input, "
                         "the default)")
    se.add_argument("--max-iter", type=_count, default=defaults.MAX_ITER,
                    help="Algorithm 1 iterations at most, per lam")
    se.add_argument("--tol", type=_nonneg, default=defaults.TOL,
                    help="stop below this relative decrease")
    se.add_argument("--val-fraction", type=_open_fraction, default=defaults.SELECT_VAL_FRACTION,
                    help="share of the training rows held out for validation")
    se.add_argument("--val-seed", type=_seed, default=defaults.SEED,
                    help="seed of the validation rows' draw")
    se.add_argument("--out", default="model_selected.pt", help="checkpoint to write")
    se.add_argument("--csv", default=None, help="write the lam path (one row per candidate) here")
    se.add_argument("--plot", default=None, help="write a PNG of the path here")
    common(se)
    se.set_defaults(func=_select)

    fi = sub.add_parser(
        "fit", help="the recommended pipeline: SGD-lip, a convex lam-path, lam chosen on "
                    "held-out rows, a certified network",
        description="Train SGD-lip (Adam on MSE + lam0*L^2, L certified by LipSDP) on the "
                    "training rows less a validation share, run Algorithm 1 from it at each lam "
                    "of --lams, choose the candidate (the start included) with the best "
                    "validation score (PGD MSE at --eps, clean MSE, or the lowest error with "
                    "certified L <= --budget), refit it by Algorithm 1 on all training rows, and "
                    "save it. Prints the path, then the chosen lam, the certified L and the test "
                    "rows' clean and PGD MSE (the test rows are used for nothing else).",
        formatter_class=fmt)
    data_options(fi, "default: servo (bundled UCI set), split 0")
    loss_option(fi, False)
    selection_options(fi, "PGD radius of the validation attack and of the test report "
                          "(standardised input units)")
    fi.add_argument("--lams", type=_positive, nargs="+", default=None,
                    help="the lam path [default: 1e-3 3e-2 1e-1 3e-1 1; the start (--start-lam) "
                         "is a candidate anyway]")
    fi.add_argument("--start-lam", type=_positive, default=defaults.FIT_START_LAM,
                    help="SGD-lip's lam0 for the start network")
    fi.add_argument("--hidden", type=_count, default=defaults.HIDDEN, help="hidden units m")
    fi.add_argument("--epochs", type=_count, default=defaults.EPOCHS,
                    help="SGD-lip's full-batch Adam epochs")
    fi.add_argument("--lr", type=_positive, default=defaults.LR, help="Adam learning rate")
    fi.add_argument("--beta", type=_nonneg, default=defaults.BETA, help="l2 weight")
    fi.add_argument("--max-iter", type=_count, default=defaults.FIT_MAX_ITER,
                    help="Algorithm 1 restriction solves per lam")
    fi.add_argument("--val-fraction", type=_open_fraction, default=defaults.SELECT_VAL_FRACTION,
                    help="share of the training rows held out for validation (drawn with --seed)")
    fi.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True,
                    help="refit the chosen network by Algorithm 1 on all training rows")
    fi.add_argument("--solver", default=DEFAULT, type=_solver_name, metavar="SOLVER",
                    help=_SOLVER_HELP)
    fi.add_argument("--out", default="model_fit.pt", help="checkpoint to write")
    fi.add_argument("--csv", default=None, help="write the lam path (one row per candidate) here")
    fi.add_argument("--json", default=None, help="write the summary as JSON here")
    fi.add_argument("--plot", default=None, help="write a PNG of the path here")
    fi.add_argument("--quiet", action="store_true", help="only print the result lines")
    _add_progress_option(fi)
    fi.set_defaults(func=_fit, data_default="servo")

    at = sub.add_parser(
        "attack", help="PGD adversarial test MSE vs the certified bound (classifiers: clean, "
                       "PGD robust and certified accuracy), per model and eps",
        description="For each checkpoint and radius eps: the PGD adversarial MSE on the test "
                    "rows (a lower bound on the worst case) and the certified upper bound "
                    "mean((|f(x)-y| + L*eps)^2) with L the certified Lipschitz upper bound. "
                    "Prints a table; optionally writes CSV and a plot. For classifiers: the "
                    "clean accuracy, the PGD robust accuracy (cross-entropy and margin attacks; "
                    "an upper bound on the true one) and the certified accuracy from the "
                    "Lipschitz margin (a lower bound) instead.", formatter_class=fmt)
    at.add_argument("--model", required=True, action="append",
                    help="checkpoint (repeat for several models)")
    data_options(at, "default: the data recorded in the first checkpoint (test rows)")
    loss_option(at, True)
    at.add_argument("--norm", type=_norm, default=2.0, help="attack norm: 2 or inf")
    at.add_argument("--eps", type=_nonneg, nargs="+", default=[0.0, 0.05, 0.1, 0.2],
                    help="radii, in standardised input units")
    at.add_argument("--steps", type=_count, default=20, help="PGD steps")
    at.add_argument("--restarts", type=_count, default=1, help="PGD random restarts")
    at.add_argument("--csv", default=None, help="write the table as CSV here")
    at.add_argument("--plot", default=None, help="write a PNG (MSE, or accuracy, vs eps) here")
    common(at)
    at.set_defaults(func=_attack)

    be = sub.add_parser(
        "bench", help="quick timing of LipSDP and one post-processing step",
        description="Small, quick version of benchmarks/bench_postprocess.py: train on "
                    "rastrigin, then time LipSDP and one step of Algorithm 1 (a few seconds at "
                    "the defaults).", formatter_class=fmt)
    be.add_argument("--n", type=_count, default=200, help="rastrigin rows")
    be.add_argument("--d", type=_count, default=2, help="input dimension")
    be.add_argument("--hidden", type=_count, default=20, help="hidden units m")
    be.add_argument("--epochs", type=_count, default=300, help="training epochs")
    be.add_argument("--lam", type=_nonneg, default=defaults.LAM, help="Lipschitz weight")
    be.add_argument("--repeat", type=_count, default=3, help="LipSDP repetitions")
    be.add_argument("--seed", type=_seed, default=defaults.SEED,
                    help="data and initialisation seed")
    be.add_argument("--solver", default=DEFAULT, type=_solver_name, metavar="SOLVER",
                    help=_SOLVER_HELP)
    be.set_defaults(func=_bench)
    return parser


#: Output options checked before any work: (option, whether it names a folder).
_OUTPUT_OPTIONS = ("out", "json", "csv", "plot")


def _check_writable(path: str, option: str, folder: bool = False) -> None:
    """Raise :class:`CLIError` if ``path`` (a file, or a folder if ``folder``) cannot be
    written: a parent that is a file, a missing write permission, a file where a folder is
    needed or the other way round. Missing parent folders are fine (they are created)."""
    p = Path(path).expanduser()
    try:
        if folder and p.exists() and not p.is_dir():
            raise CLIError(f"cannot write {option} {path}: it exists and is not a folder")
        if not folder and p.is_dir():
            raise CLIError(f"cannot write {option} {path}: it is a folder; give a file name")
        anc = p if folder else p.parent
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        if anc.exists() and not anc.is_dir():
            raise CLIError(f"cannot write {option} {path}: {anc} is a file, not a folder")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise CLIError(f"cannot write {option} {path}: no permission to write in {anc}")
        if not folder and p.exists() and not os.access(p, os.W_OK):
            raise CLIError(f"cannot write {option} {path}: no permission to overwrite it")
    except OSError as exc:      # e.g. a name too long for the file system
        raise CLIError(f"cannot write {option} {path}: {exc.strerror or exc}") from None


def _check_outputs(args: argparse.Namespace) -> None:
    """Check every output path of the command before any work is done."""
    for key in _OUTPUT_OPTIONS:
        value = getattr(args, key, None)
        if value:
            _check_writable(str(value), f"--{key}", folder=(args.command == "demo" and key == "out"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``torch-lipcvx`` command.

    Returns the exit code: 0 on success, 2 on a bad input, 1 when a convex solver fails (one
    line on stderr either way). Argument errors and ``--help`` raise ``SystemExit`` (code 2 and
    0) as argparse does.
    """
    from .solvers import SolverError
    args = build_parser().parse_args(argv)
    if (getattr(args, "data_default", None) and args.data is None
            and getattr(args, "data_file", None) is None):
        args.data = args.data_default
    try:
        _check_outputs(args)
        return args.func(args)
    except (CLIError, ValueError) as exc:
        # ValueError: the library's own checks of a setting that argparse could not judge
        # alone (e.g. a rastrigin too small to split); a message naming the problem either way
        print(f"torch-lipcvx {args.command}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except SolverError as exc:
        # not the user's input: the solver's own status, which names what to try instead
        print(f"torch-lipcvx {args.command}: error: solver failed: {' '.join(str(exc).split())}",
              file=sys.stderr, flush=True)
        return 1
    except OSError as exc:
        # a file that cannot be read or written after all (disk full, permissions changed
        # during the run...): one line naming the file, never a traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        what = exc.strerror or " ".join(str(exc).split())
        print(f"torch-lipcvx {args.command}: error: {where}{what}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
