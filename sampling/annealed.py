"""A torch annealer for bipartite models: block-Gibbs sweeps over a β schedule that ends at β.

Many chains run in parallel as one batch on the model's device. Each sweep updates all hidden units
then all visible units at that sweep's β (two tensor operations, no host round trip: the schedule is
a list of Python floats and the generator lives on the model's device), so the same code serves CPU
and GPU. On CPU the chains run in cache-sized chunks (``sampling.gibbs.chunk_size``), each chunk
through the whole schedule; the start state is validated once per call, not every half-sweep.
Throughput grows with the number of chains per call (a few hundred to thousands is how the
annealer is meant to be used: ``bench/bench_samplers.py --num-chains``, ``docs/sampling.md``).
Chains start from uniform random v, or from the previous call's states when
``persistent=True``; for a conv RBM they live on the canvas shape.

Schedules (``sampling.schedules.beta_schedule``): ``fixed`` (plain Gibbs at β), ``linear``,
``geometric`` (from ``beta_start``, default 0.1 β), ``quench`` (Job & Adachi 2020: one hot sweep,
one at β) or an explicit sequence that ends at β. Because the last sweep runs at the target β, the
chains approach p ∝ exp(-β E); how close depends on the number of sweeps (see ``docs/sampling.md``).

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> sampler = AnnealedGibbsSampler(num_sweeps=20, schedule="geometric", num_chains=8, seed=0)
    >>> v, h = sampler.sample(BernoulliRBM(6, 3), torch.zeros(4, 6))
    >>> tuple(v.shape), sampler.last_info["sweeps"], sampler.last_info["schedule"][-1]
    ((8, 6), 20, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from sampling.base import NegativeSampler, model_dtype
from sampling.gibbs import block_gibbs, random_visible
from sampling.schedules import AnnealingSchedule

__all__ = ["AnnealedGibbsSampler"]


class AnnealedGibbsSampler(AnnealingSchedule, NegativeSampler):
    """Annealed block Gibbs in torch (many parallel chains, GPU-ready).

    Args:
        num_sweeps: sweeps per call, >= 1 (``k`` is an alias; ``quench`` always runs 2; a custom
            schedule runs one sweep per entry).
        schedule: a name of :data:`sampling.schedules.SCHEDULES` or a sequence of β ending at β;
            default ``"linear"`` (``geometric`` spends most sweeps hot and, on strongly coupled
            models, too few near β: see ``docs/sampling.md``).
        beta_start: first β of ``linear`` / ``geometric`` / ``quench`` (default 0.1 β).
        persistent: start each call from the previous call's chains instead of uniform noise.
        **options: ``beta``, ``num_chains``, ``canvas``, ``seed``, ``device`` of
            :class:`~sampling.base.NegativeSampler`.

    Raises:
        ValueError: unknown schedule, a custom schedule that does not end at β, sweeps < 1.
    """

    name = "annealed"

    def __init__(
        self,
        num_sweeps: int | None = None,
        *,
        k: int | None = None,
        schedule: str | Sequence[float] = "linear",
        beta_start: float | None = None,
        persistent: bool = False,
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

    def _draw(
        self, model: torch.nn.Module, v_data: Tensor, canvas: tuple[int, ...], num_chains: int
    ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        betas = self.betas().tolist()
        gen = self._generator(self._device)
        v0 = self._persistent_chains() if self.persistent else None
        if v0 is not None and v0.shape[0] != num_chains:
            v0 = None
        reinit = v0 is None
        if v0 is None:
            v0 = random_visible((num_chains, *canvas), gen, model_dtype(model), self._device)
        else:
            v0 = v0.to(device=self._device, dtype=model_dtype(model))
        v, h = block_gibbs(model, v0, betas, gen)
        if self.persistent:
            self._store_chains(v)
        info = {"sweeps": len(betas), "schedule": betas}
        if self.persistent:
            info["reinitialised"] = reinit
        return v, h, info

    def _describe(self) -> str:
        return f"num_sweeps={self.num_sweeps}, schedule={self.schedule!r}, " + super()._describe()
