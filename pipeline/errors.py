"""The exception of the pipeline package: a mistake in the user's input."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A mistake in the user's input (a flag, config value, data file, checkpoint): ``train.py``
    reports it as one ``error:`` line and exit code 2. The messages name the flag concerned."""
