"""A neutral description of an RBM as a binary quadratic model, and its vectorised builders.

``sampling/`` turns a :class:`QuadraticModelSpec` into a dimod BQM (or a torch Gibbs sampler)
without knowing any model class. Variables are ``x = concat(v.flatten(), h.flatten())`` in C
order, binary {0, 1}, and

    E(x) = linear · x + Σₖ values[k] · x[rows[k]] · x[cols[k]] + offset,   rows < cols.

The builders use index arithmetic only (no Python loop over pixels or positions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "POOL_PENALTY_MARGIN",
    "QuadraticModelSpec",
    "conv_qm",
    "default_pool_penalty",
    "dense_qm",
]

#: Energy added on top of the largest possible gain of switching on a second detection unit in a
#: pooling block (see :func:`default_pool_penalty`): at β = 1 an invalid state is at least
#: e^10 ≈ 2·10⁴ times less likely than the valid state with that unit off.
POOL_PENALTY_MARGIN = 10.0


def _frozen(a, dtype) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class QuadraticModelSpec:
    """A bipartite binary quadratic model over ``x = concat(v.flatten(), h.flatten())``.

    Attributes:
        visible_shape: shape of v without batch, e.g. ``(1, 28, 28)`` or ``(64,)``.
        hidden_shape: shape of h without batch, e.g. ``(16, 24, 24)`` or ``(16,)``.
        n_visible, n_hidden: ``prod(visible_shape)``, ``prod(hidden_shape)``.
        linear: float64 ``(n_visible + n_hidden,)``.
        rows, cols: int64 ``(M,)`` variable indices, ``rows < cols`` elementwise.
        values: float64 ``(M,)`` coupling of each pair (one entry per pair, no duplicates).
        offset: constant energy.

    Arrays are read-only copies.

    Examples:
        >>> spec = QuadraticModelSpec(visible_shape=(2,), hidden_shape=(1,), n_visible=2,
        ...     n_hidden=1, linear=[-1.0, 0.0, -0.5], rows=[0, 1], cols=[2, 2], values=[-2.0, 1.0])
        >>> spec.energy(np.array([[1, 0, 1], [0, 1, 1]])).tolist()
        [-3.5, 0.5]
        >>> [a.tolist() for a in spec.split(np.array([[1, 0, 1]]))]
        [[[1, 0]], [[1]]]
    """

    visible_shape: tuple[int, ...]
    hidden_shape: tuple[int, ...]
    n_visible: int
    n_hidden: int
    linear: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    offset: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "visible_shape", tuple(int(s) for s in self.visible_shape))
        set_(self, "hidden_shape", tuple(int(s) for s in self.hidden_shape))
        set_(self, "n_visible", int(self.n_visible))
        set_(self, "n_hidden", int(self.n_hidden))
        set_(self, "offset", float(self.offset))
        arrays = {"linear": np.float64, "rows": np.int64, "cols": np.int64, "values": np.float64}
        for name, dtype in arrays.items():
            set_(self, name, _frozen(getattr(self, name), dtype).ravel())
        if math.prod(self.visible_shape) != self.n_visible:
            raise ValueError(
                f"visible_shape {self.visible_shape} does not hold {self.n_visible} units")
        if math.prod(self.hidden_shape) != self.n_hidden:
            raise ValueError(
                f"hidden_shape {self.hidden_shape} does not hold {self.n_hidden} units")
        n = self.num_variables
        if self.linear.shape != (n,):
            raise ValueError(f"expected linear of shape ({n},), got {self.linear.shape}")
        if not (self.rows.shape == self.cols.shape == self.values.shape):
            raise ValueError(
                f"rows, cols, values must have one shape, got {self.rows.shape}, "
                f"{self.cols.shape}, {self.values.shape}"
            )
        if self.rows.size and (
            self.rows.min() < 0 or self.cols.max() >= n or np.any(self.rows >= self.cols)
        ):
            raise ValueError(f"couplings need 0 <= rows < cols < {n}")

    @property
    def num_variables(self) -> int:
        """``n_visible + n_hidden``."""
        return self.n_visible + self.n_hidden

    def _as_states(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.num_variables:
            raise ValueError(
                f"expected x of shape (N, {self.num_variables}), got {tuple(x.shape)}"
            )
        return x

    def split(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Map states ``(N, n_vars)`` to ``(v, h)`` of shapes ``(N, *visible_shape)`` and
        ``(N, *hidden_shape)`` (a single state ``(n_vars,)`` gives unbatched shapes)."""
        x = self._as_states(x)
        lead = x.shape[:-1]
        v = x[..., : self.n_visible].reshape(*lead, *self.visible_shape)
        h = x[..., self.n_visible :].reshape(*lead, *self.hidden_shape)
        return v, h

    def energy(self, x) -> np.ndarray:
        """``E(x)`` of states ``(N, n_vars)`` (or ``(n_vars,)``), float64 shape ``(N,)`` (or ())."""
        from scipy.sparse import coo_array

        x = self._as_states(x)
        xs = np.atleast_2d(x).astype(np.float64)
        n = self.num_variables
        q = coo_array((self.values, (self.rows, self.cols)), shape=(n, n)).tocsr()
        qx = np.asarray(q @ xs.T).T  # (N, n): (Q x)_r = Σ_c Q[r, c] x_c
        e = xs @ self.linear + np.einsum("ij,ij->i", qx, xs) + self.offset
        return e if x.ndim == 2 else e[0]


