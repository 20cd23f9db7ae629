"""The audit log of every administrative change (issue 4 point 12).

Who, when, what and from which interface. The interface adapters (CLI, REST
API, pages, shell, the edge endpoint) say *who* once, around the call, with
``with acting_as(Actor(name, interface)):``; the rules in this package then
call :func:`audit` after each change they make, without the actor being
passed down through every signature. A change made outside any
``acting_as`` (the node itself, a migration of data) is the ``system`` actor.

The ``detail`` of a row is what changed, for people to read later: it never
contains a secret — no password, activation code, token, key material or
shared secret, not even hashed. :func:`audit` refuses (ValueError, a
programming error) a detail with a key named ``password``, ``code``,
``token``, ``key`` or ``secret``, or ending in one of those after ``_``, ``-``
or ``.`` (``new_password``, ``activation_code``, ``refresh_token``,
``private_key``), at any depth. Name what is safe explicitly (``kid``,
``key_hash``, ``fingerprint``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sipoauth.store import AuditEntry, AuditInterface, AuditRecord, JsonValue, Store

from ._errors import InvalidValue

__all__ = [
    "AUDIT_LIST_MAX",
    "SECRET_DETAIL_KEYS",
    "Actor",
    "acting_as",
    "audit",
    "current_actor",
    "list_audit",
]

AUDIT_LIST_MAX: Final = 10_000
"""Rows one `list_audit` returns at most."""

SECRET_DETAIL_KEYS: Final = frozenset({"password", "code", "token", "key", "secret"})
"""Names a detail key may not have, nor end with (see the module docstring)."""

_PARTS = re.compile(r"[_.\-]")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and through which interface."""

    name: str
    """An administrator's user name, the OS user of the CLI, ``system``, an edge."""
    interface: AuditInterface
    """``cli``, ``api``, ``web``, ``shell``, ``system`` or ``edge``."""


SYSTEM: Final = Actor("system", "system")
"""The actor of changes made outside any :func:`acting_as`."""

_actor: ContextVar[Actor] = ContextVar("sipoauth_admin_actor", default=SYSTEM)


def current_actor() -> Actor:
    """The actor set by the innermost :func:`acting_as`, else ``system``."""
    return _actor.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Changes made inside the block are audited as ``actor``.

    A plain (synchronous) ``with``, usable inside coroutines: the actor lives
    in a context variable, so concurrent tasks each keep their own.
    """
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def _check_no_secret(detail: Mapping[str, JsonValue], path: str = "") -> None:
    for name, value in detail.items():
        lowered = name.lower()
        if lowered in SECRET_DETAIL_KEYS or _PARTS.split(lowered)[-1] in SECRET_DETAIL_KEYS:
            raise ValueError(
                f"audit detail key {path + name!r} looks like a secret; "
                "the audit log never holds passwords, codes, tokens, keys or secrets"
            )
        if isinstance(value, Mapping):
            _check_no_secret(value, f"{path}{name}.")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    _check_no_secret(item, f"{path}{name}[].")


async def audit(
    store: Store,
    action: str,
    object_type: str,
    object_id: str,
    detail: Mapping[str, JsonValue] | None = None,
) -> None:
    """Record one change by :func:`current_actor` (call it after the change).

    ``detail`` says what changed and never holds a secret (ValueError).
    """
    detail = dict(detail or {})
    _check_no_secret(detail)
    actor = current_actor()
    await store.audit.add(
        AuditEntry(
            actor=actor.name,
            interface=actor.interface,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )
    )


async def list_audit(
    store: Store,
    *,
    limit: int = 100,
    since: datetime | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
) -> list[AuditRecord]:
    """Audit rows, newest first: at most ``limit`` (1-10000), optionally filtered."""
    if not 1 <= limit <= AUDIT_LIST_MAX:
        raise InvalidValue(f"limit {limit}: 1-{AUDIT_LIST_MAX}")
    return await store.audit.list(
        limit=limit, since=since, object_type=object_type, object_id=object_id, actor=actor
    )
