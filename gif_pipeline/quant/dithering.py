"""Map an image onto a given palette: nearest colour ('none'), Pillow's Floyd–Steinberg ('fs') or error diffusion ('ed').

This is the dither stage of a GIF encoder (GIFnets Fig. 2); its output is the index
map written to the GIF.

* ``'none'`` is the exact nearest-colour projection of GIFnets Eq. 1 (the same colour
  distances as :func:`gif_pipeline.quant.projection.hard_projection`; among equally near
  colours the lowest index wins). It is the argmax of ``2 x.c - |c|^2`` from one float32
  matrix product per chunk of pixels: every term is an integer below 2^24 for uint8
  values, so the scores are exact. (Reducing a large image to its distinct colours first, as
  this once did above 2^18 pixels, was slower: on a 12-megapixel photo ``np.unique`` alone took
  3.7 s, all pixels directly 0.4 s at 16 colours and 2.0 s at 256.) On the 256x256 val photos
  this takes ~1.7 ms at 16 colours and ~8.3 ms at 256 (``benchmarks/remap_speed.py``; a SciPy
  k-d tree over the distinct colours, used before: 18 and 17 ms). Pillow's own remapping is
  *not* used for this mode, although it is 1-5x faster: its nearest-colour lookup goes through
  a palette cache at 6 bits per channel, so it often picks a colour that is not the nearest one
  (measured on the 64x64 test photos with a 256-colour median-cut palette: 40-87% of the
  pixels, costing 0.6-3.8 dB PSNR).
* ``'fs'`` is Pillow's C Floyd–Steinberg error diffusion,
  ``Image.quantize(palette=..., dither=Image.Dither.FLOYDSTEINBERG)``. Note that Pillow
  only dithers when it remaps onto a *given* palette image; ``quantize(colors=n)``
  ignores ``dither`` (``tests/test_dithering.py`` checks this). Its colour choice uses
  the same coarse cache, but the diffused error is measured against the true palette
  colour, so the approximation is compensated by later pixels.

* ``'ed'`` is gifnets' own error diffusion (:mod:`gif_pipeline.quant.error_diffusion`): Floyd–Steinberg
  with the exact nearest colour under libimagequant's channel weights, attenuated and limited errors and
  an edge/noise-aware dither map (:data:`ED_SETTINGS`), in numpy over anti-diagonal wavefronts.

Pillow's palette image always has 256 entries. A palette of ``K < 256`` colours is padded
with copies of ``palette[0]``: a padding entry is never closer than entry 0 (ties go to
the lowest index), and if Pillow ever returned one it would be the same colour as entry 0,
so indices ``>= K`` are mapped to 0 without changing the picture.
"""
from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from gif_pipeline.quant.error_diffusion import luma_metric

DITHER_METHODS = ("none", "fs", "ed")


def _check_inputs(rgb, palette, dither):
    if dither not in DITHER_METHODS:
        raise ValueError(f"unknown dither method {dither!r}; choose from {DITHER_METHODS}")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a uint8 [H, W, 3] image, got {rgb.dtype} {rgb.shape}")
    palette = np.asarray(palette)
    if palette.dtype != np.uint8 or palette.ndim != 2 or palette.shape[1] != 3 or not 1 <= palette.shape[0] <= 256:
        raise ValueError(f"expected a uint8 [K, 3] palette with 1 <= K <= 256, got {palette.dtype} {palette.shape}")
    return np.ascontiguousarray(rgb), np.ascontiguousarray(palette)


def _palette_image(palette: np.ndarray) -> Image.Image:
    """A 'P' image carrying ``palette`` padded to 256 entries with copies of ``palette[0]``."""
    padded = np.concatenate([palette, np.repeat(palette[:1], 256 - len(palette), axis=0)])
    image = Image.new("P", (1, 1))
    image.putpalette(padded.reshape(-1).tolist(), rawmode="RGB")
    return image


#: Score entries (pixels x colours) formed at once by :func:`nearest`: 256k float32 = 1 MB, which stays in
#: cache. On 8 val photos at 256 colours: 9-12 ms per image, against 21 ms with 8 MB chunks.
_NEAREST_CHUNK = 1 << 18


@functools.cache
def _blas_threads():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


#: :func:`_nearest_rows` looks for repeated colours when pixels x colours reach this (a 1200x800 photo at 140
#: colours): finding them costs ~40 ms (a 16 MB table over the 24-bit colours), scoring all pixels ~1 ns per
#: pixel and colour (docs/experiments/gifnets.md, "nearest colour of distinct colours").
_DISTINCT_MIN_WORK = 1 << 27


