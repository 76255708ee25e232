"""Skipped and truncated media are reported through the study, not only in a cache file on the worker.

A real worker runs a study on real folders (the world exported as AVI files in HMDB-51's layout, and a
pretraining folder with the damage real folders have: a file cut off half-way, a text file named like a
video, a directory named like one, a broken symbolic link). The report reaches `GET /studies/{id}`, the
study's events, the JSON export, the dashboard's data, and `gdt-search run`'s output.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from core.data.world import WorldConfig
from core.data.world_export import export_hmdb
from tests.api.conftest import FAST, REPO, WORLD, LiveServer, settings_for, tiny_spec, wait_for

STUDY_TIMEOUT = 300
DAMAGE = {
    "skipped": [("dir.mp4", "a directory, not a video file"), ("gone.mp4", "broken symbolic link"),
                ("notes.avi", "corrupt or unreadable")],
    "truncated": [("cut.avi", "truncated: ")],
}  # fmt: skip


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    config = dataclasses.replace(WorldConfig(**{**WORLD, "classes": tuple(WORLD["classes"])}), seed=5)
    hmdb = export_hmdb(config, root / "hmdb", container="avi", show_progress=False)
    pretrain = root / "pretrain"
    pretrain.mkdir()
    for video in sorted((hmdb / "hmdb51_org").glob("*/*.avi")):
        shutil.copy(video, pretrain / video.name)
    whole = (pretrain / sorted(os.listdir(pretrain))[0]).read_bytes()
    (pretrain / "cut.avi").write_bytes(whole[: len(whole) // 2])
    (pretrain / "notes.avi").write_text("not a video\n")
    (pretrain / "dir.mp4").mkdir()
    (pretrain / "gone.mp4").symlink_to(root / "deleted.mp4")
    return root, pretrain, hmdb


def _check(report: dict, videos: int) -> None:
    pretrain = report["pretrain"]
    for kind, expected in DAMAGE.items():
        found = [(f["path"], f["reason"]) for f in pretrain[kind]]
        assert [(path, reason[: len(start)]) for (path, reason), (_, start) in zip(found, expected, strict=True)] == (
            expected
        ), pretrain
    assert pretrain["videos"] == videos + 1  # the truncated file is kept
    assert report["proxy"] == {"videos": videos, "skipped": [], "truncated": []}


def test_skipped_and_truncated_media_are_reported_through_the_study(sqlite_url, processes, folders):
    root, pretrain, hmdb = folders
    videos = len(list((hmdb / "hmdb51_org").glob("*/*.avi")))
    settings = settings_for(sqlite_url, data_roots={"damaged": str(pretrain), "tiny-hmdb": str(hmdb)}, **FAST)
    spec = tiny_spec("damaged-media", n_trials=1) | {
        "data": {"kind": "folders", "pretrain_root": "damaged", "hmdb_root": "tiny-hmdb"}
    }
    with LiveServer(settings) as server, server.client() as client:
        response = client.post("/studies", json=spec)
        assert response.status_code == 201, response.text
        url = response.headers["Location"]
        processes.worker(settings, "w-media")

        def finished():
            body = client.get(url).json()
            return body if body["status"] in ("completed", "failed") else None

        body = wait_for(finished, STUDY_TIMEOUT, "the study to end", on_timeout=processes.logs)
        assert body["status"] == "completed", (body["error"], processes.logs())
        _check(body["data_report"], videos)
        assert str(root) not in str(body["data_report"])  # paths relative to the dataset: no server layout
        events = client.get(f"{url}/events", params={"limit": 100}).json()["items"]
        data = [e["message"] for e in events if e["kind"] == "data"]
        assert len(data) == 1, events
        assert data[0].startswith(f"pretrain data: {videos + 1} videos used, 3 files skipped, 1 truncated files kept")
        assert "\n  cut.avi: truncated: " in data[0] and "\n  gone.mp4: broken symbolic link" in data[0]
        exported = client.get(f"{url}/export", params={"format": "json"}).json()
        assert exported["study"]["data_report"] == body["data_report"]
        overview = client.get(f"/dashboard/data{url}/overview").json()
        assert overview["study"]["data_report"] == body["data_report"]


def test_gdt_search_run_prints_skipped_and_truncated_media(tmp_path, folders, clip_cache):
    _, pretrain, hmdb = folders
    raw = tiny_spec("cli-media", n_trials=1) | {
        "data": {"kind": "folders", "pretrain_root": str(pretrain), "hmdb_root": str(hmdb)},
        "storage": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "GDT_SEARCH_CACHE": str(clip_cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "api.cli", "run", str(path), "--quiet"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=STUDY_TIMEOUT)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("pretrain data: "))
    assert lines[start].endswith("3 files skipped, 1 truncated files kept")
    printed = [line.strip().split(": ")[0] for line in lines[start + 1 : start + 5]]
    assert printed == ["dir.mp4", "gone.mp4", "notes.avi", "cut.avi"]
