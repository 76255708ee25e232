"""Export to real files (HMDB-51 layout, Kinetics-style folder) and the torchcodec round trip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from core.data.video_folder import DecodeSettings, decode_video_file
from core.data.world import WorldConfig, generate_world, world_items
from core.data.world_export import HMDB_SPLIT_DIR, HMDB_VIDEO_DIR, export_hmdb, export_unlabeled

CFG = WorldConfig(videos_per_class=4, duration_s=2.0, classes=("slide_right", "rotate_ccw", "knock_metal"))
SETTINGS = DecodeSettings(fps=CFG.fps, sample_rate=CFG.sample_rate, short_side=None, min_duration_s=1.0)


@pytest.fixture(scope="module")
def world():
    return generate_world(CFG)


@pytest.fixture(scope="module")
def hmdb_root(tmp_path_factory) -> Path:
    return export_hmdb(CFG, tmp_path_factory.mktemp("hmdb"), show_progress=False)


@pytest.fixture(scope="module")
def kinetics_folder(tmp_path_factory) -> Path:
    return export_unlabeled(CFG, tmp_path_factory.mktemp("kinetics"), split="train", show_progress=False)


def _check_round_trip(
    frames: np.ndarray, audio: np.ndarray, ref_frames: np.ndarray, ref_audio: np.ndarray, max_audio_err: float
) -> None:
    assert frames.shape == ref_frames.shape and frames.dtype == np.uint8
    err = np.abs(frames.astype(np.float32) - ref_frames.astype(np.float32))
    # Codec tolerance: the pixel noise (std 4) is not compressible and chroma is 4:2:0.
    assert err.mean() < 8.0, err.mean()
    # Every decoded frame is closer to its own source frame than to its neighbours (no frame offset).
    per_frame = err.mean(axis=(1, 2, 3))
    for shift in (1, 2):
        off = np.abs(frames[shift:].astype(np.float32) - ref_frames[:-shift]).mean(axis=(1, 2, 3))
        assert (per_frame[shift:] < off).mean() > 0.9
    assert audio.shape == ref_audio.shape and audio.dtype == np.float32
    rel = float(np.sqrt(np.mean((audio - ref_audio) ** 2) / np.mean(ref_audio**2)))
    assert rel < max_audio_err, rel
    # No audio offset: the cross-correlation peaks at lag 0.
    lags = range(-64, 65)
    n = len(ref_audio)
    xc = [float(np.dot(audio[max(0, k) : n + min(0, k)], ref_audio[max(0, -k) : n - max(0, k)])) for k in lags]
    assert lags[int(np.argmax(xc))] == 0


def test_hmdb_layout_and_split_files(hmdb_root: Path) -> None:
    items = world_items(CFG)
    video_dir, split_dir = hmdb_root / HMDB_VIDEO_DIR, hmdb_root / HMDB_SPLIT_DIR
    assert sorted(p.name for p in video_dir.iterdir()) == sorted(CFG.classes)
    for it in items:
        assert (video_dir / it.class_name / f"{it.name}.avi").is_file()
    line_re = re.compile(r"^(\S+\.avi) ([012]) $")
    for class_name in CFG.classes:
        for split in (1, 2, 3):
            lines = (split_dir / f"{class_name}_test_split{split}.txt").read_text().splitlines()
            parsed = [line_re.match(line) for line in lines]
            assert all(parsed), lines
            tags = {m.group(1): int(m.group(2)) for m in parsed}
            expected = {f"{it.name}.avi": it.splits[split - 1] for it in items if it.class_name == class_name}
            assert tags == expected
            assert sorted(tags.values()).count(1) == 3 and sorted(tags.values()).count(2) == 1
            assert all((video_dir / class_name / name).is_file() for name in tags)


def test_hmdb_avi_round_trip(hmdb_root: Path, world) -> None:
    for it in world.items:
        decoded = decode_video_file(hmdb_root / HMDB_VIDEO_DIR / it.class_name / f"{it.name}.avi", SETTINGS)
        # PCM audio: only 16-bit quantisation.
        _check_round_trip(decoded.frames, decoded.audio, world.frames(it.index), world.audio(it.index), 1e-3)


def test_kinetics_mp4_round_trip(kinetics_folder: Path, world) -> None:
    files = sorted(kinetics_folder.glob("*.mp4"))
    assert [f.name for f in files] == [f"clip_{i:06d}.mp4" for i in range(len(world.items))]
    for it in world.items:
        decoded = decode_video_file(files[it.index], SETTINGS)
        # AAC is lossy: a few percent of the signal energy.
        _check_round_trip(decoded.frames, decoded.audio, world.frames(it.index), world.audio(it.index), 0.15)


def test_export_is_resumable(tmp_path: Path) -> None:
    cfg = WorldConfig(videos_per_class=2, duration_s=1.0, classes=("grow",))
    export_unlabeled(cfg, tmp_path, show_progress=False)
    first = tmp_path / "train" / "clip_000000.mp4"
    second = tmp_path / "train" / "clip_000001.mp4"
    mtime = first.stat().st_mtime_ns
    second.unlink()
    export_unlabeled(cfg, tmp_path, show_progress=False)
    assert second.is_file() and first.stat().st_mtime_ns == mtime  # only the missing file was written
    assert not list((tmp_path / "train").glob(".*tmp*"))
