"""BandingNet (GIFnets §3.3): a learned, differentiable banding score Z(I) in [0, 1], used as the
perceptual banding loss of DitherNet (Eq. 7-8).

Input layer: the banding edge map (Algorithm 1), :func:`banding_edge_map`
-------------------------------------------------------------------------
``M = [Y, E]`` with, step by step (all TF ops, any image size):

1. ``Y`` = the Y row of RGB -> YUV (BT.601: ``0.299 R + 0.587 G + 0.114 B``) of the image mapped
   from the networks' [-1, 1] to **[0, 1]**.
2. ``Gx, Gy`` = 3x3 Sobel derivatives of ``Y`` (kernels ``[1 2 1]^T [-1 0 1]``, symmetric
   border padding so the border is not an edge); ``G = sqrt(Gx^2 + Gy^2 + eps)``.
3. ``S = 1 - ReLU(1 - G) = min(G, 1)``: the gradient, saturating at 1.
4. ``W = (1 - S dilated by ones(7x7))^2``, i.e. ``(1 - max_{7x7 window} S)^2``.
5. ``E = W * G``.

Reading of Algorithm 1 (documented deviation). The issue writes step 4 as
``W = ((1 - ReLU(1 - G)) * ones(7x7))^2`` and ``E = W G``. Taken as a box-sum convolution, ``E``
grows monotonically with the gradient, so it marks a true black/white edge about 20x more
strongly than the steps of an 8-colour gradient (E = 784 vs 37 on the tests' images): the
opposite of the map's purpose, stated in the paper and in the authors' patent (WO2021236061,
"weights that emphasize banding edges and de-emphasize true edges"). We keep every ingredient
(the saturating ``1 - ReLU(1 - G)``, the 7x7 ``ones`` window, the square, ``E = W G``) and read
``* ones(7x7)`` as a morphological dilation with the flat 7x7 structuring element and the
weight as its complement, so ``W`` is 0 within 3 px of any pixel whose gradient saturates.

Range, and why the threshold 1 means something: with ``Y`` in [0, 1] a luma step ``d`` gives
``G = 4 d`` beside it, so ``G >= 1`` is a step of at least 1/4 of the range (~64 of 255 codes):
a true object edge. The steps of a palette with 8 or more colours along a full-range gradient
(<= 1/7 of the range, G <= 0.57) stay below it and are marked with
``E = (1 - G)^2 G`` (largest, 4/27, at steps of 1/12 ~ 21 codes); flat areas give 0. On [-1, 1]
the same 8-colour steps would already saturate.

Network (:func:`build_banding_net`), layer mapping
--------------------------------------------------
``edge_map`` (M, 2 channels; only ``Y`` with ``use_edge_map=False``, the paper's ablation)
-> 4 x [``block{i}_conv`` conv ``k x k`` (32, 64, 64, 64) + ReLU, ``block{i}_pool`` max-pool
size = stride = 4] -> ``global_pool`` (global average) -> ``dense`` Dense(256) + ReLU ->
``score`` Dense(1) + sigmoid. The paper gives no kernel size (3 here, ``kernel_size``) and no
batch norm (none here, so the frozen net is the same function in training and inference).

"Max-pooling with stride 4 where the size allows": pools use ``padding="same"``, i.e. ceil
division, so a map shrinks to ``ceil(n / 4)`` and, once 1 pixel, stays 1 pixel (pooling a 1x1 map
is the identity). This is shape-agnostic inside one graph (no ``tf.cond``) and works from 1x1
up: a 256x256 crop goes 64, 16, 4, 1; a 16x16 one 4, 1, 1, 1 (the last two pools are no-ops).

Multi-scale banding loss (Eq. 7-8), :func:`multiscale_banding_loss`
------------------------------------------------------------------
``G(I, s) = up(down(smooth(I), s), 1/s)``: Gaussian smoothing with ``sigma = (s - 1) / 2`` (the
usual anti-aliasing width for a factor ``s``; the paper gives none), bilinear resize to
``round(H/s) x round(W/s)`` and bilinear resize back to ``H x W``.
``B(I) = sum_{k=1..K} mean_batch Z(G(I, eta^k))`` with ``eta = 1.5``, ``K = 4``.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gif_pipeline.models.gifnets.config import BandingNetConfig
from gif_pipeline.models.gifnets.dither_net import symmetric_pad

__all__ = [
    "BandingEdgeMap", "banding_edge_map", "build_banding_net", "degrade", "luma", "multiscale_banding_loss",
]

#: BT.601 luma weights (the Y row of RGB -> YUV, as ``tf.image.rgb_to_yuv``).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
#: Added under the square root of ``G`` so its gradient stays finite on flat areas.
GRADIENT_EPSILON = 1e-12
#: Side of the window over which a saturated gradient suppresses the map (Algorithm 1).
SUPPRESSION_WINDOW = 7

# Sobel kernels as [3, 3, in=1, out=2]: d/dx (columns, left to right) and d/dy (rows, downwards).
_SOBEL = np.stack([
    np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
    np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
], axis=-1)[:, :, np.newaxis, :]


def _check_rgb(rgb_unit):
    rgb_unit = tf.convert_to_tensor(rgb_unit)
    if not rgb_unit.dtype.is_floating:
        raise ValueError(f"expected a float image in [-1, 1], got dtype {rgb_unit.dtype.name}")
    if rgb_unit.shape.rank != 4 or rgb_unit.shape[-1] != 3:
        raise ValueError(f"expected images [B, H, W, 3] in [-1, 1], got shape {rgb_unit.shape}")
    return tf.cast(rgb_unit, tf.float32)


def luma(rgb_unit) -> tf.Tensor:
    """BT.601 luma ``Y`` in [0, 1] ``[B, H, W, 1]`` of RGB ``[B, H, W, 3]`` in [-1, 1]."""
    rgb01 = (_check_rgb(rgb_unit) + 1.0) * 0.5
    return tf.reduce_sum(rgb01 * tf.constant(LUMA_WEIGHTS, tf.float32), axis=-1, keepdims=True)


def sobel_magnitude(y) -> tf.Tensor:
    """``G = sqrt(Gx^2 + Gy^2 + eps)`` of ``y [B, H, W, 1]`` (Sobel, symmetric borders)."""
    padded = symmetric_pad(y, 1, 1, 1, 1)
    grads = tf.nn.conv2d(padded, tf.constant(_SOBEL), strides=1, padding="VALID")
    return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=-1, keepdims=True) + GRADIENT_EPSILON)


def banding_edge_map(rgb_unit, return_parts: bool = False):
    """Algorithm 1 (see the module docstring for the reading): RGB in [-1, 1] -> ``M = [Y, E]``.

    Args:
      rgb_unit: float ``[B, H, W, 3]`` in [-1, 1], any ``H, W >= 1``.
      return_parts: also return a dict with ``Y``, ``G``, ``W`` and ``E`` (each ``[B, H, W, 1]``).

    Returns:
      ``M`` float32 ``[B, H, W, 2]`` (channel 0: ``Y`` in [0, 1], channel 1: ``E`` in [0, 4/27]),
      or ``(M, parts)``.
    """
    y = luma(rgb_unit)
    g = sobel_magnitude(y)
    saturated = 1.0 - tf.nn.relu(1.0 - g)
    dilated = tf.nn.max_pool2d(saturated, SUPPRESSION_WINDOW, strides=1, padding="SAME")
    w = tf.square(1.0 - dilated)
    e = w * g
    m = tf.concat([y, e], axis=-1)
    if return_parts:
        return m, {"Y": y, "G": g, "W": w, "E": e}
    return m


@keras.saving.register_keras_serializable(package="gifnets")
class BandingEdgeMap(layers.Layer):
    """BandingNet's input layer: RGB in [-1, 1] -> ``[Y, E]`` (Algorithm 1), or ``Y`` alone."""

    def __init__(self, use_edge_map: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.use_edge_map = bool(use_edge_map)

    def call(self, rgb):
        return banding_edge_map(rgb) if self.use_edge_map else luma(rgb)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], 2 if self.use_edge_map else 1)

    def get_config(self):
        return {**super().get_config(), "use_edge_map": self.use_edge_map}


