"""The QPU path on the models the pipeline trains, offline on ``mock-qpu``: pooled conv RBMs by
post-selection (sampling.qpu.pooling), calibration that cannot run away, chains that hold on weak
problems, refused draws, the Callen consistency check, and the non-ideal mock with gauges.

Every statistical check compares with exact enumeration (sampling.exact / sampling.enumeration)
against the i.i.d. noise floor of the same number of samples, with fixed seeds, and is shown to
fail on a wrong β, a wrong penalty or an ungauged non-ideal device.
"""

import logging

import numpy as np
import pytest
import torch

from rbm import ConvRBM
from sampling.bqm import spec_to_bqm
from sampling.diagnostics import compare_to_exact, within_noise_floor
from sampling.enumeration import exact_distribution
from sampling.exact import ExactSampler, marginal_table
from sampling.qpu import MockQPUSampler, QPUSamplingError, TemperatureCalibrator
from sampling.qpu.errors import QPURangeError
from sampling.qpu.mock import REALISTIC_NOISE, BoltzmannSubstitute, Noise
from sampling.qpu.pooling import modest_pool_penalty
from tests.models import seeded_dense_rbm

FAST = dict(num_sweeps_hold=100, num_sweeps_anneal=50)
CANVAS = (1, 4, 4)




def pooled_conv(std, seed=0, pool_penalty=None):
    """1 channel, 2 filters 3x3, 2x2 pooling: on a 4x4 canvas 16 pixels and 2 pooling blocks."""
    g = torch.Generator().manual_seed(seed)
    m = ConvRBM(1, 2, 3, pool_size=2, pool_penalty=pool_penalty)
    with torch.no_grad():
        m.weight.copy_(std * torch.randn(m.weight.shape, generator=g))
        m.visible_bias.copy_(0.3 * torch.randn(m.visible_bias.shape, generator=g))
        m.hidden_bias.copy_(0.3 * torch.randn(m.hidden_bias.shape, generator=g))
    return m


def dense(std, n_v=10, n_h=6, seed=0):
    return seeded_dense_rbm(n_v, n_h, std, seed)


def pooled_reports(model, v, h):
    """compare_to_exact of the visible (2^16 states) and hidden (25 valid states) marginals."""
    n = v.shape[0]
    rv = compare_to_exact(v.reshape(n, -1).numpy().astype(np.int8),
                          marginal_table(model, "visible", CANVAS))
    rh = compare_to_exact(h.reshape(n, -1).numpy().astype(np.int8),
                          marginal_table(model, "hidden", CANVAS))
    return rv, rh


def calibrated_draw(sampler, model, shape, calls=4, n=10000):
    for _ in range(calls):
        sampler.num_chains = 1000
        sampler.sample(model, torch.zeros(1, *shape))
    sampler.num_chains = n
    return sampler.sample(model, torch.zeros(1, *shape))


# --------------------------------------------------------------------------- pooling


def test_pooled_conv_rbm_is_within_the_noise_floor_without_clipping():
    """17.1: a pooled conv RBM with weights N(0, 1) through the calibrated mock."""
    model = pooled_conv(1.0)
    sampler = MockQPUSampler(beta=1.0, tiles=4, hardware_beta=3.0, seed=0, canvas=CANVAS, **FAST)
    v, h = calibrated_draw(sampler, model, CANVAS)
    info = sampler.last_info
    rv, rh = pooled_reports(model, v, h)
    print("visible", rv, "\nhidden", rh, "\ninfo", {k: info[k] for k in (
        "pooling_acceptance", "range_factor", "pool_penalty", "beta_eff", "chain_break_fraction")})
    assert within_noise_floor(rv, 2.0) and within_noise_floor(rh, 2.0)
    assert info["range_factor"] == 1.0 and info["range_action"] == "fit"  # nothing clipped
    assert 0.5 < info["pooling_acceptance"] < 1.0 and info["pooling_drawn"] > 10000
    spec = model.to_qm(CANVAS)
    # the programmed penalty is the largest unit gain (no +10 margin): 10 below the model's own
    assert info["pool_penalty"] == pytest.approx(modest_pool_penalty(spec))
    assert info["pool_penalty"] < spec.values.max() - 9.9
    assert h.reshape(-1, 2, 2, 2).sum((2, 3)).max() <= 1


def test_the_pooled_check_fails_on_a_wrong_beta_and_without_post_selection():
    """Power: exact samples 15 % off in β, and the modest penalty without post-selection."""
    model = pooled_conv(1.0)
    for beta in (0.85, 1.15):
        v, h = ExactSampler(beta=beta, num_chains=10000, canvas=CANVAS, seed=1).sample(
            model, torch.zeros(1, *CANVAS))
        _, rh = pooled_reports(model, v, h)
        assert not within_noise_floor(rh, 2.0), (beta, rh)
    # a weak penalty without post-selection (every read kept, h redrawn from p(h | v)): v wrong
    penalty = 0.2 * modest_pool_penalty(model.to_qm(CANVAS))
    loose = pooled_conv(1.0, pool_penalty=penalty)
    sampler = MockQPUSampler(beta=1.0, tiles=4, hardware_beta=3.0, seed=0, canvas=CANVAS,
                             post_select=False, **FAST)
    v, h = calibrated_draw(sampler, loose, CANVAS)
    print("violations", sampler.last_info["pooling_violation_fraction"])
    assert sampler.last_info["pooling_violation_fraction"] > 0.5
    rv, rh = pooled_reports(model, v, h)
    assert not (within_noise_floor(rv, 2.0) and within_noise_floor(rh, 2.0)), (rv, rh)


