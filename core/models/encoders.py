"""Video and audio encoders chosen by name, plus the GDT projection heads.

The paper encoders (ICCV GDT, appendix A.3.4) are torchvision's R(2+1)D-18 for video and a
9-layer ResNet (torchvision ``ResNet`` with one ``BasicBlock`` per stage, 1 input channel) for
log-mel audio; both give 512-d features after global average pooling. The tiny encoders keep the
same input layouts and the same (2+1)D / residual building blocks at width ~16-32 so that a CPU
trial takes seconds; the tiny video encoder looks at frame differences, so that it learns motion
within such a budget (``FrameDifferences``). Every encoder maps its input to ``(B, feature_dim)``
pooled features; the heads map those to L2-normalised ``embed_dim`` embeddings for the contrastive loss.

Layouts: video ``(B, C=3, T, H, W)``; audio ``(B, 1, n_mels, frames)``.

torchvision is imported by the builders, not at the top: it takes seconds to import (on a 2-core machine about
as long as torch itself), and the processes that only validate or serve studies never build an encoder.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

PAPER_FEATURE_DIM = 512


class ProjectionHead(nn.Module):
    """Two FC layers (feature_dim -> hidden -> embed) with BN/ReLU between, L2-normalised output.

    This is the head of the GDT paper (512 intermediate, 256-d output); the loss uses its output,
    downstream evaluation uses the features before it. In training mode BatchNorm needs batches of >= 2.
    """

    def __init__(self, feature_dim: int, hidden_dim: int = 512, embed_dim: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, embed_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(x), dim=1)


class _Pooled(nn.Module):
    """Runs ``net`` on input in ``memory_format`` and flattens the pooled output to (B, features)."""

    def __init__(self, net: nn.Module, memory_format: torch.memory_format) -> None:
        super().__init__()
        self.net = net
        self.memory_format = memory_format
        if memory_format is not torch.contiguous_format:
            self.net.to(memory_format=memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.net(x.contiguous(memory_format=self.memory_format)), 1)


def _r2plus1d_18(feature_dim: int, width: int) -> nn.Module:
    """torchvision's R(2+1)D-18, random init, fc removed: 512-d after global pooling."""
    from torchvision.models.video import r2plus1d_18

    net = r2plus1d_18(weights=None)
    net.fc = nn.Identity()
    return net


def _resnet9(feature_dim: int, width: int) -> nn.Module:
    """torchvision ResNet with one BasicBlock per stage and a 1-channel conv1 (as in GDT's code)."""
    from torchvision.models import resnet as tv_resnet

    net = tv_resnet.ResNet(tv_resnet.BasicBlock, [1, 1, 1, 1])
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    # ResNet.__init__ initialised the original conv1 this way; keep the replacement consistent.
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.fc = nn.Identity()
    return net


