"""`sipoauth sim phone|softclient|load`: the device simulators (issue 6, B3).

Thin adapters over :mod:`sipoauth.sim`: a command builds the device (or the
load run), prints each step as one status line — or, with ``--json``, one
JSON object per line — and stops it cleanly on Ctrl-C / SIGTERM (the device
unregisters first). Exit status: 0 when the device was stopped, 1 when it
failed or its grant was revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._serve import run_loop

if TYPE_CHECKING:  # the simulators (node, httpx, h11) are imported by the commands
    from rich.console import Console

    from sipoauth.sim import DeviceSettings, EdgeAddress, ServerAddress, SimDevice, SimEvent
    from sipoauth.sim._load import LoadConfig, LoadStatus

sim_app = typer.Typer(
    help="Simulated devices: a desk phone, a soft client, or a load of desk phones.",
    no_args_is_help=True,
)

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="On premises: the node, HOST[:BOOTSTRAP] (bootstrap = TFTP HTTP port, 6970).",
    ),
]
EdgeOpt = Annotated[
    str | None,
    typer.Option(
        "--edge",
        help="Through Mobile and Remote Access: the edge, HOST[:SIP[:WEB[:BOOTSTRAP]]] "
        "(defaults 5061, 8443, 6970).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per event.")]
DurationOpt = Annotated[
    float | None,
    typer.Option("--duration", min=0, help="Stop (and unregister) after SECONDS."),
]
KeepaliveOpt = Annotated[
    float,
    typer.Option("--keepalive", min=1, help="Seconds between CRLF keep-alives (RFC 5626)."),
]
RenewOpt = Annotated[
    float,
    typer.Option(
        "--renew-at", min=0.01, max=0.99, help="Renew the access token at this part of its life."
    ),
]
ProxyFormOpt = Annotated[
    bool,
    typer.Option(
        "--proxy-auth",
        help='Send Proxy-Authorization: Bearer token="…" as deployed phones do '
        "(default: RFC 8898 Authorization: Bearer).",
    ),
]


def _addresses(
    server: str | None, edge: str | None
) -> tuple[ServerAddress | None, EdgeAddress | None]:
    from sipoauth.sim import ConfigError, EdgeAddress, ServerAddress

    if (server is None) == (edge is None):
        raise typer.BadParameter("give --server (on premises) or --edge (through MRA)")
    try:
        if server is not None:
            return ServerAddress.parse(server), None
        assert edge is not None
        return None, EdgeAddress.parse(edge)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def _printer(as_json: bool) -> Callable[[SimEvent], None]:
    def show(event: SimEvent) -> None:
        print(event.to_json() if as_json else event.status_line(), flush=True)

    return show


@contextlib.contextmanager
def _on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT / SIGTERM set ``stop`` (when this is the main thread)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run_device(make: Callable[[], SimDevice], duration: float | None, as_json: bool) -> int:
    stop = asyncio.Event()
    device = make()
    device.log.subscribe(_printer(as_json))
    with _on_signals(stop):
        await device.start()
        ended = asyncio.ensure_future(device.finished())
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ended, waiter}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        final = await device.stop()
    return 0 if final.kind == "stopped" else 1


def _settings(keepalive: float, renew_at: float, proxy_auth: bool) -> DeviceSettings:
    from sipoauth.sim import DeviceSettings

    return DeviceSettings(
        keepalive_interval=keepalive, renew_fraction=renew_at, proxy_form=proxy_auth
    )


@sim_app.command("phone")
def phone_command(
    mac: Annotated[str, typer.Option("--mac", help="The phone's MAC address (12 hex digits).")],
    activation_code: Annotated[
        str,
        typer.Option(
            "--activation-code",
            envvar="SIPOAUTH_ACTIVATION_CODE",
            help="The phone's 16-digit activation code.",
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Phone model (R1.1).")] = "8851",
    server: ServerOpt = None,
    edge: EdgeOpt = None,
    duration: DurationOpt = None,
    as_json: JsonOpt = False,
    keepalive: KeepaliveOpt = 120.0,
    renew_at: RenewOpt = 0.75,
    proxy_auth: ProxyFormOpt = False,
) -> None:
    """A desk phone: onboard with an activation code, then stay registered.

    caconfig.json, the activation-code grant, the config file over 6971, a TLS
    registration per line; then token renewal, keep-alives and NOTIFY
    check-sync until Ctrl-C (it unregisters first) or --duration."""
    from sipoauth.sim import DeskPhone, DeskPhoneConfig

    on_premises, via_edge = _addresses(server, edge)
    config = DeskPhoneConfig(
        mac=mac,
        model=model,
        activation_code=activation_code,
        server=on_premises,
        edge=via_edge,
        settings=_settings(keepalive, renew_at, proxy_auth),
    )
    try:
        code = run_loop(_run_device(lambda: DeskPhone(config), duration, as_json))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(code)


@sim_app.command("softclient")
def softclient_command(
    user: Annotated[str, typer.Option("--user", help="The end user's id.")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            envvar="SIPOAUTH_PASSWORD",
            prompt=True,
            hide_input=True,
            help="The user's password (prompted for when not given).",
        ),
    ],
    client_type: Annotated[
        str, typer.Option("--type", help="CSF, BOT, TCT or TAB (R1.1).")
    ] = "CSF",
    device: Annotated[
        str | None,
        typer.Option("--device", help="The user's soft-client device (default TYPE+USER)."),
    ] = None,
    server: ServerOpt = None,
    edge: EdgeOpt = None,
    duration: DurationOpt = None,
    as_json: JsonOpt = False,
    keepalive: KeepaliveOpt = 120.0,
    renew_at: RenewOpt = 0.75,
    proxy_auth: ProxyFormOpt = False,
) -> None:
    """A soft client: sign in (code + PKCE), then stay registered.

    The sign-in page as a browser fills it, the config file, a TLS registration,
    refresh-token rotation; until Ctrl-C, --duration or revocation."""
    from sipoauth.sim import SoftClient, SoftClientConfig

    on_premises, via_edge = _addresses(server, edge)
    config = SoftClientConfig(
        user=user,
        password=password,
        client_type=client_type,
        device=device,
        server=on_premises,
        edge=via_edge,
        settings=_settings(keepalive, renew_at, proxy_auth),
    )
    try:
        code = run_loop(_run_device(lambda: SoftClient(config), duration, as_json))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(code)


async def _run_load(config: LoadConfig, path: Path, as_json: bool, console: Console) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from sipoauth.sim._load import read_activation_csv, run_load

    phones = read_activation_csv(path.read_text("utf-8"))
    stop = asyncio.Event()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with _on_signals(stop), Progress(*columns, console=console, disable=as_json) as progress:
        task = progress.add_task("phones", total=config.phones, counts="")

        def show(status: LoadStatus) -> None:
            progress.update(
                task,
                completed=status.done,
                counts=f"started {status.started}, registered {status.registered}, "
                f"failed {status.failed}",
            )

        report = await run_load(config, phones, on_status=show, stop=stop)
    if as_json:
        print(json.dumps(report.to_json()), flush=True)
    else:
        for line in report.summary_lines():
            console.print(line, highlight=False)
    return 0 if report.registered == report.phones else 1


@sim_app.command("load")
def load_command(
    phones: Annotated[int, typer.Option("--phones", min=1, help="How many desk phones.")],
    activation_codes: Annotated[
        Path,
        typer.Option(
            "--activation-codes",
            exists=True,
            dir_okay=False,
            help="The CSV of `sipoauth activation-codes export` (it holds secrets).",
        ),
    ],
    server: ServerOpt = None,
    edge: EdgeOpt = None,
    rate: Annotated[
        float, typer.Option("--rate", min=0.1, help="Phones started per second.")
    ] = 50.0,
    duration: Annotated[
        float,
        typer.Option("--duration", min=0, help="Seconds to stay registered once all are up."),
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON.")] = False,
) -> None:
    """N desk phones at once from an activation-code export, with a summary.

    Onboard and register them at --rate per second, keep them --duration s,
    unregister; a progress bar, then registered, failed by reason, rates and
    latency p50 / p99."""
    from rich.console import Console

    from sipoauth.sim._load import LoadConfig

    on_premises, via_edge = _addresses(server, edge)
    config = LoadConfig(
        phones=phones, server=on_premises, edge=via_edge, rate=rate, duration=duration
    )
    console = Console(file=sys.stdout)
    try:
        code = run_loop(_run_load(config, activation_codes, as_json, console))
    except (ValueError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
