"""Pillow's palette generators, median cut and octree, without TensorFlow (:mod:`gif_pipeline.quant.palettes`
re-exports them beside its k-means; ``gifnets encode``'s LiteRT runtime uses them from here).

Every function takes a uint8 image (``[H, W, 3]``, or any ``[..., 3]`` array of pixels) and returns a uint8
palette ``[k, 3]`` with ``2 <= n``, ``k <= n``, duplicates and unused entries dropped.
"""
from __future__ import annotations

import operator

import numpy as np
from PIL import Image

CLASSICAL_METHODS = ("median-cut", "octree")


# ---------------------------------------------------------------------------------------------
# Input checks and small helpers
# ---------------------------------------------------------------------------------------------

def _check_n(n) -> int:
    """Number of colours: an integer in 2..256 (a GIF palette's size)."""
    if isinstance(n, bool):
        raise ValueError(f"number of colours must be an integer in 2..256, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise ValueError(f"number of colours must be an integer in 2..256, got {n!r}") from None
    if not 2 <= n <= 256:
        raise ValueError(f"number of colours must be an integer in 2..256, got {n}")
    return n


def _check_count(name: str, value, minimum: int = 0) -> int:
    """A Python/NumPy integer ``>= minimum`` (not a bool): iteration and sample counts."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "non-negative" if minimum == 0 else "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def _check_rgb(rgb) -> np.ndarray:
    """A uint8 array of RGB pixels ``[..., 3]`` with at least one pixel."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image, got dtype {rgb.dtype}")
    if rgb.ndim < 2 or rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB pixels of shape [H, W, 3] or [N, 3], got {rgb.shape}")
    if rgb.size == 0:
        raise ValueError(f"expected at least one pixel, got shape {rgb.shape}")
    return rgb


def _as_pil(rgb: np.ndarray) -> Image.Image:
    """An RGB Pillow image of the pixels (kept 2-D when the input is an image)."""
    if rgb.ndim != 3:
        rgb = rgb.reshape(1, -1, 3)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def _unique_rows(palette: np.ndarray) -> np.ndarray:
    """Drop repeated colours, keeping the first occurrence's order."""
    _, first = np.unique(palette, axis=0, return_index=True)
    return palette[np.sort(first)]


def _pillow_palette(rgb: np.ndarray, n: int, method: Image.Quantize) -> np.ndarray:
    """Run one of Pillow's C quantizers; keep only entries that pixels actually use."""
    quantized = _as_pil(rgb).quantize(colors=n, method=method)
    table = np.asarray(quantized.getpalette("RGB"), np.uint8).reshape(-1, 3)
    used = np.unique(np.asarray(quantized))
    return _unique_rows(table[used])


# ---------------------------------------------------------------------------------------------
# Pillow's quantizers
# ---------------------------------------------------------------------------------------------

def median_cut(rgb, n: int) -> np.ndarray:
    """Heckbert's median cut (Pillow's C ``Quantize.MEDIANCUT``): uint8 ``[k, 3]``, ``k <= n``."""
    n = _check_n(n)
    return _pillow_palette(_check_rgb(rgb), n, Image.Quantize.MEDIANCUT)


def octree(rgb, n: int) -> np.ndarray:
    """Octree quantization (Pillow's C ``Quantize.FASTOCTREE``): uint8 ``[k, 3]``, ``k <= n``."""
    n = _check_n(n)
    return _pillow_palette(_check_rgb(rgb), n, Image.Quantize.FASTOCTREE)


def make_palette(rgb, n: int, method: str = "median-cut") -> np.ndarray:
    """``median-cut`` or ``octree`` palette (k-means is :func:`gif_pipeline.quant.palettes.kmeans`)."""
    if method == "median-cut":
        return median_cut(rgb, n)
    if method == "octree":
        return octree(rgb, n)
    raise ValueError(f"unknown palette method {method!r}; choose from {CLASSICAL_METHODS}")
