"""Data sets for examples, tests and benchmarks: four bundled UCI regression sets, Rastrigin,
and your own tables.

What this module implements (the data sets, their layout and licences: ``docs/data.md``):

* :func:`load_uci` reads one train/test split of a data set folder in the layout of the
  ``uci_datasets`` collection (T. Evans, repository treforevans/uci_datasets, MIT licence;
  originals from the UCI Machine Learning Repository, Dua and Graff, CC BY 4.0)::

      ROOT/NAME/data.csv.gz        comma-separated, no header; all columns but the last are
                                   features, the last column is the target
      ROOT/NAME/test_mask.csv.gz   comma-separated 0/1 columns, one per split (10 in the
                                   collection); a 1 in column k marks a test row of split k

  The paper's four sets (``servo``, ``machine``, ``solar``, ``wine``, about 80 KB) ship with
  the package in :data:`BUNDLED_DATA_DIR`, so ``load_uci("wine")`` needs no data directory and
  nothing is ever downloaded. Any other folder in this layout is read from ``root=`` (or from
  the directory named by the environment variable ``TORCH_LIPCVX_DATA``, searched before the
  bundled sets); :func:`available_datasets` lists what is there.
* :func:`rastrigin` generates the paper's synthetic fifth data set locally from a seed:
  the Rastrigin function ``y = 10 d + Σ_i (x_i² − 10 cos(2π x_i))`` on ``x ∈ [-5.12, 5.12]^d``.
* :func:`load_diabetes` (regression), :func:`load_breast_cancer` and :func:`load_digits`
  (classification) return the real data sets that ship with scikit-learn (an optional extra:
  ``pip install "torch_lipcvx[sklearn]"``; scikit-learn is imported only when one of them is
  loaded), split at random by ``split`` and ``test_fraction`` as :func:`from_arrays` does.
* :func:`load_dataset` dispatches on the name (``"rastrigin"``, a scikit-learn set of
  :data:`SKLEARN_DATASETS`, or a data set folder's name); :func:`dataset_task` says whether a
  name is a regression or a classification set.
* :func:`from_arrays` and :func:`load_csv` bring your own data: a table of features and one
  target column, split into training and test rows by a given test mask, by given test row
  indices, or by a seeded random split, and standardised by the same rule;
  :func:`classification_from_arrays` does the same for integer class labels.

The regression loaders return a :class:`RegressionData`, the classification loaders a
:class:`ClassificationData` (features standardised by the same rule, labels an int64 vector of
classes ``0..num_classes-1``, never standardised), holding tensors of the requested floating
``dtype`` (``torch.float64`` by default), on the CPU unless a loader takes ``device=``.

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
not an equality: the raw-unit constant can be smaller when the columns' scales differ
(``docs/conventions.md``).
"""


from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional, TypeVar, Union

import numpy as np
import torch
from torch import Tensor

from ._checks import check_nonneg, check_positive_int, check_seed, check_X, check_Xy

__all__ = [
    "BUNDLED_DATA_DIR",
    "CLASSIFICATION_DATASETS",
    "ClassificationData",
    "DATASETS",
    "N_SPLITS",
    "RegressionData",
    "SKLEARN_DATASETS",
    "available_datasets",
    "classification_from_arrays",
    "dataset_task",
    "default_data_dir",
    "from_arrays",
    "load_breast_cancer",
    "load_csv",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_uci",
    "rastrigin",
    "read_test_mask",
]

#: The folder of the data sets that ship with the package (package data; see ``docs/data.md``).
BUNDLED_DATA_DIR: Path = Path(__file__).resolve().parent / "datasets"

#: Names of the UCI data sets bundled with the package (the paper's four). :func:`load_uci`
#: reads any other data set folder in the same layout too (:func:`available_datasets`).
DATASETS: tuple[str, ...] = ("servo", "machine", "solar", "wine")

#: Names of the real data sets that ship with scikit-learn (the optional extra
#: ``torch_lipcvx[sklearn]``): :func:`load_diabetes`, :func:`load_breast_cancer`,
#: :func:`load_digits`. :func:`load_dataset` and the CLI's ``--data`` know them by these names.
SKLEARN_DATASETS: tuple[str, ...] = ("diabetes", "breast_cancer", "digits")

#: The names :func:`load_dataset` returns a :class:`ClassificationData` for
#: (:func:`dataset_task` gives ``"classification"``); every other name is a regression set.
CLASSIFICATION_DATASETS: tuple[str, ...] = ("breast_cancer", "digits")

#: Number of train/test splits (columns of ``test_mask.csv.gz``) of each bundled data set.
N_SPLITS: int = 10

#: Environment variable naming the default data directory.
DATA_ENV_VAR: str = "TORCH_LIPCVX_DATA"

_DATA_FILE = "data.csv.gz"
_MASK_FILE = "test_mask.csv.gz"

PathLike = Union[str, "os.PathLike[str]"]

_D = TypeVar("_D", bound="_SplitData")


# --------------------------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------------------------


