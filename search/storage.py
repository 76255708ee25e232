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
    heartbeat = {} if heartbeat_interval is None else {
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
        "heartbeat_stale_trial_callback": stale_trial_callback,
    }  # fmt: skip
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    if url.startswith("sqlite:"):
        serialize_transactions(storage.engine)
    return storage


def serialize_transactions(engine) -> None:
    """Every SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE; SQLAlchemy's pysqlite recipe).

    Python's sqlite3 starts a transaction only at the first write, so Optuna's read-check-update of a trial's
    state is not atomic between processes: two workers both took one enqueued trial (a dead worker's retry) and
    the second one's result could not be stored. Serialised, the second reads it RUNNING and takes another.
    Transactions are short (Optuna's sessions), and the writer waits up to SQLITE_TIMEOUT_S for the lock."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners (Optuna's schema checks) are not reused
