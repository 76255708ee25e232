"""Replicates, per-factor effects and the best set through the service: `GET /studies/{id}/effects`, the study's
`best_set`, the trials' intervals, the exports, the Python client and `gdt-search run`'s report give the numbers of
search.effects / search.best (checked by hand in tests/search/test_effects.py) for the same study -- duplicates
never counted -- on SQLite and the real PostgreSQL. The study is recorded as a worker records it: trials in
Optuna's storage and in the service's tables of one database."""

from __future__ import annotations

import csv
import io
import math

import optuna
import pytest

from api.client import Client, Effects
from search.best import CHANCE_LABEL
from search.runner import report, summarize
from tests.api.conftest import tiny_spec
from tests.api.helpers import claim_for, record
from tests.search.test_effects import D_TS, SAMPLES, SETTINGS, T_975_DF2

DISTRIBUTIONS = {"temperature": optuna.distributions.FloatDistribution(0.01, 1.0)}


def _study(client, url: str, name: str) -> tuple[int, optuna.Study]:
    """tests/search/test_effects.SAMPLES as trained trials (2 seeds each), then a duplicate of trial 1."""
    study_id = client.post("/studies", json=tiny_spec(name, n_trials=20)).json()["id"]
    claimed, recorder = claim_for(url)
    study = optuna.create_study(study_name=claimed.optuna_name, storage=url, direction="maximize")
    for number, config, settings, params, values in SAMPLES:
        hyper = {"temperature": params["temperature"]}
        attrs = {"trained": True, "config": config, "settings": settings, "seed_values": values}
        attrs |= {"scores": {"n_classes": 4}}
        study.add_trial(
            optuna.trial.create_trial(
                params=hyper, distributions=DISTRIBUTIONS, value=sum(values) / 2, user_attrs=attrs
            )
        )
        record(
            recorder, number, "complete", params=params, config=config, settings=settings, seed_values=values,
            n_classes=4,
        )  # fmt: skip
    params = SAMPLES[1][3]
    study.add_trial(
        optuna.trial.create_trial(
            params={"temperature": 0.07},
            distributions=DISTRIBUTIONS,
            state=optuna.trial.TrialState.PRUNED,
            user_attrs={"config": D_TS, "settings": SETTINGS[D_TS], "duplicate_of": 1},
        )  # fmt: skip
    )
    record(recorder, 7, "duplicate", 0.51, params=params, config=D_TS, settings=SETTINGS[D_TS], duplicate_of=1)
    return study_id, study


def test_effects_endpoint_client_export_and_cli_agree(live, client, database_url):
    study_id, study = _study(client, database_url, "effects")

    body = client.get(f"/studies/{study_id}/effects").json()
    assert body["configurations"] == 7 and body["note"] is None  # the duplicate is no configuration of its own
    tr = next(e for e in body["effects"] if e["factor"] == "TR" and e["choice"] == "distinctive")
    half = T_975_DF2 * 0.1 / math.sqrt(3)  # pairs 0.1, 0.2, 0.3 (see tests/search/test_effects.py)
    assert tr["reference"] == "invariant" and tr["pairs"] == 3 and tr["min_seeds"] == tr["max_seeds"] == 2
    assert tr["mean"] == pytest.approx(0.2) and tr["low"] == pytest.approx(0.2 - half, abs=1e-6)
    assert tr["text"].endswith("paired over 3 configuration pairs x 2 seeds")

    with Client(live.url) as python_client:
        effects = python_client.effects(study_id)
        best = python_client.best_set(study_id)
    assert isinstance(effects, Effects) and [e.text for e in effects] == [e["text"] for e in body["effects"]]
    assert effects.frame().loc[0, "pairs"] == body["effects"][0]["pairs"]

    exported = client.get(f"/studies/{study_id}/export", params={"format": "json"}).json()
    assert exported["effects"] == {k: v for k, v in body.items() if k != "study_id"}
    assert exported["study"]["best_set"]["best"]["config"] == SAMPLES[6][1]
    cli = report(summarize(study))
    assert all(e["text"] in cli for e in body["effects"])  # gdt-search run prints the same lines

    # The best: #6 (0.90, sd 0) beats everything; the seeds tell it apart from every other configuration.
    assert best["best"]["config"] == SAMPLES[6][1] and best["best"]["trials"] == [6] and best["best"]["n"] == 2
    assert best["chance"] == pytest.approx(0.25) and best["note"] is None
    assert f"{CHANCE_LABEL}: 0.250" in cli and "indistinguishable from the best" in cli


