"""Exact enumeration and sample-quality diagnostics (sampling.enumeration, sampling.diagnostics).

Every statistical check is shown to be able to fail: samples drawn exactly but at a deliberately
wrong β (15 % off) on a strongly coupled model must be flagged, and the MPL β estimate must
recover β within a tolerance that shrinks with the sample size.
"""

import dimod
import numpy as np
import pytest

from sampling.diagnostics import (
    compare_to_exact,
    empirical_distribution,
    energy_histogram,
    estimate_beta,
    flip_gains,
    kl_divergence,
    noise_floor,
    sample_array,
    state_index,
    total_variation,
    within_noise_floor,
)
from sampling.enumeration import (
    MAX_EXACT_VARIABLES,
    enumerate_states,
    exact_distribution,
    exact_energies,
    exact_sample,
)

N_SAMPLES = 20_000
#: (β, coupling scale): β·J has std ≥ 0.8 in every case, strong enough that a 15 % error in β is
#: detected with 20 000 samples (at β = 0.5 on J ~ N(0, 1) it is not: TV ratio ≈ 2.1, no power).
CASES = [(0.5, 1.6), (1.0, 1.0), (2.0, 1.0)]


def strong_bqm(n=12, seed=0, vartype="SPIN", labels=None, scale=1.0):
    """Dense random Ising model, J ~ N(0, scale²), h ~ N(0, (scale/2)²), 12 variables by default."""
    rng = np.random.default_rng(seed)
    labels = list(range(n)) if labels is None else labels
    h = {labels[i]: 0.5 * scale * rng.normal() for i in range(n)}
    J = {(labels[i], labels[j]): scale * rng.normal() for i in range(n) for j in range(i + 1, n)}
    bqm = dimod.BinaryQuadraticModel.from_ising(h, J, offset=0.7)
    return bqm.change_vartype(vartype, inplace=False)


# --------------------------------------------------------------------------- enumeration


@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_exact_distribution_matches_dimod_energies(vartype):
    bqm = strong_bqm(8, vartype=vartype, labels=list("abcdefgh"))
    states, probs = exact_distribution(bqm, beta=0.7)
    assert states.shape == (256, 8) and states.dtype == np.int8
    assert set(np.unique(states)) == ({-1, 1} if vartype == "SPIN" else {0, 1})
    energies = bqm.energies((states, list(bqm.variables)))
    np.testing.assert_allclose(exact_energies(bqm, states), energies, atol=1e-12)
    expected = np.exp(-0.7 * (energies - energies.min()))
    np.testing.assert_allclose(probs, expected / expected.sum(), rtol=1e-12)
    # row k is the binary expansion of k, first variable most significant
    np.testing.assert_array_equal(state_index(states), np.arange(256))


def test_spin_and_binary_forms_give_the_same_distribution():
    spin = strong_bqm(6)
    _, p_spin = exact_distribution(spin, 1.3)
    _, p_bin = exact_distribution(spin.change_vartype("BINARY", inplace=False), 1.3)
    np.testing.assert_allclose(p_spin, p_bin, rtol=1e-12)


def test_exact_distribution_refuses_large_models_and_bad_beta():
    big = dimod.BinaryQuadraticModel.from_ising({i: 0.1 for i in range(MAX_EXACT_VARIABLES + 1)}, {})
    with pytest.raises(ValueError, match=r"limited to 22 variables.*23 variables"):
        exact_distribution(big, 1.0)
    with pytest.raises(ValueError, match="beta must be a positive"):
        exact_distribution(strong_bqm(3), 0.0)
    with pytest.raises(ValueError, match="num_reads"):
        exact_sample(strong_bqm(3), 1.0, num_reads=0)
    assert enumerate_states(0).shape == (1, 0)


@pytest.mark.parametrize("labels", [["x", "y", "z", ("t", 1), 7], ["e", "d", "c", "b", "a"]])
def test_exact_sample_is_a_labelled_sampleset(labels):
    bqm = strong_bqm(5, vartype="BINARY", labels=labels)
    ss = exact_sample(bqm, beta=2.0, num_reads=50, seed=3)
    assert isinstance(ss, dimod.SampleSet) and len(ss) == 50
    assert ss.vartype is dimod.BINARY and list(ss.variables) == list(bqm.variables)
    np.testing.assert_allclose(ss.record.energy, bqm.energies(ss))
    assert ss.info["beta"] == 2.0
    again = exact_sample(bqm, beta=2.0, num_reads=50, seed=3)
    np.testing.assert_array_equal(ss.record.sample, again.record.sample)


# --------------------------------------------------------------------------- distances


def test_kl_and_tv_basic_values():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.25, 0.25, 0.5])
    assert kl_divergence(p, q) == pytest.approx(np.log(2))
    assert kl_divergence(q, p) == float("inf")
    assert total_variation(p, q) == pytest.approx(0.5)
    assert kl_divergence(q, q) == 0.0 and total_variation(q, q) == 0.0
    with pytest.raises(ValueError, match="equal shape"):
        kl_divergence(p, q[:2])


