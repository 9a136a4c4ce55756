"""Argument checks shared by the samplers (no torch, no dimod: the dimod front imports them too)."""

from __future__ import annotations

import math
import operator
from typing import Any

__all__ = ["check_beta", "check_positive_int", "resolve_sweeps"]


def check_beta(beta: float, *, error: type[ValueError] = ValueError) -> float:
    """Return ``beta`` as a float, or raise ``error`` unless it is positive and finite.

    ``error`` is a ``ValueError`` subclass: a caller's own class (e.g. the dimod front's
    ``SamplerArgumentError``), so that one check serves every front.
    """
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise error(f"beta must be a positive finite number, got {beta!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise error(f"beta must be a positive finite number, got {beta!r}")
    return value


def check_positive_int(value: Any, name: str, *, error: type[ValueError] = ValueError) -> int:
    """Return ``value`` as an int, or raise ``error`` unless it is an integer >= 1.

    Any integer type is accepted (``int``, numpy integers), never ``bool`` or a float such as
    ``2.0``. ``error`` as in :func:`check_beta`.

    Examples:
        >>> check_positive_int(3, "num_reads")
        3
        >>> check_positive_int(0, "num_reads")
        Traceback (most recent call last):
        ...
        ValueError: num_reads must be an integer >= 1, got 0
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise error(f"{name} must be an integer >= 1, got {value!r}") from None
    if number < 1:
        raise error(f"{name} must be an integer >= 1, got {number}")
    return number


def resolve_sweeps(k: int | None, num_sweeps: int | None, default: int, name: str) -> int:
    """Resolve the ``k`` / ``num_sweeps`` aliases (both given and different is an error)."""
    if k is not None and num_sweeps is not None and int(k) != int(num_sweeps):
        raise ValueError(f"k={k} and num_sweeps={num_sweeps} are aliases; give one of them")
    value = k if k is not None else num_sweeps
    return check_positive_int(default if value is None else value, name)
