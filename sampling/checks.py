"""Argument checks shared by the samplers (no torch, no dimod: the dimod front imports them too)."""

from __future__ import annotations

import math
import operator
from typing import Any

__all__ = ["check_beta", "check_positive_int", "resolve_sweeps"]


def check_beta(beta: float) -> float:
    """Return ``beta`` as a float, or raise ``ValueError`` unless it is positive and finite."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    return value


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` unless it is an integer >= 1."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {number}")
    return number


def resolve_sweeps(k: int | None, num_sweeps: int | None, default: int, name: str) -> int:
    """Resolve the ``k`` / ``num_sweeps`` aliases (both given and different is an error)."""
    if k is not None and num_sweeps is not None and int(k) != int(num_sweeps):
        raise ValueError(f"k={k} and num_sweeps={num_sweeps} are aliases; give one of them")
    value = k if k is not None else num_sweeps
    return check_positive_int(default if value is None else value, name)
