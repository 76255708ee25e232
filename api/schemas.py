"""The API's response bodies (pydantic), so /docs shows and clients get exactly what each endpoint returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from api.models import StudyStatus
from search.states import TrialState

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching the filter, over all pages")
    limit: int
    offset: int


class Intermediate(BaseModel):
    step: int
    value: float | None = Field(description="the objective's score at this step (null: not finite)")


class TrialProgressOut(BaseModel):
    """How far a running trial's training is (reported every ~10 % of its steps, at most every few seconds)."""

    step: int = Field(description="training steps done (of this seed)")
    total: int = Field(description="the seed's training steps")
    seed: int = Field(1, description="the training seed being trained, 1 .. seeds")
    seeds: int = 1
    loss: float | None = Field(None, description="the latest step's loss")
    score: float | None = Field(None, description="the latest intermediate score (trial.eval_every), if any")
    score_step: int | None = None
    fraction: float = Field(description="of the whole trial, every seed included (0 .. 1)")
    text: str = Field(description="e.g. 'step 120/300 (40 %)  loss 4.1234  score 0.2510 at step 100'")
    at: datetime | None = Field(None, description="when it was reported")


class TrialOut(BaseModel):
    number: int = Field(description="Optuna's trial number within the study")
    state: TrialState
    config: str = Field(description="the configuration in the papers' notation")
    settings: dict[str, dict[str, Any]] | None = Field(
        None,
        description="the same configuration as data: factor -> {choice, k} in the notation's order, DS first"
        " (an infeasible proposal: its searched factors only)",
    )
    params: dict[str, Any]
    values: list[float | None] | None = Field(
        description="objective value(s): score first, then cost (null for a duplicate: see reused_values)"
    )
    reused_values: list[float | None] | None = Field(
        None, description="a duplicate's: the values of trial duplicate_of, which it reused (no measurement)"
    )
    score: float | None = Field(description="the mean of seed_values (search.seeds training seeds)")
    seed_values: list[float | None] | None = Field(
        None, description="each training seed's score (null: one seed, recorded before replicates)"
    )
    n_seeds: int = Field(0, description="training seeds the score is the mean of (0: no score)")
    ci_low: float | None = Field(None, description="95 % t-interval of the mean score (null below 2 seeds)")
    ci_high: float | None = None
    interval: str | None = Field(
        None, description="e.g. '0.412 [0.395, 0.430], 3 seeds' or '0.412 (1 seed, no interval)'"
    )
    cost: float | None
    scores: dict[str, Any] = Field(description="every proxy metric")
    intermediate: list[Intermediate]
    invariance: dict[str, Any] = Field(description="measured invariance of the embedding to each factor")
    duration_s: float | None
    started_at: datetime
    finished_at: datetime | None
    reason: str | None = Field(description="why it failed, was pruned, is infeasible or a duplicate")
    duplicate_of: int | None
    worker_id: str | None
    progress: TrialProgressOut | None = Field(None, description="a running trial's training progress")


class TrialDetail(TrialOut):
    equivalence_key: str | None
    backend_trial: str
    replay: dict[str, Any] = Field(description="everything needed to replay the trial")


class RunningTrial(BaseModel):
    number: int
    config: str
    progress: TrialProgressOut | None = Field(description="null until its first report")


class Progress(BaseModel):
    n_trials: int | None = Field(description="the trial budget (null: the whole finite space or a time budget)")
    timeout_s: float | None
    total: int = Field(description="trials recorded (every state)")
    counts: dict[str, int] = Field(description="trials per state")
    trained: int = Field(0, description="trained configurations (complete, pruned, failed): what n_trials counts")
    duplicates: int = Field(0, description="proposals equivalent to a trained configuration (reused, never counted)")
    infeasible: int = Field(0, description="proposals that cannot be trained (skipped, never counted)")
    text: str = Field("", description="e.g. 'trained 12 of 20 (5 duplicates, 3 infeasible skipped)'")
    running: list[RunningTrial] = Field(
        default_factory=list, description="GET /studies/{id} only: the running trials and their training progress"
    )


class StudySummary(BaseModel):
    id: int
    name: str
    status: StudyStatus
    backend: str
    directions: list[str]
    cancel_requested: bool
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: Progress
    best_score: float | None = Field(description="the highest score of a completed trial so far")
    best_interval: str | None = Field(
        None, description="that trial's score with its 95 % t-interval over seeds: '0.412 [0.395, 0.430], 3 seeds'"
    )


