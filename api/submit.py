"""From a request body to a study spec the service will run, or field-level problems saying why not.

Three layers, each naming the field: the JSON itself (malformed, non-finite or absurdly large numbers,
not an object), the search layer's `load_spec` (types, bounds, unknown fields, GDT rules), and the
service's own policy: limits (budgets, sizes, a study's estimated cost), what the server alone decides
(the database, the data folders -- a client names datasets the operator registered, never paths -- the
clip cache, the Ray cluster and its storage, the devices its workers offer), plus a check that the GDT
configuration space holds at least one valid configuration -- a study that could never train anything is
refused up front. `server_side` turns a queued spec into the one a worker runs: names resolved to the
registered folders, and every location taken from the worker's settings.
"""

from __future__ import annotations

import json
import math
import time
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from api.db import normalize_url
from api.settings import (
    CACHE_ENV,
    DATA_ROOTS_ENV,
    DATASET_NAME,
    DEVICES_ENV,
    RAY_ADDRESS_ENV,
    RAY_STORAGE_ENV,
    Limits,
    Settings,
)
from core.data.proxy_datasets import PROXY_DATASETS
from core.errors import GDTSearchError
from search.spec import DataSection, Range, RaySection, SpecError, StudySpec, load_spec
from search.spec_source import DuplicateKey, load_json

# The pretraining root and every registered proxy dataset's root field (core.data.proxy_datasets).
DATA_ROOT_FIELDS = ("pretrain_root", *dict.fromkeys(dataset.root_field for dataset in PROXY_DATASETS.values()))
# Fields the server alone decides (section, field) -> what it uses instead: refused through the API, absent
# from its request schema; `gdt-search run FILE.yaml` still takes them.
SERVER_DECIDED = {
    ("data", "cache_root"): f"the clip cache is the server's ({CACHE_ENV})",
    ("ray", "address"): f"studies run on the server's Ray cluster ({RAY_ADDRESS_ENV})",
    ("ray", "storage_path"): f"Ray's experiment folder is the server's ({RAY_STORAGE_ENV})",
}
INVARIANCE_CLIPS = 8  # clips the invariance probe encodes per probe video (original + transformed ones)

MAX_INT = 2**63 - 1


