"""Real worker processes running real (tiny) studies: concurrency on PostgreSQL, SIGKILL, cancel, restart.

Every wait is bounded; the worker timings are short (heartbeat 0.5 s, stale after 3 s) so that a dead
worker is noticed within seconds. Trials use tiny encoders on a 12-video world: a few seconds each.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import optuna
import pytest
from sqlalchemy import select

from api.db import Database, normalize_url
from api.models import Event, Study, Trial, Worker
from search.storage import open_storage
from tests.api.conftest import FAST, LiveServer, process_alive, settings_for, tiny_spec, wait_for

pytestmark = pytest.mark.slow
STUDY_TIMEOUT = 300  # seconds for a tiny study on a busy 2-core machine


def service_processes(url: str, *needles: str) -> list[int]:
    """Live processes started for the database `url` whose command line contains every needle."""
    url = normalize_url(url)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"GDT_SEARCH_DATABASE_URL={url}".encode() in environ and all(n in cmdline for n in needles):
            if process_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def trials_of(url: str, study_id: int) -> dict[int, Trial]:
    db = Database(url)
    with db.read() as session:
        rows = session.scalars(select(Trial).where(Trial.study_id == study_id)).all()
    db.dispose()
    return {t.number: t for t in rows}


def study_row(url: str, study_id: int) -> Study:
    db = Database(url)
    with db.read() as session:
        study = session.get(Study, study_id)
    db.dispose()
    return study


def events_of(url: str, study_id: int) -> list[Event]:
    db = Database(url)
    with db.read() as session:
        events = session.scalars(select(Event).where(Event.study_id == study_id).order_by(Event.id)).all()
    db.dispose()
    return list(events)


def idle_workers(url: str) -> set[str]:
    db = Database(url)
    with db.read() as session:
        names = set(session.scalars(select(Worker.id).where(Worker.status == "idle")))
    db.dispose()
    return names


def wait_until_status(client: httpx.Client, study_ids: list[int], status: str, processes, timeout=STUDY_TIMEOUT):
    def done():
        studies = [client.get(f"/studies/{i}").json() for i in study_ids]
        broken = [s for s in studies if s["status"] == "failed"]
        if broken and status != "failed":
            pytest.fail(f"study failed: {broken[0]['error']}\n{processes.logs()}", pytrace=False)
        return all(s["status"] == status for s in studies)

    wait_for(done, timeout, f"studies {study_ids} to be {status}", interval=0.5, on_timeout=processes.logs)


def running_after_a_completed_trial(url: str, study_id: int):
    """(completed trials, number of the running trial) once one trial completed and the next is training."""
    trials = trials_of(url, study_id)
    complete = {n: t for n, t in trials.items() if t.state == "complete"}
    running = [n for n, t in trials.items() if t.state == "running"]
    return (complete, running[0]) if complete and running else None


def optuna_states(url: str, optuna_name: str) -> dict[int, str]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(normalize_url(url))
    study = optuna.load_study(study_name=optuna_name, storage=storage)
    states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
    storage.remove_session()
    storage.engine.dispose()
    return states


def test_two_workers_on_postgres_never_run_the_same_trial(postgres_url, processes):
    settings = settings_for(postgres_url, **FAST)
    with LiveServer(settings) as api, api.client() as client:
        processes.worker(settings, "worker-a")
        processes.worker(settings, "worker-b")
        wait_for(lambda: idle_workers(postgres_url) == {"worker-a", "worker-b"}, 120, "both workers to be polling")
        ids = [client.post("/studies", json=tiny_spec(f"pair{i}", n_trials=1)).json()["id"] for i in range(3)]
        wait_until_status(client, ids, "completed", processes)

    claimers = set()
    for study_id in ids:
        claims = [e for e in events_of(postgres_url, study_id) if e.kind == "claimed"]
        history = [(e.kind, e.message, e.worker_id) for e in events_of(postgres_url, study_id)]
        assert len(claims) == 1, history
        owner = claims[0].worker_id
        claimers.add(owner)
        trials = trials_of(postgres_url, study_id)
        assert {t.worker_id for t in trials.values()} == {owner}  # only its claimer recorded trials
        assert sum(t.state == "complete" for t in trials.values()) == 1
        # The service's trials are exactly Optuna's: each trial number ran once, in one place.
        states = optuna_states(postgres_url, study_row(postgres_url, study_id).optuna_name)
        assert set(states) == set(trials) and "RUNNING" not in states.values()
    assert claimers == {"worker-a", "worker-b"}  # both workers worked, never on the same study


def test_a_sigkilled_worker_loses_nothing_and_its_study_continues(postgres_url, processes):
    settings = settings_for(postgres_url, **FAST)
    with LiveServer(settings) as api, api.client() as client:
        # 150 steps (~6 s): the running trial must still be training when the kill lands, even on a loaded machine
        # (at 15 steps it once finished between being seen running and the kill, and was never stale).
        study_id = client.post("/studies", json=tiny_spec("killed", n_trials=2, steps=150)).json()["id"]
        worker_a = processes.worker(settings, "worker-a")
        completed, running = wait_for(
            lambda: running_after_a_completed_trial(postgres_url, study_id),
            STUDY_TIMEOUT,
            "a completed trial and a running one",
            on_timeout=processes.logs,
        )
        before = {n: (t.score, t.values, t.finished_at) for n, t in completed.items()}
        assert service_processes(postgres_url, "api.study_process", "worker-a")

        worker_a.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        worker_a.wait(timeout=10)
        wait_for(
            lambda: not service_processes(postgres_url, "api.study_process", "worker-a"),
            10,
            "the dead worker's study process to stop",
        )

        assert trials_of(postgres_url, study_id)[running].state != "complete", "the trial ended before the kill"
        # No worker is running: the API's reaper marks the trial failed (stale) within the configured time.
        wait_for(
            lambda: trials_of(postgres_url, study_id)[running].state == "interrupted",
            settings.stale_after_s + 15,
            f"trial {running} to be marked failed",
        )
        elapsed = time.monotonic() - killed
        bound = settings.stale_after_s + settings.heartbeat_s + 2 * settings.reap_interval_s + 4.0
        assert elapsed <= bound, f"stale trial noticed after {elapsed:.1f} s, bound {bound:.1f} s"
        stale = trials_of(postgres_url, study_id)[running]
        assert stale.reason.startswith("stale: worker worker-a stopped heartbeating"), stale.reason
        assert study_row(postgres_url, study_id).status == "queued"

        processes.worker(settings, "worker-b")
        wait_until_status(client, [study_id], "completed", processes)
        final = client.get(f"/studies/{study_id}").json()

    trials = trials_of(postgres_url, study_id)
    for number, (score, values, finished_at) in before.items():  # nothing completed was lost or redone
        assert trials[number].state == "complete"
        assert (trials[number].score, trials[number].values, trials[number].finished_at) == (score, values, finished_at)
    assert trials[running].state == "interrupted"
    assert sum(t.state == "complete" for t in trials.values()) == 2
    assert {t.worker_id for n, t in trials.items() if n > running} == {"worker-b"}
    assert final["attempts"] == 2 and final["best"] is not None
    kinds = [e.kind for e in events_of(postgres_url, study_id)]
    assert kinds.count("claimed") == 2 and "requeued" in kinds
    states = optuna_states(postgres_url, final["optuna_name"])
    assert states[running] == "FAIL" and "RUNNING" not in states.values()
    db = Database(postgres_url)
    with db.read() as session:
        assert session.get(Worker, "worker-a").status == "lost"
    db.dispose()


def test_cancel_stops_a_running_study_promptly(sqlite_url, processes):
    database_url = sqlite_url
    settings = settings_for(database_url, **FAST)
    with LiveServer(settings) as api, api.client() as client:
        study_id = client.post("/studies", json=tiny_spec("cancelled", n_trials=50, steps=2000)).json()["id"]
        worker = processes.worker(settings, "worker-c")
        running = wait_for(
            lambda: [n for n, t in trials_of(database_url, study_id).items() if t.state == "running"],
            STUDY_TIMEOUT,
            "a running trial",
            on_timeout=processes.logs,
        )[0]
        children = service_processes(database_url, "api.study_process", "worker-c")
        assert children

        started = time.monotonic()
        response = client.post(f"/studies/{study_id}/cancel")
        assert response.status_code == 202 and response.json()["cancel_requested"] is True
        wait_until_status(client, [study_id], "cancelled", processes, timeout=30)
        elapsed = time.monotonic() - started
        bound = settings.heartbeat_s + settings.cancel_grace_s + 3.0
        assert elapsed <= bound, f"cancelled after {elapsed:.1f} s, bound {bound:.1f} s"

        trial = trials_of(database_url, study_id)[running]
        assert trial.state == "interrupted" and trial.reason == "cancelled"
        assert not any(process_alive(pid) for pid in children)
        assert worker.poll() is None  # the worker itself carries on, waiting for the next study
        optuna_name = study_row(database_url, study_id).optuna_name

        def optuna_settled():
            states = optuna_states(database_url, optuna_name)
            return states if "RUNNING" not in states.values() else None

        states = wait_for(optuna_settled, 30, "the cancelled trial to be failed in Optuna's tables too")
        assert states[running] == "FAIL"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_restarting_the_service_mid_study_loses_no_completed_trial(sqlite_url, processes):
    """`gdt-search serve` (API + local worker) on SQLite, stopped mid-trial and started again."""
    settings = settings_for(sqlite_url, **FAST)
    port = _free_port()

    def serve(name: str):
        process = processes.start(settings, "serve", "--port", str(port), name=name)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

        def up():
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}\n{processes.logs()}", pytrace=False)
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 90, "the service to be ready", interval=0.3, on_timeout=processes.logs)
        return process, client

    first, client = serve("serve-1")
    # 300 steps: the second trial must still be training when SIGTERM lands (at 15 steps it sometimes
    # finished between the poll that saw it running and the signal, and was recorded complete).
    study_id = client.post("/studies", json=tiny_spec("restarted", n_trials=2, steps=300)).json()["id"]
    completed, running = wait_for(
        lambda: running_after_a_completed_trial(sqlite_url, study_id),
        STUDY_TIMEOUT,
        "a completed trial and a running one",
        on_timeout=processes.logs,
    )
    before = {n: (t.score, t.values) for n, t in completed.items()}
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    client.close()
    wait_for(lambda: not service_processes(sqlite_url, "api."), 15, "the worker and study process to stop")
    stopped = trials_of(sqlite_url, study_id)[running]
    assert stopped.state == "interrupted" and "stopped" in stopped.reason
    assert study_row(sqlite_url, study_id).status == "queued"  # released at once, not left for the reaper

    second, client = serve("serve-2")
    wait_until_status(client, [study_id], "completed", processes)
    trials = client.get(f"/studies/{study_id}/trials", params={"state": "complete"}).json()["items"]
    client.close()
    after = {t["number"]: (t["score"], t["values"]) for t in trials}
    assert all(after[n] == before[n] for n in before)  # every trial completed before the restart is still there
    assert len(after) == 2
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0
