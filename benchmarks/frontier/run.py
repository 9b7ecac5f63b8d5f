"""The frontier benchmark: test error against certified Lipschitz constant, per family (issue 28).

    python benchmarks/frontier/run.py run    [--quick] [--datasets servo ...] [--splits 0 1 ...]
                                             [--families sgd clip_sgd ...] [--grid-subset 0 2]
    python benchmarks/frontier/run.py report [--quick] [--key KEY] [--allow-mixed]
    python benchmarks/frontier/run.py check                 # self-check (deel-torchlip export)

A user choosing a certified-robust regressor wants the lowest test error for the certified
robustness they need. This runner trains every *family* over its λ / β / k grid on every
(data set, split), certifies every final model with the same call
(``torch_lipcvx.lipschitz_bounds(model, norm=2)``, the LipSDP upper bound, docs/lipsdp.md),
and measures clean test MSE and PGD test MSE (ℓ2 and ℓ∞, two ε; docs/attacks.md) and the
family's compute time (wall and CPU, training plus post-processing, dependencies included).

One unit = one trained + certified + attacked model: its record is written atomically to
``results/records/KEY/DATASET/splitSS/FAMILY@VALUE.json`` (with the model beside it as
``.pt``) as soon as it finishes, so a killed run resumes where it stopped. ``KEY`` =
``v<version>-<commit of the package>[-dirty<hash>]-<hash of the configuration>``: records of
other code or other settings are never mixed, and ``report`` refuses to mix package commits
unless ``--allow-mixed``.

Families (``FAMILIES`` below; grids in ``FULL["grids"]``):

* ``sgd``: full-batch Adam with weight decay β (the ℓ2 term of J, docs/conventions.md §3);
* ``deel``: deel-torchlip k-Lipschitz spectral layers (a benchmark-only dependency,
  ``pip install deel-torchlip``; the family is skipped with a message when it is absent);
* ``sgd_lip``: the library's certified-L² penalty (``train_sgd_lip``, docs/lipsdp.md §9);
* ``admm``: the ADMM baseline (docs/admm.md) from the SGD net at β = ``base_beta``;
* ``clip_sgd``: C-lip (``postprocess``, Algorithm 1, docs/algorithm1.md) of that SGD net;
* ``clip_sgdlip``: C-lip of the SGD-lip net at the same λ;
* ``clip_ext``: C-lip with the α-step and pattern re-extraction (``postprocess_extended``,
  docs/algorithm1.md §3) of the ``clip_sgd`` net at the same λ;
* ``fit``: the recommended pipeline ``torch_lipcvx.fit`` (docs/pipeline.md) with its defaults
  but the protocol's epochs and width: SGD-lip on 80% of the training rows, a convex λ-path, λ
  chosen on the other 20% by PGD ℓ2 MSE at ``ε_val`` (``ε_val = 0``: clean MSE), refit on all
  training rows. Its time is the whole call.

Protocol: ``FULL`` below (100 units, float64, the same number of full-batch Adam epochs for
every trained family); ``--quick`` runs the same pipeline at toy sizes in under a minute.

**Classification panel** (``--task classification``, issue 29): the same runner on digits (10
classes, 64 standardised pixels) with the cross-entropy loss (docs/losses.md): ``sgd``,
``deel`` (a spectral-normalised classifier), ``sgd_lip``, ``clip_sgd``, ``clip_sgdlip`` and
``fit`` (λ chosen on held-out PGD robust accuracy at ``ε_val``). ADMM and C-lip+α+re are left
out (they are squared-loss methods). Every model is certified by the same call (LipSDP with
``AAᵀ``, docs/losses.md §2) and scored by clean test accuracy, PGD robust accuracy (ℓ2 and ℓ∞;
the cross-entropy and the margin attack, a point counting as robust only if both fail) and
certified ℓ2 accuracy (margin > √2·L·ε, docs/attacks.md §4). The front is drawn in *error*
(1 − accuracy) against certified L. Configuration ``CLASS_FULL`` (32 units, its own key).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUT = HERE / "results"
DATASETS = ("servo", "machine", "solar", "rastrigin", "wine")


def _load_paper_runner():
    """The paper runner's shared helpers (atomic writes, checkpoints, warning summaries, CPU
    name), imported from ``benchmarks/paper/run.py`` under another module name."""
    spec = importlib.util.spec_from_file_location("_paper_run", HERE.parent / "paper" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_paper_run"] = mod
    spec.loader.exec_module(mod)
    return mod


_paper = _load_paper_runner()
atomic_write_text = _paper.atomic_write_text
atomic_save_model = _paper.atomic_save_model
load_model = _paper.load_model
read_record = _paper.read_record
_summarise_warnings = _paper._summarise_warnings
_jsonable = _paper._jsonable
_cpu_model = _paper._cpu_model
_halving = _paper._halving

# ------------------------------------------------------------------------------ configuration
FULL: dict[str, Any] = {
    "hidden": 100,
    "epochs": 500,                 # every trained family: full-batch Adam, this many epochs
    "lr": 1e-2,
    "base_beta": 1e-3,             # the SGD net that ADMM, C-lip and C-lip+α+re start from
    "grids": {
        "sgd": [1e-4, 1e-3, 1e-2],                 # β
        "deel": [0.5, 1.0, 2.0, 4.0, 8.0],         # k (certified by construction, ≈)
        "sgd_lip": [1e-3, 1e-2, 1e-1],             # λ
        "admm": [1e-3, 1e-2, 1e-1],                # λ
        "clip_sgd": [1e-3, 1e-2, 1e-1, 1.0],       # λ
        "clip_sgdlip": [1e-3, 1e-2, 1e-1],         # λ (from SGD-lip at the same λ)
        "clip_ext": [1e-3, 1e-2, 1e-1],            # λ (from clip_sgd at the same λ)
        "fit": [0.0, 0.1, 0.5],                    # ε of the validation criterion (0: clean)
    },
    "admm": {"penalty": 0.25, "loss_steps": 300, "min_iter": 5, "max_iter": 20, "tol": 1e-3},
    "clip": {"max_iter": 20, "tol": 1e-4},
    "ext": {"max_rounds": 3, "w_max_iter": 20, "tol": 1e-4},
    "eps": [0.1, 0.5],             # PGD radii, standardised input units
    "attack": {"steps": 50, "restarts": 1},
    "bounds": {"n_samples": 2048, "ascent_steps": 100},
    "rastrigin": {"n": 1000, "d": 2},
    "seed": 0,
}

#: the classification panel (``--task classification``): digits, cross-entropy, 32 units
CLASS_FULL: dict[str, Any] = {
    "task": "classification",
    "hidden": 32,
    "epochs": 300,
    "lr": 1e-2,
    "base_beta": 1e-3,
    "grids": {
        "sgd": [1e-4, 1e-3, 1e-2],                 # β
        "deel": [1.0, 2.0, 4.0, 8.0],              # k
        "sgd_lip": [1e-3, 1e-2, 1e-1],             # λ
        "clip_sgd": [1e-3, 1e-2, 1e-1, 1.0],       # λ
        "clip_sgdlip": [1e-3, 1e-2, 1e-1],         # λ
        "fit": [0.0, 0.5, 1.0],                    # ε of the validation criterion (0: clean)
    },
    "clip": {"max_iter": 5, "tol": 1e-4},
    "eps": [0.5, 1.0],             # ℓ2 radii, standardised input units
    "eps_inf": [0.05],             # ℓ∞ radius
    "attack": {"steps": 20, "restarts": 1},
    "bounds": {"n_samples": 512, "ascent_steps": 0},
    "seed": 0,
}
CLASS_QUICK: dict[str, Any] = copy.deepcopy(CLASS_FULL)
CLASS_QUICK.update({
    "hidden": 8, "epochs": 30,
    "grids": {"sgd": [1e-3], "deel": [2.0], "sgd_lip": [1e-2], "clip_sgd": [1e-2],
              "clip_sgdlip": [1e-2], "fit": [0.5]},
    "clip": {"max_iter": 2, "tol": 1e-4},
    "attack": {"steps": 5, "restarts": 1},
    "bounds": {"n_samples": 64, "ascent_steps": 0},
})
CLASS_DATASETS = ("digits",)
CLASS_METRICS: dict[str, str] = {
    "clean": "clean test error (1 − accuracy)",
    "l2_0.5": "PGD ℓ2 ε=0.5 test error", "l2_1": "PGD ℓ2 ε=1 test error",
    "cert_l2_0.5": "certified ℓ2 ε=0.5 test error", "cert_l2_1": "certified ℓ2 ε=1 test error",
    "linf_0.05": "PGD ℓ∞ ε=0.05 test error",
}

QUICK: dict[str, Any] = copy.deepcopy(FULL)
QUICK.update({
    "hidden": 16, "epochs": 60,
    "grids": {"sgd": [1e-3], "deel": [1.0], "sgd_lip": [1e-2], "admm": [1e-2],
              "clip_sgd": [1e-2], "clip_sgdlip": [1e-2], "clip_ext": [1e-2], "fit": [0.1]},
    "admm": {"penalty": 0.25, "loss_steps": 30, "min_iter": 1, "max_iter": 2, "tol": 1e-3},
    "clip": {"max_iter": 3, "tol": 1e-4},
    "ext": {"max_rounds": 1, "w_max_iter": 3, "tol": 1e-4},
    "attack": {"steps": 10, "restarts": 1},
    "bounds": {"n_samples": 256, "ascent_steps": 20},
    "rastrigin": {"n": 200, "d": 2},
})

#: family -> (label, grid parameter name)
FAMILIES: dict[str, tuple[str, str]] = {
    "sgd": ("SGD+wd", "β"),
    "deel": ("deel-torchlip", "k"),
    "sgd_lip": ("SGD-lip", "λ"),
    "admm": ("ADMM", "λ"),
    "clip_sgd": ("C-lip(SGD)", "λ"),
    "clip_sgdlip": ("C-lip(SGD-lip)", "λ"),
    "clip_ext": ("C-lip+α+re", "λ"),
    "fit": ("fit (pipeline)", "ε_val"),
}

METRICS: dict[str, str] = {
    "clean": "clean test MSE",
    "l2_0.1": "PGD ℓ2 ε=0.1 test MSE", "l2_0.5": "PGD ℓ2 ε=0.5 test MSE",
    "linf_0.1": "PGD ℓ∞ ε=0.1 test MSE", "linf_0.5": "PGD ℓ∞ ε=0.5 test MSE",
}


def say(*args) -> None:
    print(*args, flush=True)


def deel_available() -> bool:
    return importlib.util.find_spec("deel") is not None and \
        importlib.util.find_spec("deel.torchlip") is not None


# ------------------------------------------------------------------------------ provenance
def code_state() -> dict:
    """The library's version, the commit of its package folder and whether it has uncommitted
    changes (with a hash of the diff): what the configuration key ties records to."""
    import torch_lipcvx
    pkg = Path(torch_lipcvx.__file__).resolve().parent
    state = {"version": torch_lipcvx.__version__, "package": str(pkg), "commit": "unknown",
             "dirty": False, "diff_sha": ""}
    try:
        git = ["git", "-C", str(pkg.parent)]
        state["commit"] = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True,
                                         text=True, check=True).stdout.strip()
        diff = subprocess.run(git + ["diff", "HEAD", "--", pkg.name], capture_output=True,
                              text=True, check=True).stdout
        untracked = subprocess.run(git + ["ls-files", "--others", "--exclude-standard", "--",
                                          pkg.name], capture_output=True, text=True,
                                   check=True).stdout
        if diff or untracked:
            state["dirty"] = True
            state["diff_sha"] = hashlib.sha1((diff + untracked).encode()).hexdigest()[:8]
    except (OSError, subprocess.CalledProcessError):
        pass
    return state


def config_hash(cfg: dict) -> str:
    return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]


def config_key(cfg: dict, state: dict) -> str:
    dirty = f"-dirty{state['diff_sha']}" if state["dirty"] else ""
    return f"v{state['version']}-{state['commit'][:10]}{dirty}-{config_hash(cfg)}"


def fmt_value(v: float) -> str:
    return f"{v:g}"


# ------------------------------------------------------------------------------ one split
class Split:
    """One (data set, split): data, seeds, the cache of finished units."""

    def __init__(self, dataset: str, split: int, cfg: dict, key: str, out: Path,
                 state: dict) -> None:
        from torch_lipcvx.data import load_dataset
        self.dataset, self.split, self.cfg, self.key, self.state = dataset, split, cfg, key, state
        self.seed = cfg["seed"] + split
        self.dir = out / "records" / key / dataset / f"split{split:02d}"
        self.cls = cfg.get("task") == "classification"
        if self.cls:
            self.data = load_dataset(dataset, split=split)
        elif dataset == "rastrigin":
            r = cfg["rastrigin"]
            self.data = load_dataset("rastrigin", split=split, seed=cfg["seed"], n=r["n"],
                                     d=r["d"])
        else:
            self.data = load_dataset(dataset, split=split)
        d = self.data
        self.X, self.y, self.Xte, self.yte = d.X_train, d.y_train, d.X_test, d.y_test
        self.models: dict[str, Any] = {}

    def name(self, family: str, value: float) -> str:
        return f"{family}@{fmt_value(value)}"

    def paths(self, unit: str) -> tuple[Path, Path]:
        return self.dir / f"{unit}.json", self.dir / f"{unit}.pt"

    def record(self, unit: str) -> Optional[dict]:
        js, pt = self.paths(unit)
        rec = read_record(js, self.key)
        if rec is None:
            return None
        return rec if (rec.get("status") == "failed" or pt.is_file()) else None

    def model(self, unit: str):
        if unit not in self.models:
            self.models[unit] = load_model(self.paths(unit)[1])
        return self.models[unit]

    def deps(self, family: str, value: float) -> list[tuple[str, float]]:
        base = self.cfg["base_beta"]
        return {"admm": [("sgd", base)], "clip_sgd": [("sgd", base)],
                "clip_sgdlip": [("sgd_lip", value)],
                "clip_ext": [("clip_sgd", value)]}.get(family, [])

    def ensure(self, family: str, value: float) -> Optional[dict]:
        """The record of (family, value), computing it (and its dependencies) if missing;
        ``None`` if it failed or cannot run here."""
        unit = self.name(family, value)
        rec = self.record(unit)
        if rec is not None:
            return rec if rec.get("status") == "ok" else None
        if family == "deel" and not deel_available():
            say(f"[{self.dataset} split {self.split}] {unit}: skipped, deel-torchlip is not "
                "installed (pip install deel-torchlip; a benchmark-only dependency)")
            return None
        dep_time = {"wall_s": 0.0, "cpu_s": 0.0}
        for dfam, dval in self.deps(family, value):
            drec = self.ensure(dfam, dval)
            if drec is None:
                return self._fail(unit, family, value, f"dependency {self.name(dfam, dval)} "
                                  "failed or was skipped")
            dep_time["wall_s"] += drec["time"]["total_wall_s"]
            dep_time["cpu_s"] += drec["time"]["total_cpu_s"]
        torch.manual_seed(self.seed)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model, info = RUNNERS[family](self, value)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                tic = time.perf_counter()
                rec = self.evaluate(model)
            except (RuntimeError, ValueError, FloatingPointError) as exc:
                return self._fail(unit, family, value, f"{type(exc).__name__}: {exc}")
        rec.update({
            "dataset": self.dataset, "split": self.split, "family": family,
            "label": FAMILIES[family][0], "param": FAMILIES[family][1], "value": value,
            "status": "ok", "config_key": self.key, "code": self.state, "seed": self.seed,
            "depends_on": [self.name(f, v) for f, v in self.deps(family, value)],
            "time": {"wall_s": wall, "cpu_s": cpu, "total_wall_s": wall + dep_time["wall_s"],
                     "total_cpu_s": cpu + dep_time["cpu_s"],
                     "eval_wall_s": time.perf_counter() - tic},
            "info": info, "warnings": _summarise_warnings(caught),
            "runtime": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                        "cpu": _cpu_model()},
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        js, pt = self.paths(unit)
        atomic_save_model(pt, model)
        atomic_write_text(js, json.dumps(rec, indent=1, default=_jsonable))
        self.models[unit] = model
        first = f"l2_{self.cfg['eps'][0]:g}"
        what = "test error" if self.cls else "test MSE"
        say(f"[{self.dataset} split {self.split}] {unit:22s} {wall:7.1f} s (total "
            f"{rec['time']['total_wall_s']:.1f} s, eval {rec['time']['eval_wall_s']:.1f} s)  "
            f"L={rec['L_cert']:.4g}  {what}={rec['mse_test']:.4g}  "
            f"PGD {first}: {rec['adv'][first]:.4g}")
        return rec

    def _fail(self, unit: str, family: str, value: float, error: str) -> None:
        rec = {"dataset": self.dataset, "split": self.split, "family": family, "value": value,
               "status": "failed", "error": error, "config_key": self.key, "code": self.state,
               "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        atomic_write_text(self.paths(unit)[0], json.dumps(rec, indent=1))
        say(f"[{self.dataset} split {self.split}] {unit}: FAILED: {error}")
        return None

    @property
    def extra(self) -> dict:
        """The keyword arguments of a classifier's training and post-processing."""
        return ({"loss": "cross_entropy", "out_features": self.data.num_classes} if self.cls
                else {})

    @property
    def loss(self) -> dict:
        return {"loss": "cross_entropy"} if self.cls else {}

    def evaluate_classifier(self, model) -> dict:
        """Certified L (ℓ2, LipSDP with AAᵀ), clean / PGD robust / certified test accuracy."""
        from torch_lipcvx import lipschitz_bounds
        from torch_lipcvx.metrics import accuracy, accuracy_curve
        cfg = self.cfg
        model = model.to(torch.float64)
        iv = lipschitz_bounds(model, norm=2, X=self.X, seed=self.seed,
                              n_samples=cfg["bounds"]["n_samples"],
                              ascent_steps=max(cfg["bounds"]["ascent_steps"], 1))
        acc = {"train": float(accuracy(model, self.X, self.y))}
        seed = 10_000 + self.seed
        for r in accuracy_curve(model, self.Xte, self.yte, cfg["eps"], lipschitz=iv.upper,
                                norm=2, steps=cfg["attack"]["steps"],
                                restarts=cfg["attack"]["restarts"], seed=seed):
            acc["clean"] = r["clean_acc"]
            acc[f"l2_{r['eps']:g}"] = r["robust_acc"]
            acc[f"cert_l2_{r['eps']:g}"] = r["certified_acc"]
        # ℓ∞: PGD only (the ℓ∞ certificate of a 64-input network is the LP, not run here)
        for r in accuracy_curve(model, self.Xte, self.yte, cfg["eps_inf"], lipschitz=None,
                                norm=math.inf, steps=cfg["attack"]["steps"],
                                restarts=cfg["attack"]["restarts"], seed=seed):
            acc[f"linf_{r['eps']:g}"] = r["robust_acc"]
        return {"L_cert": float(iv.upper), "L_lower": float(iv.lower),
                "L_method": iv.upper_method, "acc": acc, "units": int(model.m),
                "mse_test": 1.0 - acc["clean"],
                "adv": {k: 1.0 - v for k, v in acc.items() if k not in ("clean", "train")},
                "active_units": int((model.output.weight != 0).any(dim=0).sum())}

    def evaluate(self, model) -> dict:
        """The same certificate and attacks for every family."""
        from torch_lipcvx import lipschitz_bounds, pgd_attack
        if self.cls:
            return self.evaluate_classifier(model)
        cfg = self.cfg
        model = model.to(torch.float64)
        iv = lipschitz_bounds(model, norm=2, X=self.X, seed=self.seed,
                              n_samples=cfg["bounds"]["n_samples"],
                              ascent_steps=cfg["bounds"]["ascent_steps"])
        with torch.no_grad():
            mse_test = float(((model(self.Xte).reshape(-1) - self.yte.reshape(-1)) ** 2).mean())
            mse_train = float(((model(self.X).reshape(-1) - self.y.reshape(-1)) ** 2).mean())
        adv = {}
        for norm, tag in ((2, "l2"), ("inf", "linf")):
            for eps in cfg["eps"]:
                g = torch.Generator().manual_seed(10_000 + self.seed)
                res = pgd_attack(model, self.Xte, self.yte, float(eps), norm,
                                 steps=cfg["attack"]["steps"],
                                 restarts=cfg["attack"]["restarts"], generator=g)
                adv[f"{tag}_{eps:g}"] = float(res.mse)
        return {"L_cert": float(iv.upper), "L_lower": float(iv.lower),
                "L_method": iv.upper_method, "mse_test": mse_test, "mse_train": mse_train,
                "adv": adv, "units": int(model.m),
                "active_units": int((model.output.weight != 0).sum())}


