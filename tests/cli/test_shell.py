"""`sipoauth cli`, the admin shell (issue 4): scripts through stdin, completion, history.

Scripts go in through the non-terminal path (Typer's CliRunner with `input=`),
in process, against a data directory initialised once per module and copied for
each test that changes it (as in test_cli.py).
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import pytest
import typer
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.shortcuts import PromptSession
from typer.testing import CliRunner, Result

from sipoauth.cli import app
from sipoauth.cli._shell import (
    HISTORY_FILE,
    PROMPT,
    Outcome,
    Shell,
    ShellCompleter,
    prepare,
    resolve,
    run_interactive,
    shell_history,
)

HOST = "cucm-pub.example.com"
PHONE = "SEP001122334455"
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}
ROOT = typer.main.get_command(app)


def sipoauth(data_dir: Path, *args: str, script: str | None = None) -> Result:
    """`sipoauth --data-dir D --hostname HOST ARGS` in process, checked for tracebacks."""
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "--hostname", HOST, *args], input=script, env=NO_ENV
    )
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def shell(data_dir: Path, *lines: str) -> Result:
    """Run `lines` as a script through `sipoauth cli`."""
    return sipoauth(data_dir, "cli", script="".join(f"{line}\n" for line in lines))


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-shell") / "var"
    result = sipoauth(data_dir, "init")
    assert result.exit_code == 0, result.output
    return data_dir


@pytest.fixture
def node_dir(initialised: Path, tmp_path: Path) -> Path:
    """A private copy of the initialised data directory."""
    copy = tmp_path / "var"
    shutil.copytree(initialised, copy)
    return copy


# -- Scripts ------------------------------------------------------------------


def test_commands_in_any_case(node_dir: Path) -> None:
    result = shell(
        node_dir,
        "UTILS SIPOAUTH-MODE STATUS",
        "Show Key Authz Signing",
        "utils Sip-Challenge-Style status --json",
    )
    assert result.exit_code == 0, result.output
    assert "SIP OAuth mode: disabled" in result.stdout
    assert "purpose:   authz-signing" in result.stdout
    assert '{"sip_challenge_style": ' in result.stdout
    assert result.stderr == ""


def test_transcript_shows_prompt_and_line(node_dir: Path) -> None:
    result = shell(node_dir, "utils sipOAuth-mode status", "", "exit")
    assert result.stdout.splitlines() == [
        f"{PROMPT}utils sipOAuth-mode status",
        "SIP OAuth mode: disabled",
        f"  {HOST} (publisher): not applied (Cisco CallManager unknown)",
        PROMPT,
        f"{PROMPT}exit",
    ]


def test_unknown_command_then_the_next_line_runs(node_dir: Path) -> None:
    result = shell(node_dir, "foo bar", "utils nothing", "utils sipoauth-mode status")
    assert result.exit_code == 1
    assert "error: No such command 'foo'." in result.stderr
    assert "Type 'help' for the commands." in result.stderr
    assert "error: No such command 'nothing'." in result.stderr
    assert "usage: utils [OPTIONS] COMMAND [ARGS]..." in result.stderr
    assert "SIP OAuth mode: disabled" in result.stdout


def test_unbalanced_quotes(node_dir: Path) -> None:
    result = shell(node_dir, f'devices delete "{PHONE}', "devices list")
    assert result.exit_code == 1
    assert "error: unbalanced quotes (no closing quotation); nothing was run" in result.stderr
    assert "(none)" in result.stdout


def test_help_lists_the_command_tree(node_dir: Path) -> None:
    result = shell(node_dir, "help")
    assert result.exit_code == 0, result.output
    listed = result.stdout
    for command in (
        "utils sipOAuth-mode enable",
        "utils sip-challenge-style set",
        "devices delete",
        "set key regen authz",
        "show key authz",
        "parameters reset",
        "exit | quit",
    ):
        assert f"  {command} " in listed, command
    assert " serve " not in listed
    assert "  cli " not in listed


def test_help_for_one_command_in_any_case(node_dir: Path) -> None:
    result = shell(node_dir, "help DEVICES Delete", "? show key")
    assert result.exit_code == 0, result.output
    assert "Delete a device." in result.stdout
    assert "sipoauth show key " in result.stdout
    assert "authz" in result.stdout


def test_exit_stops_the_script(node_dir: Path) -> None:
    for leave in ("exit", "QUIT"):
        result = shell(node_dir, leave, f"devices delete {PHONE}")
        assert result.exit_code == 0, result.output
        assert "does not exist" not in result.output


def test_exit_status_when_a_command_failed(node_dir: Path) -> None:
    result = shell(node_dir, f"devices delete {PHONE}", "utils sipOAuth-mode status")
    assert result.exit_code == 1
    assert f"error: device {PHONE} does not exist" in result.stderr
    assert "SIP OAuth mode: disabled" in result.stdout
    # A usage error and a group without its command fail too.
    assert shell(node_dir, "show key authz nope").exit_code == 1
    assert (
        "'nope' is not one of 'signing', 'encryption'"
        in shell(node_dir, "show key authz nope").stderr
    )
    assert shell(node_dir, "utils").exit_code == 1


def test_root_options_of_the_session_apply(node_dir: Path) -> None:
    result = shell(
        node_dir,
        f"DEVICES ADD {PHONE} --model 8851 --line 1001",
        "devices list",
    )
    assert result.exit_code == 0, result.output
    assert f"device {PHONE} added" in result.stdout
    listed = sipoauth(node_dir, "devices", "list", "--json")
    assert PHONE in listed.stdout


def test_cli_and_serve_are_refused(node_dir: Path) -> None:
    result = shell(node_dir, "serve", "CLI", "utils sipOAuth-mode status")
    assert result.exit_code == 1
    assert "error: 'serve' cannot be run inside the shell" in result.stderr
    assert "error: 'cli' cannot be run inside the shell" in result.stderr
    assert "SIP OAuth mode: disabled" in result.stdout


def test_trailing_words_join_into_one_text_argument(node_dir: Path) -> None:
    result = shell(
        node_dir,
        "devices delete No Such Phone",
        "parameters reset OAuth with Refresh Login Flow",
    )
    assert "error: device No Such Phone does not exist" in result.stderr
    assert "OAuth with Refresh Login Flow: Disabled (unchanged)" in result.stdout
    # Two arguments: nothing is guessed.
    result = shell(node_dir, "parameters set OAuth with Refresh Login Flow Enabled")
    assert result.exit_code == 1
    assert "Got unexpected extra argument(s) (Refresh Login Flow Enabled)" in result.stderr


# -- Resolution, without running ----------------------------------------------


def words(line: Sequence[str]) -> list[str]:
    return prepare(resolve(ROOT, line))


def test_resolution_leaves_arguments_and_options_as_typed() -> None:
    assert words(["UTILS", "SIPOAUTH-MODE", "ENABLE"]) == ["utils", "sipOAuth-mode", "enable"]
    assert words(["show", "KEY", "authz", "ENCRYPTION", "--json"]) == [
        "show",
        "key",
        "authz",
        "encryption",
        "--json",
    ]
    # Option names in any case too; their values as typed.
    assert words(["Devices", "Add", "sep00", "--MODEL", "Model X", "--description", "A b"]) == [
        "devices",
        "add",
        "sep00",
        "--model",
        "Model X",
        "--description",
        "A b",
    ]
    # Option values are not joined into the argument; `--` keeps words apart.
    assert words(["devices", "delete", "My", "--help", "Phone"]) == [
        "devices",
        "delete",
        "My Phone",
        "--help",
    ]
    assert words(["devices", "delete", "--", "a", "--B"]) == ["devices", "delete", "--", "a", "--B"]
    assert words(["devices", "list", "--JSON", "extra"]) == ["devices", "list", "--json", "extra"]
    assert words(["nothing", "Here"]) == ["nothing", "Here"]


# -- Completion ---------------------------------------------------------------


def complete(text: str, root: typer.main.Command | None = None) -> list[str]:
    completer = ShellCompleter(root or ROOT)
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [completion.text for completion in found]


def test_completes_command_names_in_any_case() -> None:
    assert complete("utils s") == ["sipOAuth-mode", "sip-challenge-style", "service"]
    assert complete("UTILS SIPO") == ["sipOAuth-mode"]
    assert complete("utils sipoauth-mode ") == ["enable", "disable", "status"]
    assert complete("help show k") == ["key"]
    top = complete("")
    assert {"utils", "devices", "show", "set", "help", "exit"} <= set(top)
    assert "serve" not in top
    assert "cli" not in top
    assert complete("nothing ") == []


def test_completes_options_after_a_command() -> None:
    assert complete("show key authz signing ") == ["--json", "--help"]
    assert complete("Devices Add SEP001122334455 --m") == ["--model"]
    after = complete("devices add SEP001122334455 --model 8851 --")
    assert "--model" not in after  # given already
    assert {"--line", "--profile", "--owner", "--help"} <= set(after)
    assert complete("devices add SEP001122334455 --model ") == []  # a free value


def test_completes_choices() -> None:
    assert complete("show key authz ") == ["signing", "encryption", "--json", "--help"]
    assert complete("SHOW KEY AUTHZ E") == ["encryption"]

    root = typer.main.get_command(TOOL)
    assert complete("top --style ", root) == ["rfc8898", "proxy"]
    assert complete("TOP --style P", root) == ["proxy"]
    assert complete("top --st", root) == ["--style"]
    assert complete("U", root) == ["utils"]


# -- Commands added later: no list of commands in the shell -------------------

TOOL = typer.Typer()
_service = typer.Typer()
TOOL.add_typer(_service, name="utils")


@TOOL.command("top")
def _top(style: Annotated[Literal["rfc8898", "proxy"], typer.Option()] = "proxy") -> None:
    """A command with an option taking a listed value."""
    typer.echo(f"style={style}")


@_service.command("restart")
def _restart(service: str) -> None:
    """Restart one service."""
    typer.echo(f"restarting [{service}]")


def test_any_command_tree(capsys: pytest.CaptureFixture[str]) -> None:
    tool = Shell(typer.main.get_command(TOOL), prog_name="tool")
    assert tool.run_line("UTILS Restart Cisco CallManager") is Outcome.OK
    assert tool.run_line("Top --STYLE PROXY") is Outcome.OK
    assert tool.run_line("top --style other") is Outcome.FAILED
    assert tool.run_line("quit") is Outcome.LEAVE
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["restarting [Cisco CallManager]", "style=proxy"]
    assert "usage: top [OPTIONS]" in captured.err


# -- History and the terminal loop --------------------------------------------


def test_history_file_keeps_no_password_lines(tmp_path: Path) -> None:
    history = shell_history(tmp_path)
    history.append_string("users add jdoe --password-file /tmp/pw")
    history.append_string("devices list")
    history.append_string("utils sipOAuth-mode status")
    path = tmp_path / HISTORY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "devices list" in text
    assert "password" not in text.casefold()
    assert list(history.get_strings()) == ["devices list", "utils sipOAuth-mode status"]
    reloaded = shell_history(tmp_path).load_history_strings()
    assert list(reloaded) == ["utils sipOAuth-mode status", "devices list"]  # newest first


def test_history_in_memory_without_a_writable_home(tmp_path: Path) -> None:
    for home in (None, tmp_path / "missing"):
        history = shell_history(home)
        history.append_string("users set-password jdoe --PASSWORD-stdin")
        history.append_string("devices list")
        assert list(history.get_strings()) == ["devices list"]
        assert not isinstance(getattr(history, "_inner", None), FileHistory)
        assert isinstance(getattr(history, "_inner", None), InMemoryHistory)
    assert not (tmp_path / "missing").exists()


def test_terminal_loop(
    node_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in NO_ENV:
        monkeypatch.delenv(name, raising=False)
    session_shell = Shell(ROOT, ("--data-dir", str(node_dir), "--hostname", HOST))
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(
            input=pipe, output=DummyOutput(), history=InMemoryHistory()
        )
        # Ctrl-C drops the line being typed; `exit` leaves.
        pipe.send_text("utils SIPOAUTH-mode status\rdevices delete x\x03foo\rexit\r")
        run_interactive(session_shell, session)
        captured = capsys.readouterr()
        assert "SIP OAuth mode: disabled" in captured.out
        assert "device x" not in captured.err
        assert "error: No such command 'foo'." in captured.err
        # Ctrl-D leaves too.
        pipe.send_text("\x04")
        run_interactive(session_shell, session)