class _SplitData:
    """What :class:`RegressionData` and :class:`ClassificationData` share: the sizes, dtype and
    device of a train/test split with inputs ``X_train (n_train, d)``, ``X_test (n_test, d)``
    standardised by ``x_mean, x_std (d,)``, and the methods that only use those."""

    def _check_shapes(self, expected: Callable[[int, int, int], dict[str, tuple[int, ...]]]) -> None:
        """Require 2-d ``X_train``/``X_test`` and, for each other field, the shape that
        ``expected(n_train, d, n_test)`` gives it."""
        for field in ("X_train", "X_test"):
            if getattr(self, field).dim() != 2:
                raise ValueError(f"{field} must be 2-d, got shape {tuple(getattr(self, field).shape)}")
        n_train, d = self.X_train.shape
        n_test = self.X_test.shape[0]
        for field, shape in expected(n_train, d, n_test).items():
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
        """The floating dtype of the inputs (and, for regression, of every tensor)."""
        return self.X_train.dtype

    @property
    def device(self) -> torch.device:
        """The device of every tensor."""
        return self.X_train.device

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

    def to(self: _D, device: Optional[Union[str, torch.device]] = None,
           dtype: Optional[torch.dtype] = None) -> _D:
        """Return a copy with every tensor moved to ``device`` and every floating tensor cast
        to ``dtype`` (integer class labels keep their int64 dtype).

        Raises:
            ValueError: if ``dtype`` is not a floating dtype.
        """
        if dtype is not None:
            _check_float_dtype(dtype)
        changes = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                changes[f.name] = value.to(device=device,
                                           dtype=dtype if value.is_floating_point() else None)
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, repr=False, eq=False)
class RegressionData(_SplitData):
    """A regression data set split into training and test rows.

    Attributes:
        name: the data set's name (``"servo"``, ..., ``"rastrigin"``, a folder's or a file's
            name).
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
        split: the split index (0..9 for the bundled UCI data), or ``None`` for data split by
            a given test mask or index list.
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
        self._check_shapes(lambda n_train, d, n_test: {
            "y_train": (n_train,), "X_test": (n_test, d), "y_test": (n_test,),
            "x_mean": (d,), "x_std": (d,), "y_mean": (), "y_std": ()})

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


@dataclass(frozen=True, repr=False, eq=False)
class ClassificationData(_SplitData):
    """A classification data set split into training and test rows.

    The parallel of :class:`RegressionData` for integer class labels: the features are
    standardised by the same rule (training statistics, population std, std 1 for a constant
    column), the labels are kept as they are.

    Attributes:
        name: the data set's name (``"breast_cancer"``, ``"digits"``, or the ``name=`` given to
            :func:`classification_from_arrays`).
        X_train: ``(n_train, d)`` training inputs, standardised unless loaded with
            ``standardize=False``.
        y_train: ``(n_train,)`` int64 training labels in ``0..num_classes-1``.
        X_test: ``(n_test, d)`` test inputs, transformed with the *training* statistics;
            ``n_test`` may be 0.
        y_test: ``(n_test,)`` int64 test labels.
        x_mean: ``(d,)`` feature means of the raw training rows (zeros if not standardised).
        x_std: ``(d,)`` population standard deviations of the raw training rows, with 1 in
            place of 0 for constant columns (ones if not standardised).
        num_classes: the number of classes ``K >= 2``; every label is in ``0..K-1`` (a class
            may have no row in one of the two parts).
        split: the random split's index, or ``None`` for data split by a given test mask or
            index list.
        seed: the random seed that generated the data, or ``None`` for real data.

    The floating tensors share one dtype, all tensors one device. Raw inputs relate to stored
    ones by ``X_raw = X * x_std + x_mean``.

    Raises:
        ValueError: on construction, if the tensors' shapes are inconsistent, the labels are not
            int64, or a label is outside ``0..num_classes-1``.
    """

    name: str
    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    x_mean: Tensor
    x_std: Tensor
    num_classes: int
    split: Optional[int] = None
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        self._check_shapes(lambda n_train, d, n_test: {
            "y_train": (n_train,), "X_test": (n_test, d), "y_test": (n_test,),
            "x_mean": (d,), "x_std": (d,)})
        k = _check_int(self.num_classes, "num_classes")
        if k < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {k}")
        for field in ("y_train", "y_test"):
            y = getattr(self, field)
            if y.dtype != torch.int64:
                raise ValueError(f"{field} must hold int64 class labels, got dtype {y.dtype}")
            if y.numel() and y.device.type != "meta" and not bool(((y >= 0) & (y < k)).all()):
                raise ValueError(f"{field} must hold labels in 0..{k - 1} (num_classes={k}), "
                                 f"found {int(y[(y < 0) | (y >= k)][0])}")

    def __repr__(self) -> str:
        return (f"ClassificationData(name={self.name!r}, split={self.split}, seed={self.seed}, "
                f"n_train={self.n}, n_test={self.n_test}, d={self.d}, "
                f"num_classes={self.num_classes}, dtype={self.dtype}, device={self.device})")


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


def _x_stats(X: Tensor) -> tuple[Tensor, Tensor]:
    """Means and population stds of the columns of ``X (n, d)``.

    A column that is constant (max == min) gets std 1 so that standardising it gives zeros.
    """
    x_mean = X.mean(dim=0)
    x_std = X.std(dim=0, correction=0)
    x_std = torch.where(X.amax(dim=0) == X.amin(dim=0), torch.ones_like(x_std), x_std)
    return x_mean, x_std


def _y_stats(y: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and population std (0-d tensors) of the targets ``y (n,)``; a constant target
    gets std 1, as in :func:`_x_stats`."""
    y_mean = y.mean()
    y_std = y.std(correction=0)
    if bool(y.amax() == y.amin()):
        y_std = torch.ones_like(y_std)
    return y_mean, y_std


