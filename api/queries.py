"""The read side: studies with their progress and best trial, pages of trials, events, and exports.

Listings fetch one page plus, in one more query each, the trials' intermediate values and the studies'
per-state counts -- never one query per row -- so a page costs the same with 100 or 100,000 trials.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.models import FINISHED_STUDY, Event, IntermediateValue, Study, Trial, utcnow
from api.schemas import (
    EventOut,
    Intermediate,
    Progress,
    RunningTrial,
    StudyOut,
    StudySummary,
    TrialDetail,
    TrialOut,
    TrialProgressOut,
)
from core.errors import GDTSearchError
from search.best import best_set, chance_level
from search.effects import factor_effects
from search.measurements import Measured, fold, seeds_in_order, trial_estimate
from search.recorder import TrialProgress, progress_text


class NoSuchTrial(GDTSearchError, LookupError):
    """A trial number that the study does not have."""


TrialSort = Literal["number", "score", "duration", "started_at", "finished_at"]
_SORT_COLUMNS = {
    "number": Trial.number,
    "score": Trial.score,
    "duration": Trial.duration_s,
    "started_at": Trial.started_at,
    "finished_at": Trial.finished_at,
}
EXPORT_CHUNK = 1000
# What a listed trial (TrialOut) is made of: every column but the replay record and the bookkeeping ones.
_LISTED = (
    Trial.id, Trial.number, Trial.state, Trial.config, Trial.settings, Trial.params, Trial.values, Trial.score,
    Trial.seed_values, Trial.cost, Trial.scores, Trial.invariance, Trial.duration_s, Trial.started_at,
    Trial.finished_at, Trial.reason, Trial.duplicate_of, Trial.worker_id, Trial.progress,
)  # fmt: skip


def counts_by_study(session: Session, study_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if study_ids:
        rows = session.execute(
            select(Trial.study_id, Trial.state, func.count())
            .where(Trial.study_id.in_(study_ids))
            .group_by(Trial.study_id, Trial.state)
        )
        for study_id, state, n in rows:
            counts[study_id][state] = n
    return counts


def _progress(study: Study, counts: dict[str, int]) -> Progress:
    """Trained configurations count against the budget; duplicates and infeasible proposals beside it, never in it."""
    trained = sum(counts.get(state, 0) for state in ("complete", "pruned", "failed"))
    duplicates, infeasible = counts.get("duplicate", 0), counts.get("infeasible", 0)
    return Progress(
        n_trials=study.n_trials,
        timeout_s=(study.spec.get("search") or {}).get("timeout_s"),
        total=sum(counts.values()),
        counts=dict(sorted(counts.items())),
        trained=trained,
        duplicates=duplicates,
        infeasible=infeasible,
        text=progress_text(trained, study.n_trials, duplicates, infeasible),
    )


def progress_out(stored: dict | None) -> TrialProgressOut | None:
    """A running trial's stored progress (search.recorder.TrialProgress.fields) as the API shows it."""
    if not stored:
        return None
    fields = {k: stored.get(k) for k in ("step", "total", "seed", "seeds", "loss", "score", "score_step")}
    fields["seed"], fields["seeds"] = fields["seed"] or 1, fields["seeds"] or 1
    progress = TrialProgress("", "", None, "", **fields)
    return TrialProgressOut(**fields, fraction=progress.fraction, text=progress.text(), at=stored.get("at"))


def running_trials(session: Session, study_id: int) -> list[RunningTrial]:
    rows = session.execute(
        select(Trial.number, Trial.config, Trial.progress)
        .where(Trial.study_id == study_id, Trial.state == "running")
        .order_by(Trial.number)
    )
    return [RunningTrial(number=n, config=c, progress=progress_out(p)) for n, c, p in rows]


def _summary_fields(study: Study, counts: dict[str, int]) -> dict:
    return dict(
        id=study.id,
        name=study.name,
        status=study.status,
        backend=study.backend,
        directions=list(study.directions or []),
        cancel_requested=study.cancel_requested,
        attempts=study.attempts,
        created_at=study.created_at,
        started_at=study.started_at,
        finished_at=study.finished_at,
        progress=_progress(study, counts),
    )


