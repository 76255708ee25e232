"""The study queue in the database: enqueue, claim, heartbeat, finish, cancel, and reaping dead workers.

A study is the unit a worker claims, atomically: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL (two
workers never block on, nor both take, the same row), a conditional `UPDATE ... WHERE status = 'queued'
RETURNING` inside a `BEGIN IMMEDIATE` transaction on SQLite. The claiming worker heartbeats the study;
`reap_stale` (run by every worker and by the API process) treats a study whose heartbeat is older than
the stale timeout as orphaned: its running trials are marked interrupted with a "stale" reason and the study
goes back to the queue, where the next worker resumes it from the Optuna study on the same database --
completed trials are never touched. Every transition is also written to `gdt_events`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.db import Database
from api.models import FINISHED_STUDY, Event, Study, Trial, Worker, utcnow
from core.errors import GDTSearchError

if TYPE_CHECKING:
    from search.spec import StudySpec


@dataclass(frozen=True)
class Claimed:
    id: int
    optuna_name: str
    spec: dict
    attempts: int


@dataclass(frozen=True)
class Beat:
    owned: bool  # False: the study is no longer this worker's (reaped, or finished elsewhere)
    cancel_requested: bool


def add_event(
    session: Session,
    study_id: int | None,
    kind: str,
    message: str,
    worker_id: str | None = None,
    trial_number: int | None = None,
) -> None:
    session.add(Event(study_id=study_id, kind=kind, message=message, worker_id=worker_id, trial_number=trial_number))


def enqueue(db: Database, spec: StudySpec) -> Study:
    """A new queued study; its Optuna study gets a name of its own, so equal spec names never mix."""
    with db.write() as session:
        study = Study(
            name=spec.name,
            optuna_name=f"{spec.name}-{uuid.uuid4().hex[:10]}",
            backend=spec.backend,
            status="queued",
            spec=spec.model_dump(mode="json", exclude={"storage"}),
            directions=list(spec.objective.directions),
            n_trials=spec.search.n_trials,
            cancel_requested=False,
            attempts=0,
        )
        session.add(study)
        session.flush()
        add_event(session, study.id, "created", f"queued ({spec.backend}, n_trials={spec.search.n_trials})")
    return study


def register_worker(db: Database, worker_id: str, hostname: str, pid: int) -> None:
    with db.write() as session:
        session.merge(Worker(id=worker_id, hostname=hostname, pid=pid, status="idle", heartbeat_at=utcnow()))


def worker_stopped(db: Database, worker_id: str) -> None:
    with db.write() as session:
        session.execute(update(Worker).where(Worker.id == worker_id).values(status="stopped", study_id=None))


def claim(db: Database, worker_id: str) -> Claimed | None:
    """Take the oldest queued study for `worker_id`, or None; never gives one study to two workers."""
    now = utcnow()
    # error=None: whatever the study process records from here on is this attempt's, so a crash is told
    # apart from the one before it (the previous attempt's cause stays in its `requeued` event)
    values = dict(status="running", worker_id=worker_id, heartbeat_at=now, attempts=Study.attempts + 1, error=None)
    with db.write() as session:
        if db.postgres:
            study_id = session.execute(
                select(Study.id)
                .where(Study.status == "queued", Study.cancel_requested.is_(False))
                .order_by(Study.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar()
            if study_id is None:
                return None
            session.execute(update(Study).where(Study.id == study_id).values(**values))
        else:
            oldest = (
                select(Study.id)
                .where(Study.status == "queued", Study.cancel_requested.is_(False))
                .order_by(Study.id)
                .limit(1)
                .scalar_subquery()
            )
            study_id = session.execute(
                update(Study).where(Study.id == oldest, Study.status == "queued").values(**values).returning(Study.id)
            ).scalar()
            if study_id is None:
                return None
        study = session.get(Study, study_id)
        if study.started_at is None:
            study.started_at = now
        session.execute(update(Worker).where(Worker.id == worker_id).values(status="busy", study_id=study_id))
        add_event(session, study_id, "claimed", f"claimed (attempt {study.attempts})", worker_id)
        return Claimed(study.id, study.optuna_name, dict(study.spec), study.attempts)


def heartbeat(db: Database, worker_id: str, study_id: int | None = None) -> Beat:
    """The worker is alive (and still owns `study_id`); tells it whether a cancel was requested."""
    now = utcnow()
    with db.write() as session:
        session.execute(
            update(Worker)
            .where(Worker.id == worker_id)
            .values(heartbeat_at=now, status="busy" if study_id else "idle", study_id=study_id)
        )
        if study_id is None:
            return Beat(True, False)
        cancel = session.execute(
            update(Study)
            .where(Study.id == study_id, Study.worker_id == worker_id, Study.status == "running")
            .values(heartbeat_at=now)
            .returning(Study.cancel_requested)
        ).scalar()
    return Beat(cancel is not None, bool(cancel))


def fail_running_trials(session: Session, study_id: int, reason: str, worker_id: str | None = None) -> list[int]:
    """Mark the study's running trials interrupted with `reason` (stopped from outside: not a trial that failed,
    not a trained configuration); returns their numbers."""
    now = utcnow()
    trials = session.scalars(select(Trial).where(Trial.study_id == study_id, Trial.state == "running")).all()
    for trial in trials:
        trial.state, trial.reason, trial.finished_at = "interrupted", reason, now
        trial.duration_s = (now - trial.started_at).total_seconds()
        add_event(session, study_id, "trial_interrupted", f"trial #{trial.number}: {reason}", worker_id, trial.number)
    return [t.number for t in trials]


def _owned(session: Session, study_id: int, worker_id: str) -> Study | None:
    study = session.get(Study, study_id, with_for_update=True)
    if study is None or study.worker_id != worker_id or study.status != "running":
        return None
    return study


def finish(
    db: Database,
    study_id: int,
    worker_id: str,
    status: str,
    message: str,
    trial_reason: str | None = None,
    error: str | None = None,
) -> bool:
    """End the study this worker runs (completed / failed / cancelled); False if it was no longer its."""
    assert status in FINISHED_STUDY
    with db.write() as session:
        study = _owned(session, study_id, worker_id)
        if study is None:
            return False
        fail_running_trials(session, study_id, trial_reason or f"the study ended ({status}) during this trial")
        study.status, study.finished_at = status, utcnow()  # worker_id stays: who ran it
        if error:
            study.error = error
        session.execute(update(Worker).where(Worker.id == worker_id).values(status="idle", study_id=None))
        add_event(session, study_id, status, message, worker_id)
    return True


def release(
    db: Database, study_id: int, worker_id: str, reason: str, max_attempts: int, count_attempt: bool = True
) -> str | None:
    """Give the study back: its running trials failed with `reason`, then requeued (or failed after
    `max_attempts` claims). Returns the new status, None if the study was no longer this worker's."""
    with db.write() as session:
        study = _owned(session, study_id, worker_id)
        if study is None:
            return None
        session.execute(update(Worker).where(Worker.id == worker_id).values(status="idle", study_id=None))
        return _requeue(session, study, reason, max_attempts, count_attempt, worker_id)


