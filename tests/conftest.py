"""Fixtures shared by the whole suite: databases.

- ``pg_url`` (session): admin URL of a throwaway PostgreSQL server started
  with ``initdb`` + ``pg_ctl`` for this test session (as the ``postgres`` user
  when running as root), or the server named by ``SIPOAUTH_TEST_PG_URL``.
  Tests that need it are skipped, with the reason, when neither is available.
- ``db_kind`` / ``db_url``: a fresh, empty database, once on SQLite and once
  on PostgreSQL (the PostgreSQL case carries the ``postgresql`` mark:
  ``-m "not postgresql"`` runs SQLite only).
- ``migrated_db_url``: the same, already migrated (cloned from a template).
- ``pg_db_url``: a fresh, empty PostgreSQL database only (cluster tests).
- ``own_pg_server`` (module): a PostgreSQL server of the module's own, which
  its tests may halt and resume (database outage tests).
- ``store``: a :class:`sipoauth.store.Store` on ``db_url``, migrated, closed after.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import queue
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy.engine import make_url

from sipoauth.store import Store, normalise_url
from sipoauth.store._migrate import upgrade
from sipoauth.store._models import metadata as store_metadata

PG_URL_ENV = "SIPOAUTH_TEST_PG_URL"
PG_USER = "sipoauth"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: needs the throwaway PostgreSQL server")


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL as a libpq/psycopg connection URI."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "pg_ctl").exists():
        return Path(found).resolve().parent

    def version(path: str) -> tuple[int, ...]:
        number = Path(path).parent.parent.name
        return tuple(int(part) for part in number.split(".") if part.isdigit())

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _skip(reason: str) -> None:
    print(f"\n[pg_url] skipping PostgreSQL tests: {reason}")
    pytest.skip(reason)


class _PgServer:
    """A PostgreSQL cluster in a temporary directory, trust auth, loopback only."""

    def __init__(self, bindir: Path, *, crash_safe: bool = False) -> None:
        self.bindir = bindir
        self.crash_safe = crash_safe
        """Commits are durable before they are acknowledged (``synchronous_commit``
        on), so a :meth:`halt` loses nothing committed; off by default (faster)."""
        self.root = Path(tempfile.mkdtemp(prefix="sipoauth-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run them as `postgres`.
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                _skip("running as root and there is no 'postgres' user to run initdb as")
            if shutil.which("runuser") is None:
                shutil.rmtree(self.root)
                _skip("running as root and runuser (util-linux) is missing")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / args[0]), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            PG_USER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        for attempt in range(3):
            self.port = _free_port()
            try:
                self._pg_ctl_start()
                return
            except RuntimeError:
                if attempt == 2:  # the port was taken in between, three times: give up
                    raise

    def _pg_ctl_start(self) -> None:
        # fsync=off is safe against a crash of the server (the OS keeps its
        # writes); synchronous_commit=off is not: the last commits may be lost.
        commit = "on" if self.crash_safe else "off"
        options = (
            f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c fsync=off -c synchronous_commit={commit} -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def halt(self) -> None:
        """Stop the server at once, as a crash or a lost host would (``pg_ctl stop -m
        immediate``: every client connection drops); :meth:`resume` starts it again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        """Start a halted server again: same data, same port (crash recovery runs)."""
        self._pg_ctl_start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """Admin URL (``postgresql+psycopg://…/postgres``) of a PostgreSQL server."""
    configured = os.environ.get(PG_URL_ENV)
    if configured:
        yield normalise_url(configured).render_as_string(hide_password=False)
        return
    bindir = _pg_bindir()
    if bindir is None:
        _skip("initdb/pg_ctl not found on PATH nor under /usr/lib/postgresql/*/bin")
        return
    server = _PgServer(bindir)
    started = time.monotonic()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    print(f"\n[pg_url] PostgreSQL on 127.0.0.1:{server.port} in {time.monotonic() - started:.2f}s")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_pg_server() -> Iterator[_PgServer]:
    """A throwaway PostgreSQL server of the test module's own, which its tests may
    :meth:`~_PgServer.halt` and :meth:`~_PgServer.resume` (a database outage) without
    touching the session's server (``pg_url``). ``.url`` is its admin URL. Crash
    safe: what was committed before a halt is there after it. Skipped, with the
    reason, when initdb/pg_ctl are missing."""
    bindir = _pg_bindir()
    if bindir is None:
        _skip("initdb/pg_ctl not found on PATH nor under /usr/lib/postgresql/*/bin")
        return
    server = _PgServer(bindir, crash_safe=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _create_database(conn: psycopg.Connection[object], template: str | None = None) -> str:
    name = f"t_{secrets.token_hex(6)}"
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
    conn.execute(query)
    return name


def _drop_database(conn: psycopg.Connection[object], name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def fresh_pg_database(admin_url: str) -> Iterator[str]:
    """Create an empty database on the server of ``admin_url``; drop it after."""
    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
        name = _create_database(conn)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
            _drop_database(conn, name)


TEMPLATE_DB = "sipoauth_migrated"
"""Database migrated once per session on the throwaway server; cloned for ``store``."""


def _recycle(url: str) -> bool:
    """Empty a migrated test database for the next test: TRUNCATE every table
    (ids restart) but ``alembic_version``. False, so the caller drops it
    instead, when its tables are not exactly the schema's (a test altered it)
    or a connection left open holds a lock."""
    expected = set(store_metadata.tables)
    try:
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '1s'")
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            if {row[0] for row in rows} != expected | {"alembic_version"}:
                return False
            tables = sql.SQL(", ").join(sql.Identifier(name) for name in sorted(expected))
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))
            return True
    except psycopg.Error:
        return False


