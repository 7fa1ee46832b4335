"""A deterministic blue-noise threshold texture (Ulichney's void-and-cluster, 1993), made by code.

Not in the paper. DitherNet (``DitherNetConfig.noise_channels``) can read this texture, tiled over the
image, as an extra input: a U-Net of stride-2 poolings is translation-equivariant only by multiples of 8,
so on a flat region its E' is periodic with a period that divides 8 (a dot lattice). The texture gives it
a source of irregular, high-frequency positions to dither with.

:func:`void_and_cluster` returns the rank of every pixel of a ``size x size`` torus (0 .. size² - 1),
scaled here to (-1, 1). No random-number generator is involved: the initial binary pattern is made by
the same void/cluster steps from a fixed seed pattern, so the texture is the same on every machine.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["void_and_cluster", "blue_noise_texture"]


@functools.lru_cache(maxsize=8)
def void_and_cluster(size: int = 64, sigma: float = 1.5) -> np.ndarray:
    """Void-and-cluster ranks ``[size, size]`` (int64, a permutation of 0 .. size² - 1), deterministic.

    The energy of every pixel is the sum of a Gaussian (``sigma``, cut at 4 sigma) of the toroidal distance to
    every dot; each step updates only the window around the dot added or removed, so 256 x 256 takes seconds.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    n = size * size
    r = min(int(np.ceil(4 * sigma)), (size - 1) // 2)
    d = np.arange(-r, r + 1)
    kernel = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2.0 * sigma ** 2))

    energy = np.zeros((size, size))
    pattern = np.zeros((size, size), bool)

    def update(y, x, sign):  # add (sign 1) or remove (-1) a dot's energy, on the torus
        rows, cols = (y + d) % size, (x + d) % size
        energy[np.ix_(rows, cols)] += sign * kernel

    def tightest_cluster():
        return np.unravel_index(np.argmax(np.where(pattern, energy, -np.inf)), pattern.shape)

    def largest_void():
        return np.unravel_index(np.argmin(np.where(pattern, np.inf, energy)), pattern.shape)

    # Initial pattern: a fixed low-discrepancy scatter of ~10% ones (golden-ratio lattice, no RNG).
    count = max(1, n // 10)
    phi = (np.sqrt(5.0) - 1.0) / 2.0
    k = np.arange(count)
    ys = (np.floor(size * ((k * phi) % 1.0)).astype(int) + (k * 7) % size) % size
    xs = (k * size // count) % size
    pattern[ys, xs] = True
    for y, x in zip(*np.nonzero(pattern)):
        update(y, x, 1.0)
    # Relax: move the tightest cluster to the largest void until they coincide.
    for _ in range(4 * n):
        cluster = tightest_cluster()
        pattern[cluster] = False
        update(*cluster, -1.0)
        void = largest_void()
        pattern[void] = True
        update(*void, 1.0)
        if void == cluster:
            break
    ones = int(pattern.sum())
    initial, initial_energy = pattern.copy(), energy.copy()
    rank = np.zeros((size, size), np.int64)
    # Phase 1: remove the tightest clusters of the initial pattern, ranks ones-1 .. 0.
    for value in range(ones - 1, -1, -1):
        cluster = tightest_cluster()
        pattern[cluster] = False
        update(*cluster, -1.0)
        rank[cluster] = value
    # Phases 2 and 3: fill the largest voids, ranks ones .. n-1.
    pattern[...], energy[...] = initial, initial_energy
    for value in range(ones, n):
        void = largest_void()
        pattern[void] = True
        update(*void, 1.0)
        rank[void] = value
    return rank


def blue_noise_texture(size: int = 64, channels: int = 1) -> np.ndarray:
    """``[size, size, channels]`` float32 blue noise, uniform in (-1, 1).

    Channel 0 is the void-and-cluster texture; channel ``c > 0`` is the same texture shifted by a
    different fixed offset (and transposed for odd ``c``), so that the channels are not the same
    at any pixel while each is blue noise with the same period.
    """
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    rank = void_and_cluster(size)
    base = ((rank.astype(np.float64) + 0.5) / rank.size * 2.0 - 1.0).astype(np.float32)
    out = []
    for c in range(channels):
        t = base.T if c % 2 else base
        shift = (c * size * 5 // 13) % size, (c * size * 3 // 7) % size
        out.append(np.roll(t, shift, axis=(0, 1)))
    return np.stack(out, axis=-1)
