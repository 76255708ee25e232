"""A trial's state, defined once (the pattern of Optuna's single `trial/_state.py`).

The search layer's recorder reports how a trial ended (`FinishedState`); the service's trial row is
`running` until it hears that (`TrialState`). The API's response schema (api.schemas) and the service's
table (api.models) import these; nothing else spells them out. Optuna's own `optuna.trial.TrialState`
(RUNNING, COMPLETE, PRUNED, FAIL, WAITING) is the backend's bookkeeping, not this vocabulary: `failed`
covers its FAIL of a trial that failed itself (a non-finite loss, bad data), `interrupted` its FAIL of a trial
stopped from outside; `infeasible` and `duplicate` are ours. Rows recorded before `interrupted` existed (2026-12-03)
kept `failed` for both.

The spellings are stored (the service's `gdt_trials.state` column, the JSON-lines recorder's events):
changing one needs a migration.
"""

from __future__ import annotations

from typing import Literal, get_args

# How a trial ended, as the recorder reports it (search.recorder.TrialRecord.state).
FinishedState = Literal["complete", "pruned", "failed", "infeasible", "duplicate"]
# A stored trial: running until the recorder hears how it ended, or `interrupted` when the service stops it from
# outside (its worker died, the study was cancelled or stopped): no measurement, not trained, not counted against
# the budget (a dead worker's trial is retried under a new number; Optuna's own row of it is a FAIL).
TrialState = Literal["running", "interrupted", FinishedState]

FINISHED_STATES: tuple[str, ...] = get_args(FinishedState)
TRIAL_STATES: tuple[str, ...] = get_args(TrialState)
