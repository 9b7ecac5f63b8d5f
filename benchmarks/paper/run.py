"""Reproduce the paper's experiments (§4): Table 1 and Figure 1, resumable.

    python benchmarks/paper/run.py all      [--quick] [--datasets servo machine ...] [--trials 10]
    python benchmarks/paper/run.py table1   ...        # only what Table 1 needs
    python benchmarks/paper/run.py figure1  ...        # only what Figure 1 needs
    python benchmarks/paper/run.py report   ...        # rebuild tables and plots, compute nothing

(``table1.py`` and ``figure1.py`` beside this file are shortcuts for the first two.)

Every (data set, trial, method) is one unit of work: its model is saved to
``OUT/records/KEY/DATASET/trialKK/METHOD.pt`` and then its record (objectives, Lipschitz
intervals, adversarial test MSEs, seeds, timings) to ``METHOD.json``, atomically, as soon as it
finishes. ``KEY`` is a hash of every hyper-parameter, the base seed and the effective solver, so
runs with other settings never overwrite each other. A rerun skips every unit whose JSON exists;
after computing, the tables, CSVs and PNGs in ``OUT`` are rebuilt from all records of the current
configuration (every data set and trial found, not only those of this invocation).

Hyper-parameters and the reasons for them: ``benchmarks/paper/README.md`` (also the
``FULL``/``QUICK`` dictionaries below; ``--set key=value`` overrides any of them, dotted keys
for nested ones, e.g. ``--set admm.max_iter=3``).
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import hashlib
import json
import math
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUT = HERE / "results"
DATASETS = ("servo", "machine", "solar", "rastrigin", "wine")   # the paper's order
UCI_SPLITS = 10

# ------------------------------------------------------------------------------ configuration
#: The full run (the paper's setting where it is stated, documented choices where it is not;
#: see README.md in this folder).
FULL: dict[str, Any] = {
    "hidden": 100,                      # paper §4: "SNNs with 100 hidden units"
    "beta": 1e-3,                       # ℓ2 problem: β > 0, λ = 0
    "lam": 1e-3,                        # Lipschitz problem: λ > 0, β = 0
    "sgd": {"epochs": 300, "lr": 1e-2, "batch_size": None},       # Adam, full batch (README)
    "pgd": {"eps": 0.1, "norm": 2, "attack_steps": 10, "epochs": 300, "lr": 1e-2},
    "admm": {"penalty": 0.25, "loss_steps": 300, "lr": 1e-2, "min_iter": 5, "max_iter": 50,
             "tol": 1e-3, "select": "last"},
    "clip": {"max_iter": 20, "tol": 1e-4},                        # Algorithm 1
    "ext": {"max_rounds": 3, "w_max_iter": 20, "tol": 1e-4, "t_mode": "free"},
    "n_sampled": 50,                    # paper: "randomly samples 50 among 100 patterns"
    "sgd_lip": {"epochs": 100, "lr": 2e-3, "max_iters": 5_000},    # SCS cap per epoch
    "eps": [0.0, 0.02, 0.05, 0.1, 0.2, 0.5],
    "attack": {"steps": 50, "restarts": 3},
    "rastrigin": {"n": 1000, "d": 2},
    # ℓ∞ upper bound: "best" = LiPopt's program value (exact enumeration when every connected
    # component reads few inputs, else its LP), min with √d·L₂ and the naive bound
    "bounds": {"n_samples": 2048, "ascent_steps": 100, "linf_method": "best"},
}

#: ``--quick``: the same pipeline at toy sizes (smoke test; numbers mean little).
QUICK: dict[str, Any] = copy.deepcopy(FULL)
QUICK.update({
    "hidden": 20,
    "sgd": {"epochs": 200, "lr": 1e-2, "batch_size": None},
    "pgd": {"eps": 0.1, "norm": 2, "attack_steps": 3, "epochs": 100, "lr": 1e-2},
    "admm": {"penalty": 0.25, "loss_steps": 50, "lr": 1e-2, "min_iter": 1, "max_iter": 2,
             "tol": 1e-3, "select": "last"},
    "clip": {"max_iter": 3, "tol": 1e-4},
    "ext": {"max_rounds": 1, "w_max_iter": 3, "tol": 1e-4, "t_mode": "free"},
    "n_sampled": 10,
    "sgd_lip": {"epochs": 3, "lr": 1e-3, "max_iters": 5_000},
    "eps": [0.0, 0.1, 0.5],
    "attack": {"steps": 10, "restarts": 1},
    "rastrigin": {"n": 200, "d": 2},
    "bounds": {"n_samples": 256, "ascent_steps": 20, "linf_method": "best"},
})

# ----------------------------------------------------------------------------------- methods
#: method -> (label, dependencies). "admm" doubles as "(SGD)-ADMM": ADMM started from the SGD
#: network IS the ADMM baseline (Pauli et al. start from an ℓ2/SGD network), so it is run once.
METHODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sgd": ("SGD", ()),
    "pgd": ("PGD", ()),
    "c_l2": ("C-l2", ("sgd",)),
    "samp_l2": ("samp-l2", ("sgd",)),
    "admm": ("ADMM", ("sgd",)),
    "c_lip": ("C-lip", ("admm",)),
    "samp_lip": ("samp-lip", ("admm",)),
    "c_lip_alpha": ("C-lip+alpha", ("c_lip",)),
    "c_lip_alpha_re": ("C-lip+alpha+re", ("c_lip",)),
    "sgd_lip": ("SGD-lip", ("sgd",)),
    "sgd_c_lip": ("(SGD)-C-lip", ("sgd",)),
    "pgd_c_lip": ("(PGD)-C-lip", ("pgd",)),
    "pgd_admm": ("(PGD)-ADMM", ("pgd",)),
    "admm_admm": ("(ADMM)-ADMM", ("admm",)),
}
TABLE1_LEFT = ("c_l2", "samp_l2")                       # vs SGD on J_l2
TABLE1_RIGHT = ("c_lip", "samp_lip")                    # vs ADMM on J_lip
TABLE1_EXTRA = ("c_lip_alpha", "c_lip_alpha_re", "sgd_lip", "sgd_c_lip")   # beyond the paper
TABLE1_METHODS = ("sgd", "admm") + TABLE1_LEFT + TABLE1_RIGHT + TABLE1_EXTRA[:3]
#: Figure 1: base model -> (base, X-C-lip, X-ADMM).
FIG1_GROUPS = {"SGD": ("sgd", "sgd_c_lip", "admm"),
               "PGD": ("pgd", "pgd_c_lip", "pgd_admm"),
               "ADMM": ("admm", "c_lip", "admm_admm")}
FIG1_METHODS = tuple(dict.fromkeys(m for g in FIG1_GROUPS.values() for m in g))
FIG1_LABELS = {("SGD", "admm"): "(SGD)-ADMM = ADMM", ("ADMM", "c_lip"): "(ADMM)-C-lip = C-lip"}

#: The paper's Table 1: min, max, avg relative improvement in %.
PAPER_TABLE1 = {
    "c_l2": {"servo": (20.76, 25.42, 23.71), "machine": (9.07, 11.08, 9.74),
             "solar": (2.84, 4.27, 3.76), "rastrigin": (3.70, 3.93, 3.88),
             "wine": (1.19, 2.13, 1.56)},
    "samp_l2": {"servo": (16.10, 14.42, 14.00), "machine": (4.89, 5.24, 5.63),
                "solar": (-3.84, -1.94, -3.21), "rastrigin": (-9.04, -13.48, -13.06),
                "wine": (-74.60, -82.83, -75.55)},
    "c_lip": {"servo": (3.84, 6.59, 5.92), "machine": (5.85, 8.28, 7.46),
              "solar": (2.67, 5.28, 3.74), "rastrigin": (4.40, 3.17, 3.89),
              "wine": (3.50, 7.20, 5.55)},
    "samp_lip": {"servo": (-10.31, -55.02, -27.18), "machine": (-2.57, -21.03, -10.32),
                 "solar": (-3.60, -5.57, -3.95), "rastrigin": (-93.43, -125.24, -109.45),
                 "wine": (-91.15, -124.66, -101.83)},
}
#: Guaranteed never worse than their baseline (docs/programs.md and docs/algorithm1.md); checked by
#: the report.
GUARANTEED = {"c_l2": "sgd", "c_lip": "admm", "c_lip_alpha": "admm", "c_lip_alpha_re": "admm"}


#: The runner's progress bar while units run in this process (``say`` writes above it).
_BAR: Any = None


def say(*args) -> None:
    if _BAR is not None:
        _BAR.write(" ".join(str(a) for a in args))
    else:
        print(*args, flush=True)


# ------------------------------------------------------------------------------ small helpers
def _set_dotted(cfg: dict, key: str, value: Any) -> None:
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise SystemExit(f"--set {key}: unknown key {p!r}")
        node = node[p]
    if parts[-1] not in node:
        raise SystemExit(f"--set {key}: unknown key {parts[-1]!r} (known: {sorted(node)})")
    node[parts[-1]] = value


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def config_key(cfg: dict) -> str:
    """A short hash of everything that changes a result."""
    return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]


#: mkstemp creates 0600 files; results are meant to be read by others (and committed).
_FILE_MODE = 0o644


def read_record(path: Path, key: str) -> Optional[dict]:
    """The JSON record at ``path`` if it parses and was written under configuration ``key``,
    else None (a missing, unreadable or foreign record counts as not done). Shared with
    ``benchmarks/frontier/run.py``."""
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if rec.get("config_key") == key else None


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_model(path: Path, model) -> None:
    """The unit's model as a torch_lipcvx checkpoint (written atomically, readable by all)."""
    from torch_lipcvx.checkpoint import save_checkpoint
    os.chmod(save_checkpoint(path, model), _FILE_MODE)


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, read once), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


#: The runner's own code that shapes a result (the methods and the evaluation); with the library's
#: source it identifies the code of a record (``code_provenance``). Filled below RUNNERS.
RUNNER_CODE: tuple[Callable, ...] = ()


