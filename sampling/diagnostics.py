"""Sample-quality diagnostics: distances to the exact distribution, their i.i.d. noise floor,
effective β by maximum pseudo-likelihood, energy histograms.

The question every check answers is "could these samples have come from exp(-β E)?". A finite
sample never matches the exact distribution perfectly, so each distance is compared with its
**i.i.d. noise floor**: the expected distance of N independent exact samples from the same
distribution (docs/design.md §4). A sampler is accepted when it is within a small factor (2×) of the floor.

Conventions:

* States are indexed as integers with the first variable as the most significant bit
  (:func:`state_index`), as in :mod:`sampling.enumeration`; samples may be {0, 1} or {-1, +1}.
* ``kl_divergence(p, q)`` is KL(p ‖ q) = Σ p log(p / q) in **nats**, with 0 log 0 = 0. The
  diagnostics always call it as KL(empirical ‖ exact): it is finite whenever the exact
  distribution has full support (any finite β), and it needs no smoothing of empty bins.
* ``total_variation(p, q)`` = ½ Σ |p − q| ∈ [0, 1].

Examples:
    >>> import dimod
    >>> from sampling.enumeration import exact_distribution, exact_sample
    >>> bqm = dimod.BinaryQuadraticModel({}, {(0, 1): -1.0, (1, 2): 0.5}, 0.0, "SPIN")
    >>> _, p = exact_distribution(bqm, beta=1.0)
    >>> ss = exact_sample(bqm, beta=1.0, num_reads=2000, seed=1)
    >>> report = compare_to_exact(ss, p, variables=bqm.variables)
    >>> within_noise_floor(report)
    True
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import dimod
import numpy as np

from sampling.bqm import column_order
from sampling.checks import check_positive_int

__all__ = [
    "compare_to_exact",
    "empirical_distribution",
    "energy_histogram",
    "estimate_beta",
    "flip_gains",
    "kl_divergence",
    "noise_floor",
    "pseudolikelihood_beta",
    "sample_array",
    "state_index",
    "total_variation",
    "within_noise_floor",
]

#: Largest n for which :func:`empirical_distribution` builds a dense 2ⁿ histogram.
MAX_HISTOGRAM_VARIABLES = 24


# --------------------------------------------------------------------------- sample handling


def sample_array(
    samples: Any, variables: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, weights)``: samples as an (N, n) int8 array in ``variables`` column order and
    their weights (N,) (``num_occurrences`` for a SampleSet, ones otherwise).

    Args:
        samples: a :class:`dimod.SampleSet`, a ``(array, labels)`` pair, or an (N, n) array
            (then its columns are taken as already ordered, and ``variables`` only fixes n).
        variables: column order wanted, e.g. ``bqm.variables``. Required to reorder a SampleSet
            or a labelled pair; a SampleSet's own column order can differ from the BQM's.
    """
    weights = None
    if isinstance(samples, dimod.SampleSet):
        weights = np.asarray(samples.record.num_occurrences, dtype=np.float64)
        if variables is None:
            raise ValueError(
                "pass variables= (e.g. bqm.variables) with a SampleSet: its columns follow "
                "sampleset.variables, which can differ from the model's order"
            )
    if isinstance(samples, dimod.SampleSet) or (
        isinstance(samples, tuple) and len(samples) == 2 and variables is not None
    ):
        arr, labels = dimod.as_samples(samples)
        if variables is not None:
            known = set(labels)
            missing = [v for v in variables if v not in known]
            if missing or len(labels) != len(variables):
                raise ValueError(
                    f"sample labels {list(labels)[:8]} do not match the variables "
                    f"{list(variables)[:8]} (missing: {missing[:8]})"
                )
            arr = arr[:, column_order(labels, variables)]
    else:
        arr = np.asarray(samples)
        if arr.ndim != 2:
            raise ValueError(f"samples must have shape (N, n), got {arr.shape}")
        if variables is not None and arr.shape[1] != len(variables):
            raise ValueError(
                f"samples must have shape (N, {len(variables)}), got {arr.shape}"
            )
    arr = np.asarray(arr).astype(np.int8, copy=False)
    if weights is None:
        weights = np.ones(arr.shape[0])
    return arr, weights


