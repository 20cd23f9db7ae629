"""The demo's terminal (issue 6 point 5): commands as an operator types them,
the services left running in the background, and the narration.

:class:`Terminal` runs ``sipoauth …`` as subprocesses in the demo's work
directory, with ``SIPOAUTH_HOME`` and ``SIPOAUTH_HOSTNAME`` set as an operator
would export them, and echoes each command before its output. Commands run
with asyncio's subprocesses so that the simulated devices in the demo's own
event loop keep answering NOTIFYs and keep-alives meanwhile. A
:class:`Service` is a long-running command (``serve``, ``edge serve``) whose
output goes to files under ``logs/``; its log's tail is what the demo shows
when a step fails. :class:`Narrator` prints numbered steps, the requirement
each fulfils, the commands and short results, and a summary of the steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._events import SimEvent

__all__ = [
    "CommandResult",
    "Narrator",
    "Service",
    "Services",
    "StepFailed",
    "Terminal",
    "free_ports",
    "operator_env",
    "quote",
    "work_dir",
]

_PLAIN: Final = re.compile(r"[\w@%+=:,./-]+")
OUTPUT_LINES: Final = 14
"""Lines of a command's output shown (the rest are counted, not printed)."""
LOG_TAIL: Final = 15
"""Lines of a service's log shown when a step fails."""
PORT_RANGE: Final = (20000, 32000)
"""Where free ports are looked for: inside R5's 1024-49151, below Linux's ephemeral range."""


class StepFailed(Exception):
    """A step of the demo did not do what it should; the message says why."""


def quote(arg: str) -> str:
    """An argument as an operator types it (double quotes when needed)."""
    if _PLAIN.fullmatch(arg):
        return arg
    return '"' + re.sub(r'(["\\$`])', r"\\\1", arg) + '"'


