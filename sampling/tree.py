"""Exact Boltzmann samples, log Z and marginals of low-treewidth BQMs (the ``"tree"`` method).

``dwave.samplers.TreeDecompositionSampler`` eliminates the variables along an elimination order
(min-fill heuristic) and samples backwards: i.i.d. draws from exp(-β E(x)) / Z(β), exact up to
floating point, for any BQM whose elimination order has a small width (strips, grids a few spins
wide, small Chimera/Pegasus tiles, trees). Time and memory grow as n · 2^(treewidth + 1).

:func:`treewidth` is the width of the min-fill elimination order (an upper bound on the true
treewidth, and the width the sampler will actually use). :func:`sample_tree` is the method
function registered as ``BoltzmannSampler(method="tree")``; it refuses a problem whose width is
above ``max_treewidth`` with one :class:`TreewidthError` that names both numbers.

``info`` of the returned sample set (dwave-samplers' names, plus ours):

- ``log_partition_function``: log Z(β) = log Σₓ exp(-β E(x)), offset included.
- ``variable_marginals``: {v: P(x_v = 1)}.
- ``interaction_marginals``: {(u, v): {(s, t): P(x_u = s, x_v = t)}} for every interaction,
  s, t in the model's vartype values.
- ``treewidth``, ``max_treewidth``.

Examples:
    >>> import dimod
    >>> bqm = dimod.BinaryQuadraticModel({"a": 0.5}, {("a", "b"): -1.0}, 0.0, "SPIN")
    >>> ss = sample_tree(bqm, beta=1.0, num_reads=4, seed=0)
    >>> len(ss), ss.info["treewidth"], round(float(ss.info["log_partition_function"]), 4)
    (4, 1, 1.9402)
"""

from __future__ import annotations

import heapq

import dimod
import numpy as np

from sampling.bqm import column_order
from sampling.errors import SamplerArgumentError

__all__ = [
    "MAX_TREEWIDTH",
    "TreewidthError",
    "exact_moments",
    "marginal_zscores",
    "sample_tree",
    "treewidth",
    "treewidth_at_most",
]

#: Widest elimination order ``"tree"`` accepts: dwave-samplers' own limit (above it the C++ core
#: runs out of memory). Each unit doubles time and memory: width 20 on 100 variables takes seconds.
MAX_TREEWIDTH = 25


class TreewidthError(SamplerArgumentError):
    """The problem's elimination order is too wide for exact tree sampling."""


def treewidth(bqm: dimod.BinaryQuadraticModel) -> tuple[int, list]:
    """Width of the min-fill elimination order of ``bqm``'s interaction graph, and the order.

    Returns:
        ``(width, order)``: ``order`` lists every variable of ``bqm`` once; ``width`` is the
        largest neighbourhood met while eliminating along it (0 for an empty model, 1 for a model
        without interactions).

    Examples:
        >>> import dimod
        >>> chain = dimod.BinaryQuadraticModel.from_ising({}, {(i, i + 1): 1.0 for i in range(9)})
        >>> treewidth(chain)[0]
        1
    """
    from dwave.samplers.tree.utilities import min_fill_heuristic

    if bqm.num_variables == 0:
        return 0, []
    width, order = min_fill_heuristic(bqm)
    return int(width), list(order)


