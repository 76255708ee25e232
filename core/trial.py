"""One trial: a configuration -> short GDT pretraining -> HMDB-51 proxy evaluation -> scores.

The data of a trial come from clip caches, decoded once and shared by every trial of a study:
by default the procedural world (a pretraining world and, with another seed, a labelled proxy world
in HMDB-51's split format, like Kinetics -> HMDB-51), or real folders (any videos with audio for
pretraining, HMDB-51 in its official layout for the proxy).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.data.augment import AudioAugmentSpec, AugmentSpec, VideoAugmentSpec
from core.data.clip_cache import ClipCache, build_folder_cache, build_world_cache
from core.data.clips import ClipSpec
from core.data.proxy_datasets import PROXY_DATASETS
from core.data.video_folder import DecodeSettings
from core.data.world import WorldConfig
from core.evaluation.proxy import EvalSpec, Evaluation, ProxyData, evaluate
from core.gdt.config import GDTConfig
from core.models.encoders import PAPER_FEATURE_DIM, AVEncoders, build_encoders
from core.threads import apply_threads, thread_record
from core.train.finetune import FinetuneResult, FinetuneSpec, finetune
from core.train.pretrain import TrainCallback, TrainResult, TrainSpec, load_checkpoint, pretrain


@dataclass(frozen=True)
class DataSpec:
    """Where a trial's videos come from. `kind="world"` needs nothing on disk."""

    kind: Literal["world", "folders"] = "world"
    world: WorldConfig = field(default_factory=WorldConfig)
    proxy_seed_offset: int = 1  # the proxy world is the pretraining world with seed + this ...
    proxy_videos_per_class: int | None = None  # ... and this many videos per class (None: the same)
    pretrain_root: str | None = None  # kind="folders": any folder of videos with audio
    proxy: Literal[tuple(PROXY_DATASETS)] = "hmdb51"  # kind="folders": the labelled proxy dataset (a registered name)
    hmdb_root: str | None = None  # hmdb51_org/ + testTrainMulti_7030_splits/
    ucf_root: str | None = None  # UCF-101/ + ucfTrainTestlist/
    decode_fps: float = 12.0  # kind="folders": frames are decoded once at this rate ...
    short_side: int = 128  # ... and this short side (never upscaled)
    split: int = 1
    cache_root: str | None = None
    clip_frames: int = 8


@dataclass(frozen=True)
class TrialSpec:
    data: DataSpec = field(default_factory=DataSpec)
    video_encoder: str = "tiny_video"
    audio_encoder: str = "tiny_audio"
    feature_dim: int = 128
    width: int = 16
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    device: str = "auto"  # "auto": CUDA when available
    # torch CPU threads for the trial (intra-op and inter-op, core.threads). Results depend on it (reduction
    # order), so a study runs every trial with one setting and records it; None leaves the process's setting.
    threads: int | None = None

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass
class TrialResult:
    config: str
    train: TrainResult
    evaluation: Evaluation
    device: str
    environment: dict

    def record(self) -> dict:
        """The trial's measurements, JSON-ready: its proxy scores, measured invariances, training and evaluation
        figures, device and environment. The one record both `summary()` and the search layer's replay record
        (search.objective.train_candidate) are made of."""
        return {
            "scores": asdict(self.evaluation.scores),
            "invariance": {k: v.score for k, v in self.evaluation.invariance.items()},
            "train_steps": self.train.steps,
            "final_loss": self.train.final_loss,
            "clips_per_second": self.train.clips_per_second,
            "train_seconds": self.train.wall_seconds,
            "eval_seconds": self.evaluation.seconds,
            "stopped_by": self.train.stopped_by,
            "device": self.device,
            "environment": self.environment,
        }

    def summary(self) -> dict:
        """Flat, JSON-ready record of the trial: `record()` with its scores, invariances and environment spread
        out (score_<metric>, invariance_<factor>)."""
        record = self.record()
        scores, invariance, environment = record.pop("scores"), record.pop("invariance"), record.pop("environment")
        return {
            "config": self.config,
            **{f"score_{k}": v for k, v in scores.items()},
            **{f"invariance_{k}": v for k, v in invariance.items()},
            **record,
            **environment,
        }


