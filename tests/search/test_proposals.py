"""Proposals that train (issue 13, item 4): in a finite space the sampler proposes only feasible configurations
that no trial has taken, while TPE still chooses among them; the waste share is measured on the table1 space.

The search runs for real (Optuna, SQLite, the objective, the budget); only training is replaced by a score of
the configuration, so each study takes seconds."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from search import objective
from search.objective import Trained, study_progress
from search.optuna_backend import open_study, optimize
from search.proposals import FeasibleSampler, agreement, claim
from search.space import DataLimits, SearchSpace
from search.study_presets import load_preset
from tests.search.conftest import tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

BONUS = {"invariant": 0.03, "distinctive": 0.05, "ignore": 0.01, "off": 0.0}


def synthetic(spec, candidate, on_intermediate=None, *, device=None, on_progress=None, **_) -> Trained:
    """A score with structure for TPE to find (distinctive > invariant > off), and no training."""
    value = 0.2 + sum(BONUS[choice] for name, (choice, _) in candidate.settings.items() if name != "AUG")
    value += 0.001 * (int(candidate.key, 16) % 7)  # no exact ties
    return Trained([value], {"linear_top1": value}, {"seeds": [{"values": [value]}]})


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(objective, "train_candidate", synthetic)


def table1(tmp_path, seed: int, **overrides):
    # 12 of the 18 configurations (the preset trains 8): the further into the grid, the harder to avoid a duplicate.
    raw = {"storage": f"sqlite:///{tmp_path / f'table1-{seed}.db'}", "search.workers": 1, "search.seed": seed,
           "search.n_trials": 12}  # fmt: skip
    return load_preset("table1", raw | overrides)


@pytest.mark.parametrize("sampler", ["tpe", "gp"])  # the target names TPE; the preset runs GP
def test_table1_proposals_train_the_budget_with_no_waste(tmp_path, no_training, sampler):
    # Before steering, TPE proposed 22 duplicates for 60 trained configurations over these 5 search seeds (27 %;
    # the real main job: 10 for 13). The target is <= 5 % of proposals; one worker can reach none at all.
    proposals = waste = 0
    for seed in range(5):
        spec = table1(tmp_path, seed, **{"search.sampler": sampler})
        assert optimize(spec, space=SearchSpace(spec)) == "12 trials trained (n_trials = 12)"
        progress = study_progress(open_study(spec), spec.search.n_trials)
        assert progress.trained == 12
        proposals += progress.trained + progress.duplicates + progress.infeasible
        waste += progress.duplicates + progress.infeasible
    assert waste / proposals <= 0.05 and waste == 0


@pytest.mark.parametrize("sampler, startup", [("tpe", 6), ("gp", 1)])  # gp after 1: the preset's
def test_the_model_still_finds_the_best_region(tmp_path, no_training, sampler, startup):
    # Guidance kept: after the random start-up trials the model's proposals are not random -- the synthetic
    # score's best configuration (TS, TR distinctive with MOD) is trained in every seed (random search without
    # replacement, the same sampler less the model, trains it in 4 of these 6 seeds: 12 of 18 are drawn).
    found = 0
    for seed in range(6):
        spec = table1(tmp_path, seed, **{"search.sampler": sampler, "search.n_startup_trials": startup})
        optimize(spec, space=SearchSpace(spec))
        best = max(open_study(spec).get_trials(), key=lambda t: t.value or 0.0)
        found += best.params == {"TS": "distinctive", "MOD": "invariant", "TR": "distinctive"}
    assert found == 6


def test_an_exhausted_space_is_trained_once_per_configuration_and_never_an_infeasible_one(tmp_path, no_training):
    # SP: 2 s videos cannot hold 0.5 s clips at 8x; TR distinctive without an invariant factor has no positives.
    spec = tiny_spec(
        tmp_path,
        factors={"TR": {"choices": ["distinctive", "invariant", "off"]}, "SP": {"choices": ["invariant", "off"]},
                 "AUG": {"choices": ["invariant", "off"]}},
        search__sampler="random",
        search__n_trials=None,
    )  # fmt: skip
    space = SearchSpace(spec, DataLimits(num_videos=12, shortest_seconds=2.0, clip_seconds=0.5))
    feasible = len(space.unique_feasible())
    assert 0 < feasible < sum(1 for _ in space.enumerate())
    reason = optimize(spec, space=space)
    assert reason == f"all {feasible} distinct feasible configurations trained"
    progress = study_progress(open_study(spec), None)
    assert (progress.trained, progress.duplicates, progress.infeasible) == (feasible, 0, 0)


class Scripted(optuna.samplers.RandomSampler):
    """A base sampler whose relative proposals are given: what TPE would propose."""

    def __init__(self, proposals: list[dict]):
        super().__init__(seed=0)
        self.proposals, self.calls = proposals, 0

    def infer_relative_search_space(self, study, trial):
        return {
            "TS": CategoricalDistribution(["invariant", "distinctive", "off"]),
            "MOD": CategoricalDistribution(["invariant", "off"]),
            "TR": CategoricalDistribution(["invariant", "distinctive", "off"]),
        }

    def sample_relative(self, study, trial, search_space):
        self.calls += 1
        return self.proposals[min(self.calls, len(self.proposals)) - 1]


def test_the_base_samplers_proposal_is_taken_and_else_the_nearest_untried_one(tmp_path):
    spec = table1(tmp_path, 0)
    space = SearchSpace(spec)
    favourite = {"TS": "distinctive", "MOD": "invariant", "TR": "distinctive"}
    base = Scripted([favourite])
    study = optuna.create_study(sampler=FeasibleSampler(base, space, seed=0, draws=4))

    first = space.suggest(study.ask())
    assert first.params == favourite and base.calls == 1  # untried: taken as proposed, in one draw

    second = space.suggest(study.ask())  # the same proposal again: it is taken, so the nearest untried one
    assert second.key != first.key and agreement(second.params, favourite) == 2
    assert base.calls == 1 + 4  # asked for its next-best guess `draws` times first


def test_a_configuration_is_claimed_once_across_workers(tmp_path):
    spec = table1(tmp_path, 0)
    space = SearchSpace(spec)
    storage = f"sqlite:///{tmp_path / 'claims.db'}"

    # Two workers with the same seed and no model yet would draw the same configuration; the claim separates them.
    def sampler():
        return FeasibleSampler(optuna.samplers.RandomSampler(0), space, seed=3)

    one = optuna.create_study(study_name="s", storage=storage, sampler=sampler())
    two = optuna.load_study(study_name="s", storage=storage, sampler=sampler())
    a, b = space.suggest(one.ask()), space.suggest(two.ask())
    assert a.key != b.key
    frozen = one.get_trials()[0]
    assert not claim(one, a.key, frozen) and claim(one, "another-key", frozen)


def test_an_infinite_space_is_steered_too(tmp_path, no_training):
    # The extended preset (a continuous temperature, many infeasible combinations): before steering 40 of the 120
    # proposals of search seeds 0-2 were infeasible. Now TPE's proposal (completed at random outside its relative
    # search space) is taken when it is feasible and untried, else its next draws, else the nearest of a random pool.
    spec = load_preset(
        "extended",
        {"storage": f"sqlite:///{tmp_path / 'extended.db'}", "search.workers": 1, "search.n_trials": 20,
         "search.pruner.kind": "none"},
    )  # fmt: skip
    assert not SearchSpace(spec).is_finite
    assert optimize(spec, space=SearchSpace(spec)) == "20 trials trained (n_trials = 20)"
    progress = study_progress(open_study(spec), 20)
    assert (progress.trained, progress.duplicates, progress.infeasible) == (20, 0, 0)


def test_two_workers_train_exactly_the_budget(tmp_path, monkeypatch):
    # Two workers on one study (threads here; processes in gdt-search run), 0.3 s per trial. Before, the worker
    # that finished the 11th trial started a 13th while the other still trained the 12th: "trained 13 of 12".
    # Now it waits for the trials in flight and stops if they spend the budget.
    def slow(*args, **kwargs):
        time.sleep(0.3)
        return synthetic(*args, **kwargs)

    monkeypatch.setattr(objective, "train_candidate", slow)
    spec = table1(tmp_path, 0, **{"search.workers": 2})
    space = SearchSpace(spec)
    open_study(spec)  # created once, before the workers race to open it
    reasons: list = []
    workers = [threading.Thread(target=lambda w=w: reasons.append(optimize(spec, None, w, space))) for w in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    progress = study_progress(open_study(spec), spec.search.n_trials)
    assert (progress.trained, progress.duplicates, progress.infeasible) == (12, 0, 0)
    assert reasons == ["12 trials trained (n_trials = 12)"] * 2