def _git(*args: str) -> Optional[str]:
    """``git ARGS`` in the repository (stripped stdout), or None without git or a checkout."""
    import subprocess
    try:
        res = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_provenance() -> dict:
    """What code produces a record: the library's version, the git commit (and whether the
    library or this runner had uncommitted changes), and ``source_sha``, a hash of every source
    file of the installed ``torch_lipcvx`` plus the runner functions in ``RUNNER_CODE``.

    ``source_sha`` is the identity the runner and the report compare: two commits with the same
    library and runners are the same code, a docs-only commit changes nothing, and an edit to the
    report part of this file does not invalidate finished records. Computed once per process."""
    import inspect
    import torch_lipcvx
    root = Path(torch_lipcvx.__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    for fn in RUNNER_CODE:
        h.update(inspect.getsource(fn).encode())
    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--", str(root), str(Path(__file__).resolve()))
        dirty = bool(status) if status is not None else None
    return {"version": getattr(torch_lipcvx, "__version__", "unknown"), "commit": commit,
            "dirty": dirty, "source_sha": h.hexdigest()[:16]}


def record_code(rec: dict, part: str = "code") -> str:
    """The code identity of a record's model (``part="code"``) or of its evaluation
    (``"eval_code"``, which defaults to the model's): its ``source_sha``, or ``"unknown"`` for
    records written before records carried their code."""
    code = rec.get(part) or (rec.get("code") if part == "eval_code" else None)
    return code["source_sha"] if code else "unknown"


@functools.lru_cache(maxsize=None)
def inferred_commit(finished_at: str) -> Optional[str]:
    """For a record without ``code``: the last commit before it finished (``git log --before``);
    the working tree of that moment may have differed, so reports call it *inferred*."""
    return _git("log", "-1", "--format=%h", f"--before={finished_at}")


def load_model(path: Path):
    """The model of a unit's checkpoint (checksums verified; records written before the
    checkpoints recorded their dtype load in their weights' dtype, float64)."""
    from torch_lipcvx.checkpoint import load_checkpoint
    return load_checkpoint(path).model


def resolve_solver(requested: str) -> str:
    """The solver for postprocess, program (6), objectives and certificates.

    ``"auto"`` (default) or ``"torch"``: the library's torch solvers (LipSDP by the Newton method
    on the d×d dual, programs (6) and (12) by the torch interior point, cvxpy as fallback with a
    warning); ``"CLARABEL"``/``"SCS"``: the cvxpy programs. A torch_lipcvx without the torch
    solvers gets CLARABEL for ``"auto"``, with a note.
    """
    name = requested.strip()
    try:                                   # the current library: one parser (torch_lipcvx.solvers)
        from torch_lipcvx.solvers import Solver
    except ImportError:
        pass
    else:
        try:
            return Solver.parse(name).name
        except ValueError as exc:
            raise SystemExit(f"--solver: {exc}")
    check = None
    try:                                   # an older library
        from torch_lipcvx.bounds import check_any_solver as check
    except ImportError:
        try:                               # the first version with solver="auto"
            from torch_lipcvx.algorithm1.postprocess import _check_any_solver as check
        except ImportError:                # a torch_lipcvx without the torch solvers
            check = None
    from torch_lipcvx._engine.programs import check_solver
    try:
        return check(name) if check else check_solver(name)
    except ValueError as exc:
        if name.lower() != "auto":
            raise SystemExit(f"--solver: {exc}")
        say("note: this torch_lipcvx does not accept solver='auto' yet; using CLARABEL")
        return "CLARABEL"


def admm_solver(solver: str) -> str:
    """The ``solver`` of :class:`~torch_lipcvx.admm.ADMM` (its LipSDP: T refresh, J, the final
    certificate). An ADMM that accepts the torch solvers (it has ``check_sdp_solver``) gets
    ``solver`` unchanged and runs its SDP step with Clarabel; an older one gets a cvxpy name."""
    from torch_lipcvx._engine.programs import DEFAULT_SOLVER, SOLVERS
    try:
        from torch_lipcvx.admm import check_sdp_solver  # noqa: F401  (ADMM takes "auto")
        return solver
    except ImportError:
        return solver if solver.upper() in SOLVERS else DEFAULT_SOLVER


def effective_solvers(solver: str) -> dict[str, str]:
    """Which solver each stage really uses (recorded in the configuration key and every record,
    so records made with other solvers are never mixed)."""
    from torch_lipcvx.solvers import LAYER_DEFAULT, Solver
    a = admm_solver(solver)
    return {
        "postprocess": solver,                    # C-ℓ2, Algorithm 1 (C-lip, samp-lip, W-steps)
        "l2_program": solver,                     # samp-ℓ2 (program (6), sampled patterns)
        "certificates": solver,                   # objectives, LipSDP upper bounds
        "admm_lipsdp": a,
        "admm_sdp_step": Solver.parse(a).cvxpy_name,              # no torch method
        "ext_alpha_reextract": Solver.parse(solver).cvxpy_name,   # cvxpy programs only
        "sgd_lip_layer": LAYER_DEFAULT,           # cvxpylayers (diffcp)
    }


def resolve_data_dir(arg: Optional[str]) -> Optional[Path]:
    """``--data-dir`` (resolved), else ``None``: the library's default search, i.e.
    ``$TORCH_LIPCVX_DATA`` if set, then the UCI sets bundled with the package."""
    return Path(arg).expanduser().resolve() if arg else None


# ---------------------------------------------------------------------------------- the trial
class Trial:
    """One (data set, trial): the data, the seeds, and the cache of finished methods."""

    def __init__(self, dataset: str, trial: int, cfg: dict, key: str, out: Path,
                 data_dir: Optional[Path], solver: str, base_seed: int) -> None:
        from torch_lipcvx.data import load_dataset
        self.dataset, self.trial, self.cfg, self.key = dataset, trial, cfg, key
        self.solver = solver
        self.dir = out / "records" / key / dataset / f"trial{trial:02d}"
        self.seed = base_seed + trial
        if dataset == "rastrigin":
            self.data = load_dataset("rastrigin", split=trial, seed=base_seed,
                                     n=cfg["rastrigin"]["n"], d=cfg["rastrigin"]["d"])
            self.split_desc = f"rastrigin(n={cfg['rastrigin']['n']}, d={cfg['rastrigin']['d']}, " \
                              f"seed={base_seed + trial})"
        else:
            if trial >= UCI_SPLITS:
                raise SystemExit(f"{dataset} has {UCI_SPLITS} train/test splits; trial {trial} "
                                 "does not exist (use --trials <= 10)")
            self.data = load_dataset(dataset, data_dir, split=trial)
            self.split_desc = f"UCI split {trial}"
        d = self.data
        self.X, self.y, self.Xte, self.yte = d.X_train, d.y_train, d.X_test, d.y_test
        self.models: dict[str, Any] = {}
        self.computed: list[str] = []
        self.skipped: list[str] = []
        self.failed: set[str] = set()
        self.retry_failed = False
        self.reuse_other_code = False
        self.other_code: list[str] = []

    # -- cache
    def _paths(self, method: str) -> tuple[Path, Path]:
        return self.dir / f"{method}.json", self.dir / f"{method}.pt"

    def _record(self, method: str) -> Optional[dict]:
        """The finished record of ``method`` under this configuration, or None."""
        js, pt = self._paths(method)
        rec = read_record(js, self.key)
        if rec is None:
            return None
        if record_code(rec) != code_provenance()["source_sha"] and not self.reuse_other_code:
            if method not in self.other_code:    # recomputed: records are tied to their code
                self.other_code.append(method)
            return None
        if rec.get("status") == "failed":
            return None if self.retry_failed else rec
        return rec if pt.is_file() else None

    def model(self, method: str):
        if method not in self.models:
            self.models[method] = load_model(self._paths(method)[1])
        return self.models[method]

    def tag(self) -> str:
        return f"[{self.dataset} trial {self.trial}]"

    # -- work
    def ensure(self, method: str) -> bool:
        """Make sure ``method`` has a record; returns False if it failed (now or before)."""
        if method in self.models or method in self.computed:
            return method not in self.failed
        if method in self.failed:
            return False
        rec = self._record(method)
        if rec is not None:
            if method not in self.skipped:
                self.skipped.append(method)
            if rec.get("status") == "failed":
                self.failed.add(method)
                return False
            return True
        for dep in METHODS[method][1]:
            if not self.ensure(dep):
                self._fail(method, f"dependency {dep} failed", 0.0)
                return False
            self.model(dep)
        torch.manual_seed(self.seed)   # nothing should use the global RNG; pin it anyway
        tic = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model, info, seeds = RUNNERS[method](self)
                train_time = time.perf_counter() - tic
                tic = time.perf_counter()
                rec = self.evaluate(model)
            except (RuntimeError, ValueError, FloatingPointError) as exc:  # SolverError too
                self._fail(method, f"{type(exc).__name__}: {exc}", time.perf_counter() - tic)
                return False
        rec["warnings"] = _summarise_warnings(caught)
        rec.update({"dataset": self.dataset, "trial": self.trial, "method": method,
                    "label": METHODS[method][0], "status": "ok", "config_key": self.key,
                    "solver": self.solver, "solvers": effective_solvers(self.solver),
                    "split": self.split_desc, "seeds": seeds,
                    "depends_on": list(METHODS[method][1]), "time_s": train_time,
                    "eval_time_s": time.perf_counter() - tic, "info": info,
                    # provenance: long ADMM runs amplify rounding (another thread count or CPU
                    # changes the iteration its stopping rule fires at), see RESULTS.md
                    "runtime": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                                "machine": platform.machine(), "cpu": _cpu_model()},
                    "code": code_provenance(),
                    "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        js, pt = self._paths(method)
        atomic_save_model(pt, model)
        atomic_write_text(js, json.dumps(rec, indent=1, default=_jsonable))
        self.models[method] = model
        self.computed.append(method)
        n_warn = sum(w["count"] for w in rec["warnings"])
        say(f"{self.tag()} {METHODS[method][0]:15s} {train_time:7.1f} s "
            f"(+ eval {rec['eval_time_s']:.1f} s: attacks {rec['eval_parts_s']['attacks']:.1f})  "
            f"J_l2={rec['J_l2']:.6g}  J_lip={rec['J_lip']:.6g}  L in [{rec['L2_lower']:.4g}, "
            f"{rec['L2_upper']:.4g}]  test MSE={rec['mse_test']:.4g}"
            + (f"  ({n_warn} warning(s), in the record)" if n_warn else ""))
        return True

    def reevaluate(self, method: str) -> bool:
        """Evaluate the saved model of ``method`` again with the current code (attacks,
        intervals, objectives), keeping the model: for records whose evaluation changed since
        (e.g. the PGD attack of c361305). The record gets ``eval_code`` and keeps its previous
        evaluation's scalars and adversarial MSEs under ``previous_evals``. Returns False when
        there is no finished record (nothing is trained here)."""
        js, pt = self._paths(method)
        rec = read_record(js, self.key)
        if rec is None or rec.get("status", "ok") != "ok" or not pt.is_file():
            return False
        code = code_provenance()
        if record_code(rec, "eval_code") == code["source_sha"]:
            self.skipped.append(method)
            return True
        tic = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = self.evaluate(self.model(method))
        old = {k: rec.get(k) for k in new if k != "eval_parts_s"}
        old.update(eval_code=rec.get("eval_code", rec.get("code")),
                   eval_time_s=rec.get("eval_time_s"),
                   evaluated_at=rec.get("evaluated_at", rec.get("finished_at")))
        rec.setdefault("previous_evals", []).append(old)
        rec.update(new)
        rec.update(eval_code=code, eval_time_s=time.perf_counter() - tic,
                   eval_warnings=_summarise_warnings(caught),
                   evaluated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        atomic_write_text(js, json.dumps(rec, indent=1, default=_jsonable))
        self.computed.append(method)
        say(f"{self.tag()} {METHODS[method][0]:15s} re-evaluated ({rec['eval_time_s']:.1f} s)")
        return True

    def _fail(self, method: str, error: str, seconds: float) -> None:
        """Record a failure (skipped on rerun unless --retry-failed) and go on."""
        rec = {"dataset": self.dataset, "trial": self.trial, "method": method,
               "label": METHODS[method][0], "status": "failed", "error": error,
               "config_key": self.key, "solver": self.solver, "time_s": seconds,
               "code": code_provenance(),
               "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        atomic_write_text(self._paths(method)[0], json.dumps(rec, indent=1))
        self.failed.add(method)
        self.computed.append(method)
        say(f"{self.tag()} {METHODS[method][0]:15s} FAILED: {error}")

    def evaluate(self, model) -> dict:
        """Objectives (one fresh certificate), Lipschitz intervals, adversarial test MSEs.

        The seconds of each part go to ``eval_parts_s`` (certificate, intervals, attacks)."""
        from torch_lipcvx import lipschitz_bounds, objective, pgd_attack
        cfg = self.cfg
        parts: dict[str, float] = {}
        tic = time.perf_counter()
        ob = objective(model, self.X, self.y, lam=cfg["lam"], beta=0.0, solver=self.solver)
        with torch.no_grad():
            mse_test = float(((model(self.Xte) - self.yte) ** 2).mean())
        rec = {"mse_train": ob.mse, "mse_test": mse_test, "l2": ob.l2, "rho": ob.rho,
               "J_l2": ob.mse + 0.5 * cfg["beta"] * ob.l2, "J_lip": ob.mse + cfg["lam"] * ob.rho,
               "units": model.m, "active_units": int((model.output.weight != 0).sum())}
        parts["objective"] = time.perf_counter() - tic
        tic = time.perf_counter()
        for norm, name in ((2, "L2"), (math.inf, "Linf")):
            kw = {"method": cfg["bounds"]["linf_method"]} if (
                norm == math.inf and "linf_method" in cfg["bounds"]) else {}
            iv = lipschitz_bounds(model, norm, X=self.X, solver=self.solver, seed=self.seed,
                                  n_samples=cfg["bounds"]["n_samples"],
                                  ascent_steps=cfg["bounds"]["ascent_steps"], **kw)
            rec[f"{name}_lower"], rec[f"{name}_upper"] = iv.lower, iv.upper
            rec[f"{name}_upper_method"] = iv.upper_method
        parts["intervals"] = time.perf_counter() - tic
        tic = time.perf_counter()
        adv: dict[str, dict[str, float]] = {}
        for norm in ("2", "inf"):
            adv[norm] = {}
            for eps in cfg["eps"]:
                g = torch.Generator().manual_seed(10_000 + self.seed)
                res = pgd_attack(model, self.Xte, self.yte, float(eps), norm,
                                 steps=cfg["attack"]["steps"], restarts=cfg["attack"]["restarts"],
                                 generator=g)
                adv[norm][repr(float(eps))] = float(res.mse)
        parts["attacks"] = time.perf_counter() - tic
        rec["adv_mse_test"] = adv
        rec["eval_parts_s"] = parts
        return rec


def _summarise_warnings(caught) -> list[dict]:
    """Distinct warning messages (first line, numbers kept) with their counts."""
    counts: dict[str, dict] = {}
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}"
        counts.setdefault(text, {"message": text, "count": 0})["count"] += 1
    return sorted(counts.values(), key=lambda d: -d["count"])[:20]


def _jsonable(obj):
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


# ------------------------------------------------------------------------------ the runners
def _run_sgd(tr: Trial):
    from torch_lipcvx.train import train_sgd
    c = tr.cfg["sgd"]
    res = train_sgd(None, tr.X, tr.y, hidden=tr.cfg["hidden"], beta=tr.cfg["beta"],
                    epochs=c["epochs"], lr=c["lr"], batch_size=c["batch_size"], seed=tr.seed)
    return res.model, {"final_loss": res.history[-1]["loss"]}, {"init_and_batches": tr.seed}


def _run_pgd(tr: Trial):
    from torch_lipcvx.train import train_pgd
    c = tr.cfg["pgd"]
    res = train_pgd(None, tr.X, tr.y, eps=c["eps"], norm=c["norm"], hidden=tr.cfg["hidden"],
                    beta=tr.cfg["beta"], epochs=c["epochs"], lr=c["lr"],
                    attack_steps=c["attack_steps"], seed=tr.seed)
    return res.model, {"final_loss": res.history[-1]["loss"]}, {"init_batches_attack": tr.seed}


def _run_c_l2(tr: Trial):
    from torch_lipcvx import postprocess
    r = postprocess(tr.model("sgd"), tr.X, tr.y, beta=tr.cfg["beta"], solver=tr.solver)
    return r.model, {"J_before": r.objective_before, "J_after": r.objective_after,
                     "message": r.message}, {}


def _run_samp_l2(tr: Trial):
    from torch_lipcvx import solve_l2_program
    s = solve_l2_program(tr.model("sgd"), tr.X, tr.y, beta=tr.cfg["beta"], patterns="sampled",
                         n_sampled=min(tr.cfg["n_sampled"], tr.cfg["hidden"]), seed=tr.seed,
                         solver=tr.solver)
    return s.model, {"sampled_units": s.pattern_index[: len(s.pattern_index) // 2],
                     "status": s.status}, {"sample": tr.seed}


def _admm_from(tr: Trial, base: str):
    from torch_lipcvx.admm import ADMM
    c = tr.cfg["admm"]
    res = ADMM(tr.model(base), tr.X, tr.y, lam=tr.cfg["lam"], beta=0.0, penalty=c["penalty"],
               loss_steps=c["loss_steps"], lr=c["lr"], min_iter=c["min_iter"],
               max_iter=c["max_iter"], tol=c["tol"], select=c["select"],
               solver=admm_solver(tr.solver), seed=tr.seed).run()
    return res.model, {"iterations": len(res.history) - 1, "message": res.message,
                       "J_history": [r.objective for r in res.history],
                       "selected_iteration": res.selected_iteration}, {"batches": tr.seed}


def _halving(run: Callable[[int], Any], max_iter: int) -> tuple[Any, dict]:
    """``run(max_iter)``; if a solver fails inside Algorithm 1 (postprocess then raises and its
    progress is lost), rerun with half the iterations. Algorithm 1 is deterministic, so the
    shorter run repeats the same iterates and stops before the failing one."""
    from torch_lipcvx.solvers import SolverError
    retries = []
    k = max_iter
    while True:
        try:
            return run(k), {"max_iter_used": k, "retries": retries}
        except SolverError as exc:
            retries.append({"max_iter": k, "error": str(exc)})
            say(f"  solver failure inside Algorithm 1 with max_iter={k}; retrying with "
                f"{max(1, k // 2)}: {exc}")
            if k == 1:
                raise
            k = max(1, k // 2)


def _clip_from(tr: Trial, base: str):
    from torch_lipcvx import postprocess
    c = tr.cfg["clip"]
    r, note = _halving(lambda k: postprocess(tr.model(base), tr.X, tr.y, lam=tr.cfg["lam"],
                                             max_iter=k, tol=c["tol"], solver=tr.solver),
                       c["max_iter"])
    return r.model, {"J_before": r.objective_before, "J_after": r.objective_after,
                     "iterations": len(r.history) - 1, "rejected": len(r.rejected),
                     "J_history": [h.objective for h in r.history], "message": r.message,
                     **note}, {}


def _run_samp_lip(tr: Trial):
    from torch_lipcvx.algorithm1.extensions import sampled_lipschitz
    c = tr.cfg["clip"]
    s, note = _halving(lambda k: sampled_lipschitz(
        tr.model("admm"), tr.X, tr.y, lam=tr.cfg["lam"],
        n_sampled=min(tr.cfg["n_sampled"], tr.cfg["hidden"]), seed=tr.seed, max_iter=k,
        tol=c["tol"], solver=tr.solver), c["max_iter"])
    return s.model, {"sampled_units": s.sample, "J_start": s.result.objective_before,
                     "J_after": s.objective, "J_input": s.objective_input.value,
                     "iterations": len(s.result.history) - 1,
                     "message": s.result.message, **note}, {"sample": tr.seed}


def _ext_from_clip(tr: Trial, reextract: bool):
    from torch_lipcvx.algorithm1.extensions import postprocess_extended
    c = tr.cfg["ext"]
    r = postprocess_extended(tr.model("c_lip"), tr.X, tr.y, lam=tr.cfg["lam"], alpha_step=True,
                             reextract=reextract, t_mode=c["t_mode"], max_rounds=c["max_rounds"],
                             w_max_iter=c["w_max_iter"], tol=c["tol"], solver=tr.solver)
    return r.model, {"J_before": r.objective_before, "J_after": r.objective_after,
                     "step_gains": r.step_gains(), "accepted": len(r.history) - 1,
                     "rejected": sum(not x.accepted for x in r.candidates),
                     "message": r.message}, {}


def _run_sgd_lip(tr: Trial):
    from torch_lipcvx.train import train_sgd_lip
    c = tr.cfg["sgd_lip"]
    res = train_sgd_lip(tr.model("sgd"), tr.X, tr.y, lam=tr.cfg["lam"], beta=0.0,
                        epochs=c["epochs"], lr=c["lr"], seed=tr.seed, solver="SCS",
                        solver_args={"max_iters": c["max_iters"]})
    return res.model, {"final_loss": res.history[-1]["loss"]}, {"seed": tr.seed}


RUNNERS: dict[str, Callable[[Trial], tuple]] = {
    "sgd": _run_sgd,
    "pgd": _run_pgd,
    "c_l2": _run_c_l2,
    "samp_l2": _run_samp_l2,
    "admm": lambda tr: _admm_from(tr, "sgd"),
    "c_lip": lambda tr: _clip_from(tr, "admm"),
    "samp_lip": _run_samp_lip,
    "c_lip_alpha": lambda tr: _ext_from_clip(tr, reextract=False),
    "c_lip_alpha_re": lambda tr: _ext_from_clip(tr, reextract=True),
    "sgd_lip": _run_sgd_lip,
    "sgd_c_lip": lambda tr: _clip_from(tr, "sgd"),
    "pgd_c_lip": lambda tr: _clip_from(tr, "pgd"),
    "pgd_admm": lambda tr: _admm_from(tr, "pgd"),
    "admm_admm": lambda tr: _admm_from(tr, "admm"),
}
RUNNER_CODE = (_run_sgd, _run_pgd, _run_c_l2, _run_samp_l2, _admm_from, _halving, _clip_from,
               _run_samp_lip, _ext_from_clip, _run_sgd_lip, Trial.ensure, Trial.evaluate)


def run_unit(job: dict) -> dict:
    """Run every requested method of one (data set, trial); returns what was computed/skipped.

    The library's own progress bars stay off inside (the runner shows one bar over the units).
    """
    from torch_lipcvx._progress import suppressed
    with suppressed():
        return _run_unit(job)


def _run_unit(job: dict) -> dict:
    torch.set_num_threads(job.get("threads", 1))
    tr = Trial(job["dataset"], job["trial"], job["cfg"], job["key"], Path(job["out"]),
               None if job["data_dir"] is None else Path(job["data_dir"]), job["solver"],
               job["seed"])
    tr.retry_failed = job.get("retry_failed", False)
    tr.reuse_other_code = job.get("reuse_other_code", False)
    tic = time.perf_counter()
    if job.get("reeval"):
        for method in job["methods"]:
            tr.reevaluate(method)
    else:
        for method in job["methods"]:
            tr.ensure(method)
    wall = time.perf_counter() - tic
    if tr.other_code:
        say(f"{tr.tag()} recomputed {len(tr.other_code)} record(s) made by other code: "
            + ", ".join(tr.other_code))
    if tr.computed:
        say(f"{tr.tag()} finished: computed {len(tr.computed)}, skipped {len(tr.skipped)} "
            f"({wall:.1f} s)")
    else:
        say(f"{tr.tag()} all {len(tr.skipped)} method(s) already done, skipped")
    return {"dataset": tr.dataset, "trial": tr.trial, "computed": tr.computed,
            "skipped": tr.skipped, "failed": sorted(tr.failed), "wall_s": wall}


# ------------------------------------------------------------------------------- aggregation
def load_records(out: Path, key: str, status: str = "ok") -> list[dict]:
    """Every record of configuration ``key`` with the given status ("ok" or "failed")."""
    recs = []
    for js in sorted((out / "records" / key).glob("*/trial*/*.json")):
        try:
            rec = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("config_key") == key and rec.get("status", "ok") == status:
            recs.append(rec)
    return recs


def _by(recs: list[dict]) -> dict[tuple[str, int], dict[str, dict]]:
    table: dict[tuple[str, int], dict[str, dict]] = {}
    for r in recs:
        table.setdefault((r["dataset"], r["trial"]), {})[r["method"]] = r
    return table


def _order(datasets) -> list[str]:
    return [d for d in DATASETS if d in datasets] + sorted(set(datasets) - set(DATASETS))


def improvement_rows(recs: list[dict]) -> list[dict]:
    """Per (data set, trial, method): relative improvement of J over the method's baseline."""
    rows = []
    for (ds, trial), ms in sorted(_by(recs).items()):
        for method in TABLE1_LEFT + TABLE1_RIGHT + TABLE1_EXTRA:
            left = method in TABLE1_LEFT
            base, obj = ("sgd", "J_l2") if left else ("admm", "J_lip")
            if method not in ms or base not in ms:
                continue
            jb, jm = ms[base][obj], ms[method][obj]
            rows.append({"dataset": ds, "trial": trial, "method": method,
                         "label": METHODS[method][0], "problem": "l2" if left else "lipschitz",
                         "baseline": base, "J_baseline": jb, "J_method": jm,
                         "improvement_pct": 100.0 * (jb - jm) / jb})
    return rows


def _improvements(rows: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Table-1 improvements (%) per (data set, method), in trial order."""
    by: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        by.setdefault((r["dataset"], r["method"]), []).append(r["improvement_pct"])
    return by


def _fmt_pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{v:+.2f}%"


def table1_markdown(rows: list[dict]) -> str:
    by = _improvements(rows)
    datasets = _order({r["dataset"] for r in rows})
    out = []
    halves = [("Left: ℓ2-regularised problem (J_l2 = MSE + β/2·ℓ2), baseline SGD",
               TABLE1_LEFT),
              ("Right: Lipschitz-regularised problem (J_lip = MSE + λ·L²), baseline ADMM",
               TABLE1_RIGHT + TABLE1_EXTRA)]
    for title, methods in halves:
        out += [f"**{title}.** Relative improvement (J_baseline − J_method)/J_baseline over "
                "trials; positive = lower objective than the baseline. *Beyond the paper* rows "
                "are marked †.", "",
                "| data set | method | trials | min | max | avg | paper avg |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for ds in datasets:
            for m in methods:
                vals = by.get((ds, m))
                if not vals:
                    continue
                paper = PAPER_TABLE1.get(m, {}).get(ds)
                mark = "†" if m in TABLE1_EXTRA else ""
                out.append(f"| {ds} | {METHODS[m][0]}{mark} | {len(vals)} | "
                           f"{_fmt_pct(min(vals))} | {_fmt_pct(max(vals))} | "
                           f"{_fmt_pct(statistics.fmean(vals))} | "
                           f"{_fmt_pct(paper[2]) if paper else '–'} |")
        out.append("")
    return "\n".join(out)


#: Two LipSDP certificates of the same network (another compiled program or unit order) agree to
#: about 1e-6 relative, so a method that could not improve may score −1e-4 % against its start.
GUARANTEE_TOL_PCT = 1e-3


def paper_comparison_markdown(rows: list[dict]) -> str:
    """``table1_vs_paper.md``: the paper's averages beside ours, with the sign check."""
    return ("Average relative improvement over the baseline: the paper's Table 1 and this run.\n\n"
            + table1_block(rows) + "\n")


def check_guarantees(rows: list[dict], tol_pct: float = GUARANTEE_TOL_PCT) -> list[str]:
    """Rows that break a guarantee (improvement below −tol_pct %)."""
    return [f"{r['dataset']} trial {r['trial']} {r['label']}: {r['improvement_pct']:+.6f}%"
            for r in rows if r["method"] in GUARANTEED and r["improvement_pct"] < -tol_pct]


def lipschitz_markdown(recs: list[dict]) -> tuple[str, list[dict]]:
    """Median over trials of the Lipschitz interval, MSEs and objectives of every final model."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in recs:
        groups.setdefault((r["dataset"], r["method"]), []).append(r)
    keys = ("L2_lower", "L2_upper", "Linf_lower", "Linf_upper", "mse_train", "mse_test", "J_l2",
            "J_lip", "time_s")
    rows = []
    for ds in _order({d for d, _ in groups}):
        for m in METHODS:
            rs = groups.get((ds, m))
            if not rs:
                continue
            row = {"dataset": ds, "method": m, "label": METHODS[m][0], "trials": len(rs)}
            for k in keys:
                row[k] = statistics.median(r[k] for r in rs)
            rows.append(row)
    lines = ["Median over trials. L₂: ℓ2 Lipschitz constant (lower = largest sampled gradient "
             "norm, upper = LipSDP certificate); L∞: for ℓ∞ input perturbations (upper = the "
             "smallest certified bound of `lipschitz_bounds(norm=inf, method=bounds.linf_method)`"
             ", named per record in `Linf_upper_method`). Standardised units. `time` = the "
             "method's own compute time (s).", "",
             "| data set | method | L₂ lower | L₂ upper | L∞ lower | L∞ upper | train MSE | "
             "test MSE | J_l2 | J_lip | time |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['label']} | {r['L2_lower']:.3f} | {r['L2_upper']:.3f} "
                     f"| {r['Linf_lower']:.3f} | {r['Linf_upper']:.3f} | {r['mse_train']:.4f} | "
                     f"{r['mse_test']:.4f} | {r['J_l2']:.5f} | {r['J_lip']:.5f} | "
                     f"{r['time_s']:.1f} |")
    return "\n".join(lines) + "\n", rows


def figure1_data(recs: list[dict]) -> list[dict]:
    """Median (and quartiles) over trials of the adversarial test MSE per method, norm, ε."""
    groups: dict[tuple[str, str, str, float], list[float]] = {}
    for r in recs:
        if r["method"] not in FIG1_METHODS and r["method"] not in TABLE1_EXTRA:
            continue
        for norm, curve in r["adv_mse_test"].items():
            for eps, v in curve.items():
                groups.setdefault((r["dataset"], r["method"], norm, float(eps)), []).append(v)
    rows = []
    for (ds, m, norm, eps), vals in sorted(groups.items()):
        q = statistics.quantiles(vals, n=4) if len(vals) > 1 else [vals[0]] * 3
        rows.append({"dataset": ds, "method": m, "label": METHODS[m][0], "norm": norm, "eps": eps,
                     "median": statistics.median(vals), "q25": q[0], "q75": q[2],
                     "trials": len(vals)})
    return rows


def figure1_winners(rows: list[dict]) -> str:
    med = {(r["dataset"], r["method"], r["norm"], r["eps"]): r["median"] for r in rows}
    datasets = _order({r["dataset"] for r in rows})
    lines = ["Lowest median adversarial test MSE per ε (PGD attack on the test set). Columns "
             "*SGD/PGD/ADMM*: the winner among that base model, its C-lip and its ADMM "
             "fine-tuning (the paper's comparison); *all*: among all Figure-1 models; "
             "*all + extras*: also C-lip+α, C-lip+α+re, SGD-lip, (SGD)-C-lip.", ""]
    summary = []
    for ds in datasets:
        for norm in ("2", "inf"):
            eps_list = sorted({e for (d, _, n, e) in med if d == ds and n == norm})
            if not eps_list:
                continue
            lines += [f"**{ds}, ℓ{'∞' if norm == 'inf' else '2'} attack**", "",
                      "| ε | SGD group | PGD group | ADMM group | all | all + extras |",
                      "|---:|---|---|---|---|---|"]
            wins_all: dict[str, int] = {}
            for eps in eps_list:
                cells = []
                for group, ms in FIG1_GROUPS.items():
                    cand = [(med[(ds, m, norm, eps)], m) for m in ms if (ds, m, norm, eps) in med]
                    cells.append(_winner_label(group, cand))
                for pool in (FIG1_METHODS, FIG1_METHODS + TABLE1_EXTRA):
                    cand = [(med[(ds, m, norm, eps)], m) for m in dict.fromkeys(pool)
                            if (ds, m, norm, eps) in med]
                    cells.append(_winner_label(None, cand))
                    if pool is FIG1_METHODS and cand:
                        w = min(cand)[1]
                        wins_all[w] = wins_all.get(w, 0) + 1
                lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
            lines.append("")
            for group, ms in FIG1_GROUPS.items():
                best_everywhere = [m for m in ms if all(
                    (ds, m, norm, e) in med and med[(ds, m, norm, e)] <= min(
                        med[(ds, x, norm, e)] for x in ms if (ds, x, norm, e) in med)
                    for e in eps_list)]
                if best_everywhere:
                    summary.append(f"| {ds} | ℓ{'∞' if norm == 'inf' else '2'} | {group} | "
                                   f"{', '.join(_label(group, m) for m in best_everywhere)} |")
    head = ["**Which model of each group has the lowest median MSE at every ε** (the paper's "
            "criterion: consistent across the clean/adversarial trade-off):", "",
            "| data set | attack | base | lowest at every ε |", "|---|---|---|---|"]
    return "\n".join(head + (summary or ["| – | – | – | none |"]) + [""] + lines)


def _label(group: Optional[str], m: str) -> str:
    return FIG1_LABELS.get((group, m), METHODS[m][0]) if group else METHODS[m][0]


def _winner_label(group: Optional[str], cand: list[tuple[float, str]]) -> str:
    if not cand:
        return "–"
    v, m = min(cand)
    return f"{_label(group, m)} ({v:.4g})"


def plot_figure1(rows: list[dict], out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    colours = {0: "tab:gray", 1: "tab:red", 2: "tab:blue"}
    for ds in _order({r["dataset"] for r in rows}):
        fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), constrained_layout=True, sharey="row")
        fig.get_layout_engine().set(h_pad=0.1)
        for i, norm in enumerate(("2", "inf")):
            for j, (group, ms) in enumerate(FIG1_GROUPS.items()):
                ax = axes[i, j]
                for k, m in enumerate(ms):
                    pts = sorted((r["eps"], r["median"], r["q25"], r["q75"]) for r in rows
                                 if r["dataset"] == ds and r["method"] == m and r["norm"] == norm)
                    if not pts:
                        continue
                    e, med, lo, hi = zip(*pts)
                    ax.plot(e, med, marker="o", color=colours[k], label=_label(group, m))
                    ax.fill_between(e, lo, hi, color=colours[k], alpha=0.12)
                ax.set_yscale("log")   # the curves differ by a few % over two decades
                ax.set_title(f"base {group}, ℓ{'∞' if norm == 'inf' else '2'} PGD")
                ax.set_xlabel("ε (standardised input units)")
                ax.grid(alpha=0.3)
                if j == 0:
                    ax.set_ylabel("median adversarial test MSE (log)")
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=8)
        n = max((r["trials"] for r in rows if r["dataset"] == ds), default=0)
        fig.suptitle(f"Figure 1 reproduction: {ds} (median over {n} trial(s), band = quartiles)")
        path = out / f"figure1_{ds}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _compute_s(r: dict) -> float:
    """A record's compute seconds: the method itself plus its evaluation."""
    return r["time_s"] + r["eval_time_s"]


def _seconds_by_method(recs: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Compute seconds per (data set, method), one entry per trial."""
    per: dict[tuple[str, str], list[float]] = {}
    for r in recs:
        per.setdefault((r["dataset"], r["method"]), []).append(_compute_s(r))
    return per


def load_runs(out: Path, key: str) -> list[dict]:
    """The logged invocations (``runs.jsonl``) of configuration ``key``."""
    runs = []
    log = out / "runs.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("config_key") == key:
                runs.append(rec)
    return runs


def write_timing(out: Path, recs: list[dict], key: str, code_line: str = "") -> dict[str, float]:
    """``timing.md``: compute seconds per data set and method, and the logged wall times
    (``code_line``, the report's line naming the code, goes first)."""
    per = _seconds_by_method(recs)
    datasets = _order({d for d, _ in per})
    totals = {ds: sum(sum(v) for (d, _), v in per.items() if d == ds) for ds in datasets}
    lines = ["Compute seconds (the method itself + its evaluation: certificate, intervals, "
             "attacks), summed over the finished trials; in brackets the median per trial. "
             "Methods run one after another in one process per (data set, trial) unit.", "",
             "| method | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for m in METHODS:
        if not any((ds, m) in per for ds in datasets):
            continue
        cells = [f"{sum(per[(ds, m)]):.0f} ({statistics.median(per[(ds, m)]):.1f})"
                 if (ds, m) in per else "–" for ds in datasets]
        lines.append(f"| {METHODS[m][0]} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{totals[ds]:.0f}**" for ds in datasets) + " |")
    parts = [r for r in recs if r.get("eval_parts_s")]
    for ds in datasets:
        rs = [r for r in parts if r["dataset"] == ds]
        if not rs:
            continue
        n_tr = len({r["trial"] for r in rs})
        lines += ["", f"**{ds}**: median seconds per trial ({n_tr} trial(s)) of the method itself "
                  "and of its evaluation (fresh certificate + objectives; ℓ2 and ℓ∞ Lipschitz "
                  "intervals; the Figure-1 PGD attacks, ℓ2 and ℓ∞ over the ε grid).", "",
                  "| method | method | certificate | intervals | attacks | total |",
                  "|---|---:|---:|---:|---:|---:|"]
        tot = [0.0] * 5
        for m in METHODS:
            mr = [r for r in rs if r["method"] == m]
            if not mr:
                continue
            vals = [statistics.median(r["time_s"] for r in mr)] + [
                statistics.median(r["eval_parts_s"].get(k, 0.0) for r in mr)
                for k in ("objective", "intervals", "attacks")]
            vals.append(sum(vals))
            tot = [a + b for a, b in zip(tot, vals)]
            lines.append(f"| {METHODS[m][0]} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
        lines.append("| **sum** | " + " | ".join(f"**{v:.1f}**" for v in tot) + " |")
    runs = load_runs(out, key)
    if runs:
        lines += ["", "Invocations with this configuration (wall time on this machine):", "",
                  "| started (UTC) | wall [s] | computed | skipped | jobs | cores |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in runs:
            stopped = " (stopped)" if r.get("interrupted") else ""
            skipped = "–" if r["skipped"] is None else r["skipped"]
            lines.append(f"| {r['started']} | {r['wall_s']:.0f}{stopped} | {r['computed']} | "
                         f"{skipped} | {r['jobs']} | {r['cpu_count']} |")
    atomic_write_text(out / "timing.md", (code_line + "\n\n" if code_line else "")
                      + "\n".join(lines) + "\n")
    return totals


def _flat_record(r: dict) -> dict:
    """A record's scalars for records.csv (the evaluation's parts as ``eval_<part>_s``)."""
    row = {k: v for k, v in r.items()
           if k not in ("adv_mse_test", "info", "seeds", "eval_parts_s", "solvers")}
    for part, sec in (r.get("eval_parts_s") or {}).items():
        row[f"eval_{part}_s"] = sec
    return row


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


# ---------------------------------------------------------------- RESULTS.md generated blocks
#: ``<!-- generated: NAME -->`` ... ``<!-- /generated: NAME -->`` in RESULTS.md: the report
#: rewrites what lies between, so the numbers there are the records', never typed by hand.
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
                    r"(<!-- /generated: (?P=name) -->)", re.S)


def fill_generated(text: str, blocks: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with the body of every marked block named in ``blocks`` replaced.

    Returns the new text and the names filled, in order; blocks not in ``blocks`` and text
    outside the markers are left as they are."""
    filled: list[str] = []

    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in blocks:
            return m.group(0)
        filled.append(name)
        return m.group(1) + blocks[name].rstrip("\n") + "\n" + m.group(4)

    return _BLOCK.sub(repl, text), filled


def _pretty(label: str) -> str:
    """Method labels as RESULTS.md prints them (C-l2 -> C-ℓ2, alpha -> α)."""
    return label.replace("l2", "ℓ2").replace("alpha", "α")


def _complete_trial_seconds(recs: list[dict], dataset: str) -> list[float]:
    """Compute seconds of every trial of ``dataset`` that has all methods."""
    return [sum(_compute_s(r) for r in ms.values()) for (d, _), ms in _by(recs).items()
            if d == dataset and set(METHODS) <= set(ms)]


def status_block(recs: list[dict], trials: int, datasets: tuple[str, ...] = DATASETS,
                 jobs: int = 2) -> str:
    """Trials finished per data set and the compute left, estimated from the medians so far."""
    by = _by(recs)
    med = {k: statistics.median(v) for k, v in _seconds_by_method(recs).items()}
    fallback = statistics.median(med.values()) if med else 0.0
    lines = ["| data set | complete trials | partial | methods done | median compute s per "
             "complete trial | units left | est. compute s left |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    left_total = 0.0
    for ds in datasets:
        done = {t: ms for (d, t), ms in by.items() if d == ds}
        complete = [t for t, ms in done.items() if set(METHODS) <= set(ms)]
        per_trial = _complete_trial_seconds(recs, ds)
        missing = [(t, m) for t in range(trials) for m in METHODS if m not in done.get(t, {})]
        left = sum(med.get((ds, m), fallback) for _, m in missing)
        left_total += left
        lines.append(f"| {ds} | {len(complete)} of {trials} | {len(done) - len(complete)} | "
                     f"{sum(len(ms) for ms in done.values())} of {trials * len(METHODS)} | "
                     + (f"{statistics.median(per_trial):.0f}" if per_trial else "–")
                     + f" | {len(missing)} | {left:.0f} |")
    lines += ["", f"Left in all: about {left_total:.0f} compute-seconds, "
              f"{left_total / jobs / 3600:.1f} h with `--jobs {jobs}` (medians of the finished "
              "units at the load they ran under)."]
    return "\n".join(lines)


def table1_block(rows: list[dict]) -> str:
    """Table 1 beside the paper's averages, data set by data set within each half."""
    by = _improvements(rows)
    datasets = _order({d for d, _ in by})
    lines = ["| data set | method | paper avg | **ours** avg (min … max) | trials | "
             "sign as in the paper? |", "|---|---|---:|---|---:|---|"]
    differ = 0
    for half in (TABLE1_LEFT, TABLE1_RIGHT):
        for ds in datasets:
            for m in half:
                vals, paper = by.get((ds, m)), PAPER_TABLE1[m].get(ds)
                if not vals or paper is None:
                    continue
                avg = statistics.fmean(vals)
                same = (avg >= 0) == (paper[2] >= 0)
                differ += not same
                lines.append(f"| {ds} | {_pretty(METHODS[m][0])} | {_fmt_pct(paper[2])} | "
                             f"**{_fmt_pct(avg)}** ({min(vals):+.2f} … {max(vals):+.2f}) | "
                             f"{len(vals)} | {'yes' if same else '**no**'} |")
    lines += ["", f"Signs that differ from the paper: {differ}."]
    return "\n".join(lines)


def beyond_block(rows: list[dict]) -> str:
    """The beyond-the-paper methods' average improvement over ADMM, with the guarantee check."""
    by = _improvements(rows)
    lines = ["| data set | " + " | ".join(_pretty(METHODS[m][0]) for m in TABLE1_EXTRA) + " |",
             "|---|" + "---:|" * len(TABLE1_EXTRA)]
    for ds in _order({d for d, _ in by}):
        cells = [f"{_fmt_pct(statistics.fmean(by[(ds, m)]))} ({len(by[(ds, m)])})"
                 if by.get((ds, m)) else "–" for m in TABLE1_EXTRA]
        if any(c != "–" for c in cells):
            lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    bad = check_guarantees(rows)
    lines += ["", "Average over trials (number of trials in brackets). Guarantee check (C-ℓ2, "
              "C-lip, C-lip+α, C-lip+α+re never worse than their baseline in any trial, "
              f"tolerance {GUARANTEE_TOL_PCT:g} %): "
              + ("every row passes." if not bad else "VIOLATED: " + "; ".join(bad))]
    return "\n".join(lines)


def time_block(recs: list[dict], runs: list[dict], jobs: int = 2) -> str:
    """Compute seconds per data set, the logged invocations' wall time, and what a single
    uninterrupted run with ``--jobs`` processes would take at the measured unit times."""
    lines = ["| data set | units | compute s | median compute s per complete trial |",
             "|---|---:|---:|---:|"]
    total = 0.0
    for ds in _order({r["dataset"] for r in recs}):
        rs = [r for r in recs if r["dataset"] == ds]
        sec = sum(_compute_s(r) for r in rs)
        total += sec
        trials = _complete_trial_seconds(recs, ds)
        lines.append(f"| {ds} | {len(rs)} | {sec:.0f} | "
                     + (f"{statistics.median(trials):.0f}" if trials else "–") + " |")
    lines.append(f"| **all** | **{len(recs)}** | **{total:.0f}** | |")
    wall = sum(r["wall_s"] for r in runs)
    logged = sum(r["computed"] for r in runs)
    stopped = sum(bool(r.get("interrupted")) for r in runs)
    lines += ["", f"Logged invocations (`runs.jsonl`): {len(runs)}"
              + (f" ({stopped} stopped before the end)" if stopped else "")
              + f", {wall:.0f} s of wall time in all, in which {logged} units were computed (a "
              "recomputed unit counts again; invocations killed before stopped runs were logged "
              "are missing). A single uninterrupted run with "
              f"`--jobs {jobs}` at these unit times: about {total / jobs:.0f} s "
              f"({total / jobs / 3600:.1f} h)."]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- statistics
#: Values closer than this (relative) count as ties in the paired tests: two certificates of one
#: network agree to ~1e-6 (GUARANTEE_TOL_PCT), so a method that kept its start ties with it.
TIE_RTOL = 1e-6
#: The significance level the summaries use (two-sided, per comparison, uncorrected).
ALPHA = 0.05


def paired_test(method: list[float], baseline: list[float]) -> dict:
    """Paired comparison of per-trial values where lower is better (J, adversarial MSE).

    Returns ``n``, ``wins`` (method lower), ``losses``, ``ties`` (within ``TIE_RTOL``),
    ``median_rel`` (median of (baseline − method)/baseline, so positive = method better),
    ``sign_p`` (two-sided exact sign test on the non-tied pairs) and ``wilcoxon_p`` (two-sided
    Wilcoxon signed-rank on the differences, exact for small n; None when every pair ties).
    With n trials neither test can go below 2/2ⁿ: n = 3 gives at best p = 0.25, n = 10 gives
    0.002, so a 3-trial setting can show a direction but never significance."""
    from scipy.stats import binomtest, wilcoxon
    if len(method) != len(baseline):
        raise ValueError("paired_test: the two samples must pair trial by trial")
    diffs = [b - m for m, b in zip(method, baseline)]
    tied = [abs(d) <= TIE_RTOL * max(abs(b), 1e-300) for d, b in zip(diffs, baseline)]
    wins = sum(d > 0 and not t for d, t in zip(diffs, tied))
    losses = sum(d < 0 and not t for d, t in zip(diffs, tied))
    n = len(diffs)
    rel = [d / b for d, b in zip(diffs, baseline) if b]
    out = {"n": n, "wins": wins, "losses": losses, "ties": n - wins - losses,
           "median_rel": statistics.median(rel) if rel else None,
           "sign_p": float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0,
           "wilcoxon_p": None}
    nonzero = [d for d, t in zip(diffs, tied) if not t]
    if nonzero:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # scipy notes small samples; exact here anyway
            out["wilcoxon_p"] = float(wilcoxon(nonzero).pvalue)
    return out


def _fmt_p(p: Optional[float]) -> str:
    return "–" if p is None else (f"{p:.3f}" if p >= 1e-3 else f"{p:.0e}")


def _verdict(t: dict) -> str:
    """``better``/``worse`` when the Wilcoxon test is significant at ALPHA, else the direction
    of the majority with ``(n.s.)``."""
    p = t["wilcoxon_p"]
    if p is not None and p < ALPHA:
        return "**better**" if t["wins"] > t["losses"] else "**worse**"
    if t["wins"] == t["losses"]:
        return "even (n.s.)"
    return ("better" if t["wins"] > t["losses"] else "worse") + " (n.s.)"


#: Table 1's paired comparisons: method -> (baseline, objective).
TABLE1_PAIRS = {"c_l2": ("sgd", "J_l2"), "samp_l2": ("sgd", "J_l2"), "c_lip": ("admm", "J_lip"),
                "samp_lip": ("admm", "J_lip")}


def table1_tests(recs: list[dict]) -> list[dict]:
    """Per data set and Table-1 method: the paired test against its baseline over the trials
    where both finished."""
    by = _by(recs)
    rows = []
    for ds in _order({d for d, _ in by}):
        for m, (base, obj) in TABLE1_PAIRS.items():
            pairs = [(ms[m][obj], ms[base][obj]) for (d, _), ms in sorted(by.items())
                     if d == ds and m in ms and base in ms]
            if pairs:
                rows.append({"dataset": ds, "method": m, "baseline": base, "objective": obj,
                             **paired_test([a for a, _ in pairs], [b for _, b in pairs])})
    return rows


def table1_tests_block(rows: list[dict]) -> str:
    lines = ["| data set | method vs baseline | trials | lower J in | median improvement | "
             "sign test p | Wilcoxon p | verdict |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {METHODS[r['method']][0]} vs "
                     f"{METHODS[r['baseline']][0]} | {r['n']} | {r['wins']} of {r['n']}"
                     + (f" ({r['ties']} tied)" if r["ties"] else "") + " | "
                     f"{_fmt_pct(100 * r['median_rel']) if r['median_rel'] is not None else '–'}"
                     f" | {_fmt_p(r['sign_p'])} | {_fmt_p(r['wilcoxon_p'])} | {_verdict(r)} |")
    return "\n".join(lines)


def figure1_tests(recs: list[dict]) -> list[dict]:
    """Per data set, attack norm, base group and ε: X-C-lip against each other model of its group
    (adversarial test MSE, paired by trial), and whether it is lowest in median."""
    by = _by(recs)
    rows = []
    for ds in _order({d for d, _ in by}):
        trials = [ms for (d, _), ms in sorted(by.items()) if d == ds]
        for norm in ("2", "inf"):
            for group, (base, clip, admm) in FIG1_GROUPS.items():
                full = [ms for ms in trials if all(x in ms and norm in ms[x]["adv_mse_test"]
                                                   for x in (base, clip, admm))]
                if not full:
                    continue
                for eps in sorted({float(e) for ms in full
                                   for e in ms[clip]["adv_mse_test"][norm]}):
                    val = {x: [ms[x]["adv_mse_test"][norm][repr(eps)] for ms in full]
                           for x in (base, clip, admm)}
                    med = {x: statistics.median(v) for x, v in val.items()}
                    rows.append({"dataset": ds, "norm": norm, "group": group, "eps": eps,
                                 "n": len(full), "clip_lowest": med[clip] <= min(med.values()),
                                 "vs_base": paired_test(val[clip], val[base]),
                                 "vs_admm": paired_test(val[clip], val[admm])})
    return rows


def figure1_claims(test_rows: list[dict], fig_rows: list[dict]) -> list[dict]:
    """Per data set, base group and norm: the paper's claim (X-C-lip lowest at every ε) judged
    both ways — lowest median at every ε, and lowest median over ε of the median curve — and
    how many ε it is significantly below both other models (Wilcoxon, ALPHA, uncorrected)."""
    med = {(r["dataset"], r["method"], r["norm"], r["eps"]): r["median"] for r in fig_rows}
    out = []
    keys = dict.fromkeys((r["dataset"], r["group"], r["norm"]) for r in test_rows)
    for ds, group, norm in keys:
        rows = [r for r in test_rows if (r["dataset"], r["group"], r["norm"]) == (ds, group, norm)]
        ms = FIG1_GROUPS[group]
        eps_list = [r["eps"] for r in rows]
        over_eps = {m: statistics.median(med[(ds, m, norm, e)] for e in eps_list) for m in ms
                    if all((ds, m, norm, e) in med for e in eps_list)}
        sig = sum(all(t["wilcoxon_p"] is not None and t["wilcoxon_p"] < ALPHA
                      and t["wins"] > t["losses"] for t in (r["vs_base"], r["vs_admm"]))
                  for r in rows)
        sig_worse = sum(any(t["wilcoxon_p"] is not None and t["wilcoxon_p"] < ALPHA
                            and t["wins"] < t["losses"] for t in (r["vs_base"], r["vs_admm"]))
                        for r in rows)
        out.append({"dataset": ds, "group": group, "norm": norm, "n": rows[0]["n"],
                    "n_eps": len(rows), "lowest_at": sum(r["clip_lowest"] for r in rows),
                    "every_eps": all(r["clip_lowest"] for r in rows),
                    "over_eps": bool(over_eps) and min(over_eps, key=over_eps.get) == ms[1],
                    "significant_at": sig, "significantly_worse_at": sig_worse,
                    "paper": (ds, group) in PAPER_FIG1_CLAIM})
    return out


def figure1_tests_block(claims: list[dict]) -> str:
    lines = ["| data set | base | attack | trials | paper claims it | X-C-lip lowest at every ε "
             "| lowest median over ε | lowest at | significantly below both at | significantly "
             "above one at |", "|---|---|---|---:|---|---|---|---:|---:|---:|"]
    for c in claims:
        attack = "ℓ∞" if c["norm"] == "inf" else "ℓ2"
        lines.append(f"| {c['dataset']} | {c['group']} | {attack} | "
                     f"{c['n']} | {'yes' if c['paper'] else 'no'} | "
                     f"{'yes' if c['every_eps'] else 'no'} | {'yes' if c['over_eps'] else 'no'} | "
                     f"{c['lowest_at']} of {c['n_eps']} ε | {c['significant_at']} of "
                     f"{c['n_eps']} ε | {c['significantly_worse_at']} of {c['n_eps']} ε |")
    return "\n".join(lines)


def statistics_markdown(code_line: str, t1: list[dict], claims: list[dict]) -> str:
    """``statistics.md``: Table 1's paired tests and Figure 1's claims with their tests."""
    return "\n".join([
        code_line, "",
        "**Table 1, per trial.** Each method against its baseline on the trials where both "
        "finished: in how many trials its objective is lower (ties within "
        f"{TIE_RTOL:g} relative), the median relative improvement, and two-sided p-values "
        "(exact sign test; Wilcoxon signed-rank). *Verdict*: better/worse when Wilcoxon's "
        f"p < {ALPHA}, else the majority's direction, not significant (n.s.). With n trials no "
        "test goes below 2/2ⁿ (3 trials: 0.25; 10: 0.002).", "",
        table1_tests_block(t1), "",
        "**Figure 1, per claim.** For each base model and attack: is X-C-lip's median "
        "adversarial test MSE the lowest of its group at every ε (the paper's reading), is it "
        "lowest in the median over ε of the median curve (a reading that forgives one ε), at how "
        "many ε it is lowest, and at how many ε it is significantly below *both* other models "
        f"(Wilcoxon, paired by trial, p < {ALPHA}, uncorrected) or significantly above one of "
        "them. Per-ε p-values: `statistics_figure1.csv`.", "",
        figure1_tests_block(claims), ""])


#: Figure 1's claim (§4): X-C-lip alone has the lowest median MSE at every ε for
#: these (data set, base model) pairs; the attack norm is not stated.
PAPER_FIG1_CLAIM = {("solar", "PGD"), ("solar", "ADMM"), ("machine", "SGD"), ("machine", "PGD"),
                    ("machine", "ADMM"), ("servo", "SGD"), ("wine", "SGD"), ("wine", "ADMM")}


def figure1_block(fig_rows: list[dict]) -> str:
    """Per data set and base model: the paper's claim beside ours, for both attacks.

    A cell names the model(s) of the group with the lowest median MSE at every ε ("none" if no
    model is), then in brackets at how many of the ε the group's C-lip is lowest."""
    med = {(r["dataset"], r["method"], r["norm"], r["eps"]): r["median"] for r in fig_rows}
    lines = ["| data set | base | paper: X-C-lip lowest at every ε | ours, ℓ2 attack | "
             "ours, ℓ∞ attack |", "|---|---|---|---|---|"]
    for ds in _order({r["dataset"] for r in fig_rows}):
        for group, ms in FIG1_GROUPS.items():
            cells = []
            for norm in ("2", "inf"):
                eps_list = sorted({e for (d, _, n, e) in med if d == ds and n == norm})
                if not eps_list or any((ds, m, norm, e) not in med
                                       for e in eps_list for m in ms):
                    cells.append("–")
                    continue
                best = [min(ms, key=lambda m: (med[(ds, m, norm, e)], m)) for e in eps_list]
                everywhere = _label(group, best[0]) if len(set(best)) == 1 else "none"
                cells.append(f"{everywhere} (C-lip lowest at {best.count(ms[1])} of "
                             f"{len(eps_list)} ε)")
            if cells == ["–", "–"]:
                continue
            claim = "yes" if (ds, group) in PAPER_FIG1_CLAIM else "no"
            lines.append(f"| {ds} | {group} | {claim} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The final models RESULTS.md lists in its Lipschitz-interval table.
LIPSCHITZ_SHOWN = ("sgd", "admm", "c_lip", "c_lip_alpha", "c_lip_alpha_re", "sgd_lip", "pgd")


def lipschitz_block(lip_rows: list[dict]) -> str:
    """Median ℓ2/ℓ∞ Lipschitz intervals, test MSE and J_lip of the main final models."""
    lines = ["| data set | model | trials | L₂ lower | L₂ upper | L∞ lower | L∞ upper | test MSE "
             "| J_lip |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in lip_rows:
        if r["method"] in LIPSCHITZ_SHOWN:
            lines.append(f"| {r['dataset']} | {_pretty(r['label'])} | {r['trials']} | "
                         f"{r['L2_lower']:.2f} | {r['L2_upper']:.2f} | {r['Linf_lower']:.2f} | "
                         f"{r['Linf_upper']:.2f} | {r['mse_test']:.3f} | {r['J_lip']:.4f} |")
    return "\n".join(lines)


def update_results_md(path: Path, blocks: dict[str, str]) -> list[str]:
    """Fill the generated blocks of ``path`` (RESULTS.md); returns the names filled."""
    if not path.is_file():
        return []
    text, filled = fill_generated(path.read_text(), blocks)
    if filled:
        atomic_write_text(path, text)
    return filled


def _commits_of(recs: list[dict], part: str) -> list[str]:
    """The commits of the records' model (``part="code"``) or evaluation code, in time order;
    inferred ones (records without ``code``) marked with ``~``, uncommitted changes with ``+``."""
    seen: dict[str, str] = {}
    for r in sorted(recs, key=lambda r: r.get("finished_at", "")):
        code = r.get(part) or (r.get("code") if part == "eval_code" else None)
        if code:
            label = (code.get("commit") or "no-git")[:7] + ("+" if code.get("dirty") else "")
        else:
            label = "~" + (inferred_commit(r.get("finished_at", "")) or "?")
        seen.setdefault(label, label)
    return list(seen)


def reeval_shift(recs: list[dict]) -> Optional[str]:
    """How far the last re-evaluation moved the adversarial test MSEs (ε > 0), for records with
    ``previous_evals``: the median and the largest relative change, per attack norm."""
    moves: dict[str, list[float]] = {}
    for r in recs:
        if not r.get("previous_evals"):
            continue
        old = r["previous_evals"][-1].get("adv_mse_test") or {}
        for norm, curve in r["adv_mse_test"].items():
            for eps, v in curve.items():
                o = old.get(norm, {}).get(eps)
                if o and float(eps) > 0:
                    moves.setdefault(norm, []).append((v - o) / o)
    if not moves:
        return None
    parts = [f"ℓ{'∞' if n == 'inf' else '2'} median {100 * statistics.median(v):+.2f}%, range "
             f"{100 * min(v):+.1f}% … {100 * max(v):+.1f}%" for n, v in sorted(moves.items())]
    return "re-evaluation moved the adversarial test MSEs (ε > 0) by " + "; ".join(parts)


def code_summary(recs: list[dict]) -> dict:
    """Which code made the records: ``models``/``evaluations`` (commit labels), ``identities``
    (distinct ``source_sha`` of either part) and ``mixed`` (more than one identity)."""
    ids = sorted({record_code(r) for r in recs} | {record_code(r, "eval_code") for r in recs})
    models, evals = _commits_of(recs, "code"), _commits_of(recs, "eval_code")

    def span(labels: list[str]) -> str:
        return (", ".join(labels) if len(labels) <= 4 else
                f"{len(labels)} commits, {labels[0]} … {labels[-1]}")
    line = (f"models by {span(models)}" if models == evals else
            f"models by {span(models)}; evaluated (attacks, intervals, objectives) by "
            f"{span(evals)}")
    shift = reeval_shift(recs)
    if shift:
        line += f"; {shift}"
    return {"models": models, "evaluations": evals, "identities": ids, "mixed": len(ids) > 1,
            "line": "Code: " + line + (" (~ = inferred from the finish time: these records "
                                         "predate records carrying their commit; + = with "
                                         "uncommitted changes)" if any(
                                             c.startswith("~") for c in models + evals) else "")
                    + "."}


def report(out: Path, cfg: dict, key: str, parts: tuple[str, ...], trials: int = UCI_SPLITS,
           results_md: Optional[Path] = None, datasets: tuple[str, ...] = DATASETS,
           mix_code: bool = False) -> dict:
    """Rebuild tables, CSVs and plots from every record of the current configuration.

    With ``results_md`` (RESULTS.md), also fill its generated blocks (``status``, ``table1``,
    ``beyond``, ``figure1``, ``lipschitz``, ``time``) from the same records; ``trials`` is the
    planned number per data set and ``datasets`` the data sets planned, for the status block's
    count of what is left."""
    recs = load_records(out, key)
    failed = load_records(out, key, status="failed")
    fail_md = "".join(f"\n- {r['dataset']} trial {r['trial']} {r['label']}: {r['error']}"
                      for r in failed)
    fail_md = ("\nFailed methods (excluded above; rerun with --retry-failed):" + fail_md + "\n"
               if failed else "")
    summary: dict[str, Any] = {"records": len(recs), "files": [], "failed_records": failed}
    if not recs:
        say(f"no finished records for configuration {key} in {out}")
        return summary
    code = code_summary(recs)
    if code["mixed"] and not mix_code:
        raise SystemExit(
            f"report: the {len(recs)} records of configuration {key} in {out} were made by "
            f"{len(code['identities'])} versions of the code ({code['line'][6:-1]}); a table "
            "would mix them. Recompute with the current code (run the same command: records of "
            "other code are redone; `reeval` redoes only the evaluation), or pass --mix-code to "
            "report them together, labelled.")
    summary["code"] = code
    _write_csv(out / "records.csv", [_flat_record(r) for r in recs])
    summary["files"].append(out / "records.csv")
    lip_md, lip_rows = lipschitz_markdown(recs)
    atomic_write_text(out / "lipschitz.md", code["line"] + "\n\n" + lip_md)
    _write_csv(out / "lipschitz.csv", lip_rows)
    summary["files"] += [out / "lipschitz.md", out / "lipschitz.csv"]
    if "table1" in parts:
        rows = improvement_rows(recs)
        _write_csv(out / "table1.csv", rows)
        md = code["line"] + "\n\n" + table1_markdown(rows)
        bad = check_guarantees(rows)
        md += fail_md
        md += ("\nGuarantee check (C-ℓ2, C-lip, C-lip+α, C-lip+α+re never worse than their "
               f"baseline, tolerance {GUARANTEE_TOL_PCT:g} %): " + ("all rows pass." if not bad else
                                                  "VIOLATED: " + "; ".join(bad)) + "\n")
        atomic_write_text(out / "table1.md", md)
        atomic_write_text(out / "table1_vs_paper.md", paper_comparison_markdown(rows))
        summary["files"] += [out / "table1.md", out / "table1.csv", out / "table1_vs_paper.md"]
        summary["violations"] = bad
        summary["table1_rows"] = rows
    if "figure1" in parts:
        rows = figure1_data(recs)
        _write_csv(out / "figure1.csv", rows)
        atomic_write_text(out / "figure1_winners.md",
                          code["line"] + "\n\n" + figure1_winners(rows))
        summary["files"] += [out / "figure1.csv", out / "figure1_winners.md"]
        summary["files"] += plot_figure1(rows, out)
    if "table1" in parts and "figure1" in parts:
        t1 = table1_tests(recs)
        f1 = figure1_tests(recs)
        claims = figure1_claims(f1, figure1_data(recs))
        _write_csv(out / "statistics_figure1.csv",
                   [{k: v for k, v in r.items() if not k.startswith("vs_")}
                    | {f"{side}_{k}": v for side in ("vs_base", "vs_admm")
                       for k, v in r[side].items()} for r in f1])
        atomic_write_text(out / "statistics.md", statistics_markdown(code["line"], t1, claims))
        summary["files"] += [out / "statistics.md", out / "statistics_figure1.csv"]
        summary.update(table1_tests=t1, figure1_claims=claims)
    summary["compute_s"] = write_timing(out, recs, key, code["line"])
    summary["files"].append(out / "timing.md")
    if results_md is not None:
        blocks = {"status": status_block(recs, trials, datasets), "code": code["line"],
                  "lipschitz": lipschitz_block(lip_rows),
                  "time": time_block(recs, load_runs(out, key))}
        if "table1" in parts:
            blocks.update(table1=table1_block(summary["table1_rows"]),
                          beyond=beyond_block(summary["table1_rows"]))
        if "figure1" in parts:
            blocks["figure1"] = figure1_block(figure1_data(recs))
        if "table1_tests" in summary:
            blocks["statistics-table1"] = table1_tests_block(summary["table1_tests"])
            blocks["statistics-figure1"] = figure1_tests_block(summary["figure1_claims"])
        summary["results_md_blocks"] = update_results_md(results_md, blocks)
        if summary["results_md_blocks"]:
            summary["files"].append(results_md)
    say(f"report: {len(recs)} records -> " + ", ".join(p.name for p in summary["files"]))
    return summary


# ------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="all",
                   choices=["all", "table1", "figure1", "report", "reeval"],
                   help="reeval: evaluate the saved models again with the current code (attacks, "
                        "intervals, objectives), training nothing")
    p.add_argument("--quick", action="store_true", help="toy sizes (2 trials, 20 units, ...)")
    p.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS),
                   help="default: all five")
    p.add_argument("--trials", type=int, default=None, help="default 10 (2 with --quick)")
    p.add_argument("--first-trial", type=int, default=0,
                   help="run trials FIRST .. FIRST+TRIALS-1 (UCI split k for trial k), e.g. "
                        "calibration splits kept apart from the reported ones")
    p.add_argument("--methods", nargs="+", default=None, choices=list(METHODS),
                   help="only these methods (and what they depend on); default: every method "
                        "the part (table1/figure1/all) needs")
    p.add_argument("--reuse-other-code", action="store_true",
                   help="resume from records made by other code (another library or runner "
                        "source); by default they are recomputed, so a table never mixes code")
    p.add_argument("--mix-code", action="store_true",
                   help="let the report combine records made by different code (it says which)")
    p.add_argument("--out", default=None,
                   help=f"results directory (default {DEFAULT_OUT.relative_to(REPO)}, "
                        "or its quick/ subfolder with --quick)")
    p.add_argument("--solver", default="auto",
                   help="auto (default: the library's torch solvers, cvxpy fallback), torch "
                        "(no fallback), CLARABEL or SCS (the cvxpy programs)")
    p.add_argument("--data-dir", default=None,
                   help="folder of the UCI data sets (default: $TORCH_LIPCVX_DATA if set, "
                        "then the sets bundled with torch_lipcvx)")
    p.add_argument("--seed", type=int, default=0, help="base seed; trial k uses seed + k")
    p.add_argument("--jobs", type=int, default=1, help="(data set, trial) units in parallel")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar over the (data set, trial) units on stderr [default: "
                        "on when stderr is a terminal]")
    p.add_argument("--retry-failed", action="store_true",
                   help="recompute methods whose record says they failed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyper-parameter (JSON value), e.g. admm.max_iter=3")
    p.add_argument("--results-md", default=None, metavar="PATH",
                   help="fill the generated blocks of this markdown file (default: RESULTS.md "
                        "beside this script when --out is the default results folder; 'none' "
                        "to skip)")
    return p


def configure(quick: bool, sets: list[str], solver: str, seed: int = 0) -> tuple[dict, dict, str]:
    """The hyper-parameters (FULL or QUICK with ``sets``, "KEY=VALUE" strings, applied), what
    the configuration key hashes (with the effective solvers and the base seed) and the key."""
    cfg = copy.deepcopy(QUICK if quick else FULL)
    for item in sets:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        _set_dotted(cfg, k.strip(), _parse_value(v.strip()))
    key_cfg = dict(cfg, solver=solver, solvers=effective_solvers(solver), seed=seed)
    return cfg, key_cfg, config_key(key_cfg)


def _log_run(out: Path, log: dict) -> None:
    with open(out / "runs.jsonl", "a") as fh:
        fh.write(json.dumps(log) + "\n")


def _records_since(out: Path, key: str, since: float) -> int:
    """Records of ``key`` written at or after ``since`` (epoch seconds)."""
    n = 0
    for js in (out / "records" / key).glob("*/trial*/*.json"):
        try:
            n += js.stat().st_mtime >= since
        except OSError:
            pass
    return n


def main(argv: Optional[list[str]] = None) -> dict:
    """Run; returns a summary dict (``computed``/``skipped`` counts, files, violations)."""
    args = build_parser().parse_args(argv)
    solver = resolve_solver(args.solver)
    cfg, key_cfg, key = configure(args.quick, args.set, solver, args.seed)
    trials = args.trials if args.trials is not None else (2 if args.quick else 10)
    datasets = args.datasets or list(DATASETS)
    out = Path(args.out).expanduser().resolve() if args.out else (
        DEFAULT_OUT / "quick" if args.quick else DEFAULT_OUT)
    data_dir = resolve_data_dir(args.data_dir)
    parts = ("table1", "figure1") if args.what in ("all", "report", "reeval") else (args.what,)
    methods = []
    if "table1" in parts:
        methods += TABLE1_METHODS
    if "figure1" in parts:
        methods += FIG1_METHODS
    methods = list(dict.fromkeys(args.methods or methods))
    if args.what == "reeval" and not args.methods:
        methods = list(METHODS)
    if args.first_trial < 0:
        raise SystemExit(f"--first-trial must be >= 0, got {args.first_trial}")
    trial_ids = range(args.first_trial, args.first_trial + trials)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"config_{key}.json", json.dumps(key_cfg, indent=1))

    start, start_epoch = time.perf_counter(), time.time()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results: list[dict] = []
    log = {"started": started, "argv": argv if argv is not None else sys.argv[1:],
           "config_key": key, "jobs": args.jobs, "cpu_count": os.cpu_count(),
           "machine": platform.platform()}

    def interrupted(signum: Optional[int] = None, frame: Any = None) -> None:
        """Log a stopped invocation (its wall time and the records it wrote), then stop."""
        _log_run(out, dict(log, wall_s=time.perf_counter() - start, interrupted=True,
                           computed=_records_since(out, key, start_epoch), skipped=None))
        say(f"interrupted after {time.perf_counter() - start:.0f} s; finished units are kept")
        if signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    if args.what != "report":
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, interrupted) if main_thread else None
        say(f"paper reproduction ({'quick' if args.quick else 'full'}): {', '.join(datasets)}; "
            f"{trials} trial(s); {len(methods)} methods; config {key}; solver {solver}; "
            f"out {out}")
        jobs = [{"dataset": ds, "trial": t, "cfg": cfg, "key": key, "out": str(out),
                 "data_dir": None if data_dir is None else str(data_dir), "solver": solver,
                 "seed": args.seed, "methods": methods, "retry_failed": args.retry_failed,
                 "reuse_other_code": args.reuse_other_code, "reeval": args.what == "reeval"}
                for t in trial_ids for ds in datasets]
        global _BAR
        from torch_lipcvx._progress import progress_bar
        try:
            with progress_bar(args.progress, len(jobs), "paper units", unit="unit") as bar:
                _BAR = bar
                if args.jobs > 1:
                    import multiprocessing as mp
                    with ProcessPoolExecutor(args.jobs,
                                             mp_context=mp.get_context("spawn")) as ex:
                        for res in ex.map(run_unit, jobs):
                            results.append(res)
                            bar.update(1)
                else:
                    threads = torch.get_num_threads()
                    try:
                        for job in jobs:
                            results.append(run_unit(dict(job, threads=1)))
                            bar.update(1)
                    finally:
                        torch.set_num_threads(threads)
        except KeyboardInterrupt:
            interrupted()
            raise
        finally:
            _BAR = None
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
    wall = time.perf_counter() - start
    computed = sum(len(r["computed"]) for r in results)
    skipped = sum(len(r["skipped"]) for r in results)
    if args.what != "report":
        _log_run(out, dict(log, wall_s=wall, computed=computed, skipped=skipped))
        say(f"done: computed {computed}, skipped {skipped} in {wall:.1f} s")
    if args.results_md is None:
        results_md = HERE / "RESULTS.md" if out == DEFAULT_OUT else None
    else:
        results_md = None if args.results_md == "none" else Path(args.results_md)
    summary = report(out, cfg, key, parts, trials=trials, results_md=results_md,
                     datasets=tuple(_order(datasets)), mix_code=args.mix_code)
    summary.update({"computed": computed, "skipped": skipped, "wall_s": wall, "config_key": key,
                    "out": out, "solver": solver,
                    "failed": [f"{r['dataset']}/{r['trial']}/{m}" for r in results
                               for m in r["failed"]]})
    return summary


if __name__ == "__main__":
    s = main()
    sys.exit(1 if s.get("violations") else 0)
