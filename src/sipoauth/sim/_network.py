"""What simulated devices are tuned with and share.

:class:`DeviceSettings` holds a device's timers and limits (defaults: what
phones do; tests shorten them). :class:`SimNetwork` is what devices of one
process share: one HTTP connection pool and one TLS context per
phone-edge-trust bundle, so a load run of hundreds of phones builds one
context and a handful of HTTPS connections.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from sipoauth.pki import client_ssl_context

from ._config import TrustBundle
from ._http import HttpClient

__all__ = ["DeviceSettings", "SimNetwork"]


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """Timers and limits of a simulated device; defaults are what phones do."""

    renew_fraction: float = 0.75
    """Renew the access token at this fraction of its life (REFERENCE-BEHAVIOUR)."""
    reregister_fraction: float = 0.8
    """Re-register at this fraction of the granted Expires."""
    requested_expires: int = 3600
    """Expires asked for; the registrar grants its own interval (120 s)."""
    keepalive_interval: float = 120.0
    """Seconds between CRLF keep-alives, jittered to 80-100 % (RFC 5626 §4.4.1)."""
    pong_timeout: float = 10.0
    """A ping unanswered this long means the flow failed (RFC 5626 §4.4.1)."""
    request_timeout: float = 10.0
    """Seconds for a TLS connect or a SIP transaction."""
    http_timeout: float = 15.0
    """Seconds for an HTTP request (bootstrap, token endpoint, config file)."""
    retry_after_max: float = 35.0
    """Longest Retry-After honoured before trying a refused REGISTER again."""
    prerequisite_attempts: int = 3
    """REGISTERs sent to one node while it answers 403 + Retry-After."""
    config_attempts: int = 3
    """Downloads of the config file while the server answers 403 / 404."""
    config_retry_delay: float = 5.0
    """Seconds between those downloads."""
    recovery_backoff: float = 1.0
    """First wait before re-registering after every node failed; doubles."""
    recovery_backoff_max: float = 60.0
    proxy_form: bool = False
    """Send ``Proxy-Authorization: Bearer token="…"`` (deployed phones) instead
    of RFC 8898's ``Authorization: Bearer``."""
    notify_coalesce: float = 0.05
    """Seconds to wait for sibling NOTIFYs (one per line) before acting on one."""
    stop_grace: float = 10.0
    """Seconds ``stop()`` waits for the unregistration before it cancels."""


class SimNetwork:
    """What devices in one process share: the HTTP connection pool and one TLS
    context per trust bundle (a load run of hundreds of phones builds one)."""

    def __init__(self, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient()
        self._contexts: dict[str, ssl.SSLContext] = {}

    def context_for(self, bundle: TrustBundle) -> ssl.SSLContext:
        """A TLS client context trusting exactly ``bundle``'s certificates."""
        context = self._contexts.get(bundle.sha256)
        if context is None:
            pems = [pem.encode("ascii") for pem in bundle.pems]
            context = self._contexts[bundle.sha256] = client_ssl_context(pems)
        return context

    async def aclose(self) -> None:
        await self.http.aclose()
