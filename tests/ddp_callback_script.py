"""Fit with ConvexPostProcessing under DDP on 2 CPU processes (gloo); used by
test_lightning_callback.py.

Usage: python ddp_callback_script.py OUTDIR [STRATEGY]; STRATEGY is ``ddp`` (default: ranks
are processes running this script) or ``ddp_spawn`` (ranks are children of this process, which
must not launch processes again when the callback re-validates). Every rank writes, from
inside its process (``teardown`` after ``fit``), ``OUTDIR/rank{r}.pt`` (its network),
``rank{r}_summary.pt`` (the callback's summary) and ``rank{r}_extra.pt`` (whether the callback
holds a result, i.e. ran the convex step there; the epoch-level training metrics and the
validation MSE as the rank sees them; the MSE of its network on the validation data, computed
here; the ``ModelCheckpoint``'s paths and score; the checkpoint files its strategy wrote), and
``rank{r}_before.pt`` (its network right before the callback's ``on_fit_end``). Checkpoints go
to ``OUTDIR/ckpt``; the validation data to ``OUTDIR/val.pt``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import TorchCheckpointIO

from torch_lipcvx.lightning import ConvexPostProcessing
from torch_lipcvx.lightning import RegressionDataModule, ShallowReLURegressor


class Snapshot(pl.Callback):
    """Save the network's state right before the callbacks listed after it run ``on_fit_end``."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_fit_end(self, trainer, pl_module):
        torch.save({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()},
                   self.out / f"rank{trainer.global_rank}_before.pt")


class RecordingIO(TorchCheckpointIO):
    """Checkpoint IO that records the paths it writes (the strategy calls it on rank zero only)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.writes.append(str(path))
        super().save_checkpoint(checkpoint, path, storage_options)


class Dump(pl.Callback):
    """Write what the rank holds once ``fit`` is over (``teardown``, after every ``on_fit_end``)."""

    def __init__(self, out: Path, X_val: torch.Tensor, y_val: torch.Tensor) -> None:
        self.out, self.X_val, self.y_val = out, X_val, y_val

    def teardown(self, trainer, pl_module, stage):
        if stage != "fit":
            return
        out, r = self.out, trainer.global_rank
        cb = next(c for c in trainer.callbacks if isinstance(c, ConvexPostProcessing))
        ckpt = trainer.checkpoint_callback
        torch.save({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()},
                   out / f"rank{r}.pt")
        torch.save(cb.summary, out / f"rank{r}_summary.pt")
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if k.startswith("train_")}
        with torch.no_grad():
            direct = float((pl_module.model(self.X_val) - self.y_val).pow(2).mean())
        torch.save({"has_result": cb.result is not None, "metrics": metrics,
                    "val_mse": float(trainer.callback_metrics["val_mse"]),
                    "val_mse_direct": direct, "revalidated": cb.revalidated,
                    "best_model_path": ckpt.best_model_path,
                    "best_model_score": float(ckpt.best_model_score),
                    "last_model_path": ckpt.last_model_path,
                    "writes": trainer.strategy.checkpoint_io.writes}, out / f"rank{r}_extra.pt")


def main(out: Path, strategy: str = "ddp") -> None:
    warnings.simplefilter("ignore")
    if strategy == "ddp_spawn":
        # tensors reach the children through shared files, not passed descriptors (some
        # sandboxes refuse to pass them: "bad value(s) in fds_to_keep")
        torch.multiprocessing.set_sharing_strategy("file_system")
    g = torch.Generator().manual_seed(0)
    X = torch.randn(80, 2, generator=g)
    y = torch.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.05 * torch.randn(80, generator=g)
    # 20 validation points: 10 per rank, so the DistributedSampler pads nothing and the
    # synchronised val_mse is the MSE over exactly these points
    X_val, y_val = X[60:], y[60:]
    module = ShallowReLURegressor(2, hidden=8, lr=2e-2, seed=0)
    dm = RegressionDataModule(X[:60], y[:60], X_val, y_val, batch_size=15)
    cb = ConvexPostProcessing(lam=1e-2, beta=1e-3, max_iter=3, verbose=False)
    ckpt = ModelCheckpoint(dirpath=out / "ckpt", save_last=True, monitor="val_mse")
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_epochs=2,
                         logger=False, enable_progress_bar=False, plugins=[RecordingIO()],
                         enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[Snapshot(out), ckpt, cb, Dump(out, X_val, y_val)])
    trainer.fit(module, datamodule=dm)
    if trainer.global_rank == 0:
        torch.save({"X": X_val, "y": y_val}, out / "val.pt")
    # Lightning leaves the process group open after fit; close it on every rank together, so no
    # rank exits while gloo's threads on the other still talk to it (seen once in CI: SIGABRT,
    # "terminate called without an active exception", after all files were written).
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:3])
