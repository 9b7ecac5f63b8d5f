"""Data sets for examples, tests and benchmarks: four UCI regression sets and Rastrigin.

What this module implements:

* :func:`load_uci` reads one of the paper's four UCI regression data sets (``servo``,
  ``machine``, ``solar``, ``wine``) from a local directory in the layout of the ``uci_datasets``
  collection (T. Evans, repository treforevans/uci_datasets; originals from the UCI Machine
  Learning Repository, Dua and Graff), described in ``shared/data/README.md``::

      ROOT/NAME/data.csv.gz        comma-separated, no header; all columns but the last are
                                   features, the last column is the target
      ROOT/NAME/test_mask.csv.gz   10 comma-separated 0/1 columns; a 1 in column k marks a test
                                   row of split k

  Nothing is ever downloaded: pass ``root=`` or set the environment variable
  ``TORCH_LIPCVX_DATA`` (see :func:`default_data_dir`).
* :func:`rastrigin` generates the paper's synthetic fifth data set locally from a seed:
  the Rastrigin function ``y = 10 d + Σ_i (x_i² − 10 cos(2π x_i))`` on ``x ∈ [-5.12, 5.12]^d``.
* :func:`load_dataset` dispatches on the name (``"rastrigin"`` or a UCI name).
* :func:`from_arrays` and :func:`load_csv` bring your own data: a seeded random train/test split
  of a table of features and one target column, standardised by the same rule.

Every loader returns a :class:`RegressionData` holding CPU tensors of the requested floating
``dtype`` (``torch.float64`` by default).

Standardisation convention (``standardize=True``, the default): each feature column is mapped to
``(x - x_mean) / x_std`` and the target to ``(y - y_mean) / y_std``, where the means and the
*population* standard deviations (``1/n`` normalisation, ``correction=0``) are computed on the
**training rows only** and then applied unchanged to both the training and the test rows. So the
training columns have mean 0 and std 1 exactly (up to rounding) and the test columns only
approximately. A column that is constant on the training rows (max == min; ``solar`` has one
such feature) gets ``std = 1``, so it becomes all zeros rather than NaN; the same holds for a
constant target. With ``standardize=False`` the raw values are kept and ``x_mean = 0``,
``x_std = 1``, ``y_mean = 0``, ``y_std = 1`` are stored, so the helper methods are identities.
Models trained on standardised data therefore see inputs and outputs in standardised units. A
Lipschitz bound ``L`` in those units gives the bound ``L · y_std / min_k x_std[k]`` in raw units
(for the ℓ2 and the ℓ∞ norm alike: :meth:`RegressionData.raw_lipschitz`). It is an upper bound,
not an equality: the raw-unit constant can be smaller when the columns' scales differ.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from ._checks import check_nonneg, check_positive_int, check_seed, check_X, check_Xy

__all__ = [
    "DATASETS",
    "N_SPLITS",
    "RegressionData",
    "default_data_dir",
    "from_arrays",
    "load_csv",
    "load_dataset",
    "load_uci",
    "rastrigin",
]

#: Names of the UCI data sets that :func:`load_uci` reads.
DATASETS: tuple[str, ...] = ("servo", "machine", "solar", "wine")

#: Number of train/test splits in each ``test_mask.csv.gz`` (its number of columns).
N_SPLITS: int = 10

#: Environment variable naming the default data directory.
DATA_ENV_VAR: str = "TORCH_LIPCVX_DATA"

_DATA_FILE = "data.csv.gz"
_MASK_FILE = "test_mask.csv.gz"

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class RegressionData:
    """A regression data set split into training and test rows.

    Attributes:
        name: the data set's name (``"servo"``, ..., ``"rastrigin"``).
        X_train: ``(n_train, d)`` training inputs, standardised unless loaded with
            ``standardize=False``.
        y_train: ``(n_train,)`` training targets (standardised likewise).
        X_test: ``(n_test, d)`` test inputs, transformed with the *training* statistics;
            ``n_test`` may be 0.
        y_test: ``(n_test,)`` test targets, transformed likewise.
        x_mean: ``(d,)`` feature means of the raw training rows (zeros if not standardised).
        x_std: ``(d,)`` population standard deviations of the raw training rows, with 1 in
            place of 0 for constant columns (ones if not standardised).
        y_mean: 0-d tensor, mean of the raw training targets (0 if not standardised).
        y_std: 0-d tensor, population std of the raw training targets, 1 in place of 0
            (1 if not standardised).
        split: the split index (0..9 for UCI data), or ``None`` for data without splits.
        seed: the random seed that generated the data, or ``None`` for data read from disk.

    All tensors share one floating dtype and one device. Raw values relate to stored ones by
    ``X_raw = X * x_std + x_mean`` and ``y_raw = y * y_std + y_mean``.

    Raises:
        ValueError: on construction, if the tensors' shapes are inconsistent.
    """

    name: str
    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    x_mean: Tensor
    x_std: Tensor
    y_mean: Tensor
    y_std: Tensor
    split: Optional[int] = None
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        for field in ("X_train", "X_test"):
            if getattr(self, field).dim() != 2:
                raise ValueError(f"{field} must be 2-d, got shape {tuple(getattr(self, field).shape)}")
        n_train, d = self.X_train.shape
        n_test = self.X_test.shape[0]
        expected = {"y_train": (n_train,), "X_test": (n_test, d), "y_test": (n_test,),
                    "x_mean": (d,), "x_std": (d,), "y_mean": (), "y_std": ()}
        for field, shape in expected.items():
            got = tuple(getattr(self, field).shape)
            if got != shape:
                raise ValueError(f"{field} must have shape {shape} to match X_train "
                                 f"{(n_train, d)} and X_test {(n_test, d)}, got shape {got}")

    @property
    def n(self) -> int:
        """Number of training rows ``n_train``."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test rows (may be 0)."""
        return int(self.X_test.shape[0])

    @property
    def d(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of every tensor."""
        return self.X_train.dtype

    @property
    def device(self) -> torch.device:
        """The device of every tensor."""
        return self.X_train.device

    def __repr__(self) -> str:
        return (f"RegressionData(name={self.name!r}, split={self.split}, seed={self.seed}, "
                f"n_train={self.n}, n_test={self.n_test}, d={self.d}, dtype={self.dtype}, "
                f"device={self.device})")

    def unstandardize_y(self, y: Tensor) -> Tensor:
        """Map targets or predictions back to raw units: ``y * y_std + y_mean``.

        Args:
            y: tensor of any shape, in standardised target units.

        Returns:
            A tensor of ``y``'s shape, dtype and device, in raw target units.
        """
        y = torch.as_tensor(y)
        if not y.is_floating_point():
            y = y.to(self.dtype)
        return y * self.y_std.to(y) + self.y_mean.to(y)

    def raw_lipschitz(self, L: float) -> float:
        """A Lipschitz bound in raw units from one ``L`` in standardised units.

        The raw model is ``u ↦ y_mean + y_std · f((u − x_mean) / x_std)``, and
        ``‖(u − u') / x_std‖_p ≤ ‖u − u'‖_p / min_k x_std[k]`` for every ``p`` (ℓ2 and ℓ∞ among
        them), so ``L · y_std / min_k x_std[k]`` bounds the raw model's constant for the same
        norm. It is certified whenever ``L`` is; it need not be tight.

        Args:
            L: a Lipschitz bound ``>= 0`` of the model in standardised units (output units per
                input unit), e.g. :attr:`LipschitzInterval.upper`.

        Returns:
            The bound in raw target units per raw input unit (a float).
        """
        L = check_nonneg(L, "L")
        return L * float(self.y_std) / float(self.x_std.min())

    def standardize_X(self, X_raw: Tensor) -> Tensor:
        """Apply the training statistics to raw inputs: ``(X_raw - x_mean) / x_std``.

        Args:
            X_raw: ``(n, d)`` inputs in raw units (finite).

        Returns:
            ``(n, d)`` inputs in the units the data's ``X_train`` is in, with ``X_raw``'s
            floating dtype and device.

        Raises:
            ValueError: if ``X_raw`` is not a non-empty ``(n, d)`` array or holds NaN/Inf.
        """
        X_raw = check_X(X_raw, "X_raw", self.d)
        return (X_raw - self.x_mean.to(X_raw)) / self.x_std.to(X_raw)

    def to(self, device: Optional[Union[str, torch.device]] = None,
           dtype: Optional[torch.dtype] = None) -> "RegressionData":
        """Return a copy with every tensor moved to ``device`` and/or cast to ``dtype``.

        Raises:
            ValueError: if ``dtype`` is not a floating dtype.
        """
        if dtype is not None:
            _check_float_dtype(dtype)
        changes = {f.name: getattr(self, f.name).to(device=device, dtype=dtype)
                   for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), Tensor)}
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------------------------
# Private helpers
# --------------------------------------------------------------------------------------------


def _check_float_dtype(dtype) -> torch.dtype:
    """Require a floating torch dtype (``torch.float64`` or ``torch.float32``...)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype such as torch.float64, got {dtype!r}")
    return dtype


def _check_int(value, name: str) -> int:
    """An integer (``bool`` rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _fit_stats(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Means and population stds of the columns of ``X (n, d)`` and of ``y (n,)``.

    A column that is constant (max == min) gets std 1 so that standardising it gives zeros.
    """
    x_mean = X.mean(dim=0)
    x_std = X.std(dim=0, correction=0)
    x_std = torch.where(X.amax(dim=0) == X.amin(dim=0), torch.ones_like(x_std), x_std)
    y_mean = y.mean()
    y_std = y.std(correction=0)
    if bool(y.amax() == y.amin()):
        y_std = torch.ones_like(y_std)
    return x_mean, x_std, y_mean, y_std


def _make_data(name: str, X_train: Tensor, y_train: Tensor, X_test: Tensor, y_test: Tensor,
               standardize: bool, dtype: torch.dtype, split: Optional[int],
               seed: Optional[int]) -> RegressionData:
    """Fit statistics on the (float64, raw) training rows, apply them to both parts, cast."""
    d = X_train.shape[1]
    if standardize:
        x_mean, x_std, y_mean, y_std = _fit_stats(X_train, y_train)
        X_train = (X_train - x_mean) / x_std
        X_test = (X_test - x_mean) / x_std
        y_train = (y_train - y_mean) / y_std
        y_test = (y_test - y_mean) / y_std
    else:
        x_mean = torch.zeros(d, dtype=X_train.dtype)
        x_std = torch.ones(d, dtype=X_train.dtype)
        y_mean = torch.zeros((), dtype=X_train.dtype)
        y_std = torch.ones((), dtype=X_train.dtype)
    return RegressionData(
        name=name,
        X_train=X_train.to(dtype), y_train=y_train.to(dtype),
        X_test=X_test.to(dtype), y_test=y_test.to(dtype),
        x_mean=x_mean.to(dtype), x_std=x_std.to(dtype),
        y_mean=y_mean.to(dtype), y_std=y_std.to(dtype),
        split=split, seed=seed,
    )


def _read_csv(path: Path, header: bool = False) -> np.ndarray:
    """Read a (gzipped) comma-separated numeric table as a float64 ``(rows, cols)`` array
    (``header``: skip the first line).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file cannot be parsed, is empty, or holds NaN/Inf; the message names
            the file.
    """
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy warns on empty input
            arr = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2,
                             skiprows=1 if header else 0)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"could not read {path} as comma-separated numbers: {exc}") from exc
    if arr.size == 0:
        raise ValueError(f"{path} is empty: expected comma-separated numeric rows")
    n_bad = int((~np.isfinite(arr)).sum())
    if n_bad:
        raise ValueError(f"{path} contains {n_bad} NaN/Inf value(s); the data must be finite")
    return arr


