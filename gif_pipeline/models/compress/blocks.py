"""Layers GC's networks share: instance normalization (E and G use it after every convolution but the last)."""
from __future__ import annotations

import keras
from keras import ops

from gif_pipeline.layers.unet import SymmetricPad


@keras.saving.register_keras_serializable(package="gifnets.compress")
class InstanceNorm(keras.layers.Layer):
    """Instance normalization with a learned per-channel scale and offset (Ulyanov et al. 2016)."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

    def call(self, x):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        return (x - mean) * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def norm_layer(x, norm: str, name: str):
    return InstanceNorm(name=name)(x) if norm == "instance" else x


def conv(x, filters, kernel, name, strides=1, padding="zeros", activation=None):
    """A ``kernel`` x ``kernel`` convolution that keeps the size (stride 1): zero padding (Keras' "same") or
    ``padding="symmetric"`` (:class:`SymmetricPad` then a "valid" convolution; the weights are the same)."""
    if padding == "symmetric" and kernel > 1:
        if strides != 1:
            raise ValueError("symmetric padding is for stride-1 convolutions")
        x = SymmetricPad(kernel // 2, name=f"{name}_pad")(x)
        return keras.layers.Conv2D(filters, kernel, padding="valid", activation=activation, name=name)(x)
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", activation=activation, name=name)(x)


def conv_block(x, filters, kernel, strides=1, name="", norm="instance", padding="zeros"):
    x = conv(x, filters, kernel, f"{name}_conv", strides=strides, padding=padding)
    x = norm_layer(x, norm, f"{name}_norm")
    return keras.layers.ReLU(name=f"{name}_relu")(x)
