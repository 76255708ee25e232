"""The server decides where a study reads, writes and connects, and how much work it may ask for.

Through the API a client names datasets the operator registered (GDT_SEARCH_DATA_ROOTS), never paths;
the clip cache, the Ray cluster and Ray's storage are the server's; every field that multiplies work is
bounded, a study's total cost is estimated against the server's limits, and the device must be one the
workers offer. Each refusal is a 422 naming the field -- on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from api.settings import Settings, parse_data_roots
from api.submit import server_side, validate_submission
from tests.api.conftest import LiveServer, tiny_spec
from tests.api.test_validation import problems, spec_with


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return tmp_path_factory.mktemp("kinetics-small"), tmp_path_factory.mktemp("hmdb-small")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request, tmp_path_factory, folders):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('policy') / 'service.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    kinetics, hmdb = folders
    env = {
        "GDT_SEARCH_DATABASE_URL": url,
        "GDT_SEARCH_DATA_ROOTS": f"kinetics-small={kinetics},hmdb-small={hmdb}",
        "GDT_SEARCH_DEVICES": "cpu,cuda:0",
    }
    with LiveServer(Settings.from_env(env)) as server, server.client() as c:
        yield c


def folders_spec(**data) -> dict:
    return spec_with(data={"kind": "folders", **data})


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"pretrain_root": "/etc", "hmdb_root": "/etc"}, ["data.pretrain_root", "data.hmdb_root"]),
        ({"pretrain_root": "/root", "hmdb_root": "hmdb-small"}, ["data.pretrain_root"]),
        ({"pretrain_root": "kinetics-small", "hmdb_root": "../hmdb-small"}, ["data.hmdb_root"]),
        (
            {"pretrain_root": "kinetics-small", "proxy": "ucf101", "ucf_root": "/srv/ucf"},
            ["data.ucf_root"],
        ),
    ],
)
def test_data_roots_are_registered_names_never_paths(client, data, fields):
    found = problems(client.post("/studies", json=folders_spec(**data)))
    assert sorted(found) == sorted(fields), found
    for field in fields:
        assert "registered on this server, not a path" in found[field]
        assert "registered: hmdb-small, kinetics-small" in found[field]


def test_a_registered_name_is_accepted_and_kept_as_a_name(client, folders):
    response = client.post("/studies", json=folders_spec(pretrain_root="kinetics-small", hmdb_root="hmdb-small"))
    assert response.status_code == 201, response.text
    spec = client.get(response.headers["Location"]).json()["spec"]
    assert spec["data"]["pretrain_root"] == "kinetics-small" and spec["data"]["hmdb_root"] == "hmdb-small"
    assert str(folders[0]) not in response.text + str(spec)  # the server's paths are not shown to clients
    # The registered folder's own path is a path all the same.
    found = problems(client.post("/studies", json=folders_spec(pretrain_root=str(folders[0]), hmdb_root="hmdb-small")))
    assert list(found) == ["data.pretrain_root"], found


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"data.cache_root": "/tmp/x"}, "data.cache_root", "GDT_SEARCH_CACHE"),
        ({"ray.address": "127.0.0.1:1"}, "ray.address", "RAY_ADDRESS"),
        ({"ray.storage_path": "/tmp/y"}, "ray.storage_path", "GDT_SEARCH_RAY_STORAGE"),
    ],
)
def test_cache_and_ray_locations_are_the_servers(client, change, field, words):
    found = problems(client.post("/studies", json=spec_with(**change)))
    assert field in found, found
    assert words in found[field] and "leave it out" in found[field]


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("data.world.fps", 1e6, "at most 120"),
        ("data.world.sample_rate", 1e9, "at most 192000"),
        ("data.world.num_splits", 1e9, "at most 10"),
        ("evaluation.clips_per_video", 1e9, "at most 64"),
        ("evaluation.invariance_videos", 1e9, "at most 10000"),
        ("encoders.feature_dim", 1e9, "at most 8192"),
        ("encoders.width", 1e6, "at most 1024"),
        ("trial.num_workers", 10000, "at most 64"),
        ("search.threads", 1e6, "at most 1024"),
        ("search.max_retry", 1e9, "at most 100"),
        ("search.max_idle_proposals", 1e9, "at most 100000"),
        ("data.world.duration_s", -1, "more than 0"),
    ],
)
def test_every_field_that_multiplies_work_is_bounded(client, field, value, limit):
    found = problems(client.post("/studies", json=spec_with(**{field: value})))
    assert field in found, found
    assert limit in found[field], found[field]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (  # each value within its own limit (100000 videos, 1024 x 1024 pixels, 600 s); together, petabytes
            {"data.world": {"videos_per_class": 6250, "height": 1024, "width": 1024, "duration_s": 600}},
            "data.world",
            ["PiB", "GDT_SEARCH_MAX_DATA_BYTES", "videos_per_class", "height, width"],
        ),
        (
            {"clip_budget": 4096, "trial.steps": 1_000_000, "search.n_trials": 10_000},
            "trial.steps",
            ["clip_budget 4096 x trial.steps 1000000 x search.n_trials 10000", "GDT_SEARCH_MAX_TRAIN_CLIPS"],
        ),
        (  # 8.2e8 clips counted by the budget, under the 1e9 limit; the audio of a video-clip budget doubles it
            {"clip_budget": 4096, "clip_budget_counts": "video_clips", "trial.steps": 10_000, "search.n_trials": 20,
             "factors.MOD": {"choices": ["invariant", "off"]}},
            "trial.steps",
            ["clip_budget 4096 x 2 (video_clips: audio on top) x trial.steps 10000", "GDT_SEARCH_MAX_TRAIN_CLIPS"],
        ),
        (  # 6.4e7 clips with one seed; every trial trains once per seed
            {"clip_budget": 64, "trial.steps": 100_000, "search.n_trials": 10, "search.seeds": 20},
            "trial.steps",
            ["x search.n_trials 10 x search.seeds 20", "GDT_SEARCH_MAX_TRAIN_CLIPS"],
        ),
        (  # the search itself is small; calibrating 100 configurations against a 10^6-step reference is not
            {"trial.steps": 300, "search.n_trials": 10,
             "search.calibration": {"configurations": 100, "reference_steps": 2_000_000}},
            "trial.steps",
            ["+ calibration: search.calibration.configurations 100 x 2000400 steps", "GDT_SEARCH_MAX_TRAIN_CLIPS"],
        ),
        (
            {"evaluation.clips_per_video": 64, "trial.eval_every": 1, "trial.steps": 10_000, "search.n_trials": 100},
            "evaluation",
            ["evaluation.clips_per_video 64", "10001 evaluations per trial", "GDT_SEARCH_MAX_EVAL_CLIPS"],
        ),
    ],
)
def test_a_study_whose_total_cost_is_over_the_limits_is_refused(client, changes, field, words):
    found = problems(client.post("/studies", json=spec_with(**changes)))
    assert list(found) == [field], found
    for word in words:
        assert word in found[field], found[field]


def test_the_device_must_be_one_the_workers_offer(client):
    found = problems(client.post("/studies", json=spec_with(device="nonsense")))
    assert "expected 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps', got 'nonsense'" in found["device"], found
    found = problems(client.post("/studies", json=spec_with(device="cuda:99")))
    assert "'cuda:99' is not offered by this service's workers (offered: auto, cpu, cuda:0" in found["device"]
    response = client.post("/studies", json=spec_with(device="cuda:0"))  # GDT_SEARCH_DEVICES offers it
    assert response.status_code == 201, response.text


def test_cost_limits_are_the_servers_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'service.db'}"
    strict = Settings.from_env({"GDT_SEARCH_DATABASE_URL": url, "GDT_SEARCH_MAX_DATA_BYTES": "1000000"})
    with pytest.raises(ValueError, match="more than this server's limit of 977 KiB"):
        validate_submission(tiny_spec(), strict.limits, url, strict)
    loose = Settings.from_env({"GDT_SEARCH_DATABASE_URL": url})
    assert validate_submission(tiny_spec(), loose.limits, url, loose).name == "tiny"


def test_data_roots_setting_takes_json_or_name_equals_path(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert parse_data_roots(f'{{"kinetics": "{a}", "hmdb": "{b}"}}') == {"kinetics": str(a), "hmdb": str(b)}
    assert parse_data_roots(f"kinetics={a}, hmdb={b}") == {"kinetics": str(a), "hmdb": str(b)}
    assert parse_data_roots("") == {}
    for bad in ("kinetics", "../x=/data", '{"k": 3}', "{nope"):
        with pytest.raises(ValueError, match="GDT_SEARCH_DATA_ROOTS"):
            parse_data_roots(bad)
    settings = Settings.from_env({"GDT_SEARCH_DATA_ROOTS": f"kinetics={a}"})
    assert Settings.from_env(settings.environ()).data_roots == {"kinetics": str(a)}  # what a worker sees


def test_a_worker_runs_names_as_its_own_folders_and_its_own_locations(tmp_path):
    """Whatever a stored spec says about locations, the worker's settings decide them."""
    from search.spec import load_spec

    raw = tiny_spec() | {"ray": {"address": "127.0.0.1:1", "storage_path": "/tmp/y"}}
    raw["data"] = {"kind": "folders", "pretrain_root": "kinetics", "hmdb_root": "hmdb", "cache_root": "/tmp/x"}
    stored = load_spec(raw)  # e.g. a row written before this check existed
    env = {
        "GDT_SEARCH_DATA_ROOTS": f"kinetics={tmp_path / 'k'},hmdb={tmp_path / 'h'}",
        "GDT_SEARCH_CACHE": str(tmp_path / "cache"),
        "RAY_ADDRESS": "10.0.0.1:6379",
    }
    spec = server_side(stored, Settings.from_env(env))
    assert (spec.data.pretrain_root, spec.data.hmdb_root) == (str(tmp_path / "k"), str(tmp_path / "h"))
    assert spec.data.cache_root == str(tmp_path / "cache")
    assert (spec.ray.address, spec.ray.storage_path) == ("10.0.0.1:6379", None)
    with pytest.raises(ValueError, match="data.pretrain_root: dataset 'kinetics' is not registered"):
        server_side(stored, Settings.from_env({}))
