"""Progress (issue 13, items 4 and 7): the budget counts trained configurations, duplicates and infeasible
proposals beside it; a running trial shows how far its training is, in GET /studies/{id}, its trials, and
`Client.wait(progress=True)`, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from api.client import Client
from api.db import Database
from api.queue import finish
from search.recorder import TrialProgress
from tests.api.conftest import tiny_spec
from tests.api.helpers import WORKER, claim_for, record


def test_a_running_trial_shows_its_progress_and_the_budget_counts_trained_configurations(
    live, client, database_url, capsys
):
    study_id = client.post("/studies", json=tiny_spec("progress", n_trials=10)).json()["id"]
    _, recorder = claim_for(database_url)
    record(recorder, 0, "complete", 0.4)
    record(recorder, 1, "duplicate", 0.4, duplicate_of=0)
    record(recorder, 2, "infeasible", None, reason="no positives")
    record(recorder, 3, finish=False)  # running
    recorder.trial_progress(
        TrialProgress("study", "3", 3, "DS=d(4)", step=120, total=300, loss=4.25, score=0.25, score_step=100)
    )

    trials = client.get(f"/studies/{study_id}/trials", params={"sort": "number"}).json()["items"]
    assert [t["progress"] for t in trials[:3]] == [None, None, None]
    shown = trials[3]["progress"]
    assert (shown["step"], shown["total"], shown["seed"], shown["seeds"]) == (120, 300, 1, 1)
    assert shown["fraction"] == pytest.approx(0.4) and shown["loss"] == pytest.approx(4.25)
    assert shown["text"] == "step 120/300 (40 %)  loss 4.2500  score 0.2500 at step 100" and shown["at"]
    assert client.get(f"/studies/{study_id}/trials/3").json()["progress"]["step"] == 120

    progress = client.get(f"/studies/{study_id}").json()["progress"]
    assert (progress["trained"], progress["duplicates"], progress["infeasible"]) == (1, 1, 1)
    assert progress["text"] == "trained 1 of 10 (1 duplicate, 1 infeasible skipped)"  # not "4 / 10 trials"
    assert [(r["number"], r["progress"]["step"]) for r in progress["running"]] == [(3, 120)]

    # Client.wait(progress=True) prints the running trial's progress, then each finished trial and the tally.
    with Client(live.url) as python_client:
        waiting = threading.Thread(
            target=python_client.wait, args=(study_id,), kwargs={"poll_s": 0.1, "progress": True}
        )
        waiting.start()
        _wait_printed(capsys, "step 120/300 (40 %)")
        record(recorder, 3, "complete", 0.5)  # finished: no progress any more ...
        recorder.trial_progress(TrialProgress("study", "3", 3, "DS=d(4)", step=300, total=300))  # ... a late one
        db = Database(database_url)
        finish(db, study_id, WORKER, "completed", "done")
        db.dispose()
        waiting.join(timeout=30)
    captured = capsys.readouterr()
    out = captured.out
    assert "trial   3 complete" in out and "trained 2 of 10 (1 duplicate, 1 infeasible skipped)" in out
    assert "2/10" in captured.err.split("\r")[-1]  # the tqdm bar: trained configurations of the budget
    assert client.get(f"/studies/{study_id}/trials/3").json()["progress"] is None
    assert client.get(f"/studies/{study_id}").json()["progress"]["running"] == []


def _wait_printed(capsys, text: str, timeout: float = 30.0) -> None:
    import time

    printed = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        printed += capsys.readouterr().out
        if text in printed:
            print(printed, end="")  # keep it for the final read
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never printed; got {printed!r}")


def test_a_trial_stopped_from_outside_is_interrupted_and_not_trained(live, client, database_url):
    """A cancelled study's running trial (or a dead worker's) is `interrupted`: no measurement, not a trained
    configuration, so the study does not read "trained 2 of 2" for one configuration trained; a trial that failed
    itself (a non-finite loss) is `failed` and did train."""
    from api import queue

    study_id = client.post("/studies", json=tiny_spec("interrupted", n_trials=2)).json()["id"]
    _, recorder = claim_for(database_url)
    record(recorder, 0, "complete", 0.4)
    record(recorder, 1, "failed", None, reason="training failed at step 3: non-finite loss (nan)")
    record(recorder, 2, finish=False)  # running when the study is cancelled
    db = Database(database_url)
    with db.write() as session:
        assert queue.fail_running_trials(session, study_id, "cancelled") == [2]
    db.dispose()
    trial = client.get(f"/studies/{study_id}/trials/2").json()
    assert trial["state"] == "interrupted" and trial["reason"] == "cancelled"
    progress = client.get(f"/studies/{study_id}").json()["progress"]
    assert progress["trained"] == 2 and progress["counts"]["interrupted"] == 1  # #0 and #1, not #2
    listed = client.get(f"/studies/{study_id}/trials", params={"state": "interrupted"}).json()
    assert [t["number"] for t in listed["items"]] == [2]


def test_a_finished_trial_is_never_overwritten_by_a_second_report(live, client, database_url):
    """A backend that reports a trial again (a restored Ray experiment) leaves the recorded measurement alone; an
    interrupted trial, which measured nothing, is recorded when it does finish."""
    from api import queue

    study_id = client.post("/studies", json=tiny_spec("reported-twice", n_trials=4)).json()["id"]
    _, recorder = claim_for(database_url)
    record(recorder, 0, "complete", 0.4)
    record(recorder, 0, "failed", None, reason="the same trial, reported again")
    trial = client.get(f"/studies/{study_id}/trials/0").json()
    assert trial["state"] == "complete" and trial["score"] == 0.4 and trial["reason"] is None
    record(recorder, 1, finish=False)
    db = Database(database_url)
    with db.write() as session:
        queue.fail_running_trials(session, study_id, "the study ended (requeued) during this trial")
    db.dispose()
    record(recorder, 1, "complete", 0.5)  # resumed under the same number and finished
    assert client.get(f"/studies/{study_id}/trials/1").json()["state"] == "complete"
