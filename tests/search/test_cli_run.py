"""`gdt-search run`: spec errors name the field; killing the runner mid-study and restarting it loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from api.cli import main
from search.optuna_backend import counts_as_trained
from tests.search.conftest import tiny_raw

ROOT = Path(__file__).resolve().parents[2]


def test_run_rejects_a_bad_spec_naming_the_field(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("factors:\n  MOD: {choices: [distinctive]}\nsearch: {sampler: annealing}\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "search.sampler" in err and "'tpe'" in err
    assert main(["run", "--preset", "nope"]) == 2
    assert "table1" in capsys.readouterr().err
    assert main(["run"]) == 2


def _cli(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _trials(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    except KeyError:  # not created yet
        return []


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_killing_the_runner_mid_study_and_restarting_it_loses_no_completed_trial(tmp_path):
    """Kill -9 a one-worker runner mid-trial, restart it with two worker processes on the same study."""
    # Nine configurations, so that the two restarted workers rarely propose the same one (a worker that
    # does waits for the other's result instead of training).
    factors = {name: {"choices": ["invariant", "distinctive", "off"]} for name in ("TS", "TR")}
    raw = tiny_raw(tmp_path, "killed", factors={**factors, "MOD": {"choices": ["invariant"]}})
    raw["trial"]["steps"] = 40  # seconds of training: the kill lands mid-trial even on a loaded machine
    raw["search"].update({"sampler": "random", "n_trials": 4, "heartbeat_s": 1, "grace_s": 2})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    storage = raw["storage"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    runner = _cli([str(path), "--quiet"], env)
    deadline = time.monotonic() + 240
    victim = None
    while time.monotonic() < deadline and runner.poll() is None:
        trials = _trials(storage, "killed")
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("trained")]
        if complete and running:
            victim = running[0].number
            break
        time.sleep(0.2)
    assert victim is not None, f"never saw a completed and a running trial:\n{runner.communicate()[0]}"
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    before = {t.number: t for t in _trials(storage, "killed")}
    completed = {n: t for n, t in before.items() if t.state == TrialState.COMPLETE}
    # Seen running ~0.2 s before the kill, a trial of several seconds: the kill caught it mid-trial.
    assert completed and before[victim].state == TrialState.RUNNING
    time.sleep(2.5)  # let the dead worker's heartbeat go stale

    restarted = _cli([str(path), "--workers", "2"], env)
    output, _ = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, output
    after = {t.number: t for t in _trials(storage, "killed")}
    for number, trial in completed.items():  # nothing completed was lost or changed
        assert after[number].state == TrialState.COMPLETE
        assert after[number].values == trial.values and after[number].params == trial.params
    # The killed trial: failed once its heartbeat went stale, then retried with the same parameters.
    assert after[victim].state == TrialState.FAIL
    retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == victim]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == before[victim].params
    trained = [t for t in after.values() if t.user_attrs.get("trained") and counts_as_trained(t)]
    assert 4 <= len(trained) <= 5  # the other worker finishes the trial it had started when the budget ran out
    # The trials left after the kill were trained by the restarted run's worker processes (how they split
    # the work between its two workers depends on timing, so it is not asserted).
    workers = {t.user_attrs["replay"]["worker"]["pid"] for t in trained if t.number not in completed}
    assert 1 <= len(workers) <= 2 and runner.pid not in workers
    assert "| # | DS | TS | MOD |" in output and "best: #" in output and "parameter importances" in output
