"""The study spec: what a study searches, on which data, with which budget, objective and backend.

A spec is YAML or JSON validated with pydantic. Unknown fields are errors and every error names the
field (dotted path) and what is allowed, so a typo in a 2-hour study fails in a second. The sections
`data.world`, `trial`, `evaluation` and `encoders` mirror the core dataclasses (`WorldConfig`,
`TrainSpec`, `EvalSpec`, the encoder arguments) field by field, with the embedded default
(`core.trial.small_world_trial`) as their defaults, so core and the spec cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from collections.abc import Collection, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from core.data.proxy_datasets import PROXY_DATASETS
from core.data.world import WorldConfig
from core.errors import GDTSearchError
from core.evaluation.metrics import METRICS
from core.evaluation.proxy import EvalSpec
from core.gdt.config import MAX_CLIP_BUDGET, GDTConfig, InvalidConfiguration
from core.gdt.factors import CATALOGUE, Choice
from core.threads import cores_available, default_threads, oversubscription
from core.train.pretrain import TrainSpec
from core.trial import DataSpec, TrialSpec, default_augment, small_world_trial
from search.samplers import PRUNER_KINDS, PRUNERS, RAY_SCHEDULERS, SAMPLERS
from search.spec_source import SpecFileError, line_of, read_spec_file

DEFAULT_TRIAL = small_world_trial()
# Numeric hyper-parameters a study may search; everything else in `trial` is fixed per study.
TRAIN_HYPERPARAMETERS = ("lr", "momentum", "weight_decay", "warmup_fraction")
HYPERPARAMETERS = ("temperature", *TRAIN_HYPERPARAMETERS)
# Where each hyper-parameter makes sense (a fixed value, a range's ends, every choice): beyond, training diverges
# or does nothing (lr 1e308 gives NaN losses; momentum >= 1 never forgets; temperature 1e-320 overflows the logits).
HYPER_BOUNDS = {
    "temperature": (1e-4, 100.0),
    "lr": (1e-8, 10.0),
    "momentum": (0.0, 0.999),
    "weight_decay": (0.0, 100.0),
    "warmup_fraction": (0.0, 1.0),
}
DATABASE_ENV = "GDT_SEARCH_DATABASE_URL"
DEFAULT_DATABASE = "sqlite:///gdt-search.db"


class SpecError(GDTSearchError, ValueError):
    """An invalid study spec; `problems` lists (dotted field, what is wrong and what is allowed). Read from a file
    (`source`, with each field's line in `lines`), every problem names the file and line it is on, or says the
    command line gave the field (`overridden`: --set and options such as --n-trials)."""

    def __init__(
        self,
        problems: list[tuple[str, str]],
        source: str | None = None,
        lines: Mapping[str, int] | None = None,
        overridden: Collection[str] = (),
    ):
        self.problems = problems

        def where(field: str) -> str:
            if any(field == o or field.startswith(o + ".") for o in overridden):
                return "command line: "
            line = line_of(lines or {}, field) if source else None
            return f"{source}:{line}: " if line is not None else ""

        text = "\n".join(f"  {where(field)}{field}: {message}" for field, message in problems)
        super().__init__(f"invalid study spec{f' {source}' if source else ''}:\n{text}")

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.problems]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


SEED = {"ge": 0, "le": 2**32 - 1}
# Bounds of the numeric fields of the core sections (dataclass -> field -> pydantic constraints): generous
# for research, but every field that multiplies work is capped, so no single value can exhaust a machine.
# A study's total cost is checked by whoever runs it (the service: api.submit).
SECTION_BOUNDS: dict[str, dict[str, dict[str, float]]] = {
    "WorldConfig": {
        "seed": SEED,
        "videos_per_class": {"ge": 1, "le": 100_000},
        "duration_s": {"gt": 0, "le": 3600},
        "fps": {"ge": 1, "le": 120},
        "height": {"ge": 8, "le": 2048},
        "width": {"ge": 8, "le": 2048},
        "sample_rate": {"ge": 1000, "le": 192_000},
        "train_fraction": {"gt": 0, "lt": 1},
        "num_splits": {"ge": 1, "le": 10},
        "pixel_noise": {"ge": 0, "le": 255},
        "audio_noise": {"ge": 0, "le": 10},
    },
    "DataSpec": {
        "proxy_seed_offset": {"ge": 0, "le": 2**31},
        "proxy_videos_per_class": {"ge": 1, "le": 100_000},
        "decode_fps": {"gt": 0, "le": 120},
        "short_side": {"ge": 8, "le": 2048},
        "split": {"ge": 1, "le": 10},
        "clip_frames": {"ge": 1, "le": 512},
    },
    "TrainSpec": {
        "steps": {"ge": 1, "le": 10**8},
        "epochs": {"gt": 0, "le": 10**6},
        "seconds": {"gt": 0, "le": 30 * 24 * 3600},
        "grad_clip": {"gt": 0, "le": 1e6},
        "seed": SEED,
        "num_workers": {"ge": 0, "le": 64},
        "checkpoint_every": {"ge": 1, "le": 10**8},
        "eval_every": {"ge": 1, "le": 10**8},
    },
    "EvalSpec": {
        "clips_per_video": {"ge": 1, "le": 64},
        "chunk": {"ge": 1, "le": 8192},
        "max_train_per_class": {"ge": 1, "le": 10**6},
        "max_test_per_class": {"ge": 1, "le": 10**6},
        "invariance_videos": {"ge": 1, "le": 10_000},
        "seed": SEED,
    },
}


def _section(name: str, instance: Any, exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    """A pydantic model with the fields, types and (embedded-default) values of a core dataclass, and
    the bounds SECTION_BOUNDS gives its numeric fields."""
    hints = typing.get_type_hints(type(instance))
    bounds = SECTION_BOUNDS.get(type(instance).__name__, {})
    fields = {
        f.name: (hints[f.name], Field(getattr(instance, f.name), **bounds.get(f.name, {})))
        for f in dataclasses.fields(instance)
        if f.name not in exclude and not dataclasses.is_dataclass(getattr(instance, f.name))
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


WorldSection = _section("WorldSection", DEFAULT_TRIAL.data.world)
TrialSection = _section("TrialSection", DEFAULT_TRIAL.train, exclude=TRAIN_HYPERPARAMETERS)
EvaluationSection = _section("EvaluationSection", DEFAULT_TRIAL.eval)
_DataBase = _section("_DataBase", DEFAULT_TRIAL.data, exclude=("world",))


class DataSection(_DataBase):  # type: ignore[misc, valid-type]
    world: WorldSection = Field(default_factory=WorldSection)  # type: ignore[valid-type]


class EncodersSection(_Strict):
    video: str = DEFAULT_TRIAL.video_encoder
    audio: str = DEFAULT_TRIAL.audio_encoder
    feature_dim: int = Field(DEFAULT_TRIAL.feature_dim, ge=1, le=8192)
    width: int = Field(DEFAULT_TRIAL.width, ge=1, le=1024)


MAX_K = 4096  # K_m beyond any clip budget a trial can train (a clip budget is a product of the K_m)


class FactorSearch(_Strict):
    """The choices a factor may take and its K_m: one value, or an inclusive [low, high] range."""

    choices: list[Choice] = Field(min_length=1)
    k: int | tuple[int, int] = 2

    @field_validator("choices", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare `off` as false; in a list of choices it can only mean 'off'."""
        if isinstance(value, list):
            return ["off" if v is False else v for v in value]
        return value

    @property
    def k_bounds(self) -> tuple[int, int]:
        """(low, high) of K_m, read without listing the range (an unchecked spec's range can be huge)."""
        return (self.k, self.k) if isinstance(self.k, int) else self.k

    @property
    def k_values(self) -> list[int]:
        """Every K_m of the range; only for a spec `check_spec` accepted (it bounds the range)."""
        low, high = self.k_bounds
        return list(range(low, high + 1))


class Range(_Strict):
    """A numeric range; `log` samples on a log scale, `step` makes it finite (griddable)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def values(self) -> list[float] | None:
        if self.step is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9))
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]


class Choices(_Strict):
    choices: list[float] = Field(min_length=1)


Hyper = float | Range | Choices


class ModalityPairsSection(_Strict):
    """Which modality pairs w_mod keeps; a list means the switch is searched (only when MOD is used)."""

    cross_modal: bool = True
    intra_video: bool | list[bool] = False
    intra_audio: bool | list[bool] = False


class ObjectiveSection(_Strict):
    """What a trial is scored by; `cost` adds a second, minimised objective (a multi-objective study)."""

    # The linear probe: on the embedded default it ranks configurations far more stably than R@1
    # (seed-to-seed Kendall tau 0.62 vs 0.28 over the Table-1 grid at 300 steps).
    score: Literal["r_at_1", "r_at_5", "linear_top1", "weighted"] = "linear_top1"
    weights: dict[str, float] | None = None  # score == "weighted": metric -> weight
    cost: Literal["device_seconds"] | None = None

    @property
    def multi(self) -> bool:
        return self.cost is not None

    @property
    def directions(self) -> list[str]:
        return ["maximize", "minimize"] if self.multi else ["maximize"]


class PrunerSection(_Strict):
    kind: Literal[PRUNER_KINDS] = "none"  # search.samplers: Optuna's pruners and Ray's schedulers
    n_startup_trials: int = Field(2, ge=0, le=10**6)  # median: trials completed before it prunes
    n_warmup_steps: int = Field(0, ge=0, le=10**8)  # median: steps before it prunes within a trial
    min_resource: int | None = Field(None, ge=1, le=10**8)  # hyperband / halving / ASHA grace; default eval_every
    reduction_factor: int = Field(3, ge=2, le=100)
    # A pruner stops trials on intermediate scores, so it acts only at the steps where a calibration (search.
    # calibration, or `gdt-search calibrate` on the study) found them to rank like final scores; without one the
    # study warns and does not prune. False prunes on uncalibrated scores anyway.
    require_calibration: bool = True


class CalibrationSection(_Strict):
    """Calibrate before searching (search.calibration): a sample of configurations trained at the budgets and a
    longer reference, stored with the study; its verdict tells the pruner where it may act."""

    configurations: int = Field(6, ge=3, le=100, description="configurations sampled from the space")
    budgets: list[Annotated[int, Field(ge=1, le=10**8)]] | None = Field(
        None, min_length=1, max_length=10, description="budgets compared (default: trial.steps / 3); trial.steps always"
    )
    reference_steps: int | None = Field(None, ge=2, le=10**8, description="the reference (default 4 x trial.steps)")
    threshold: float = Field(0.6, ge=-1, le=1, description="Kendall tau at which two rankings agree")


class SearchSection(_Strict):
    sampler: Literal[tuple(SAMPLERS)] = "tpe"  # search.samplers
    seed: int | None = Field(0, ge=0, le=2**32 - 1)
    n_startup_trials: int = Field(10, ge=0, le=10**6)  # TPE / GP: random trials first
    n_trials: int | None = Field(20, ge=1)  # trained trials (duplicates and infeasible ones are free); None: all
    # Replicates: each trial trains its configuration with training seeds 0 .. seeds-1 (common random numbers:
    # seed s gives every configuration the same initial weights and video stream); its score is their mean.
    seeds: int = Field(1, ge=1, le=20, description="training seeds per configuration; the score is their mean")
    timeout_s: float | None = Field(None, gt=0, le=365 * 24 * 3600)
    workers: int = Field(1, ge=1, le=1024)  # Optuna: worker processes on the one study
    # torch CPU threads per trial (None: StudySpec.threads_per_trial shares the cores out, never oversubscribing)
    threads: int | None = Field(None, ge=1, le=1024)
    pruner: PrunerSection = Field(default_factory=PrunerSection)
    calibration: CalibrationSection | None = None  # set: calibrate first (once per study)
    # A running trial heartbeats every heartbeat_s; once its last beat is grace_s old its worker is dead: the
    # trial is failed and retried. Default grace 2 x heartbeat_s; `gdt-search run` checks at the moment a beat
    # turns stale (not on a polling period after it), so a dead worker's trial is noticed within 2 x heartbeat_s
    # of its last beat (plus the database clock's resolution: 1 s on SQLite).
    heartbeat_s: int = Field(10, ge=1, le=3600)
    grace_s: int | None = Field(None, ge=1, le=86_400)  # default 2 x heartbeat_s (grace_period)
    max_retry: int = Field(2, ge=0, le=100)  # retries of a trial whose worker died
    max_idle_proposals: int = Field(200, ge=1, le=100_000)  # stop after this many proposals in a row train nothing new

    @property
    def grace_period(self) -> int:
        """Seconds after a running trial's last heartbeat when it counts as dead: grace_s, default 2 x heartbeat_s."""
        return self.grace_s if self.grace_s is not None else 2 * self.heartbeat_s


class RaySection(_Strict):
    address: str | None = None  # default: $RAY_ADDRESS, else a local Ray
    num_cpus: int | None = Field(None, ge=1, le=100_000)  # a local Ray's CPUs (default: all)
    cpus_per_trial: float = Field(1.0, gt=0, le=1024)
    gpus_per_trial: float = Field(0.0, ge=0, le=64)  # fractions share one GPU between trials, e.g. 0.25
    max_concurrent: int | None = Field(None, ge=1, le=100_000)
    storage_path: str | None = None  # Ray's experiment folder root (default: ./ray_results)


class StudySpec(_Strict):
    name: str = Field("gdt-study", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=200)  # the column's width
    notes: str = Field("", max_length=4000, description="free text for the researcher: why this study was run")
    backend: Literal["optuna", "ray"] = "optuna"
    storage: str | None = None  # database URL; default $GDT_SEARCH_DATABASE_URL or sqlite:///gdt-search.db
    factors: dict[str, FactorSearch] = Field(min_length=1)
    order: list[str] | None = None
    clip_budget: int | Annotated[list[int], Field(min_length=1)] = 64
    # What clip_budget counts: every clip of a batch (the algebra's K), or the video encoder's clips only, so that
    # a cross-modal configuration keeps its video-only twin's videos per batch and adds their sound to them.
    clip_budget_counts: Literal["clips", "video_clips"] = "clips"
    modality_pairs: ModalityPairsSection = Field(default_factory=ModalityPairsSection)
    hyperparameters: dict[str, Hyper] = Field(default_factory=dict)
    data: DataSection = Field(default_factory=DataSection)  # type: ignore[valid-type]
    encoders: EncodersSection = Field(default_factory=EncodersSection)
    trial: TrialSection = Field(default_factory=TrialSection)  # type: ignore[valid-type]
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)  # type: ignore[valid-type]
    # "auto" (CUDA when the machine has it), "cpu", "cuda", "cuda:<index>" or "mps"
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:[0-9]{1,3})?)$")
    objective: ObjectiveSection = Field(default_factory=ObjectiveSection)
    search: SearchSection = Field(default_factory=SearchSection)
    ray: RaySection = Field(default_factory=RaySection)

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        """`temperature: true` would become 1.0: a number is written as a number."""
        if isinstance(value, Mapping):
            for name, hyper in value.items():
                items = hyper.get("choices", []) if isinstance(hyper, Mapping) else [hyper]
                if any(isinstance(v, bool) for v in (items if isinstance(items, list) else [])):
                    raise ValueError(f"{name}: a number, not true / false")
        return value

    # -- conversions to core ---------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.storage or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE

    @property
    def sampler_needs_finite_space(self) -> bool:
        return self.search.sampler in ("grid", "bruteforce")

    @property
    def clip_budgets(self) -> list[int]:
        return [self.clip_budget] if isinstance(self.clip_budget, int) else list(self.clip_budget)

    def hyper(self, name: str) -> Hyper:
        """The spec's value or range for a hyper-parameter, or the embedded default."""
        if name in self.hyperparameters:
            return self.hyperparameters[name]
        return 0.07 if name == "temperature" else float(getattr(DEFAULT_TRIAL.train, name))

    def data_spec(self) -> DataSpec:
        fields = self.data.model_dump()
        world = WorldConfig(**{**fields.pop("world"), "classes": tuple(self.data.world.classes)})
        return DataSpec(world=world, **fields)

    def trial_spec(self, hyper: Mapping[str, float] | None = None, seed: int | None = None) -> TrialSpec:
        """The core TrialSpec of one trial; `hyper` holds its sampled training hyper-parameters."""
        train = self.trial.model_dump()
        for name in TRAIN_HYPERPARAMETERS:
            value = (hyper or {}).get(name, self.hyper(name))
            if not isinstance(value, int | float):
                raise ValueError(f"hyperparameters.{name}: a searched value must be sampled first")
            train[name] = float(value)
        if seed is not None:
            train["seed"] = seed
        evaluation = self.evaluation.model_dump()
        if evaluation["classes"] is not None:
            evaluation["classes"] = tuple(evaluation["classes"])
        data = self.data_spec()
        return replace(
            DEFAULT_TRIAL,
            data=data,
            augment=default_augment(data),
            video_encoder=self.encoders.video,
            audio_encoder=self.encoders.audio,
            feature_dim=self.encoders.feature_dim,
            width=self.encoders.width,
            train=TrainSpec(**train),
            eval=EvalSpec(**evaluation),
            device=self.device,
            threads=self.threads_per_trial,
        )

    @property
    def threads_per_trial(self) -> int:
        """torch CPU threads (intra- and inter-op) of every trial of the study: `search.threads`, else the
        cores shared out among the trials that run at once (Ray: its CPUs per trial), less one per loader
        process of the trial (`trial.num_workers`), at least 1. Scores depend on the thread count, so one
        study uses one setting, recorded with every trial."""
        if self.search.threads:
            return self.search.threads
        loaders = self.trial.num_workers
        if self.backend == "ray":  # Ray grants each trial cpus_per_trial and schedules no more than fit
            return max(1, int(self.ray.cpus_per_trial) - loaders)
        return default_threads(self.search.workers, loaders)

    @property
    def concurrent_trials(self) -> int | None:
        """Trials that run at once on this machine: Optuna's workers, or a local Ray's CPUs / CPUs per trial
        (at most max_concurrent); None on a Ray cluster, whose machines this process does not see."""
        if self.backend == "optuna":
            return self.search.workers
        if self.ray.address or os.environ.get("RAY_ADDRESS"):
            return None
        fit = max(1, math.floor((self.ray.num_cpus or cores_available()) / self.ray.cpus_per_trial))
        return min(fit, self.ray.max_concurrent) if self.ray.max_concurrent else fit

    def oversubscription(self) -> str | None:
        """Why the study's trials would ask for more threads and loader processes at once than this machine
        has cores (the runner warns), or None."""
        concurrent = self.concurrent_trials
        if concurrent is None:
            return None
        return oversubscription(self.threads_per_trial, concurrent, self.trial.num_workers)

    def training_seeds(self) -> list[int]:
        """The training seeds of every trial: `trial.seed` (default 0) and the `search.seeds - 1` after it."""
        return [self.trial.seed + s for s in range(self.search.seeds)]

    def fingerprint(self) -> dict:
        """The parts that define what a trial means; a resumed study must not change them."""
        # search.seeds changes what a trial's score is (a mean over n seeds); at its default of 1 it is left
        # out, so studies recorded before replicates existed still resume.
        seeds = {"seeds": self.search.seeds} if self.search.seeds != 1 else {}
        # Likewise clip_budget_counts, which exists since 2026-12: named only when it is not the default.
        counts = {"clip_budget_counts": self.clip_budget_counts} if self.clip_budget_counts != "clips" else {}
        return seeds | counts | self.model_dump(
            mode="json",
            include={
                "factors",
                "order",
                "clip_budget",
                "modality_pairs",
                "hyperparameters",
                "data",
                "encoders",
                "trial",
                "evaluation",
                "objective",
            },
        )


