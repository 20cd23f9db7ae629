"""Administration commands: SIP OAuth mode (R7), devices, edges, registrations.

Thin adapters: every rule is in `sipoauth.admin`; these parse options, call it
and print (a table, or JSON with `--json`). Changes are audited as the OS
user with interface `cli`, unless the caller (the `admin:` shell) says who
acts already.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._context import emit_table, fail, get_context, run, with_store
from ._light import DEFAULT_GROUP, DEFAULT_PROFILE
from ._system import os_user, show_mode_status

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import DeviceRecord, Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

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
RequiresCodeOpt = Annotated[
    bool | None,
    typer.Option(
        "--requires-activation-code/--no-requires-activation-code",
        help="Requires Activation Code for Onboarding (desk phones).",
    ),
]
AllowMraOpt = Annotated[
    bool | None,
    typer.Option(
        "--allow-activation-via-mra/--no-allow-activation-via-mra",
        help="Allow Activation Code via MRA (R12.1, desk phones).",
    ),
]
MraDomainOpt = Annotated[
    str | None,
    typer.Option(
        "--mra-service-domain",
        help='Activation Code MRA Service Domain (an existing one; "" for none).',
    ),
]
GroupOpt = Annotated[
    str | None,
    typer.Option(
        "--callmanager-group",
        help="CallManager group: the servers the device registers to, in order "
        f"(callmanager-groups list); {DEFAULT_GROUP} for every server, publisher first.",
    ),
]
PublicHostOpt = Annotated[
    str | None,
    typer.Option(
        "--public-host",
        help="Host name or IP address phones outside reach the edge at (MRA); "
        'default: its address ("" for that).',
    ),
]
PublicSipPortOpt = Annotated[
    int | None,
    typer.Option("--public-sip-port", help="The edge's SIP TLS port for phones outside (5061)."),
]
PublicWebPortOpt = Annotated[
    int | None,
    typer.Option("--public-web-port", help="The edge's HTTPS port for phones outside (8443)."),
]


def _admin_call(ctx: typer.Context, action: Any) -> Any:
    cli = get_context(ctx)
    actor = admin.current_actor()
    if actor == admin.Actor("system", "system"):
        actor = admin.Actor(os_user(), "cli")
    try:
        with admin.acting_as(actor):
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
    """Show SIP OAuth mode and, per node, whether its CallManager applied it (R8)."""
    show_mode_status(ctx, as_json)


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
    profile: Annotated[str, typer.Option(help="Phone security profile.")] = DEFAULT_PROFILE,
    owner: Annotated[str | None, typer.Option(help="Owner (end user id).")] = None,
    description: Annotated[str, typer.Option()] = "",
    oauth_firmware: Annotated[
        bool,
        typer.Option(
            "--oauth-firmware/--no-oauth-firmware", help="The firmware supports SIP OAuth (R2.3)."
        ),
    ] = True,
    requires_activation_code: RequiresCodeOpt = False,
    allow_activation_via_mra: AllowMraOpt = False,
    callmanager_group: GroupOpt = None,
) -> None:
    """Add a device with its lines.

    The Activation Code MRA Service Domain is chosen with `devices set`.
    """

    async def action(store: Store) -> None:
        await admin.add_device(
            store,
            name=name,
            model=model,
            lines=line,
            profile=profile,
            owner=owner,
            description=description,
            oauth_firmware=oauth_firmware,
            requires_activation_code=bool(requires_activation_code),
            allow_activation_via_mra=bool(allow_activation_via_mra),
            callmanager_group=callmanager_group,
        )

    _admin_call(ctx, action)
    typer.echo(f"device {name} added")


def _device_row(dev: DeviceRecord, oauth: bool | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": dev.name,
        "model": dev.model,
        "type": dev.device_type,
        "lines": [ln.dn for ln in dev.lines],
        "profile": dev.profile_name,
        "owner": dev.owner_user_id,
        "description": dev.description,
        "oauth_firmware": dev.oauth_firmware,
        "requires_activation_code": dev.requires_activation_code,
        "allow_activation_via_mra": dev.allow_activation_via_mra,
        "mra_service_domain": dev.mra_service_domain,
        "callmanager_group": dev.callmanager_group,
        "config_version": dev.config_version,
        "reset_required": dev.reset_required,
    }
    if oauth is not None:
        row["oauth"] = oauth
    return row


@devices_app.command("list")
def devices_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List devices."""

    async def action(store: Store) -> list[dict[str, Any]]:
        profiles = {p.name: p for p in await store.profiles.list()}
        rows = []
        for dev in await store.devices.list():
            prof = profiles.get(dev.profile_name)
            rows.append(_device_row(dev, bool(prof and prof.oauth)))
        return rows

    emit_table(
        _admin_call(ctx, action), ["name", "model", "type", "lines", "oauth", "profile"], as_json
    )


