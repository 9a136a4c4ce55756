"""What a layer's hidden units do on data, and how alike its filters are; Lee's sparsity step.

These are the per-epoch health signs of a pretrained layer (``rbm.pretrain`` writes them into every
epoch's metrics): a layer whose hidden units are all on (or all off), or whose filters are shifted
copies of one blob, has learned nothing worth copying into a CNN, whatever its reconstruction error.

- :func:`hidden_activity`: mean on-probability of the detection units and, with max-pooling, of the
  pooling units, over a data batch.
- :func:`filter_diversity`: mean |cos| between the flattened filters (off-diagonal). Random
  zero-mean 5x5 filters give about 0.16; copies of one blob give values near 1.
- :func:`sparsity_bias_step`: the sparsity regulariser of Lee, Ekanadham & Ng (NIPS 2008) as used
  in convolutional DBNs (Lee et al., ICML 2009): after each gradient step, move every hidden bias
  by ``rate · (target − q_k)`` where ``q_k`` is the mean detection probability of filter (or unit)
  k on the batch. Unlike the squared penalty of :meth:`rbm.RBM.sparsity_penalty`, whose gradient
  carries a factor ``q_k (1 − q_k)`` that vanishes exactly when the units are far too quiet or too
  busy, this step does not weaken as the activity saturates.

Examples:
    >>> import torch
    >>> from rbm import ConvRBM
    >>> _ = torch.manual_seed(0)
    >>> model = ConvRBM(1, 4, 3, pool_size=2)
    >>> v = torch.bernoulli(torch.full((8, 1, 8, 8), 0.5))
    >>> act = hidden_activity(model, v)
    >>> sorted(act), 0.15 < act["detection"] < 0.25  # 4 units + "off" share a block: about 1/5
    (['detection', 'pooled'], True)
    >>> before = hidden_activity(model, v)["detection"]
    >>> for _ in range(20):
    ...     _ = sparsity_bias_step(model, v, target=0.02, rate=1.0)
    >>> hidden_activity(model, v)["detection"] < before
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import RBM
from .conv import ConvRBM

__all__ = ["filter_diversity", "hidden_activity", "per_unit_activity", "sparsity_bias_step"]


@torch.no_grad()
def per_unit_activity(model: RBM, v: Tensor) -> Tensor:
    """Mean detection on-probability of each filter (conv) or hidden unit (dense), shape (K,).

    Averaged over the batch ``v`` (the shape ``p_h_given_v`` accepts) and, for conv, positions.
    """
    p = model.p_h_given_v(v)
    return p.transpose(0, 1).reshape(p.shape[1], -1).mean(1)


@torch.no_grad()
def hidden_activity(model: RBM, v: Tensor) -> dict[str, float]:
    """Mean on-probability of the hidden units on the batch ``v``.

    Returns:
        ``{"detection": ..., "pooled": ...}``: the mean of ``p_h_given_v(v)`` and of the layer's
        output ``transform(v)`` (pooling units with max-pooling; the same value without).
    """
    detection = float(model.p_h_given_v(v).mean())
    pooled = detection
    if isinstance(model, ConvRBM) and model.pool_size is not None:
        pooled = float(model.p_pool_given_v(v).mean())
    return {"detection": detection, "pooled": pooled}


@torch.no_grad()
def filter_diversity(weight: Tensor) -> float:
    """Mean |cos| between distinct filters: conv ``(K, C, w, w)`` or dense ``(n_visible, K)``.

    Each filter is flattened (over channels too); the mean runs over the K(K − 1) off-diagonal
    pairs. Near 0: orthogonal filters; near 1: copies of one filter (up to sign). NaN for K < 2.

    Examples:
        >>> filter_diversity(torch.eye(3).reshape(3, 1, 1, 3))
        0.0
        >>> filter_diversity(torch.ones(2, 1, 2, 2))
        1.0
    """
    w = weight.detach()
    if w.ndim == 2:  # dense: one column per hidden unit
        w = w.t()
    w = w.reshape(w.shape[0], -1).double()
    k = w.shape[0]
    if k < 2:
        return float("nan")
    unit = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = (unit @ unit.t()).abs()
    return round(float((cos.sum() - cos.diagonal().sum()) / (k * (k - 1))), 12)


@torch.no_grad()
def sparsity_bias_step(model: RBM, v: Tensor, target: float, rate: float) -> Tensor:
    """Lee et al.'s sparsity update: ``b_k += rate · (target − q_k)`` in place.

    Args:
        model: an RBM (its ``hidden_bias`` is changed).
        v: the data batch of this step, the shape ``p_h_given_v`` accepts.
        target: desired mean detection probability p, in (0, 1).
        rate: step size λ ≥ 0 (in logits per unit of activity error).

    Returns:
        ``q``, the per-filter mean activity before the step, shape (K,).
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"sparsity target must be in (0, 1), got {target!r}")
    if not rate >= 0.0:
        raise ValueError(f"sparsity rate must be >= 0, got {rate!r}")
    q = per_unit_activity(model, v)
    model.hidden_bias.add_(rate * (target - q).to(model.hidden_bias.dtype))
    return q
