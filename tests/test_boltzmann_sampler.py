"""BoltzmannSampler: dimod conformance, distribution at β against exact enumeration, and power.

Statistical tests draw 20 000 samples of random non-bipartite 12-variable models with β·J of
standard deviation ≥ 1 (weak models cannot fail, docs/design.md §3) and require KL and TV within 2× the
i.i.d. noise floor computed in the same test. The power tests feed the same check a β that is 15 %
off, and a 1-sweep chain, and require it to fail.
"""

import unittest
import warnings

import dimod
import dimod.testing
import numpy as np
import pytest
from dwave.preprocessing import SpinReversalTransformComposite

from sampling.boltzmann import (
    METHODS,
    BoltzmannSampler,
    SamplerArgumentError,
    call_seed,
    register_method,
    sa_schedule,
)
from sampling.diagnostics import compare_to_exact, sample_array, within_noise_floor
from sampling.enumeration import exact_distribution, exact_sample

N_SAMPLES = 20_000


NUM_SWEEPS = 100  # 20 000 reads x 100 sweeps x 12 spins: ~1 s per run


def random_bqm(seed, scale=1.0, vartype="SPIN", labels=None, n=12, density=0.35):
    """Random Ising model on an Erdős–Rényi graph (not bipartite), h, J ~ N(0, scale²)."""
    rng = np.random.default_rng(seed)
    labels = list(range(n)) if labels is None else labels
    h = {labels[i]: scale * rng.normal() for i in range(n)}
    J = {
        (labels[i], labels[j]): scale * rng.normal()
        for i in range(n)
        for j in range(i + 1, n)
        if rng.random() < density
    }
    return dimod.BinaryQuadraticModel.from_ising(h, J, offset=1.25).change_vartype(
        vartype, inplace=False
    )


STRINGS = [f"q{i}" for i in range(12)]
TUPLES = [("v", i) for i in range(12)]
#: id → (β, coupling scale, model seed, vartype, labels). β·J std: 1.0, 1.0, 1.2.
CASES = {
    "beta1-spin-int": (1.0, 1.0, 11, "SPIN", None),
    "beta0.5-binary-str": (0.5, 2.0, 13, "BINARY", STRINGS),
    "beta2-binary-tuple": (2.0, 0.6, 12, "BINARY", TUPLES),
}


def case(name):
    beta, scale, seed, vartype, labels = CASES[name]
    bqm = random_bqm(seed, scale, vartype, labels)
    _, p = exact_distribution(bqm, beta)
    return bqm, beta, p


def report_for(ss, bqm, p):
    return compare_to_exact(ss, p, variables=bqm.variables)


# --------------------------------------------------------------------------- dimod conformance


def test_sampler_api():
    sampler = BoltzmannSampler()
    dimod.testing.assert_sampler_api(sampler)
    assert {"beta", "num_reads", "method", "seed", "num_sweeps", "initial_states"} <= set(
        sampler.parameters
    )
    assert {"sa", "gibbs", "exact"} <= set(sampler.properties["methods"])


@dimod.testing.load_sampler_bqm_tests(BoltzmannSampler)
class TestDimodBQMs(unittest.TestCase):
    """dimod's own sampler tests (empty, 1-variable, paths; Float32/Float64/Dict BQMs)."""


def test_samplesets_follow_bqm_order_vartype_and_energies():
    bqm = random_bqm(1, vartype="BINARY", labels=STRINGS[::-1], n=12)
    for method in ("sa", "gibbs", "exact"):
        ss = BoltzmannSampler().sample(bqm, beta=0.7, num_reads=30, method=method, seed=4,
                                       **({} if method == "exact" else {"num_sweeps": 5}))
        assert list(ss.variables) == list(bqm.variables)
        assert ss.vartype is dimod.BINARY and len(ss) == 30
        np.testing.assert_allclose(ss.record.energy, bqm.energies(ss))
        assert ss.info["beta"] == 0.7 and ss.info["method"] == method
        assert ss.info["num_reads"] == 30 and ss.info["seconds"] > 0
    assert ss.record.num_occurrences.tolist() == [1] * 30


def test_seed_reproducible():
    bqm = random_bqm(2)
    a = BoltzmannSampler().sample(bqm, num_reads=20, num_sweeps=10, seed=9)
    b = BoltzmannSampler().sample(bqm, num_reads=20, num_sweeps=10, seed=9)
    np.testing.assert_array_equal(a.record.sample, b.record.sample)


