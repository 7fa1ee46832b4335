"""CCDNet's losses (GIF2Video §4.2) on images in [-1, 1].

``L = image_weight * L1(I, I_hat) + gradient_weight * L1(|grad I|, |grad I_hat|)`` (Eq. 4-5 of the paper: the
image loss and the gradient-magnitude loss on forward differences), averaged over the unfolded steps. The
authors' release weights them 100 and 100 x 2 (its gradient loss has a factor 2), so 100 and 200 here.

The paper's optional adversarial term (a PatchGAN on ``[G, I, grad I]``, :mod:`.discriminator`) uses the
standard GAN losses on patch logits below (the authors' default ``--gan_loss=GAN``), trained by
:class:`gif_pipeline.models.restore.training.CCDNetGANTrainer`.
"""
from __future__ import annotations

import tensorflow as tf

from gif_pipeline.models.restore.config import CCDNetLossConfig

__all__ = ["forward_differences", "image_loss", "gradient_loss", "ccdnet_loss", "step_losses", "classifier_loss",
           "generator_gan_loss", "discriminator_gan_loss", "discriminator_accuracy"]


def forward_differences(x) -> tuple[tf.Tensor, tf.Tensor]:
    """``(x[:, :, 1:] - x[:, :, :-1], x[:, 1:] - x[:, :-1])`` of ``[B, H, W, C]``: horizontal and vertical."""
    x = tf.convert_to_tensor(x, tf.float32)
    return x[:, :, 1:] - x[:, :, :-1], x[:, 1:] - x[:, :-1]


def image_loss(target, estimate) -> tf.Tensor:
    """Mean absolute difference ``L1(I, I_hat)``."""
    return tf.reduce_mean(tf.abs(tf.cast(target, tf.float32) - tf.cast(estimate, tf.float32)))


def gradient_loss(target, estimate) -> tf.Tensor:
    """``L1(|grad I|, |grad I_hat|)``: the mean over both directions of the absolute difference of the
    forward differences' magnitudes."""
    tx, ty = forward_differences(target)
    ex, ey = forward_differences(estimate)
    return 0.5 * (tf.reduce_mean(tf.abs(tf.abs(tx) - tf.abs(ex))) + tf.reduce_mean(tf.abs(tf.abs(ty) - tf.abs(ey))))


def step_losses(target, estimate, config: CCDNetLossConfig) -> dict[str, tf.Tensor]:
    """The weighted terms of one step's loss."""
    return {"image": config.image_weight * image_loss(target, estimate),
            "gradient": config.gradient_weight * gradient_loss(target, estimate)}


def ccdnet_loss(target, estimates, config: CCDNetLossConfig | None = None, first_step: int = 0) -> tf.Tensor:
    """The reconstruction loss averaged over the unfolded steps.

    ``estimates``: ``[B, n, H, W, 3]`` (every step's estimate, as ``compose(..., all_steps=True)`` returns) or a
    single ``[B, H, W, 3]``. ``first_step`` skips the first steps (step 2's training leaves out the frozen step 1,
    as the authors do).
    """
    config = config or CCDNetLossConfig()
    estimates = tf.convert_to_tensor(estimates, tf.float32)
    if estimates.shape.rank == 4:
        estimates = estimates[:, None]
    n = estimates.shape[1]
    if n is None or not 0 <= first_step < n:
        raise ValueError(f"first_step {first_step} must index one of the {n} steps")
    total = 0.0
    for t in range(first_step, n):
        total += sum(step_losses(target, estimates[:, t], config).values())
    return total / float(n - first_step)


def classifier_loss(labels, logits) -> tf.Tensor:
    """Binary cross-entropy of the dither classifier (label 1 = dithered) on logits."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(tf.reshape(labels, tf.shape(logits)), tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))


def generator_gan_loss(fake_logits) -> tf.Tensor:
    """The generator's term: cross-entropy of the fake patches' logits against "real"."""
    fake_logits = tf.cast(fake_logits, tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


def discriminator_gan_loss(real_logits, fake_logits) -> tf.Tensor:
    """The discriminator's loss: the mean of its cross-entropies on real patches (label 1) and fake ones (0)."""
    real_logits, fake_logits = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    real = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits))
    fake = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits))
    return 0.5 * (real + fake)


def discriminator_accuracy(real_logits, fake_logits) -> tf.Tensor:
    """The fraction of patches the discriminator calls right (real logits > 0, fake ones <= 0), both halves
    weighted equally."""
    real = tf.reduce_mean(tf.cast(tf.cast(real_logits, tf.float32) > 0, tf.float32))
    fake = tf.reduce_mean(tf.cast(tf.cast(fake_logits, tf.float32) <= 0, tf.float32))
    return 0.5 * (real + fake)
