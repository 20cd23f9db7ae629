"""Administration model (issue 4): audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-08

Adds the audit log of administrative changes (issue 4 point 12).

Literal values on purpose: a migration must not change when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INTERFACES = "interface IN ('cli', 'api', 'web', 'shell', 'system', 'edge')"


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _time("at"),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("interface", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.CheckConstraint(_INTERFACES, name=op.f("ck_audit_log_interface")),
        # Ids are never reused after a purge.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
