"""Registered OAuth clients of the authorization server (R1.2, DESIGN "Grants").

All clients are public (RFC 6749 §2.1): soft clients and phones cannot keep a
secret. The soft-client types of R1.1 each have a client, using the
authorization code grant with PKCE and native-app redirect URIs (RFC 8252);
desk phones have one client using activation codes (and, in the "Implicit"
mode of the "OAuth Access Token for Devices" parameter, ``client_credentials``
with mutual-TLS client authentication by their manufacturer certificate,
RFC 8705 §2.1). Third-party SSO clients get the redirect URIs an administrator
lists in the enterprise parameter, nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from ._claims import SCOPE_CONFIG_READ, SCOPE_SIP_REGISTER

__all__ = [
    "ACTIVATION_GRANT",
    "DEFAULT_SCOPE",
    "DESK_PHONE_CLIENT",
    "SOFT_CLIENT_IDS",
    "THIRD_PARTY_CLIENT",
    "Client",
    "ClientRegistry",
    "redirect_uri_matches",
]

ACTIVATION_GRANT: Final = "urn:sipoauth:params:oauth:grant-type:activation-code"
"""The desk-phone onboarding grant (DESIGN "Grants")."""
DEFAULT_SCOPE: Final = f"{SCOPE_SIP_REGISTER} {SCOPE_CONFIG_READ}"
"""What every client may ask for, and gets when it asks for nothing."""
DESK_PHONE_CLIENT: Final = "sipoauth-desk-phone"
THIRD_PARTY_CLIENT: Final = "sipoauth-third-party"
SOFT_CLIENT_IDS: Final = {
    "CSF": "sipoauth-csf",
    "BOT": "sipoauth-bot",
    "TCT": "sipoauth-tct",
    "TAB": "sipoauth-tab",
}
"""Client id per soft-client device type (R1.1): desktop, Android, iPhone, tablet."""

# RFC 8252 §7.3 loopback redirect (any port) and §7.1 private-use scheme.
_SOFT_REDIRECTS: Final = (
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "com.sipoauth.softclient:/oauth2redirect",
)

ClientKind = Literal["soft", "desk", "third-party"]


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Exact string match (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3), except that the
    port of an ``http`` loopback IP redirect is ignored (RFC 8252 §7.3)."""
    if registered == presented:
        return True
    want, got = urlsplit(registered), urlsplit(presented)
    if want.scheme != "http" or got.scheme != "http" or not _loopback(want.hostname):
        return False
    try:
        got.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return (
        want.hostname == got.hostname
        and want.path == got.path
        and want.query == got.query
        and not got.fragment
        and got.username is None
        and got.password is None
    )


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A registered public client (Authlib's ``ClientMixin``)."""

    client_id: str
    name: str
    """Shown on the sign-in page."""
    kind: ClientKind
    grant_types: frozenset[str]
    redirect_uris: tuple[str, ...] = ()
    auth_methods: frozenset[str] = frozenset({"none"})
    """Token-endpoint client authentication methods (RFC 8414 names)."""
    scope: str = DEFAULT_SCOPE

    # -- Authlib ClientMixin ------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Never guess: a request must name its redirect URI (RFC 9700 §2.1).
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.scope.split()
        if not scope:
            return self.scope
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(r, redirect_uri) for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # public clients have none

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method in self.auth_methods
        return method == "none"  # revocation: public clients identify themselves

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class ClientRegistry:
    """The clients in force, built from the enterprise parameters."""

    __slots__ = ("_clients",)

    def __init__(self, *, third_party_redirect_uris: Iterable[str] = ()) -> None:
        soft_grants = frozenset({"authorization_code", "refresh_token"})
        clients = [
            Client(cid, f"{kind} soft client", "soft", soft_grants, _SOFT_REDIRECTS)
            for kind, cid in SOFT_CLIENT_IDS.items()
        ]
        clients.append(
            Client(
                DESK_PHONE_CLIENT,
                "Desk phone",
                "desk",
                frozenset({ACTIVATION_GRANT, "refresh_token", "client_credentials"}),
                auth_methods=frozenset({"none", "tls_client_auth"}),
            )
        )
        uris = tuple(u for u in third_party_redirect_uris if u)
        if uris:
            clients.append(
                Client(
                    THIRD_PARTY_CLIENT, "Third-party SSO client", "third-party", soft_grants, uris
                )
            )
        self._clients: Mapping[str, Client] = {c.client_id: c for c in clients}

    @classmethod
    def from_parameter(cls, value: str) -> ClientRegistry:
        """From "Redirect URIs for Third Party SSO Client" (a comma list)."""
        return cls(third_party_redirect_uris=(u.strip() for u in value.split(",")))

    def get(self, client_id: str | None) -> Client | None:
        """The client, or None for an unknown (or empty) id."""
        return self._clients.get(client_id) if client_id else None

    def all(self) -> list[Client]:
        """Every client in force."""
        return list(self._clients.values())