class BodyError(GDTSearchError):
    """A request body that is not a study spec at all; `status` 413 (too large) or 422."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(int(text)) > MAX_INT:
        raise ValueError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is out of range (|n| <= 2^63 - 1)")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:24]} is out of range for a double")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def parse_body(body: bytes, limit: int) -> dict:
    """The JSON object in `body`, or BodyError."""
    if len(body) > limit:
        raise BodyError(413, f"request body is {len(body)} bytes; a study spec may have at most {limit}")
    if not body.strip():
        raise BodyError(422, "empty body: send a study spec as a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyError(422, f"body is not UTF-8: {error}") from None
    try:
        raw = load_json(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise BodyError(422, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except DuplicateKey as error:  # a JSON parser keeps the last silently: the study would not be the one sent
        raise BodyError(422, f"invalid study spec: {error}") from None
    except (ValueError, RecursionError) as error:
        raise BodyError(422, f"invalid JSON: {str(error) or type(error).__name__}") from None
    if not isinstance(raw, dict):
        raise BodyError(422, f"a study spec is a JSON object of fields, got {type(raw).__name__}")
    return raw


def service_problems(spec: StudySpec, limits: Limits, database_url: str) -> list[tuple[str, str]]:
    """What this service refuses to run although the spec itself is valid."""
    from core.models.encoders import AUDIO_ENCODERS, VIDEO_ENCODERS

    problems: list[tuple[str, str]] = []
    if spec.storage is not None and normalize_url(spec.storage) != normalize_url(database_url):
        problems.append(("storage", "the service keeps every study in its own database; leave storage out"))
    search = spec.search
    if search.n_trials is not None and search.n_trials > limits.n_trials:
        problems.append(("search.n_trials", f"at most {limits.n_trials} trials per study, got {search.n_trials}"))
    if search.n_trials is None and search.timeout_s is None:
        problems.append(
            ("search.n_trials", f"the service needs a budget: set n_trials (at most {limits.n_trials}) or timeout_s")
        )
    if search.timeout_s is not None and search.timeout_s > limits.study_seconds:
        problems.append(("search.timeout_s", f"at most {limits.study_seconds:g} s per study, got {search.timeout_s:g}"))
    if search.workers > limits.study_workers:
        problems.append(("search.workers", f"at most {limits.study_workers} per study, got {search.workers}"))
    if spec.trial.steps > limits.trial_steps:
        problems.append(("trial.steps", f"at most {limits.trial_steps} steps per trial, got {spec.trial.steps}"))
    if spec.trial.epochs is not None and spec.trial.epochs > limits.trial_steps:
        problems.append(("trial.epochs", f"at most {limits.trial_steps}, got {spec.trial.epochs:g}"))
    for budget in spec.clip_budgets:
        if budget > limits.clip_budget:
            problems.append(("clip_budget", f"at most {limits.clip_budget} clips per batch, got {budget}"))
            break
    for name, factor in spec.factors.items():
        low, high = factor.k_bounds
        if low <= high and high > limits.k:
            problems.append((f"factors.{name}.k", f"K_m at most {limits.k}, got {high}"))
    for name, value in spec.hyperparameters.items():
        if isinstance(value, Range) and value.step is not None and value.step > 0:
            points = (value.high - value.low) / value.step
            if points > limits.space_checked:
                problems.append(
                    (f"hyperparameters.{name}", f"a stepped range may have at most {limits.space_checked} values")
                )
    world = spec.data.world
    if world.videos_per_class * len(world.classes) > limits.world_videos:
        problems.append(
            (
                "data.world.videos_per_class",
                f"at most {limits.world_videos} videos in the world, got"
                f" {world.videos_per_class} x {len(world.classes)} classes",
            )
        )
    if world.height * world.width > limits.world_pixels:
        problems.append(("data.world.height", f"height x width at most {limits.world_pixels} pixels"))
    if world.duration_s > limits.world_seconds:
        problems.append(("data.world.duration_s", f"at most {limits.world_seconds:g} s, got {world.duration_s:g}"))
    if spec.encoders.video not in VIDEO_ENCODERS:
        problems.append(("encoders.video", f"unknown video encoder (known: {', '.join(sorted(VIDEO_ENCODERS))})"))
    if spec.encoders.audio not in AUDIO_ENCODERS:
        problems.append(("encoders.audio", f"unknown audio encoder (known: {', '.join(sorted(AUDIO_ENCODERS))})"))
    return problems


def policy_problems(spec: StudySpec, settings: Settings) -> list[tuple[str, str]]:
    """Where the study would read, write and connect, and on which device: the server decides."""
    problems: list[tuple[str, str]] = []
    roots = settings.data_roots
    registered = ", ".join(sorted(roots)) if roots else f"none; the operator registers them in {DATA_ROOTS_ENV}"
    for name in DATA_ROOT_FIELDS:
        value = getattr(spec.data, name)
        if value is not None and value not in roots:
            problems.append(
                (
                    f"data.{name}",
                    f"the name of a dataset registered on this server, not a path (registered: {registered});"
                    f" got {value!r}",
                )
            )
    for (section, name), whose in SERVER_DECIDED.items():
        if getattr(getattr(spec, section), name) is not None:
            problems.append((f"{section}.{name}", f"{whose}: decided by the server; leave it out"))
    devices = offered_devices(settings)
    if spec.device != "auto" and spec.device not in devices:
        problems.append(
            (
                "device",
                f"{spec.device!r} is not offered by this service's workers (offered: auto, {', '.join(devices)};"
                f" set by {DEVICES_ENV})",
            )
        )
    return problems


DATASET_NAME_DOC = (
    f"the name of a dataset the operator registered on this server ({DATA_ROOTS_ENV}), not a path;"
    " any other name is a 422 listing the registered ones"
)
DatasetName = Annotated[str, Field(pattern=DATASET_NAME.pattern, description=DATASET_NAME_DOC)]


def _derived(model: type[BaseModel], name: str, drop: tuple[str, ...] = (), **replace: Any) -> type[BaseModel]:
    """`model` less the fields in `drop`, with the fields in `replace` ((type, Field) pairs) instead of its own:
    the same fields, bounds, defaults and config otherwise, so the API's request schema cannot drift from the spec."""
    fields = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in drop}
    for field, value in replace.items():
        assert field in fields, f"{model.__name__} has no field {field}"
        fields[field] = value
    return create_model(name, __config__=model.model_config, __doc__=model.__doc__, **fields)


def _dropped(section: str) -> tuple[str, ...]:
    return tuple(name for (s, name) in SERVER_DECIDED if s == section)


