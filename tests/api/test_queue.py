"""The study queue: atomic claims under concurrency, SKIP LOCKED, heartbeats, reaping dead workers, lost claims."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from api import queue
from api.database_recorder import ClaimLost
from api.db import Database
from api.models import Event, Study, Trial, utcnow
from search.spec import load_spec
from tests.api.conftest import tiny_spec
from tests.api.helpers import claim_for, record


def enqueue(url: str, n: int) -> list[int]:
    db = Database(url)
    spec = load_spec(tiny_spec())
    ids = [queue.enqueue(db, spec).id for _ in range(n)]
    db.dispose()
    return ids


def test_concurrent_workers_claim_each_study_exactly_once(database_url):
    ids = enqueue(database_url, 24)
    claims: dict[str, list[int]] = {}
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def worker(name: str) -> None:
        db = Database(database_url)
        queue.register_worker(db, name, "host", 0)
        mine = claims.setdefault(name, [])
        barrier.wait()
        try:
            while (claimed := queue.claim(db, name)) is not None:
                mine.append(claimed.id)
        except Exception as error:  # noqa: BLE001 - asserted below
            errors.append(error)
        db.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    claimed = [study for mine in claims.values() for study in mine]
    assert sorted(claimed) == ids  # every study once: none lost, none claimed twice
    db = Database(database_url)
    with db.read() as session:
        rows = session.scalars(select(Study)).all()
        assert all(s.status == "running" and s.attempts == 1 for s in rows)
        owner = {s.id: s.worker_id for s in rows}
        events = session.scalars(select(Event).where(Event.kind == "claimed")).all()
    assert sorted(e.study_id for e in events) == ids
    assert all(owner[study] == name for name, mine in claims.items() for study in mine)
    db.dispose()


def test_postgres_claims_skip_a_locked_row_instead_of_waiting(postgres_url):
    first, second = enqueue(postgres_url, 2)
    holder = Database(postgres_url)
    # Any wait on a row lock fails after 2 s instead of hanging the test.
    claimer = Database(postgres_url, connect_args={"options": "-c lock_timeout=2000"})
    with holder.engine.connect() as connection:
        connection.execute(text("SELECT id FROM gdt_studies WHERE id = :id FOR UPDATE"), {"id": first})
        started = time.monotonic()
        claimed = queue.claim(claimer, "w-skip")
        assert claimed is not None and claimed.id == second
        assert time.monotonic() - started < 1.5
        connection.rollback()
    assert queue.claim(claimer, "w-skip").id == first
    holder.dispose()
    claimer.dispose()


def test_heartbeat_reports_cancel_and_lost_claims(database_url):
    (study_id,) = enqueue(database_url, 1)
    db = Database(database_url)
    queue.register_worker(db, "w1", "host", 1)
    assert queue.claim(db, "w1").id == study_id
    assert queue.heartbeat(db, "w1", study_id) == queue.Beat(owned=True, cancel_requested=False)
    queue.request_cancel(db, study_id)
    assert queue.heartbeat(db, "w1", study_id) == queue.Beat(owned=True, cancel_requested=True)
    assert queue.heartbeat(db, "w2", study_id).owned is False  # not w2's study
    db.dispose()


def test_reaping_a_dead_worker_fails_its_running_trial_and_requeues(database_url):
    enqueue(database_url, 1)
    claimed, recorder = claim_for(database_url, "dead-worker")
    record(recorder, 0, "complete", 0.5, steps=(1,))
    record(recorder, 1, "complete", 0.25, steps=(1,), finish=False)
    db = Database(database_url)
    assert queue.reap_stale(db, stale_after_s=30, max_attempts=3) == []  # heartbeat is fresh: nothing to do

    later = utcnow() + timedelta(seconds=31)
    assert queue.reap_stale(db, stale_after_s=30, max_attempts=3, now=later) == [claimed.id]
    with db.read() as session:
        study = session.get(Study, claimed.id)
        trials = {t.number: t for t in session.scalars(select(Trial).where(Trial.study_id == claimed.id))}
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.study_id == claimed.id).order_by(Event.id))]
    assert study.status == "queued" and study.worker_id is None and study.attempts == 1
    assert trials[0].state == "complete" and trials[0].score == 0.5  # completed work is untouched
    assert trials[1].state == "interrupted"  # stopped from outside: no measurement, not trained
    assert trials[1].reason.startswith("stale: worker dead-worker stopped heartbeating")
    assert kinds[-2:] == ["trial_interrupted", "requeued"]

    # The dead worker's process, should it still be running, can no longer write.
    with pytest.raises(ClaimLost):
        record(recorder, 2, "complete", 0.1)
    # Another worker resumes the study.
    queue.register_worker(db, "next-worker", "host", 2)
    again = queue.claim(db, "next-worker")
    assert again.id == claimed.id and again.attempts == 2
    with pytest.raises(ClaimLost):
        record(recorder, 2, "complete", 0.1)
    db.dispose()


def test_a_study_whose_workers_keep_dying_is_failed_not_requeued_forever(database_url):
    enqueue(database_url, 1)
    db = Database(database_url)
    for attempt in range(1, 3):
        queue.register_worker(db, f"w{attempt}", "host", attempt)
        assert queue.claim(db, f"w{attempt}").attempts == attempt
        reaped = queue.reap_stale(db, 5, max_attempts=2, now=utcnow() + timedelta(seconds=10))
        assert len(reaped) == 1
    with db.read() as session:
        study = session.scalars(select(Study)).one()
    assert study.status == "failed" and "gave up after 2 attempts" in study.error
    assert queue.claim(db, "w3") is None
    db.dispose()


def test_cancel_requested_for_a_dead_workers_study_ends_cancelled(database_url):
    (study_id,) = enqueue(database_url, 1)
    db = Database(database_url)
    queue.register_worker(db, "w1", "host", 1)
    queue.claim(db, "w1")
    queue.request_cancel(db, study_id)
    queue.reap_stale(db, 5, max_attempts=5, now=utcnow() + timedelta(seconds=10))
    with db.read() as session:
        assert session.get(Study, study_id).status == "cancelled"
    db.dispose()


def test_a_crash_is_requeued_with_what_its_own_attempt_recorded(database_url):
    """The study process records the exception it raised, then dies: the requeue, the trial it interrupted and
    the final error name that exception -- and a later attempt killed without a word is not given the earlier
    attempt's cause."""
    from api.study_process import _record_error

    enqueue(database_url, 1)
    claimed, recorder = claim_for(database_url, "w1")
    record(recorder, 0, "complete", 0.5, finish=False)
    db = Database(database_url)
    _record_error(db, claimed.id, "w1", "IndexError: list index out of range")
    died = "the study process died (exit code 1)"
    assert queue.release(db, claimed.id, "w1", died, max_attempts=2) == "queued"
    with db.read() as session:
        trial = session.scalars(select(Trial).where(Trial.study_id == claimed.id)).one()
        requeued = session.scalars(select(Event.message).where(Event.kind == "requeued")).one()
    assert trial.reason == requeued.removeprefix("requeued: ") == f"{died}: IndexError: list index out of range"

    queue.register_worker(db, "w2", "host", 2)
    assert queue.claim(db, "w2").attempts == 2
    with db.read() as session:
        assert session.get(Study, claimed.id).error is None  # this attempt has recorded nothing yet
    assert queue.release(db, claimed.id, "w2", "the study process died (signal SIGKILL)", max_attempts=2) == "failed"
    with db.read() as session:
        study = session.get(Study, claimed.id)
    assert study.error == "gave up after 2 attempts; last: the study process died (signal SIGKILL)"

    enqueue(database_url, 1)  # a study that crashes the same way twice says so in its final error
    for attempt in (1, 2):
        again = queue.claim(db, "w2")
        assert again.attempts == attempt
        _record_error(db, again.id, "w2", "IndexError: list index out of range")
        status = queue.release(db, again.id, "w2", died, max_attempts=2)
    with db.read() as session:
        error = session.get(Study, again.id).error
    assert status == "failed"
    assert error == f"gave up after 2 attempts; last: {died}: IndexError: list index out of range"
    db.dispose()
