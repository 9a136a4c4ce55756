"""The D-Wave QPU backend shared by ``qpu`` / ``mock-qpu`` samplers and the dimod front (no torch).

The model at target β is ``β · E``. A QPU programmed with the Ising energy ``E_qpu`` returns samples
distributed approximately as ``exp(-β_hw · E_qpu)``, with an unknown hardware inverse temperature
``β_hw`` at unit programmed scale. So we program ``E_qpu = s · E`` with ``s = β / β_hw`` and
estimate ``β_hw`` from the samples themselves (maximum pseudo-likelihood on the *logical* problem,
:mod:`sampling.qpu.calibration`), updating ``s`` call after call when ``calibrate=True``.

Pipeline of one request (:meth:`QPUBackend.sample_ising`):

1. the logical problem (a model's ``QuadraticModelSpec`` or any dimod BQM) in Ising form
   (:class:`LogicalIsing`), ``tiles`` disjoint copies of it side by side;
2. a **fixed embedding** of that tiled graph, found once per (solver, topology, working graph,
   problem graph, tiles) by minorminer, kept in memory and cached on disk
   (:mod:`sampling.qpu.embedding`);
3. ``h, J ← s·h, s·J``; chain strength from
   :func:`dwave.embedding.chain_strength.uniform_torque_compensation` (``chain_strength_prefactor``,
   default 2.0) with the thermal floor ``chain_strength_floor / β_hw``, or a fixed
   ``chain_strength``; the programmed biases are checked against the solver's ``h_range`` /
   ``j_range``: at most ``max_clip_fraction`` of them are **clipped** with a logged WARNING
   (``range_policy="clip"``); beyond that a calibrating backend scales everything down together
   for this call, as ``"rescale"`` always does (the samples are then at
   ``last_info["beta_implied"]``, and calibration accounts for it), and a fixed one raises
   :class:`~sampling.qpu.errors.QPURangeError`;
4. sampling with ``answer_mode="raw"``, ``auto_scale=False``, ``num_reads``, ``annealing_time``,
   optional spin-reversal transforms (:class:`dwave.preprocessing.SpinReversalTransformComposite`,
   one random gauge per QPU call), bounded retries with exponential backoff on transient solver or
   network errors, then :class:`~sampling.qpu.errors.QPUSamplingError` (the only retry layer: ``ResilientSampler``
   does not retry it again);
5. unembedding by majority vote with seeded random tie-breaks; every read gives ``tiles`` samples;
   a draw with more than ``max_chain_break_fraction`` broken chains is drawn again (stronger
   chains, then a weaker problem), then refused;
6. ``β_eff`` of the logical samples by MPL, the calibration update (never from clipped draws; β_hw
   bounded around its start), the Callen consistency check, QPU timing in the info.

The ``DWaveSampler`` is created lazily, on the first request: its constructor contacts the Leap
cloud. Without a token (``dwave config create`` or ``DWAVE_API_TOKEN``) or without network it
raises :class:`~sampling.qpu.errors.QPUUnavailableError` (:mod:`sampling.qpu.leap`).

Examples:
    A dimod BQM through the offline stand-in (a Pegasus P6 mock sampling 3x colder than
    programmed); the calibration finds the hidden factor:

    >>> import dimod
    >>> from sampling.qpu.front import sample_bqm
    >>> from sampling.qpu.mock import make_mock_dwave_sampler
    >>> mock = make_mock_dwave_sampler(hardware_beta=3.0, num_sweeps_hold=50, num_sweeps_anneal=20,
    ...                                seed=1)
    >>> backend = QPUBackend(sampler=mock, beta_hw=1.0, tiles=4, cache_dir=False, seed=0)
    >>> bqm = dimod.generators.ran_r(1, 8, seed=0)  # 8 spins, J = ±1 on 3-regular graph
    >>> for _ in range(6):
    ...     ss = sample_bqm(backend, bqm, beta=0.5, num_reads=400)
    >>> len(ss), ss.info["embedding"], bool(abs(backend.calibrator.beta_hw / 3.0 - 1) < 0.15)
    (400, 'memory', True)
"""


