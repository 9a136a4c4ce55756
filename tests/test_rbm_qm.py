"""QuadraticModelSpec: variable order, energy convention and the max-pooling penalty."""

import numpy as np
import pytest
import torch

from rbm import BernoulliRBM, ConvRBM, QuadraticModelSpec, default_pool_penalty
from rbm.qm import POOL_PENALTY_MARGIN


def randomise(model, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def states(model, visible_shape, n=200, seed=0):
    """Random valid (v, h) pairs (h sampled from the model, so valid under pooling)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.bernoulli(torch.full((n, *visible_shape), 0.5, dtype=torch.float64), generator=g)
    h = model.sample_h_given_v(v, beta=0.3, generator=g)  # hot: many units on
    return v, h


def check_spec(spec):
    assert np.all(spec.rows < spec.cols)
    pairs = spec.rows * spec.num_variables + spec.cols
    assert np.unique(pairs).size == pairs.size  # one entry per pair
    assert spec.linear.dtype == spec.values.dtype == np.float64
    assert spec.n_visible + spec.n_hidden == spec.linear.size


def test_dense_qm_energy_equals_model_energy():
    m = randomise(BernoulliRBM(7, 4).double(), seed=1)
    spec = m.to_qm()
    check_spec(spec)
    assert spec.visible_shape == (7,) and spec.hidden_shape == (4,) and spec.values.size == 28
    v, h = states(m, (7,))
    x = np.concatenate([v.numpy(), h.numpy()], 1)
    np.testing.assert_allclose(spec.energy(x), m.energy(v, h).detach().numpy(), rtol=1e-12, atol=1e-12)
    sv, sh = spec.split(x)
    np.testing.assert_array_equal(sv, v.numpy())
    np.testing.assert_array_equal(sh, h.numpy())
    assert m.to_qm((1, 7, 1)).split(x)[0].shape == (200, 1, 7, 1)


@pytest.mark.parametrize("pool,canvas", [(None, (2, 5, 4)), (2, (2, 5, 5)), (3, (1, 7, 4))])
def test_conv_qm_energy_equals_model_energy_on_valid_states(pool, canvas):
    m = randomise(ConvRBM(canvas[0], 3, 2, pool_size=pool).double(), seed=2)
    spec = m.to_qm(canvas)
    check_spec(spec)
    hidden = m.hidden_shape(canvas)
    assert spec.visible_shape == canvas and spec.hidden_shape == hidden
    v, h = states(m, canvas)
    x = np.concatenate([v.reshape(len(v), -1).numpy(), h.reshape(len(h), -1).numpy()], 1)
    np.testing.assert_allclose(spec.energy(x), m.energy(v, h).detach().numpy(), rtol=1e-12, atol=1e-12)
    sv, sh = spec.split(x)
    np.testing.assert_array_equal(sv, v.numpy())
    np.testing.assert_array_equal(sh, h.numpy())
    c = pool or 1
    n_pairs = hidden[0] * (hidden[1] // c) * (hidden[2] // c) * (c * c) * (c * c - 1) // 2
    assert spec.values.size == np.prod(hidden) * canvas[0] * 4 + n_pairs


def test_pool_penalty_is_positive_exactly_on_invalid_states():
    m = randomise(ConvRBM(1, 2, 2, pool_size=2).double(), seed=3)
    canvas = (1, 5, 5)
    spec = m.to_qm(canvas)
    penalty = default_pool_penalty(m.weight.detach().numpy(), m.hidden_bias.detach().numpy())
    g = torch.Generator().manual_seed(4)
    v = torch.bernoulli(torch.full((300, *canvas), 0.5, dtype=torch.float64), generator=g)
    h = torch.bernoulli(torch.full((300, 2, 4, 4), 0.4, dtype=torch.float64), generator=g)
    x = np.concatenate([v.reshape(300, -1).numpy(), h.reshape(300, -1).numpy()], 1)
    blocks = h.reshape(300, 2, 2, 2, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(300, 8, 4).sum(-1)
    on_pairs = (blocks * (blocks - 1) / 2).sum(1).numpy()
    diff = spec.energy(x) - m.energy(v, h).detach().numpy()
    np.testing.assert_allclose(diff, penalty * on_pairs, atol=1e-9)
    assert (on_pairs > 0).any() and (on_pairs == 0).any()
    # the rule: larger than any gain of switching on a second unit, by the margin
    w = m.weight.detach().numpy()
    gain = (m.hidden_bias.detach().numpy() + np.clip(w, 0, None).reshape(2, -1).sum(1)).max()
    assert penalty == pytest.approx(max(gain, 0) + POOL_PENALTY_MARGIN)
    # every invalid state is above the valid state with one of its units off
    m2 = ConvRBM(1, 2, 2, pool_size=2, pool_penalty=0.25).double()
    assert np.isclose(m2.to_qm(canvas).values.max(), 0.25)


def test_ground_state_of_pooled_qm_is_valid():
    m = randomise(ConvRBM(1, 1, 2, pool_size=2).double(), seed=5, scale=3.0)
    spec = m.to_qm((1, 3, 3))  # 9 visible + 4 hidden = 13 variables: enumerate all
    n = spec.num_variables
    x = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    best = x[np.argmin(spec.energy(x))]
    assert spec.split(best)[1].sum() <= 1


def test_to_qm_needs_a_canvas_for_conv():
    m = ConvRBM(1, 2, 3)
    with pytest.raises(ValueError, match="visible_shape"):
        m.to_qm()
    m.visible_shape = (1, 6, 6)
    assert m.to_qm().visible_shape == (1, 6, 6)
    with pytest.raises(ValueError, match=r"expected visible_shape of shape \(1, H, W\) .* got \(2, 6, 6\)"):
        m.to_qm((2, 6, 6))
    with pytest.raises(ValueError, match="holding 4 units"):
        BernoulliRBM(4, 2).to_qm((5,))


def test_spec_validation_and_immutability():
    spec = QuadraticModelSpec((2,), (1,), 2, 1, [0.0, 0.0, 0.0], [0], [2], [1.0])
    with pytest.raises(ValueError):
        spec.linear[0] = 1.0
    with pytest.raises(ValueError, match="rows < cols"):
        QuadraticModelSpec((2,), (1,), 2, 1, [0.0, 0.0, 0.0], [2], [0], [1.0])
    with pytest.raises(ValueError, match="linear"):
        QuadraticModelSpec((2,), (1,), 2, 1, [0.0, 0.0], [0], [2], [1.0])
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 3\)"):
        spec.energy(np.zeros((4, 2)))
    assert spec.energy(np.array([1, 0, 1])) == pytest.approx(1.0)


def test_conv_qm_is_fast_at_mnist_size():
    import time

    m = ConvRBM(1, 32, 5, pool_size=2)
    t = time.perf_counter()
    spec = m.to_qm((1, 28, 28))
    assert time.perf_counter() - t < 2.0
    assert spec.n_hidden == 32 * 24 * 24 and spec.values.size == 32 * 576 * 25 + 32 * 144 * 6
