"""Real video input: a dataset over any folder of video files with audio, decoded with torchcodec.

Frames come out as ``(T, 3, H, W)`` uint8 sampled at the configured fps (frame ``k`` is the frame
shown at ``(k + 0.5) / fps`` seconds after the video stream starts), downscaled so the short side is
at most ``short_side`` (torchcodec's decoder-side bilinear, antialiased resize); audio comes out as
``(samples,)`` float32 mono (the mean of the channels) resampled to the configured rate by ffmpeg and
aligned to the same start, ``round(T * sample_rate / fps)`` samples long.

A file that cannot be used is never fatal: corrupt or unreadable files, files without a video or an
audio stream, files shorter than ``min_duration_s``, and entries with a video's name that are not
files (a directory named ``x.mp4``, a broken symbolic link) are skipped and listed in ``report`` as
(path, reason). The cheap checks read only the container header; a file that only fails during a
full decode is reported when it is decoded. A file that decodes to much less than its header declares
(e.g. cut off by an interrupted copy) is kept with what could be decoded, and says so in ``truncated``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import GDTSearchError

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


@dataclass(frozen=True)
class DecodeSettings:
    """How a file becomes arrays. Part of the clip cache key: change one and the cache is rebuilt."""

    fps: float = 12.0
    sample_rate: int = 16000
    short_side: int | None = 128  # downscale so that min(H, W) <= short_side; never upscale
    min_duration_s: float = 1.0  # the clip length a study needs; shorter files are skipped

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError("fps: must be positive")
        if self.sample_rate <= 0:
            raise ValueError("sample_rate: must be positive")
        if self.short_side is not None and self.short_side < 2:
            raise ValueError("short_side: must be >= 2 or None")
        if self.min_duration_s < 0:
            raise ValueError("min_duration_s: must be >= 0")


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of a dataset and why."""

    path: str
    reason: str