ApiDataSection = _derived(
    DataSection,
    "DataSection",
    _dropped("data"),
    **{name: (DatasetName | None, Field(None, description=DATASET_NAME_DOC)) for name in DATA_ROOT_FIELDS},
)
ApiRaySection = _derived(RaySection, "RaySection", _dropped("ray"))
# The body of POST /studies as the OpenAPI document publishes it: the study spec without what the server decides,
# data roots as registered names. The server validates a body as a StudySpec and then applies its policy
# (`policy_problems`), so a client sending a server-decided field anyway gets a 422 naming it.
ApiStudySpec = _derived(
    StudySpec,
    "StudySpec",
    data=(ApiDataSection, Field(default_factory=ApiDataSection)),
    ray=(ApiRaySection, Field(default_factory=ApiRaySection)),
)


def offered_devices(settings: Settings) -> tuple[str, ...]:
    """The devices a study may ask for: the operator's list, else what this machine has."""
    from api.settings import local_devices

    return settings.devices if settings.devices is not None else local_devices()


def _si(value: float) -> str:
    return f"{value:.3g}"


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g}"  # unreachable


def cost_problems(spec: StudySpec, limits: Limits) -> list[tuple[str, str]]:
    """A study's estimated cost against the server's limits: values that are each within their own bound
    can still multiply into more work than the machine has. Each problem names the fields that drive it."""
    problems: list[tuple[str, str]] = []
    world, trial, evaluation = spec.data.world, spec.trial, spec.evaluation
    n_trials = spec.search.n_trials or 1  # a study with only a timeout is bounded by the timeout
    seeds = spec.search.seeds  # every trial trains its configuration once per seed
    seeds_text = f" x search.seeds {seeds}" if seeds > 1 else ""
    world_videos = world.videos_per_class * len(world.classes)
    proxy_videos = (spec.data.proxy_videos_per_class or world.videos_per_class) * len(world.classes)
    if spec.data.kind == "world":
        frames, samples = round(world.duration_s * world.fps), round(world.duration_s * world.sample_rate)
        data_bytes = (world_videos + proxy_videos) * (frames * world.height * world.width * 3 + samples * 4)
        if data_bytes > limits.data_bytes:
            problems.append(
                (
                    "data.world",
                    f"the decoded worlds would take {_bytes(data_bytes)} ({world_videos} pretraining +"
                    f" {proxy_videos} proxy videos x {frames} frames x {world.height}x{world.width} pixels x 3,"
                    f" plus audio), more than this server's limit of {_bytes(limits.data_bytes)}"
                    " (GDT_SEARCH_MAX_DATA_BYTES); driven by data.world.videos_per_class,"
                    " data.proxy_videos_per_class, classes, duration_s, fps, height, width and sample_rate",
                )
            )
    # Clips per batch: under "video_clips" the audio clips of a cross-modal configuration come on top (K_MOD <= 2).
    audio_on_top = spec.clip_budget_counts == "video_clips" and "MOD" in spec.factors
    per_batch = max(spec.clip_budgets) * (2 if audio_on_top else 1)
    budget_text = f"clip_budget {max(spec.clip_budgets)}" + (" x 2 (video_clips: audio on top)" if audio_on_top else "")
    if trial.epochs is not None and spec.data.kind == "world":
        steps = math.ceil(trial.epochs * world_videos / 2)  # worst case: K_i = 2 videos per batch
        steps_text = f"trial.epochs {trial.epochs:g} x {world_videos} videos / 2 per batch = {steps} steps"
    else:
        steps, steps_text = trial.steps, f"trial.steps {trial.steps}"
    train_clips = per_batch * steps * n_trials * seeds
    calibration, calibration_text = spec.search.calibration, ""
    if calibration is not None:  # trained first: each sampled configuration at every budget and the reference
        budgets = sorted({*(calibration.budgets or [max(1, steps // 3)]), steps})
        per_configuration = sum(budgets) + (calibration.reference_steps or 4 * steps)
        train_clips += per_batch * calibration.configurations * per_configuration * seeds
        calibration_text = (f", + calibration: search.calibration.configurations {calibration.configurations}"
                            f" x {per_configuration} steps{seeds_text}")  # fmt: skip
    if train_clips > limits.train_clips:
        problems.append(
            (
                "trial.steps" if trial.epochs is None else "trial.epochs",
                f"the study would train on {_si(train_clips)} clips ({budget_text} x {steps_text} x"
                f" search.n_trials {n_trials}{seeds_text}{calibration_text}), more than this server's limit of"
                f" {_si(limits.train_clips)} (GDT_SEARCH_MAX_TRAIN_CLIPS); lower clip_budget, the steps,"
                " search.n_trials, search.seeds or search.calibration",
            )
        )
    if spec.data.kind == "world":
        per_evaluation = (
            proxy_videos * evaluation.clips_per_video
            + min(evaluation.invariance_videos, proxy_videos) * INVARIANCE_CLIPS
        )
        evaluations = 1 + (steps // trial.eval_every if trial.eval_every else 0)
        eval_clips = per_evaluation * evaluations * n_trials * seeds
        if eval_clips > limits.eval_clips:
            problems.append(
                (
                    "evaluation",
                    f"the study would encode {_si(eval_clips)} clips to evaluate ({proxy_videos} proxy videos x"
                    f" evaluation.clips_per_video {evaluation.clips_per_video} + evaluation.invariance_videos"
                    f" x {INVARIANCE_CLIPS}, x {evaluations} evaluations per trial (trial.eval_every) x"
                    f" search.n_trials {n_trials}{seeds_text}), more than this server's limit of"
                    f" {_si(limits.eval_clips)}"
                    " (GDT_SEARCH_MAX_EVAL_CLIPS)",
                )
            )
    return problems


def server_side(spec: StudySpec, settings: Settings) -> StudySpec:
    """The spec a worker runs: dataset names resolved to this server's folders, the cache, Ray cluster and
    Ray storage from its settings -- whatever a stored spec says about them. ValueError names a dataset
    that is no longer registered."""
    data = {"cache_root": settings.cache_root}
    for name in DATA_ROOT_FIELDS:
        value = getattr(spec.data, name)
        if value is not None:
            if value not in settings.data_roots:
                raise ValueError(f"data.{name}: dataset {value!r} is not registered on this worker ({DATA_ROOTS_ENV})")
            data[name] = settings.data_roots[value]
    ray = {"address": settings.ray_address, "storage_path": settings.ray_storage}
    return spec.model_copy(
        update={
            "data": spec.data.model_copy(update=data),
            "ray": spec.ray.model_copy(update=ray),
        }
    )


def no_valid_configuration(spec: StudySpec, max_checked: int, max_seconds: float = 2.0) -> str | None:
    """Why the GDT space has no valid configuration, or None when it has one (or is too big to tell quickly).

    Validity (lemmas 6-7, K_i >= 2) does not depend on the hyper-parameters, so they are fixed while the
    factor choices, K_m, clip budgets and modality-pair switches are enumerated.
    """
    from search.space import SearchSpace

    fixed = spec.model_copy(update={"hyperparameters": {}})
    reasons: dict[str, int] = {}
    started = time.perf_counter()
    for checked, candidate in enumerate(SearchSpace(fixed).enumerate(), start=1):
        if candidate.feasible:
            return None
        reasons[candidate.infeasible or "invalid"] = reasons.get(candidate.infeasible or "invalid", 0) + 1
        if checked >= max_checked or time.perf_counter() - started > max_seconds:
            return None
    if not reasons:
        return None
    examples = "; ".join(sorted(reasons, key=reasons.get, reverse=True)[:3])
    total = sum(reasons.values())
    return f"no valid GDT configuration in this space: all {total} configurations are rejected, e.g. {examples}"


def _precheck(raw: dict, limits: Limits) -> list[tuple[str, str]]:
    """Sizes that must be refused before the spec is even validated: validating a K_m range expands it."""
    problems = []
    factors = raw.get("factors")
    for name, factor in factors.items() if isinstance(factors, dict) else ():
        k = factor.get("k") if isinstance(factor, dict) else None
        if isinstance(k, list) and len(k) == 2 and all(isinstance(v, int) for v in k) and k[1] > limits.k:
            problems.append((f"factors.{name}.k", f"K_m at most {limits.k}, got [{k[0]}, {k[1]}]"))
    return problems


def validate_submission(raw: dict, limits: Limits, database_url: str, settings: Settings | None = None) -> StudySpec:
    """The spec to enqueue; raises SpecError with every problem, each naming its field."""
    settings = settings or Settings(database_url=database_url, limits=limits)
    problems = _precheck(raw, limits)
    if problems:
        raise SpecError(problems)
    spec = load_spec(raw)
    problems = service_problems(spec, limits, database_url) + policy_problems(spec, settings)
    if not problems:  # a cost is estimated from values that are each within their own limits
        problems = cost_problems(spec, limits)
    if problems:
        raise SpecError(problems)
    reason = no_valid_configuration(spec, limits.space_checked, limits.space_check_seconds)
    if reason:
        raise SpecError([("factors", reason)])
    return spec
