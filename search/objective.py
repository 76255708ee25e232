"""The trial objective: spec + sampled configuration -> pretrain -> proxy evaluation -> score.

`train_candidate` is the backend-independent part (both backends call it): it runs `core.trial.run_trial`,
forwards intermediate scores to the backend (which may stop the trial there), turns every way a trial
can fail (non-finite loss, out of memory, a clip that does not fit, a decode error ...) into
`TrialFailed` with its reason, and builds the replay record. `OptunaObjective` wraps it for Optuna:
infeasible proposals are recorded with their reason and never trained, and a proposal equivalent to
an earlier trial reuses that trial's outcome instead of training again -- without ever counting as a
measurement (see `OptunaObjective._reuse`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import os
import platform
import subprocess
import time
import traceback
import warnings
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import torch

from core.data.clips import ClipTooShort
from core.data.video_folder import BadVideoError
from core.errors import DETERMINISTIC_FAILURES, FailureKind, GDTSearchError
from core.evaluation.metrics import ProxyScores
from core.gdt.config import InvalidConfiguration
from core.train.pretrain import TrainingFailed
from search.recorder import NullRecorder, Recorder, StudyProgress, TrialProgress, TrialRecord, TrialStart, json_safe
from search.space import Candidate, SearchSpace
from search.spec import ObjectiveSection, StudySpec, trial_spec_summary


class TrialFailed(GDTSearchError):
    """A trial that could not produce a score; `kind` classifies the reason (core.errors.FailureKind; a
    deterministic kind is one the same configuration would hit again, so an equivalent trial reuses it)."""

    def __init__(self, reason: str, kind: FailureKind | str):
        super().__init__(reason)
        self.reason, self.kind = reason, FailureKind(kind)


class TrialInfeasible(GDTSearchError):
    """A proposal that violates the GDT validity rules or the data's limits; it is never trained."""


@dataclass
class Trained:
    values: list[float]  # the objective: the mean score over seeds (then the cost)
    scores: dict[str, Any]  # each proxy metric's mean over seeds
    replay: dict[str, Any]  # `seeds`: every seed's values, scores and invariances

    @property
    def seed_values(self) -> list[float]:
        """Each seed's objective score, in seed order."""
        return [run["values"][0] for run in self.replay["seeds"]]


def score(scores: ProxyScores, objective: ObjectiveSection) -> float:
    """The objective's score of one evaluation (higher is better)."""
    if objective.score == "weighted":
        weights = objective.weights or {}
        return sum(w * getattr(scores, metric) for metric, w in weights.items()) / sum(weights.values())
    return float(getattr(scores, objective.score))


def objective_values(scores: ProxyScores, objective: ObjectiveSection, device_seconds: float) -> list[float]:
    values = [score(scores, objective)]
    if objective.cost == "device_seconds":
        values.append(device_seconds)
    return values


