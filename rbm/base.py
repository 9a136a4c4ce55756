"""The protocol shared by every RBM here: energies, conditionals, sampling and input checks.

:class:`RBM` implements everything that is the same for dense and convolutional models on top of
a handful of hooks (hidden and visible logits, the bias terms, and the hidden-side partition sum
that differs once probabilistic max-pooling is on). Models never hold β: every method that
depends on temperature takes ``beta`` (default 1.0) and the distribution is ``exp(-β E) / Z(β)``.

Input checks run on every call, so they are cheap: shapes always; NaN/Inf and the [0, 1] range
with one fused reduction (``torch.aminmax``). :func:`set_validate_values` turns the value check
off (it synchronises with the GPU once per call). A sample returned by ``sample_h_given_v`` /
``sample_v_given_h`` is {0, 1} by construction and is not checked again when it is fed straight
back (a Gibbs chain validates its start state once, not every half-sweep); any in-place change to
it (which bumps its autograd version counter) makes it an ordinary input again.

Sampling compares one fresh uniform per unit with p (``U < p``, as ``torch.rand(...) < p``;
:func:`_bernoulli_` has the details and a faster float32 route on CPU) instead of calling
``torch.bernoulli`` (3-4x slower on CPU), in place on freshly made logits, with β folded into the
weights (dense, conv) so that no pass over the logits is spent on it. On CPU the random bits come
from numpy's SFC64 (:func:`random_int32`, :func:`bit_source`: one per Gibbs chain, seeded from the
torch generator), half the cost per bit of torch's mt19937. A whole chain runs in
:meth:`RBM._gibbs_chain`, which subclasses may override to keep h in a faster layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sampling import kernels

__all__ = ["RBM", "set_validate_values", "check_unit_interval", "random_int32", "bit_source"]

_VALIDATE_VALUES = True


def set_validate_values(enabled: bool) -> bool:
    """Turn the NaN/Inf/[0, 1] check of model inputs on or off for the whole process.

    Shape checks always run. Returns the previous setting, so a caller can restore it.

    Examples:
        >>> previous = set_validate_values(False)
        >>> _ = set_validate_values(previous)
    """
    global _VALIDATE_VALUES
    previous = _VALIDATE_VALUES
    _VALIDATE_VALUES = bool(enabled)
    return previous


_SAMPLE_TAG = "_rbm_sample_version"


def _mark_sample(x: Tensor) -> Tensor:
    """Tag a freshly drawn {0, 1} sample so that :func:`check_unit_interval` trusts it.

    The tag is the tensor's version counter at creation: any in-place change invalidates it.
    Inference tensors have no version counter and are never tagged.
    """
    if not x.is_inference():
        setattr(x, _SAMPLE_TAG, x._version)
    return x


def _is_marked_sample(x: Tensor) -> bool:
    tag = getattr(x, _SAMPLE_TAG, None)
    return tag is not None and not x.is_inference() and tag == x._version


def bit_source(generator: torch.Generator | None, device: torch.device):
    """The random source of one whole Gibbs chain on ``device``: on CPU a numpy ``SFC64`` bit
    generator seeded by one 63-bit draw of ``generator`` (so the chain is a function of the torch
    generator's state: seeded runs repeat, a restored state repeats them); elsewhere
    ``generator`` itself.
    """
    if device.type != "cpu" or isinstance(generator, (np.random.SFC64, kernels.LaneRandom)):
        return generator
    bits = np.random.SFC64(int(torch.randint(0, 2**63 - 1, (1,), generator=generator).item()))
    return kernels.LaneRandom(bits) if kernels.enabled() else bits


def random_int32(n: int, generator, device: torch.device) -> Tensor:
    """``n`` independent uniformly random 32-bit integers (int32, shape (n,)) on ``device``.

    ``generator`` is a torch generator (None: the default one) or a :func:`bit_source`. On CPU
    the integers come from numpy's ``SFC64`` (half the cost per bit of torch's mt19937, measured
    in ``docs/sampling.md``; a fresh one from :func:`bit_source` when given a torch generator);
    elsewhere torch's generator on ``device`` draws them.
    """
    if device.type == "cpu":
        raw = bit_source(generator, device).random_raw((n + 1) // 2)  # uint64: two draws each
        return torch.from_numpy(raw.view(np.int32)[:n])
    bits = torch.empty(n, dtype=torch.int32, device=device)
    return bits.random_(-(2**31), 2**31, generator=generator)


def _dense_view(x: Tensor) -> Tensor | None:
    """``x``'s memory as a contiguous tensor (contiguous or channels-last x), else None."""
    if x.is_contiguous():
        return x
    flat = x.permute(0, 2, 3, 1) if x.dim() == 4 else x
    return flat if flat.is_contiguous() else None


