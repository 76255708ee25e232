"""Proxy calibration: does a short trial rank configurations as a longer training does?

A search compares configurations by their score at the study's trial budget, and a pruner compares them
by intermediate scores on the way. Both are worth something only if they rank configurations the way a
longer training would. Calibration measures that on the study's own space, before the search trusts it:
a random sample of feasible configurations is trained with the study's seeds

- at each candidate budget (by default a third of the study's and the study's own), the study's budget
  with intermediate evaluations (what a pruner would see),
- and at a reference budget (by default 4x the study's), the ranking the others should agree with.

It reports, per budget, Kendall's tau between the budget's ranking (mean over seeds) and the reference's,
with a bootstrap 95 % interval over configurations, and the ICC (the between-configuration share of one
score's variance; needs 2 seeds); per intermediate step, tau between the intermediate scores and the same
trials' final scores. It recommends the shortest budget whose tau reaches the threshold, and the steps at
which a pruner may act (tau of intermediate vs final scores at least the threshold). The result is stored
with the Optuna study (user attribute `gdt_calibration`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna

from search.space import Candidate, SearchSpace
from search.spec import StudySpec

log = logging.getLogger(__name__)

CALIBRATION_ATTR = "gdt_calibration"
THRESHOLD = 0.6  # tau at which a ranking counts as agreeing (the signal issue's bar)
# ... and only if rankings with no association would rarely reach it: with 6 configurations a tau of 0.6 comes
# from unrelated rankings 7 % of the time (p 0.068), so a calibration of a few configurations must agree more.
AGREEMENT_ALPHA = 0.05
BOOTSTRAP = 2000


def icc1(matrix: np.ndarray) -> float | None:
    """One-way random-effects ICC(1) of a (configurations, seeds) matrix: the share of one measurement's
    variance that lies between configurations. None with fewer than 2 seeds or 2 configurations."""
    matrix = np.asarray(matrix, dtype=float)
    n, k = matrix.shape
    if n < 2 or k < 2:
        return None
    between = k * ((matrix.mean(1) - matrix.mean()) ** 2).sum() / (n - 1)
    within = ((matrix - matrix.mean(1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    if between + (k - 1) * within == 0:
        return None  # every score equal: nothing to apportion
    return float((between - within) / (between + (k - 1) * within))


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Kendall's tau-b between two score lists over the same configurations (None when either is constant)."""
    if len(a) < 2:
        return None
    from scipy import stats  # here, not at the top: SciPy takes a second to import

    value = stats.kendalltau(a, b)[0]
    return None if value is None or math.isnan(value) else float(value)


