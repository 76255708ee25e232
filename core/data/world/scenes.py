"""Scenes: a sampled parameter set (main object, distractor) whose motion can be evaluated at any (scene) time."""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.data.world.world_config import WorldConfig


@dataclass
class _Object:
    shape: str
    color: np.ndarray  # (3,) in [0, 1]
    marker: np.ndarray  # (3,) colour of the orientation dot


@dataclass
class _Scene:
    motion: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # x, y, r, angle
    obj: _Object
    impacts: list[tuple[float, float, str]] = field(default_factory=list)  # (time, strength, timbre)
    timbre_freq: float = 600.0  # base frequency of wood / metal knocks
    pitch: float = 250.0  # base pitch of the hum (Hz)


def _random_object(rng: np.random.Generator, shape: str | None = None) -> _Object:
    shape = shape or str(rng.choice(["circle", "square", "triangle"]))
    rgb = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0)))
    luminance = float(rgb @ np.array([0.299, 0.587, 0.114]))
    marker = np.full(3, 0.05 if luminance > 0.5 else 0.95)
    return _Object(shape, rgb, marker)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _const(s: np.ndarray, v: float) -> np.ndarray:
    return np.full(s.shape, v, dtype=np.float64)


def _ballistic(
    y0: float, t_drop: float, g: float, e: float, y_floor: float, t_end: float, v_rest: float = 0.15
) -> tuple[Callable[[np.ndarray], np.ndarray], list[tuple[float, float]]]:
    """Vertical position of an object held at y0, dropped at t_drop, bouncing with restitution e.

    Image coordinates: y grows downwards, so gravity is +g. Returns y(s) and the (time, impact speed)
    of every landing. Piecewise parabolas, evaluated with one searchsorted.
    """
    starts, ys, vs, gs = [-1e9, t_drop], [y0, y0], [0.0, 0.0], [0.0, g]
    impacts: list[tuple[float, float]] = []
    t, y, v = t_drop, y0, 0.0
    while t < t_end:
        dt = (-v + np.sqrt(v * v + 2.0 * g * (y_floor - y))) / g
        t, v_imp = t + dt, v + g * dt
        impacts.append((t, v_imp))
        v, y = -e * v_imp, y_floor
        if abs(v) < v_rest:
            starts.append(t), ys.append(y_floor), vs.append(0.0), gs.append(0.0)
            break
        starts.append(t), ys.append(y_floor), vs.append(v), gs.append(g)
    a_t, a_y, a_v, a_g = (np.array(a) for a in (starts, ys, vs, gs))

    def y_of(s: np.ndarray) -> np.ndarray:
        i = np.searchsorted(a_t, s, side="right") - 1
        d = s - a_t[i]
        return np.minimum(a_y[i] + a_v[i] * d + 0.5 * a_g[i] * d * d, y_floor)

    return y_of, impacts


