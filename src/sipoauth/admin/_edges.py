"""Edge (Expressway-C) entries (R6): who may connect to the SIP MRA port.

An entry is an address (IP, host name or FQDN), a description, the X.509
subject names / SANs accepted from the edge's certificate, the edge's
domain when it differs from ours, and where phones outside reach it through
Mobile and Remote Access (their config files list it): a public host (IP or
host name; none: the address) and public SIP and HTTPS ports (1-65535).
The operator adds and edits entries; an edge, authenticated by mutual TLS,
may also push its own certificate's names (``record_edge_certificate``):
those names are read from the certificate it presented, never taken from
what it says (its public address and ports stay as the operator set them).
Every change is audited (object type ``edge``) and announced on the
``config`` channel.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from sipoauth.pki import PkiError, peer_names
from sipoauth.store import AlreadyExists, Edge, EdgeRecord, JsonValue, Store
from sipoauth.store import NotFound as StoreNotFound

from ._audit import Actor, acting_as, audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "EDGE_DESCRIPTION_MAX_LENGTH",
    "EDGE_NAMES_MAX",
    "EDGE_PORT_MAX",
    "EDGE_PORT_MIN",
    "add_edge",
    "delete_edge",
    "find_edges",
    "record_edge_certificate",
    "update_edge",
]

EDGE_DESCRIPTION_MAX_LENGTH: Final = 512
"""Characters of an edge entry's description at most."""
EDGE_NAMES_MAX: Final = 100
"""X.509 subject names / SANs of one entry at most."""
EDGE_PORT_MIN: Final = 1
EDGE_PORT_MAX: Final = 65535
"""An edge's public ports: any TCP port (the edge is not ours to constrain)."""
_PORT_LABELS: Final = {"public_sip_port": "public SIP port", "public_web_port": "public HTTPS port"}
_OBJECT: Final = "edge"
_CHANNEL: Final = "config"

_HOST = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?"
)
_NAME = re.compile(r"(\*\.)?" + _HOST.pattern)