def dense_qm(weight: np.ndarray, visible_bias: np.ndarray, hidden_bias: np.ndarray,
             visible_shape: tuple[int, ...] | None = None) -> QuadraticModelSpec:
    """The QM of ``E = -b_v·v - b_h·h - vᵀWh`` with ``weight`` of shape (n_visible, n_hidden).

    The coupling of (v_i, h_j) is entry ``i * n_hidden + j`` (all pairs, zeros included, so the
    structure does not depend on the values).
    """
    n_v, n_h = weight.shape
    rows = np.repeat(np.arange(n_v), n_h)
    cols = n_v + np.tile(np.arange(n_h), n_v)
    return QuadraticModelSpec(
        visible_shape=(n_v,) if visible_shape is None else visible_shape,
        hidden_shape=(n_h,),
        n_visible=n_v,
        n_hidden=n_h,
        linear=np.concatenate([-visible_bias, -hidden_bias]),
        rows=rows,
        cols=cols,
        values=-np.asarray(weight, dtype=np.float64).ravel(),
    )


def default_pool_penalty(weight: np.ndarray, hidden_bias: np.ndarray) -> float:
    """The default pairwise max-pooling penalty of a conv RBM, from its current parameters.

    Switching on detection unit j of filter k lowers the energy by its logit
    ``b_k + Σ W^k ⋆ v``, which is at most ``G = max_k (b_k + Σ max(W^k, 0))`` for any binary v.
    The penalty is ``max(G, 0) + POOL_PENALTY_MARGIN``: every state with two units on in a block
    has energy at least ``POOL_PENALTY_MARGIN`` above the state with one of them off, so it is
    never a ground state and carries a Boltzmann weight below ``e^{-β·margin}`` relative to it.

    Args:
        weight: filters ``(K, C, w, w)``. hidden_bias: ``(K,)``.
    """
    k = weight.shape[0]
    gain = hidden_bias + np.clip(weight.reshape(k, -1), 0, None).sum(1)
    return float(max(gain.max(), 0.0) + POOL_PENALTY_MARGIN)


def conv_qm(
    weight: np.ndarray,
    visible_bias: np.ndarray,
    hidden_bias: np.ndarray,
    visible_shape: tuple[int, int, int],
    pool_size: int | None = None,
    pool_penalty: float | None = None,
) -> QuadraticModelSpec:
    """The QM of a convolutional RBM on a ``(C, H, W)`` canvas (Lee et al. 2009 energy).

    Hidden unit ``(k, i, j)`` couples to pixel ``(c, i + a, j + b)`` with ``-W[k, c, a, b]``
    (``conv2d`` is a cross-correlation). With ``pool_size`` c, every pair of detection units in
    one c×c block of one filter gets ``+pool_penalty`` (default :func:`default_pool_penalty`).

    Args:
        weight: ``(K, C, w, w)``; visible_bias ``(C,)``; hidden_bias ``(K,)``.
        visible_shape: the canvas ``(C, H, W)``, ``H, W >= w``.
    """
    n_filters, channels, w, _ = weight.shape
    c_, height, width = visible_shape
    ho, wo = height - w + 1, width - w + 1
    n_v = channels * height * width
    n_pos = ho * wo
    n_h = n_filters * n_pos
    # Pixel index of every (position, channel, kernel offset): (Ho, Wo, C, w, w).
    pix = np.arange(n_v).reshape(channels, height, width)
    patches = sliding_window_view(pix, (w, w), axis=(1, 2)).transpose(1, 2, 0, 3, 4)
    patches = patches.reshape(n_pos, channels * w * w)
    rows = np.broadcast_to(patches, (n_filters, n_pos, channels * w * w))
    cols = np.broadcast_to(
        (n_v + np.arange(n_h)).reshape(n_filters, n_pos, 1), rows.shape
    )
    values = np.broadcast_to(
        -np.asarray(weight, dtype=np.float64).reshape(n_filters, 1, -1), rows.shape
    )
    rows, cols, values = rows.ravel(), cols.ravel(), values.ravel()
    if pool_size is not None and pool_size > 1:
        p = pool_size
        if ho % p or wo % p:
            raise ValueError(f"hidden map {ho}x{wo} is not divisible by pool size {p}")
        if pool_penalty is None:
            pool_penalty = default_pool_penalty(weight, hidden_bias)
        units = (n_v + np.arange(n_h)).reshape(n_filters, ho // p, p, wo // p, p)
        units = units.transpose(0, 1, 3, 2, 4).reshape(-1, p * p)
        iu, ju = np.triu_indices(p * p, 1)
        a, b = units[:, iu].ravel(), units[:, ju].ravel()
        rows = np.concatenate([rows, np.minimum(a, b)])
        cols = np.concatenate([cols, np.maximum(a, b)])
        values = np.concatenate([values, np.full(a.size, float(pool_penalty))])
    linear = np.concatenate(
        [np.repeat(-np.asarray(visible_bias, dtype=np.float64), height * width),
         np.repeat(-np.asarray(hidden_bias, dtype=np.float64), n_pos)]
    )
    return QuadraticModelSpec(
        visible_shape=(c_, height, width),
        hidden_shape=(n_filters, ho, wo),
        n_visible=n_v,
        n_hidden=n_h,
        linear=linear,
        rows=rows,
        cols=cols,
        values=values,
    )
