"""REST routes: phones and soft clients (issue 4 point 10, R1, R9, R12.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from sipoauth import admin
from sipoauth.store import DeviceRecord, DeviceType

from ._api_base import Body, Ctx, Out, Who, absent

__all__ = ["DeviceName", "DeviceOut", "router"]

router = APIRouter(tags=["devices"])

DeviceName = Annotated[
    str,
    Path(
        description="`SEP`/`BAT` + 12 hex digits (desk phone), `CSF`/`BOT`/`TCT`/`TAB` + "
        "user (soft client).",
        max_length=64,
    ),
]
_OFFSET_MAX: Final = 2**31 - 1
_LINES_MAX: Final = 64
_GROUP: Final = (
    "CallManager group (an existing one): the servers it registers to, in order; "
    "null or `Default`: every server, the publisher first."
)


class LineOut(Out):
    """A line button."""

    position: int = Field(description="Button position, 1-based.")
    dn: str = Field(description="Directory number.")


class DeviceOut(Out):
    """A phone or soft client."""

    name: str = Field(description="Device name.")
    model: str = Field(description="Model (`8851`…) or soft-client type (`CSF`…).")
    device_type: DeviceType = Field(description="`desk` or `soft`.")
    profile: str = Field(description="Security profile.")
    description: str = Field(description="Free text.")
    owner: str | None = Field(description="Owner user id.")
    lines: list[LineOut] = Field(description="Its lines, line 1 first.")
    oauth_firmware: bool = Field(description="The firmware supports SIP OAuth (R2.3).")
    requires_activation_code: bool = Field(description="Requires Activation Code for Onboarding.")
    allow_activation_via_mra: bool = Field(description="Allow Activation Code via MRA (R12.1).")
    mra_service_domain: str | None = Field(description="Activation Code MRA Service Domain.")
    callmanager_group: str | None = Field(
        description="CallManager group: the servers it registers to, in order; null: "
        "Default, every server, the publisher first."
    )
    config_version: int = Field(description="Bumped by Reset / Apply Config.")
    reset_required: bool = Field(description="A change waits for a reset of the phone (R9).")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, d: DeviceRecord) -> DeviceOut:
        return cls(
            name=d.name,
            model=d.model,
            device_type=d.device_type,
            profile=d.profile_name,
            description=d.description,
            owner=d.owner_user_id,
            lines=[LineOut(position=line.position, dn=line.dn) for line in d.lines],
            oauth_firmware=d.oauth_firmware,
            requires_activation_code=d.requires_activation_code,
            allow_activation_via_mra=d.allow_activation_via_mra,
            mra_service_domain=d.mra_service_domain,
            callmanager_group=d.callmanager_group,
            config_version=d.config_version,
            reset_required=d.reset_required,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


class DevicePage(Out):
    """One page of a device search."""

    items: list[DeviceOut] = Field(description="The devices of this page, by name.")
    total: int = Field(description="Devices matching the filters, in all pages.")
    limit: int = Field(description="Rows per page asked for.")
    offset: int = Field(description="Rows skipped.")


class DeviceNew(Body):
    """A new phone or soft client."""

    name: str = Field(description="Device name.", max_length=64)
    model: str = Field(description="Model (R1.1) or soft-client type.", max_length=64)
    lines: list[str] = Field(
        default=[], description="Directory numbers, line 1 first.", max_length=_LINES_MAX
    )
    profile: str = Field(
        default=admin.DEFAULT_PROFILE, description="Security profile.", max_length=128
    )
    owner: str | None = Field(default=None, description="Owner user id.", max_length=128)
    description: str = Field(default="", description="Free text, one line.", max_length=512)
    oauth_firmware: bool = Field(default=True, description="Firmware supports SIP OAuth.")
    requires_activation_code: bool = Field(
        default=False, description="Requires Activation Code for Onboarding."
    )
    allow_activation_via_mra: bool = Field(
        default=False, description="Allow Activation Code via MRA (R12.1)."
    )
    mra_service_domain: str | None = Field(
        default=None, description="Activation Code MRA Service Domain.", max_length=128
    )
    callmanager_group: str | None = Field(
        default=None, description=_GROUP, max_length=admin.GROUP_NAME_MAX_LENGTH
    )


class DeviceChange(Body):
    """Fields to change (those left out stay). A change other than the
    description marks the phone as needing a reset."""

    model: str = absent("Model.", max_length=64)
    description: str = absent("Free text, one line.", max_length=512)
    owner: str | None = Field(
        default=None, description="Owner user id; null: no owner.", max_length=128
    )
    profile: str = absent("Security profile.", max_length=128)
    lines: list[str] = absent("Replaces the lines.", max_length=_LINES_MAX)
    oauth_firmware: bool = absent("Firmware supports SIP OAuth.")
    requires_activation_code: bool = absent("Requires Activation Code for Onboarding.")
    allow_activation_via_mra: bool = absent("Allow Activation Code via MRA.")
    mra_service_domain: str | None = Field(
        default=None, description="MRA service domain; null: none.", max_length=128
    )
    callmanager_group: str | None = Field(
        default=None, description=_GROUP, max_length=admin.GROUP_NAME_MAX_LENGTH
    )


class ResetOut(Out):
    """A reset or apply-config sent."""

    device: str = Field(description="The device.")
    action: admin.ResetAction = Field(description="`reset` or `apply-config`.")
    config_version: int = Field(description="The phone's new configuration version.")


@router.get("/devices", operation_id="find_devices")
async def find_devices(
    ctx: Ctx,
    name_contains: Annotated[
        str | None, Query(description="Part of the name (any case).", max_length=64)
    ] = None,
    model: Annotated[str | None, Query(description="The model (any case).", max_length=64)] = None,
    owner: Annotated[str | None, Query(description="Owner user id.", max_length=128)] = None,
    profile: Annotated[str | None, Query(description="Security profile.", max_length=128)] = None,
    device_type: Annotated[DeviceType | None, Query(description="`desk` or `soft`.")] = None,
    limit: Annotated[int, Query(ge=1, le=admin.FIND_LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=_OFFSET_MAX)] = 0,
) -> DevicePage:
    """Find devices by any of the filters, by name, one page at a time."""
    items, total = await admin.find_devices(
        ctx.store,
        name_contains=name_contains,
        model=model,
        owner=owner,
        profile=profile,
        device_type=device_type,
        limit=limit,
        offset=offset,
    )
    return DevicePage(
        items=[DeviceOut.of(d) for d in items], total=total, limit=limit, offset=offset
    )


@router.get("/devices/{name}", operation_id="get_device")
async def get_device(ctx: Ctx, name: DeviceName) -> DeviceOut:
    """One device."""
    return DeviceOut.of(await admin.get_device(ctx.store, name))


@router.post("/devices", status_code=201, operation_id="add_device")
async def add_device(ctx: Ctx, who: Who, body: DeviceNew) -> DeviceOut:
    """Add a phone or soft client with its lines."""
    with admin.acting_as(who.actor):
        record = await admin.add_device(ctx.store, **body.model_dump())
    return DeviceOut.of(record)


@router.patch("/devices/{name}", operation_id="update_device")
async def update_device(ctx: Ctx, who: Who, name: DeviceName, body: DeviceChange) -> DeviceOut:
    """Change a device; the whole result is checked before anything is written."""
    changes = body.model_dump(include=body.model_fields_set)
    with admin.acting_as(who.actor):
        record = await admin.update_device(ctx.store, name, **changes)
    return DeviceOut.of(record)


@router.delete("/devices/{name}", status_code=204, operation_id="delete_device")
async def delete_device(ctx: Ctx, who: Who, name: DeviceName) -> Response:
    """Delete a device (its pending activation code goes with it)."""
    with admin.acting_as(who.actor):
        await admin.delete_device(ctx.store, name)
    return Response(status_code=204)


async def _reset(ctx: Ctx, who: Who, name: str, action: admin.ResetAction) -> ResetOut:
    with admin.acting_as(who.actor):
        version = await admin.reset_device(ctx.store, name, action=action)
    device = await admin.get_device(ctx.store, name)
    return ResetOut(device=device.name, action=action, config_version=version)


@router.post("/devices/{name}/reset", operation_id="reset_device")
async def reset_device(ctx: Ctx, who: Who, name: DeviceName) -> ResetOut:
    """Reset the phone: the node holding its registration sends it a NOTIFY."""
    return await _reset(ctx, who, name, "reset")


@router.post("/devices/{name}/apply-config", operation_id="apply_device_config")
async def apply_device_config(ctx: Ctx, who: Who, name: DeviceName) -> ResetOut:
    """Apply Config: the phone fetches its configuration file again."""
    return await _reset(ctx, who, name, "apply-config")
