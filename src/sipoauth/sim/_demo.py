"""``sipoauth demo``: SIP OAuth mode end to end on one machine (issue 6 point 5).

Theory of operation. In a fresh work directory (a temporary one, or ``--keep
DIR``) the demo plays the administrator: it initialises a node on the
embedded database, gives every listener a free port (``servers set-ports``
before the first start), starts it (``sipoauth serve``) and an edge with its
own CA (``init_edge_dir``, ``sipoauth edge serve``), then runs the source
document's task flow (R2.2, R3-R9, R12.1) as ``sipoauth …`` commands, each
echoed as typed. Then, in its own event loop, it brings up three simulated
devices — a desk phone on premises, a desk phone through the edge, a soft
client — lists the registrations, revokes the soft client's grant with the
reference's admin form, resets a phone (NOTIFY through the edge) and shows it
re-registered with its new ``configVersion``, and stops everything: the phones
unregister, the edge and the node stop on SIGTERM. Every step names the
requirement it shows. A failed step ends the demo with why, the tails of the
node's and the edge's logs, and status 1.

The steps are data (``_Demo.plan``); the terminal, services and narration are
``_demo_shell``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
from rich.console import Console

from sipoauth.admin import OAUTH_PROFILE
from sipoauth.pki import PkiError, client_ssl_context

from ._config import EdgeAddress, ServerAddress
from ._demo_shell import (
    Narrator,
    Services,
    StepFailed,
    Terminal,
    free_ports,
    operator_env,
    work_dir,
)
from ._deskphone import DeskPhone, DeskPhoneConfig
from ._device import SimDevice
from ._edge_pki import init_edge_dir
from ._events import DeviceStopped, SimEvent
from ._network import DeviceSettings
from ._softclient import SoftClient, SoftClientConfig
from ._tokens import mask_code

__all__ = ["DemoConfig", "run_demo"]

HOST: Final = "localhost"
"""The node's host name: its server name, in its web certificate and its files."""
EDGE_NAME: Final = "edge.example.com"
PROFILE: Final = "8851 OAuth"
ON_PREMISES_PHONE: Final = ("00AB12CD3401", "1001")
MRA_PHONE: Final = ("00AB12CD3402", "1002")
USER: Final = "alice"
SOFT_CLIENT: Final = ("CSFALICE", "1003")
SERVICES: Final = ("CallManager", "Tomcat", "TFTP")
"""CallManager applies the mode and the ports; all three load tomcat-trust when
they start, which checks the edge's client certificate (docs/edge.md)."""
NODE_PORTS: Final = (
    "sip-port", "secure-sip-port", "sip-oauth-port", "sip-mra-port", "web-port", "tftp-port",
    "tftp-secure-port",
)  # fmt: skip
PHONE_SETTINGS: Final = DeviceSettings(
    retry_after_max=1.0, prerequisite_attempts=10, config_attempts=10, config_retry_delay=0.5
)
"""A 403 + Retry-After (a node that has not yet heard of a new device) is tried
again after a second, not 35."""
SOFT_CLIENT_SETTINGS: Final = DeviceSettings(
    reregister_fraction=0.025, retry_after_max=1.0, prerequisite_attempts=10
)
"""The soft client re-registers every 3 s (of the 120 s granted), so it hears
of its revocation at once: the node drops the bindings but does not tell it."""


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """How the demo runs."""

    keep: Path | None = None
    """Work directory to keep (created; must be empty); None: a temporary one, removed."""
    cli: tuple[str, ...] = (sys.executable, "-m", "sipoauth")
    """How to run ``sipoauth`` (this interpreter's)."""
    command_timeout: float = 90.0
    """Seconds a command may take (a service restart waits for the node)."""
    ready_timeout: float = 60.0
    """Seconds for the node, the edge, or a device to come up or react."""


Command = tuple[str, ...]
Action = Callable[[], Awaitable[None]]


