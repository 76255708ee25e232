"""Bad requests get a 4xx whose message names the field -- never a 500, on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy

import pytest

from api.settings import Settings
from tests.api.conftest import LiveServer, tiny_spec


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request, tmp_path_factory):
    """One live API per database for the whole module: validation does not depend on what is stored."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('validation') / 'service.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with LiveServer(Settings.from_env({"GDT_SEARCH_DATABASE_URL": url})) as server, server.client() as c:
        yield c


def spec_with(**changes) -> dict:
    """tiny_spec() with dotted-path changes, e.g. spec_with(**{"search.n_trials": 5})."""
    spec = copy.deepcopy(tiny_spec())
    for dotted, value in changes.items():
        node = spec
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return spec


def problems(response) -> dict[str, str]:
    """{dotted loc without "body": message} of a 422."""
    assert response.status_code == 422, response.text
    return {".".join(str(p) for p in item["loc"][1:]): item["msg"] for item in response.json()["detail"]}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (spec_with(clip_budget="many"), "clip_budget", "expected a number of clips"),
        (spec_with(**{"trial.steps": "ten"}), "trial.steps", "integer"),
        (spec_with(**{"search.sampler": "annealing"}), "search.sampler", "'tpe'"),
        (spec_with(**{"trial.stepz": 3}), "trial.stepz", "unknown field (allowed: steps"),
        (spec_with(colour="blue"), "colour", "unknown field"),
        (spec_with(factors={"XY": {"choices": ["invariant"]}}), "factors.XY", "unknown factor"),
        (spec_with(factors={"TR": {"choices": ["sideways"]}}), "factors.TR.choices.0", "'invariant'"),
        (spec_with(factors={"TR": {"choices": ["distinctive"]}}), "factors", "no valid GDT configuration"),
        (
            spec_with(factors={"TR": {"choices": ["distinctive", "ignore"]}, "TS": {"choices": ["distinctive"]}}),
            "factors",
            "no positives",
        ),
        (spec_with(factors={"TS": {"choices": ["invariant"], "k": [2, 10**12]}}), "factors.TS.k", "at most 64"),
        (spec_with(**{"search.n_trials": 10**9}), "search.n_trials", "at most 10000 trials"),
        (spec_with(**{"search.n_trials": None}), "search.n_trials", "needs a budget"),
        (spec_with(**{"search.timeout_s": 1e12}), "search.timeout_s", "at most"),
        (spec_with(**{"search.workers": 1000}), "search.workers", "at most 64"),
        (spec_with(**{"trial.steps": 10**8}), "trial.steps", "at most 1000000 steps"),
        (spec_with(clip_budget=8192), "clip_budget", "at most 4096 clips"),  # this server's limit
        (spec_with(clip_budget=10**6), "clip_budget", "must be 2 .. 65536 clips"),  # any machine's
        (spec_with(name="a" * 250), "name", "at most 200 characters"),  # the column holds 200: was a 500
        (spec_with(**{"data.world.classes": []}), "data.world.classes", "at least 2 classes"),
        (spec_with(**{"search.heartbeat_s": 60, "search.grace_s": 1}), "search.grace_s", "more than"),
        (spec_with(hyperparameters={"lr": 1e308}), "hyperparameters.lr", "must lie in"),
        (spec_with(**{"data.world.videos_per_class": 10**7}), "data.world.videos_per_class", "at most 100000"),
        (spec_with(**{"encoders.video": "giant"}), "encoders.video", "unknown video encoder"),
        (spec_with(storage="sqlite:////tmp/elsewhere.db"), "storage", "its own database"),
        (
            spec_with(hyperparameters={"lr": {"low": 0.001, "high": 1.0, "step": 1e-12}}),
            "hyperparameters.lr",
            "at most 20000 values",
        ),
        (spec_with(name="bad name!"), "name", "pattern"),
        (spec_with(name="x" + "\x00" + "y"), "name", "pattern"),
    ],
)
def test_bad_specs_name_the_field(client, body, field, words):
    found = problems(client.post("/studies", json=body))
    assert field in found, found
    assert words in found[field], found[field]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "invalid JSON at line 1, column 2"),
        (b"", "empty body"),
        (b"[1, 2]", "JSON object of fields, got list"),
        (b'"tiny"', "got str"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"name": "x", "clip_budget": 1e400}', "out of range for a double"),
        (b'{"name": "x", "clip_budget": NaN}', "NaN is not valid JSON"),
        (b'{"name": "x", "clip_budget": ' + b"9" * 5000 + b"}", "out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b'{"name": "x", "factors": {}, "factors": {}}', "key 'factors' is given twice"),  # not silently the last
    ],
)
def test_malformed_bodies_are_422_on_the_body(client, content, words):
    response = client.post("/studies", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body"] and words in problem["msg"], problem


def test_a_body_over_the_limit_is_413(client):
    body = b'{"name": "' + b"x" * (300 * 1024) + b'"}'
    response = client.post("/studies", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "at most 262144" in response.json()["detail"]


def test_every_problem_is_reported_at_once(client):
    body = spec_with(**{"trial.stepz": 1, "search.sampler": "annealing", "evaluation.clips_per_video": "one"})
    assert {"trial.stepz", "search.sampler", "evaluation.clips_per_video"} <= set(
        problems(client.post("/studies", json=body))
    )


def test_limits_are_configurable(database_url):
    settings = Settings.from_env(
        {"GDT_SEARCH_DATABASE_URL": database_url, "GDT_SEARCH_MAX_N_TRIALS": "5", "GDT_SEARCH_MAX_PAGE_SIZE": "10"}
    )
    with LiveServer(settings) as server, server.client() as c:
        found = problems(c.post("/studies", json=spec_with(**{"search.n_trials": 6})))
        assert found["search.n_trials"] == "at most 5 trials per study, got 6"
        assert c.post("/studies", json=spec_with(**{"search.n_trials": 5})).status_code == 201
        assert "less than or equal to 10" in c.get("/studies", params={"limit": 11}).json()["detail"][0]["msg"]
        assert c.get("/studies", params={"limit": 10}).status_code == 200


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/studies/0", "study_id"),
        ("/studies/abc", "study_id"),
        ("/studies/99999999999999999999", "study_id"),
        ("/studies?limit=100000", "limit"),
        ("/studies?limit=0", "limit"),
        ("/studies?offset=-1", "offset"),
        ("/studies?offset=99999999999999999999", "offset"),
        ("/studies?status=sleeping", "status"),
        ("/studies/1/trials?sort=colour", "sort"),
        ("/studies/1/trials?order=sideways", "order"),
        ("/studies/1/trials?state=asleep", "state"),
        ("/studies/1/trials/-1", "number"),
        ("/studies/1/export?format=xml", "format"),
        ("/studies?stauts=queued", "stauts"),  # misspelt: it used to list every study, silently
        ("/studies/1/trials?sort=score&ordr=desc", "ordr"),
        ("/dashboard/data/studies/1/table1?descending=1&sortby=best", "sortby"),
    ],
)
def test_bad_query_and_path_values_are_422_naming_the_field(client, path, field):
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert field in [problem["loc"][-1] for problem in response.json()["detail"]]


def test_an_unknown_query_parameter_says_which_are_allowed(client):
    (problem,) = client.get("/studies", params={"stauts": "queued"}).json()["detail"]
    assert problem["loc"] == ["query", "stauts"]
    assert problem["msg"] == "unknown query parameter (allowed: limit, offset, status)"
