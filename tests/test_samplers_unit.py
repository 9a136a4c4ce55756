"""Unit tests of the negative-phase samplers: registry, option checks, shapes and canvases,
persistent state round trips, SA column order, pooling repair, determinism."""

from __future__ import annotations

import dimod
import numpy as np
import pytest
import torch
from dwave.samplers import SimulatedAnnealingSampler

from rbm import BernoulliRBM, ConvRBM
from rbm.evaluate import _binary_configs, _pooled_configs
from sampling import available_samplers, make_sampler, register_sampler
from sampling.annealed import AnnealedGibbsSampler
from sampling.bqm import in_variable_order, pooling_violations, sampleset_to_array, spec_to_bqm
from sampling.enumeration import (
    MAX_STATES,
    enumerate_block_states,
    enumerate_states,
    exact_distribution,
)
from sampling.exact import ExactSampler, exact_marginal, hidden_blocks
from sampling.gibbs import GibbsSampler, start_from_data
from sampling.registry import _REGISTRY
from sampling.sa import SimulatedAnnealingNegativeSampler
from tests.models import seeded_dense_rbm

TORCH_BACKENDS = ("cd", "pcd", "annealed")
ALL_BACKENDS = ("cd", "pcd", "annealed", "sa", "exact")




dense_model = seeded_dense_rbm  # weights N(0, std²), biases N(0, 0.5²), seeded


def conv_model(filters=2, kernel=2, pool=None, std=1.0, seed=0, **kwargs) -> ConvRBM:
    gen = torch.Generator().manual_seed(seed)
    model = ConvRBM(1, filters, kernel, pool_size=pool, **kwargs)
    with torch.no_grad():
        model.weight.copy_(std * torch.randn(model.weight.shape, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(1, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(filters, generator=gen))
    return model


def binary(shape, seed=0) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.5).float()


# --------------------------------------------------------------------------- registry and options


def test_registry_names_and_types():
    assert {"cd", "pcd", "annealed", "sa", "neal", "exact"} <= set(available_samplers())
    assert isinstance(make_sampler("cd"), GibbsSampler) and not make_sampler("cd").persistent
    assert make_sampler("pcd").persistent
    assert isinstance(make_sampler("annealed"), AnnealedGibbsSampler)
    assert isinstance(make_sampler("neal"), SimulatedAnnealingNegativeSampler)
    assert isinstance(make_sampler("sa"), SimulatedAnnealingNegativeSampler)
    assert isinstance(make_sampler("exact"), ExactSampler)
    assert make_sampler("cd", num_sweeps=3).k == 3  # k / num_sweeps are aliases
    assert make_sampler("annealed", k=4).num_sweeps == 4


def test_registry_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown sampler 'gibs'; valid names: .*annealed.*cd"):
        make_sampler("gibs")
    with pytest.raises(ValueError, match=r"take option\(s\) sweeps; accepted: .*num_sweeps"):
        make_sampler("annealed", sweeps=3)
    with pytest.raises(ValueError, match="fixes persistent=False"):
        make_sampler("cd", persistent=True)
    with pytest.raises(ValueError, match="already registered"):
        register_sampler("cd", GibbsSampler)


def test_register_sampler_is_extensible():
    class Dummy:
        def __init__(self, *, beta=1.0, flavour="x"):
            self.beta, self.flavour = beta, flavour

    register_sampler("dummy-test", Dummy, aliases=("dummy-alias",), defaults={"flavour": "y"})
    try:
        assert make_sampler("dummy-alias", beta=2.0).flavour == "y"
        register_sampler("dummy-test", "sampling.gibbs:GibbsSampler", replace=True)
        assert isinstance(make_sampler("dummy-test", k=2), GibbsSampler)
    finally:
        _REGISTRY.pop("dummy-test", None)
        _REGISTRY.pop("dummy-alias", None)


@pytest.mark.parametrize("name", ALL_BACKENDS)
@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf"), "hot"])
def test_bad_beta_is_refused(name, beta):
    with pytest.raises(ValueError, match="beta must be a positive finite number"):
        make_sampler(name, beta=beta)


def test_bad_beta_set_later_is_refused_at_sample_time():
    sampler = make_sampler("cd")
    sampler.beta = -2.0
    with pytest.raises(ValueError, match="beta must be"):
        sampler.sample(dense_model(), binary((2, 10)))


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("cd", {"k": 0}, "k must be an integer >= 1"),
        ("pcd", {"k": 1.5}, "k must be an integer >= 1"),
        ("cd", {"k": 2, "num_sweeps": 3}, "aliases"),
        ("annealed", {"num_sweeps": 0}, "num_sweeps must be an integer >= 1"),
        ("sa", {"num_sweeps": -3}, "num_sweeps must be an integer >= 1"),
        ("annealed", {"schedule": "cosine"}, "unknown beta schedule 'cosine'"),
        ("annealed", {"schedule": [0.1, 0.5, 0.9]}, "must end at the target beta=1.0"),
        ("sa", {"schedule": [0.2, 1.0], "beta": 2.0}, "must end at the target beta=2.0"),
        ("annealed", {"num_chains": 0}, "num_chains must be an integer >= 1"),
        ("pcd", {"init": "zeros"}, "init must be 'data' or 'random'"),
        ("exact", {"side": "left"}, "side must be one of"),
        ("annealed", {"canvas": (1, 0, 4)}, "positive sizes"),
    ],
)
def test_bad_options_are_refused(name, options, message):
    with pytest.raises(ValueError, match=message):
        make_sampler(name, **options)


