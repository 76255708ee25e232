"""One importance: `GET /studies/{id}/importance`, the dashboard's panel, the Python client and `gdt-search run`'s
report give the same numbers for the same study -- on its trained configurations only, with their sd over the
forest seeds -- and below the minimum each says "not enough trained configurations (n of m)". The study is
recorded the way a worker records it: trials in Optuna's storage and in the service's tables of one database
(SQLite and the real PostgreSQL)."""

from __future__ import annotations

import optuna
import pytest

from api.client import Client
from core.gdt.config import GDTConfig
from search.importance import MIN_TRAINED
from search.runner import report, summarize
from tests.api.conftest import tiny_spec
from tests.api.helpers import claim_for, record

CONFIG = {  # recorded as the objective records them: notation and settings record (tests/api/helpers.record)
    tr: GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": tr}) for tr in ("invariant", "distinctive", "off")
}
DISTRIBUTIONS = {
    "TR": optuna.distributions.CategoricalDistribution(["invariant", "distinctive", "off"]),
    "lr": optuna.distributions.FloatDistribution(0.01, 0.2),
}


def _study(client, url: str, name: str, n_trained: int) -> tuple[int, optuna.Study]:
    """`n_trained` trained configurations (TR decides the score, lr hardly matters), then two duplicates and an
    infeasible proposal, in Optuna's storage as the objective leaves them and in the service's tables."""
    study_id = client.post("/studies", json=tiny_spec(name, n_trials=20)).json()["id"]
    claimed, recorder = claim_for(url)
    study = optuna.create_study(study_name=claimed.optuna_name, storage=url, direction="maximize")
    for i in range(n_trained):
        tr = ("invariant", "distinctive", "off")[i % 3]
        params = {"TR": tr, "lr": 0.01 + 0.015 * i}
        score = {"invariant": 0.6, "distinctive": 0.3, "off": 0.1}[tr] + 0.002 * (i % 4)
        trial = optuna.trial.create_trial(
            params=params, distributions=DISTRIBUTIONS, value=score, user_attrs={"trained": True}
        )
        study.add_trial(trial)
        record(recorder, i, "complete", score, params=params, config=CONFIG[tr])
    for original in (0, 1):  # reused their original's result: PRUNED without a value in Optuna
        number, params = n_trained + original, {"TR": ("invariant", "distinctive")[original], "lr": 0.2}
        attrs = {"trained": False, "duplicate_of": original}
        trial = optuna.trial.create_trial(
            params=params, distributions=DISTRIBUTIONS, state=optuna.trial.TrialState.PRUNED, user_attrs=attrs
        )
        study.add_trial(trial)
        score = study.trials[original].value
        config = CONFIG[params["TR"]]
        record(recorder, number, "duplicate", score, params=params, config=config, duplicate_of=original)
    infeasible = {"TR": "distinctive", "lr": 0.15}
    study.add_trial(
        optuna.trial.create_trial(
            params=infeasible, distributions=DISTRIBUTIONS, state=optuna.trial.TrialState.FAIL,
            user_attrs={"infeasible": "no positives", "failure_kind": "infeasible"},
        )
    )  # fmt: skip
    record(recorder, n_trained + 2, "infeasible", None, params=infeasible, config=CONFIG["distinctive"])
    return study_id, study


def _surfaces(live, client, study_id: int, study: optuna.Study) -> dict[str, dict]:
    api = client.get(f"/studies/{study_id}/importance").json()
    dashboard = client.get(f"/dashboard/data/studies/{study_id}/importance").json()
    with Client(live.url) as python_client:
        result = python_client.importance(study_id)
    from_client = {k: getattr(result, k) for k in ("importances", "sd", "trained", "trials", "minimum", "note")}
    cli = summarize(study).importance
    from_cli = {k: getattr(cli, k) for k in ("importances", "sd", "trained", "trials", "minimum", "note")}
    return {"api": api, "dashboard": dashboard, "client": from_client, "cli": from_cli}


def test_api_dashboard_client_and_cli_give_the_same_importances(live, client, database_url):
    study_id, study = _study(client, database_url, "agree", n_trained=10)
    surfaces = _surfaces(live, client, study_id, study)
    api = surfaces["api"]
    assert set(api["importances"]) == {"TR", "lr"} and api["note"] is None
    assert api["importances"]["TR"] > api["importances"]["lr"]
    assert api["trained"] == 10 and api["trials"] == 13 and api["minimum"] == MIN_TRAINED  # no duplicate counted
    # The uncertainty: an sd over the forest seeds for every parameter.
    assert set(api["sd"]) == set(api["importances"]) and all(v >= 0 for v in api["sd"].values())
    for name, surface in surfaces.items():
        for key in ("importances", "sd", "trained", "trials", "minimum", "note"):
            assert surface[key] == api[key], (name, key)
    text = report(summarize(study))
    for name, mean in api["importances"].items():
        assert f"{name} {mean:.2f} ± {api['sd'][name]:.2f}" in text
    assert "on 10 trained configurations" in text


def test_below_the_minimum_every_surface_says_not_enough_trained_configurations(live, client, database_url):
    study_id, study = _study(client, database_url, "too-few", n_trained=3)
    expected = f"not enough trained configurations (3 of {MIN_TRAINED})"
    for name, surface in _surfaces(live, client, study_id, study).items():
        assert surface["importances"] == {} and surface["note"].startswith(expected), name
        assert surface["trained"] == 3 and surface["minimum"] == MIN_TRAINED, name
    assert expected in report(summarize(study))
    fresh = client.post("/studies", json=tiny_spec("nothing-yet")).json()["id"]
    assert client.get(f"/studies/{fresh}/importance").json()["note"].startswith(
        f"not enough trained configurations (0 of {MIN_TRAINED})"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_client_keeps_the_note_and_gives_a_frame(live, client, database_url):
    study_id, _ = _study(client, database_url, "frame", n_trained=9)
    with Client(live.url) as python_client:
        result = python_client.importance(study_id)
    frame = result.frame()
    assert list(frame.columns) == ["mean", "sd"] and list(frame.index) == list(result.importances)
    assert frame.loc["TR", "mean"] == result["TR"] and frame.attrs["trained"] == 9
