"""GC's quantizer (§3.1, after Mentzer et al. 2018): L fixed centres, nearest centre forward, soft-to-hard backward.

Forward: ``w_hat = nearest centre`` of each latent value. Backward: the gradient of the soft assignment
``sum_j softmax(-sigma (w - c_j)^2)_j c_j``. The centres are the integers ``-k..k`` (L = 2k + 1), so the nearest
centre is ``clip(round(w), -k, k)``: builtin TFLite ops (ROUND, MINIMUM, MAXIMUM), no argmin.
"""
from __future__ import annotations

import tensorflow as tf


def symbols(w, num_centers: int):
    """The index 0..L-1 of each value's nearest centre (uint8)."""
    k = num_centers // 2
    return tf.cast(tf.clip_by_value(tf.round(w), -k, k) + k, tf.uint8)


def centers_of(symbols_, num_centers: int, dtype=tf.float32):
    """The centre values of symbol indices (inverse of :func:`symbols`)."""
    return tf.cast(symbols_, dtype) - float(num_centers // 2)


def quantize(w, num_centers: int, sigma: float = 1.0):
    """``w_hat``: the nearest centre forward, the soft quantizer's gradient backward (straight-through)."""
    k = num_centers // 2
    centers = tf.range(-k, k + 1, dtype=w.dtype)
    distance = tf.square(w[..., None] - centers)
    soft = tf.reduce_sum(tf.nn.softmax(-sigma * distance, axis=-1) * centers, axis=-1)
    hard = tf.clip_by_value(tf.round(w), -float(k), float(k))
    return soft + tf.stop_gradient(hard - soft)
