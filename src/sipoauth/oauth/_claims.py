"""Access-token claims: the validated result and the checks that produce it.

The claim checks run only on a payload whose signature has already been
verified (RFC 8725 §3.2 "validate all cryptographic operations"; the reference
weak spot "unverified claims used in database queries"). Order and content
follow RFC 9068 §4 and RFC 7519 §4.1: ``iss`` exact, ``aud`` contains ours,
``exp``/``nbf``/``iat`` with a small leeway, then the claims RFC 9068 §2.2
requires plus our ``sid`` (grant id), each with its JSON type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ._errors import InvalidToken

__all__ = [
    "REGISTERED_CLAIMS",
    "SCOPE_CONFIG_READ",
    "SCOPE_SIP_REGISTER",
    "AccessClaims",
    "check_claims",
    "has_scope",
]

#: May register SIP contacts for the token's device/line (RFC 8898 §2.1).
SCOPE_SIP_REGISTER: Final = "sip:register"
#: May download its configuration file over HTTPS 6971.
SCOPE_CONFIG_READ: Final = "config:read"

#: Claims the minting code sets itself; ``extra`` may not override them.
REGISTERED_CLAIMS: Final = frozenset(
    {"iss", "aud", "sub", "client_id", "iat", "exp", "nbf", "jti", "scope", "sid"}
)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified content of an access token (RFC 9068 §2.2): what the node
    acts on, and nothing else — the verification cache keeps one per live
    device, so other claims are not kept (measured: 1.9 KB per device with
    the whole claims set as a read-only mapping, see docs/benchmarks.md)."""

    subject: str
    """``sub``: the user (soft client) or device the token was issued for."""
    client_id: str
    """``client_id``: the OAuth client that obtained the token."""
    scope: frozenset[str]
    """``scope`` split on spaces (RFC 6749 §3.3)."""
    sid: str
    """``sid``: the grant id; revoking the grant revokes the token."""
    jti: str
    """``jti``: unique token id — what logs name instead of the token."""
    issued_at: float
    """``iat`` (epoch seconds)."""
    expires_at: float
    """``exp`` (epoch seconds)."""
    not_before: float | None
    """``nbf`` if the token has one."""


def has_scope(claims: AccessClaims, scope: str) -> bool:
    """Whether the token grants ``scope`` (exact scope-token match)."""
    return scope in claims.scope


def _missing(name: str) -> InvalidToken:
    return InvalidToken("missing_claim", f"missing required claim '{name}'")


def _string(claims: Mapping[str, object], name: str) -> str:
    if name not in claims:
        raise _missing(name)
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise InvalidToken("claim_type", f"claim '{name}' must be a non-empty string")
    return value


def _numeric_date(claims: Mapping[str, object], name: str) -> float:
    if name not in claims:
        raise _missing(name)
    value = claims[name]
    # RFC 7519 §2 NumericDate: a JSON number; JSON true/false are not numbers.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("claim_type", f"claim '{name}' must be a NumericDate")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidToken("claim_type", f"claim '{name}' must be a finite NumericDate")
    return number


def check_claims(
    claims: dict[str, object],
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
) -> AccessClaims:
    """Validate a *signature-verified* claims set; raise :class:`InvalidToken`.

    Each failure has its own description (never echoing claim values).
    """
    # RFC 9068 §4 step 3 / RFC 8725 §3.8: the issuer must match exactly.
    if _string(claims, "iss") != issuer:
        raise InvalidToken("issuer", "token issuer does not match")
    # RFC 9068 §4 step 4 / RFC 7519 §4.1.3 / RFC 8725 §3.9: aud must name us.
    if "aud" not in claims:
        raise _missing("aud")
    aud = claims["aud"]
    if isinstance(aud, str):
        audiences: tuple[object, ...] = (aud,)
    elif isinstance(aud, list) and aud:
        audiences = tuple(aud)
    else:
        raise InvalidToken("claim_type", "claim 'aud' must be a string or a list of strings")
    if not all(isinstance(a, str) for a in audiences):
        raise InvalidToken("claim_type", "claim 'aud' must be a string or a list of strings")
    if audience not in audiences:
        raise InvalidToken("audience", "token audience does not include this server")
    # RFC 9068 §4 step 7 / RFC 7519 §4.1.4: exp in the past (beyond leeway) fails.
    expires_at = _numeric_date(claims, "exp")
    if not expires_at > now - leeway:
        raise InvalidToken("expired", "token has expired")
    # RFC 7519 §4.1.5: not before.
    not_before = _numeric_date(claims, "nbf") if "nbf" in claims else None
    if not_before is not None and not not_before <= now + leeway:
        raise InvalidToken("not_yet_valid", "token is not valid yet (nbf)")
    # RFC 9068 §2.2 requires iat; one from the future is not ours.
    issued_at = _numeric_date(claims, "iat")
    if not issued_at <= now + leeway:
        raise InvalidToken("issued_in_future", "token was issued in the future (iat)")
    subject = _string(claims, "sub")
    client_id = _string(claims, "client_id")
    jti = _string(claims, "jti")
    sid = _string(claims, "sid")
    if "scope" not in claims:
        raise _missing("scope")
    scope = claims["scope"]
    if not isinstance(scope, str):
        raise InvalidToken("claim_type", "claim 'scope' must be a string")
    return AccessClaims(
        subject=subject,
        client_id=client_id,
        scope=frozenset(s for s in scope.split(" ") if s),
        sid=sid,
        jti=jti,
        issued_at=issued_at,
        expires_at=expires_at,
        not_before=not_before,
    )
