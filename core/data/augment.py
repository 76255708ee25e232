"""Augmentation g and input formatting, batched on the clips' device (the GPU when there is one).

Video (ICCV A.3.3): random resized crop, horizontal flip, colour jitter, normalisation. The crop of
every clip is one `torchvision.ops.roi_align` call over all frames of the batch, so clips get
independent crops without a loop. Audio: playback-speed resampling (torchaudio, one call per speed),
volume jitter, log-mel spectrogram (torchaudio, 40 bins, ~100 frames/s), z-normalisation and
SpecAugment-style frequency/time masking.

Drawing the random parameters is kept apart from applying them: a clip's parameters are uniforms
drawn from its AUG seed (`core.gdt.factors.AUG`), so clips that share an AUG slot get the *same*
augmentation g and clips of different slots different ones, which is what AUG = invariant /
distinctive / ignore mean. Without AUG seeds (hand-picked clips) every clip draws its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torchaudio

from core.data.clips import RawClips, to_device


@dataclass(frozen=True)
class VideoAugmentSpec:
    crop_size: int = 32
    crop_scale: tuple[float, float] = (0.5, 1.0)  # fraction of the frame area kept
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: float = 0.4  # brightness, contrast and saturation factors drawn from [1 - j, 1 + j]
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class AudioAugmentSpec:
    n_mels: int = 40
    frames_per_second: int = 100  # the papers' 1 s -> 99 spectrogram frames
    window_seconds: float = 0.025
    volume: tuple[float, float] = (0.9, 1.1)
    freq_mask: int = 3  # maximal masked width in mel bins (A.3.3)
    time_mask: int = 6  # maximal masked width in frames


@dataclass(frozen=True)
class AugmentSpec:
    video: VideoAugmentSpec = field(default_factory=VideoAugmentSpec)
    audio: AudioAugmentSpec = field(default_factory=AudioAugmentSpec)
    train: bool = True  # False: centre crop, no flip/jitter/volume/masking (evaluation)


@dataclass
class ModelInputs:
    """Encoder-ready tensors and the tuple row of every clip, for assembling embeddings in tuple order."""

    video: torch.Tensor  # (Kv, C, T, S, S) float
    video_rows: torch.Tensor
    audio: torch.Tensor  # (Ka, 1, n_mels, frames) float
    audio_rows: torch.Tensor
    batch_size: int

    def assemble(self, video_embeddings: torch.Tensor, audio_embeddings: torch.Tensor | None) -> torch.Tensor:
        """(K, d) embeddings in tuple order from the per-modality embeddings."""
        out = video_embeddings.new_empty(self.batch_size, video_embeddings.shape[1])
        out[self.video_rows] = video_embeddings
        if audio_embeddings is not None and len(self.audio_rows):
            out[self.audio_rows] = audio_embeddings.to(out.dtype)
        return out


# Uniforms per clip: video crop (4), flip (1), jitter (3); audio volume (1), frequency mask (2), time mask (2).
VIDEO_PARAMS = slice(0, 8)
AUDIO_PARAMS = slice(8, 13)
_NUM_PARAMS = 13


def augmentation_params(seeds: torch.Tensor | None, n: int, generator: torch.Generator, device) -> torch.Tensor:
    """(n, 13) uniforms in [0, 1), one row per clip: the random parameters of its augmentation g.

    With `seeds` (the AUG value of each clip) the row is a function of the seed alone, so equal seeds
    give equal augmentations, in either modality and in any batch; without, rows come from `generator`.
    """
    if seeds is None:
        return torch.rand(n, _NUM_PARAMS, generator=generator, device=generator.device).to(device)
    unique, inverse = torch.unique(seeds.cpu(), return_inverse=True)
    rows = [torch.rand(_NUM_PARAMS, generator=torch.Generator().manual_seed(int(s))) for s in unique.tolist()]
    return to_device(torch.stack(rows)[inverse], device)


def augment_video(clips: torch.Tensor, spec: VideoAugmentSpec, train: bool, params: torch.Tensor):
    """(K, T, C, H, W) uint8 -> (K, C, T, S, S) float, normalised; `params` (K, 8) from `augmentation_params`."""
    from torchvision.ops import roi_align  # here: importing torchvision takes seconds (core/models/encoders.py)

    k, t, c, h, w = clips.shape
    device = clips.device
    x = clips.float().div_(255.0)
    boxes = _crop_boxes(k, h, w, spec, train, params[:, :4] if train else None, device)  # (K, 4) x1, y1, x2, y2
    frame_boxes = torch.cat([torch.arange(k * t, device=device, dtype=x.dtype)[:, None],
                             boxes.repeat_interleave(t, dim=0)], dim=1)  # fmt: skip
    x = roi_align(x.reshape(k * t, c, h, w), frame_boxes, output_size=spec.crop_size, aligned=True)
    x = x.reshape(k, t, c, spec.crop_size, spec.crop_size)
    if train:
        flip = params[:, 4] < spec.flip_p
        x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
        x = _colour_jitter(x, spec.jitter, params[:, 5:8])
    mean = to_device(torch.tensor(spec.mean), device).view(1, 1, c, 1, 1)
    std = to_device(torch.tensor(spec.std), device).view(1, 1, c, 1, 1)
    return ((x - mean) / std).permute(0, 2, 1, 3, 4).contiguous()


def _crop_boxes(k, h, w, spec: VideoAugmentSpec, train: bool, u: torch.Tensor, device) -> torch.Tensor:
    if not train:  # the largest centred square
        side = min(h, w)
        x1, y1 = (w - side) / 2, (h - side) / 2
        return to_device(torch.tensor([[x1, y1, x1 + side, y1 + side]]), device).expand(k, 4)
    area = h * w * (spec.crop_scale[0] + u[:, 0] * (spec.crop_scale[1] - spec.crop_scale[0]))
    log_lo, log_hi = math.log(spec.crop_ratio[0]), math.log(spec.crop_ratio[1])
    ratio = torch.exp(log_lo + u[:, 1] * (log_hi - log_lo))
    cw = torch.sqrt(area * ratio).clamp(max=w)
    ch = torch.sqrt(area / ratio).clamp(max=h)
    x1 = u[:, 2] * (w - cw)
    y1 = u[:, 3] * (h - ch)
    return torch.stack([x1, y1, x1 + cw, y1 + ch], dim=1)


def _colour_jitter(x: torch.Tensor, strength: float, u: torch.Tensor) -> torch.Tensor:
    """Per-clip brightness, contrast and saturation on the colour axis (dim 2) of (K, T, C, H, W) in [0, 1]."""
    k = x.shape[0]
    factors = 1 + strength * (2 * u - 1)
    b, c, s = (factors[:, i].view(k, 1, 1, 1, 1) for i in range(3))
    x = x * b
    mean_luma = _luma(x).mean(dim=(1, 2, 3, 4), keepdim=True)
    x = (x - mean_luma) * c + mean_luma
    gray = _luma(x)
    return ((x - gray) * s + gray).clamp_(0, 1)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of (K, T, 3, H, W), keeping the colour axis."""
    return 0.299 * x[:, :, 0:1] + 0.587 * x[:, :, 1:2] + 0.114 * x[:, :, 2:3]


