"""Lightning training of shallow ReLU networks for regression (``docs/conventions.md``,
``docs/attacks.md``).

* :class:`ShallowReLURegressor` wraps a :class:`~torch_lipcvx.models.ShallowReLU` (kept in
  ``.model``) and minimises, per minibatch ``B``,

      (1/|B|) Σ_{i∈B} (f(x_i) − y_i)²  +  (β/2) Σ_j (‖w̃_j‖² + α_j²)          (eps = 0)

  (``docs/conventions.md`` with ``λ = 0``; ``w̃_j = [w_j; b_j]``, the output bias is not
  penalised), or with ``eps > 0`` the same objective at PGD-attacked points ``x_i + δ_i``,
  ``‖δ_i‖_p ≤ eps`` (Madry et al. 2018; the same step as :func:`torch_lipcvx.train.train_pgd`).
  Validation logs the clean MSE and, optionally, the adversarial MSE (a lower bound on the
  worst case), the certified adversarial MSE (an upper bound) and the Lipschitz interval,
  through :mod:`torch_lipcvx.metrics`.
* :class:`RegressionDataModule` serves tensors ``X (n, d)``, ``y (n,)`` (and optional validation
  tensors) as ``(X_batch, y_batch)`` minibatches.

Vector outputs and other losses: ``ShallowReLU(d, m, out_features=k)`` and ``loss=`` (a
:mod:`torch_lipcvx.losses` name or object; ``None`` is the squared error): the data term is then
``(1/|B|) Σ_i ℓ(f(x_i), y_i)`` (``get_loss(loss).value(pred, y).mean()``; for the squared loss
with ``k`` outputs ``(1/|B|)‖F − Y‖²_F``, the data term of ``J``). One output with the squared
loss runs the code of the scalar regressor unchanged.

Convex post-processing (Algorithm 1) operates on ``pl_module.model``, a plain ``ShallowReLU``.
Units: ``eps`` is in the units the model sees (standardised inputs: standard deviations).
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, Optional, Union

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MeanMetric, MeanSquaredError

from .. import defaults
from .._checks import (check_nonneg, check_norm, check_positive, check_positive_int, check_seed,
                      check_Xy, seeded_generator)
from ..attacks import NormLike, _check_alpha, pgd_attack, pgd_classification
from ..bounds import lipschitz_bounds
from ..losses import LossLike, SquaredError, get_loss
from ..metrics import (AdversarialMSE, CertifiedAccuracy, CertifiedAdversarialMSE,
                       RobustAccuracy, log_lipschitz_interval)
from ..models import ShallowReLU, as_shallow_relu
from ..objective import lipschitz_term, mse, training_loss

__all__ = ["RegressionDataModule", "ShallowReLURegressor"]


def _check_lipschitz_options(options: Optional[dict]) -> dict:
    """A dict of keyword arguments of :func:`~torch_lipcvx.bounds.lipschitz_bounds` (other than
    ``model``, ``norm`` and ``X``, which :func:`log_lipschitz_interval` sets), checked now rather
    than at the first validation epoch end."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"lipschitz_options must be a dict or None, got {type(options).__name__}")
    allowed = sorted(set(inspect.signature(lipschitz_bounds).parameters) - {"model", "norm", "X"})
    unknown = sorted(k for k in options if k not in allowed)
    if unknown:
        raise ValueError(f"lipschitz_options has unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(allowed)} (norm is the module's own)")
    return dict(options)


def check_Xy_outputs(X, y, d: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """:func:`~torch_lipcvx._checks.check_Xy` for ``y (n,)``/``(n, 1)`` (targets or class
    labels, flattened), and ``y (n, k)`` with ``k ≥ 2`` outputs (finite, kept as ``(n, k)``)."""
    return check_Xy(X, y, d, multi=True)


_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16}


def _dtype_name(dtype: Union[str, torch.dtype, None]) -> Optional[str]:
    """``torch.float64`` or ``"float64"`` → ``"float64"`` (hparams stay plain strings)."""
    if dtype is None:
        return None
    name = str(dtype).replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)} (or the torch dtype), got {dtype!r}")
    return name


