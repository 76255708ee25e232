"""The dashboard's aggregates over HTTP, on SQLite and the real PostgreSQL: what each panel is sent is
right for a hand-made study, stays bounded for a 10,000-trial one, and follows the study as it changes."""

from __future__ import annotations

import itertools
import json

import pytest

from benchmarks.synthetic_study import populate
from core.gdt.config import GDTConfig
from search.space import SearchSpace
from search.spec import load_spec
from tests.api.conftest import LiveServer, settings_for, tiny_spec
from tests.api.helpers import claim_for, record

# Recorded as the objective records them: notation and settings record (tests/api/helpers.record).
A = GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "invariant"})  # DS=d(8) TS=i(2) MOD=i(2) TR=i(2) ...
B = GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "distinctive"})
# an infeasible candidate (all distinctive: no positives): its searched factors only, 'TS=d(4) TR=d(2) budget=64'
(C,) = SearchSpace(
    load_spec({"factors": {"TS": {"choices": ["distinctive"], "k": 4}, "TR": {"choices": ["distinctive"]}}})
).enumerate()


def _recorded_study(client, url: str) -> tuple[int, object]:
    """Six trials over three configurations: A twice (0.4, 0.6) and pruned once, B once (0.7), C infeasible."""
    study_id = client.post("/studies", json=tiny_spec("hand-made", n_trials=10)).json()["id"]
    _, recorder = claim_for(url)
    trials = [
        (0, A, "complete", 0.4, {"TR": "invariant"}, {"TR": 0.9, "TS": 0.8}),
        (1, B, "complete", 0.7, {"TR": "distinctive"}, {"TR": 0.2, "TS": 0.7}),
        (2, A, "complete", 0.6, {"TR": "invariant"}, {"TR": 0.95, "TS": 0.6}),
        (3, A, "pruned", None, {"TR": "invariant"}, None),
        (4, C, "infeasible", None, {"TR": "distinctive", "TS": "distinctive"}, None),
    ]
    for number, config, state, score, params, invariance in trials:
        steps = (5, 10) if state != "infeasible" else ()
        reason = "pruned at step 10" if state == "pruned" else None
        record(recorder, number, state, score, steps, reason, params, config=config, invariance=invariance)
    return study_id, recorder


def test_table1_has_one_row_per_configuration_with_mean_scores(live, client, database_url):
    study_id, _ = _recorded_study(client, database_url)
    page = client.get(f"/dashboard/data/studies/{study_id}/table1").json()
    assert page["total"] == 3 and page["factors"] == ["DS", "TS", "MOD", "TR", "SP", "AUG"]
    b, a, c = page["rows"]
    assert (b["config"], a["config"], c["config"]) == (B.describe(), A.describe(), C.describe())  # unscored last
    assert c["config"] == "TS=d(4) TR=d(2) budget=64" and not C.feasible
    assert b["score"] == pytest.approx(0.7) and b["std"] is None and b["n"] == 1
    # A trained twice with the same (one) seed: one measurement, the mean of its two trainings, no interval
    assert a["score"] == pytest.approx(0.5) and a["n_seeds"] == 1 and a["std"] is None
    assert a["best"] == pytest.approx(0.6) and a["states"] == {"complete": 2, "pruned": 1} and a["n"] == 3
    assert a["metrics"]["r_at_1"] == pytest.approx(0.5) and a["metrics"]["r_at_5"] == pytest.approx(1.0)
    assert a["factors"]["TR"] == {"choice": "i", "k": 2} and b["factors"]["TR"] == {"choice": "d", "k": 2}
    assert a["factors"]["SP"] == {"choice": "off", "k": 1} and c["factors"]["TS"] == {"choice": "d", "k": 4}
    assert c["score"] is None and c["states"] == {"infeasible": 1}
    # the table's cells come from the settings each trial recorded, which the API lists beside the notation
    listed = {t["number"]: t for t in client.get(f"/studies/{study_id}/trials").json()["items"]}
    assert listed[0]["settings"] == A.settings_record() and listed[1]["settings"] == B.settings_record()
    infeasible = {"TS": {"choice": "distinctive", "k": 4}, "TR": {"choice": "distinctive", "k": 2}}  # no DS
    assert listed[4]["settings"] == C.settings_record() == infeasible

    by_trials = client.get(f"/dashboard/data/studies/{study_id}/table1", params={"sort": "n"}).json()
    assert by_trials["rows"][0]["config"] == A.describe()
    second = client.get(f"/dashboard/data/studies/{study_id}/table1", params={"limit": 1, "offset": 1}).json()
    assert [r["config"] for r in second["rows"]] == [A.describe()] and second["total"] == 3
    ascending = client.get(f"/dashboard/data/studies/{study_id}/table1", params={"descending": "false"}).json()
    assert [r["config"] for r in ascending["rows"]] == [A.describe(), B.describe(), C.describe()]


