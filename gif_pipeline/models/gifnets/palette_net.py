"""PaletteNet (GIFnets §3.1): predicts an image's GIF palette, trained self-supervised with Eq. 2.

Layer mapping (``Np = config.num_colors``):

* ``backbone``: :func:`~gif_pipeline.layers.inception_v2.inception_v2_backbone` up to Mixed_5c
  (``config.backbone == "inception_v2"``; width from ``depth_multiplier``/``min_depth``), or the
  PointNet comparison :func:`~gif_pipeline.layers.pointnet.pointnet_backbone` (``"pointnet"``);
* ``global_avg_pool``: global average pooling of the Mixed_5c map (InceptionV2 only; PointNet
  already ends in its global max-pool);
* ``palette_dense``: ``Dense(Np * 3)`` with tanh, so palette values lie in [-1, 1] like the image;
* ``palette_reshape``: ``[B, Np * 3] -> [B, Np, 3]``.

With ``config.head == "slots"`` (not in the paper) the last two are replaced: ``slot_pixel`` reads
each pixel's colour and whitened colour (:func:`whiten_pixels`), ``slot_global`` adds the pooled
feature, ``slot_mix`` (ReLU) and ``slot_logits`` give Np logits per pixel, and the palette is each
slot's softmax-weighted mean of the image's pixels (:func:`slot_means`). ``config.head_sizes`` adds
one :class:`SlotHead` per further palette size on the same backbone (:meth:`PaletteNet.palette` picks
one), and at inference a slot head reads the image's own pixels (:func:`head_pixels`). With
``config.refine_rounds`` each slot head ends in a :class:`SlotRefine` (``slot_refine``): learned rounds that
re-assign the pixels to the colours of the round before.

Input: float32 ``[B, H, W, 3]`` in [-1, 1], any ``H, W``. Output: float32 ``[B, Np, 3]`` in [-1, 1].

Loss (Eq. 2): ``L = mean_x ||I[x] - P[k*(x)]||^2`` with ``k*`` the nearest palette entry
(:func:`gif_pipeline.quant.projection.quantization_loss`), plus, if ``config.coverage_weight`` > 0 (not
in the paper), that weight times :func:`gif_pipeline.quant.projection.coverage_loss`, which revives
palette colours that no pixel picks. With ``config.nested_sizes`` (not in the paper) Eq. 2 is
averaged over palette prefixes (:func:`gif_pipeline.quant.projection.nested_quantization_loss`), so one
network serves several Np. With ``config.output == "whitened"`` (not in the paper) the
tanh output is read in the image's whitened colour space (:func:`unwhiten_palette`). :class:`PaletteNet` has its
own ``train_step`` so ``model.compile(optimizer=...); model.fit(images)`` trains it: the target is the input image,
and datasets may yield ``images`` or ``(images, anything)``.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gif_pipeline.layers.common import image_to_unit, palette_to_uint8, scale_loss_for_replicas
from gif_pipeline.layers.folding import fold_batch_norm
from gif_pipeline.layers.inception_v2 import inception_v2_backbone
from gif_pipeline.layers.pointnet import pointnet_backbone
from gif_pipeline.models.gifnets.config import PaletteNetConfig
from gif_pipeline.quant.projection import coverage_loss, nested_quantization_loss, quantization_loss, sample_pixels

__all__ = ["PaletteNet", "build_palette_net", "head_pixels", "inference_function", "palette_to_uint8"]


def colour_statistics(images):
    """Mean ``[B, 3]`` and lower Cholesky factor ``[B, 3, 3]`` of each image's colour covariance.

    The 3x3 Cholesky factor is written out element by element (builtin TFLite ops only); a small
    ridge keeps it defined for flat images.
    """
    images = tf.cast(images, tf.float32)
    pixels = tf.reshape(images, [tf.shape(images)[0], -1, 3])
    mean = tf.reduce_mean(pixels, axis=1)
    centred = pixels - mean[:, tf.newaxis, :]
    n = tf.cast(tf.shape(pixels)[1], tf.float32)
    cov = tf.matmul(centred, centred, transpose_a=True) / n + 1e-4 * tf.eye(3)
    c = [[cov[:, i, j] for j in range(3)] for i in range(3)]
    l11 = tf.sqrt(c[0][0])
    l21 = c[1][0] / l11
    l31 = c[2][0] / l11
    l22 = tf.sqrt(tf.maximum(c[1][1] - l21 * l21, 1e-8))
    l32 = (c[2][1] - l31 * l21) / l22
    l33 = tf.sqrt(tf.maximum(c[2][2] - l31 * l31 - l32 * l32, 1e-8))
    zero = tf.zeros_like(l11)
    chol = tf.stack([tf.stack([l11, zero, zero], -1), tf.stack([l21, l22, zero], -1),
                     tf.stack([l31, l32, l33], -1)], axis=1)
    return mean, chol


def whiten_pixels(images):
    """Each pixel in its image's whitened colour space: ``chol^-1 (x - mean)``, ``[B, H, W, 3]``.

    The triangular solve is written out (builtin TFLite ops only)."""
    images = tf.cast(images, tf.float32)
    mean, chol = colour_statistics(images)
    d = images - mean[:, tf.newaxis, tf.newaxis, :]
    l = chol[:, tf.newaxis, tf.newaxis]  # [B, 1, 1, 3, 3]
    z1 = d[..., 0] / l[..., 0, 0]
    z2 = (d[..., 1] - l[..., 1, 0] * z1) / l[..., 1, 1]
    z3 = (d[..., 2] - l[..., 2, 0] * z1 - l[..., 2, 1] * z2) / l[..., 2, 2]
    return tf.stack([z1, z2, z3], axis=-1)


def slot_means(images, logits):
    """Palette ``[B, Np, 3]``: each slot's mean of the pixels, weighted by ``softmax(logits)`` over slots.

    ``logits`` is ``[B, H, W, Np]``. A slot that no pixel weighs falls back to the image's mean colour
    (one pixel's worth of prior weight)."""
    images = tf.cast(images, tf.float32)
    batch = tf.shape(images)[0]
    pixels = tf.reshape(images, [batch, -1, 3])
    weights = tf.reshape(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), [batch, -1, tf.shape(logits)[-1]])
    mean = tf.reduce_mean(pixels, axis=1, keepdims=True)  # [B, 1, 3]
    sums = tf.matmul(weights, pixels, transpose_a=True)  # [B, Np, 3]
    counts = tf.reduce_sum(weights, axis=1)[..., tf.newaxis]  # [B, Np, 1]
    return (sums + mean) / (counts + 1.0)


