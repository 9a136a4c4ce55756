"""Exact sampling by enumeration of the smaller side: the gold reference for tiny RBMs.

For a bipartite model the marginal of either side is analytic once the other side is summed out:

    log p̃(h) = -β E(0, h) + Σᵢ softplus(β · visible_logitsᵢ(h))
    log p̃(v) = -β E(v, 0) + Σ_blocks log(1 + Σ_{j ∈ block} exp(β · hidden_logitsⱼ(v)))

(E is linear in each side, and the visible/hidden logits are −∂E/∂v, −∂E/∂h; a block is one
max-pooling block, or a single hidden unit without pooling). :class:`ExactSampler` enumerates every
configuration of the side with fewer states (hidden states respect pooling: a block of s units has
s + 1 valid states), draws that side from its exact marginal and the other side from the model's
exact conditional. Only the model protocol is used (``energy``, ``hidden_logits``,
``visible_logits``, ``sample_*``); the spec from ``to_qm`` only tells which hidden units share a
pooling block. Models whose smaller side has more than ``max_states`` configurations (default
:data:`sampling.enumeration.MAX_STATES` = 2²², i.e. about 22 binary units) are refused with a
``ValueError``.

The states come from :func:`sampling.enumeration.enumerate_block_states`, in its order: the first
unit is the most significant bit, restricted to valid pooled states on the hidden side.

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> states, probs, side = exact_marginal(BernoulliRBM(6, 3), beta=1.0)
    >>> side, tuple(states.shape), round(float(probs.sum()), 6)
    ('hidden', (8, 3), 1.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from sampling.base import NegativeSampler, check_beta, check_positive_int, model_device, model_dtype
from sampling.bqm import pooling_pairs
from sampling.enumeration import MAX_STATES, enumerate_block_states

__all__ = ["MAX_STATES", "ExactSampler", "exact_marginal", "hidden_blocks", "marginal_table"]

_SIDES = ("auto", "visible", "hidden")
_CHUNK_ELEMENTS = 1 << 22  # states × units evaluated at once


def hidden_blocks(model: torch.nn.Module, canvas: tuple[int, ...]) -> list[np.ndarray]:
    """Groups of flat hidden indices with at most one unit on (pooling blocks; else singletons).

    Read from the hidden–hidden penalty pairs of ``model.to_qm(canvas)``; ordered by first unit.
    """
    spec = model.to_qm(visible_shape=tuple(canvas))
    n_visible, n_hidden = int(spec.n_visible), int(spec.n_hidden)
    rows, cols = pooling_pairs(spec)
    if rows.size == 0:
        return [np.array([j]) for j in range(n_hidden)]
    graph = coo_matrix(
        (np.ones(rows.size), (rows - n_visible, cols - n_visible)), shape=(n_hidden, n_hidden)
    )
    _, labels = connected_components(graph, directed=False)
    blocks: dict[int, list[int]] = {}
    for unit, label in enumerate(labels.tolist()):
        blocks.setdefault(label, []).append(unit)
    return sorted((np.array(b) for b in blocks.values()), key=lambda b: int(b[0]))


def _log_weights(
    model: torch.nn.Module,
    side: str,
    states: Tensor,
    canvas: tuple[int, ...],
    hidden_shape: tuple[int, ...],
    beta: float,
    blocks: list[np.ndarray],
) -> Tensor:
    """Unnormalised log marginal (float64) of each enumerated state of ``side``."""
    dtype, device = model_dtype(model), states.device
    width = max(math.prod(canvas), math.prod(hidden_shape), 1)
    chunk = max(1, _CHUNK_ELEMENTS // width)
    pooled = [b for b in blocks if len(b) > 1]
    singles = torch.as_tensor(
        np.array([int(b[0]) for b in blocks if len(b) == 1], dtype=np.int64), device=device
    )
    groups: dict[int, Tensor] = {}
    for size in sorted({len(b) for b in pooled}):
        same = np.stack([b for b in pooled if len(b) == size])
        groups[size] = torch.as_tensor(same, device=device)
    out = []
    for start in range(0, states.shape[0], chunk):
        x = states[start : start + chunk].to(dtype)
        n = x.shape[0]
        if side == "hidden":
            h = x.reshape(n, *hidden_shape)
            v0 = torch.zeros(n, *canvas, dtype=dtype, device=device)
            base = model.energy(v0, h).double()
            field = beta * model.visible_logits(h).reshape(n, -1).double()
            out.append(-beta * base + F.softplus(field).sum(1))
        else:
            v = x.reshape(n, *canvas)
            h0 = torch.zeros(n, *hidden_shape, dtype=dtype, device=device)
            base = model.energy(v, h0).double()
            field = beta * model.hidden_logits(v).reshape(n, -1).double()
            total = -beta * base + F.softplus(field[:, singles]).sum(1)
            for index in groups.values():
                logits = field[:, index]  # (n, blocks, size)
                zeros = torch.zeros(*logits.shape[:2], 1, dtype=logits.dtype, device=device)
                total = total + torch.logsumexp(torch.cat([zeros, logits], 2), 2).sum(1)
            out.append(total)
    return torch.cat(out)


def _choose_side(
    side: str, n_visible: int, blocks: list[np.ndarray], max_states: int, canvas: tuple[int, ...]
) -> str:
    if side not in _SIDES:
        raise ValueError(f"side must be one of {', '.join(_SIDES)}, got {side!r}")
    log2_v = float(n_visible)
    log2_h = sum(math.log2(len(b) + 1) for b in blocks)
    if side == "auto":
        side = "hidden" if log2_h <= log2_v else "visible"
    log2_side = log2_h if side == "hidden" else log2_v
    if log2_side > math.log2(max_states) + 1e-9:
        raise ValueError(
            f"exact sampling enumerates one side of the model: on canvas {tuple(canvas)} the "
            f"{side} side has 2^{log2_side:.1f} configurations (visible 2^{log2_v:.0f}, hidden "
            f"2^{log2_h:.1f}), above the limit max_states=2^{math.log2(max_states):.0f} (about "
            f"{int(math.log2(max_states))} binary units): use a smaller model or canvas, or "
            "another sampler"
        )
    return side


def exact_marginal(
    model: torch.nn.Module,
    side: str = "auto",
    canvas: tuple[int, ...] | None = None,
    beta: float = 1.0,
    max_states: int = MAX_STATES,
) -> tuple[Tensor, Tensor, str]:
    """Exact marginal distribution of one side of a small RBM at inverse temperature β.

    Args:
        model: RBM of the protocol in ``docs/interfaces.md``.
        side: ``"visible"``, ``"hidden"`` or ``"auto"`` (the side with fewer configurations).
        canvas: visible shape; default the shape ``model.to_qm()`` describes.
        beta: inverse temperature, > 0.
        max_states: refuse a side with more configurations than this.

    Returns:
        ``(states, probs, side)``: states (S, *side_shape) binary in the model's dtype on its
        device (valid pooled states only on the hidden side; first unit most significant), probs
        (S,) float64 summing to 1, and the side enumerated.

    Raises:
        ValueError: bad β or side, or a side with more than ``max_states`` configurations.
    """
    beta = check_beta(beta)
    if canvas is None:
        canvas = tuple(model.to_qm().visible_shape)
    canvas = tuple(int(c) for c in canvas)
    hidden_shape = tuple(int(s) for s in model.hidden_shape(canvas))
    blocks = hidden_blocks(model, canvas)
    side = _choose_side(side, math.prod(canvas), blocks, max_states, canvas)
    device = model_device(model)
    with torch.no_grad():
        if side == "hidden":
            listed, n_units = blocks, math.prod(hidden_shape)
        else:
            n_units = math.prod(canvas)
            listed = [np.array([i]) for i in range(n_units)]
        states = torch.from_numpy(enumerate_block_states(listed, n_units, max_states)).to(device)
        logw = _log_weights(model, side, states, canvas, hidden_shape, beta, blocks)
        probs = torch.softmax(logw, 0)
    shape = hidden_shape if side == "hidden" else canvas
    return states.to(model_dtype(model)).reshape(-1, *shape), probs, side


def marginal_table(
    model: torch.nn.Module, side: str, canvas: tuple[int, ...] | None = None, beta: float = 1.0
) -> np.ndarray:
    """:func:`exact_marginal` of one side as a dense table over all 2ⁿ binary states, float64
    (2ⁿ,) indexed as :func:`sampling.diagnostics.state_index` (first unit most significant);
    invalid pooled hidden states get 0. The ``p_exact`` of
    :func:`sampling.diagnostics.compare_to_exact` for samples of that side."""
    states, probs, _ = exact_marginal(model, side=side, canvas=canvas, beta=beta)
    bits = states.reshape(len(states), -1).cpu().numpy().astype(np.int64)
    table = np.zeros(1 << bits.shape[1])
    table[(bits << np.arange(bits.shape[1])[::-1]).sum(1)] = probs.cpu().numpy()
    return table


class ExactSampler(NegativeSampler):
    """Exact i.i.d. samples of p(v, h) ∝ exp(-β E) by enumerating the smaller side.

    Args:
        side: ``"auto"`` (fewer configurations), ``"visible"`` or ``"hidden"``.
        max_states: refuse models whose enumerated side has more configurations (default
            :data:`sampling.enumeration.MAX_STATES`, 2²²).
        **options: ``beta``, ``num_chains``, ``canvas``, ``seed``, ``device`` of
            :class:`~sampling.base.NegativeSampler` (``persistent`` is accepted and ignored: every
            sample is independent).

    Raises:
        ValueError (on ``sample``): the enumerated side has more than ``max_states``
            configurations.
    """

    name = "exact"

    def __init__(
        self,
        *,
        side: str = "auto",
        max_states: int = MAX_STATES,
        beta: float = 1.0,
        num_chains: int | None = None,
        canvas: tuple[int, ...] | None = None,
        persistent: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(beta=beta, num_chains=num_chains, canvas=canvas, persistent=False,
                         seed=seed, device=device)
        if side not in _SIDES:
            raise ValueError(f"side must be one of {', '.join(_SIDES)}, got {side!r}")
        self.side = side
        self.max_states = check_positive_int(max_states, "max_states")
        if self.max_states > 1 << 24:
            raise ValueError(f"max_states is at most 2^24 (torch.multinomial), got {max_states}")

    def _draw(
        self, model: torch.nn.Module, v_data: Tensor, canvas: tuple[int, ...], num_chains: int
    ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        states, probs, side = exact_marginal(model, self.side, canvas, self.beta, self.max_states)
        gen = self._generator(self._device)
        index = torch.multinomial(probs, num_chains, replacement=True, generator=gen)
        chosen = states[index]
        if side == "hidden":
            h = chosen
            v = model.sample_v_given_h(h, beta=self.beta, generator=gen)
        else:
            v = chosen
            h = model.sample_h_given_v(v, beta=self.beta, generator=gen)
        return v, h, {"sweeps": 0, "side": side, "num_states": int(states.shape[0])}

    def _describe(self) -> str:
        return f"side={self.side!r}, max_states={self.max_states}, " + super()._describe()
