"""Fit with ConvexPostProcessing under DDP on 2 CPU processes (gloo); used by test_callbacks.py.

Usage: python ddp_callback_script.py OUTDIR. Every rank writes ``OUTDIR/rank{r}_before.pt`` (its
network right before the callback's ``on_fit_end``), ``OUTDIR/rank{r}.pt`` (after ``fit``) and
``OUTDIR/rank{r}_summary.pt`` (the callback's summary) and ``OUTDIR/rank{r}_extra.pt`` (whether
the callback holds a result, i.e. ran the convex step there, and the epoch-level training metrics
as the rank sees them).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch

from torch_lipcvx.callbacks import ConvexPostProcessing
from torch_lipcvx.lightning import RegressionDataModule, ShallowReLURegressor


class Snapshot(pl.Callback):
    """Save the network's state right before the callbacks listed after it run ``on_fit_end``."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_fit_end(self, trainer, pl_module):
        torch.save({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()},
                   self.out / f"rank{trainer.global_rank}_before.pt")


def main(out: Path) -> None:
    warnings.simplefilter("ignore")
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 2, generator=g)
    y = torch.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.05 * torch.randn(60, generator=g)
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0)
    dm = RegressionDataModule(X, y, batch_size=15)
    cb = ConvexPostProcessing(lam=1e-2, beta=1e-3, max_iter=3, verbose=False)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[Snapshot(out), cb])
    trainer.fit(module, datamodule=dm)
    r = trainer.global_rank
    torch.save({k: v.detach().clone() for k, v in module.model.state_dict().items()},
               out / f"rank{r}.pt")
    torch.save(cb.summary, out / f"rank{r}_summary.pt")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train_")}
    torch.save({"has_result": cb.result is not None, "metrics": metrics}, out / f"rank{r}_extra.pt")
    # Lightning leaves the process group open after fit; close it on every rank together, so no
    # rank exits while gloo's threads on the other still talk to it (seen once in CI: SIGABRT,
    # "terminate called without an active exception", after all files were written).
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
