"""Tests for torch_lipcvx.data: UCI loaders, Rastrigin generator, standardisation, errors.

The UCI files are the package's bundled data sets (torch_lipcvx/datasets, see docs/data.md):
nothing outside the repository is read, nothing is skipped.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from torch_lipcvx.data import (
    BUNDLED_DATA_DIR,
    DATASETS,
    RegressionData,
    available_datasets,
    default_data_dir,
    from_arrays,
    load_csv,
    load_dataset,
    load_uci,
    rastrigin,
)

from conftest import DATA_DIR

#: (rows, features) of each bundled data set (docs/data.md).
SIZES = {"servo": (167, 4), "machine": (209, 7), "solar": (1066, 10), "wine": (1599, 11)}
SPLITS = (0, 7)


@lru_cache(maxsize=None)
def _raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw data table and the test mask, read independently of the library."""
    data = np.loadtxt(DATA_DIR / name / "data.csv.gz", delimiter=",", ndmin=2)
    mask = np.loadtxt(DATA_DIR / name / "test_mask.csv.gz", delimiter=",", ndmin=2)
    return data, mask


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-7, atol: float = 1e-7) -> None:
    """Assert same shape and dtype and ``|actual - expected| <= atol + rtol |expected|``.

    (A light stand-in for torch.testing.assert_close, whose first call costs over a second.)
    """
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    err = (actual - expected).abs()
    ok = err <= atol + rtol * expected.abs()
    assert bool(ok.all()), f"max abs error {float(err.max()):.3g} exceeds atol={atol}, rtol={rtol}"


