"""Gathering clips: time shift, playback speed, time reversal and modality bookkeeping."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.data.augment import AugmentSpec, BatchAugmenter, change_speed
from core.data.clips import ClipSpec, ClipTooShort, gather_clips
from core.gdt.config import GDTConfig
from core.gdt.sampling import HierarchicalSampler

FPS, SR, SECONDS = 10, 1000, 4.0


class TimeCodedSource:
    """Frame t of video v has pixels (t, v, 0); audio sample n of video v is v * 1000 + n / SR seconds."""

    fps, sample_rate = FPS, SR

    def __init__(self, num_videos: int = 40):
        self.n = num_videos

    @property
    def num_videos(self):
        return self.n

    def frames(self, index):
        t = int(SECONDS * FPS)
        out = np.zeros((t, 3, 4, 4), dtype=np.uint8)
        out[:, 0] = np.arange(t)[:, None, None]
        out[:, 1] = index
        return out

    def audio(self, index):
        return (index * 1000 + np.arange(int(SECONDS * SR)) / SR).astype(np.float32)


def _batch(choices, budget=64, seed=0, **overrides):
    config = GDTConfig.build(choices, clip_budget=budget)
    batch = HierarchicalSampler(config, 40, seed=seed).sample()
    for name, value in overrides.items():
        batch.values[name] = torch.full_like(batch.values[name], value)
    return batch


def _values(choices, **overrides):
    return _batch(choices, **overrides).values


def test_clips_hold_the_frames_their_tuple_asks_for():
    batch = _batch({"TS": "distinctive", "MOD": "invariant", "TR": "invariant", "SP": ("invariant", 2)}, budget=96)
    spec = ClipSpec(num_frames=5)
    raw = gather_clips(TimeCodedSource(), batch.values, spec)
    for clip, row in zip(raw.video, raw.video_rows.tolist(), strict=True):
        v, ts, tr, sp = (batch.values[n][row].item() for n in ("DS", "TS", "TR", "SP"))
        span = spec.num_frames / FPS * sp
        first = round(ts * (SECONDS - span) * FPS)
        expected = first + np.arange(5) * int(sp)
        assert clip[:, 1, 0, 0].eq(v).all()
        assert clip[:, 0, 0, 0].tolist() == (expected[::-1] if tr else expected).tolist()
    assert sorted(raw.video_rows.tolist() + torch.cat(list(raw.audio_rows.values())).tolist()) == list(range(96))


def test_audio_and_video_of_one_tuple_cover_the_same_seconds():
    batch = _batch({"TS": "invariant", "MOD": "invariant"})
    raw = gather_clips(TimeCodedSource(), batch.values, ClipSpec(num_frames=5))
    video_start = {}
    for clip, row in zip(raw.video, raw.video_rows.tolist(), strict=True):
        key = (batch.values["DS"][row].item(), batch.values["TS"][row].item())
        video_start[key] = clip[0, 0, 0, 0].item() / FPS
    for wave, row in zip(raw.audio[1.0], raw.audio_rows[1.0].tolist(), strict=True):
        key = (batch.values["DS"][row].item(), batch.values["TS"][row].item())
        start_s = wave[0].item() - key[0] * 1000
        assert start_s == pytest.approx(video_start[key], abs=0.5 / FPS)  # same start, within a frame
        assert len(wave) == 500  # 5 frames at 10 fps = 0.5 s


def test_reversal_twice_is_identity():
    spec, source = ClipSpec(num_frames=6), TimeCodedSource()
    forward = gather_clips(source, _values({"MOD": "invariant", "AUG": "invariant"}, TR=0), spec)
    backward = gather_clips(source, _values({"MOD": "invariant", "AUG": "invariant"}, TR=1), spec)
    assert torch.equal(backward.video.flip(1), forward.video)
    assert torch.equal(backward.audio[1.0].flip(1), forward.audio[1.0])
    assert not torch.equal(backward.video, forward.video)


def test_double_speed_covers_twice_the_source_span():
    spec, source = ClipSpec(num_frames=6), TimeCodedSource()
    slow = gather_clips(source, _values({"MOD": "invariant", "AUG": "invariant"}, SP=1.0), spec)
    fast = gather_clips(source, _values({"MOD": "invariant", "AUG": "invariant"}, SP=2.0), spec)
    span = lambda clips: clips[:, -1, 0, 0, 0].float() - clips[:, 0, 0, 0, 0].float()  # noqa: E731
    assert torch.equal(span(fast.video), 2 * span(slow.video))
    assert fast.audio[2.0].shape[1] == 2 * slow.audio[1.0].shape[1]
    # After resampling the fast clip has the slow clip's length and runs through time twice as fast.
    seconds = fast.audio[2.0] - fast.audio[2.0][:, :1] // 1000 * 1000  # drop the video code: float32 precision
    played = change_speed(seconds, 2.0, SR, slow.audio[1.0].shape[1])
    assert played.shape == slow.audio[1.0].shape
    slope = (played[:, 400] - played[:, 100]) / 300 * SR  # source seconds per output second
    assert torch.allclose(slope, torch.full_like(slope, 2.0), atol=0.02)


def test_time_shift_moves_the_window():
    spec, source = ClipSpec(num_frames=5), TimeCodedSource()
    early = gather_clips(source, _values({"AUG": "invariant"}, TS=0.0), spec)
    late = gather_clips(source, _values({"AUG": "invariant"}, TS=0.999), spec)
    assert (early.video[:, 0, 0, 0, 0] == 0).all()
    assert (late.video[:, -1, 0, 0, 0] == SECONDS * FPS - 1).all()


def test_a_clip_longer_than_the_video_is_refused_with_the_numbers():
    with pytest.raises(ClipTooShort, match=r"at 8x needs 8.00 s, the video has 4.00 s"):
        gather_clips(TimeCodedSource(), _values({"AUG": "invariant"}, SP=8.0), ClipSpec(num_frames=10))


def test_assembled_embeddings_follow_the_tuples():
    """Bookkeeping: an embedding that encodes its clip's video lands on the tuple of that video."""
    batch = _batch({"TS": "invariant", "MOD": "invariant", "TR": "distinctive"})
    raw = gather_clips(TimeCodedSource(), batch.values, ClipSpec(num_frames=5))
    inputs = BatchAugmenter(SR, replace(AugmentSpec(), train=False)).__call__(raw)
    video_ids = raw.video[:, 0, 1, 0, 0].float()[:, None]  # read back from the pixels
    audio_ids = torch.cat([w[:, :1] // 1000 for w in raw.audio.values()]).float()
    z = inputs.assemble(video_ids, audio_ids)
    assert torch.equal(z[:, 0].long(), batch.values["DS"])
