"""The dashboard's routes: two HTML pages, their static assets, and the aggregates they draw.

The pages carry no data (so they load without a token and nothing typed by a user is ever rendered
into HTML by the server); their scripts fetch the aggregates below with the same authorisation as the
rest of the API and insert every text as text. The plots are SVG drawn by the page's own scripts (no
plotting library, no CDN: the dashboard works offline).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import queries
from api.dashboard import panels
from api.dashboard.frame import FrameCache, StudyFrame
from api.db import Database
from api.deps import R401, R404, DatabaseDep, Read, get_study
from api.params import Offset, StudyId, TrialNumber

STATIC = FilePath(__file__).parent / "static"
STUDY_PAGE_SIZE = 50


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard to `app`: its assets, its pages, and the aggregates (read-authorised like the rest
    of the API, through `api.deps`), with this app's caches of frames and results."""
    app.state.dashboard = DashboardCache()
    app.mount("/dashboard/assets", StaticFiles(directory=STATIC / "assets"), name="dashboard-assets")
    app.include_router(pages)
    app.include_router(data)


pages = APIRouter(include_in_schema=False)


@pages.get("/")
def root():
    return RedirectResponse("/dashboard")


@pages.get("/dashboard")
def studies_page():
    return FileResponse(STATIC / "studies.html", headers={"Cache-Control": "no-cache"})


@pages.get("/dashboard/studies/{study_id}")
def study_page(study_id: StudyId):
    return FileResponse(STATIC / "study.html", headers={"Cache-Control": "no-cache"})


@pages.get("/dashboard/studies/{study_id}/trials/{number}")
def trial_page(study_id: StudyId, number: TrialNumber):
    return FileResponse(STATIC / "trial.html", headers={"Cache-Control": "no-cache"})


class _Memo:
    """Results of the aggregates, keyed by study, fingerprint and arguments: a page polling an unchanged
    study, or several pages on one study, cost one computation."""

    def __init__(self, size: int = 64):
        self.size = size
        self._values: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


class DashboardCache:
    """One app's frames (one per study, until it changes) and aggregates (`_Memo`)."""

    def __init__(self):
        self.frames, self.memo = FrameCache(), _Memo()


def dashboard_cache(request: Request) -> DashboardCache:
    return request.app.state.dashboard


Cache = Annotated[DashboardCache, Depends(dashboard_cache)]
data = APIRouter(prefix="/dashboard/data/studies/{study_id}", dependencies=Read, tags=["dashboard"])
responses = {**R401, **R404}


def frame_of(db: Database, cache: DashboardCache, study_id: int) -> StudyFrame:
    """The study's frame (404 if there is no such study); the aggregates need nothing else."""
    with db.read() as session:
        get_study(session, study_id)
        return cache.frames.get(session, study_id)


def fingerprint(study, frame: StudyFrame) -> str:
    """Changes when a trial changes or the study's status does: the page's cue to redraw."""
    return "-".join(str(x) for x in (*frame.fingerprint, study.status, study.cancel_requested))


def overview_panels(frame: StudyFrame) -> dict:
    return {
        "counts": panels.counts(frame),
        "factors": frame.factors,
        "params": frame.params,
        "history": panels.history(frame),
        "factor_effects": panels.factor_effects(frame),
        "paired_effects": panels.paired_effects(frame),
        "chance": frame.chance,
        "baseline": frame.baseline,
        "invariance": panels.invariance_by_choice(frame),
        "curves": panels.learning_curves(frame),
        "pareto": panels.pareto(frame),
    }


@data.get("/overview", responses=responses)
def overview(
    study_id: StudyId,
    db: DatabaseDep,
    cache: Cache,
    since: Annotated[str | None, Query(description="the fingerprint the page has; unchanged -> no panels")] = None,
) -> dict:
    """The study, its counts and every panel except Table 1, parallel coordinates and importance."""
    with db.read() as session:
        study = get_study(session, study_id)
        frame = cache.frames.get(session, study_id)
        # search.best once per change of the study (the frame keeps it), not once per poll
        study = queries.study_out(session, study, best_set=frame.best_set().as_dict())
    stamp = fingerprint(study, frame)
    out: dict[str, Any] = {"fingerprint": stamp, "study": study.model_dump(mode="json", exclude={"spec"})}
    out["study"]["notes"] = study.spec.get("notes", "")
    out["study"]["objective"] = study.spec.get("objective", {})
    out["study"]["trial_steps"] = study.spec.get("trial", {}).get("steps")  # where a curve's final score sits
    if since == stamp:
        return {**out, "changed": False}
    drawn = cache.memo.get((study_id, frame.fingerprint, "overview"), lambda: overview_panels(frame))
    return {**out, "changed": True, **drawn}


@data.get("/table1", responses=responses)
def table1(
    study_id: StudyId,
    db: DatabaseDep,
    cache: Cache,
    sort: panels.TableSort = "score",
    descending: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = STUDY_PAGE_SIZE,
    offset: Offset = 0,
) -> dict:
    """One row per configuration, as in the papers' Table 1; sorted and paged on the server."""
    frame = frame_of(db, cache, study_id)
    key = (study_id, frame.fingerprint, "table1", sort, descending, limit, offset)
    page = cache.memo.get(key, lambda: panels.table1(frame, sort, descending, limit, offset))
    return {**page, "limit": limit, "offset": offset}


@data.get("/parallel", responses=responses)
def parallel(
    study_id: StudyId, db: DatabaseDep, cache: Cache, limit: Annotated[int, Query(ge=2, le=2000)] = 400
) -> dict:
    """Parallel coordinates over the searched parameters: the best half and a sample of the rest."""
    frame = frame_of(db, cache, study_id)
    return cache.memo.get((study_id, frame.fingerprint, "parallel", limit), lambda: panels.parallel(frame, limit))


@data.get("/importance", responses=responses)
def importance(study_id: StudyId, db: DatabaseDep, cache: Cache) -> dict:
    """fANOVA importances of the searched parameters (recomputed only when the study changed)."""
    frame = frame_of(db, cache, study_id)
    return cache.memo.get((study_id, frame.fingerprint, "importance"), lambda: panels.importance(frame))
