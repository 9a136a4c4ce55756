"""The dimod front of the QPU path: any BQM through a :class:`~sampling.qpu.backend.QPUBackend`,
and the ``BoltzmannSampler`` methods ``qpu`` and ``mock-qpu`` (no torch).

The methods keep one backend per option set (a small module-level cache, :data:`_BACKENDS`), so
embeddings and calibration survive between dimod calls; their keyword options are the fields of
:class:`~sampling.qpu.options.QPUOptions`, :class:`~sampling.qpu.options.FrontOptions` and (mock)
:class:`~sampling.qpu.options.MockOptions`, declared once there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sampling.qpu.backend import QPUBackend
from sampling.qpu.ising import LogicalIsing
from sampling.qpu.options import (
    LEAP_ONLY,
    MOCK_DEFAULTS,
    FrontOptions,
    MockOptions,
    QPUOptions,
    method_signature,
    split_options,
)

__all__ = ["sample_bqm", "sample_mock_qpu_method", "sample_qpu_method"]

log = logging.getLogger(__name__)


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

    FrontOptions(calibration_rounds, calibration_reads, drift_tolerance)  # validates
    rounds = int(calibration_rounds)
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
    """Relative error of a draw's β_eff w.r.t. the β it was programmed for (nan: not checkable,
    e.g. its biases were clipped)."""
    beta_eff, target = info["beta_eff"], info["beta_implied"]
    if info.get("range_action") == "clip" or not (math.isfinite(beta_eff) and beta_eff > 0):
        return float("nan")
    return abs(beta_eff / target - 1.0)


# --------------------------------------------------------------------------- BoltzmannSampler methods

_BACKENDS: dict[tuple, QPUBackend] = {}
_MAX_BACKENDS = 8


def _cached_backend(kind: str, make: Callable[[], QPUBackend], options: tuple) -> QPUBackend:
    """One backend per (kind, options): embeddings and calibration survive between dimod calls."""
    key = (kind, repr(options))
    backend = _BACKENDS.get(key)
    if backend is None:
        if len(_BACKENDS) >= _MAX_BACKENDS:
            _BACKENDS.pop(next(iter(_BACKENDS)))
        backend = _BACKENDS[key] = make()
    return backend


def _calibrated_draw(backend: QPUBackend, bqm, beta, num_reads, seed, front: FrontOptions):
    if seed is not None:
        backend.reseed(seed)
    return sample_bqm(backend, bqm, beta, num_reads, calibration_rounds=front.calibration_rounds,
                      calibration_reads=front.calibration_reads,
                      drift_tolerance=front.drift_tolerance)


def sample_qpu_method(bqm, beta: float, num_reads: int, seed: int | None, **options: Any):
    """``BoltzmannSampler`` method ``"qpu"``: a D-Wave QPU at target ``beta``.

    Options: the fields of :class:`~sampling.qpu.options.QPUOptions` (``num_reads`` per call
    excepted: here ``num_reads`` is the total) and :class:`~sampling.qpu.options.FrontOptions`.
    With ``calibrate`` (default) ``calibration_rounds`` requests of ``calibration_reads`` reads
    first tune the scale (β_hw), once per problem structure and again only when the draw's β_eff
    drifts more than ``drift_tolerance`` from β (:func:`sample_bqm`); the backend (embedding,
    calibration) is kept between calls with the same options, so later calls on the same
    structure pay no calibration (``info["calibrated"]`` says whether this one did). ``info``
    carries ``beta_eff``, ``chain_break_fraction``, ``qpu_timing`` … (see
    :meth:`QPUBackend.sample_ising`).
    """
    (qpu, front), unknown = split_options(options, QPUOptions, FrontOptions)
    if unknown:
        raise TypeError(f"method 'qpu' got unknown options {unknown}")
    backend = _cached_backend("qpu", lambda: QPUBackend(options=qpu, seed=seed), (qpu,))
    return _calibrated_draw(backend, bqm, beta, num_reads, seed, front)


def sample_mock_qpu_method(bqm, beta: float, num_reads: int, seed: int | None, **options: Any):
    """``BoltzmannSampler`` method ``"mock-qpu"``: the ``qpu`` pipeline on an offline
    ``MockDWaveSampler`` that samples ``exp(-hardware_beta · E_programmed)``
    (:mod:`sampling.qpu.mock`); options as ``qpu`` (not the Leap ones) plus
    :class:`~sampling.qpu.options.MockOptions`; no disk cache."""
    from sampling.qpu.mock import mock_from_options

    bad = sorted(set(options) & set(LEAP_ONLY))
    (qpu, front, mock), unknown = split_options(options, QPUOptions, FrontOptions, MockOptions,
                                                defaults=MOCK_DEFAULTS)
    if unknown or bad:
        raise TypeError(f"method 'mock-qpu' got unknown options {sorted(unknown + bad)}")

    def make():
        sampler = mock_from_options(mock, seed=None if seed is None else seed + 1)
        return QPUBackend(sampler=sampler, options=qpu, seed=seed)

    backend = _cached_backend("mock-qpu", make, (qpu, mock))
    return _calibrated_draw(backend, bqm, beta, num_reads, seed, front)


sample_qpu_method.__signature__ = method_signature(QPUOptions, FrontOptions, exclude=("num_reads",))
sample_mock_qpu_method.__signature__ = method_signature(
    QPUOptions, FrontOptions, MockOptions, defaults=MOCK_DEFAULTS,
    exclude=("num_reads",) + LEAP_ONLY,
)
