"""The procedural world: determinism, exact reversal / speed pairs, single-factor pairs, sync, splits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from core.data.world import (
    CLASS_NAMES,
    CLASSES,
    REVERSAL_PAIRS,
    SPEED_PAIRS,
    WorldConfig,
    generate_video,
    generate_world,
    ground_truth_table,
    world_items,
)

SMALL = WorldConfig(videos_per_class=2, duration_s=2.0)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "world.md"


def test_generation_is_deterministic_and_seed_dependent() -> None:
    for name in CLASS_NAMES:
        f1, a1 = generate_video(name, 7, SMALL)
        f2, a2 = generate_video(name, 7, SMALL)
        assert np.array_equal(f1, f2) and np.array_equal(a1, a2), name
        f3, a3 = generate_video(name, 8, SMALL)
        assert not np.array_equal(f1, f3) and not np.array_equal(a1, a3), name
        assert f1.shape == (SMALL.num_frames, 3, SMALL.height, SMALL.width) and f1.dtype == np.uint8
        assert a1.shape == (SMALL.num_samples,) and a1.dtype == np.float32
        assert np.abs(a1).max() <= 1.0
    assert world_items(SMALL) == world_items(WorldConfig(videos_per_class=2, duration_s=2.0))
    w1, w2 = generate_world(SMALL), generate_world(SMALL)
    assert np.array_equal(w1.all_frames, w2.all_frames) and np.array_equal(w1.all_audio, w2.all_audio)


def test_config_identity_tracks_every_setting() -> None:
    base = SMALL.identity()
    assert base == WorldConfig(videos_per_class=2, duration_s=2.0).identity()
    for change in ({"seed": 1}, {"fps": 6}, {"height": 16}, {"sample_rate": 8000}, {"distractors": False}):
        assert dataclasses.replace(SMALL, **change).identity() != base, change


def test_a_video_does_not_depend_on_which_other_classes_are_in_the_config() -> None:
    subset = dataclasses.replace(SMALL, classes=("fall", "grow"))
    a = {it.name: it.video_seed for it in world_items(SMALL)}
    b = {it.name: it.video_seed for it in world_items(subset)}
    assert all(a[name] == seed for name, seed in b.items())


def test_catalogue_has_the_required_structure() -> None:
    assert len(CLASSES) >= 12
    pairs = {frozenset(p) for p in REVERSAL_PAIRS}
    for pair in (("slide_right", "slide_left"), ("grow", "shrink"), ("rotate_cw", "rotate_ccw"), ("fall", "rise")):
        assert frozenset(pair) in pairs, pair
    factors = {c.distinguished_by for c in CLASSES}
    assert {"TR", "SP", "appearance", "audio"} <= factors
    for c in CLASSES:
        assert c.confusable_with in CLASS_NAMES, c.name
    assert sum("changes part-way" in c.motion for c in CLASSES) >= 2
    table = ground_truth_table()
    assert all(f"`{name}`" in table for name in CLASS_NAMES)


def test_docs_describe_every_class() -> None:
    text = DOCS.read_text()
    for name in CLASS_NAMES:
        assert f"`{name}`" in text, name


@pytest.mark.parametrize("forward,backward", REVERSAL_PAIRS)
def test_reversal_pairs_are_exact_reversals(forward: str, backward: str) -> None:
    for seed in (3, 11):
        f_fwd, a_fwd = generate_video(forward, seed, SMALL)
        f_bwd, a_bwd = generate_video(backward, seed, SMALL)
        assert np.array_equal(f_bwd, f_fwd[::-1])
        assert np.array_equal(a_bwd, a_fwd[::-1])
        # ...and not trivially so: the videos are far from palindromes.
        assert np.abs(f_bwd.astype(int) - f_fwd.astype(int)).mean() > 1.0
        assert np.abs(a_bwd - a_fwd).mean() > 0.1 * np.abs(a_fwd).mean()


def test_speed_pair_is_the_slow_scene_at_twice_the_speed() -> None:
    ((slow, fast),) = SPEED_PAIRS
    f_fast, a_fast = generate_video(fast, 5, SMALL)
    # The slow scene over twice the time, sampled at half the frame and sample rates, hits exactly
    # the same scene times as the fast video.
    half = dataclasses.replace(
        SMALL, fps=SMALL.fps // 2, sample_rate=SMALL.sample_rate // 2, duration_s=2 * SMALL.duration_s
    )
    f_slow, a_slow = generate_video(slow, 5, half)
    assert np.array_equal(f_fast, f_slow)
    assert np.array_equal(a_fast, a_slow)


def test_single_factor_pairs_differ_only_in_their_factor() -> None:
    # Appearance pair: identical sound and motion, different shape.
    f_ball, a_ball = generate_video("bounce_ball", 9, SMALL)
    f_box, a_box = generate_video("bounce_box", 9, SMALL)
    assert np.array_equal(a_ball, a_box)
    assert not np.array_equal(f_ball, f_box)
    # Timbre pair: identical pixels, different sound.
    f_wood, a_wood = generate_video("knock_wood", 9, SMALL)
    f_metal, a_metal = generate_video("knock_metal", 9, SMALL)
    assert np.array_equal(f_wood, f_metal)
    assert np.abs(a_wood - a_metal).mean() > 0.1 * np.abs(a_wood).mean()


def _motion_and_envelope(frames: np.ndarray, audio: np.ndarray, cfg: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """Frame-difference energy between frames k-1 and k, and the audio RMS between their centres."""
    motion = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    spf = cfg.sample_rate // cfg.fps
    seg = audio[spf // 2 : spf // 2 + len(motion) * spf].reshape(len(motion), spf)
    return motion, np.sqrt((seg**2).mean(axis=1))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_audio_is_synchronised_with_motion() -> None:
    cfg = WorldConfig(videos_per_class=3, duration_s=4.0)
    shift = cfg.fps // 2  # 0.5 s
    aligned, shifted, best_lag_zero = [], [], 0
    for item in world_items(cfg):
        frames, audio = generate_video(item.class_name, item.video_seed, cfg)
        motion, env = _motion_and_envelope(frames, audio, cfg)
        aligned.append(_corr(motion, env))
        shifted.append(0.5 * (_corr(motion[shift:], env[:-shift]) + _corr(motion[:-shift], env[shift:])))
        lags = range(-3, 4)
        scores = [
            _corr(motion[max(0, lag) : len(motion) + min(0, lag)], env[max(0, -lag) : len(env) - max(0, lag)])
            for lag in lags
        ]
        best_lag_zero += int(np.argmax(scores) == 3)
    aligned_mean, shifted_mean = float(np.mean(aligned)), float(np.mean(shifted))
    # Stated thresholds: the sound follows the motion (mean r > 0.6), a 0.5 s offset destroys most
    # of that (drop > 0.4), and the best alignment is the true one for most videos.
    assert aligned_mean > 0.6, aligned_mean
    assert aligned_mean - shifted_mean > 0.4, (aligned_mean, shifted_mean)
    assert best_lag_zero >= 0.75 * len(aligned), best_lag_zero


def test_hmdb_style_splits() -> None:
    cfg = WorldConfig(videos_per_class=10, classes=("grow", "shrink", "fall"))
    items = world_items(cfg)
    tags = np.array([it.splits for it in items])
    assert tags.shape == (30, 3) and set(np.unique(tags)) == {1, 2}
    for label in range(3):
        per_class = tags[[it.label == label for it in items]]
        assert (per_class == 1).sum(axis=0).tolist() == [7, 7, 7]
        assert (per_class == 2).sum(axis=0).tolist() == [3, 3, 3]
    assert not np.array_equal(tags[:, 0], tags[:, 1])  # three different partitions
    world = generate_world(cfg)
    train, test = world.split_indices(1, "train"), world.split_indices(1, "test")
    assert len(train) == 21 and len(test) == 9 and not set(train) & set(test)


def _time_odd_features(frames: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """Slopes over time of per-frame statistics: each flips sign exactly when the video is reversed.

    Statistics: centroid x / y and area of the saturated (object) pixels, audio RMS and spectral
    centroid of each frame's audio span.
    """
    f = frames.astype(np.float32) / 255
    mask = (f.max(axis=1) - f.min(axis=1) > 0.4).astype(np.float32)
    t_len, h, w = mask.shape
    area = mask.sum(axis=(1, 2)) + 1e-3
    xs = (mask * np.arange(w)).sum(axis=(1, 2)) / area
    ys = (mask * np.arange(h)[:, None]).sum(axis=(1, 2)) / area
    seg = audio[: len(audio) // t_len * t_len].reshape(t_len, -1)
    rms = np.sqrt((seg**2).mean(axis=1))
    spectrum = np.abs(np.fft.rfft(seg, axis=1))
    centroid = (spectrum * np.arange(spectrum.shape[1])).sum(axis=1) / (spectrum.sum(axis=1) + 1e-6)
    t = np.arange(t_len) - (t_len - 1) / 2
    return np.array([np.dot(t, s - s.mean()) / np.dot(t, t) for s in (xs, ys, area, rms, centroid)])


def test_reversal_pairs_separate_only_with_time_direction_sensitive_features() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cfg = WorldConfig(videos_per_class=20, classes=tuple(c for pair in REVERSAL_PAIRS for c in pair))
    world = generate_world(cfg)
    signed = np.array([_time_odd_features(world.frames(i), world.audio(i)) for i in range(world.num_videos)])
    # |slope| is exactly invariant to time reversal: f(reverse(x)) = f(x).
    features = {"distinctive": signed, "invariant": np.abs(signed)}
    scores: dict[str, list[float]] = {"distinctive": [], "invariant": []}
    for a, b in REVERSAL_PAIRS:
        pair = np.isin(world.labels, [cfg.classes.index(a), cfg.classes.index(b)])
        for split in (1, 2, 3):
            train = np.intersect1d(world.split_indices(split, "train"), np.flatnonzero(pair))
            test = np.intersect1d(world.split_indices(split, "test"), np.flatnonzero(pair))
            for kind, x in features.items():
                clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[train], world.labels[train])
                scores[kind].append(clf.score(x[test], world.labels[test]))
    # Time-direction-sensitive features separate every pair; reversal-invariant ones stay near chance.
    assert min(scores["distinctive"]) > 0.9, scores["distinctive"]
    assert np.mean(scores["invariant"]) < 0.7, scores["invariant"]
