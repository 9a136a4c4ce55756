"""What a QPU run costs before it runs: the embedding of a problem and the QPU access time.

Offline (no token): :func:`embedding_summary` embeds tiled copies of a problem on a full-yield
D-Wave graph; :func:`estimate_qpu_access_time` applies the SAPI timing model of dwave-cloud-client
(``breakdown=True``: programming, anneal, readout and delay per read); :func:`estimate_qpu_run`
puts them together for a whole pretraining run (every layer, calls per epoch, access time per
epoch and in total), and :func:`format_qpu_estimate` prints it (``train.py --dry-run``).

Examples:
    >>> t = estimate_qpu_access_time(200, 100, breakdown=True)
    >>> sorted(t)
    ['anneal_per_read', 'per_read', 'programming', 'readout_per_read', 'total']
    >>> bool(abs(t["programming"] + 100 * t["per_read"] - t["total"]) < 1e-6)
    True
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sampling.checks import check_positive_int
from sampling.qpu.embedding import (
    EmbeddedProblem,
    EmbeddingError,
    search_embedding,
    tile_edges,
)
from sampling.qpu.ising import LogicalIsing

__all__ = ["ADVANTAGE", "embedding_summary", "estimate_qpu_access_time", "estimate_qpu_run",
           "fit_hint", "format_qpu_estimate", "largest_canvas", "target_edges_of"]

#: An Advantage-sized full-yield graph (Pegasus P16, 5640 qubits) and its reads limit.
ADVANTAGE = {"topology": "pegasus", "shape": (16,), "max_reads": 10_000}


def estimate_qpu_access_time(
    num_qubits: int,
    num_reads: int,
    annealing_time: float | None = None,
    timing_data: Mapping | None = None,
    *,
    breakdown: bool = False,
) -> float | dict[str, float]:
    """QPU access time of ONE call in µs, by the SAPI timing model of dwave-cloud-client.

    ``t = t_programming + t_programming_thermalization + num_reads · (t_anneal + t_readout(Q) +
    t_delay)``, with the readout time interpolated (log-log) in the number of qubits ``Q``.
    ``timing_data`` is a solver's ``properties["problem_timing_data"]``; default: the Advantage4.1
    values (Aug. 2022) shipped with ``dwave.cloud.testing.mocks``.

    With ``breakdown`` a dict (µs): ``total``, ``programming`` (programming and its
    thermalization, once per call), ``per_read`` = ``anneal_per_read`` + ``readout_per_read``
    (readout and inter-sample delay), read off the same model.
    """
    from types import SimpleNamespace

    from dwave.cloud.solver import StructuredSolver

    if timing_data is None:
        from dwave.cloud.testing.mocks import qpu_problem_timing_data

        timing_data = qpu_problem_timing_data("advantage")
    holder = SimpleNamespace(properties={"problem_timing_data": dict(timing_data)})

    def t(reads: int) -> float:
        return float(StructuredSolver.estimate_qpu_access_time(
            holder, int(num_qubits), num_reads=int(reads), annealing_time=annealing_time))

    total = t(num_reads)
    if not breakdown:
        return total
    per_read = t(2) - t(1)
    anneal = float(annealing_time if annealing_time is not None
                   else timing_data.get("default_annealing_time", 20.0))
    return {"total": total, "programming": t(1) - per_read, "per_read": per_read,
            "anneal_per_read": anneal, "readout_per_read": per_read - anneal}


def embedding_summary(
    problem: Any,
    topology: str = "pegasus",
    shape: tuple[int, ...] = (16,),
    *,
    tiles: int = 1,
    seed: int = 0,
    tries: int = 2,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Embed ``tiles`` copies of a problem on a full-yield D-Wave graph and describe the result
    (offline; the numbers of ``docs/qpu.md``).

    Args:
        problem: a ``QuadraticModelSpec`` (e.g. ``model.to_qm(canvas)``) or a :class:`LogicalIsing`.
        topology, shape: ``("pegasus", (16,))`` is an Advantage-sized graph (5640 qubits),
            ``("zephyr", (12, 4))`` an Advantage2-sized one.

    Returns:
        ``num_variables``, ``num_couplings`` (per tile), ``tiles``, ``num_qubits``,
        ``graph_qubits``, ``max_chain_length``, ``mean_chain_length``, ``seconds`` (minorminer).
    """
    from dwave.system import qpu_graph

    ising = problem if isinstance(problem, LogicalIsing) else LogicalIsing.from_spec(problem)
    graph = qpu_graph(topology, list(shape), None, None)
    target = np.asarray(list(graph.edges), dtype=np.int64)
    n_all = ising.n * int(tiles)
    rows, cols = tile_edges(ising.rows, ising.cols, ising.n, int(tiles))
    t0 = time.perf_counter()
    chains = search_embedding(n_all, rows, cols, target, seed=seed, tries=tries, timeout=timeout)
    seconds = time.perf_counter() - t0
    emb = EmbeddedProblem(n_all, rows, cols, chains, target)
    return {
        "num_variables": ising.n,
        "num_couplings": len(ising.rows),
        "tiles": int(tiles),
        "num_qubits": emb.num_qubits,
        "graph_qubits": graph.number_of_nodes(),
        "max_chain_length": emb.max_chain_length,
        "mean_chain_length": float(emb.chain_len.mean()),
        "seconds": seconds,
    }