def _requeue(
    session: Session, study: Study, reason: str, max_attempts: int, count_attempt: bool, worker_id: str | None
) -> str:
    if study.error:  # what this attempt's study process recorded before it died (the exception it raised)
        reason = f"{reason}: {study.error}"
    fail_running_trials(session, study.id, reason, worker_id)
    if not count_attempt:
        study.attempts = max(0, study.attempts - 1)
    study.worker_id = None
    if study.cancel_requested:
        study.status, study.finished_at = "cancelled", utcnow()
        add_event(session, study.id, "cancelled", f"cancelled ({reason})", worker_id)
    elif study.attempts >= max_attempts:
        study.status, study.finished_at = "failed", utcnow()
        study.error = f"gave up after {study.attempts} attempts; last: {reason}"
        add_event(session, study.id, "failed", study.error, worker_id)
    else:
        study.status = "queued"
        add_event(session, study.id, "requeued", f"requeued: {reason}", worker_id)
    return study.status


def reap_stale(db: Database, stale_after_s: float, max_attempts: int, now: datetime | None = None) -> list[int]:
    """Fail the running trials of studies whose worker stopped heartbeating and requeue those studies.

    Returns the ids of the studies it handled. Safe to run from many processes at once.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    handled = []
    with db.write() as session:
        session.execute(
            update(Worker)
            .where(Worker.status.in_(("idle", "busy")), Worker.heartbeat_at < cutoff)
            .values(status="lost")
        )
        stale = session.scalars(
            select(Study)
            .where(Study.status == "running", func.coalesce(Study.heartbeat_at, Study.updated_at) < cutoff)
            .order_by(Study.id)
            .with_for_update(skip_locked=True)
        ).all()
        for study in stale:
            last = study.heartbeat_at.isoformat(timespec="seconds") if study.heartbeat_at else "never"
            reason = (
                f"stale: worker {study.worker_id} stopped heartbeating (last heartbeat {last},"
                f" stale after {stale_after_s:g} s)"
            )
            _requeue(session, study, reason, max_attempts, True, None)
            handled.append(study.id)
    return handled


class AlreadyFinished(GDTSearchError):
    """A cancel for a study that has already ended (completed, failed or cancelled); `status` says which."""

    def __init__(self, study_id: int, status: str):
        self.study_id, self.status = study_id, status
        super().__init__(f"study {study_id} has already finished ({status})")


def request_cancel(db: Database, study_id: int) -> Study | None:
    """Queued: cancelled at once. Running: flagged; its worker stops it at the next heartbeat. Finished:
    AlreadyFinished, and nothing changes."""
    with db.write() as session:
        study = session.get(Study, study_id, with_for_update=True)
        if study is None:
            return None
        # Read under the row lock: a study this request cancels is told apart from one already cancelled.
        if study.status in FINISHED_STUDY:
            raise AlreadyFinished(study_id, study.status)
        if study.status == "queued":
            study.status, study.finished_at, study.cancel_requested = "cancelled", utcnow(), True
            add_event(session, study.id, "cancelled", "cancelled before it started")
        elif study.status == "running" and not study.cancel_requested:
            study.cancel_requested = True
            add_event(session, study.id, "cancel_requested", "cancel requested; the worker stops it")
        return study
