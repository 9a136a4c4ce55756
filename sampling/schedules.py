"""Inverse-temperature schedules that end at the target β.

Every schedule here is *Boltzmann-correct* in the sense of ``DESIGN.md`` §3: its last sweep runs at
the target β, so a sampler that follows it draws (approximately) from exp(-β E) rather than
optimising E. dwave-samplers' default ``beta_range`` ends very cold and is deliberately not offered.

Examples:
    >>> beta_schedule("geometric", beta=1.0, num_sweeps=4).round(3).tolist()
    [0.1, 0.215, 0.464, 1.0]
    >>> beta_schedule("quench", beta=2.0).tolist()
    [0.2, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SCHEDULES", "beta_schedule"]

#: Named schedules. ``quench`` is the two-sweep schedule of Job & Adachi 2020 (arXiv:2009.00134):
#: one hot sweep, then one sweep at the target β; it matched a D-Wave as a negative-phase sampler.
SCHEDULES = ("fixed", "linear", "geometric", "quench")


def beta_schedule(
    kind: str | Sequence[float],
    beta: float = 1.0,
    num_sweeps: int = 10,
    beta_start: float | None = None,
) -> np.ndarray:
    """Return the β of every sweep, shape (num_sweeps,), float64, ending at ``beta``.

    Args:
        kind: one of :data:`SCHEDULES`, or an explicit sequence of β values (a custom schedule; its
            last value must equal ``beta``, and ``num_sweeps`` is then ignored).
        beta: target inverse temperature, > 0.
        num_sweeps: number of sweeps, >= 1 (``quench`` always has 2).
        beta_start: first β of ``linear``/``geometric``/``quench``; default ``0.1 * beta``.

    Raises:
        ValueError: unknown name, non-positive β or sweeps, or a custom schedule that does not end at
            ``beta`` or contains a non-positive value.
    """
    beta = float(beta)
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    if not isinstance(kind, str):
        sched = np.asarray(kind, dtype=np.float64).ravel()
        if sched.size == 0 or not np.all(np.isfinite(sched)) or np.any(sched <= 0):
            raise ValueError("a custom beta schedule must be a non-empty sequence of positive numbers")
        if not np.isclose(sched[-1], beta):
            raise ValueError(
                f"a custom beta schedule must end at the target beta={beta}, it ends at {sched[-1]}"
                " (a schedule that ends elsewhere samples the wrong distribution)"
            )
        return sched
    if kind not in SCHEDULES:
        raise ValueError(f"unknown beta schedule {kind!r}; expected one of {', '.join(SCHEDULES)}")
    num_sweeps = int(num_sweeps)
    if num_sweeps < 1:
        raise ValueError(f"num_sweeps must be >= 1, got {num_sweeps}")
    start = 0.1 * beta if beta_start is None else float(beta_start)
    if not np.isfinite(start) or start <= 0:
        raise ValueError(f"beta_start must be a positive finite number, got {beta_start!r}")
    if kind == "fixed":
        return np.full(num_sweeps, beta)
    if kind == "quench":
        return np.array([start, beta])
    if num_sweeps == 1:
        return np.array([beta])
    if kind == "linear":
        return np.linspace(start, beta, num_sweeps)
    return np.geomspace(start, beta, num_sweeps)