def _nearest_rows(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Nearest palette index of uint8 ``[N, 3]`` pixels: argmax of ``2 x.c - |c|^2`` (exact in float32).

    From :data:`_DISTINCT_MIN_WORK` pixels x colours up, each distinct colour is scored once when there are at most
    half as many distinct colours as pixels (a large photo with smooth areas, a screenshot): the same indices, since a
    pixel's index depends on its colour only. The products run on one BLAS thread: these are small, and
    OpenBLAS's idle threads spin after a threaded call, which slowed the TensorFlow work that follows in
    ``gifnets encode`` by a third here.
    """
    if len(pixels) * len(palette) >= _DISTINCT_MIN_WORK:
        table = np.zeros(1 << 24, np.uint8)  # first: which colours occur; then: their indices
        for keys in _colour_keys(pixels):
            table[keys] = 1
        colours = np.flatnonzero(table)
        if 2 * len(colours) <= len(pixels):
            table[colours] = _nearest_scores(unpack_colours(colours), palette)
            out = np.empty(len(pixels), np.uint8)
            for s, keys in zip(range(0, len(pixels), _KEY_CHUNK), _colour_keys(pixels)):
                out[s:s + len(keys)] = table[keys]
            return out
    return _nearest_scores(pixels, palette)


#: Pixels whose 24-bit colour keys :func:`_colour_keys` forms at once (4 MB of keys: a 12-MP photo never holds
#: all its keys).
_KEY_CHUNK = 1 << 20


def _colour_keys(pixels: np.ndarray):
    """:func:`pack_colours` of uint8 ``[N, 3]`` pixels, :data:`_KEY_CHUNK` at a time."""
    for s in range(0, len(pixels), _KEY_CHUNK):
        yield pack_colours(pixels[s:s + _KEY_CHUNK])


def pack_colours(pixels: np.ndarray) -> np.ndarray:
    """uint32 ``r << 16 | g << 8 | b`` of uint8 ``[..., 3]`` pixels, flat (one key per 24-bit colour)."""
    flat = np.asarray(pixels).reshape(-1, 3)
    packed = flat[:, 0].astype(np.uint32) << 16
    packed |= flat[:, 1].astype(np.uint32) << 8
    packed |= flat[:, 2]
    return packed


def unpack_colours(packed: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 3]`` colours of :func:`pack_colours` keys."""
    return np.stack([packed >> 16, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)


def _nearest_scores(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """:func:`_nearest_rows` scoring every row."""
    c = palette.astype(np.float32)
    weights = np.concatenate([2.0 * c, -np.sum(c * c, axis=1, keepdims=True)], axis=1).T.copy()  # [4, K]
    out = np.empty(len(pixels), np.uint8)
    step = max(1, min(len(pixels), _NEAREST_CHUNK // len(palette)))
    # One set of buffers for all chunks: a fresh 1 MB score array per chunk made glibc map and trim
    # memory every chunk while nothing else had grown the heap (a fresh process without TensorFlow):
    # 81 -> 8 ms for a 256x256 photo at 256 colours (docs/experiments/gifnets.md).
    rows, scores, best = np.empty((step, 3), np.float32), np.empty((step, len(c)), np.float32), np.empty(step, np.intp)
    with _blas_threads().limit(limits=1, user_api="blas"):
        for s in range(0, len(pixels), step):
            m = min(step, len(pixels) - s)
            rows[:m] = pixels[s:s + m]
            np.matmul(rows[:m], weights[:3], out=scores[:m])
            np.add(scores[:m], weights[3], out=scores[:m])
            np.argmax(scores[:m], axis=1, out=best[:m])
            out[s:s + m] = best[:m]
    return out


def distinct_colours(pixels: np.ndarray):
    """Distinct colours of uint8 ``[N, 3]`` pixels, sorted: ``(colours uint8 [M, 3], inverse [N], counts [M])``.

    ``colours[inverse]`` gives the pixels back; ``counts`` is how many pixels have each colour.
    """
    packed, inverse, counts = np.unique(pack_colours(pixels), return_inverse=True, return_counts=True)
    return unpack_colours(packed), inverse.reshape(-1), counts


def distinct_packed(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a 1-D integer array (packed colours), sorted, through ``np.sort``: numpy 2.4's ``np.unique``
    took 3-23 ms on one 480x270 video frame's packed colours where the sort and a comparison take 0.2-0.8 ms
    (docs/experiments/animation.md, 2026-12-06 speed)."""
    if values.size == 0:
        return values.copy()
    s = np.sort(values)
    keep = np.empty(s.size, bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def nearest(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Exact nearest-colour indices (Eq. 1) of uint8 ``[H, W, 3]`` pixels: uint8 ``[H, W]``."""
    return _nearest_rows(rgb.reshape(-1, 3), palette).reshape(rgb.shape[:2])


def floyd_steinberg(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Pillow's C Floyd–Steinberg remap onto ``palette``: uint8 ``[H, W]``, values < K."""
    quantized = Image.fromarray(rgb, "RGB").quantize(
        palette=_palette_image(palette), dither=Image.Dither.FLOYDSTEINBERG)
    indices = np.asarray(quantized, dtype=np.uint8).copy()
    indices[indices >= len(palette)] = 0  # padding entries are copies of entry 0
    return indices


#: The settings of ``dither='ed'`` (:func:`gif_pipeline.quant.error_diffusion.error_diffusion`), chosen on the val
#: photos (docs/experiments/gifnets.md, 2026-12-06 "error diffusion"): the error attenuated to 15/16, the large-error
#: limits, the dither map, and colour distances measured mostly in luma, ``dY^2 + 0.25 (dCb^2 + dCr^2)`` (BT.601,
#: :func:`gif_pipeline.quant.error_diffusion.luma_metric`, scaled so that a grey difference costs what it did under the
#: first weights, 0.5 : 1 : 0.45 for R : G : B as libimagequant weighs them) up to :data:`ED_LUMA_MAX_COLORS`
#: colours (:func:`ed_settings`). Against those weights in one bench run on the 24 val photos (2026-12-07,
#: docs/experiments/gifnets.md): VMAF +3.8 / +2.7 / +1.8 / +1.1 / +0.7 at 16 / 32 / 64 / 128 / 256 colours, WSNR +1.1
#: to +1.9 dB (+2.1 to +3.4 at 120 px/deg), less CAMBI banding, for 1.2-1.7 % more bytes and 0.4-0.9 dB less PSNR
#: (the animations' ``ed`` made the same trade first: gif_pipeline.animate.ED_CHROMA).
ED_CHROMA = 0.25
ED_RGB_WEIGHTS = (0.5, 1.0, 0.45)
#: The luma metric's scale: a grey difference ``d`` costs ``sum(ED_RGB_WEIGHTS) d^2`` under the R : G : B weights.
ED_LUMA_SCALE = sum(ED_RGB_WEIGHTS)
ED_SETTINGS = {"attenuation": 15.0 / 16.0, "limit": True, "dither_map": True, "map_floor": 0.0,
               "channel_weights": luma_metric(ED_CHROMA, ED_LUMA_SCALE)}
#: Above this many colours ``ed`` keeps the R : G : B weights :data:`ED_RGB_WEIGHTS`: there the luma metric's 1.2-1.7 %
#: more bytes made the files larger than libimagequant's dithered ones (128: 39,736 against 39,458 B; 256: 48,146
#: against 47,472) for +1.1 and +0.7 VMAF; up to 64 they stay smaller (32: 24,866 against 25,288).
ED_LUMA_MAX_COLORS = 64


def ed_settings(colors: int) -> dict:
    """``dither='ed'``'s settings for a palette of ``colors`` colours: :data:`ED_SETTINGS` (the luma-weighted
    distance) up to :data:`ED_LUMA_MAX_COLORS`, the R : G : B weights :data:`ED_RGB_WEIGHTS` above."""
    return ED_SETTINGS if colors <= ED_LUMA_MAX_COLORS else {**ED_SETTINGS, "channel_weights": ED_RGB_WEIGHTS}


def remap(rgb, palette, dither: str = "none") -> np.ndarray:
    """Palette indices for ``rgb`` (uint8 ``[H, W, 3]``) on ``palette`` (uint8 ``[K, 3]``).

    ``dither='none'``: nearest colour (Eq. 1). ``dither='fs'``: Floyd–Steinberg error
    diffusion (Pillow). ``dither='ed'``: gifnets' error diffusion (:func:`ed_settings`).
    Returns uint8 ``[H, W]`` with every value ``< K``.
    """
    rgb, palette = _check_inputs(rgb, palette, dither)
    if len(palette) == 1:
        return np.zeros(rgb.shape[:2], np.uint8)
    if dither == "none":
        return nearest(rgb, palette)
    if dither == "ed":
        from gif_pipeline.quant.error_diffusion import error_diffusion

        return error_diffusion(rgb, palette, **ed_settings(len(palette)))
    return floyd_steinberg(rgb, palette)
