"""The differentiable LipSDP certificate (docs/lipsdp.md §9); its trainer, "SGD-lip", is
:func:`torch_lipcvx.train.train_sgd_lip`.

:class:`LipSDPLayer` wraps the LipSDP program of
:class:`~torch_lipcvx._engine.programs.LipSDPProgram` in a ``cvxpylayers``
:class:`~cvxpylayers.torch.CvxpyLayer`, so that

    ρ*(W̄, α) = min_{ρ, t ≥ 0} ρ   s.t.   M(ρ, diag(t)) ⪯ 0          (docs/lipsdp.md §1, the LMI)

is a function of the network's weights that autograd can differentiate: the backward pass is
``diffcp``'s implicit differentiation of the cone program at its solution (equivalently, by the
envelope theorem, ``dρ*`` is read off the optimal dual variables). The value returned is not the
solver's number: ``t`` is re-verified in float64 (:func:`~torch_lipcvx.bounds.certify_t`), so the
value is a certified ``ρ = L²``; the gradient is the solver's.

Two facts make the layer fast and accurate, and both are exact:

* **Balancing.** ρ* is invariant under ``(w̄_j, α_j) → (c_j w̄_j, α_j / c_j)``, ``c_j > 0``, and
  homogeneous of degree 2 in ``W̄`` and in ``α``. The layer therefore solves the program for the
  balanced, normalised network ``w̄_j c_j / s``, ``α_j / (c_j s)`` with
  ``c_j = sqrt(|α_j| / ‖w̄_j‖)`` and ``s² = Σ_j |α_j| ‖w̄_j‖`` (every unit then has
  ``‖w̄_j‖ = |α_j|``, and ρ* ≤ 1), and multiplies by ``s⁴``. All of this is done in torch, so
  autograd chains through it. It matters: on a 100-unit, 10-input network SCS at equal tolerance
  came 20–150× closer to the optimum; balanced, it was within 5e-6 relative in 0.4 s, where the
  unbalanced program was off by 1e-4 after 2.8 s (and needed 15 s for 1e-7).
* **The reduced form** of :class:`LipSDPProgram` (one LMI of size ``d + 1`` and ``m`` cones),
  with its parameters ``vec(w̄_j w̄_jᵀ)``, ``W̄ᵀα`` and ``α_j²/2`` computed from ``(W̄, α)`` in
  torch. The Schur form (size ``d + m + 1``, ``W̄`` and ``α`` entering directly) is available as
  ``form="schur"`` for cross-checking; it is two orders of magnitude slower at m = 100.

Solver: SCS through ``diffcp`` (the only choice). Clarabel through diffcp 1.1.9 returns the right
ρ but permutes the PSD block of the dual wrongly (``inverse_permute_psd_solution`` applies the
inverse of the permutation it should apply; visible for PSD cones of size ≥ 4, i.e. d ≥ 3), so
its gradients were wrong by 50–500% in our checks; the constructor refuses it. The backward pass
uses diffcp's dense mode by default (see :data:`DEFAULT_LAYER_SOLVER_ARGS`).

Units with ``α_j = 0`` or ``w̄_j = 0`` change neither f's gradient nor ρ*; the layer removes them
(their parameters are zeroed) and their gradient is zero. ρ* has a kink there: as α_j leaves 0
it grows linearly on one side and stays flat (to first order) on the other, so zero is a choice,
the one-sided derivative on the flat side. Removing them also keeps the SDP's optimum attained
(``lipsdp`` keeps units with ``w̄_j = 0, α_j ≠ 0``, whose optimal ``t_j`` is infinite).

Units: ``rho = L²`` with ``L`` the certified ℓ2 Lipschitz upper bound, in output units per input
unit (the units the model sees).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
import numbers
from typing import Optional

import torch
from torch import Tensor, nn

from . import defaults
from ._checks import check_nonneg
from ._progress import progress_bar
from .bounds import LipSDPResult, certify_t, lipsdp
from ._engine.lipsdp_dual import rho_from_dual
from .models import ShallowReLU, ShallowWeights
from ._engine.programs import LipSDPProgram, SolverError
from .solvers import DEFAULT, LAYER_DEFAULT, TORCH, Solver, SolverLike
from .objective import lipschitz_term, mse, training_loss
from .train import _linear_layers

__all__ = ["LipSDPLayer", "LipSDPLayerResult", "dual_certificate", "lipschitz_penalty",
           "vector_certificate"]

#: Solvers the layer accepts (see the module docstring for why not Clarabel).
LAYER_SOLVERS = (LAYER_DEFAULT,)

#: Default SCS/diffcp settings for the layer. On the balanced, normalised program SCS at 1e-8
#: gives ρ within about 2e-6 relative of Clarabel's LipSDP at m = 100, d = 10 in under half a
#: second. ``mode="dense"`` makes diffcp solve its backward linear system directly: its default,
#: LSQR, stops early on ill-conditioned instances (a unit almost orthogonal to the top eigenvector)
#: and returned gradients off by 2e-3 of their scale on a trained 6-unit net, where dense is exact
#: to 3e-6 (the dense system has about 10·m rows in the reduced form: cheap).
DEFAULT_LAYER_SOLVER_ARGS = {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iters": 100_000,
                             "mode": "dense"}


@dataclass
class LipSDPLayerResult:
    """What :meth:`LipSDPLayer.solve` returns.

    Attributes:
        rho: certified ``ρ = L²``, differentiable in ``W`` and ``alpha``; shape ``()`` or ``(B,)``,
            on the input's device and dtype. Its value is re-verified in float64 from ``t``, its
            gradient is the solver's (implicit differentiation).
        t: ``(m,)`` or ``(B, m)`` float64 CPU multipliers (the diagonal of T) for the network as
            given (not balanced); zero on removed units (``α_j = 0`` or ``w̄_j = 0``).
            ``M(rho, diag(t)) ⪯ 0`` holds in float64 for the network without its removed units
            (same ρ*); for the network as given only when no removed unit has ``α_j ≠ 0``
            (such a unit's optimal multiplier is infinite, and ``t_j = 0`` leaves
            ``−2t_j + α_j² > 0`` on the diagonal of M).
        solver_rho: the solver's own ρ*, float64 CPU, same shape as ``rho`` (for information).
        repaired: ``(B,)`` booleans (or a 0-d one): whether ``t`` needed rescaling to certify.
        solve_time: wall seconds of the forward solve (and verification).
    """

    rho: Tensor
    t: Tensor
    solver_rho: Tensor
    repaired: Tensor
    solve_time: float

    def __repr__(self) -> str:
        return (f"LipSDPLayerResult(rho={short_value(self.rho)}, t={tuple(self.t.shape)}, "
                f"repaired={int(self.repaired.sum())}, solve_time={self.solve_time:.3g}s)")


# ------------------------------------------------------------------------------ plumbing
def short_value(value: Tensor) -> str:
    """A result's scalar as a number, a batch of them as its shape (for one-line reprs)."""
    return f"{float(value):.6g}" if value.dim() == 0 else f"tensor{tuple(value.shape)}"