def best_scores(session: Session, study_ids: list[int]) -> dict[int, tuple[float, str]]:
    """Each study's highest completed score with its interval over seeds: the maxima in one grouped query, then
    the trials that hold them in one more (both served by the best-first index, whatever the studies' sizes)."""
    if not study_ids:
        return {}
    complete = (Trial.state == "complete", Trial.score.is_not(None))
    maxima = session.execute(
        select(Trial.study_id, func.max(Trial.score))
        .where(Trial.study_id.in_(study_ids), *complete)
        .group_by(Trial.study_id)
    ).all()
    if not maxima:
        return {}
    holders = session.execute(
        select(Trial.study_id, Trial.score, Trial.values, Trial.seed_values)
        .where(or_(*(and_(Trial.study_id == study_id, Trial.score == score) for study_id, score in maxima)), *complete)
        .order_by(Trial.study_id, Trial.number.desc())  # ties: the first trial (the last written wins below)
    ).all()
    return {study_id: (score, trial_estimate(v, s).text()) for study_id, score, v, s in holders}


def list_studies(session: Session, status: str | None, limit: int, offset: int) -> tuple[list[StudySummary], int]:
    query = select(Study)
    total_query = select(func.count()).select_from(Study)
    if status is not None:
        query = query.where(Study.status == status)
        total_query = total_query.where(Study.status == status)
    studies = session.scalars(query.order_by(Study.id.desc()).limit(limit).offset(offset)).all()
    ids = [s.id for s in studies]
    counts, best = counts_by_study(session, ids), best_scores(session, ids)
    items = []
    for s in studies:
        score, interval = best.get(s.id, (None, None))
        items.append(StudySummary(**_summary_fields(s, counts.get(s.id, {})), best_score=score, best_interval=interval))
    return items, session.scalar(total_query) or 0


def best_trial(session: Session, study_id: int) -> Trial | None:
    """The completed trial with the highest score (the first objective is always maximised)."""
    return session.scalars(
        select(Trial)
        .where(Trial.study_id == study_id, Trial.state == "complete", Trial.score.is_not(None))
        .order_by(Trial.score.desc(), Trial.number)
        .limit(1)
    ).first()


def study_out(session: Session, study: Study, best_set: dict | None = None) -> StudyOut:
    """The study as the API shows it; `best_set` (search.best's, as a dict) when the caller already has it --
    the dashboard computes it once per change of the study -- else computed here."""
    counts = counts_by_study(session, [study.id]).get(study.id, {})
    best = best_trial(session, study.id)
    fields = _summary_fields(study, counts)
    fields["progress"].running = running_trials(session, study.id)
    return StudyOut(
        **fields,
        best_score=best.score if best is not None else None,
        best_interval=_seed_fields(best).get("interval") if best is not None else None,
        optuna_name=study.optuna_name,
        worker_id=study.worker_id,
        heartbeat_at=study.heartbeat_at,
        error=study.error,
        data_report=study.data_report,
        baseline=study.baseline,
        calibration=study.calibration,
        pruning=study.pruning,
        best=trial_outs(session, [best])[0] if best is not None else None,
        best_set=best_set if best_set is not None else best_set_of(session, study.id),
        spec=study.spec,
    )


def measured(session: Session, study_id: int) -> tuple[list[Measured], float | None]:
    """The study's trained configurations (search.measurements: completed trials, never a duplicate) and the
    objective's chance level on its proxy (search.best.chance_level: as measured with the study's baseline, else
    1 / the classes of a trained trial's proxy)."""
    complete = (Trial.study_id == study_id, Trial.state == "complete", Trial.score.is_not(None))
    rows = session.execute(
        select(Trial.number, Trial.config, Trial.settings, Trial.params, Trial.values, Trial.seed_values)
        .where(*complete)
        .order_by(Trial.number)
    ).all()
    samples = [(n, c or "", s, p or {}, seeds_in_order(v, sv)) for n, c, s, p, v, sv in rows]
    scores = session.scalars(select(Trial.scores).where(*complete).order_by(Trial.number).limit(1)).first()
    classes = (scores or {}).get("n_classes")  # every trial of a study evaluates on the same proxy
    baseline = session.scalar(select(Study.baseline).where(Study.id == study_id))
    return fold(samples), chance_level(baseline, classes if isinstance(classes, int) else None)