class ShallowReLURegressor(pl.LightningModule):
    """A ``LightningModule`` training a shallow ReLU regression network, plainly or adversarially.

    Pass either ``in_features`` (a new ``ShallowReLU(in_features, hidden)`` initialised from a
    generator seeded by ``seed``; the global RNG is not used) or ``model=`` (a ``ShallowReLU``,
    trained in place as usual in Lightning, or a conforming ``nn.Sequential``, converted to a
    ``ShallowReLU`` copy). Either way the network is ``self.model``; ``forward(X)`` returns
    ``self.model(X)``, shape ``(n,)`` (``(n, k)`` for ``k ≥ 2`` outputs). Batches are ``(X, y)``
    with ``X (n, d)``, ``y (n,)`` or ``(n, 1)``, cast to the model's dtype; with ``k`` outputs or
    another ``loss``, ``y`` is what the loss takes (``(n, k)`` floats for the squared and Huber
    losses, integer class labels ``(n,)`` for ``"logistic"`` and ``"cross_entropy"``).

    Training objective per batch (logged, epoch-averaged, as ``train_loss``):
    ``data + (beta/2)·l2_penalty(model) + lam·L²`` where ``data`` is the MSE ``train_mse``
    (``eps = 0``) or the PGD adversarial MSE ``train_adv_mse`` (``eps > 0``; the clean
    ``train_mse`` is logged too) and ``L`` is the certified LipSDP ℓ2 bound, differentiated through
    its dual (:func:`~torch_lipcvx.layers.lipschitz_penalty`, one LipSDP solve per step, logged as
    ``train_lipschitz``; "SGD-lip", ``docs/conventions.md``). Under DDP every rank computes the
    same penalty from the same weights, and the epoch values of the ``train_*`` logs are
    averaged over the batches of every rank (``sync_dist``).

    Other losses or ``k ≥ 2`` outputs (docs/losses.md): the data term is the mean loss
    ``get_loss(loss).value(f(X), y).mean()``, logged as ``train_mse`` for the squared loss
    (``(1/|B|)‖F − Y‖²_F``) and as ``train_data_loss`` otherwise; validation logs ``val_mse``
    (squared) or ``val_loss`` (the mean loss), and ``val_acc`` for classification losses. The
    attacks of a classifier (``eps > 0``) are :func:`~torch_lipcvx.attacks.pgd_classification`
    on the cross-entropy, its validation metrics ``val_robust_acc`` (:class:`RobustAccuracy`)
    and ``val_certified_acc`` (:class:`CertifiedAccuracy`). With ``k ≥ 2`` outputs ``lam > 0``
    penalises the certified vector LipSDP bound (the LMI with ``AAᵀ``,
    :func:`~torch_lipcvx.layers.vector_certificate`, differentiated through its certificate),
    and adversarial regression (``eps > 0``) attacks ``‖f(x) − y‖²`` with
    :func:`~torch_lipcvx.attacks.pgd_attack` (``val_adv_mse`` too, and with ``val_certified``
    the certified bound ``(‖f(x) − y‖₂ + Lε)²``, docs/losses.md §1).

    Validation logs ``val_mse`` and, when enabled, ``val_adv_mse`` (:class:`AdversarialMSE`, a
    lower bound on the worst-case MSE), ``val_certified_adv_mse`` (:class:`CertifiedAdversarialMSE`
    with LipSDP's ``L``, an upper bound) and ``lipschitz/lower``, ``lipschitz/upper``
    (:func:`log_lipschitz_interval`). ``trainer.test`` logs the same with ``test_`` prefixes
    (the Lipschitz interval only at validation).

    Args:
        in_features: input dimension ``d`` (with ``model=None``).
        hidden: hidden units ``m`` (with ``model=None``).
        model: an existing network instead of ``in_features``/``hidden``.
        beta: ℓ2 weight ``β >= 0`` (``docs/conventions.md``: the hidden bias is penalised,
            ``c`` is not).
        lam: Lipschitz weight ``λ >= 0`` on the certified ``L²`` (ℓ2, whatever ``norm``); ``0``
            (default) adds nothing.
        lr: learning rate ``> 0``.
        optimizer: ``"adam"`` (PyTorch defaults) or ``"sgd"`` (no momentum).
        eps: training attack radius ``>= 0``; ``0`` is plain training.
        norm: ``2`` or ``inf``, the norm of every attack and of the Lipschitz bounds.
        attack_steps: PGD steps per training batch, ``>= 1``.
        attack_alpha: PGD step size; default ``2.5·eps/attack_steps``.
        val_eps: validation attack radius; ``None`` means ``eps``; ``0`` disables the adversarial
            validation metrics.
        val_attack_steps: PGD steps for ``val_adv_mse``.
        val_certified: also log ``val_certified_adv_mse`` (needs a validation radius ``> 0``;
            one LipSDP solve per validation epoch).
        log_lipschitz: log ``lipschitz/lower`` and ``lipschitz/upper`` at every validation epoch
            end (one LipSDP solve and a gradient-norm search).
        lipschitz_options: extra arguments for :func:`~torch_lipcvx.bounds.lipschitz_bounds`
            when logging the interval (``n_samples``, ``ascent_steps``, ``solver``, ...).
        seed: initialisation (``seed``), training attacks (``seed + 2``) and validation attacks
            (``seed + 3``) each draw from their own seeded ``torch.Generator``.
        dtype: dtype of a new network (default: PyTorch's default dtype). With ``model=`` it is
            recorded from the model, so that ``load_from_checkpoint`` rebuilds the same network.
        out_features: outputs ``k`` of a new network (default 1; with ``model=`` recorded from
            the model).
        loss: the data term's loss: ``None`` (default, the squared error), a name of
            :func:`~torch_lipcvx.losses.get_loss` (``"squared"``, ``"huber"``, ``"logistic"``,
            ``"cross_entropy"``) or a :class:`~torch_lipcvx.losses.Loss`.

    The hyperparameters are saved (``save_hyperparameters``, ``model`` excluded); the network's
    actual size, output bias and dtype are recorded (with ``model=``, in place of the unused
    arguments), so ``ShallowReLURegressor.load_from_checkpoint(path)`` needs no arguments. The
    attack generators' states go into checkpoints too.

    Example (not run as a doctest)::

        module = ShallowReLURegressor(d, hidden=100, beta=1e-3, eps=0.1, val_certified=True)
        dm = RegressionDataModule(X, y, X_val, y_val, batch_size=64)
        pl.Trainer(max_epochs=50, accelerator="cpu").fit(module, datamodule=dm)
        net = module.model            # the trained ShallowReLU, e.g. for postprocess(net, X, y)

    Raises:
        ValueError: neither or both of ``in_features`` and ``model``; a model that is not a
            shallow ReLU network; ``beta < 0``, ``lr <= 0``, unknown optimizer or norm,
            ``eps < 0``, ``attack_steps < 1``, ``val_certified`` with a zero validation radius,
            ``lipschitz_options`` keys that :func:`lipschitz_bounds` does not take.
        TypeError: a non-integer ``seed``; ``lipschitz_options`` not a dict.
    """

    def __init__(self, in_features: Optional[int] = None, hidden: int = defaults.HIDDEN, *,
                 model: Optional[nn.Module] = None, beta: float = defaults.BETA, lam: float = 0.0,
                 lr: float = defaults.LR,
                 optimizer: Literal["adam", "sgd"] = "adam", eps: float = 0.0,
                 norm: NormLike = 2, attack_steps: int = 10, attack_alpha: Optional[float] = None,
                 val_eps: Optional[float] = None, val_attack_steps: int = 20,
                 val_certified: bool = False, log_lipschitz: bool = False,
                 lipschitz_options: Optional[dict] = None, output_bias: bool = True,
                 seed: int = 0, dtype: Union[str, torch.dtype, None] = None,
                 out_features: int = 1, loss: LossLike = None) -> None:
        super().__init__()
        if (model is None) == (in_features is None):
            raise ValueError("pass exactly one of in_features (to build a new ShallowReLU) and "
                             f"model=, got in_features={in_features!r} and "
                             f"model={'None' if model is None else type(model).__name__}")
        check_seed(seed)
        loss_fn = get_loss(loss)
        if model is not None:
            net = as_shallow_relu(model, "model")
        else:
            check_positive_int(hidden, "hidden")
            check_positive_int(out_features, "out_features")
            net = ShallowReLU(in_features, hidden, out_features, output_bias=output_bias,
                              dtype=_DTYPES.get(_dtype_name(dtype)),
                              generator=torch.Generator().manual_seed(seed))
        # save_hyperparameters reads these locals: record the network actually built, so that
        # load_from_checkpoint (and the loggers' hparams) rebuild it without `model=`
        in_features, hidden, output_bias = net.in_features, net.m, net.has_output_bias
        out_features = net.out_features
        dtype = _dtype_name(net.dtype)
        self.save_hyperparameters(ignore=["model"])
        self.model: ShallowReLU = net
        #: the data term's loss; ``_scalar_mse``: one output and the squared error (the code
        #: path of the scalar regressor, unchanged)
        self.loss_fn = loss_fn
        self._scalar_mse = net.out_features == 1 and isinstance(loss_fn, SquaredError)

        self.beta = check_nonneg(beta, "beta")
        self.lam = check_nonneg(lam, "lam")
        self.lr = check_positive(lr, "lr")
        if not isinstance(optimizer, str) or optimizer.lower() not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        self.optimizer_name = optimizer.lower()
        self.eps = check_nonneg(eps, "eps")
        self.norm = check_norm(norm)
        self.attack_steps = check_positive_int(attack_steps, "attack_steps")
        self.attack_alpha = _check_alpha(attack_alpha, "attack_alpha")
        self.val_eps = self.eps if val_eps is None else check_nonneg(val_eps, "val_eps")
        check_positive_int(val_attack_steps, "val_attack_steps")
        if val_certified and self.val_eps == 0:
            raise ValueError("val_certified=True needs a validation radius > 0: set val_eps "
                             f"(now {val_eps!r}) or eps (now {eps!r})")
        self.log_lipschitz = bool(log_lipschitz)
        self.lipschitz_options = _check_lipschitz_options(lipschitz_options)

        self._attack_gen = seeded_generator(seed, 2)
        self._val_gen = seeded_generator(seed, 3)
        self.val_metrics = self._make_metrics(val_attack_steps, val_certified)
        self.test_metrics = self._make_metrics(val_attack_steps, val_certified)

    def _make_metrics(self, steps: int, certified: bool) -> nn.ModuleDict:
        """``mse`` and, for a validation radius > 0, ``adv_mse`` (and ``certified_adv_mse``);
        other losses or ``k ≥ 2``: ``mse`` or ``loss`` (mean loss), ``acc``, ``robust_acc``,
        ``certified_acc`` (classification)."""
        if not self._scalar_mse:
            return self._make_loss_metrics(steps, certified)
        metrics = nn.ModuleDict({"mse": MeanSquaredError()})
        if self.val_eps > 0:
            metrics["adv_mse"] = AdversarialMSE(self.val_eps, self.norm, steps=steps,
                                                generator=self._val_gen)
            if certified:
                metrics["certified_adv_mse"] = CertifiedAdversarialMSE(self.val_eps, None, self.norm)
        if self.model.dtype == torch.float64:
            # torchmetrics accumulates in float32 unless told: a float64 network's validation
            # MSE is then its float64 MSE (the value ConvexPostProcessing's refresh reports)
            for metric in metrics.values():
                metric.set_dtype(torch.float64)
        return metrics

    def _make_loss_metrics(self, steps: int, certified: bool) -> nn.ModuleDict:
        """The metrics for another loss or ``k ≥ 2`` outputs: ``mse`` (squared loss, the data
        term ``(1/n)Σ‖F_i − Y_i‖²``) or ``loss`` (the mean loss); for classification losses also
        ``acc`` and, for a validation radius > 0, ``robust_acc`` (and ``certified_acc``)."""
        key = "mse" if isinstance(self.loss_fn, SquaredError) else "loss"
        metrics = nn.ModuleDict({key: MeanMetric()})
        if self.loss_fn.classification:
            metrics["acc"] = MeanMetric()
            if self.val_eps > 0:
                metrics["robust_acc"] = RobustAccuracy(self.val_eps, self.norm, steps=steps,
                                                       generator=self._val_gen)
                if certified:
                    metrics["certified_acc"] = CertifiedAccuracy(self.val_eps, None, self.norm)
        elif self.val_eps > 0:       # PGD on ‖f(x) − y‖² for k outputs (pgd_attack)
            metrics["adv_mse"] = AdversarialMSE(self.val_eps, self.norm, steps=steps,
                                                generator=self._val_gen)
            if certified:
                metrics["certified_adv_mse"] = CertifiedAdversarialMSE(self.val_eps, None,
                                                                       self.norm)
        if self.model.dtype == torch.float64:
            for metric in metrics.values():
                metric.set_dtype(torch.float64)
        return metrics

    # ------------------------------------------------------------------ steps
    def forward(self, X: Tensor) -> Tensor:
        """``f(X)``: ``(n, d) -> (n,)`` (``(n, k)`` for ``k ≥ 2`` outputs)."""
        return self.model(X)

    def _batch(self, batch) -> tuple[Tensor, Tensor]:
        """``(X, y)`` cast to the model's dtype, ``y`` flattened to ``(n,)`` (other losses or
        ``k ≥ 2``: ``y`` as the loss's ``targets`` returns it)."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("batches must be pairs (X, y) with X (n, d) and y (n,), got "
                             f"{type(batch).__name__}" + (f" of length {len(batch)}"
                                                          if isinstance(batch, (tuple, list)) else ""))
        X, y = batch
        dtype = self.model.dtype
        if not self._scalar_mse:
            X = X.to(dtype=dtype)
            if X.dim() != 2:
                raise ValueError(f"batches must be (X, y) with X (n, d), got X {tuple(X.shape)}")
            y = self.loss_fn.targets(y, X.shape[0], self.model.out_features, dtype)
            return X, y.to(X.device)
        X, y = X.to(dtype=dtype), y.to(dtype=dtype)
        if y.dim() == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if X.dim() != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"batches must be (X, y) with X (n, d) and y (n,) or (n, 1), got X "
                             f"{tuple(X.shape)} and y {tuple(y.shape)}")
        return X, y

    def _data_term(self, X: Tensor, y: Tensor) -> Tensor:
        """The mean loss on ``(X, y)`` (the MSE for one output and the squared error)."""
        if self._scalar_mse:
            return mse(self.model(X), y)
        return self.loss_fn.value(self.model(X), y).mean()

    def _attack(self, X: Tensor, y: Tensor) -> Tensor:
        """The training attack's points: PGD on the squared error ``‖f(x) − y‖²`` (regression,
        any ``k``) or on the cross-entropy (classification)."""
        if self.loss_fn.classification:
            return pgd_classification(self.model, X, y, self.eps, self.norm,
                                      steps=self.attack_steps, alpha=self.attack_alpha,
                                      random_start=True, generator=self._attack_gen).X_adv
        return pgd_attack(self.model, X, y, self.eps, self.norm, steps=self.attack_steps,
                          alpha=self.attack_alpha, random_start=True,
                          generator=self._attack_gen).X_adv

    def training_step(self, batch, batch_idx: int) -> Tensor:
        """``data + (β/2)·l2_penalty + λ·L²``; ``data`` is the clean or the PGD adversarial MSE
        (the mean loss for another loss or ``k ≥ 2`` outputs)."""
        X, y = self._batch(batch)
        n = X.shape[0]
        if not self._scalar_mse:
            return self._loss_training_step(X, y)
        if self.eps > 0:
            X_adv = pgd_attack(self.model, X, y, self.eps, self.norm, steps=self.attack_steps,
                               alpha=self.attack_alpha, random_start=True,
                               generator=self._attack_gen).X_adv
            data = mse(self.model(X_adv), y)
            with torch.no_grad():
                clean = mse(self.model(X), y)
            self.log("train_adv_mse", data.detach(), on_step=False, on_epoch=True, batch_size=n,
                     sync_dist=True)
        else:
            data = mse(self.model(X), y)
            clean = data.detach()
        loss = training_loss(data, self.model, beta=self.beta)
        if self.lam > 0:
            from ..layers import lipschitz_penalty
            rho = lipschitz_penalty(self.model)
            loss = loss + lipschitz_term(self.lam, rho)
            self.log("train_lipschitz", rho.detach().sqrt(), on_step=False, on_epoch=True,
                     batch_size=n, sync_dist=True)
        # sync_dist: under DDP the epoch values are averaged over every rank's batches (one
        # reduction per epoch), not over rank zero's shard only
        self.log("train_mse", clean, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=n, sync_dist=True)
        return loss

    def _loss_training_step(self, X: Tensor, y: Tensor) -> Tensor:
        """:meth:`training_step` for another loss or ``k ≥ 2`` outputs: the data term is
        ``loss.value(f(X), y).mean()``, logged as ``train_mse`` (squared) or ``train_data_loss``
        (``train_adv_*`` for the attacked data term)."""
        n = X.shape[0]
        name = "mse" if isinstance(self.loss_fn, SquaredError) else "data_loss"
        if self.eps > 0:
            data = self._data_term(self._attack(X, y), y)
            with torch.no_grad():
                clean = self._data_term(X, y)
            self.log(f"train_adv_{name}", data.detach(), on_step=False, on_epoch=True,
                     batch_size=n, sync_dist=True)
        else:
            data = self._data_term(X, y)
            clean = data.detach()
        loss = training_loss(data, self.model, beta=self.beta)
        if self.lam > 0:             # k >= 2 outputs: the vector LipSDP (vector_certificate)
            from ..layers import lipschitz_penalty
            rho = lipschitz_penalty(self.model)
            loss = loss + lipschitz_term(self.lam, rho)
            self.log("train_lipschitz", rho.detach().sqrt(), on_step=False, on_epoch=True,
                     batch_size=n, sync_dist=True)
        self.log(f"train_{name}", clean, on_step=False, on_epoch=True, batch_size=n,
                 sync_dist=True)
        self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=n, sync_dist=True)
        return loss

    def _evaluate(self, batch, metrics: nn.ModuleDict, prefix: str) -> None:
        X, y = self._batch(batch)
        n = X.shape[0]
        if not self._scalar_mse:
            self._evaluate_loss(X, y, metrics, prefix)
            return
        metrics["mse"].update(self.model(X), y)
        for name, metric in metrics.items():
            if name != "mse":
                metric.update(self.model, X, y)
        for name, metric in metrics.items():
            self.log(f"{prefix}_{name}", metric, on_step=False, on_epoch=True,
                     prog_bar=name == "mse", batch_size=n)

    def _evaluate_loss(self, X: Tensor, y: Tensor, metrics: nn.ModuleDict, prefix: str) -> None:
        """:meth:`_evaluate` for another loss or ``k ≥ 2`` outputs (the metrics of
        :meth:`_make_loss_metrics`)."""
        n = X.shape[0]
        with torch.no_grad():
            pred = self.model(X)
            values = self.loss_fn.value(pred, y)
        main = "mse" if "mse" in metrics else "loss"
        metrics[main].update(values)
        if "acc" in metrics:
            hit = (pred > 0).long() == y if pred.dim() == 1 else pred.argmax(dim=1) == y
            metrics["acc"].update(hit.to(values.dtype))
        for name, metric in metrics.items():
            if name not in (main, "acc"):
                metric.update(self.model, X, y)
        for name, metric in metrics.items():
            self.log(f"{prefix}_{name}", metric, on_step=False, on_epoch=True,
                     prog_bar=name == main, batch_size=n)

    def validation_step(self, batch, batch_idx: int) -> None:
        """Update and log ``val_mse`` (and the enabled adversarial metrics)."""
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        """Update and log ``test_mse`` (and the enabled adversarial metrics)."""
        self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """``f(X)`` for a batch ``X`` or ``(X, y)``: ``(n,)`` (``(n, k)`` for ``k ≥ 2``)."""
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.model(X.to(dtype=self.model.dtype))

    def on_validation_epoch_end(self) -> None:
        """Log ``lipschitz/lower`` and ``lipschitz/upper`` when ``log_lipschitz``."""
        if self.log_lipschitz:
            log_lipschitz_interval(self, self.model, norm=self.norm,
                                   bounds_kwargs=self.lipschitz_options)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam (PyTorch defaults) or plain SGD on the network's parameters, at ``lr``."""
        if self.optimizer_name == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=self.lr)
        return torch.optim.SGD(self.model.parameters(), lr=self.lr)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the attack generators' states, so a resumed run draws the same attacks."""
        checkpoint["torch_lipcvx_generators"] = {"attack": self._attack_gen.get_state(),
                                                 "val": self._val_gen.get_state()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the attack generators' states (absent in foreign checkpoints: kept as is)."""
        states = checkpoint.get("torch_lipcvx_generators")
        if states:
            # torch.load(map_location="cuda") moves these CPU ByteTensors too; set_state wants CPU
            self._attack_gen.set_state(states["attack"].cpu())
            self._val_gen.set_state(states["val"].cpu())


class RegressionDataModule(pl.LightningDataModule):
    """Tensors ``X (n, d)``, ``y (n,)`` (and optional validation tensors) as a
    ``LightningDataModule``.

    Batches are ``(X_batch, y_batch)``. The training loader reshuffles every epoch from a
    generator seeded by ``seed`` (reproducible); its state goes into checkpoints, so a resumed
    ``fit`` shuffles as the uninterrupted one would have. The validation loader keeps the order.
    ``val_dataloader`` exists only when ``X_val``/``y_val`` are given; without them Lightning
    skips the validation loop (it warns that ``validation_step`` has no ``val_dataloader``).

    Args:
        X, y: training inputs ``(n, d)`` and targets ``(n,)`` or ``(n, 1)`` (flattened), or
            ``(n, k)`` for ``k ≥ 2`` outputs, finite (class labels: ``(n,)`` integers).
        X_val, y_val: validation data, both or neither, with the same ``d``.
        batch_size: minibatch size ``>= 1``; ``None`` means one full batch.
        seed: shuffling seed.
        num_workers: ``DataLoader`` workers.

    Raises:
        ValueError: bad shapes, NaN/Inf, only one of ``X_val``/``y_val``, ``batch_size < 1``.
        TypeError: a non-integer ``seed``.
    """

    def __init__(self, X: Tensor, y: Tensor, X_val: Optional[Tensor] = None,
                 y_val: Optional[Tensor] = None, batch_size: Optional[int] = None, *,
                 seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        X, y = check_Xy_outputs(X, y)
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        check_seed(seed)
        self.train_set = TensorDataset(X, y)
        self.val_set = None
        if X_val is not None:
            X_val, y_val = check_Xy_outputs(X_val, y_val, X.shape[1])
            self.val_set = TensorDataset(X_val, y_val)
            # as LightningDataModule.from_datasets: a loader method only when there is data
            self.val_dataloader = self._val_dataloader  # type: ignore[method-assign]
        self.batch_size = batch_size
        self.seed = seed
        self._train_gen = torch.Generator().manual_seed(seed)
        self.num_workers = check_positive_int(num_workers, "num_workers", minimum=0)

    def _size(self, dataset: TensorDataset) -> int:
        return len(dataset) if self.batch_size is None else self.batch_size

    def train_dataloader(self) -> DataLoader:
        """Shuffled minibatches of the training data.

        Every loader draws from the one generator of this DataModule (seeded by ``seed`` at
        construction), so each epoch gets a new order and a second ``fit`` continues the stream.
        """
        return DataLoader(self.train_set, batch_size=self._size(self.train_set), shuffle=True,
                          generator=self._train_gen, num_workers=self.num_workers)

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state; Lightning stores it in checkpoints, so a resumed
        ``fit`` shuffles its next epochs exactly as the uninterrupted run would have."""
        return {"shuffle_generator": self._train_gen.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the shuffling generator (a checkpoint without it leaves the seed's state)."""
        state = state_dict.get("shuffle_generator")
        if state is not None:
            # a checkpoint loaded with map_location="cuda" moves this CPU state tensor too
            self._train_gen.set_state(state.cpu())

    def _val_dataloader(self) -> DataLoader:
        """Minibatches of the validation data, in order."""
        return DataLoader(self.val_set, batch_size=self._size(self.val_set), shuffle=False,
                          num_workers=self.num_workers)
