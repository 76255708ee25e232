"""The Optuna backend end to end on CPU: real trials, a real SQLite storage, real samplers and pruners."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from core.gdt.config import describe_settings
from core.gdt.validity import validate
from search.calibration import Calibration, store_calibration
from search.optuna_backend import StudyMismatch, counts_as_trained, make_pruner, open_study, run_optuna
from search.recorder import JsonlRecorder
from search.runner import report, summarize
from search.space import SearchSpace
from tests.search.conftest import tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def trained(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials() if t.user_attrs.get("trained") and counts_as_trained(t)]


def finished_events(recorder: JsonlRecorder) -> list[dict]:
    return [e for e in recorder.events() if e["event"] == "trial_finished"]


def test_tiny_tpe_study_end_to_end_records_replay_and_resumes(tmp_path):
    spec = tiny_spec(tmp_path, search__sampler="tpe", search__n_trials=2, search__n_startup_trials=1)
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    done = trained(study)
    assert len(done) == 2 and all(t.state == TrialState.COMPLETE for t in done)

    events = recorder.events()
    assert events[0]["event"] == "study_started" and events[0]["directions"] == ["maximize"]
    complete = [e for e in finished_events(recorder) if e["state"] == "complete"]
    assert len(complete) == 2
    replay = complete[0]["replay"]
    for field in ("config", "seed", "dataset", "code", "libraries", "device", "wall_seconds", "device_seconds",
                  "invariance", "hyper", "trial_spec"):  # fmt: skip
        assert field in replay, field
    assert replay["dataset"]["pretrain"] and replay["dataset"]["proxy"] and replay["dataset"]["world"]
    assert replay["libraries"]["torch"] and replay["libraries"]["optuna"] and replay["code"]["gdt_search"]
    assert {"TR", "TS", "MOD"} <= set(replay["invariance"])
    # Scores depend on the thread count: every trial runs with the study's setting, and says so.
    assert all(e["replay"]["trial_spec"]["threads"] == 1 for e in complete)
    assert all(e["replay"]["libraries"]["torch_threads"] == 1 for e in complete)
    assert complete[0]["values"] == [complete[0]["scores"]["linear_top1"]]  # the default objective: the probe
    # The same record is in the study, for the service and optuna-dashboard.
    assert done[0].user_attrs["replay"]["seed"] == spec.trial.seed

    text = report(summarize(study))
    assert "| # | DS | TS | MOD | TR | SP | AUG | R@1 |" in text and "best: #" in text

    # Resuming: the budget is spent, nothing is retrained; a larger budget trains exactly the difference.
    assert len(trained(run_optuna(spec, recorder))) == 2
    more = tiny_spec(tmp_path, search__sampler="tpe", search__n_trials=3, search__n_startup_trials=1)
    study = run_optuna(more, recorder)
    assert len(trained(study)) == 3
    assert [t.number for t in trained(study)][:2] == [t.number for t in done]


def test_equivalent_configurations_are_trained_once(tmp_path):
    # MOD off: the intra-modal switch is not sampled, budgets 16 and 17 give the same K_i -> 1 configuration;
    # MOD invariant: 2 budgets x 2 switch values -> 2 configurations. 6 proposals, 3 distinct trainings.
    spec = tiny_spec(
        tmp_path,
        factors={"TR": {"choices": ["invariant"]}, "MOD": {"choices": ["invariant", "off"]}},
        clip_budget=[16, 17],
        modality_pairs__intra_video=[False, True],
        search__sampler="bruteforce",
        search__n_trials=None,
    )
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    trials = study.get_trials()
    assert len(trials) == 6
    keys = [t.user_attrs["equivalence_key"] for t in trials]
    assert len(set(keys)) == 3
    assert len(trained(study)) == 3
    by_number = {t.number: t for t in trials}
    duplicates = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(duplicates) == 3
    for t in duplicates:
        original = by_number[t.user_attrs["duplicate_of"]]
        assert original.user_attrs["trained"] and not t.user_attrs["trained"]
        assert original.user_attrs["equivalence_key"] == t.user_attrs["equivalence_key"]
        # A duplicate is never a measurement: PRUNED without a value, its reused result beside it.
        assert t.state == TrialState.PRUNED and t.values is None
        assert t.user_attrs["reused_values"] == original.values and "not retrained" in t.user_attrs["pruned"]
    # optuna-dashboard counts COMPLETE trials: exactly the trained configurations.
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert all(t.state == TrialState.COMPLETE for t in trained(study))
    states = sorted(e["state"] for e in finished_events(recorder))
    assert states == ["complete"] * 3 + ["duplicate"] * 3
    # Every trial, duplicates too, records its configuration as data beside the notation written from it.
    space = SearchSpace(spec)
    for t in trials:
        assert t.user_attrs["settings"] == space.from_params(t.params).settings_record()
        assert describe_settings(t.user_attrs["settings"]) == t.user_attrs["config"]
    by_trial = {e["number"]: e for e in finished_events(recorder)}
    assert all(by_trial[t.number]["settings"] == t.user_attrs["settings"] for t in trials)
    assert summarize(study).duplicates == 3 and len(summarize(study).rows) == 3


def test_grid_excludes_infeasible_and_equivalent_configurations_before_sampling(tmp_path):
    # TR distinctive without MOD has no positive pair (invalid); TR invariant at budgets 16 and 17 is one batch.
    spec = tiny_spec(tmp_path, factors={"TR": {"choices": ["invariant", "distinctive"]}}, clip_budget=[16, 17],
                     search__sampler="grid", search__n_trials=None)  # fmt: skip
    study = run_optuna(spec)
    trials = study.get_trials()
    assert len(trials) == 1 and trials[0].state == TrialState.COMPLETE
    assert trials[0].params["TR"] == "invariant" and trials[0].user_attrs.get("grid_point")
    assert len(trained(run_optuna(spec))) == 1  # a rerun queues nothing again


def test_infeasible_proposals_are_recorded_with_their_reason_and_never_trained(tmp_path):
    # SP: the tiny world's 2 s videos cannot hold 0.5 s clips at 8x; TR distinctive alone has no positives.
    # Brute force proposes from the raw space (TPE, GP and random search are steered to feasible configurations:
    # tests/search/test_proposals.py), so its infeasible proposals are recorded.
    spec = tiny_spec(
        tmp_path,
        factors={"TR": {"choices": ["distinctive", "invariant", "off"]}, "SP": {"choices": ["invariant", "off"]}},
        search__sampler="bruteforce",
        search__n_trials=1,
        search__seed=6,
    )
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    infeasible = [t for t in study.get_trials() if "infeasible" in t.user_attrs]
    assert len(infeasible) == 5, "seed 6 proposes 5 infeasible configurations first"
    for t in infeasible:
        assert t.state == TrialState.FAIL and not t.user_attrs.get("trained") and not t.intermediate_values
        assert ("SP:" in t.user_attrs["infeasible"] and "8x" in t.user_attrs["infeasible"]) or (
            "no positives" in t.user_attrs["infeasible"]
        )
    assert len(trained(study)) == 1
    space = SearchSpace(spec)
    for t in trained(study):
        validate(space.from_params(t.params).config)
    recorded = [e for e in finished_events(recorder) if e["state"] == "infeasible"]
    assert [e["number"] for e in recorded] == [t.number for t in infeasible]
    assert all(e["reason"] for e in recorded)
    # an infeasible proposal has no config: its searched factors' settings, no DS
    for t, e in zip(infeasible, recorded, strict=True):
        assert e["settings"] == t.user_attrs["settings"]
        assert {n: s["choice"] for n, s in e["settings"].items()} == {n: t.params[n] for n in ("TR", "SP")}


def test_a_failing_trial_is_recorded_with_its_reason_and_the_study_goes_on(tmp_path):
    # lr 10 with weight decay 100 (the largest a spec allows): AdamW's decoupled decay multiplies the weights by
    # 1 - lr * wd = -999 a step, and the loss is NaN within a few steps; lr 0.002 shrinks them by 0.8 and trains.
    spec = tiny_spec(tmp_path, factors={"TR": {"choices": ["invariant"]}}, trial__steps=8,
                     hyperparameters__lr={"choices": [10.0, 0.002]}, hyperparameters__weight_decay=100.0,
                     search__sampler="grid", search__n_trials=None)  # fmt: skip
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    study = run_optuna(spec, recorder)
    by_lr = {t.params["lr"]: t for t in study.get_trials()}
    failed, ok = by_lr[10.0], by_lr[0.002]
    assert failed.state == TrialState.FAIL and "non-finite loss" in failed.user_attrs["failure"]
    assert failed.user_attrs["failure_kind"] == "non-finite"
    assert ok.state == TrialState.COMPLETE
    events = {e["state"]: e for e in finished_events(recorder)}
    assert "non-finite loss" in events["failed"]["reason"] and "complete" in events


def _calibration(agreeing_steps: set[int]) -> Calibration:
    """A calibration of 4-step trials of five configurations whose intermediate scores rank like the final ones at
    `agreeing_steps` (tau 1, p 1/5!) and in reverse at the other steps (tau -1)."""
    final = [[0.1], [0.2], [0.3], [0.4], [0.5]]
    ranked = [0.1, 0.2, 0.3, 0.4, 0.5]
    return Calibration(
        configurations=["a", "b", "c", "d", "e"], seeds=[0], reference_steps=16, study_steps=4, threshold=0.6,
        scores={4: final, 16: final},
        intermediate={step: ranked if step in agreeing_steps else ranked[::-1] for step in (1, 2, 3)},
    )  # fmt: skip


def _weak_trial_study(tmp_path, calibration: Calibration | None, **overrides):
    """A median-pruned study of one trial after a strong trial that reached R@1 = 1 at every step; the tiny world
    (knock_wood vs knock_metal differ only in sound) keeps a video-only R@1 below 1, so the new trial is weaker
    and the pruner stops it wherever it is allowed to act."""
    spec = tiny_spec(tmp_path, factors={"TR": {"choices": ["invariant"]}}, trial__steps=4, trial__eval_every=1,
                     search__pruner={"kind": "median", "n_startup_trials": 1}, search__n_trials=1,
                     **overrides)  # fmt: skip
    study = open_study(spec)
    study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={1: 1.0, 2: 1.0, 3: 1.0}))
    if calibration is not None:
        store_calibration(study, calibration)
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    return run_optuna(spec, recorder).get_trials()[-1], recorder


def test_median_pruner_stops_a_weak_trial_at_the_first_calibrated_step(tmp_path):
    weak, recorder = _weak_trial_study(tmp_path, _calibration({1, 2, 3}))
    assert weak.state == TrialState.PRUNED
    assert list(weak.intermediate_values) == [1]  # stopped after 1 of 4 steps: 3 steps of compute saved
    assert "MedianPruner at step 1" in weak.user_attrs["pruned"]
    assert [e["state"] for e in finished_events(recorder)] == ["pruned"]
    intermediate = [e for e in recorder.events() if e["event"] == "trial_intermediate"]
    assert [e["step"] for e in intermediate] == [1]
    (said,) = [e for e in recorder.events() if e["event"] == "calibration_measured"]
    assert said["pruning"] == "pruner 'median' acts at steps 1, 2, 3 (calibrated); trials evaluate there only"


def test_a_configuration_pruned_on_its_first_seed_never_trains_the_others(tmp_path):
    """With replicates the pruner reads the first seed's curve; what it stops costs that seed's steps only."""
    weak, recorder = _weak_trial_study(tmp_path, _calibration({1, 2, 3}), search__seeds=3)
    assert weak.state == TrialState.PRUNED and list(weak.intermediate_values) == [1]
    # A seed that trains reports its progress when its training ends (test_progress.py); seeds 2 and 3 never did.
    reported = {e["seed"] for e in recorder.events() if e["event"] == "trial_progress"}
    assert not reported & {2, 3}, reported


def test_the_pruner_acts_only_at_steps_the_calibration_found_to_rank_like_final_scores(tmp_path):
    weak, _ = _weak_trial_study(tmp_path, _calibration({2}))
    # Evaluated at step 2 only: a step-1 evaluation no decision reads would cost a proxy evaluation for nothing.
    assert weak.state == TrialState.PRUNED and list(weak.intermediate_values) == [2]
    assert "MedianPruner at step 2" in weak.user_attrs["pruned"]


def test_without_a_calibration_the_study_warns_and_does_not_prune(tmp_path):
    weak, recorder = _weak_trial_study(tmp_path, None)
    assert weak.state == TrialState.COMPLETE and list(weak.intermediate_values) == []  # nothing would read them
    (said,) = [e for e in recorder.events() if e["event"] == "calibration_measured"]
    assert said["calibration"] is None and said["pruning"].startswith("pruner 'median' not used: nothing shows")
    assert said["pruning"].endswith("trials make no intermediate evaluations")


def test_pruners_are_built_from_the_spec(tmp_path):
    hyperband = make_pruner(tiny_spec(tmp_path, trial__steps=30, trial__eval_every=5,
                                      search__pruner={"kind": "hyperband", "reduction_factor": 3}))  # fmt: skip
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (5, 30, 3)
    halving = make_pruner(tiny_spec(tmp_path, trial__eval_every=2, search__pruner={"kind": "successive_halving"}))
    assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(make_pruner(tiny_spec(tmp_path)), optuna.pruners.NopPruner)
    asha = tiny_spec(tmp_path, backend="ray", trial__eval_every=1, search__pruner={"kind": "asha"})
    assert isinstance(make_pruner(asha), optuna.pruners.NopPruner)  # Ray's scheduler prunes, not Optuna


def test_multi_objective_study_has_a_pareto_front(tmp_path):
    spec = tiny_spec(tmp_path, objective__cost="device_seconds", search__sampler="gp", search__n_trials=2,
                     search__n_startup_trials=1)  # fmt: skip
    study = run_optuna(spec)
    done = trained(study)
    assert len(done) == 2 and all(len(t.values) == 2 for t in done)
    assert all(t.values[1] == pytest.approx(t.user_attrs["replay"]["device_seconds"]) for t in done)
    front = summarize(study).best
    assert front
    for row in front:  # nobody beats a front member on both objectives
        assert not any(t.values[0] > row.values[0] and t.values[1] < row.values[1] for t in done)
    assert "Pareto front" in report(summarize(study))


def test_a_stored_study_with_another_meaning_is_not_resumed(tmp_path):
    open_study(tiny_spec(tmp_path))
    with pytest.raises(StudyMismatch, match="factors"):
        open_study(tiny_spec(tmp_path, factors={"TR": {"choices": ["invariant"]}}))
    with pytest.raises(StudyMismatch, match="clip_budget_counts"):  # another K_i for the cross-modal rows
        open_study(tiny_spec(tmp_path, clip_budget_counts="video_clips"))
    open_study(tiny_spec(tmp_path, search__n_trials=50))  # budget and sampler may change