@cache
def open_data(spec: DataSpec, processes: int = 1) -> tuple[ClipCache, ProxyData]:
    """The pretraining clips and the labelled proxy data, building their caches on first use.

    `processes` > 1 renders the world's videos in that many processes (folders are decoded in one).
    """
    cache_root = spec.cache_root
    if spec.kind == "world":
        pretrain_cache = build_world_cache(spec.world, cache_root, show_progress=False, processes=processes)
        proxy_world = replace(
            spec.world,
            seed=spec.world.seed + spec.proxy_seed_offset,
            videos_per_class=spec.proxy_videos_per_class or spec.world.videos_per_class,
        )
        proxy_cache = build_world_cache(proxy_world, cache_root, show_progress=False, processes=processes)
    elif spec.kind == "folders":
        if spec.proxy not in PROXY_DATASETS:
            known = ", ".join(PROXY_DATASETS)
            raise ValueError(f"data.proxy: unknown proxy dataset {spec.proxy!r}; registered: {known}")
        dataset = PROXY_DATASETS[spec.proxy]
        proxy_root = getattr(spec, dataset.root_field)
        if not spec.pretrain_root or not proxy_root:
            raise ValueError(f"data.kind 'folders' needs pretrain_root and the {spec.proxy} root")
        # Files shorter than one clip are skipped (and reported) when the cache is built.
        settings = DecodeSettings(spec.decode_fps, short_side=spec.short_side,
                                  min_duration_s=spec.clip_frames / spec.decode_fps)  # fmt: skip
        pretrain_cache = build_folder_cache(spec.pretrain_root, cache_root, settings, show_progress=False)
        proxy_cache = dataset.open(proxy_root, cache_root, settings)
    else:
        raise ValueError(f"data.kind must be 'world' or 'folders', got {spec.kind!r}")
    return pretrain_cache, proxy_data(proxy_cache, spec.split)


def proxy_data(cache: ClipCache, split: int) -> ProxyData:
    if cache.labels is None:
        raise ValueError(f"{cache.path}: the proxy dataset has no labels")
    if cache.splits is None:
        raise ValueError(f"{cache.path}: the proxy dataset has no train/test split")
    tags = cache.splits[:, split - 1]
    return ProxyData(cache, cache.labels, np.flatnonzero(tags == 1), np.flatnonzero(tags == 2))


def environment(loader_workers: int = 0) -> dict:
    """Library versions, machine and thread setting (torch intra-op / inter-op threads, the trial's loader
    processes, the cores this process may use), for replaying a trial."""
    from importlib.metadata import PackageNotFoundError, version

    import torchaudio
    import torchvision

    try:  # read from the package metadata: loading torchcodec would need FFmpeg, which the world does not
        torchcodec_version = version("torchcodec")
    except PackageNotFoundError:
        torchcodec_version = "not installed"

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torchaudio": torchaudio.__version__,
        "torchcodec": torchcodec_version,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        **thread_record(loader_workers),
    }


class _Intermediate(TrainCallback):
    """Evaluates at the trainer's eval steps (only those in `steps`, when given) and asks
    `report(step, evaluation)` whether to stop. No `report`: nothing reads an evaluation, none is made."""

    def __init__(self, report, data: ProxyData, spec: TrialSpec, clip_spec: ClipSpec, device, on_step, steps=None):
        self.report, self.data, self.spec, self.clip_spec, self.device = report, data, spec, clip_spec, device
        self._on_step, self.steps = on_step, steps
        self.last: Evaluation | None = None  # the latest intermediate evaluation

    def on_step(self, report) -> None:
        if self._on_step is not None:
            self._on_step(report)

    def on_evaluation(self, step, model) -> bool:
        if self.report is None or (self.steps is not None and step not in self.steps):
            return False
        self.last = evaluate(model, self.data, self.spec.eval, self.clip_spec, self.spec.augment, self.device)
        return bool(self.report(step, self.last))


