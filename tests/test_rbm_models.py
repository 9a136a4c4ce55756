"""BernoulliRBM and ConvRBM against brute-force enumeration at tiny sizes."""

import itertools
import math

import pytest
import torch

from rbm import BernoulliRBM, ConvRBM, visible_bias_from_data


# ---------------------------------------------------------------- independent reference code
def all_binary(shape):
    n = math.prod(shape)
    bits = (torch.arange(2**n).unsqueeze(1) >> torch.arange(n - 1, -1, -1)) & 1
    return bits.to(torch.float64).reshape(-1, *shape)


def valid_pooled(hidden, pool):
    """All binary (K, Ho, Wo) maps with at most one unit on per pool×pool block (loops)."""
    k, ho, wo = hidden
    blocks = [(f, bi, bj) for f in range(k) for bi in range(ho // pool) for bj in range(wo // pool)]
    choices = range(pool * pool + 1)  # pool*pool = all off
    out = []
    for combo in itertools.product(choices, repeat=len(blocks)):
        h = torch.zeros(hidden, dtype=torch.float64)
        for (f, bi, bj), s in zip(blocks, combo, strict=True):
            if s < pool * pool:
                h[f, bi * pool + s // pool, bj * pool + s % pool] = 1.0
        out.append(h)
    return torch.stack(out)


def conv_energy_loops(model, v, h):
    """E(v, h) of one (C, H, W) / (K, Ho, Wo) pair by explicit sums (Lee et al. 2009)."""
    w = model.weight.detach().double().numpy()
    bv = model.visible_bias.detach().double().numpy()
    bh = model.hidden_bias.detach().double().numpy()
    v, h = v.numpy(), h.numpy()
    k_, _, ks, _ = w.shape
    e = -float((bv[:, None, None] * v).sum()) - float((bh[:, None, None] * h).sum())
    for k in range(k_):
        for i in range(h.shape[1]):
            for j in range(h.shape[2]):
                e -= h[k, i, j] * float((w[k] * v[:, i:i + ks, j:j + ks]).sum())
    return e


def randomise(model, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def dense_model():
    return randomise(BernoulliRBM(5, 3).double(), seed=1)


def conv_model(pool=None):
    return randomise(ConvRBM(1, 2, 2, pool_size=pool).double(), scale=0.8, seed=2)


CONV_CASES = [(None, (1, 3, 3)), (None, (1, 4, 4)), (2, (1, 3, 5))]


# ---------------------------------------------------------------- energies
def test_dense_energy_matches_formula():
    m = dense_model()
    v = all_binary((5,))[::3]
    h = torch.bernoulli(torch.full((v.shape[0], 3), 0.5, dtype=torch.float64))
    expected = -(v @ m.visible_bias) - (h @ m.hidden_bias) - ((v @ m.weight) * h).sum(1)
    torch.testing.assert_close(m.energy(v, h), expected)


@pytest.mark.parametrize("pool,shape", CONV_CASES)
def test_conv_energy_matches_loops(pool, shape):
    m = conv_model(pool)
    g = torch.Generator().manual_seed(3)
    v = torch.bernoulli(torch.full((6, *shape), 0.5, dtype=torch.float64), generator=g)
    h = m.sample_h_given_v(v, generator=g)
    expected = torch.tensor([conv_energy_loops(m, v[i], h[i]) for i in range(6)],
                            dtype=torch.float64)
    torch.testing.assert_close(m.energy(v, h), expected)


def test_conv_two_channels_energy_and_shapes():
    m = randomise(ConvRBM(2, 3, 2).double(), seed=4)
    v = torch.bernoulli(torch.full((4, 2, 3, 4), 0.5, dtype=torch.float64))
    h = torch.bernoulli(torch.full((4, 3, 2, 3), 0.5, dtype=torch.float64))
    expected = torch.tensor([conv_energy_loops(m, v[i], h[i]) for i in range(4)],
                            dtype=torch.float64)
    torch.testing.assert_close(m.energy(v, h), expected)
    assert m.hidden_shape((2, 3, 4)) == (3, 2, 3)
    assert m.num_positions((2, 3, 4)) == 6
    assert m.visible_logits(h).shape == (4, 2, 3, 4)


# ---------------------------------------------------------------- free energies, conditionals
def hidden_configs(model, shape):
    if isinstance(model, BernoulliRBM):
        return all_binary((model.n_hidden,))
    hs = model.hidden_shape(shape)
    return valid_pooled(hs, model.pool_size) if model.pool_size else all_binary(hs)


CASES = [("dense", None, (5,))] + [("conv", pool, shape) for pool, shape in CONV_CASES]


@pytest.mark.parametrize("kind,pool,shape", CASES, ids=[f"{k}-p{p}-{s}" for k, p, s in CASES])
def test_free_energy_and_conditionals_by_enumeration(kind, pool, shape):
    model = dense_model() if kind == "dense" else conv_model(pool)
    hs = hidden_configs(model, shape)
    g = torch.Generator().manual_seed(5)
    v = torch.bernoulli(torch.full((3, *shape), 0.5, dtype=torch.float64), generator=g)
    n_h = hs.shape[0]
    vv = v.repeat_interleave(n_h, 0)
    hh = hs.repeat(v.shape[0], *([1] * (hs.ndim - 1)))
    energies = model.energy(vv, hh).reshape(v.shape[0], n_h)
    for beta in (1.0, 0.6, 1.7):
        f_ref = -torch.logsumexp(-beta * energies, 1) / beta
        torch.testing.assert_close(model.free_energy(v, beta=beta), f_ref)
        weights = torch.softmax(-beta * energies, 1)  # p_β(h | v), (B, n_h)
        p_ref = torch.einsum("bn,n...->b...", weights, hs)
        torch.testing.assert_close(model.p_h_given_v(v, beta=beta), p_ref)
    # visible conditionals: p(v | h) by enumerating v for one h
    vs = all_binary(shape)
    h0 = hs[min(3, n_h - 1)].unsqueeze(0)
    for beta in (1.0, 0.5):
        e = model.energy(vs, h0.expand(vs.shape[0], *h0.shape[1:]))
        p = torch.softmax(-beta * e, 0)
        p_ref = torch.einsum("n,n...->...", p, vs.reshape(vs.shape[0], -1))
        torch.testing.assert_close(model.p_v_given_h(h0, beta=beta).reshape(-1), p_ref)
        # hidden free energy: -1/β log Σ_v exp(-β E)
        torch.testing.assert_close(model.hidden_free_energy(h0, beta=beta),
                                   -torch.logsumexp(-beta * e, 0, keepdim=True) / beta)


def test_pooling_block_probabilities_and_pooled_outputs():
    m = conv_model(pool=2)
    v = torch.bernoulli(torch.full((3, 1, 3, 5), 0.5, dtype=torch.float64))
    for beta in (1.0, 2.5):
        logits = m.hidden_logits(v)  # (3, 2, 2, 4): two blocks per filter
        p = m.p_h_given_v(v, beta=beta)
        block = logits[:, :, 0:2, 2:4].reshape(3, 2, 4)
        ref = torch.softmax(torch.cat([beta * block, torch.zeros(3, 2, 1, dtype=block.dtype)], -1), -1)
        torch.testing.assert_close(p[:, :, 0:2, 2:4].reshape(3, 2, 4), ref[..., :4])
        pool_ref = 1 - ref[..., 4]
        torch.testing.assert_close(m.p_pool_given_v(v, beta=beta)[:, :, 0, 1], pool_ref)
        torch.testing.assert_close(m.pool(p), m.p_pool_given_v(v, beta=beta))
    assert m.transform(v).shape == (3, 2, 1, 2)
    assert m.pooled_shape((1, 3, 5)) == (2, 1, 2)


def test_pooled_sampling_frequencies_match_block_softmax():
    m = conv_model(pool=2)
    with torch.no_grad():
        m.hidden_bias.copy_(torch.tensor([0.3, -1.0]))
    v = torch.bernoulli(torch.full((1, 1, 3, 5), 0.5, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(0))
    n = 20000
    vv = v.expand(n, -1, -1, -1)
    for beta in (1.0, 0.5):
        h = m.sample_h_given_v(vv, beta=beta, generator=torch.Generator().manual_seed(7))
        blocks = h.reshape(n, 2, 1, 2, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, 2, 2, 4)
        assert set(blocks.sum(-1).unique().tolist()) <= {0.0, 1.0}  # at most one on per block
        freq = torch.cat([blocks, 1 - blocks.sum(-1, keepdim=True)], -1).mean(0)
        logits = m.hidden_logits(v)[0]
        lb = logits.reshape(2, 1, 2, 2, 2).permute(0, 1, 3, 2, 4).reshape(2, 2, 4)
        ref = torch.softmax(torch.cat([beta * lb, torch.zeros(2, 2, 1, dtype=lb.dtype)], -1), -1)
        tol = 5 * torch.sqrt(ref * (1 - ref) / n) + 1e-4
        assert torch.all((freq - ref).abs() <= tol), (freq, ref)


def test_sampling_is_reproducible_and_binary():
    for m, v in ((dense_model(), torch.rand(8, 5, dtype=torch.float64)),
                 (conv_model(2), torch.rand(8, 1, 3, 5, dtype=torch.float64))):
        a = m.sample_h_given_v(v, generator=torch.Generator().manual_seed(1))
        b = m.sample_h_given_v(v, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, b)
        assert set(a.unique().tolist()) <= {0.0, 1.0}
        x = m.sample_v_given_h(a, beta=0.3, generator=torch.Generator().manual_seed(2))
        assert x.shape == v.shape and set(x.unique().tolist()) <= {0.0, 1.0}


def test_dense_sampling_frequencies():
    m = dense_model()
    v = torch.tensor([[1.0, 0, 1, 1, 0]], dtype=torch.float64).expand(20000, -1)
    h = m.sample_h_given_v(v, beta=0.7, generator=torch.Generator().manual_seed(3))
    p = m.p_h_given_v(v[:1], beta=0.7)[0]
    assert torch.all((h.mean(0) - p).abs() < 5 * torch.sqrt(p * (1 - p) / 20000) + 1e-4)


# ---------------------------------------------------------------- gradients
def test_dense_free_energy_gradient_is_the_correlation_difference():
    m = dense_model()
    g = torch.Generator().manual_seed(0)
    vd = torch.bernoulli(torch.full((7, 5), 0.6, dtype=torch.float64), generator=g)
    vm = torch.bernoulli(torch.full((9, 5), 0.4, dtype=torch.float64), generator=g)
    loss = m.free_energy(vd).mean() - m.free_energy(vm).mean()
    loss.backward()
    pd, pm = m.p_h_given_v(vd).detach(), m.p_h_given_v(vm).detach()
    torch.testing.assert_close(m.weight.grad, -(vd.T @ pd / 7 - vm.T @ pm / 9))
    torch.testing.assert_close(m.hidden_bias.grad, -(pd.mean(0) - pm.mean(0)))
    torch.testing.assert_close(m.visible_bias.grad, -(vd.mean(0) - vm.mean(0)))


@pytest.mark.parametrize("pool", [None, 2])
def test_conv_free_energy_gradient_is_the_conv_correlation_difference(pool):
    m = randomise(ConvRBM(2, 3, 2, pool_size=pool).double(), scale=0.5, seed=8)
    g = torch.Generator().manual_seed(0)
    vd = torch.bernoulli(torch.full((4, 2, 5, 5), 0.6, dtype=torch.float64), generator=g)
    vm = torch.bernoulli(torch.full((3, 2, 3, 3), 0.4, dtype=torch.float64), generator=g)  # smaller canvas

    def corr(v):  # Σ_positions p_h[k, i, j] v[c, i + a, j + b], mean over batch (loops)
        p = m.p_h_given_v(v).detach()
        out = torch.zeros_like(m.weight)
        for a in range(2):
            for b in range(2):
                patch = v[:, :, a:a + p.shape[2], b:b + p.shape[3]]
                out[:, :, a, b] = torch.einsum("nkij,ncij->kc", p, patch) / v.shape[0]
        return out, p.sum((2, 3)).mean(0)

    loss = m.free_energy(vd).mean() - m.free_energy(vm).mean()
    loss.backward()
    (cd, hd), (cm, hm) = corr(vd), corr(vm)
    torch.testing.assert_close(m.weight.grad, -(cd - cm))
    torch.testing.assert_close(m.hidden_bias.grad, -(hd - hm))
    torch.testing.assert_close(m.visible_bias.grad,
                               -(vd.sum((2, 3)).mean(0) - vm.sum((2, 3)).mean(0)))


# ---------------------------------------------------------------- sparsity, init, misc
def test_sparsity_penalty_form_and_gradient():
    m = conv_model(pool=2)
    v = torch.rand(4, 1, 3, 5, dtype=torch.float64)
    pen = m.sparsity_penalty(v, target=0.05, strength=2.0)
    q = m.p_h_given_v(v).mean((0, 2, 3))
    torch.testing.assert_close(pen, 2.0 * ((0.05 - q) ** 2).sum())
    pen.backward()
    assert m.weight.grad is not None and m.hidden_bias.grad.abs().sum() > 0
    m.zero_grad()
    m.sparsity_penalty(v, 0.05, bias_only=True).backward()
    assert m.weight.grad is None or m.weight.grad.abs().sum() == 0
    assert m.hidden_bias.grad.abs().sum() > 0
    d = dense_model()
    x = torch.rand(6, 5, dtype=torch.float64)
    torch.testing.assert_close(d.sparsity_penalty(x, 0.1), ((0.1 - d.p_h_given_v(x).mean(0)) ** 2).sum())
    with pytest.raises(ValueError, match="target"):
        d.sparsity_penalty(x, 1.5)


def test_init_and_visible_bias_from_data():
    torch.manual_seed(0)
    m = BernoulliRBM(400, 300)
    assert abs(m.weight.std().item() - 0.01) < 0.001 and m.hidden_bias.abs().sum() == 0
    x = torch.zeros(10, 1, 20, 20)
    x[:5, 0, 0, 0] = 1
    m.init_visible_bias(x)
    assert m.visible_bias[0].item() == pytest.approx(0.0, abs=1e-6)
    assert m.visible_bias[1].item() == pytest.approx(math.log(1e-3 / (1 - 1e-3)), rel=1e-4)
    c = ConvRBM(2, 4, 3)
    x = torch.zeros(4, 2, 5, 5)
    x[:, 1] = 1
    x[0, 0, :, :] = 1
    c.init_visible_bias(x)
    torch.testing.assert_close(c.visible_bias, visible_bias_from_data(x, per_channel=True))
    assert c.visible_bias[0].item() == pytest.approx(math.log(0.25 / 0.75), rel=1e-5)
    assert c.visible_bias[1].item() > 6


def test_dense_accepts_images_and_transform():
    m = BernoulliRBM(16, 3)
    img = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(m.p_h_given_v(img), m.p_h_given_v(img.reshape(2, 16)))
    torch.testing.assert_close(m.free_energy(img), m.free_energy(img.reshape(2, 16)))
    assert m.transform(img).shape == (2, 3) and m.visible_logits(torch.rand(2, 3)).shape == (2, 16)
    assert m.hidden_shape((1, 4, 4)) == (3,) and m.num_positions((16,)) == 1


def test_dtype_is_taken_from_the_model():
    m = BernoulliRBM(4, 2)
    assert m.free_energy(torch.ones(3, 4, dtype=torch.float64)).dtype == torch.float32
    assert m.p_h_given_v(torch.ones(3, 4, dtype=torch.bool)).shape == (3, 2)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("v,match", [
    (torch.zeros(64, 28, 28), r"expected v of shape \(N, 1, H, W\).*got \(64, 28, 28\)"),
    (torch.zeros(2, 3, 28, 28), r"expected v of shape \(N, 1, H, W\).*got \(2, 3, 28, 28\)"),
    (torch.zeros(2, 1, 4, 4), r"H, W >= 5.*got \(2, 1, 4, 4\)"),
    (torch.zeros(2, 1, 28, 27), r"divisible by pool size 2.*got \(2, 1, 28, 27\)"),
    (torch.full((2, 1, 28, 28), float("nan")), r"values in \[0, 1\], got values in NaN or Inf"),
    (torch.full((2, 1, 28, 28), 2.0), r"values in \[0, 1\], got values in \[2, 2\]"),
])
def test_conv_bad_inputs(v, match):
    m = ConvRBM(1, 3, 5, pool_size=2)
    with pytest.raises(ValueError, match=match):
        m.p_h_given_v(v)


def test_dense_and_hidden_bad_inputs():
    m = BernoulliRBM(64, 8)
    with pytest.raises(ValueError, match=r"expected v of shape \(N, 64\) .* got \(10, 8, 8\)"):
        m.free_energy(torch.zeros(10, 8, 8))
    with pytest.raises(ValueError, match=r"got values in \[-1, -1\]"):
        m.free_energy(-torch.ones(10, 64))
    with pytest.raises(ValueError, match=r"expected h of shape \(N, 8\), got \(10, 9\)"):
        m.p_v_given_h(torch.zeros(10, 9))
    with pytest.raises(ValueError, match="NaN or Inf"):
        m.p_v_given_h(torch.full((1, 8), float("inf")))
    with pytest.raises(ValueError, match=r"expected h of shape \(3, 8\)"):
        m.energy(torch.zeros(3, 64), torch.zeros(2, 8))
    c = ConvRBM(1, 2, 3)
    with pytest.raises(ValueError, match=r"expected h of shape \(2, 2, 3, 3\) to match v"):
        c.energy(torch.zeros(2, 1, 5, 5), torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"expected h of shape \(N, 2, H', W'\)"):
        c.p_v_given_h(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="pool_size"):
        c.pool(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="positive int"):
        ConvRBM(1, 0, 3)
    with pytest.raises(ValueError, match="positive int"):
        BernoulliRBM(3, 2.5)


def test_value_checks_can_be_switched_off():
    from rbm import set_validate_values

    m = BernoulliRBM(4, 2)
    previous = set_validate_values(False)
    try:
        assert m.free_energy(torch.full((1, 4), 2.0)).shape == (1,)
        with pytest.raises(ValueError, match="shape"):  # shape checks stay
            m.free_energy(torch.zeros(1, 5))
    finally:
        set_validate_values(previous)


def test_no_numpy_in_hot_paths():
    """The per-batch methods never leave torch (they must run on CUDA tensors unchanged)."""
    import inspect

    import rbm.base
    import rbm.conv
    import rbm.dense

    for mod in (rbm.base, rbm.conv, rbm.dense):
        src = inspect.getsource(mod).split("def to_qm")[0]
        assert ".numpy()" not in src, mod.__name__
