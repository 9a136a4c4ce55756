"""The dense Bernoulli RBM, and the visible-bias initialisation from data."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import RBM, _as_float, check_unit_interval
from .qm import QuadraticModelSpec, dense_qm

__all__ = ["BernoulliRBM", "visible_bias_from_data"]


def visible_bias_from_data(x: Tensor, per_channel: bool = False, eps: float = 1e-3) -> Tensor:
    """Log-odds of the mean activation of each visible unit (Hinton's practical guide, §8.1).

    Args:
        x: data in [0, 1], shape ``(N, *shape)``.
        per_channel: average over batch and space per channel (x of shape ``(N, C, H, W)``;
            returns ``(C,)``, the conv RBM's visible bias); otherwise per unit, flattened
            (returns ``(prod(shape),)``).
        eps: means are clipped to ``[eps, 1 - eps]`` so units never on or always on get a
            finite bias (±6.9 at the default).

    Examples:
        >>> visible_bias_from_data(torch.tensor([[1.0, 0.0], [0.0, 0.0]])).tolist()
        [0.0, -6.906754...]
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"expected x to be a torch.Tensor, got {type(x).__name__}")
    x = x if x.is_floating_point() else x.to(torch.get_default_dtype())
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"expected x of shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    check_unit_interval(x, "x")
    if per_channel:
        if x.ndim != 4:
            raise ValueError(f"expected x of shape (N, C, H, W), got {tuple(x.shape)}")
        mean = x.mean(dim=(0, 2, 3))
    else:
        mean = x.flatten(1).mean(0)
    mean = mean.clamp(eps, 1.0 - eps)
    return torch.log(mean) - torch.log1p(-mean)


class BernoulliRBM(RBM):
    """A dense RBM with binary visible and hidden units.

    ``E(v, h) = -b_v·v - b_h·h - vᵀ W h``, initialised as in Hinton's practical guide:
    ``W ~ N(0, 0.01²)``, zero biases (set the visible bias from data with
    :meth:`init_visible_bias`).

    Shapes: ``v`` is ``(B, n_visible)`` or images ``(B, C, H, W)`` with ``C*H*W == n_visible``
    (flattened in C order; outputs on the visible side are always ``(B, n_visible)``); ``h`` is
    ``(B, n_hidden)``.

    Attributes:
        weight: ``(n_visible, n_hidden)``. visible_bias: ``(n_visible,)``.
        hidden_bias: ``(n_hidden,)``.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> rbm = BernoulliRBM(6, 3)
        >>> v = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> rbm.p_h_given_v(v).shape, rbm.free_energy(v).shape
        (torch.Size([4, 3]), torch.Size([4]))
        >>> rbm.sample_v_given_h(rbm.sample_h_given_v(v), beta=2.0).shape
        torch.Size([4, 6])
        >>> rbm.to_qm().values.shape
        (18,)
    """

    def __init__(self, n_visible: int, n_hidden: int):
        super().__init__()
        for name, n in (("n_visible", n_visible), ("n_hidden", n_hidden)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        self.weight = nn.Parameter(0.01 * torch.randn(n_visible, n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    def config(self) -> dict:
        """Constructor arguments: ``{"n_visible": ..., "n_hidden": ...}``."""
        return {"n_visible": self.n_visible, "n_hidden": self.n_hidden}

    @torch.no_grad()
    def init_visible_bias(self, x: Tensor, eps: float = 1e-3) -> None:
        """Set ``visible_bias`` to :func:`visible_bias_from_data` of ``x`` ``(N, n_visible)``
        or ``(N, C, H, W)``."""
        self._check_v(_as_float(x, "x", self.weight.dtype))
        self.visible_bias.copy_(visible_bias_from_data(x, eps=eps))

    def _visible_shape_ok(self, visible_shape) -> tuple[int, ...]:
        shape = tuple(int(s) for s in visible_shape)
        if math.prod(shape) != self.n_visible:
            raise ValueError(
                f"expected a visible shape holding {self.n_visible} units, got {shape}"
            )
        return shape

    def hidden_shape(self, visible_shape: tuple[int, ...] = ()) -> tuple[int, ...]:
        """``(n_hidden,)`` (``visible_shape``, if given, must hold n_visible units)."""
        if visible_shape:
            self._visible_shape_ok(visible_shape)
        return (self.n_hidden,)

    def num_positions(self, visible_shape: tuple[int, ...] = ()) -> int:
        """1: a dense RBM has one position per hidden unit."""
        return 1

    def _check_v(self, v: Tensor) -> Tensor:
        if v.ndim == 2 and v.shape[1] == self.n_visible:
            return v
        if v.ndim == 4 and math.prod(v.shape[1:]) == self.n_visible:
            return v.flatten(1)
        raise ValueError(
            f"expected v of shape (N, {self.n_visible}) or (N, C, H, W) with C*H*W = "
            f"{self.n_visible}, got {tuple(v.shape)}"
        )

    def _check_h(self, h: Tensor) -> Tensor:
        if h.ndim != 2 or h.shape[1] != self.n_hidden:
            raise ValueError(f"expected h of shape (N, {self.n_hidden}), got {tuple(h.shape)}")
        return h

    def _hidden_logits_with(self, v: Tensor, weight: Tensor) -> Tensor:
        return torch.addmm(self.hidden_bias, v, weight)

    def _visible_logits(self, h: Tensor) -> Tensor:
        return torch.addmm(self.visible_bias, h, self.weight.t())

    # β folded into the weights and biases (β·W is n_visible·n_hidden values, computed once per
    # call and amortised over the batch): no extra pass over the logits, and a plain GEMM
    # (addmm's own alpha/beta scaling measured ~10 % slower on CPU).
    def _scaled_hidden_logits(self, v: Tensor, beta: float) -> Tensor:
        if beta == 1.0:
            return torch.addmm(self.hidden_bias, v, self.weight)
        return torch.addmm(self.hidden_bias * beta, v, self.weight * beta)

    def _scaled_visible_logits(self, h: Tensor, beta: float) -> Tensor:
        if beta == 1.0:
            return torch.addmm(self.visible_bias, h, self.weight.t())
        return torch.addmm(self.visible_bias * beta, h, (self.weight * beta).t())

    def _visible_term(self, v: Tensor) -> Tensor:
        return v @ self.visible_bias

    def _hidden_term(self, h: Tensor) -> Tensor:
        return h @ self.hidden_bias

    def to_qm(self, visible_shape: tuple[int, ...] | None = None) -> QuadraticModelSpec:
        """The model as a :class:`QuadraticModelSpec` (variables: v then h).

        ``visible_shape`` (default ``(n_visible,)``) only sets how ``spec.split`` shapes v.
        """
        shape = None if visible_shape is None else self._visible_shape_ok(visible_shape)
        return dense_qm(
            self.weight.detach().cpu().double().numpy(),
            self.visible_bias.detach().cpu().double().numpy(),
            self.hidden_bias.detach().cpu().double().numpy(),
            visible_shape=shape,
        )
