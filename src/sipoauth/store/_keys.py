"""Cluster keys for access tokens: authz signing and authz encryption."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update

from . import _models as m
from ._base import Repository
from ._seal import SECRET_CHECK_SETTING, Sealer
from ._types import KeyPurpose

__all__ = ["Key", "KeyRecord", "KeysRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Key:
    """A key to store. ``material`` never appears in ``repr`` (STYLE 10)."""

    kid: str
    """Key id, as in the JWK / JOSE header ``kid``."""
    purpose: KeyPurpose
    alg: str
    """JOSE algorithm, e.g. ``ES256`` or ``ECDH-ES+A256KW``."""
    material: str = field(repr=False)
    """The private key, PEM or base64 text."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord(Key):
    """A stored key."""

    created_at: datetime
    active: bool
    """Active keys sign/encrypt new tokens; inactive ones are kept so tokens
    issued before a rotation stay verifiable until they expire."""


def _name(kid: str) -> str:
    """What a key's sealed material is bound to (associated data)."""
    return f"key {kid}"


def _record(row: m.Key, material: str) -> KeyRecord:
    return KeyRecord(
        kid=row.kid,
        purpose=row.purpose,
        alg=row.alg,
        material=material,
        created_at=row.created_at,
        active=row.active,
    )


class KeysRepository(Repository):
    """``store.keys``. Material is sealed at rest under the cluster secret
    (``_seal``); records carry it opened, so reading a sealed key needs a
    store that was given the secret (SecretRequired otherwise)."""

    __slots__ = ()

    def _opened(self, row: m.Key) -> KeyRecord:
        return _record(row, self._open(row.material, name=_name(row.kid)))

    async def forget_secret(self, new_secret: bytes) -> dict[str, int]:
        """The cluster secret is lost: in one transaction, delete everything
        sealed under it or keyed by what was (keys, certificates with their
        private keys, activation codes) and make ``new_secret`` the cluster's
        (its check value replaces the old one). Rows deleted, by table."""
        check = Sealer(new_secret).check
        tables = (m.Key, m.PkiIdentity, m.ActivationCode)
        async with self._write() as session:
            counts = {
                table.__tablename__: (await session.execute(delete(table))).rowcount  # type: ignore[attr-defined]
                for table in tables
            }
            row = await session.get(m.Setting, SECRET_CHECK_SETTING)
            if row is None:
                session.add(
                    m.Setting(key=SECRET_CHECK_SETTING, value=check, updated_at=self._now())
                )
            else:
                row.value, row.updated_at = check, self._now()
        return counts

    async def seal_plain(self) -> int:
        """Seal every key still stored plain (from before the cluster had a
        secret); how many. Needs the secret."""
        return await self._seal_plain(m.Key, "material", lambda row: _name(row.kid))

    async def add(self, key: Key, *, active: bool = True) -> KeyRecord:
        """Store a new key (AlreadyExists when the ``kid`` is taken)."""
        row = m.Key(
            kid=key.kid,
            purpose=key.purpose,
            alg=key.alg,
            material="",
            created_at=self._now(),
            active=active,
        )
        async with self._write() as session:
            row.material = await self._seal(session, key.material, name=_name(key.kid))
            session.add(row)
            await session.flush()
            return _record(row, key.material)

    async def get(self, kid: str) -> KeyRecord | None:
        """The key with that id, active or not."""
        async with self._read() as session:
            row = await session.get(m.Key, kid)
            return None if row is None else self._opened(row)

    async def active(self, purpose: KeyPurpose) -> list[KeyRecord]:
        """Active keys of ``purpose``, newest first."""
        query = (
            select(m.Key)
            .where(m.Key.purpose == purpose, m.Key.active.is_(True))
            .order_by(m.Key.created_at.desc(), m.Key.kid)
        )
        async with self._read() as session:
            return [self._opened(row) for row in await session.scalars(query)]

    async def list(self, purpose: KeyPurpose | None = None) -> list[KeyRecord]:
        """All keys (of ``purpose``), newest first."""
        query = select(m.Key).order_by(m.Key.created_at.desc(), m.Key.kid)
        if purpose is not None:
            query = query.where(m.Key.purpose == purpose)
        async with self._read() as session:
            return [self._opened(row) for row in await session.scalars(query)]

    async def replace(self, purpose: KeyPurpose, new: Key) -> KeyRecord:
        """Rotate: deactivate every key of ``purpose`` and add ``new``, atomically."""
        if new.purpose != purpose:
            raise ValueError(f"key {new.kid!r} is for {new.purpose!r}, not {purpose!r}")
        row = m.Key(
            kid=new.kid,
            purpose=new.purpose,
            alg=new.alg,
            material="",
            created_at=self._now(),
            active=True,
        )
        async with self._write() as session:
            row.material = await self._seal(session, new.material, name=_name(new.kid))
            await session.execute(
                update(m.Key).where(m.Key.purpose == purpose).values(active=False)
            )
            session.add(row)
            await session.flush()
            return _record(row, new.material)

    async def deactivate(self, kid: str) -> bool:
        """Stop using a key for new tokens; False when there is no such key."""
        stmt = update(m.Key).where(m.Key.kid == kid).values(active=False).returning(m.Key.kid)
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None
