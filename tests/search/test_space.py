"""The conditional space: K_m only when sampled, feasibility exactly as core's validity, equivalence keys."""

from __future__ import annotations

import json

import optuna
import pytest

from core.gdt.config import GDTConfig, InvalidConfiguration, ModalityPairs, describe_settings
from core.gdt.factors import CATALOGUE
from core.gdt.validity import validate
from search.space import DataLimits, SearchSpace, equivalence_key
from search.spec import load_spec

ALL = ["invariant", "distinctive", "ignore", "off"]
WIDE = {
    "factors": {
        "TS": {"choices": ALL, "k": [2, 3]},
        "MOD": {"choices": ["invariant", "off"]},
        "TR": {"choices": ALL},
        "SP": {"choices": ALL, "k": [2, 4]},
        "AUG": {"choices": ["invariant", "off"]},
    },
    "clip_budget": [8, 16, 17],
    "modality_pairs": {"intra_video": [False, True]},
}


def test_k_and_modality_switches_are_sampled_only_when_the_choice_needs_them():
    space = SearchSpace(load_spec(WIDE))
    seen = []

    def objective(trial):
        candidate = space.suggest(trial)
        seen.append(candidate)
        return 0.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=300)
    for trial, candidate in zip(study.trials, seen, strict=True):
        params = trial.params
        for name in ("TS", "SP"):
            assert (f"K_{name}" in params) == (params[name] != "off"), params
        assert "K_TR" not in params  # TR's range is the single value 2: nothing to sample
        assert ("intra_video" in params) == (params["MOD"] != "off"), params
        for name, (choice, k) in candidate.settings.items():
            assert (k == 1) if choice == "off" else (2 <= k <= (CATALOGUE[name].max_k or 99)), (name, choice, k)
    assert {p["TS"] for p in (t.params for t in study.trials)} == set(ALL)


def test_every_candidate_records_its_settings_and_its_notation_is_written_from_them():
    """What a trial records of its configuration (search.objective: user attr "settings", TrialRecord.settings): a
    feasible candidate's is its config's (every factor, DS first); an infeasible one has no config, so its searched
    factors only (no DS). The notation is written from the same record."""
    space = SearchSpace(load_spec(WIDE))
    candidates = list(space.enumerate())
    assert any(c.feasible for c in candidates) and any(not c.feasible for c in candidates)
    for candidate in candidates:
        record = candidate.settings_record()
        assert json.loads(json.dumps(record)) == record
        if candidate.feasible:
            assert record == candidate.config.settings_record() and list(record)[0] == "DS"
            assert candidate.describe() == describe_settings(record) == candidate.config.describe()
        else:
            assert list(record) == list(candidate.settings) and "DS" not in record
            assert record == {n: {"choice": c, "k": k} for n, (c, k) in candidate.settings.items()}
            assert candidate.describe() == f"{describe_settings(record)} budget={candidate.clip_budget}"
        searched = {n: s for n, s in record.items() if n in candidate.settings}
        assert searched == {n: {"choice": c, "k": k} for n, (c, k) in candidate.settings.items()}


def test_feasibility_is_exactly_core_validity():
    """A candidate is feasible iff core builds and validates it; an infeasible one carries core's reason."""
    space = SearchSpace(load_spec(WIDE))
    candidates = list(space.enumerate())
    assert len(candidates) > 500
    infeasible = 0
    for candidate in candidates:
        choices = {n: (c, k) for n, (c, k) in candidate.settings.items()}
        try:
            budget, pairs = candidate.clip_budget, candidate.modality_pairs
            config = GDTConfig.build(choices, clip_budget=budget, modality_pairs=pairs)
            validate(config)
            reason = None
        except InvalidConfiguration as error:
            reason = str(error)
        assert candidate.infeasible == reason
        assert candidate.feasible == (reason is None) == (candidate.key is not None)
        if reason is not None:
            infeasible += 1
            assert candidate.blamed, candidate.infeasible  # the error names the factors to change
    assert 50 < infeasible < len(candidates) - 50


def test_the_grid_holds_only_feasible_distinct_configurations():
    space = SearchSpace(load_spec(WIDE))
    unique = space.unique_feasible()
    assert all(c.feasible for c in unique)
    assert len({c.key for c in unique}) == len(unique)
    assert len(unique) < sum(c.feasible for c in space.enumerate())  # some configurations are equivalent
    for candidate in unique:
        validate(candidate.config)
        assert space.from_params(candidate.params).key == candidate.key  # params replay to the same configuration


