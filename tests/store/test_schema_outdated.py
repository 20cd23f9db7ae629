"""A database this version has not migrated yet (an upgrade before `init`, or
a data directory never initialised) is named as such, with the command that
fixes it — not reported as a database outage."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipoauth.cli import app
from sipoauth.store import SchemaOutdated, Store, StoreUnavailable


async def test_a_missing_table_says_run_init(db_url: str) -> None:
    store = await Store.open(db_url)  # never migrated
    try:
        with pytest.raises(SchemaOutdated, match="run sipoauth init to upgrade it") as raised:
            await store.nodes.list()
        assert not isinstance(raised.value, StoreUnavailable)
    finally:
        await store.close()


def test_an_admin_command_before_init_names_init(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(data), "servers", "list"],
        env={"SIPOAUTH_HOME": None, "SIPOAUTH_DATABASE_URL": None, "SIPOAUTH_NODE": None},
    )
    assert result.exit_code == 1
    assert "the database schema is older than this version" in result.stderr
    assert "run sipoauth init to upgrade it" in result.stderr
    assert "Traceback" not in result.output
