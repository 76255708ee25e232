"""Named configurations for known methods and for every row of Table 1 in both GDT paper versions.

Table 1 rows give DS / TR / TS / modality. The two versions print "·" for different things:
the ICCV version means *off* (K_m = 1: one value drawn as augmentation), the ICLR version means
*ignore* (K_m = 2 with w = 0 across values). Video-only rows (V) learn their invariance from two
augmentations (K_g = 2, as the ICCV text says for row (a)); audio-visual rows (AV) sample both
modalities with cross-modal pairs only and one augmentation (K_g = 1).
"""

from __future__ import annotations

from collections.abc import Callable

from core.gdt.config import GDTConfig
from core.gdt.factors import CHOICE_OF_LETTER

# Row -> (TR, TS, modality) in the papers' letters; "." is the version-dependent "·".
ICCV_TABLE_1: dict[str, tuple[str, str, str]] = {
    "a": (".", ".", "V"), "b": ("i", ".", "V"), "c": (".", "i", "V"), "d": ("i", "i", "V"),
    "e": (".", ".", "AV"), "f": ("i", ".", "AV"), "g": (".", "i", "AV"), "h": ("i", "i", "AV"),
    "i": ("d", ".", "AV"), "j": (".", "d", "AV"), "k": ("d", "i", "AV"), "l": ("i", "d", "AV"),
    "m": ("d", "d", "AV"),
}  # fmt: skip
# The ICLR submission orders rows (i)-(l) differently (its "v" = variant = distinctive).
ICLR_TABLE_1: dict[str, tuple[str, str, str]] = {
    "a": (".", ".", "V"), "b": ("i", ".", "V"), "c": (".", "i", "V"), "d": ("i", "i", "V"),
    "e": (".", ".", "AV"), "f": ("i", ".", "AV"), "g": (".", "i", "AV"), "h": ("i", "i", "AV"),
    "i": ("i", "d", "AV"), "j": ("d", "i", "AV"), "k": (".", "d", "AV"), "l": ("d", ".", "AV"),
    "m": ("d", "d", "AV"),
}  # fmt: skip


def table1_config(row: str, version: str, clip_budget: int = 64) -> GDTConfig:
    """The configuration of Table 1 row `row` ("a".."m") in paper `version` ("iccv" or "iclr")."""
    table, dot = {"iccv": (ICCV_TABLE_1, "off"), "iclr": (ICLR_TABLE_1, "ignore")}[version]
    tr, ts, modality = table[row]
    choices = {name: CHOICE_OF_LETTER.get(letter, dot) for name, letter in (("TR", tr), ("TS", ts))}
    if modality == "AV":
        choices["MOD"] = "invariant"
    else:
        choices["AUG"] = "invariant"
    return GDTConfig.build(choices, clip_budget=clip_budget)


def simclr_video(clip_budget: int = 64) -> GDTConfig:
    """SimCLR on video: distinctive to the video, invariant to two augmentations, video only."""
    return GDTConfig.build({"AUG": "invariant"}, clip_budget=clip_budget)


def cross_modal_basecase(clip_budget: int = 64) -> GDTConfig:
    """AVID-like cross-modal basecase: distinctive to the video, invariant to modality (V <-> A pairs)."""
    return GDTConfig.build({"MOD": "invariant"}, clip_budget=clip_budget)


PRESETS: dict[str, Callable[..., GDTConfig]] = {
    "simclr-video": simclr_video,
    "cross-modal": cross_modal_basecase,
    **{
        f"{version}-{row}": (lambda budget=64, row=row, version=version: table1_config(row, version, budget))
        for version in ("iccv", "iclr")
        for row in ICCV_TABLE_1
    },
}


def preset(name: str, clip_budget: int = 64) -> GDTConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset '{name}'; known presets: {', '.join(PRESETS)}")
    return PRESETS[name](clip_budget)
