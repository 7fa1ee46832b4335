"""GC's training step as a Keras model, so the shared loop (:mod:`gif_pipeline.training.loop`) runs it: ``fit``
with checkpoints and resume, NaN stop, TensorBoard, the best validation epoch.

``mode="mse"`` is the paper's MSE baseline (E and G on lambda * MSE alone). ``mode="gan"`` is GC: every step
updates E and G on LSGAN + lambda * MSE + feature matching (+ VGG), then the discriminator on LSGAN. With
``box_probability`` > 0 a training image keeps a random box and the rest is synthesized (GC's RB mode).
Validation (``test_step``) reconstructs the whole image; its ``loss`` is the MSE in the [-1, 1] scale.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gif_pipeline.models.compress import losses
from gif_pipeline.models.compress.config import DOWNSAMPLING, LossConfig
from gif_pipeline.models.compress.model import Compressor, pixel_keep


def random_boxes(batch, h, w, probability, min_fraction, seed=None):
    """Latent keep maps [B, h, w, 1]: with ``probability`` a random box of sides in [min, 1) x the grid, else all 1."""
    u = tf.random.uniform([batch, 5], seed=seed)
    bh = tf.maximum(1, tf.cast(tf.cast(h, tf.float32) * (min_fraction + (1 - min_fraction) * u[:, 0]), tf.int32))
    bw = tf.maximum(1, tf.cast(tf.cast(w, tf.float32) * (min_fraction + (1 - min_fraction) * u[:, 1]), tf.int32))
    top = tf.cast(u[:, 2] * tf.cast(h - bh + 1, tf.float32), tf.int32)
    left = tf.cast(u[:, 3] * tf.cast(w - bw + 1, tf.float32), tf.int32)
    rows, cols = tf.range(h)[None, :, None], tf.range(w)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + bh)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + bw)[:, None, None]))
    boxed = u[:, 4] < probability
    keep = tf.where(boxed[:, None, None], inside, tf.ones_like(inside))
    return tf.cast(keep, tf.float32)[..., None]


@keras.saving.register_keras_serializable(package="gifnets.compress")
class CompressionTrainer(keras.Model):
    """E + G (``compressor``) and, in GAN mode, the discriminator, with their two Adam optimizers."""

    def __init__(self, compressor: Compressor, discriminator=None, loss_config: LossConfig | None = None,
                 d_learning_rate: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        loss_config = loss_config or LossConfig()
        if loss_config.mode == "gan" and discriminator is None:
            raise ValueError("mode='gan' needs a discriminator")
        self.compressor = compressor
        self.discriminator = discriminator if loss_config.mode == "gan" else None
        self.loss_config = loss_config
        self.vgg = losses.VGGLoss(loss_config.vgg_weights) if loss_config.vgg_weights else None
        self.d_optimizer = keras.optimizers.Adam(d_learning_rate, beta_1=0.5) if self.discriminator is not None else None
        names = ["loss", "mse", "psnr"] + (["g_gan", "fm", "d_loss", "d_real", "d_fake"] if self.discriminator else [])
        names += ["vgg"] if self.vgg else []
        names += ["lowpass"] if loss_config.lowpass_weight else []
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        if self.discriminator is not None:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, x, training=False):
        return self.compressor(x, training=training)[0]

    def _update(self, values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    def train_step(self, x):
        cfg = self.loss_config
        shape = tf.shape(x)
        keep = random_boxes(shape[0], shape[1] // DOWNSAMPLING, shape[2] // DOWNSAMPLING, cfg.box_probability,
                            cfg.min_box_fraction)
        keep_px = pixel_keep(keep)
        g_vars = self.compressor.trainable_variables
        with tf.GradientTape() as tape:
            x_hat, _ = self.compressor(x, keep, training=True)
            mse = losses.masked_mse(x, x_hat, keep_px)
            loss = cfg.mse_weight * mse
            values = {"mse": mse, "psnr": losses.psnr_from_mse(mse)}
            if cfg.lowpass_weight:
                values["lowpass"] = losses.block_mean_mse(x, x_hat, keep)
                loss += cfg.lowpass_weight * values["lowpass"]
            if self.vgg is not None:
                values["vgg"] = self.vgg(x * keep_px, x_hat * keep_px)
                loss += cfg.vgg_weight * values["vgg"]
            if self.discriminator is not None:
                real, fake = self.discriminator(x), self.discriminator(x_hat)
                values["g_gan"] = losses.lsgan_generator(fake)
                values["fm"] = losses.feature_matching(real, fake)
                loss += cfg.gan_weight * values["g_gan"] + cfg.feature_matching_weight * values["fm"]
        self.optimizer.apply_gradients(zip(tape.gradient(loss, g_vars), g_vars))
        values["loss"] = loss
        if self.discriminator is not None:
            d_vars = self.discriminator.trainable_variables
            fake_in = tf.stop_gradient(x_hat)
            with tf.GradientTape() as tape:
                real, fake = self.discriminator(x), self.discriminator(fake_in)
                d_loss = losses.lsgan_discriminator(real, fake)
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
            values["d_loss"] = d_loss
            values["d_real"] = tf.add_n([tf.reduce_mean(r[-1]) for r in real]) / len(real)
            values["d_fake"] = tf.add_n([tf.reduce_mean(f[-1]) for f in fake]) / len(fake)
        return self._update(values)

    def test_step(self, x):
        x_hat, _ = self.compressor(x, training=False)
        mse = tf.reduce_mean(tf.square(x - x_hat))
        return self._update({"loss": mse, "mse": mse, "psnr": losses.psnr_from_mse(mse)})
