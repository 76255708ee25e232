"""Alembic environment for the service's own tables (`gdt_*`, version table `gdt_alembic_version`).

Optuna keeps its tables in the same database; `api.db.object_filter` hides every table without the
`gdt_` prefix from autogenerate, so a comparison or a new revision never proposes to drop Optuna's tables.
The URL comes from the caller (`api.db.migrate` passes a connection), else `sqlalchemy.url`, else
`$GDT_SEARCH_DATABASE_URL`.
"""

import os

from alembic import context
from sqlalchemy.engine import make_url

from api.db import make_engine, normalize_url, object_filter
from api.models import VERSION_TABLE, Base
from search.spec import DATABASE_ENV, DEFAULT_DATABASE

config = context.config


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=object_filter(connection.dialect.name),
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE
    context.configure(
        url=normalize_url(url),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=object_filter(make_url(normalize_url(url)).get_backend_name()),
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE
    engine = make_engine(url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