@devices_app.command("set")
def devices_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The device.")],
    model: Annotated[str | None, typer.Option(help="Phone model.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[
        str | None, typer.Option(help='Owner: an existing end user id; "" for none.')
    ] = None,
    profile: Annotated[str | None, typer.Option(help="Phone security profile.")] = None,
    line: Annotated[
        list[str] | None,
        typer.Option(help="Directory number; repeat for more (replaces every line)."),
    ] = None,
    oauth_firmware: Annotated[
        bool | None,
        typer.Option(
            "--oauth-firmware/--no-oauth-firmware", help="The firmware supports SIP OAuth (R2.3)."
        ),
    ] = None,
    requires_activation_code: RequiresCodeOpt = None,
    allow_activation_via_mra: AllowMraOpt = None,
    mra_service_domain: MraDomainOpt = None,
    callmanager_group: GroupOpt = None,
) -> None:
    """Change a device; what is not given stays. It then needs Reset / Apply Config."""
    changes: dict[str, Any] = {}
    for key, value in (
        ("model", model),
        ("description", description),
        ("profile", profile),
        ("oauth_firmware", oauth_firmware),
        ("requires_activation_code", requires_activation_code),
        ("allow_activation_via_mra", allow_activation_via_mra),
        ("callmanager_group", callmanager_group),
    ):
        if value is not None:
            changes[key] = value
    if owner is not None:
        changes["owner"] = owner or None
    if mra_service_domain is not None:
        changes["mra_service_domain"] = mra_service_domain or None
    if line is not None:
        changes["lines"] = line

    async def action(store: Store) -> DeviceRecord:
        return await admin.update_device(store, name, **changes)

    record = _admin_call(ctx, action)
    note = " (reset required: devices reset / apply-config)" if record.reset_required else ""
    typer.echo(f"device {record.name} saved{note}")


@devices_app.command("find")
def devices_find(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Name contains (any case).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (any case).")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner user id.")] = None,
    profile: Annotated[str | None, typer.Option(help="Security profile.")] = None,
    device_type: Annotated[
        str | None, typer.Option("--type", help="desk or soft.", case_sensitive=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Find devices, a page at a time, by name."""

    async def action(store: Store) -> tuple[list[DeviceRecord], int]:
        return await admin.find_devices(
            store,
            name_contains=name,
            model=model,
            owner=owner,
            profile=profile,
            device_type=device_type,
            limit=limit,
            offset=offset,
        )

    found, total = _admin_call(ctx, action)
    rows = [_device_row(dev) for dev in found]
    if as_json:
        typer.echo(json.dumps({"total": total, "offset": offset, "limit": limit, "devices": rows}))
        return
    emit_table(
        rows, ["name", "model", "type", "lines", "owner", "profile", "reset_required"], False
    )
    if rows:
        typer.echo(f"{offset + 1}-{offset + len(rows)} of {total}")


def _reset(ctx: typer.Context, name: str, action: admin.ResetAction) -> None:
    version = _admin_call(ctx, lambda store: admin.reset_device(store, name, action=action))
    done = "reset" if action == "reset" else "config applied"
    typer.echo(f"device {name} {done} (config version {version})")


@devices_app.command("reset")
def devices_reset(ctx: typer.Context, name: str) -> None:
    """Reset a device: it restarts and fetches its configuration (NOTIFY when registered)."""
    _reset(ctx, name, "reset")


@devices_app.command("apply-config")
def devices_apply_config(ctx: typer.Context, name: str) -> None:
    """Apply Config: the device fetches its configuration again (NOTIFY when registered)."""
    _reset(ctx, name, "apply-config")


@devices_app.command("import")
def devices_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file, with a header row.", dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Add devices from a CSV file; each row on its own, with a report per row.

    Columns (header row, any order): name, model (required), lines (separated
    by ';'), profile, owner, description, requires_activation_code,
    allow_activation_via_mra, mra_service_domain, oauth_firmware,
    callmanager_group (empty or Default: every server); booleans
    true/false, yes/no, 1/0. Exit status 1 when any row failed.
    """
    try:
        if file.stat().st_size > admin.IMPORT_MAX_BYTES:
            raise fail(f"{file} is larger than {admin.IMPORT_MAX_BYTES} bytes; split it")
        text = file.read_bytes().decode("utf-8")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise fail(f"{file} is not UTF-8 text") from None
    report = _admin_call(ctx, lambda store: admin.import_devices_csv(store, text))
    rows = [{"line": r.line, "device": r.device, "ok": r.ok, "error": r.error} for r in report.rows]
    if as_json:
        typer.echo(
            json.dumps({"added": report.added, "failed": report.failed, "rows": rows}, indent=2)
        )
    else:
        for r in report.rows:
            outcome = "ok" if r.ok else f"error: {r.error}"
            typer.echo(f"line {r.line}: {r.device or '-'}: {outcome}")
        typer.echo(f"{report.added} added, {report.failed} failed")
    if not report.ok:
        raise typer.Exit(1)


@devices_app.command("delete")
def devices_delete(ctx: typer.Context, name: str) -> None:
    """Delete a device.

    Its lines and its pending activation code go with it.
    """
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
    public_host: PublicHostOpt = None,
    public_sip_port: PublicSipPortOpt = 5061,
    public_web_port: PublicWebPortOpt = 8443,
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
            public_host=public_host or None,
            public_sip_port=5061 if public_sip_port is None else public_sip_port,
            public_web_port=8443 if public_web_port is None else public_web_port,
        ),
    )
    typer.echo(f"edge {address} added")