# -- loading and checking --------------------------------------------------------------------------


def load_spec(source: str | Path | Mapping, overrides: Mapping[str, Any] | None = None) -> StudySpec:
    """A validated StudySpec from a YAML/JSON file path or a mapping, with dotted-field overrides.

    Raises SpecError naming every bad field.

        >>> from search.spec import load_spec
        >>> spec = load_spec({"factors": {"TR": {"choices": ["invariant", "off"]}}}, {"search.n_trials": 4})
        >>> spec.search.n_trials, spec.search.sampler  # unset fields take their defaults
        (4, 'tpe')
        >>> load_spec({"factors": {"TR": {"choices": ["sideways"]}}})
        Traceback (most recent call last):
        ...
        search.spec.SpecError: invalid study spec:
          factors.TR.choices.0: Input should be 'invariant', 'distinctive', 'ignore' or 'off'
    """
    source_name, lines, named_by_file = None, {}, False
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        path = Path(source)
        try:
            raw, lines = read_spec_file(path)
        except SpecFileError as error:
            raise SpecError([("<file>", str(error))]) from None
        named_by_file = "name" not in raw
        raw.setdefault("name", path.stem)
        source_name = str(path)
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    where = dict(source=source_name, lines=lines, overridden=list(overrides or {}))
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as error:
        problems = _pydantic_problems(error)
        if named_by_file:  # the fix is a `name:` field, not a new file name
            problems = [(f, m + " (the spec has no `name:`, so it was taken from the file's name)" if f == "name"
                         else m) for f, m in problems]  # fmt: skip
        raise SpecError(problems, **where) from None
    problems = check_spec(spec)
    if problems:
        raise SpecError(problems, **where)
    return spec


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