def test_schedules_run_and_end_at_beta():
    model = dense_model()
    for schedule, sweeps in (("fixed", 3), ("linear", 4), ("geometric", 5), ("quench", 2)):
        sampler = make_sampler("annealed", schedule=schedule, num_sweeps=sweeps, beta=2.0, seed=0)
        sampler.sample(model, binary((3, 10)))
        info = sampler.last_info
        assert info["sweeps"] == sweeps and info["schedule"][-1] == 2.0
    sampler = make_sampler("sa", schedule=[0.5, 1.0, 2.0], beta=2.0, seed=0)
    sampler.sample(model, binary((3, 10)))
    assert sampler.last_info["schedule"] == [0.5, 1.0, 2.0]
    sampler.beta = 3.0  # a custom schedule no longer ending at beta is caught at sample time
    with pytest.raises(ValueError, match="must end at the target beta=3.0"):
        sampler.sample(model, binary((3, 10)))


@pytest.mark.parametrize("name", TORCH_BACKENDS + ("sa",))
def test_bad_canvases_are_refused(name):
    conv = conv_model(kernel=3)
    pooled = conv_model(kernel=3, pool=2)
    data = binary((2, 1, 8, 8))
    with pytest.raises(ValueError, match="smaller than the model's 3x3 kernel"):
        make_sampler(name, canvas=(1, 2, 8)).sample(conv, data)
    with pytest.raises(ValueError, match="pooling does not divide"):
        make_sampler(name, canvas=(1, 7, 7)).sample(pooled, data)  # 5x5 hidden map, pool 2
    with pytest.raises(ValueError, match="channels"):
        make_sampler(name, canvas=(3, 8, 8)).sample(conv, data)
    with pytest.raises(ValueError, match="rank"):
        make_sampler(name, canvas=(64,)).sample(conv, data)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\), got \(2, 8, 8\)"):
        make_sampler(name).sample(conv, data[:, 0])
    with pytest.raises(ValueError, match=r"expected \(10,\)"):
        make_sampler(name, canvas=(12,)).sample(dense_model(), binary((2, 10)))


def test_cd_canvas_larger_than_data_is_refused_but_pcd_random_is_fine():
    model = conv_model(kernel=3)
    with pytest.raises(ValueError, match="no larger than the data"):
        make_sampler("cd", canvas=(1, 10, 10)).sample(model, binary((2, 1, 8, 8)))
    v, _ = make_sampler("pcd", canvas=(1, 10, 10), seed=0).sample(model, binary((2, 1, 8, 8)))
    assert v.shape == (2, 1, 10, 10)


def test_exact_refuses_large_models_with_the_limit():
    with pytest.raises(ValueError, match=r"hidden side has 2\^25.0 configurations .* limit"):
        make_sampler("exact").sample(dense_model(30, 25), binary((2, 30)))
    with pytest.raises(ValueError, match="max_states=2"):
        make_sampler("exact", max_states=16).sample(dense_model(10, 6), binary((2, 10)))


