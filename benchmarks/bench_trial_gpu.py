"""The paper encoders on a GPU: is the data path or the compute the bottleneck?

R(2+1)D-18 on 30 x 112 x 112 clips plus ResNet-9 on 1 s log-mel spectrograms (ICCV A.3.4), the
`iccv-l` configuration, on the data of `core.trial.paper_world_trial` (the world rendered at 128 x 128
and 30 fps). Two loops over the same model, loss and batch shapes, for each clip budget:

- **end to end**: `core.trial.run_trial`, i.e. GDT batches sampled and cut from the clip cache (in
  `--num-workers` loader processes), augmented on the GPU, encoded, eq. (1), optimiser step; then the
  HMDB-51-format proxy evaluation. Clips/s is the steady rate: the clips of the steps after
  `--warmup-steps` over the time they took (a step's time is the time between two loss readings).
- **compute ceiling**: one real batch, augmented once and kept on the GPU, trained on again and again
  (forward, eq. (1), backward, step; nothing else), the most the GPU can do at these shapes.

The ratio end-to-end / ceiling says how much of the GPU the data path leaves unused. Also the peak
GPU memory of each loop, the proxy evaluation's seconds, and how many host-device synchronisations a
training step makes (torch.cuda.set_sync_debug_mode; 1 is the loss read of the previous step).
Results, with the device's name, go to benchmarks/results/trial_gpu.json and .md.

    python benchmarks/bench_trial_gpu.py                      # on a CUDA machine
    python benchmarks/bench_trial_gpu.py --device cpu --frames 8 --crop 32 --world-size 32 --steps 4 \
        --warmup-steps 1 --clip-budgets 32 --out /tmp/bench   # checks the script on a CPU; numbers meaningless
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.data.augment import BatchAugmenter, VideoAugmentSpec  # noqa: E402
from core.data.batches import GDTBatchStream, batch_loader  # noqa: E402
from core.data.clips import ClipSpec  # noqa: E402
from core.gdt.presets import preset  # noqa: E402
from core.gdt.validity import validate  # noqa: E402
from core.train.pretrain import batch_loss, bf16_autocast, embedders, make_optimizer, optimizer_step  # noqa: E402
from core.trial import TrialSpec, build_model, open_data, paper_world_trial, run_trial  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def trial_spec(args: argparse.Namespace) -> TrialSpec:
    """`core.trial.paper_world_trial`, with the sizes the command line overrides (to check on a CPU)."""
    spec = paper_world_trial()
    world = replace(spec.data.world, height=args.world_size, width=args.world_size, fps=args.fps)
    return replace(
        spec,
        data=replace(spec.data, world=world, clip_frames=args.frames, cache_root=args.cache),
        train=replace(spec.train, lr=0.01, optimizer="sgd", num_workers=args.num_workers, compile=args.compile),
        augment=replace(spec.augment, video=VideoAugmentSpec(crop_size=args.crop, flip_p=0.0)),
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
    steady = result.train.history[warmup:]
    seconds = sum(config.batch_size / report.clips_per_second for report in steady)
    return {
        "clips_per_s": round(len(steady) * config.batch_size / seconds, 1),
        "clips_per_s_median_step": round(statistics.median(r.clips_per_second for r in steady), 1),
        "clips_per_s_whole_run": round(result.train.clips_per_second, 1),
        "steps": result.train.steps,
        "proxy_eval_s": round(result.evaluation.seconds, 2),
        "gpu_seconds": round(result.environment["gpu_seconds"], 1),
        "peak_gpu_mib": _peak_mib(device),
    }


def compute_ceiling(config, spec: TrialSpec, warmup: int) -> dict:
    """The training step of `core.train.pretrain.pretrain` on one fixed batch already on the device."""
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
        loss.item()  # the real loop reads every loss too
        _sync(device)
        seconds.append(time.perf_counter() - started)
    step = statistics.median(seconds[warmup:])
    return {"clips_per_s": round(config.batch_size / step, 1), "peak_gpu_mib": _peak_mib(device)}


def data_path_split(config, spec: TrialSpec, steps: int = 10) -> dict:
    """Where the end-to-end step's extra time goes: the host's wait for the loader's next batch, and the
    batch's copy to the device plus its augmentation (crops, flips, resampling, log-mel), each timed alone
    with the device synchronised. On one CUDA stream the augmentation's kernels run between two training
    steps, so its device time adds to every step that the ceiling does not pay."""
    device = spec.resolved_device()
    clips, _ = open_data(spec.data)
    augmenter = BatchAugmenter(clips.sample_rate, spec.augment, device)
    batches = iter(batch_loader(GDTBatchStream(clips, config, ClipSpec(spec.data.clip_frames)), spec.train.num_workers))
    waits, augments = [], []
    for i in range(steps + 2):  # the first two: the loader starts and the first batch allocates
        started = time.perf_counter()
        sampled = next(batches)
        waited = time.perf_counter() - started
        _sync(device)
        started = time.perf_counter()
        augmenter(sampled.raw)
        _sync(device)
        if i >= 2:
            waits.append(waited)
            augments.append(time.perf_counter() - started)
    return {"loader_wait_ms": round(1e3 * statistics.median(waits), 2),
            "copy_and_augment_ms": round(1e3 * statistics.median(augments), 2)}  # fmt: skip


def syncs_per_step(config, spec: TrialSpec, steps: int = 3) -> dict:
    """Host-device synchronisations in the training process's part of a step (batch to the device,
    augmentation, forward, eq. (1), backward, optimiser step), counted by torch's sync debug mode."""
    import warnings

    device = spec.resolved_device()
    if device.type != "cuda":
        return {"syncs_per_step": None, "where": []}
    clips, _ = open_data(spec.data)
    model = build_model(spec, device).to(device).train()
    embed_video, embed_audio = embedders(model, False)
    optimizer = make_optimizer(model, spec.train)
    structure = validate(config).to(device)
    augmenter = BatchAugmenter(clips.sample_rate, spec.augment, device)
    batches = iter(batch_loader(GDTBatchStream(clips, config, ClipSpec(spec.data.clip_frames))))
    autocast = bf16_autocast(device, spec.train)
    for _ in range(2):  # warm-up: the first steps allocate
        with autocast:
            loss = batch_loss(embed_video, embed_audio, augmenter(next(batches).raw), structure, config.temperature)
        optimizer_step(model, loss, optimizer, spec.train.grad_clip)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                raw = next(batches).raw
                with autocast:
                    loss = batch_loss(embed_video, embed_audio, augmenter(raw), structure, config.temperature)
                optimizer_step(model, loss, optimizer, spec.train.grad_clip)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # torch prints once per process that sync debug mode is a prototype: a notice, not a synchronisation
    syncs = [w for w in caught if not str(w.message).startswith("Synchronization debug mode is a prototype")]
    where = sorted({str(w.message).splitlines()[0][:160] + f" ({w.filename}:{w.lineno})" for w in syncs})
    return {"syncs_per_step": len(syncs) / steps, "where": where}


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
    m, s = results["machine"], results["setup"]
    name = m.get("gpu", m["device"])
    lines = [
        f"# Paper encoders, one trial on {name}",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, torch {m['torch']}, device {name};"
        f" load average {m['load_average']}.",
        f"Setup: {s['video_encoder']} + {s['audio_encoder']}, {s['frames']} × {s['crop']}² clips"
        f" ({s['config']}), bf16 autocast {s['bf16']}, torch.compile {s['compile']}, {s['num_workers']} loader"
        f" processes; end to end: the steady rate over {s['timed_steps']} steps after {s['warmup_steps']}"
        " warm-up steps; ceiling: the median step.",
        "",
        "| clips per batch | end to end clips/s | ceiling clips/s | end to end / ceiling | syncs per step"
        " | peak GPU MiB (e2e incl. proxy / ceiling) | proxy evaluation s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        e, c = run["end_to_end"], run["ceiling"]
        lines.append(
            f"| {run['clips_per_batch']} | {e['clips_per_s']} | {c['clips_per_s']} | **{run['ratio']:.2f}**"
            f" | {run['syncs']['syncs_per_step']} | {e['peak_gpu_mib']} / {c['peak_gpu_mib']} | {e['proxy_eval_s']} |"
        )
    lines += ["", "Where an end-to-end step's extra time goes (medians, each part timed alone, device synchronised):",
              "", "| clips per batch | end-to-end step ms | ceiling step ms | copy to the device + augmentation ms"
              " | host wait for the loader ms |", "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for run in results["runs"]:
        d = run.get("data_path")
        if d:
            lines.append(f"| {run['clips_per_batch']} | {d['e2e_step_ms']} | {d['ceiling_step_ms']}"
                         f" | {d['copy_and_augment_ms']} | {d['loader_wait_ms']} |")  # fmt: skip
    lines += ["", "An end to end / ceiling ratio of 1.0 means the data path keeps the GPU busy."
              " Synchronisations seen in a step:"]  # fmt: skip
    for run in results["runs"]:
        lines += [f"- {run['clips_per_batch']} clips: " + ("; ".join(run["syncs"]["where"]) or "none")]
    return "\n".join(lines) + "\n"


def trial_arguments(description: str) -> argparse.ArgumentParser:
    """The options `trial_spec` and the data preparation read (device, clip sizes, world, loader, cache, output)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--world-size", type=int, default=128)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--num-workers", type=int, default=4)
    parser.add_argument("--render-processes", type=int, default=os.cpu_count())
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--cache", default=None, help="clip cache root (default: the user cache)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def main() -> None:
    parser = trial_arguments(__doc__.splitlines()[0])
    parser.add_argument("--clip-budgets", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_trial_gpu: no CUDA device here (use --device cpu to check the script)")

    spec = trial_spec(args)
    spec = replace(spec, train=replace(spec.train, steps=args.warmup_steps + args.steps))
    started = time.perf_counter()
    open_data(spec.data, processes=args.render_processes)  # both worlds rendered before anything is timed
    print(f"clip caches ready in {time.perf_counter() - started:.1f} s", flush=True)
    runs = []
    for budget in args.clip_budgets:
        config = preset("iccv-l", clip_budget=budget)
        end = end_to_end(config, spec, args.warmup_steps)
        print(budget, "end to end", json.dumps(end), flush=True)
        ceiling = compute_ceiling(config, replace(spec, train=replace(spec.train, steps=args.steps)),
                                  args.warmup_steps)  # fmt: skip
        print(budget, "ceiling", json.dumps(ceiling), flush=True)
        syncs = syncs_per_step(config, spec)
        print(budget, "syncs", json.dumps(syncs), flush=True)
        split = data_path_split(config, spec)
        split |= {"e2e_step_ms": round(1e3 * config.batch_size / end["clips_per_s"], 2),
                  "ceiling_step_ms": round(1e3 * config.batch_size / ceiling["clips_per_s"], 2)}  # fmt: skip
        print(budget, "data path", json.dumps(split), flush=True)
        runs.append({"clips_per_batch": config.batch_size, "end_to_end": end, "ceiling": ceiling, "syncs": syncs,
                     "data_path": split, "ratio": end["clips_per_s"] / ceiling["clips_per_s"]})  # fmt: skip
    info = machine(device)
    results = {
        "device": info.get("gpu", str(device)),
        "e2e_over_ceiling": {str(run["clips_per_batch"]): round(run["ratio"], 3) for run in runs},
        "machine": info,
        "setup": {
            "config": "iccv-l", "video_encoder": spec.video_encoder, "audio_encoder": spec.audio_encoder,
            "frames": args.frames, "crop": args.crop, "bf16": device.type == "cuda", "compile": args.compile,
            "num_workers": args.num_workers, "timed_steps": args.steps, "warmup_steps": args.warmup_steps,
            "eval_clips": spec.eval.clips_per_video, "world": asdict(spec.data.world),
        },  # fmt: skip
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trial_gpu.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "trial_gpu.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
