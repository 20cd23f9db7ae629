"""System commands: servers, licensing, certificates, MRA service domains, audit.

Thin adapters over `sipoauth.admin` (issue 4 points 2, 4, 5, 7, 12): parse
options, call the rule, print a table or, with `--json`, JSON. Every command
of `sipoauth` is audited as the OS user through the `cli` interface
(`cli_actor`, entered by the root callback), unless a caller such as the
`admin:` shell says who acts already.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ._context import emit_table, fail, get_context, run, with_store
from ._light import PORT_FIELDS

if TYPE_CHECKING:
    from sipoauth import admin
    from sipoauth.store import NodeRole, Store
else:
    from ._light import admin  # imported at its first use (see _light.py)

T = TypeVar("T")

servers_app = typer.Typer(help="Servers of the cluster and their ports (R5).", no_args_is_help=True)
license_app = typer.Typer(
    help="Smart licensing and export-controlled functionality (R2.2).", no_args_is_help=True
)
certificates_app = typer.Typer(
    help="Certificates: tomcat (this node's identity) and the trust stores (R3, R5).",
    no_args_is_help=True,
)
mra_domains_app = typer.Typer(help="MRA service domains.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of administrative changes.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return "unknown"


@contextlib.contextmanager
def cli_actor() -> Iterator[admin.Actor]:
    """Audit what runs inside as the OS user through `cli` (issue 4 point 12),
    unless an actor is set already (the `admin:` shell sets its own)."""
    actor = admin.current_actor()
    if actor != admin.Actor("system", "system"):
        yield actor
        return
    with admin.acting_as(admin.Actor(os_user(), "cli")) as mine:
        yield mine


def _call(ctx: typer.Context, action: Callable[[Store], Awaitable[T]]) -> T:
    cli = get_context(ctx)
    try:
        with cli_actor():
            return run(lambda: with_store(cli, action))
    except admin.AdminError as exc:
        raise fail(exc.message) from None


def _json(value: object) -> None:
    json.dump(value, sys.stdout, default=str, indent=2)
    sys.stdout.write("\n")


# -- utils sipOAuth-mode status (registered in _admin.py) -------------------------------


def show_mode_status(ctx: typer.Context, as_json: bool) -> None:
    """The flag and, per node, whether its running CallManager applied it (R7, R8)."""
    status = _call(ctx, admin.sip_oauth_mode_status)
    nodes = [
        {
            "node": n.node_name,
            "role": n.role,
            "callmanager": n.state,
            "running_mode": n.running_mode,
            "applied": n.applied,
            "restart_pending": n.restart_pending,
        }
        for n in status.nodes
    ]
    if as_json:
        typer.echo(json.dumps({"sip_oauth_mode": status.enabled, "nodes": nodes}))
        return
    typer.echo(f"SIP OAuth mode: {'enabled' if status.enabled else 'disabled'}")
    for n in status.nodes:
        if n.applied:
            state = "applied by the running Cisco CallManager"
        else:
            state = f"not applied (Cisco CallManager {n.state}"
            state += ", restart pending)" if n.restart_pending else ")"
        typer.echo(f"  {n.node_name} ({n.role}): {state}")


# -- servers ---------------------------------------------------------------------------

_PORT_OPTIONS = {
    "sip_port": "--sip-port",
    "secure_sip_port": "--secure-sip-port",
    "oauth_port": "--sip-oauth-port",
    "mra_port": "--sip-mra-port",
    "web_port": "--web-port",
    "tftp_port": "--tftp-port",
    "tftp_secure_port": "--tftp-secure-port",
}


def _port(field: str) -> Any:
    return typer.Option(_PORT_OPTIONS[field], help=f"{PORT_FIELDS[field]}.")


SipPort = Annotated[int | None, _port("sip_port")]
SecureSipPort = Annotated[int | None, _port("secure_sip_port")]
OAuthPort = Annotated[int | None, _port("oauth_port")]
MraPort = Annotated[int | None, _port("mra_port")]
WebPort = Annotated[int | None, _port("web_port")]
TftpPort = Annotated[int | None, _port("tftp_port")]
TftpSecurePort = Annotated[int | None, _port("tftp_secure_port")]


def _server_row(node: Any) -> dict[str, Any]:
    return {
        "name": node.name,
        "host": node.host,
        "role": node.role,
        **{field: getattr(node, field) for field in admin.PORT_FIELDS},
    }


@servers_app.command("list")
def servers_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the servers, the publisher first."""
    rows = [_server_row(n) for n in _call(ctx, admin.list_servers)]
    emit_table(rows, ["name", "host", "role", *admin.PORT_FIELDS], as_json)


