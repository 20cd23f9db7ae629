"""The `sipoauth` command line (Typer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sipoauth._defaults import DEFAULT_DATA_DIR, default_hostname

from ._admin import devices_app, edges_app, registrations_app, utils_app
from ._context import make_context
from ._demo import demo_command
from ._edge import edge_app
from ._groups import callmanager_groups_app
from ._keys import parameters_app, set_app, show_app
from ._profiles import profiles_app
from ._serve import init_command, serve_command
from ._services import open_app, service_app
from ._shell_command import shell_command
from ._sim import sim_app
from ._system import (
    audit_app,
    certificates_app,
    cli_actor,
    license_app,
    mra_domains_app,
    servers_app,
)
from ._users import activation_codes_app, users_app

_DATA_DIR = Path(DEFAULT_DATA_DIR)
_HOSTNAME = default_hostname()

app = typer.Typer(
    name="sipoauth",
    help="SIP OAuth mode call-control node.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            envvar="SIPOAUTH_HOME",
            help="Data directory (keys, certificates, embedded database).",
        ),
    ] = _DATA_DIR,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="SIPOAUTH_DATABASE_URL",
            help="Database URL; default: SQLite in the data directory. "
            "A cluster shares one postgresql:// URL.",
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", envvar="SIPOAUTH_NODE", help="This node's server name."),
    ] = None,
    hostname: Annotated[
        str,
        typer.Option("--hostname", envvar="SIPOAUTH_HOSTNAME", help="Host name for certificates."),
    ] = _HOSTNAME,
) -> None:
    """SIP OAuth mode call-control node."""
    ctx.obj = make_context(data_dir, database_url, node, hostname)
    ctx.with_resource(cli_actor())  # audited as the OS user via `cli` (issue 4 point 12)


app.command("init")(init_command)
app.command("serve")(serve_command)
app.command("cli")(shell_command)
utils_app.add_typer(service_app, name="service")
show_app.add_typer(open_app, name="open")
app.add_typer(utils_app, name="utils")
app.add_typer(devices_app, name="devices")
app.add_typer(edges_app, name="edges")
app.add_typer(edge_app, name="edge")
app.add_typer(sim_app, name="sim")
app.command("demo")(demo_command)
app.add_typer(callmanager_groups_app, name="callmanager-groups")
app.add_typer(profiles_app, name="profiles")
app.add_typer(registrations_app, name="registrations")
app.add_typer(users_app, name="users")
app.add_typer(activation_codes_app, name="activation-codes")
app.add_typer(set_app, name="set")
app.add_typer(show_app, name="show")
app.add_typer(parameters_app, name="parameters")
app.add_typer(servers_app, name="servers")
app.add_typer(license_app, name="license")
app.add_typer(certificates_app, name="certificates")
app.add_typer(mra_domains_app, name="mra-domains")
app.add_typer(audit_app, name="audit")


def main() -> None:
    """Console-script entry point."""
    # Files this process creates (database, WAL, keys) are for its user only.
    os.umask(0o077)
    app()
