"""A trial's state, defined once (the pattern of Optuna's single `trial/_state.py`).

The search layer's recorder reports how a trial ended (`FinishedState`); the service's trial row is
`running` until it hears that (`TrialState`). The API's response schema (api.schemas) and the service's
table (api.models) import these; nothing else spells them out. Optuna's own `optuna.trial.TrialState`
(RUNNING, COMPLETE, PRUNED, FAIL, WAITING) is the backend's bookkeeping, not this vocabulary: `failed`
covers its FAIL, `infeasible` and `duplicate` are ours.

The spellings are stored (the service's `gdt_trials.state` column, the JSON-lines recorder's events):
changing one needs a migration.
"""

from __future__ import annotations

from typing import Literal, get_args

# How a trial ended, as the recorder reports it (search.recorder.TrialRecord.state).
FinishedState = Literal["complete", "pruned", "failed", "infeasible", "duplicate"]
# A stored trial: running until the recorder hears how it ended.
TrialState = Literal["running", FinishedState]

FINISHED_STATES: tuple[str, ...] = get_args(FinishedState)
TRIAL_STATES: tuple[str, ...] = get_args(TrialState)
