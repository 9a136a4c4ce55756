"""QPU failures: the two exceptions, which solver errors are worth a retry, and the retry loop.

One retry layer: :func:`with_retries` retries transient solver and network errors with exponential
backoff and then raises :class:`QPUSamplingError` (``retried = True``), which
:class:`sampling.resilient.ResilientSampler` does not retry again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sampling.errors import SamplingError

__all__ = ["HOW_TO_CONFIGURE", "QPURangeError", "QPUSamplingError", "QPUUnavailableError", "RetryPolicy",
           "classify", "with_retries"]

log = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "Configure a Leap API token with `dwave config create` (writes ~/.config/dwave/dwave.conf) "
    "or set the DWAVE_API_TOKEN environment variable, and make sure the Leap API is reachable; "
    "or work without a QPU: --sampler sa (simulated annealing; `--method sa` in python -m "
    "sampling) or the offline QPU stand-in mock-qpu."
)


class QPUUnavailableError(SamplingError, RuntimeError):
    """No D-Wave QPU can be used: no token configured, no network, authentication or solver
    selection failed. The message says how to configure a token and which samplers work offline."""

    retryable = False  # retrying cannot create a token: sampling.resilient lets it through


class QPUSamplingError(SamplingError, RuntimeError):
    """A QPU call kept failing after the backend's own retries (``max_retries``).

    ``retried = True``: the retries are done, so :class:`sampling.resilient.ResilientSampler`
    does not retry it again (one retry layer) but goes straight to its fallback, or stops.
    """

    retried = True


class QPURangeError(QPUSamplingError):
    """The problem at the target β does not fit the solver's ``h_range``/``j_range`` without
    clipping more than ``max_clip_fraction`` of its biases, and calibration is off (so no other
    scale will be tried). Retrying the same call cannot help."""


def classify(exc: BaseException) -> str:
    """``"fatal"`` (auth: no retry, QPUUnavailableError), ``"bad"`` (our bug or an invalid
    problem: re-raise), or ``"transient"`` (network, timeouts, solver hiccups: retry)."""
    try:
        from dwave.cloud.api.exceptions import (
            ResourceAccessForbiddenError,
            ResourceAuthenticationError,
            ResourceBadRequestError,
        )
        from dwave.cloud.exceptions import PollingTimeout, ProblemUploadError
        from dwave.system.exceptions import FailoverCondition
        from requests.exceptions import RequestException
    except ImportError:  # pragma: no cover - dwave-cloud-client is a hard dependency
        return "transient" if isinstance(exc, (OSError, TimeoutError)) else "bad"
    if isinstance(exc, (ResourceAuthenticationError, ResourceAccessForbiddenError)):
        return "fatal"
    if isinstance(exc, ResourceBadRequestError):
        return "bad"
    transient = (RequestException, PollingTimeout, ProblemUploadError, FailoverCondition,
                 OSError, TimeoutError)
    if isinstance(exc, transient):
        return "transient"
    return "bad"



@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after ``delay · backoff^k`` seconds, capped at ``max_delay``."""

    max_retries: int = 3
    delay: float = 2.0
    backoff: float = 2.0
    max_delay: float = 120.0

    def __post_init__(self) -> None:
        if int(self.max_retries) < 0 or self.delay < 0 or self.backoff < 1:
            raise ValueError("need max_retries >= 0, retry_delay >= 0 and retry_backoff >= 1")


def with_retries(call: Callable[[], Any], policy: RetryPolicy, sleep: Callable[[float], None],
                 stats: dict | None = None) -> Any:
    """``call()``, retried on transient errors by ``policy`` (``stats["retries"]`` counts them).

    Raises:
        QPUUnavailableError: authentication or access refused (no retry).
        QPUSamplingError: still failing after ``policy.max_retries`` retries.
        Exception: anything else (an invalid problem, our bug) is re-raised at once.
    """
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            kind = classify(exc)
            if kind == "fatal":
                raise QPUUnavailableError(
                    f"the D-Wave solver refused the request ({type(exc).__name__}: {exc}). "
                    f"{HOW_TO_CONFIGURE}"
                ) from exc
            if kind == "bad":
                raise
            if attempt >= policy.max_retries:
                raise QPUSamplingError(
                    f"QPU sampling failed after {attempt + 1} attempts "
                    f"({type(exc).__name__}: {exc}); the solver or the network is down"
                ) from exc
            delay = min(policy.max_delay, policy.delay * policy.backoff**attempt)
            attempt += 1
            if stats is not None:
                stats["retries"] = stats.get("retries", 0) + 1
            log.warning("QPU call failed (%s: %s); retry %d/%d in %.3g s",
                        type(exc).__name__, exc, attempt, policy.max_retries, delay)
            sleep(delay)
