"""End users: who signs in on soft clients and owns desk phones.

Only password hashes are stored; hashing and the rules on user ids and
passwords are in ``admin/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from . import _models as m
from ._base import Repository
from ._errors import NotFound

__all__ = ["User", "UserRecord", "UsersRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """An end user to store. ``password_hash`` never appears in ``repr``."""

    user_id: str
    """The user id (the ``sub`` of the user's tokens)."""
    display_name: str = ""
    password_hash: str | None = field(default=None, repr=False)
    """An argon2 hash string (never the password); None: cannot sign in with one."""
    active: bool = True
    """An inactive user cannot sign in, and has no live grants."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord(User):
    """A stored end user."""

    created_at: datetime
    updated_at: datetime


def _record(row: m.User) -> UserRecord:
    return UserRecord(
        user_id=row.user_id,
        display_name=row.display_name,
        password_hash=row.password_hash,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class UsersRepository(Repository):
    """``store.users``."""

    __slots__ = ()

    async def add(self, user: User) -> UserRecord:
        """Add an end user (AlreadyExists when the id is taken)."""
        now = self._now()
        stmt = insert(m.User).values(
            user_id=user.user_id,
            display_name=user.display_name,
            password_hash=user.password_hash,
            active=user.active,
            created_at=now,
            updated_at=now,
        )
        async with self._write() as session:
            await session.execute(stmt)
            row = await session.get(m.User, user.user_id)
            assert row is not None
            return _record(row)

    async def get(self, user_id: str) -> UserRecord | None:
        """The user of that id, if any."""
        async with self._read() as session:
            row = await session.get(m.User, user_id)
            return None if row is None else _record(row)

    async def list(self) -> list[UserRecord]:
        """Every end user, by id."""
        async with self._read() as session:
            rows = await session.scalars(select(m.User).order_by(m.User.user_id))
            return [_record(row) for row in rows]

    async def set_password(self, user_id: str, password_hash: str | None) -> UserRecord:
        """Replace the password hash; None removes it (NotFound when no such user)."""
        return await self._update(user_id, password_hash=password_hash)

    async def set_active(self, user_id: str, active: bool) -> UserRecord:
        """Enable or disable the user (NotFound when there is no such user)."""
        return await self._update(user_id, active=active)

    async def delete(self, user_id: str) -> bool:
        """Remove the user; False when there was none."""
        stmt = delete(m.User).where(m.User.user_id == user_id).returning(m.User.user_id)
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def _update(self, user_id: str, **values: object) -> UserRecord:
        stmt = (
            update(m.User)
            .where(m.User.user_id == user_id)
            .values(**values, updated_at=self._now())
            .returning(m.User.user_id)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no user {user_id!r}")
            row = await session.get(m.User, user_id)
            assert row is not None
            return _record(row)
