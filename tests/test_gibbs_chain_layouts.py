"""The models' fast Gibbs chains (``RBM._gibbs_chain``) in every internal layout they use.

``ConvRBM`` keeps h phase-major (pooling) or channels-last (no pooling) between half-sweeps on
CPU, with two routes to the pooled hidden logits (a stride-c convolution for one input channel,
the plain one and a permuting copy for several); ``rbm.base._bernoulli_`` draws in p's memory
order. ``tests/test_samplers_statistics.py`` covers one-channel models; here a pooled model with
two input channels is checked against its exact marginals (N = 20 000, within 2× the i.i.d. noise
floor, and the same check rejects a β 15 % off), and the Bernoulli draws on a channels-last tensor
against p.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rbm import ConvRBM
from rbm.base import _bernoulli_
from sampling import make_sampler
from sampling.diagnostics import compare_to_exact, state_index, within_noise_floor
from sampling.exact import exact_marginal

N = 20_000




def two_channel_pooled() -> ConvRBM:
    """2×3×3 canvas, 2 filters 2×2, pool 2: 18 visible, 2 blocks of 4 (25 valid h states)."""
    gen = torch.Generator().manual_seed(6)
    model = ConvRBM(2, 2, 2, pool_size=2)
    with torch.no_grad():
        model.weight.copy_(1.5 * torch.randn(2, 2, 2, 2, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(2, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(2, generator=gen))
    return model


def reports(model, canvas, beta, v, h):
    out = {}
    for side, x in (("visible", v), ("hidden", h)):
        states, probs, _ = exact_marginal(model, side, canvas, 1.0)
        flat = states.reshape(len(states), -1).numpy()
        exact = np.zeros(1 << flat.shape[1])
        exact[state_index(flat)] = probs.numpy()
        out[side] = compare_to_exact(x.reshape(len(x), -1).numpy().astype(np.int8), exact)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("beta_factor", [1.0, 1.15])
def test_two_channel_pooled_chain_matches_exact(beta_factor):
    """``annealed`` on a two-channel pooled model: exact at β = 1, rejected at β = 1.15."""
    model, canvas = two_channel_pooled(), (2, 3, 3)
    sampler = make_sampler("annealed", schedule="fixed", num_sweeps=100, beta=beta_factor,
                           num_chains=N, canvas=canvas, seed=1)
    v, h = sampler.sample(model, torch.zeros(1, *canvas))
    found = reports(model, canvas, 1.0, v, h)
    ok = [within_noise_floor(r) for r in found.values()]
    ratios = {s: round(r["kl"] / r["kl_floor"], 2) for s, r in found.items()}
    print(f"\ntwo-channel pooled, beta x {beta_factor}: KL / floor {ratios}")
    assert all(ok) if beta_factor == 1.0 else not all(ok), ratios


def test_bernoulli_follows_p_in_any_memory_layout():
    """``_bernoulli_`` on a channels-last p: each unit is on with its own p (not a neighbour's),
    exactly never at p = 0 and always at p = 1."""
    p = torch.tensor([0.0, 1.0, 0.1, 0.9]).view(1, 4, 1, 1).expand(20_000, 4, 3, 3)
    p_last = p.contiguous(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    for q in (p.contiguous(), p_last):
        x = _bernoulli_(q.clone(memory_format=torch.preserve_format), gen)
        freq = x.mean(dim=(0, 2, 3))
        assert freq[0] == 0.0 and freq[1] == 1.0
        se = (0.09 / x[:, 0].numel()) ** 0.5  # p(1 - p) = 0.09 for both p = 0.1 and 0.9
        assert abs(freq[2] - 0.1) < 5 * se and abs(freq[3] - 0.9) < 5 * se, freq


@pytest.mark.parametrize("in_channels,pool", [(1, None), (1, 2), (3, 2)])
def test_gibbs_chain_is_seeded_and_returns_contiguous_joint_states(in_channels, pool):
    """Same generator state, same chain; h contiguous, a valid pooled state, of v's hidden shape."""
    torch.manual_seed(0)
    model = ConvRBM(in_channels, 3, 3, pool_size=pool)
    v0 = (torch.rand(5, in_channels, 8, 8) < 0.5).float()
    runs = [model._gibbs_chain(v0, [0.5, 1.0], torch.Generator().manual_seed(3)) for _ in "ab"]
    (v, h), (v2, h2) = runs
    assert torch.equal(v, v2) and torch.equal(h, h2)
    assert h.is_contiguous() and tuple(h.shape) == (5, *model.hidden_shape((in_channels, 8, 8)))
    assert set(torch.unique(torch.cat([v.flatten(), h.flatten()])).tolist()) <= {0.0, 1.0}
    if pool:
        assert model.pool(h).max() <= 1
