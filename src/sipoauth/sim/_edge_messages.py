"""The edge relay's settings and results, and how it rewrites SIP messages.

Sans-IO helpers of :mod:`._edge_relay`: the Path value the edge adds
(RFC 3327 §4), Max-Forwards (RFC 3261 §16.6 step 3), copying a request's
headers around the ones the relay writes itself, and serialising a response
from its parsed parts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sipoauth.sip import Request
from sipoauth.sip._names import display_name

__all__ = [
    "DEFAULT_MAX_FORWARDS",
    "PING",
    "PONG",
    "RelayNote",
    "RelayOutput",
    "RelaySettings",
    "copy_headers",
    "edge_path",
    "next_hop",
    "serialize_response",
    "uri_host",
]

PING: Final = b"\r\n\r\n"
PONG: Final = b"\r\n"
DEFAULT_MAX_FORWARDS: Final = 70
"""RFC 3261 §16.6 step 3: the value a proxy adds when a request has none."""


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """What every flow of one edge shares."""

    public_host: str
    """The edge's host name as devices reach it: in Path, Via and Route checks."""
    public_port: int
    """The edge's SIP TLS port as devices reach it."""
    max_message_size: int = 32 * 1024
    """Largest message accepted from outside (head + body). Below the node's
    65,535 so the headers the edge adds always fit; 513 beyond (and the
    connection closes: the stream cannot be re-synchronised)."""
    max_upstream_message_size: int = 65535
    """Largest message accepted from the node."""
    max_in_flight: int = 32
    """Requests of one device forwarded and not yet finally answered; beyond, 503."""
    require_ua_path_support: bool = False
    """Refuse (421) a REGISTER whose device does not list ``path`` in Supported
    (RFC 3327 §5.2) instead of adding Path anyway (see ``_edge_relay``)."""
    retry_after: int = 30
    """Seconds in the Retry-After of a 503 when no node can take the request."""
    upstream_ping_interval: float = 10.0
    """Shortest time between two keep-alive pings sent up for the device's pings."""

    @property
    def host_in_uri(self) -> str:
        """The public host as it appears in a URI or Via (IPv6 in brackets)."""
        return uri_host(self.public_host)


@dataclass(frozen=True, slots=True)
class RelayNote:
    """Something the I/O layer should log (never a header value: no token)."""

    event: str
    """``refused`` (answered here), ``dropped`` (not forwarded, no answer),
    ``framing`` (the stream broke) or ``routed`` (a request from the node
    without this edge's Route: sent down the paired flow all the same)."""
    detail: str
    """Why, for the log."""
    side: str
    """``outside`` or ``inside``: where the message came from."""
    method: str = ""
    status: int = 0


@dataclass(slots=True)
class RelayOutput:
    """What to do after some octets arrived."""

    to_outside: list[bytes] = field(default_factory=list)
    """Writes for the device's connection, in order."""
    to_inside: list[bytes] = field(default_factory=list)
    """Writes for the node's connection, in order."""
    close: bool = False
    """Close both connections after writing."""
    notes: list[RelayNote] = field(default_factory=list)
    """Things to log."""


def uri_host(host: str) -> str:
    """``host`` as it appears in a URI or Via: lowercased, IPv6 compressed in brackets."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower()
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def edge_path(settings: RelaySettings) -> str:
    """The Path value this edge adds to a REGISTER (RFC 3327 §4; ``lr``: loose routing)."""
    return f"<sip:{settings.host_in_uri}:{settings.public_port};transport=tls;lr>"


def next_hop(max_forwards: int | None) -> int:
    """RFC 3261 §16.6 step 3: decrement, or add 70 when absent."""
    return DEFAULT_MAX_FORWARDS if max_forwards is None else max_forwards - 1


def copy_headers(req: Request, *, skip_route: bool, path: str | None) -> list[tuple[str, str]]:
    """Every header of ``req`` but Via, Max-Forwards and Content-Length (the caller
    writes those), in order; the first Route value dropped with ``skip_route``;
    ``path`` put before the existing Path values."""
    headers: list[tuple[str, str]] = []
    for key, values in req.headers.items():
        if key in ("via", "max-forwards", "content-length"):
            continue
        name = display_name(key)
        if key == "route":
            elements = req.values("route")
            headers += [(name, value) for value in elements[1 if skip_route else 0 :]]
        elif key == "path" and path is not None:
            headers.append((name, path))
            headers += [(name, value) for value in values]
        else:
            headers += [(name, value) for value in values]
    return headers


def serialize_response(
    status: int, reason: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    """A response from parsed parts (values were unfolded and validated)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body
