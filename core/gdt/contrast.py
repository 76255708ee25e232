"""Contrast c(T, T') and weight w(T, T') of a batch, built from its slot tensor without pair loops.

    c(T, T') = prod_m c_m          c_m = [t_m = t'_m] for distinctive factors, 1 otherwise
    w(T, T') = prod_m w_m * w_self * w_mod
                                    w_m = [t_m = t'_m] for ignored factors, 1 otherwise
                                    w_self = [T != T'],  w_mod = the modality-pair switches

Both are boolean K x K matrices. Positives are c & w, negatives ~c & w. They depend only on the
configuration (slots, not values), so one `BatchStructure` serves every batch of a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from core.gdt.config import GDTConfig
from core.gdt.factors import Choice
from core.gdt.sampling import slot_tuples


@dataclass(frozen=True)
class BatchStructure:
    tuples: torch.Tensor  # (K, M) slots
    contrast: torch.Tensor  # (K, K) bool: c(T, T')
    weight: torch.Tensor  # (K, K) bool: w(T, T')
    modality: torch.Tensor  # (K,) 0 = video, 1 = audio

    @cached_property
    def positive(self) -> torch.Tensor:
        """Pairs pulled together: c = 1 and w = 1 (T' != T, since w_self = 0 on the diagonal)."""
        return self.contrast & self.weight

    @cached_property
    def positive_count(self) -> torch.Tensor:
        """|P| as a float tensor on the structure's device (computed once, read without a sync)."""
        return self.positive.sum().float()

    @cached_property
    def negative(self) -> torch.Tensor:
        """Pairs pushed apart: c = 0 and w = 1."""
        return ~self.contrast & self.weight

    def to(self, device: torch.device | str) -> BatchStructure:
        return BatchStructure(*(t.to(device) for t in (self.tuples, self.contrast, self.weight, self.modality)))


def modality_of(tuples: torch.Tensor, config: GDTConfig) -> torch.Tensor:
    """0 = video, 1 = audio for every tuple. With MOD sampled (K = 2), slot s is modality s."""
    if not config.uses_audio:
        return torch.zeros(len(tuples), dtype=torch.long, device=tuples.device)
    return tuples[:, config.factor_names.index("MOD")]


def contrast_and_weight(tuples: torch.Tensor, config: GDTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """c and w (boolean K x K) for the slot tensor `tuples` under `config`."""
    k = len(tuples)
    contrast = torch.ones(k, k, dtype=torch.bool, device=tuples.device)
    weight = ~torch.eye(k, dtype=torch.bool, device=tuples.device)  # w_self
    for m, choice in enumerate(config.choices):
        if choice is Choice.DISTINCTIVE:
            contrast &= tuples[:, m, None] == tuples[None, :, m]
        elif choice is Choice.IGNORE:
            weight &= tuples[:, m, None] == tuples[None, :, m]
    if config.uses_audio:
        weight &= modality_pair_weight(modality_of(tuples, config), config)
    return contrast, weight


def modality_pair_weight(modality: torch.Tensor, config: GDTConfig) -> torch.Tensor:
    """w_mod: keep cross-modal pairs and, if switched on, video-video / audio-audio pairs."""
    pairs = config.modality_pairs
    a, b = modality[:, None], modality[None, :]
    cross = (a != b) & pairs.cross_modal
    video_video = (a == 0) & (b == 0) & pairs.intra_video
    audio_audio = (a == 1) & (b == 1) & pairs.intra_audio
    return cross | video_video | audio_audio


def batch_structure(config: GDTConfig, device: torch.device | str = "cpu") -> BatchStructure:
    tuples = slot_tuples(config.ks).to(device)
    contrast, weight = contrast_and_weight(tuples, config)
    return BatchStructure(tuples, contrast, weight, modality_of(tuples, config))
