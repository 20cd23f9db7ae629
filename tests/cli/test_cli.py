"""The `sipoauth` command line, run for real in subprocesses (issue 2, point 2).

Every command runs as `python -m sipoauth` with the repository's interpreter (the
console script itself is checked by the `--help` test), with `--data-dir` in a
temporary directory and an explicit `--hostname`, and no `SIPOAUTH_*` variable
inherited. One data directory is initialised per module and copied for each test
that changes it, so the file stays fast (each subprocess takes about a second).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import ipaddress
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sipoauth.store import Store, database_url_for

PYTHON = sys.executable
SIPOAUTH = [PYTHON, "-m", "sipoauth"]
CONSOLE_SCRIPT = Path(PYTHON).with_name("sipoauth")
HOST = "cucm-pub.example.com"
OAUTH_PROFILE = "Universal Device Template - OAuth Security Profile"
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SIPOAUTH_")} | {
    "COLUMNS": "200",
    "NO_COLOR": "1",
    "PYTHONUNBUFFERED": "1",
}
STARTUP_TIMEOUT = 30.0
"""Seconds `serve` may take to print its listeners (a cold start imports a lot)."""
STOP_TIMEOUT = 5.0
"""Seconds `serve` has to exit after SIGINT/SIGTERM: "a few seconds" (issue 2 point 2)."""


def run(
    data_dir: Path, *args: str, ok: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`sipoauth --data-dir D --hostname HOST ARGS`, checked for exit status and tracebacks."""
    command = [*SIPOAUTH, "--data-dir", str(data_dir), "--hostname", HOST, *args]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=cwd or data_dir.parent,
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (relative path -> content)."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


async def _admin_hash(data_dir: Path) -> str:
    store = await Store.open(database_url_for(data_dir.resolve()))
    try:
        admin = await store.admins.get("admin")
        assert admin is not None
        return admin.password_hash
    finally:
        await store.close()


def admin_hash(data_dir: Path) -> str:
    """The stored argon2 hash of the `admin` account."""
    return asyncio.run(_admin_hash(data_dir))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _set_ports(data_dir: Path, oauth_port: int, mra_port: int) -> None:
    store = await Store.open(database_url_for(data_dir.resolve()))
    try:
        [record] = await store.nodes.list()
        await store.nodes.upsert(
            dataclasses.replace(record, oauth_port=oauth_port, mra_port=mra_port)
        )
    finally:
        await store.close()


@dataclass(frozen=True)
class Initialised:
    """The module's data directory after one `sipoauth init`."""

    data_dir: Path
    stdout: str


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Initialised:
    data_dir = tmp_path_factory.mktemp("cli") / "var"
    result = run(data_dir, "init")
    return Initialised(data_dir, result.stdout)


@pytest.fixture
def node_dir(initialised: Initialised, tmp_path: Path) -> Path:
    """A private copy of the initialised data directory."""
    copy = tmp_path / "var"
    shutil.copytree(initialised.data_dir, copy)
    return copy


# -- init -----------------------------------------------------------------------------


