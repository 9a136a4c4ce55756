"""The compiled kernels (sampling.kernels): exact draws, seeded streams, and the fallback without them.

Each draw is checked against its exact probability with a tolerance derived from the number of
draws (binomial or multinomial z-scores), and each check is shown to fail for a draw whose logits
are 15 % off, the size of error a wrong β would make. The BQM engine is checked on both of its
paths (compiled and pure torch) against exact enumeration, at one β and at a different β per chain
(parallel tempering's case).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dimod
import numpy as np
import pytest
import torch

from sampling import kernels
from sampling.enumeration import exact_distribution
from sampling.torch_engine import IsingEngine

ROOT = Path(__file__).resolve().parents[1]
needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba unavailable")

# logits from the tails to the middle, with repeats: 4,000 draws each
LOGITS = np.array([-100.0, -12.0, -6.0, -3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0, 9.0, 100.0])
DRAWS = 4_000


def bernoulli_z(logits: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """z-score per logit of the on-frequency of ``DRAWS`` kernel draws at ``scale * logits``
    against σ(logits); exactly-determined cells (p in {0, 1}) must be exact (z = 0 or inf)."""
    x = np.repeat((scale * logits).astype(np.float32)[None, :], DRAWS, axis=0)
    kernels.bernoulli_logits_(x, kernels.LaneRandom(seed))
    assert set(np.unique(x)) <= {0.0, 1.0}
    p = 1.0 / (1.0 + np.exp(-logits))
    se = np.sqrt(np.maximum(p * (1 - p), 1e-300) / DRAWS)
    return (x.mean(0) - p) / se


@needs_numba
def test_bernoulli_kernel_draws_sigmoid_probabilities():
    z = bernoulli_z(LOGITS, 1.0, seed=3)
    assert np.abs(z).max() < 4.5, np.round(z, 2)  # 13 cells: P(max |z| > 4.5) ~ 1e-4


@needs_numba
def test_bernoulli_check_has_power():
    z = bernoulli_z(LOGITS, 1.15, seed=3)
    assert np.abs(z).max() > 4.5, np.round(z, 2)


@needs_numba
def test_lane_streams_are_seeded_and_independent():
    x = np.zeros((64, 1024), np.float32)
    a = kernels.bernoulli_logits_(x.copy(), kernels.LaneRandom(7))
    b = kernels.bernoulli_logits_(x.copy(), kernels.LaneRandom(7))
    c = kernels.bernoulli_logits_(x.copy(), kernels.LaneRandom(8))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() == pytest.approx(0.5, abs=0.02)
    # lanes are not copies of each other: the 1,024 columns' bits are pairwise ~uncorrelated
    corr = np.corrcoef(a.T)[np.triu_indices(1024, 1)]
    assert np.abs(corr).max() < 0.7 and abs(corr.mean()) < 0.01
    # nor is a lane's next draw a function of its last: lag-1 agreement is 1/2
    assert (a[1:] == a[:-1]).mean() == pytest.approx(0.5, abs=0.01)


def pooled_counts(logits: np.ndarray, scale: float, draws: int, seed: int) -> np.ndarray:
    """Counts of each outcome (unit 0..P-1, then "all off") of ``draws`` pooled draws."""
    phases = logits.shape[0]
    x = np.repeat((scale * logits).astype(np.float32)[None, :, None], draws, axis=2)
    x = np.ascontiguousarray(x.reshape(1, phases, draws))
    kernels.pooled_phases_(x, kernels.LaneRandom(seed))
    assert set(np.unique(x)) <= {0.0, 1.0} and x.sum(1).max() <= 1.0
    return np.concatenate([x[0].sum(1), [draws - x[0].sum()]])


def pooled_chi2(logits, scale, seed, draws=20_000):
    weights = np.exp(np.concatenate([logits, [0.0]]) - max(logits.max(), 0.0))
    p = weights / weights.sum()
    counts = pooled_counts(np.asarray(logits, np.float64), scale, draws, seed)
    keep = p * draws > 5
    assert counts[~keep].sum() <= 5 + 5 * np.sqrt(max(p[~keep].sum() * draws, 1.0))
    chi2 = ((counts[keep] - draws * p[keep]) ** 2 / (draws * p[keep])).sum()
    return chi2, int(keep.sum()) - 1


@needs_numba
@pytest.mark.parametrize("logits", [[0.0, 0.0, 0.0, 0.0], [1.5, -0.5, 0.3, -2.0],
                                    [90.0, 89.0, 20.0, -90.0], [-4.0, -3.0, -5.0, -6.0]])
def test_pooled_kernel_draws_the_block_softmax(logits):
    chi2, dof = pooled_chi2(np.array(logits), 1.0, seed=5)
    assert chi2 < dof + 5 * np.sqrt(2 * dof), (chi2, dof)  # ~4.5 σ of a χ² with dof ≤ 4


@needs_numba
def test_pooled_check_has_power():
    chi2, dof = pooled_chi2(np.array([1.5, -0.5, 0.3, -2.0]), 1.15, seed=5)
    assert chi2 > dof + 5 * np.sqrt(2 * dof), (chi2, dof)


def frustrated_bqm(vartype) -> dimod.BinaryQuadraticModel:
    """10 spins on a ring with chords, J = ±1, random fields: frustrated, enumerable."""
    rng = np.random.default_rng(11)
    edges = [(i, (i + 1) % 10) for i in range(10)] + [(0, 5), (2, 7), (3, 8), (1, 6)]
    bqm = dimod.BinaryQuadraticModel.from_ising(
        {f"s{i}": 0.4 * rng.normal() for i in range(10)},
        {(f"s{a}", f"s{b}"): float(rng.choice([-1.0, 1.0])) for a, b in edges})
    return bqm.change_vartype(vartype, inplace=False)


def engine_marginal_z(bqm, betas, compiled: bool, sweeps: int = 60, seed: int = 2):
    """Per-variable marginal z-scores of the engine's chains (one per β in ``betas``, grouped
    by β) against exact enumeration at each β; returns the largest |z| and the mean-energy z."""
    eng = IsingEngine(bqm, compiled=compiled)
    uniforms = eng.generator(seed)
    betas_t = torch.as_tensor(betas, dtype=torch.float32)
    state = eng.random_state(len(betas), uniforms=uniforms)
    eng.sweeps(state, betas_t, sweeps, uniforms)
    samples = eng.to_samples(state, bqm.vartype).astype(np.float64)
    energies = eng.energies(state, exact=True).numpy()
    worst, energy_z = 0.0, []
    for beta in np.unique(betas):
        rows = np.asarray(betas) == beta
        states, probs = exact_distribution(bqm, beta=float(beta))
        e = bqm.energies((states, list(bqm.variables)))
        states = states.astype(np.float64)
        mean = probs @ states
        var = probs @ states**2 - mean**2
        z = (samples[rows].mean(0) - mean) / np.sqrt(var / rows.sum())
        worst = max(worst, float(np.abs(z).max()))
        e_mean, e_var = probs @ e, probs @ e**2 - (probs @ e) ** 2
        energy_z.append((energies[rows].mean() - e_mean) / np.sqrt(e_var / rows.sum()))
    return worst, float(np.abs(energy_z).max())


PATHS = [pytest.param(True, id="compiled", marks=needs_numba), pytest.param(False, id="torch")]


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("vartype", [dimod.SPIN, dimod.BINARY])
def test_engine_paths_match_enumeration(compiled, vartype):
    bqm = frustrated_bqm(vartype)
    worst, energy_z = engine_marginal_z(bqm, [1.0] * 6000, compiled)
    assert worst < 4.0 and energy_z < 4.0, (worst, energy_z)


@pytest.mark.parametrize("compiled", PATHS)
def test_engine_paths_per_chain_betas_match_enumeration(compiled):
    betas = [0.5] * 4000 + [1.5] * 4000  # one call, two temperatures: PT's replicas
    # β = 1.5 mixes slowly on this glass: 60 sweeps leave |z| ~ 15 on both paths, 600 do not
    worst, energy_z = engine_marginal_z(frustrated_bqm(dimod.SPIN), betas, compiled, sweeps=600)
    assert worst < 4.0 and energy_z < 4.0, (worst, energy_z)


@pytest.mark.parametrize("compiled", PATHS)
def test_engine_check_has_power(compiled):
    """Chains run at β × 1.15 (or far too short) fail the check above against β."""
    bqm = frustrated_bqm(dimod.SPIN)
    eng = IsingEngine(bqm, compiled=compiled)
    for betas, sweeps in (([1.15] * 6000, 60), ([1.0] * 6000, 1)):
        uniforms = eng.generator(2)
        state = eng.state_from_samples(np.ones((len(betas), 10)), dimod.SPIN)  # all up: biased
        eng.sweeps(state, torch.as_tensor(betas), sweeps, uniforms)
        samples = eng.to_samples(state, dimod.SPIN).astype(np.float64)
        states, probs = exact_distribution(bqm, beta=1.0)
        states = states.astype(np.float64)
        mean, var = probs @ states, probs @ states**2 - (probs @ states) ** 2
        z = (samples.mean(0) - mean) / np.sqrt(var / len(betas))
        assert np.abs(z).max() > 4.0, (betas[0], sweeps, np.round(z, 1))


@needs_numba
def test_engine_compiled_stream_is_seeded():
    bqm = frustrated_bqm(dimod.SPIN)
    runs = []
    for seed in (4, 4, 5):
        eng = IsingEngine(bqm, compiled=True)
        uniforms = eng.generator(seed)
        state = eng.random_state(300, uniforms=uniforms)
        eng.sweeps(state, torch.ones(300), 5, uniforms)
        eng.sweeps(state, torch.ones(300), 5, uniforms)  # lanes carry over between calls
        runs.append(eng.to_samples(state, dimod.SPIN))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] != runs[2]).any()


def test_set_enabled_switches_the_engine_and_the_chains():
    previous = kernels.set_enabled(False)
    try:
        assert not IsingEngine(frustrated_bqm(dimod.SPIN)).compiled
        from rbm.base import bit_source

        assert isinstance(bit_source(torch.Generator().manual_seed(0), torch.device("cpu")),
                          np.random.SFC64)
    finally:
        kernels.set_enabled(previous)
    if kernels.available():
        assert IsingEngine(frustrated_bqm(dimod.SPIN)).compiled


def test_without_numba_everything_falls_back():
    """With the kernels disabled by the environment, a sampler and a conv chain still run."""
    code = (
        "import torch, dimod\n"
        "from sampling import kernels, BoltzmannSampler\n"
        "from rbm import ConvRBM\n"
        "assert not kernels.available() and 'disabled' in kernels.unavailable_reason()\n"
        "bqm = dimod.BinaryQuadraticModel.from_ising({'a': 0.3}, {('a', 'b'): -1.0})\n"
        "ss = BoltzmannSampler().sample(bqm, beta=1.0, num_reads=50, method='gibbs', seed=1)\n"
        "m = ConvRBM(1, 2, 2, pool_size=2)\n"
        "v, h = m._gibbs_chain(torch.zeros(4, 1, 5, 5), [1.0] * 3, torch.Generator())\n"
        "assert h.shape == (4, 2, 4, 4) and ss.info['method'] == 'gibbs'\n"
        "try:\n"
        "    kernels.set_enabled(True)\n"
        "except RuntimeError as err:\n"
        "    print('refused:', err)\n"
    )
    env = {**os.environ, kernels.DISABLE_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused: the compiled kernels are unavailable: disabled by" in out.stdout


@needs_numba
def test_kernels_refuse_arrays_they_cannot_write_in_place():
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.bernoulli_logits_(np.zeros((4, 4), np.float32).T, kernels.LaneRandom(0))
    with pytest.raises(ValueError, match="float32"):
        kernels.bernoulli_logits_(np.zeros(4), kernels.LaneRandom(0))
    with pytest.raises(ValueError, match="3 dimensions"):
        kernels.pooled_phases_(np.zeros((4, 4), np.float32), kernels.LaneRandom(0))
    with pytest.raises(ValueError, match="compiled=True"):
        IsingEngine(frustrated_bqm(dimod.SPIN), device="meta", compiled=True)


def _conv_marginals(model, canvas, beta: float, compiled: bool, chains: int = 20_000):
    """Per-unit means of v and h after 30 sweeps of the model's own chain from noise."""
    previous = kernels.set_enabled(compiled)
    try:
        gen = torch.Generator().manual_seed(9 if compiled else 10)
        v0 = torch.rand(chains, *canvas, generator=gen).round()
        v, h = model._gibbs_chain(v0, [beta] * 30, gen)
    finally:
        kernels.set_enabled(previous)
    return torch.cat([v.flatten(1), h.flatten(1)], 1).double().mean(0).numpy()


