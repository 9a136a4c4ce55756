"""Exact log Z / log-likelihood, AIS, reconstruction error and pseudo-likelihood."""

import math

import numpy as np
import pytest
import torch

from rbm import (
    BernoulliRBM,
    ConvRBM,
    ais_log_partition,
    exact_log_likelihood,
    exact_log_partition,
    pseudo_likelihood,
    reconstruction_error,
)


def randomise(model, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def all_binary(shape):
    n = math.prod(shape)
    bits = (torch.arange(2**n).unsqueeze(1) >> torch.arange(n - 1, -1, -1)) & 1
    return bits.to(torch.float64).reshape(-1, *shape)


def valid_hidden(model, canvas):
    hs = all_binary(model.hidden_shape(canvas))
    if getattr(model, "pool_size", None):
        c, (k, ho, wo) = model.pool_size, model.hidden_shape(canvas)
        per_block = hs.reshape(-1, k, ho // c, c, wo // c, c).sum((3, 5))
        hs = hs[(per_block <= 1).flatten(1).all(1)]
    return hs


@torch.no_grad()
def joint_log_probs(model, canvas):
    """log p(v) for every v, by brute force over all (v, valid h) pairs."""
    vs, hs = all_binary(canvas), valid_hidden(model, canvas)
    vv = vs.repeat_interleave(len(hs), 0)
    hh = hs.repeat(len(vs), *([1] * (hs.ndim - 1)))
    log_joint = (-model.energy(vv, hh)).reshape(len(vs), len(hs))
    log_pv = torch.logsumexp(log_joint, 1)
    return vs, log_pv - torch.logsumexp(log_pv, 0)


SMALL = [
    ("dense", lambda: randomise(BernoulliRBM(5, 3).double(), seed=1), (5,)),
    ("conv", lambda: randomise(ConvRBM(1, 2, 2).double(), seed=2), (1, 3, 3)),
    ("conv-pool", lambda: randomise(ConvRBM(1, 2, 2, pool_size=2).double(), seed=3), (1, 3, 3)),
]


@pytest.mark.parametrize("name,make,canvas", SMALL, ids=[s[0] for s in SMALL])
def test_exact_log_partition_equals_joint_brute_force(name, make, canvas):
    model = make()
    vs, hs = all_binary(canvas), valid_hidden(model, canvas)
    vv = vs.repeat_interleave(len(hs), 0)
    hh = hs.repeat(len(vs), *([1] * (hs.ndim - 1)))
    ref = torch.logsumexp(-model.energy(vv, hh), 0)
    for side in ("auto", "visible", "hidden"):
        torch.testing.assert_close(exact_log_partition(model, canvas, side=side), ref)
    # log-likelihood and pseudo-likelihood against the brute-force p(v)
    vs, log_pv = joint_log_probs(model, canvas)
    data = vs[::3]
    torch.testing.assert_close(exact_log_likelihood(model, data), log_pv[::3].mean())
    flat = vs.reshape(len(vs), -1)
    n = flat.shape[1]
    index = {tuple(row.tolist()): i for i, row in enumerate(flat)}
    pl = 0.0
    for row in flat[::3]:
        i = index[tuple(row.tolist())]
        for bit in range(n):
            other = row.clone()
            other[bit] = 1 - other[bit]
            j = index[tuple(other.tolist())]
            pl += float(log_pv[i] - torch.logaddexp(log_pv[i], log_pv[j]))
    assert pseudo_likelihood(model, data).item() == pytest.approx(pl / len(data), rel=1e-9)


@pytest.mark.parametrize("pool,canvas", [(None, (1, 4, 4)), (2, (1, 3, 5))])
def test_exact_log_partition_sides_agree(pool, canvas):
    model = randomise(ConvRBM(1, 2, 2, pool_size=pool).double(), seed=4, scale=0.7)
    a = exact_log_partition(model, canvas, side="visible")
    b = exact_log_partition(model, canvas, side="hidden")
    torch.testing.assert_close(a, b)
    model.visible_shape = canvas
    torch.testing.assert_close(exact_log_partition(model), a)


def test_exact_log_partition_refuses_large_models_and_bad_args():
    with pytest.raises(ValueError, match="max_states"):
        exact_log_partition(BernoulliRBM(30, 30))
    with pytest.raises(ValueError, match="max_states=1000"):
        exact_log_partition(BernoulliRBM(12, 12), max_states=1000)
    with pytest.raises(ValueError, match="visible_shape"):
        exact_log_partition(ConvRBM(1, 2, 2))
    with pytest.raises(ValueError, match="side"):
        exact_log_partition(BernoulliRBM(3, 2), side="both")


def test_exact_nll_gradient_is_data_minus_model_correlation():
    model = randomise(BernoulliRBM(5, 3).double(), seed=6)
    vs, log_pv = joint_log_probs(model, (5,))
    data = vs[[1, 4, 9, 30]]
    nll = -exact_log_likelihood(model, data)
    nll.backward()
    p_v = log_pv.exp().detach()
    model_corr = torch.einsum("n,ni,nj->ij", p_v, vs, model.p_h_given_v(vs).detach())
    data_corr = data.T @ model.p_h_given_v(data).detach() / len(data)
    torch.testing.assert_close(model.weight.grad, -(data_corr - model_corr))


def test_reconstruction_error_is_one_mean_field_pass():
    model = randomise(ConvRBM(2, 3, 2, pool_size=2).double(), seed=7)
    v = torch.rand(4, 2, 5, 5, dtype=torch.float64)
    expected = ((v - model.p_v_given_h(model.p_h_given_v(v))) ** 2).mean()
    torch.testing.assert_close(reconstruction_error(model, v), expected)
    dense = BernoulliRBM(16, 3)
    img = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(reconstruction_error(dense, img),
                               reconstruction_error(dense, img.reshape(2, 16)))


def test_pseudo_likelihood_is_chunk_independent_and_needs_binary():
    model = randomise(ConvRBM(1, 2, 3, pool_size=2).float(), seed=8, scale=0.5)
    v = torch.bernoulli(torch.full((6, 1, 6, 6), 0.4), generator=torch.Generator().manual_seed(0))
    a = pseudo_likelihood(model, v)
    b = pseudo_likelihood(model, v, max_elements=6 * 36 * 5)  # 5 bits per chunk
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="binary"):
        pseudo_likelihood(model, torch.full((1, 1, 6, 6), 0.5))


def test_ais_on_a_tiny_pooled_conv_model():
    model = randomise(ConvRBM(1, 2, 2, pool_size=2).double(), seed=9)
    canvas = (1, 3, 5)
    exact = exact_log_partition(model, canvas).item()
    r = ais_log_partition(model, canvas, num_chains=50, num_betas=300, runs=4,
                          generator=torch.Generator().manual_seed(0))
    assert abs(r.log_z - exact) < max(0.05, 5 * r.std)
    assert r.run_log_z.shape == (4,) and r.log_weights.shape == (4, 50)


# ---------------------------------------------------------------- AIS on a trained RBM
@pytest.fixture(scope="module")
def digits_rbm():
    """A 64×16 RBM trained by CD-1 on binarised 8×8 digits (< 1 s)."""
    from sklearn.datasets import load_digits

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.tensor(load_digits().data / 16.0 > 0.5, dtype=torch.float32)
    torch.manual_seed(0)
    model = BernoulliRBM(64, 16)
    model.init_visible_bias(x)
    g = torch.Generator().manual_seed(0)
    lr, batch = 0.1, 32
    with torch.no_grad():
        for _ in range(20):
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x) - batch + 1, batch):
                vd = x[perm[i:i + batch]]
                pd = model.p_h_given_v(vd)
                vn = model.sample_v_given_h(torch.bernoulli(pd, generator=g), generator=g)
                pn = model.p_h_given_v(vn)
                model.weight += lr * (vd.T @ pd - vn.T @ pn) / batch
                model.visible_bias += lr * (vd - vn).mean(0)
                model.hidden_bias += lr * (pd - pn).mean(0)
    torch.set_num_threads(n_threads)
    return model, x