def tau_b_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of two (rows, n) arrays at once (NaN where a row is constant): the
    bootstrap's thousands of resamples in one pass instead of one scipy call each."""
    i, j = np.triu_indices(a.shape[1], k=1)
    da, db = np.sign(a[:, i] - a[:, j]), np.sign(b[:, i] - b[:, j])
    pairs = len(i)
    untied = (pairs - (da == 0).sum(1)) * (pairs - (db == 0).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(untied > 0, (da * db).sum(1) / np.sqrt(untied), np.nan)


@dataclass(frozen=True)
class Agreement:
    """Kendall tau between two rankings of `n` configurations, with a bootstrap 95 % interval over them and `p`,
    the chance of a tau this large from rankings with no association (one-sided; exact for few configurations)."""

    tau: float | None
    low: float | None
    high: float | None
    n: int
    p: float | None = None

    def text(self) -> str:
        if self.tau is None:
            return f"no ranking ({self.n} configurations, or constant scores)"
        if self.low is not None:
            interval = f" [{self.low:+.2f}, {self.high:+.2f}]"
        elif abs(self.tau) > 1 - 1e-9:  # every resample ranks alike: a bootstrap cannot show how far off it may be
            interval = f" (no interval: every pair {'agrees' if self.tau > 0 else 'disagrees'})"
        else:
            interval = " (no interval)"
        chance = f", p {self.p:.3f} with no association" if self.p is not None else ""
        return f"tau {self.tau:+.2f}{interval}{chance}, {self.n} configurations"


def agreement(a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP) -> Agreement:
    """tau(a, b), its percentile bootstrap interval -- configurations resampled with replacement (a resample
    whose ranking is undefined, e.g. one configuration drawn every time, is left out) -- and the one-sided p of
    no association. A tau of +-1 has no interval: every resample agrees in every pair, so the bootstrap's
    [1, 1] would claim a certainty that a handful of configurations cannot give; its p says how rare it is."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    point = kendall_tau(a, b)
    if point is None or len(a) < 3:
        return Agreement(point, None, None, len(a))
    from scipy import stats

    p = float(stats.kendalltau(a, b, alternative="greater").pvalue)
    if abs(point) > 1 - 1e-9:
        return Agreement(point, None, None, len(a), p)
    rows = np.random.default_rng(seed).integers(0, len(a), (resamples, len(a)))
    draws = tau_b_rows(a[rows], b[rows])
    draws = draws[~np.isnan(draws)]
    if len(draws) < resamples // 2:
        return Agreement(point, None, None, len(a), p)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Agreement(point, float(low), float(high), len(a), p)


@dataclass
class Calibration:
    """What a calibration measured and what it recommends (JSON-ready via `as_dict`)."""

    configurations: list[str]
    seeds: list[int]
    reference_steps: int
    study_steps: int
    threshold: float
    # steps -> per configuration, the score of each seed (the reference among them)
    scores: dict[int, list[list[float]]] = field(default_factory=dict)
    # intermediate step of the study-budget run -> per configuration, the first seed's score there
    intermediate: dict[int, list[float]] = field(default_factory=dict)
    design: str | None = None  # `trial_design` of the calibrated study (None: stored before designs were kept)

    def budgets(self) -> list[int]:
        return sorted(s for s in self.scores if s != self.reference_steps)

    def reference_means(self) -> np.ndarray:
        return np.asarray(self.scores[self.reference_steps], dtype=float).mean(1)

    def budget_agreement(self, steps: int) -> Agreement:
        return agreement(np.asarray(self.scores[steps], dtype=float).mean(1), self.reference_means())

    def step_agreement(self, step: int) -> Agreement:
        """Intermediate scores at `step` against the same (first-seed) runs' final scores at the study's budget."""
        final = [seeds[0] for seeds in self.scores[self.study_steps]]
        return agreement(self.intermediate[step], final)

    def recommended_steps(self) -> int | None:
        """The shortest budget whose ranking agrees with the reference's (tau >= threshold, p < AGREEMENT_ALPHA);
        None if none does."""
        agreeing = [s for s in self.budgets() if self._agrees(self.budget_agreement(s))]
        return min(agreeing) if agreeing else None

    def pruning_steps(self) -> list[int]:
        """Intermediate steps whose scores rank like the final ones (tau >= threshold, p < AGREEMENT_ALPHA): where a
        pruner may act."""
        return sorted(s for s in self.intermediate if self._agrees(self.step_agreement(s)))

    def bar(self) -> str:
        """What 'ranks like' means here, as the report and the pruning line say it."""
        return f"tau >= {self.threshold:g}, p < {AGREEMENT_ALPHA:g}"

    def _agrees(self, agreement: Agreement) -> bool:
        return (agreement.tau is not None and agreement.tau >= self.threshold
                and agreement.p is not None and agreement.p < AGREEMENT_ALPHA)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        budgets = {str(s): asdict(self.budget_agreement(s)) | {"icc": icc1(np.asarray(self.scores[s]))}
                   for s in self.budgets()}  # fmt: skip
        steps = {str(s): asdict(self.step_agreement(s)) for s in sorted(self.intermediate)}
        return {
            "configurations": self.configurations,
            "seeds": self.seeds,
            "reference_steps": self.reference_steps,
            "study_steps": self.study_steps,
            "threshold": self.threshold,
            "scores": {str(s): v for s, v in self.scores.items()},
            "intermediate": {str(s): v for s, v in self.intermediate.items()},
            "budgets": budgets,
            "reference_icc": icc1(np.asarray(self.scores[self.reference_steps])),
            "steps": steps,
            "recommended_steps": self.recommended_steps(),
            "pruning_steps": self.pruning_steps(),
            "design": self.design,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            configurations=list(data["configurations"]),
            seeds=list(data["seeds"]),
            reference_steps=int(data["reference_steps"]),
            study_steps=int(data["study_steps"]),
            threshold=float(data["threshold"]),
            scores={int(s): v for s, v in data["scores"].items()},
            intermediate={int(s): v for s, v in data["intermediate"].items()},
            design=data.get("design"),
        )


def report(calibration: Calibration) -> str:
    """The calibration as a researcher reads it: one line per budget and per intermediate step, then the advice."""
    c = calibration
    seeds = f"{len(c.seeds)} seed{'s' if len(c.seeds) > 1 else ''}"
    reference_icc = icc1(np.asarray(c.scores[c.reference_steps]))
    lines = [
        f"Calibration: {len(c.configurations)} configurations x {seeds}; reference: {c.reference_steps} steps"
        + (f" (ICC {reference_icc:.2f})" if reference_icc is not None else ""),
    ]
    for steps in c.budgets():
        icc = icc1(np.asarray(c.scores[steps]))
        mark = " (the study's)" if steps == c.study_steps else ""
        lines.append(f"  {steps:>6} steps{mark}: {c.budget_agreement(steps).text()} vs the reference"
                     + (f"; ICC {icc:.2f}" if icc is not None else "; ICC needs 2 seeds"))  # fmt: skip
    for step in sorted(c.intermediate):
        lines.append(f"  intermediate at step {step}: {c.step_agreement(step).text()} vs the final scores")
    recommended = c.recommended_steps()
    if recommended is None:
        lines.append(f"No budget tried ranks like the reference ({c.bar()}): train longer, or compare"
                     " with care.")  # fmt: skip
    else:
        lines.append(f"Shortest budget that ranks like the reference ({c.bar()}): {recommended} steps.")
    pruning = c.pruning_steps()
    lines.append(
        f"A pruner may act at steps {', '.join(map(str, pruning))}." if pruning else
        "No intermediate step ranks like the final scores: a pruner would stop trials on noise; it is not used."
    )  # fmt: skip
    return "\n".join(lines)


def trial_design(spec: StudySpec) -> str:
    """A fingerprint of what a trial's score depends on besides its configuration, seed and budget: data,
    encoders, training and evaluation settings, threads, clip budget, hyper-parameters and objective. A
    calibration speaks for studies of its design (and budget) only."""
    dump = spec.model_dump(mode="json")
    trial = {k: v for k, v in dump["trial"].items() if k not in ("steps", "eval_every", "seed", "checkpoint_every")}
    keys = ("clip_budget", "hyperparameters", "data", "encoders", "evaluation", "device", "objective")
    design = {k: dump[k] for k in keys} | {"trial": trial, "threads": spec.threads_per_trial}
    if spec.clip_budget_counts != "clips":  # named only when set, so that saved calibrations keep their design
        design["clip_budget_counts"] = spec.clip_budget_counts
    return hashlib.sha1(json.dumps(design, sort_keys=True).encode()).hexdigest()[:12]


def adopt_calibration(spec: StudySpec, data: dict[str, Any]) -> Calibration:
    """A calibration saved by `gdt-search calibrate --out` (its JSON, parsed), checked to speak for `spec`'s
    trials: the same design and trial budget. Raises ValueError saying what differs."""
    try:
        calibration = Calibration.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a calibration (gdt-search calibrate --out writes one): {error!r}") from None
    if calibration.design is None:
        raise ValueError("it records no trial design (saved by an older gdt-search): calibrate again")
    ours = trial_design(spec)
    if calibration.design != ours:
        raise ValueError(f"it calibrated another trial design ({calibration.design}; this study's is {ours}):"
                         " data, encoders, training, evaluation or objective differ")  # fmt: skip
    if calibration.study_steps != spec.trial.steps:
        raise ValueError(f"it calibrated {calibration.study_steps}-step trials; this study trains {spec.trial.steps}")
    return calibration


def sample_configurations(space: SearchSpace, n: int, seed: int = 0) -> list[Candidate]:
    """`n` distinct feasible configurations drawn at random from the space (all of them when it has fewer)."""
    if space.is_finite:
        feasible = space.unique_feasible()
        return random.Random(seed).sample(feasible, min(n, len(feasible)))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    chosen: dict[str, Candidate] = {}
    for _ in range(1000 * n):  # rejection: an infinite space still has infeasible corners
        candidate = space.suggest(study.ask())
        if candidate.feasible:
            chosen.setdefault(candidate.key, candidate)
        if len(chosen) == n:
            break
    return list(chosen.values())


def calibrate(
    spec: StudySpec,
    configurations: int = 6,
    budgets: Sequence[int] | None = None,
    reference_steps: int | None = None,
    eval_every: int | None = None,
    threshold: float = THRESHOLD,
    seed: int = 0,
    on_trained: Callable[[str, int, float], None] | None = None,
) -> Calibration:
    """Train a sample of the spec's configurations at each budget and at the reference budget (see the module).

    Defaults: budgets a third of the study's and the study's own, the reference 4x the study's, intermediate
    evaluations of the study-budget run every `trial.eval_every` steps (else a third of the budget).
    `on_trained(configuration, steps, score)` hears each finished training (for progress lines).
    """
    from search.objective import train_candidate

    study_steps = spec.trial.steps
    budgets = sorted(set(budgets or [max(1, study_steps // 3), study_steps]) | {study_steps})
    reference_steps = reference_steps or 4 * study_steps
    if reference_steps <= max(budgets):
        raise ValueError(f"reference_steps ({reference_steps}) must be longer than every budget ({max(budgets)})")
    eval_every = eval_every or spec.trial.eval_every or max(1, study_steps // 3)
    space = SearchSpace(spec)
    candidates = sample_configurations(space, configurations, seed)
    if len(candidates) < 3:
        raise ValueError(f"the space has {len(candidates)} feasible configurations: a ranking needs at least 3")
    result = Calibration(
        configurations=[c.describe() for c in candidates],
        seeds=spec.training_seeds(),
        reference_steps=reference_steps,
        study_steps=study_steps,
        threshold=threshold,
        design=trial_design(spec),
    )
    for steps in [*budgets, reference_steps]:
        is_study = steps == study_steps
        # No pruner here: calibration trains every configuration to its end.
        run_spec = spec.model_copy(update={
            "trial": spec.trial.model_copy(update={"steps": steps, "eval_every": eval_every if is_study else None}),
            "search": spec.search.model_copy(update={"pruner": spec.search.pruner.model_copy(update={"kind": "none"})}),
        })  # fmt: skip
        per_config = []
        for candidate in candidates:
            seen: dict[int, float] = {}

            def keep(step: int, value: float, seen=seen) -> bool:
                seen[step] = value
                return False

            trained = train_candidate(run_spec, candidate, keep if is_study else None)
            per_seed = [run["values"][0] for run in trained.replay["seeds"]]
            per_config.append(per_seed)
            if is_study:
                for step, value in seen.items():
                    result.intermediate.setdefault(step, []).append(value)
            if on_trained is not None:
                on_trained(candidate.describe(), steps, sum(per_seed) / len(per_seed))
        result.scores[steps] = per_config
    return result


def study_calibration(study: optuna.Study) -> Calibration | None:
    """The calibration stored with an Optuna study (None when it has none)."""
    stored = study.user_attrs.get(CALIBRATION_ATTR)
    return Calibration.from_dict(stored) if stored else None


def store_calibration(study: optuna.Study, calibration: Calibration) -> None:
    study.set_user_attr(CALIBRATION_ATTR, calibration.as_dict())


def ensure_calibration(spec: StudySpec, study: optuna.Study, on_trained=None) -> Calibration | None:
    """With `search.calibration` set: the study's calibration for its trial budget, run and stored first if it
    has none (so a resumed study or another worker reuses it). Without: whatever `gdt-search calibrate` stored."""
    stored = study_calibration(study)
    options = spec.search.calibration
    if options is None or (stored is not None and stored.study_steps == spec.trial.steps):
        return stored
    calibration = calibrate(spec, options.configurations, options.budgets, options.reference_steps,
                            threshold=options.threshold, on_trained=on_trained)  # fmt: skip
    store_calibration(study, calibration)
    return calibration


def record_calibration(spec: StudySpec, study: optuna.Study, recorder) -> None:
    """Before any trial: calibrate if the spec asks (once per study), then tell the recorder the calibration
    and where the pruner will act."""

    def heard(config: str, steps: int, value: float) -> None:
        log.info("calibration: %s at %d steps: %.4f", config, steps, value)

    calibration = ensure_calibration(spec, study, on_trained=heard)
    _, pruning = pruning_gate(spec, calibration)
    if calibration is not None or pruning is not None:
        recorder.calibration_measured(spec.name, calibration.as_dict() if calibration else None, pruning)


def pruning_gate(spec: StudySpec, calibration: Calibration | None) -> tuple[set[int] | None, str | None]:
    """Where the study's pruner may act: (None = at every step, or the set of steps) and a line that says why.

    A pruner stops a trial because its intermediate score is low; that is sound only at steps where
    intermediate scores rank configurations like final scores do, which only a calibration can tell. The
    study's trials evaluate at these steps only (`search.objective.train_candidate`): an evaluation no
    decision reads costs a proxy evaluation for nothing."""
    kind = spec.search.pruner.kind
    if kind == "none":
        return None, None
    if not spec.search.pruner.require_calibration:
        return None, f"pruner '{kind}' acts on uncalibrated intermediate scores (search.pruner.require_calibration)"
    skipped = "; trials make no intermediate evaluations"
    if calibration is None:
        return set(), (f"pruner '{kind}' not used: nothing shows that this study's intermediate scores rank like"
                       " its final scores (run `gdt-search calibrate` on the study, or set search.calibration)"
                       f"{skipped}")  # fmt: skip
    if calibration.study_steps != spec.trial.steps:
        return set(), (f"pruner '{kind}' not used: the study's calibration is for {calibration.study_steps}-step"
                       f" trials, the study trains {spec.trial.steps} steps{skipped}")  # fmt: skip
    calibrated = calibration.pruning_steps()
    if not calibrated:
        return set(), (f"pruner '{kind}' not used: at no intermediate step do scores rank like the final ones"
                       f" (Kendall {calibration.bar()}){skipped}")  # fmt: skip
    every = spec.trial.eval_every
    steps = [step for step in calibrated if every and step % every == 0]  # the study evaluates only there
    if not steps:
        return set(), (f"pruner '{kind}' not used: the calibrated steps ({', '.join(map(str, calibrated))}) are not"
                       f" among the study's evaluation steps (trial.eval_every {every}){skipped}")  # fmt: skip
    where = ", ".join(map(str, steps))
    return set(steps), f"pruner '{kind}' acts at steps {where} (calibrated); trials evaluate there only"


class CalibratedPruner(optuna.pruners.BasePruner):
    """`inner`, allowed to prune only at `steps` (the calibrated ones); elsewhere every trial goes on."""

    def __init__(self, inner: optuna.pruners.BasePruner, steps: set[int]):
        self.inner, self.steps = inner, steps

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step in self.steps and self.inner.prune(study, trial)
