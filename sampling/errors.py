"""The exceptions of the sampling package (no torch, no dimod: cheap to import).

Every exception class that ``sampling/`` defines subclasses :class:`SamplingError` (and keeps its
former built-in base, e.g. ``ValueError`` for bad arguments, ``RuntimeError`` for failures), so a
caller can catch the package's errors with one ``except sampling.SamplingError``.
"""

from __future__ import annotations

__all__ = ["SamplerArgumentError", "SamplingError"]


class SamplingError(Exception):
    """Base of every exception raised by ``sampling/`` on purpose."""


class SamplerArgumentError(SamplingError, ValueError):
    """A user-supplied argument is invalid (β, num_reads, method, problem too large, ...)."""
