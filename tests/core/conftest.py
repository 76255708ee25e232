"""Shared fixtures for core tests: a tiny procedural world, cached once per session."""

import pytest

from core.data.clip_cache import build_world_cache
from core.data.world import WorldConfig
from core.evaluation.proxy import ProxyData
from core.trial import proxy_data

TINY_WORLD = WorldConfig(
    videos_per_class=3,
    classes=("slide_right", "slide_left", "grow", "shrink"),
    duration_s=2.0,
    fps=8,
    height=16,
    width=16,
)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return build_world_cache(TINY_WORLD, tmp_path_factory.mktemp("clips"), show_progress=False)


@pytest.fixture(scope="session")
def tiny_proxy(tiny_cache) -> ProxyData:
    return proxy_data(tiny_cache, split=1)
