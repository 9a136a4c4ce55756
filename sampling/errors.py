"""Exceptions shared by the sampling front-ends (:mod:`sampling.boltzmann` and its methods)."""

from __future__ import annotations

__all__ = ["SamplerArgumentError"]


class SamplerArgumentError(ValueError):
    """A user-supplied argument is invalid (β, num_reads, method, problem too large, ...)."""
