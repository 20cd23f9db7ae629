"""Phone security profiles (R9)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from . import _models as m
from ._base import Repository
from ._errors import NotFound
from ._types import SecurityMode, Transport

__all__ = ["ProfilesRepository", "SecurityProfile", "SecurityProfileRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityProfile:
    """A phone security profile as configured (R9).

    The rule "OAuth excludes digest and encrypted TFTP config" is enforced in
    ``admin/``, not here: the store keeps what it is given.
    """

    name: str
    device_type: str
    """Device type (model or client family) the profile applies to."""
    security_mode: SecurityMode = "encrypted"
    transport: Transport = "TLS"
    oauth: bool = False
    """Enable OAuth Authentication."""
    digest: bool = False
    """Enable Digest Authentication."""
    tftp_encrypted: bool = False
    """TFTP Encrypted Config."""
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityProfileRecord(SecurityProfile):
    """A stored security profile."""

    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in dataclasses.fields(SecurityProfile))


def _record(row: m.SecurityProfile) -> SecurityProfileRecord:
    return SecurityProfileRecord(
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in _FIELDS},
    )


class ProfilesRepository(Repository):
    """``store.profiles``: phone security profiles."""

    __slots__ = ()

    async def add(self, profile: SecurityProfile) -> SecurityProfileRecord:
        """Add a profile (AlreadyExists when the name is taken)."""
        now = self._now()
        values = {name: getattr(profile, name) for name in _FIELDS}
        row = m.SecurityProfile(**values, created_at=now, updated_at=now)
        async with self._write() as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, name: str) -> SecurityProfileRecord | None:
        """The profile of that name, if any."""
        async with self._read() as session:
            row = await session.get(m.SecurityProfile, name)
            return None if row is None else _record(row)

    async def list(self) -> list[SecurityProfileRecord]:
        """Every profile, by name."""
        query = select(m.SecurityProfile).order_by(m.SecurityProfile.name)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def update(
        self,
        profile: SecurityProfile,
        *,
        current_name: str | None = None,
        reset_devices: bool = False,
    ) -> SecurityProfileRecord:
        """Replace every field of the profile named ``current_name`` (default:
        ``profile.name``), renaming it to ``profile.name`` when they differ —
        its devices follow (ON UPDATE CASCADE). With ``reset_devices``, every
        device using it is marked ``reset_required`` in the same transaction.

        NotFound when there is no such profile; AlreadyExists when renaming
        onto a taken name.
        """
        old = profile.name if current_name is None else current_name
        values = {name: getattr(profile, name) for name in _FIELDS}
        stmt = (
            update(m.SecurityProfile)
            .where(m.SecurityProfile.name == old)
            .values(**values, updated_at=self._now())
            .returning(m.SecurityProfile.name)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no security profile {old!r}")
            if reset_devices:
                await session.execute(
                    update(m.Device)
                    .where(m.Device.profile_name == profile.name)
                    .values(reset_required=True)
                )
            row = await session.get(m.SecurityProfile, profile.name, populate_existing=True)
            assert row is not None
            return _record(row)

    async def usage(self, name: str) -> int:
        """How many devices use the profile."""
        query = select(func.count()).select_from(m.Device).where(m.Device.profile_name == name)
        async with self._read() as session:
            return int(await session.scalar(query) or 0)

    async def usage_counts(self) -> dict[str, int]:
        """Devices per profile name (profiles no device uses are left out)."""
        query = select(m.Device.profile_name, func.count()).group_by(m.Device.profile_name)
        async with self._read() as session:
            return {name: int(count) for name, count in await session.execute(query)}

    async def delete(self, name: str) -> bool:
        """Remove a profile; False when there was none.

        Raises InvalidReference while devices still use it.
        """
        async with self._write() as session:
            row = await session.get(m.SecurityProfile, name)
            if row is None:
                return False
            await session.delete(row)
            await session.flush()
            return True
