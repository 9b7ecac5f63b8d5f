"""Train a ShallowReLU with Lightning and post-process it when `fit` ends (ConvexPostProcessing).

    python examples/lightning_callback.py [--data wine] [--devices 2] [--ckpt-dir DIR]

A `ModelCheckpoint(save_last=True, monitor="val_mse")` runs alongside: after the callback writes
the post-processed weights back, it re-validates and re-saves, so `last.ckpt`, the best-model
path and `trainer.callback_metrics["val_mse"]` describe the post-processed network (the script
reloads both files to show it). Checkpoints go to `--ckpt-dir`, else to a temporary folder that
is removed at exit. With `--devices 2` it runs under DDP on 2 CPU processes: the convex step
runs once, on rank zero, the result is broadcast so every rank ends with the same weights, and
only rank zero writes files.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import torch_lipcvx as tl
from torch_lipcvx.data import load_dataset


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="rastrigin")
    p.add_argument("--data-dir", default=None, help="folder of data sets (default: the "
                   "package's own); 'rastrigin' is generated")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--lam", type=float, default=1e-3)
    p.add_argument("--max-iter", type=int, default=5)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--ckpt-dir", default=None, help="keep the checkpoints here (default: a "
                   "temporary folder, removed at exit)")
    args = p.parse_args(argv)

    data = load_dataset(args.data, args.data_dir, n=300, d=2)
    module = tl.ShallowReLURegressor(data.d, args.hidden, lr=1e-2, dtype=torch.float64)
    dm = tl.RegressionDataModule(data.X_train, data.y_train, data.X_test, data.y_test)
    callback = tl.ConvexPostProcessing(lam=args.lam, max_iter=args.max_iter)
    with contextlib.ExitStack() as stack:
        ckpt_dir = args.ckpt_dir or stack.enter_context(tempfile.TemporaryDirectory())
        # under DDP the ModelCheckpoint uses rank zero's folder on every rank
        checkpoint = ModelCheckpoint(dirpath=ckpt_dir, save_last=True, monitor="val_mse")
        trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=args.devices,
                             strategy="ddp" if args.devices > 1 else "auto", logger=False,
                             enable_progress_bar=False, callbacks=[checkpoint, callback])
        trainer.fit(module, dm)
        if trainer.is_global_zero:
            s = callback.summary
            print(f"{data.name}: J {s['J_before']:.6f} -> {s['J_after']:.6f}, certified L "
                  f"{s['L_upper_before']:.4f} -> {s['L_upper_after']:.4f}, "
                  f"weights written back: {callback.applied}")
            print(f"val_mse of the module after fit: "
                  f"{float(trainer.callback_metrics['val_mse']):.6f}")
            for name, path in (("last", checkpoint.last_model_path),
                               ("best", checkpoint.best_model_path)):
                net = tl.ShallowReLURegressor.load_from_checkpoint(path).model
                same = all(torch.equal(a, b) for a, b in
                           zip(net.state_dict().values(), module.model.state_dict().values()))
                print(f"{name} checkpoint {path}: same weights as the module: {same}")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Lightning leaves the group open: close it on all ranks at once
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
