"""GC's encoder E (§3.1, Appendix A): ``c7s1-60, d120, d240, d480, d960, c3s1-C`` (widths times the multiplier).

cNsS-K: N x N convolution, stride S, K filters, instance norm (the paper; ``norm="none"`` drops it), ReLU;
dK: 3 x 3, stride 2. The last convolution is linear (its output is quantized). [B, H, W, 3] in [-1, 1] -> [B, H/16, W/16, C].
"""
from __future__ import annotations

import keras

from gif_pipeline.models.compress.blocks import conv_block
from gif_pipeline.models.compress.config import CompressionConfig


def build_encoder(config: CompressionConfig) -> keras.Model:
    widths = config.encoder_widths
    x = inputs = keras.Input((None, None, 3), name="image")
    x = conv_block(x, widths[0], 7, name="c7s1", norm=config.norm)
    for i, w in enumerate(widths[1:]):
        x = conv_block(x, w, 3, strides=2, name=f"d{i + 1}", norm=config.norm)
    w = keras.layers.Conv2D(config.channels, 3, padding="same", name="latent")(x)
    return keras.Model(inputs, w, name="encoder")
