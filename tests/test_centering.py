"""The centered gradient (rbm.centering): what it computes, what it keeps fixed, and that
pretraining uses it."""

from __future__ import annotations

import pytest
import torch

import imagedata
import sampling
from rbm import ConvRBM
from rbm.activity import per_unit_activity
from rbm.centering import Centering
from rbm.pretrain import PretrainConfig, layer_loss, pretrain_layer
from tests.models import seeded_dense_rbm

NO_DECAY = PretrainConfig(weight_decay=0.0)


def _plain_grads(model, v_data, v_neg):
    model.zero_grad(set_to_none=True)
    layer_loss(model, v_data, v_neg, NO_DECAY).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def test_dense_centered_weight_gradient_is_a_covariance_difference():
    # ∇W_c = <(v - μ)(h - λ)ᵀ>_data - <(v - μ)(h - λ)ᵀ>_model, with p(h|v) in both phases
    model = seeded_dense_rbm(7, 5, std=0.5, seed=3)
    g = torch.Generator().manual_seed(0)
    v_data = (torch.rand(40, 7, generator=g) < 0.7).float()
    v_neg = (torch.rand(30, 7, generator=g) < 0.4).float()
    mu = torch.rand(7, generator=g)
    lam = torch.rand(5, generator=g)
    _plain_grads(model, v_data, v_neg)
    Centering(mu, lam).apply(model, per_unit_activity(model, v_data), num_positions=1, num_pixels=1)

    def cov(v):
        h = model.p_h_given_v(v).detach()
        return (v - mu).t() @ (h - lam) / len(v)

    expected = -(cov(v_data) - cov(v_neg))  # .grad is minus the ascent direction
    torch.testing.assert_close(model.weight.grad, expected, rtol=1e-5, atol=1e-6)


def test_dense_centered_gradient_differs_from_the_plain_one_by_the_mean_terms():
    # with μ = 0 and λ = 0 centering is the identity; any offset changes W's gradient
    model = seeded_dense_rbm(6, 4, seed=1)
    v_data = (torch.rand(20, 6) < 0.8).float()
    v_neg = (torch.rand(20, 6) < 0.2).float()
    plain = _plain_grads(model, v_data, v_neg)
    Centering(torch.zeros(6), torch.zeros(4)).apply(model, torch.zeros(4), num_positions=1, num_pixels=1)
    for k, p in model.named_parameters():
        torch.testing.assert_close(p.grad, plain[k])
    plain = _plain_grads(model, v_data, v_neg)
    Centering(torch.full((6,), 0.5), torch.full((4,), 0.5)).apply(
        model, torch.zeros(4), num_positions=1, num_pixels=1)
    assert (model.weight.grad - plain["weight"]).abs().max() > 1e-3


@pytest.mark.parametrize("pool_size", [None, 2])
def test_conv_step_keeps_the_plain_response_to_the_offsets(pool_size):
    # Melchior et al.'s bias corrections: after a centered SGD step the hidden logits of the
    # constant image v = μ change exactly as the plain hidden-bias step says (the weight step's
    # effect on them is undone), and so do the visible logits of interior pixels at h = λ.
    torch.manual_seed(0)
    model = ConvRBM(2, 3, 3, pool_size=pool_size)
    with torch.no_grad():
        model.weight.normal_(0, 0.5)
    v_data = (torch.rand(8, 2, 8, 8) < 0.3).float()
    v_neg = (torch.rand(6, 2, 8, 8) < 0.6).float()
    plain = _plain_grads(model, v_data, v_neg)
    mu, lam = torch.tensor([0.3, 0.1]), torch.tensor([0.2, 0.05, 0.4])
    Centering(mu, lam).apply(model, per_unit_activity(model, v_data),
                             num_positions=model.num_positions((2, 8, 8)), num_pixels=64)
    assert (model.weight.grad - plain["weight"]).abs().max() > 1e-4  # it did change W's step
    v_mu = mu.view(1, 2, 1, 1).expand(1, 2, 8, 8).contiguous()
    h_lam = lam.view(1, 3, 1, 1).expand(1, 3, 6, 6).contiguous()
    with torch.no_grad():
        before_h, before_v = model.hidden_logits(v_mu), model._visible_logits(h_lam)
        for p in model.parameters():
            p.sub_(0.1 * p.grad)
        after_h, after_v = model.hidden_logits(v_mu), model._visible_logits(h_lam)
    torch.testing.assert_close(after_h - before_h,
                               (-0.1 * plain["hidden_bias"]).view(1, 3, 1, 1).expand_as(after_h),
                               rtol=1e-4, atol=1e-5)
    interior = (after_v - before_v)[:, :, 2:-2, 2:-2]  # pixels every tap of every filter covers
    torch.testing.assert_close(interior, (-0.1 * plain["visible_bias"]).view(1, 2, 1, 1).expand_as(interior),
                               rtol=1e-4, atol=1e-5)


