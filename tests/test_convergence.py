"""sampling.convergence: split R-hat and ESS on processes with known answers, and the warning."""

import warnings

import dimod
import numpy as np
import pytest

from sampling.boltzmann import BoltzmannSampler, SamplerArgumentError
from sampling.convergence import (
    ConvergenceWarning,
    effective_sample_size,
    split_rhat,
    summarize,
    trace_sweeps,
)


def ar1(rho, chains, length, seed, start_sd=None):
    """AR(1) chains x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t: stationary N(0, 1), tau = (1+rho)/(1-rho)."""
    rng = np.random.default_rng(seed)
    x = np.empty((chains, length))
    x[:, 0] = rng.normal(size=chains) * (1.0 if start_sd is None else start_sd)
    noise = rng.normal(size=(chains, length)) * np.sqrt(1 - rho**2)
    for t in range(1, length):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


def test_ess_matches_the_ar1_autocorrelation_time():
    for rho in (0.0, 0.5, 0.9):
        x = ar1(rho, 50, 2000, seed=1)
        tau = (1 + rho) / (1 - rho)
        assert effective_sample_size(x) == pytest.approx(x.size / tau, rel=0.15)


def test_rhat_is_one_for_mixed_chains_and_flags_stuck_or_drifting_ones():
    assert split_rhat(ar1(0.5, 200, 200, seed=2)) < 1.02
    stuck = ar1(0.5, 200, 200, seed=3) + 2.0 * (np.arange(200)[:, None] % 2)
    assert split_rhat(stuck) > 1.2
    drifting = ar1(0.5, 200, 200, seed=4) + np.linspace(0, 2, 200)  # not yet stationary
    assert split_rhat(drifting) > 1.05
    spread = ar1(0.5, 200, 200, seed=5) * (1 + np.arange(200)[:, None] % 2)  # folded R-hat
    assert split_rhat(spread) > 1.05
    # tau comparable to the half-window: R-hat^2 ~ 1 + (tau - 1) / n
    slow = ar1(0.95, 200, 200, seed=6)
    assert split_rhat(slow) > 1.05


def test_summarize_thresholds_and_degenerate_traces():
    ok = summarize(ar1(0.0, 100, 40, seed=7), num_reads=100)
    assert ok["converged"] is True and ok["num_chains"] == 100 and ok["trace_points"] == 40
    frozen = summarize(np.ones((10, 20)), num_reads=10)
    assert frozen["rhat"] == 1.0 and frozen["converged"] is True
    short = summarize(np.zeros((10, 3)), num_reads=10)
    assert short["converged"] is None and short["rhat"] is None
    assert trace_sweeps(3).size == 0 and trace_sweeps(200)[-1] == 199
    with pytest.raises(ValueError, match=r"expected traces of shape \(chains, points\)"):
        split_rhat(np.zeros(10))


def frustrated_ring(n=40):
    """A ferromagnetic ring: at β = 3 single-spin moves take long to move its magnetisation."""
    J = {(i, (i + 1) % n): -1.0 for i in range(n)}
    return dimod.BinaryQuadraticModel.from_ising({i: 0.05 for i in range(n)}, J)


def test_every_mcmc_method_reports_diagnostics_and_warns_when_short():
    bqm = frustrated_ring()
    for method in ("sa", "gibbs", "pt"):
        with pytest.warns(ConvergenceWarning, match=f"method '{method}' did not converge"):
            ss = BoltzmannSampler().sample(bqm, beta=3.0, num_reads=200, method=method,
                                           num_sweeps=8, seed=1)
        conv = ss.info["convergence"]
        assert conv["converged"] is False and conv["num_chains"] == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ss = BoltzmannSampler().sample(bqm, beta=0.3, num_reads=200, method="gibbs",
                                       num_sweeps=400, seed=1)
    assert ss.info["convergence"]["converged"] is True
    assert set(ss.info["timing"]) >= {"preprocessing_ns", "sampling_ns", "postprocessing_ns"}


def test_pt_is_seeded_persistent_and_validates_its_ladder():
    bqm = frustrated_ring(20).change_vartype("BINARY", inplace=False)
    kw = dict(beta=2.0, num_reads=30, method="pt", num_sweeps=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BoltzmannSampler().sample(bqm, seed=3, **kw)
        b = BoltzmannSampler().sample(bqm, seed=3, **kw)
        np.testing.assert_array_equal(a.record.sample, b.record.sample)
        assert a.info["betas"][-1] == 2.0
        assert len(a.info["swap_acceptance"]) == a.info["num_replicas"] - 1
        ladder = a.info["betas"]
        c = BoltzmannSampler().sample(bqm, seed=4, initial_states=a, betas=ladder, **kw)
    assert c.info["betas"] == ladder and c.info["adapted"] is False
    np.testing.assert_allclose(c.record.energy, bqm.energies(c))
    # frozen at a huge beta, the chains stay in the (ground) states they were given
    ground = np.ones((5, 20), dtype=np.int8)
    d = BoltzmannSampler().sample(frustrated_ring(20), beta=50.0, num_reads=5, method="pt",
                                  num_sweeps=8, betas=[40.0, 50.0],
                                  initial_states=(ground, list(range(20))), seed=0)
    assert (d.record.sample == 1).all()
    for bad, match in [({"betas": [0.5, 0.4, 2.0]}, "strictly increasing"),
                       ({"betas": [0.5, 1.0]}, "must end at the target beta=2"),
                       ({"num_replicas": 1}, r"num_replicas must be an integer in \[2, 256\]"),
                       ({"beta_min": 3.0}, r"beta_min must be in \(0, beta=2\)")]:
        with pytest.raises(SamplerArgumentError, match=match):
            BoltzmannSampler().sample(bqm, **{**kw, **bad})
