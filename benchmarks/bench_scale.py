"""Large convex steps: the matrix-free (Newton–CG) interior point against the dense one (issue 30).

    python benchmarks/bench_scale.py --quick                      # seconds: every path, tiny sizes
    python benchmarks/bench_scale.py --case n9000 [--threads 1]   # dense vs cg, one (12) step
    python benchmarks/bench_scale.py --case n1e5                  # n=1e5, d=100: (12) and (6), cg
    python benchmarks/bench_scale.py --case mnist                 # d=784, m=1000, n=1e4: (12), cg
    python benchmarks/bench_scale.py --case pyscnn                # program (6) beside pyscnn

Every (case, program, Newton solver) runs in its own subprocess, so its peak memory is its own:
the child's ``VmHWM`` (peak resident set, /proc/self/status) at its end, and on CUDA torch's peak
allocation. Printed and recorded per run: build time (the data structures of the solver: the
dense Gram matrix of docs/programs.md, or nothing for the matrix-free path), solve time,
interior-point iterations, the returned point's objective J (``info.value``, evaluated exactly
there), the duality gap ``info.gap`` (``J − info.lower``) and the relative gap ``gap / |J|``, the
status, the peak memory. Where the dense interior point runs in the same case, the ratio of its
time to the matrix-free one's and the relative difference of their J.

The instances (docs/programs.md §2 for (12), §1 for (6)) are synthetic with a fixed seed: rows
``x ~ N(0, I_d)``, targets from a random teacher network (20 units) plus 10% noise, standardised;
the patterns ``D`` and the start of (12) from a random :class:`torch_lipcvx.ShallowReLU` with
``m`` units (its own certificate ``t`` from :func:`torch_lipcvx.bounds.lipsdp`); program (6) at
the same patterns with slot signs ``σ = sign(α)`` and start ``v_j = |α_j| w̃_j``. ``--data rastrigin`` is the
instance of ``bench_solvers.py --scale`` (results/bench_scale.json: rastrigin rows, a Gaussian
network with sorted α, no output bias at the start). ``--data digits`` for the ``mnist`` case uses scikit-learn's 8×8 digits upsampled to 28×28 (bilinear) with random
shifts of ±2 pixels and 5% noise to reach ``n`` rows, the digit as the (standardised) target.

``--time-limit S`` stops each solve after S seconds at its last (feasible) iterate, status
``time_limit``, with its gap (certified where the Lagrangian bound applies): how far a step gets
in a budget a user would give it. ``--max-iter K`` caps the interior point at K iterations (a representative part of a run too
long for the time at hand: the record is then marked ``partial`` with the time per iteration;
any extrapolation is stated as such in RESULTS.md, never stored as a measurement).

The ``pyscnn`` case solves program (6) by pyscnn (pilancilab's convex-network package) at the same
patterns and regularisation, in its own virtual environment (``--pyscnn-python``, default
/work/venv_pyscnn/bin/python: pyscnn is never a dependency of torch_lipcvx) and reports the time
each solver needs to reach the other's objective (see :func:`pyscnn_child`).

Writes ``benchmarks/results/bench_scale_<case>.json`` (``--out`` to change), merging with the runs
already there by (program, newton, device): each heavy case can be run alone, one at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: the cases: rows n, inputs d, units m, programs, Newton solvers (dense where it fits)
CASES: dict[str, dict] = {
    "quick": {"n": 300, "d": 4, "m": 12, "programs": ["12", "6"], "newton": ["dense", "cg"]},
    "n9000": {"n": 9000, "d": 10, "m": 1000, "programs": ["12"], "newton": ["dense", "cg"]},
    "n1e5": {"n": 100_000, "d": 100, "m": 1000, "programs": ["12", "6"], "newton": ["cg"]},
    "mnist": {"n": 10_000, "d": 784, "m": 1000, "programs": ["12"], "newton": ["cg"]},
    "pyscnn": {"n": 2000, "d": 10, "m": 100, "programs": ["6"], "newton": ["dense", "cg"]},
}
#: the dense path is skipped (and says so) when its Gram matrix and row outer products need more
DENSE_LIMIT_GIB = 8.0
#: the interior point's verbose line (torch_lipcvx._engine.ipm): screening round, iteration, the
#: objective of the (feasible) iterate f, the gap, seconds since that solve started
TRAJ = re.compile(r"\] \((?:12|6)\)(?: screen (\d+))?\s+(\d+)\s+f=(\S+)\s+gap=(\S+)\s+"
                  r"dres=\S+\s+(\S+)s\s*$")
LAM = 1e-2      # λ of (12) (J in the units of the standardised targets)
BETA6 = 1e-3    # β of (6)


def make_instance(n: int, d: int, m: int, seed: int, data: str = "synthetic"):
    """The data and the pattern network of one case, float64 on the CPU.

    Returns ``(X (n, d), y (n,), model)``: ``model`` is a random :class:`ShallowReLU` with ``m``
    units whose patterns on X are the fixed ``D`` of the programs.
    """
    import torch

    import torch_lipcvx as tl

    g = torch.Generator().manual_seed(seed)
    if data == "rastrigin":      # the instance of bench_solvers.py --scale (results/bench_scale.json)
        from torch_lipcvx.data import load_dataset
        from torch_lipcvx.models import ShallowWeights
        ds = load_dataset("rastrigin", n=int(round(n / 0.9)), d=d, seed=seed, dtype=torch.float64)
        X, y = ds.X_train[:n], ds.y_train[:n]
        Wt = torch.randn(m, d + 1, generator=g, dtype=torch.float64) / (d + 1) ** 0.5
        alpha = torch.randn(m, generator=g, dtype=torch.float64) / m ** 0.5
        alpha = alpha[torch.argsort(-alpha)]
        w = ShallowWeights.from_tilde(Wt, alpha, torch.zeros((), dtype=torch.float64))
        return X, y, tl.ShallowReLU.from_weights(w, dtype=torch.float64)
    if data == "digits":
        X, y = _digits_784(n, seed)
    else:
        X = torch.randn(n, d, generator=g, dtype=torch.float64)
        teacher = tl.ShallowReLU(d, 20, dtype=torch.float64, generator=g)
        with torch.no_grad():
            y = teacher(X)
        y = y + 0.1 * y.std() * torch.randn(n, generator=g, dtype=torch.float64)
    y = (y - y.mean()) / y.std()
    model = tl.ShallowReLU(X.shape[1], m, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(seed + 1))
    return X, y, model


def _digits_784(n: int, seed: int):
    """scikit-learn's digits upsampled to 28×28, augmented (shifts, noise) to n rows, scaled to
    [0, 1] pixels then standardised per column where the column varies."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    dig = load_digits()
    img = torch.tensor(dig.images, dtype=torch.float64)[:, None] / 16.0      # (1797, 1, 8, 8)
    up = torch.nn.functional.interpolate(img, size=(28, 28), mode="bilinear",
                                         align_corners=False)[:, 0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(up), n)
    sh = rng.integers(-2, 3, (n, 2))
    out = torch.empty(n, 28, 28, dtype=torch.float64)
    for i in range(n):
        out[i] = torch.roll(up[idx[i]], shifts=(int(sh[i, 0]), int(sh[i, 1])), dims=(0, 1))
    out += 0.05 * torch.tensor(rng.standard_normal((n, 28, 28)))
    X = out.reshape(n, 784)
    X = (X - X.mean(0)) / X.std(0).clamp_min(1e-3)
    y = torch.tensor(dig.target[idx], dtype=torch.float64)
    return X, y