def best_set_of(session: Session, study_id: int) -> dict:
    return best_set(*measured(session, study_id)).as_dict()


def effects_of(session: Session, study_id: int) -> dict:
    entries, _ = measured(session, study_id)
    effects = factor_effects(entries)
    note = None if effects else "no factor took two choices among the trained configurations"
    return {"effects": [e.as_dict() for e in effects], "configurations": len(entries), "note": note}


def _intermediates(session: Session, trial_ids: list[int]) -> dict[int, list[Intermediate]]:
    out: dict[int, list[Intermediate]] = defaultdict(list)
    if trial_ids:
        rows = session.execute(
            select(IntermediateValue.trial_id, IntermediateValue.step, IntermediateValue.value)
            .where(IntermediateValue.trial_id.in_(trial_ids))
            .order_by(IntermediateValue.trial_id, IntermediateValue.step)
        )
        for trial_id, step, value in rows:
            out[trial_id].append(Intermediate(step=step, value=value))
    return out


def _seed_fields(trial: Trial) -> dict:
    """A completed trial's seeds and the 95 % interval of its mean score (search.intervals)."""
    e = trial_estimate(trial.values, trial.seed_values) if trial.state == "complete" else None
    if e is None:
        return {}
    return dict(n_seeds=e.n, ci_low=e.low, ci_high=e.high, interval=e.text())


def _trial_fields(trial: Trial, intermediate: list[Intermediate]) -> dict:
    """A duplicate (a proposal equivalent to trial `duplicate_of`, which reused its result) stays visible but is no
    measurement: the recorder stores no score, cost or metrics for it (migration 0009 cleared older rows), and what
    it reused is under `reused_values`, so summing or averaging listed scores never counts a result twice."""
    duplicate = trial.state == "duplicate"
    return dict(
        number=trial.number,
        state=trial.state,
        config=trial.config,
        settings=trial.settings,
        params=trial.params or {},
        values=None if duplicate else trial.values,
        reused_values=trial.values if duplicate else None,
        score=trial.score,
        seed_values=trial.seed_values,
        **_seed_fields(trial),
        cost=trial.cost,
        scores=trial.scores or {},
        intermediate=intermediate,
        invariance=trial.invariance or {},
        duration_s=trial.duration_s,
        started_at=trial.started_at,
        finished_at=trial.finished_at,
        reason=trial.reason,
        duplicate_of=trial.duplicate_of,
        worker_id=trial.worker_id,
        progress=progress_out(trial.progress) if trial.state == "running" else None,
    )


def trial_outs(session: Session, trials: list) -> list[TrialOut]:
    """Trials (ORM objects or rows of `_LISTED`) with their intermediate values, in one more query."""
    intermediate = _intermediates(session, [t.id for t in trials])
    return [TrialOut(**_trial_fields(t, intermediate.get(t.id, []))) for t in trials]


def trial_detail(session: Session, trial: Trial) -> TrialDetail:
    intermediate = _intermediates(session, [trial.id]).get(trial.id, [])
    return TrialDetail(
        **_trial_fields(trial, intermediate),
        equivalence_key=trial.equivalence_key,
        backend_trial=trial.backend_trial,
        replay=trial.replay or {},
    )


