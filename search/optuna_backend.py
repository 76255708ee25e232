"""The Optuna backend: samplers, pruners, the study on the configured database, and worker processes.

The study lives in an RDB storage at the spec's database URL, so a restarted runner resumes it
(`load_if_exists`) and optuna-dashboard can open it. Every worker heartbeats its running trial; a
trial whose worker died is failed once its heartbeat is stale and re-queued exactly once by
`RetryByOneWorker` (every worker that sees it stale may try; one atomic claim in the database decides who
re-queues it), so no trial is silently lost and none is trained twice. Several worker processes run
`optimize` on the same study. A study stops when it has trained `n_trials` trials (duplicates and
infeasible proposals cost nothing and do not count), when the finite space is exhausted, or when
the sampler keeps proposing nothing new.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import time
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from core.errors import GDTSearchError
from core.threads import apply_threads
from search.baseline import study_baseline
from search.calibration import CalibratedPruner, pruning_gate, record_calibration, study_calibration
from search.objective import OptunaObjective, TrialFailed, TrialInfeasible, counts_as_trained
from search.proposals import CLAIM_ATTR, FeasibleSampler
from search.recorder import NullRecorder, Recorder, StudyInfo
from search.samplers import PRUNERS, SAMPLERS
from search.space import SearchSpace, data_limits
from search.spec import StudySpec
from search.storage import open_storage

log = logging.getLogger("gdt_search.search")

warnings.filterwarnings("ignore", category=ExperimentalWarning, module="optuna")
warnings.filterwarnings("ignore", category=ExperimentalWarning, module=__name__)

SPEC_ATTR = "gdt_spec"
FINGERPRINT_ATTR = "gdt_fingerprint"


class StudyMismatch(GDTSearchError, ValueError):
    """The storage already holds a study of this name whose space, data or objective differ."""


def make_sampler(spec: StudySpec, worker: int = 0) -> optuna.samplers.BaseSampler:
    """The spec's sampler; each worker process gets its own seed so that workers do not propose in lockstep."""
    seed = None if spec.search.seed is None else spec.search.seed + worker
    return SAMPLERS[spec.search.sampler](spec, seed)


def steer(spec: StudySpec, sampler: optuna.samplers.BaseSampler, space: SearchSpace, worker: int = 0):
    """TPE, GP and random search propose only feasible configurations no trial has taken (search.proposals says
    how TPE's guidance is kept); grid and brute force enumerate the space themselves."""
    if spec.search.sampler not in ("tpe", "gp", "random"):
        return sampler
    return FeasibleSampler(sampler, space, seed=None if spec.search.seed is None else spec.search.seed + worker)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The spec's Optuna pruner; with a Ray scheduler (ASHA) Ray prunes and the Optuna study has none."""
    kind = spec.search.pruner.kind
    return PRUNERS[kind](spec) if kind in PRUNERS else optuna.pruners.NopPruner()


RETRY_CLAIM_ATTR = "gdt_retry_claimed"


def claim_retry(storage: optuna.storages.RDBStorage, trial_id: int, claimant: str) -> bool:
    """Atomically claim the right to re-queue the stale trial `trial_id`: True for exactly one caller.

    Several workers can see the same trial go stale and each fail it: on SQLite nothing locks the row
    between Optuna's read of its state and its update, so each of them then runs the stale-trial callback.
    The claim is a row in Optuna's trial_system_attributes, whose (trial_id, key) is unique: the first
    insert wins, on SQLite and PostgreSQL alike, whatever the timing.
    """
    import json

    import sqlalchemy

    insert = sqlalchemy.text(
        "INSERT INTO trial_system_attributes (trial_id, key, value_json) VALUES (:trial_id, :key, :value)"
    )
    try:
        with storage.engine.begin() as connection:
            connection.execute(insert, {"trial_id": trial_id, "key": RETRY_CLAIM_ATTR, "value": json.dumps(claimant)})
    except sqlalchemy.exc.IntegrityError:
        return False
    return True


