"""Convergence diagnostics for the MCMC methods of :class:`sampling.BoltzmannSampler`.

A Boltzmann sampler returns one state per read: the last state of an independent chain. One
sample per chain carries no information about mixing, so every MCMC method also records the
**energy trace** of each chain over the second half of its sweeps at the target β (thinned to at
most :data:`MAX_TRACE_POINTS` points; the first half is burn-in) and summarises it here:

``rhat``
    Rank-normalised split R-hat (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021): each of the
    M chains' traces is cut in two halves (2M sequences of n points), the pooled draws are replaced
    by their normal scores, and R-hat = sqrt(var⁺ / W) compares the pooled variance with the mean
    within-sequence variance; the folded (|E − median|) version catches chains that differ in
    spread only, and the larger of the two is reported. Chains that started in different random
    states and have forgotten them agree, R-hat → 1; chains stuck in different valleys, or still
    drifting (first half ≠ second half), give R-hat > 1. With an integrated autocorrelation time τ
    (in recorded points), R-hat² ≈ 1 + (τ − 1) / n, so R-hat ≤ 1.05 asks for τ ≲ n / 10: every
    chain decorrelates about ten times within each half of its window, hence its last state, the
    returned read, is practically independent of where it was at the start of the window.
``ess``
    Bulk effective sample size of the M·2n recorded energies (Geyer's initial monotone sequence on
    the multi-chain autocorrelation, as in Stan). ``ess_per_read`` = ess / M is the number of
    independent draws one chain's window holds (≈ 2n / τ).
``converged``
    R-hat ≤ :data:`RHAT_MAX` and ess ≥ :data:`MIN_ESS_FRACTION` × reads.
    :func:`check` turns a failure into a :class:`ConvergenceWarning`.

These are necessary, not sufficient, conditions: all chains trapped in the *same* wrong region give
R-hat ≈ 1. Independent random starts make that unlikely for the energy, and the tests compare the
methods with exact marginals (``"tree"``) for that reason. A chain frozen at one energy (every draw
equal, e.g. a ferromagnet at β = 20) has no measurable mixing: R-hat is reported as 1 and the ESS
as the number of draws when *all* draws are equal, as inf/0 when chains are constant but differ.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mixed = rng.normal(size=(200, 50))               # 200 chains, 50 independent points each
    >>> d = summarize(mixed, num_reads=200)
    >>> round(d["rhat"], 2), d["converged"]
    (1.0, True)
    >>> stuck = mixed + np.arange(200)[:, None] % 2 * 3  # two groups of chains in two valleys
    >>> summarize(stuck, num_reads=200)["converged"]
    False
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import dimod
import numpy as np

__all__ = [
    "MAX_TRACE_POINTS",
    "MIN_ESS_FRACTION",
    "RHAT_MAX",
    "ConvergenceWarning",
    "check",
    "effective_sample_size",
    "run_traced",
    "split_rhat",
    "summarize",
    "trace_sweeps",
]

#: R-hat above this flags a run (Vehtari et al. 2021 recommend 1.01 for final inference; 1.05 is
#: the usual screening threshold and the one asked for here).
RHAT_MAX = 1.05

#: An effective sample size below this fraction of the reads flags a run.
MIN_ESS_FRACTION = 0.1

#: Most energy points recorded per chain (the window is thinned evenly to at most this many).
MAX_TRACE_POINTS = 100


class ConvergenceWarning(UserWarning):
    """An MCMC run did not pass its convergence diagnostics (R-hat or effective sample size)."""


def trace_sweeps(num_sweeps: int, max_points: int = MAX_TRACE_POINTS) -> np.ndarray:
    """Sweeps (0-based, after which the energy is recorded) of the window: the last half, thinned.

    Returns:
        Increasing int array of at most ``max_points`` sweep indices in
        [num_sweeps - num_sweeps // 2, num_sweeps - 1], always including the last sweep; empty when
        ``num_sweeps`` < 4 (too short to diagnose).

    Examples:
        >>> trace_sweeps(10).tolist()
        [5, 6, 7, 8, 9]
        >>> trace_sweeps(1000, max_points=4).tolist()
        [624, 749, 874, 999]
    """
    window = num_sweeps // 2
    if window < 2:
        return np.empty(0, dtype=np.int64)
    points = min(window, max_points)
    stride = window // points
    return num_sweeps - 1 - stride * np.arange(points)[::-1]


def _split(traces: np.ndarray) -> np.ndarray:
    traces = np.asarray(traces, dtype=np.float64)
    if traces.ndim != 2:
        raise ValueError(f"expected traces of shape (chains, points), got shape {traces.shape}")
    half = traces.shape[1] // 2
    if half < 2:
        raise ValueError(f"need at least 4 points per chain, got {traces.shape[1]}")
    return np.concatenate([traces[:, :half], traces[:, -half:]], axis=0)


def _normal_scores(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri  # scipy.stats would cost seconds of import

    values, inverse, counts = np.unique(x.ravel(), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    ranks = average_rank[inverse].reshape(x.shape)
    return ndtri((ranks - 0.375) / (x.size + 0.25))


def _rhat_plain(seqs: np.ndarray) -> float:
    n = seqs.shape[1]
    within = seqs.var(axis=1, ddof=1).mean()
    between = n * seqs.mean(axis=1).var(ddof=1)
    if within == 0:
        return 1.0 if between == 0 else float("inf")
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def split_rhat(traces: np.ndarray) -> float:
    """Rank-normalised split R-hat (bulk and folded, the larger) of traces (M chains, T points).

    Examples:
        >>> import numpy as np
        >>> round(split_rhat(np.random.default_rng(1).normal(size=(8, 1000))), 2)
        1.0
    """
    seqs = _split(traces)
    if np.all(seqs == seqs.flat[0]):
        return 1.0
    bulk = _rhat_plain(_normal_scores(seqs))
    folded = _rhat_plain(_normal_scores(np.abs(seqs - np.median(seqs))))
    return max(bulk, folded)


def effective_sample_size(traces: np.ndarray) -> float:
    """Bulk effective sample size of traces (M chains, T points): M·T / τ̂ (Stan's estimator).

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(2).normal(size=(10, 400))
        >>> 3000 < effective_sample_size(x) < 5000                # independent draws: ≈ 4000
        True
    """
    seqs = _split(traces)
    if np.all(seqs == seqs.flat[0]):
        return float(seqs.size)
    z = _normal_scores(seqs)
    m, n = z.shape
    centred = z - z.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(centred, n=size, axis=1)
    acov = np.fft.irfft(spec * np.conj(spec), n=size, axis=1)[:, :n] / n  # biased, per sequence
    chain_var = acov[:, 0] * n / (n - 1)
    within = chain_var.mean()
    var_plus = within * (n - 1) / n + (z.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    if var_plus == 0 or within == 0:
        return 0.0
    rho = 1.0 - (within - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Geyer: sum pairs Γ_k = ρ_2k + ρ_2k+1 while positive, made monotone non-increasing
    pairs = rho[: 2 * (n // 2)].reshape(-1, 2).sum(axis=1)
    positive = np.flatnonzero(pairs <= 0)
    pairs = pairs[: positive[0]] if positive.size else pairs
    pairs = np.minimum.accumulate(pairs)
    tau = max(-1.0 + 2.0 * pairs.sum(), 1.0 / np.log10(m * n))
    return float(m * n / tau)


def summarize(traces: np.ndarray, num_reads: int) -> dict[str, Any]:
    """Diagnostics of energy traces (M chains, T points) for a run that returns ``num_reads`` reads.

    Returns:
        ``dict(rhat, ess, ess_per_read, num_chains, trace_points, converged, rhat_max,
        min_ess_fraction)``; with fewer than 4 points or 2 chains, rhat and ess are None and
        ``converged`` is None (not diagnosable).
    """
    traces = np.asarray(traces, dtype=np.float64)
    out: dict[str, Any] = {
        "num_chains": int(traces.shape[0]),
        "trace_points": int(traces.shape[1]) if traces.ndim == 2 else 0,
        "rhat_max": RHAT_MAX,
        "min_ess_fraction": MIN_ESS_FRACTION,
    }
    if traces.ndim != 2 or traces.shape[1] < 4 or traces.shape[0] < 2:
        out.update(rhat=None, ess=None, ess_per_read=None, converged=None)
        return out
    rhat = split_rhat(traces)
    ess = effective_sample_size(traces)
    out.update(
        rhat=rhat,
        ess=ess,
        ess_per_read=ess / traces.shape[0],
        converged=bool(rhat <= RHAT_MAX and ess >= MIN_ESS_FRACTION * num_reads),
    )
    return out


def check(diagnostics: Mapping[str, Any], method: str, stacklevel: int = 2) -> None:
    """Warn with :class:`ConvergenceWarning` when ``diagnostics["converged"]`` is False."""
    if diagnostics.get("converged") is not False:
        return
    warnings.warn(
        f"method {method!r} did not converge: split R-hat of the energy "
        f"{diagnostics['rhat']:.3g} (want <= {RHAT_MAX}), effective sample size "
        f"{diagnostics['ess']:.4g} for {diagnostics['num_chains']} reads (want >= "
        f"{MIN_ESS_FRACTION:g} x reads); the samples are not at equilibrium: use more sweeps, "
        "method 'pt', or method 'tree' if the treewidth allows",
        ConvergenceWarning,
        stacklevel=stacklevel + 1,
    )


def run_traced(
    run: Callable[[np.ndarray, Any, int | None], dimod.SampleSet],
    schedule: np.ndarray,
    seed: int | None,
    initial_states: Any = None,
) -> tuple[dimod.SampleSet, np.ndarray]:
    """Run a black-box sweep engine along ``schedule`` in segments, recording the energy trace.

    For engines that only return final states (dwave-samplers' SA): the schedule is cut at the
    :func:`trace_sweeps` points (at most :data:`MAX_TRACE_SEGMENTS` of them, evenly thinned) and
    each segment continues the previous one's states through ``initial_states``. This is the same
    Markov chain as one call (a sweep does not depend on the segment it is in); each segment gets
    its own seed, drawn from ``seed``'s stream.

    Args:
        run: ``run(segment_schedule, initial_states_or_None, seed) -> SampleSet``.
        schedule: β of every sweep, shape (num_sweeps,).
        seed: seed of the stream of segment seeds (None: fresh randomness).
        initial_states: the first segment's initial states (None: the engine's random states).

    Returns:
        ``(last_sampleset, traces)``; traces (num_reads, points) of energies, rows in the engine's
        read order (empty second axis when the schedule is too short to trace).
    """
    stops = trace_sweeps(len(schedule), MAX_TRACE_SEGMENTS) + 1
    cuts = np.unique(np.concatenate([stops, [len(schedule)]]))
    seeds = np.random.SeedSequence(seed).generate_state(len(cuts), dtype=np.uint32)
    start, states, trace = 0, initial_states, []
    for cut, sub_seed in zip(cuts, seeds, strict=True):
        ss = run(np.asarray(schedule[start:cut]), states, int(sub_seed) % 2**31)
        if cut in stops:
            trace.append(np.asarray(ss.record.energy, dtype=np.float64))
        states, start = ss, cut
    traces = np.stack(trace, axis=1) if trace else np.empty((len(ss), 0))
    return ss, traces


#: Most segments :func:`run_traced` cuts a black-box run into (each segment is one engine call).
MAX_TRACE_SEGMENTS = 20
