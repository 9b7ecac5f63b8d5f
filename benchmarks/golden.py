"""Golden records: the numbers of a fixed set of runs, to prove a refactor moves none of them.

Two commands::

    python benchmarks/golden.py record --out benchmarks/results/golden/base_621be7e.json
    python benchmarks/golden.py compare OLD.json NEW.json [--rtol-from-solver]

``record`` runs the fixed set below in one process with fixed seeds, ``torch.set_num_threads(1)``
(and ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` set before NumPy loads), float64 data, and writes one
JSON: every float at full precision (Python's ``json`` writes ``repr(float)``, which reads back
bit-identically), a sha256 of each returned network's ``state_dict`` (key, dtype, shape and raw
bytes of every tensor, keys sorted), the git commit and the library version. Times are never
recorded as values (only as ``time_s`` information per run). The library under test is whatever
``import torch_lipcvx`` finds: to record a frozen commit, check it out elsewhere and put it first
on ``PYTHONPATH`` (the record states ``torch_lipcvx.__file__`` so a wrong one shows).

The fixed set (sizes chosen so one record takes about 3-4 CPU minutes on the 2-core development
machine, 184 CPU s / 213 wall s at 621be7e; ``meta.cpu_seconds`` of a record has the measured
value, the paper runner's subprocess included; ``info.time_s`` of each run its wall seconds):

* ``demo``: ``torch-lipcvx demo`` with its defaults (rastrigin n = 400, d = 2, m = 100, 1000
  epochs, β = 1e-3, λ = 1e-3, ``max_iter`` 20, solver ``auto``), in-process: every number of its
  ``demo_results.json`` except times (train/test MSE, L lower/upper, J of each row and both
  histories).
* ``pp/<set>/<case>/<solver>``: :func:`torch_lipcvx.postprocess` on servo and wine split 0
  (bundled data, standardised, float64) from a seeded Adam network
  (``train_sgd(None, X, y, hidden=50 (servo) / 30 (wine), beta=1e-3, epochs=300, seed=0)``);
  the Lipschitz case (``lam=1e-2, beta=0``) with solver ``auto``, ``torch``, ``CLARABEL`` and
  ``SCS`` (``max_iter`` 5, but 2 for SCS on servo, whose steps of (12) take ~10 s there, and 2
  for both cvxpy solvers on wine, ~5-15 s a step) and the ℓ2 case (``beta=1e-3, lam=0``) with
  each of the four solvers (SCS on wine: ~75 s): the per-iteration history (J, mse, l2, rho, L,
  step), the rejected count, the final J, L and ρ of the certificate, and the model hashes
  (input and output).
* ``admm/servo/default`` and ``admm/servo/CLARABEL``: :class:`torch_lipcvx.ADMM` from the servo
  ℓ2 network, ``lam=1e-2``, ``beta=1e-3``, ``loss_steps=50``, ``min_iter=max_iter=3``, with its
  default solver (Clarabel at 621be7e) and with ``solver="CLARABEL"`` named: J, L and the
  residuals per iteration and the model hash.
* ``linf/<net>``: three seeded networks (d, m) = (3, 8), (6, 16), (10, 24) (weights drawn from
  ``torch.Generator`` seed 10 + index): ``lipschitz_bounds(norm=inf, method=...)`` for every
  method (best, exact, lp, lipsdp, naive, all), ``linf_exact`` and ``linf_lp`` of degree 2 and
  3, sparse and dense.
* ``paper/...``: ``benchmarks/paper/run.py table1 --quick --trials 1`` (all five data sets,
  trial 0, ~35 s) of the checkout under test (``benchmarks/paper/run.py`` beside the imported
  package), in a subprocess, into a temporary folder: every column of its ``records.csv`` (J,
  mse, ρ, L2 and L∞ intervals with their methods, status, ... per data set and method) and of
  ``table1.csv`` (J of baseline and method, improvement in %), except times; its warnings and
  runtime column go to ``info``.

Each run has a solver class that says how ``compare --rtol-from-solver`` may treat it:
``torch`` (only torch solvers: bit-for-bit whenever both records used one thread), ``highs``
(HiGHS LPs inside, rtol 1e-7, its feasibility tolerance), ``clarabel`` (Clarabel inside,
rtol 1e-8, its gap tolerance) and ``scs`` (SCS inside, rtol 1e-6, its eps). A run mixing
classes gets the loosest. See :func:`compare` for the rule.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import torch

#: The relative tolerance of each solver class under ``--rtol-from-solver`` (see :func:`compare`).
RTOL = {"torch": 0.0, "highs": 1e-7, "clarabel": 1e-8, "scs": 1e-6}
#: Relative tolerance for the ``torch`` class when the two records used different thread counts
#: (the torch interior point stops at a relative gap of 1e-9 and the dual method near it; one
#: more or one fewer Newton step moves the result by far less than this).
RTOL_TORCH_THREADS = 1e-7
_ORDER = ("torch", "highs", "clarabel", "scs")

FORMAT = "torch_lipcvx golden record v1"


# ------------------------------------------------------------------------------ helpers
def model_hash(model: torch.nn.Module) -> str:
    """sha256 over the ``state_dict``: for each key (sorted) its name, dtype, shape and bytes."""
    h = hashlib.sha256()
    sd = model.state_dict()
    for k in sorted(sd):
        v = sd[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def _num(x: Any) -> Any:
    """A JSON-able scalar: Python float/int/bool/str/None (tensors and NumPy scalars unwrapped)."""
    if isinstance(x, torch.Tensor):
        x = x.item()
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    return str(x)


def _loosest(*classes: str) -> str:
    return max(classes, key=_ORDER.index)


class _Run:
    """One run of the set: values (compared), hashes (compared), info (printed if different)."""

    def __init__(self, cls: str) -> None:
        self.cls = cls
        self.values: dict[str, Any] = {}
        self.hashes: dict[str, str] = {}
        self.info: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        self.values[key] = _num(value)

    def series(self, key: str, values) -> None:
        for i, v in enumerate(values):
            self.put(f"{key}[{i}]", v)

    def as_dict(self) -> dict:
        return {"class": self.cls, "values": self.values, "hashes": self.hashes,
                "info": self.info}


def _timed(runs: dict, name: str, fn: Callable[[], _Run], say) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fn()
    run.info["warnings"] = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                                   for w in caught
                                   if not issubclass(w.category, DeprecationWarning)})
    run.info["time_s"] = round(time.perf_counter() - t0, 2)
    run.info["cpu_s"] = round(time.process_time() - c0, 2)
    runs[name] = run.as_dict()
    say(f"  {name}: {len(run.values)} values, {len(run.hashes)} hashes, "
        f"{run.info['time_s']:.1f} s" + (f", warnings: {run.info['warnings']}"
                                        if run.info["warnings"] else ""))


def _solver_class(solver: str) -> str:
    return {"CLARABEL": "clarabel", "SCS": "scs"}.get(solver, "torch")


# ------------------------------------------------------------------------------ the fixed set
DEMO_ARGS: list[str] = []   # the demo's defaults
PP_SOLVERS = ("auto", "torch", "CLARABEL", "SCS")
PP_SETS = {"servo": {"hidden": 50, "lip_iter": {"auto": 5, "torch": 5, "CLARABEL": 5, "SCS": 2}},
           "wine": {"hidden": 30, "lip_iter": {"auto": 5, "torch": 5, "CLARABEL": 2, "SCS": 2}}}
SGD = {"beta": 1e-3, "epochs": 300, "seed": 0}
LAM = 1e-2
BETA = 1e-3
ADMM_ARGS = {"lam": 1e-2, "beta": 1e-3, "loss_steps": 50, "min_iter": 3, "max_iter": 3,
             "seed": 0}
LINF_NETS = ((3, 8), (6, 16), (10, 24))
LINF_METHODS = ("best", "exact", "lp", "lipsdp", "naive", "all")
PAPER_ARGS = ["table1", "--quick", "--trials", "1", "--jobs", "1", "--no-progress",
              "--results-md", "none"]
PAPER_CVXPY = {"admm": "clarabel", "c_lip": "clarabel", "samp_lip": "clarabel",
               "c_lip_alpha": "clarabel", "c_lip_alpha_re": "clarabel", "sgd_lip": "scs",
               "sgd_c_lip": "torch"}
_TIME_COLUMNS = {"time", "solve_time", "time_s", "eval_time_s", "finished_at", "wall_time"}


def _demo() -> _Run:
    from torch_lipcvx import cli
    run = _Run("torch")
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):
            rc = cli.main(["demo", *DEMO_ARGS, "--out", tmp, "--quiet", "--no-progress"])
        run.put("exit_code", rc)
        res = json.loads((Path(tmp) / "demo_results.json").read_text())
    for row in res["rows"]:
        for k, v in row.items():
            if k not in _TIME_COLUMNS and k != "model":
                run.put(f"{row['model']}.{k}", v)
    for hist in ("l2_history", "lip_history"):
        for k, col in res[hist].items():
            if k not in _TIME_COLUMNS:
                run.series(f"{hist}.{k}", col)
    return run


def _pp_record(run: _Run, res) -> None:
    for k in ("iteration", "objective", "mse", "l2", "rho", "L", "step"):
        run.series(f"history.{k}", [getattr(r, k) for r in res.history])
    run.put("n_rejected", len(res.rejected))
    run.put("J_final", res.objective_after)
    run.put("L_final", res.history[-1].L)
    if res.certificate is not None:
        run.put("certificate.rho", res.certificate.rho)
    run.hashes["model"] = model_hash(res.model)
    run.info["message"] = res.message


def _load(name: str):
    from torch_lipcvx.data import load_uci
    data = load_uci(name, split=0, dtype=torch.float64)
    return data.X_train, data.y_train


def _sgd(name: str):
    import torch_lipcvx as tl
    X, y = _load(name)
    return X, y, tl.train_sgd(None, X, y, hidden=PP_SETS[name]["hidden"], progress=False,
                              **SGD).model


def _postprocess(name: str, case: str, solver: str, cache: dict) -> _Run:
    import torch_lipcvx as tl
    if name not in cache:
        cache[name] = _sgd(name)
    X, y, net = cache[name]
    run = _Run(_solver_class(solver))
    if case == "lip":
        res = tl.postprocess(net, X, y, lam=LAM, beta=0.0, solver=solver,
                             max_iter=PP_SETS[name]["lip_iter"][solver], progress=False)
    else:
        res = tl.postprocess(net, X, y, lam=0.0, beta=BETA, solver=solver, progress=False)
    run.hashes["input_model"] = model_hash(net)
    _pp_record(run, res)
    return run


def _admm(cache: dict, solver: Optional[str]) -> _Run:
    """ADMM on servo with ``solver`` (``None``: ADMM's default, Clarabel at 621be7e; a changed
    default shows as a mismatch of ``admm/servo/default`` alone)."""
    import torch_lipcvx as tl
    if "servo" not in cache:
        cache["servo"] = _sgd("servo")
    X, y, net = cache["servo"]
    kwargs = {} if solver is None else {"solver": solver}
    res = tl.ADMM(net, X, y, **ADMM_ARGS, **kwargs).run()
    run = _Run("clarabel")   # the SDP step is a Clarabel solve whatever the LipSDP solver
    for k in ("iteration", "objective", "mse", "l2", "rho", "L", "sdp_rho", "copy_objective",
              "copy_rho", "primal_residual", "dual_residual", "dual_norm", "lmi_min_eig",
              "loss"):
        run.series(f"history.{k}", [getattr(r, k) for r in res.history])
    run.put("J_final", res.objective.value)
    run.put("L_final", res.certificate.L)
    run.put("selected_iteration", res.selected_iteration)
    run.hashes["model"] = model_hash(res.model)
    run.info["message"] = res.message
    return run


def _linf_net(i: int, d: int, m: int):
    from torch_lipcvx import ShallowReLU, ShallowWeights
    g = torch.Generator().manual_seed(10 + i)
    w = ShallowWeights(W=torch.randn(m, d, generator=g, dtype=torch.float64),
                       b=0.5 * torch.randn(m, generator=g, dtype=torch.float64),
                       alpha=torch.randn(m, generator=g, dtype=torch.float64) / math.sqrt(m),
                       c=torch.zeros((), dtype=torch.float64))
    return ShallowReLU.from_weights(w)


def _linf(i: int, d: int, m: int) -> _Run:
    import torch_lipcvx as tl
    net = _linf_net(i, d, m)
    w = net.weights()
    run = _Run("highs")
    run.hashes["model"] = model_hash(net)
    for method in LINF_METHODS:
        iv = tl.lipschitz_bounds(net, norm=math.inf, method=method)
        run.put(f"bounds.{method}.lower", iv.lower)
        run.put(f"bounds.{method}.upper", iv.upper)
        run.put(f"bounds.{method}.lower_method", iv.lower_method)
        run.put(f"bounds.{method}.upper_method", iv.upper_method)
        for k in sorted(iv.upper_bounds):
            run.put(f"bounds.{method}.upper_bounds.{k}", iv.upper_bounds[k])
    ex = tl.linf_exact(w)
    for k in ("value", "upper", "n_vertices", "n_components", "max_component_dim"):
        run.put(f"exact.{k}", getattr(ex, k))
    run.series("exact.argmax", ex.argmax.tolist())
    for degree in (2, 3):
        for sparse in (True, False):
            lp = tl.linf_lp(w, degree, sparse=sparse)
            tag = f"lp{degree}_{'sparse' if sparse else 'dense'}"
            for k in ("bound", "solver_objective", "residual", "n_products", "n_monomials",
                      "nnz", "n_lps"):
                run.put(f"{tag}.{k}", getattr(lp, k))
    return run


def _paper(root: Path) -> dict[str, _Run]:
    script = root / "benchmarks" / "paper" / "run.py"
    runs: dict[str, _Run] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        proc = subprocess.run([sys.executable, str(script), *PAPER_ARGS, "--out", tmp],
                              env=env, capture_output=True, text=True, cwd=str(root))
        if proc.returncode != 0:
            raise RuntimeError(f"paper runner failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        with open(Path(tmp) / "records.csv", newline="") as f:
            for row in csv.DictReader(f):
                method = row["method"]
                name = f"paper/records/{row['dataset']}/{row['trial']}/{method}"
                run = runs.setdefault(name, _Run(PAPER_CVXPY.get(method, "torch")))
                for k, v in row.items():
                    if k in _TIME_COLUMNS or k.endswith("_s") or k == "config_key":
                        continue                      # times; the key hashes the settings
                    if k in ("runtime", "warnings"):  # versions and machine; warning texts
                        run.info[k] = v
                        continue
                    try:
                        run.put(k, float(v) if v not in ("", "None") else None)
                    except ValueError:
                        run.put(k, v)
        with open(Path(tmp) / "table1.csv", newline="") as f:
            for row in csv.DictReader(f):
                name = f"paper/table1/{row['dataset']}/{row['trial']}/{row['method']}"
                cls = _loosest(PAPER_CVXPY.get(row["method"], "torch"),
                               PAPER_CVXPY.get(row["baseline"], "torch"))
                run = runs.setdefault(name, _Run(cls))
                for k in ("J_baseline", "J_method", "improvement_pct"):
                    run.put(k, float(row[k]))
    return runs


def _git_commit(root: Path) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "torch_lipcvx", "benchmarks/paper"],
                               capture_output=True, text=True).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def record(out: Path, *, threads: int = 1, only: Optional[list[str]] = None,
           quiet: bool = False) -> dict:
    """Run the fixed set and write the record to ``out`` (JSON); returns it.

    ``only``: name prefixes to run (for timing a part; a partial record says so in its meta).
    """
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    torch.set_num_threads(threads)
    torch.set_default_dtype(torch.float64)
    import torch_lipcvx as tl
    root = Path(tl.__file__).resolve().parents[1]
    say(f"recording torch_lipcvx {tl.__version__} from {tl.__file__} with {threads} thread(s)")
    start, cpu0 = time.perf_counter(), time.process_time()
    wanted = (lambda name: only is None or any(name.startswith(p) for p in only))
    runs: dict[str, dict] = {}
    cache: dict = {}
    if wanted("demo"):
        _timed(runs, "demo", _demo, say)
    for name in PP_SETS:
        for case in ("lip", "l2"):
            for solver in PP_SOLVERS:
                key = f"pp/{name}/{case}/{solver}"
                if wanted(key):
                    _timed(runs, key, lambda: _postprocess(name, case, solver, cache), say)
    for solver in (None, "CLARABEL"):
        key = f"admm/servo/{solver or 'default'}"
        if wanted(key):
            _timed(runs, key, lambda: _admm(cache, solver), say)
    for i, (d, m) in enumerate(LINF_NETS):
        key = f"linf/d{d}_m{m}"
        if wanted(key):
            _timed(runs, key, lambda: _linf(i, d, m), say)
    if wanted("paper"):
        t0 = time.perf_counter()
        for k, r in _paper(root).items():
            runs[k] = r.as_dict()
        say(f"  paper: {sum(k.startswith('paper/') for k in runs)} runs, "
            f"{time.perf_counter() - t0:.1f} s")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    import cvxpy
    import numpy
    meta = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": _git_commit(root),
        "version": tl.__version__,
        "package_file": tl.__file__,
        "threads": threads,
        "dtype": "float64",
        "only": only,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cvxpy": cvxpy.__version__,
        "machine": platform.platform(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu0
                             + children.ru_utime + children.ru_stime, 1),
        "counts": {"runs": len(runs),
                   "values": sum(len(r["values"]) for r in runs.values()),
                   "hashes": sum(len(r["hashes"]) for r in runs.values())},
    }
    rec = {"meta": meta, "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1, sort_keys=False) + "\n")
    say(f"wrote {out}: {meta['counts']}, {meta['cpu_seconds']} CPU s, "
        f"{meta['wall_seconds']} wall s")
    return rec


# ------------------------------------------------------------------------------ compare
def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _close(a: Any, b: Any, rtol: float) -> bool:
    if _same(a, b):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (
            isinstance(a, bool) or isinstance(b, bool)):
        if isinstance(a, int) and isinstance(b, int):
            return False     # counts, iterations: exact
        if math.isfinite(a) and math.isfinite(b):
            return abs(a - b) <= rtol * max(1.0, abs(a), abs(b))
    return False


def compare(old: dict, new: dict, *, rtol_from_solver: bool = False,
            out=sys.stdout) -> int:
    """Compare two records; print every difference; return the number of mismatches.

    The rule:

    * Without ``rtol_from_solver`` everything must be bit-for-bit: the same runs, the same keys,
      every float equal (NaN equal to NaN), every count and string equal, every model hash
      equal. Two records of one commit on one machine must pass this.
    * With ``rtol_from_solver``: runs of class ``torch`` still bit-for-bit when both records
      used one thread (else within ``RTOL_TORCH_THREADS``). Runs of the other classes compare
      each float within the class's relative tolerance (``RTOL``: HiGHS 1e-7, Clarabel 1e-8,
      SCS 1e-6), i.e. ``|a − b| ≤ rtol·max(1, |a|, |b|)``; integers (iterations, counts,
      history lengths) and strings must still be equal; their model hashes are then only
      reported, not required.
    * ``info`` (warnings, messages, times) is never a mismatch; differences in warnings and
      messages are printed as notes.
    """
    bad = 0

    def fail(msg: str) -> None:
        nonlocal bad
        bad += 1
        print(f"MISMATCH {msg}", file=out)

    mo, mn = old["meta"], new["meta"]
    print(f"old: {mo.get('commit')} ({mo.get('package_file')}, {mo.get('threads')} thread(s))",
          file=out)
    print(f"new: {mn.get('commit')} ({mn.get('package_file')}, {mn.get('threads')} thread(s))",
          file=out)
    one_thread = mo.get("threads") == 1 and mn.get("threads") == 1
    for name in sorted(set(old["runs"]) | set(new["runs"])):
        ro, rn = old["runs"].get(name), new["runs"].get(name)
        if ro is None or rn is None:
            fail(f"{name}: run only in {'new' if ro is None else 'old'}")
            continue
        cls = _loosest(ro["class"], rn["class"])
        if not rtol_from_solver:
            rtol, exact_hash = 0.0, True
        elif cls == "torch":
            rtol, exact_hash = (0.0, True) if one_thread else (RTOL_TORCH_THREADS, False)
        else:
            rtol, exact_hash = RTOL[cls], False
        vo, vn = ro["values"], rn["values"]
        for k in sorted(set(vo) | set(vn)):
            if k not in vo or k not in vn:
                fail(f"{name}: {k} only in {'new' if k not in vo else 'old'}")
            elif not (_same(vo[k], vn[k]) if rtol == 0 else _close(vo[k], vn[k], rtol)):
                diff = ""
                if isinstance(vo[k], float) and isinstance(vn[k], float):
                    diff = f" (rel diff {abs(vo[k] - vn[k]) / max(1.0, abs(vo[k])):.3g})"
                fail(f"{name} [{cls}, rtol {rtol:g}]: {k}: {vo[k]!r} -> {vn[k]!r}{diff}")
        for k in sorted(set(ro["hashes"]) | set(rn["hashes"])):
            ho, hn = ro["hashes"].get(k), rn["hashes"].get(k)
            if ho != hn:
                if exact_hash:
                    fail(f"{name}: hash {k}: {ho} -> {hn}")
                else:
                    print(f"note {name} [{cls}]: hash {k} differs (values within rtol {rtol:g})",
                          file=out)
        for k in ("warnings", "message"):
            if ro["info"].get(k) != rn["info"].get(k):
                print(f"note {name}: {k}: {ro['info'].get(k)!r} -> {rn['info'].get(k)!r}",
                      file=out)
    n = sum(len(r["values"]) + len(r["hashes"]) for r in new["runs"].values())
    mode = "within solver tolerance" if rtol_from_solver else "bit-for-bit"
    print(f"{'OK' if bad == 0 else 'FAILED'}: {len(new['runs'])} runs, {n} values and hashes, "
          f"{bad} mismatch(es) ({mode})", file=out)
    return bad


# ------------------------------------------------------------------------------ command line
def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record", help="run the fixed set and write a record")
    r.add_argument("--out", required=True, type=Path, help="the record's JSON path")
    r.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 for a bit-for-bit comparable record)")
    r.add_argument("--only", nargs="+", default=None,
                   help="run only the runs whose name starts with one of these (timing)")
    r.add_argument("--quiet", action="store_true")
    c = sub.add_parser("compare", help="compare two records; exit 1 on any mismatch")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--rtol-from-solver", action="store_true",
                   help="cvxpy/HiGHS runs within the solver's tolerance (see compare())")
    args = p.parse_args(argv)
    if args.command == "record":
        if args.threads < 1:
            p.error(f"--threads must be >= 1, got {args.threads}")
        record(args.out, threads=args.threads, only=args.only, quiet=args.quiet)
        return 0
    old, new = (json.loads(path.read_text()) for path in (args.old, args.new))
    for path, rec in ((args.old, old), (args.new, new)):
        if rec.get("meta", {}).get("format") != FORMAT:
            p.error(f"{path} is not a golden record ({FORMAT!r})")
    return 1 if compare(old, new, rtol_from_solver=args.rtol_from_solver) else 0


if __name__ == "__main__":
    sys.exit(main())