def test_each_trial_shows_its_seeds_and_interval(live, client, database_url):
    study_id, _ = _study(client, database_url, "intervals")
    trial = client.get(f"/studies/{study_id}/trials/1").json()
    half = 12.706205 * math.sqrt(2 * 0.01**2) / math.sqrt(2)  # seeds 0.50, 0.52: sd 0.01414, t(0.975, 1)
    assert trial["seed_values"] == [0.5, 0.52] and trial["n_seeds"] == 2 and trial["score"] == pytest.approx(0.51)
    assert trial["ci_low"] == pytest.approx(0.51 - half, abs=1e-6) and trial["ci_high"] == pytest.approx(0.51 + half)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/studies/{study_id}/export", params={"format": "csv"}).text)))
    assert rows[1]["n_seeds"] == "2" and float(rows[1]["ci_low"]) == pytest.approx(0.51 - half, abs=1e-6)
    assert rows[7]["state"] == "duplicate" and rows[7]["n_seeds"] == "" and rows[7]["seed_values"] == ""

    table = client.get(f"/dashboard/data/studies/{study_id}/table1").json()
    assert table["hyper"] == ["temperature"]
    d_ts = [r for r in table["rows"] if r["config"] == D_TS]  # one row per (configuration, temperature)
    assert sorted(r["hyper"]["temperature"] for r in d_ts) == [0.07, 0.2]
    row = next(r for r in d_ts if r["hyper"]["temperature"] == 0.07)
    assert row["n_seeds"] == 2 and row["duplicates"] == 1 and row["ci_low"] == pytest.approx(0.51 - half, abs=1e-6)
    assert row["interval"].endswith(", 2 seeds") and not row["in_best_set"]
    assert [r["in_best_set"] for r in table["rows"]].count(True) == 1


def test_one_seed_has_no_interval_and_no_best_set(live, client, database_url):
    study_id = client.post("/studies", json=tiny_spec("single", n_trials=4)).json()["id"]
    _, recorder = claim_for(database_url)
    record(recorder, 0, "complete", 0.4, config=SAMPLES[0][1], settings=SAMPLES[0][2], params={"TR": "invariant"})
    record(recorder, 1, "complete", 0.5, config=SAMPLES[1][1], settings=SAMPLES[1][2], params={"TR": "distinctive"})
    trial = client.get(f"/studies/{study_id}/trials/0").json()
    assert trial["n_seeds"] == 1 and trial["ci_low"] is None and trial["interval"] == "0.400 (1 seed, no interval)"
    best = client.get(f"/studies/{study_id}").json()["best_set"]
    assert (
        best["best"]["trials"] == [1] and best["indistinguishable"] == [] and "no set can be computed" in best["note"]
    )
    effects = client.get(f"/studies/{study_id}/effects").json()["effects"]
    assert effects[0]["mean"] is None and "fewer than 2 matched pairs" in effects[0]["note"]
    assert client.get("/studies/999999/effects").status_code == 404


def test_seeds_out_of_range_is_a_422_naming_the_field(client):
    for bad in (0, 21):
        response = client.post("/studies", json=tiny_spec("bad-seeds", seeds=bad))
        assert response.status_code == 422
        assert any("seeds" in [str(p) for p in d["loc"]] for d in response.json()["detail"]), response.json()
