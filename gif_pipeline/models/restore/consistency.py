"""What a GIF says about its original, used to keep a restoration consistent with it (numpy; no TensorFlow).

A GIF encoded **without dithering** maps each original pixel to its nearest palette colour, so the original lies in
its GIF colour's quantization cell: the Voronoi cell of that colour among the palette's, a convex polytope in RGB.
Projecting a restored pixel onto a convex set that contains the original never moves it farther from the original,
so :func:`project_to_cells` can only lower a restoration's error where the encoder mapped by nearest RGB colour.
It projects onto the half-space of the nearest wrong colour, repeatedly (alternating projections onto convex sets
holding the original: each one is non-expansive towards it), with ``margin`` levels of slack for encoders whose
distance is not exactly RGB (libimagequant, ffmpeg weight the channels).

A **dithered** GIF's colour is not the nearest one, but it is near: error diffusion and ordered dither pick one of
the palette colours around the original. :func:`limit_change` bounds the correction of each pixel to ``scale``
times the distance from its GIF colour to the nearest other palette colour: at 16 colours that leaves the network
free, at 256 colours (where the GIF is already close) it keeps the network from smoothing texture away.
"""
from __future__ import annotations

import numpy as np

#: Pixels per chunk of the nearest-colour searches (memory: chunk x palette size floats).
CHUNK = 1 << 16


def palette_indices(gif: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The index of each pixel's colour in ``palette`` (uint8 ``[H, W, 3]`` -> int ``[H, W]``); a colour that is not
    in the palette (an image given with another palette) takes its nearest entry."""
    pal = np.asarray(palette, np.int64).reshape(-1, 3)
    keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    g = gif.astype(np.int64).reshape(-1, 3)
    pixel_keys = (g[:, 0] << 16) | (g[:, 1] << 8) | g[:, 2]
    pos = np.clip(np.searchsorted(sorted_keys, pixel_keys), 0, len(keys) - 1)
    index = order[pos]
    missing = sorted_keys[pos] != pixel_keys
    if missing.any():
        index[missing] = _nearest(g[missing].astype(np.float32), pal.astype(np.float32))
    return index.reshape(gif.shape[:2])


def _nearest(points: np.ndarray, palette: np.ndarray) -> np.ndarray:
    out = np.empty(len(points), np.int64)
    p2 = np.sum(palette * palette, axis=1)
    for s in range(0, len(points), CHUNK):
        chunk = points[s:s + CHUNK]
        out[s:s + CHUNK] = np.argmin(p2[None] - 2.0 * chunk @ palette.T, axis=1)
    return out


def project_to_cells(restored: np.ndarray, gif: np.ndarray, palette: np.ndarray, margin: float = 0.0,
                     iterations: int = 8, index: np.ndarray | None = None) -> np.ndarray:
    """``restored`` (float ``[H, W, 3]``, 0-255 scale) moved into each pixel's GIF-colour quantization cell
    (relaxed by ``margin`` levels); returns float32 ``[H, W, 3]``. ``index``: :func:`palette_indices` of ``gif``,
    if the caller has it."""
    pal = np.asarray(palette, np.float32).reshape(-1, 3)
    if index is None:
        index = palette_indices(gif, palette)
    index = index.reshape(-1)
    x = np.array(restored, np.float32).reshape(-1, 3)
    active = np.arange(len(x))
    for _ in range(iterations):
        if not len(active):
            break
        xa = x[active]
        own = pal[index[active]]
        j = _nearest(xa, pal)
        other = pal[j]
        normal = other - own
        norm = np.sqrt(np.sum(normal * normal, axis=1))
        # Signed distance past the bisecting plane of (own, other), towards other.
        past = (np.sum((xa - 0.5 * (own + other)) * normal, axis=1)) / np.maximum(norm, 1e-6) - margin
        move = (j != index[active]) & (past > 1e-4)
        if not move.any():
            break
        step = (past[move] / np.maximum(norm[move], 1e-6))[:, None] * normal[move]
        x[active[move]] = xa[move] - step
        active = active[move]
    return x.reshape(restored.shape)


def nearest_other_distance(palette: np.ndarray) -> np.ndarray:
    """For each palette colour, the RGB distance to the nearest other colour (inf for a one-colour palette)."""
    pal = np.asarray(palette, np.float32).reshape(-1, 3)
    d = np.sqrt(np.sum((pal[:, None] - pal[None]) ** 2, axis=2))
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def limit_change(restored: np.ndarray, gif: np.ndarray, palette: np.ndarray, scale: float,
                 index: np.ndarray | None = None) -> np.ndarray:
    """``restored`` with each pixel's change from the GIF shortened to at most ``scale`` x the distance from its
    GIF colour to the nearest other palette colour; float32 ``[H, W, 3]``. ``index`` as for :func:`project_to_cells`."""
    if index is None:
        index = palette_indices(gif, palette)
    radius = scale * nearest_other_distance(palette)[index]
    g = gif.astype(np.float32)
    change = np.asarray(restored, np.float32) - g
    length = np.sqrt(np.sum(change * change, axis=2))
    factor = np.minimum(1.0, radius / np.maximum(length, 1e-6))
    return g + change * factor[..., None]


#: The post-step of each CCDNet (chosen on the restore bench; docs/experiments/restore.md): project onto the GIF
#: colour's cell, then limit the change to ``limit`` x the palette spacing (None: no limit).
SETTINGS = {"plain": {"project": True, "limit": 0.5}, "dithered": {"project": True, "limit": 1.5}}


def make_consistent(restored: np.ndarray, gif: np.ndarray, palette: np.ndarray, which: str) -> np.ndarray:
    """The restore pipeline's post-step for the ``which`` (``plain`` / ``dithered``) CCDNet: float 0-255 in and
    out."""
    setting = SETTINGS[which]
    out = np.asarray(restored, np.float32)
    index = palette_indices(gif, palette)  # once for both steps
    if setting["project"]:
        out = project_to_cells(out, gif, palette, index=index)
    if setting["limit"] is not None:
        out = limit_change(out, gif, palette, setting["limit"], index=index)
    return out
