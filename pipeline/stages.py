"""Stages 2 and 3: pretrain the stack, build the CNN, fine-tune it — plain functions of a
:class:`TrainConfig` and the objects :func:`pipeline.prepare` returned; no run directory.

``pipeline.run`` calls exactly these, adding checkpoints, metrics and plots through their
callbacks; the Python API of the README calls them directly.

Examples:
    >>> from pipeline import TrainConfig, prepare
    >>> config = TrainConfig(dataset="digits", layers="4x3p2", sampler="cd", pretrain_epochs=1,
    ...                      finetune_epochs=1, batch_size=256)
    >>> setup = prepare(config)
    >>> [h["layer"] for h in pretrain(config, setup.stack, setup.data)]
    [0]
    >>> model = build_cnn(config, setup.stack, setup.data)
    >>> history = finetune(config, model, setup.data)
    >>> len(history), 0 < history[-1]["test_accuracy"] <= 1
    (1, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pipeline.config import TrainConfig
from pipeline.errors import UserError
from pipeline.preparation import resolve_device, sampler_options

__all__ = ["CALIBRATION_IMAGES", "build_cnn", "finetune", "layer_samplers", "pretrain", "pretrain_config"]

CALIBRATION_IMAGES = 512  # training images on which CNN.from_stack recentres and rescales layers


def pretrain_config(config: TrainConfig) -> Any:
    """The ``rbm.pretrain.PretrainConfig`` of ``config`` (shared by every layer)."""
    from rbm.pretrain import PretrainConfig

    return PretrainConfig(
        epochs=config.pretrain_epochs, batch_size=config.pretrain_batch_size, lr=config.lr_pretrain,
        momentum=config.momentum_pretrain, weight_decay=config.weight_decay_pretrain,
        sparsity_target=config.sparsity_target, sparsity_cost=config.sparsity_cost,
        sparsity_rate=config.sparsity_rate, lr_final=config.lr_pretrain_final,
        init_filter_norm=config.init_filter_norm or None,  # 0: keep the model's own initial filters
        hidden_bias_init=config.hidden_bias_init or None,  # 0: the model's own (zero) hidden bias
        zero_mean_filters=config.zero_mean_filters, max_filter_norm=config.max_filter_norm,
        centering=config.centering, seed=config.seed,
    )


def layer_samplers(config: TrainConfig, stack: Any, options: dict[str, Any] | None = None,
                   ready: dict[int, Any] | None = None) -> Callable[[int], Any]:
    """``make(layer)`` → the layer's ``--sampler`` behind ``--sampler-retries`` retries and the
    ``--fallback-sampler`` (``sampling.layer_sampler_factory``); ``options`` default to
    :func:`pipeline.sampler_options` of ``config``; ``ready``: samplers the preflight already built
    (QPU samplers, connected and embedded), by layer. A refused option is a UserError."""
    from sampling import LayerSamplerError, layer_sampler_factory

    factory = layer_sampler_factory(
        config.sampler, sampler_options(config) if options is None else options, stack, config.canvas_hw(),
        fallback=config.fallback_sampler, retries=config.sampler_retries, backoff=config.sampler_backoff,
        ready=ready,
    )

    def make(layer: int) -> Any:
        try:
            return factory(layer)
        except LayerSamplerError as exc:
            raise UserError(f"--sampler {exc.sampler}: {exc}") from None

    return make


def pretrain(config: TrainConfig, stack: Any, data: Any, *, make_sampler: Callable[[int], Any] | None = None,
             device: torch.device | None = None, **stack_options: Any) -> list[dict[str, Any]]:
    """Greedy layer-wise pretraining of ``stack`` on ``data.x_train`` (held out: ``data.x_test``);
    one metrics dict per epoch of each layer.

    ``make_sampler(layer)`` gives each layer's negative-phase sampler (default:
    :func:`layer_samplers`; any object with the sampler protocol works). ``stack`` and the data
    go to ``device`` (default: ``config.device``). ``stack_options`` (``resume``, ``callback``,
    ``on_layer_end``, ``progress``, ``dist``) are those of ``rbm.pretrain_stack``.
    """
    from rbm import pretrain_stack

    device = resolve_device(config.device) if device is None else device
    stack = stack.to(device)
    make_sampler = layer_samplers(config, stack) if make_sampler is None else make_sampler
    return pretrain_stack(stack, data.x_train.to(device), make_sampler, pretrain_config(config),
                          held_out=data.x_test.to(device), **stack_options)


def build_cnn(config: TrainConfig, stack: Any, data: Any, device: torch.device | None = None) -> Any:
    """The CNN to fine-tune, by ``config.cnn_init`` (``--init``): ``pretrained``: ``stack``'s layers
    copied and calibrated on the first :data:`CALIBRATION_IMAGES` training images (each unit's bias
    centres its pre-activation, one scale per layer makes its std 1: ``CNN.from_stack``'s
    defaults); ``torch``: PyTorch's random init of the ``--layers``; ``calibrated``: that random
    init given the same calibration. ``stack`` may be None unless pretrained. The conv layers and
    the new head draw from torch's global generator."""
    from cnn import CNN
    from rbm import parse_layers

    device = resolve_device(config.device) if device is None else device
    n_classes = int(data.num_classes)
    calibration_images = data.x_train[:CALIBRATION_IMAGES].to(device)
    if config.cnn_init == "pretrained":
        return CNN.from_stack(stack, n_classes, data=calibration_images).to(device)
    model = CNN(parse_layers(config.layers), data.image_shape, n_classes).to(device)
    if config.cnn_init == "calibrated":
        model.calibrate(calibration_images, center=True, target_std=1.0)
    return model


