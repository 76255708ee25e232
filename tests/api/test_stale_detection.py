"""With the default settings a killed worker's study is noticed within two heartbeats, a late live one is not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api import queue
from api.db import Database
from api.models import Study, Trial
from api.settings import Settings
from search.spec import load_spec
from tests.api.conftest import tiny_spec
from tests.api.helpers import claim_for, record


def test_default_timings_notice_a_dead_worker_within_two_heartbeats():
    s = Settings()
    # Last heartbeat at most just before the kill; stale after stale_after_s; the next reaper pass (the API's,
    # or an idle worker's poll) at most one interval later.
    assert s.stale_after_s + max(s.reap_interval_s, s.poll_s) <= 2 * s.heartbeat_s
    assert s.stale_after_s > s.heartbeat_s  # a live worker's next beat is never counted as death


def test_reaper_with_the_defaults_fails_a_silent_workers_trial_by_two_heartbeats(database_url):
    s = Settings(database_url=database_url)
    db = Database(database_url)
    queue.enqueue(db, load_spec(tiny_spec("dead")))
    claimed, recorder = claim_for(database_url, "killed-worker")
    record(recorder, 0, "complete", 0.5, steps=(1,), finish=False)  # trial 0 running when the worker was killed
    with db.read() as session:
        beat = session.get(Study, claimed.id).heartbeat_at
    late_beat = beat + timedelta(seconds=s.heartbeat_s + 0.5 * (s.stale_after_s - s.heartbeat_s))
    assert queue.reap_stale(db, s.stale_after_s, s.max_attempts, now=late_beat) == []  # alive, just late
    # The reaper's pass just before 2 x heartbeat after the last beat (so at most that after the kill):
    noticed = beat + timedelta(seconds=2 * s.heartbeat_s - max(s.reap_interval_s, s.poll_s) + 0.01)
    assert queue.reap_stale(db, s.stale_after_s, s.max_attempts, now=noticed) == [claimed.id]
    with db.read() as session:
        trial = session.scalars(select(Trial).where(Trial.study_id == claimed.id, Trial.number == 0)).one()
        assert trial.state == "interrupted" and trial.reason.startswith("stale: worker killed-worker")
        assert session.get(Study, claimed.id).status == "queued"
    db.dispose()