class _PgDatabasePool:
    """Fresh databases created ahead of need, and dropped, by a worker thread.

    CREATE DATABASE costs ~150 ms and migrating ~100 ms: done while earlier
    tests run, a test rarely waits. Two kinds: empty (``db_url``) and migrated
    (cloned from a template migrated once, for ``store``). A migrated database
    given back is emptied with TRUNCATE (~10 ms) and handed out again.
    """

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._ready: dict[bool, queue.Queue[str | BaseException]] = {
            False: queue.Queue(),
            True: queue.Queue(),
        }
        self._work: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="pg-database-pool", daemon=True)
        self._thread.start()
        for migrated in (True, True, False):
            self._work.put(("", migrated))

    def _url(self, name: str) -> str:
        return make_url(self._admin_url).set(database=name).render_as_string(hide_password=False)

    def _run(self) -> None:
        template_ready = False
        with psycopg.connect(libpq_conninfo(self._admin_url), autocommit=True) as conn:
            while (job := self._work.get()) is not None:
                drop, migrated = job
                try:
                    if drop:
                        if migrated and _recycle(self._url(drop)):
                            self._ready[True].put(drop)
                        else:
                            _drop_database(conn, drop)
                        continue
                    if migrated and not template_ready:
                        _drop_database(conn, TEMPLATE_DB)
                        conn.execute(
                            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB))
                        )
                        upgrade(normalise_url(self._url(TEMPLATE_DB)), busy_timeout_ms=5000)
                        template_ready = True
                    self._ready[migrated].put(
                        _create_database(conn, template=TEMPLATE_DB if migrated else None)
                    )
                except Exception as error:
                    self._ready[migrated].put(error)
            for ready in self._ready.values():  # the session is over: drop the spares
                while not ready.empty():
                    name = ready.get_nowait()
                    if isinstance(name, str):
                        _drop_database(conn, name)
            if template_ready:
                _drop_database(conn, TEMPLATE_DB)

    def take(self, *, migrated: bool = False) -> str:
        """URL of a new database; give it back with :meth:`release`."""
        ready = self._ready[migrated]
        if ready.qsize() <= 1:
            self._work.put(("", migrated))  # one more for a later test
        name = ready.get(timeout=120)
        if isinstance(name, BaseException):
            raise name
        return self._url(name)

    def release(self, url: str, *, migrated: bool = False) -> None:
        """Drop the database of ``url``, or empty a migrated one for reuse
        (in the background)."""
        name = make_url(url).database
        assert name is not None
        self._work.put((name, migrated))

    def close(self) -> None:
        self._work.put(None)
        self._thread.join(timeout=60)


@pytest.fixture(scope="session")
def _pg_databases(pg_url: str) -> Iterator[_PgDatabasePool]:
    pool = _PgDatabasePool(pg_url)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per session; copied for ``store``."""
    path = tmp_path_factory.mktemp("sqlite-template") / "sipoauth.db"
    upgrade(normalise_url(f"sqlite:///{path}"), busy_timeout_ms=5000)
    return path


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def db_kind(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``: what ``db_url`` and ``store`` run on."""
    kind: str = request.param
    return kind


def _fresh_database(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, *, migrated: bool
) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "sipoauth.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    pool: _PgDatabasePool = request.getfixturevalue("_pg_databases")
    url = pool.take(migrated=migrated)
    try:
        yield url
    finally:
        pool.release(url, migrated=migrated)


@pytest.fixture
def migrated_db_url(request: pytest.FixtureRequest, db_kind: str, tmp_path: Path) -> Iterator[str]:
    """Like ``db_url``, already at the head revision (a copy of a template)."""
    yield from _fresh_database(request, db_kind, tmp_path, migrated=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, db_kind: str, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database: SQLite file, or a new PostgreSQL database.

    In a test that also uses ``store`` (so ``migrated_db_url``), it is that
    Store's database, already migrated: what the test would see anyway.
    """
    if "migrated_db_url" in request.fixturenames:
        yield request.getfixturevalue("migrated_db_url")
        return
    yield from _fresh_database(request, db_kind, tmp_path, migrated=False)


@pytest.fixture
def pg_db_url(_pg_databases: _PgDatabasePool) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (for PostgreSQL-only tests)."""
    url = _pg_databases.take()
    try:
        yield url
    finally:
        _pg_databases.release(url)


@pytest_asyncio.fixture(loop_scope="function")
async def store(migrated_db_url: str) -> AsyncIterator[Store]:
    """A Store on ``db_url``, migrated (``migrate()`` has run), closed after."""
    opened = await Store.open(migrated_db_url)
    try:
        await opened.migrate()  # a no-op on the copy; checks it is at head
        yield opened
    finally:
        await opened.close()
