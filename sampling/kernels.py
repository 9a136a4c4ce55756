"""Compiled CPU kernels for the samplers' innermost loops (numba; optional, pure torch without it).

A Gibbs update is a local field, one exponential, one uniform number and one comparison. In torch
each of those is its own pass over memory (and torch's CPU sigmoid and random numbers are not
cheap); here they are one pass, vectorised across chains by LLVM:

- :func:`ising_sweeps`: sequential-scan Gibbs sweeps of a BQM held as CSR rows, every chain of a
  block at once (the chains are the contiguous axis), for :class:`sampling.torch_engine.IsingEngine`;
- :func:`conv_gibbs`: whole block-Gibbs chains of a one-channel conv RBM (pooled or not) on
  chains-last states, each logit a direct sum over the filter taps followed by its draw, for
  :meth:`rbm.conv.ConvRBM._gibbs_chain`;
- :func:`bernoulli_logits_`: ``x ← [u < σ(x)]`` in place, for the other RBMs' visible and
  unpooled hidden units (dense, several input channels);
- :func:`pooled_phases_`: the probabilistic max-pooling draw (one categorical over a block's c²
  units and "all off") in place, on the phase-major logits of a multi-channel
  :class:`rbm.conv.ConvRBM`.

**Random numbers.** Every SIMD lane has its own xoshiro128+ generator (Blackman & Vigna; four
32-bit words of state, shifts, xors and one add, so the lanes vectorise): :class:`LaneRandom`
holds the (4, L) states, seeded from a numpy ``SeedSequence`` or bit generator, and the kernels
advance them in place. A uniform is ``u = (k + 1/2) / 2^24`` from the generator's top 24 bits: on
the 2^24-point grid, never 0 or 1, so ``P(u < p)`` is p rounded to the nearest multiple of 2^-24
(within 2^-25 of p). xoshiro128+'s weak bits are its lowest ones (its authors: linear
artefacts in the low bits); the 8 lowest are dropped.

**Exponential.** ``2^t`` as ``2^floor(t)`` (exponent bits) times a degree-5 polynomial of the
fraction (least-squares fit, relative error below 1.6e-7 in float32, 1.3 units in the last place), t
clamped to [-126, 126]: so ``σ(x)`` is exact to float32's precision, like torch's sigmoid, and
no overflow reaches the comparison. The draw is ``u · (1 + e^(-x)) < 1``, i.e. ``u < σ(x)``.

The kernels compile on first use (about a second each; ``cache=True`` keeps them in numba's cache
directory afterwards). Without numba, or with the environment variable ``ANNEALER_CNN_NO_NUMBA``
set to anything but ``""``/``"0"``, :func:`available` is False and every caller takes its
pure-torch path: the same distributions, other random streams. :func:`set_enabled` switches
between the two in a running process (the tests run both).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = [
    "DISABLE_ENV",
    "LaneRandom",
    "available",
    "bernoulli_logits_",
    "conv_gibbs",
    "enabled",
    "ising_sweeps",
    "pooled_phases_",
    "set_enabled",
    "unavailable_reason",
]

DISABLE_ENV = "ANNEALER_CNN_NO_NUMBA"

#: Lanes of the elementwise kernels' generator: 16 KiB of state, L1-resident.
ELEMENTWISE_LANES = 1024


_impl = None  # the module sampling._numba_kernels once loaded
_reason: str | None = None  # why it is not, once tried
_enabled: bool | None = None  # None: follow available()


def _load():
    global _impl, _reason
    if _impl is None and _reason is None:
        if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
            _reason = f"disabled by {DISABLE_ENV}={os.environ[DISABLE_ENV]!r}"
        else:
            try:
                from . import _numba_kernels
            except ImportError as err:  # not installed: the pure-torch paths, silently
                _reason = f"numba does not import ({err})"
            except Exception as err:  # installed but broken here: say so once
                _reason = f"numba does not load ({type(err).__name__}: {err})"
            else:
                try:  # compile (or load from the cache) and check every kernel once
                    _numba_kernels.self_test()
                except Exception as err:
                    _reason = f"the compiled kernels failed their self-test ({type(err).__name__}: {err})"
                else:
                    _impl = _numba_kernels
            if _reason is not None and not _reason.startswith(("numba does not import",
                                                                "disabled")):
                warnings.warn(f"{_reason}; using the pure-torch samplers", RuntimeWarning,
                              stacklevel=3)
    return _impl


def available() -> bool:
    """Whether the compiled kernels can run here (numba imports and is not disabled); the first
    call imports numba (about 0.4 s)."""
    return _load() is not None


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (None when it is True)."""
    _load()
    return _reason


def enabled() -> bool:
    """Whether the samplers use the compiled kernels now (default: :func:`available`)."""
    return available() if _enabled is None else _enabled


def set_enabled(flag: bool) -> bool:
    """Use the compiled kernels (``True``) or the pure-torch paths (``False``) from now on, in
    this process; returns the previous setting. ``True`` without numba raises RuntimeError."""
    global _enabled
    if flag and not available():
        raise RuntimeError(f"the compiled kernels are unavailable: {unavailable_reason()}")
    previous, _enabled = enabled(), bool(flag)
    return previous


