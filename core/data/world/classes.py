"""The class catalogue: the world's action classes and the ground truth of what separates them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassSpec:
    """One action class and what separates it from the class it is most easily confused with.

    ``distinguished_by`` names what a representation must be *distinctive* to (or which input it must
    see) to tell this class from ``confusable_with``: a factor code from ``core.gdt.factors`` (TR, SP) or
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
