"""search.baseline: a study measures its objective on the untrained encoders, once per training seed, before any
trial; it is exactly what a 0-step trial of any configuration scores (common random numbers), is stored with
the study (a resumed run reuses it), and the report prints it beside chance."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.trial import run_trial
from search.baseline import BASELINE_ATTR
from search.best import CHANCE_LABEL
from search.objective import score
from search.optuna_backend import run_optuna
from search.recorder import JsonlRecorder
from search.runner import report, summarize
from search.space import SearchSpace
from tests.search.conftest import tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
ONE = {"TS": {"choices": ["invariant"]}, "MOD": {"choices": ["invariant"]}}


def test_the_baseline_is_a_zero_step_trial_per_seed_measured_once_and_reported(tmp_path):
    spec = tiny_spec(tmp_path, factors=ONE, search__seeds=2, search__n_trials=1, search__sampler="random")
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    baseline = study.user_attrs[BASELINE_ATTR]
    assert baseline["seeds"] == [0, 1] and baseline["n"] == 2 and baseline["low"] <= baseline["mean"]

    # The same encoders a trial starts from, untrained: a 0-step trial of the study's configuration scores it.
    candidate = SearchSpace(spec).unique_feasible()[0]
    for seed, value in zip(baseline["seeds"], baseline["values"], strict=True):
        trial_spec = spec.trial_spec(candidate.train_hyper(), seed=seed)
        untrained = run_trial(candidate.config, replace(trial_spec, train=replace(trial_spec.train, steps=0)))
        assert score(untrained.evaluation.scores, spec.objective) == pytest.approx(value)

    # Chance level: the objective on each metric's chance on the same proxy (core.evaluation.metrics), stored with
    # the baseline and printed beside the best (with an R@5 objective it is far above 1 / classes).
    s = untrained.evaluation.scores
    assert baseline["chance"] == pytest.approx(score(replace(s, **s.chance), spec.objective))
    r_at_5 = spec.objective.model_copy(update={"score": "r_at_5"})
    assert score(replace(s, **s.chance), r_at_5) > 2 / s.n_classes
    assert f"{CHANCE_LABEL}: {baseline['chance']:.3f}" in report(summarize(study))

    events = [e["event"] for e in recorder.events()]
    assert events.index("baseline_measured") < events.index("trial_started")  # every score has its reference

    # A resumed run reuses the stored baseline rather than measuring it again.
    study.set_user_attr(BASELINE_ATTR, {**baseline, "values": [0.5, 0.5], "mean": 0.5})
    resumed = run_optuna(spec.model_copy(update={"search": spec.search.model_copy(update={"n_trials": 2})}))
    assert resumed.user_attrs[BASELINE_ATTR]["mean"] == 0.5
    assert "untrained encoder (same seeds, no training): 0.500 [" in report(summarize(resumed))
