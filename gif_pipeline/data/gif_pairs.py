"""Training pairs (GIF, original) for GIF restoration (GIF2Video's CCDNet and dither classifier), made from photos.

Every pair is a function of ``(seed, index)`` alone (:func:`make_region`): a NumPy generator seeded with
``[seed, index]`` picks the photo, a random scale, a ``region``² crop, flips and a colour jitter (the GIFnets
trainers' augmentations: flips, crops, saturation / brightness / contrast), a palette size ``Np`` log-uniform in
``[min_colors, max_colors]`` (32 is the paper's reference), a palette method and a dither method, then quantizes
the whole region (the palette is the region's, as a GIF of it would have) and cuts ``crops_per_region`` random
``crop``² training crops from it.

Palette methods (:data:`PALETTE_METHODS`): Pillow's median cut, k-means (the project's TF Lloyd), Pillow's
octree, libimagequant (the ``imagequant`` wheel, pngquant's library) and gifnets' own ``net+kmeans`` encoder.
Dither methods (:data:`DITHER_METHODS`): none (nearest colour), Floyd–Steinberg (Pillow), ordered 8x8 Bayer
(:func:`bayer`), and gifnets' DitherNet.

The data go into training as a **precomputed cache** (:func:`build_cache` writes an ``.npz``;
:func:`cache_dataset` reads it into tf.data with random flips and 90° rotations, seeded): quantizing with
k-means or DitherNet costs tens of milliseconds per region, which on this 1-core budget would stall a
``py_function`` pipeline every step, while a cache of a few thousand regions is made once in minutes and
reused by every run with the same seed. ``tf.data`` is fed from NumPy arrays in memory.

Images and palettes are uint8 here; :func:`to_unit` gives the networks' [-1, 1].
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import numpy as np
from PIL import Image, ImageEnhance

from gif_pipeline.config import Config, check_int

__all__ = ["PALETTE_METHODS", "DITHER_METHODS", "PLAIN_DITHERS", "DITHERED", "PairConfig", "bayer", "quantize",
           "load_images", "make_region", "build_cache", "load_cache", "cache_dataset", "pad_palette", "to_unit"]

PALETTE_METHODS = ("median-cut", "kmeans", "octree", "libimagequant", "gifnets")
DITHER_METHODS = ("none", "fs", "bayer", "dithernet")
PLAIN_DITHERS = ("none",)
DITHERED = ("fs", "bayer", "dithernet")
MAX_COLORS = 256

_BAYER2 = np.array([[0, 2], [3, 1]])


def _bayer_matrix(n: int) -> np.ndarray:
    m = _BAYER2
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


#: The 8x8 ordered-dither thresholds in (-0.5, 0.5).
BAYER8 = (_bayer_matrix(8) + 0.5) / 64.0 - 0.5


@dataclasses.dataclass(frozen=True)
class PairConfig(Config):
    crop: int = 64  # training crop (the paper: 256)
    region: int = 256  # quantized region the crops come from (the val photos' size)
    crops_per_region: int = 4
    min_colors: int = 16
    max_colors: int = 256
    palettes: tuple[str, ...] = PALETTE_METHODS
    dithers: tuple[str, ...] = PLAIN_DITHERS
    jitter: float = 0.2  # max relative change of saturation, brightness, contrast
    seed: int = 0

    def __post_init__(self):
        check_int("crop", self.crop, 1)
        check_int("region", self.region, 1)
        check_int("crops_per_region", self.crops_per_region, 1)
        if self.crop > self.region:
            raise ValueError(f"crop ({self.crop}) must be at most region ({self.region})")
        if not 2 <= self.min_colors <= self.max_colors <= MAX_COLORS:
            raise ValueError(f"need 2 <= min_colors <= max_colors <= 256, got {self.min_colors}, {self.max_colors}")
        for name, allowed in (("palettes", PALETTE_METHODS), ("dithers", DITHER_METHODS)):
            values = getattr(self, name)
            if not values or any(v not in allowed for v in values):
                raise ValueError(f"{name} must be a non-empty subset of {allowed}, got {values!r}")


def bayer(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Ordered (8x8 Bayer) dither onto any palette: indices of the nearest colour to ``rgb + s * M``, with the
    threshold map ``M`` in (-0.5, 0.5) tiled over the image and the spread ``s = 64 / cbrt(K)`` (about the
    colour spacing of an adaptive palette: ffmpeg's ``paletteuse=dither=bayer`` looks alike)."""
    from gif_pipeline.quant.dithering import nearest

    h, w = rgb.shape[:2]
    spread = 64.0 / max(1.0, len(palette) ** (1 / 3))
    m = np.tile(BAYER8, (h // 8 + 1, w // 8 + 1))[:h, :w, None]
    shifted = np.clip(rgb.astype(np.float32) + spread * m, 0, 255)
    return nearest(np.rint(shifted).astype(np.uint8), palette)


def _palette(rgb: np.ndarray, n: int, method: str, seed: int) -> np.ndarray:
    if method in ("median-cut", "octree", "kmeans"):
        from gif_pipeline.quant.palettes import make_palette

        return make_palette(rgb, n, method, seed=seed)
    if method == "libimagequant":
        from gif_pipeline.eval.peers import _libimagequant

        return _libimagequant(rgb, n, 0.0)[2]
    if method == "gifnets":
        from gif_pipeline.encode import PALETTE_STAGES

        return PALETTE_STAGES["net+kmeans"](rgb, n, seed=seed)
    raise ValueError(f"unknown palette method {method!r}; choose from {PALETTE_METHODS}")


def quantize(rgb: np.ndarray, n: int, palette_method: str, dither: str, seed: int = 0):
    """``(indices uint8 [H, W], palette uint8 [K, 3])`` of ``rgb`` at ``n`` colours by the named methods."""
    from gif_pipeline.quant import dithering

    palette = np.asarray(_palette(rgb, n, palette_method, seed), np.uint8)
    if dither in ("none", "fs"):
        indices = dithering.remap(rgb, palette, dither)
    elif dither == "bayer":
        indices = bayer(rgb, palette)
    elif dither == "dithernet":
        from gif_pipeline.encode import DITHER_STAGES

        indices = DITHER_STAGES["net"](rgb, palette)
    else:
        raise ValueError(f"unknown dither method {dither!r}; choose from {DITHER_METHODS}")
    return np.asarray(indices, np.uint8), palette


def load_images(files, max_side: int = 1024) -> list[np.ndarray]:
    """Decode photos to uint8 RGB (downscaled so the long side is at most ``max_side``)."""
    out = []
    for path in files:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if max(im.size) > max_side:
                scale = max_side / max(im.size)
                im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
            out.append(np.asarray(im, np.uint8).copy())
    return out


def _log_uniform_int(rng, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))))


