"""Lossy index choice for GIF's LZW: each row's palette indices chosen by a Viterbi search that trades squared colour
error against the number of runs.

GIF compresses a frame's rows of indices with LZW, which pays per string it has to start: long runs of one index (and
of the transparent index) cost few codes, a pixel that breaks a run costs several. gifsicle's ``--lossy`` and
gifski's lossy LZW exploit this inside the LZW encoder. Here the same trade is made before LZW, in NumPy: for every
row, the sequence of indices minimising

    sum over pixels of |source - shown colour|^2  +  lam * (number of times the index changes along the row)

is found exactly by dynamic programming over the states (every palette colour, plus, in a later frame of an
animation, the transparent index, which shows what the canvas already shows there). ``lam`` is in squared 8-bit
levels: a run break must save that much squared error to be worth it. In an animation a still pixel (its source did
not move beyond the encoder's threshold) pays ``mu`` more for any colour other than the one it shows, so still areas
stay still unless the error there grows.

The search runs over all rows (and ``segments`` pieces of each row, each searched on its own) at once, one column
step at a time: ``O(width / segments)`` NumPy steps over arrays of ``rows * segments * states`` values.
"""
from __future__ import annotations

import threading

import numpy as np

#: Pieces each row is cut into and searched independently (one NumPy step per column of a piece): more pieces, fewer
#: Python-level steps; each cut may start a run where the exact search would not. Wide frames are cut into more
#: pieces, of about ``PIECE_COLUMNS`` columns.
SEGMENTS = 8
PIECE_COLUMNS = 64


def _pieces(a: np.ndarray, pieces: int, length: int) -> np.ndarray:
    """``[H, W, ...]`` -> ``[length, ..., pieces * H]``: each row cut into ``pieces`` of ``length`` columns (the last
    padded by repeating the row's last pixel), column-within-piece first, (piece, row) last."""
    h, w = a.shape[:2]
    if length * pieces != w:
        a = np.concatenate([a, np.repeat(a[:, -1:], length * pieces - w, 1)], 1)
    a = a.reshape(h, pieces, length, *a.shape[2:])
    return np.ascontiguousarray(np.moveaxis(a, (2, 1, 0), (0, -2, -1))).reshape(length, *a.shape[3:], pieces * h)


def _shown_index(palette: np.ndarray, old: np.ndarray, still: np.ndarray) -> np.ndarray:
    """int16 like ``still``: the palette index of the colour a still pixel shows (``old``), -1 where it is not a
    palette colour or the pixel is not still. ``old`` is uint8 ``[L, 3, M]``, ``still`` bool ``[L, M]``."""
    from gif_pipeline.quant import dithering

    packed = dithering.pack_colours(palette)
    order = np.argsort(packed, kind="stable").astype(np.int16)
    keys = packed[order]
    shown = dithering.pack_colours(np.moveaxis(old, 1, -1)).reshape(still.shape)
    pos = np.searchsorted(keys, shown)
    np.minimum(pos, len(keys) - 1, out=pos)
    hit = keys[pos] == shown
    hit &= still
    return np.where(hit, order[pos], np.int16(-1))


