"""A study's untrained-encoder baseline: its objective before any training, for each training seed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gdt_studies", sa.Column("baseline", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gdt_studies") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("baseline")
