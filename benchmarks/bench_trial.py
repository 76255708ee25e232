"""One trial on the CPU: pretraining throughput and the proxy evaluation's time, per encoder pair.

Each case runs `core.trial.run_trial` (the real trial: clip cache -> GDT batches -> augmentation ->
encoders -> eq. (1) -> AdamW, then the HMDB-51-format proxy evaluation) on the embedded procedural world
with the `iccv-l` configuration, and reports what the trial itself measured: clips/s over the whole
pretraining (data loading included), the proxy evaluation's seconds, and the whole trial's seconds.
The clip caches are built before timing. Also timed: 600 AdamW steps on the small encoders' parameters,
fused (what a trial uses) against torch's per-tensor loop and its foreach variant, with the same gradients.
Results go to benchmarks/results/trial_cpu.json and .md with the machine, torch's thread count and the load
average.

    python benchmarks/bench_trial.py [--threads 2] [--steps-small 40] [--steps-paper 4]
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

from core.gdt.presets import preset  # noqa: E402
from core.trial import build_model, open_data, run_trial, small_world_trial  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
CASES = {  # name: (video encoder, audio encoder, clip budget)
    "small (tiny_video + tiny_audio)": ("tiny_video", "tiny_audio", 64),
    "paper (r2plus1d_18 + resnet9)": ("r2plus1d_18", "resnet9", 16),
}


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run_case(video: str, audio: str, budget: int, steps: int) -> dict:
    spec = small_world_trial(steps=steps)
    dim = spec.feature_dim if video == "tiny_video" else 512  # the paper encoders are 512-d
    spec = replace(spec, video_encoder=video, audio_encoder=audio, feature_dim=dim, device="cpu")
    config = preset("iccv-l", clip_budget=budget)
    open_data(spec.data)  # build (or find) the clip caches outside the timing
    started = time.perf_counter()
    result = run_trial(config, spec)
    return {
        "video_encoder": video,
        "audio_encoder": audio,
        "clip_budget": config.batch_size,
        "frames": spec.data.clip_frames,
        "crop": spec.augment.video.crop_size,
        "steps": result.train.steps,
        "pretrain_clips_per_s": round(result.train.clips_per_second, 1),
        "pretrain_s": round(result.train.wall_seconds, 2),
        "proxy_eval_s": round(result.evaluation.seconds, 2),
        "trial_s": round(time.perf_counter() - started, 2),
        "r_at_1": round(result.evaluation.scores.r_at_1, 3),
    }


def adamw_seconds(steps: int = 600) -> dict:
    """Seconds for `steps` AdamW updates of the small encoders, per implementation (same gradients), and the
    largest difference of the fused result from the per-tensor one (rounding: the same update otherwise)."""
    spec = small_world_trial()
    model = build_model(spec, torch.device("cpu"), seeded=True)
    generator = torch.Generator().manual_seed(0)
    gradients = [[torch.randn(p.shape, generator=generator) for p in model.parameters()] for _ in range(4)]
    seconds, final = {}, {}
    implementations = {"per_tensor": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    for name, option in implementations.items():
        params = [p.detach().clone().requires_grad_() for p in model.parameters()]
        optimizer = torch.optim.AdamW(params, lr=spec.train.lr, weight_decay=spec.train.weight_decay, **option)
        started = time.perf_counter()
        for step in range(steps):
            for p, g in zip(params, gradients[step % len(gradients)], strict=True):
                p.grad = g
            optimizer.step()
        seconds[name] = round(time.perf_counter() - started, 3)
        final[name] = params
    drift = max((a - b).abs().max().item() for a, b in zip(final["per_tensor"], final["fused"], strict=True))
    return {
        "steps": steps,
        "tensors": len(final["fused"]),
        "parameters": sum(p.numel() for p in final["fused"]),
        "seconds": seconds,
        "fused_max_abs_difference": drift,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps-small", type=int, default=40)
    parser.add_argument("--steps-paper", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"machine": machine(), "config": "iccv-l", "cases": {}}
    for name, (video, audio, budget) in CASES.items():
        steps = args.steps_small if video == "tiny_video" else args.steps_paper
        results["cases"][name] = run_case(video, audio, budget, steps)
        print(name, json.dumps(results["cases"][name]), flush=True)
    results["adamw"] = adamw_seconds()
    print("adamw", json.dumps(results["adamw"]), flush=True)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trial_cpu.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "trial_cpu.md").write_text(render(results))
    print(render(results))


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# One trial on the CPU (procedural world, iccv-l)",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, torch {m['torch']},"
        f" {m['threads']} torch threads; load average before {m['load_average']}, after {m['load_average_after']}.",
        "Clips/s over the whole pretraining, data loading included; proxy = the HMDB-51-format evaluation.",
        "",
        "| encoders | clips/batch | frames × crop | steps | pretraining clips/s | pretraining s | proxy evaluation s |"
        " trial s |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["cases"].items():
        lines.append(
            f"| {name} | {r['clip_budget']} | {r['frames']} × {r['crop']}² | {r['steps']} |"
            f" {r['pretrain_clips_per_s']} | {r['pretrain_s']} | {r['proxy_eval_s']} | {r['trial_s']} |"
        )
    if "adamw" in results:
        a, sec = results["adamw"], results["adamw"]["seconds"]
        lines += [
            "",
            f"AdamW, {a['steps']} steps over the small encoders' {a['tensors']} tensors"
            f" ({a['parameters']:,} parameters), same gradients: per-tensor loop {sec['per_tensor']} s,"
            f" foreach {sec['foreach']} s,"
            f" fused {sec['fused']} s ({sec['fused'] / sec['per_tensor']:.2f}x the loop; a trial uses fused);"
            f" the fused weights differ from the loop's by at most {a['fused_max_abs_difference']:.1e} (rounding).",
        ]
    lines += [
        "",
        "GPU (R(2+1)D-18 at 30×112×112 + ResNet-9, clip cache vs a batch already on the GPU, peak memory):"
        " `benchmarks/bench_trial_gpu.py` -> `trial_gpu.md`.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
