"""The models and the Alembic migrations agree, downgrade/upgrade works, and Optuna's tables never collide."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime

import optuna
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, inspect, select, text

from api import queue
from api.db import Database, UnknownRevision, current_revision, downgrade, head_revision, migrate, object_filter
from api.models import BEST_INDEX, VERSION_TABLE, Base, Event, Trial
from core.errors import GDTSearchError
from core.gdt.config import GDTConfig
from search.spec import load_spec
from search.storage import open_storage
from tests.api.conftest import REPO, create_pg_database, drop_pg_database, tiny_spec

SERVICE_TABLES = {t.name for t in Base.metadata.sorted_tables}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database of each kind (PostgreSQL: created for this test, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_pg_database("gdt_migrations")
    yield url
    drop_pg_database(url)


def differences(db: Database) -> list:
    """What autogenerate would change to make the database match the models (service tables only)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": object_filter(db.engine.dialect.name),
                "compare_type": True,
                "version_table": VERSION_TABLE,
            },
        )
        return compare_metadata(context, Base.metadata)


def test_models_and_migrations_agree(fresh_url):
    db = Database(fresh_url)
    migrate(db)
    assert current_revision(db) == head_revision()
    assert differences(db) == []
    assert SERVICE_TABLES <= set(inspect(db.engine).get_table_names())
    # Alembic compares an index's columns, not their order: check "best first" is really descending.
    (best,) = [i for i in inspect(db.engine).get_indexes("gdt_trials") if i["name"] == BEST_INDEX]
    assert best["column_names"] == ["study_id", "score", "number"]
    if db.postgres:
        assert best["column_sorting"] == {"score": ("desc", "nulls_last")}
    else:
        with db.engine.connect() as connection:
            sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": BEST_INDEX}).scalar()
        assert "score DESC" in sql
    db.dispose()


def test_downgrade_then_upgrade(fresh_url):
    db = Database(fresh_url)
    migrate(db)
    with db.write() as session:
        session.add(Event(kind="note", message="before downgrade"))
    downgrade(db, "base")
    remaining = set(inspect(db.engine).get_table_names())
    assert not (SERVICE_TABLES & remaining) and current_revision(db) is None
    migrate(db)
    assert current_revision(db) == head_revision() and differences(db) == []
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM gdt_events")).scalar() == 0
    migrate(db)  # idempotent at head
    db.dispose()