# --------------------------------------------------------------------------- distribution at β


@pytest.mark.parametrize("method", ["sa", "gibbs", "exact"])
@pytest.mark.parametrize("name", list(CASES))
def test_distribution_within_noise_floor(name, method):
    bqm, beta, p = case(name)
    opts = {} if method == "exact" else {"num_sweeps": NUM_SWEEPS}
    # distinct seeds: SA and Gibbs chains driven by the same random numbers coalesce (identical
    # final states), which would make the two checks one
    seed = {"sa": 7, "gibbs": 17, "exact": 27}[method]
    ss = BoltzmannSampler().sample(bqm, beta=beta, num_reads=N_SAMPLES, method=method, seed=seed,
                                   **opts)
    report = report_for(ss, bqm, p)
    assert within_noise_floor(report), report


@pytest.mark.parametrize("error", [0.85, 1.15])
@pytest.mark.parametrize("name", list(CASES))
def test_power_wrong_beta_fails_the_same_check(name, error):
    """The check of test_distribution_within_noise_floor rejects SA samples at a β 15 % off."""
    bqm, beta, p = case(name)
    ss = BoltzmannSampler().sample(
        bqm, beta=beta * error, num_reads=N_SAMPLES, method="sa", num_sweeps=NUM_SWEEPS, seed=7
    )
    report = report_for(ss, bqm, p)
    assert not within_noise_floor(report), report


@pytest.mark.parametrize("schedule", ["fixed", "quench"])
def test_power_too_short_chain_fails_the_same_check(schedule):
    """One sweep at β (or the two-sweep quench) from random states is far from equilibrium here."""
    bqm, beta, p = case("beta1-spin-int")
    ss = BoltzmannSampler().sample(
        bqm, beta=beta, num_reads=N_SAMPLES, method="sa", num_sweeps=1, schedule=schedule, seed=7
    )
    report = report_for(ss, bqm, p)
    assert not within_noise_floor(report), report
    assert report["kl"] > 10 * report["kl_floor"]


def test_default_optimiser_schedule_of_dwave_samplers_would_fail():
    """Guard for docs/design.md §3: dwave-samplers' default beta_range is an optimiser, not a sampler."""
    from dwave.samplers import SimulatedAnnealingSampler

    bqm, beta, p = case("beta1-spin-int")
    ss = SimulatedAnnealingSampler().sample(bqm, num_reads=2_000, num_sweeps=NUM_SWEEPS, seed=7)
    assert not within_noise_floor(report_for(ss, bqm, p))


