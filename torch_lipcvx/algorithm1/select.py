"""λ chosen on held-out data (docs/algorithm1.md §3.6): :func:`select_lam`.

Algorithm 1 lowers ``J = MSE + (β/2)‖θ‖² + λ L²`` on the training data for the ``λ`` it is
given, but nothing in ``J`` says which ``λ`` a user should take: a larger ``λ`` buys a smaller
certified ``L`` at the price of fit, and whether that helps the error on new (or attacked) inputs
depends on the data. :func:`select_lam` runs Algorithm 1 on the training data for a grid of
``λ``, scores every candidate on a validation split the post-processing never saw, and returns
the best one by a stated criterion:

* ``"adversarial"``: the lowest PGD validation MSE at radius ``eps`` in ``norm``
  (:func:`~torch_lipcvx.attacks.pgd_attack`, seeded);
* ``"clean"``: the lowest clean validation MSE;
* ``"budget"``: the lowest validation MSE (clean, or adversarial with ``budget_metric``) among
  the candidates whose certified ``L`` is at most ``L_budget``.

The input network itself (no post-processing) is always a candidate, the table's first row, so
the answer can honestly be "don't post-process". Units: ``L`` is the certified ℓ2 Lipschitz
upper bound (LipSDP) in output units per input unit; ``eps`` in the input units the model sees;
MSEs in squared output units (docs/conventions.md).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from .. import defaults
from .._checks import (as_tensor, check_nonneg, check_norm, check_positive, check_positive_int,
                       check_seed, check_X, check_Xy)
from .._progress import check_progress, progress_bar
from ..models import ShallowReLU
from ..losses import LossLike, SquaredError, get_loss
from ..objective import check_inputs
from ..solvers import DEFAULT, Solver, SolverLike
from .postprocess import PostProcessResult, postprocess

__all__ = ["LamSelection", "LamBudgetError", "select_lam", "validation_split",
           "check_select_options", "CRITERIA"]

#: The criteria of :func:`select_lam`.
CRITERIA = ("adversarial", "clean", "budget")

#: The validation errors the ``"budget"`` criterion can minimise.
BUDGET_METRICS = ("clean", "adversarial")


class LamBudgetError(ValueError):
    """No candidate of :func:`select_lam` (the input network included) has a certified ``L`` at
    most ``L_budget``; the message gives the smallest ``L`` reached and at which ``λ``."""


@dataclass(kw_only=True)
class LamSelection:
    """What :func:`select_lam` returns.

    Attributes:
        lam: the chosen ``λ``; ``0.0`` when the input network was chosen (no post-processing).
        model: the chosen network, a NEW :class:`ShallowReLU` on the input's device and dtype (a
            copy of the input when it was chosen); the user's model is never modified.
        postprocessed: whether the chosen network is a post-processed one.
        index: the chosen row of :attr:`table`.
        criterion, eps, norm, L_budget, budget_metric: the settings the choice was made with.
        table: one row per candidate, as columns (lists of equal length), row 0 the input network:
            ``lam`` (0 for the input), ``postprocessed``, ``objective`` (training ``J`` at the
            row's own ``λ``), ``objective_start`` (``J`` at that ``λ`` of the network the run
            started from; never below ``objective``), ``train_mse``, ``L`` (certified ℓ2 upper
            bound), ``val_mse`` (clean), ``val_adv_mse`` (PGD at ``eps``, ``norm``), ``feasible``
            (``L ≤ L_budget``; all ``True`` without a budget), ``score`` (the criterion's value;
            ``inf`` for rows outside the budget), ``iterations``, ``time`` (seconds of the run),
            ``message``.
        results: the :class:`~torch_lipcvx.algorithm1.postprocess.PostProcessResult` of each
            ``λ`` in increasing order (``results[i]`` is row ``i + 1``).
        models: every candidate network, row by row (``models[0]`` is a copy of the input).
        warm_start: whether each ``λ`` started from the previous ``λ``'s result.
        total_time: wall seconds of the whole call.
    """

    lam: float
    model: ShallowReLU
    postprocessed: bool
    index: int
    criterion: str
    eps: float
    norm: float
    L_budget: Optional[float]
    budget_metric: str
    table: dict[str, list]
    results: list[PostProcessResult] = field(default_factory=list)
    models: list[ShallowReLU] = field(default_factory=list)
    warm_start: bool = False
    total_time: float = 0.0

    @property
    def lams(self) -> np.ndarray:
        """``(K,)`` the post-processing ``λ`` values, increasing (the input's row left out)."""
        return np.asarray(self.table["lam"][1:], dtype=float)

    def rows(self) -> list[dict]:
        """:attr:`table` as one dict per candidate (for CSV or printing)."""
        return [dict(zip(self.table, vals)) for vals in zip(*self.table.values())]

    @property
    def chosen(self) -> dict:
        """The chosen row of :attr:`table`."""
        return self.rows()[self.index]

    def plot(self, path, title: str = ""):
        """Validation scores and certified ``L`` against ``λ`` (PNG; returns its path). See
        :func:`torch_lipcvx.plots.plot_lam_selection`."""
        from ..plots import plot_lam_selection
        return plot_lam_selection(self, path, title=title)

    def __repr__(self) -> str:
        row = self.chosen
        what = (f"lam={self.lam:g} (post-processed)" if self.postprocessed
                else "the input network (no post-processing)")
        scores = (f"val_acc={row['val_acc']:.4g}, val_robust_acc={row['val_robust_acc']:.4g}, "
                  f"val_cert_acc={row['val_cert_acc']:.4g}" if "val_acc" in row else
                  f"val_mse={row['val_mse']:.6g}, val_adv_mse={row['val_adv_mse']:.6g}")
        return (f"LamSelection({what}; criterion={self.criterion!r}, {scores}, "
                f"L={row['L']:.6g}; {len(self.table['lam'])} candidates, "
                f"{self.total_time:.1f}s)")


def default_lams() -> np.ndarray:
    """:data:`torch_lipcvx.defaults.SELECT_LAMS` as an array."""
    return np.asarray(defaults.SELECT_LAMS, dtype=float)


def _check_lams(lams) -> np.ndarray:
    """A non-empty, increasing array of distinct finite ``λ > 0``."""
    if lams is None:
        return default_lams()
    if isinstance(lams, (str, bytes)):
        raise ValueError(f"lams must be a 1-D sequence of numbers > 0, got {lams!r}")
    try:
        arr = (lams.detach().cpu().double().numpy() if isinstance(lams, Tensor)
               else np.asarray(lams, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"lams must be a 1-D sequence of numbers > 0, got {lams!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lams must be a non-empty 1-D sequence of numbers > 0, got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"lams contains NaN/Inf: {arr.tolist()}")
    if np.any(arr <= 0):
        raise ValueError(f"lams must all be > 0 (the input network, 'no post-processing', is "
                         f"always a candidate), got min {arr.min():g}")
    arr = np.unique(arr)              # sorted, duplicates dropped
    return arr


def validation_split(X, y, fraction: float = defaults.SELECT_VAL_FRACTION,
                     seed: int = defaults.SEED) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Hold out a seeded share of the TRAINING rows for validation (the CLI's rule).

    ``round(fraction · n)`` rows (at least 1, and at least 1 left to fit), drawn by
    ``torch.randperm(n)`` with a CPU generator seeded ``seed``, become the validation rows; the
    others, in their original order, the rows to fit. Pass only training rows: the test rows
    must stay out of both.

    Args:
        X: ``(n, d)``; y: ``(n,)``, ``n ≥ 2`` (or ``(n, k)`` targets, or integer class labels
            ``(n,)``, kept in their dtype).
        fraction: share held out, ``0 < fraction < 1``.
        seed: the draw's seed.

    Returns:
        ``(X_fit, y_fit, X_val, y_val)``, slices of the inputs (same dtype and device).

    Raises:
        ValueError: bad shapes, fewer than 2 rows, a fraction outside (0, 1).
    """
    y_raw = as_tensor(y, "y")
    if y_raw.dim() == 2 and y_raw.shape[1] > 1 or not (y_raw.is_floating_point()
                                                       or y_raw.dtype == torch.bool):
        # k-output targets (n, k) or integer class labels: kept as they are
        X = check_X(X, "X")
        if y_raw.shape[0] != X.shape[0]:
            raise ValueError(f"y must have one row per row of X ({X.shape[0]}), got shape "
                             f"{tuple(y_raw.shape)}")
        y = y_raw
    else:
        X, y = check_Xy(X, y)
    fraction = check_positive(fraction, "fraction")
    if not fraction < 1:
        raise ValueError(f"fraction must be in (0, 1) (the share of rows held out for "
                         f"validation), got {fraction!r}")
    seed = check_seed(seed)
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"validation_split needs at least 2 rows (one to fit, one to "
                         f"validate), got {n}")
    n_val = min(max(1, round(fraction * n)), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val = torch.zeros(n, dtype=torch.bool)
    val[perm[:n_val]] = True
    val = val.to(X.device)
    return X[~val], y[~val], X[val], y[val]


def _class_scores(net: nn.Module, X_val: Tensor, y_val: Tensor, eps: float, norm: float,
                  steps: int, restarts: int, seed: int, L2: float) -> tuple[float, float, float]:
    """Clean, PGD robust and certified validation accuracy of a classifier
    (:func:`~torch_lipcvx.metrics.accuracy_curve`); the certificate is ``L2`` for ℓ2 and a
    fresh ℓ∞ bound for ``norm = inf`` (docs/attacks.md §4)."""
    from ..metrics import accuracy_curve, certified_lipschitz
    L = L2 if norm == 2 else certified_lipschitz(net, norm)
    row = accuracy_curve(net, X_val, y_val, [eps], lipschitz=L, norm=norm, steps=steps,
                         restarts=restarts, seed=seed)[0]
    return row["clean_acc"], row["robust_acc"], row["certified_acc"]


def _val_scores(net: nn.Module, X_val: Tensor, y_val: Tensor, eps: float, norm: float,
                steps: int, restarts: int, seed: int) -> tuple[float, float]:
    """Clean and PGD validation MSE of ``net`` (the same seeded attack for every candidate;
    ``‖f(x) − y‖²`` per row for ``k`` outputs)."""
    from ..attacks import pgd_attack
    p = next(net.parameters())
    X = X_val.to(device=p.device, dtype=p.dtype)
    y = y_val.to(device=p.device, dtype=p.dtype)
    with torch.no_grad():
        r2 = (net(X).reshape(y.shape) - y) ** 2
        clean = float((r2.sum(dim=1) if r2.dim() == 2 else r2).double().mean())
    if eps == 0:
        return clean, clean
    gen = torch.Generator(device=p.device).manual_seed(seed)
    adv = pgd_attack(net, X, y, eps, norm, steps=steps, restarts=restarts, generator=gen)
    return clean, float(adv.mse.double())


def check_select_options(*, lams=None, criterion: str = "adversarial",
                         eps: float = defaults.SELECT_EPS, norm: Union[float, str] = 2,
                         L_budget: Optional[float] = None, budget_metric: str = "clean",
                         warm_start: bool = defaults.SELECT_WARM_START,
                         attack_steps: int = defaults.SELECT_ATTACK_STEPS,
                         attack_restarts: int = 1, seed: int = defaults.SEED) -> dict:
    """The selection settings of :func:`select_lam`, checked (named ``ValueError``/``TypeError``)
    and normalised: ``lams`` an increasing array, ``norm`` 2.0 or inf, ``L_budget`` a float or
    ``None``. (Used by the Lightning callback to check them at construction.)"""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if budget_metric not in BUDGET_METRICS:
        raise ValueError(f"budget_metric must be one of {BUDGET_METRICS}, got {budget_metric!r}")
    if criterion == "budget":
        if L_budget is None:
            raise ValueError("criterion='budget' needs L_budget, the largest certified Lipschitz "
                             "bound allowed (a number > 0)")
        L_budget = check_positive(L_budget, "L_budget")
    elif L_budget is not None:
        raise ValueError(f"L_budget is only used with criterion='budget', got criterion="
                         f"{criterion!r} and L_budget={L_budget!r}")
    if not isinstance(warm_start, bool):
        raise TypeError(f"warm_start must be True or False, got {warm_start!r}")
    return {"lams": _check_lams(lams), "criterion": criterion, "eps": check_nonneg(eps, "eps"),
            "norm": check_norm(norm), "L_budget": L_budget, "budget_metric": budget_metric,
            "warm_start": warm_start,
            "attack_steps": check_positive_int(attack_steps, "attack_steps"),
            "attack_restarts": check_positive_int(attack_restarts, "attack_restarts"),
            "seed": check_seed(seed)}


def select_lam(model: nn.Module, X, y, X_val, y_val, *,
               lams: Union[Sequence[float], np.ndarray, Tensor, None] = None,
               criterion: Literal["adversarial", "clean", "budget"] = "adversarial",
               eps: float = defaults.SELECT_EPS, norm: Union[float, str] = 2,
               L_budget: Optional[float] = None,
               budget_metric: Literal["clean", "adversarial"] = "clean",
               beta: float = defaults.BETA, warm_start: bool = defaults.SELECT_WARM_START,
               max_iter: int = defaults.MAX_ITER, tol: float = defaults.TOL,
               solver: SolverLike = DEFAULT, solver_options: Optional[dict] = None,
               attack_steps: int = defaults.SELECT_ATTACK_STEPS, attack_restarts: int = 1,
               seed: int = defaults.SEED, progress: Optional[bool] = None,
               loss: LossLike = None) -> LamSelection:
    """Choose ``λ`` of Algorithm 1 on held-out data; the input network is always a candidate.

    For each ``λ`` of ``lams`` in increasing order, :func:`~torch_lipcvx.postprocess` runs on the
    training data ``(X, y)``; every candidate (the input network and each result) is then scored
    on the validation data ``(X_val, y_val)`` — clean MSE and PGD MSE at ``eps`` in ``norm``
    (the same seeded attack for all) — and the chosen one is the argmin of the criterion over
    the table (ties: the earlier row, so the input network wins a tie).

    Starts: with ``warm_start=False`` (the default) every ``λ`` starts from the input network,
    so ``J_λ(result) ≤ J_λ(input)`` for every row. With ``warm_start=True`` each ``λ`` starts
    from the previous ``λ``'s result (the first from the input network); each run is then still
    never worse than ITS OWN start for its own ``J`` (``J_λ(result) ≤ J_λ(start)``, the table's
    ``objective`` ≤ ``objective_start``), but not necessarily below ``J_λ`` of the input
    network. On servo both gave the same validation scores within 1.2% at every ``λ`` and the
    same choice, and cold starts were not slower (docs/algorithm1.md §3.6).

    Args:
        model: :class:`ShallowReLU` or ``nn.Sequential(Linear, ReLU, Linear(·, 1))``. Never
            modified.
        X, y: ``(n, d)`` and ``(n,)`` training data (what post-processing fits).
        X_val, y_val: ``(n_val, d)`` and ``(n_val,)`` validation data, in the same units; keep
            them apart from the test rows, which should judge the chosen network afterwards.
        lams: ``λ > 0`` to try (sorted, duplicates dropped); default
            :data:`~torch_lipcvx.defaults.SELECT_LAMS` (9 points, 1e-4 … 1, log-spaced).
        criterion: ``"adversarial"`` (default), ``"clean"`` or ``"budget"`` (see the module doc).
        eps: PGD radius ``≥ 0`` on the validation rows, in input units (default
            :data:`~torch_lipcvx.defaults.SELECT_EPS`); ``eps = 0`` makes the adversarial MSE the
            clean one.
        norm: the attack norm, ``2`` or ``inf``.
        L_budget: ``γ > 0``, the largest certified ``L`` allowed; required by ``"budget"`` and
            only used there.
        budget_metric: the validation error ``"budget"`` minimises: ``"clean"`` (default) or
            ``"adversarial"``.
        beta, max_iter, tol, solver, solver_options: as in :func:`~torch_lipcvx.postprocess`.
        warm_start: see above.
        attack_steps, attack_restarts: PGD steps per restart and restarts (``≥ 1``).
        seed: seed of the attack's random starts.
        progress: a tqdm bar over the ``λ`` (``None``: when stderr is a terminal).
        loss: the loss of ``J`` (as :func:`~torch_lipcvx.postprocess`). For a classification
            loss (``"logistic"``, ``"cross_entropy"``) the candidates are scored on validation
            *accuracy* instead of MSE: ``"clean"`` minimises the error ``1 − accuracy``,
            ``"adversarial"`` the robust error ``1 − robust accuracy`` (PGD on the
            cross-entropy and on the margin at ``eps``, a point counting as robust only if
            both fail), and the table also has the certified accuracy from the row's
            certificate (docs/attacks.md §4); ``val_mse``/``val_adv_mse`` are then NaN.
            Regression losses keep the MSE scores (``‖f(x) − y‖²`` per row for ``k``
            outputs).

    Returns:
        :class:`LamSelection`: the chosen ``λ`` and network, the whole table, every result.

    Raises:
        ValueError, TypeError: a bad argument (named), before any work; shapes of ``X_val`` that
            do not match the model.
        LamBudgetError: (a ``ValueError``) no candidate has ``L ≤ L_budget``; the message gives
            the smallest ``L`` reached.
        SolverError: as :func:`~torch_lipcvx.postprocess`.
    """
    start = time.perf_counter()
    opts = check_select_options(lams=lams, criterion=criterion, eps=eps, norm=norm,
                                L_budget=L_budget, budget_metric=budget_metric,
                                warm_start=warm_start, attack_steps=attack_steps,
                                attack_restarts=attack_restarts, seed=seed)
    lam_arr, eps, norm, L_budget = opts["lams"], opts["eps"], opts["norm"], opts["L_budget"]
    attack_steps, attack_restarts, seed = (opts["attack_steps"], opts["attack_restarts"],
                                           opts["seed"])
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_nonneg(tol, "tol")
    Solver.parse(solver, solver_options)
    show = check_progress(progress)
    net, _, X, y, _, beta = check_inputs(model, X, y, 0.0, beta, loss)
    lossf = get_loss(loss)
    general = net.out_features > 1 or not isinstance(lossf, SquaredError)
    try:
        if general:
            X_val = check_X(X_val, "X_val", net.in_features)
            y_val = lossf.targets(y_val, X_val.shape[0], net.out_features)
        else:
            X_val, y_val = check_Xy(X_val, y_val, net.in_features)
    except ValueError as exc:
        raise ValueError(f"validation data (X_val, y_val): {exc}") from None
    X_val = X_val.detach().to("cpu", torch.float64)
    y_val = (y_val.detach().to("cpu", torch.float64) if y_val.is_floating_point()
             else y_val.detach().cpu())
    classify = lossf.classification

    # ---- the path
    net0 = copy.deepcopy(net)        # postprocess never modifies it either; a copy to return
    results: list[PostProcessResult] = []
    times: list[float] = []
    current: nn.Module = net0
    with progress_bar(show, len(lam_arr), "select_lam") as bar:
        for lam in lam_arr:
            t0 = time.perf_counter()
            res = postprocess(current if warm_start else net0, X, y, lam=float(lam), beta=beta,
                              max_iter=max_iter, tol=tol, solver=solver,
                              solver_options=solver_options, progress=False,
                              loss=None if not general else lossf)
            times.append(time.perf_counter() - t0)
            results.append(res)
            current = res.model
            bar.update(1, lam=float(lam), L=res.history[-1].L)

    # ---- the table (row 0: the input network; history[0] of the first run is the input,
    # warm or cold, with its certificate)
    first = results[0].history[0]
    input_J = first.objective - float(lam_arr[0]) * first.rho      # J at lam = 0
    models: list[ShallowReLU] = [copy.deepcopy(net0)] + [r.model for r in results]
    keys = ("lam", "postprocessed", "objective", "objective_start", "train_mse", "L", "val_mse",
            "val_adv_mse", "feasible", "score", "iterations", "time", "message")
    if classify:
        keys = keys + ("val_acc", "val_robust_acc", "val_cert_acc")
    table: dict[str, list] = {k: [] for k in keys}

    def add(lam, pp, J, J0, mse, L, net_k, it, secs, msg):
        extra = ()
        if classify:
            acc, rob, cert = _class_scores(net_k, X_val, y_val, eps, norm, attack_steps,
                                           attack_restarts, seed, L)
            clean, adv = 1.0 - acc, 1.0 - rob           # the errors the criteria minimise
            extra = (("val_acc", acc), ("val_robust_acc", rob), ("val_cert_acc", cert))
        else:
            clean, adv = _val_scores(net_k, X_val, y_val, eps, norm, attack_steps,
                                     attack_restarts, seed)
        feasible = True if L_budget is None else bool(L <= L_budget)
        metric = clean if (criterion == "clean" or (criterion == "budget"
                                                     and budget_metric == "clean")) else adv
        for key, v in (("lam", lam), ("postprocessed", pp), ("objective", J),
                       ("objective_start", J0), ("train_mse", mse), ("L", L),
                       ("val_mse", math.nan if classify else clean),
                       ("val_adv_mse", math.nan if classify else adv), ("feasible", feasible),
                       ("score", metric if feasible else math.inf), ("iterations", it),
                       ("time", secs), ("message", msg)) + extra:
            table[key].append(v)

    add(0.0, False, input_J, input_J, first.mse, first.L, models[0], 0, 0.0,
        "the input network (no post-processing)")
    for lam, res, secs, net_k in zip(lam_arr, results, times, models[1:]):
        h0, h1 = res.history[0], res.history[-1]
        add(float(lam), True, h1.objective, h0.objective, h1.mse, h1.L, net_k,
            h1.iteration, secs, res.message)

    if not any(table["feasible"]):
        k = int(np.argmin(table["L"]))
        where = "the input network" if k == 0 else f"lam={table['lam'][k]:g}"
        raise LamBudgetError(
            f"no candidate has a certified L <= L_budget={L_budget:g}: the smallest L reached "
            f"is {table['L'][k]:.6g} ({where}); raise L_budget or add larger lams (largest "
            f"tried: {lam_arr[-1]:g})")
    index = int(np.argmin(np.asarray(table["score"], dtype=float)))
    chosen = models[index] if index > 0 else copy.deepcopy(models[0])
    return LamSelection(
        lam=float(table["lam"][index]), model=chosen, postprocessed=index > 0, index=index,
        criterion=criterion, eps=eps, norm=norm, L_budget=L_budget, budget_metric=budget_metric,
        table=table, results=results, models=models, warm_start=warm_start,
        total_time=time.perf_counter() - start)
