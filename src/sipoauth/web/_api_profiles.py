"""REST routes: phone security profiles (issue 4 point 8, R9)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field

from sipoauth import admin
from sipoauth.store import SecurityProfileRecord

from ._api_base import Body, Ctx, Out, Who, absent

__all__ = ["router"]

router = APIRouter(tags=["profiles"])

ProfileName = Annotated[str, Path(description="The profile's name.", max_length=128)]
_MODE = "`non-secure`, `authenticated` or `encrypted` (any case, spaces allowed)."
_TRANSPORT = "`TCP`, `UDP`, `TCP+UDP` or `TLS`."
_TYPE = "`Universal Device Template`, a soft client (CSF, BOT, TCT, TAB) or an R1.1 model."


class ProfileOut(Out):
    """A phone security profile."""

    name: str = Field(description="Its name.")
    device_type: str = Field(description="The device type it is for (" + _TYPE + ")")
    security_mode: str = Field(description="Device Security Mode.")
    transport: str = Field(description="Transport Type.")
    oauth: bool = Field(description="Enable OAuth Authentication (R9).")
    digest: bool = Field(description="Enable Digest Authentication.")
    tftp_encrypted: bool = Field(description="TFTP Encrypted Config.")
    description: str = Field(description="Free text.")
    phones: int = Field(description="Phones using it (a profile in use cannot be deleted).")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, record: SecurityProfileRecord, phones: int) -> ProfileOut:
        return cls(
            name=record.name,
            device_type=record.device_type,
            security_mode=record.security_mode,
            transport=record.transport,
            oauth=record.oauth,
            digest=record.digest,
            tftp_encrypted=record.tftp_encrypted,
            description=record.description,
            phones=phones,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class ProfileNew(Body):
    """A new profile. OAuth needs Encrypted + TLS, without digest or encrypted config."""

    name: str = Field(description="1-128 characters.", max_length=128)
    device_type: str = Field(default=admin.UNIVERSAL_TEMPLATE, description=_TYPE, max_length=64)
    security_mode: str = Field(default="non-secure", description=_MODE, max_length=32)
    transport: str = Field(default="TCP+UDP", description=_TRANSPORT, max_length=16)
    oauth: bool = Field(default=False, description="Enable OAuth Authentication.")
    digest: bool = Field(default=False, description="Enable Digest Authentication.")
    tftp_encrypted: bool = Field(default=False, description="TFTP Encrypted Config.")
    description: str = Field(default="", description="Free text.", max_length=512)


class ProfileChange(Body):
    """Fields to change (those left out stay); phones using it then need a reset."""

    name: str = absent("A new name (it stays on its phones).", max_length=128)
    device_type: str = absent(_TYPE, max_length=64)
    security_mode: str = absent(_MODE, max_length=32)
    transport: str = absent(_TRANSPORT, max_length=16)
    oauth: bool = absent("Enable OAuth Authentication.")
    digest: bool = absent("Enable Digest Authentication.")
    tftp_encrypted: bool = absent("TFTP Encrypted Config.")
    description: str = absent("Free text.", max_length=512)


@router.get("/profiles", operation_id="list_profiles")
async def list_profiles(ctx: Ctx) -> list[ProfileOut]:
    """Every security profile, by name, with how many phones use it."""
    usage = await admin.profile_usage(ctx.store)
    return [ProfileOut.of(p, usage.get(p.name, 0)) for p in await admin.list_profiles(ctx.store)]


@router.get("/profiles/{name}", operation_id="get_profile")
async def get_profile(ctx: Ctx, name: ProfileName) -> ProfileOut:
    """One security profile."""
    record = await admin.get_profile(ctx.store, name)
    usage = await admin.profile_usage(ctx.store)
    return ProfileOut.of(record, usage.get(record.name, 0))


@router.post("/profiles", status_code=201, operation_id="add_profile")
async def add_profile(ctx: Ctx, who: Who, body: ProfileNew) -> ProfileOut:
    """Add a security profile (R9 rules checked)."""
    with admin.acting_as(who.actor):
        record = await admin.add_profile(ctx.store, **body.model_dump())
    return ProfileOut.of(record, 0)


@router.patch("/profiles/{name}", operation_id="update_profile")
async def update_profile(ctx: Ctx, who: Who, name: ProfileName, body: ProfileChange) -> ProfileOut:
    """Change a profile; its phones are marked as needing a reset when a
    configuration field changes (R9)."""
    changes = body.model_dump(include=body.model_fields_set)
    if "name" in changes:
        changes["new_name"] = changes.pop("name")
    with admin.acting_as(who.actor):
        record = await admin.update_profile(ctx.store, name, **changes)
    usage = await admin.profile_usage(ctx.store)
    return ProfileOut.of(record, usage.get(record.name, 0))


@router.delete("/profiles/{name}", status_code=204, operation_id="delete_profile")
async def delete_profile(ctx: Ctx, who: Who, name: ProfileName) -> Response:
    """Delete a profile no phone uses."""
    with admin.acting_as(who.actor):
        await admin.delete_profile(ctx.store, name)
    return Response(status_code=204)