# ------------------------------------------------------------------------------ the families
def _run_sgd(sp: Split, beta: float):
    from torch_lipcvx.train import train_sgd
    c = sp.cfg
    res = train_sgd(None, sp.X, sp.y, hidden=c["hidden"], beta=beta, epochs=c["epochs"],
                    lr=c["lr"], seed=sp.seed, **sp.extra)
    return res.model, {"final_loss": res.history[-1]["loss"]}


def deel_network(d: int, hidden: int, k: float, out: int = 1):
    """A two-layer deel-torchlip network with Lipschitz constant ≤ k (ℓ2).

    deel-torchlip 1.0.5's ``Sequential(..., k_coef_lip=k)`` leaves each ``SpectralLinear`` at
    the k it was built with (1), so k is split over the two layers: k^(1/2) each."""
    from deel import torchlip
    per_layer = k ** 0.5
    return torchlip.Sequential(
        torchlip.SpectralLinear(d, hidden, k_coef_lip=per_layer),
        torch.nn.ReLU(),
        torchlip.SpectralLinear(hidden, out, k_coef_lip=per_layer),
    )


def deel_export(net):
    """The trained deel-torchlip net as a float64 ``ShallowReLU`` (``vanilla_export``)."""
    from torch_lipcvx import ShallowReLU
    return ShallowReLU.from_sequential(net.vanilla_export()).to(torch.float64)


