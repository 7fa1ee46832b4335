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
  in an exported model; :func:`split_merge` moves colours out of Lloyd's local minima, and
  :func:`refine_palette` is ``net+kmeans``'s schedule of both.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from gif_pipeline.quant import dithering, projection
from gif_pipeline.quant.classical import (  # noqa: F401  (median cut and octree live there, TensorFlow-free)
    _check_count,
    _check_n,
    _check_rgb,
    _unique_rows,
    median_cut,
    octree,
)

PALETTE_METHODS = ("median-cut", "kmeans", "octree")
KMEANS_INITS = ("median-cut", "kmeans++")

# Upper bound on pixel-by-colour distance entries held at once (4M float32 = 16 MB).
_MAX_DISTANCE_ELEMENTS = 1 << 22


# ---------------------------------------------------------------------------------------------
# k-means (Lloyd) on weighted unique colours
# ---------------------------------------------------------------------------------------------

def _weighted_samples(rgb: np.ndarray, max_samples: int, rng: np.random.Generator):
    """Distinct colours of (a seeded subsample of) the pixels, with their pixel counts."""
    pixels = rgb.reshape(-1, 3)
    if pixels.shape[0] > max_samples:
        pick = np.sort(rng.choice(pixels.shape[0], size=max_samples, replace=False))
        pixels = pixels[pick]
    colours, _, counts = dithering.distinct_colours(pixels)
    return colours.astype(np.float32), counts.astype(np.float32)


def _assign(points: tf.Tensor, centres: tf.Tensor):
    """Nearest centre (Eq. 1) for every point: ``(indices int32 [N], squared distance [N])``."""
    idx, dist = _assign_pixels(points[tf.newaxis], centres[tf.newaxis], _MAX_DISTANCE_ELEMENTS)
    return idx[0], dist[0]


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
    iterations = _check_count("iterations", iterations)
    max_samples = _check_count("max_samples", max_samples, minimum=1)
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

def _assign_pixels(pixels: tf.Tensor, palette: tf.Tensor, max_elements: int):
    """Nearest colour (Eq. 1) of every pixel: ``(indices int32 [B, N], squared distance [B, N])``.

    With static shapes the scores are formed ``max_elements // (B*K)`` pixels at a time (chunks
    that stay in cache are faster); with dynamic shapes (an exported graph) in one piece.
    """
    b, n, k = pixels.shape[0] or 1, pixels.shape[1], palette.shape[1]
    if n is None or k is None or b * n * k <= max_elements:
        return projection.nearest(pixels, palette)
    step = max(1, max_elements // (b * k))
    parts = [_assign_pixels(pixels[:, s:s + step], palette, max_elements) for s in range(0, n, step)]
    return tf.concat([i for i, _ in parts], 1), tf.concat([d for _, d in parts], 1)


def _lloyd_update(pixels: tf.Tensor, palette: tf.Tensor, max_elements: int, relocate_empty: bool):
    """One Lloyd update of ``[B, K, 3]`` palettes on ``[B, N, 3]`` pixels (segment sums, no one-hot)."""
    idx, dist = _assign_pixels(pixels, palette, max_elements)
    b, k = tf.shape(palette)[0], tf.shape(palette)[1]
    segments = tf.reshape(idx + tf.range(b)[:, tf.newaxis] * k, [-1])  # colour j of image i -> i*K + j
    sums = tf.math.unsorted_segment_sum(tf.reshape(pixels, [-1, 3]), segments, b * k)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(segments, tf.float32), segments, b * k)
    sums, counts = tf.reshape(sums, [b, k, 3]), tf.reshape(counts, [b, k])
    empty = counts <= 0
    new = tf.where(empty[..., tf.newaxis], palette, sums / tf.maximum(counts, 1.0)[..., tf.newaxis])
    if not relocate_empty:
        return new
    # The r-th empty colour moves to the r-th worst-served pixel (ties: lower index first).
    worst = tf.math.top_k(dist, tf.minimum(k, tf.shape(dist)[1]))
    rank = tf.minimum(tf.cumsum(tf.cast(empty, tf.int32), axis=-1, exclusive=True), tf.shape(worst.indices)[1] - 1)
    target = tf.gather(worst.indices, rank, batch_dims=1)
    move = empty & (tf.gather(worst.values, rank, batch_dims=1) > 0)
    return tf.where(move[..., tf.newaxis], tf.gather(pixels, target, batch_dims=1), new)


