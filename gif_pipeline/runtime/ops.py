"""numpy twins of the non-network steps of :mod:`gif_pipeline.models.gifnets.graph` (no TensorFlow).

Each reproduces the TensorFlow function named in its docstring on float32 ``[B, H, W, 3]`` images in
[-1, 1]; ``tests/runtime/test_ops.py`` checks them against it.
"""
from __future__ import annotations

import numpy as np

#: Score entries (pixels x colours) formed at once by :func:`nearest_float` (1 MB of float32: stays in cache).
_CHUNK = 1 << 18


def image_to_unit(rgb: np.ndarray) -> np.ndarray:
    """uint8 ``[..., 3]`` -> float32 in [-1, 1]: ``x / 127.5 - 1`` (:func:`gif_pipeline.layers.common.image_to_unit`)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1] != 3:
        raise ValueError(f"image_to_unit expects a uint8 image [..., 3], got {rgb.dtype} {rgb.shape}")
    return rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def palette_to_uint8(palette: np.ndarray) -> np.ndarray:
    """Float palette in [-1, 1] -> uint8, ``rint((p + 1) * 127.5)`` in float64 (:func:`layers.common.palette_to_uint8`)."""
    x = np.asarray(palette, np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("palette_to_uint8 got non-finite values")
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` box-filter weights (:func:`graph._area_weights`)."""
    scale = np.float32(n_in) / np.float32(n_out)
    start = np.arange(n_out, dtype=np.float32)[:, None] * scale
    pixel = np.arange(n_in, dtype=np.float32)[None, :]
    overlap = np.maximum(np.minimum(start + scale, pixel + 1.0) - np.maximum(start, pixel), 0.0)
    return (overlap / scale).astype(np.float32)