def _downsample(conv: type[nn.Module], norm: type[nn.Module], cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Sequential(conv(cin, cout, kernel_size=1, stride=stride, bias=False), norm(cout))


class FrameDifferences(nn.Module):
    """``(B, C, T, H, W)`` frames -> their ``T - 1`` differences ``x[t+1] - x[t]``: the tiny video encoder's input.

    Why: trained from scratch for a few hundred CPU steps, a tiny network on raw frames is swamped by
    static appearance (background texture, object colour), which differs between videos far more than
    the ~1 pixel/frame motion does and which the sound cannot predict. Measured on the world's
    reversal-pair classes (the science check's setup of the time, 300 steps): on raw frames, and on frames plus
    differences, the loss stayed near chance and the features stayed reversal-invariant (measured TR
    invariance 0.96-0.97 and 0.90-0.92) whether GDT asked for TR-invariance or distinctiveness; on
    differences alone it is 0.25-0.38 when distinctive and 0.51-0.61 when invariant. Differences (TSN's
    "RGB difference" input) remove everything static, so the network sees motion from its first step;
    their sign keeps the direction of time (reversing a clip reverses and negates them). The price:
    what never moves is invisible to it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 1:] - x[:, :, :-1]


def _tiny_video(feature_dim: int, width: int) -> nn.Module:
    """A (2+1)D stem on frame differences and two torchvision (2+1)D residual blocks.

    Channels width -> 2*width -> feature_dim. On 8x32x32 clips the 7 differences give feature maps of
    7x16x16 -> 4x8x8 -> 2x4x4 before global pooling.
    """
    from torchvision.models.video import resnet as tv_video_resnet
    from torchvision.ops.misc import Conv3dNormActivation

    block = tv_video_resnet.BasicBlock
    conv = tv_video_resnet.Conv2Plus1D
    return nn.Sequential(
        FrameDifferences(),
        Conv3dNormActivation(3, width, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        Conv3dNormActivation(width, width, kernel_size=(3, 1, 1), padding=(1, 0, 0)),
        block(width, 2 * width, conv, stride=2,
              downsample=_downsample(nn.Conv3d, nn.BatchNorm3d, width, 2 * width, 2)),
        block(2 * width, feature_dim, conv, stride=2,
              downsample=_downsample(nn.Conv3d, nn.BatchNorm3d, 2 * width, feature_dim, 2)),
        nn.AdaptiveAvgPool3d(1),
    )


def _tiny_audio(feature_dim: int, width: int) -> nn.Module:
    """A conv stem and two torchvision BasicBlocks; on 40x100 log-mels: 20x50 -> 10x25 -> 5x13 -> pool."""
    from torchvision.models import resnet as tv_resnet
    from torchvision.ops.misc import Conv2dNormActivation

    block = tv_resnet.BasicBlock
    return nn.Sequential(
        Conv2dNormActivation(1, width, kernel_size=3, stride=2),
        block(width, 2 * width, stride=2,
              downsample=_downsample(nn.Conv2d, nn.BatchNorm2d, width, 2 * width, 2)),
        block(2 * width, feature_dim, stride=2,
              downsample=_downsample(nn.Conv2d, nn.BatchNorm2d, 2 * width, feature_dim, 2)),
        nn.AdaptiveAvgPool2d(1),
    )


# name -> (builder(feature_dim, width), fixed feature dim or None when configurable)
_Builder = Callable[[int, int], nn.Module]
VIDEO_ENCODERS: dict[str, tuple[_Builder, int | None]] = {
    "r2plus1d_18": (_r2plus1d_18, PAPER_FEATURE_DIM),
    "tiny_video": (_tiny_video, None),
}
AUDIO_ENCODERS: dict[str, tuple[_Builder, int | None]] = {
    "resnet9": (_resnet9, PAPER_FEATURE_DIM),
    "tiny_audio": (_tiny_audio, None),
}


class AVEncoders(nn.Module):
    """The pair of encoders and heads a GDT trial trains.

    ``video(x)`` / ``audio(x)`` give pooled features (used by the frozen-feature proxy);
    ``embed_video`` / ``embed_audio`` add the projection heads (used by the loss).
    """

    def __init__(self, video: nn.Module, audio: nn.Module, feature_dim: int, hidden_dim: int,
                 embed_dim: int, video_name: str, audio_name: str) -> None:
        super().__init__()
        self.video = video
        self.audio = audio
        self.video_head = ProjectionHead(feature_dim, hidden_dim, embed_dim)
        self.audio_head = ProjectionHead(feature_dim, hidden_dim, embed_dim)
        self.feature_dim = feature_dim
        self.embed_dim = embed_dim
        self.video_name = video_name
        self.audio_name = audio_name

    def embed_video(self, x: torch.Tensor) -> torch.Tensor:
        return self.video_head(self.video(x))

    def embed_audio(self, x: torch.Tensor) -> torch.Tensor:
        return self.audio_head(self.audio(x))

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_video(video), self.embed_audio(audio)


def _lookup(kind: str, name: str, table: dict[str, tuple[_Builder, int | None]]) -> tuple[_Builder, int | None]:
    if name not in table:
        raise ValueError(f"unknown {kind} encoder {name!r}; known {kind} encoders: {', '.join(sorted(table))}")
    return table[name]


def build_encoders(
    video: str = "r2plus1d_18",
    audio: str = "resnet9",
    *,
    feature_dim: int = PAPER_FEATURE_DIM,
    hidden_dim: int = 512,
    embed_dim: int = 256,
    width: int = 16,
    channels_last: bool = False,
) -> AVEncoders:
    """Build the named video/audio encoders with GDT projection heads.

    ``feature_dim`` is the pooled feature size of both encoders; the paper encoders are fixed at 512
    and reject any other value. ``width`` is the base channel count of the tiny encoders (ignored by
    the paper ones). ``channels_last`` stores weights and inputs as channels_last_3d (video) and
    channels_last (audio). On a 2-core CPU this was a mixed bag (tiny video at 128-d ~30% faster,
    at 512-d ~4x slower; R(2+1)D-18 between equal and ~30% faster), so it is off by default.
    """
    if feature_dim < 1 or width < 1:
        raise ValueError(f"feature_dim and width must be positive, got feature_dim={feature_dim}, width={width}")
    # Validate both names before building anything: the paper video encoder takes ~0.5 s to build.
    specs = [
        (kind, name, *_lookup(kind, name, table), fmt)
        for kind, name, table, fmt in (
            ("video", video, VIDEO_ENCODERS, torch.channels_last_3d),
            ("audio", audio, AUDIO_ENCODERS, torch.channels_last),
        )
    ]
    for kind, name, _, fixed_dim, _ in specs:
        if fixed_dim is not None and feature_dim != fixed_dim:
            raise ValueError(f"{kind} encoder {name!r} has a fixed feature_dim of {fixed_dim}, got {feature_dim}")
    modules = [
        _Pooled(builder(feature_dim, width), fmt if channels_last else torch.contiguous_format)
        for _, _, builder, _, fmt in specs
    ]
    return AVEncoders(modules[0], modules[1], feature_dim, hidden_dim, embed_dim, video, audio)
