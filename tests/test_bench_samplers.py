"""The samplers benchmark's replay (`benchmarks/bench_samplers.py`): a search over a table of recorded scores with
the real samplers and steering, one proposal at a time or as a study with several workers runs."""

from __future__ import annotations

import pytest

from benchmarks.bench_samplers import search
from search.space import SearchSpace
from search.study_presets import load_preset

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_replayed_search_trains_every_configuration_once_and_stops_at_the_target(workers):
    spec = load_preset("table1")
    space = SearchSpace(spec)
    configs = sorted(c.describe() for c in space.unique_feasible())
    table = {c: [i / 100, i / 100 + 0.01] for i, c in enumerate(configs)}  # two "seeds" each
    target = {configs[-1]}

    whole = search(spec, space, table, target, "gp", 0, 1, len(table), workers=workers)
    assert whole["trained"] == len(table) == 18
    assert whole["wasted_after_startup"] == 0 and whole["proposals"] == len(table)
    assert 1 <= whole["reached_after"] <= len(table)

    stopped = search(spec, space, table, target, "gp", 0, 1, len(table), stop_when_reached=True, workers=workers)
    assert stopped["reached_after"] == whole["reached_after"] == stopped["trained"]