def unwhiten_palette(images, z, scale: float):
    """``mean + scale * z @ chol^T`` clipped to [-1, 1]: codes ``z`` [B, Np, 3] in the images' whitened colours."""
    mean, chol = colour_statistics(images)
    palette = mean[:, tf.newaxis, :] + scale * tf.matmul(tf.cast(z, tf.float32), chol, transpose_b=True)
    return tf.clip_by_value(palette, -1.0, 1.0)


def _slot_layers(num_colors: int, hidden: int, suffix: str = ""):
    """The slot head's four layers: pixel and global projections, the ReLU mix and the Np logits."""
    return (layers.Dense(hidden, name="slot_pixel" + suffix),
            layers.Dense(hidden, use_bias=False, name="slot_global" + suffix),
            layers.Dense(hidden, activation="relu", name="slot_mix" + suffix),
            layers.Dense(num_colors, name="slot_logits" + suffix))


def _build_slot_layers(head_layers, features: int, hidden: int):
    for layer, width in zip(head_layers, (6, features, hidden, hidden)):
        if not layer.built:
            layer.build((None, width))
    for layer in head_layers[4:]:  # SlotRefine
        if not layer.built:
            layer.build()


def slot_logits(head_layers, images, features):
    """Np logits ``[B, H, W, Np]`` per pixel: the slot head's per-pixel MLP on each pixel's colour and
    whitened colour, plus a projection of the pooled feature ``[B, C]``."""
    pixel, global_, mix, logits = head_layers[:4]
    images = tf.cast(images, tf.float32)
    pixel_features = tf.concat([images, whiten_pixels(images)], axis=-1)  # [B, H, W, 6]
    hidden = pixel(pixel_features) + global_(features)[:, tf.newaxis, tf.newaxis, :]
    return logits(mix(tf.nn.relu(hidden)))


