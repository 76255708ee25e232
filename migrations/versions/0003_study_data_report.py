"""A study's data report: the files its clip caches skipped and the truncated ones they kept.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gdt_studies", sa.Column("data_report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gdt_studies") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("data_report")
