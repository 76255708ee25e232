"""Optuna's RDB storage, built in one place: the search layer's studies, the service's workers and its
migrations all open the database the same way.

SQLite: the file's folder is created, the database is switched to WAL (readers do not block the writer;
the mode is kept in the file) and a connection waits up to 60 s for a lock. Other databases: connections
are pinged before use (a server restart does not break a long-lived worker). Heartbeat and stale-trial
retry are the caller's (search.optuna_backend.make_storage gives them from the study spec).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import optuna

SQLITE_TIMEOUT_S = 60


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    stale_trial_callback: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.storages.RDBStorage:
    """RDB storage on `url` (a SQLAlchemy URL), with Optuna's heartbeat when `heartbeat_interval` is given."""
    engine_kwargs: dict = {}
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S) as connection:  # WAL: readers do not block
                connection.execute("PRAGMA journal_mode=WAL")
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    if heartbeat_interval is None:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        heartbeat_stale_trial_callback=stale_trial_callback,
    )