def _standardize_X_parts(X_train: Tensor, X_test: Tensor,
                         standardize: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(X_train, X_test, x_mean, x_std)``: both parts standardised with the statistics of
    the (float64, raw) training rows, or unchanged with zeros and ones as the statistics."""
    if standardize:
        x_mean, x_std = _x_stats(X_train)
        return (X_train - x_mean) / x_std, (X_test - x_mean) / x_std, x_mean, x_std
    d = X_train.shape[1]
    return (X_train, X_test, torch.zeros(d, dtype=X_train.dtype),
            torch.ones(d, dtype=X_train.dtype))


def _make_data(name: str, X_train: Tensor, y_train: Tensor, X_test: Tensor, y_test: Tensor,
               standardize: bool, dtype: torch.dtype, split: Optional[int],
               seed: Optional[int]) -> RegressionData:
    """Fit statistics on the (float64, raw) training rows, apply them to both parts, cast."""
    X_train, X_test, x_mean, x_std = _standardize_X_parts(X_train, X_test, standardize)
    if standardize:
        y_mean, y_std = _y_stats(y_train)
        y_train = (y_train - y_mean) / y_std
        y_test = (y_test - y_mean) / y_std
    else:
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


def _as_path(value, name: str) -> Path:
    """``value`` as a :class:`Path` with ``~`` expanded (TypeError naming ``name`` otherwise)."""
    try:
        return Path(os.fspath(value)).expanduser()
    except TypeError:
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {value!r}") from None


def _search_dirs(root: Optional[PathLike]) -> list[Path]:
    """The directories to look for a data set folder in: ``[root]`` if given, else
    ``$TORCH_LIPCVX_DATA`` (if set) followed by :data:`BUNDLED_DATA_DIR`.

    Raises:
        TypeError: ``root`` is not a path.
        FileNotFoundError: ``root`` (or ``$TORCH_LIPCVX_DATA``) does not name a directory.
    """
    if root is not None:
        root_path = _as_path(root, "root")
        if not root_path.is_dir():
            raise FileNotFoundError(f"data directory not found: {root_path} (root= must name an "
                                    f"existing directory holding one folder per data set; the "
                                    f"data are not downloaded)")
        return [root_path]
    dirs = []
    env = _env_data_dir()
    if env is not None:
        if not env.is_dir():
            raise FileNotFoundError(f"data directory not found: {env} (named by the environment "
                                    f"variable {DATA_ENV_VAR}; unset it to use the bundled data "
                                    f"sets, or point it at an existing directory)")
        dirs.append(env)
    dirs.append(BUNDLED_DATA_DIR)
    return dirs


def _env_data_dir() -> Optional[Path]:
    """The directory named by ``$TORCH_LIPCVX_DATA``, or ``None`` if unset or empty."""
    value = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def _sets_in(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder`` that hold a ``data.csv.gz``."""
    try:
        return sorted(p.name for p in folder.iterdir() if (p / _DATA_FILE).is_file())
    except OSError:
        return []


def _check_set_name(name) -> str:
    """A data set name: a non-empty string naming one folder (no path separators)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string naming a data set folder (e.g. 'wine'), "
                        f"got {name!r}")
    key = name.strip()
    if not key or key in (".", "..") or "/" in key or "\\" in key or os.sep in key:
        raise ValueError(f"name must be the name of one data set folder such as 'wine', got "
                         f"{name!r}; to read a folder elsewhere pass its parent directory as "
                         f"root=, or use load_csv for a single file")
    return key


def _dataset_folder(name: str, root: Optional[PathLike], also: tuple[str, ...] = (),
                    sklearn: bool = False) -> Path:
    """Find the folder of data set ``name`` under ``root`` (or the default search directories).

    The exact name is tried first, then its lower-case form (so ``"Wine"`` finds ``wine``).
    ``also``: further valid names (e.g. ``"rastrigin"``) to list in the error message;
    ``sklearn``: also name the scikit-learn sets (:data:`SKLEARN_DATASETS`) there.

    Raises:
        TypeError: ``name`` not a string or ``root`` not a path.
        ValueError: no such folder; the message lists the data sets that are there.
        FileNotFoundError: ``root`` (or ``$TORCH_LIPCVX_DATA``) is not a directory.
    """
    key = _check_set_name(name)
    dirs = _search_dirs(root)
    for folder in dirs:
        for candidate in dict.fromkeys((key, key.lower())):
            if (folder / candidate).is_dir():
                return folder / candidate
    there = sorted({s for folder in dirs for s in _sets_in(folder)} | set(also))
    where = " or ".join(str(d) for d in dirs)
    shipped = (f"; scikit-learn's (the extra torch_lipcvx[sklearn]): "
               f"{', '.join(SKLEARN_DATASETS)}" if sklearn else "")
    raise ValueError(f"unknown data set {name!r}: no folder {key!r} under {where}; data sets "
                     f"there: {', '.join(there) if there else '(none)'}{shipped} (a data set "
                     f"is a folder NAME holding NAME/{_DATA_FILE} and NAME/{_MASK_FILE})")


def _as_bool_mask(values: np.ndarray, what: str, n: int) -> np.ndarray:
    """Check a test mask of ``n`` entries (bool, or numbers that are all 0 or 1); return it as a
    bool ``(n,)`` array. ``what`` names the mask in messages."""
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{what} must be a vector with one entry per data row (n={n}), got "
                         f"shape {values.shape}")
    if values.shape[0] != n:
        raise ValueError(f"{what} has {values.shape[0]} entries but the data have {n} rows: it "
                         f"needs exactly one True/False (or 1/0) per row")
    if values.dtype == np.bool_:
        return values.copy()
    if not (np.issubdtype(values.dtype, np.number) and not np.issubdtype(values.dtype,
                                                                       np.complexfloating)):
        raise TypeError(f"{what} must hold booleans or the numbers 0 and 1, got values of dtype "
                        f"{values.dtype}")
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what} must hold only True/False or 0/1, found {values[i].item()!r} at row {i} "
                         f"({int(bad.sum())} bad value(s))")
    return values == 1


def _check_partition(is_test: np.ndarray, what: str) -> None:
    """Require at least one test row and at least one training row in a given split."""
    n_test = int(is_test.sum())
    if n_test == 0:
        raise ValueError(f"{what} marks no row as a test row: a given split needs at least one "
                         f"test row (for no test rows use a random split with test_fraction=0)")
    if n_test == is_test.shape[0]:
        raise ValueError(f"{what} marks every row ({n_test}) as a test row: no training rows "
                         f"are left to fit on")


def _to_numpy(values, what: str) -> np.ndarray:
    """A tensor, array or sequence as a numpy array (TypeError naming ``what`` otherwise)."""
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a vector (tensor, array or list), got {values!r}")
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a vector (tensor, array or list), got "
                        f"{type(values).__name__}: {exc}") from None
    if arr.dtype == object:
        raise TypeError(f"{what} must be a vector of numbers, got {type(values).__name__} "
                        f"holding non-numeric or ragged entries")
    return arr


def _test_mask(test_mask, n: int) -> np.ndarray:
    """Validate a user's test mask for ``n`` rows; a bool ``(n,)`` array."""
    is_test = _as_bool_mask(_to_numpy(test_mask, "test_mask"), "test_mask", n)
    _check_partition(is_test, "test_mask")
    return is_test


def _test_indices(test_indices, n: int) -> np.ndarray:
    """Validate a user's test row indices for ``n`` rows; the bool ``(n,)`` test mask."""
    idx = _to_numpy(test_indices, "test_indices")
    if idx.ndim == 0:
        idx = idx.reshape(1)
    if idx.ndim != 1:
        raise ValueError(f"test_indices must be a 1-d list of row indices, got shape {idx.shape}")
    if idx.size == 0:
        raise ValueError("test_indices is empty: a given split needs at least one test row "
                         "(for no test rows use a random split with test_fraction=0)")
    if idx.dtype == np.bool_:
        raise TypeError("test_indices must be integer row indices, got booleans; pass a boolean "
                        "vector as test_mask= instead")
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"test_indices must be integer row indices (0-based), got values of "
                        f"dtype {idx.dtype}")
    out = (idx < 0) | (idx >= n)
    if out.any():
        raise ValueError(f"test_indices must be row indices in 0..{n - 1} (0-based; the data have "
                         f"{n} rows), found {int(idx[np.flatnonzero(out)[0]])}")
    values, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"test_indices lists row {int(values[np.flatnonzero(counts > 1)[0]])} "
                         f"more than once; each test row must appear once")
    is_test = np.zeros(n, dtype=bool)
    is_test[idx] = True
    _check_partition(is_test, "test_indices")
    return is_test


