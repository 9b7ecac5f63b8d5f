"""Certify a network, then attack it: the PGD loss never exceeds the certified bound.

For each ε, the adversarial MSE found by ℓ2 and ℓ∞ PGD (a lower bound on the worst case) is printed
next to the certified upper bound mean((|f(x) − y| + L ε)²), with L the certified Lipschitz bound
for the attack's norm (LipSDP for ℓ2; the tightest certified ℓ∞ bound available).

    python examples/certify_then_attack.py [--data servo]   (a bundled UCI set; --data-dir DIR for your own)
"""

from __future__ import annotations

import argparse

import torch_lipcvx as tl
from torch_lipcvx.data import load_dataset
from torch_lipcvx.train import train_sgd


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="rastrigin",
                   help="rastrigin, a bundled UCI set (servo, machine, solar, wine) or a folder "
                        "under --data-dir")
    p.add_argument("--data-dir", default=None,
                   help="folder of your own data sets (default: the bundled ones)")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    args = p.parse_args(argv)

    data = load_dataset(args.data, args.data_dir, n=300, d=2)
    net = train_sgd(None, data.X_train, data.y_train, hidden=args.hidden, epochs=args.epochs,
                    seed=0).model
    X, y = data.X_test, data.y_test
    print(f"{data.name}: {net}")
    for norm in ("2", "inf"):
        iv = tl.lipschitz_bounds(net, norm=norm, X=data.X_train)
        print(f"\nnorm {norm}: {iv}")
        print(f"{'eps':>6}  {'PGD MSE (lower)':>16}  {'certified (upper)':>18}")
        for eps in args.eps:
            atk = tl.pgd_attack(net, X, y, eps, norm=norm, steps=20, restarts=2)
            bound = tl.certified_squared_error_bound(net, X, y, eps, iv.upper)
            assert bool((atk.loss <= bound * (1 + 1e-9) + 1e-12).all())
            print(f"{eps:6.3f}  {float(atk.mse):16.6f}  {float(bound.mean()):18.6f}")


if __name__ == "__main__":
    main()
