"""The spectrum conjugate gradients sees in the matrix-free Newton systems (issue 30, item 4).

    python benchmarks/cg_spectrum.py [--dataset servo] [--hidden 100] [--beta 0] [--at 5 15 25 32]
        [--out benchmarks/results/cg_spectrum.json]

One solve of the restriction (12) by ``solver="torch-cg"`` (Algorithm 1's first step; the start
network as in bench_alg1_speed.py: Adam, 300 epochs, seed 0, λ = 1e-2, β = ``--beta``). At the
interior-point iterations ``--at``, the Newton operator ``K`` and the unit preconditioner ``P⁻¹``
of that iteration are formed column by column (N operator products, so small networks only) and
the eigenvalues of ``P^{-½} K P^{-½}`` computed: how many are tiny, which is what makes CG slow
near the optimum. Printed and saved per iteration: the condition number of ``K``, the
preconditioned spectrum's ends, the counts below 1e-3 … 0.3, the 30 smallest, and CG's iterations
on that system; also ``N`` against the rows ``n`` (the data term's Gram has rank ≤ n + 1).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="servo")
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--beta", type=float, default=0.0, help="β of J (0: the argmin is a face)")
    ap.add_argument("--at", type=int, nargs="+", default=[5, 15, 25, 32])
    ap.add_argument("--out", default=str(HERE / "results" / "cg_spectrum.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    import torch_lipcvx
    from torch_lipcvx._engine import newton_cg
    from torch_lipcvx.data import load_dataset
    from torch_lipcvx.train import train_sgd

    data = load_dataset(args.dataset, seed=0)
    X, y = data.X_train.double(), data.y_train.double()
    net = train_sgd(None, X, y, hidden=args.hidden, epochs=300, lr=1e-2, seed=0).model.double()

    rows, count = [], [0]
    original = newton_cg.CGNewtonSystem.direction

    def direction(self, rc):
        out = original(self, rc)
        if getattr(self, "_seen", False):      # the corrector of the same iteration
            return out
        self._seen = True
        count[0] += 1
        if count[0] not in args.at:
            return out
        N = self.x.numel()
        eye = torch.eye(N, dtype=torch.float64, device=self.x.device)
        fr = self.free.bool()
        K = torch.stack([self.matvec(eye[i]) for i in range(N)], 1)[fr][:, fr]
        Pinv = torch.stack([self.pc.apply(eye[i]) for i in range(N)], 1)[fr][:, fr]
        K, Pinv = 0.5 * (K + K.T), 0.5 * (Pinv + Pinv.T)
        L = torch.linalg.cholesky(Pinv)
        ev = torch.linalg.eigvalsh(L.T @ K @ L)
        evK = torch.linalg.eigvalsh(K)
        row = {"iteration": count[0], "N": int(fr.sum()), "n": X.shape[0],
               "cond_K": float(evK[-1] / evK[0]), "precond_min": float(ev[0]),
               "precond_max": float(ev[-1]), "cg_iterations": self.opts.last_cg,
               "below": {str(t): int((ev < t).sum()) for t in (1e-3, 1e-2, 3e-2, 1e-1, 0.3)},
               "smallest": [float(v) for v in ev[:30]]}
        rows.append(row)
        print(f"IPM iteration {row['iteration']}: N = {row['N']} (n = {row['n']}), "
              f"cond(K) = {row['cond_K']:.2e}, preconditioned spectrum "
              f"[{row['precond_min']:.2e}, {row['precond_max']:.2e}], below 1e-3: "
              f"{row['below']['0.001']}, CG iterations {row['cg_iterations']}", flush=True)
        return out

    newton_cg.CGNewtonSystem.direction = direction
    try:
        t0 = time.perf_counter()
        res = torch_lipcvx.postprocess(net, X, y, lam=1e-2, beta=args.beta, max_iter=1,
                                       solver="torch-cg", progress=False)
    finally:
        newton_cg.CGNewtonSystem.direction = original
    solve = res.solves[0]
    summary = {"dataset": args.dataset, "hidden": args.hidden, "beta": args.beta, "at": args.at,
               "status": solve.status, "iterations": solve.iterations,
               "cg_iterations": solve.inner_iterations, "time": time.perf_counter() - t0,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "torch": torch.__version__, "rows": rows}
    print(f"solve: {solve.status}, {solve.iterations} iterations, {solve.inner_iterations} CG "
          f"iterations in all", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
