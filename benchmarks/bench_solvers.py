"""Benchmark: the torch solvers (``solver="auto"``) against cvxpy, side by side in one process.

For each data set (a network trained by SGD, m hidden units):

* LipSDP: the plain original (d+m) LMI with SCS (eps 1e-6), the reduced form with Clarabel (our
  cvxpy default) and the dual first-order method (``lipsdp(..., solver="auto")``); certified L
  (float64 re-verification) and time, with ratios to the plain SCS run.
* one step of the restriction (12) with the network's own T: the plain single-LMI form with SCS
  (``--plain``), the decomposed form with Clarabel (default), and the torch primal–dual interior
  point (``PatternBarrier``); objective value and time.
* SGD-lip (``train_sgd_lip``, 20 epochs from the SGD network): the differentiable certificate by
  the CvxpyLayer (SCS + diffcp) against the torch dual with Danskin's gradient; time and loss.
* Algorithm 1 to convergence (``postprocess``): ``solver="CLARABEL"`` (the cvxpy path) and
  ``solver="auto"``.

Times on shared 2-core machines are noisy: compare the ratios. ``--device cuda`` runs the torch
solver on a GPU when one exists (the cvxpy runs stay on the CPU).

Run: ``python benchmarks/bench_solvers.py [--datasets servo wine] [--plain] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
import warnings
from pathlib import Path
from typing import Optional

# On a shared machine, OpenMP's default busy-waiting makes torch's threads spin against other
# processes (measured: a (12) solve 7 s → 113 s under load); passive waiting keeps the torch
# timings honest next to single-threaded Clarabel/SCS. Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from torch_lipcvx import lipsdp, postprocess
from torch_lipcvx.data import load_dataset
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx.models import activation_patterns, sign_order
from torch_lipcvx._engine.programs import L2Program, LipschitzRestriction, lipsdp_original_lmi
from torch_lipcvx.bounds import certify_t
from torch_lipcvx.train import train_sgd

SECTIONS = ("lipsdp", "step12", "program6", "layer", "sgdlip", "algorithm")
#: SCS's eps_abs = eps_rel of the plain Algorithm-1 loop by default (its checkpoint name has no
#: eps suffix; other values get their own checkpoint)
PLAIN_EPS = 1e-6


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench(name: str, args, save) -> dict:
    extra = {"n": args.rastrigin_n, "d": args.rastrigin_d} if name == "rastrigin" else {}
    data = load_dataset(name, args.data_dir, seed=args.seed, **extra)
    X, y = data.X_train, data.y_train
    net = train_sgd(None, X, y, hidden=args.hidden, epochs=args.epochs, lr=1e-2,
                    seed=args.seed).model.double()
    # a plain run that continues, one at another eps, or any Algorithm-1 column run later on its
    # own, starts from the very network of the plain run (SGD's result may differ in the last
    # bits between machines or thread counts), so the columns and checkpoints stay comparable
    ckpts = [plain_checkpoint(name, args), plain_checkpoint(name, args, eps=PLAIN_EPS)]
    ckpt = next((c for c in ckpts if c.exists()), None)
    if "algorithm" in args.sections and ckpt is not None:
        net.load_state_dict(torch.load(ckpt)["net_state"])
        print(f"  start network: {ckpt.name}")
    w = net.weights()
    w = w.permute(sign_order(w.alpha))
    out: dict = {"dataset": name, "n": data.n, "d": data.d, "m": args.hidden}
    print(f"\n== {name}: n={X.shape[0]}, d={X.shape[1]}, m={args.hidden}, lam={args.lam:g}")

    sections = set(args.sections)
    ref = lipsdp(w)                    # the reference certificate (its t fixes T for one step;
                                       # "auto", whose t Clarabel's matches)
    t = torch.as_tensor(ref.t)
    D = activation_patterns(X, w)
    if "lipsdp" in sections:
        bench_lipsdp(w, args, out)
    if "step12" in sections:
        bench_step12(X, y, D, w, t, args, out)
    if "program6" in sections:
        bench_program6(X, y, D, w, args, out)
    if "layer" in sections:
        bench_layer(X, y, D, w, t, args, out)
    if "sgdlip" in sections:
        bench_sgd_lip(net, X, y, args, out)
    if "algorithm" in sections:
        algorithm1_section(net, X, y, args, out, lambda: save(out))
    return out


def bench_lipsdp(w, args, out: dict) -> None:
    """LipSDP: the plain original LMI + SCS, the reduced form + Clarabel, ``solver="auto"``."""
    rows = []
    if args.plain:
        (rho_p, t_p, _), tp = timed(lipsdp_original_lmi, w.W.numpy(), w.alpha.numpy(), "SCS",
                                   {"eps_abs": 1e-6, "eps_rel": 1e-6, "max_iters": 100_000})
        rows.append(("original LMI + SCS", certify_t(w.W, w.alpha, t_p)[0] ** 0.5, tp))
    ref, tr = timed(lipsdp, w, solver="CLARABEL")        # (lipsdp's default is "auto")
    rows.append(("reduced + Clarabel", ref.L, tr))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast, tf = timed(lipsdp, w, solver="auto")
    rows.append(("dual (auto)" + (" [fell back]" if caught else ""), fast.L, tf))
    base = rows[0][2]
    print("LipSDP:")
    for label, L, t in rows:
        print(f"  {label:28s} L={L:.10g}  {t:8.3f}s  ratio={base / t:7.1f}x")
    out["lipsdp"] = [{"method": a, "L": b, "time": c} for a, b, c in rows]


def bench_step12(X, y, D, w, t, args, out: dict) -> None:
    """One step of (12) with the network's own T: plain full LMI + SCS, decomposed + Clarabel,
    the torch interior point."""
    dev = torch.device(args.device)
    rows = []
    if args.plain:
        prog = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float),
                                    w.alpha.numpy(), args.lam, 0.0, True, form="full")
        (_, _, _, info), tp = timed(prog.solve, t.numpy(), "SCS")
        rows.append(("full LMI + SCS", info.value, tp))
    prog = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float), w.alpha.numpy(),
                                args.lam, 0.0, True)
    (_, _, _, info), tc = timed(prog.solve, t.numpy())
    rows.append(("decomposed + Clarabel", info.value, tc))
    ipm, ts = timed(PatternBarrier, X.to(dev), y.to(dev), D.to(dev), w.alpha.to(dev),
                    output_bias=True)
    (_, _, _, finfo), ti = timed(ipm.solve_restriction, w.alpha, t, args.lam, 0.0, w.W_tilde, w.c)
    rows.append((f"torch IPM ({finfo.iterations} it, {finfo.status})", finfo.value, ti + ts))
    base = rows[0][2]
    print("one step of (12):")
    for label, v, tt in rows:
        print(f"  {label:28s} value={v:.10g}  {tt:8.2f}s  ratio={base / tt:7.2f}x")
    out["restriction_step"] = [{"method": a, "value": b, "time": c} for a, b, c in rows]


def bench_program6(X, y, D, w, args, out: dict) -> None:
    """Program (6), the ℓ2 case (β = 1e-3, the trained patterns split by outer-weight sign)."""
    dev = torch.device(args.device)
    sign = torch.sign(w.alpha)
    start = w.alpha.abs()[:, None] * w.W_tilde
    rows = []
    if args.plain:
        prog6 = L2Program(X.numpy(), y.numpy(), D.numpy().astype(float), sign.numpy(), 1e-3, True)
        (_, _, info6), tp = timed(prog6.solve, "SCS", {"eps_abs": 1e-8, "eps_rel": 1e-8,
                                                       "max_iters": 200_000})
        rows.append(("plain SOCP + SCS (eps 1e-8)", info6.value, tp))
    prog6 = L2Program(X.numpy(), y.numpy(), D.numpy().astype(float), sign.numpy(), 1e-3, True)
    (_, _, info6), tc = timed(prog6.solve)
    rows.append(("SOCP + Clarabel", info6.value, tc))
    ipm6, ts = timed(PatternBarrier, X.to(dev), y.to(dev), D.to(dev), sign.to(dev),
                     output_bias=True)
    (_, _, finfo6), ti = timed(ipm6.solve_l2, 1e-3, start.to(dev), w.c.to(dev))
    rows.append((f"torch IPM ({finfo6.iterations} it, {finfo6.status})", finfo6.value, ti + ts))
    print("program (6), beta=1e-3:")
    for label, v, tt in rows:
        print(f"  {label:28s} value={v:.10g}  {tt:8.2f}s  ratio={rows[0][2] / tt:7.2f}x  "
              f"rel.diff={(v - rows[0][1]) / rows[0][1]:+.1e}")
    out["program6"] = [{"method": a, "value": b, "time": c} for a, b, c in rows]


def bench_layer(X, y, D, w, t, args, out: dict) -> None:
    """The cvxpylayers path: one batched RestrictionLayer call for K λ's around args.lam."""
    from torch_lipcvx.algorithm1.path import RestrictionLayer
    K = 4
    lams = args.lam * torch.logspace(-1, 1, K, dtype=torch.float64)
    layer, tsetup = timed(RestrictionLayer, X, y, D, w.alpha, output_bias=True)
    for method in (("Clarabel", "SCS") if args.layer_scs else ("Clarabel",)):
        sol = layer(t.expand(K, -1), lams, solver_args={"solve_method": method})
        print(f"  cvxpylayers {method:9s} K={K} λ's: {sol.solve_time:7.2f}s "
              f"({sol.solve_time / K:.2f}s/λ, setup {tsetup:.2f}s)  "
              f"rho={[round(float(r), 6) for r in sol.rho]}")
        out.setdefault("layer_batch", []).append({"method": method, "K": K, "setup": tsetup,
                                                  "time": sol.solve_time, "rho": sol.rho.tolist()})



