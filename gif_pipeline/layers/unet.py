"""The U-Net building blocks shared by the model families.

* :func:`conv_bn_relu`: 3x3 conv (no bias) + batch norm + ReLU, the layer every U-Net here is made of
  (foldable by :func:`gif_pipeline.layers.folding.fold_batch_norm`).
* :class:`PadToMultiple` / :class:`CropLike` / :func:`symmetric_pad`: pad any ``H, W`` to a multiple of the
  pooling grid (mirror, bottom/right) and crop the output back.
* :class:`SymmetricPad`: pad every side by a fixed width (mirror with edge repeat), the padding before a "valid"
  convolution where zero padding would draw the image's borders (GC's generator; pix2pixHD pads this way).
* :class:`Upsample2x`: 2x resize (bilinear or nearest) that traces with unknown ``H, W`` (DitherNet's resize
  variant, GC's resize-convolution generator).
* :func:`unet`: the classic U-Net body (Ronneberger et al. 2015) as GIF2Video's CCDNet uses it (Wang et al.,
  CVPR 2019, §4; the authors' ``UNet_simple``): ``len(level_channels)`` levels, ``convs_per_level`` conv+BN+ReLU
  per block, 2x2 average pooling down, 2x2 stride-2 transposed conv up, skip concatenation.

GIFnets' DitherNet (``models/gifnets/dither_net.py``) builds its own layout (one conv per entry, max pooling,
a 512-wide bottleneck: GIFnets §3.2) from :func:`conv_bn_relu` and the padding layers; its layer names and the
layers' registered names (``gifnets>PadToMultiple``, ``gifnets>CropLike``, ``gifnets>Upsample2x``) are unchanged, so the shipped
``.keras`` files load as before.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

__all__ = ["symmetric_pad", "PadToMultiple", "SymmetricPad", "CropLike", "Upsample2x", "conv_bn_relu", "unet"]


def _symmetric_indices(n, before, after):
    """Source indices of a symmetric ("mirror with edge repeat") padding of an axis of length n.

    Works for any pad width (also wider than the axis, where it keeps mirroring), unlike
    ``tf.pad(mode="SYMMETRIC")``. Only builtin TFLite ops (range, floormod, where).
    """
    j = tf.range(-before, n + after)
    i = tf.math.floormod(j, 2 * n)
    return tf.where(i >= n, 2 * n - 1 - i, i)


def symmetric_pad(x, top, bottom, left, right):
    """Symmetrically pad ``x [B, H, W, C]`` by the given (possibly dynamic) amounts on each side."""
    shape = tf.shape(x)
    x = tf.gather(x, _symmetric_indices(shape[1], top, bottom), axis=1)
    return tf.gather(x, _symmetric_indices(shape[2], left, right), axis=2)


@keras.saving.register_keras_serializable(package="gifnets")
class PadToMultiple(layers.Layer):
    """Symmetric padding at the bottom/right so that H and W become multiples of ``multiple``."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(multiple, int) or multiple < 1:
            raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
        self.multiple = multiple

    def call(self, x):
        if self.multiple == 1:
            return x
        shape = tf.shape(x)
        pad_h = tf.math.floormod(-shape[1], self.multiple)
        pad_w = tf.math.floormod(-shape[2], self.multiple)
        return symmetric_pad(x, 0, pad_h, 0, pad_w)

    def compute_output_shape(self, input_shape):
        def up(n):
            return None if n is None else -(-n // self.multiple) * self.multiple
        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="gifnets")