def treewidth_at_most(bqm: dimod.BinaryQuadraticModel, limit: int) -> bool:
    """Whether ``bqm``'s min-fill elimination width is at most ``limit``, cheaply for large models.

    The min-fill heuristic slows down sharply on large, wide graphs (minutes on a 5,000-node
    Pegasus graph). A greedy min-degree elimination that stops as soon as it meets a neighbourhood
    larger than ``limit`` settles most cases in O(n · limit²): if it finishes within ``limit``, so
    does a tree decomposition. Otherwise, and only for models of at most
    :data:`_MIN_FILL_MAX_VARIABLES` variables, min-fill decides; larger ones count as too wide.

    Examples:
        >>> import dimod
        >>> ring = dimod.BinaryQuadraticModel.from_ising({}, {(i, (i + 1) % 9): 1.0 for i in range(9)})
        >>> treewidth_at_most(ring, 2), treewidth_at_most(ring, 1)
        (True, False)
    """
    adj = {i: set() for i in range(bqm.num_variables)}
    index = {v: i for i, v in enumerate(bqm.variables)}
    for u, v in bqm.quadratic:
        adj[index[u]].add(index[v])
        adj[index[v]].add(index[u])
    heap = [(len(nbrs), i) for i, nbrs in adj.items()]
    heapq.heapify(heap)
    while heap:
        degree, v = heapq.heappop(heap)
        if v not in adj or degree != len(adj[v]):
            continue  # stale entry: v was eliminated or its degree changed
        if degree > limit:
            break
        nbrs = adj.pop(v)
        for u in nbrs:
            adj[u].discard(v)
            adj[u] |= nbrs - {u}
            heapq.heappush(heap, (len(adj[u]), u))
    else:
        return True
    if bqm.num_variables <= _MIN_FILL_MAX_VARIABLES:
        return treewidth(bqm)[0] <= limit
    return False


#: Largest model on which :func:`treewidth_at_most` falls back to the (slower) min-fill heuristic.
_MIN_FILL_MAX_VARIABLES = 1000


def sample_tree(
    bqm: dimod.BinaryQuadraticModel,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    marginals: bool = True,
    max_treewidth: int = MAX_TREEWIDTH,
) -> dimod.SampleSet:
    """i.i.d. exact samples of exp(-β E) by tree decomposition, with log Z (and marginals).

    Args:
        bqm: any BQM (SPIN or BINARY, any labels).
        beta: inverse temperature > 0.
        num_reads: samples to draw, ≥ 1.
        seed: integer seed, or None for fresh randomness.
        marginals: also compute per-variable and per-interaction marginals (in ``info``).
        max_treewidth: refuse problems whose elimination order is wider (≤ :data:`MAX_TREEWIDTH`).

    Returns:
        A SampleSet of ``num_reads`` rows in ``bqm.variables`` order with the ``info`` listed in
        the module docstring.

    Raises:
        TreewidthError: the min-fill width exceeds ``max_treewidth``.
        SamplerArgumentError: ``max_treewidth`` is not an integer in [1, MAX_TREEWIDTH].
    """
    from dwave.samplers import TreeDecompositionSampler

    if (
        isinstance(max_treewidth, bool)
        or not isinstance(max_treewidth, int | np.integer)
        or not 1 <= max_treewidth <= MAX_TREEWIDTH
    ):
        raise SamplerArgumentError(
            f"max_treewidth must be an integer in [1, {MAX_TREEWIDTH}], got {max_treewidth!r}"
        )
    if bqm.num_variables > _MIN_FILL_MAX_VARIABLES and not treewidth_at_most(bqm, max_treewidth):
        raise TreewidthError(
            f"method 'tree' needs a treewidth of at most {max_treewidth}; this problem's "
            f"greedy elimination order is wider ({bqm.num_variables} variables): "
            "use method 'pt' or 'auto'"
        )
    width, order = treewidth(bqm)
    if width > max_treewidth:
        raise TreewidthError(
            f"method 'tree' needs a treewidth of at most {max_treewidth}; this problem's "
            f"elimination order (min-fill) has width {width} ({bqm.num_variables} variables): "
            "use method 'pt' or 'auto'"
        )
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    ss = TreeDecompositionSampler().sample(
        bqm,
        num_reads=num_reads,
        elimination_order=order or None,
        beta=float(beta),
        marginals=marginals,
        seed=int(seed),
    )
    ss.info.update(treewidth=width, max_treewidth=int(max_treewidth))
    ss.info["log_partition_function"] = float(ss.info["log_partition_function"])
    return ss