def read_test_mask(path: PathLike, n: Optional[int] = None,
                   split: Optional[int] = None) -> np.ndarray:
    """Read a test mask file: comma-separated 0/1 values (``.csv`` or ``.csv.gz``), no header.

    One column is one test mask; a file with several columns (like a data set folder's
    ``test_mask.csv.gz``) holds one mask per split and ``split`` picks the column (the first,
    as for :func:`load_uci`, by default).

    Args:
        path: the mask file.
        n: the number of data rows the mask must have (``None``: not checked).
        split: the column to use, ``0 <= split < columns`` (``None``: 0).

    Returns:
        A bool ``(rows,)`` numpy array, ``True`` for test rows.

    Raises:
        FileNotFoundError: the file does not exist.
        TypeError: ``split`` is not an integer.
        ValueError: the file is unparsable, empty or non-finite, holds a value other than 0/1,
            has no column ``split``, has a row count other than ``n``, or marks no test row or
            every row; the message names the file.
    """
    p = _as_path(path, "path")
    table = _read_csv(p)
    cols = table.shape[1]
    split = _check_int(0 if split is None else split, "split")
    if not 0 <= split < cols:
        raise ValueError(f"split must be an integer in 0..{cols - 1} ({p} has {cols} "
                         f"column(s), one per split), got {split}")
    what = f"test mask {p} (column {split})" if cols > 1 else f"test mask {p}"
    column = table[:, split]
    is_test = _as_bool_mask(column, what, column.shape[0] if n is None else n)
    _check_partition(is_test, what)
    return is_test


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The directory :func:`load_uci` looks in first when ``root`` is not given.

    Returns:
        The directory named by the environment variable ``TORCH_LIPCVX_DATA`` (with ``~``
        expanded) if it is set and non-empty, else :data:`BUNDLED_DATA_DIR`, the data sets
        that ship with the package. (With the variable set, :func:`load_uci` still finds the
        bundled sets that are not in that directory.) Existence is not checked here.
    """
    env = _env_data_dir()
    return env if env is not None else BUNDLED_DATA_DIR


def available_datasets(root: Optional[PathLike] = None) -> tuple[str, ...]:
    """The names of the data sets :func:`load_uci` can read (sorted).

    Args:
        root: a directory holding one folder per data set; ``None`` means the default search
            (``$TORCH_LIPCVX_DATA`` if set, and the bundled data sets).

    Returns:
        The names of the folders that hold a ``data.csv.gz`` (whether their files are
        well-formed is checked only when one is loaded).

    Raises:
        TypeError: ``root`` is not a path.
        FileNotFoundError: ``root`` (or ``$TORCH_LIPCVX_DATA``) is not a directory.
    """
    return tuple(sorted({s for folder in _search_dirs(root) for s in _sets_in(folder)}))


def load_uci(name: str, root: Optional[PathLike] = None, split: int = 0, *,
             standardize: bool = True, dtype: torch.dtype = torch.float64) -> RegressionData:
    """Load one train/test split of a data set folder (the bundled UCI sets or your own).

    Reads ``ROOT/NAME/data.csv.gz`` (all columns but the last are features, the last is the
    target) and ``ROOT/NAME/test_mask.csv.gz`` (0/1 columns, one per split; the rows with a 1
    in column ``split`` are the test rows, all others the training rows). The row order of the
    files is kept within each part. Nothing is downloaded.

    Standardisation (``standardize=True``): features and target are centred and divided by their
    population standard deviation (``1/n``), with the statistics computed on the **training rows
    only** and applied to training and test rows alike; a column constant on the training rows gets
    std 1. The statistics are stored in the result (``x_mean, x_std (d,)``, ``y_mean, y_std``
    0-d). With ``standardize=False`` the raw values are returned and the stored statistics are
    0 and 1.

    Args:
        name: the data set's folder name: one of the bundled :data:`DATASETS` (``"servo"``,
            ``"machine"``, ``"solar"``, ``"wine"``) or any folder under ``root`` in this layout
            (the exact name, else its lower-case form).
        root: directory that holds one folder per data set; ``None`` searches
            ``$TORCH_LIPCVX_DATA`` (if set) and then the bundled data sets
            (:data:`BUNDLED_DATA_DIR`).
        split: which train/test split, ``0 <= split < columns of the mask`` (0..9 for the
            bundled sets).
        standardize: whether to standardise as described above.
        dtype: floating dtype of the returned tensors (computation is done in float64).

    Returns:
        A :class:`RegressionData` on the CPU named after the folder, with ``X_train (n_train,
        d)``, ``y_train (n_train,)``, ``X_test (n_test, d)``, ``y_test (n_test,)``,
        ``split=split`` and ``seed=None``. Bundled sizes: servo 167 rows × 4 features, machine
        209 × 7, solar 1066 × 10, wine 1599 × 11, about 10% of the rows being test rows in each
        split. (The wine target is the collection's last column, alcohol; see ``docs/data.md``.)

    Raises:
        TypeError: if ``name`` is not a string, ``split`` not an integer or ``root`` not a path.
        ValueError: if no folder ``name`` exists (the message lists the data sets there),
            ``split`` is negative or has no mask column, ``dtype`` is not floating, or a file is
            malformed (unparsable, NaN/Inf, mask not 0/1, mask and data row counts differ, a
            split with no training or no test rows); the message names the file.
        FileNotFoundError: if ``root`` (or ``$TORCH_LIPCVX_DATA``) is not a directory, or one of
            the folder's two files does not exist; the message names the path.
    """
    _check_set_name(name)
    split = _check_int(split, "split")
    if split < 0:
        raise ValueError(f"split must be an integer >= 0 (a column of {_MASK_FILE}), got {split}")
    _check_float_dtype(dtype)

    folder = _dataset_folder(name, root)
    data_path, mask_path = folder / _DATA_FILE, folder / _MASK_FILE
    data = _read_csv(data_path)
    mask = _read_csv(mask_path)
    if data.shape[1] < 2:
        raise ValueError(f"{data_path} must have at least 2 columns (features, then the target), "
                         f"got {data.shape[1]}")
    if mask.shape[0] != data.shape[0]:
        raise ValueError(f"{mask_path} has {mask.shape[0]} rows but {data_path} has "
                         f"{data.shape[0]}: the mask needs one row per data row")
    bad = ~np.isin(mask, (0.0, 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{mask_path} must contain only 0 and 1, found {mask[r, c].item()!r} at row {r}, "
                         f"column {c} ({int(bad.sum())} bad value(s))")
    if split >= mask.shape[1]:
        raise ValueError(f"split must be an integer in 0..{mask.shape[1] - 1}, got {split} "
                         f"({mask_path} has {mask.shape[1]} columns, one per split)")
    is_test_np = mask[:, split] == 1.0
    _check_partition(is_test_np, f"{mask_path} (split {split})")

    is_test = torch.from_numpy(is_test_np)
    table = torch.from_numpy(data)  # float64
    X, y = table[:, :-1], table[:, -1]
    return _make_data(folder.name, X[~is_test], y[~is_test], X[is_test], y[is_test],
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
                 n: int = 1000, d: int = 2, **kw) -> Union[RegressionData, ClassificationData]:
    """Load a data set by name: ``"rastrigin"``, a scikit-learn set (:data:`SKLEARN_DATASETS`)
    or a data set folder's name (:func:`load_uci`).

    ``"rastrigin"`` calls ``rastrigin(n, d, seed=seed + split, **kw)`` (so each split is a fresh
    draw; ``(seed, split)`` and ``(seed + 1, split − 1)`` are the same draw, so vary one of the
    two, as the paper runner does with its base seed fixed) and records ``split`` in the result;
    ``root`` is ignored. ``"diabetes"``, ``"breast_cancer"`` and ``"digits"`` (case ignored,
    ``-`` for ``_`` accepted) call :func:`load_diabetes`, :func:`load_breast_cancer` or
    :func:`load_digits` with ``split`` and ``**kw``; ``root``, ``seed``, ``n`` and ``d`` are then
    ignored (these names always mean the scikit-learn sets, whatever folders ``root`` holds).
    Any other name calls ``load_uci(name, root, split, **kw)``; ``seed``, ``n`` and ``d`` are
    then ignored. :func:`dataset_task` tells which result type a name gives.

    Args:
        name: ``"rastrigin"``, one of :data:`SKLEARN_DATASETS`, or the name of a data set
            folder: a bundled one (:data:`DATASETS`) or one under ``root``.
        root: data directory for the folder data sets (see :func:`load_uci`; ``None``: the
            bundled sets, after ``$TORCH_LIPCVX_DATA`` if set).
        split: split index (``0..9`` for the bundled sets, any integer ``>= 0`` for Rastrigin
            and the scikit-learn sets).
        seed, n, d: Rastrigin's base seed, number of rows and dimension.
        **kw: further keyword arguments of :func:`rastrigin`, the scikit-learn loaders or
            :func:`load_uci` (``standardize``, ``dtype``; ``test_fraction`` for Rastrigin and
            the scikit-learn sets, ``noise`` for Rastrigin, ``device`` for the scikit-learn
            sets).

    Returns:
        A :class:`ClassificationData` for the names of :data:`CLASSIFICATION_DATASETS`, else a
        :class:`RegressionData`.

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: if ``name`` is none of these (the message lists the data sets there), and
            whatever :func:`rastrigin`, the scikit-learn loaders or :func:`load_uci` raise.
        ImportError: a scikit-learn set without scikit-learn installed.
    """
    key = _check_set_name(name)
    if key.lower() == "rastrigin":
        split = _check_int(split, "split")
        if split < 0:
            raise ValueError(f"split must be an integer >= 0, got {split}")
        seed = check_seed(_check_int(seed, "seed"))
        # split k is the stream seed + k, taken modulo 2**64 as seeded_generator does
        return dataclasses.replace(rastrigin(n, d, seed=(seed + split) % 2 ** 64, **kw),
                                   split=split)
    sk = _sklearn_key(key)
    if sk is not None:
        return _SKLEARN_FUNCS[sk](split, **kw)
    folder = _dataset_folder(key, root, also=("rastrigin",), sklearn=True)
    return load_uci(folder.name, folder.parent, split, **kw)


def _check_fraction(test_fraction) -> float:
    try:
        tf = float(test_fraction)
    except (TypeError, ValueError):
        raise TypeError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}") from None
    if not 0.0 <= tf < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    return tf


def _split_rows(n: int, test_fraction, split, test_mask, test_indices) -> tuple[np.ndarray, Optional[int]]:
    """The bool ``(n,)`` test mask and the recorded split index, from one of the three ways of
    choosing test rows (a given mask, given indices, or a seeded random split)."""
    if test_mask is not None and test_indices is not None:
        raise ValueError("pass either test_mask or test_indices, not both")
    if test_mask is not None or test_indices is not None:
        given = "test_mask" if test_mask is not None else "test_indices"
        if test_fraction is not None or split is not None:
            other = "test_fraction" if test_fraction is not None else "split"
            raise ValueError(f"{other} chooses a random split and {given} gives the test rows: "
                             f"pass one of them, not both")
        if test_mask is not None:
            return _test_mask(test_mask, n), None
        return _test_indices(test_indices, n), None
    tf = _check_fraction(0.1 if test_fraction is None else test_fraction)
    split = _check_int(0 if split is None else split, "split")
    if split < 0:
        raise ValueError(f"split must be an integer >= 0, got {split}")
    n_test = int(round(n * tf))
    if n - n_test < 1:
        raise ValueError(f"test_fraction={test_fraction!r} leaves no training row out of n={n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split)).numpy()
    is_test = np.zeros(n, dtype=bool)
    is_test[perm[:n_test]] = True
    return is_test, split


def from_arrays(X, y, *, test_fraction: Optional[float] = None, split: Optional[int] = None,
                test_mask=None, test_indices=None, standardize: bool = True,
                dtype: torch.dtype = torch.float64, name: str = "arrays") -> RegressionData:
    """Your own data as a :class:`RegressionData`: a train/test split, then standardisation with
    the training statistics (as :func:`load_uci`).

    The test rows are chosen in one of three ways:

    * ``test_mask``: a vector of ``n`` booleans (or 0/1 numbers); ``True``/1 marks a test row;
    * ``test_indices``: the 0-based row indices of the test rows (each once);
    * otherwise a seeded random split: ``round(n · test_fraction)`` rows (default
      ``test_fraction=0.1``), drawn by a permutation seeded with ``split`` (default 0). The same
      arguments always give the same split, and splits ``0, 1, …`` are independent draws
      (repeated random splits, as the paper's ten UCI splits).

    A given mask or index list must leave at least one training and one test row. Both parts
    keep the rows' original order.

    Args:
        X: ``(n, d)`` features, finite (tensor or array; read in float64).
        y: ``(n,)`` (or ``(n, 1)``) targets, finite, in any units.
        test_fraction: random split: fraction of rows held out, ``0 <= test_fraction < 1``
            (``None``: 0.1).
        split: random split: which one, an integer ``>= 0`` (the permutation's seed; ``None``:
            0).
        test_mask: ``(n,)`` bool or 0/1 vector (tensor, array or list) of test rows, instead of
            a random split.
        test_indices: 1-d integers in ``0..n-1``, the test rows, instead of a random split.
        standardize: whether to standardise features and target with training statistics.
        dtype: floating dtype of the returned tensors (computation is done in float64).
        name: the data set's name in the result.

    Returns:
        A :class:`RegressionData` on the CPU with ``seed=None`` and ``split`` the random split's
        index (``None`` for a given mask or index list).

    Raises:
        TypeError: ``split`` not an integer, ``test_fraction`` not a number, ``test_mask`` not
            booleans/numbers, ``test_indices`` not integers.
        ValueError: ``X`` not a non-empty ``(n, d)`` array, ``y`` not ``n`` values, NaN/Inf,
            ``test_fraction`` outside ``[0, 1)`` or leaving no training row, ``split < 0``,
            ``dtype`` not floating; ``test_mask`` of the wrong length or with values other than
            0/1; ``test_indices`` out of range, repeated or empty; a given split with no test
            row or no training row; a mask or indices passed together with each other or with
            ``test_fraction``/``split``.
    """
    X, y = (v.detach().cpu().to(torch.float64) for v in check_Xy(X, y))
    _check_float_dtype(dtype)
    is_test_np, split = _split_rows(X.shape[0], test_fraction, split, test_mask, test_indices)
    is_test = torch.from_numpy(is_test_np)
    return _make_data(str(name), X[~is_test], y[~is_test], X[is_test], y[is_test],
                      standardize=bool(standardize), dtype=dtype, split=split, seed=None)


def _stem(path: Path) -> str:
    """A data file's name without ``.gz`` and its extension (``wine.csv.gz`` → ``wine``)."""
    name = path.name.removesuffix(".gz")
    stem = Path(name).stem
    return stem or name


def load_csv(path: PathLike, *, target: int = -1, header: bool = False,
             test_fraction: Optional[float] = None, split: Optional[int] = None,
             test_mask=None, test_indices=None, standardize: bool = True,
             dtype: torch.dtype = torch.float64) -> RegressionData:
    """Read a comma-separated numeric table (``.csv`` or ``.csv.gz``) and split it as
    :func:`from_arrays` does: column ``target`` is the target, all others are features.

    Args:
        path: the file; every row has the same number of numeric columns (at least 2).
        target: index of the target column (negative counts from the end; default the last).
        header: skip the first line (column names).
        test_fraction, split: a seeded random split, as :func:`from_arrays` (defaults 0.1, 0).
        test_mask: the test rows as a ``(rows,)`` bool/0-1 vector (as :func:`from_arrays`), or
            the path of a mask file (read by :func:`read_test_mask`: 0/1 values, no header; a
            file with several columns holds one mask per split and ``split`` picks the column,
            default 0, as in a data set folder's ``test_mask.csv.gz``).
        test_indices: the 0-based indices of the test rows (data rows, not counting a header).
        standardize, dtype: as :func:`from_arrays`.

    Returns:
        A :class:`RegressionData` named after the file (its name without ``.csv``/``.csv.gz``),
        with ``split`` the random split's index, the mask file's column, or ``None`` for a
        given vector or index list.

    Raises:
        FileNotFoundError: the file (or the mask file) does not exist.
        TypeError: ``target`` not an integer.
        ValueError: unparsable, empty or non-finite table (the message names the file), fewer
            than 2 columns, ``target`` out of range, a bad mask file (see
            :func:`read_test_mask`), and whatever :func:`from_arrays` raises.
    """
    p = _as_path(path, "path")
    k = _check_int(target, "target")
    table = _read_csv(p, header=bool(header))
    cols = table.shape[1]
    if cols < 2:
        raise ValueError(f"{p} must have at least 2 columns (features and a target), got {cols}")
    if not -cols <= k < cols:
        raise ValueError(f"target={target} is out of range for {p}, which has {cols} columns")
    k %= cols
    X = np.delete(table, k, axis=1)
    mask_split = None
    if isinstance(test_mask, (str, os.PathLike)):
        if test_indices is not None:
            raise ValueError("pass either test_mask or test_indices, not both")
        if test_fraction is not None:
            raise ValueError("test_fraction chooses a random split and test_mask gives the test "
                             "rows: pass one of them, not both")
        test_mask = read_test_mask(test_mask, n=table.shape[0], split=split)
        mask_split = 0 if split is None else split
        split = None
    data = from_arrays(X, table[:, k], test_fraction=test_fraction, split=split,
                       test_mask=test_mask, test_indices=test_indices, standardize=standardize,
                       dtype=dtype, name=_stem(p))
    return dataclasses.replace(data, split=mask_split) if mask_split is not None else data


# --------------------------------------------------------------------------------------------
# Classification data and the scikit-learn data sets
# --------------------------------------------------------------------------------------------


def _check_device(device) -> Optional[torch.device]:
    """``None`` or a :class:`torch.device` (ValueError naming ``device`` otherwise)."""
    if device is None:
        return None
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be None, a torch.device or a device string such as 'cpu' "
                         f"or 'cuda', got {device!r}") from None


def _check_labels(y, n: int, num_classes) -> tuple[Tensor, int]:
    """Validate class labels for ``n`` rows: ``(n,)`` (or ``(n, 1)``) integers ``>= 0`` (bool,
    integer, or integral floats; binary ``±1`` labels map ``-1 → 0``). Returns the int64
    ``(n,)`` CPU labels and the number of classes (``num_classes``, or the largest label + 1)."""
    arr = _to_numpy(y, "y")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) (one class label per row of X), got shape "
                         f"{arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"y must hold integer class labels 0..K-1, got values of dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"y must hold integer class labels 0..K-1, found {arr[i].item()!r} "
                             f"at row {i} ({int(bad.sum())} non-integer value(s))")
    if np.abs(arr).max() >= 2 ** 62:
        raise ValueError(f"y must hold class labels 0..K-1, found {arr[np.argmax(np.abs(arr))]!r}")
    labels = arr.astype(np.int64)
    if labels.min() == -1 and np.isin(labels, (-1, 1)).all():
        labels = np.where(labels == -1, 0, 1)          # binary ±1 labels: -1 → class 0
    if labels.min() < 0:
        i = int(np.flatnonzero(labels < 0)[0])
        raise ValueError(f"y must hold class labels 0..K-1 (binary labels may also be -1/+1), "
                         f"found {labels[i]} at row {i}")
    top = int(labels.max()) + 1
    if num_classes is None:
        if top < 2:
            raise ValueError("y holds only the class 0: a classification data set needs at least "
                             "two classes (pass num_classes= if other classes exist elsewhere)")
        k = top
    else:
        k = _check_int(num_classes, "num_classes")
        if k < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {k}")
        if top > k:
            raise ValueError(f"y holds the label {top - 1} but num_classes={k} allows only "
                             f"0..{k - 1}")
    return torch.from_numpy(labels.astype(np.int64)), k


