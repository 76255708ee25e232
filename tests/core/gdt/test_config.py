import json
from dataclasses import replace

import pytest

from core.gdt.config import FactorSetting, GDTConfig, InvalidConfiguration, ModalityPairs, describe_settings
from core.gdt.factors import CATALOGUE, Choice
from core.gdt.validity import validate


def test_k_videos_is_derived_from_the_clip_budget():
    config = GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "distinctive"}, clip_budget=70)
    assert config.clips_per_video == 8
    assert config.k_videos == 8  # 70 // 8
    assert config.batch_size == 64
    assert config.ks == (8, 2, 2, 2, 1, 1)
    assert config.factor_names == ("DS", "TS", "MOD", "TR", "SP", "AUG")


def test_a_budget_of_video_clips_gives_a_cross_modal_configuration_its_video_only_twins_videos():
    shared = {"TS": "invariant", "TR": "distinctive"}
    video_only = GDTConfig.build(shared, clip_budget=64)
    cross_modal = GDTConfig.build({**shared, "MOD": "invariant"}, clip_budget=64, budget_counts="video_clips")
    assert cross_modal.k_videos == video_only.k_videos == 16
    assert cross_modal.batch_size == 2 * video_only.batch_size == 128  # 64 video clips, and their 64 audio clips
    # Every clip counts under the default: the cross-modal one has half the videos.
    assert GDTConfig.build({**shared, "MOD": "invariant"}, clip_budget=64).k_videos == 8
    # Without MOD the two rules agree.
    assert GDTConfig.build(shared, clip_budget=64, budget_counts="video_clips") == replace(
        video_only, budget_counts="video_clips"
    )
    assert GDTConfig.build(shared, clip_budget=64, budget_counts="video_clips").k_videos == 16
    with pytest.raises(InvalidConfiguration, match="budget_counts must be one of clips, video_clips"):
        GDTConfig.build(shared, budget_counts="audio_clips")
    with pytest.raises(InvalidConfiguration, match=r"K_i = clip_budget // prod\(K_m, m != MOD\) = 7 // 4"):
        GDTConfig.build({**shared, "MOD": "invariant"}, clip_budget=7, budget_counts="video_clips")


def test_unlisted_factors_are_off():
    config = GDTConfig.build({"TR": "invariant"})
    assert config.setting("TS") == FactorSetting(Choice.OFF, 1)
    assert config.setting("DS").choice is Choice.DISTINCTIVE


@pytest.mark.parametrize(
    ("choices", "budget", "factor", "fragment"),
    [
        ({"TR": ("invariant", 1)}, 64, "TR", "needs K_m >= 2"),
        ({"TS": ("off", 3)}, 64, "TS", "K_m = 1"),
        ({"TR": ("distinctive", 3)}, 64, "TR", "exceeds the 2 values"),
        ({"MOD": "distinctive"}, 64, "MOD", "not allowed"),
        ({"DS": "invariant"}, 64, "DS", "always distinctive"),
        ({"XX": "invariant"}, 64, "XX", "unknown factor"),
        ({"TS": ("invariant", 3), "AUG": ("invariant", 3)}, 17, "DS", "K_i = clip_budget"),
    ],
)
def test_impossible_settings_name_the_factor(choices, budget, factor, fragment):
    with pytest.raises(InvalidConfiguration, match=fragment) as error:
        GDTConfig.build(choices, clip_budget=budget)
    assert factor in error.value.factors
    assert factor in str(error.value)


def test_temperature_must_be_positive():
    with pytest.raises(InvalidConfiguration, match="temperature"):
        GDTConfig.build({"AUG": "invariant"}, temperature=0.0)


def test_no_positives_names_the_distinctive_factors():
    with pytest.raises(InvalidConfiguration, match="no positives") as error:
        validate(GDTConfig.build({"TR": "distinctive", "TS": "ignore"}))
    assert set(error.value.factors) == {"TR", "TS"}
    assert "make at least one factor invariant" in str(error.value)


def test_only_distinctive_data_sampling_has_no_positives():
    with pytest.raises(InvalidConfiguration, match="no positives"):
        validate(GDTConfig.build({}))


def test_modality_switches_that_remove_all_positives_blame_mod():
    config = GDTConfig.build({"MOD": "invariant"}, modality_pairs=ModalityPairs(cross_modal=False, intra_video=True))
    with pytest.raises(InvalidConfiguration, match="modality pair switches") as error:
        validate(config)
    assert error.value.factors[0] == "MOD"


def test_anchors_of_one_modality_without_positives_are_reported_by_modality():
    config = GDTConfig.build(
        {"MOD": "invariant", "AUG": "invariant"}, modality_pairs=ModalityPairs(cross_modal=False, intra_video=True)
    )
    with pytest.raises(InvalidConfiguration, match=r"^audio anchors \(\d+ of \d+\): no positives"):
        validate(config)


def test_within_modal_pairs_give_both_modalities_positives():
    # ICCV Table A.1's within-modal ablation: MOD sampled, only same-modality pairs kept.
    config = GDTConfig.build(
        {"MOD": "invariant", "AUG": "invariant"},
        clip_budget=8,
        modality_pairs=ModalityPairs(cross_modal=False, intra_video=True, intra_audio=True),
    )
    structure = validate(config)
    assert structure.positive.any(dim=1).all()
    assert not (structure.positive & (structure.modality[:, None] != structure.modality[None, :])).any()


def test_every_catalogue_factor_is_well_formed():
    for name, factor in CATALOGUE.items():
        assert factor.name == name
        assert factor.allowed, name
        if factor.categories and factor.off_value is not None:
            assert 0 <= factor.off_value < len(factor.categories)


def test_describe_uses_the_papers_letters():
    config = GDTConfig.build({"TS": "distinctive", "MOD": "invariant", "SP": "ignore"}, clip_budget=64)
    assert config.describe() == "DS=d(8) TS=d(2) MOD=i(2) TR=off SP=ignore(2) AUG=off"


def test_settings_record_is_what_describe_writes():
    config = GDTConfig.build({"TS": ("invariant", 4), "MOD": "invariant", "TR": ("ignore", 2)}, clip_budget=64)
    record = config.settings_record()
    assert list(record) == ["DS", "TS", "MOD", "TR", "SP", "AUG"]  # the notation's order, DS first
    assert record == {
        "DS": {"choice": "distinctive", "k": 4},
        "TS": {"choice": "invariant", "k": 4},
        "MOD": {"choice": "invariant", "k": 2},
        "TR": {"choice": "ignore", "k": 2},
        "SP": {"choice": "off", "k": 1},
        "AUG": {"choice": "off", "k": 1},
    }
    assert json.loads(json.dumps(record)) == record  # JSON-ready
    assert config.describe() == "DS=d(4) TS=i(4) MOD=i(2) TR=ignore(2) SP=off AUG=off" == describe_settings(record)
    reordered = GDTConfig.build({"TR": "distinctive"}, order=("DS", "TR", "TS", "MOD", "SP", "AUG"))
    assert list(reordered.settings_record()) == list(reordered.factor_names)