def bench_sgd_lip(net, X, y, args, out: dict, epochs: int = 20) -> None:
    """SGD-lip (Adam on MSE + λ·ρ*, one certificate and its gradient per epoch) from the SGD
    network: the CvxpyLayer (SCS, implicit differentiation; the paper run's setting, 5000 SCS
    iterations) against the torch dual with Danskin's gradient (``solver="auto"``), same steps."""
    from torch_lipcvx.train import train_sgd_lip
    rows = []
    for name, kw in (("LipSDPLayer (SCS, diffcp)", {"solver": "SCS",
                                                    "solver_args": {"max_iters": 5_000}}),
                     ("dual + Danskin (auto)", {"solver": "auto"})):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res, tt = timed(train_sgd_lip, net, X, y, lam=args.lam, epochs=epochs, lr=2e-3,
                            seed=args.seed, **kw)
        last = res.history[-1]
        rows.append({"method": name, "epochs": epochs, "time": tt, "loss": last["loss"],
                     "rho": last["rho"], "warnings": len(caught)})
    base = rows[0]
    for r in rows:
        print(f"  SGD-lip {r['method']:28s} {epochs} epochs {r['time']:7.2f}s "
              f"({r['time'] / epochs:.3f}s/epoch, ratio {base['time'] / r['time']:6.1f}x)  "
              f"loss={r['loss']:.10g}  rho={r['rho']:.8g}  rel.dloss="
              f"{(r['loss'] - base['loss']) / base['loss']:+.1e}  warnings={r['warnings']}",
              flush=True)
    out["sgd_lip"] = rows