@servers_app.command("add")
def servers_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Server name.")],
    host: Annotated[str, typer.Option(help="IP address, host name or FQDN.")],
    role: Annotated[str, typer.Option(help="publisher or subscriber.")] = "subscriber",
    sip_port: SipPort = None,
    secure_sip_port: SecureSipPort = None,
    oauth_port: OAuthPort = None,
    mra_port: MraPort = None,
    web_port: WebPort = None,
    tftp_port: TftpPort = None,
    tftp_secure_port: TftpSecurePort = None,
) -> None:
    """Add a server (one publisher per cluster)."""
    given = {
        "sip_port": sip_port,
        "secure_sip_port": secure_sip_port,
        "oauth_port": oauth_port,
        "mra_port": mra_port,
        "web_port": web_port,
        "tftp_port": tftp_port,
        "tftp_secure_port": tftp_secure_port,
    }
    ports = {field: port for field, port in given.items() if port is not None}
    if role not in ("publisher", "subscriber"):
        raise fail(f"role {role!r}: publisher or subscriber")
    chosen: NodeRole = "publisher" if role == "publisher" else "subscriber"
    _call(ctx, lambda store: admin.add_server(store, name, host, chosen, **ports))
    typer.echo(f"server {name} added ({role})")


@servers_app.command("set-ports")
def servers_set_ports(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Server name.")],
    sip_port: SipPort = None,
    secure_sip_port: SecureSipPort = None,
    oauth_port: OAuthPort = None,
    mra_port: MraPort = None,
    web_port: WebPort = None,
    tftp_port: TftpPort = None,
    tftp_secure_port: TftpSecurePort = None,
) -> None:
    """Change a server's ports (each 1024-49151, all different)."""
    given = {
        "sip_port": sip_port,
        "secure_sip_port": secure_sip_port,
        "oauth_port": oauth_port,
        "mra_port": mra_port,
        "web_port": web_port,
        "tftp_port": tftp_port,
        "tftp_secure_port": tftp_secure_port,
    }
    ports = {field: port for field, port in given.items() if port is not None}
    if not ports:
        raise fail(f"give at least one port: {', '.join(_PORT_OPTIONS.values())}")
    node = _call(ctx, lambda store: admin.set_server_ports(store, name, **ports))
    typer.echo(f"server {node.name}: ports saved")
    typer.echo("Restart the services listening on changed ports for them to take effect (R8).")


@servers_app.command("delete")
def servers_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Server name.")]
) -> None:
    """Delete a subscriber (not the publisher, not this server)."""
    cli = get_context(ctx)
    _call(ctx, lambda store: admin.delete_server(store, name, node_name=cli.node_name))
    typer.echo(f"server {name} deleted")


# -- license ---------------------------------------------------------------------------


def _license_json(status: admin.LicenseStatus) -> dict[str, Any]:
    return {
        "registration": status.registration,
        "virtual_account": status.virtual_account,
        "product_instance": status.product_instance,
        "registered_at": None if status.registered_at is None else status.registered_at.isoformat(),
        "export_controlled_allowed": status.export_controlled_allowed,
        "sip_oauth_mode": status.sip_oauth_mode,
    }


def _print_license(status: admin.LicenseStatus, as_json: bool = False) -> None:
    if as_json:
        _json(_license_json(status))
        return
    typer.echo(f"Registration status: {status.registration}")
    if status.registration == "registered":
        typer.echo(f"Virtual account: {status.virtual_account}")
        typer.echo(f"Product instance: {status.product_instance}")
        if status.registered_at is not None:
            typer.echo(f"Registered: {status.registered_at:%Y-%m-%d %H:%M} UTC")
    allowed = "allowed" if status.export_controlled_allowed else "not allowed"
    typer.echo(f"Export-controlled functionality: {allowed}")


