"""search.seeds: a trial trains its configuration with n training seeds; its score is their mean, each seed's
score is recorded, pruners see the first seed's curve only, and the report shows the interval with n."""

from __future__ import annotations

import pytest

from search.best import CHANCE_LABEL
from search.optuna_backend import run_optuna
from search.recorder import JsonlRecorder
from search.runner import report, summarize
from search.spec import SpecError
from tests.search.conftest import tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
ONE = {"TS": {"choices": ["invariant"]}, "MOD": {"choices": ["invariant"]}}


@pytest.mark.parametrize("bad", [0, 21, "two"])
def test_seeds_is_bounded_and_a_bad_value_names_the_field(tmp_path, bad):
    with pytest.raises(SpecError) as info:
        tiny_spec(tmp_path, search__seeds=bad)
    assert "search.seeds" in info.value.fields


def test_a_trial_is_the_mean_of_its_seeds_and_records_each(tmp_path):
    spec = tiny_spec(
        tmp_path, factors=ONE, search__seeds=2, search__n_trials=1, search__sampler="random",
        trial__steps=4, trial__eval_every=1,
    )  # fmt: skip
    assert spec.training_seeds() == [0, 1]
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    (trial,) = [t for t in study.get_trials() if t.user_attrs.get("trained")]
    seeds = trial.user_attrs["seed_values"]
    assert len(seeds) == 2 and trial.value == pytest.approx(sum(seeds) / 2)
    runs = trial.user_attrs["replay"]["seeds"]
    assert [r["seed"] for r in runs] == [0, 1] and [r["values"][0] for r in runs] == seeds
    assert runs[0]["scores"] != runs[1]["scores"] or runs[0]["final_loss"] != runs[1]["final_loss"]  # two trainings

    events = recorder.events()
    # Pruners see the first seed only: one intermediate score per step, not one per seed.
    assert [e["step"] for e in events if e["event"] == "trial_intermediate"] == [1, 2, 3]
    (finished,) = [e for e in events if e["event"] == "trial_finished"]
    assert finished["seed_values"] == seeds and finished["values"][0] == pytest.approx(sum(seeds) / 2)

    text = report(summarize(study))
    assert "mean [95 % CI], seeds" in text and ", 2 seeds" in text and f"{CHANCE_LABEL}: 0.250" in text


def test_one_seed_says_no_interval_and_no_best_set(tmp_path):
    spec = tiny_spec(tmp_path, factors=ONE, search__n_trials=1, search__sampler="random")
    text = report(summarize(run_optuna(spec)))
    assert "(1 seed, no interval)" in text and "no set can be computed" in text and "±" not in text.split("\n\n")[1]
