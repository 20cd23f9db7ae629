"""`set key regen authz …`, `show key authz …` and `parameters …`.

Thin adapters over `sipoauth.admin` (REFERENCE-BEHAVIOUR "Tokens", "Parameters"):
they parse arguments, ask for confirmation where the reference does, call the
rule and print text, or JSON with `--json`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._admin import JsonOpt, _admin_call
from ._context import emit_table, fail, get_context
from ._light import KeyKind

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

set_app = typer.Typer(help="Change cluster objects, as on the reference command line.")
show_app = typer.Typer(help="Show cluster objects, as on the reference command line.")
_set_key_app = typer.Typer(help="The cluster's keys.", no_args_is_help=True)
_regen_app = typer.Typer(help="Regenerate a key.", no_args_is_help=True)
_show_key_app = typer.Typer(help="The cluster's keys.", no_args_is_help=True)
set_app.add_typer(_set_key_app, name="key")
_set_key_app.add_typer(_regen_app, name="regen")
show_app.add_typer(_show_key_app, name="key")
parameters_app = typer.Typer(
    help="Enterprise (SSO and OAuth Configuration) and service parameters.",
    no_args_is_help=True,
)

WhichArg = Annotated[
    KeyKind,
    typer.Argument(help="signing (RSA 2048, RS256) or encryption (256-bit, A256GCM)."),
]


def _key_json(info: admin.KeyInfo) -> dict[str, str]:
    return {
        "purpose": info.purpose,
        "kid": info.kid,
        "algorithm": info.algorithm,
        "created": info.created_at.isoformat(),
        "hash": info.hash,
    }


def _confirmed(which: str) -> bool:
    prompt = (
        f"Regenerating the authz {which} key makes every issued token invalid; "
        "all devices must obtain new tokens. Continue?"
    )
    try:
        return typer.confirm(prompt, default=False)
    except typer.Abort:  # end of input or Ctrl-C: the answer is no
        return False


@_regen_app.command("authz")
def regen_authz(
    ctx: typer.Context,
    which: WhichArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Regenerate the authz signing or encryption key (publisher only).

    Every access and refresh token becomes invalid; every node reloads its
    keys at once.
    """
    node_name = get_context(ctx).node_name
    command = f"set key regen authz {which}"
    # Refuse on a subscriber before asking anything.
    _admin_call(ctx, lambda store: admin.require_publisher(store, node_name, command))
    if not yes and not _confirmed(which):
        raise fail(f"the authz {which} key was not changed")

    async def action(store: Store) -> admin.KeyInfo:
        return await admin.regenerate_authz_key(store, which, node_name=node_name)

    info: admin.KeyInfo = _admin_call(ctx, action)
    typer.echo(f"authz {which} key regenerated (kid {info.kid}).")
    typer.echo(f"hash: {info.hash}")
    typer.echo("Every node now uses the new key; devices must obtain new tokens.")


@_show_key_app.command("authz")
def show_authz(ctx: typer.Context, which: WhichArg, as_json: JsonOpt = False) -> None:
    """Show the active authz key's id, algorithm, creation time and hash.

    The hash is the same on every node of the cluster; the key never appears.
    """
    info: admin.KeyInfo = _admin_call(ctx, lambda store: admin.show_authz_key(store, which))
    shown = _key_json(info)
    if as_json:
        typer.echo(json.dumps(shown))
        return
    for label, value in shown.items():
        typer.echo(f"{label + ':':<11}{value}")


def _parameter_json(item: admin.ParameterValue) -> dict[str, Any]:
    definition = item.parameter
    return {
        "key": definition.key,
        "name": definition.name,
        "group": definition.group,
        "kind": definition.kind,
        "value": item.value,
        "display": item.display,
        "default": definition.default,
        "is_default": item.is_default,
        "range": definition.range_text,
        "description": definition.description,
    }


@parameters_app.command("list")
def parameters_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the parameters with their values and ranges."""
    items: list[admin.ParameterValue] = _admin_call(ctx, admin.list_parameters)
    rows = [_parameter_json(item) for item in items]
    if not as_json:
        for row, item in zip(rows, items, strict=True):
            row["default"] = item.parameter.display(item.parameter.default)
    emit_table(rows, ["name", "display", "default", "range"], as_json)


def _report(item: admin.ParameterValue) -> None:
    name = item.parameter.name
    if not item.changed:
        typer.echo(f"{name}: {item.display} (unchanged)")
        return
    typer.echo(f"{name}: {item.display}")
    if item.parameter.revokes_refresh_tokens:
        typer.echo(
            f"{item.refresh_tokens_revoked} refresh token(s) revoked; "
            "users sign in again when their access token expires."
        )


@parameters_app.command("set")
def parameters_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Display name (quoted) or key.")],
    value: Annotated[str, typer.Argument(help="New value, e.g. 30, Enabled, explicit.")],
) -> None:
    """Set a parameter; nodes apply it at once."""
    _report(_admin_call(ctx, lambda store: admin.set_parameter(store, name, value)))


@parameters_app.command("reset")
def parameters_reset(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Display name (quoted) or key.")],
) -> None:
    """Put a parameter back to its default."""
    _report(_admin_call(ctx, lambda store: admin.reset_parameter(store, name)))
