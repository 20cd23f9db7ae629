"""Initial schema.

Revision ID: 0001
Revises:
Create Date: 2025-11-26

Hand-written to match sipoauth/store/_models.py at the time; frozen since
(later changes go in later revisions). Enumerations are literal here on
purpose: a migration must not change when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sip_port", sa.Integer(), nullable=False),
        sa.Column("secure_sip_port", sa.Integer(), nullable=False),
        sa.Column("oauth_port", sa.Integer(), nullable=False),
        sa.Column("mra_port", sa.Integer(), nullable=False),
        sa.Column("web_port", sa.Integer(), nullable=False),
        sa.Column("tftp_port", sa.Integer(), nullable=False),
        sa.Column("tftp_secure_port", sa.Integer(), nullable=False),
        _flag("restart_pending"),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("name", name=op.f("uq_nodes_name")),
        sa.CheckConstraint("role IN ('publisher', 'subscriber')", name=op.f("ck_nodes_role")),
    )
    op.create_table(
        "keys",
        sa.Column("kid", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("alg", sa.String(32), nullable=False),
        sa.Column("material", sa.Text(), nullable=False),
        _time("created_at"),
        _flag("active"),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_keys")),
        sa.CheckConstraint(
            "purpose IN ('authz-signing', 'authz-encryption')", name=op.f("ck_keys_purpose")
        ),
    )
    op.create_index("ix_keys_purpose_active", "keys", ["purpose", "active"])
    op.create_table(
        "admins",
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _flag("active"),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_admins")),
    )
    op.create_table(
        "security_profiles",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("device_type", sa.String(64), nullable=False),
        sa.Column("security_mode", sa.String(16), nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        _flag("oauth"),
        _flag("digest"),
        _flag("tftp_encrypted"),
        sa.Column("description", sa.Text(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_security_profiles")),
        sa.CheckConstraint(
            "security_mode IN ('non-secure', 'authenticated', 'encrypted')",
            name=op.f("ck_security_profiles_security_mode"),
        ),
        sa.CheckConstraint(
            "transport IN ('TCP', 'UDP', 'TCP+UDP', 'TLS')",
            name=op.f("ck_security_profiles_transport"),
        ),
    )
    op.create_table(
        "devices",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("device_type", sa.String(8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("profile_name", sa.String(128), nullable=False),
        sa.Column("owner_user_id", sa.String(128), nullable=True),
        _flag("oauth_firmware"),
        _flag("allow_activation_via_mra"),
        sa.Column("mra_service_domain", sa.String(255), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_devices")),
        sa.ForeignKeyConstraint(
            ["profile_name"],
            ["security_profiles.name"],
            name=op.f("fk_devices_profile_name_security_profiles"),
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint("device_type IN ('desk', 'soft')", name=op.f("ck_devices_device_type")),
    )
    op.create_index("ix_devices_profile_name", "devices", ["profile_name"])
    op.create_index("ix_devices_owner_user_id", "devices", ["owner_user_id"])
    op.create_table(
        "lines",
        sa.Column("device_name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dn", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("device_name", "position", name=op.f("pk_lines")),
        sa.ForeignKeyConstraint(
            ["device_name"],
            ["devices.name"],
            name=op.f("fk_lines_device_name_devices"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("position >= 1", name=op.f("ck_lines_position")),
    )
    op.create_table(
        "edges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("x509_names", sa.JSON(), nullable=False),
        sa.Column("domain", sa.String(255), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edges")),
        sa.UniqueConstraint("address", name=op.f("uq_edges_address")),
    )
    op.create_table(
        "grants",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_grants")),
    )
    op.create_index("ix_grants_subject_client_id", "grants", ["subject", "client_id"])
    op.create_index("ix_grants_revoked_at", "grants", ["revoked_at"])
    op.create_table(
        "trusted_certs",
        sa.Column("store_name", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        _time("not_after"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("store_name", "fingerprint", name=op.f("pk_trusted_certs")),
    )
    op.create_table(
        "registrations",
        sa.Column("aor", sa.String(512), nullable=False),
        sa.Column("instance", sa.String(512), nullable=False),
        sa.Column("device_name", sa.String(64), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("node_name", sa.String(64), nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        _time("expires_at"),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(64), nullable=True),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("aor", "instance", name=op.f("pk_registrations")),
        sa.CheckConstraint(
            "transport IN ('UDP', 'TCP', 'TLS', 'WS', 'WSS')",
            name=op.f("ck_registrations_transport"),
        ),
    )
    op.create_index("ix_registrations_device_name", "registrations", ["device_name"])
    op.create_index("ix_registrations_node_name", "registrations", ["node_name"])
    op.create_index("ix_registrations_expires_at", "registrations", ["expires_at"])
    op.create_table(
        "change_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
        # Ids must never be reused after trimming (see sipoauth/store/_notify.py).
        sqlite_autoincrement=True,
    )
    op.create_index("ix_change_log_created_at", "change_log", ["created_at"])


def downgrade() -> None:
    for table in (
        "change_log",
        "registrations",
        "trusted_certs",
        "grants",
        "edges",
        "lines",
        "devices",
        "security_profiles",
        "admins",
        "keys",
        "nodes",
        "settings",
    ):
        op.drop_table(table)