def classification_from_arrays(X, y, *, num_classes: Optional[int] = None,
                               test_fraction: Optional[float] = None, split: Optional[int] = None,
                               test_mask=None, test_indices=None, standardize: bool = True,
                               dtype: torch.dtype = torch.float64,
                               device: Optional[Union[str, torch.device]] = None,
                               name: str = "arrays") -> ClassificationData:
    """Your own classification data as a :class:`ClassificationData`: a train/test split as
    :func:`from_arrays` chooses it (a given ``test_mask``, given ``test_indices``, or a random
    split seeded by ``split`` holding out ``round(n · test_fraction)`` rows, default 0.1), then
    the features standardised with the training statistics. Labels are never standardised.

    Args:
        X: ``(n, d)`` features, finite (tensor or array; read in float64).
        y: ``(n,)`` (or ``(n, 1)``) class labels: integers ``0..K-1`` (an integer, bool or
            float array whose values are whole numbers); binary labels may be given as
            ``-1/+1`` and are mapped ``-1 → 0``, ``+1 → 1``.
        num_classes: the number of classes ``K >= 2``; ``None``: the largest label + 1 (a class
            without rows in one part, or at all below the largest label, is allowed).
        test_fraction, split, test_mask, test_indices: the split, as :func:`from_arrays`.
        standardize: whether to standardise the features with training statistics.
        dtype: floating dtype of the features (computation is done in float64).
        device: the device of the returned tensors (``None``: the CPU).
        name: the data set's name in the result.

    Returns:
        A :class:`ClassificationData` with int64 labels, ``seed=None`` and ``split`` the random
        split's index (``None`` for a given mask or index list).

    Raises:
        TypeError: labels that are not numbers, and whatever :func:`from_arrays` raises as a
            TypeError.
        ValueError: ``X`` not a non-empty ``(n, d)`` array or non-finite; ``y`` not ``n`` labels,
            NaN/Inf, not whole numbers, negative (other than binary ``-1/+1``), a single class,
            or above ``num_classes - 1``; ``num_classes < 2``; ``device`` not a device; and the
            split errors of :func:`from_arrays`.
    """
    X = check_X(X, "X").detach().cpu().to(torch.float64)
    labels, k = _check_labels(y, X.shape[0], num_classes)
    _check_float_dtype(dtype)
    device = _check_device(device)
    is_test_np, split = _split_rows(X.shape[0], test_fraction, split, test_mask, test_indices)
    is_test = torch.from_numpy(is_test_np)
    X_train, X_test, x_mean, x_std = _standardize_X_parts(X[~is_test], X[is_test],
                                                          bool(standardize))
    data = ClassificationData(
        name=str(name),
        X_train=X_train.to(dtype), y_train=labels[~is_test],
        X_test=X_test.to(dtype), y_test=labels[is_test],
        x_mean=x_mean.to(dtype), x_std=x_std.to(dtype),
        num_classes=k, split=split, seed=None,
    )
    return data if device is None else data.to(device)


