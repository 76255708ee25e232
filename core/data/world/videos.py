"""Videos: a class's video rendered from its seed, and the whole world in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.data.world.classes import _BASE, class_spec
from core.data.world.render import _background, _draw_object
from core.data.world.scenes import _const, _sample_distractor, _sample_scene
from core.data.world.sound import _synth_audio
from core.data.world.world_config import WorldConfig, WorldItem, world_items


def _render_base(
    base: str, video_seed: int, cfg: WorldConfig, time_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    kind, opts = _BASE[base]
    rng = np.random.default_rng(video_seed)
    scene_dur = cfg.duration_s * time_scale
    scene = _sample_scene(kind, opts, rng, cfg, scene_dur)
    distractor = _sample_distractor(rng, cfg) if cfg.distractors else None
    background = _background(rng, cfg.height, cfg.width)

    t_frames = (np.arange(cfg.num_frames) + 0.5) / cfg.fps * time_scale
    yy, xx = (np.mgrid[0 : cfg.height, 0 : cfg.width] + 0.5).astype(np.float32)
    img = np.broadcast_to(background.astype(np.float32), (cfg.num_frames, 3, cfg.height, cfg.width)).copy()
    if distractor is not None:
        dx, dy = distractor.position(t_frames)
        _draw_object(
            img, distractor.obj, dx, dy, _const(t_frames, distractor.r), _const(t_frames, distractor.angle), cfg, xx, yy
        )
    x, y, r, ang = scene.motion(t_frames)
    _draw_object(img, scene.obj, x, y, r, ang, cfg, xx, yy)
    pixels = img * 255.0 + cfg.pixel_noise * rng.standard_normal(img.shape, dtype=np.float32)
    frames = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    audio = _synth_audio(scene, distractor, cfg, time_scale, rng)
    return np.ascontiguousarray(frames), audio


def generate_video(class_name: str, video_seed: int, config: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """One video of a class: frames ``(T, 3, H, W)`` uint8 and audio ``(samples,)`` float32 mono.

    Derived classes are computed from their source class with the same seed: a reversal partner is
    the source with frames and waveform reversed, bob_fast is bob_slow's scene at twice the speed.
    """
    spec = class_spec(class_name)
    if spec.derivation == "reverse":
        frames, audio = generate_video(spec.derived_from, video_seed, config)
        return np.ascontiguousarray(frames[::-1]), np.ascontiguousarray(audio[::-1])
    if spec.derivation == "speed2x":
        return _render_base(spec.derived_from, video_seed, config, time_scale=2.0)
    return _render_base(class_name, video_seed, config)


def iter_world(config: WorldConfig) -> Iterator[tuple[WorldItem, np.ndarray, np.ndarray]]:
    """Yield (item, frames, audio) for every video, in index order, one at a time (low memory)."""
    for item in world_items(config):
        frames, audio = generate_video(item.class_name, item.video_seed, config)
        yield item, frames, audio


@dataclass
class World:
    """The whole world in memory, usable wherever the clip cache is (same read methods).

    ``all_frames`` is (N, T, 3, H, W) uint8 and ``all_audio`` (N, samples) float32.
    """

    config: WorldConfig
    items: list[WorldItem]
    all_frames: np.ndarray
    all_audio: np.ndarray

    @property
    def fps(self) -> float:
        return float(self.config.fps)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def num_videos(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def frames(self, i: int) -> np.ndarray:
        return self.all_frames[i]

    def audio(self, i: int) -> np.ndarray:
        return self.all_audio[i]

    @property
    def names(self) -> list[str]:
        return [it.name for it in self.items]

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=np.int64)

    @property
    def splits(self) -> np.ndarray:
        """(N, num_splits) HMDB tags: 1 = train, 2 = test."""
        return np.array([it.splits for it in self.items], dtype=np.int64)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.classes

    def split_indices(self, split: int, part: str) -> np.ndarray:
        """Indices of split ``split`` (1-based, as HMDB's files) and ``part`` "train" or "test"."""
        tag = {"train": 1, "test": 2}[part]
        return np.flatnonzero(self.splits[:, split - 1] == tag)


def generate_world(config: WorldConfig) -> World:
    """Render every video of the world into two stacked arrays."""
    items = world_items(config)
    frames = np.empty((len(items), config.num_frames, 3, config.height, config.width), dtype=np.uint8)
    audio = np.empty((len(items), config.num_samples), dtype=np.float32)
    for item, f, a in iter_world(config):
        frames[item.index], audio[item.index] = f, a
    return World(config, items, frames, audio)
