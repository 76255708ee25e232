"""A study that cannot run is a failed study with its own reason, at once -- not a crash retried 5 times.

Real worker and study processes on a real database: a missing data folder, a folder whose every file is
unusable, a device the worker does not have, and a study whose every trial failed.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from api.db import Database
from api.models import Event, Study
from tests.api.conftest import FAST, LiveServer, Processes, settings_for, tiny_spec, wait_for

STUDY_TIMEOUT = 300  # seconds for four small studies on a busy 2-core machine


def _junk_folder(root: Path) -> Path:
    """Files with a video's name and none of a video's content: each is skipped, so nothing is left."""
    root.mkdir()
    (root / "truncated.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    (root / "text.avi").write_text("not a video\n")
    return root


def test_studies_that_cannot_run_fail_at_once_with_their_reason(sqlite_url, processes, tmp_path):
    gone, junk = tmp_path / "gone", _junk_folder(tmp_path / "junk")
    settings = settings_for(
        sqlite_url, data_roots={"gone": str(gone), "junk": str(junk)}, devices=("cpu", "cuda:7"), **FAST
    )
    folders = {"kind": "folders", "hmdb_root": "gone"}
    specs = {
        "missing folder": tiny_spec("missing") | {"data": folders | {"pretrain_root": "gone"}},
        "every file skipped": tiny_spec("junk") | {"data": folders | {"pretrain_root": "junk"}},
        "absent device": tiny_spec("device") | {"device": "cuda:7"},
        # The largest learning rate and weight decay a spec allows together: AdamW's decoupled decay multiplies the
        # weights by 1 - lr * wd = -999 a step, the loss turns non-finite by step 4: every trial fails, none scored.
        "every trial failed": tiny_spec("diverges", n_trials=2, steps=12)
        | {"hyperparameters": {"lr": 10, "weight_decay": 100}},
    }
    with LiveServer(settings) as server, server.client() as client:
        ids = {}
        for what, spec in specs.items():
            response = client.post("/studies", json=spec)
            assert response.status_code == 201, (what, response.text)
            ids[what] = response.json()["id"]
        processes.worker(settings, "w-fail-1")  # two workers: the four studies fail two at a time
        processes.worker(settings, "w-fail-2")

        def finished():
            bodies = {what: client.get(f"/studies/{i}").json() for what, i in ids.items()}
            done = all(b["status"] in ("completed", "failed", "cancelled") for b in bodies.values())
            return bodies if done else None

        bodies = wait_for(finished, STUDY_TIMEOUT, "the four studies to end", on_timeout=processes.logs)
    expected = {
        "missing folder": f"video folder {gone} does not exist",
        "every file skipped": f"every file under {junk} was skipped (2 of 2): text.avi: ",
        "absent device": "device 'cuda:7' is not available: this worker",
        "every trial failed": "every trial failed (2 of 2",
    }
    db = Database(sqlite_url)
    for what, body in bodies.items():
        assert body["status"] == "failed", (what, body["status"], body["error"], processes.logs())
        assert expected[what] in body["error"], (what, body["error"])
        with db.read() as session:
            attempts = session.scalar(select(Study.attempts).where(Study.id == ids[what]))
            events = session.execute(select(Event.kind, Event.message).where(Event.study_id == ids[what])).all()
        assert attempts == 1, (what, attempts)  # failed at once: never requeued
        assert ("failed", body["error"]) in [tuple(e) for e in events], (what, events)
        assert not [e for e in events if e.kind == "requeued"], (what, events)
    assert "truncated.mp4: " in bodies["every file skipped"]["error"]  # each skipped file, with its reason
    assert "non-finite" in bodies["every trial failed"]["error"]
    db.dispose()


def test_a_crashing_study_keeps_its_cause_through_every_retry(sqlite_url, tmp_path):
    """An exception the study process did not expect is a crash, retried (it may be transient: a database or
    a device gone for a moment) -- but its own text is what every requeue and the final error say, not just
    "the study process died". Here the worker's clip cache cannot be made: its folder is a file."""
    cache = tmp_path / "cache"
    cache.write_text("a file where the clip caches' folder belongs\n")
    settings = settings_for(sqlite_url, max_attempts=2, **FAST)
    processes = Processes(tmp_path, cache)
    try:
        with LiveServer(settings) as server, server.client() as client:
            response = client.post("/studies", json=tiny_spec("crashes"))
            assert response.status_code == 201, response.text
            study_id = response.json()["id"]
            processes.worker(settings, "w-crash")

            def ended():
                body = client.get(f"/studies/{study_id}").json()
                return body if body["status"] in ("completed", "failed", "cancelled") else None

            body = wait_for(ended, STUDY_TIMEOUT, "the crashing study to end", on_timeout=processes.logs)
    finally:
        processes.close()
    cause = "FileExistsError: [Errno 17] File exists"
    assert body["status"] == "failed", (body, processes.logs())
    assert body["error"].startswith("gave up after 2 attempts; last: the study process died (exit code 1): ")
    assert cause in body["error"] and str(cache) in body["error"], body["error"]
    db = Database(sqlite_url)
    with db.read() as session:
        attempts = session.scalar(select(Study.attempts).where(Study.id == study_id))
        events = session.execute(select(Event.kind, Event.message).where(Event.study_id == study_id)).all()
    db.dispose()
    assert attempts == 2
    requeued = [message for kind, message in events if kind == "requeued"]
    assert len(requeued) == 1 and cause in requeued[0], events  # the first attempt's cause, kept in its event
    assert ("failed", body["error"]) in [tuple(e) for e in events]
