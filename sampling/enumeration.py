"""Enumeration of states, and exact Boltzmann distributions of small binary quadratic models.

This module owns state enumeration in ``sampling/``: :func:`enumerate_states` (binary / spin
states) and :func:`enumerate_block_states` (one-hot blocks, e.g. max-pooling blocks, for
``sampling.exact``) are one enumerator with one order and one limit, :data:`MAX_STATES`.

**Order.** State ``k`` is the mixed-radix expansion of ``k`` with the **first unit (or block) as the
most significant digit**; for binary units, bit i of state k is ``(k >> (n - 1 - i)) & 1``. A block
of s units has s + 1 states, digit 0 = all off and digit d = its d-th unit on.
:func:`sampling.diagnostics.state_index` uses the same convention, so ``probs[state_index(samples)]``
is the exact probability of each sample. (``rbm.evaluate`` enumerates in the same order in torch:
``rbm/`` may not import ``sampling/``.)

**Limit.** At most :data:`MAX_STATES` = 2²² states are enumerated at once (one unit: states); for a
BQM of n binary variables that is n ≤ :data:`MAX_EXACT_VARIABLES` = 22. Above it the enumerators and
:func:`check_enumerable` raise ``ValueError`` naming the limit.

For a dimod BQM with n ≤ :data:`MAX_EXACT_VARIABLES` variables, :func:`exact_distribution` lists all
2ⁿ states and their probabilities under p(x) = exp(-β E(x)) / Z(β); :func:`exact_sample` draws
i.i.d. samples from it as a :class:`dimod.SampleSet`. These are the ground truth that every sampler
in this package is tested against (``sampling.diagnostics``). Columns follow ``bqm.variables``;
values are {-1, +1} for SPIN models and {0, 1} for BINARY ones.

Examples:
    >>> import dimod
    >>> bqm = dimod.BinaryQuadraticModel({"a": 0.0}, {("a", "b"): -1.0}, 0.0, "SPIN")
    >>> states, probs = exact_distribution(bqm, beta=1.0)
    >>> states.tolist()
    [[-1, -1], [-1, 1], [1, -1], [1, 1]]
    >>> probs.round(3).tolist()
    [0.44, 0.06, 0.06, 0.44]
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import dimod
import numpy as np

from sampling.checks import check_beta, check_positive_int

__all__ = [
    "MAX_EXACT_VARIABLES",
    "MAX_STATES",
    "check_enumerable",
    "enumerate_block_states",
    "enumerate_states",
    "exact_distribution",
    "exact_energies",
    "exact_sample",
]

#: Most states enumerated at once, the one limit of enumeration in ``sampling/``. 2²² states × 22
#: variables is ~92 MB of int8 states plus 32 MB of float64 energies, and about a second of
#: arithmetic; every extra variable doubles both.
MAX_STATES = 1 << 22

#: The same limit for n binary variables (2ⁿ states): 22.
MAX_EXACT_VARIABLES = MAX_STATES.bit_length() - 1

_CHUNK = 1 << 16  # states per block when evaluating energies (keeps float64 blocks ~ 11 MB)


def check_enumerable(
    bqm: dimod.BinaryQuadraticModel,
    limit: int = MAX_EXACT_VARIABLES,
    *,
    what: str = "exact enumeration",
    subject: str = "this problem",
    hint: str = "use a sampling method instead",
) -> int:
    """Return ``bqm.num_variables``, or raise ``ValueError`` if it is above ``limit`` variables.

    The message reads "``what`` enumerates all 2^n states and is limited to 22 variables;
    ``subject`` has 23 variables (...): ``hint``".
    """
    n = bqm.num_variables
    if n > limit:
        raise ValueError(
            f"{what} enumerates all 2^n states and is limited to {limit} variables; {subject} "
            f"has {n} variables (2^{n} states, the limit is 2^{limit}): {hint}"
        )
    return n


def enumerate_states(n: int, vartype: dimod.Vartype | str = dimod.BINARY) -> np.ndarray:
    """All 2ⁿ states, shape (2ⁿ, n), int8, first variable most significant.

    Values are {0, 1} for BINARY and {-1, +1} for SPIN.
    """
    vartype = dimod.as_vartype(vartype)
    if not 0 <= n <= MAX_EXACT_VARIABLES:
        raise ValueError(f"n must be in [0, {MAX_EXACT_VARIABLES}], got {n}")
    idx = np.arange(1 << n, dtype=np.int64)[:, None]
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)[None, :]
    states = ((idx >> shifts) & 1).astype(np.int8)
    if vartype is dimod.SPIN:
        states = 2 * states - 1
    return states


def enumerate_block_states(
    blocks: Sequence[Sequence[int]], n_units: int, max_states: int = MAX_STATES
) -> np.ndarray:
    """All states of ``n_units`` binary units grouped in one-hot blocks, (S, n_units) uint8.

    ``blocks`` partitions (or covers part of) the units: at most one unit of a block is on, so a
    block of s units has s + 1 states and S = Π (sᵢ + 1). Order as in the module docstring: the
    first block is the most significant digit (singleton blocks give :func:`enumerate_states`'
    order).

    Raises:
        ValueError: S above ``max_states`` (default :data:`MAX_STATES`).
    """
    radices = [len(block) + 1 for block in blocks]
    total = math.prod(radices)
    max_states = check_positive_int(max_states, "max_states")
    if total > max_states:
        raise ValueError(
            f"enumeration would list {total} states ({len(blocks)} blocks of {n_units} units), "
            f"above the limit max_states={max_states}"
        )
    index = np.arange(total, dtype=np.int64)
    out = np.zeros((total, n_units), dtype=np.uint8)
    stride = 1
    for block, radix in zip(reversed(blocks), reversed(radices), strict=True):
        digit = (index // stride) % radix
        on = np.flatnonzero(digit)
        out[on, np.asarray(block, dtype=np.int64)[digit[on] - 1]] = 1
        stride *= radix
    return out


def exact_energies(bqm: dimod.BinaryQuadraticModel, states: np.ndarray) -> np.ndarray:
    """Energies of ``states`` (shape (S, n), columns in ``bqm.variables`` order), shape (S,), float64.

    Vectorised in blocks (E = x·h + xᵀ Q x + offset with Q strictly upper triangular); equal to
    ``bqm.energies((states, bqm.variables))`` up to rounding.
    """
    n = bqm.num_variables
    states = np.asarray(states)
    if states.ndim != 2 or states.shape[1] != n:
        raise ValueError(f"states must have shape (S, {n}), got {states.shape}")
    order = list(bqm.variables)
    lin, (irow, icol, qdata), offset = bqm.to_numpy_vectors(variable_order=order)
    quad = np.zeros((n, n))
    np.add.at(quad, (np.minimum(irow, icol), np.maximum(irow, icol)), qdata)
    out = np.empty(states.shape[0])
    for start in range(0, states.shape[0], _CHUNK):
        x = states[start : start + _CHUNK].astype(np.float64)
        out[start : start + _CHUNK] = x @ lin + np.einsum("bi,bi->b", x @ quad, x) + offset
    return out


def exact_distribution(
    bqm: dimod.BinaryQuadraticModel, beta: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Enumerate the Boltzmann distribution p(x) ∝ exp(-β E(x)) of a small BQM.

    Args:
        bqm: any dimod BQM (SPIN or BINARY, any labels) with at most :data:`MAX_EXACT_VARIABLES`
            variables.
        beta: inverse temperature, > 0 (applied to the BQM's energy as given).

    Returns:
        ``(states, probs)``: states shape (2ⁿ, n) int8 in ``bqm.variables`` column order (see the
        module docstring for the row order) and probs shape (2ⁿ,) float64 summing to 1.

    Raises:
        ValueError: β not positive and finite, or too many variables.
    """
    beta = check_beta(beta)
    n = check_enumerable(bqm)
    states = enumerate_states(n, bqm.vartype)
    logw = -beta * exact_energies(bqm, states)
    logw -= logw.max()
    probs = np.exp(logw)
    probs /= probs.sum()
    return states, probs


