"""Activation codes: onboarding a desk phone without typing credentials on it.

The operator generates a code for a configured desk phone; the code is shown
once (never stored, never logged), the phone's user types it in, and the phone
redeems it once, before it expires, for tokens of its own. Only an HMAC of the
code is stored, under the cluster's ``activation-code`` key
(``oauth._secrets``: 16 digits are too few for a plain hash). Generating a new
code for a phone replaces (invalidates) its previous one.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sipoauth.store import ActivationCode, AlreadyExists, DeviceRecord, Key, Store

from . import _settings as keys
from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "ACTIVATION_KEY_ALG",
    "ACTIVATION_KEY_PREFIX",
    "ActivationCodeInfo",
    "activation_key",
    "format_activation_code",
    "generate_activation_code",
    "list_activation_codes",
    "release_activation_code",
]

ACTIVATION_KEY_PREFIX: Final = "activation-code-"
"""Key ids of the cluster's activation-code secrets: ``activation-code-1``, …"""
ACTIVATION_KEY_ALG: Final = "HS256"
"""The secret is an HMAC-SHA256 key."""
_ACTIVATION_KEY_BYTES: Final = 32
_ATTEMPTS: Final = 3
"""Tries at an insert that may collide (key race, code hash clash)."""
_GROUP: Final = 4
"""Digits per group when a code is shown (``1234-5678-9012-3456``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationCodeInfo:
    """A pending activation code as listed for the operator (never the code)."""

    device: str
    """The desk phone's name."""
    model: str
    """The model the phone must report."""
    owner: str | None
    """The phone's owner (user id), if any."""
    created_at: datetime
    expires_at: datetime
    expired: bool
    """True when it can no longer be redeemed (at the ``now`` of the listing)."""


async def activation_key(store: Store) -> bytes:
    """The cluster's activation-code HMAC secret (the newest active key of
    purpose ``activation-code``); created on first use as ``activation-code-1``.

    Two processes creating it at once insert the same kid: the loser gets
    AlreadyExists and reads the winner's key.
    """
    for _ in range(_ATTEMPTS):
        active = await store.keys.active("activation-code")
        if active:
            return base64.b64decode(active[0].material, validate=True)
        # After keys were deactivated, the next number (kids are never reused).
        # Counting inactive keys only: a racer's key, made since we looked for
        # an active one, must not move us to another kid (we must collide).
        inactive = [k for k in await store.keys.list("activation-code") if not k.active]
        number = len(inactive) + 1
        material = base64.b64encode(secrets.token_bytes(_ACTIVATION_KEY_BYTES)).decode("ascii")
        key = Key(
            kid=f"{ACTIVATION_KEY_PREFIX}{number}",
            purpose="activation-code",
            alg=ACTIVATION_KEY_ALG,
            material=material,
        )
        try:
            await store.keys.add(key)
        except AlreadyExists:
            continue  # made by another process in between: read theirs
        return base64.b64decode(material)
    raise Conflict("the activation-code key could not be created; try again")


def format_activation_code(code: str) -> str:
    """A code as shown to people: ``1234-5678-9012-3456``."""
    return "-".join(code[i : i + _GROUP] for i in range(0, len(code), _GROUP))


async def _desk_phone(store: Store, device_name: str) -> DeviceRecord:
    # Desk phone names are stored upper-case (admin._devices); accept them as typed.
    device = await store.devices.get(device_name) or await store.devices.get(device_name.upper())
    if device is None:
        raise NotFound(f"device {device_name} does not exist")
    if device.device_type != "desk":
        raise InvalidValue("activation codes are for desk phones")
    return device


async def _ttl(store: Store) -> timedelta:
    """Service parameter "Activation Time to Live (Hours)"."""
    default = keys.DEFAULTS[keys.ACTIVATION_TTL_HOURS]
    hours = await store.settings.get(keys.ACTIVATION_TTL_HOURS, default)
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        raise InvalidValue(f"Activation Time to Live (Hours) is {hours!r}: not a positive number")
    return timedelta(hours=hours)


async def generate_activation_code(
    store: Store, device_name: str, *, now: datetime, via: str = "generate"
) -> tuple[str, datetime]:
    """A new activation code for a desk phone, replacing its previous one.

    Returns the code (16 digits: show it once, never log it) and when it
    expires (``now`` + Activation Time to Live). The phone must report the
    device's model when it redeems the code. Audited (never the code);
    ``via`` says what asked for it ("generate", "export").
    """
    # Imported here: `sipoauth.oauth` imports this module (its service reads
    # `activation_key`), so importing it at the top would run that import while
    # this module is half made, whenever `sipoauth.admin` is imported first.
    from sipoauth.oauth._secrets import hash_activation_code, new_activation_code

    device = await _desk_phone(store, device_name)
    key = await activation_key(store)
    expires_at = now + await _ttl(store)
    for _ in range(_ATTEMPTS):
        code = new_activation_code()
        record = ActivationCode(
            device_name=device.name,
            code_hash=hash_activation_code(key, code),
            model=device.model,
            expires_at=expires_at,
        )
        try:
            await store.activation_codes.put(record)
        except AlreadyExists:
            continue  # another phone's pending code (1 in 10^16): draw again
        await audit(
            store,
            "generate-activation-code",
            "device",
            device.name,
            {"expires_at": expires_at.isoformat(), "via": via},
        )
        return code, expires_at
    raise InvalidValue("could not draw an unused activation code; try again")


async def release_activation_code(store: Store, device_name: str) -> None:
    """Withdraw a desk phone's pending code (NotFound when it has none)."""
    device = await _desk_phone(store, device_name)
    if not await store.activation_codes.release(device.name):
        raise NotFound(f"device {device.name} has no activation code")
    await audit(store, "release-activation-code", "device", device.name)


async def list_activation_codes(store: Store, *, now: datetime) -> list[ActivationCodeInfo]:
    """Pending codes by device (expired ones too, until purged), without the codes."""
    rows = []
    for code in await store.activation_codes.list():
        device = await store.devices.get(code.device_name)
        rows.append(
            ActivationCodeInfo(
                device=code.device_name,
                model=code.model,
                owner=None if device is None else device.owner_user_id,
                created_at=code.created_at,
                expires_at=code.expires_at,
                expired=code.expires_at <= now,
            )
        )
    return rows
