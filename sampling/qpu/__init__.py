"""The D-Wave QPU path, one concern per module (none of them imports torch except ``samplers``).

============================  ==========================================================
``ising``                     :class:`LogicalIsing`, the problem a request starts from
``options``                   :class:`QPUOptions`, :class:`MockOptions`, :class:`FrontOptions`
``leap``                      token check (offline) and ``DWaveSampler`` connection
``errors``                    the two exceptions, error classification, the retry loop
``embedding``                 fixed minor-embeddings: search, disk cache, tiling, (un)embedding
``calibration``               MPL inverse temperature, the hardware-β calibrator
``backend``                   :class:`QPUBackend`: logical problem at β → QPU → logical samples
``front``                     any dimod BQM through a backend; ``BoltzmannSampler`` methods
``cost``                      embedding, calls and QPU access time of a run, before it runs
``pooling``                   max-pooling by a modest penalty and post-selection (exact)
``mock``                      the offline stand-in that samples (``mock-qpu``), ideal or not
``samplers``                  :class:`QPUSampler`, :class:`MockQPUSampler` (torch)
============================  ==========================================================

Every public name below is importable from ``sampling.qpu`` and imported on first use (PEP 562),
so ``import sampling.qpu.backend`` never loads torch.
"""

from __future__ import annotations

from sampling.lazy import lazy_exports

_EXPORTS = {
    "LogicalIsing": "sampling.qpu.ising",
    "FrontOptions": "sampling.qpu.options",
    "MockOptions": "sampling.qpu.options",
    "QPUOptions": "sampling.qpu.options",
    "qpu_token_configured": "sampling.qpu.leap",
    "HOW_TO_CONFIGURE": "sampling.qpu.errors",
    "QPUSamplingError": "sampling.qpu.errors",
    "QPUUnavailableError": "sampling.qpu.errors",
    "EmbeddingError": "sampling.qpu.embedding",
    "TemperatureCalibrator": "sampling.qpu.calibration",
    "mpl_beta": "sampling.qpu.calibration",
    "QPUBackend": "sampling.qpu.backend",
    "sample_bqm": "sampling.qpu.front",
    "sample_mock_qpu_method": "sampling.qpu.front",
    "sample_qpu_method": "sampling.qpu.front",
    "embedding_summary": "sampling.qpu.cost",
    "estimate_qpu_access_time": "sampling.qpu.cost",
    "estimate_qpu_run": "sampling.qpu.cost",
    "format_qpu_estimate": "sampling.qpu.cost",
    "make_mock_dwave_sampler": "sampling.qpu.mock",
    "MockQPUSampler": "sampling.qpu.samplers",
    "QPUSampler": "sampling.qpu.samplers",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
