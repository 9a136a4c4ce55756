"""The Leap cloud: is a token configured (offline check), and connecting a ``DWaveSampler``.

Creating a ``DWaveSampler`` contacts Leap, so it happens lazily, on a backend's first request.
Without a token (``dwave config create`` or ``DWAVE_API_TOKEN``) or without network it raises
:class:`~sampling.qpu.errors.QPUUnavailableError`, whose message says how to fix it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sampling.qpu.errors import HOW_TO_CONFIGURE, QPUUnavailableError

__all__ = ["connect", "qpu_token_configured"]

log = logging.getLogger(__name__)


def qpu_token_configured(
    token: str | None = None, config_file: str | None = None, profile: str | None = None
) -> tuple[bool, str]:
    """Whether a Leap API token is configured, WITHOUT network: ``(ok, reason)``.

    Looks at ``token``, then the dwave-cloud-client configuration (``DWAVE_API_TOKEN``,
    ``DWAVE_CONFIG_FILE`` / the default config file and profile).
    """
    if token:
        return True, "token given"
    try:
        from dwave.cloud.config import load_config

        cfg = load_config(config_file=config_file, profile=profile)
    except Exception as exc:  # unreadable/invalid config file, unknown profile
        return False, f"the D-Wave configuration could not be read ({type(exc).__name__}: {exc})"
    if cfg.get("token"):
        return True, "token configured"
    return False, "no D-Wave API token is configured (DWAVE_API_TOKEN is unset and no config file has one)"



def connect(solver: str | Mapping | None = None, token: str | None = None,
            config_file: str | None = None, profile: str | None = None,
            client_kwargs: Mapping | None = None) -> Any:
    """A ``dwave.system.DWaveSampler`` (contacts Leap), or :class:`QPUUnavailableError`."""
    ok, reason = qpu_token_configured(token, config_file, profile)
    if not ok:
        raise QPUUnavailableError(f"No D-Wave QPU available: {reason}. {HOW_TO_CONFIGURE}")
    from dwave.system import DWaveSampler

    kwargs = dict(client_kwargs or {})
    for key, value in (("solver", solver), ("token", token), ("config_file", config_file),
                       ("profile", profile)):
        if value is not None:
            kwargs[key] = value
    try:
        sampler = DWaveSampler(**kwargs)
    except Exception as exc:
        raise QPUUnavailableError(
            f"No D-Wave QPU available: connecting to Leap failed ({type(exc).__name__}: {exc})."
            f" {HOW_TO_CONFIGURE}"
        ) from exc
    log.info("connected to D-Wave solver %s", sampler.properties.get("chip_id"))
    return sampler