class SymmetricPad(layers.Layer):
    """``[B, H, W, C] -> [B, H + 2p, W + 2p, C]``: :func:`symmetric_pad` by ``p`` on every side (any H, W)."""

    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pad, int) or pad < 0:
            raise ValueError(f"pad must be a non-negative integer, got {pad!r}")
        self.pad = pad

    def call(self, x):
        return x if self.pad == 0 else symmetric_pad(x, self.pad, self.pad, self.pad, self.pad)

    def compute_output_shape(self, input_shape):
        def grow(n):
            return None if n is None else n + 2 * self.pad
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="gifnets")
class CropLike(layers.Layer):
    """``[x, reference] -> x[:, :H_ref, :W_ref]`` (undoes :class:`PadToMultiple`)."""

    def call(self, inputs):
        x, reference = inputs
        shape = tf.shape(reference)
        return x[:, :shape[1], :shape[2]]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


@keras.saving.register_keras_serializable(package="gifnets")
class Upsample2x(layers.Layer):
    """``[B, H, W, C] -> [B, 2H, 2W, C]`` by ``tf.image.resize`` ("bilinear": half-pixel centres, or "nearest").

    Keras' ``UpSampling2D`` fails when traced with unknown height and width (as ``gifnets encode`` and the
    SavedModel export trace DitherNet, and GC's generator); this one reads the size at run time. TFLite: RESIZE_BILINEAR /
    RESIZE_NEAREST_NEIGHBOR.
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, x):
        size = tf.shape(x)[1:3] * 2
        method = tf.image.ResizeMethod.BILINEAR if self.interpolation == "bilinear" else \
            tf.image.ResizeMethod.NEAREST_NEIGHBOR
        return tf.cast(tf.image.resize(x, size, method=method), x.dtype)

    def compute_output_shape(self, input_shape):
        def up(n):
            return None if n is None else 2 * n
        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


def conv_bn_relu(x, channels: int, momentum: float, name: str, synchronized: bool = True):
    """3x3 conv (no bias, He init) + batch norm + ReLU, named ``{name}_conv``, ``{name}_bn``, ``{name}_relu``."""
    x = layers.Conv2D(channels, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=momentum, synchronized=synchronized, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def unet(x, level_channels, convs_per_level: int = 2, momentum: float = 0.9, name: str = "unet",
         synchronized: bool = False):
    """The U-Net body on ``x`` (H, W multiples of ``2 ** (len(level_channels) - 1)``; see :class:`PadToMultiple`).

    Encoder level ``i`` is a block of ``convs_per_level`` :func:`conv_bn_relu` with ``level_channels[i]`` filters,
    preceded (for ``i > 0``) by 2x2 average pooling. Decoder level ``i`` (from the bottom up) is a 2x2 stride-2
    transposed conv keeping the channel count, concatenation with encoder level ``i``'s output, and a block with
    ``level_channels[max(i - 1, 0)]`` filters (the authors' layout: 64-128-256-512-512 down, 256-128-64-64 up).
    Returns the top decoder block's features (``level_channels[0]`` channels); the caller adds the output conv.
    """
    level_channels = tuple(int(c) for c in level_channels)
    if len(level_channels) < 1 or any(c < 1 for c in level_channels):
        raise ValueError(f"level_channels must be positive integers, got {level_channels!r}")
    if convs_per_level < 1:
        raise ValueError(f"convs_per_level must be >= 1, got {convs_per_level!r}")

    def block(x, channels, prefix):
        for j in range(convs_per_level):
            x = conv_bn_relu(x, channels, momentum, f"{prefix}_{j}", synchronized)
        return x

    skips = []
    for i, channels in enumerate(level_channels):
        if i:
            x = layers.AveragePooling2D(2, strides=2, name=f"{name}_pool{i}")(x)
        x = block(x, channels, f"{name}_enc{i}")
        skips.append(x)
    for i in reversed(range(len(level_channels) - 1)):
        width = int(x.shape[-1])
        x = layers.Conv2DTranspose(width, 2, strides=2, kernel_initializer="he_normal", name=f"{name}_up{i}")(x)
        x = layers.Concatenate(axis=-1, name=f"{name}_skip{i}")([skips[i], x])
        x = block(x, level_channels[max(i - 1, 0)], f"{name}_dec{i}")
    return x