def _write_set(root: Path, name: str, data: np.ndarray | None, mask: np.ndarray | None) -> Path:
    """Write a data set folder ``root/name`` with the given tables (None: leave the file out)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        np.savetxt(folder / "data.csv.gz", data, delimiter=",", fmt="%.17g")
    if mask is not None:
        np.savetxt(folder / "test_mask.csv.gz", mask, delimiter=",", fmt="%d")
    return folder


def _good_tables(n: int = 20, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A small well-formed data table and a 10-split mask (row i is a test row of split i % 10)."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(n, d + 1))
    mask = np.zeros((n, 10), dtype=int)
    mask[np.arange(n), np.arange(n) % 10] = 1
    return data, mask


# ------------------------------------------------------------------------------------------------
# UCI data
# ------------------------------------------------------------------------------------------------


def test_data_dir_exists():
    for name in DATASETS:
        assert (DATA_DIR / name / "data.csv.gz").is_file()
        assert (DATA_DIR / name / "test_mask.csv.gz").is_file()


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", DATASETS)
def test_uci_shapes_and_test_rows(name, split):
    data, mask = _raw(name)
    rows, d = SIZES[name]
    assert data.shape == (rows, d + 1)

    ds = load_uci(name, DATA_DIR, split, standardize=False)
    assert isinstance(ds, RegressionData)
    assert ds.name == name and ds.split == split and ds.seed is None
    assert ds.d == d and ds.n + ds.n_test == rows
    assert ds.X_train.shape == (ds.n, d) and ds.y_train.shape == (ds.n,)
    assert ds.X_test.shape == (ds.n_test, d) and ds.y_test.shape == (ds.n_test,)
    for t in (ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.x_mean, ds.x_std, ds.y_mean, ds.y_std):
        assert t.dtype == torch.float64 and t.device.type == "cpu"

    # The test rows are exactly the masked rows, in file order; the rest are training rows.
    is_test = mask[:, split] == 1
    assert ds.n_test == is_test.sum() and 0.05 * rows < ds.n_test < 0.15 * rows
    assert torch.equal(ds.X_test, _t(data[is_test, :-1]))
    assert torch.equal(ds.y_test, _t(data[is_test, -1]))
    assert torch.equal(ds.X_train, _t(data[~is_test, :-1]))
    assert torch.equal(ds.y_train, _t(data[~is_test, -1]))
    # Raw data: statistics are the identity.
    assert torch.equal(ds.x_mean, torch.zeros(d, dtype=torch.float64))
    assert torch.equal(ds.x_std, torch.ones(d, dtype=torch.float64))
    assert ds.y_mean.shape == () and float(ds.y_mean) == 0.0 and float(ds.y_std) == 1.0


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", DATASETS)
def test_uci_standardised_with_training_statistics(name, split):
    data, mask = _raw(name)
    is_test = mask[:, split] == 1
    X_tr, y_tr = _t(data[~is_test, :-1]), _t(data[~is_test, -1])
    X_te, y_te = _t(data[is_test, :-1]), _t(data[is_test, -1])

    ds = load_uci(name, DATA_DIR, split)

    # Statistics recomputed from the raw training rows only (population std, constant -> 1).
    x_std = X_tr.std(dim=0, correction=0)
    constant = X_tr.amax(0) == X_tr.amin(0)
    x_std[constant] = 1.0
    _close(ds.x_mean, X_tr.mean(0), rtol=1e-12, atol=1e-12)
    _close(ds.x_std, x_std, rtol=1e-12, atol=1e-12)
    _close(ds.y_mean, y_tr.mean(), rtol=1e-12, atol=1e-12)
    _close(ds.y_std, y_tr.std(correction=0), rtol=1e-12, atol=1e-12)
    # Statistics of all rows differ (so they were really fitted on the training rows).
    assert not torch.allclose(ds.y_mean, _t(data[:, -1]).mean(), rtol=0, atol=1e-12)

    # Training columns: mean 0, population std 1 (constant columns: all zeros).
    _close(ds.X_train.mean(0), torch.zeros(ds.d, dtype=torch.float64),
                               rtol=0, atol=1e-10)
    std = ds.X_train.std(dim=0, correction=0)
    _close(std[~constant], torch.ones(int((~constant).sum()), dtype=torch.float64),
                               rtol=0, atol=1e-10)
    assert torch.all(ds.X_train[:, constant] == 0)
    assert abs(float(ds.y_train.mean())) < 1e-10
    assert abs(float(ds.y_train.std(correction=0)) - 1.0) < 1e-10

    # The same transform is applied to the test rows; helpers invert / reproduce it.
    _close(ds.X_test, (X_te - ds.x_mean) / ds.x_std, rtol=1e-12, atol=1e-12)
    _close(ds.standardize_X(X_te), ds.X_test, rtol=1e-12, atol=1e-12)
    _close(ds.standardize_X(X_tr), ds.X_train, rtol=1e-12, atol=1e-12)
    _close(ds.unstandardize_y(ds.y_test), y_te, rtol=1e-12, atol=1e-12)
    _close(ds.unstandardize_y(ds.y_train), y_tr, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(ds.X_train).all() and torch.isfinite(ds.X_test).all()


def test_solar_constant_feature_gets_unit_std():
    ds = load_uci("solar", DATA_DIR, 0)
    data, _ = _raw("solar")
    constant = np.ptp(data[:, :-1], axis=0) == 0
    assert constant.sum() == 1  # solar's 10th feature is 0 in every row
    j = int(np.flatnonzero(constant)[0])
    assert float(ds.x_std[j]) == 1.0
    assert torch.all(ds.X_train[:, j] == 0) and torch.all(ds.X_test[:, j] == 0)


@pytest.mark.parametrize("name", DATASETS)
def test_splits_differ_and_partition_the_rows(name):
    data, _ = _raw(name)
    parts = [load_uci(name, DATA_DIR, k, standardize=False) for k in range(10)]
    assert parts[0].n_test != parts[1].n_test or not torch.equal(parts[0].X_test, parts[1].X_test)
    assert not torch.equal(parts[0].y_train[:50], parts[5].y_train[:50])
    # The ten test sets together hold every row once (10-fold layout of uci_datasets).
    assert sum(p.n_test for p in parts) == data.shape[0]
    test_rows = torch.cat([torch.cat([p.X_test, p.y_test[:, None]], 1) for p in parts]).numpy()
    key = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731 - sort rows lexicographically
    np.testing.assert_array_equal(key(test_rows), key(data))


def test_uci_dtype_to_and_repr():
    ds64 = load_uci("servo", DATA_DIR, 2)
    ds32 = load_uci("servo", str(DATA_DIR), 2, dtype=torch.float32)
    assert ds32.X_train.dtype == ds32.y_test.dtype == ds32.y_std.dtype == torch.float32
    _close(ds32.X_train, ds64.X_train.float())
    moved = ds64.to(dtype=torch.float32)
    assert all(getattr(moved, f).dtype == torch.float32
               for f in ("X_train", "y_train", "X_test", "y_test", "x_mean", "x_std", "y_mean", "y_std"))
    assert moved.name == "servo" and moved.split == 2 and ds64.X_train.dtype == torch.float64
    assert ds64.to(device="cpu").device.type == "cpu"
    text = repr(ds64)
    assert "servo" in text and f"n_train={ds64.n}" in text and f"n_test={ds64.n_test}" in text
    assert "d=4" in text and "split=2" in text
    with pytest.raises(ValueError, match="dtype must be a floating"):
        ds64.to(dtype=torch.int64)


def test_bundled_sets_need_no_data_directory(monkeypatch):
    """``load_uci("wine", split=0)`` works with no root and no environment variable: the four
    sets ship with the package, with their licence and attribution."""
    monkeypatch.delenv("TORCH_LIPCVX_DATA", raising=False)
    assert default_data_dir() == BUNDLED_DATA_DIR == DATA_DIR
    assert available_datasets() == tuple(sorted(DATASETS))
    wine = load_uci("wine", split=0)
    ref = load_uci("wine", BUNDLED_DATA_DIR, 0)
    assert wine.name == "wine" and (wine.n + wine.n_test, wine.d) == SIZES["wine"]
    assert torch.equal(wine.X_train, ref.X_train) and torch.equal(wine.y_test, ref.y_test)
    assert "MIT License" in (BUNDLED_DATA_DIR / "LICENSE-uci_datasets").read_text()
    readme = (BUNDLED_DATA_DIR / "README.md").read_text()
    assert "CC BY 4.0" in readme and "Dua" in readme and "alcohol" in readme


def test_bundled_wine_target_is_alcohol_not_quality():
    """The collection's wine target (last column) is alcohol, 8.4-14.9 % before centring (a range
    of 6.5); quality, integers 3-8, is feature 11. docs/data.md says so."""
    data, _ = _raw("wine")
    assert np.ptp(data[:, -1]) == pytest.approx(6.5)
    quality = data[:, 10] - data[:, 10].min()
    # (the file keeps 5 significant digits, so the levels are integers to within 1e-4)
    np.testing.assert_allclose(np.unique(np.round(quality, 3)), np.arange(6.0), atol=1e-4)


def test_environment_directory_is_searched_before_the_bundled_sets(tmp_path, monkeypatch):
    data, mask = _good_tables(n=30, d=2)
    _write_set(tmp_path, "mine", data, mask)
    _write_set(tmp_path, "servo", data, mask)         # shadows the bundled servo
    monkeypatch.setenv("TORCH_LIPCVX_DATA", "")
    assert default_data_dir() == BUNDLED_DATA_DIR
    monkeypatch.setenv("TORCH_LIPCVX_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert available_datasets() == ("machine", "mine", "servo", "solar", "wine")
    assert load_uci("mine").d == 2 and load_uci("servo").d == 2     # from the environment
    assert load_uci("machine").d == 7                                # still bundled
    monkeypatch.setenv("TORCH_LIPCVX_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere.*TORCH_LIPCVX_DATA"):
        load_uci("wine")


def test_any_folder_in_the_layout_loads_by_its_name(tmp_path):
    """Names are folders, not a fixed list: a folder with 3 split columns loads as 'Energy'."""
    data, mask = _good_tables(n=30, d=5)
    mask = np.zeros((30, 3), dtype=int)
    mask[np.arange(30), np.arange(30) % 3] = 1
    _write_set(tmp_path, "Energy", data, mask)
    assert available_datasets(tmp_path) == ("Energy",)
    ds = load_uci("Energy", tmp_path, 2, standardize=False)
    assert ds.name == "Energy" and ds.split == 2 and (ds.n, ds.n_test, ds.d) == (20, 10, 5)
    assert torch.equal(ds.y_test, _t(data[mask[:, 2] == 1, -1]))
    assert load_dataset("Energy", tmp_path, 1).name == "Energy"
    with pytest.raises(ValueError, match=r"split must be an integer in 0\.\.2, got 3"):
        load_uci("Energy", tmp_path, 3)


def test_load_dataset_dispatch():
    uci = load_dataset("Wine", DATA_DIR, 3, standardize=False)
    assert uci.name == "wine" and uci.split == 3 and uci.d == 11
    r = load_dataset("rastrigin", split=2, seed=5, n=50, d=3, noise=0.1)
    ref = rastrigin(50, 3, seed=7, noise=0.1)
    assert r.split == 2 and r.seed == 7 and r.d == 3 and r.n + r.n_test == 50
    assert torch.equal(r.X_train, ref.X_train) and torch.equal(r.y_test, ref.y_test)
    with pytest.raises(ValueError, match="unknown data set 'iris'.*machine, rastrigin, servo, solar, wine"):
        load_dataset("iris", DATA_DIR)


# ------------------------------------------------------------------------------------------------
# UCI errors
# ------------------------------------------------------------------------------------------------


def test_unknown_name_lists_the_data_sets_there(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_LIPCVX_DATA", raising=False)
    with pytest.raises(ValueError, match="unknown data set 'boston'.*there: machine, servo, solar, wine"):
        load_uci("boston", DATA_DIR)
    with pytest.raises(ValueError, match="unknown data set 'boston'.*there: machine, servo, solar, wine"):
        load_uci("boston")
    with pytest.raises(TypeError, match="name must be a string"):
        load_uci(3, DATA_DIR)
    for bad in ("", "../wine", "wine/data.csv.gz", ".."):
        with pytest.raises(ValueError, match="name must be the name of one data set folder"):
            load_uci(bad)
    with pytest.raises(TypeError, match="root must be a path"):
        load_uci("wine", 3.5)


@pytest.mark.parametrize("split, pattern", [(-1, r"split must be an integer >= 0"),
                                            (10, r"split must be an integer in 0\.\.9, got 10"),
                                            (99, r"split must be an integer in 0\.\.9, got 99")])
def test_split_out_of_range(split, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_uci("servo", DATA_DIR, split)


@pytest.mark.parametrize("split", ["1", 1.0, True])
def test_split_not_int(split):
    with pytest.raises(TypeError, match="split must be an integer"):
        load_uci("servo", DATA_DIR, split)


def test_bad_dtype():
    with pytest.raises(ValueError, match="dtype must be a floating torch dtype"):
        load_uci("servo", DATA_DIR, dtype=torch.int32)


def test_missing_root_dir(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="data directory not found: " + re.escape(str(missing))):
        load_uci("servo", missing)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(ValueError, match=r"no folder 'servo' under " + re.escape(str(tmp_path))
                       + r".*there: \(none\)"):
        load_uci("servo", tmp_path)
    _write_set(tmp_path, "alpha", *_good_tables())
    with pytest.raises(ValueError, match=r"there: alpha \("):
        load_uci("servo", tmp_path)


@pytest.mark.parametrize("missing", ["data.csv.gz", "test_mask.csv.gz"])
def test_missing_file(tmp_path, missing):
    data, mask = _good_tables()
    folder = _write_set(tmp_path, "servo", data if missing != "data.csv.gz" else None,
                        mask if missing != "test_mask.csv.gz" else None)
    with pytest.raises(FileNotFoundError, match="data file not found: " + re.escape(str(folder / missing))):
        load_uci("servo", tmp_path)


def test_fake_set_loads_and_standardises(tmp_path):
    data, mask = _good_tables(n=30, d=3)
    data[:, 1] = 4.0  # a constant feature
    _write_set(tmp_path, "machine", data, mask)
    ds = load_uci("machine", tmp_path, 4)
    is_test = mask[:, 4] == 1
    assert ds.n == 27 and ds.n_test == 3 and ds.d == 3
    assert float(ds.x_std[1]) == 1.0 and float(ds.x_mean[1]) == 4.0
    assert torch.all(ds.X_train[:, 1] == 0) and torch.all(ds.X_test[:, 1] == 0)
    train_y = data[~is_test, -1]
    assert math.isclose(float(ds.y_std), float(np.std(train_y)), rel_tol=1e-12)  # ddof=0
    _close(ds.unstandardize_y(ds.y_test), _t(data[is_test, -1]))


def test_mask_row_count_mismatch(tmp_path):
    data, mask = _good_tables(n=20)
    folder = _write_set(tmp_path, "servo", data, mask[:-1])
    mask_file = re.escape(str(folder / "test_mask.csv.gz"))
    with pytest.raises(ValueError, match=mask_file + " has 19 rows but .* has 20"):
        load_uci("servo", tmp_path)


def test_mask_not_binary(tmp_path):
    data, mask = _good_tables()
    mask[3, 2] = 2
    folder = _write_set(tmp_path, "servo", data, mask)
    mask_file = re.escape(str(folder / "test_mask.csv.gz"))
    with pytest.raises(ValueError, match=mask_file + " must contain only 0 and 1"):
        load_uci("servo", tmp_path)


def test_split_beyond_the_mask_columns(tmp_path):
    data, mask = _good_tables()
    folder = _write_set(tmp_path, "servo", data, mask[:, :5])
    assert load_uci("servo", tmp_path, 4).n_test == 2
    mask_file = re.escape(str(folder / "test_mask.csv.gz"))
    with pytest.raises(ValueError, match=r"0\.\.4, got 5 \(" + mask_file + " has 5 columns"):
        load_uci("servo", tmp_path, 5)


def test_split_without_test_rows(tmp_path):
    data, mask = _good_tables()
    mask[:, 3] = 0
    _write_set(tmp_path, "servo", data, mask)
    with pytest.raises(ValueError, match=r"\(split 3\) marks no row as a test row"):
        load_uci("servo", tmp_path, 3)


def test_nan_in_data(tmp_path):
    data, mask = _good_tables()
    data[5, 1] = np.nan
    folder = _write_set(tmp_path, "servo", data, mask)
    data_file = re.escape(str(folder / "data.csv.gz"))
    with pytest.raises(ValueError, match=data_file + " contains 1 NaN/Inf"):
        load_uci("servo", tmp_path)


def test_unparsable_data(tmp_path):
    data, mask = _good_tables()
    folder = _write_set(tmp_path, "servo", data, mask)
    (folder / "data.csv.gz").write_bytes(b"not a gzip file")
    with pytest.raises(ValueError, match="could not read " + re.escape(str(folder / "data.csv.gz"))):
        load_uci("servo", tmp_path)


def test_all_rows_test(tmp_path):
    data, mask = _good_tables()
    mask[:, 0] = 1
    _write_set(tmp_path, "servo", data, mask)
    with pytest.raises(ValueError, match=r"\(split 0\) marks every row \(20\) as a test row"):
        load_uci("servo", tmp_path, 0)


# ------------------------------------------------------------------------------------------------
# Rastrigin
# ------------------------------------------------------------------------------------------------


def _rastrigin_f(X: torch.Tensor) -> torch.Tensor:
    return 10 * X.shape[1] + (X ** 2 - 10 * torch.cos(2 * math.pi * X)).sum(1)


def test_rastrigin_reproducible_and_seed_dependent():
    a, b = rastrigin(200, 3, seed=11), rastrigin(200, 3, seed=11)
    c = rastrigin(200, 3, seed=12)
    for f in ("X_train", "y_train", "X_test", "y_test", "x_mean", "x_std", "y_mean", "y_std"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert not torch.allclose(a.X_train, c.X_train)
    assert a.name == "rastrigin" and a.seed == 11 and a.split is None


@pytest.mark.parametrize("d", [1, 2, 5])
def test_rastrigin_formula_raw(d):
    ds = rastrigin(300, d, seed=3, standardize=False)
    assert ds.n == 270 and ds.n_test == 30 and ds.d == d
    X = torch.cat([ds.X_train, ds.X_test])
    y = torch.cat([ds.y_train, ds.y_test])
    assert X.dtype == torch.float64 and not torch.isnan(X).any() and not torch.isnan(y).any()
    assert X.abs().max() <= 5.12 and X.min() < -4 and X.max() > 4
    _close(y, _rastrigin_f(X), rtol=1e-12, atol=1e-12)
    assert y.min() >= 0 and y.max() <= d * (10 + 5.12 ** 2 + 10)
    assert float(ds.y_std) == 1.0 and torch.equal(ds.x_mean, torch.zeros(d, dtype=torch.float64))


def test_rastrigin_standardised():
    raw = rastrigin(500, 2, seed=1, standardize=False)
    ds = rastrigin(500, 2, seed=1)
    _close(ds.x_mean, raw.X_train.mean(0))
    _close(ds.y_std, raw.y_train.std(correction=0))
    _close(ds.X_train.mean(0), torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)
    _close(ds.X_train.std(0, correction=0), torch.ones(2, dtype=torch.float64))
    _close(ds.standardize_X(raw.X_test), ds.X_test)
    _close(ds.unstandardize_y(ds.y_test), raw.y_test)
    assert not torch.isnan(ds.X_train).any() and not torch.isnan(ds.y_test).any()


def test_rastrigin_noise_and_sizes():
    clean = rastrigin(4000, 2, seed=0, standardize=False)
    noisy = rastrigin(4000, 2, seed=0, noise=0.5, standardize=False)
    assert torch.equal(clean.X_train, noisy.X_train)
    resid = noisy.y_train - clean.y_train
    assert abs(float(resid.std()) - 0.5) < 0.05 and abs(float(resid.mean())) < 0.05
    r = rastrigin(11, 1, test_fraction=0.3)  # round(11 * 0.7) = 8
    assert (r.n, r.n_test) == (8, 3)
    r0 = rastrigin(10, 2, test_fraction=0.0)
    assert r0.n == 10 and r0.X_test.shape == (0, 2) and r0.y_test.shape == (0,)
    assert rastrigin(20, 2, dtype=torch.float32).X_train.dtype == torch.float32


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(n=1), ValueError, "n must be an integer >= 2"),
    (dict(n=2.5), TypeError, "n must be an integer"),
    (dict(d=0), ValueError, "d must be an integer >= 1"),
    (dict(test_fraction=1.0), ValueError, r"test_fraction must be in \[0, 1\)"),
    (dict(test_fraction=-0.1), ValueError, r"test_fraction must be in \[0, 1\)"),
    (dict(n=2, test_fraction=0.9), ValueError, "leaves no training row"),
    (dict(noise=-1.0), ValueError, "noise must be a finite number >= 0"),
    (dict(seed="a"), TypeError, "seed must be an integer"),
    # torch's manual_seed said only "Overflow when unpacking long long"
    (dict(seed=2 ** 64), ValueError, r"seed must be an integer in \[-2\*\*63, 2\*\*64\) \(torch.Generator's range\), got"),
    (dict(seed=-2 ** 63 - 1), ValueError, r"seed must be an integer in \[-2\*\*63"),
    (dict(dtype=torch.int64), ValueError, "dtype must be a floating"),
])
def test_rastrigin_bad_arguments(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        rastrigin(**kwargs)


@pytest.mark.parametrize("norm", [2, "inf"])
def test_raw_lipschitz_bounds_finite_differences_in_raw_units(norm):
    """``raw_lipschitz`` turns a certified bound in standardised units into one in raw units:
    no pair of raw inputs may change the raw prediction by more than that bound times their
    raw distance (machine's columns have scales 10⁰–10⁴ apart)."""
    from torch_lipcvx import ShallowReLU, lipschitz_bounds

    data = load_uci("machine", DATA_DIR, split=0)
    g = torch.Generator().manual_seed(0)
    net = ShallowReLU(data.d, 16, dtype=torch.float64).reset_parameters(g)
    L = lipschitz_bounds(net, norm=norm).upper
    bound = data.raw_lipschitz(L)
    U = data.X_train * data.x_std + data.x_mean                  # raw inputs
    i, j = torch.randint(0, data.n, (2, 4000), generator=g)
    # pairs of rows, and rows nudged along single raw coordinates (where the slope is steepest)
    k = torch.randint(0, data.d, (4000,), generator=g)
    V = U[i].clone()
    V[torch.arange(4000), k] += 1e-3 * data.x_std[k]
    A, B = torch.cat([U[i], U[i]]), torch.cat([U[j], V])

    def raw_f(u):
        with torch.no_grad():
            return data.unstandardize_y(net(data.standardize_X(u)))

    p = 2 if norm == 2 else float("inf")
    dist = (A - B).norm(p=p, dim=1)
    keep = dist > 0
    ratio = (raw_f(A) - raw_f(B)).abs()[keep] / dist[keep]
    assert float(ratio.max()) <= bound * (1 + 1e-9)
    # ... and reading "L · y_std / x_std (per column)" as one bound per column fails: the
    # columns with the widest raw scales would be given far too small a constant
    assert float(ratio.max()) > L * float(data.y_std) / float(data.x_std.max())
    with pytest.raises(ValueError, match="L must be a finite number >= 0"):
        data.raw_lipschitz(-1.0)


def test_rastrigin_split_stream_wraps_at_the_top_of_torch_range():
    """Split k of rastrigin is the stream seed + k: at seed 2**64 - 1 it wraps (the error named
    a seed, 2**64, the user never passed), as seeded_generator does."""
    from torch_lipcvx.data import load_dataset, rastrigin
    a = load_dataset("rastrigin", None, 1, seed=2 ** 64 - 1, n=20, d=2)
    b = rastrigin(20, 2, seed=0)
    assert torch.equal(a.X_train, b.X_train) and a.split == 1


def test_own_arrays_are_split_by_seed_and_standardised_on_training_rows():
    from torch_lipcvx.data import from_arrays
    g = torch.Generator().manual_seed(0)
    X = torch.randn(101, 3, generator=g, dtype=torch.float64) * 50 + 7
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 300
    a, b, c = (from_arrays(X, y, split=k) for k in (0, 0, 1))
    assert (a.n, a.n_test, a.d, a.split) == (91, 10, 3, 0)
    assert torch.equal(a.X_train, b.X_train) and not torch.equal(a.X_test, c.X_test)
    torch.testing.assert_close(a.X_train.mean(0), torch.zeros(3, dtype=torch.float64),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(a.y_train.std(correction=0), torch.tensor(1.0, dtype=torch.float64))
    # the split partitions the rows and keeps their order; raw values come back exactly-ish
    raw = torch.cat([a.X_train, a.X_test]) * a.x_std + a.x_mean
    assert sorted(map(tuple, raw.round(decimals=8).tolist())) == \
        sorted(map(tuple, X.round(decimals=8).tolist()))
    y_raw = torch.cat([a.unstandardize_y(a.y_train), a.unstandardize_y(a.y_test)])
    torch.testing.assert_close(y_raw.sort().values, y.sort().values)
    assert from_arrays(X, y, test_fraction=0.0).n_test == 0
    with pytest.raises(ValueError, match=r"y must have shape \(101,\)"):
        from_arrays(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        from_arrays(X, torch.where(y > 0, y, torch.nan))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        from_arrays(X, y, test_fraction=1.0)
    with pytest.raises(ValueError, match="split must be"):
        from_arrays(X, y, split=-1)


def test_load_csv_reads_a_table_with_its_target_anywhere(tmp_path):
    from torch_lipcvx.data import from_arrays, load_csv
    g = torch.Generator().manual_seed(1)
    X = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = X[:, 0] - X[:, 1] ** 2
    path = tmp_path / "table.csv"
    np.savetxt(path, torch.stack([X[:, 0], y, X[:, 1]], 1).numpy(), delimiter=",",
               header="a,y,b", comments="")
    got = load_csv(path, target=1, header=True, split=2)
    ref = from_arrays(X, y, split=2)
    assert got.name == "table" and got.split == 2
    torch.testing.assert_close(got.X_train, ref.X_train)
    torch.testing.assert_close(got.y_test, ref.y_test)
    with pytest.raises(ValueError, match="comma-separated numbers"):
        load_csv(path)                                  # the header line is not numeric
    with pytest.raises(ValueError, match="out of range"):
        load_csv(path, target=3, header=True)
    with pytest.raises(FileNotFoundError):
        load_csv(tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------------
# Given test rows: a mask (vector or file) or indices
# ------------------------------------------------------------------------------------------------


def _xy(n: int = 30, d: int = 2):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * 10 + 5
    return X, X[:, 0] - 2 * X[:, -1]


@pytest.mark.parametrize("kind", ["bool tensor", "0/1 list", "0/1 float array", "(n, 1) array",
                                  "indices list", "indices tensor"])
def test_from_arrays_with_given_test_rows(kind):
    X, y = _xy()
    rows = [2, 7, 11, 29]
    mask = np.zeros(30, dtype=bool)
    mask[rows] = True
    given = {"bool tensor": dict(test_mask=torch.from_numpy(mask)),
             "0/1 list": dict(test_mask=mask.astype(int).tolist()),
             "0/1 float array": dict(test_mask=mask.astype(float)),
             "(n, 1) array": dict(test_mask=mask[:, None].astype(np.int8)),
             "indices list": dict(test_indices=[11, 2, 29, 7]),
             "indices tensor": dict(test_indices=torch.tensor(rows))}[kind]
    ds = from_arrays(X, y, **given, standardize=False, name="mine")
    assert ds.name == "mine" and ds.split is None and (ds.n, ds.n_test) == (26, 4)
    assert torch.equal(ds.X_test, X[rows]) and torch.equal(ds.y_train, y[~torch.from_numpy(mask)])
    std = from_arrays(X, y, **given)                 # statistics of the training rows only
    _close(std.x_mean, X[~torch.from_numpy(mask)].mean(0))


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(test_mask=[1, 0, 1]), ValueError, "test_mask has 3 entries but the data have 30 rows"),
    (dict(test_mask=np.full(30, 2)), ValueError, r"test_mask must hold only True/False or 0/1, "
                                                 r"found 2 at row 0 \(30 bad"),
    (dict(test_mask=np.r_[np.nan, np.zeros(29)]), ValueError, "found nan at row 0"),
    (dict(test_mask=np.zeros((30, 2))), ValueError, r"test_mask must be a vector .*shape \(30, 2\)"),
    (dict(test_mask=["a"] * 30), TypeError, "test_mask must hold booleans or the numbers 0 and 1"),
    (dict(test_mask="mask.csv"), TypeError, "test_mask must be a vector"),
    (dict(test_mask=np.zeros(30, dtype=bool)), ValueError, "test_mask marks no row as a test row"),
    (dict(test_mask=np.ones(30)), ValueError, r"test_mask marks every row \(30\) as a test row"),
    (dict(test_indices=[]), ValueError, "test_indices is empty"),
    (dict(test_indices=[0, 30]), ValueError, r"row indices in 0\.\.29 .*found 30"),
    (dict(test_indices=[-1]), ValueError, r"row indices in 0\.\.29 .*found -1"),
    (dict(test_indices=[4, 1, 4]), ValueError, "lists row 4 more than once"),
    (dict(test_indices=[1.0, 2.0]), TypeError, "test_indices must be integer row indices"),
    (dict(test_indices=[True, False]), TypeError, "pass a boolean vector as test_mask"),
    (dict(test_indices=[[1, 2]]), ValueError, "test_indices must be a 1-d list"),
    (dict(test_indices=list(range(30))), ValueError, "marks every row"),
    (dict(test_mask=[0] * 29 + [1], test_indices=[1]), ValueError, "not both"),
    (dict(test_indices=[1], split=2), ValueError, "split chooses a random split and test_indices"),
    (dict(test_mask=[0] * 29 + [1], test_fraction=0.2), ValueError, "test_fraction chooses"),
])
def test_from_arrays_bad_test_rows_are_named(kwargs, exc, pattern):
    X, y = _xy()
    with pytest.raises(exc, match=pattern):
        from_arrays(X, y, **kwargs)


def test_load_csv_with_a_mask_file_or_indices(tmp_path):
    X, y = _xy(n=20)
    path = tmp_path / "plant.data.csv.gz"
    np.savetxt(path, torch.cat([X, y[:, None]], 1).numpy(), delimiter=",", fmt="%.17g")
    masks = np.zeros((20, 3), dtype=int)
    masks[np.arange(20), np.arange(20) % 3] = 1
    np.savetxt(tmp_path / "three.csv", masks, delimiter=",", fmt="%d")
    np.savetxt(tmp_path / "one.csv.gz", masks[:, 1], delimiter=",", fmt="%d")

    by_file = load_csv(path, test_mask=tmp_path / "three.csv", split=2, standardize=False)
    assert by_file.name == "plant.data" and by_file.split == 2
    _close(by_file.y_test, y[torch.from_numpy(masks[:, 2] == 1)])
    one = load_csv(path, test_mask=str(tmp_path / "one.csv.gz"), standardize=False)
    _close(one.X_test, X[torch.from_numpy(masks[:, 1] == 1)])
    assert one.split == 0
    by_idx = load_csv(path, test_indices=np.flatnonzero(masks[:, 1]), standardize=False)
    _close(by_idx.X_test, one.X_test)
    assert by_idx.split is None and by_idx.name == "plant.data"

    first = load_csv(path, test_mask=tmp_path / "three.csv", standardize=False)
    assert first.split == 0 and torch.equal(first.X_test, X[torch.from_numpy(masks[:, 0] == 1)])
    with pytest.raises(ValueError, match=r"split must be an integer in 0\.\.2 \(.*three\.csv has 3"):
        load_csv(path, test_mask=tmp_path / "three.csv", split=3)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_csv(path, test_mask=tmp_path / "missing.csv")
    np.savetxt(tmp_path / "short.csv", masks[:-1, 0], fmt="%d")
    with pytest.raises(ValueError, match=r"test mask .*short\.csv has 19 entries but the data have 20"):
        load_csv(path, test_mask=tmp_path / "short.csv")
    bad = masks[:, 0].copy()
    bad[5] = 3
    np.savetxt(tmp_path / "bad.csv", bad, fmt="%d")
    with pytest.raises(ValueError, match=r"bad\.csv must hold only True/False or 0/1, found 3\.0 at row 5"):
        load_csv(path, test_mask=tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="test_fraction chooses a random split"):
        load_csv(path, test_mask=tmp_path / "one.csv.gz", test_fraction=0.2)


# --------------------------------------------------------------------------------------------
# The scikit-learn data sets (optional extra torch_lipcvx[sklearn]) and ClassificationData
# --------------------------------------------------------------------------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

from torch_lipcvx.data import (  # noqa: E402
    CLASSIFICATION_DATASETS,
    SKLEARN_DATASETS,
    ClassificationData,
    classification_from_arrays,
    dataset_task,
    load_breast_cancer,
    load_diabetes,
    load_digits,
)

#: name -> (loader, rows, features, task, number of classes or None)
SK = {"diabetes": (load_diabetes, 442, 10, "regression", None),
      "breast_cancer": (load_breast_cancer, 569, 30, "classification", 2),
      "digits": (load_digits, 1797, 64, "classification", 10)}


@lru_cache(maxsize=None)
def _sk_raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw arrays straight from scikit-learn, read independently of the library."""
    from sklearn import datasets
    kw = {"scaled": False} if name == "diabetes" else {}
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True, **kw)
    return X, y


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def test_sklearn_name_tuples():
    assert set(SKLEARN_DATASETS) == set(SK)
    assert set(CLASSIFICATION_DATASETS) == {k for k, v in SK.items() if v[3] == "classification"}


@pytest.mark.parametrize("name", list(SK))
def test_sklearn_sets_shapes_tasks_and_rows(name):
    loader, rows, d, task, k = SK[name]
    raw = loader(split=3, standardize=False)
    assert raw.d == d and raw.n + raw.n_test == rows and raw.n_test == round(rows * 0.1)
    assert raw.name == name and raw.split == 3 and raw.seed is None
    assert dataset_task(name) == task
    assert isinstance(raw, ClassificationData if task == "classification" else RegressionData)
    # the two parts hold exactly scikit-learn's rows (each once), with their own targets
    X_sk, y_sk = _sk_raw(name)
    table = torch.cat([torch.cat([raw.X_train, raw.X_test]),
                       torch.cat([raw.y_train, raw.y_test]).to(torch.float64)[:, None]], 1)
    np.testing.assert_array_equal(_sorted_rows(table.numpy()),
                                  _sorted_rows(np.column_stack([X_sk, y_sk])))
    if task == "classification":
        assert raw.num_classes == k and raw.y_train.dtype == torch.int64
        labels = torch.cat([raw.y_train, raw.y_test])
        assert set(labels.tolist()) == set(range(k))
        assert labels.bincount().tolist() == np.bincount(y_sk.astype(int)).tolist()
    else:
        assert raw.y_train.dtype == torch.float64


@pytest.mark.parametrize("name", list(SK))
def test_sklearn_sets_standardised_with_training_statistics(name):
    loader = SK[name][0]
    raw, data = loader(split=1, standardize=False), loader(split=1)
    constant = raw.X_train.amax(0) == raw.X_train.amin(0)
    assert bool((data.X_train.mean(0).abs() < 1e-10).all())
    std = data.X_train.std(0, correction=0)
    _close(std[~constant], torch.ones(int((~constant).sum()), dtype=torch.float64), 1e-10, 1e-10)
    assert bool((data.X_train[:, constant] == 0).all())           # digits' blank border pixels
    _close(data.X_test, (raw.X_test - data.x_mean) / data.x_std, 1e-12, 1e-12)
    _close(data.standardize_X(raw.X_test), data.X_test, 1e-12, 1e-12)
    if isinstance(data, ClassificationData):                      # labels never standardised
        assert torch.equal(data.y_train, raw.y_train) and torch.equal(data.y_test, raw.y_test)
    else:
        assert abs(float(data.y_train.mean())) < 1e-10
        assert abs(float(data.y_train.std(correction=0)) - 1) < 1e-10
        _close(data.unstandardize_y(data.y_test), raw.y_test, 1e-12, 1e-9)


def test_sklearn_splits_are_deterministic_and_differ():
    a, b, c = load_digits(split=0), load_digits(split=0), load_digits(split=1)
    for f in ("X_train", "y_train", "X_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert not torch.equal(a.y_test, c.y_test) or not torch.equal(a.X_test, c.X_test)
    d = load_diabetes(split=2, test_fraction=0.25, dtype=torch.float32)
    assert d.n_test == round(442 * 0.25) and d.dtype == torch.float32
    e = load_breast_cancer(test_fraction=0.0)
    assert e.n_test == 0 and e.n == 569


def test_load_dataset_and_dataset_task_know_the_sklearn_names():
    for name in ("Digits", "breast-cancer", " DIABETES "):
        data = load_dataset(name, split=4, test_fraction=0.2, dtype=torch.float32, seed=9, n=3)
        key = name.strip().lower().replace("-", "_")
        assert data.name == key and data.split == 4 and data.dtype == torch.float32
        assert dataset_task(name) == SK[key][3]
        assert data.n_test == round(SK[key][1] * 0.2)
    assert dataset_task("wine") == "regression" and dataset_task("Rastrigin") == "regression"
    with pytest.raises(ValueError, match=r"unknown data set 'boston'.*there: machine, rastrigin, "
                       r"servo, solar, wine; scikit-learn's.*diabetes, breast_cancer, digits"):
        load_dataset("boston")
    with pytest.raises(ValueError, match="unknown data set 'boston'.*breast_cancer"):
        dataset_task("boston")
    with pytest.raises(TypeError, match="name must be a string"):
        dataset_task(None)


def test_sklearn_loaders_take_device_and_to_keeps_labels():
    data = load_breast_cancer(device="meta")
    assert data.device.type == "meta" and data.y_train.device.type == "meta"
    cpu = load_breast_cancer(dtype=torch.float32)
    moved = cpu.to(dtype=torch.float64)
    assert moved.X_train.dtype == torch.float64 and moved.x_std.dtype == torch.float64
    assert moved.y_train.dtype == torch.int64 and torch.equal(moved.y_test, cpu.y_test)
    assert repr(cpu) == ("ClassificationData(name='breast_cancer', split=0, seed=None, "
                         "n_train=512, n_test=57, d=30, num_classes=2, dtype=torch.float32, "
                         "device=cpu)")
    with pytest.raises(ValueError, match="dtype must be a floating torch dtype"):
        cpu.to(dtype=torch.int64)


@pytest.mark.parametrize("call", [lambda: load_diabetes(), lambda: load_breast_cancer(split=2),
                                  lambda: load_digits(), lambda: load_dataset("digits")])
def test_missing_sklearn_says_how_to_install_it(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "sklearn", None)          # `import sklearn` now fails
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "torch_lipcvx\[sklearn\]"'):
        call()


@pytest.mark.parametrize("kwargs, exc, pattern", [
    ({"split": -1}, ValueError, "split must be an integer >= 0"),
    ({"split": 1.5}, TypeError, "split must be an integer"),
    ({"test_fraction": 1.0}, ValueError, r"test_fraction must be in \[0, 1\)"),
    ({"dtype": torch.int64}, ValueError, "dtype must be a floating torch dtype"),
    ({"device": "nowhere"}, ValueError, "device must be None, a torch.device"),
])
def test_sklearn_loader_arguments_are_checked_first(monkeypatch, kwargs, exc, pattern):
    monkeypatch.setitem(sys.modules, "sklearn", None)          # checked before the import
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    for loader in (load_diabetes, load_digits):
        with pytest.raises(exc, match=pattern):
            loader(**kwargs)


def test_importing_the_package_does_not_import_sklearn():
    code = ("import sys, torch_lipcvx, torch_lipcvx.data, torch_lipcvx.cli; "
            "sys.exit('sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_classification_from_arrays_splits_and_keeps_labels():
    n = 40
    X = np.column_stack([np.arange(n, dtype=float), np.ones(n)])   # column 0: the row's id
    y = np.arange(n) % 3
    data = classification_from_arrays(X, y, split=5, test_fraction=0.25, standardize=False)
    ids_train, ids_test = data.X_train[:, 0].long(), data.X_test[:, 0].long()
    assert data.n_test == 10 and data.num_classes == 3 and data.split == 5
    assert sorted(ids_train.tolist() + ids_test.tolist()) == list(range(n))   # a partition
    assert torch.equal(data.y_train, torch.as_tensor(y)[ids_train])
    assert torch.equal(data.y_test, torch.as_tensor(y)[ids_test])
    assert bool((ids_train.diff() > 0).all()) and bool((ids_test.diff() > 0).all())  # order kept
    same = classification_from_arrays(X, y, split=5, test_fraction=0.25, standardize=False)
    assert torch.equal(same.X_test, data.X_test)
    std = classification_from_arrays(X, y, split=5, test_fraction=0.25)
    assert bool((std.X_train[:, 1] == 0).all()) and float(std.x_std[1]) == 1.0  # constant column


def test_classification_labels_accepted_forms():
    X = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    pm = classification_from_arrays(X, [-1, 1, 1, -1, 1, -1, -1, 1], test_indices=[0, 1])
    assert pm.num_classes == 2 and pm.y_test.tolist() == [0, 1]      # ±1 -> {0, 1}
    fl = classification_from_arrays(X, np.array([0., 2, 1, 0, 2, 1, 0, 2])[:, None],
                                    test_indices=[2])
    assert fl.y_train.dtype == torch.int64 and fl.num_classes == 3
    bools = classification_from_arrays(X, torch.arange(8) % 2 == 0, test_indices=[0])
    assert bools.num_classes == 2
    # a class present only in the test rows, and one absent altogether: K = largest label + 1
    only_test = classification_from_arrays(X, [0, 1, 0, 1, 0, 1, 0, 4], test_indices=[7])
    assert only_test.num_classes == 5 and 4 not in only_test.y_train.tolist()
    wide = classification_from_arrays(X, [0, 1] * 4, num_classes=10, test_indices=[0])
    assert wide.num_classes == 10


@pytest.mark.parametrize("X, y, kwargs, exc, pattern", [
    (np.ones((4, 2)), [0, 1, 0.5, 1], {}, ValueError, r"integer class labels.*0\.5 at row 2"),
    (np.ones((4, 2)), [0, 1, np.nan, 1], {}, ValueError, "integer class labels.*nan at row 2"),
    (np.ones((4, 2)), [0, 1, -2, 1], {}, ValueError, r"labels 0\.\.K-1.*found -2 at row 2"),
    (np.ones((4, 2)), ["a", "b", "a", "b"], {}, TypeError, "integer class labels"),
    (np.ones((4, 2)), [0, 1, 1], {}, ValueError, r"y must have shape \(4,\)"),
    (np.ones((4, 2)), np.zeros((4, 2)), {}, ValueError, r"y must have shape \(4,\)"),
    (np.ones((4, 2)), [0, 0, 0, 0], {}, ValueError, "only the class 0"),
    (np.ones((4, 2)), [0, 1, 2, 1], {"num_classes": 2}, ValueError, "label 2 but num_classes=2"),
    (np.ones((4, 2)), [0, 1, 0, 1], {"num_classes": 1}, ValueError, "num_classes must be an integer >= 2"),
    (np.ones((4, 2)), [0, 1, 0, 1], {"num_classes": 2.0}, TypeError, "num_classes must be an integer"),
    (np.array([[1.0, np.nan]] * 4), [0, 1, 0, 1], {}, ValueError, "X"),
    (np.ones(4), [0, 1, 0, 1], {}, ValueError, r"X must have shape \(n, d\)"),
    (np.ones((4, 2)), [0, 1, 0, 1], {"test_indices": [9]}, ValueError, "test_indices"),
    (np.ones((4, 2)), [0, 1, 0, 1], {"device": 3.5}, ValueError, "device must be"),
])
def test_classification_from_arrays_bad_inputs_are_named(X, y, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        classification_from_arrays(X, y, **kwargs)


def test_classification_data_checks_itself():
    X, lab = torch.zeros(3, 2), torch.tensor([0, 1, 1])
    ok = dict(name="t", X_train=X, y_train=lab, X_test=X[:1], y_test=lab[:1],
              x_mean=torch.zeros(2), x_std=torch.ones(2), num_classes=2)
    assert ClassificationData(**ok).n == 3
    for change, pattern in [({"y_train": lab.float()}, "y_train must hold int64 class labels"),
                            ({"y_test": torch.tensor([2])}, r"y_test must hold labels in 0\.\.1"),
                            ({"y_train": lab[:2]}, r"y_train must have shape \(3,\)"),
                            ({"num_classes": 1}, "num_classes must be an integer >= 2")]:
        with pytest.raises(ValueError, match=pattern):
            ClassificationData(**{**ok, **change})


def test_cli_data_choice_knows_the_sklearn_sets(tmp_path, capsys):
    from torch_lipcvx.cli import main

    def run(argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        return (code, *capsys.readouterr())

    code, out, err = run(["train", "--data", "Diabetes", "--hidden", "3", "--epochs", "2",
                          "--split", "2", "--out", tmp_path / "d.pt", "--quiet"])
    assert code == 0, err
    rec = torch.load(tmp_path / "d.pt", weights_only=True)["data"]
    assert rec["name"] == "diabetes" and rec["data_dir"] is None and rec["split"] == 2
    # a classification set trains a classifier now; a loss that does not fit it is refused
    code, out, err = run(["train", "--data", "digits", "--loss", "logistic", "--out",
                          tmp_path / "x.pt"])
    assert code == 2 and "logistic" in err and "10 classes" in err
    assert not (tmp_path / "x.pt").exists()
