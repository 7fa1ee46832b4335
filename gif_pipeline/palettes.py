"""Classical palette generators: median cut, octree and k-means (the GIFnets baselines).

A GIF palette holds at most 256 colours. Every function here takes a uint8 image
(``[H, W, 3]``, or any ``[..., 3]`` array of pixels) and returns a uint8 palette
``[k, 3]`` with ``2 <= n``, ``k <= n`` and ``k`` never larger than the number of
distinct colours in the image (duplicates and unused entries are dropped).

* :func:`median_cut` and :func:`octree` call Pillow's C quantizers
  (``Quantize.MEDIANCUT`` and ``Quantize.FASTOCTREE``).
* :func:`kmeans` runs Lloyd iterations in TensorFlow. It minimises the
  quantization error of PaletteNet's loss (GIFnets Eq. 2),
  ``mean_x min_k ||I[x] - P[k]||^2``, which no other method here optimises
  directly, so it is the quality reference among the classical palettes.
* :func:`lloyd_refine` is the same Lloyd update written for tensors inside a
  graph (batched, float, only builtin TFLite ops), to refine a network's palette
  in an exported model.
"""
from __future__ import annotations

import operator

import numpy as np
import tensorflow as tf
from PIL import Image

from gif_pipeline import projection

PALETTE_METHODS = ("median-cut", "kmeans", "octree")
KMEANS_INITS = ("median-cut", "kmeans++")

# Upper bound on pixel-by-colour distance entries held at once (4M float32 = 16 MB).
_MAX_DISTANCE_ELEMENTS = 1 << 22


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


# ---------------------------------------------------------------------------------------------
# k-means (Lloyd) on weighted unique colours
# ---------------------------------------------------------------------------------------------

def _weighted_samples(rgb: np.ndarray, max_samples: int, rng: np.random.Generator):
    """Distinct colours of (a seeded subsample of) the pixels, with their pixel counts."""
    pixels = rgb.reshape(-1, 3)
    if pixels.shape[0] > max_samples:
        pick = np.sort(rng.choice(pixels.shape[0], size=max_samples, replace=False))
        pixels = pixels[pick]
    packed = (pixels[:, 0].astype(np.uint32) << 16) | (pixels[:, 1].astype(np.uint32) << 8) | pixels[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    colours = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1)
    return colours.astype(np.float32), counts.astype(np.float32)


