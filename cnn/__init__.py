"""The CNN side: a network built from layer specs or a pretrained RBM stack, SGD fine-tuning,
evaluation and reports.

* :class:`CNN` ``(layers, input_shape, n_classes, activation="relu", pooling="max",
  head_units=128, dropout=0.25)``; :meth:`CNN.from_stack` ``(stack, n_classes, bias_init="shift",
  weight_scale=1.0, data=images)``; :meth:`CNN.calibrate`; ``layer_outputs``, ``features``,
  ``config()``, :func:`save_cnn` / :func:`load_cnn`.
* :func:`finetune` ``(model, train=(x, y), test=(x, y), **FinetuneConfig fields, device,
  callback, progress, sa_refine, checkpoint, resume)`` → one metrics dict per epoch;
  :func:`evaluate`, :func:`confusion_matrix`; plots in :mod:`cnn.plots`.
* :func:`default_augment_pixels` ``(image_shape)``: the default shift augmentation (±2 px for
  images at least 20 px wide, none below); :func:`augment_pixels` ``(requested, image_shape)``.
* :mod:`cnn.features`: frozen-feature linear probes of a stack beside raw pixels and random
  filters (:func:`frozen_feature_report`, :func:`format_report`).
* :mod:`cnn.sa_refine`: simulated-annealing refinement of the classifier (Rere et al. 2015).

cnn/ reads ``weight``/``hidden_bias`` of the RBM layers and never imports sampling/.
"""

from .augment import augment_pixels, default_augment_pixels
from .errors import CNNError
from .features import (
    format_report,
    frozen_feature_report,
    linear_probe,
    random_filter_stack,
    stack_features,
)
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
    "CNNError",
    "FinetuneConfig",
    "Layer",
    "SARefineConfig",
    "SARefiner",
    "anneal",
    "augment_pixels",
    "confusion_matrix",
    "default_augment_pixels",
    "evaluate",
    "finetune",
    "format_report",
    "frozen_feature_report",
    "linear_probe",
    "load_cnn",
    "random_filter_stack",
    "random_shift",
    "refine_classifier",
    "save_cnn",
    "stack_features",
]
