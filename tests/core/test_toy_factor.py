"""A factor is one catalogue entry: a toy factor added to `core.gdt.factors.CATALOGUE` alone (no other code) is
configured, sampled, contrasted and trained with in a whole trial."""

from __future__ import annotations

import math

import pytest

from core.data.augment import AugmentSpec, VideoAugmentSpec
from core.evaluation.proxy import EvalSpec
from core.gdt.config import GDTConfig
from core.gdt.contrast import batch_structure
from core.gdt.factors import ALL_CHOICES, CATALOGUE, Factor
from core.gdt.sampling import HierarchicalSampler
from core.train.pretrain import TrainSpec
from core.trial import DataSpec, TrialSpec, run_trial
from tests.core.conftest import TINY_WORLD

# A label drawn per clip that changes nothing in the clip: no cut, no probe.
TOY = Factor(name="TOY", summary="a toy label per clip", allowed=ALL_CHOICES, categories=(0, 1, 2), off_value=0)


@pytest.mark.parametrize("choice", ["invariant", "distinctive"])
def test_a_toy_factor_in_the_catalogue_alone_trains_a_trial(choice, monkeypatch, tmp_path):
    monkeypatch.setitem(CATALOGUE, "TOY", TOY)  # the one dict every layer reads
    config = GDTConfig.build({"TOY": (choice, 3), "MOD": "invariant"}, clip_budget=24)
    assert config.setting("TOY").k == 3 and f"TOY={choice[0]}(3)" in config.describe()
    structure = batch_structure(config)
    assert structure.positive_count > 0
    batch = HierarchicalSampler(config, num_videos=12).sample()
    assert sorted(set(batch.values["TOY"].tolist())) == [0, 1, 2]  # drawn like any factor with categories
    spec = TrialSpec(
        data=DataSpec(world=TINY_WORLD, cache_root=str(tmp_path), clip_frames=4),
        feature_dim=16,
        width=4,
        train=TrainSpec(steps=3),
        eval=EvalSpec(clips_per_video=2, invariance_videos=4),
        augment=AugmentSpec(video=VideoAugmentSpec(crop_size=16)),
        device="cpu",
    )
    result = run_trial(config, spec)
    assert result.train.steps == 3 and math.isfinite(result.train.final_loss)
    assert result.config == config.describe()
    assert "TOY" not in result.evaluation.invariance  # no probe: not measured
    assert 0.0 <= result.evaluation.scores.linear_top1 <= 1.0
