"""The numba implementations behind :mod:`sampling.kernels` (imported on first use; see there).

Every function is ``njit(cache=True, fastmath=True)``: fastmath lets LLVM vectorise the lane loops
(8 float32 lanes on AVX2); the arithmetic never meets NaN or infinities (the exponent is
clamped), so the flags change only the rounding of reassociated sums.
"""

import llvmlite.ir as _ir
import numba as _numba
import numpy as np
from numba.core import types as _types
from numba.extending import intrinsic as _intrinsic

_jit = _numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")

# 2^f on [0, 1): least-squares fit of the relative error, degree 5
_C0, _C1, _C2 = 0.9999999269249821, 0.6931529681766332, 0.24015452988671016
_C3, _C4, _C5 = 0.05582360446231999, 0.008992584031301182, 0.0018762329452030324
_LOG2E = 1.4426950408889634


@_intrinsic
def _as_float32(typingctx, bits):
    """The float32 whose bit pattern is the low 32 bits of the integer ``bits``."""
    if not isinstance(bits, _types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth > 32:
            value = builder.trunc(value, _ir.IntType(32))
        elif bits.bitwidth < 32:
            value = builder.sext(value, _ir.IntType(32))
        return builder.bitcast(value, _ir.FloatType())

    return _types.float32(bits), codegen


@_jit
def _exp2(t):
    """2^t for float32 t, clamped to [-126, 126]."""
    x = min(max(t, np.float32(-126.0)), np.float32(126.0))
    k = np.floor(x)
    f = x - k
    mant = np.float32(_C0) + f * (np.float32(_C1) + f * (np.float32(_C2) + f * (
        np.float32(_C3) + f * (np.float32(_C4) + f * np.float32(_C5)))))
    return mant * _as_float32((np.int32(k) + np.int32(127)) << np.int32(23))


@_jit
def _next_uniform(s0, s1, s2, s3, lane):
    """A uniform (k + 1/2) / 2^24 from lane ``lane``'s xoshiro128+ state, advanced."""
    a, b, c, d = s0[lane], s1[lane], s2[lane], s3[lane]
    r = np.uint32(a + d)
    t = np.uint32(b << np.uint32(9))
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = np.uint32((d << np.uint32(11)) | (d >> np.uint32(21)))
    s0[lane], s1[lane], s2[lane], s3[lane] = a, b, c, d
    return np.float32(np.int32(r >> np.uint32(8))) * np.float32(2.0**-24) \
        + np.float32(2.0**-25)


@_jit
def ising_sweeps(state, ptr, idx, w, const, scale, num_sweeps, s):
    """``num_sweeps`` sequential-scan Gibbs sweeps over rows 0..n-1 of ``state``, in place.

    Args:
        state: (n + 1, B) float32 C-contiguous, b ∈ {0, 1} per row and chain.
        ptr, idx, w: CSR rows (int64 (n + 1,), int32, float32): x_i = const_i + Σ w b_j.
        const: (n,) float32.
        scale: (B,) float32 per-chain factor on x_i (ones when β is folded into w, const).
        s: (4, L) uint32 lane states, L >= B (lane = chain).

    The update of row i is b_i ← [u < σ(scale · x_i)] for every chain.
    """
    n = ptr.shape[0] - 1
    width = state.shape[1]
    acc = np.empty(width, np.float32)
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for _ in range(num_sweeps):
        for i in range(n):
            ci = const[i]
            for b in range(width):
                acc[b] = ci
            for k in range(ptr[i], ptr[i + 1]):
                wk = w[k]
                row = state[idx[k]]
                for b in range(width):
                    acc[b] += wk * row[b]
            out = state[i]
            for b in range(width):
                e = _exp2(np.float32(-_LOG2E) * acc[b] * scale[b])
                u = _next_uniform(s0, s1, s2, s3, b)
                out[b] = np.float32(1.0) if u * (np.float32(1.0) + e) < np.float32(1.0) \
                    else np.float32(0.0)
    return state


@_jit
def _bernoulli_flat(x, s):
    lanes = s.shape[1]
    for start in range(0, x.shape[0], lanes):
        m = min(lanes, x.shape[0] - start)
        _draw_lanes_(x[start:start + m], s[0], s[1], s[2], s[3], m)


@_jit
def _categorical_(phase, start, m, top, run, s0, s1, s2, s3):
    """For every column q in [start, start + m) of ``phase`` (P, n) float32: one draw over
    [phase[0, q], ..., phase[P-1, q], 0] (the block's logits and "all off"), written back as the
    one-hot sample; column start + l uses generator lane l.

    Weights exp(x - m_q), m_q = max(0, max_p x); running sums S_p in place; one uniform u scaled
    by the total T = S_P + exp(-m_q); unit p is chosen when S_(p-1) <= uT < S_p, "all off" when
    uT >= S_P; the indicators [uT < S_p] are monotone in p, their differences the one-hot.
    """
    phases = phase.shape[0]
    for lane in range(m):
        top[lane] = np.float32(0.0)
        run[lane] = np.float32(0.0)
    for p in range(phases):
        xp = phase[p, start:start + m]
        for lane in range(m):
            top[lane] = max(top[lane], xp[lane])
    for p in range(phases):
        xp = phase[p, start:start + m]
        for lane in range(m):
            run[lane] += _exp2(np.float32(_LOG2E) * (xp[lane] - top[lane]))
            xp[lane] = run[lane]
    for lane in range(m):
        u = _next_uniform(s0, s1, s2, s3, lane)
        run[lane] = u * (run[lane] + _exp2(np.float32(-_LOG2E) * top[lane]))
    for p in range(phases - 1, -1, -1):
        xp = phase[p, start:start + m]
        if p > 0:
            xq = phase[p - 1, start:start + m]
            for lane in range(m):
                xp[lane] = (np.float32(1.0) if run[lane] < xp[lane] else np.float32(0.0)) - \
                    (np.float32(1.0) if run[lane] < xq[lane] else np.float32(0.0))
        else:
            for lane in range(m):
                xp[lane] = np.float32(1.0) if run[lane] < xp[lane] else np.float32(0.0)


@_jit
def _pooled_flat(x, s):
    """x (B, P, n): per (b, j) a categorical over [x[b, 0, j], ..., x[b, P-1, j], 0]."""
    lanes = s.shape[1]
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    nb, _, n = x.shape
    top = np.empty(lanes, np.float32)
    run = np.empty(lanes, np.float32)
    for bi in range(nb):
        for start in range(0, n, lanes):
            _categorical_(x[bi], start, min(lanes, n - start), top, run, s0, s1, s2, s3)


@_jit
def _axpy(acc, a0, src, s_start, wk, m):
    """acc[a0 + q] += wk · src[s_start + q] for q < m (one contiguous multiply-add pass)."""
    # views, so that every index is a non-negative loop counter: numba's wraparound check on
    # a computed index (a0 + q) would keep LLVM from vectorising the loop
    dst = acc[a0:a0 + m]
    x = src[s_start:s_start + m]
    for q in range(m):
        dst[q] += wk * x[q]


@_jit
def _conv_rows(vf, ws, bias, k, i, height_w, chans, acc, width):
    """acc[(j, b)] ← bias + Σ_{c,a,d} ws[k, c, a, d] v[c, i + a, j + d, b] for the whole output
    row i, (j, b) flattened (j < W', b < B): each tap is one pass over W'·B contiguous floats."""
    w = ws.shape[2]
    m = acc.shape[0]
    for q in range(m):
        acc[q] = bias
    h_in, w_in = height_w
    for c in range(chans):
        for a in range(w):
            row = ((c * h_in) + i + a) * w_in * width
            for d in range(w):
                _axpy(acc, 0, vf, row + d * width, ws[k, c, a, d], m)


@_jit
def _conv_hidden(vf, v_shape, hf, h_shape, ws, hb, pool, s0, s1, s2, s3, acc, accs, phase,
                 top, run):
    """h ← a sample of p(h | v) from the β-scaled filters ``ws`` and biases ``hb``.

    Flat chains-last layouts: v (C, H, W, B), h (K, H', W', B); a row of either is W·B (W'·B)
    contiguous floats, the unit of every pass. Lane q of the generator draws element q of a row.
    """
    chans, h_in, w_in, width = v_shape
    n_filters, ho, wo, _ = h_shape
    row_len = wo * width
    if pool <= 1:
        for k in range(n_filters):
            for i in range(ho):
                _conv_rows(vf, ws, hb[k], k, i, (h_in, w_in), chans, acc, width)
                _draw_lanes_(acc, s0, s1, s2, s3, row_len)
                base = (k * ho + i) * row_len
                out = hf[base:base + row_len]
                for q in range(row_len):
                    out[q] = acc[q]
        return
    nbj = wo // pool
    m = nbj * width  # one phase of a block row: (block, chain) flattened
    for k in range(n_filters):
        for bi in range(ho // pool):
            for a in range(pool):
                _conv_rows(vf, ws, hb[k], k, bi * pool + a, (h_in, w_in), chans, accs[a], width)
            # phase-major copies: phase[a·c + d][(bj, b)] = unit (bi·c + a, bj·c + d), chain b
            for a in range(pool):
                for d in range(pool):
                    for bj in range(nbj):
                        dst = phase[a * pool + d, bj * width:(bj + 1) * width]
                        src = accs[a, (bj * pool + d) * width:(bj * pool + d + 1) * width]
                        for b in range(width):
                            dst[b] = src[b]
            # one categorical per (block, chain) over the c² units and "all off" (weight 1)
            _categorical_(phase, 0, m, top, run, s0, s1, s2, s3)
            for a in range(pool):
                base = (k * ho + bi * pool + a) * row_len
                for d in range(pool):
                    for bj in range(nbj):
                        src = phase[a * pool + d, bj * width:(bj + 1) * width]
                        start = base + (bj * pool + d) * width
                        out = hf[start:start + width]
                        for b in range(width):
                            out[b] = src[b]


@_jit
def _draw_lanes_(x, s0, s1, s2, s3, m):
    """x[q] ← [u_q < σ(x[q])] for q < m, in place, lane q's uniform.

    One array for input and output: with two, LLVM's runtime overlap check fails when they are
    the same memory and the scalar loop runs (8x slower, measured).
    """
    for q in range(m):
        e = _exp2(np.float32(-_LOG2E) * x[q])
        u = _next_uniform(s0, s1, s2, s3, q)
        x[q] = np.float32(1.0) if u * (np.float32(1.0) + e) < np.float32(1.0) \
            else np.float32(0.0)


@_jit
def _conv_visible(hf, h_shape, vf, v_shape, ws, vb, s0, s1, s2, s3, acc):
    """v ← a sample of p(v | h) (the transposed convolution): for each visible row y, every
    (filter, tap row a, tap column d) adds one hidden row shifted by d: W'·B contiguous floats."""
    chans, h_in, w_in, width = v_shape
    n_filters, ho, wo, _ = h_shape
    w = ws.shape[2]
    row_len = w_in * width
    m = wo * width
    for c in range(chans):
        for y in range(h_in):
            for q in range(row_len):
                acc[q] = vb[c]
            for k in range(n_filters):
                for a in range(max(0, y - ho + 1), min(w, y + 1)):
                    hrow = (k * ho + y - a) * m
                    for d in range(w):
                        _axpy(acc, d * width, hf, hrow, ws[k, c, a, d], m)
            _draw_lanes_(acc, s0, s1, s2, s3, row_len)
            base = (c * h_in + y) * row_len
            out = vf[base:base + row_len]
            for q in range(row_len):
                out[q] = acc[q]


@_jit
def conv_gibbs(v, h, weight, hidden_bias, visible_bias, betas, pool, s):
    """Block Gibbs of a conv RBM, chains last: per β, h ~ p(h | v, β) then v ~ p(v | h, β);
    finally h ~ p(h | v, betas[-1]). v (C, H, W, B) and h (K, H', W', B) float32, written in
    place; weight (K, C, w, w); pool: block size (0 or 1: no pooling); s: (4, ≥ W·B) lanes."""
    chans, h_in, w_in, width = v.shape
    n_filters, ho, wo, _ = h.shape
    v_shape = (chans, h_in, w_in, width)
    h_shape = (n_filters, ho, wo, width)
    vf, hf = v.reshape(-1), h.reshape(-1)
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    acc = np.empty(max(w_in, wo) * width, np.float32)
    c = max(pool, 1)
    accs = np.empty((c, wo * width), np.float32)
    phase = np.empty((c * c, (wo // c) * width), np.float32)
    top = np.empty((wo // c) * width, np.float32)
    run = np.empty((wo // c) * width, np.float32)
    ws = np.empty_like(weight)
    hb = np.empty_like(hidden_bias)
    vb = np.empty_like(visible_bias)
    flat_w, flat_ws = weight.reshape(-1), ws.reshape(-1)
    for t in range(betas.shape[0] + 1):
        beta = betas[min(t, betas.shape[0] - 1)]
        for q in range(flat_w.shape[0]):
            flat_ws[q] = flat_w[q] * beta
        for q in range(hb.shape[0]):
            hb[q] = hidden_bias[q] * beta
        for q in range(vb.shape[0]):
            vb[q] = visible_bias[q] * beta
        _conv_hidden(vf, v_shape, hf, h_shape, ws, hb, pool, s0, s1, s2, s3, acc[:wo * width],
                     accs, phase, top, run)
        if t < betas.shape[0]:
            _conv_visible(hf, h_shape, vf, v_shape, ws, vb, s0, s1, s2, s3, acc[:w_in * width])

def self_test() -> None:
    """Run every kernel once on the argument types the samplers pass (so that later calls find
    them compiled) and check results that are certain: σ(±100) draws 0 / 1, a pooled block with
    one dominant unit picks it, and a BQM row with a huge field follows it."""
    s = np.arange(1, 4 * 64 + 1, dtype=np.uint32).reshape(4, 64) * np.uint32(2654435761)
    x = np.array([-100.0, 100.0] * 8, np.float32)
    _bernoulli_flat(x, s)
    if not (x == np.array([0.0, 1.0] * 8, np.float32)).all():
        raise AssertionError(f"bernoulli draw of logits -/+100 gave {x[:4]}")
    x = np.full((1, 4, 8), -50.0, np.float32)
    x[0, 2] = 60.0
    _pooled_flat(x, s)
    if not ((x[0, 2] == 1.0).all() and x.sum() == 8.0):
        raise AssertionError("pooled draw missed the dominant unit")
    state = np.zeros((3, 8), np.float32)
    state[2] = 1.0
    ising_sweeps(state, np.array([0, 1, 2], np.int64), np.array([1, 0], np.int32),
                 np.array([1.0, 1.0], np.float32), np.array([200.0, -200.0], np.float32),
                 np.ones(8, np.float32), 1, s)
    if not ((state[0] == 1.0).all() and (state[1] == 0.0).all()):
        raise AssertionError(f"BQM sweep ignored a field of +/-200: {state[:2]}")
    for pool in (0, 2):  # a conv RBM whose hidden bias forces h on, visible bias forces v off
        v = np.zeros((1, 3, 3, 8), np.float32)
        h = np.zeros((1, 2, 2, 8), np.float32)
        conv_gibbs(v, h, np.zeros((1, 1, 2, 2), np.float32), np.array([300.0], np.float32),
                   np.array([-300.0], np.float32), np.ones(2, np.float32), pool, s)
        if v.any() or h.sum() != (8.0 if pool else 32.0):
            raise AssertionError(f"conv chain ignored biases of +/-300 (pool {pool})")