@license_app.command("status")
def license_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the smart-licensing registration and export-controlled functionality."""
    _print_license(_call(ctx, admin.license_status), as_json)


@license_app.command("register")
def license_register(
    ctx: typer.Context,
    virtual_account: Annotated[str, typer.Option(help="Smart account's virtual account.")],
    allow_export_controlled: Annotated[
        bool,
        typer.Option(
            "--allow-export-controlled", help="Allow export-controlled functionality (R2.2)."
        ),
    ] = False,
) -> None:
    """Register the cluster for licensing (publisher only)."""
    cli = get_context(ctx)
    status = _call(
        ctx,
        lambda store: admin.register_license(
            store,
            virtual_account=virtual_account,
            allow_export_controlled=allow_export_controlled,
            node_name=cli.node_name,
        ),
    )
    _print_license(status)


@license_app.command("deregister")
def license_deregister(ctx: typer.Context) -> None:
    """Deregister the cluster (publisher only; not while SIP OAuth mode is enabled)."""
    cli = get_context(ctx)
    _print_license(
        _call(ctx, lambda store: admin.deregister_license(store, node_name=cli.node_name))
    )


@license_app.command("allow-export-controlled")
def license_allow_export_controlled(
    ctx: typer.Context,
    state: Annotated[str, typer.Argument(help="on or off.")],
) -> None:
    """Allow (on) or disallow (off) export-controlled functionality (publisher only)."""
    word = state.strip().lower()
    if word not in ("on", "off"):
        raise fail(f"{state!r}: on or off")
    cli = get_context(ctx)
    status = _call(
        ctx,
        lambda store: admin.set_export_controlled(store, word == "on", node_name=cli.node_name),
    )
    _print_license(status)


# -- certificates ----------------------------------------------------------------------


def _cert_row(info: admin.CertificateInfo) -> dict[str, Any]:
    return {
        "store": info.store_name,
        "subject": info.subject,
        "issuer": info.issuer,
        "not_before": None if info.not_before is None else info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "fingerprint": info.fingerprint,
    }


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the {what} file {path}: {exc.strerror}") from None


@certificates_app.command("list")
def certificates_list(
    ctx: typer.Context,
    store_name: Annotated[str, typer.Argument(metavar="STORE", help="tomcat or a trust store.")],
    as_json: JsonOpt = False,
) -> None:
    """List a store's certificates with subject, issuer, validity and SHA-256 fingerprint."""
    node = get_context(ctx).node_name
    infos = _call(ctx, lambda store: admin.list_certificates(store, store_name, node_name=node))
    emit_table(
        [_cert_row(i) for i in infos],
        ["subject", "issuer", "not_before", "not_after", "fingerprint"],
        as_json,
    )


@certificates_app.command("upload")
def certificates_upload(
    ctx: typer.Context,
    store_name: Annotated[str, typer.Argument(metavar="STORE", help="The trust store.")],
    file: Annotated[Path, typer.Argument(help="Certificate or chain, PEM or DER.")],
) -> None:
    """Upload a certificate or chain to a trust store (all or nothing)."""
    data = _read(file, "certificate")
    infos = _call(ctx, lambda store: admin.upload_trust(store, store_name, data))
    for info in infos:
        typer.echo(f"added to {info.store_name}: {info.subject} ({info.fingerprint})")


@certificates_app.command("delete")
def certificates_delete(
    ctx: typer.Context,
    store_name: Annotated[str, typer.Argument(metavar="STORE", help="The trust store.")],
    fingerprint: Annotated[str, typer.Argument(help="SHA-256 fingerprint.")],
) -> None:
    """Delete a certificate from a trust store."""
    _call(ctx, lambda store: admin.delete_certificate(store, store_name, fingerprint))
    typer.echo(f"deleted from {store_name}: {fingerprint}")


def _tomcat_done(info: admin.CertificateInfo) -> None:
    typer.echo(
        f"tomcat: {info.subject} ({info.fingerprint}), valid until {info.not_after:%Y-%m-%d}"
    )
    services = ", ".join(info.restart_pending)
    typer.echo(
        f"Restart pending on this node: {services} (they keep the old certificate until then)."
    )


