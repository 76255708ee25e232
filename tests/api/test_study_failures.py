"""A study that cannot run is a failed study with its own reason, at once -- not a crash retried 5 times.

Real worker and study processes on a real database: a missing data folder, a folder whose every file is
unusable, a device the worker does not have, and a study whose every trial failed.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from api.db import Database
from api.models import Event, Study
from tests.api.conftest import FAST, LiveServer, settings_for, tiny_spec, wait_for

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
        # A learning rate this large makes the loss non-finite: every trial fails, nothing is scored.
        "every trial failed": tiny_spec("diverges", n_trials=2, steps=3) | {"hyperparameters": {"lr": 1e30}},
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
