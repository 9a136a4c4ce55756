"""``train.py --dry-run`` and the QPU cost printed before a QPU run (issue 17 part 4), and the
canvas / embedding errors that name what does fit (issue 17, behaviour)."""

from __future__ import annotations

import math
import re

import pytest

import train
from sampling.qpu.cost import fit_hint, largest_canvas, target_edges_of
from sampling.qpu.embedding import EmbeddingError, min_qubits, search_embedding, tile_edges
from sampling.qpu.ising import LogicalIsing

TINY = ["--dataset", "digits", "--layers", "4x3p2", "--canvas", "6x6", "--no-progress", "--no-plots"]


def test_dry_run_prints_the_qpu_estimate_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = train.main([*TINY, "--sampler", "mock-qpu", "--dry-run", "--out", str(out)])
    assert code == 0
    assert not out.exists()
    text = capsys.readouterr().out
    batches = math.ceil(1437 / 16)  # digits' training images, default pretraining batch size
    assert f"{batches} minibatches per epoch" in text
    assert "layer 0 4x3p2: canvas 1x6x6, 100 variables, 672 couplings" in text  # 36 + 4*4*4; 576 + 4*4*6
    row = next(line for line in text.splitlines() if re.match(r"\s+0\s+100\s+1\s", line))
    qubits, chains = int(row.split()[3]), row.split()[4]
    assert 100 < qubits <= 680 and int(chains.split("/")[0]) >= 2  # pegasus P6 mock; 3x3 pixels need chains
    total = re.search(r"total: (\d+) QPU calls per epoch, ([0-9.]+) s QPU access time per epoch, "
                      r"([0-9.]+) s for 2 epochs", text)
    assert total is not None, text
    assert int(total[1]) == batches  # 16 reads per call fit in one call
    assert float(total[3]) == pytest.approx(2 * float(total[2]), rel=1e-3)


def test_dry_run_of_the_real_qpu_needs_no_token(tmp_path, capsys, monkeypatch):
    for var in ("DWAVE_API_TOKEN", "DWAVE_CONFIG_FILE", "DWAVE_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no dwave.conf either
    out = tmp_path / "run"
    code = train.main([*TINY, "--sampler", "qpu", "--dry-run", "--out", str(out),
                       "--sampler-option", "tiles=2"])
    assert code == 0 and not out.exists()
    text = capsys.readouterr().out
    assert "full-yield Advantage graph" in text
    assert re.search(r"^\s+0\s+100\s+2\s", text, re.M), text  # two tiles per call
    assert f"total: {math.ceil(1437 / 16)} QPU calls per epoch" in text  # one call per minibatch


def test_dry_run_without_a_qpu_sampler_says_so(tmp_path, capsys):
    code = train.main([*TINY, "--sampler", "cd", "--dry-run", "--out", str(tmp_path / "run")])
    assert code == 0 and not (tmp_path / "run").exists()
    assert "QPU: none (--sampler cd runs on this machine)" in capsys.readouterr().out


def test_a_canvas_larger_than_the_images_names_the_largest(tmp_path, capsys):
    code = train.main([*TINY[:4], "--canvas", "10x10", "--sampler", "mock-qpu", "--out", str(tmp_path / "run")])
    assert code == 2 and not (tmp_path / "run").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("error: --canvas 10x10 is larger than the 8x8 images; the largest canvas is 8x8 "
                       "(--canvas 8x8)")


def _layer(filters=4, kernel=3, pool=2):
    from rbm import ConvRBM

    return ConvRBM(1, filters, kernel, pool_size=pool)


def test_min_qubits_is_a_lower_bound_of_real_embeddings():
    edges = target_edges_of("pegasus", (6,))
    for canvas in ((1, 4, 4), (1, 6, 6)):
        ising = LogicalIsing.from_spec(_layer().to_qm(canvas))
        chains = search_embedding(ising.n, ising.rows, ising.cols, edges, seed=0, tries=2)
        used = sum(len(c) for c in chains.values())
        bound = min_qubits(ising.rows, ising.cols, ising.n, 15)
        assert ising.n < bound <= used  # 3x3 filters: pixels of degree 4 * 9 + need chains
    # a 28x28 canvas of 16 5x5 filters needs more qubits than an Advantage has: refused at once
    ising = LogicalIsing.from_spec(_layer(16, 5).to_qm((1, 28, 28)))
    assert min_qubits(ising.rows, ising.cols, ising.n, 15) > 5640
    with pytest.raises(EmbeddingError, match=r"needs at least \d+ qubits; the graph has 5640"):
        search_embedding(ising.n, ising.rows, ising.cols, target_edges_of(), tries=1, timeout=5)


def test_largest_canvas_embeds_and_the_next_larger_does_not():
    edges = target_edges_of("pegasus", (3,))  # 128 qubits, so the answer is small: 4x4
    layer = _layer()
    best = largest_canvas(layer, (1, 8, 8), edges)
    assert best is not None and best[1] < 8
    ising = LogicalIsing.from_spec(layer.to_qm(best))
    search_embedding(ising.n, ising.rows, ising.cols, edges, seed=0, tries=2)  # it does embed
    bigger = (1, best[1] + 2, best[2] + 2)  # the next canvas whose 2x2 pooling divides the hidden map
    big = LogicalIsing.from_spec(layer.to_qm(bigger))
    with pytest.raises(EmbeddingError):
        search_embedding(big.n, big.rows, big.cols, edges, seed=0, tries=2)
    assert fit_hint(layer, (1, 8, 8), edges) == (f"the largest canvas that embeds is {best[1]}x{best[2]} "
                                                 f"(--canvas {best[1]}x{best[2]})")


def test_fit_hint_names_the_largest_tile_count():
    edges = target_edges_of("pegasus", (3,))
    layer = _layer(2, 3)
    ising = LogicalIsing.from_spec(layer.to_qm((1, 4, 4)))
    hint = fit_hint(layer, (1, 4, 4), edges, tiles=64)
    tiles = int(re.search(r"tile count that embeds on this canvas is (\d+)", hint)[1])
    assert 1 <= tiles < 64
    rows, cols = tile_edges(ising.rows, ising.cols, ising.n, tiles)
    search_embedding(ising.n * tiles, rows, cols, edges, seed=0, tries=2)  # that many do embed


def test_the_mock_graph_size_can_be_given_on_the_command_line():
    from sampling.qpu.options import MockOptions

    assert MockOptions(shape=16).shape == (16,)  # --sampler-option shape=16 (read as an int)
    assert MockOptions(shape="2,4").shape == (2, 4)
    assert MockOptions().shape is None
    with pytest.raises(ValueError, match="mock shape must be integers"):
        MockOptions(shape="big")
