"""Parameter importance: the one computation behind `gdt-search run`'s report, `GET /studies/{id}/importance`,
the client's `importance()` and the dashboard's importance panel.

Inputs are the study's trained configurations only: completed trials that trained, with a score. A duplicate
(it reused an equivalent trial's result), an infeasible proposal, a pruned or a failed trial is no sample.
The measure is Optuna's fANOVA, refitted with `SEEDS` forest seeds: each parameter's importance is the mean
over the seeds and its spread the sd, so a reader sees how much of an answer is the forest's own noise.
Below `MIN_TRAINED` trained configurations the answer is "not enough trained configurations (n of m)".

Both ways in -- an Optuna study (`from_study`, the CLI) and the service's recorded trials (`from_samples`,
the API and the dashboard) -- reduce to the same (trial number, params, score) samples, in trial order, with
each parameter's distribution inferred from the values it took, so the same study gives the same numbers.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

MIN_TRAINED = 8  # fewer trained configurations say nothing about importance: a forest on 7 points is noise
SEEDS = (0, 1, 2, 3, 4)
MAX_TRIALS = 1000  # beyond this, a seeded sample (stated in the note): a 10,000-trial study answers in seconds
N_TREES, MAX_DEPTH = 16, 8  # smaller than Optuna's default forest (64, 64): same ranking on our studies, ~8x faster
CHOICE_ORDER = ("invariant", "distinctive", "ignore", "off")

Sample = tuple[int, dict, float]  # (trial number, params as recorded, score)


@dataclass
class ParamImportances:
    """`importances`: parameter -> mean fANOVA importance over the seeds (largest first); `sd`: its spread
    over the seeds. `trained`: how many trained configurations it rests on; `trials`: how many trials the
    study has (every state); `minimum`: how many trained configurations it needs; `note`: why there are none,
    or what was sampled."""

    importances: dict[str, float] = field(default_factory=dict)
    sd: dict[str, float] = field(default_factory=dict)
    trained: int = 0
    trials: int = 0
    minimum: int = MIN_TRAINED
    seeds: int = len(SEEDS)
    note: str | None = None

    def line(self) -> str:
        """One line for a report: 'TR 0.62 ± 0.04, ...' or the note."""
        if not self.importances:
            return f"parameter importances: {self.note}"
        values = ", ".join(f"{k} {v:.2f} ± {self.sd[k]:.2f}" for k, v in self.importances.items())
        return (
            f"parameter importances (Optuna fANOVA, mean ± sd over {self.seeds} forest seeds, on {self.trained}"
            f" trained configurations): {values}" + (f"; {self.note}" if self.note else "")
        )


def not_enough(trained: int, minimum: int = MIN_TRAINED) -> str:
    return (
        f"not enough trained configurations ({trained} of {minimum}): importance needs at least {minimum}"
        " completed trials that trained (duplicates, infeasible, pruned and failed trials do not count)"
    )


def from_study(study: optuna.Study) -> ParamImportances:
    """The importances of an Optuna study run by either backend (their trials carry the objective's attributes)."""
    trials = study.get_trials(deepcopy=False)
    samples = [
        (t.number, dict(t.params), float(t.values[0]))
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.user_attrs.get("trained")
        and "duplicate_of" not in t.user_attrs
        and t.values
        and math.isfinite(t.values[0])
    ]
    return from_samples(samples, len(trials))


def from_samples(samples: Iterable[Sample], n_trials: int, max_trials: int = MAX_TRIALS) -> ParamImportances:
    """The importances from the trained configurations' (number, params, score), whatever their order. Trials with
    the same params (a configuration trained twice) are one configuration: their mean score, counted once."""
    by_params: dict[str, list] = {}
    for number, params, value in sorted(samples, key=lambda s: s[0]):
        by_params.setdefault(json.dumps(params, sort_keys=True, default=str), []).append((number, params, value))
    samples = [(group[0][0], group[0][1], sum(v for _, _, v in group) / len(group)) for group in by_params.values()]
    trained = len(samples)
    if trained < MIN_TRAINED:
        return ParamImportances(trained=trained, trials=n_trials, note=not_enough(trained))
    note = None
    if trained > max_trials:
        note = f"on a seeded random sample of {max_trials} of {trained} trained configurations"
        samples = sorted(random.Random(0).sample(samples, max_trials), key=lambda s: s[0])
    names = list(dict.fromkeys(name for _, params, _ in samples for name in params))
    distributions = {}
    for name in names:
        distribution = _distribution([p[name] for _, p, _ in samples if p.get(name) is not None])
        if distribution is not None:
            distributions[name] = distribution
    if not distributions:
        return ParamImportances(trained=trained, trials=n_trials, note="every searched parameter took one value")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line per request
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    trials = []
    for _, params, score in samples:
        used = {n: v for n, v in params.items() if n in distributions and v is not None}
        trials.append(
            optuna.trial.create_trial(
                params=used, distributions={n: distributions[n] for n in used}, value=float(score)
            )
        )
    study.add_trials(trials)
    runs: list[dict[str, float]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for seed in SEEDS:
                evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=N_TREES, max_depth=MAX_DEPTH, seed=seed)
                runs.append(optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True))
    except (ValueError, RuntimeError, ZeroDivisionError) as error:
        return ParamImportances(trained=trained, trials=n_trials, note=f"not available: {error}")
    mean = {n: sum(r.get(n, 0.0) for r in runs) / len(runs) for n in distributions}
    sd = {
        n: math.sqrt(sum((r.get(n, 0.0) - mean[n]) ** 2 for r in runs) / (len(runs) - 1)) if len(runs) > 1 else 0.0
        for n in distributions
    }
    order = sorted(mean, key=lambda n: (-mean[n], n))
    return ParamImportances(
        {n: float(mean[n]) for n in order}, {n: float(sd[n]) for n in order}, trained, n_trials, note=note
    )


def _label_order(label: str) -> tuple:
    return (CHOICE_ORDER.index(label) if label in CHOICE_ORDER else len(CHOICE_ORDER), label)


def _distribution(values: list):
    """The Optuna distribution that covers the recorded values, or None if there is nothing to vary."""
    import optuna.distributions as d

    distinct = set(values)
    if len(distinct) < 2:
        return None
    if all(isinstance(v, bool | str) for v in values):
        return d.CategoricalDistribution(sorted(distinct, key=lambda v: _label_order(str(v))))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return d.IntDistribution(min(values), max(values))
    return d.FloatDistribution(float(min(values)), float(max(values)))
