"""API latency and throughput on loopback: GET /studies/{id}/trials with 10,000 and 100,000 recorded trials,
and POST /studies, on SQLite and on PostgreSQL.

Trials are bulk-inserted with SQLAlchemy (each with 3 intermediate values, scores, measured invariances
and a replay record of realistic size), then the API runs under uvicorn in a subprocess on 127.0.0.1 and
a bounded load generator (httpx, a fixed number of requests per case) measures it. Results go to
benchmarks/results/api.json and api.md with the machine they came from.

    python benchmarks/bench_api.py [--sizes 10000 100000] [--requests 200] [--posts 200] [--concurrency 4]
    GDT_SEARCH_TEST_POSTGRES=postgresql://gdt:gdt@localhost:5432/gdt_test  (a role that may create databases)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import func, insert, select, text, update

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api import queue  # noqa: E402
from api.db import Database, migrate  # noqa: E402
from api.models import IntermediateValue, Study, Trial  # noqa: E402
from core.gdt.config import GDTConfig  # noqa: E402
from search.spec import load_spec  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ADMIN = os.environ.get("GDT_SEARCH_TEST_POSTGRES", "postgresql://gdt:gdt@localhost:5432/gdt_test")
SPEC = {
    "name": "bench",
    "factors": {"TR": {"choices": ["invariant", "distinctive", "off"]}, "TS": {"choices": ["invariant", "off"]}},
    "clip_budget": 8,
    "encoders": {"video": "tiny_video", "audio": "tiny_audio"},
    "data": {"world": {"videos_per_class": 3, "classes": ["slide_right", "slide_left", "grow", "shrink"]}},
    "trial": {"steps": 2},
    "search": {"sampler": "random", "n_trials": 5},
}
STATES = ["complete"] * 7 + ["pruned", "failed", "duplicate"]
KEYSET = "random page by keyset (after=N, limit 50)"
LIVE = "random page by keyset, study running (trials counted per page)"


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "sqlite": sqlite3.sqlite_version,
    }


def _trial_rows(study_id: int, start: int, n: int, rng: random.Random) -> list[dict]:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    config = GDTConfig.build({"TS": "invariant", "TR": "distinctive"}, clip_budget=16)  # DS=d(4) TS=i(2) MOD=off ...
    rows = []
    for number in range(start, start + n):
        state = STATES[number % len(STATES)]
        score = rng.random() if state in ("complete", "duplicate") else None
        started = base + timedelta(seconds=10 * number)
        rows.append(
            dict(
                study_id=study_id,
                number=number,
                backend_trial=str(number),
                state=state,
                params={"TR": rng.choice(["invariant", "distinctive"]), "TS": rng.choice(["invariant", "off"])},
                config=f"{config.describe()} #{number}",
                settings=config.settings_record(),
                equivalence_key=uuid.UUID(int=rng.getrandbits(128)).hex[:16],
                values=[score] if score is not None else None,
                score=score,
                cost=None,
                scores={k: rng.random() for k in ("r_at_1", "r_at_5", "r_at_20", "linear_top1", "fewshot_1nn")},
                invariance={f: rng.uniform(-1, 1) for f in ("TS", "TR", "SP", "MOD", "AUG")},
                reason="training failed at step 3: loss is non-finite" if state == "failed" else None,
                duplicate_of=0 if state == "duplicate" else None,
                replay={"libraries": {f"lib{i}": "1.2.3" for i in range(20)}, "trial_spec": {"x" * 8: "y" * 400}},
                worker_id="bench",
                started_at=started,
                finished_at=started + timedelta(seconds=5),
                duration_s=5.0,
            )
        )
    return rows


def populate(url: str, n_trials: int, batch: int = 5000) -> tuple[int, float]:
    """A study with `n_trials` trials (3 intermediate values each); returns (study id, seconds to insert)."""
    db = Database(url)
    migrate(db, optuna_tables=False)
    study_id = queue.enqueue(db, load_spec(SPEC)).id
    rng = random.Random(0)
    started = time.perf_counter()
    for start in range(0, n_trials, batch):
        n = min(batch, n_trials - start)
        with db.write() as session:
            session.execute(insert(Trial), _trial_rows(study_id, start, n, rng))
            ids = session.execute(
                select(Trial.id).where(Trial.study_id == study_id, Trial.number >= start, Trial.number < start + n)
            ).scalars()
            session.execute(
                insert(IntermediateValue),
                [
                    {"trial_id": i, "step": step, "value": rng.random(), "recorded_at": datetime.now(UTC)}
                    for i in ids
                    for step in (10, 20, 30)
                ],
            )
    seconds = time.perf_counter() - started
    with db.write() as session:  # finished when its last trial ended, as a study this size being browsed is
        last = session.scalar(select(func.max(Trial.finished_at)).where(Trial.study_id == study_id))
        session.execute(update(Study).where(Study.id == study_id).values(status="completed", finished_at=last))
    if db.postgres:  # what autovacuum does to a long-running database: statistics and the visibility map
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
    else:
        with db.write() as session:
            session.execute(text("ANALYZE"))
    db.dispose()
    return study_id, seconds


class Server:
    """uvicorn serving the API in a subprocess on 127.0.0.1 (the reaper off: nothing else runs)."""

    def __init__(self, url: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "GDT_SEARCH_DATABASE_URL": url, "GDT_SEARCH_API_REAPER": "0", "PYTHONPATH": str(REPO)}
        env.pop("GDT_SEARCH_API_TOKEN", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            env=env,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.base + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def measure_trials(base: str, study_id: int, n_trials: int, requests: int) -> dict:
    """Sequential GETs (one client, keep-alive) of three kinds of page; 10 warm-up requests each."""
    rng = random.Random(1)
    cases = {
        "first page (limit 50)": lambda: {},
        "random page by offset (limit 50)": lambda: {"offset": rng.randrange(0, max(1, n_trials - 50))},
        KEYSET: lambda: {"after": rng.randrange(0, max(1, n_trials - 50))},
        "best first (sort=score desc, limit 50)": lambda: {"sort": "score", "order": "desc"},
    }
    out = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, params in cases.items():
            for _ in range(10):
                client.get(f"/studies/{study_id}/trials", params=params()).raise_for_status()
            samples = []
            for _ in range(requests):
                p = params()
                t = time.perf_counter()
                response = client.get(f"/studies/{study_id}/trials", params=p)
                samples.append(time.perf_counter() - t)
                response.raise_for_status()
                assert response.json()["total"] == n_trials
            out[name] = percentiles(samples)
    return out


def measure_live_keyset(url: str, base: str, study_id: int, n_trials: int, requests: int) -> dict:
    """Keyset pages of the same study while it is running: its trials may still change, so every page counts
    them (a finished study's counts are read once: api.queries.SettledCounts)."""
    db = Database(url)
    try:
        with db.write() as session:
            session.execute(update(Study).where(Study.id == study_id).values(status="running", finished_at=None))
        rng = random.Random(2)
        samples = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for i in range(10 + requests):
                t = time.perf_counter()
                response = client.get(f"/studies/{study_id}/trials", params={"after": rng.randrange(0, n_trials - 50)})
                if i >= 10:
                    samples.append(time.perf_counter() - t)
                response.raise_for_status()
                assert response.json()["total"] == n_trials
        return percentiles(samples)
    finally:
        db.dispose()


def measure_posts(base: str, posts: int, concurrency: int) -> dict:
    """`posts` POST /studies from `concurrency` keep-alive clients; throughput over the whole run."""
    per_client = [posts // concurrency + (1 if i < posts % concurrency else 0) for i in range(concurrency)]
    samples: list[float] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(n):
                t = time.perf_counter()
                response = client.post("/studies", json=SPEC)
                elapsed = time.perf_counter() - t
                assert response.status_code == 201, response.text
                with lock:
                    samples.append(elapsed)

    with httpx.Client(base_url=base, timeout=60) as client:  # warm-up
        for _ in range(5):
            client.post("/studies", json=SPEC).raise_for_status()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(run, per_client))
    wall = time.perf_counter() - started
    return {"posts": posts, "concurrency": concurrency, "per_second": round(posts / wall, 1), **percentiles(samples)}


def pg_database() -> tuple[str, str]:
    name = f"gdt_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        version = connection.execute("SHOW server_version").fetchone()[0]
    return ADMIN.rsplit("/", 1)[0] + "/" + name, version


def drop_pg(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=200, help="GETs per case")
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()

    results = {"machine": machine(), "requests_per_case": args.requests, "runs": []}
    for backend in args.backends:
        for size in args.sizes:
            tmp = tempfile.mkdtemp(prefix="gdt-bench-")
            if backend == "sqlite":
                url, version = f"sqlite:///{tmp}/bench.db", sqlite3.sqlite_version
            else:
                url, version = pg_database()
            try:
                study_id, insert_s = populate(url, size)
                print(f"{backend} {size}: inserted in {insert_s:.1f} s", flush=True)
                server = Server(url)
                try:
                    run = {
                        "backend": backend,
                        "version": version,
                        "trials": size,
                        "insert_seconds": round(insert_s, 1),
                        "get_trials": measure_trials(server.base, study_id, size, args.requests),
                    }
                    run["get_trials"][LIVE] = measure_live_keyset(url, server.base, study_id, size, args.requests)
                    if size == args.sizes[0]:
                        run["post_studies"] = measure_posts(server.base, args.posts, args.concurrency)
                finally:
                    server.close()
                results["runs"].append(run)
                print(json.dumps(run, indent=1), flush=True)
            finally:
                if backend == "postgresql":
                    drop_pg(url)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    for key, case in (("keyset_p99_ms_100k", KEYSET), ("keyset_p99_ms_100k_live", LIVE)):
        big = [r for r in results["runs"] if r["trials"] == 100_000]
        results[key] = {r["backend"]: r["get_trials"][case]["p99_ms"] for r in big}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "api.md").write_text(render(results))
    print(render(results))


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# API latency and throughput (loopback, uvicorn, one process)",
        "",
        f"Machine: {m['platform']}, Python {m['python']}, {m['cpu_count']} CPUs, load average"
        f" {m['load_average']} before / {m.get('load_average_after')} after; SQLite {m['sqlite']}.",
        "",
        f"`GET /studies/{{id}}/trials`: {results['requests_per_case']} sequential requests per case from one"
        " keep-alive client after 10 warm-up requests; each trial has 3 intermediate values. The study is"
        " finished (completed when its last trial ended), so its trial counts are read once"
        " (`api.queries.SettledCounts`); the last case flips it to running, where every page counts its trials.",
        "",
        f"Keyset page at 100,000 trials, p99 ms: {results.get('keyset_p99_ms_100k')} (finished study),"
        f" {results.get('keyset_p99_ms_100k_live')} (running study).",
        "",
        "| backend | trials | page | p50 ms | p99 ms | mean ms |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for run in results["runs"]:
        for case, p in run["get_trials"].items():
            lines.append(
                f"| {run['backend']} {run['version']} | {run['trials']:,} | {case} | {p['p50_ms']} | {p['p99_ms']}"
                f" | {p['mean_ms']} |"
            )
    lines += ["", "`POST /studies` (the tiny spec: parse, validate, check the GDT space, insert):", ""]
    lines += ["| backend | posts | concurrency | studies/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    for run in results["runs"]:
        if "post_studies" in run:
            p = run["post_studies"]
            lines.append(
                f"| {run['backend']} | {p['posts']} | {p['concurrency']} | {p['per_second']} | {p['p50_ms']}"
                f" | {p['p99_ms']} |"
            )
    lines += ["", "Bulk insert (SQLAlchemy, 5,000 trials per transaction, with their intermediate values):", ""]
    lines += [f"- {r['backend']}, {r['trials']:,} trials: {r['insert_seconds']} s" for r in results["runs"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
