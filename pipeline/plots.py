"""The PNG plots of a run directory: filters and negative samples per layer, learning curves,
the confusion matrix (matplotlib is imported only when a plot is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["plot_finetune", "plot_layer", "plot_pretrain_curves"]


def plot_layer(out: Path, stack: Any, i: int, sampler: Any, layer_data: torch.Tensor) -> None:
    """``filters_layer{i}.png``; for layer 0 of image data also ``negative_samples_layer0.png``
    (a draw from ``sampler`` on the first 64 rows of ``layer_data``)."""
    from cnn.plots import plot_filters
    from rbm.plots import plot_samples

    layer, shape = stack.layers[i], stack.input_shape_of(i)
    weight = layer.weight.detach().cpu()
    if weight.dim() == 2:  # dense: one filter per hidden unit, drawn in the input's image shape
        if len(shape) != 3:
            return
        weight = weight.T.reshape(-1, *shape)
    plot_filters(weight, out / f"filters_layer{i}.png", title=f"layer {i} filters")
    if i > 0 or len(shape) != 3:
        return  # deeper layers' visible units are feature maps, not images
    with torch.no_grad():
        v_neg, _ = sampler.sample(layer, layer_data[: min(64, len(layer_data))])
    plot_samples(v_neg.reshape(len(v_neg), -1, *v_neg.shape[-2:]) if v_neg.dim() == 4 else v_neg.reshape(-1, *shape),
                 out / "negative_samples_layer0.png", title=f"layer 0 negative-phase samples ({type(getattr(sampler, 'primary', sampler)).__name__})")


def plot_pretrain_curves(out: Path, history: list[dict[str, Any]]) -> None:
    from rbm.plots import plot_pretrain_curves as plot

    plot(history, out / "pretrain_curves.png")


def plot_finetune(out: Path, model: Any, history: list[dict[str, Any]], data: Any, device: torch.device) -> None:
    """``finetune_curves.png`` and ``confusion_matrix.png`` (of ``model`` on the test set)."""
    from cnn import confusion_matrix, evaluate
    from cnn.plots import plot_confusion_matrix, plot_learning_curves

    plot_learning_curves({"this run": history}, out / "finetune_curves.png")
    _, _, predictions = evaluate(model, data.x_test.to(device), data.y_test.to(device))
    matrix = confusion_matrix(data.y_test.cpu(), predictions.cpu(), int(data.num_classes))
    plot_confusion_matrix(matrix, out / "confusion_matrix.png")
