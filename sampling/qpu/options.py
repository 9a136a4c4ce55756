"""The QPU options, declared once: the backend's (:class:`QPUOptions`), the offline mock's
(:class:`MockOptions`) and the dimod front's calibration policy (:class:`FrontOptions`).

:class:`~sampling.qpu.backend.QPUBackend`, the negative-phase samplers of
:mod:`sampling.qpu.samplers` and the ``BoltzmannSampler`` methods ``qpu`` / ``mock-qpu``
(:mod:`sampling.qpu.front`) all take these fields as keyword options; :func:`split_options` sorts a
keyword dict into the dataclasses and names the unknown keys, and :func:`method_signature` gives a
method function the keyword parameters ``BoltzmannSampler.parameters`` lists.

Examples:
    >>> opts = QPUOptions(tiles=4)
    >>> opts.tiles, opts.chain_strength_prefactor, MOCK_DEFAULTS["beta_hw"]
    (4, 2.0, 1.0)
    >>> (qpu, front), unknown = split_options({"tiles": 2, "drift_tolerance": 0.1, "tilez": 3},
    ...                                      QPUOptions, FrontOptions)
    >>> qpu.tiles, front.drift_tolerance, unknown
    (2, 0.1, ['tilez'])
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from sampling.checks import check_positive_int

__all__ = [
    "FrontOptions",
    "MOCK_DEFAULTS",
    "MockOptions",
    "QPUOptions",
    "method_signature",
    "option_names",
    "split_options",
]


@dataclass(frozen=True)
class QPUOptions:
    """Everything a :class:`~sampling.qpu.backend.QPUBackend` can be told.

    Attributes:
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
        calibration_bound: the estimate of β_hw stays within ``[beta_hw / bound, beta_hw ·
            bound]`` of the initial guess, whatever the samples say.
        range_policy: ``"clip"`` (warn and clip biases outside ``h_range``/``j_range``) or
            ``"rescale"`` (shrink everything to fit; the samples are then at ``beta_implied``).
        max_clip_fraction: with ``"clip"``, the largest fraction of the programmed biases that
            may be clipped (default 0: none). Beyond it a calibrating backend rescales the call
            (samples at ``beta_implied``, calibration unbiased) and a fixed one raises
            :class:`~sampling.qpu.errors.QPURangeError`. Clipped draws never update β_hw.
        chain_strength_floor: the chain strength is at least ``floor / β_hw`` (a chain coupler
            breaks with a Boltzmann factor ≈ ``exp(-2 β_hw c)``: 2.0 gives ≈ 2 %), so weak
            problems keep intact chains; 0 disables the floor.
        max_chain_break_fraction, chain_retries: a draw with more broken chains (default 2 %)
            is drawn again with 1.5x the chain strength, or, at the ferromagnetic limit, with the
            problem half as strong (samples at ``beta_implied``), ``chain_retries`` times, then
            refused with :class:`~sampling.qpu.errors.QPUSamplingError`.
        max_consistency_z: warn (once per backend, then log at INFO; ``stats["inconsistent"]``
            counts) when a Callen identity of the samples is more than this many standard errors
            off at their own β_eff (non-Boltzmann samples; None: no check).
        cache_dir: embedding cache directory; default ``$ANNEALER_CNN_EMBEDDING_CACHE`` or
            ``~/.cache/annealer-cnn/embeddings``; ``False`` disables the disk cache.
        embedding_seed, embedding_tries, embedding_timeout: minorminer settings.
        max_retries, retry_delay, retry_backoff, retry_max_delay: transient failures are retried
            ``max_retries`` times after ``retry_delay · retry_backoff^k`` seconds (capped).
    """

    solver: str | Mapping | None = None
    token: str | None = None
    config_file: str | None = None
    profile: str | None = None
    client_kwargs: Mapping | None = None
    tiles: int = 1
    num_reads: int | None = None
    annealing_time: float | None = None
    chain_strength: float | None = None
    chain_strength_prefactor: float = 2.0
    spin_reversal_transforms: int = 0
    beta_hw: float = 4.0
    calibrate: bool = True
    calibration_gamma: float = 0.5
    calibration_max_step: float = 4.0
    calibration_bound: float = 10.0
    range_policy: str = "clip"
    max_clip_fraction: float = 0.0
    chain_strength_floor: float = 2.0
    max_chain_break_fraction: float = 0.02
    chain_retries: int = 4
    max_consistency_z: float | None = 8.0
    cache_dir: str | os.PathLike | bool | None = None
    embedding_seed: int = 0
    embedding_tries: int = 10
    embedding_timeout: float = 300.0
    max_retries: int = 3
    retry_delay: float = 2.0
    retry_backoff: float = 2.0
    retry_max_delay: float = 120.0

    def __post_init__(self) -> None:
        check_positive_int(self.tiles, "tiles")
        if self.num_reads is not None:
            check_positive_int(self.num_reads, "num_reads")
        if self.range_policy not in ("clip", "rescale"):
            raise ValueError(f"range_policy must be 'clip' or 'rescale', got {self.range_policy!r}")
        if self.chain_strength is not None and not self.chain_strength > 0:
            raise ValueError(f"chain_strength must be positive, got {self.chain_strength}")
        if int(self.spin_reversal_transforms) < 0:
            raise ValueError("spin_reversal_transforms must be >= 0")
        if int(self.max_retries) < 0 or self.retry_delay < 0 or self.retry_backoff < 1:
            raise ValueError("need max_retries >= 0, retry_delay >= 0 and retry_backoff >= 1")
        if not 0 <= self.max_clip_fraction <= 1 or not 0 <= self.max_chain_break_fraction <= 1:
            raise ValueError("max_clip_fraction and max_chain_break_fraction must be in [0, 1], "
                             f"got {self.max_clip_fraction}, {self.max_chain_break_fraction}")
        if self.chain_strength_floor < 0 or int(self.chain_retries) < 0:
            raise ValueError("need chain_strength_floor >= 0 and chain_retries >= 0, got "
                             f"{self.chain_strength_floor}, {self.chain_retries}")
        if not (self.beta_hw > 0 and math.isfinite(self.beta_hw)):
            raise ValueError(f"initial hardware beta must be positive and finite, got {self.beta_hw}")


@dataclass(frozen=True)
class MockOptions:
    """The offline stand-in (:func:`sampling.qpu.mock.make_mock_dwave_sampler`).

    Attributes:
        topology, shape: ``"pegasus"`` / ``"zephyr"`` / ``"chimera"`` and its shape (default
            Pegasus P6, Zephyr (2, 4), Chimera (4, 4, 4)); an int or ``"2,4"`` is read as a tuple
            (``--sampler-option shape=16``: an Advantage-sized Pegasus P16).
        hardware_beta: the hidden inverse temperature the samples follow at unit programmed scale.
        num_sweeps_hold, num_sweeps_anneal: the substitute's simulated-annealing schedule.
        mock_properties: overrides of the mock's properties (e.g. ``{"j_range": [-0.5, 0.5]}``).
        ice_h, ice_j, bias_offset, beta_drift: the non-idealities of
            :class:`sampling.qpu.mock.Noise` (default 0: an ideal mock; ``REALISTIC_NOISE``
            there holds the magnitudes of a real QPU).
    """

    topology: str = "pegasus"
    shape: tuple[int, ...] | None = None
    hardware_beta: float = 3.0
    num_sweeps_hold: int = 200
    num_sweeps_anneal: int = 100
    mock_properties: Mapping | None = field(default=None, hash=False)
    ice_h: float = 0.0
    ice_j: float = 0.0
    bias_offset: float = 0.0
    beta_drift: float = 0.0

    def __post_init__(self) -> None:
        shape = self.shape
        if isinstance(shape, str):  # from a command line: "16" or "2,4"
            shape = tuple(s for s in shape.replace("x", ",").split(",") if s.strip())
        elif isinstance(shape, (int, float)):
            shape = (shape,)
        if shape is not None:
            try:
                shape = tuple(int(s) for s in shape)
            except (TypeError, ValueError):
                raise ValueError(f"mock shape must be integers like 16 or 2,4; got {self.shape!r}") from None
        object.__setattr__(self, "shape", shape)


@dataclass(frozen=True)
class FrontOptions:
    """How the dimod front (:func:`sampling.qpu.front.sample_bqm`) calibrates per structure.

    Attributes:
        calibration_rounds: requests of ``calibration_reads`` reads before the first draw on a
            problem structure (0: none).
        drift_tolerance: a draw whose ``beta_eff`` is further than this (relative) from its
            programmed β recalibrates and draws again.
    """

    calibration_rounds: int = 3
    calibration_reads: int = 500
    drift_tolerance: float = 0.25

    def __post_init__(self) -> None:
        if (int(self.calibration_rounds) < 0 or int(self.calibration_reads) < 1
                or not self.drift_tolerance > 0):
            raise ValueError("need calibration_rounds >= 0, calibration_reads >= 1 and "
                             f"drift_tolerance > 0, got {self.calibration_rounds}, "
                             f"{self.calibration_reads}, {self.drift_tolerance}")


#: The backend defaults that differ on the mock: a wrong initial guess (calibration has something
#: to find) and no disk cache.
MOCK_DEFAULTS: dict[str, Any] = {"beta_hw": 1.0, "cache_dir": False}

#: QPUOptions fields that only make sense for a real solver (not offered by the mock).
LEAP_ONLY = ("solver", "token", "config_file", "profile", "client_kwargs")


def option_names(*classes: type) -> tuple[str, ...]:
    """Field names of the given option dataclasses, in declaration order."""
    return tuple(f.name for cls in classes for f in fields(cls))


def split_options(options: Mapping[str, Any], *classes: type,
                  defaults: Mapping[str, Any] | None = None) -> tuple[tuple, list[str]]:
    """One instance per class from ``{**defaults, **options}``, and the keys no class takes."""
    merged = {**dict(defaults or {}), **dict(options)}
    out = []
    for cls in classes:
        names = {f.name for f in fields(cls)}
        out.append(cls(**{k: v for k, v in merged.items() if k in names}))
    known = set(option_names(*classes))
    return tuple(out), sorted(k for k in options if k not in known)


def method_signature(*classes: type, defaults: Mapping[str, Any] | None = None,
                     exclude: tuple[str, ...] = ()) -> inspect.Signature:
    """``(bqm, beta, num_reads, seed, *, <fields>)``: the signature of a ``BoltzmannSampler``
    method taking the fields of ``classes`` (minus ``exclude``) as keyword options."""
    defaults = dict(defaults or {})
    pos = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
           for n in ("bqm", "beta", "num_reads", "seed")]
    kw = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                            default=defaults.get(f.name, f.default))
          for cls in classes for f in fields(cls) if f.name not in exclude]
    return inspect.Signature(pos + kw)
