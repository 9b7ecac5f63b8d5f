"""Three ways to a network with a small certified Lipschitz constant, side by side.

    python examples/lipschitz_training.py [--data servo] [--lam 1e-3]   (servo ships with the package)

1. SGD (Adam on the MSE), the baseline;
2. SGD-lip: Adam on MSE + λ·L², with L the certified LipSDP bound differentiated through its
   dual (``train_sgd_lip``, one LipSDP solve per epoch);
3. C-lip: Algorithm 1 from the SGD network (``postprocess``): a convex restriction solved to
   global optimality, never worse than its start in J = MSE + λ·L².

For each: training MSE, test MSE, the Lipschitz interval (sampled lower bound, certified upper
bound), J, and the ℓ2 PGD test MSE at radius ``--eps`` (a lower bound on the worst case).
"""

from __future__ import annotations

import argparse
import time

import torch

import torch_lipcvx as tl
from torch_lipcvx.data import load_dataset
from torch_lipcvx.train import train_sgd_lip
from torch_lipcvx.train import train_sgd


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="rastrigin",
                   help="rastrigin, a bundled UCI set (servo, machine, solar, wine) or a folder "
                        "under --data-dir")
    p.add_argument("--data-dir", default=None,
                   help="folder of your own data sets (default: the bundled ones)")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--lam", type=float, default=1e-3)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--max-iter", type=int, default=10)
    args = p.parse_args(argv)

    data = load_dataset(args.data, args.data_dir, n=400, d=2, dtype=torch.float64)
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    rows = []

    def report(name: str, net, seconds: float) -> None:
        iv = tl.lipschitz_bounds(net, X=X)
        J = tl.objective(net, X, y, lam=args.lam)
        atk = tl.pgd_attack(net, Xt, yt, eps=args.eps, norm=2, steps=20, restarts=1)
        with torch.no_grad():
            mse_tr = float(((net(X) - y) ** 2).mean())
            mse_te = float(((net(Xt) - yt) ** 2).mean())
        rows.append({"model": name, "train_mse": mse_tr, "test_mse": mse_te, "L_lower": iv.lower,
                     "L_upper": iv.upper, "J": J.value, "adv_mse": float(atk.mse), "s": seconds})

    tic = time.perf_counter()
    sgd = train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=1e-2, seed=0).model
    report("SGD", sgd, time.perf_counter() - tic)
    tic = time.perf_counter()
    lip = train_sgd_lip(sgd, X, y, lam=args.lam, epochs=args.epochs, lr=2e-3, seed=0).model
    report("SGD-lip (from SGD)", lip, time.perf_counter() - tic)
    tic = time.perf_counter()
    clip = tl.postprocess(sgd, X, y, lam=args.lam, max_iter=args.max_iter).model
    report("C-lip (from SGD)", clip, time.perf_counter() - tic)

    print(f"{data.name}: n={data.n}, d={data.d}, m={args.hidden}, lam={args.lam:g}, "
          f"PGD eps={args.eps:g} (l2)")
    print(f"{'model':20s} {'train MSE':>9s} {'test MSE':>9s} {'L lower':>8s} {'L upper':>8s} "
          f"{'J':>9s} {'PGD test MSE':>12s} {'time [s]':>8s}")
    for r in rows:
        print(f"{r['model']:20s} {r['train_mse']:9.5f} {r['test_mse']:9.5f} {r['L_lower']:8.4f} "
              f"{r['L_upper']:8.4f} {r['J']:9.6f} {r['adv_mse']:12.5f} {r['s']:8.2f}")
    return rows


if __name__ == "__main__":
    main()