def _sample_scene(kind: str, opts: dict, rng: np.random.Generator, cfg: WorldConfig, scene_dur: float) -> _Scene:
    """Draw one scene of a base class. All randomness comes from rng, in a fixed order."""
    D = cfg.duration_s
    m = min(cfg.height, cfg.width)
    obj = _random_object(rng, opts.get("shape"))
    r0 = rng.uniform(0.14, 0.2)  # radius in units of the short side
    rx, ry = r0 * m / cfg.width, r0 * m / cfg.height
    angle0 = rng.uniform(0, 2 * np.pi)
    impacts: list[tuple[float, float, str]] = []

    if kind == "slide":
        y0 = rng.uniform(0.3, 0.75)
        xs, xe = rng.uniform(0.06, 0.16) + rx, rng.uniform(0.84, 0.94) - rx
        t_push, t_stop = rng.uniform(0.05, 0.2) * D, rng.uniform(0.7, 0.95) * D
        ts = t_stop - t_push
        v0 = 2.0 * (xe - xs) / ts

        def motion(s):
            tau = np.clip(s - t_push, 0.0, ts)
            return xs + v0 * tau - 0.5 * (v0 / ts) * tau**2, _const(s, y0), _const(s, r0), _const(s, angle0)

        impacts.append((t_push, min(v0 / 0.4, 1.5), "knock"))

    elif kind in ("grow", "grow_then_shrink"):
        cx, cy = rng.uniform(0.3, 0.7, size=2)
        r_a, r_b = rng.uniform(0.07, 0.1), rng.uniform(0.2, 0.26)
        if kind == "grow":
            t_a, t_b = rng.uniform(0.0, 0.2) * D, rng.uniform(0.8, 1.0) * D

            def radius(s):
                return r_a + (r_b - r_a) * _smoothstep((s - t_a) / (t_b - t_a))
        else:
            # Symmetric distributions of the change point and end sizes: closed under time reversal.
            r_c = rng.uniform(0.07, 0.1)
            t_a, t_mid, t_c = rng.uniform(0.0, 0.1) * D, rng.uniform(0.35, 0.65) * D, D - rng.uniform(0.0, 0.1) * D

            def radius(s):
                up = r_a + (r_b - r_a) * _smoothstep((s - t_a) / (t_mid - t_a))
                down = r_b + (r_c - r_b) * _smoothstep((s - t_mid) / (t_c - t_mid))
                return np.where(s < t_mid, up, down)

        def motion(s):
            return _const(s, cx), _const(s, cy), radius(s), _const(s, angle0)

    elif kind == "rotate":
        cx, cy = rng.uniform(0.3, 0.7, size=2)
        t_spin = rng.uniform(0.05, 0.2) * D
        w0 = 2 * np.pi * rng.uniform(0.6, 1.4)  # rad/s; <= 0.12 turn per frame at 12 fps: no aliasing
        tau = rng.uniform(1.0, 2.5)

        def motion(s):
            d = np.maximum(s - t_spin, 0.0)
            # Increasing angle is clockwise on screen because image y points down.
            return _const(s, cx), _const(s, cy), _const(s, r0), angle0 + w0 * tau * (1.0 - np.exp(-d / tau))

        impacts.append((t_spin, min(w0 / (2 * np.pi), 1.5), "knock"))
        k = 1
        while True:  # ratchet click at every quarter turn
            arg = 1.0 - k * (np.pi / 2) / (w0 * tau)
            if arg <= 0:
                break
            t_k = t_spin - tau * np.log(arg)
            if t_k >= scene_dur:
                break
            impacts.append((t_k, 0.8 * arg, "click"))  # arg = w(t_k) / w0
            k += 1

    elif kind in ("fall", "bounce", "slide_then_fall"):
        y_floor = 0.95 - ry
        if kind == "fall":
            cx, vx = rng.uniform(0.25, 0.75), 0.0
            y_top, t_drop = rng.uniform(0.12, 0.3), rng.uniform(0.1, 0.35) * D
            g, e = rng.uniform(2.0, 3.0), rng.uniform(0.25, 0.4)
        elif kind == "bounce":
            cx, vx = rng.uniform(0.3, 0.7), rng.uniform(-0.04, 0.04)
            y_top, t_drop = rng.uniform(0.08, 0.25), rng.uniform(0.0, 0.15) * D
            g, e = rng.uniform(2.5, 3.5), rng.uniform(0.72, 0.85)
        else:
            direction = rng.choice([-1.0, 1.0])
            y_top, speed = rng.uniform(0.2, 0.4), rng.uniform(0.12, 0.2)
            t_drop = rng.uniform(0.35, 0.6) * D
            g, e = rng.uniform(2.0, 3.0), rng.uniform(0.25, 0.4)
        y_of, landings = _ballistic(y_top, t_drop, g, e, y_floor, scene_dur)
        impacts += [(t, min(v / 1.5, 1.5), "thud") for t, v in landings]

        if kind == "slide_then_fall":
            t_land, t_fric = landings[0][0], 0.3
            travel = speed * (t_land + t_fric)
            x_start = 0.04 + rx + rng.uniform(0.0, max(0.0, 0.92 - 2 * rx - travel))

            def x_of(s):
                d = np.maximum(s - t_land, 0.0)
                return x_start + speed * (np.minimum(s, t_land) + t_fric * (1.0 - np.exp(-d / t_fric)))

            def motion(s):
                x = x_of(s)
                return (x if direction > 0 else 1.0 - x), y_of(s), _const(s, r0), _const(s, angle0)
        else:

            def motion(s):
                x = np.clip(cx + vx * s, 0.05 + rx, 0.95 - rx)
                return x, y_of(s), _const(s, r0), _const(s, angle0)

    elif kind == "knock":
        left = rng.uniform() < 0.5
        amp, freq, phase = rng.uniform(0.35, 0.55), rng.uniform(0.8, 1.4), rng.uniform(0.0, np.pi)
        y0 = rng.uniform(0.3, 0.75)
        x_wall = 0.03 + rx if left else 0.97 - rx
        sign = 1.0 if left else -1.0

        def motion(s):
            x = x_wall + sign * amp * np.abs(np.sin(np.pi * freq * s + phase))
            return x, _const(s, y0), _const(s, r0), _const(s, angle0)

        first = int(np.ceil(phase / np.pi))
        for k in range(first, first + int(scene_dur * freq) + 2):
            t_k = (k * np.pi - phase) / (np.pi * freq)
            if 0.0 < t_k < scene_dur:
                impacts.append((t_k, min(amp * np.pi * freq / 1.5, 1.5), opts["timbre"]))

    elif kind == "bob":
        cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.42, 0.58)
        amp, freq, phase = rng.uniform(0.12, 0.18), rng.uniform(0.35, 0.6), rng.uniform(0, 2 * np.pi)

        def motion(s):
            return _const(s, cx), cy + amp * np.sin(2 * np.pi * freq * s + phase), _const(s, r0), _const(s, angle0)

    else:  # pragma: no cover - _BASE lists every kind
        raise AssertionError(kind)

    timbre_freq = rng.uniform(450.0, 700.0)
    pitch = float(np.exp(rng.uniform(np.log(180.0), np.log(360.0))))  # log-uniform over one octave
    return _Scene(motion, obj, impacts, timbre_freq=timbre_freq, pitch=pitch)


@dataclass
class _Distractor:
    obj: _Object
    p0: np.ndarray  # (2,) start position (x, y)
    v: np.ndarray  # (2,) velocity
    lo: np.ndarray
    hi: np.ndarray
    r: float
    angle: float
    pitch: float

    def position(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Billiard motion (reflecting walls) from a uniform start with an isotropic velocity: a
        # stationary, reversible process, so distractors carry no time-direction cue.
        span = self.hi - self.lo
        u = np.mod(self.p0[:, None] - self.lo[:, None] + self.v[:, None] * s[None, :], 2 * span[:, None])
        p = self.lo[:, None] + np.where(u < span[:, None], u, 2 * span[:, None] - u)
        return p[0], p[1]


def _sample_distractor(rng: np.random.Generator, cfg: WorldConfig) -> _Distractor:
    m = min(cfg.height, cfg.width)
    r = rng.uniform(0.08, 0.11)
    half = np.array([r * m / cfg.width, r * m / cfg.height]) + 0.02
    lo, hi = half, 1.0 - half
    p0 = rng.uniform(lo, hi)
    theta, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.12)
    v = speed * np.array([np.cos(theta), np.sin(theta)])
    return _Distractor(_random_object(rng), p0, v, lo, hi, r, rng.uniform(0, 2 * np.pi), rng.uniform(400.0, 800.0))
