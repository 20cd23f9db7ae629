"""The top Via of a response: ``received`` (RFC 3261 §18.2.1) and ``rport`` (RFC 3581 §4).

§18.2.1: when the sent-by host of the top Via is a domain name, or an IP
address other than the one the request came from, the server MUST add a
``received`` parameter holding the source address. RFC 3581 §4: when the top
Via has an ``rport`` parameter without a value, the server MUST set it to the
source port, and add ``received`` even when the address equals the sent-by.

Only the response carries the change (``Request.response_via``, which
``build_response`` copies instead of the Via lines); the request keeps the
lines it arrived with, so transaction matching and the connection's parse
cache see what the peer sent. The via-parm is edited in place: the peer's
text, branch and parameter spelling, stays as it was, with ``rport``
given its value and ``received`` appended (or its value replaced).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

from ._abnf import IPV4_RE
from ._errors import SipError
from ._lists import split_list
from ._message import Request
from ._via import Via

__all__ = ["stamp_source", "stamp_via"]

_RPORT_VALUELESS: Final = re.compile(r";[ \t]*rport(?=[ \t]*(?:;|$))", re.IGNORECASE)
_RECEIVED: Final = re.compile(r";[ \t]*received[ \t]*=[ \t]*[^;]*", re.IGNORECASE)


def _is_source(host: str, ip: str) -> bool:
    """Whether the sent-by ``host`` (lowercased, IPv6 in brackets) is the address ``ip``."""
    if host.startswith("["):
        return host[1:-1] == ip
    return host == ip and IPV4_RE.fullmatch(host) is not None


def stamp_via(raw: str, via: Via, ip: str, port: int) -> str | None:
    """The via-parm ``raw`` (parsed: ``via``) as a response to a request from
    ``ip``:``port`` must carry it, or ``None`` when it needs no change.

    ``ip`` is the source address as the socket reports it (IPv6 without
    brackets, as ``received`` takes it: RFC 3261 §25.1 via-received).
    """
    params = via.params
    rport = "rport" in params and params["rport"] is None
    if not rport and _is_source(via.host, ip):
        return None  # §18.2.1: sent-by is the source address
    if "received" not in params:  # the usual case: phones never send received
        if not rport:
            return f"{raw};received={ip}"
        if raw.endswith(";rport"):  # as phones spell it, last
            return f"{raw[:-6]};rport={port};received={ip}"
    elif params["received"] == ip and not rport:
        return None  # already says so
    text = raw
    if rport:
        text, found = _RPORT_VALUELESS.subn(f";rport={port}", text, count=1)
        if not found:  # unusual spelling: fall back to the parsed form
            return _rebuilt(via, ip, port)
    if "received" in params:
        text, found = _RECEIVED.subn(f";received={ip}", text, count=1)
        if not found:
            return _rebuilt(via, ip, port)
        return text
    return f"{text};received={ip}"


def _rebuilt(via: Via, ip: str, port: int) -> str:
    params = dict(via.params)
    if "rport" in params and params["rport"] is None:
        params["rport"] = str(port)
    params["received"] = ip
    return str(dataclasses.replace(via, params=params))


def stamp_source(request: Request, ip: str, port: int) -> None:
    """Set ``request.response_via`` for a request that arrived from ``ip``:``port``
    (nothing when the top Via needs no change, or when it does not parse: a
    response to a request whose Via is broken copies it as it came)."""
    lines = request.headers.get("via")
    if not lines:
        return
    first = lines[0]
    try:
        via = request.top_via
        parts = split_list(first) if "," in first else [first]
    except SipError:
        return
    stamped = stamp_via(parts[0], via, ip, port)
    if stamped is None:
        return
    parts[0] = stamped
    request.response_via = [", ".join(parts), *lines[1:]]