#: scikit-learn's loader of each of :data:`SKLEARN_DATASETS` and its keyword arguments
#: (``scaled=False``: diabetes' raw features; we standardise them ourselves).
_SKLEARN_LOADERS: dict[str, tuple[str, dict]] = {
    "diabetes": ("load_diabetes", {"scaled": False}),
    "breast_cancer": ("load_breast_cancer", {}),
    "digits": ("load_digits", {}),
}


def _sklearn_key(name) -> Optional[str]:
    """The scikit-learn data set a name means (case and ``-``/``_`` ignored), or ``None``."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower().replace("-", "_")
    return key if key in SKLEARN_DATASETS else None


def _sklearn_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw ``(X, y)`` numpy arrays of one of :data:`SKLEARN_DATASETS`, read from the files
    that ship with scikit-learn (imported here, never at module import; nothing is downloaded).

    Raises:
        ImportError: scikit-learn is not installed; the message says how to install it.
    """
    try:
        from sklearn import datasets
    except ImportError as exc:
        raise ImportError(f"the {name!r} data set ships with scikit-learn, which is not "
                          f"installed: pip install \"torch_lipcvx[sklearn]\" (or pip install "
                          f"scikit-learn)") from exc
    loader, kw = _SKLEARN_LOADERS[name]
    X, y = getattr(datasets, loader)(return_X_y=True, **kw)
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _check_sklearn_args(split, test_fraction, dtype, device) -> Optional[torch.device]:
    """The arguments of the scikit-learn loaders, checked before scikit-learn is imported."""
    split = _check_int(split, "split")
    if split < 0:
        raise ValueError(f"split must be an integer >= 0, got {split}")
    _check_fraction(test_fraction)
    _check_float_dtype(dtype)
    return _check_device(device)


