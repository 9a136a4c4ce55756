"""The training pipeline as a library: one config, four stages, each a plain function.

``train.py`` is only the command line over this package (flags and TOML → :class:`TrainConfig`,
error reporting, the calls below); ``bench/`` builds its runs from the same functions.

1. :func:`prepare` ``(config)`` → :class:`Setup` (data, stack, sampler options, resume state):
   every check of a run, before anything is written (:mod:`pipeline.preparation`);
2. :func:`pretrain` ``(config, stack, data, make_sampler=None)``: greedy layer-wise RBM
   pretraining (``rbm.pretrain_stack``) with each layer's sampler from :func:`layer_samplers`
   (``sampling.layer_sampler_factory``) or any ``make_sampler(layer)``;
3. :func:`build_cnn` ``(config, stack, data)`` and :func:`finetune` ``(config, model, data)``:
   the CNN from the pretrained stack (or random init), SGD fine-tuning (``cnn.finetune``);
4. :func:`create_run_dir` ``(config)`` and :func:`run` ``(config, setup, out)``: stages 2-3 with a
   checkpoint after every epoch, metrics, plots and a summary in the run directory.

Layering: this package imports ``rbm``, ``sampling``, ``cnn``, ``imagedata``, ``rundir`` and
``dataparallel``; none of them imports it. Every user mistake is a :class:`UserError`.
"""

from pipeline.config import TrainConfig, complete_run_record, config_record, read_config_file
from pipeline.errors import UserError
from pipeline.output import create_run_dir
from pipeline.preparation import (
    Setup,
    build_stack,
    load_data,
    load_resume_state,
    prepare,
    resolve_device,
    sampler_options,
    start_process,
)
from pipeline.run import run
from pipeline.stages import (
    CALIBRATION_IMAGES,
    build_cnn,
    finetune,
    layer_samplers,
    pretrain,
    pretrain_config,
)

__all__ = [
    "CALIBRATION_IMAGES",
    "Setup",
    "TrainConfig",
    "UserError",
    "build_cnn",
    "build_stack",
    "complete_run_record",
    "config_record",
    "create_run_dir",
    "finetune",
    "layer_samplers",
    "load_data",
    "load_resume_state",
    "prepare",
    "pretrain",
    "pretrain_config",
    "read_config_file",
    "resolve_device",
    "run",
    "sampler_options",
    "start_process",
]
