"""A command imports what it uses: `--help` and the administration commands stay light.

Typer builds the whole command tree before it runs a command, so whatever the
modules of `sipoauth.cli` import at their top is paid by every `sipoauth …`
(the demo runs ~26 of them; these tests run many more). The node (the web
application, uvicorn), the simulators (httpx, h11) and the shell's
prompt_toolkit are imported by the commands that use them. Each check runs
in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from sipoauth import _defaults, admin, node
from sipoauth.cli import _light, app
from sipoauth.node import _bootstrap, _logging

NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}

RUNNING = {
    "sipoauth.node",
    "sipoauth.web",
    "sipoauth.sim",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "h11",
    "prompt_toolkit",
}
"""What only `serve`, `edge`, `sim`, `demo` and `cli` need."""
RULES = {"sipoauth.admin", "sipoauth.store", "sipoauth.oauth", "sqlalchemy", "authlib"}
"""What the administration commands need (and `--help` does not)."""

_PROBE = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from sipoauth.cli import app
    for args in json.loads(sys.argv[1]):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output)
    print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
    """
)


def imported(commands: list[list[str]], watched: set[str]) -> set[str]:
    """The modules of `watched` imported by running `sipoauth ARGS` for each of
    `commands`, one after the other, in a fresh interpreter."""
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            _PROBE,
            json.dumps(commands),
            json.dumps(sorted(watched)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return set(found)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-light") / "var"
    result = CliRunner().invoke(app, ["--data-dir", str(path), "init"], env=NO_ENV)
    assert result.exit_code == 0, result.output
    return path


def test_help_imports_neither_node_nor_rules() -> None:
    assert imported([["--help"]], RUNNING | RULES) == set()


def test_command_help_does_not_import_the_node() -> None:
    # The root callback runs before a command's --help is seen: it makes the
    # database URL and enters the audit actor, so the store and rules load.
    assert imported([["parameters", "--help"], ["devices", "list", "--help"]], RUNNING) == set()


def test_admin_commands_do_not_import_the_node(data_dir: Path) -> None:
    commands = [
        ["parameters", "list"],
        ["devices", "list"],
        ["users", "list"],
        ["servers", "list"],
        ["certificates", "list", "tomcat"],
        ["utils", "sipOAuth-mode", "status"],
        ["utils", "service", "list"],
        ["callmanager-groups", "list"],
        ["profiles", "list"],
        ["show", "key", "authz", "signing"],
    ]
    root = ["--data-dir", str(data_dir)]
    assert imported([[*root, *command] for command in commands], RUNNING) == set()


def test_admin_commands_do_not_import_authlib(data_dir: Path) -> None:
    assert imported([["--data-dir", str(data_dir), "parameters", "list"]], {"authlib"}) == set()


def test_light_copies_match_the_rules() -> None:
    """What the command tree shows is the rules' own (see cli/_light.py)."""
    assert _light.DEFAULT_GROUP == admin.DEFAULT_GROUP
    assert _light.DEFAULT_PROFILE == admin.DEFAULT_PROFILE
    assert dict(_light.PORT_FIELDS) == dict(admin.PORT_FIELDS)
    assert list(_light.PORT_FIELDS) == list(admin.PORT_FIELDS)  # the columns' order
    assert get_args(_light.KeyKind) == get_args(admin.KeyKind)
    assert get_args(_light.LogLevel) == get_args(_logging.LogLevel)


def test_defaults_are_re_exported_by_the_node() -> None:
    assert node.DEFAULT_DATA_DIR is _defaults.DEFAULT_DATA_DIR
    assert node.default_hostname is _defaults.default_hostname
    assert _bootstrap.PKI_DIR is _defaults.PKI_DIR


def test_lazy_admin_is_the_module() -> None:
    assert _light.admin.list_parameters is admin.list_parameters
    assert _light.admin.AdminError is admin.AdminError
