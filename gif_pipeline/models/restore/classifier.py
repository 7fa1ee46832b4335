"""The dither classifier (GIF2Video §6.1.1): is this GIF dithered?

``G`` in [-1, 1] and its forward-difference magnitudes ``|dG/dx|, |dG/dy|`` (9 channels) -> four stride-2
3x3 conv + BN + LeakyReLU(0.2) layers (64-128-256-256 at full width) -> global average pooling -> one logit
(P(dithered) = sigmoid). Dither noise is a high-frequency texture on flat regions, which the gradient maps
expose directly. The result routes a GIF to the CCDNet trained on dithered or on plain GIFs.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from gif_pipeline.models.restore.config import ClassifierConfig

__all__ = ["GradientMaps", "build_classifier"]


@keras.saving.register_keras_serializable(package="restore")
class GradientMaps(layers.Layer):
    """``[B, H, W, C] -> [B, H, W, 3C]``: the image, ``|x[:, :, j+1] - x[:, :, j]|`` and ``|x[:, i+1] - x[:, i]|``
    (zero in the last column / row)."""

    def call(self, x):
        dx = tf.abs(x[:, :, 1:] - x[:, :, :-1])
        dy = tf.abs(x[:, 1:] - x[:, :-1])
        dx = tf.concat([dx, tf.zeros_like(x[:, :, :1])], axis=2)
        dy = tf.concat([dy, tf.zeros_like(x[:, :1])], axis=1)
        return tf.concat([x, dx, dy], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], 3 * input_shape[3])


def build_classifier(config: ClassifierConfig | None = None, name: str = "gif_classifier") -> keras.Model:
    """``gif [B, H, W, 3]`` in [-1, 1] -> the logit of "dithered" ``[B, 1]``."""
    config = config if config is not None else ClassifierConfig()
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
    gif = keras.Input((None, None, 3), name="gif")
    x = GradientMaps(name="gradients")(gif)
    for i, channels in enumerate(config.scaled_channels):
        x = layers.Conv2D(channels, 3, strides=2, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=config.batch_norm_momentum, name=f"conv{i}_bn")(x)
        x = layers.LeakyReLU(config.leak, name=f"conv{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logit = layers.Dense(1, name="logit")(x)
    return keras.Model(gif, logit, name=name)
