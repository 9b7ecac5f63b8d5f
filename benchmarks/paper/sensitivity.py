"""Which of the paper's conclusions hold across settings, and which hinge on one (issue 31).

    python benchmarks/paper/sensitivity.py run     [--settings lam1e-2 ...] [--trials N] [--jobs 2]
    python benchmarks/paper/sensitivity.py report  [--mix-code]

``run`` computes every setting of ``GRID`` with ``run.py`` (resumable: finished records of the
same code are skipped; each setting has its own folder under ``sensitivity/``). ``report`` reads
the records back and writes ``sensitivity/SENSITIVITY.md`` (tables), ``sensitivity/*.csv``,
``sensitivity/sensitivity_*.png`` and the generated blocks of ``RESULTS.md`` (``verdict``,
``sensitivity-*``). Nothing numeric is typed by hand.

The settings (README.md in this folder says why each exists):

* λ = β ∈ {1e-4, 1e-3, 1e-2} on the five data sets (the paper's value is lost; 1e-3 is one
  reading of it);
* SGD's length for the ℓ2 rows (300, 1000, 3000 epochs), *calibrated* on UCI splits 7–9 (the
  smallest length whose median SGD objective is within ``CALIBRATION_RTOL`` of the best) and
  reported on splits 0–6, which the calibration never saw;
* rastrigin at d = 2, 5 and 10 (the paper does not state d);
* C-lip with Algorithm 1's solve cap lifted from 20 to 200 (servo and machine hit the cap).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
OUT = HERE / "sensitivity"
#: Applied to every setting (``--quick``, ``--set``, ``--datasets``): smoke tests run the grid
#: at toy sizes; the real grid leaves them empty.
BASE: dict[str, Any] = {"quick": False, "sets": (), "datasets": None}


def _load_runner():
    """``run.py`` beside this file as a module (it is a script, not a package)."""
    if "paper_run" in sys.modules:
        return sys.modules["paper_run"]
    spec = importlib.util.spec_from_file_location("paper_run", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["paper_run"] = module
    spec.loader.exec_module(module)
    return module


paper = _load_runner()
ALL = paper.DATASETS
#: Every method Table 1 and Figure 1 need (the beyond-the-paper extras stay in the main run).
METHODS = ("sgd", "pgd", "admm", "c_l2", "samp_l2", "c_lip", "samp_lip", "sgd_c_lip",
           "pgd_c_lip", "pgd_admm", "admm_admm")
L2_METHODS = ("sgd", "c_l2", "samp_l2")
#: The calibrated SGD length: the smallest whose median objective on the calibration splits is
#: within this of the lowest (relative).
CALIBRATION_RTOL = 0.01


@dataclass(frozen=True)
class Setting:
    """One configuration of the grid: ``sets`` are run.py ``--set`` overrides."""
    name: str
    axis: str                 # "lam", "sgd", "calibration", "rastrigin_d", "clip_cap"
    value: float
    sets: tuple[str, ...]
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    trials: int
    first_trial: int = 0
    folder: Optional[str] = None

    @property
    def out(self) -> Path:
        return OUT / (self.folder or self.name)

    @property
    def all_sets(self) -> list[str]:
        return [*BASE["sets"], *self.sets]

    @property
    def data(self) -> tuple[str, ...]:
        """The data sets, restricted to ``BASE["datasets"]`` when given."""
        keep = BASE["datasets"]
        return tuple(d for d in self.datasets if keep is None or d in keep)

    def argv(self, trials: Optional[int] = None, jobs: int = 1) -> list[str]:
        argv = ["all", "--out", str(self.out), "--trials", str(trials or self.trials),
                "--first-trial", str(self.first_trial), "--datasets", *self.data,
                "--methods", *self.methods, "--results-md", "none", "--jobs", str(jobs)]
        if BASE["quick"]:
            argv.append("--quick")
        for s in self.all_sets:
            argv += ["--set", s]
        return argv


GRID: tuple[Setting, ...] = (
    Setting("lam1e-3", "lam", 1e-3, (), ALL, METHODS, 10),
    Setting("lam1e-2", "lam", 1e-2, ("lam=1e-2", "beta=1e-2"), ALL, METHODS, 10),
    Setting("lam1e-4", "lam", 1e-4, ("lam=1e-4", "beta=1e-4"), ALL, METHODS, 10),
    *(Setting(f"calibration{e}", "calibration", e, (f"sgd.epochs={e}",), ALL, ("sgd",), 3,
              first_trial=7, folder="sgd_calibration") for e in (300, 1000, 3000)),
    # 300 epochs is the main setting: its records are λ = 1e-3's (same key), splits 0–6
    *(Setting(f"sgd{e}", "sgd", e, (f"sgd.epochs={e}",), ALL, L2_METHODS, 7,
              folder="lam1e-3" if e == 300 else None) for e in (300, 1000, 3000)),
    Setting("clip_nocap", "clip_cap", 200, ("clip.max_iter=200",), ("servo", "machine"),
            ("sgd", "admm", "c_lip", "admm_admm"), 3),
    *(Setting(f"rastrigin_d{d}", "rastrigin_d", d, (f"rastrigin.d={d}",), ("rastrigin",),
              METHODS, 3) for d in (5, 10)),
)
BY_NAME = {s.name: s for s in GRID}


def records(setting: Setting) -> list[dict]:
    """The finished records of ``setting`` (its configuration key, in its folder)."""
    _, _, key = paper.configure(BASE["quick"], setting.all_sets, paper.resolve_solver("auto"))
    last = setting.first_trial + setting.trials
    return [r for r in paper.load_records(setting.out, key) if r["dataset"] in setting.data
            and setting.first_trial <= r["trial"] < last
            and (r["method"] in setting.methods or setting.axis != "sgd")]


# --------------------------------------------------------------------------------- summaries
def table1_cells(recs: list[dict]) -> dict[tuple[str, str], dict]:
    """(data set, method) -> paired test + mean improvement (%) against the method's baseline."""
    cells = {}
    rows = paper.improvement_rows(recs)
    means = {k: statistics.fmean(v) for k, v in paper._improvements(rows).items()}
    for t in paper.table1_tests(recs):
        cells[(t["dataset"], t["method"])] = dict(t, mean_pct=means[(t["dataset"], t["method"])])
    return cells