def test_one_state_order_for_every_enumerator():
    # sampling.enumeration owns the order (first unit most significant); sampling.exact lists its
    # states with it, and rbm.evaluate (which may not import sampling) enumerates the same way
    binary = enumerate_states(5)
    assert binary[1].tolist() == [0, 0, 0, 0, 1]
    np.testing.assert_array_equal(enumerate_block_states([[i] for i in range(5)], 5), binary)
    np.testing.assert_array_equal(_binary_configs(0, 32, 5, torch.zeros(1)).numpy(), binary)
    states, _, side = exact_marginal(dense_model(5, 9), side="visible")
    np.testing.assert_array_equal(states.numpy(), binary)
    pooled = conv_model(filters=2, kernel=2, pool=2)
    blocks = hidden_blocks(pooled, (1, 5, 5))
    hidden_shape = pooled.hidden_shape((1, 5, 5))
    listed = enumerate_block_states(blocks, int(np.prod(hidden_shape)))
    assert len(listed) == 5**8
    rbm_side = _pooled_configs(0, len(listed), pooled, hidden_shape, torch.zeros(1))
    np.testing.assert_array_equal(rbm_side.reshape(len(listed), -1).numpy(), listed)
    with pytest.raises(ValueError, match=f"above the limit max_states={MAX_STATES}"):
        enumerate_block_states([[i] for i in range(23)], 23)


def test_device_mismatch_is_refused():
    sampler = make_sampler("annealed", device="cuda:0")
    with pytest.raises(ValueError, match="model lives on cpu"):
        sampler.sample(dense_model(), binary((2, 10)))


# --------------------------------------------------------------------------- shapes and canvases


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_shapes_dense(name):
    model = dense_model()
    sampler = make_sampler(name, seed=0)
    v, h = sampler.sample(model, binary((7, 10)))
    assert v.shape == (7, 10) and h.shape == (7, 6)
    assert v.dtype == torch.float32 and set(v.unique().tolist()) <= {0.0, 1.0}
    info = sampler.last_info
    assert info["num_samples"] == 7 and info["seconds"] > 0 and "sweeps" in info
    v, h = make_sampler(name, seed=0, num_chains=11).sample(model, binary((7, 10)))
    assert v.shape == (11, 10) and h.shape == (11, 6)


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_shapes_conv_canvas(name):
    model = conv_model(kernel=2, pool=2)
    data = binary((4, 1, 7, 7))
    canvas = (1, 3, 5)
    v, h = make_sampler(name, seed=0, canvas=canvas, num_chains=6).sample(model, data)
    assert v.shape == (6, 1, 3, 5) and h.shape == (6, 2, 2, 4)
    blocks = h.reshape(6, 2, 1, 2, 2, 2).sum((3, 5))
    assert blocks.max() <= 1  # at most one detection unit on per pooling block
    if name != "exact":  # default canvas: the data shape
        v, h = make_sampler(name, seed=0).sample(model, data)
        assert v.shape == (4, 1, 7, 7) and h.shape == (4, 2, 6, 6)


def test_dense_model_on_image_data_returns_the_image_shape():
    model = dense_model(n_v=9)
    v, h = make_sampler("annealed", seed=0).sample(model, binary((3, 1, 3, 3)))
    assert v.shape == (3, 1, 3, 3) and h.shape == (3, 6)


def test_cd_starts_at_random_crops_of_the_data():
    data = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    crops = start_from_data(data, (1, 3, 4), 5, torch.Generator().manual_seed(0))
    assert crops.shape == (5, 1, 3, 4)
    for i, crop in enumerate(crops):
        image = data[i % 2, 0]
        y, x = divmod(int(crop[0, 0, 0]) - 36 * (i % 2), 6)  # values are unique: read the offset
        assert torch.equal(image[y : y + 3, x : x + 4], crop[0])


# --------------------------------------------------------------------------- state and determinism


@pytest.mark.parametrize(
    "name, options",
    [
        ("pcd", {"k": 2}),
        ("pcd", {"k": 1, "init": "random"}),
        ("annealed", {"num_sweeps": 3, "persistent": True}),
        ("sa", {"num_sweeps": 3, "persistent": True}),
    ],
)
def test_state_dict_round_trip(name, options):
    model = conv_model(kernel=2, pool=2)
    data = binary((5, 1, 5, 5))
    first = make_sampler(name, seed=3, **options)
    first.sample(model, data)
    state = first.state_dict()
    assert state["chains"] is not None and state["rng_state"] is not None
    expected = first.sample(model, data)

    second = make_sampler(name, seed=99, **options)  # another seed: the state must win
    second.load_state_dict(state)
    got = second.sample(model, data)
    assert torch.equal(expected[0], got[0]) and torch.equal(expected[1], got[1])
    assert second.last_info["reinitialised"] is False