def plain_checkpoint(name: str, args, eps: Optional[float] = None) -> Path:
    """Where the plain Algorithm-1 run of this configuration (SCS at ``eps``, default
    ``args.plain_eps``) keeps its state between runs."""
    eps = args.plain_eps if eps is None else eps
    eps = "" if eps == PLAIN_EPS else f"_eps{eps:g}"
    return (Path(args.out).parent / "checkpoints" /
            f"plain_alg1_{name}_m{args.hidden}_e{args.epochs}_lam{args.lam:g}_s{args.seed}{eps}.pt")


def algorithm1_section(net, X, y, args, out: dict, save) -> dict:
    """Algorithm 1 to convergence, fast first (minutes), then the slow baselines. Wall and CPU
    seconds (``time.process_time``, all threads: robust to other jobs on the machine, and
    conservative for the multi-threaded torch run) per column; the plain SCS loop prints and
    saves (``save()``) after every step, so a run cut off still leaves its steps; J after the
    same number of steps is comparable between columns (the iterates agree)."""
    res: dict = {"max_iter": args.max_iter, "tol": 1e-4, "rows": []}
    out["algorithm1"] = res
    if not args.skip_auto:
        # the torch solvers run on the model's device: --device cuda moves a copy of the start
        # network and the data there (the plain loop stays on the CPU, where cvxpy runs)
        dev = torch.device(args.device)
        net_a = copy.deepcopy(net).to(dev)
        cpu0 = time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res_a, ta = timed(postprocess, net_a, X.to(dev), y.to(dev), lam=args.lam,
                              max_iter=args.max_iter, solver="auto", verbose=args.verbose)
        cpu_a = time.process_time() - cpu0
        hist = [{"step": r.iteration, "J": r.objective, "time": r.time} for r in res_a.history]
        for h in hist[1:]:
            print(f"  auto step {h['step']:2d}: J={h['J']:.10g}  {h['time']:7.1f}s", flush=True)
        print(f"  auto: {res_a.message}", flush=True)
        res["rows"].append({"method": "auto (dual LipSDP + torch IPM)", "device": args.device,
                            "J": res_a.objective_after,
                            "steps": len(hist) - 1, "time": ta, "cpu": cpu_a,
                            "fallback_warnings": len(caught), "history": hist,
                            "warnings": sorted({str(w.message) for w in caught}),
                            "message": res_a.message})

    def step_saved(plain_hist, wall, cpu):
        res["plain_partial"] = {"history": plain_hist, "time": wall, "cpu": cpu}
        save()

    if args.plain:
        J_p, steps_p, hist_p, tp, cpu_p = algorithm1_plain(
            net, X, y, args.lam, args.max_iter, verbose=True, on_step=step_saved,
            checkpoint=plain_checkpoint(out["dataset"], args), eps=args.plain_eps)
        res.pop("plain_partial", None)
        res["rows"].insert(0, {"method": f"plain: original LMI + full (12), SCS {args.plain_eps:g}",
                               "J": J_p, "eps": args.plain_eps,
                               "steps": steps_p, "time": tp, "cpu": cpu_p,
                               "fallback_warnings": 0, "history": hist_p})
    if not args.skip_clarabel:
        cpu0 = time.process_time()
        res_d, td = timed(postprocess, net, X, y, lam=args.lam, max_iter=args.max_iter,
                          solver="CLARABEL")           # (postprocess's default is "auto")
        res["rows"].insert(len(res["rows"]) - (0 if args.skip_auto else 1), {
            "method": "decomposed + Clarabel (cvxpy)", "J": res_d.objective_after,
            "steps": len(res_d.history) - 1, "time": td, "cpu": time.process_time() - cpu0,
            "fallback_warnings": 0,
            "history": [{"step": r.iteration, "J": r.objective, "time": r.time}
                        for r in res_d.history]})
    base = res["rows"][0]
    print(f"Algorithm 1 (max_iter={args.max_iter}, tol=1e-4):")
    for r in res["rows"]:
        print(f"  {r['method']:38s} J={r['J']:.10g}  steps={r['steps']:2d}  {r['time']:8.2f}s "
              f"(cpu {r['cpu']:8.2f}s)  ratio={base['time'] / r['time']:7.1f}x "
              f"(cpu {base['cpu'] / r['cpu']:6.1f}x)  rel.dJ={(r['J'] - base['J']) / base['J']:+.1e}"
              f"  fallbacks={r['fallback_warnings']}")
    return res