def figure1_cells(recs: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(data set, base group, norm) -> Figure-1 claim judged both ways, with its tests."""
    claims = paper.figure1_claims(paper.figure1_tests(recs), paper.figure1_data(recs))
    return {(c["dataset"], c["group"], c["norm"]): c for c in claims}


def diagnostics(recs: list[dict], lam: float, cap: int) -> dict[str, dict]:
    """Per data set, medians over trials of what the audit suspected drives the results: the
    Lipschitz term's share of ADMM's objective (λ·ρ / J_lip), C-lip's ℓ2 bound against ADMM's
    (upper bounds, ratio), C-lip's solves and how often it hit the cap ``cap``."""
    out: dict[str, dict] = {}
    for ds in paper._order({r["dataset"] for r in recs}):
        by = {(r["trial"], r["method"]): r for r in recs if r["dataset"] == ds}
        admm = [r for (t, m), r in by.items() if m == "admm"]
        clip = [r for (t, m), r in by.items() if m == "c_lip"]
        row: dict[str, Any] = {"trials": len(admm)}
        if admm:
            row["lip_share"] = statistics.median(lam * r["rho"] / r["J_lip"] for r in admm)
        pairs = [(by[(t, "c_lip")], by[(t, "admm")]) for (t, m) in by
                 if m == "admm" and (t, "c_lip") in by]
        if pairs:
            row["L_ratio"] = statistics.median(c["L2_upper"] / a["L2_upper"] for c, a in pairs)
            row["L_raised"] = sum(c["L2_upper"] > a["L2_upper"] for c, a in pairs)
            row["pairs"] = len(pairs)
        if clip:
            its = [r["info"]["iterations"] for r in clip]
            row["solves"] = statistics.median(its)
            row["cap_hits"] = sum(i >= cap for i in its)
            row["clip_s"] = statistics.median(r["time_s"] for r in clip)
        out[ds] = row
    return out


def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{v:+.2f}%"


def _sign_ok(method: str, ds: str, mean: float) -> Optional[bool]:
    paper_avg = paper.PAPER_TABLE1.get(method, {}).get(ds)
    return None if paper_avg is None else (paper_avg[2] > 0) == (mean > 0)


def _size_ok(method: str, ds: str, mean: float) -> Optional[bool]:
    """Within a factor 2 of the paper's average, same sign."""
    paper_avg = paper.PAPER_TABLE1.get(method, {}).get(ds)
    if paper_avg is None or (paper_avg[2] > 0) != (mean > 0):
        return None if paper_avg is None else False
    ratio = mean / paper_avg[2]
    return 0.5 <= ratio <= 2.0


def _cell(c: Optional[dict], method: str, ds: str) -> str:
    if c is None:
        return "–"
    mark = {True: "", False: " ✗", None: ""}[_sign_ok(method, ds, c["mean_pct"])]
    return (f"{_pct(c['mean_pct'])}{mark} ({c['wins']}/{c['n']}"
            + (f", p={paper._fmt_p(c['wilcoxon_p'])}" if c["n"] >= 5 else "") + ")")


def axis_table(settings: list[Setting], cells: dict[str, dict], methods: tuple[str, ...],
               datasets: tuple[str, ...], label) -> str:
    """Table 1 rows (data set × method) against the settings of one axis."""
    head = ["| data set | method | paper avg | " + " | ".join(label(s) for s in settings) + " |",
            "|---|---|---:|" + "---:|" * len(settings)]
    lines = []
    for ds in datasets:
        for m in methods:
            row = [cells[s.name].get((ds, m)) for s in settings]
            if not any(row):
                continue
            pa = paper.PAPER_TABLE1.get(m, {}).get(ds)
            lines.append(f"| {ds} | {paper.METHODS[m][0]} | {_pct(pa[2]) if pa else '–'} | "
                         + " | ".join(_cell(c, m, ds) for c in row) + " |")
    return "\n".join(head + lines)


def claims_table(settings: list[Setting], figs: dict[str, dict], label,
                 datasets: tuple[str, ...]) -> str:
    """Figure 1: for each (data set, base) the paper's claim and, per setting, whether X-C-lip is
    lowest at every ε (ℓ2 / ℓ∞ attack), and at how many ε significantly below both others."""
    head = ["| data set | base | paper | " + " | ".join(label(s) for s in settings) + " |",
            "|---|---|---|" + "---|" * len(settings)]
    lines = []
    for ds in datasets:
        for group in paper.FIG1_GROUPS:
            cells = []
            for s in settings:
                got = [figs[s.name].get((ds, group, n)) for n in ("2", "inf")]
                if not all(got):
                    cells.append("–")
                    continue
                cells.append(" / ".join(("✓" if c["every_eps"] else "✗") + f"{c['lowest_at']}"
                                        + (f"·{c['significant_at']}s" if c["n"] >= 5 else "")
                                        for c in got))
            if set(cells) == {"–"}:
                continue
            claim = "yes" if (ds, group) in paper.PAPER_FIG1_CLAIM else "no"
            lines.append(f"| {ds} | {group} | {claim} | " + " | ".join(cells) + " |")
    return "\n".join(head + lines)


def claim_counts(fig: dict) -> dict[str, int]:
    """Of the paper's eight Figure-1 claims: how many this setting reproduces under each reading
    (ℓ2 or ℓ∞ attack, lowest at every ε or lowest median over ε), and how many pairs it has."""
    out = {"have": 0, "l2_every": 0, "linf_every": 0, "either_every": 0, "over_eps": 0,
           "significant": 0, "extra_every": 0}
    for (ds, group) in paper.PAPER_FIG1_CLAIM:
        got = [fig.get((ds, group, n)) for n in ("2", "inf")]
        if not all(got):
            continue
        out["have"] += 1
        out["l2_every"] += got[0]["every_eps"]
        out["linf_every"] += got[1]["every_eps"]
        out["either_every"] += got[0]["every_eps"] or got[1]["every_eps"]
        out["over_eps"] += got[0]["over_eps"] or got[1]["over_eps"]
        out["significant"] += any(c["significant_at"] == c["n_eps"] for c in got)
    for (ds, group, norm), c in fig.items():
        out["extra_every"] += c["every_eps"] and (ds, group) not in paper.PAPER_FIG1_CLAIM
    return out


def calibration(by_epochs: dict[int, list[dict]]) -> dict[str, dict]:
    """Per data set: median SGD J_l2 over the calibration splits at each length (``by_epochs``:
    epochs -> that length's records), and the calibrated length (the smallest within
    CALIBRATION_RTOL of the lowest median)."""
    out: dict[str, dict] = {}
    datasets = {r["dataset"] for recs in by_epochs.values() for r in recs}
    for ds in paper._order(datasets):
        med, trials = {}, set()
        for e, recs in sorted(by_epochs.items()):
            js = [r["J_l2"] for r in recs if r["dataset"] == ds]
            trials |= {r["trial"] for r in recs if r["dataset"] == ds}
            if js:
                med[e] = statistics.median(js)
        best = min(med.values())
        chosen = min(e for e, v in med.items() if v <= best * (1 + CALIBRATION_RTOL))
        out[ds] = {"median_J": med, "chosen": chosen, "trials": len(trials)}
    return out


# ----------------------------------------------------------------------------------- report
def _num(v: float) -> str:
    """1e-4 rather than 0.0001."""
    return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _lam_label(s: Setting) -> str:
    return f"λ=β={_num(s.value)}"


def collect(mix_code: bool = False) -> dict[str, list[dict]]:
    """Every setting's records; refuses records of different code unless ``mix_code``."""
    data = {s.name: records(s) for s in GRID}
    everything = [r for v in data.values() for r in v]
    if everything:
        code = paper.code_summary(everything)
        if code["mixed"] and not mix_code:
            raise SystemExit("sensitivity report: the records were made by "
                             f"{len(code['identities'])} versions of the code "
                             f"({code['line'][6:-1]}); rerun the settings with the current "
                             "code or pass --mix-code.")
    return data


def _trials_note(recs: list[dict], datasets) -> str:
    n = {ds: len({r["trial"] for r in recs if r["dataset"] == ds}) for ds in datasets}
    vals = sorted(set(n.values()))
    return (f"{vals[0]}" if len(vals) == 1 else
            ", ".join(f"{ds} {k}" for ds, k in n.items()))


def build(data: dict[str, list[dict]]) -> dict[str, Any]:
    """Every table, the numbers behind the verdict, and the CSV rows."""
    lam = [BY_NAME[n] for n in ("lam1e-4", "lam1e-3", "lam1e-2")]
    cells = {s.name: table1_cells(data[s.name]) for s in GRID if s.axis in ("lam", "sgd",
                                                                            "rastrigin_d")}
    figs = {s.name: figure1_cells(data[s.name]) for s in GRID
            if s.axis in ("lam", "rastrigin_d")}
    cap = paper.configure(BASE["quick"], list(BASE["sets"]),
                          paper.resolve_solver("auto"))[0]["clip"]["max_iter"]
    diags = {s.name: diagnostics(data[s.name], s.value, cap) for s in lam}
    out: dict[str, Any] = {"cells": cells, "figs": figs, "diags": diags, "csv": [],
                           "fig_reasons": figure1_reasons(data["lam1e-3"])}
    for name, cs in cells.items():
        for (ds, m), c in cs.items():
            out["csv"].append({"setting": name, "dataset": ds, "method": m, "n": c["n"],
                               "mean_pct": c["mean_pct"], "wins": c["wins"],
                               "losses": c["losses"], "ties": c["ties"],
                               "sign_p": c["sign_p"], "wilcoxon_p": c["wilcoxon_p"]})
    md: list[str] = []
    # λ
    md += ["## λ = β", "",
           "Table 1 at each λ = β: average improvement over the baseline, then (trials with a "
           "lower objective / trials" + ", Wilcoxon p from 5 trials on). ✗ = sign differs from "
           "the paper. Trials: " + "; ".join(f"{_lam_label(s)}: "
                                             f"{_trials_note(data[s.name], ALL)}" for s in lam)
           + ".", "",
           axis_table(lam, cells, paper.TABLE1_LEFT + paper.TABLE1_RIGHT, ALL, _lam_label), "",
           "What the audit suspected, measured (medians over trials): the Lipschitz term's share "
           "of ADMM's objective (λ·ρ/J), C-lip's certified ℓ2 bound over ADMM's, in how many "
           f"trials C-lip *raised* the bound, and C-lip's solves (cap {cap}) and hits of the "
           "cap.", "",
           "| data set | " + " | ".join(f"{_lam_label(s)}: share · L ratio · raised · solves "
                                        "(cap hits)" for s in lam) + " |",
           "|---|" + "---|" * len(lam)]
    for ds in ALL:
        row = []
        for s in lam:
            d = diags[s.name].get(ds)
            if not d or "lip_share" not in d:
                row.append("–")
                continue
            row.append(f"{100 * d['lip_share']:.0f}% · {d.get('L_ratio', float('nan')):.3f} · "
                       f"{d.get('L_raised', 0)}/{d.get('pairs', 0)} · {d.get('solves', 0):g} "
                       f"({d.get('cap_hits', 0)})")
        md.append(f"| {ds} | " + " | ".join(row) + " |")
    md += ["", "Figure 1 at each λ = β: per base model, ℓ2 / ℓ∞ attack: ✓ if X-C-lip has the "
           "lowest median adversarial MSE of its group at every ε, ✗ if not, then at how many "
           "of the 6 ε it is lowest, and (from 5 trials on) `·k s` at how many it is "
           "significantly below both other models.", "",
           claims_table(lam, figs, _lam_label, ALL), ""]
    counts = {s.name: claim_counts(figs[s.name]) for s in lam}
    out["counts"] = counts
    md += ["Of the paper's eight Figure-1 claims, reproduced:", "",
           "| reading | " + " | ".join(_lam_label(s) for s in lam) + " |",
           "|---|" + "---:|" * len(lam)]
    for key, text in (("l2_every", "lowest at every ε, ℓ2 attack"),
                      ("linf_every", "lowest at every ε, ℓ∞ attack"),
                      ("either_every", "lowest at every ε, either attack"),
                      ("over_eps", "lowest median over ε, either attack"),
                      ("significant", "significantly lowest at every ε, either attack")):
        md.append(f"| {text} | " + " | ".join(f"{counts[s.name][key]} of "
                                               f"{counts[s.name]['have']}" for s in lam) + " |")
    md.append("| (not claimed by the paper, but lowest at every ε) | " + " | ".join(
        f"{counts[s.name]['extra_every']}" for s in lam) + " |")
    # SGD length
    calib_recs = {int(s.value): data[s.name] for s in GRID if s.axis == "calibration"
                  and data[s.name]}
    calib = calibration(calib_recs) if calib_recs else {}
    out["calibration"] = calib
    sgd = [s for s in GRID if s.axis == "sgd"]
    md += ["", "## SGD's length (the ℓ2 rows)", "",
           "Calibration on UCI splits 7–9 (rastrigin: seeds 7–9), never reported: median SGD "
           "objective J_l2 at each length; the calibrated length is the shortest within "
           f"{100 * CALIBRATION_RTOL:g}% of the lowest.", "",
           "| data set | " + " | ".join(f"{e} epochs" for e in (300, 1000, 3000))
           + " | calibrated |", "|---|---:|---:|---:|---|"]
    for ds, c in calib.items():
        md.append(f"| {ds} | " + " | ".join(f"{c['median_J'].get(e, float('nan')):.5f}"
                                            for e in (300, 1000, 3000))
                  + f" | {c['chosen']} |")
    md += ["", "Reported on splits 0–6 (" + "; ".join(
        f"{int(s.value)} epochs: {_trials_note(data[s.name], ALL)} trials" for s in sgd)
        + "); **bold** = the calibrated length.", "",
        "| data set | method | paper avg | " + " | ".join(f"{int(s.value)} epochs" for s in sgd)
        + " |", "|---|---|---:|" + "---:|" * len(sgd)]
    for ds in ALL:
        for m in paper.TABLE1_LEFT:
            row = []
            for s in sgd:
                c = cells[s.name].get((ds, m))
                txt = _cell(c, m, ds)
                if c and calib.get(ds, {}).get("chosen") == int(s.value):
                    txt = f"**{txt}**"
                row.append(txt)
            if set(row) == {"–"}:
                continue
            pa = paper.PAPER_TABLE1[m][ds]
            md.append(f"| {ds} | {paper.METHODS[m][0]} | {_pct(pa[2])} | " + " | ".join(row)
                      + " |")
    # rastrigin d
    rd = [BY_NAME["lam1e-3"], BY_NAME["rastrigin_d5"], BY_NAME["rastrigin_d10"]]

    def d_label(s: Setting) -> str:
        return "d = 2" if s.name == "lam1e-3" else f"d = {int(s.value)}"
    md += ["", "## Rastrigin's input dimension", "",
           "The paper does not state d. Trials: " + "; ".join(
               f"{d_label(s)}: {_trials_note(data[s.name], ('rastrigin',))}" for s in rd)
           + ".", "",
           axis_table(rd, cells, paper.TABLE1_LEFT + paper.TABLE1_RIGHT, ("rastrigin",), d_label),
           "", claims_table(rd, figs, d_label, ("rastrigin",))]
    # the cap
    base, nocap = BY_NAME["lam1e-3"], BY_NAME["clip_nocap"]
    md += ["", "## C-lip without the 20-solve cap", "",
           "C-lip (Algorithm 1 from the ADMM network) with at most 20 solves (the main setting) "
           "and 200, same trials; medians over trials.", "",
           "| data set | trials | cap | C-lip avg improvement | solves | cap hits | C-lip s | "
           "Figure 1, ADMM base: C-lip lowest at every ε? ℓ2 / ℓ∞ (at how many ε) |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for ds in nocap.data:
        for s, cap_s in ((base, cap), (nocap, int(nocap.value))):
            trials = sorted({r["trial"] for r in data[nocap.name] if r["dataset"] == ds})
            recs = [r for r in data[s.name] if r["dataset"] == ds and r["trial"] in trials]
            c = table1_cells(recs).get((ds, "c_lip"))
            d = diagnostics(recs, 1e-3, cap_s).get(ds, {})
            if c is None:
                continue
            out.setdefault("cap", {}).setdefault(ds, {})[cap_s] = (c["mean_pct"],
                                                                 d.get("solves", 0))
            fig = figure1_cells(recs)
            got = [fig.get((ds, "ADMM", n)) for n in ("2", "inf")]
            f1 = (" / ".join(("✓" if g["every_eps"] else "✗") + f" ({g['lowest_at']})"
                             for g in got) if all(got) else "–")
            md.append(f"| {ds} | {c['n']} | {cap_s} | {_pct(c['mean_pct'])} | "
                      f"{d.get('solves', 0):g} | {d.get('cap_hits', 0)} | "
                      f"{d.get('clip_s', 0):.1f} | {f1} |")
    out["markdown"] = "\n".join(md) + "\n"
    return out


# ---------------------------------------------------------------------------------- verdict
#: Table 1's claims as the verdict states them: method -> what the paper reports.
CLAIMS = {
    "c_l2": "C-ℓ2 lowers SGD's ℓ2-regularised objective on all five data sets",
    "samp_l2": "samp-ℓ2 (half the patterns) helps on servo and machine, hurts on solar, "
               "rastrigin and wine",
    "c_lip": "C-lip lowers ADMM's Lipschitz-regularised objective on all five data sets",
    "samp_lip": "samp-lip is worse than ADMM on all five data sets",
}


def figure1_reasons(recs: list[dict]) -> str:
    """Measured reasons for Figure 1's failures: where in ε X-C-lip wins (clean against robust
    error), and how often the PGD group's winner at every ε is the PGD network itself."""
    med = {(r["dataset"], r["method"], r["norm"], r["eps"]): r["median"]
           for r in paper.figure1_data(recs)}
    groups = clean = large = every = pgd = n_pgd = 0
    for ds in ALL:
        for norm in ("2", "inf"):
            eps = sorted({e for (d, _, n, e) in med if d == ds and n == norm})
            for group, ms in paper.FIG1_GROUPS.items():
                if not eps or any((ds, m, norm, e) not in med for m in ms for e in eps):
                    continue
                lowest = [min(ms, key=lambda m: med[(ds, m, norm, e)]) for e in eps]
                groups += 1
                clean += lowest[0] == ms[1]
                large += lowest[-1] == ms[1]
                every += all(w == ms[1] for w in lowest)
                if group == "PGD":
                    n_pgd += 1
                    pgd += all(w == ms[0] for w in lowest)
    if not groups:
        return "–"
    return (f"at λ=1e-3, of {groups} (data set, base, attack) groups X-C-lip is lowest at "
            f"ε = 0 in {clean}, at the largest ε in {large} and at every ε in {every}; in the "
            f"PGD groups the PGD network itself is lowest at every ε in {pgd} of {n_pgd}")


def _p_range(cs: list[dict]) -> str:
    tested = [c for c in cs if c["n"] >= 5]
    ps = [c["wilcoxon_p"] if c["wilcoxon_p"] is not None else 1.0 for c in tested]
    if not ps:
        return "fewer than 5 trials: no test"
    where = ("every data set" if len(tested) == len(cs) else
             f"the {len(tested)} data sets with ≥ 5 trials")
    return (f"Wilcoxon p ≤ {paper._fmt_p(max(ps))} on {where}" if max(ps) < paper.ALPHA
            else f"Wilcoxon p {paper._fmt_p(min(ps))}–{paper._fmt_p(max(ps))} on {where}")


def verdict_block(built: dict[str, Any]) -> str:
    """The one-screen summary RESULTS.md leads with: each claim, per λ = β, its verdict."""
    lam = [BY_NAME[n] for n in ("lam1e-4", "lam1e-3", "lam1e-2")]
    cells, diags = built["cells"], built["diags"]
    sgd = [s for s in GRID if s.axis == "sgd"]
    lines = ["| the paper's claim | " + " | ".join(_lam_label(s) for s in lam)
             + " | verdict | measured reasons |", "|---|" + "---|" * (len(lam) + 2)]
    for m, text in CLAIMS.items():
        row, ok_at, ok_ex, size_at = [], [], [], []
        d_cells = [cells.get(n, {}).get(("rastrigin", m))
                   for n in ("rastrigin_d5", "rastrigin_d10")]
        d_ok = all(c is not None and _sign_ok(m, "rastrigin", c["mean_pct"]) for c in d_cells)
        for s in lam:
            cs = [cells[s.name][(ds, m)] for ds in ALL if (ds, m) in cells[s.name]]
            if not cs:
                row.append("–")
                continue
            signs = [(c["dataset"], _sign_ok(m, c["dataset"], c["mean_pct"])) for c in cs]
            sizes = sum(bool(_size_ok(m, c["dataset"], c["mean_pct"])) for c in cs)
            bad = [ds for ds, ok in signs if not ok]
            ok_at.append(not bad and len(cs) == len(ALL))
            ok_ex.append(set(bad) <= {"rastrigin"} and len(cs) == len(ALL))
            size_at.append((sizes, s))
            row.append(f"signs {len(cs) - len(bad)}/{len(cs)}"
                       + (f" (not {', '.join(bad)})" if bad else "")
                       + f"; size within ×2 in {sizes}/{len(cs)}; {_p_range(cs)}")
        complete = [r != "–" and "/5" in r for r in row]
        if not all(complete):
            v = "incomplete: not every λ has all five data sets yet"
        elif all(ok_at):
            v = "**reproduced** at every λ"
        elif d_ok and all(ok_ex):
            v = ("**reproduced** at every λ once rastrigin has d ≥ 5 (its d was varied at "
                 "λ=1e-3); at d = 2 rastrigin's sign differs at " + ", ".join(
                     _lam_label(s) for s, ok in zip(lam, ok_at) if not ok))
        elif any(ok_at) or (d_ok and any(ok_ex)):
            v = "**hinges on λ**: signs as in the paper at " + ", ".join(
                _lam_label(s) for s, a, e in zip(lam, ok_at, ok_ex) if a or (d_ok and e)) + (
                " (rastrigin at d ≥ 5)" if d_ok and not all(ok_at) else "")
        else:
            v = "**not fully reproduced** at any λ"
        if size_at:
            best_size = max(n for n, _ in size_at)
            v += ("; sizes nearest the paper's at " + ", ".join(
                _lam_label(s) for n, s in size_at if n == best_size)
                  + f" ({best_size} of 5 within ×2)")
        reasons = []
        if m in ("c_l2", "samp_l2") and sgd:
            per = []
            for s in sgd:
                cs = [cells[s.name][(ds, m)] for ds in ALL if (ds, m) in cells[s.name]]
                if cs:
                    ok = sum(bool(_sign_ok(m, c["dataset"], c["mean_pct"])) for c in cs)
                    per.append(f"{int(s.value)}: {ok}/{len(cs)}")
            if per:
                reasons.append("signs by SGD length (epochs) " + ", ".join(per))
            chosen = [c["chosen"] for c in built.get("calibration", {}).values()]
            if chosen:
                reasons.append("the length calibrated on splits 7–9: " + ", ".join(
                    f"{e} epochs on {chosen.count(e)} of {len(chosen)}"
                    for e in sorted(set(chosen))))
        signs_d = []
        for name, d in (("lam1e-3", 2), ("rastrigin_d5", 5), ("rastrigin_d10", 10)):
            c = cells.get(name, {}).get(("rastrigin", m))
            if c is not None:
                signs_d.append(f"d={d} {'✓' if _sign_ok(m, 'rastrigin', c['mean_pct']) else '✗'}"
                               f" ({_pct(c['mean_pct'])})")
        if signs_d:
            reasons.append("rastrigin's sign by d: " + ", ".join(signs_d))
        if m == "c_lip" and built.get("cap"):
            reasons.append("without the 20-solve cap: " + ", ".join(
                f"{ds} {_pct(v[20][0])} → {_pct(v[200][0])} ({v[200][1]:g} solves)"
                for ds, v in built["cap"].items() if 20 in v and 200 in v))
        if m in ("c_lip", "samp_lip"):
            share = diags["lam1e-3"]
            if share:
                reasons.append("Lipschitz share of ADMM's J at λ=1e-3: " + ", ".join(
                    f"{ds} {100 * d['lip_share']:.0f}%" for ds, d in share.items()
                    if "lip_share" in d))
        lines.append(f"| {text} | " + " | ".join(row) + f" | {v} | {'; '.join(reasons) or '–'} |")
    counts = built["counts"]
    row = [f"{c['either_every']} of {c['have']} (ℓ2 {c['l2_every']}, ℓ∞ {c['linf_every']}); "
           f"median over ε {c['over_eps']}; significant {c['significant']}"
           for c in (counts[s.name] for s in lam)]
    best = max(lam, key=lambda s: counts[s.name]["either_every"])
    top = counts[best.name]["either_every"]
    if any(counts[s.name]["have"] < len(paper.PAPER_FIG1_CLAIM) for s in lam):
        v = "incomplete: not every λ has all eight pairs yet"
    elif top < len(paper.PAPER_FIG1_CLAIM):
        v = f"**not reproduced**: at most {top} of 8 (at {_lam_label(best)})"
    else:
        v = "**reproduced**"
    lines.append("| Figure 1: X-C-lip alone has the lowest adversarial MSE at every ε for 8 "
                 "(data set, base model) pairs | " + " | ".join(row)
                 + f" | {v} | {built['fig_reasons']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- time block
def time_block(data: dict[str, list[dict]]) -> str:
    """The full run at the current code: per data set the median compute seconds per trial of
    each of the 14 methods (from λ = 1e-3's records: 11 methods on every trial, the three extras
    where they were timed), the projected 10-trial run, and the wall time the grid's invocations
    logged."""
    recs = data["lam1e-3"]
    _, _, key = paper.configure(False, [], paper.resolve_solver("auto"))
    old = paper._seconds_by_method(paper.load_records(HERE / "results", key))
    lines = ["| data set | methods timed at this code | median compute s per trial (sum over "
             "methods) | projected 10 trials, one core |", "|---|---:|---:|---:|"]
    total = 0.0
    for ds in ALL:
        per = paper._seconds_by_method([r for r in recs if r["dataset"] == ds])
        if not per:
            continue
        sec = sum(statistics.median(v) for v in per.values())
        missing = [m for m in paper.METHODS if (ds, m) not in per and (ds, m) in old]
        sec_old = sum(statistics.median(old[(ds, m)]) for m in missing)
        total += 10 * (sec + sec_old)
        lines.append(f"| {ds} | {len(per)} of {len(paper.METHODS)}"
                     + (f" (+ {len(missing)} at the main run's times: {sec_old:.0f} s)"
                        if missing else "")
                     + f" | {sec + sec_old:.0f} | {10 * (sec + sec_old):.0f} s |")
    wall, units, runs = 0.0, 0, 0
    seen: set[Path] = set()
    for s in GRID:
        if s.out in seen:
            continue
        seen.add(s.out)
        for line in (s.out / "runs.jsonl").read_text().splitlines() if (
                s.out / "runs.jsonl").is_file() else []:
            r = json.loads(line)
            wall += r["wall_s"]
            units += r["computed"] or 0
            runs += 1
    lines += ["", f"The full run (5 data sets × 10 trials × 14 methods) at these unit times: about "
              f"{total:.0f} compute-seconds, {total / 2 / 3600:.1f} h with `--jobs 2` on two "
              f"free cores. The sensitivity grid's "
              f"{runs} logged invocations took {wall:.0f} s of wall time for {units} records, "
              "two queues side by side on two cores."]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ plots
def plot_axis(data: dict[str, list[dict]], settings: list[Setting], methods: tuple[str, ...],
              xlabel: str, path: Path) -> Path:
    """Per method a panel: the mean improvement (line) and every trial's (dots) against the
    axis, one colour per data set; the paper's average dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.8),
                             constrained_layout=True, squeeze=False)
    colours = dict(zip(ALL, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    for ax, m in zip(axes[0], methods):
        for ds in ALL:
            xs, means = [], []
            for s in settings:
                vals = [r["improvement_pct"] for r in paper.improvement_rows(data[s.name])
                        if r["dataset"] == ds and r["method"] == m]
                if vals:
                    ax.scatter([s.value] * len(vals), vals, s=8, color=colours[ds], alpha=0.4)
                    xs.append(s.value)
                    means.append(statistics.fmean(vals))
            if xs:
                ax.plot(xs, means, marker="o", color=colours[ds], label=ds)
                pa = paper.PAPER_TABLE1.get(m, {}).get(ds)
                if pa:
                    ax.axhline(pa[2], color=colours[ds], ls="--", lw=0.8, alpha=0.7)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title(f"{paper.METHODS[m][0]} vs {paper.METHODS[paper.TABLE1_PAIRS[m][0]][0]}")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("improvement of J over the baseline, % (symlog)")
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(fontsize=8)
    fig.suptitle("Table 1 against the setting (dots: trials; line: mean; dashed: the paper)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------- main
def report(mix_code: bool = False, results_md: Optional[Path] = HERE / "RESULTS.md") -> dict:
    """Write SENSITIVITY.md, sensitivity.csv, the plots and RESULTS.md's generated blocks."""
    data = collect(mix_code)
    for s in GRID:      # each setting's own tables and Figure-1 plots, from all its records
        if s.axis in ("lam", "rastrigin_d") and data[s.name]:
            cfg, _, key = paper.configure(BASE["quick"], s.all_sets, paper.resolve_solver("auto"))
            paper.report(s.out, cfg, key, ("table1", "figure1"), trials=s.trials,
                         datasets=s.data, mix_code=mix_code)
    built = build(data)
    everything = [r for v in data.values() for r in v]
    code = paper.code_summary(everything)["line"] if everything else "Code: no records yet."
    files = []
    head = ("# Sensitivity of the paper's conclusions\n\n"
            "Generated by `python benchmarks/paper/sensitivity.py report` from the records in "
            "the folders beside this file; nothing here is typed by hand.\n\n" + code + "\n\n")
    paper.atomic_write_text(OUT / "SENSITIVITY.md", head + "## Verdict\n\n"
                            + verdict_block(built) + "\n\n" + built["markdown"])
    paper._write_csv(OUT / "sensitivity.csv", built["csv"])
    files += [OUT / "SENSITIVITY.md", OUT / "sensitivity.csv"]
    lam = [BY_NAME[n] for n in ("lam1e-4", "lam1e-3", "lam1e-2")]
    files.append(plot_axis(data, lam, paper.TABLE1_LEFT + paper.TABLE1_RIGHT, "λ = β",
                           OUT / "sensitivity_lambda.png"))
    files.append(plot_axis(data, [s for s in GRID if s.axis == "sgd"], paper.TABLE1_LEFT,
                           "SGD epochs", OUT / "sensitivity_sgd.png"))
    blocks = {"verdict": code + "\n\n" + verdict_block(built), "time-current": time_block(data)}
    main = data["lam1e-3"]
    if main:
        t1, f1 = paper.table1_tests(main), paper.figure1_tests(main)
        blocks["statistics-current"] = (
            f"Trials: {_trials_note(main, ALL)}.\n\n" + paper.table1_tests_block(t1) + "\n\n"
            + paper.figure1_tests_block(paper.figure1_claims(f1, paper.figure1_data(main))))
        blocks["figure1-current"] = paper.figure1_block(paper.figure1_data(main))
    filled = paper.update_results_md(results_md, blocks) if results_md else []
    if filled:
        files.append(results_md)
    paper.say("sensitivity report -> " + ", ".join(p.name for p in files))
    return {"built": built, "files": files}


def main(argv: Optional[list[str]] = None) -> dict:
    global OUT
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["run", "report"])
    p.add_argument("--settings", nargs="+", default=None, choices=list(BY_NAME),
                   help="only these settings (default: the whole grid, in order)")
    p.add_argument("--trials", type=int, default=None,
                   help="trials per setting (default: each setting's own, 10 for λ)")
    p.add_argument("--jobs", type=int, default=1, help="(data set, trial) units in parallel")
    p.add_argument("--quick", action="store_true",
                   help="every setting at run.py's --quick sizes (a smoke test)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an override applied to every setting (before the setting's own)")
    p.add_argument("--datasets", nargs="+", default=None, choices=list(ALL),
                   help="only these data sets, in every setting")
    p.add_argument("--mix-code", action="store_true",
                   help="report records of different code together (labelled)")
    p.add_argument("--out", default=None,
                   help=f"the settings' parent folder (default {OUT.relative_to(HERE)}/ here)")
    p.add_argument("--results-md", default=str(HERE / "RESULTS.md"),
                   help="fill the generated blocks of this file ('none' to skip)")
    args = p.parse_args(argv)
    if args.out is not None:
        OUT = Path(args.out).expanduser().resolve()
    BASE.update(quick=args.quick, sets=tuple(args.set), datasets=args.datasets)
    if args.trials is not None and args.trials < 1:
        raise SystemExit(f"--trials must be >= 1, got {args.trials}")
    if args.what == "run":
        for s in GRID:
            if args.settings is None or s.name in args.settings:
                paper.say(f"== sensitivity setting {s.name}")
                paper.main(s.argv(args.trials, args.jobs))
    md = None if args.results_md == "none" else Path(args.results_md)
    return report(args.mix_code, md)


if __name__ == "__main__":
    main()
