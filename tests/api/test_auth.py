"""Token authentication: mutations need the token once one is configured; reads too with PROTECT_READS."""

from __future__ import annotations

import pytest

from api.settings import Settings
from tests.api.conftest import LiveServer, tiny_spec

TOKEN = "s3cret-token"
READS = ["/studies", "/studies/1", "/studies/1/trials", "/studies/1/events", "/studies/1/export?format=csv"]


def server(url: str, **env: str) -> LiveServer:
    return LiveServer(Settings.from_env({"GDT_SEARCH_DATABASE_URL": url, **env}))


def test_mutations_without_the_token_are_refused(database_url):
    with server(database_url, GDT_SEARCH_API_TOKEN=TOKEN) as api:
        with api.client() as anonymous, api.client("wrong-token") as wrong, api.client(TOKEN) as owner:
            refused = anonymous.post("/studies", json=tiny_spec())
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert "needs the API token" in refused.json()["detail"]
            assert wrong.post("/studies", json=tiny_spec()).status_code == 401
            assert "wrong API token" in wrong.post("/studies", json=tiny_spec()).json()["detail"]
            basic = anonymous.post("/studies", json=tiny_spec(), headers={"Authorization": f"Basic {TOKEN}"})
            assert basic.status_code == 401
            assert anonymous.get("/studies").json()["total"] == 0  # nothing was created by the refused calls

            created = owner.post("/studies", json=tiny_spec())
            assert created.status_code == 201
            study_id = created.json()["id"]
            assert anonymous.post(f"/studies/{study_id}/cancel").status_code == 401
            assert wrong.post(f"/studies/{study_id}/cancel").status_code == 401
            assert anonymous.get(f"/studies/{study_id}").json()["status"] == "queued"
            assert owner.post(f"/studies/{study_id}/cancel").status_code == 202

            # The token is checked before the body: a bad spec without the token is 401, not 422.
            assert anonymous.post("/studies", content=b"{not json").status_code == 401
            for path in READS:  # reads stay open by default
                assert anonymous.get(path).status_code == 200, path


@pytest.mark.parametrize("flag", ["1", "true"])
def test_reads_can_be_protected_too(sqlite_url, flag):
    with server(sqlite_url, GDT_SEARCH_API_TOKEN=TOKEN, GDT_SEARCH_PROTECT_READS=flag) as api:
        with api.client() as anonymous, api.client(TOKEN) as owner:
            assert owner.post("/studies", json=tiny_spec()).status_code == 201
            for path in READS:
                assert anonymous.get(path).status_code == 401, path
                assert owner.get(path).status_code == 200, path
            for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):  # probes and docs stay open
                assert anonymous.get(path).status_code == 200, path


def test_without_a_token_configured_everything_is_open(sqlite_url):
    with server(sqlite_url) as api, api.client() as anonymous:
        assert anonymous.post("/studies", json=tiny_spec()).status_code == 201
        assert anonymous.post("/studies/1/cancel").status_code == 202


def test_a_malformed_setting_is_refused_naming_it():
    with pytest.raises(ValueError, match="GDT_SEARCH_PROTECT_READS"):
        Settings.from_env({"GDT_SEARCH_PROTECT_READS": "maybe"})
    with pytest.raises(ValueError, match="GDT_SEARCH_MAX_PAGE_SIZE: expected an integer"):
        Settings.from_env({"GDT_SEARCH_MAX_PAGE_SIZE": "lots"})
    with pytest.raises(ValueError, match="must exceed GDT_SEARCH_HEARTBEAT_S"):
        Settings.from_env({"GDT_SEARCH_HEARTBEAT_S": "10", "GDT_SEARCH_STALE_AFTER_S": "5"})
    # A limit of 0 or below would refuse every request (or, for K_m, accept nothing): a startup error instead.
    for name in ("GDT_SEARCH_MAX_K", "GDT_SEARCH_MAX_BODY_BYTES", "GDT_SEARCH_MAX_STUDY_SECONDS"):
        with pytest.raises(ValueError, match=f"{name}: Input should be greater than 0"):
            Settings.from_env({name: "-5"})
