"""Clip cache: clips per second read from the cache vs decoded directly with torchcodec, and peak memory.

For each dataset the procedural world is exported as real .mp4 files (H.264 + AAC, Kinetics-style
folder), the folder is decoded once into a clip cache, and the *same* random 1-second clips (video,
start) are then read in two fresh subprocesses:

* ``cache``:  ``ClipCache.clip`` + a copy into torch tensors (what a data loader does);
* ``direct``: open ``VideoDecoder`` (approximate seek, the fast mode) and ``AudioDecoder`` (resampled
  to the cache's rate, mono) on the file and decode the clip's frames and samples.

Each mode runs in its own process so that its peak RSS (VmHWM) is its own; the RSS after the
imports is reported too. The page cache is warm for both modes (the files were just written). Also
recorded: the time to generate the default world and to build its cache.

    python benchmarks/bench_clip_cache.py [--clips 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"

# name -> (WorldConfig overrides, decode short side). "small" is the default world's frame format;
# "128px" is the cache's default short side at 25 fps, closer to real pretraining data.
DATASETS = {
    "world 32x32 @ 12 fps": ({"videos_per_class": 4}, None),
    "world 128x128 @ 25 fps": ({"videos_per_class": 2, "height": 128, "width": 128, "fps": 25}, 128),
}


def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mib() -> float:
    """Peak resident memory of this process in MiB.

    VmHWM rather than ru_maxrss: Linux carries ru_maxrss across exec, so a child started from a
    parent holding a large world would report the parent's peak.
    """
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, cache_path: str, folder: str, clips_json: str) -> None:
    """Read every clip once in this process; print a JSON line with the rate and memory."""
    import numpy as np
    import torch
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    from core.data.clip_cache import ClipCache

    torch.set_num_threads(1)
    cache = ClipCache(cache_path)
    clips = json.loads(clips_json)
    rss_after_imports = _rss_mib()
    fps, sr = cache.fps, cache.sample_rate

    def read(i: int, start: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if mode == "cache":
            frames, audio = cache.clip(i, start, n)
            return torch.from_numpy(np.array(frames)), torch.from_numpy(np.array(audio))
        path = str(Path(folder) / cache.names[i])
        k0 = int(np.floor(start * fps + 1e-6))
        times = ((k0 + np.arange(n) + 0.5) / fps).tolist()
        frames = VideoDecoder(path, seek_mode="approximate").get_frames_played_at(times).data
        t0 = k0 / fps
        audio = AudioDecoder(path, sample_rate=sr, num_channels=1).get_samples_played_in_range(t0, t0 + n / fps)
        return frames, audio.data[0]

    read(*clips[0])  # warm-up: first-call initialisation of the libraries
    checksum = 0
    start_t = time.perf_counter()
    for i, start, n in clips:
        frames, audio = read(i, start, n)
        checksum += int(frames.shape[0]) + int(audio.shape[0])
    seconds = time.perf_counter() - start_t
    print(
        json.dumps(
            {
                "mode": mode,
                "clips": len(clips),
                "seconds": seconds,
                "clips_per_s": len(clips) / seconds,
                "rss_after_imports_mib": rss_after_imports,
                "peak_rss_mib": _rss_mib(),
                # Resident now, split: private memory vs file-backed pages (the cache's memory maps,
                # shared with every other process through the page cache).
                "rss_anon_mib": _status_mib("RssAnon"),
                "rss_file_mib": _status_mib("RssFile"),
                "checksum": checksum,
            }
        )
    )


def _run_child(mode: str, cache_path: Path, folder: Path, clips: list) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(cache_path), str(folder), json.dumps(clips)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_dataset(name: str, overrides: dict, short_side: int | None, n_clips: int, tmp: Path) -> dict:
    import numpy as np

    from core.data.clip_cache import build_folder_cache
    from core.data.video_folder import DecodeSettings
    from core.data.world import WorldConfig
    from core.data.world_export import export_unlabeled

    cfg = WorldConfig(**overrides)
    t = time.perf_counter()
    folder = export_unlabeled(cfg, tmp / "videos" / name.split()[1], show_progress=False)
    export_s = time.perf_counter() - t
    settings = DecodeSettings(fps=cfg.fps, sample_rate=cfg.sample_rate, short_side=short_side, min_duration_s=1.0)
    t = time.perf_counter()
    cache = build_folder_cache(folder, tmp / "cache", settings, show_progress=False)
    build_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    n = cfg.fps  # 1-second clips
    clips = []
    for _ in range(n_clips):
        i = int(rng.integers(cache.num_videos))
        k0 = int(rng.integers(cache.num_frames(i) - n + 1))
        clips.append([i, k0 / cfg.fps, n])
    results = {mode: _run_child(mode, cache.path, folder, clips) for mode in ("cache", "direct")}
    assert results["cache"]["checksum"] == results["direct"]["checksum"], "the two modes read different clips"
    disk = sum(f.stat().st_size for f in cache.path.iterdir())
    files = sum(f.stat().st_size for f in folder.iterdir())
    return {
        "dataset": name,
        "videos": cache.num_videos,
        "frame_shape": list(cache.frames(0).shape[1:]),
        "fps": cfg.fps,
        "sample_rate": cfg.sample_rate,
        "clip_frames": n,
        "export_s": export_s,
        "cache_build_s": build_s,
        "cache_bytes": disk,
        "mp4_bytes": files,
        "cache": results["cache"],
        "direct": results["direct"],
        "speedup": results["cache"]["clips_per_s"] / results["direct"]["clips_per_s"],
    }


def bench_world_generation(tmp: Path) -> dict:
    from core.data.clip_cache import build_world_cache
    from core.data.world import WorldConfig, generate_world

    cfg = WorldConfig()
    t = time.perf_counter()
    world = generate_world(cfg)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    build_world_cache(cfg, tmp / "world-cache", show_progress=False)
    build_s = time.perf_counter() - t
    return {"videos": world.num_videos, "generate_s": gen_s, "world_cache_build_s": build_s}


def machine() -> dict:
    import torch
    import torchcodec

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torchcodec": torchcodec.__version__,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300, help="clips read per mode and dataset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        world = bench_world_generation(tmp)
        rows = [bench_dataset(name, ov, side, args.clips, tmp) for name, (ov, side) in DATASETS.items()]
    report = {"machine": machine(), "world_generation": world, "datasets": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "clip_cache.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Clip cache vs direct torchcodec decoding (CPU)",
        "",
        f"Machine: {report['machine']}",
        "",
        f"Same {args.clips} random 1-second clips (frames + audio) per dataset, read in a fresh process per "
        "mode; warm page cache. Direct = open VideoDecoder (approximate seek) + AudioDecoder per clip.",
        "",
        "| dataset | videos | frame | cache clips/s | direct clips/s | speed-up | peak RSS cache / direct MiB "
        "(after imports) | cache build s | cache MiB | mp4 MiB |",
        "|---|---:|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        c, d = r["cache"], r["direct"]
        lines.append(
            f"| {r['dataset']} | {r['videos']} | {'x'.join(map(str, r['frame_shape']))} | {c['clips_per_s']:.0f} | "
            f"{d['clips_per_s']:.0f} | {r['speedup']:.1f}x | {c['peak_rss_mib']:.0f} / {d['peak_rss_mib']:.0f} "
            f"({c['rss_after_imports_mib']:.0f} / {d['rss_after_imports_mib']:.0f}) | {r['cache_build_s']:.1f} | "
            f"{r['cache_bytes'] / 2**20:.1f} | {r['mp4_bytes'] / 2**20:.1f} |"
        )
    lines += [
        "",
        "Peak RSS counts the file-backed pages of the memory-mapped cache that were read; they live in "
        "the page cache and are shared by every trial and worker. Private (anonymous) memory at the end, "
        "cache / direct: "
        + "; ".join(
            f"{r['dataset']}: {r['cache']['rss_anon_mib']:.0f} / {r['direct']['rss_anon_mib']:.0f} MiB" for r in rows
        )
        + ".",
        "",
        f"Default world ({world['videos']} videos, 4 s, 32x32 @ 12 fps, 16 kHz): generated in "
        f"{world['generate_s']:.1f} s; rendered straight into its clip cache in {world['world_cache_build_s']:.1f} s.",
        "",
    ]
    (RESULTS / "clip_cache.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
