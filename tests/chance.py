"""The accuracy a classifier must beat to be better than chance on a test set, with a margin from
the test-set size (a binomial bound), for asserts that a model at chance would fail."""

from __future__ import annotations

import math

import torch

__all__ = ["chance_bound", "digits_chance"]


def chance_bound(y_test: torch.Tensor, sigmas: float = 4.0) -> float:
    """``p + sigmas · sqrt(p (1 − p) / n)`` with ``p`` the test set's majority-class frequency.

    A classifier whose predictions ignore the inputs is right on each of the ``n`` test examples
    with probability at most ``p`` (the best constant guess), so its accuracy is at most
    Binomial(n, p) / n: it exceeds this bound with probability below 1e-4 at 4 sigmas (normal
    approximation; 3e-5). Digits (360 test images, p = 0.103): 0.167.
    """
    n = int(y_test.numel())
    p = float(torch.bincount(y_test.flatten().long()).max()) / n
    return p + sigmas * math.sqrt(p * (1.0 - p) / n)


def digits_chance() -> float:
    """:func:`chance_bound` of the ``digits`` test set (the one every train.py test runs on)."""
    import imagedata

    return chance_bound(imagedata.load_dataset("digits").y_test)
