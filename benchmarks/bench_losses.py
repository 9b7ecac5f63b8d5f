"""Cost of the convex steps for a classifier, against their floor and against cvxpy (issue 29).

    python benchmarks/bench_losses.py [--hidden 32] [--rows 0] [--repeat 3] [--out FILE]

On scikit-learn's digits (10 classes, 64 standardised inputs; ``--rows N`` keeps the first N
training rows), from an SGD network trained on the cross-entropy, measured side by side in one
process (these machines are noisy; ratios, not times, are the result):

* the restriction (12) for the softmax cross-entropy (docs/losses.md §5) by the torch interior
  point (``LossBarrier``) and by the plain cvxpy program with Clarabel (exponential cones), from
  the same start with the same ``T``: wall time, iterations, objective values;
* its floor per interior-point iteration: one assembly of the loss's Hessian
  (``O(n m² (d+1)²)``) and one Cholesky of the Newton matrix (size ``m (d+1) + k + 1``);
* the vector LipSDP (docs/losses.md §2): the Newton barrier method against Clarabel's SDP.

Writes a JSON (default ``benchmarks/results/bench_losses.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        tic = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - tic)
    return min(times), statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--rows", type=int, default=0, help="first N training rows (0: all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "bench_losses.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    import torch_lipcvx as tl
    from torch_lipcvx._engine.lipsdp_vector import (certify_t_vector, lipsdp_vector_newton,
                                                    solve_lipsdp_vector)
    from torch_lipcvx._engine.loss_barrier import (CvxpyLossRestriction, LossBarrier,
                                                   _LossObjective, restriction_metric)
    from torch_lipcvx.losses import get_loss
    from torch_lipcvx.models import activation_patterns

    d = tl.data.load_dataset("digits", split=0)
    X, y = d.X_train.double(), d.y_train
    if args.rows:
        X, y = X[: args.rows], y[: args.rows]
    net = tl.train_sgd(None, X, y, hidden=args.hidden, epochs=300, lr=1e-2, beta=1e-3, seed=0,
                       loss="cross_entropy").model
    w = net.weights().to(dtype=torch.float64)
    loss = get_loss("cross_entropy")
    D = activation_patterns(X, w)
    lam, beta = 1e-2, 1e-3
    rec: dict = {"n": X.shape[0], "d": X.shape[1], "m": w.m, "k": w.k, "lam": lam, "beta": beta,
                 "threads": args.threads, "torch": torch.__version__,
                 "cpu": platform.processor() or platform.machine()}

    # ---- the vector LipSDP
    tn, _, newton = best_of(lambda: lipsdp_vector_newton(w.W, w.A), args.repeat)
    tc, _, clar = best_of(lambda: solve_lipsdp_vector(w.W, w.A, "CLARABEL"), 1)
    rho_n = certify_t_vector(w.W, w.A, newton[0])[0]
    rho_c = certify_t_vector(w.W, w.A, clar[0])[0]
    rec["lipsdp"] = {"newton_s": tn, "clarabel_s": tc, "speedup": tc / tn, "rho_newton": rho_n,
                     "rho_clarabel": rho_c, "rel_diff": (rho_n - rho_c) / rho_c,
                     "newton_lower": newton[4]}
    print(f"vector LipSDP (d={w.d}, m={w.m}, k={w.k}): Newton {tn:.2f} s, Clarabel {tc:.2f} s "
          f"({tc / tn:.0f}x); certified rho {rho_n:.8g} vs {rho_c:.8g} "
          f"(rel {(rho_n - rho_c) / rho_c:+.1e})")

    # ---- the restriction (12) with the cross-entropy
    t = torch.as_tensor(newton[0])
    bar = LossBarrier(X, y, D, w.A, loss, output_bias=True)
    solve = lambda: bar.solve_restriction(t, lam, beta, w.W_tilde, w.c)  # noqa: E731
    ts, tsm, (W, c, rho, info) = best_of(solve, args.repeat)
    fobj = _LossObjective(bar, bar.A, torch.tensor([lam], dtype=torch.float64), beta)
    x = torch.cat([w.W_tilde.reshape(-1), w.c.reshape(-1), torch.tensor([1.0],
                                                                         dtype=torch.float64)])
    th, _, H = best_of(lambda: fobj.hessian(x), args.repeat)
    tchol, _, _ = best_of(lambda: torch.linalg.cholesky(H + 1e-8 * torch.eye(H.shape[0],
                                                                             dtype=H.dtype)),
                          args.repeat)
    prog = CvxpyLossRestriction(X.numpy(), y.numpy(), D.numpy(), w.A.numpy(), loss, lam, beta,
                                True)
    tcv, _, (Wc, cc, _, info_c) = best_of(lambda: prog.solve(t.numpy()), 1)
    M = restriction_metric(w.A, t)

    def value(Wx, cx):
        Wb = Wx[:, :-1]
        return (bar.model_loss(Wx, cx) + 0.5 * beta * float((Wx * Wx).sum())
                + lam * float(torch.linalg.eigvalsh(Wb.T @ M @ Wb)[-1]))

    v_c = value(torch.as_tensor(Wc), torch.as_tensor(cc))
    per_iter = ts / max(info.iterations, 1)
    rec["restriction"] = {
        "torch_s": ts, "torch_median_s": tsm, "iterations": info.iterations,
        "per_iteration_s": per_iter, "hessian_s": th, "cholesky_s": tchol,
        "floor_per_iteration_s": th + tchol, "above_floor": per_iter / (th + tchol),
        "N": int(H.shape[0]), "cvxpy_clarabel_s": tcv, "speedup_vs_cvxpy": tcv / ts,
        "value_torch": info.value, "value_cvxpy": v_c,
        "rel_diff": (info.value - v_c) / abs(v_c), "status": info.status}
    print(f"restriction (12), cross-entropy (n={X.shape[0]}, N={H.shape[0]}): torch {ts:.2f} s "
          f"({info.iterations} iterations, {per_iter:.3f} s each; floor: Hessian {th:.3f} s + "
          f"Cholesky {tchol:.3f} s = {th + tchol:.3f} s, {per_iter / (th + tchol):.2f}x above); "
          f"cvxpy/Clarabel {tcv:.2f} s ({tcv / ts:.1f}x slower); objective {info.value:.10g} vs "
          f"{v_c:.10g} (rel {(info.value - v_c) / abs(v_c):+.1e})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