def _run_deel(sp: Split, k: float):
    c = sp.cfg
    torch.manual_seed(sp.seed)
    out = sp.data.num_classes if sp.cls else 1
    net = deel_network(sp.X.shape[1], c["hidden"], k, out).to(torch.float64)
    opt = torch.optim.Adam(net.parameters(), lr=c["lr"])
    y = sp.y if sp.cls else sp.y.reshape(-1, 1)
    loss = torch.tensor(float("nan"))
    for _ in range(c["epochs"]):
        opt.zero_grad()
        loss = (torch.nn.functional.cross_entropy(net(sp.X), y) if sp.cls
                else ((net(sp.X) - y) ** 2).mean())
        loss.backward()
        opt.step()
    net.eval()
    return deel_export(net), {"final_loss": float(loss), "k_per_layer": k ** 0.5}


def _run_sgd_lip(sp: Split, lam: float):
    from torch_lipcvx.train import train_sgd_lip
    c = sp.cfg
    res = train_sgd_lip(None, sp.X, sp.y, lam=lam, hidden=c["hidden"], epochs=c["epochs"],
                        lr=c["lr"], seed=sp.seed, **sp.extra)
    return res.model, {"final_loss": res.history[-1]["loss"]}


def _run_admm(sp: Split, lam: float):
    from torch_lipcvx.admm import ADMM
    c = sp.cfg["admm"]
    res = ADMM(sp.model(sp.name("sgd", sp.cfg["base_beta"])), sp.X, sp.y, lam=lam, beta=0.0,
               penalty=c["penalty"], loss_steps=c["loss_steps"], lr=sp.cfg["lr"],
               min_iter=c["min_iter"], max_iter=c["max_iter"], tol=c["tol"], select="last",
               solver="auto", seed=sp.seed).run()
    return res.model, {"iterations": len(res.history) - 1, "message": res.message}