def _assign(points: tf.Tensor, centres: tf.Tensor):
    """Nearest centre (Eq. 1) for every point: ``(indices int32 [N], squared distance [N])``."""
    n, k = int(points.shape[0]), int(centres.shape[0])
    step = max(1, _MAX_DISTANCE_ELEMENTS // k)
    idx, dist = [], []
    for s in range(0, n, step):
        d = projection.squared_distances(points[tf.newaxis, s:s + step], centres[tf.newaxis])[0]
        idx.append(tf.argmin(d, axis=-1, output_type=tf.int32))
        dist.append(tf.reduce_min(d, axis=-1))
    return tf.concat(idx, 0), tf.concat(dist, 0)


def _lloyd_step(points: tf.Tensor, weights: tf.Tensor, centres: tf.Tensor):
    """One weighted Lloyd update: every centre moves to the weighted mean of its points.

    Empty clusters are re-seeded deterministically at the points farthest from their
    current centres (largest weighted error first); if no point is farther than zero
    they keep their old centre. Returns ``(new_centres, indices)``.
    """
    k = int(centres.shape[0])
    idx, dist = _assign(points, centres)
    sums = tf.math.unsorted_segment_sum(points * weights[:, tf.newaxis], idx, k)
    counts = tf.math.unsorted_segment_sum(weights, idx, k)
    means = sums / tf.maximum(counts, 1e-12)[:, tf.newaxis]
    new = tf.where((counts > 0)[:, tf.newaxis], means, centres).numpy()
    empty = np.flatnonzero(counts.numpy() <= 0)
    if empty.size:
        score = (dist * weights).numpy()
        order = np.argsort(-score, kind="stable")  # farthest first, ties by position
        order = order[score[order] > 0][:empty.size]
        new[empty[:order.size]] = points.numpy()[order]
    return tf.constant(new), idx


def _kmeans_pp(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) on weighted points, seeded by ``rng``."""
    first = rng.choice(points.shape[0], p=weights / weights.sum())
    centres = [points[first]]
    d2 = ((points - points[first]) ** 2).sum(1).astype(np.float64)
    for _ in range(1, k):
        p = weights * d2
        total = p.sum()
        if total <= 0:  # fewer distinct points than k (cannot happen when k <= #points)
            break
        nxt = rng.choice(points.shape[0], p=p / total)
        centres.append(points[nxt])
        d2 = np.minimum(d2, ((points - points[nxt]) ** 2).sum(1))
    return np.stack(centres).astype(np.float32)


def _init_palette(init, rgb, points, weights, n, rng) -> np.ndarray:
    if isinstance(init, str):
        if init == "median-cut":
            return median_cut(rgb, n).astype(np.float32)
        if init == "kmeans++":
            return _kmeans_pp(points, weights, min(n, points.shape[0]), rng)
        raise ValueError(f"unknown k-means init {init!r}; choose from {KMEANS_INITS} or pass a palette array")
    palette = np.asarray(init)
    if palette.ndim != 2 or palette.shape[1] != 3 or not 1 <= palette.shape[0] <= n:
        raise ValueError(f"an initial palette must have shape [K, 3] with 1 <= K <= n={n}, got {palette.shape}")
    if not np.issubdtype(palette.dtype, np.number) or np.issubdtype(palette.dtype, np.complexfloating):
        raise ValueError(f"an initial palette must be numeric, got dtype {palette.dtype}")
    palette = palette.astype(np.float32)
    if not np.all(np.isfinite(palette)) or palette.min() < 0 or palette.max() > 255:
        raise ValueError("an initial palette must hold finite values in 0..255 (uint8 scale)")
    return palette


def kmeans(rgb, n: int, iterations: int = 10, init="median-cut", seed: int = 0,
           max_samples: int = 65536) -> np.ndarray:
    """Lloyd's k-means palette in TensorFlow, minimising GIFnets Eq. 2.

    Args:
      rgb: uint8 ``[H, W, 3]`` (or ``[..., 3]``) pixels.
      n: at most this many colours, 2..256.
      iterations: at most this many Lloyd updates (stops early when assignments settle).
      init: ``'median-cut'`` (Pillow's palette), ``'kmeans++'`` (seeded), or a ``[K, 3]``
        palette (uint8, or float on the 0..255 scale) with ``K <= n``.
      seed: seeds the pixel subsample and k-means++; equal seeds give equal palettes.
      max_samples: pixels beyond this are subsampled (uniformly, without replacement).

    The pixels are reduced to their distinct colours weighted by pixel count, so Lloyd
    runs on at most ``max_samples`` points. Centres without points are re-seeded at the
    farthest points. Returns uint8 ``[k, 3]``: the rounded centres that still own
    pixels, deduplicated (``k <= n`` and ``k <= #distinct colours``).
    """
    n = _check_n(n)
    rgb = _check_rgb(rgb)
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if isinstance(max_samples, bool) or not isinstance(max_samples, (int, np.integer)) or max_samples < 1:
        raise ValueError(f"max_samples must be a positive integer, got {max_samples!r}")
    rng = np.random.default_rng(seed)
    points_np, weights_np = _weighted_samples(rgb, int(max_samples), rng)
    centres = tf.constant(_init_palette(init, rgb, points_np, weights_np, n, rng))
    points, weights = tf.constant(points_np), tf.constant(weights_np)

    previous = None
    for _ in range(int(iterations)):
        centres, idx = _lloyd_step(points, weights, centres)
        if previous is not None and bool(tf.reduce_all(tf.equal(idx, previous))):
            break  # assignments unchanged: the update is a fixed point
        previous = idx

    idx, _ = _assign(points, centres)
    used = np.unique(idx.numpy())
    palette = np.clip(np.rint(centres.numpy()[used]), 0, 255).astype(np.uint8)
    return _unique_rows(palette)


# ---------------------------------------------------------------------------------------------
# Graph-friendly Lloyd refinement (exportable "net + k-means")
# ---------------------------------------------------------------------------------------------

def _accumulate(pixels: tf.Tensor, palette: tf.Tensor):
    """Per-colour pixel sums ``[B, K, 3]`` and counts ``[B, K]`` under hard assignment (Eq. 1)."""
    k = tf.shape(palette)[1] if palette.shape[1] is None else palette.shape[1]
    idx = tf.argmin(projection.squared_distances(pixels, palette), axis=-1, output_type=tf.int32)
    onehot = tf.one_hot(idx, k, dtype=tf.float32)  # [B, N, K]
    return tf.matmul(onehot, pixels, transpose_a=True), tf.reduce_sum(onehot, axis=1)


def lloyd_refine(image, palette, iterations: int, max_elements: int = 1 << 22):
    """Refine palettes with ``iterations`` Lloyd updates; never increases Eq. 2's error.

    Args:
      image: float ``[B, H, W, 3]`` (or ``[H, W, 3]``).
      palette: float ``[B, K, 3]`` (or ``[K, 3]``) in the same range as ``image``
        (e.g. [-1, 1] for the networks).
      iterations: Python int, the number of updates (unrolled in the graph).
      max_elements: bound on ``N*K`` one-hot/distance entries held at once per image; pixels
        are processed in chunks above it (a ``tf.while_loop`` when shapes are dynamic).

    Each update assigns every pixel to its nearest colour (``tf.argmin``), forms the
    cluster sums as ``one_hot^T @ pixels`` and the counts as the one-hot column sums, and
    moves each colour to its cluster mean; a colour with no pixels keeps its value. Only
    builtin TFLite ops are used (MatMul, ArgMin, OneHot, Sum, Select).

    Returns the refined float32 palette with the shape of ``palette``'s batched/unbatched form.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative Python integer, got {iterations!r}")
    squeeze_palette = tf.convert_to_tensor(palette).shape.rank == 2
    image, palette, squeeze = projection._as_batched(image, palette)
    squeeze = squeeze and squeeze_palette
    pixels = tf.reshape(image, [tf.shape(image)[0], -1, 3])
    n_static, k_static = pixels.shape[1], palette.shape[1]

    for _ in range(int(iterations)):
        if n_static is not None and k_static is not None:
            step = max(1, max_elements // max(1, k_static))
            sums, counts = None, None
            for s in range(0, n_static, step):
                part_sums, part_counts = _accumulate(pixels[:, s:s + step], palette)
                sums = part_sums if sums is None else sums + part_sums
                counts = part_counts if counts is None else counts + part_counts
        else:
            n = tf.shape(pixels)[1]
            step = tf.maximum(1, max_elements // tf.maximum(1, tf.shape(palette)[1]))
            n_chunks = (n + step - 1) // step

            def body(i, sums, counts, palette=palette):
                part_sums, part_counts = _accumulate(pixels[:, i * step:(i + 1) * step], palette)
                return i + 1, sums + part_sums, counts + part_counts

            _, sums, counts = tf.while_loop(
                lambda i, *_: i < n_chunks, body,
                [tf.constant(0), tf.zeros_like(palette), tf.zeros_like(palette[..., 0])])
        means = sums / tf.maximum(counts, 1.0)[..., tf.newaxis]
        palette = tf.where((counts > 0)[..., tf.newaxis], means, palette)
    return palette[0] if squeeze else palette


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

def make_palette(rgb, n: int, method: str = "median-cut", seed: int = 0) -> np.ndarray:
    """Palette by name (one of :data:`PALETTE_METHODS`); ``seed`` only affects k-means."""
    if method == "median-cut":
        return median_cut(rgb, n)
    if method == "octree":
        return octree(rgb, n)
    if method == "kmeans":
        return kmeans(rgb, n, seed=seed)
    raise ValueError(f"unknown palette method {method!r}; choose from {PALETTE_METHODS}")
