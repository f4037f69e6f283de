"""run usage, node execution metadata and message price

Revision ID: e2b7c4f19a06
Revises: d5e1c0a7b310
Create Date: 2026-11-21 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2b7c4f19a06"
down_revision: str | None = "d5e1c0a7b310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get {} (no model usage recorded).
    with op.batch_alter_table("workflowrun") as batch:
        batch.add_column(sa.Column("usage", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("nodeexecution") as batch:
        batch.add_column(
            sa.Column("execution_metadata", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("message") as batch:
        batch.add_column(
            sa.Column("total_price", sa.String(length=32), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("currency", sa.String(length=8), nullable=False, server_default="USD")
        )


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("currency")
        batch.drop_column("total_price")
    with op.batch_alter_table("nodeexecution") as batch:
        batch.drop_column("execution_metadata")
    with op.batch_alter_table("workflowrun") as batch:
        batch.drop_column("usage")
