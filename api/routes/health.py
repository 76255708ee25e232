"""Liveness and readiness: /healthz (the process) and /readyz (the database, at the code's migration)."""

import functools

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.db import current_revision, head_revision
from api.deps import DatabaseDep
from api.schemas import Health, Problem

router = APIRouter(tags=["health"])
code_revision = functools.cache(head_revision)  # the migration this code needs (fixed for the process)


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (it does not touch the database)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Problem}})
def readyz(db: DatabaseDep):
    """The database answers and its tables are at the code's migration."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(db)
    except OperationalError as error:
        return JSONResponse({"detail": f"database unreachable: {error.orig or error}"}, status_code=503)
    head = code_revision()
    if revision != head:
        return JSONResponse({"detail": f"database at migration {revision}, the code needs {head}"}, status_code=503)
    return Health(status="ready", database=db.engine.dialect.name, revision=revision)
