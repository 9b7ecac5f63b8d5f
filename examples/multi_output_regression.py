"""A 3-output regressor end to end: train, certify, post-process, attack.

    python examples/multi_output_regression.py [--lam 1e-2] [--out results/multi_output]
    python examples/multi_output_regression.py --hidden 8 --epochs 60 --max-iter 1   (seconds)

Data: the diabetes set bundled with scikit-learn (``torch_lipcvx.data.load_diabetes``, 442
patients × 10 features, one target: disease progression after one year, standardised with the
training statistics). It has one target, so the three outputs are built from it by fixed maps,
stated here rather than dressed up as a real multi-output set:

    y₁ = y,    y₂ = tanh(2y),    y₃ = y² − 1        (y the standardised target)

so the network must learn three related but differently shaped responses at once.

Steps (docs/losses.md for k outputs):

1. ``train_sgd(..., out_features=3)``: Adam on the squared error ``‖f(x) − y‖²`` (summed over
   the outputs), a ``ShallowReLU(10, m, out_features=3)``;
2. ``lipschitz_bounds``: the ℓ2 interval of the whole output map ``x ↦ f(x) ∈ R³`` (sampled
   Jacobian spectral norms ≤ L ≤ LipSDP with the outer weight matrix AAᵀ);
3. ``postprocess(..., lam=λ)``: Algorithm 1 on ``J = (1/n)Σ‖f(x_i) − y_i‖² + (β/2)‖θ‖² + λL²``,
   never worse than its start in ``J``;
4. ``pgd_attack`` with ``(n, 3)`` targets: ℓ2 PGD on ``‖f(x + δ) − y‖²`` (a lower bound on the
   worst case) at each ``--eps``.

Prints a table (test MSE = (1/n)Σ‖f(x_i) − y_i‖², PGD test MSE per radius, the certified
interval, J) for the trained and the post-processed network and writes
``<out>/multi_output_regression.png`` (PGD test MSE against the radius, both networks).
``main`` returns the rows as dicts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import torch_lipcvx as tl
from torch_lipcvx.attacks import pgd_attack
from torch_lipcvx.data import load_diabetes


def three_targets(y: torch.Tensor) -> torch.Tensor:
    """``(n,)`` standardised target → ``(n, 3)``: ``[y, tanh(2y), y² − 1]``."""
    return torch.stack([y, torch.tanh(2 * y), y ** 2 - 1], dim=1)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--lam", type=float, default=1e-2, help="λ of the post-processing")
    p.add_argument("--beta", type=float, default=1e-3)
    p.add_argument("--max-iter", type=int, default=5, help="Algorithm 1's restriction solves")
    p.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.5],
                   help="ℓ2 PGD radii in standardised input units")
    p.add_argument("--steps", type=int, default=20, help="PGD steps")
    p.add_argument("--out", default="results/multi_output", help="folder for the plot")
    args = p.parse_args(argv)

    data = load_diabetes(split=0)
    X, Y = data.X_train, three_targets(data.y_train)
    Xt, Yt = data.X_test, three_targets(data.y_test)

    net = tl.train_sgd(None, X, Y, hidden=args.hidden, epochs=args.epochs, lr=1e-2,
                       beta=args.beta, seed=0, out_features=3).model
    post = tl.postprocess(net, X, Y, lam=args.lam, beta=args.beta, max_iter=args.max_iter).model

    rows = []
    for name, model in (("SGD", net), (f"C-lip (lam={args.lam:g})", post)):
        iv = tl.lipschitz_bounds(model, norm=2, X=X)
        J = tl.objective(model, X, Y, lam=args.lam, beta=args.beta)
        with torch.no_grad():
            test_mse = float(((model(Xt) - Yt) ** 2).sum(dim=1).mean())
        pgd = [float(pgd_attack(model, Xt, Yt, eps, norm=2, steps=args.steps,
                                generator=torch.Generator().manual_seed(0)).loss.mean())
               for eps in args.eps]
        rows.append({"model": name, "test_mse": test_mse, "pgd_mse": pgd, "eps": list(args.eps),
                     "L_lower": iv.lower, "L_upper": iv.upper, "J": J.value})

    print(f"{data.name}: 3 outputs [y, tanh(2y), y^2 - 1], n_train={X.shape[0]}, "
          f"n_test={Xt.shape[0]}, d={X.shape[1]}, m={args.hidden}, lam={args.lam:g}, "
          f"beta={args.beta:g}")
    head = " ".join(f"{'PGD@' + format(e, 'g'):>9s}" for e in args.eps)
    print(f"{'model':18s} {'test MSE':>9s} {head} {'L lower':>8s} {'L upper':>8s} {'J':>9s}")
    for r in rows:
        pgd = " ".join(f"{v:9.4f}" for v in r["pgd_mse"])
        print(f"{r['model']:18s} {r['test_mse']:9.4f} {pgd} {r['L_lower']:8.4f} "
              f"{r['L_upper']:8.4f} {r['J']:9.5f}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in rows:
        ax.plot(r["eps"], r["pgd_mse"], marker="o",
                label=f"{r['model']} (L ≤ {r['L_upper']:.3g})")
    ax.set_xlabel("ℓ2 radius ε (standardised inputs)")
    ax.set_ylabel("PGD test MSE (sum over 3 outputs)")
    ax.set_title(f"{data.name}, 3 outputs")
    ax.legend()
    fig.tight_layout()
    path = out / "multi_output_regression.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot: {path}")
    return rows


if __name__ == "__main__":
    main()
