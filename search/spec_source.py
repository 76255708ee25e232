"""A study spec's text as data: YAML or JSON into a mapping, and the line each field is on.

Two things a plain `yaml.safe_load` / `json.loads` does not do, and a researcher needs:

- **A key given twice is an error.** Both parsers keep the last value silently, so a file with `trial: {steps: 2}`
  and, further down, `trial: {eval_every: 1}` would train 900 steps without a word.
- **Every field has a line.** A validation problem of `trial.steps` names the file and the line it is on
  (`study.yaml line 6: trial.steps: ...`), as a compiler would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from core.errors import GDTSearchError


class DuplicateKey(GDTSearchError, ValueError):
    """A mapping that gives one key twice; the message names the key and, for YAML, both lines."""


class SpecFileError(GDTSearchError, ValueError):
    """A spec file that cannot be read as a mapping of fields; the message names the file and, where it can, the
    line: 'study.yaml line 4, column 3: expected ...'."""


def read_spec_file(path: str | Path) -> tuple[dict, dict[str, int]]:
    """The mapping in a YAML or JSON (`.json`) spec file and each dotted field's line (none for JSON), as
    `gdt-search run` and the notebook client read it. Raises SpecFileError."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise SpecFileError(f"cannot read {source}: {error.strerror or error}") from None
    try:
        data, lines = (load_json(text), {}) if source.endswith(".json") else load_yaml(text)
    except json.JSONDecodeError as error:
        raise SpecFileError(f"{source} line {error.lineno}, column {error.colno}: {error.msg}") from None
    except yaml.YAMLError as error:
        raise SpecFileError(_yaml_problem(source, error)) from None
    except DuplicateKey as error:  # YAML's says "line 5: ...", JSON's has no line
        raise SpecFileError(f"{source}{' ' if str(error).startswith('line ') else ': '}{error}") from None
    if not isinstance(data, dict):
        raise SpecFileError(f"{source} must hold a mapping of fields, got {type(data).__name__}")
    return data, lines


def _yaml_problem(source: str, error: yaml.YAMLError) -> str:
    """'study.yaml line 4, column 3: expected ..., while parsing a flow mapping (from line 3)': PyYAML's own
    message says only `in "<unicode string>"` of text it was given as a string."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return f"{source} is not valid YAML: {error}"
    message = getattr(error, "problem", None) or "not valid YAML"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context:
        message += f", {context}" + (f" (from line {context_mark.line + 1})" if context_mark else "")
    return f"{source} line {mark.line + 1}, column {mark.column + 1}: {message}"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = first.get(key)
            except TypeError:  # an unhashable key: the base class says so itself
                continue
            if seen is not None:
                raise DuplicateKey(f"line {line}: key {key!r} is given twice (first on line {seen})")
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> tuple[Any, dict[str, int]]:
    """The document in `text` and, per dotted field ('trial.steps', 'factors.TR.choices.0'), its 1-based line.
    Raises yaml.YAMLError (bad syntax) or DuplicateKey."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index(node, "", lines)
    return data, lines


def _index(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}{key_node.value}"
            lines.setdefault(path, key_node.start_mark.line + 1)
            _index(value_node, path + ".", lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}{i}"
            lines.setdefault(path, item.start_mark.line + 1)
            _index(item, path + ".", lines)


def load_json(text: str, **hooks: Any) -> Any:
    """json.loads refusing duplicate keys (`hooks`: json.loads' parse_int, parse_float, ...).
    Raises json.JSONDecodeError or DuplicateKey."""
    return json.loads(text, object_pairs_hook=_unique_pairs, **hooks)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(f"key {key!r} is given twice in one object")
        out[key] = value
    return out


def line_of(lines: Mapping[str, int], field: str) -> int | None:
    """The line of `field`, or of its nearest enclosing field that the file has (a missing field's problem is
    on the section that lacks it); None when the file has none of it."""
    parts = field.split(".")
    while parts:
        line = lines.get(".".join(parts))
        if line is not None:
            return line
        parts.pop()
    return None
