"""Several trials on one GPU: trials per hour with 1, 2, 4 and 8 trials running at once.

A search's trials are small, so one trial leaves most of a GPU idle. Ray Tune packs them with
fractional GPUs (`ray.gpus_per_trial: 0.25` runs four trial processes on one GPU); this benchmark
measures what that buys on the GPU itself: n processes, each training `--trials` trials back to back
on the one GPU, started together once every process has imported torch, opened its data and touched
the GPU. trials/hour = n x trials / (common start -> last trial's end). Each process gets
cores / n CPU threads. The lent GPU machine has no Ray (nothing can be installed there), so plain
processes stand in for Ray's trial actors: Ray adds the scheduling, not the sharing of the GPU.

Encoders: `tiny` runs the embedded default trial (`core.trial.small_world_trial`, 300 steps) on the
GPU; `paper` runs `core.trial.paper_world_trial` (R(2+1)D-18 + ResNet-9 at 112^2) with fewer steps.
Results go to benchmarks/results/packing_gpu.json (`trials_per_hour` per encoders and concurrency)
and .md.

    python benchmarks/bench_packing_gpu.py                  # on a CUDA machine
    python benchmarks/bench_packing_gpu.py --device cpu --encoders tiny --concurrency 1 2 --tiny-steps 5 \
        --out /tmp/bench                                    # checks the script on a CPU; numbers meaningless
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
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.gdt.presets import preset  # noqa: E402
from core.trial import TrialSpec, open_data, paper_world_trial, run_trial, small_world_trial  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
READY = "READY"


def trial_spec(encoders: str, steps: int, device: str, cache: str | None) -> TrialSpec:
    spec = small_world_trial(steps=steps) if encoders == "tiny" else paper_world_trial(steps=steps)
    return replace(spec, device=device, data=replace(spec.data, cache_root=cache))


def config_of(encoders: str):
    """The trials' GDT configuration: the papers' best (iccv-l) at the batch size of each trial kind."""
    return preset("iccv-l", clip_budget=64 if encoders == "tiny" else 32)


def worker(args: argparse.Namespace) -> None:
    """One trial process: get ready, wait for the common start, train `trials` trials, print timings."""
    torch.set_num_threads(args.threads)
    (encoders,) = args.encoders  # a worker runs one kind
    spec = trial_spec(encoders, args.steps, args.device, args.cache)
    config = config_of(encoders)
    open_data(spec.data)
    if spec.resolved_device().type == "cuda":
        torch.zeros(1, device="cuda")  # the CUDA context, outside the timed part
    print(READY, flush=True)
    start_file = Path(args.start_file)
    while not start_file.exists():
        time.sleep(0.01)
    trials = []
    for i in range(args.trials):
        result = run_trial(config, replace(spec, train=replace(spec.train, seed=args.seed + i)))
        trials.append({
            "ended": time.time(),
            "trial_s": round(result.environment["trial_seconds"], 2),
            "gpu_seconds": round(result.environment["gpu_seconds"], 2),
            "train_clips_per_s": round(result.train.clips_per_second, 1),
            "objective": round(result.evaluation.scores.linear_top1, 4),
        })  # fmt: skip
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    print(json.dumps({"trials": trials, "peak_gpu_mib": peak}), flush=True)


def run_concurrently(args: argparse.Namespace, encoders: str, n: int, steps: int, trials: int) -> dict:
    """n trial processes on the device, started together; their trials per hour."""
    threads = max(1, (os.cpu_count() or 1) // n)
    with tempfile.TemporaryDirectory() as tmp:
        start_file = Path(tmp) / "start"
        command = [sys.executable, __file__, "--worker", "--encoders", encoders, "--steps", str(steps),
                   "--trials", str(trials), "--threads", str(threads), "--device", args.device,
                   "--start-file", str(start_file)] + (["--cache", args.cache] if args.cache else [])  # fmt: skip
        procs = [
            subprocess.Popen(command + ["--seed", str(100 * i)], stdout=subprocess.PIPE, text=True) for i in range(n)
        ]
        for proc in procs:  # every process ready (imports, data, CUDA context) before the clock starts
            for line in proc.stdout:
                if line.strip() == READY:
                    break
            else:
                raise RuntimeError(f"a {encoders} trial process exited before it was ready ({proc.wait()})")
        started = time.time()
        start_file.touch()
        outputs = []
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"a {encoders} trial process failed with exit code {proc.returncode}")
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    done = [t for o in outputs for t in o["trials"]]
    wall = max(t["ended"] for t in done) - started
    peaks = [o["peak_gpu_mib"] for o in outputs if o["peak_gpu_mib"] is not None]
    return {
        "encoders": encoders,
        "concurrent": n,
        "threads_per_trial": threads,
        "steps": steps,
        "trials": len(done),
        "wall_s": round(wall, 1),
        "trials_per_hour": round(len(done) / wall * 3600, 1),
        "mean_trial_s": round(sum(t["trial_s"] for t in done) / len(done), 1),
        "peak_gpu_mib_per_trial": round(max(peaks), 1) if peaks else None,
        "objectives": [t["objective"] for t in done],
    }


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"# Several trials on one GPU ({results['device']})",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, torch {m['torch']}; load average {m['load_average']}.",
        "n processes share the one GPU (what Ray's `gpus_per_trial: 1/n` does), each with cores / n threads,",
        "started together after their imports, data and CUDA context; trials/hour = all trials / wall time.",
        "",
        "| encoders | steps per trial | trials at once | trials | wall s | mean trial s | trials/hour"
        " | × one at a time | peak GPU MiB per trial |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        one = next(r for r in results["runs"] if r["encoders"] == run["encoders"] and r["concurrent"] == 1)
        gain = run["trials_per_hour"] / one["trials_per_hour"]
        lines.append(
            f"| {run['encoders']} | {run['steps']} | {run['concurrent']} | {run['trials']} | {run['wall_s']}"
            f" | {run['mean_trial_s']} | {run['trials_per_hour']} | {gain:.2f}"
            f" | {run['peak_gpu_mib_per_trial']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--encoders", nargs="+", default=["tiny", "paper"], choices=["tiny", "paper"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--paper-concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tiny-steps", type=int, default=300)
    parser.add_argument("--tiny-trials", type=int, default=1, help="trials per process")
    parser.add_argument("--paper-steps", type=int, default=40)
    parser.add_argument("--paper-trials", type=int, default=1, help="trials per process")
    parser.add_argument("--render-processes", type=int, default=os.cpu_count())
    parser.add_argument("--cache", default=None, help="clip cache root (default: the user cache)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    # one trial process (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trials", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_packing_gpu: no CUDA device here (use --device cpu to check the script)")

    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    runs: list[dict] = []
    for encoders in args.encoders:
        tiny = encoders == "tiny"
        steps, trials = (args.tiny_steps, args.tiny_trials) if tiny else (args.paper_steps, args.paper_trials)
        # Both worlds rendered before any process is timed.
        open_data(trial_spec(encoders, steps, args.device, args.cache).data, processes=args.render_processes)
        for n in args.concurrency if tiny else args.paper_concurrency:
            try:
                runs.append(run_concurrently(args, encoders, n, steps, trials))
            except RuntimeError as error:  # e.g. out of GPU memory at this concurrency: say so, go on
                print(f"{encoders} x {n}: {error}", flush=True)
                continue
            print(json.dumps(runs[-1]), flush=True)
            write(args.out, device, runs)  # after every run: a run stopped by a time limit keeps what it measured
    print(render(write(args.out, device, runs)))


def write(out: Path, device: str, runs: list[dict]) -> dict:
    kinds = dict.fromkeys(r["encoders"] for r in runs)
    results = {
        "device": device,
        "trials_per_hour": {e: {str(r["concurrent"]): r["trials_per_hour"] for r in runs if r["encoders"] == e}
                            for e in kinds},  # fmt: skip
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "load_average": [round(x, 2) for x in os.getloadavg()]},  # fmt: skip
        "runs": runs,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "packing_gpu.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "packing_gpu.md").write_text(render(results))
    return results


if __name__ == "__main__":
    main()
