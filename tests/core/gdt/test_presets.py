"""Each preset's contrast/weight structure matches its row of Table 1 (both paper versions)."""

import pytest
import torch

from core.gdt.factors import Choice
from core.gdt.presets import ICCV_TABLE_1, ICLR_TABLE_1, PRESETS, preset
from core.gdt.validity import validate


def _pair_differing_only_in(structure, config, factor):
    """(a, b) differing in `factor` and, when audio is sampled, in modality (the kept cross-modal pair)."""
    names = config.factor_names
    m = names.index(factor)
    must_differ = {m} | ({names.index("MOD")} if config.uses_audio else set())
    tuples = structure.tuples
    differs = tuples[:, None, :] != tuples[None, :, :]  # (K, K, M)
    wanted = torch.zeros(len(names), dtype=torch.bool)
    wanted[list(must_differ)] = True
    a, b = torch.nonzero((differs == wanted).all(dim=2))[0].tolist()
    return a, b


@pytest.mark.parametrize("version,table", [("iccv", ICCV_TABLE_1), ("iclr", ICLR_TABLE_1)])
@pytest.mark.parametrize("row", list(ICCV_TABLE_1))
def test_preset_structure_matches_its_table_row(version, table, row):
    config = preset(f"{version}-{row}", clip_budget=64)
    structure = validate(config)
    tr, ts, modality = table[row]
    for factor, letter in (("TR", tr), ("TS", ts)):
        setting = config.setting(factor)
        if letter == "." and version == "iccv":
            assert setting.choice is Choice.OFF and setting.k == 1, factor
            continue
        a, b = _pair_differing_only_in(structure, config, factor)
        c, w = bool(structure.contrast[a, b]), bool(structure.weight[a, b])
        if letter == ".":  # ICLR: ignore, the pair is neither positive nor negative
            assert not w, factor
        else:
            assert (c, w) == {"i": (True, True), "d": (False, True)}[letter], (factor, letter, c, w)
    mod = config.setting("MOD")
    if modality == "V":
        assert mod.choice is Choice.OFF and config.setting("AUG").choice is Choice.INVARIANT
        assert (structure.modality == 0).all()
    else:
        assert mod.choice is Choice.INVARIANT and mod.k == 2
        same_modality = structure.modality[:, None] == structure.modality[None, :]
        assert not (structure.weight & same_modality).any()  # cross-modal pairs only
        assert (structure.weight & ~same_modality).any()


def test_rows_m_are_distinctive_to_both_and_rows_h_invariant_to_both():
    for version in ("iccv", "iclr"):
        assert preset(f"{version}-m").describe().startswith("DS=d(8) TS=d(2) MOD=i(2) TR=d(2)")
        assert preset(f"{version}-h").describe().startswith("DS=d(8) TS=i(2) MOD=i(2) TR=i(2)")


def test_known_method_presets():
    simclr = validate(preset("simclr-video", 64))
    assert (simclr.positive.sum(dim=1) == 1).all() and (simclr.negative.sum(dim=1) == 62).all()  # B - 2
    avid = validate(preset("cross-modal", 64))
    assert (avid.positive.sum(dim=1) == 1).all()
    assert int(avid.modality.sum()) == 32  # half the clips are audio


def test_every_preset_is_valid_and_unknown_names_list_the_known_ones():
    for name in PRESETS:
        validate(preset(name))
    with pytest.raises(KeyError, match="iccv-a"):
        preset("nope")
