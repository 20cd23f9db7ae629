"""Bearer credentials in SIP (RFC 8898) and the challenges the registrar sends.

Two credential forms are accepted (DESIGN.md):
- RFC 8898 §2.2 / RFC 6750 §2.1: `Authorization: Bearer <token68>`;
- the form deployed phones send: `Proxy-Authorization: Bearer token="<token>"`.
A challenge answers in the form the client used; without credentials the node's
`challenge_style` decides (401 + WWW-Authenticate, or 407 + Proxy-Authenticate).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipoauth.sip import Credentials, RemoteProtocolError, Request

from ._settings import RegistrarSettings


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """The bearer token a REGISTER carried, and the header form it came in."""

    token: str
    proxy_form: bool
    """True when it came in Proxy-Authorization (answer with 407)."""


def find_bearer(request: Request) -> PresentedToken | None:
    """The Bearer credentials in Authorization or Proxy-Authorization.

    More than one (in both headers, or twice in one) is a 400 (RFC 6750 §2,
    §3.1 invalid_request): raises ``RemoteProtocolError``.

    Credentials of another scheme are ignored (RFC 4475 §3.3.7: an unknown scheme
    gets a challenge, not a 400). An empty Bearer gives an empty token, which the
    verifier refuses as invalid_token.

    The answer for each credentials value is remembered on it (`derived`): a
    device presents the same parsed credentials on every re-REGISTER of its
    connection, and so the same token string (whose hash the verifier's cache
    then reuses).
    """
    headers = request.headers
    found: PresentedToken | None = None
    if "authorization" in headers:
        for cred in request.authorization:
            presented = cred.derived(_presented_direct)
            if presented is not None:
                if found is not None:
                    raise _more_than_one()
                found = presented
    if "proxy-authorization" in headers:
        for cred in request.proxy_authorization:
            presented = cred.derived(_presented_proxy)
            if presented is not None:
                if found is not None:
                    raise _more_than_one()
                found = presented
    return found


def _more_than_one() -> RemoteProtocolError:
    # RFC 6750 §2: a client MUST NOT send the token by more than one method;
    # §3.1 invalid_request: the server SHOULD answer 400. Which one would count?
    return RemoteProtocolError(400, "More than one bearer token")


def _presented_direct(cred: Credentials) -> PresentedToken | None:
    if cred.scheme.lower() != "bearer":
        return None
    return PresentedToken(cred.bearer_token or "", proxy_form=False)


def _presented_proxy(cred: Credentials) -> PresentedToken | None:
    if cred.scheme.lower() != "bearer":
        return None
    return PresentedToken(cred.bearer_token or "", proxy_form=True)


def _quote(text: str) -> str:
    """A quoted-string body: drop characters that would break out of the quotes."""
    return "".join(ch for ch in text if ch not in '"\\' and 0x20 <= ord(ch) < 0x7F)


def challenge(
    settings: RegistrarSettings,
    *,
    proxy: bool,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
) -> tuple[int, str, tuple[str, str]]:
    """(status, reason, header) of a Bearer challenge (RFC 8898 §2.3, RFC 6750 §3).

    `error="insufficient_scope"` is answered with 403 (RFC 6750 §3.1); every other
    challenge with 401, or 407 in the proxy form.
    """
    parts = [f'Bearer realm="{_quote(settings.realm)}"']
    if scope:
        parts.append(f'scope="{_quote(scope)}"')
    parts.append(f'authz_server="{_quote(settings.authz_server)}"')
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quote(description)}"')
    value = ", ".join(parts)
    if error == "insufficient_scope":
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        return 403, "Forbidden", (name, value)
    if proxy:
        return 407, "Proxy Authentication Required", ("Proxy-Authenticate", value)
    return 401, "Unauthorized", ("WWW-Authenticate", value)
