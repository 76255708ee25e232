"""What the API's routes and the dashboard's depend on: this app's settings and database, a read session,
the study lookup (404), read / write authorisation, and the page size.

Everything here reads the app it serves from the request (`request.app.state`, set by `create_app`), so
several apps with different settings can live in one process (the tests run one per database).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic_core import PydanticKnownError
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

PAGE_SIZE_MARK = "x-page-size"  # marks the `limit` parameter in the generated schema, for `api.app.document_page_size`


def known_query_parameters(request: Request) -> None:
    """422 for a query parameter the route does not take: `/studies?stauts=queued` would list every study,
    silently. Applied to every route (api.app); the allowed names are the route's own and its dependencies'."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _query_names(dependant)
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError(
            [{"type": "unknown_parameter", "loc": ("query", name), "msg": f"unknown query parameter (allowed: {names})",
              "input": request.query_params[name]} for name in unknown]  # fmt: skip
        )


def _query_names(dependant) -> set[str]:
    """The query parameters a route's dependant (fastapi.dependencies.models.Dependant) takes, its sub-dependencies'
    included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def page_size(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, json_schema_extra={PAGE_SIZE_MARK: True})] = None,
) -> int:
    """The `limit` query parameter of a listing: this server's `default_page_size` when absent, else at most
    its `limits.page_size` (422 otherwise, the error FastAPI's own `le` check gives). The routers are built
    once for every app, so the bounds are this app's settings, read here per request, and written into the
    OpenAPI document by `api.app.document_page_size`.

    A page size over the server's bound is reported alone (the route's own parameters are validated after its
    dependencies run); every other problem with `limit` is reported beside those of the other parameters."""
    settings = get_settings(request)
    if limit is None:
        return settings.default_page_size
    most = settings.limits.page_size
    if limit > most:
        error = PydanticKnownError("less_than_equal", {"le": most})
        given = request.query_params.get("limit")
        raise RequestValidationError(
            [
                {
                    "type": error.type,
                    "loc": ("query", "limit"),
                    "msg": error.message(),
                    "input": given,
                    "ctx": {"le": most},
                }
            ]
        )
    return limit


PageSize = Annotated[int, Depends(page_size)]
