"""The Ray Tune backend: a Tuner driven by OptunaSearch (on the study's database) and, optionally, ASHA.

One pruning authority per study: ASHA stops trials, and OptunaSearch runs without a pruner (Ray's
OptunaSearch always uses Optuna's NopPruner). `GDTSearcher` wraps OptunaSearch so that, as in the
Optuna backend, infeasible proposals are recorded with their reason and never launched, and a
proposal equivalent to an earlier one reuses its outcome (or waits for it, when it is still running)
instead of training again; it also forwards every result to the study's Recorder and writes the
trials' scores and replay records into the Optuna study, so both backends leave the same records.
Each trial asks Ray for `ray.cpus_per_trial` CPUs and `ray.gpus_per_trial` GPUs; a fraction lets
several small trials share one GPU. Ray runs locally, or on the cluster at `ray.address` /
`$RAY_ADDRESS`. An interrupted experiment (its folder under `ray.storage_path`) is restored and resumed.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from core.errors import DETERMINISTIC_FAILURES, FailureKind
from core.threads import apply_threads
from search.baseline import study_baseline
from search.calibration import pruning_gate, record_calibration, study_calibration
from search.objective import TrialFailed, reusable, train_candidate
from search.optuna_backend import grid_points, make_sampler, make_storage, open_study, study_info
from search.recorder import NullRecorder, Recorder, TrialRecord, TrialStart, json_safe
from search.space import Candidate, SearchSpace, data_limits
from search.spec import StudySpec

NUMBER = "_optuna_number"  # constant added to every trial's config: its Optuna trial number
METRIC, COST = "score", "device_seconds"

# The define-by-run function hands the searcher the optuna trial it just sampled (Ray's searcher runs in
# the driver, one suggestion at a time). Module-level, so it survives the searcher's save/restore.
_LAST_PROPOSAL: dict[str, tuple[int, Any, Candidate]] = {}


class DefineByRun:
    """OptunaSearch's search space: the study's conditional space, sampled on Optuna's trial."""

    def __init__(self, spec_json: dict, limits):
        self.spec_json, self.limits = spec_json, limits
        self._space: SearchSpace | None = None

    def __getstate__(self) -> dict:
        return {"spec_json": self.spec_json, "limits": self.limits, "_space": None}

    @property
    def space(self) -> SearchSpace:
        if self._space is None:
            self._space = SearchSpace(StudySpec.model_validate(self.spec_json), self.limits)
        return self._space

    def __call__(self, trial) -> dict:
        candidate = self.space.suggest(trial)
        trial.set_user_attr("config", candidate.describe())
        trial.set_user_attr("settings", candidate.settings_record())  # the same configuration, as data
        if candidate.feasible:
            trial.set_user_attr("equivalence_key", candidate.key)
        else:
            trial.set_user_attr("infeasible", candidate.infeasible)
            trial.set_user_attr("failure_kind", FailureKind.INFEASIBLE.value)
        _LAST_PROPOSAL[self.space.spec.name] = (trial.number, trial.set_user_attr, candidate)
        return {NUMBER: trial.number}


def earlier_outcomes(study: optuna.Study) -> dict[str, dict]:
    """Reusable outcomes of the study's finished trials (an earlier run, either backend), by equivalence key."""
    done: dict[str, dict] = {}
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        key = t.user_attrs.get("equivalence_key")
        if key is None or key in done or "duplicate_of" in t.user_attrs or not reusable(t):
            continue
        if t.state == optuna.trial.TrialState.COMPLETE:
            done[key] = {"state": "complete", "values": list(t.values), "scores": t.user_attrs.get("scores") or {}}
        elif t.state == optuna.trial.TrialState.PRUNED:
            done[key] = {"state": "pruned", "reason": t.user_attrs.get("pruned")}
        else:
            attrs = t.user_attrs
            done[key] = {"state": "failed", "reason": attrs.get("failure"), "kind": attrs.get("failure_kind")}
        done[key]["number"] = t.number
    return done


