"""The service's settings, read once from the environment so the API, `serve` and every worker agree.

One database URL configures everything (`GDT_SEARCH_DATABASE_URL`, shared with the search layer); the
token, the read protection, the request limits and the worker timings are the only other knobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from search.spec import DATABASE_ENV, DEFAULT_DATABASE

TOKEN_ENV = "GDT_SEARCH_API_TOKEN"
PROTECT_READS_ENV = "GDT_SEARCH_PROTECT_READS"
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


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE
    api_token: str | None = None  # once set, every mutating endpoint requires it
    protect_reads: bool = False  # ... and every read too (health checks and /docs stay open)
    default_page_size: int = 50
    limits: Limits = field(default_factory=Limits)
    heartbeat_s: float = 5.0  # how often a worker says it is alive (and looks for a cancel request)
    stale_after_s: float = 30.0  # a worker silent this long is dead: its running trials are failed (stale)
    poll_s: float = 2.0  # an idle worker looks for queued studies this often
    reap_interval_s: float = 5.0  # how often the API process looks for dead workers
    cancel_grace_s: float = 5.0  # SIGTERM, then SIGKILL after this long
    max_attempts: int = 5  # a study whose worker died this many times is failed instead of requeued
    migrate_on_start: bool = True
    reaper_in_api: bool = True  # the API process also fails stale trials (so nothing waits for a worker)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from `environ` (default os.environ); unknown or malformed values raise ValueError naming them."""
        env = os.environ if environ is None else environ
        values: dict = {
            "database_url": env.get(DATABASE_ENV) or DEFAULT_DATABASE,
            "api_token": env.get(TOKEN_ENV) or None,
            "protect_reads": _flag(env, PROTECT_READS_ENV, False),
        }
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
        for name in ("heartbeat_s", "stale_after_s", "poll_s", "reap_interval_s", "cancel_grace_s", "max_attempts"):
            env[f"GDT_SEARCH_{name.upper()}"] = str(getattr(self, name))
        for f in fields(Limits):
            env[f"GDT_SEARCH_MAX_{f.name.upper()}"] = str(getattr(self.limits, f.name))
        return env


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
