"""`DatabaseRecorder`: the search layer's Recorder, writing every trial event into the service's tables.

It runs inside the study process (and, pickled, inside the search layer's Optuna worker processes), so
it carries only the URL and ids and opens its own engine per process. Each event is one short
transaction that first checks the study is still claimed by this worker: a process whose claim was
taken away (it was declared dead and the study requeued) gets `ClaimLost` and stops instead of
writing trials that another worker now owns.
"""

from __future__ import annotations

import math
import os
from typing import Any

from sqlalchemy import select, update

from api.db import Database
from api.models import IntermediateValue, Study, Trial, utcnow
from api.queue import add_event
from core.errors import GDTSearchError
from search.recorder import StudyInfo, TrialProgress, TrialRecord, TrialStart, json_safe
from search.states import FINISHED_STATES


class ClaimLost(GDTSearchError, RuntimeError):
    """The study is no longer claimed by this worker (or no longer running)."""


def clean_text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL characters; reasons may quote anything a user typed."""
    return None if value is None else value.replace("\x00", "\\0")


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class DatabaseRecorder:
    def __init__(self, url: str, study_id: int, worker_id: str | None = None):
        self.url, self.study_id, self.worker_id = url, study_id, worker_id
        self._db: Database | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        return {"url": self.url, "study_id": self.study_id, "worker_id": self.worker_id, "_db": None, "_pid": None}

    @property
    def db(self) -> Database:
        if self._db is None or self._pid != os.getpid():  # engines must not cross a fork
            self._db, self._pid = Database(self.url), os.getpid()
        return self._db

    def _check_claim(self, session) -> Study:
        study = session.get(Study, self.study_id)
        if study is None:
            raise ClaimLost(f"study {self.study_id} no longer exists")
        if self.worker_id is not None and (study.worker_id != self.worker_id or study.status != "running"):
            raise ClaimLost(
                f"study {self.study_id} is {study.status} and claimed by {study.worker_id or 'nobody'},"
                f" not by this worker ({self.worker_id})"
            )
        return study

    def _trial(self, session, number: int) -> Trial | None:
        return session.scalars(select(Trial).where(Trial.study_id == self.study_id, Trial.number == number)).first()

    @staticmethod
    def _number(trial: str, number: int | None) -> int:
        if number is not None:
            return int(number)
        if trial.isdigit():
            return int(trial)
        raise ValueError(f"trial {trial!r} has no Optuna trial number; the service keys trials by it")

    # -- Recorder --------------------------------------------------------------------------------------

    def study_started(self, study: StudyInfo) -> None:
        with self.db.write() as session:
            row = self._check_claim(session)
            row.directions = list(study.directions)
            add_event(session, self.study_id, "study_started", f"{study.backend} run started", self.worker_id)

    def trial_started(self, start: TrialStart) -> None:
        number = self._number(start.trial, start.number)
        with self.db.write() as session:
            self._check_claim(session)
            trial = self._trial(session, number)
            if trial is not None and trial.state != "running":
                return  # a backend re-reporting a trial that already ended (e.g. a restored Ray experiment)
            if trial is None:
                trial = Trial(study_id=self.study_id, number=number)
                session.add(trial)
            trial.backend_trial = str(start.trial)[:100]
            trial.state = "running"
            trial.params = json_safe(dict(start.params))
            trial.config = clean_text(start.config) or ""
            trial.settings = json_safe(dict(start.settings)) if start.settings is not None else None
            trial.equivalence_key = start.key
            trial.scores, trial.invariance, trial.replay = {}, {}, {}
            trial.worker_id = self.worker_id
            trial.started_at = utcnow()
            trial.progress = None

    def baseline_measured(self, study: str, baseline: dict) -> None:
        from search.baseline import baseline_text

        with self.db.write() as session:
            row = self._check_claim(session)
            row.baseline = json_safe(dict(baseline))
            add_event(session, self.study_id, "baseline", baseline_text(baseline) or "", self.worker_id)

    def calibration_measured(self, study: str, calibration: dict | None, pruning: str | None) -> None:
        from search.calibration import Calibration, report

        with self.db.write() as session:
            row = self._check_claim(session)
            row.calibration = json_safe(dict(calibration)) if calibration is not None else None
            row.pruning = pruning
            if calibration is not None:
                add_event(session, self.study_id, "calibration", report(Calibration.from_dict(calibration)),
                          self.worker_id)  # fmt: skip
            if pruning is not None:
                add_event(session, self.study_id, "pruning", pruning, self.worker_id)

    def trial_intermediate(self, study: str, trial: str, number: int | None, step: int, value: float) -> None:
        number = self._number(trial, number)
        with self.db.write() as session:
            self._check_claim(session)
            row = self._trial(session, number)
            if row is None:
                return  # never started here: nothing to attach it to
            point = IntermediateValue(trial_id=row.id, step=int(step), value=_finite(value), recorded_at=utcnow())
            session.merge(point)

    def trial_progress(self, progress: TrialProgress) -> None:
        """One UPDATE of the running trial's row, nothing else (no claim check: a few per trial, throttled by
        search.objective.ProgressThrottle; a trial that has ended is left alone)."""
        number = self._number(progress.trial, progress.number)
        fields = progress.fields() | {"at": utcnow().isoformat()}
        with self.db.write() as session:
            session.execute(
                update(Trial)
                .where(Trial.study_id == self.study_id, Trial.number == number, Trial.state == "running")
                .values(progress=fields)
            )

    def trial_finished(self, record: TrialRecord) -> None:
        number = self._number(record.trial, record.number)
        now = utcnow()
        with self.db.write() as session:
            self._check_claim(session)
            trial = self._trial(session, number)
            if trial is not None and trial.state in FINISHED_STATES:
                return  # recorded already (a restored backend re-reporting it): a measurement is never overwritten
            if trial is None:
                trial = Trial(
                    study_id=self.study_id,
                    number=number,
                    backend_trial=str(record.trial)[:100],
                    started_at=now,
                    worker_id=self.worker_id,
                )
                session.add(trial)
            replay = json_safe(dict(record.replay or {}))
            values = [_finite(v) for v in record.values] if record.values else None
            trial.state = record.state
            trial.params = json_safe(dict(record.params))
            trial.config = clean_text(record.config) or ""
            if record.settings is not None:  # else what trial_started recorded stays
                trial.settings = json_safe(dict(record.settings))
            trial.equivalence_key = record.key
            # A duplicate keeps the values it reused (`values`, shown as `reused_values`) but has no score, cost or
            # metrics of its own: it is no measurement, so no sort, maximum or average over trials can count it.
            measured = record.state != "duplicate"
            trial.values = values
            trial.score = values[0] if values and measured else None
            trial.cost = values[1] if values and len(values) > 1 and measured else None
            trial.seed_values = [_finite(v) for v in record.seed_values] if record.seed_values and measured else None
            trial.scores = json_safe(dict(record.scores or {})) if measured else {}
            trial.invariance = json_safe(dict(replay.get("invariance") or {}))
            trial.reason = clean_text(record.reason)
            trial.duplicate_of = record.duplicate_of
            trial.replay = replay
            trial.progress = None  # a finished trial's story is its scores and intermediate values
            trial.finished_at = now
            wall = replay.get("wall_seconds")
            elapsed = (now - trial.started_at).total_seconds()
            trial.duration_s = float(wall) if isinstance(wall, int | float) else elapsed
