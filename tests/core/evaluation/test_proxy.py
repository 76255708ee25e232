"""Proxy evaluation on frozen features and the measured invariance of a model to each factor."""

import numpy as np
import pytest
from torch import nn

from core.data.augment import AugmentSpec, VideoAugmentSpec
from core.data.clips import ClipSpec
from core.evaluation.proxy import EvalSpec, evaluate
from core.models.encoders import AVEncoders, build_encoders

CLIP = ClipSpec(num_frames=4)
AUGMENT = AugmentSpec(video=VideoAugmentSpec(crop_size=16))


class TimeAverage(nn.Module):
    """Mean colour over time and space: blind to the order of frames by construction."""

    def forward(self, x):  # (B, C, T, H, W) or (B, 1, F, T)
        return x.mean(dim=tuple(range(2, x.dim()))).expand(-1, 3) if x.shape[1] == 1 else x.mean(dim=(2, 3, 4))


class TimeDirection(nn.Module):
    """Per-row colour of the last frame minus the first: flips sign when time is reversed."""

    def forward(self, x):
        if x.shape[1] == 1:
            return x.mean(dim=(1, 3))[:, :6]
        return (x[:, :, -1] - x[:, :, 0]).mean(dim=3)[:, :, ::3].flatten(1)[:, :6]


def _handmade(video: nn.Module, dim: int) -> AVEncoders:
    return AVEncoders(video, video, dim, 8, 4, "handmade", "handmade").eval()


def test_scores_cover_the_split_and_state_the_subset(tiny_proxy):
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=16, width=4)
    result = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=2, invariance_videos=6), CLIP, AUGMENT)
    s = result.scores
    assert (s.n_train, s.n_test) == (len(tiny_proxy.train), len(tiny_proxy.test))
    assert s.subset == "all" and 0 <= s.r_at_1 <= s.r_at_5 <= 1
    assert set(result.invariance) == {"TR", "TS", "SP", "MOD"}
    subset = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=1, classes=(0, 1)), CLIP, AUGMENT)
    assert subset.scores.n_classes == 2 and "classes [0, 1]" in subset.scores.subset


def test_speed_invariance_is_skipped_when_videos_are_too_short(tiny_proxy):
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=16, width=4)
    result = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=1, invariance_videos=6), ClipSpec(12), AUGMENT)
    # 12 frames at 8 fps = 1.5 s; at 2x a clip would need 3 s of the 2 s videos.
    assert "SP" not in result.invariance and "TR" in result.invariance


def test_a_reversal_blind_model_measures_as_reversal_invariant(tiny_proxy):
    result = evaluate(_handmade(TimeAverage(), 3), tiny_proxy, EvalSpec(clips_per_video=1), CLIP, AUGMENT)
    assert result.invariance["TR"].score == pytest.approx(1.0, abs=1e-4)
    assert result.invariance["TS"].score < 0.999  # but a different time window does change it


def test_a_direction_sensitive_model_measures_as_reversal_distinctive(tiny_proxy):
    result = evaluate(_handmade(TimeDirection(), 6), tiny_proxy, EvalSpec(clips_per_video=1), CLIP, AUGMENT)
    assert result.invariance["TR"].score < 0  # reversed clips land farther than unrelated clips


def test_evaluation_is_deterministic(tiny_proxy):
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=16, width=4)
    a = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=2), CLIP, AUGMENT)
    b = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=2), CLIP, AUGMENT)
    assert a.scores == b.scores
    assert {k: v.score for k, v in a.invariance.items()} == {k: v.score for k, v in b.invariance.items()}
    assert np.isfinite(a.seconds)


def test_a_factor_with_a_cut_and_a_probe_is_cut_and_measured_from_the_catalogue_alone(tiny_proxy, monkeypatch):
    """The data layer and the evaluation read the catalogue, not factor names: time reversal registered under
    another name is cut and measured under that name, with the same numbers."""
    import dataclasses

    import torch

    from core.data.clips import gather_clips
    from core.evaluation.proxy import clip_values
    from core.gdt.factors import CATALOGUE, TR, Probe

    model = _handmade(TimeDirection(), 6)
    before = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=1), CLIP, AUGMENT).invariance["TR"].score
    renamed = dataclasses.replace(TR, name="REV", probe=Probe(b=(("REV", 1),)))
    catalogue = {("REV" if name == "TR" else name): (renamed if name == "TR" else f) for name, f in CATALOGUE.items()}
    monkeypatch.setattr("core.gdt.factors.CATALOGUE", catalogue)
    monkeypatch.setattr("core.data.clips.CATALOGUE", catalogue)
    monkeypatch.setattr("core.evaluation.proxy.CATALOGUE", catalogue)

    videos, middle = np.array([0, 1]), np.array([0.5, 0.5])
    forward = gather_clips(tiny_proxy.source, clip_values(videos, middle), CLIP).video
    backward = gather_clips(tiny_proxy.source, clip_values(videos, middle, REV=1), CLIP).video
    assert torch.equal(backward, forward.flip(1))  # frames in reverse order
    with pytest.raises(ValueError, match="TR do not cut clips"):
        clip_values(videos, middle, TR=1)
    after = evaluate(model, tiny_proxy, EvalSpec(clips_per_video=1), CLIP, AUGMENT).invariance
    assert "TR" not in after and after["REV"].score == pytest.approx(before)
