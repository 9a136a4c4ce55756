"""The default shift augmentation of fine-tuning, by image size.

A random shift of up to ±2 pixels (:func:`cnn.random_shift`) helps 28×28 digits and wrecks 8×8
ones (2 pixels is a quarter of the image), so the default depends on the image: ±2 pixels for
images at least 20 pixels high and wide, none below.

Examples:
    >>> default_augment_pixels((1, 28, 28)), default_augment_pixels((1, 8, 8))
    (2, 0)
    >>> augment_pixels(3, (1, 8, 8)), augment_pixels(None, (1, 8, 8))
    (3, 0)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DEFAULT_SHIFT", "MIN_SHIFTED_SIZE", "augment_pixels", "default_augment_pixels"]

DEFAULT_SHIFT = 2  # pixels, for images of at least MIN_SHIFTED_SIZE
MIN_SHIFTED_SIZE = 20  # pixels: the smaller of height and width


def default_augment_pixels(image_shape: Sequence[int]) -> int:
    """The default maximal shift for images of ``image_shape`` (``(C, H, W)`` or ``(H, W)``)."""
    return DEFAULT_SHIFT if min(image_shape[-2:]) >= MIN_SHIFTED_SIZE else 0


def augment_pixels(requested: int | None, image_shape: Sequence[int]) -> int:
    """``requested`` when given (a user's choice), else :func:`default_augment_pixels`."""
    return requested if requested is not None else default_augment_pixels(image_shape)
