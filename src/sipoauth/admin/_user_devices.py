"""End users with the devices they own (issue 4 point 9), for listings.

Deactivating or deleting a user revokes their grants (``_users``); the
devices they own stay, and show here while the user exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipoauth.store import DeviceRecord, Store, UserRecord

from ._errors import NotFound

__all__ = ["UserDetail", "get_user_detail", "list_user_details", "user_devices"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDetail:
    """An end user and the devices they own."""

    user: UserRecord
    """The user (its ``password_hash`` is never shown by the adapters)."""
    devices: tuple[DeviceRecord, ...]
    """Devices whose owner is the user, by name."""


async def user_devices(store: Store, user_id: str) -> list[DeviceRecord]:
    """The devices the user owns, by name (NotFound when there is no such user)."""
    if await store.users.get(user_id) is None:
        raise NotFound(f"user {user_id} does not exist")
    return await store.devices.list(owner_user_id=user_id)


async def get_user_detail(store: Store, user_id: str) -> UserDetail:
    """The user with their devices (NotFound when there is no such user)."""
    user = await store.users.get(user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    devices = await store.devices.list(owner_user_id=user_id)
    return UserDetail(user=user, devices=tuple(devices))


async def list_user_details(store: Store) -> list[UserDetail]:
    """Every user with their devices, by user id (two queries in all)."""
    owned: dict[str, list[DeviceRecord]] = {}
    for device in await store.devices.list():
        if device.owner_user_id is not None:
            owned.setdefault(device.owner_user_id, []).append(device)
    return [
        UserDetail(user=user, devices=tuple(owned.get(user.user_id, ())))
        for user in await store.users.list()
    ]
