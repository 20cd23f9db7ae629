"""`sipoauth profiles …`: phone security profiles (R9).

Thin adapters over `sipoauth.admin`: the rules (OAuth only with Encrypted +
TLS, never with digest or encrypted TFTP config; a profile in use cannot be
deleted; a change marks its phones for reset) are there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._admin import JsonOpt, _admin_call
from ._context import emit_table

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import SecurityProfileRecord, Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

profiles_app = typer.Typer(help="Phone security profiles (R9).", no_args_is_help=True)

_MODES = "Non Secure, Authenticated or Encrypted"
_TRANSPORTS = "TCP, UDP, TCP+UDP or TLS"
_TYPES = "Universal Device Template, CSF, BOT, TCT, TAB or a desk model of R1.1 (8851…)"
_COLUMNS = [
    "name",
    "device_type",
    "security_mode",
    "transport",
    "oauth",
    "digest",
    "tftp_encrypted",
    "phones",
]


def _row(profile: SecurityProfileRecord, phones: int) -> dict[str, Any]:
    return {
        "name": profile.name,
        "device_type": profile.device_type,
        "security_mode": profile.security_mode,
        "transport": profile.transport,
        "oauth": profile.oauth,
        "digest": profile.digest,
        "tftp_encrypted": profile.tftp_encrypted,
        "description": profile.description,
        "phones": phones,
    }


@profiles_app.command("list")
def profiles_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the security profiles, with how many phones use each."""

    async def action(store: Store) -> list[dict[str, Any]]:
        usage = await admin.profile_usage(store)
        return [_row(p, usage.get(p.name, 0)) for p in await admin.list_profiles(store)]

    emit_table(_admin_call(ctx, action), _COLUMNS, as_json)


@profiles_app.command("add")
def profiles_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Profile name.")],
    device_type: Annotated[
        str, typer.Option("--device-type", help=f"Device type: {_TYPES}.")
    ] = "Universal Device Template",
    security_mode: Annotated[
        str, typer.Option("--security-mode", help=f"Device Security Mode: {_MODES}.")
    ] = "Non Secure",
    transport: Annotated[
        str, typer.Option("--transport", help=f"Transport Type: {_TRANSPORTS}.")
    ] = "TCP+UDP",
    oauth: Annotated[
        bool, typer.Option("--oauth/--no-oauth", help="Enable OAuth Authentication.")
    ] = False,
    digest: Annotated[
        bool, typer.Option("--digest/--no-digest", help="Enable Digest Authentication.")
    ] = False,
    tftp_encrypted: Annotated[
        bool,
        typer.Option("--tftp-encrypted/--no-tftp-encrypted", help="TFTP Encrypted Config."),
    ] = False,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a security profile. For OAuth: --security-mode Encrypted --transport TLS --oauth."""
    _admin_call(
        ctx,
        lambda store: admin.add_profile(
            store,
            name=name,
            device_type=device_type,
            security_mode=security_mode,
            transport=transport,
            oauth=oauth,
            digest=digest,
            tftp_encrypted=tftp_encrypted,
            description=description,
        ),
    )
    typer.echo(f"security profile {name!r} added")


@profiles_app.command("set")
def profiles_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The profile.")],
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
    device_type: Annotated[
        str | None, typer.Option("--device-type", help=f"Device type: {_TYPES}.")
    ] = None,
    security_mode: Annotated[
        str | None, typer.Option("--security-mode", help=f"Device Security Mode: {_MODES}.")
    ] = None,
    transport: Annotated[
        str | None, typer.Option("--transport", help=f"Transport Type: {_TRANSPORTS}.")
    ] = None,
    oauth: Annotated[
        bool | None, typer.Option("--oauth/--no-oauth", help="Enable OAuth Authentication.")
    ] = None,
    digest: Annotated[
        bool | None, typer.Option("--digest/--no-digest", help="Enable Digest Authentication.")
    ] = None,
    tftp_encrypted: Annotated[
        bool | None,
        typer.Option("--tftp-encrypted/--no-tftp-encrypted", help="TFTP Encrypted Config."),
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a security profile; what is not given stays. Its phones then need a reset."""

    async def action(store: Store) -> tuple[SecurityProfileRecord, int, int]:
        record = await admin.update_profile(
            store,
            name,
            new_name=new_name,
            device_type=device_type,
            security_mode=security_mode,
            transport=transport,
            oauth=oauth,
            digest=digest,
            tftp_encrypted=tftp_encrypted,
            description=description,
        )
        phones = await store.devices.list(profile_name=record.name)
        return record, len(phones), sum(p.reset_required for p in phones)

    record, phones, pending = _admin_call(ctx, action)
    typer.echo(f"security profile {record.name!r} saved")
    if pending:
        typer.echo(
            f"{pending} of its {phones} phone(s) need a reset for the change to take effect "
            "(devices reset NAME)."
        )


@profiles_app.command("delete")
def profiles_delete(ctx: typer.Context, name: str) -> None:
    """Delete a security profile no phone uses."""
    _admin_call(ctx, lambda store: admin.delete_profile(store, name))
    typer.echo(f"security profile {name!r} deleted")
