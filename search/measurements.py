"""What a study measured: one entry per (configuration, hyper-parameters), with every seed's score.

The statistics (the configurations' intervals, search.effects, search.best) all start here, from either
surface -- an Optuna study (`from_study`, the CLI) or the service's recorded trials (the API and the
dashboard, which pass the same (number, config, settings, params, seed scores) tuples to `fold`) -- so both give the
same numbers. Only trained configurations count: completed trials that trained; a duplicate, an
infeasible proposal, a pruned or a failed trial is no measurement. Trials of one configuration with the
same hyper-parameters (trained twice, e.g. by two workers) pool their seeds' scores in one entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from core.gdt.factors import CATALOGUE
from search.intervals import Estimate, estimate

# A trial as both surfaces see it: (trial number, configuration notation, its settings record -- factor ->
# {"choice", "k"} as recorded with the trial (search.space.Candidate.settings_record; None: recorded without
# one) --, params as recorded, seeds' scores).
Sample = tuple[int, str, Mapping[str, Mapping[str, Any]] | None, Mapping[str, Any], Sequence[float]]


def hyper_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters that are not a factor's choice or K: hyper-parameters, clip budget, pair switches.
    Table 1 shows them as columns, and effects pair configurations only where they are equal."""
    return {k: v for k, v in params.items() if k not in CATALOGUE and not k.startswith("K_")}


@dataclass
class Measured:
    """One configuration with one set of hyper-parameters; `values`: its seeds' scores (every training's)."""

    config: str
    hyper: dict[str, Any]
    values: list[float]
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


def fold(samples: Iterable[Sample]) -> list[Measured]:
    """One entry per (configuration, hyper-parameters), in order of the first trial that trained it."""
    out: dict[tuple[str, str], Measured] = {}
    for number, config, settings, params, values in sorted(samples, key=lambda s: s[0]):
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not finite:
            continue
        hyper = hyper_of(params or {})
        key = (config, json.dumps(hyper, sort_keys=True, default=str))
        entry = out.setdefault(key, Measured(config, hyper, [], settings=dict(settings or {})))
        entry.values.extend(finite)
        entry.numbers.append(int(number))
    return list(out.values())


def seed_values(values: Sequence[float] | None, seed_scores: Sequence[float] | None) -> list[float]:
    """A trial's seeds' scores; a trial recorded before replicates existed has its one score."""
    if seed_scores:
        return [float(v) for v in seed_scores if v is not None]
    return [float(values[0])] if values and values[0] is not None else []


def from_study(study: optuna.Study) -> list[Measured]:
    """The trained configurations of an Optuna study run by either backend."""
    samples = [
        (
            t.number,
            t.user_attrs.get("config", ""),
            t.user_attrs.get("settings"),
            t.params,
            seed_values(t.values, t.user_attrs.get("seed_values")),
        )
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
        and t.user_attrs.get("trained")
        and "duplicate_of" not in t.user_attrs
        and t.values
        and math.isfinite(t.values[0])
    ]
    return fold(samples)