# Fields whose value may take several shapes: one message per field instead of one per shape tried.
_UNION_FIELDS = {
    ("hyperparameters", None): "expected a number, a range {low, high, log, step} or {choices: [numbers]}",
    ("clip_budget",): "expected a number of clips or a list of them",
    ("modality_pairs", "intra_video"): "expected true/false or a list of them (searched)",
    ("modality_pairs", "intra_audio"): "expected true/false or a list of them (searched)",
    ("factors", None, "k"): "expected K_m (an integer) or an inclusive range [low, high]",
}


_BOUND_WORDS = {"less_than_equal": "at most", "less_than": "less than", "greater_than_equal": "at least",
                "greater_than": "more than"}  # fmt: skip


def _union_field(loc: list[str]) -> tuple[str, str] | None:
    """(dotted field, what it accepts) when `loc` is inside a several-shapes field."""
    for pattern, accepts in _UNION_FIELDS.items():
        if len(loc) >= len(pattern) and all(p is None or p == part for p, part in zip(pattern, loc, strict=False)):
            return ".".join(loc[: len(pattern)]), accepts
    return None


def _pydantic_problems(error: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen_unions: set[str] = set()
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not _is_union_tag(p)]
        union = _union_field(loc)
        if union is not None:
            field, accepts = union
            if field not in seen_unions:
                seen_unions.add(field)
                problems.append((field, f"{accepts}, got {_value_at(error, field)!r}"))
            continue
        field = ".".join(loc) or "<root>"
        message = item["msg"]
        if loc == ["device"] and item["type"] == "string_pattern_mismatch":
            message = f"expected 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps', got {item.get('input')!r}"
        if item["type"] in _BOUND_WORDS:
            limit = next(iter((item.get("ctx") or {}).values()), "?")
            message = f"{_BOUND_WORDS[item['type']]} {limit}, got {item.get('input')!r}"
        if item["type"] == "extra_forbidden":
            allowed = _allowed_fields(loc[:-1])
            message = "unknown field" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
            if loc[0] == "trial" and loc[-1] in TRAIN_HYPERPARAMETERS:
                message += f"; {loc[-1]} is set (or searched) under hyperparameters.{loc[-1]}"
        problems.append((field, message))
    return problems


