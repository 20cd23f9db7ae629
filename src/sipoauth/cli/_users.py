"""End users and desk-phone activation codes: `sipoauth users …`, `sipoauth activation-codes …`.

Thin adapters over `sipoauth.admin`. Passwords are never taken on the command
line (they would show in `ps` and shell history): `--password-file` or
`--password-stdin`. An activation code is printed once, when it is made: by
`generate`, or by `export` (which makes new codes for the phones it lists).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._admin import JsonOpt, _admin_call
from ._context import emit_table, fail

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import GrantRecord, Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

users_app = typer.Typer(help="End users (soft-client sign-in, phone owners).", no_args_is_help=True)
activation_codes_app = typer.Typer(
    help="Activation codes: onboarding desk phones without credentials.", no_args_is_help=True
)

PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the password from the first line of this file.",
        dir_okay=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


def _read_password(password_file: Path | None, password_stdin: bool) -> str | None:
    """The password from a file or stdin (first line, without its line end)."""
    if password_file is not None and password_stdin:
        raise fail("give --password-file or --password-stdin, not both")
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise fail(f"cannot read {password_file}: {exc}") from None
    elif password_stdin:
        text = sys.stdin.readline()
    else:
        return None
    lines = text.splitlines()
    return lines[0] if lines else ""


def _revoked(grants: list[GrantRecord]) -> str:
    return f"{len(grants)} grant(s) revoked"


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="User id: letters, digits, '.', '_', '@', '-'.")],
    display_name: Annotated[str, typer.Option("--display-name", help="Name shown.")] = "",
    password_file: PasswordFileOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Add an end user (without a password, they cannot sign in until one is set)."""
    password = _read_password(password_file, password_stdin)
    _admin_call(
        ctx,
        lambda store: admin.add_user(store, user_id, password=password, display_name=display_name),
    )
    typer.echo(f"user {user_id} added" + ("" if password else " (no password: cannot sign in)"))


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List end users."""

    async def action(store: Store) -> list[dict[str, Any]]:
        return [
            {
                "user_id": u.user_id,
                "display_name": u.display_name,
                "active": u.active,
                "password": u.password_hash is not None,
                "created_at": u.created_at.isoformat(),
                "updated_at": u.updated_at.isoformat(),
            }
            for u in await admin.list_users(store)
        ]

    columns = ["user_id", "display_name", "active", "password", "created_at"]
    emit_table(_admin_call(ctx, action), columns, as_json)


@users_app.command("show")
def users_show(ctx: typer.Context, user_id: str, as_json: JsonOpt = False) -> None:
    """Show an end user with the devices they own."""
    detail = _admin_call(ctx, lambda store: admin.get_user_detail(store, user_id))
    user = detail.user
    data = {
        "user_id": user.user_id,
        "display_name": user.display_name,
        "active": user.active,
        "password": user.password_hash is not None,
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
        "devices": [
            {
                "name": d.name,
                "model": d.model,
                "type": d.device_type,
                "lines": [line.dn for line in d.lines],
                "profile": d.profile_name,
            }
            for d in detail.devices
        ],
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"User id:      {user.user_id}")
    typer.echo(f"Display name: {user.display_name or '-'}")
    typer.echo(f"Active:       {'yes' if user.active else 'no'}")
    typer.echo(f"Password set: {'yes' if user.password_hash is not None else 'no'}")
    typer.echo("Devices:")
    emit_table(data["devices"], ["name", "model", "type", "lines", "profile"], False)


@users_app.command("set-password")
def users_set_password(
    ctx: typer.Context,
    user_id: str,
    password_file: PasswordFileOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Set a user's password (from --password-file or --password-stdin)."""
    password = _read_password(password_file, password_stdin)
    if password is None:
        raise fail("give the password with --password-file or --password-stdin")
    _admin_call(ctx, lambda store: admin.set_user_password(store, user_id, password))
    typer.echo(f"password of {user_id} set")


@users_app.command("activate")
def users_activate(ctx: typer.Context, user_id: str) -> None:
    """Let a user sign in again."""
    _admin_call(
        ctx, lambda store: admin.set_user_active(store, user_id, True, now=datetime.now(UTC))
    )
    typer.echo(f"user {user_id} activated")


@users_app.command("deactivate")
def users_deactivate(ctx: typer.Context, user_id: str) -> None:
    """Stop a user signing in and revoke every grant of theirs (devices re-register)."""
    revoked = _admin_call(
        ctx, lambda store: admin.set_user_active(store, user_id, False, now=datetime.now(UTC))
    )
    typer.echo(f"user {user_id} deactivated; {_revoked(revoked)}")


@users_app.command("delete")
def users_delete(ctx: typer.Context, user_id: str) -> None:
    """Delete a user after revoking every grant of theirs."""
    revoked = _admin_call(
        ctx, lambda store: admin.delete_user(store, user_id, now=datetime.now(UTC))
    )
    typer.echo(f"user {user_id} deleted; {_revoked(revoked)}")


@activation_codes_app.command("generate")
def activation_codes_generate(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="The desk phone (SEP<MAC> or BAT<hex>).")],
    as_json: JsonOpt = False,
) -> None:
    """Make a new activation code for a desk phone (replaces its previous one).

    The code is shown once: give it to the phone's user.
    """
    code, expires_at = _admin_call(
        ctx,
        lambda store: admin.generate_activation_code(store, device, now=datetime.now(UTC)),
    )
    name = device.upper()  # desk phone names are upper-case
    if as_json:
        typer.echo(json.dumps({"device": name, "code": code, "expires_at": expires_at.isoformat()}))
        return
    typer.echo(f"Activation code for {name}: {admin.format_activation_code(code)}")
    typer.echo(f"Expires: {expires_at.isoformat()}")


@activation_codes_app.command("release")
def activation_codes_release(ctx: typer.Context, device: str) -> None:
    """Withdraw a desk phone's pending activation code."""
    _admin_call(ctx, lambda store: admin.release_activation_code(store, device))
    typer.echo(f"activation code of {device.upper()} released")


@activation_codes_app.command("list")
def activation_codes_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List pending activation codes (never the codes themselves)."""

    async def action(store: Store) -> list[dict[str, Any]]:
        return [
            {
                "device": c.device,
                "model": c.model,
                "owner": c.owner,
                "created_at": c.created_at.isoformat(),
                "expires_at": c.expires_at.isoformat(),
                "expired": c.expired,
            }
            for c in await admin.list_activation_codes(store, now=datetime.now(UTC))
        ]

    columns = ["device", "model", "owner", "created_at", "expires_at", "expired"]
    emit_table(_admin_call(ctx, action), columns, as_json)


@activation_codes_app.command("export")
def activation_codes_export(
    ctx: typer.Context,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            help="A desk phone; repeat for more. Default: every desk phone with "
            "Requires Activation Code for Onboarding.",
        ),
    ] = None,
) -> None:
    """Export Activation Codes as CSV (device,model,owner,activation_code,expires_at).

    Codes are stored hashed and cannot be read back: this generates new codes,
    which REPLACES THE PHONES' PREVIOUS CODES. Redirect the output to a file
    (`> codes.csv`) and hand it over safely.
    """
    text = _admin_call(
        ctx,
        lambda store: admin.export_activation_codes_csv(
            store, device or None, now=datetime.now(UTC)
        ),
    )
    sys.stdout.write(text)
    sys.stdout.flush()