class SlotRefine(layers.Layer):
    """``rounds`` rounds of re-assignment after a slot head's first palette (``PaletteNetConfig.refine_rounds``).

    Round r gives pixel x the logits ``a_r * first_logits - b_r * ||x - c_k||^2`` to the colours ``c_k`` of
    the round before, and the colours become the slots' weighted means again (:func:`slot_means`). ``a_r``
    starts at 0 and ``b_r = exp(log_b_r)`` at 1000 (colours in [-1, 1]): near a Lloyd step, which one
    pass of the shipped heads gained 1.0-1.7 dB from on val (docs/experiments/gifnets.md). Builtin TFLite ops only."""

    def __init__(self, rounds: int, **kwargs):
        super().__init__(**kwargs)
        self.rounds = rounds

    def build(self, input_shape=None):
        self.prior = self.add_weight(name="prior", shape=(self.rounds,), initializer="zeros")
        self.log_b = self.add_weight(name="log_b", shape=(self.rounds,),
                                     initializer=keras.initializers.Constant(float(np.log(1000.0))))
        self.built = True

    def call(self, pixels, logits, palette):
        """``pixels`` ``[B, H, W, 3]``, their first ``logits`` ``[B, H, W, Np]`` and ``palette`` ``[B, Np, 3]``."""
        batch = tf.shape(pixels)[0]
        x = tf.reshape(tf.cast(pixels, tf.float32), [batch, -1, 3])
        first = tf.reshape(tf.cast(logits, tf.float32), [batch, tf.shape(x)[1], -1])
        for r in range(self.rounds):
            # -||x - c||^2 up to the pixel's own |x|^2, which a softmax over slots ignores.
            closeness = 2.0 * tf.matmul(x, palette, transpose_b=True) - tf.reduce_sum(palette * palette, -1)[:, None]
            palette = slot_means(x, self.prior[r] * first + tf.exp(self.log_b[r]) * closeness)
        return palette


def slot_palette(head_layers, images, features):
    """Palette ``[B, Np, 3]`` of a slot head (its four layers and, with ``refine_rounds``, its :class:`SlotRefine`)."""
    logits = slot_logits(head_layers, images, features)
    palette = slot_means(images, logits)
    return head_layers[4](images, logits, palette) if len(head_layers) > 4 else palette


