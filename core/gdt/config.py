"""A GDT configuration: per-factor choice and K_m, temperature, and the batch clip budget.

The clip budget fixes K_i, the videos per batch. It counts either every clip of the batch (the algebra's
K = K_i prod(K_m), `budget_counts="clips"`) or only the clips the video encoder sees (`"video_clips"`: the
audio clips that MOD adds ride along). Under "clips" a cross-modal configuration has half the videos of its
video-only twin, so the two differ in more than the audio view; under "video_clips" they see the same videos.

Construction checks everything that can be checked per factor (allowed choices, K_m against the
choice and the value space, K_i >= 2). Whether every anchor of the resulting batch has a positive and
a negative (lemmas 6-7) is a property of the whole batch structure; `core.gdt.validity` checks that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import GDTSearchError
from core.gdt.factors import CATALOGUE, Choice

# What a clip budget counts: every clip of the batch, or the clips of the video encoder.
BUDGET_COUNTS = ("clips", "video_clips")


class InvalidConfiguration(GDTSearchError, ValueError):
    """A configuration the GDT loss cannot train on; `factors` names the factors responsible."""

    def __init__(self, message: str, factors: tuple[str, ...] = ()):
        super().__init__(message)
        self.factors = tuple(factors)


@dataclass(frozen=True)
class FactorSetting:
    choice: Choice
    k: int = 1

    @classmethod
    def parse(cls, value: FactorSetting | str | tuple | Mapping) -> FactorSetting:
        """Accept "off", ("invariant", 2), {"choice": "distinctive", "k": 2} or a FactorSetting."""
        if isinstance(value, FactorSetting):
            return value
        if isinstance(value, str):
            choice = Choice(value)
            return cls(choice, 1 if choice is Choice.OFF else 2)
        if isinstance(value, Mapping):
            return cls(Choice(value["choice"]), int(value.get("k", 1 if value["choice"] == "off" else 2)))
        choice, k = value
        return cls(Choice(choice), int(k))


@dataclass(frozen=True)
class ModalityPairs:
    """Which modality pairs the weight w_mod keeps when MOD samples both modalities.

    The papers contrast across modalities only; within-modal pairs are switchable for ablations
    (ICCV Table A.1).
    """

    cross_modal: bool = True
    intra_video: bool = False
    intra_audio: bool = False


MAX_CLIP_BUDGET = 65_536  # clips per batch: 2**16, more than any GPU holds at the papers' clip size


@dataclass(frozen=True)
class GDTConfig:
    """Per-factor settings in sampling order (DS first), the clip budget and the temperature.

    K_i, the number of videos per batch, is derived: the largest K_i with K_i * prod(K_m) <= budget, where
    with `budget_counts="video_clips"` the product leaves out K_MOD (the budget counts video clips only).
    """

    settings: tuple[tuple[str, FactorSetting], ...]
    clip_budget: int = 64
    temperature: float = 0.07
    modality_pairs: ModalityPairs = field(default_factory=ModalityPairs)
    budget_counts: str = "clips"  # one of BUDGET_COUNTS

    @classmethod
    def build(
        cls,
        choices: Mapping[str, FactorSetting | str | tuple | Mapping] | None = None,
        *,
        clip_budget: int = 64,
        temperature: float = 0.07,
        modality_pairs: ModalityPairs | None = None,
        order: tuple[str, ...] | None = None,
        budget_counts: str = "clips",
    ) -> GDTConfig:
        """Settings for the named factors; every other catalogue factor is off.

        A choice is a name (K_m = 2 unless off), ``(choice, K_m)`` or ``{"choice": ..., "k": ...}``:

            >>> from core.gdt.config import GDTConfig
            >>> config = GDTConfig.build({"TR": "invariant", "MOD": ("invariant", 2)}, clip_budget=16)
            >>> config.describe()
            'DS=d(4) TS=off MOD=i(2) TR=i(2) SP=off AUG=off'
            >>> config.k_videos, config.batch_size  # K_i videos x prod(K_m) clips each, within the budget
            (4, 16)
            >>> both = {"TR": "invariant", "MOD": "invariant"}
            >>> twice = GDTConfig.build(both, clip_budget=16, budget_counts="video_clips")
            >>> twice.k_videos, twice.batch_size  # the audio clips ride along: 16 video clips + 16 audio clips
            (8, 32)
            >>> GDTConfig.build({"XX": "invariant"})
            Traceback (most recent call last):
            ...
            core.gdt.config.InvalidConfiguration: unknown factor(s) XX; known factors: DS, TS, MOD, TR, SP, AUG
        """
        choices = dict(choices or {})
        unknown = sorted(set(choices) - set(CATALOGUE))
        if unknown:
            raise InvalidConfiguration(
                f"unknown factor(s) {', '.join(unknown)}; known factors: {', '.join(CATALOGUE)}",
                tuple(unknown),
            )
        if "DS" in choices:
            ds = FactorSetting.parse(choices.pop("DS"))
            if ds.choice is not Choice.DISTINCTIVE:
                raise InvalidConfiguration("DS: data sampling is always distinctive", ("DS",))
        order = order or tuple(CATALOGUE)
        if sorted(order) != sorted(CATALOGUE) or order[0] != "DS":
            raise InvalidConfiguration(f"order must list every factor once with DS first, got {order}", tuple(order))
        settings = tuple((name, FactorSetting.parse(choices.get(name, "off"))) for name in order if name != "DS")
        return cls(settings, clip_budget, temperature, modality_pairs or ModalityPairs(), budget_counts)

    def __post_init__(self) -> None:
        if self.budget_counts not in BUDGET_COUNTS:
            allowed = ", ".join(BUDGET_COUNTS)
            raise InvalidConfiguration(f"budget_counts must be one of {allowed}, got {self.budget_counts!r}")
        if not self.temperature > 0:
            raise InvalidConfiguration(f"temperature must be > 0, got {self.temperature}")
        if not 2 <= self.clip_budget <= MAX_CLIP_BUDGET:  # beyond it a batch's index tensors alone exhaust memory
            raise InvalidConfiguration(
                f"clip_budget must be 2 .. {MAX_CLIP_BUDGET} clips per batch, got {self.clip_budget}", ("DS",)
            )
        for name, setting in self.settings:
            _check_setting(name, setting)
        if self.k_videos < 2:
            raise InvalidConfiguration(
                f"DS: K_i = clip_budget // {self._budget_product}"
                f" = {self.clip_budget} // {self.budgeted_clips_per_video}"
                f" = {self.k_videos} < 2; a batch needs at least two videos (raise the clip budget"
                " or lower K_m)",
                ("DS",) + tuple(n for n, s in self.settings if s.k > 1),
            )

    # -- derived quantities -------------------------------------------------------------------

    @property
    def factor_names(self) -> tuple[str, ...]:
        """Factor names in sampling order, DS first."""
        return ("DS",) + tuple(name for name, _ in self.settings)

    @property
    def clips_per_video(self) -> int:
        return math.prod(s.k for _, s in self.settings)

    @property
    def budgeted_clips_per_video(self) -> int:
        """The clips per video that count against the clip budget: all of them, or the video encoder's."""
        if self.budget_counts == "video_clips":
            return self.clips_per_video // self.setting("MOD").k
        return self.clips_per_video

    @property
    def _budget_product(self) -> str:
        return "prod(K_m, m != MOD)" if self.budget_counts == "video_clips" else "prod(K_m)"

    @property
    def k_videos(self) -> int:
        """K_i: videos per batch, the most that fit the clip budget."""
        return self.clip_budget // self.budgeted_clips_per_video

    @property
    def ks(self) -> tuple[int, ...]:
        """K_m for every factor in sampling order (DS first, K_DS = K_i)."""
        return (self.k_videos,) + tuple(s.k for _, s in self.settings)

    @property
    def batch_size(self) -> int:
        """K = prod(K_m): tuples (clips) per batch."""
        return self.k_videos * self.clips_per_video

    @property
    def choices(self) -> tuple[Choice, ...]:
        """Choice for every factor in sampling order (DS first)."""
        return (Choice.DISTINCTIVE,) + tuple(s.choice for _, s in self.settings)

    def setting(self, name: str) -> FactorSetting:
        if name == "DS":
            return FactorSetting(Choice.DISTINCTIVE, self.k_videos)
        return dict(self.settings)[name]

    @property
    def uses_audio(self) -> bool:
        return self.setting("MOD").choice is not Choice.OFF

    def settings_record(self) -> dict[str, dict]:
        """Every factor's choice and K_m in the notation's order (DS first, K_DS = K_i), JSON-ready: what a trial
        records beside its notation (`describe()` is written from it), so nothing parses the notation back.

            >>> GDTConfig.build({"TR": "invariant"}, clip_budget=8).settings_record()["TR"]
            {'choice': 'invariant', 'k': 2}
        """
        every = (("DS", self.setting("DS")), *self.settings)
        return {name: {"choice": s.choice.value, "k": s.k} for name, s in every}

    def describe(self) -> str:
        """One line in the papers' notation, e.g. "DS=d(8) TS=i(2) MOD=i(2) TR=d(2) SP=off AUG=off"."""
        return describe_settings(self.settings_record())


