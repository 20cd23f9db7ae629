"""Edge (Expressway-C) entries (R6): who may connect to the SIP MRA port."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from sipoauth.store import Edge, Store

from ._errors import Conflict, InvalidValue, NotFound

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


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
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


async def add_edge(
    store: Store,
    *,
    address: str,
    x509_names: Sequence[str] = (),
    description: str = "",
    domain: str | None = None,
) -> None:
    """Add an edge entry; its certificate must name `address` or one of `x509_names`."""
    address = _check_address(address)
    names = _check_names(x509_names)
    if domain is not None:
        domain = _check_address(domain)
    if await store.edges.find(address) is not None:
        raise Conflict(f"edge {address} exists already")
    await store.edges.add(
        Edge(address=address, description=description, x509_names=names, domain=domain)
    )
    await store.notify("config", f"edge {address}")


async def delete_edge(store: Store, address: str) -> None:
    record = await store.edges.find(address.lower())
    if record is None:
        raise NotFound(f"edge {address} does not exist")
    await store.edges.delete(record.id)
    await store.notify("config", f"edge {address}")