def test_init_creates_ca_web_certificate_and_database(initialised: Initialised) -> None:
    """Issue 2 point 2: first start creates a local CA, the web ("tomcat") certificate
    with SANs for the host name, localhost and 127.0.0.1 on an ECDSA P-256 key, signed
    by that CA, and the database; private keys are readable by the owner only."""
    pki = initialised.data_dir / "pki"
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    chain = x509.load_pem_x509_certificates((pki / "tomcat.pem").read_bytes())
    web = chain[0]
    web.verify_directly_issued_by(ca)
    san = web.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {HOST, "localhost"} <= set(san.get_values_for_type(x509.DNSName))
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    eku = web.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku

    public = web.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)
    key = serialization.load_pem_private_key((pki / "tomcat.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key().public_numbers() == public.public_numbers()

    for name in ("ca.key", "tomcat.key"):
        assert stat.S_IMODE((pki / name).stat().st_mode) & 0o077 == 0, name
    db = initialised.data_dir / "sipoauth.db"
    assert db.stat().st_size > 0
    # The embedded database holds the authz keys: owner-only too.
    assert stat.S_IMODE(db.stat().st_mode) & 0o077 == 0
    assert "created: local CA and web certificate" in initialised.stdout


def test_init_prints_the_admin_password_once(initialised: Initialised) -> None:
    """Issue 2 point 2: the generated admin password is printed once, and it is the
    password of the stored `admin` account (argon2)."""
    [password] = re.findall(r"password:\s+(\S+)", initialised.stdout)
    assert initialised.stdout.count(password) == 1
    assert re.search(r"user:\s+admin\b", initialised.stdout)
    stored = admin_hash(initialised.data_dir)
    assert stored.startswith("$argon2")
    assert PasswordHasher().verify(stored, password)


def test_second_init_creates_nothing_and_changes_no_file(node_dir: Path) -> None:
    """Issue 2 point 2: "a second start reuses all of it": nothing created, no password
    printed, every file byte-identical (CA, keys, certificate, database)."""
    before = snapshot(node_dir)
    assert {"pki/ca.pem", "pki/ca.key", "pki/tomcat.pem", "pki/tomcat.key"} <= set(before)
    result = run(node_dir, "init")
    assert "already initialised" in result.stdout
    assert "created:" not in result.stdout
    assert "password" not in result.stdout.lower()
    after = snapshot(node_dir)
    assert set(after) == set(before)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == []


def test_init_json_first_and_second_time(tmp_path: Path) -> None:
    """Issue 2 point 2 (`--json` for scripts): valid JSON both times; the first names what
    it created and the password, the second created nothing and shows no password; the
    fingerprints are the same."""
    data_dir = tmp_path / "var"
    first = json.loads(run(data_dir, "init", "--json").stdout)
    assert first["created"] and first["admin_user"] == "admin"
    assert isinstance(first["admin_password"], str) and len(first["admin_password"]) >= 12
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", first["web_fingerprint"])
    assert PasswordHasher().verify(admin_hash(data_dir), first["admin_password"])
    second = json.loads(run(data_dir, "init", "--json").stdout)
    assert second["created"] == [] and second["admin_password"] is None
    for key in ("ca_fingerprint", "web_fingerprint", "data_dir", "database_url"):
        assert second[key] == first[key]
    web = x509.load_pem_x509_certificates((data_dir / "pki" / "tomcat.pem").read_bytes())[0]
    digest = hashlib.sha256(web.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert first["web_fingerprint"].replace(":", "") == digest


def test_init_admin_password_file(tmp_path: Path) -> None:
    """Issue 2 point 2: the admin password may be taken from a file; it is then not
    printed, and it is the stored account's password."""
    secret = tmp_path / "admin-password"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    data_dir = tmp_path / "var"
    result = run(data_dir, "init", "--admin-password-file", str(secret))
    assert "created: admin account" in result.stdout
    assert "password:" not in result.stdout and "correct horse" not in result.stdout
    stored = admin_hash(data_dir)
    assert PasswordHasher().verify(stored, "correct horse battery staple")
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(stored, "something else")


def test_init_refuses_a_short_password_file(tmp_path: Path) -> None:
    """A password file with fewer than 8 characters is refused: a message, exit 1, no
    traceback."""
    secret = tmp_path / "admin-password"
    secret.write_text("short\n", encoding="utf-8")
    result = run(tmp_path / "var", "init", "--admin-password-file", str(secret), ok=False)
    assert result.returncode != 0
    assert "at least 8 characters" in result.stderr


def test_init_data_dir_from_sipoauth_home(tmp_path: Path) -> None:
    """Issue 2 point 2: the data directory is `--data-dir` or `SIPOAUTH_HOME`."""
    home = tmp_path / "home"
    result = subprocess.run(
        [*SIPOAUTH, "--hostname", HOST, "init", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV | {"SIPOAUTH_HOME": str(home)},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data_dir"] == str(home)
    assert (home / "pki" / "ca.pem").exists() and (home / "sipoauth.db").exists()
    assert not (tmp_path / "var").exists()


# -- serve ------------------------------------------------------------------------------


@dataclass
class Served:
    """A running `sipoauth serve`."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    data_dir: Path
    oauth_port: int
    mra_port: int
    stdout: list[str] = dataclasses.field(default_factory=list)

    def read_until(self, done: str | None = None, *, count: int | None = None) -> list[str]:
        """Lines printed up to the one containing `done` (or `count` lines)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"serve printed only {self.stdout!r}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"serve exited early: {self.stdout!r}"
            self.stdout.append(line)
            if (done is not None and done in line) or len(self.stdout) == count:
                return self.stdout

    def rest(self) -> list[str]:
        """Every line printed after `read_until`, once the process has exited."""
        rest = []
        while (line := self.lines.get(timeout=STOP_TIMEOUT)) is not None:
            rest.append(line)
        return rest


@pytest.fixture
def serve(node_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`sipoauth serve --bind 127.0.0.1` on free ports; the test stops it (killed if not)."""
    oauth_port, mra_port = free_port(), free_port()
    while mra_port == oauth_port:
        mra_port = free_port()
    asyncio.run(_set_ports(node_dir, oauth_port, mra_port))
    command = [*SIPOAUTH, "--data-dir", str(node_dir), "--hostname", HOST, "serve"]
    command += ["--bind", "127.0.0.1"]
    served: Served | None = None

    def start(*args: str) -> Served:
        nonlocal served
        stderr = (tmp_path / "serve.err").open("w")
        process = subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=ENV,
            cwd=tmp_path,
        )
        stderr.close()  # the child has its own copy
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        served = Served(process, lines, node_dir, oauth_port, mra_port)
        return served

    yield start
    if served is not None:
        with served.process as process:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def stderr_of(served: Served) -> str:
    return (served.data_dir.parent / "serve.err").read_text(errors="replace")


def tls_options_ping(served: Served) -> tuple[ssl.SSLSocket, bytes, dict[str, object]]:
    """Open TLS to the SIP Phone OAuth Port, trusting the data directory's CA and checking
    the host name; send an OPTIONS; return the socket (still open), the answer, the cert."""
    context = ssl.create_default_context(cafile=str(served.data_dir / "pki" / "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", served.oauth_port), timeout=5)
    tls = context.wrap_socket(raw, server_hostname=HOST)
    cert = tls.getpeercert()
    assert cert is not None
    tls.sendall(
        b"OPTIONS sip:cucm-pub.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TLS 127.0.0.1:5555;branch=z9hG4bK-cli-1\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=1\r\n"
        b"To: <sip:cucm-pub.example.com>\r\nCall-ID: cli-probe\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = tls.recv(4096)
        assert chunk, answer
        answer += chunk
    return tls, answer, cert


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_prints_listeners_accepts_tls_and_stops_on_signal(
    serve: Callable[..., Served], signum: signal.Signals
) -> None:
    """Issue 2 point 2: `serve` prints each listener (SIP Phone OAuth Port, TLS; SIP Mobile
    and Remote Access Port, mTLS); the OAuth port completes a TLS handshake with the web
    certificate (trusted through the data directory's CA, host name checked) and answers
    SIP; on SIGINT / SIGTERM the process exits 0 within a few seconds, even with a
    client still connected, and the port is closed."""
    served = serve()
    printed = "".join(served.read_until("Ctrl-C stops the node."))
    assert re.search(rf"SIP Phone OAuth Port\s+TLS\s+127\.0\.0\.1:{served.oauth_port}\b", printed)
    assert re.search(
        rf"SIP Mobile and Remote Access Port\s+mTLS\s+127\.0\.0\.1:{served.mra_port}\b", printed
    )
    assert re.search(r"Web administration https://\S+:\d+/admin/\n", printed), printed

    tls, answer, cert = tls_options_ping(served)
    try:
        assert answer.startswith(b"SIP/2.0 200 "), answer
        assert b"Call-ID: cli-probe" in answer
        assert ("DNS", HOST) in cert["subjectAltName"]  # type: ignore[operator]
        started = time.monotonic()
        served.process.send_signal(signum)
        assert served.process.wait(timeout=STOP_TIMEOUT) == 0, stderr_of(served)
        assert time.monotonic() - started < STOP_TIMEOUT
    finally:
        tls.close()
    assert "stopping" in "".join(served.rest())
    assert "Traceback" not in stderr_of(served)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served.oauth_port), timeout=2).close()


def test_serve_json_prints_one_line_listing_the_listeners(serve: Callable[..., Served]) -> None:
    """Issue 2 point 2 (`--json` on commands that list things): one JSON line naming both
    SIP listeners with protocol, host and port; nothing else on stdout; exits 0 on
    SIGTERM."""
    served = serve("--json")
    [line] = served.read_until(count=1)
    listed = json.loads(line)
    assert listed["node"] == HOST
    by_name = {x["name"]: x for x in listed["listeners"]}
    assert by_name["SIP Phone OAuth Port"] == {
        "service": "Cisco CallManager",
        "name": "SIP Phone OAuth Port",
        "protocol": "TLS",
        "host": "127.0.0.1",
        "port": served.oauth_port,
    }
    assert by_name["SIP Mobile and Remote Access Port"]["protocol"] == "mTLS"
    assert by_name["SIP Mobile and Remote Access Port"]["port"] == served.mra_port
    tls, answer, _ = tls_options_ping(served)  # the listed port serves SIP over TLS
    tls.close()
    assert answer.startswith(b"SIP/2.0 200 ")
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=STOP_TIMEOUT) == 0, stderr_of(served)
    assert served.rest() == []


SIGNAL_ON_ANNOUNCE = """
import os, sys

class SignalOnMarker:
    # stdout that signals this very process once a line containing `marker` is flushed:
    # the quickest possible "stop" from a supervisor that waits for the announcement.
    def __init__(self, stream, signum, marker):
        self._stream, self._signum, self._marker = stream, signum, marker
        self._seen = self._sent = False

    def write(self, text):
        if isinstance(text, str) and self._marker in text:
            self._seen = True
        return self._stream.write(text)

    def flush(self):
        self._stream.flush()
        if self._seen and not self._sent:
            self._sent = True
            os.kill(os.getpid(), self._signum)

    def __getattr__(self, name):
        return getattr(self._stream, name)

signum, marker = int(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
sys.stdout = SignalOnMarker(sys.stdout, signum, marker)
from sipoauth.cli import main
main()
"""


@pytest.mark.parametrize(
    ("signum", "marker", "extra"),
    [
        pytest.param(signal.SIGTERM, '"listeners"', ["--json"], id="SIGTERM-json"),
        pytest.param(signal.SIGINT, "Ctrl-C stops the node.", [], id="SIGINT-text"),
    ],
)
def test_serve_stops_cleanly_on_a_signal_right_after_announcing(
    node_dir: Path, tmp_path: Path, signum: signal.Signals, marker: str, extra: list[str]
) -> None:
    """Issue 2 point 2 ("exits cleanly on SIGINT/SIGTERM"): once `serve` has announced
    its listeners, a script or supervisor may stop it at once; the signal must already
    be handled then: exit status 0, shutdown done ("stopping" in text mode)."""
    asyncio.run(_set_ports(node_dir, free_port(), free_port()))
    wrapper = tmp_path / "signal_on_announce.py"
    wrapper.write_text(SIGNAL_ON_ANNOUNCE, encoding="utf-8")
    result = subprocess.run(
        [
            PYTHON,
            str(wrapper),
            str(int(signum)),
            marker,
            "--data-dir",
            str(node_dir),
            "--hostname",
            HOST,
            "serve",
            "--bind",
            "127.0.0.1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    assert marker in result.stdout
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    if "--json" not in extra:
        assert result.stdout.rstrip().endswith("stopping")


def test_serve_reports_a_port_in_use_without_traceback(node_dir: Path, tmp_path: Path) -> None:
    """Issue 2 point 2: a listener that cannot bind (port taken) stops `serve` with a
    message naming the address and a non-zero exit status, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        asyncio.run(_set_ports(node_dir, port, free_port()))
        result = run(node_dir, "serve", "--bind", "127.0.0.1", ok=False, cwd=tmp_path)
    assert result.returncode != 0
    assert f"127.0.0.1', {port}" in result.stderr or f"127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr


# -- administration commands -------------------------------------------------------------


def test_sip_oauth_mode_enable_then_status_json(node_dir: Path) -> None:
    """R7 (enable SIP OAuth mode from the command line): off after init, on after
    `utils sipOAuth-mode enable`; the change waits for a CallManager restart (R8)."""
    status = run(node_dir, "utils", "sipOAuth-mode", "status", "--json")
    assert json.loads(status.stdout)["sip_oauth_mode"] is False
    run(node_dir, "license", "register", "--virtual-account", "tests", "--allow-export-controlled")
    enabled = run(node_dir, "utils", "sipOAuth-mode", "enable")
    assert "restart" in enabled.stdout.lower()
    status = run(node_dir, "utils", "sipOAuth-mode", "status", "--json")
    assert json.loads(status.stdout)["sip_oauth_mode"] is True


def test_sip_challenge_style_set_status_and_refusal(node_dir: Path) -> None:
    """REFERENCE-BEHAVIOUR step 2 / RFC 8898: the challenge style is a setting with two
    values; anything else is refused with the choices named and no traceback."""
    status = run(node_dir, "utils", "sip-challenge-style", "status", "--json")
    assert json.loads(status.stdout) == {"sip_challenge_style": "rfc8898"}
    run(node_dir, "utils", "sip-challenge-style", "set", "proxy")
    status = run(node_dir, "utils", "sip-challenge-style", "status", "--json")
    assert json.loads(status.stdout) == {"sip_challenge_style": "proxy"}
    bad = run(node_dir, "utils", "sip-challenge-style", "set", "digest", ok=False)
    assert bad.returncode != 0
    assert "rfc8898, proxy" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_devices_add_and_list_json(node_dir: Path) -> None:
    """R1.1 / R9: an 8851 with the OAuth profile and line 1001 is added and listed."""
    added = run(
        node_dir,
        "devices",
        "add",
        "SEP001122334455",
        "--model",
        "8851",
        "--line",
        "1001",
        "--profile",
        OAUTH_PROFILE,
    )
    assert "SEP001122334455" in added.stdout
    [device] = json.loads(run(node_dir, "devices", "list", "--json").stdout)
    assert device["name"] == "SEP001122334455"
    assert device["model"] == "8851"
    assert device["lines"] == ["1001"]
    assert device["profile"] == OAUTH_PROFILE
    assert device["oauth"] is True


def test_devices_add_refuses_a_model_outside_r1_1(node_dir: Path) -> None:
    """R1.1/R1.2: "a device whose model is not in R1.1 cannot be given an OAuth-enabled
    security profile": a 7960 is refused with a message naming the rule, exit status
    not 0, no traceback, and nothing is stored."""
    refused = run(
        node_dir,
        "devices",
        "add",
        "SEP001122334466",
        "--model",
        "7960",
        "--line",
        "1002",
        "--profile",
        OAUTH_PROFILE,
        ok=False,
    )
    assert refused.returncode != 0
    assert "R1.1" in refused.stderr and "7960" in refused.stderr
    assert json.loads(run(node_dir, "devices", "list", "--json").stdout) == []


def test_edges_add_and_list_json(node_dir: Path) -> None:
    """R6 (edge entries allowed on the SIP MRA port): added with its certificate name,
    listed as JSON."""
    run(node_dir, "edges", "add", "192.0.2.50", "--x509-name", "expc.example.com")
    [edge] = json.loads(run(node_dir, "edges", "list", "--json").stdout)
    assert edge["address"] == "192.0.2.50"
    assert edge["x509_names"] == ["expc.example.com"]


def test_registrations_list_json_empty(node_dir: Path) -> None:
    """Issue 2 point 2 (`--json` on listings): no node has registered anything yet: []."""
    assert json.loads(run(node_dir, "registrations", "list", "--json").stdout) == []


# -- help ------------------------------------------------------------------------------


def test_console_script_root_help(tmp_path: Path) -> None:
    """The installed `sipoauth` console script (pyproject [project.scripts]) answers
    `--help` with exit status 0 and names its commands."""
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT}: is the package installed (make test)?"
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("init", "serve", "utils", "devices", "edges", "registrations"):
        assert command in result.stdout
    assert not (tmp_path / "var").exists()  # --help creates no data directory


def test_serve_help(tmp_path: Path) -> None:
    """`sipoauth serve --help` exits 0 and documents --bind and --json."""
    result = run(tmp_path / "var", "serve", "--help")
    assert "--bind" in result.stdout and "--json" in result.stdout
    assert not (tmp_path / "var").exists()
