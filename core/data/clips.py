"""Cutting the clips of a GDT batch out of decoded videos: time shift, playback speed, time reversal.

These three factors decide *which* frames and samples a clip holds, so they are applied while
gathering, as index arithmetic on the decoded store (no decoding, one read per video). Everything
that changes pixel or sample values (augmentation, resampling, spectrograms) happens afterwards on
the batch, on its device: see `core.data.augment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from core.errors import GDTSearchError
from core.gdt.factors import CATALOGUE


class ClipSource(Protocol):
    """Decoded videos: what the clip cache and the in-memory procedural world both provide."""

    fps: float
    sample_rate: int

    @property
    def num_videos(self) -> int: ...

    def frames(self, index: int) -> np.ndarray:  # (T, C, H, W) uint8
        ...

    def audio(self, index: int) -> np.ndarray:  # (samples,) float32 mono
        ...


@dataclass(frozen=True)
class ClipSpec:
    """A clip is `num_frames` consecutive frames at the source fps (1x) and the audio of the same span."""

    num_frames: int = 8

    def seconds(self, fps: float) -> float:
        return self.num_frames / fps


@dataclass
class RawClips:
    """The clips of one batch before augmentation, with the tuple each clip came from.

    video: (Kv, T, C, H, W) uint8, the clips of the tuples `video_rows` (MOD = video), in that order.
    audio: speed -> (n, span) float32 source waveforms still at that speed, for tuples `audio_rows[speed]`.
    """

    video: torch.Tensor
    video_rows: torch.Tensor
    audio: dict[float, torch.Tensor]
    audio_rows: dict[float, torch.Tensor]
    batch_size: int
    sample_rate: int
    clip_seconds: float
    aug: torch.Tensor | None = None  # (batch_size,) AUG seed of every tuple; None: draw augmentations freely


    def pin_memory(self) -> RawClips:
        """A copy in page-locked memory (DataLoader's pin thread calls this), so that the copy to the GPU
        can run without the host waiting for it."""
        return replace(
            self,
            video=self.video.pin_memory(),
            video_rows=self.video_rows.pin_memory(),
            audio={speed: wave.pin_memory() for speed, wave in self.audio.items()},
            audio_rows={speed: rows.pin_memory() for speed, rows in self.audio_rows.items()},
            aug=self.aug,  # read on the host (one augmentation per AUG seed), never copied
        )


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`tensor` on `device` without the host waiting for the device.

    A blocking copy to the GPU (`.to("cuda")` of ordinary memory) first waits for every kernel already
    queued, i.e. for the previous training step: the GPU then idles while the host prepares the next
    batch. From page-locked memory the copy is queued like a kernel.
    """
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu" and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


class ClipTooShort(GDTSearchError, ValueError):
    """A video cannot hold the span a clip needs (clip length x playback speed)."""


@dataclass(frozen=True)
class ClipCut:
    """How each clip of a batch is cut from its video: what the factors with a `Cut` (core.gdt.factors) say.

    video: which video; start_fraction: where the clip starts in the room the video leaves it (0 first,
    1 last); speed: playback speed (frame stride, waveform resampling); reversed: frames and waveform played
    backwards; audio: the clip is the video's sound, not its frames."""

    video: np.ndarray
    start_fraction: np.ndarray
    speed: np.ndarray
    reversed: np.ndarray
    audio: np.ndarray

    @classmethod
    def of(cls, values: Mapping[str, torch.Tensor]) -> ClipCut:
        """The cut of every clip from its factor values; a factor without values leaves clips as they are."""
        n = len(values["DS"])
        fields = {}
        for factor in CATALOGUE.values():
            if factor.cut is None:
                continue
            given = values.get(factor.name)
            if given is None and factor.cut.neutral is None:
                raise KeyError(f"clips need a value of {factor.name} per clip")
            given = given if given is not None else torch.full((n,), factor.cut.neutral, dtype=factor.cut.dtype)
            fields[factor.cut.field] = given.numpy()
        return cls(
            video=fields["video"],
            start_fraction=fields["start_fraction"].astype(np.float64),
            speed=fields["speed"].astype(np.float64),
            reversed=fields["reversed"].astype(bool),
            audio=fields["audio"].astype(bool),
        )


def gather_clips(source: ClipSource, values: Mapping[str, torch.Tensor], spec: ClipSpec) -> RawClips:
    """Read one clip per tuple from `source`, cut as its factor values say (`ClipCut`).

    `values` holds the concrete value of every factor per tuple (`GDTBatch.values`, or clips chosen
    by hand for evaluation): DS video, TS start fraction, SP speed, TR 0/1, MOD 0 video / 1 audio.
    """
    cut = ClipCut.of(values)
    video_of, speed, start_fraction, reversed_, is_audio = (
        cut.video, cut.speed, cut.start_fraction, cut.reversed, cut.audio
    )
    clip_seconds = spec.seconds(source.fps)

    video_rows = np.flatnonzero(~is_audio)
    audio_rows = np.flatnonzero(is_audio)
    video_clips: list[np.ndarray] = [None] * len(video_rows)  # type: ignore[list-item]
    audio_clips: list[np.ndarray] = [None] * len(audio_rows)  # type: ignore[list-item]
    video_slot = {row: i for i, row in enumerate(video_rows)}
    audio_slot = {row: i for i, row in enumerate(audio_rows)}

    # One pass per video: all of its clips come out of one decoded array.
    for video in np.unique(video_of):
        rows = np.flatnonzero(video_of == video)
        frames = source.frames(int(video)) if (~is_audio[rows]).any() else None
        audio = source.audio(int(video)) if is_audio[rows].any() else None
        duration = _duration(frames, audio, source)
        for row in rows:
            span = clip_seconds * speed[row]
            if span > duration + 1e-9:
                raise ClipTooShort(
                    f"video {video}: a {clip_seconds:.2f} s clip at {speed[row]:g}x needs {span:.2f} s,"
                    f" the video has {duration:.2f} s"
                )
            start = start_fraction[row] * (duration - span)
            if is_audio[row]:
                first = int(round(start * source.sample_rate))
                clip = audio[first : first + int(round(span * source.sample_rate))]
                audio_clips[audio_slot[row]] = clip[::-1] if reversed_[row] else clip
            else:
                index = int(round(start * source.fps)) + np.arange(spec.num_frames) * int(speed[row])
                index = np.minimum(index, len(frames) - 1)
                video_clips[video_slot[row]] = frames[index[::-1] if reversed_[row] else index]

    video_tensor = torch.from_numpy(np.stack(video_clips)) if video_clips else torch.empty(0, dtype=torch.uint8)
    audio_by_speed, rows_by_speed = {}, {}
    for s in np.unique(speed[audio_rows]):
        members = np.flatnonzero(speed[audio_rows] == s)
        length = min(len(audio_clips[i]) for i in members)  # rounding can differ by one sample
        audio_by_speed[float(s)] = torch.from_numpy(np.stack([audio_clips[i][:length] for i in members]).copy())
        rows_by_speed[float(s)] = torch.from_numpy(audio_rows[members])
    return RawClips(
        video=video_tensor,
        video_rows=torch.from_numpy(video_rows),
        audio=audio_by_speed,
        audio_rows=rows_by_speed,
        batch_size=len(video_of),
        sample_rate=source.sample_rate,
        clip_seconds=clip_seconds,
        aug=values.get("AUG"),
    )


def _duration(frames: np.ndarray | None, audio: np.ndarray | None, source: ClipSource) -> float:
    """Seconds available in both streams that the clips of this video read."""
    lengths = []
    if frames is not None:
        lengths.append(len(frames) / source.fps)
    if audio is not None:
        lengths.append(len(audio) / source.sample_rate)
    return min(lengths)