@dataclass
class _Demo:
    """One run: its work directory, ports, services, devices and the steps."""

    root: Path
    config: DemoConfig
    say: Narrator
    term: Terminal
    ports: dict[str, int] = field(init=False, default_factory=dict)
    """Every listener's port, chosen free at the start (node, new OAuth ports, edge)."""
    services: Services = field(default_factory=Services)
    devices: dict[str, SimDevice] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    user_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    quiet: bool = False
    """Set after a failure: the devices' last events would bury the report."""

    def __post_init__(self) -> None:
        names = [*NODE_PORTS, "new-sip-oauth-port", "new-sip-mra-port"]
        names += ["edge-sip", "edge-web", "edge-bootstrap"]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))

    def plan(self) -> list[tuple[str, str, Action]]:
        """The steps: (requirements shown, title, what runs)."""
        p = {name: str(port) for name, port in self.ports.items()}
        run = self._commands
        return [
            ("B2", "a node on the embedded database, every listener on a free port", self.node),
            ("R2.1", "the edge: its own CA and certificates, started", self.edge),
            ("R2.2", "licensing, export-controlled functionality allowed", run(
                ("license", "register", "--virtual-account", "Demo", "--allow-export-controlled"),
            )),
            ("R3", "phone-edge-trust: the node's CA and the edge's CA", run(
                ("certificates", "upload", "phone-edge-trust", "var/pki/ca.pem"),
                ("certificates", "upload", "phone-edge-trust", "edge/ca.pem"),
            )),
            ("R4", "the refresh login flow", run(
                ("parameters", "set", "OAuth with Refresh Login Flow", "Enabled"),
            )),
            ("R5", "the SIP OAuth ports; the edge's CA in tomcat-trust", run(
                ("servers", "set-ports", HOST, "--sip-oauth-port", p["new-sip-oauth-port"],
                 "--sip-mra-port", p["new-sip-mra-port"]),
                ("certificates", "upload", "tomcat-trust", "edge/ca.pem"),
            )),
            ("R6", "the edge entry", run(
                ("edges", "add", EDGE_NAME, "--x509-name", EDGE_NAME, "--description",
                 "demo edge", "--public-host", HOST, "--public-sip-port", p["edge-sip"],
                 "--public-web-port", p["edge-web"]),
            )),
            ("R7", "SIP OAuth mode, on the publisher", run(("utils", "sipOAuth-mode", "enable"))),
            ("R8", "restart CallManager (mode, ports), Tomcat and TFTP (trust)", run(
                *(("utils", "service", "restart", f"Cisco {s}") for s in SERVICES)
            )),
            ("R9", "the OAuth phone security profile", run(
                ("profiles", "add", PROFILE, "--device-type", "8851", "--security-mode",
                 "encrypted", "--transport", "TLS", "--oauth"),
            )),
            ("R1.2", "a desk phone onboarding with an activation code", self.desk_phone),
            ("R12.1", "a desk phone allowed activation via MRA", self.mra_phone),
            ("R1.2", "an end user and her soft client (CSF)", run(
                ("users", "add", USER, "--display-name", "Alice Example",
                 "--password-file", f"secrets/{USER}-password"),
                ("devices", "add", SOFT_CLIENT[0], "--model", "CSF", "--line", SOFT_CLIENT[1],
                 "--owner", USER, "--profile", OAUTH_PROFILE),
            )),
            ("R10-R12", "the devices come up: on premises, via the edge, signed in", self.bring_up),
            ("R11", "revoke the soft client's grant: it is gone", self.revoke),
            ("R9", "reset the MRA phone: NOTIFY through the edge, re-registered", self.reset),
            ("-", "stop: the phones unregister, the edge and the node stop", self.stop_all),
        ]  # fmt: skip

    def _commands(self, *commands: Command) -> Action:
        async def action() -> None:
            for args in commands:
                await self.term.run(*args)

        return action

    # -- the node and the edge ------------------------------------------------------------

    async def node(self) -> None:
        secret = self.root / "secrets"
        secret.mkdir(mode=0o700)
        (secret / "admin-password").write_text(self.admin_password + "\n")
        (secret / f"{USER}-password").write_text(self.user_password + "\n")
        await self.term.run("init", "--admin-password-file", "secrets/admin-password")
        ports = [arg for name in NODE_PORTS for arg in (f"--{name}", str(self.ports[name]))]
        await self.term.run("servers", "set-ports", HOST, *ports)
        node = self.services["node"] = await self.term.start("node", "serve", "--bind", "127.0.0.1")
        self.say.output(await node.ready("Ctrl-C stops the node.", self.config.ready_timeout))

    async def edge(self) -> None:
        try:
            init_edge_dir(self.root / "edge", EDGE_NAME, now=datetime.now(UTC))
        except (PkiError, OSError) as exc:
            raise StepFailed(f"edge directory: {exc}") from None
        self.say.result(
            f"{EDGE_NAME}: edge/ca.pem (its CA), edge/server.pem (for devices), "
            "edge/client.pem (for the nodes), as `sipoauth edge init` makes them"
        )
        p = {name: str(port) for name, port in self.ports.items()}
        upstream = ("new-sip-mra-port", "web-port", "tftp-port", "tftp-secure-port")
        node = ":".join(["127.0.0.1", *(p[name] for name in upstream)])
        edge = self.services["edge"] = await self.term.start(
            "edge", "edge", "serve", "--edge-dir", "edge", "--node", node,
            "--node-ca", "var/pki/ca.pem", "--bind", "127.0.0.1", "--sip-port", p["edge-sip"],
            "--web-port", p["edge-web"], "--bootstrap-port", p["edge-bootstrap"], "--no-push",
        )  # fmt: skip
        self.say.output(await edge.ready("Ctrl-C stops the edge.", self.config.ready_timeout))
        self.say.result("no push: the administrator adds the edge entry (R6)")

    # -- the phones -----------------------------------------------------------------------

    async def _phone(self, mac: str, line: str, *extra: str) -> None:
        name = f"SEP{mac}"
        await self.term.run(
            "devices", "add", name, "--model", "8851", "--line", line, "--profile", PROFILE,
            "--requires-activation-code", *extra,
        )  # fmt: skip
        answer = await self.term.run("activation-codes", "generate", name, "--json", show=False)
        try:
            self.codes[name] = str(json.loads(answer.stdout)["code"])
        except (ValueError, KeyError, TypeError):
            raise StepFailed(f"no activation code in: {answer.stdout.strip()!r}") from None
        self.say.result(
            f"activation code {mask_code(self.codes[name])} for {name} "
            "(16 digits, shown once: given to the phone's user)"
        )

    async def desk_phone(self) -> None:
        await self._phone(*ON_PREMISES_PHONE)

    async def mra_phone(self) -> None:
        await self.term.run("mra-domains", "add", "MRA", "--domain", "mra.example.com", "--default")
        await self._phone(*MRA_PHONE, "--allow-activation-via-mra")

    # -- the devices ----------------------------------------------------------------------

    def _watch(self, device: SimDevice) -> SimDevice:
        def show(event: SimEvent) -> None:
            if self.quiet or (event.kind == "registered" and event.data.get("why") == "refresh"):
                return  # periodic re-registrations are not news
            self.say.event(event)

        device.log.subscribe(show)
        self.devices[device.name] = device
        return device

    async def _registrations(self, present: set[str], absent: set[str]) -> None:
        """``registrations list`` until it shows ``present`` and not ``absent`` (the
        listing is the nodes' mirror, written about a second behind)."""
        deadline = time.monotonic() + self.config.ready_timeout
        echo = True
        while True:
            answer = await self.term.run("registrations", "list", show=False, echo=echo)
            lines = answer.stdout.splitlines()
            listed = {line.split()[0] for line in lines[1:] if line.strip()}
            if present <= listed and not (absent & listed):
                self.say.output(answer.stdout)
                return
            if time.monotonic() > deadline:
                self.say.output(answer.stdout)
                raise StepFailed(
                    f"registrations list still shows {sorted(listed)} "
                    f"after {self.config.ready_timeout:.0f} s"
                )
            echo = False
            await asyncio.sleep(0.5)

    async def _until(self, device: SimDevice, kind: str, since: int = 0) -> SimEvent:
        """``device``'s next ``kind`` event; StepFailed when it ends or takes too long."""
        timeout = self.config.ready_timeout
        try:
            return await device.wait_for(kind, since=since, timeout=timeout)
        except TimeoutError:
            raise StepFailed(f"{device.name}: no {kind!r} within {timeout:.0f} s") from None

    def _desk_phone(
        self, mac: str, server: ServerAddress | None = None, edge: EdgeAddress | None = None
    ) -> DeskPhone:
        code = self.codes[f"SEP{mac}"]
        return DeskPhone(DeskPhoneConfig(mac, "8851", code, server, edge, PHONE_SETTINGS))

    async def bring_up(self) -> None:
        p = self.ports
        server = ServerAddress(HOST, p["tftp-port"])
        outside = EdgeAddress(HOST, p["edge-sip"], p["edge-web"], p["edge-bootstrap"])
        self.say.result(f"on premises: {server.host}:{server.bootstrap_port} (TFTP HTTP)")
        self.say.result(f"through the edge: {outside.host}:{outside.sip_port} (SIP TLS)")
        client = SoftClientConfig(
            USER, self.user_password, device=SOFT_CLIENT[0], server=server,
            settings=SOFT_CLIENT_SETTINGS,
        )  # fmt: skip
        devices = [
            self._desk_phone(ON_PREMISES_PHONE[0], server=server),
            self._desk_phone(MRA_PHONE[0], edge=outside),
            SoftClient(client),
        ]
        for device in devices:
            await self._watch(device).start()
        await asyncio.gather(*(self._until(device, "registered") for device in devices))
        self.say.result("all three registered")
        await self._registrations(set(self.devices), set())

    async def revoke(self) -> None:
        client = self.devices[SOFT_CLIENT[0]]
        url = f"https://{HOST}:{self.ports['web-port']}/ssosp/token/revoke"
        self.say.command(
            f'curl --cacert var/pki/ca.pem -u "admin:$(cat secrets/admin-password)" '
            f'"{url}?user_id={USER}"'
        )
        context = client_ssl_context([(self.root / "var" / "pki" / "ca.pem").read_bytes()])
        async with httpx.AsyncClient(verify=context, timeout=15) as web:
            answer = await web.get(
                url, params={"user_id": USER}, auth=("admin", self.admin_password)
            )
        self.say.output(answer.text)
        if answer.status_code != 200 or not answer.json().get("revoked"):
            raise StepFailed(f"the revocation answered {answer.status_code}: {answer.text}")
        try:
            async with asyncio.timeout(self.config.ready_timeout):
                final = await client.finished()
        except TimeoutError:
            raise StepFailed(f"{client.name} still runs after the revocation") from None
        if final.kind != "revoked":
            raise StepFailed(f"{client.name} ended otherwise: {final.message}")
        self.say.result(f"{client.name} stopped: its grant is revoked")
        await self._registrations({f"SEP{ON_PREMISES_PHONE[0]}"}, {client.name})

    async def reset(self) -> None:
        phone = self.devices[f"SEP{MRA_PHONE[0]}"]
        before = phone.log.last("config")
        mark = phone.mark()
        await self.term.run("devices", "reset", phone.name)
        registered = await self._until(phone, "registered", since=mark)
        config = phone.log.find("config", since=mark)
        old = before.data.get("config_version") if before else None
        new = config.data.get("config_version") if config else None
        if new is None or new == old:
            raise StepFailed(f"{phone.name} did not fetch a new file (configVersion {old})")
        self.say.result(
            f"{phone.name} re-registered ({registered.data.get('why')}), "
            f"configVersion {old} → {new}"
        )
        await self._registrations({phone.name}, set())

    async def stop_all(self) -> None:
        phones = [d for d in self.devices.values() if d.log.final is None]
        finals = await asyncio.gather(*(d.stop() for d in phones))
        for device, final in zip(phones, finals, strict=True):
            if final.kind != "stopped" or device.log.last("unregistered") is None:
                raise StepFailed(f"{device.name} did not unregister: {final.message}")
        await self._registrations(set(), set(self.devices))
        for name in ("edge", "node"):
            service = self.services[name]
            self.say.command(f"kill -TERM {service.process.pid}   # the {name}")
            status = await service.stop()
            if status != 0:
                raise StepFailed(f"the {name} exited with status {status}")
            self.say.result(f"the {name} stopped (status 0)")

    # -- the end --------------------------------------------------------------------------

    async def close(self) -> None:
        """Whatever is still running, stopped (after a failure or Ctrl-C)."""
        self.quiet = True
        for device in self.devices.values():
            if device.log.final is None:
                with contextlib.suppress(Exception):
                    await device.stop()
        await self.services.stop()


def _why(exc: BaseException) -> str:
    if isinstance(exc, StepFailed | DeviceStopped):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def run_demo(config: DemoConfig, console: Console) -> int:
    """Run the demo, narrated on ``console``; 0 when every step did what it should."""
    started = time.monotonic()
    say = Narrator(console)
    try:
        root = work_dir(config.keep)
    except (OSError, StepFailed) as exc:
        say.say(f"error: {exc}", "bold red")
        return 1
    term = Terminal(
        root, config.cli, operator_env("var", HOST), say, timeout=config.command_timeout
    )
    demo = _Demo(root, config, say, term)
    plan = demo.plan()
    say.total = len(plan)
    say.banner(root, kept=config.keep is not None, home="var", hostname=HOST)
    status = 1
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)  # stop as on Ctrl-C
    try:
        for requirements, title, action in plan:
            async with say.step(requirements, title):
                demo.services.check()
                await action()
        status = 0
    except Exception as exc:  # any failure ends the demo saying where and why
        say.failure(_why(exc), demo.services.tails())
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
        await demo.close()
        say.summary(time.monotonic() - started)
        if config.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    say.ending(status == 0, time.monotonic() - started, root if config.keep else None)
    return status
