"""A classifier end to end: train, certify, post-process, attack; clean, robust and certified
accuracy before and after.

    python examples/classification.py [--lam 1e-2] [--out results/classification] [--fit]
    python examples/classification.py --hidden 8 --epochs 60 --max-iter 1   (seconds)

Data: the breast cancer set bundled with scikit-learn (``torch_lipcvx.data.load_breast_cancer``,
569 rows × 30 features, 2 classes; features standardised with the training statistics, 57 test
rows). The network has two logits (``k = 2``) and integer labels.

1. ``train_sgd(..., loss="cross_entropy")``: Adam on the softmax cross-entropy;
2. ``lipschitz_bounds``: the certified ℓ2 Lipschitz bound ``L`` of the logit map ``x ↦ f(x)``;
3. ``postprocess(..., loss="cross_entropy", lam=λ)``: Algorithm 1 on
   ``J = (1/n)Σ CE(f(x_i), y_i) + (β/2)‖θ‖² + λL²``, never worse than its start in ``J``;
4. at each ℓ2 radius ``eps`` (standardised input units): clean accuracy
   (``metrics.accuracy``), robust accuracy under PGD on the margin (``metrics.robust_accuracy``,
   an upper bound on the true robust accuracy) and certified accuracy from the Lipschitz margin
   (``metrics.certified_accuracy``: margin ``> √2·L·eps``, a lower bound). The attack itself is
   ``attacks.pgd_classification``; the script checks that it never breaks a certified point.

With ``--fit`` it also runs the recommended pipeline from scratch,
``tl.fit(X, y, loss="cross_entropy", ...)``: SGD-lip, then Algorithm 1 at each ``--fit-lams``,
``λ`` chosen on held-out robust accuracy at ``--fit-eps`` (the selection table also shows
validation clean and certified accuracy), and reports the same test accuracies.

Prints the tables and writes ``<out>/classification.png`` (accuracy against ``eps``: robust and
certified, before and after post-processing). ``main`` returns ``{"rows": [...], "fit": ...}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import torch_lipcvx as tl
from torch_lipcvx import metrics
from torch_lipcvx.attacks import certified_radius, pgd_classification
from torch_lipcvx.data import load_breast_cancer


def evaluate(name: str, model, X, y, L: float, eps_list, steps: int) -> list[dict]:
    """Clean, robust (PGD, margin loss) and certified accuracy of ``model`` at each radius."""
    rows = []
    clean = float(metrics.accuracy(model, X, y))
    radius = certified_radius(model, X, y, L, norm=2)
    for eps in eps_list:
        gen = torch.Generator().manual_seed(0)
        robust = float(metrics.robust_accuracy(model, X, y, eps, norm=2, steps=steps, restarts=2,
                                               generator=gen, loss="margin"))
        cert = float(metrics.certified_accuracy(model, X, y, eps, L, norm=2))
        # the attack never misclassifies a point certified at this radius
        atk = pgd_classification(model, X, y, eps, norm=2, steps=steps, loss="margin",
                                 generator=torch.Generator().manual_seed(1))
        assert not bool(((radius > eps) & (atk.margin <= 0)).any())
        rows.append({"model": name, "eps": eps, "clean": clean, "robust": robust,
                     "certified": cert, "L": L})
    return rows


def print_rows(rows: list[dict]) -> None:
    print(f"{'model':20s} {'L upper':>8s} {'eps':>5s} {'clean':>6s} {'robust':>6s} "
          f"{'cert.':>6s}")
    for r in rows:
        print(f"{r['model']:20s} {r['L']:8.3f} {r['eps']:5.2f} {r['clean']:6.3f} "
              f"{r['robust']:6.3f} {r['certified']:6.3f}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--lam", type=float, default=1e-2, help="λ of the post-processing")
    p.add_argument("--beta", type=float, default=1e-3)
    p.add_argument("--max-iter", type=int, default=5, help="Algorithm 1's restriction solves")
    p.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.5, 1.0],
                   help="ℓ2 radii in standardised input units")
    p.add_argument("--steps", type=int, default=20, help="PGD steps")
    p.add_argument("--fit", action="store_true",
                   help="also run tl.fit(X, y, loss='cross_entropy'): lam chosen on held-out "
                        "robust accuracy")
    p.add_argument("--fit-lams", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    p.add_argument("--fit-eps", type=float, default=0.25,
                   help="PGD radius of tl.fit's validation robust accuracy")
    p.add_argument("--fit-epochs", type=int, default=30, help="SGD-lip epochs of tl.fit")
    p.add_argument("--fit-max-iter", type=int, default=2,
                   help="Algorithm 1's restriction solves per lam in tl.fit")
    p.add_argument("--out", default="results/classification", help="folder for the plot")
    args = p.parse_args(argv)

    data = load_breast_cancer(split=0)
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    print(f"{data.name}: n_train={X.shape[0]}, n_test={Xt.shape[0]}, d={X.shape[1]}, "
          f"{data.num_classes} classes, m={args.hidden}, lam={args.lam:g}, beta={args.beta:g}")

    net = tl.train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=1e-2,
                       beta=args.beta, seed=0, loss="cross_entropy").model
    res = tl.postprocess(net, X, y, lam=args.lam, beta=args.beta, loss="cross_entropy",
                         max_iter=args.max_iter)
    post = res.model
    print(f"J (cross-entropy, lam={args.lam:g}): {res.history[0].objective:.5f} -> "
          f"{res.history[-1].objective:.5f}")
    rows = []
    for name, model in (("SGD", net), (f"C-lip (lam={args.lam:g})", post)):
        iv = tl.lipschitz_bounds(model, norm=2, X=X)
        print(f"{name}: {iv}")
        rows += evaluate(name, model, Xt, yt, iv.upper, args.eps, args.steps)
    print_rows(rows)

    fit_rows = None
    if args.fit:
        fit = tl.fit(X, y, loss="cross_entropy", hidden=args.hidden, epochs=args.fit_epochs,
                     lams=args.fit_lams, eps=args.fit_eps, norm=2, beta=args.beta,
                     max_iter=args.fit_max_iter, seed=0, progress=False)
        sel = fit.selection
        chosen = "the SGD-lip start" if sel.index == 0 else f"lam={sel.lam:g}"
        print(f"\ntl.fit: {chosen} chosen on held-out robust accuracy at eps={args.fit_eps:g} "
              f"({fit.n_val} validation rows); final network: Algorithm 1 at lam={fit.lam:g} on "
              f"all training rows, certified L={fit.L:.3f} ({fit.times['total']:.1f} s)")
        print(f"{'lam':>8s} {'L':>8s} {'val acc':>8s} {'val rob':>8s} {'val cert':>8s}")
        for i, r in enumerate(sel.rows()):
            lam = "start" if i == 0 else f"{r['lam']:8.3g}"
            mark = "  <- chosen" if i == sel.index else ""
            print(f"{lam:>8s} {r['L']:8.3f} {r['val_acc']:8.3f} "
                  f"{r['val_robust_acc']:8.3f} {r['val_cert_acc']:8.3f}{mark}")
        fit_rows = evaluate(f"fit (lam={fit.lam:g})", fit.model, Xt, yt, fit.L, args.eps,
                            args.steps)
        print_rows(fit_rows)

    from torch_lipcvx.plots import plot_accuracy

    path = plot_accuracy(
        [{"model": f"{r['model']} (L ≤ {r['L']:.3g})", "eps": r["eps"], "clean_acc": r["clean"],
          "robust_acc": r["robust"], "certified_acc": r["certified"]}
         for r in rows + (fit_rows or [])],
        Path(args.out) / "classification.png",
        title=f"{data.name}: clean, PGD robust and certified test accuracy")
    print(f"plot: {path}")
    return {"rows": rows, "fit": fit_rows, "J_before": res.history[0].objective,
            "J_after": res.history[-1].objective}


if __name__ == "__main__":
    main()