def estimate_qpu_run(
    layers: Sequence[Any],
    *,
    num_chains: int,
    batches_per_epoch: int,
    epochs: int,
    tiles: int | Sequence[int] = 1,
    spin_reversal_transforms: int = 0,
    calibration_calls: int = 3,
    calibration_samples: int = 500,
    annealing_time: float | None = None,
    solver: Mapping[str, Any] | None = None,
    timing_data: Mapping | None = None,
    seed: int = 0,
    embedding_tries: int = 2,
    embeddings: Sequence[EmbeddedProblem] | None = None,
) -> dict[str, Any]:
    """What pretraining ``layers`` on a QPU costs: embedding, calls and access time, offline.

    Every minibatch of every epoch draws ``num_chains`` negative samples of the layer's problem,
    i.e. ``ceil(num_chains / tiles)`` reads in ``max(ceil(reads / max_reads), gauges)`` QPU
    calls; the first call of a layer also pays ``calibration_calls`` requests of
    ``calibration_samples`` samples. Post-selection of pooled states draws ``1 / acceptance``
    more reads (unknown before the run, not included: the reports give it per call).

    Args:
        layers: one problem per layer: a ``QuadraticModelSpec`` (``model.to_qm(canvas)``) or a
            :class:`LogicalIsing` (only its structure matters).
        num_chains: samples per minibatch (the batch size by default in training).
        batches_per_epoch, epochs: minibatches per epoch and epochs per layer.
        tiles: copies per anneal, one for all layers or one per layer.
        solver: ``{"topology", "shape", "max_reads"}`` (default :data:`ADVANTAGE`); a real
            solver's ``properties`` may be passed too (its ``topology`` and ``num_reads_range``,
            and its ``problem_timing_data`` unless ``timing_data`` is given).
        embeddings: the embedding of every layer's ``tiles`` copies when already known (e.g. a
            connected backend's ``embedding_for``); default: searched on the solver's full-yield
            graph.

    Returns:
        ``{"layers": [...], "qpu_calls_per_epoch", "qpu_access_time_per_epoch_s",
        "qpu_access_time_total_s", "epochs"}``; each layer: its :func:`embedding_summary` plus
        ``reads_per_call``, ``qpu_calls_per_batch``, ``qpu_calls_per_epoch``,
        ``access_time_per_call_us`` (:func:`estimate_qpu_access_time` ``breakdown``),
        ``qpu_access_time_per_epoch_s``, ``calibration_s`` and ``qpu_access_time_total_s``.

    Raises:
        EmbeddingError: a layer does not embed with its tiles; the message names the largest
            tile count that does (or says that none does: use a smaller canvas).
    """

    solver = dict(solver or ADVANTAGE)
    topo = solver.get("topology", ADVANTAGE["topology"])
    if isinstance(topo, Mapping):  # a real solver's properties
        topology, shape = topo["type"], tuple(topo["shape"])
    else:
        topology, shape = str(topo), tuple(solver.get("shape", ADVANTAGE["shape"]))
    max_reads = int(solver.get("max_reads", solver.get("num_reads_range", (1, 10_000))[1]))
    if timing_data is None:
        timing_data = solver.get("problem_timing_data")
    tiles_per_layer = [int(tiles)] * len(layers) if np.isscalar(tiles) else [int(t) for t in tiles]
    if len(tiles_per_layer) != len(layers):
        raise ValueError(f"need one tile count per layer, got {len(tiles_per_layer)} for "
                         f"{len(layers)} layers")
    for name, value in (("num_chains", num_chains), ("batches_per_epoch", batches_per_epoch),
                        ("epochs", epochs), *(("tiles", t) for t in tiles_per_layer)):
        check_positive_int(value, name)

    out = []
    for index, (problem, t) in enumerate(zip(layers, tiles_per_layer, strict=True)):
        try:
            if embeddings is not None:
                emb = _summary(problem, embeddings[index], t)
            else:
                emb = embedding_summary(problem, topology, shape, tiles=t, seed=seed,
                                        tries=embedding_tries)
        except EmbeddingError:
            def embeds(n: int, problem: Any = problem) -> bool:
                try:
                    embedding_summary(problem, topology, shape, tiles=n, seed=seed, tries=embedding_tries)
                    return True
                except EmbeddingError:
                    return False

            fits = _largest_tiles(embeds, t - 1)
            hint = (f"the largest tile count that embeds is {fits}" if fits else
                    "not even one tile embeds: use a smaller canvas")
            raise EmbeddingError(f"layer {index}: {t} tiles do not embed on {topology} "
                                 f"{list(shape)}; {hint}") from None

        def cost(samples: int, t: int = t, emb: dict = emb) -> tuple[int, float, dict]:
            reads = -(-int(samples) // t)
            calls = max(-(-reads // max_reads), int(spin_reversal_transforms), 1)
            per_call = estimate_qpu_access_time(emb["num_qubits"], -(-reads // calls),
                                                annealing_time, timing_data, breakdown=True)
            return calls, calls * per_call["total"], per_call

        calls, batch_us, per_call = cost(num_chains)
        cal_calls, cal_us, _ = cost(calibration_samples)
        per_epoch_s = batches_per_epoch * batch_us * 1e-6
        calibration_s = calibration_calls * cal_us * 1e-6
        out.append({
            **emb, "layer": index, "reads_per_call": -(-num_chains // t) // calls or 1,
            "qpu_calls_per_batch": calls, "qpu_calls_per_epoch": calls * batches_per_epoch,
            "access_time_per_call_us": per_call, "qpu_access_time_per_epoch_s": per_epoch_s,
            "calibration_s": calibration_s,
            "qpu_access_time_total_s": epochs * per_epoch_s + calibration_s,
        })
    return {
        "layers": out,
        "epochs": int(epochs),
        "qpu_calls_per_epoch": sum(r["qpu_calls_per_epoch"] for r in out),
        "qpu_access_time_per_epoch_s": sum(r["qpu_access_time_per_epoch_s"] for r in out),
        "qpu_access_time_total_s": sum(r["qpu_access_time_total_s"] for r in out),
    }


def _summary(problem: Any, emb: EmbeddedProblem, tiles: int) -> dict[str, Any]:
    ising = problem if isinstance(problem, LogicalIsing) else LogicalIsing.from_spec(problem)
    return {"num_variables": ising.n, "num_couplings": len(ising.rows), "tiles": int(tiles),
            "num_qubits": emb.num_qubits, "graph_qubits": None, "max_chain_length": emb.max_chain_length,
            "mean_chain_length": float(emb.chain_len.mean()), "seconds": 0.0}


def target_edges_of(topology: str = "pegasus", shape: tuple[int, ...] = (16,)) -> np.ndarray:
    """The couplers ``(E, 2)`` of a full-yield D-Wave graph (``dwave.system.qpu_graph``)."""
    from dwave.system import qpu_graph

    return np.asarray(list(qpu_graph(topology, list(shape), None, None).edges), dtype=np.int64)


def _embeds(ising: LogicalIsing, tiles: int, target: np.ndarray, seed: int, tries: int, timeout: float) -> bool:
    """Whether ``tiles`` copies of ``ising`` embed in ``target`` (hopeless sizes are refused by
    :func:`~sampling.qpu.embedding.search_embedding`'s qubit bound without a search)."""
    rows, cols = tile_edges(ising.rows, ising.cols, ising.n, int(tiles))
    try:
        search_embedding(ising.n * int(tiles), rows, cols, target, seed=seed, tries=tries, timeout=timeout)
        return True
    except EmbeddingError:
        return False


def largest_canvas(model: Any, canvas: Sequence[int], target_edges: np.ndarray, *, tiles: int = 1,
                   seed: int = 0, tries: int = 2, timeout: float = 120.0,
                   smaller: bool = False) -> tuple[int, ...] | None:
    """The largest conv canvas ``(C, H − k, W − k)``, k = 0, 1, … (1, 2, … when ``smaller``: the
    caller knows ``canvas`` fails), that the model accepts and on
    which ``tiles`` copies of ``model.to_qm(canvas)`` embed in the graph of ``target_edges``;
    None when not even the smallest does. Canvases that need more qubits than the graph has
    (:func:`~sampling.qpu.embedding.min_qubits`) are skipped without a search, so the first
    minorminer call is made near the answer."""
    from sampling.base import check_canvas

    target = np.asarray(target_edges, dtype=np.int64).reshape(-1, 2)
    channels, height, width = (int(c) for c in canvas)
    for k in range(int(smaller), min(height, width)):
        candidate = (channels, height - k, width - k)
        try:
            check_canvas(model, candidate, candidate)
        except ValueError:
            continue
        if _embeds(LogicalIsing.from_spec(model.to_qm(candidate)), tiles, target, seed, tries, timeout):
            return candidate
    return None


def fit_hint(model: Any, canvas: Sequence[int], target_edges: np.ndarray, tiles: int = 1, *,
             seed: int = 0, tries: int = 2, timeout: float = 120.0) -> str:
    """What does fit, when ``tiles`` copies of ``model`` on ``canvas`` do not embed: the largest
    tile count on this canvas, else the largest canvas (one tile), as a sentence naming the flag."""
    target = np.asarray(target_edges, dtype=np.int64).reshape(-1, 2)
    ising = LogicalIsing.from_spec(model.to_qm(tuple(canvas)))
    lo = _largest_tiles(lambda n: _embeds(ising, n, target, seed, tries, timeout), int(tiles) - 1)
    if lo:
        return f"the largest tile count that embeds on this canvas is {lo} (--sampler-option tiles={lo})"
    if len(canvas) != 3:
        return "not even one tile embeds"
    best = largest_canvas(model, canvas, target, seed=seed, tries=tries, timeout=timeout, smaller=True)
    if best is None:
        return "no canvas down to the kernel size embeds"
    return f"the largest canvas that embeds is {best[1]}x{best[2]} (--canvas {best[1]}x{best[2]})"


def _largest_tiles(embeds: Any, upper: int) -> int:
    """The largest tile count in ``1..upper`` for which ``embeds(tiles)`` holds (bisection; 0 when
    none does)."""
    lo, hi = 0, max(int(upper), 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if embeds(mid) else (lo, mid - 1)
    return lo


def format_qpu_estimate(estimate: Mapping[str, Any]) -> str:
    """The table :func:`estimate_qpu_run` describes, one line per layer and a total line."""
    lines = ["layer  vars  tiles  qubits  chain max/mean  reads/call  calls/epoch  "
             "us/call (prog + reads x per-read)  QPU s/epoch  QPU s total"]
    for r in estimate["layers"]:
        c = r["access_time_per_call_us"]
        lines.append(
            f"{r['layer']:>5}  {r['num_variables']:>4}  {r['tiles']:>5}  {r['num_qubits']:>6}  "
            f"{r['max_chain_length']:>5}/{r['mean_chain_length']:<8.2f}  {r['reads_per_call']:>10}"
            f"  {r['qpu_calls_per_epoch']:>11}  {c['total']:>8.0f} ({c['programming']:.0f} + "
            f"{r['reads_per_call']} x {c['per_read']:.1f})  {r['qpu_access_time_per_epoch_s']:>11.3f}"
            f"  {r['qpu_access_time_total_s']:>11.3f}")
    lines.append(f"total: {estimate['qpu_calls_per_epoch']} QPU calls per epoch, "
                 f"{estimate['qpu_access_time_per_epoch_s']:.3f} s QPU access time per epoch, "
                 f"{estimate['qpu_access_time_total_s']:.3f} s for {estimate['epochs']} epochs"
                 + (" (calibration included" if any(r["calibration_s"] for r in estimate["layers"]) else " (")
                 + ("; " if any(r["calibration_s"] for r in estimate["layers"]) else "")
                 + "post-selection of pooled states adds 1/acceptance)")
    return "\n".join(lines)
