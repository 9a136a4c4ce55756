"""PNG reports of RBM pretraining: learning curves per layer and grids of (negative-phase) samples.

matplotlib's object API on an Agg canvas (no pyplot, no global backend); imported lazily so that
``import rbm`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_pretrain_curves", "plot_samples"]

_CURVES = (
    ("reconstruction_error", "reconstruction error (MSE)"),
    ("free_energy_gap", "free-energy gap per position\n(held-out − train; grows when overfitting)"),
    ("test_log_likelihood", "exact test log-likelihood (nats)"),
    ("sampler_seconds", "negative-phase seconds per epoch"),
)


def plot_pretrain_curves(history: Sequence[Mapping[str, Any]], path: Any) -> Path:
    """One panel per metric (reconstruction error, free-energy gap, exact test LL where present,
    sampler time) vs epoch, one line per layer; ``history`` is :func:`rbm.pretrain.pretrain_layer`
    output concatenated over layers."""
    panels = [(k, label) for k, label in _CURVES if any(_finite(r.get(k)) for r in history)]
    fig = Figure(figsize=(4.2 * max(1, len(panels)), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(panels))))
    layers = sorted({int(r.get("layer", 0)) for r in history})
    for ax, (key, label) in zip(axes, panels, strict=False):  # one empty axis when no panels
        for layer in layers:
            rows = [r for r in history if int(r.get("layer", 0)) == layer and _finite(r.get(key))]
            if rows:
                ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], "o-", label=f"layer {layer}")
        ax.set(xlabel="epoch", title=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, path)


def plot_samples(images: Any, path: Any, title: str | None = None, ncols: int | None = None) -> Path:
    """A grid of images ``(N, C, H, W)`` with values in [0, 1] (not renormalised), channel 0 shown."""
    x = torch.as_tensor(images).detach().float().cpu()
    if x.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W); got {tuple(x.shape)}")
    n, _, h, w = x.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = x[i, 0].numpy()
    scale = 6.0 / max(grid.shape)
    fig = Figure(figsize=(grid.shape[1] * scale + 0.5, grid.shape[0] * scale + 0.7), layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _save(fig: Figure, path: Any) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100)
    return path