def exact_moments(
    bqm: dimod.BinaryQuadraticModel, beta: float, num_samples: int = 20_000, seed: int = 0
) -> dict:
    """Exact first moments of exp(-β E) from tree decomposition, for checking samplers.

    Returns:
        ``dict(variables, edges, x (n,), xx (m,), energy_mean, energy_var, log_z)``: ``x[i]`` =
        ⟨x_i⟩ and ``xx[k]`` = ⟨x_u x_v⟩ for ``edges[k] = (u, v)`` (values ±1 or 0/1 in the model's
        vartype), exact; ⟨E⟩ exact from them; Var E estimated from ``num_samples`` exact draws
        (relative error about sqrt(2 / num_samples)).
    """
    ss = sample_tree(bqm, beta, num_samples, seed)
    low = -1 if bqm.vartype is dimod.SPIN else 0
    variables = list(bqm.variables)
    edges = list(bqm.quadratic)
    vm, im = ss.info["variable_marginals"], ss.info["interaction_marginals"]
    x = np.array([low + (1 - low) * vm[v] for v in variables])
    xx = []
    for u, v in edges:
        table = im.get((u, v))
        if table is None:
            table = {(t, s_): p for (s_, t), p in im[(v, u)].items()}
        xx.append(sum(a * b * p for (a, b), p in table.items()))
    xx = np.array(xx)
    h = np.array([bqm.linear[v] for v in variables])
    J = np.array([bqm.quadratic[e] for e in edges])
    return {
        "variables": variables,
        "edges": edges,
        "x": x,
        "xx": xx,
        "energy_mean": float(bqm.offset + h @ x + J @ xx),
        "energy_var": float(ss.record.energy.var()),
        "log_z": ss.info["log_partition_function"],
    }


def marginal_zscores(sampleset: dimod.SampleSet, bqm: dimod.BinaryQuadraticModel,
                     moments: dict) -> dict:
    """z-scores of a sample set's energy and marginals against :func:`exact_moments`.

    Every statistic is compared with its i.i.d. standard error at the sample size N: mean energy
    z = (Ē − ⟨E⟩) / sqrt(Var E / N); per variable z = (x̄ᵢ − ⟨xᵢ⟩) / sd, per edge the same for
    xᵤxᵥ, with sd² = Var / N of that ±1 or 0/1 statistic (floored at 1 / N² so that frozen
    variables do not divide by zero).

    Returns:
        ``dict(energy_z, variable_rms, variable_max, edge_rms, edge_max, n)``.
    """
    cols = column_order(sampleset.variables, moments["variables"])
    X = np.repeat(sampleset.record.sample[:, cols].astype(np.float64),
                  sampleset.record.num_occurrences, axis=0)
    N = X.shape[0]
    index = {v: i for i, v in enumerate(moments["variables"])}
    u = np.array([index[a] for a, _ in moments["edges"]], dtype=np.int64)
    v = np.array([index[b] for _, b in moments["edges"]], dtype=np.int64)

    def z(est, mean, second):  # second = <y^2> of the statistic (1 for ±1, mean for 0/1)
        var = np.maximum(second - mean**2, 1.0 / N)
        return (est - mean) / np.sqrt(var / N)

    spin = bqm.vartype is dimod.SPIN
    zx = z(X.mean(0), moments["x"], 1.0 if spin else moments["x"])
    XX = X[:, u] * X[:, v]
    zxx = z(XX.mean(0), moments["xx"], 1.0 if spin else moments["xx"]) if u.size else np.zeros(0)
    e = bqm.energies((X, moments["variables"]))
    ez = (e.mean() - moments["energy_mean"]) / np.sqrt(max(moments["energy_var"], 1e-300) / N)
    rms = lambda a: float(np.sqrt(np.mean(a**2))) if a.size else 0.0  # noqa: E731
    return {
        "energy_z": float(ez),
        "variable_rms": rms(zx),
        "variable_max": float(np.abs(zx).max()) if zx.size else 0.0,
        "edge_rms": rms(zxx),
        "edge_max": float(np.abs(zxx).max()) if zxx.size else 0.0,
        "n": int(N),
    }
