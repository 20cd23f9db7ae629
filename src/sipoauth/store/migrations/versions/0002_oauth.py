"""OAuth authorization server: users, codes, refresh tokens, activation codes.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01

Adds the end users, authorization codes (RFC 6749 §4.1), refresh tokens and
desk-phone activation codes; the user a grant belongs to and its grant type;
and the key purpose ``activation-code`` (the HMAC secret activation codes are
stored under).

SQLite cannot alter a CHECK constraint: ``batch_alter_table`` copies the
``keys`` table (on PostgreSQL it drops and re-adds the constraint). The table
is given as ``copy_from`` rather than reflected, so that ``upgrade --sql``
(offline, no database to reflect) renders too. Literal values on purpose: a
migration must not change when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_PURPOSES = "purpose IN ('authz-signing', 'authz-encryption')"
_NEW_PURPOSES = "purpose IN ('authz-signing', 'authz-encryption', 'activation-code')"


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _keys_table(purposes: str) -> sa.Table:
    """The ``keys`` table as revision 0001 created it, with CHECK ``purposes``."""
    return sa.Table(
        "keys",
        sa.MetaData(),
        sa.Column("kid", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("alg", sa.String(32), nullable=False),
        sa.Column("material", sa.Text(), nullable=False),
        _time("created_at"),
        _flag("active"),
        sa.PrimaryKeyConstraint("kid", name="pk_keys"),
        sa.CheckConstraint(purposes, name="ck_keys_purpose"),
        sa.Index("ix_keys_purpose_active", "purpose", "active"),
    )


def _set_key_purposes(old: str, new: str) -> None:
    with op.batch_alter_table("keys", copy_from=_keys_table(old)) as batch:
        batch.drop_constraint(op.f("ck_keys_purpose"), type_="check")
        batch.create_check_constraint(op.f("ck_keys_purpose"), sa.text(new))


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) works on SQLite without a copy.
    op.add_column("grants", sa.Column("user_id", sa.String(128), nullable=True))
    op.add_column("grants", sa.Column("grant_type", sa.String(64), nullable=True))
    op.create_index("ix_grants_user_id", "grants", ["user_id"])
    _set_key_purposes(_OLD_PURPOSES, _NEW_PURPOSES)
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.Text(), server_default="", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        _flag("active"),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(16), nullable=False),
        _flag("via_mra"),
        _time("auth_time"),
        _time("created_at"),
        _time("expires_at"),
        _time("used_at", nullable=True),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_authorization_codes")),
    )
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("rotated_at", nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_refresh_tokens")),
        sa.ForeignKeyConstraint(
            ["sid"],
            ["grants.sid"],
            name=op.f("fk_refresh_tokens_sid_grants"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_refresh_tokens_sid", "refresh_tokens", ["sid"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])
    op.create_table(
        "activation_codes",
        sa.Column("device_name", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("device_name", name=op.f("pk_activation_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_activation_codes_code_hash")),
        sa.ForeignKeyConstraint(
            ["device_name"],
            ["devices.name"],
            name=op.f("fk_activation_codes_device_name_devices"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    for table in ("activation_codes", "refresh_tokens", "authorization_codes", "users"):
        op.drop_table(table)
    # Keys of the new purpose would fail the narrower CHECK when copied back.
    op.execute("DELETE FROM keys WHERE purpose = 'activation-code'")
    _set_key_purposes(_NEW_PURPOSES, _OLD_PURPOSES)
    op.drop_index("ix_grants_user_id", table_name="grants")
    # Native DROP COLUMN (SQLite >= 3.35, which RETURNING needs anyway).
    op.drop_column("grants", "grant_type")
    op.drop_column("grants", "user_id")
