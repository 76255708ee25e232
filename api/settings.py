"""The service's settings, read once from the environment so the API, `serve` and every worker agree.

One database URL configures everything (`GDT_SEARCH_DATABASE_URL`, shared with the search layer); the
token, the read protection, the request limits and the worker timings are the other knobs. The server
alone decides where studies read, write and connect: the datasets a client may name
(`GDT_SEARCH_DATA_ROOTS`), the clip cache (`GDT_SEARCH_CACHE`), the Ray cluster (`RAY_ADDRESS`) and Ray's
experiment folder (`GDT_SEARCH_RAY_STORAGE`), and the devices studies may ask for (`GDT_SEARCH_DEVICES`).

The class declares each setting with its environment variable (`validation_alias`); `Settings.from_env()`
reads them with pydantic-settings' environment source, from `os.environ` or a given mapping, and is the only
place that does: `Settings(...)` takes only what it is given. A malformed value is a ValueError naming the
variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PositiveFloat, PositiveInt, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from search.spec import DATABASE_ENV, DEFAULT_DATABASE

TOKEN_ENV = "GDT_SEARCH_API_TOKEN"
PROTECT_READS_ENV = "GDT_SEARCH_PROTECT_READS"
DATA_ROOTS_ENV = "GDT_SEARCH_DATA_ROOTS"
CACHE_ENV = "GDT_SEARCH_CACHE"
RAY_ADDRESS_ENV = "RAY_ADDRESS"
RAY_STORAGE_ENV = "GDT_SEARCH_RAY_STORAGE"
DEVICES_ENV = "GDT_SEARCH_DEVICES"
MIGRATE_ENV = "GDT_SEARCH_MIGRATE"
API_REAPER_ENV = "GDT_SEARCH_API_REAPER"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _env(name: str) -> str:
    """The variable of a setting named like its field: GDT_SEARCH_<NAME>."""
    return f"GDT_SEARCH_{name.upper()}"


def _max(name: str) -> str:
    return f"GDT_SEARCH_MAX_{name.upper()}"


class _FromEnvironment(BaseSettings):
    """Settings read only by `from_env` (never implicitly on construction), from exact variable names."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, populate_by_name=True, extra="forbid")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_sources):
        return (init_settings,)

    @classmethod
    def _environment(cls, environ: Mapping[str, str] | None) -> dict[str, Any]:
        """The values `environ` (default os.environ) sets, by variable name, not yet validated."""
        return _Environment(cls, os.environ if environ is None else environ)()

    @field_validator("*", mode="before")
    @classmethod
    def _parse(cls, value: Any, info: ValidationInfo) -> Any:
        """A variable's text as its field's value, with messages naming the variable (as before pydantic)."""
        if not isinstance(value, str):
            return value
        field = cls.model_fields[info.field_name]
        name, kind = field.validation_alias, field.annotation
        if kind in ("int", "float", int, float):
            if not value:
                raise PydanticUseDefault()
            try:
                return int(value) if kind in ("int", int) else float(value)
            except ValueError:
                what = "an integer" if kind in ("int", int) else "a number"
                raise ValueError(f"{name}: expected {what}, got {value!r}") from None
        if kind in ("bool", bool):
            if value.strip().lower() in _TRUE:
                return True
            if value.strip().lower() in _FALSE:
                return False
            raise ValueError(f"{name}: expected one of {', '.join(_TRUE + _FALSE[:-1])}, got {value!r}")
        return value


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self.environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self.environ)


