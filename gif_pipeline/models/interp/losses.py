"""The interpolation losses of GIF2Video §4.2 / Super SloMo §3.3, as the authors' release weighs them.

Images are in [-1, 1]; image terms are reported in 0-255 units (x127.5) and the smoothness term in pixels
(x ``max_flow``, the flows being tanh outputs), so the weights of :class:`InterpLossConfig` (0.5, 0.5, 0.5, 1)
mean what they mean in the release.
"""
from __future__ import annotations

import tensorflow as tf

from gif_pipeline.layers.warp import backward_warp

_UNITS = 127.5  # [-1, 1] -> 0-255


def l1(a, b):
    return tf.reduce_mean(tf.abs(a - b))


def image_gradients(x):
    """Forward differences along x and y (``[B, H, W-1, C]``, ``[B, H-1, W, C]``)."""
    return x[:, :, 1:] - x[:, :, :-1], x[:, 1:] - x[:, :-1]


def gradient_l1(pred, target):
    """Gradient difference loss: L1 between the images' spatial gradients (the release's ``f_gdl``)."""
    (px, py), (tx, ty) = image_gradients(pred), image_gradients(target)
    return l1(px, tx) + l1(py, ty)


def smoothness(flow):
    """Total variation of a flow field (Super SloMo Eq. 8): mean |dF/dx| + mean |dF/dy|."""
    fx, fy = image_gradients(flow)
    return tf.reduce_mean(tf.abs(fx)) + tf.reduce_mean(tf.abs(fy))


def interp_losses(out: dict, frame0, frame1, frame_t, max_flow: float, config) -> tuple[tf.Tensor, dict]:
    """Total loss and its terms for one interpolated frame per example.

    ``out`` is :class:`InterpNet`'s output (``frame``, ``f01``, ``f10``, ``ft0_init``, ``ft1_init``; flows in
    units of ``max_flow``); ``frame0``, ``frame1``, ``frame_t`` are the true frames. The warping term
    (Super SloMo Eq. 7) warps the true frames with the flow U-Net's flows: frame 1 by F01 onto frame 0, frame 0
    by F10 onto frame 1, and both onto frame t by the initial intermediate flows.
    """
    warp = lambda image, flow: backward_warp(image, flow * max_flow)  # noqa: E731
    reconstruction = _UNITS * l1(out["frame"], frame_t)
    gradient = _UNITS * gradient_l1(out["frame"], frame_t)
    warping = _UNITS * (l1(warp(frame1, out["f01"]), frame0) + l1(warp(frame0, out["f10"]), frame1)
                        + l1(warp(frame0, out["ft0_init"]), frame_t) + l1(warp(frame1, out["ft1_init"]), frame_t))
    smooth = max_flow * (smoothness(out["f01"]) + smoothness(out["f10"]))
    total = (config.reconstruction * reconstruction + config.gradient * gradient + config.warping * warping
             + config.smoothness * smooth)
    return total, {"reconstruction": reconstruction, "gradient": gradient, "warping": warping, "smoothness": smooth}
