"""Shared set-up for the search tests: a tiny procedural world in a per-session clip cache, tiny specs."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from search.spec import StudySpec, load_spec

# 12 pretraining videos of 2 s; knock_wood / knock_metal differ only in their sound, so a video-only
# proxy cannot score perfectly. Tiny encoders, two training steps: a trial takes a few seconds on 2 cores.
TINY: dict = {
    "data": {
        "world": {
            "videos_per_class": 3,
            "classes": ["slide_right", "grow", "knock_wood", "knock_metal"],
            "duration_s": 2.0,
            "fps": 8,
            "height": 16,
            "width": 16,
        },
        "clip_frames": 4,
        "proxy_videos_per_class": 3,
    },
    "encoders": {"feature_dim": 16, "width": 4},
    "trial": {"steps": 2},
    "evaluation": {"clips_per_video": 1, "invariance_videos": 4},
    "clip_budget": 16,
    # One torch thread per process: tiny trials gain nothing from two, and lose a lot when the cores are busy.
    "search": {"heartbeat_s": 1, "grace_s": 2, "threads": 1},
}


DEFAULT_FACTORS = {"TS": {"choices": ["invariant", "distinctive", "off"]}, "MOD": {"choices": ["invariant"]}}


@pytest.fixture(scope="session", autouse=True)
def clip_cache_dir(tmp_path_factory):
    """Every trial of the session shares one clip cache, outside the user's home."""
    path = tmp_path_factory.mktemp("gdt-cache")
    previous = os.environ.get("GDT_SEARCH_CACHE")
    os.environ["GDT_SEARCH_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("GDT_SEARCH_CACHE", None)
    else:
        os.environ["GDT_SEARCH_CACHE"] = previous


def tiny_raw(tmp_path: Path, name: str = "tiny", factors: dict | None = None) -> dict:
    return {
        **copy.deepcopy(TINY),
        "name": name,
        "storage": f"sqlite:///{tmp_path / 'studies.db'}",
        "factors": factors or DEFAULT_FACTORS,
        "ray": {"storage_path": str(tmp_path / "ray_results")},
    }


def tiny_spec(tmp_path: Path, name: str = "tiny", factors: dict | None = None, **overrides) -> StudySpec:
    """A tiny study; overrides are dotted fields with '__' for '.', e.g. search__n_trials=3."""
    return load_spec(tiny_raw(tmp_path, name, factors), {k.replace("__", "."): v for k, v in overrides.items()})