def load_diabetes(split: int = 0, *, test_fraction: float = 0.1, standardize: bool = True,
                  dtype: torch.dtype = torch.float64,
                  device: Optional[Union[str, torch.device]] = None) -> RegressionData:
    """The diabetes regression data set that ships with scikit-learn (442 rows × 10 features).

    Efron, Hastie, Johnstone and Tibshirani (2004), *Least Angle Regression*: age, sex, body
    mass index, average blood pressure and six blood serum measurements of 442 diabetes
    patients; the target is a quantitative measure of disease progression one year after
    baseline (25 to 346). The raw features are read (scikit-learn's ``scaled=False``) and split
    and standardised exactly as :func:`from_arrays` does: ``round(442 · test_fraction)`` test
    rows drawn by a permutation seeded with ``split`` (44 by default), then features and target
    standardised with the training statistics. Needs scikit-learn (the optional extra
    ``torch_lipcvx[sklearn]``); nothing is downloaded.

    Args:
        split: which random split, an integer ``>= 0`` (the permutation's seed); the same
            ``split`` always gives the same rows.
        test_fraction: fraction of rows held out, ``0 <= test_fraction < 1``.
        standardize: whether to standardise features and target with training statistics.
        dtype: floating dtype of the returned tensors (computation is done in float64).
        device: the device of the returned tensors (``None``: the CPU).

    Returns:
        A :class:`RegressionData` named ``"diabetes"`` with ``split=split`` and ``seed=None``.

    Raises:
        TypeError: ``split`` not an integer or ``test_fraction`` not a number.
        ValueError: ``split < 0``, ``test_fraction`` outside ``[0, 1)``, ``dtype`` not
            floating, ``device`` not a device.
        ImportError: scikit-learn is not installed (the message says how to install it).
    """
    device = _check_sklearn_args(split, test_fraction, dtype, device)
    X, y = _sklearn_arrays("diabetes")
    data = from_arrays(X, y, test_fraction=test_fraction, split=split, standardize=standardize,
                       dtype=dtype, name="diabetes")
    return data if device is None else data.to(device)


