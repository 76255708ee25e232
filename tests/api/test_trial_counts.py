"""A trials page's `total`: counted on every page while a study can still change, read once for a study that
finished long enough ago (api.queries.SettledCounts) -- and never stale for a live one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from api import queries, queue
from api.db import Database, migrate
from api.models import Trial, utcnow
from search.spec import load_spec
from tests.api.conftest import tiny_spec


def test_only_a_study_finished_a_while_ago_is_settled():
    now = utcnow()
    assert not queries.settled("running", None) and not queries.settled("queued", now - timedelta(days=1))
    assert not queries.settled("completed", now)  # just finished: its worker's last writes may still land
    for status in ("completed", "failed", "cancelled"):
        assert queries.settled(status, now - timedelta(seconds=queries.SETTLED_S + 1))


def _add(db: Database, study_id: int, numbers: range) -> None:
    rows = [dict(study_id=study_id, number=n, backend_trial=str(n), state="complete", params={}, config="x",
                 scores={}, invariance={}, replay={}, started_at=utcnow()) for n in numbers]  # fmt: skip
    with db.write() as session:
        session.execute(insert(Trial), rows)


def test_a_live_study_is_counted_on_every_page_and_a_settled_one_once(sqlite_url):
    db = Database(sqlite_url)
    migrate(db, optuna_tables=False)
    study_id = queue.enqueue(db, load_spec(tiny_spec("counts"))).id
    counts = queries.SettledCounts()
    _add(db, study_id, range(0, 5))
    with db.read() as session:
        assert counts.total(session, study_id, None, is_settled=False) == 5
        assert counts.total(session, study_id, "complete", is_settled=False) == 5
    _add(db, study_id, range(5, 8))
    with db.read() as session:
        assert counts.total(session, study_id, None, is_settled=False) == 8  # live: never cached
        assert counts.total(session, study_id, None, is_settled=True) == 8  # settled: counted once ...
        _, total = queries.list_trials(session, study_id, None, "number", "asc", 2, 0, after=3, total=8)
        assert total == 8
    _add(db, study_id, range(8, 9))  # (a settled study gets no new trial; this shows the count is kept)
    with db.read() as session:
        assert counts.total(session, study_id, None, is_settled=True) == 8  # ... and read from memory
        assert counts.total(session, study_id, "failed", is_settled=True) == 0
    db.dispose()
