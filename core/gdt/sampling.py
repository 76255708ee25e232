"""Hierarchical batch sampling (ICCV paper, §3.1 and Appendix A.1.2).

K_1 values of the first factor; for each of them K_2 values of the second; ... The batch has
K = prod(K_m) tuples in row-major order, so tuple r = (k_1, ..., k_M) in mixed radix and exactly
K_M ... K_{m+1} consecutive tuples share their first m factors.

Each tuple is stored as *slots*: slot s of factor m is the s-th value drawn in its branch. Comparing
slots is what the paper's counting (lemmas 6-7) assumes: two tuples that differ in an earlier factor
still "agree" on a later distinctive factor when they hold the same slot of it. Within a branch
different slots are different values; for categorical factors sampled exhaustively (time reversal,
modality) slot s is category s. The concrete values (which video, which start, which speed ...) are
returned alongside, for the data layer to apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.gdt.config import GDTConfig, InvalidConfiguration
from core.gdt.factors import CATALOGUE


def slot_tuples(ks: tuple[int, ...]) -> torch.Tensor:
    """The K x M slot tensor of a hierarchical batch with K_m = ks[m]: all of prod(ks) in row-major order."""
    grids = torch.meshgrid(*(torch.arange(k) for k in ks), indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=1)


@dataclass(frozen=True)
class GDTBatch:
    """The K transformation tuples of one batch.

    tuples: (K, M) int64 slots, columns in `config.factor_names` order.
    values: factor name -> (K,) concrete value of that factor for each tuple
            (DS: video index; TS: start as a fraction of the free room in [0, 1); TR: 0/1;
            SP: speed factor; MOD: 0 video / 1 audio; AUG: augmentation seed).
    """

    config: GDTConfig
    tuples: torch.Tensor
    values: dict[str, torch.Tensor]


class HierarchicalSampler:
    """Draws GDT batches for one configuration over a dataset of `num_videos` videos, seeded.

    Common random numbers: every factor draws from its own generator, seeded by (seed, factor), and the
    videos come from one stream of epoch permutations, K_i at a time. So two configurations trained with
    the same seed see the same videos in the same order (whatever K_i and whatever else they sample),
    and their differences in score are differences of configuration, not of data order.
    """

    def __init__(self, config: GDTConfig, num_videos: int, seed: int = 0):
        if config.k_videos > num_videos:
            raise InvalidConfiguration(
                f"DS: K_i = {config.k_videos} videos per batch but the dataset has only {num_videos}",
                ("DS",),
            )
        self.config = config
        self.num_videos = num_videos
        self.generators = {
            name: torch.Generator().manual_seed(seed * 1_000_003 + index)
            for index, name in enumerate(CATALOGUE)
        }
        self._video_queue: list[int] = []
        self._recent: list[int] = []  # the last epoch drawn
        self._tuples = slot_tuples(config.ks)

    def next_videos(self, k: int) -> torch.Tensor:
        """The next k distinct videos of the stream (epoch after epoch of random permutations).

        Each new epoch starts with videos that none of the previous epoch's last N // 2 were, so a video
        comes back no sooner than N // 2 + 1 places later: any K_i <= N // 2 + 1 reads the stream as it is,
        and configurations with different K_i see exactly the same sequence. (A larger K_i skips a repeat
        to a later batch; only it then departs from the common order.)
        """
        while len(set(self._video_queue)) < k:
            self._video_queue += self._next_epoch()
        chosen: list[int] = []
        rest: list[int] = []
        for video in self._video_queue:
            (chosen if len(chosen) < k and video not in chosen else rest).append(video)
        self._video_queue = rest
        return torch.tensor(chosen)

    def _next_epoch(self) -> list[int]:
        order = torch.randperm(self.num_videos, generator=self.generators["DS"]).tolist()
        spacing = self.num_videos // 2
        recent = set(self._recent[-spacing:]) if spacing else set()
        fresh = [v for v in order if v not in recent][:spacing]
        taken = set(fresh)
        epoch = fresh + [v for v in order if v not in taken]
        self._recent = epoch
        return epoch

    def sample(self) -> GDTBatch:
        ks = self.config.ks
        total = math.prod(ks)
        values: dict[str, torch.Tensor] = {}
        branches = 1
        for m, name in enumerate(self.config.factor_names):
            if name == "DS":
                # Videos without replacement; DS is the root, so there is exactly one branch.
                drawn = self.next_videos(ks[m]).unsqueeze(0)
            else:
                drawn = CATALOGUE[name].sample(self.generators[name], branches, ks[m])
            # (branches, K_m) -> one value per tuple: every value repeats for all of its descendants.
            branches *= ks[m]
            values[name] = drawn.reshape(-1).repeat_interleave(total // branches)
        return GDTBatch(self.config, self._tuples.clone(), values)
