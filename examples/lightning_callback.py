"""Train a ShallowReLU with Lightning and post-process it when `fit` ends (ConvexPostProcessing).

    python examples/lightning_callback.py [--data wine] [--devices 2]   (wine ships with the package)

With `--devices 2` it runs under DDP on 2 CPU processes: the convex step runs once, on rank zero,
and the result is broadcast so every rank ends with the same weights.
"""

from __future__ import annotations

import argparse

import lightning.pytorch as pl
import torch

import torch_lipcvx as tl
from torch_lipcvx.data import load_dataset


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="rastrigin",
                   help="rastrigin, a bundled UCI set (servo, machine, solar, wine) or a folder "
                        "under --data-dir")
    p.add_argument("--data-dir", default=None,
                   help="folder of your own data sets (default: the bundled ones)")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--lam", type=float, default=1e-3)
    p.add_argument("--max-iter", type=int, default=5)
    p.add_argument("--devices", type=int, default=1)
    args = p.parse_args(argv)

    data = load_dataset(args.data, args.data_dir, n=300, d=2)
    module = tl.ShallowReLURegressor(data.d, args.hidden, lr=1e-2, dtype=torch.float64)
    dm = tl.RegressionDataModule(data.X_train, data.y_train, data.X_test, data.y_test)
    callback = tl.ConvexPostProcessing(lam=args.lam, max_iter=args.max_iter)
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=args.devices,
                         strategy="ddp" if args.devices > 1 else "auto", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         callbacks=[callback])
    trainer.fit(module, dm)
    if trainer.is_global_zero:
        s = callback.summary
        print(f"{data.name}: J {s['J_before']:.6f} -> {s['J_after']:.6f}, certified L "
              f"{s['L_upper_before']:.4f} -> {s['L_upper_after']:.4f}, "
              f"weights written back: {callback.applied}")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # Lightning leaves the group open: close it on all ranks at once
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
