"""CPU threads on a shared machine: the `table1` main job quiet vs beside a CPU-bound process, and
`search.workers` 2 vs 1.

Three runs of `gdt-search run --preset table1` (a fresh SQLite database each, the default thread setting:
`StudySpec.threads_per_trial`, core/threads.py), in one invocation, on a smaller budget than the full main
job (`--n-trials`, `--steps`; the full one takes ~7 min quiet on 2 cores, too long to run three times):

- `quiet`: workers 2 (the preset's), nothing else started by the benchmark;
- `loaded`: the same study with one CPU-bound process beside it (a single-threaded Python busy loop, started
  before the study and killed after it; its CPU seconds are reported);
- `workers1`: the same study with `--workers 1` (quiet).

Reported (`benchmarks/results/threads.{md,json}`):
- `loaded_over_quiet`: wall time of `loaded` / `quiet` (target <= 2);
- `workers2_speedup`: trials per hour of workers 2 / workers 1 over the span from the first trial's start
  to the last trial's end (steady state: the study's start-up, imports and the untrained baseline, is paid
  once per study whatever its length), target >= 1.6; `workers2_speedup_end_to_end` uses whole wall times.

Other users' processes are not stopped: the load average before and after every run is recorded.

    python benchmarks/bench_threads.py                    # ~13 min on 2 busy cores
    python benchmarks/bench_threads.py --n-trials 2 --steps 5 --out /tmp/threads   # a check of the script
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

NEIGHBOUR = "while True:\n    pass\n"  # one core's worth of CPU-bound work, like another user's job


def run_study(name: str, tmp: Path, args, workers: int | None = None) -> dict:
    """`gdt-search run --preset table1` end to end in a fresh process; its wall time and its trials."""
    import optuna

    storage = f"sqlite:///{tmp}/{name}.db"
    command = [sys.executable, "-m", "api.cli", "run", "--preset", "table1", "--storage", storage, "--name", name,
               "--n-trials", str(args.n_trials), "--set", f"trial.steps={args.steps}", "--quiet"]  # fmt: skip
    if workers is not None:
        command += ["--workers", str(workers)]
    load_before = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tmp, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: gdt-search run failed ({done.returncode}):\n{done.stderr[-4000:]}")
    study = optuna.load_study(study_name=name, storage=storage)
    trained = [t for t in study.get_trials() if t.user_attrs.get("trained") and t.datetime_complete]
    span = (max(t.datetime_complete for t in trained) - min(t.datetime_start for t in trained)).total_seconds()
    libraries = [t.user_attrs.get("replay", {}).get("libraries", {}) for t in trained]
    settings = sorted({(lib.get("torch_threads"), lib.get("torch_interop_threads"), lib.get("loader_workers"),
                        lib.get("cores")) for lib in libraries})  # fmt: skip
    result = {
        "wall_s": wall,
        "trials": len(trained),
        "trial_span_s": span,
        "trials_per_hour": 3600 * len(trained) / span,
        "trials_per_hour_end_to_end": 3600 * len(trained) / wall,
        "mean_trial_s": sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trained) / len(trained),
        # (intra-op threads, inter-op threads, loader processes, cores) as each trial recorded them
        "thread_settings": [list(s) for s in settings],
        "oversubscription_warning": "OversubscriptionWarning" in done.stderr,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
    }
    print(f"{name}: {wall:.0f} s, {len(trained)} trials, {result['trials_per_hour']:.0f} trials/h", flush=True)
    return result


def machine() -> dict:
    import torch

    from core.threads import cores_available

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cores_available": cores_available(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_start": list(os.getloadavg()),
    }


def warm_caches(args) -> None:
    """Render the study's worlds once, so that no timed run pays for it."""
    from core.trial import open_data
    from search.study_presets import load_preset

    open_data(load_preset("table1", {"trial.steps": args.steps}).data_spec())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-trials", type=int, default=4, help="trained trials per study (the preset: 12)")
    parser.add_argument("--steps", type=int, default=100, help="pretraining steps per trial (the preset: 300)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for threads.md and threads.json")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    info = machine()
    warm_caches(args)
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs["quiet"] = run_study("quiet", Path(tmp), args)
        neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
        try:
            time.sleep(1.0)  # let it take its core before the study starts
            runs["loaded"] = run_study("loaded", Path(tmp), args)
        finally:
            neighbour.kill()
            _, _, usage = os.wait4(neighbour.pid, 0)
        runs["loaded"]["neighbour_cpu_s"] = usage.ru_utime + usage.ru_stime
        runs["workers1"] = run_study("workers1", Path(tmp), args, workers=1)
    info["load_average_end"] = list(os.getloadavg())

    result = {
        "loaded_over_quiet": runs["loaded"]["wall_s"] / runs["quiet"]["wall_s"],
        "workers2_speedup": runs["quiet"]["trials_per_hour"] / runs["workers1"]["trials_per_hour"],
        "workers2_speedup_end_to_end": runs["quiet"]["trials_per_hour_end_to_end"]
        / runs["workers1"]["trials_per_hour_end_to_end"],
        "targets": {"loaded_over_quiet": 2.0, "workers2_speedup": 1.6},
        "study": {"preset": "table1", "n_trials": args.n_trials, "steps": args.steps, "preset_n_trials": 12,
                  "preset_steps": 300},  # fmt: skip
        "runs": runs,
        "machine": info,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "threads.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    m, s, runs = r["machine"], r["study"], r["runs"]

    def load(run: dict) -> str:
        return f"{run['load_before'][0]:.1f} -> {run['load_after'][0]:.1f}"

    def settings(run: dict) -> str:
        return "; ".join(f"{a} / {b} / {c} / {d}" for a, b, c, d in run["thread_settings"])

    lines = [
        "# CPU threads on a shared machine (`benchmarks/bench_threads.py`)",
        "",
        f"Machine: {m['cpu']}, {m['cpu_count']} CPUs ({m['cores_available']} available to this process),"
        f" {m['platform']}, Python {m['python']}, torch {m['torch']}. Load average (1 min) at the start"
        f" {m['load_average_start'][0]:.2f}, at the end {m['load_average_end'][0]:.2f}: other users' jobs were"
        " not stopped, and their load is in every number below.",
        "",
        f"Study: `gdt-search run --preset table1 --n-trials {s['n_trials']} --set trial.steps={s['steps']}`"
        f" (the full main job is {s['preset_n_trials']} trials of {s['preset_steps']} steps, ~7 min quiet on 2"
        " cores: too long to run three times here), a fresh SQLite database per run, the default thread setting"
        " (search.threads unset: cores // workers, less loader processes; intra-op and inter-op).",
        "",
        "| run | workers | wall (s) | trials | trial span (s) | trials / h (span) | trials / h (wall) |"
        " mean trial (s) | threads intra / inter-op / loaders / cores | load avg before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, workers in (("quiet", 2), ("loaded", 2), ("workers1", 1)):
        run = runs[name]
        lines.append(
            f"| {name} | {workers} | {run['wall_s']:.0f} | {run['trials']} | {run['trial_span_s']:.0f} |"
            f" {run['trials_per_hour']:.0f} | {run['trials_per_hour_end_to_end']:.0f} | {run['mean_trial_s']:.1f} |"
            f" {settings(run)} | {load(run)} |"
        )
    warned = ", ".join(f"{name} {'yes' if run['oversubscription_warning'] else 'no'}" for name, run in runs.items())
    lines += [
        "",
        f"- **loaded_over_quiet = {r['loaded_over_quiet']:.2f}** (target <= {r['targets']['loaded_over_quiet']}):"
        " the same study beside one CPU-bound process (a Python busy loop, which used"
        f" {runs['loaded']['neighbour_cpu_s']:.0f} CPU-s during the run), wall time over the quiet run's.",
        f"- **workers2_speedup = {r['workers2_speedup']:.2f}** (target >= {r['targets']['workers2_speedup']}):"
        " trials per hour with `search.workers` 2 over 1, from the first trial's start to the last one's end;"
        f" end to end (start-up and the untrained baseline included) {r['workers2_speedup_end_to_end']:.2f}.",
        f"- Oversubscription warning printed by `gdt-search run`: {warned} (the defaults fit the cores).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
