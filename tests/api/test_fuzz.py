"""Schema-driven fuzzing (schemathesis) over the app's own OpenAPI document, with every check schemathesis
has (`--checks all`): no 5xx, and the server does exactly what its schema says -- valid input accepted,
invalid input refused, responses, status codes, headers and content types as documented, auth where
(and only where) the schema asks for it, 405 with a complete `Allow` header for other methods.

The live API runs with a token (the fuzzer sends it, so mutations get past auth and into validation) on
SQLite and on PostgreSQL, reads open (the default) on one and protected on the other, so both auth modes
are checked against the schema each documents. Valid and invalid inputs are both generated (positive and
negative modes), including NUL bytes and huge numbers.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, positive_data_acceptance

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
        "GDT_SEARCH_PROTECT_READS": "1" if request.param == "postgresql" else "0",
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
def test_the_server_does_what_its_schema_says(case):
    excluded = []
    if case.operation.method.upper() == "POST" and case.operation.path == "/studies":
        # Only here, and only positive_data_acceptance ("a schema-valid body is accepted"): a study spec has rules
        # across fields that JSON Schema cannot state -- the GDT validity lemmas (a space with no valid
        # configuration is refused), the study's estimated cost against the server's limits (values each within
        # their bounds multiply), the choices allowed per factor -- and one that depends on the server's state (a
        # data root must name a dataset registered in GDT_SEARCH_DATA_ROOTS; the schema gives the names' pattern).
        # A schema-valid spec may get its documented 422 naming the field for those reasons. Everything a single
        # field's schema can say is in the schema: the server-decided fields are absent from it, and every other
        # check (negative data rejection among them) runs here too.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(checks=CHECKS.get_all(), excluded_checks=excluded)
