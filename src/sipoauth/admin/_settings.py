"""Names and defaults of the cluster-wide settings this node reads (store `settings` table).

The full parameter model (enterprise and service parameters, ranges,
descriptions) is built on these keys; a key is never spelled twice.
"""

from __future__ import annotations

from typing import Final

from sipoauth.store import JsonValue

CLUSTER_ID: Final = "cluster.id"
"""Random id of the cluster; the access-token audience is derived from it."""
ISSUER: Final = "cluster.issuer"
"""OAuth issuer (`iss`), the publisher's web address, fixed at first start."""
SIP_OAUTH_MODE: Final = "cluster.sip_oauth_mode"
"""R7: `utils sipOAuth-mode enable` sets it on the publisher for the whole cluster."""
SIP_REALM: Final = "service.sip_realm"
"""Service parameter "SIP Realm Station"."""
REGISTRATION_INTERVAL: Final = "service.registration_interval"
"""Seconds the registrar grants (reference: 120)."""
CHALLENGE_STYLE: Final = "service.sip_challenge_style"
"""`rfc8898` (401 + WWW-Authenticate) or `proxy` (407 + Proxy-Authenticate)."""

DEFAULTS: Final[dict[str, JsonValue]] = {
    SIP_OAUTH_MODE: False,
    SIP_REALM: "ccmsipline",
    REGISTRATION_INTERVAL: 120,
    CHALLENGE_STYLE: "rfc8898",
}


def audience_for(cluster_id: str) -> str:
    """The `aud` of this cluster's access tokens (RFC 9068 §3: the resource's identifier)."""
    return f"urn:sipoauth:cluster:{cluster_id}"
