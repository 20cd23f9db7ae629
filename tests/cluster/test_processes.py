"""A cluster of ``sipoauth`` OS processes, run as an operator runs one (issue 8
point 5, "several node processes").

``test_cluster`` runs three Node objects in one event loop; here every node,
every phone and every administrative command is its own process
(``python -m sipoauth …``, ``_proc``) on one throwaway PostgreSQL database:

1. ``init --database URL`` makes node1 the publisher (and ``cluster.secret``);
   node2 and node3 join with ``init --cluster-secret-file``. An administration
   shell script on the publisher (``sipoauth cli``, one command a line) gives
   every server free ports, registers the licence, trusts the cluster CA for
   phones, shortens the registration interval, adds two users, a
   CallManager group ``site-b`` (node2, then node3) and two desk phones with
   activation codes. Three ``serve --json`` processes start; SIP OAuth mode is
   enabled on the publisher and CallManager restarted on each node through the
   command channel, after which every node has applied it (R7, R8).
2. Two ``sim phone`` processes onboard with their codes over the TFTP and web
   ports and register: phone A (group Default: the publisher first) with
   node1, phone B (``site-b``) with node2.
3. ``registrations list --json`` (the publisher's data directory) shows both,
   on their nodes.
4. node2 stops (SIGTERM, exit 0): phone B registers with node3, the next node
   of its group, and the listing follows.
5. ``users deactivate`` of phone B's owner, on the publisher, revokes its grant:
   node3 drops the registration, the phone process reports ``revoked`` and
   exits 1; phone A stays registered.
6. A node4 started without the cluster secret (a fresh data directory, same
   database) exits non-zero naming ``--cluster-secret-file``, writes no server
   record, and node1 and node3 keep serving. Then everything stops cleanly:
   phone A unregisters, the nodes exit 0, no traceback anywhere.

Every process is killed and reaped at the end whatever happens; assertion
messages carry the processes' output and stderr tails. Waits are bounds,
never timing assertions.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from sim._simnode import PORT_FIELDS, free_ports
from sipoauth.admin import OAUTH_PROFILE

from ._proc import SIPOAUTH, Cli, Proc, Processes, json_lines, processes, sip_options

pytestmark = pytest.mark.postgresql

PUBLISHER = "node1"
NAMES = (PUBLISHER, "node2", "node3")
PHONE_A = ("00AB12CD3401", "1001", "alice")
"""MAC, line, owner: in group Default (every server, the publisher first)."""
PHONE_B = ("00AB12CD3402", "1002", "bob")
"""MAC, line, owner: in group ``site-b`` (node2, then node3)."""
GROUP = "site-b"
REGISTRATION_INTERVAL = 60
"""Seconds the registrars grant ("Registration Interval", its minimum)."""
STARTUP = 60.0
"""Seconds a process may take to start (imports, TLS, the database) on a busy machine."""
BOUND = 30.0
"""Seconds a change may take to reach a node, a phone or the listing (a bound)."""
FAILOVER_BOUND = REGISTRATION_INTERVAL + BOUND
"""A phone whose node stops registers with the next one at the latest at its
next refresh (docs/cluster.md); at once when it sees its connection close."""
STOP = 20.0
"""Seconds a node or a phone has to exit after SIGTERM."""
OPTIONS = {
    "sip_port": "--sip-port",
    "secure_sip_port": "--secure-sip-port",
    "oauth_port": "--sip-oauth-port",
    "mra_port": "--sip-mra-port",
    "web_port": "--web-port",
    "tftp_port": "--tftp-port",
    "tftp_secure_port": "--tftp-secure-port",
}
"""``servers set-ports`` option of each server record field."""


def device(mac: str) -> str:
    return f"SEP{mac}"


class Run:
    """One run of the scenario: the data directories, ports and processes."""

    def __init__(self, cli: Cli, procs: Processes, root: Path) -> None:
        self.cli = cli
        self.procs = procs
        self.dirs = {name: root / name for name in (*NAMES, "node4")}
        every = free_ports(len(PORT_FIELDS) * len(NAMES))
        self.ports = {
            name: dict(zip(PORT_FIELDS, every[i * len(PORT_FIELDS) :], strict=False))
            for i, name in enumerate(NAMES)
        }

    @property
    def ca(self) -> Path:
        """The cluster CA, as the publisher's init wrote it."""
        return self.dirs[PUBLISHER] / "pki" / "ca.pem"

    def sip_address(self, name: str) -> str:
        """How a phone names the node it registered with (``host:sipOAuthPort``)."""
        return f"localhost:{self.ports[name]['oauth_port']}"

    def admin(self, *args: str) -> Any:
        """``sipoauth … ARGS --json`` from the publisher's data directory."""
        return self.cli.json(self.dirs[PUBLISHER], PUBLISHER, *args)

    def shell(self, *commands: tuple[str, ...]) -> str:
        """Commands piped to the administration shell on the publisher."""
        lines = [shlex.join(command) for command in commands]
        return self.cli.script(self.dirs[PUBLISHER], PUBLISHER, lines)

    def registrations(self) -> set[tuple[str, str]]:
        """(device, node) of every registration the cluster lists."""
        rows = self.admin("registrations", "list")
        return {(row["device"], row["node"]) for row in rows}

    def until_registrations(self, expected: set[tuple[str, str]], what: str) -> None:
        """Poll the listing (mirrored ~1 s behind) until it is ``expected``."""
        deadline = time.monotonic() + BOUND
        while (last := self.registrations()) != expected:  # a process: about a second
            if time.monotonic() > deadline:
                break
        else:
            return
        raise AssertionError(
            f"{what}: the cluster lists {sorted(last)}, not {sorted(expected)}\n"
            + self.procs.report()
        )

    # -- the steps -----------------------------------------------------------------------

    def initialise(self) -> None:
        url = self.cli.database_url
        pub = self.dirs[PUBLISHER]
        # `init --database URL`, as docs/cluster.md shows, not the global option.
        first = self.cli.run(pub, PUBLISHER, "init", "--database", url, "--json", url=False)
        report = json.loads(first.stdout)
        secret = pub / "cluster.secret"
        assert report["cluster_secret_file"] == str(secret) and secret.exists(), report
        assert f"server {PUBLISHER} (publisher)" in report["created"], report
        join = ("init", "--database", url, "--cluster-secret-file", str(secret), "--json")
        joins = self.cli.run_many([(self.dirs[n], n, join) for n in NAMES[1:]], url=False)
        for name, result in zip(NAMES[1:], joins, strict=True):
            joined = json.loads(result.stdout)
            assert f"server {name} (subscriber)" in joined["created"], result.stdout
            # One cluster CA: the subscriber's comes from the database.
            assert joined["ca_fingerprint"] == report["ca_fingerprint"], result.stdout

    def configure(self) -> dict[str, str]:
        """The administration before the nodes start; the activation codes by device."""
        set_ports = [
            ("servers", "set-ports", name, *_port_options(self.ports[name])) for name in NAMES
        ]
        (mac_a, line_a, alice), (mac_b, line_b, bob) = PHONE_A, PHONE_B
        transcript = self.shell(
            *set_ports,
            ("license", "register", "--virtual-account", "Test", "--allow-export-controlled"),
            ("certificates", "upload", "phone-edge-trust", str(self.ca)),
            ("parameters", "set", "Registration Interval (seconds)", str(REGISTRATION_INTERVAL)),
            ("users", "add", alice),
            ("users", "add", bob),
            ("callmanager-groups", "add", GROUP, "--node", "node2", "--node", "node3"),
            ("devices", "add", device(mac_a), "--model", "8851", "--line", line_a,
             "--profile", OAUTH_PROFILE, "--owner", alice),
            ("devices", "add", device(mac_b), "--model", "8851", "--line", line_b,
             "--profile", OAUTH_PROFILE, "--owner", bob, "--callmanager-group", GROUP),
            ("activation-codes", "generate", device(mac_a), "--json"),
            ("activation-codes", "generate", device(mac_b), "--json"),
        )  # fmt: skip
        codes = {row["device"]: row["code"] for row in json_lines(transcript) if "code" in row}
        assert set(codes) == {device(mac_a), device(mac_b)}, transcript
        return codes

    def serve_argv(self, name: str) -> list[str]:
        """``sipoauth … serve --node NAME --json --bind 127.0.0.1`` in its data directory."""
        args = ("serve", "--node", name, "--json", "--bind", "127.0.0.1")
        return self.cli.argv(self.dirs[name], name, *args)

    def serve(self) -> None:
        """Start the three nodes; each prints its listeners, on the ports set."""
        started = {name: self.procs.start(name, self.serve_argv(name)) for name in NAMES}
        for name, proc in started.items():
            line = proc.wait_for("the listeners line", _listeners, STARTUP)
            assert line["node"] == name, line
            bound = {x["name"]: x["port"] for x in line["listeners"]}
            assert bound["SIP Phone OAuth Port"] == self.ports[name]["oauth_port"], line
            assert bound["TFTP HTTP"] == self.ports[name]["tftp_port"], line

    def enable_mode(self) -> None:
        """R7 on the publisher, then R8: restart CallManager on every node."""
        restarts = [
            ("utils", "service", "restart", "Cisco CallManager", "--node", name) for name in NAMES
        ]
        transcript = self.shell(
            ("utils", "sipOAuth-mode", "enable"),
            ("utils", "sipOAuth-mode", "status", "--json"),
            *restarts,
            ("utils", "sipOAuth-mode", "status", "--json"),
        )
        before, after = [row for row in json_lines(transcript) if "sip_oauth_mode" in row]
        assert before["sip_oauth_mode"] and after["sip_oauth_mode"], transcript
        pending = {n["node"]: n["restart_pending"] for n in before["nodes"]}
        assert pending == dict.fromkeys(NAMES, True), transcript
        applied = {n["node"]: (n["applied"], n["restart_pending"]) for n in after["nodes"]}
        assert applied == dict.fromkeys(NAMES, (True, False)), transcript

    def phone(self, mac: str, code: str, node: str) -> Proc:
        """``sipoauth sim phone`` bootstrapping from ``node``'s TFTP HTTP port."""
        argv = [*SIPOAUTH, "sim", "phone", "--mac", mac, "--activation-code", code]
        argv += ["--server", f"localhost:{self.ports[node]['tftp_port']}", "--json"]
        return self.procs.start(device(mac), argv)


