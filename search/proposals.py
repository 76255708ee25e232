"""Proposals that train: the sampler proposes only feasible configurations that no trial of the study has taken,
while the base sampler (TPE, GP) still decides which.

Why: over the raw categorical space TPE keeps re-proposing what it has already trained (the table1 main job: 10
duplicate proposals for 13 trained configurations) and infeasible combinations (the extended preset: a third of
its proposals); each such proposal is a trial that trains nothing. Optuna's constraints only re-weight what was
sampled, and a grid gives up the guidance.

How (`FeasibleSampler`, wrapping the base sampler):
  1. the base sampler makes its relative proposal as usual; if it is feasible and untried -- in a finite space:
     an untried feasible configuration agrees with every value it proposed -- it is taken: the base sampler's
     own choice (parameters outside its relative search space are drawn at random, as its independent sampler
     would at start-up);
  2. otherwise it is asked again, up to `draws` times (TPE draws fresh candidates from l(x) and keeps the best
     by l(x)/g(x) each time, so a later draw is its next-best guess);
  3. failing that, the untried feasible configuration that agrees with most of the drawn values (the nearest
     one to what the base sampler wants) is taken, ties at random; in an infinite space (a continuous
     hyper-parameter) it is the nearest among up to `pool` random feasible untried ones.
Before the base sampler has a model (its start-up trials) the draw is uniform over the untried feasible
configurations: random search without replacement. Each configuration is claimed once, atomically (a unique
row in Optuna's study_system_attributes), so two workers proposing at the same instant never both take it.

A trial that was enqueued with its parameters (a grid point, a dead worker's retry) keeps them. When every
feasible configuration is taken the base sampler proposes freely (the objective reuses the duplicate's
original) and the study's budget ends the study.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search.space import SearchSpace, repr_round

CLAIM_PREFIX = "gdt_claim:"  # study system attribute per claimed configuration (its equivalence key)
CLAIM_ATTR = "gdt_claimed_key"  # the trial's own claim, for anyone reading the raw study


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool | np.bool_):
        return repr_round(float(a)) == repr_round(float(b))
    return a == b


def agreement(params: dict[str, Any], proposal: dict[str, Any]) -> int:
    """How many of the proposal's values the parameter set shares (parameters it does not have are no vote)."""
    return sum(_same(params[name], value) for name, value in proposal.items() if name in params)


def agrees(params: dict[str, Any], proposal: dict[str, Any]) -> bool:
    return all(_same(params[name], value) for name, value in proposal.items() if name in params)


class _Completion:
    """A Suggester that answers from a (partial) proposal and draws every other parameter at random."""

    def __init__(self, proposal: dict[str, Any], rng: np.random.RandomState):
        self.proposal, self.rng = proposal, rng

    def suggest_categorical(self, name, choices):
        return self.proposal[name] if name in self.proposal else choices[self.rng.randint(len(choices))]

    def suggest_int(self, name, low, high):
        return int(self.proposal[name]) if name in self.proposal else int(self.rng.randint(low, high + 1))

    def suggest_float(self, name, low, high, *, step=None, log=False):
        if name in self.proposal:
            return float(self.proposal[name])
        if step is not None:
            return float(low + step * self.rng.randint(int(np.floor((high - low) / step + 1e-9)) + 1))
        if log:
            return float(np.exp(self.rng.uniform(np.log(low), np.log(high))))
        return float(self.rng.uniform(low, high))


