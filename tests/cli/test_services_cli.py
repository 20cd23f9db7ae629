"""`sipoauth utils service list|start|stop|restart` and `sipoauth show open ports`
(R8, issue 4 point 3) against a real node: `sipoauth serve` in a subprocess on free
ports, the commands in process. The command goes to the node through the store
(SQLite's change log between the two processes) and the CLI waits for its answer.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sipoauth.cli import app

HOST = "cucm-pub.example.com"
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SIPOAUTH_")} | {
    "PYTHONUNBUFFERED": "1"
}
STARTUP_TIMEOUT = 30.0
CM = "Cisco CallManager"


def sipoauth(data_dir: Path, *args: str, ok: bool = True, script: str | None = None) -> Result:
    """`sipoauth --data-dir D --hostname HOST ARGS` in process."""
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "--hostname", HOST, *args], env=NO_ENV, input=script
    )
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def as_json(data_dir: Path, *args: str) -> Any:
    return json.loads(sipoauth(data_dir, *args, "--json").stdout)


def free_port(taken: set[int]) -> int:
    """A free port in R5's range 1024-49151, below the usual ephemeral ports."""
    while True:
        port = random.randrange(20000, 32000)
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@dataclass
class Served:
    """A running `sipoauth serve` and its ports."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    oauth_port: int
    mra_port: int
    web_port: int
    tftp_port: int
    tftp_secure_port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-services") / "var"
    sipoauth(data_dir, "init")
    return data_dir


@pytest.fixture
def served(initialised: Path, tmp_path: Path) -> Iterator[Callable[[], Served]]:
    """Start `sipoauth serve --bind 127.0.0.1` on a copy of the data directory, on free
    ports; stopped after the test."""
    data_dir = tmp_path / "var"
    shutil.copytree(initialised, data_dir)
    taken: set[int] = set()
    oauth, mra, web = free_port(taken), free_port(taken), free_port(taken)
    tftp, tftp_secure = free_port(taken), free_port(taken)
    sipoauth(
        data_dir,
        "servers",
        "set-ports",
        HOST,
        "--sip-oauth-port",
        str(oauth),
        "--sip-mra-port",
        str(mra),
        "--web-port",
        str(web),
        "--tftp-port",
        str(tftp),
        "--tftp-secure-port",
        str(tftp_secure),
    )
    started: list[Served] = []

    def start() -> Served:
        out = tmp_path / "serve.out"
        command = [sys.executable, "-m", "sipoauth", "--data-dir", str(data_dir)]
        command += ["--hostname", HOST, "serve", "--bind", "127.0.0.1"]
        with out.open("wb") as stdout, (tmp_path / "serve.err").open("wb") as stderr:
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=ENV, cwd=tmp_path)
        node = Served(data_dir, process, oauth, mra, web, tftp, tftp_secure)
        started.append(node)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while b"Ctrl-C stops the node." not in out.read_bytes():
            assert process.poll() is None, (tmp_path / "serve.err").read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        return node

    yield start
    for node in started:
        node.stop()


def test_list_and_open_ports_of_a_running_node(served: Callable[[], Served]) -> None:
    """`utils service list` shows the three services; `show open ports` the ports
    of the running ones, named as on the reference."""
    node = served()
    listed = as_json(node.data_dir, "utils", "service", "list")
    assert [(s["node"], s["service"], s["state"]) for s in listed] == [
        (HOST, CM, "running"),
        (HOST, "Cisco Tomcat", "running"),
        (HOST, "Cisco TFTP", "running"),
    ]
    assert listed[0]["ports"] == {"oauth": node.oauth_port, "mra": node.mra_port}
    assert listed[1]["ports"] == {"web": node.web_port}
    assert listed[2]["ports"] == {"tftp": node.tftp_port, "tftp_secure": node.tftp_secure_port}
    text = sipoauth(node.data_dir, "utils", "service", "list").stdout
    assert f"SIP Phone OAuth Port {node.oauth_port}" in text
    assert f"TFTP HTTPS {node.tftp_secure_port}" in text

    ports = as_json(node.data_dir, "show", "open", "ports")
    assert [(p["name"], p["protocol"], p["address"], p["port"]) for p in ports] == [
        ("SIP Phone OAuth Port", "TLS", "127.0.0.1", node.oauth_port),
        ("SIP Mobile and Remote Access Port", "mTLS", "127.0.0.1", node.mra_port),
        ("HTTPS", "HTTPS", "127.0.0.1", node.web_port),
        ("TFTP HTTP", "HTTP", "127.0.0.1", node.tftp_port),
        ("TFTP HTTPS", "HTTPS", "127.0.0.1", node.tftp_secure_port),
    ]
    text = sipoauth(node.data_dir, "show", "open", "ports", "--node", HOST).stdout
    assert f"SIP Mobile and Remote Access Port  mTLS      127.0.0.1  {node.mra_port}" in text
    assert as_json(node.data_dir, "show", "open", "ports", "--all") == ports
    missing = sipoauth(node.data_dir, "utils", "service", "list", "--node", "nope", ok=False)
    assert "server 'nope' is not configured" in missing.stderr


def test_restart_callmanager_applies_the_mode(served: Callable[[], Served]) -> None:
    """R7/R8 from the command line: enabling the mode marks CallManager restart
    pending; `utils service restart "Cisco CallManager"` waits for the node's
    restart, which applies the mode and clears the flag."""
    node = served()
    data_dir = node.data_dir
    sipoauth(data_dir, "license", "register", "--virtual-account", "t", "--allow-export-controlled")
    sipoauth(data_dir, "utils", "sipOAuth-mode", "enable")
    before = as_json(data_dir, "utils", "service", "list")[0]
    assert (before["restart_pending"], before["sip_oauth_mode"]) == (True, False)

    result = sipoauth(data_dir, "utils", "service", "restart", CM)
    assert result.stdout.strip() == (
        f"{HOST}: Cisco CallManager restarted: SIP Phone OAuth Port {node.oauth_port} (TLS), "
        f"SIP Mobile and Remote Access Port {node.mra_port} (mTLS); SIP OAuth mode enabled"
    )
    after = as_json(data_dir, "utils", "service", "list")[0]
    assert (after["state"], after["restart_pending"], after["sip_oauth_mode"]) == (
        "running",
        False,
        True,
    )
    status = as_json(data_dir, "utils", "sipOAuth-mode", "status")
    assert [(n["applied"], n["restart_pending"]) for n in status["nodes"]] == [(True, False)]
    # The admin: shell takes the service name unquoted, as on the reference.
    shell = sipoauth(data_dir, "cli", script="utils service restart Cisco CallManager\n")
    assert "Cisco CallManager restarted" in shell.stdout


def test_stop_start_tomcat_tftp_and_no_wait(served: Callable[[], Served]) -> None:
    node = served()
    data_dir = node.data_dir
    stopped = sipoauth(data_dir, "utils", "service", "stop", "cisco tomcat", "--node", HOST)
    assert stopped.stdout.strip() == f"{HOST}: Cisco Tomcat stopped"
    assert refused(node.web_port)
    assert not refused(node.oauth_port)
    assert [p["name"] for p in as_json(data_dir, "show", "open", "ports")] == [
        "SIP Phone OAuth Port",
        "SIP Mobile and Remote Access Port",
        "TFTP HTTP",
        "TFTP HTTPS",
    ]
    queued = sipoauth(data_dir, "utils", "service", "start", "Cisco Tomcat", "--no-wait")
    assert queued.stdout.startswith(f"{HOST}: start Cisco Tomcat queued (command ")
    deadline = time.monotonic() + 10
    while refused(node.web_port):
        assert time.monotonic() < deadline, "Tomcat did not start"
        time.sleep(0.1)
    assert as_json(data_dir, "utils", "service", "list")[1]["state"] == "running"

    tftp = sipoauth(data_dir, "utils", "service", "stop", "Cisco TFTP")
    assert tftp.stdout.strip() == f"{HOST}: Cisco TFTP stopped"
    assert refused(node.tftp_port) and refused(node.tftp_secure_port)
    tftp = sipoauth(data_dir, "utils", "service", "start", "Cisco TFTP")
    assert tftp.stdout.strip() == (
        f"{HOST}: Cisco TFTP started: TFTP HTTP {node.tftp_port} (HTTP), "
        f"TFTP HTTPS {node.tftp_secure_port} (HTTPS)"
    )
    unknown = sipoauth(data_dir, "utils", "service", "restart", "Cisco Foo", ok=False)
    assert "unknown service 'Cisco Foo'" in unknown.stderr


def test_a_node_that_is_not_running_leaves_the_command_queued(
    served: Callable[[], Served],
) -> None:
    """Exit status 1 with a clear message; the node runs the command when it starts."""
    node = served()
    node.stop()
    result = sipoauth(
        node.data_dir, "utils", "service", "restart", CM, "--timeout", "0.5", ok=False
    )
    assert f"error: {HOST} is not running: the command stays queued (command " in result.stderr
    assert [s["state"] for s in as_json(node.data_dir, "utils", "service", "list")] == [
        "stopped",
        "stopped",
        "stopped",
    ]
    assert as_json(node.data_dir, "show", "open", "ports") == []
