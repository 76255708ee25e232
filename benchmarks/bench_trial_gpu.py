"""The paper encoders on a GPU: is the data path or the compute the bottleneck?

R(2+1)D-18 on 30 x 112 x 112 clips plus ResNet-9 on 1 s log-mel spectrograms (ICCV A.3.4), the
`iccv-l` configuration. Two loops over the same model, loss and batch shapes:

- **end to end**: `core.trial.run_trial`, i.e. GDT batches sampled and cut from the clip cache (in
  `--num-workers` loader processes), augmented on the GPU, encoded, eq. (1), optimiser step; then the
  HMDB-51-format proxy evaluation. Clips/s is the median over the steps after `--warmup-steps`.
- **compute ceiling**: one real batch, augmented once and kept on the GPU, trained on again and again
  (forward, eq. (1), backward, step; nothing else), the most the GPU can do at these shapes.

The ratio end-to-end / ceiling says how much of the GPU the data path leaves unused. Also the peak
GPU memory of each loop and the proxy evaluation's seconds. The data is the procedural world rendered
at 128 x 128 and 30 fps (built into the clip cache before timing). Results, with the device's name,
go to benchmarks/results/trial_gpu.json and .md.

    python benchmarks/bench_trial_gpu.py                      # on a CUDA machine
    python benchmarks/bench_trial_gpu.py --device cpu --frames 8 --crop 32 --world-size 32 --steps 4 \
        --warmup-steps 1 --out /tmp/bench   # checks the script on a CPU; numbers meaningless
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.augment import AugmentSpec, BatchAugmenter, VideoAugmentSpec  # noqa: E402
from core.clips import ClipSpec  # noqa: E402
from core.evaluate import EvalSpec  # noqa: E402
from core.gdt_batches import GDTBatchStream  # noqa: E402
from core.presets import preset  # noqa: E402
from core.pretrain import TrainSpec, batch_loss, bf16_autocast, embedders, make_optimizer, optimizer_step  # noqa: E402
from core.trial import DataSpec, TrialSpec, build_model, open_data, run_trial  # noqa: E402
from core.validity import validate  # noqa: E402
from core.world import WorldConfig  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def trial_spec(args: argparse.Namespace) -> TrialSpec:
    world = WorldConfig(videos_per_class=args.videos_per_class, height=args.world_size, width=args.world_size,
                        fps=args.fps)  # fmt: skip
    return TrialSpec(
        data=DataSpec(world=world, clip_frames=args.frames, cache_root=args.cache),
        video_encoder="r2plus1d_18",
        audio_encoder="resnet9",
        feature_dim=512,
        train=TrainSpec(steps=args.steps, lr=0.01, num_workers=args.num_workers, compile=args.compile),
        eval=EvalSpec(clips_per_video=args.eval_clips),
        augment=AugmentSpec(video=VideoAugmentSpec(crop_size=args.crop, flip_p=0.0)),
        device=args.device,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None


def end_to_end(config, spec: TrialSpec, warmup: int) -> dict:
    device = spec.resolved_device()
    _reset_peak(device)
    result = run_trial(config, spec)
    steady = [report.clips_per_second for report in result.train.history[warmup:]]
    return {
        "clips_per_s": round(statistics.median(steady), 1),
        "clips_per_s_whole_run": round(result.train.clips_per_second, 1),
        "steps": result.train.steps,
        "proxy_eval_s": round(result.evaluation.seconds, 2),
        "peak_gpu_mib": _peak_mib(device),
    }


def compute_ceiling(config, spec: TrialSpec, warmup: int) -> dict:
    """The training step of `core.pretrain.pretrain` on one fixed batch already on the device."""
    device = spec.resolved_device()
    clips, _ = open_data(spec.data)
    torch.manual_seed(0)
    model = build_model(spec, device).to(device).train()
    embed_video, embed_audio = embedders(model, spec.train.compile)
    optimizer = make_optimizer(model, spec.train)
    structure = validate(config).to(device)
    sampled = next(iter(GDTBatchStream(clips, config, ClipSpec(spec.data.clip_frames))))
    inputs = BatchAugmenter(clips.sample_rate, spec.augment, device)(sampled.raw)
    autocast = bf16_autocast(device, spec.train)
    _reset_peak(device)
    seconds = []
    for _ in range(warmup + spec.train.steps):
        _sync(device)
        started = time.perf_counter()
        with autocast:
            loss = batch_loss(embed_video, embed_audio, inputs, structure, config.temperature)
        optimizer_step(model, loss, optimizer, spec.train.grad_clip)
        loss.item()  # the real loop reads the loss every step too
        _sync(device)
        seconds.append(time.perf_counter() - started)
    step = statistics.median(seconds[warmup:])
    return {"clips_per_s": round(config.batch_size / step, 1), "peak_gpu_mib": _peak_mib(device)}


def machine(device: torch.device) -> dict:
    info = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "device": str(device),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def render(results: dict) -> str:
    m, s, e, c = results["machine"], results["setup"], results["end_to_end"], results["ceiling"]
    name = m.get("gpu", m["device"])
    return "\n".join([
        f"# Paper encoders, one trial on {name}",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, torch {m['torch']}, device {name};"
        f" load average {m['load_average']}.",
        f"Setup: {s['video_encoder']} + {s['audio_encoder']}, {s['frames']} × {s['crop']}² clips,"
        f" {s['clips_per_batch']} clips per batch ({s['config']}), bf16 autocast {s['bf16']},"
        f" torch.compile {s['compile']}, {s['num_workers']} loader processes, median over {s['timed_steps']}"
        f" steps after {s['warmup_steps']} warm-up steps.",
        "",
        "| loop | clips/s | peak GPU MiB |",
        "|---|---:|---:|",
        f"| end to end (clip cache → augment on device → train; peak includes the proxy evaluation)"
        f" | {e['clips_per_s']} | {e['peak_gpu_mib']} |",
        f"| compute ceiling (one batch already on the device) | {c['clips_per_s']} | {c['peak_gpu_mib']} |",
        "",
        f"End to end / ceiling: **{results['ratio']:.2f}** (1.0: the data path keeps the GPU busy)."
        f" Whole-run end-to-end clips/s, warm-up included: {e['clips_per_s_whole_run']}.",
        f"Proxy evaluation (HMDB-51 format, {s['eval_clips']} clips per video): {e['proxy_eval_s']} s.",
    ]) + "\n"  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--world-size", type=int, default=128)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--videos-per-class", type=int, default=4)
    parser.add_argument("--clip-budget", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--num-workers", type=int, default=4)
    parser.add_argument("--eval-clips", type=int, default=2)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--cache", default=None, help="clip cache root (default: the user cache)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_trial_gpu: no CUDA device here (use --device cpu to check the script)")

    config = preset("iccv-l", clip_budget=args.clip_budget)
    spec = trial_spec(args)
    spec = replace(spec, train=replace(spec.train, steps=args.warmup_steps + args.steps))
    started = time.perf_counter()
    open_data(spec.data)  # render the world into the clip cache before timing
    print(f"clip caches ready in {time.perf_counter() - started:.1f} s", flush=True)
    end = end_to_end(config, spec, args.warmup_steps)
    print("end to end", json.dumps(end), flush=True)
    ceiling = compute_ceiling(config, replace(spec, train=replace(spec.train, steps=args.steps)), args.warmup_steps)
    print("ceiling", json.dumps(ceiling), flush=True)
    results = {
        "machine": machine(device),
        "setup": {
            "config": "iccv-l", "video_encoder": spec.video_encoder, "audio_encoder": spec.audio_encoder,
            "frames": args.frames, "crop": args.crop, "clips_per_batch": config.batch_size,
            "bf16": device.type == "cuda", "compile": args.compile, "num_workers": args.num_workers,
            "timed_steps": args.steps, "warmup_steps": args.warmup_steps, "eval_clips": args.eval_clips,
        },  # fmt: skip
        "end_to_end": end,
        "ceiling": ceiling,
        "ratio": end["clips_per_s"] / ceiling["clips_per_s"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trial_gpu.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "trial_gpu.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