@functools.cache
def code_version() -> dict[str, str | None]:
    """The package version and, when run from a checkout, its git commit."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    try:
        version = importlib.metadata.version("gdt-search")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"gdt_search": version, "git_commit": commit}


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in ("optuna", "ray", "numpy", "scikit-learn", "pydantic"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def train_candidate(
    spec: StudySpec,
    candidate: Candidate,
    on_intermediate: Callable[[int, float], bool] | None = None,
    *,
    device: str | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    intermediate_steps: Collection[int] | None = None,
) -> Trained:
    """Pretrain and evaluate one feasible candidate with each of the spec's training seeds, one after another.

    The trial's objective value is the mean over seeds (its cost, if any, their total device seconds); every
    seed's values, proxy scores and invariances are kept in the replay record's `seeds`. `on_intermediate(step,
    score)` sees the first seed's intermediate scores only: a pruner compares a trial's curve against other
    trials' curves at the same step, and with common random numbers the first seed's curves are the
    comparable ones (same initial weights, same video stream); later seeds run only for a trial it kept.
    Returning True stops the trial (the caller treats it as pruned), and an exception it raises (e.g.
    optuna.TrialPruned) propagates. Each intermediate score costs a proxy evaluation (at the default, 5 s
    against 16 s per 100 training steps), so one is made only where it is read: for the first seed, at the
    `trial.eval_every` steps in `intermediate_steps` (None: all of them; a calibrated pruner names the steps
    where it may act). `on_progress(progress)` hears, throttled (see `ProgressThrottle`), how far
    training is: step / total, seed i of n, the latest loss and intermediate score. Raises TrialFailed for
    every way the trial itself can fail.
    """
    from core.trial import open_data

    assert candidate.config is not None, "train_candidate needs a feasible candidate"
    started = time.perf_counter()
    runs = []
    seeds = spec.training_seeds()
    for index, seed in enumerate(seeds):
        progress = ProgressThrottle(on_progress, index + 1, len(seeds)) if on_progress else None
        reader = on_intermediate if index == 0 else None
        runs.append(_train_seed(spec, candidate, seed, reader, device, progress, intermediate_steps))
    first_spec, first = runs[0]
    per_seed = [
        {
            "seed": trial_spec.train.seed,
            "values": values,
            "scores": json_safe(record["scores"]),
            "invariance": record["invariance"],
            "train_steps": record["train_steps"],
            "final_loss": record["final_loss"],
            "device_seconds": device_seconds,
        }
        for trial_spec, (record, values, device_seconds) in runs
    ]
    record = first[0]  # the first seed's record (core.trial.TrialResult.record): environment, device, steps, loss
    values = [_mean([run["values"][0] for run in per_seed])]
    device_seconds = sum(run["device_seconds"] for run in per_seed)
    if spec.objective.cost == "device_seconds":
        values.append(device_seconds)
    scores = _mean_scores([r["scores"] for _, (r, _, _) in runs])
    pretrain, proxy = open_data(first_spec.data)
    replay = {
        "config": candidate.config.describe(),
        "settings": {n: {"choice": s.choice.value, "k": s.k} for n, s in candidate.config.settings},
        "clip_budget": candidate.config.clip_budget,
        "clip_budget_counts": candidate.config.budget_counts,
        "k_videos": candidate.config.k_videos,
        "batch_size": candidate.config.batch_size,
        "modality_pairs": asdict(candidate.config.modality_pairs),
        "hyper": candidate.hyper,
        "seed": first_spec.train.seed,
        "seeds": per_seed,
        "dataset": {
            "kind": first_spec.data.kind,
            "pretrain": getattr(pretrain, "key", None),
            "proxy": getattr(proxy.source, "key", None),
            "world": first_spec.data.world.identity() if first_spec.data.kind == "world" else None,
        },
        "code": code_version(),
        "libraries": {**record["environment"], **_library_versions()},
        "device": record["device"],
        "worker": {"host": platform.node(), "pid": os.getpid()},
        "wall_seconds": time.perf_counter() - started,
        "device_seconds": device_seconds,
        "train_seconds": sum(r["train_seconds"] for _, (r, _, _) in runs),
        "eval_seconds": sum(r["eval_seconds"] for _, (r, _, _) in runs),
        "train_steps": record["train_steps"],
        "final_loss": record["final_loss"],
        "stopped_by": record["stopped_by"],
        "invariance": _mean_scores([run["invariance"] for run in per_seed]),
        "trial_spec": trial_spec_summary(first_spec),
    }
    return Trained(values, scores, replay)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _mean_scores(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each metric's mean over the seeds (NaN stays NaN); a non-numeric field (the subset's name): the first seed's."""
    out = {}
    for name, first in runs[0].items():
        numbers = [run.get(name) for run in runs]
        if isinstance(first, int | float) and not isinstance(first, bool):
            finite = [float(v) for v in numbers if isinstance(v, int | float)]
            out[name] = _mean(finite) if len(finite) == len(runs) else math.nan
            if isinstance(first, int) and all(v == first for v in numbers):
                out[name] = first  # counts (n_classes, n_train) stay integers
        else:
            out[name] = first
    return out


class ProgressThrottle:
    """Turns a seed's per-step reports into a few progress reports: one after every `fraction` of its steps, at
    most one per `min_interval_s` seconds, and one at its last step (training done, the evaluation follows).
    A 300-step CPU trial of ~100 s reports about every 10 s; a 3-second GPU trial once. Each report may cost
    a database write (the service's recorder), which is why there are so few."""

    def __init__(
        self, emit: Callable[[dict[str, Any]], None], seed: int = 1, seeds: int = 1, *, fraction: float = 0.1,
        min_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic,
    ):  # fmt: skip
        self.emit, self.seed, self.seeds = emit, seed, seeds
        self.fraction, self.min_interval_s, self.clock = fraction, min_interval_s, clock
        self.total: int | None = None
        self.score: float | None = None  # the latest intermediate score, and its step
        self.score_step: int | None = None
        self._last_step, self._last_time = 0, clock()

    def intermediate(self, step: int, value: float) -> None:
        self.score, self.score_step = value, step

    def step(self, step: int, loss: float) -> None:
        assert self.total is not None, "the throttle needs the seed's total steps"
        now = self.clock()
        due = step - self._last_step >= max(1, math.ceil(self.fraction * self.total))
        if step < self.total and not (due and now - self._last_time >= self.min_interval_s):
            return
        self._last_step, self._last_time = step, now
        self.emit(
            {
                "step": step, "total": self.total, "seed": self.seed, "seeds": self.seeds,
                "loss": loss if math.isfinite(loss) else None, "score": self.score, "score_step": self.score_step,
            }
        )  # fmt: skip


