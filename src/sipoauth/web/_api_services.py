"""REST routes: service control (R8, issue 4 point 3) and open ports.

A start, stop or restart is a command queued for the node that runs the
service (``admin.request_service``); the node executes it on its own. The
API answers 202 with the command at once, and its ``Location`` is where to
follow it (``GET /service-commands/{id}``) until it is ``done`` or ``failed``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from sipoauth import admin
from sipoauth.store import (
    CommandStatus,
    ServiceAction,
    ServiceCommandRecord,
    ServiceName,
    ServiceState,
)

from ._api_base import Ctx, Out, Who

__all__ = ["router"]

router = APIRouter(tags=["services"])

NodeQuery = Annotated[str | None, Query(description="Only this server (node).", max_length=64)]
_COMMAND_ID_MAX = 2**31 - 1


class ServiceOut(Out):
    """One service of one node, as Control Center lists it (R8)."""

    node: str = Field(description="The server (node).")
    service: str = Field(description="Display name: `Cisco CallManager`, `Cisco Tomcat`…")
    service_id: ServiceName = Field(description="`callmanager`, `tomcat` or `tftp`.")
    state: ServiceState = Field(description="As the node last reported it.")
    started_at: datetime | None = Field(description="When the running service started.")
    restart_pending: bool = Field(description="A change waits for this service to restart.")
    ports: dict[str, int] = Field(description="Ports the running service listens on.")
    sip_oauth_mode: bool | None = Field(
        description="The SIP OAuth mode the running CallManager applied."
    )
    message: str = Field(description="The node's last remark (why it failed…).")

    @classmethod
    def of(cls, status: admin.ServiceStatus) -> ServiceOut:
        return cls(
            node=status.node,
            service=status.service,
            service_id=status.service_id,
            state=status.state,
            started_at=status.started_at,
            restart_pending=status.restart_pending,
            ports=dict(status.ports),
            sip_oauth_mode=status.sip_oauth_mode,
            message=status.message,
        )


class CommandOut(Out):
    """A start, stop or restart asked of a service on a node."""

    id: int = Field(description="Command id: follow it at `/service-commands/{id}`.")
    node: str = Field(description="The node that executes it.")
    service_id: ServiceName = Field(description="The service.")
    action: ServiceAction = Field(description="`start`, `stop` or `restart`.")
    status: CommandStatus = Field(description="`pending`, `running`, `done` or `failed`.")
    requested_by: str = Field(description="The administrator who asked.")
    requested_at: datetime = Field(description="When it was asked.")
    done_at: datetime | None = Field(description="When the node finished it.")
    message: str = Field(description="The node's account of the outcome.")
    report: str = Field(description="How the command stands, in a sentence.")

    @classmethod
    async def of(cls, ctx: Ctx, record: ServiceCommandRecord) -> CommandOut:
        return cls(
            id=record.id,
            node=record.node_name,
            service_id=record.service,
            action=record.action,
            status=record.status,
            requested_by=record.requested_by,
            requested_at=record.requested_at,
            done_at=record.done_at,
            message=record.message,
            report=await admin.command_report(ctx.store, record),
        )


class OpenPortOut(Out):
    """A port a running service listens on (`show open ports`)."""

    node: str = Field(description="The server (node).")
    service: str = Field(description="Display name of the service.")
    name: str = Field(description="`SIP Phone OAuth Port`, `SIP Mobile and Remote Access Port`…")
    protocol: str = Field(description="`TLS`, `mTLS`, `HTTPS`…")
    address: str = Field(description="The address it is bound to (`0.0.0.0`: every one).")
    port: int = Field(description="The port.")


@router.get("/services", operation_id="list_services")
async def list_services(ctx: Ctx, node: NodeQuery = None) -> list[ServiceOut]:
    """Every service of every node (or of one), the publisher first."""
    return [ServiceOut.of(s) for s in await admin.list_services(ctx.store, node)]


@router.post(
    "/services/{node}/{service}/{action}",
    status_code=202,
    operation_id="request_service",
    responses={202: {"description": "Queued for the node; follow `Location`."}},
)
async def request_service(
    request: Request,
    ctx: Ctx,
    who: Who,
    response: Response,
    node: Annotated[str, Path(description="The server (node).", max_length=64)],
    service: Annotated[
        str,
        Path(
            description="`callmanager`, `tomcat`, `tftp` or the display name "
            "(`Cisco CallManager`), any case.",
            max_length=64,
        ),
    ],
    action: Annotated[Literal["start", "stop", "restart"], Path(description="What to do.")],
) -> CommandOut:
    """Start, stop or restart a service on a node (R8): queued for the node,
    which executes it; a restart of Cisco CallManager applies the mode and ports."""
    with admin.acting_as(who.actor):
        record = await admin.request_service(
            ctx.store, node_name=node, service=service, action=action, requested_by=who.username
        )
    root = request.scope.get("root_path", "")
    response.headers["Location"] = f"{root}/service-commands/{record.id}"
    return await CommandOut.of(ctx, record)


@router.get("/service-commands/{command_id}", operation_id="get_service_command")
async def get_service_command(
    ctx: Ctx,
    command_id: Annotated[int, Path(description="The command id.", ge=1, le=_COMMAND_ID_MAX)],
) -> CommandOut:
    """How a service command stands."""
    record = await admin.wait_for_command(ctx.store, command_id, timeout=0)
    return await CommandOut.of(ctx, record)


@router.get("/open-ports", operation_id="open_ports")
async def open_ports(ctx: Ctx, node: NodeQuery = None) -> list[OpenPortOut]:
    """The listening ports of every running service (`show open ports`)."""
    return [
        OpenPortOut(
            node=p.node,
            service=p.service,
            name=p.name,
            protocol=p.protocol,
            address=p.address,
            port=p.port,
        )
        for p in await admin.open_ports(ctx.store, node)
    ]