def _resolve_root(root: Optional[PathLike]) -> Path:
    """The data directory: ``root`` if given, else :func:`default_data_dir`, else an error."""
    if root is None:
        root_path = default_data_dir()
        if root_path is None:
            raise ValueError(
                f"no data directory given: pass root=<directory holding {', '.join(DATASETS)}> "
                f"or set the environment variable {DATA_ENV_VAR}; the UCI data are read from "
                f"disk and are not downloaded")
        return root_path
    try:
        return Path(os.fspath(root)).expanduser()
    except TypeError:
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {root!r}") from None


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def default_data_dir() -> Optional[Path]:
    """The data directory named by the environment variable ``TORCH_LIPCVX_DATA``.

    Returns:
        The path (with ``~`` expanded) if the variable is set and non-empty, else ``None``.
        The path is not checked for existence here; :func:`load_uci` does that.
    """
    value = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def load_uci(name: str, root: Optional[PathLike] = None, split: int = 0, *,
             standardize: bool = True, dtype: torch.dtype = torch.float64) -> RegressionData:
    """Load one train/test split of a UCI regression data set from disk.

    Reads ``ROOT/NAME/data.csv.gz`` (all columns but the last are features, the last is the
    target) and ``ROOT/NAME/test_mask.csv.gz`` (10 columns of 0/1; the rows with a 1 in column
    ``split`` are the test rows, all others the training rows). The row order of the files is
    kept within each part. Nothing is downloaded.

    Standardisation (``standardize=True``): features and target are centred and divided by their
    population standard deviation (``1/n``), with the statistics computed on the **training rows
    only** and applied to training and test rows alike; a column constant on the training rows gets
    std 1. The statistics are stored in the result (``x_mean, x_std (d,)``, ``y_mean, y_std``
    0-d). With ``standardize=False`` the raw values are returned and the stored statistics are
    0 and 1.

    Args:
        name: one of :data:`DATASETS` (``"servo"``, ``"machine"``, ``"solar"``, ``"wine"``).
        root: directory that holds one folder per data set; ``None`` means
            :func:`default_data_dir` (the ``TORCH_LIPCVX_DATA`` environment variable).
        split: which of the 10 train/test splits, ``0 <= split <= 9``.
        standardize: whether to standardise as described above.
        dtype: floating dtype of the returned tensors (computation is done in float64).

    Returns:
        A :class:`RegressionData` on the CPU with ``X_train (n_train, d)``, ``y_train (n_train,)``,
        ``X_test (n_test, d)``, ``y_test (n_test,)``, ``split=split`` and ``seed=None``.
        Sizes: servo 167 rows × 4 features, machine 209 × 7, solar 1066 × 10, wine 1599 × 11,
        about 10% of the rows being test rows in each split.

    Raises:
        TypeError: if ``name`` is not a string, ``split`` not an integer or ``root`` not a path.
        ValueError: if ``name`` is unknown, ``split`` is outside 0..9, ``dtype`` is not floating,
            ``root`` is ``None`` and ``TORCH_LIPCVX_DATA`` is unset, or a file is malformed
            (unparsable, NaN/Inf, mask not 0/1 or not 10 columns, mask and data row counts
            differ, no training rows); the message names the file.
        FileNotFoundError: if the data directory, the data set's folder or one of its two files
            does not exist; the message names the path.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(DATASETS)}; got {name!r}")
    key = name.strip().lower()
    if key not in DATASETS:
        raise ValueError(f"unknown UCI data set {name!r}; known data sets: {', '.join(DATASETS)}")
    split = _check_int(split, "split")
    if not 0 <= split < N_SPLITS:
        raise ValueError(f"split must be an integer in 0..{N_SPLITS - 1}, got {split}")
    _check_float_dtype(dtype)

    root_path = _resolve_root(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"data directory not found: {root_path} (root= or {DATA_ENV_VAR} "
                                f"must name an existing directory; the data are not downloaded)")
    folder = root_path / key
    if not folder.is_dir():
        raise FileNotFoundError(f"data set folder not found: {folder} (expected {key}/{_DATA_FILE} "
                                f"and {key}/{_MASK_FILE} under {root_path})")
    data_path, mask_path = folder / _DATA_FILE, folder / _MASK_FILE

    data = _read_csv(data_path)
    mask = _read_csv(mask_path)
    if data.shape[1] < 2:
        raise ValueError(f"{data_path} must have at least 2 columns (features, then the target), "
                         f"got {data.shape[1]}")
    if mask.shape[1] != N_SPLITS:
        raise ValueError(f"{mask_path} must have {N_SPLITS} columns (one per split), "
                         f"got {mask.shape[1]}")
    if mask.shape[0] != data.shape[0]:
        raise ValueError(f"{mask_path} has {mask.shape[0]} rows but {data_path} has "
                         f"{data.shape[0]}: the mask needs one row per data row")
    bad = ~np.isin(mask, (0.0, 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{mask_path} must contain only 0 and 1, found {mask[r, c]!r} at row {r}, "
                         f"column {c} ({int(bad.sum())} bad value(s))")

    is_test = torch.from_numpy(mask[:, split] == 1.0)
    table = torch.from_numpy(data)  # float64
    if bool(is_test.all()):
        raise ValueError(f"{mask_path} marks every row as a test row of split {split}; "
                         f"no training rows are left to fit on")
    X, y = table[:, :-1], table[:, -1]
    return _make_data(key, X[~is_test], y[~is_test], X[is_test], y[is_test],
                      standardize=bool(standardize), dtype=dtype, split=split, seed=None)


def rastrigin(n: int = 1000, d: int = 2, seed: int = 0, *, test_fraction: float = 0.1,
              noise: float = 0.0, standardize: bool = True,
              dtype: torch.dtype = torch.float64) -> RegressionData:
    """Generate a Rastrigin regression data set (synthetic, generated locally, never downloaded).

    Inputs ``X (n, d)`` are drawn uniformly from ``[-5.12, 5.12]^d`` with a ``torch.Generator``
    seeded by ``seed``; targets are the Rastrigin function
    ``y = 10 d + Σ_i (x_i² − 10 cos(2π x_i))``, plus i.i.d. Gaussian noise of standard deviation
    ``noise`` (drawn from the same generator after ``X``, only when ``noise > 0``). The first
    ``round(n · (1 − test_fraction))`` rows are the training rows, the rest the test rows. The
    same arguments always give the same data. Standardisation is as in :func:`load_uci`
    (training statistics, population std).

    Args:
        n: total number of rows, ``>= 2``.
        d: input dimension, ``>= 1``.
        seed: seed of the generator.
        test_fraction: fraction of rows held out, ``0 <= test_fraction < 1`` (0 gives an empty
            test set).
        noise: standard deviation of the additive target noise, ``>= 0``, in raw target units.
        standardize: whether to standardise features and target with training statistics.
        dtype: floating dtype of the returned tensors (generation is done in float64).

    Returns:
        A :class:`RegressionData` on the CPU with ``name="rastrigin"``, ``split=None`` and
        ``seed=seed``.

    Raises:
        TypeError: if ``n``, ``d`` or ``seed`` is not an integer.
        ValueError: if ``n < 2``, ``d < 1``, ``seed`` is outside ``[-2**63, 2**64)``,
            ``test_fraction`` is outside ``[0, 1)`` or leaves no training row, ``noise < 0``,
            or ``dtype`` is not floating.
    """
    n = check_positive_int(n, "n", minimum=2)
    d = check_positive_int(d, "d", minimum=1)
    seed = check_seed(_check_int(seed, "seed"))
    tf = _check_fraction(test_fraction)
    noise = check_nonneg(noise, "noise")
    _check_float_dtype(dtype)
    n_train = int(round(n * (1.0 - tf)))
    if n_train < 1:
        raise ValueError(f"test_fraction={test_fraction!r} leaves no training row out of n={n}; "
                         f"use a smaller test_fraction or a larger n")

    gen = torch.Generator(device="cpu").manual_seed(seed)
    X = (2.0 * torch.rand(n, d, generator=gen, dtype=torch.float64) - 1.0) * 5.12
    y = 10.0 * d + (X ** 2 - 10.0 * torch.cos(2.0 * torch.pi * X)).sum(dim=1)
    if noise > 0:
        y = y + noise * torch.randn(n, generator=gen, dtype=torch.float64)
    return _make_data("rastrigin", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                      standardize=bool(standardize), dtype=dtype, split=None, seed=seed)


def load_dataset(name: str, root: Optional[PathLike] = None, split: int = 0, *, seed: int = 0,
                 n: int = 1000, d: int = 2, **kw) -> RegressionData:
    """Load a data set by name: ``"rastrigin"`` or one of :data:`DATASETS`.

    ``"rastrigin"`` calls ``rastrigin(n, d, seed=seed + split, **kw)`` (so each split is a fresh
    draw; ``(seed, split)`` and ``(seed + 1, split − 1)`` are the same draw, so vary one of the
    two, as the paper runner does with its base seed fixed) and records ``split`` in the result;
    ``root`` is ignored. Any other name calls ``load_uci(name, root, split, **kw)``; ``seed``,
    ``n`` and ``d`` are then ignored.

    Args:
        name: ``"rastrigin"`` or a UCI name.
        root: data directory for UCI data (see :func:`load_uci`).
        split: split index (0..9 for UCI data, any integer ``>= 0`` for Rastrigin).
        seed, n, d: Rastrigin's base seed, number of rows and dimension.
        **kw: further keyword arguments of :func:`rastrigin` or :func:`load_uci`
            (``standardize``, ``dtype``; ``test_fraction``, ``noise`` for Rastrigin).

    Returns:
        A :class:`RegressionData`.

    Raises:
        ValueError: if ``name`` is unknown (the message lists the known names), and whatever
            :func:`rastrigin` or :func:`load_uci` raise.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    key = name.strip().lower()
    if key == "rastrigin":
        split = _check_int(split, "split")
        if split < 0:
            raise ValueError(f"split must be an integer >= 0, got {split}")
        seed = check_seed(_check_int(seed, "seed"))
        # split k is the stream seed + k, taken modulo 2**64 as seeded_generator does
        return dataclasses.replace(rastrigin(n, d, seed=(seed + split) % 2 ** 64, **kw),
                                   split=split)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known data sets: "
                         f"{', '.join(DATASETS + ('rastrigin',))}")
    return load_uci(key, root, split, **kw)


