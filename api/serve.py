"""`gdt-search serve`: the API plus one local worker process, for the embedded default (one SQLite file).

The worker is a child process (`gdt-search worker --exit-with-parent`), never a thread of the API:
training must not share the API's process. Stopping `serve` (SIGINT / SIGTERM) stops the worker
gracefully, which requeues a running study at once; the next `serve` resumes it from its Optuna study,
so no completed trial is lost. If `serve` is killed outright, the worker notices and stops too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from api.db import Database, UnknownRevision, migrate
from api.settings import MIGRATE_ENV, Settings
from api.worker import REPO


def start_worker(settings: Settings) -> subprocess.Popen:
    env = {**os.environ, **settings.environ(), MIGRATE_ENV: "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--exit-with-parent"], env=env)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    import uvicorn

    from api.app import create_app

    if settings.migrate_on_start:
        db = Database(settings.database_url)
        try:
            migrate(db)  # once, before the worker and the API start
        except UnknownRevision as error:  # the operator's to fix: a message and status 2, as for bad input
            print(f"gdt-search serve: {error}", file=sys.stderr)
            return 2
        finally:
            db.dispose()
    children = [start_worker(settings) for _ in range(workers)]
    # uvicorn re-raises the signal that stopped it once it has shut down; with these handlers in place that
    # returns here instead of killing the process, so the workers are stopped gracefully below.
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=settings.cancel_grace_s + 30)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0
