"""CCDNet's adversarial training step (GIF2Video §4.2) as a Keras model, so the shared loop
(:mod:`gif_pipeline.training.loop`) runs it: ``fit`` with checkpoints and resume, NaN stop, TensorBoard, the best
validation epoch.

Each step, as in the authors' release: the discriminator learns on the GIF with the original (real) and with the
last step's estimate (fake), but only while it calls fewer than 75 % of the patches right; then CCDNet learns on its
reconstruction loss (every unfolded step) plus ``adversarial_weight`` x the GAN term of the updated discriminator,
but only while the discriminator calls more than 25 % right. The release's pool of 60 past fakes is left out.
Validation (``test_step``) reports the reconstruction loss and the last step's PSNR, as the plain loss does.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gif_pipeline.models.restore import losses
from gif_pipeline.models.restore.config import CCDNetLossConfig
from gif_pipeline.models.restore.discriminator import discriminator_input

#: The release's gates: the discriminator learns while its accuracy is below the first, CCDNet while above the
#: second.
D_LEARNS_BELOW = 0.75
G_LEARNS_ABOVE = 0.25


def last_step_psnr(target, estimates) -> tf.Tensor:
    """PSNR (dB, images in [-1, 1]) of the last step's estimate, the mean over the batch."""
    mse = tf.reduce_mean(tf.square((target - estimates[:, -1]) * 0.5), axis=[1, 2, 3])
    return tf.reduce_mean(-10.0 * tf.math.log(tf.maximum(mse, 1e-10)) / tf.math.log(10.0))


class CCDNetGANTrainer(keras.Model):
    """``ccdnet`` (a composed CCDNet with ``all_steps=True``) and ``discriminator``, with their two Adam optimizers
    (CCDNet's is the one given to ``compile``)."""

    def __init__(self, ccdnet, discriminator, loss_config: CCDNetLossConfig, first_step: int = 0,
                 d_learning_rate: float = 2e-4, **kwargs):
        super().__init__(**kwargs)
        if not loss_config.adversarial_weight > 0:
            raise ValueError("CCDNetGANTrainer needs loss_config.adversarial_weight > 0")
        self.ccdnet = ccdnet
        self.discriminator = discriminator
        self.loss_config = loss_config
        self.first_step = first_step
        self.d_optimizer = keras.optimizers.Adam(d_learning_rate, beta_1=0.5)
        self.d_optimizer.build(discriminator.trainable_variables)
        names = ("loss", "psnr_metric", "g_gan", "d_loss", "d_accuracy", "d_updates", "g_updates")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.ccdnet(inputs, training=training)

    def _update(self, values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    def train_step(self, data):
        inputs, target, _ = keras.utils.unpack_x_y_sample_weight(data)
        gif = inputs["gif"]
        g_vars = self.ccdnet.trainable_variables
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as g_tape:
            estimates = self.ccdnet(inputs, training=True)
            reconstruction = losses.ccdnet_loss(target, estimates, self.loss_config, first_step=self.first_step)
            last = estimates[:, -1]
            with tf.GradientTape() as d_tape:
                real = self.discriminator(discriminator_input(gif, target), training=True)
                fake = self.discriminator(discriminator_input(gif, tf.stop_gradient(last)), training=True)
                d_loss = losses.discriminator_gan_loss(real, fake)
            accuracy = losses.discriminator_accuracy(real, fake)
            d_grads = d_tape.gradient(d_loss, d_vars)

            def learn_d():
                self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
                return tf.constant(1.0)

            d_updated = tf.cond(accuracy < D_LEARNS_BELOW, learn_d, lambda: tf.constant(0.0))
            with tf.control_dependencies([d_updated]):
                g_gan = losses.generator_gan_loss(self.discriminator(discriminator_input(gif, last), training=True))
            loss = reconstruction + self.loss_config.adversarial_weight * g_gan
        g_grads = g_tape.gradient(loss, g_vars)

        def learn_g():
            self.optimizer.apply_gradients(zip(g_grads, g_vars))
            return tf.constant(1.0)

        g_updated = tf.cond(accuracy > G_LEARNS_ABOVE, learn_g, lambda: tf.constant(0.0))
        return self._update({"loss": loss, "psnr_metric": last_step_psnr(target, estimates), "g_gan": g_gan,
                             "d_loss": d_loss, "d_accuracy": accuracy, "d_updates": d_updated,
                             "g_updates": g_updated})

    def test_step(self, data):
        inputs, target, _ = keras.utils.unpack_x_y_sample_weight(data)
        estimates = self.ccdnet(inputs, training=False)
        reconstruction = losses.ccdnet_loss(target, estimates, self.loss_config, first_step=self.first_step)
        return self._update({"loss": reconstruction, "psnr_metric": last_step_psnr(target, estimates)})
