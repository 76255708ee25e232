"""What a study measured: one entry per (configuration, hyper-parameters), with every seed's score.

The statistics (the configurations' intervals, search.effects, search.best) all start here, from either
surface -- an Optuna study (`from_study`, the CLI) or the service's recorded trials (the API and the
dashboard, which pass the same (number, config, settings, params, seed scores) tuples to `fold`) -- so both give the
same numbers. Only trained configurations count: completed trials that trained; a duplicate, an
infeasible proposal, a pruned or a failed trial is no measurement. Trials of one configuration with the
same hyper-parameters (trained twice, e.g. by two workers) share one entry, and since every trial of a study
trains the same seeds (common random numbers), a second training repeats seed i rather than adding a new
seed: the entry holds one score per seed, the mean of its trainings' (`pool_trainings`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from core.gdt.factors import CATALOGUE
from search.intervals import Estimate, estimate

# A trial as both surfaces see it: (trial number, configuration notation, its settings record -- factor ->
# {"choice", "k"} as recorded with the trial (search.space.Candidate.settings_record; None: recorded without
# one) --, params as recorded, seeds' scores in seed order, None for a seed without a finite score).
Sample = tuple[int, str, Mapping[str, Mapping[str, Any]] | None, Mapping[str, Any], Sequence[float | None]]


def hyper_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters that are not a factor's choice or K: hyper-parameters, clip budget, pair switches.
    Table 1 shows them as columns, and effects pair configurations only where they are equal."""
    return {k: v for k, v in params.items() if k not in CATALOGUE and not k.startswith("K_")}


@dataclass
class Measured:
    """One configuration with one set of hyper-parameters; `values`: one score per seed (a seed trained more
    than once: the mean of its trainings), `seeds` the seeds' positions in the study's training seeds."""

    config: str
    hyper: dict[str, Any]
    values: list[float]
    seeds: list[int] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # the trials that trained it
    # factor -> {"choice": "distinctive", "k": 2}, DS first, as recorded with the trials ({}: recorded without)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def estimate(self) -> Estimate:
        return estimate(self.values)

    @property
    def label(self) -> str:
        """The configuration, then its hyper-parameters when it has searched ones."""
        hyper = " ".join(f"{k}={_short(v)}" for k, v in sorted(self.hyper.items()))
        return f"{self.config} {hyper}".strip()


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def pool_trainings(trainings: Iterable[Sequence[float | None]]) -> tuple[list[int], list[float]]:
    """One configuration's trainings (each a list of seeds' scores in seed order) as one score per seed: the
    seeds' positions and, for each, the mean of its finite scores. A configuration trained twice with the same
    seeds has as many independent measurements as it had once; counting both copies would narrow its interval
    by sqrt(2) with no new information."""
    by_seed: dict[int, list[float]] = defaultdict(list)
    for scores in trainings:
        for seed, value in enumerate(scores):
            if value is not None and math.isfinite(float(value)):
                by_seed[seed].append(float(value))
    seeds = sorted(by_seed)
    return seeds, [sum(by_seed[s]) / len(by_seed[s]) for s in seeds]


def fold(samples: Iterable[Sample]) -> list[Measured]:
    """One entry per (configuration, hyper-parameters), in order of the first trial that trained it."""
    groups: dict[tuple[str, str], tuple[Measured, list[Sequence[float | None]]]] = {}
    for number, config, settings, params, values in sorted(samples, key=lambda s: s[0]):
        if not any(v is not None and math.isfinite(v) for v in values):
            continue  # no seed scored
        hyper = hyper_of(params or {})
        key = (config, json.dumps(hyper, sort_keys=True, default=str))
        entry, trainings = groups.setdefault(key, (Measured(config, hyper, [], settings=dict(settings or {})), []))
        trainings.append(values)
        entry.numbers.append(int(number))
    for entry, trainings in groups.values():
        entry.seeds, entry.values = pool_trainings(trainings)
    return [entry for entry, _ in groups.values()]


def seeds_in_order(values: Sequence[float] | None, seed_scores: Sequence[float | None] | None) -> list[float | None]:
    """A trial's seeds' scores in seed order (None: a seed without a finite score); a trial recorded before
    replicates existed has its one score."""
    if seed_scores:
        return [None if v is None else float(v) for v in seed_scores]
    return [float(values[0])] if values and values[0] is not None else []


def seed_values(values: Sequence[float] | None, seed_scores: Sequence[float | None] | None) -> list[float]:
    """A trial's seeds' finite scores: what one trial's interval rests on."""
    return [v for v in seeds_in_order(values, seed_scores) if v is not None and math.isfinite(v)]


def trial_estimate(values: Sequence[float] | None, seed_scores: Sequence[float | None] | None) -> Estimate | None:
    """One trial's score as a measurement: the mean of its seeds with its interval and n (None: no score). The
    CLI's progress line, the trial listing and the study listing all show it this way."""
    scores = seed_values(values, seed_scores)
    return estimate(scores) if scores else None


def from_study(study: optuna.Study) -> list[Measured]:
    """The trained configurations of an Optuna study run by either backend."""
    samples = [
        (
            t.number,
            t.user_attrs.get("config", ""),
            t.user_attrs.get("settings"),
            t.params,
            seeds_in_order(t.values, t.user_attrs.get("seed_values")),
        )
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
        and t.user_attrs.get("trained")
        and "duplicate_of" not in t.user_attrs
        and t.values
        and math.isfinite(t.values[0])
    ]
    return fold(samples)