class StudyOut(StudySummary):
    optuna_name: str = Field(description="the study's name in Optuna's tables (same database)")
    worker_id: str | None
    heartbeat_at: datetime | None
    error: str | None
    data_report: dict[str, Any] | None = Field(
        None,
        description="a study on folders: per dataset (pretrain, proxy), the videos used, every file skipped"
        " and every truncated file kept, each with its reason (paths relative to the dataset)",
    )
    baseline: dict[str, Any] | None = Field(
        None,
        description="the untrained encoder's objective (same seeds, no training): seeds, values, mean, n and the"
        " 95 % t-interval (low, high; none for one seed); every score is read against it and chance",
    )
    calibration: dict[str, Any] | None = Field(
        None,
        description="the proxy calibration (search.calibration): per budget, Kendall tau against a longer"
        " reference with its bootstrap 95 % interval and the ICC; per intermediate step, tau against the final"
        " scores; the recommended budget and the steps where a pruner may act",
    )
    pruning: str | None = Field(None, description="where the study's pruner acts, or why it does not")
    best: TrialOut | None = Field(description="the completed trial with the highest score so far")
    best_set: BestSet | None = Field(
        None, description="the best configuration by mean over seeds and those statistically indistinguishable from it"
    )
    spec: dict[str, Any] = Field(description="the full study spec, defaults filled in")


class Measured(BaseModel):
    """A configuration with one set of hyper-parameters, and its score over seeds (search.measurements)."""

    config: str
    hyper: dict[str, Any] = Field(description="searched parameters other than the factors' choices and K")
    trials: list[int] = Field(description="the trials that trained it")
    values: list[float] = Field(description="every seed's score")
    mean: float
    n: int = Field(description="seeds the mean rests on")
    sd: float | None
    low: float | None = Field(description="95 % t-interval of the mean (null below 2 seeds)")
    high: float | None
    p: float | None = Field(None, description="Welch t-test p-value against the best (indistinguishable: p > alpha)")


class BestSet(BaseModel):
    """search.best: the highest mean and every configuration the seeds cannot tell apart from it."""

    best: Measured | None
    indistinguishable: list[Measured] = Field(description="Welch t-test p > alpha against the best, best p first")
    untestable: int = Field(description="other configurations with < 2 seeds, which cannot be tested")
    alpha: float
    note: str | None = Field(description="why no set can be computed (e.g. 1 seed)")
    chance: float | None = Field(
        description="chance level: the objective on features with no class information (R@1 and the classifiers:"
        " 1 / the proxy's classes; R@5 and R@20 above it)"
    )


class Effect(BaseModel):
    """`choice` - `reference` for `factor`: mean paired difference of the objective with its 95 % t-interval."""

    factor: str
    choice: str
    reference: str
    pairs: int = Field(description="matched pairs: configurations differing only in this factor")
    min_seeds: int
    max_seeds: int
    mean: float | None = Field(description="null below 2 matched pairs")
    low: float | None
    high: float | None
    sd: float | None
    note: str | None = Field(description="e.g. 'fewer than 2 matched pairs'")
    text: str = Field(description="the effect as one line of the report")


class Effects(BaseModel):
    """search.effects: the same numbers as `gdt-search run`'s report, the export and the dashboard."""

    study_id: int
    effects: list[Effect]
    configurations: int = Field(description="trained (configuration, hyper-parameters) entries they rest on")
    note: str | None = None


class Created(BaseModel):
    id: int
    name: str
    status: StudyStatus
    url: str


class EventOut(BaseModel):
    id: int
    kind: str
    message: str
    trial_number: int | None
    worker_id: str | None
    created_at: datetime


class Importance(BaseModel):
    """search.importance: the same numbers as the dashboard and `gdt-search run` give for the study."""

    study_id: int
    importances: dict[str, float] = Field(
        description="parameter -> importance (Optuna's fANOVA), mean over the forest seeds, largest first"
    )
    sd: dict[str, float] = Field(default_factory=dict, description="parameter -> sd of its importance over the seeds")
    trained: int = Field(0, description="trained configurations it rests on (completed trials; no duplicate)")
    trials: int = Field(0, description="trials the study has, every state")
    minimum: int = Field(description="trained configurations needed before importances are given")
    seeds: int = Field(description="forest seeds the mean and sd are over")
    note: str | None = Field(description="why there are none ('not enough trained configurations (n of m)'), or"
                             " what was sampled")  # fmt: skip


class Health(BaseModel):
    status: str
    database: str | None = None
    revision: str | None = None


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class ValidationProblem(BaseModel):
    detail: list[FieldProblem]


StudyOut.model_rebuild()  # best_set: BestSet is defined below StudyOut
