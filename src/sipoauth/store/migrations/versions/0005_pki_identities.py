"""The cluster's certificates and their keys in the database (issue 8 point 4).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Adds ``pki_identities``: the cluster CA (``ca``) and each node's web
certificate (``tomcat:<node>``), chain as PEM, private key sealed under the
cluster secret (``store/_seal.py``; NULL for a CA outside the cluster). Key
material already in ``keys`` stays as it is here: sealing needs the secret,
which a migration does not have, so ``init`` seals plain keys once it has it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pki_identities",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pki_identities")),
    )


def downgrade() -> None:
    op.drop_table("pki_identities")
