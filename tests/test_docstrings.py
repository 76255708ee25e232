"""The runnable examples in the public entry points' docstrings run and show what they say."""

from __future__ import annotations

import doctest
import time

import pytest

from api.client import Client
from core.gdt.config import GDTConfig
from core.gdt.loss import gdt_loss
from core.trial import run_trial
from search.space import SearchSpace
from search.spec import load_spec

ENTRY_POINTS = {"GDTConfig.build": GDTConfig.build, "gdt_loss": gdt_loss, "run_trial": run_trial,
                "load_spec": load_spec, "SearchSpace": SearchSpace}  # fmt: skip


def run_examples(obj, globs: dict | None = None) -> float:
    """Runs the docstring's examples; fails with doctest's report. Returns the seconds they took."""
    (test,) = doctest.DocTestFinder(recurse=False).find(obj, obj.__qualname__, globs=dict(globs or {}))
    assert len(test.examples) >= 2, f"{obj.__qualname__}: no runnable example in its docstring"
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    started = time.perf_counter()
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)
    return time.perf_counter() - started


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_point_examples_run(name):
    run_examples(ENTRY_POINTS[name])


def test_client_example_runs_against_a_live_server(tmp_path):
    from tests.api.conftest import LiveServer, settings_for

    with LiveServer(settings_for(f"sqlite:///{tmp_path / 'service.db'}")) as server:
        run_examples(Client, {"url": server.url})
