"""Videos and clips: the procedural world and its export, video folders and the action datasets,
the decoded clip cache, clip cutting, batched augmentation, and the GDT batch stream."""

from core.data.action_datasets import load_action_dataset
from core.data.augment import AugmentSpec, BatchAugmenter
from core.data.clip_cache import ClipCache, build_folder_cache, build_world_cache
from core.data.clips import ClipSpec, RawClips, gather_clips
from core.data.video_folder import DecodeSettings, VideoFolder
from core.data.world import WorldConfig, generate_video, generate_world

__all__ = [
    "AugmentSpec",
    "BatchAugmenter",
    "ClipCache",
    "ClipSpec",
    "DecodeSettings",
    "RawClips",
    "VideoFolder",
    "WorldConfig",
    "build_folder_cache",
    "build_world_cache",
    "gather_clips",
    "generate_video",
    "generate_world",
    "load_action_dataset",
]
