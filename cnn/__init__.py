"""The CNN side: a network built from layer specs or a pretrained RBM stack, SGD fine-tuning,
evaluation and reports. See docs/interfaces.md ("CNN") for the contract.

cnn/ may import rbm/ (it does not need to: it reads ``weight``/``hidden_bias`` of the layers)
and never imports sampling/.
"""

from .finetune import SCHEDULES, FinetuneConfig, confusion_matrix, evaluate, finetune, random_shift
from .model import (
    ACTIVATIONS,
    BIAS_INITS,
    CNN,
    POOLINGS,
    ArchitectureMismatchError,
    Layer,
    load_cnn,
    save_cnn,
)
from .sa_refine import SARefineConfig, SARefiner, anneal, refine_classifier

__all__ = [
    "ACTIVATIONS",
    "BIAS_INITS",
    "CNN",
    "POOLINGS",
    "SCHEDULES",
    "ArchitectureMismatchError",
    "FinetuneConfig",
    "Layer",
    "SARefineConfig",
    "SARefiner",
    "anneal",
    "confusion_matrix",
    "evaluate",
    "finetune",
    "load_cnn",
    "random_shift",
    "refine_classifier",
    "save_cnn",
]
