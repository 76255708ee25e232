"""Nothing in a video folder is dropped silently: every skipped entry and every truncated file is reported.

Real files, encoded with the project's own exporter and then damaged the way disks and copies damage
them: cut off half-way, a directory with a video's name, a symbolic link to a file that is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.clip_cache import EmptyFolderError, build_folder_cache
from core.data.video_folder import DecodeSettings, VideoFolder, decode_video_file
from core.data.world import WorldConfig, generate_video
from core.data.world_export import encode_video

CFG = WorldConfig(duration_s=4.0)  # 48 frames at 12 fps
SETTINGS = DecodeSettings(fps=CFG.fps, sample_rate=CFG.sample_rate, short_side=None, min_duration_s=0.5)


def _video(path: Path, seed: int = 1) -> Path:
    frames, audio = generate_video("grow", seed, CFG)
    encode_video(path, frames, audio, CFG.fps, CFG.sample_rate)
    return path


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("damaged")
    _video(root / "whole.avi")
    whole = _video(root / "cut.avi", seed=2).read_bytes()
    (root / "cut.avi").write_bytes(whole[: len(whole) // 2])  # an interrupted copy: half the file
    (root / "folder.mp4").mkdir()
    (root / "gone.mp4").symlink_to(root / "deleted.mp4")
    return root


def test_a_truncated_file_is_kept_and_says_how_much_was_lost(damaged):
    video = decode_video_file(damaged / "cut.avi", SETTINGS)
    assert 0 < len(video.frames) < 30
    assert video.truncated == (
        f"truncated: {video.truncated.split()[1]} s of the 4.00 s its header declares could be decoded"
        f" ({len(video.frames)} of 48 frames kept)"
    )
    assert decode_video_file(damaged / "whole.avi", SETTINGS).truncated is None


def test_the_clip_cache_reports_skipped_entries_and_truncated_files(damaged, tmp_path):
    cache = build_folder_cache(damaged, tmp_path, SETTINGS, show_progress=False)
    assert cache.names == ["cut.avi", "whole.avi"]
    assert [(Path(s.path).name, s.reason.split(" (")[0]) for s in cache.report] == [
        ("folder.mp4", "a directory, not a video file"),
        ("gone.mp4", "broken symbolic link"),
    ]
    assert [(s.path, s.reason.split(":")[0]) for s in cache.truncated] == [("cut.avi", "truncated")]
    reopened = build_folder_cache(damaged, tmp_path, SETTINGS, show_progress=False)  # from meta.json
    assert reopened.built_now == 0 and reopened.truncated == cache.truncated and reopened.report == cache.report
    assert [Path(s.path).name for s in VideoFolder(damaged, SETTINGS).report] == ["folder.mp4", "gone.mp4"]


def test_a_folder_without_a_usable_video_names_itself_and_every_reason(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.mp4").write_text("not a video")
    (junk / "folder.avi").mkdir()
    with pytest.raises(EmptyFolderError) as error:
        build_folder_cache(junk, tmp_path / "cache", SETTINGS, show_progress=False)
    message = str(error.value)
    assert message.startswith(f"every file under {junk} was skipped (2 of 2): folder.avi: a directory")
    assert "notes.mp4: corrupt or unreadable" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyFolderError, match=r"no video files under .*empty \(looked for \.mp4"):
        build_folder_cache(tmp_path / "empty", tmp_path / "cache", SETTINGS, show_progress=False)
