"""The engine room: the solvers behind the public functions (private by convention).

Nothing here is public API; the public functions (``lipsdp``, ``postprocess``, ``ADMM``, ...) parse
the user's ``solver=`` once (:class:`torch_lipcvx.solvers.Solver`) and call into these modules,
which return the one record of a solve (:class:`torch_lipcvx.solvers.SolveRecord`). Names may
change between releases without notice.

* :mod:`.programs` — the cvxpy programs, built once and re-solved with new parameters: LipSDP and
  its reduced/Schur forms, program (6), the restriction (12), the α-restriction, the ADMM step
  (docs/lipsdp.md, docs/programs.md). cvxpy is imported on first use only.
* :mod:`.ipm` — a primal–dual interior point in torch that talks to its constraints through one
  interface (:class:`~.ipm.Cone`: rows ≥ 0, second-order cones, one LMI); adding a cone touches no
  solver code.
* :mod:`.barrier` — :class:`~.barrier.PatternBarrier`: programs (6) and (12) with fixed patterns
  on :mod:`.ipm`, the torch counterpart of :mod:`.programs`.
* :mod:`.newton_cg` — the interior point's Newton systems matrix-free: preconditioned conjugate
  gradients with per-unit blocks and low-rank (Nyström) terms, and the size rule that picks dense
  or matrix-free (docs/solvers.md §3.2).
* :mod:`.lipsdp_dual` — LipSDP by its dual: the Newton barrier method and accelerated projected
  gradient, and the dual certificate's gradient (docs/lipsdp.md).
* :mod:`.lipsdp_vector` — LipSDP for networks with ``k`` outputs (the LMI with ``AAᵀ``): exact
  re-verification of ``t``, a Newton barrier method in torch, the cvxpy SDP
  (docs/losses.md §2).
* :mod:`.loss_barrier` — programs (6) and (12) for any convex loss of :mod:`torch_lipcvx.losses`
  and ``k`` outputs: on :mod:`.ipm` with the loss's Hessian, and the plain cvxpy programs that
  cross-check it (docs/losses.md §5).
* :mod:`.distributed` — :class:`~.distributed.RowComm`: the interior point's sums and minima
  over rows all-reduced across ``torch.distributed`` processes that each hold a shard of the
  rows (docs/solvers.md §3.3).

The dispatch between these (``solver="auto"``: torch first, the cvxpy program as the fallback,
:class:`~torch_lipcvx.bounds.LipSDPFallbackWarning`) lives with the certificate in
:mod:`torch_lipcvx.bounds`, whose :func:`~torch_lipcvx.bounds.lipsdp` is its one caller.
"""
