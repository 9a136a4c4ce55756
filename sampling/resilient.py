"""Bounded retries and an optional fallback around any negative-phase sampler.

A pretraining run on a QPU costs money and hours; a transient solver error or time-out must not
end it, and a persistent one must end it cleanly. :class:`ResilientSampler` wraps any object with
the sampler protocol of ``docs/interfaces.md``:

1. on an exception from ``primary.sample``, retry up to ``retries`` times with exponential
   backoff (``backoff``, ``2·backoff``, …);
2. then, if a ``fallback`` sampler is given, log a warning and draw this batch from it (recorded in
   ``last_info["fallback"] = 1``, so per-epoch metrics show the fraction of batches that fell back);
3. otherwise raise :class:`SamplerFailure`, naming the sampler and the last error, so the caller can
   stop with its last good checkpoint intact.

User mistakes (``ValueError``/``TypeError``: a model too large for ``exact``, a bad canvas) and
errors that declare ``retryable = False`` (e.g. ``QPUUnavailableError``: no token) are not retried
and pass straight through: they would fail again. Errors that declare ``retried = True`` come from a
sampler that already retried on its own (``QPUSamplingError``: the QPU backend's ``max_retries``);
there is one retry layer, so they are not retried here either, and go straight to step 2 or 3.

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> from sampling import make_sampler
    >>> class Flaky:                      # fails on the first call only
    ...     beta, last_info, calls = 1.0, {}, 0
    ...     def sample(self, model, v):
    ...         self.calls += 1
    ...         if self.calls == 1:
    ...             raise TimeoutError("solver timed out")
    ...         return v, model.p_h_given_v(v)
    >>> sampler = ResilientSampler(Flaky(), retries=2, backoff=0.0)
    >>> v, h = sampler.sample(BernoulliRBM(4, 2), torch.zeros(3, 4))
    >>> sampler.last_info["retries"], sampler.last_info["fallback"]
    (1, 0)
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: wrapping a sampler needs no torch
    from torch import Tensor

from sampling.errors import SamplingError

__all__ = ["ResilientSampler", "SamplerFailure"]

log = logging.getLogger(__name__)

NOT_RETRIED = (ValueError, TypeError, KeyboardInterrupt)


class SamplerFailure(SamplingError, RuntimeError):
    """The sampler kept failing after its retries and no fallback was configured."""


class ResilientSampler:
    """Retry ``primary`` with exponential backoff, then fall back (or raise :class:`SamplerFailure`).

    Args:
        primary: the sampler to use.
        fallback: optional sampler used for a batch on which ``primary`` failed every retry.
        retries: extra attempts after the first failure (>= 0).
        backoff: seconds before the first retry; doubles for each further retry.
        sleep: the function that waits (tests pass a recorder).
    """

    def __init__(self, primary: Any, fallback: Any = None, retries: int = 3, backoff: float = 1.0,
                 sleep: Any = time.sleep) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if backoff < 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff}")
        self.primary, self.fallback = primary, fallback
        self.retries, self.backoff, self._sleep = int(retries), float(backoff), sleep
        self.last_info: dict[str, Any] = {}

    @property
    def beta(self) -> float:
        return self.primary.beta

    @property
    def summed_info(self) -> tuple[str, ...]:
        """The ``last_info`` keys that add up over calls (e.g. QPU time), of either sampler."""
        keys = [*getattr(self.primary, "summed_info", ()), *getattr(self.fallback, "summed_info", ())]
        return tuple(dict.fromkeys(keys))

    def sample(self, model: Any, v_data: Tensor) -> tuple[Tensor, Tensor]:
        error: BaseException | None = None
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning("sampler %s failed (%s); retry %d/%d in %.3g s", _name(self.primary),
                            _describe(error), attempt, self.retries, delay)
                self._sleep(delay)
            attempts = attempt + 1
            try:
                result = self.primary.sample(model, v_data)
            except NOT_RETRIED:
                raise
            except Exception as exc:  # noqa: BLE001 - any backend fault (network, solver, timeout)
                if not getattr(exc, "retryable", True):
                    raise
                error = exc
                if getattr(exc, "retried", False):  # the sampler already retried: one layer only
                    break
                continue
            self.last_info = {**getattr(self.primary, "last_info", {}), "retries": attempt, "fallback": 0}
            return result
        failed = _failed(self.primary, attempts, error)
        if self.fallback is None:
            raise SamplerFailure(f"{failed}; last error: {_describe(error)}") from error
        log.warning("%s (%s); using fallback %s for this batch", failed, _describe(error),
                    _name(self.fallback))
        result = self.fallback.sample(model, v_data)
        self.last_info = {**getattr(self.fallback, "last_info", {}), "retries": attempts - 1, "fallback": 1}
        return result

    def state_dict(self) -> dict[str, Any]:
        state = {"primary": _state(self.primary)}
        if self.fallback is not None:
            state["fallback"] = _state(self.fallback)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if hasattr(self.primary, "load_state_dict") and state.get("primary") is not None:
            self.primary.load_state_dict(state["primary"])
        if self.fallback is not None and hasattr(self.fallback, "load_state_dict") and state.get("fallback") is not None:
            self.fallback.load_state_dict(state["fallback"])


def _state(sampler: Any) -> dict[str, Any] | None:
    return sampler.state_dict() if hasattr(sampler, "state_dict") else None


def _name(sampler: Any) -> str:
    return type(sampler).__name__


def _failed(sampler: Any, attempts: int, error: BaseException | None) -> str:
    if getattr(error, "retried", False) and attempts == 1:
        return f"sampler {_name(sampler)} failed after its own retries"
    return f"sampler {_name(sampler)} failed {attempts} times"


def _describe(error: BaseException | None) -> str:
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"
