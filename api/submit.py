"""From a request body to a study spec the service will run, or field-level problems saying why not.

Three layers, each naming the field: the JSON itself (malformed, non-finite or absurdly large numbers,
not an object), the search layer's `load_spec` (types, unknown fields, GDT rules), and the service's own
limits (budgets, sizes, the database it owns) plus a check that the GDT configuration space holds at
least one valid configuration -- a study that could never train anything is refused up front.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from api.db import normalize_url
from api.settings import Limits
from search.spec import Range, SpecError, StudySpec, load_spec

MAX_INT = 2**63 - 1


class BodyError(Exception):
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
        raw = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise BodyError(422, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except (ValueError, RecursionError) as error:
        raise BodyError(422, f"invalid JSON: {str(error) or type(error).__name__}") from None
    if not isinstance(raw, dict):
        raise BodyError(422, f"a study spec is a JSON object of fields, got {type(raw).__name__}")
    return raw


def service_problems(spec: StudySpec, limits: Limits, database_url: str) -> list[tuple[str, str]]:
    """What this service refuses to run although the spec itself is valid."""
    from core.encoders import AUDIO_ENCODERS, VIDEO_ENCODERS

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
        if factor.k_values and factor.k_values[-1] > limits.k:
            problems.append((f"factors.{name}.k", f"K_m at most {limits.k}, got {factor.k_values[-1]}"))
    for name, value in spec.hyperparameters.items():
        if isinstance(value, Range) and value.step is not None and value.step > 0:
            points = (value.high - value.low) / value.step
            if points > limits.space_checked:
                problems.append(
                    (f"hyperparameters.{name}", f"a stepped range may have at most {limits.space_checked} values")
                )
        elif isinstance(value, Range) and value.step is not None:
            problems.append((f"hyperparameters.{name}.step", "must be > 0"))
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


def validate_submission(raw: dict, limits: Limits, database_url: str) -> StudySpec:
    """The spec to enqueue; raises SpecError with every problem, each naming its field."""
    problems = _precheck(raw, limits)
    if problems:
        raise SpecError(problems)
    spec = load_spec(raw)
    problems = service_problems(spec, limits, database_url)
    if problems:
        raise SpecError(problems)
    reason = no_valid_configuration(spec, limits.space_checked, limits.space_check_seconds)
    if reason:
        raise SpecError([("factors", reason)])
    return spec
