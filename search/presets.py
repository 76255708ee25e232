"""Study presets: the GDT papers' Table 1 space, and the extended catalogue.

Presets are plain spec mappings, so `load_spec(preset_spec(name), overrides)` validates them like a file.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from search.spec import StudySpec, load_spec

ALL = ["invariant", "distinctive", "ignore", "off"]

STUDY_PRESETS: dict[str, dict[str, Any]] = {
    # Table 1 of both GDT versions: TR and TS each invariant, distinctive or "·" (off in the ICCV version,
    # ignore in the ICLR one), video-only (V) or audio-visual (AV) via MOD. The V rows learn their
    # invariance from two augmentations (K_g = 2), so AUG is searched too (invariant or off).
    "table1": {
        "name": "gdt-table1",
        "factors": {
            "TS": {"choices": ALL},
            "MOD": {"choices": ["invariant", "off"]},
            "TR": {"choices": ALL},
            "AUG": {"choices": ["invariant", "off"]},
        },
        "clip_budget": 64,
        "trial": {"steps": 100, "eval_every": 50},
        "search": {"sampler": "tpe", "n_trials": 20, "n_startup_trials": 8, "workers": 2,
                   "pruner": {"kind": "median", "n_startup_trials": 4}},
    },
    # Every factor of the catalogue with every choice it allows, K_m ranges, playback speed, the intra-modal
    # pair switches and the temperature. 8x clips need 5.3 s of video, so the world's videos are 6 s long.
    "extended": {
        "name": "gdt-extended",
        "factors": {
            "TS": {"choices": ALL, "k": [2, 3]},
            "MOD": {"choices": ["invariant", "off"]},
            "TR": {"choices": ALL},
            "SP": {"choices": ALL, "k": [2, 4]},
            "AUG": {"choices": ALL},
        },
        "clip_budget": 64,
        "modality_pairs": {"intra_video": [False, True], "intra_audio": [False, True]},
        "hyperparameters": {"temperature": {"low": 0.03, "high": 0.3, "log": True}},
        "data": {"world": {"duration_s": 6.0}},
        "trial": {"steps": 30, "eval_every": 10},
        "search": {"sampler": "tpe", "n_trials": 40, "n_startup_trials": 10, "pruner": {"kind": "hyperband"}},
    },
}


def preset_spec(name: str) -> dict[str, Any]:
    if name not in STUDY_PRESETS:
        raise KeyError(f"unknown study preset '{name}'; known: {', '.join(STUDY_PRESETS)}")
    return deepcopy(STUDY_PRESETS[name])


def load_preset(name: str, overrides: dict[str, Any] | None = None) -> StudySpec:
    return load_spec(preset_spec(name), overrides)