def _train_seed(
    spec: StudySpec, candidate: Candidate, seed: int, on_intermediate, device: str | None,
    progress: ProgressThrottle | None = None, intermediate_steps: Collection[int] | None = None,
):  # fmt: skip
    """One training seed: (its trial spec, (its record: core.trial.TrialResult.record, objective values, device
    seconds))."""
    from core.trial import open_data, run_trial

    trial_spec = spec.trial_spec(candidate.train_hyper(), seed=seed)
    if device is not None:
        trial_spec = replace(trial_spec, device=device)

    def intermediate(step: int, evaluation) -> bool:
        value = score(evaluation.scores, spec.objective)
        if progress is not None:
            progress.intermediate(step, value)
        return bool(on_intermediate(step, value))

    def on_step(report) -> None:
        if progress.total is None:  # run_trial has opened the data by the first step (open_data is cached)
            clips, _ = open_data(trial_spec.data)
            progress.total = trial_spec.train.total_steps(clips.num_videos, candidate.config.k_videos)
        progress.step(report.step, report.loss)

    try:
        result = run_trial(
            candidate.config,
            trial_spec,
            on_intermediate=intermediate if on_intermediate is not None else None,  # none read: none made
            on_step=on_step if progress else None,
            intermediate_steps=intermediate_steps,
        )
    except optuna.TrialPruned:
        raise
    except TrainingFailed as error:
        raise TrialFailed(f"training failed at step {error.step}: {error.reason}", error.kind) from error
    except torch.OutOfMemoryError as error:
        raise TrialFailed(f"out of memory: {str(error).splitlines()[0]}", FailureKind.OOM) from error
    except ClipTooShort as error:
        raise TrialFailed(f"clip too short: {error}", FailureKind.CLIP_TOO_SHORT) from error
    except BadVideoError as error:
        raise TrialFailed(f"decode error: {error}", FailureKind.DECODE) from error
    except InvalidConfiguration as error:
        raise TrialFailed(f"invalid for the data: {error}", FailureKind.INVALID) from error
    except Exception as error:  # noqa: BLE001 - any other failure ends this trial, never the study
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise TrialFailed(
            f"{type(error).__name__}: {error} (at {Path(where.filename).name}:{where.lineno})", FailureKind.ERROR
        ) from error
    if result.train.stopped_by == "callback":
        raise TrialStopped(result.train.steps)
    record = result.record()
    device_seconds = record["train_seconds"] + record["eval_seconds"]
    values = objective_values(result.evaluation.scores, spec.objective, device_seconds)
    if not all(math.isfinite(v) for v in values):
        raise TrialFailed(
            f"objective is not finite ({values}) with seed {seed}; e.g. R@k needs >= k gallery videos"
            f" ({record['scores']['n_train']} here)",
            FailureKind.NAN_SCORE,
        )
    return trial_spec, (record, values, device_seconds)


class TrialStopped(GDTSearchError):
    """The intermediate callback asked to stop (returned True) after `step` steps: a pruned trial."""

    def __init__(self, step: int):
        super().__init__(f"stopped at step {step}")
        self.step = step


