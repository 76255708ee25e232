"""Recording trials the way a worker does (claim + DatabaseRecorder), without training anything."""

from __future__ import annotations

from api import queue
from api.database_recorder import DatabaseRecorder
from api.db import Database
from core.gdt.config import GDTConfig
from search.recorder import StudyInfo, TrialRecord, TrialStart
from search.space import Candidate

WORKER = "test-host:1:recorder"


def claim_for(url: str, worker_id: str = WORKER) -> tuple[queue.Claimed, DatabaseRecorder]:
    db = Database(url)
    queue.register_worker(db, worker_id, "test-host", 1)
    claimed = queue.claim(db, worker_id)
    assert claimed is not None, "nothing queued to claim"
    db.dispose()
    recorder = DatabaseRecorder(url, claimed.id, worker_id)
    recorder.study_started(StudyInfo(claimed.optuna_name, "optuna", url, ["maximize"], claimed.spec))
    return claimed, recorder


def record(
    recorder: DatabaseRecorder,
    number: int,
    state: str = "complete",
    score: float | None = 0.5,
    steps: tuple[int, ...] = (),
    reason: str | None = None,
    params: dict | None = None,
    finish: bool = True,
    config: GDTConfig | Candidate | str | None = None,
    cost: float | None = None,
    invariance: dict | None = None,
    duplicate_of: int = 0,
    seed_values: list[float] | None = None,
    n_classes: int | None = None,
    settings: dict | None = None,
) -> None:
    """One trial through the Recorder protocol: started, intermediate scores, finished. With `seed_values` the
    trial's score is their mean (search.seeds replicates). `config`: a GDTConfig or a (e.g. infeasible) Candidate
    is recorded as the objective records one, its notation with its settings record; a bare notation string is
    recorded with `settings` as given. By default each trial gets a configuration of its own."""
    if seed_values is not None:
        score = sum(seed_values) / len(seed_values)
    name = "study"
    params = params if params is not None else {"TR": "invariant"}
    if config is None:  # a configuration of its own: DS=d(4) TR=i(2), marked with the trial's number
        config = f"DS=d(4) TR=i(2) #{number}"
        settings = {"DS": {"choice": "distinctive", "k": 4}, "TR": {"choice": "invariant", "k": 2}}
    elif not isinstance(config, str):
        config, settings = config.describe(), config.settings_record()
    start = TrialStart(name, str(number), number, params, config, f"key{number}", settings)
    recorder.trial_started(start)
    for step in steps:
        recorder.trial_intermediate(name, str(number), number, step, (score or 0.0) * step / max(steps))
    if not finish:
        return
    complete = state in ("complete", "duplicate")
    recorder.trial_finished(
        TrialRecord(
            name,
            str(number),
            number,
            state,  # type: ignore[arg-type]
            params,
            config,
            key=f"key{number}",
            values=([score] if cost is None else [score, cost]) if complete and score is not None else None,
            scores=(
                {"r_at_1": score, "r_at_5": 1.0, "linear_top1": 0.25} | ({"n_classes": n_classes} if n_classes else {})
            )
            if complete
            else {},
            reason=reason,
            duplicate_of=duplicate_of if state == "duplicate" else None,
            seed_values=seed_values if state == "complete" else None,
            replay={"wall_seconds": 1.5 + number, "invariance": invariance or {"TR": 0.9, "TS": -0.1}, "seed": 0}
            if state == "complete"
            else {},
            settings=settings,
        )
    )


def small_calibration() -> dict:
    """A recorded calibration (search.calibration) of five configurations: the 1-step budget ranks them
    against the 8-step reference with tau -0.4, the study's 2-step budget with tau 1 (p 1/5! = 0.008:
    recommended), and the intermediate scores at step 1 rank like the final ones."""
    from search.calibration import Calibration

    final = [[0.1], [0.2], [0.3], [0.4], [0.5]]
    return Calibration(["a", "b", "c", "d", "e"], [0], reference_steps=8, study_steps=2, threshold=0.6,
                       scores={1: [[0.3], [0.1], [0.5], [0.2], [0.05]], 2: final, 8: final},
                       intermediate={1: [0.1, 0.2, 0.3, 0.4, 0.5]}).as_dict()  # fmt: skip
