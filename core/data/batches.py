"""GDT batches for the loss: a DataLoader-compatible stream of sampled, gathered batches.

Worker processes sample a batch (core.gdt.sampling) and cut its clips out of the decoded store
(core.data.clips); the training process augments them on its device (core.data.augment). Each item already is
a whole batch, so the DataLoader runs with batch_size=None.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from core.data.clips import ClipSource, ClipSpec, RawClips, gather_clips
from core.gdt.config import GDTConfig
from core.gdt.sampling import GDTBatch, HierarchicalSampler


@dataclass
class SampledClips:
    batch: GDTBatch
    raw: RawClips

    def pin_memory(self) -> SampledClips:
        """The DataLoader's pin thread pins an item only through a `pin_memory` method (a plain dataclass is
        passed on as it is): without this the clips reached the GPU by a pageable copy, 17.7 ms of an 87 ms
        step on an H200 at 32 clips (benchmarks/results/trial_gpu.md)."""
        return SampledClips(self.batch, self.raw.pin_memory())


class GDTBatchStream(IterableDataset):
    """An endless stream of batches for one configuration; worker w uses seed + w, so runs repeat."""

    def __init__(self, source: ClipSource, config: GDTConfig, spec: ClipSpec, seed: int = 0):
        super().__init__()
        self.source, self.config, self.spec, self.seed = source, config, spec, seed

    def __iter__(self):
        worker = get_worker_info()
        sampler = HierarchicalSampler(self.config, self.source.num_videos, self.seed + (worker.id if worker else 0))
        while True:
            batch = sampler.sample()
            yield SampledClips(batch, gather_clips(self.source, batch.values, self.spec))


def _keep(item):
    return item


def batch_loader(stream: GDTBatchStream, num_workers: int = 0) -> DataLoader:
    """Batches from `num_workers` background processes (0: in this process), pinned when CUDA is used."""
    return DataLoader(
        stream,
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_keep,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        prefetch_factor=2 if num_workers else None,
    )
