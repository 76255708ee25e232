"""The untrained-encoder baseline of a study: what its objective scores before any training.

A trained configuration's score means something only next to two references: chance (1 / proxy classes,
search.best) and the same encoders untrained. The untrained encoder is not at chance -- random
convolutions of frame differences already separate some classes -- so a study measures it once, for each
of its training seeds (`run_trial` starts every configuration from exactly these weights: common random
numbers), and keeps it in the Optuna study's user attributes, so a resumed run or another worker reuses it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import optuna

from search.intervals import Estimate, estimate
from search.objective import score
from search.spec import TRAIN_HYPERPARAMETERS, StudySpec

BASELINE_ATTR = "gdt_baseline"


def measure_baseline(spec: StudySpec) -> dict[str, Any]:
    """{"seeds", "values", and the estimate's mean / n / sd / low / high} of the objective, untrained."""
    from core.trial import untrained_evaluation

    # Training hyper-parameters play no part in an untrained encoder; a searched one takes any value in range.
    hyper = {name: _any_value(spec.hyper(name)) for name in TRAIN_HYPERPARAMETERS}
    seeds = spec.training_seeds()
    evaluations = [untrained_evaluation(spec.trial_spec(hyper, seed=s)).scores for s in seeds]
    values = [score(e, spec.objective) for e in evaluations]
    # the objective's chance level on the same proxy: each metric's (core.evaluation.metrics.chance_scores),
    # weighted like the objective; the same for every seed unless a seeded subset of the proxy differs
    chance = [score(replace(e, **e.chance), spec.objective) for e in evaluations]
    return {"seeds": seeds, "values": values, **estimate(values).as_dict(), "chance": sum(chance) / len(chance)}


def study_baseline(study: optuna.Study, spec: StudySpec) -> dict[str, Any]:
    """The study's baseline, measured on first use and stored with the study."""
    stored = study.user_attrs.get(BASELINE_ATTR)
    if stored is not None and stored.get("seeds") == spec.training_seeds():
        return stored
    baseline = measure_baseline(spec)
    study.set_user_attr(BASELINE_ATTR, baseline)
    return baseline


def baseline_text(baseline: dict[str, Any] | None) -> str | None:
    """'untrained encoder: 0.184 [0.170, 0.198], 2 seeds' (None when the study has none)."""
    if not baseline:
        return None
    fields = {k: baseline.get(k) for k in ("mean", "n", "sd", "low", "high")}
    return f"untrained encoder (same seeds, no training): {Estimate(**fields).text()}"


def _any_value(hyper) -> float:
    if isinstance(hyper, int | float):
        return float(hyper)
    low = getattr(hyper, "low", None)
    return float(low if low is not None else hyper.choices[0])
