"""Who may read a device's configuration file on HTTPS 6971 (R10).

Sans-IO: the verified token's claims, the device as the directory knows it,
and whether its grant was revoked, in; a decision out. The rules are the
registrar's (a token registers only its own device) plus the scope:

- no token, or one that is forged, expired or revoked: 401 with a Bearer
  challenge (RFC 6750 §3) — asked *before* anything about the device, so an
  unauthenticated caller learns nothing about which device names exist;
- a valid token without ``config:read``: 403 ``insufficient_scope``;
- a valid token for another device (desk phones: ``sub`` is the phone; soft
  clients: ``sub`` is the owner and the client a sign-in client): 403. A
  device that does not exist gets the same 403, so a token holder cannot
  probe names either — except a desk phone's own name (its token says it),
  which gets 404 when its record is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipoauth.oauth import DESK_PHONE_CLIENT, SCOPE_CONFIG_READ, AccessClaims
from sipoauth.registrar import DeviceInfo

__all__ = ["Decision", "decide"]

FORBIDDEN: Final = "this token is not valid for that device"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to answer."""

    status: int
    """200, 403 or 404 (401 is decided before: no valid token)."""
    error: str | None = None
    """RFC 6750 error code for a 403 (``insufficient_scope``) or None."""
    detail: str = ""
    """For the operator's log and the response body; names no secret."""


def decide(claims: AccessClaims, name: str, device: DeviceInfo | None) -> Decision:
    """May the holder of ``claims`` read ``name``'s file? (The token is verified
    and its grant is not revoked.)"""
    if SCOPE_CONFIG_READ not in claims.scope:
        return Decision(403, "insufficient_scope", "token scope does not allow config reads")
    if device is None:
        if claims.subject == name and claims.client_id == DESK_PHONE_CLIENT:
            return Decision(404, None, f"device {name} does not exist")
        return Decision(403, None, FORBIDDEN)
    subject = device.token_subject
    if subject is None or claims.subject != subject or not device.accepts_client(claims.client_id):
        return Decision(403, None, FORBIDDEN)
    return Decision(200)
