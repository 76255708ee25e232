"""CPU threads of a trial: share the cores granted to this process among the trials that run at once.

torch starts one intra-op pool (OpenMP) and one inter-op pool per process, each as large as the machine.
Two trials that each do that on a 2-core machine, or one beside another CPU-bound job, oversubscribe the
cores: OpenMP threads then wait at every barrier for a thread that is not scheduled, and a step gets many
times slower (issue 16: 20x for `gdt-search trial` with a busy neighbour). So every trial gets
cores // concurrent trials, less one core per DataLoader process of its own (each loader process is a
whole process cutting clips, run by torch with one thread), and at least one thread.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)


class OversubscriptionWarning(UserWarning):
    """A study asks for more CPU threads (and loader processes) at once than the machine has cores."""


def cores_available() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS / Windows
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup's CFS quota (v2 cpu.max, else v1), None when unlimited or unknown."""
    try:
        v2 = Path("/sys/fs/cgroup/cpu.max")
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        if v1.exists():
            quota_us = int(v1.read_text())
            period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
    return None


def default_threads(concurrent: int = 1, loader_workers: int = 0, cores: int | None = None) -> int:
    """Compute threads of one trial: its share of the cores, less its loader processes, at least 1."""
    cores = cores if cores is not None else cores_available()
    share = max(1, cores // max(1, concurrent))
    return max(1, share - loader_workers)


def oversubscription(threads: int, concurrent: int, loader_workers: int = 0, cores: int | None = None) -> str | None:
    """Why `concurrent` trials of `threads` threads and `loader_workers` loader processes each would
    oversubscribe the cores, or None when they fit."""
    cores = cores if cores is not None else cores_available()
    busy = concurrent * (threads + loader_workers)
    if busy <= cores:
        return None
    loaders = f" + {loader_workers} loader process(es)" if loader_workers else ""
    return (
        f"{concurrent} concurrent trial(s) x ({threads} torch thread(s){loaders}) = {busy} busy threads on "
        f"{cores} core(s): the trials will wait on each other (slower, and scores depend on the thread count); "
        f"the default, search.threads unset, gives each trial {default_threads(concurrent, loader_workers, cores)}"
    )


def apply_threads(intra: int, interop: int | None = None) -> None:
    """Set this process's intra-op and inter-op torch threads (inter-op: `intra` unless given).

    torch takes the inter-op size once per process, before its first parallel work; a process that already
    has it (a second trial, or the main process after other torch work) keeps the one it has, and
    `thread_record` reports what is in effect.
    """
    torch.set_num_threads(intra)
    interop = interop or intra
    if torch.get_num_interop_threads() == interop:
        return
    try:
        torch.set_num_interop_threads(interop)
    except RuntimeError as error:
        log.debug("inter-op threads stay %d, not %d: %s", torch.get_num_interop_threads(), interop, error)


def thread_record(loader_workers: int = 0) -> dict:
    """The thread setting in effect, for a trial's environment."""
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "loader_workers": loader_workers,
        "cores": cores_available(),
    }
