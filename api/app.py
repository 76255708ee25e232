"""The HTTP API: `create_app(settings)` builds the FastAPI app (OpenAPI and the interactive docs at /docs).

Training never runs here: `POST /studies` validates the spec and queues it, and workers do the rest.
Every mutating endpoint requires the token once `GDT_SEARCH_API_TOKEN` is set (`Authorization: Bearer
<token>`), and reads too with `GDT_SEARCH_PROTECT_READS=1`. Every bad input is a 4xx whose message names
the field: 422 `detail` is FastAPI's list of `{type, loc, msg}`, with `loc` the spec's dotted field
under "body" for a bad study spec. The app also runs the stale-worker reaper, so a trial left running
by a dead worker is marked failed even while no worker is up.
"""

import contextlib
import hmac
import importlib.resources
import logging
import threading
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from starlette.routing import Match

from api import queries, queue
from api.dashboard.routes import mount_dashboard
from api.db import Database, current_revision, head_revision, migrate
from api.models import Study
from api.params import MAX_ID, Offset, StudyId, TrialNumber
from api.schemas import (
    Created,
    Effects,
    EventOut,
    Health,
    Importance,
    Page,
    Problem,
    StudyOut,
    StudyStatus,
    StudySummary,
    TrialDetail,
    TrialOut,
    TrialState,
    ValidationProblem,
)
from api.settings import Settings
from api.submit import ApiStudySpec, BodyError, parse_body, validate_submission
from core.gdt.factors import CATALOGUE
from search.spec import SpecError

log = logging.getLogger("gdt_search.api")

R401 = {401: {"model": Problem, "description": "missing or wrong API token"}}
R404 = {404: {"model": Problem, "description": "no such study or trial"}}
R422 = {422: {"model": ValidationProblem, "description": "invalid input; each problem names its field"}}


def spec_problem_detail(error: SpecError) -> list[dict]:
    """SpecError.problems as FastAPI's 422 detail list, `loc` = ["body", *dotted field]."""
    detail = []
    for field, message in error.problems:
        parts = [] if field in ("<root>", "<file>") else field.split(".")
        loc = ["body", *(int(p) if p.isdigit() else p for p in parts)]
        detail.append({"type": "spec", "loc": loc, "msg": message})
    return detail


def _body_detail(error: BodyError) -> dict:
    if error.status == 413:
        return {"detail": error.message}
    return {"detail": [{"type": "body", "loc": ["body"], "msg": error.message}]}


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing to read more than `limit` + 1 bytes whatever Content-Length says."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"request body is {declared} bytes; a study spec may have at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyError(413, f"request body exceeds {limit} bytes, the most a study spec may have")
    return bytes(body)


