"""Generalized contrastive loss: forward + backward time and peak memory for K = 64 ... 4096 (d = 256).

Also the vectorised loss against the brute-force eq. (1) of the test suite at small K, as a ratio
measured in the same run. Each (K, device) point runs in a fresh subprocess so that its peak memory
(ru_maxrss on CPU, torch.cuda.max_memory_allocated on GPU) is its own.

    python benchmarks/bench_loss.py [--device cuda] [--sizes 64 256 1024 4096] [--compiled-sizes 4096]

`--compiled-sizes` also times `torch.compile(gdt_loss)` at those K (one fused kernel per pass instead of
one per operation). The JSON holds `fwd_bwd_ms_k4096` (eager) for the issue's target of <= 1 ms on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.gdt.loss import gdt_loss  # noqa: E402
from core.gdt.presets import preset  # noqa: E402
from core.gdt.validity import validate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PRESET = "iccv-l"  # DS d, TS d, MOD i, TR i: the paper's best row, 8 clips per video


def machine(device: str) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_1_5_15": os.getloadavg(),  # other work on the machine inflates the timings
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_loss(k: int, device: str, dim: int = 256, repeats: int = 20, compiled: bool = False) -> dict:
    """Median forward+backward seconds and peak memory for one batch of K embeddings."""
    structure = validate(preset(PRESET, clip_budget=k)).to(device)
    loss = torch.compile(gdt_loss) if compiled else gdt_loss
    torch.manual_seed(0)
    z = torch.randn(k, dim, device=device, requires_grad=True)
    before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    warmup = 3 if compiled else 2  # the first compiled call compiles
    for _ in range(repeats + warmup):
        _sync(device)
        start = time.perf_counter()
        loss(z, structure).backward()
        _sync(device)
        times.append(time.perf_counter() - start)
        z.grad = None
    peak = (
        torch.cuda.max_memory_allocated()
        if device == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_rss) * 1024
    )
    return {
        "k": k,
        "dim": dim,
        "device": device,
        "compiled": compiled,
        "median_s": statistics.median(times[warmup:]),
        "peak_bytes": int(peak),
        "peak_kind": "cuda_max_allocated" if device == "cuda" else "rss_increase",
    }


def brute_force_ratio(k: int = 32, dim: int = 32) -> dict:
    """Vectorised vs the test suite's explicit-loop eq. (1), forward + backward, in this run."""
    from core.gdt.sampling import HierarchicalSampler
    from tests.core.gdt.test_loss import brute_force_eq1

    config = preset(PRESET, clip_budget=k)
    structure = validate(config)
    tuples = HierarchicalSampler(config, num_videos=config.k_videos).sample().tuples
    z = torch.randn(k, dim, dtype=torch.float64)

    def run(fn, repeats):
        times = []
        for _ in range(repeats):
            x = z.clone().requires_grad_()
            start = time.perf_counter()
            fn(x).backward()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    fast = run(lambda x: gdt_loss(x, structure), 50)
    slow = run(lambda x: brute_force_eq1(x, tuples, config), 3)
    return {"k": k, "dim": dim, "vectorised_s": fast, "brute_force_s": slow, "speedup": slow / fast}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--compiled-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)  # internal: one K in this process
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.point:
        print(json.dumps(time_loss(args.point, args.device, compiled=args.compiled)))
        return

    points = []
    for k, compiled in [(k, False) for k in args.sizes] + [(k, True) for k in args.compiled_sizes]:
        out = subprocess.run(
            [sys.executable, __file__, "--device", args.device, "--point", str(k)] + ["--compiled"] * compiled,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        points.append(json.loads(out.strip().splitlines()[-1]))
        print(f"K={k:5d}{' compiled' if compiled else ''}  {points[-1]['median_s'] * 1e3:9.3f} ms"
              f"  peak {points[-1]['peak_bytes'] / 2**20:8.1f} MiB")  # fmt: skip
    result = {
        "benchmark": "gdt_loss forward+backward",
        "preset": PRESET,
        "machine": machine(args.device),
        "points": points,
    }
    for p in points:
        if p["k"] == 4096:
            result["fwd_bwd_ms_k4096" + ("_compiled" if p["compiled"] else "")] = round(p["median_s"] * 1e3, 3)
    if args.device == "cpu":
        result["vectorised_vs_brute_force"] = brute_force_ratio()
        print(f"vectorised vs brute force at K=32: {result['vectorised_vs_brute_force']['speedup']:.0f}x faster")
    RESULTS.mkdir(exist_ok=True)
    name = f"loss_{args.device}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Loss forward+backward ({args.device}, d=256, preset {PRESET})",
        "",
        f"Machine: {result['machine']}",
        "",
        "| K | torch.compile | median ms | peak MiB |",
        "|---:|---|---:|---:|",
    ]
    lines += [
        f"| {p['k']} | {'yes' if p['compiled'] else 'no'} | {p['median_s'] * 1e3:.3f} | {p['peak_bytes'] / 2**20:.1f} |"
        for p in points
    ]
    if "vectorised_vs_brute_force" in result:
        r = result["vectorised_vs_brute_force"]
        lines += [
            "",
            f"Vectorised vs brute-force eq. (1) at K={r['k']}, d={r['dim']}: "
            f"{r['vectorised_s'] * 1e3:.3f} ms vs {r['brute_force_s'] * 1e3:.1f} ms ({r['speedup']:.0f}x)",
        ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
