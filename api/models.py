"""The service's tables: studies, trials, intermediate values, events and workers.

Every table is named `gdt_<name>` and Alembic's version table is `gdt_alembic_version`, so the service
shares one database with Optuna's storage (`studies`, `trials`, ..., `alembic_version`, `version_info`)
without a collision. Timestamps are UTC, stored timezone-aware (PostgreSQL) or as ISO text (SQLite)
and always read back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import search.states

PREFIX = "gdt_"
BEST_INDEX = "ix_gdt_trials_best"
VERSION_TABLE = "gdt_alembic_version"

# Study lifecycle: queued -> running -> completed | failed | cancelled; a running study whose worker died
# goes back to queued (up to Settings.max_attempts times). The API's schema (api.schemas) uses these.
FinishedStudyStatus = Literal["completed", "failed", "cancelled"]
StudyStatus = Literal["queued", "running", FinishedStudyStatus]
STUDY_STATUSES: tuple[str, ...] = get_args(StudyStatus)
FINISHED_STUDY: tuple[str, ...] = get_args(FinishedStudyStatus)
# A trial row (Trial.state): running until the recorder hears how it ended; the search layer's states otherwise.
TRIAL_STATES = search.states.TRIAL_STATES


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset: it is added back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the service stores UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Study(Base):
    __tablename__ = "gdt_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the spec's name, for people
    optuna_name: Mapped[str] = mapped_column(String(300), unique=True)  # the study in Optuna's tables
    backend: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the full spec, defaults filled in
    directions: Mapped[list[Any]] = mapped_column(JSON)
    n_trials: Mapped[int | None] = mapped_column(Integer)  # the trial budget (None: the whole finite space)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(200), index=True)  # claimed by (finished: ran by)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims so far
    error: Mapped[str | None] = mapped_column(Text)
    # folders only: per dataset, videos used, files skipped and truncated files kept (search.data_report)
    data_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the untrained encoder's objective for the study's training seeds (search.baseline)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the proxy calibration (search.calibration) and the line saying where the study's pruner acts
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pruning: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]  # the claiming worker's last heartbeat

    __table_args__ = (Index(None, "status", "id"),)


class Trial(Base):
    __tablename__ = "gdt_trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("gdt_studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # Optuna's trial number (both backends)
    backend_trial: Mapped[str] = mapped_column(String(100))  # the backend's own trial id
    state: Mapped[str] = mapped_column(String(16))  # one of TRIAL_STATES
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[str] = mapped_column(Text)
    # the configuration as data (search.space.Candidate.settings_record): factor -> {"choice", "k"} in the
    # notation's order, DS first (an infeasible proposal: its searched factors only); what readers use, never
    # a parse of `config`. None: a trial recorded without it
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    equivalence_key: Mapped[str | None] = mapped_column(String(64))
    values: Mapped[list[Any] | None] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)  # values[0], for sorting
    # each training seed's score; `score` is their mean (None: recorded before replicates, one seed)
    seed_values: Mapped[list[Any] | None] = mapped_column(JSON)
    cost: Mapped[float | None] = mapped_column(Float)  # values[1] of a multi-objective study
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    invariance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    replay: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    # a running trial's training progress (search.recorder.TrialProgress.fields: step, total, seed, seeds, loss,
    # score, score_step) and when it was reported; None once it has ended
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        Index(None, "study_id", "state"),
    )


# "Best first" (score descending, unscored trials last, ties by number) straight from an index. The two
# dialects spell it differently (SQLite's DESC already puts NULL last, and it refuses NULLS LAST in an
# index), so each gets its own; `api.db.object_filter` lets Alembic compare only its dialect's.
Index(BEST_INDEX, Trial.study_id, Trial.score.desc().nulls_last(), Trial.number).ddl_if(dialect="postgresql")
Index(BEST_INDEX, Trial.study_id, Trial.score.desc(), Trial.number).ddl_if(dialect="sqlite")


class IntermediateValue(Base):
    __tablename__ = "gdt_intermediate_values"

    trial_id: Mapped[int] = mapped_column(ForeignKey("gdt_trials.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)  # None: not finite
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """What happened to a study, in order: created, claimed, requeued, trial_stale, cancelled ..."""

    __tablename__ = "gdt_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("gdt_studies.id", ondelete="CASCADE"), index=True)
    trial_number: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Worker(Base):
    __tablename__ = "gdt_workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # idle / busy / stopped / lost
    study_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
