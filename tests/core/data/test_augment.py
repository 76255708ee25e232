"""Augmentation g on batches: shapes, crop/flip/jitter semantics, spectrogram and SpecAugment."""

from dataclasses import replace

import pytest
import torch

from core.data.augment import (
    AUDIO_PARAMS,
    VIDEO_PARAMS,
    AudioAugmentSpec,
    AudioFeatures,
    VideoAugmentSpec,
    augment_video,
    augmentation_params,
)
from core.gdt.config import GDTConfig
from core.gdt.sampling import HierarchicalSampler

SR = 16000


def _clips(k=6, t=4, h=24, w=32):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (k, t, 3, h, w), dtype=torch.uint8, generator=g)


def _gen(seed=1, k=6):
    """Random augmentation parameters for k clips (one row of uniforms per clip)."""
    return torch.rand(k, 8, generator=torch.Generator().manual_seed(seed))


def test_video_output_layout_and_normalisation():
    spec = VideoAugmentSpec(crop_size=16)
    out = augment_video(_clips(), spec, train=True, params=_gen())
    assert out.shape == (6, 3, 4, 16, 16) and out.dtype == torch.float32
    eval_out = augment_video(torch.full((2, 4, 3, 16, 16), 115, dtype=torch.uint8), spec, False, _gen(k=2))
    assert torch.allclose(eval_out, torch.full_like(eval_out, (115 / 255 - 0.45) / 0.225), atol=1e-5)


def test_evaluation_crop_is_the_centre_square_and_deterministic():
    clips = _clips(h=16, w=24)
    spec = VideoAugmentSpec(crop_size=16, mean=(0, 0, 0), std=(1, 1, 1))
    a = augment_video(clips, spec, False, _gen(1))
    b = augment_video(clips, spec, False, _gen(2))
    assert torch.equal(a, b)
    centre = clips[:, :, :, :, 4:20].float().div(255).permute(0, 2, 1, 3, 4)
    assert torch.allclose(a, centre, atol=1e-5)


def test_each_clip_gets_its_own_crop_shared_by_its_frames():
    clip = _clips(k=1, t=1).expand(8, 4, 3, 24, 32).contiguous()  # 8 identical static clips
    spec = VideoAugmentSpec(crop_size=12, flip_p=0.0, jitter=0.0)
    out = augment_video(clip, spec, True, _gen(k=8))
    assert all(torch.equal(out[i, :, 0], out[i, :, 1]) for i in range(8))  # one crop per clip
    assert len({out[i].sum().item() for i in range(8)}) == 8  # clips differ from each other


def test_flip_mirrors_horizontally():
    clips = _clips()
    base = replace(VideoAugmentSpec(crop_size=16), jitter=0.0, crop_scale=(1.0, 1.0), crop_ratio=(0.75, 0.75))
    kept = augment_video(clips, replace(base, flip_p=0.0), True, _gen(5))
    flipped = augment_video(clips, replace(base, flip_p=1.0), True, _gen(5))
    assert torch.allclose(flipped, kept.flip(-1), atol=1e-5)


def test_colour_jitter_changes_values_within_range():
    clips = _clips()
    base = replace(VideoAugmentSpec(crop_size=16), flip_p=0.0, mean=(0, 0, 0), std=(1, 1, 1))
    plain = augment_video(clips, replace(base, jitter=0.0), True, _gen(3))
    jittered = augment_video(clips, base, True, _gen(3))
    assert not torch.allclose(plain, jittered)
    assert jittered.min() >= 0 and jittered.max() <= 1


def test_log_mel_has_40_bins_at_about_100_frames_per_second():
    features = AudioFeatures(SR, AudioAugmentSpec())
    wave = torch.randn(3, SR)  # 1 s
    spec = features(wave, train=False)
    assert spec.shape[:3] == (3, 1, 40) and spec.shape[3] in (100, 101)
    assert torch.allclose(spec.mean(dim=(2, 3)), torch.zeros(3, 1), atol=1e-4)


def test_spec_augment_masks_each_clip_independently():
    torch.manual_seed(0)
    features = AudioFeatures(SR, AudioAugmentSpec(freq_mask=10, time_mask=30))
    wave = torch.randn(1, SR).expand(16, SR).contiguous()  # identical clips
    masked = features(wave, train=True, mask_params=torch.rand(16, 4))
    zero_rows = (masked[:, 0] == 0).all(dim=2)  # (K, n_mels): fully masked mel bins
    assert zero_rows.any()
    assert len({tuple(r.tolist()) for r in zero_rows}) > 1  # masks differ between clips


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_video_augmentation_runs_on_cuda():
    out = augment_video(_clips().cuda(), VideoAugmentSpec(crop_size=16), True, _gen().cuda())
    assert out.is_cuda and out.shape == (6, 3, 4, 16, 16)


def test_clips_that_share_an_aug_slot_get_the_same_augmentation_and_other_slots_another():
    config = GDTConfig.build({"AUG": ("invariant", 3)}, clip_budget=24)  # 8 videos x 3 AUG slots
    batch = HierarchicalSampler(config, 40, seed=0).sample()
    slot = batch.tuples[:, config.factor_names.index("AUG")]
    params = augmentation_params(batch.values["AUG"], config.batch_size, torch.Generator(), "cpu")
    firsts = []
    for s in range(3):
        rows = params[slot == s]
        assert (rows == rows[0]).all(), f"the clips of AUG slot {s} got different parameters"
        firsts.append(tuple(rows[0].tolist()))
    assert len(set(firsts)) == 3
    # Applied: the same static clip under every tuple's augmentation comes out once per slot.
    clip = _clips(k=1, t=2).expand(config.batch_size, 2, 3, 24, 32).contiguous()
    video = augment_video(clip, VideoAugmentSpec(crop_size=12), True, params[:, VIDEO_PARAMS])
    assert len({video[i].sum().item() for i in range(config.batch_size)}) == 3
    audio = AudioFeatures(SR, AudioAugmentSpec(freq_mask=10, time_mask=30))
    wave = torch.randn(1, SR).expand(config.batch_size, SR).contiguous()
    masked = audio(wave, train=True, mask_params=params[:, AUDIO_PARAMS][:, 1:])
    for s in range(3):
        assert (masked[slot == s] == masked[slot == s][0]).all()


def test_without_aug_off_every_clip_draws_its_own_augmentation():
    config = GDTConfig.build({"TS": "invariant"}, clip_budget=16)  # AUG off: one g per clip
    batch = HierarchicalSampler(config, 40, seed=0).sample()
    params = augmentation_params(batch.values["AUG"], config.batch_size, torch.Generator(), "cpu")
    assert len({tuple(row.tolist()) for row in params}) == config.batch_size
