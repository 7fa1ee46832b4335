"""The lattice score of a dither: how much of its error is a periodic dot pattern on the 8-pixel grid.

A dither's error image (output minus original, BT.601 luma) should be broadband noise, like
Floyd-Steinberg's or blue noise. A network that pools and up-samples by 2 three times can instead
print a regular pattern whose period divides 8 pixels (issue 29). Following the project's
``shared/tools/lattice.py``: average the error's power spectrum over images of one size, then at each
frequency of the 8-pixel grid (``ky * H / 8``, ``kx * W / 8`` for ``ky, kx`` in 0..7, leaving out DC and
the pure 2-pixel checkerboard, which is not a lattice) divide the power by the median of the ring of
bins 2-3 away; the score is the largest ratio. Broadband dither scores about 1 to 4; a visible
lattice scores tens.
"""
from __future__ import annotations

import numpy as np

from gif_pipeline.metrics.image import luma

GRID = 8  # the period, in pixels, whose harmonics are checked


def error_spectrum(reference: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Power spectrum ``|FFT(e)|^2`` (float64 ``[H, W]``) of the luma error ``e = luma(output) - luma(reference)``,
    its mean removed."""
    if reference.shape != output.shape:
        raise ValueError(f"images differ in shape: {reference.shape} and {output.shape}")
    error = luma(output) - luma(reference)
    error -= error.mean()
    return np.abs(np.fft.fft2(error)) ** 2


def lattice_score(spectrum: np.ndarray) -> float:
    """The largest ratio of the power at an 8-pixel-grid frequency to the median of the bins around it."""
    h, w = spectrum.shape
    if h < GRID or w < GRID:
        raise ValueError(f"the spectrum must be at least {GRID}x{GRID}, got {h}x{w}")
    ratios = []
    for ky in range(GRID):
        for kx in range(GRID):
            if ky in (0, GRID // 2) and kx in (0, GRID // 2):
                continue  # DC and the pure 2-pixel checkerboard (the finest ordered dither)
            y, x = ky * h // GRID, kx * w // GRID
            ring = [spectrum[(y + dy) % h, (x + dx) % w] for dy in range(-3, 4) for dx in range(-3, 4)
                    if max(abs(dy), abs(dx)) >= 2]
            median = float(np.median(ring))
            ratios.append(float(spectrum[y, x]) / median if median > 0 else (0.0 if spectrum[y, x] == 0 else np.inf))
    return float(max(ratios))


class LatticeAccumulator:
    """Sums error spectra per key and image size; :meth:`score` of a key is that of its most common size."""

    def __init__(self):
        self._sums: dict = {}

    def add(self, key, reference: np.ndarray, output: np.ndarray) -> None:
        spectrum = error_spectrum(reference, output)
        entry = self._sums.setdefault((key, spectrum.shape), [np.zeros_like(spectrum), 0])
        entry[0] += spectrum
        entry[1] += 1

    def spectrum(self, key) -> np.ndarray | None:
        """The mean error spectrum of ``key``'s most common image size (None if nothing was added)."""
        groups = [(count, total) for (k, _), (total, count) in self._sums.items() if k == key]
        if not groups:
            return None
        count, total = max(groups, key=lambda g: g[0])
        return total / count

    def score(self, key) -> float:
        spectrum = self.spectrum(key)
        return float("nan") if spectrum is None else lattice_score(spectrum)


def spectrum_image(spectrum: np.ndarray, decades: float = 3.0) -> np.ndarray:
    """A picture of a power spectrum: DC in the middle, log power from the median (black) up to
    ``decades`` decades above it (white), uint8 ``[H, W]``. A lattice shows as a grid of bright dots."""
    p = np.fft.fftshift(np.asarray(spectrum, np.float64))
    p[p.shape[0] // 2, p.shape[1] // 2] = 0.0  # DC (the mean was removed; keep it out of the picture)
    floor = np.median(p[p > 0]) if np.any(p > 0) else 1.0
    level = np.log10(np.maximum(p, 1e-12) / floor) / decades
    return (np.clip(level, 0.0, 1.0) * 255.0).round().astype(np.uint8)
