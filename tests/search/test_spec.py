"""The study spec: every error names its field and what is allowed; conversions reach core unchanged."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core.gdt.config import ModalityPairs
from search.space import SearchSpace
from search.spec import SpecError, load_spec
from search.study_presets import STUDY_PRESETS, load_preset

BASE = {"factors": {"TR": {"choices": ["invariant", "off"]}}}


def problems(raw: dict, overrides: dict | None = None) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        load_spec(raw, overrides)
    assert str(info.value).startswith("invalid study spec:")
    return dict(info.value.problems)


@pytest.mark.parametrize(
    "raw, field, words",
    [
        ({"factors": {"XX": {"choices": ["off"]}}}, "factors.XX", ["unknown factor", "TS", "AUG"]),
        ({"factors": {"DS": {"choices": ["distinctive"]}}}, "factors.DS", ["always distinctive"]),
        ({"factors": {"MOD": {"choices": ["distinctive"]}}}, "factors.MOD.choices", ["not allowed", "invariant, off"]),
        ({"factors": {"TR": {"choices": ["sideways"]}}}, "factors.TR.choices.0", ["'invariant'", "'ignore'"]),
        ({"factors": {"TR": {"choices": ["invariant"], "k": 3}}}, "factors.TR.k", ["<= 2"]),
        ({"factors": {"TS": {"choices": ["invariant"], "k": [1, 3]}}}, "factors.TS.k", [">= 2", "off"]),
        ({"factors": {"TS": {"choices": ["invariant"], "k": "x"}}}, "factors.TS.k", ["[low, high]", "'x'"]),
        # Ranges are checked by their ends, never listed: these once built a list of 6e12 numbers (MemoryError).
        ({"factors": {"MOD": {"choices": ["invariant"], "k": [-6167731523179, -1441]}}}, "factors.MOD.k", [">= 2"]),
        ({"factors": {"TS": {"choices": ["invariant"], "k": [2, 10**12]}}}, "factors.TS.k", ["<= 4096"]),
        ({"factors": {"TS": {"choices": ["invariant"], "k": [5, 3]}}}, "factors.TS.k", ["empty range"]),
        ({**BASE, "trial": {"lr": 0.1}}, "trial.lr", ["unknown field", "hyperparameters.lr"]),
        ({**BASE, "trial": {"stepz": 3}}, "trial.stepz", ["unknown field", "steps", "eval_every"]),
        ({**BASE, "colour": "blue"}, "colour", ["unknown field", "factors", "search"]),
        ({**BASE, "hyperparameters": {"rho": 0.1}}, "hyperparameters.rho", ["temperature", "lr"]),
        ({**BASE, "hyperparameters": {"temperature": "hot"}}, "hyperparameters.temperature", ["range", "'hot'"]),
        ({**BASE, "hyperparameters": {"lr": {"low": 0.1, "high": 0.01}}}, "hyperparameters.lr", ["low < high"]),
        ({**BASE, "search": {"sampler": "cmaes"}}, "search.sampler", ["'tpe'", "'gp'", "'random'", "'grid'"]),
        ({**BASE, "search": {"sampler": "grid"}, "hyperparameters": {"lr": {"low": 0.01, "high": 0.1}}},
         "hyperparameters.lr", ["finite", "step"]),
        ({**BASE, "search": {"pruner": {"kind": "asha"}}, "trial": {"eval_every": 1}}, "search.pruner.kind",
         ["optuna", "median", "hyperband"]),
        ({**BASE, "search": {"pruner": {"kind": "median"}}}, "trial.eval_every", ["intermediate"]),
        ({**BASE, "objective": {"cost": "device_seconds"}, "search": {"pruner": {"kind": "median"}},
          "trial": {"eval_every": 1}}, "search.pruner.kind", ["multi-objective"]),
        ({**BASE, "objective": {"score": "weighted"}}, "objective.weights", ["r_at_1", "linear_top1"]),
        ({**BASE, "objective": {"score": "weighted", "weights": {"r_at_2": 1}}}, "objective.weights.r_at_2",
         ["unknown metric"]),
        ({**BASE, "objective": {"score": "top5"}}, "objective.score", ["'r_at_1'", "'weighted'"]),
        ({**BASE, "data": {"world": {"classes": ["flying"]}}}, "data.world", ["flying", "slide_right"]),
        ({**BASE, "data": {"world": {"fps": "fast"}}}, "data.world.fps", ["integer"]),
        ({**BASE, "backend": "dask"}, "backend", ["'optuna'", "'ray'"]),
        ({**BASE, "backend": "ray", "search": {"workers": 2}}, "search.workers", ["max_concurrent"]),
        ({**BASE, "name": "my study"}, "name", ["pattern"]),
        ({**BASE, "clip_budget": [16, 1]}, "clip_budget", ["must be 2 .. 65536 clips, got 1"]),
        ({**BASE, "clip_budget_counts": "audio"}, "clip_budget_counts", ["'clips'", "'video_clips'"]),
        ({**BASE, "order": ["TS", "DS", "MOD", "TR", "SP", "AUG"]}, "order", ["DS first"]),
        ({**BASE, "search": {"n_trials": None}, "hyperparameters": {"lr": {"low": 0.01, "high": 0.1}}},
         "search.n_trials", ["continuous"]),
    ],
)  # fmt: skip
def test_errors_name_the_field_and_what_is_allowed(raw, field, words):
    found = problems(raw)
    assert field in found, found
    for word in words:
        assert word in found[field], (field, found[field])


def test_several_errors_are_reported_together():
    found = problems({"factors": {"MOD": {"choices": ["distinctive"]}, "TR": {"choices": ["invariant"], "k": 4}}})
    assert {"factors.MOD.choices", "factors.TR.k"} <= set(found)


def test_yaml_file_with_bare_off_and_overrides(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(
        "factors:\n  TR: {choices: [invariant, off]}\n  MOD: {choices: [invariant, off]}\n"
        "clip_budget: [16, 32]\nhyperparameters:\n  temperature: {low: 0.05, high: 0.2, log: true}\n"
        "trial: {steps: 5}\n"
    )
    spec = load_spec(path, {"trial.steps": 7, "search.sampler": "random"})
    assert spec.name == "study"  # from the file name
    assert [c.value for c in spec.factors["TR"].choices] == ["invariant", "off"]  # YAML's `off` is false
    assert spec.trial.steps == 7 and spec.search.sampler == "random" and spec.clip_budgets == [16, 32]


def test_json_file_and_unreadable_file(tmp_path):
    path = tmp_path / "study.json"
    path.write_text(json.dumps({**BASE, "name": "j"}))
    assert load_spec(path).name == "j"
    path.write_text("{not json")
    assert "<file>" in problems_of_path(path)
    assert "<file>" in problems_of_path(tmp_path / "missing.yaml")


def problems_of_path(path) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return dict(info.value.problems)


def test_conversion_to_core_specs():
    spec = load_spec({**BASE, "trial": {"steps": 9, "eval_every": 3}, "evaluation": {"classes": [0, 1]},
                      "hyperparameters": {"lr": {"low": 0.01, "high": 0.1}, "momentum": 0.5},
                      "data": {"world": {"videos_per_class": 4, "classes": ["grow", "fall"]}},
                      "encoders": {"width": 8}})  # fmt: skip
    trial = spec.trial_spec({"lr": 0.03})
    assert trial.train.steps == 9 and trial.train.eval_every == 3
    assert trial.train.lr == 0.03 and trial.train.momentum == 0.5
    assert trial.eval.classes == (0, 1)
    assert trial.data.world.videos_per_class == 4 and trial.data.world.classes == ("grow", "fall")
    assert trial.width == 8
    with pytest.raises(ValueError, match="hyperparameters.lr"):
        spec.trial_spec()  # lr is searched: a trial needs its sampled value


def test_world_videos_are_not_flipped_but_real_videos_are():
    """On the world a mirror image is another class (slide_right <-> slide_left); on HMDB-51 it is not."""
    world = load_spec(BASE).trial_spec()
    real = {"kind": "folders", "pretrain_root": "/videos", "hmdb_root": "/hmdb"}
    folders = load_spec({**BASE, "data": real}).trial_spec()
    assert world.augment.video.flip_p == 0.0
    assert folders.augment.video.flip_p == 0.5
    # 16-pixel crops of the 32-pixel world keep a trial step cheap; real folders keep 32-pixel crops
    assert world.augment.video.crop_size == 16 and folders.augment.video.crop_size == 32


def test_presets_are_valid_and_cover_table_1():
    from core.gdt.presets import ICCV_TABLE_1, preset

    for name in STUDY_PRESETS:
        load_preset(name)
    space = SearchSpace(load_preset("table1"))
    keys = {c.key for c in space.unique_feasible()}
    assert len(keys) == 18  # TR x TS (invariant, distinctive, off) x MOD (V, AV)
    letters = {"i": "invariant", "d": "distinctive", ".": "off"}
    # Every row of the ICCV Table 1 is a configuration of the space: the V rows exactly; the AV rows with
    # two augmentations (AUG is invariant throughout, so that MOD is all that tells a V row from its AV twin).
    for row, (tr, ts, modality) in ICCV_TABLE_1.items():
        mod = "invariant" if modality == "AV" else "off"
        params = {"TR": letters[tr], "TS": letters[ts], "MOD": mod, "AUG": "invariant"}
        candidate = space.from_params(params)
        assert candidate.key in keys, row
        paper = preset(f"iccv-{row}", 64)
        if modality == "V":  # a video-only row is the same configuration whatever the clip budget counts
            assert candidate.config == replace(paper, budget_counts=candidate.config.budget_counts), row
        else:
            assert paper.setting("AUG").choice.value == "off" and candidate.config.setting("AUG").k == 2, row
    assert ModalityPairs() == space.unique_feasible()[0].modality_pairs


def test_every_trial_of_a_study_gets_one_thread_setting_that_never_oversubscribes():
    import os

    factors = {"TR": {"choices": ["invariant"]}}
    assert load_spec({"factors": factors, "search": {"threads": 3}}).trial_spec().threads == 3
    cores = os.cpu_count() or 1
    one = load_spec({"factors": factors}).trial_spec().threads
    two = load_spec({"factors": factors, "search": {"workers": 2}}).trial_spec().threads
    assert one == cores and two == max(1, cores // 2)
    ray = load_spec({"factors": factors, "backend": "ray", "ray": {"cpus_per_trial": 1}})
    assert ray.trial_spec().threads == 1


def test_the_spec_offers_exactly_the_registered_samplers_and_pruners():
    """search.samplers is the one place a sampler or pruner is added; the spec's choices follow it."""
    import typing

    from search.samplers import PRUNERS, RAY_SCHEDULERS, SAMPLERS
    from search.spec import PrunerSection, SearchSection

    assert typing.get_args(SearchSection.model_fields["sampler"].annotation) == tuple(SAMPLERS)
    assert typing.get_args(PrunerSection.model_fields["kind"].annotation) == (*PRUNERS, *RAY_SCHEDULERS)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": "a" * 250}, "name", "at most 200 characters"),
        ({"hyperparameters": {"lr": {"low": 0.001, "high": 0.01, "step": 0}}}, "hyperparameters.lr.step", "> 0"),
        ({"hyperparameters": {"temperature": float("nan")}}, "hyperparameters.temperature", "finite"),
        ({"hyperparameters": {"lr": 1e308}}, "hyperparameters.lr", "must lie in [1e-08, 10]"),
        ({"hyperparameters": {"momentum": {"choices": [0.5, 1.5]}}}, "hyperparameters.momentum", "[0, 0.999]"),
        ({"hyperparameters": {"temperature": True}}, "hyperparameters", "a number, not true / false"),
        ({"data": {"world": {"classes": []}}}, "data.world.classes", "at least 2 classes"),
        ({"evaluation": {"classes": [99, 1]}}, "evaluation.classes", "class indices are 0 .. 15"),
        ({"evaluation": {"classes": [3, 3]}}, "evaluation.classes", "at least 2 distinct"),
        ({"search": {"heartbeat_s": 60, "grace_s": 1}}, "search.grace_s", "more than search.heartbeat_s (60 s)"),
        ({"clip_budget": [8, 8]}, "clip_budget", "duplicate budgets"),
        ({"clip_budget": 10**11}, "clip_budget", "must be 2 .. 65536"),
        ({"order": []}, "order", "empty"),
        ({"objective": {"score": "weighted", "weights": {"r_at_1": float("inf")}}}, "objective.weights.r_at_1",
         "finite"),
    ],
)
def test_values_that_would_fail_or_mislead_at_run_time_are_refused_naming_the_field(changes, field, words):
    """Each of these used to be accepted and then crash a study (an empty class list, a zero step), train on
    NaN losses (lr 1e308), or quietly discard trained results (grace_s below the heartbeat)."""
    spec = {"factors": {"TR": {"choices": ["invariant", "distinctive"]}, "MOD": {"choices": ["invariant"]}}}
    with pytest.raises(SpecError) as info:
        load_spec({**spec, **changes})
    problems = dict(info.value.problems)
    assert field in problems and words in problems[field], problems