class FeasibleSampler(optuna.samplers.BaseSampler):
    """`base`, restricted to feasible configurations of `space` that no trial has taken."""

    def __init__(
        self, base: optuna.samplers.BaseSampler, space: SearchSpace, seed: int | None = None, draws: int = 8,
        pool: int = 64,
    ):  # fmt: skip
        self.base, self.space, self.draws, self.pool = base, space, draws, pool
        self._rng = np.random.RandomState(seed)
        self._options: list[tuple[dict[str, Any], str]] | None = None  # every feasible parameter set, its key
        self._plans: dict[int, dict[str, Any]] = {}  # trial id -> the parameters chosen for it

    @property
    def options(self) -> list[tuple[dict[str, Any], str]]:
        # Every parameter set, not one per class: the base sampler's proposal may be another spelling of an
        # untried configuration (a video-only row's intra-modal switch), and it is taken as proposed.
        if self._options is None:
            self._options = [(c.params, c.key) for c in self.space.enumerate() if c.feasible]
        return self._options

    # -- BaseSampler ---------------------------------------------------------------------------------

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if trial.system_attrs.get("fixed_params"):
            return {}  # enqueued with its parameters: nothing to choose
        plan = self.plan(study, trial, search_space)
        if plan is None:
            return self.base.sample_relative(study, trial, search_space)
        self._plans[trial._trial_id] = plan
        return {name: value for name, value in plan.items() if name in search_space}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        plan = self._plans.get(trial._trial_id)
        if plan is not None and param_name in plan:
            return plan[param_name]
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._plans.pop(trial._trial_id, None)
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._rng.seed()

    # -- the choice ----------------------------------------------------------------------------------

    def plan(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any] | None:
        """The parameters of an untried feasible configuration, claimed for `trial`; None when none is left."""
        taken = taken_keys(study, self.space, exclude=trial.number)
        proposals: list[dict[str, Any]] = []
        choose = self._choose if self.space.is_finite else self._choose_open
        while True:
            choice = choose(taken, proposals, study, trial, search_space)
            if choice is None:
                return None
            params, key = choice
            if claim(study, key, trial):
                return dict(params)
            taken.add(key)  # another worker claimed it a moment ago: choose again

    def _draw(self, proposals, i, study, trial, search_space) -> dict[str, Any] | None:
        """The base sampler's i-th relative proposal for this trial (None: it has no model yet)."""
        if i == len(proposals):
            proposal = self.base.sample_relative(study, trial, search_space) if search_space else {}
            if not proposal:
                return None
            proposals.append(proposal)
        return proposals[i]

    def _choose(self, taken, proposals, study, trial, search_space) -> tuple[dict[str, Any], str] | None:
        untried = [option for option in self.options if option[1] not in taken]
        if not untried:
            return None
        for i in range(self.draws):
            proposal = self._draw(proposals, i, study, trial, search_space)
            if proposal is None:
                break  # no model yet (start-up trials): no guidance to follow
            matching = [option for option in untried if agrees(option[0], proposal)]
            if matching:
                return matching[self._rng.randint(len(matching))]
        return self._nearest(untried, proposals)

    def _choose_open(self, taken, proposals, study, trial, search_space) -> tuple[dict[str, Any], str] | None:
        for i in range(self.draws):
            proposal = self._draw(proposals, i, study, trial, search_space)
            if proposal is None:
                break
            candidate = self.space.suggest(_Completion(proposal, self._rng))
            if candidate.feasible and candidate.key not in taken:
                return candidate.params, candidate.key
        pool = []
        for _ in range(self.pool):  # random feasible untried configurations (rejection sampling of the raw space)
            candidate = self.space.suggest(_Completion({}, self._rng))
            if candidate.feasible and candidate.key not in taken:
                pool.append((candidate.params, candidate.key))
        return self._nearest(pool, proposals) if pool else None

    def _nearest(self, options, proposals) -> tuple[dict[str, Any], str]:
        if not proposals:
            return options[self._rng.randint(len(options))]
        votes = np.array([sum(agreement(option[0], p) for p in proposals) for option in options])
        best = np.flatnonzero(votes == votes.max())
        return options[best[self._rng.randint(len(best))]]


def taken_keys(study: optuna.Study, space: SearchSpace, exclude: int | None = None) -> set[str]:
    """Equivalence keys that a trial of the study has trained, is training, will train (enqueued) or claimed."""
    study = getattr(study, "_study", study)  # Hyperband hands samplers one bracket's view of the study
    attrs = study._storage.get_study_system_attrs(study._study_id)
    taken = {k.removeprefix(CLAIM_PREFIX) for k in attrs if k.startswith(CLAIM_PREFIX)}
    for t in study.get_trials(deepcopy=False):
        if t.number == exclude:
            continue
        if t.state == TrialState.FAIL and not t.user_attrs.get("failure_kind"):
            continue  # a dead worker's trial: its retry is enqueued with the same parameters
        key = t.user_attrs.get("equivalence_key") or t.system_attrs.get(CLAIM_ATTR)
        if key is None and t.state == TrialState.WAITING:
            try:
                key = space.from_params(t.system_attrs.get("fixed_params") or {}).key
            except KeyError:
                key = None
        if key is not None:
            taken.add(key)
    return taken


def claim(study: optuna.Study, key: str, trial: FrozenTrial) -> bool:
    """Claim configuration `key` for `trial`: True for exactly one caller per study, whatever the timing.

    On an RDB storage the claim is an INSERT into study_system_attributes, whose (study_id, key) is unique; the
    first insert wins on SQLite and PostgreSQL alike (as `optuna_backend.claim_retry` does for retries)."""
    import sqlalchemy

    study = getattr(study, "_study", study)
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna wraps an RDBStorage in a cache
    name, value = CLAIM_PREFIX + key, json.dumps(trial.number)
    if isinstance(storage, optuna.storages.RDBStorage):
        insert = sqlalchemy.text(
            "INSERT INTO study_system_attributes (study_id, key, value_json) VALUES (:study_id, :key, :value)"
        )
        try:
            with storage.engine.begin() as connection:
                connection.execute(insert, {"study_id": study._study_id, "key": name, "value": value})
        except sqlalchemy.exc.IntegrityError:
            return False
    else:  # in-memory storage: one process, no race
        if name in study._storage.get_study_system_attrs(study._study_id):
            return False
        study._storage.set_study_system_attr(study._study_id, name, trial.number)
    study._storage.set_trial_system_attr(trial._trial_id, CLAIM_ATTR, key)
    return True
