"""The ``qpu`` pipeline, run for real offline on ``mock-qpu`` (sampling.qpu).

The mock is a MockDWaveSampler on Pegasus P6 whose substitute samples exp(-3 · E_programmed): the
hidden "hardware" inverse temperature is 3 and the samplers start from a wrong guess (β_hw = 1), so
calibration has something to find. Statistical checks are on a strongly coupled 10×6 RBM (W std
1.5, docs/design.md §3) and are shown to have power (exact samples 15 % off in β fail the same check).
"""

import io
import logging

import dimod
import numpy as np
import pytest
import requests
import torch

from rbm import ConvRBM
from sampling import make_sampler
from sampling.bqm import spec_to_bqm
from sampling.diagnostics import compare_to_exact, within_noise_floor
from sampling.enumeration import exact_distribution, exact_sample
from sampling.qpu import (
    LogicalIsing,
    MockQPUSampler,
    QPUBackend,
    QPUSampler,
    QPUSamplingError,
    QPUUnavailableError,
    estimate_qpu_access_time,
    qpu_token_configured,
)
from sampling.qpu.mock import make_mock_dwave_sampler
from tests.models import seeded_dense_rbm

HIDDEN = 3.0  # the mock's hidden hardware inverse temperature
FAST = dict(num_sweeps_hold=100, num_sweeps_anneal=50)  # substitute SA schedule used in tests




def strong_rbm(n_v=10, n_h=6, std=1.5, seed=0):
    return seeded_dense_rbm(n_v, n_h, std, seed)


def mock_sampler(**kw):
    opts = dict(beta=1.0, tiles=8, hardware_beta=HIDDEN, beta_hw=1.0, seed=0, **FAST)
    opts.update(kw)
    return MockQPUSampler(**opts)


def exact_joint(model, beta=1.0):
    _, p = exact_distribution(spec_to_bqm(model.to_qm()), beta=beta)
    return p


def visible_marginal(p, n_h):
    return p.reshape(-1, 1 << n_h).sum(1)


# --------------------------------------------------------------------------- statistics


@pytest.fixture(scope="module")
def calibrated_run():
    """8 calibration calls of 1000 samples, then 20 000 samples at the target β = 1."""
    torch.set_num_threads(1)
    model = strong_rbm()
    sampler = mock_sampler()
    infos = []
    for _ in range(8):
        sampler.sample(model, torch.zeros(1000, 10))
        infos.append(dict(sampler.last_info))
    sampler.num_chains = 20000
    v, h = sampler.sample(model, torch.zeros(1, 10))
    return model, sampler, infos, v, h


def test_kl_to_exact_within_twice_the_noise_floor_after_calibration(calibrated_run):
    model, sampler, _, v, h = calibrated_run
    assert v.shape == (20000, 10) and h.shape == (20000, 6)
    p = exact_joint(model)
    x = torch.cat([v, h], 1).numpy().astype(np.int8)
    joint = compare_to_exact(x, p)
    visible = compare_to_exact(x[:, :10], visible_marginal(p, 6))
    print("joint", joint, "\nvisible", visible, "\nbeta_eff", sampler.last_info["beta_eff"])
    assert within_noise_floor(joint, 2.0) and within_noise_floor(visible, 2.0)
    assert sampler.last_info["beta_eff"] == pytest.approx(1.0, rel=0.05)


def test_the_kl_check_has_power():
    """Exact samples 15 % off in β fail the visible-marginal check that the mock passes."""
    model = strong_rbm()
    bqm = spec_to_bqm(model.to_qm())
    pv = visible_marginal(exact_joint(model), 6)
    for beta in (0.85, 1.15):
        ss = exact_sample(bqm, beta, num_reads=20000, seed=1)
        x = np.asarray(ss.record.sample)[:, [list(ss.variables).index(i) for i in range(10)]]
        assert not within_noise_floor(compare_to_exact(x, pv), 2.0)


