"""The Python client's spec files: a syntax error names the file and line, a value JSON cannot carry names its field,
and nothing reaches the service; against a live API."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
import yaml

from api.client import Client, SpecFileError
from search.spec import SpecError, load_spec
from tests.api.conftest import tiny_spec


@pytest.fixture
def api_client(live):
    with Client(live.url) as client:
        yield client


def test_a_yaml_syntax_error_names_the_file_and_line(api_client, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: broken\nfactors:\n  TR: {choices: [invariant]\n  TS: {choices: [off]}\n")
    with pytest.raises(SpecFileError) as refused:
        api_client.create_study(path)
    message = str(refused.value)
    assert message.startswith(f"{path} line 4, column 3: expected ',' or '}}', but got '<scalar>'"), message
    assert "while parsing a flow mapping (from line 3)" in message and "<unicode string>" not in message
    assert api_client.studies() == []  # nothing was sent

    path.write_text("name: twice\ntrial: {steps: 2}\nfactors:\n  TR: {choices: [invariant]}\ntrial: {seed: 1}\n")
    with pytest.raises(SpecFileError) as refused:  # as `gdt-search run` refuses it (search.spec_source)
        api_client.create_study(path)
    assert str(refused.value) == f"{path} line 5: key 'trial' is given twice (first on line 2)"

    json_path = tmp_path / "study.json"
    json_path.write_text('{"name": "broken",\n "factors": {"TR": {"choices": ["invariant"]},}}\n')
    with pytest.raises(SpecFileError, match=rf"^{json_path} line 2, column 47: Expecting property name"):
        api_client.create_study(json_path)


def test_a_yaml_date_is_refused_naming_its_field_as_the_command_line_does(api_client, tmp_path):
    spec = yaml.safe_dump(tiny_spec("dated"), sort_keys=False)
    path = tmp_path / "study.yaml"
    path.write_text("notes: 2024-01-01\n" + spec)
    with pytest.raises(SpecFileError) as refused:
        api_client.create_study(path)
    assert str(refused.value) == (
        f"{path} line 1: notes: YAML reads 2024-01-01 as a date, which no spec field takes; quote it to give it as text"
    )
    with pytest.raises(SpecError) as cli:  # `gdt-search run` refuses the same file on the same field
        load_spec(path)
    assert cli.value.fields == ["notes"]
    assert api_client.studies() == []

    # A date further down is named by its dotted field and its own line (a deep copy: tiny_spec shares WORLD's lists).
    deeper = copy.deepcopy(tiny_spec("dated"))
    deeper["data"]["world"]["classes"][1] = datetime(2024, 1, 1, 10, 30)
    text = yaml.safe_dump(deeper, sort_keys=False)
    line = text.splitlines().index("    - 2024-01-01 10:30:00") + 1
    nested = tmp_path / "nested.yaml"
    nested.write_text(text)
    with pytest.raises(SpecFileError) as refused:
        api_client.create_study(nested)
    assert str(refused.value).startswith(
        f"{nested} line {line}: data.world.classes.1: YAML reads 2024-01-01 10:30:00 as a date"
    ), refused.value

    path.write_text("notes: '2024-01-01'\n" + spec)  # quoted, it is text, and the study is queued
    study_id = api_client.create_study(path)
    assert api_client.study(study_id)["spec"]["notes"] == "2024-01-01"
