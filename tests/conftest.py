"""Shared fixtures: small random instances (n ≤ 200, d ≤ 5, m ≤ 20) and the data directory."""

from __future__ import annotations

import os
from pathlib import Path

# progress bars off in the tests (the CLI shows them by default; docs: torch_lipcvx._progress)
os.environ["TORCH_LIPCVX_PROGRESS"] = "0"

import pytest
import torch

from torch_lipcvx import ShallowReLU
from torch_lipcvx.data import BUNDLED_DATA_DIR

# the four UCI data sets bundled with the package (package data, torch_lipcvx/datasets): the
# tests need nothing outside the repository
DATA_DIR: Path = BUNDLED_DATA_DIR


def make_instance(seed: int, n: int = 80, d: int = 3, m: int = 10, steps: int = 300,
                  output_bias: bool = True):
    """A network briefly trained with Adam on a random smooth target; float64.

    Returns ``(net, X, y)`` with ``X (n, d)``, ``y (n,)``.
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sin(X @ torch.randn(d, generator=g, dtype=torch.float64)) + 0.3 * X[:, 0] ** 2
    y = y + 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
    net = ShallowReLU(d, m, output_bias=output_bias, dtype=torch.float64).reset_parameters(g)
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(steps):
        opt.zero_grad()
        ((net(X) - y) ** 2).mean().backward()
        opt.step()
    net.zero_grad(set_to_none=True)
    return net, X, y


INSTANCES = [  # (seed, n, d, m)
    (0, 60, 2, 6),
    (1, 100, 3, 10),
    (2, 150, 5, 16),
    (3, 200, 4, 20),
]


@pytest.fixture(params=INSTANCES, ids=lambda p: f"seed{p[0]}-n{p[1]}-d{p[2]}-m{p[3]}")
def instance(request):
    seed, n, d, m = request.param
    return make_instance(seed, n, d, m)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert DATA_DIR.is_dir(), f"the bundled data sets are missing from {DATA_DIR}"
    return DATA_DIR


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The test problems are tiny: one thread avoids oversubscription on small shared machines
    (measured here: 300 Adam steps on a 10-unit net, 4.8 s with 2 threads vs 0.25 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------- the CLI tests' helpers
PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(argv, capsys):
    """Run the CLI; return ``(exit code, stdout, stderr)`` whether it returns or exits."""
    from torch_lipcvx.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file the CLI wrote."""
    import csv
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------- scripts loaded as modules
def load_script(path: Path, name: str, register: bool = False):
    """The script at ``path`` (a benchmark or example, not a package module) executed as module
    ``name``; ``register`` puts it in ``sys.modules`` first (needed by scripts whose dataclasses
    look their module up), reusing one already there."""
    import importlib.util
    import sys
    if register and name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