class Limits(_FromEnvironment):
    """What one request may ask for; each is overridable as GDT_SEARCH_MAX_<NAME> (upper case), and must be > 0."""

    page_size: PositiveInt = Field(500, validation_alias=_max("page_size"))  # items per page of any listing
    body_bytes: PositiveInt = Field(256 * 1024, validation_alias=_max("body_bytes"))  # a study spec's JSON
    n_trials: PositiveInt = Field(10_000, validation_alias=_max("n_trials"))  # search.n_trials of one study
    study_seconds: PositiveFloat = Field(7 * 24 * 3600.0, validation_alias=_max("study_seconds"))  # search.timeout_s
    trial_steps: PositiveInt = Field(1_000_000, validation_alias=_max("trial_steps"))  # trial.steps, epochs x videos
    study_workers: PositiveInt = Field(64, validation_alias=_max("study_workers"))  # search.workers of one study
    clip_budget: PositiveInt = Field(4096, validation_alias=_max("clip_budget"))  # clips per batch
    k: PositiveInt = Field(64, validation_alias=_max("k"))  # K_m of one factor
    # configurations enumerated when checking that a space has a valid one ...
    space_checked: PositiveInt = Field(20_000, validation_alias=_max("space_checked"))
    # ... and for at most this long (a bigger space is let through)
    space_check_seconds: PositiveFloat = Field(2.0, validation_alias=_max("space_check_seconds"))
    world_videos: PositiveInt = Field(100_000, validation_alias=_max("world_videos"))  # videos_per_class x classes
    world_pixels: PositiveInt = Field(1024 * 1024, validation_alias=_max("world_pixels"))  # data.world.height x width
    world_seconds: PositiveFloat = Field(600.0, validation_alias=_max("world_seconds"))  # data.world.duration_s
    # A study's cost, estimated before it is queued (each value alone may be within its bound):
    # decoded world caches: videos x frames x pixels x 3 + audio samples x 4
    data_bytes: PositiveInt = Field(16 * 2**30, validation_alias=_max("data_bytes"))
    # clips a study trains on: clip_budget x steps x n_trials
    train_clips: PositiveInt = Field(10**9, validation_alias=_max("train_clips"))
    # clips a study encodes to evaluate: (proxy videos x clips_per_video + invariance_videos x 8) x evaluations
    # per trial x n_trials
    eval_clips: PositiveInt = Field(10**8, validation_alias=_max("eval_clips"))


