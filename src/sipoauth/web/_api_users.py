"""REST routes: end users (issue 4 point 9). Passwords go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field, SecretStr

from sipoauth import admin

from ._api_base import Body, Ctx, Out, Who

__all__ = ["router"]

router = APIRouter(tags=["users"])

UserId = Annotated[str, Path(description="The user id.", max_length=128)]


class UserOut(Out):
    """An end user and the devices they own (never the password or its hash)."""

    user_id: str = Field(description="The user id (`sub` of their tokens).")
    display_name: str = Field(description="Name shown.")
    active: bool = Field(description="An inactive user cannot sign in and has no live grants.")
    has_password: bool = Field(description="A password is set (soft-client sign-in).")
    devices: list[str] = Field(description="Devices the user owns, by name.")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")

    @classmethod
    def of(cls, detail: admin.UserDetail) -> UserOut:
        user = detail.user
        return cls(
            user_id=user.user_id,
            display_name=user.display_name,
            active=user.active,
            has_password=user.password_hash is not None,
            devices=[d.name for d in detail.devices],
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class UserNew(Body):
    """A new end user."""

    user_id: str = Field(description="1-128 letters, digits, `._@-`.", max_length=128)
    display_name: str = Field(default="", description="Name shown.", max_length=256)
    password: SecretStr | None = Field(
        default=None, description="8-128 characters; none: the user cannot sign in yet."
    )
    active: bool = Field(default=True, description="May sign in.")


class PasswordSet(Body):
    """A new password (the user's grants stay)."""

    password: SecretStr = Field(description="8-128 characters.")


class UserActive(Out):
    """A user enabled or disabled."""

    user_id: str = Field(description="The user id.")
    active: bool = Field(description="Enabled now.")
    grants_revoked: int = Field(description="Live grants revoked (disabling).")


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


@router.get("/users", operation_id="list_users")
async def list_users(ctx: Ctx) -> list[UserOut]:
    """Every end user with their devices, by user id."""
    return [UserOut.of(detail) for detail in await admin.list_user_details(ctx.store)]


@router.get("/users/{user_id}", operation_id="get_user")
async def get_user(ctx: Ctx, user_id: UserId) -> UserOut:
    """One end user with their devices."""
    return UserOut.of(await admin.get_user_detail(ctx.store, user_id))


@router.post("/users", status_code=201, operation_id="add_user")
async def add_user(ctx: Ctx, who: Who, body: UserNew) -> UserOut:
    """Add an end user."""
    with admin.acting_as(who.actor):
        await admin.add_user(
            ctx.store,
            body.user_id,
            password=_secret(body.password),
            display_name=body.display_name,
            active=body.active,
        )
    return UserOut.of(await admin.get_user_detail(ctx.store, body.user_id))


@router.put("/users/{user_id}/password", status_code=204, operation_id="set_user_password")
async def set_user_password(ctx: Ctx, who: Who, user_id: UserId, body: PasswordSet) -> Response:
    """Replace the user's password."""
    with admin.acting_as(who.actor):
        await admin.set_user_password(ctx.store, user_id, body.password.get_secret_value())
    return Response(status_code=204)


async def _set_active(ctx: Ctx, who: Who, user_id: str, active: bool) -> UserActive:
    with admin.acting_as(who.actor):
        revoked = await admin.set_user_active(ctx.store, user_id, active, now=ctx.now())
    return UserActive(user_id=user_id, active=active, grants_revoked=len(revoked))


@router.post("/users/{user_id}/activate", operation_id="activate_user")
async def activate_user(ctx: Ctx, who: Who, user_id: UserId) -> UserActive:
    """Enable the user."""
    return await _set_active(ctx, who, user_id, True)


@router.post("/users/{user_id}/deactivate", operation_id="deactivate_user")
async def deactivate_user(ctx: Ctx, who: Who, user_id: UserId) -> UserActive:
    """Disable the user: every live grant is revoked at once."""
    return await _set_active(ctx, who, user_id, False)


@router.delete("/users/{user_id}", status_code=204, operation_id="delete_user")
async def delete_user(ctx: Ctx, who: Who, user_id: UserId) -> Response:
    """Delete the user after revoking their grants (their desk phones stay)."""
    with admin.acting_as(who.actor):
        await admin.delete_user(ctx.store, user_id, now=ctx.now())
    return Response(status_code=204)
