"""Simulated annealing from dwave-samplers as a negative-phase sampler (names ``sa``, ``neal``).

Every call builds the model's BQM afresh (the weights change every step) with
:func:`sampling.bqm.spec_to_bqm` and runs ``dwave.samplers.SimulatedAnnealingSampler`` on it
with MCMC-correct settings only (``docs/design.md`` §3): ``beta_schedule_type="custom"`` with a
schedule that **ends at the sampler's β** (fixed, linear, geometric, ``quench`` or a custom
sequence from :func:`sampling.schedules.beta_schedule`), ``proposal_acceptance_criteria="Gibbs"``
and ``randomize_order=False`` (a systematic scan: each sweep updates every variable exactly once),
all from :func:`sampling.schedules.sa_parameters`. The BQM is *not* scaled: its energies are the model's, and β lives in
the schedule, so ``last_info["schedule"]`` is literally the β of each sweep. dwave-samplers' default
``beta_range`` (an optimiser's, ending far colder than β) is never used.

Samples are read back through :func:`sampling.bqm.sampleset_to_array`, which reorders the columns by
``SampleSet.variables`` (they may come back in another order), and returned as tensors on the
model's device.

Max-pooling: the spec of a pooled conv RBM enforces "at most one detection unit per block" with a
finite pairwise ``pool_penalty``, so the BQM gives invalid states a small weight. Rows whose hidden
part violates pooling get h re-drawn exactly from p(h | v, β) of the model with the annealer's v
(``last_info["pool_violations"]`` counts them). Since the BQM restricted to valid states equals the
model, h given v is then exactly the model's conditional; v keeps the (tiny, penalty-controlled)
weight of invalid h in its marginal. ``resample_hidden=True`` re-draws h | v for every row
(Rao-Blackwell-friendly; the loss only uses v anyway).

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> sampler = SimulatedAnnealingNegativeSampler(num_sweeps=10, num_chains=5, seed=1)
    >>> v, h = sampler.sample(BernoulliRBM(6, 3), torch.zeros(2, 6))
    >>> tuple(v.shape), tuple(h.shape), sampler.last_info["sweeps"]
    ((5, 6), (5, 3), 10)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import dimod
import numpy as np
import torch
from dwave.samplers import SimulatedAnnealingSampler
from torch import Tensor

from sampling.base import NegativeSampler, model_dtype
from sampling.bqm import pooling_violations, sampleset_to_array, spec_to_bqm
from sampling.schedules import AnnealingSchedule, sa_parameters

__all__ = ["SimulatedAnnealingNegativeSampler"]


class SimulatedAnnealingNegativeSampler(AnnealingSchedule, NegativeSampler):
    """dwave-samplers simulated annealing on the model's BQM, ending at the sampler's β.

    Args:
        num_sweeps: sweeps per call, >= 1 (``k`` is an alias; ``quench`` always runs 2; a custom
            schedule runs one sweep per entry). One sweep is one single-spin Gibbs
            update of every unit, in a fixed order.
        schedule: a name of :data:`sampling.schedules.SCHEDULES` or a sequence of β ending at β;
            default ``"linear"`` (``geometric`` spends most sweeps hot and, on strongly coupled
            models, too few near β: see ``docs/sampling.md``).
        beta_start: first β of ``linear`` / ``geometric`` / ``quench`` (default 0.1 β).
        persistent: start each call from the previous call's states (``initial_states``).
        resample_hidden: re-draw h ~ p(h | v, β) from the model for every row (default: only rows
            that violate max-pooling).
        **options: ``beta``, ``num_chains``, ``canvas``, ``seed``, ``device`` of
            :class:`~sampling.base.NegativeSampler`.
    """

    name = "sa"

    def __init__(
        self,
        num_sweeps: int | None = None,
        *,
        k: int | None = None,
        schedule: str | Sequence[float] = "linear",
        beta_start: float | None = None,
        persistent: bool = False,
        resample_hidden: bool = False,
        beta: float = 1.0,
        num_chains: int | None = None,
        canvas: tuple[int, ...] | None = None,
        seed: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(
            beta=beta,
            num_chains=num_chains,
            canvas=canvas,
            persistent=persistent,
            seed=seed,
            device=device,
        )
        self._set_schedule(k, num_sweeps, schedule, beta_start)
        self.resample_hidden = bool(resample_hidden)
        self._sampler = SimulatedAnnealingSampler()
        self._np_rng = np.random.default_rng(self.seed)

    def _draw(
        self, model: torch.nn.Module, v_data: Tensor, canvas: tuple[int, ...], num_chains: int
    ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        t0 = time.perf_counter()
        spec = model.to_qm(visible_shape=canvas)
        n_visible, n_hidden = int(spec.n_visible), int(spec.n_hidden)
        hidden_shape = tuple(self._key[1])
        if tuple(spec.visible_shape) != tuple(canvas) or tuple(spec.hidden_shape) != hidden_shape:
            raise ValueError(
                f"model.to_qm({canvas}) describes visible {tuple(spec.visible_shape)} / hidden "
                f"{tuple(spec.hidden_shape)}, expected {tuple(canvas)} / {hidden_shape}"
            )
        n_vars = n_visible + n_hidden
        bqm = spec_to_bqm(spec)
        t1 = time.perf_counter()

        betas = self.betas()
        initial = None
        chains = self._persistent_chains() if self.persistent else None
        if chains is not None and chains.shape[0] == num_chains:
            states = chains.numpy().astype(np.int8, copy=False)
            initial = dimod.SampleSet.from_samples(
                (states, range(n_vars)), dimod.BINARY, energy=np.zeros(num_chains)
            )
        seed = int(self._np_rng.integers(0, 2**31 - 1))
        sampleset = self._sampler.sample(
            bqm, num_reads=num_chains, **sa_parameters(betas, seed=seed, initial_states=initial)
        )
        t2 = time.perf_counter()

        x = sampleset_to_array(sampleset, n_vars)
        violations = pooling_violations(spec, x)
        device, dtype = self._device, model_dtype(model)
        xt = torch.from_numpy(x).to(device=device, dtype=dtype)
        v = xt[:, :n_visible].reshape(num_chains, *canvas)
        h = xt[:, n_visible:].reshape(num_chains, *hidden_shape)
        gen = self._generator(device)
        if self.resample_hidden:
            h = model.sample_h_given_v(v, beta=self.beta, generator=gen)
        elif violations.any():
            rows = torch.from_numpy(np.flatnonzero(violations)).to(device)
            h[rows] = model.sample_h_given_v(v[rows], beta=self.beta, generator=gen)
        if self.persistent:
            state = torch.cat([v.reshape(num_chains, -1), h.reshape(num_chains, -1)], dim=1)
            self._store_chains(state.to(device="cpu", dtype=torch.int8))
        timing = sampleset.info.get("timing", {})
        return v, h, {
            "sweeps": len(betas),
            "schedule": betas.tolist(),
            "pool_violations": int(violations.sum()),
            "bqm_seconds": t1 - t0,
            "sa_seconds": t2 - t1,
            "sa_sampling_seconds": timing.get("sampling_ns", 0) * 1e-9,
            "reinitialised": initial is None,
        }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["np_rng_state"] = self._np_rng.bit_generator.state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("np_rng_state") is not None:
            self._np_rng = np.random.default_rng()
            self._np_rng.bit_generator.state = state["np_rng_state"]

    def _describe(self) -> str:
        return f"num_sweeps={self.num_sweeps}, schedule={self.schedule!r}, " + super()._describe()
