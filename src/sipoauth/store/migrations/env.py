"""Alembic environment of sipoauth.store.

Run by ``sipoauth.store._migrate`` with an open connection in
``config.attributes["connection"]``, already inside the transaction (and, on
PostgreSQL, holding the advisory lock) that the whole upgrade runs in. Offline
mode (``--sql``) renders SQL for the URL in ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from sipoauth.store._models import metadata

config = context.config


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters tables by copying them (batch mode); see script.py.mako.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    connection = config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through sipoauth.store (Store.migrate)")
    _run_online(connection)
