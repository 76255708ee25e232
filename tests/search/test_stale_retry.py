"""A trial whose worker died is re-queued exactly once, however many workers see it go stale at once."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from search.optuna_backend import RETRY_CLAIM_ATTR, make_storage
from search.spec import load_spec
from tests.api.conftest import create_pg_database, drop_pg_database
from tests.search.conftest import tiny_raw


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
        return
    url = create_pg_database("gdt_retry")
    yield url.replace("postgresql://", "postgresql+psycopg://")
    drop_pg_database(url)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning", "ignore:Heartbeat of storage:UserWarning")
def test_two_workers_failing_the_same_stale_trial_queue_one_retry(tmp_path, storage_url):
    """The race the kill test hit under load: two restarted workers both read the dead worker's trial as
    RUNNING and both fail it (SQLite locks nothing between the read and the update), so both run the
    stale-trial callback. Replayed step by step: the second callback must not queue a second retry."""
    raw = {**tiny_raw(tmp_path, "stale"), "storage": storage_url}
    spec = load_spec(raw)
    first, second = make_storage(spec), make_storage(spec)  # two worker processes' storages
    study = optuna.create_study(study_name="stale", storage=first, direction="maximize")
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    first.record_heartbeat(dead._trial_id)
    with first.engine.begin() as connection:  # its worker was killed long ago
        connection.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00'"))
    assert first._get_stale_trial_ids(study._study_id) == [dead._trial_id]

    assert first.set_trial_state_values(dead._trial_id, TrialState.FAIL)  # both workers read RUNNING and fail it
    failed = first.get_trial(dead._trial_id)
    for storage in (first, second):
        view = optuna.load_study(study_name="stale", storage=storage)
        storage.get_heartbeat_stale_trial_callback()(view, failed)

    trials = optuna.load_study(study_name="stale", storage=first).get_trials()
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1, [(t.number, t.state) for t in trials]
    assert retries[0].state == TrialState.WAITING and retries[0].params == {"x": dead.params["x"]}
    assert failed.number != retries[0].number and RETRY_CLAIM_ATTR in first.get_trial(dead._trial_id).system_attrs


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning", "ignore:Heartbeat of storage:UserWarning")
def test_fail_stale_trials_from_two_workers_queues_one_retry(tmp_path, storage_url):
    """Optuna's own path (`fail_stale_trials`, what every worker runs before a trial), from two storages."""
    raw = {**tiny_raw(tmp_path, "stale2"), "storage": storage_url}
    spec = load_spec(raw)
    first, second = make_storage(spec), make_storage(spec)
    study = optuna.create_study(study_name="stale2", storage=first, direction="maximize")
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    first.record_heartbeat(dead._trial_id)
    with first.engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00'"))
    for storage in (second, first):
        optuna.storages.fail_stale_trials(optuna.load_study(study_name="stale2", storage=storage))
    trials = optuna.load_study(study_name="stale2", storage=first).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