from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sampling.checks import check_beta, check_positive_int
from sampling.qpu.calibration import TemperatureCalibrator, callen_z, mpl_beta
from sampling.qpu.embedding import (
    EmbeddedProblem,
    EmbeddingCache,
    EmbeddingError,
    problem_key,
    search_embedding,
    tile_edges,
)
from sampling.qpu.errors import QPURangeError, QPUSamplingError, RetryPolicy, with_retries
from sampling.qpu.ising import LogicalIsing
from sampling.qpu.leap import connect
from sampling.qpu.options import QPUOptions

__all__ = ["QPUBackend"]

log = logging.getLogger(__name__)


class QPUBackend:
    """Everything between a logical Ising problem at target β and a (mock) D-Wave QPU.

    Args:
        sampler: a structured dimod sampler to use instead of a ``DWaveSampler`` (a
            ``MockDWaveSampler``, or a test double); ``None`` creates a ``DWaveSampler`` lazily.
        options: a :class:`~sampling.qpu.options.QPUOptions`; or its fields as keywords.
        seed: seed of the tie-breaks and spin-reversal gauges.
    """

    def __init__(self, *, sampler: Any = None, options: QPUOptions | None = None,
                 seed: int | None = None, **fields: Any):
        if options is None:
            options = QPUOptions(**fields)
        elif fields:
            raise TypeError(f"pass options or its fields, not both (got {sorted(fields)})")
        self.options = opts = options
        self._sampler = sampler
        self._srt = None
        self.tiles = int(opts.tiles)
        self.num_reads = None if opts.num_reads is None else int(opts.num_reads)
        self.annealing_time = opts.annealing_time
        self.chain_strength = opts.chain_strength
        self.chain_strength_prefactor = float(opts.chain_strength_prefactor)
        self.spin_reversal_transforms = int(opts.spin_reversal_transforms)
        self.calibrator = TemperatureCalibrator(
            beta_hw=float(opts.beta_hw),
            gamma=float(opts.calibration_gamma),
            max_step=float(opts.calibration_max_step),
            enabled=bool(opts.calibrate),
            bound=float(opts.calibration_bound),
        )
        self.range_policy = opts.range_policy
        self.cache = None if opts.cache_dir is False else EmbeddingCache(opts.cache_dir)
        self.retry = RetryPolicy(int(opts.max_retries), float(opts.retry_delay),
                                 float(opts.retry_backoff), float(opts.retry_max_delay))
        self.rng = np.random.default_rng(seed)
        self.sleep: Callable[[float], None] = time.sleep
        self._embeddings: dict[str, EmbeddedProblem] = {}
        self.calibrated: set[str] = set()  # structure keys calibrated by sample_bqm
        self.stats = {"searches": 0, "memory_hits": 0, "disk_hits": 0, "qpu_calls": 0,
                      "retries": 0, "chain_retries": 0, "refused": 0, "inconsistent": 0, "qpu_access_time_us": 0.0}

    # ------------------------------------------------------------------ the child sampler
    @property
    def sampler(self):
        """The structured child sampler, created on first use (``DWaveSampler`` contacts Leap)."""
        if self._sampler is None:
            self._sampler = self._connect()
        return self._sampler

    def _connect(self):
        o = self.options
        return connect(o.solver, o.token, o.config_file, o.profile, o.client_kwargs)

    @property
    def solver_name(self) -> str:
        return str(self.sampler.properties.get("chip_id", type(self.sampler).__name__))

    # ------------------------------------------------------------------ embeddings
    def structure_key(self, ising: LogicalIsing) -> str:
        """Key of ``ising``'s structure on this solver (graph, tiles, working graph; not the
        values): the embedding cache key, and the unit of calibration of :func:`sample_bqm`."""
        child = self.sampler
        target_edges = np.asarray(child.edgelist, dtype=np.int64).reshape(-1, 2)
        return problem_key(self.solver_name, child.properties.get("topology"), target_edges,
                           ising.n, ising.rows, ising.cols, self.tiles)

    def embedding_for(self, ising: LogicalIsing) -> tuple[EmbeddedProblem, str]:
        """The fixed embedding of ``tiles`` copies of ``ising``'s graph, and where it came from
        (``"memory"``, ``"disk"`` or ``"search"``)."""
        child = self.sampler
        props = child.properties
        target_edges = np.asarray(child.edgelist, dtype=np.int64).reshape(-1, 2)
        key = self.structure_key(ising)
        emb = self._embeddings.get(key)
        if emb is not None:
            self.stats["memory_hits"] += 1
            return emb, "memory"
        n_all = ising.n * self.tiles
        rows, cols = tile_edges(ising.rows, ising.cols, ising.n, self.tiles)
        source = "disk"
        chains = self.cache.get(key) if self.cache is not None else None
        if chains is not None:
            try:
                emb = EmbeddedProblem(n_all, rows, cols, chains, target_edges)
                if not set(emb.qubits.tolist()) <= set(child.nodelist):
                    raise EmbeddingError("cached embedding uses qubits the solver no longer has")
                self.stats["disk_hits"] += 1
            except EmbeddingError as exc:
                log.warning("cached embedding %s is invalid for this solver (%s): searching again",
                            key, exc)
                emb = None
        if emb is None:
            source = "search"
            self.stats["searches"] += 1
            chains = search_embedding(
                n_all, rows, cols, target_edges, seed=self.options.embedding_seed,
                tries=self.options.embedding_tries, timeout=self.options.embedding_timeout,
            )
            emb = EmbeddedProblem(n_all, rows, cols, chains, target_edges)
            if self.cache is not None:
                self.cache.put(key, emb.embedding, meta={
                    "solver": self.solver_name, "topology": props.get("topology"),
                    "num_variables": ising.n, "num_couplings": len(ising.rows),
                    "tiles": self.tiles, "num_qubits": emb.num_qubits,
                    "max_chain_length": emb.max_chain_length,
                })
        self._embeddings[key] = emb
        return emb, source

    # ------------------------------------------------------------------ one sampling request
    def sample_ising(
        self, ising: LogicalIsing, beta: float, num_samples: int
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw ``num_samples`` spin samples of ``exp(-beta · E)`` for the logical ``ising``.

        Returns:
            ``(spins, info)``: int8 ±1 array (num_samples, n) in the variable order of ``ising``,
            and the metrics of this request (see :class:`QPUSampler` for the keys).
        """
        beta = check_beta(beta)
        num_samples = check_positive_int(num_samples, "num_samples")
        child = self.sampler
        props = child.properties
        emb, emb_source = self.embedding_for(ising)
        scale = self.calibrator.scale(beta)
        h_prog, J_prog = scale * ising.h, scale * ising.J
        chain = self._chain_strength(h_prog, ising.rows, ising.cols, J_prog)
        h_all, J_all = np.tile(h_prog, self.tiles), np.tile(J_prog, self.tiles)
        reads_total = -(-num_samples // self.tiles)
        timing: dict[str, float] = {}
        calls = reads = 0
        limit = self.options.max_chain_break_fraction
        cap = self._chain_cap(props)
        shrink = 1.0  # > 1: the problem is programmed weaker so that its chains hold
        for attempt in range(self.options.chain_retries + 1):
            prog, factor, chain, policy, clipped = self._fit_range(
                emb.embed(h_all / shrink, J_all / shrink, chain), props, chain)
            raw, t, c = self._run(prog.to_bqm(), prog.qubits, reads_total)
            calls, reads = calls + c, reads + int(raw.shape[0])
            for k, v in t.items():
                timing[k] = timing.get(k, 0.0) + v
            spins_all, broken = emb.unembed(raw, self.rng)
            breaks = float(broken.mean()) if broken.size else 0.0
            if breaks <= limit:
                break
            if attempt == self.options.chain_retries:
                self.stats["refused"] += 1
                raise QPUSamplingError(
                    f"{100 * breaks:.1f} % of the chains broke (max_chain_break_fraction "
                    f"{100 * limit:.3g} %) at chain strength {chain:.3g} after {attempt + 1} "
                    f"draws: these samples are refused. Use fewer tiles or a smaller canvas "
                    f"(shorter chains: max {emb.max_chain_length}), or a lower beta")
            if chain < cap:
                log.info("%.1f %% of the chains broke at chain strength %.3g: drawing again at "
                         "%.3g", 100 * breaks, chain, min(1.5 * chain, cap))
                chain = min(1.5 * chain, cap)
            else:
                shrink *= 2.0
                log.warning("%.1f %% of the chains broke at the largest chain strength %.3g: "
                            "drawing again with the problem 1/%.3g as strong (samples at "
                            "beta_implied)", 100 * breaks, chain, shrink)
            self.stats["chain_retries"] += 1
        if shrink > 1.0:
            factor = shrink * (factor if policy == "rescale" else 1.0)
            policy = "rescale" if policy != "clip" else policy
        scale_eff = scale / factor if policy == "rescale" else scale
        spins = spins_all.reshape(-1, self.tiles, ising.n).reshape(-1, ising.n)[:num_samples]

        beta_est = mpl_beta(ising.h, ising.rows, ising.cols, ising.J, spins)
        beta_hw_seen = beta_est / scale_eff if beta_est > 0 else float("nan")
        if policy == "clip":  # clipped samples are hotter than programmed: no calibration
            log.info("calibration skipped: this draw's biases were clipped")
        else:
            self.calibrator.update(beta_est, scale_eff)
        beta_implied = beta * scale_eff / scale
        z = callen_z(ising.h, ising.rows, ising.cols, ising.J, spins, beta_est)
        if self.options.max_consistency_z is not None and z > self.options.max_consistency_z:
            self.stats["inconsistent"] += 1
            (log.warning if self.stats["inconsistent"] == 1 else log.info)("the samples are not Boltzmann at any temperature: a Callen identity is "
                        "%.1f standard errors off at their beta_eff %.4g (max_consistency_z "
                        "%.3g); the hardware has biases a scale cannot fix (use "
                        "spin_reversal_transforms)", z, beta_est, self.options.max_consistency_z)
        access = float(timing.get("qpu_access_time", 0.0))
        self.stats["qpu_access_time_us"] += access
        info = {
            "beta_eff": beta_est,
            "beta_hw": beta_hw_seen,
            "beta_hw_calibrated": self.calibrator.beta_hw,
            "scale": scale_eff,
            "beta_implied": beta_implied,
            "range_factor": factor,
            "range_action": policy,
            "clipped_fraction": clipped,
            "consistency_z": z,
            "chain_strength": chain,
            "chain_break_fraction": breaks,
            "chain_draws": attempt + 1,
            "max_chain_length": emb.max_chain_length,
            "num_qubits": emb.num_qubits,
            "tiles": self.tiles,
            "num_reads": reads,
            "qpu_calls": calls,
            "qpu_access_time": access,
            "qpu_timing": timing,
            "embedding": emb_source,
            "solver": self.solver_name,
        }
        return spins, info

    def _chain_strength(self, h, rows, cols, J) -> float:
        """``max(uniform torque compensation, chain_strength_floor / β_hw)`` (or the fixed one).

        The floor is thermal: a chain coupler of strength c breaks with a Boltzmann factor of
        about ``exp(-2 β_hw c)`` whatever the problem, so weak problems (whose torque
        compensation is small) still get chains that hold.
        """
        if self.chain_strength is not None:
            return float(self.chain_strength)
        import dimod
        from dwave.embedding.chain_strength import uniform_torque_compensation

        bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(h, (rows, cols, J), 0.0, dimod.SPIN)
        utc = float(uniform_torque_compensation(bqm, prefactor=self.chain_strength_prefactor))
        return max(utc, self.options.chain_strength_floor / self.calibrator.beta_hw)

    def _fit_range(self, prog, props, chain: float) -> tuple[Any, float, float, str, float]:
        """Fit the problem's own biases into ``h_range``/``j_range`` and cap the chain strength.

        Returns the programmed problem, the factor by which the problem's fields/couplings
        exceeded the ranges (1.0 when they fit), the chain strength used, what was done
        (``"fit"``, ``"clip"`` or ``"rescale"``) and the fraction of biases beyond the range.
        With ``range_policy="clip"`` at most ``max_clip_fraction`` of the biases are clipped
        (with a WARNING); beyond that a calibrating backend rescales this call instead (its
        samples at ``beta_implied``, the calibration unbiased), and a fixed one raises
        :class:`QPURangeError`. Chain couplers are not part of the problem: a chain strength
        beyond the solver's ferromagnetic limit ``-j_range[0]`` is capped there (more breaks,
        no distortion of the target), which is logged at INFO.
        """
        h_lo, h_hi = (float(x) for x in props.get("h_range", (-np.inf, np.inf)))
        j_lo, j_hi = (float(x) for x in props.get("j_range", (-np.inf, np.inf)))
        logical = ~prog.chain

        def ratio(x, lo, hi):
            if x.size == 0:
                return 0.0
            return float(max(np.max(np.where(x > 0, x / hi, 0.0)),
                             np.max(np.where(x < 0, x / lo, 0.0))))

        factor = max(ratio(prog.h, h_lo, h_hi), ratio(prog.J[logical], j_lo, j_hi))
        h, J = prog.h, prog.J.copy()
        beyond = ((prog.h < h_lo) | (prog.h > h_hi)).sum() + (
            (prog.J[logical] < j_lo) | (prog.J[logical] > j_hi)).sum()
        clipped = float(beyond) / max(len(prog.h) + int(logical.sum()), 1)
        action = "fit"
        if factor <= 1.0 + 1e-9:
            factor, clipped = 1.0, 0.0
        elif self.range_policy == "rescale" or (
            clipped > self.options.max_clip_fraction and self.calibrator.enabled
        ):
            if self.range_policy == "rescale":
                log.info("programmed biases exceed the solver range by %.3gx: all rescaled, the "
                         "samples are at beta_implied = beta / %.3g", factor, factor)
            else:
                log.warning(
                    "programmed biases exceed the solver's h_range/j_range by up to %.3gx; "
                    "clipping would change %.1f %% of them (max_clip_fraction %.3g %%): this call "
                    "is rescaled instead, its samples are at beta_implied = beta / %.3g",
                    factor, 100 * clipped, 100 * self.options.max_clip_fraction, factor)
            action = "rescale"  # the chains keep their strength: stronger relative to the problem
            h, J = h / factor, J / factor
        elif clipped > self.options.max_clip_fraction:
            self.stats["refused"] += 1
            raise QPURangeError(
                f"the programmed biases exceed the solver's h_range=[{h_lo:g}, {h_hi:g}] / "
                f"j_range=[{j_lo:g}, {j_hi:g}] by up to {factor:.3g}x: clipping would change "
                f"{100 * clipped:.1f} % of them (max_clip_fraction "
                f"{100 * self.options.max_clip_fraction:.3g} %), so the samples would not be at "
                f"the target beta. Lower beta or beta_hw, use range_policy='rescale', or raise "
                f"max_clip_fraction")
        else:
            action = "clip"
            h = np.clip(prog.h, h_lo, h_hi)
            J[logical] = np.clip(J[logical], j_lo, j_hi)
            n_h = int(np.sum(h != prog.h))
            n_j = int(np.sum(J[logical] != prog.J[logical]))
            log.warning(
                "programmed biases exceed the solver's h_range=[%g, %g] / j_range=[%g, %g] by up "
                "to %.3gx (max |h| %.3g, max |J| %.3g): clipped %d of %d fields and %d of %d "
                "couplings, so these samples are not at the target beta. Lower beta, or use "
                "range_policy='rescale' (samples at beta / %.3g).",
                h_lo, h_hi, j_lo, j_hi, factor, float(np.abs(prog.h).max(initial=0)),
                float(np.abs(prog.J[logical]).max(initial=0)), n_h, len(h), n_j,
                int(logical.sum()), factor,
            )
        cap = self._chain_cap(props)
        if chain > cap:
            log.info("chain strength %.3g exceeds the solver's ferromagnetic limit %g: capped",
                     chain, cap)
            chain = cap
        J[prog.chain] = -chain
        return type(prog)(prog.qubits, h, prog.rows, prog.cols, J, prog.chain), factor, chain, action, clipped

    @staticmethod
    def _chain_cap(props) -> float:
        """Largest chain strength: the solver's ferromagnetic limit ``-j_range[0]``.

        (Not ``extended_j_range``: on the mock, chains of strength 1.5-2 freeze the dynamics and
        put the hidden marginal 5x over its noise floor where strength 1 is within it.)"""
        return -float(props.get("j_range", (-np.inf, np.inf))[0])

    def _child_for_call(self):
        if self.spin_reversal_transforms == 0:
            return self.sampler
        if self._srt is None:
            from dwave.preprocessing import SpinReversalTransformComposite

            self._srt = SpinReversalTransformComposite(self.sampler)
        self._srt.rng = self.rng  # one seeded stream for gauges and tie-breaks
        return self._srt

    def reseed(self, seed: int | None) -> None:
        """Restart the random streams (tie-breaks, gauges, and a mock's substitute sampler)."""
        self.rng = np.random.default_rng(seed)
        sub = getattr(self._sampler, "substitute_sampler", None)
        if getattr(sub, "rng", None) is not None:
            sub.rng = np.random.default_rng(None if seed is None else seed + 1)

    def _run(self, bqm, qubits: np.ndarray, reads_total: int):
        """Submit ``reads_total`` reads in as few calls as the limits allow; return raw spins
        (R, Q) in ``qubits`` order, summed timing (µs) and the number of calls."""
        props = self.sampler.properties
        limit = int(props.get("num_reads_range", (1, 10_000))[1])
        if self.num_reads is not None:
            limit = min(limit, self.num_reads)
        n_calls = max(-(-reads_total // limit), self.spin_reversal_transforms)
        sizes = [reads_total // n_calls + (i < reads_total % n_calls) for i in range(n_calls)]
        sizes = [s for s in sizes if s > 0]
        kwargs: dict[str, Any] = {"answer_mode": "raw", "auto_scale": False}
        if self.annealing_time is not None:
            kwargs["annealing_time"] = float(self.annealing_time)
        if self.spin_reversal_transforms:
            kwargs["num_spin_reversal_transforms"] = 1
        child = self._child_for_call()
        chunks, timing = [], {}
        for size in sizes:
            ss = self._with_retries(lambda size=size: _resolved(child.sample(bqm, num_reads=size, **kwargs)))
            self.stats["qpu_calls"] += 1
            for k, v in (ss.info.get("timing") or {}).items():
                if isinstance(v, (int, float)):
                    timing[k] = timing.get(k, 0.0) + float(v)
            chunks.append(_raw_samples(ss, qubits))
        return np.concatenate(chunks, axis=0), timing, len(sizes)

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        return with_retries(call, self.retry, self.sleep, self.stats)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Calibration, random-generator states and counters (plain Python values)."""
        state = {
            "calibrator": self.calibrator.state_dict(),
            "rng": self.rng.bit_generator.state,
            "stats": dict(self.stats),
        }
        sub = getattr(self._sampler, "substitute_sampler", None)
        if getattr(sub, "rng", None) is not None:
            state["substitute_rng"] = sub.rng.bit_generator.state
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.calibrator.load_state_dict(dict(state["calibrator"]))
        self.rng.bit_generator.state = state["rng"]
        self.stats.update(state.get("stats", {}))
        sub = getattr(self._sampler, "substitute_sampler", None)  # never connects to Leap
        if "substitute_rng" in state and getattr(sub, "rng", None) is not None:
            sub.rng.bit_generator.state = state["substitute_rng"]


def _resolved(sampleset):
    """Force a (possibly lazy, cloud-backed) SampleSet so that its errors surface here."""
    resolve = getattr(sampleset, "resolve", None)
    if resolve is not None:
        resolve()
    return sampleset


def _raw_samples(sampleset, qubits: np.ndarray) -> np.ndarray:
    """±1 spins (R, Q) in ``qubits`` order, one row per read (aggregated rows are expanded)."""
    import dimod

    from sampling.bqm import column_order

    try:
        order = column_order(sampleset.variables, [int(q) for q in qubits])
    except KeyError:
        raise QPUSamplingError("the solver returned samples for other qubits than programmed") from None
    record = sampleset.record
    samples = np.asarray(record.sample)[:, order].astype(np.int8)
    if sampleset.vartype is dimod.BINARY:
        samples = 2 * samples - 1
    occ = record.num_occurrences
    if np.any(occ != 1):
        samples = np.repeat(samples, occ, axis=0)
    return samples
