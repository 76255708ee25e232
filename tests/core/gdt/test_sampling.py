import math

import torch
from hypothesis import given, settings

from core.gdt.config import GDTConfig, InvalidConfiguration
from core.gdt.factors import CATALOGUE
from core.gdt.sampling import HierarchicalSampler, slot_tuples
from tests.core.gdt.strategies import gdt_configs


def test_slot_tuples_are_row_major_mixed_radix():
    tuples = slot_tuples((3, 2, 2))
    assert tuples.shape == (12, 3)
    assert tuples[:4].tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]]
    assert tuples[-1].tolist() == [2, 1, 1]
    assert len({tuple(t) for t in tuples.tolist()}) == 12


@settings(max_examples=40, deadline=None)
@given(gdt_configs(max_batch=48))
def test_values_are_nested_as_in_the_paper(config):
    """Tuples sharing their first m slots share the first m values; siblings hold distinct values."""
    batch = HierarchicalSampler(config, num_videos=100, seed=3).sample()
    ks = config.ks
    for m, name in enumerate(config.factor_names):
        values = batch.values[name]
        assert values.shape == (config.batch_size,)
        group = math.prod(ks[m + 1 :])  # tuples below one node of level m
        per_node = values.reshape(-1, group)
        assert (per_node == per_node[:, :1]).all(), f"{name} changes inside one branch"
        siblings = per_node[:, 0].reshape(-1, ks[m])  # the K_m values of each parent branch
        for row in siblings:
            assert len(set(row.tolist())) == ks[m], f"{name} repeats a value among siblings"


def test_sampling_is_seeded_and_reproducible():
    config = GDTConfig.build(
        {"TS": "invariant", "TR": "distinctive", "SP": ("ignore", 3), "AUG": "invariant"}, clip_budget=96
    )
    a = HierarchicalSampler(config, 50, seed=7).sample()
    b = HierarchicalSampler(config, 50, seed=7).sample()
    c = HierarchicalSampler(config, 50, seed=8).sample()
    assert all(torch.equal(a.values[n], b.values[n]) for n in config.factor_names)
    assert not all(torch.equal(a.values[n], c.values[n]) for n in ("DS", "TS", "AUG"))
    assert torch.equal(a.tuples, b.tuples)


def test_consecutive_batches_differ():
    sampler = HierarchicalSampler(GDTConfig.build({"AUG": "invariant"}), 1000, seed=0)
    assert not torch.equal(sampler.sample().values["DS"], sampler.sample().values["DS"])


def test_concrete_values_lie_in_their_value_spaces():
    config = GDTConfig.build(
        {"TS": ("distinctive", 3), "MOD": "invariant", "TR": "invariant", "SP": ("invariant", 2)}, clip_budget=240
    )
    batch = HierarchicalSampler(config, 20, seed=1).sample()
    assert ((batch.values["TS"] >= 0) & (batch.values["TS"] < 1)).all()
    assert set(batch.values["SP"].tolist()) <= set(CATALOGUE["SP"].categories)
    # Exhaustive binary factors: slot s is category s (both reversal and modality).
    for name in ("MOD", "TR"):
        column = batch.tuples[:, config.factor_names.index(name)]
        assert torch.equal(batch.values[name].long(), column)
    videos = batch.values["DS"].reshape(config.k_videos, -1)[:, 0]
    assert len(set(videos.tolist())) == config.k_videos and videos.max() < 20


def test_off_factors_take_their_identity_value():
    batch = HierarchicalSampler(GDTConfig.build({"AUG": "invariant"}), 40, seed=0).sample()
    assert (batch.values["TR"] == 0).all() and (batch.values["MOD"] == 0).all() and (batch.values["SP"] == 1).all()
    assert len(set(batch.values["TS"].tolist())) == batch.config.k_videos  # one random start per video


def test_more_videos_per_batch_than_the_dataset_has_is_refused():
    config = GDTConfig.build({"AUG": "invariant"}, clip_budget=64)
    try:
        HierarchicalSampler(config, num_videos=10)
    except InvalidConfiguration as error:
        assert "DS" in error.factors and "only 10" in str(error)
    else:
        raise AssertionError("expected InvalidConfiguration")


def test_common_random_numbers_same_seed_same_videos_in_the_same_order_whatever_the_configuration():
    """Configurations trained with one seed see one video stream, K_i videos at a time."""
    narrow = GDTConfig.build({"TS": "invariant", "MOD": "invariant", "AUG": "invariant"}, clip_budget=64)  # K_i 8
    wide = GDTConfig.build({"TR": "distinctive", "MOD": "invariant"}, clip_budget=64)  # K_i 16
    assert narrow.k_videos != wide.k_videos

    def stream(config, clips=96):
        sampler = HierarchicalSampler(config, 40, seed=5)
        videos: list[int] = []
        while len(videos) < clips:
            ds = sampler.sample().values["DS"]
            videos += ds.reshape(config.k_videos, -1)[:, 0].tolist()
        return videos[:clips]

    assert stream(narrow) == stream(wide)
    other_seed = HierarchicalSampler(narrow, 40, seed=6).sample().values["DS"]
    assert not torch.equal(other_seed, HierarchicalSampler(narrow, 40, seed=5).sample().values["DS"])


def test_common_random_numbers_same_seed_same_initial_weights():
    from core.trial import build_model, small_world_trial

    spec = small_world_trial(seed=3)
    a, b = (build_model(spec, torch.device("cpu"), seeded=True) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    c = build_model(small_world_trial(seed=4), torch.device("cpu"), seeded=True)
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True))
