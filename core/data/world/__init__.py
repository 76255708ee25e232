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

Modules: ``classes`` (the class catalogue), ``config`` (settings and the labelled index), ``scenes``
(sampled motion), ``render`` (frames), ``sound`` (audio), ``videos`` (a video, the world in memory).
"""

from core.data.world.classes import (
    CLASS_NAMES,
    CLASSES,
    REVERSAL_PAIRS,
    SPEED_PAIRS,
    ClassSpec,
    class_spec,
    ground_truth_table,
)
from core.data.world.videos import World, generate_video, generate_world, iter_world
from core.data.world.world_config import WORLD_VERSION, WorldConfig, WorldItem, world_items

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "REVERSAL_PAIRS",
    "SPEED_PAIRS",
    "WORLD_VERSION",
    "ClassSpec",
    "World",
    "WorldConfig",
    "WorldItem",
    "class_spec",
    "generate_video",
    "generate_world",
    "ground_truth_table",
    "iter_world",
    "world_items",
]
