"""What every `sipoauth` command shares: where the node's data and database are."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:  # imported where used: the store costs ~0.6 s (see _light.py)
    from sipoauth.store import Store

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CliContext:
    """Options of the root command."""

    data_dir: Path
    database_url: str
    node_name: str
    hostname: str

    async def open_store(self) -> Store:
        """The store, unlocked with the data directory's cluster secret if it
        has one (commands that read private keys need it)."""
        from sipoauth.store import Store

        store = await Store.open(self.database_url)
        try:
            await store.unlock_from(self.data_dir)
        except BaseException:
            await store.close()
            raise
        return store


def make_context(
    data_dir: Path, database_url: str | None, node_name: str | None, hostname: str
) -> CliContext:
    from sipoauth.store import database_url_for

    data_dir = data_dir.expanduser()
    url = (
        database_url
        or os.environ.get("SIPOAUTH_DATABASE_URL")
        or database_url_for(data_dir.resolve())
    )
    return CliContext(data_dir, url, node_name or hostname, hostname)


def with_overrides(
    cli: CliContext, *, database_url: str | None = None, node_name: str | None = None
) -> CliContext:
    """``cli`` with what a command's own options give instead of the global ones."""
    return dataclasses.replace(
        cli,
        database_url=database_url or cli.database_url,
        node_name=node_name or cli.node_name,
    )


def get_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion (uvloop when installed)."""

    async def main() -> T:
        return await coro_factory()

    return asyncio.run(main())


async def with_store(ctx: CliContext, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run `action`, close the store. A database error ends the
    command with its message (not a traceback)."""
    from sipoauth.store import StoreError

    try:
        try:
            store = await ctx.open_store()
        except ValueError as exc:  # an unusable cluster secret file
            raise fail(str(exc)) from None
        try:
            return await action(store)
        finally:
            await store.close()
    except StoreError as exc:
        raise fail(store_error_text(exc)) from None


def store_error_text(exc: Exception) -> str:
    """What to print for a database error: its message when it is the
    operator's to act on, a summary for a refused write (a race)."""
    from sipoauth.store import IntegrityViolation, StoreUnavailable

    if isinstance(exc, StoreUnavailable):
        return f"the database is not available: {exc}"
    if isinstance(exc, IntegrityViolation):
        return "the database refused the change (it was changed meanwhile); try again"
    return str(exc)


def emit_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """Print a listing: JSON for scripts, or an aligned table for people."""
    if as_json:
        json.dump(list(rows), sys.stdout, default=str, indent=2)
        sys.stdout.write("\n")
        return
    if not rows:
        typer.echo("(none)")
        return
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        typer.echo("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