def _value_at(error: ValidationError, dotted: str) -> Any:
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not _is_union_tag(p)]
        if ".".join(loc) == dotted:
            return item.get("input")
    return "?"


def _is_union_tag(part: Any) -> bool:
    """pydantic puts the union member tried (e.g. 'Range', 'float', 'list[bool]') into error locations."""
    return isinstance(part, str) and (
        part in {"Range", "Choices", "float", "int", "bool", "str", "none"}
        or "[" in part
        or part.startswith("function")
    )


def _allowed_fields(loc: list[str]) -> list[str]:
    model: Any = StudySpec
    for part in loc:
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        model = field.annotation
        if typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def check_spec(spec: StudySpec) -> list[tuple[str, str]]:
    """Semantic checks pydantic's types cannot express; each problem names its field."""
    problems: list[tuple[str, str]] = []
    known = [n for n in CATALOGUE if n != "DS"]
    for name, factor in spec.factors.items():
        where = f"factors.{name}"
        if name == "DS":
            problems.append(
                (where, "DS (data sampling) is always distinctive and cannot be searched; K_i follows from clip_budget")
            )
            continue
        if name not in CATALOGUE:
            problems.append((where, f"unknown factor (allowed: {', '.join(known)})"))
            continue
        allowed = CATALOGUE[name].allowed
        for choice in factor.choices:
            if choice not in allowed:
                problems.append(
                    (
                        f"{where}.choices",
                        f"'{choice.value}' is not allowed for {name} (allowed:"
                        f" {', '.join(sorted(c.value for c in allowed))})",
                    )
                )
        if len(set(factor.choices)) != len(factor.choices):
            problems.append((f"{where}.choices", "duplicate choices"))
        low, high = factor.k_bounds
        max_k = CATALOGUE[name].max_k
        if low > high:
            problems.append((f"{where}.k", f"empty range {factor.k}; give [low, high] with low <= high"))
        elif low < 2:
            problems.append((f"{where}.k", f"K_m must be >= 2 for a sampled factor, got {low} (use choice 'off')"))
        elif max_k is not None and high > max_k:
            problems.append((f"{where}.k", f"K_m <= {max_k} for {name} ({max_k} values), got {high}"))
        elif high > MAX_K:
            problems.append((f"{where}.k", f"K_m <= {MAX_K} (more than any clip budget holds), got {high}"))
    if spec.order is not None:
        try:
            GDTConfig.build({}, order=tuple(spec.order))
        except InvalidConfiguration as error:
            problems.append(("order", str(error)))
    for budget in spec.clip_budgets:
        if not 2 <= budget <= MAX_CLIP_BUDGET:
            problems.append(("clip_budget", f"must be 2 .. {MAX_CLIP_BUDGET} clips, got {budget}"))
    if isinstance(spec.clip_budget, list) and len(set(spec.clip_budget)) != len(spec.clip_budget):
        problems.append(("clip_budget", f"duplicate budgets in {spec.clip_budget}"))
    if spec.order is not None and not spec.order:
        problems.append(("order", "empty: leave it out for the default order, or list the factors"))
    for name, value in spec.hyperparameters.items():
        where = f"hyperparameters.{name}"
        if name not in HYPERPARAMETERS:
            problems.append((where, f"unknown hyper-parameter (allowed: {', '.join(HYPERPARAMETERS)})"))
            continue
        values = [value] if isinstance(value, int | float) else (value.choices if isinstance(value, Choices) else [])
        if isinstance(value, Range):
            if not value.low < value.high:
                problems.append((where, f"needs low < high, got low={value.low}, high={value.high}"))
            if value.log and value.low <= 0:
                problems.append((where, "a log range needs low > 0"))
            if value.log and value.step is not None:
                problems.append((where, "a range is either log or stepped, not both"))
            values = [value.low, value.high]
        if isinstance(value, Range) and value.step is not None:
            values.append(value.step)
            if not value.step > 0:
                problems.append((f"{where}.step", f"must be > 0, got {value.step}"))
        low, high = HYPER_BOUNDS[name]
        if any(not math.isfinite(v) for v in values):
            problems.append((where, f"must be finite numbers, got {values}"))
        elif any(not low <= v <= high for v in (values[:2] if isinstance(value, Range) else values)):
            problems.append((where, f"{name} must lie in [{low:g}, {high:g}], got {values}"))
    if spec.sampler_needs_finite_space:
        for name, value in spec.hyperparameters.items():
            if isinstance(value, Range) and value.step is None:
                problems.append(
                    (
                        f"hyperparameters.{name}",
                        f"search.sampler '{spec.search.sampler}' needs a"
                        " finite space: give a step or a list of choices",
                    )
                )
    continuous = [n for n, v in spec.hyperparameters.items() if isinstance(v, Range) and v.step is None]
    if spec.search.n_trials is None and spec.search.timeout_s is None and continuous:
        problems.append(
            (
                "search.n_trials",
                f"needed: hyperparameters.{continuous[0]} is continuous, so the space"
                " never runs out (or set search.timeout_s)",
            )
        )
    objective = spec.objective
    if objective.score == "weighted":
        if not objective.weights:
            problems.append(("objective.weights", f"score 'weighted' needs weights over {', '.join(METRICS)}"))
        else:
            for metric, weight in objective.weights.items():
                if metric not in METRICS:
                    problems.append((f"objective.weights.{metric}", f"unknown metric (allowed: {', '.join(METRICS)})"))
                elif weight < 0:
                    problems.append((f"objective.weights.{metric}", "weights must be >= 0"))
            if sum(objective.weights.values()) <= 0:
                problems.append(("objective.weights", "weights must not all be zero"))
    elif objective.weights:
        problems.append(("objective.weights", f"only used with score 'weighted' (score is '{objective.score}')"))
    pruner = spec.search.pruner.kind
    if pruner != "none":
        allowed = list(RAY_SCHEDULERS) if spec.backend == "ray" else [k for k in PRUNERS if k != "none"]
        if pruner not in allowed:
            problems.append(
                (
                    "search.pruner.kind",
                    f"'{pruner}' does not prune on backend '{spec.backend}' (allowed:"
                    f" none, {', '.join(allowed)}); one pruning authority per study",
                )
            )
        if objective.multi:
            problems.append(
                (
                    "search.pruner.kind",
                    "pruning needs a single objective; objective.cost makes this"
                    " study multi-objective (use pruner 'none')",
                )
            )
        if not spec.trial.eval_every:
            problems.append(
                (
                    "trial.eval_every",
                    f"pruner '{pruner}' needs intermediate scores: set eval_every (steps between proxy evaluations)",
                )
            )
    if spec.data.kind == "folders":
        data = spec.data.model_dump()
        root = PROXY_DATASETS[spec.data.proxy].root_field  # core.data.proxy_datasets: the entry names its root field
        for needed in ("pretrain_root", root):
            if not data.get(needed):
                problems.append((f"data.{needed}", f"needed with kind 'folders' (proxy {data.get('proxy', 'hmdb51')})"))
    calibration = spec.search.calibration
    if calibration is not None:
        longest = max([*(calibration.budgets or []), spec.trial.steps])
        if (calibration.reference_steps or 4 * spec.trial.steps) <= longest:
            why = f"the reference must train longer than every budget compared ({longest} steps)"
            problems.append(("search.calibration.reference_steps", why))
    if spec.backend == "ray" and spec.search.sampler == "bruteforce":
        problems.append(
            (
                "search.sampler",
                "'bruteforce' runs on the optuna backend; with ray use 'grid' (every feasible configuration once)",
            )
        )
    if spec.backend == "ray" and spec.search.workers > 1:
        problems.append(("search.workers", "the Ray backend runs trials in parallel itself; use ray.max_concurrent"))
    try:
        WorldConfig(**{**spec.data.world.model_dump(), "classes": tuple(spec.data.world.classes)})
    except (ValueError, KeyError) as error:
        problems.append(("data.world", str(error).strip("'\"")))
    if len(spec.data.world.classes) < 2:
        problems.append(("data.world.classes", f"at least 2 classes (a proxy of one class ranks nothing), got"
                                               f" {list(spec.data.world.classes)}"))  # fmt: skip
    classes = spec.evaluation.classes
    if classes is not None:
        n = len(spec.data.world.classes) if spec.data.kind == "world" else None
        if len(set(classes)) < 2:
            problems.append(("evaluation.classes", f"at least 2 distinct class indices, got {list(classes)}"))
        elif min(classes) < 0 or (n is not None and max(classes) >= n):
            problems.append(("evaluation.classes", f"class indices are 0 .. {n - 1 if n else 'classes - 1'} (the"
                                                   f" proxy's classes in order), got {list(classes)}"))  # fmt: skip
    search = spec.search
    if search.grace_s is not None and search.grace_s <= search.heartbeat_s:
        problems.append(("search.grace_s", f"must be more than search.heartbeat_s ({search.heartbeat_s} s): a live"
                                           " worker's trial would count as dead between two heartbeats"))  # fmt: skip
    for metric, weight in (spec.objective.weights or {}).items():
        if not math.isfinite(weight):
            problems.append((f"objective.weights.{metric}", f"must be a finite number, got {weight}"))
    return problems


def spec_to_yaml(spec: StudySpec) -> str:
    """The full spec (defaults filled in), as a reproducible record."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def trial_spec_summary(spec: TrialSpec) -> dict:
    """JSON-ready view of a core TrialSpec (for replay records)."""
    return json.loads(json.dumps(asdict(spec), default=str))
