"""Fixtures for the service tests: real SQLite files, a real PostgreSQL server, a live uvicorn API, worker processes.

PostgreSQL is required, never skipped: `.ci/install` starts it, and `GDT_SEARCH_TEST_POSTGRES` (default
postgresql://gdt:gdt@localhost:5432/gdt_test) names a role that may create databases. The session gets a
database of its own and drops it at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import text

from api.app import create_app
from api.db import Database, migrate
from api.models import Base
from api.settings import Settings

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ENV = "GDT_SEARCH_TEST_POSTGRES"
POSTGRES_DEFAULT = "postgresql://gdt:gdt@localhost:5432/gdt_test"
WORLD = {
    "videos_per_class": 3,
    "classes": ["slide_right", "slide_left", "grow", "shrink"],
    "duration_s": 2.0,
    "fps": 8,
    "height": 16,
    "width": 16,
}
# Worker timings for the subprocess tests: dead workers are noticed within ~3 s.
FAST = dict(heartbeat_s=0.5, stale_after_s=3.0, poll_s=0.3, reap_interval_s=0.5, cancel_grace_s=2.0)


def tiny_spec(name: str = "tiny", n_trials: int = 2, steps: int = 2, **search) -> dict:
    """A study whose trials take a few seconds on a CPU: tiny encoders on a 12-video world."""
    return {
        "name": name,
        "factors": {"TR": {"choices": ["invariant", "distinctive", "off"]}, "TS": {"choices": ["invariant", "off"]}},
        "clip_budget": 8,
        "encoders": {"video": "tiny_video", "audio": "tiny_audio"},
        "data": {"world": dict(WORLD), "proxy_videos_per_class": 3},
        "trial": {"steps": steps},
        "evaluation": {"clips_per_video": 1, "invariance_videos": 4},
        "search": {"sampler": "random", "seed": 0, "n_trials": n_trials, "heartbeat_s": 1, **search},
    }


# -- databases -------------------------------------------------------------------------------------


def _admin_url() -> str:
    return os.environ.get(POSTGRES_ENV, POSTGRES_DEFAULT)


def create_pg_database(prefix: str = "gdt_api") -> str:
    """A fresh, empty PostgreSQL database; fails the test (never skips) when the server is unreachable."""
    admin = _admin_url()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is required for the service tests and is unreachable at {admin} ({error});"
            f" run `bash .ci/install` or set {POSTGRES_ENV}",
            pytrace=False,
        )
    return admin.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url():
    url = create_pg_database()
    db = Database(url)
    migrate(db)
    db.dispose()
    yield url
    drop_pg_database(url)


def _clean(url: str) -> None:
    """Empty the service's tables (Optuna's studies have unique names, so they may stay)."""
    db = Database(url)
    with db.write() as session:
        if db.postgres:
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each test on a fresh SQLite file and on the (emptied) PostgreSQL test database, both migrated."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
        db = Database(url)
        migrate(db)
        db.dispose()
        return url
    url = request.getfixturevalue("pg_url")
    _clean(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite file that does not exist yet (nothing migrated)."""
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
def postgres_url(pg_url) -> str:
    _clean(pg_url)
    return pg_url


# -- the clip cache the trials share ---------------------------------------------------------------


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> Path:
    """The tiny world's clip caches, built once, so worker processes never race to build them."""
    from core.trial import open_data
    from search.spec import load_spec

    root = tmp_path_factory.mktemp("gdt-cache")
    previous = os.environ.get("GDT_SEARCH_CACHE")
    os.environ["GDT_SEARCH_CACHE"] = str(root)
    try:
        open_data(load_spec(tiny_spec()).data_spec())
    finally:
        if previous is None:
            os.environ.pop("GDT_SEARCH_CACHE", None)
        else:
            os.environ["GDT_SEARCH_CACHE"] = previous
    return root


# -- a live API on loopback ------------------------------------------------------------------------


class LiveServer:
    """uvicorn serving `create_app(settings)` on 127.0.0.1 in a thread (lifespan included)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        return self

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


def settings_for(url: str, **overrides) -> Settings:
    return Settings.from_env({"GDT_SEARCH_DATABASE_URL": url}, **overrides)


@pytest.fixture
def live(database_url):
    """A live API on the parametrised database, without a token."""
    with LiveServer(settings_for(database_url)) as server:
        yield server


@pytest.fixture
def client(live):
    with live.client() as c:
        yield c


# -- worker processes ------------------------------------------------------------------------------


class Processes:
    """Starts `gdt-search` subprocesses and makes sure none outlives the test."""

    def __init__(self, tmp_path: Path, cache: Path):
        self.tmp_path, self.cache = tmp_path, cache
        self.started: list[subprocess.Popen] = []

    def env(self, settings: Settings) -> dict[str, str]:
        return {
            **os.environ,
            **settings.environ(),
            "GDT_SEARCH_CACHE": str(self.cache),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
        }

    def start(self, settings: Settings, *args: str, name: str = "worker") -> subprocess.Popen:
        log = (self.tmp_path / f"{name}-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args], env=self.env(settings), stdout=log, stderr=subprocess.STDOUT
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    def worker(self, settings: Settings, worker_id: str, *args: str) -> subprocess.Popen:
        return self.start(settings, "worker", "--id", worker_id, *args, name=worker_id)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.args[3:]} ---\n" + Path(p.log_path).read_text(errors="replace")[-3000:] for p in self.started
        )

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path, clip_cache):
    procs = Processes(tmp_path, clip_cache)
    yield procs
    procs.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2, on_timeout=None):
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{extra}", pytrace=False)
        time.sleep(interval)


def process_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
