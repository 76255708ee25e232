"""The service's tables: studies, trials, intermediate values, events, workers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gdt_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("optuna_name", sa.String(length=300), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("directions", sa.JSON(), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=True),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("heartbeat_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdt_studies")),
        sa.UniqueConstraint("optuna_name", name=op.f("uq_gdt_studies_optuna_name")),
    )
    op.create_index(op.f("ix_gdt_studies_status_id"), "gdt_studies", ["status", "id"])
    op.create_index(op.f("ix_gdt_studies_worker_id"), "gdt_studies", ["worker_id"])

    op.create_table(
        "gdt_workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("heartbeat_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdt_workers")),
    )

    op.create_table(
        "gdt_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("trial_number", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["gdt_studies.id"], name=op.f("fk_gdt_events_study_id_gdt_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdt_events")),
    )
    op.create_index(op.f("ix_gdt_events_study_id"), "gdt_events", ["study_id"])

    op.create_table(
        "gdt_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("backend_trial", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("equivalence_key", sa.String(length=64), nullable=True),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("invariance", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("replay", sa.JSON(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"], ["gdt_studies.id"], name=op.f("fk_gdt_trials_study_id_gdt_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdt_trials")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_gdt_trials_study_id_number")),
    )
    op.create_index(op.f("ix_gdt_trials_study_id_score"), "gdt_trials", ["study_id", "score"])
    op.create_index(op.f("ix_gdt_trials_study_id_state"), "gdt_trials", ["study_id", "state"])

    op.create_table(
        "gdt_intermediate_values",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["gdt_trials.id"],
            name=op.f("fk_gdt_intermediate_values_trial_id_gdt_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "step", name=op.f("pk_gdt_intermediate_values")),
    )


def downgrade() -> None:
    op.drop_table("gdt_intermediate_values")
    op.drop_index(op.f("ix_gdt_trials_study_id_state"), table_name="gdt_trials")
    op.drop_index(op.f("ix_gdt_trials_study_id_score"), table_name="gdt_trials")
    op.drop_table("gdt_trials")
    op.drop_index(op.f("ix_gdt_events_study_id"), table_name="gdt_events")
    op.drop_table("gdt_events")
    op.drop_table("gdt_workers")
    op.drop_index(op.f("ix_gdt_studies_worker_id"), table_name="gdt_studies")
    op.drop_index(op.f("ix_gdt_studies_status_id"), table_name="gdt_studies")
    op.drop_table("gdt_studies")
