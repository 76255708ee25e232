"""A study's trials: the page of them (filtered, sorted, keyset-paged) and one with its replay record."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import select

from api import queries
from api.deps import R401, R404, PageSize, Read, ReadSession, get_study
from api.models import Study
from api.params import MAX_ID, Offset, StudyId, TrialNumber
from api.schemas import Page, TrialDetail, TrialOut, TrialState

router = APIRouter(tags=["trials"])


def settled_counts(request: Request) -> queries.SettledCounts:
    """The counts of settled studies' trials, cached per app (one database)."""
    return request.app.state.trial_counts


@router.get("/studies/{study_id}/trials", response_model=Page[TrialOut], dependencies=Read, responses={**R401, **R404})
def list_trials(
    study_id: StudyId,
    session: ReadSession,
    request: Request,
    limit: PageSize,
    state: TrialState | None = None,
    sort: queries.TrialSort = "number",
    order: Literal["asc", "desc"] = "asc",
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
    study = session.execute(select(Study.status, Study.finished_at).where(Study.id == study_id)).first()
    if study is None:  # (only what the page needs of the study: never its spec)
        raise HTTPException(404, f"study {study_id} not found")
    total = settled_counts(request).total(session, study_id, state, queries.settled(*study))
    try:
        items, total = queries.list_trials(session, study_id, state, sort, order, limit, offset, after, total)
    except queries.NoSuchTrial as error:
        raise HTTPException(404, str(error)) from None
    page = Page[TrialOut](items=items, total=total, limit=limit, offset=offset)
    # Already validated: serialise once (FastAPI would dump it, validate the dump again, then serialise)
    return Response(page.model_dump_json(), media_type="application/json")


@router.get(
    "/studies/{study_id}/trials/{number}", response_model=TrialDetail, dependencies=Read, responses={**R401, **R404}
)
def read_trial(study_id: StudyId, number: TrialNumber, session: ReadSession):
    """One trial with its full replay record."""
    get_study(session, study_id)
    trial = queries.get_trial(session, study_id, number)
    if trial is None:
        raise HTTPException(404, f"study {study_id} has no trial {number}")
    return queries.trial_detail(session, trial)