def test_uncalibrated_mock_samples_at_the_hidden_temperature():
    """Without calibration (β_hw = 1 believed) the samples are at 3β: far outside the floor."""
    model = strong_rbm()
    sampler = mock_sampler(calibrate=False, num_chains=5000)
    v, _ = sampler.sample(model, torch.zeros(1, 10))
    pv = visible_marginal(exact_joint(model), 6)
    assert not within_noise_floor(compare_to_exact(v.numpy().astype(np.int8), pv), 2.0)
    # ~2.6, not 3: at this scale the chain strength is capped at 1 and chains break more often
    assert sampler.last_info["beta_eff"] > 2.0
    assert sampler.backend.calibrator.beta_hw == 1.0


def test_calibration_recovers_the_hidden_temperature_factor(calibrated_run):
    _, sampler, infos, _, _ = calibrated_run
    cal = sampler.backend.calibrator
    print("beta_hw per call", [round(i["beta_hw_calibrated"], 3) for i in infos])
    assert cal.beta_hw == pytest.approx(HIDDEN, rel=0.10)
    assert infos[0]["beta_eff"] > 2.0  # first call (guess 1) is far too cold ...
    assert infos[-1]["beta_eff"] == pytest.approx(1.0, rel=0.05)  # ... the last is on target
    assert infos[-1]["scale"] == pytest.approx(1.0 / infos[-2]["beta_hw_calibrated"])
    assert 0 < infos[-1]["chain_break_fraction"] < 0.05
    assert cal.num_updates == 9


def test_tiles_are_independent_and_each_correct():
    """Each of 16 tiles follows the exact distribution, and tiles of one read are uncorrelated."""
    model = strong_rbm(4, 2, std=2.0, seed=3)
    spec = model.to_qm()
    ising = LogicalIsing.from_spec(spec)
    backend = QPUBackend(sampler=make_mock_dwave_sampler(hardware_beta=HIDDEN, seed=5, **FAST),
                         tiles=16, beta_hw=HIDDEN, calibrate=False, cache_dir=False, seed=0)
    reads = 1500
    spins, info = backend.sample_ising(ising, 1.0, reads * 16)
    assert info["num_reads"] == reads and info["qpu_calls"] == 1 and info["tiles"] == 16
    per_tile = spins.reshape(reads, 16, 6)
    p = exact_joint(model)
    for t in range(16):
        rep = compare_to_exact(per_tile[:, t], p)
        assert within_noise_floor(rep, 2.0), (t, rep)
    energy = ising.energy(spins).reshape(reads, 16)
    corr = np.corrcoef(energy.T)[np.triu_indices(16, 1)]
    assert np.abs(corr).max() < 4.5 / np.sqrt(reads)  # 120 pairs, |r| ~ N(0, 1/√reads)
    # all 16 copies together satisfy the pooled check too
    assert within_noise_floor(compare_to_exact(spins, p), 2.0)


# --------------------------------------------------------------------------- embedding reuse


def count_minorminer(monkeypatch):
    import minorminer

    calls = []
    real = minorminer.find_embedding

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(minorminer, "find_embedding", counting)
    return calls


def test_embedding_is_found_once_and_reused(monkeypatch, tmp_path):
    calls = count_minorminer(monkeypatch)
    model = strong_rbm(6, 3)
    sampler = mock_sampler(tiles=4, cache_dir=tmp_path)
    for i in range(3):
        with torch.no_grad():
            model.weight.add_(0.1)  # new values, same structure: same embedding
        sampler.sample(model, torch.zeros(40, 6))
        assert sampler.last_info["embedding"] == ("search" if i == 0 else "memory")
    assert len(calls) == 1
    assert sampler.backend.stats["searches"] == 1 and sampler.backend.stats["memory_hits"] == 2
    # a new sampler (new process) finds it on disk: no minorminer call
    again = mock_sampler(tiles=4, cache_dir=tmp_path)
    again.sample(model, torch.zeros(40, 6))
    assert again.last_info["embedding"] == "disk" and len(calls) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1
    # other tiles or another shape: another problem graph, another search
    mock_sampler(tiles=2, cache_dir=tmp_path).sample(model, torch.zeros(40, 6))
    mock_sampler(tiles=4, cache_dir=tmp_path).sample(strong_rbm(5, 3), torch.zeros(40, 5))
    assert len(calls) == 3 and len(list(tmp_path.glob("*.json"))) == 3


