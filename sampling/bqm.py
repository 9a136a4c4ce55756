"""Between a model's ``QuadraticModelSpec`` and dimod: build the BQM, read samples back.

The spec (``docs/interfaces.md``) lists a bipartite model as numpy vectors: variables
``x = concat(v.flatten(), h.flatten())`` in C order, binary, with
E(x) = linear·x + Σₖ values[k] x[rows[k]] x[cols[k]] + offset. :func:`spec_to_bqm` turns it into a
``dimod.BinaryQuadraticModel`` labelled 0..n-1 in one vectorised call; :func:`sampleset_to_array`
reads a ``SampleSet`` back into that column order whatever order the sampler returned its
variables in (``docs/design.md`` §3), expanding aggregated rows. :func:`column_order` and
:func:`in_variable_order` are the one column-reordering helper of ``sampling/`` for any labels.

Examples:
    >>> import dimod
    >>> import numpy as np
    >>> bqm = dimod.BinaryQuadraticModel({2: 1.0, 0: -1.0, 1: 0.5}, {}, 0.0, "BINARY")
    >>> ss = dimod.SampleSet.from_samples(([[1, 0, 0]], [0, 2, 1]), "BINARY", energy=[0.0],
    ...                                   sort_labels=False)
    >>> list(ss.variables), sampleset_to_array(ss, 3).tolist()
    ([0, 2, 1], [[1, 0, 0]])
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import dimod
import numpy as np

__all__ = [
    "column_order",
    "in_variable_order",
    "pooling_pairs",
    "pooling_violations",
    "sampleset_to_array",
    "spec_to_bqm",
]


def column_order(labels: Sequence[Hashable], variables: Iterable[Hashable]) -> np.ndarray:
    """The column of each of ``variables`` among ``labels``, int64 (len(variables),).

    ``samples[:, column_order(sampleset.variables, bqm.variables)]`` puts a sample set's columns
    in ``bqm.variables`` order (a ``SampleSet``'s columns follow its own ``.variables``).

    Raises:
        KeyError: a variable is not among ``labels`` (the key is the first missing one).

    Examples:
        >>> column_order(["b", "c", "a"], ["a", "b", "c"]).tolist()
        [2, 0, 1]
    """
    position = {label: i for i, label in enumerate(labels)}
    return np.array([position[v] for v in variables], dtype=np.int64)


def in_variable_order(sampleset: dimod.SampleSet, variables: Iterable[Hashable]) -> dimod.SampleSet:
    """``sampleset`` with its columns in ``variables`` order: same rows, data vectors and info.

    Returns ``sampleset`` itself when its columns are already in that order.

    Raises:
        KeyError: a variable is not in the sample set.
    """
    variables = list(variables)
    if list(sampleset.variables) == variables:
        return sampleset
    record = sampleset.record
    vectors = {name: record[name] for name in record.dtype.names if name != "sample"}
    return dimod.SampleSet.from_samples(
        (record.sample[:, column_order(sampleset.variables, variables)], variables),
        vartype=sampleset.vartype,
        info=dict(sampleset.info),
        sort_labels=False,  # the default sorts sortable labels, losing the order asked for
        **vectors,
    )


def spec_to_bqm(spec: Any, scale: float = 1.0) -> dimod.BinaryQuadraticModel:
    """The BINARY ``dimod.BinaryQuadraticModel`` of a ``QuadraticModelSpec``, times ``scale``.

    Variables are labelled ``0 .. n_visible + n_hidden - 1`` (visible first, C order). The energy
    is ``scale * E(x)``; samplers here keep ``scale=1`` and put β in the annealing schedule.
    """
    linear = np.asarray(spec.linear, dtype=np.float64)
    rows = np.asarray(spec.rows, dtype=np.int64)
    cols = np.asarray(spec.cols, dtype=np.int64)
    values = np.asarray(spec.values, dtype=np.float64)
    n = int(spec.n_visible) + int(spec.n_hidden)
    if linear.shape != (n,):
        raise ValueError(f"spec.linear must have shape ({n},), got {linear.shape}")
    if not rows.shape == cols.shape == values.shape:
        raise ValueError(
            f"spec rows/cols/values must have one shape, got {rows.shape}, {cols.shape}, "
            f"{values.shape}"
        )
    if scale != 1.0:
        linear, values = scale * linear, scale * values
    offset = float(spec.offset) * scale
    return dimod.BinaryQuadraticModel.from_numpy_vectors(
        linear, (rows, cols, values), offset, dimod.BINARY
    )


def sampleset_to_array(sampleset: dimod.SampleSet, num_variables: int) -> np.ndarray:
    """Samples as an int8 array (N, num_variables) with column i holding variable ``i``.

    The columns of ``sampleset.record.sample`` follow ``sampleset.variables``, which need not be
    0..n-1 in order: they are permuted back. Rows with ``num_occurrences`` k > 1 are repeated k
    times, so every row is one read.

    Raises:
        ValueError: the sample set does not have exactly the variables 0..num_variables-1.
    """
    variables = sampleset.variables
    if len(variables) != num_variables:
        raise ValueError(
            f"expected {num_variables} variables labelled 0..{num_variables - 1}, the sample set "
            f"has {len(variables)}"
        )
    try:
        order = column_order(variables, range(num_variables))
    except KeyError:
        raise ValueError(
            f"sample set variables are not the labels 0..{num_variables - 1}"
        ) from None
    record = sampleset.record
    samples = record.sample
    if not np.array_equal(order, np.arange(num_variables)):
        samples = samples[:, order]
    samples = np.ascontiguousarray(samples, dtype=np.int8)
    if sampleset.vartype is dimod.SPIN:
        samples = ((samples + 1) // 2).astype(np.int8)
    occurrences = record.num_occurrences
    if occurrences.size and np.any(occurrences != 1):
        samples = np.repeat(samples, occurrences, axis=0)
    return samples


def pooling_pairs(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the hidden–hidden couplings of a spec (max-pooling penalty pairs).

    An RBM has no other hidden–hidden couplings, so a state with both ends of a pair on violates
    the "at most one detection unit on per pooling block" constraint. Empty without pooling.
    """
    rows = np.asarray(spec.rows, dtype=np.int64)
    cols = np.asarray(spec.cols, dtype=np.int64)
    n_visible = int(spec.n_visible)
    mask = (rows >= n_visible) & (cols >= n_visible)
    return rows[mask], cols[mask]


def pooling_violations(spec: Any, samples: np.ndarray) -> np.ndarray:
    """Boolean (N,): which rows of ``samples`` (N, n_vars) break a max-pooling constraint."""
    rows, cols = pooling_pairs(spec)
    samples = np.asarray(samples)
    if rows.size == 0:
        return np.zeros(samples.shape[0], dtype=bool)
    out = np.empty(samples.shape[0], dtype=bool)
    step = max(1, (1 << 22) // rows.size)  # bounded temporaries on large canvases
    for start in range(0, samples.shape[0], step):
        block = samples[start : start + step] != 0
        out[start : start + step] = np.any(block[:, rows] & block[:, cols], axis=1)
    return out
