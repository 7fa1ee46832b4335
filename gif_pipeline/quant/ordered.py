"""Ordered pattern dither (Knoll's algorithm) with a fixed blue-noise mask: cheap, and stable in time.

Every source colour draws :data:`CANDIDATES` palette colours whose mean approaches it: the n-th candidate is the
nearest palette colour to the source plus ``multiplier`` times the error the previous candidates left (an error
diffusion in "time", not over neighbours). The candidates are sorted by luminance and a blue-noise threshold mask
(:func:`gif_pipeline.layers.blue_noise.blue_noise_texture`, tiled), read at the pixel's position on the *canvas*,
picks one. A flat area becomes a blue-noise mix of palette colours whose mean is the source (found in 3-D, for any
palette), and a pixel on a palette colour leaves no error and keeps that colour.

The output at a pixel depends only on its source colour and its canvas position: in an animation, a pixel whose
source does not change maps to the same index in every frame, so still areas stay still and the frame-diff /
transparency reuse of :mod:`gif_pipeline.animate` keeps working (error diffusion and DitherNet depend on the whole
frame, and crawl). Since the candidates depend on the colour alone, :class:`PatternDither` computes them once per
distinct colour and palette (a lookup table over packed RGB that fills as colours appear), so a video frame costs a
few gathers once its colours have been seen.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["threshold_mask", "mask_at", "PatternDither", "pattern_dither", "MASK_SIZE", "CANDIDATES"]

#: Period of the blue-noise mask in pixels (64x64 void-and-cluster: ~0.25 s to make, once per process).
MASK_SIZE = 64
#: Candidates per colour (mix levels). On 8 val photos with median-cut palettes, blurred PSNR (sigma 1.5) over no
#: dither: +1.1, +1.0, +0.8 dB at 16, 64, 255 colours with 8 candidates (4: +1.1, +0.8, +0.6; 16: +1.0, +1.0, +0.8;
#: Floyd-Steinberg +0.8, +1.4, +1.3); docs/experiments/animation.md.
CANDIDATES = 8
#: Up to this many colours, :class:`PatternDither` searches the palette directly for the candidates of new colours
#: (its nearest-colour table only pays above).
SMALL_PALETTE = 64
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@functools.lru_cache(maxsize=4)
def threshold_mask(size: int = MASK_SIZE) -> np.ndarray:
    """``[size, size]`` float32 blue-noise thresholds uniform in (0, 1) (read-only): the void-and-cluster ranks
    (stored for 64x64, made by :func:`gif_pipeline.layers.blue_noise.void_and_cluster` otherwise)."""
    if size == 64:
        import base64

        from gif_pipeline.quant._blue_noise_64 import RANKS_64

        rank = np.frombuffer(base64.b64decode("".join(RANKS_64)), "<u2").reshape(64, 64).astype(np.float64)
    else:
        from gif_pipeline.layers.blue_noise import void_and_cluster

        rank = void_and_cluster(size).astype(np.float64)
    mask = ((rank + 0.5) / rank.size).astype(np.float32)
    mask.setflags(write=False)
    return mask


@functools.lru_cache(maxsize=16)
def _level_map(candidates: int, height: int, width: int) -> np.ndarray:
    """The mask's candidate level (0 .. candidates - 1) tiled over at least ``height x width`` pixels (read-only)."""
    mask = threshold_mask()
    s = mask.shape[0]
    level = np.minimum((mask * candidates).astype(np.intp), candidates - 1)
    tiled = np.tile(level, (-(-height // s), -(-width // s)))
    tiled.setflags(write=False)
    return tiled


def mask_at(shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The mask ``[h, w]`` over the canvas rectangle of size ``shape`` whose top-left pixel is ``origin`` (y, x): the
    same value at the same canvas pixel whatever rectangle is asked for."""
    mask = threshold_mask()
    s = mask.shape[0]
    rows = (np.arange(shape[0]) + origin[0]) % s
    cols = (np.arange(shape[1]) + origin[1]) % s
    return mask[rows[:, None], cols[None, :]]


def _nearest(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    from gif_pipeline.quant import dithering

    return dithering._nearest_rows(colours, palette)


def candidates_of(colours: np.ndarray, palette: np.ndarray, candidates: int = CANDIDATES,
                  multiplier: float = 1.0, nearest=None) -> np.ndarray:
    """uint8 ``[M, candidates]``: the palette indices Knoll's algorithm draws for each uint8 ``[M, 3]`` colour, sorted
    by luminance (ties by index). ``nearest(colours, palette)``: exact nearest indices (default: a palette search)."""
    _nearest = nearest or globals()["_nearest"]
    src = colours.astype(np.float32)
    pal = palette.astype(np.float32)
    picks = np.empty((len(colours), candidates), np.uint8)
    picks[:, 0] = _nearest(colours, palette)
    error = src - pal[picks[:, 0]]
    for n in range(1, candidates):
        attempt = src + error * np.float32(multiplier)
        np.maximum(attempt, 0, out=attempt)
        np.minimum(attempt, 255, out=attempt)
        attempt = np.rint(attempt, out=attempt).astype(np.uint8)
        picks[:, n] = _nearest(attempt, palette)
        error += src - pal[picks[:, n]]
    order = np.lexsort((np.arange(len(pal)), pal @ _LUMA))  # luminance rank -> palette index
    rank = np.empty(len(pal), np.int32)
    rank[order] = np.arange(len(pal))
    return order[np.sort(rank[picks], axis=1)].astype(np.uint8)


def _levels(shape, origin, candidates: int) -> np.ndarray:
    """Candidate levels ``[h, w]`` of the canvas rectangle ``shape`` at ``origin`` (a view of a tiled map)."""
    s = MASK_SIZE
    oy, ox = origin[0] % s, origin[1] % s
    tiled = _level_map(candidates, _round_up(oy + shape[0], 4 * s), _round_up(ox + shape[1], 4 * s))
    return tiled[oy:oy + shape[0], ox:ox + shape[1]]


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


class PatternDither:
    """``(rgb uint8 [H, W, 3], palette uint8 [K, 3], origin=(y, x)) -> indices uint8 [H, W]``: the pattern dither with
    the candidates of each distinct colour computed once per palette. A palette seen again (global palettes) keeps
    lookup tables over packed RGB (an ``int32`` candidate row and, above :data:`SMALL_PALETTE` colours, a ``uint16``
    nearest index per colour: 64 + 32 MiB of address space, zeroed pages mapped only where colours fall); a palette met once
    (per-frame palettes) gets its frame's distinct colours computed directly."""

    def __init__(self, candidates: int = CANDIDATES, multiplier: float = 1.0):
        self.candidates, self.multiplier = int(candidates), float(multiplier)
        self.key, self.lut, self.table, self.rows = None, None, None, 0
        self.pending = None  # (packed colours, candidate rows) computed for the current palette before its table
        self.near = None  # uint16 [2^24]: 1 + nearest index of a packed colour, 0 = not known yet
        self.filled = False

    def _nearest(self, colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
        from gif_pipeline.quant import dithering

        packed = dithering.pack_colours(colours)
        found = self.near[packed]
        missing = found == 0
        if missing.any():
            todo = dithering.distinct_packed(packed[missing])
            self.near[todo] = _nearest(dithering.unpack_colours(todo), palette).astype(np.uint16) + 1
            found = self.near[packed]
        return (found - 1).astype(np.uint8)

    def __call__(self, rgb: np.ndarray, palette: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        from gif_pipeline.quant import dithering

        h, w = rgb.shape[:2]
        if len(palette) < 2:
            return np.zeros((h, w), np.uint8)
        packed = dithering.pack_colours(rgb)
        levels = _levels((h, w), origin, self.candidates).reshape(-1)  # a copy (the map is a strided view)
        key = palette.tobytes()
        if key != self.key:  # a new palette: no table yet (it may be used once)
            self.key, self.filled = key, False
            todo, inverse = np.unique(packed, return_inverse=True)
            table = candidates_of(dithering.unpack_colours(todo), palette, self.candidates, self.multiplier)
            self.pending = todo, table  # the table's first rows if this palette comes again
            return np.take(table.ravel(), inverse.reshape(-1) * self.candidates + levels).reshape(h, w)
        if not self.filled:  # fresh zeroed tables: the OS maps their pages as colours touch them
            self.lut = np.zeros(1 << 24, np.int32)  # 1 + row of a packed colour, 0 = not known yet
            self.near = np.zeros(1 << 24, np.uint16) if len(palette) > SMALL_PALETTE else None
            todo, table = self.pending
            self.filled, self.rows, self.pending = True, len(todo), None
            self.table = np.empty((max(1 << 16, 2 * len(todo)), self.candidates), np.uint8)
            self.table[:len(todo)] = table
            self.lut[todo] = np.arange(1, len(todo) + 1, dtype=np.int32)
        rows = self.lut[packed]
        missing = rows == 0
        if missing.any():
            todo = dithering.distinct_packed(packed[missing])
            # small palettes: a direct search is cheaper than the table's packing and look-ups
            near = self._nearest if len(palette) > SMALL_PALETTE else None
            new = candidates_of(dithering.unpack_colours(todo), palette, self.candidates, self.multiplier, near)
            if self.rows + len(todo) > len(self.table):
                grown = np.empty((max(2 * len(self.table), self.rows + len(todo)), self.candidates), np.uint8)
                grown[:self.rows] = self.table[:self.rows]
                self.table = grown
            self.table[self.rows:self.rows + len(todo)] = new
            self.lut[todo] = np.arange(self.rows + 1, self.rows + len(todo) + 1, dtype=np.int32)
            self.rows += len(todo)
            rows = self.lut[packed]
        return np.take(self.table.ravel(), (rows - 1) * self.candidates + levels).reshape(h, w)


def pattern_dither(rgb: np.ndarray, palette: np.ndarray, origin: tuple[int, int] = (0, 0),
                   candidates: int = CANDIDATES, multiplier: float = 1.0) -> np.ndarray:
    """Palette indices uint8 ``[H, W]`` of ``rgb`` uint8 ``[H, W, 3]``, pattern-dithered with the fixed mask (module
    doc); ``origin``: the canvas position of ``rgb``'s top-left pixel."""
    rgb, palette = np.ascontiguousarray(rgb, np.uint8), np.ascontiguousarray(palette, np.uint8)
    return PatternDither(candidates, multiplier)(rgb, palette, origin)
