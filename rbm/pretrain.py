"""Greedy pretraining of RBM layers with any negative-phase sampler.

The positive phase comes from data (the free energy marginalises the hidden units exactly, i.e. it
uses hidden probabilities, not samples); the negative phase comes from whatever object is passed as
``sampler`` (see ``docs/interfaces.md``: CD-k, PCD, a torch annealer, dwave-samplers SA, a QPU…).
The loss of one batch is, with ``F(v) = F_vis(v) + F_hid(v)`` split by
``model.free_energy_parts`` into its visible-bias part ``F_vis = -b_v · v`` (a sum over the N
pixels) and its hidden part ``F_hid = -Σ softplus`` (a sum over the P hidden positions per filter,
or their pooling blocks),

    F_hid(v_data).mean() / P(data) − F_hid(v_neg).mean() / P(canvas)
    + [F_vis(v_data).mean() / N(data) − F_vis(v_neg).mean() / N(canvas)] · N(data) / P(data)
    [+ sparsity] [+ weight cost]

Its autograd gradient estimates (1/P(data)) · ∇[−log p(v_data)] of the RBM on a data-sized image:
the data-phase statistics are exact (hidden probabilities, not samples); the model-phase ones are
taken per unit from the canvas: couplings ⟨h v⟩ and hidden biases ⟨h⟩ per hidden position,
visible biases ⟨v⟩ per pixel, then scaled to the data image's counts. So the weight and
hidden-bias gradients are −(⟨v hᵀ⟩_data − ⟨v hᵀ⟩_model) with both averages per hidden position
(docs/design.md §1, §3: conv RBM gradients must be averaged over positions, not summed), and the
visible-bias gradient is (N(data) / P(data)) · (pixel mean of v_neg − pixel mean of v_data) per
channel: zero exactly when the two pixel means agree, whatever the canvas size. For a dense RBM, and for a canvas equal to the
data size, this is bit for bit the gradient of ``(F(v_data).mean() − F(v_neg).mean()) / P(data)``
(the loss value itself may differ in the last bits: the parts are summed in another order).

Border effect of a small canvas: the per-unit model statistics of a canvas estimate those of a
data-sized image only as far as the model is translation invariant, which it is not near the
edges. A pixel within ``w − 1`` of an edge (kernel ``w``) is covered by fewer than ``w²`` filter
positions, and a hidden unit near the edge of the hidden map has fewer overlapping neighbours, so
their marginals differ from interior ones. The share of such pixels is ``1 − (H − 2w + 2)(W − 2w +
2) / (H W)``: 49 % on 28×28 and 89 % on a 12×12 canvas with 5×5 filters (100 % on 8×8). A canvas
smaller than the data therefore over-weights border statistics in the negative phase: a bias that
vanishes as the canvas grows, and is zero for a canvas of the data size (both phases then have the
same geometry).

This module never imports ``sampling/`` or dimod: any object with ``sample(model, v_data)`` works.

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> class DataGibbs:  # a one-step Gibbs sampler started at the data (CD-1), written inline
    ...     beta, last_info = 1.0, {}
    ...     def sample(self, model, v):
    ...         h = model.sample_h_given_v(v)
    ...         v = model.sample_v_given_h(h)
    ...         return v, model.sample_h_given_v(v)
    >>> x = (torch.rand(64, 6) < 0.5).float()
    >>> history = pretrain_layer(BernoulliRBM(6, 3), x, DataGibbs(), PretrainConfig(epochs=2))
    >>> [(h["stage"], h["epoch"]) for h in history]
    [('pretrain', 1), ('pretrain', 2)]
    >>> history[-1]["train_log_likelihood"] < 0  # exact: 6 visible units enumerate quickly
    True
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rbm.activity import filter_diversity, hidden_activity, per_unit_activity
from rbm.centering import Centering
from rbm.errors import RBMError
from rbm.evaluate import exact_log_likelihood, reconstruction_error

__all__ = [
    "PretrainConfig",
    "DivergenceError",
    "pretrain_layer",
    "layer_loss",
    "make_optimizer",
    "init_layer",
    "center_filters",
    "clip_filter_norms",
    "scheduled_lr",
]

log = logging.getLogger(__name__)


class DivergenceError(RBMError, RuntimeError):
    """Training produced NaN/Inf; the message names the layer, epoch and a suggestion."""


@dataclass
class PretrainConfig:
    """Hyper-parameters of greedy RBM pretraining (Hinton's practical guide defaults).

    ``lr`` is per hidden position (the loss is averaged over positions), so the same value suits
    dense and convolutional layers of any image size.

    Sparsity, two mechanisms (both act on the detection units' mean on-probability q_k per
    filter): ``sparsity_cost`` adds the squared penalty of :meth:`rbm.RBM.sparsity_penalty` to the
    loss; ``sparsity_rate`` applies Lee et al.'s hidden-bias step ``b_k += rate (target − q_k)``
    after every update (:func:`rbm.activity.sparsity_bias_step`). Both need ``sparsity_target``.

    ``lr_final``: when set, the learning rate falls linearly per minibatch from ``lr`` to
    ``lr_final`` over the ``epochs`` (:func:`scheduled_lr`). ``init_filter_norm`` and
    ``hidden_bias_init``: when set, :func:`pretrain_layer` re-draws every filter (conv: over
    channels and taps; dense: every hidden unit's weights) as Gaussian noise of that L2 norm, and
    fills the hidden biases, before the first epoch (:func:`init_layer`; not on a resumed run). A
    norm rather than a std keeps the pre-activation scale alike across layers of any fan-in. ``zero_mean_filters``: after every update subtract from each filter its mean
    over channels and taps (:func:`center_filters`), so no filter can become a uniform blob.
    ``max_filter_norm``: then scale down every filter whose L2 norm exceeds it
    (:func:`clip_filter_norms`, the max-norm constraint). ``centering``: replace every step's
    gradients by the centered ones (:class:`rbm.centering.Centering`: offsets μ, the data's mean
    per visible unit / input channel, and λ, a running mean of the hidden activity), which removes
    the mean-patch push that otherwise drives every filter toward the same blob.
    """

    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    optimizer: str = "sgd"  # sgd (with momentum) | adam
    weight_decay: float = 1e-4  # L2 cost on weights only (not biases)
    sparsity_target: float | None = None  # target mean hidden activation, e.g. 0.05
    sparsity_cost: float = 0.0
    sparsity_rate: float = 0.0  # Lee et al.'s hidden-bias step toward sparsity_target
    lr_final: float | None = None  # linear decay per minibatch from lr to this
    init_filter_norm: float | None = None  # random restart: every filter with this L2 norm
    hidden_bias_init: float | None = None
    zero_mean_filters: bool = False  # project each filter to zero mean after every update
    max_filter_norm: float | None = None  # max-norm constraint on every filter after each update
    centering: bool = False  # centered gradients (Melchior et al. 2016)
    exact_ll_max_units: int = 20  # compute exact log-likelihood per epoch when the smaller side fits
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"pretrain epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"pretraining learning rate must be positive, got {self.lr}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected 'sgd' or 'adam'")
        if self.sparsity_target is not None and not 0 < self.sparsity_target < 1:
            raise ValueError(f"sparsity target must be in (0, 1), got {self.sparsity_target}")
        for name in ("sparsity_cost", "sparsity_rate", "weight_decay"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.sparsity_rate and self.sparsity_target is None:
            raise ValueError("sparsity_rate needs a sparsity_target in (0, 1)")
        if self.lr_final is not None and not (0 <= self.lr_final and math.isfinite(self.lr_final)):
            raise ValueError(f"final learning rate must be >= 0, got {self.lr_final}")
        if self.init_filter_norm is not None and not (
                self.init_filter_norm > 0 and math.isfinite(self.init_filter_norm)):
            raise ValueError(f"init_filter_norm must be positive, got {self.init_filter_norm}")
        if self.max_filter_norm is not None and not (
                self.max_filter_norm > 0 and math.isfinite(self.max_filter_norm)):
            raise ValueError(f"max_filter_norm must be positive, got {self.max_filter_norm}")
        if self.hidden_bias_init is not None and not math.isfinite(self.hidden_bias_init):
            raise ValueError(f"hidden_bias_init must be finite, got {self.hidden_bias_init}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(model: nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
    """A stock torch optimizer over the model's parameters (the model never owns it)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)


def scheduled_lr(config: PretrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of minibatch ``step`` (0-based) of ``total_steps`` in the whole run:
    ``lr`` without ``lr_final``, else linear from ``lr`` (first step) to ``lr_final`` (last)."""
    if config.lr_final is None or total_steps <= 1:
        return config.lr
    frac = min(max(step / (total_steps - 1), 0.0), 1.0)
    return config.lr + frac * (config.lr_final - config.lr)


@torch.no_grad()
def init_layer(model: nn.Module, config: PretrainConfig, layer: int = 0) -> None:
    """Apply ``config.init_filter_norm`` (Gaussian filters of that norm, seeded by
    ``config.seed`` and ``layer``), ``config.hidden_bias_init`` and ``zero_mean_filters`` to
    ``model``; fields left at None / False change nothing."""
    if config.init_filter_norm is not None:
        gen = torch.Generator().manual_seed(config.seed + 7001 * layer + 17)
        w = torch.randn(model.weight.shape, generator=gen, dtype=torch.float64)
        dims = (0,) if w.ndim == 2 else tuple(range(1, w.ndim))
        w = w * (config.init_filter_norm / w.pow(2).sum(dim=dims, keepdim=True).sqrt())
        model.weight.copy_(w)
    if config.hidden_bias_init is not None:
        model.hidden_bias.fill_(config.hidden_bias_init)
    if config.zero_mean_filters:
        center_filters(model)


@torch.no_grad()
def center_filters(model: nn.Module) -> None:
    """Subtract from every filter (conv: over channels and taps; dense: every hidden unit's
    column) its mean, in place: the projection of :attr:`PretrainConfig.zero_mean_filters`."""
    w = model.weight
    if w.ndim == 2:  # dense (n_visible, n_hidden): one column per hidden unit
        w.sub_(w.mean(0, keepdim=True))
    else:
        w.sub_(w.mean(dim=tuple(range(1, w.ndim)), keepdim=True))


@torch.no_grad()
def clip_filter_norms(model: nn.Module, max_norm: float) -> None:
    """Scale every filter (conv: over channels and taps; dense: every hidden unit's column) whose
    L2 norm exceeds ``max_norm`` down to it, in place."""
    w = model.weight
    dims = (0,) if w.ndim == 2 else tuple(range(1, w.ndim))
    norms = w.pow(2).sum(dim=dims, keepdim=True).sqrt()
    w.mul_((max_norm / norms.clamp_min(1e-12)).clamp(max=1.0))


def layer_loss(model: nn.Module, v_data: Tensor, v_neg: Tensor, config: PretrainConfig) -> Tensor:
    """The surrogate loss whose gradient is the per-unit negative log-likelihood gradient (+
    regularisers): hidden terms per hidden position, visible terms per pixel (module docstring).

    Args:
        v_data: positive batch, shape (B, *data_shape).
        v_neg: negative-phase visible samples, shape (N, *canvas_shape); detached here.
    """
    p_data = model.num_positions(tuple(v_data.shape[1:]))
    p_neg = model.num_positions(tuple(v_neg.shape[1:]))
    n_data, n_neg = math.prod(v_data.shape[1:]), math.prod(v_neg.shape[1:])
    vis_data, hid_data = model.free_energy_parts(v_data)
    vis_neg, hid_neg = model.free_energy_parts(v_neg.detach())
    # visible terms per pixel, scaled to a data image's pixels per hidden position: for a canvas
    # of the data size, p_data * n_neg / n_data == p_data exactly (the old F / P loss)
    loss = (
        (vis_data.mean() / p_data - vis_neg.mean() / (p_data * n_neg / n_data))
        + (hid_data.mean() / p_data - hid_neg.mean() / p_neg)
    )
    if config.weight_decay:
        loss = loss + 0.5 * config.weight_decay * model.weight.pow(2).sum()
    if config.sparsity_target is not None and config.sparsity_cost:
        loss = loss + config.sparsity_cost * model.sparsity_penalty(v_data, config.sparsity_target)
    return loss


def _smaller_side(model: nn.Module, data_shape: tuple[int, ...]) -> int:
    n_visible = math.prod(data_shape)
    n_hidden = math.prod(model.hidden_shape(data_shape))
    return min(n_visible, n_hidden)


def pretrain_layer(
    model: nn.Module,
    data: Tensor,
    sampler: Any,
    config: PretrainConfig | None = None,
    *,
    held_out: Tensor | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    layer: int = 0,
    start_epoch: int = 0,
    generator: torch.Generator | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[..., Any] | None = None,
    dist: Any = None,
    centering: Centering | None = None,
) -> list[dict[str, Any]]:
    """Train one RBM layer greedily on ``data`` and return one metrics dict per epoch.

    Args:
        model: an RBM following the model protocol of ``docs/interfaces.md``.
        data: training inputs of this layer, shape (N, *data_shape), values in [0, 1].
        sampler: negative-phase sampler; ``sampler.sample(model, v_batch) -> (v_neg, h_neg)``.
        config: hyper-parameters; default :class:`PretrainConfig`.
        held_out: optional held-out inputs for the free-energy gap (overfitting monitor) and the
            exact test log-likelihood where the model is small enough.
        optimizer: any torch optimizer over ``model.parameters()``; default from ``config``.
        layer: layer index, used in metrics and messages.
        start_epoch: number of epochs already done (a resumed run continues from there).
        generator: CPU generator of the minibatch order; default seeded from ``config.seed`` and
            ``layer``. Pass (and checkpoint) your own to resume a run exactly.
        callback: called with each epoch's metrics dict (e.g. to write metrics.jsonl / checkpoint).
        progress: a tqdm-like factory ``progress(iterable, desc=..., total=...)`` for a live bar.
        dist: data-parallel context (``dataparallel.DataParallel``; ``None``: one process). Every
            rank passes the whole ``data`` and the same ``generator`` state; each trains on its
            rows of every global minibatch with its own ``sampler`` (seed it per rank), and the
            gradients are all-reduced, each rank's weighted by its share of the batch (an explicit
            all-reduce: this loss is not a ``forward()`` call). The epoch ``loss`` is the mean
            global-batch loss; ``sampler_seconds`` the slowest rank's; other sampler metrics are
            averaged over ranks. A sparsity penalty acts on each rank's rows (its batch mean is
            not all-reduced).
        centering: with ``config.centering``, the :class:`rbm.centering.Centering` to use (default:
            a new one, offsets from ``data``); pass (and checkpoint its ``state_dict()``) your own
            to resume a run exactly, as its hidden offset is a running mean.

    Each metrics dict holds ``stage``, ``layer``, ``epoch``, ``loss``, ``reconstruction_error``,
    ``free_energy_gap`` (mean F(held-out) − mean F(train) per position; grows when overfitting),
    ``sampler_seconds``, ``seconds``, any numeric ``last_info`` entries of the sampler averaged over
    the epoch (e.g. ``beta_eff``), the epoch's sum as ``<key>_total`` of those the sampler lists
    in its ``summed_info`` (e.g. ``qpu_access_time_total``, µs of QPU time charged),
    ``hidden_activity`` / ``pooled_activity`` (mean on-probability of the detection / pooling units
    on the first 1,000 training items), ``filter_mean_abs_cos``
    (:func:`rbm.activity.filter_diversity`), and ``exact_log_likelihood`` (train/test) when the
    smaller side of the layer has at most ``config.exact_ll_max_units`` units.

    Raises:
        DivergenceError: the loss or the weights became NaN/Inf; the model keeps its last finite
            state (the caller's last good checkpoint is untouched).
    """
    config = config or PretrainConfig()
    if data.ndim < 2 or data.shape[0] == 0:
        raise ValueError(f"expected pretraining data of shape (N, ...) with N >= 1, got {tuple(data.shape)}")
    optimizer = optimizer or make_optimizer(model, config)
    device = next(model.parameters()).device
    if generator is None:
        generator = torch.Generator().manual_seed(config.seed + 1009 * layer)
    data_shape = tuple(data.shape[1:])
    exact_ok = _smaller_side(model, data_shape) <= config.exact_ll_max_units
    history = []
    if start_epoch == 0:
        init_layer(model, config, layer)
    if dist is not None:
        dist.broadcast_parameters(model)
    if config.centering:
        centering = centering if centering is not None else Centering()
        centering.set_offsets_from(model, data)  # after init_layer; kept when loaded to resume
    else:
        centering = None
    # the loss's units (module docstring): per hidden position, and pixels per channel (dense: 1)
    p_data = model.num_positions(data_shape)
    n_pixels = math.prod(data_shape[-2:]) if model.weight.ndim == 4 else 1
    n_batches = -(-data.shape[0] // config.batch_size)
    total_steps = n_batches * config.epochs
    for group in optimizer.param_groups:  # the scheduled lr scales each group's own base lr
        group.setdefault("initial_lr", group["lr"])
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        order = torch.randperm(data.shape[0], generator=generator)
        batches = order.split(config.batch_size)
        iterator = progress(batches, desc=f"pretrain layer {layer} epoch {epoch + 1}", leave=False) if progress else batches
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for step, index in enumerate(iterator, start=epoch * n_batches):
            if config.lr_final is not None:
                factor = scheduled_lr(config, step, total_steps) / config.lr
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * factor
            weight = 1.0
            if dist is not None:  # this rank's rows of the global minibatch, and their share
                rows, weight = dist.rows(len(index))
                index = index[rows[0] : rows[1]]
            v_data = data[index].to(device)
            t0 = time.perf_counter()
            v_neg, _ = sampler.sample(model, v_data)
            sums["sampler_seconds"] = sums.get("sampler_seconds", 0.0) + time.perf_counter() - t0
            if not torch.isfinite(v_neg).all():
                raise DivergenceError(
                    f"layer {layer}, epoch {epoch + 1}: the negative-phase sampler returned NaN/Inf "
                    f"samples; check the sampler, or try a lower --lr-pretrain (now {config.lr})"
                )
            loss = layer_loss(model, v_data, v_neg, config)
            if not torch.isfinite(loss):
                raise DivergenceError(
                    f"layer {layer}, epoch {epoch + 1}: the pretraining loss became {loss.item()}; "
                    f"try a lower --lr-pretrain (now {config.lr})"
                )
            snapshot = {k: p.detach().clone() for k, p in model.named_parameters()}
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if dist is not None:
                dist.all_reduce_grads(model.parameters(), weight)
            if centering is not None:
                centering.apply(model, _batch_activity(model, v_data, dist, weight),
                                num_positions=p_data, num_pixels=n_pixels)
            optimizer.step()
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                with torch.no_grad():
                    for k, p in model.named_parameters():
                        p.copy_(snapshot[k])
                raise DivergenceError(
                    f"layer {layer}, epoch {epoch + 1}: the weights became NaN/Inf; "
                    f"try a lower --lr-pretrain (now {config.lr})"
                )
            if config.zero_mean_filters:
                center_filters(model)
            if config.max_filter_norm is not None:
                clip_filter_norms(model, config.max_filter_norm)
            if config.sparsity_rate:
                _sparsity_step(model, v_data, config, dist, weight)
            sums["loss"] = sums.get("loss", 0.0) + loss.item() * weight
            counts["loss"] = counts.get("loss", 0) + 1
            info = getattr(sampler, "last_info", {})
            for key, value in info.items():
                if key != "seconds" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    sums[key] = sums.get(key, 0.0) + float(value)
                    counts[key] = counts.get(key, 0) + 1
            for key in getattr(sampler, "summed_info", ()):
                if isinstance(info.get(key), (int, float)):
                    sums[key + "_total"] = sums.get(key + "_total", 0.0) + float(info[key])
                    counts[key + "_total"] = 1  # a total, not a mean
            if progress and hasattr(iterator, "set_postfix"):
                iterator.set_postfix(loss=f"{loss.item():.4f}")
        if dist is not None:
            sums, counts = _merge_ranks(dist.gather((sums, counts)))
        metrics: dict[str, Any] = {"stage": "pretrain", "layer": layer, "epoch": epoch + 1}
        metrics["loss"] = sums.pop("loss") / counts.pop("loss")
        metrics["sampler_seconds"] = sums.pop("sampler_seconds")
        for key, total in sums.items():
            metrics[key] = total / counts[key]
        metrics.update(_epoch_diagnostics(model, data, held_out, exact_ok, device))
        metrics["seconds"] = time.perf_counter() - started
        history.append(metrics)
        log.info("pretrain layer %d epoch %d: %s", layer, epoch + 1, _fmt(metrics))
        if callback:
            callback(metrics)
    return history


def _batch_activity(model: nn.Module, v_data: Tensor, dist: Any, weight: float) -> Tensor:
    """Per-unit mean detection probability on this batch; with data parallelism the global
    batch's (each rank's weighted by its share), so every rank sees the same values."""
    q = per_unit_activity(model, v_data)
    if dist is None:
        return q
    q = q.double() * weight
    return torch.tensor(dist.sum(q.tolist()), dtype=model.hidden_bias.dtype, device=q.device)


def _sparsity_step(model: nn.Module, v_data: Tensor, config: PretrainConfig, dist: Any,
                   weight: float) -> None:
    """Lee et al.'s hidden-bias step (:func:`rbm.activity.sparsity_bias_step`) on this batch;
    with data parallelism on the global batch's activity, so every rank moves its biases alike."""
    q = _batch_activity(model, v_data, dist, weight)
    with torch.no_grad():
        model.hidden_bias.add_(config.sparsity_rate * (config.sparsity_target - q))


def _merge_ranks(gathered: list[tuple[dict[str, float], dict[str, int]]]) -> tuple[dict, dict]:
    """Every rank's epoch ``(sums, counts)`` as one: losses are weighted by each rank's share of
    every batch, so their sum over ranks is the global-batch loss (counted once per batch);
    ``sampler_seconds`` is the slowest rank's; other metrics are averaged over all ranks' calls."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for rank_sums, rank_counts in gathered:
        for key, value in rank_sums.items():
            merge = max if key == "sampler_seconds" else (lambda a, b: a + b)
            sums[key] = merge(sums[key], value) if key in sums else value
        for key, value in rank_counts.items():
            counts[key] = counts.get(key, 0) + value
    counts["loss"] = gathered[0][1]["loss"]
    counts.update({key: 1 for key in sums if key.endswith("_total")})  # summed over ranks too
    return sums, counts


@torch.no_grad()
def _epoch_diagnostics(model, data, held_out, exact_ok, device, max_items: int = 1000) -> dict[str, float]:
    train = data[:max_items].to(device)
    out = {"reconstruction_error": float(reconstruction_error(model, train))}
    activity = hidden_activity(model, train)
    out["hidden_activity"] = activity["detection"]
    out["pooled_activity"] = activity["pooled"]
    out["filter_mean_abs_cos"] = filter_diversity(model.weight)
    positions = model.num_positions(tuple(data.shape[1:]))
    if held_out is not None and len(held_out):
        test = held_out[:max_items].to(device)
        out["free_energy_gap"] = float(
            (model.free_energy(test).mean() - model.free_energy(train).mean()) / positions
        )
    else:
        out["free_energy_gap"] = float("nan")
    if exact_ok:
        out["train_log_likelihood"] = float(exact_log_likelihood(model, train))
        if held_out is not None and len(held_out):
            out["test_log_likelihood"] = float(exact_log_likelihood(model, held_out[:max_items].to(device)))
    return out


def _fmt(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