class Settings(_FromEnvironment):
    database_url: str = Field(DEFAULT_DATABASE, validation_alias=DATABASE_ENV)
    api_token: str | None = Field(None, validation_alias=TOKEN_ENV)  # once set, every mutating endpoint requires it
    # ... and every read too (health checks and /docs stay open)
    protect_reads: bool = Field(False, validation_alias=PROTECT_READS_ENV)
    default_page_size: int = Field(50, validation_alias=_env("default_page_size"))
    limits: Limits = Field(default_factory=Limits)
    # how often a worker says it is alive (and looks for a cancel request)
    heartbeat_s: float = Field(5.0, validation_alias=_env("heartbeat_s"))
    # A worker silent this long is dead: its running trials are interrupted (stale). With the reaper's interval
    # (and an idle worker's poll), a killed worker is noticed within 2 x heartbeat_s; a live one may be 3 s late.
    stale_after_s: float = Field(8.0, validation_alias=_env("stale_after_s"))
    poll_s: float = Field(2.0, validation_alias=_env("poll_s"))  # an idle worker looks for queued studies this often
    reap_interval_s: float = Field(2.0, validation_alias=_env("reap_interval_s"))  # the API's look for dead workers
    cancel_grace_s: float = Field(5.0, validation_alias=_env("cancel_grace_s"))  # SIGTERM, then SIGKILL after this
    # a study whose worker died this many times is failed instead of requeued
    max_attempts: int = Field(5, validation_alias=_env("max_attempts"))
    migrate_on_start: bool = Field(True, validation_alias=MIGRATE_ENV)
    # the API process also fails stale trials (so nothing waits for a worker)
    reaper_in_api: bool = Field(True, validation_alias=API_REAPER_ENV)
    # Where studies submitted through the API read, write and connect -- never from the request:
    # dataset name -> folder a spec may name
    data_roots: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict, validation_alias=DATA_ROOTS_ENV)
    # the clip caches (None: core's default, ~/.cache/gdt-search)
    cache_root: str | None = Field(None, validation_alias=CACHE_ENV)
    ray_address: str | None = Field(None, validation_alias=RAY_ADDRESS_ENV)  # None: a local Ray per study process
    # Ray's experiment folders (None: ./ray_results of the worker)
    ray_storage: str | None = Field(None, validation_alias=RAY_STORAGE_ENV)
    # what `device` may be besides "auto" (None: this machine's)
    devices: Annotated[tuple[str, ...] | None, NoDecode] = Field(None, validation_alias=DEVICES_ENV)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from `environ` (default os.environ); unknown or malformed values raise ValueError naming them."""
        problems: list[str] = []
        try:
            limits = Limits(**Limits._environment(environ))
        except ValidationError as error:
            problems, limits = [_problem(e) for e in error.errors()], Limits()
        values = cls._environment(environ)
        if not values.get(_env("default_page_size")):
            values[_env("default_page_size")] = min(50, limits.page_size)
        try:
            settings = cls(**{**values, "limits": limits, **overrides})
        except ValidationError as error:
            problems += [_problem(e) for e in error.errors()]
        if problems:  # every malformed variable at once
            raise ValueError("; ".join(problems))
        settings.check()
        return settings

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        if value == "":
            raise PydanticUseDefault()
        return value

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        from api.db import normalize_url

        return normalize_url(value)

    @field_validator("api_token", "cache_root", "ray_address", "ray_storage", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("data_roots", mode="before")
    @classmethod
    def _data_roots(cls, value: Any) -> Any:
        return parse_data_roots(value) if isinstance(value, str) else value

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(d.strip() for d in value.split(",") if d.strip()) if value else None
        return value

    def check(self) -> None:
        if self.stale_after_s <= self.heartbeat_s:
            raise ValueError(
                f"GDT_SEARCH_STALE_AFTER_S ({self.stale_after_s}) must exceed GDT_SEARCH_HEARTBEAT_S"
                f" ({self.heartbeat_s}), or live workers would be declared dead"
            )
        if not 1 <= self.default_page_size <= self.limits.page_size:
            raise ValueError(
                f"GDT_SEARCH_DEFAULT_PAGE_SIZE must be in [1, {self.limits.page_size}], got {self.default_page_size}"
            )
        for name in ("heartbeat_s", "poll_s", "reap_interval_s", "cancel_grace_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"GDT_SEARCH_{name.upper()} must be > 0")

    def environ(self) -> dict[str, str]:
        """These settings as environment variables, for the processes a worker or `serve` starts."""
        env = {
            DATABASE_ENV: self.database_url,
            PROTECT_READS_ENV: "1" if self.protect_reads else "0",
            MIGRATE_ENV: "1" if self.migrate_on_start else "0",
        }
        if self.api_token:
            env[TOKEN_ENV] = self.api_token
        if self.data_roots:
            env[DATA_ROOTS_ENV] = json.dumps(dict(self.data_roots))
        for key, value in (
            (CACHE_ENV, self.cache_root),
            (RAY_ADDRESS_ENV, self.ray_address),
            (RAY_STORAGE_ENV, self.ray_storage),
        ):
            if value:
                env[key] = value
        if self.devices is not None:
            env[DEVICES_ENV] = ",".join(self.devices)
        for name in ("heartbeat_s", "stale_after_s", "poll_s", "reap_interval_s", "cancel_grace_s", "max_attempts"):
            env[_env(name)] = str(getattr(self, name))
        for name in Limits.model_fields:
            env[_max(name)] = str(getattr(self.limits, name))
        return env


def _problem(error: dict) -> str:
    """One validation problem, naming the variable (the validators' own messages already do)."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"


def parse_data_roots(raw: str) -> dict[str, str]:
    """`GDT_SEARCH_DATA_ROOTS`: a JSON object {"name": "/path"} or `name=/path,name2=/path2`."""
    raw = raw.strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            roots = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"{DATA_ROOTS_ENV}: invalid JSON ({error.msg})") from None
        if not all(isinstance(v, str) for v in roots.values()):
            raise ValueError(f"{DATA_ROOTS_ENV}: every value must be a folder path (a string)")
    else:
        roots = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            name, sep, path = item.partition("=")
            if not sep or not path.strip():
                raise ValueError(f"{DATA_ROOTS_ENV}: expected name=/path, got {item!r}")
            roots[name.strip()] = path.strip()
    for name in roots:
        if not DATASET_NAME.match(name):
            raise ValueError(f"{DATA_ROOTS_ENV}: dataset name {name!r} must match {DATASET_NAME.pattern}")
    return {name: str(Path(path).expanduser().resolve()) for name, path in roots.items()}


def local_devices() -> tuple[str, ...]:
    """The devices this machine offers: cpu, and cuda / cuda:<i> per visible GPU."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ("cpu", *(("cuda",) if count else ()), *(f"cuda:{i}" for i in range(count)))
