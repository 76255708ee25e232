"""The clip cache: every video decoded once into a compact, memory-mapped on-disk store.

A study's trials and their data-loader workers never decode video: they read frames and audio from
this store, which the OS page cache shares between processes. Layout of one cache directory::

    <cache_root>/<kind>-<key>/
        meta.json     settings, dataset identity, names, labels, splits, the skip report and the
                      truncated files kept (``report``, ``truncated``); written last
        index.npy     (N, 7) int64: frame offset, T, C, H, W, audio offset, samples
        frames.npy    every video's (T, C, H, W) uint8 frames, concatenated flat
        audio.npy     every video's (samples,) float32 mono waveform, concatenated flat
    <cache_root>/<kind>-<key>.lock

``key`` hashes the dataset's identity (the world's settings, or a folder's relative paths, sizes and
modification times) together with the decode settings, so a changed setting builds a new cache and
an unchanged one is reused. A build decodes each video into ``parts/<i>.npz`` (or records
``parts/<i>.skip.json``), each written under a temporary name and renamed, so an interrupted build
resumes where it stopped; the parts are then packed into the two flat files and ``meta.json`` is
written last, so a cache is either complete or not there. A file lock serialises builders: a second
process asking for the same cache waits and then opens the finished one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from core.data.video_folder import (
    VIDEO_EXTENSIONS,
    BadVideoError,
    DecodeSettings,
    SkippedFile,
    decode_video_file,
    folder_identity,
    list_video_files,
    unusable_entries,
)
from core.data.world import WorldConfig, generate_video, world_items
from core.errors import GDTSearchError

CACHE_FORMAT = 1  # bump when the on-disk layout changes
_INDEX_COLUMNS = ("frame_offset", "T", "C", "H", "W", "audio_offset", "samples")


def default_cache_root() -> Path:
    """``$GDT_SEARCH_CACHE`` or ``~/.cache/gdt-search``, plus ``clips``."""
    base = os.environ.get("GDT_SEARCH_CACHE") or Path.home() / ".cache" / "gdt-search"
    return Path(base) / "clips"


class ClipCache:
    """A finished cache, opened read-only. Cheap to pickle: memory maps are reopened per process.

    ``frames(i)`` is a (T, C, H, W) uint8 view and ``audio(i)`` a (samples,) float32 view into the
    memory-mapped files; copy what you keep. Video ``i`` is the i-th *usable* video (skipped files
    are only in ``report``); ``names[i]`` is its file's path relative to the folder or the world
    video's name. ``built_now`` is how many videos this process decoded to produce the cache (0 when
    it was reused).
    """

    def __init__(self, path: str | Path, built_now: int = 0) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.path} is not a finished clip cache (no meta.json)")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        self.index = np.load(self.path / "index.npy")
        self.built_now = built_now
        self._frames: np.ndarray | None = None
        self._audio: np.ndarray | None = None

    # -- metadata ----------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self.meta["key"]

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def sample_rate(self) -> int:
        return int(self.meta["sample_rate"])

    @property
    def num_videos(self) -> int:
        return len(self.index)

    def __len__(self) -> int:
        return self.num_videos

    @property
    def names(self) -> list[str]:
        return self.meta["names"]

    @property
    def class_names(self) -> list[str]:
        return self.meta.get("class_names") or []

    @property
    def labels(self) -> np.ndarray | None:
        labels = self.meta.get("labels")
        return None if labels is None else np.asarray(labels, dtype=np.int64)

    @property
    def splits(self) -> np.ndarray | None:
        """(N, num_splits) HMDB-style tags (1 train, 2 test, 0 unused) when the source has them."""
        splits = self.meta.get("splits")
        return None if splits is None else np.asarray(splits, dtype=np.int64)

    @property
    def report(self) -> list[SkippedFile]:
        """The files left out, and why."""
        return [SkippedFile(p, r) for p, r in self.meta["report"]]

    @property
    def truncated(self) -> list[SkippedFile]:
        """The videos kept although they decode to much less than their header declares, and how much."""
        return [SkippedFile(p, r) for p, r in self.meta.get("truncated", [])]

    def num_frames(self, i: int) -> int:
        return int(self.index[i, 1])

    def duration(self, i: int) -> float:
        return self.num_frames(i) / self.fps

    # -- data --------------------------------------------------------------------------------------
    def _maps(self) -> tuple[np.ndarray, np.ndarray]:
        if self._frames is None or self._audio is None:
            self._frames = np.load(self.path / "frames.npy", mmap_mode="r")
            self._audio = np.load(self.path / "audio.npy", mmap_mode="r")
        return self._frames, self._audio

    def frames(self, i: int) -> np.ndarray:
        """Video i's frames, (T, C, H, W) uint8, memory-mapped."""
        off, t, c, h, w = (int(v) for v in self.index[i, :5])
        return self._maps()[0][off : off + t * c * h * w].reshape(t, c, h, w)

    def audio(self, i: int) -> np.ndarray:
        """Video i's waveform, (samples,) float32 mono, memory-mapped."""
        off, n = int(self.index[i, 5]), int(self.index[i, 6])
        return self._maps()[1][off : off + n]

    def clip(self, i: int, start_s: float, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """``num_frames`` frames from the frame shown at ``start_s`` and the audio of the same span.

        Returns memory-mapped views: frames (num_frames, C, H, W) and round(num_frames / fps *
        sample_rate) audio samples starting at the first frame's start time. Speed and direction
        (subsampling, reversal) are the caller's business.
        """
        total = self.num_frames(i)
        k0 = int(np.floor(start_s * self.fps + 1e-6))
        if k0 < 0 or k0 + num_frames > total:
            raise ValueError(f"clip [{k0}, {k0 + num_frames}) is outside video {i}'s {total} frames")
        n = round(num_frames * self.sample_rate / self.fps)
        a0 = round(k0 * self.sample_rate / self.fps)
        wave = self.audio(i)
        if a0 + n > len(wave):  # the last clip may round one sample past the end
            a0 = len(wave) - n
        return self.frames(i)[k0 : k0 + num_frames], wave[a0 : a0 + n]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_frames"] = state["_audio"] = None  # each process maps the files itself
        return state


# A source yields, for video i, (frames, audio) or raises BadVideoError.
# Video i -> (frames, audio), or (frames, audio, note) where note says what is wrong with a kept video.
Decode = Callable[[int], tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, str | None]]