def command_line(args: Iterable[str]) -> str:
    return "sipoauth " + " ".join(quote(a) for a in args)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a finished command printed."""

    stdout: str
    stderr: str


@dataclass(slots=True)
class _Step:
    number: int
    requirements: str
    title: str
    seconds: float = 0.0
    outcome: str = "FAILED"
    """ok, FAILED, or interrupted (Ctrl-C, SIGTERM)."""


@dataclass
class Narrator:
    """Numbered steps, commands, results and events, on a rich console."""

    console: Console
    total: int = 0
    steps: list[_Step] = field(default_factory=list)

    @property
    def current(self) -> _Step | None:
        return self.steps[-1] if self.steps else None

    def say(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style), soft_wrap=True)

    def banner(self, root: Path, *, kept: bool, home: str, hostname: str) -> None:
        self.say("sipoauth demo: SIP OAuth mode end to end on this machine", "bold")
        fate = "kept" if kept else "removed at the end; --keep DIR keeps it"
        self.say(f"  work directory {root} ({fate})")
        env = f"SIPOAUTH_HOME={home} SIPOAUTH_HOSTNAME={hostname}"
        self.say(f"  commands run as: cd {root}; export {env}")
        self.say(f"  (the node's data and embedded SQLite database in {home}/, logs in logs/)")

    def ending(self, ok: bool, seconds: float, kept: Path | None) -> None:
        if ok:
            self.say(
                "demo finished: three devices registered, the soft client's grant revoked, "
                f"a phone reset and re-registered, all stopped ({seconds:.0f} s)",
                "bold green",
            )
        else:
            self.say("demo failed (exit status 1)", "bold red")
        if kept is not None:
            self.say(f"kept in {kept}: var/ (node data), edge/, logs/, secrets/")

    @contextlib.asynccontextmanager
    async def step(self, requirements: str, title: str) -> AsyncIterator[None]:
        """One numbered step, timed; the summary records whether it finished."""
        step = _Step(len(self.steps) + 1, requirements, title)
        self.steps.append(step)
        header = Text(f"\n[{step.number}/{self.total}] ", style="bold")
        header.append(requirements.ljust(7), style="bold cyan")
        header.append(f" {title}", style="bold")
        self.console.print(header, soft_wrap=True)
        started = time.monotonic()
        try:
            yield
        except (asyncio.CancelledError, KeyboardInterrupt):
            step.outcome = "interrupted"
            raise
        finally:
            step.seconds = time.monotonic() - started
        step.outcome = "ok"
        self.say(f"  done ({step.seconds:.1f} s)", "green")

    def command(self, text: str) -> None:
        line = Text("  $ ", style="dim")
        line.append(text, style="bold yellow")
        self.console.print(line, soft_wrap=True)

    def output(self, text: str, limit: int = OUTPUT_LINES) -> None:
        lines = [line for line in text.splitlines() if line.strip()]
        for line in lines[:limit]:
            self.say(f"    {line}", "dim")
        if len(lines) > limit:
            self.say(f"    … ({len(lines) - limit} more lines)", "dim")

    def result(self, text: str) -> None:
        self.say(f"  → {text}", "green")

    def event(self, event: SimEvent) -> None:
        style = {"failed": "red", "revoked": "magenta", "registered": "green"}.get(event.kind, "")
        self.say(f"    │ {event.status_line()}", style)

    def failure(self, why: str, tails: Mapping[str, Sequence[str]]) -> None:
        step = self.current
        where = f"step {step.number} ({step.requirements} {step.title})" if step else "setup"
        self.say(f"\nFAILED at {where}:", "bold red")
        self.say(f"  {why}", "red")
        for name, lines in tails.items():
            if lines:
                self.say(f"\nlast lines of {name}:", "bold")
                for line in lines:
                    self.say(f"  {line}", "dim")

    def summary(self, seconds: float) -> None:
        table = Table(title=f"sipoauth demo: {seconds:.0f} s", title_justify="left", box=None)
        table.add_column("#", justify="right")
        table.add_column("req")
        table.add_column("step", no_wrap=True, overflow="ellipsis", max_width=44)
        table.add_column("", no_wrap=True)
        table.add_column("s", justify="right")
        for step in self.steps:
            mark = Text(step.outcome, "green" if step.outcome == "ok" else "bold red")
            row = (str(step.number), step.requirements, step.title, mark, f"{step.seconds:.1f}")
            table.add_row(*row)
        self.console.print(table)


@dataclass
class Service:
    """A command left running (``serve``, ``edge serve``); output in files."""

    name: str
    process: asyncio.subprocess.Process
    out: Path
    log: Path
    _files: list[IO[bytes]] = field(default_factory=list)

    async def ready(self, marker: str, timeout: float) -> str:
        """Wait until its output shows ``marker``; the output so far."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.out.read_text(errors="replace")
            if marker in text:
                return text
            if self.process.returncode is not None:
                raise StepFailed(f"{self.name} exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                raise StepFailed(f"{self.name} did not start within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    def tail(self, count: int = LOG_TAIL) -> list[str]:
        lines: list[str] = []
        for path in (self.log, self.out):
            with contextlib.suppress(OSError):
                lines = path.read_text(errors="replace").splitlines() or lines
            if lines:
                break
        return lines[-count:]

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (it stops cleanly), then SIGKILL after ``timeout``; its status."""
        try:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(self.process.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        self.process.kill()
                    await self.process.wait()
            return self.process.returncode
        finally:
            for file in self._files:
                file.close()
            self._files.clear()


class Services(dict[str, Service]):
    """The services started, by name (``node``, ``edge``)."""

    def check(self) -> None:
        """StepFailed when one is no longer running."""
        for name, service in self.items():
            if service.process.returncode is not None:
                status = service.process.returncode
                raise StepFailed(f"the {name} is no longer running (exit status {status})")

    async def stop(self) -> None:
        """Every one still running, stopped (SIGTERM, then SIGKILL)."""
        for service in self.values():
            with contextlib.suppress(Exception):
                await service.stop()

    def tails(self) -> dict[str, list[str]]:
        """The last lines of each one's log."""
        return {f"logs/{name}.log": service.tail() for name, service in self.items()}


class Terminal:
    """Runs ``sipoauth`` commands in the work directory and echoes them."""

    def __init__(
        self,
        root: Path,
        cli: Sequence[str],
        env: Mapping[str, str],
        narrator: Narrator,
        *,
        timeout: float,
    ) -> None:
        self.root = root
        self.cli = tuple(cli)
        self.env = dict(env)
        self.narrator = narrator
        self.timeout = timeout

    async def run(self, *args: str, show: bool = True, echo: bool = True) -> CommandResult:
        """Run ``sipoauth ARGS`` (echoed, and its output shown, unless told not
        to); StepFailed with its error unless it exits 0."""
        text = command_line(args)
        if echo:
            self.narrator.command(text)
        process = await asyncio.create_subprocess_exec(
            *self.cli,
            *args,
            cwd=self.root,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise StepFailed(f"`{text}` did not finish within {self.timeout:.0f} s") from None
        except asyncio.CancelledError:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        result = CommandResult(out.decode(errors="replace"), err.decode(errors="replace"))
        if process.returncode != 0:
            self.narrator.output(result.stdout)
            why = result.stderr.strip() or result.stdout.strip() or "no output"
            raise StepFailed(f"`{text}` exited with status {process.returncode}: {why}")
        if show:
            self.narrator.output(result.stdout)
        return result

    async def start(self, name: str, *args: str) -> Service:
        """Start ``sipoauth ARGS`` in the background, output to ``logs/NAME.*``."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        out, log = logs / f"{name}.out", logs / f"{name}.log"
        self.narrator.command(
            f"{command_line(args)} >{out.relative_to(self.root)} 2>{log.relative_to(self.root)} &"
        )
        stdout, stderr = out.open("wb"), log.open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                *self.cli,
                *args,
                cwd=self.root,
                env={**self.env, "PYTHONUNBUFFERED": "1"},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        except BaseException:
            stdout.close()
            stderr.close()
            raise
        return Service(name, process, out, log, [stdout, stderr])


def operator_env(home: str, hostname: str) -> dict[str, str]:
    """The environment commands run with: this process's, without any other
    ``SIPOAUTH_*`` (no PostgreSQL URL, no other node), plus the demo's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPOAUTH_")}
    env |= {"SIPOAUTH_HOME": home, "SIPOAUTH_HOSTNAME": hostname}
    env |= {"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb"}
    return env


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on now (TCP, 127.0.0.1)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(*PORT_RANGE)
        if port in ports:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def work_dir(keep: Path | None) -> Path:
    """``keep`` (created; it must be empty), or a new temporary directory."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="sipoauth-demo-"))
    keep = keep.expanduser().resolve()
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise StepFailed(f"--keep {keep}: not an empty directory (the demo starts afresh)")
    keep.mkdir(parents=True, exist_ok=True)
    return keep
