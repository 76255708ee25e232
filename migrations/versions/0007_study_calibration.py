"""A study's proxy calibration (search.calibration): its rank agreement between budgets and where its pruner acts.

Revision ID: 0007
Revises: 0006_trial_progress
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006_trial_progress"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gdt_studies", sa.Column("calibration", sa.JSON(), nullable=True))
    op.add_column("gdt_studies", sa.Column("pruning", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gdt_studies") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("pruning")
        batch.drop_column("calibration")
