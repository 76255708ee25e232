"""The procedural audio-visual world: the embedded default dataset (no downloads).

Every video is a small 2-D scene rendered from a seed: a textured background, a main object whose
motion defines the action class, and (by default) a smaller distractor object that drifts around
the frame. The sound track is *caused* by the scene, so that audio and video are synchronised:

* every moving object hums; the hum's loudness follows its speed (linear + angular + growth
  speed) and its pitch follows its height in the frame and falls as it gets bigger;
* collisions (bounces, knocks against a wall, pushes, ratchet clicks of a spinner) add an impact
  sound whose onset is the instant of contact and whose strength follows the impact speed;
* white noise in the pixels and in the waveform, plus the distractor's own quieter hum, keep the
  classes from being trivially separable.

Layouts used by the whole project: frames are ``(T, C=3, H, W)`` uint8 RGB, audio is ``(samples,)``
float32 mono in [-1, 1]. Frame ``k`` shows the scene at ``(k + 0.5) / fps`` and audio sample ``n``
is taken at ``(n + 0.5) / sample_rate``: with centred sample times, reversing both arrays is exactly
the scene played backwards (``t -> duration - t``), which is what the reversal-pair classes are.

Derived classes are *exact* transformations of another class's video drawn with the same seed:
a reversal partner is the forward video with frames and waveform reversed; ``bob_fast`` is the
``bob_slow`` scene played at twice the speed (scene time ``2 t``, so pitches double as well), which
is what the SP factor does to a clip. Appearance (shapes, colours, backgrounds, distractors) is drawn
from the same distributions for every class unless the class is defined by appearance, so a
representation invariant to a factor cannot separate the classes that only that factor separates.
See ``docs/world.md`` and :data:`CLASSES` for the ground truth.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

# Bump when the generator's output changes for a given config, so that caches keyed on the world's
# identity are rebuilt.
WORLD_VERSION = 1


# --------------------------------------------------------------------------------------------------
# The class catalogue (ground truth)


@dataclass(frozen=True)
class ClassSpec:
    """One action class and what separates it from the class it is most easily confused with.

    ``distinguished_by`` names what a representation must be *distinctive* to (or which input it must
    see) to tell this class from ``confusable_with``: a factor code from ``core.factors`` (TR, SP) or
    ``appearance`` / ``audio`` (only the visual shape / only the sound timbre differs).
    """

    name: str
    motion: str
    sound: str
    confusable_with: str | None
    distinguished_by: str
    derived_from: str | None = None
    derivation: str | None = None  # "reverse": frames and waveform reversed; "speed2x": scene at 2x


CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec(
        "slide_right",
        "pushed from rest, slides to the right and decelerates to a stop (friction)",
        "knock at the push; hum loud while fast, fading as it slows; pitch set by its height",
        "slide_left",
        "TR",
    ),
    ClassSpec(
        "slide_left",
        "exact time reversal of slide_right: starts moving left, accelerates, stops with a bump",
        "slide_right's waveform reversed (swelling hum, reversed knock)",
        "slide_right",
        "TR",
        "slide_right",
        "reverse",
    ),
    ClassSpec(
        "grow",
        "stays in place and grows from small to large (smooth start and stop)",
        "hum whose pitch glides down as the object grows; loud while the size changes",
        "shrink",
        "TR",
    ),
    ClassSpec(
        "shrink",
        "exact time reversal of grow: shrinks from large to small",
        "grow's waveform reversed (pitch glides up)",
        "grow",
        "TR",
        "grow",
        "reverse",
    ),
    ClassSpec(
        "rotate_cw",
        "flicked, spins clockwise (on screen) and slows down; the marker dot shows the angle",
        "knock at the flick, ratchet clicks at every quarter turn, slowing down",
        "rotate_ccw",
        "TR",
    ),
    ClassSpec(
        "rotate_ccw",
        "exact time reversal of rotate_cw: spins anticlockwise, speeding up, stops with a bump",
        "rotate_cw's waveform reversed (clicks speeding up, reversed envelopes)",
        "rotate_cw",
        "TR",
        "rotate_cw",
        "reverse",
    ),
    ClassSpec(
        "fall",
        "held, dropped, falls under gravity and lands with one or two small bounces",
        "hum whose pitch falls with the height and grows with the speed; thud at each landing",
        "rise",
        "TR",
    ),
    ClassSpec(
        "rise",
        "exact time reversal of fall: hops up from the floor in growing hops and floats to a stop",
        "fall's waveform reversed (reversed thuds, rising pitch)",
        "fall",
        "TR",
        "fall",
        "reverse",
    ),
    ClassSpec(
        "bounce_ball",
        "a disc dropped with a springy bounce (many bounces, slow horizontal drift)",
        "thud at every bounce, pitch of the hum following the height",
        "bounce_box",
        "appearance",
    ),
    ClassSpec(
        "bounce_box",
        "the same motion and sound distribution as bounce_ball, but the object is a square",
        "as bounce_ball",
        "bounce_ball",
        "appearance",
    ),
    ClassSpec(
        "knock_wood",
        "swings back and forth against the left or right frame edge (elastic knocks)",
        "short, dry wooden knocks (few inharmonic modes, ~20 ms decay) at each contact",
        "knock_metal",
        "audio",
    ),
    ClassSpec(
        "knock_metal",
        "the same motion distribution as knock_wood",
        "ringing metallic knocks (bell-like inharmonic partials, ~0.4 s decay), same onset loudness",
        "knock_wood",
        "audio",
    ),
    ClassSpec(
        "bob_slow",
        "bobs up and down smoothly (0.35-0.6 Hz)",
        "hum whose pitch follows the height and loudness the vertical speed",
        "bob_fast",
        "SP",
    ),
    ClassSpec(
        "bob_fast",
        "exactly bob_slow played at 2x speed (0.7-1.2 Hz)",
        "bob_slow's sound at 2x (pitch one octave up)",
        "bob_slow",
        "SP",
        "bob_slow",
        "speed2x",
    ),
    ClassSpec(
        "slide_then_fall",
        "action changes part-way: slides sideways at constant speed, then drops to the floor",
        "steady hum while sliding, falling-pitch hum and thuds after the drop",
        "slide_right",
        "temporal context (the first part looks like sliding, the end like fall)",
    ),
    ClassSpec(
        "grow_then_shrink",
        "action changes part-way: grows, then shrinks back (closed under time reversal)",
        "pitch glides down then up",
        "grow",
        "temporal context (each half alone looks like grow or shrink)",
    ),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
_SPEC = {c.name: c for c in CLASSES}
REVERSAL_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (c.derived_from, c.name) for c in CLASSES if c.derivation == "reverse" and c.derived_from
)
SPEED_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (c.derived_from, c.name) for c in CLASSES if c.derivation == "speed2x" and c.derived_from
)

# Which scene generator draws each base class, with its class-specific options.
_BASE: dict[str, tuple[str, dict]] = {
    "slide_right": ("slide", {}),
    "grow": ("grow", {}),
    "rotate_cw": ("rotate", {}),
    "fall": ("fall", {}),
    "bounce_ball": ("bounce", {"shape": "circle"}),
    "bounce_box": ("bounce", {"shape": "square"}),
    "knock_wood": ("knock", {"timbre": "wood"}),
    "knock_metal": ("knock", {"timbre": "metal"}),
    "bob_slow": ("bob", {}),
    "slide_then_fall": ("slide_then_fall", {}),
    "grow_then_shrink": ("grow_then_shrink", {}),
}


def class_spec(name: str) -> ClassSpec:
    """The catalogue entry of a class (KeyError names the known classes)."""
    if name not in _SPEC:
        raise KeyError(f"unknown world class {name!r}; known: {', '.join(CLASS_NAMES)}")
    return _SPEC[name]


def ground_truth_table() -> str:
    """The catalogue as a markdown table (what docs/world.md shows)."""
    rows = ["| class | motion | sound | confusable with | told apart only by |", "|---|---|---|---|---|"]
    for c in CLASSES:
        rows.append(f"| `{c.name}` | {c.motion} | {c.sound} | `{c.confusable_with}` | {c.distinguished_by} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------------
# Settings and the labelled index


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


# --------------------------------------------------------------------------------------------------
# Scenes: a sampled parameter set whose motion can be evaluated at any (scene) time


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


# --------------------------------------------------------------------------------------------------
# Rendering


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A static, low-frequency textured background, (3, H, W) in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w]
    xx, yy = (xx + 0.5) / w, (yy + 0.5) / h
    base = rng.uniform(0.15, 0.45, size=3)
    tex = np.zeros((h, w))
    for _ in range(4):
        kx, ky = rng.uniform(-3, 3, size=2)
        tex += rng.uniform(0.02, 0.06) * np.sin(2 * np.pi * (kx * xx + ky * yy) + rng.uniform(0, 2 * np.pi))
    tint = rng.uniform(0.5, 1.0, size=3)
    return base[:, None, None] + tint[:, None, None] * tex[None]


def _shape_alpha(
    shape: str, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, angle: np.ndarray, xx: np.ndarray, yy: np.ndarray
) -> np.ndarray:
    """Anti-aliased coverage (T, H, W) of a shape centred at (cx, cy) px with radius r px, rotated."""
    f32 = np.float32
    px, py = xx[None] - cx.astype(f32)[:, None, None], yy[None] - cy.astype(f32)[:, None, None]
    c, s = np.cos(angle).astype(f32)[:, None, None], np.sin(angle).astype(f32)[:, None, None]
    u, v = px * c + py * s, -px * s + py * c
    rr = r.astype(f32)[:, None, None]
    if shape == "circle":
        sd = np.hypot(u, v) - rr
    elif shape == "square":
        sd = np.maximum(np.abs(u), np.abs(v)) - 0.85 * rr
    else:  # equilateral triangle with a vertex along the object's angle
        big = 1.15 * rr
        sd = np.maximum(-u, np.maximum(0.5 * u + 0.866 * v, 0.5 * u - 0.866 * v)) - big / 2  # edge normals
    return np.clip(0.5 - sd, 0.0, 1.0)


def _composite(img: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> None:
    """In place over (T, 3, H, W): img = img * (1 - alpha) + color * alpha."""
    img += alpha[:, None] * (color.astype(np.float32)[None, :, None, None] - img)


def _draw_object(img: np.ndarray, obj: _Object, x, y, r, angle, cfg: WorldConfig, xx, yy) -> None:
    m = min(cfg.height, cfg.width)
    cx, cy, rp = x * cfg.width, y * cfg.height, r * m
    _composite(img, _shape_alpha(obj.shape, cx, cy, rp, angle, xx, yy), obj.color)
    # The orientation marker: what makes rotation (and its direction) visible for every shape.
    mx, my = cx + 0.55 * rp * np.cos(angle), cy + 0.55 * rp * np.sin(angle)
    _composite(img, _shape_alpha("circle", mx, my, np.maximum(0.3 * rp, 0.9), angle, xx, yy), obj.marker)


# --------------------------------------------------------------------------------------------------
# Sound


# Impact timbres: (mode frequency ratios, mode amplitudes, mode decay s, noise level, noise decay s,
# base frequency). A base frequency of None uses the scene's timbre_freq (the knock classes), so the
# knock pair differs in spectrum and decay only, not in pitch distribution.
_TIMBRES: dict[str, tuple[tuple[float, ...], tuple[float, ...], float, float, float, float | None]] = {
    "thud": ((1.0, 2.1), (1.0, 0.5), 0.06, 0.3, 0.01, 130.0),
    "knock": ((1.0, 2.3, 3.9), (1.0, 0.6, 0.4), 0.03, 0.4, 0.008, 300.0),
    "click": ((1.0,), (1.0,), 0.004, 0.6, 0.003, 2200.0),
    "wood": ((1.0, 2.32, 4.25), (1.0, 0.6, 0.4), 0.02, 0.5, 0.006, None),
    "metal": ((1.0, 2.76, 5.40, 8.93), (1.0, 0.6, 0.4, 0.3), 0.4, 0.05, 0.003, None),
}
_CONTROL_RATE = 1000.0  # Hz: motion -> loudness/pitch is computed on this grid, then interpolated


def _impact_length(timbre: str) -> float:
    """Scene seconds after which an impact sound has decayed to < 1 % (5 time constants)."""
    _, _, decay, _, noise_decay, _ = _TIMBRES[timbre]
    return 5.0 * max(decay, noise_decay)


def _impact_sound(
    timbre: str, u: np.ndarray, base: float, speed: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Impulse response at scene times u >= 0 after contact, normalised to unit RMS over 50 ms."""
    ratios, amps, decay, noise, noise_decay, f0 = _TIMBRES[timbre]
    f0 = base if f0 is None else f0
    u = u.astype(np.float32)  # float32 transcendental functions are SIMD-vectorised in numpy
    out = noise * np.exp(-u / noise_decay) * rng.standard_normal(u.shape, dtype=np.float32)
    for ratio, amp in zip(ratios, amps, strict=True):
        f = f0 * ratio
        if f * speed < 0.45 * sr:  # played at `speed`, the mode must stay below Nyquist
            out += amp * np.exp(-u / (decay / ratio**0.5)) * np.sin(np.mod(2 * np.pi * f * u, 2 * np.pi))
    head = out[u < 0.05]
    return out / max(float(np.sqrt(np.mean(head**2))), 1e-8)


