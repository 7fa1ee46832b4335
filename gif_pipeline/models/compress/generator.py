"""GC's generator G (§3.2, Appendix A): ``c3s1-960, 9 x R960, u480, u240, u120, u60, c7s1-3``.

RK: residual block (two 3 x 3 convolutions with instance norm, ReLU between, identity skip); uK: 3 x 3
transposed convolution, stride 2 (``upsample="resize"``: nearest-neighbour 2x, then a 3 x 3 convolution), instance
norm (``norm="instance"``), ReLU; the last layer ends in tanh. Widths times the multiplier, ``residual_blocks``
blocks (paper: 9). With ``selective``, G reads the keep map (1 where the code
was sent) as one more input channel, so it knows where a zero code means "synthesize" (§3.3).
``colour_shortcut`` (not in the paper) adds a 1 x 1 convolution of the code, upsampled bilinearly 16x, before the tanh.
``generator_padding="symmetric"`` mirrors the features before each stride-1 convolution instead of zero padding
(pix2pixHD's reflection padding; zero padding drew a coloured frame along the borders; transposed convolutions keep
Keras' padding). The paper's optional noise channels are not used (its GC models without noise are the ones reported).
"""
from __future__ import annotations

import keras

from gif_pipeline.layers.unet import Upsample2x
from gif_pipeline.models.compress.blocks import conv, conv_block, norm_layer
from gif_pipeline.models.compress.config import CompressionConfig


def build_generator(config: CompressionConfig) -> keras.Model:
    widths = config.generator_widths
    channels = config.channels + (1 if config.selective else 0)
    x = inputs = keras.Input((None, None, channels), name="code")
    pad = config.generator_padding
    x = conv_block(x, widths[0], 3, name="c3s1", norm=config.norm, padding=pad)
    for i in range(config.residual_blocks):
        y = conv_block(x, widths[0], 3, name=f"res{i}_a", norm=config.norm, padding=pad)
        y = conv(y, widths[0], 3, f"res{i}_b_conv", padding=pad)
        y = norm_layer(y, config.norm, f"res{i}_b_norm")
        x = keras.layers.Add(name=f"res{i}_add")([x, y])
    for i, w in enumerate(widths[1:]):
        if config.upsample == "resize":
            x = Upsample2x("nearest", name=f"u{i + 1}_up")(x)
            x = conv(x, w, 3, f"u{i + 1}_conv", padding=pad)
        else:
            x = keras.layers.Conv2DTranspose(w, 3, strides=2, padding="same", name=f"u{i + 1}_conv")(x)
        x = norm_layer(x, config.norm, f"u{i + 1}_norm")
        x = keras.layers.ReLU(name=f"u{i + 1}_relu")(x)
    x = conv(x, 3, 7, "c7s1_out", padding=pad, activation=None if config.colour_shortcut else "tanh")
    if not config.colour_shortcut:
        return keras.Model(inputs, x, name="generator")
    base = keras.layers.Conv2D(3, 1, name="shortcut_conv")(inputs)
    for i in range(4):  # 16x, bilinear
        base = Upsample2x("bilinear", name=f"shortcut_up{i + 1}")(base)
    x = keras.layers.Add(name="shortcut_add")([x, base])
    x = keras.layers.Activation("tanh", name="out_tanh")(x)
    return keras.Model(inputs, x, name="generator")
