"""Run a study with the chosen backend and summarise it: results table with each score's interval over seeds,
the best configuration and those indistinguishable from it, per-factor effects, importances.

Both backends leave their trials in the same Optuna study (params, values, and the user attributes the
objective writes: config, equivalence key, scores, replay record, failure / infeasibility reasons), so
the summary reads only that study: it works for a finished run, a resumed one, or a study another
process is still running.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from core.evaluation.metrics import METRIC_LABELS
from core.gdt.config import setting_cell
from core.gdt.factors import CATALOGUE
from core.threads import OversubscriptionWarning
from search import measurements
from search.baseline import BASELINE_ATTR, baseline_text
from search.best import CHANCE_LABEL, BestSet, best_set, chance_level
from search.effects import Effect, factor_effects, report_lines
from search.importance import ParamImportances, from_study
from search.intervals import estimate
from search.measurements import seed_values
from search.optuna_backend import make_storage, run_optuna
from search.recorder import Recorder
from search.spec import StudySpec

# The results table's score columns: three of the proxy metrics (core.evaluation.metrics), with their labels.
SCORE_COLUMNS = tuple((METRIC_LABELS[metric], metric) for metric in ("r_at_1", "r_at_5", "linear_top1"))


@dataclass
class Row:
    """One configuration of the study (equivalent trials folded into the first one)."""

    number: int
    state: str  # complete / pruned / failed
    config: str
    params: dict
    values: list[float] | None
    scores: dict
    device_seconds: float | None
    reason: str | None
    repeats: int = 1  # how many proposals hit this configuration
    seed_values: list[float] = field(default_factory=list)  # complete: each training seed's score
    settings: dict = field(default_factory=dict)  # the trial's settings record: factor -> {"choice", "k"}

    def interval(self) -> str:
        """The score with its 95 % interval over seeds, or '1 seed, no interval'."""
        return estimate(self.seed_values).text() if self.seed_values else "-"


@dataclass
class StudyResults:
    """What `summarize` reads out of a study for the CLI report (the API's study listing is
    api.schemas.StudySummary, a different thing)."""

    name: str
    directions: list[str]
    rows: list[Row]
    infeasible: list[tuple[int, str, str]]  # (number, config, reason)
    duplicates: int
    best: list[Row]  # single objective: the best row; multi-objective: the Pareto front
    importance: ParamImportances  # search.importance: the same numbers as the API and the dashboard
    counts: dict[str, int] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)  # search.effects: per-factor paired differences
    best_set: BestSet | None = None  # search.best: the best and those indistinguishable from it, chance level
    baseline: dict | None = None  # search.baseline: the untrained encoder's objective for the same seeds

    @property
    def importances(self) -> dict[str, float]:
        return self.importance.importances

    @property
    def importance_note(self) -> str | None:
        return self.importance.note


def run_study(spec: StudySpec, recorder: Recorder | None = None) -> optuna.Study:
    """Run (or resume) the study to its budget on its backend."""
    problem = spec.oversubscription()
    if problem:  # on stderr in `gdt-search run` output; a caller may turn it into an error
        warnings.warn(f"study {spec.name}: {problem}", OversubscriptionWarning, stacklevel=2)
    if spec.backend == "ray":
        from search.ray_backend import run_ray

        return run_ray(spec, recorder)
    return run_optuna(spec, recorder)


def load_study(spec: StudySpec) -> optuna.Study:
    return optuna.load_study(study_name=spec.name, storage=make_storage(spec, heartbeat=False))


def summarize(study: optuna.Study) -> StudyResults:
    trials = study.get_trials(deepcopy=False)
    rows: dict[int, Row] = {}
    infeasible, duplicates = [], 0
    counts = {s.name.lower(): 0 for s in TrialState}
    for t in trials:
        counts[t.state.name.lower()] += 1
        attrs = t.user_attrs
        if "infeasible" in attrs:
            infeasible.append((t.number, attrs.get("config", ""), attrs["infeasible"]))
            continue
        if "duplicate_of" in attrs:
            duplicates += 1
            if attrs["duplicate_of"] in rows:
                rows[attrs["duplicate_of"]].repeats += 1
            continue
        if not attrs.get("trained") or t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        if t.state == TrialState.FAIL and not attrs.get("failure_kind"):
            continue  # its worker died; the heartbeat re-queued it as a new trial
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}[t.state]
        replay = attrs.get("replay") or {}
        rows[t.number] = Row(
            t.number,
            state,
            attrs.get("config", ""),
            dict(t.params),
            # a pruned trial's value is its last intermediate score (the first seed's, mid-training): no result
            list(t.values) if t.values and state == "complete" else None,
            attrs.get("scores") or {},
            replay.get("device_seconds"),
            attrs.get("failure") or attrs.get("pruned"),
            seed_values=seed_values(t.values, attrs.get("seed_values")) if state == "complete" else [],
            settings=attrs.get("settings") or {},
        )
    ordered = sorted(rows.values(), key=_rank_key)
    measured = measurements.from_study(study)
    classes = next((r.scores.get("n_classes") for r in ordered if isinstance(r.scores.get("n_classes"), int)), None)
    return StudyResults(
        study.study_name,
        [d.name.lower() for d in study.directions],
        ordered,
        infeasible,
        duplicates,
        _best(study, rows),
        from_study(study),
        counts=counts,
        effects=factor_effects(measured),
        best_set=best_set(measured, chance_level(study.user_attrs.get(BASELINE_ATTR), classes)),
        baseline=study.user_attrs.get(BASELINE_ATTR),
    )


def _rank_key(row: Row) -> tuple:
    """Completed rows first, best objective first; then pruned and failed ones by trial number."""
    done = row.state == "complete" and row.values is not None
    return (not done, -(row.values[0] if done else 0.0), row.number)


def _best(study: optuna.Study, rows: dict[int, Row]) -> list[Row]:
    try:
        best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    except ValueError:
        return []
    out, seen = [], set()
    for t in best:
        number = int(t.user_attrs.get("duplicate_of", t.number))
        if number in rows and number not in seen:
            seen.add(number)
            out.append(rows[number])
    return out


# -- rendering ---------------------------------------------------------------------------------------


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def results_table(summary: StudyResults, factors: list[str] | None = None) -> str:
    """A markdown table in the papers' style: one row per configuration, per-factor choices, then scores."""
    factors = factors or list(CATALOGUE)
    extra = sorted({p for r in summary.rows for p in r.params if p not in CATALOGUE and not p.startswith("K_")})
    header = ["#", *factors, *extra, *(c for c, _ in SCORE_COLUMNS), "objective", "mean [95 % CI], seeds",
              "device s", "state"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary.rows:
        cells = {name: setting_cell(setting) for name, setting in row.settings.items()}
        values = " / ".join(_fmt(v) for v in row.values) if row.values else "-"
        state = row.state if row.state == "complete" else f"{row.state}: {row.reason or ''}".strip()
        if row.repeats > 1:
            state += f" (proposed {row.repeats}x)"
        line = [
            str(row.number),
            *(cells.get(f, "") for f in factors),
            *(_fmt(row.params.get(p)) for p in extra),
            *(_fmt(row.scores.get(k)) for _, k in SCORE_COLUMNS),
            values,
            row.interval(),
            _fmt(row.device_seconds),
            state,
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in line) + " |")
    return "\n".join(lines)