def build_banding_net(config: BandingNetConfig | None = None, name: str = "banding_net") -> keras.Model:
    """BandingNet as a functional Keras model: RGB ``[B, H, W, 3]`` in [-1, 1] -> Z ``[B, 1]`` in [0, 1].

    Layer mapping and the pooling rule are in the module docstring.
    """
    config = config if config is not None else BandingNetConfig()
    if not isinstance(config, BandingNetConfig):
        raise TypeError(f"config must be a BandingNetConfig, got {type(config).__name__}")
    rgb = keras.Input((None, None, 3), name="rgb")
    x = BandingEdgeMap(config.use_edge_map, name="edge_map")(rgb)
    for i, channels in enumerate(config.channels):
        x = layers.Conv2D(channels, config.kernel_size, padding="same", activation="relu",
                          kernel_initializer="he_normal", name=f"block{i}_conv")(x)
        x = layers.MaxPooling2D(config.pool_stride, strides=config.pool_stride, padding="same",
                                name=f"block{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    score = layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(rgb, score, name=name)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_smooth(images, sigma: float):
    """Separable Gaussian blur of ``[B, H, W, C]`` (symmetric borders); identity for sigma <= 0."""
    images = tf.convert_to_tensor(images, tf.float32)
    if sigma <= 0:
        return images
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    channels = images.shape[-1]
    if channels is None:
        raise ValueError("gaussian_smooth needs a static channel count")
    x = symmetric_pad(images, r, r, r, r)
    kx = tf.constant(np.tile(k.reshape(1, -1, 1, 1), (1, 1, channels, 1)))
    ky = tf.constant(np.tile(k.reshape(-1, 1, 1, 1), (1, 1, channels, 1)))
    x = tf.nn.depthwise_conv2d(x, kx, strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.depthwise_conv2d(x, ky, strides=[1, 1, 1, 1], padding="VALID")


def degrade(images, factor: float):
    """Eq. 7's ``G(I, s) = up(down(smooth(I), s), 1/s)``, keeping the shape ``[B, H, W, C]``."""
    if not factor >= 1:
        raise ValueError(f"scale factor must be >= 1, got {factor!r}")
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    size = shape[1:3]
    small = tf.maximum(1, tf.cast(tf.round(tf.cast(size, tf.float32) / factor), tf.int32))
    x = gaussian_smooth(images, (factor - 1.0) / 2.0)
    x = tf.image.resize(x, small, method="bilinear")
    return tf.image.resize(x, size, method="bilinear")


def multiscale_banding_loss(banding_net, image, eta: float = 1.5, scales: int = 4):
    """Eq. 8: ``B_eta(I) = sum_{k=1..scales} Z(G(I, eta^k))``, each term averaged over the batch.

    ``banding_net`` is called with ``training=False`` (it is a frozen critic); the loss is
    differentiable with respect to ``image`` (``[B, H, W, 3]`` in [-1, 1]).
    """
    if not eta > 1:
        raise ValueError(f"eta must be > 1, got {eta!r}")
    if not isinstance(scales, int) or scales < 1:
        raise ValueError(f"scales must be a positive integer, got {scales!r}")
    image = _check_rgb(image)
    total = tf.constant(0.0, tf.float32)
    for k in range(1, scales + 1):
        score = banding_net(degrade(image, eta ** k), training=False)
        total = total + tf.reduce_mean(tf.cast(score, tf.float32))
    return total