def _clip(sp: Split, base_unit: str, lam: float):
    from torch_lipcvx import postprocess
    c = sp.cfg["clip"]
    r, note = _halving(lambda k: postprocess(sp.model(base_unit), sp.X, sp.y, lam=lam,
                                             max_iter=k, tol=c["tol"], **sp.loss),
                       c["max_iter"])
    return r.model, {"J_before": r.objective_before, "J_after": r.objective_after,
                     "iterations": len(r.history) - 1, "message": r.message, **note}


def _run_clip_ext(sp: Split, lam: float):
    from torch_lipcvx.algorithm1.extensions import postprocess_extended
    c = sp.cfg["ext"]
    r = postprocess_extended(sp.model(sp.name("clip_sgd", lam)), sp.X, sp.y, lam=lam,
                             alpha_step=True, reextract=True, max_rounds=c["max_rounds"],
                             w_max_iter=c["w_max_iter"], tol=c["tol"])
    return r.model, {"J_before": r.objective_before, "J_after": r.objective_after,
                     "message": r.message}


def _run_fit(sp: Split, eps: float):
    from torch_lipcvx import fit
    c = sp.cfg
    res = fit(sp.X, sp.y, criterion="clean" if eps == 0 else "adversarial", eps=eps, norm=2,
              hidden=c["hidden"], epochs=c["epochs"], lr=c["lr"], seed=sp.seed, progress=False,
              **sp.loss)
    s = res.summary()
    scores = {k: s[k] for k in ("val_mse", "val_adv_mse", "val_acc", "val_robust_acc",
                                "val_cert_acc") if k in s}
    return res.model, {"lam": res.lam, "chosen_from": s["chosen_from"], **scores,
                       "stage_times": res.times, "settings": res.settings}


