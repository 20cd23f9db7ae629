"""`sipoauth demo` (issue 6 point 5): the whole flow on this machine, end to end.

The demo runs in process, as the command does (its node, edge and every
`sipoauth …` command are subprocesses; the devices live in its event loop),
in a kept work directory so its logs can be checked after. It takes about a
minute on two cores: that is the demo's own length, ~25 commands at ~2 s of
interpreter start-up each.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from sipoauth.cli._demo import demo_command
from sipoauth.sim._demo import DemoConfig, run_demo

ON_PREMISES = "SEP00AB12CD3401"
MRA = "SEP00AB12CD3402"
SOFT = "CSFALICE"


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command("demo")(demo_command)

    @app.callback()
    def root() -> None:
        """(a group, as in the real app)"""

    return app


def _section(output: str, number: int) -> str:
    """Step ``number``'s lines: from its header to the next one."""
    start = output.index(f"[{number}/17]")
    end = output.find(f"[{number + 1}/17]", start)
    return output[start : end if end >= 0 else len(output)]


def _listed(section: str) -> set[str]:
    """Devices in the `registrations list` table printed in a step (its output is
    indented under the command; DEVICE is the header, "(none)" an empty table;
    "│" lines are device events)."""
    devices: set[str] = set()
    for line in section.split("$ sipoauth registrations list\n", 1)[1].splitlines():
        if not line.startswith("    "):
            break
        devices.add(line.split()[0])
    return devices - {"DEVICE", "(none)", "│"}


def test_the_demo_runs_the_whole_flow_and_exits_0(tmp_path: Path) -> None:
    kept = tmp_path / "demo"
    result = CliRunner().invoke(_app(), ["demo", "--keep", str(kept)])
    output = result.output
    assert result.exit_code == 0, output
    assert "Traceback" not in output and "FAILED" not in output

    # The task flow through the CLI, each command as typed.
    for command in (
        "$ sipoauth license register --virtual-account Demo --allow-export-controlled",
        "$ sipoauth certificates upload phone-edge-trust var/pki/ca.pem",
        "$ sipoauth certificates upload phone-edge-trust edge/ca.pem",
        "$ sipoauth certificates upload tomcat-trust edge/ca.pem",
        '$ sipoauth parameters set "OAuth with Refresh Login Flow" Enabled',
        "$ sipoauth edges add edge.example.com --x509-name edge.example.com",
        "$ sipoauth utils sipOAuth-mode enable",
        '$ sipoauth utils service restart "Cisco CallManager"',
        '$ sipoauth profiles add "8851 OAuth" --device-type 8851',
        f"$ sipoauth devices add {MRA} --model 8851",
        "$ sipoauth users add alice",
        f"$ sipoauth devices add {SOFT} --model CSF",
    ):
        assert command in output, command
    assert "SIP OAuth mode enabled" in _section(output, 9)

    # Three registered: on premises, through the edge, signed in.
    up = _section(output, 14)
    assert "all three registered" in up
    assert _listed(up) == {ON_PREMISES, MRA, SOFT}
    assert f"{MRA}  config v1 from localhost:" in up and "(mra, 1 node(s)" in up
    assert f"{SOFT}         signed in as alice (sipoauth-csf, PKCE S256" in up

    # Revoked: the soft client stops saying why, and its registration is gone.
    revoked = _section(output, 15)
    assert "registration refused: 401 invalid_token (token revoked): stopped" in revoked
    assert f"{SOFT} stopped: its grant is revoked" in revoked
    assert _listed(revoked) == {ON_PREMISES, MRA}

    # Reset: NOTIFY through the edge, the phone back with the new configVersion.
    reset = _section(output, 16)
    assert f"$ sipoauth devices reset {MRA}" in reset
    assert f"{MRA} re-registered (rebooted), configVersion 1 → 2" in reset
    assert f"{MRA}  config v2 from localhost:" in reset
    assert _listed(reset) == {ON_PREMISES, MRA}

    # A clean stop: the phones unregister, the edge and the node exit 0.
    stop = _section(output, 17)
    assert f"{ON_PREMISES}  unregistered from localhost:" in stop
    assert f"{MRA}  unregistered from localhost:" in stop
    assert "(none)" in stop
    assert "the edge stopped (status 0)" in stop and "the node stopped (status 0)" in stop
    assert "demo finished" in output

    # No secret on the console; the logs are kept and show no crash.
    for secret in (kept / "secrets").iterdir():
        assert secret.read_text().strip() not in output
    for log in ("node.log", "edge.log"):
        text = (kept / "logs" / log).read_text()
        assert text and "Traceback" not in text, log


def test_a_failed_step_says_which_and_why_and_exits_1(tmp_path: Path) -> None:
    """A `sipoauth` that fails at once: the first command's step fails, naming the
    command, its status and what it printed."""
    fails = (sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)")
    out = io.StringIO()
    console = Console(file=out, width=120)
    config = DemoConfig(keep=tmp_path / "demo", cli=fails)
    assert asyncio.run(run_demo(config, console)) == 1
    text = out.getvalue()
    assert "FAILED at step 1 (B2 a node on the embedded database" in text
    assert (
        "`sipoauth init --admin-password-file secrets/admin-password` exited with status 3" in text
    )
    assert "boom" in text and "demo failed (exit status 1)" in text


def test_keep_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    result = CliRunner().invoke(_app(), ["demo", "--keep", str(tmp_path)])
    assert result.exit_code == 1
    assert "not an empty directory" in result.output