def test_bad_queries_get_422_naming_the_parameter_and_unknown_studies_404(live, client):
    study_id = client.post("/studies", json=tiny_spec()).json()["id"]
    response = client.get(f"/dashboard/data/studies/{study_id}/table1", params={"sort": "DROP TABLE"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "sort"]
    response = client.get(f"/dashboard/data/studies/{study_id}/parallel", params={"limit": 10**6})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "limit"]
    assert client.get("/dashboard/data/studies/999/overview").json() == {"detail": "study 999 not found"}


def test_overview_panels_follow_the_recorded_trials(live, client, database_url):
    study_id, recorder = _recorded_study(client, database_url)
    overview = client.get(f"/dashboard/data/studies/{study_id}/overview").json()
    assert overview["changed"] and overview["counts"] == {"complete": 3, "infeasible": 1, "pruned": 1}
    history = overview["history"]
    assert history["points"]["number"] == [0, 1, 2] and history["points"]["score"] == pytest.approx([0.4, 0.7, 0.6])
    assert history["best"] == {"number": [0, 1], "score": pytest.approx([0.4, 0.7])}
    effects = {e["factor"]: {c["choice"]: c for c in e["choices"]} for e in overview["factor_effects"]}
    assert set(effects["TR"]) == {"i", "d"} and effects["TR"]["i"]["n"] == 2
    assert effects["TR"]["i"]["median"] == pytest.approx(0.5) and effects["TR"]["d"]["max"] == pytest.approx(0.7)
    invariance = {e["factor"]: {c["choice"]: c for c in e["choices"]} for e in overview["invariance"]}
    assert invariance["TR"]["i"]["mean"] == pytest.approx(0.925) and invariance["TR"]["d"]["mean"] == pytest.approx(0.2)
    curves = overview["curves"]
    assert curves["steps"] == [5, 10] and curves["total"] == 4  # three completed and the pruned trial reported
    assert {c["state"] for c in curves["curves"]} == {"complete", "pruned"}
    assert overview["pareto"] is None  # single objective

    # Polling: unchanged -> no panels; a new trial -> changed, and it is counted.
    stamp = overview["fingerprint"]
    unchanged = client.get(f"/dashboard/data/studies/{study_id}/overview", params={"since": stamp}).json()
    assert unchanged["changed"] is False and "history" not in unchanged
    record(recorder, 5, "complete", 0.9, params={"TR": "distinctive"}, config=B)
    again = client.get(f"/dashboard/data/studies/{study_id}/overview", params={"since": stamp}).json()
    assert again["changed"] and again["counts"]["complete"] == 4 and again["history"]["best"]["score"][-1] == 0.9
    assert again["study"]["best"]["number"] == 5


def test_a_study_whose_only_trial_is_still_running_is_drawn(live, client, database_url):
    study_id = client.post("/studies", json=tiny_spec("just-started")).json()["id"]
    _, recorder = claim_for(database_url)
    record(recorder, 0, steps=(5,), finish=False)  # reported an intermediate score, no final score yet
    base = f"/dashboard/data/studies/{study_id}"
    overview = client.get(f"{base}/overview").json()
    assert overview["counts"] == {"running": 1} and overview["history"]["total"] == 0
    assert overview["curves"]["steps"] == [5] and overview["curves"]["total"] == 1
    assert client.get(f"{base}/table1").json()["rows"][0]["states"] == {"running": 1}
    assert client.get(f"{base}/parallel").json()["shown"] == 0
    assert client.get(f"{base}/importance").json()["note"].startswith("not enough trained configurations (0 of 8)")
    assert client.get(f"{base}/overview").status_code == 200