def _cache_key(payload: dict) -> str:
    return hashlib.sha256(json.dumps({"format": CACHE_FORMAT, **payload}, sort_keys=True).encode()).hexdigest()[:20]


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    # Rename-into-place makes a file appear whole or not at all if the builder process dies (no fsync:
    # a process crash, not a power cut, is what resuming has to survive).
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def _build(
    cache_dir: Path,
    names: Sequence[str],
    decode: Decode,
    meta: dict[str, Any],
    per_video_meta: dict[str, Sequence[Any]],
    show_progress: bool,
    on_video: Callable[[int], None] | None,
    unlisted: Sequence[SkippedFile] = (),
) -> ClipCache:
    """Build (or resume, or just open) the cache at cache_dir under its file lock; `unlisted` are entries
    skipped before decoding (not files), reported with the files that fail to decode."""
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir) + ".lock"):
        if (cache_dir / "meta.json").exists():
            return ClipCache(cache_dir)
        parts = cache_dir / "parts"
        parts.mkdir(parents=True, exist_ok=True)
        for stale in parts.glob("*.tmp-*"):  # left by a builder that died mid-write
            stale.unlink()
        built = 0
        for i in tqdm(range(len(names)), desc=f"clip cache {cache_dir.name}", unit="video", disable=not show_progress):
            if (parts / f"{i}.npz").exists() or (parts / f"{i}.skip.json").exists():
                continue  # done by an earlier, interrupted build
            try:
                frames, audio, *note = decode(i)
            except BadVideoError as exc:
                _write_atomic(
                    parts / f"{i}.skip.json", lambda f, e=exc: f.write(json.dumps([e.path, e.reason]).encode())
                )
            else:
                if note and note[0]:  # written first: a part is done once its .npz exists
                    _write_atomic(parts / f"{i}.note.json", lambda f, n=note[0]: f.write(json.dumps(n).encode()))
                _write_atomic(parts / f"{i}.npz", lambda f, a=frames, b=audio: np.savez(f, frames=a, audio=b))
            built += 1
            if on_video is not None:
                on_video(i)
        _pack(cache_dir, names, meta, per_video_meta, [[s.path, s.reason] for s in unlisted])
        shutil.rmtree(parts)
        return ClipCache(cache_dir, built_now=built)