def state_index(samples: np.ndarray) -> np.ndarray:
    """Integer index of each row of an (N, n) {0,1} or {-1,+1} array, first column most significant."""
    x = np.asarray(samples)
    if x.ndim != 2:
        raise ValueError(f"samples must have shape (N, n), got {x.shape}")
    n = x.shape[1]
    if n > 62:
        raise ValueError(f"cannot index states of {n} > 62 variables as integers")
    bits = (x > 0).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(n - 1, -1, -1, dtype=np.int64))


def empirical_distribution(
    samples: Any,
    n: int | None = None,
    *,
    variables: Sequence[Hashable] | None = None,
) -> np.ndarray:
    """Empirical distribution of the samples over all 2ⁿ states, shape (2ⁿ,), summing to 1.

    Args:
        samples: (N, n) array of {0, 1} or {-1, +1}, or a SampleSet / labelled pair with
            ``variables`` (``num_occurrences`` are counted).
        n: number of variables; checked against the samples when given.
        variables: column order (see :func:`sample_array`).
    """
    x, w = sample_array(samples, variables)
    if n is not None and x.shape[1] != n:
        raise ValueError(f"samples must have shape (N, {n}), got {x.shape}")
    n = x.shape[1]
    if n > MAX_HISTOGRAM_VARIABLES:
        raise ValueError(f"a dense histogram of 2^{n} states is too large (limit 2^{MAX_HISTOGRAM_VARIABLES})")
    if x.shape[0] == 0:
        raise ValueError("no samples")
    counts = np.bincount(state_index(x), weights=w, minlength=1 << n)
    return counts / counts.sum()


# --------------------------------------------------------------------------- distances


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) = Σ p log(p / q) in nats, with 0 log 0 = 0; +inf if p > 0 where q = 0.

    Called as ``kl_divergence(p_empirical, p_exact)`` throughout this package.
    """
    p, q = _check_pair(p, q)
    mask = p > 0
    if np.any(q[mask] <= 0):
        return float("inf")
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance ½ Σ |p − q| ∈ [0, 1]."""
    p, q = _check_pair(p, q)
    return float(0.5 * np.abs(p - q).sum())


def noise_floor(
    p_exact: np.ndarray, num_samples: int, *, num_draws: int = 16, seed: int = 0
) -> dict[str, float]:
    """Expected KL(empirical ‖ exact) and TV of ``num_samples`` i.i.d. exact samples.

    Estimated by drawing ``num_draws`` multinomial samples of size ``num_samples`` from
    ``p_exact`` with a fixed ``seed`` and averaging. (For comparison, the asymptotic KL floor is
    (k − 1) / (2N) for k states of non-negligible probability.)

    Returns:
        ``{"kl_floor": mean KL, "tv_floor": mean TV, "kl_floor_std": ..., "tv_floor_std": ...}``.
    """
    p = np.asarray(p_exact, dtype=np.float64)
    num_samples = check_positive_int(num_samples, "num_samples")
    num_draws = check_positive_int(num_draws, "num_draws")
    rng = np.random.default_rng(seed)
    pn = p / p.sum()
    kls, tvs = [], []
    for _ in range(num_draws):
        emp = rng.multinomial(num_samples, pn) / num_samples
        kls.append(kl_divergence(emp, pn))
        tvs.append(total_variation(emp, pn))
    return {
        "kl_floor": float(np.mean(kls)),
        "tv_floor": float(np.mean(tvs)),
        "kl_floor_std": float(np.std(kls)),
        "tv_floor_std": float(np.std(tvs)),
    }


def compare_to_exact(
    samples: Any,
    p_exact: np.ndarray,
    *,
    variables: Sequence[Hashable] | None = None,
    num_draws: int = 16,
    seed: int = 0,
) -> dict[str, float]:
    """Distance of the samples' empirical distribution from the exact one, next to its noise floor.

    Args:
        samples: (N, n) array, or a SampleSet / labelled pair with ``variables`` (the column
            order of ``p_exact``, e.g. ``bqm.variables`` for :func:`exact_distribution`).
        p_exact: exact probabilities, shape (2ⁿ,), indexed as in :func:`state_index`.
        num_draws, seed: for :func:`noise_floor`.

    Returns:
        ``dict(kl, tv, kl_floor, tv_floor, n)``: KL(empirical ‖ exact) in nats, total variation,
        their i.i.d. floors for the same number of samples, and ``n`` = number of samples
        (sum of ``num_occurrences``). Use :func:`within_noise_floor` to turn it into a verdict.
    """
    x, w = sample_array(samples, variables)
    p_exact = np.asarray(p_exact, dtype=np.float64)
    if p_exact.shape != (1 << x.shape[1],):
        raise ValueError(
            f"p_exact must have shape (2^{x.shape[1]},) = ({1 << x.shape[1]},) for samples of "
            f"{x.shape[1]} variables, got {p_exact.shape}"
        )
    emp = empirical_distribution(x)
    if not np.allclose(w, 1.0):
        counts = np.bincount(state_index(x), weights=w, minlength=p_exact.size)
        emp = counts / counts.sum()
    n_samples = int(round(w.sum()))
    floor = noise_floor(p_exact, n_samples, num_draws=num_draws, seed=seed)
    return {
        "kl": kl_divergence(emp, p_exact),
        "tv": total_variation(emp, p_exact),
        "kl_floor": floor["kl_floor"],
        "tv_floor": floor["tv_floor"],
        "n": n_samples,
    }


