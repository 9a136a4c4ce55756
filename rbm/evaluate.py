"""Evaluation of RBMs: exact log Z and log-likelihood by enumeration, AIS, reconstruction error,
pseudo-likelihood.

All functions take any :class:`~rbm.RBM` (dense or conv, with or without pooling). For a conv
model the canvas ``visible_shape`` ``(C, H, W)`` defaults to ``model.visible_shape``; for a dense
model it is ``(n_visible,)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import RBM
from .conv import ConvRBM
from .dense import visible_bias_from_data

__all__ = [
    "AISResult",
    "DEFAULT_MAX_STATES",
    "ais_log_likelihood",
    "ais_log_partition",
    "exact_log_likelihood",
    "exact_log_partition",
    "pseudo_likelihood",
    "reconstruction_error",
]

#: Most configurations :func:`exact_log_partition` enumerates by default (2^24 ≈ 1.7·10⁷: a few
#: seconds on a CPU for small models). The unit is states, as for ``sampling/``'s one limit
#: (``sampling.enumeration.MAX_STATES`` = 2^22, which this package may not import); this one is 4x
#: larger because the states are streamed in chunks of at most 2^16, never held all at once.
DEFAULT_MAX_STATES = 2**24


def _canvas(model: RBM, visible_shape) -> tuple[int, ...]:
    if visible_shape is None:
        if isinstance(model, ConvRBM):
            if model.visible_shape is None:
                raise ValueError(
                    "this ConvRBM has no default canvas: pass visible_shape=(C, H, W) or set"
                    " model.visible_shape"
                )
            return tuple(model.visible_shape)
        return (model.n_visible,)
    shape = tuple(int(s) for s in visible_shape)
    model.hidden_shape(shape)  # validates
    return shape


def _digits(start: int, stop: int, n: int, base: int, like: Tensor) -> Tensor:
    """States ``start..stop-1`` as ``n`` base-``base`` digits, (stop - start, n) int64.

    The first digit is the most significant: the order of ``sampling.enumeration`` (state k of n
    binary units has unit i = ``(k >> (n - 1 - i)) & 1``).
    """
    idx = torch.arange(start, stop, device=like.device)
    powers = base ** torch.arange(n - 1, -1, -1, device=like.device)
    return (idx.unsqueeze(1) // powers) % base


def _binary_configs(start: int, stop: int, n: int, like: Tensor) -> Tensor:
    return _digits(start, stop, n, 2, like).to(like.dtype)


def _pooled_configs(start: int, stop: int, model: ConvRBM, hidden_shape, like: Tensor) -> Tensor:
    """Valid pooled hidden configurations ``start..stop-1``: one digit of c²+1 values per block
    (0 = all off, d = the block's d-th unit on), in :func:`_digits` order."""
    k, ho, wo = hidden_shape
    c = model.pool_size
    n_blocks = k * (ho // c) * (wo // c)
    digits = _digits(start, stop, n_blocks, c * c + 1, like)  # (N, n_blocks)
    onehot = (digits.unsqueeze(-1) == torch.arange(1, c * c + 1, device=like.device)).to(like.dtype)
    return model._unblocks(onehot.reshape(-1, k, ho // c, wo // c, c * c))


def exact_log_partition(
    model: RBM,
    visible_shape: tuple[int, ...] | None = None,
    side: str = "auto",
    max_states: int = DEFAULT_MAX_STATES,
) -> Tensor:
    """log Z at β = 1 by enumerating one side and summing the other analytically.

    ``side="auto"`` enumerates the side with fewer configurations: ``2^n_visible`` visible ones,
    or ``2^n_hidden`` hidden ones (``(c²+1)^blocks`` valid ones with max-pooling).

    Args:
        model: any RBM. visible_shape: the canvas (see module doc).
        side: ``"auto"``, ``"visible"`` or ``"hidden"``.
        max_states: refuse to enumerate more configurations than this.

    Returns:
        A 0-dim tensor, differentiable in the parameters (``F(v).mean() + log Z`` is the exact
        negative log-likelihood); use ``.item()`` for a float.

    Raises:
        ValueError: the enumerated side has more than ``max_states`` configurations, or a bad
            side / canvas.

    Examples:
        >>> from rbm import BernoulliRBM
        >>> model = BernoulliRBM(3, 2)
        >>> with torch.no_grad():
        ...     _ = model.weight.zero_()
        >>> round(exact_log_partition(model).item(), 4) == round(5 * math.log(2), 4)
        True
    """
    canvas = _canvas(model, visible_shape)
    hidden_shape = model.hidden_shape(canvas)
    n_v, n_h = math.prod(canvas), math.prod(hidden_shape)
    log_states = {"visible": n_v * math.log(2), "hidden": model._num_hidden_states_log(canvas)}
    if side == "auto":
        side = min(log_states, key=log_states.get)
    if side not in log_states:
        raise ValueError(f"side must be 'auto', 'visible' or 'hidden', got {side!r}")
    if log_states[side] > math.log(max_states) + 1e-9:
        raise ValueError(
            f"exact log Z would enumerate {math.exp(log_states[side]):.3g} {side} configurations"
            f" (visible {n_v} units, hidden {n_h} units); the limit is max_states={max_states}"
        )
    pooled = isinstance(model, ConvRBM) and model._pooling
    if side == "visible":
        count = 2**n_v
    elif pooled:
        c = model.pool_size
        count = (c * c + 1) ** (n_h // (c * c))
    else:
        count = 2**n_h
    like = model.weight
    other = n_h if side == "visible" else n_v
    chunk = max(1, min(2**16, 2**22 // max(other, 1)))
    parts = []
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        if side == "visible":
            v = _binary_configs(start, stop, n_v, like).reshape(-1, *canvas)
            parts.append(torch.logsumexp(model._log_marginal_v(v, 1.0), 0))
        else:
            if pooled:
                h = _pooled_configs(start, stop, model, hidden_shape, like)
            else:
                h = _binary_configs(start, stop, n_h, like).reshape(-1, *hidden_shape)
            parts.append(torch.logsumexp(model._log_marginal_h(h, 1.0), 0))
    return torch.logsumexp(torch.stack(parts), 0)


def exact_log_likelihood(model: RBM, v: Tensor, **kwargs) -> Tensor:
    """Mean exact log-likelihood ``mean(-F(v)) - log Z`` of the batch ``v`` (canvas = v's shape).

    ``kwargs`` go to :func:`exact_log_partition` (``side``, ``max_states``). Differentiable.
    """
    v = model._check_v_value(v)
    canvas = (model.n_visible,) if not isinstance(model, ConvRBM) else tuple(v.shape[1:])
    log_z = exact_log_partition(model, canvas, **kwargs)
    return model._log_marginal_v(v, 1.0).mean() - log_z


@dataclass(frozen=True, eq=False)
class AISResult:
    """An AIS estimate of log Z.

    Attributes:
        log_z: the estimate from all chains together, ``log Z_0 + log mean(w)``.
        std: its standard error: the spread of the per-run estimates over √runs (with one run,
            the delta-method error of the weights). A single run's spread is ``std * √runs``.
        run_log_z: per-run estimates, shape ``(runs,)``.
        log_z_base: log Z of the start distribution.
        log_weights: importance log-weights, shape ``(runs, num_chains)``.
    """

    log_z: float
    std: float
    run_log_z: Tensor
    log_z_base: float
    log_weights: Tensor


def _beta_path(num_betas: int, path: str, betas) -> list[float]:
    if betas is not None:
        out = [float(b) for b in betas]
        if len(out) < 2 or out[0] != 0.0 or out[-1] != 1.0 or any(
                b1 < b0 for b0, b1 in zip(out, out[1:], strict=False)):
            raise ValueError("betas must be non-decreasing from 0.0 to 1.0 (at least two values)")
        return out
    if num_betas < 2:
        raise ValueError(f"num_betas must be >= 2, got {num_betas}")
    if path == "linear":
        return torch.linspace(0.0, 1.0, num_betas, dtype=torch.float64).tolist()
    if path == "geometric":
        return [0.0] + torch.logspace(-3, 0, num_betas - 1, dtype=torch.float64).tolist()
    raise ValueError(f"path must be 'linear' or 'geometric', got {path!r}")


@torch.no_grad()
def ais_log_partition(
    model: RBM,
    visible_shape: tuple[int, ...] | None = None,
    num_chains: int = 100,
    num_betas: int = 1000,
    runs: int = 10,
    data: Tensor | None = None,
    path: str = "linear",
    betas: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
) -> AISResult:
    """Annealed importance sampling estimate of log Z (Salakhutdinov & Murray 2008).

    Start: the base-rate model ``p_0(v) ∝ exp(b_A·v)`` with per-unit visible biases ``b_A``
    from ``data`` (log-odds of the mean, :func:`visible_bias_from_data`) or zero without data.
    Intermediate distributions ``p_k(v) ∝ exp((1 - β_k) b_A·v) Σ_h exp(-β_k E(v, h))``; each
    transition is one block-Gibbs sweep (h given v at β_k, then v given h). ``runs``
    independent groups of ``num_chains`` chains run together, vectorised.

    Args:
        model: any RBM. visible_shape: the canvas (see module doc).
        num_chains: chains per run. num_betas: points of the β path (first 0, last 1).
        runs: independent runs (the reported std comes from their spread).
        data: optional ``(N, *canvas)`` batch for the base rates.
        path: ``"linear"`` or ``"geometric"`` (0, then 10⁻³ … 1); ``betas`` overrides both.
        generator: a ``torch.Generator`` on the model's device, for reproducibility.

    Returns:
        :class:`AISResult`. AIS estimates ``log Z`` with a small downward bias (it estimates Z
        without bias); more betas shrink both bias and std.

    Examples:
        >>> from rbm import BernoulliRBM
        >>> model = BernoulliRBM(8, 3)
        >>> g = torch.Generator().manual_seed(0)
        >>> r = ais_log_partition(model, num_chains=20, num_betas=50, runs=2, generator=g)
        >>> abs(r.log_z - exact_log_partition(model).item()) < 0.05
        True
    """
    canvas = _canvas(model, visible_shape)
    beta_list = _beta_path(num_betas, path, betas)
    if num_chains < 1 or runs < 1:
        raise ValueError(f"num_chains and runs must be >= 1, got {num_chains}, {runs}")
    like = model.weight
    if data is not None:
        data = model._check_v_value(data, "data")
        if isinstance(model, ConvRBM) and tuple(data.shape[1:]) != canvas:
            raise ValueError(f"expected data of shape (N, {', '.join(map(str, canvas))}),"
                             f" got {tuple(data.shape)}")
        base = visible_bias_from_data(data).reshape(canvas).to(like)
    else:
        base = torch.zeros(canvas, dtype=like.dtype, device=like.device)
    log_z0 = float(F.softplus(base).sum()) + model._num_hidden_states_log(canvas)

    n = num_chains * runs
    v = torch.bernoulli(torch.sigmoid(base).expand(n, *canvas), generator=generator)
    base_flat = base.reshape(-1)
    log_w = torch.zeros(n, dtype=torch.float64, device=like.device)
    for k in range(1, len(beta_list)):
        b0, b1 = beta_list[k - 1], beta_list[k]
        logits = model._hidden_logits(v)
        base_term = v.reshape(n, -1) @ base_flat
        vis_term = model._visible_term(v)
        step = ((b1 - b0) * (vis_term - base_term) + model._hidden_log_sum(logits, b1)
                - model._hidden_log_sum(logits, b0))
        log_w += step.double()
        if k < len(beta_list) - 1:
            h = model._sample_h(logits, b1, generator)
            vis_logits = (1.0 - b1) * base + b1 * model._visible_logits(h)
            v = torch.bernoulli(torch.sigmoid(vis_logits), generator=generator)
    log_w = log_w.reshape(runs, num_chains)
    run_log_z = log_z0 + torch.logsumexp(log_w, 1) - math.log(num_chains)
    log_z = log_z0 + float(torch.logsumexp(log_w.reshape(-1), 0)) - math.log(n)
    if runs > 1:
        std = float(run_log_z.std()) / math.sqrt(runs)
    else:
        w = torch.exp(log_w - log_w.max())
        std = float(w.std() / w.mean()) / math.sqrt(n) if n > 1 else float("nan")
    return AISResult(log_z=log_z, std=std, run_log_z=run_log_z.cpu(), log_z_base=log_z0,
                     log_weights=log_w.cpu())


@torch.no_grad()
def ais_log_likelihood(model: RBM, v: Tensor, **ais_options) -> tuple[float, float]:
    """Mean log-likelihood of the batch ``v`` with log Z from :func:`ais_log_partition`.

    The canvas is ``v``'s shape (a conv model's likelihood of whole images); ``ais_options``
    (``num_chains``, ``num_betas``, ``runs``, ``data``, ``path``, ``generator``) go to AIS, and
    ``data`` defaults to ``v`` (base rates from the batch itself).

    Returns:
        ``(mean log-likelihood, its standard error)``: nats per image; the error is AIS's alone
        (the batch mean is exact). AIS's small downward bias in log Z makes this a slight
        over-estimate.

    Examples:
        >>> from rbm import ConvRBM
        >>> model = ConvRBM(1, 2, 2, pool_size=2)
        >>> v = (torch.rand(5, 1, 3, 5) < 0.5).float()
        >>> ll, err = ais_log_likelihood(model, v, num_chains=20, num_betas=50, runs=2,
        ...                              generator=torch.Generator().manual_seed(0))
        >>> abs(ll - exact_log_likelihood(model, v).item()) < 0.05
        True
    """
    v = model._check_v_value(v)
    canvas = (model.n_visible,) if not isinstance(model, ConvRBM) else tuple(v.shape[1:])
    ais_options.setdefault("data", v)
    r = ais_log_partition(model, canvas, **ais_options)
    return float(model._log_marginal_v(v, 1.0).mean()) - r.log_z, r.std


@torch.no_grad()
def reconstruction_error(model: RBM, v: Tensor) -> Tensor:
    """Mean squared error of one mean-field up-down pass, ``mean((v - p(v | p(h | v)))²)``.

    Averaged over samples and visible units; a 0-dim tensor (not differentiable).
    """
    v = model._check_v_value(v)
    p_h = model._p_h(model._hidden_logits(v), 1.0)
    return (v - torch.sigmoid(model._visible_logits(p_h))).pow(2).mean()


@torch.no_grad()
def pseudo_likelihood(model: RBM, v: Tensor, max_elements: int = 2**22) -> Tensor:
    """Mean over samples of the log pseudo-likelihood ``Σ_i log p(v_i | v_-i)`` over all bits.

    Deterministic (every bit, no random subset): ``log p(v_i | v_-i) = log σ(F(v̄ⁱ) - F(v))``
    with ``v̄ⁱ`` = v with bit i flipped. Computed in chunks of flipped copies holding at most
    ``max_elements`` visible values. ``v`` must be binary. A 0-dim tensor (not differentiable).
    """
    v = model._check_v_value(v)
    if not bool(((v == 0) | (v == 1)).all()):
        raise ValueError("pseudo_likelihood needs binary v (values 0 or 1)")
    b, shape = v.shape[0], tuple(v.shape[1:])
    flat = v.reshape(b, -1)
    n = flat.shape[1]
    log_p = model._log_marginal_v(v, 1.0)  # -F(v), (B,)
    chunk = max(1, min(n, max_elements // max(b * n, 1)))
    total = torch.zeros(b, dtype=v.dtype, device=v.device)
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(n, start + chunk), device=v.device)
        m = idx.numel()
        x = flat.unsqueeze(1).repeat(1, m, 1)  # (B, m, n)
        rows = torch.arange(m, device=v.device)
        x[:, rows, idx] = 1.0 - flat[:, idx]
        log_p_flip = model._log_marginal_v(x.reshape(b * m, *shape), 1.0).reshape(b, m)
        total += F.logsigmoid(log_p.unsqueeze(1) - log_p_flip).sum(1)
    return total.mean()
