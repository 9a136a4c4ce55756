"""The D-Wave QPU backend shared by ``qpu`` / ``mock-qpu`` samplers and the dimod front (no torch).

The model at target β is ``β · E``. A QPU programmed with the Ising energy ``E_qpu`` returns samples
distributed approximately as ``exp(-β_hw · E_qpu)``, with an unknown hardware inverse temperature
``β_hw`` at unit programmed scale. So we program ``E_qpu = s · E`` with ``s = β / β_hw`` and
estimate ``β_hw`` from the samples themselves (maximum pseudo-likelihood on the *logical* problem,
:mod:`sampling.calibration`), updating ``s`` call after call when ``calibrate=True``.

Pipeline of one request (:meth:`QPUBackend.sample_ising`):

1. the logical problem (a model's ``QuadraticModelSpec`` or any dimod BQM) in Ising form
   (:class:`LogicalIsing`), ``tiles`` disjoint copies of it side by side;
2. a **fixed embedding** of that tiled graph, found once per (solver, topology, working graph,
   problem graph, tiles) by minorminer, kept in memory and cached on disk
   (:mod:`sampling.qpu_embedding`);
3. ``h, J ← s·h, s·J``; chain strength from
   :func:`dwave.embedding.chain_strength.uniform_torque_compensation` (``chain_strength_prefactor``,
   default 2.0) or a fixed ``chain_strength``; the programmed biases are checked against the
   solver's ``h_range`` / ``j_range`` and **clipped** with a logged WARNING that says by how much
   (``range_policy="clip"``), or all scaled down together (``"rescale"``; the samples are then at
   ``last_info["beta_implied"]``, and calibration accounts for it);
4. sampling with ``answer_mode="raw"``, ``auto_scale=False``, ``num_reads``, ``annealing_time``,
   optional spin-reversal transforms (:class:`dwave.preprocessing.SpinReversalTransformComposite`,
   one random gauge per QPU call), bounded retries with exponential backoff on transient solver or
   network errors, then :class:`QPUSamplingError` (the only retry layer: ``ResilientSampler``
   does not retry it again);
5. unembedding by majority vote with seeded random tie-breaks; every read gives ``tiles`` samples;
6. ``β_eff`` of the logical samples by MPL, the calibration update, QPU timing in the info.

The ``DWaveSampler`` is created lazily, on the first request: its constructor contacts the Leap
cloud. Without a token (``dwave config create`` or ``DWAVE_API_TOKEN``) or without network it
raises :class:`QPUUnavailableError`, whose message says how to fix it.

Examples:
    A dimod BQM through the offline stand-in (a Pegasus P6 mock sampling 3x colder than
    programmed); the calibration finds the hidden factor:

    >>> import dimod
    >>> from sampling.qpu_mock import make_mock_dwave_sampler
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
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sampling.calibration import TemperatureCalibrator, mpl_beta
from sampling.errors import SamplingError
from sampling.qpu_embedding import (
    EmbeddedProblem,
    EmbeddingCache,
    EmbeddingError,
    problem_key,
    search_embedding,
    tile_edges,
)

__all__ = [
    "HOW_TO_CONFIGURE",
    "LogicalIsing",
    "QPUBackend",
    "QPUSamplingError",
    "QPUUnavailableError",
    "embedding_summary",
    "estimate_qpu_access_time",
    "qpu_token_configured",
    "sample_bqm",
    "sample_mock_qpu_method",
    "sample_qpu_method",
]

log = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "Configure a Leap API token with `dwave config create` (writes ~/.config/dwave/dwave.conf) "
    "or set the DWAVE_API_TOKEN environment variable, and make sure the Leap API is reachable; "
    "or work without a QPU: --sampler sa (simulated annealing; `--method sa` in python -m "
    "sampling) or the offline QPU stand-in mock-qpu."
)


class QPUUnavailableError(SamplingError, RuntimeError):
    """No D-Wave QPU can be used: no token configured, no network, authentication or solver
    selection failed. The message says how to configure a token and which samplers work offline."""

    retryable = False  # retrying cannot create a token: sampling.resilient lets it through


class QPUSamplingError(SamplingError, RuntimeError):
    """A QPU call kept failing after the backend's own retries (``max_retries``).

    ``retried = True``: the retries are done, so :class:`sampling.resilient.ResilientSampler`
    does not retry it again (one retry layer) but goes straight to its fallback, or stops.
    """

    retried = True


# --------------------------------------------------------------------------- logical problems


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


# --------------------------------------------------------------------------- tokens, timing


def qpu_token_configured(
    token: str | None = None, config_file: str | None = None, profile: str | None = None
) -> tuple[bool, str]:
    """Whether a Leap API token is configured, WITHOUT network: ``(ok, reason)``.

    Looks at ``token``, then the dwave-cloud-client configuration (``DWAVE_API_TOKEN``,
    ``DWAVE_CONFIG_FILE`` / the default config file and profile).
    """
    if token:
        return True, "token given"
    try:
        from dwave.cloud.config import load_config

        cfg = load_config(config_file=config_file, profile=profile)
    except Exception as exc:  # unreadable/invalid config file, unknown profile
        return False, f"the D-Wave configuration could not be read ({type(exc).__name__}: {exc})"
    if cfg.get("token"):
        return True, "token configured"
    return False, "no D-Wave API token is configured (DWAVE_API_TOKEN is unset and no config file has one)"


def estimate_qpu_access_time(
    num_qubits: int,
    num_reads: int,
    annealing_time: float | None = None,
    timing_data: Mapping | None = None,
) -> float:
    """QPU access time of ONE call in µs, by the SAPI timing model of dwave-cloud-client.

    ``t = t_programming + t_programming_thermalization + num_reads · (t_anneal + t_readout(Q) +
    t_delay)``, with the readout time interpolated (log-log) in the number of qubits ``Q``.
    ``timing_data`` is a solver's ``properties["problem_timing_data"]``; default: the Advantage4.1
    values (Aug. 2022) shipped with ``dwave.cloud.testing.mocks``.
    """
    from types import SimpleNamespace

    from dwave.cloud.solver import StructuredSolver

    if timing_data is None:
        from dwave.cloud.testing.mocks import qpu_problem_timing_data

        timing_data = qpu_problem_timing_data("advantage")
    holder = SimpleNamespace(properties={"problem_timing_data": dict(timing_data)})
    return float(
        StructuredSolver.estimate_qpu_access_time(
            holder, int(num_qubits), num_reads=int(num_reads), annealing_time=annealing_time
        )
    )


def embedding_summary(
    problem: Any,
    topology: str = "pegasus",
    shape: tuple[int, ...] = (16,),
    *,
    tiles: int = 1,
    seed: int = 0,
    tries: int = 2,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Embed ``tiles`` copies of a problem on a full-yield D-Wave graph and describe the result
    (offline; the numbers of ``docs/qpu.md``).

    Args:
        problem: a ``QuadraticModelSpec`` (e.g. ``model.to_qm(canvas)``) or a :class:`LogicalIsing`.
        topology, shape: ``("pegasus", (16,))`` is an Advantage-sized graph (5640 qubits),
            ``("zephyr", (12, 4))`` an Advantage2-sized one.

    Returns:
        ``num_variables``, ``num_couplings`` (per tile), ``tiles``, ``num_qubits``,
        ``graph_qubits``, ``max_chain_length``, ``mean_chain_length``, ``seconds`` (minorminer).
    """
    from dwave.system import qpu_graph

    ising = problem if isinstance(problem, LogicalIsing) else LogicalIsing.from_spec(problem)
    graph = qpu_graph(topology, list(shape), None, None)
    target = np.asarray(list(graph.edges), dtype=np.int64)
    n_all = ising.n * int(tiles)
    rows, cols = tile_edges(ising.rows, ising.cols, ising.n, int(tiles))
    t0 = time.perf_counter()
    chains = search_embedding(n_all, rows, cols, target, seed=seed, tries=tries, timeout=timeout)
    seconds = time.perf_counter() - t0
    emb = EmbeddedProblem(n_all, rows, cols, chains, target)
    return {
        "num_variables": ising.n,
        "num_couplings": len(ising.rows),
        "tiles": int(tiles),
        "num_qubits": emb.num_qubits,
        "graph_qubits": graph.number_of_nodes(),
        "max_chain_length": emb.max_chain_length,
        "mean_chain_length": float(emb.chain_len.mean()),
        "seconds": seconds,
    }


