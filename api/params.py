"""Path and query parameter types shared by the API's routes and the dashboard's: ids and offsets are
bounded to what the database's integer columns hold, so an absurd value is a 422, never a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**31 - 1
MAX_OFFSET = 2**31 - 1
StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="the study's id")]
TrialNumber = Annotated[int, Path(ge=0, le=MAX_ID, description="the trial's number in the study")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
