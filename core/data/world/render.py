"""Rendering: textured backgrounds and objects drawn into frames."""

from __future__ import annotations

import numpy as np

from core.data.world.scenes import _Object
from core.data.world.world_config import WorldConfig


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A static, low-frequency textured background, (3, H, W) in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w]
    xx, yy = (xx + 0.5) / w, (yy + 0.5) / h
    base = rng.uniform(0.15, 0.45, size=3)
    tex = np.zeros((h, w))
    for _ in range(4):
        kx, ky = rng.uniform(-3, 3, size=2)
        tex += rng.uniform(0.02, 0.06) * np.sin(2 * np.pi * (kx * xx + ky * yy) + rng.uniform(0, 2 * np.pi))
    tint = rng.uniform(0.5, 1.0, size=3)
    return base[:, None, None] + tint[:, None, None] * tex[None]


def _shape_alpha(
    shape: str, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, angle: np.ndarray, xx: np.ndarray, yy: np.ndarray
) -> np.ndarray:
    """Anti-aliased coverage (T, H, W) of a shape centred at (cx, cy) px with radius r px, rotated."""
    f32 = np.float32
    px, py = xx[None] - cx.astype(f32)[:, None, None], yy[None] - cy.astype(f32)[:, None, None]
    c, s = np.cos(angle).astype(f32)[:, None, None], np.sin(angle).astype(f32)[:, None, None]
    u, v = px * c + py * s, -px * s + py * c
    rr = r.astype(f32)[:, None, None]
    if shape == "circle":
        sd = np.hypot(u, v) - rr
    elif shape == "square":
        sd = np.maximum(np.abs(u), np.abs(v)) - 0.85 * rr
    else:  # equilateral triangle with a vertex along the object's angle
        big = 1.15 * rr
        sd = np.maximum(-u, np.maximum(0.5 * u + 0.866 * v, 0.5 * u - 0.866 * v)) - big / 2  # edge normals
    return np.clip(0.5 - sd, 0.0, 1.0)


def _composite(img: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> None:
    """In place over (T, 3, H, W): img = img * (1 - alpha) + color * alpha."""
    img += alpha[:, None] * (color.astype(np.float32)[None, :, None, None] - img)


def _draw_object(img: np.ndarray, obj: _Object, x, y, r, angle, cfg: WorldConfig, xx, yy) -> None:
    m = min(cfg.height, cfg.width)
    cx, cy, rp = x * cfg.width, y * cfg.height, r * m
    _composite(img, _shape_alpha(obj.shape, cx, cy, rp, angle, xx, yy), obj.color)
    # The orientation marker: what makes rotation (and its direction) visible for every shape.
    mx, my = cx + 0.55 * rp * np.cos(angle), cy + 0.55 * rp * np.sin(angle)
    _composite(img, _shape_alpha("circle", mx, my, np.maximum(0.3 * rp, 0.9), angle, xx, yy), obj.marker)
