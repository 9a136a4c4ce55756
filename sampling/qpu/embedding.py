"""Fixed minor-embeddings for annealer sampling: search once, cache on disk, tile, (un)embed fast.

A QPU qubit graph (Pegasus, Zephyr) is sparse, so every logical variable of a problem becomes a
*chain* of qubits held together by strong ferromagnetic couplers. Finding the chains (minorminer) is
slow and random, so it is done **once per problem shape** and reused: this module

- computes a key from the solver name, its topology, its working graph and the *structure* of the
  logical problem (which pairs interact, and how many disjoint tiles), and keeps embeddings in a
  JSON file per key (default directory ``~/.cache/annealer-cnn/embeddings``, or
  ``$ANNEALER_CNN_EMBEDDING_CACHE``); a cached embedding is re-verified against the current working
  graph before use (qubits are occasionally disabled after a recalibration);
- **tiles** ``T`` disjoint copies of a small problem into one embedding (the disjoint union), so
  that each anneal returns ``T`` independent samples;
- turns logical Ising arrays into the programmed (physical) Ising arrays with precomputed index
  arrays (the same rules as :func:`dwave.embedding.embed_bqm` in SPIN space: linear biases are split
  evenly over a chain, a logical coupling evenly over all couplers between the two chains, every
  coupler inside a chain gets ``-chain_strength``), vectorised because it runs on every QPU call;
- resolves chain breaks by **majority vote with random tie-breaking** (dwave's ``majority_vote``
  breaks ties towards +1, which biases even-length chains) and reports which chains broke.

Examples:
    >>> import numpy as np
    >>> emb = EmbeddedProblem(2, np.array([0]), np.array([1]), {0: [10, 11], 1: [12]},
    ...                       [(10, 11), (11, 12), (10, 12)])
    >>> prog = emb.embed(np.array([1.0, -1.0]), np.array([0.5]), chain_strength=2.0)
    >>> prog.qubits.tolist(), prog.h.tolist()
    ([10, 11, 12], [0.5, 0.5, -1.0])
    >>> sorted(zip(prog.rows.tolist(), prog.cols.tolist(), prog.J.tolist()))
    [(0, 1, -2.0), (0, 2, 0.25), (1, 2, 0.25)]
    >>> spins, broken = emb.unembed(np.array([[1, 1, -1], [1, -1, 1]]), np.random.default_rng(0))
    >>> spins[0].tolist(), broken.tolist()
    ([1, -1], [[False, False], [True, False]])
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sampling.errors import SamplingError

__all__ = [
    "DEFAULT_CACHE_DIR",
    "EmbeddingError",
    "min_qubits",
    "EmbeddingCache",
    "EmbeddedProblem",
    "ProgrammedIsing",
    "tile_edges",
    "problem_key",
    "search_embedding",
]

log = logging.getLogger(__name__)

#: Default on-disk embedding cache; override with ``$ANNEALER_CNN_EMBEDDING_CACHE`` or an argument.
DEFAULT_CACHE_DIR = Path("~/.cache/annealer-cnn/embeddings")


class EmbeddingError(SamplingError, RuntimeError):
    """No valid minor-embedding was found (or a cached one no longer fits the solver)."""


def tile_edges(rows: np.ndarray, cols: np.ndarray, n: int, tiles: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges of the disjoint union of ``tiles`` copies of an ``n``-variable graph.

    Copy ``t`` uses variables ``t*n .. t*n + n-1``. Returns ``(rows, cols)``, each shape
    ``(tiles * len(rows),)``, int64.
    """
    offs = (np.arange(tiles, dtype=np.int64) * n)[:, None]
    rows = np.asarray(rows, dtype=np.int64)[None, :] + offs
    cols = np.asarray(cols, dtype=np.int64)[None, :] + offs
    return rows.ravel(), cols.ravel()


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"|")
    return h.hexdigest()


def _graph_digest(n: int, rows: np.ndarray, cols: np.ndarray) -> str:
    """Hash of an undirected graph's structure (edge order and orientation do not matter)."""
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    lo, hi = np.minimum(r, c), np.maximum(r, c)
    keys = np.unique(lo * max(int(n), 1) + hi)
    return _digest(int(n), keys)