def test_persistent_chains_carry_over_and_reinitialise_on_a_new_canvas():
    model = conv_model(kernel=2)
    data = binary((4, 1, 6, 6))
    sampler = make_sampler("pcd", k=1, seed=0)
    v1, _ = sampler.sample(model, data)
    assert sampler.last_info["reinitialised"] is True
    assert torch.equal(sampler.state_dict()["chains"], v1)
    sampler.sample(model, data[:2])  # a smaller last batch keeps the chains
    assert sampler.last_info["reinitialised"] is False and sampler.last_info["num_samples"] == 4
    sampler.canvas = (1, 4, 4)
    v3, _ = sampler.sample(model, data)
    assert sampler.last_info["reinitialised"] is True and v3.shape == (4, 1, 4, 4)


def test_load_state_dict_refuses_another_backend():
    state = make_sampler("pcd").state_dict()
    with pytest.raises(ValueError, match="comes from 'pcd'"):
        make_sampler("sa").load_state_dict(state)


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_same_seed_same_samples(name):
    model = conv_model(kernel=2, pool=2)
    data = binary((6, 1, 5, 5))
    canvas = (1, 3, 3)  # small enough for exact
    a = make_sampler(name, seed=5, canvas=canvas).sample(model, data)
    b = make_sampler(name, seed=5, canvas=canvas).sample(model, data)
    c = make_sampler(name, seed=6, canvas=canvas, num_chains=64).sample(model, data)
    d = make_sampler(name, seed=5, canvas=canvas, num_chains=64).sample(model, data)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (torch.equal(c[0], d[0]) and torch.equal(c[1], d[1]))


# --------------------------------------------------------------------------- BQM and SA plumbing


def test_spec_to_bqm_energies_match_the_model():
    for model, canvas in ((dense_model(), (10,)), (conv_model(kernel=2, pool=2), (1, 3, 5))):
        spec = model.to_qm(canvas)
        bqm = spec_to_bqm(spec)
        assert list(bqm.variables) == list(range(spec.n_visible + spec.n_hidden))
        v, h = make_sampler("exact", canvas=canvas, num_chains=50, seed=0).sample(
            model, binary((1, *canvas))
        )
        x = np.concatenate([v.reshape(50, -1).numpy(), h.reshape(50, -1).numpy()], 1)
        want = model.energy(v, h).detach().double().numpy()
        np.testing.assert_allclose(bqm.energies((x, bqm.variables)), want, atol=1e-4)
        scaled = spec_to_bqm(spec, scale=2.0)
        np.testing.assert_allclose(
            scaled.energies((x, scaled.variables)), 2 * bqm.energies((x, bqm.variables))
        )


def test_sa_columns_are_reordered_by_sampleset_variables():
    # A BQM whose variables are inserted in a scrambled order, with fields that pin each variable:
    # variable i must come back as pattern[i], whatever column SA returns it in.
    rng = np.random.default_rng(0)
    n = 12
    pattern = rng.integers(0, 2, n)
    bqm = dimod.BinaryQuadraticModel("BINARY")
    for i in rng.permutation(n):
        bqm.add_variable(int(i), -20.0 if pattern[i] else 20.0)
    assert list(bqm.variables) != list(range(n))
    sampleset = SimulatedAnnealingSampler().sample(
        bqm, num_reads=4, beta_schedule=[1.0] * 20, beta_schedule_type="custom", seed=1
    )
    assert (sampleset_to_array(sampleset, n) == pattern).all()
    # dimod 0.12 sorts sortable labels in SampleSet.from_samples, so SA hands back 0..n-1 in
    # order; composites and other samplers need not: the same rows with scrambled columns.
    labels = list(rng.permutation(n))
    scrambled = dimod.SampleSet.from_samples(
        (sampleset.record.sample[:, labels], labels), "BINARY", energy=sampleset.record.energy,
        sort_labels=False,
    )
    assert list(scrambled.variables) == labels
    assert not (scrambled.record.sample == pattern).all()  # the raw columns would be wrong
    assert (sampleset_to_array(scrambled, n) == pattern).all()
    # the one reordering helper: same rows, energies and info, columns in the order asked for
    ordered = in_variable_order(scrambled, range(n))
    assert list(ordered.variables) == list(range(n))
    assert (ordered.record.sample == pattern).all()
    np.testing.assert_array_equal(ordered.record.energy, scrambled.record.energy)
    assert in_variable_order(ordered, range(n)) is ordered
    with pytest.raises(KeyError):
        in_variable_order(scrambled, range(n + 1))


def test_sampleset_to_array_expands_occurrences_and_spins():
    ss = dimod.SampleSet.from_samples(
        ([[1, -1, 1], [-1, -1, 1]], [2, 0, 1]), "SPIN", energy=[0, 0], num_occurrences=[2, 1]
    )
    assert sampleset_to_array(ss, 3).tolist() == [[0, 1, 1], [0, 1, 1], [0, 1, 0]]
    with pytest.raises(ValueError, match="expected 4 variables"):
        sampleset_to_array(ss, 4)
    bad = dimod.SampleSet.from_samples(([[1, 0, 1]], ["a", 0, 1]), "BINARY", energy=[0])
    with pytest.raises(ValueError, match="not the labels 0..2"):
        sampleset_to_array(bad, 3)