def test_pareto_front_is_the_non_dominated_trials(live, client, database_url):
    study_id = client.post("/studies", json=tiny_spec("two-objectives", n_trials=20)).json()["id"]
    _, recorder = claim_for(database_url)
    points = [(0.5, 10.0), (0.6, 12.0), (0.55, 13.0), (0.7, 20.0), (0.4, 8.0), (0.65, 25.0), (0.7, 19.0)]
    for number, (score, cost) in enumerate(points):
        record(recorder, number, "complete", score, cost=cost, config=A if number % 2 else B)
    pareto = client.get(f"/dashboard/data/studies/{study_id}/overview").json()["pareto"]
    dominated = {
        i for i, j in itertools.permutations(range(len(points)), 2)
        if points[j][0] >= points[i][0] and points[j][1] <= points[i][1] and points[j] != points[i]
    }  # fmt: skip
    expected = sorted(set(range(len(points))) - dominated, key=lambda i: points[i][1])
    assert pareto["front"]["number"] == expected == [4, 0, 1, 6]
    assert sorted(pareto["others"]["number"]) == sorted(dominated) and pareto["total"] == len(points)


def test_reads_need_the_token_when_protected_but_the_pages_carry_no_data(sqlite_url):
    settings = settings_for(sqlite_url, api_token="s3cret", protect_reads=True)
    with LiveServer(settings) as server, server.client() as anonymous, server.client("s3cret") as owner:
        study_id = owner.post("/studies", json=tiny_spec()).json()["id"]
        assert anonymous.get(f"/dashboard/data/studies/{study_id}/overview").status_code == 401
        assert owner.get(f"/dashboard/data/studies/{study_id}/overview").status_code == 200
        page = anonymous.get(f"/dashboard/studies/{study_id}")
        assert page.status_code == 200 and "tiny" not in page.text  # the name comes only through the API


def test_assets_are_served_by_the_api_and_reference_nothing_external(sqlite_url):
    with LiveServer(settings_for(sqlite_url)) as server, server.client() as client:
        texts = []
        names = ("common.js", "study.js", "studies.js", "plots.js", "charts.js", "parallel.js")
        assets = [f"/dashboard/assets/{name}" for name in names]
        for path in ["/dashboard", "/dashboard/studies/1", "/dashboard/assets/dashboard.css", *assets]:
            response = client.get(path)
            assert response.status_code == 200, path
            texts.append(response.text)
        assert not any("http://" in t or "https://" in t or "//cdn" in t for t in texts)
        # The plots are SVG drawn by the page's own scripts: no plotting library is served or loaded.
        assert not any("plotly" in t.lower() for t in texts[:2])
        assert client.get("/dashboard/vendor/plotly.min.js").status_code == 404


@pytest.fixture(scope="module")
def big_study(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'service.db'}"
    return url, populate(url, 10_000)


def test_every_response_stays_small_for_a_10000_trial_study(big_study):
    url, study_id = big_study
    with LiveServer(settings_for(url, reaper_in_api=False)) as server, server.client() as client:
        base = f"/dashboard/data/studies/{study_id}"
        sizes = {}
        overview = client.get(f"{base}/overview")
        sizes["overview"] = len(overview.content)
        overview = overview.json()
        assert overview["study"]["progress"]["total"] == 10_000
        assert "points" not in overview["history"] and len(overview["history"]["bins"]["number"]) == 500
        assert sum(overview["history"]["bins"]["size"]) == overview["history"]["total"]
        assert len(overview["pareto"]["others"]["number"]) == 1000 and overview["pareto"]["total"] > 1000
        assert len(overview["curves"]["curves"]) <= 40
        parallel = client.get(f"{base}/parallel")
        sizes["parallel"] = len(parallel.content)
        parallel = parallel.json()
        # Completed trials only: the synthetic study's duplicates (about a third of it) are no measurements.
        assert parallel["shown"] == 400 and parallel["sampled"] and parallel["total"] > 3000
        assert all(len(d["values"]) == 400 for d in parallel["dimensions"])
        scores = parallel["dimensions"][-1]["values"]
        assert sorted(scores, reverse=True)[:200] == scores[:200]  # the best 200 are there, then a sample
        table = client.get(f"{base}/table1")
        sizes["table1"] = len(table.content)
        table = table.json()
        assert len(table["rows"]) == 50 and table["total"] < 10_000
        scored = [r["score"] for r in table["rows"]]
        assert scored == sorted(scored, reverse=True)
        importance = client.get(f"{base}/importance").json()
        assert "sample of 1000" in importance["note"] and importance["importances"]
        assert max(importance["importances"], key=importance["importances"].get) == "TR"  # the model's big effect
        assert max(sizes.values()) < 250_000, json.dumps(sizes)