def _check_address(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    if not _HOST.fullmatch(address):
        raise InvalidValue(f"{address!r} is not an IP address, host name or FQDN")
    return address.lower().rstrip(".")


def _check_description(description: str) -> str:
    if len(description) > EDGE_DESCRIPTION_MAX_LENGTH:
        raise InvalidValue(f"description: at most {EDGE_DESCRIPTION_MAX_LENGTH} characters")
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", description):
        raise InvalidValue("description: one line, no control characters")
    return description


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
    if len(names) > EDGE_NAMES_MAX:
        raise InvalidValue(f"X.509 subject names / SANs: at most {EDGE_NAMES_MAX} per edge")
    out = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        try:
            out.append(str(ipaddress.ip_address(name)))
            continue
        except ValueError:
            pass
        if not _NAME.fullmatch(name):
            raise InvalidValue(f"X.509 subject name / SAN {name!r} is not a host name")
        out.append(name.lower().rstrip("."))
    return tuple(dict.fromkeys(out))


def _check_port(field: str, port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise InvalidValue(f"{_PORT_LABELS[field]} must be a whole number")
    if not EDGE_PORT_MIN <= port <= EDGE_PORT_MAX:
        raise InvalidValue(
            f"{_PORT_LABELS[field]} {port} is out of range: {EDGE_PORT_MIN}-{EDGE_PORT_MAX}"
        )
    return port


def _detail(edge: Edge) -> dict[str, JsonValue]:
    return {
        "description": edge.description,
        "x509_names": list(edge.x509_names),
        "domain": edge.domain,
        "public_host": edge.public_host,
        "public_sip_port": edge.public_sip_port,
        "public_web_port": edge.public_web_port,
    }


async def add_edge(
    store: Store,
    *,
    address: str,
    x509_names: Sequence[str] = (),
    description: str = "",
    domain: str | None = None,
    public_host: str | None = None,
    public_sip_port: int = 5061,
    public_web_port: int = 8443,
) -> EdgeRecord:
    """Add an edge entry; its certificate must name `address` or one of `x509_names`.

    Phones outside reach it at `public_host` (None: `address`) on
    `public_sip_port` (SIP over TLS) and `public_web_port` (HTTPS).
    """
    address = _check_address(address)
    names = _check_names(x509_names)
    description = _check_description(description)
    if domain is not None:
        domain = _check_address(domain)
    edge = Edge(
        address=address,
        description=description,
        x509_names=names,
        domain=domain,
        public_host=None if public_host is None else _check_address(public_host),
        public_sip_port=_check_port("public_sip_port", public_sip_port),
        public_web_port=_check_port("public_web_port", public_web_port),
    )
    if await store.edges.find(address) is not None:
        raise Conflict(f"edge {address} exists already")
    try:
        record = await store.edges.add(edge)
    except AlreadyExists:  # added by someone else in between
        raise Conflict(f"edge {address} exists already") from None
    await audit(store, "add", _OBJECT, address, _detail(edge))
    await store.notify(_CHANNEL, f"edge {address}")
    return record


async def _get(store: Store, address: str) -> EdgeRecord:
    record = await store.edges.find(_normal_address(address))
    if record is None:
        raise NotFound(f"edge {address} does not exist")
    return record


def _normal_address(address: str) -> str:
    try:
        return _check_address(address)
    except InvalidValue:
        return address.lower()


async def _replace(store: Store, record: EdgeRecord, edge: Edge) -> EdgeRecord:
    """Write ``edge`` over ``record``, audit the difference, announce it."""
    try:
        updated = await store.edges.update(record.id, edge)
    except StoreNotFound:  # deleted in between
        raise NotFound(f"edge {record.address} does not exist") from None
    old, new = _detail(record), _detail(updated)
    detail: dict[str, JsonValue] = {
        key: {"old": old[key], "new": new[key]} for key in new if old[key] != new[key]
    }
    await audit(store, "update", _OBJECT, record.address, detail)
    await store.notify(_CHANNEL, f"edge {record.address}")
    return updated


async def update_edge(
    store: Store,
    address: str,
    *,
    description: str | None = None,
    x509_names: Sequence[str] | None = None,
    domain: str | None = None,
    public_host: str | None = None,
    public_sip_port: int | None = None,
    public_web_port: int | None = None,
) -> EdgeRecord:
    """Change an edge entry; None leaves a field as it is, ``domain=""``
    removes the domain and ``public_host=""`` the public host (phones outside
    then use the address). ``x509_names`` replaces the whole list."""
    record = await _get(store, address)
    base = Edge(**{f.name: getattr(record, f.name) for f in dataclasses.fields(Edge)})
    changes: dict[str, object] = {}
    if description is not None:
        changes["description"] = _check_description(description)
    if x509_names is not None:
        changes["x509_names"] = _check_names(x509_names)
    if domain is not None:
        changes["domain"] = _check_address(domain) if domain else None
    if public_host is not None:
        changes["public_host"] = _check_address(public_host) if public_host else None
    for field, port in (("public_sip_port", public_sip_port), ("public_web_port", public_web_port)):
        if port is not None:
            changes[field] = _check_port(field, port)
    edge = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    if edge == base:
        return record
    return await _replace(store, record, edge)


async def find_edges(store: Store, contains: str | None = None) -> list[EdgeRecord]:
    """Edge entries by address; with ``contains``, those whose address,
    description, domain or one of whose names contains it (any case)."""
    edges = await store.edges.list()
    if not contains:
        return edges
    wanted = contains.lower()
    return [
        edge
        for edge in edges
        if any(
            wanted in text.lower()
            for text in (edge.address, edge.description, edge.domain or "", *edge.x509_names)
        )
    ]


async def record_edge_certificate(
    store: Store, *, address: str, cert_der: bytes, description: str = ""
) -> EdgeRecord:
    """An edge pushes its certificate's names (the reference behaviour).

    Called by the REST endpoint an edge reaches over mutual TLS, with the
    client certificate it presented (``cert_der``) — the names come from that
    certificate (subject CN, SAN DNS names and IP addresses;
    ``pki.peer_names``), never from the request body. Creates the entry for
    ``address`` or replaces the names of the existing one (its description
    too when one is given; its domain stays). Names that are not host names
    (a CN of free text) are left out. Audited as the edge (interface
    ``edge``), whoever the caller acts as.
    """
    address = _check_address(address)
    try:
        found = sorted(peer_names(cert_der))
    except PkiError:
        raise InvalidValue("the edge's certificate could not be read") from None
    names: list[str] = []
    for name in found:
        try:
            names.extend(_check_names([name]))
        except InvalidValue:
            continue
    if not names:
        raise InvalidValue("the edge's certificate names no host (subject CN or SAN)")
    with acting_as(Actor(address, "edge")):
        record = await store.edges.find(address)
        if record is None:
            return await add_edge(store, address=address, x509_names=names, description=description)
        return await update_edge(store, address, x509_names=names, description=description or None)


async def delete_edge(store: Store, address: str) -> None:
    """Delete an edge entry."""
    record = await _get(store, address)
    await store.edges.delete(record.id)
    await audit(store, "delete", _OBJECT, record.address)
    await store.notify(_CHANNEL, f"edge {record.address}")