DOCS_ASSETS = "/docs/assets"


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its JavaScript and CSS from the `fastapi-offline` package (Swagger UI 5,
    OpenAPI 3.1), the way the dashboard serves its scripts: nothing is fetched from off the machine."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles

    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API docs",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    db = Database(settings.database_url)
    limits = settings.limits
    PageSize = Annotated[
        int, Query(ge=1, le=limits.page_size, description=f"items per page (at most {limits.page_size})")
    ]
    head = head_revision()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
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

    app = FastAPI(
        title="gdt-search",
        version="0.1.0",
        description=__doc__,
        lifespan=lifespan,
        docs_url=None,  # served below from the installed package, not a CDN: /docs works offline
        redoc_url=None,
    )
    mount_docs(app)
    app.state.settings, app.state.db = settings, db
    bearer = HTTPBearer(auto_error=False, description="the API token (GDT_SEARCH_API_TOKEN)")

    def check_token(credentials: HTTPAuthorizationCredentials | None) -> None:
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

    def writer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        check_token(credentials)

    def reader(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if settings.protect_reads:
            check_token(credentials)

    Write = [Depends(writer)]
    Read = [Depends(reader)]

    @app.exception_handler(SpecError)
    async def _spec_error(request: Request, error: SpecError) -> JSONResponse:
        return JSONResponse({"detail": spec_problem_detail(error)}, status_code=422)

    @app.exception_handler(BodyError)
    async def _body_error(request: Request, error: BodyError) -> JSONResponse:
        return JSONResponse(_body_detail(error), status_code=error.status)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, error: OperationalError) -> JSONResponse:
        log.error("database error: %s", error)
        return JSONResponse({"detail": "the database is unavailable; try again"}, status_code=503)

    trial_counts = queries.SettledCounts()  # this app's database only

    def get_study(session, study_id: int) -> Study:
        study = session.get(Study, study_id)
        if study is None:
            raise HTTPException(404, f"study {study_id} not found")
        return study

    # -- health ----------------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """The process is up (it does not touch the database)."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], responses={503: {"model": Problem}})
    def readyz():
        """The database answers and its tables are at the code's migration."""
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            revision = current_revision(db)
        except OperationalError as error:
            return JSONResponse({"detail": f"database unreachable: {error.orig or error}"}, status_code=503)
        if revision != head:
            return JSONResponse({"detail": f"database at migration {revision}, the code needs {head}"}, status_code=503)
        return Health(status="ready", database=db.engine.dialect.name, revision=revision)

    # -- studies ---------------------------------------------------------------------------------------

    @app.post(
        "/studies",
        status_code=201,
        response_model=Created,
        dependencies=Write,
        tags=["studies"],
        responses={**R401, **R422, 413: {"model": Problem, "description": "the body is too large"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StudySpec"}}},
            }
        },
    )
    async def create_study(request: Request) -> JSONResponse:
        """Queue a study (a study spec, JSON). 422 names every bad field, and refuses a space without a valid
        GDT configuration; a worker runs it."""
        raw = parse_body(await _read_body(request, limits.body_bytes), limits.body_bytes)
        spec = await run_in_threadpool(validate_submission, raw, limits, db.url, settings)
        study = await run_in_threadpool(queue.enqueue, db, spec)
        url = f"/studies/{study.id}"
        created = Created(id=study.id, name=study.name, status=study.status, url=url)
        return JSONResponse(created.model_dump(), status_code=201, headers={"Location": url})

    @app.get("/studies", response_model=Page[StudySummary], dependencies=Read, tags=["studies"], responses=R401)
    def list_studies(
        status: StudyStatus | None = None, limit: PageSize = settings.default_page_size, offset: Offset = 0
    ):
        """Studies, newest first, optionally of one status."""
        with db.read() as session:
            items, total = queries.list_studies(session, status, limit, offset)
        return Page[StudySummary](items=items, total=total, limit=limit, offset=offset)

    @app.get(
        "/studies/{study_id}", response_model=StudyOut, dependencies=Read, tags=["studies"], responses={**R401, **R404}
    )
    def read_study(study_id: StudyId):
        """Spec, status, progress (trials per state) and the best trial so far."""
        with db.read() as session:
            return queries.study_out(session, get_study(session, study_id))

    @app.post(
        "/studies/{study_id}/cancel",
        response_model=StudyOut,
        status_code=202,
        dependencies=Write,
        tags=["studies"],
        responses={**R401, **R404, 409: {"model": Problem, "description": "the study has already finished"}},
    )
    def cancel_study(study_id: StudyId):
        """Cancel: a queued study at once; a running one is stopped by its worker at its next heartbeat
        (its running trials are marked failed, reason "cancelled")."""
        study = queue.request_cancel(db, study_id)
        if study is None:
            raise HTTPException(404, f"study {study_id} not found")
        if study.status in ("completed", "failed"):
            raise HTTPException(409, f"study {study_id} has already finished ({study.status})")
        with db.read() as session:
            return queries.study_out(session, get_study(session, study_id))

    @app.get(
        "/studies/{study_id}/trials",
        response_model=Page[TrialOut],
        dependencies=Read,
        tags=["trials"],
        responses={**R401, **R404},
    )
    def list_trials(
        study_id: StudyId,
        state: TrialState | None = None,
        sort: queries.TrialSort = "number",
        order: Literal["asc", "desc"] = "asc",
        limit: PageSize = settings.default_page_size,
        offset: Offset = 0,
        after: Annotated[
            int | None,
            Query(
                ge=-1,
                le=MAX_ID,
                description="keyset pagination, as fast for the last page as for the first: the number of the"
                " last trial of the previous page, and this page continues after it in the chosen order. With"
                " sort=number any number will do (-1: from the start); with another sort it must be one of the"
                " study's trials (404 otherwise)",
            ),
        ] = None,
    ):
        """Trials with config, scores, intermediate values, measured invariances, durations, failure reasons.
        Sorted by number, score (best first with order=desc; unscored trials last), duration or time."""
        with db.read() as session:
            study = session.execute(select(Study.status, Study.finished_at).where(Study.id == study_id)).first()
            if study is None:  # (only what the page needs of the study: never its spec)
                raise HTTPException(404, f"study {study_id} not found")
            total = trial_counts.total(session, study_id, state, queries.settled(*study))
            try:
                items, total = queries.list_trials(session, study_id, state, sort, order, limit, offset, after, total)
            except queries.NoSuchTrial as error:
                raise HTTPException(404, str(error)) from None
        page = Page[TrialOut](items=items, total=total, limit=limit, offset=offset)
        # Already validated: serialise once (FastAPI would dump it, validate the dump again, then serialise)
        return Response(page.model_dump_json(), media_type="application/json")

    @app.get(
        "/studies/{study_id}/trials/{number}",
        response_model=TrialDetail,
        dependencies=Read,
        tags=["trials"],
        responses={**R401, **R404},
    )
    def read_trial(study_id: StudyId, number: TrialNumber):
        """One trial with its full replay record."""
        with db.read() as session:
            get_study(session, study_id)
            trial = queries.get_trial(session, study_id, number)
            if trial is None:
                raise HTTPException(404, f"study {study_id} has no trial {number}")
            return queries.trial_detail(session, trial)

    @app.get(
        "/studies/{study_id}/events",
        response_model=Page[EventOut],
        dependencies=Read,
        tags=["studies"],
        responses={**R401, **R404},
    )
    def list_events(study_id: StudyId, limit: PageSize = settings.default_page_size, offset: Offset = 0):
        """What happened to the study: claims, requeues, stale trials, cancellation ..."""
        with db.read() as session:
            get_study(session, study_id)
            items, total = queries.list_events(session, study_id, limit, offset)
        return Page[EventOut](items=items, total=total, limit=limit, offset=offset)

    @app.get(
        "/studies/{study_id}/importance",
        response_model=Importance,
        dependencies=Read,
        tags=["studies"],
        responses={**R401, **R404},
    )
    def importance(study_id: StudyId):
        """Parameter importances (Optuna's fANOVA, mean and sd over forest seeds) over the trained configurations,
        or a note saying why there are none: the same numbers as the dashboard and `gdt-search run`."""
        from dataclasses import asdict

        from search.importance import from_samples

        with db.read() as session:
            get_study(session, study_id)
            samples, total = queries.importance_samples(session, study_id)
        return Importance(study_id=study_id, **asdict(from_samples(samples, total)))

    @app.get(
        "/studies/{study_id}/effects",
        response_model=Effects,
        dependencies=Read,
        tags=["studies"],
        responses={**R401, **R404},
    )
    def effects(study_id: StudyId):
        """Per-factor effects: for each factor with >= 2 choices, the mean paired difference of the objective
        between two choices over trained configurations that differ only in that factor, with its 95 %
        t-interval (search.effects: the numbers of `gdt-search run`'s report, the export and the dashboard)."""
        with db.read() as session:
            get_study(session, study_id)
            return Effects(study_id=study_id, **queries.effects_of(session, study_id))

    @app.get(
        "/studies/{study_id}/export",
        dependencies=Read,
        tags=["studies"],
        responses={
            **R401,
            **R404,
            200: {"content": {"text/csv": {}, "application/json": {}}, "description": "every trial of the study"},
        },
    )
    def export(study_id: StudyId, format: Literal["csv", "json"] = "json"):
        """Every trial (replay records included in JSON), streamed."""
        with db.read() as session:
            study = queries.study_out(session, get_study(session, study_id))

        def stream():
            with db.read() as session:
                if format == "csv":
                    yield from queries.export_csv(session, study_id)
                else:
                    yield from queries.export_json(session, study)

        filename = f"study-{study_id}-{study.name}.{format}"
        media = "text/csv" if format == "csv" else "application/json"
        return StreamingResponse(
            stream(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    def document_auth(schema: dict) -> None:
        """Each operation's security as this server enforces it: the token where it is checked, none where it
        is not (reads unless GDT_SEARCH_PROTECT_READS=1; everything while no token is set), and the rule.
        Every operation that takes the bearer is a read (GET, the `reader` dependency) or a write (`writer`)."""
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

    def openapi() -> dict:
        """The generated schema, plus the study spec as the body of POST /studies."""
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        document_auth(schema)
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

    @app.middleware("http")
    async def allow_every_method(request: Request, call_next):
        """A 405 lists every method the path has (Starlette's names only the first route that matched it)."""
        response = await call_next(request)
        if response.status_code == 405:
            methods = set()
            for route in app.router.routes:
                match, _ = route.matches(request.scope)
                if match is not Match.NONE and getattr(route, "methods", None):
                    methods |= set(route.methods)
            if methods:
                response.headers["Allow"] = ", ".join(sorted(methods))
        return response

    app.openapi = openapi
    mount_dashboard(app, db, Read, get_study, {**R401, **R404})
    return app