# --------------------------------------------------------------------------- calibration


def test_weak_dense_models_keep_their_chains_and_stay_within_the_floor():
    """17.2: σ = 0.1 got 15 % broken chains and a hidden marginal 3x off the floor."""
    model = dense(0.1)
    sampler = MockQPUSampler(beta=1.0, tiles=8, hardware_beta=3.0, seed=0, **FAST)
    v, h = calibrated_draw(sampler, model, (10,), calls=6, n=20000)
    info = sampler.last_info
    _, p = exact_distribution(spec_to_bqm(model.to_qm()), beta=1.0)
    x = torch.cat([v, h], 1).numpy().astype(np.int8)
    joint = compare_to_exact(x, p)
    visible = compare_to_exact(x[:, :10], p.reshape(-1, 64).sum(1))
    hidden = compare_to_exact(x[:, 10:], p.reshape(1024, 64).sum(0))
    print(joint, visible, hidden, info["chain_strength"], info["chain_break_fraction"])
    assert info["chain_break_fraction"] < 0.02
    assert info["chain_strength"] == pytest.approx(2.0 / sampler.backend.calibrator.beta_hw, rel=0.3)
    for report in (joint, visible, hidden):
        assert within_noise_floor(report, 2.0), report


def test_clipped_draws_cannot_run_the_calibration_away(caplog):
    """The pooled conv RBM with its own penalty (largest gain + 10, no post-selection): every
    call would clip. The estimate of β_hw went 0.25, 0.125, ... 0.008 (halving per call, the
    programmed biases 500x over the range); now it holds the hidden β_hw = 3."""
    model = pooled_conv(1.0)
    sampler = MockQPUSampler(beta=1.0, tiles=4, hardware_beta=3.0, seed=0, canvas=CANVAS,
                             post_select=False, **FAST)
    seen = []
    with caplog.at_level(logging.WARNING, logger="sampling.qpu"):
        for _ in range(6):
            sampler.sample(model, torch.zeros(500, *CANVAS))
            seen.append(sampler.last_info["beta_hw_calibrated"])
    print("beta_hw per call", seen)
    assert all(0.5 * 3.0 < b < 1.5 * 3.0 for b in seen), seen
    assert "rescaled instead" in caplog.text


def test_the_calibrator_is_bounded_around_its_start():
    cal = TemperatureCalibrator(beta_hw=3.0, bound=10.0, max_step=4.0)
    for _ in range(20):
        cal.update(beta_est=0.001, scale_used=1.0)  # absurd observations, 1000x too hot
    assert cal.beta_hw == pytest.approx(0.3)
    for _ in range(40):
        cal.update(beta_est=1e6, scale_used=1.0)
    assert cal.beta_hw == pytest.approx(30.0)


def test_too_much_clipping_without_calibration_is_refused_with_a_clear_message():
    sampler = MockQPUSampler(beta=2.0, beta_hw=1.0, calibrate=False, seed=0, **FAST)
    with pytest.raises(QPURangeError, match=r"exceed the solver's h_range.*by up to .*x: clipping "
                                            r"would change .* %.*range_policy='rescale'"):
        sampler.sample(dense(3.0, 6, 3), torch.zeros(10, 6))
    assert sampler.backend.stats["refused"] == 1 and sampler.backend.stats["qpu_calls"] == 0


def test_broken_chains_are_retried_then_refused(caplog):
    model = dense(1.5, 10, 6)
    weak = MockQPUSampler(beta=1.0, beta_hw=3.0, calibrate=False, tiles=8, seed=0,
                          chain_strength=0.05, chain_retries=0, **FAST)
    with pytest.raises(QPUSamplingError, match=r"% of the chains broke .* samples are refused"):
        weak.sample(model, torch.zeros(200, 10))
    retried = MockQPUSampler(beta=1.0, beta_hw=3.0, calibrate=False, tiles=8, seed=0,
                             chain_strength=0.2, chain_retries=6, **FAST)
    retried.sample(model, torch.zeros(200, 10))
    info = retried.last_info
    assert info["chain_draws"] > 1 and info["chain_break_fraction"] <= 0.02
    assert info["chain_strength"] > 0.2 and info["qpu_calls"] == info["chain_draws"]


# --------------------------------------------------------------------------- the non-ideal mock


