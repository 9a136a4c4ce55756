"""The convolutional RBM of Lee, Grosse, Ranganath & Ng (ICML 2009), with probabilistic
max-pooling.

Energy (binary units, K filters ``W^k`` of shape ``(C, w, w)``, ``⋆`` = ``conv2d``'s
cross-correlation):

    E(v, h) = -Σₖ hᵏ · (Wᵏ ⋆ v) - Σₖ bₖ Σ hᵏ - Σ_c b_c Σ v_c

With pooling size c, the detection map of every filter is cut into c×c blocks; at most one
detection unit per block is on and the pooling unit of a block is on iff one is. Given v, each
block is one categorical variable over its c² units and "all off", with probabilities
``softmax([β·logits of the block, 0])``, and

    F(v) = -Σ_c b_c Σ v_c - Σ_blocks log(1 + Σ_{j∈block} exp(logit_j))        (β = 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sampling import kernels

from .base import RBM, _as_float, _bernoulli_logits_, _mark_sample, bit_source, random_int32
from .dense import visible_bias_from_data
from .qm import QuadraticModelSpec, conv_qm

#: Floats per row (width x chains) that the compiled conv chain's chunks aim at: its passes run
#: over whole rows, and both short rows (per-pass overhead) and long ones (the rows and the
#: per-lane generator state leave L1/L2) cost time. Measured per chain-sweep, one thread, 1,000
#: chains: 12x12 fastest at 256 chains per chunk (3,072 floats; 1.2-1.5x faster than 64),
#: pooled 28x28 at 64-96 (1,800-2,700 floats; 1.1-1.2x faster than 256).
COMPILED_ROW_FLOATS = 3072

__all__ = ["ConvRBM"]


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _channels_last(x: Tensor) -> Tensor:
    """``x`` ``(B, C, H, W)`` with channels-last strides. With C = 1 the memory is the same either
    way and ``contiguous(memory_format=channels_last)`` keeps the plain strides, from which oneDNN
    would write a plain (not channels-last) output: the strides are set explicitly then."""
    if x.shape[1] == 1 and x.is_contiguous():
        b, _, h, w = x.shape
        return x.as_strided(x.shape, (h * w, 1, w, 1))
    return x.contiguous(memory_format=torch.channels_last)


class ConvRBM(RBM):
    """A convolutional RBM with optional probabilistic max-pooling (Lee et al. 2009).

    Shapes: ``v`` is ``(B, C, H, W)`` for any ``H, W >= kernel_size``; ``h`` (detection units)
    is ``(B, K, H - w + 1, W - w + 1)``; with pooling size c both hidden sides must be divisible
    by c, and pooling units are ``(B, K, (H - w + 1)/c, (W - w + 1)/c)``.

    Args:
        in_channels: C. n_filters: K. kernel_size: w (square filters).
        pool_size: c for probabilistic max-pooling, or None for none.
        pool_penalty: the pairwise penalty of :meth:`to_qm`; None (default) recomputes
            :func:`rbm.qm.default_pool_penalty` from the current weights at every call.
        visible_shape: optional default canvas ``(C, H, W)`` for :meth:`to_qm` and evaluation
            (set by :func:`rbm.build_stack`); a plain attribute, saved in :meth:`config`.

    Attributes:
        weight: filters ``(K, C, w, w)`` (the ``weight`` of an equivalent ``nn.Conv2d``),
            initialised ``N(0, 0.01²)``. hidden_bias: ``(K,)``, zero. visible_bias: ``(C,)``, zero.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> rbm = ConvRBM(1, 4, 3, pool_size=2)
        >>> v = torch.bernoulli(torch.full((2, 1, 8, 8), 0.5))
        >>> rbm.p_h_given_v(v).shape, rbm.transform(v).shape
        (torch.Size([2, 4, 6, 6]), torch.Size([2, 4, 3, 3]))
        >>> h = rbm.sample_h_given_v(v, beta=2.0)
        >>> bool((rbm.pool(h) <= 1).all())
        True
        >>> spec = rbm.to_qm((1, 8, 8))
        >>> spec.n_visible, spec.n_hidden
        (64, 144)
    """

    def __init__(
        self,
        in_channels: int,
        n_filters: int,
        kernel_size: int,
        pool_size: int | None = None,
        pool_penalty: float | None = None,
        visible_shape: tuple[int, int, int] | None = None,
    ):
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.n_filters = _positive_int("n_filters", n_filters)
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.pool_size = None if pool_size is None else _positive_int("pool_size", pool_size)
        if pool_penalty is not None:
            pool_penalty = float(pool_penalty)
            if not (math.isfinite(pool_penalty) and pool_penalty > 0):
                raise ValueError(f"pool_penalty must be a positive number, got {pool_penalty!r}")
        self.pool_penalty = pool_penalty
        self.visible_shape = None
        if visible_shape is not None:
            self.hidden_shape(visible_shape)  # validates
            self.visible_shape = tuple(int(s) for s in visible_shape)
        w = self.kernel_size
        self.weight = nn.Parameter(0.01 * torch.randn(n_filters, in_channels, w, w))
        self.hidden_bias = nn.Parameter(torch.zeros(n_filters))
        self.visible_bias = nn.Parameter(torch.zeros(in_channels))

    def config(self) -> dict:
        """Constructor arguments, ``visible_shape`` included."""
        return {
            "in_channels": self.in_channels,
            "n_filters": self.n_filters,
            "kernel_size": self.kernel_size,
            "pool_size": self.pool_size,
            "pool_penalty": self.pool_penalty,
            "visible_shape": self.visible_shape,
        }

    @torch.no_grad()
    def init_visible_bias(self, x: Tensor, eps: float = 1e-3) -> None:
        """Set the per-channel visible bias to the log-odds of the mean of ``x`` ``(N, C, H, W)``."""
        self._check_v(_as_float(x, "x", self.weight.dtype))
        self.visible_bias.copy_(visible_bias_from_data(x, per_channel=True, eps=eps))

    # ------------------------------------------------------------------ shapes and checks
    @property
    def _pooling(self) -> bool:
        return self.pool_size is not None and self.pool_size > 1

    def _shape_error(self, what: str, got, batch: bool = True) -> ValueError:
        w = self.kernel_size
        need = f"H, W >= {w}"
        if self._pooling:
            need += f" and H - {w - 1}, W - {w - 1} divisible by pool size {self.pool_size}"
        lead = "N, " if batch else ""
        return ValueError(f"expected {what} of shape ({lead}{self.in_channels}, H, W) with"
                          f" {need}, got {tuple(got)}")

    def hidden_shape(self, visible_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(K, H - w + 1, W - w + 1)`` for a canvas ``(C, H, W)``."""
        shape = tuple(int(s) for s in visible_shape)
        w = self.kernel_size
        if len(shape) != 3 or shape[0] != self.in_channels or min(shape[1:]) < w:
            raise self._shape_error("visible_shape", shape, batch=False)
        ho, wo = shape[1] - w + 1, shape[2] - w + 1
        if self._pooling and (ho % self.pool_size or wo % self.pool_size):
            raise ValueError(
                f"hidden map {ho}x{wo} of visible shape {shape} is not divisible by pool size"
                f" {self.pool_size} (kernel {w})"
            )
        return (self.n_filters, ho, wo)

    def pooled_shape(self, visible_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """Shape of :meth:`transform`'s output without batch (the hidden shape without pooling)."""
        k, ho, wo = self.hidden_shape(visible_shape)
        c = self.pool_size or 1
        return (k, ho // c, wo // c)

    def num_positions(self, visible_shape: tuple[int, int, int]) -> int:
        """Hidden positions per filter, ``(H - w + 1) * (W - w + 1)``."""
        _, ho, wo = self.hidden_shape(visible_shape)
        return ho * wo

    def _check_v(self, v: Tensor) -> Tensor:
        w, c = self.kernel_size, self.pool_size or 1
        if (v.ndim != 4 or v.shape[1] != self.in_channels or min(v.shape[2:]) < w
                or (v.shape[2] - w + 1) % c or (v.shape[3] - w + 1) % c):
            raise self._shape_error("v", v.shape)
        return v

    def _check_h(self, h: Tensor) -> Tensor:
        c = self.pool_size or 1
        if h.ndim != 4 or h.shape[1] != self.n_filters or h.shape[2] % c or h.shape[3] % c:
            div = f" with H', W' divisible by {c}" if self._pooling else ""
            raise ValueError(f"expected h of shape (N, {self.n_filters}, H', W'){div},"
                             f" got {tuple(h.shape)}")
        return h

    # ------------------------------------------------------------------ model hooks
    def _hidden_logits_with(self, v: Tensor, weight: Tensor) -> Tensor:
        return F.conv2d(v, weight, self.hidden_bias)

    def _visible_logits(self, h: Tensor) -> Tensor:
        return self._transposed_conv(h, self.weight, self.visible_bias)

    # β folded into the (tiny) filters and biases: no extra pass over the logits.
    def _scaled_hidden_logits(self, v: Tensor, beta: float, channels_last: bool = False) -> Tensor:
        if channels_last:  # oneDNN then writes the logits channels-last too
            v = _channels_last(v)
        if beta == 1.0:
            return F.conv2d(v, self.weight, self.hidden_bias)
        return F.conv2d(v, self.weight * beta, self.hidden_bias * beta)

    def _scaled_visible_logits(self, h: Tensor, beta: float) -> Tensor:
        if beta == 1.0:
            return self._visible_logits(h)
        return self._transposed_conv(h, self.weight * beta, self.visible_bias * beta)

    def _channels_last_h(self, x: Tensor) -> bool:
        """Whether :meth:`_transposed_conv` takes h in channels-last memory (no copy then)."""
        return x.device.type == "cpu" and x.dtype == torch.float32 and self.in_channels == 1

    def _transposed_conv(self, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """``conv_transpose2d(h, weight) + bias`` (per channel), computed the fast way per device.

        On CPU oneDNN's transposed convolution is slow for these shapes, slower still with a
        bias, and worst with one output channel: with ``in_channels == 1`` (float32) it is a
        depthwise convolution of the channels-last h with the flipped filters (one group per
        filter, zero padding w - 1) summed over filters by a matrix-vector product. Measured on
        the 12x12 / 28x28 canvases with 8 / 16 filters 5x5: 5x / 4.4x faster than
        ``conv_transpose2d`` without bias, 14x / 5x faster than with it.
        Otherwise (GPU, several channels, other dtypes) it is ``conv_transpose2d`` without bias,
        and the bias is added afterwards.
        """
        if self._channels_last_h(h):
            per_filter = F.conv2d(
                h.contiguous(memory_format=torch.channels_last),
                weight.flip((2, 3)),
                padding=self.kernel_size - 1,
                groups=self.n_filters,
            )  # (B, K, H, W), channels-last: the K maps of a pixel are contiguous
            ones = torch.ones(self.n_filters, dtype=h.dtype, device=h.device)
            out = (per_filter.permute(0, 2, 3, 1) @ ones).unsqueeze(1)  # sum over filters
        else:
            out = F.conv_transpose2d(h, weight)
        bias = bias.view(1, -1, 1, 1)
        return out + bias if torch.is_grad_enabled() else out.add_(bias)

    def _visible_term(self, v: Tensor) -> Tensor:
        return v.sum(dim=(2, 3)) @ self.visible_bias

    def _hidden_term(self, h: Tensor) -> Tensor:
        return h.sum(dim=(2, 3)) @ self.hidden_bias

    def _blocks(self, x: Tensor) -> Tensor:
        """``(B, K, H', W')`` → ``(B, K, H'/c, W'/c, c*c)`` (units of a block last, row-major)."""
        b, k, ho, wo = x.shape
        c = self.pool_size
        x = x.reshape(b, k, ho // c, c, wo // c, c).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(b, k, ho // c, wo // c, c * c)

    def _unblocks(self, x: Tensor) -> Tensor:
        b, k, hp, wp, _ = x.shape
        c = self.pool_size
        x = x.reshape(b, k, hp, wp, c, c).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(b, k, hp * c, wp * c)

    def _block_probs(self, logits: Tensor, beta: float) -> Tensor:
        """``(B, K, H'/c, W'/c, c*c + 1)``: softmax over [β·logits of the block, 0 ("all off")]."""
        return torch.softmax(F.pad(beta * self._blocks(logits), (0, 1)), dim=-1)

    def _hidden_log_sum(self, logits: Tensor, beta: float) -> Tensor:
        if not self._pooling:
            return super()._hidden_log_sum(logits, beta)
        lse = torch.logsumexp(F.pad(beta * self._blocks(logits), (0, 1)), dim=-1)
        return lse.flatten(1).sum(1)

    def _p_h(self, logits: Tensor, beta: float) -> Tensor:
        if not self._pooling:
            return super()._p_h(logits, beta)
        return self._unblocks(self._block_probs(logits, beta)[..., :-1])

    def _sample_h_scaled(self, scaled: Tensor, generator: torch.Generator | None) -> Tensor:
        """With pooling: one categorical draw per block over [its units, "all off"]
        (:meth:`_sample_phases_`, on a phase-major copy of the logits)."""
        if not self._pooling:
            return super()._sample_h_scaled(scaled, generator)
        b, k, ho, wo = scaled.shape
        c = self.pool_size
        phases = scaled.view(b, k, ho // c, c, wo // c, c).permute(0, 3, 5, 1, 2, 4).contiguous()
        return _mark_sample(self._from_phases(self._sample_phases_(phases, generator)))

    # Pooled sampling works in a *phase-major* layout: (B, c, c, K, H'/c, W'/c), where
    # phases[:, a, b, k, i, j] is detection unit (k, c·i + a, c·j + b). The c² units of a block are
    # then c² contiguous slabs, so the block softmax is a few vectorised elementwise passes, and
    # the hidden logits come straight in that layout from one stride-c convolution.
    def _phase_weight(self) -> Tensor:
        """``(c²·K, C, w + c - 1, w + c - 1)``: the filters at every offset of a c×c block.

        ``conv2d(v, _phase_weight(), stride=c)`` gives the hidden logits phase-major
        ``(B, c²·K, H'/c, W'/c)``, with the bias ``hidden_bias.repeat(c²)``.
        """
        c, w = self.pool_size, self.kernel_size
        k, ch = self.n_filters, self.in_channels
        out = self.weight.new_zeros(c, c, k, ch, w + c - 1, w + c - 1)
        for a in range(c):
            for b in range(c):
                out[a, b, :, :, a:a + w, b:b + w] = self.weight
        return out.view(c * c * k, ch, w + c - 1, w + c - 1)

    def _sample_phases_(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A pooled hidden sample from phase-major β·logits ``x`` ``(B, c, c, K, H'/c, W'/c)``,
        overwritten with the {0, 1} sample (same shape).

        Per block, weights ``exp(x - m)`` (m = max(0, max x) of the block; "all off" weighs
        ``exp(-m)``), their running sums S_1..S_{c²} and one uniform u scaled by the total T: the
        unit chosen is the a with S_{a-1} <= uT < S_a ("all off" when uT >= S_{c²}). The
        indicators [uT < S_a] are monotone in a, so their differences are the one-hot sample.
        One 32-bit integer per block (:func:`rbm.base.random_int32`) makes u.
        """
        b = x.shape[0]
        n = x[0, 0, 0].numel()
        slabs = x.view(b, -1, n)  # (B, c², units per phase), contiguous
        if isinstance(generator, kernels.LaneRandom) and x.device.type == "cpu" \
                and x.dtype == torch.float32:
            kernels.pooled_phases_(slabs, generator)  # the same draw, one fused pass
            return x
        top = slabs.amax(1).clamp_(min=0.0)
        slabs.sub_(top.unsqueeze(1)).exp_()
        for a in range(1, slabs.shape[1]):
            slabs[:, a].add_(slabs[:, a - 1])
        total = top.neg_().exp_().add_(slabs[:, -1]).mul_(2.0**-32)
        bits = random_int32(total.numel(), generator, x.device).view(total.shape)
        threshold = bits.to(x.dtype).add_(2.0**31).mul_(total)  # u·T, u = (I + 2³¹) / 2³²
        slabs.gt_(threshold.unsqueeze(1))
        for a in range(slabs.shape[1] - 1, 0, -1):
            slabs[:, a].sub_(slabs[:, a - 1])
        return x

    def _from_phases(self, x: Tensor, channels_last: bool = False) -> Tensor:
        """Phase-major ``(B, c, c, K, H'/c, W'/c)`` → ``(B, K, H', W')`` (a copy), contiguous or,
        with ``channels_last``, in channels-last memory (the layout the CPU transposed conv uses).
        """
        b, c, _, k, hp, wp = x.shape
        if channels_last:
            return x.permute(0, 4, 1, 5, 2, 3).reshape(b, hp * c, wp * c, k).permute(0, 3, 1, 2)
        return x.permute(0, 3, 4, 1, 5, 2).reshape(b, k, hp * c, wp * c)

    @torch.no_grad()
    def _gibbs_chain(
        self, v: Tensor, betas: list[float], generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """Block Gibbs with h in the layout the next step wants between half-sweeps: with
        pooling phase-major (see :meth:`_sample_phases_`), without it channels-last on CPU (the
        hidden logits come out so, the sample keeps it, the transposed conv takes it: no copy).
        The returned h is contiguous.
        """
        v = self._check_v_value(v)
        generator = bit_source(generator, v.device)
        if self._compiled_chain(v, generator):
            return self._gibbs_chain_compiled(v, betas, generator)
        if not self._pooling:
            last = self._channels_last_h(v)
            for beta in betas:
                h = self._sample_h_scaled(self._scaled_hidden_logits(v, beta, last), generator)
                v = _bernoulli_logits_(self._scaled_visible_logits(h, beta), generator)
            h = self._sample_h_scaled(self._scaled_hidden_logits(v, betas[-1]), generator)
            return v, h
        c, k = self.pool_size, self.n_filters
        # One input channel: the stride-c conv writes the logits phase-major at the cost of the
        # plain conv (measured); with several, its (w + c - 1)²/w² more FLOPs cost more than
        # the plain conv and one permuting copy.
        direct = self.in_channels == 1
        if direct:
            weight, bias = self._phase_weight(), self.hidden_bias.repeat(c * c)

        def sample_h(v: Tensor, beta: float) -> Tensor:
            if direct:
                logits = F.conv2d(v, weight * beta, bias * beta, stride=c).contiguous()
                b, _, hp, wp = logits.shape
                phases = logits.view(b, c, c, k, hp, wp)
            else:
                logits = self._scaled_hidden_logits(v, beta)
                b, _, ho, wo = logits.shape
                phases = logits.view(b, k, ho // c, c, wo // c, c).permute(0, 3, 5, 1, 2, 4)
                phases = phases.contiguous()
            return self._sample_phases_(phases, generator)

        for beta in betas:
            h = self._from_phases(sample_h(v, beta), channels_last=True)
            v = _bernoulli_logits_(self._scaled_visible_logits(h, beta), generator)
        h = self._from_phases(sample_h(v, betas[-1]))
        return v, _mark_sample(h)

    def _compiled_chain(self, v: Tensor, generator) -> bool:
        """Whether :meth:`_gibbs_chain` runs as one compiled kernel
        (:func:`sampling.kernels.conv_gibbs`): float32 on CPU with the compiled kernels on, and
        one input channel. The kernel computes every logit as a direct sum over its filter taps,
        vectorised across chains (about 9 multiply-adds per ns on one AVX2 core, measured); with
        one input channel that beats oneDNN's convolutions on these short reductions (w² taps),
        with several (C·w² taps) the GEMM-based convolutions are faster (``bench/bench_samplers.py``,
        docs/sampling.md)."""
        return isinstance(generator, kernels.LaneRandom) and self._compiled_chain_applies(v)

    def _compiled_chain_applies(self, v: Tensor) -> bool:
        return (kernels.enabled() and v.device.type == "cpu" and v.dtype == torch.float32
                and self.weight.dtype == torch.float32 and self.in_channels == 1)

    def _chain_chunk(self, v: Tensor) -> int | None:
        """Chains per chunk that :func:`sampling.gibbs.block_gibbs` should run through this
        model's chain, or None for its default: on the compiled chain the largest multiple of 32
        chains (the vector loop's step) whose rows hold at most :data:`COMPILED_ROW_FLOATS`
        floats (256 chains on a 12-pixel-wide canvas, 96 on a 28-pixel one), at least 32."""
        if not self._compiled_chain_applies(v):
            return None
        return max(32, COMPILED_ROW_FLOATS // v.shape[-1] // 32 * 32)

    def _gibbs_chain_compiled(self, v: Tensor, betas: list[float], generator):
        """The whole chain in :func:`sampling.kernels.conv_gibbs`, on chains-last copies of v
        (C, H, W, B) and h (K, H', W', B); returns contiguous (B, C, H, W), (B, K, H', W')."""
        vt = v.permute(1, 2, 3, 0).contiguous()
        _, ho, wo = self.hidden_shape(tuple(v.shape[1:]))
        ht = torch.empty(self.n_filters, ho, wo, v.shape[0])
        kernels.conv_gibbs(vt, ht, self.weight.detach(), self.hidden_bias.detach(),
                           self.visible_bias.detach(), betas, self.pool_size, generator)
        return (_mark_sample(vt.permute(3, 0, 1, 2).contiguous()),
                _mark_sample(ht.permute(3, 0, 1, 2).contiguous()))

    def _num_hidden_states_log(self, visible_shape) -> float:
        if not self._pooling:
            return super()._num_hidden_states_log(visible_shape)
        k, ho, wo = self.hidden_shape(visible_shape)
        c = self.pool_size
        return k * (ho // c) * (wo // c) * math.log1p(c * c)

    # ------------------------------------------------------------------ pooling
    def _need_pooling(self, what: str) -> None:
        if self.pool_size is None:
            raise ValueError(f"{what} needs a ConvRBM with pool_size, this one has none")

    def p_pool_given_v(self, v: Tensor, beta: float = 1.0) -> Tensor:
        """Pooling-unit on-probabilities ``1 - P(block all off)``, shape ``(B, K, H'/c, W'/c)``."""
        self._need_pooling("p_pool_given_v")
        logits = self.hidden_logits(v)
        if self.pool_size == 1:
            return torch.sigmoid(beta * logits)
        return 1.0 - self._block_probs(logits, beta)[..., -1]  # in [0, 1] exactly, unlike a float sum

    def pool(self, h: Tensor) -> Tensor:
        """Sum of each c×c block of ``h`` ``(B, K, H', W')`` → ``(B, K, H'/c, W'/c)``.

        For a valid binary h this is the pooling units; for block-softmax probabilities
        (``p_h_given_v``) it is the pooling on-probability.
        """
        self._need_pooling("pool")
        h = self._check_h(h)
        return h if self.pool_size == 1 else self._blocks(h).sum(-1)

    def transform(self, v: Tensor) -> Tensor:
        """Pooled probabilities ``(B, K, H'/c, W'/c)`` with pooling, else ``p_h_given_v(v)``."""
        if self.pool_size is None:
            return self.p_h_given_v(v)
        return self.p_pool_given_v(v)

    # ------------------------------------------------------------------ quadratic model
    def to_qm(self, visible_shape: tuple[int, int, int] | None = None) -> QuadraticModelSpec:
        """The model on a ``(C, H, W)`` canvas as a :class:`QuadraticModelSpec`.

        ``visible_shape`` defaults to the ``visible_shape`` attribute. With pooling every pair of
        detection units in a block gets ``+pool_penalty`` (default
        :func:`rbm.qm.default_pool_penalty`), 0 on valid states.
        """
        if visible_shape is None:
            visible_shape = self.visible_shape
        if visible_shape is None:
            raise ValueError(
                "ConvRBM.to_qm needs visible_shape=(C, H, W): this model has no default canvas"
                " (pass it, or set model.visible_shape)"
            )
        visible_shape = tuple(int(s) for s in visible_shape)
        self.hidden_shape(visible_shape)

        def arr(t: Tensor):
            return t.detach().cpu().double().numpy()

        return conv_qm(
            arr(self.weight), arr(self.visible_bias), arr(self.hidden_bias), visible_shape,
            pool_size=self.pool_size, pool_penalty=self.pool_penalty,
        )
