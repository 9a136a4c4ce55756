"""D-Wave QPU negative-phase samplers: ``qpu`` and its offline stand-in ``mock-qpu``.

Both are :class:`sampling.base.NegativeSampler` s (``sample(model, v_data) -> (v_neg, h_neg)``)
over the torch-free :class:`sampling.qpu.backend.QPUBackend`, which does the embedding (once per
shape, cached on disk), tiling, chains, scaling by ``β / β_hw``, range checks, spin-reversal
transforms, retries, unembedding and temperature calibration (see that module); their options are the fields of :class:`sampling.qpu.options.QPUOptions`
(and :class:`~sampling.qpu.options.MockOptions`). Per call:

1. ``spec = model.to_qm(canvas)`` (canvas: the visible shape of the negative-phase problem; for a
   conv RBM a canvas smaller than the images keeps the problem small enough for the chip);
2. its Ising form is sampled at the target ``beta`` by the backend (``N`` samples, default the
   batch size; each read yields ``tiles`` of them);
3. the samples become ``(v, h)`` tensors on the model's device (numpy only up to this boundary).
   With max-pooling the QM holds a *finite* pooling penalty, so the annealer may return invalid
   hidden states: ``resample_hidden="auto"`` (default) then always redraws ``h ~ p(h | v)``
   exactly from the model given the annealer's ``v`` (valid, and exact whenever ``v`` is), and
   reports the fraction of reads that violated pooling.

``last_info`` holds ``seconds``, ``beta``, ``beta_eff`` (MPL inverse temperature of the samples
w.r.t. the model: ≈ beta once calibrated), ``beta_hw`` (this call's hardware estimate),
``beta_hw_calibrated``, ``scale``, ``beta_implied``, ``range_factor``, ``chain_strength``,
``chain_break_fraction``, ``max_chain_length``, ``num_qubits``, ``tiles``, ``num_reads``,
``qpu_calls``, ``qpu_access_time`` (µs), ``qpu_timing`` (the summed ``info['timing']``),
``embedding`` (memory / disk / search), ``pooling_violation_fraction`` and ``hidden_resampled``.
The calibration (``β_hw``) and the random streams are in ``state_dict()``, so they survive
checkpoint and resume.

Examples:
    Offline, on a Pegasus P6 mock that samples 3x colder than programmed:

    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> _ = torch.manual_seed(0)
    >>> model = BernoulliRBM(6, 3)
    >>> sampler = MockQPUSampler(beta=1.0, tiles=4, hardware_beta=3.0, seed=0,
    ...                          num_sweeps_hold=50, num_sweeps_anneal=20)
    >>> v, h = sampler.sample(model, torch.zeros(100, 6))
    >>> v.shape, h.shape, sampler.last_info["tiles"], sampler.last_info["embedding"]
    (torch.Size([100, 6]), torch.Size([100, 3]), 4, 'search')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sampling.base import NegativeSampler, model_dtype
from sampling.qpu.backend import QPUBackend
from sampling.qpu.ising import LogicalIsing
from sampling.qpu.options import MOCK_DEFAULTS, MockOptions, QPUOptions, option_names, split_options

__all__ = ["MockQPUSampler", "QPUSampler"]

_BACKEND_KEYS = set(option_names(QPUOptions))


class QPUSampler(NegativeSampler):
    """Negative phase from a D-Wave QPU (``make_sampler("qpu", ...)``).

    Args:
        beta: target inverse temperature of the model.
        num_chains: samples per call (default the batch size). canvas: visible shape of the
            negative-phase problem (conv RBMs: smaller than the images keeps it on the chip).
        post_select: pooling models (default True) are programmed with a modest pooling penalty
            (``pool_penalty_scale`` × the largest model coupling) and the reads that break the
            pooling constraint are discarded, which is exact (:mod:`sampling.qpu.pooling`);
            ``False`` programs the model's own penalty (``to_qm``) and keeps every read.
        pool_penalty_scale, min_acceptance: the penalty and the lowest acceptance tolerated
            (below it the call raises :class:`~sampling.qpu.errors.QPUSamplingError`).
        resample_hidden: ``"auto"`` (default: resample ``h ~ p(h | v)`` exactly from the model
            for pooling models; keep the QPU's h otherwise), ``"always"`` or ``"never"``.
            Resampling h given the QPU's v keeps the joint exact whenever v is, and it is more
            robust than the QPU's own h: hidden units of a conv RBM have the longest chains, and
            on the mock 2 % broken chains put the QPU's hidden marginal 30x over its noise floor
            while the visible one stays within it (docs/qpu.md).
        seed: seed of tie-breaks, gauges and hidden resampling.
        sampler: structured dimod sampler to use instead of ``DWaveSampler`` (tests, mocks).
        **backend_options: see :class:`QPUBackend` (``tiles``, ``num_reads``, ``annealing_time``,
            ``solver``, ``chain_strength_prefactor``, ``spin_reversal_transforms``, ``beta_hw``,
            ``calibrate``, ``range_policy``, ``cache_dir``, retries …).

    ``last_info`` (besides ``seconds``, ``beta``, ``num_samples``, ``canvas``): ``beta_eff`` (MPL
    inverse temperature of the samples w.r.t. the model: ≈ beta when calibrated), ``beta_hw``
    (this call's hardware estimate), ``beta_hw_calibrated``, ``scale``, ``beta_implied``,
    ``range_factor``, ``chain_strength``, ``chain_break_fraction``, ``max_chain_length``,
    ``num_qubits``, ``tiles``, ``num_reads``, ``qpu_calls``, ``qpu_access_time`` (µs, summed),
    ``qpu_timing`` (summed ``info['timing']``), ``embedding`` (memory/disk/search),
    ``pooling_violation_fraction``, ``hidden_resampled``; with post-selection ``pool_penalty``,
    ``pooling_acceptance``, ``pooling_rounds``, ``pooling_drawn`` (reads drawn).
    """

    name = "qpu"
    #: ``last_info`` keys that add up over calls: ``rbm.pretrain`` records their epoch totals
    #: (``qpu_access_time_total``: µs of QPU access time charged, ``qpu_calls_total``).
    summed_info = ("qpu_access_time", "qpu_calls")

    def __init__(
        self,
        *,
        beta: float = 1.0,
        num_chains: int | None = None,
        canvas: tuple[int, ...] | None = None,
        resample_hidden: str = "auto",
        post_select: bool = True,
        pool_penalty_scale: float = 1.0,
        min_acceptance: float = 0.02,
        seed: int | None = None,
        device: str | torch.device | None = None,
        sampler: Any = None,
        **backend_options: Any,
    ):
        super().__init__(beta=beta, num_chains=num_chains, canvas=canvas, persistent=False,
                         seed=seed, device=device)
        unknown = set(backend_options) - _BACKEND_KEYS
        if unknown:
            raise ValueError(f"unknown {self.name} sampler options {sorted(unknown)}; "
                             f"valid: {sorted(_BACKEND_KEYS)}")
        if resample_hidden not in ("auto", "always", "never"):
            raise ValueError(f"resample_hidden must be auto, always or never, got {resample_hidden!r}")
        if not pool_penalty_scale > 0 or not 0 < min_acceptance <= 1:
            raise ValueError("need pool_penalty_scale > 0 and 0 < min_acceptance <= 1, got "
                             f"{pool_penalty_scale}, {min_acceptance}")
        self.resample_hidden = resample_hidden
        self.post_select = bool(post_select)
        self.pool_penalty_scale = float(pool_penalty_scale)
        self.min_acceptance = float(min_acceptance)
        self._acceptance: dict[tuple, float] = {}  # last pooling acceptance per canvas
        self.backend = QPUBackend(sampler=sampler, seed=seed, options=QPUOptions(**backend_options))

    def _draw(self, model, v_data, canvas, num_chains):
        from sampling.bqm import pooling_violations
        from sampling.qpu.pooling import has_pooling, sample_pooled

        spec = model.to_qm(tuple(canvas))
        selected = self.post_select and has_pooling(spec)
        if selected:
            key = tuple(canvas)
            x, info = sample_pooled(self.backend, spec, self.beta, num_chains,
                                    penalty_scale=self.pool_penalty_scale,
                                    min_acceptance=self.min_acceptance,
                                    acceptance_guess=self._acceptance.get(key))
            self._acceptance[key] = info["pooling_acceptance"]
        else:
            spins, info = self.backend.sample_ising(LogicalIsing.from_spec(spec), self.beta,
                                                    num_chains)
            x = ((spins + 1) // 2).astype(np.int8)
            info["pooling_violation_fraction"] = float(pooling_violations(spec, x).mean())
        v_np, h_np = spec.split(x)
        dtype = model_dtype(model)
        v = torch.as_tensor(np.ascontiguousarray(v_np), dtype=dtype).reshape(num_chains, *canvas)
        v = v.to(self._device)
        pooling = bool(getattr(model, "pool_size", None))
        resample = self.resample_hidden == "always" or (self.resample_hidden == "auto" and pooling)
        if resample:
            h = model.sample_h_given_v(v, beta=self.beta, generator=self._generator(self._device))
        else:
            h = torch.as_tensor(np.ascontiguousarray(h_np), dtype=dtype).to(self._device)
        info.update(sweeps=0, hidden_resampled=resample)
        return v, h, info

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["backend"] = self.backend.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "backend" in state:
            self.backend.load_state_dict(state["backend"])

    def _describe(self) -> str:
        b = self.backend
        return (f"tiles={b.tiles}, canvas={self.canvas}, beta_hw={b.calibrator.beta_hw:.4g}, "
                f"calibrate={b.calibrator.enabled}")


class MockQPUSampler(QPUSampler):
    """``qpu`` on an offline ``MockDWaveSampler`` that samples ``exp(-hardware_beta · E_qpu)``
    (``make_sampler("mock-qpu", ...)``); see :mod:`sampling.qpu.mock`.

    Extra args: the fields of :class:`~sampling.qpu.options.MockOptions`: ``topology``
    (``"pegasus"``), ``shape`` (``(6,)``), ``hardware_beta`` (3.0), ``num_sweeps_hold`` /
    ``num_sweeps_anneal`` (the substitute SA schedule) and ``mock_properties`` (overrides, e.g.
    ``{"j_range": [-0.5, 0.5]}``). The disk cache is off by default (``cache_dir=None``); the
    initial ``beta_hw`` guess defaults to 1.0, so calibration has something to find.
    """

    name = "mock-qpu"

    def __init__(self, *, seed: int | None = None, **options: Any):
        from sampling.qpu.mock import mock_from_options

        mock_keys = set(option_names(MockOptions))
        (mock,), _ = split_options({k: v for k, v in options.items() if k in mock_keys}, MockOptions)
        rest = {**MOCK_DEFAULTS, **{k: v for k, v in options.items() if k not in mock_keys}}
        if rest.get("cache_dir") is None:
            rest["cache_dir"] = False
        super().__init__(sampler=mock_from_options(mock, seed=None if seed is None else seed + 1),
                         seed=seed, **rest)
        self.hardware_beta = float(mock.hardware_beta)