def _hum(freq: np.ndarray, ds: float, speed: float, sr: int, harmonics: int) -> np.ndarray:
    """A tone with 1-3 harmonics (amplitudes 1, 1/2, 1/4) following freq (Hz of scene time)."""
    # Accumulate the phase in float64, wrap it, then evaluate in float32 (SIMD; 8x faster).
    phase = np.mod((2 * np.pi * ds) * np.cumsum(freq), 2 * np.pi).astype(np.float32)
    s1 = np.sin(phase)
    out = s1.copy()
    if harmonics > 1:  # sin 2p and sin 3p from sin p and cos p: two trig calls instead of three
        top = float(freq.max()) * speed
        for k, a, h in ((2, 0.5, 2 * s1 * np.cos(phase)), (3, 0.25, s1 * (3 - 4 * s1 * s1))):
            if k * top < 0.45 * sr:
                out += a * h
            else:  # drop the harmonic where it would alias (only at low sample rates)
                out += a * h * (k * freq * speed < 0.45 * sr)
    return out


def _synth_audio(
    scene: _Scene, distractor: _Distractor | None, cfg: WorldConfig, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    n, sr = cfg.num_samples, cfg.sample_rate
    ds = time_scale / sr
    s = (np.arange(n) + 0.5) / sr * time_scale  # scene time of every output sample
    # Loudness and pitch are smooth functions of the motion: compute them on a 1 kHz grid of scene
    # time (the same grid for a scene at 1x and 2x, so bob_fast is exactly bob_slow sped up).
    scene_dur = cfg.duration_s * time_scale
    sc = np.linspace(0.0, scene_dur, max(2, int(np.ceil(scene_dur * _CONTROL_RATE)) + 1))
    dsc = sc[1] - sc[0]
    x, y, r, ang = scene.motion(sc)
    speed = (
        np.hypot(np.gradient(x, dsc), np.gradient(y, dsc))
        + 0.5 * np.abs(np.gradient(ang, dsc)) * r
        + 5.0 * np.abs(np.gradient(r, dsc))
    )
    amp = np.interp(s, sc, 0.25 * np.tanh(speed / 0.4))
    # Pitch: two octaves across the frame height, lower for bigger objects.
    freq = np.interp(s, sc, scene.pitch * 2.0 ** (2.0 * (0.5 - y)) * (0.15 / r) ** 0.7)
    wave = amp * _hum(freq, ds, time_scale, sr, harmonics=3)
    # Friction noise as loud as the motion, plus the background noise: one Gaussian draw.
    wave += np.sqrt((0.3 * amp) ** 2 + cfg.audio_noise**2) * rng.standard_normal(n, dtype=np.float32)
    if distractor is not None:
        dx, dy = distractor.position(sc)
        d_amp = 0.05 * np.tanh(np.hypot(np.gradient(dx, dsc), np.gradient(dy, dsc)) / 0.2)
        d_freq = distractor.pitch * 2.0 ** (2.0 * (0.5 - dy))
        wave += np.interp(s, sc, d_amp) * _hum(np.interp(s, sc, d_freq), ds, time_scale, sr, harmonics=1)
    for t_imp, strength, timbre in scene.impacts:
        i0 = max(int(np.ceil(t_imp / ds - 0.5)), 0)  # first sample at or after the contact
        i1 = min(n, i0 + int(np.ceil(_impact_length(timbre) / ds)))
        if i0 >= n:
            continue
        wave[i0:i1] += 0.12 * strength * _impact_sound(timbre, s[i0:i1] - t_imp, scene.timbre_freq, time_scale, sr, rng)
    peak = float(np.max(np.abs(wave)))
    if peak > 0.95:  # a per-video gain keeps the waveform encodable; it does not change its shape
        wave *= 0.95 / peak
    return wave.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Videos


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