def test_optuna_tables_share_the_database_without_colliding(fresh_url):
    """Optuna first (its `alembic_version`, `studies`, `trials` ...), then the service, then Optuna again."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    db = Database(fresh_url)
    storage = open_storage(db.url)
    before = optuna.create_study(study_name="optuna-first", storage=storage)
    before.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    with db.engine.connect() as connection:
        optuna_revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    migrate(db)
    tables = set(inspect(db.engine).get_table_names())
    assert {"alembic_version", VERSION_TABLE, "studies", "trials"} <= tables
    assert SERVICE_TABLES <= tables and not (SERVICE_TABLES & {"studies", "trials", "alembic_version"})
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == optuna_revision
    assert current_revision(db) == head_revision() and differences(db) == []

    downgrade(db, "base")  # the service's downgrade leaves Optuna's tables alone
    assert optuna.load_study(study_name="optuna-first", storage=storage).trials[0].value == 1.0
    migrate(db)
    storage.remove_session()
    storage.engine.dispose()
    db.dispose()


def test_concurrent_start_ups_migrate_once(fresh_url):
    """The API and several workers starting at once all call migrate(); the lock makes that safe."""
    errors = []

    def start() -> None:
        db = Database(fresh_url)
        try:
            migrate(db)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    db = Database(fresh_url)
    assert current_revision(db) == head_revision() and differences(db) == []
    db.dispose()


def test_the_optuna_study_of_a_service_study_lives_in_the_same_database(sqlite_url):
    """What the worker does: the search layer's storage on the service's URL works beside the service's tables."""
    from search.optuna_backend import open_study

    db = Database(sqlite_url)
    migrate(db)
    spec = load_spec(tiny_spec("same-db")).model_copy(update={"storage": db.url})
    study = open_study(spec)
    assert study.study_name == "same-db"
    assert SERVICE_TABLES | {"studies", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    db.dispose()


def test_trials_written_before_0008_get_their_settings_from_the_notation(fresh_url):
    """0008 adds `settings` and backfills it from `config` with the migration's own parser: a feasible
    configuration (DS first), an infeasible candidate's notation (searched factors, ' budget=64' skipped), and a
    row with no notation (left None)."""
    db = Database(fresh_url)
    migrate(db, "0007", optuna_tables=False)
    study_id = queue.enqueue(db, load_spec(tiny_spec("before-0008"))).id
    trials = Table("gdt_trials", MetaData(), autoload_with=db.engine)
    assert "settings" not in trials.c
    notations = [
        "DS=d(8) TS=i(2) MOD=off TR=d(2) SP=ignore(2) AUG=i(4)",
        "TS=d(4) TR=d(2) budget=64",
        "",
        "DS=d(8) TS=i(2) MOD=off TR=d(2) SP=ignore(2) AUG=i(4)",  # a repeated configuration
    ]
    now = datetime.now(UTC)
    common = dict(study_id=study_id, state="complete", params={}, scores={}, invariance={}, replay={}, started_at=now)
    rows = [dict(common, number=n, backend_trial=str(n), config=config) for n, config in enumerate(notations)]
    with db.write() as session:
        session.execute(trials.insert(), rows)
    migrate(db, optuna_tables=False)
    assert current_revision(db) == head_revision() and differences(db) == []
    with db.read() as session:
        settings = dict(session.execute(select(Trial.number, Trial.settings).order_by(Trial.number)).all())
    feasible = {
        "DS": {"choice": "distinctive", "k": 8},
        "TS": {"choice": "invariant", "k": 2},
        "MOD": {"choice": "off", "k": 1},
        "TR": {"choice": "distinctive", "k": 2},
        "SP": {"choice": "ignore", "k": 2},
        "AUG": {"choice": "invariant", "k": 4},
    }
    assert settings[0] == settings[3] == feasible and list(settings[0]) == list(feasible)
    assert settings[1] == {"TS": {"choice": "distinctive", "k": 4}, "TR": {"choice": "distinctive", "k": 2}}
    assert settings[2] is None
    # what the migration backfills is what the code records for the same configuration today
    config = GDTConfig.build(
        {"TS": "invariant", "TR": "distinctive", "SP": "ignore", "AUG": ("invariant", 4)}, clip_budget=256
    )
    assert config.describe() == notations[0] and config.settings_record() == feasible
    downgrade(db, "0007")
    assert "settings" not in {c["name"] for c in inspect(db.engine).get_columns("gdt_trials")}
    db.dispose()


def test_duplicates_recorded_before_0009_lose_the_score_they_reused(fresh_url):
    """0009 clears a duplicate's score, cost, seed scores and metrics (it is no measurement, and a score in its
    row would be sorted and averaged with the measurements) and keeps the values it reused."""
    db = Database(fresh_url)
    migrate(db, "0008", optuna_tables=False)
    study_id = queue.enqueue(db, load_spec(tiny_spec("before-0009"))).id
    now = datetime.now(UTC)
    common = dict(study_id=study_id, params={}, invariance={}, replay={}, started_at=now, config="DS=d(8) TR=i(2)")
    measured = dict(values=[0.4, 2.0], score=0.4, cost=2.0, seed_values=[0.3, 0.5], scores={"r_at_1": 0.4})
    with db.write() as session:
        session.add_all([
            Trial(**common, **measured, number=0, backend_trial="0", state="complete"),
            Trial(**common, **measured, number=1, backend_trial="1", state="duplicate", duplicate_of=0),
        ])  # fmt: skip
    migrate(db, optuna_tables=False)
    assert current_revision(db) == head_revision() == "0009"
    with db.read() as session:
        rows = {t.number: t for t in session.scalars(select(Trial).where(Trial.study_id == study_id))}
        original, duplicate = rows[0], rows[1]
        assert (original.score, original.cost, original.seed_values, original.scores) == (
            0.4, 2.0, [0.3, 0.5], {"r_at_1": 0.4}
        )  # fmt: skip
        assert (duplicate.score, duplicate.cost, duplicate.seed_values, duplicate.scores) == (None, None, None, {})
        assert duplicate.values == [0.4, 2.0] and duplicate.duplicate_of == 0
    downgrade(db, "0008")
    db.dispose()


def _migrated_by_a_newer_install(url: str) -> Database:
    """A database a newer gdt-search migrated: at revision 0042, which this code does not have, with a study."""
    db = Database(url)
    migrate(db)
    queue.enqueue(db, load_spec(tiny_spec("recorded-before")))
    with db.write() as session:
        session.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0042'"))
    return db


def test_a_database_newer_than_this_code_is_refused_by_name_and_left_alone(fresh_url):
    db = _migrated_by_a_newer_install(fresh_url)
    shown = db.engine.url.render_as_string(hide_password=True)
    expected = (
        f"database {shown} is at migration 0042, which this gdt-search does not know (its newest is"
        f" {head_revision()}): a newer gdt-search migrated it; upgrade gdt-search"
    )
    with pytest.raises(UnknownRevision) as refused:
        migrate(db)
    assert str(refused.value) == expected and isinstance(refused.value, GDTSearchError)
    with pytest.raises(UnknownRevision):
        downgrade(db, "0008")
    assert current_revision(db) == "0042"  # nothing migrated, nothing recorded lost
    with db.read() as session:
        assert session.execute(text("SELECT name FROM gdt_studies")).scalars().all() == ["recorded-before"]
    db.dispose()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_on_a_newer_database_say_so_and_exit_2(fresh_url, command, tmp_path):
    db = _migrated_by_a_newer_install(fresh_url)
    db.dispose()
    argv = [sys.executable, "-m", "api.cli", command, "--database-url", fresh_url]
    if command == "serve":
        argv += ["--port", "0", "--no-worker"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_cli_env())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"gdt-search {command}: database " in done.stderr
    assert f"is at migration 0042, which this gdt-search does not know (its newest is {head_revision()})" in (
        done.stderr
    )
    db = Database(fresh_url)
    assert current_revision(db) == "0042"
    db.dispose()


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDT_SEARCH_")}
    return env | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