class AudioFeatures(torch.nn.Module):
    """Waveform clips -> z-normalised log-mel spectrograms, with SpecAugment-style masks when training."""

    def __init__(self, sample_rate: int, spec: AudioAugmentSpec):
        super().__init__()
        self.spec = spec
        self.sample_rate = sample_rate
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=int(round(spec.window_seconds * sample_rate)),
            hop_length=sample_rate // spec.frames_per_second,
            n_mels=spec.n_mels,
        )

    def forward(self, waveforms: torch.Tensor, train: bool, mask_params: torch.Tensor | None = None) -> torch.Tensor:
        """`mask_params` (K, 4): uniforms of the frequency and time masks (required when training)."""
        log_mel = torch.log(self.mel(waveforms) + 1e-6).unsqueeze(1)  # (K, 1, n_mels, frames)
        mean = log_mel.mean(dim=(2, 3), keepdim=True)
        std = log_mel.std(dim=(2, 3), keepdim=True).clamp_min(1e-5)
        log_mel = (log_mel - mean) / std
        if not train:
            return log_mel
        # torchaudio's SpecAugment draws its masks from the global RNG, one per clip; these are drawn
        # from each clip's augmentation parameters instead (same rule: width ~ U[0, max), start ~ U over
        # the rest), so clips sharing an AUG slot share their masks. Masked bins are zero, as iid_masks.
        keep = _band_kept(mask_params[:, 0:2], self.spec.freq_mask, log_mel.shape[2])[:, None, :, None]
        keep = keep & _band_kept(mask_params[:, 2:4], self.spec.time_mask, log_mel.shape[3])[:, None, None, :]
        return log_mel * keep