# --------------------------------------------------------------------------- errors / retries


def _classify(exc: BaseException) -> str:
    """``"fatal"`` (auth: no retry, QPUUnavailableError), ``"bad"`` (our bug or an invalid
    problem: re-raise), or ``"transient"`` (network, timeouts, solver hiccups: retry)."""
    try:
        from dwave.cloud.api.exceptions import (
            ResourceAccessForbiddenError,
            ResourceAuthenticationError,
            ResourceBadRequestError,
        )
        from dwave.cloud.exceptions import PollingTimeout, ProblemUploadError
        from dwave.system.exceptions import FailoverCondition
        from requests.exceptions import RequestException
    except ImportError:  # pragma: no cover - dwave-cloud-client is a hard dependency
        return "transient" if isinstance(exc, (OSError, TimeoutError)) else "bad"
    if isinstance(exc, (ResourceAuthenticationError, ResourceAccessForbiddenError)):
        return "fatal"
    if isinstance(exc, ResourceBadRequestError):
        return "bad"
    transient = (RequestException, PollingTimeout, ProblemUploadError, FailoverCondition,
                 OSError, TimeoutError)
    if isinstance(exc, transient):
        return "transient"
    return "bad"


# --------------------------------------------------------------------------- the backend


class QPUBackend:
    """Everything between a logical Ising problem at target β and a (mock) D-Wave QPU.

    Args:
        sampler: a structured dimod sampler to use instead of a ``DWaveSampler`` (a
            ``MockDWaveSampler``, or a test double); ``None`` creates a ``DWaveSampler`` lazily.
        solver: solver name (``"Advantage_system4.1"``) or feature filter dict for ``DWaveSampler``.
        token, config_file, profile: dwave-cloud-client configuration (default: its usual lookup).
        client_kwargs: more ``DWaveSampler``/``Client`` options, e.g. ``{"polling_timeout": 600}``.
        tiles: disjoint copies of the problem per QPU call (each read yields ``tiles`` samples).
        num_reads: most reads per QPU call (default: the solver's limit, 10 000 on Advantage).
        annealing_time: µs per anneal (default: the solver's, 20 µs on Advantage).
        chain_strength: fixed chain strength in programmed units; default ``None`` uses
            ``uniform_torque_compensation(prefactor=chain_strength_prefactor)`` of the programmed
            logical problem. The prefactor defaults to 2.0, not Ocean's 1.414: for *sampling*,
            broken chains distort the distribution (on the mock, 1.414 left 1.8 % of chains broken
            and biased β_eff 7 % low; 2.0 gives 0.6 % and 3 %; 3.0 slows the mixing again).
        spin_reversal_transforms: number of random gauges per sample call (0 = none); the reads
            are split evenly over them, one QPU call each.
        beta_hw: initial hardware inverse temperature at unit scale (the calibration's start).
        calibrate: update ``beta_hw`` from every call's MPL estimate; ``False`` keeps it fixed.
        calibration_gamma, calibration_max_step: damping and per-call clip of the update.
        range_policy: ``"clip"`` (warn and clip biases outside ``h_range``/``j_range``) or
            ``"rescale"`` (shrink everything to fit; the samples are then at ``beta_implied``).
        cache_dir: embedding cache directory; default ``$ANNEALER_CNN_EMBEDDING_CACHE`` or
            ``~/.cache/annealer-cnn/embeddings``; ``False`` disables the disk cache.
        embedding_seed, embedding_tries, embedding_timeout: minorminer settings.
        max_retries, retry_delay, retry_backoff, retry_max_delay: transient failures are retried
            ``max_retries`` times after ``retry_delay · retry_backoff^k`` seconds (capped).
        seed: seed of the tie-breaks and spin-reversal gauges.
    """

    def __init__(
        self,
        *,
        sampler: Any = None,
        solver: str | Mapping | None = None,
        token: str | None = None,
        config_file: str | None = None,
        profile: str | None = None,
        client_kwargs: Mapping | None = None,
        tiles: int = 1,
        num_reads: int | None = None,
        annealing_time: float | None = None,
        chain_strength: float | None = None,
        chain_strength_prefactor: float = 2.0,
        spin_reversal_transforms: int = 0,
        beta_hw: float = 4.0,
        calibrate: bool = True,
        calibration_gamma: float = 0.5,
        calibration_max_step: float = 4.0,
        range_policy: str = "clip",
        cache_dir: str | os.PathLike | bool | None = None,
        embedding_seed: int = 0,
        embedding_tries: int = 10,
        embedding_timeout: float = 300.0,
        max_retries: int = 3,
        retry_delay: float = 2.0,
        retry_backoff: float = 2.0,
        retry_max_delay: float = 120.0,
        seed: int | None = None,
    ):
        if int(tiles) < 1:
            raise ValueError(f"tiles must be >= 1, got {tiles}")
        if num_reads is not None and int(num_reads) < 1:
            raise ValueError(f"num_reads must be >= 1, got {num_reads}")
        if range_policy not in ("clip", "rescale"):
            raise ValueError(f"range_policy must be 'clip' or 'rescale', got {range_policy!r}")
        if chain_strength is not None and not chain_strength > 0:
            raise ValueError(f"chain_strength must be positive, got {chain_strength}")
        if int(spin_reversal_transforms) < 0:
            raise ValueError("spin_reversal_transforms must be >= 0")
        if int(max_retries) < 0 or retry_delay < 0 or retry_backoff < 1:
            raise ValueError("need max_retries >= 0, retry_delay >= 0 and retry_backoff >= 1")
        self._sampler = sampler
        self._srt = None
        self.solver = solver
        self.token = token
        self.config_file = config_file
        self.profile = profile
        self.client_kwargs = dict(client_kwargs or {})
        self.tiles = int(tiles)
        self.num_reads = None if num_reads is None else int(num_reads)
        self.annealing_time = annealing_time
        self.chain_strength = chain_strength
        self.chain_strength_prefactor = float(chain_strength_prefactor)
        self.spin_reversal_transforms = int(spin_reversal_transforms)
        self.calibrator = TemperatureCalibrator(
            beta_hw=float(beta_hw),
            gamma=float(calibration_gamma),
            max_step=float(calibration_max_step),
            enabled=bool(calibrate),
        )
        self.range_policy = range_policy
        self.cache = None if cache_dir is False else EmbeddingCache(cache_dir)
        self.embedding_seed = int(embedding_seed)
        self.embedding_tries = int(embedding_tries)
        self.embedding_timeout = float(embedding_timeout)
        self.max_retries = int(max_retries)
        self.retry_delay = float(retry_delay)
        self.retry_backoff = float(retry_backoff)
        self.retry_max_delay = float(retry_max_delay)
        self.rng = np.random.default_rng(seed)
        self.sleep: Callable[[float], None] = time.sleep
        self._embeddings: dict[str, EmbeddedProblem] = {}
        self.calibrated: set[str] = set()  # structure keys calibrated by sample_bqm
        self.stats = {"searches": 0, "memory_hits": 0, "disk_hits": 0, "qpu_calls": 0,
                      "retries": 0, "qpu_access_time_us": 0.0}

    # ------------------------------------------------------------------ the child sampler
    @property
    def sampler(self):
        """The structured child sampler, created on first use (``DWaveSampler`` contacts Leap)."""
        if self._sampler is None:
            self._sampler = self._connect()
        return self._sampler

    def _connect(self):
        ok, reason = qpu_token_configured(self.token, self.config_file, self.profile)
        if not ok:
            raise QPUUnavailableError(f"No D-Wave QPU available: {reason}. {HOW_TO_CONFIGURE}")
        from dwave.system import DWaveSampler

        kwargs = dict(self.client_kwargs)
        for key in ("solver", "token", "config_file", "profile"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        try:
            sampler = DWaveSampler(**kwargs)
        except Exception as exc:
            raise QPUUnavailableError(
                f"No D-Wave QPU available: connecting to Leap failed ({type(exc).__name__}: {exc})."
                f" {HOW_TO_CONFIGURE}"
            ) from exc
        log.info("connected to D-Wave solver %s", sampler.properties.get("chip_id"))
        return sampler

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
                n_all, rows, cols, target_edges, seed=self.embedding_seed,
                tries=self.embedding_tries, timeout=self.embedding_timeout,
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
        beta = float(beta)
        num_samples = int(num_samples)
        if not (beta > 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a positive finite number, got {beta}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        child = self.sampler
        emb, emb_source = self.embedding_for(ising)
        scale = self.calibrator.scale(beta)
        h_prog, J_prog = scale * ising.h, scale * ising.J
        chain = self._chain_strength(h_prog, ising.rows, ising.cols, J_prog)
        prog = emb.embed(np.tile(h_prog, self.tiles), np.tile(J_prog, self.tiles), chain)
        prog, factor, chain = self._fit_range(prog, child.properties, chain)
        scale_eff = scale / factor if self.range_policy == "rescale" else scale

        bqm = prog.to_bqm()
        reads_total = -(-num_samples // self.tiles)
        raw, timing, calls = self._run(bqm, prog.qubits, reads_total)
        spins_all, broken = emb.unembed(raw, self.rng)
        spins = spins_all.reshape(-1, self.tiles, ising.n).reshape(-1, ising.n)[:num_samples]

        beta_est = mpl_beta(ising.h, ising.rows, ising.cols, ising.J, spins)
        beta_hw_seen = beta_est / scale_eff if beta_est > 0 else float("nan")
        self.calibrator.update(beta_est, scale_eff)
        access = float(timing.get("qpu_access_time", 0.0))
        self.stats["qpu_access_time_us"] += access
        info = {
            "beta_eff": beta_est,
            "beta_hw": beta_hw_seen,
            "beta_hw_calibrated": self.calibrator.beta_hw,
            "scale": scale_eff,
            "beta_implied": beta * scale_eff / scale,
            "range_factor": factor,
            "chain_strength": chain,
            "chain_break_fraction": float(broken.mean()) if broken.size else 0.0,
            "max_chain_length": emb.max_chain_length,
            "num_qubits": emb.num_qubits,
            "tiles": self.tiles,
            "num_reads": int(raw.shape[0]),
            "qpu_calls": calls,
            "qpu_access_time": access,
            "qpu_timing": timing,
            "embedding": emb_source,
            "solver": self.solver_name,
        }
        return spins, info

    def _chain_strength(self, h, rows, cols, J) -> float:
        if self.chain_strength is not None:
            return float(self.chain_strength)
        import dimod
        from dwave.embedding.chain_strength import uniform_torque_compensation

        bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(h, (rows, cols, J), 0.0, dimod.SPIN)
        return float(uniform_torque_compensation(bqm, prefactor=self.chain_strength_prefactor))

    def _fit_range(self, prog, props, chain: float) -> tuple[Any, float, float]:
        """Apply ``range_policy`` to the problem's own biases and cap the chain strength.

        Returns the programmed problem, the factor by which the problem's fields/couplings
        exceeded ``h_range``/``j_range`` (1.0 when they fit) and the chain strength used.
        Chain couplers are not part of the problem: a chain strength beyond the solver's
        ferromagnetic limit ``-j_range[0]`` is capped there (more breaks, no distortion of the
        target), which is logged at INFO and visible as ``chain_strength`` in the info.
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
        if factor <= 1.0 + 1e-9:
            factor = 1.0
        elif self.range_policy == "rescale":
            log.info("programmed biases exceed the solver range by %.3gx: all rescaled, the samples"
                     " are at beta_implied = beta / %.3g", factor, factor)
            h, J, chain = h / factor, J / factor, chain / factor
        else:
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
        if chain > -j_lo:
            log.info("chain strength %.3g exceeds the solver's ferromagnetic limit %g: capped",
                     chain, -j_lo)
            chain = -j_lo
            J[prog.chain] = j_lo
        return type(prog)(prog.qubits, h, prog.rows, prog.cols, J, prog.chain), factor, chain

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
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                kind = _classify(exc)
                if kind == "fatal":
                    raise QPUUnavailableError(
                        f"the D-Wave solver refused the request ({type(exc).__name__}: {exc}). "
                        f"{HOW_TO_CONFIGURE}"
                    ) from exc
                if kind == "bad":
                    raise
                if attempt >= self.max_retries:
                    raise QPUSamplingError(
                        f"QPU sampling failed after {attempt + 1} attempts "
                        f"({type(exc).__name__}: {exc}); the solver or the network is down"
                    ) from exc
                delay = min(self.retry_max_delay, self.retry_delay * self.retry_backoff**attempt)
                attempt += 1
                self.stats["retries"] += 1
                log.warning("QPU call failed (%s: %s); retry %d/%d in %.3g s",
                            type(exc).__name__, exc, attempt, self.max_retries, delay)
                self.sleep(delay)

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

    variables = sampleset.variables
    try:
        order = np.fromiter((variables.index(int(q)) for q in qubits), dtype=np.int64,
                            count=len(qubits))
    except ValueError:
        raise QPUSamplingError("the solver returned samples for other qubits than programmed") from None
    record = sampleset.record
    samples = np.asarray(record.sample)[:, order].astype(np.int8)
    if sampleset.vartype is dimod.BINARY:
        samples = 2 * samples - 1
    occ = record.num_occurrences
    if np.any(occ != 1):
        samples = np.repeat(samples, occ, axis=0)
    return samples


# --------------------------------------------------------------------------- dimod front


def sample_bqm(
    backend: QPUBackend,
    bqm,
    beta: float = 1.0,
    num_reads: int = 100,
    *,
    calibration_rounds: int = 0,
    calibration_reads: int = 500,
    drift_tolerance: float = 0.25,
):
    """Sample ``exp(-beta · E)`` of any dimod BQM through ``backend``; a dimod SampleSet in the
    BQM's vartype and variable order, with the backend's metrics in ``info``.

    Every request updates the backend's calibration (when enabled). With ``calibration_rounds``
    > 0 the backend is also tuned for this problem *structure* (graph and tiles, not the values:
    :meth:`QPUBackend.structure_key`) by that many requests of ``calibration_reads`` reads before
    the draw, once: later calls on the same structure skip it, unless the drift check says so. The
    drift check compares the draw's MPL ``beta_eff`` with the β it was programmed for
    (``beta_implied``); a relative error above ``drift_tolerance`` recalibrates and draws again
    (not checked when biases were clipped to the solver's range: recalibrating cannot fix that).

    ``info`` adds ``calibrated`` (this call ran calibration requests), ``calibration_rounds`` and
    ``calibration_reads`` (what they cost), ``drift`` (|beta_eff / beta_implied - 1| of the
    returned draw, nan if unknown) and ``drift_recalibrated``.
    """
    import dimod

    rounds = int(calibration_rounds)
    if rounds < 0 or int(calibration_reads) < 1 or not drift_tolerance > 0:
        raise ValueError("need calibration_rounds >= 0, calibration_reads >= 1 and "
                         f"drift_tolerance > 0, got {calibration_rounds}, {calibration_reads}, "
                         f"{drift_tolerance}")
    ising, variables = LogicalIsing.from_bqm(bqm)
    tune = rounds > 0 and backend.calibrator.enabled
    key = backend.structure_key(ising) if tune else None

    def calibrate() -> None:
        for _ in range(rounds):
            backend.sample_ising(ising, beta, int(calibration_reads))
        backend.calibrated.add(key)

    calibrated = tune and key not in backend.calibrated
    if calibrated:
        calibrate()
    spins, info = backend.sample_ising(ising, beta, num_reads)
    drift = _drift(info, backend.range_policy)
    recalibrated = bool(tune and drift > drift_tolerance)
    if recalibrated:
        log.info("beta_eff %.4g is %.0f %% off the programmed beta %.4g: recalibrating",
                 info["beta_eff"], 100 * drift, info["beta_implied"])
        calibrate()
        spins, info = backend.sample_ising(ising, beta, num_reads)
        drift = _drift(info, backend.range_policy)
    info.update(
        calibrated=bool(calibrated or recalibrated),
        calibration_rounds=rounds * (int(calibrated) + int(recalibrated)),
        calibration_reads=rounds * int(calibration_reads) * (int(calibrated) + int(recalibrated)),
        drift=drift,
        drift_recalibrated=recalibrated,
    )
    samples = spins if bqm.vartype is dimod.SPIN else ((spins + 1) // 2).astype(np.int8)
    return dimod.SampleSet.from_samples_bqm((samples, variables), bqm, info=info)


def _drift(info: Mapping[str, Any], range_policy: str) -> float:
    """Relative error of a draw's β_eff w.r.t. the β it was programmed for (nan: not checkable)."""
    beta_eff, target = info["beta_eff"], info["beta_implied"]
    clipped = info["range_factor"] > 1.0 and range_policy == "clip"
    if clipped or not (math.isfinite(beta_eff) and beta_eff > 0):
        return float("nan")
    return abs(beta_eff / target - 1.0)


# --------------------------------------------------------------------------- BoltzmannSampler methods

_BACKENDS: dict[tuple, QPUBackend] = {}
_MAX_BACKENDS = 8


def _cached_backend(kind: str, make: Callable[[], QPUBackend], options: Mapping) -> QPUBackend:
    """One backend per (kind, options): embeddings and calibration survive between dimod calls."""
    key = (kind, tuple(sorted((k, repr(v)) for k, v in options.items())))
    backend = _BACKENDS.get(key)
    if backend is None:
        if len(_BACKENDS) >= _MAX_BACKENDS:
            _BACKENDS.pop(next(iter(_BACKENDS)))
        backend = _BACKENDS[key] = make()
    return backend


def _calibrated_draw(backend, bqm, beta, num_reads, seed, calibration_rounds, calibration_reads,
                     drift_tolerance):
    if seed is not None:
        backend.reseed(seed)
    return sample_bqm(backend, bqm, beta, num_reads, calibration_rounds=calibration_rounds,
                      calibration_reads=calibration_reads, drift_tolerance=drift_tolerance)


def sample_qpu_method(
    bqm,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    solver: str | None = None,
    tiles: int = 1,
    annealing_time: float | None = None,
    chain_strength: float | None = None,
    chain_strength_prefactor: float = 2.0,
    spin_reversal_transforms: int = 0,
    beta_hw: float = 4.0,
    calibrate: bool = True,
    calibration_rounds: int = 3,
    calibration_reads: int = 500,
    drift_tolerance: float = 0.25,
    range_policy: str = "clip",
    cache_dir: str | None = None,
):
    """``BoltzmannSampler`` method ``"qpu"``: a D-Wave QPU at target ``beta``.

    With ``calibrate`` (default) ``calibration_rounds`` requests of ``calibration_reads`` reads
    first tune the scale (β_hw), once per problem structure and again only when the draw's β_eff
    drifts more than ``drift_tolerance`` from β (:func:`sample_bqm`); the backend (embedding,
    calibration) is kept between calls with the same options, so later calls on the same
    structure pay no calibration (``info["calibrated"]`` says whether this one did). ``info`` carries ``beta_eff``, ``chain_break_fraction``,
    ``qpu_timing`` … (see :meth:`QPUBackend.sample_ising`).
    """
    options = dict(solver=solver, tiles=tiles, annealing_time=annealing_time,
                   chain_strength=chain_strength, chain_strength_prefactor=chain_strength_prefactor,
                   spin_reversal_transforms=spin_reversal_transforms, beta_hw=beta_hw,
                   calibrate=calibrate, range_policy=range_policy, cache_dir=cache_dir)
    backend = _cached_backend("qpu", lambda: QPUBackend(seed=seed, **options), options)
    return _calibrated_draw(backend, bqm, beta, num_reads, seed, calibration_rounds,
                            calibration_reads, drift_tolerance)


def sample_mock_qpu_method(
    bqm,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    topology: str = "pegasus",
    shape: tuple[int, ...] | None = None,
    hardware_beta: float = 3.0,
    num_sweeps_hold: int = 200,
    num_sweeps_anneal: int = 100,
    tiles: int = 1,
    chain_strength: float | None = None,
    chain_strength_prefactor: float = 2.0,
    spin_reversal_transforms: int = 0,
    beta_hw: float = 1.0,
    calibrate: bool = True,
    calibration_rounds: int = 3,
    calibration_reads: int = 500,
    drift_tolerance: float = 0.25,
    range_policy: str = "clip",
):
    """``BoltzmannSampler`` method ``"mock-qpu"``: the ``qpu`` pipeline on an offline
    ``MockDWaveSampler`` that samples ``exp(-hardware_beta · E_programmed)``
    (:mod:`sampling.qpu_mock`); no disk cache."""
    from sampling.qpu_mock import make_mock_dwave_sampler

    mock_opts = dict(topology=topology, shape=shape, hardware_beta=hardware_beta,
                     num_sweeps_hold=num_sweeps_hold, num_sweeps_anneal=num_sweeps_anneal)
    options = dict(tiles=tiles, chain_strength=chain_strength,
                   chain_strength_prefactor=chain_strength_prefactor,
                   spin_reversal_transforms=spin_reversal_transforms, beta_hw=beta_hw,
                   calibrate=calibrate, range_policy=range_policy)

    def make():
        mock = make_mock_dwave_sampler(seed=None if seed is None else seed + 1, **mock_opts)
        return QPUBackend(sampler=mock, seed=seed, cache_dir=False, **options)

    backend = _cached_backend("mock-qpu", make, {**mock_opts, **options})
    return _calibrated_draw(backend, bqm, beta, num_reads, seed, calibration_rounds,
                            calibration_reads, drift_tolerance)
