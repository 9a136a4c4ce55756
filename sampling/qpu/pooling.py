"""Probabilistic max-pooling on an annealer, exactly: a modest penalty and post-selection.

A pooled conv RBM allows at most one detection unit on per pooling block. As a quadratic model
that constraint is a pairwise penalty ``P · x_a x_b`` on every pair of units of a block; the
model's own spec (:func:`rbm.qm.default_pool_penalty`) uses ``P`` = largest hidden gain + 10, so
that invalid states are negligible. On a QPU such a penalty *sets the programmed range*: the scale
that fits it into ``j_range`` squeezes the model's real couplings down toward the control-error
level, or the penalty is clipped and the samples are at the wrong temperature.

Here the penalty is **modest** (:func:`modest_pool_penalty`: ``scale ×`` the largest gain of a
detection unit, without the margin: the size of the model's own fields, and at least 4 / β) and
the samples that break
the constraint are **discarded**. This is exact: the penalty is 0 on every valid state, so the
penalised distribution ``exp(-β (E + P·pairs)) / Z_P`` restricted to the valid states is
``exp(-β E) / Z_valid``, the pooled model's distribution. The price is the acceptance rate (the
fraction of reads that are valid), which :func:`sample_pooled` reports and which sets how many
extra reads are drawn.

Examples:
    >>> import numpy as np
    >>> from rbm.qm import conv_qm
    >>> w = np.full((1, 1, 2, 2), 0.5)
    >>> spec = conv_qm(w, np.zeros(1), np.zeros(1), (1, 3, 3), pool_size=2)
    >>> sorted(set(spec.values.round(3).tolist()))  # the default penalty: gain 2 + margin 10
    [-0.5, 12.0]
    >>> modest = with_pool_penalty(spec, modest_pool_penalty(spec))
    >>> sorted(set(modest.values.round(3).tolist()))  # gain 2 < the thermal floor 4 at beta 1
    [-0.5, 4.0]
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from sampling.bqm import pooling_pairs, pooling_violations
from sampling.qpu.errors import QPUSamplingError
from sampling.qpu.ising import LogicalIsing

__all__ = ["has_pooling", "modest_pool_penalty", "sample_pooled", "with_pool_penalty"]

log = logging.getLogger(__name__)


def _pool_mask(spec: Any) -> np.ndarray:
    n_v = int(spec.n_visible)
    return (np.asarray(spec.rows) >= n_v) & (np.asarray(spec.cols) >= n_v)


def modest_pool_penalty(spec: Any, scale: float = 1.0, beta: float = 1.0,
                        thermal_floor: float = 4.0) -> float:
    """``max(scale × G, thermal_floor / beta)``: G is the largest gain of switching one detection
    unit on (binary units).

    The gain of unit j is ``-linear_j + Σ_i max(-values_ij, 0)`` over its visible couplings: the
    most the energy can drop when j turns on, for any v (the gain of
    :func:`rbm.qm.default_pool_penalty` without its margin of 10). With ``scale = 1`` two units on
    in a block never lower the energy below the state with one of them off, so valid states are
    the ground states, yet the penalty stays the size of the model's own fields. The floor keeps
    weak models (G ≪ 1/β, e.g. freshly initialised) from accepting almost nothing: every penalty
    pair costs at least ``thermal_floor`` at β, and weak models have room in the range anyway.
    """
    if not scale > 0:
        raise ValueError(f"pool penalty scale must be positive, got {scale}")
    n_v = int(spec.n_visible)
    n = n_v + int(spec.n_hidden)
    rows, cols = np.asarray(spec.rows), np.asarray(spec.cols)
    values = np.asarray(spec.values, dtype=np.float64)
    vh = (rows < n_v) & (cols >= n_v)
    gain = -np.asarray(spec.linear, dtype=np.float64).copy()
    gain += np.bincount(cols[vh], np.clip(-values[vh], 0, None), minlength=n)
    largest = float(gain[n_v:].max(initial=0.0))
    return max(float(scale) * largest, float(thermal_floor) / float(beta))


def with_pool_penalty(spec: Any, penalty: float) -> Any:
    """The same spec with every pooling pair's penalty set to ``penalty`` (> 0)."""
    if not (penalty > 0 and math.isfinite(penalty)):
        raise ValueError(f"pool penalty must be positive and finite, got {penalty}")
    values = np.array(spec.values, dtype=np.float64)
    values[_pool_mask(spec)] = float(penalty)
    return dataclasses.replace(spec, values=values)


