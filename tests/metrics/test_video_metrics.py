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


def test_vmaf_neg_does_not_reward_a_frame_sharpened_past_its_source():
    """One libvmaf pass gives both models; the default model scores a sharpened copy above the source itself, NEG
    below it (why the animation bench reports NEG beside VMAF)."""
    pytest.importorskip("imageio_ffmpeg")
    from scipy import ndimage

    y, x = np.mgrid[0:96, 0:128]
    rng = np.random.default_rng(3)
    base = 128 + 60 * np.sin(x / 7.0) * np.cos(y / 9.0) + ndimage.gaussian_filter(rng.normal(0, 30, (96, 128)), 2)
    frame = np.clip(np.rint(np.stack([base, base * 0.9, base * 0.8], -1)), 0, 255).astype(np.uint8)
    soft = np.stack([ndimage.gaussian_filter(frame[..., c].astype(float), 1.0) for c in range(3)], -1)
    sharp = np.clip(np.rint(frame + 0.3 * (frame - soft)), 0, 255).astype(np.uint8)
    same = video.vmaf_scores([frame], [frame], models=("vmaf", "vmaf_neg"))
    both = video.vmaf_scores([frame], [sharp], models=("vmaf", "vmaf_neg"))
    assert both["vmaf"] == pytest.approx(video.vmaf([frame], [sharp]))
    assert both["vmaf"] > same["vmaf"] + 0.2  # the default model's enhancement gain
    assert both["vmaf_neg"] < same["vmaf_neg"]  # NEG: the sharpened copy is worse than the source
    with pytest.raises(ValueError):
        video.vmaf_scores([frame], [frame], models=("psnr",))
