"""The OpenAPI document says what the server does: auth per mode, every method of a path, factor names."""

from __future__ import annotations

import httpx
import pytest

from api.settings import Settings
from tests.api.conftest import LiveServer


@pytest.mark.parametrize("protect_reads", [False, True])
def test_the_schema_asks_for_the_token_exactly_where_the_server_does(tmp_path, protect_reads):
    url = f"sqlite:///{tmp_path / 'service.db'}"
    settings = Settings(database_url=url, api_token="t0k", protect_reads=protect_reads)
    with LiveServer(settings) as server:
        schema = httpx.get(f"{server.url}/openapi.json").json()
        read, write = schema["paths"]["/studies"]["get"], schema["paths"]["/studies"]["post"]
        anonymous_read = httpx.get(f"{server.url}/studies")
        anonymous_write = httpx.post(f"{server.url}/studies", json={"factors": {"TR": {"choices": ["invariant"]}}})
    assert write["security"] == [{"HTTPBearer": []}] and "401" in write["responses"]
    assert anonymous_write.status_code == 401
    if protect_reads:
        assert read["security"] == [{"HTTPBearer": []}] and "401" in read["responses"]
        assert anonymous_read.status_code == 401
    else:
        assert read["security"] == [] and "401" not in read["responses"]
        assert anonymous_read.status_code == 200
    assert "GDT_SEARCH_PROTECT_READS=1" in read["description"]  # both modes are documented


def test_a_405_lists_every_method_of_the_path_and_factor_names_are_in_the_schema(tmp_path):
    with LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'service.db'}")) as server:
        options = httpx.options(f"{server.url}/studies")
        delete = httpx.delete(f"{server.url}/studies/1")
        schema = httpx.get(f"{server.url}/openapi.json").json()
        empty_key = httpx.post(f"{server.url}/studies", json={"factors": {"": {"choices": ["invariant"]}}})
    assert options.status_code == 405 and options.headers["allow"] == "GET, POST"
    assert delete.status_code == 405 and delete.headers["allow"] == "GET"
    names = schema["components"]["schemas"]["StudySpec"]["properties"]["factors"]["propertyNames"]["enum"]
    assert names == ["TS", "MOD", "TR", "SP", "AUG"] and "" not in names
    assert empty_key.status_code == 422 and empty_key.json()["detail"][0]["loc"] == ["body", "factors", ""]
