"""The Store: one per process, owning the engine, the repositories and notifications."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, cast

from sqlalchemy import exc, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ._activation import ActivationCodesRepository
from ._admin_tokens import AdminTokensRepository
from ._admins import AdminsRepository
from ._audit import AuditRepository
from ._base import Clock, StoreContext, WriteGate
from ._certs import TrustedCertsRepository
from ._codes import AuthorizationCodesRepository
from ._devices import DevicesRepository
from ._edges import EdgesRepository
from ._errors import StoreUnavailable, translate
from ._grants import GrantsRepository
from ._groups import CallManagerGroupsRepository
from ._identities import IdentitiesRepository
from ._keys import KeysRepository
from ._mra import MraDomainsRepository
from ._nodes import NodesRepository
from ._notify import LogNotifier, Notifier, PgNotifier, Subscription, check_notification
from ._profiles import ProfilesRepository
from ._refresh import RefreshTokensRepository
from ._registrations import RegistrationsRepository
from ._seal import SECRET_CHECK_SETTING, SECRET_FILE, Sealer, WrongSecret, read_secret_file
from ._services import NodeServicesRepository, ServiceCommandsRepository
from ._settings import SettingsRepository
from ._urls import WRITE_OPTION, make_async_engine, normalise_url
from ._users import UsersRepository

__all__ = ["Store", "StoreOptions"]

Dialect = Literal["sqlite", "postgresql"]


log = logging.getLogger(__name__)

INIT_LOCK_KEY: Final = int.from_bytes(b"sipoinit", "big")
"""PostgreSQL advisory lock key held by :meth:`Store.init_lock` ("sipoinit" as a bigint)."""

INIT_LOCK_SUFFIX: Final = ".init-lock"
"""SQLite: :meth:`Store.init_lock` locks the file named as the database plus this."""


INIT_LOCK_POLL: Final = 0.1
"""Seconds between two tries for :meth:`Store.init_lock` while another init holds it."""


async def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


async def _wait_for_lock(attempt: Callable[[], Awaitable[bool]]) -> None:
    """Call ``attempt`` until it returns True, every :data:`INIT_LOCK_POLL`;
    say once, after a second, that another init is being waited for."""
    loop = asyncio.get_running_loop()
    said = False
    started = loop.time()
    while True:
        if await attempt():
            return
        if not said and loop.time() - started >= 1.0:
            # (A warning so that `init`, which configures no logging, shows it too.)
            log.warning("waiting for another node's init of this database to finish")
            said = True
        await asyncio.sleep(INIT_LOCK_POLL)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreOptions:
    """Tunables of a Store, with safe defaults."""

    busy_timeout: float = 5.0
    """SQLite: seconds a statement waits for another process's write lock."""
    poll_interval: float = 1.0
    """SQLite: seconds between reads of ``change_log`` by listeners."""
    change_log_retention: timedelta = timedelta(minutes=10)
    """SQLite: notifications older than this are deleted (a listener stalled
    longer than this misses them)."""
    change_log_trim_interval: float = 60.0
    """SQLite: seconds between two trims of ``change_log`` by ``notify``."""


