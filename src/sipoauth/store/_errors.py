"""Store errors, and the one place where database driver errors are translated.

Callers (``admin/``, ``oauth/``, ``node/``) never see SQLAlchemy, sqlite3 or
psycopg exceptions: a repository method raises one of these, and the domain
layer maps them to its own errors (``AdminError`` → HTTP status and so on).
"""

from __future__ import annotations

import re

from sqlalchemy import exc

__all__ = [
    "AlreadyExists",
    "CheckViolation",
    "IntegrityViolation",
    "InvalidReference",
    "NotFound",
    "SchemaOutdated",
    "StoreError",
    "StoreUnavailable",
    "translate",
]


class StoreError(Exception):
    """Base of every error raised by :mod:`sipoauth.store`."""


class NotFound(StoreError):
    """The row an update, rename or replace was aimed at does not exist."""


class IntegrityViolation(StoreError):
    """A write broke a database constraint; nothing of that transaction was kept.

    ``constraint`` is the constraint's name (from the naming convention, e.g.
    ``ck_nodes_role``) or, when the database does not report one (SQLite for
    keys), the columns it names, e.g. ``nodes.name``; ``None`` when unknown.
    """

    def __init__(self, message: str, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class AlreadyExists(IntegrityViolation):
    """A primary key or unique constraint refused a duplicate."""


class InvalidReference(IntegrityViolation):
    """A foreign key refused the write: the referenced row is missing, or a
    row being deleted is still referenced (e.g. a profile used by devices)."""


class CheckViolation(IntegrityViolation):
    """A value was refused: check or not-null constraint (e.g. an unknown
    role), or, on PostgreSQL, a string longer than its column (SQLite does not
    enforce lengths: ``admin/`` validates them)."""


class SchemaOutdated(StoreError):
    """A table or column this version needs is missing: the database was not
    migrated yet (``sipoauth init``, which ``serve`` runs, upgrades it)."""


class StoreUnavailable(StoreError):
    """The database could not be reached, or stayed locked/busy too long."""


# SQLSTATE classes (PostgreSQL, appendix A).
_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_PG_CHECK = "23514"
_PG_NOT_NULL = "23502"
_PG_UNDEFINED = ("42P01", "42703")  # undefined_table, undefined_column
_SQLITE_UNDEFINED = re.compile(r"no such (table|column)\b")

# sqlite3 messages: "UNIQUE constraint failed: nodes.name",
# "CHECK constraint failed: ck_nodes_role", "FOREIGN KEY constraint failed",
# "NOT NULL constraint failed: devices.model".
_SQLITE_MESSAGE = re.compile(
    r"(UNIQUE|PRIMARY KEY|CHECK|FOREIGN KEY|NOT NULL) constraint failed(?::\s*(\S+))?"
)


def translate(error: exc.DBAPIError) -> StoreError:
    """Map a SQLAlchemy-wrapped driver error to a :class:`StoreError`."""
    orig = error.orig
    if isinstance(error, exc.DataError):
        return CheckViolation(str(orig).splitlines()[0] if str(orig) else "invalid value")
    if not isinstance(error, exc.IntegrityError):
        first = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
        if getattr(orig, "sqlstate", None) in _PG_UNDEFINED or _SQLITE_UNDEFINED.match(first):
            return SchemaOutdated(
                f"the database schema is older than this version ({first}): "
                "run sipoauth init to upgrade it"
            )
        if isinstance(error, exc.OperationalError | exc.InterfaceError):
            return StoreUnavailable(str(orig))
        return StoreError(str(orig))
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        diag = getattr(orig, "diag", None)
        name = getattr(diag, "constraint_name", None)
        if name is None:
            name = getattr(diag, "column_name", None)
        message = str(orig).splitlines()[0] if str(orig) else sqlstate
        if sqlstate == _PG_UNIQUE:
            return AlreadyExists(message, name)
        if sqlstate == _PG_FOREIGN_KEY:
            return InvalidReference(message, name)
        if sqlstate in (_PG_CHECK, _PG_NOT_NULL):
            return CheckViolation(message, name)
        return IntegrityViolation(message, name)
    text = str(orig)
    match = _SQLITE_MESSAGE.search(text)
    if match is None:
        return IntegrityViolation(text)
    kind, name = match.group(1), match.group(2)
    if kind in ("UNIQUE", "PRIMARY KEY"):
        return AlreadyExists(text, name)
    if kind == "FOREIGN KEY":
        return InvalidReference(text, name)
    return CheckViolation(text, name)
