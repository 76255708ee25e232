"""A paper-encoder proxy trial at its default budget, on a GPU: how long, and how many GPU-seconds.

`core.trial.paper_world_trial` (R(2+1)D-18 on 30 x 112 x 112 clips + ResNet-9 on 1 s log-mel, the
world rendered at 128 x 128 and 30 fps, `PAPER_STEPS` AdamW steps of 32 clips, the HMDB-51-format
proxy evaluation) under the papers' best configuration (iccv-l), run once with `core.trial.run_trial`
exactly as a study runs it. Target: at most 10 minutes. The world is rendered into the clip cache
first (in parallel) and not counted: a search renders it once for all its trials.
Results: benchmarks/results/paper_trial_gpu.json and .md.

    python benchmarks/bench_paper_trial_gpu.py                  # on a CUDA machine
    python benchmarks/bench_paper_trial_gpu.py --device cpu --steps 2 --out /tmp/bench   # checks the script
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_packing_gpu import prepare  # noqa: E402
from core.gdt.presets import preset  # noqa: E402
from core.trial import PAPER_STEPS, paper_world_trial, run_trial  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TARGET_S = 600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=PAPER_STEPS)
    parser.add_argument("--render-processes", type=int, default=os.cpu_count())
    parser.add_argument("--cache", default=None, help="clip cache root (default: the user cache)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_paper_trial_gpu: no CUDA device here (use --device cpu to check the script)")

    spec = paper_world_trial(steps=args.steps)
    spec = replace(spec, device=args.device, data=replace(spec.data, cache_root=args.cache))
    started = time.perf_counter()
    prepare(spec, args.render_processes)
    render_s = time.perf_counter() - started
    config = preset("iccv-l", clip_budget=32)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = run_trial(config, spec)
    wall = time.perf_counter() - started
    scores = result.evaluation.scores
    results = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "trial_s": round(wall, 1),
        "target_s": TARGET_S,
        "gpu_seconds": round(result.environment["gpu_seconds"], 1),
        "train_s": round(result.train.wall_seconds, 1),
        "train_clips_per_s": round(result.train.clips_per_second, 1),
        "proxy_eval_s": round(result.evaluation.seconds, 1),
        "steps": result.train.steps,
        "clips_per_batch": config.batch_size,
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if args.device == "cuda" else None,
        "scores": {"r_at_1": scores.r_at_1, "linear": scores.linear_top1, "n_test": scores.n_test},
        "render_s": round(render_s, 1),
        "render_processes": args.render_processes,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "load_average": [round(x, 2) for x in os.getloadavg()]},  # fmt: skip
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "paper_trial_gpu.json").write_text(json.dumps(results, indent=2) + "\n")
    r = results
    md = "\n".join([
        f"# A paper-encoder proxy trial on {r['device']}",
        "",
        f"Machine: {r['machine']['platform']}, {r['machine']['cpu_count']} CPUs, torch {r['machine']['torch']}.",
        f"`core.trial.paper_world_trial`: R(2+1)D-18 (30 × 112²) + ResNet-9 (log-mel), iccv-l,"
        f" {r['steps']} steps of {r['clips_per_batch']} clips, then the HMDB-51-format proxy evaluation"
        f" ({r['scores']['n_test']} test videos).",
        "",
        "| trial s (target ≤ 600) | GPU-seconds | training s | training clips/s | proxy evaluation s | peak GPU MiB"
        " | R@1 | linear |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| **{r['trial_s']}** | {r['gpu_seconds']} | {r['train_s']} | {r['train_clips_per_s']} | {r['proxy_eval_s']}"
        f" | {r['peak_gpu_mib']} | {r['scores']['r_at_1']:.3f} | {r['scores']['linear']:.3f} |",
        "",
        f"Rendering the world into the clip cache beforehand (once per search, {r['render_processes']} processes):"
        f" {r['render_s']} s.",
    ]) + "\n"  # fmt: skip
    (args.out / "paper_trial_gpu.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
