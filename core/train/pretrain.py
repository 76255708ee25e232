"""One short GDT pretraining: the training half of a trial.

Batches come from the GDT batch stream (sampled, gathered), are augmented on the training device,
encoded per modality, reassembled in tuple order and scored by eq. (1). The run stops at its step
budget or its wall-clock budget, whichever comes first. A non-finite loss or running out of memory
ends it with `TrainingFailed` and that reason, never with a silently bad model.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from core.data.augment import AugmentSpec, BatchAugmenter, ModelInputs
from core.data.batches import GDTBatchStream, batch_loader
from core.data.clips import ClipSource, ClipSpec
from core.errors import FailureKind, GDTSearchError
from core.gdt.config import GDTConfig
from core.gdt.loss import gdt_loss
from core.gdt.validity import validate
from core.models.encoders import AVEncoders


class TrainingFailed(GDTSearchError, RuntimeError):
    """The run cannot produce a usable model; `reason` says why (recorded as the trial's failure), `kind`
    classifies it (core.errors.FailureKind: non-finite loss, out of memory, or another training failure)."""

    def __init__(self, reason: str, step: int, kind: FailureKind = FailureKind.TRAIN):
        super().__init__(f"step {step}: {reason}")
        self.reason, self.step, self.kind = reason, step, FailureKind(kind)


@dataclass(frozen=True)
class TrainSpec:
    steps: int = 100  # the schedule's length, and the step budget
    epochs: float | None = None  # if set, steps = epochs x (videos / K_i), rounded up
    seconds: float | None = None  # wall-clock cap; the run ends early, at the end of a step
    optimizer: str = "sgd"  # "sgd" or "adamw"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    warmup_fraction: float = 0.1
    schedule: str = "cosine"  # "cosine" or "step" (x0.1 at 2/3 of the run)
    grad_clip: float | None = 5.0
    seed: int = 0
    num_workers: int = 0
    bf16: bool = True  # autocast on CUDA only
    compile: bool = False
    checkpoint_every: int | None = None
    eval_every: int | None = None  # intermediate evaluations, for pruners

    def total_steps(self, num_videos: int, k_videos: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * num_videos / k_videos))
        return self.steps


@dataclass
class StepReport:
    step: int
    loss: float
    clips_per_second: float
    lr: float


@dataclass
class TrainResult:
    steps: int
    final_loss: float
    wall_seconds: float
    clips_per_second: float  # over the whole run, data loading included
    stopped_by: str  # "steps", "seconds" or "callback"
    history: list[StepReport] = field(default_factory=list)


class TrainCallback:
    """Hooks for the search layer. `on_evaluation` returning True stops the run (a pruned trial)."""

    def on_step(self, report: StepReport) -> None:
        pass

    def on_evaluation(self, step: int, model: AVEncoders) -> bool:
        return False


def make_optimizer(model: torch.nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    if spec.optimizer == "adamw":
        # Fused: one kernel over all parameters instead of a loop over 69 small tensors; the same update up
        # to rounding, 4x faster on the tiny encoders, where the loop was ~6 % of a CPU trial (bench_trial.py).
        fused = next(model.parameters()).device.type in ("cpu", "cuda")
        return torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay, fused=fused)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {spec.optimizer!r}")


def _scheduler(optimizer: torch.optim.Optimizer, spec: TrainSpec, total: int):
    warmup = int(spec.warmup_fraction * total)
    if spec.schedule == "cosine":
        main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - warmup))
    elif spec.schedule == "step":
        main = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, (2 * total) // 3 - warmup), gamma=0.1)
    else:
        raise ValueError(f"schedule must be 'cosine' or 'step', got {spec.schedule!r}")
    if warmup == 0:
        return main
    ramp = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def embedders(model: AVEncoders, compile: bool = False, backend: str = "inductor"):
    """The (video, audio) embedding functions of a training step, compiled with torch.compile if asked.

    The methods are compiled, not the module: `torch.compile(model)` compiles only `forward`, and
    `compiled.embed_video` would quietly run the plain method (measured: no speed-up on an H100).
    """
    if not compile:
        return model.embed_video, model.embed_audio
    return torch.compile(model.embed_video, backend=backend), torch.compile(model.embed_audio, backend=backend)


def bf16_autocast(device: torch.device, spec: TrainSpec) -> torch.autocast:
    """bf16 autocast on CUDA when the spec asks for it; a no-op context elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and spec.bf16)


def batch_loss(embed_video, embed_audio, inputs: ModelInputs, structure, temperature: float) -> torch.Tensor:
    """eq. (1) on one augmented batch: each modality encoded once, embeddings reassembled in tuple order."""
    video = embed_video(inputs.video)
    audio = embed_audio(inputs.audio) if len(inputs.audio_rows) else None
    return gdt_loss(inputs.assemble(video, audio), structure, temperature)


