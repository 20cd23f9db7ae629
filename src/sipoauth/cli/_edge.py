"""`sipoauth edge init` and `sipoauth edge serve`: the edge proxy (issue 6 point 3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._context import fail
from ._light import LogLevel
from ._serve import run_loop

if TYPE_CHECKING:  # the edge (simulators, httpx, uvicorn) is imported by the commands
    from sipoauth.sim._edge_config import EdgeConfig

__all__ = ["edge_app"]

edge_app = typer.Typer(
    help="The edge proxy for devices outside (an Expressway-C/E pair in one process).",
    no_args_is_help=True,
)

EdgeDir = Annotated[
    Path,
    typer.Option(
        "--edge-dir",
        help="The edge's directory: its CA, certificates and keys (made by 'edge init').",
    ),
]


@edge_app.command("init")
def init_command(
    edge_dir: EdgeDir,
    name: Annotated[
        str,
        typer.Option(
            "--name",
            help="The edge's host name as devices reach it: CN and SAN of its "
            "certificates, and its default public host.",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the edge's CA, its certificate for devices and its client certificate
    for the nodes. Safe to run again: a complete directory is reused unchanged."""
    from sipoauth.pki import PkiError
    from sipoauth.sim._edge_pki import init_edge_dir

    try:
        files, created = init_edge_dir(edge_dir, name, now=datetime.now(UTC))
    except (PkiError, OSError) as exc:
        raise fail(str(exc)) from None
    ca = str(files.ca_cert)
    edges_add = (
        f"sipoauth edges add {shlex.quote(files.name)} --x509-name {shlex.quote(files.name)}"
    )
    if as_json:
        json.dump(
            {
                "edge_dir": str(files.directory),
                "name": files.name,
                "created": created,
                "ca": ca,
                "server_certificate": str(files.server_cert),
                "client_certificate": str(files.client_cert),
                "edges_add": edges_add,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    state = "created" if created else "already initialised, unchanged"
    typer.echo(f"edge {files.name}: directory {files.directory} ({state})")
    typer.echo(f"  CA:                  {ca}")
    typer.echo(
        f"  for devices:         {files.server_cert} (SANs {files.name}, localhost, 127.0.0.1)"
    )
    typer.echo(f"  for the nodes:       {files.client_cert} (clientAuth, CN {files.name})")
    typer.echo("")
    typer.echo("On the publisher, trust the edge CA (phones check the edge with phone-edge-trust,")
    typer.echo("nodes check its client certificate with tomcat-trust), then restart the services")
    typer.echo("that present TLS so they load it:")
    typer.echo(f"  sipoauth certificates upload phone-edge-trust {shlex.quote(ca)}")
    typer.echo(f"  sipoauth certificates upload tomcat-trust {shlex.quote(ca)}")
    for service in ("Cisco CallManager", "Cisco Tomcat", "Cisco TFTP"):
        typer.echo(f'  sipoauth utils service restart "{service}"')
    typer.echo("Add its edge entry (or let 'edge serve' push its certificate names on start):")
    typer.echo(f"  {edges_add}")


@edge_app.command("serve")
def serve_command(
    edge_dir: EdgeDir,
    node: Annotated[
        list[str],
        typer.Option(
            "--node",
            help="A node: HOST[:MRA[:WEB[:TFTP:TFTPS]]] (defaults 5091, 8443, 6970, 6971); "
            "repeat, in order of preference.",
        ),
    ],
    node_ca: Annotated[
        list[Path],
        typer.Option(
            "--node-ca",
            help="CA certificate(s) the nodes' web certificate is checked against "
            "(the node's data-dir/pki/ca.pem); repeat for several.",
        ),
    ],
    bind: Annotated[str, typer.Option(help="Address the listeners bind to.")] = "0.0.0.0",  # noqa: S104
    sip_port: Annotated[
        int, typer.Option(min=0, max=65535, help="SIP over TLS for devices (0: any free port).")
    ] = 5061,
    web_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="HTTPS: OAuth endpoints and config files (0: any free port)."
        ),
    ] = 8443,
    bootstrap_port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="Plain HTTP: caconfig.json and XMLDefault.cnf.xml only (0: any free port).",
        ),
    ] = 6970,
    public_host: Annotated[
        str | None,
        typer.Option(help="Host name devices reach the edge at (Path, push); default: its name."),
    ] = None,
    public_sip_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="SIP port devices reach (in Path); default: the bound SIP port."
        ),
    ] = None,
    description: Annotated[
        str, typer.Option(help="Description sent with the certificate push.")
    ] = "sipoauth edge",
    push: Annotated[
        bool, typer.Option(help="Push the certificate names to the first reachable node on start.")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the listeners as one JSON line.")
    ] = False,
    log_level: Annotated[
        LogLevel, typer.Option(help="debug, info, warning or error (logs go to stderr).")
    ] = "info",
    log_json: Annotated[bool, typer.Option(help="Logs as JSON lines.")] = False,
) -> None:
    """Run the edge until SIGINT/SIGTERM: SIP, HTTPS and HTTP for devices outside,
    relayed to the nodes over mutual TLS."""
    from sipoauth.node._logging import configure_logging
    from sipoauth.pki import PkiError
    from sipoauth.sim._edge_config import EdgeConfig, NodeAddress
    from sipoauth.sim._edge_pki import EdgeFiles

    configure_logging(log_level, json=log_json)
    try:
        files = EdgeFiles.load(edge_dir)
        config = EdgeConfig(
            nodes=tuple(NodeAddress.parse(text) for text in node),
            server_cert=files.server_cert,
            server_key=files.server_key,
            client_cert=files.client_cert,
            client_key=files.client_key,
            node_ca_files=tuple(node_ca),
            public_host=public_host or files.name,
            bind=bind,
            sip_port=sip_port,
            web_port=web_port,
            bootstrap_port=bootstrap_port,
            public_sip_port=public_sip_port,
            description=description,
            push_on_start=push,
        )
        run_loop(_serve(config, as_json))
    except (PkiError, OSError, ValueError) as exc:
        raise fail(str(exc)) from None


async def _serve(config: EdgeConfig, as_json: bool) -> None:
    from sipoauth.sim._edge import Edge

    # Signals first: a supervisor may stop the edge as soon as it sees the listeners.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    edge = Edge(config)
    try:
        listeners = await edge.start()
        if as_json:
            print(
                json.dumps(
                    {
                        "edge": config.public_host,
                        "path": edge.path,
                        "nodes": [str(n) for n in config.nodes],
                        "listeners": [
                            {"name": x.name, "protocol": x.protocol, "host": x.host, "port": x.port}
                            for x in listeners
                        ],
                    }
                ),
                flush=True,
            )
        else:
            nodes = ", ".join(str(n) for n in config.nodes)
            typer.echo(f"edge {config.public_host}, nodes (MRA:web:TFTP:TFTPS) {nodes}")
            for x in listeners:
                typer.echo(f"  {x.name:<30} {x.protocol:<5} {x.host}:{x.port}")
            typer.echo(f"Path: {edge.path}")
            typer.echo("Ctrl-C stops the edge.")
            sys.stdout.flush()
        await stop.wait()
        if not as_json:
            typer.echo("stopping")
    finally:
        with contextlib.suppress(Exception):
            await edge.close()