def list_trials(
    session: Session,
    study_id: int,
    state: str | None,
    sort: TrialSort,
    order: Literal["asc", "desc"],
    limit: int,
    offset: int,
    after: int | None = None,
    total: int | None = None,
) -> tuple[list[TrialOut], int]:
    """A page of trials and how many match; `after` is keyset pagination, as fast on the last page as on the
    first: the trials after trial number `after` in the page's order (sort key, then number; NULL keys last).
    With sort=number `after` may be any number; otherwise it must be one of the study's trials (NoSuchTrial).
    `total`: how many trials match, when the caller knows (SettledCounts); counted here otherwise."""
    where = [Trial.study_id == study_id] + ([Trial.state == state] if state else [])
    if total is None:
        total = count_trials(session, study_id, state)
    column = _SORT_COLUMNS[sort]
    if after is not None and sort == "number":
        where.append(Trial.number < after if order == "desc" else Trial.number > after)
    elif after is not None:
        anchor = session.execute(select(column).where(Trial.study_id == study_id, Trial.number == after)).first()
        if anchor is None:
            raise NoSuchTrial(f"after={after}: study {study_id} has no trial {after} (with sort={sort}, after is"
                              " the number of the previous page's last trial)")  # fmt: skip
        value = anchor[0]
        later = Trial.number > after
        if value is None:  # NULL keys come last, in trial order
            where.append(and_(column.is_(None), later))
        else:
            beyond = column < value if order == "desc" else column > value
            where.append(or_(beyond, and_(column == value, later), column.is_(None)))
    key = column.desc() if order == "desc" else column.asc()
    if sort != "number":
        key = key.nulls_last()
    keys = [key] if sort == "number" else [key, Trial.number.asc()]  # ties: in trial order
    # Plain rows of the listed columns, not ORM objects: no identity map, no replay record (the bulk of a row)
    query = select(*_LISTED).where(*where).order_by(*keys).limit(limit).offset(offset)
    return trial_outs(session, list(session.execute(query))), total


def count_trials(session: Session, study_id: int, state: str | None) -> int:
    where = [Trial.study_id == study_id] + ([Trial.state == state] if state else [])
    return session.scalar(select(func.count()).select_from(Trial).where(*where)) or 0


SETTLED_S = 60.0  # a study finished this long ago has no worker writing to it any more


def settled(status: str, finished_at: datetime | None) -> bool:
    """Whether a study's trials can no longer change: it finished (a finished study is never requeued, and
    nothing deletes trials) long enough ago that its worker's last writes have landed."""
    if status not in FINISHED_STUDY or finished_at is None:
        return False
    return finished_at <= utcnow() - timedelta(seconds=SETTLED_S)


