"""End users: who signs in on soft clients (RFC 6749 §4.1) and owns desk phones.

Rules enforced here, once, for every adapter (CLI, REST, pages):
- user ids are 1-128 letters, digits and ``._@-`` (they become the ``sub``
  of tokens and appear in URIs and logs unquoted);
- a password, when set, has 8-128 characters and is stored as an argon2 hash;
- a user who is deactivated or deleted loses every live grant at once: the
  grants are revoked and each revocation is announced on the ``grants``
  channel, from which nodes drop the live registrations made with them.

Password hashing and checking run in a worker thread: argon2 is deliberately
slow and must not stall the event loop of a node.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sipoauth.store import AlreadyExists, GrantRecord, Store, User, UserRecord
from sipoauth.store import NotFound as StoreNotFound

from ._audit import audit
from ._errors import Conflict, InvalidValue, NotFound

__all__ = [
    "GRANTS_CHANNEL",
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "USER_ID_MAX_LENGTH",
    "add_user",
    "delete_user",
    "list_users",
    "set_user_active",
    "set_user_password",
    "verify_admin_password",
    "verify_user_password",
]

USER_ID_MAX_LENGTH: Final = 128
"""Characters of a user id at most (the ``users.user_id`` column)."""
PASSWORD_MIN_LENGTH: Final = 8
"""Characters of an end user's password at least."""
PASSWORD_MAX_LENGTH: Final = 128
"""Characters of an end user's password at most (bounds the work of one sign-in)."""
USER_OBJECT: Final = "user"
"""Object type of end users in the audit log."""
GRANTS_CHANNEL: Final = "grants"
"""Notification channel of revoked grants, payload the sid (the node listens on it)."""

_USER_ID = re.compile(rf"[A-Za-z0-9._@-]{{1,{USER_ID_MAX_LENGTH}}}")
# A desk phone's tokens carry its name as `sub`, a soft client's its user id: a
# user may not be named like a desk phone, or a token from signing in could
# pass for the phone's (DESIGN "Tokens"; docs/oauth.md).
_DESK_PHONE_NAME = re.compile(r"(SEP|BAT)[0-9A-F]{12}", re.IGNORECASE)


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash no password is checked against for real: verifying against it
    when the user is missing costs what a real check costs (no timing oracle)."""
    return _hasher().hash("not the password of anyone")


def _check_user_id(user_id: str) -> None:
    if not _USER_ID.fullmatch(user_id):
        raise InvalidValue(
            f"user id {user_id!r}: 1-{USER_ID_MAX_LENGTH} letters, digits, '.', '_', '@' or '-'"
        )
    if _DESK_PHONE_NAME.fullmatch(user_id):
        raise InvalidValue(f"user id {user_id!r} is a desk phone's name (SEP/BAT + 12 hex)")


def _check_password(password: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise InvalidValue(
            f"a password has {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
        )


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


async def add_user(
    store: Store,
    user_id: str,
    *,
    password: str | None = None,
    display_name: str = "",
    active: bool = True,
) -> UserRecord:
    """Add an end user; without a password they cannot sign in until one is set."""
    _check_user_id(user_id)
    if password is not None:
        _check_password(password)
    if await store.users.get(user_id) is not None:
        raise Conflict(f"user {user_id} exists already")
    password_hash = None if password is None else await _hash(password)
    user = User(
        user_id=user_id, display_name=display_name, password_hash=password_hash, active=active
    )
    try:
        record = await store.users.add(user)
    except AlreadyExists:  # added by someone else in between
        raise Conflict(f"user {user_id} exists already") from None
    await audit(
        store,
        "add",
        USER_OBJECT,
        user_id,
        {"display_name": display_name, "active": active, "can_sign_in": password is not None},
    )
    return record


async def set_user_password(store: Store, user_id: str, password: str) -> UserRecord:
    """Replace the user's password (their grants stay: revoke them separately)."""
    _check_password(password)
    try:
        record = await store.users.set_password(user_id, await _hash(password))
    except StoreNotFound:
        raise NotFound(f"user {user_id} does not exist") from None
    await audit(store, "set-password", USER_OBJECT, user_id)
    return record


async def _revoke_grants(store: Store, user_id: str, now: datetime) -> list[GrantRecord]:
    """Revoke the user's live grants (soft clients and owned desk phones) and
    announce each, so that nodes drop the registrations made with them."""
    revoked = await store.grants.revoke_user(user_id, at=now)
    for grant in revoked:
        await store.notify(GRANTS_CHANNEL, grant.sid)
    return revoked


async def set_user_active(
    store: Store, user_id: str, active: bool, *, now: datetime
) -> list[GrantRecord]:
    """Enable or disable the user. Disabling revokes every live grant of the
    user at ``now`` (the grants revoked are returned; none when enabling)."""
    try:
        await store.users.set_active(user_id, active)
    except StoreNotFound:
        raise NotFound(f"user {user_id} does not exist") from None
    # Disabled first, then revoked: a sign-in between the two is refused.
    revoked = [] if active else await _revoke_grants(store, user_id, now)
    await audit(
        store,
        "activate" if active else "deactivate",
        USER_OBJECT,
        user_id,
        {"grants_revoked": len(revoked)},
    )
    return revoked


async def delete_user(store: Store, user_id: str, *, now: datetime) -> list[GrantRecord]:
    """Delete the user after revoking every live grant of the user at ``now``
    (returned). Desk phones they own stay, without an owner's grant."""
    revoked = await set_user_active(store, user_id, False, now=now)
    await store.users.delete(user_id)
    await audit(store, "delete", USER_OBJECT, user_id, {"grants_revoked": len(revoked)})
    return revoked


async def list_users(store: Store) -> list[UserRecord]:
    """Every end user, by id."""
    return await store.users.list()


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_admin_password(store: Store, username: str, password: str) -> bool:
    """Whether ``username`` is an active administrator whose password is
    ``password`` (HTTP Basic of the web service). As for end users: one argon2
    verification always, off the event loop, against a dummy hash when there is
    no such administrator, so the answer takes as long either way."""
    record = await store.admins.get(username)
    stored = record.password_hash if record is not None and record.active else None
    matches = await asyncio.to_thread(_verify, stored or _dummy_hash(), password)
    return matches and stored is not None


async def verify_user_password(store: Store, user_id: str, password: str) -> UserRecord | None:
    """The user, when ``user_id`` is an active user whose password is ``password``;
    else None, whatever the reason (the caller throttles failures).

    One argon2 verification is always made — against a fixed dummy hash when
    the user is missing or has no password — so the answer takes as long
    either way. A hash made with older parameters is replaced on success.
    """
    dummy = _dummy_hash()  # made on the first call, whoever signs in
    record = await store.users.get(user_id)
    stored = record.password_hash if record is not None else None
    # No stored password is longer than the limit: a longer one cannot match,
    # and hashing megabytes of it would be work an attacker chooses.
    too_long = len(password) > PASSWORD_MAX_LENGTH
    candidate = password[:PASSWORD_MAX_LENGTH]
    matches = await asyncio.to_thread(_verify, stored or dummy, candidate)
    if record is None or stored is None or too_long or not matches or not record.active:
        return None
    if _hasher().check_needs_rehash(stored):
        try:
            return await store.users.set_password(user_id, await _hash(password))
        except StoreNotFound:  # deleted in between
            return None
    return record