def algorithm1_plain(net, X, y, lam: float, max_iter: int, tol: float = 1e-4,
                     verbose: bool = False, on_step=None, checkpoint: Optional[Path] = None,
                     eps: Optional[float] = None):
    """Algorithm 1 written plainly: LipSDP by the original LMI and (12) by its single full LMI,
    both cvxpy + SCS (``eps_abs = eps_rel = eps``, default :data:`PLAIN_EPS`), J re-evaluated
    exactly (network MSE + λ·certified ρ); a step that does not lower J ends the run, as in
    :func:`postprocess`.

    On wine a plain step takes 10–20 min and Algorithm 1 about 20 steps, longer than one working
    session: with ``checkpoint`` the state after every step (weights, J, history, the wall and
    CPU seconds spent so far) is saved there and a rerun continues from it, adding its seconds.
    Returns ``(J, steps, history, wall_s, cpu_s)``; ``on_step(history, wall_s, cpu_s)`` is
    called after every step."""
    w = net.weights()
    w = w.permute(sign_order(w.alpha))
    Xd, yd = X.double(), y.double()
    D = activation_patterns(X, w)
    eps = PLAIN_EPS if eps is None else eps
    scs = {"eps_abs": eps, "eps_rel": eps, "max_iters": 100_000}

    def J_of(Wt, c):
        out = torch.relu(Xd @ Wt[:, :-1].T + Wt[:, -1]) @ w.alpha + c
        rho, _ = certify_plain(Wt[:, :-1])
        return float(((out - yd) ** 2).mean()) + lam * rho, rho

    def certify_plain(Wb):
        _, t, _ = lipsdp_original_lmi(Wb.numpy(), w.alpha.numpy(), "SCS", scs)
        rho, t_used, _ = certify_t(Wb, w.alpha, torch.as_tensor(t))
        return rho, t_used

    start, cpu0 = time.perf_counter(), time.process_time()
    state = torch.load(checkpoint) if checkpoint is not None and checkpoint.exists() else None
    if state is not None:
        Wt, c, J, steps, history = (state["Wt"], state["c"], state["J"], state["steps"],
                                    state["history"])
        wall_before, cpu_before, done = state["wall"], state["cpu"], state["finished"]
        prog = None
        print(f"  plain: resuming from {checkpoint} after step {steps} "
              f"({wall_before:.0f}s, cpu {cpu_before:.0f}s so far)", flush=True)
    else:
        Wt, c = w.W_tilde.double(), float(w.c)
        wall_before = cpu_before = 0.0
        J, _ = J_of(Wt, c)
        steps, done = 0, False
        history = [{"step": 0, "J": J, "time": time.perf_counter() - start}]

    def spent():
        return (wall_before + time.perf_counter() - start,
                cpu_before + time.process_time() - cpu0)

    def save(finished: bool):
        if checkpoint is not None:
            wall, cpu = spent()
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"Wt": Wt, "c": c, "J": J, "steps": steps, "history": history,
                        "wall": wall, "cpu": cpu, "finished": finished,
                        "net_state": net.state_dict()}, tmp)
            tmp.replace(checkpoint)

    if not done and steps < max_iter:
        prog = LipschitzRestriction(X.numpy(), y.numpy(), D.numpy().astype(float),
                                    w.alpha.numpy(), lam, 0.0, True, form="full")
        save(False)
    while not done and steps < max_iter:
        _, t = certify_plain(Wt[:, :-1])
        Wn, cn, _, info12 = prog.solve(t.numpy(), "SCS", scs)
        Wn = torch.as_tensor(Wn, dtype=torch.float64)
        cn = float(cn)
        J_new, _ = J_of(Wn, cn)
        wall, cpu = spent()
        if verbose:
            print(f"  plain step {steps + 1}: J={J_new:.10g}  (was {J:.10g})  SCS {info12.status}  "
                  f"{wall:.0f}s (cpu {cpu:.0f}s) so far", flush=True)
        if on_step is not None:
            on_step(history + [{"step": steps + 1, "J": J_new, "time": wall, "cpu": cpu,
                                "status": info12.status, "rejected": not J_new < J}], wall, cpu)
        if not J_new < J:
            done = True
            break
        steps += 1
        done = (J - J_new) / J < tol
        Wt, c, J = Wn, cn, J_new
        history.append({"step": steps, "J": J, "time": wall, "cpu": cpu,
                        "status": info12.status})       # SCS's status on this step's (12)
        save(done)
    save(done)        # finished = converged; a run stopped by max_iter continues with a larger one
    wall, cpu = spent()
    return J, steps, history, wall, cpu