def _pack(
    cache_dir: Path,
    names: Sequence[str],
    meta: dict[str, Any],
    per_video_meta: dict[str, Sequence[Any]],
    unlisted: list[list[str]],
) -> None:
    """Concatenate the parts into frames.npy / audio.npy, then write index.npy and meta.json."""
    parts = cache_dir / "parts"
    keep, report, shapes, truncated = [], list(unlisted), [], []
    for i in range(len(names)):
        skip = parts / f"{i}.skip.json"
        if skip.exists():
            report.append(json.loads(skip.read_text()))
            continue
        if (parts / f"{i}.note.json").exists():
            truncated.append([names[i], json.loads((parts / f"{i}.note.json").read_text())])
        with np.load(parts / f"{i}.npz") as z:
            # npz members are read lazily: only the .npy headers are parsed here.
            shapes.append((z["frames"].shape, z["audio"].shape[0]))
        keep.append(i)
    index = np.zeros((len(keep), len(_INDEX_COLUMNS)), dtype=np.int64)
    f_off = a_off = 0
    for row, ((t, c, h, w), n) in enumerate(shapes):
        index[row] = (f_off, t, c, h, w, a_off, n)
        f_off += t * c * h * w
        a_off += n
    frames_tmp, audio_tmp = cache_dir / "frames.npy.tmp", cache_dir / "audio.npy.tmp"
    frames_out = np.lib.format.open_memmap(frames_tmp, mode="w+", dtype=np.uint8, shape=(max(f_off, 0),))
    audio_out = np.lib.format.open_memmap(audio_tmp, mode="w+", dtype=np.float32, shape=(max(a_off, 0),))
    for row, i in enumerate(keep):
        fo, t, c, h, w, ao, n = index[row]
        with np.load(parts / f"{i}.npz") as z:
            frames_out[fo : fo + t * c * h * w] = z["frames"].reshape(-1)
            audio_out[ao : ao + n] = z["audio"]
    frames_out.flush()
    audio_out.flush()
    del frames_out, audio_out
    os.replace(frames_tmp, cache_dir / "frames.npy")
    os.replace(audio_tmp, cache_dir / "audio.npy")
    _write_atomic(cache_dir / "index.npy", lambda f: np.save(f, index))
    full = {
        **meta,
        "index_columns": list(_INDEX_COLUMNS),
        "names": [names[i] for i in keep],
        "report": report,
        "truncated": truncated,
        **{k: [v[i] for i in keep] for k, v in per_video_meta.items()},
    }
    _write_atomic(cache_dir / "meta.json", lambda f: f.write(json.dumps(full, indent=1).encode()))


def build_world_cache(
    config: WorldConfig,
    cache_root: str | Path | None = None,
    *,
    show_progress: bool = True,
    on_video: Callable[[int], None] | None = None,
    processes: int = 1,
) -> ClipCache:
    """The cache of the procedural world, rendered straight into the store (no video encoding).

    Frames keep the world's size and fps; audio its sample rate. Reused when the world's settings
    (and the generator version) are unchanged. ``on_video(i)`` is called after each video this call
    renders (a progress hook; an exception from it interrupts the build, which a later call resumes).
    ``processes`` > 1 renders videos in that many processes (a video depends only on its own seed, so
    the cache is the same); worth it for large frames (a 128 x 128 x 30 fps video takes ~0.3 s).
    """
    cache_root = Path(cache_root) if cache_root is not None else default_cache_root()
    items = world_items(config)
    key = _cache_key({"kind": "world", "world": config.identity()})
    meta = {
        "key": key,
        "kind": "world",
        "source": asdict(config),
        "identity": config.identity(),
        "fps": config.fps,
        "sample_rate": config.sample_rate,
        "short_side": None,
        "class_names": list(config.classes),
    }
    per_video = {"labels": [it.label for it in items], "splits": [list(it.splits) for it in items]}

    cache_dir = cache_root / f"world-{key}"
    names = [it.name for it in items]
    if processes <= 1 or (cache_dir / "meta.json").exists():

        def decode(i: int) -> tuple[np.ndarray, np.ndarray]:
            return generate_video(items[i].class_name, items[i].video_seed, config)

        return _build(cache_dir, names, decode, meta, per_video, show_progress, on_video)
    # Every video is submitted at once (a part an interrupted build already wrote is rendered again and
    # discarded: _build skips it) and collected in order as the build writes them.
    spawn = multiprocessing.get_context("spawn")  # a forked torch process may deadlock
    with ProcessPoolExecutor(processes, mp_context=spawn) as pool:
        futures = [pool.submit(generate_video, it.class_name, it.video_seed, config) for it in items]
        try:
            return _build(cache_dir, names, lambda i: futures[i].result(), meta, per_video, show_progress, on_video)
        finally:
            pool.shutdown(cancel_futures=True)  # an interrupted build stops rendering the rest


