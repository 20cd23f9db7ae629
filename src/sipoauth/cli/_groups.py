"""`sipoauth callmanager-groups …`: the ordered servers a device registers to.

Thin adapters over `sipoauth.admin`: the rules (1-16 existing servers, none
twice; a group in use cannot be deleted; new servers mark the group's phones
for reset) are there. ``Default`` is not a stored group: it is every server
of the cluster, the publisher first, the group of a device given none
(``devices set NAME --callmanager-group Default``); ``show Default`` lists it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._admin import JsonOpt, _admin_call
from ._context import emit_table
from ._light import DEFAULT_GROUP

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import CallManagerGroupRecord, Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

callmanager_groups_app = typer.Typer(
    help="CallManager groups: the servers a device registers to, in order (failover). "
    "Devices without one are in Default: every server, the publisher first.",
    no_args_is_help=True,
)

_COLUMNS = ["name", "nodes", "devices", "description"]
_DEFAULT_DESCRIPTION = "every server of the cluster, the publisher first"

NodeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--node", help="A server, in the order devices try them; repeat (1-16, replaces all)."
    ),
]


def _row(group: CallManagerGroupRecord, devices: int) -> dict[str, Any]:
    return {
        "name": group.name,
        "description": group.description,
        "nodes": list(group.nodes),
        "devices": devices,
    }


@callmanager_groups_app.command("list")
def groups_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the CallManager groups, with how many devices each has."""

    async def action(store: Store) -> list[dict[str, Any]]:
        usage = await admin.group_usage(store)
        return [_row(g, usage.get(g.name, 0)) for g in await admin.find_groups(store)]

    emit_table(_admin_call(ctx, action), _COLUMNS, as_json)


@callmanager_groups_app.command("show")
def groups_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"The group, or {DEFAULT_GROUP}.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a group: its servers in order (with their hosts) and its devices."""

    async def action(store: Store) -> dict[str, Any]:
        group = admin.device_group(name)
        nodes = await admin.group_nodes(store, group)
        if group is None:
            devices = [d.name for d in await store.devices.list() if d.callmanager_group is None]
            shown, description = admin.DEFAULT_GROUP, _DEFAULT_DESCRIPTION
        else:
            record = await admin.get_group(store, group)
            devices = await store.callmanager_groups.devices_using(record.name)
            shown, description = record.name, record.description
        return {
            "name": shown,
            "description": description,
            "nodes": [{"name": n.name, "host": n.host, "role": n.role} for n in nodes],
            "devices": devices,
        }

    shown = _admin_call(ctx, action)
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    typer.echo(f"Name:        {shown['name']}")
    typer.echo(f"Description: {shown['description'] or '-'}")
    typer.echo(f"Devices:     {len(shown['devices'])}")
    typer.echo("Servers, in order:")
    emit_table(shown["nodes"], ["name", "host", "role"], False)


@callmanager_groups_app.command("add")
def groups_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name (1-128 characters).")],
    node: NodeOpt = None,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a CallManager group: `--node A --node B` (tried in that order)."""
    _admin_call(
        ctx,
        lambda store: admin.add_group(store, name=name, nodes=node or [], description=description),
    )
    typer.echo(f"CallManager group {name!r} added")


@callmanager_groups_app.command("update")
@callmanager_groups_app.command("set", hidden=True)
def groups_update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The group.")],
    node: NodeOpt = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a group's servers (the whole list, in order) or description; what
    is not given stays. New servers mark its phones for reset."""

    async def action(store: Store) -> tuple[CallManagerGroupRecord, int]:
        record = await admin.update_group(store, name, nodes=node, description=description)
        phones = [
            d
            for d in await store.devices.list()
            if d.callmanager_group == record.name and d.reset_required
        ]
        return record, len(phones)

    record, pending = _admin_call(ctx, action)
    typer.echo(f"CallManager group {record.name!r} saved")
    if pending:
        typer.echo(
            f"{pending} of its phone(s) need a reset for the change to take effect "
            "(devices reset NAME)."
        )


@callmanager_groups_app.command("delete")
def groups_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The group.")]
) -> None:
    """Delete a CallManager group no device is in."""
    _admin_call(ctx, lambda store: admin.delete_group(store, name))
    typer.echo(f"CallManager group {name!r} deleted")