def _band_kept(u: torch.Tensor, max_width: int, size: int) -> torch.Tensor:
    """(K, size) bool: False on one band per clip, width u0 * max_width at u1 * (size - width)."""
    width = u[:, 0] * max_width
    start = (u[:, 1] * (size - width)).long()
    end = (start + width.long())
    index = torch.arange(size, device=u.device)
    return (index[None] < start[:, None]) | (index[None] >= end[:, None])


def speed_resampler(speed: float, sample_rate: int) -> torchaudio.transforms.Resample:
    """The resampler that plays audio `speed` times faster (its sinc kernel computed once, kept as a buffer)."""
    return torchaudio.transforms.Resample(orig_freq=int(round(sample_rate * speed)), new_freq=sample_rate)


def change_speed(
    waveforms: torch.Tensor, speed: float, sample_rate: int, length: int, resampler: torch.nn.Module | None = None
) -> torch.Tensor:
    """Play (K, n) waveforms `speed` times faster: resample by 1/speed, then cut to `length` samples.

    `resampler`: `speed_resampler(speed, sample_rate)` on the waveforms' device, kept by the caller;
    building the kernel on every call costs time and, on a GPU, a host-device synchronisation.
    """
    if speed != 1:
        waveforms = (resampler or speed_resampler(speed, sample_rate).to(waveforms.device))(waveforms)
    if waveforms.shape[1] < length:
        waveforms = torch.nn.functional.pad(waveforms, (0, length - waveforms.shape[1]))
    return waveforms[:, :length]


class BatchAugmenter:
    """Applies g to a batch of raw clips on `device`: the hot path of every training step."""

    def __init__(self, sample_rate: int, spec: AugmentSpec, device: torch.device | str = "cpu", seed: int = 0):
        self.spec = spec
        self.device = torch.device(device)
        self.audio_features = AudioFeatures(sample_rate, spec.audio).to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._resamplers: dict[float, torch.nn.Module] = {}  # one per playback speed (SP takes a few values)

    def _resampler(self, speed: float, sample_rate: int) -> torch.nn.Module:
        if speed not in self._resamplers:
            self._resamplers[speed] = speed_resampler(speed, sample_rate).to(self.device)
        return self._resamplers[speed]

    def __call__(self, raw: RawClips) -> ModelInputs:
        dev, train = self.device, self.spec.train
        params = augmentation_params(raw.aug, raw.batch_size, self.generator, dev) if train else None
        video = torch.empty(0, device=dev)
        if len(raw.video_rows):
            video_params = params[to_device(raw.video_rows, dev), VIDEO_PARAMS] if train else None
            video = augment_video(to_device(raw.video, dev), self.spec.video, train, video_params)
        audio, rows = torch.empty(0, device=dev), torch.empty(0, dtype=torch.long)
        if raw.audio:
            length = int(round(raw.clip_seconds * raw.sample_rate))
            speeds = raw.audio.items()
            waves = torch.cat([
                change_speed(to_device(w, dev), s, raw.sample_rate, length, self._resampler(s, raw.sample_rate))
                for s, w in speeds
            ])  # fmt: skip
            rows = to_device(torch.cat(list(raw.audio_rows.values())), dev)
            audio_params = params[rows, AUDIO_PARAMS] if train else None
            if train:
                lo, hi = self.spec.audio.volume
                waves = waves * (lo + (hi - lo) * audio_params[:, :1])
            audio = self.audio_features(waves, train, audio_params[:, 1:] if train else None)
        return ModelInputs(video, to_device(raw.video_rows, dev), audio, to_device(rows, dev), raw.batch_size)
