"""Parsing and checking of the data options (resize, threshold, label fraction)."""

from __future__ import annotations

import re

import numpy as np

from .errors import DataError

__all__ = ["parse_resize", "check_threshold", "check_fraction", "check_resize"]


def parse_resize(text: str) -> tuple[int, int]:
    """Parse ``"HxW"`` (e.g. ``"8x8"``, case-insensitive, spaces allowed) or ``"N"`` (square).

    Raises:
        DataError: anything else, or a non-positive size.
    """
    if not isinstance(text, str):
        raise DataError("resize", f"expected a string like '8x8', got {text!r}")
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+)\s*)?", text)
    if m is None:
        raise DataError("resize", f"expected HxW with positive integers, e.g. '8x8'; got {text!r}")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) is not None else h
    if h <= 0 or w <= 0:
        raise DataError("resize", f"sizes must be positive, got {text!r}")
    return h, w



def check_threshold(threshold: float, source: str) -> None:
    ok = isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
    if not ok or not 0.0 <= float(threshold) < 1.0:
        raise DataError(source, f"threshold must be a number in [0, 1), got {threshold!r}")


def check_fraction(fraction: float, source: str) -> None:
    ok = isinstance(fraction, (int, float, np.floating)) and not isinstance(fraction, bool)
    if not ok or not 0.0 < float(fraction) <= 1.0:  # also rejects NaN
        raise DataError(source, f"label_fraction must be in (0, 1], got {fraction!r}")


def check_resize(
    resize: tuple[int, int] | str, original: tuple[int, int], source: str
) -> tuple[int, int]:
    if isinstance(resize, str):
        size = parse_resize(resize)
    else:
        try:
            h, w = resize  # type: ignore[misc]
        except (TypeError, ValueError):
            raise DataError(
                source, f"resize must be (h, w) or 'hxw', got {resize!r}"
            ) from None
        for v in (h, w):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise DataError(
                    source, f"resize must be two positive integers (h, w), got {resize!r}"
                )
        size = (int(h), int(w))
    big_h, big_w = int(original[0]), int(original[1])
    if size[0] > big_h or size[1] > big_w:
        raise DataError(
            source,
            f"resize {size[0]}x{size[1]} is larger than the images ({big_h}x{big_w}); "
            "resize only coarse-grains",
        )
    return size
