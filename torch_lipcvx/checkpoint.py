"""Checkpoints: a :class:`~torch_lipcvx.models.ShallowReLU` saved to one file with its metadata.

One format for the command line (``torch-lipcvx train``/``postprocess`` write it; ``certify``,
``postprocess`` and ``attack`` read it) and the paper runner's per-unit models
(``benchmarks/paper/run.py``). A checkpoint is ``torch.save`` of a dict, read back with
``weights_only=True`` (no code is unpickled)::

    {"state_dict": ShallowReLU.state_dict(), "in_features": d, "hidden": m,
     "output_bias": bool, "dtype": "float64", **meta}

plus ``"out_features": k`` after ``"dtype"`` for a network with ``k >= 2`` outputs (a
one-output network's file is exactly the dict above, as it always was; a file without the key
holds one output).

``meta`` is whatever the writer records beside the network; the command line stores
``data`` (the data set the network was trained on, see ``torch_lipcvx.cli``) and ``config``
(the command's options). Files written before ``dtype`` was recorded (the paper runner's
earlier records) load in the dtype of their stored weights.

Every checkpoint is a zip archive (as ``torch.save`` writes it); :func:`load_checkpoint`
verifies its CRC-32 checksums before anything is unpickled, so a corrupted file is refused
instead of silently giving a different network (``torch.load`` alone does not check them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch

from .models import ShallowReLU

__all__ = ["Checkpoint", "CheckpointError", "FORMAT_KEYS", "OUT_FEATURES_KEY", "load_checkpoint",
           "save_checkpoint"]

#: The keys that describe the network; every other key of the file is metadata.
FORMAT_KEYS = ("state_dict", "in_features", "hidden", "output_bias", "dtype")
#: The key of the number of outputs ``k``, written only for ``k >= 2`` (a network's key too,
#: never metadata).
OUT_FEATURES_KEY = "out_features"
#: Keys a file must hold (``dtype`` may be missing in older files: see the module docstring).
_REQUIRED = ("state_dict", "in_features", "hidden", "output_bias")
_META_TYPES = (type(None), bool, int, float, str)


class CheckpointError(ValueError):
    """A file that is not a readable torch_lipcvx checkpoint (corrupted, truncated, another
    kind of file, missing keys, or weights that do not fit the recorded architecture)."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        model: the network, on the CPU, in the dtype it was saved in, in eval mode.
        meta: every key of the file besides the network's (:data:`FORMAT_KEYS`), e.g. the
            command line's ``data`` and ``config`` records; empty if none was saved.
        path: the file it was read from.
    """

    model: ShallowReLU
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path


def _check_meta(value: Any, where: str) -> None:
    """TypeError unless ``value`` is plain data that ``torch.load(weights_only=True)`` reads."""
    if isinstance(value, _META_TYPES) or isinstance(value, torch.Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_meta(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"save_checkpoint: {where} has the key {k!r}; metadata keys "
                                "must be strings")
            _check_meta(v, f"{where}[{k!r}]")
        return
    raise TypeError(f"save_checkpoint: {where} is a {type(value).__name__}; metadata must be "
                    "None, bool, int, float, str, a tensor, or lists/tuples/dicts of these")


def save_checkpoint(path: Union[str, os.PathLike], model: ShallowReLU, **meta: Any) -> Path:
    """Write ``model`` and ``meta`` to ``path`` (format: the module docstring).

    The file appears atomically: it is written in a temporary folder beside ``path`` under its
    final name (so its bytes are those ``torch.save(..., path)`` writes) and then moved into
    place, so an interrupted write never leaves a truncated checkpoint. Missing parent folders
    are created.

    Args:
        path: the file to write (replaced if it exists).
        model: the network; its weights are saved in their own dtype.
        **meta: metadata to store beside the network (plain data: None, bool, int, float, str,
            tensors, and lists/tuples/dicts of them), e.g. ``data=...``, ``config=...``.

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` is not a ShallowReLU, or a metadata value is not plain data.
        ValueError: a metadata name is one of the network's keys (:data:`FORMAT_KEYS`).
    """
    if not isinstance(model, ShallowReLU):
        raise TypeError(f"save_checkpoint: model must be a ShallowReLU, got "
                        f"{type(model).__name__}")
    clash = [k for k in meta if k in FORMAT_KEYS or k == OUT_FEATURES_KEY]
    if clash:
        raise ValueError(f"save_checkpoint: metadata name(s) {', '.join(clash)} are taken by "
                         f"the network's own record ({', '.join(FORMAT_KEYS)}, "
                         f"{OUT_FEATURES_KEY}); choose others")
    for k, v in meta.items():
        _check_meta(v, k)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"state_dict": model.state_dict(), "in_features": model.in_features,
              "hidden": model.m, "output_bias": model.has_output_bias,
              "dtype": str(model.dtype).replace("torch.", "")}
    if model.out_features > 1:
        record[OUT_FEATURES_KEY] = model.out_features
    record.update(meta)
    tmp_dir = tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        tmp = Path(tmp_dir) / out.name
        torch.save(record, tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out


def _verify_zip(p: Path, path: str) -> None:
    """Check every record of the zip archive against its stored CRC-32 before it is used."""
    try:
        with zipfile.ZipFile(p) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
            RuntimeError, OSError) as exc:
        msg = " ".join(str(exc).split())[:150]
        raise CheckpointError(f"{path} is corrupted or truncated (not a readable zip archive: "
                              f"{type(exc).__name__}: {msg})") from None
    if bad is not None:
        raise CheckpointError(f"{path} is corrupted: its record {bad!r} does not match the "
                              f"checksum (CRC-32) stored with it; re-create the checkpoint (e.g. "
                              f"'torch-lipcvx train') or restore a good copy")


def _dtype(ckpt: dict, path: str) -> torch.dtype:
    if "dtype" in ckpt:
        dtype = getattr(torch, str(ckpt["dtype"]).replace("torch.", ""), None)
    else:       # an older file: the dtype of its stored weights
        weights = [v for v in ckpt["state_dict"].values() if isinstance(v, torch.Tensor)] \
            if isinstance(ckpt["state_dict"], dict) else []
        dtype = weights[0].dtype if weights else None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise CheckpointError(f"{path}: bad dtype {ckpt.get('dtype')!r} (expected e.g. 'float64')")
    return dtype


def load_checkpoint(path: Union[str, os.PathLike]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or ``torch-lipcvx train``).

    Checks, in this order and before building anything: the file exists, is a zip archive
    whose CRC-32 checksums all match, unpickles with ``weights_only=True`` to a dict holding
    the network's keys, records a floating dtype, and its weights have exactly the shapes of a
    ``ShallowReLU(in_features, hidden, out_features, output_bias=...)`` (``out_features``: the
    recorded number of outputs, 1 when the file records none).

    Args:
        path: the checkpoint file.

    Returns:
        A :class:`Checkpoint` (the model on the CPU in eval mode, the metadata, the path).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: (a ValueError) any of the checks above fails; the message names the
            file and what is wrong.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive
        raise CheckpointError(f"{path} is not a torch_lipcvx checkpoint (not a file written by "
                              f"torch.save; expected the output of 'torch-lipcvx train')")
    _verify_zip(p, str(path))
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is not a torch_lipcvx checkpoint (torch.load failed: "
                              f"{type(exc).__name__}: {first[:150]})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a torch_lipcvx checkpoint (expected a dict, got "
                              f"{type(ckpt).__name__})")
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} is not a torch_lipcvx checkpoint: missing key(s) "
                              f"{', '.join(missing)}")
    dtype = _dtype(ckpt, str(path))
    k = ckpt.get(OUT_FEATURES_KEY, 1)
    try:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{OUT_FEATURES_KEY} must be an integer >= 1, got {k!r}")
        model = ShallowReLU(ckpt["in_features"], ckpt["hidden"], k,
                            output_bias=bool(ckpt["output_bias"]), dtype=dtype)
        sd = ckpt["state_dict"]
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in sd.items()}
        bad = [f"{k}: missing" if k not in got else f"{k} has shape {got[k]}, expected "
               f"{expected[k]}" for k in expected if got.get(k) != expected[k]]
        bad += [f"unexpected {k}" for k in got if k not in expected]
        if bad:
            raise ValueError("; ".join(bad[:2]))
        model.load_state_dict(sd, strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError, AttributeError) as exc:
        msg = " ".join(str(exc).split())
        raise CheckpointError(f"{path}: architecture does not match a ShallowReLU(in_features="
                              f"{ckpt['in_features']!r}, hidden={ckpt['hidden']!r}"
                              + (f", out_features={k!r}" if k != 1 else "") + "): "
                              f"{msg[:300]}") from None
    model.eval()
    meta = {key: v for key, v in ckpt.items()
            if key not in FORMAT_KEYS and key != OUT_FEATURES_KEY}
    return Checkpoint(model=model, meta=meta, path=p)
