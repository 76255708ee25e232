"""Profile one training step's data path on the device: the copy to the device and BatchAugmenter.

`bench_trial_gpu.py` finds that copying and augmenting a 32-clip batch of the paper trial takes about as
long as the whole gap between an end-to-end step and the compute ceiling, and barely more at 128 clips:
a fixed cost per batch. This names the operators it goes to (torch.profiler, device and host time), to
`benchmarks/results/augment_profile_gpu.md` (or `--out`).

    python benchmarks/profile_augment_gpu.py --clips 32
    python benchmarks/profile_augment_gpu.py --device cpu --frames 8 --crop 32 --world-size 32 --out /tmp/p
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_trial_gpu import prepare_data, trial_arguments, trial_spec  # noqa: E402
from core.data.augment import BatchAugmenter  # noqa: E402
from core.data.batches import GDTBatchStream  # noqa: E402
from core.data.clips import ClipSpec  # noqa: E402
from core.gdt.presets import preset  # noqa: E402
from core.trial import open_data  # noqa: E402


def main() -> None:
    parser = trial_arguments(__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    spec = trial_spec(args)
    prepare_data(spec, args.render_processes)
    device = spec.resolved_device()
    clips, _ = open_data(spec.data)
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    lines = [f"# Where copying and augmenting a batch goes ({name})", ""]
    for budget in args.clips:
        config = preset("iccv-l", clip_budget=budget)
        augmenter = BatchAugmenter(clips.sample_rate, spec.augment, device)
        stream = iter(GDTBatchStream(clips, config, ClipSpec(spec.data.clip_frames)))
        batches = [
            next(stream).raw.pin_memory() if device.type == "cuda" else next(stream).raw
            for _ in range(args.batches + 2)
        ]
        for raw in batches[:2]:  # warm-up: resamplers, allocator
            augmenter(raw)
        if device.type == "cuda":
            torch.cuda.synchronize()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for raw in batches[2:]:
                augmenter(raw)
            if device.type == "cuda":
                torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by=sort, row_limit=25, max_name_column_width=60)
        kernels = sum(e.count for e in prof.key_averages() if e.device_type.name == "CUDA")
        lines += [
            f"## {config.batch_size} clips per batch, {args.batches} batches (totals over them)",
            "",
            f"device kernels launched per batch: {kernels / args.batches:.0f}",
            "",
            "```",
            table,
            "```",
            "",
        ]
        print("\n".join(lines[-6:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "augment_profile_gpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
