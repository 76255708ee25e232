"""The process that runs one claimed study: `python -m api.study_process STUDY_ID WORKER_ID`.

A worker starts it in a session of its own, so that cancelling the study is one `killpg` that also takes
the search layer's Optuna worker processes with it. It runs the study with the chosen backend on the
service's database (the Optuna study lives there too, so a requeued study resumes without losing a
completed trial) and records through `DatabaseRecorder`. If its worker dies (SIGKILL included), a
watchdog thread kills this process group: a study never runs unsupervised.

Exit codes: 0 the study ran to its budget; 3 the study cannot run or could train nothing (its Optuna
study differs, its data folder is missing or badly laid out, its device is not on this worker, every
trial failed) -- the reason is in the study's `error` and the worker fails the study with it at once;
4 the claim was lost; anything else is a crash (the worker requeues the study, naming the exception this
process recorded in `error` as its cause).

Where the study reads, writes and connects comes from this worker's settings, never from the stored
spec (`api.submit.server_side`).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback

from sqlalchemy import select, update

from api.database_recorder import ClaimLost, DatabaseRecorder
from api.db import Database
from api.models import Study, Trial
from api.queue import add_event
from api.settings import Settings

STUDY_ERROR, CLAIM_LOST = 3, 4


def watch_parent(interval_s: float = 0.5) -> threading.Thread:
    """Kill this process group as soon as the parent process is gone (re-parented to init or a subreaper)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            time.sleep(interval_s)

    thread = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    thread.start()
    return thread


def _record_error(db: Database, study_id: int, worker_id: str, error: str) -> None:
    with db.write() as session:
        session.execute(
            update(Study).where(Study.id == study_id, Study.worker_id == worker_id).values(error=error[-4000:])
        )


def device_problem(device: str) -> str | None:
    """Why this machine cannot run on `device`, or None."""
    import torch

    if device in ("auto", "cpu"):
        return None
    if device == "mps":
        return None if torch.backends.mps.is_available() else "this worker has no MPS device"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        has = f"{count} CUDA device{'s' if count != 1 else ''}" if count else "no CUDA device"
        return f"device {device!r} is not available: this worker ({socket.gethostname()}) has {has}"
    return None


def nothing_trained(db: Database, study_id: int) -> str | None:
    """Why a study that ran to its budget trained nothing (every trial failed or was infeasible), or None."""
    with db.read() as session:
        rows = session.execute(
            select(Trial.number, Trial.state, Trial.reason).where(Trial.study_id == study_id).order_by(Trial.number)
        ).all()
    rows = [row for row in rows if row.state != "interrupted"]  # stopped from outside: they say nothing here
    if not rows or any(state in ("complete", "pruned", "duplicate") for _, state, _ in rows):
        return None
    failed = [(n, reason) for n, state, reason in rows if state == "failed"]
    if failed:
        number, reason = failed[0]
        return f"every trial failed ({len(failed)} of {len(rows)}; the rest infeasible); first, #{number}: {reason}"
    number, _, reason = rows[0]
    return f"no trial could be trained: all {len(rows)} proposals were infeasible; first, #{number}: {reason}"


def record_data_report(db: Database, study_id: int, worker_id: str, report: dict | None) -> None:
    """Keep what the data left out with the study, and say so in its events when anything was."""
    from search.data_report import describe

    if report is None:
        return
    lines = describe(report)
    with db.write() as session:
        session.execute(
            update(Study).where(Study.id == study_id, Study.worker_id == worker_id).values(data_report=report)
        )
        if lines:
            add_event(session, study_id, "data", "\n".join(lines), worker_id)


def run(study_id: int, worker_id: str, settings: Settings) -> int:
    from api.submit import server_side
    from search.data_report import data_report
    from search.optuna_backend import StudyMismatch
    from search.runner import run_study
    from search.spec import StudySpec

    db = Database(settings.database_url)
    with db.read() as session:
        row = session.get(Study, study_id)
        if row is None:
            print(f"study {study_id} does not exist", file=sys.stderr)
            return STUDY_ERROR
        spec_json, optuna_name = dict(row.spec), row.optuna_name
    spec = StudySpec.model_validate(spec_json).model_copy(update={"storage": db.url, "name": optuna_name})
    recorder = DatabaseRecorder(db.url, study_id, worker_id)
    try:
        spec = server_side(spec, settings)
        problem = device_problem(spec.device)
        if problem:
            raise ValueError(problem)
        record_data_report(db, study_id, worker_id, data_report(spec))
        run_study(spec, recorder)
    except ClaimLost as error:
        print(f"study {study_id}: {error}", file=sys.stderr)
        return CLAIM_LOST
    # A configuration error (a missing or badly laid out data folder included) is not a crash: running
    # the study again cannot help, so it fails at once with the error's own message.
    except (StudyMismatch, ValueError, FileNotFoundError, NotADirectoryError) as error:
        _record_error(db, study_id, worker_id, str(error) or type(error).__name__)
        return STUDY_ERROR
    except Exception as error:
        _record_error(db, study_id, worker_id, "".join(traceback.format_exception_only(error)).strip())
        raise
    reason = nothing_trained(db, study_id)
    if reason:
        _record_error(db, study_id, worker_id, reason)
        return STUDY_ERROR
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[0].isdigit():
        print("usage: python -m api.study_process STUDY_ID WORKER_ID", file=sys.stderr)
        return 2
    watch_parent()
    return run(int(args[0]), args[1], Settings.from_env())


if __name__ == "__main__":
    sys.exit(main())
