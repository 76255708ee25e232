"""A study's calibration and pruning line, as the worker records them, in GET /studies/{id} and its events,
on SQLite and the real PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import tiny_spec
from tests.api.helpers import claim_for, small_calibration


def test_the_calibration_and_where_the_pruner_acts_are_shown_with_the_study(live, client, database_url):
    study_id = client.post("/studies", json=tiny_spec("calibrated")).json()["id"]
    assert client.get(f"/studies/{study_id}").json()["calibration"] is None  # none measured yet
    calibration = small_calibration()
    _, recorder = claim_for(database_url)
    recorder.calibration_measured("calibrated", calibration, "pruner 'median' acts at steps 1 (calibrated)")

    shown = client.get(f"/studies/{study_id}").json()
    assert shown["calibration"] == calibration and shown["calibration"]["recommended_steps"] == 2
    assert shown["pruning"] == "pruner 'median' acts at steps 1 (calibrated)"
    events = {e["kind"]: e["message"] for e in client.get(f"/studies/{study_id}/events").json()["items"]}
    assert "Shortest budget that ranks like the reference (tau >= 0.6, p < 0.05): 2 steps." in events["calibration"]
    assert events["pruning"] == shown["pruning"]
