"""The docker-compose topology, run natively: PostgreSQL, a Ray head, the API and two workers as processes.

One study with `backend: ray` goes in through `POST /studies`; a worker claims it, its trials run on the
Ray cluster, every trial lands in PostgreSQL, and the API reports the study completed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import create_pg_database, drop_pg_database, tiny_spec

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def cluster(tmp_path):
    """Start every service as its own process; stop them all afterwards, whatever happened."""
    database = create_pg_database("gdt_topology")
    ray_port, api_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "GDT_SEARCH_DATABASE_URL": database,
        "GDT_SEARCH_CACHE": str(tmp_path / "cache"),
        "GDT_SEARCH_RAY_STORAGE": str(tmp_path / "ray_results"),  # the server's, never a request's
        "RAY_ADDRESS": f"127.0.0.1:{ray_port}",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Token authentication, the same token on every process of the cluster (as in docker-compose.yml).
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "PYTHONPATH": str(REPO),
    }
    ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    # A short folder: Ray's Unix sockets live below it and socket paths are limited to ~107 bytes.
    ray_temp = tempfile.mkdtemp(prefix="gdt-ray-", dir="/tmp")
    subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={ray_port}", "--num-cpus=2",
         "--include-dashboard=false", f"--temp-dir={ray_temp}", "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    processes: list[subprocess.Popen] = []
    logs = []
    try:

        def start(name, *args):
            log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            processes.append(subprocess.Popen([sys.executable, "-m", "api.cli", *args], env=env,
                                              stdout=log, stderr=subprocess.STDOUT, cwd=REPO))  # fmt: skip

        start("api", "serve", "--no-worker", "--port", str(api_port))
        base = f"http://127.0.0.1:{api_port}"

        def ready():
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(ready, 60, "the API to be ready")
        start("worker-a", "worker", "--id", "worker-a")
        start("worker-b", "worker", "--id", "worker-b")
        yield base, tmp_path
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        # Stop this cluster only (`ray stop` would stop every Ray of the user): its processes name its folder.
        subprocess.run(["pkill", "-TERM", "-f", ray_temp], check=False)
        time.sleep(2)
        subprocess.run(["pkill", "-KILL", "-f", ray_temp], check=False)
        shutil.rmtree(ray_temp, ignore_errors=True)
        drop_pg_database(database)


def test_a_ray_study_runs_end_to_end_on_the_native_topology(cluster):
    base, logs = cluster
    ray = {"cpus_per_trial": 1}
    spec = tiny_spec(name="topology", n_trials=3) | {"backend": "ray", "ray": ray}
    studies = [httpx.post(f"{base}/studies", json=spec | {"name": f"topology-{i}"}, timeout=30) for i in range(2)]
    assert all(r.status_code == 201 for r in studies), [r.text for r in studies]
    ids = [r.json()["id"] for r in studies]

    def finished():
        bodies = [httpx.get(f"{base}/studies/{i}", timeout=10).json() for i in ids]
        return bodies if all(b["status"] in ("completed", "failed", "cancelled") for b in bodies) else None

    try:
        bodies = _wait_for(finished, 420, "both studies to finish")
    except AssertionError:
        for log in sorted(logs.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    for body in bodies:
        assert body["status"] == "completed", body.get("error")
        assert body["backend"] == "ray"
        assert body["progress"]["counts"].get("complete", 0) >= 1
        assert body["best"] is not None
    # The two workers shared the queue: each claimed one of the two studies.
    claims = [
        e["worker_id"]
        for i in ids
        for e in httpx.get(f"{base}/studies/{i}/events", timeout=10).json()["items"]
        if e["kind"] == "claimed"
    ]
    assert sorted(claims) == ["worker-a", "worker-b"]
    trials = httpx.get(f"{base}/studies/{ids[0]}/trials", timeout=10).json()
    assert trials["total"] == bodies[0]["progress"]["total"] and trials["total"] >= 1