class Store:
    """The database of a node: repositories, migrations and change notifications.

    Open with ``await Store.open(url)``; run ``await store.migrate()`` once at
    start; ``await store.close()`` at the end (or ``async with``). Repository
    methods each run their own short transaction and return frozen records.
    """

    settings: SettingsRepository
    """Cluster-wide parameters."""
    nodes: NodesRepository
    """Nodes of the cluster and their ports."""
    keys: KeysRepository
    """Token signing / encryption keys."""
    admins: AdminsRepository
    """Administrator accounts."""
    profiles: ProfilesRepository
    """Phone security profiles."""
    devices: DevicesRepository
    """Devices and their lines."""
    edges: EdgesRepository
    """Edge proxy entries."""
    grants: GrantsRepository
    """OAuth grants and revocations."""
    trusted_certs: TrustedCertsRepository
    """Trust stores."""
    registrations: RegistrationsRepository
    """Mirror of the nodes' registrations."""
    users: UsersRepository
    """End users (soft-client sign-in, desk-phone owners)."""
    authorization_codes: AuthorizationCodesRepository
    """Authorization codes (single use)."""
    refresh_tokens: RefreshTokensRepository
    """Refresh tokens (rotated on every use)."""
    activation_codes: ActivationCodesRepository
    """Desk-phone activation codes (one per device)."""
    audit: AuditRepository
    """The audit log of administrative changes."""
    mra_domains: MraDomainsRepository
    """MRA service domains."""
    node_services: NodeServicesRepository
    """Per node and service: state, what it applied, restart pending (R8)."""
    service_commands: ServiceCommandsRepository
    """Start / stop / restart commands for the nodes' services."""
    admin_tokens: AdminTokensRepository
    """REST API bearer tokens (hashes)."""
    callmanager_groups: CallManagerGroupsRepository
    """CallManager groups: the ordered servers of a device's config file."""
    identities: IdentitiesRepository
    """The cluster CA and the nodes' web certificates, keys sealed."""

    def __init__(
        self, url: URL, engine: AsyncEngine, *, clock: Clock, options: StoreOptions
    ) -> None:
        """Use :meth:`open`."""
        self._url = url
        self._engine = engine
        self._options = options
        dialect = cast(Dialect, engine.dialect.name)
        self._dialect: Dialect = dialect
        ctx = StoreContext(
            read=async_sessionmaker(engine, expire_on_commit=False),
            write=async_sessionmaker(
                engine.execution_options(**{WRITE_OPTION: True}),
                class_=AsyncSession,
                expire_on_commit=False,
            ),
            clock=clock,
            dialect=dialect,
            gate=WriteGate(dialect == "sqlite"),
        )
        self.settings = SettingsRepository(ctx)
        self.nodes = NodesRepository(ctx)
        self.keys = KeysRepository(ctx)
        self.admins = AdminsRepository(ctx)
        self.profiles = ProfilesRepository(ctx)
        self.devices = DevicesRepository(ctx)
        self.edges = EdgesRepository(ctx)
        self.grants = GrantsRepository(ctx)
        self.trusted_certs = TrustedCertsRepository(ctx)
        self.registrations = RegistrationsRepository(ctx)
        self.users = UsersRepository(ctx)
        self.authorization_codes = AuthorizationCodesRepository(ctx)
        self.refresh_tokens = RefreshTokensRepository(ctx)
        self.activation_codes = ActivationCodesRepository(ctx)
        self.audit = AuditRepository(ctx)
        self.mra_domains = MraDomainsRepository(ctx)
        self.node_services = NodeServicesRepository(ctx)
        self.service_commands = ServiceCommandsRepository(ctx)
        self.admin_tokens = AdminTokensRepository(ctx)
        self.callmanager_groups = CallManagerGroupsRepository(ctx)
        self.identities = IdentitiesRepository(ctx)
        self._seal = ctx.seal
        self._notifier: Notifier
        if dialect == "postgresql":
            conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._notifier = PgNotifier(engine, conninfo)
        else:
            self._notifier = LogNotifier(
                ctx,
                poll_interval=options.poll_interval,
                retention=options.change_log_retention,
                trim_interval=options.change_log_trim_interval,
            )
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        clock: Clock | None = None,
        options: StoreOptions | None = None,
    ) -> Store:
        """Create the engine for ``url`` (see :func:`normalise_url`).

        Does not connect yet: the first query (usually :meth:`migrate`) does.
        ``clock`` gives aware UTC times for ``created_at`` / ``updated_at``.
        """
        options = options or StoreOptions()
        parsed = normalise_url(url)
        engine = make_async_engine(parsed, busy_timeout_ms=int(options.busy_timeout * 1000))
        return cls(parsed, engine, clock=clock or _utc_now, options=options)

    @property
    def url(self) -> str:
        """The normalised database URL, password masked (safe to log)."""
        return self._url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> Dialect:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def engine(self) -> AsyncEngine:
        """The async engine, for what the repositories do not cover."""
        return self._engine

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``).

        Idempotent, and safe when several nodes start at once (see ``_migrate``).
        """
        from . import _migrate  # Alembic: ~0.1 s to import, needed by init and serve only

        busy_ms = int(self._options.busy_timeout * 1000)
        try:
            await asyncio.to_thread(_migrate.upgrade, self._url, busy_timeout_ms=busy_ms)
        except exc.DBAPIError as error:
            raise translate(error) from error

    async def revision(self) -> str | None:
        """The revision the database is at; None when it was never migrated."""
        from . import _migrate

        async with self._engine.connect() as connection:
            return await connection.run_sync(_migrate.current_revision)

    @property
    def unlocked(self) -> bool:
        """Whether the store has the cluster secret (see :meth:`unlock`)."""
        return self._seal.sealer is not None

    async def has_secret(self) -> bool:
        """Whether the database has a cluster secret (its check value)."""
        return await self.settings.get(SECRET_CHECK_SETTING) is not None

    async def unlock(self, secret: bytes, *, create: bool = False) -> bool:
        """Seal and open private keys with the cluster ``secret`` from now on.

        The database keeps the secret's check value: a different secret is
        refused (WrongSecret) before it is used. A database without one takes
        this secret's only with ``create`` (``init`` on the first node; True
        then); otherwise the store stays locked (False), as that database
        holds nothing sealed.
        """
        sealer = Sealer(secret)
        stored = await self.settings.get(SECRET_CHECK_SETTING)
        created = False
        if stored is None:
            if not create:
                return False
            created = await self.settings.add_if_absent(SECRET_CHECK_SETTING, sealer.check)
            stored = await self.settings.get(SECRET_CHECK_SETTING)
        if not isinstance(stored, str) or not sealer.matches(stored):
            raise WrongSecret(
                "this cluster secret does not open the database: use a copy of "
                "cluster.secret from the data directory of any node of this cluster"
            )
        self._seal.sealer = sealer
        return created

    async def unlock_from(self, data_dir: Path) -> bool:
        """:meth:`unlock` (never creating the check) with the secret file of
        ``data_dir``; whether the store is unlocked now. ValueError when the
        file is unusable."""
        path = data_dir / SECRET_FILE
        if not path.exists():
            return False
        await self.unlock(read_secret_file(path))
        return self.unlocked

    @contextlib.asynccontextmanager
    async def init_lock(self) -> AsyncIterator[None]:
        """Held while one process initialises this database (``sipoauth init``,
        and ``serve`` as it starts).

        Initialising reads what the database lacks (a publisher, signing keys,
        the cluster CA, the admin account) and creates it; nodes initialising
        one database at once would each find it empty. Under this lock they
        take turns, on every machine: a session-level advisory lock on
        PostgreSQL (on a connection of its own, closed rather than pooled
        unless the lock was released cleanly), ``flock`` on a file beside the
        SQLite database (none for in-memory or ``file:`` URI databases). The
        wait polls, logs once after a second, and ends at once when cancelled.
        """
        if self._dialect == "postgresql":
            async with self._init_lock_pg():
                yield
            return
        database = self._engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            yield  # nothing another process could open by this name
            return
        path = f"{database}{INIT_LOCK_SUFFIX}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError:  # made by another user: flock needs no write access
            fd = os.open(path, os.O_RDONLY)
        except OSError as error:
            raise StoreUnavailable(f"cannot create {path}: {error.strerror}") from error
        try:
            await _wait_for_lock(lambda: _try_flock(fd))  # (never blocks: LOCK_NB)
            yield
        finally:
            os.close(fd)  # (releases the lock)

    @contextlib.asynccontextmanager
    async def _init_lock_pg(self) -> AsyncIterator[None]:
        key = {"key": INIT_LOCK_KEY}
        try:
            connection = await self._engine.connect()
        except exc.DBAPIError as error:
            raise translate(error) from error
        except exc.TimeoutError as error:  # the pool: the database hangs
            raise StoreUnavailable(f"no database connection: {error}") from error

        async def attempt() -> bool:
            result = await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key)
            got = bool(result.scalar())
            await connection.commit()
            return got

        clean = False
        try:
            try:
                await _wait_for_lock(attempt)
            except exc.DBAPIError as error:
                raise translate(error) from error
            try:
                yield
            finally:
                try:
                    result = await connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    released = bool(result.scalar())
                    await connection.commit()
                except exc.DBAPIError:
                    released = False
                if not released:
                    log.warning(
                        "the database's init lock was lost while held (connection lost): "
                        "another init may have run at the same time"
                    )
            clean = released
        finally:
            if not clean:
                # Its session may still hold the lock (a cancelled wait the server
                # granted anyway, a failed unlock): close it, never pool it.
                await connection.invalidate()
            await connection.close()

    async def notify(self, channel: str, payload: str = "") -> None:
        """Tell every listener of ``channel`` (in every process) ``payload``.

        Channels match ``[A-Za-z_][A-Za-z0-9_.:-]{0,62}``; payloads are at
        most 7999 bytes of UTF-8. Sent when this returns (its own transaction).
        """
        check_notification(channel, payload)
        try:
            await self._notifier.notify(channel, payload)
        except exc.DBAPIError as error:
            raise translate(error) from error
        except exc.TimeoutError as error:  # the pool: the database hangs
            raise StoreUnavailable(f"no database connection: {error}") from error

    def listen(self, channel: str) -> Subscription:
        """Payloads sent on ``channel`` from now on, once each, in order.

        ``async with store.listen("devices") as changes: async for p in changes``
        — entering waits until the subscription is in place. Plain iteration
        subscribes on the first ``__anext__``.
        """
        return self._notifier.listen(channel)

    async def close(self) -> None:
        """End subscriptions and release every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._notifier.close()
        finally:
            await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Store {self.url}>"
