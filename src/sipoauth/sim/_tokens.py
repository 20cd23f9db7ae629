"""Tokens as a device holds them, and the token endpoint calls it makes.

Grants (docs/oauth.md): the desk phone's activation code
(``urn:sipoauth:params:oauth:grant-type:activation-code``), the soft client's
authorization code with PKCE (RFC 7636), and ``refresh_token`` (RFC 6749 §6)
with rotation: every refresh answer carries a new refresh token, which
replaces the old one (RFC 9700 §4.14.2; presenting the old one again would
revoke the whole grant). Clients renew at 75 % of the access token's life
(REFERENCE-BEHAVIOUR "Tokens").

Nothing here prints or logs a token: :func:`mask_code` shows an activation
code as ``****-****-****-1234``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
from dataclasses import dataclass
from typing import Final

from ._http import HttpClient, HttpError

__all__ = [
    "ACTIVATION_GRANT",
    "DESK_PHONE_CLIENT",
    "OAuthFailure",
    "TokenSet",
    "mask_code",
    "pkce_pair",
    "refresh_tokens",
    "request_tokens",
]

ACTIVATION_GRANT: Final = "urn:sipoauth:params:oauth:grant-type:activation-code"
DESK_PHONE_CLIENT: Final = "sipoauth-desk-phone"


class OAuthFailure(Exception):
    """The token endpoint refused (RFC 6749 §5.2), or could not be reached
    (``error`` is then ``unreachable``)."""

    def __init__(self, error: str, description: str, status: int = 0) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status

    @property
    def revoked(self) -> bool:
        """The grant is gone (revoked, expired, replayed): sign in / onboard again."""
        return self.error == "invalid_grant"


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What one token response gave (RFC 6749 §5.1)."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    """Seconds the access token lives (``expires_in``)."""
    obtained_at: float
    """Event-loop time the response arrived (for the renewal deadline)."""
    scope: str = ""

    def renew_at(self, fraction: float) -> float:
        """When to renew: ``fraction`` (0.75) of the access token's life."""
        return self.obtained_at + self.expires_in * fraction

    def expires_at(self) -> float:
        return self.obtained_at + self.expires_in

    def __repr__(self) -> str:  # never a token in a traceback or a log line
        refresh = "yes" if self.refresh_token else "no"
        return f"<TokenSet expires_in={self.expires_in} refresh={refresh}>"


def mask_code(code: str) -> str:
    """An activation code as status lines show it: only the last 4 digits."""
    digits = "".join(ch for ch in code if ch.isdigit())
    return "****-****-****-" + (digits[-4:] if len(digits) >= 4 else "????")


def pkce_pair() -> tuple[str, str]:
    """(code verifier, S256 challenge): RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def request_tokens(
    http: HttpClient,
    token_endpoint: str,
    form: dict[str, str],
    *,
    context: ssl.SSLContext,
    now: float,
) -> TokenSet:
    """POST the grant to the token endpoint; the tokens, or OAuthFailure."""
    try:
        response = await http.post_form(
            token_endpoint, form, context=context, headers=[("Accept", "application/json")]
        )
    except HttpError as exc:
        raise OAuthFailure("unreachable", str(exc)) from None
    body = response.json()
    if response.status != 200:
        error = body.get("error")
        description = body.get("error_description")
        raise OAuthFailure(
            error if isinstance(error, str) else f"HTTP {response.status}",
            description if isinstance(description, str) else "",
            response.status,
        )
    access = body.get("access_token")
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    if not isinstance(access, str) or not access:
        raise OAuthFailure("invalid_response", "the answer has no access_token", 200)
    if not isinstance(expires_in, int) or expires_in <= 0:
        raise OAuthFailure("invalid_response", "the answer has no valid expires_in", 200)
    scope = body.get("scope")
    return TokenSet(
        access,
        refresh if isinstance(refresh, str) and refresh else None,
        expires_in,
        now,
        scope if isinstance(scope, str) else "",
    )


async def refresh_tokens(
    http: HttpClient,
    token_endpoint: str,
    client_id: str,
    old: TokenSet,
    *,
    context: ssl.SSLContext,
    now: float,
) -> TokenSet:
    """The ``refresh_token`` grant (RFC 6749 §6). The answer's refresh token
    replaces the old one (rotation); an answer without one keeps the old."""
    assert old.refresh_token is not None, "nothing to refresh with"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": old.refresh_token,
        "client_id": client_id,
    }
    new = await request_tokens(http, token_endpoint, form, context=context, now=now)
    if new.refresh_token is None:
        new = TokenSet(
            new.access_token, old.refresh_token, new.expires_in, new.obtained_at, new.scope
        )
    return new
