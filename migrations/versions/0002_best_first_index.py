"""Trials "best first" from an index: (study_id, score DESC NULLS LAST, number) replaces (study_id, score).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_gdt_trials_study_id_score"), table_name="gdt_trials")
    # SQLite's DESC already puts NULL last, and it refuses NULLS LAST in an index.
    score = "score DESC NULLS LAST" if op.get_bind().dialect.name == "postgresql" else "score DESC"
    op.create_index("ix_gdt_trials_best", "gdt_trials", ["study_id", sa.text(score), "number"])


def downgrade() -> None:
    op.drop_index("ix_gdt_trials_best", table_name="gdt_trials")
    op.create_index(op.f("ix_gdt_trials_study_id_score"), "gdt_trials", ["study_id", "score"])
