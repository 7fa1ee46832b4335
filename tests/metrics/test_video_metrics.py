"""Animation measures of gif_pipeline.metrics.video: colour error, flicker, PSNR."""
from __future__ import annotations

import numpy as np
import pytest

from gif_pipeline.metrics import video

pytest.importorskip("skimage")


def checker(h=32, w=32, a=(60, 60, 60), b=(200, 200, 200)) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.where(((x + y) % 2 == 0)[..., None], np.array(a, np.uint8), np.array(b, np.uint8)).astype(np.uint8)


def test_colour_error_ignores_fine_dither_but_sees_a_colour_cast():
    grey = np.full((32, 32, 3), 151, np.uint8)  # the linear-light mean of the checker's 60 and 200
    dots = checker()
    cast = np.clip(grey.astype(int) + (-8, -2, 12), 0, 255).astype(np.uint8)  # the same grey turned blue
    assert video.colour_error([grey], [grey]) == 0.0
    dithered, blue = video.colour_error([grey], [dots]), video.colour_error([grey], [cast])
    assert dithered < 1.0 < 5.0 < blue  # the dots merge at the blur; the cast stays
    assert video.mean_psnr([grey], [dots]) < video.mean_psnr([grey], [cast])  # PSNR ranks them the other way
    with pytest.raises(ValueError):
        video.colour_error([grey], [])


def test_flicker_counts_changes_on_still_source_pixels_only():
    still = [np.zeros((4, 4, 3), np.uint8)] * 3
    shown = [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 6, np.uint8), np.zeros((4, 4, 3), np.uint8)]
    assert video.flicker(still, shown) == pytest.approx(6.0)
    moving = [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 50, np.uint8), np.zeros((4, 4, 3), np.uint8)]
    assert video.flicker(moving, shown) == 0.0