def _check_fraction(test_fraction) -> float:
    try:
        tf = float(test_fraction)
    except (TypeError, ValueError):
        raise TypeError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}") from None
    if not 0.0 <= tf < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    return tf


def from_arrays(X, y, *, test_fraction: float = 0.1, split: int = 0, standardize: bool = True,
                dtype: torch.dtype = torch.float64, name: str = "arrays") -> RegressionData:
    """Your own data as a :class:`RegressionData`: a seeded random train/test split, then
    standardisation with the training statistics (as :func:`load_uci`).

    ``round(n · test_fraction)`` rows, drawn by a permutation seeded with ``split``, are the test
    rows; both parts keep the rows' original order. The same arguments always give the same
    split, and splits ``0, 1, …`` are independent draws (repeated random splits, as the paper's
    ten UCI splits).

    Args:
        X: ``(n, d)`` features, finite (tensor or array; read in float64).
        y: ``(n,)`` (or ``(n, 1)``) targets, finite, in any units.
        test_fraction: fraction of rows held out, ``0 <= test_fraction < 1``.
        split: which random split, an integer ``>= 0`` (the permutation's seed).
        standardize: whether to standardise features and target with training statistics.
        dtype: floating dtype of the returned tensors (computation is done in float64).
        name: the data set's name in the result.

    Returns:
        A :class:`RegressionData` on the CPU with ``split=split`` and ``seed=None``.

    Raises:
        TypeError: ``split`` not an integer, ``test_fraction`` not a number.
        ValueError: ``X`` not a non-empty ``(n, d)`` array, ``y`` not ``n`` values, NaN/Inf,
            ``test_fraction`` outside ``[0, 1)`` or leaving no training row, ``split < 0``,
            ``dtype`` not floating.
    """
    X, y = (v.detach().cpu().to(torch.float64) for v in check_Xy(X, y))
    n = X.shape[0]
    tf = _check_fraction(test_fraction)
    split = _check_int(split, "split")
    if split < 0:
        raise ValueError(f"split must be an integer >= 0, got {split}")
    _check_float_dtype(dtype)
    n_test = int(round(n * tf))
    if n - n_test < 1:
        raise ValueError(f"test_fraction={test_fraction!r} leaves no training row out of n={n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split))
    is_test = torch.zeros(n, dtype=torch.bool)
    is_test[perm[:n_test]] = True
    return _make_data(str(name), X[~is_test], y[~is_test], X[is_test], y[is_test],
                      standardize=bool(standardize), dtype=dtype, split=split, seed=None)


def load_csv(path: PathLike, *, target: int = -1, header: bool = False,
             test_fraction: float = 0.1, split: int = 0, standardize: bool = True,
             dtype: torch.dtype = torch.float64) -> RegressionData:
    """Read a comma-separated numeric table (``.csv`` or ``.csv.gz``) and split it as
    :func:`from_arrays` does: column ``target`` is the target, all others are features.

    Args:
        path: the file; every row has the same number of numeric columns (at least 2).
        target: index of the target column (negative counts from the end; default the last).
        header: skip the first line (column names).
        test_fraction, split, standardize, dtype: as :func:`from_arrays`.

    Returns:
        A :class:`RegressionData` named after the file (its name without ``.csv``/``.gz``).

    Raises:
        FileNotFoundError: the file does not exist.
        TypeError: ``target`` not an integer.
        ValueError: unparsable, empty or non-finite table (the message names the file), fewer
            than 2 columns, ``target`` out of range, and whatever :func:`from_arrays` raises.
    """
    p = Path(path)
    table = _read_csv(p, header=bool(header))
    k = _check_int(target, "target")
    cols = table.shape[1]
    if cols < 2:
        raise ValueError(f"{p} must have at least 2 columns (features and a target), got {cols}")
    if not -cols <= k < cols:
        raise ValueError(f"target={target} is out of range for {p}, which has {cols} columns")
    k %= cols
    X = np.delete(table, k, axis=1)
    stem = p.name.removesuffix(".gz").removesuffix(".csv")
    return from_arrays(X, table[:, k], test_fraction=test_fraction, split=split,
                       standardize=standardize, dtype=dtype, name=stem)