def downscale_short_side(images: np.ndarray, size: int) -> np.ndarray:
    """Area-downscale ``[B, H, W, 3]`` so the short side is ``size`` (never upscales; 0: unchanged).

    :func:`graph.downscale_short_side` with static shapes (the output size is ``round(h * size / min(h, w))``);
    the box filter as two matrix products, each over the band of input rows or columns an output one reads."""
    if not size:
        return images
    b, h, w, c = images.shape
    scale = size / min(h, w)
    if scale >= 1.0:
        return images
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    rows, cols = _area_weights(h, nh), _area_weights(w, nw)
    out = np.empty((b, nh, nw, c), np.float32)
    for i in range(b):
        tmp = (rows @ images[i].reshape(h, w * c)).reshape(nh, w, c)  # [nh, W, C]
        out[i] = np.einsum("ow,hwc->hoc", cols, tmp, optimize=True)
    return out


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source indices of TF's nearest-neighbour resize (half-pixel centres, float32 scale)."""
    scale = np.float32(n_in) / np.float32(n_out)
    idx = np.floor((np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.int64)
    return np.clip(idx, 0, n_in - 1)


def grid_pixels(images: np.ndarray, count: int) -> np.ndarray:
    """``min(count, H * W)`` pixels of each ``[B, H, W, 3]`` image spread over it: ``[B, n, 3]``
    (:func:`gif_pipeline.quant.palettes.grid_pixels` with static shapes)."""
    h, w = images.shape[1], images.shape[2]
    scale = min(1.0, (count / (h * w)) ** 0.5)
    size = (min(h, int(np.ceil(h * scale))), min(w, int(np.ceil(w * scale))))
    m = size[0] * size[1]
    n = min(m, count)
    positions = np.floor((np.arange(n) + 0.5) * (m / n)).astype(np.int64)
    if size == (h, w):
        return np.ascontiguousarray(images.reshape(images.shape[0], -1, 3)[:, positions])
    rows, cols = _nearest_index(h, size[0]), _nearest_index(w, size[1])
    return np.ascontiguousarray(images[:, rows[positions // size[1]], cols[positions % size[1]]])


def nearest_float(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Nearest colour (Eq. 1) of float pixels ``[..., 3]`` in a float palette ``[K, 3]``: int indices ``[...]``.

    The argmax of ``x.c - |c|^2 / 2`` as :func:`gif_pipeline.quant.projection.nearest`, in chunks."""
    shape = pixels.shape[:-1]
    flat = np.ascontiguousarray(pixels, np.float32).reshape(-1, 3)
    c = np.asarray(palette, np.float32).reshape(-1, 3)
    weights = np.ascontiguousarray(c.T)
    half = np.float32(0.5) * np.sum(c * c, axis=1)
    out = np.empty(len(flat), np.int64)
    step = max(1, min(len(flat), _CHUNK // len(c)))
    scores = np.empty((step, len(c)), np.float32)
    for s in range(0, len(flat), step):
        m = min(step, len(flat) - s)
        np.matmul(flat[s:s + m], weights, out=scores[:m])
        np.subtract(scores[:m], half, out=scores[:m])
        out[s:s + m] = np.argmax(scores[:m], axis=1)
    return out.reshape(shape)


def prune_palette(images: np.ndarray, palette: np.ndarray, n: int, grid: int = 128 * 128) -> np.ndarray:
    """Each image's ``n`` most used colours of ``palette`` ``[B, K, 3]`` on ``grid`` of its pixels, in the
    palette's order (``how="prune"`` of :func:`graph.network_palettes`; ties: the lower index)."""
    pixels = grid_pixels(images, grid)
    out = []
    for i in range(palette.shape[0]):
        counts = np.bincount(nearest_float(pixels[i], palette[i]).ravel(), minlength=palette.shape[1])
        keep = np.sort(np.argsort(-counts, kind="stable")[:n])
        out.append(palette[i, keep])
    return np.stack(out)


def tiled(function, image: np.ndarray, tile: int, halo: int, align: int = 8) -> np.ndarray:
    """``function(image)`` for an image-to-image ``function`` of ``[1, H, W, C]``, computed on overlapping
    tiles: each ``tile x tile`` block reads ``halo`` more pixels on each side (fewer at the border), and its
    read starts on a multiple of ``align`` (so up to ``align - 8`` more pixels above and to the left). The one
    tiling loop of both backends (:func:`gif_pipeline.encode.tiled` wraps it for TensorFlow)."""
    if tile % 8 or halo % 8 or tile <= 0 or halo < 0:
        raise ValueError(f"tile and halo must be multiples of 8 (tile > 0), got {tile} and {halo}")
    if align % 8 or align <= 0:
        raise ValueError(f"align must be a positive multiple of 8, got {align}")
    h, w = image.shape[1], image.shape[2]
    out = None
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            y0, x0 = max(0, y - halo), max(0, x - halo)
            y0, x0 = y0 - y0 % align, x0 - x0 % align
            part = function(np.ascontiguousarray(image[:, y0:min(h, y + tile + halo), x0:min(w, x + tile + halo)]))
            if out is None:
                out = np.empty((image.shape[0], h, w, part.shape[-1]), part.dtype)
            out[:, y:y + min(tile, h - y), x:x + min(tile, w - x)] = \
                part[:, y - y0:y - y0 + min(tile, h - y), x - x0:x - x0 + min(tile, w - x)]
    return out


def symmetric_indices(n: int, before: int, after: int) -> np.ndarray:
    """Source indices of a symmetric ("mirror with edge repeat") padding of an axis of length ``n``
    (:func:`gif_pipeline.layers.unet._symmetric_indices`)."""
    i = np.mod(np.arange(-before, n + after), 2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def blue_noise(texture: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``[len(rows), len(cols), k]``: the ``[P, P, k]`` texture tiled from the image's top left
    (:class:`dither_net.BlueNoise`) at image rows ``rows`` and columns ``cols``."""
    return texture[np.mod(rows, texture.shape[0])][:, np.mod(cols, texture.shape[1])]


def tile_windows(n: int, count: int, halo: int, multiple: int = 8) -> list[tuple[int, int, int, int]]:
    """``count`` equal tiles of an axis of length ``n`` padded to a multiple of ``multiple`` (``n8``), for a network
    with ``halo`` pixels of context: ``(start, end, window_start, window_size)`` in padded coordinates, tile
    ``[start, end)`` read from the window ``[window_start, window_start + window_size)``. Tiles start on multiples of
    ``multiple``; all windows have one size and lie inside ``[0, n8)`` (shifted inwards at the ends), so a network run
    on them sees one input shape, and each tile has ``halo`` pixels of context wherever the axis has them."""
    if halo % multiple or halo < 0 or count < 1:
        raise ValueError(f"halo must be a multiple of {multiple} and count >= 1, got {halo}, {count}")
    n8 = n + (-n % multiple)
    size = -(-n8 // count)
    size += -size % multiple
    if count == 1 or size >= n8:
        return [(0, n8, 0, n8)]
    window = min(n8, size + halo * min(2, -(-n8 // size) - 1))
    return [(start, min(n8, start + size), min(max(0, start - halo), n8 - window), window)
            for start in range(0, n8, size)]


def tile_counts(h: int, w: int, budget: int, halo: int, multiple: int = 8, most: int = 64) -> tuple[int, int]:
    """Tiles ``(rows, columns)`` of an ``h x w`` image whose windows (:func:`tile_windows`) have at most ``budget``
    pixels, with the fewest pixels read in all (ties: fewer tiles); the smallest windows if none fit."""
    best = None
    for ny in range(1, most + 1):
        wy = tile_windows(h, ny, halo, multiple)
        for nx in range(1, most + 1):
            wx = tile_windows(w, nx, halo, multiple)
            area = wy[0][3] * wx[0][3]
            key = (area > budget, len(wy) * len(wx) * area if area <= budget else area, len(wy) * len(wx))
            if best is None or key < best[0]:
                best = (key, (ny, nx))
            if len(wx) < nx:
                break
        if len(wy) < ny:
            break
    return best[1]