def within_noise_floor(report: Mapping[str, float], factor: float = 2.0) -> bool:
    """True when both KL and TV of a :func:`compare_to_exact` report are ≤ ``factor`` × floor."""
    return bool(
        report["kl"] <= factor * report["kl_floor"] and report["tv"] <= factor * report["tv_floor"]
    )


# --------------------------------------------------------------------------- effective β


def flip_gains(bqm: dimod.BinaryQuadraticModel, x: np.ndarray) -> np.ndarray:
    """E(x) − E(x with variable i flipped), shape (N, n), for samples x in ``bqm.variables`` order.

    Positive means flipping i would lower the energy (a local excitation). This is the
    "energy lost by flipping" ``en1`` of ``dwave.system.temperatures.effective_field(...,
    current_state_energy=True)``, computed without its per-sample Python loop, and it is the same
    for the SPIN and BINARY forms of a model.
    """
    n = bqm.num_variables
    lin, (irow, icol, qdata), _ = bqm.to_numpy_vectors(variable_order=list(bqm.variables))
    xf = np.asarray(x, dtype=np.float64)
    if xf.ndim != 2 or xf.shape[1] != n:
        raise ValueError(f"samples must have shape (N, {n}), got {xf.shape}")
    # local field f_i(x) = lin_i + Σ_j Q_ij x_j with Q symmetric
    field = np.tile(lin, (xf.shape[0], 1))
    if qdata.size:
        import scipy.sparse as sp

        q = sp.coo_matrix((qdata, (irow, icol)), shape=(n, n)).tocsr()
        q = q + q.T
        field += np.asarray((q @ xf.T).T)
    if bqm.vartype is dimod.SPIN:
        # flipping s_i changes E by -2 s_i f_i
        return 2.0 * xf * field
    # flipping x_i changes E by (1 - 2 x_i) f_i
    return -(1.0 - 2.0 * xf) * field


def estimate_beta(
    bqm: dimod.BinaryQuadraticModel,
    samples: Any,
    *,
    return_stderr: bool = False,
) -> float | tuple[float, float]:
    """Effective inverse temperature of samples by maximum pseudo-likelihood (MPL).

    The pseudo-likelihood of a sample is Π_i P(x_i | x_rest) with P = 1 / (1 + exp(β g_i)) and
    g = :func:`flip_gains`; its maximiser is the root of the increasing function

        F(β) = Σ_samples w Σ_i g_i σ(β g_i),

    found by bracketing and Brent's method. This is the estimator of
    ``dwave.system.temperatures.maximum_pseudolikelihood_temperature`` (which returns T = 1/β; the
    tests check that both agree). We solve it here because importing ``dwave.system`` costs seconds
    (it loads the cloud client) and its bootstrap resamples ``num_bootstrap_samples`` rows instead
    of N; the standard error below replaces the bootstrap.

    Args:
        bqm: the model whose Boltzmann distribution the samples are supposed to follow.
        samples: SampleSet (``num_occurrences`` used as weights), ``(array, labels)`` pair, or an
            (N, n) array in ``bqm.variables`` order.
        return_stderr: also return the asymptotic standard error of β for **independent**
            samples (sandwich estimator Var = Σ_s w_s score_s² / (Σ_s w_s hessian_s)²). Correlated
            samples (e.g. consecutive sweeps of one chain) have a larger true error.

    Returns:
        β (``inf`` when every sample is a local minimum, ``-inf`` when every one is a local
        maximum; a negative β means the samples favour high energies), or ``(β, stderr)``.
    """
    x, w = sample_array(samples, list(bqm.variables))
    return pseudolikelihood_beta(flip_gains(bqm, x), w, return_stderr=return_stderr)


