"""The HTTP API: `create_app(settings)` builds the FastAPI app (OpenAPI and the interactive docs at /docs).

Training never runs here: `POST /studies` validates the spec and queues it, and workers do the rest.
Every mutating endpoint requires the token once `GDT_SEARCH_API_TOKEN` is set (`Authorization: Bearer
<token>`), and reads too with `GDT_SEARCH_PROTECT_READS=1`. Every bad input is a 4xx whose message names
the field: 422 `detail` is FastAPI's list of `{type, loc, msg}`, with `loc` the spec's dotted field
under "body" for a bad study spec. The app also runs the stale-worker reaper, so a trial left running
by a dead worker is marked interrupted even while no worker is up.
"""

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.routing import Match

from api import queries, queue
from api.dashboard.routes import mount_dashboard
from api.db import Database, migrate
from api.deps import PAGE_SIZE_MARK, known_query_parameters
from api.routes import docs, health, reports, studies, trials
from api.settings import Settings
from api.submit import ApiStudySpec, BodyError
from core.gdt.factors import CATALOGUE
from search.spec import SpecError

log = logging.getLogger("gdt_search.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="gdt-search",
        version="0.1.0",
        description=__doc__,
        lifespan=lifespan,
        docs_url=None,  # served by api.routes.docs from the installed package, not a CDN: /docs works offline
        redoc_url=None,
        exception_handlers={SpecError: spec_error, BodyError: body_error, OperationalError: database_down},
        dependencies=[Depends(known_query_parameters)],  # a misspelt query parameter is a 422, not ignored
    )
    # What the routes depend on (api.deps reads it from the request's app)
    app.state.settings, app.state.db = settings, Database(settings.database_url)
    app.state.trial_counts = queries.SettledCounts()  # this app's database only
    app.mount(docs.DOCS_ASSETS, docs.assets(), name="docs-assets")
    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(studies.router)
    app.include_router(trials.router)
    app.include_router(reports.router)
    app.middleware("http")(allow_every_method)
    app.openapi = functools.partial(openapi, app)
    mount_dashboard(app)
    return app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    settings, db = app.state.settings, app.state.db
    if settings.migrate_on_start:
        await run_in_threadpool(migrate, db)
    reaper = Reaper(db, settings) if settings.reaper_in_api else None
    if reaper:
        reaper.start()
    try:
        yield
    finally:
        if reaper:
            reaper.close()
        db.dispose()


class Reaper:
    """Fails the running trials of dead workers' studies and requeues them, every `reap_interval_s`."""

    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="stale-reaper", daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.settings.reap_interval_s):
            try:
                queue.reap_stale(self.db, self.settings.stale_after_s, self.settings.max_attempts)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the reaper
                log.exception("stale reaper")

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


# -- errors ------------------------------------------------------------------------------------------------


def spec_problem_detail(error: SpecError) -> list[dict]:
    """SpecError.problems as FastAPI's 422 detail list, `loc` = ["body", *dotted field]."""
    detail = []
    for field, message in error.problems:
        parts = [] if field in ("<root>", "<file>") else field.split(".")
        loc = ["body", *(int(p) if p.isdigit() else p for p in parts)]
        detail.append({"type": "spec", "loc": loc, "msg": message})
    return detail


async def spec_error(request: Request, error: SpecError) -> JSONResponse:
    return JSONResponse({"detail": spec_problem_detail(error)}, status_code=422)


async def body_error(request: Request, error: BodyError) -> JSONResponse:
    if error.status == 413:
        return JSONResponse({"detail": error.message}, status_code=413)
    return JSONResponse({"detail": [{"type": "body", "loc": ["body"], "msg": error.message}]}, status_code=error.status)


async def database_down(request: Request, error: OperationalError) -> JSONResponse:
    log.error("database error: %s", error)
    return JSONResponse({"detail": "the database is unavailable; try again"}, status_code=503)


async def allow_every_method(request: Request, call_next):
    """A 405 lists every method the path has (Starlette's names only the first route that matched it)."""
    response = await call_next(request)
    if response.status_code == 405:
        methods = set()
        for route in leaf_routes(request.app.router.routes):
            match, _ = route.matches(request.scope)
            if match is not Match.NONE and getattr(route, "methods", None):
                methods |= set(route.methods)
        if methods:
            response.headers["Allow"] = ", ".join(sorted(methods))
    return response


def leaf_routes(routes: list) -> Iterator:
    """The routes themselves, wherever they are: newer FastAPI (0.165) keeps an included router as one entry that
    refers to it (`original_router`) and matches only its first route that fits; older ones copy its routes."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is None:
            yield route
        else:
            yield from leaf_routes(included.routes)


# -- the OpenAPI document ----------------------------------------------------------------------------------


def openapi(app: FastAPI) -> dict:
    """The generated schema, plus the study spec as the body of POST /studies."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    document_auth(schema, app.state.settings)
    document_page_size(schema, app.state.settings)
    # The request body: the study spec less what the server decides, data roots as registered names.
    spec_schema = ApiStudySpec.model_json_schema(ref_template="#/components/schemas/{model}")
    # The factors a spec may search, by name (the server answers 422 to any other key).
    spec_schema["properties"]["factors"]["propertyNames"] = {"enum": [n for n in CATALOGUE if n != "DS"]}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    defs = {**spec_schema.pop("$defs", {}), "StudySpec": spec_schema}
    clashes = sorted(n for n in defs if n in components and components[n] != defs[n])
    if clashes:
        raise RuntimeError(f"OpenAPI: the study spec's schemas {clashes} clash with the API's own models")
    components.update(defs)
    app.openapi_schema = schema
    return schema


def document_page_size(schema: dict, settings: Settings) -> None:
    """Each listing's `limit` (`api.deps.page_size`, found by its mark) as this server enforces it: from 1 to
    `limits.page_size`, `default_page_size` when absent. The routers are shared by every app, so their
    generated schema cannot know these bounds."""
    most = settings.limits.page_size
    description = f"items per page (at most {most})"
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get(PAGE_SIZE_MARK):
                    parameter["description"] = description
                    parameter["schema"] = {
                        "type": "integer",
                        "maximum": most,
                        "minimum": 1,
                        "description": description,
                        "default": settings.default_page_size,
                        "title": parameter["schema"]["title"],
                    }


def document_auth(schema: dict, settings: Settings) -> None:
    """Each operation's security as this server enforces it: the token where it is checked, none where it
    is not (reads unless GDT_SEARCH_PROTECT_READS=1; everything while no token is set), and the rule.
    Every operation that takes the bearer is a read (GET, `api.deps.reader`) or a write (`api.deps.writer`)."""
    for item in schema["paths"].values():
        for method, operation in item.items():
            if "security" not in operation:
                continue  # health checks: always open
            write = method != "get"
            needed = bool(settings.api_token) and (write or settings.protect_reads)
            rule = (
                "needs the API token once GDT_SEARCH_API_TOKEN is set"
                if write
                else "needs the API token when GDT_SEARCH_API_TOKEN is set and GDT_SEARCH_PROTECT_READS=1"
            )
            state = "this server requires it" if needed else "this server does not: open"
            operation["description"] = f"{operation.get('description', '')}\n\nAuth: {rule}; {state}.".strip()
            if needed:
                operation["security"] = [{"HTTPBearer": []}]
            else:
                operation["security"] = []
                operation.get("responses", {}).pop("401", None)
