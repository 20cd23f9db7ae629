"""``sipoauth`` as OS processes, for the cluster test that runs nodes as an
operator does (``test_processes``).

:class:`Cli` runs one command (``python -m sipoauth`` with this interpreter,
no ``SIPOAUTH_*`` variable inherited) and checks its exit status; a failure
names the command and shows what it printed. :class:`Processes` starts
long-running commands — ``serve``, ``sim phone`` — with their stdout read line
by line by a thread (:class:`Proc`: ``wait_for`` a line, with a deadline) and
their stderr in a file under ``logs/``, whose tail goes into assertion
messages. :meth:`Processes.close` kills whatever still runs and waits for
every process: no zombie, no open pipe.

Waits are bounds, never timing assertions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SIPOAUTH = (sys.executable, "-m", "sipoauth")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SIPOAUTH_")} | {
    "COLUMNS": "200",
    "NO_COLOR": "1",
    "PYTHONUNBUFFERED": "1",
}
COMMAND_TIMEOUT = 120.0
"""Seconds one command may take (a service restart waits for the node)."""
TAIL = 25
"""Lines of a process's stderr shown in an assertion message."""


def tail(path: Path, count: int = TAIL) -> str:
    """The last ``count`` lines of ``path`` (empty when it does not exist)."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-count:])
    return ""


@dataclass
class Cli:
    """Runs ``sipoauth`` commands from ``cwd`` with the root options given."""

    cwd: Path
    database_url: str
    hostname: str = "localhost"

    def argv(self, data_dir: Path, node: str, *args: str, url: bool = True) -> list[str]:
        """``sipoauth --data-dir D [--database-url URL] --node N --hostname H ARGS``."""
        root = ["--data-dir", str(data_dir), "--node", node, "--hostname", self.hostname]
        if url:
            root += ["--database-url", self.database_url]
        return [*SIPOAUTH, *root, *args]

    def run(
        self,
        data_dir: Path,
        node: str,
        *args: str,
        ok: bool = True,
        url: bool = True,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one command; with ``ok``, assert it exited 0 (its output in the
        message). Never a traceback, whatever the status."""
        argv = self.argv(data_dir, node, *args, url=url)
        result = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=ENV,
            cwd=self.cwd,
            check=False,
        )
        shown = f"`sipoauth {' '.join(argv[3:])}` exited {result.returncode}:\n"
        shown += f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr, shown
        if ok:
            assert result.returncode == 0, shown
        return result

    def run_many(
        self, commands: Sequence[tuple[Path, str, Sequence[str]]], *, url: bool = True
    ) -> list[subprocess.CompletedProcess[str]]:
        """Commands that do not depend on each other, run at once (each checked)."""
        with ThreadPoolExecutor(len(commands)) as pool:
            futures = [pool.submit(self.run, d, n, *args, url=url) for d, n, args in commands]
            return [future.result() for future in futures]

    def script(self, data_dir: Path, node: str, lines: Sequence[str]) -> str:
        """Lines for the ``sipoauth cli`` administration shell, piped to it in
        one process (one command a line, as an operator's script); the
        transcript, asserted free of failures."""
        result = self.run(data_dir, node, "cli", stdin="\n".join(lines) + "\n")
        return result.stdout

    def json(self, data_dir: Path, node: str, *args: str) -> Any:
        """A command's ``--json`` output, parsed."""
        return json.loads(self.run(data_dir, node, *args, "--json").stdout)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects printed one a line in ``text`` (a shell transcript)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


