"""Export the procedural world as real video files with audio, so the real decode path serves it too.

Two layouts:

* HMDB-51's official layout (``export_hmdb``)::

      <root>/hmdb51_org/<class>/<class>_0003.avi
      <root>/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   # "<file> <tag> " per line

  with tags 1 = train, 2 = test, 0 = unused, exactly as the official split files (including their
  trailing space). HMDB ships ``.avi`` files, so the default container is AVI: MPEG-4 part 2 video
  (XVID fourcc, near-lossless ``q:v 2``) with 16-bit PCM audio. PCM keeps the audio sample-exact and
  in sync; MP3 (what many AVI files carry) would add a ~70 ms encoder delay that shifts sound against
  picture.
* A Kinetics-style unlabeled folder (``export_unlabeled``): ``<root>/<split>/<name>.mp4`` with H.264
  video (yuv420p, CRF 12) and AAC audio, the format of real pretraining collections.

MP4/MKV/WebM files are written with torchcodec's multi-stream ``Encoder``; AVI files with the ffmpeg
CLI, because torchcodec picks the audio codec from the container (MP3 for AVI) and does not expose
MPEG-4 part 2 quality settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.data.action_datasets import HMDB_SPLIT_DIR, HMDB_VIDEO_DIR  # the layout the reader expects
from core.data.world import WorldConfig, WorldItem, generate_video, world_items

H264_CRF = 12  # near-transparent for the world's small, noisy frames; files stay tiny


def encode_video(path: str | Path, frames: np.ndarray, audio: np.ndarray, fps: float, sample_rate: int) -> None:
    """Write ``frames`` (T, 3, H, W) uint8 and mono ``audio`` (samples,) float32 to one file.

    The container follows the suffix (.avi: MPEG-4 + PCM via ffmpeg; anything else: H.264 + the
    container's default audio codec, AAC for .mp4, via torchcodec). The file appears atomically:
    it is written under a temporary name and renamed, so an interrupted export never leaves a
    truncated video behind.
    """
    path = Path(path)
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected (T, 3, H, W) uint8, got {frames.shape} {frames.dtype}")
    if audio.ndim != 1:
        raise ValueError(f"audio: expected (samples,) mono, got shape {audio.shape}")
    h, w = frames.shape[2:]
    if h % 2 or w % 2:
        raise ValueError(f"frames: yuv420p needs even height and width, got {h}x{w}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        if path.suffix.lower() == ".avi":
            _encode_avi(tmp, frames, audio, fps, sample_rate)
        else:
            _encode_torchcodec(tmp, frames, audio, fps, sample_rate)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _encode_torchcodec(path: Path, frames: np.ndarray, audio: np.ndarray, fps: float, sample_rate: int) -> None:
    from torchcodec.encoders import Encoder  # needs FFmpeg: imported only where files are written

    encoder = Encoder()
    video = encoder.add_video(
        height=frames.shape[2], width=frames.shape[3], frame_rate=fps, pixel_format="yuv420p", crf=H264_CRF
    )
    sound = encoder.add_audio(sample_rate=sample_rate, num_channels=1)
    with encoder.open_file(path):
        video.add_frames(torch.from_numpy(np.ascontiguousarray(frames)))
        sound.add_samples(torch.from_numpy(np.clip(audio, -1.0, 1.0).astype(np.float32))[None])


def _encode_avi(path: Path, frames: np.ndarray, audio: np.ndarray, fps: float, sample_rate: int) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("exporting .avi needs the ffmpeg command line tool on PATH (or export .mp4)")
    t, _, h, w = frames.shape
    with tempfile.NamedTemporaryFile(suffix=".f32") as wav:
        wav.write(np.clip(audio, -1.0, 1.0).astype("<f4").tobytes())
        wav.flush()
        cmd = [
            ffmpeg, "-nostdin", "-y", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
            "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", wav.name,
            "-c:v", "mpeg4", "-vtag", "XVID", "-q:v", "2", "-pix_fmt", "yuv420p",
            "-c:a", "pcm_s16le", "-fflags", "+bitexact", str(path),
        ]  # fmt: skip
        rgb = np.ascontiguousarray(frames.transpose(0, 2, 3, 1)).tobytes()
        proc = subprocess.run(cmd, input=rgb, capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path} ({t} frames): {proc.stderr.decode(errors='replace')}")


def _export(config: WorldConfig, files: dict[int, Path], show_progress: bool, desc: str, overwrite: bool) -> None:
    todo = {i for i, p in files.items() if overwrite or not p.exists()}
    with tqdm(total=len(files), desc=desc, unit="video", disable=not show_progress) as bar:
        bar.update(len(files) - len(todo))
        if not todo:
            return
        for item in world_items(config):
            if item.index in todo:
                frames, audio = generate_video(item.class_name, item.video_seed, config)
                encode_video(files[item.index], frames, audio, config.fps, config.sample_rate)
                bar.update(1)


def hmdb_split_lines(items: Iterable[WorldItem], class_name: str, split: int, ext: str) -> list[str]:
    """The lines of ``<class>_test_split<split>.txt``: ``"<file> <tag> "``, in file-name order."""
    rows = sorted((f"{it.name}{ext}", it.splits[split - 1]) for it in items if it.class_name == class_name)
    return [f"{name} {tag} " for name, tag in rows]


def export_hmdb(
    config: WorldConfig,
    root: str | Path,
    *,
    container: str = "avi",
    show_progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write the labelled world in HMDB-51's layout under ``root``; returns ``root``.

    Existing files are kept unless ``overwrite`` (the export is resumable); the split files are
    always rewritten (they are tiny and must match the config).
    """
    root = Path(root)
    ext = "." + container.lstrip(".")
    items = world_items(config)
    files = {it.index: root / HMDB_VIDEO_DIR / it.class_name / f"{it.name}{ext}" for it in items}
    _export(config, files, show_progress, "export hmdb", overwrite)
    split_dir = root / HMDB_SPLIT_DIR
    split_dir.mkdir(parents=True, exist_ok=True)
    for class_name in config.classes:
        for split in range(1, config.num_splits + 1):
            lines = hmdb_split_lines(items, class_name, split, ext)
            (split_dir / f"{class_name}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def export_unlabeled(
    config: WorldConfig,
    root: str | Path,
    split: str = "train",
    *,
    container: str = "mp4",
    show_progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write every video of the world, without labels, as ``<root>/<split>/clip_<index>.<container>``.

    This is the Kinetics-style pretraining layout. Use a different ``config.seed`` from the
    evaluation world so pretraining never sees the evaluation videos. Returns the split folder.
    """
    folder = Path(root) / split
    ext = "." + container.lstrip(".")
    # Named by index, not class: an unlabeled folder should not carry its labels in file names.
    files = {it.index: folder / f"clip_{it.index:06d}{ext}" for it in world_items(config)}
    _export(config, files, show_progress, f"export {split}", overwrite)
    return folder