def test_trained_digits_rbm_learned_something(digits_rbm):
    model, x = digits_rbm
    with torch.no_grad():
        ll = exact_log_likelihood(model, x).item()
        untrained = BernoulliRBM(64, 16)
        untrained.init_visible_bias(x)
        ll0 = exact_log_likelihood(untrained, x).item()
    assert ll > ll0 + 2.0 and ll > -21.0, (ll, ll0)
    assert model.weight.abs().max() > 1.0  # strongly coupled: a test AIS can fail


def test_ais_matches_exact_log_partition_on_trained_rbm(digits_rbm):
    model, x = digits_rbm
    exact = exact_log_partition(model).item()
    r = ais_log_partition(model, num_chains=100, num_betas=1000, runs=5, data=x,
                          generator=torch.Generator().manual_seed(1))
    assert abs(r.log_z - exact) < 0.1
    assert abs(r.log_z - exact) < 5 * r.std + 0.02
    assert r.log_z == pytest.approx(
        r.log_z_base + float(torch.logsumexp(r.log_weights.flatten(), 0)) - math.log(500))
    # without data (uniform base) it still works, with more spread
    r0 = ais_log_partition(model, num_chains=100, num_betas=1000, runs=2,
                           generator=torch.Generator().manual_seed(2))
    assert abs(r0.log_z - exact) < 0.3


