"""Negative-phase samplers by name: :func:`make_sampler` and :func:`register_sampler`.

Built-in names: ``cd``, ``pcd``, ``annealed``, ``sa`` (alias ``neal``) and ``exact``. Other
backends (``qpu``, ``mock-qpu``) register themselves with :func:`register_sampler`; a factory is
any callable taking keyword options and returning an object with the sampler protocol of
``docs/interfaces.md``. Options a factory's signature does not accept are refused with a
``ValueError`` that lists the accepted ones.

Examples:
    >>> sampler = make_sampler("pcd", k=5, beta=1.0, seed=0)
    >>> type(sampler).__name__, sampler.persistent, sampler.k
    ('GibbsSampler', True, 5)
    >>> make_sampler("gibs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown sampler 'gibs'; valid names: annealed, cd, exact, ...
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["available_samplers", "make_sampler", "register_sampler"]


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Any] | str  # a callable, or "module:attribute" imported on first use
    defaults: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        if isinstance(self.factory, str):
            module, _, attribute = self.factory.partition(":")
            return getattr(importlib.import_module(module), attribute)
        return self.factory


_REGISTRY: dict[str, _Entry] = {}


def register_sampler(
    name: str,
    factory: Callable[..., Any] | str,
    *,
    aliases: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
    replace: bool = False,
) -> None:
    """Make ``make_sampler(name, **options)`` call ``factory(**{**defaults, **options})``.

    Args:
        name: the public name (lower case by convention).
        factory: a callable (usually the sampler class), or ``"module:attribute"`` to import it
            lazily on first use (keeps heavy imports such as dwave-system out of ``import
            sampling``).
        aliases: other names for the same entry.
        defaults: options applied before the caller's (e.g. ``{"persistent": True}`` for ``pcd``).
        replace: allow overwriting an existing name (otherwise ``ValueError``).
    """
    entry = _Entry(factory, dict(defaults or {}))
    for key in (name, *aliases):
        if not isinstance(key, str) or not key:
            raise ValueError(f"sampler names must be non-empty strings, got {key!r}")
        if key in _REGISTRY and not replace:
            raise ValueError(f"sampler {key!r} is already registered (pass replace=True)")
    for key in (name, *aliases):
        _REGISTRY[key] = entry


def available_samplers() -> list[str]:
    """Sorted names (aliases included) that :func:`make_sampler` accepts."""
    return sorted(_REGISTRY)


def make_sampler(name: str, **options: Any) -> Any:
    """Build a negative-phase sampler by name.

    Common options: ``beta`` (default 1.0), ``k`` / ``num_sweeps``, ``schedule``, ``beta_start``,
    ``num_chains`` (default the batch size), ``canvas`` (conv: (C, H, W), default the data shape),
    ``persistent``, ``seed``, ``device``. See each backend's class for the rest.

    Raises:
        ValueError: unknown name (the message lists the valid ones), an option the backend does
            not take, or an invalid option value.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(
            f"unknown sampler {name!r}; valid names: {', '.join(available_samplers())}"
        )
    factory = entry.resolve()
    merged = {**entry.defaults, **options}
    accepted = _accepted_options(factory)
    if accepted is not None:
        unknown = sorted(set(merged) - accepted)
        if unknown:
            raise ValueError(
                f"sampler {name!r} does not take option(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(sorted(accepted))}"
            )
        fixed = {k for k in entry.defaults if k in options and options[k] != entry.defaults[k]}
        if fixed:
            raise ValueError(
                f"sampler {name!r} fixes {', '.join(f'{k}={entry.defaults[k]!r}' for k in fixed)}"
            )
    return factory(**merged)


def _accepted_options(factory: Callable[..., Any]) -> set[str] | None:
    """Keyword names ``factory`` accepts, or ``None`` if it takes ``**kwargs`` (cannot tell)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


register_sampler("cd", "sampling.gibbs:GibbsSampler", defaults={"persistent": False})
register_sampler("pcd", "sampling.gibbs:GibbsSampler", defaults={"persistent": True})
register_sampler("annealed", "sampling.annealed:AnnealedGibbsSampler")
register_sampler("sa", "sampling.sa:SimulatedAnnealingNegativeSampler", aliases=("neal",))
register_sampler("exact", "sampling.exact:ExactSampler")
register_sampler("qpu", "sampling.qpu.samplers:QPUSampler")
register_sampler("mock-qpu", "sampling.qpu.samplers:MockQPUSampler")