def _peak_gib() -> float:
    """This process's peak resident set (VmHWM) in GiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def dense_gib(n: int, d: int, m: int) -> float:
    """Memory of the dense Newton path: the Gram matrix plus its Newton copy and factor
    (3 (m (d+1))² floats) and the rows' outer products (n (d+1)² floats), GiB."""
    p = d + 1
    return (3 * (m * p + 1) ** 2 + n * p * p) * 8 / 2 ** 30


def _barrier(cls, newton: str, *args, **kw):
    """``cls(*args, newton=newton, **kw)``; before the matrix-free path landed the dense one had
    no ``newton`` argument (then only ``"dense"`` can run)."""
    try:
        return cls(*args, newton=newton, **kw)
    except TypeError as err:
        if "newton" in str(err) and newton == "dense":
            return cls(*args, **kw)
        raise


def solver_child(spec: dict) -> dict:
    """One (program, newton) solve of one case in this (child) process; returns the record."""
    import torch

    torch.set_num_threads(spec["threads"])
    from torch_lipcvx import bounds
    from torch_lipcvx._engine.barrier import PatternBarrier

    dev = torch.device(spec["device"])
    t0 = time.perf_counter()
    X, y, model = make_instance(spec["n"], spec["d"], spec["m"], spec["seed"], spec["data"])
    w = model.weights()
    D = model.activation_patterns(X)
    Wt, alpha = w.W_tilde, w.alpha
    c0 = w.c
    t_data = time.perf_counter() - t0
    X, y, D, Wt, alpha, c0 = (v.to(dev) for v in (X, y, D, Wt, alpha, c0))
    pair = bool(spec.get("pair"))
    if pair:           # pyscnn's form of (6): distinct patterns, both slot signs, no output bias
        D, sign, V0, keep = paired_patterns(D, Wt, alpha)
        c0 = None
    rec = {"n": spec["n"], "d": X.shape[1], "m": spec["m"], "program": spec["program"],
           "newton": spec["newton"], "device": spec["device"], "threads": spec["threads"],
           "data": spec["data"], "seed": spec["seed"], "data_time": t_data,
           "screen": spec.get("screen", "auto"), "src": spec.get("src"),
           "torch_lipcvx": str(Path(sys.modules["torch_lipcvx"].__file__).parent),
           "load_before": os.getloadavg()}
    opts = {} if spec["max_iter"] is None else {"max_iter": spec["max_iter"]}
    if spec.get("time_limit") is not None:
        opts["time_limit"] = spec["time_limit"]
    if spec.get("screen", "auto") != "auto":
        opts["screen"] = spec["screen"] == "on"
    if spec["program"] == "12":
        t0 = time.perf_counter()
        if spec["data"] == "rastrigin":    # as bench_solvers.py --scale did (its J is comparable)
            from torch_lipcvx._engine.lipsdp_dual import lipsdp_dual
            t = lipsdp_dual(w.W, w.alpha)[1].to(dev, torch.float64)
        else:
            t = torch.as_tensor(bounds.lipsdp(w).t, dtype=torch.float64).to(dev)
        rec["lipsdp_time"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ipm = _barrier(PatternBarrier, spec["newton"], X, y, D, alpha, output_bias=True,
                       **spec.get("barrier", {}))
        rec["build_time"] = time.perf_counter() - t0
        c0_cpu = time.process_time()
        _, _, rho, info = ipm.solve_restriction(alpha, t, LAM, 0.0, Wt, c0,
                                                verbose=True, **opts)
        rec.update(lam=LAM, beta=0.0, rho=rho)
    else:
        if not pair:
            sign = torch.sign(alpha)
            V0 = alpha.abs()[:, None] * Wt
        t0 = time.perf_counter()
        ipm = _barrier(PatternBarrier, spec["newton"], X, y, D, sign, output_bias=not pair,
                       **spec.get("barrier", {}))
        rec["build_time"] = time.perf_counter() - t0
        c0_cpu = time.process_time()
        _, _, info = ipm.solve_l2(BETA6, V0, c0, verbose=True, **opts)
        rec.update(beta=BETA6, slots=int(D.shape[1]), pyscnn_form=pair)
    rec["solve_cpu"] = time.process_time() - c0_cpu      # CPU seconds (all threads) of the solve
    rec.update(solve_time=info.solve_time, iterations=info.iterations, status=info.status,
               J=info.value, lower=info.lower, gap=info.gap,
               rel_gap=info.gap / max(abs(info.value), 1e-300),
               dual_residual=info.dual_residual, certified=info.certified,
               time_limit=spec.get("time_limit"),
               partial=(spec["max_iter"] is not None or spec.get("time_limit") is not None)
               and info.status != "optimal",
               time_per_iteration=info.solve_time / max(info.iterations or 1, 1),
               peak_GiB=_peak_gib(), load_after=os.getloadavg())
    if dev.type == "cuda":
        rec["cuda_peak_GiB"] = torch.cuda.max_memory_allocated(dev) / 2 ** 30
    return rec


# ------------------------------------------------------------------------------------- pyscnn
def paired_patterns(D, Wt, alpha):
    """The patterns of program (6) as pyscnn's ReLU program has them: the distinct, not all-zero
    columns of ``D`` (pyscnn drops duplicates and the zero pattern), each with both slot signs.

    Returns ``(D2 (n, 2p), sign (2p,), V0 (2p, d + 1), keep (p,))``: ``V0`` starts both slots
    of pattern ``i`` at ``|α_i| w̃_i`` (it has the pattern), ``keep`` the kept units.
    """
    import numpy as np
    import torch

    Dn = D.cpu().numpy()
    _, first = np.unique(Dn, axis=1, return_index=True)
    first = np.sort(first)
    first = first[Dn[:, first].any(0)]
    keep = torch.as_tensor(first)
    Dk = D[:, keep]
    V = alpha[keep].abs()[:, None] * Wt[keep]
    p = len(keep)
    sign = torch.cat([torch.ones(p), -torch.ones(p)]).to(Wt)
    return torch.cat([Dk, Dk], 1), sign, torch.cat([V, V], 0), keep


def pyscnn_child(spec: dict) -> dict:
    """Program (6) by pyscnn's augmented Lagrangian (``scnn.solvers.AL``), run by the pyscnn
    venv's Python on the instance file ``spec["instance"]`` (X, y, gates G = W̄ᵀ and their
    biases b: the same patterns as ours).

    pyscnn's ReLU program is ``‖Σ_i D_i X̃ (v_i − w_i) − y‖² / (2n) + λ Σ_i (‖v_i‖ + ‖w_i‖)``
    s.t. ``(2D_i − 1) X̃ v_i ≥ 0``, ``(2D_i − 1) X̃ w_i ≥ 0`` (scnn/private/models/convex:
    squared error over ``2 n c``, ``NeuronGL1`` on the rows of the bias-augmented weights,
    ``X̃ = [X, 1]`` with ``bias=True``; ``unitize_data=False`` keeps X's units): ours (6) with
    both slot signs per pattern and no output bias, ``J = 2 J_pyscnn`` for ``λ = β/2``. J is
    recomputed here in our scaling from the returned weights, with the constraint violation (the
    augmented Lagrangian's iterates are not feasible). ``model_loss`` per iteration (the program's
    objective without the penalty terms, pyscnn's scaling) gives the trajectory; pyscnn's clock
    excludes its metric collection.
    """
    import numpy as np

    os.environ.setdefault("OMP_NUM_THREADS", str(spec["threads"]))
    from scnn.metrics import Metrics
    from scnn.models import ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL

    # pyscnn 0.0.10's ConvexReLU.set_parameters checks the bias shapes at the wrong indices
    # (parameters[2] against (c, p)) and fails for every bias=True model: set them unchecked
    ConvexReLU.set_parameters = lambda self, params: setattr(self, "parameters", params)
    z = np.load(spec["instance"])
    X, y, G, Gb = z["X"], z["y"], z["G"], z["G_bias"]
    beta = spec["beta"]
    n = len(X)
    model = ConvexReLU(G, c=1, bias=True, G_bias=Gb)
    solver = AL(model, tol=spec["tol"], constraint_tol=spec["tol"])
    metrics = Metrics(metric_freq=1, model_loss=True, constraint_gaps=True)
    tic, c0_cpu = time.perf_counter(), time.process_time()
    cvx, met = optimize_model(model, solver, metrics, X, y[:, None], regularizer=NeuronGL1(beta / 2),
                              return_convex=True, unitize_data=False, verbose=False,
                              device="cpu", dtype="float64")
    wall, cpu = time.perf_counter() - tic, time.process_time() - c0_cpu
    v, vb, w, wb = cvx.parameters
    U = np.concatenate([v[0], vb[0][:, None]], 1)          # (p, d + 1): the + slots
    Wn = np.concatenate([w[0], wb[0][:, None]], 1)         # the − slots
    Gt = np.concatenate([cvx.G, cvx.G_bias.reshape(1, -1)], 0)
    Xt = np.concatenate([X, np.ones((n, 1))], 1)
    D = (Xt @ Gt) > 0
    pred = (D * (Xt @ (U - Wn).T)).sum(1)
    J = float(np.mean((pred - y) ** 2) + beta * (np.linalg.norm(U, axis=1).sum()
                                                + np.linalg.norm(Wn, axis=1).sum()))
    S = (2 * D - 1)
    viol = max(float(np.maximum(-(S * (Xt @ U.T)), 0).max()),
               float(np.maximum(-(S * (Xt @ Wn.T)), 0).max()))
    scale = float(np.abs(Xt @ np.concatenate([U, Wn]).T).max())
    traj = [{"t": float(t), "J": 2 * float(f), "constraint_gap": float(g)}
            for t, f, g in zip(met.time, met.model_loss, met.constraint_gaps)]
    from importlib.metadata import version
    return {"n": n, "d": X.shape[1], "m": spec["m"], "program": "6", "newton": "pyscnn",
            "device": "cpu", "threads": spec["threads"],
            "solver": f"pyscnn {version('pyscnn')} AL (numpy {np.__version__})",
            "pyscnn_lam": beta / 2, "beta": beta, "tol": spec["tol"], "patterns": int(Gt.shape[1]),
            "solve_time": float(met.time[-1]) if len(met.time) else wall, "wall_time_inner": wall,
            "solve_cpu": cpu,
            "iterations": len(traj), "J": J, "J_pyscnn_scaling": J / 2,
            "max_violation": viol, "max_violation_rel": viol / max(scale, 1e-300),
            "trajectory": traj, "peak_GiB": _peak_gib(), "status": "returned",
            "build_time": 0.0}


# ------------------------------------------------------------------------------------ parent
def run_child(spec: dict, python: str, log: Optional[Path], timeout: Optional[float]) -> dict:
    """Runs ``spec`` in a subprocess of ``python``; streams its output (to ``log`` too) and
    returns the JSON record of its last line (or an error record)."""
    cmd = [python, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]),
               MKL_NUM_THREADS=str(spec["threads"]))
    if spec.get("src"):        # torch_lipcvx from another source tree (e.g. a commit's export)
        env["PYTHONPATH"] = spec["src"] + os.pathsep + env.get("PYTHONPATH", "")
    tic = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=str(ROOT))
    out, tail, traj = None, [], []
    fh = open(log, "a") if log else None
    try:
        for line in proc.stdout:
            if line.startswith("@@RESULT "):
                out = json.loads(line[len("@@RESULT "):])
                continue
            hit = TRAJ.search(line)
            if hit:
                traj.append({"round": int(hit[1] or 1), "it": int(hit[2]), "f": float(hit[3]),
                             "gap": float(hit[4]), "t": float(hit[5])})
            tail = (tail + [line])[-30:]
            if spec["verbose"]:
                print("    " + line, end="", flush=True)
            if fh:
                fh.write(line)
                fh.flush()
        rc = proc.wait(timeout=timeout)
    finally:
        if fh:
            fh.close()
    if rc != 0 or out is None:
        rec = {**{k: spec[k] for k in ("n", "d", "m", "program", "newton", "device")},
               "error": "".join(tail)[-3000:], "returncode": rc,
               "wall_time": time.perf_counter() - tic}
        return {**rec, **partial_record(traj)} if traj else rec
    out["wall_time"] = time.perf_counter() - tic
    if traj:
        out["trajectory"] = traj
    return out