RUNNERS: dict[str, Callable[[Split, float], tuple]] = {
    "sgd": _run_sgd,
    "deel": _run_deel,
    "sgd_lip": _run_sgd_lip,
    "admm": _run_admm,
    "clip_sgd": lambda sp, v: _clip(sp, sp.name("sgd", sp.cfg["base_beta"]), v),
    "clip_sgdlip": lambda sp, v: _clip(sp, sp.name("sgd_lip", v), v),
    "clip_ext": _run_clip_ext,
    "fit": _run_fit,
}


# ------------------------------------------------------------------------------ run
def _config(args) -> dict:
    if getattr(args, "task", "regression") == "classification":
        _use_classification()
        return copy.deepcopy(CLASS_QUICK if args.quick else CLASS_FULL)
    return copy.deepcopy(QUICK if args.quick else FULL)


def _use_classification() -> None:
    """The report's tables, metrics and families for the classification panel."""
    global METRICS, FIT_METRIC, DATASETS
    METRICS = CLASS_METRICS
    FIT_METRIC = {0.0: "clean", 0.5: "l2_0.5", 1.0: "l2_1"}
    DATASETS = CLASS_DATASETS
    for fam in ("admm", "clip_ext"):
        FAMILIES.pop(fam, None)


def cmd_run(args) -> int:
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    cfg = _config(args)
    state = code_state()
    key = config_key(cfg, state)
    out = Path(args.out)
    if state["dirty"]:
        say(f"note: the package at {state['package']} has uncommitted changes; the records go "
            f"under a -dirty key ({key})")
    (out / "records" / key).mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "records" / key / "config.json",
                      json.dumps({"config": cfg, "code": state, "key": key}, indent=1))
    families = args.families or [f for f in FAMILIES if f in cfg["grids"]]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise SystemExit(f"--families: unknown {unknown}; known: {list(FAMILIES)}")
    if "deel" in families and not deel_available():
        say("note: deel-torchlip is not installed; the deel family is skipped "
            "(pip install deel-torchlip, a benchmark-only dependency)")
    datasets = args.datasets or (["servo"] if args.quick and not cfg.get("task")
                                 else list(DATASETS))
    splits = args.splits if args.splits is not None else ([0] if args.quick else list(range(5)))
    say(f"key {key}: {datasets} × splits {splits} × {families}")
    tic = time.perf_counter()
    # grid position outermost: a run stopped early has every split at the first positions
    n_grid = max(len(g) for g in cfg["grids"].values())
    families = [f for f in families if f in cfg["grids"]]
    positions = args.grid_subset if args.grid_subset is not None else list(range(n_grid))
    for ds in datasets:
        cache = {s: Split(ds, s, cfg, key, out, state) for s in splits}
        for i in positions:
            for s in splits:
                for fam in families:
                    if i < len(cfg["grids"][fam]):
                        cache[s].ensure(fam, cfg["grids"][fam][i])
    say(f"run finished in {time.perf_counter() - tic:.1f} s; records under "
        f"{out / 'records' / key}")
    if not args.no_report:
        args.key = [key]
        return cmd_report(args)
    return 0


