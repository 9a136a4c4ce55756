"""Live D-Wave QPU checks (``sampling.qpu``). They use QPU time, so they run only when

1. a Leap API token is configured (``dwave config create`` or ``DWAVE_API_TOKEN``; checked locally,
   without network), and
2. ``ANNEALER_CNN_QPU_TESTS=1`` is set (an explicit opt-in: a configured token alone must not spend
   QPU time on every ``pytest`` run).

Run: ``ANNEALER_CNN_QPU_TESTS=1 pytest tests/qpu -m qpu -v`` (about 10 QPU calls, < 1 s of QPU
access time). Optional: ``ANNEALER_CNN_QPU_SOLVER=Advantage_system4.1``.
"""

import os

import numpy as np
import pytest
import torch

from rbm import ConvRBM
from sampling import make_sampler
from sampling.qpu import qpu_token_configured
from tests.models import seeded_dense_rbm

_TOKEN_OK, _TOKEN_REASON = qpu_token_configured()

pytestmark = [
    pytest.mark.qpu,
    pytest.mark.skipif(not _TOKEN_OK, reason=f"live QPU tests: {_TOKEN_REASON}"),
    pytest.mark.skipif(
        os.environ.get("ANNEALER_CNN_QPU_TESTS") != "1",
        reason="live QPU tests spend QPU time: set ANNEALER_CNN_QPU_TESTS=1 to run them",
    ),
]


@pytest.fixture(scope="module")
def options(tmp_path_factory):
    opts = dict(cache_dir=tmp_path_factory.mktemp("embeddings"), seed=0, num_reads=1000)
    solver = os.environ.get("ANNEALER_CNN_QPU_SOLVER")
    if solver:
        opts["solver"] = solver
    return opts


def strong_rbm(n_v=10, n_h=6, std=1.0, seed=0):
    return seeded_dense_rbm(n_v, n_h, std, seed)


def test_dense_rbm_calibrates_to_the_target_beta(options):
    sampler = make_sampler("qpu", beta=1.0, tiles=8, **options)
    model = strong_rbm()
    infos = []
    for _ in range(6):
        v, h = sampler.sample(model, torch.zeros(2000, 10))
        infos.append(dict(sampler.last_info))
    assert v.shape == (2000, 10) and h.shape == (2000, 6)
    last = infos[-1]
    print({k: last[k] for k in ("beta_eff", "beta_hw_calibrated", "chain_break_fraction",
                                "qpu_access_time", "num_qubits", "max_chain_length")})
    assert last["embedding"] == "memory" and last["qpu_access_time"] > 0
    assert "qpu_programming_time" in last["qpu_timing"]
    assert np.isfinite(last["beta_hw_calibrated"]) and last["beta_hw_calibrated"] > 0
    assert last["beta_eff"] == pytest.approx(1.0, rel=0.25)  # a real QPU is only ~Boltzmann


def test_conv_rbm_on_a_small_canvas(options):
    model = ConvRBM(1, 4, 3, pool_size=2)
    sampler = make_sampler("qpu", beta=1.0, canvas=(1, 6, 6), tiles=2, num_chains=200, **options)
    v, h = sampler.sample(model, torch.zeros(4, 1, 12, 12))
    assert v.shape == (200, 1, 6, 6) and h.shape == (200, 4, 4, 4)
    assert sampler.last_info["hidden_resampled"]
