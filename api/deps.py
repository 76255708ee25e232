"""What the API's routes and the dashboard's depend on: this app's settings and database, a read session,
the study lookup (404), read / write authorisation, and the page size.

Everything here reads the app it serves from the request (`request.app.state`, set by `create_app`), so
several apps with different settings can live in one process (the tests run one per database).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.db import Database
from api.models import Study
from api.schemas import Problem, ValidationProblem
from api.settings import Settings

# The responses the dependencies below answer with, for the routes' OpenAPI `responses`.
R401 = {401: {"model": Problem, "description": "missing or wrong API token"}}
R404 = {404: {"model": Problem, "description": "no such study or trial"}}
R422 = {422: {"model": ValidationProblem, "description": "invalid input; each problem names its field"}}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]


def read_session(db: DatabaseDep) -> Iterator[Session]:
    """A read transaction for the whole of the route, closed when the route returns."""
    with db.read() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session, scope="function")]


def get_study(session: Session, study_id: int) -> Study:
    """The study, or 404 naming it."""
    study = session.get(Study, study_id)
    if study is None:
        raise HTTPException(404, f"study {study_id} not found")
    return study


# -- authorisation ----------------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="the API token (GDT_SEARCH_API_TOKEN)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def check_token(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    """Nothing while no token is set; else 401 unless `credentials` carry it."""
    token = settings.api_token
    if not token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(
            401,
            "missing or wrong API token: send 'Authorization: Bearer <token>'"
            if given
            else "this endpoint needs the API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def writer(settings: SettingsDep, credentials: Credentials) -> None:
    """Every mutating endpoint: the token once GDT_SEARCH_API_TOKEN is set."""
    check_token(settings, credentials)


def reader(settings: SettingsDep, credentials: Credentials) -> None:
    """Every read: the token too with GDT_SEARCH_PROTECT_READS=1."""
    if settings.protect_reads:
        check_token(settings, credentials)


Write = [Depends(writer)]
Read = [Depends(reader)]

# -- the page size ---------------------------------------------------------------------------------------


def page_size(settings: Settings) -> Any:
    """The `limit` query parameter of a listing: at most this server's `limits.page_size` (in validation and
    in the OpenAPI document). A query parameter's bounds are fixed when its route is built, so the routers
    with listings are built per app (`api.routes.studies.router(settings)`, ...)."""
    most = settings.limits.page_size
    return Annotated[int, Query(ge=1, le=most, description=f"items per page (at most {most})")]