def exact_sample(
    bqm: dimod.BinaryQuadraticModel,
    beta: float = 1.0,
    num_reads: int = 100,
    seed: int | np.random.Generator | None = None,
) -> dimod.SampleSet:
    """Draw ``num_reads`` i.i.d. samples from exp(-β E) exactly, by enumeration.

    Returns:
        A :class:`dimod.SampleSet` with one row per read (``num_occurrences`` all 1), columns in
        ``bqm.variables`` order, the BQM's vartype and energies, and ``info`` with ``beta`` and
        ``timing`` (seconds).

    Raises:
        ValueError: β or ``num_reads`` not positive, or too many variables.
    """
    t0 = time.perf_counter()
    num_reads = check_positive_int(num_reads, "num_reads")
    states, probs = exact_distribution(bqm, beta)
    rng = np.random.default_rng(seed)
    idx = rng.choice(probs.size, size=num_reads, p=probs)
    samples = states[idx]
    energies = exact_energies(bqm, samples)
    info = {"beta": float(beta), "timing": {"sampling_s": time.perf_counter() - t0}}
    return dimod.SampleSet.from_samples(
        (samples, list(bqm.variables)),
        vartype=bqm.vartype,
        energy=energies,
        info=info,
        sort_labels=False,  # the default sorts sortable labels, losing bqm.variables order
    )
