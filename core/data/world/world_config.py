"""The world's settings (:class:`WorldConfig`) and its labelled index (:func:`world_items`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from core.data.world.classes import CLASS_NAMES, class_spec

# Bump when the generator's output changes for a given config, so that caches keyed on the world's
# identity are rebuilt.
WORLD_VERSION = 1


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines the world. Same config -> bit-identical videos.

    Defaults keep a CPU trial short: 4 s videos at 12 fps, 32x32 frames, 16 kHz mono audio.
    """

    seed: int = 0
    videos_per_class: int = 20
    duration_s: float = 4.0
    fps: int = 12
    height: int = 32
    width: int = 32
    sample_rate: int = 16000
    classes: tuple[str, ...] = CLASS_NAMES
    train_fraction: float = 0.7  # per class and split, as HMDB-51's 70/30 splits
    num_splits: int = 3
    distractors: bool = True
    pixel_noise: float = 4.0  # std of per-pixel Gaussian noise, uint8 units
    audio_noise: float = 0.01  # std of white noise added to the waveform

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))  # hashable even when given a list
        if self.seed < 0:
            raise ValueError("seed: must be >= 0")
        for name in self.classes:
            class_spec(name)
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes: duplicate class names")
        if self.videos_per_class < 1:
            raise ValueError("videos_per_class: must be >= 1")
        if self.duration_s <= 0 or self.fps <= 0 or self.sample_rate <= 0:
            raise ValueError("duration_s, fps and sample_rate must be positive")
        if min(self.height, self.width) < 8:
            raise ValueError("height/width: must be >= 8 pixels")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError("train_fraction: must be in (0, 1)")
        if self.num_splits < 1:
            raise ValueError("num_splits: must be >= 1")

    @property
    def num_frames(self) -> int:
        return round(self.duration_s * self.fps)

    @property
    def num_samples(self) -> int:
        return round(self.duration_s * self.sample_rate)

    def identity(self) -> str:
        """A stable hash of the settings and the generator version (a cache key component)."""
        payload = json.dumps({"world_version": WORLD_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class WorldItem:
    """One labelled video of the world (without its pixels).

    ``splits[s]`` is the HMDB-51 tag of the video in split ``s + 1``: 1 = train, 2 = test, 0 = unused.
    """

    index: int
    name: str
    class_name: str
    label: int
    video_seed: int
    splits: tuple[int, ...]


def _class_id(name: str) -> int:
    # The catalogue position, not the position in config.classes, so that a video does not change
    # when other classes are added to or removed from a config.
    return CLASS_NAMES.index(name)


def world_items(config: WorldConfig) -> list[WorldItem]:
    """The labelled index of the world: names, labels, per-video seeds and the HMDB-style splits."""
    n = config.videos_per_class
    n_train = min(n - 1, max(1, round(config.train_fraction * n))) if n > 1 else 1
    items: list[WorldItem] = []
    for label, name in enumerate(config.classes):
        cid = _class_id(name)
        tags = np.zeros((n, config.num_splits), dtype=np.int64)
        for s in range(config.num_splits):
            order = np.random.default_rng([config.seed, 1000 + s, cid]).permutation(n)
            tags[order[:n_train], s] = 1
            tags[order[n_train:], s] = 2
        for i in range(n):
            seed = int(np.random.SeedSequence([config.seed, cid, i]).generate_state(1)[0])
            items.append(WorldItem(len(items), f"{name}_{i:04d}", name, label, seed, tuple(int(t) for t in tags[i])))
    return items