def lloyd_refine(image, palette, iterations: int, max_elements: int = 1 << 20, relocate_empty: bool = True):
    """Refine palettes with ``iterations`` Lloyd updates; never increases Eq. 2's error.

    Args:
      image: float ``[B, H, W, 3]`` (or ``[H, W, 3]``).
      palette: float ``[B, K, 3]`` (or ``[K, 3]``) in the same range as ``image``
        (e.g. [-1, 1] for the networks).
      iterations: Python int, the number of updates (a ``tf.while_loop`` in a graph).
      max_elements: bound on the ``B*N*K`` scores held at once when shapes are static (pixels
        are assigned in chunks above it); dynamic shapes assign in one piece.
      relocate_empty: move a colour that no pixel chose to the worst-served pixel (the
        ``r``-th empty colour to the ``r``-th worst pixel), as :func:`kmeans` does; otherwise
        it keeps its value. A network's palette often has such colours (18% at Np = 256).

    Each update assigns every pixel to its nearest colour (:func:`projection.nearest`), sums each colour's
    pixels with ``unsorted_segment_sum`` and moves the colour to their mean. Only builtin
    TFLite ops are used (MatMul, ArgMax, UnsortedSegmentSum, TopKV2, Cumsum, Gather, Select).

    Returns the refined float32 palette with the shape of ``palette``'s batched/unbatched form.
    """
    iterations = _check_count("iterations", iterations)
    pixels, palette, squeeze = _batched_pixels(image, palette)
    palette = _repeat(iterations, lambda p: _lloyd_update(pixels, p, max_elements, relocate_empty), palette)
    return palette[0] if squeeze else palette


def _batched_pixels(image, palette):
    """``(pixels [B, N, 3], palette [B, K, 3], squeeze)``; ``squeeze`` when both came unbatched."""
    squeeze_palette = tf.convert_to_tensor(palette).shape.rank == 2
    image, palette, squeeze = projection._as_batched(image, palette)
    return tf.reshape(image, [tf.shape(image)[0], -1, 3]), palette, squeeze and squeeze_palette


def _repeat(times: int, step, *state):
    """``state = step(*state)`` ``times`` times, as a ``tf.while_loop`` (tracing 20 unrolled Lloyd
    updates took ~4 s on first use). Returns the state (one tensor, or a tuple of them)."""
    def body(i, *state):
        new = step(*state)
        new = new if isinstance(new, tuple) else (new,)
        return (i + 1, *(tf.ensure_shape(n, s.shape) for n, s in zip(new, state)))

    _, *state = tf.while_loop(lambda i, *_: i < times, body, [tf.constant(0), *state])
    return state[0] if len(state) == 1 else tuple(state)


def _split_merge_candidate(pixels: tf.Tensor, palette: tf.Tensor, idx: tf.Tensor, dist: tf.Tensor,
                           fraction: float):
    """One split-merge move on ``[B, K, 3]`` palettes, given each pixel's nearest colour ``idx`` and
    squared distance ``dist`` (``[B, N]``); returns the candidate palette.

    The ``max(1, K * fraction)`` colours that are cheapest to merge into their nearest colour (Ward's
    cost ``n_j n_m / (n_j + n_m) |c_j - c_m|^2``) move to split the clusters with the largest squared
    error: each such cluster's mean ``mu`` becomes ``mu - 0.8 sigma v`` and the moved colour
    ``mu + 0.8 sigma v``, along the cluster's principal axis ``v`` (``sigma^2`` its variance there;
    ``0.8 sigma`` is where the two halves of a Gaussian have their means). The other colours move to
    their cluster means, as in a Lloyd update.
    """
    b, k = tf.shape(palette)[0], tf.shape(palette)[1]
    colours = tf.range(k)
    segments = tf.reshape(idx + tf.range(b)[:, tf.newaxis] * k, [-1])
    flat = tf.reshape(pixels, [-1, 3])
    moments = tf.concat([tf.ones_like(flat[:, :1]), tf.reshape(dist, [-1, 1]), flat,
                         tf.reshape(flat[:, :, tf.newaxis] * flat[:, tf.newaxis, :], [-1, 9])], 1)
    moments = tf.reshape(tf.math.unsorted_segment_sum(moments, segments, b * k), [b, k, 14])
    count, error = moments[..., 0], moments[..., 1]
    used = count[..., tf.newaxis] > 0
    safe = tf.maximum(count, 1.0)[..., tf.newaxis]
    mean = tf.where(used, moments[..., 2:5] / safe, palette)
    second = tf.reshape(moments[..., 5:] / safe, [b, k, 3, 3])
    cov = second - mean[..., :, tf.newaxis] * mean[..., tf.newaxis, :]
    axis = tf.ones_like(mean) * tf.constant([0.577, 0.578, 0.579])  # power iteration for the principal axis
    for _ in range(8):
        axis = tf.linalg.matvec(cov, axis)
        axis = axis / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(axis), -1, keepdims=True)), 1e-12)
    variance = tf.maximum(tf.reduce_sum(axis * tf.linalg.matvec(cov, axis), -1), 0.0)
    half = tf.where(used, axis * (0.8 * tf.sqrt(variance))[..., tf.newaxis], 0.0)

    gap = tf.reduce_sum(tf.square(mean[:, :, tf.newaxis] - mean[:, tf.newaxis]), -1)
    gap = tf.where(tf.equal(colours[:, tf.newaxis], colours[tf.newaxis]), 1e9, gap)
    partner = tf.argmin(gap, -1, output_type=tf.int32)
    partner_count = tf.gather(count, partner, batch_dims=1)
    cost = count * partner_count / tf.maximum(count + partner_count, 1.0) * tf.reduce_min(gap, -1)
    # Of two colours that are each other's nearest, only the lower index may move.
    mutual = tf.equal(tf.gather(partner, partner, batch_dims=1), colours) & (colours > partner)
    cost = tf.where(mutual, 1e9, cost)
    moves = tf.maximum(1, tf.cast(tf.cast(k, tf.float32) * fraction, tf.int32))
    donors = tf.math.top_k(-cost, moves).indices  # [B, S]
    donor_hot = tf.cast(tf.equal(colours[:, tf.newaxis], donors[:, tf.newaxis, :]), tf.float32)  # [B, K, S]
    is_donor = tf.reduce_max(donor_hot, -1) > 0
    split = tf.math.top_k(tf.where(is_donor, -1.0, error), moves).indices
    split_hot = tf.cast(tf.equal(colours[:, tf.newaxis], split[:, tf.newaxis, :]), tf.float32)
    centre = tf.gather(mean, split, batch_dims=1)
    offset = tf.gather(half, split, batch_dims=1)
    moved = tf.matmul(donor_hot, centre + offset) + tf.matmul(split_hot, centre - offset)
    touched = tf.reduce_max(donor_hot + split_hot, -1, keepdims=True) > 0
    return tf.where(touched, moved, mean)