def test_empirical_distribution_indexes_spin_and_binary_alike():
    spins = np.array([[-1, -1], [1, -1], [1, -1], [1, 1]])
    np.testing.assert_allclose(empirical_distribution(spins, 2), [0.25, 0, 0.5, 0.25])
    np.testing.assert_allclose(empirical_distribution((spins + 1) // 2), [0.25, 0, 0.5, 0.25])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        empirical_distribution(spins, 3)


def test_sample_array_reorders_sampleset_columns_and_counts_occurrences():
    ss = dimod.SampleSet.from_samples(
        ([[1, 0], [0, 0]], ["b", "a"]), vartype="BINARY", energy=[0, 0], num_occurrences=[3, 1]
    )
    x, w = sample_array(ss, ["a", "b"])
    np.testing.assert_array_equal(x, [[0, 1], [0, 0]])
    np.testing.assert_array_equal(w, [3, 1])
    np.testing.assert_allclose(empirical_distribution(ss, variables=["a", "b"]), [0.25, 0.75, 0, 0])
    with pytest.raises(ValueError, match="variables="):
        sample_array(ss)


def test_noise_floor_matches_asymptotics_on_uniform():
    p = np.full(64, 1 / 64)
    floor = noise_floor(p, 10_000, seed=1)
    assert floor["kl_floor"] == pytest.approx(63 / 20_000, rel=0.15)  # (k-1)/(2N)
    assert floor == noise_floor(p, 10_000, seed=1)  # fixed seed: reproducible


@pytest.mark.parametrize("beta, scale", CASES)
def test_exact_samples_are_within_the_noise_floor(beta, scale):
    bqm = strong_bqm(scale=scale)
    _, p = exact_distribution(bqm, beta)
    report = compare_to_exact(exact_sample(bqm, beta, N_SAMPLES, seed=11), p, variables=bqm.variables)
    assert report["n"] == N_SAMPLES
    assert within_noise_floor(report), report


@pytest.mark.parametrize("beta, scale", CASES)
@pytest.mark.parametrize("error", [0.85, 1.15])
def test_power_wrong_beta_is_flagged(beta, scale, error):
    """Exact samples at a β 15 % off must fall outside 2× the floor: the check can fail."""
    bqm = strong_bqm(scale=scale)
    _, p = exact_distribution(bqm, beta)
    ss = exact_sample(bqm, beta * error, N_SAMPLES, seed=12)
    report = compare_to_exact(ss, p, variables=bqm.variables)
    assert not within_noise_floor(report), report


# --------------------------------------------------------------------------- effective β


@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_flip_gains_are_energy_differences(vartype):
    bqm = strong_bqm(6, vartype=vartype, labels=list("uvwxyz"))
    x, _ = sample_array(exact_sample(bqm, 1.0, 20, seed=0), bqm.variables)
    gains = flip_gains(bqm, x)
    labels = list(bqm.variables)
    e = bqm.energies((x, labels))
    for i in range(6):
        y = x.copy()
        y[:, i] = -y[:, i] if vartype == "SPIN" else 1 - y[:, i]
        np.testing.assert_allclose(gains[:, i], e - bqm.energies((y, labels)), atol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_estimate_beta_recovers_beta(beta, vartype):
    bqm = strong_bqm(vartype=vartype)
    ss = exact_sample(bqm, beta, N_SAMPLES, seed=13)
    est, stderr = estimate_beta(bqm, ss, return_stderr=True)
    # stderr ~ 1/sqrt(N): the tolerance is derived from the sample size, not hand-tuned
    assert 0 < stderr < 0.05 * beta
    assert abs(est - beta) < 4 * stderr, (est, stderr)
    # ... and a 15 % error is far outside it (the estimate has power)
    assert abs(1.15 * beta - beta) > 10 * stderr


def test_estimate_beta_flags_wrong_beta_and_accepts_arrays():
    bqm = strong_bqm()
    ss = exact_sample(bqm, 1.15, N_SAMPLES, seed=14)
    est, stderr = estimate_beta(bqm, ss, return_stderr=True)
    assert abs(est - 1.0) > 4 * stderr and abs(est - 1.15) < 4 * stderr
    x, _ = sample_array(ss, bqm.variables)
    assert estimate_beta(bqm, x) == pytest.approx(est)


def test_estimate_beta_agrees_with_dwave_system_mpl():
    from dwave.system.temperatures import maximum_pseudolikelihood_temperature

    bqm = strong_bqm(vartype="BINARY")
    ss = exact_sample(bqm, 0.8, 5_000, seed=15)
    temperature, _ = maximum_pseudolikelihood_temperature(bqm, ss)
    assert estimate_beta(bqm, ss) == pytest.approx(1 / temperature, rel=1e-6)


def test_estimate_beta_weights_num_occurrences():
    bqm = strong_bqm(6)
    ss = exact_sample(bqm, 1.0, 3_000, seed=16)
    agg = ss.aggregate()
    assert len(agg) < len(ss)
    assert estimate_beta(bqm, agg, return_stderr=True) == pytest.approx(
        estimate_beta(bqm, ss, return_stderr=True)
    )


def test_estimate_beta_of_local_minima_is_infinite():
    bqm = dimod.BinaryQuadraticModel.from_ising({}, {(0, 1): -1.0})
    assert estimate_beta(bqm, np.array([[1, 1], [-1, -1]])) == float("inf")


# --------------------------------------------------------------------------- plots


def test_energy_histogram_writes_png(tmp_path):
    bqm = strong_bqm(6)
    states, probs = exact_distribution(bqm, 1.0)
    ss = exact_sample(bqm, 1.0, 500, seed=0)
    out = energy_histogram(ss, exact=(exact_energies(bqm, states), probs), path=tmp_path / "e.png")
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    energy_histogram(ss.record.energy, path=tmp_path / "plain.png", title="samples only")
    assert (tmp_path / "plain.png").stat().st_size > 0
