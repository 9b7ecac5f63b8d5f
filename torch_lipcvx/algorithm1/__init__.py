"""Algorithm 1 and its variants (docs/algorithm1.md, docs/programs.md).

* :mod:`.descent` — the one accept/reject rule (:class:`~.descent.Descent`): each candidate is
  scored on the network with a fresh certificate and accepted only if J does not rise; every
  rejection is recorded. The three drivers below are its clients.
* :mod:`.postprocess` — :func:`~.postprocess.postprocess`: Algorithm 1 (LipSDP and the restriction
  (12) in turn) and the ℓ2 program (6) (:func:`~.postprocess.solve_l2_program`).
* :mod:`.extensions` — the α-step, pattern re-extraction, the extended driver
  (:func:`~.extensions.postprocess_extended`) and samp-lip (:func:`~.extensions.sampled_lipschitz`).
* :mod:`.path` — the regularisation path over λ (:func:`~.path.regularisation_path`) and
  :class:`~.path.RestrictionLayer`, the restriction (12) as a differentiable layer.
* :mod:`.select` — λ chosen on held-out data (:func:`~.select.select_lam`): Algorithm 1 over a λ
  grid on the training data, each candidate (the input network included) scored on a validation
  split by clean MSE, PGD MSE or a certified-L budget.

The public names are importable from :mod:`torch_lipcvx` itself. (This package re-exports
nothing, so ``torch_lipcvx.algorithm1.postprocess`` is always the module.)
"""
