"""Unit costs of the paper reproduction per data set, to extrapolate a full trial cheaply.

    python benchmarks/paper/cost_probe.py [--datasets servo machine solar rastrigin wine] [--json out.json]

For each data set (split / trial 0, FULL settings of run.py) it times: SGD and PGD training, ADMM
per iteration (two iterations), C-ℓ2 and samp-ℓ2, a few restriction (12) steps of Algorithm 1 with
the given solvers (default: auto, then CLARABEL for comparison), one α-step and one re-extraction
step (cvxpy programs), SGD-lip per epoch, and one evaluation (certificate, intervals, attacks).
A full trial is then extrapolated with the step counts measured on a full servo trial (see
RESULTS.md). Numbers are wall seconds, one torch thread.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def _load_run():
    spec = importlib.util.spec_from_file_location("paper_run", HERE / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _timed(fn):
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    msgs = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
                   for w in caught if not issubclass(w.category, DeprecationWarning)})
    return out, time.perf_counter() - tic, msgs


def probe(run, ds: str, solvers: list[str], steps: dict[str, int], data_dir, out: Path) -> dict:
    from torch_lipcvx import postprocess, solve_l2_program
    from torch_lipcvx.admm import ADMM
    from torch_lipcvx.algorithm1.extensions import alpha_step, flip_ties, pattern_step
    from torch_lipcvx.train import train_sgd_lip
    from torch_lipcvx.models import activation_patterns
    cfg = run.FULL
    res: dict = {"dataset": ds}
    tr = run.Trial(ds, 0, cfg, "probe", out, data_dir, "auto", 0)
    res["n_train"], res["d"] = int(tr.X.shape[0]), int(tr.X.shape[1])
    say = run.say
    say(f"== {ds}: n={res['n_train']}, d={res['d']}")
    (sgd, _, _), res["sgd_s"], _ = _timed(lambda: run._run_sgd(tr))
    tr.models["sgd"] = sgd
    (pgd, _, _), res["pgd_s"], _ = _timed(lambda: run._run_pgd(tr))
    say(f"  SGD {res['sgd_s']:.1f} s, PGD {res['pgd_s']:.1f} s")
    c = cfg["admm"]
    adm, sec, w = _timed(lambda: ADMM(sgd, tr.X, tr.y, lam=cfg["lam"], beta=0.0,
                                      penalty=c["penalty"], loss_steps=c["loss_steps"],
                                      lr=c["lr"], min_iter=2, max_iter=2, tol=c["tol"],
                                      solver=run.admm_solver("auto"), seed=0).run())
    h = adm.history[1:]
    res["admm"] = {"total_s": sec, "iterations": len(h),
                   "loss_s": statistics.fmean(r.loss_time for r in h),
                   "lipsdp_s": statistics.fmean(r.lipsdp_time for r in h),
                   "sdp_s": statistics.fmean(r.sdp_time for r in h),
                   "per_iter_s": sec / max(1, len(h)), "warnings": w}
    say(f"  ADMM 2 iterations {sec:.1f} s (loss {res['admm']['loss_s']:.1f}, LipSDP "
        f"{res['admm']['lipsdp_s']:.2f}, SDP step {res['admm']['sdp_s']:.1f} s per iteration)")
    admm = adm.model
    for solver in solvers:
        r = res.setdefault(solver, {})
        _, r["c_l2_s"], r["c_l2_warnings"] = _timed(
            lambda: postprocess(sgd, tr.X, tr.y, beta=cfg["beta"], solver=solver))
        _, r["samp_l2_s"], r["samp_l2_warnings"] = _timed(
            lambda: solve_l2_program(sgd, tr.X, tr.y, beta=cfg["beta"], patterns="sampled",
                                     n_sampled=cfg["n_sampled"], seed=0, solver=solver))
        k = steps.get(solver, 2)
        pp, sec, w = _timed(lambda: postprocess(admm, tr.X, tr.y, lam=cfg["lam"], max_iter=k,
                                                tol=0.0, solver=solver))
        solve = [x.solve_time for x in pp.history[1:]]
        r["clip"] = {"steps": k, "accepted": len(solve), "total_s": sec,
                     "per_step_s": sec / k, "solver_s": solve, "J": pp.objective_after,
                     "warnings": w}
        say(f"  {solver}: C-l2 {r['c_l2_s']:.1f} s, samp-l2 {r['samp_l2_s']:.1f} s, "
            f"Algorithm 1 {k} step(s) {sec:.1f} s ({sec / k:.1f} s/step; solver "
            f"{', '.join(f'{s:.1f}' for s in solve)}), J={pp.objective_after:.8g}"
            + (f"; warnings: {w}" if w else ""))
    clip = pp.model
    _, res["alpha_step_s"], w = _timed(lambda: alpha_step(clip, tr.X, tr.y, lam=cfg["lam"],
                                                          solver="auto"))
    w64, X64 = clip.weights().to(dtype=torch.float64), tr.X.to(torch.float64)
    D = flip_ties(X64, w64, activation_patterns(X64, w64))
    _, res["reextract_s"], w2 = _timed(lambda: pattern_step(clip, tr.X, tr.y, D, lam=cfg["lam"],
                                                            solver="auto"))
    say(f"  alpha-step {res['alpha_step_s']:.1f} s, re-extraction step {res['reextract_s']:.1f} s"
        + (f"; warnings: {w + w2}" if w + w2 else ""))
    sl = cfg["sgd_lip"]
    _, sec, _ = _timed(lambda: train_sgd_lip(sgd, tr.X, tr.y, lam=cfg["lam"], beta=0.0, epochs=3,
                                             lr=sl["lr"], seed=0,
                                             solver_args={"max_iters": sl["max_iters"]}))
    res["sgd_lip_per_epoch_s"] = sec / 3
    rec, sec, _ = _timed(lambda: tr.evaluate(clip))
    res["eval_s"], res["eval_parts_s"] = sec, rec["eval_parts_s"]
    say(f"  SGD-lip {res['sgd_lip_per_epoch_s']:.2f} s/epoch; evaluation {sec:.1f} s "
        f"({', '.join(f'{k} {v:.1f}' for k, v in rec['eval_parts_s'].items())})")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(("servo", "machine", "solar", "rastrigin", "wine")))
    p.add_argument("--solvers", nargs="+", default=["auto", "CLARABEL"])
    p.add_argument("--steps", type=int, default=2, help="Algorithm-1 steps per solver")
    p.add_argument("--clarabel-steps", type=int, default=None,
                   help="Algorithm-1 steps with CLARABEL (default: --steps)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    run = _load_run()
    data_dir = run.resolve_data_dir(args.data_dir)
    steps = {"auto": args.steps, "torch": args.steps,
             "CLARABEL": args.clarabel_steps or args.steps, "SCS": args.clarabel_steps or args.steps}
    import tempfile
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            out.append(probe(run, ds, args.solvers, steps, data_dir, Path(tmp)))
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