def test_a_video_clip_budget_pairs_each_cross_modal_configuration_with_its_video_only_twin():
    """Under clip_budget_counts video_clips a Table 1 row and its MOD-off twin see the same videos per batch, so
    the MOD effect compares adding the sound and nothing else; the grid keeps its 18 configurations."""
    from search.study_presets import load_preset

    counted = {rule: SearchSpace(load_preset("table1", {"clip_budget_counts": rule})).unique_feasible()
               for rule in ("clips", "video_clips")}  # fmt: skip
    for rule, candidates in counted.items():
        assert len(candidates) == 18
        by_others = {}
        for c in candidates:
            others = tuple((n, s) for n, s in c.settings.items() if n != "MOD")
            by_others.setdefault(others, {})[c.settings["MOD"][0]] = c.config
        for twins in by_others.values():
            video_only, cross_modal = twins["off"], twins["invariant"]
            assert cross_modal.budget_counts == rule
            if rule == "video_clips":
                assert cross_modal.k_videos == video_only.k_videos
                assert cross_modal.batch_size == 2 * video_only.batch_size == 128
            else:
                assert 2 * cross_modal.k_videos == video_only.k_videos
                assert cross_modal.batch_size == video_only.batch_size == 64


def test_equivalence_keys():
    def key(choices, budget=16, pairs=None, temperature=0.07, lr=0.05):
        config = GDTConfig.build(choices, clip_budget=budget, modality_pairs=pairs, temperature=temperature)
        return equivalence_key(config, {"temperature": temperature, "lr": lr})

    base = {"TR": "invariant"}
    # K_i is derived from the budget: 16 and 17 clips give the same batch.
    assert key(base, 16) == key(base, 17)
    assert key(base, 16) != key(base, 32)
    # The modality-pair switches only matter when MOD samples both modalities.
    assert key(base, pairs=ModalityPairs(intra_video=True)) == key(base)
    mod = {"MOD": "invariant"}
    assert key(mod, pairs=ModalityPairs(intra_video=True)) != key(mod)
    # Same masks, different transformation: not the same training.
    assert key({"TR": "invariant"}) != key({"SP": "invariant"})
    assert key({"TR": "invariant"}) != key({"TR": "invariant", "TS": "distinctive"})
    assert key(base, temperature=0.1) != key(base) and key(base, lr=0.1) != key(base)
    assert key(base, lr=0.1 + 0.2) == key(base, lr=0.3)


def test_data_limits_make_configurations_infeasible_with_the_reason():
    spec = load_spec({"factors": {"SP": {"choices": ["invariant", "off"]}, "MOD": {"choices": ["invariant"]}},
                      "clip_budget": [16, 64]})  # fmt: skip
    # 10 videos of 2 s, 0.5 s clips: 8x needs 4 s; K_i = 32 (budget 64, MOD only) exceeds 10 videos.
    space = SearchSpace(spec, DataLimits(num_videos=10, shortest_seconds=2.0, clip_seconds=0.5))
    by_params = {(c.params.get("SP", "invariant"), c.clip_budget): c for c in space.enumerate()}
    sp = by_params[("invariant", 16)]
    assert not sp.feasible and sp.blamed == ("SP",) and "8x" in sp.infeasible and "2.00 s" in sp.infeasible
    big = by_params[("off", 64)]
    assert not big.feasible and big.blamed == ("DS",) and "only 10" in big.infeasible
    assert by_params[("off", 16)].feasible


def test_continuous_ranges_cannot_be_enumerated():
    space = SearchSpace(load_spec({**WIDE, "hyperparameters": {"lr": {"low": 0.01, "high": 0.1, "log": True}}}))
    assert not space.is_finite
    with pytest.raises(ValueError, match="hyperparameters.lr"):
        next(space.enumerate())
    stepped = SearchSpace(load_spec({**WIDE, "hyperparameters": {"lr": {"low": 0.01, "high": 0.03, "step": 0.01}}}))
    assert {c.hyper["lr"] for c in stepped.enumerate()} == {0.01, 0.02, 0.03}