def split_merge(image, palette, rounds: int, lloyd_steps: int = 2, fraction: float = 0.1,
                max_elements: int = 1 << 20):
    """Escape Lloyd's local minima of Eq. 2 by moving colours from where they are redundant to where
    the error is (a split-merge step, as in k-means refinements).

    Each of ``rounds`` rounds moves a tenth of the colours (``fraction``; at least one) with
    :func:`_split_merge_candidate`, runs ``lloyd_steps`` Lloyd updates (:func:`lloyd_refine`) and keeps
    the result for an image only if its error on ``image``'s pixels went down, so it never increases
    Eq. 2's error. On val photos, after Lloyd from PaletteNet's palette, three rounds gained 0.2 dB at
    16 colours and 0.7 dB at 256 (docs/experiments/gifnets.md). Builtin TFLite ops only. Shapes as in :func:`lloyd_refine`.
    """
    rounds, lloyd_steps = _check_count("rounds", rounds), _check_count("lloyd_steps", lloyd_steps)
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    pixels, palette, squeeze = _batched_pixels(image, palette)

    def one_round(palette, idx, dist):  # idx, dist: the assignment to ``palette``, kept with it
        candidate = _split_merge_candidate(pixels, palette, idx, dist, fraction)
        candidate = lloyd_refine(pixels[:, :, tf.newaxis], candidate, lloyd_steps, max_elements)
        new_idx, new_dist = _assign_pixels(pixels, candidate, max_elements)
        better = tf.reduce_sum(new_dist, -1) < tf.reduce_sum(dist, -1)
        return (tf.where(better[:, tf.newaxis, tf.newaxis], candidate, palette),
                tf.where(better[:, tf.newaxis], new_idx, idx), tf.where(better[:, tf.newaxis], new_dist, dist))

    palette, _, _ = _repeat(rounds, one_round, palette, *_assign_pixels(pixels, palette, max_elements))
    return palette[0] if squeeze else palette


#: ``net+kmeans`` reads two pixel samples of these many pixels (:func:`grid_pixels`): the coarse
#: one for its first Lloyd steps and split-merge rounds, the fine one for its last steps.
REFINE_GRID_PIXELS = (64 * 64, 128 * 128)
#: Split-merge rounds (:func:`split_merge`, two Lloyd steps each) in a ``net+kmeans`` refinement.
SPLIT_MERGE_ROUNDS = 3