def _check_size(value, name: str) -> int:
    """A positive integer size (``m`` or ``d``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_solver_args(solver_args, name: str = "solver_args") -> dict:
    """A dict of SCS/diffcp keyword arguments; ``solve_method`` may not be changed."""
    if solver_args is None:
        return {}
    if not isinstance(solver_args, dict):
        raise ValueError(f"{name} must be a dict of SCS/diffcp options or None, "
                         f"got {type(solver_args).__name__}")
    method = solver_args.get("solve_method", "SCS")
    if str(method).upper() != "SCS":
        raise ValueError(f"{name}['solve_method'] must be 'SCS', got {method!r} (Clarabel through "
                         "diffcp returns wrong gradients for PSD cones; see torch_lipcvx.layers)")
    return dict(solver_args)


def _prepare_inputs(W, alpha, m: int, d: int) -> tuple[Tensor, Tensor, bool]:
    """Validate ``W (m, d) | (B, m, d)`` and ``alpha (m,) | (B, m)``; broadcast to a batch.

    Returns ``(W (B, m, d), alpha (B, m), batched)``, both float64 on the CPU (the casts are
    differentiable), where ``batched`` says whether either input had a batch dimension.
    """
    for name, v in (("W", W), ("alpha", alpha)):
        if not isinstance(v, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
        if not v.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {v.dtype}")
    if W.dim() not in (2, 3) or tuple(W.shape[-2:]) != (m, d):
        raise ValueError(f"W must have shape ({m}, {d}) or (B, {m}, {d}) for this layer, "
                         f"got shape {tuple(W.shape)}")
    if alpha.dim() not in (1, 2) or alpha.shape[-1] != m:
        raise ValueError(f"alpha must have shape ({m},) or (B, {m}) for this layer, "
                         f"got shape {tuple(alpha.shape)}")
    batched = W.dim() == 3 or alpha.dim() == 2
    Wb = W if W.dim() == 3 else W.unsqueeze(0)
    ab = alpha if alpha.dim() == 2 else alpha.unsqueeze(0)
    if Wb.shape[0] != ab.shape[0]:
        if Wb.shape[0] == 1 and W.dim() == 2:
            Wb = Wb.expand(ab.shape[0], m, d)
        elif ab.shape[0] == 1 and alpha.dim() == 1:
            ab = ab.expand(Wb.shape[0], m)
        else:
            raise ValueError(f"W and alpha have different batch sizes: {Wb.shape[0]} and "
                             f"{ab.shape[0]}")
    if Wb.shape[0] == 0:
        raise ValueError("W and alpha have an empty batch dimension")
    for name, v in (("W", Wb), ("alpha", ab)):
        bad = ~torch.isfinite(v.detach())
        if bool(bad.any()):
            raise ValueError(f"{name} contains {int(bad.sum())} NaN/Inf value(s); "
                             "cannot certify these weights")
    # the balancing scale s⁴, s² = Σ_j |α_j| ‖w̄_j‖ (see _balance), must be a float64 number: a
    # single huge weight made it inf and the layer's program NaN
    s2 = (ab.detach().to(torch.float64).abs() * Wb.detach().to(torch.float64).norm(dim=-1)).sum(-1)
    if not bool(torch.isfinite(s2 * s2).all()):
        raise ValueError(f"the network's Lipschitz bound (up to sum_j |alpha_j| ||w_j|| = "
                         f"{float(s2.max()):.3g}) is outside float64's normal range; rescale the "
                         "weights, e.g. change the units of the inputs or the output")
    cpu64 = dict(device="cpu", dtype=torch.float64)
    return Wb.to(**cpu64), ab.to(**cpu64), batched


def _balance(W: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Balance and normalise each network of a batch; exact for ρ* (rescaling invariance).

    For ``W (B, m, d)``, ``alpha (B, m)``: with ``c_j = sqrt(|α_j|/‖w̄_j‖)`` and
    ``s² = Σ_j |α_j| ‖w̄_j‖`` returns ``Wn = W c / s``, ``an = α / (c s)`` (removed units zero),
    ``scale = s⁴`` (so ``ρ*(W, α) = scale · ρ*(Wn, an)``), the per-unit factor ``k_j = c_j² s²``
    mapping the balanced multipliers back (``t_j = k_j · t_n,j``), and the boolean ``active
    (B, m)``. Every entry is differentiable, with zero gradient on removed units and NaN-free
    gradients on networks with no active unit (``scale = 0`` there).
    """
    wn2 = W.pow(2).sum(-1)
    active = (alpha != 0) & (wn2 > 0)
    one = torch.ones_like(wn2)
    wn = torch.where(active, wn2, one).sqrt()
    aabs = torch.where(active, alpha, one).abs()
    c = (aabs / wn).sqrt()
    Wc = torch.where(active[..., None], W * c[..., None], torch.zeros_like(W))
    ac = torch.where(active, alpha / c, torch.zeros_like(alpha))
    s2 = torch.where(active, aabs * wn, torch.zeros_like(wn)).sum(-1)        # (B,)
    nonzero = s2 > 0
    s = torch.where(nonzero, s2, torch.ones_like(s2)).sqrt()
    Wn = Wc / s[:, None, None]
    an = ac / s[:, None]
    scale = torch.where(nonzero, s2, torch.zeros_like(s2)).pow(2)
    k = (c.pow(2) * s[:, None].pow(2)).detach()
    return Wn, an, scale, k, active


