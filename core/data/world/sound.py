"""Sound caused by the scene: hums that follow motion, impact sounds at contacts."""

from __future__ import annotations

import numpy as np

from core.data.world.scenes import _Distractor, _Scene
from core.data.world.world_config import WorldConfig

# Impact timbres: (mode frequency ratios, mode amplitudes, mode decay s, noise level, noise decay s,
# base frequency). A base frequency of None uses the scene's timbre_freq (the knock classes), so the
# knock pair differs in spectrum and decay only, not in pitch distribution.
_TIMBRES: dict[str, tuple[tuple[float, ...], tuple[float, ...], float, float, float, float | None]] = {
    "thud": ((1.0, 2.1), (1.0, 0.5), 0.06, 0.3, 0.01, 130.0),
    "knock": ((1.0, 2.3, 3.9), (1.0, 0.6, 0.4), 0.03, 0.4, 0.008, 300.0),
    "click": ((1.0,), (1.0,), 0.004, 0.6, 0.003, 2200.0),
    "wood": ((1.0, 2.32, 4.25), (1.0, 0.6, 0.4), 0.02, 0.5, 0.006, None),
    "metal": ((1.0, 2.76, 5.40, 8.93), (1.0, 0.6, 0.4, 0.3), 0.4, 0.05, 0.003, None),
}
_CONTROL_RATE = 1000.0  # Hz: motion -> loudness/pitch is computed on this grid, then interpolated


def _impact_length(timbre: str) -> float:
    """Scene seconds after which an impact sound has decayed to < 1 % (5 time constants)."""
    _, _, decay, _, noise_decay, _ = _TIMBRES[timbre]
    return 5.0 * max(decay, noise_decay)


def _impact_sound(
    timbre: str, u: np.ndarray, base: float, speed: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Impulse response at scene times u >= 0 after contact, normalised to unit RMS over 50 ms."""
    ratios, amps, decay, noise, noise_decay, f0 = _TIMBRES[timbre]
    f0 = base if f0 is None else f0
    u = u.astype(np.float32)  # float32 transcendental functions are SIMD-vectorised in numpy
    out = noise * np.exp(-u / noise_decay) * rng.standard_normal(u.shape, dtype=np.float32)
    for ratio, amp in zip(ratios, amps, strict=True):
        f = f0 * ratio
        if f * speed < 0.45 * sr:  # played at `speed`, the mode must stay below Nyquist
            out += amp * np.exp(-u / (decay / ratio**0.5)) * np.sin(np.mod(2 * np.pi * f * u, 2 * np.pi))
    head = out[u < 0.05]
    return out / max(float(np.sqrt(np.mean(head**2))), 1e-8)


def _hum(freq: np.ndarray, ds: float, speed: float, sr: int, harmonics: int) -> np.ndarray:
    """A tone with 1-3 harmonics (amplitudes 1, 1/2, 1/4) following freq (Hz of scene time)."""
    # Accumulate the phase in float64, wrap it, then evaluate in float32 (SIMD; 8x faster).
    phase = np.mod((2 * np.pi * ds) * np.cumsum(freq), 2 * np.pi).astype(np.float32)
    s1 = np.sin(phase)
    out = s1.copy()
    if harmonics > 1:  # sin 2p and sin 3p from sin p and cos p: two trig calls instead of three
        top = float(freq.max()) * speed
        for k, a, h in ((2, 0.5, 2 * s1 * np.cos(phase)), (3, 0.25, s1 * (3 - 4 * s1 * s1))):
            if k * top < 0.45 * sr:
                out += a * h
            else:  # drop the harmonic where it would alias (only at low sample rates)
                out += a * h * (k * freq * speed < 0.45 * sr)
    return out


def _synth_audio(
    scene: _Scene, distractor: _Distractor | None, cfg: WorldConfig, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    n, sr = cfg.num_samples, cfg.sample_rate
    ds = time_scale / sr
    s = (np.arange(n) + 0.5) / sr * time_scale  # scene time of every output sample
    # Loudness and pitch are smooth functions of the motion: compute them on a 1 kHz grid of scene
    # time (the same grid for a scene at 1x and 2x, so bob_fast is exactly bob_slow sped up).
    scene_dur = cfg.duration_s * time_scale
    sc = np.linspace(0.0, scene_dur, max(2, int(np.ceil(scene_dur * _CONTROL_RATE)) + 1))
    dsc = sc[1] - sc[0]
    x, y, r, ang = scene.motion(sc)
    speed = (
        np.hypot(np.gradient(x, dsc), np.gradient(y, dsc))
        + 0.5 * np.abs(np.gradient(ang, dsc)) * r
        + 5.0 * np.abs(np.gradient(r, dsc))
    )
    amp = np.interp(s, sc, 0.25 * np.tanh(speed / 0.4))
    # Pitch: two octaves across the frame height, lower for bigger objects.
    freq = np.interp(s, sc, scene.pitch * 2.0 ** (2.0 * (0.5 - y)) * (0.15 / r) ** 0.7)
    wave = amp * _hum(freq, ds, time_scale, sr, harmonics=3)
    # Friction noise as loud as the motion, plus the background noise: one Gaussian draw.
    wave += np.sqrt((0.3 * amp) ** 2 + cfg.audio_noise**2) * rng.standard_normal(n, dtype=np.float32)
    if distractor is not None:
        dx, dy = distractor.position(sc)
        d_amp = 0.05 * np.tanh(np.hypot(np.gradient(dx, dsc), np.gradient(dy, dsc)) / 0.2)
        d_freq = distractor.pitch * 2.0 ** (2.0 * (0.5 - dy))
        wave += np.interp(s, sc, d_amp) * _hum(np.interp(s, sc, d_freq), ds, time_scale, sr, harmonics=1)
    for t_imp, strength, timbre in scene.impacts:
        i0 = max(int(np.ceil(t_imp / ds - 0.5)), 0)  # first sample at or after the contact
        i1 = min(n, i0 + int(np.ceil(_impact_length(timbre) / ds)))
        if i0 >= n:
            continue
        wave[i0:i1] += 0.12 * strength * _impact_sound(timbre, s[i0:i1] - t_imp, scene.timbre_freq, time_scale, sr, rng)
    peak = float(np.max(np.abs(wave)))
    if peak > 0.95:  # a per-video gain keeps the waveform encodable; it does not change its shape
        wave *= 0.95 / peak
    return wave.astype(np.float32)
