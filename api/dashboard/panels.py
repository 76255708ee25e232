"""What each dashboard plot needs, reduced on the server so a response stays small at any study size.

Every function takes a `StudyFrame` and returns plain JSON-able data whose size is bounded by the
number of configurations, factors or an explicit cap -- never by the number of trials: histories are
binned beyond `max_points`, distributions are sent as box statistics, parallel coordinates and learning
curves are capped samples (the response says how many of how many it shows).
"""

from __future__ import annotations

import json
import math
from typing import Literal

import numpy as np
import pandas as pd

from api.dashboard.frame import METRICS, StudyFrame
from core.gdt.factors import LETTERS
from search import effects as paired
from search.intervals import estimate
from search.measurements import hyper_of, pool_trainings

CHOICE_ORDER = tuple(LETTERS.values())  # the papers' letters (core.gdt.factors): invariant, distinctive, ignore, off
CATEGORICAL_AXIS_MAX = 12  # numeric parameters with at most this many values get labelled ticks
TableSort = Literal["score", "best", "n", "n_seeds", *METRICS]  # the proxy metrics: one list (frame.METRICS)


def _number(value) -> float | None:
    """A JSON number, or None for missing / NaN / inf (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _numbers(values) -> list[float | None]:
    return [_number(v) for v in values]


def box(values: pd.Series) -> dict:
    """Box statistics (plotly's q1/median/q3/fences) of the finite values."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"n": 0}
    q1, median, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return {
        "n": int(len(v)),
        "min": float(v.min()),
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "max": float(v.max()),
        "mean": float(v.mean()),
    }


def _choices(column: pd.Series) -> list[str]:
    seen = set(column.dropna())
    return [c for c in CHOICE_ORDER if c in seen] + sorted(seen - set(CHOICE_ORDER))


def counts(frame: StudyFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame.trials["state"].value_counts().sort_index().items()}


# -- optimisation history -----------------------------------------------------------------------------


def history(frame: StudyFrame, max_points: int = 1000) -> dict:
    """Score by trial number (every point up to `max_points`, then min/median/max per bin) and the best so far."""
    done = frame.complete.sort_values("number")
    numbers, scores = done["number"].to_numpy(), done["score"].to_numpy(dtype=float)
    best = np.maximum.accumulate(scores) if len(scores) else scores
    improved = np.r_[True, best[1:] > best[:-1]] if len(best) else np.zeros(0, bool)
    out: dict = {
        "total": int(len(done)),
        "best": {"number": numbers[improved].tolist(), "score": _numbers(best[improved])},
        "last_number": int(frame.trials["number"].max()) if len(frame.trials) else None,
    }
    if len(done) <= max_points:
        out["points"] = {"number": numbers.tolist(), "score": _numbers(scores), "config": done["config"].tolist()}
    else:
        bins = np.array_split(np.arange(len(done)), max_points // 2)
        out["bins"] = {
            "number": [int(numbers[b].mean()) for b in bins],
            "min": _numbers(scores[b].min() for b in bins),
            "median": _numbers(np.median(scores[b]) for b in bins),
            "max": _numbers(scores[b].max() for b in bins),
            "size": [len(b) for b in bins],
        }
    return out


# -- per-factor effect and measured invariance ---------------------------------------------------------


def factor_effects(frame: StudyFrame) -> list[dict]:
    """For each factor the study varied: the score's distribution for each choice it tried (the papers'
    ablation). Factors with one choice in every scored trial say nothing about choices and are left out."""
    done = frame.complete
    out = []
    for name in frame.factors:
        column = done[f"choice.{name}"]
        choices = _choices(column)
        if len(choices) > 1:
            boxes = [{"choice": c, **box(done.loc[column == c, "score"])} for c in choices]
            out.append({"factor": name, "choices": boxes})
    return out


def paired_effects(frame: StudyFrame) -> list[dict]:
    """search.effects on the trained configurations: per factor and pair of choices, the mean paired difference
    with its 95 % interval (drawn as error bars beside the boxes; the same numbers as GET /studies/{id}/effects)."""
    return [e.as_dict() for e in paired.factor_effects(frame.measured())]


def invariance_by_choice(frame: StudyFrame) -> list[dict]:
    """For each factor with a measured invariance: its distribution for each choice of that factor --
    a factor chosen invariant should measure high, distinctive low (did the choice take effect?)."""
    done = frame.complete
    out = []
    for name in frame.invariances:
        if f"choice.{name}" not in done:
            continue
        column = done[f"choice.{name}"]
        choices = [{"choice": c, **box(done.loc[column == c, f"inv.{name}"])} for c in _choices(column)]
        out.append({"factor": name, "choices": choices})
    return out


# -- learning curves ------------------------------------------------------------------------------------


def learning_curves(frame: StudyFrame, n_curves: int = 20) -> dict:
    """Intermediate scores: 10/50/90% band per step over all trials, plus the curves of the `n_curves`
    best completed trials and of up to `n_curves` pruned ones (what the pruner stopped, and when)."""
    values = frame.intermediate.dropna(subset=["value"])
    if values.empty:
        return {"steps": [], "curves": [], "total": 0}
    by_step = values.groupby("step")["value"]
    band = by_step.quantile([0.1, 0.5, 0.9]).unstack()
    trials = frame.trials.set_index("number")
    final = frame.complete.set_index("number")["score"]  # a completed curve ends at its final score
    best = frame.complete.nlargest(n_curves, "score")["number"].tolist()
    pruned = trials.index[trials["state"] == "pruned"].tolist()[-n_curves:]
    curves = []
    for state, numbers in (("complete", best), ("pruned", pruned)):
        chosen = values[values["number"].isin(numbers)].sort_values(["number", "step"])
        for number, rows in chosen.groupby("number"):
            curves.append({
                "number": int(number), "state": state, "step": rows["step"].tolist(), "value": _numbers(rows["value"]),
                "final": _number(final.get(number)) if state == "complete" else None,
            })  # fmt: skip
    return {
        "steps": band.index.tolist(),
        "p10": _numbers(band[0.1]),
        "p50": _numbers(band[0.5]),
        "p90": _numbers(band[0.9]),
        "n": by_step.size().tolist(),
        "curves": curves,
        "total": int(values["number"].nunique()),
    }


# -- Pareto front (score up, cost down) -----------------------------------------------------------------


def pareto(frame: StudyFrame, max_cloud: int = 1000, seed: int = 0) -> dict | None:
    """The non-dominated trials of a two-objective study (maximise score, minimise cost) and a capped
    sample of the others; None for a single-objective study."""
    done = frame.complete[frame.complete["cost"].notna()]
    if done.empty:
        return None
    ordered = done.sort_values(["cost", "score"], ascending=[True, False])
    scores = ordered["score"].to_numpy(dtype=float)
    # Sorted by cost, a trial is on the front iff it scores higher than every cheaper one.
    previous_best = np.r_[-np.inf, np.maximum.accumulate(scores)[:-1]]
    on_front = scores > previous_best
    front, rest = ordered[on_front], ordered[~on_front]
    if len(rest) > max_cloud:
        rest = rest.sample(max_cloud, random_state=seed)

    def points(rows: pd.DataFrame) -> dict:
        return {
            "number": rows["number"].tolist(),
            "score": _numbers(rows["score"]),
            "cost": _numbers(rows["cost"]),
            "config": rows["config"].tolist(),
        }

    return {"front": points(front), "others": points(rest), "total": int(len(done))}


# -- parallel coordinates ---------------------------------------------------------------------------------


def parallel(frame: StudyFrame, limit: int = 400, seed: int = 0) -> dict:
    """One line per trial over the searched parameters and the score: the best `limit // 2` trials and a
    seeded sample of the rest. Categorical parameters become integer axes with their labels as ticks."""
    done = frame.complete
    total = len(done)
    if total > limit:
        top = done.nlargest(limit // 2, "score")
        rest = done.drop(top.index)
        done = pd.concat([top, rest.sample(limit - len(top), random_state=seed)])
    dimensions = []
    for name in frame.params:
        values = [p.get(name) for p in done["params"]]  # as recorded (None: not used by that trial)
        present = [v for v in values if v is not None]
        if not present:
            continue
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        if numeric and len(set(present)) > CATEGORICAL_AXIS_MAX and None not in values:
            dimensions.append({"label": name, "values": _numbers(values)})
            continue
        # Choices, booleans, and numbers with few values (K_m, a clip budget) get one tick per value; a
        # parameter a trial did not use (K of an 'off' factor) gets its own tick.
        distinct = sorted(set(present), key=lambda v: (0, v) if numeric else (1, *_label_order(str(v))))
        labels = [str(v) for v in distinct] + (["(unused)"] if None in values else [])
        code = {str(v): i for i, v in enumerate(distinct)}
        dimensions.append(
            {
                "label": name,
                "values": [code[str(v)] if v is not None else len(distinct) for v in values],
                "tickvals": list(range(len(labels))),
                "ticktext": labels,
            }
        )
    dimensions.append({"label": "score", "values": _numbers(done["score"])})
    return {
        "dimensions": dimensions,
        "shown": int(len(done)),
        "total": int(total),
        "sampled": total > limit,
    }


def _label_order(label: str) -> tuple:
    words = {"invariant": 0, "distinctive": 1, "ignore": 2, "off": 3}
    return (words.get(label, 4), label)


# -- the papers' Table 1 ------------------------------------------------------------------------------------


def table1(frame: StudyFrame, sort: TableSort = "score", descending: bool = True, limit: int = 50, offset: int = 0):
    """One row per (configuration, hyper-parameters): its per-factor choice and K_m, its searched parameters as
    columns (`hyper`), the mean score over every seed of its trainings with the 95 % interval and how many seeds
    it rests on, the best score, mean proxy metrics, and its trials per state; sorted, one page.

    `n` counts the row's trainings, `n_scored` the completed ones and `n_seeds` the seeds' scores its mean, sd
    and interval rest on (the sd is over seeds of this one configuration and hyper-parameters, never across
    hyper-parameters). A duplicate (a proposal equivalent to a trained configuration, which reused its result)
    is no measurement: it only shows in its original's row as `duplicates` (and in `states`), whatever
    notation it was proposed in. `in_best_set`: the best row and those statistically indistinguishable from it."""
    trials = frame.trials[frame.trials["config"].notna()]
    if trials.empty:
        return {"factors": frame.factors, "metrics": list(METRICS), "hyper": [], "rows": [], "total": 0}
    trials = _duplicates_in_their_original_row(trials)
    measured = trials[trials["state"] != "duplicate"]
    done = trials[(trials["state"] == "complete") & trials["score"].notna()]
    seeds = done.groupby("row")["seed_values"].agg(lambda trainings: pool_trainings(trainings)[1])
    intervals = {row: estimate(values) for row, values in seeds.items() if values}
    scored = done.groupby("row").agg(
        best=("score", "max"), n_scored=("score", "size"), **{m: (f"m.{m}", "mean") for m in METRICS}
    )
    for column, field in (("score", "mean"), ("std", "sd"), ("ci_low", "low"), ("ci_high", "high"), ("n_seeds", "n")):
        scored[column] = [getattr(intervals[row], field) if row in intervals else None for row in scored.index]
    groups = trials.groupby("row", sort=False)
    table = groups.agg(first=("number", "min")).join(measured.groupby("row").agg(n=("number", "size"))).join(scored)
    for column in ("n", "n_scored", "n_seeds"):
        table[column] = pd.to_numeric(table[column]).fillna(0)
    for column in ("score", "std", "ci_low", "ci_high"):
        table[column] = pd.to_numeric(table[column]).astype(float)
    states = groups["state"].value_counts().unstack(fill_value=0)
    firsts = trials.drop_duplicates("row").set_index("row")
    hyper_names = sorted({name for h in firsts["hyper"] for name in h})
    winners = _best_set_rows(frame)
    table = table.sort_values([sort, "first"], ascending=[not descending, True], na_position="last")
    page = table.iloc[offset : offset + limit]
    rows = []
    for key, row in page.iterrows():
        cells = {}
        for name in frame.factors:
            choice = firsts.at[key, f"choice.{name}"]
            k = firsts.at[key, f"k.{name}"]
            cells[name] = {"choice": choice, "k": int(k)} if isinstance(choice, str) else None
        interval = intervals.get(key)
        rows.append(
            {
                "config": firsts.at[key, "config"],
                "hyper": firsts.at[key, "hyper"],
                "factors": cells,
                "n": int(row["n"]),
                "n_scored": int(row["n_scored"]),
                "n_seeds": int(row["n_seeds"]),
                "duplicates": int(states.loc[key].get("duplicate", 0)),
                "states": {s: int(c) for s, c in states.loc[key].items() if c},
                "score": _number(row["score"]),
                "std": _number(row["std"]),
                "ci_low": _number(row["ci_low"]),
                "ci_high": _number(row["ci_high"]),
                "interval": interval.text() if interval else None,
                "in_best_set": key in winners,
                "best": _number(row["best"]),
                "metrics": {m: _number(row[m]) for m in METRICS},
                "first_trial": int(row["first"]),
            }
        )
    return {
        "factors": frame.factors,
        "metrics": list(METRICS),
        "hyper": hyper_names,
        "rows": rows,
        "total": int(len(table)),
    }


def _row_key(config: str, params: dict | None) -> str:
    """Table 1's row: a configuration with one set of searched hyper-parameters (search.measurements.hyper_of)."""
    return config + " " + json.dumps(hyper_of(params or {}), sort_keys=True, default=str)


def _best_set_rows(frame: StudyFrame) -> set[str]:
    result = frame.best_set()
    if result.best is None:
        return set()
    return {_row_key(m.config, m.hyper) for m in [result.best, *(m for m, _ in result.indistinguishable)]}


def _duplicates_in_their_original_row(trials: pd.DataFrame) -> pd.DataFrame:
    """Each trial's Table 1 row (`row`, `hyper`); duplicates under their original's (an equivalent proposal may be
    written differently)."""
    is_duplicate = (trials["state"] == "duplicate") & trials["duplicate_of"].notna()
    trials = trials.copy()
    trials["hyper"] = [hyper_of(p or {}) for p in trials["params"]]
    trials["row"] = [_row_key(c, p) for c, p in zip(trials["config"], trials["params"], strict=True)]
    if not is_duplicate.any():
        return trials
    index = trials.set_index("number")
    originals = trials.loc[is_duplicate, "duplicate_of"].astype(int)
    for column in ("config", "hyper", "row"):
        known = dict(index[column])
        trials.loc[is_duplicate, column] = [
            known.get(original, own) for original, own in zip(originals, trials.loc[is_duplicate, column], strict=True)
        ]
    return trials


# -- parameter importance ----------------------------------------------------------------------------------


def importance_samples(frame: StudyFrame) -> list[tuple[int, dict, float]]:
    """The trained configurations' (number, params, score): completed trials only (no duplicate, no infeasible)."""
    done = frame.complete
    return [(int(n), p or {}, float(v)) for n, p, v in zip(done["number"], done["params"], done["score"], strict=True)]


def importance(frame: StudyFrame) -> dict:
    """search.importance on the study's trained configurations: the numbers the API, the client and
    `gdt-search run` give for the same study, with their sd over the forest seeds."""
    from dataclasses import asdict

    from search.importance import from_samples

    return asdict(from_samples(importance_samples(frame), int(len(frame.trials))))