def finetune(config: TrainConfig, model: Any, data: Any, *, device: torch.device | None = None,
             callback: Callable[[int, dict[str, Any]], None] | None = None, progress: bool = False,
             checkpoint: Callable[[dict[str, Any]], None] | None = None,
             resume: dict[str, Any] | None = None, dist: Any = None) -> list[dict[str, Any]]:
    """SGD fine-tuning of ``model`` on the labelled training images (``data.labeled()``), tested on
    ``data.x_test`` after every epoch; ``--augment`` or the default shift for the image size
    (``cnn.default_augment_pixels``), and ``--finetune-sa``. The arguments after ``data`` are
    those of ``cnn.finetune``; returns its one metrics dict per epoch."""
    from cnn import augment_pixels
    from cnn import finetune as sgd

    device = resolve_device(config.device) if device is None else device
    x_lab, y_lab = data.labeled()
    sa_refine = config.sa_refine()
    return sgd(
        model, train=(x_lab, y_lab), test=(data.x_test, data.y_test), epochs=config.finetune_epochs,
        lr=config.lr_finetune, batch_size=config.batch_size, seed=config.seed, device=device,
        augment=augment_pixels(config.augment, data.image_shape),
        callback=callback, progress=progress, checkpoint=checkpoint, resume=resume, dist=dist,
        sa_refine=sa_refine,
    )


def feature_report(config: TrainConfig, stack: Any, data: Any, seeds: Any = range(5)) -> dict[str, Any]:
    """``--feature-report``: linear-probe errors of the stack's frozen features (layer 0, layers
    0..k), raw pixels and random filters of the same shape, on ``data.x_test``
    (``cnn.frozen_feature_report``). The probe learns only from the labelled training images
    (``--label-fraction``), at each of ``cnn.features.LABEL_COUNTS`` that they can fill, one
    stratified subset per seed."""
    from cnn.features import LABEL_COUNTS, frozen_feature_report

    x_pool, y_pool = data.labeled()
    counts = [n for n in LABEL_COUNTS if n <= len(y_pool)] or [len(y_pool)]
    cpu = stack.to("cpu")
    return frozen_feature_report(cpu, x_pool, y_pool, data.x_test, data.y_test, label_counts=counts, seeds=list(seeds))
