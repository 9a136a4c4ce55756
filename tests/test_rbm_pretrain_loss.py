"""The pretraining loss of rbm/pretrain.py: its gradient is the per-unit log-likelihood gradient,
also when the negative-phase canvas is smaller than the data images."""

import math

import pytest
import torch

from rbm import BernoulliRBM, ConvRBM
from rbm.pretrain import PretrainConfig, layer_loss

NO_DECAY = PretrainConfig(weight_decay=0.0)




def randomised_conv(pool, channels=2, dtype=torch.float64, seed=0):
    model = ConvRBM(channels, 3, 5, pool_size=pool).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=dtype))
    return model


def grads(model, v_data, v_neg, config=NO_DECAY):
    model.zero_grad(set_to_none=True)
    layer_loss(model, v_data, v_neg, config).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def half_on(batch, channels, size, generator):
    """Binary images with exactly half of the pixels of every image and channel on."""
    n = size * size
    flat = torch.zeros(batch, channels, n, dtype=torch.float64)
    for b in range(batch):
        for c in range(channels):
            flat[b, c, torch.randperm(n, generator=generator)[: n // 2]] = 1.0
    return flat.reshape(batch, channels, size, size)


@pytest.mark.parametrize("pool", [None, 2])
def test_equal_pixel_means_on_a_smaller_canvas_give_zero_visible_bias_gradient(pool):
    model = randomised_conv(pool)
    g = torch.Generator().manual_seed(1)
    v_data = half_on(6, 2, 28, g)  # 28x28 data, pixel mean 0.5 in each channel
    v_neg = half_on(5, 2, 12, g)  # 12x12 canvas, pixel mean 0.5 in each channel
    grad = grads(model, v_data, v_neg)["visible_bias"]
    torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    # unequal means: the gradient is the per-pixel mean difference, in the units of the
    # data-sized image's per-position loss (pixels per hidden position of a data image)
    v_neg = v_neg.clone()
    v_neg[:, 1] = 0.0  # channel 1 of the canvas all off: pixel means 0.5 (ch. 0), 0 (ch. 1)
    grad = grads(model, v_data, v_neg)["visible_bias"]
    scale = 28 * 28 / model.num_positions((2, 28, 28))
    torch.testing.assert_close(grad, torch.tensor([0.0, -0.5 * scale], dtype=torch.float64),
                               atol=1e-12, rtol=1e-12)


def tiled(patterns, size):
    """Tile period-4 patterns (B, C, 4, 4) to (B, C, size, size); size divisible by 4."""
    reps = size // 4
    return patterns.repeat(1, 1, reps, reps)


@pytest.mark.parametrize("pool", [None, 2])
def test_equal_per_position_statistics_give_zero_weight_and_hidden_bias_gradients(pool):
    """Period-4 textures on 28x28 and 12x12: every patch (and every pooling block) of the hidden
    map occurs equally often on both sizes, so every per-position average is the same."""
    model = randomised_conv(pool, seed=3)
    g = torch.Generator().manual_seed(2)
    patterns = torch.bernoulli(torch.full((4, 2, 4, 4), 0.4, dtype=torch.float64), generator=g)
    v_data, v_neg = tiled(patterns, 28), tiled(patterns, 12)
    got = grads(model, v_data, v_neg)
    for name in ("weight", "hidden_bias", "visible_bias"):
        torch.testing.assert_close(got[name], torch.zeros_like(got[name]), atol=1e-12, rtol=0,
                                   msg=lambda m, name=name: f"{name}: {m}")
    # the same data against a different texture: the weight gradient is not trivially zero
    other = tiled(torch.bernoulli(torch.full((4, 2, 4, 4), 0.4, dtype=torch.float64), generator=g), 12)
    assert grads(model, v_data, other)["weight"].abs().max() > 1e-3


def old_loss(model, v_data, v_neg, config):
    """The loss before the per-unit normalisation: F / P(data) − F / P(canvas) + weight cost."""
    p_data = model.num_positions(tuple(v_data.shape[1:]))
    p_neg = model.num_positions(tuple(v_neg.shape[1:]))
    loss = model.free_energy(v_data).mean() / p_data - model.free_energy(v_neg).mean() / p_neg
    return loss + 0.5 * config.weight_decay * model.weight.pow(2).sum()


@pytest.mark.parametrize("kind", ["conv", "conv-pool", "dense"])
def test_canvas_equal_to_the_data_size_gives_the_old_gradient_bit_for_bit(kind):
    torch.manual_seed(4)
    if kind == "dense":
        model, shape = BernoulliRBM(20, 7), (20,)
    else:
        model, shape = ConvRBM(1, 4, 5, pool_size=2 if kind == "conv-pool" else None), (1, 12, 12)
    with torch.no_grad():
        model.visible_bias.normal_(0, 0.3)
        model.hidden_bias.normal_(0, 0.3)
    v_data = torch.rand(16, *shape)
    v_neg = (torch.rand(16, *shape) < 0.3).float()
    config = PretrainConfig()  # the default weight cost included
    new = grads(model, v_data, v_neg, config)
    model.zero_grad(set_to_none=True)
    reference = old_loss(model, v_data, v_neg, config)
    reference.backward()
    for name, p in model.named_parameters():
        assert torch.equal(new[name], p.grad), name
    value = layer_loss(model, v_data, v_neg, config)
    assert math.isclose(value.item(), reference.item(), rel_tol=1e-5, abs_tol=1e-6)
