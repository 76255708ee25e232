"""The service's settings, read once from the environment so the API, `serve` and every worker agree.

One database URL configures everything (`GDT_SEARCH_DATABASE_URL`, shared with the search layer); the
token, the read protection, the request limits and the worker timings are the other knobs. The server
alone decides where studies read, write and connect: the datasets a client may name
(`GDT_SEARCH_DATA_ROOTS`), the clip cache (`GDT_SEARCH_CACHE`), the Ray cluster (`RAY_ADDRESS`) and Ray's
experiment folder (`GDT_SEARCH_RAY_STORAGE`), and the devices studies may ask for (`GDT_SEARCH_DEVICES`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from search.spec import DATABASE_ENV, DEFAULT_DATABASE

TOKEN_ENV = "GDT_SEARCH_API_TOKEN"
PROTECT_READS_ENV = "GDT_SEARCH_PROTECT_READS"
DATA_ROOTS_ENV = "GDT_SEARCH_DATA_ROOTS"
CACHE_ENV = "GDT_SEARCH_CACHE"
RAY_ADDRESS_ENV = "RAY_ADDRESS"
RAY_STORAGE_ENV = "GDT_SEARCH_RAY_STORAGE"
DEVICES_ENV = "GDT_SEARCH_DEVICES"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; each is overridable as GDT_SEARCH_MAX_<NAME> (upper case)."""

    page_size: int = 500  # items per page of any listing
    body_bytes: int = 256 * 1024  # a study spec's JSON
    n_trials: int = 10_000  # search.n_trials of one study
    study_seconds: float = 7 * 24 * 3600.0  # search.timeout_s of one study
    trial_steps: int = 1_000_000  # trial.steps (and trial.epochs x videos)
    study_workers: int = 64  # search.workers of one study
    clip_budget: int = 4096  # clips per batch
    k: int = 64  # K_m of one factor
    space_checked: int = 20_000  # configurations enumerated when checking that a space has a valid one ...
    space_check_seconds: float = 2.0  # ... and for at most this long (a bigger space is let through)
    world_videos: int = 100_000  # data.world.videos_per_class x classes
    world_pixels: int = 1024 * 1024  # data.world.height x width
    world_seconds: float = 600.0  # data.world.duration_s
    # A study's cost, estimated before it is queued (each value alone may be within its bound):
    data_bytes: int = 16 * 2**30  # decoded world caches: videos x frames x pixels x 3 + audio samples x 4
    train_clips: int = 10**9  # clips a study trains on: clip_budget x steps x n_trials
    eval_clips: int = 10**8  # clips a study encodes to evaluate: (proxy videos x clips_per_video +
    #                          invariance_videos x 8) x evaluations per trial x n_trials


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE
    api_token: str | None = None  # once set, every mutating endpoint requires it
    protect_reads: bool = False  # ... and every read too (health checks and /docs stay open)
    default_page_size: int = 50
    limits: Limits = field(default_factory=Limits)
    heartbeat_s: float = 5.0  # how often a worker says it is alive (and looks for a cancel request)
    # A worker silent this long is dead: its running trials are failed (stale). With the reaper's interval
    # (and an idle worker's poll), a killed worker is noticed within 2 x heartbeat_s; a live one may be 3 s late.
    stale_after_s: float = 8.0
    poll_s: float = 2.0  # an idle worker looks for queued studies this often
    reap_interval_s: float = 2.0  # how often the API process looks for dead workers
    cancel_grace_s: float = 5.0  # SIGTERM, then SIGKILL after this long
    max_attempts: int = 5  # a study whose worker died this many times is failed instead of requeued
    migrate_on_start: bool = True
    reaper_in_api: bool = True  # the API process also fails stale trials (so nothing waits for a worker)
    # Where studies submitted through the API read, write and connect -- never from the request:
    data_roots: Mapping[str, str] = field(default_factory=dict)  # dataset name -> folder a spec may name
    cache_root: str | None = None  # the clip caches (None: core's default, ~/.cache/gdt-search)
    ray_address: str | None = None  # None: a local Ray per study process
    ray_storage: str | None = None  # Ray's experiment folders (None: ./ray_results of the worker)
    devices: tuple[str, ...] | None = None  # what `device` may be besides "auto" (None: this machine's)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from `environ` (default os.environ); unknown or malformed values raise ValueError naming them."""
        env = os.environ if environ is None else environ
        values: dict = {
            "database_url": env.get(DATABASE_ENV) or DEFAULT_DATABASE,
            "api_token": env.get(TOKEN_ENV) or None,
            "protect_reads": _flag(env, PROTECT_READS_ENV, False),
            "data_roots": parse_data_roots(env.get(DATA_ROOTS_ENV, "")),
            "cache_root": env.get(CACHE_ENV) or None,
            "ray_address": env.get(RAY_ADDRESS_ENV) or None,
            "ray_storage": env.get(RAY_STORAGE_ENV) or None,
        }
        if env.get(DEVICES_ENV):
            values["devices"] = tuple(d.strip() for d in env[DEVICES_ENV].split(",") if d.strip())
        for name, kind in (
            ("default_page_size", int),
            ("heartbeat_s", float),
            ("stale_after_s", float),
            ("poll_s", float),
            ("reap_interval_s", float),
            ("cancel_grace_s", float),
            ("max_attempts", int),
        ):
            key = f"GDT_SEARCH_{name.upper()}"
            if env.get(key):
                values[name] = _number(env, key, kind)
        for name, key in (("migrate_on_start", "GDT_SEARCH_MIGRATE"), ("reaper_in_api", "GDT_SEARCH_API_REAPER")):
            if key in env:
                values[name] = _flag(env, key, True)
        limits = {}
        for f in fields(Limits):
            key = f"GDT_SEARCH_MAX_{f.name.upper()}"
            if env.get(key):
                limits[f.name] = _number(env, key, int if f.type == "int" else float)
        limits = Limits(**limits)
        values.setdefault("default_page_size", min(cls.default_page_size, limits.page_size))
        settings = cls(**values, limits=limits)
        settings = replace(settings, **overrides) if overrides else settings
        settings.check()
        return settings

    def __post_init__(self) -> None:
        from api.db import normalize_url

        object.__setattr__(self, "database_url", normalize_url(self.database_url))

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
            "GDT_SEARCH_MIGRATE": "1" if self.migrate_on_start else "0",
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
            env[f"GDT_SEARCH_{name.upper()}"] = str(getattr(self, name))
        for f in fields(Limits):
            env[f"GDT_SEARCH_MAX_{f.name.upper()}"] = str(getattr(self.limits, f.name))
        return env


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


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{key}: expected one of {', '.join(_TRUE + _FALSE[:-1])}, got {raw!r}")


def _number(env: Mapping[str, str], key: str, kind: type) -> int | float:
    try:
        return kind(env[key])
    except ValueError:
        raise ValueError(f"{key}: expected {'an integer' if kind is int else 'a number'}, got {env[key]!r}") from None