def test_noise_is_per_call_offsets_are_per_qubit_and_beta_drifts():
    import dimod

    sub = BoltzmannSubstitute(3.0, num_sweeps_hold=1, num_sweeps_anneal=0, seed=0,
                              noise=Noise(**REALISTIC_NOISE))
    labels = np.array([5, 17, 400])
    again = BoltzmannSubstitute(3.0, seed=0, noise=Noise(bias_offset=0.02))
    assert np.array_equal(sub.offsets(labels), again.offsets(labels))  # fixed, from the seed
    assert 0 < np.abs(sub.offsets(np.arange(500))).std() < 0.05
    bqm = dimod.BinaryQuadraticModel({0: 0.0}, {}, 0.0, "SPIN")
    betas = []
    for _ in range(50):
        sub.sample(bqm, num_reads=1)
        betas.append(sub.last_beta)
    assert 0.05 < np.std(np.log(betas)) < 0.15 and len(set(betas)) == 50
    assert Noise().ideal and not Noise(**REALISTIC_NOISE).ideal


@pytest.fixture(scope="module")
def noisy_runs():
    """The strongly coupled 10x6 RBM (σ = 1.5) on the non-ideal mock, without and with 8 gauges."""
    torch.set_num_threads(1)
    model = dense(1.5)
    _, p = exact_distribution(spec_to_bqm(model.to_qm()), beta=1.0)
    out = {}
    for gauges in (0, 8):
        sampler = MockQPUSampler(beta=1.0, tiles=8, hardware_beta=3.0, seed=0,
                                 spin_reversal_transforms=gauges, **REALISTIC_NOISE, **FAST)
        v, _ = calibrated_draw(sampler, model, (10,), calls=6, n=20000)
        visible = compare_to_exact(v.numpy().astype(np.int8), p.reshape(-1, 64).sum(1))
        out[gauges] = (visible, dict(sampler.last_info), sampler.backend.calibrator.beta_hw)
    return out


def test_gauges_average_the_non_idealities_out(noisy_runs):
    visible, info, beta_hw = noisy_runs[8]
    print("8 gauges", visible, info["consistency_z"], beta_hw)
    assert within_noise_floor(visible, 2.0), visible
    assert info["beta_eff"] == pytest.approx(1.0, rel=0.1) and beta_hw == pytest.approx(3.0, rel=0.15)
    assert info["qpu_calls"] >= 8


def test_without_gauges_the_non_ideal_mock_fails_and_the_consistency_check_says_so(noisy_runs):
    visible, info, _ = noisy_runs[0]
    print("no gauges", visible, info["consistency_z"])
    assert not within_noise_floor(visible, 2.0)
    assert info["consistency_z"] > 8.0 > noisy_runs[8][1]["consistency_z"]


# --------------------------------------------------------------------------- cost before a run

P6 = {"topology": "pegasus", "shape": (6,), "max_reads": 10_000}


def test_the_run_estimate_counts_calls_and_access_time():
    from sampling.qpu.cost import estimate_qpu_access_time, estimate_qpu_run, format_qpu_estimate

    spec = dense(1.0, 6, 3).to_qm()
    est = estimate_qpu_run([spec], num_chains=100, batches_per_epoch=10, epochs=3, tiles=4,
                           calibration_calls=2, calibration_samples=500, solver=P6)
    (layer,) = est["layers"]
    assert layer["num_variables"] == 9 and layer["tiles"] == 4 and layer["num_qubits"] >= 36
    assert layer["reads_per_call"] == 25 and layer["qpu_calls_per_epoch"] == 10
    per_call = estimate_qpu_access_time(layer["num_qubits"], 25)
    calibration = 2 * estimate_qpu_access_time(layer["num_qubits"], 125)
    assert layer["access_time_per_call_us"]["total"] == pytest.approx(per_call)
    assert est["qpu_access_time_total_s"] == pytest.approx((30 * per_call + calibration) * 1e-6)
    gauged = estimate_qpu_run([spec], num_chains=100, batches_per_epoch=10, epochs=3, tiles=4,
                              spin_reversal_transforms=5, solver=P6)
    assert gauged["qpu_calls_per_epoch"] == 50  # one call per gauge: 5 x the programming time
    assert gauged["qpu_access_time_per_epoch_s"] > 4 * est["qpu_access_time_per_epoch_s"]
    table = format_qpu_estimate(est)
    assert "QPU s/epoch" in table and "10 QPU calls per epoch" in table


def test_a_layer_that_does_not_embed_names_the_tiles_that_do():
    from sampling.qpu.cost import estimate_qpu_run
    from sampling.qpu.embedding import EmbeddingError

    spec = dense(1.0, 16, 8).to_qm()
    small = {"topology": "pegasus", "shape": (3,), "max_reads": 10_000}
    with pytest.raises(EmbeddingError, match=r"layer 0: 8 tiles do not embed on pegasus \[3\]; "
                                             r"the largest tile count that embeds is \d"):
        estimate_qpu_run([spec], num_chains=64, batches_per_epoch=1, epochs=1, tiles=8,
                         solver=small)
