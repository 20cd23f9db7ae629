"""Nodes initialising one empty database at the same moment (issue 8).

Configuration management provisions a cluster by making the secret once,
copying it to every machine and running ``sipoauth init --cluster-secret-file``
on all of them at once. Each init reads what the database has ("no server
yet", "no signing key yet", "no cluster CA yet") and creates what is missing;
run concurrently, several used to find the database empty and each make its
own publisher, keys and CA. ``initialise`` now holds the store's init lock (a
PostgreSQL advisory lock; ``flock`` beside a SQLite database) from the
migration to the end, so the nodes take turns and exactly one of each exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipoauth.node import initialise
from sipoauth.store import Store, new_secret

NAMES = ("node1", "node2", "node3", "node4")


@contextlib.asynccontextmanager
async def _opened(url: str, secret: bytes) -> AsyncIterator[Store]:
    """The database, unlocked with the cluster's secret (keys are sealed)."""
    store = await Store.open(url)
    try:
        await store.unlock(secret)
        assert store.unlocked
        yield store
    finally:
        await store.close()


async def _init_all(url: str, tmp_path: Path, names: tuple[str, ...], secret: bytes) -> None:
    await asyncio.gather(*(_init(url, tmp_path / n, n, secret) for n in names))


async def _init(url: str, data_dir: Path, name: str, secret: bytes) -> None:
    store = await Store.open(url)
    try:
        await initialise(
            store,
            data_dir=data_dir,
            hostname=f"{name}.example.com",
            node_name=name,
            admin_password="correct horse battery",
            cluster_secret=secret,
        )
    finally:
        await store.close()


@pytest.mark.postgresql
async def test_nodes_initialising_an_empty_database_at_once_make_one_of_everything(
    pg_db_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    await _init_all(pg_db_url, tmp_path, NAMES, secret)

    async with _opened(pg_db_url, secret) as store:
        roles = sorted(node.role for node in await store.nodes.list())
        assert roles == ["publisher", "subscriber", "subscriber", "subscriber"]
        assert len(await store.keys.active("authz-signing")) == 1
        assert len(await store.keys.active("authz-encryption")) == 1
        assert await store.admins.get("admin") is not None
        assert len(await store.trusted_certs.list("tomcat-trust")) == 1
    # One cluster CA, and every node's certificate issued by it.
    ca = (tmp_path / NAMES[0] / "pki" / "ca.pem").read_bytes()
    for name in NAMES[1:]:
        assert (tmp_path / name / "pki" / "ca.pem").read_bytes() == ca


@pytest.mark.postgresql
async def test_a_second_round_of_concurrent_inits_changes_nothing(
    pg_db_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    await _init_all(pg_db_url, tmp_path, NAMES, secret)
    async with _opened(pg_db_url, secret) as store:
        before = ([k.kid for k in await store.keys.list()], await store.nodes.list())
    await _init_all(pg_db_url, tmp_path, NAMES, secret)
    async with _opened(pg_db_url, secret) as store:
        after = ([k.kid for k in await store.keys.list()], await store.nodes.list())
    assert after == before


async def test_inits_of_one_sqlite_database_at_once_take_turns(tmp_path: Path) -> None:
    """The same on one SQLite file (two ``make run`` started at once)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    secret = new_secret()
    await _init_all(url, tmp_path, NAMES[:3], secret)
    async with _opened(url, secret) as store:
        roles = sorted(node.role for node in await store.nodes.list())
        assert roles == ["publisher", "subscriber", "subscriber"]
        assert len(await store.keys.active("authz-signing")) == 1
    assert (tmp_path / "shared.db.init-lock").exists()


# -- waiting is cancellable -------------------------------------------------------------


async def _cancelled_waiter_leaves_the_lock_usable(url: str) -> None:
    holder, waiter_store, later = [await Store.open(url) for _ in range(3)]
    try:
        async with holder.init_lock():
            waiter = asyncio.ensure_future(waiter_store.init_lock().__aenter__())
            await asyncio.sleep(0.3)
            assert not waiter.done()  # it waits its turn
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(waiter, 2)  # ends at once, no thread left blocked
        async with asyncio.timeout(5), later.init_lock():
            pass  # free again: the cancelled waiter holds nothing
    finally:
        for store in (holder, waiter_store, later):
            await store.close()


async def test_a_wait_for_the_sqlite_init_lock_ends_when_cancelled(tmp_path: Path) -> None:
    await _cancelled_waiter_leaves_the_lock_usable(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


@pytest.mark.postgresql
async def test_a_wait_for_the_postgresql_init_lock_ends_when_cancelled(pg_db_url: str) -> None:
    await _cancelled_waiter_leaves_the_lock_usable(pg_db_url)


def test_a_process_whose_sqlite_wait_timed_out_exits_while_the_lock_is_still_held(
    tmp_path: Path,
) -> None:
    """No thread is left blocked on the lock file: a process that gave up
    waiting ends (a thread blocked in flock would keep asyncio.run, and a
    Ctrl-C'd init, from returning until the other init finished)."""
    database = tmp_path / "x.db"
    code = (
        "import asyncio\n"
        "from sipoauth.store import Store\n"
        "async def main():\n"
        f"    store = await Store.open('sqlite+aiosqlite:///{database}')\n"
        "    try:\n"
        "        async with asyncio.timeout(0.5), store.init_lock():\n"
        "            print('got it')\n"
        "    except TimeoutError:\n"
        "        print('gave up')\n"
        "    finally:\n"
        "        await store.close()\n"
        "asyncio.run(main())\n"
    )
    fd = os.open(f"{database}.init-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for as long as the process may run
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
        )
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "gave up"


def test_serve_waiting_for_another_init_says_so_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`serve` runs init first; behind another init it waits, logs why, and a
    supervisor's SIGTERM still stops it at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPOAUTH_")}
    env["PYTHONUNBUFFERED"] = "1"
    base = [sys.executable, "-m", "sipoauth", "--data-dir", str(tmp_path / "var")]
    base += ["--hostname", "localhost"]
    password = tmp_path / "password"
    password.write_text("correct horse battery\n")
    subprocess.run(
        [*base, "init", "--admin-password-file", str(password)],
        check=True, capture_output=True, timeout=60, env=env,
    )  # fmt: skip
    fd = os.open(tmp_path / "var" / "sipoauth.db.init-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another init is running
        err = (tmp_path / "serve.err").open("w+")
        serve = subprocess.Popen(
            [*base, "serve", "--bind", "127.0.0.1", "--log-level", "info"],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while "waiting for another node's init" not in (tmp_path / "serve.err").read_text():
                assert serve.poll() is None, (tmp_path / "serve.err").read_text()
                assert time.monotonic() < deadline, "serve did not say it waits"
                time.sleep(0.1)
            serve.send_signal(signal.SIGTERM)
            stdout, _ = serve.communicate(timeout=5)
            assert serve.returncode == 0
            assert "SIP Phone OAuth Port" not in stdout  # it never started
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.communicate()
            err.close()
    finally:
        os.close(fd)