class RetryByOneWorker(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a heartbeat-stale trial, done by the one worker that claims it (see `claim_retry`)."""

    def __init__(self, max_retry: int | None = None):
        super().__init__(max_retry=max_retry)
        self.storage: optuna.storages.RDBStorage | None = None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        import os
        import socket

        assert self.storage is not None, "RetryByOneWorker needs the storage it serves"
        if claim_retry(self.storage, trial._trial_id, f"{socket.gethostname()}:{os.getpid()}"):
            super().__call__(study, trial)


def make_storage(spec: StudySpec, heartbeat: bool = True) -> optuna.storages.RDBStorage:
    """RDB storage on the spec's database URL (search.storage: SQLite in WAL mode), with heartbeat and retry of
    dead trials."""
    if not heartbeat:
        return open_storage(spec.database_url)
    retry = RetryByOneWorker(max_retry=spec.search.max_retry)
    storage = open_storage(
        spec.database_url,
        heartbeat_interval=spec.search.heartbeat_s,
        grace_period=spec.search.grace_period,
        stale_trial_callback=retry,
    )
    retry.storage = storage
    return storage


STALE_SLACK_S = 0.25  # how soon after a heartbeat turns stale the watch looks (SQLite's clock ticks in 1 s)


def seconds_until_stale(storage: optuna.storages.RDBStorage, study_id: int, grace_s: float) -> float | None:
    """Seconds until the study's oldest running heartbeat is `grace_s` old, by the database's clock (what Optuna's
    staleness check reads); <= 0: a trial is stale already. None: no running trial has a heartbeat yet."""
    import sqlalchemy
    from optuna.storages._rdb import models

    oldest = (
        sqlalchemy.select(sqlalchemy.func.min(models.TrialHeartbeatModel.heartbeat))
        .join(models.TrialModel, models.TrialModel.trial_id == models.TrialHeartbeatModel.trial_id)
        .where(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING)
    )
    with storage.engine.connect() as connection:
        now = connection.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar()
        beat = connection.execute(oldest).scalar()
    if beat is None or now is None:
        return None
    return grace_s - (now.replace(tzinfo=None) - beat).total_seconds()


def stale_wait(until: float | None, heartbeat_s: float) -> float:
    """How long the watch sleeps: until just after the next heartbeat turns stale, and at most one heartbeat (a trial
    that starts meanwhile turns stale no sooner than grace_s >= heartbeat_s after it started)."""
    if until is None:
        return float(heartbeat_s)
    return min(float(heartbeat_s), max(until, 0.0) + STALE_SLACK_S)


def watch_stale(study: optuna.Study, spec: StudySpec, running) -> None:
    """Fail (and, through RetryByOneWorker, re-queue) a dead worker's trial as soon as its heartbeat turns stale, while
    `running(timeout)` -- wait up to `timeout` seconds, then say whether workers are still at it -- is true.

    Optuna itself checks for stale trials only when a worker asks for its next trial, so on its own a dead
    worker's trial would be noticed up to a whole trial's duration after grace_s. `gdt-search run`'s parent
    process runs this watch instead: it sleeps until the oldest running heartbeat is grace_s old (a default of
    2 x heartbeat_s), so a dead worker's trial is failed within 2 x heartbeat_s of its last beat (plus
    STALE_SLACK_S and the database clock's resolution)."""
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna wraps an RDBStorage in a cache
    assert isinstance(storage, optuna.storages.RDBStorage) and storage.heartbeat_interval is not None
    while True:
        until = seconds_until_stale(storage, study._study_id, spec.search.grace_period)
        if until is not None and until < 0:
            optuna.storages.fail_stale_trials(study)
        if not running(stale_wait(until, spec.search.heartbeat_s)):
            return


def open_study(spec: StudySpec, storage: optuna.storages.BaseStorage | None = None, worker: int = 0) -> optuna.Study:
    """Create the study, or load it to resume; refuses a stored study whose meaning differs from the spec."""
    storage = storage if storage is not None else make_storage(spec)
    study = optuna.create_study(
        storage=storage,
        study_name=spec.name,
        sampler=make_sampler(spec, worker),
        pruner=make_pruner(spec),
        directions=spec.objective.directions,
        load_if_exists=True,
    )
    expected = [
        optuna.study.StudyDirection.MAXIMIZE if d == "maximize" else optuna.study.StudyDirection.MINIMIZE
        for d in spec.objective.directions
    ]
    if list(study.directions) != expected:
        raise StudyMismatch(
            f"study '{spec.name}' in {spec.database_url} has directions"
            f" {[d.name.lower() for d in study.directions]}, the spec asks for"
            f" {spec.objective.directions}; use another name"
        )
    check_fingerprint(study, spec)
    return study


def check_fingerprint(study: optuna.Study, spec: StudySpec) -> None:
    fingerprint = spec.fingerprint()
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        study.set_user_attr(SPEC_ATTR, spec.model_dump(mode="json"))
    elif stored != fingerprint:
        changed = sorted(k for k in set(stored) | set(fingerprint) if stored.get(k) != fingerprint.get(k))
        raise StudyMismatch(
            f"study '{spec.name}' in {spec.database_url} was run with different {', '.join(changed)};"
            " resuming would mix incomparable trials -- use another study name"
        )


def grid_points(study: optuna.Study, space: SearchSpace) -> list:
    """The grid: every feasible configuration of the finite space once per equivalence class (infeasible and
    equivalent ones are excluded before sampling), less those the study already holds."""
    present = set()
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.FAIL and not trial.user_attrs.get("failure_kind"):
            continue  # a dead worker's trial: its retry is queued by the heartbeat callback
        params = trial.params or trial.system_attrs.get("fixed_params") or {}
        try:
            key = space.from_params(params).key
        except KeyError:  # a trial that died before sampling all its parameters
            continue
        if key is not None:
            present.add(key)
    return [c for c in space.unique_feasible() if c.key not in present]


def enqueue_grid(study: optuna.Study, space: SearchSpace) -> int:
    """Queue the grid's missing points in the study (the Optuna backend's grid sampler)."""
    points = grid_points(study, space)
    for candidate in points:
        study.enqueue_trial(candidate.params, user_attrs={"grid_point": True})
    return len(points)


class StudyBudget:
    """An optimize callback that stops the study when its budget is spent or nothing new can be trained, or
    pauses this worker (`waiting`) when the trials other workers are training will spend it."""

    def __init__(self, spec: StudySpec, unique_feasible: int | None):
        self.n_trials = spec.search.n_trials
        self.max_idle = spec.search.max_idle_proposals
        self.unique_feasible = unique_feasible
        self.grid = spec.search.sampler == "grid"
        self.reason: str | None = None
        self.waiting = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        reason = self.exhausted(study)
        self.waiting = not reason and self.in_flight(study)
        if reason or self.waiting:
            self.reason = reason
            study.stop()

    def in_flight(self, study: optuna.Study) -> bool:
        """Whether the trials being trained will spend the budget (or take the last untried configurations): a
        new trial now would train one more than asked for (2 workers, n_trials 12: 13 trained) or duplicate one
        of them. The worker waits for them instead (`wait_in_flight`); if one dies, its retry is trained."""
        trials = study.get_trials(deepcopy=False)
        # Every running trial: one just created has not yet said it trains (steered proposals nearly always do).
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if not running:
            return False
        trained = [t for t in trials if t.user_attrs.get("trained") and counts_as_trained(t)]
        if self.n_trials is not None and len(trained) + len(running) >= self.n_trials:
            return True
        keys = {t.user_attrs.get("equivalence_key") or t.system_attrs.get(CLAIM_ATTR) for t in trained + running}
        return self.unique_feasible is not None and len(keys - {None}) >= self.unique_feasible

    def exhausted(self, study: optuna.Study) -> str | None:
        trials = study.get_trials(deepcopy=False)
        trained = [t for t in trials if t.user_attrs.get("trained") and counts_as_trained(t)]
        if self.n_trials is not None and len(trained) >= self.n_trials:
            return f"{len(trained)} trials trained (n_trials = {self.n_trials})"
        keys = {t.user_attrs.get("equivalence_key") for t in trained}
        if self.unique_feasible is not None and len(keys) >= self.unique_feasible:
            return f"all {self.unique_feasible} distinct feasible configurations trained"
        if self.grid and not any(t.state == TrialState.WAITING for t in trials):
            return "every grid point done"
        idle = 0
        for t in sorted(trials, key=lambda t: t.number, reverse=True):
            if t.state == TrialState.RUNNING or t.state == TrialState.WAITING:
                continue
            if t.user_attrs.get("trained"):
                break
            idle += 1
        if idle >= self.max_idle:
            return f"the last {idle} proposals were all infeasible or already trained"
        return None


def wait_in_flight(study: optuna.Study, budget: StudyBudget, heartbeat_s: float, deadline: float | None) -> bool:
    """Wait until the trials other workers are training have ended (a dead worker's is failed once its heartbeat
    is stale, so the wait ends); False if `deadline` (time.monotonic) passes first."""
    while budget.in_flight(study):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        with warnings.catch_warnings():  # experimental in Optuna, and used as documented
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        time.sleep(min(1.0, heartbeat_s))
    return True


def study_info(spec: StudySpec, backend: str | None = None) -> StudyInfo:
    return StudyInfo(
        spec.name, backend or spec.backend, spec.database_url, spec.objective.directions, spec.model_dump(mode="json")
    )


def prepare(spec: StudySpec, space: SearchSpace | None = None) -> tuple[optuna.Study, SearchSpace]:
    """Open (or resume) the study with the data's limits, and queue the grid's missing points."""
    space = space or SearchSpace(spec, data_limits(spec))
    study = open_study(spec)
    if spec.search.sampler == "grid":
        enqueue_grid(study, space)
    return study, space


def optimize(
    spec: StudySpec, recorder: Recorder | None = None, worker: int = 0, space: SearchSpace | None = None
) -> str | None:
    """One worker's loop on the study (this process); returns why it stopped (None: timeout)."""
    recorder = recorder or NullRecorder()
    # Before any torch work of a worker process, so that its inter-op pool takes the size too.
    apply_threads(spec.threads_per_trial)  # several workers on few cores: no oversubscription
    space = space or SearchSpace(spec, data_limits(spec))
    study = open_study(spec, worker=worker)
    study.sampler = steer(spec, study.sampler, space, worker)
    allowed, _ = pruning_gate(spec, study_calibration(study))  # run_optuna has said where (if anywhere) it acts
    if allowed is not None:
        study.pruner = CalibratedPruner(study.pruner, allowed)
    # Brute force explores the raw space (duplicates and infeasible points included) and stops itself.
    unique = len(space.unique_feasible()) if space.is_finite and spec.search.sampler != "bruteforce" else None
    budget = StudyBudget(spec, unique)
    already = budget.exhausted(study)
    if already:
        return already
    # Trials evaluate only where the pruner may act: an evaluation no decision reads is a proxy evaluation wasted.
    objective = OptunaObjective(spec, space, recorder, intermediate_steps=allowed)
    deadline = time.monotonic() + spec.search.timeout_s if spec.search.timeout_s else None
    while True:
        remaining = max(0.0, deadline - time.monotonic()) if deadline is not None else None
        try:
            study.optimize(
                objective,
                timeout=remaining,
                catch=(TrialInfeasible, TrialFailed),
                callbacks=[budget],
                gc_after_trial=False,
            )
            if not budget.waiting:
                return budget.reason
            if not wait_in_flight(study, budget, spec.search.heartbeat_s, deadline):
                return None  # the timeout came first
            stopped = budget.exhausted(study)
            if stopped:
                return stopped
            # a trial being trained ended without counting (its worker died; its retry is queued): go on
        except ValueError as error:
            # Two workers can claim the same re-queued trial on SQLite (no SELECT ... FOR UPDATE); the one that
            # finishes first is recorded, the other's `tell` is refused. That is no reason to stop this worker.
            if not str(error).startswith("Cannot tell a "):
                raise
            log.warning("a trial this worker ran was finished by another worker first (%s); continuing", error)
            stopped = budget.exhausted(study)
            if stopped:
                return stopped


def _worker_main(spec_json: dict, recorder: Recorder, worker: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optimize(StudySpec.model_validate(spec_json), recorder, worker)


def run_optuna(spec: StudySpec, recorder: Recorder | None = None) -> optuna.Study:
    """Run the study to its budget with `spec.search.workers` worker processes (1: in this process)."""
    recorder = recorder or NullRecorder()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    recorder.study_started(study_info(spec, "optuna"))
    study, space = prepare(spec)
    recorder.baseline_measured(spec.name, study_baseline(study, spec))  # before any trial: every score's reference
    record_calibration(spec, study, recorder)
    if spec.search.workers == 1:
        optimize(spec, recorder, 0, space)  # one process: were it to die, nothing would be left to notice
    else:
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(
                target=_worker_main, args=(spec.model_dump(mode="json"), recorder, w), name=f"gdt-search-worker-{w}"
            )
            for w in range(spec.search.workers)
        ]
        for process in processes:
            process.start()

        def running(timeout: float) -> bool:
            multiprocessing.connection.wait([p.sentinel for p in processes if p.is_alive()], timeout)
            return any(p.is_alive() for p in processes)

        watch_stale(study, spec, running)  # a killed worker's trial is failed and retried within 2 x heartbeat_s
        for process in processes:
            process.join()
        failed = [p.name for p in processes if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"worker process(es) {', '.join(failed)} exited abnormally; the study can be resumed")
    return optuna.load_study(study_name=spec.name, storage=make_storage(spec, heartbeat=False))
