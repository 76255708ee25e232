"""The OpenAPI document says what the server does: auth per mode, every method of a path, factor names."""

from __future__ import annotations

import re

import httpx
import pytest

from api.settings import DATASET_NAME, Settings
from api.submit import DATA_ROOT_FIELDS, SERVER_DECIDED, ApiStudySpec
from search.spec import StudySpec, load_spec
from tests.api.conftest import LiveServer, tiny_spec


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


def test_the_study_body_schema_leaves_out_what_the_server_decides_and_takes_data_roots_as_names(tmp_path):
    """POST /studies publishes the spec the server takes: no cache_root, Ray address or Ray storage (the server
    refuses them), and data roots as names of registered datasets, not paths."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'service.db'}", data_roots={"kinetics": str(tmp_path)})
    with LiveServer(settings) as server:
        schema = httpx.get(f"{server.url}/openapi.json").json()
        refused = {
            field: httpx.post(f"{server.url}/studies", json={**tiny_spec(), section: {name: "/tmp/x"}})
            for field, (section, name) in {
                "data.cache_root": ("data", "cache_root"),
                "ray.address": ("ray", "address"),
                "ray.storage_path": ("ray", "storage_path"),
            }.items()
        }
        a_path = httpx.post(f"{server.url}/studies", json={**tiny_spec(), "data": {"pretrain_root": str(tmp_path)}})
    components = schema["components"]["schemas"]
    body = schema["paths"]["/studies"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    spec = components[body["$ref"].rsplit("/", 1)[-1]]
    data = components[spec["properties"]["data"]["$ref"].rsplit("/", 1)[-1]]
    ray = components[spec["properties"]["ray"]["$ref"].rsplit("/", 1)[-1]]
    assert "cache_root" not in data["properties"] and data["additionalProperties"] is False
    assert "address" not in ray["properties"] and "storage_path" not in ray["properties"]
    assert ray["additionalProperties"] is False
    for root in DATA_ROOT_FIELDS:
        field = data["properties"][root]
        name = next(option for option in field["anyOf"] if option.get("type") == "string")
        assert name["pattern"] == DATASET_NAME.pattern and not re.match(name["pattern"], "/data/kinetics")
        assert "GDT_SEARCH_DATA_ROOTS" in field["description"] and "not a path" in field["description"]
    for field, response in refused.items():  # sent anyway: a 422 naming the field and why
        assert response.status_code == 422, response.text
        problems = {".".join(map(str, p["loc"][1:])): p["msg"] for p in response.json()["detail"]}
        assert "decided by the server; leave it out" in problems[field]
    assert a_path.status_code == 422 and "kinetics" in a_path.json()["detail"][0]["msg"]


def test_the_study_body_schema_is_the_spec_less_the_server_decided_fields():
    """Derived from the same section models: any field the spec gains appears in the API's schema too."""
    published, full = ApiStudySpec.model_json_schema(), StudySpec.model_json_schema()
    assert published["properties"].keys() == full["properties"].keys()
    for section in ("data", "ray"):
        ours = published["$defs"][f"{section.capitalize()}Section"]["properties"].keys()
        theirs = full["$defs"][f"{section.capitalize()}Section"]["properties"].keys()
        assert set(theirs) - set(ours) == {name for (s, name) in SERVER_DECIDED if s == section}
    assert published["properties"]["search"] == full["properties"]["search"]
    # The CLI's spec (`gdt-search run FILE.yaml`) still takes paths and the server-decided fields.
    spec = load_spec({**tiny_spec(), "data": {"pretrain_root": "/data/k", "cache_root": "/c"}, "ray": {"address": "a"}})
    assert (spec.data.pretrain_root, spec.data.cache_root, spec.ray.address) == ("/data/k", "/c", "a")


def test_each_server_states_and_enforces_its_own_page_size(tmp_path):
    """The routers are built once and shared by every app (`api.deps.page_size` reads the app's settings per
    request): two servers in one process each document and enforce their own bounds and default for `limit`,
    and a page size over the bound is FastAPI's own 422 (`less_than_equal`, the raw input, `ctx.le`)."""
    listings = ("/studies", "/studies/{study_id}/trials", "/studies/{study_id}/events")
    small = {"GDT_SEARCH_MAX_PAGE_SIZE": "10", "GDT_SEARCH_DEFAULT_PAGE_SIZE": "7"}
    for name, env, most, default in [("wide", {}, 500, 50), ("small", small, 10, 7)]:
        env = {"GDT_SEARCH_DATABASE_URL": f"sqlite:///{tmp_path / name}.db", **env}
        with LiveServer(Settings.from_env(env)) as server, server.client() as c:
            schema = c.get("/openapi.json").json()
            study_id = c.post("/studies", json=tiny_spec()).json()["id"]
            for path in listings:
                (limit,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "limit"]
                described = f"items per page (at most {most})"
                assert limit["in"] == "query" and limit["required"] is False and limit["description"] == described
                assert limit["schema"] == {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": most,
                    "default": default,
                    "description": described,
                    "title": "Limit",
                }
                url = path.format(study_id=study_id)
                assert c.get(url).json()["limit"] == default
                assert c.get(url, params={"limit": most}).json()["limit"] == most
                over = c.get(url, params={"limit": most + 1})
                assert over.status_code == 422 and over.json() == {
                    "detail": [
                        {
                            "type": "less_than_equal",
                            "loc": ["query", "limit"],
                            "msg": f"Input should be less than or equal to {most}",
                            "input": str(most + 1),
                            "ctx": {"le": most},
                        }
                    ]
                }
            assert "x-page-size" not in c.get("/openapi.json").text
