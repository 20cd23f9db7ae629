"""CallManager groups and the edge's public address.

Revision ID: 0004
Revises: 0003
Create Date: 2025-12-15

Adds CallManager groups (the ordered servers a device registers to, listed
in its config file) with their members, a device's group
(``devices.callmanager_group``; NULL is the Default group: every server,
publisher first), and where phones outside reach an edge through Mobile and
Remote Access: ``edges.public_host`` (NULL: its address) and its public SIP
and HTTPS ports.

SQLite cannot add a foreign key to an existing table except inline, in the
``ADD COLUMN`` itself (``REFERENCES``, unnamed: SQLite cannot drop one by
name anyway); PostgreSQL gets the named constraint. Plain NO ACTION on both
(a group in use cannot be deleted): SQLAlchemy reflects no ON DELETE / ON
UPDATE of an inline SQLite reference, so the models could not say more and
still compare equal to the database. Dropping that column
again needs a copy of ``devices`` on SQLite (a column in a foreign key cannot
be dropped natively), and with ``foreign_keys=ON`` dropping the old table
during the copy cascade-deletes its lines and activation codes: the
downgrade keeps them aside and puts them back (see 0003 on the same trap).

New NOT NULL columns carry server defaults, so that rows already there
migrate. Literal values on purpose: a migration must not change when the
models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEVICE_FK = "fk_devices_callmanager_group_callmanager_groups"
# Rows of the tables whose foreign key cascades from devices (SQLite downgrade).
_KEEP_CHILDREN = (
    "CREATE TEMPORARY TABLE keep_lines AS SELECT * FROM lines",
    "CREATE TEMPORARY TABLE keep_activation_codes AS SELECT * FROM activation_codes",
)
_RESTORE_CHILDREN = (
    "DELETE FROM lines",
    "INSERT INTO lines SELECT * FROM keep_lines",
    "DROP TABLE keep_lines",
    "DELETE FROM activation_codes",
    "INSERT INTO activation_codes SELECT * FROM keep_activation_codes",
    "DROP TABLE keep_activation_codes",
)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _dialect() -> str:
    return op.get_context().dialect.name


def _devices_at_0003() -> sa.Table:
    """The ``devices`` table as revisions 0001 and 0003 left it."""
    metadata = sa.MetaData()
    sa.Table("security_profiles", metadata, sa.Column("name", sa.String(128), primary_key=True))
    return sa.Table(
        "devices",
        metadata,
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
        sa.Column(
            "requires_activation_code", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("config_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("reset_required", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["profile_name"],
            ["security_profiles.name"],
            name="fk_devices_profile_name_security_profiles",
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint("device_type IN ('desk', 'soft')", name="ck_devices_device_type"),
        sa.Index("ix_devices_profile_name", "profile_name"),
        sa.Index("ix_devices_owner_user_id", "owner_user_id"),
    )


def upgrade() -> None:
    op.create_table(
        "callmanager_groups",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_callmanager_groups")),
    )
    op.create_table(
        "callmanager_group_members",
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_name", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint(
            "group_name", "position", name=op.f("pk_callmanager_group_members")
        ),
        sa.UniqueConstraint(
            "group_name",
            "node_name",
            name=op.f("uq_callmanager_group_members_group_name_node_name"),
        ),
        sa.ForeignKeyConstraint(
            ["group_name"],
            ["callmanager_groups.name"],
            name=op.f("fk_callmanager_group_members_group_name_callmanager_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_callmanager_group_members_node_name_nodes"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("position >= 0", name=op.f("ck_callmanager_group_members_position")),
    )
    if _dialect() == "sqlite":
        group = sa.Column(
            "callmanager_group",
            sa.String(128),
            sa.ForeignKey("callmanager_groups.name"),
            nullable=True,
        )
        op.add_column("devices", group, inline_references=True)
    else:
        op.add_column("devices", sa.Column("callmanager_group", sa.String(128), nullable=True))
        op.create_foreign_key(
            op.f(_DEVICE_FK), "devices", "callmanager_groups", ["callmanager_group"], ["name"]
        )
    op.create_index("ix_devices_callmanager_group", "devices", ["callmanager_group"])
    op.add_column("edges", sa.Column("public_host", sa.String(255), nullable=True))
    op.add_column(
        "edges", sa.Column("public_sip_port", sa.Integer(), server_default="5061", nullable=False)
    )
    op.add_column(
        "edges", sa.Column("public_web_port", sa.Integer(), server_default="8443", nullable=False)
    )


def _drop_device_group_sqlite() -> None:
    """Copy ``devices`` without the column, keeping the rows that cascade."""
    for statement in _KEEP_CHILDREN:
        op.execute(statement)
    with op.batch_alter_table("devices", copy_from=_devices_at_0003(), recreate="always"):
        pass
    # The copy emptied them (ON DELETE CASCADE): fill them back.
    for statement in _RESTORE_CHILDREN:
        op.execute(statement)


def downgrade() -> None:
    op.drop_column("edges", "public_web_port")
    op.drop_column("edges", "public_sip_port")
    op.drop_column("edges", "public_host")
    op.drop_index("ix_devices_callmanager_group", table_name="devices")
    if _dialect() == "sqlite":
        _drop_device_group_sqlite()
    else:
        op.drop_constraint(op.f(_DEVICE_FK), "devices", type_="foreignkey")
        op.drop_column("devices", "callmanager_group")
    op.drop_table("callmanager_group_members")
    op.drop_table("callmanager_groups")
