"""GDT batches through a DataLoader: worker processes share the memory-mapped cache; clips match their tuples."""

import itertools

import pytest
import torch

from core.data.batches import GDTBatchStream, batch_loader
from core.data.clips import ClipSpec, gather_clips
from core.gdt.presets import preset


def test_worker_processes_deliver_batches_whose_clips_match_their_tuples(tiny_cache):
    config = preset("iccv-k", clip_budget=16)  # DS d, TS i, MOD i, TR d: 2 videos x 8 clips
    spec = ClipSpec(num_frames=4)
    loader = batch_loader(GDTBatchStream(tiny_cache, config, spec, seed=3), num_workers=2)
    batches = list(itertools.islice(iter(loader), 4))
    for item in batches:
        assert item.batch.tuples.shape == (16, 6)
        direct = gather_clips(tiny_cache, item.batch.values, spec)  # the same values, read in this process
        assert torch.equal(item.raw.video, direct.video)
        assert torch.equal(item.raw.video_rows, direct.video_rows)
        assert all(torch.equal(item.raw.audio[s], direct.audio[s]) for s in direct.audio)
        is_audio = item.batch.values["MOD"].bool()
        assert set(item.raw.video_rows.tolist()) == set(torch.nonzero(~is_audio).flatten().tolist())
    # The two workers draw different batches (seed + worker id).
    videos = [tuple(b.batch.values["DS"].tolist()) for b in batches]
    assert len(set(videos)) > 1


def test_stream_is_reproducible_in_process(tiny_cache):
    config = preset("iccv-e", clip_budget=8)
    a = next(iter(GDTBatchStream(tiny_cache, config, ClipSpec(4), seed=1)))
    b = next(iter(GDTBatchStream(tiny_cache, config, ClipSpec(4), seed=1)))
    assert torch.equal(a.raw.video, b.raw.video) and torch.equal(a.batch.values["TS"], b.batch.values["TS"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_the_loader_hands_over_batches_in_page_locked_memory(tiny_cache):
    # The DataLoader pins an item only through its pin_memory method; an unpinned batch reaches the GPU by
    # a pageable copy that the host waits for (17.7 ms of an 87 ms paper-encoder step on an H200).
    config = preset("iccv-k", clip_budget=16)
    for workers in (0, 2):
        item = next(iter(batch_loader(GDTBatchStream(tiny_cache, config, ClipSpec(4), seed=3), num_workers=workers)))
        assert item.raw.video.is_pinned() and item.raw.video_rows.is_pinned()
        assert all(wave.is_pinned() for wave in item.raw.audio.values())
