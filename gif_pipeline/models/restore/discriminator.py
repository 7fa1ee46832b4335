"""The PatchGAN of CCDNet's optional adversarial loss (GIF2Video §4.2; the authors' release uses pix2pix's
``n_layers`` discriminator on ``[G, I, grad I]``). Training only: nothing at inference reads it."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from gif_pipeline.models.restore.config import DiscriminatorConfig
from gif_pipeline.models.restore.losses import forward_differences

#: Channels the discriminator reads: the GIF (3), the image (3) and the image's x and y forward differences (6).
INPUT_CHANNELS = 12


def discriminator_input(gif, image) -> tf.Tensor:
    """``[G, I, dx(I), dy(I)]`` (``[B, H, W, 12]``): the forward differences padded with a zero column (row) on the
    left (top), so they keep the image's size."""
    image = tf.convert_to_tensor(image, tf.float32)
    dx, dy = forward_differences(image)
    dx = tf.pad(dx, [[0, 0], [0, 0], [1, 0], [0, 0]])
    dy = tf.pad(dy, [[0, 0], [1, 0], [0, 0], [0, 0]])
    return tf.concat([tf.cast(gif, tf.float32), image, dx, dy], axis=-1)


def build_discriminator(config: DiscriminatorConfig | None = None, name: str = "ccdnet_discriminator") -> keras.Model:
    """``[B, H, W, 12]`` (:func:`discriminator_input`) -> ``[B, h, w, 1]`` patch logits (real > 0)."""
    config = config if config is not None else DiscriminatorConfig()
    x = inputs = keras.Input((None, None, INPUT_CHANNELS), name=f"{name}_input")
    channels = config.channels
    for i, c in enumerate(channels):
        last = i == len(channels) - 1
        x = layers.ZeroPadding2D(1, name=f"{name}_pad{i}")(x)
        x = layers.Conv2D(c, 4, strides=1 if last else 2, use_bias=i == 0, name=f"{name}_conv{i}")(x)
        if i:
            x = layers.BatchNormalization(momentum=config.batch_norm_momentum, name=f"{name}_bn{i}")(x)
        x = layers.LeakyReLU(config.leak, name=f"{name}_act{i}")(x)
    x = layers.ZeroPadding2D(1, name=f"{name}_pad_out")(x)
    x = layers.Conv2D(1, 4, name=f"{name}_logits")(x)
    return keras.Model(inputs, x, name=name)
