"""The project's exceptions share one base, `GDTSearchError`, and a failed trial has a typed kind.

Every exception the project raises on purpose (core, search and api alike) subclasses `GDTSearchError`,
most also the built-in they have always been (`InvalidConfiguration` is still a `ValueError`), so
`except GDTSearchError` catches what we raise and nothing else. `FailureKind` classifies why a trial
produced no score: it travels on the exception (`TrainingFailed.kind`, `search.objective.TrialFailed.kind`)
and is recorded with the trial (Optuna's user attribute `failure_kind`, the Ray result's `failure_kind`);
nobody reads a reason string back. Its values are the stored spellings: changing one needs a migration.
"""

from __future__ import annotations

from enum import StrEnum


class GDTSearchError(Exception):
    """The base of every exception gdt-search raises on purpose."""


class FailureKind(StrEnum):
    """Why a trial produced no score (a str: the value is what is stored)."""

    NON_FINITE = "non-finite"  # the loss became NaN / inf during training
    OOM = "oom"  # the device ran out of memory
    TRAIN = "train"  # training could not go on for another reason
    CLIP_TOO_SHORT = "clip-too-short"  # a video is shorter than the configuration's clips need
    DECODE = "decode"  # a video could not be decoded
    INVALID = "invalid"  # the configuration is invalid for the data (e.g. more K than videos)
    NAN_SCORE = "nan-score"  # the objective is not finite (e.g. R@k with fewer than k gallery videos)
    ERROR = "error"  # anything else raised while the trial ran
    INFEASIBLE = "infeasible"  # never trained: the proposal violates the validity rules or the data's limits
    RAY_ERROR = "ray-error"  # Ray reported the trial errored (its process died or raised outside the objective)

    @property
    def deterministic(self) -> bool:
        """Would the same configuration fail the same way again? Then an equivalent trial reuses the failure."""
        return self in DETERMINISTIC_FAILURES


DETERMINISTIC_FAILURES = frozenset(
    {FailureKind.NON_FINITE, FailureKind.CLIP_TOO_SHORT, FailureKind.INVALID, FailureKind.NAN_SCORE}
)
