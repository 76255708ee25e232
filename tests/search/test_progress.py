"""Progress inside a trial (issue 13, item 7): a trial reports step / total, its latest loss and intermediate score
while it trains, a few times (throttled), through the recorders; `gdt-search run` prints those lines and counts
trained configurations against the budget."""

from __future__ import annotations

import io
import math

import pytest

from search.intervals import estimate
from search.objective import ProgressThrottle
from search.optuna_backend import run_optuna
from search.recorder import ConsoleRecorder, JsonlRecorder, MultiRecorder
from tests.search.conftest import tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def reports(seconds_per_step: float, total: int = 300) -> list[dict]:
    now = [0.0]
    out: list[dict] = []
    throttle = ProgressThrottle(out.append, clock=lambda: now[0])
    throttle.total = total
    for step in range(1, total + 1):
        now[0] += seconds_per_step
        throttle.step(step, math.nan if step == total else 4.0)
        if step == 150:  # pretrain reports a step before it evaluates there
            throttle.intermediate(150, 0.3)
    return out


def test_a_slow_trial_reports_every_tenth_of_its_steps_and_a_fast_one_once():
    slow = reports(1.0)  # a 300-step CPU trial of 300 s
    assert [r["step"] for r in slow] == list(range(30, 301, 30))
    assert slow[4]["score"] is None and slow[5]["score"] == 0.3 and slow[5]["score_step"] == 150
    assert slow[-1]["loss"] is None and slow[0]["loss"] == 4.0  # a non-finite loss is no number to show
    assert [r["step"] for r in reports(0.5)] == list(range(30, 301, 30))  # 15 s apart: still every 10 %
    # 10 % is 3.75 s here: 5 s apart at most, and the last step
    assert [r["step"] for r in reports(0.125)] == [*range(40, 281, 40), 300]
    assert [r["step"] for r in reports(0.01)] == [300]  # a 3-second GPU trial: one report, when training is done


def test_a_trial_reports_its_progress_per_seed_and_the_run_counts_trained_configurations(tmp_path):
    spec = tiny_spec(tmp_path, search__seeds=2, search__n_trials=1, search__sampler="random", search__workers=1,
                     trial__steps=4, trial__eval_every=2)  # fmt: skip
    events = JsonlRecorder(tmp_path / "events.jsonl")
    console = io.StringIO()
    run_optuna(spec, MultiRecorder(events, ConsoleRecorder(console)))

    progress = [e for e in events.events() if e["event"] == "trial_progress"]
    # Each seed reports when its training is done (4 steps take less than the 5 s between reports); the first with
    # the score of its evaluation at step 2. The second makes none: a pruner and the curves read the first seed's.
    assert [(e["seed"], e["seeds"], e["step"], e["total"]) for e in progress] == [(1, 2, 4, 4), (2, 2, 4, 4)]
    assert progress[0]["score_step"] == 2 and progress[0]["score"] is not None
    assert progress[1]["score_step"] is None and progress[1]["score"] is None
    assert all(e["loss"] is not None and e["number"] == 0 for e in progress)
    finished = [e for e in events.events() if e["event"] == "trial_finished"]
    assert finished[0]["progress"] == {"trained": 1, "n_trials": 1, "duplicates": 0, "infeasible": 0}

    printed = console.getvalue()
    assert "seed 1/2 step 4/4 (50 %)  loss " in printed and "seed 2/2 step 4/4 (100 %)" in printed
    assert "-- trained 1 of 1 (0 duplicates, 0 infeasible skipped)" in printed
    # the finished trial's score with its interval over the 2 seeds, never a bare mean
    (seeds,) = [e["seed_values"] for e in finished]
    assert f"score {estimate(seeds).text()}" in printed and "], 2 seeds" in printed
