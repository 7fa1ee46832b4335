"""PSNR, SSIM and WSNR (Kite, Evans & Bovik 2000)."""
import math
import os

import numpy as np
import pytest
from PIL import Image

import checks  # noqa: E402
from gif_pipeline.metrics import image as metrics

DATA = checks.FIXTURES


def _photo():
    return np.asarray(Image.open(os.path.join(DATA, "retina_64.png")).convert("RGB"))


def test_psnr_hand_computed():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[:4, :4] = 120  # error 20 on a quarter of the samples: MSE = 400 / 4 = 100
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100.0), abs=1e-9)  # 28.1308 dB
    assert metrics.psnr(a, b) == pytest.approx(28.1308, abs=1e-4)
    assert metrics.psnr(b, a) == metrics.psnr(a, b)
    assert metrics.psnr(a, a) == math.inf
    # Any matching shape works (the encoder passes [1, N, 3] lists of opaque pixels).
    assert metrics.psnr(a.reshape(1, -1, 3), b.reshape(1, -1, 3)) == metrics.psnr(a, b)


def test_ssim_identical_is_one_and_noise_lowers_it():
    a = _photo()
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(0)
    light = np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    s_light, s_heavy = metrics.ssim(a, light), metrics.ssim(a, heavy)
    assert 0 < s_heavy < s_light < 1
    assert metrics.ssim(light, a) == pytest.approx(s_light, abs=1e-6)  # symmetric
    # Images smaller than the 11x11 window still work.
    assert metrics.ssim(a[:6, :5], a[:6, :5]) == pytest.approx(1.0, abs=1e-6)


def test_luma_bt601():
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)
    np.testing.assert_allclose(metrics.luma(rgb), [0.299 * 255, 0.587 * 255, 0.114 * 255, 255.0])


def test_wsnr_penalizes_low_frequency_error_more_than_high_frequency_error():
    base = np.full((32, 32, 3), 128, np.uint8)
    base[:, :16] = 96  # some structure in the reference
    y, x = np.mgrid[0:32, 0:32]
    checker = np.where((x + y) % 2 == 0, 8, -8)[..., None]  # highest frequency, like dithering
    rng = np.random.default_rng(0)
    noise = rng.choice([-8, 8], size=(32, 32))[..., None]  # white, dither-like noise
    offset = np.full((32, 32, 1), 8)  # smooth: a constant shift (lowest frequency)
    ramp = np.where(x < 16, 8, -8)[..., None]  # low-frequency error
    outs = {name: (base.astype(int) + e).astype(np.uint8)
            for name, e in [("checker", checker), ("noise", noise), ("offset", offset), ("ramp", ramp)]}
    psnrs = {k: metrics.psnr(base, v) for k, v in outs.items()}
    assert max(psnrs.values()) - min(psnrs.values()) < 1e-9  # equal MSE
    w = {k: metrics.wsnr(base, v) for k, v in outs.items()}
    assert w["checker"] > w["noise"] > w["ramp"] and w["noise"] > w["offset"], w
    assert w["noise"] - w["offset"] > 1.0, w  # a clear margin, in dB
    assert w["checker"] - w["offset"] > 10.0, w


def test_wsnr_identical_is_inf_and_finer_viewing_favours_dither_noise():
    a = _photo()
    assert metrics.wsnr(a, a) == math.inf
    assert metrics.psnr(a, a) == math.inf
    rng = np.random.default_rng(1)
    noisy = np.clip(a.astype(int) + rng.choice([-6, 6], size=a.shape[:2])[..., None], 0, 255).astype(np.uint8)
    near, far = metrics.wsnr(a, noisy, viewing_distance=25.0), metrics.wsnr(a, noisy, viewing_distance=100.0)
    assert far > near  # from farther away the eye sees less of the high-frequency noise
    assert metrics.pixels_per_degree() == pytest.approx(32.98, abs=0.01)
    assert metrics.wsnr(a, noisy, pixels_per_deg=metrics.pixels_per_degree()) == metrics.wsnr(a, noisy)
    black = np.zeros((8, 8, 3), np.uint8)
    assert metrics.wsnr(black, black + 1) == -math.inf


@pytest.mark.parametrize("fn", [metrics.psnr, metrics.ssim, metrics.wsnr])
def test_shape_mismatch_raises_both_ways(fn):
    a = np.zeros((16, 16, 3), np.uint8)
    b = np.zeros((16, 15, 3), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        fn(a, b)
    with pytest.raises(ValueError, match="same shape"):
        fn(b, a)


@pytest.mark.parametrize("fn", [metrics.ssim, metrics.wsnr])
def test_rgb_metrics_need_rgb(fn):
    with pytest.raises(ValueError, match="RGB"):
        fn(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8))


def test_empty_and_non_numeric_raise():
    with pytest.raises(ValueError, match="empty"):
        metrics.psnr(np.zeros((0, 3), np.uint8), np.zeros((0, 3), np.uint8))
    with pytest.raises(ValueError, match="numeric"):
        metrics.psnr(np.array(["a"]), np.array(["b"]))
    with pytest.raises(ValueError, match="> 0"):
        metrics.wsnr(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8), viewing_distance=0)
