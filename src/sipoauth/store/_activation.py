"""Activation codes: desk-phone onboarding, one code per device, single use.

A code has only 16 digits, so the table keeps an HMAC of it under a cluster
secret (``oauth._secrets.hash_activation_code``), never the code. Generating a
code for a device replaces its previous one; redeeming deletes it in the same
statement that finds it, so of two phones racing with one code exactly one
gets it. The code follows its device when renamed and goes when the device
is deleted (ON UPDATE / ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from . import _models as m
from ._base import Repository

__all__ = ["ActivationCode", "ActivationCodeRecord", "ActivationCodesRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationCode:
    """The activation code of a device, to store."""

    device_name: str
    """The desk phone (must exist); at most one code each."""
    code_hash: str
    """Hex HMAC-SHA256 of the normalised code (never the code); unique."""
    model: str
    """The device's model when the code was made (the phone must match it)."""
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationCodeRecord(ActivationCode):
    """A stored activation code."""

    created_at: datetime


def _record(row: m.ActivationCode) -> ActivationCodeRecord:
    return ActivationCodeRecord(
        device_name=row.device_name,
        code_hash=row.code_hash,
        model=row.model,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


class ActivationCodesRepository(Repository):
    """``store.activation_codes``."""

    __slots__ = ()

    async def put(self, code: ActivationCode) -> ActivationCodeRecord:
        """Store the device's code, replacing any previous one (which stops
        working). InvalidReference when the device does not exist;
        AlreadyExists when another device has a code of the same hash."""
        values = {
            "device_name": code.device_name,
            "code_hash": code.code_hash,
            "model": code.model,
            "expires_at": code.expires_at,
            "created_at": self._now(),
        }
        table = m.ActivationCode.__table__
        insert = self._insert(table)
        stmt = insert.values(**values).on_conflict_do_update(
            index_elements=[table.c.device_name],
            set_={name: insert.excluded[name] for name in values if name != "device_name"},
        )
        async with self._write() as session:
            await session.execute(stmt)
            row = await session.get(m.ActivationCode, code.device_name)
            assert row is not None
            return _record(row)

    async def get(self, device_name: str) -> ActivationCodeRecord | None:
        """The device's code, if it has one (expired or not)."""
        async with self._read() as session:
            row = await session.get(m.ActivationCode, device_name)
            return None if row is None else _record(row)

    async def find(self, code_hash: str) -> ActivationCodeRecord | None:
        """The code of that hash, if any (expired or not); does not use it up."""
        query = select(m.ActivationCode).where(m.ActivationCode.code_hash == code_hash)
        async with self._read() as session:
            row = await session.scalar(query)
            return None if row is None else _record(row)

    async def consume(self, code_hash: str) -> ActivationCodeRecord | None:
        """Delete the code of that hash and return it; None when there is none.
        One statement: of concurrent consumers, exactly one gets it. Expiry is
        the caller's to check (on the record)."""
        stmt = (
            delete(m.ActivationCode)
            .where(m.ActivationCode.code_hash == code_hash)
            .returning(m.ActivationCode)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt)).first()
            return None if row is None else _record(row)

    async def release(self, device_name: str) -> bool:
        """Delete the device's code; False when it had none."""
        stmt = (
            delete(m.ActivationCode)
            .where(m.ActivationCode.device_name == device_name)
            .returning(m.ActivationCode.device_name)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def list(self) -> list[ActivationCodeRecord]:
        """Every stored code (expired ones too), by device name."""
        query = select(m.ActivationCode).order_by(m.ActivationCode.device_name)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def purge(self, before: datetime) -> int:
        """Delete codes that expired before ``before``; how many."""
        stmt = (
            delete(m.ActivationCode)
            .where(m.ActivationCode.expires_at < before)
            .returning(m.ActivationCode.device_name)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())