class LaneRandom:
    """Per-lane xoshiro128+ states, shape (4, lanes) uint32, advanced in place by the kernels.

    Args:
        source: an ``int`` / ``None`` seed or ``np.random.SeedSequence`` (seeded from it), or a
            numpy bit generator (its next raw draws seed the lanes).
        lanes: number of lanes seeded now (default none: the kernels ask for theirs).

    :meth:`ensure` grows the lane count, seeding the new lanes from the same source, so a stream
    that has grown is still a function of the seed. Until a kernel asks for lanes the source is
    untouched: :meth:`random_raw` (the pure-torch paths' bits) then gives exactly the source's
    stream, so a float64 model's chain draws what it drew before the kernels existed.
    """

    def __init__(self, source=None, lanes: int = 0):
        if isinstance(source, np.random.BitGenerator):
            self._bits = source
        else:
            seq = source if isinstance(source, np.random.SeedSequence) \
                else np.random.SeedSequence(source)
            self._bits = np.random.SFC64(seq)
        self.state = np.empty((4, 0), dtype=np.uint32)
        self.ensure(lanes)

    def random_raw(self, size: int) -> np.ndarray:
        """``size`` raw uint64 draws of the seeding bit generator (for the pure-torch paths)."""
        return self._bits.random_raw(size)

    @property
    def lanes(self) -> int:
        return self.state.shape[1]

    def ensure(self, lanes: int) -> np.ndarray:
        """At least ``lanes`` lanes; returns the (4, lanes) state (C-contiguous)."""
        have = self.state.shape[1]
        if lanes > have:
            new = self._bits.random_raw(2 * (lanes - have)).view(np.uint32).reshape(4, -1)
            new[0] |= np.uint32(1)  # never the all-zero state (a fixed point of xoshiro)
            self.state = np.ascontiguousarray(np.concatenate([self.state, new], axis=1))
        return self.state


def _check_dense(x, ndim: int | None) -> np.ndarray:
    """``x`` (a numpy array or a CPU torch tensor, viewed without a copy) checked for the
    in-place kernels."""
    x = x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else x
    if x.dtype != np.float32 or not x.flags.c_contiguous or not x.flags.writeable \
            or (ndim is not None and ndim > 1 and x.ndim != ndim):
        dims = f" of {ndim} dimensions" if ndim is not None and ndim > 1 else ""
        raise ValueError("the compiled kernels write in place into a C-contiguous, writeable "
                         f"float32 array{dims}; got "
                         f"{x.dtype}, shape {x.shape}, strides {x.strides}")
    return x


def ising_sweeps(state, ptr, idx, w, const, scale, num_sweeps: int, lanes: np.ndarray):
    """``num_sweeps`` sequential-scan Gibbs sweeps of a CSR BQM over every chain, in place.

    Args:
        state: (n + 1, B) float32 C-contiguous, b ∈ {0, 1} per row and chain (row n: unused
            here; the engine keeps it at one).
        ptr, idx, w, const: CSR rows (int64 (n + 1,), int32, float32) and (n,) float32 constants:
            the logit of row i is x_i = scale · (const_i + Σ_k w_k b_idx_k).
        scale: (B,) float32 per-chain factor (ones when β is folded into w and const).
        lanes: (4, ≥ B) uint32 generator states (:meth:`LaneRandom.ensure`); chain j uses lane j.

    Row i of every chain becomes [u < σ(x_i)], rows in order 0..n-1: a systematic-scan Gibbs
    sweep, exact for any order.
    """
    return _load().ising_sweeps(state, ptr, idx, w, const, scale, num_sweeps, lanes)


def conv_gibbs(v, h, weight, hidden_bias, visible_bias, betas, pool: int | None,
               rng: LaneRandom) -> None:
    """Block-Gibbs sweeps of a conv RBM on chains-last states, in place (see
    :meth:`rbm.conv.ConvRBM._gibbs_chain`): per β in ``betas`` h ~ p(h | v, β), then
    v ~ p(v | h, β); finally h ~ p(h | v, betas[-1]).

    Args:
        v: (C, H, W, B) float32, values in [0, 1] (the first half-sweep uses them as given).
        h: (K, H', W', B) float32, overwritten.
        weight, hidden_bias, visible_bias: (K, C, w, w), (K,), (C,) float32 (no grad).
        betas: the sweeps' inverse temperatures.
        pool: probabilistic max-pooling block size, or None.
        rng: lane generators: lane j·B + b draws the unit in column j of a row for chain b
            (W·B lanes).
    """
    betas = np.ascontiguousarray(betas, dtype=np.float32)
    if betas.ndim != 1 or betas.size == 0:
        raise ValueError("conv_gibbs needs at least one beta")
    v, h = _check_dense(v, 4), _check_dense(h, 4)
    params = [np.ascontiguousarray(_check_dense(x, None)) for x in
              (weight, hidden_bias, visible_bias)]
    lanes = rng.ensure(max(v.shape[2], h.shape[2]) * v.shape[3])  # one per element of a row
    _load().conv_gibbs(v, h, *params, betas, int(pool or 0), lanes)


def bernoulli_logits_(x, rng: LaneRandom):
    """``x ← [u < σ(x)]`` elementwise, in place (float32, any shape, C-contiguous; a numpy array
    or a CPU torch tensor); returns ``x``."""
    _load()._bernoulli_flat(_check_dense(x, 1).reshape(-1), rng.ensure(ELEMENTWISE_LANES))
    return x


def pooled_phases_(x, rng: LaneRandom):
    """The pooled hidden draw on phase-major logits ``x`` (B, c², n), in place (float32).

    Per batch row b and position j: unit a with weight ``exp(x[b, a, j])`` or "all off" with
    weight 1, drawn by one uniform against the running sums; ``x`` (a numpy array or a CPU
    torch tensor) becomes the one-hot sample and is returned.
    """
    _load()._pooled_flat(_check_dense(x, 3), rng.ensure(ELEMENTWISE_LANES))
    return x
