"""Fixed embeddings (sampling.qpu.embedding) and temperature calibration (sampling.qpu.calibration).

No annealing here: the (un)embedding is checked against dwave.embedding's reference functions,
the disk cache round-trips, and the MPL estimate / calibration update are checked on exact data.
"""

import json
import logging

import dimod
import numpy as np
import pytest
from dwave.embedding import embed_bqm, majority_vote
from dwave.system.temperatures import effective_field

from sampling.qpu.calibration import TemperatureCalibrator, effective_fields, mpl_beta
from sampling.qpu.embedding import (
    EmbeddedProblem,
    EmbeddingCache,
    EmbeddingError,
    problem_key,
    search_embedding,
    tile_edges,
)
from sampling.qpu.ising import LogicalIsing


def pegasus_edges(m=3):
    from dwave.system import qpu_graph

    return np.array(list(qpu_graph("pegasus", [m], None, None).edges), dtype=np.int64)


def k_graph(n_v=5, n_h=3):
    rows = np.repeat(np.arange(n_v), n_h)
    cols = n_v + np.tile(np.arange(n_h), n_v)
    return n_v + n_h, rows, cols


@pytest.fixture(scope="module")
def embedded():
    """K_12 tiled twice on Pegasus P3: chains of lengths 1, 2 and 3 (seeded minorminer)."""
    n = 12
    rows, cols = np.triu_indices(n, 1)
    target = pegasus_edges()
    r2, c2 = tile_edges(rows, cols, n, 2)
    chains = search_embedding(2 * n, r2, c2, target, seed=0)
    return EmbeddedProblem(2 * n, r2, c2, chains, target), target, (r2, c2)


def test_tile_edges_makes_disjoint_copies():
    r, c = tile_edges(np.array([0, 1]), np.array([1, 2]), 3, 3)
    assert list(zip(r.tolist(), c.tolist(), strict=True)) == [(0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8)]


def test_embed_matches_dwave_embed_bqm(embedded):
    emb, target, (rows, cols) = embedded
    assert set(emb.chain_len.tolist()) == {1, 2, 3}
    rng = np.random.default_rng(0)
    h = rng.normal(size=emb.n)
    J = rng.normal(size=len(rows))
    prog = emb.embed(h, J, chain_strength=1.7)
    ours = prog.to_bqm()
    logical = dimod.BinaryQuadraticModel.from_numpy_vectors(h, (rows, cols, J), 0.0, "SPIN")
    ref = embed_bqm(logical, emb.embedding, _adjacency(target),
                    chain_strength=1.7)
    assert set(ours.variables) == set(ref.variables)
    for q in ref.variables:
        assert ours.get_linear(q) == pytest.approx(ref.get_linear(q), abs=1e-12)
    assert ours.num_interactions == ref.num_interactions
    for (p, q), bias in ref.quadratic.items():
        assert ours.get_quadratic(p, q) == pytest.approx(bias, abs=1e-12)
    assert np.all(prog.J[prog.chain] == -1.7)


def _adjacency(edges):
    adj = {}
    for p, q in edges.tolist():
        adj.setdefault(p, set()).add(q)
        adj.setdefault(q, set()).add(p)
    return adj


def test_unembed_is_majority_vote_with_random_ties(embedded):
    emb, _, _ = embedded
    rng = np.random.default_rng(1)
    raw = rng.choice([-1, 1], size=(4000, emb.num_qubits)).astype(np.int8)
    spins, broken = emb.unembed(raw, np.random.default_rng(2))
    chains = [[int(np.searchsorted(emb.qubits, q)) for q in emb.embedding[u]] for u in range(emb.n)]
    ref, _ = majority_vote(raw, chains)
    sums = np.stack([raw[:, c].sum(1) for c in chains], 1)
    decided = sums != 0
    np.testing.assert_array_equal(spins[decided], ref[decided])  # same where there is a majority
    tie = ~decided
    assert tie.sum() > 500
    # dwave breaks ties towards +1; ours are fair coin flips
    assert np.all(ref[tie] == 1)
    assert abs(spins[tie].mean()) < 4 / np.sqrt(tie.sum())
    lengths = np.array([len(c) for c in chains])
    np.testing.assert_array_equal(broken, np.abs(sums) < lengths[None, :])


def test_invalid_embeddings_are_refused():
    target = np.array([[0, 1], [1, 2], [2, 3]])
    with pytest.raises(EmbeddingError, match="disconnected"):
        EmbeddedProblem(2, np.array([0]), np.array([1]), {0: [0, 2], 1: [1]}, [(1, 2), (2, 3)])
    with pytest.raises(EmbeddingError, match="no coupler"):
        EmbeddedProblem(2, np.array([0]), np.array([1]), {0: [0], 1: [3]}, target)
    with pytest.raises(EmbeddingError, match="overlap"):
        EmbeddedProblem(2, np.array([0]), np.array([1]), {0: [0, 1], 1: [1]}, target)
    with pytest.raises(EmbeddingError, match="no chain"):
        EmbeddedProblem(2, np.array([0]), np.array([1]), {0: [0]}, target)