def test_cached_embedding_is_rechecked_against_the_solver(monkeypatch, tmp_path, caplog):
    calls = count_minorminer(monkeypatch)
    model = strong_rbm(6, 3)
    first = mock_sampler(tiles=2, cache_dir=tmp_path)
    first.sample(model, torch.zeros(20, 6))
    (path,) = tmp_path.glob("*.json")
    path.write_text(path.read_text().replace('"embedding": {"0": [', '"embedding": {"0": [99999, '))
    with caplog.at_level(logging.WARNING):
        second = mock_sampler(tiles=2, cache_dir=tmp_path)
        second.sample(model, torch.zeros(20, 6))
    assert "invalid for this solver" in caplog.text
    assert second.last_info["embedding"] == "search" and len(calls) == 2


# --------------------------------------------------------------------------- scaling and ranges


def recording(mock):
    seen = []
    real = mock.sample

    def sample(bqm, **kwargs):
        seen.append((bqm, kwargs))
        return real(bqm, **kwargs)

    mock.sample = sample
    return seen


def test_programmed_problem_is_scaled_and_uses_raw_unscaled_reads():
    from dwave.embedding.chain_strength import uniform_torque_compensation

    model = strong_rbm(6, 3, std=0.5)
    mock = make_mock_dwave_sampler(hardware_beta=HIDDEN, seed=1, **FAST)
    seen = recording(mock)
    sampler = QPUSampler(sampler=mock, beta=0.8, beta_hw=4.0, calibrate=False, tiles=1,
                         cache_dir=False, seed=0, annealing_time=50.0)
    sampler.sample(model, torch.zeros(30, 6))
    (bqm, kwargs), = seen
    assert kwargs["answer_mode"] == "raw" and kwargs["auto_scale"] is False
    assert kwargs["num_reads"] == 30 and kwargs["annealing_time"] == 50.0
    ising = LogicalIsing.from_spec(model.to_qm())
    scaled = dimod.BinaryQuadraticModel.from_numpy_vectors(0.2 * ising.h, (ising.rows, ising.cols, 0.2 * ising.J), 0, "SPIN")
    info = sampler.last_info
    assert info["scale"] == pytest.approx(0.2)
    utc = uniform_torque_compensation(scaled, prefactor=2.0)
    assert utc < 0.5  # a weak problem: the thermal floor chain_strength_floor / beta_hw decides
    assert info["chain_strength"] == pytest.approx(max(utc, 2.0 / 4.0))
    # total field per logical variable and total coupling per logical edge are preserved
    emb = next(iter(sampler.backend._embeddings.values()))
    for u in range(ising.n):
        assert sum(bqm.get_linear(q) for q in emb.embedding[u]) == pytest.approx(0.2 * ising.h[u])


def test_out_of_range_biases_are_clipped_with_a_warning(caplog):
    model = strong_rbm(6, 3, std=3.0)
    mock = make_mock_dwave_sampler(hardware_beta=HIDDEN, seed=1, **FAST)
    seen = recording(mock)
    sampler = QPUSampler(sampler=mock, beta=2.0, beta_hw=1.0, calibrate=False, cache_dir=False,
                         seed=0, max_clip_fraction=1.0)  # clip whatever it takes
    with caplog.at_level(logging.WARNING, logger="sampling.qpu"):
        sampler.sample(model, torch.zeros(10, 6))
    factor = sampler.last_info["range_factor"]
    assert factor > 1.5
    assert f"by up to {factor:.3g}x" in caplog.text and "clipped" in caplog.text
    bqm = seen[0][0]
    assert max(abs(b) for b in bqm.quadratic.values()) <= 1.0 + 1e-12
    assert max(abs(b) for b in bqm.linear.values()) <= 4.0 + 1e-12