def test_binary_and_spin_forms_give_the_same_chains():
    """SA works in SPIN internally: a BINARY model gives the same states (mapped 0/1) and its own
    energies, so its Boltzmann distribution at β is the SPIN one."""
    spin = random_bqm(5)
    binary = spin.change_vartype("BINARY", inplace=False)
    kw = {"beta": 1.3, "num_reads": 200, "num_sweeps": 20, "seed": 3}
    for method in ("sa", "gibbs"):
        s = BoltzmannSampler().sample(spin, method=method, **kw)
        b = BoltzmannSampler().sample(binary, method=method, **kw)
        xs, _ = sample_array(s, spin.variables)
        xb, _ = sample_array(b, spin.variables)
        np.testing.assert_array_equal((xs + 1) // 2, xb)
        np.testing.assert_allclose(b.record.energy, binary.energies(b))
        np.testing.assert_allclose(s.record.energy, b.record.energy)  # same model, same offset


# --------------------------------------------------------------------------- composites


def test_tracking_composite_sees_beta_and_result():
    sampler = dimod.TrackingComposite(BoltzmannSampler())
    bqm = random_bqm(3, n=5)
    ss = sampler.sample(bqm, beta=0.5, num_reads=10, method="exact", seed=1)
    assert sampler.input["beta"] == 0.5 and sampler.input["method"] == "exact"
    assert sampler.output is ss
    assert sampler.parameters == BoltzmannSampler().parameters


def test_spin_reversal_composite_keeps_the_boltzmann_distribution():
    bqm, beta, p = case("beta1-spin-int")
    sampler = SpinReversalTransformComposite(BoltzmannSampler(), seed=5)
    ss = sampler.sample(bqm, beta=beta, num_reads=N_SAMPLES, num_sweeps=NUM_SWEEPS, seed=8)
    assert len(ss) == N_SAMPLES
    np.testing.assert_allclose(ss.record.energy, bqm.energies(ss))
    report = report_for(ss, bqm, p)
    assert within_noise_floor(report), report


def test_spin_reversal_composite_children_get_fresh_seed_streams(monkeypatch):
    """SpinReversalTransformComposite passes one seed to every child call; each transform must
    still draw its own random numbers (before call_seed, all three calls got seed 8)."""
    monkeypatch.setattr("sampling.boltzmann.METHODS", dict(METHODS))
    seeds = []

    def recording(bqm, beta, num_reads, seed):
        seeds.append(seed)
        return exact_sample(bqm, beta, num_reads, seed)

    register_method("recording", recording)
    sampler = SpinReversalTransformComposite(BoltzmannSampler(), seed=5)
    bqm = random_bqm(3, n=6)
    sampler.sample(bqm, beta=1.0, num_reads=4, method="recording", seed=8,
                   num_spin_reversal_transforms=3)
    assert len(seeds) == 3 and len(set(seeds)) == 3, seeds
    again = []
    seeds, again = again, seeds
    SpinReversalTransformComposite(BoltzmannSampler(), seed=5).sample(
        bqm, beta=1.0, num_reads=4, method="recording", seed=8, num_spin_reversal_transforms=3)
    assert seeds == again  # reproducible: same transforms, same seed, same streams


# --------------------------------------------------------------------------- options


def test_gibbs_initial_states_continue_persistent_chains():
    ferro = dimod.BinaryQuadraticModel.from_ising({}, {(i, i + 1): -1.0 for i in range(7)})
    start = dimod.SampleSet.from_samples(
        (np.ones((4, 8), dtype=np.int8), list(range(8))), vartype="SPIN", energy=[0.0] * 4
    )
    ss = BoltzmannSampler().sample(
        ferro, beta=20.0, method="gibbs", initial_states=start, num_sweeps=3, seed=0
    )
    assert len(ss) == 4  # num_reads defaults to the number of initial states
    assert (ss.record.sample == 1).all()  # frozen at β = 20: the chains stayed where they were
    # dimod.Initialized conventions: missing states are random by default, "tile" repeats them,
    # "none" refuses, extra ones are dropped
    more = BoltzmannSampler().sample(ferro, beta=20.0, method="gibbs", initial_states=start,
                                     num_reads=40, num_sweeps=1, seed=0)
    assert (more.record.sample[:4] == 1).all() and not (more.record.sample[4:] == 1).all()
    tiled = BoltzmannSampler().sample(ferro, beta=20.0, method="gibbs", initial_states=start,
                                      initial_states_generator="tile", num_reads=6, num_sweeps=1)
    assert (tiled.record.sample == 1).all()
    fewer = BoltzmannSampler().sample(ferro, beta=20.0, method="gibbs", initial_states=start,
                                      num_reads=2, num_sweeps=1)
    assert len(fewer) == 2
    with pytest.raises(SamplerArgumentError, match="4 initial states for num_reads=5"):
        BoltzmannSampler().sample(ferro, method="gibbs", initial_states=start, num_reads=5,
                                  initial_states_generator="none")


def test_sa_schedule_ends_with_sweeps_at_beta():
    sched = sa_schedule(2.0, num_sweeps=100)
    assert sched.shape == (100,) and sched[0] == pytest.approx(0.2)
    assert np.all(sched[25:] == 2.0) and np.all(np.diff(sched) >= 0)
    np.testing.assert_allclose(sa_schedule(2.0, schedule="quench"), [0.2, 2.0])
    np.testing.assert_allclose(sa_schedule(1.0, 3, schedule=[0.5, 1.0]), [0.5, 1.0])
    assert np.all(sa_schedule(1.0, 7, schedule="fixed") == 1.0)
    ss = BoltzmannSampler().sample(random_bqm(0, n=4), beta=2.0, num_reads=2, num_sweeps=40,
                                   method="sa", schedule="linear", seed=0)
    assert ss.info["num_sweeps"] == 40 and ss.info["schedule"] == "linear"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta": 0.0}, "beta must be a positive finite number"),
        ({"beta": -1.0}, "beta must be a positive finite number"),
        ({"beta": float("nan")}, "beta must be a positive finite number"),
        ({"num_reads": 0}, "num_reads must be an integer >= 1, got 0"),
        ({"num_reads": 2.5}, "num_reads must be an integer >= 1, got 2.5"),
        ({"method": "magic"}, "unknown method 'magic'; expected one of"),
        ({"seed": -3}, "seed must be None or an integer"),
        ({"method": "sa", "num_sweeps": 0}, "num_sweeps must be an integer >= 1"),
        ({"method": "gibbs", "num_sweeps": 0}, "num_sweeps must be an integer >= 1"),
        ({"method": "sa", "schedule": "cold"}, "unknown beta schedule 'cold'"),
        ({"method": "sa", "schedule": [0.1, 0.5]}, "must end at the target beta"),
        ({"method": "sa", "num_sweeps": 10, "num_sweeps_at_beta": 11},
         "num_sweeps_at_beta must be in"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(SamplerArgumentError, match=match):
        BoltzmannSampler().sample(random_bqm(0, n=3), **kwargs)
    assert issubclass(SamplerArgumentError, ValueError)


def test_exact_refuses_large_problems():
    big = dimod.BinaryQuadraticModel.from_ising({i: 0.1 for i in range(23)}, {})
    with pytest.raises(SamplerArgumentError, match="limited to 22 variables; this problem has 23"):
        BoltzmannSampler().sample(big, method="exact")


def test_options_of_other_methods_warn_and_are_dropped():
    with pytest.warns(dimod.exceptions.SamplerUnknownArgWarning, match="not used by method 'exact'"):
        BoltzmannSampler().sample(random_bqm(0, n=3), method="exact", num_sweeps=5, num_reads=2)
    with pytest.warns(dimod.exceptions.SamplerUnknownArgWarning, match="'bogus': unknown"):
        BoltzmannSampler().sample(random_bqm(0, n=3), method="exact", bogus=1, num_reads=2)


def test_register_method_extends_parameters(monkeypatch):
    monkeypatch.setattr("sampling.boltzmann.METHODS", dict(METHODS))
    calls = []

    def fake_qpu(bqm, beta, num_reads, seed, *, chain_strength=None):
        calls.append((beta, num_reads, seed, chain_strength))
        return exact_sample(bqm, beta, num_reads, seed)

    register_method("fake-qpu", fake_qpu)
    sampler = BoltzmannSampler()
    assert "chain_strength" in sampler.parameters and "fake-qpu" in sampler.properties["methods"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ss = sampler.sample(random_bqm(0, n=3), beta=1.5, num_reads=4, method="fake-qpu",
                            seed=2, chain_strength=2.0)
    # the method gets the call's seed, drawn from (seed, problem): see call_seed
    assert calls == [(1.5, 4, call_seed(2, random_bqm(0, n=3)), 2.0)]
    assert ss.info["method"] == "fake-qpu" and ss.info["seed"] == 2
    with pytest.raises(ValueError, match="already registered"):
        register_method("fake-qpu", fake_qpu)


# ---------------------------------------------------------------- one sweep updates every variable

#: 64 independent BINARY variables with p(x_i = 1) = 1 / (1 + 999) = 0.001 at β = 1, started at 1.
#: A sweep that updates every variable once forgets the start exactly; dwave-samplers'
#: randomize_order=True draws n sites with replacement, leaves ~37 % stale and gives ≈ 0.2-0.4.
FAR_N, FAR_P, FAR_READS = 64, 0.001, 1000


def far_from_equilibrium():
    bqm = dimod.BinaryQuadraticModel({i: np.log(1 / FAR_P - 1) for i in range(FAR_N)}, {}, 0.0,
                                     "BINARY")
    return bqm, np.ones((FAR_READS, FAR_N), dtype=np.int8)


def binomial_tolerance(p, trials, z=5.0):
    return z * np.sqrt(p * (1 - p) / trials)


@pytest.mark.parametrize("method,options", [
    ("sa", {"schedule": "quench"}),              # the CLI's --schedule quench
    ("gibbs", {"num_sweeps": 1}),
    ("sa", {"schedule": [1.0]}),
])
def test_one_sweep_at_beta_forgets_a_far_from_equilibrium_start(method, options):
    bqm, start = far_from_equilibrium()
    ss = BoltzmannSampler().sample(bqm, beta=1.0, method=method, seed=3,
                                   initial_states=(start, list(bqm.variables)), **options)
    x, weights = sample_array(ss, bqm.variables)
    assert x.shape == start.shape and np.all(weights == 1)
    mean = x.mean()
    assert abs(mean - FAR_P) < binomial_tolerance(FAR_P, start.size), (mean, ss.info["num_sweeps"])
