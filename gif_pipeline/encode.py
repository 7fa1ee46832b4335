"""Image -> GIF: one code path for every palette and dither stage.

A GIF encoder is two stages (GIFnets Fig. 2): a *palette stage* picks at most 256
colours for the image, and a *dither stage* maps every pixel to a palette index.
Stages are looked up by name in :data:`PALETTE_STAGES` and :data:`DITHER_STAGES`,
so the classical methods and the networks mix freely (e.g. median-cut palette with
network dithering).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from gif_pipeline import dithering, gif_io, metrics, palettes
from gif_pipeline.configs import check_num_colors

PaletteStage = Callable[..., np.ndarray]  # (rgb uint8[N?,3] pixels image, n, seed) -> uint8[K,3]
DitherStage = Callable[..., np.ndarray]  # (rgb uint8[H,W,3], palette uint8[K,3]) -> uint8[H,W]


def _classical_palette(method: str) -> PaletteStage:
    def stage(rgb, n, seed=0):
        if method == "kmeans":
            return palettes.kmeans(rgb, n, seed=seed)
        return palettes.make_palette(rgb, n, method)

    return stage


PALETTE_STAGES: dict[str, PaletteStage] = {m: _classical_palette(m) for m in ("median-cut", "kmeans", "octree")}
DITHER_STAGES: dict[str, DitherStage] = {
    "none": lambda rgb, palette: dithering.remap(rgb, palette, "none"),
    "fs": lambda rgb, palette: dithering.remap(rgb, palette, "fs"),
}

DEFAULT_PALETTE = "kmeans"
DEFAULT_DITHER = "fs"


@dataclasses.dataclass
class EncodeResult:
    """An encoded GIF and what it cost."""

    gif_bytes: bytes
    indices: np.ndarray  # uint8 [H, W]
    palette: np.ndarray  # uint8 [K, 3]
    rgb: np.ndarray  # uint8 [H, W, 3], the decoded GIF (transparent pixels keep the input colour)
    transparent_index: int | None
    seconds: float

    @property
    def colors_used(self) -> int:
        return int(np.unique(self.indices).size)

    def stats(self, reference: np.ndarray, alpha_mask: np.ndarray | None = None) -> dict:
        """Per-file numbers that the CLI prints: colours, bytes, PSNR against ``reference``, seconds."""
        keep = None if alpha_mask is None else ~alpha_mask
        a, b = (reference, self.rgb) if keep is None else (reference[keep][None], self.rgb[keep][None])
        return {
            "colors": self.colors_used,
            "bytes": len(self.gif_bytes),
            "psnr": round(float(metrics.psnr(a, b)), 3) if a.size else float("inf"),
            "seconds": round(self.seconds, 4),
        }


def encode_image(
    rgb: np.ndarray,
    colors: int = 256,
    palette: str = DEFAULT_PALETTE,
    dither: str = DEFAULT_DITHER,
    alpha_mask: np.ndarray | None = None,
    seed: int = 0,
) -> EncodeResult:
    """Encode ``rgb`` (uint8 [H, W, 3]) as a GIF with at most ``colors`` colours.

    ``alpha_mask`` (bool [H, W], True = transparent) reserves one palette entry as the GIF's
    transparent index; the other ``colors - 1`` entries are fitted to the opaque pixels.
    """
    check_num_colors(colors)
    if palette not in PALETTE_STAGES:
        raise ValueError(f"unknown palette method {palette!r}; choose from {sorted(PALETTE_STAGES)}")
    if dither not in DITHER_STAGES:
        raise ValueError(f"unknown dither method {dither!r}; choose from {sorted(DITHER_STAGES)}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a uint8 [H, W, 3] image, got shape {rgb.shape}")
    has_alpha = alpha_mask is not None and bool(alpha_mask.any())

    start = time.perf_counter()
    transparent_index = None
    if has_alpha and bool(alpha_mask.all()):
        pal = np.zeros((1, 3), np.uint8)
        indices = np.zeros(rgb.shape[:2], np.uint8)
    else:
        fit_pixels = rgb[~alpha_mask][None] if has_alpha else rgb
        n_fit = colors - 1 if has_alpha else colors
        if n_fit == 1:  # --colors 2 with transparency: one opaque colour, the mean
            pal = np.rint(fit_pixels.reshape(-1, 3).mean(0)).astype(np.uint8)[None]
        else:
            pal = PALETTE_STAGES[palette](fit_pixels, n_fit, seed=seed)
        indices = DITHER_STAGES[dither](rgb, pal)
    if has_alpha:
        transparent_index = len(pal) if not bool(alpha_mask.all()) else 0
        if transparent_index == len(pal):
            pal = np.concatenate([pal, np.zeros((1, 3), np.uint8)])
        indices = np.where(alpha_mask, np.uint8(transparent_index), indices).astype(np.uint8)
    gif_bytes = gif_io.encode_gif(indices, pal, transparent_index=transparent_index)
    seconds = time.perf_counter() - start

    decoded = pal[indices]
    if has_alpha:
        decoded = np.where(alpha_mask[..., None], rgb, decoded)
    return EncodeResult(gif_bytes, indices, pal, decoded, transparent_index, seconds)
