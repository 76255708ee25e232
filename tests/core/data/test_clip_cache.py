"""The clip cache: exact contents, reuse vs rebuild, resumable and concurrency-safe builds, sharing."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from core.data.clip_cache import ClipCache, build_folder_cache, build_world_cache
from core.data.video_folder import DecodeSettings, decode_video_file
from core.data.world import WorldConfig, generate_video, world_items
from core.data.world_export import encode_video, export_hmdb

CFG = WorldConfig(videos_per_class=3, duration_s=1.5, classes=("fall", "rise", "knock_wood"))


class Interrupt(Exception):
    pass


def _assert_same_contents(a: ClipCache, b: ClipCache) -> None:
    assert a.names == b.names and a.num_videos == b.num_videos
    for i in range(a.num_videos):
        assert np.array_equal(a.frames(i), b.frames(i)) and np.array_equal(a.audio(i), b.audio(i))


def test_world_cache_holds_the_generated_videos(tmp_path: Path) -> None:
    cache = build_world_cache(CFG, tmp_path, show_progress=False)
    items = world_items(CFG)
    assert cache.num_videos == len(items) == 9 and cache.built_now == 9
    assert cache.fps == CFG.fps and cache.sample_rate == CFG.sample_rate
    assert cache.names == [it.name for it in items]
    assert cache.labels.tolist() == [it.label for it in items]
    assert cache.splits.tolist() == [list(it.splits) for it in items]
    assert cache.class_names == list(CFG.classes) and cache.report == []
    for it in items:
        frames, audio = generate_video(it.class_name, it.video_seed, CFG)
        assert isinstance(cache.frames(it.index), np.memmap)
        assert np.array_equal(cache.frames(it.index), frames)
        assert np.array_equal(cache.audio(it.index), audio)


def test_clip_reads_the_matching_frames_and_audio(tmp_path: Path) -> None:
    cache = build_world_cache(CFG, tmp_path, show_progress=False)
    frames, audio = cache.clip(4, start_s=0.5, num_frames=6)
    k0 = 6  # 0.5 s at 12 fps; the audio of frames [6, 12) is [0.5 s, 1.0 s)
    assert np.array_equal(frames, cache.frames(4)[k0 : k0 + 6])
    assert np.array_equal(audio, cache.audio(4)[CFG.sample_rate // 2 : CFG.sample_rate])
    with pytest.raises(ValueError, match="outside"):
        cache.clip(4, start_s=1.0, num_frames=12)


def test_unchanged_settings_reuse_and_changed_settings_rebuild(tmp_path: Path) -> None:
    first = build_world_cache(CFG, tmp_path, show_progress=False)
    again = build_world_cache(CFG, tmp_path, show_progress=False)
    assert again.path == first.path and again.built_now == 0
    changed = build_world_cache(dataclasses.replace(CFG, fps=6), tmp_path, show_progress=False)
    assert changed.path != first.path and changed.built_now == 9 and changed.frames(0).shape[0] == 9
    assert build_world_cache(dataclasses.replace(CFG, seed=1), tmp_path, show_progress=False).path not in (
        first.path,
        changed.path,
    )


def test_interrupted_build_resumes_and_equals_a_clean_build(tmp_path: Path) -> None:
    def stop_after_four(i: int) -> None:
        if i == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        build_world_cache(CFG, tmp_path / "resumed", show_progress=False, on_video=stop_after_four)
    # A builder that died mid-write leaves a temporary part behind; it must be ignored.
    parts = next((tmp_path / "resumed").glob("world-*/parts"))
    (parts / "5.npz.tmp-99999").write_bytes(b"half a file")
    assert not list((tmp_path / "resumed").glob("world-*/meta.json"))

    decoded: list[int] = []
    resumed = build_world_cache(CFG, tmp_path / "resumed", show_progress=False, on_video=decoded.append)
    assert decoded == [4, 5, 6, 7, 8] and resumed.built_now == 5  # only the remaining videos
    assert not parts.exists()
    clean = build_world_cache(CFG, tmp_path / "clean", show_progress=False)
    _assert_same_contents(resumed, clean)


def test_rendering_in_several_processes_builds_the_same_cache(tmp_path: Path) -> None:
    parallel = build_world_cache(CFG, tmp_path / "parallel", show_progress=False, processes=2)
    assert parallel.built_now == len(world_items(CFG))
    _assert_same_contents(parallel, build_world_cache(CFG, tmp_path / "serial", show_progress=False))


def _build_in_child(cache_root: str) -> int:
    return build_world_cache(CFG, cache_root, show_progress=False).built_now


def test_concurrent_builders_build_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        built = pool.map(_build_in_child, [str(tmp_path)] * 2)
    assert sorted(built) == [0, 9]  # one process built, the other waited and reused
    assert len(list(tmp_path.glob("world-*/meta.json"))) == 1
    _assert_same_contents(
        build_world_cache(CFG, tmp_path, show_progress=False),
        build_world_cache(CFG, tmp_path / "b", show_progress=False),
    )


def _read_in_child(cache: ClipCache) -> tuple[int, float]:
    return os.getpid(), float(sum(cache.frames(i).astype(np.int64).sum() for i in range(cache.num_videos)))


def test_cache_pickles_without_its_memory_maps_and_is_shared_by_workers(tmp_path: Path) -> None:
    cache = build_world_cache(CFG, tmp_path, show_progress=False)
    cache.frames(0)  # map in the parent
    state = pickle.dumps(cache)
    assert len(state) < 100_000  # the pixels are not pickled
    expected = float(sum(cache.frames(i).astype(np.int64).sum() for i in range(cache.num_videos)))
    with multiprocessing.get_context("fork").Pool(1) as pool:  # the argument still travels pickled
        pid, total = pool.apply(_read_in_child, (cache,))
    assert pid != os.getpid() and total == expected


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    cfg = dataclasses.replace(CFG, videos_per_class=1)
    export_hmdb(cfg, root, container="mp4", show_progress=False)
    (root / "hmdb51_org" / "fall" / "broken.mp4").write_bytes(b"garbage" * 100)
    return root / "hmdb51_org"


def test_folder_cache_decodes_once_and_reports_bad_files(video_folder: Path, tmp_path: Path) -> None:
    settings = DecodeSettings(fps=CFG.fps, sample_rate=CFG.sample_rate, short_side=None, min_duration_s=1.0)
    cache = build_folder_cache(video_folder, tmp_path, settings, label_from_parent=True, show_progress=False)
    assert cache.names == ["fall/fall_0000.mp4", "knock_wood/knock_wood_0000.mp4", "rise/rise_0000.mp4"]
    assert [(Path(s.path).name, s.reason.split(" (")[0]) for s in cache.report] == [
        ("broken.mp4", "corrupt or unreadable")
    ]
    assert [cache.class_names[i] for i in cache.labels] == ["fall", "knock_wood", "rise"]
    for i, name in enumerate(cache.names):
        direct = decode_video_file(video_folder / name, settings)
        assert np.array_equal(cache.frames(i), direct.frames) and np.array_equal(cache.audio(i), direct.audio)

    reused = build_folder_cache(video_folder, tmp_path, settings, label_from_parent=True, show_progress=False)
    assert reused.path == cache.path and reused.built_now == 0
    smaller = dataclasses.replace(settings, short_side=16)
    rebuilt = build_folder_cache(video_folder, tmp_path, smaller, label_from_parent=True, show_progress=False)
    assert rebuilt.path != cache.path and rebuilt.built_now == 4 and rebuilt.frames(0).shape[2:] == (16, 16)
    assert cache.splits is None
    tags = {"fall/fall_0000.mp4": [1, 2, 1], "rise/rise_0000.mp4": [2, 1, 1], "fall/broken.mp4": [1, 1, 1]}
    with_splits = build_folder_cache(video_folder, tmp_path, settings, split_tags=tags, show_progress=False)
    assert with_splits.path != cache.path  # the splits are part of the key
    assert with_splits.splits.tolist() == [[1, 2, 1], [0, 0, 0], [2, 1, 1]]


def test_folder_cache_key_follows_the_files(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    frames, audio = generate_video("grow", 1, CFG)
    encode_video(root / "a.mp4", frames, audio, CFG.fps, CFG.sample_rate)
    settings = DecodeSettings(fps=CFG.fps, sample_rate=CFG.sample_rate, min_duration_s=1.0)
    first = build_folder_cache(root, tmp_path / "cache", settings, show_progress=False)
    encode_video(root / "b.mp4", frames, audio, CFG.fps, CFG.sample_rate)  # a new file: a new dataset
    second = build_folder_cache(root, tmp_path / "cache", settings, show_progress=False)
    assert second.path != first.path and second.num_videos == 2
    os.utime(root / "a.mp4", ns=(1, 1))  # a modified file: a new dataset too
    third = build_folder_cache(root, tmp_path / "cache", settings, show_progress=False)
    assert third.path not in (first.path, second.path)