def test_offsets_follow_the_data():
    model = ConvRBM(1, 2, 3)
    x = torch.full((10, 1, 6, 6), 0.25)
    c = Centering.from_data(model, x, rate=0.5)
    torch.testing.assert_close(c.mu, torch.tensor([0.25]))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    c.apply(model, torch.tensor([1.0, 0.0]), num_positions=16, num_pixels=36)
    expected = 0.5 * per_unit_activity(model, x) + 0.5 * torch.tensor([1.0, 0.0])
    torch.testing.assert_close(c.lam, expected)
    with pytest.raises(ValueError, match="rate"):
        Centering(torch.zeros(1), torch.zeros(2), rate=0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centering_removes_the_mean_patch_push_in_pretraining(seed):
    # Plain CD-1 on digits (mean pixel 0.3) grows every filter's DC component (the sum of its
    # taps) from a random start: the common mean-patch direction. Centered gradients leave it
    # small (measured: |sum| 6-21 plain vs 2.6-3.8 centered over seeds 0-2).
    x = imagedata.load_dataset("digits").x_train[:512]
    dc = {}
    for centering in (False, True):
        torch.manual_seed(seed)
        model = ConvRBM(1, 6, 3)
        model.init_visible_bias(x)
        config = PretrainConfig(epochs=3, batch_size=16, lr=0.5, seed=seed, sparsity_target=0.05,
                                sparsity_rate=5, hidden_bias_init=-3, init_filter_norm=6.0,
                                centering=centering)
        pretrain_layer(model, x, sampling.make_sampler("cd", seed=seed), config)
        dc[centering] = float(model.weight.detach().sum(dim=(1, 2, 3)).abs().mean())
    assert dc[True] < 0.5 * dc[False], dc


def test_dense_layer_on_image_shaped_data():
    # a dense layer above a conv layer gets (N, C, H, W) inputs and flattens them: so do its offsets
    from rbm import BernoulliRBM

    x = (torch.rand(64, 2, 3, 3, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    model = BernoulliRBM(18, 4)
    assert Centering.from_data(model, x).mu.shape == (18,)
    history = pretrain_layer(model, x, sampling.make_sampler("cd", seed=0),
                             PretrainConfig(epochs=1, batch_size=16, centering=True))
    assert len(history) == 1 and torch.isfinite(model.weight).all()


def test_resuming_a_run_recorded_before_centering_keeps_its_recipe(tmp_path):
    # config.toml of a run made before --centering / --pretrain-batch-size existed: --resume must
    # continue it as it ran (plain gradients, pretraining batch = its --batch-size), while a fresh
    # run from the same file as --config gets today's defaults
    import train

    (tmp_path / "config.toml").write_text('dataset = "digits"\nbatch_size = 128\nlr_pretrain = 0.1\n')
    resumed = train.parse_args(["--resume", str(tmp_path)])
    assert resumed.centering is False and resumed.pretrain_batch_size == 128
    fresh = train.parse_args(["--config", str(tmp_path / "config.toml")])
    assert fresh.centering is True and fresh.pretrain_batch_size == 16
    # a recorded value always wins
    (tmp_path / "config.toml").write_text('dataset = "digits"\ncentering = true\npretrain_batch_size = 32\n')
    resumed = train.parse_args(["--resume", str(tmp_path)])
    assert resumed.centering is True and resumed.pretrain_batch_size == 32