def _port_options(ports: dict[str, int]) -> list[str]:
    return [arg for name, port in ports.items() for arg in (OPTIONS[name], str(port))]


def _listeners(lines: list[str]) -> dict[str, Any] | None:
    return next((row for row in json_lines("\n".join(lines)) if "listeners" in row), None)


def _registered_with(address: str) -> Any:
    return lambda e: e.get("event") == "registered" and e.get("node") == address


def test_node_processes_serve_phones_fail_over_and_revoke(pg_db_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path, pg_db_url)
    with processes(cli, tmp_path / "logs") as procs:
        run = Run(cli, procs, tmp_path)
        a, b = device(PHONE_A[0]), device(PHONE_B[0])

        # 1. The publisher, two subscribers, the administration, three node processes.
        run.initialise()
        codes = run.configure()
        run.serve()
        run.enable_mode()
        nodes = {name: procs.started[name] for name in NAMES}

        # 2. Two phones onboard and register, each with the first node of its group.
        phone_a = run.phone(PHONE_A[0], codes[a], PUBLISHER)
        phone_b = run.phone(PHONE_B[0], codes[b], "node2")
        phone_a.wait_for_event(
            "registered with node1",
            _registered_with(run.sip_address(PUBLISHER)),
            STARTUP,
            nodes[PUBLISHER],
        )
        phone_b.wait_for_event(
            "registered with node2",
            _registered_with(run.sip_address("node2")),
            STARTUP,
            nodes["node2"],
        )
        assert phone_a.events[0]["event"] == "caconfig", phone_a.report()
        assert any(e["event"] == "activated" for e in phone_b.events), phone_b.report()

        # 3. The cluster lists both registrations, on the nodes that hold them.
        run.until_registrations({(a, PUBLISHER), (b, "node2")}, "both phones registered")

        # 4. node2 stops: its phone registers with node3, the next node of its group.
        status = nodes["node2"].stop(STOP)
        assert status == 0, nodes["node2"].report()
        phone_b.wait_for_event(
            "registered with node3 after node2 stopped",
            _registered_with(run.sip_address("node3")),
            FAILOVER_BOUND,
            nodes["node3"],
        )
        run.until_registrations({(a, PUBLISHER), (b, "node3")}, "phone B on node3")

        # 5. Its owner's grants revoked on the publisher: node3 drops the phone's
        # registration and the phone reports why, and stops.
        result = cli.run(run.dirs[PUBLISHER], PUBLISHER, "users", "deactivate", PHONE_B[2])
        assert "1 grant(s) revoked" in result.stdout, result.stdout
        revoked = phone_b.wait_for_event(
            "reports its revocation", lambda e: e.get("event") == "revoked", BOUND, nodes["node3"]
        )
        assert "revoked" in revoked["message"], revoked
        assert phone_b.wait(BOUND) == 1, phone_b.report()
        run.until_registrations({(a, PUBLISHER)}, "phone B revoked, phone A still there")
        assert phone_a.process.poll() is None, phone_a.report()

        # 6. A node without the cluster secret is refused by name, writes nothing,
        # and the others keep serving.
        node4 = procs.start("node4", run.serve_argv("node4"))
        assert node4.wait(STARTUP) != 0, node4.report()
        assert "--cluster-secret-file" in node4.stderr_path.read_text(), node4.report()
        assert not node4.lines, node4.report()  # it never listened
        assert {row["name"] for row in run.admin("servers", "list")} == set(NAMES)
        for name in (PUBLISHER, "node3"):
            assert nodes[name].process.poll() is None, nodes[name].report()
            answer = sip_options(run.ports[name]["oauth_port"], run.ca)
            assert answer.startswith(b"SIP/2.0 200 "), (answer, nodes[name].report())
        # Phone A never lost node1 (it may have refreshed its registration there).
        assert phone_a.process.poll() is None, phone_a.report()
        kinds = {e["event"] for e in phone_a.events}
        assert not kinds & {"connection-lost", "failover", "revoked"}, phone_a.report()
        registered = [e["node"] for e in phone_a.events if e["event"] == "registered"]
        assert set(registered) == {run.sip_address(PUBLISHER)}, phone_a.report()

        # Everything stops cleanly: the phone unregisters, the nodes exit 0.
        assert phone_a.stop(STOP) == 0, phone_a.report()
        assert phone_a.events[-1]["event"] == "stopped", phone_a.report()
        assert any(e["event"] == "unregistered" for e in phone_a.events), phone_a.report()
        for name in (PUBLISHER, "node3"):
            assert nodes[name].stop(STOP) == 0, nodes[name].report()
        for name in NAMES:
            assert "Traceback" not in nodes[name].stderr_path.read_text(), nodes[name].report()
