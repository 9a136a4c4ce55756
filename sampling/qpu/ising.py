"""The logical Ising problem a QPU request starts from (no torch, no dwave-system).

Examples:
    >>> import numpy as np
    >>> ising = LogicalIsing(h=np.array([0.5, 0.0]), rows=np.array([0]), cols=np.array([1]),
    ...                      J=np.array([-1.0]))
    >>> ising.energy(np.array([[1, 1], [1, -1]])).tolist()
    [-0.5, 1.5]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LogicalIsing"]


@dataclass(frozen=True)
class LogicalIsing:
    """``E(s) = h·s + Σ_k J_k s_{rows_k} s_{cols_k} + offset`` over spins ``s ∈ {-1, +1}^n``.

    Arrays: ``h`` (n,), ``rows``/``cols``/``J`` (M,) with unique pairs (the *structure*: an entry
    with value 0 still gets a coupler, so the embedding does not depend on the values).
    """

    h: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    J: np.ndarray
    offset: float = 0.0

    @property
    def n(self) -> int:
        return len(self.h)

    @classmethod
    def from_spec(cls, spec: Any) -> LogicalIsing:
        """The Ising form of a binary ``QuadraticModelSpec`` (x = (1 + s) / 2), same variables."""
        a = np.asarray(spec.linear, dtype=np.float64)
        rows = np.asarray(spec.rows, dtype=np.int64)
        cols = np.asarray(spec.cols, dtype=np.int64)
        b = np.asarray(spec.values, dtype=np.float64)
        n = len(a)
        h = a / 2 + (np.bincount(rows, b, minlength=n) + np.bincount(cols, b, minlength=n)) / 4
        offset = float(spec.offset) + a.sum() / 2 + b.sum() / 4
        return cls(h=h, rows=rows, cols=cols, J=b / 4, offset=offset)

    @classmethod
    def from_bqm(cls, bqm) -> tuple[LogicalIsing, list]:
        """The Ising form of a dimod BQM and its variable order (column order of the spins)."""
        variables = list(bqm.variables)
        h, (rows, cols, J), offset = bqm.spin.to_numpy_vectors(variable_order=variables)
        return cls(h=h.astype(np.float64), rows=rows.astype(np.int64), cols=cols.astype(np.int64),
                   J=J.astype(np.float64), offset=float(offset)), variables

    def energy(self, spins: np.ndarray) -> np.ndarray:
        """Energies of ±1 ``spins`` (R, n), shape (R,)."""
        s = np.asarray(spins, dtype=np.float64)
        return s @ self.h + (s[:, self.rows] * s[:, self.cols]) @ self.J + self.offset