def build_folder_cache(
    root: str | Path,
    cache_root: str | Path | None = None,
    settings: DecodeSettings | None = None,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    label_from_parent: bool = False,
    split_tags: Mapping[str, Sequence[int]] | None = None,
    show_progress: bool = True,
    on_video: Callable[[int], None] | None = None,
) -> ClipCache:
    """The cache of every usable video file under ``root``, decoded once with torchcodec.

    Unusable files (corrupt, no audio, too short, a directory or broken link with a video's name) are
    skipped and listed in the cache's ``report``; truncated files are kept and listed in ``truncated``.
    A folder with no usable video raises EmptyFolderError, which lists every skipped file.
    With ``label_from_parent`` each file's folder name is its class (HMDB/UCF layout).
    ``split_tags`` maps a file's path relative to ``root`` to its HMDB-style tags, one per split
    (1 train, 2 test, 0 unused); files it does not name get 0 everywhere. They become ``splits``.
    """
    root = Path(root)
    settings = settings or DecodeSettings()
    cache_root = Path(cache_root) if cache_root is not None else default_cache_root()
    files = list_video_files(root, extensions)
    unlisted = unusable_entries(root, extensions)
    identity = folder_identity(root, files)
    key = _cache_key(
        {
            "kind": "folder",
            "folder": identity,
            "extensions": sorted(e.lower() for e in extensions),
            "settings": asdict(settings),
            "label_from_parent": label_from_parent,
            "split_tags": sorted((k, list(v)) for k, v in (split_tags or {}).items()),
            # so that the report lists them (only when there are some: other caches keep their keys)
            **({"unusable": [s.path for s in unlisted]} if unlisted else {}),
        }
    )
    names = [p.relative_to(root).as_posix() for p in files]
    meta: dict[str, Any] = {
        "key": key,
        "kind": "folder",
        "source": str(root.resolve()),
        "identity": identity,
        "fps": settings.fps,
        "sample_rate": settings.sample_rate,
        "short_side": settings.short_side,
        "min_duration_s": settings.min_duration_s,
    }
    per_video: dict[str, Sequence[Any]] = {}
    if label_from_parent:
        class_names = sorted({p.parent.name for p in files})
        meta["class_names"] = class_names
        per_video["labels"] = [class_names.index(p.parent.name) for p in files]
    if split_tags is not None:
        width = max((len(v) for v in split_tags.values()), default=0)
        per_video["splits"] = [[int(t) for t in split_tags.get(name, [0] * width)] for name in names]

    def decode(i: int) -> tuple[np.ndarray, np.ndarray, str | None]:
        video = decode_video_file(files[i], settings)
        return video.frames, video.audio, video.truncated

    cache = _build(cache_root / f"folder-{key}", names, decode, meta, per_video, show_progress, on_video, unlisted)
    if cache.num_videos == 0:
        raise EmptyFolderError(root, cache.report)
    return cache


class EmptyFolderError(GDTSearchError, ValueError):
    """A folder with no usable video: none with a video extension, or every one skipped (with why)."""

    def __init__(self, root: Path, report: Sequence[SkippedFile], shown: int = 10) -> None:
        if not report:
            message = f"no video files under {root} (looked for {', '.join(VIDEO_EXTENSIONS)})"
        else:
            reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in report[:shown])
            more = f"; ... and {len(report) - shown} more" if len(report) > shown else ""
            message = f"every file under {root} was skipped ({len(report)} of {len(report)}): {reasons}{more}"
        super().__init__(message)
        self.root, self.report = root, list(report)
