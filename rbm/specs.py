"""Layer specifications: the compact string form ``"16x5p2,32x5,fc64"`` and its parsed records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["LayerSpec", "parse_layers", "format_layers"]

_CONV = re.compile(r"^(\d+)x(\d+)(?:p(\d+))?$")
_DENSE = re.compile(r"^fc(\d+)$")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a stack.

    Attributes:
        kind: ``"conv"`` or ``"dense"``.
        size: number of filters (conv) or hidden units (dense), >= 1.
        kernel: filter size w (conv only), >= 1.
        pool: probabilistic max-pooling size (conv only), None for none.

    ``str(spec)`` gives the token back: ``16x5p2``, ``32x5``, ``fc64``.
    """

    kind: str
    size: int
    kernel: int | None = None
    pool: int | None = None

    def __post_init__(self):
        def positive(name, value):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"layer {self!s}: {name} must be a positive int, got {value!r}")

        if self.kind == "conv":
            positive("size", self.size)
            positive("kernel", self.kernel)
            if self.pool is not None:
                positive("pool", self.pool)
        elif self.kind == "dense":
            positive("size", self.size)
            if self.kernel is not None or self.pool is not None:
                raise ValueError(f"dense layer fc{self.size} takes no kernel or pool")
        else:
            raise ValueError(f"layer kind must be 'conv' or 'dense', got {self.kind!r}")

    def as_dict(self) -> dict[str, Any]:
        """``{"kind", "size", "kernel", "pool"}``: ``LayerSpec(**spec.as_dict()) == spec``."""
        return {"kind": self.kind, "size": self.size, "kernel": self.kernel, "pool": self.pool}

    def __str__(self) -> str:
        if self.kind == "dense":
            return f"fc{self.size}"
        return f"{self.size}x{self.kernel}" + (f"p{self.pool}" if self.pool is not None else "")


def parse_layers(text: str) -> list[LayerSpec]:
    """Parse comma-separated layers: conv ``FILTERSxKERNEL[pPOOL]``, dense ``fcN``.

    Conv layers come first; dense layers may follow (the stack flattens in between).

    Raises:
        ValueError: naming the bad token (empty string or token, zero or non-numeric sizes, a
            conv layer after a dense one).

    Examples:
        >>> [str(s) for s in parse_layers("16x5p2, 32x5,fc64")]
        ['16x5p2', '32x5', 'fc64']
        >>> parse_layers("fc64,16x5")
        Traceback (most recent call last):
        ...
        ValueError: layer 2 '16x5': a conv layer cannot follow a dense layer
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected layers like '16x5p2,32x5,fc64', got {text!r}")
    specs: list[LayerSpec] = []
    for i, raw in enumerate(text.split(","), start=1):
        token = raw.strip()
        where = f"layer {i} {token!r}"
        if not token:
            raise ValueError(f"layer {i} is empty in {text!r}")
        if m := _CONV.match(token):
            size, kernel = int(m[1]), int(m[2])
            pool = None if m[3] is None else int(m[3])
            if size < 1 or kernel < 1 or pool == 0:
                raise ValueError(f"{where}: filters, kernel and pool must be >= 1")
            if specs and specs[-1].kind == "dense":
                raise ValueError(f"{where}: a conv layer cannot follow a dense layer")
            specs.append(LayerSpec("conv", size, kernel, pool))
        elif m := _DENSE.match(token):
            if int(m[1]) < 1:
                raise ValueError(f"{where}: a dense layer needs >= 1 hidden units")
            specs.append(LayerSpec("dense", int(m[1])))
        else:
            raise ValueError(
                f"{where}: expected FILTERSxKERNEL[pPOOL] (e.g. 16x5p2) or fcN (e.g. fc64)"
            )
    return specs


def format_layers(specs: list[LayerSpec]) -> str:
    """The inverse of :func:`parse_layers`: ``"16x5p2,32x5,fc64"``."""
    return ",".join(str(s) for s in specs)
