"""The compression model: encoder E, quantizer, keep map and generator G in one Keras model (GC §3).

``Compressor(x, keep)`` takes images in [-1, 1] and a keep map at the latent resolution (1: the code is sent,
0: the region is synthesized from a zero code, GC §3.3) and returns the reconstruction and the quantized
code. The deployable graphs (uint8 in and out, padding, symbols) are in :mod:`.graph`.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gif_pipeline.models.compress import quantizer
from gif_pipeline.models.compress.config import DOWNSAMPLING, CompressionConfig
from gif_pipeline.models.compress.encoder import build_encoder
from gif_pipeline.models.compress.generator import build_generator


def latent_keep(mask):
    """An image-resolution keep mask [B, H, W, 1] (H, W multiples of 16) -> the latent grid: a cell is kept when
    any of its 16 x 16 pixels is."""
    return tf.nn.max_pool2d(tf.cast(mask, tf.float32), DOWNSAMPLING, DOWNSAMPLING, "VALID")


def pixel_keep(keep):
    """The latent keep map [B, h, w, 1] -> pixels [B, 16h, 16w, 1] (each cell covers 16 x 16 pixels)."""
    return tf.repeat(tf.repeat(keep, DOWNSAMPLING, axis=1), DOWNSAMPLING, axis=2)


@keras.saving.register_keras_serializable(package="gifnets.compress")
class Compressor(keras.Model):
    def __init__(self, config: CompressionConfig | None = None, **kwargs):
        if isinstance(config, dict):
            config = CompressionConfig.from_dict(config)
        config = config or CompressionConfig()
        super().__init__(**kwargs)
        self.config = config
        self.encoder = build_encoder(config)
        self.generator = build_generator(config)
        n = config.num_centers
        # The entropy coder's learned prior: counts per (channel, left symbol, upper symbol, symbol) over training
        # images (codec.fit_prior), shipped in the .keras file. Ones: a uniform prior (an untrained coder).
        self.entropy_prior = self.add_weight(shape=(config.channels, n, n, n), initializer="ones", trainable=False,
                                             name="entropy_prior")
        self.built = True  # E and G are functional models, built on creation

    def code(self, w, keep):
        """The quantized code ``w_hat``, zeroed where ``keep`` is 0 (no bits there)."""
        return quantizer.quantize(w, self.config.num_centers, self.config.sigma) * keep

    def decode(self, w_hat, keep):
        inputs = tf.concat([w_hat, keep], axis=-1) if self.config.selective else w_hat
        return self.generator(inputs)

    def call(self, x, keep=None, training=False):
        w = self.encoder(x, training=training)
        if keep is None:
            keep = tf.ones_like(w[..., :1])
        w_hat = self.code(w, keep)
        return self.decode(w_hat, keep), w_hat

    def get_config(self):
        return {"config": self.config.to_dict()}
