"""Studies: queue one (POST /studies), list them, read one, cancel one."""

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api import queries, queue
from api.deps import (
    R401,
    R404,
    R422,
    DatabaseDep,
    PageSize,
    Read,
    ReadSession,
    SettingsDep,
    Write,
    get_study,
)
from api.params import Offset, StudyId
from api.schemas import Created, Page, Problem, StudyOut, StudyStatus, StudySummary
from api.submit import BodyError, parse_body, validate_submission

router = APIRouter(tags=["studies"])


async def read_body(request: Request, limit: int) -> bytes:
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


@router.post(
    "/studies",
    status_code=201,
    response_model=Created,
    dependencies=Write,
    responses={**R401, **R422, 413: {"model": Problem, "description": "the body is too large"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StudySpec"}}},
        }
    },
)
async def create_study(request: Request, db: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    """Queue a study (a study spec, JSON). 422 names every bad field, and refuses a space without a valid
    GDT configuration; a worker runs it."""
    limits = settings.limits
    raw = parse_body(await read_body(request, limits.body_bytes), limits.body_bytes)
    spec = await run_in_threadpool(validate_submission, raw, limits, db.url, settings)
    study = await run_in_threadpool(queue.enqueue, db, spec)
    url = f"/studies/{study.id}"
    created = Created(id=study.id, name=study.name, status=study.status, url=url)
    return JSONResponse(created.model_dump(), status_code=201, headers={"Location": url})


@router.get("/studies", response_model=Page[StudySummary], dependencies=Read, responses=R401)
def list_studies(
    session: ReadSession,
    limit: PageSize,
    status: StudyStatus | None = None,
    offset: Offset = 0,
):
    """Studies, newest first, optionally of one status."""
    items, total = queries.list_studies(session, status, limit, offset)
    return Page[StudySummary](items=items, total=total, limit=limit, offset=offset)


@router.get("/studies/{study_id}", response_model=StudyOut, dependencies=Read, responses={**R401, **R404})
def read_study(study_id: StudyId, session: ReadSession):
    """Spec, status, progress (trials per state) and the best trial so far."""
    return queries.study_out(session, get_study(session, study_id))


@router.post(
    "/studies/{study_id}/cancel",
    response_model=StudyOut,
    status_code=202,
    dependencies=Write,
    responses={
        **R401,
        **R404,
        409: {"model": Problem, "description": "the study has already finished (completed, failed or cancelled)"},
    },
)
def cancel_study(study_id: StudyId, db: DatabaseDep):
    """Cancel: a queued study at once; a running one is stopped by its worker at its next heartbeat
    (its running trials are marked interrupted, reason "cancelled")."""
    try:
        study = queue.request_cancel(db, study_id)
    except queue.AlreadyFinished as finished:  # completed, failed or cancelled: there is nothing to stop
        raise HTTPException(409, str(finished)) from None
    if study is None:
        raise HTTPException(404, f"study {study_id} not found")
    with db.read() as session:
        return queries.study_out(session, get_study(session, study_id))
