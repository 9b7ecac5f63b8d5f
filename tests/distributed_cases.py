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

#: name -> (seed, n, d, m, flat, betas, program6): ``n`` odd, so the two ranks hold different
#: numbers of rows; ``flat``: unit 0 made to fire on no row and unit 1 on every row (the units
#: eliminated when β = 0, whose biases are restored from per-unit minima and maxima over all the
#: rows); ``betas``: the restrictions (12) solved; ``program6``: whether (6) is solved too
CASES = {"plain": (1, 75, 2, 6, False, (1e-3,), True), "flat": (1, 75, 2, 6, True, (0.0,), False)}
LAM = 1e-2
#: the interior point's tolerance here: its gap test (1e-8 relative) and dual-residual test
#: (tol^(2/3) ≈ 4.6e-6) are both met by the matrix-free path on these small instances
TOL = 1e-8


def setup(case):
    """``(w, X, y, D, t)``: the network (units ordered α > 0 first), data, patterns, LipSDP's t."""
    seed, n, d, m, flat = case[:5]
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


def barrier_solves(case, comm: Optional[RowComm], device: str = "cpu") -> dict:
    """The case's restrictions (12) and program (6) (β = 1e-3), by the matrix-free interior
    point on this process's rows, on ``device``: ``{name: {"W", "c", "value", "lower",
    "certified", "status", "iterations"}}`` (tensors on the CPU)."""
    w, X, y, D, t = setup(case)
    if device != "cpu":
        w = w.to(device)
        X, y, D, t = X.to(device), y.to(device), D.to(device), t.to(device)
    sl = _shard(comm, X.shape[0])
    out = {}
    bar = PatternBarrier(X[sl], y[sl], D[sl], w.alpha, output_bias=True, newton="cg", comm=comm)
    for beta in case[5]:
        W, c, _, info = bar.solve_restriction(w.alpha, t, LAM, beta, w.W_tilde, w.c, tol=TOL)
        out[f"restriction beta={beta:g}"] = _record(W, c, info)
    if not case[6]:
        return out
    bar6 = PatternBarrier(X[sl], y[sl], D[sl], torch.sign(w.alpha), output_bias=True,
                          newton="cg", comm=comm)
    V, c, info = bar6.solve_l2(1e-3, w.alpha.abs()[:, None] * w.W_tilde, w.c, tol=TOL)
    out["program6"] = _record(V, c, info)
    return out


def _record(W, c, info) -> dict:
    """What the tests compare of one solve (tensors on the CPU)."""
    return {"W": W.cpu(), "c": c.cpu(), "value": info.value, "lower": info.lower,
            "certified": getattr(info, "certified", None), "status": info.status,
            "iterations": info.iterations}


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
    (λ > 0, two steps) and the ℓ2 case (λ = 0): ``{name: {"J": [...], "state": weights}}``."""
    from torch_lipcvx import postprocess
    net, X, y = make_instance(3, 61, 2, 5)
    out = {}
    for name, lam in (("algorithm1", LAM), ("l2", 0.0)):
        res = postprocess(net, X, y, lam=lam, beta=1e-3, max_iter=2, solver="torch",
                          solver_options={"tol": TOL}, comm=comm)
        out[name] = {"J": [r.objective for r in res.history],
                     "state": {k: v.detach().clone() for k, v in res.model.state_dict().items()},
                     "message": res.message}
    return out