def sample_pooled(
    backend: Any,
    spec: Any,
    beta: float,
    num_samples: int,
    *,
    penalty_scale: float = 1.0,
    min_acceptance: float = 0.02,
    max_rounds: int = 8,
    acceptance_guess: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``num_samples`` binary states (N, n) of a pooled spec at ``beta``, every one valid.

    The spec is programmed with :func:`modest_pool_penalty` and drawn by ``backend.sample_ising``
    (:class:`~sampling.qpu.backend.QPUBackend`) in rounds; each round asks for the missing samples
    divided by the acceptance seen so far (plus 10 %; the first round uses ``acceptance_guess``,
    e.g. the previous call's, or asks for exactly ``num_samples``), and keeps the valid reads.

    Returns:
        ``(x, info)``: int8 (num_samples, n) and the last round's backend info with
        ``pool_penalty``, ``pooling_acceptance`` (valid / drawn over all rounds),
        ``pooling_violation_fraction`` (1 − acceptance), ``pooling_rounds``, ``pooling_drawn``;
        ``num_reads``, ``qpu_calls`` and ``qpu_access_time`` are summed over the rounds.

    Raises:
        QPUSamplingError: the acceptance fell below ``min_acceptance`` (judged once 200 reads
            are in) or ``max_rounds`` rounds did not give enough valid samples (raise
            ``penalty_scale``).
    """
    penalty = modest_pool_penalty(spec, penalty_scale, beta)
    ising = LogicalIsing.from_spec(with_pool_penalty(spec, penalty))
    kept, have, drawn, valid_total, rounds = [], 0, 0, 0, 0
    info: dict[str, Any] = {}
    totals = dict.fromkeys(("num_reads", "qpu_calls", "qpu_access_time"), 0)
    while have < num_samples:
        if rounds >= max_rounds:
            raise QPUSamplingError(
                f"post-selection of pooled states gave {have} of {num_samples} samples in "
                f"{rounds} rounds (acceptance {valid_total / max(drawn, 1):.3g}); raise the pool "
                f"penalty scale (now {penalty_scale})"
            )
        missing = num_samples - have
        acc = valid_total / drawn if drawn else acceptance_guess
        if acc is None:
            request = missing
        else:
            request = int(math.ceil(1.1 * missing / max(float(acc), min_acceptance)))
        spins, info = backend.sample_ising(ising, beta, request)
        for key in totals:
            totals[key] += info.get(key, 0)
        x = ((spins + 1) // 2).astype(np.int8)
        valid = ~pooling_violations(spec, x)
        kept.append(x[valid])
        have += int(valid.sum())
        drawn += len(x)
        valid_total += int(valid.sum())
        rounds += 1
        if drawn >= 200 and valid_total / drawn < min_acceptance:
            raise QPUSamplingError(
                f"only {valid_total} of {drawn} reads satisfy the pooling constraint (acceptance "
                f"{valid_total / drawn:.3g} < min_acceptance {min_acceptance}); raise the pool "
                f"penalty scale (now {penalty_scale})"
            )
    acceptance = valid_total / drawn
    info = dict(info, **totals, pool_penalty=penalty, pooling_acceptance=acceptance,
                pooling_violation_fraction=1.0 - acceptance, pooling_rounds=rounds,
                pooling_drawn=drawn)
    if acceptance < 0.5:
        log.info("pooling post-selection kept %.0f %% of %d reads", 100 * acceptance, drawn)
    return np.concatenate(kept)[:num_samples], info


def has_pooling(spec: Any) -> bool:
    """Whether a spec carries pooling pairs."""
    return bool(pooling_pairs(spec)[0].size)
