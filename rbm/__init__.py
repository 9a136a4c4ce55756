"""Restricted Boltzmann machines in pure PyTorch: dense and convolutional (with probabilistic
max-pooling) models, their quadratic-model description for samplers, layer stacks, exact and AIS
evaluation, save/load, and the pretraining loop (:func:`pretrain_layer`, :class:`PretrainConfig`).
See docs/interfaces.md ("Models") for the contract.
"""

from .activity import filter_diversity, hidden_activity, sparsity_bias_step
from .base import RBM, set_validate_values
from .centering import Centering
from .conv import ConvRBM
from .dense import BernoulliRBM, visible_bias_from_data
from .errors import RBMError
from .evaluate import (
    AISResult,
    ais_log_likelihood,
    ais_log_partition,
    exact_log_likelihood,
    exact_log_partition,
    pseudo_likelihood,
    reconstruction_error,
)
from .io import load_model, load_stack, save_model, save_stack
from .pretrain import DivergenceError, PretrainConfig, pretrain_layer
from .qm import QuadraticModelSpec, default_pool_penalty
from .specs import LayerSpec, parse_layers
from .stack import RBMStack, build_stack
from .stack_training import LayerEpoch, pretrain_stack

__all__ = [
    "AISResult",
    "BernoulliRBM",
    "Centering",
    "ConvRBM",
    "DivergenceError",
    "LayerEpoch",
    "LayerSpec",
    "PretrainConfig",
    "QuadraticModelSpec",
    "RBM",
    "RBMError",
    "RBMStack",
    "ais_log_likelihood",
    "ais_log_partition",
    "build_stack",
    "default_pool_penalty",
    "exact_log_likelihood",
    "exact_log_partition",
    "filter_diversity",
    "hidden_activity",
    "load_model",
    "load_stack",
    "parse_layers",
    "pretrain_layer",
    "pretrain_stack",
    "pseudo_likelihood",
    "reconstruction_error",
    "save_model",
    "save_stack",
    "set_validate_values",
    "sparsity_bias_step",
    "visible_bias_from_data",
]