# -- Optuna -----------------------------------------------------------------------------------------

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def reusable(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether an equivalent proposal may take this finished trial's outcome instead of training."""
    state = trial.state
    if state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
        return True
    return state == optuna.trial.TrialState.FAIL and trial.user_attrs.get("failure_kind") in DETERMINISTIC_FAILURES


def counts_as_trained(trial: optuna.trial.FrozenTrial) -> bool:
    """Finished after training: completed, pruned, or failed for its own reason (not a dead worker)."""
    if trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
        return True
    return trial.state == optuna.trial.TrialState.FAIL and bool(trial.user_attrs.get("failure_kind"))


def study_progress(study: optuna.Study, n_trials: int | None, current: tuple[int, str] | None = None) -> StudyProgress:
    """Trained configurations against the budget, duplicates and infeasible proposals beside it. `current`:
    (number, state) of a trial that is ending but not yet told (its recorder event comes first)."""
    trained = duplicates = infeasible = 0
    for t in study.get_trials(deepcopy=False):
        if current is not None and t.number == current[0]:
            continue
        if "infeasible" in t.user_attrs:
            infeasible += 1
        elif "duplicate_of" in t.user_attrs and t.state in FINISHED:
            duplicates += 1
        elif t.user_attrs.get("trained") and counts_as_trained(t):
            trained += 1
    if current is not None:
        state = current[1]
        infeasible += state == "infeasible"
        duplicates += state == "duplicate"
        trained += state in ("complete", "pruned", "failed")
    return StudyProgress(trained, n_trials, duplicates, infeasible)


def original_number(trial: optuna.trial.FrozenTrial) -> int:
    return int(trial.user_attrs.get("duplicate_of", trial.number))


class OptunaObjective:
    """The Optuna objective of a study: one call is one trial, and never raises for a trial's own failure
    except through TrialInfeasible / TrialFailed (which the runner passes as `catch`) and TrialPruned.
    `intermediate_steps`: where trials evaluate (None: every `trial.eval_every` step; else the steps where the
    study's calibration lets its pruner act, `search.calibration.pruning_gate`)."""

    def __init__(
        self,
        spec: StudySpec,
        space: SearchSpace,
        recorder: Recorder | None = None,
        poll_s: float = 1.0,
        intermediate_steps: Collection[int] | None = None,
    ):
        self.spec, self.space, self.recorder, self.poll_s = spec, space, recorder or NullRecorder(), poll_s
        self.intermediate_steps = intermediate_steps

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        if self._budget_taken_by_earlier(trial):
            # Two workers can each see the budget short and both start a trial; the later-numbered one yields,
            # before it claims a configuration or is recorded, so the study trains exactly n_trials.
            trial.set_user_attr("trained", False)
            trial.set_user_attr("over_budget", True)
            raise optuna.TrialPruned("not trained: the trials before it spend the budget")
        candidate = self.space.suggest(trial)
        name, number = self.spec.name, trial.number
        trial.set_user_attr("config", candidate.describe())
        trial.set_user_attr("settings", candidate.settings_record())  # the same configuration, as data
        trial.set_user_attr("trained", False)  # a retried trial inherits its dead predecessor's attributes
        base = dict(
            study=name,
            trial=str(number),
            number=number,
            params=dict(candidate.params),
            config=candidate.describe(),
            key=candidate.key,
            settings=candidate.settings_record(),
        )
        self.recorder.trial_started(TrialStart(**base))
        if not candidate.feasible:
            trial.set_user_attr("infeasible", candidate.infeasible)
            trial.set_user_attr("failure_kind", FailureKind.INFEASIBLE.value)
            self._finished(trial, TrialRecord(**base, state="infeasible", reason=candidate.infeasible))
            raise TrialInfeasible(candidate.infeasible)
        trial.set_user_attr("equivalence_key", candidate.key)
        earlier = self._equivalent(trial, candidate.key)
        if earlier is not None:
            return self._reuse(trial, earlier, base)

        trial.set_user_attr("trained", True)

        def report(step: int, value: float) -> bool:
            self.recorder.trial_intermediate(name, str(number), number, step, value)
            if self.spec.objective.multi:
                return False  # Optuna judges single-objective curves only: this one is recorded, not pruned
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"pruned by {pruner_name(trial.study.pruner)} at step {step} (score {value:.4f})"
                )
            return False

        def progress(step: dict[str, Any]) -> None:
            self.recorder.trial_progress(TrialProgress(name, str(number), number, candidate.describe(), **step))

        try:
            try:
                trained = train_candidate(
                    self.spec, candidate, report, on_progress=progress, intermediate_steps=self.intermediate_steps
                )
            except TrialStopped as stopped:
                raise optuna.TrialPruned(str(stopped)) from stopped
        except optuna.TrialPruned as pruned:
            trial.set_user_attr("pruned", str(pruned))
            self._finished(trial, TrialRecord(**base, state="pruned", reason=str(pruned)))
            raise
        except TrialFailed as failed:
            trial.set_user_attr("failure", failed.reason)
            trial.set_user_attr("failure_kind", failed.kind.value)
            self._finished(trial, TrialRecord(**base, state="failed", reason=failed.reason))
            raise
        trial.set_user_attr("scores", json_safe(trained.scores))
        trial.set_user_attr("replay", json_safe(trained.replay))
        trial.set_user_attr("seed_values", trained.seed_values)  # the mean's samples: search.measurements
        self._finished(
            trial,
            TrialRecord(
                **base,
                state="complete",
                values=trained.values,
                scores=trained.scores,
                replay=trained.replay,
                seed_values=trained.seed_values,
            ),
        )
        return trained.values if self.spec.objective.multi else trained.values[0]

    def _budget_taken_by_earlier(self, trial: optuna.Trial) -> bool:
        """Whether the trials numbered before this one (trained, or still running: a trial is RUNNING from
        its creation, so this holds whatever the timing) already fill `search.n_trials`."""
        n_trials = self.spec.search.n_trials
        if n_trials is None:
            return False
        taken = sum(
            1
            for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number
            and (t.state == optuna.trial.TrialState.RUNNING or (t.user_attrs.get("trained") and counts_as_trained(t)))
        )
        return taken >= n_trials

    def _finished(self, trial: optuna.Trial, record: TrialRecord) -> None:
        """Record how the trial ended, with the study's progress counting it (trained against the budget)."""
        record.progress = study_progress(trial.study, self.spec.search.n_trials, (trial.number, record.state))
        self.recorder.trial_finished(record)

    def _equivalent(self, trial: optuna.Trial, key: str) -> optuna.trial.FrozenTrial | None:
        """A finished equivalent trial to reuse, waiting while another worker is still training one."""
        study = trial.study
        while True:
            same = [
                t
                for t in study.get_trials(deepcopy=False)
                if t.number != trial.number and t.user_attrs.get("equivalence_key") == key
            ]
            # Duplicates are not outcomes of their own: reuse what was trained.
            done = [t for t in same if t.state in FINISHED and reusable(t) and "duplicate_of" not in t.user_attrs]
            if done:
                # Prefer a completed trial, then the earliest.
                return min(done, key=lambda t: (t.state != optuna.trial.TrialState.COMPLETE, t.number))
            running = [t for t in same if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("trained")]
            if not running:
                return None
            with warnings.catch_warnings():  # experimental in Optuna, and used as documented
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # a dead worker's trial must not block this one forever
            time.sleep(self.poll_s)

    def _reuse(self, trial: optuna.Trial, earlier: optuna.trial.FrozenTrial, base: dict) -> float | list[float]:
        """A duplicate takes its original's outcome but is never a measurement of its own: Optuna records it as
        PRUNED without a value (optuna-dashboard and `best_trial` count COMPLETE trials only), the original
        keeps informing the sampler, and TPE ranks the duplicate with the pruned ones, away from what it
        re-proposed (max_idle_proposals still stops a sampler that proposes nothing new)."""
        original = original_number(earlier)
        trial.set_user_attr("duplicate_of", original)
        if earlier.state == optuna.trial.TrialState.COMPLETE:
            values = list(earlier.values)
            trial.set_user_attr("reused_values", values)  # what it reused, for anyone reading the raw study
            reused = " / ".join(f"{v:.4f}" for v in values)
            reason = f"equivalent to trial #{original}: its result ({reused}) is reused, not retrained"
            trial.set_user_attr("pruned", reason)
            self._finished(
                trial,
                TrialRecord(
                    **base,
                    state="duplicate",
                    values=values,
                    duplicate_of=original,
                    scores=earlier.user_attrs.get("scores", {}),
                    reason=reason,
                ),
            )
            raise optuna.TrialPruned(reason)
        reason = earlier.user_attrs.get("failure") or earlier.user_attrs.get("pruned") or earlier.state.name.lower()
        self._finished(
            trial,
            TrialRecord(
                **base, state="duplicate", duplicate_of=original, reason=f"equivalent trial #{original}: {reason}"
            ),
        )
        if earlier.state == optuna.trial.TrialState.PRUNED:
            raise optuna.TrialPruned(f"equivalent trial #{original} was pruned")
        trial.set_user_attr("failure", f"equivalent trial #{original} failed: {reason}")
        kind = FailureKind(earlier.user_attrs["failure_kind"])  # reusable(): a deterministic failure
        trial.set_user_attr("failure_kind", kind.value)
        raise TrialFailed(f"equivalent trial #{original} failed: {reason}", kind)


def pruner_name(pruner: optuna.pruners.BasePruner) -> str:
    """'MedianPruner', or the pruner a wrapper (search.calibration.CalibratedPruner) lets act at some steps."""
    inner = getattr(pruner, "inner", None)
    return type(inner if inner is not None else pruner).__name__
