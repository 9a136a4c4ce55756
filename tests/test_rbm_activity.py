"""Hidden activity, filter diversity, Lee's sparsity step and the pretraining schedule knobs."""

import math

import pytest
import torch

from rbm import BernoulliRBM, ConvRBM, filter_diversity, hidden_activity, sparsity_bias_step
from rbm.activity import per_unit_activity
from rbm.pretrain import PretrainConfig, init_layer, pretrain_layer, scheduled_lr


class DataGibbs:
    """CD-1 written inline (tests of rbm/ do not import sampling/)."""

    beta, last_info = 1.0, {}

    def __init__(self, seed=0):
        self.g = torch.Generator().manual_seed(seed)

    def sample(self, model, v):
        h = model.sample_h_given_v(v, generator=self.g)
        v = model.sample_v_given_h(h, generator=self.g)
        return v, model.sample_h_given_v(v, generator=self.g)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().data[:400] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)


def test_hidden_activity_matches_the_probabilities():
    torch.manual_seed(0)
    model = ConvRBM(1, 3, 3, pool_size=2)
    with torch.no_grad():
        model.hidden_bias.copy_(torch.tensor([-3.0, 0.0, 2.0]))
    v = torch.rand(5, 1, 8, 8)
    act = hidden_activity(model, v)
    assert act["detection"] == pytest.approx(float(model.p_h_given_v(v).detach().mean()))
    assert act["pooled"] == pytest.approx(float(model.p_pool_given_v(v).detach().mean()))
    assert act["pooled"] > act["detection"]  # a block is on when any of its 4 units is
    q = per_unit_activity(model, v)
    assert q.shape == (3,) and q[0] < q[1] < q[2]
    dense = BernoulliRBM(6, 4)
    a = hidden_activity(dense, torch.rand(3, 6))
    assert a["detection"] == a["pooled"] == pytest.approx(0.5, abs=0.01)  # ~zero weights


@pytest.mark.parametrize("start_bias, target", [(0.0, 0.02), (-6.0, 0.2)])
def test_sparsity_step_moves_activity_toward_the_target(start_bias, target):
    torch.manual_seed(1)
    model = ConvRBM(1, 4, 3, pool_size=2)
    with torch.no_grad():
        model.weight.mul_(50)  # filters that respond to the data, so activity varies by filter
        model.hidden_bias.fill_(start_bias)
    v = (torch.rand(16, 1, 8, 8) < 0.3).float()
    q0 = per_unit_activity(model, v)
    for _ in range(100):
        sparsity_bias_step(model, v, target=target, rate=5.0)
    q1 = per_unit_activity(model, v)
    assert ((q1 - target).abs() < (q0 - target).abs()).all(), (q0, q1)
    assert ((q1 - target).abs() < 0.01).all(), q1  # converged: a fixed point at q = target


def test_sparsity_step_rejects_bad_values():
    model = BernoulliRBM(4, 2)
    with pytest.raises(ValueError, match="target"):
        sparsity_bias_step(model, torch.rand(2, 4), target=1.5, rate=1.0)
    with pytest.raises(ValueError, match="rate"):
        sparsity_bias_step(model, torch.rand(2, 4), target=0.1, rate=-1.0)


def test_filter_diversity_limits_and_random_filters():
    assert filter_diversity(torch.ones(4, 1, 3, 3)) == 1.0
    assert filter_diversity(-torch.ones(1, 1, 3, 3).repeat(2, 1, 1, 1).mul(torch.tensor(
        [1.0, -2.0]).view(2, 1, 1, 1))) == 1.0  # sign and scale do not count
    assert filter_diversity(torch.eye(9).reshape(9, 1, 3, 3)) == 0.0
    assert math.isnan(filter_diversity(torch.ones(1, 1, 3, 3)))
    # random Gaussian 5x5 filters: E|cos| = E|z|/sqrt(25) ≈ sqrt(2/π)/5 = 0.160 (z ~ N(0,1));
    # 64 filters give 2016 pairs, sd of the mean ≈ 0.12/sqrt(2016) ≈ 0.003.
    g = torch.Generator().manual_seed(0)
    d = filter_diversity(torch.randn(64, 1, 5, 5, generator=g))
    assert abs(d - math.sqrt(2 / math.pi) / 5) < 0.015, d
    dense = torch.randn(25, 64, generator=g)  # (n_visible, n_hidden): columns are the filters
    assert abs(filter_diversity(dense) - d) < 0.02


def test_pretrain_metrics_carry_activity_and_diversity(digits):
    model = ConvRBM(1, 4, 3, pool_size=2)
    model.init_visible_bias(digits)
    hist = pretrain_layer(model, digits[:128], DataGibbs(), PretrainConfig(epochs=1, lr=0.1))
    m = hist[-1]
    for key in ("hidden_activity", "pooled_activity", "filter_mean_abs_cos"):
        assert key in m and 0.0 <= m[key] <= 1.0, (key, m.get(key))
    assert m["filter_mean_abs_cos"] == filter_diversity(model.weight)
    assert m["hidden_activity"] == pytest.approx(hidden_activity(model, digits[:128])["detection"])