def optimizer_step(model: torch.nn.Module, loss: torch.Tensor, optimizer, grad_clip: float | None) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def pretrain(
    model: AVEncoders,
    source: ClipSource,
    config: GDTConfig,
    spec: TrainSpec,
    clip_spec: ClipSpec = ClipSpec(),
    augment: AugmentSpec = AugmentSpec(),
    device: torch.device | str = "cpu",
    callback: TrainCallback | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    """Train `model` on GDT batches of `config` drawn from `source`; resume from `checkpoint` if it exists."""
    device = torch.device(device)
    callback = callback or TrainCallback()
    torch.manual_seed(spec.seed)
    structure = validate(config).to(device)
    model.to(device).train()
    embed_video, embed_audio = embedders(model, spec.compile)
    optimizer = make_optimizer(model, spec)
    total = spec.total_steps(source.num_videos, config.k_videos)
    scheduler = _scheduler(optimizer, spec, total)

    step = 0
    if checkpoint is not None and checkpoint.exists():
        step = load_checkpoint(checkpoint, model, optimizer, scheduler)
    # A resumed run draws fresh batches and augmentations rather than replaying those of steps it did.
    augmenter = BatchAugmenter(source.sample_rate, augment, device, seed=spec.seed * 1_000_003 + step)
    stream = GDTBatchStream(source, config, clip_spec, seed=spec.seed * 1_000_003 + step)
    autocast = bf16_autocast(device, spec)

    history: list[StepReport] = []
    stopped_by = "steps"
    start = last_read = time.perf_counter()
    # The loss of a step is read (a wait for the device) only once the next step is queued, so the
    # host prepares batch n+1 while the GPU still trains on batch n. A step's time is the time
    # between two readings: on a GPU, the pace of the device.
    pending: tuple[int, torch.Tensor, float] | None = None  # (step, loss on the device, lr) not yet read

    def read_pending() -> None:
        nonlocal pending, last_read
        if pending is None:
            return
        done, loss_on_device, lr = pending
        pending = None
        value = loss_on_device.item()
        if not math.isfinite(value):
            raise TrainingFailed(f"non-finite loss ({value})", done - 1, FailureKind.NON_FINITE)
        now = time.perf_counter()
        report = StepReport(done, value, config.batch_size / max(now - last_read, 1e-9), lr)
        last_read = now
        history.append(report)
        callback.on_step(report)

    batches = iter(batch_loader(stream, spec.num_workers))
    while step < total:
        sampled = next(batches)
        try:
            inputs = augmenter(sampled.raw)
            with autocast:
                loss = batch_loss(embed_video, embed_audio, inputs, structure, config.temperature)
            optimizer_step(model, loss, optimizer, spec.grad_clip)
            scheduler.step()
            step += 1
            read_pending()
            pending = (step, loss.detach(), scheduler.get_last_lr()[0])
            at_checkpoint = bool(spec.checkpoint_every and checkpoint is not None and step % spec.checkpoint_every == 0)
            at_evaluation = bool(spec.eval_every and step % spec.eval_every == 0 and step < total)
            if at_checkpoint or at_evaluation or step == total:
                read_pending()  # a checkpoint or an evaluation must never hold a non-finite model
        except torch.OutOfMemoryError as error:
            raise TrainingFailed(f"out of memory: {str(error).splitlines()[0]}", step, FailureKind.OOM) from error
        if at_checkpoint:
            save_checkpoint(checkpoint, model, optimizer, scheduler, step, spec)
        if at_evaluation:
            model.eval()
            stop = callback.on_evaluation(step, model)
            model.train()
            if stop:
                stopped_by = "callback"
                break
        if spec.seconds is not None and time.perf_counter() - start >= spec.seconds:
            stopped_by = "seconds"
            break
    read_pending()
    wall = time.perf_counter() - start
    model.eval()
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, optimizer, scheduler, step, spec)
    done, loss_value = len(history), history[-1].loss if history else math.nan
    return TrainResult(step, loss_value, wall, done * config.batch_size / wall if wall else 0.0, stopped_by, history)


def save_checkpoint(path: Path, model, optimizer, scheduler, step: int, spec: TrainSpec) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "spec": asdict(spec),
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    tmp.replace(path)  # atomic: a crash mid-save leaves the previous checkpoint intact


def load_checkpoint(path: Path, model, optimizer=None, scheduler=None) -> int:
    """Restore weights (and optimiser/scheduler state when given); returns the step it was saved at."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])