def _region(rng, image: np.ndarray, size: int, jitter: float) -> np.ndarray:
    h, w = image.shape[:2]
    short = min(h, w)
    # A random scale between "the short side fills the region" and 2x that (never upscale past 1.0 if avoidable).
    low = size / short
    scale = rng.uniform(low, max(low, min(1.0, 2 * low)))
    im = Image.fromarray(image)
    if abs(scale - 1.0) > 1e-3:
        im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    y = int(rng.integers(0, im.height - size + 1))
    x = int(rng.integers(0, im.width - size + 1))
    im = im.crop((x, y, x + size, y + size))
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    if jitter:
        for enhance in (ImageEnhance.Color, ImageEnhance.Brightness, ImageEnhance.Contrast):
            im = enhance(im).enhance(float(rng.uniform(1 - jitter, 1 + jitter)))
    return np.asarray(im, np.uint8)


def pad_palette(palette: np.ndarray, size: int = MAX_COLORS) -> np.ndarray:
    """``[K, 3]`` -> ``[size, 3]`` padded with copies of entry 0 (nearest-colour look-ups are unchanged)."""
    palette = np.asarray(palette, np.uint8)
    if len(palette) > size:
        raise ValueError(f"a palette of {len(palette)} colours does not fit in {size}")
    return np.concatenate([palette, np.repeat(palette[:1], size - len(palette), axis=0)])


