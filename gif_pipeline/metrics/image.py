"""Image quality metrics for GIF outputs: PSNR, SSIM and WSNR (as reported in GIFnets §4).

Inputs are uint8 ``[H, W, 3]`` RGB images (reference first, distorted second); the
results are Python floats in dB (PSNR, WSNR) or unitless (SSIM). Identical images give
``inf`` for both PSNR and WSNR.

WSNR (Kite, Evans & Bovik, "Modeling and quality assessment of halftoning by error
diffusion", IEEE TIP 9(5), 2000) is an SNR in the frequency domain with both the
reference spectrum ``X`` and the error spectrum ``E`` weighted by a contrast-sensitivity
function ``C``::

    WSNR = 10 log10( sum_uv |C(u,v) X(u,v)|^2 / sum_uv |C(u,v) E(u,v)|^2 )

computed on BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (DC term included). The
CSF is the Mannos–Sakrison-type model used by Kite et al.::

    C(f_r) = 2.6 (0.0192 + 0.114 f_r) exp(-(0.114 f_r)^1.1)    for f_r >= 7.8909 cycles/degree
    C(f_r) = C(7.8909) = 0.9809                                 below the peak (low-pass plateau)
    f_r = f / s(theta),  s(theta) = 0.15 cos(4 theta) + 0.85    (less sensitive on diagonals)

with ``f`` the radial frequency in cycles per degree of visual angle and ``theta`` its
orientation. ``C`` is divided by its peak value 0.9809 so that ``max C = 1``; the
ratio above does not depend on this scale.

Viewing geometry (an assumption that sets how fast ``C`` falls off): a 96 dpi screen
viewed from 50 cm, i.e. ``2 * 50 cm * tan(0.5 deg) * 96 / 2.54 = 32.98`` pixels per
degree, so the Nyquist frequency of the image is 16.49 cycles/degree and the highest
diagonal frequency 23.3 cycles/degree (a checkerboard; normalized ``C`` is 0.68 at
horizontal/vertical Nyquist and 0.13 for the checkerboard). Kite's MATLAB
toolbox instead defaults to 60 cycles/degree at Nyquist (high-resolution print), and
weights only the error spectrum; here we follow the paper's formula above. Pass
``viewing_distance``/``dpi`` or ``pixels_per_degree`` to change the geometry.
"""
from __future__ import annotations

import math

import numpy as np

#: BT.601 luma weights (R, G, B).
BT601 = (0.299, 0.587, 0.114)
#: Kite et al.'s CSF peaks at this radial frequency (cycles/degree); flat below it.
CSF_PEAK_FREQUENCY = 7.8909
DEFAULT_VIEWING_DISTANCE_CM = 50.0
DEFAULT_DPI = 96.0


def _check_pair(a, b, need_rgb: bool = False):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError(f"images must not be empty, got shape {a.shape}")
    for x in (a, b):
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"images must be numeric, got dtype {x.dtype}")
    if need_rgb and (a.ndim != 3 or a.shape[2] != 3):
        raise ValueError(f"expected [H, W, 3] RGB images, got shape {a.shape}")
    return a, b


def luma(rgb) -> np.ndarray:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of ``[..., 3]`` RGB, as float64 ``[...]``."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB values of shape [..., 3], got {rgb.shape}")
    return rgb.astype(np.float64) @ np.asarray(BT601)


#: Values :func:`psnr` converts to float64 at once.
_PSNR_CHUNK = 1 << 18


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)`` over all pixels and channels.

    Any two arrays of the same shape (0..255 scale); ``inf`` when they are identical.
    """
    a, b = _check_pair(a, b)
    a, b = a.reshape(-1), b.reshape(-1)
    total = 0.0
    for start in range(0, a.size, _PSNR_CHUNK):  # in float64 chunks: no full-size float64 copies (a 1200x800
        d = a[start:start + _PSNR_CHUNK].astype(np.float64) - b[start:start + _PSNR_CHUNK]  # photo: 23 MB each)
        total += float(np.dot(d, d))
    mse = total / a.size
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def ssim(a, b) -> float:
    """Mean SSIM over the image and the RGB channels (``tf.image.ssim``, ``max_val=255``).

    Uses the standard 11x11 Gaussian window (sigma 1.5), shrunk to the image size for
    images smaller than 11 pixels on a side. 1.0 for identical images.
    """
    import tensorflow as tf

    a, b = _check_pair(a, b, need_rgb=True)
    size = min(11, a.shape[0], a.shape[1])
    value = tf.image.ssim(tf.constant(a, tf.float32), tf.constant(b, tf.float32), max_val=255.0,
                          filter_size=size)
    return float(value)


def pixels_per_degree(viewing_distance: float = DEFAULT_VIEWING_DISTANCE_CM, dpi: float = DEFAULT_DPI) -> float:
    """Pixels in one degree of visual angle at ``viewing_distance`` cm from a ``dpi`` screen."""
    if not viewing_distance > 0 or not dpi > 0:
        raise ValueError(f"viewing_distance and dpi must be > 0, got {viewing_distance!r} and {dpi!r}")
    return 2.0 * viewing_distance * math.tan(math.radians(0.5)) * dpi / 2.54


def _csf_raw(f_r: np.ndarray) -> np.ndarray:
    return 2.6 * (0.0192 + 0.114 * f_r) * np.exp(-((0.114 * f_r) ** 1.1))


def contrast_sensitivity(shape: tuple[int, int], pixels_per_deg: float) -> np.ndarray:
    """Kite et al.'s CSF on the ``np.fft.fft2`` frequency grid of an ``[H, W]`` image, peak 1."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None] * pixels_per_deg  # cycles/pixel * pixels/degree
    fx = np.fft.fftfreq(w)[None, :] * pixels_per_deg
    f = np.hypot(fx, fy)
    theta = np.arctan2(fy, fx)
    f_r = f / (0.15 * np.cos(4.0 * theta) + 0.85)
    peak = _csf_raw(CSF_PEAK_FREQUENCY)
    return np.where(f_r < CSF_PEAK_FREQUENCY, peak, _csf_raw(f_r)) / peak


def wsnr(a, b, viewing_distance: float = DEFAULT_VIEWING_DISTANCE_CM, dpi: float = DEFAULT_DPI,
         pixels_per_deg: float | None = None) -> float:
    """CSF-weighted SNR in dB (Kite, Evans & Bovik 2000) of ``b`` against the reference ``a``.

    ``viewing_distance`` is in cm; with ``dpi`` it sets the pixels per degree (default
    32.98, see the module docstring) unless ``pixels_per_deg`` is given. ``inf`` when the
    images are identical; ``-inf`` when the reference is black (no signal) and ``b`` is not.
    """
    a, b = _check_pair(a, b, need_rgb=True)
    ppd = pixels_per_degree(viewing_distance, dpi) if pixels_per_deg is None else float(pixels_per_deg)
    if not ppd > 0:
        raise ValueError(f"pixels_per_deg must be > 0, got {pixels_per_deg!r}")
    ref, dist = luma(a), luma(b)
    csf = contrast_sensitivity(ref.shape, ppd)
    noise = float(np.sum(np.abs(csf * np.fft.fft2(ref - dist)) ** 2))
    if noise == 0:
        return math.inf
    signal = float(np.sum(np.abs(csf * np.fft.fft2(ref)) ** 2))
    return -math.inf if signal == 0 else 10.0 * math.log10(signal / noise)
