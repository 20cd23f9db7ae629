"""Phone security profiles (R9, issue 4 point 8): list, add, change, delete.

Rules enforced here, once, for every adapter (CLI, REST, pages):
- the device type is one of R1.1 (a desk model, a soft-client type) or the
  Universal Device Template; a phone may use a profile of its own model or a
  Universal Device Template one (``_devices.check_profile_fits``);
- R9 via ``check_profile``: OAuth only with Encrypted + TLS, never together
  with digest authentication or encrypted TFTP config;
- R1.2: an OAuth profile is only for OAuth-capable device types, and a profile
  used by phones that cannot do OAuth cannot be switched to OAuth;
- a profile in use cannot be deleted (the message says by how many phones);
- R9 "a phone must be reset for the change to take effect": a change of a
  field that goes into the phones' configuration (mode, transport, OAuth,
  digest, TFTP encrypted config) marks every phone using it ``reset_required``
  in the same transaction. A new name or description does not.

Every change is audited (object type ``security-profile``) and announced on
the ``config`` channel, so that running nodes reload.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final, get_args

from sipoauth.store import (
    AlreadyExists,
    InvalidReference,
    JsonValue,
    SecurityMode,
    SecurityProfile,
    SecurityProfileRecord,
    Store,
    Transport,
)
from sipoauth.store import NotFound as StoreNotFound

from ._audit import audit
from ._devices import (
    OAUTH_DESK_MODELS,
    SOFT_CLIENT_TYPES,
    UNIVERSAL_TEMPLATE,
    check_profile,
    check_profile_fits,
    oauth_capable,
)
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "PROFILE_DESCRIPTION_MAX_LENGTH",
    "PROFILE_DEVICE_TYPES",
    "PROFILE_NAME_MAX_LENGTH",
    "add_profile",
    "delete_profile",
    "get_profile",
    "list_profiles",
    "profile_usage",
    "update_profile",
]

PROFILE_NAME_MAX_LENGTH: Final = 128
"""Characters of a profile name at most (the ``security_profiles.name`` column)."""
PROFILE_DESCRIPTION_MAX_LENGTH: Final = 512
"""Characters of a profile description at most."""
PROFILE_DEVICE_TYPES: Final = (
    UNIVERSAL_TEMPLATE,
    *SOFT_CLIENT_TYPES,
    *sorted(OAUTH_DESK_MODELS),
)
"""R1.1: the device types a security profile may be made for."""
_OBJECT: Final = "security-profile"
_CHANNEL: Final = "config"
# Fields that go into the phones' configuration: changing one needs a reset (R9).
_CONFIG_FIELDS: Final = ("security_mode", "transport", "oauth", "digest", "tftp_encrypted")
_SECURITY_MODES: Final[tuple[SecurityMode, ...]] = get_args(SecurityMode)
_TRANSPORTS: Final[tuple[Transport, ...]] = get_args(Transport)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_name(name: str) -> str:
    if not name or name != name.strip() or len(name) > PROFILE_NAME_MAX_LENGTH:
        raise InvalidValue(
            f"profile name {name!r}: 1-{PROFILE_NAME_MAX_LENGTH} characters, "
            "without leading or trailing spaces"
        )
    if _CONTROL.search(name):
        raise InvalidValue(f"profile name {name!r}: no control characters")
    return name


def _check_description(description: str) -> str:
    if len(description) > PROFILE_DESCRIPTION_MAX_LENGTH:
        raise InvalidValue(
            f"description: at most {PROFILE_DESCRIPTION_MAX_LENGTH} characters "
            f"(got {len(description)})"
        )
    if _CONTROL.search(description.replace("\t", " ")):
        raise InvalidValue("description: no control characters")
    return description


def _device_type(value: str) -> str:
    """The canonical spelling of a device type of R1.1, else InvalidValue."""
    for known in PROFILE_DEVICE_TYPES:
        if value.strip().lower() == known.lower():
            return known
    raise InvalidValue(
        f"device type {value!r}: choose {UNIVERSAL_TEMPLATE!r}, a soft client "
        f"({', '.join(SOFT_CLIENT_TYPES)}) or a desk phone model of R1.1 "
        f"({', '.join(sorted(OAUTH_DESK_MODELS))})"
    )


def _security_mode(value: str) -> SecurityMode:
    """``encrypted``, ``Encrypted``, ``Non Secure`` … → the stored spelling."""
    wanted = value.strip().lower().replace(" ", "-").replace("_", "-")
    for mode in _SECURITY_MODES:
        if wanted == mode:
            return mode
    raise InvalidValue(
        f"Device Security Mode {value!r}: choose Non Secure, Authenticated or Encrypted"
    )


def _transport(value: str) -> Transport:
    wanted = value.strip().upper().replace(" ", "")
    for transport in _TRANSPORTS:
        if wanted == transport:
            return transport
    raise InvalidValue(f"Transport Type {value!r}: choose {', '.join(_TRANSPORTS)}")


def _oauth_device_type(profile: SecurityProfile) -> None:
    """R1.1/R1.2: an OAuth profile only for a device type that can do OAuth."""
    if not profile.oauth or profile.device_type == UNIVERSAL_TEMPLATE:
        return
    kind = "soft" if profile.device_type in SOFT_CLIENT_TYPES else "desk"
    if not oauth_capable(kind, profile.device_type):
        raise InvalidValue(
            f"Enable OAuth Authentication: device type {profile.device_type} "
            "does not support SIP OAuth (R1.1)"
        )


def _detail(profile: SecurityProfile) -> dict[str, JsonValue]:
    return {
        "device_type": profile.device_type,
        "security_mode": profile.security_mode,
        "transport": profile.transport,
        "oauth": profile.oauth,
        "digest": profile.digest,
        "tftp_encrypted": profile.tftp_encrypted,
        "description": profile.description,
    }


async def list_profiles(store: Store) -> list[SecurityProfileRecord]:
    """Every security profile, by name."""
    return await store.profiles.list()


async def get_profile(store: Store, name: str) -> SecurityProfileRecord:
    """The profile of that name (NotFound when there is none)."""
    record = await store.profiles.get(name)
    if record is None:
        raise NotFound(f"security profile {name!r} does not exist")
    return record


async def profile_usage(store: Store) -> dict[str, int]:
    """How many phones use each profile (profiles used by none are left out)."""
    return await store.profiles.usage_counts()


async def add_profile(
    store: Store,
    *,
    name: str,
    device_type: str = UNIVERSAL_TEMPLATE,
    security_mode: str = "non-secure",
    transport: str = "TCP+UDP",
    oauth: bool = False,
    digest: bool = False,
    tftp_encrypted: bool = False,
    description: str = "",
) -> SecurityProfileRecord:
    """Add a phone security profile (R9)."""
    profile = SecurityProfile(
        name=_check_name(name),
        device_type=_device_type(device_type),
        security_mode=_security_mode(security_mode),
        transport=_transport(transport),
        oauth=oauth,
        digest=digest,
        tftp_encrypted=tftp_encrypted,
        description=_check_description(description),
    )
    check_profile(profile)
    _oauth_device_type(profile)
    if await store.profiles.get(profile.name) is not None:
        raise Conflict(f"security profile {profile.name!r} exists already")
    try:
        record = await store.profiles.add(profile)
    except AlreadyExists:  # added by someone else in between
        raise Conflict(f"security profile {profile.name!r} exists already") from None
    await audit(store, "add", _OBJECT, record.name, _detail(record))
    await store.notify(_CHANNEL, f"profile {record.name}")
    return record


async def update_profile(
    store: Store,
    name: str,
    *,
    new_name: str | None = None,
    device_type: str | None = None,
    security_mode: str | None = None,
    transport: str | None = None,
    oauth: bool | None = None,
    digest: bool | None = None,
    tftp_encrypted: bool | None = None,
    description: str | None = None,
) -> SecurityProfileRecord:
    """Change a profile; None leaves a field as it is.

    The whole result is checked as ``add_profile`` checks a new one, and
    against the phones that use it (they must fit its device type, and be
    able to do OAuth when it has OAuth). A renamed profile stays on its phones.
    When a field of the phones' configuration changes, every phone using the
    profile is marked ``reset_required`` (R9).
    """
    current = await get_profile(store, name)
    changes: dict[str, object] = {}
    if new_name is not None:
        changes["name"] = _check_name(new_name)
    if device_type is not None:
        changes["device_type"] = _device_type(device_type)
    if security_mode is not None:
        changes["security_mode"] = _security_mode(security_mode)
    if transport is not None:
        changes["transport"] = _transport(transport)
    if description is not None:
        changes["description"] = _check_description(description)
    for field, flag in (("oauth", oauth), ("digest", digest), ("tftp_encrypted", tftp_encrypted)):
        if flag is not None:
            changes[field] = flag
    base = SecurityProfile(
        **{f.name: getattr(current, f.name) for f in dataclasses.fields(SecurityProfile)}
    )
    profile = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    if profile == base:
        return current
    check_profile(profile)
    _oauth_device_type(profile)
    if profile.name != current.name and await store.profiles.get(profile.name) is not None:
        raise Conflict(f"security profile {profile.name!r} exists already")
    devices = await store.devices.list(profile_name=current.name)
    for device in devices:
        check_profile_fits(profile, device.name, device.device_type, device.model)
    reset = any(getattr(profile, f) != getattr(base, f) for f in _CONFIG_FIELDS)
    try:
        record = await store.profiles.update(
            profile, current_name=current.name, reset_devices=reset
        )
    except StoreNotFound:
        raise NotFound(f"security profile {name!r} does not exist") from None
    except AlreadyExists:
        raise Conflict(f"security profile {profile.name!r} exists already") from None
    detail: dict[str, JsonValue] = {
        field: {"old": old, "new": new}
        for field, old, new in (
            (f, getattr(base, f), getattr(profile, f)) for f in ("name", *_detail(profile))
        )
        if old != new
    }
    if reset:
        detail["phones_reset_required"] = len(devices)
    await audit(store, "update", _OBJECT, current.name, detail)
    await store.notify(_CHANNEL, f"profile {record.name}")
    return record


async def delete_profile(store: Store, name: str) -> None:
    """Delete a profile no phone uses (Conflict, naming how many do, otherwise)."""
    await get_profile(store, name)
    used = await store.profiles.usage(name)
    if used:
        raise Conflict(
            f"security profile {name!r} is used by {used} phone(s); give them another profile first"
        )
    try:
        deleted = await store.profiles.delete(name)
    except InvalidReference:  # a phone was given it in between
        used = await store.profiles.usage(name)
        raise Conflict(
            f"security profile {name!r} is used by {used} phone(s); give them another profile first"
        ) from None
    if not deleted:
        raise NotFound(f"security profile {name!r} does not exist")
    await audit(store, "delete", _OBJECT, name)
    await store.notify(_CHANNEL, f"profile {name}")
