"""Block Gibbs and parallel tempering on the torch engine: the ``"gibbs"`` and ``"pt"`` methods.

``"gibbs"`` runs ``num_reads`` independent block-Gibbs chains of :class:`sampling.torch_engine.
IsingEngine` at the target β for ``num_sweeps`` sweeps and returns their last states.

``"pt"`` (replica exchange Monte Carlo, Swendsen & Wang 1986; Hukushima & Nemoto 1996) runs
``num_reads`` independent **replica sets**; each set has one replica per rung of a β ladder
β₁ < … < β_K = β (the target). After every sweep, neighbouring rungs k, k+1 of every set propose
to exchange configurations, accepted with min(1, exp((β_{k+1} − β_k)(E_{k+1} − E_k))) — on even
pairs after even sweeps, odd pairs after odd ones. Exchanges swap the β of two chains, not their
states. Each read is the configuration at the target rung after the last sweep.

The ladder: ``betas`` given (increasing, ending at β) is used as is. Otherwise ``num_replicas``
rungs (default from the problem size, :func:`default_num_replicas`) start geometric from
``beta_min`` (default 0.1 β) to β and are **adapted during the first quarter of the sweeps** for
even swap acceptance: after each adaptation window the measured acceptance a_k of pair k gives
each gap a "thermodynamic length" sqrt(−log a_k) (−log a ∝ Δβ² × heat capacity), and the rungs are
moved so that every gap has the same length, end points fixed. The adapted ladder, the acceptance
of every pair and the replica round trips (hottest → coldest → hottest) measured after the
adaptation are in ``info``; pass ``betas=info["betas"]`` to reuse a ladder.

Both methods record the energy trace of every read's chain (for PT: the target rung of every set)
over the second half of the sweeps and put :func:`sampling.convergence.summarize` in
``info["convergence"]``. ``initial_states`` (one state per read, prepared by the sampler) start
the chains; for PT every rung of set r starts from state r. ``device`` selects the torch device
("cpu", "cuda", ...).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import dimod
import numpy as np

from sampling.checks import check_positive_int
from sampling.convergence import summarize, trace_sweeps
from sampling.errors import SamplerArgumentError

__all__ = [
    "adapt_ladder",
    "check_ladder",
    "default_num_replicas",
    "geometric_ladder",
    "sample_gibbs",
    "sample_pt",
]

log = logging.getLogger(__name__)

#: Largest ladder accepted (each rung costs one chain per read).
MAX_REPLICAS = 256

#: Adaptation windows over the first quarter of the sweeps.
ADAPT_ROUNDS = 6


def default_num_replicas(num_variables: int, beta: float, beta_min: float) -> int:
    """Rungs for a ladder from ``beta_min`` to ``beta`` on ``num_variables`` spins.

    The swap acceptance between rungs Δβ apart falls like exp(−c Δβ² n) (energy fluctuations grow
    as sqrt(n)), so the rungs needed grow as sqrt(n) × log(β / β_min): 0.5 sqrt(n) log(β/β_min) + 2,
    clipped to [4, 64]. Gives 9 for 30 spins at β/β_min = 10 and 19 for 200 spins.

    Examples:
        >>> default_num_replicas(200, 2.0, 0.2), default_num_replicas(5000, 1.0, 0.1)
        (19, 64)
    """
    k = 0.5 * np.sqrt(max(num_variables, 1)) * np.log(beta / beta_min) + 2
    return int(np.clip(np.ceil(k), 4, 64))


def geometric_ladder(beta_min: float, beta: float, num_replicas: int) -> np.ndarray:
    """β₁ = beta_min < … < β_K = beta, geometric, shape (num_replicas,)."""
    return np.geomspace(beta_min, beta, num_replicas)


def check_ladder(betas: Any, beta: float) -> np.ndarray:
    """Validate an explicit ladder: finite, > 0, strictly increasing, ending at the target β.

    Raises:
        SamplerArgumentError: naming what is wrong and the ladder given.
    """
    try:
        ladder = np.asarray(betas, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise SamplerArgumentError(f"betas must be a sequence of numbers, got {betas!r}") from None
    if ladder.size < 2 or ladder.size > MAX_REPLICAS:
        raise SamplerArgumentError(
            f"betas must have 2 to {MAX_REPLICAS} rungs, got {ladder.size}"
        )
    if not np.all(np.isfinite(ladder)) or np.any(ladder <= 0) or np.any(np.diff(ladder) <= 0):
        raise SamplerArgumentError(
            f"betas must be positive, finite and strictly increasing, got {ladder.tolist()}"
        )
    if not np.isclose(ladder[-1], beta, rtol=1e-12, atol=0):
        raise SamplerArgumentError(
            f"betas must end at the target beta={beta:g}, got last rung {ladder[-1]:g}"
        )
    ladder[-1] = beta
    return ladder


def adapt_ladder(betas: np.ndarray, acceptance: np.ndarray) -> np.ndarray:
    """Move the inner rungs so that every pair gets the same −log acceptance (end points fixed).

    Args:
        betas: (K,) increasing ladder. acceptance: (K − 1,) measured swap acceptance per pair.

    Returns:
        (K,) new increasing ladder with the same end points.

    Examples:
        >>> adapt_ladder(np.array([1.0, 2.0, 3.0]), np.array([0.9, 0.9])).tolist()
        [1.0, 2.0, 3.0]
    """
    a = np.clip(acceptance, 1e-3, 1 - 1e-6)
    length = np.sqrt(-np.log(a))  # per gap; density length / Δβ is piecewise constant
    cum = np.concatenate([[0.0], np.cumsum(length)])
    targets = np.linspace(0.0, cum[-1], len(betas))
    new = np.interp(targets, cum, betas)
    new[0], new[-1] = betas[0], betas[-1]
    # damp: halfway to the proposal, which keeps the update stable under noisy acceptances
    return np.sort(0.5 * (new + betas))


def _prepare(bqm, device):
    import torch

    from sampling.torch_engine import IsingEngine

    return IsingEngine(bqm, device=device if device is not None else "cpu"), torch


def _finish(bqm, engine, state_cols, extra_info, traces, num_reads):
    samples = engine.to_samples(state_cols, bqm.vartype)
    ss = dimod.SampleSet.from_samples(
        (samples, engine.variables),
        vartype=bqm.vartype,
        energy=engine.energies(state_cols, exact=True).cpu().numpy(),
        info=extra_info,
        sort_labels=False,
    )
    ss.info["convergence"] = summarize(traces, num_reads)
    # which sweep ran: sampling.kernels' compiled one, or the pure-torch engine
    ss.info["engine"] = "compiled (numba)" if engine.compiled else "torch"
    return ss


def _initial(engine, torch, initial_states, num_reads, vartype, uniforms):
    if initial_states is None:
        return engine.random_state(num_reads, uniforms=uniforms)
    samples = np.asarray(initial_states)
    if samples.shape != (num_reads, engine.n):
        raise SamplerArgumentError(
            f"initial_states must have shape (num_reads={num_reads}, {engine.n}), "
            f"got {samples.shape}"
        )
    return engine.state_from_samples(samples, vartype)


def sample_gibbs(
    bqm: dimod.BinaryQuadraticModel,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    num_sweeps: int = 1000,
    initial_states: Any = None,
    device: str | None = None,
) -> dimod.SampleSet:
    """``num_reads`` block-Gibbs chains at β for ``num_sweeps`` sweeps (torch engine)."""
    num_sweeps = check_positive_int(num_sweeps, "num_sweeps", error=SamplerArgumentError)
    engine, torch = _prepare(bqm, device)
    uniforms = engine.generator(seed)
    state = _initial(engine, torch, initial_states, num_reads, bqm.vartype, uniforms)
    betas = torch.full((num_reads,), float(beta), device=engine.device)
    stops = trace_sweeps(num_sweeps)
    t0 = time.perf_counter_ns()
    traces = engine.traced_sweeps(state, betas, num_sweeps, uniforms, stops).cpu().numpy()
    sampling_ns = time.perf_counter_ns() - t0
    info = {
        "num_sweeps": num_sweeps,
        "schedule": "fixed",
        "device": str(engine.device),
        "num_colours": engine.num_colours,
        "spin_updates": num_sweeps * num_reads * engine.n,
        "timing": {"sampling_ns": sampling_ns},
    }
    return _finish(bqm, engine, state, info, traces, num_reads)


def sample_pt(
    bqm: dimod.BinaryQuadraticModel,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    num_sweeps: int = 1000,
    num_replicas: int | None = None,
    beta_min: float | None = None,
    betas: Sequence[float] | None = None,
    adapt: bool = True,
    initial_states: Any = None,
    device: str | None = None,
) -> dimod.SampleSet:
    """Parallel tempering with ``num_reads`` independent replica sets on a β ladder ending at β.

    Args:
        num_sweeps: sweeps of every replica (≥ 4); the first quarter adapts the ladder (if
            ``adapt``), the first half is burn-in, the second half is traced.
        num_replicas: rungs K (2 ≤ K ≤ 256); default :func:`default_num_replicas`.
        beta_min: hottest rung, 0 < beta_min < β; default 0.1 β.
        betas: explicit ladder (increasing, ending at β); overrides the three options above and
            is not adapted.
        adapt: tune the ladder for even swap acceptance during the first quarter.
        initial_states: (num_reads, n) states in the model's vartype; every rung of set r starts
            from row r.
        device: torch device.

    Returns:
        SampleSet of the target-rung states; ``info``: ``betas`` (the final ladder),
        ``swap_acceptance`` (K − 1,), ``round_trips`` (total over all replicas after the
        adaptation), ``round_trips_per_replica``, ``num_replicas``, ``num_sweeps``,
        ``convergence``, ``timing``.

    Raises:
        SamplerArgumentError: a bad ladder, replica count, beta_min or sweep count.
    """
    num_sweeps = check_positive_int(num_sweeps, "num_sweeps", error=SamplerArgumentError)
    if num_sweeps < 4:
        raise SamplerArgumentError(f"method 'pt' needs num_sweeps >= 4, got {num_sweeps}")
    if betas is not None:
        ladder = check_ladder(betas, beta)
        adapt = False
    else:
        if beta_min is None:
            beta_min = 0.1 * beta
        try:
            beta_min = float(beta_min)
        except (TypeError, ValueError):
            raise SamplerArgumentError(f"beta_min must be a number, got {beta_min!r}") from None
        if not np.isfinite(beta_min) or not 0 < beta_min < beta:
            raise SamplerArgumentError(
                f"beta_min must be in (0, beta={beta:g}), got {beta_min!r}"
            )
        if num_replicas is None:
            num_replicas = default_num_replicas(bqm.num_variables, beta, beta_min)
        if (
            isinstance(num_replicas, bool)
            or not isinstance(num_replicas, int | np.integer)
            or not 2 <= num_replicas <= MAX_REPLICAS
        ):
            raise SamplerArgumentError(
                f"num_replicas must be an integer in [2, {MAX_REPLICAS}], got {num_replicas!r}"
            )
        ladder = geometric_ladder(beta_min, beta, int(num_replicas))
    K = len(ladder)
    engine, torch = _prepare(bqm, device)
    dev = engine.device
    uniforms = engine.generator(seed)
    if initial_states is None:
        state = engine.random_state(num_reads * K, uniforms=uniforms)
    else:  # column r*K + k: set r, slot k (initially at rung k)
        start = _initial(engine, torch, initial_states, num_reads, bqm.vartype, uniforms)
        state = start.repeat_interleave(K, dim=1)
    # rung_of[r, k]: rung of chain (set r, slot k); chain_at[r, j]: slot at rung j
    chain_at = torch.arange(K, device=dev).repeat(num_reads, 1)
    ladder_t = torch.as_tensor(ladder, dtype=torch.float32, device=dev)
    base = torch.arange(num_reads, device=dev).unsqueeze(1) * K
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed).spawn(1)[0]))

    def chain_betas():
        rung_of = torch.empty_like(chain_at)
        rung_of.scatter_(1, chain_at, torch.arange(K, device=dev).expand(num_reads, K))
        return ladder_t[rung_of].reshape(-1)

    adapt_end = num_sweeps // 4 if adapt else 0
    window = max(adapt_end // ADAPT_ROUNDS, 1)
    stops = set((trace_sweeps(num_sweeps)).tolist())
    accepted = torch.zeros(K - 1, dtype=torch.float64, device=dev)
    proposed = np.zeros(K - 1)
    pairs = [torch.arange(p, K - 1, 2, device=dev) for p in (0, 1)]
    pairs_np = [np.arange(p, K - 1, 2) for p in (0, 1)]
    # round trips: direction[r, slot] = +1 after visiting the hottest rung, -1 after then
    # reaching the coldest; a return to the hottest rung from -1 completes a round trip
    direction = torch.zeros(num_reads, K, dtype=torch.int8, device=dev)
    trips = torch.zeros(num_reads, K, dtype=torch.int64, device=dev)
    traces = []
    betas_t = chain_betas()
    t0 = time.perf_counter_ns()
    for sweep in range(num_sweeps):
        engine.sweeps(state, betas_t, 1, uniforms)
        energy = engine.energies(state).reshape(num_reads, K)  # per chain slot
        e_rung = torch.gather(energy, 1, chain_at)  # (R, K) energy at each rung
        lo = pairs[sweep % 2]
        if lo.numel():
            d_beta = (ladder_t[lo + 1] - ladder_t[lo]).double()
            log_acc = d_beta * (e_rung[:, lo + 1] - e_rung[:, lo])
            u = torch.as_tensor(rng.random((num_reads, lo.numel())), device=dev)
            acc = torch.log(u) < log_acc
            a_slots, b_slots = chain_at[:, lo].clone(), chain_at[:, lo + 1].clone()
            chain_at[:, lo] = torch.where(acc, b_slots, a_slots)
            chain_at[:, lo + 1] = torch.where(acc, a_slots, b_slots)
            accepted[lo] += acc.sum(0, dtype=torch.float64)
            proposed[pairs_np[sweep % 2]] += num_reads
            betas_t = chain_betas()
        if sweep >= adapt_end:
            hot = chain_at[:, :1]
            cold = chain_at[:, K - 1 : K]
            d_hot = torch.gather(direction, 1, hot)
            trips.scatter_add_(1, hot, (d_hot == -1).long())  # hot -> cold -> hot completed
            direction.scatter_(1, hot, torch.ones_like(d_hot))
            d_cold = torch.gather(direction, 1, cold)
            direction.scatter_(1, cold, torch.where(d_cold == 1, -1, d_cold))
        if sweep in stops:
            traces.append(torch.gather(energy, 1, chain_at[:, K - 1 :]).squeeze(1).cpu().numpy())
        if adapt and sweep < adapt_end and (sweep + 1) % window == 0:
            acc_rate = accepted.cpu().numpy() / np.maximum(proposed, 1)
            ladder = adapt_ladder(ladder, acc_rate)
            ladder_t = torch.as_tensor(ladder, dtype=torch.float32, device=dev)
            ladder_t[-1] = float(beta)
            betas_t = chain_betas()
            accepted[:] = 0
            proposed[:] = 0
            log.debug("pt ladder after sweep %d: %s", sweep + 1, np.round(ladder, 4).tolist())
        if adapt and sweep + 1 == adapt_end:
            accepted[:] = 0
            proposed[:] = 0
    sampling_ns = time.perf_counter_ns() - t0
    cols = (base + chain_at[:, K - 1 :]).squeeze(1)
    final = state[:, cols]
    traces_arr = np.stack(traces, axis=1)
    total_trips = int(trips.sum())
    info = {
        "num_sweeps": num_sweeps,
        "num_replicas": K,
        "betas": [float(b) for b in ladder],
        "adapted": bool(adapt),
        "swap_acceptance": (accepted.cpu().numpy() / np.maximum(proposed, 1)).tolist(),
        "round_trips": total_trips,
        "round_trips_per_replica": total_trips / (num_reads * K),
        "device": str(dev),
        "num_colours": engine.num_colours,
        "spin_updates": num_sweeps * num_reads * K * engine.n,
        "timing": {"sampling_ns": sampling_ns},
    }
    return _finish(bqm, engine, final, info, traces_arr, num_reads)