def _bernoulli_logits_(x: Tensor, generator) -> Tensor:
    """A {0, 1} sample of Bernoulli(σ(x)) in ``x``'s dtype and shape; ``x`` is overwritten.

    With a compiled-kernel source (a :class:`sampling.kernels.LaneRandom` from
    :func:`bit_source`) and a dense float32 CPU tensor, one fused pass
    (:func:`sampling.kernels.bernoulli_logits_`); otherwise ``σ`` then :func:`_bernoulli_`.
    """
    if isinstance(generator, kernels.LaneRandom) and x.device.type == "cpu" \
            and x.dtype == torch.float32:
        flat = _dense_view(x)
        if flat is not None:
            kernels.bernoulli_logits_(flat, generator)
            return _mark_sample(x)
    return _bernoulli_(x.sigmoid_(), generator)


def _bernoulli_(p: Tensor, generator) -> Tensor:
    """A {0, 1} sample of Bernoulli(p) in ``p``'s dtype and shape; ``p`` may be overwritten.

    ``p`` must be a fresh tensor the caller owns. The draw is ``U < p`` with one fresh uniform U
    per unit, as ``torch.rand(p.shape) < p`` (3-4x faster than ``torch.bernoulli(p)`` on CPU).
    On CPU each unit takes one 32-bit integer of :func:`random_int32` (``generator``: a torch
    generator or a :func:`bit_source`). Float32: 23 of its bits become a float
    ``U1 = 1 + j·2⁻²³`` in [1, 2) by setting the exponent bits (a bit view, no conversion) and
    the sample is ``U1 < 1 + p``; P(on) is p rounded to the nearest multiple of 2⁻²³ (within
    2⁻²⁴ of p, the resolution of ``torch.rand``; exactly 0 and 1 at p = 0 and 1). Other dtypes:
    U = (I + 2³¹) / 2³² in float64. The passes run over p's memory in order (channels-last p
    included).
    """
    if p.device.type == "cpu":
        flat = _dense_view(p)
        if flat is None:
            raise ValueError(f"_bernoulli_ needs a dense tensor, got strides {p.stride()}")
        bits = random_int32(p.numel(), generator, p.device).view(flat.shape)
        if p.dtype == torch.float32:
            ones = bits.bitwise_and_(0x007FFFFF).bitwise_or_(0x3F800000).view(torch.float32)
            flat.add_(1.0).gt_(ones)
        else:
            flat.copy_(bits.to(torch.float64).add_(2.0**31).mul_(2.0**-32).lt_(flat))
        return _mark_sample(p)
    u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    return _mark_sample(u.lt_(p))


