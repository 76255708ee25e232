"""Replicates: each trial's seeds' scores (search.seeds), the samples its mean score and interval rest on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gdt_trials", sa.Column("seed_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gdt_trials") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("seed_values")
