"""Conversions between uint8 images/palettes at I/O boundaries and the networks' [-1, 1] range.

The networks (GIFnets §3) take images scaled to [-1, 1] (``x / 127.5 - 1``) and produce palettes in
[-1, 1] (tanh). These helpers are the only place that scaling is written down.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def image_to_unit(image) -> tf.Tensor:
    """uint8 ``[..., 3]`` in [0, 255] -> float32 in [-1, 1] (``x / 127.5 - 1``).

    Accepts a numpy array or a tensor of dtype uint8; anything else raises ``ValueError`` so that
    an image already in [-1, 1] or [0, 1] is never silently rescaled a second time.
    """
    dtype = image.dtype if hasattr(image, "dtype") else None
    if dtype is None or tf.as_dtype(dtype) != tf.uint8:
        raise ValueError(f"image_to_unit expects a uint8 image, got dtype {dtype!r}")
    if image.shape[-1] != 3:
        raise ValueError(f"image_to_unit expects RGB [..., 3], got shape {tuple(image.shape)}")
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def unit_to_uint8(x) -> np.ndarray:
    """float in [-1, 1] -> numpy uint8 in [0, 255]: ``round((x + 1) * 127.5)``, clipped."""
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("unit_to_uint8 got non-finite values")
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def palette_to_uint8(palette) -> np.ndarray:
    """A network palette ``[K, 3]`` or ``[B, K, 3]`` in [-1, 1] -> uint8 with the same shape."""
    shape = tuple(palette.shape)
    if len(shape) not in (2, 3) or shape[-1] != 3 or shape[-2] < 1:
        raise ValueError(f"palette must be [K, 3] or [B, K, 3], got shape {shape}")
    return unit_to_uint8(palette)


def scale_loss_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """Divide a per-replica mean loss by the number of replicas before taking gradients.

    tf.distribute sums gradients over replicas, so a custom ``train_step`` must do this to match
    a single-device step on the same global batch (Keras' built-in ``train_step`` does the same).
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    return loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss
