"""Inverse-temperature schedules that end at the target β.

Every schedule here is *Boltzmann-correct* in the sense of ``docs/design.md`` §3: its last sweep runs at
the target β, so a sampler that follows it draws (approximately) from exp(-β E) rather than
optimising E. dwave-samplers' default ``beta_range`` ends very cold and is deliberately not offered.

:func:`sa_parameters` is the one place that turns such a schedule into the keyword arguments of
``dwave.samplers.SimulatedAnnealingSampler.sample``; every SA call of this package (the ``sa``
negative sampler, ``BoltzmannSampler`` methods ``sa``/``gibbs``, the mock QPU's substitute) uses it.

Examples:
    >>> beta_schedule("geometric", beta=1.0, num_sweeps=4).round(3).tolist()
    [0.1, 0.215, 0.464, 1.0]
    >>> beta_schedule("quench", beta=2.0).tolist()
    [0.2, 2.0]
    >>> kwargs = sa_parameters([0.2, 2.0], seed=1)
    >>> kwargs["randomize_order"], kwargs["proposal_acceptance_criteria"], kwargs["seed"]
    (False, 'Gibbs', 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sampling.checks import check_positive_int, resolve_sweeps

__all__ = ["SCHEDULES", "AnnealingSchedule", "beta_schedule", "sa_parameters"]

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
    num_sweeps = check_positive_int(num_sweeps, "num_sweeps")
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


def sa_parameters(
    betas: Sequence[float], *, seed: int | None = None, initial_states: Any = None
) -> dict[str, Any]:
    """Keyword arguments of ``dwave.samplers.SimulatedAnnealingSampler.sample`` for Boltzmann
    sampling along ``betas`` (add ``num_reads``; the BQM stays unscaled, β lives in the schedule).

    The settings: ``beta_schedule_type="custom"`` with ``betas`` (the β of every sweep, shape
    (num_sweeps,); it must end at the target β), ``proposal_acceptance_criteria="Gibbs"`` (heat-bath
    updates) and ``randomize_order=False``: a systematic scan that updates every variable exactly
    once per sweep (the Boltzmann distribution stays stationary). dwave-samplers'
    A random order (``randomize_order`` true) draws n sites *with replacement* per sweep, so about e⁻¹ ≈ 37 % of the
    variables are not touched in a sweep: harmless over hundreds of sweeps, fatal to short schedules
    such as the two-sweep ``quench`` (64 independent spins with p(1) = 0.001 started at 1 keep a mean
    of 0.21 after the quench and 0.36 after one fixed-β sweep, instead of 0.001).

    Args:
        betas: β of every sweep, positive and finite, at least one.
        seed: SA seed (omitted when None: fresh randomness).
        initial_states: start states (anything ``dimod.as_samples`` takes, one per read); they are
            used as given (``initial_states_generator="none"``).

    Raises:
        ValueError: an empty schedule, or a β that is not positive and finite.
    """
    sched = np.asarray(betas, dtype=np.float64).ravel()
    if sched.size == 0 or not np.all(np.isfinite(sched)) or np.any(sched <= 0):
        raise ValueError(f"an SA schedule needs one positive finite beta per sweep, got {betas!r}")
    kwargs: dict[str, Any] = {
        "beta_schedule_type": "custom",
        "beta_schedule": sched,
        "proposal_acceptance_criteria": "Gibbs",
        "randomize_order": False,  # every variable once per sweep (see above)
    }
    if seed is not None:
        kwargs["seed"] = int(seed)
    if initial_states is not None:
        kwargs["initial_states"] = initial_states
        kwargs["initial_states_generator"] = "none"
    return kwargs


class AnnealingSchedule:
    """Sweep count and β schedule shared by the annealing samplers (``annealed`` and ``sa``)."""

    beta: float

    def _set_schedule(self, k: int | None, num_sweeps: int | None,
                      schedule: str | Sequence[float], beta_start: float | None) -> None:
        self.num_sweeps = resolve_sweeps(k, num_sweeps, default=10, name="num_sweeps")
        self.schedule = schedule if isinstance(schedule, str) else tuple(float(b) for b in schedule)
        self.beta_start = beta_start
        self.betas()  # validate now: unknown names, schedules that end elsewhere than β

    def betas(self) -> np.ndarray:
        """The β of every sweep of the next call, shape (sweeps,), ending at ``self.beta``."""
        return beta_schedule(self.schedule, self.beta, self.num_sweeps, self.beta_start)
