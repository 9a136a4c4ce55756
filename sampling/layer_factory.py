"""The negative-phase sampler of each layer of a stack, as greedy pretraining builds it.

One sampler per layer, built by name with :func:`sampling.make_sampler` from one set of options:

* the seed of layer ``i`` is ``options["seed"] + LAYER_SEED_STRIDE · i`` (7919, a prime: layers
  never draw the same chains, and rank seeds of a data-parallel run, ``seed + 100003·rank``,
  never collide with them for fewer than 12 layers);
* a ``canvas`` ``(H, W)`` of conv layers (3-dim inputs ``(C, H, W)``) is clipped to the layer's
  data size, so one value serves every layer; dense layers ignore it;
* :func:`resilient_layer_sampler` puts the layer's sampler behind bounded retries and an optional
  fallback sampler (:class:`sampling.ResilientSampler`); the fallback receives only ``beta``,
  ``seed`` and ``num_chains`` of the options (other options belong to the primary backend).

``stack`` is anything with ``input_shape_of(i)`` (e.g. :class:`rbm.RBMStack`; this module does not
import rbm/). A backend that refuses its options raises :class:`LayerSamplerError` (a
``ValueError``) naming the sampler.

Examples:
    >>> from rbm import build_stack, parse_layers
    >>> stack = build_stack(parse_layers("4x3p2,4x3"), (1, 8, 8))
    >>> make = layer_sampler_factory("annealed", {"seed": 5, "num_sweeps": 2}, stack, canvas=(6, 6))
    >>> samplers = [make(0), make(1)]
    >>> [s.primary.canvas for s in samplers], [s.primary.seed for s in samplers]
    ([(1, 6, 6), (4, 3, 3)], [5, 7924])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sampling.errors import SamplingError
from sampling.registry import make_sampler
from sampling.resilient import ResilientSampler

__all__ = [
    "FALLBACK_OPTIONS",
    "LAYER_SEED_STRIDE",
    "LayerSamplerError",
    "layer_canvas",
    "layer_sampler",
    "layer_sampler_factory",
    "resilient_layer_sampler",
]

LAYER_SEED_STRIDE = 7919
FALLBACK_OPTIONS = ("beta", "seed", "num_chains")


class LayerSamplerError(SamplingError, ValueError):
    """A sampler refused its name or options; ``sampler`` is the name, the message says why."""

    def __init__(self, sampler: str, problem: str) -> None:
        self.sampler, self.problem = sampler, problem
        super().__init__(problem)

    def __reduce__(self) -> tuple[type[LayerSamplerError], tuple[str, str]]:
        return type(self), (self.sampler, self.problem)


def layer_canvas(stack: Any, layer: int, canvas: tuple[int, int] | None = None) -> tuple[int, ...]:
    """The negative-phase canvas of ``layer``: ``canvas`` ``(H, W)`` clipped to the layer's input
    ``(C, H, W)``, or the whole input (also for a dense layer, or without ``canvas``)."""
    shape = tuple(stack.input_shape_of(layer))
    if canvas is None or len(shape) != 3:
        return shape
    return (shape[0], min(canvas[0], shape[1]), min(canvas[1], shape[2]))


def layer_sampler(name: str, options: dict[str, Any], stack: Any, layer: int,
                  canvas: tuple[int, int] | None = None) -> Any:
    """The sampler ``name`` of layer ``layer``: layer seed, canvas clipped to the layer's data
    (:func:`layer_canvas`)."""
    options = dict(options, seed=options.get("seed", 0) + LAYER_SEED_STRIDE * layer)
    if canvas is not None and len(stack.input_shape_of(layer)) == 3:
        options["canvas"] = layer_canvas(stack, layer, canvas)
    try:
        return make_sampler(name, **options)
    except (TypeError, ValueError) as exc:
        raise LayerSamplerError(name, str(exc)) from None


def resilient_layer_sampler(name: str, options: dict[str, Any], stack: Any, layer: int,
                            canvas: tuple[int, int] | None = None, *, fallback: str | None = None,
                            retries: int = 3, backoff: float = 1.0, primary: Any = None) -> ResilientSampler:
    """:func:`layer_sampler` (or ``primary``, one already built for this layer, e.g. a QPU sampler
    connected and embedded by a preflight check) behind ``retries`` retries, then the ``fallback``
    sampler (if any)."""
    if primary is None:
        primary = layer_sampler(name, options, stack, layer, canvas)
    backup = None
    if fallback:
        backup_options = {k: v for k, v in options.items() if k in FALLBACK_OPTIONS}
        backup = layer_sampler(fallback, backup_options, stack, layer, canvas)
    return ResilientSampler(primary, backup, retries=retries, backoff=backoff)


def layer_sampler_factory(name: str, options: dict[str, Any], stack: Any,
                          canvas: tuple[int, int] | None = None, *, fallback: str | None = None,
                          retries: int = 3, backoff: float = 1.0,
                          ready: Mapping[int, Any] | None = None) -> Callable[[int], ResilientSampler]:
    """``make(layer)`` → that layer's :func:`resilient_layer_sampler` (what ``rbm.pretrain_stack``
    takes as ``make_sampler``); ``ready`` maps layer indices to primaries built beforehand."""
    ready = dict(ready or {})

    def make(layer: int) -> ResilientSampler:
        return resilient_layer_sampler(name, options, stack, layer, canvas, fallback=fallback,
                                       retries=retries, backoff=backoff, primary=ready.get(layer))

    return make
