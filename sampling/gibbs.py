"""Block Gibbs negative phases in torch: CD-k and persistent CD (PCD).

One *sweep* samples every hidden unit given the visible ones, then every visible unit given the
hidden ones (h ~ p(h | v, β), v ~ p(v | h, β)); after the last sweep the returned h is drawn from
p(h | v_final, β), so ``(v, h)`` is one joint state of the chain. The model's own conditionals do
the work (``RBM._gibbs_chain`` for the RBMs here, which keeps h in the model's fastest layout
between half-sweeps; ``sample_h_given_v`` / ``sample_v_given_h`` for any other model of the
protocol), so probabilistic max-pooling (at most one detection unit on per block) is handled
exactly wherever the model supports it.

- CD-k (Hinton 2002): every call starts the chains at the data (``v_data``; for a conv canvas
  smaller than the images, at random crops of it, one per chain) and runs k sweeps.
- PCD (Tieleman 2008): chains are initialised once (from the data or uniform noise) and carried
  across calls; they are re-initialised whenever the canvas or the model's hidden shape changes.

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> sampler = GibbsSampler(k=1, persistent=True, seed=0)
    >>> v, h = sampler.sample(BernoulliRBM(6, 3), torch.zeros(4, 6))
    >>> tuple(v.shape), tuple(h.shape), sampler.last_info["sweeps"]
    ((4, 6), (4, 3), 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from sampling.base import NegativeSampler, model_dtype
from sampling.checks import resolve_sweeps

__all__ = ["GibbsSampler", "block_gibbs", "chunk_size", "random_visible", "start_from_data"]


#: Chains per chunk on CPU: the state of a chunk should stay cache-resident through a sweep.
#: ``block_gibbs`` runs whole chunks of chains through every sweep, one chunk after another
#: (chains are independent, so this changes only the order in which random numbers are used).
CPU_CHUNK_UNITS = 2**19


def chunk_size(num_chains: int, units_per_chain: int, device: torch.device) -> int:
    """Chains per chunk for :func:`block_gibbs`: all of them on a GPU; on CPU about
    :data:`CPU_CHUNK_UNITS` units (v and h) per chunk, at least 8 chains, chunks of equal size.

    Deterministic in its arguments, so a seeded sampler draws the same samples on every run.
    """
    if device.type != "cpu" or num_chains <= 8:
        return num_chains
    per = max(8, CPU_CHUNK_UNITS // max(1, units_per_chain))
    chunks = -(-num_chains // per)
    return -(-num_chains // chunks)


def block_gibbs(
    model: torch.nn.Module,
    v: Tensor,
    betas: Sequence[float],
    generator: torch.Generator | None = None,
    chunk: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Run one block-Gibbs sweep per entry of ``betas`` from ``v``; return the final ``(v, h)``.

    Args:
        model: RBM of the protocol in ``docs/interfaces.md``.
        v: starting visible states, shape (N, *canvas) (values in [0, 1]; the first half-sweep
            only uses them through ``p(h | v)``).
        betas: inverse temperature of each sweep (Python floats: the loop never syncs with a GPU).
        generator: torch generator on ``v``'s device.
        chunk: chains per chunk (default: the model's ``_chain_chunk(v)`` where it has one and
            it is not None, else :func:`chunk_size`: all chains on a GPU, cache-sized chunks on
            CPU). Each chunk runs every sweep before the next chunk starts.

    Returns:
        ``(v, h)`` with h ~ p(h | v, betas[-1]): a joint state of every chain.
    """
    betas = [float(b) for b in betas]
    if not betas:
        raise ValueError("block_gibbs needs at least one beta")
    n = v.shape[0]
    if chunk is None:
        hint = getattr(model, "_chain_chunk", None)  # a model's own preference (compiled chain)
        preferred = hint(v) if hint is not None else None
        if preferred is not None:  # full chunks of `preferred` (a multiple of the vector
            chunk = preferred     # width) and one remainder: 5-12 % faster than equal chunks
        else:
            units = math.prod(v.shape[1:]) + math.prod(model.hidden_shape(tuple(v.shape[1:])))
            chunk = chunk_size(n, units, v.device)
    if chunk >= n:
        return _chain(model, v, betas, generator)
    parts = [_chain(model, v[i:i + chunk], betas, generator) for i in range(0, n, chunk)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _chain(model, v, betas, generator):
    # Our RBMs run the whole chain themselves (rbm.base.RBM._gibbs_chain: v validated once, h
    # in the model's fastest layout between half-sweeps); any other model of the protocol goes
    # through its public conditionals, whose samples are not checked again when fed back.
    chain = getattr(model, "_gibbs_chain", None)
    if chain is not None:
        return chain(v, betas, generator)
    for beta in betas:
        h = model.sample_h_given_v(v, beta=beta, generator=generator)
        v = model.sample_v_given_h(h, beta=beta, generator=generator)
    h = model.sample_h_given_v(v, beta=betas[-1], generator=generator)
    return v, h


def random_visible(
    shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Uniformly random binary states of ``shape`` (each unit on with probability 1/2)."""
    return (torch.rand(shape, generator=generator, device=device) < 0.5).to(dtype)


def start_from_data(
    v_data: Tensor, canvas: tuple[int, ...], num_chains: int, generator: torch.Generator
) -> Tensor:
    """Starting states taken from the data: row ``i % B`` for chain i, cropped to the canvas.

    A conv canvas smaller than the images takes one uniformly random crop per chain.

    Raises:
        ValueError: a canvas larger than the data (chains cannot start at the data then).
    """
    batch = v_data.shape[0]
    device = v_data.device
    rows = torch.arange(num_chains, device=device) % batch
    data_shape = tuple(v_data.shape[1:])
    if tuple(canvas) == data_shape:
        return v_data[rows].clone()
    channels, height, width = canvas
    _, data_h, data_w = data_shape
    if height > data_h or width > data_w:
        raise ValueError(
            f"chains started at the data need a canvas no larger than the data: canvas "
            f"{tuple(canvas)} vs data {data_shape} (use init='random' or a smaller canvas)"
        )
    oy = torch.randint(0, data_h - height + 1, (num_chains,), generator=generator, device=device)
    ox = torch.randint(0, data_w - width + 1, (num_chains,), generator=generator, device=device)
    iy = oy[:, None] + torch.arange(height, device=device)
    ix = ox[:, None] + torch.arange(width, device=device)
    return v_data[
        rows[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        iy[:, None, :, None],
        ix[:, None, None, :],
    ]


class GibbsSampler(NegativeSampler):
    """CD-k (``persistent=False``) or PCD-k (``persistent=True``) block Gibbs at the sampler's β.

    Args:
        k: sweeps per call, >= 1 (``num_sweeps`` is an alias).
        persistent: ``False`` for CD-k (chains start at the data every call), ``True`` for PCD.
        init: how persistent chains start: ``"data"`` (the first batch, cropped to the canvas; falls
            back to noise when the canvas is larger than the data) or ``"random"`` (uniform noise).
        **options: ``beta``, ``num_chains``, ``canvas``, ``seed``, ``device`` of
            :class:`~sampling.base.NegativeSampler`.
    """

    name = "gibbs"

    def __init__(
        self,
        k: int | None = None,
        *,
        num_sweeps: int | None = None,
        persistent: bool = False,
        init: str = "data",
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
        self.k = resolve_sweeps(k, num_sweeps, default=1, name="k")
        if init not in ("data", "random"):
            raise ValueError(f"init must be 'data' or 'random', got {init!r}")
        self.init = init
        self.name = "pcd" if self.persistent else "cd"

    def _draw(
        self, model: torch.nn.Module, v_data: Tensor, canvas: tuple[int, ...], num_chains: int
    ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        gen = self._generator(self._device)
        v0 = None
        reinit = False
        if self.persistent:
            v0 = self._persistent_chains()
            if v0 is not None and v0.shape[0] != num_chains:
                v0 = None
            if v0 is None:
                reinit = True
                v0 = self._initial(v_data, canvas, num_chains, gen, model)
            v0 = v0.to(device=self._device, dtype=model_dtype(model))
        else:
            v0 = start_from_data(v_data, canvas, num_chains, gen)
        v, h = block_gibbs(model, v0, [self.beta] * self.k, gen)
        if self.persistent:
            self._store_chains(v)
        return v, h, {"sweeps": self.k, "reinitialised": reinit}

    def _initial(
        self,
        v_data: Tensor,
        canvas: tuple[int, ...],
        num_chains: int,
        gen: torch.Generator,
        model: torch.nn.Module,
    ) -> Tensor:
        if self.init == "data":
            data_shape = tuple(v_data.shape[1:])
            if len(canvas) == 1 or all(c <= d for c, d in zip(canvas, data_shape, strict=True)):
                return start_from_data(v_data, canvas, num_chains, gen)
        return random_visible((num_chains, *canvas), gen, model_dtype(model), self._device)

    def _describe(self) -> str:
        return f"k={self.k}, init={self.init!r}, " + super()._describe()
