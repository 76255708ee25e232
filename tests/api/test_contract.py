"""Contract tests: httpx against the live API (uvicorn on loopback), on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from api import queue
from api.db import Database, head_revision
from api.models import FINISHED_STUDY
from tests.api.conftest import LiveServer, settings_for, tiny_spec
from tests.api.helpers import claim_for, record


def test_create_then_read_a_study(client):
    response = client.post("/studies", json=tiny_spec("first", n_trials=3))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "queued" and created["name"] == "first"
    assert response.headers["location"] == f"/studies/{created['id']}" == created["url"]

    study = client.get(created["url"]).json()
    assert study["id"] == created["id"]
    assert study["status"] == "queued" and study["backend"] == "optuna"
    assert study["spec"]["factors"]["TR"]["choices"] == ["invariant", "distinctive", "off"]
    assert study["spec"]["trial"]["steps"] == 2  # defaults are filled in, given values kept
    assert study["spec"]["trial"]["optimizer"] == "adamw"
    assert study["progress"] == {
        "n_trials": 3, "timeout_s": None, "total": 0, "counts": {}, "trained": 0, "duplicates": 0, "infeasible": 0,
        "text": "trained 0 of 3 (0 duplicates, 0 infeasible skipped)", "running": [],
    }  # fmt: skip
    assert study["best"] is None and study["error"] is None
    assert study["optuna_name"].startswith("first-")


def test_listing_pages_and_filters_studies(client):
    ids = [client.post("/studies", json=tiny_spec(f"s{i}")).json()["id"] for i in range(3)]
    assert client.post(f"/studies/{ids[0]}/cancel").status_code == 202

    everything = client.get("/studies").json()
    assert everything["total"] == 3 and [s["id"] for s in everything["items"]] == ids[::-1]  # newest first
    page = client.get("/studies", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and page["limit"] == 1 and page["offset"] == 1
    assert [s["id"] for s in page["items"]] == [ids[1]]
    queued = client.get("/studies", params={"status": "queued"}).json()
    assert {s["id"] for s in queued["items"]} == set(ids[1:]) and queued["total"] == 2
    cancelled = client.get("/studies", params={"status": "cancelled"}).json()
    assert [s["id"] for s in cancelled["items"]] == [ids[0]]
    assert client.get("/studies", params={"status": "completed"}).json()["total"] == 0


def test_trials_are_listed_with_everything_recorded(live, client):
    study_id = client.post("/studies", json=tiny_spec("recorded", n_trials=5)).json()["id"]
    _, recorder = claim_for(live.settings.database_url)
    record(recorder, 0, "complete", 0.25, steps=(1, 2))
    record(recorder, 1, "complete", 0.75, steps=(1, 2))
    record(recorder, 2, "failed", reason="training failed at step 1: loss is non-finite")
    record(recorder, 3, "pruned", 0.1, steps=(1,), reason="pruned by MedianPruner at step 1")
    record(recorder, 4, "infeasible", reason="no positives: TR=distinctive")
    record(recorder, 5, "duplicate", 0.25)
    record(recorder, 6, "complete", 0.5, steps=(1,), finish=False)  # still running

    page = client.get(f"/studies/{study_id}/trials").json()
    assert page["total"] == 7 and [t["number"] for t in page["items"]] == list(range(7))
    by_number = {t["number"]: t for t in page["items"]}
    best = by_number[1]
    assert best["state"] == "complete" and best["score"] == 0.75 and best["values"] == [0.75]
    assert best["scores"]["r_at_1"] == 0.75 and best["invariance"] == {"TR": 0.9, "TS": -0.1}
    assert best["duration_s"] == pytest.approx(2.5)
    assert [(i["step"], i["value"]) for i in best["intermediate"]] == [(1, 0.375), (2, 0.75)]
    assert by_number[2]["state"] == "failed" and "non-finite" in by_number[2]["reason"]
    assert by_number[3]["state"] == "pruned" and by_number[3]["intermediate"][0]["step"] == 1
    assert by_number[4]["state"] == "infeasible" and "no positives" in by_number[4]["reason"]
    assert by_number[5]["duplicate_of"] == 0
    assert by_number[6]["state"] == "running" and by_number[6]["finished_at"] is None

    ranked = client.get(f"/studies/{study_id}/trials", params={"sort": "score", "order": "desc", "limit": 3}).json()
    # unscored last, in trial order: the duplicate (#5) reused #0's 0.25 but is no measurement of its own
    assert [t["number"] for t in ranked["items"]] == [1, 0, 2]
    assert by_number[5]["score"] is None and by_number[5]["values"] is None and by_number[5]["reused_values"] == [0.25]
    failed = client.get(f"/studies/{study_id}/trials", params={"state": "failed"}).json()
    assert failed["total"] == 1 and failed["items"][0]["number"] == 2
    second_page = client.get(f"/studies/{study_id}/trials", params={"limit": 2, "offset": 2}).json()
    assert [t["number"] for t in second_page["items"]] == [2, 3] and second_page["total"] == 7

    keyset = client.get(f"/studies/{study_id}/trials", params={"after": 2, "limit": 2}).json()
    assert [t["number"] for t in keyset["items"]] == [3, 4] and keyset["total"] == 7
    backwards = client.get(f"/studies/{study_id}/trials", params={"after": 3, "order": "desc", "limit": 2}).json()
    assert [t["number"] for t in backwards["items"]] == [2, 1]
    for sort in ("score", "duration", "started_at", "finished_at"):  # keyset pages on every sort, NULLs last
        for order in ("asc", "desc"):
            params = {"sort": sort, "order": order}
            everything = [t["number"] for t in client.get(f"/studies/{study_id}/trials", params=params).json()["items"]]
            paged, after = [], None
            while True:
                page = client.get(
                    f"/studies/{study_id}/trials", params={**params, "limit": 2, **({"after": after} if paged else {})}
                ).json()["items"]
                if not page:
                    break
                paged += [t["number"] for t in page]
                after = paged[-1]
            assert paged == everything, (sort, order)
    unknown = client.get(f"/studies/{study_id}/trials", params={"after": -1, "sort": "finished_at"})
    assert unknown.status_code == 404 and "has no trial -1" in unknown.json()["detail"]

    detail = client.get(f"/studies/{study_id}/trials/1").json()
    assert detail["replay"]["seed"] == 0 and detail["equivalence_key"] == "key1"
    study = client.get(f"/studies/{study_id}").json()
    assert study["status"] == "running" and study["best"]["number"] == 1
    assert study["progress"]["total"] == 7
    assert study["progress"]["counts"] == {
        "complete": 2, "duplicate": 1, "failed": 1, "infeasible": 1, "pruned": 1, "running": 1,
    }  # fmt: skip

    # the listing's best is the best trial's score with what it rests on, never a bare number
    listed = next(s for s in client.get("/studies").json()["items"] if s["id"] == study_id)
    assert listed["best_score"] == 0.75 and listed["best_interval"] == "0.750 (1 seed, no interval)"
    record(recorder, 7, "complete", seed_values=[0.8, 0.9])
    listed = next(s for s in client.get("/studies").json()["items"] if s["id"] == study_id)
    assert listed["best_interval"].startswith("0.850 [") and listed["best_interval"].endswith("], 2 seeds")


def test_exports_carry_every_trial(live, client):
    study_id = client.post("/studies", json=tiny_spec("exported")).json()["id"]
    _, recorder = claim_for(live.settings.database_url)
    record(recorder, 0, "complete", 0.25, steps=(1, 2), params={"TR": "invariant", "TS": "off"})
    record(recorder, 1, "failed", reason="decode error, with a comma")

    response = client.get(f"/studies/{study_id}/export", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["number"] for r in rows] == ["0", "1"]
    assert rows[0]["param.TS"] == "off" and rows[0]["score.r_at_1"] == "0.25" and rows[0]["invariance.TR"] == "0.9"
    assert rows[0]["intermediate"] == "[[1, 0.125], [2, 0.25]]"
    assert rows[1]["state"] == "failed" and rows[1]["reason"] == "decode error, with a comma"

    exported = client.get(f"/studies/{study_id}/export", params={"format": "json"}).json()
    assert exported["study"]["id"] == study_id
    assert [t["number"] for t in exported["trials"]] == [0, 1] and exported["trials"][0]["replay"]["seed"] == 0


def test_cancel_a_queued_study_and_refuse_a_finished_one(live, client):
    first = client.post("/studies", json=tiny_spec("a")).json()["id"]
    response = client.post(f"/studies/{first}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    again = client.post(f"/studies/{first}/cancel")  # nothing left to stop: as for any finished study
    assert again.status_code == 409 and again.json()["detail"] == f"study {first} has already finished (cancelled)"

    second = client.post("/studies", json=tiny_spec("b")).json()["id"]
    claimed, _ = claim_for(live.settings.database_url)
    assert claimed.id == second  # the cancelled study is never claimed
    db = Database(live.settings.database_url)
    assert queue.finish(db, second, "test-host:1:recorder", "completed", "done")
    db.dispose()
    refused = client.post(f"/studies/{second}/cancel")
    assert refused.status_code == 409 and "already finished (completed)" in refused.json()["detail"]


@pytest.mark.parametrize("status", FINISHED_STUDY)
def test_cancelling_a_finished_study_is_409_naming_its_status_and_changes_nothing(live, client, status):
    study_id = client.post("/studies", json=tiny_spec(f"ended-{status}")).json()["id"]
    claimed, _ = claim_for(live.settings.database_url)
    db = Database(live.settings.database_url)
    assert queue.finish(db, claimed.id, "test-host:1:recorder", status, f"ended ({status})")
    db.dispose()
    before = client.get(f"/studies/{study_id}").json()
    events = client.get(f"/studies/{study_id}/events").json()["items"]
    refused = client.post(f"/studies/{study_id}/cancel")
    assert refused.status_code == 409, refused.text
    assert refused.json() == {"detail": f"study {study_id} has already finished ({status})"}
    assert client.get(f"/studies/{study_id}").json() == before  # cancel_requested, finished_at kept
    assert client.get(f"/studies/{study_id}/events").json()["items"] == events


def test_unknown_ids_are_404_with_a_message(client):
    assert client.get("/studies/4242").json() == {"detail": "study 4242 not found"}
    assert client.get("/studies/4242").status_code == 404
    for path in ("/studies/4242/trials", "/studies/4242/trials/0", "/studies/4242/importance", "/studies/4242/export"):
        assert client.get(path).status_code == 404, path
    assert client.post("/studies/4242/cancel").status_code == 404
    study_id = client.post("/studies", json=tiny_spec()).json()["id"]
    missing = client.get(f"/studies/{study_id}/trials/7")
    assert missing.status_code == 404 and missing.json()["detail"] == f"study {study_id} has no trial 7"


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": None, "revision": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["revision"] == head_revision() == "0009"


def test_not_ready_until_migrated(sqlite_url):
    with LiveServer(settings_for(sqlite_url, migrate_on_start=False)) as server, server.client() as c:
        assert c.get("/healthz").status_code == 200
        response = c.get("/readyz")
        assert response.status_code == 503 and "migration None" in response.json()["detail"]


def test_openapi_documents_every_endpoint_and_the_spec(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/studies",
        "/studies/{study_id}",
        "/studies/{study_id}/trials",
        "/studies/{study_id}/trials/{number}",
        "/studies/{study_id}/cancel",
        "/studies/{study_id}/importance",
        "/studies/{study_id}/export",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    body = paths["/studies"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/StudySpec"}
    assert "factors" in schema["components"]["schemas"]["StudySpec"]["properties"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_events_tell_what_happened(live, client):
    study_id = client.post("/studies", json=tiny_spec("events")).json()["id"]
    claim_for(live.settings.database_url)
    client.post(f"/studies/{study_id}/cancel")
    events = client.get(f"/studies/{study_id}/events").json()
    assert [e["kind"] for e in events["items"]] == ["created", "claimed", "study_started", "cancel_requested"]
    assert events["items"][1]["worker_id"] == "test-host:1:recorder"


def test_a_database_that_is_down_is_503_not_500():
    settings = settings_for("postgresql://gdt:gdt@127.0.0.1:1/nowhere", migrate_on_start=False, reaper_in_api=False)
    with LiveServer(settings) as server, server.client() as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "database unreachable" in ready.json()["detail"]
        down = c.get("/studies")
        assert down.status_code == 503 and down.json()["detail"] == "the database is unavailable; try again"
        assert c.post("/studies", json=tiny_spec()).status_code == 503