def test_sa_repairs_pooling_violations_from_a_weak_penalty():
    # A tiny pool_penalty lets SA visit invalid pooled states; those rows get h | v from the model.
    model = conv_model(kernel=2, pool=2, std=1.0, seed=2, pool_penalty=0.05)
    with torch.no_grad():
        model.hidden_bias.fill_(3.0)  # detection units want to be on: many invalid BQM states
    sampler = make_sampler("sa", num_sweeps=10, seed=0, num_chains=200)
    v, h = sampler.sample(model, binary((2, 1, 5, 5)))
    assert sampler.last_info["pool_violations"] > 20
    assert h.reshape(200, 2, 2, 2, 2, 2).sum((3, 5)).max() <= 1
    spec = model.to_qm((1, 5, 5))
    x = np.concatenate([v.reshape(200, -1).numpy(), h.reshape(200, -1).numpy()], 1)
    assert not pooling_violations(spec, x).any()
    sampler = make_sampler("sa", num_sweeps=10, seed=0, num_chains=200, resample_hidden=True)
    v, h = sampler.sample(model, binary((2, 1, 5, 5)))
    assert h.reshape(200, 2, 2, 2, 2, 2).sum((3, 5)).max() <= 1


def _index(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x).astype(np.int64)
    return x @ np.left_shift(1, np.arange(x.shape[1] - 1, -1, -1))


def test_exact_marginal_matches_enumeration_of_the_bqm():
    # The analytic marginal of one side equals the marginal of dimod's exact joint distribution.
    for model, canvas, beta in (
        (dense_model(8, 5, std=1.5, seed=1), (8,), 1.3),
        (conv_model(kernel=2, pool=2, std=1.5, seed=1), (1, 3, 3), 0.8),
    ):
        spec = model.to_qm(canvas)
        states, probs = exact_distribution(spec_to_bqm(spec), beta=beta)
        invalid = pooling_violations(spec, states)
        assert probs[invalid].sum() < 1e-3  # the finite pooling penalty's leak
        valid, p_valid = states[~invalid], probs[~invalid]
        for side, columns in (
            ("visible", slice(0, spec.n_visible)),
            ("hidden", slice(spec.n_visible, None)),
        ):
            got_states, got, chosen = exact_marginal(model, side, canvas, beta)
            assert chosen == side
            sub = valid[:, columns]
            want = np.bincount(_index(sub), p_valid, minlength=1 << sub.shape[1])
            want /= want.sum()
            got_index = _index(got_states.reshape(len(got), -1).numpy())
            np.testing.assert_allclose(got.numpy(), want[got_index], rtol=1e-5, atol=1e-9)
            assert abs(want[got_index].sum() - 1) < 1e-9  # every state with mass was enumerated


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_samples_come_back_on_the_model_device(name):
    model = conv_model(kernel=2, pool=2).cuda()
    data = binary((4, 1, 5, 5)).cuda()
    sampler = make_sampler(name, seed=0, canvas=(1, 3, 3), persistent=name != "cd")
    v, h = sampler.sample(model, data)
    assert v.device == h.device == data.device
    v2, _ = sampler.sample(model, data)
    assert v2.device == data.device


def test_sa_sweep_updates_every_unit_so_a_short_quench_forgets_its_hot_start():
    """dwave-samplers' randomize_order=True picks sites with replacement (~37 % untouched per
    sweep); our sa backend scans systematically, so one sweep at β forgets the random start."""

    torch.manual_seed(0)
    model = BernoulliRBM(64, 32)
    with torch.no_grad():
        model.visible_bias.fill_(-6.9)  # p(v_i = 1) ≈ 0.001 whatever h is (weights ≈ 0)
    v = (torch.rand(2000, 64) < 0.5).float()
    for schedule, sweeps in (("fixed", 1), ("quench", 2)):
        sampler = make_sampler("sa", num_sweeps=sweeps, schedule=schedule, seed=0, num_chains=2000)
        v_neg, _ = sampler.sample(model, v)
        # 128 000 units at p ≈ 0.001: mean 0.001, sd ≈ 9e-5; a 37 % stale start would give ≈ 0.18
        assert v_neg.mean().item() < 0.0015, schedule
