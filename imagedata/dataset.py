"""The data set container and :func:`load_dataset`, the one entry point by name."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .builtin import BUILTIN_SPLITS, builtin_arrays
from .errors import DataError
from .idx import load_idx_arrays
from .npz import npz_arrays
from .options import check_fraction, check_resize, check_threshold
from .preprocess import prepare_images, stratified_mask

__all__ = ["DATASETS", "Dataset", "load_dataset"]

logger = logging.getLogger(__name__)

#: The accepted forms of ``load_dataset``'s ``name``.
DATASETS = ("digits", "mnist5k", "idx:DIR", "npz:FILE")


@dataclass(frozen=True)
class Dataset:
    """A train/test image data set with a stratified labelled subset of the training set.

    Attributes:
        x_train, x_test: float32 ``(N, 1, H, W)`` in [0, 1].
        y_train, y_test: int64 ``(N,)``.
        labeled_mask: bool ``(N_train,)``; True for the training images whose labels may be used.
            The other training images are for unsupervised pretraining only.
        name: the ``name`` given to :func:`load_dataset`.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    labeled_mask: torch.Tensor
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image (C is 1)."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """1 + the largest label in train or test (labels are 0..num_classes-1)."""
        top = max(int(self.y_train.max()), int(self.y_test.max()) if len(self.y_test) else 0)
        return top + 1

    @property
    def num_labeled(self) -> int:
        """Number of labelled training images."""
        return int(self.labeled_mask.sum())

    def labeled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled training subset ``(x, y)``, in training-set order."""
        return self.x_train[self.labeled_mask], self.y_train[self.labeled_mask]

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.y_train)} "
            f"(labelled {self.num_labeled}), test={len(self.y_test)}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )



def load_dataset(
    name: str,
    binarize: bool = False,
    threshold: float = 0.5,
    label_fraction: float = 1.0,
    resize: tuple[int, int] | str | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a data set by name (see the module docstring for the names and their splits).

    Args:
        name: ``digits``, ``mnist5k``, ``idx:DIR`` or ``npz:FILE``.
        binarize: threshold pixels to {0, 1} (value > ``threshold``); else keep intensities.
        threshold: binarisation threshold in [0, 1).
        label_fraction: fraction in (0, 1] of the training set whose labels are kept
            (stratified, at least one per class, chosen with ``seed``); see :func:`stratified_mask`.
        resize: ``(h, w)`` or ``"hxw"``: coarse-grain every image to h x w by block averaging
            (before binarisation). Must not exceed the original size.
        seed: chooses the labelled subset only; the train/test split never depends on it.

    Raises:
        DataError: unknown name, unreadable or malformed files, bad options.
    """
    if not isinstance(name, str):
        raise DataError(repr(name), f"data set name must be a string, one of {', '.join(DATASETS)}")
    source = name
    check_threshold(threshold, source)
    check_fraction(label_fraction, source)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(source, f"seed must be a non-negative integer, got {seed!r}")

    if name in BUILTIN_SPLITS:
        x_tr, y_tr, x_te, y_te = builtin_arrays(name)
    elif name.startswith("idx:"):
        directory = name[4:]
        if not directory:
            raise DataError(name, "no directory given; use idx:DIR")
        arrays = load_idx_arrays(directory)
        x_tr, y_tr, x_te, y_te = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    elif name.startswith("npz:"):
        if not name[4:]:
            raise DataError(name, "no file given; use npz:FILE")
        x_tr, y_tr, x_te, y_te = npz_arrays(name[4:])
    else:
        raise DataError(name, f"unknown data set; valid names: {', '.join(DATASETS)}")

    size = None if resize is None else check_resize(resize, tuple(x_tr.shape[-2:]), source)
    x_train = prepare_images(x_tr, binarize, threshold, size, source=f"{source} x_train")
    x_test = prepare_images(x_te, binarize, threshold, size, source=f"{source} x_test")
    y_train = torch.from_numpy(np.asarray(y_tr).astype(np.int64))
    y_test = torch.from_numpy(np.asarray(y_te).astype(np.int64))
    mask = torch.from_numpy(stratified_mask(y_train.numpy(), label_fraction, seed))
    ds = Dataset(x_train, y_train, x_test, y_test, mask, name)
    logger.info("loaded %r", ds)
    return ds