def partial_record(traj: list[dict]) -> dict:
    """What a run stopped before its end (killed, or out of time) did: its iterations, the time
    per iteration, the last iterate's objective and gap (from its per-iteration log)."""
    last = traj[-1]
    return {"partial": True, "trajectory": traj, "iterations_done": last["it"],
            "time_done": last["t"],
            "time_per_iteration": last["t"] / last["it"] if last["it"] else None,
            "f_last": last["f"], "gap_last": last["gap"]}


def record_from_log(log: Path, spec: dict) -> dict:
    """A partial record from the log of a run that was stopped (``--partial-from-log``)."""
    traj = []
    for line in log.read_text().splitlines():
        hit = TRAJ.search(line)
        if hit:
            traj.append({"round": int(hit[1] or 1), "it": int(hit[2]), "f": float(hit[3]),
                         "gap": float(hit[4]), "t": float(hit[5])})
    if not traj:
        raise SystemExit(f"--partial-from-log: no interior-point iteration in {log}")
    return {**{k: spec[k] for k in ("n", "d", "m", "program", "newton", "device", "threads",
                                    "screen", "src")},
            "error": "stopped before the end (out of time): a representative part",
            **partial_record(traj)}


def code_version() -> str:
    """The checkout's commit, with ``+dirty`` when the package has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "torch_lipcvx"], cwd=ROOT,
                               text=True, capture_output=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summarise(records: list[dict]) -> list[dict]:
    """Dense-vs-cg rows per (program, device): where both converged (status ``optimal`` or
    ``inexact``, the gap says how far), the time ratios (solve, build + solve, CPU seconds) and
    the relative difference of J; where the dense run was stopped and cg converged, the measured
    lower bound on the ratio (no extrapolation); otherwise what each run ended with."""
    rows = []
    done = ("optimal", "inexact")
    for prog in sorted({r["program"] for r in records}):
        for dev in sorted({r["device"] for r in records}):
            mine = [r for r in records if r["program"] == prog and r["device"] == dev
                    and r["newton"] in ("dense", "cg")]
            conv = {r["newton"]: r for r in mine if r.get("status") in done}
            part = [r for r in mine if r["newton"] == "dense" and r.get("partial")
                    and "J" not in r]
            if "dense" in conv and "cg" in conv:
                a, b = conv["dense"], conv["cg"]
                row = {"program": prog, "device": dev,
                       "solve_ratio": a["solve_time"] / b["solve_time"],
                       "total_ratio": (a["build_time"] + a["solve_time"])
                       / (b["build_time"] + b["solve_time"]),
                       "J_rel_diff": (b["J"] - a["J"]) / abs(a["J"]),
                       "statuses": [a["status"], b["status"]]}
                if "solve_cpu" in a and "solve_cpu" in b:
                    row["solve_cpu_ratio"] = a["solve_cpu"] / b["solve_cpu"]
                rows.append(row)
            elif part and "cg" in conv:
                a, b = part[-1], conv["cg"]
                # the dense run was stopped before converging: its time so far over the cg run's
                # whole time is a measured lower bound on the speed-up (no extrapolation)
                rows.append({"program": prog, "device": dev, "dense_partial": True,
                             "dense_iterations_done": a["iterations_done"],
                             "dense_time_done": a["time_done"],
                             "cg_solve_time": b["solve_time"], "cg_iterations": b["iterations"],
                             "cg_J": b["J"],
                             "solve_ratio_lower_bound": a["time_done"] / b["solve_time"]})
            elif {r["newton"] for r in mine} == {"dense", "cg"}:
                row = {"program": prog, "device": dev, "no_converged_pair": [
                    f"{r['newton']} (screen {r.get('screen', 'auto')}): "
                    f"{r.get('status', 'stopped by hand' if r.get('partial') else 'error')}"
                    for r in mine]}
                # runs cut at the same iteration count (--max-iter): the cost per iteration
                cut = {r["newton"]: r for r in mine if r.get("status") == "max_iter"
                       and "solve_cpu" in r}
                if len(cut) == 2 and cut["dense"]["iterations"] == cut["cg"]["iterations"]:
                    row["cpu_per_iteration"] = {k: r["solve_cpu"] / r["iterations"]
                                                for k, r in cut.items()}
                    row["cpu_per_iteration_ratio"] = (cut["dense"]["solve_cpu"]
                                                      / cut["cg"]["solve_cpu"])
                rows.append(row)
    return rows


def fmt(r: dict) -> str:
    if r.get("partial") and "J" not in r:
        return (f"  ({r['program']}) {r['newton']:5s}: PARTIAL, stopped after {r['iterations_done']}"
                f" it in {r['time_done']:.1f}s ({r['time_per_iteration'] or math.nan:.2f} s/it), last f="
                f"{r['f_last']:.10g} gap={r['gap_last']:.2e}")
    if "error" in r:
        return f"  ({r['program']}) {r['newton']:5s}: ERROR rc={r.get('returncode')}: " \
               f"{r['error'].strip().splitlines()[-1] if r['error'].strip() else ''}"
    if r.get("skipped"):
        return f"  ({r['program']}) {r['newton']:5s}: skipped ({r['skipped']})"
    return (f"  ({r['program']}) {r['newton']:5s}: build {r['build_time']:8.2f}s  solve "
            f"{r['solve_time']:9.2f}s  {r['iterations']:3d} it ({r['time_per_iteration']:.2f} s/it)"
            f"  J={r['J']:.10g}  gap={r['gap']:.2e} (rel {r['rel_gap']:.1e})  {r['status']}"
            f"  peak {r['peak_GiB']:.2f} GiB")


def table(paths: list[str]) -> str:
    """The markdown table of RESULTS.md from the JSONs this script wrote (no solving)."""
    head = ("| case | n | d | m | program | Newton | screening | iterations | wall s | CPU s | "
            "status | J | gap (rel) | peak GiB |\n|---|---:|---:|---:|---|---|---|---:|---:|---:|"
            "---|---:|---:|---:|")
    lines = [head]
    for path in paths:
        rep = json.loads(Path(path).read_text())
        for r in rep["runs"]:
            if r["newton"] == "pyscnn" or r.get("skipped"):
                continue
            cpu = r.get("solve_cpu")
            if "J" in r:
                its, wall, st = str(r["iterations"]), f"{r['solve_time']:.1f}", r["status"]
                J, gap = f"{r['J']:.10g}", f"{r['gap']:.2g} ({r['rel_gap']:.1g})"
                peak = f"{r['peak_GiB']:.2f}"
            elif r.get("partial"):
                its = f"{r['iterations_done']} (stopped)"
                wall = f"{r.get('killed_after', {}).get('wall_s', r['time_done']):.1f}"
                st, J, gap = "stopped by hand", f"{r['f_last']:.10g}", f"{r['gap_last']:.2g}"
                peak = (f"{r['killed_after']['VmHWM_GiB']:.2f}" if "killed_after" in r else "–")
                cpu = r.get("killed_after", {}).get("cpu_s")
            else:
                continue
            lines.append(f"| {rep['case']}{' (' + r['data'] + ')' if r.get('data', 'synthetic') != 'synthetic' else ''} "
                         f"| {r['n']} | {r['d']} | {r['m']} | ({r['program']}) | {r['newton']} | "
                         f"{r.get('screen', 'auto')} | {its} | {wall} | "
                         f"{'–' if cpu is None else f'{cpu:.1f}'} | {st} | {J} | {gap} | {peak} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), help="which case (default with --quick: quick)")
    ap.add_argument("--quick", action="store_true", help="the tiny case (seconds)")
    ap.add_argument("--newton", nargs="+", choices=["dense", "cg"],
                    help="which Newton solvers (default: the case's)")
    ap.add_argument("--programs", nargs="+", choices=["12", "6"],
                    help="which programs (default: the case's)")
    ap.add_argument("--n", type=int, help="rows (default: the case's)")
    ap.add_argument("--m", type=int, help="units (default: the case's)")
    ap.add_argument("--d", type=int, help="inputs (default: the case's; mnist: 784)")
    ap.add_argument("--data", choices=["synthetic", "digits", "rastrigin"], default="synthetic",
                    help="the rows: synthetic (default), upsampled digits (d = 784 only), or the "
                         "instance of bench_solvers.py --scale (rastrigin, a Gaussian network)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per child (default 1)")
    ap.add_argument("--max-iter", type=int, default=None,
                    help="cap the interior point (a representative part: marked partial)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds per solve (solver_options time_limit): the solve stops there "
                         "at a feasible iterate, status time_limit, with its gap")
    ap.add_argument("--screen", choices=["auto", "on", "off"], default="auto",
                    help="the pattern rows' screening (PatternBarrier's screen=; default: its own)")
    ap.add_argument("--precond", default=None,
                    help="the cg path's preconditioner (PatternBarrier's precond=; default its own)")
    ap.add_argument("--pyscnn-tol", type=float, nargs="+", default=[1e-6],
                    help="pyscnn AL's tol = constraint_tol, one run each (pyscnn case)")
    ap.add_argument("--src", default=None,
                    help="import torch_lipcvx from this source tree in the children (default: "
                         "the installed one), e.g. an export of a commit")
    ap.add_argument("--verbose", action="store_true", help="stream the per-iteration log")
    ap.add_argument("--log", default=None, help="also append the children's output to this file")
    ap.add_argument("--note", default="", help="a note stored with the runs (e.g. the load)")
    ap.add_argument("--pyscnn-python", default="/work/venv_pyscnn/bin/python",
                    help="the Python of the venv that has pyscnn (pyscnn case)")
    ap.add_argument("--out", default=None,
                    help="JSON to write (default benchmarks/results/bench_scale_<case>.json; "
                         "--quick: none unless given)")
    ap.add_argument("--partial-from-log", metavar="LOG",
                    help="record the run of --case/--newton/--programs whose per-iteration log "
                         "(--log) this is, stopped before its end, as a partial run")
    ap.add_argument("--table", nargs="+", metavar="JSON",
                    help="print the markdown table of these result files (no solving)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        rec = pyscnn_child(spec) if spec.get("newton") == "pyscnn" else solver_child(spec)
        print("@@RESULT " + json.dumps(rec), flush=True)
        return 0

    if args.table:
        print(table(args.table))
        return 0
    case = args.case or ("quick" if args.quick else None)
    if case is None:
        ap.error("give --case NAME or --quick")
    cfg = dict(CASES[case])
    for key in ("n", "m", "d"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device here")
    programs = args.programs or cfg["programs"]
    newtons = args.newton or cfg["newton"]
    if args.data == "digits" and cfg["d"] != 784:
        ap.error("--data digits has d = 784 (the mnist case)")
    print(f"== bench_scale {case}: n={cfg['n']} d={cfg['d']} m={cfg['m']} on {args.device}, "
          f"{args.threads} thread(s)", flush=True)
    records = []
    for prog in programs:
        for newton in newtons:
            spec = {"n": cfg["n"], "d": cfg["d"], "m": cfg["m"], "program": prog,
                    "newton": newton, "device": args.device, "threads": args.threads,
                    "seed": args.seed, "data": args.data, "max_iter": args.max_iter,
                    "time_limit": args.time_limit,
                    "screen": args.screen, "src": args.src, "pair": case == "pyscnn",
                    "barrier": ({"precond": args.precond} if args.precond and newton == "cg"
                                else {}),
                    "verbose": args.verbose}
            need = dense_gib(cfg["n"], cfg["d"], cfg["m"])
            if args.partial_from_log:
                rec = record_from_log(Path(args.partial_from_log), spec)
            elif newton == "dense" and need > DENSE_LIMIT_GIB:
                rec = {**{k: spec[k] for k in ("n", "d", "m", "program", "newton", "device")},
                       "skipped": f"the dense Newton system needs ~{need:.0f} GiB"}
            else:
                rec = run_child(spec, sys.executable, Path(args.log) if args.log else None, None)
            rec["when"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            rec["note"] = args.note
            rec["code"] = args.src or code_version()
            print(fmt(rec), flush=True)
            records.append(rec)
    versus = []
    if case == "pyscnn":
        py, versus = run_pyscnn(cfg, args, records)
        for r in py:          # the comparison above read the whole trajectory; store ≤ 300 points
            thin_trajectory(r, 300)
        records += py
    summary = summarise(records)
    for s in summary:
        if "no_converged_pair" in s:
            print(f"  ({s['program']}) no dense/cg pair converged: "
                  + "; ".join(s["no_converged_pair"]), flush=True)
            continue
        if s.get("dense_partial"):
            print(f"  ({s['program']}) dense stopped after {s['dense_iterations_done']} it, "
                  f"{s['dense_time_done']:.0f}s: dense / cg solve >= "
                  f"{s['solve_ratio_lower_bound']:.1f}x (a lower bound)", flush=True)
            continue
        print(f"  ({s['program']}) dense / cg: solve {s['solve_ratio']:.1f}x, build + solve "
              f"{s['total_ratio']:.1f}x; J relative difference {s['J_rel_diff']:.1e}", flush=True)
    out = args.out or (None if case == "quick" else
                       str(HERE / "results" / f"bench_scale_{case}.json"))
    if out:
        path = Path(out)
        old = json.loads(path.read_text())["runs"] if path.exists() else []
        def key(r: dict) -> tuple:
            return r["program"], r["newton"], r["device"], r.get("screen", "auto"), r.get("tol")

        keys = {key(r) for r in records}
        kept = [r for r in old if key(r) not in keys]
        runs = kept + records
        import torch
        report = {"case": case, "config": cfg, "lam": LAM, "beta6": BETA6,
                  "machine": {"python": platform.python_version(), "torch": torch.__version__,
                              "cpus": os.cpu_count(), "platform": platform.platform()},
                  "runs": runs, "dense_vs_cg": summarise(runs)}
        if case == "pyscnn":         # computed on this run's whole trajectories
            report["vs_pyscnn"] = versus
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        print(f"wrote {path}")
    return 0 if all("error" not in r for r in records) else 1


def run_pyscnn(cfg: dict, args, ours: list[dict]) -> tuple[list[dict], list[dict]]:
    """The pyscnn runs of the ``pyscnn`` case and the time each solver needs to reach the
    other's objective. Returns ``(records, comparison rows)``.

    Ours: the first interior-point iterate whose objective (an upper bound on J at a feasible
    point: the cone variables τ_j ≥ ‖v_j‖) is at most the target. pyscnn: the first iteration
    whose J (``2 ×`` its model loss, at a point that may violate the pattern constraints by its
    ``constraint_gap``) is at most the target.
    """
    import numpy as np

    X, y, model = make_instance(cfg["n"], cfg["d"], cfg["m"], args.seed)
    w = model.weights()
    inst = Path(f"/tmp/bench_scale_pyscnn_{os.getpid()}.npz")
    np.savez(inst, X=X.numpy(), y=y.numpy(), G=w.W.T.numpy(), G_bias=w.b.numpy())
    recs = []
    try:
        for tol in args.pyscnn_tol:
            spec = {"n": cfg["n"], "d": cfg["d"], "m": cfg["m"], "program": "6",
                    "newton": "pyscnn", "device": "cpu", "threads": args.threads,
                    "instance": str(inst), "beta": BETA6, "tol": tol, "verbose": args.verbose}
            if not Path(args.pyscnn_python).exists():
                rec = {**{k: spec[k] for k in ("n", "d", "m", "program", "newton", "device")},
                       "skipped": f"no pyscnn venv at {args.pyscnn_python}"}
            else:
                rec = run_child(spec, args.pyscnn_python, None, None)
            rec["when"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            if "J" in rec:
                print(f"  (6) pyscnn AL tol={tol:g}: {rec['solve_time']:.2f}s, {rec['iterations']} "
                      f"it, J={rec['J']:.10g} (max constraint violation {rec['max_violation']:.1e}"
                      f", {rec['max_violation_rel']:.1e} relative)", flush=True)
            else:
                print(fmt(rec), flush=True)
            recs.append(rec)
    finally:
        inst.unlink(missing_ok=True)
    return recs, compare_pyscnn([r for r in ours if "J" in r], [r for r in recs if "J" in r])


def thin_trajectory(rec: dict, keep: int) -> None:
    """Keep at most ``keep`` points of ``rec["trajectory"]`` (log-spaced in the iteration, the
    last one always), saying so in the record."""
    traj = rec.get("trajectory") or []
    if len(traj) <= keep:
        return
    idx = sorted({min(len(traj) - 1, int(round(math.expm1(k * math.log(len(traj)) / (keep - 1)))))
                  for k in range(keep)} | {len(traj) - 1})
    rec["trajectory"] = [traj[i] for i in idx]
    rec["trajectory_thinned_from"] = len(traj)


def _first(traj: list[dict], key: str, target: float, gap: float = math.inf) -> Optional[float]:
    """The time of the first point of ``traj`` with ``key`` at most ``target`` (and, for pyscnn,
    a constraint violation ``constraint_gap`` at most ``gap``), or None."""
    for pt in traj:
        if pt[key] <= target and pt.get("constraint_gap", 0.0) <= gap:
            return pt["t"]
    return None


def compare_pyscnn(ours: list[dict], theirs: list[dict], echo: bool = True) -> list[dict]:
    """Time to the other's objective, and ours to 1e-6 relative of the best J of all runs.
    pyscnn's times are given at any point and at points whose constraint violation is within its
    own ``constraint_tol`` (``*_feasible``)."""
    if not ours or not theirs:
        return []
    best = min(r["J"] for r in ours + theirs)
    rows = []
    for a in ours:
        traj_a = [pt for pt in a.get("trajectory", []) if pt["round"] == 1]
        for b in theirs:
            row = {"ours": a["newton"], "pyscnn_tol": b["tol"], "J_ours": a["J"], "J_pyscnn": b["J"],
                   "J_rel_diff": (b["J"] - a["J"]) / abs(a["J"]),
                   "pyscnn_max_violation": b["max_violation"],
                   "time_ours": a["solve_time"], "time_pyscnn": b["solve_time"],
                   "ours_to_pyscnn_J": _first(traj_a, "f", b["J"]),
                   "pyscnn_to_ours_J": _first(b["trajectory"], "J", a["J"] * (1 + 1e-6)),
                   "pyscnn_to_ours_J_feasible": _first(b["trajectory"], "J", a["J"] * (1 + 1e-6),
                                                       b["tol"]),
                   "ours_to_best_1e-6": _first(traj_a, "f", best * (1 + 1e-6)),
                   "pyscnn_to_best_1e-6": _first(b["trajectory"], "J", best * (1 + 1e-6)),
                   "best_J": best}
            # the share of a core each process got (the machine is shared): times × share are
            # CPU seconds, comparable across runs under different loads (assuming an even load)
            sa = a.get("solve_cpu", a["solve_time"]) / a["solve_time"]
            sb = b.get("solve_cpu", 1.0) / b.get("wall_time_inner", 1.0)
            row["cpu_share_ours"], row["cpu_share_pyscnn"] = sa, sb
            for k in ("ours_to_pyscnn_J", "ours_to_best_1e-6", "time_ours"):
                row[k + "_cpu"] = None if row[k] is None else row[k] * sa
            for k in ("pyscnn_to_ours_J", "pyscnn_to_ours_J_feasible", "pyscnn_to_best_1e-6",
                      "time_pyscnn"):
                row[k + "_cpu"] = None if row[k] is None else row[k] * sb
            rows.append(row)
            if not echo:
                continue
            f = (lambda v: "never" if v is None else f"{v:.2f}s")
            print(f"  ours ({a['newton']}) vs pyscnn (tol {b['tol']:g}): J {a['J']:.10g} vs "
                  f"{b['J']:.10g}; ours reaches pyscnn's J in {f(row['ours_to_pyscnn_J'])} "
                  f"(total {a['solve_time']:.2f}s), pyscnn reaches ours in "
                  f"{f(row['pyscnn_to_ours_J'])}, within its constraint tolerance in "
                  f"{f(row['pyscnn_to_ours_J_feasible'])} (total {b['solve_time']:.2f}s); in CPU "
                  f"seconds {f(row['ours_to_pyscnn_J_cpu'])} vs {f(row['pyscnn_to_ours_J_cpu'])}",
                  flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
