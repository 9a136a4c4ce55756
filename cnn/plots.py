"""PNG reports: learning curves, confusion matrices and filter grids.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
switch, no windows), so these work headless and in tests. Each function writes ``path`` and
returns it as a ``pathlib.Path``.
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

__all__ = ["filter_grid", "plot_confusion_matrix", "plot_filters", "plot_learning_curves"]


def _save(fig: Figure, path: Any, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return path


def plot_learning_curves(
    runs: Mapping[str, Sequence[Mapping[str, Any]]] | Sequence[Mapping[str, Any]],
    path: Any,
    title: str | None = None,
) -> Path:
    """Accuracy and loss vs epoch for one or several fine-tuning histories, overlaid.

    Args:
        runs: ``{label: history}`` (or one history), each a list of :func:`cnn.finetune` dicts.
            Test curves are solid, train curves dashed in the same colour.
        path: the PNG to write.
    """
    if not isinstance(runs, Mapping):
        runs = {"run": runs}
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    for i, (label, history) in enumerate(runs.items()):
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in history]
        for split, style in (("test", "-"), ("train", "--")):
            for ax, metric in ((ax_acc, "accuracy"), (ax_loss, "loss")):
                values = [r.get(f"{split}_{metric}", float("nan")) for r in history]
                if all(v != v for v in values):  # all NaN (e.g. no test set)
                    continue
                ax.plot(epochs, values, style, color=color, label=f"{label} ({split})")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: Any,
    path: Any,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """A confusion matrix ``(n, n)`` (row = true, column = predicted) as a PNG with counts."""
    m = np.asarray(torch.as_tensor(matrix).cpu())
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be (n, n); got {m.shape}")
    n = m.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for a {n}x{n} matrix")
    size = max(4.0, 0.45 * n + 2)
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true")
    if n <= 30:
        threshold = m.max() / 2 if m.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{m[i, j]:g}", ha="center", va="center", fontsize="small",
                        color="white" if m[i, j] > threshold else "black")
    total = m.sum()
    acc = np.trace(m) / total if total else float("nan")
    ax.set_title(title or f"accuracy {acc:.4f} (n = {total:g})")
    return _save(fig, path)


def filter_grid(weights: Any, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile filters ``(K, C, w, w)`` (or ``(K, w, w)``) into one image, each normalised to [0, 1].

    Returns ``(rows·(w+pad)−pad, cols·(w+pad)−pad)`` for one channel or ``(…, …, 3)`` for
    three channels. Other channel counts: each channel is its own gray tile, one row per filter
    (unless ``ncols`` is given), still normalised per filter. Padding is NaN for one channel
    (matplotlib leaves it blank) and white for three.
    """
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.dim() == 3:
        w = w[:, None]
    if w.dim() != 4:
        raise ValueError(f"filters must be (K, C, h, w) or (K, h, w); got {tuple(w.shape)}")
    k, c, fh, fw = w.shape
    flat = w.reshape(k, -1)  # normalise per filter, over all its channels
    lo = flat.min(1).values[:, None, None, None]
    hi = flat.max(1).values[:, None, None, None]
    w = (w - lo) / torch.clamp(hi - lo, min=1e-12)
    if c not in (1, 3):  # one row per filter, one tile per input channel
        ncols = ncols or c
        w = w.reshape(k * c, 1, fh, fw)
        k, c = k * c, 1
    ncols = ncols or math.ceil(math.sqrt(k))
    nrows = math.ceil(k / ncols)
    fill = np.nan if c == 1 else 1.0  # RGB images cannot hold NaN: pad white
    grid = np.full((nrows * (fh + pad) - pad, ncols * (fw + pad) - pad, c), fill)
    for i in range(k):
        r, col = divmod(i, ncols)
        grid[r * (fh + pad): r * (fh + pad) + fh, col * (fw + pad): col * (fw + pad) + fw] = (
            w[i].permute(1, 2, 0).numpy()
        )
    return grid[..., 0] if c == 1 else grid


def plot_filters(
    weights: Any, path: Any, ncols: int | None = None, title: str | None = None
) -> Path:
    """Filter grid PNG of conv weights ``(K, C, w, w)``, each filter normalised to [0, 1]
    (dense weights ``(n_visible, n_hidden)`` can be passed reshaped to ``(n_hidden, C, H, W)``)."""
    grid = filter_grid(weights, ncols)
    h, w = grid.shape[:2]
    scale = 6.0 / max(h, w)
    fig = Figure(figsize=(max(2.0, w * scale + 0.5), max(2.0, h * scale + 0.6)),
                 layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"{torch.as_tensor(weights).shape[0]} filters")
    return _save(fig, path)
