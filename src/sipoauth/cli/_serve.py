"""`sipoauth init` and `sipoauth serve`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ._context import CliContext, fail, get_context, store_error_text, with_overrides
from ._light import LogLevel

if TYPE_CHECKING:  # the node (web application, uvicorn) is imported by the commands that run it
    from sipoauth.node import InitReport, NodeConfig


def _print_report(report: InitReport, as_json: bool) -> None:
    if as_json:
        return
    for item in report.created:
        typer.echo(f"created: {item}")
    if not report.created:
        typer.echo(f"data directory {report.data_dir}: already initialised")
    for problem in report.web_problems:
        typer.echo(f"warning: web certificate: {problem}", err=True)
    if report.secret_created and report.secret_path is not None:
        typer.echo(
            f"Cluster secret: {report.secret_path}. It opens every private key in the "
            "database: keep a copy apart from database backups, and give one to each "
            "node that joins (sipoauth init --cluster-secret-file)."
        )
    if report.admin_password:
        typer.echo("")
        typer.echo("Admin sign-in (shown once, store it now):")
        typer.echo(f"  user:     {report.admin_user}")
        typer.echo(f"  password: {report.admin_password}")
        typer.echo("")


async def _initialise(
    ctx: CliContext,
    password_file: Path | None,
    secret_file: Path | None = None,
    *,
    replace_lost_secret: bool = False,
) -> InitReport:
    from sipoauth.admin import AdminError
    from sipoauth.node import initialise, read_password_file
    from sipoauth.store import Store, StoreError, read_secret_file

    password = read_password_file(password_file) if password_file else None
    secret = read_secret_file(secret_file) if secret_file else None
    store = await Store.open(ctx.database_url)
    try:
        return await initialise(
            store,
            data_dir=ctx.data_dir,
            hostname=ctx.hostname,
            node_name=ctx.node_name,
            admin_password=password,
            cluster_secret=secret,
            replace_lost_secret=replace_lost_secret,
        )
    except AdminError as exc:
        raise ValueError(exc.message) from None
    except StoreError as exc:
        raise ValueError(store_error_text(exc)) from None
    finally:
        await store.close()


def init_command(
    ctx: typer.Context,
    admin_password_file: Annotated[
        Path | None,
        typer.Option(help="Read the admin password from this file instead of generating one."),
    ] = None,
    cluster_secret_file: Annotated[
        Path | None,
        typer.Option(
            envvar="SIPOAUTH_CLUSTER_SECRET_FILE",
            help="Join a cluster: a copy of cluster.secret from the data directory of "
            "the cluster's first node (kept in this data directory, 0600).",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Database URL (same as the global --database-url), e.g. "
            "postgresql://sipoauth@db.example.com/sipoauth for a cluster.",
        ),
    ] = None,
    replace_lost_cluster_secret: Annotated[
        bool,
        typer.Option(
            help="Every copy of the cluster secret is lost (publisher, all nodes stopped): "
            "drop the keys sealed under it and make new ones. Every access token and "
            "activation code stops working; grants and settings stay.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the data directory, cluster secret, CA, web certificate, authz keys,
    schema and admin account; or join the cluster whose database is given.

    Safe to run again: what exists is reused unchanged. The first node of a
    database makes the cluster secret (cluster.secret in its data directory);
    every other node is initialised with a copy (--cluster-secret-file).
    """
    cli = with_overrides(get_context(ctx), database_url=database)
    try:
        report = asyncio.run(
            _initialise(
                cli,
                admin_password_file,
                cluster_secret_file,
                replace_lost_secret=replace_lost_cluster_secret,
            )
        )
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        json.dump(
            {
                "data_dir": str(report.data_dir),
                "database_url": _redact(report.database_url),
                "created": report.created,
                "admin_user": report.admin_user,
                "admin_password": report.admin_password,
                "ca_fingerprint": report.ca_fingerprint,
                "web_fingerprint": report.web_fingerprint,
                "cluster_secret_file": (
                    None if report.secret_path is None else str(report.secret_path)
                ),
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        _print_report(report, as_json=False)


def serve_command(
    ctx: typer.Context,
    bind: Annotated[str, typer.Option(help="Address the listeners bind to.")] = "0.0.0.0",  # noqa: S104
    admin_password_file: Annotated[
        Path | None, typer.Option(help="First start: read the admin password from this file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the listeners as one JSON line.")
    ] = False,
    log_level: Annotated[
        LogLevel, typer.Option(help="debug, info, warning or error (logs go to stderr).")
    ] = "info",
    log_json: Annotated[bool, typer.Option(help="Logs as JSON lines.")] = False,
    node: Annotated[
        str | None,
        typer.Option("--node", help="This node's server name (same as the global --node)."),
    ] = None,
) -> None:
    """Start a node: initialise on first start, open the listeners, run until SIGINT/SIGTERM.

    A node joining a cluster is initialised first (sipoauth init
    --cluster-secret-file); serve then needs only the data directory, the
    database URL and the node's name.
    """
    from sipoauth.node import NodeConfig
    from sipoauth.node._logging import configure_logging

    configure_logging(log_level, json=log_json)
    cli = with_overrides(get_context(ctx), node_name=node)
    config = NodeConfig(
        data_dir=cli.data_dir,
        database_url=cli.database_url,
        node_name=cli.node_name,
        hostname=cli.hostname,
        bind=bind,
    )
    try:
        run_loop(_serve(cli, config, admin_password_file, as_json))
    except (OSError, ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from None


T = TypeVar("T")


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's loop; its
    result. (Measured on the edge: ~87 KiB per idle relayed flow on uvloop
    against ~570 KiB on asyncio's loop, whose TLS read buffers are 256 KiB.)"""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def _serve(
    cli: CliContext, config: NodeConfig, password_file: Path | None, as_json: bool
) -> None:
    from sipoauth.node import Node
    from sipoauth.node._memory import tune_gc

    # Handle SIGINT/SIGTERM from the very start: a supervisor may stop the node as
    # soon as it sees the listeners printed.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # init waits its turn when other nodes initialise the database at the same
    # moment (Store.init_lock); a signal meanwhile ends the wait and the process.
    initialising = asyncio.ensure_future(_initialise(cli, password_file))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({initialising, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not initialising.done():
        initialising.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await initialising
        return
    report = initialising.result()
    _print_report(report, as_json)
    node = await Node.open(config)
    try:
        listeners = await node.start()
        tune_gc()  # a process-wide choice, so made here and not inside Node
        if as_json:
            print(
                json.dumps(
                    {
                        "node": config.node_name,
                        "listeners": [
                            {
                                "service": x.service,
                                "name": x.name,
                                "protocol": x.protocol,
                                "host": x.host,
                                "port": x.port,
                            }
                            for x in listeners
                        ],
                    }
                ),
                flush=True,
            )
        else:
            mode = "enabled" if node.directory.oauth_mode else "disabled"
            typer.echo(
                f"node {config.node_name} ({config.hostname}), database "
                f"{_redact(config.database_url)}, SIP OAuth mode {mode}"
            )
            for x in listeners:
                typer.echo(f"  {x.service:<18} {x.name:<34} {x.protocol:<5} {x.host}:{x.port}")
            if not node.directory.oauth_mode:
                typer.echo(
                    "  (enable: sipoauth license register --virtual-account NAME "
                    "--allow-export-controlled; sipoauth utils sipOAuth-mode enable; "
                    'sipoauth utils service restart "Cisco CallManager")'
                )
            if node.authz is not None:
                issuer = node.authz.endpoints.issuer
                meta = f"{issuer}/.well-known/oauth-authorization-server"
                typer.echo(f"OAuth issuer {issuer} (metadata: {meta})")
            web = next((x for x in listeners if x.service == "Cisco Tomcat"), None)
            if web is not None:
                typer.echo(f"Web administration https://{config.hostname}:{web.port}/admin/")
            typer.echo("Ctrl-C stops the node.")
            sys.stdout.flush()
        await stop.wait()
        if not as_json:
            typer.echo("stopping")
    finally:
        with contextlib.suppress(Exception):
            await node.close()


def _redact(url: str) -> str:
    """A database URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
