"""Schema-driven fuzzing (schemathesis) over the app's own OpenAPI document: no request gets a 5xx.

The live API runs with a token (the fuzzer sends it, so mutations get past auth and into validation) on
SQLite and on PostgreSQL. Valid and invalid inputs are both generated (positive and negative modes),
including NUL bytes and huge numbers; the one property checked is that the server never fails.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.settings import Settings
from tests.api.conftest import LiveServer

TOKEN = "fuzz-token"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed_api(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'service.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    env = {
        "GDT_SEARCH_DATABASE_URL": url,
        "GDT_SEARCH_API_TOKEN": TOKEN,
        "GDT_SEARCH_MAX_SPACE_CHECK_SECONDS": "0.2",  # keep POST /studies cheap on huge generated spaces
    }
    with LiveServer(Settings.from_env(env)) as server:
        yield server


@pytest.fixture
def fuzz_schema(fuzzed_api):
    schema = schemathesis.openapi.from_url(f"{fuzzed_api.url}/openapi.json")
    schema.config.update(base_url=fuzzed_api.url, headers={"Authorization": f"Bearer {TOKEN}"})
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=15, allow_x00=True
    )
    return schema


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
