"""Transformation factors: one small declarative definition per factor.

A factor is one component t_m of a GDT tuple T = (t_1, ..., t_M). Its definition says what values
exist, which choices (invariant / distinctive / ignore / off) make sense for it, and how K values are
drawn for each branch of the hierarchical batch. Nothing here knows about the loss: the loss only
sees the choices and the slot tensor, so adding a factor means adding one entry to `CATALOGUE`: with a
`Cut` the data layer cuts clips by it (`core.data.clips.gather_clips`), with a `Probe` the evaluation measures
the trained representation's invariance to it (`core.evaluation.proxy.factor_invariance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import torch


class Choice(StrEnum):
    """What the representation should do with respect to one factor (README.md, "GDT semantics")."""

    INVARIANT = "invariant"  # c = 1, w = 1: pull together clips that differ in this factor
    DISTINCTIVE = "distinctive"  # c = delta(t = t'), w = 1: push them apart
    IGNORE = "ignore"  # w = 0 when t != t': such pairs are neither positive nor negative
    OFF = "off"  # K_m = 1: not contrasted; one value per branch is still drawn

    @property
    def letter(self) -> str:
        """The papers' one-letter notation ("·" is ambiguous between the paper versions, so spell it)."""
        return LETTERS[self]


# The choices in the papers' notation (a configuration's `describe()`: 'TR=d(2) TS=i(2) MOD=off'), in `Choice`
# order, and back; the one definition of the letters (search.measurements, the presets and the dashboard use it).
LETTERS: dict[Choice, str] = {
    Choice.INVARIANT: "i",
    Choice.DISTINCTIVE: "d",
    Choice.IGNORE: "ignore",
    Choice.OFF: "off",
}
CHOICE_OF_LETTER: dict[str, Choice] = {letter: choice for choice, letter in LETTERS.items()}


# Values drawn for one level of the hierarchy: a (branches, k) tensor, one row per parent branch.
Draw = Callable[[torch.Generator, int, int], torch.Tensor]


@dataclass(frozen=True)
class Cut:
    """How a factor's value shapes a clip as it is read from its video (`core.data.clips.gather_clips`).

    `field` names the attribute of `core.data.clips.ClipCut` the value sets (the data layer knows how to cut by
    video, start, speed, reversal and modality), `dtype` the dtype of its values, and `neutral` the value
    of a clip the factor leaves as it is: hand-picked clips (evaluation) take it unless told otherwise."""

    field: str
    dtype: torch.dtype
    neutral: float | None = None


@dataclass(frozen=True)
class Probe:
    """How the invariance of a trained representation to a factor is measured (`core.evaluation.proxy`): the
    features of clips cut at values `a` against the same clips cut at values `b` (factor -> value; TS 0.5,
    the middle clip, and every other factor's neutral value unless given). `embeddings`: compare the head
    embeddings, each side centred, instead of the standardised backbone features (the only space that the
    video and the audio of a clip share)."""

    a: tuple[tuple[str, float], ...] = ()
    b: tuple[tuple[str, float], ...] = ()
    embeddings: bool = False


@dataclass(frozen=True)
class Factor:
    """One transformation factor.

    `categories` is the finite value space when there is one (time reversal, speed, modality); the
    k values drawn for a branch are then k distinct categories in ascending order, and `off_value`
    (an index into `categories`) is the value used when the factor is off. Factors without
    categories (time shift, augmentation seed, video index) draw values with `draw`.
    """

    name: str
    summary: str
    allowed: frozenset[Choice]
    categories: tuple[float, ...] = ()
    off_value: int | None = None
    draw: Draw | None = None
    cut: Cut | None = None  # how its value cuts a clip (None: it acts later, e.g. AUG in core.data.augment)
    probe: Probe | None = None  # how its measured invariance is probed (None: not measured)

    @property
    def max_k(self) -> int | None:
        """Largest K_m the value space allows (None: unbounded or set by the dataset)."""
        return len(self.categories) or None

    def sample(self, generator: torch.Generator, branches: int, k: int) -> torch.Tensor:
        """Draw k distinct values for each of `branches` parent branches: a (branches, k) tensor."""
        if self.categories:
            return self._sample_categories(generator, branches, k)
        assert self.draw is not None, f"factor {self.name} has neither categories nor a draw function"
        return self.draw(generator, branches, k)

    def _sample_categories(self, generator: torch.Generator, branches: int, k: int) -> torch.Tensor:
        values = torch.tensor(self.categories)
        if k == 1 and self.off_value is not None:
            return values[self.off_value].expand(branches, 1).clone()
        # k distinct categories per branch, without replacement, vectorised over branches; sorted so
        # that when K_m equals the number of categories, slot s *is* category s.
        picks = torch.rand(branches, len(self.categories), generator=generator).argsort(dim=1)[:, :k]
        return values[picks.sort(dim=1).values]


