"""REST routes: the registrations view (issue 4 point 11) and the audit log (point 12)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, Field

from sipoauth import admin
from sipoauth.store import AuditInterface

from ._api_base import Ctx, Out

__all__ = ["audit_router", "registrations_router"]

registrations_router = APIRouter(tags=["registrations"])
audit_router = APIRouter(tags=["audit"])


class RegistrationOut(Out):
    """One registered contact."""

    device: str = Field(description="The device.")
    line: str = Field(description="The registered line (user part of the AOR).")
    aor: str = Field(description="Address of record.")
    node: str = Field(description="The node holding the device's connection.")
    port: int = Field(description="5090-style OAuth port, or 5091-style MRA port via the edge.")
    via_edge: bool = Field(description="Came through an edge (Path, RFC 3327).")
    contact: str = Field(description="Contact URI requests are sent to.")
    expires_at: datetime = Field(description="When it expires.")
    seconds_left: int = Field(description="Seconds until it expires (rounded up).")


class AuditOut(Out):
    """One audited change."""

    id: int = Field(description="Row id (increasing).")
    at: datetime = Field(description="When (UTC).")
    actor: str = Field(description="Administrator, OS user, `system` or an edge's address.")
    interface: AuditInterface = Field(description="cli, api, web, shell, system or edge.")
    action: str = Field(description="What was done: add, update, delete, set…")
    object_type: str = Field(description="The kind of object: device, edge, parameter…")
    object_id: str = Field(description="Which one.")
    detail: dict[str, Any] = Field(description="What changed (never a secret).")


@registrations_router.get("/registrations", operation_id="list_registrations")
async def list_registrations(
    ctx: Ctx,
    device: Annotated[str | None, Query(description="Only this device.", max_length=64)] = None,
    node: Annotated[str | None, Query(description="Only this node.", max_length=64)] = None,
) -> list[RegistrationOut]:
    """Live registrations, by device then AOR (about a second behind the nodes)."""
    views = await admin.list_registrations(ctx.store, device=device, node=node, now=ctx.now())
    return [
        RegistrationOut(
            device=v.device,
            line=v.line,
            aor=v.aor,
            node=v.node,
            port=v.port,
            via_edge=v.via_edge,
            contact=v.contact,
            expires_at=v.expires_at,
            seconds_left=v.seconds_left,
        )
        for v in views
    ]


@audit_router.get("/audit", operation_id="list_audit")
async def list_audit(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=admin.AUDIT_LIST_MAX)] = 100,
    since: Annotated[
        AwareDatetime | None, Query(description="Only rows at or after (ISO 8601 with zone).")
    ] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=256)] = None,
    actor: Annotated[str | None, Query(max_length=256)] = None,
) -> list[AuditOut]:
    """Audit rows, newest first."""
    rows = await admin.list_audit(
        ctx.store,
        limit=limit,
        since=since,
        object_type=object_type,
        object_id=object_id,
        actor=actor,
    )
    return [
        AuditOut(
            id=r.id,
            at=r.at,
            actor=r.actor,
            interface=r.interface,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            detail=dict(r.detail),
        )
        for r in rows
    ]
