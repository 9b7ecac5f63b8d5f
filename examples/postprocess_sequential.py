"""Post-process a network trained elsewhere (a plain nn.Sequential) with one call.

Trains `nn.Sequential(Linear, ReLU, Linear)` on the servo data (bundled with the package; or
another data set with --data), then runs Algorithm 1 and prints the certified Lipschitz interval
before and after.

    python examples/postprocess_sequential.py [--data servo] [--hidden 50]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import torch_lipcvx as tl
from torch_lipcvx.data import load_dataset


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="servo",
                   help="a bundled UCI set (servo, machine, solar, wine), rastrigin, or a folder "
                        "under --data-dir")
    p.add_argument("--data-dir", default=None,
                   help="folder of your own data sets (default: the bundled ones)")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--lam", type=float, default=1e-2)
    p.add_argument("--max-iter", type=int, default=5)
    args = p.parse_args(argv)

    data = load_dataset(args.data, args.data_dir, n=300, d=2)
    X, y = data.X_train.float(), data.y_train.float()     # float32 is fine: maths runs in float64
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(data.d, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 1))
    opt = torch.optim.Adam(seq.parameters(), lr=1e-2)
    for _ in range(args.epochs):
        opt.zero_grad()
        nn.functional.mse_loss(seq(X).squeeze(-1), y).backward()
        opt.step()

    before = tl.lipschitz_bounds(seq, X=X)
    res = tl.postprocess(seq, X, y, lam=args.lam, max_iter=args.max_iter, verbose=True)
    after = tl.lipschitz_bounds(res.model, X=X)
    print(f"{data.name}: {res}")
    print(f"before: {before}")
    print(f"after:  {after}")
    new_seq = res.model.to_sequential()                    # back to a plain nn.Sequential (float32)
    with torch.no_grad():
        mse = nn.functional.mse_loss(new_seq(X).squeeze(-1), y).item()
    print(f"post-processed nn.Sequential: train MSE {mse:.5f}, dtype {new_seq[0].weight.dtype}")


if __name__ == "__main__":
    main()
