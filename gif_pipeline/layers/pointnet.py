"""PointNet backbone (Qi et al. 2017): the comparison backbone GIFnets evaluates for PaletteNet.

The image is treated as an unordered set of RGB points: a shared per-pixel MLP followed by a
symmetric function (global max-pool over all pixels), so the result does not depend on pixel
order or image size.

Layer mapping (``widths = config.pointnet_widths``, default (64, 128, 1024)):

* ``mlp_{i}``: 1x1 ``Conv2D(widths[i], use_bias=False)`` — the same Dense applied to every pixel,
  identical to a Dense on ``[B, H*W, 3]`` but valid for any ``H, W`` and TFLite-friendly;
* ``mlp_{i}_BatchNorm``, ``mlp_{i}_Relu``;
* ``global_max_pool``: max over all ``H*W`` pixels -> ``[B, widths[-1]]``.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def pointnet_backbone(
    widths: Sequence[int] = (64, 128, 1024),
    batch_norm_momentum: float = 0.99,
    input_channels: int = 3,
    name: str = "PointNet",
) -> keras.Model:
    """Per-pixel shared MLP (BN + ReLU after each layer) then global max-pool: ``[B,H,W,C] -> [B, widths[-1]]``."""
    widths = tuple(widths)
    if not widths or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(f"widths must be a non-empty sequence of positive integers, got {widths!r}")
    inputs = keras.Input(shape=(None, None, input_channels), name="images")
    x = inputs
    for i, width in enumerate(widths):
        x = layers.Conv2D(int(width), 1, use_bias=False, kernel_initializer="he_normal", name=f"mlp_{i}")(x)
        x = layers.BatchNormalization(momentum=batch_norm_momentum, epsilon=1e-3, synchronized=True,
                                      name=f"mlp_{i}_BatchNorm")(x)
        x = layers.ReLU(name=f"mlp_{i}_Relu")(x)
    outputs = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    return keras.Model(inputs, outputs, name=name)