class SettledCounts:
    """Trial counts per (study, state) of settled studies, counted once: COUNT(*) over a study's index entries
    grows with the study (~10-30 ms at 100,000 trials) and was most of a keyset page's time. A live study's
    trials are counted on every page."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._counts: OrderedDict[tuple[int, str | None], int] = OrderedDict()
        self._lock = threading.Lock()

    def total(self, session: Session, study_id: int, state: str | None, is_settled: bool) -> int:
        if not is_settled:
            return count_trials(session, study_id, state)
        key = (study_id, state)
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        n = count_trials(session, study_id, state)
        with self._lock:
            self._counts[key] = n
            while len(self._counts) > self.size:
                self._counts.popitem(last=False)
        return n


def get_trial(session: Session, study_id: int, number: int) -> Trial | None:
    return session.scalars(select(Trial).where(Trial.study_id == study_id, Trial.number == number)).first()


def list_events(session: Session, study_id: int, limit: int, offset: int) -> tuple[list[EventOut], int]:
    events = session.scalars(
        select(Event).where(Event.study_id == study_id).order_by(Event.id).limit(limit).offset(offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(Event).where(Event.study_id == study_id)) or 0
    items = [
        EventOut(
            id=e.id,
            kind=e.kind,
            message=e.message,
            trial_number=e.trial_number,
            worker_id=e.worker_id,
            created_at=e.created_at,
        )
        for e in events
    ]
    return items, total


def importance_samples(session: Session, study_id: int) -> tuple[list[tuple[int, dict, float]], int]:
    """The trained configurations' (number, params, score) -- completed trials, never a duplicate or an
    infeasible proposal -- and how many trials the study has: what search.importance needs (the dashboard
    reads the same from its frame, so both give the same numbers)."""
    rows = session.execute(
        select(Trial.number, Trial.params, Trial.score)
        .where(Trial.study_id == study_id, Trial.state == "complete", Trial.score.is_not(None))
        .order_by(Trial.number)
    ).all()
    total = session.scalar(select(func.count()).select_from(Trial).where(Trial.study_id == study_id)) or 0
    return [(n, p or {}, float(v)) for n, p, v in rows], total


# -- exports ---------------------------------------------------------------------------------------


def _chunks(session: Session, study_id: int) -> Iterator[list[TrialDetail]]:
    """Every trial of the study in number order, a chunk at a time (keyset pagination)."""
    last = -1
    while True:
        trials = session.scalars(
            select(Trial)
            .where(Trial.study_id == study_id, Trial.number > last)
            .order_by(Trial.number)
            .limit(EXPORT_CHUNK)
        ).all()
        if not trials:
            return
        intermediate = _intermediates(session, [t.id for t in trials])
        yield [
            TrialDetail(
                **_trial_fields(t, intermediate.get(t.id, [])),
                equivalence_key=t.equivalence_key,
                backend_trial=t.backend_trial,
                replay=t.replay or {},
            )
            for t in trials
        ]
        last = trials[-1].number


def _as_exported(trial: TrialDetail) -> dict:
    """A trial as exported: as listed (a duplicate's own score is empty, its reused one in `reused_values`)."""
    return trial.model_dump(mode="json")


def export_json(session: Session, study: StudyOut) -> Iterator[str]:
    yield '{"study": ' + study.model_dump_json() + ', "trials": ['
    first = True
    for chunk in _chunks(session, study.id):
        for trial in chunk:
            yield ("" if first else ", ") + json.dumps(_as_exported(trial))
            first = False
    yield '], "effects": ' + json.dumps(effects_of(session, study.id)) + "}\n"


def _columns(session: Session, study_id: int) -> tuple[list[str], list[str], list[str]]:
    params, scores, invariance = set(), set(), set()
    for p, s, i in session.execute(
        select(Trial.params, Trial.scores, Trial.invariance).where(Trial.study_id == study_id)
    ):
        params.update(p or {})
        scores.update(s or {})
        invariance.update(i or {})
    return sorted(params), sorted(scores), sorted(invariance)


CSV_FIXED = (
    "number", "state", "config", "score", "n_seeds", "ci_low", "ci_high", "seed_values", "cost", "duration_s",
    "started_at", "finished_at", "reason", "duplicate_of", "reused_score",
)  # fmt: skip


def export_csv(session: Session, study_id: int) -> Iterator[str]:
    """One row per trial: fixed columns, then param.*, score.*, invariance.*, and the intermediate values (JSON).
    A duplicate's row names its original (`duplicate_of`) and the score it reused (`reused_score`); its own
    score, cost and score.* cells are empty: it is no measurement (see `_trial_fields`)."""
    params, scores, invariance = _columns(session, study_id)
    header = [
        *CSV_FIXED,
        *(f"param.{p}" for p in params),
        *(f"score.{s}" for s in scores),
        *(f"invariance.{f}" for f in invariance),
        "intermediate",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for chunk in _chunks(session, study_id):
        for t in chunk:
            writer.writerow(
                [
                    t.number,
                    t.state,
                    t.config,
                    _cell(t.score),
                    t.n_seeds or "",
                    _cell(t.ci_low),
                    _cell(t.ci_high),
                    _cell(t.seed_values),
                    _cell(t.cost),
                    _cell(t.duration_s),
                    t.started_at.isoformat(),
                    t.finished_at.isoformat() if t.finished_at else "",
                    t.reason or "",
                    "" if t.duplicate_of is None else t.duplicate_of,
                    _cell(t.reused_values[0]) if t.reused_values else "",
                    *(_cell(t.params.get(p)) for p in params),
                    *(_cell(t.scores.get(s)) for s in scores),
                    *(_cell(t.invariance.get(f)) for f in invariance),
                    json.dumps([[i.step, i.value] for i in t.intermediate]),
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