class GDTSearcher(Searcher):
    """OptunaSearch behind a filter: never launches infeasible or already-trained configurations."""

    def __init__(
        self, spec: StudySpec, inner: OptunaSearch, recorder: Recorder | None = None, study: optuna.Study | None = None
    ):
        self.spec, self.inner, self.recorder = spec, inner, recorder or NullRecorder()
        self.attempts = 0
        self.idle = 0
        self.live: dict[str, dict] = {}  # Ray trial id -> what it runs
        self.running: dict[str, str] = {}  # equivalence key -> Ray trial id training it
        self.waiting: dict[str, list[dict]] = {}  # equivalence key -> proposals waiting for it
        # equivalence key -> outcome (state, values, scores, reason, number); seeded with the study's earlier trials
        self.done: dict[str, dict] = earlier_outcomes(study) if study is not None else {}
        super().__init__(metric=inner.metric, mode=inner.mode)

    # -- Searcher plumbing -------------------------------------------------------------------------

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.inner.set_max_concurrency(max_concurrent)

    def save(self, checkpoint_path: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            inner_path = os.path.join(tmp, "inner.pkl")
            self.inner.save(inner_path)
            inner = Path(inner_path).read_bytes()
        own = {
            k: v for k, v in self.__dict__.items() if k in ("attempts", "idle", "live", "running", "waiting", "done")
        }
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"own": own, "inner": inner}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        with tempfile.TemporaryDirectory() as tmp:
            inner_path = os.path.join(tmp, "inner.pkl")
            Path(inner_path).write_bytes(state["inner"])
            self.inner.restore(inner_path)
        self.__dict__.update(state["own"])

    # -- proposals ---------------------------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict | None:
        while True:
            if self.idle >= self.spec.search.max_idle_proposals:
                return Searcher.FINISHED  # the space is exhausted: everything proposed is trained or infeasible
            inner_id = f"{trial_id}~{self.attempts}"
            self.attempts += 1
            params = self.inner.suggest(inner_id)
            if params is None or params == Searcher.FINISHED:
                return params
            number, set_attr, candidate = _LAST_PROPOSAL.pop(self.spec.name)
            proposal = {
                "inner": inner_id,
                "number": number,
                "set_attr": set_attr,
                "params": dict(candidate.params),
                "config": candidate.describe(),
                "key": candidate.key,
                "settings": candidate.settings_record(),
            }
            self.recorder.trial_started(self._start(proposal, trial_id))
            if not candidate.feasible:
                self.idle += 1
                self.inner.on_trial_complete(inner_id, None, error=True)
                self._finish(proposal, trial_id, "infeasible", reason=candidate.infeasible)
                continue
            if candidate.key in self.done:
                self.idle += 1
                self._reuse(proposal, trial_id, self.done[candidate.key])
                continue
            if candidate.key in self.running:
                self.idle += 1
                self.waiting.setdefault(candidate.key, []).append({**proposal, "trial": trial_id})
                continue
            self.idle = 0
            set_attr("trained", True)
            self.live[trial_id] = proposal
            self.running[candidate.key] = trial_id
            return {**candidate.params, NUMBER: number}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        proposal = self.live.get(trial_id)
        if proposal is not None and METRIC in result and not result.get("final"):
            self._intermediate(proposal, trial_id, result)

    def _intermediate(self, proposal: dict, trial_id: str, result: dict) -> None:
        if proposal.get("last_step") == result["step"]:
            return  # already seen (ASHA's stopping result comes again with the completion)
        proposal["last_step"] = result["step"]
        self.inner.on_trial_result(proposal["inner"], result)
        self.recorder.trial_intermediate(
            self.spec.name, trial_id, proposal["number"], int(result["step"]), float(result[METRIC])
        )

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        proposal = self.live.pop(trial_id, None)
        if proposal is None:
            return
        key = proposal["key"]
        self.running.pop(key, None)
        set_attr = proposal["set_attr"]
        if error or not result:
            outcome = {
                "state": "failed",
                "reason": "the Ray trial errored (its worker died or raised); see the trial's error.txt",
                "kind": FailureKind.RAY_ERROR.value,
            }
            set_attr("failure", outcome["reason"])
            set_attr("failure_kind", FailureKind.RAY_ERROR.value)
            self.inner.on_trial_complete(proposal["inner"], None, error=True)
        elif result.get("failed"):
            outcome = {"state": "failed", "reason": result["failed"], "kind": result.get("failure_kind")}
            set_attr("failure", result["failed"])
            set_attr("failure_kind", result.get("failure_kind"))
            self.inner.on_trial_complete(proposal["inner"], None, error=True)
        elif result.get("final"):
            record = json.loads(result["record"])
            outcome = {"state": "complete", "values": record["values"], "scores": record["scores"]}
            set_attr("scores", json_safe(record["scores"]))
            set_attr("replay", json_safe(record["replay"]))
            seed_values = [run["values"][0] for run in record["replay"].get("seeds", [])]
            set_attr("seed_values", seed_values)  # the mean's samples: search.measurements
            self.inner.on_trial_complete(proposal["inner"], result)
            outcome["replay"] = record["replay"]
            outcome["seed_values"] = seed_values
        else:  # stopped by the scheduler (ASHA) after an intermediate result
            if METRIC in result:
                self._intermediate(proposal, trial_id, result)
            reason = f"stopped by ASHA at step {result.get('step')} (score {result.get(METRIC, float('nan')):.4f})"
            outcome = {"state": "pruned", "reason": reason}
            set_attr("pruned", reason)
            self.inner.on_trial_complete(proposal["inner"], None, error=False)
        outcome["number"] = proposal["number"]
        reusable = outcome["state"] in ("complete", "pruned") or outcome.get("kind") in DETERMINISTIC_FAILURES
        if reusable:
            self.done[key] = outcome
        self._finish(
            proposal,
            trial_id,
            outcome["state"],
            values=outcome.get("values"),
            scores=outcome.get("scores"),
            reason=outcome.get("reason"),
            replay=outcome.get("replay"),
            seed_values=outcome.get("seed_values"),
        )
        for waiting in self.waiting.pop(key, []):
            if reusable:
                self._reuse(waiting, waiting["trial"], outcome)
            else:
                self.inner.on_trial_complete(waiting["inner"], None, error=True)
                waiting["set_attr"]("failure", f"equivalent trial #{outcome['number']} failed: {outcome['reason']}")
                self._finish(
                    waiting,
                    waiting["trial"],
                    "failed",
                    reason=f"equivalent trial #{outcome['number']} failed: {outcome['reason']}",
                )

    def _reuse(self, proposal: dict, trial_id: str, outcome: dict) -> None:
        original = outcome["number"]
        proposal["set_attr"]("duplicate_of", original)
        reason = None if outcome["state"] == "complete" else f"equivalent trial #{original}: {outcome.get('reason')}"
        if outcome["state"] == "complete":
            # Never a measurement of its own: PRUNED without a value in Optuna (as in the Optuna backend's
            # OptunaObjective._reuse); the original, COMPLETE, keeps informing the sampler.
            reused = " / ".join(f"{v:.4f}" for v in outcome["values"])
            reason = f"equivalent to trial #{original}: its result ({reused}) is reused, not retrained"
            proposal["set_attr"]("scores", json_safe(outcome["scores"]))
            proposal["set_attr"]("reused_values", json_safe(list(outcome["values"])))
            proposal["set_attr"]("pruned", reason)
            self.inner.on_trial_complete(proposal["inner"], None, error=False)
        elif outcome["state"] == "pruned":
            self.inner.on_trial_complete(proposal["inner"], None, error=False)
        else:
            proposal["set_attr"]("failure_kind", outcome.get("kind"))
            self.inner.on_trial_complete(proposal["inner"], None, error=True)
        self._finish(
            proposal,
            trial_id,
            "duplicate",
            values=outcome.get("values"),
            scores=outcome.get("scores"),
            duplicate_of=original,
            reason=reason,
        )

    def _metrics(self) -> list[str]:
        return [METRIC, COST] if self.spec.objective.multi else [METRIC]

    def _start(self, proposal: dict, trial_id: str) -> TrialStart:
        return TrialStart(
            self.spec.name,
            trial_id,
            proposal["number"],
            proposal["params"],
            proposal["config"],
            proposal["key"],
            proposal.get("settings"),  # a proposal restored from a checkpoint written before settings: None
        )

    def _finish(self, proposal: dict, trial_id: str, state: str, **fields) -> None:
        if state == "infeasible":
            fields.setdefault("reason", None)
        record = TrialRecord(
            self.spec.name,
            trial_id,
            proposal["number"],
            state,
            proposal["params"],  # type: ignore[arg-type]
            proposal["config"],
            proposal["key"],
            settings=proposal.get("settings"),
            **{k: v for k, v in fields.items() if v is not None},
        )
        self.recorder.trial_finished(record)


