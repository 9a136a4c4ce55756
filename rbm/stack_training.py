"""Greedy layer-wise pretraining of a whole stack: each layer on the transform of the layers below.

Layer ``i`` is trained by :func:`rbm.pretrain.pretrain_layer` on ``stack.transform(data, upto=i)``
with its own sampler ``make_sampler(i)``, a fresh optimizer (:func:`rbm.pretrain.make_optimizer`)
and a minibatch generator seeded ``config.seed + 1009·i``; its visible bias starts at the data's
log-odds (``init_visible_bias``). Layers below ``i`` are frozen while ``i`` trains.

Checkpointing is the caller's: ``callback`` receives a :class:`LayerEpoch` after every epoch of
every layer (layer index, metrics record, and the sampler, optimizer and generator whose states a
checkpoint needs), and ``resume`` continues a stopped run from such a checkpoint to the same
result. This module, like all of rbm/, never imports sampling/: ``make_sampler`` is any callable
``layer index → sampler`` (e.g. ``sampling.layer_sampler_factory(...)``, or
``lambda i: MySampler()``).

Examples:
    >>> import torch
    >>> from rbm import build_stack, parse_layers
    >>> class DataGibbs:  # CD-1, written inline
    ...     beta, last_info = 1.0, {}
    ...     def sample(self, model, v):
    ...         v = model.sample_v_given_h(model.sample_h_given_v(v))
    ...         return v, model.sample_h_given_v(v)
    ...     def state_dict(self):
    ...         return {}
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> stack = build_stack(parse_layers("2x3,fc4"), (1, 5, 5))
    >>> x = (torch.rand(32, 1, 5, 5) < 0.5).float()
    >>> history = pretrain_stack(stack, x, lambda i: DataGibbs(), PretrainConfig(epochs=2))
    >>> [(h["layer"], h["epoch"]) for h in history]
    [(0, 1), (0, 2), (1, 1), (1, 2)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rbm.centering import Centering
from rbm.pretrain import PretrainConfig, make_optimizer, pretrain_layer

__all__ = ["LAYER_GENERATOR_STRIDE", "LayerEpoch", "pretrain_stack"]

LAYER_GENERATOR_STRIDE = 1009  # the minibatch generator of layer i is seeded config.seed + 1009·i


@dataclass(frozen=True)
class LayerEpoch:
    """What :func:`pretrain_stack` hands its ``callback`` after each epoch of each layer.

    ``record`` is :func:`rbm.pretrain.pretrain_layer`'s metrics dict of the epoch; ``sampler``,
    ``optimizer``, ``generator`` and ``centering`` (with ``config.centering``) are the layer's live
    objects: checkpoint their ``state_dict()`` / ``get_state()`` to resume (see ``resume`` of
    :func:`pretrain_stack`).
    """

    layer: int
    record: dict[str, Any]
    sampler: Any
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    centering: Centering | None = None


def pretrain_stack(
    stack: Any,
    data: Tensor,
    make_sampler: Callable[[int], Any],
    config: PretrainConfig | None = None,
    *,
    held_out: Tensor | None = None,
    resume: dict[str, Any] | None = None,
    callback: Callable[[LayerEpoch], None] | None = None,
    on_layer_start: Callable[[int], None] | None = None,
    on_layer_end: Callable[[int, Any, Tensor], None] | None = None,
    progress: Callable[..., Any] | None = None,
    dist: Any = None,
) -> list[dict[str, Any]]:
    """Pretrain every layer of ``stack`` greedily, bottom up; return the epochs' metrics dicts.

    Args:
        stack: an :class:`rbm.RBMStack` (``layers``, ``transform(x, upto=i)``).
        data: the stack's training inputs, shape (N, *stack.input_shape), values in [0, 1], on
            the stack's device.
        make_sampler: ``make_sampler(i)`` → the negative-phase sampler of layer ``i``.
        config: hyper-parameters shared by all layers; default :class:`PretrainConfig`.
        held_out: optional held-out inputs (M, *stack.input_shape) for each layer's free-energy
            gap and exact test log-likelihood.
        resume: continue from a checkpoint taken in ``callback``: ``{"layer": i, "epoch": e,
            "optimizer": optimizer state dict, "sampler": sampler state dict or None (a fresh
            sampler), "generator": generator state, "centering": centering state or None}``. Layers below ``i`` are taken as trained
            (their weights are the stack's); layer ``i`` continues after epoch ``e``.
        callback: called with a :class:`LayerEpoch` after every epoch of every layer.
        on_layer_start: called as ``on_layer_start(i)`` when layer ``i``'s data, sampler,
            optimizer and generator are ready, right before its first epoch (e.g. to start a
            clock that leaves out one-off set-up costs).
        on_layer_end: called as ``on_layer_end(i, sampler, layer_data)`` when layer ``i`` is done
            (``layer_data``: its training inputs, (N, *stack.input_shape_of(i))), e.g. for plots.
        progress, dist: passed to :func:`rbm.pretrain.pretrain_layer` (progress bars; the
            data-parallel context, every rank passing the whole ``data``).

    Raises:
        rbm.DivergenceError: a layer's loss or weights became NaN/Inf (see ``pretrain_layer``).
    """
    config = config or PretrainConfig()
    history: list[dict[str, Any]] = []
    first = resume["layer"] if resume else 0
    for i in range(first, len(stack.layers)):
        layer = stack.layers[i]
        with torch.no_grad():
            layer_data = stack.transform(data, upto=i)
            layer_held_out = None if held_out is None else stack.transform(held_out, upto=i)
        layer_resume = resume if resume and resume["layer"] == i else None
        if layer_resume is None:
            layer.init_visible_bias(layer_data)
        sampler = make_sampler(i)
        optimizer = make_optimizer(layer, config)
        generator = torch.Generator().manual_seed(config.seed + LAYER_GENERATOR_STRIDE * i)
        centering = Centering() if config.centering else None
        start_epoch = 0
        if layer_resume is not None:
            if centering is not None and layer_resume.get("centering") is not None:
                centering.load_state_dict(layer_resume["centering"])
            optimizer.load_state_dict(layer_resume["optimizer"])
            if layer_resume.get("sampler") is not None:
                sampler.load_state_dict(layer_resume["sampler"])
            generator.set_state(layer_resume["generator"])
            start_epoch = layer_resume["epoch"]
        if on_layer_start is not None:
            on_layer_start(i)

        def on_epoch(record: dict[str, Any], i: int = i, sampler: Any = sampler,
                     optimizer: torch.optim.Optimizer = optimizer,
                     generator: torch.Generator = generator,
                     centering: Centering | None = centering) -> None:
            history.append(record)
            if callback is not None:
                callback(LayerEpoch(i, record, sampler, optimizer, generator, centering))

        pretrain_layer(layer, layer_data, sampler, config, held_out=layer_held_out, optimizer=optimizer,
                       layer=i, start_epoch=start_epoch, generator=generator, callback=on_epoch,
                       progress=progress, dist=dist, centering=centering)
        if on_layer_end is not None:
            on_layer_end(i, sampler, layer_data)
    return history
