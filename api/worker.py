"""`gdt-search worker`: claims queued studies one at a time and runs each in a supervised child process.

The loop: reap studies of dead workers, claim the oldest queued study, start `api.study_process` in a
new session, and while it runs heartbeat every `heartbeat_s` -- which is also when a cancel request or
a lost claim is noticed, and the child's process group is terminated (SIGTERM, then SIGKILL after
`cancel_grace_s`). When the child exits the study is finished (completed), failed at once with the
child's reason (it cannot run: a configuration error, or every trial failed), or requeued (the child
crashed; after `max_attempts` claims it is failed). SIGTERM / SIGINT stop the worker
gracefully: the running study is requeued at once, without counting an attempt. A worker that is
SIGKILLed stops heartbeating; any other worker or the API process then requeues its study after
`stale_after_s`, and its child notices its parent is gone and kills itself.
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

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from api import queue
from api.db import Database, UnknownRevision, migrate
from api.models import Study
from api.settings import MIGRATE_ENV, Settings
from api.study_process import CLAIM_LOST, STUDY_ERROR

REPO = Path(__file__).resolve().parents[1]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def kill_group(process: subprocess.Popen, grace_s: float) -> int:
    """Terminate the child's whole process group: SIGTERM, then SIGKILL after `grace_s`; returns its exit code."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def fail_optuna_running(url: str, optuna_name: str) -> int:
    """Mark the Optuna study's RUNNING trials failed (their process is gone); returns how many."""
    import optuna
    from optuna.trial import TrialState

    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    try:
        study_id = storage.get_study_id_from_name(optuna_name)
    except KeyError:
        return 0
    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    for trial in running:
        with contextlib.suppress(Exception):  # already finished by its own process in the meantime
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    storage.remove_session()
    storage.engine.dispose()
    return len(running)


class Worker:
    def __init__(
        self,
        settings: Settings,
        worker_id: str | None = None,
        max_studies: int | None = None,
        exit_with_parent: bool = False,
    ):
        self.settings = settings
        self.id = worker_id or new_worker_id()
        self.max_studies = max_studies
        self.exit_with_parent = exit_with_parent
        self.stop = threading.Event()
        self.db = Database(settings.database_url)

    def log(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} [worker {self.id}] {message}", file=sys.stderr, flush=True)

    def _install_signals(self) -> None:
        def handle(signum, _frame) -> None:
            self.log(f"{signal.Signals(signum).name}: stopping")
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def _watch_parent(self) -> None:
        parent = os.getppid()

        def watch() -> None:
            while not self.stop.is_set():
                if os.getppid() != parent:
                    self.log("parent process gone: stopping")
                    self.stop.set()
                time.sleep(0.5)

        threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()

    def run(self) -> int:
        if threading.current_thread() is threading.main_thread():
            self._install_signals()
        if self.exit_with_parent:
            self._watch_parent()
        if self.settings.migrate_on_start:
            try:
                migrate(self.db)
            except UnknownRevision as error:  # the operator's to fix: a message and status 2, as for bad input
                print(f"gdt-search worker: {error}", file=sys.stderr, flush=True)
                self.db.dispose()
                return 2
        queue.register_worker(self.db, self.id, socket.gethostname(), os.getpid())
        self.log(f"started on {self.db.engine.url.render_as_string(hide_password=True)}")
        done = 0
        try:
            while not self.stop.is_set():
                try:
                    queue.reap_stale(self.db, self.settings.stale_after_s, self.settings.max_attempts)
                    claimed = queue.claim(self.db, self.id)
                    if claimed is None:
                        queue.heartbeat(self.db, self.id)
                except DBAPIError as error:  # the database is away: wait for it rather than exit
                    self.log(f"database error, retrying in {self.settings.poll_s:g} s: {error.orig or error}")
                    claimed = None
                if claimed is None:
                    self.stop.wait(self.settings.poll_s)
                    continue
                self.run_study(claimed)
                done += 1
                if self.max_studies is not None and done >= self.max_studies:
                    break
        finally:
            try:
                queue.worker_stopped(self.db, self.id)
            except DBAPIError:
                pass  # the reaper marks it lost instead
            self.db.dispose()
        return 0

    def _start_child(self, claimed: queue.Claimed) -> subprocess.Popen:
        env = {**os.environ, **self.settings.environ(), MIGRATE_ENV: "0"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return subprocess.Popen(
            [sys.executable, "-m", "api.study_process", str(claimed.id), self.id],
            env=env,
            start_new_session=True,
        )

    def _study_error(self, study_id: int) -> str | None:
        with self.db.read() as session:
            return session.scalar(select(Study.error).where(Study.id == study_id))

    def run_study(self, claimed: queue.Claimed) -> str:
        """Run one claimed study to its end; returns what became of it."""
        s = self.settings
        self.log(f"study {claimed.id} ({claimed.optuna_name}), attempt {claimed.attempts}")
        child = self._start_child(claimed)
        while True:
            try:
                code = child.wait(timeout=s.heartbeat_s)
                break
            except subprocess.TimeoutExpired:
                pass
            if self.stop.is_set():
                kill_group(child, s.cancel_grace_s)
                status = queue.release(
                    self.db, claimed.id, self.id, f"worker {self.id} stopped", s.max_attempts, count_attempt=False
                )
                self.log(f"study {claimed.id}: worker stopping, study {status}")
                return status or "lost"
            try:
                beat = queue.heartbeat(self.db, self.id, claimed.id)
            except DBAPIError as error:  # keep training; if this lasts past the stale timeout the claim is lost
                self.log(f"study {claimed.id}: heartbeat failed: {error.orig or error}")
                continue
            if not beat.owned:
                kill_group(child, s.cancel_grace_s)
                self.log(f"study {claimed.id}: claim lost (declared dead, or finished elsewhere); stopped")
                return "lost"
            if beat.cancel_requested:
                kill_group(child, s.cancel_grace_s)
                queue.finish(self.db, claimed.id, self.id, "cancelled", "cancelled while running", "cancelled")
                self.log(f"study {claimed.id}: cancelled")
                fail_optuna_running(self.db.url, claimed.optuna_name)
                return "cancelled"
        if code == 0:
            queue.finish(self.db, claimed.id, self.id, "completed", "ran to its budget")
            self.log(f"study {claimed.id}: completed")
            return "completed"
        if code == CLAIM_LOST:
            self.log(f"study {claimed.id}: claim lost")
            return "lost"
        if code == STUDY_ERROR:  # not a crash: the child recorded why, and running it again cannot help
            reason = self._study_error(claimed.id) or "the study cannot run"
            queue.finish(self.db, claimed.id, self.id, "failed", reason, f"the study failed: {reason}")
            self.log(f"study {claimed.id}: failed ({reason})")
            return "failed"
        what = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        status = queue.release(
            self.db, claimed.id, self.id, f"the study process died ({what})", s.max_attempts, count_attempt=True
        )
        self.log(f"study {claimed.id}: study process died ({what}); study {status}")
        return status or "lost"