def build_model(spec: TrialSpec, device: torch.device, *, seeded: bool = False) -> AVEncoders:
    """The trial's encoders; `seeded`: initialised from the training seed alone (common random numbers:
    every configuration trained with one seed starts from the same weights)."""
    if seeded:
        torch.manual_seed(spec.train.seed)
    return build_encoders(
        spec.video_encoder,
        spec.audio_encoder,
        feature_dim=spec.feature_dim,
        width=spec.width,
        channels_last=device.type == "cuda",
    )


def final_evaluation(checkpoint: Path, spec: TrialSpec, finetune_spec: FinetuneSpec = FinetuneSpec()) -> FinetuneResult:
    """Full fine-tuning of a trial's saved model on its proxy dataset (the slower, optional evaluation)."""
    device = spec.resolved_device()
    _, data = open_data(spec.data)
    model = build_model(spec, device)
    load_checkpoint(checkpoint, model)
    return finetune(model, data, finetune_spec, ClipSpec(spec.data.clip_frames), spec.augment, device)


def run_trial(
    config: GDTConfig,
    spec: TrialSpec = TrialSpec(),
    *,
    on_intermediate=None,
    on_step=None,
    intermediate_steps: Collection[int] | None = None,
    checkpoint: Path | None = None,
) -> TrialResult:
    """Pretrain a fresh model under `config`, then evaluate it on the proxy.

    `on_intermediate(step, Evaluation) -> bool` is called every `spec.train.eval_every` steps; True
    stops the trial there (pruning). `intermediate_steps`: evaluate at these of those steps only (None: at
    all of them); each evaluation costs a full proxy evaluation, so a caller names the steps it will read.
    Raises `core.train.pretrain.TrainingFailed` with the reason when training cannot produce a model.

    A two-step trial on a tiny world (its clip caches are built under `cache_root` on first use):

        >>> import tempfile
        >>> from core.data.augment import AugmentSpec, VideoAugmentSpec
        >>> from core.data.world import WorldConfig
        >>> from core.evaluation.proxy import EvalSpec
        >>> from core.gdt.presets import preset
        >>> from core.train.pretrain import TrainSpec
        >>> from core.trial import DataSpec, TrialSpec, run_trial
        >>> small = dict(duration_s=2, fps=8, height=16, width=16)
        >>> world = WorldConfig(videos_per_class=3, classes=("grow", "shrink"), **small)
        >>> spec = TrialSpec(
        ...     data=DataSpec(world=world, cache_root=tempfile.mkdtemp(), clip_frames=4),
        ...     feature_dim=16, width=4, train=TrainSpec(steps=2), device="cpu",
        ...     eval=EvalSpec(clips_per_video=2, invariance_videos=4),
        ...     augment=AugmentSpec(video=VideoAugmentSpec(crop_size=16)),
        ... )
        >>> result = run_trial(preset("iccv-i", clip_budget=16), spec)
        >>> result.config, result.train.steps
        ('DS=d(4) TS=off MOD=i(2) TR=d(2) SP=off AUG=off', 2)
        >>> sorted(result.evaluation.invariance), 0 <= result.evaluation.scores.linear_top1 <= 1
        (['MOD', 'SP', 'TR', 'TS'], True)
    """
    device, pretrain_clips, data, clip_spec, model = _start(spec)
    callback = _Intermediate(on_intermediate, data, spec, clip_spec, device, on_step, intermediate_steps)
    started = time.perf_counter()
    train = pretrain(model, pretrain_clips, config, spec.train, clip_spec, spec.augment, device, callback, checkpoint)
    if train.stopped_by == "callback" and callback.last is not None:
        evaluation = callback.last  # stopped right after it: the model is the one just evaluated
    else:
        evaluation = evaluate(model, data, spec.eval, clip_spec, spec.augment, device)
    seconds = time.perf_counter() - started
    # GPU-seconds: how long the trial held its GPU (under Ray's fractional GPUs, a share of it).
    gpu_seconds = seconds if device.type == "cuda" else 0.0
    env = environment(spec.train.num_workers) | {"trial_seconds": seconds, "gpu_seconds": gpu_seconds}
    return TrialResult(config.describe(), train, evaluation, str(device), env)


def untrained_evaluation(spec: TrialSpec) -> Evaluation:
    """The baseline every trial is read against: the encoders as `run_trial` initialises them for the
    training seed (untrained), scored on the proxy. A trained score near it means training taught nothing."""
    device, _, data, clip_spec, model = _start(spec)
    return evaluate(model, data, spec.eval, clip_spec, spec.augment, device)