def _reduced_parameters(W: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Parameters of the reduced LipSDP form from ``W (B, m, d)``, ``alpha (B, m)``.

    ``outer (B, d², m)`` with column j = vec(w̄_j w̄_jᵀ), ``g (B, d, 1) = W̄ᵀα`` and
    ``a (B, m) = α²/2`` (see :class:`~torch_lipcvx._engine.programs.LipSDPProgram`). The matrix
    ``w̄_j w̄_jᵀ`` is symmetric, so its row- and column-major vectorisations agree.
    """
    B, m, d = W.shape
    outer = torch.einsum("bjk,bjl->bklj", W, W).reshape(B, d * d, m)
    g = torch.einsum("bjk,bj->bk", W, alpha).unsqueeze(-1)
    return outer, g, alpha.pow(2) / 2


def call_cvxpy_layer(layer, params: tuple, solver_args: dict, *, errors: tuple, failed: str,
                     hint: str, inaccurate: str, stacklevel: int = 3):
    """Call a ``CvxpyLayer`` and translate what diffcp reports.

    A solver exception of a type in ``errors`` becomes :class:`SolverError` (``failed: exc;
    hint``); diffcp's "Solved/Inaccurate" warning becomes a ``RuntimeWarning`` with the text
    ``inaccurate``; the harmless cvxpylayers 1.2 + NumPy 2 copy-keyword warning is dropped; any
    other warning is re-emitted unchanged. Returns the layer's outputs.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = layer(*params, solver_args=solver_args)
        except errors as exc:
            raise SolverError(f"{failed}: {exc}; {hint}") from exc
    for w in caught:
        text = str(w.message)
        if "Solved/Inaccurate" in text:
            warnings.warn(inaccurate, RuntimeWarning, stacklevel=stacklevel)
        elif "__array__ implementation doesn't accept a copy keyword" in text:
            continue  # cvxpylayers 1.2 + NumPy 2: harmless, not ours to fix
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _round_up_cast(rho: Tensor, device, dtype) -> Tensor:
    """Cast the float64 ``rho`` to ``dtype`` on ``device``, rounding its value up, not to nearest.

    A certified upper bound must stay one in a lower precision (float32 rounds to nearest and can
    land below by half an ulp). The gradient passes through the cast unchanged.
    """
    out = rho.to(device=device, dtype=dtype)
    if dtype == torch.float64:
        return out
    val = out.detach()
    low = val.to(torch.float64).cpu() < rho.detach()
    up = torch.where(low.to(device), torch.nextafter(val, torch.full_like(val, math.inf)), val)
    return out + (up - val)


# ------------------------------------------------------------------------------ the layer
class LipSDPLayer(nn.Module):
    """LipSDP ``ρ*(W̄, α) = L²`` as a differentiable layer (docs/lipsdp.md §9), one per ``(m, d)``.

    The constructor does the one-off work: it builds the DPP program
    (:class:`~torch_lipcvx._engine.programs.LipSDPProgram`), canonicalises it and wraps it in a
    ``cvxpylayers`` ``CvxpyLayer`` (which asserts DPP). ``forward`` only balances the weights
    (exactly; see the module docstring), fills in the parameter values, solves with SCS through
    diffcp, and re-verifies the returned ``t`` in float64.

    Args:
        m: number of hidden units; d: input dimension.
        solver: ``"SCS"`` (the only one; Clarabel through diffcp gives wrong gradients).
        solver_args: default SCS/diffcp options (``eps_abs``, ``eps_rel``, ``max_iters``,
            ``acceleration_lookback``, diffcp's ``mode`` = ``"lsqr"``/``"dense"``,
            ``n_jobs_forward``/``n_jobs_backward`` for batches, ...), merged over
            :data:`DEFAULT_LAYER_SOLVER_ARGS`; each call may override them.
        form: ``"reduced"`` (default; one ``(d + 1)`` LMI and ``m`` cones, parameters derived
            from ``W̄`` and ``α`` in torch) or ``"schur"`` (one ``(d + m + 1)`` LMI with ``W̄`` and
            ``α`` as the parameters; slow, for cross-checking).

    Shape contract: ``W`` has shape ``(m, d)`` and ``alpha`` shape ``(m,)``, each optionally with a
    leading batch dimension ``B``; an unbatched input is broadcast against a batched one. The
    output is ``()`` for unbatched inputs and ``(B,)`` otherwise, on ``W``'s device and dtype
    (rounded up when that dtype is coarser than float64, so that it stays an upper bound).
    Internally everything is float64 on the CPU (diffcp/SCS run there); gradients flow back to
    the inputs' device and dtype.

    Raises:
        ValueError: at construction, bad ``m``/``d``/``solver``/``form``/``solver_args``; in
            ``forward``, inputs of the wrong shape, dtype or batch size, or holding NaN/Inf.
        SolverError: SCS failed (diffcp raised, or returned a non-finite ρ).

    Warns:
        RuntimeWarning: SCS stopped at its iteration limit (the value is still certified; the
            gradient may be inaccurate: raise ``max_iters``).
    """

    FORMS = ("reduced", "schur")

    def __init__(self, m: int, d: int, solver: SolverLike = LAYER_DEFAULT,
                 solver_args: Optional[dict] = None, form: str = "reduced") -> None:
        super().__init__()
        self.m = _check_size(m, "m")
        self.d = _check_size(d, "d")
        try:
            spec = Solver.parse(solver, only=LAYER_SOLVERS)
        except ValueError as exc:
            raise ValueError(f"{exc} (Clarabel through diffcp 1.1.9 returns wrong gradients for "
                             "PSD cones)") from None
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {self.FORMS}, got {form!r}")
        from cvxpylayers.torch import CvxpyLayer  # deferred: importing it costs ~1 s

        self.solver, self.form = spec.name, form
        self.solver_args = {**DEFAULT_LAYER_SOLVER_ARGS, **_check_solver_args(solver_args),
                            "solve_method": "SCS"}
        start = time.perf_counter()
        program = LipSDPProgram(self.m, self.d, form=form)
        params = ([program.outer, program.g, program.a] if form == "reduced"
                  else [program.W, program.alpha])
        self._cvxpy_layer = CvxpyLayer(program.problem, parameters=params,
                                       variables=[program.rho, program.t])
        # (no solver_args here: every call passes the merged options, so that "mode" can be
        # dropped for calls without a backward pass)
        self.setup_time = time.perf_counter() - start

    def extra_repr(self) -> str:
        return f"m={self.m}, d={self.d}, solver={self.solver}, form={self.form}"

    def forward(self, W: Tensor, alpha: Tensor, *, solver_args: Optional[dict] = None) -> Tensor:
        """Certified ``ρ* = L²`` of the network(s) ``(W, alpha)``, differentiable.

        Args:
            W: hidden weights without bias, ``(m, d)`` or ``(B, m, d)``.
            alpha: outer weights, ``(m,)`` or ``(B, m)``.
            solver_args: SCS/diffcp options overriding the layer's for this call.

        Returns:
            ``()`` or ``(B,)`` tensor on ``W``'s device and dtype (see :meth:`solve`).
        """
        return self.solve(W, alpha, solver_args=solver_args).rho

    def solve(self, W: Tensor, alpha: Tensor, *, solver_args: Optional[dict] = None
              ) -> LipSDPLayerResult:
        """Like :meth:`forward`, but also return ``t``, the solver's ρ and the repair flags."""
        start = time.perf_counter()
        args = _check_solver_args(solver_args)
        W64, a64, batched = _prepare_inputs(W, alpha, self.m, self.d)
        B = W64.shape[0]
        Wn, an, scale, k, active = _balance(W64, a64)
        live = torch.nonzero(scale.detach() > 0).flatten()
        zeros64 = torch.zeros(B, dtype=torch.float64)
        rho_n = zeros64 + 0.0 * (Wn.sum((1, 2)) + an.sum(1))   # keeps the graph when all trivial
        t_n = torch.zeros(B, self.m, dtype=torch.float64)
        if live.numel() > 0:
            solved, t_live = self._solve_normalised(Wn[live], an[live], args)
            rho_n = rho_n.index_put((live,), solved)
            t_n[live] = t_live.detach()
        # re-verify each network's t in float64 (balanced scale), then map t back
        verified = torch.zeros(B, dtype=torch.float64)
        repaired = torch.zeros(B, dtype=torch.bool)
        t_out = torch.zeros(B, self.m, dtype=torch.float64)
        for i in live.tolist():
            r, t_used, rep = certify_t(Wn[i].detach(), an[i].detach(), t_n[i])
            verified[i], repaired[i] = r, rep
            t_out[i] = torch.where(active[i], t_used * k[i], torch.zeros_like(t_used))
        solver_rho = (rho_n.detach() * scale.detach())
        rho_n = rho_n + (verified - rho_n.detach())     # certified value, the solver's gradient
        rho = _round_up_cast(rho_n * scale, W.device, W.dtype)
        if not batched:
            rho, t_out, solver_rho, repaired = rho[0], t_out[0], solver_rho[0], repaired[0]
        return LipSDPLayerResult(
            rho=rho, t=t_out, solver_rho=solver_rho, repaired=repaired,
            solve_time=time.perf_counter() - start)

    def _solve_normalised(self, Wn: Tensor, an: Tensor, args: dict) -> tuple[Tensor, Tensor]:
        """Run the CvxpyLayer on balanced, normalised networks ``(B, m, d)``, ``(B, m)``.

        Returns the solver's ``(ρ (B,), t (B, m))``; raises :class:`SolverError` on failure and
        turns diffcp's "Solved/Inaccurate" warning into a ``RuntimeWarning`` naming this layer.
        """
        from diffcp import SolverError as DiffcpSolverError

        params = _reduced_parameters(Wn, an) if self.form == "reduced" else (Wn, an)
        call_args = {**self.solver_args, **args, "solve_method": "SCS"}
        if not (torch.is_grad_enabled() and (Wn.requires_grad or an.requires_grad)):
            # without a backward pass diffcp hands every option to SCS, which rejects "mode"
            call_args.pop("mode", None)
        rho, t = call_cvxpy_layer(
            self._cvxpy_layer, params, call_args, errors=(DiffcpSolverError,),
            failed="SCS failed on LipSDP inside LipSDPLayer", hint="try larger max_iters or "
            "other solver_args", inaccurate="SCS stopped at its iteration limit inside "
            "LipSDPLayer; ρ is still certified (re-verified from t) but its gradient may be "
            "inaccurate: raise solver_args['max_iters']", stacklevel=4)
        if not bool(torch.isfinite(rho.detach()).all()):
            raise SolverError("SCS returned a non-finite ρ on LipSDP inside LipSDPLayer")
        return rho, t


# ------------------------------------------------------------------------------ the dual path
#: What :func:`lipschitz_penalty` and :func:`train_sgd_lip` accept as ``solver``.
PENALTY_SOLVERS = (DEFAULT, LAYER_DEFAULT)
#: :func:`dual_certificate` uses the dual's ``Z`` for the gradient when the certified relative gap
#: in ρ is at most this. The Newton method (d ≤ 32) reaches ~1e-9; the first-order method for
#: larger d stops near 1e-6, where ``Z`` is still within ~1e-3 relative of the optimal one.
GRADIENT_ACCEPT_GAP = 1e-5


def dual_certificate(W: Tensor, alpha: Tensor, *, solver_options: Optional[dict] = None
                     ) -> tuple[Tensor, LipSDPResult]:
    """Certified LipSDP ``ρ* = L²`` with its gradient by Danskin's theorem, no cvxpy.

    ``lipsdp(..., solver="torch")`` (the Newton method on LipSDP's ``d × d`` dual,
    :mod:`torch_lipcvx._engine.lipsdp_dual`) returns the optimal dual matrix ``Z*`` besides ``t``.
    Because ``ρ* = max_Z h(Z; W̄, α)²/4`` over ``{Z ⪰ 0, tr Z = 1}`` with ``h`` smooth in the
    weights, ``∇ρ* = ∇ h(Z*; W̄, α)²/4`` with ``Z*`` held fixed
    (:func:`~torch_lipcvx._engine.lipsdp_dual.rho_from_dual`). So one call costs one LipSDP solve
    (0.02–0.15 s at m = 100…1000) and a differentiable ``O(m d²)`` expression, against an SCS solve
    and an implicit differentiation for :class:`LipSDPLayer`. The value is the certified ``rho``
    (re-verified from ``t``); the gradient is exact up to the solver's certified gap (relative 1e-9
    by default for d ≤ 32).

    Args:
        W: hidden weights without bias ``(m, d)``; alpha: outer weights ``(m,)``; any device and
            floating dtype. Units with ``α_j = 0`` get zero gradient (as in :class:`LipSDPLayer`).
        solver_options: options for the torch LipSDP method (``tol``, ``max_iter``, ...).

    Returns:
        ``(rho, result)``: a 0-d tensor on ``W``'s device and dtype (rounded up when that dtype is
        coarser than float64) and the :class:`~torch_lipcvx.bounds.LipSDPResult` (its ``dual`` is
        ``Z*``).

    Raises:
        ValueError: shapes or NaN/Inf weights.
        RuntimeError: the torch method could not certify the network to
            :data:`GRADIENT_ACCEPT_GAP` (then its ``Z`` would not give the gradient;
            :func:`lipschitz_penalty` catches this and uses :class:`LipSDPLayer`).
    """
    for name, v in (("W", W), ("alpha", alpha)):
        if not isinstance(v, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    if W.dim() != 2 or alpha.dim() != 1 or alpha.shape[0] != W.shape[0]:
        raise ValueError(f"W must be (m, d) and alpha (m,), got shapes {tuple(W.shape)} and "
                         f"{tuple(alpha.shape)}")
    W64, a64, _ = _prepare_inputs(W, alpha, W.shape[0], W.shape[1])
    W64, a64 = W64[0], a64[0]
    res = lipsdp(ShallowWeights(W64.detach(), torch.zeros_like(a64.detach()), a64.detach(), None),
                 solver=TORCH, solver_options=solver_options)
    if res.status == "trivial":
        rho = 0.0 * (W64.sum() + a64.sum())
    else:
        # the dual's own gap (on the units it solved for; negligible units add a margin to rho)
        gap = ((res.solver_rho - res.rho_lower) / res.solver_rho if res.solver_rho > 0
               else math.inf)
        if res.dual is None or not gap <= GRADIENT_ACCEPT_GAP:
            raise RuntimeError(f"the torch LipSDP method stopped at certified relative gap "
                               f"{gap:.1e} ({res.status}); its dual does not give the gradient")
        rho_d = rho_from_dual(W64, a64, torch.as_tensor(res.dual))
        rho = rho_d + (res.rho - rho_d.detach())     # certified value, Danskin's gradient
    return _round_up_cast(rho, W.device, W.dtype), res


def vector_certificate(W: Tensor, A: Tensor, *, solver: SolverLike = DEFAULT,
                       solver_options: Optional[dict] = None) -> tuple[Tensor, LipSDPResult]:
    """Certified LipSDP ``ρ* = L²`` of a network with ``k ≥ 2`` outputs, differentiable in ``W̄``
    and ``A`` (docs/lipsdp.md §10).

    :func:`~torch_lipcvx.bounds.lipsdp` gives the optimal multipliers ``t*`` (no gradient); then

        ρ(W̄, A) = λ_max(W̄ᵀ M(t*, A) W̄),   M = T/2 + ¼ A (I − S)⁻¹ Aᵀ,   S = Aᵀ(2T)⁻¹A,

    (:func:`~torch_lipcvx._engine.lipsdp_vector.metric_matrix`) is built in torch ops on ``W``
    and ``A`` themselves, as ``Σ_j (t_j/2) w̄_j w̄_jᵀ + ¼ G (I − S)⁻¹ Gᵀ`` with ``G = W̄ᵀA``,
    so autograd reaches both. ``t*`` minimises the convex ``ρ(t; W̄, A)`` over the open set
    ``S ≺ I``, so by the envelope (Danskin's) theorem the gradient of this expression at fixed
    ``t*`` is the gradient of ``ρ*`` (where ``λ_max`` is simple), exact up to the solver's
    accuracy in ``t*``. The value is the certified ``rho`` (re-verified from ``t*``); units with
    ``t_j = 0`` (``a_j = 0``) get zero gradient, as in :func:`dual_certificate`.

    Args:
        W: hidden weights without bias ``(m, d)``; A: outer weights ``(m, k)`` (the transpose of
            ``nn.Linear(m, k).weight``); any device and floating dtype.
        solver, solver_options: as for :func:`~torch_lipcvx.bounds.lipsdp`.

    Returns:
        ``(rho, result)``: a 0-d tensor on ``W``'s device and dtype (rounded up when that dtype is
        coarser than float64) and the :class:`~torch_lipcvx.bounds.LipSDPResult`.

    Raises:
        ValueError: shapes or NaN/Inf weights.
    """
    for name, v in (("W", W), ("A", A)):
        if not isinstance(v, Tensor) or not v.is_floating_point():
            raise ValueError(f"{name} must be a floating-point torch.Tensor, got "
                             f"{type(v).__name__ if not isinstance(v, Tensor) else v.dtype}")
        if not bool(torch.isfinite(v.detach()).all()):
            raise ValueError(f"{name} contains NaN/Inf values; cannot certify these weights")
    if W.dim() != 2 or A.dim() != 2 or A.shape[0] != W.shape[0]:
        raise ValueError(f"W must be (m, d) and A (m, k), got shapes {tuple(W.shape)} and "
                         f"{tuple(A.shape)}")
    W64 = W.to(device="cpu", dtype=torch.float64)
    A64 = A.to(device="cpu", dtype=torch.float64)
    res = lipsdp(ShallowWeights(W64.detach(), torch.zeros(W.shape[0], dtype=torch.float64),
                                A64.detach(), None), solver=solver, solver_options=solver_options)
    t = torch.as_tensor(res.t, dtype=torch.float64)
    on = t > 0
    if res.status == "trivial" or not bool(on.any()):
        rho = 0.0 * (W64.sum() + A64.sum()) + res.rho
    else:
        from ._engine.lipsdp_vector import rho_gram
        rho_t = torch.linalg.eigvalsh(rho_gram(W64, A64, t))[-1]
        rho = rho_t + (res.rho - rho_t.detach())     # certified value, the envelope gradient
    return _round_up_cast(rho, W.device, W.dtype), res


# ------------------------------------------------------------------------------ convenience
def _check_penalty_solver(solver: SolverLike, layer) -> Solver:
    """The solver of :func:`lipschitz_penalty`/:func:`train_sgd_lip`: ``None`` means SCS (the
    layer) when a ``layer`` is given, else ``"auto"`` (the torch dual, the layer as fallback)."""
    return Solver.parse(solver, default=LAYER_DEFAULT if layer is not None else DEFAULT,
                        only=PENALTY_SOLVERS)


def lipschitz_penalty(model: nn.Module, layer: Optional[LipSDPLayer] = None, *,
                      solver: SolverLike = None, solver_args: Optional[dict] = None) -> Tensor:
    """Certified LipSDP ``ρ* = L²`` of a shallow ReLU network, differentiable in its weights.

    Args:
        model: a :class:`~torch_lipcvx.ShallowReLU` or ``nn.Sequential(Linear(d, m), ReLU(),
            Linear(m, k))``; gradients flow to its own ``hidden.weight``/``output.weight`` (or
            ``[0].weight``/``[2].weight``). Biases do not enter ρ*. With ``k ≥ 2`` outputs
            :func:`vector_certificate` is used (``solver`` names the vector LipSDP's solver;
            ``layer`` must be ``None``).
        layer: a :class:`LipSDPLayer` of size ``(m, d)`` to reuse (``solver="SCS"``, or the
            fallback of ``"auto"``); if ``None`` and needed, one is built (about 0.2 s at
            m = 100, d = 10: pass a layer when calling repeatedly).
        solver: ``"auto"`` (the default without a ``layer``): :func:`dual_certificate`, the torch
            LipSDP method with Danskin's gradient, 10–100× faster than the layer; if it cannot
            certify to its tolerance, warns and uses the layer. ``"SCS"`` (the default when a
            ``layer`` is given): the :class:`LipSDPLayer` (cvxpylayers, implicit
            differentiation). Both return the certified value; their gradients agree to the SCS
            tolerance (tests/test_layers.py).
        solver_args: SCS/diffcp options for the layer.

    Returns:
        A 0-d tensor on the model's device and dtype.

    Raises:
        ValueError: ``model`` is not a shallow ReLU network, ``layer`` has the wrong size or is
            given for ``k ≥ 2`` outputs, ``solver`` is unknown, or the weights hold NaN/Inf.
    """
    hidden, output = _linear_layers(model)
    m, d = hidden.out_features, hidden.in_features
    solver = _check_penalty_solver(solver, layer)
    if output.out_features > 1:
        if layer is not None:
            raise ValueError(f"layer: a LipSDPLayer certifies networks with one output, this one "
                             f"has {output.out_features}; pass layer=None")
        return vector_certificate(hidden.weight, output.weight.T, solver=solver)[0]
    if layer is not None and not isinstance(layer, LipSDPLayer):
        raise ValueError(f"layer must be a LipSDPLayer or None, got {type(layer).__name__}")
    if layer is not None and (layer.m, layer.d) != (m, d):
        raise ValueError(f"layer is built for m={layer.m}, d={layer.d}, but the model has "
                         f"m={m}, d={d}")
    if solver.uses_torch:
        try:
            return dual_certificate(hidden.weight, output.weight[0])[0]
        except RuntimeError as exc:
            warnings.warn(f"lipschitz_penalty: {exc}; using LipSDPLayer (SCS) for this call",
                          RuntimeWarning, stacklevel=2)
    if layer is None:
        layer = LipSDPLayer(m, d)
    return layer(hidden.weight, output.weight[0], solver_args=solver_args)


def __getattr__(name: str):
    # train_sgd_lip lived here until 0.1; its home is torch_lipcvx.train (kept for one release)
    if name == "train_sgd_lip":
        import warnings as _warnings
        _warnings.warn("torch_lipcvx.layers.train_sgd_lip is deprecated and will be removed in "
                       "the next release: import it from torch_lipcvx.train (or torch_lipcvx)",
                       DeprecationWarning, stacklevel=2)
        from .train import train_sgd_lip
        return train_sgd_lip
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