@edges_app.command("set")
def edges_set(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The edge entry's address.")],
    x509_name: Annotated[
        list[str] | None,
        typer.Option("--x509-name", help="Accepted subject name / SAN; repeat (replaces all)."),
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    domain: Annotated[str | None, typer.Option(help='The edge\'s domain; "" for none.')] = None,
    public_host: PublicHostOpt = None,
    public_sip_port: PublicSipPortOpt = None,
    public_web_port: PublicWebPortOpt = None,
) -> None:
    """Change an edge entry; what is not given stays."""
    _admin_call(
        ctx,
        lambda store: admin.update_edge(
            store,
            address,
            description=description,
            x509_names=x509_name,
            domain=domain,
            public_host=public_host,
            public_sip_port=public_sip_port,
            public_web_port=public_web_port,
        ),
    )
    typer.echo(f"edge {address} saved")


def _edge_rows(edges: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "address": e.address,
            "x509_names": list(e.x509_names),
            "domain": e.domain,
            "description": e.description,
            "public_host": e.public_host,
            "public_sip_port": e.public_sip_port,
            "public_web_port": e.public_web_port,
        }
        for e in edges
    ]


_EDGE_COLUMNS = ["address", "x509_names", "domain", "public_host", "description"]


@edges_app.command("list")
def edges_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List edge entries."""
    edges = _admin_call(ctx, admin.find_edges)
    emit_table(_edge_rows(edges), _EDGE_COLUMNS, as_json)


@edges_app.command("find")
def edges_find(
    ctx: typer.Context,
    text: Annotated[
        str | None, typer.Argument(help="Address, name, domain or description contains.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find edge entries (any case)."""
    edges = _admin_call(ctx, lambda store: admin.find_edges(store, text))
    emit_table(_edge_rows(edges), _EDGE_COLUMNS, as_json)


@edges_app.command("delete")
def edges_delete(ctx: typer.Context, address: str) -> None:
    """Delete an edge entry."""
    _admin_call(ctx, lambda store: admin.delete_edge(store, address))
    typer.echo(f"edge {address} deleted")


@registrations_app.command("list")
def registrations_list(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option(help="Only this device.")] = None,
    node: Annotated[str | None, typer.Option(help="Only those held by this node.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registrations (as mirrored by the nodes, at most ~1 s behind)."""

    async def action(store: Store) -> list[dict[str, Any]]:
        views = await admin.list_registrations(
            store, device=device, node=node, now=datetime.now(UTC)
        )
        return [
            {
                "device": r.device,
                "line": r.line,
                "node": r.node,
                "port": r.port,
                "via_edge": r.via_edge,
                "contact": r.contact,
                "expires_at": r.expires_at.isoformat(),
                "seconds_left": r.seconds_left,
            }
            for r in views
        ]

    rows = _admin_call(ctx, action)
    columns = ["device", "line", "node", "port", "via_edge", "seconds_left", "contact"]
    emit_table(rows, columns, as_json)
    if not as_json:
        sys.stdout.flush()