def report(summary: StudyResults) -> str:
    """The end-of-run report: table, counts, best configuration(s), parameter importances."""
    out = [f"## Study {summary.name} ({', '.join(summary.directions)})", "", results_table(summary), ""]
    by_state = {s: sum(r.state == s for r in summary.rows) for s in ("complete", "pruned", "failed")}
    out.append(
        f"{len(summary.rows)} configurations trained ({by_state['complete']} complete, {by_state['pruned']} pruned,"
        f" {by_state['failed']} failed); {summary.duplicates} duplicate proposals reused an equivalent trial's"
        f" result (not counted as measurements); {len(summary.infeasible)} infeasible proposals never trained"
    )
    for number, config, reason in summary.infeasible[:5]:
        out.append(f"  infeasible #{number} {config}: {reason}")
    if len(summary.infeasible) > 5:
        out.append(f"  ... and {len(summary.infeasible) - 5} more")
    out.append("")
    if len(summary.directions) == 1:
        # the best by mean over seeds, with what the seeds cannot tell apart from it, and chance level
        out += summary.best_set.lines() if summary.best_set else ["best: none (no completed trial)"]
    elif not summary.best:
        out.append("best: none (no completed trial)")
    else:
        out.append("Pareto front (score max, device seconds min):")
        for b in summary.best:
            cost = _fmt(b.values[1]) if b.values and len(b.values) > 1 else "-"
            out.append(f"  #{b.number} {b.config}  score {b.interval()}; device seconds {cost}")
        if summary.best_set and summary.best_set.chance is not None:
            out.append(f"  {CHANCE_LABEL}: {summary.best_set.chance:.3f}")
    if summary.baseline:
        out.append(f"  {baseline_text(summary.baseline)}")
    out.append("")
    out += report_lines(summary.effects)
    out.append("")
    out.append(summary.importance.line())
    return "\n".join(out)
