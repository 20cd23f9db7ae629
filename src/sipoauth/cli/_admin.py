"""Administration commands: SIP OAuth mode (R7), devices, edges, registrations.

Thin adapters: every rule is in `sipoauth.admin`; these parse options, call it
and print (a table, or JSON with `--json`).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from sipoauth import admin
from sipoauth.store import Store

from ._context import emit_table, fail, get_context, run, with_store

utils_app = typer.Typer(help="Utilities, as on the reference command line.", no_args_is_help=True)
mode_app = typer.Typer(help="SIP OAuth mode of the cluster (R7).", no_args_is_help=True)
utils_app.add_typer(mode_app, name="sipOAuth-mode")
challenge_app = typer.Typer(
    help="How REGISTERs without credentials are challenged: rfc8898 (401 + "
    "WWW-Authenticate) or proxy (407 + Proxy-Authenticate, as deployed phones expect).",
    no_args_is_help=True,
)
utils_app.add_typer(challenge_app, name="sip-challenge-style")
devices_app = typer.Typer(help="Devices and their lines.", no_args_is_help=True)
edges_app = typer.Typer(
    help="Edge (Expressway-C) entries allowed on the SIP MRA port (R6).", no_args_is_help=True
)
registrations_app = typer.Typer(help="Registered devices.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


def _admin_call(ctx: typer.Context, action: Any) -> Any:
    cli = get_context(ctx)
    try:
        return run(lambda: with_store(cli, action))
    except admin.AdminError as exc:
        raise fail(exc.message) from None


def _emit_setting(
    key: str, label: str, value: object, as_json: bool, text: str | None = None
) -> None:
    """One setting: `{"key": value}` with --json, else `Label: text`."""
    if as_json:
        typer.echo(json.dumps({key: value}))
    else:
        typer.echo(f"{label}: {value if text is None else text}")


def _set_mode(ctx: typer.Context, enabled: bool) -> None:
    cli = get_context(ctx)

    async def action(store: Store) -> list[str]:
        return await admin.set_sip_oauth_mode(store, node_name=cli.node_name, enabled=enabled)

    nodes = _admin_call(ctx, action)
    state = "enabled" if enabled else "disabled"
    typer.echo(f"SIP OAuth mode {state} for the cluster.")
    typer.echo(
        "Restart the Cisco CallManager service on every node that registers OAuth devices "
        f"for the change to take effect (restart pending on: {', '.join(nodes)})."
    )


@mode_app.command("enable")
def mode_enable(ctx: typer.Context) -> None:
    """Enable SIP OAuth mode (publisher only; applies to every node)."""
    _set_mode(ctx, True)


@mode_app.command("disable")
def mode_disable(ctx: typer.Context) -> None:
    """Disable SIP OAuth mode (publisher only; applies to every node)."""
    _set_mode(ctx, False)


@mode_app.command("status")
def mode_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show whether SIP OAuth mode is enabled."""
    enabled = _admin_call(ctx, admin.sip_oauth_mode)
    _emit_setting(
        "sip_oauth_mode", "SIP OAuth mode", enabled, as_json, "enabled" if enabled else "disabled"
    )


@challenge_app.command("set")
def challenge_set(
    ctx: typer.Context,
    style: Annotated[str, typer.Argument(help="rfc8898 or proxy.")],
) -> None:
    """Set the challenge style for the cluster (nodes apply it at once)."""
    _admin_call(ctx, lambda store: admin.set_challenge_style(store, style))
    typer.echo(f"SIP challenge style: {style}")


@challenge_app.command("status")
def challenge_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the challenge style."""
    style = _admin_call(ctx, admin.challenge_style)
    _emit_setting("sip_challenge_style", "SIP challenge style", style, as_json)


@devices_app.command("add")
def devices_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="SEP<MAC>, BAT<hex>, or CSF/BOT/TCT/TAB<name>.")],
    model: Annotated[str, typer.Option(help="Phone model (8851…) or soft-client type.")],
    line: Annotated[list[str], typer.Option(help="Directory number; repeat for more.")],
    profile: Annotated[str, typer.Option(help="Phone security profile.")] = admin.DEFAULT_PROFILE,
    owner: Annotated[str | None, typer.Option(help="Owner user id (soft clients).")] = None,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a device with its lines."""

    async def action(store: Store) -> None:
        await admin.add_device(
            store,
            name=name,
            model=model,
            lines=line,
            profile=profile,
            owner=owner,
            description=description,
        )

    _admin_call(ctx, action)
    typer.echo(f"device {name} added")


@devices_app.command("list")
def devices_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List devices."""

    async def action(store: Store) -> list[dict[str, Any]]:
        profiles = {p.name: p for p in await store.profiles.list()}
        rows = []
        for dev in await store.devices.list():
            prof = profiles.get(dev.profile_name)
            rows.append(
                {
                    "name": dev.name,
                    "model": dev.model,
                    "type": dev.device_type,
                    "lines": [ln.dn for ln in dev.lines],
                    "profile": dev.profile_name,
                    "oauth": bool(prof and prof.oauth),
                    "owner": dev.owner_user_id,
                }
            )
        return rows

    emit_table(
        _admin_call(ctx, action), ["name", "model", "type", "lines", "oauth", "profile"], as_json
    )


@devices_app.command("delete")
def devices_delete(ctx: typer.Context, name: str) -> None:
    """Delete a device."""
    _admin_call(ctx, lambda store: admin.delete_device(store, name))
    typer.echo(f"device {name} deleted")


@edges_app.command("add")
def edges_add(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="IP address, host name or FQDN of the edge.")],
    x509_name: Annotated[
        list[str] | None,
        typer.Option("--x509-name", help="Accepted certificate subject name / SAN; repeat."),
    ] = None,
    description: Annotated[str, typer.Option()] = "",
    domain: Annotated[str | None, typer.Option(help="The edge's domain, if different.")] = None,
) -> None:
    """Add an edge entry."""
    _admin_call(
        ctx,
        lambda store: admin.add_edge(
            store,
            address=address,
            x509_names=x509_name or (),
            description=description,
            domain=domain,
        ),
    )
    typer.echo(f"edge {address} added")


@edges_app.command("list")
def edges_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List edge entries."""

    async def action(store: Store) -> list[dict[str, Any]]:
        return [
            {
                "address": e.address,
                "x509_names": list(e.x509_names),
                "domain": e.domain,
                "description": e.description,
            }
            for e in await store.edges.list()
        ]

    emit_table(
        _admin_call(ctx, action), ["address", "x509_names", "domain", "description"], as_json
    )


@edges_app.command("delete")
def edges_delete(ctx: typer.Context, address: str) -> None:
    """Delete an edge entry."""
    _admin_call(ctx, lambda store: admin.delete_edge(store, address))
    typer.echo(f"edge {address} deleted")


@registrations_app.command("list")
def registrations_list(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option(help="Only this device.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registrations (as mirrored by the nodes, at most ~1 s behind)."""

    async def action(store: Store) -> list[dict[str, Any]]:
        return [
            {
                "device": r.device_name,
                "aor": r.aor,
                "contact": r.contact,
                "node": r.node_name,
                "path": list(r.path),
                "expires_at": r.expires_at.isoformat(),
            }
            for r in await store.registrations.list(device_name=device)
        ]

    rows = _admin_call(ctx, action)
    emit_table(rows, ["device", "aor", "node", "expires_at", "contact"], as_json)
    if not as_json:
        sys.stdout.flush()
