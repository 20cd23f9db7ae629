"""REST routes: CallManager groups, the ordered servers a device registers to.

``Default`` is not a stored group: it is every server of the cluster, the
publisher first, then by name — the group of a device whose
``callmanager_group`` is null. ``GET /callmanager-groups/Default/nodes``
lists it; it cannot be added, changed or deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from sipoauth import admin
from sipoauth.store import CallManagerGroupRecord

from ._api_base import Body, Ctx, Out, Who, absent
from ._api_cluster import ServerOut

__all__ = ["router"]

router = APIRouter(tags=["callmanager-groups"])

GroupName = Annotated[
    str, Path(description="The group's name.", max_length=admin.GROUP_NAME_MAX_LENGTH)
]
_NODES = (
    f"Server names, in the order devices try them (1-{admin.GROUP_NODES_MAX}, "
    "each existing, none twice)."
)


class GroupOut(Out):
    """A CallManager group."""

    name: str = Field(description="Its name.")
    description: str = Field(description="Free text.")
    nodes: list[str] = Field(description="Its servers, in the order devices try them.")
    devices: int = Field(description="Devices in it (a group in use cannot be deleted).")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, record: CallManagerGroupRecord, devices: int) -> GroupOut:
        return cls(
            name=record.name,
            description=record.description,
            nodes=list(record.nodes),
            devices=devices,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class GroupNew(Body):
    """A new CallManager group."""

    name: str = Field(
        description="1-128 characters; not `Default` (every server).",
        max_length=admin.GROUP_NAME_MAX_LENGTH,
    )
    nodes: list[str] = Field(description=_NODES, max_length=admin.GROUP_NODES_MAX)
    description: str = Field(
        default="",
        description="Free text, one line.",
        max_length=admin.GROUP_DESCRIPTION_MAX_LENGTH,
    )


class GroupChange(Body):
    """Fields to change (those left out stay). New servers (or a new order)
    mark the group's phones as needing a reset."""

    nodes: list[str] = absent(
        "Replaces the whole list. " + _NODES, max_length=admin.GROUP_NODES_MAX
    )
    description: str = absent("Free text, one line.", max_length=admin.GROUP_DESCRIPTION_MAX_LENGTH)


async def _out(ctx: Ctx, record: CallManagerGroupRecord) -> GroupOut:
    usage = await admin.group_usage(ctx.store)
    return GroupOut.of(record, usage.get(record.name, 0))


@router.get("/callmanager-groups", operation_id="list_callmanager_groups")
async def list_callmanager_groups(
    ctx: Ctx,
    contains: Annotated[
        str | None,
        Query(
            description="Only groups whose name, description or a server contains this (any case).",
            max_length=admin.GROUP_NAME_MAX_LENGTH,
        ),
    ] = None,
) -> list[GroupOut]:
    """Every CallManager group, by name, with how many devices each has."""
    usage = await admin.group_usage(ctx.store)
    groups = await admin.find_groups(ctx.store, contains)
    return [GroupOut.of(g, usage.get(g.name, 0)) for g in groups]


@router.get("/callmanager-groups/{name}", operation_id="get_callmanager_group")
async def get_callmanager_group(ctx: Ctx, name: GroupName) -> GroupOut:
    """One CallManager group."""
    return await _out(ctx, await admin.get_group(ctx.store, name))


@router.get("/callmanager-groups/{name}/nodes", operation_id="list_callmanager_group_nodes")
async def list_callmanager_group_nodes(ctx: Ctx, name: GroupName) -> list[ServerOut]:
    """The servers a device of the group registers to, in order; for
    `Default`, every server, the publisher first, then by name."""
    return [ServerOut.of(node) for node in await admin.group_nodes(ctx.store, name)]


@router.post("/callmanager-groups", status_code=201, operation_id="add_callmanager_group")
async def add_callmanager_group(ctx: Ctx, who: Who, body: GroupNew) -> GroupOut:
    """Add a CallManager group."""
    with admin.acting_as(who.actor):
        record = await admin.add_group(
            ctx.store, name=body.name, nodes=body.nodes, description=body.description
        )
    return GroupOut.of(record, 0)


@router.patch("/callmanager-groups/{name}", operation_id="update_callmanager_group")
async def update_callmanager_group(
    ctx: Ctx, who: Who, name: GroupName, body: GroupChange
) -> GroupOut:
    """Change a group's servers (the whole ordered list) or description; its
    phones are marked as needing a reset when the servers change."""
    given = body.model_fields_set
    with admin.acting_as(who.actor):
        record = await admin.update_group(
            ctx.store,
            name,
            nodes=body.nodes if "nodes" in given else None,
            description=body.description if "description" in given else None,
        )
    return await _out(ctx, record)


@router.delete(
    "/callmanager-groups/{name}", status_code=204, operation_id="delete_callmanager_group"
)
async def delete_callmanager_group(ctx: Ctx, who: Who, name: GroupName) -> Response:
    """Delete a CallManager group no device is in."""
    with admin.acting_as(who.actor):
        await admin.delete_group(ctx.store, name)
    return Response(status_code=204)
