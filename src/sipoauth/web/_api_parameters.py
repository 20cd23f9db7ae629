"""REST routes: enterprise and service parameters (issue 4 point 1), authz keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import Field, StrictBool, StrictInt, StrictStr

from sipoauth import admin

from ._api_base import Body, Ctx, Out, Who

__all__ = ["keys_router", "parameters_router"]

parameters_router = APIRouter(tags=["parameters"])
keys_router = APIRouter(tags=["keys"])

ParameterName = Annotated[
    str,
    Path(
        description="The parameter's key (`enterprise.oauth_access_token_minutes`) "
        "or its display name, any case.",
        max_length=200,
    ),
]


class ChoiceOut(Out):
    """One allowed value of a `choice` parameter."""

    value: str = Field(description="The value to set.")
    label: str = Field(description="How the pages show it.")


class ParameterOut(Out):
    """A parameter, its definition and its value in force."""

    key: str = Field(description="Settings key; use it (or the name) in URLs.")
    name: str = Field(description="Display name, as on the reference system's pages.")
    group: str = Field(description="`SSO and OAuth Configuration` or `Service Parameters`.")
    kind: admin.ParameterKind = Field(description="How the value is parsed.")
    description: str = Field(description="What it does.")
    value: bool | int | str | None = Field(description="The value in force.")
    display: str = Field(description="The value as the pages show it.")
    default: bool | int | str | None = Field(description="The value when never changed.")
    is_default: bool = Field(description="The value is the default.")
    range: str = Field(description="The allowed values, in words.")
    minimum: int | None = Field(description="Smallest value (kind `int`).")
    maximum: int | None = Field(description="Largest value (kind `int`).")
    choices: list[ChoiceOut] = Field(description="Allowed values (kind `choice`).")
    changed: bool = Field(description="This request changed the value.")
    refresh_tokens_revoked: int = Field(
        description="Refresh tokens this change revoked (refresh-token lifetime only)."
    )

    @classmethod
    def of(cls, item: admin.ParameterValue) -> ParameterOut:
        p = item.parameter
        value = item.value
        default = p.default
        return cls(
            key=p.key,
            name=p.name,
            group=p.group,
            kind=p.kind,
            description=p.description,
            value=value if isinstance(value, bool | int | str) else None,
            display=item.display,
            default=default if isinstance(default, bool | int | str) else None,
            is_default=item.is_default,
            range=p.range_text,
            minimum=p.minimum,
            maximum=p.maximum,
            choices=[ChoiceOut(value=v, label=label) for v, label in p.choices],
            changed=item.changed,
            refresh_tokens_revoked=item.refresh_tokens_revoked,
        )


class ParameterSet(Body):
    """A new value for a parameter."""

    value: StrictStr | StrictBool | StrictInt = Field(
        description="The value: a string as an operator types it (`Enabled`, `60`, "
        "`explicit`…), or a JSON boolean / integer for bool and int parameters."
    )


@parameters_router.get("/parameters", operation_id="list_parameters")
async def list_parameters(ctx: Ctx) -> list[ParameterOut]:
    """Every parameter with its value, in table order."""
    return [ParameterOut.of(item) for item in await admin.list_parameters(ctx.store)]


@parameters_router.get("/parameters/{name}", operation_id="get_parameter")
async def get_parameter(ctx: Ctx, name: ParameterName) -> ParameterOut:
    """One parameter (by key or display name)."""
    wanted = admin.find_parameter(name)
    items = await admin.list_parameters(ctx.store)
    return ParameterOut.of(next(item for item in items if item.parameter.key == wanted.key))


@parameters_router.put("/parameters/{name}", operation_id="set_parameter")
async def set_parameter(
    ctx: Ctx, who: Who, name: ParameterName, body: ParameterSet
) -> ParameterOut:
    """Set a parameter; out-of-range values are refused with the range (422)."""
    value = body.value
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    with admin.acting_as(who.actor):
        return ParameterOut.of(await admin.set_parameter(ctx.store, name, text))


@parameters_router.post("/parameters/{name}/reset", operation_id="reset_parameter")
async def reset_parameter(ctx: Ctx, who: Who, name: ParameterName) -> ParameterOut:
    """Put a parameter back to its default."""
    with admin.acting_as(who.actor):
        return ParameterOut.of(await admin.reset_parameter(ctx.store, name))


# -- authz keys ------------------------------------------------------------------------

KeyWhich = Annotated[
    Literal["signing", "encryption"],
    Path(description="`signing` (RS256) or `encryption` (dir + A256GCM)."),
]


class KeyOut(Out):
    """The active authz key, described; never the key itself."""

    purpose: str = Field(description="`authz-signing` or `authz-encryption`.")
    kid: str = Field(description="Key id in token headers.")
    algorithm: str = Field(description="`RS256` or `dir+A256GCM`.")
    created_at: datetime = Field(description="When it was generated.")
    hash: str = Field(description="SHA-256 (hex) to compare across nodes; not the key.")

    @classmethod
    def of(cls, info: admin.KeyInfo) -> KeyOut:
        return cls(
            purpose=info.purpose,
            kid=info.kid,
            algorithm=info.algorithm,
            created_at=info.created_at,
            hash=info.hash,
        )


class KeyRegenerate(Body):
    """Confirmation of a key regeneration: every token stops working."""

    confirm: Literal[True] = Field(
        description="Must be `true`: regenerating invalidates every access and refresh token."
    )


@keys_router.get("/keys/{which}", operation_id="show_authz_key")
async def show_authz_key(ctx: Ctx, which: KeyWhich) -> KeyOut:
    """The active authz key's id, algorithm, age and hash (`show key authz`)."""
    return KeyOut.of(await admin.show_authz_key(ctx.store, which))


@keys_router.post("/keys/{which}/regenerate", operation_id="regenerate_authz_key")
async def regenerate_authz_key(ctx: Ctx, who: Who, which: KeyWhich, body: KeyRegenerate) -> KeyOut:
    """Replace the authz key (publisher only; every token is invalidated)."""
    with admin.acting_as(who.actor):
        info = await admin.regenerate_authz_key(ctx.store, which, node_name=ctx.node_name)
    return KeyOut.of(info)