class SlotHead(layers.Layer):
    """One more slot head (``PaletteNetConfig.head_sizes``): ``(images, features) -> palette [B, Np, 3]``."""

    def __init__(self, num_colors: int, hidden: int, refine_rounds: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.head_layers = list(_slot_layers(num_colors, hidden))
        if refine_rounds:
            self.head_layers.append(SlotRefine(refine_rounds, name="slot_refine"))
        self.hidden = hidden

    def build_for(self, features: int):
        _build_slot_layers(self.head_layers, features, self.hidden)
        self.built = True

    def call(self, images, features):
        return slot_palette(self.head_layers, images, features)


@keras.saving.register_keras_serializable(package="gifnets")
class PaletteNet(keras.Model):
    """Image ``[B, H, W, 3]`` in [-1, 1] -> palette ``[B, Np, 3]`` in [-1, 1] (GIFnets §3.1)."""

    def __init__(self, config: PaletteNetConfig | dict | None = None, name: str = "palette_net", **kwargs):
        super().__init__(name=name, **kwargs)
        if config is None:
            config = PaletteNetConfig()
        elif isinstance(config, dict):
            config = PaletteNetConfig.from_dict(config)
        elif not isinstance(config, PaletteNetConfig):
            raise TypeError(f"config must be a PaletteNetConfig or dict, got {type(config).__name__}")
        self.config = config
        self.num_colors = config.num_colors
        if config.backbone == "inception_v2":
            self.backbone = inception_v2_backbone(
                depth_multiplier=config.depth_multiplier, min_depth=config.min_depth,
                use_separable_conv=config.use_separable_conv, batch_norm_momentum=config.batch_norm_momentum)
            self.pool = layers.GlobalAveragePooling2D(name="global_avg_pool")
        else:
            self.backbone = pointnet_backbone(config.pointnet_widths, batch_norm_momentum=config.batch_norm_momentum)
            self.pool = None
        if config.head == "slots":
            (self.slot_pixel, self.slot_global, self.slot_mix,
             self.slot_logits) = _slot_layers(config.num_colors, config.slot_hidden)
            self.slot_refine = SlotRefine(config.refine_rounds, name="slot_refine") if config.refine_rounds else None
            # More heads on the same backbone (config.head_sizes), each its own four layers (and refinement).
            self.extra_heads = [SlotHead(size, config.head_hidden or config.slot_hidden, config.refine_rounds,
                                         name=f"slot_head_np{size}")
                                for size in config.head_sizes]
        else:
            # Initialised in tanh's linear range: a small kernel (image-dependent part) and a spread bias
            # (the starting palette covers the colour cube). A unit-variance kernel on the non-negative
            # pooled features saturates tanh from the start and stalls Eq. 2. (The paper gives no init.)
            self.palette_dense = layers.Dense(
                config.num_colors * 3, activation="tanh", name="palette_dense",
                kernel_initializer=keras.initializers.VarianceScaling(0.1, mode="fan_in", distribution="truncated_normal"),
                bias_initializer=keras.initializers.RandomUniform(-1.0, 1.0))
            self.palette_reshape = layers.Reshape((config.num_colors, 3), name="palette_reshape")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.build((None, None, None, 3))

    def build(self, input_shape):
        features = self.backbone.output.shape[-1]
        if self.config.head == "slots":
            _build_slot_layers(self.head_layers, features, self.config.slot_hidden)
            for head in self.extra_heads:
                head.build_for(features)
        elif not self.palette_dense.built:
            self.palette_dense.build((None, features))
        self.built = True

    @staticmethod
    def _check_images(images):
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"PaletteNet expects images [B, H, W, 3] in [-1, 1], got shape {shape}")
        if "float" not in keras.backend.standardize_dtype(images.dtype):
            raise ValueError(f"PaletteNet expects float images in [-1, 1] (see image_to_unit), got {images.dtype}")

    def call(self, images, training=False):
        return self.palette_head(images, self.pooled_features(images, training=training))

    def palette(self, images, num_colors: int | None = None, training=False, pixels=None):
        """Like calling the network, for ``num_colors`` colours: the head for them (one of
        :attr:`served_colors`), or a nested network's first ``num_colors`` colours; else ValueError. The
        head reads ``pixels`` (``[B, h, w, 3]``, e.g. :func:`head_pixels`) if given, else ``images``."""
        prefix = bool(self.config.nested_sizes) and num_colors is not None and num_colors < self.num_colors
        features = self.pooled_features(images, training=training)
        palette = self.palette_head(images if pixels is None else pixels, features, None if prefix else num_colors)
        return palette[:, :num_colors] if prefix else palette

    def pooled_features(self, images, training=False, backbone=None):
        """The backbone's feature ``[B, C]`` of images ``[B, H, W, 3]``: InceptionV2's pooled Mixed_5c, or PointNet's.

        ``backbone`` replaces ``self.backbone`` (e.g. its inference copy: :func:`inference_function`)."""
        self._check_images(images)
        features = (backbone or self.backbone)(images, training=training)
        return self.pool(features) if self.pool is not None else features

    @property
    def served_colors(self) -> list[int]:
        """The palette sizes this network gives: ``num_colors`` and its extra slot heads' (``head_sizes``)."""
        return sorted((self.num_colors, *self.config.head_sizes))

    def check_served(self, num_colors: int):
        """ValueError unless this network gives ``num_colors`` colours from a head of its own."""
        if num_colors not in self.served_colors:
            served = ", ".join(map(str, self.served_colors))
            raise ValueError(f"this PaletteNet gives {served} colours, not {num_colors}")

    def palette_head(self, images, features, num_colors: int | None = None):
        """Palette ``[B, Np, 3]`` from the pooled backbone feature ``[B, C]``; the whitened output and
        the slot head also read the ``images`` themselves. ``num_colors`` picks one of
        :attr:`served_colors` (default: ``num_colors``)."""
        if num_colors is not None and num_colors != self.num_colors:
            self.check_served(num_colors)
            return self.extra_heads[self.config.head_sizes.index(num_colors)](images, features)
        if self.config.head == "slots":
            return self._slot_palette(images, features)
        palette = self.palette_reshape(self.palette_dense(features))
        if self.config.output == "whitened":
            palette = unwhiten_palette(images, palette, self.config.whitened_scale)
        return palette

    @property
    def head_layers(self):
        """The layers after the backbone that hold weights (what ``--init_from`` copies on a fine-tune): a slot
        head's four layers, then its :class:`SlotRefine` if ``refine_rounds``."""
        if self.config.head == "slots":
            refine = [self.slot_refine] if self.slot_refine is not None else []
            return [self.slot_pixel, self.slot_global, self.slot_mix, self.slot_logits, *refine]
        return [self.palette_dense]

    def _slot_palette(self, images, features):
        if not self.config.nested_sizes:
            return slot_palette(self.head_layers, images, features)
        logits = slot_logits(self.head_layers, images, features)
        # Nested: colours k_{i-1}..k_i - 1 are those slots' means under a softmax over the first k_i
        # slots only, so P[:k_i] holds the k_i-slot palette's newest colours after the smaller ones.
        blocks, start = [], 0
        for size in self.config.nested_sizes:
            blocks.append(slot_means(images, logits[..., :size])[:, start:size])
            start = size
        return tf.concat(blocks, axis=1)

    # --- self-supervised training with Eq. 2 -------------------------------------------------

    @staticmethod
    def _images(data):
        images, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("PaletteNet's Eq. 2 loss does not support sample weights")
        images = tf.convert_to_tensor(images)
        if not images.dtype.is_floating:
            raise ValueError(f"PaletteNet trains on float images in [-1, 1] (see image_to_unit), got {images.dtype}")
        return tf.cast(images, tf.float32)

    def _loss(self, images, training):
        if self.config.head == "slots" and self.config.loss_pixels and training:
            # The slot head reads each pixel on its own, so in training its means are estimated on
            # a random sample of pixels too (another sample than the loss's): 4x fewer at 128 px.
            palette = self.palette_head(sample_pixels(images, self.config.loss_pixels),
                                        self.pooled_features(images, training=True))
        else:
            palette = self(images, training=training)
        pixels = images
        if self.config.loss_pixels and training:
            pixels = sample_pixels(images, self.config.loss_pixels)
        if self.config.nested_sizes:
            loss = nested_quantization_loss(pixels, palette, self.config.nested_sizes)
        else:
            loss = quantization_loss(pixels, palette)
        if self.config.coverage_weight:
            loss = loss + self.config.coverage_weight * coverage_loss(pixels, palette)
        if self.losses:  # regularisers, if a caller adds any
            loss = loss + tf.add_n([tf.cast(l, loss.dtype) for l in self.losses])
        return loss

    def make_train_function(self, force=False):
        # Create the optimizer's slots up front: otherwise they appear during the first trace of the
        # train step and tf.function has to trace the whole (large) step a second time.
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        return super().make_train_function(force=force)

    def train_step(self, data):
        images = self._images(data)
        with tf.GradientTape() as tape:
            loss = self._loss(images, training=True)
            scaled = scale_loss_for_replicas(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(self._loss(self._images(data), training=False))
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    # --- convenience --------------------------------------------------------------------------

    def predict_palette(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 image ``[H, W, 3]`` -> uint8 palette ``[Np, 3]`` (inference mode)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3:
            raise ValueError(f"predict_palette expects one uint8 image [H, W, 3], got shape {rgb.shape}")
        palette = self(image_to_unit(rgb)[tf.newaxis], training=False)
        return palette_to_uint8(palette[0])

    # --- serialisation ------------------------------------------------------------------------

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        net_config = config.pop("config")
        config.pop("dtype", None)
        return cls(PaletteNetConfig.from_dict(net_config), **config)


#: At inference a slot head builds its colours from this many of the image's own pixels
#: (:func:`gif_pipeline.quant.palettes.grid_pixels`, as ``net+kmeans``'s last Lloyd steps), not from the network's
#: area-downscaled input, whose averaged colours pull the palette inward. Training crops are read at full
#: size, so these are the colours the head was trained on. Val PSNR at 16 / 32 / 64 colours: 28.22 -> 28.29,
#: 30.60 -> 30.74, 32.74 -> 32.91 dB (docs/experiments/gifnets.md).
SLOT_PIXELS = 128 * 128


def head_pixels(net: PaletteNet, images, count: int = SLOT_PIXELS):
    """What ``net``'s palette head reads at inference from full-size ``images`` ``[B, H, W, 3]``: for a slot
    head ``count`` of their own pixels, ``[B, 1, N, 3]``; else None (the network's input)."""
    if net.config.head != "slots":
        return None
    from gif_pipeline.quant.palettes import grid_pixels

    return grid_pixels(images, count)[:, tf.newaxis]


def build_palette_net(config: PaletteNetConfig | None = None) -> PaletteNet:
    """A built (weights created) :class:`PaletteNet` for ``config`` (paper defaults if None)."""
    return PaletteNet(config if config is not None else PaletteNetConfig())


def inference_function(net: PaletteNet, dtype: str = "float32", num_colors: int | None = None):
    """``images -> palette`` for ``gifnets encode``: the backbone with its batch norms folded
    (:func:`~gif_pipeline.layers.folding.fold_batch_norm`) in ``dtype``; the pool and the head stay
    float32. Not for training.

    Float32 by default, whatever the CPU: per 128-pixel input on this project's 2-core machine the fold
    took 14.9 -> 14.0 ms (Np = 16 slot head) and 13.1 -> 10.7 ms (nested Np = 256) at batch 1, where
    bfloat16 was slower (16.0, 12.7 ms); at batch 8 bfloat16 saved only another 0.6-0.8 ms per image.
    ``num_colors`` picks one of the network's :attr:`~PaletteNet.served_colors`; the function's optional
    ``pixels`` are what the head reads (:func:`head_pixels`; default: the images).
    """
    backbone = fold_batch_norm(net.backbone, dtype)

    if num_colors is not None:
        net.check_served(num_colors)

    def palette(images, pixels=None):
        features = net.pooled_features(images, backbone=backbone)
        return net.palette_head(images if pixels is None else pixels, features, num_colors)

    return palette
