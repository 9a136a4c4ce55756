"""What a QPU run costs before it runs: the embedding of a problem and the QPU access time.

Offline (no token): :func:`embedding_summary` embeds tiled copies of a problem on a full-yield
D-Wave graph; :func:`estimate_qpu_access_time` applies the SAPI timing model of dwave-cloud-client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from sampling.qpu.embedding import EmbeddedProblem, search_embedding, tile_edges
from sampling.qpu.ising import LogicalIsing

__all__ = ["embedding_summary", "estimate_qpu_access_time"]


def estimate_qpu_access_time(
    num_qubits: int,
    num_reads: int,
    annealing_time: float | None = None,
    timing_data: Mapping | None = None,
) -> float:
    """QPU access time of ONE call in µs, by the SAPI timing model of dwave-cloud-client.

    ``t = t_programming + t_programming_thermalization + num_reads · (t_anneal + t_readout(Q) +
    t_delay)``, with the readout time interpolated (log-log) in the number of qubits ``Q``.
    ``timing_data`` is a solver's ``properties["problem_timing_data"]``; default: the Advantage4.1
    values (Aug. 2022) shipped with ``dwave.cloud.testing.mocks``.
    """
    from types import SimpleNamespace

    from dwave.cloud.solver import StructuredSolver

    if timing_data is None:
        from dwave.cloud.testing.mocks import qpu_problem_timing_data

        timing_data = qpu_problem_timing_data("advantage")
    holder = SimpleNamespace(properties={"problem_timing_data": dict(timing_data)})
    return float(
        StructuredSolver.estimate_qpu_access_time(
            holder, int(num_qubits), num_reads=int(num_reads), annealing_time=annealing_time
        )
    )


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

