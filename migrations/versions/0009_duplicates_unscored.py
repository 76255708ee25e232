"""A duplicate (a proposal equivalent to a trained configuration, which reused its result) has no score, cost,
seed scores or metrics of its own: it is no measurement, and a score in its row would be sorted, maximised and
averaged with the measurements. What it reused stays in `values`. Existing duplicates are cleared here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    trials = sa.table(
        "gdt_trials",
        sa.column("state", sa.String),
        sa.column("score", sa.Float),
        sa.column("cost", sa.Float),
        sa.column("seed_values", sa.JSON),
        sa.column("scores", sa.JSON),
    )
    op.get_bind().execute(
        trials.update()
        .where(trials.c.state == "duplicate")
        .values(score=None, cost=None, seed_values=sa.null(), scores={})
    )


def downgrade() -> None:
    # Nothing to restore: the earlier revisions read a duplicate's score only to show it, and its values are kept.
    pass