def test_pretraining_with_the_sparsity_rate_reaches_the_target(digits):
    """Lee's bias step holds the mean detection activity at the target while the weights learn;
    without it the same run ends far from it."""
    results = {}
    for rate in (0.0, 5.0):
        torch.manual_seed(0)
        model = ConvRBM(1, 6, 3, pool_size=2)
        model.init_visible_bias(digits)
        config = PretrainConfig(epochs=4, lr=0.1, batch_size=32, sparsity_target=0.03,
                                sparsity_rate=rate)
        results[rate] = pretrain_layer(model, digits, DataGibbs(), config)[-1]["hidden_activity"]
    assert abs(results[5.0] - 0.03) < 0.01, results
    assert abs(results[0.0] - 0.03) > 0.05, results


def test_lr_schedule_is_linear_and_ends_at_lr_final(digits):
    config = PretrainConfig(epochs=2, lr=0.2, lr_final=0.02)
    assert scheduled_lr(config, 0, 11) == pytest.approx(0.2)
    assert scheduled_lr(config, 5, 11) == pytest.approx(0.11)
    assert scheduled_lr(config, 10, 11) == pytest.approx(0.02)
    assert scheduled_lr(PretrainConfig(lr=0.3), 7, 11) == 0.3
    model = ConvRBM(1, 2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    pretrain_layer(model, digits[:100], DataGibbs(), config, optimizer=opt)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02)


def test_init_layer_sets_weights_and_hidden_bias():
    model = ConvRBM(3, 32, 5)
    init_layer(model, PretrainConfig(init_filter_norm=4.0, hidden_bias_init=-2.0, seed=3))
    norms = model.weight.detach().flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full((32,), 4.0), atol=1e-5)
    assert float(model.weight.detach().std()) == pytest.approx(4.0 / math.sqrt(75), rel=0.05)
    assert bool((model.hidden_bias == -2.0).all())
    dense = BernoulliRBM(10, 6)
    init_layer(dense, PretrainConfig(init_filter_norm=2.0, zero_mean_filters=True))
    assert dense.weight.detach().mean(0).abs().max() < 1e-6  # centred after the draw
    other = ConvRBM(3, 32, 5)
    init_layer(other, PretrainConfig(init_filter_norm=4.0, seed=4))
    assert not torch.equal(other.weight, model.weight)
    before = model.weight.clone()
    init_layer(model, PretrainConfig())  # None fields change nothing
    assert torch.equal(before, model.weight)


@pytest.mark.parametrize("field, value, match", [
    ("sparsity_rate", -1.0, "sparsity_rate"),
    ("sparsity_cost", -0.5, "sparsity_cost"),
    ("weight_decay", -1e-4, "weight_decay"),
    ("lr_final", -0.1, "final learning rate"),
    ("init_filter_norm", 0.0, "init_filter_norm"),
    ("hidden_bias_init", float("nan"), "hidden_bias_init"),
])
def test_pretrain_config_rejects_bad_values(field, value, match):
    kwargs = {field: value}
    if field == "sparsity_rate":
        kwargs["sparsity_target"] = 0.1
    with pytest.raises(ValueError, match=match):
        PretrainConfig(**kwargs)
    with pytest.raises(ValueError, match="sparsity_target"):
        PretrainConfig(sparsity_rate=1.0)


def test_zero_mean_filters_stay_zero_mean(digits):
    from rbm.pretrain import center_filters

    torch.manual_seed(0)
    model = ConvRBM(1, 4, 3, pool_size=2)
    model.init_visible_bias(digits)
    config = PretrainConfig(epochs=1, lr=0.1, zero_mean_filters=True, init_filter_norm=1.5)
    pretrain_layer(model, digits[:128], DataGibbs(), config)
    means = model.weight.detach().mean(dim=(1, 2, 3))
    assert means.abs().max() < 1e-6 and model.weight.detach().std() > 0.3
    free = ConvRBM(1, 4, 3, pool_size=2)  # without the projection CD moves the means
    free.init_visible_bias(digits)
    pretrain_layer(free, digits[:128], DataGibbs(), PretrainConfig(epochs=1, lr=0.1))
    assert free.weight.detach().mean(dim=(1, 2, 3)).abs().max() > 1e-3
    dense = BernoulliRBM(5, 3)
    with torch.no_grad():
        dense.weight.add_(torch.arange(3.0))
    center_filters(dense)
    assert dense.weight.detach().mean(0).abs().max() < 1e-6


def test_max_filter_norm_clips_only_long_filters(digits):
    from rbm.pretrain import clip_filter_norms

    model = ConvRBM(1, 3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2))
    clip_filter_norms(model, 3.0)  # norms 2, 4, 8 → 2, 3, 3
    norms = model.weight.detach().flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.tensor([2.0, 3.0, 3.0]))
    trained = ConvRBM(1, 4, 3, pool_size=2)
    trained.init_visible_bias(digits)
    config = PretrainConfig(epochs=1, lr=0.5, init_filter_norm=2.0, max_filter_norm=2.0)
    pretrain_layer(trained, digits[:128], DataGibbs(), config)
    assert trained.weight.detach().flatten(1).norm(dim=1).max() <= 2.0 + 1e-5
    with pytest.raises(ValueError, match="max_filter_norm"):
        PretrainConfig(max_filter_norm=0.0)