# ------------------------------------------------------------------------------ report
def load_records(out: Path, keys: list[str]) -> tuple[list[dict], int]:
    """The finished records of ``keys``; a unit (data set, split, family, value) found under
    several keys is taken from the LAST key that has it (the others are counted as superseded).
    Returns ``(records, number superseded)``."""
    units: dict[tuple, dict] = {}
    superseded = 0
    for key in keys:
        for js in sorted((out / "records" / key).glob("*/split*/*@*.json")):
            try:
                rec = json.loads(js.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if rec.get("config_key") == key and rec.get("status") == "ok":
                unit = (rec["dataset"], rec["split"], rec["family"], rec["value"])
                superseded += unit in units
                units[unit] = rec
    return list(units.values()), superseded


def metric_value(rec: dict, metric: str) -> float:
    return rec["mse_test"] if metric == "clean" else rec["adv"][metric]


def aggregate(recs: list[dict], metric: str) -> list[dict]:
    """One point per (family, grid value): median and split range of certified L and error."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in recs:
        groups.setdefault((r["family"], r["value"]), []).append(r)
    points = []
    for (fam, v), rs in groups.items():
        L = [r["L_cert"] for r in rs]
        e = [metric_value(r, metric) for r in rs]
        t = [r["time"]["total_wall_s"] for r in rs]
        points.append({"family": fam, "value": v, "n": len(rs),
                       "L_med": statistics.median(L), "L_lo": min(L), "L_hi": max(L),
                       "e_med": statistics.median(e), "e_lo": min(e), "e_hi": max(e),
                       "t_med": statistics.median(t),
                       "by_split": {r["split"]: (r["L_cert"], metric_value(r, metric))
                                    for r in rs}})
    order = list(FAMILIES)
    points.sort(key=lambda p: (order.index(p["family"]), p["value"]))
    return points


def pareto(points: list[dict]) -> list[dict]:
    """The points whose medians no other point beats in both L and error (one strictly)."""
    front = []
    for p in points:
        if not any(q is not p and q["L_med"] <= p["L_med"] and q["e_med"] <= p["e_med"]
                   and (q["L_med"] < p["L_med"] or q["e_med"] < p["e_med"]) for q in points):
            front.append(p)
    return sorted(front, key=lambda p: p["L_med"])


def dominated_beyond_noise(p: dict, points: list[dict]) -> Optional[dict]:
    """A point of another family that dominates ``p`` beyond split-to-split variation, or None.

    q dominates p beyond variation when q's certified L is no larger on every split
    (q.L_hi ≤ p.L_lo) and q's error is lower on every split (q.e_hi < p.e_lo): the split
    ranges do not overlap in error, and q is not less certified on any split."""
    best = None
    for q in points:
        if q["family"] == p["family"]:
            continue
        if q["L_hi"] <= p["L_lo"] and q["e_hi"] < p["e_lo"]:
            if best is None or q["e_med"] < best["e_med"]:
                best = q
    return best


def dominated_paired(p: dict, points: list[dict]) -> Optional[dict]:
    """A point of another family that beats ``p`` on every split they share (at least two):
    certified L no larger and error lower on each split (the split effect cancels), or None."""
    best = None
    for q in points:
        if q["family"] == p["family"]:
            continue
        common = sorted(set(p["by_split"]) & set(q["by_split"]))
        if len(common) < 2:
            continue
        if all(q["by_split"][s][0] <= p["by_split"][s][0]
               and q["by_split"][s][1] < p["by_split"][s][1] for s in common):
            if best is None or q["e_med"] < best["e_med"]:
                best = q
    return best


def _lbl(p: dict) -> str:
    return f"{FAMILIES[p['family']][0]} {FAMILIES[p['family']][1]}={fmt_value(p['value'])}"


#: the metric each ``fit`` point is judged on first: its own validation criterion
FIT_METRIC = {0.0: "clean", 0.1: "l2_0.1", 0.5: "l2_0.5"}


def fit_status(p: dict, pts: list[dict]) -> str:
    """Where one ``fit`` point stands against the OTHER families' points: on their median front
    (no point of another family has medians at least as good in both L and error, one better),
    not dominated beyond split variation, or dominated (beyond split variation, or on every
    shared split) by whom. The other ``fit`` points (other ε_val) are left out: they are the
    same method asked a different question."""
    others = [q for q in pts if q["family"] != p["family"]] + [p]
    dom, pair = dominated_beyond_noise(p, others), dominated_paired(p, others)
    if dom:
        return f"dominated beyond split variation by {_lbl(dom)}"
    if pair:
        return f"beaten on every split by {_lbl(pair)} (within split variation)"
    return ("on the median front" if p in pareto(others)
            else "not dominated (within split variation)")


def fit_summary(ds: str, recs: list[dict]) -> Optional[dict]:
    """For the report's goal table: the status of each ``fit`` point on its own metric (and on
    every metric), and its cost against SGD-lip's (median wall seconds per unit)."""
    if not any(r["family"] == "fit" for r in recs):
        return None
    out = {"status": {}, "all": {}}
    for metric in METRICS:
        pts = aggregate(recs, metric)
        for p in pts:
            if p["family"] == "fit":
                out["all"][(p["value"], metric)] = fit_status(p, pts)
                if FIT_METRIC.get(p["value"]) == metric:
                    out["status"][metric] = (p, out["all"][(p["value"], metric)])
    t_fit = [r["time"]["total_wall_s"] for r in recs if r["family"] == "fit"]
    t_lip = [r["time"]["total_wall_s"] for r in recs if r["family"] == "sgd_lip"]
    c_fit = [r["time"]["total_cpu_s"] for r in recs if r["family"] == "fit"]
    c_lip = [r["time"]["total_cpu_s"] for r in recs if r["family"] == "sgd_lip"]
    out["t_fit"] = statistics.median(t_fit)
    out["t_lip"] = statistics.median(t_lip) if t_lip else float("nan")
    out["c_fit"] = statistics.median(c_fit)
    out["c_lip"] = statistics.median(c_lip) if c_lip else float("nan")
    return out