def _draw_time_shift(generator: torch.Generator, branches: int, k: int) -> torch.Tensor:
    # A fraction of the room a video leaves for the clip start; the data layer maps it to seconds.
    # Sorted so slot 0 is the earliest clip of its branch.
    return torch.rand(branches, k, generator=generator).sort(dim=1).values


def _draw_seed(generator: torch.Generator, branches: int, k: int) -> torch.Tensor:
    # An augmentation is identified by the seed of its random parameters (`core.data.augment` draws them
    # from it). With K_AUG >= 2, slot s is one augmentation shared by every branch: the clips that
    # agree on the AUG slot (as the loss compares tuples) get the same crop, flip, jitter and masks.
    # Off (K = 1): every branch draws its own, i.e. one independent augmentation per clip.
    if k == 1:
        return torch.randint(0, 2**62, (branches, 1), generator=generator)
    return torch.randint(0, 2**62, (1, k), generator=generator).expand(branches, k).clone()


ALL_CHOICES = frozenset(Choice)

# The video index is drawn by the sampler from the dataset size, so it has no draw function here.
DS = Factor(
    name="DS",
    summary="data sampling: which video; always distinctive (K_i videos per batch)",
    allowed=frozenset({Choice.DISTINCTIVE}),
    cut=Cut("video", torch.long),
)
TS = Factor(
    name="TS",
    summary="time shift: where in the video the clip starts (off: one random start per clip)",
    allowed=ALL_CHOICES,
    draw=_draw_time_shift,
    cut=Cut("start_fraction", torch.float32, neutral=0.5),
    probe=Probe(a=(("TS", 0.0),), b=(("TS", 1.0),)),  # the first vs the last clip of the video
)
MOD = Factor(
    name="MOD",
    summary="modality split: 0 = video, 1 = audio (off: video only)",
    allowed=frozenset({Choice.INVARIANT, Choice.OFF}),
    categories=(0, 1),
    off_value=0,
    cut=Cut("audio", torch.long, neutral=0),
    probe=Probe(b=(("MOD", 1),), embeddings=True),  # a clip's video vs its audio embedding
)
TR = Factor(
    name="TR",
    summary="time reversal of frames and waveform: 0 = forward, 1 = reversed (off: forward)",
    allowed=ALL_CHOICES,
    categories=(0, 1),
    off_value=0,
    cut=Cut("reversed", torch.long, neutral=0),
    probe=Probe(b=(("TR", 1),)),  # a clip vs the same clip reversed
)
SP = Factor(
    name="SP",
    summary="playback speed 1/2/4/8x: frame subsampling and waveform resampling (off: 1x)",
    allowed=ALL_CHOICES,
    categories=(1.0, 2.0, 4.0, 8.0),
    off_value=0,
    cut=Cut("speed", torch.float32, neutral=1.0),
    probe=Probe(b=(("SP", 2.0),)),  # a clip at 1x vs 2x (measured where the videos are long enough)
)
AUG = Factor(
    name="AUG",
    summary="augmentation g: crop, flip, colour jitter / volume jitter, SpecAugment (off: one random g)",
    allowed=ALL_CHOICES,
    draw=_draw_seed,
)

# Catalogue order is the default sampling order of the hierarchy: (i, tau, m, r, speed, g) as in the ICCV
# paper's (i, tau, m, r, g). DS must come first: it is the root of every batch.
CATALOGUE: dict[str, Factor] = {f.name: f for f in (DS, TS, MOD, TR, SP, AUG)}