def test_problem_key_depends_on_structure_only():
    n, rows, cols = k_graph()
    target = pegasus_edges()
    key = problem_key("solver", {"type": "pegasus", "shape": [3]}, target, n, rows, cols, 2)
    perm = np.random.default_rng(0).permutation(len(rows))
    assert key == problem_key("solver", {"type": "pegasus", "shape": [3]}, target[::-1], n,
                              cols[perm], rows[perm], 2)  # edge order / orientation do not matter
    others = [
        problem_key("other", {"type": "pegasus", "shape": [3]}, target, n, rows, cols, 2),
        problem_key("solver", {"type": "pegasus", "shape": [3]}, target[1:], n, rows, cols, 2),
        problem_key("solver", {"type": "pegasus", "shape": [3]}, target, n, rows[1:], cols[1:], 2),
        problem_key("solver", {"type": "pegasus", "shape": [3]}, target, n, rows, cols, 3),
    ]
    assert len({key, *others}) == 5


def test_embedding_cache_round_trip(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path / "emb")
    assert cache.get("abc") is None
    emb = {0: [5, 6], 1: [7]}
    path = cache.put("abc", emb, meta={"solver": "x"})
    assert json.loads(path.read_text())["meta"] == {"solver": "x"}
    assert cache.get("abc") == emb
    assert cache.stats == {"disk_hits": 1, "misses": 1, "writes": 1}
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert cache.get("abc") is None
    assert "unreadable cached embedding" in caplog.text


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ANNEALER_CNN_EMBEDDING_CACHE", str(tmp_path))
    assert EmbeddingCache().directory == tmp_path


# --------------------------------------------------------------------------- temperature


def test_logical_ising_from_spec_and_bqm_agree():
    from rbm.qm import dense_qm

    rng = np.random.default_rng(0)
    spec = dense_qm(rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3))
    ising = LogicalIsing.from_spec(spec)
    x = rng.integers(0, 2, size=(50, 7))
    np.testing.assert_allclose(ising.energy(2 * x - 1), spec.energy(x), atol=1e-12)
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(spec.linear, (spec.rows, spec.cols, spec.values), 0.0, "BINARY")
    ising2, variables = LogicalIsing.from_bqm(bqm)
    np.testing.assert_allclose(ising2.energy(2 * x[:, variables] - 1), spec.energy(x), atol=1e-12)


def test_effective_fields_match_dwave():
    rng = np.random.default_rng(0)
    bqm = dimod.generators.gnp_random_bqm(7, 0.6, "SPIN", random_state=1)
    h, (r, c, J), _ = bqm.to_numpy_vectors(variable_order=list(range(7)))
    s = rng.choice([-1, 1], size=(20, 7))
    ref, _ = effective_field(bqm, (s, list(range(7))), current_state_energy=True)
    np.testing.assert_allclose(effective_fields(h, r, c, J, s), ref, atol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_mpl_beta_recovers_beta_of_exact_samples(beta):
    from sampling.enumeration import exact_sample

    bqm = dimod.generators.gnp_random_bqm(8, 0.7, "SPIN", random_state=3)
    ss = exact_sample(bqm, beta, num_reads=20000, seed=0)
    x = np.asarray(ss.record.sample)[:, [list(ss.variables).index(i) for i in range(8)]]
    h, (r, c, J), _ = bqm.to_numpy_vectors(variable_order=list(range(8)))
    assert mpl_beta(h, r, c, J, x) == pytest.approx(beta, rel=0.05)


def test_calibrator_converges_and_round_trips():
    cal = TemperatureCalibrator(beta_hw=1.0, gamma=0.5, max_step=4.0)
    rng = np.random.default_rng(0)
    for _ in range(10):  # a "hardware" at β_hw = 5 with 2 % noise
        s = cal.scale(1.0)
        cal.update(beta_est=5.0 * s * np.exp(0.02 * rng.normal()), scale_used=s)
    assert cal.beta_hw == pytest.approx(5.0, rel=0.05)
    first = TemperatureCalibrator(beta_hw=1.0)
    assert first.update(100.0, 1.0) == pytest.approx(4.0)  # one step is clipped to max_step
    assert first.update(float("nan"), 1.0) == pytest.approx(4.0)  # non-finite ignored
    clone = TemperatureCalibrator()
    clone.load_state_dict(cal.state_dict())
    assert clone == cal
    frozen = TemperatureCalibrator(beta_hw=2.0, enabled=False)
    frozen.update(6.0, 1.0)
    assert frozen.beta_hw == 2.0 and frozen.history == [6.0]
    with pytest.raises(ValueError, match="gamma"):
        TemperatureCalibrator(gamma=0.0)