def report_dataset(ds: str, recs: list[dict], outdir: Path) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lines = [f"## {ds}", ""]
    splits = sorted({r["split"] for r in recs})
    lines.append(f"Splits: {splits} ({len(recs)} units).")
    lines.append("")
    verdict = [f"### Verdict: {ds}", ""]
    for metric, mname in METRICS.items():
        pts = aggregate(recs, metric)
        front = pareto(pts)
        lines += [f"### {ds}: {mname} against certified L (median [min, max] over splits)", "",
                  "| family | grid | n | certified L | error | wall s (total) | front | "
                  "dominated beyond split variation by | beaten on every split by |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for p in pts:
            dom = dominated_beyond_noise(p, pts)
            pair = dominated_paired(p, pts)
            lines.append(
                f"| {FAMILIES[p['family']][0]} | {FAMILIES[p['family']][1]}="
                f"{fmt_value(p['value'])} | {p['n']} | {p['L_med']:.3g} [{p['L_lo']:.3g}, "
                f"{p['L_hi']:.3g}] | {p['e_med']:.4g} [{p['e_lo']:.4g}, {p['e_hi']:.4g}] | "
                f"{p['t_med']:.1f} | {'✓' if p in front else ''} | "
                f"{_lbl(dom) if dom else ''} | {_lbl(pair) if pair else ''} |")
        lines.append("")
        # verdict
        on_front: dict[str, list[dict]] = {}
        for p in front:
            on_front.setdefault(p["family"], []).append(p)
        parts = []
        for fam, ps in on_front.items():
            lo, hi = min(p["L_med"] for p in ps), max(p["L_med"] for p in ps)
            where = f"{lo:.3g}" if len(ps) == 1 else f"{lo:.3g}–{hi:.3g}"
            parts.append(f"{FAMILIES[fam][0]} (L {where}: "
                         + ", ".join(f"{FAMILIES[fam][1]}={fmt_value(p['value'])}" for p in ps)
                         + ")")
        fams = sorted({p["family"] for p in pts}, key=list(FAMILIES).index)
        robust, paired = [], []
        for fam in fams:
            fp = [p for p in pts if p["family"] == fam]
            nd = [p for p in fp if dominated_beyond_noise(p, pts) is None]
            npd = [p for p in fp if dominated_paired(p, pts) is None]
            robust.append(f"{FAMILIES[fam][0]} {len(nd)}/{len(fp)}")
            paired.append(f"{FAMILIES[fam][0]} {len(npd)}/{len(fp)}")
        verdict.append(f"- **{mname}**: on the median front: " + "; ".join(parts)
                       + ". Points not dominated beyond split variation: " + ", ".join(robust)
                       + ". Points not beaten on every split by another family: "
                       + ", ".join(paired) + ".")
        # plot
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        markers = "osD^vP*X"
        for i, fam in enumerate(fams):
            fp = sorted((p for p in pts if p["family"] == fam), key=lambda p: p["L_med"])
            x = [p["L_med"] for p in fp]
            y = [p["e_med"] for p in fp]
            xerr = [[p["L_med"] - p["L_lo"] for p in fp], [p["L_hi"] - p["L_med"] for p in fp]]
            yerr = [[p["e_med"] - p["e_lo"] for p in fp], [p["e_hi"] - p["e_med"] for p in fp]]
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker=markers[i % len(markers)],
                        capsize=2, lw=1, label=FAMILIES[fam][0])
        fx = [p["L_med"] for p in front]
        fy = [p["e_med"] for p in front]
        ax.step(fx, fy, where="post", color="k", lw=2, alpha=0.35, label="median front")
        ax.set_xscale("log")
        ax.set_xlabel("certified Lipschitz constant L (LipSDP, ℓ2)")
        ax.set_ylabel(mname)
        ax.set_title(f"{ds}: {mname} (median, split range; {len(splits)} split(s))")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(outdir / f"front_{ds}_{metric}.png", dpi=110)
        plt.close(fig)
        lines.append(f"![{ds} {metric}](front_{ds}_{metric}.png)")
        lines.append("")
    return "\n".join(verdict + [""] + lines)


def cmd_report(args) -> int:
    cfg = _config(args)
    out = Path(args.out)
    root = out / "records"
    if getattr(args, "key", None):
        keys = list(args.key)
    else:                                   # every key of the current configuration
        h = config_hash(cfg)
        keys = sorted(p.name for p in root.glob(f"*-{h}") if p.is_dir())
    if not keys:
        raise SystemExit(f"no records of this configuration under {root} (run `run` first, "
                         "or pass --key)")
    commits = {k.rsplit("-", 1)[0] for k in keys}
    if len(commits) > 1 and not args.allow_mixed:
        raise SystemExit("records of several package commits were found: "
                         + ", ".join(keys) + "; pass --key KEY for one, or --allow-mixed")
    recs, superseded = load_records(out, keys)
    if not recs:
        raise SystemExit(f"no finished records under {[str(root / k) for k in keys]}")
    outdir = out / (("class_" if cfg.get("task") else "") + ("report_quick" if args.quick
                                                              else "report"))
    outdir.mkdir(parents=True, exist_ok=True)
    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in recs)]
    cost = {}
    for r in recs:
        cost.setdefault((r["dataset"], r["family"]), []).append((r["time"]["wall_s"], r["time"]["cpu_s"],
                                                 r["time"]["eval_wall_s"]))
    body = ["# Frontier benchmark: generated report", "",
            f"Configuration key(s): {', '.join('`' + k + '`' for k in keys)}"
            + (f" (a unit under several keys is taken from the last; {superseded} superseded "
               "records left out)" if len(keys) > 1 else "") + ". "
            + "Records per key and family: " + "; ".join(
                f"`{k.split('-')[1]}`: " + ", ".join(sorted({FAMILIES[r['family']][0] for r in recs
                                                         if r['config_key'] == k}))
                for k in keys) + ". "
            f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by "
            "`python benchmarks/frontier/run.py report`; do not edit by hand.", "",
            "Every model certified by `lipschitz_bounds(model, norm=2)` (LipSDP upper bound). "
            + ("Errors are test errors (1 − accuracy: clean, PGD robust — the cross-entropy "
               "and the margin attack — and certified from the margin, docs/attacks.md §4); "
               if cfg.get("task") else "Errors are test MSEs in standardised target units; ")
            + "PGD ε in standardised input "
            "units. Points are (family, grid value): median over splits, with the split range.",
            "", "**On the median front**: no other point has a median certified L and a median "
            "error both no larger (one smaller). **Dominated beyond split variation**: some "
            "point of another family has a certified L no larger on every split (its largest "
            "≤ this one's smallest) and an error lower on every split (its largest < this one's "
            "smallest); the verdict counts the points of each family that are *not* so "
            "dominated. **Beaten on every split** (paired, so the split's own difficulty "
            "cancels): some point of another family has, on each of at least two shared splits, "
            "a certified L no larger and a test error lower.", "",
            "## Cost per unit (own training/post-processing, excluding dependencies and "
            "evaluation; median over units, seconds)", "",
            "| data set | family | units | wall s | CPU s | evaluation wall s |",
            "|---|---|---|---|---|---|"]
    for ds, fam in [(d, f) for d in datasets for f in FAMILIES]:
        if (ds, fam) in cost:
            c = cost[(ds, fam)]
            body.append(f"| {ds} | {FAMILIES[fam][0]} | {len(c)} | "
                        f"{statistics.median(x[0] for x in c):.1f} | "
                        f"{statistics.median(x[1] for x in c):.1f} | "
                        f"{statistics.median(x[2] for x in c):.1f} |")
    body.append("")
    goal = [(ds, fit_summary(ds, [r for r in recs if r["dataset"] == ds])) for ds in datasets]
    if any(g for _, g in goal):
        fit_metrics = list(FIT_METRIC.values())
        body += ["## The pipeline (`torch_lipcvx.fit`) against every other point", "",
                 "Each `fit` point is judged on the metric its λ was chosen by ("
                 + "; ".join(f"ε_val = {fmt_value(v)}: {METRICS[m]}" for v, m in FIT_METRIC.items())
                 + "), against the points of every other family "
                 "(on the median front: none of them has medians at least as good in both "
                 "certified L and error). Cost: median wall seconds of the whole "
                 "`fit` call over its units, and its ratio to SGD-lip's median (one SGD-lip "
                 "training at one λ); the same for CPU seconds (less sensitive to other "
                 "jobs on the machine).", "",
                 "| data set | " + " | ".join(f"{METRICS[m]} (ε_val={fmt_value(v)})"
                                              for v, m in FIT_METRIC.items())
                 + " | fit wall s | SGD-lip wall s | ratio | CPU ratio |",
                 "|---|---|---|---|---|---|---|---|"]
        for ds, g in goal:
            if not g:
                continue
            cells = []
            for metric in fit_metrics:
                if metric in g["status"]:
                    p, st = g["status"][metric]
                    cells.append(f"{st}; L {p['L_med']:.3g}, error {p['e_med']:.4g}")
                else:
                    cells.append("not run")
            body.append(f"| {ds} | " + " | ".join(cells) + f" | {g['t_fit']:.1f} | "
                        f"{g['t_lip']:.1f} | {g['t_fit'] / g['t_lip']:.2f} | "
                        f"{g['c_fit'] / g['c_lip']:.2f} |")
        short = {"on the median front": "**front**",
                 "not dominated (within split variation)": "not dominated"}
        compact = ["| data set | " + " | ".join(METRICS[m] for m in fit_metrics)
                   + " | CPU time vs SGD-lip |", "|---|---|---|---|---|"]
        for ds, g in goal:
            if not g:
                continue
            cells = []
            for metric in fit_metrics:
                if metric not in g["status"]:
                    cells.append("not run")
                    continue
                p, st = g["status"][metric]
                st = short.get(st, st.replace("dominated beyond split variation by",
                                              "dominated by")
                               .replace(" (within split variation)", ", within split variation"))
                cells.append(f"{st} (L {p['L_med']:.2g}, {p['e_med']:.3g})")
            compact.append(f"| {ds} | " + " | ".join(cells) + f" | {g['c_fit'] / g['c_lip']:.1f}× |")
        atomic_write_text(outdir / "pipeline_summary.md", "\n".join(compact) + "\n")
        body += ["", "Every `fit` point on every metric:", ""]
        for ds, g in goal:
            if g:
                for (v, metric), st in sorted(g["all"].items()):
                    body.append(f"- {ds}, ε_val={fmt_value(v)}, {METRICS[metric]}: {st}")
        body.append("")
    for ds in datasets:
        body.append(report_dataset(ds, [r for r in recs if r["dataset"] == ds], outdir))
    atomic_write_text(outdir / "REPORT.md", "\n".join(body) + "\n")
    say(f"report: {outdir / 'REPORT.md'} ({len(recs)} records, {len(datasets)} data set(s))")
    return 0


