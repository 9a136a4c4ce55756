"""Raw image arrays to float32 (N, 1, H, W) tensors in [0, 1]; stratified labelled subsets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError
from .options import check_fraction, check_resize, check_threshold

__all__ = ["prepare_images", "stratified_mask"]


def prepare_images(
    images: Any,
    binarize: bool = False,
    threshold: float = 0.5,
    resize: tuple[int, int] | str | None = None,
    source: str = "images",
) -> torch.Tensor:
    """Convert a batch of raw images to float32 ``(N, 1, H, W)`` in [0, 1].

    ``images``: numpy array (a ``np.memmap`` slice is fine) or tensor of shape ``(N, H, W)`` or
    ``(N, 1, H, W)``; uint8 (0..255, divided by 255), bool, or float with values in [0, 1].
    Then coarse-grains to ``resize`` and binarises, as :func:`load_dataset` does. ``source`` names the
    data in error messages. Always returns a new tensor (never a view of ``images``).
    """
    check_threshold(threshold, source)
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] != 1:
        raise DataError(source, f"expected one channel, shape (N, 1, H, W); got shape {arr.shape}")
    if arr.ndim not in (3, 4):
        raise DataError(source, f"expected shape (N, H, W) or (N, 1, H, W); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise DataError(source, f"no images (shape {arr.shape})")
    arr = arr.reshape(arr.shape[0], 1, arr.shape[-2], arr.shape[-1])

    if arr.dtype == np.uint8:
        x = arr.astype(np.float32)
        x /= 255.0
    elif arr.dtype == np.bool_:
        x = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(np.float32)  # always a copy
        if not np.isfinite(x).all():
            raise DataError(source, "float images contain NaN or infinity")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            hint = " (looks like 0..255: store uint8 or divide by 255)" if hi > 1.0 else ""
            raise DataError(
                source, f"float images must lie in [0, 1], found [{lo:g}, {hi:g}]{hint}"
            )
    else:
        raise DataError(
            source,
            f"images have dtype {arr.dtype}; expected uint8 (0..255), bool, or float in [0, 1]",
        )

    t = torch.from_numpy(x)
    if resize is not None:
        h, w = check_resize(resize, (x.shape[2], x.shape[3]), source)
        t = _coarse_grain(t, h, w)
    if binarize:
        t = (t > threshold).to(torch.float32)
    return t.contiguous()


def _coarse_grain(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Block-average ``x`` (N, C, H, W) to (N, C, h, w)."""
    n, c, big_h, big_w = x.shape
    if (h, w) == (big_h, big_w):
        return x
    if big_h % h == 0 and big_w % w == 0:
        out = x.reshape(n, c, h, big_h // h, w, big_w // w).mean(dim=(3, 5))
    else:
        out = F.adaptive_avg_pool2d(x, (h, w))
    return out.clamp_(0.0, 1.0)


def stratified_mask(labels: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask choosing a stratified ``fraction`` of ``labels``, at least one per class.

    The total is ``round(fraction * N)`` (half up), shared among classes in proportion to their sizes
    by largest remainder, except that every class present gets at least one (which can add a few).
    Within each class the members are drawn uniformly with ``numpy.random.default_rng(seed)``.
    ``fraction == 1`` selects everything.
    """
    check_fraction(fraction, "label_fraction")
    y = np.asarray(labels)
    n = len(y)
    mask = np.zeros(n, dtype=bool)
    if fraction >= 1.0 or n == 0:
        mask[:] = True
        return mask
    classes, counts = np.unique(y, return_counts=True)
    target = min(n, max(len(classes), math.floor(fraction * n + 0.5)))
    quota = fraction * counts
    take = np.maximum(np.floor(quota).astype(np.int64), 1)
    take = np.minimum(take, counts)
    remaining = target - int(take.sum())
    if remaining > 0:
        # Largest fractional part first; ties broken by class order (stable sort).
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        for i in order:
            if remaining == 0:
                break
            if take[i] < counts[i]:
                take[i] += 1
                remaining -= 1
    rng = np.random.default_rng(seed)
    for cls, k in zip(classes, take, strict=True):
        members = np.flatnonzero(y == cls)
        mask[rng.permutation(members)[:k]] = True
    return mask