def _two_sample_z(a: np.ndarray, b: np.ndarray, chains: int = 20_000) -> np.ndarray:
    pooled = (a + b) / 2
    return (a - b) / np.sqrt(np.maximum(2 * pooled * (1 - pooled) / chains, 1e-12))


def _beyond_enumeration_model(pool):
    """1×10×10 canvas, 3 filters 5×5 (weights N(0, 0.8²); pooling 2 or none): every border case
    of the kernel's transposed convolution, far beyond enumeration (100 + 108 units)."""
    from rbm import ConvRBM

    gen = torch.Generator().manual_seed(21)
    model = ConvRBM(1, 3, 5, pool_size=pool)
    with torch.no_grad():
        model.weight.copy_(0.8 * torch.randn(3, 1, 5, 5, generator=gen))
        model.hidden_bias.copy_(torch.tensor([-1.0, 0.0, 0.5]))
        model.visible_bias.fill_(-0.3)
    return model


@needs_numba
@pytest.mark.parametrize("pool", [None, 2])
def test_compiled_conv_chain_agrees_with_the_torch_chain(pool):
    """The compiled chain and the pure-torch chain are the same Markov chain (same start law, same
    sweeps), so after 30 sweeps their per-unit marginals agree, mixed or not (two-sample z over
    208 units), on a model beyond enumeration; they disagree once the torch chain runs at
    β × 1.15 (the check's power: max |z| 16 without pooling, 14 with it, measured)."""
    model = _beyond_enumeration_model(pool)
    canvas = (1, 10, 10)
    compiled = _conv_marginals(model, canvas, 1.0, True)
    z = _two_sample_z(compiled, _conv_marginals(model, canvas, 1.0, False))
    assert np.abs(z).max() < 4.5, np.round(np.sort(np.abs(z))[-5:], 2)
    z_wrong = _two_sample_z(compiled, _conv_marginals(model, canvas, 1.15, False))
    assert np.abs(z_wrong).max() > 4.5, np.round(np.sort(np.abs(z_wrong))[-5:], 2)


def test_sampler_info_names_the_engine_that_ran():
    from sampling import BoltzmannSampler

    bqm = frustrated_bqm(dimod.SPIN)
    ss = BoltzmannSampler().sample(bqm, beta=1.0, num_reads=20, num_sweeps=20, method="gibbs",
                                   seed=1)
    assert ss.info["engine"] == ("compiled (numba)" if kernels.available() else "torch")
    previous = kernels.set_enabled(False)
    try:
        ss = BoltzmannSampler().sample(bqm, beta=1.0, num_reads=20, num_sweeps=20,
                                       method="gibbs", seed=1)
    finally:
        kernels.set_enabled(previous)
    assert ss.info["engine"] == "torch"
