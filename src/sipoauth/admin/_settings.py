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

# Enterprise parameters, "SSO and OAuth Configuration" group (REFERENCE-BEHAVIOUR.md).
REFRESH_LOGIN_FLOW: Final = "enterprise.oauth_refresh_login_flow"
"""OAuth with Refresh Login Flow: refresh tokens are issued only while True."""
ACCESS_TOKEN_MINUTES: Final = "enterprise.oauth_access_token_minutes"  # noqa: S105
"""OAuth Access Token Expiry Timer (minutes), 1-1440."""
REFRESH_TOKEN_DAYS: Final = "enterprise.oauth_refresh_token_days"  # noqa: S105
"""OAuth Refresh Token Expiry Timer (days), 1-365; changing it revokes every refresh token."""
TOKEN_FOR_DEVICES: Final = "enterprise.oauth_token_for_devices"  # noqa: S105
"""OAuth Access Token for Devices: `implicit` (also MIC + client_credentials) or
`explicit` (activation codes only)."""
THIRD_PARTY_REDIRECT_URIS: Final = "enterprise.oauth_third_party_redirect_uris"
"""Redirect URIs for Third Party SSO Client: comma list, empty by default."""
# Service parameters of the activation-code onboarding.
ACTIVATION_TTL_HOURS: Final = "service.activation_ttl_hours"
"""Activation Time to Live (Hours)."""
MRA_ACTIVATION_ENABLED: Final = "service.mra_activation_enabled"
"""Enable Mobile and Remote Access Activation."""
MRA_ACTIVATION_DOMAIN: Final = "service.mra_activation_domain"
"""Mobile and Remote Access Activation Domain."""

# Smart licensing (R2.2): see _licensing.py.
LICENSE_REGISTRATION: Final = "licensing.registration"
"""`evaluation` (a new cluster, never registered), `registered`, or
`unregistered` (deregistered: the evaluation period does not come back)."""
LICENSE_VIRTUAL_ACCOUNT: Final = "licensing.virtual_account"
"""The smart account's virtual account the cluster is registered to ("" when not)."""
LICENSE_PRODUCT_INSTANCE: Final = "licensing.product_instance"
"""Product instance name of the registration: the publisher's server name."""
LICENSE_REGISTERED_AT: Final = "licensing.registered_at"
"""When the cluster was registered (ISO 8601 UTC), None when not registered."""
EXPORT_CONTROLLED_ALLOWED: Final = "licensing.export_controlled_allowed"
"""Allow export-controlled functionality: SIP OAuth mode needs it (R2.2)."""

DEFAULTS: Final[dict[str, JsonValue]] = {
    SIP_OAUTH_MODE: False,
    SIP_REALM: "ccmsipline",
    REGISTRATION_INTERVAL: 120,
    CHALLENGE_STYLE: "rfc8898",
    REFRESH_LOGIN_FLOW: False,
    ACCESS_TOKEN_MINUTES: 60,
    REFRESH_TOKEN_DAYS: 60,
    TOKEN_FOR_DEVICES: "implicit",
    THIRD_PARTY_REDIRECT_URIS: "",
    ACTIVATION_TTL_HOURS: 168,
    MRA_ACTIVATION_ENABLED: True,
    MRA_ACTIVATION_DOMAIN: "",
    LICENSE_REGISTRATION: "evaluation",
    LICENSE_VIRTUAL_ACCOUNT: "",
    LICENSE_PRODUCT_INSTANCE: "",
    LICENSE_REGISTERED_AT: None,
    EXPORT_CONTROLLED_ALLOWED: False,
}


def audience_for(cluster_id: str) -> str:
    """The `aud` of this cluster's access tokens (RFC 9068 §3: the resource's identifier)."""
    return f"urn:sipoauth:cluster:{cluster_id}"
