"""Service control (R8, issue 4 point 3): Tools > Control Center > Feature Services.

Per node, the services Cisco CallManager, Cisco Tomcat and Cisco TFTP with
their state, and start, stop, restart. An administrator's interface never
touches a node's listeners: :func:`request_service` writes a command to the
store's ``service_commands`` queue and notifies the ``control`` channel; the
node the command is for claims it, executes it in its own task and records
the outcome (``sipoauth.node._control``), which :func:`wait_for_command`
polls for. Only an administrator's interface can write a command (the CLI
needs the database, the REST API an authenticated administrator): that is
what authenticates the channel. A command for a node that is not running
stays queued; the node executes it when it starts, unless it expired.

"Restart pending" is raised by the rules that change what a service applies
(mode, ports, the web certificate) and lowered by the node when that service
starts again: a restart of Cisco CallManager applies the mode and ports (R8).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sipoauth.store import (
    JsonValue,
    NodeServiceRecord,
    ServiceAction,
    ServiceCommandRecord,
    ServiceName,
    ServiceState,
    Store,
)

from ._audit import audit
from ._errors import InvalidValue, NotFound
from ._servers import get_server

__all__ = [
    "ACTIONS",
    "COMMAND_TTL",
    "CONTROL_CHANNEL",
    "PORT_NAMES",
    "REQUESTED_BY_MAX_LENGTH",
    "SERVICES",
    "OpenPort",
    "ServiceStatus",
    "command_report",
    "list_services",
    "node_running",
    "open_ports",
    "request_service",
    "service_id",
    "wait_for_command",
]

SERVICES: Final[Mapping[ServiceName, str]] = {
    "callmanager": "Cisco CallManager",
    "tomcat": "Cisco Tomcat",
    "tftp": "Cisco TFTP",
}
"""Service ids and the names operators of the reference system know them by
(DESIGN "One node, one process"), in the order listings show them."""

ACTIONS: Final[tuple[ServiceAction, ...]] = ("start", "stop", "restart")
"""What an administrator can ask of a service."""

COMMAND_TTL: Final = 3600.0
"""Seconds a queued command stays valid: a node that gets to it later (it was
down) fails it as expired rather than stopping a service an hour late."""

CONTROL_CHANNEL: Final = "control"
"""Notification channel of service commands; the payload is the node's name."""

PORT_NAMES: Final[Mapping[str, tuple[str, str]]] = {
    "oauth": ("SIP Phone OAuth Port", "TLS"),
    "mra": ("SIP Mobile and Remote Access Port", "mTLS"),
    "web": ("HTTPS", "HTTPS"),
    "tftp": ("TFTP HTTP", "HTTP"),
    "tftp_secure": ("TFTP HTTPS", "HTTPS"),
}
"""A running service's ports (the keys of its ``applied["ports"]``): the name
`show open ports` gives each (R5 names the two OAuth ports) and its protocol."""

REQUESTED_BY_MAX_LENGTH: Final = 128
"""Longest name of who asked for a command (the column's length)."""

WAIT_POLL_INTERVAL: Final = 0.2
"""Seconds between two reads of a command by :func:`wait_for_command`."""

_ACTIVE: Final[frozenset[ServiceState]] = frozenset({"running", "starting", "stopping"})
_DONE: Final = {"start": "started", "stop": "stopped", "restart": "restarted"}


def service_id(name: str) -> ServiceName:
    """The id of a service given by its display name ("Cisco CallManager") or
    id ("callmanager"), in any case (InvalidValue when there is none)."""
    wanted = " ".join(name.split()).casefold()
    for sid, display in SERVICES.items():
        if wanted in (sid, display.casefold()):
            return sid
    raise InvalidValue(f"unknown service {name!r}: choose one of {', '.join(SERVICES.values())}")


def _action(action: str) -> ServiceAction:
    wanted = action.strip().casefold()
    if wanted not in ACTIONS:
        raise InvalidValue(f"unknown action {action!r}: choose one of {', '.join(ACTIONS)}")
    return wanted


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStatus:
    """One service of one node, as Control Center lists it (R8)."""

    node: str
    """The server (node) name."""
    service: str
    """Display name, e.g. ``Cisco CallManager``."""
    service_id: ServiceName
    """``callmanager``, ``tomcat`` or ``tftp``."""
    state: ServiceState
    """As the node last reported it; ``unknown`` before it ever did."""
    started_at: datetime | None
    """When the running service started (None when it is not running)."""
    restart_pending: bool
    """A change waits for this service to restart (R8)."""
    ports: Mapping[str, int]
    """Ports the running service listens on, by the keys of :data:`PORT_NAMES`
    (empty when it is not running)."""
    sip_oauth_mode: bool | None
    """The SIP OAuth mode the running CallManager applied (None otherwise)."""
    message: str
    """The node's last remark, e.g. why the service failed."""


def _status(node: str, sid: ServiceName, row: NodeServiceRecord | None) -> ServiceStatus:
    running = row is not None and row.state == "running"
    applied: Mapping[str, JsonValue] = row.applied if row is not None and running else {}
    raw_ports = applied.get("ports")
    ports = (
        {k: v for k, v in raw_ports.items() if isinstance(v, int)}
        if isinstance(raw_ports, dict)
        else {}
    )
    mode = applied.get("sip_oauth_mode")
    return ServiceStatus(
        node=node,
        service=SERVICES[sid],
        service_id=sid,
        state="unknown" if row is None else row.state,
        started_at=row.started_at if row is not None and running else None,
        restart_pending=row is not None and row.restart_pending,
        ports=ports,
        sip_oauth_mode=mode if isinstance(mode, bool) else None,
        message="" if row is None else row.message,
    )


async def list_services(store: Store, node: str | None = None) -> list[ServiceStatus]:
    """Every service of every node (or of ``node``: NotFound when it is not
    configured), the publisher first, services in :data:`SERVICES` order."""
    if node is None:
        names = [each.name for each in await store.nodes.list()]
        rows = await store.node_services.list()
    else:
        names = [(await get_server(store, node)).name]
        rows = await store.node_services.list(names[0])
    by_key = {(row.node_name, row.service): row for row in rows}
    return [_status(name, sid, by_key.get((name, sid))) for name in names for sid in SERVICES]


async def node_running(store: Store, node_name: str) -> bool:
    """Whether the node reports any of its services running (or starting or
    stopping): a node that stopped cleanly reports them stopped."""
    return any(row.state in _ACTIVE for row in await store.node_services.list(node_name))


async def request_service(
    store: Store, *, node_name: str, service: str, action: str, requested_by: str
) -> ServiceCommandRecord:
    """Ask ``node_name`` to start, stop or restart ``service`` (display name or id).

    The command is queued for the node and the node is notified; it is
    executed by the node (see :func:`wait_for_command`), or stays queued
    while the node is not running. Refused: an unknown node (NotFound),
    service or action (InvalidValue).
    """
    sid = service_id(service)
    verb = _action(action)
    requested_by = requested_by.strip()
    if not 1 <= len(requested_by) <= REQUESTED_BY_MAX_LENGTH:
        raise InvalidValue(f"requested by: 1-{REQUESTED_BY_MAX_LENGTH} characters")
    node = await get_server(store, node_name)
    command = await store.service_commands.add(node.name, sid, verb, requested_by=requested_by)
    detail: dict[str, JsonValue] = {
        "node": node.name,
        "service": SERVICES[sid],
        "command_id": command.id,
    }
    await audit(store, verb, "service", f"{node.name}/{sid}", detail)
    await store.notify(CONTROL_CHANNEL, node.name)
    return command


async def wait_for_command(
    store: Store, command_id: int, *, timeout: float, poll: float = WAIT_POLL_INTERVAL
) -> ServiceCommandRecord:
    """The command once the node finished it (``done`` or ``failed``), or as
    it is after ``timeout`` seconds (``pending``: the node did not take it;
    ``running``: it is at it). NotFound when there is no such command."""
    if timeout < 0:
        raise InvalidValue(f"timeout {timeout}: 0 seconds or more")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        record = await store.service_commands.get(command_id)
        if record is None:
            raise NotFound(f"no service command {command_id}")
        remaining = deadline - loop.time()
        if record.status in ("done", "failed") or remaining <= 0:
            return record
        await asyncio.sleep(min(poll, remaining))


async def command_report(store: Store, record: ServiceCommandRecord) -> str:
    """A sentence for the operator on how a command stands."""
    service = SERVICES.get(record.service, record.service)
    what = f"{record.action} {service}"
    if record.status == "done":
        return f"{record.node_name}: {record.message or f'{service} {_DONE[record.action]}'}"
    if record.status == "failed":
        return f"{record.node_name}: {what} failed: {record.message or 'no reason given'}"
    if record.status == "running":
        return (
            f"{record.node_name} is still executing command {record.id} ({what}); "
            "see `sipoauth utils service list`"
        )
    if not await node_running(store, record.node_name):
        return (
            f"{record.node_name} is not running: the command stays queued "
            f"(command {record.id}, {what}; it runs if the node starts within "
            f"{int(COMMAND_TTL // 60)} minutes)"
        )
    return f"{record.node_name} has not taken command {record.id} ({what}) yet: it stays queued"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenPort:
    """A port a running service of a node listens on (`show open ports`)."""

    node: str
    service: str
    """Display name of the service."""
    name: str
    """``SIP Phone OAuth Port``, ``SIP Mobile and Remote Access Port``, ``HTTPS`` …"""
    protocol: str
    """``TLS``, ``mTLS``, ``HTTPS`` (all over TCP)."""
    address: str
    """The address the listener is bound to (``0.0.0.0``: every address)."""
    port: int


async def open_ports(store: Store, node: str | None = None) -> list[OpenPort]:
    """The listening ports of every running service (of every node, or of
    ``node``), as the nodes reported them when the services started."""
    rows = {(r.node_name, r.service): r for r in await store.node_services.list(node)}
    found: list[OpenPort] = []
    for status in await list_services(store, node):
        if status.state != "running":
            continue
        row = rows.get((status.node, status.service_id))
        bind = row.applied.get("bind") if row is not None else None
        for key, port in status.ports.items():
            name, protocol = PORT_NAMES.get(key, (key, "TCP"))
            found.append(
                OpenPort(
                    node=status.node,
                    service=status.service,
                    name=name,
                    protocol=protocol,
                    address=bind if isinstance(bind, str) else "0.0.0.0",  # noqa: S104
                    port=port,
                )
            )
    return found