# ------------------------------------------------------------------------------ self-check
def cmd_check(args) -> int:
    """deel-torchlip's exported network is certified at most k (property check)."""
    if not deel_available():
        say("deel-torchlip is not installed: nothing to check (pip install deel-torchlip)")
        return 0
    from torch_lipcvx import lipschitz_bounds
    torch.set_default_dtype(torch.float64)
    ok = True
    for seed, (d, m, k) in enumerate([(2, 20, 0.5), (4, 30, 1.0), (8, 50, 4.0)]):
        torch.manual_seed(seed)
        net = deel_network(d, m, k).to(torch.float64)
        X = torch.randn(64, d)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(30):           # move the weights: the bound must hold after training
            opt.zero_grad()
            (net(X).pow(2).mean() - net(X).abs().mean()).backward()
            opt.step()
        net.eval()
        model = deel_export(net)
        L = lipschitz_bounds(model, norm=2).upper
        with torch.no_grad():
            same = torch.allclose(model(X).reshape(-1), net(X).reshape(-1), atol=1e-8)
        # spectral normalisation is by power iteration (eps 1e-3): allow 1% per layer
        good = same and L <= k * 1.01 ** 2
        ok &= good
        say(f"deel-torchlip d={d} m={m} k={k}: export matches={same}, certified L={L:.4f} "
            f"{'<=' if good else 'NOT <='} k(1.01)^2={k * 1.0201:.4f}")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "report", "check"):
        p = sub.add_parser(name)
        p.add_argument("--quick", action="store_true", help="toy sizes (< 60 s)")
        p.add_argument("--out", default=str(DEFAULT_OUT))
        p.add_argument("--task", choices=("regression", "classification"), default="regression",
                       help="classification: the digits panel (cross-entropy; CLASS_FULL)")
        if name == "run":
            p.add_argument("--datasets", nargs="+", choices=DATASETS + CLASS_DATASETS)
            p.add_argument("--splits", nargs="+", type=int)
            p.add_argument("--families", nargs="+")
            p.add_argument("--grid-subset", nargs="+", type=int,
                           help="indices into each family's grid (default: the whole grid)")
            p.add_argument("--threads", type=int, default=1)
            p.add_argument("--no-report", action="store_true")
            p.add_argument("--allow-mixed", action="store_true")
        if name == "report":
            p.add_argument("--key", nargs="+",
                           help="configuration key(s) (default: all keys of the current "
                                "configuration); with several commits --allow-mixed is needed, "
                                "and a unit found under several keys is taken from the last")
            p.add_argument("--allow-mixed", action="store_true",
                           help="accept records of several package commits in one report")
    args = ap.parse_args(argv)
    return {"run": cmd_run, "report": cmd_report, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