def test_rescale_policy_fits_the_range_and_reports_the_implied_beta(caplog):
    model = strong_rbm(6, 3, std=3.0)
    mock = make_mock_dwave_sampler(hardware_beta=HIDDEN, seed=1, **FAST)
    seen = recording(mock)
    sampler = QPUSampler(sampler=mock, beta=2.0, beta_hw=1.0, calibrate=False, cache_dir=False,
                         seed=0, range_policy="rescale")
    with caplog.at_level(logging.WARNING, logger="sampling.qpu"):
        sampler.sample(model, torch.zeros(10, 6))
    assert "clipped" not in caplog.text
    info = sampler.last_info
    assert info["range_factor"] > 1.5
    assert info["beta_implied"] == pytest.approx(2.0 / info["range_factor"])
    assert info["scale"] == pytest.approx(2.0 / info["range_factor"])
    bqm = seen[0][0]
    emb = next(iter(sampler.backend._embeddings.values()))
    owner = {q: u for u, chain in emb.embedding.items() for q in chain}
    logical_j = [abs(b) for (p, q), b in bqm.quadratic.items() if owner[p] != owner[q]]
    h_ratio = max(abs(b) for b in bqm.linear.values()) / 4.0
    assert max(max(logical_j), h_ratio) == pytest.approx(1.0)  # the largest bias is at the limit
    assert max(logical_j) <= 1.0 + 1e-12 and h_ratio <= 1.0 + 1e-12


def test_chain_strength_is_capped_at_the_ferromagnetic_limit():
    model = strong_rbm(6, 3, std=1.0)
    sampler = mock_sampler(beta=1.0, beta_hw=0.5, calibrate=False, tiles=4)  # big scale, chains
    sampler.sample(model, torch.zeros(10, 6))
    assert sampler.last_info["chain_strength"] == 1.0


# --------------------------------------------------------------------------- interface


def test_make_sampler_spin_reversal_and_timing():
    model = strong_rbm(6, 3)
    sampler = make_sampler("mock-qpu", beta=1.0, tiles=4, spin_reversal_transforms=3, seed=0,
                           hardware_beta=HIDDEN, beta_hw=HIDDEN, calibrate=False, **FAST)
    v, h = sampler.sample(model, torch.zeros(300, 6))
    info = sampler.last_info
    assert v.shape == (300, 6) and h.shape == (300, 3) and v.dtype == torch.float32
    assert info["qpu_calls"] == 3 and info["num_reads"] == 75
    assert info["qpu_access_time"] == pytest.approx(3 * 8550.28)  # MockDWaveSampler's timing
    assert info["qpu_timing"]["qpu_programming_time"] == pytest.approx(3 * 8468.2)
    assert info["beta_eff"] == pytest.approx(1.0, rel=0.15)
    with pytest.raises(ValueError, match="unknown mock-qpu sampler options"):
        make_sampler("mock-qpu", tilez=3)
    assert isinstance(make_sampler("qpu"), QPUSampler)  # lazy: no connection at construction


def test_state_dict_round_trip_continues_identically():
    model = strong_rbm(6, 3)
    a = mock_sampler(tiles=2)
    for _ in range(3):
        a.sample(model, torch.zeros(50, 6))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)  # a checkpoint holds plain values: weights_only loads it
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    b = mock_sampler(tiles=2, seed=123)
    b.load_state_dict(state)
    assert b.backend.calibrator.beta_hw == a.backend.calibrator.beta_hw
    va, _ = a.sample(model, torch.zeros(50, 6))
    vb, _ = b.sample(model, torch.zeros(50, 6))
    assert torch.equal(va, vb)
    with pytest.raises(ValueError, match="comes from"):
        make_sampler("pcd").load_state_dict(state)


