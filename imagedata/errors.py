"""The one exception of the data package: a user's data or data option is wrong."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DataError"]


class DataError(ValueError):
    """A problem with the user's data or data options; the message is one line naming the source."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.source}: {self.problem}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str]]:  # picklable (worker processes)
        return type(self), (self.source, self.problem)

