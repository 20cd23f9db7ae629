"""Servers of the cluster and their ports (issue 4 point 2, R5).

A cluster has exactly one publisher (made by `sipoauth init`) and any number
of subscribers. Each server has its own listener ports, each in 1024-49151
(R5 gives that range for the two OAuth ports; the others follow it so that
no port needs privileges and none falls in the ephemeral range), and no two
ports of one server may be equal. A port change takes effect when the service
listening on it restarts (R8): a SIP port marks that server's CallManager
"restart pending", the web port its Tomcat, a TFTP port its TFTP.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

from sipoauth.store import JsonValue, Node, NodeRecord, NodeRole, ServiceName, Store, web_identity

from . import _settings as keys_
from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "PORT_FIELDS",
    "PORT_MAX",
    "PORT_MIN",
    "PORT_SERVICES",
    "add_server",
    "delete_server",
    "get_server",
    "list_servers",
    "set_server_ports",
]

PORT_MIN: Final = 1024
PORT_MAX: Final = 49151
"""R5: "SIP Phone OAuth Port" and "SIP Mobile and Remote Access Port" range."""

PORT_FIELDS: Final[Mapping[str, str]] = {
    "sip_port": "SIP Phone Port",
    "secure_sip_port": "SIP Phone Secure Port",
    "oauth_port": "SIP Phone OAuth Port",
    "mra_port": "SIP Mobile and Remote Access Port",
    "web_port": "HTTPS Port",
    "tftp_port": "TFTP HTTP Port",
    "tftp_secure_port": "TFTP HTTPS Port",
}
"""Port fields of a server and the names the pages and messages use (R5 names
the two OAuth ports)."""

PORT_SERVICES: Final[Mapping[str, ServiceName]] = {
    "sip_port": "callmanager",
    "secure_sip_port": "callmanager",
    "oauth_port": "callmanager",
    "mra_port": "callmanager",
    "web_port": "tomcat",
    "tftp_port": "tftp",
    "tftp_secure_port": "tftp",
}
"""The service that must restart for a port change to take effect (R8)."""

NAME_MAX_LENGTH: Final = 64
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_OBJECT: Final = "server"


def _check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InvalidValue(
            f"server name {name!r}: 1-{NAME_MAX_LENGTH} letters, digits, '.', '-' or '_', "
            "starting and ending with a letter or digit"
        )
    return name


def _check_host(host: str) -> str:
    host = host.strip().removesuffix(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOST.fullmatch(host) or host.replace(".", "").isdigit():
        raise InvalidValue(f"host {host!r}: an IP address, a host name or an FQDN")
    return host.lower()


def _check_ports(ports: Mapping[str, int]) -> None:
    """Each port in range, no two equal; the message names the fields."""
    for field, port in ports.items():
        if isinstance(port, bool) or not isinstance(port, int):
            raise InvalidValue(f"{PORT_FIELDS[field]} must be a whole number")
        if not PORT_MIN <= port <= PORT_MAX:
            raise InvalidValue(
                f"{PORT_FIELDS[field]} {port} is out of range: {PORT_MIN}-{PORT_MAX}"
            )
    seen: dict[int, str] = {}
    for field, port in ports.items():
        if port in seen:
            raise InvalidValue(
                f"{PORT_FIELDS[seen[port]]} and {PORT_FIELDS[field]} are both {port}: "
                "each port of a server must be different"
            )
        seen[port] = field


def _ports_of(node: Node) -> dict[str, int]:
    return {field: getattr(node, field) for field in PORT_FIELDS}


async def list_servers(store: Store) -> list[NodeRecord]:
    """Every server, the publisher first."""
    return await store.nodes.list()


async def get_server(store: Store, name: str) -> NodeRecord:
    """The server called `name` (NotFound)."""
    node = await store.nodes.get(name.strip())
    if node is None:
        raise NotFound(f"server {name.strip()!r} is not configured")
    return node


async def add_server(
    store: Store,
    name: str,
    host: str,
    role: NodeRole = "subscriber",
    *,
    sip_port: int = 5060,
    secure_sip_port: int = 5061,
    oauth_port: int = 5090,
    mra_port: int = 5091,
    web_port: int = 8443,
    tftp_port: int = 6970,
    tftp_secure_port: int = 6971,
) -> NodeRecord:
    """Add a server (System > Server). A cluster has exactly one publisher:
    a second is refused, and so is a subscriber before there is a publisher."""
    name = _check_name(name)
    host = _check_host(host)
    if role not in ("publisher", "subscriber"):
        raise InvalidValue(f"role {role!r}: publisher or subscriber")
    node = Node(
        name=name,
        host=host,
        role=role,
        sip_port=sip_port,
        secure_sip_port=secure_sip_port,
        oauth_port=oauth_port,
        mra_port=mra_port,
        web_port=web_port,
        tftp_port=tftp_port,
        tftp_secure_port=tftp_secure_port,
    )
    _check_ports(_ports_of(node))
    existing = await store.nodes.list()
    if any(each.name == name for each in existing):
        raise Conflict(f"server {name!r} exists already")
    publishers = [each.name for each in existing if each.role == "publisher"]
    if role == "publisher" and publishers:
        raise Conflict(f"the cluster has a publisher already ({publishers[0]}): add a subscriber")
    if role == "subscriber" and not publishers:
        raise Conflict("the cluster has no publisher yet: add the publisher first")
    record = await store.nodes.upsert(node)
    detail: dict[str, JsonValue] = {"host": host, "role": role, **_ports_of(record)}
    if existing:  # the Default group's node list changed: its phones need a reset
        detail["reset_required"] = await store.devices.mark_default_group_reset_required()
    await audit(store, "add", _OBJECT, name, detail)
    await store.notify("config", f"server {name}")
    return record


async def set_server_ports(store: Store, name: str, **ports: int) -> NodeRecord:
    """Change some of a server's ports (keywords: the keys of `PORT_FIELDS`).

    Each in 1024-49151, none equal to another port of the server. The service
    listening on a changed port is marked "restart pending" (R8).
    """
    unknown = sorted(set(ports) - set(PORT_FIELDS))
    if unknown:
        raise InvalidValue(
            f"unknown port field(s) {', '.join(unknown)}: use {', '.join(PORT_FIELDS)}"
        )
    node = await get_server(store, name)
    old = _ports_of(node)
    new = {**old, **ports}
    _check_ports(new)
    changed: dict[str, Any] = {f: new[f] for f in PORT_FIELDS if new[f] != old[f]}
    if not changed:
        return node
    record = await store.nodes.upsert(dataclasses.replace(node, **changed))
    issuer = await _follow_issuer(store, node, new["web_port"])
    services = sorted({PORT_SERVICES[field] for field in changed})
    await store.node_services.mark_restart_pending([node.name], services)
    detail: dict[str, JsonValue] = {
        field: {"old": old[field], "new": port} for field, port in changed.items()
    }
    restart: list[JsonValue] = [*services]
    detail["restart_pending"] = restart
    if issuer is not None:
        detail["issuer"] = issuer
    await audit(store, "set-ports", _OBJECT, node.name, detail)
    await store.notify("config", f"server {node.name} ports")
    return record


async def _follow_issuer(
    store: Store, node: NodeRecord, web_port: int
) -> dict[str, JsonValue] | None:
    """The publisher's web port is part of the OAuth issuer (RFC 8414 §3: its
    metadata lives under it). When the issuer is the one derived at
    initialisation (``https://HOST:PORT`` of this server), it follows a new
    port; access tokens naming the old one are refused from then on, and
    devices get new ones with their refresh tokens. An issuer an operator set
    otherwise is left alone."""
    if node.role != "publisher" or web_port == node.web_port:
        return None
    current = (await store.settings.get_many([keys_.ISSUER])).get(keys_.ISSUER)
    if current != f"https://{node.host}:{node.web_port}":
        return None
    issuer = f"https://{node.host}:{web_port}"
    await store.settings.set(keys_.ISSUER, issuer)
    return {"old": current, "new": issuer}


async def delete_server(store: Store, name: str, *, node_name: str) -> None:
    """Remove a subscriber. Refused for the publisher, for `node_name`, the
    server the command runs on (it would lose its own configuration), and for
    a server of a CallManager group (its phones' failover list would change
    under them; take it out of the group first)."""
    node = await get_server(store, name)
    if node.role == "publisher":
        raise Conflict(f"server {node.name!r} is the publisher and cannot be deleted")
    if node.name == node_name:
        raise Conflict(f"server {node.name!r} is the server this command runs on")
    groups = [g.name for g in await store.callmanager_groups.list() if node.name in g.nodes]
    if groups:
        raise Conflict(
            f"server {node.name!r} is in CallManager group(s) {', '.join(groups)}: "
            "take it out of them first"
        )
    await store.nodes.delete(node.name)
    # Its web certificate and sealed key go too: a new server of that name gets its own.
    await store.identities.delete(web_identity(node.name))
    marked = await store.devices.mark_default_group_reset_required()
    await audit(
        store,
        "delete",
        _OBJECT,
        node.name,
        {"host": node.host, "role": node.role, "reset_required": marked},
    )
    await store.notify("config", f"server {node.name} deleted")
