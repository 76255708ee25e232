"""What a study produced and what happened to it: its events, parameter importances, per-factor effects,
and the export of every trial."""

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api import queries
from api.deps import R401, R404, DatabaseDep, PageSize, Read, ReadSession, get_study
from api.params import Offset, StudyId
from api.schemas import Effects, EventOut, Importance, Page

router = APIRouter(tags=["studies"], dependencies=Read, responses={**R401, **R404})


@router.get("/studies/{study_id}/events", response_model=Page[EventOut])
def list_events(study_id: StudyId, session: ReadSession, limit: PageSize, offset: Offset = 0):
    """What happened to the study: claims, requeues, stale trials, cancellation ..."""
    get_study(session, study_id)
    items, total = queries.list_events(session, study_id, limit, offset)
    return Page[EventOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/studies/{study_id}/importance", response_model=Importance)
def importance(study_id: StudyId, session: ReadSession):
    """Parameter importances (Optuna's fANOVA, mean and sd over forest seeds) over the trained configurations,
    or a note saying why there are none: the same numbers as the dashboard and `gdt-search run`."""
    from search.importance import from_samples

    get_study(session, study_id)
    samples, total = queries.importance_samples(session, study_id)
    return Importance(study_id=study_id, **asdict(from_samples(samples, total)))


@router.get("/studies/{study_id}/effects", response_model=Effects)
def effects(study_id: StudyId, session: ReadSession):
    """Per-factor effects: for each factor with >= 2 choices, the mean paired difference of the objective
    between two choices over trained configurations that differ only in that factor, with its 95 %
    t-interval (search.effects: the numbers of `gdt-search run`'s report, the export and the dashboard)."""
    get_study(session, study_id)
    return Effects(study_id=study_id, **queries.effects_of(session, study_id))


@router.get(
    "/studies/{study_id}/export",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}, "description": "every trial of the study"}},
)
def export(study_id: StudyId, db: DatabaseDep, format: Literal["csv", "json"] = "json"):
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