class BadVideoError(GDTSearchError, ValueError):
    """A file cannot be used; ``reason`` says why in a few words (it goes into the report)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass
class DecodedVideo:
    """One decoded file: ``frames`` (T, 3, H, W) uint8 and ``audio`` (samples,) float32 mono."""

    frames: np.ndarray
    audio: np.ndarray
    fps: float
    sample_rate: int
    truncated: str | None = None  # how much less than its header declares could be decoded


# A video stream decoded to less than this share of its declared length (and by more than two frames) is
# reported as truncated; container and stream headers of whole files agree to within a frame or two.
TRUNCATED_BELOW = 0.9


def list_video_files(root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Every file under ``root`` (recursively) whose suffix is in ``extensions`` (any case), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {root} does not exist or is not a directory")
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file() and not p.name.startswith("."))


def unusable_entries(root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[SkippedFile]:
    """Entries under ``root`` named like videos that are not files: each is reported, never silently dropped."""
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    out = []
    for p in sorted(Path(root).rglob("*")):
        if p.suffix.lower() not in exts or p.name.startswith(".") or p.is_file():
            continue
        if p.is_symlink() and not p.exists():
            out.append(SkippedFile(str(p), f"broken symbolic link (its target {p.readlink()} does not exist)"))
        elif p.is_dir():
            out.append(SkippedFile(str(p), "a directory, not a video file"))
        else:
            out.append(SkippedFile(str(p), "not a regular file"))
    return out


def folder_identity(root: str | Path, files: Sequence[Path]) -> str:
    """A hash of the relative paths, sizes and modification times: changes when any file does."""
    root = Path(root)
    entries = []
    for p in files:
        st = p.stat()
        entries.append([p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def _short_message(exc: BaseException) -> str:
    # torchcodec errors start with a C++ source location; the useful part is the end of the first line.
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = msg.split(".cpp:")[-1].lstrip("0123456789, ") if ".cpp:" in msg else msg
    return f"{type(exc).__name__}: {msg[:200]}"


def _probe(path: str | Path, min_duration_s: float):
    # torchcodec (and FFmpeg under it) is imported where files are decoded, so the procedural world
    # and everything else in core run on machines without FFmpeg.
    from torchcodec.decoders import get_container_metadata

    try:
        meta = get_container_metadata(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure to open means the file is unusable
        return f"corrupt or unreadable ({_short_message(exc)})", None
    if meta.best_video_stream_index is None:
        return "no video stream", meta
    if meta.best_audio_stream_index is None:
        return "no audio stream", meta
    streams = (meta.best_video_stream_index, meta.best_audio_stream_index)
    durations = [meta.duration_seconds_from_header] + [meta.streams[i].duration_seconds_from_header for i in streams]
    known = [d for d in durations if d is not None]
    if known and min(known) < min_duration_s:
        return f"too short: {min(known):.2f} s < {min_duration_s:.2f} s needed", meta
    return None, meta


def probe_video_file(path: str | Path, min_duration_s: float = 0.0) -> str | None:
    """Header-only checks; the reason the file is unusable, or None when it looks fine."""
    return _probe(path, min_duration_s)[0]


def _resized(height: int, width: int, short_side: int | None) -> tuple[int, int] | None:
    if short_side is None or min(height, width) <= short_side:
        return None
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def decode_video_file(path: str | Path, settings: DecodeSettings) -> DecodedVideo:
    """Decode one file at the settings' fps, size and sample rate; raises BadVideoError when unusable."""
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    reason, meta = _probe(path, settings.min_duration_s)
    if reason is not None:
        raise BadVideoError(path, reason)
    try:
        header = meta.streams[meta.best_video_stream_index]
        size = _resized(header.height, header.width, settings.short_side)
        video = VideoDecoder(str(path), seek_mode="exact", transforms=[Resize(size)] if size else None)
        vmeta = video.metadata
        t0, v_end = vmeta.begin_stream_seconds, vmeta.end_stream_seconds
        samples = _decodable_audio(path, settings.sample_rate, v_end, 1 / settings.fps)
        # Mono is the mean of the channels (ffmpeg's own downmix adds them at -3 dB, which can clip).
        wave = samples.data.mean(dim=0).numpy()
        a_start = samples.pts_seconds
    except Exception as exc:  # noqa: BLE001 - a decode failure of one file must not stop a study
        raise BadVideoError(path, f"decode error ({_short_message(exc)})") from exc

    a_end = a_start + len(wave) / settings.sample_rate
    duration = min(v_end, a_end) - t0
    if duration < settings.min_duration_s or duration <= 0:
        raise BadVideoError(path, f"too short: {max(duration, 0.0):.2f} s < {settings.min_duration_s:.2f} s needed")
    n_frames = math.floor(duration * settings.fps + 1e-6)
    if n_frames < 1:
        raise BadVideoError(path, f"too short: no frame at {settings.fps} fps")
    times = (t0 + (np.arange(n_frames) + 0.5) / settings.fps).tolist()
    try:
        frames = video.get_frames_played_at(times).data.numpy()
    except Exception as exc:  # noqa: BLE001
        # A file cut off mid-packet fails on its last frames: keep the frames before the cut when they
        # are long enough (the file is then reported as truncated).
        frames = _decodable_prefix(video, times)
        if len(frames) / settings.fps < max(settings.min_duration_s, 1e-9):
            raise BadVideoError(path, f"decode error ({_short_message(exc)})") from exc
        n_frames, v_end = len(frames), t0 + len(frames) / settings.fps

    truncated = _truncation(meta, n_frames / settings.fps, n_frames, settings.fps)
    # Align the audio to the video's first frame and cut it to the frames' span.
    n_samples = round(n_frames * settings.sample_rate / settings.fps)
    offset = round((t0 - a_start) * settings.sample_rate)
    if offset < 0:
        wave = np.concatenate([np.zeros(-offset, dtype=np.float32), wave])
        offset = 0
    audio = wave[offset : offset + n_samples]
    if len(audio) < n_samples:  # codecs may end a few samples early
        audio = np.pad(audio, (0, n_samples - len(audio)))
    return DecodedVideo(
        np.ascontiguousarray(frames),
        audio.astype(np.float32, copy=False),
        settings.fps,
        settings.sample_rate,
        truncated,
    )