class CalibratedASHA(ASHAScheduler):
    """ASHA that may stop a trial only at `allowed` steps (the calibrated ones; None: at any)."""

    def __init__(self, allowed: set[int] | None, **kwargs):
        super().__init__(**kwargs)
        self.allowed = allowed

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if self.allowed is not None and result.get("step") not in self.allowed:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)


def ray_trial(config: dict, spec_json: dict, intermediate_steps: list[int] | None = None) -> None:
    """The Ray Tune trainable: one trial, reporting intermediate scores (for ASHA, at `intermediate_steps`
    only when the calibration restricts where it acts) and a final record."""
    spec = StudySpec.model_validate(spec_json)
    apply_threads(spec.threads_per_trial)  # the trial's CPUs (less its loader processes), before any torch work
    params = {k: v for k, v in config.items() if k != NUMBER}
    candidate = SearchSpace(spec).from_params(params)
    device = "cuda" if spec.ray.gpus_per_trial > 0 else "cpu"

    def intermediate(step: int, value: float) -> bool:
        tune.report({METRIC: value, "step": step, "final": False})
        return False

    try:
        trained = train_candidate(
            spec,
            candidate,
            None if spec.objective.multi else intermediate,
            device=device,
            intermediate_steps=intermediate_steps,
        )
    except TrialFailed as failed:
        failure = {"failed": failed.reason, "failure_kind": failed.kind.value}
        tune.report({"final": True, **failure, "step": spec.trial.steps})
        return
    record = {"values": trained.values, "scores": json_safe(trained.scores), "replay": json_safe(trained.replay)}
    metrics = {
        METRIC: trained.values[0],
        "step": trained.replay["train_steps"],
        "final": True,
        "record": json.dumps(record),
    }
    if spec.objective.multi:
        metrics[COST] = trained.values[1]
    tune.report(metrics)


