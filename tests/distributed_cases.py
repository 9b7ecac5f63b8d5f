"""The instances of test_distributed.py, solved the same way in one process (``comm=None``: all
rows) and in each rank of distributed_script.py (``comm``: that rank's rows)."""

from __future__ import annotations

from typing import Optional

import torch

from conftest import make_instance
from torch_lipcvx import lipsdp
from torch_lipcvx._engine.barrier import PatternBarrier
from torch_lipcvx._engine.distributed import RowComm
from torch_lipcvx.models import activation_patterns, sign_order

DT = torch.float64

#: name -> (seed, n, d, m, flat): ``n`` odd, so the two ranks hold different numbers of rows;
#: ``flat``: unit 0 made to fire on no row and unit 1 on every row (the units eliminated when
#: β = 0, whose biases are restored from per-unit minima and maxima over all the rows)
CASES = {"plain": (0, 91, 3, 8, False), "flat": (1, 75, 2, 6, True)}
LAM = 1e-2
#: the interior point's tolerance here: its gap test (1e-8 relative) and dual-residual test
#: (tol^(2/3) ≈ 4.6e-6) are both met by the matrix-free path on these small instances
TOL = 1e-8


def setup(case):
    """``(w, X, y, D, t)``: the network (units ordered α > 0 first), data, patterns, LipSDP's t."""
    seed, n, d, m, flat = case
    net, X, y = make_instance(seed, n, d, m)
    w = net.weights().to(dtype=DT)
    w = w.permute(sign_order(w.alpha))
    if flat:
        b = w.b.clone()
        b[0] -= 100.0
        b[1] += 100.0
        w = type(w)(w.W, b, w.alpha, w.c)
    t = torch.as_tensor(lipsdp(w).t)
    return w, X, y, activation_patterns(X, w), t


def _shard(comm: Optional[RowComm], n: int) -> slice:
    return slice(0, n) if comm is None else comm.shard(n)


def barrier_solves(case, comm: Optional[RowComm]) -> dict:
    """(12) with β = 0 and β = 1e-3, and (6) with β = 1e-3, by the matrix-free interior point on
    this process's rows: ``{name: {"W", "c", "value", "status", "iterations"}}``."""
    w, X, y, D, t = setup(case)
    sl = _shard(comm, X.shape[0])
    out = {}
    bar = PatternBarrier(X[sl], y[sl], D[sl], w.alpha, output_bias=True, newton="cg", comm=comm)
    for beta in (0.0, 1e-3):
        W, c, _, info = bar.solve_restriction(w.alpha, t, LAM, beta, w.W_tilde, w.c, tol=TOL)
        out[f"restriction beta={beta:g}"] = {"W": W, "c": c, "value": info.value,
                                             "status": info.status,
                                             "iterations": info.iterations}
    bar6 = PatternBarrier(X[sl], y[sl], D[sl], torch.sign(w.alpha), output_bias=True,
                          newton="cg", comm=comm)
    V, c, info = bar6.solve_l2(1e-3, w.alpha.abs()[:, None] * w.W_tilde, w.c, tol=TOL)
    out["program6"] = {"W": V, "c": c, "value": info.value, "status": info.status,
                       "iterations": info.iterations}
    return out


def refusals(comm: RowComm) -> dict:
    """The messages of what a barrier shared by several processes refuses (dense Newton
    systems, row screening): ``{what: message or None}``."""
    w, X, y, D, t = setup(CASES["plain"])
    sl = _shard(comm, X.shape[0])
    out = {}
    try:
        PatternBarrier(X[sl], y[sl], D[sl], w.alpha, output_bias=True, comm=comm)
        out["dense"] = None
    except ValueError as exc:
        out["dense"] = str(exc)
    bar = PatternBarrier(X[sl], y[sl], D[sl], w.alpha, output_bias=True, newton="cg", comm=comm)
    try:
        bar.solve_restriction(w.alpha, t, LAM, 0.0, w.W_tilde, w.c, screen=True)
        out["screen"] = None
    except ValueError as exc:
        out["screen"] = str(exc)
    return out


def postprocess_runs(comm: RowComm) -> dict:
    """``postprocess`` on the full data with the convex steps on ``comm``'s rows: Algorithm 1
    (λ > 0, three steps) and the ℓ2 case (λ = 0): ``{name: {"J": [...], "state": weights}}``."""
    from torch_lipcvx import postprocess
    net, X, y = make_instance(2, 83, 3, 8)
    out = {}
    for name, lam in (("algorithm1", LAM), ("l2", 0.0)):
        res = postprocess(net, X, y, lam=lam, beta=1e-3, max_iter=3, solver="torch",
                          comm=comm)
        out[name] = {"J": [r.objective for r in res.history],
                     "state": {k: v.detach().clone() for k, v in res.model.state_dict().items()},
                     "message": res.message}
    return out
