"""Backward warping by bilinear sampling, written with TensorFlow ops that convert to TFLite builtins.

``backward_warp(image, flow)[b, y, x] = image[b, y + flow[b, y, x, 1], x + flow[b, y, x, 0]]`` sampled
bilinearly; sample positions outside the image are clamped to its border (edge pixels repeat), as the
GIF2Video release does by clamping the normalised grid before ``grid_sample``.

It is built from ``floor``, ``clip``, integer arithmetic and one ``gather`` on the flattened image (GATHER,
FLOOR, MAXIMUM/MINIMUM, MUL, ADD in TFLite), not ``tfa.image.dense_image_warp`` or ``grid_sample``, so the
interpolation network exports with ``TFLITE_BUILTINS`` only. Gradients flow to both the image and the flow
(the flow's through the bilinear weights), which the unsupervised warping losses need.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def backward_warp(image, flow):
    """Sample ``image`` ``[B, H, W, C]`` at ``grid + flow`` (``flow`` ``[B, H, W, 2]`` in pixels, (dx, dy)).

    Identity flow gives the image back exactly; an integer flow gives an exact shift (border pixels
    repeat where the shift leaves the image)."""
    image = tf.convert_to_tensor(image)
    flow = tf.cast(flow, image.dtype)
    shape = tf.shape(image)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    hf, wf = tf.cast(h, image.dtype), tf.cast(w, image.dtype)
    gy, gx = tf.meshgrid(tf.range(hf, dtype=image.dtype), tf.range(wf, dtype=image.dtype), indexing="ij")
    # (Indexing with None becomes a StridedSlice with new_axis_mask, which TFLite lacks: expand_dims instead.)
    fx, fy = tf.unstack(flow, 2, axis=-1)
    x = tf.clip_by_value(tf.expand_dims(gx, 0) + fx, 0.0, wf - 1.0)
    y = tf.clip_by_value(tf.expand_dims(gy, 0) + fy, 0.0, hf - 1.0)
    x0f, y0f = tf.floor(x), tf.floor(y)
    ax, ay = tf.expand_dims(x - x0f, -1), tf.expand_dims(y - y0f, -1)  # weights of the right / lower neighbours
    x0, y0 = tf.cast(x0f, tf.int32), tf.cast(y0f, tf.int32)
    x1, y1 = tf.minimum(x0 + 1, w - 1), tf.minimum(y0 + 1, h - 1)
    base = tf.reshape(tf.range(b, dtype=tf.int32) * (h * w), [-1, 1, 1])
    flat = tf.reshape(image, [-1, c])

    def at(yy, xx):
        return tf.gather(flat, base + yy * w + xx)

    top = at(y0, x0) * (1.0 - ax) + at(y0, x1) * ax
    bottom = at(y1, x0) * (1.0 - ax) + at(y1, x1) * ax
    return top * (1.0 - ay) + bottom * ay


@keras.saving.register_keras_serializable(package="gifnets")
class BackwardWarp(keras.layers.Layer):
    """:func:`backward_warp` as a layer: ``BackwardWarp()([image, flow])``."""

    def call(self, inputs):
        image, flow = inputs
        return backward_warp(image, flow)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