def init_ray(spec: StudySpec) -> None:
    """Connect to the cluster at ray.address / $RAY_ADDRESS, or start a local Ray (once per process)."""
    import ray

    if ray.is_initialized():
        return
    address = spec.ray.address or os.environ.get("RAY_ADDRESS") or None
    env = {k: os.environ[k] for k in ("GDT_SEARCH_CACHE",) if k in os.environ}
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "runtime_env": {"env_vars": env} if env else None,
    }
    if address is None:
        kwargs["num_cpus"] = spec.ray.num_cpus
    ray.init(address=address, **kwargs)


def experiment_path(spec: StudySpec) -> Path:
    root = Path(spec.ray.storage_path or "ray_results").resolve()
    return root / spec.name


def run_ray(spec: StudySpec, recorder: Recorder | None = None) -> optuna.Study:
    """Run (or resume) the study on Ray Tune; returns the Optuna study that OptunaSearch wrote."""
    recorder = recorder or NullRecorder()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    recorder.study_started(study_info(spec, "ray"))
    init_ray(spec)
    if spec.ray.gpus_per_trial > 0:
        import ray

        if ray.cluster_resources().get("GPU", 0) <= 0:
            raise ValueError(f"ray.gpus_per_trial = {spec.ray.gpus_per_trial} but the Ray cluster has no GPU")
    limits = data_limits(spec)  # also builds the clip caches once, before trials race for them
    storage = make_storage(spec, heartbeat=False)
    study = open_study(spec, storage)  # creates the study and checks a resumed one still means the same
    recorder.baseline_measured(spec.name, study_baseline(study, spec))  # before any trial: every score's reference
    record_calibration(spec, study, recorder)
    spec_json = spec.model_dump(mode="json")
    resources = {"cpu": spec.ray.cpus_per_trial, "gpu": spec.ray.gpus_per_trial}
    # Where the scheduler may act (None: everywhere); trials evaluate only there (an evaluation no decision
    # reads is wasted).
    allowed, _ = pruning_gate(spec, study_calibration(study))
    steps = None if allowed is None else sorted(allowed)
    trainable = tune.with_resources(
        tune.with_parameters(ray_trial, spec_json=spec_json, intermediate_steps=steps), resources
    )
    path = experiment_path(spec)
    if tune.Tuner.can_restore(str(path)):
        # Errored trials stay failed (Ray already retried them max_retry times); unfinished ones run again.
        tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=False)
    else:
        tuner = tune.Tuner(
            trainable,
            tune_config=_tune_config(spec, storage, limits, recorder, study, allowed),
            run_config=tune.RunConfig(
                name=spec.name,
                storage_path=str(path.parent),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=spec.search.max_retry),
            ),
        )
    tuner.fit()
    return optuna.load_study(study_name=spec.name, storage=storage)


def _tune_config(
    spec: StudySpec, storage, limits, recorder: Recorder, study: optuna.Study, allowed: set[int] | None
) -> tune.TuneConfig:
    multi = spec.objective.multi
    space = SearchSpace(spec, limits)
    points = None
    if spec.search.sampler == "grid":  # OptunaSearch queues the grid's points; nothing else is sampled
        points = [c.params for c in grid_points(study, space)]
    inner = OptunaSearch(
        space=DefineByRun(spec.model_dump(mode="json"), limits),
        metric=[METRIC, COST] if multi else METRIC,
        mode=["max", "min"] if multi else "max",
        points_to_evaluate=points,
        sampler=make_sampler(spec),
        study_name=spec.name,
        storage=storage,
    )
    scheduler = None
    if spec.search.pruner.kind == "asha" and allowed != set():
        pruner = spec.search.pruner
        scheduler = CalibratedASHA(
            allowed,
            time_attr="step",
            metric=METRIC,
            mode="max",
            max_t=spec.trial.steps,
            grace_period=pruner.min_resource or spec.trial.eval_every or 1,
            reduction_factor=pruner.reduction_factor,
        )
    n_trials = spec.search.n_trials
    if points is not None:
        n_trials = len(points) if n_trials is None else min(n_trials, len(points))
    elif n_trials is None:
        n_trials = len(space.unique_feasible()) if space.is_finite else 10**9
    searcher = GDTSearcher(spec, inner, recorder, study)
    return tune.TuneConfig(
        search_alg=searcher,
        scheduler=scheduler,
        num_samples=n_trials,
        max_concurrent_trials=spec.ray.max_concurrent,
        time_budget_s=spec.search.timeout_s,
    )
