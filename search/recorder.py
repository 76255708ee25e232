"""The recorder: the one interface through which both backends report what happens to a study's trials.

A backend calls `study_started` once per run, `baseline_measured` with the untrained encoder's score
(search.baseline), `trial_started` when a proposal is taken, `trial_intermediate`
for every intermediate score (what pruners see), `trial_progress` a few times while a trial trains (step /
total, the latest loss and intermediate score; throttled by search.objective.ProgressThrottle), and
`trial_finished` with a `TrialRecord` -- completed,
pruned, failed (with its reason), infeasible (never trained, with the reason) or a duplicate of an
equivalent trial. A completed record carries the replay record: config, seed, dataset identity, code
and library versions, device, wall and device time, measured invariances. The service implements this
against its database; here are a JSON-lines file, a console progress printer and a fan-out.

Recorders must be picklable: Optuna worker processes and Ray's restored experiments carry them along.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from filelock import FileLock

from search.states import FinishedState


@dataclass
class StudyInfo:
    name: str
    backend: str
    storage: str
    directions: list[str]
    spec: dict  # the full study spec, defaults filled in


@dataclass
class TrialStart:
    study: str
    trial: str  # backend's trial id (Optuna: the trial number; Ray: its trial id)
    number: int | None  # the Optuna trial number, in both backends
    params: dict[str, Any]
    config: str  # the configuration in the papers' notation
    key: str | None  # equivalence key (None when infeasible)
    # the configuration as data (search.space.Candidate.settings_record): factor -> {"choice", "k"}, written
    # beside `config` so that nothing parses the notation back
    settings: dict[str, dict] | None = None


@dataclass
class StudyProgress:
    """Where a study stands: trained configurations against the trial budget; duplicates (reused an equivalent
    trial's result) and infeasible proposals (never trained) beside it -- they cost nothing and never count."""

    trained: int
    n_trials: int | None
    duplicates: int = 0
    infeasible: int = 0

    def text(self) -> str:
        return progress_text(self.trained, self.n_trials, self.duplicates, self.infeasible)


def progress_text(trained: int, n_trials: int | None, duplicates: int, infeasible: int) -> str:
    """e.g. 'trained 12 of 20 (5 duplicates, 3 infeasible skipped)'."""
    budget = f" of {n_trials}" if n_trials is not None else ""
    plural = "" if duplicates == 1 else "s"
    return f"trained {trained}{budget} ({duplicates} duplicate{plural}, {infeasible} infeasible skipped)"


@dataclass
class TrialProgress:
    """How far a running trial's training is: `step` of `total` steps of training seed `seed` of `seeds`."""

    study: str
    trial: str
    number: int | None
    config: str
    step: int
    total: int
    seed: int = 1
    seeds: int = 1
    loss: float | None = None  # the latest step's loss
    score: float | None = None  # the latest intermediate score (trial.eval_every), and its step
    score_step: int | None = None

    @property
    def fraction(self) -> float:
        return ((self.seed - 1) * self.total + self.step) / max(1, self.seeds * self.total)

    def fields(self) -> dict:
        """What the service stores on the running trial (its identity is the row)."""
        return json_safe({k: v for k, v in asdict(self).items() if k not in ("study", "trial", "number", "config")})

    def text(self) -> str:
        seed = f"seed {self.seed}/{self.seeds} " if self.seeds > 1 else ""
        out = f"{seed}step {self.step}/{self.total} ({100 * self.fraction:.0f} %)"
        if self.loss is not None:
            out += f"  loss {self.loss:.4f}"
        if self.score is not None:
            out += f"  score {self.score:.4f} at step {self.score_step}"
        return out


@dataclass
class TrialRecord:
    study: str
    trial: str
    number: int | None
    state: FinishedState  # search.states
    params: dict[str, Any]
    config: str
    key: str | None = None
    values: list[float] | None = None  # objective value(s); score first, then cost
    scores: dict[str, float] = field(default_factory=dict)  # every proxy metric
    reason: str | None = None  # failed / infeasible: why; pruned: by whom, at which step
    duplicate_of: int | None = None
    replay: dict[str, Any] = field(default_factory=dict)
    seed_values: list[float] | None = None  # complete: each training seed's score (values[0] is their mean)
    progress: StudyProgress | None = None  # the study's, counting this trial (None: the backend does not say)
    settings: dict[str, dict] | None = None  # the configuration as data, as in TrialStart

    def to_json(self) -> dict:
        return json_safe(asdict(self))


def json_safe(value: Any) -> Any:
    """JSON (and Optuna's user attributes) have no NaN: write null instead (R@20 on a small gallery is NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class Recorder(Protocol):
    def study_started(self, study: StudyInfo) -> None: ...
    def trial_started(self, start: TrialStart) -> None: ...
    def trial_intermediate(self, study: str, trial: str, number: int | None, step: int, value: float) -> None: ...
    def trial_progress(self, progress: TrialProgress) -> None: ...
    def trial_finished(self, record: TrialRecord) -> None: ...
    def baseline_measured(self, study: str, baseline: dict) -> None: ...
    # `calibration`: search.calibration's record (None when the study has none); `pruning`: where the pruner acts
    def calibration_measured(self, study: str, calibration: dict | None, pruning: str | None) -> None: ...


class NullRecorder:
    def study_started(self, study: StudyInfo) -> None:
        pass

    def trial_started(self, start: TrialStart) -> None:
        pass

    def trial_intermediate(self, study: str, trial: str, number: int | None, step: int, value: float) -> None:
        pass

    def trial_progress(self, progress: TrialProgress) -> None:
        pass

    def trial_finished(self, record: TrialRecord) -> None:
        pass

    def baseline_measured(self, study: str, baseline: dict) -> None:
        pass

    def calibration_measured(self, study: str, calibration: dict | None, pruning: str | None) -> None:
        pass


class JsonlRecorder:
    """One JSON object per event, appended under a file lock (several worker processes share the file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()

    def _write(self, event: str, payload: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"event": event, "time": time.time(), **json_safe(payload)}, default=str)
        with FileLock(str(self.path) + ".lock"), self.path.open("a") as f:
            f.write(line + "\n")

    def study_started(self, study: StudyInfo) -> None:
        self._write("study_started", asdict(study))

    def trial_started(self, start: TrialStart) -> None:
        self._write("trial_started", asdict(start))

    def trial_intermediate(self, study: str, trial: str, number: int | None, step: int, value: float) -> None:
        self._write(
            "trial_intermediate", {"study": study, "trial": trial, "number": number, "step": step, "value": value}
        )

    def trial_progress(self, progress: TrialProgress) -> None:
        self._write("trial_progress", asdict(progress))

    def trial_finished(self, record: TrialRecord) -> None:
        self._write("trial_finished", record.to_json())

    def baseline_measured(self, study: str, baseline: dict) -> None:
        self._write("baseline_measured", {"study": study, "baseline": baseline})

    def calibration_measured(self, study: str, calibration: dict | None, pruning: str | None) -> None:
        self._write("calibration_measured", {"study": study, "calibration": calibration, "pruning": pruning})

    def events(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class ConsoleRecorder:
    """One progress line per finished trial (and per intermediate score when `verbose`)."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False):
        self.verbose = verbose
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def __getstate__(self) -> dict:
        return {"verbose": self.verbose, "_stream": None}  # streams do not cross processes

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def study_started(self, study: StudyInfo) -> None:
        self._print(f"study {study.name} ({study.backend}, {', '.join(study.directions)}) on {study.storage}")

    def trial_started(self, start: TrialStart) -> None:
        if self.verbose:
            self._print(f"  #{_num(start)} start  {start.config}")

    def trial_intermediate(self, study: str, trial: str, number: int | None, step: int, value: float) -> None:
        if self.verbose:
            self._print(f"  #{number if number is not None else trial} step {step:5d}  score {value:.4f}")

    def trial_progress(self, progress: TrialProgress) -> None:
        self._print(f"  #{_num(progress):<4} {progress.config:<58} {progress.text()}")

    def trial_finished(self, record: TrialRecord) -> None:
        what = {
            "complete": lambda: (
                f"score {_score_text(record)}"
                + (f", cost {record.values[1]:.4g}" if record.values and len(record.values) > 1 else "")
            ),
            "pruned": lambda: f"pruned ({record.reason})",
            "failed": lambda: f"FAILED: {record.reason}",
            "infeasible": lambda: f"infeasible, not trained: {record.reason}",
            "duplicate": lambda: (
                f"equivalent to #{record.duplicate_of}, not retrained"
                + (" (score " + " / ".join(f"{v:.4f}" for v in record.values) + ")" if record.values else "")
            ),
        }[record.state]()
        seconds = record.replay.get("wall_seconds")
        timing = f"  [{seconds:.1f} s]" if seconds else ""
        tally = f"  -- {record.progress.text()}" if record.progress else ""
        self._print(f"  #{_num(record):<4} {record.config:<58} {what}{timing}{tally}")

    def baseline_measured(self, study: str, baseline: dict) -> None:
        from search.baseline import baseline_text

        self._print(f"  {baseline_text(baseline)}")

    def calibration_measured(self, study: str, calibration: dict | None, pruning: str | None) -> None:
        from search.calibration import Calibration, report

        if calibration is not None:
            self._print("  " + report(Calibration.from_dict(calibration)).replace("\n", "\n  "))
        if pruning is not None:
            self._print(f"  {pruning}")


def _score_text(record: TrialRecord) -> str:
    """'0.412 [0.395, 0.430], 3 seeds' or '0.412 (1 seed, no interval)': the score with what it rests on."""
    from search.measurements import trial_estimate

    e = trial_estimate(record.values, record.seed_values)
    return e.text() if e is not None else "-"


def _num(item: TrialStart | TrialRecord | TrialProgress) -> str:
    return str(item.number) if item.number is not None else item.trial


class MultiRecorder:
    """Fan-out to several recorders (e.g. console + file)."""

    def __init__(self, *recorders: Recorder):
        self.recorders = [r for r in recorders if r is not None]

    def study_started(self, study: StudyInfo) -> None:
        for r in self.recorders:
            r.study_started(study)

    def trial_started(self, start: TrialStart) -> None:
        for r in self.recorders:
            r.trial_started(start)

    def trial_intermediate(self, study: str, trial: str, number: int | None, step: int, value: float) -> None:
        for r in self.recorders:
            r.trial_intermediate(study, trial, number, step, value)

    def trial_progress(self, progress: TrialProgress) -> None:
        for r in self.recorders:
            r.trial_progress(progress)

    def trial_finished(self, record: TrialRecord) -> None:
        for r in self.recorders:
            r.trial_finished(record)

    def baseline_measured(self, study: str, baseline: dict) -> None:
        for r in self.recorders:
            r.baseline_measured(study, baseline)

    def calibration_measured(self, study: str, calibration: dict | None, pruning: str | None) -> None:
        for r in self.recorders:
            r.calibration_measured(study, calibration, pruning)