def _start(spec: TrialSpec):
    """What every trial starts from: its device and thread setting, its data, and the seeded initial encoders."""
    device = spec.resolved_device()
    if spec.threads is not None:
        apply_threads(spec.threads)
    pretrain_clips, data = open_data(spec.data)
    return device, pretrain_clips, data, ClipSpec(spec.data.clip_frames), build_model(spec, device, seeded=True)


DEFAULT_STEPS = 900  # the embedded default trial's budget (measured in benchmarks/results/signal.md)


def default_augment(data: DataSpec) -> AugmentSpec:
    """The augmentation g for `data`: the papers' (A.3.3), without horizontal flips on the world.

    A mirror image of a world video is a video of another class (slide_right <-> slide_left,
    rotate_cw <-> rotate_ccw), so on the world a flip is not label-preserving: it would teach
    every configuration to confuse exactly the reversal pairs that time reversal is about.
    """
    if data.kind == "world":
        # 16-pixel crops of the 32-pixel world (a step 3x cheaper than 32-pixel ones), and log-mels at half
        # the papers' resolution in both axes (20 bins, 50 frames/s; masks scaled with them): the audio
        # encoder costs as much as the video encoder at 40 x 100 and 2.5x less at 20 x 50, which buys the
        # cross-modal rows the steps they need to overtake video-only ones (docs/world.md, signal.md).
        audio = AudioAugmentSpec(n_mels=20, frames_per_second=50, freq_mask=2, time_mask=3)
        return AugmentSpec(video=VideoAugmentSpec(crop_size=16, flip_p=0.0), audio=audio)
    return AugmentSpec(video=VideoAugmentSpec(crop_size=32))


def small_world_trial(steps: int = DEFAULT_STEPS, seed: int = 0) -> TrialSpec:
    """The embedded default: tiny encoders on the procedural world, a CPU trial of about a minute.

    Chosen for signal (measured in benchmarks/results/signal.md): a proxy world of 80 videos per class
    (384 test videos, where 10 per class gave 48 and R@1 moved in steps of 1/48), AdamW at 2e-3 (SGD at
    0.05 barely moved the features in 60 steps), 900 steps (at 300 every cross-modal configuration was
    still behind its video-only twin; at 600 time reversal's effect still matched sound's, at 900 sound's
    is the largest, as at 4x the budget; `default_augment` makes a step cheap enough), and
    common random numbers (one seed, one set of initial weights and one video stream for every
    configuration).
    """
    data = DataSpec(world=WorldConfig(videos_per_class=10), proxy_videos_per_class=80)
    train = TrainSpec(steps=steps, optimizer="adamw", lr=2e-3, seed=seed)
    return TrialSpec(data=data, train=train, augment=default_augment(data))


PAPER_STEPS = 600  # the paper-encoder trial's budget: ~1 min of training on one H100/H200


def paper_world_trial(steps: int = PAPER_STEPS, seed: int = 0) -> TrialSpec:
    """The papers' encoders on the world, a trial for a GPU: R(2+1)D-18 on 30 x 112 x 112 clips and
    ResNet-9 on 1 s log-mel spectrograms (ICCV A.3.4), the world rendered at 128 x 128 and 30 fps.

    Measured on a GPU by benchmarks/bench_paper_trial_gpu.py (its GPU-seconds are in the trial's
    environment); on a CPU a step takes seconds, not milliseconds.
    """
    world = WorldConfig(videos_per_class=8, height=128, width=128, fps=30)
    data = DataSpec(world=world, proxy_videos_per_class=16, clip_frames=30)
    return TrialSpec(
        data=data,
        video_encoder="r2plus1d_18",
        audio_encoder="resnet9",
        feature_dim=PAPER_FEATURE_DIM,
        train=TrainSpec(steps=steps, optimizer="adamw", lr=1e-3, seed=seed, num_workers=4),
        eval=EvalSpec(clips_per_video=2),
        augment=AugmentSpec(video=VideoAugmentSpec(crop_size=112, flip_p=0.0)),
        device="cuda",
    )