def check_unit_interval(x: Tensor, name: str) -> None:
    """Raise ValueError unless every value of ``x`` is finite and in [0, 1] (one reduction).

    Skipped when :func:`set_validate_values` turned it off, and for an unmodified sample that a
    model's ``sample_*`` method returned (binary by construction).
    """
    if not _VALIDATE_VALUES or x.numel() == 0 or _is_marked_sample(x):
        return
    lo, hi = torch.stack(torch.aminmax(x)).tolist()  # NaN propagates through min/max
    if not (lo >= 0.0 and hi <= 1.0):
        finite = math.isfinite(lo) and math.isfinite(hi)
        what = f"[{lo:g}, {hi:g}]" if finite else "NaN or Inf"
        raise ValueError(f"expected {name} with values in [0, 1], got values in {what}")


def _as_float(x: Tensor, name: str, dtype: torch.dtype) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"expected {name} to be a torch.Tensor, got {type(x).__name__}")
    return x if x.dtype == dtype else x.to(dtype)


class RBM(nn.Module):
    """Base class of :class:`~rbm.BernoulliRBM` and :class:`~rbm.ConvRBM` (binary units).

    Energy ``E(v, h) = -visible_term(v) - h · hidden_logits(v)`` where ``hidden_logits`` includes
    the hidden bias; ``p(v, h) = exp(-β E(v, h)) / Z(β)``.

    Subclasses own three parameters, ``weight``, ``visible_bias`` and ``hidden_bias``, and
    implement the hooks below (underscore methods take already validated tensors).
    """

    weight: nn.Parameter
    visible_bias: nn.Parameter
    hidden_bias: nn.Parameter

    # ----------------------------------------------------------------- hooks for subclasses
    def hidden_shape(self, visible_shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def num_positions(self, visible_shape: tuple[int, ...]) -> int:
        raise NotImplementedError

    def config(self) -> dict:
        raise NotImplementedError

    def to_qm(self, visible_shape: tuple[int, ...] | None = None):
        raise NotImplementedError

    def _check_v(self, v: Tensor) -> Tensor:
        """Validated ``v`` in the model's dtype and internal layout."""
        raise NotImplementedError

    def _check_h(self, h: Tensor) -> Tensor:
        raise NotImplementedError

    def _hidden_logits_with(self, v: Tensor, weight: Tensor) -> Tensor:
        raise NotImplementedError

    def _hidden_logits(self, v: Tensor) -> Tensor:
        return self._hidden_logits_with(v, self.weight)

    def _visible_logits(self, h: Tensor) -> Tensor:
        raise NotImplementedError

    def _scaled_hidden_logits(self, v: Tensor, beta: float) -> Tensor:
        """``beta * hidden_logits(v)`` as a fresh tensor the caller may overwrite (no grad)."""
        logits = self._hidden_logits(v)
        return logits if beta == 1.0 else logits.mul_(beta)

    def _scaled_visible_logits(self, h: Tensor, beta: float) -> Tensor:
        """``beta * visible_logits(h)`` as a fresh tensor the caller may overwrite (no grad)."""
        logits = self._visible_logits(h)
        return logits if beta == 1.0 else logits.mul_(beta)

    def _visible_term(self, v: Tensor) -> Tensor:
        """``b_v · v`` per sample, shape (B,)."""
        raise NotImplementedError

    def _hidden_term(self, h: Tensor) -> Tensor:
        """``b_h · h`` per sample, shape (B,)."""
        raise NotImplementedError

    def _hidden_log_sum(self, logits: Tensor, beta: float) -> Tensor:
        """``log Σ_h exp(β logits · h)`` over the allowed h, per sample, shape (B,)."""
        return F.softplus(beta * logits).flatten(1).sum(1)

    def _p_h(self, logits: Tensor, beta: float) -> Tensor:
        return torch.sigmoid(beta * logits)

    def _sample_h(self, logits: Tensor, beta: float, generator: torch.Generator | None) -> Tensor:
        """A hidden sample given (unscaled) ``logits``; ``logits`` is left untouched."""
        return self._sample_h_scaled(logits * beta, generator)

    def _sample_h_scaled(self, scaled: Tensor, generator: torch.Generator | None) -> Tensor:
        """A hidden sample given ``beta * logits``, which it may overwrite (no grad)."""
        return _bernoulli_logits_(scaled, generator)

    @torch.no_grad()
    def _gibbs_chain(
        self, v: Tensor, betas: list[float], generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """One block-Gibbs sweep per β from ``v`` (validated once); the final ``(v, h)``.

        The same draws as alternating ``sample_h_given_v`` / ``sample_v_given_h`` without their
        per-call checks; subclasses may keep h in a faster internal layout between half-sweeps.
        """
        v = self._check_v_value(v)
        generator = bit_source(generator, v.device)
        for beta in betas:
            h = self._sample_h_scaled(self._scaled_hidden_logits(v, beta), generator)
            v = _bernoulli_logits_(self._scaled_visible_logits(h, beta), generator)
        return v, self._sample_h_scaled(self._scaled_hidden_logits(v, betas[-1]), generator)

    def _num_hidden_states_log(self, visible_shape: tuple[int, ...]) -> float:
        """log of the number of allowed hidden configurations (= hidden log sum at β = 0)."""
        return math.prod(self.hidden_shape(visible_shape)) * math.log(2.0)

    # ----------------------------------------------------------------- the public protocol
    def _check_v_value(self, v: Tensor, name: str = "v") -> Tensor:
        v = self._check_v(_as_float(v, name, self.weight.dtype))
        check_unit_interval(v, name)
        return v

    def _check_h_value(self, h: Tensor) -> Tensor:
        h = self._check_h(_as_float(h, "h", self.weight.dtype))
        check_unit_interval(h, "h")
        return h

    def hidden_logits(self, v: Tensor) -> Tensor:
        """Hidden pre-activations ``-∂E/∂h`` (bias included), shape ``(B, *hidden_shape)``."""
        return self._hidden_logits(self._check_v_value(v))

    def visible_logits(self, h: Tensor) -> Tensor:
        """Visible pre-activations ``-∂E/∂v`` (bias included), shape ``(B, *visible_shape)``."""
        return self._visible_logits(self._check_h_value(h))

    def p_h_given_v(self, v: Tensor, beta: float = 1.0) -> Tensor:
        """Hidden on-probabilities at ``beta``, shape ``(B, *hidden_shape)``."""
        return self._p_h(self._hidden_logits(self._check_v_value(v)), beta)

    @torch.no_grad()
    def sample_h_given_v(
        self, v: Tensor, beta: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """A binary float sample of h given v at ``beta``, shape ``(B, *hidden_shape)``.

        Not differentiable (runs under ``no_grad``); ``generator`` lives on the model's device.
        """
        return self._sample_h_scaled(
            self._scaled_hidden_logits(self._check_v_value(v), beta), generator
        )

    def p_v_given_h(self, h: Tensor, beta: float = 1.0) -> Tensor:
        """Visible on-probabilities at ``beta``, shape ``(B, *visible_shape)``."""
        return torch.sigmoid(beta * self._visible_logits(self._check_h_value(h)))

    @torch.no_grad()
    def sample_v_given_h(
        self, h: Tensor, beta: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """A binary float sample of v given h at ``beta``, shape ``(B, *visible_shape)``."""
        scaled = self._scaled_visible_logits(self._check_h_value(h), beta)
        return _bernoulli_logits_(scaled, generator)

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """``E(v, h)``, shape (B,). No pooling penalty: invalid pooled h are the caller's bug."""
        v = self._check_v_value(v)
        h = self._check_h_value(h)
        logits = self._hidden_logits(v)
        if h.shape != logits.shape:
            raise ValueError(
                f"expected h of shape {tuple(logits.shape)} to match v of shape {tuple(v.shape)},"
                f" got {tuple(h.shape)}"
            )
        return -self._visible_term(v) - (logits * h).flatten(1).sum(1)

    def free_energy(self, v: Tensor, beta: float = 1.0) -> Tensor:
        """``F_β(v) = -(1/β) log Σ_h exp(-β E(v, h))``, shape (B,); ``p_β(v) ∝ exp(-β F_β(v))``.

        At the default β = 1 this is the F(v) of docs/design.md §1; it is differentiable in the
        parameters (the pretraining loss uses it).
        """
        if not beta > 0:
            raise ValueError(f"free_energy needs beta > 0, got {beta!r}")
        return -self._log_marginal_v(self._check_v_value(v), beta) / beta

    def free_energy_parts(self, v: Tensor, beta: float = 1.0) -> tuple[Tensor, Tensor]:
        """The two parts of :meth:`free_energy`, each of shape (B,): ``(visible, hidden)``.

        ``visible = -b_v · v`` (a sum over pixels) and ``hidden = -(1/β) log Σ_h exp(β h ·
        hidden_logits(v))`` (a sum over hidden units or pooling blocks); their sum is
        ``free_energy(v, beta)`` up to rounding. The pretraining loss normalises them by different
        counts (pixels, hidden positions) when the negative-phase canvas is not the data size.
        """
        if not beta > 0:
            raise ValueError(f"free_energy_parts needs beta > 0, got {beta!r}")
        v = self._check_v_value(v)
        return -self._visible_term(v), -self._hidden_log_sum(self._hidden_logits(v), beta) / beta

    def hidden_free_energy(self, h: Tensor, beta: float = 1.0) -> Tensor:
        """``-(1/β) log Σ_v exp(-β E(v, h))``, shape (B,): the free energy of the hidden side."""
        if not beta > 0:
            raise ValueError(f"hidden_free_energy needs beta > 0, got {beta!r}")
        return -self._log_marginal_h(self._check_h_value(h), beta) / beta

    def _log_marginal_v(self, v: Tensor, beta: float) -> Tensor:
        """``log Σ_h exp(-β E(v, h))`` for validated v, shape (B,) (defined at β = 0 too)."""
        return beta * self._visible_term(v) + self._hidden_log_sum(self._hidden_logits(v), beta)

    def _log_marginal_h(self, h: Tensor, beta: float) -> Tensor:
        """``log Σ_v exp(-β E(v, h))`` for validated h, shape (B,)."""
        visible = F.softplus(beta * self._visible_logits(h)).flatten(1).sum(1)
        return beta * self._hidden_term(h) + visible

    def transform(self, v: Tensor) -> Tensor:
        """The data of the next layer: ``p_h_given_v(v)`` (pooled probabilities with pooling)."""
        return self.p_h_given_v(v)

    def sparsity_penalty(
        self, v: Tensor, target: float, strength: float = 1.0, bias_only: bool = False
    ) -> Tensor:
        """Differentiable sparsity regulariser (Lee, Ekanadham & Ng 2008; Lee et al. 2009).

        ``strength * Σ_k (target - q_k)²`` where ``q_k`` is the mean on-probability of hidden unit
        k (dense) or of filter k's detection units (conv: mean over batch and positions) given the
        batch ``v``. Add it to the pretraining loss. With ``bias_only=True`` the gradient reaches
        only the hidden biases, as in Lee et al.'s update rule.

        Args:
            v: data batch, the shape ``p_h_given_v`` accepts.
            target: desired mean activation in (0, 1), e.g. 0.02.
            strength: λ, multiplies the sum over units/filters.
            bias_only: detach the weights in this term.

        Returns:
            A scalar tensor.
        """
        if not 0.0 < target < 1.0:
            raise ValueError(f"sparsity target must be in (0, 1), got {target!r}")
        v = self._check_v_value(v)
        logits = self._hidden_logits_with(v, self.weight.detach() if bias_only else self.weight)
        p = self._p_h(logits, 1.0)
        q = p.transpose(0, 1).reshape(p.shape[1], -1).mean(1)
        return strength * (target - q).pow(2).sum()

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={val}" for k, val in self.config().items())
