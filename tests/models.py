"""Small seeded models the tests share (imported as ``tests.models``)."""

from __future__ import annotations

import torch

from rbm import BernoulliRBM


def seeded_dense_rbm(n_v: int = 10, n_h: int = 6, std: float = 1.0, seed: int = 0) -> BernoulliRBM:
    """A dense RBM with weights N(0, std²) and biases N(0, 0.5²), drawn from ``seed``: strongly
    coupled at std >= 1, where a wrong β or a short chain is detectable (docs/design.md §3)."""
    g = torch.Generator().manual_seed(seed)
    m = BernoulliRBM(n_v, n_h)
    with torch.no_grad():
        m.weight.copy_(std * torch.randn(n_v, n_h, generator=g))
        m.visible_bias.copy_(0.5 * torch.randn(n_v, generator=g))
        m.hidden_bias.copy_(0.5 * torch.randn(n_h, generator=g))
    return m
