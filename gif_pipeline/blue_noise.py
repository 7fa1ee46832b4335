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


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    d = np.minimum(np.arange(size), size - np.arange(size)).astype(np.float64)  # toroidal distance
    g = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2.0 * sigma ** 2))
    return g


@functools.lru_cache(maxsize=8)
def void_and_cluster(size: int = 64, sigma: float = 1.5) -> np.ndarray:
    """Void-and-cluster ranks ``[size, size]`` (int64, a permutation of 0 .. size² - 1), deterministic."""
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    n = size * size
    kernel = _gaussian_kernel(size, sigma)

    def splat(y, x):  # the kernel centred on (y, x), on the torus
        return np.roll(np.roll(kernel, y, axis=0), x, axis=1)

    # Initial pattern: a fixed low-discrepancy scatter of ~10% ones (golden-ratio lattice, no RNG).
    ones = max(1, n // 10)
    phi = (np.sqrt(5.0) - 1.0) / 2.0
    k = np.arange(ones)
    ys = (np.floor(size * ((k * phi) % 1.0)).astype(int) + (k * 7) % size) % size
    xs = (k * size // ones) % size
    pattern = np.zeros((size, size), bool)
    pattern[ys, xs] = True
    ones = int(pattern.sum())
    energy = np.zeros((size, size))
    for y, x in zip(*np.nonzero(pattern)):
        energy += splat(y, x)
    # Relax: move the tightest cluster to the largest void until stable.
    for _ in range(4 * n):
        cluster = np.unravel_index(np.argmax(np.where(pattern, energy, -np.inf)), pattern.shape)
        pattern[cluster] = False
        energy -= splat(*cluster)
        void = np.unravel_index(np.argmin(np.where(pattern, np.inf, energy)), pattern.shape)
        if void == cluster:
            pattern[cluster] = True
            energy += splat(*cluster)
            break
        pattern[void] = True
        energy += splat(*void)
    initial, initial_energy = pattern.copy(), energy.copy()
    rank = np.zeros((size, size), np.int64)
    # Phase 1: remove the tightest clusters of the initial pattern, ranks ones-1 .. 0.
    for r in range(ones - 1, -1, -1):
        cluster = np.unravel_index(np.argmax(np.where(pattern, energy, -np.inf)), pattern.shape)
        pattern[cluster] = False
        energy -= splat(*cluster)
        rank[cluster] = r
    # Phases 2 and 3: fill the largest voids, ranks ones .. n-1.
    pattern, energy = initial, initial_energy
    for r in range(ones, n):
        void = np.unravel_index(np.argmin(np.where(pattern, np.inf, energy)), pattern.shape)
        pattern[void] = True
        energy += splat(*void)
        rank[void] = r
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
