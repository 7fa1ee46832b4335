"""Entropy coding of the quantized code (not in the paper, whose rate is the bound dim(w_hat)·log2 L).

Symbols (indices 0..L-1 of the centres) are range-coded with ``constriction`` (PyPI) under a context-adaptive
model: the context of symbol (y, x, c) is its channel c and the symbols of the same channel to its left and
above (the centre symbol outside the grid or outside the keep map). Each context's probability is its learned
prior (``Compressor.entropy_prior``: counts over training images, :func:`fit_prior`), scaled to
``PRIOR_WEIGHT`` pseudo-counts, plus the counts seen so far in this image. Everything is integer counts and
float64 arithmetic in a fixed order, so the code is the same on every run and machine.

Only kept positions are coded (a synthesized region costs no bits), in raster order, channels inside.
"""
from __future__ import annotations

import numpy as np

PRIOR_WEIGHT = 64.0  # pseudo-counts of the learned prior in each context


def contexts(symbols: np.ndarray, keep: np.ndarray, num_centers: int) -> np.ndarray:
    """[h, w, C] symbols and [h, w] keep -> [h, w, C, 2] (left, above) context symbols."""
    centre = num_centers // 2
    s = np.where(keep[..., None] > 0, symbols, centre).astype(np.int64)
    padded = np.pad(s, ((1, 0), (1, 0), (0, 0)), constant_values=centre)
    return np.stack([padded[1:, :-1], padded[:-1, 1:]], axis=-1)


def context_counts(symbols: np.ndarray, keep: np.ndarray, num_centers: int) -> np.ndarray:
    """Counts [C, L, L, L] (channel, left, above, symbol) over the kept positions of one image."""
    h, w, c = symbols.shape
    ctx = contexts(symbols, keep, num_centers)
    counts = np.zeros((c, num_centers, num_centers, num_centers), np.int64)
    ys, xs = np.nonzero(keep > 0)
    for ch in range(c):
        np.add.at(counts[ch], (ctx[ys, xs, ch, 0], ctx[ys, xs, ch, 1], symbols[ys, xs, ch].astype(np.int64)), 1)
    return counts


def _probabilities(symbols, keep, prior, num_centers, decoded=None):
    """Yields (position, channel, probability row) in coding order; ``decoded`` fills symbols as they come."""
    prior = np.asarray(prior, np.float64)
    prior = prior / prior.sum(axis=-1, keepdims=True) * PRIOR_WEIGHT
    seen = np.zeros(prior.shape, np.float64)
    centre = num_centers // 2
    h, w, c = symbols.shape
    for y in range(h):
        for x in range(w):
            if not keep[y, x]:
                continue
            for ch in range(c):
                left = symbols[y, x - 1, ch] if x > 0 and keep[y, x - 1] else centre
                up = symbols[y - 1, x, ch] if y > 0 and keep[y - 1, x] else centre
                row = prior[ch, left, up] + seen[ch, left, up]
                yield y, x, ch, row
                seen[ch, left, up, symbols[y, x, ch]] += 1.0


def encode(symbols: np.ndarray, keep: np.ndarray, prior: np.ndarray, num_centers: int) -> bytes:
    """Range-code the kept symbols ([h, w, C] uint8, keep [h, w]) -> bytes (trailing zero bytes dropped)."""
    import constriction

    symbols = np.asarray(symbols, np.int64)
    rows, values = [], []
    for y, x, ch, row in _probabilities(symbols, keep, prior, num_centers):
        rows.append(row)
        values.append(symbols[y, x, ch])
    if not values:
        return b""
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(np.asarray(values, np.int32), constriction.stream.model.Categorical(perfect=False),
                   np.asarray(rows, np.float64))
    return encoder.get_compressed().astype("<u4").tobytes().rstrip(b"\0")


def decode(data: bytes, keep: np.ndarray, prior: np.ndarray, num_centers: int, channels: int) -> np.ndarray:
    """The inverse of :func:`encode`: bytes and keep [h, w] -> symbols [h, w, C] uint8 (centre where not kept)."""
    import constriction

    h, w = keep.shape
    symbols = np.full((h, w, channels), num_centers // 2, np.int64)
    if not keep.any():
        return symbols.astype(np.uint8)
    data = data + b"\0" * (-len(data) % 4)
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))
    family = constriction.stream.model.Categorical(perfect=False)
    for y, x, ch, row in _probabilities(symbols, keep, prior, num_centers):
        symbols[y, x, ch] = int(decoder.decode(family, row[None, :])[0])
    return symbols.astype(np.uint8)


def ideal_bits(symbols: np.ndarray, keep: np.ndarray, prior: np.ndarray, num_centers: int) -> float:
    """The model's information content -sum log2 p of the kept symbols (what an ideal coder would spend)."""
    symbols = np.asarray(symbols, np.int64)
    bits = 0.0
    for y, x, ch, row in _probabilities(symbols, keep, prior, num_centers):
        bits -= np.log2(row[symbols[y, x, ch]] / row.sum())
    return float(bits)