def problem_key(
    solver_name: str,
    topology: Mapping | None,
    target_edges: np.ndarray,
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    tiles: int,
) -> str:
    """Cache key of an embedding: solver + topology + working graph + problem graph + tiles.

    Args:
        solver_name: the solver's ``properties['chip_id']`` (e.g. ``Advantage_system4.1``).
        topology: ``properties['topology']`` (``{'type': 'pegasus', 'shape': [16]}``).
        target_edges: working couplers, shape (E, 2); a changed yield gives a new key.
        n, rows, cols: the logical problem of ONE tile (its structure only, not its values).
        tiles: number of disjoint copies embedded together.
    """
    topo = dict(topology or {})
    target = np.sort(np.sort(np.asarray(target_edges, dtype=np.int64), axis=1), axis=0)
    return _digest(
        "annealer-cnn-embedding-v1",
        str(solver_name),
        topo,
        _digest(target),
        _graph_digest(n, rows, cols),
        int(tiles),
    )[:32]


def min_qubits(rows: np.ndarray, cols: np.ndarray, n: int, max_degree: int) -> int:
    """A lower bound on the qubits any minor-embedding of the graph needs in a target graph of
    largest degree ``max_degree``: a chain of L qubits is a tree whose L − 1 internal couplers use
    2(L − 1) of its L · max_degree coupler ends, so it reaches at most (max_degree − 2) · L + 2
    neighbours, and a variable of degree d needs L ≥ (d − 2) / (max_degree − 2) qubits.

    Examples:
        >>> rows, cols = np.zeros(40, dtype=np.int64), np.arange(1, 41)  # a 40-leaf star
        >>> min_qubits(rows, cols, 41, 15)  # the hub needs ceil(38 / 13) = 3 qubits
        43
    """
    degree = np.bincount(np.concatenate([np.asarray(rows), np.asarray(cols)]).astype(np.int64),
                         minlength=int(n))
    per_var = np.maximum(1, -(-(degree - 2) // max(1, int(max_degree) - 2)))
    return int(per_var.sum())


def search_embedding(
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    target_edges: np.ndarray,
    *,
    seed: int = 0,
    tries: int = 10,
    timeout: float = 120.0,
    threads: int = 1,
) -> dict[int, list[int]]:
    """Find a minor-embedding of an ``n``-node graph with minorminer (one call, seeded).

    Isolated nodes (no edges) get any free qubit. Raises :class:`EmbeddingError` when minorminer
    finds nothing (the problem is too large for the graph: lower ``tiles`` or the canvas), at once
    (no search) when the problem needs more qubits than the graph has (:func:`min_qubits`).
    """
    import minorminer  # local: only needed on a cache miss
    import networkx as nx

    target = nx.Graph()
    target.add_edges_from(np.asarray(target_edges).tolist())
    need = min_qubits(rows, cols, n, max((d for _, d in target.degree), default=0))
    if need > target.number_of_nodes():
        raise EmbeddingError(
            f"a {n}-variable, {len(rows)}-coupling problem needs at least {need} qubits; the graph "
            f"has {target.number_of_nodes()}: use fewer tiles or a smaller canvas"
        )
    source = nx.Graph()
    source.add_nodes_from(range(n))
    source.add_edges_from(zip(np.asarray(rows).tolist(), np.asarray(cols).tolist(), strict=True))
    connected = [u for u in source.nodes if source.degree(u) > 0]
    t0 = time.perf_counter()
    emb = minorminer.find_embedding(
        source.subgraph(connected).edges,
        target,
        random_seed=int(seed),
        tries=int(tries),
        timeout=float(timeout),
        threads=int(threads),
    )
    if connected and len(emb) < len(connected):
        raise EmbeddingError(
            f"minorminer found no embedding of a {n}-variable, {source.number_of_edges()}-coupling"
            f" problem into a {target.number_of_nodes()}-qubit graph within {tries} tries;"
            " use fewer tiles or a smaller canvas"
        )
    emb = {int(u): [int(q) for q in chain] for u, chain in emb.items()}
    used = {q for chain in emb.values() for q in chain}
    free = (q for q in sorted(target.nodes) if q not in used)
    for u in source.nodes:
        if u not in emb:
            try:
                emb[u] = [int(next(free))]
            except StopIteration:
                raise EmbeddingError(f"no free qubit left for isolated variable {u}") from None
    log.info(
        "minorminer embedded %d variables / %d couplings on %d qubits in %.2f s (max chain %d)",
        n,
        source.number_of_edges(),
        sum(len(c) for c in emb.values()),
        time.perf_counter() - t0,
        max((len(c) for c in emb.values()), default=0),
    )
    return emb


class EmbeddingCache:
    """JSON-file embedding cache, one file per :func:`problem_key`, written atomically.

    ``stats`` counts ``disk_hits``, ``misses`` and ``writes`` (tests use it to prove reuse).
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        if directory is None:
            directory = os.environ.get("ANNEALER_CNN_EMBEDDING_CACHE") or DEFAULT_CACHE_DIR
        self.directory = Path(directory).expanduser()
        self.stats = {"disk_hits": 0, "misses": 0, "writes": 0}

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[int, list[int]] | None:
        path = self.path(key)
        try:
            payload = json.loads(path.read_text())
            emb = {int(u): [int(q) for q in chain] for u, chain in payload["embedding"].items()}
        except FileNotFoundError:
            self.stats["misses"] += 1
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable cached embedding %s (%s)", path, exc)
            self.stats["misses"] += 1
            return None
        self.stats["disk_hits"] += 1
        return emb

    def put(self, key: str, embedding: Mapping[int, Sequence[int]], meta: Mapping | None = None) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "meta": dict(meta or {}),
            "embedding": {str(u): [int(q) for q in c] for u, c in embedding.items()},
        }
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
        os.replace(tmp, self.path(key))
        self.stats["writes"] += 1
        return self.path(key)


@dataclass(frozen=True)
class ProgrammedIsing:
    """A physical Ising problem over ``qubits`` (shape (Q,)): ``h`` (Q,), couplers ``rows``/``cols``
    (indices into ``qubits``) with values ``J``. ``chain`` marks chain couplers (bool, same shape)."""

    qubits: np.ndarray
    h: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    J: np.ndarray
    chain: np.ndarray

    def to_bqm(self):
        """The dimod SPIN BQM over the qubit labels."""
        import dimod

        return dimod.BinaryQuadraticModel.from_numpy_vectors(
            self.h, (self.rows, self.cols, self.J), 0.0, dimod.SPIN,
            variable_order=self.qubits.tolist(),
        )


class EmbeddedProblem:
    """A fixed embedding of an ``n``-variable logical graph, with vectorised (un)embedding.

    Args:
        n: number of logical variables (all tiles together), labelled ``0..n-1``.
        rows, cols: logical edges (the structure; a coupling outside it cannot be programmed).
        embedding: ``{logical variable: [qubit, ...]}`` covering every variable.
        target_edges: the working couplers of the solver, iterable of qubit pairs.

    Raises:
        EmbeddingError: a chain is empty, disconnected or overlaps another, or a logical edge has no
            coupler between its chains.
    """

    def __init__(
        self,
        n: int,
        rows: np.ndarray,
        cols: np.ndarray,
        embedding: Mapping[int, Sequence[int]],
        target_edges: Iterable[tuple[int, int]],
    ):
        self.n = int(n)
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        missing = [u for u in range(self.n) if not embedding.get(u)]
        if missing:
            raise EmbeddingError(f"embedding has no chain for logical variables {missing[:10]}")
        chains = [np.asarray(embedding[u], dtype=np.int64) for u in range(self.n)]
        qubit_list = np.concatenate(chains)
        if len(np.unique(qubit_list)) != len(qubit_list):
            raise EmbeddingError("embedding chains overlap (a qubit is used by two variables)")
        order = np.argsort(qubit_list)
        self.qubits = qubit_list[order]
        owner = np.repeat(np.arange(self.n), [len(c) for c in chains])[order]
        self.chain_of = owner  # logical variable of every qubit, shape (Q,)
        self.chain_len = np.bincount(owner, minlength=self.n)
        self.embedding = {u: [int(q) for q in chains[u]] for u in range(self.n)}

        # classify the working couplers between used qubits
        te = np.asarray(list(target_edges), dtype=np.int64).reshape(-1, 2)
        pos_p = np.searchsorted(self.qubits, te[:, 0])
        pos_q = np.searchsorted(self.qubits, te[:, 1])
        pos_p_c = np.minimum(pos_p, len(self.qubits) - 1)
        pos_q_c = np.minimum(pos_q, len(self.qubits) - 1)
        inside = (self.qubits[pos_p_c] == te[:, 0]) & (self.qubits[pos_q_c] == te[:, 1])
        pi, qi = pos_p_c[inside], pos_q_c[inside]
        u, v = owner[pi], owner[qi]
        same = u == v
        self.chain_rows, self.chain_cols = pi[same], qi[same]
        # chains must be connected through their own couplers
        import networkx as nx

        for var in np.flatnonzero(self.chain_len > 1):
            members = np.flatnonzero(owner == var)
            sel = owner[self.chain_rows] == var
            g = nx.Graph()
            g.add_nodes_from(members.tolist())
            g.add_edges_from(zip(self.chain_rows[sel].tolist(), self.chain_cols[sel].tolist(), strict=True))
            if not nx.is_connected(g):
                raise EmbeddingError(f"chain of logical variable {int(var)} is disconnected")
        # inter-chain couplers that realise a logical edge
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
        logical_keys = lo * self.n + hi
        if len(np.unique(logical_keys)) != len(logical_keys):
            raise EmbeddingError("logical edges must be unique (merge duplicate couplings first)")
        sorter = np.argsort(logical_keys)
        pi, qi, u, v = pi[~same], qi[~same], u[~same], v[~same]
        ckeys = np.minimum(u, v) * self.n + np.maximum(u, v)
        at = np.searchsorted(logical_keys, ckeys, sorter=sorter)
        at = np.minimum(at, len(logical_keys) - 1) if len(logical_keys) else at
        hit = (logical_keys[sorter[at]] == ckeys) if len(logical_keys) else np.zeros(len(ckeys), bool)
        self.int_rows, self.int_cols = pi[hit], qi[hit]
        self.int_edge = sorter[at[hit]]  # logical edge index of every interaction coupler
        per_edge = np.bincount(self.int_edge, minlength=len(rows))
        if np.any(per_edge == 0):
            bad = int(np.flatnonzero(per_edge == 0)[0])
            raise EmbeddingError(
                f"logical edge ({int(rows[bad])}, {int(cols[bad])}) has no coupler between its chains"
            )
        self.int_share = 1.0 / per_edge[self.int_edge]
        self.num_edges = len(rows)
        # sparse (Q, n) incidence used by the vote
        self._incidence = sp.csr_matrix(
            (np.ones(len(self.qubits)), (np.arange(len(self.qubits)), owner)),
            shape=(len(self.qubits), self.n),
        )

    @property
    def num_qubits(self) -> int:
        return len(self.qubits)

    @property
    def max_chain_length(self) -> int:
        return int(self.chain_len.max()) if self.n else 0

    def embed(self, h: np.ndarray, J: np.ndarray, chain_strength: float) -> ProgrammedIsing:
        """Physical Ising of the logical Ising ``h`` (n,), ``J`` (num_edges,) (edge order as given
        to the constructor) with ``-chain_strength`` on every coupler inside a chain."""
        h = np.asarray(h, dtype=np.float64)
        J = np.asarray(J, dtype=np.float64)
        if h.shape != (self.n,) or J.shape != (self.num_edges,):
            raise ValueError(
                f"expected h of shape ({self.n},) and J of shape ({self.num_edges},),"
                f" got {h.shape} and {J.shape}"
            )
        h_phys = h[self.chain_of] / self.chain_len[self.chain_of]
        J_int = J[self.int_edge] * self.int_share
        J_chain = np.full(len(self.chain_rows), -float(chain_strength))
        return ProgrammedIsing(
            qubits=self.qubits,
            h=h_phys,
            rows=np.concatenate([self.int_rows, self.chain_rows]),
            cols=np.concatenate([self.int_cols, self.chain_cols]),
            J=np.concatenate([J_int, J_chain]),
            chain=np.concatenate([np.zeros(len(J_int), bool), np.ones(len(J_chain), bool)]),
        )

    def unembed(self, samples: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Majority vote per chain, ties broken uniformly at random.

        Args:
            samples: ±1 spins, shape (R, Q) in the order of :attr:`qubits`.
            rng: generator for the tie-breaks.

        Returns:
            ``(spins, broken)``: logical ±1 int8 spins (R, n) and a bool (R, n) array that marks
            chains whose qubits disagreed.
        """
        s = np.asarray(samples, dtype=np.float64)
        if s.ndim != 2 or s.shape[1] != self.num_qubits:
            raise ValueError(f"expected samples of shape (R, {self.num_qubits}), got {s.shape}")
        total = np.asarray(self._incidence.T @ s.T).T  # (R, n)
        spins = np.sign(total)
        ties = spins == 0
        if ties.any():
            spins[ties] = rng.choice(np.array([-1.0, 1.0]), size=int(ties.sum()))
        broken = np.abs(total) < self.chain_len[None, :]
        return spins.astype(np.int8), broken
