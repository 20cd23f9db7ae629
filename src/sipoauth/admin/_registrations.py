"""The registrations view (issue 4 point 11): who is registered where, and how.

Read from the database mirror the nodes write behind (about a second late).
A binding that came through an edge carries a ``Path`` (RFC 3327) and was
accepted on the node's SIP Mobile and Remote Access Port (R5, default 5091);
one without came straight to its SIP Phone OAuth Port (default 5090). Rows
whose binding has expired but that a node has not yet purged are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sipoauth.store import Store

from ._devices import canonical_name

__all__ = ["DEFAULT_MRA_PORT", "DEFAULT_OAUTH_PORT", "RegistrationView", "list_registrations"]

DEFAULT_OAUTH_PORT: Final = 5090
"""SIP Phone OAuth Port when the node is not (or no longer) configured (R5)."""
DEFAULT_MRA_PORT: Final = 5091
"""SIP Mobile and Remote Access Port when the node is not configured (R5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationView:
    """One registered contact, as the operator sees it."""

    device: str
    """The device's name."""
    line: str
    """The registered line: the user part of the address of record."""
    aor: str
    """The address of record (To URI of the REGISTER)."""
    node: str
    """The node holding the device's connection."""
    port: int
    """The node's port it registered on: its SIP Phone OAuth Port when direct,
    its SIP Mobile and Remote Access Port through an edge."""
    via_edge: bool
    """It came through an edge (the binding has a Path)."""
    contact: str
    """The Contact URI requests are sent to."""
    expires_at: datetime
    seconds_left: int
    """Seconds until it expires at the ``now`` of the listing, rounded up (> 0)."""


def line_of(aor: str) -> str:
    """``sip:1000@example.com;transport=tls`` → ``1000`` (the AOR's user part)."""
    rest = aor.strip().strip("<>")
    for scheme in ("sip:", "sips:"):
        if rest.lower().startswith(scheme):
            rest = rest[len(scheme) :]
            break
    user, at, _host = rest.partition("@")
    if not at:
        return ""
    return user.split(";", 1)[0]


async def list_registrations(
    store: Store, *, device: str | None = None, node: str | None = None, now: datetime
) -> list[RegistrationView]:
    """Live registrations, by device then AOR; optionally of one device or node."""
    records = await store.registrations.list(
        device_name=None if device is None else canonical_name(device), node_name=node
    )
    ports = {n.name: (n.oauth_port, n.mra_port) for n in await store.nodes.list()}
    views = []
    for record in records:
        if record.expires_at <= now:
            continue
        left = math.ceil((record.expires_at - now).total_seconds())
        via_edge = bool(record.path)
        oauth_port, mra_port = ports.get(record.node_name, (DEFAULT_OAUTH_PORT, DEFAULT_MRA_PORT))
        views.append(
            RegistrationView(
                device=record.device_name,
                line=line_of(record.aor),
                aor=record.aor,
                node=record.node_name,
                port=mra_port if via_edge else oauth_port,
                via_edge=via_edge,
                contact=record.contact,
                expires_at=record.expires_at,
                seconds_left=left,
            )
        )
    return views