@dataclass
class Proc:
    """A long-running ``sipoauth`` command: its stdout lines as they come."""

    name: str
    process: subprocess.Popen[str]
    stderr_path: Path
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _eof: bool = False
    _reader: threading.Thread | None = None

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def start_reading(self) -> None:
        self._reader = threading.Thread(target=self._read, name=f"read-{self.name}", daemon=True)
        self._reader.start()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Its stdout lines that are JSON objects (``--json``), parsed."""
        with self._changed:
            return json_lines("\n".join(self.lines))

    def report(self) -> str:
        """What it printed and the tail of its stderr: for assertion messages."""
        status = self.process.poll()
        state = "running" if status is None else f"exited {status}"
        with self._changed:
            out = "\n".join(self.lines[-TAIL:])
        return (
            f"[{self.name}: {state}]\n--- {self.name} stdout (last lines)\n{out}\n"
            f"--- {self.name} stderr (last lines)\n{tail(self.stderr_path)}"
        )

    def wait_for(
        self, what: str, found: Callable[[list[str]], Any], bound: float, *others: Proc
    ) -> Any:
        """Wait until ``found(lines)`` is truthy (its value returned), at most
        ``bound`` seconds; AssertionError, with this process's report and the
        ``others``', if it exits or the bound passes first."""
        deadline = time.monotonic() + bound
        with self._changed:
            while True:
                result = found(list(self.lines))
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.5))
        why = "exited" if self._eof else f"not within {bound:g} s"
        context = "\n".join(p.report() for p in (self, *others))
        raise AssertionError(f"{self.name}: {what}: {why}\n{context}")

    def wait_for_event(
        self, what: str, match: Callable[[dict[str, Any]], bool], bound: float, *others: Proc
    ) -> dict[str, Any]:
        """The first ``--json`` event ``match`` accepts (waiting as ``wait_for``)."""

        def found(lines: list[str]) -> dict[str, Any] | None:
            return next((e for e in json_lines("\n".join(lines)) if match(e)), None)

        event: dict[str, Any] = self.wait_for(what, found, bound, *others)
        return event

    def stop(self, bound: float) -> int:
        """SIGTERM, then wait at most ``bound`` seconds; its exit status
        (AssertionError with its report if it is still running)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(bound)

    def wait(self, bound: float) -> int:
        """Its exit status once it exited (at most ``bound`` seconds) and all it
        printed was read; AssertionError with its report if it still runs."""
        try:
            status = self.process.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            message = f"{self.name} still running after {bound:g} s\n{self.report()}"
            raise AssertionError(message) from None
        if self._reader is not None:
            self._reader.join(timeout=bound)  # the pipe's end: every line is in
        return status

    def close(self) -> None:
        """Kill it if it still runs, reap it, close its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Processes:
    """The long-running processes of a test, killed and reaped by :meth:`close`."""

    def __init__(self, cli: Cli, logs: Path) -> None:
        self.cli = cli
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started: dict[str, Proc] = {}

    def start(self, name: str, argv: Sequence[str]) -> Proc:
        """Start ``argv`` (stdout read by a thread, stderr to ``logs/NAME.err``)."""
        assert name not in self.started, name
        stderr_path = self.logs / f"{name}.err"
        stderr: IO[str] = stderr_path.open("w")
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=ENV,
                cwd=self.cli.cwd,
            )
        finally:
            stderr.close()  # the child has its own copy
        proc = Proc(name, process, stderr_path)
        self.started[name] = proc
        proc.start_reading()
        return proc

    def report(self, *names: str) -> str:
        """The reports of ``names`` (default: every process)."""
        chosen = names or tuple(self.started)
        return "\n".join(self.started[n].report() for n in chosen if n in self.started)

    def close(self) -> None:
        for proc in self.started.values():
            with contextlib.suppress(Exception):
                proc.close()


@contextlib.contextmanager
def processes(cli: Cli, logs: Path) -> Iterator[Processes]:
    """:class:`Processes`, every one killed and reaped at the end."""
    running = Processes(cli, logs)
    try:
        yield running
    finally:
        running.close()


def sip_options(port: int, cafile: Path, hostname: str = "localhost") -> bytes:
    """An OPTIONS over TLS to ``127.0.0.1:port`` (the node's certificate checked
    against ``cafile`` and ``hostname``); the answer's status line and headers."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        tls.sendall(
            b"OPTIONS sip:" + hostname.encode() + b" SIP/2.0\r\n"
            b"Via: SIP/2.0/TLS 127.0.0.1:5555;branch=z9hG4bK-proc-1\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=1\r\n"
            b"To: <sip:" + hostname.encode() + b">\r\nCall-ID: proc-probe\r\n"
            b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer
