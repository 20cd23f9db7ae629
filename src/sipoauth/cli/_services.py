"""`utils service list|start|stop|restart` and `show open ports` (R8, issue 4 point 3).

Thin adapters over `sipoauth.admin` (Control Center > Feature Services): a
start, stop or restart is queued for the node, which executes it; the command
waits for the node's answer (unless `--no-wait`) and fails with exit status 1
when the node failed it or did not answer in time (a node that is not running
leaves it queued).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._admin import JsonOpt, _admin_call
from ._context import emit_table, fail, get_context

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import ServiceAction, ServiceCommandRecord, Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

service_app = typer.Typer(
    help="Start, stop and restart the services of a node (Control Center, R8).",
    no_args_is_help=True,
)
open_app = typer.Typer(help="Open ports of the nodes.", no_args_is_help=True)

NodeOpt = Annotated[
    str | None,
    typer.Option("--node", help="The server (node); default: the command line's --node."),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every node of the cluster.")]
ServiceArg = Annotated[
    str,
    typer.Argument(
        help='"Cisco CallManager", "Cisco Tomcat" or "Cisco TFTP" (any case).',
        show_default=False,
    ),
]
NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help="Queue the command and return at once.")]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0, help="Seconds to wait for the node's answer."),
]
DEFAULT_TIMEOUT = 30.0
"""Seconds the command waits for the node (a restart takes well under one)."""


def _ports(ports: dict[str, int]) -> str:
    return ", ".join(f"{admin.PORT_NAMES.get(k, (k, ''))[0]} {v}" for k, v in ports.items())


@service_app.command("list")
def service_list(
    ctx: typer.Context, node: NodeOpt = None, every: AllOpt = False, as_json: JsonOpt = False
) -> None:
    """List a node's services (or every node's) with state, ports and restart pending."""
    wanted = None if every else node or get_context(ctx).node_name
    items: list[admin.ServiceStatus] = _admin_call(
        ctx, lambda store: admin.list_services(store, wanted)
    )
    rows: list[dict[str, Any]] = [
        {
            "node": s.node,
            "service": s.service,
            "state": s.state,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "restart_pending": s.restart_pending,
            "ports": dict(s.ports),
            "sip_oauth_mode": s.sip_oauth_mode,
            "message": s.message,
        }
        for s in items
    ]
    if not as_json:
        for row in rows:
            row["ports"] = _ports(row["ports"]) or None
            row["started_at"] = (row["started_at"] or "")[:19].replace("T", " ") or None
    columns = ["node", "service", "state", "started_at", "restart_pending", "ports", "message"]
    emit_table(rows, columns, as_json)


def _control(
    ctx: typer.Context,
    action: ServiceAction,
    service: str,
    node: str | None,
    no_wait: bool,
    timeout: float,
) -> None:
    node_name = node or get_context(ctx).node_name

    async def act(store: Store) -> tuple[ServiceCommandRecord, str]:
        command = await admin.request_service(
            store,
            node_name=node_name,
            service=service,
            action=action,
            requested_by=admin.current_actor().name,
        )
        if no_wait:
            return command, ""
        command = await admin.wait_for_command(store, command.id, timeout=timeout)
        return command, await admin.command_report(store, command)

    command, report = _admin_call(ctx, act)
    if no_wait:
        display = admin.SERVICES[command.service]
        typer.echo(f"{command.node_name}: {action} {display} queued (command {command.id})")
        return
    if command.status != "done":
        raise fail(report)
    typer.echo(report)


@service_app.command("start")
def service_start(
    ctx: typer.Context,
    service: ServiceArg,
    node: NodeOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
) -> None:
    """Start a service on a node and wait for it to run."""
    _control(ctx, "start", service, node, no_wait, timeout)


@service_app.command("stop")
def service_stop(
    ctx: typer.Context,
    service: ServiceArg,
    node: NodeOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
) -> None:
    """Stop a service on a node; its listeners close, the node's other services stay."""
    _control(ctx, "stop", service, node, no_wait, timeout)


@service_app.command("restart")
def service_restart(
    ctx: typer.Context,
    service: ServiceArg,
    node: NodeOpt = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
) -> None:
    """Restart a service on a node: it applies the mode, ports and certificate in
    force (R8) and its "restart pending" clears."""
    _control(ctx, "restart", service, node, no_wait, timeout)


@open_app.command("ports")
def show_open_ports(
    ctx: typer.Context, node: NodeOpt = None, every: AllOpt = False, as_json: JsonOpt = False
) -> None:
    """The ports a node's running services listen on (or every node's)."""
    wanted = None if every else node or get_context(ctx).node_name
    ports: list[admin.OpenPort] = _admin_call(ctx, lambda store: admin.open_ports(store, wanted))
    rows = [
        {
            "node": p.node,
            "service": p.service,
            "name": p.name,
            "protocol": p.protocol,
            "address": p.address,
            "port": p.port,
        }
        for p in ports
    ]
    emit_table(rows, ["node", "service", "name", "protocol", "address", "port"], as_json)