@certificates_app.command("regenerate")
def certificates_regenerate(
    ctx: typer.Context,
    store_name: Annotated[str, typer.Argument(metavar="STORE", help="tomcat.")],
) -> None:
    """Regenerate this node's tomcat certificate (issued by the cluster CA)."""
    if store_name.strip().lower() != "tomcat":
        raise fail("only the tomcat certificate is regenerated: certificates regenerate tomcat")
    cli = get_context(ctx)
    info = _call(
        ctx,
        lambda store: admin.regenerate_tomcat(store, node_name=cli.node_name),
    )
    _tomcat_done(info)


@certificates_app.command("upload-tomcat")
def certificates_upload_tomcat(
    ctx: typer.Context,
    cert: Annotated[Path, typer.Option("--cert", help="The certificate, PEM.")],
    key: Annotated[Path, typer.Option("--key", help="Its private key, PEM (unencrypted).")],
    chain: Annotated[Path | None, typer.Option("--chain", help="Its issuers, PEM.")] = None,
) -> None:
    """Replace this node's tomcat certificate with an uploaded one."""
    cli = get_context(ctx)
    cert_pem = _read(cert, "certificate")
    key_pem = _read(key, "key")
    chain_pem = None if chain is None else _read(chain, "chain")
    info = _call(
        ctx,
        lambda store: admin.upload_tomcat(
            store,
            node_name=cli.node_name,
            cert_pem=cert_pem,
            key_pem=key_pem,
            chain_pem=chain_pem,
        ),
    )
    _tomcat_done(info)


# -- MRA service domains ---------------------------------------------------------------


def _mra_row(record: Any) -> dict[str, Any]:
    return {"name": record.name, "default": record.is_default, "domains": list(record.domains)}


@mra_domains_app.command("list")
def mra_domains_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the MRA service domains."""
    rows = [_mra_row(r) for r in _call(ctx, admin.list_mra_domains)]
    emit_table(rows, ["name", "default", "domains"], as_json)


@mra_domains_app.command("add")
def mra_domains_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name (1-128 characters).")],
    domain: Annotated[list[str], typer.Option("--domain", help="A DNS name; repeat for more.")],
    default: Annotated[bool, typer.Option("--default", help="Make it the default.")] = False,
) -> None:
    """Add an MRA service domain."""
    _call(ctx, lambda store: admin.add_mra_domain(store, name, domain, is_default=default))
    typer.echo(f"MRA service domain {name} added")


@mra_domains_app.command("set")
def mra_domains_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name.")],
    domain: Annotated[
        list[str] | None, typer.Option("--domain", help="Replace the domains; repeat.")
    ] = None,
    default: Annotated[
        bool | None, typer.Option("--default/--no-default", help="The default flag.")
    ] = None,
) -> None:
    """Change an MRA service domain's domains or default flag."""
    _call(
        ctx,
        lambda store: admin.update_mra_domain(
            store, name, domains=domain or None, is_default=default
        ),
    )
    typer.echo(f"MRA service domain {name} saved")


@mra_domains_app.command("delete")
def mra_domains_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name.")]
) -> None:
    """Delete an MRA service domain (not while phones use it)."""
    _call(ctx, lambda store: admin.delete_mra_domain(store, name))
    typer.echo(f"MRA service domain {name} deleted")


# -- audit -----------------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Rows at most.")] = 100,
    object_type: Annotated[str | None, typer.Option(help="Only this kind of object.")] = None,
    object_id: Annotated[str | None, typer.Option(help="Only this object.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only changes by this actor.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log, newest first."""
    rows = _call(
        ctx,
        lambda store: admin.list_audit(
            store, limit=limit, object_type=object_type, object_id=object_id, actor=actor
        ),
    )
    listed = [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "interface": r.interface,
            "action": r.action,
            "object_type": r.object_type,
            "object_id": r.object_id,
            "detail": dict(r.detail),
        }
        for r in rows
    ]
    if as_json:
        _json(listed)
        return
    for row in listed:
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
    emit_table(
        listed, ["at", "actor", "interface", "action", "object_type", "object_id", "detail"], False
    )
