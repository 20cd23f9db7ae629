"""Administration model (issue 4).

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-08

Adds the audit log (issue 4 point 12), MRA service domains (point 7), the
per-node state of each service with its "restart pending" flag (R8), the
control channel's service commands (point 3) and the REST API's bearer
tokens; new device columns (Requires Activation Code for Onboarding, config
version, reset required) and a certificate's issuer and start of validity.

``nodes.restart_pending`` moves to ``node_services`` (per node *and*
service): a node with the flag raised gets a ``callmanager`` row, state
``unknown``, restart pending. The column is dropped with SQLite's native
``DROP COLUMN`` (3.35+, which RETURNING needs anyway), not a batch copy: with
``foreign_keys=ON`` dropping the old ``nodes`` table during the copy would
cascade-delete the ``node_services`` rows just made from it.

New NOT NULL columns of existing tables carry server defaults, so that rows
already there migrate (SQLite's ADD COLUMN needs one too).

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
_SERVICES = "service IN ('callmanager', 'tomcat', 'tftp')"
_STATES = "state IN ('running', 'stopped', 'starting', 'stopping', 'failed', 'unknown')"
_ACTIONS = "action IN ('start', 'stop', 'restart')"
_STATUSES = "status IN ('pending', 'running', 'done', 'failed')"


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), nullable=False)


# "restart pending" between nodes and node_services, in each dialect's literals.
_PENDING_TO_SERVICES = {
    "postgresql": "INSERT INTO node_services (node_name, service, state, restart_pending,"
    " applied, message, updated_at) SELECT name, 'callmanager', 'unknown', true, '{}'::json,"
    " '', updated_at FROM nodes WHERE restart_pending",
    "sqlite": "INSERT INTO node_services (node_name, service, state, restart_pending,"
    " applied, message, updated_at) SELECT name, 'callmanager', 'unknown', 1, '{}',"
    " '', updated_at FROM nodes WHERE restart_pending = 1",
}
_PENDING_TO_NODES = {
    "postgresql": "UPDATE nodes SET restart_pending = true WHERE name IN (SELECT node_name"
    " FROM node_services WHERE service = 'callmanager' AND restart_pending)",
    "sqlite": "UPDATE nodes SET restart_pending = 1 WHERE name IN (SELECT node_name"
    " FROM node_services WHERE service = 'callmanager' AND restart_pending = 1)",
}


def _dialect() -> str:
    return op.get_context().dialect.name


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
    op.create_table(
        "mra_domains",
        sa.Column("name", sa.String(128), nullable=False),
        _flag("is_default"),
        sa.Column("domains", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mra_domains")),
    )
    op.create_table(
        "node_services",
        sa.Column("node_name", sa.String(64), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _flag("restart_pending"),
        _time("started_at", nullable=True),
        sa.Column("applied", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("node_name", "service", name=op.f("pk_node_services")),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_services_node_name_nodes"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(_SERVICES, name=op.f("ck_node_services_service")),
        sa.CheckConstraint(_STATES, name=op.f("ck_node_services_state")),
    )
    # Data: "restart pending" of a node was its CallManager's (R8).
    op.execute(_PENDING_TO_SERVICES[_dialect()])
    op.drop_column("nodes", "restart_pending")
    op.create_table(
        "service_commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_name", sa.String(64), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        _time("requested_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _time("done_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_commands")),
        sa.CheckConstraint(_SERVICES, name=op.f("ck_service_commands_service")),
        sa.CheckConstraint(_ACTIONS, name=op.f("ck_service_commands_action")),
        sa.CheckConstraint(_STATUSES, name=op.f("ck_service_commands_status")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_service_commands_node_name_status", "service_commands", ["node_name", "status"]
    )
    op.create_table(
        "admin_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_admin_tokens")),
        sa.ForeignKeyConstraint(
            ["username"],
            ["admins.username"],
            name=op.f("fk_admin_tokens_username_admins"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_admin_tokens_username", "admin_tokens", ["username"])
    op.create_index("ix_admin_tokens_expires_at", "admin_tokens", ["expires_at"])
    op.add_column(
        "devices",
        sa.Column(
            "requires_activation_code", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.add_column(
        "devices", sa.Column("config_version", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "devices",
        sa.Column("reset_required", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "trusted_certs", sa.Column("issuer", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("trusted_certs", _time("not_before", nullable=True))


def downgrade() -> None:
    op.drop_column("trusted_certs", "not_before")
    op.drop_column("trusted_certs", "issuer")
    op.drop_column("devices", "reset_required")
    op.drop_column("devices", "config_version")
    op.drop_column("devices", "requires_activation_code")
    op.drop_table("admin_tokens")
    op.drop_table("service_commands")
    # Back to one flag per node: raised when its CallManager's was.
    op.add_column(
        "nodes",
        sa.Column("restart_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(_PENDING_TO_NODES[_dialect()])
    op.drop_table("node_services")
    op.drop_table("mra_domains")
    op.drop_table("audit_log")