def test_ais_reported_std_is_honest(digits_rbm):
    """The spread of independent AIS calls matches their reported std (a factor 2 would fail)."""
    model, x = digits_rbm
    exact = exact_log_partition(model).item()
    g = torch.Generator().manual_seed(123)
    results = [ais_log_partition(model, num_chains=25, num_betas=150, runs=8, data=x, generator=g)
               for _ in range(16)]
    est = np.array([r.log_z for r in results])
    std = np.array([r.std for r in results])
    ratio = est.std(ddof=1) / np.sqrt(np.mean(std**2))
    print(f"AIS spread / reported std = {ratio:.3f}, mean z² = {np.mean(((est - exact) / std) ** 2):.3f}")
    assert 0.6 < ratio < 1.6, (ratio, est, std)
    z = (est - exact) / std
    assert np.mean(z**2) < 3.0, z
    # the per-run spread is std * sqrt(runs)
    r = results[0]
    assert r.std == pytest.approx(float(r.run_log_z.std()) / math.sqrt(8))


def test_ais_bad_arguments():
    m = BernoulliRBM(4, 2)
    with pytest.raises(ValueError, match="num_betas"):
        ais_log_partition(m, num_betas=1)
    with pytest.raises(ValueError, match="betas"):
        ais_log_partition(m, betas=[0.0, 0.5])
    with pytest.raises(ValueError, match="path"):
        ais_log_partition(m, path="cosine")
    r = ais_log_partition(m, betas=[0.0, 0.5, 1.0], num_chains=10, runs=1,
                          generator=torch.Generator().manual_seed(0))
    assert math.isfinite(r.log_z) and math.isfinite(r.std)
    c = ConvRBM(1, 2, 2, visible_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 1, 4, 4\)"):
        ais_log_partition(c, data=torch.zeros(3, 1, 5, 5), num_betas=3)


# ---------------------------------------------------------------- AIS on a trained pooled conv RBM
class _DataGibbs:
    """CD-1 written inline (tests of rbm/ do not import sampling/)."""

    beta, last_info = 1.0, {}

    def __init__(self):
        self.g = torch.Generator().manual_seed(0)

    def sample(self, model, v):
        h = model.sample_h_given_v(v, generator=self.g)
        v = model.sample_v_given_h(h, generator=self.g)
        return v, model.sample_h_given_v(v, generator=self.g)


@pytest.fixture(scope="module")
def digits_conv_rbm():
    """A pooled conv RBM (2 filters 2x2, pool 2) trained by CD-1 on 5x5 crops of binarised digits:
    25 visible units, 8 pooling blocks (5^8 hidden states: exact log Z by enumeration)."""
    from sklearn.datasets import load_digits

    from rbm.pretrain import PretrainConfig, pretrain_layer

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.tensor(load_digits().data / 16.0 > 0.4, dtype=torch.float64).reshape(-1, 1, 8, 8)
    x = x[:, :, 1:6, 1:6].contiguous()
    torch.manual_seed(0)
    model = ConvRBM(1, 2, 2, pool_size=2).double()
    model.init_visible_bias(x)
    pretrain_layer(model, x, _DataGibbs(), PretrainConfig(epochs=10, lr=0.5, exact_ll_max_units=0))
    torch.set_num_threads(n_threads)
    return model, x


def test_ais_matches_exact_log_partition_on_trained_pooled_conv_rbm(digits_conv_rbm):
    """AIS on a 5x5 canvas agrees with enumeration within 0.1 nats; a 15 % error in β (every
    parameter x 1.15) moves log Z by 0.43 nats, so AIS run at a wrong β would fail the test."""
    from rbm import ais_log_likelihood

    model, x = digits_conv_rbm
    assert model.weight.abs().max() > 2.0  # strongly coupled: a test AIS can fail
    exact = exact_log_partition(model, (1, 5, 5)).item()
    r = ais_log_partition(model, (1, 5, 5), num_chains=50, num_betas=300, runs=4, data=x,
                          generator=torch.Generator().manual_seed(1))
    assert abs(r.log_z - exact) < min(0.1, 5 * r.std + 0.02), (r.log_z, exact, r.std)
    with torch.no_grad():
        hot = ConvRBM(1, 2, 2, pool_size=2).double()
        hot.load_state_dict(model.state_dict())
        hot.weight.mul_(1.15)
        hot.hidden_bias.mul_(1.15)
        hot.visible_bias.mul_(1.15)
    assert abs(exact_log_partition(hot, (1, 5, 5)).item() - r.log_z) > 0.3
    ll, err = ais_log_likelihood(model, x[:500], num_chains=50, num_betas=300, runs=4,
                                 data=x, generator=torch.Generator().manual_seed(2))
    exact_ll = exact_log_likelihood(model, x[:500]).item()
    assert abs(ll - exact_ll) < min(0.1, 5 * err + 0.02), (ll, exact_ll, err)
