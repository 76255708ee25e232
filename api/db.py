"""Engines, sessions and migrations for the one database URL the service is configured with.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write transaction
starts with `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can fail at once with
"database is locked" instead of waiting, which is the classic SQLite-under-concurrency bug. Readers
stay deferred, so they never wait for writers. PostgreSQL needs nothing special (psycopg 3).

Migrations are Alembic's, in `migrations/`, applied on start-up under a lock (a PostgreSQL advisory
lock, a file lock next to a SQLite file) so that the API and several workers starting at once do
not race; their version table is `gdt_alembic_version`, never Optuna's `alembic_version`. Optuna's
own tables are created under the same lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from api.models import PREFIX, VERSION_TABLE
from core.errors import GDTSearchError

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
_ADVISORY_LOCK = 0x6764742D  # "gdt-": serialises migrations of one PostgreSQL database
BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here (psycopg2 is not a dependency)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database)."""
    database = make_url(url).database
    return None if database in (None, "", ":memory:") else Path(database)


def make_engine(url: str, **kwargs) -> Engine:
    url = normalize_url(url)
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    path = sqlite_path(url)
    if path is None:
        raise ValueError(f"{url}: an in-memory SQLite database cannot be shared with workers; give a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("gdt_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """One engine per process and URL; `write()` for transactions that change something."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.postgres = self.engine.dialect.name == "postgresql"
        self._writer = self.engine.execution_options(gdt_write=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed on success, rolled back on error."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


# -- migrations ------------------------------------------------------------------------------------


def object_filter(dialect: str):
    """Alembic's `include_object` for a connection of `dialect`: the service's `gdt_` tables (and their
    indexes / constraints) only, never Optuna's, and of a dialect-specific index only this dialect's."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        if type_ == "table":
            return bool(name) and name.startswith(PREFIX)
        table = getattr(obj, "table", None)
        if table is not None and not table.name.startswith(PREFIX):
            return False
        only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)  # Index(...).ddl_if(dialect=...)
        return only is None or only == dialect

    return include_object


def alembic_config(url: str, connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def migration_lock(db: Database) -> Iterator[Connection]:
    """A connection holding the database's migration lock."""
    if db.sqlite:
        path = sqlite_path(db.url)
        with FileLock(str(path) + ".migrate.lock"), db.engine.connect() as connection:
            yield connection
        return
    with db.engine.connect() as connection:
        if db.postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK})
            connection.commit()
        try:
            yield connection
        finally:
            if db.postgres:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
                connection.commit()


class UnknownRevision(GDTSearchError):
    """The database is at a migration this code does not have: a newer gdt-search migrated it."""


def refuse_unknown_revision(db: Database, connection: Connection) -> None:
    """Raise UnknownRevision when the database's revision is not one of this code's migrations.

    Alembic would say only "Can't locate revision identified by '0042'", in a traceback, from deep inside
    `upgrade`; the operator needs to hear that the database is newer than this install.
    """
    from alembic.script import ScriptDirectory

    current = []
    if inspect(connection).has_table(VERSION_TABLE):
        current = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    connection.rollback()  # a read only; alembic begins its own transaction on this connection
    if not current:
        return
    script = ScriptDirectory.from_config(alembic_config(db.url))
    known = {r.revision for r in script.walk_revisions()}
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        shown = db.engine.url.render_as_string(hide_password=True)
        raise UnknownRevision(
            f"database {shown} is at migration {', '.join(unknown)}, which this gdt-search does not know"
            f" (its newest is {script.get_current_head()}): a newer gdt-search migrated it; upgrade gdt-search"
        )


def migrate(db: Database, revision: str = "head", optuna_tables: bool = True) -> None:
    """Upgrade the service's tables to `revision` and create Optuna's, under the migration lock.

    Idempotent and safe from several processes at once. Optuna creates its tables lazily from whichever
    process opens the storage first; two study processes doing that at once on a fresh PostgreSQL
    database collide (duplicate enum type), so the service creates them here, once. A database at a
    revision this code does not have (a newer install migrated it) is UnknownRevision, and left as it is.
    """
    from alembic import command

    with migration_lock(db) as connection:
        refuse_unknown_revision(db, connection)
        command.upgrade(alembic_config(db.url, connection), revision)
        connection.commit()
        if optuna_tables:
            create_optuna_tables(db.url)


def create_optuna_tables(url: str) -> None:
    import optuna

    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(normalize_url(url))
    storage.remove_session()
    storage.engine.dispose()


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    with migration_lock(db) as connection:
        refuse_unknown_revision(db, connection)
        command.downgrade(alembic_config(db.url, connection), revision)
        connection.commit()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None: the service's tables were never created)."""
    with db.engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
