"""Final evaluation: full fine-tuning of the video encoder on HMDB-51 / UCF-101 (ICCV A.3.6).

Slower than the frozen-feature proxy and optional: run it for a configuration a search chose.
Protocol: random clips per video for training; SGD with momentum 0.9 and weight decay 5e-3, a
linear warm-up from 0.0025 to 0.02 over the first 2 epochs, the rate multiplied by 0.05 at epochs 6
and 10 of 12; at test time uniformly spaced clips per video whose softmax scores are averaged.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data.augment import AugmentSpec, BatchAugmenter
from core.data.clips import ClipSpec, gather_clips
from core.evaluation.proxy import ProxyData, clip_values
from core.models.encoders import AVEncoders


@dataclass(frozen=True)
class FinetuneSpec:
    epochs: int = 12
    batch_size: int = 32
    train_clips_per_video: int = 10  # random clips drawn per video and epoch
    test_clips_per_video: int = 10
    lr: float = 0.02  # after warm-up
    warmup_start_lr: float = 0.0025
    warmup_epochs: float = 2
    milestones: tuple[int, ...] = (6, 10)
    gamma: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-3
    seed: int = 0


@dataclass
class FinetuneResult:
    top1: float  # video-level accuracy on the test split, softmax averaged over clips
    train_seconds: float
    history: list[dict] = field(default_factory=list)  # per epoch: loss, clip accuracy, lr


class VideoClassifier(nn.Module):
    """The pretrained video encoder (a copy: the caller's model is left untouched) plus a new linear layer."""

    def __init__(self, model: AVEncoders, num_classes: int):
        super().__init__()
        self.encoder = copy.deepcopy(model.video)
        self.classifier = nn.Linear(model.feature_dim, num_classes)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(video))


def _lr_factor(spec: FinetuneSpec, steps_per_epoch: int):
    """Warm-up then step decay, as a multiple of spec.lr at each optimiser step."""
    start = spec.warmup_start_lr / spec.lr

    def factor(step: int) -> float:
        epoch = step / steps_per_epoch
        if epoch < spec.warmup_epochs:
            return start + (1 - start) * epoch / spec.warmup_epochs
        return spec.gamma ** sum(epoch >= m for m in spec.milestones)

    return factor


def finetune(
    model: AVEncoders,
    data: ProxyData,
    spec: FinetuneSpec = FinetuneSpec(),
    clip_spec: ClipSpec = ClipSpec(),
    augment: AugmentSpec = AugmentSpec(),
    device: torch.device | str = "cpu",
) -> FinetuneResult:
    device = torch.device(device)
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    num_classes = int(data.labels.max()) + 1
    classifier = VideoClassifier(model, num_classes).to(device)
    optimizer = torch.optim.SGD(
        classifier.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )
    videos = np.repeat(data.train, spec.train_clips_per_video)
    steps_per_epoch = -(-len(videos) // spec.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(spec, steps_per_epoch))
    train_augment = BatchAugmenter(data.source.sample_rate, replace(augment, train=True), device, spec.seed)
    labels = torch.as_tensor(data.labels, device=device)

    history, start = [], time.perf_counter()
    for epoch in range(spec.epochs):
        classifier.train()
        order = rng.permutation(len(videos))
        losses, correct = [], 0
        for lo in range(0, len(order), spec.batch_size):
            batch_videos = videos[order[lo : lo + spec.batch_size]]
            starts = rng.random(len(batch_videos))
            inputs = train_augment(gather_clips(data.source, clip_values(batch_videos, starts), clip_spec))
            logits = classifier(inputs.video)
            target = labels[torch.as_tensor(batch_videos, device=device)]
            loss = F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            correct += int((logits.argmax(dim=1) == target).sum())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "clip_accuracy": correct / len(videos),
                        "lr": scheduler.get_last_lr()[0]})  # fmt: skip
    train_seconds = time.perf_counter() - start
    return FinetuneResult(video_accuracy(classifier, data, spec, clip_spec, augment, device), train_seconds, history)


@torch.no_grad()
def video_accuracy(classifier, data: ProxyData, spec: FinetuneSpec, clip_spec, augment, device) -> float:
    """Top-1 over test videos, each predicted from the mean softmax of uniformly spaced clips."""
    classifier.eval()
    evaluate_augment = BatchAugmenter(data.source.sample_rate, replace(augment, train=False), device)
    n = spec.test_clips_per_video
    starts = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])
    probabilities = []
    for lo in range(0, len(data.test), max(1, spec.batch_size // n)):
        chunk = data.test[lo : lo + max(1, spec.batch_size // n)]
        values = clip_values(np.repeat(chunk, n), np.tile(starts, len(chunk)))
        logits = classifier(evaluate_augment(gather_clips(data.source, values, clip_spec)).video)
        probabilities.append(logits.softmax(dim=1).reshape(len(chunk), n, -1).mean(dim=1).cpu())
    predicted = torch.cat(probabilities).argmax(dim=1).numpy()
    return float((predicted == data.labels[data.test]).mean())
