"""The API's response bodies (pydantic), so /docs shows and clients get exactly what each endpoint returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

StudyStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
TrialState = Literal["running", "complete", "pruned", "failed", "infeasible", "duplicate"]
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching the filter, over all pages")
    limit: int
    offset: int


class Intermediate(BaseModel):
    step: int
    value: float | None = Field(description="the objective's score at this step (null: not finite)")


class TrialOut(BaseModel):
    number: int = Field(description="Optuna's trial number within the study")
    state: TrialState
    config: str = Field(description="the configuration in the papers' notation")
    params: dict[str, Any]
    values: list[float | None] | None = Field(description="objective value(s): score first, then cost")
    score: float | None
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


class TrialDetail(TrialOut):
    equivalence_key: str | None
    backend_trial: str
    replay: dict[str, Any] = Field(description="everything needed to replay the trial")


class Progress(BaseModel):
    n_trials: int | None = Field(description="the trial budget (null: the whole finite space or a time budget)")
    timeout_s: float | None
    total: int = Field(description="trials recorded (every state)")
    counts: dict[str, int] = Field(description="trials per state")


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
    best: TrialOut | None = Field(description="the completed trial with the highest score so far")
    spec: dict[str, Any] = Field(description="the full study spec, defaults filled in")


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