def make_region(images: list[np.ndarray], index: int, config: PairConfig) -> dict:
    """The pairs of region ``index``: a dict of arrays ``gif``, ``original`` (``[crops, crop, crop, 3]`` uint8),
    ``palette`` (``[256, 3]``, padded), ``colors``, ``dithered`` (0/1), and the methods used."""
    rng = np.random.default_rng([config.seed, index])
    image = images[int(rng.integers(len(images)))]
    region = _region(rng, image, config.region, config.jitter)
    n = _log_uniform_int(rng, config.min_colors, config.max_colors)
    palette_method = config.palettes[int(rng.integers(len(config.palettes)))]
    dither = config.dithers[int(rng.integers(len(config.dithers)))]
    indices, palette = quantize(region, n, palette_method, dither, seed=int(rng.integers(1 << 30)))
    gif = palette[indices]
    c = config.crop
    ys = rng.integers(0, config.region - c + 1, config.crops_per_region)
    xs = rng.integers(0, config.region - c + 1, config.crops_per_region)
    return {"gif": np.stack([gif[y:y + c, x:x + c] for y, x in zip(ys, xs)]),
            "original": np.stack([region[y:y + c, x:x + c] for y, x in zip(ys, xs)]),
            "palette": pad_palette(palette), "colors": len(palette), "dithered": int(dither != "none"),
            "palette_method": palette_method, "dither": dither}


def build_cache(files, regions: int, config: PairConfig, path: str | None = None, log_every: int = 100) -> dict:
    """Make ``regions`` regions' pairs (indices 0..regions-1) and, with ``path``, save them as one ``.npz``
    (atomically). Returns the arrays: ``gif``/``original`` ``[N, crop, crop, 3]``, ``palette`` ``[N, 256, 3]``,
    ``colors``, ``dithered``, ``palette_method``, ``dither`` (per crop)."""
    images = load_images(files)
    parts = {k: [] for k in ("gif", "original", "palette", "colors", "dithered", "palette_method", "dither")}
    start = time.time()
    for i in range(regions):
        r = make_region(images, i, config)
        k = len(r["gif"])
        parts["gif"].append(r["gif"])
        parts["original"].append(r["original"])
        for name in ("palette", "colors", "dithered", "palette_method", "dither"):
            parts[name].append(np.repeat(np.asarray(r[name])[None], k, axis=0))
        if log_every and (i + 1) % log_every == 0:
            print(f"gif_pairs: {i + 1}/{regions} regions, {time.time() - start:.0f} s", flush=True)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, config=np.asarray(str(config.to_dict())), **arrays)
        os.replace(tmp, path)
    return arrays


def load_cache(path: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "config"}


def to_unit(x):
    """uint8 -> float32 in [-1, 1] (tf)."""
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 127.5 - 1.0


def cache_dataset(arrays: dict, batch_size: int, seed: int, training: bool = True, label: str = "original"):
    """tf.data of a cache: ``({"gif", "palette"}, target)`` batches in [-1, 1].

    ``label="original"``: the target is the original crop (CCDNet). ``label="dithered"``: ``(gif, 0/1)`` for
    the classifier. Training: shuffled each epoch, random flips and 90° rotations (stateless, seeded by the
    element's index and the epoch), repeated. Evaluation: in order, once.
    """
    import tensorflow as tf

    n = len(arrays["gif"])
    # Training: one seeded permutation first, so a shuffle buffer smaller than the cache still mixes caches that
    # were concatenated (plain then dithered, for the classifier).
    order = np.random.default_rng(seed).permutation(n) if training else np.arange(n)
    ds = tf.data.Dataset.from_tensor_slices({"gif": arrays["gif"][order], "original": arrays["original"][order],
                                             "palette": arrays["palette"][order],
                                             "dithered": arrays["dithered"][order].astype(np.float32),
                                             "index": order.astype(np.int64)})
    if training:
        ds = ds.repeat().shuffle(min(n, 8192), seed=seed, reshuffle_each_iteration=True)
        ds = ds.enumerate()

        def augment(step, e):
            s = tf.stack([tf.cast(seed, tf.int64), step])
            k = tf.random.stateless_uniform([], s, 0, 4, dtype=tf.int32)
            flip = tf.random.stateless_uniform([], s + 1, 0, 2, dtype=tf.int32)
            both = tf.concat([e["gif"], e["original"]], axis=-1)
            both = tf.image.rot90(both, k)
            both = tf.cond(flip > 0, lambda: tf.image.flip_left_right(both), lambda: both)
            return {**e, "gif": both[..., :3], "original": both[..., 3:]}

        ds = ds.map(augment, num_parallel_calls=1, deterministic=True)

    def finish(e):
        gif = to_unit(e["gif"])
        if label == "dithered":
            return gif, e["dithered"][None]
        return {"gif": gif, "palette": to_unit(e["palette"])}, to_unit(e["original"])

    ds = ds.map(finish, num_parallel_calls=1, deterministic=True).batch(batch_size, drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = True
    options.threading.private_threadpool_size = 1
    return ds.with_options(options).prefetch(2)