def _decodable_audio(path: str | Path, sample_rate: int, end_s: float, precision_s: float):
    """All of the audio, or, for a file cut off mid-packet, as much as decodes up to `end_s` (found to
    within `precision_s` by a binary search); the last error when none does."""
    from torchcodec.decoders import AudioDecoder

    try:
        return AudioDecoder(str(path), sample_rate=sample_rate).get_all_samples()
    except Exception as error:  # noqa: BLE001 - retried on a prefix below
        failure = error
    good, bad, best = 0.0, end_s, None
    while bad - good > precision_s:
        middle = (good + bad) / 2
        try:
            best = AudioDecoder(str(path), sample_rate=sample_rate).get_samples_played_in_range(0.0, middle)
            good = middle
        except Exception:  # noqa: BLE001 - the cut is before `middle`
            bad = middle
    if best is None:
        raise failure
    return best


def _decodable_prefix(video, times: list[float]) -> np.ndarray:
    """The frames at the longest prefix of `times` that decodes (a binary search: the whole list failed)."""
    good, bad = 0, len(times)
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            video.get_frames_played_at(times[:middle])
            good = middle
        except Exception:  # noqa: BLE001 - any decode failure means the cut is before `middle`
            bad = middle
    if good == 0:
        return np.zeros((0,), dtype=np.uint8)
    return video.get_frames_played_at(times[:good]).data.numpy()


def _truncation(meta, decoded_s: float, n_frames: int, fps: float) -> str | None:
    """What a video stream lost against its header (the longest length it declares), or None."""
    header = meta.streams[meta.best_video_stream_index]
    declared = [header.duration_seconds_from_header]
    if header.num_frames_from_header and header.average_fps_from_header:
        declared.append(header.num_frames_from_header / header.average_fps_from_header)
    longest = max((d for d in declared if d), default=None)
    if longest is None or decoded_s >= TRUNCATED_BELOW * longest or longest - decoded_s <= 2 / fps:
        return None
    return (
        f"truncated: {decoded_s:.2f} s of the {longest:.2f} s its header declares could be decoded"
        f" ({n_frames} of {math.floor(longest * fps + 1e-6)} frames kept)"
    )


class VideoFolder:
    """The usable videos under ``root``.

    Construction lists the files and probes their headers (``probe=False`` defers every check to
    decoding); indexing decodes one file. A file that fails only at decode time raises BadVideoError
    from ``__getitem__`` and is added to ``report``; iterating skips such files instead.
    With ``label_from_parent`` the class of a file is the name of its folder (HMDB/UCF layout).
    """

    def __init__(
        self,
        root: str | Path,
        settings: DecodeSettings | None = None,
        *,
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        label_from_parent: bool = False,
        probe: bool = True,
    ) -> None:
        self.root = Path(root)
        self.settings = settings or DecodeSettings()
        self.extensions = tuple(extensions)
        self.candidates = list_video_files(self.root, self.extensions)
        self.report: list[SkippedFile] = unusable_entries(self.root, self.extensions)
        self.files: list[Path] = []
        for path in self.candidates:
            reason = probe_video_file(path, self.settings.min_duration_s) if probe else None
            if reason is None:
                self.files.append(path)
            else:
                self.report.append(SkippedFile(str(path), reason))
        self.class_names: tuple[str, ...] = ()
        self.labels: np.ndarray | None = None
        if label_from_parent:
            self.class_names = tuple(sorted({p.parent.name for p in self.files}))
            index = {c: i for i, c in enumerate(self.class_names)}
            self.labels = np.array([index[p.parent.name] for p in self.files], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> DecodedVideo:
        try:
            return decode_video_file(self.files[i], self.settings)
        except BadVideoError as exc:
            if all(s.path != exc.path for s in self.report):
                self.report.append(SkippedFile(exc.path, exc.reason))
            raise

    def __iter__(self) -> Iterator[DecodedVideo]:
        for i in range(len(self)):
            try:
                yield self[i]
            except BadVideoError:
                continue

    def relative_path(self, i: int) -> str:
        return self.files[i].relative_to(self.root).as_posix()

    def identity(self) -> str:
        """Hash of the listed files (paths, sizes, mtimes) and the extension filter."""
        return hashlib.sha256(
            json.dumps([folder_identity(self.root, self.candidates), sorted(self.extensions)]).encode()
        ).hexdigest()

    def settings_dict(self) -> dict:
        return asdict(self.settings)
