"""The base exception of the rbm package.

Every exception class that ``rbm/`` defines subclasses :class:`RBMError` (and keeps its former
built-in base: :class:`rbm.pretrain.DivergenceError` is still a ``RuntimeError``). Bad arguments
(shapes, values) stay plain ``ValueError``s, as documented in docs/interfaces.md.
"""

from __future__ import annotations

__all__ = ["RBMError"]


class RBMError(Exception):
    """Base of every exception class defined in ``rbm/``."""
