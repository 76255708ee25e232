"""The Ray Tune backend end to end on a real local Ray (2 CPUs): OptunaSearch + ASHA, the same records as
the Optuna backend, and an interrupted experiment that resumes."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from optuna.trial import TrialState

from search.optuna_backend import counts_as_trained
from search.ray_backend import experiment_path, init_ray, run_ray
from search.recorder import JsonlRecorder
from tests.search.conftest import tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    import ray

    init_ray(tiny_spec(tmp_path_factory.mktemp("ray"), ray__num_cpus=2))
    yield
    ray.shutdown()


def launched(spec) -> int:
    """Trials Ray actually ran (one folder each in the experiment directory)."""
    return sum(1 for p in experiment_path(spec).iterdir() if p.is_dir() and p.name.startswith("ray_trial"))


def test_tiny_study_on_ray_with_asha_reaches_the_same_records(tmp_path):
    # TR distinctive without MOD has no positive pair: proposed, recorded infeasible, never launched.
    spec = tiny_spec(
        tmp_path,
        "ray-tiny",
        factors={"TR": {"choices": ["distinctive", "invariant"]}, "MOD": {"choices": ["invariant", "off"]}},
        backend="ray",
        trial__steps=3,
        trial__eval_every=1,
        search__pruner={"kind": "asha", "reduction_factor": 2, "require_calibration": False},
        search__n_trials=3,
        search__n_startup_trials=10,
        search__seed=1,
        ray__cpus_per_trial=1,
    )
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_ray(spec, recorder)
    trials = study.get_trials()
    trained = [t for t in trials if t.user_attrs.get("trained") and counts_as_trained(t)]
    assert len(trained) == 3 == launched(spec)
    finished = {e["number"]: e for e in recorder.events() if e["event"] == "trial_finished"}
    for t in trained:
        event = finished[t.number]
        if t.state == TrialState.COMPLETE:
            assert event["state"] == "complete" and event["values"] == list(t.values)
            assert t.user_attrs["replay"]["train_steps"] == 3 and t.user_attrs["scores"]["n_test"] > 0
            assert event["replay"]["dataset"]["world"] and event["replay"]["device"] == "cpu"
        else:  # ASHA stopped it: the one pruning authority
            assert t.state == TrialState.PRUNED and "ASHA" in t.user_attrs["pruned"] and event["state"] == "pruned"
    for t in trials:
        if "infeasible" in t.user_attrs:
            assert t.state == TrialState.FAIL and "no positives" in t.user_attrs["infeasible"]
            assert finished[t.number]["state"] == "infeasible" and not t.user_attrs.get("trained")
        if "duplicate_of" in t.user_attrs:  # never a measurement: no COMPLETE trial in Optuna's tables
            assert finished[t.number]["state"] == "duplicate" and t.state != TrialState.COMPLETE
    by_number = {t.number: t for t in trials}
    for number, event in finished.items():  # the configuration as data, recorded as the Optuna backend does
        assert event["settings"] == by_number[number].user_attrs["settings"]
        assert ("DS" in event["settings"]) == (event["state"] != "infeasible")  # an infeasible one has no config
    intermediate = [e for e in recorder.events() if e["event"] == "trial_intermediate"]
    assert intermediate and all(1 <= e["step"] <= 3 for e in intermediate)


def test_an_interrupted_experiment_resumes_without_losing_completed_trials(tmp_path):
    spec = tiny_spec(tmp_path, "ray-resume", backend="ray", trial__steps=3, search__sampler="random",
                     search__n_trials=3, ray__max_concurrent=1)  # fmt: skip
    recorder = JsonlRecorder(tmp_path / "events.jsonl")

    def interrupt_after_first_completion():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if any(e["event"] == "trial_finished" and e["state"] == "complete" for e in recorder.events()):
                os.kill(os.getpid(), signal.SIGUSR1)  # Tune's own stop signal, like Ctrl+C
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=interrupt_after_first_completion, daemon=True)
    watcher.start()
    study = run_ray(spec, recorder)
    watcher.join()
    before = {t.number: t for t in study.get_trials() if t.state == TrialState.COMPLETE}
    assert 1 <= len(before) < 3, "the run should have been interrupted after its first trial"

    study = run_ray(spec, recorder)  # restores the experiment from its folder and finishes it
    after = {t.number: t for t in study.get_trials()}
    for number, trial in before.items():
        assert after[number].state == TrialState.COMPLETE and after[number].values == trial.values
    assert sum(bool(t.user_attrs.get("trained")) and counts_as_trained(t) for t in after.values()) == 3
    assert launched(spec) == 3
