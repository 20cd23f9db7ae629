"""Administrator accounts (password hashes only; hashing is done in ``admin/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from . import _models as m
from ._base import Repository
from ._errors import NotFound

__all__ = ["AdminRecord", "AdminsRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminRecord:
    """A stored administrator. ``password_hash`` never appears in ``repr``."""

    username: str
    password_hash: str = field(repr=False)
    """An argon2 hash string (never the password)."""
    active: bool
    created_at: datetime
    updated_at: datetime


def _record(row: m.Admin) -> AdminRecord:
    return AdminRecord(
        username=row.username,
        password_hash=row.password_hash,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class AdminsRepository(Repository):
    """``store.admins``."""

    __slots__ = ()

    async def create(
        self, username: str, password_hash: str, *, active: bool = True
    ) -> AdminRecord:
        """Add an administrator (AlreadyExists when the name is taken)."""
        now = self._now()
        row = m.Admin(
            username=username,
            password_hash=password_hash,
            active=active,
            created_at=now,
            updated_at=now,
        )
        async with self._write() as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, username: str) -> AdminRecord | None:
        """The administrator of that name, if any."""
        async with self._read() as session:
            row = await session.get(m.Admin, username)
            return None if row is None else _record(row)

    async def list(self) -> list[AdminRecord]:
        """Every administrator, by name."""
        async with self._read() as session:
            rows = await session.scalars(select(m.Admin).order_by(m.Admin.username))
            return [_record(row) for row in rows]

    async def set_password(self, username: str, password_hash: str) -> AdminRecord:
        """Replace the password hash (NotFound when there is no such admin)."""
        return await self._update(username, password_hash=password_hash)

    async def set_active(self, username: str, active: bool) -> AdminRecord:
        """Enable or disable the account (NotFound when there is no such admin)."""
        return await self._update(username, active=active)

    async def _update(self, username: str, **values: object) -> AdminRecord:
        stmt = (
            update(m.Admin)
            .where(m.Admin.username == username)
            .values(**values, updated_at=self._now())
            .returning(m.Admin.username)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no administrator {username!r}")
            row = await session.get(m.Admin, username)
            assert row is not None
            return _record(row)