def refine_schedule(iterations: int) -> tuple[int, int, int]:
    """``net+kmeans``'s budget of ``iterations`` Lloyd steps: ``(coarse steps, split-merge rounds, fine steps)``.

    A fifth of the steps run on the fine grid; up to :data:`SPLIT_MERGE_ROUNDS` rounds of two steps
    each take at most half of the rest; the coarse steps come first. 10 -> (4, 2, 2); 15 -> (6, 3, 3).
    """
    fine = iterations // 5
    rounds = min(SPLIT_MERGE_ROUNDS, (iterations - fine) // 4)
    return iterations - fine - 2 * rounds, rounds, fine


def grid_pixels(image, count: int):
    """``min(count, H * W)`` pixels of each ``[B, H, W, 3]`` image, spread over it: ``[B, n, 3]``.

    A nearest-neighbour grid with the image's aspect ratio and at least ``count`` pixels (each side
    rounded up), then ``count`` of its pixels at even steps in raster order. Unlike an area downscale
    it keeps the colours the image really has (no averaging across edges), so Lloyd on the sample fits
    the full image. The number of pixels is the same for every image of at least ``count`` pixels, so
    a compiled (XLA) refinement sees one shape for all of them. Works with dynamic shapes (builtin
    TFLite ops: RESIZE_NEAREST_NEIGHBOR, GATHER).
    """
    if image.shape[1] is not None and image.shape[2] is not None:
        h, w = int(image.shape[1]), int(image.shape[2])
        scale = min(1.0, (count / (h * w)) ** 0.5)
        size = (min(h, int(np.ceil(h * scale))), min(w, int(np.ceil(w * scale))))
        grid = image if size == (h, w) else tf.image.resize(image, size, method="nearest")
        m = size[0] * size[1]
        n = min(m, count)
        positions = np.floor((np.arange(n) + 0.5) * (m / n)).astype(np.int32)
    else:
        hw = tf.shape(image)[1:3]
        scale = tf.minimum(1.0, tf.sqrt(float(count) / tf.cast(hw[0] * hw[1], tf.float32)))
        size = tf.minimum(hw, tf.cast(tf.math.ceil(tf.cast(hw, tf.float32) * scale), tf.int32))
        grid = tf.image.resize(image, size, method="nearest")
        m = size[0] * size[1]
        n = tf.minimum(m, count)
        positions = tf.cast(tf.floor((tf.range(n, dtype=tf.float32) + 0.5) * tf.cast(m, tf.float32)
                                     / tf.cast(n, tf.float32)), tf.int32)
    flat = tf.reshape(grid, [tf.shape(grid)[0], -1, 3])
    return tf.gather(flat, positions, axis=1)


def refine_pixels(coarse, fine, palette, iterations: int):
    """:func:`refine_palette`'s steps on given pixel samples ``coarse`` and ``fine`` (``[B, N, 3]``)."""
    steps, rounds, fine_steps = refine_schedule(int(iterations))
    coarse = coarse[:, :, tf.newaxis]  # [B, N, 1, 3]: an image of one column
    if steps:
        palette = lloyd_refine(coarse, palette, steps)
    if rounds:
        palette = split_merge(coarse, palette, rounds, lloyd_steps=2)
    if fine_steps:
        palette = lloyd_refine(fine[:, :, tf.newaxis], palette, fine_steps)
    return palette


@functools.lru_cache(maxsize=16)
def _compiled_refine(iterations: int):
    """:func:`refine_pixels` for ``iterations`` as one XLA-compiled function (built once)."""
    return tf.function(lambda coarse, fine, palette: refine_pixels(coarse, fine, palette, iterations),
                       jit_compile=True, autograph=False)


def refine_palette(image, palette, iterations: int, jit_compile: bool = False):
    """``net+kmeans``: ``iterations`` Lloyd steps and split-merge rounds on pixel samples of the image.

    With ``encode.KMEANS_REFINE_ITERATIONS`` = 10: 4 Lloyd steps (:func:`lloyd_refine`) and 2 split-merge
    rounds of 2 steps (:func:`split_merge`) on 4,096 pixels of the image, then 2 steps on 16,384
    (:data:`REFINE_GRID_PIXELS`, :func:`grid_pixels`, :func:`refine_schedule`), so the cost does not grow
    with the image. ``image`` is ``[B, H, W, 3]``. On val photos this beats libimagequant's palette at
    16-256 colours (docs/experiments/gifnets.md).

    ``jit_compile=True`` runs the steps as one XLA-compiled function. The Lloyd steps are many small
    ops, and XLA fuses them: at 16-32 colours the refinement is ~3x faster, at 128-256 colours slower
    (docs/experiments/gifnets.md). The first call for a new shape compiles (~1 s). Not for exported models (TFLite).
    """
    coarse, fine = (grid_pixels(image, count) for count in REFINE_GRID_PIXELS)
    if jit_compile:
        return _compiled_refine(int(iterations))(coarse, fine, palette)
    return refine_pixels(coarse, fine, palette, iterations)


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