def pseudolikelihood_beta(
    gains: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    return_stderr: bool = False,
) -> float | tuple[float, float]:
    """The MPL β of samples given their flip gains (N, n) (:func:`flip_gains`), the one
    implementation behind :func:`estimate_beta` and :func:`sampling.qpu.calibration.mpl_beta`.

    ``weights`` (N,) default 1 (e.g. ``num_occurrences``); see :func:`estimate_beta` for the
    estimator, the infinite cases and the standard error.

    Raises:
        ValueError: no samples, or every flip gain is zero.
    """
    from scipy.optimize import brentq

    gains = np.asarray(gains, dtype=np.float64)
    w = np.ones(gains.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = w > 0
    gains, w = gains[keep], w[keep]
    if gains.size == 0 or not np.any(gains != 0):
        raise ValueError("cannot estimate beta: no samples, or every flip gain is zero")
    if gains.max() <= 0 or gains.min() >= 0:
        beta = float("inf") if gains.max() <= 0 else float("-inf")
        return (beta, float("nan")) if return_stderr else beta

    def score(b: float) -> float:
        return float(w @ (gains * _sigmoid(b * gains)).sum(axis=1))

    hi = 1.0 / float(np.abs(gains[gains != 0]).mean())
    lo = -hi
    while score(hi) < 0:
        lo, hi = hi, 2.0 * hi
    while score(lo) > 0:
        lo, hi = 2.0 * lo, lo
    beta = float(brentq(score, lo, hi, xtol=1e-12, rtol=1e-10))
    if not return_stderr:
        return beta
    sig = _sigmoid(beta * gains)
    per_sample = (gains * sig).sum(axis=1)
    hess = (gains * gains * sig * (1.0 - sig)).sum(axis=1)
    stderr = float(np.sqrt(np.sum(w * per_sample**2)) / np.sum(w * hess))
    return beta, stderr


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# --------------------------------------------------------------------------- plots


def energy_histogram(
    energies: Any,
    exact: tuple[np.ndarray, np.ndarray] | None = None,
    path: str | os.PathLike = "energy_histogram.png",
    *,
    bins: int = 50,
    title: str | None = None,
) -> str:
    """Write a PNG histogram of sample energies, optionally over the exact energy distribution.

    Args:
        energies: (N,) energies, or a SampleSet (its ``energy`` column, weighted by
            ``num_occurrences``).
        exact: optional ``(energies, probs)`` of all states, e.g.
            ``(exact_energies(bqm, states), probs)`` from :mod:`sampling.enumeration`; drawn as a
            step line of the probability mass per bin.
        path: output file (PNG).

    Returns:
        ``str(path)``. Uses matplotlib's Agg canvas directly (no pyplot, no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(energies, dimod.SampleSet):
        e = np.asarray(energies.record.energy, dtype=np.float64)
        w = np.asarray(energies.record.num_occurrences, dtype=np.float64)
    else:
        e = np.asarray(energies, dtype=np.float64).ravel()
        w = np.ones_like(e)
    if e.size == 0:
        raise ValueError("no energies to plot")
    lo, hi = float(e.min()), float(e.max())
    if exact is not None:
        ex_e, ex_p = (np.asarray(a, dtype=np.float64).ravel() for a in exact)
        if ex_e.shape != ex_p.shape:
            raise ValueError(f"exact energies {ex_e.shape} and probs {ex_p.shape} differ in shape")
        lo, hi = min(lo, float(ex_e.min())), max(hi, float(ex_e.max()))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(e, bins=edges, weights=w / w.sum(), alpha=0.6, label=f"samples (N={int(w.sum())})")
    if exact is not None:
        mass, _ = np.histogram(ex_e, bins=edges, weights=ex_p / ex_p.sum())
        ax.stairs(mass, edges, color="k", linewidth=1.5, label="exact")
    ax.set_xlabel("energy E")
    ax.set_ylabel("probability per bin")
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.fspath(path), format="png", dpi=100)
    return str(path)


def _check_pair(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"distributions must be 1-D of equal shape, got {p.shape} and {q.shape}")
    return p, q
