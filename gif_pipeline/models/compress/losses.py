"""GC's losses (§3.2, Eq. 5-6): LSGAN (Mao et al.), lambda * MSE on the kept pixels, pix2pixHD feature matching,
and an optional VGG perceptual term that runs only from a local weights file (nothing is downloaded).

Images are in [-1, 1]. ``keep`` is the pixel keep map [B, H, W, 1]: the distortion terms count kept pixels only
(a synthesized region has no bits to be faithful to; GC §3.3).
"""
from __future__ import annotations

import os

import tensorflow as tf

from gif_pipeline.errors import GifnetsError
from gif_pipeline.models.compress.config import DOWNSAMPLING


def masked_mse(x, x_hat, keep):
    """Mean squared error over the kept pixels (all channels), in the [-1, 1] scale."""
    err = tf.reduce_sum(tf.square(x - x_hat) * keep)
    return err / (tf.reduce_sum(keep) * tf.cast(tf.shape(x)[-1], x.dtype) + 1e-8)


def block_mean_mse(x, x_hat, keep):
    """MSE of the means of the ``DOWNSAMPLING``-pixel blocks (one latent cell each) over the kept cells ``keep``
    ``[B, h, w, 1]``, in the [-1, 1] scale: the colour and brightness a cell's code must carry."""
    pool = [1, DOWNSAMPLING, DOWNSAMPLING, 1]
    a = tf.nn.avg_pool2d(x, pool, pool, "VALID")
    b = tf.nn.avg_pool2d(x_hat, pool, pool, "VALID")
    return masked_mse(a, b, keep)


def psnr_from_mse(mse):
    """PSNR in dB of an MSE in the [-1, 1] scale (peak-to-peak 2)."""
    return 10.0 * tf.math.log(4.0 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0)


def lsgan_generator(fake):
    """G's LSGAN term: mean over scales of mean((D(G(z)) - 1)^2). ``fake``: per scale, the layer outputs."""
    return tf.add_n([tf.reduce_mean(tf.square(f[-1] - 1.0)) for f in fake]) / len(fake)


def lsgan_discriminator(real, fake):
    """D's LSGAN loss: mean over scales of (mean((D(x) - 1)^2) + mean(D(G(z))^2)) / 2."""
    terms = [0.5 * (tf.reduce_mean(tf.square(r[-1] - 1.0)) + tf.reduce_mean(tf.square(f[-1]))) for r, f in zip(real, fake)]
    return tf.add_n(terms) / len(terms)


def feature_matching(real, fake):
    """pix2pixHD's feature matching: the mean L1 distance of D's hidden layers (not the score), over layers and
    scales; the real features carry no gradient."""
    terms = [tf.reduce_mean(tf.abs(tf.stop_gradient(r) - f)) for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1])]
    return tf.add_n(terms) / len(terms)


class VGGLoss:
    """pix2pixHD's VGG19 term, sum_i w_i mean|phi_i(x) - phi_i(x_hat)|, from a local weights file only."""

    LAYERS = ("block1_conv2", "block2_conv2", "block3_conv2", "block4_conv2", "block5_conv2")
    WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, weights_path: str):
        import keras

        if not os.path.isfile(weights_path):
            raise GifnetsError(f"VGG weights {weights_path!r}: no such file (the VGG term needs local weights; "
                               "nothing is downloaded)")
        vgg = keras.applications.VGG19(include_top=False, weights=weights_path)
        vgg.trainable = False
        self.net = keras.Model(vgg.input, [vgg.get_layer(n).output for n in self.LAYERS])

    def __call__(self, x, x_hat):
        import keras

        def features(img):
            return self.net(keras.applications.vgg19.preprocess_input((img + 1.0) * 127.5))

        fx, fy = features(x), features(x_hat)
        return tf.add_n([w * tf.reduce_mean(tf.abs(tf.stop_gradient(a) - b)) for w, a, b in zip(self.WEIGHTS, fx, fy)])
