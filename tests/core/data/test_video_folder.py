"""Real video input: listing, decoding with torchcodec, and skipping (and reporting) unusable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchcodec.encoders import Encoder, VideoEncoder

from core.data.video_folder import BadVideoError, DecodeSettings, VideoFolder, decode_video_file, list_video_files
from core.data.world import WorldConfig, generate_video
from core.data.world_export import encode_video

CFG = WorldConfig(duration_s=2.0)
SETTINGS = DecodeSettings(fps=CFG.fps, sample_rate=CFG.sample_rate, short_side=None, min_duration_s=1.0)


def _write_world_video(path: Path, class_name: str = "fall", seed: int = 1, cfg: WorldConfig = CFG) -> None:
    frames, audio = generate_video(class_name, seed, cfg)
    encode_video(path, frames, audio, cfg.fps, cfg.sample_rate)


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory) -> Path:
    """Two good videos (one nested, one .avi), and one each of: corrupt, no audio, too short, not a video."""
    root = tmp_path_factory.mktemp("messy")
    _write_world_video(root / "good.mp4")
    _write_world_video(root / "sub" / "deeper" / "good2.avi", "grow", 2)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    frames, _ = generate_video("fall", 3, CFG)
    VideoEncoder(torch.from_numpy(frames), frame_rate=CFG.fps).to_file(root / "silent.mp4")
    _write_world_video(root / "short.mp4", cfg=WorldConfig(duration_s=0.3))
    (root / "notes.txt").write_text("not a video")
    return root


def test_listing_is_recursive_and_filtered_by_extension(messy_folder: Path) -> None:
    names = [p.relative_to(messy_folder).as_posix() for p in list_video_files(messy_folder)]
    assert names == ["corrupt.mp4", "good.mp4", "short.mp4", "silent.mp4", "sub/deeper/good2.avi"]
    only_avi = list_video_files(messy_folder, extensions=("AVI",))
    assert [p.name for p in only_avi] == ["good2.avi"]


def test_bad_files_are_skipped_and_reported(messy_folder: Path) -> None:
    folder = VideoFolder(messy_folder, SETTINGS)
    assert [folder.relative_path(i) for i in range(len(folder))] == ["good.mp4", "sub/deeper/good2.avi"]
    reasons = {Path(s.path).name: s.reason for s in folder.report}
    assert set(reasons) == {"corrupt.mp4", "silent.mp4", "short.mp4"}
    assert reasons["corrupt.mp4"].startswith("corrupt or unreadable")
    assert reasons["silent.mp4"] == "no audio stream"
    assert reasons["short.mp4"].startswith("too short: 0.3")
    videos = list(folder)  # iterating never raises
    assert len(videos) == 2
    for video in videos:
        assert video.frames.shape == (24, 3, 32, 32) and video.audio.shape == (32000,)


def test_decode_time_failures_are_reported_too(messy_folder: Path) -> None:
    # Without the header probe every file is a candidate; the bad ones fail when decoded.
    folder = VideoFolder(messy_folder, SETTINGS, probe=False)
    assert len(folder) == 5 and folder.report == []
    assert len(list(folder)) == 2
    assert sorted(Path(s.path).name for s in folder.report) == ["corrupt.mp4", "short.mp4", "silent.mp4"]
    with pytest.raises(BadVideoError, match="no audio stream"):
        decode_video_file(messy_folder / "silent.mp4", SETTINGS)
    # The same 2 s file is fine for a 1 s clip but too short for a 3 s one.
    with pytest.raises(BadVideoError, match="too short"):
        decode_video_file(messy_folder / "good.mp4", DecodeSettings(min_duration_s=3.0))


def test_labels_from_parent_folder(messy_folder: Path) -> None:
    folder = VideoFolder(messy_folder, SETTINGS, label_from_parent=True)
    assert folder.class_names == ("deeper", messy_folder.name)
    assert folder.labels.tolist() == [1, 0]


def test_frame_rate_and_size_conversion(tmp_path: Path) -> None:
    cfg = WorldConfig(duration_s=2.0, height=48, width=64)
    frames, audio = generate_video("rotate_cw", 4, cfg)
    encode_video(tmp_path / "v.mp4", frames, audio, cfg.fps, cfg.sample_rate)
    # 4 fps from 12 fps: frame k is shown at (k + 0.5) / 4 s, the middle of source frame 3k + 1.
    out = decode_video_file(tmp_path / "v.mp4", DecodeSettings(fps=4, sample_rate=cfg.sample_rate, short_side=None))
    assert out.frames.shape == (8, 3, 48, 64)
    err_right = np.abs(out.frames.astype(float) - frames[1::3]).mean()
    err_wrong = np.abs(out.frames.astype(float) - frames[0::3]).mean()
    assert err_right < 8 and err_right < 0.7 * err_wrong
    # Short side 24: 48x64 -> 24x32; a larger short side never upscales.
    small = decode_video_file(tmp_path / "v.mp4", DecodeSettings(fps=cfg.fps, short_side=24))
    assert small.frames.shape == (24, 3, 24, 32)
    same = decode_video_file(tmp_path / "v.mp4", DecodeSettings(fps=cfg.fps, short_side=128))
    assert same.frames.shape == (24, 3, 48, 64)


def test_audio_is_resampled_and_downmixed_to_mono(tmp_path: Path) -> None:
    sr_in, seconds, fps = 44100, 2.0, 10
    t = np.arange(int(sr_in * seconds)) / sr_in
    left, right = np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)
    encoder = Encoder()
    video = encoder.add_video(height=16, width=16, frame_rate=fps)
    sound = encoder.add_audio(sample_rate=sr_in, num_channels=2)
    with encoder.open_file(tmp_path / "stereo.mp4"):
        video.add_frames(torch.zeros(int(seconds * fps), 3, 16, 16, dtype=torch.uint8))
        sound.add_samples(torch.from_numpy(np.stack([left, right]).astype(np.float32)))
    out = decode_video_file(tmp_path / "stereo.mp4", DecodeSettings(fps=fps, sample_rate=16000))
    assert out.audio.dtype == np.float32 and out.audio.shape == (32000,)
    body = out.audio[4000:28000]  # away from the codec's edges
    spectrum = np.abs(np.fft.rfft(body))
    assert abs(np.fft.rfftfreq(len(body), 1 / 16000)[spectrum.argmax()] - 440) < 2
    assert abs(np.sqrt(2 * np.mean(body**2)) - 0.75) < 0.05  # mono = mean of the channels
