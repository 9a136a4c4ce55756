"""A stack of RBMs trained greedily: layer i's data is the transform of layers 0..i-1."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from .conv import ConvRBM
from .dense import BernoulliRBM
from .specs import LayerSpec, format_layers, parse_layers

__all__ = ["RBMStack", "build_stack"]


class RBMStack(nn.Module):
    """Layers with checked shapes; built by :func:`build_stack`.

    Attributes:
        layers: ``nn.ModuleList`` of :class:`~rbm.ConvRBM` / :class:`~rbm.BernoulliRBM`.
        specs: the :class:`~rbm.LayerSpec` of each layer.
        input_shape: data shape ``(C, H, W)`` of layer 0.

    Examples:
        >>> import torch
        >>> stack = build_stack("16x5p2,32x5p2", (1, 28, 28))
        >>> [stack.output_shape_of(i) for i in range(len(stack))]
        [(16, 12, 12), (32, 4, 4)]
        >>> stack.transform(torch.zeros(3, 1, 28, 28), upto=1).shape
        torch.Size([3, 16, 12, 12])
    """

    def __init__(self, specs: Sequence[LayerSpec], input_shape: tuple[int, ...],
                 layers: Sequence[nn.Module]):
        super().__init__()
        self.specs = list(specs)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.layers = nn.ModuleList(layers)
        self._shapes = [self.input_shape]
        for layer in self.layers:
            shape = self._shapes[-1]
            if isinstance(layer, ConvRBM):
                self._shapes.append(layer.pooled_shape(shape))
            else:
                self._shapes.append(layer.hidden_shape(shape))

    def __len__(self) -> int:
        return len(self.layers)

    def config(self) -> dict:
        """``{"specs": "16x5p2,...", "input_shape": (C, H, W)}``."""
        return {"specs": format_layers(self.specs), "input_shape": self.input_shape}

    def _index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(f"layer index {i} out of range for a stack of {len(self)} layers")
        return i % len(self)

    def input_shape_of(self, i: int) -> tuple[int, ...]:
        """Data shape (without batch) that layer i sees: ``(C, H, W)`` after a conv layer,
        ``(n,)`` after a dense one (a dense layer flattens image data itself)."""
        return self._shapes[self._index(i)]

    def output_shape_of(self, i: int) -> tuple[int, ...]:
        """Shape of layer i's ``transform`` (pooled map for conv with pooling)."""
        return self._shapes[self._index(i) + 1]

    def transform(self, x: Tensor, upto: int | None = None) -> Tensor:
        """Pass ``x`` ``(B, *input_shape)`` through the transforms of layers ``0..upto-1``.

        ``upto=i`` gives the data of layer i (``upto=0``: x itself); default: all layers.
        Returns ``(B, *input_shape_of(upto))`` (``output_shape_of(-1)`` for all layers).
        """
        n = len(self) if upto is None else int(upto)
        if not 0 <= n <= len(self):
            raise IndexError(f"upto must be in [0, {len(self)}], got {upto}")
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.input_shape or x.ndim < 2:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected x of shape (N, {', '.join(map(str, self.input_shape))}),"
                             f" got {got}")
        for layer in self.layers[:n]:
            x = layer.transform(x)
        return x


def build_stack(specs: str | Sequence[LayerSpec], input_shape: tuple[int, ...]) -> RBMStack:
    """Build the RBMs of ``specs`` (a string for :func:`parse_layers` or a list) on data of
    shape ``input_shape`` ``(C, H, W)`` and check every layer's shapes.

    Conv layers get ``visible_shape`` set to their data shape; a dense layer after a conv layer
    has ``n_visible = prod`` of the conv output.

    Raises:
        ValueError: naming the layer index and token, the expected and the actual shape (kernel
            larger than the layer's input, hidden map not divisible by the pool size, a conv layer
            on non-image data).

    Examples:
        >>> build_stack("8x3,fc10", (1, 6, 6)).layers[1].n_visible
        128
    """
    if isinstance(specs, str):
        specs = parse_layers(specs)
    specs = list(specs)
    if not specs:
        raise ValueError("build_stack needs at least one layer")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"expected input_shape (C, H, W), got {tuple(input_shape)}")
    layers: list[nn.Module] = []
    for i, spec in enumerate(specs):
        where = f"layer {i} ({spec})"
        if spec.kind == "conv":
            if len(shape) != 3:
                raise ValueError(f"{where}: a conv layer needs (C, H, W) input, got {shape}")
            c, h, w = shape
            k = spec.kernel
            if k > h or k > w:
                raise ValueError(
                    f"{where}: kernel {k}x{k} is larger than its input {h}x{w}"
                    f" (input shape {shape}; expected H, W >= {k})"
                )
            ho, wo = h - k + 1, w - k + 1
            p = spec.pool or 1
            if ho % p or wo % p:
                raise ValueError(
                    f"{where}: hidden map {ho}x{wo} (input {h}x{w}, kernel {k}) is not divisible"
                    f" by pool size {p}; expected H - {k - 1} and W - {k - 1} divisible by {p}"
                )
            layers.append(ConvRBM(c, spec.size, k, pool_size=spec.pool, visible_shape=shape))
            shape = (spec.size, ho // p, wo // p)
        else:
            layers.append(BernoulliRBM(math.prod(shape), spec.size))
            shape = (spec.size,)
    return RBMStack(specs, tuple(int(s) for s in input_shape), layers)

