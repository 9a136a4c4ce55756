"""The base exception of the cnn package.

Every exception class that ``cnn/`` defines subclasses :class:`CNNError` (and keeps its former
built-in base: :class:`cnn.ArchitectureMismatchError` is still a ``ValueError``).
"""

from __future__ import annotations

__all__ = ["CNNError"]


class CNNError(Exception):
    """Base of every exception class defined in ``cnn/``."""