def _load_sklearn_classification(name: str, num_classes: int, split: int, test_fraction: float,
                                 standardize: bool, dtype: torch.dtype,
                                 device) -> ClassificationData:
    device = _check_sklearn_args(split, test_fraction, dtype, device)
    X, y = _sklearn_arrays(name)
    return classification_from_arrays(X, y, num_classes=num_classes, test_fraction=test_fraction,
                                      split=split, standardize=standardize, dtype=dtype,
                                      device=device, name=name)


def load_breast_cancer(split: int = 0, *, test_fraction: float = 0.1, standardize: bool = True,
                       dtype: torch.dtype = torch.float64,
                       device: Optional[Union[str, torch.device]] = None) -> ClassificationData:
    """The breast cancer classification data set that ships with scikit-learn (569 rows × 30
    features, 2 classes).

    The UCI Breast Cancer Wisconsin (Diagnostic) data set (Wolberg, Street and Mangasarian):
    30 features of the cell nuclei in a digitised image of a fine needle aspirate of a breast
    mass; label 0 is malignant (212 rows), 1 benign (357 rows). Split and standardised as
    :func:`classification_from_arrays` does (``round(569 · test_fraction)`` test rows drawn by
    a permutation seeded with ``split``, 57 by default; features standardised with the training
    statistics). Needs scikit-learn (``torch_lipcvx[sklearn]``); nothing is downloaded.

    Args:
        split, test_fraction, standardize, dtype, device: as :func:`load_diabetes`
            (``standardize`` acts on the features only).

    Returns:
        A :class:`ClassificationData` named ``"breast_cancer"`` with ``num_classes=2``.

    Raises:
        TypeError, ValueError, ImportError: as :func:`load_diabetes`.
    """
    return _load_sklearn_classification("breast_cancer", 2, split, test_fraction, standardize,
                                        dtype, device)


def load_digits(split: int = 0, *, test_fraction: float = 0.1, standardize: bool = True,
                dtype: torch.dtype = torch.float64,
                device: Optional[Union[str, torch.device]] = None) -> ClassificationData:
    """The handwritten digits classification data set that ships with scikit-learn (1797 rows ×
    64 features, 10 classes).

    The test set of the UCI Optical Recognition of Handwritten Digits data set (Alpaydin and
    Kaynak): 8 × 8 images of the digits 0–9, each pixel an integer 0..16 (row-major, 64
    features); the label is the digit (about 180 rows per class). Some border pixels are 0 in
    every image: standardised, such a column has std 1 and stays 0. Split and standardised as
    :func:`classification_from_arrays` does (180 test rows by default). Needs scikit-learn
    (``torch_lipcvx[sklearn]``); nothing is downloaded.

    Args:
        split, test_fraction, standardize, dtype, device: as :func:`load_diabetes`
            (``standardize`` acts on the features only).

    Returns:
        A :class:`ClassificationData` named ``"digits"`` with ``num_classes=10``.

    Raises:
        TypeError, ValueError, ImportError: as :func:`load_diabetes`.
    """
    return _load_sklearn_classification("digits", 10, split, test_fraction, standardize, dtype,
                                        device)


_SKLEARN_FUNCS = {"diabetes": load_diabetes, "breast_cancer": load_breast_cancer,
                  "digits": load_digits}


def dataset_task(name: str, root: Optional[PathLike] = None) -> Literal["regression",
                                                                        "classification"]:
    """Whether :func:`load_dataset` returns a regression or a classification set for ``name``.

    Args:
        name: a name :func:`load_dataset` accepts.
        root: as :func:`load_dataset` (used only to check that a folder name exists).

    Returns:
        ``"classification"`` for the names of :data:`CLASSIFICATION_DATASETS` (a
        :class:`ClassificationData`), ``"regression"`` for ``"rastrigin"``, ``"diabetes"`` and
        every data set folder (a :class:`RegressionData`).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is no data set (the message lists the names there), as
            :func:`load_dataset`.
        FileNotFoundError: ``root`` (or ``$TORCH_LIPCVX_DATA``) is not a directory.
    """
    key = _check_set_name(name)
    sk = _sklearn_key(key)
    if sk is not None:
        return "classification" if sk in CLASSIFICATION_DATASETS else "regression"
    if key.lower() != "rastrigin":
        _dataset_folder(key, root, also=("rastrigin",), sklearn=True)
    return "regression"
