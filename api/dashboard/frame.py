"""One study's trials as a table, loaded once per change of the study and shared by every panel.

A study with 10,000 trials is a few MB of JSON columns; decoding it per request would make every panel
pay for it. `FrameCache` keys the decoded table by a fingerprint of the study (trial count, finished
count, latest finish, intermediate-value count) that one indexed aggregate query reads, so a running
study is re-read only when something was recorded, and a finished one never again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.models import IntermediateValue, Study, Trial
from core.evaluation.metrics import METRICS  # the proxy metrics of a trial's `scores`, all in [0, 1]
from core.gdt.factors import CATALOGUE, Choice
from search.best import BestSet, chance_level
from search.best import best_set as search_best_set
from search.measurements import Measured, fold, seeds_in_order


@dataclass(frozen=True)
class StudyFrame:
    """`trials`: one row per trial -- number, state, config, settings (the recorded settings record), score, cost,
    duration_s, params (the recorded dict, values as recorded), duplicate_of (the trial whose result a duplicate
    reused), seed_values (a completed trial's seeds' scores in seed order; its score is their mean), then per factor
    `choice.<F>` (d / i / ignore / off) and `k.<F>`, per metric `m.<metric>`, per measured factor
    `inv.<F>`, per searched parameter `p.<name>`. `intermediate`: (number, step, value) rows."""

    fingerprint: tuple
    trials: pd.DataFrame
    intermediate: pd.DataFrame
    factors: list[str]  # in the notation's order, as they appear in the study's configurations
    params: list[str]  # searched parameters, in first-seen order
    invariances: list[str]  # factors with a measured invariance
    chance: float | None = None  # the objective's chance level on the proxy (search.best.chance_level)
    baseline: float | None = None  # the untrained encoder's mean objective (search.baseline)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def measured(self) -> list[Measured]:
        """The trained configurations, one per (configuration, hyper-parameters), with their seeds' scores: what
        search.effects and search.best take (the API's /effects and study summary read the same)."""
        done = self.complete
        samples = zip(
            done["number"], done["config"], done["settings"], done["params"], done["seed_values"], strict=True
        )
        return fold((int(n), c, s, p or {}, v) for n, c, s, p, v in samples)

    def best_set(self) -> BestSet:
        """search.best on `measured()`, computed once per frame (a Welch test per configuration: ~1 s for 1,000
        configurations), shared by Table 1's highlight and the study summary of every dashboard request."""
        with self._lock:
            if "_best_set" not in self.__dict__:
                object.__setattr__(self, "_best_set", search_best_set(self.measured(), self.chance))
            return self.__dict__["_best_set"]

    @property
    def complete(self) -> pd.DataFrame:
        """The measurements: completed trials with a score. Duplicates carry their original's score but are
        not measurements of their own, so no panel counts them."""
        t = self.trials
        return t[(t["state"] == "complete") & t["score"].notna()]


def fingerprint(session: Session, study_id: int) -> tuple:
    """Changes whenever a trial is recorded, finishes, or reports an intermediate value."""
    trials = session.execute(
        select(func.count(Trial.id), func.count(Trial.finished_at), func.max(Trial.finished_at)).where(
            Trial.study_id == study_id
        )
    ).one()
    steps = session.execute(
        select(func.count())
        .select_from(IntermediateValue)
        .join(Trial, Trial.id == IntermediateValue.trial_id)
        .where(Trial.study_id == study_id)
    ).scalar_one()
    return (*trials, steps)


def load_frame(session: Session, study_id: int, stamp: tuple) -> StudyFrame:
    rows = session.execute(
        select(
            Trial.id,
            Trial.number,
            Trial.state,
            Trial.config,
            Trial.settings,
            Trial.score,
            Trial.cost,
            Trial.duration_s,
            Trial.params,
            Trial.scores,
            Trial.invariance,
            Trial.duplicate_of,
            Trial.values,
            Trial.seed_values,
        )
        .where(Trial.study_id == study_id)
        .order_by(Trial.number)
    ).all()
    records, params, invariances = [], {}, {}
    number_of, columns_of = {}, {}  # configurations repeat: turn each one's settings into columns once
    classes = None
    for (trial_id, number, state, config, settings, score, cost, duration, trial_params, scores, invariance, original,
         values, seeds) in rows:  # fmt: skip
        number_of[trial_id] = number
        record = dict(
            number=number,
            state=state,
            config=config,
            settings=settings,
            score=score,
            cost=cost,
            duration_s=duration,
            params=trial_params,
            duplicate_of=original,
            seed_values=seeds_in_order(values, seeds) if state == "complete" else [],
        )
        if classes is None and isinstance((scores or {}).get("n_classes"), int):
            classes = scores["n_classes"]
        if config not in columns_of:
            columns_of[config] = _settings(settings or {})
        record.update(columns_of[config])
        for name, value in (trial_params or {}).items():
            params[name] = True
            record[f"p.{name}"] = value
        for metric in METRICS:
            value = (scores or {}).get(metric)
            record[f"m.{metric}"] = value if isinstance(value, int | float) else None
        for name, value in (invariance or {}).items():
            if isinstance(value, int | float):
                invariances[name] = True
                record[f"inv.{name}"] = value
        records.append(record)
    trials = pd.DataFrame.from_records(records)
    if trials.empty:
        trials = pd.DataFrame(
            columns=[
                "number",
                "state",
                "config",
                "settings",
                "score",
                "cost",
                "duration_s",
                "params",
                "duplicate_of",
                "seed_values",
            ]
        )
    for column in trials.columns:  # all-None columns (no trial scored yet) must still be numbers
        if column in ("score", "cost", "duration_s") or column.startswith(("m.", "inv.")):
            trials[column] = pd.to_numeric(trials[column], errors="coerce").astype(float)
    steps = session.execute(
        select(IntermediateValue.trial_id, IntermediateValue.step, IntermediateValue.value)
        .join(Trial, Trial.id == IntermediateValue.trial_id)
        .where(Trial.study_id == study_id)
    ).all()
    intermediate = pd.DataFrame(
        [(number_of[trial_id], step, value) for trial_id, step, value in steps], columns=["number", "step", "value"]
    )
    factors = {k.removeprefix("choice.") for s in columns_of.values() for k in s if k.startswith("choice.")}
    order = [n for n in CATALOGUE if n in factors]
    invariance_factors = [n for n in CATALOGUE if n in invariances]
    baseline = session.scalar(select(Study.baseline).where(Study.id == study_id)) or {}
    chance = chance_level(baseline, classes)
    return StudyFrame(
        stamp, trials, intermediate, order, list(params), invariance_factors, chance, baseline.get("mean")
    )


def _settings(settings: dict) -> dict:
    """{'choice.TS': 'i', 'k.TS': 2, ...} from a trial's settings record (Trial.settings: factor -> {"choice", "k"})."""
    out = {}
    for name, setting in settings.items():
        out[f"choice.{name}"] = Choice(setting["choice"]).letter
        out[f"k.{name}"] = int(setting["k"])
    return out


class FrameCache:
    """The latest frame of the most recently used studies; thread-safe (the API serves from a thread pool).
    Concurrent requests for a study that changed wait for one load instead of each decoding it."""

    def __init__(self, size: int = 8):
        self.size = size
        self._frames: OrderedDict[int, StudyFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[int, threading.Lock] = {}

    def _cached(self, study_id: int, stamp: tuple) -> StudyFrame | None:
        with self._lock:
            frame = self._frames.get(study_id)
            if frame is not None and frame.fingerprint == stamp:
                self._frames.move_to_end(study_id)
                return frame
            return None

    def get(self, session: Session, study_id: int) -> StudyFrame:
        stamp = fingerprint(session, study_id)
        frame = self._cached(study_id, stamp)
        if frame is not None:
            return frame
        with self._lock:
            loading = self._loading.setdefault(study_id, threading.Lock())
        with loading:
            frame = self._cached(study_id, stamp)  # loaded by the request we waited for
            if frame is not None:
                return frame
            frame = load_frame(session, study_id, stamp)
            with self._lock:
                self._frames[study_id] = frame
                self._frames.move_to_end(study_id)
                while len(self._frames) > self.size:
                    evicted, _ = self._frames.popitem(last=False)
                    self._loading.pop(evicted, None)
        return frame
