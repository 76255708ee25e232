"""CPU threads: every trial gets its share of the cores (less its loader processes), intra-op and inter-op
set in the process that trains it, recorded with the trial, and a warning when a spec asks for more."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from core.threads import OversubscriptionWarning, cores_available, default_threads, oversubscription
from search.recorder import JsonlRecorder
from search.runner import run_study
from search.spec import load_spec
from tests.search.conftest import tiny_raw, tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

FACTORS = {"TR": {"choices": ["invariant"]}}


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter (torch's inter-op pool is per process and set once)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_cores_are_shared_out_among_concurrent_trials_less_their_loader_processes():
    assert default_threads(1, 0, cores=16) == 16
    assert default_threads(2, 0, cores=16) == 8
    assert default_threads(3, 0, cores=16) == 5
    assert default_threads(2, 3, cores=16) == 5  # three loader processes take three of the trial's cores
    assert default_threads(2, 0, cores=2) == 1
    assert default_threads(4, 0, cores=2) == 1  # more trials than cores: one thread each, never zero
    assert default_threads(1, 8, cores=2) == 1

    cores = cores_available()
    def threads(**sections) -> int:
        return load_spec({"factors": FACTORS, **sections}).trial_spec().threads

    assert threads() == cores
    assert threads(search={"workers": 2}) == max(1, cores // 2)
    assert threads(trial={"num_workers": 1}) == max(1, cores - 1)
    assert threads(search={"workers": 2}, trial={"num_workers": 1}) == max(1, cores // 2 - 1)
    assert threads(search={"threads": 3, "workers": 2}) == 3  # asked for: kept (and warned about, below)
    assert threads(backend="ray", ray={"cpus_per_trial": 4}) == 4
    assert threads(backend="ray", ray={"cpus_per_trial": 4}, trial={"num_workers": 1}) == 3


def test_a_spec_that_asks_for_more_than_the_cores_is_named():
    assert oversubscription(1, 2, cores=2) is None
    assert oversubscription(2, 1, cores=2) is None
    message = oversubscription(2, 2, cores=2)
    assert message and "4 busy threads on 2 core(s)" in message and "gives each trial 1" in message
    assert "loader" in oversubscription(1, 2, loader_workers=1, cores=2)

    cores = cores_available()
    assert load_spec({"factors": FACTORS}).oversubscription() is None  # the defaults never oversubscribe
    assert load_spec({"factors": FACTORS, "search": {"workers": 2}}).oversubscription() is None or cores < 2
    asks = load_spec({"factors": FACTORS, "search": {"threads": cores, "workers": 2}})
    assert f"{2 * cores} busy threads on {cores} core(s)" in asks.oversubscription()
    # Ray on this machine: num_cpus / cpus_per_trial trials at once; a cluster's cores are not this machine's.
    ray = {"num_cpus": 2 * cores, "cpus_per_trial": 1}
    assert load_spec({"factors": FACTORS, "backend": "ray", "ray": ray}).oversubscription()
    remote = {**ray, "address": "ray://head:10001"}
    assert load_spec({"factors": FACTORS, "backend": "ray", "ray": remote}).oversubscription() is None


def test_cores_are_the_ones_this_process_may_run_on():
    out = _python(
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "from core.threads import cores_available, default_threads\n"
        "print(cores_available(), default_threads())"
    )
    assert out == "1 1"


def test_inter_op_threads_are_set_once_per_process_and_kept_after():
    out = _python(
        "import torch\n"
        "from core.threads import apply_threads, thread_record\n"
        "apply_threads(1); a = thread_record()\n"
        "apply_threads(2); b = thread_record()\n"  # torch refuses a second inter-op size: kept, no error
        "print(a['torch_threads'], a['torch_interop_threads'], b['torch_threads'], b['torch_interop_threads'])"
    )
    assert out == "1 1 2 1"


def test_every_trial_records_the_thread_setting_of_its_worker_process(tmp_path):
    """Two Optuna worker processes, each trial with one loader process: intra-op and inter-op threads are
    the default share, set in the worker process, recorded in the trial's environment."""
    raw = tiny_raw(tmp_path, "threads")
    raw["search"].pop("threads")  # the default setting
    raw["search"] |= {"workers": 2, "n_trials": 1, "sampler": "random"}
    raw["trial"] |= {"num_workers": 1}
    spec = load_spec(raw)
    cores = cores_available()
    expected = default_threads(2, 1, cores)
    assert spec.threads_per_trial == expected
    recorder = JsonlRecorder(tmp_path / "events.jsonl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_study(spec, recorder)
    over = [w for w in caught if issubclass(w.category, OversubscriptionWarning)]
    assert len(over) == (1 if 2 * (expected + 1) > cores else 0)
    if over:
        assert "loader process" in str(over[0].message) and "study threads" in str(over[0].message)

    finished = [e for e in recorder.events() if e["event"] == "trial_finished" and e["state"] == "complete"]
    assert finished  # (two workers can both start a trial as the budget runs out)
    for event in finished:
        libraries = event["replay"]["libraries"]
        assert libraries["torch_threads"] == expected
        assert libraries["torch_interop_threads"] == expected
        assert libraries["loader_workers"] == 1
        assert libraries["cores"] == cores


def test_run_warns_when_the_spec_asks_for_more_threads_than_cores(tmp_path):
    cores = cores_available()
    spec = tiny_spec(tmp_path, "greedy", search__threads=cores + 1, search__n_trials=1)
    with pytest.warns(OversubscriptionWarning, match=rf"{cores + 1} busy threads on {cores} core"):
        run_study(spec)