def lossy_indices(src: np.ndarray, palette: np.ndarray, lam: float, *, old: np.ndarray | None = None,
                  still: np.ndarray | None = None, mu: float = 0.0, segments: int = SEGMENTS) -> np.ndarray:
    """Indices ``[H, W]`` (uint8; ``len(palette)`` = transparent, only when ``old`` is given) for uint8 ``src``
    ``[H, W, 3]`` on uint8 ``palette`` ``[K, 3]``, minimising squared error + ``lam`` per index change along each row
    (module docstring). ``old``: what the canvas shows under ``src`` (an animation's later frame), which the
    transparent state shows; ``still``: bool ``[H, W]``, pixels that pay ``mu`` for a colour other than ``old``'s.
    ``segments``: each row is cut into this many pieces, or one per :data:`PIECE_COLUMNS` pixels when that is more
    (and none shorter than 16 pixels), each searched on its own; with 1, rows narrower than 2 x ``PIECE_COLUMNS``
    are searched whole (exactly)."""
    h, w = src.shape[:2]
    k = len(palette)
    if k + (old is not None) > 256:
        raise ValueError(f"{k} colours{' and the transparent index' if old is not None else ''} do not fit GIF's 256 "
                         "indices")
    out = np.empty((h, w), np.uint8)
    if h == 0 or w == 0:
        return out
    pieces = max(1, min(max(int(segments), w // PIECE_COLUMNS), w // 16 or 1))
    length = -(-w // pieces)
    n = k + (old is not None)
    band = max(1, HISTORY_BYTES // (4 * n * length * pieces))  # rows searched at once: bounds the cost history
    from gif_pipeline.quant import dithering

    with dithering._blas_threads().limit(limits=1, user_api="blas"):  # small products: BLAS threads only wait
        for r in range(0, h, band):
            rows = slice(r, min(h, r + band))
            out[rows] = _search(src[rows], palette, lam, None if old is None else old[rows],
                                None if still is None else still[rows], mu, pieces, length)
    return out


_BUFFERS = threading.local()


def _buffer(size: int) -> np.ndarray:
    """A float32 scratch array of ``size`` values, kept per thread: a fresh one each frame costs its page faults."""
    buf = getattr(_BUFFERS, "array", None)
    if buf is None or buf.size < size:
        buf = _BUFFERS.array = np.empty(size, np.float32)
    return buf[:size]


#: Bytes of cost history :func:`lossy_indices` keeps at once (it searches the rows in bands that fit).
HISTORY_BYTES = 64 << 20


def _search(src, palette, lam, old, still, mu, pieces, length):
    h, w = src.shape[:2]
    k = len(palette)
    n = k + (old is not None)
    # Per column step x: the states' squared errors (up to the source's own squared norm, the same for every state)
    # as one small product: [-2c, |c|^2, mu] . [s, 1, still] for the palette rows
    s = _pieces(src, pieces, length).astype(np.float32)  # [L, 3, M]
    count = s.shape[2]
    inputs = np.zeros((length, 5, count), np.float32)
    inputs[:, :3] = s
    inputs[:, 3] = 1.0
    weights = np.zeros((n, 5), np.float32)
    c = palette.astype(np.float32)
    weights[:k, :3] = -2.0 * c
    weights[:k, 3] = (c * c).sum(1)
    keep = shown = None
    if old is not None:
        o = _pieces(old, pieces, length)
        of = o.astype(np.float32)
        keep = (of * (of - 2.0 * s)).sum(1)  # [L, M]: the transparent state's error, |old - s|^2 - |s|^2
        if still is not None and mu > 0:
            st = _pieces(still, pieces, length)
            inputs[:, 4] = st
            weights[:k, 4] = mu
            shown = _shown_index(palette, o, st)
    lam = np.float32(lam)
    cols = np.arange(count)
    cost = _buffer(length * n * count).reshape(length, n, count)  # cost[x]: a row piece's best cost to x in each state
    best = np.empty((length, count), np.float32)  # best[x]: its minimum over the states, plus lam
    tmp = np.empty((n, count), np.float32)
    for x in range(length):
        e = cost[x]
        np.matmul(weights, inputs[x], out=e)
        if keep is not None:
            e[k] = keep[x]
            if shown is not None:  # a still pixel keeps the colour it shows at no extra cost, also as a palette index
                at = np.flatnonzero(shown[x] >= 0)
                e[shown[x, at], at] -= np.float32(mu)
        if x:
            prev = cost[x - 1]
            m = prev.min(0, out=best[x - 1])
            m += lam
            e += np.minimum(prev, m, out=tmp)
    state = cost[-1].argmin(0)
    found = np.empty((length, count), np.uint8)
    for x in range(length - 1, 0, -1):
        found[x] = state
        prev = cost[x - 1]
        moved = np.flatnonzero(prev[state, cols] > best[x - 1])  # the run at x starts anew: from the best state
        if len(moved):
            state[moved] = prev[:, moved].argmin(0)
    found[0] = state
    return found.reshape(length, pieces, h).transpose(2, 1, 0).reshape(h, length * pieces)[:, :w]


def row_cost(src: np.ndarray, palette: np.ndarray, indices: np.ndarray, lam: float, *, old=None, still=None,
             mu: float = 0.0) -> float:
    """The objective :func:`lossy_indices` minimises (with ``segments=1``), for given ``indices``: squared error (the
    transparent index shows ``old``), ``mu`` per still pixel not showing ``old``, ``lam`` per index change in a row."""
    k = len(palette)
    idx = indices.astype(np.int64)
    table = np.concatenate([palette, np.zeros((1, 3), palette.dtype)]).astype(np.float64)
    shown = table[np.minimum(idx, k)]
    if old is not None:
        shown[idx == k] = old[idx == k]
    total = ((shown - src.astype(np.float64)) ** 2).sum()
    if still is not None and old is not None:
        total += mu * (still & (shown != old).any(-1)).sum()
    return float(total + lam * (idx[:, 1:] != idx[:, :-1]).sum())