def test_conv_rbm_with_pooling_on_a_small_canvas():
    g = torch.Generator().manual_seed(0)
    model = ConvRBM(1, 2, 3, pool_size=2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    sampler = mock_sampler(canvas=(1, 6, 6), tiles=2, num_chains=40)
    v, h = sampler.sample(model, torch.zeros(8, 1, 28, 28))
    assert v.shape == (40, 1, 6, 6) and h.shape == (40, 2, 4, 4)
    blocks = h.reshape(40, 2, 2, 2, 2, 2).sum(dim=(3, 5))
    assert blocks.max() <= 1  # h redrawn exactly from p(h | v): pooling always valid
    info = sampler.last_info
    assert info["hidden_resampled"] and 0 <= info["pooling_violation_fraction"] <= 1
    assert info["canvas"] == (1, 6, 6)


def test_dimod_front_methods():
    from sampling.boltzmann import BoltzmannSampler

    bqm = dimod.BinaryQuadraticModel({"a": 0.3, "b": -0.2, "c": 0.1},
                                     {("a", "b"): -0.8, ("b", "c"): 0.6}, 0.0, "BINARY")
    ss = BoltzmannSampler().sample(bqm, beta=1.0, num_reads=2000, method="mock-qpu", seed=1,
                                   tiles=8, **FAST)
    assert list(ss.variables) == ["a", "b", "c"] and ss.vartype is dimod.BINARY and len(ss) == 2000
    assert ss.info["method"] == "mock-qpu" and ss.info["calibration_rounds"] == 3
    _, p = exact_distribution(bqm, beta=1.0)
    rep = compare_to_exact(ss, p, variables=bqm.variables)
    assert within_noise_floor(rep, 2.0), rep
    assert {"qpu", "mock-qpu"} <= set(BoltzmannSampler().properties["methods"])


# --------------------------------------------------------------------------- failures


@pytest.fixture
def no_dwave_config(monkeypatch, tmp_path):
    empty = tmp_path / "dwave.conf"
    empty.write_text("")
    for var in ("DWAVE_API_TOKEN", "DWAVE_PROFILE", "DWAVE_API_SOLVER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DWAVE_CONFIG_FILE", str(empty))

    import dwave.system

    def no_network(*args, **kwargs):
        raise AssertionError("DWaveSampler must not be constructed without a token")

    monkeypatch.setattr(dwave.system, "DWaveSampler", no_network)
    return empty


def test_missing_token_gives_one_clear_message(no_dwave_config):
    assert qpu_token_configured() == (False, pytest.approx(qpu_token_configured()[1]))
    sampler = make_sampler("qpu", beta=1.0)
    with pytest.raises(QPUUnavailableError) as err:
        sampler.sample(strong_rbm(4, 2), torch.zeros(5, 4))
    msg = str(err.value)
    for part in ("no D-Wave API token", "dwave config create", "DWAVE_API_TOKEN",
                 "--sampler sa", "mock-qpu"):
        assert part in msg
    assert isinstance(err.value, RuntimeError)


def test_unreachable_leap_gives_the_same_error(monkeypatch, no_dwave_config):
    import dwave.system

    monkeypatch.setenv("DWAVE_API_TOKEN", "DEV-not-a-real-token")
    assert qpu_token_configured()[0]

    def unreachable(**kwargs):
        raise requests.exceptions.ConnectionError("Name or service not known")

    monkeypatch.setattr(dwave.system, "DWaveSampler", unreachable)
    with pytest.raises(QPUUnavailableError, match="connecting to Leap failed.*dwave config create"):
        make_sampler("qpu").sample(strong_rbm(4, 2), torch.zeros(5, 4))


class Flaky:
    """Raises ``errors`` one by one on sample(), then delegates to the mock."""

    def __init__(self, mock, errors):
        self.mock, self.errors = mock, list(errors)
        self.properties, self.nodelist, self.edgelist = mock.properties, mock.nodelist, mock.edgelist
        self.attempts = 0

    def sample(self, bqm, **kwargs):
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.mock.sample(bqm, **kwargs)


def flaky_sampler(errors, **kw):
    from dwave.cloud.exceptions import RequestTimeout

    errors = [RequestTimeout("timed out") if e is None else e for e in errors]
    child = Flaky(make_mock_dwave_sampler(hardware_beta=HIDDEN, seed=1, **FAST), errors)
    sampler = QPUSampler(sampler=child, cache_dir=False, seed=0, max_retries=3, retry_delay=0.001,
                         retry_backoff=2.0, **kw)
    delays = []
    sampler.backend.sleep = delays.append
    return sampler, child, delays


def test_transient_errors_are_retried_with_exponential_backoff(caplog):
    sampler, child, delays = flaky_sampler([None, requests.exceptions.ConnectionError("reset")])
    with caplog.at_level(logging.WARNING):
        v, _ = sampler.sample(strong_rbm(4, 2), torch.zeros(5, 4))
    assert v.shape == (5, 4) and child.attempts == 3
    assert delays == pytest.approx([0.001, 0.002])
    assert "retry 1/3" in caplog.text and sampler.backend.stats["retries"] == 2


def test_persistent_failure_ends_cleanly_after_bounded_retries():
    sampler, child, delays = flaky_sampler([None] * 10)
    with pytest.raises(QPUSamplingError, match="failed after 4 attempts.*RequestTimeout"):
        sampler.sample(strong_rbm(4, 2), torch.zeros(5, 4))
    assert child.attempts == 4 and delays == pytest.approx([0.001, 0.002, 0.004])


def test_auth_and_problem_errors_are_not_retried():
    from dwave.cloud.exceptions import SolverAuthenticationError

    sampler, child, _ = flaky_sampler([SolverAuthenticationError("invalid token")])
    with pytest.raises(QPUUnavailableError, match="refused.*dwave config create"):
        sampler.sample(strong_rbm(4, 2), torch.zeros(5, 4))
    assert child.attempts == 1
    sampler, child, _ = flaky_sampler([ValueError("bad problem")])
    with pytest.raises(ValueError, match="bad problem"):
        sampler.sample(strong_rbm(4, 2), torch.zeros(5, 4))
    assert child.attempts == 1


def test_qpu_access_time_estimate_follows_the_sapi_timing_model():
    from dwave.cloud.testing.mocks import qpu_problem_timing_data

    td = qpu_problem_timing_data("advantage")
    t1 = estimate_qpu_access_time(200, 1)
    t101 = estimate_qpu_access_time(200, 101)
    per_read = (t101 - t1) / 100
    q = td["readout_time_model_parameters"]
    readout = 10 ** np.interp(np.log10(200), q[:6], q[6:])
    assert per_read == pytest.approx(20.0 + readout + td["qpu_delay_time_per_sample"])
    assert t1 == pytest.approx(td["typical_programming_time"] + td["default_programming_thermalization"] + per_read)
    assert estimate_qpu_access_time(200, 1, annealing_time=100.0) == pytest.approx(t1 + 80.0)


def test_substitute_sweep_updates_every_qubit_so_one_hold_sweep_forgets_its_start():
    """One fixed-β sweep of the mock's substitute from all-ones, on 64 independent qubits with
    p(1) = 0.001: a systematic scan gives p exactly (a random-order sweep leaves ~37 % stale)."""
    from sampling.qpu.mock import BoltzmannSubstitute

    n, p, reads = 64, 0.001, 1000
    bqm = dimod.BinaryQuadraticModel({i: np.log(1 / p - 1) for i in range(n)}, {}, 0.0, "BINARY")
    sub = BoltzmannSubstitute(1.0, num_sweeps_hold=1, num_sweeps_anneal=0, seed=0)
    start = np.ones((reads, n), dtype=np.int8)
    ss = sub.sample(bqm, num_reads=reads, initial_states=(start, list(range(n))),
                    initial_states_generator="none", answer_mode="raw", auto_scale=False)
    x = ss.record.sample[:, [ss.variables.index(i) for i in range(n)]]
    assert x.shape == (reads, n)
    assert abs(x.mean() - p) < 5 * np.sqrt(p * (1 - p) / x.size), x.mean()


# --------------------------------------------------------------------------- calibration cost


def tracked_mock_backend(**kw):
    """A QPUBackend over the offline mock whose substitute is wrapped in dimod.TrackingComposite:
    its ``inputs`` list every submission reaching the (mock) hardware, with its num_reads."""
    mock = make_mock_dwave_sampler(hardware_beta=HIDDEN, seed=1, **FAST)
    hidden = mock.substitute_sampler
    mock.substitute_sampler = dimod.TrackingComposite(hidden)
    backend = QPUBackend(sampler=mock, beta_hw=1.0, tiles=4, cache_dir=False, seed=0, **kw)
    return backend, mock.substitute_sampler, hidden


def submitted_reads(tracker):
    return sum(int(inp["num_reads"]) for inp in tracker.inputs)


def frustrated_triangle(scale=1.0):
    return dimod.BinaryQuadraticModel({"a": 0.3 * scale, "b": -0.2 * scale, "c": 0.1 * scale},
                                      {("a", "b"): -0.8 * scale, ("b", "c"): 0.6 * scale,
                                       ("a", "c"): 0.5 * scale}, 0.0, "SPIN")


def test_calibration_is_paid_once_per_structure():
    from sampling.qpu.front import sample_bqm

    backend, tracker, _ = tracked_mock_backend()
    first = sample_bqm(backend, frustrated_triangle(), 1.0, 2000, calibration_rounds=3)
    assert first.info["calibrated"] and first.info["calibration_reads"] == 3 * 500
    # 4 tiles per read: 500 reads -> 125 submitted reads per calibration request, 2000 -> 500
    assert submitted_reads(tracker) == 3 * 125 + 500 and len(tracker.inputs) == 4
    second = sample_bqm(backend, frustrated_triangle(1.2), 1.0, 2000, calibration_rounds=3)
    assert not second.info["calibrated"] and second.info["calibration_reads"] == 0
    assert submitted_reads(tracker) == 3 * 125 + 2 * 500 and len(tracker.inputs) == 5
    assert second.info["drift"] < 0.25
    other = dimod.BinaryQuadraticModel({"a": 0.3}, {("a", "b"): -0.8}, 0.0, "SPIN")
    assert sample_bqm(backend, other, 1.0, 400, calibration_rounds=3).info["calibrated"]


def test_a_drifted_hardware_temperature_triggers_recalibration():
    from sampling.qpu.front import sample_bqm

    backend, tracker, hidden = tracked_mock_backend()
    sample_bqm(backend, frustrated_triangle(), 1.0, 2000, calibration_rounds=3)
    hidden.schedule = 2 * hidden.schedule  # the hardware is now twice as cold
    ss = sample_bqm(backend, frustrated_triangle(), 1.0, 2000, calibration_rounds=3)
    assert ss.info["drift_recalibrated"] and ss.info["calibrated"]
    assert ss.info["drift"] < 0.25 and backend.calibrator.beta_hw == pytest.approx(6.0, rel=0.2)
    assert len(tracker.inputs) == 4 + 1 + 3 + 1  # first call; drifted draw, 3 calibrations, redraw


def test_dimod_front_calibrates_on_the_first_call_only():
    from sampling.boltzmann import BoltzmannSampler

    opts = dict(method="mock-qpu", tiles=6, hardware_beta=2.5, beta_hw=1.0, **FAST)
    first = BoltzmannSampler().sample(frustrated_triangle(), beta=1.0, num_reads=600, seed=2, **opts)
    second = BoltzmannSampler().sample(frustrated_triangle(0.9), beta=1.0, num_reads=600, seed=3,
                                       **opts)
    assert first.info["calibration_rounds"] == 3 and second.info["calibration_rounds"] == 0
    assert first.info["calibrated"] and not second.info["calibrated"]
