"""A large recorded study for the dashboard benchmark and its scale tests, written in bulk.

Configurations, parameters, infeasible reasons and the papers' notation are real: every trial is a
candidate of a Table-1-like space (`SearchSpace.enumerate` on the spec below). What is not real is the
training: the scores come from a fixed additive model -- a per-factor, per-choice effect plus noise --
so the plots have structure to show; nothing here is a measured result. Measured invariance follows the
choice (invariant high, distinctive low); intermediate values climb to the final score; pruned trials
stop early; some trials repeat an earlier configuration and are recorded as duplicates.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from api import queue
from api.db import Database, migrate
from api.models import IntermediateValue, Study, Trial
from core.evaluation.metrics import METRICS
from search.space import SearchSpace
from search.spec import load_spec

SPEC = {
    "name": "synthetic-table1",
    "notes": "Synthetic scores (an additive model of per-factor effects), real configurations.",
    "factors": {
        "TS": {"choices": ["invariant", "distinctive", "ignore", "off"], "k": [2, 4]},
        "TR": {"choices": ["invariant", "distinctive", "ignore", "off"], "k": 2},
        "MOD": {"choices": ["invariant", "off"], "k": 2},
        "SP": {"choices": ["invariant", "distinctive", "off"], "k": 2},
    },
    "clip_budget": [32, 64],
    "hyperparameters": {"lr": {"choices": [0.01, 0.03, 0.1]}},
    "objective": {"score": "r_at_1", "cost": "device_seconds"},
    "search": {"sampler": "random", "n_trials": 10_000},
}
EFFECT = {"i": 0.04, "d": 0.02, "ignore": -0.01, "off": 0.0}  # score shift per factor choice
TR_EFFECT = {"i": -0.06, "d": 0.08, "ignore": 0.0, "off": 0.0}  # reversal: distinctive helps
INVARIANCE = {"i": 0.85, "d": 0.15, "ignore": 0.55, "off": 0.6}
STEPS = (10, 20, 30, 40, 50)


def _letters(candidate) -> dict[str, str]:
    return {name: {"invariant": "i", "distinctive": "d"}.get(c, c) for name, (c, _) in candidate.settings.items()}


def _rows(study_id: int, n_trials: int, seed: int) -> tuple[list[dict], dict[int, list[float]]]:
    rng = random.Random(seed)
    candidates = list(SearchSpace(load_spec(SPEC)).enumerate())
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows, curves, first_of = [], {}, {}
    for number in range(n_trials):
        candidate = rng.choice(candidates)
        started = base + timedelta(seconds=30 * number)
        row = dict(
            study_id=study_id,
            number=number,
            backend_trial=str(number),
            params=candidate.params,
            config=candidate.describe(),
            settings=candidate.settings_record(),
            equivalence_key=candidate.key,
            values=None,
            score=None,
            cost=None,
            scores={},
            invariance={},
            reason=None,
            duplicate_of=None,
            replay={},
            worker_id="synthetic",
            started_at=started,
            finished_at=started + timedelta(seconds=20),
            duration_s=20.0,
        )
        rows.append(row)
        if not candidate.feasible:
            row.update(state="infeasible", reason=candidate.infeasible, duration_s=0.0)
            continue
        letters = _letters(candidate)
        score = 0.25 + sum(TR_EFFECT[c] if f == "TR" else EFFECT[c] for f, c in letters.items())
        score = min(1.0, max(0.0, score + rng.gauss(0, 0.03)))
        cost = 10.0 + candidate.config.clip_budget * 0.2 + rng.gauss(0, 1.0)
        invariance = {f: min(1.0, INVARIANCE[c] + rng.gauss(0, 0.05)) for f, c in letters.items()}
        scores = {m: min(1.0, max(0.0, score + 0.1 * i + rng.gauss(0, 0.02))) for i, m in enumerate(METRICS)}
        duplicate = first_of.get(candidate.key)
        if duplicate is not None and rng.random() < 0.5:
            row.update(state="duplicate", duplicate_of=duplicate, reason=f"equivalent to #{duplicate}")
        elif rng.random() < 0.15:
            row.update(state="pruned", reason="pruned at step 20", values=None)
            curves[number] = [score * s / 60 for s in STEPS[:2]]
            continue
        else:
            row["state"] = "complete"
            first_of.setdefault(candidate.key, number)
            curves[number] = [score * (0.5 + 0.5 * s / STEPS[-1]) + rng.gauss(0, 0.01) for s in STEPS]
        row.update(values=[score, cost], score=score, cost=cost, scores=scores, invariance=invariance)
    return rows, curves


def populate(url: str, n_trials: int, seed: int = 0, status: str = "completed") -> int:
    """A study of `n_trials` synthetic trials in the service's database at `url`; returns its id."""
    db = Database(url)
    migrate(db, optuna_tables=False)
    study_id = queue.enqueue(db, load_spec({**SPEC, "search": {**SPEC["search"], "n_trials": n_trials}})).id
    rows, curves = _rows(study_id, n_trials, seed)
    now = datetime.now(UTC)
    with db.write() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Trial), rows[start : start + 5000])
        ids = dict(session.execute(select(Trial.number, Trial.id).where(Trial.study_id == study_id)).all())
        values = [
            {"trial_id": ids[number], "step": step, "value": value, "recorded_at": now}
            for number, curve in curves.items()
            for step, value in zip(STEPS, curve, strict=False)
        ]
        for start in range(0, len(values), 20000):
            session.execute(insert(IntermediateValue), values[start : start + 20000])
        session.execute(update(Study).where(Study.id == study_id).values(status=status, finished_at=now))
    db.dispose()
    return study_id