def describe_settings(record: Mapping[str, Mapping]) -> str:
    """The papers' notation of a settings record (`GDTConfig.settings_record`): 'DS=d(8) TS=i(2) MOD=off ...'.
    Written, never read back: readers take the record itself."""
    return " ".join(f"{name}={setting_cell(setting)}" for name, setting in record.items())


def setting_cell(setting: Mapping) -> str:
    """One factor's cell of the notation, from its entry in a settings record: {'choice': 'invariant', 'k': 2}
    -> 'i(2)', {'choice': 'off', 'k': 1} -> 'off' (Table 1's cells)."""
    choice = Choice(setting["choice"])
    return choice.letter + (f"({setting['k']})" if choice is not Choice.OFF else "")


def _check_setting(name: str, setting: FactorSetting) -> None:
    factor = CATALOGUE[name]
    if setting.choice not in factor.allowed:
        allowed = ", ".join(sorted(c.value for c in factor.allowed))
        raise InvalidConfiguration(f"{name}: choice '{setting.choice}' is not allowed (allowed: {allowed})", (name,))
    if setting.choice is Choice.OFF and setting.k != 1:
        raise InvalidConfiguration(f"{name}: an 'off' factor has K_m = 1, got K_m = {setting.k}", (name,))
    if setting.choice is not Choice.OFF and setting.k < 2:
        raise InvalidConfiguration(
            f"{name}: '{setting.choice}' needs K_m >= 2 (with K_m = {setting.k} no two clips differ in"
            " this factor, so there is nothing to contrast; use 'off')",
            (name,),
        )
    if factor.max_k is not None and setting.k > factor.max_k:
        raise InvalidConfiguration(
            f"{name}: K_m = {setting.k} exceeds the {factor.max_k} values this factor has", (name,)
        )