def bench_scale(n: int, m: int, d: int, lam: float, device: str, seed: int = 0) -> dict:
    """One (12) step by the torch interior point on rastrigin data with n rows, m units (a random
    network; fast solver only). Peak memory: the process's max RSS (CPU; run each size in its
    own process, ``--scale-one``) or torch's peak allocation (CUDA)."""
    import resource
    data = load_dataset("rastrigin", n=n, d=d, seed=seed, dtype=torch.float64)
    dev = torch.device(device)
    X, y = data.X_train.to(dev), data.y_train.to(dev)
    g = torch.Generator().manual_seed(seed)
    Wt = torch.randn(m, d + 1, generator=g, dtype=torch.float64) / (d + 1) ** 0.5
    alpha = torch.randn(m, generator=g, dtype=torch.float64) / m ** 0.5
    alpha = alpha[torch.argsort(-alpha)]
    Wt = Wt.to(dev)
    w_rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    t0 = time.perf_counter()
    from torch_lipcvx._engine.lipsdp_dual import lipsdp_dual
    rho, tt, _ = lipsdp_dual(Wt[:, :-1], alpha.to(dev))
    t_lip = time.perf_counter() - t0
    D = (torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=dev)], 1) @ Wt.T) >= 0
    t0 = time.perf_counter()
    ipm = PatternBarrier(X, y, D, alpha.to(dev), output_bias=True)
    t_build = time.perf_counter() - t0
    _, _, rho_new, info = ipm.solve_restriction(alpha.to(dev), tt.to(dev), lam, 0.0, Wt,
                                                torch.zeros((), dtype=torch.float64, device=dev),
                                                verbose=True)
    peak = (torch.cuda.max_memory_allocated(dev) / 2 ** 30 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    res = {"n": len(X), "m": m, "d": d, "device": device, "lipsdp_time": t_lip,
           "build_time": t_build, "solve_time": info.solve_time, "iterations": info.iterations,
           "status": info.status, "value": info.value, "peak_GiB": peak, "rss_before_GiB": w_rss0,
           "nm_GiB": len(X) * m * 8 / 2 ** 30}
    print(json.dumps(res), flush=True)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["servo", "wine"])
    p.add_argument("--data-dir", default=None,
                   help="folder of the UCI data sets (default: $TORCH_LIPCVX_DATA if set, then "
                        "the sets bundled with torch_lipcvx)")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--lam", type=float, default=1e-2)
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plain", action="store_true", help="also run the plain SCS forms (slow)")
    p.add_argument("--rastrigin-n", type=int, default=1000)
    p.add_argument("--rastrigin-d", type=int, default=10)
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                   help="what to run (default: all): LipSDP, one (12) step, program (6), the "
                        "cvxpylayers batch, SGD-lip (layer vs dual gradient), Algorithm 1")
    p.add_argument("--skip-algorithm", action="store_true", help="all sections but Algorithm 1")
    p.add_argument("--skip-clarabel", action="store_true",
                   help="Algorithm 1 without the Clarabel (default cvxpy) column")
    p.add_argument("--skip-auto", action="store_true",
                   help="Algorithm 1 without the fast column (to advance the checkpointed plain "
                        "baseline alone; a later run with --plain reads its finished checkpoint)")
    p.add_argument("--plain-eps", type=float, default=PLAIN_EPS,
                   help="SCS eps_abs = eps_rel of the plain Algorithm-1 loop (default 1e-6; a "
                        "tighter one checks that the plain J moves onto the fast one)")
    p.add_argument("--verbose", action="store_true", help="per-step log of the fast run")
    p.add_argument("--layer-scs", action="store_true",
                   help="also solve the cvxpylayers batch with SCS (slow: minutes at m = 100)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="benchmarks/results/bench_solvers.json")
    p.add_argument("--scale", nargs="*", metavar="NxM",
                   help="fast solver only: one (12) step on rastrigin (d=10) for each size, e.g. "
                        "--scale 10000x100 10000x1000 100000x1000 (each in its own process)")
    p.add_argument("--scale-one", metavar="NxM", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.skip_algorithm:
        args.sections = [x for x in args.sections if x != "algorithm"]
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    if args.scale_one:
        n, m = map(int, args.scale_one.lower().split("x"))
        bench_scale(n, m, 10, args.lam, args.device)
        return
    if args.scale is not None:
        import subprocess
        import sys
        results = []
        for size in args.scale:
            print(f"\n== scale {size} on {args.device}", flush=True)
            # the child's per-iteration log is streamed (a large size runs for an hour)
            proc = subprocess.Popen([sys.executable, __file__, "--scale-one", size, "--device",
                                     args.device, "--lam", str(args.lam)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lines, tail = [], []
            for ln in proc.stdout:
                print("   ", ln, end="", flush=True)
                tail = (tail + [ln])[-40:]
                if ln.startswith("{"):
                    lines.append(ln)
            if proc.wait() != 0 or not lines:
                results.append({"size": size, "error": "".join(tail)[-2000:]})
                continue
            res = json.loads(lines[-1])
            print(f"  n={res['n']} m={res['m']}: LipSDP {res['lipsdp_time']:.1f}s, build "
                  f"{res['build_time']:.1f}s, (12) {res['solve_time']:.1f}s in {res['iterations']} "
                  f"it ({res['status']}), peak {res['peak_GiB']:.2f} GiB "
                  f"(one n×m float64 array: {res['nm_GiB']:.2f} GiB)", flush=True)
            results.append(res)
        out = Path(args.out).with_name("bench_scale.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(out.read_text())["results"] if out.exists() else []
        new_keys = {(r.get("n"), r.get("m"), r.get("device")) for r in results}
        kept = [r for r in old if (r.get("n"), r.get("m"), r.get("device")) not in new_keys]
        out.write_text(json.dumps({"config": vars(args), "results": kept + results}, indent=2))
        print(f"\nwrote {out}")
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    done: list = []

    def save(current: Optional[dict] = None) -> None:
        results = done + ([current] if current is not None else [])
        report = {"config": vars(args), "results": results, "finished": current is None}
        Path(args.out).write_text(json.dumps(report, indent=2))

    for name in args.datasets:
        done.append(bench(name, args, save))
    save()
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
