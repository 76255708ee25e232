"""A running trial's training progress (step / total, seed, latest loss and intermediate score), one small
UPDATE per report; None once the trial has ended.

Revision ID: 0006_trial_progress
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_trial_progress"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gdt_trials", sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gdt_trials") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("progress")
