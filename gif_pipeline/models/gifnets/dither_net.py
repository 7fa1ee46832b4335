"""DitherNet (GIFnets §3.2): a U-Net that predicts an error image E' which, added to the image
before palette projection, replaces classical dithering (Eq. 5: ``I_hat = Proj(I + E', P)``).

Layer mapping for the paper's layout (``DitherNetConfig()``; ``c(n)`` = conv3x3 with ``n``
filters, no bias, + batch norm + ReLU; every entry of the paper's channel list is one such layer):

==========  =================================================  ===========================
stage       layers (Keras names)                               resolution
==========  =================================================  ===========================
input       ``concat(I, I')`` -> 6 channels (``input_concat``)  H x W
pad         symmetric pad to a multiple of 8 (``pad``)          H8 x W8 (H8 = ceil(H/8)*8)
encoder     ``enc0`` c(16), ``pool0`` 2x2 max-pool              1 -> 1/2
            ``enc1`` c(32), ``enc2`` c(32), ``pool2``           1/2 -> 1/4
            ``enc3`` c(64), ``enc4`` c(64), ``pool4``           1/4 -> 1/8
bottleneck  ``bottleneck0`` c(512), ``bottleneck1`` c(512)      1/8
decoder     ``up4`` 2x2 transposed conv (64, stride 2),          1/8 -> 1/4
            concat skip of ``enc4``, ``dec4`` c(64), ``dec3`` c(64)
            ``up2`` (32), concat ``enc2``, ``dec2`` c(32), ``dec1`` c(32)   1/4 -> 1/2
            ``up0`` (16), concat ``enc0``, ``dec0`` c(16)          1/2 -> 1
output      ``error`` 1x1 conv, 3 filters, tanh -> E' in [-1, 1]  H8 x W8
crop        back to H x W (``crop``)                            H x W
==========  =================================================  ===========================

Readings of the paper where it is terse (the issue: "blocks with (16, 32, 32, 64, 64) output
channels, 2x2 max-pooling between the (16, 32, 64) levels, two bottleneck layers of 512"):

* The list names *layers*, grouped into three resolution levels 16 | 32, 32 | 64, 64 (like the
  classic U-Net's two convs per level, with one at the first level); the bottleneck "layers" are
  counted the same way. So one conv+BN+ReLU per entry, not two.
* "Between the levels" includes the step from the 64-level down to the bottleneck, so there are
  three poolings (``pool_after = (0, 2, 4)``) and inputs are padded to a multiple of 8.
* Up-sampling is the classic U-Net "up-conv 2x2" (a stride-2 transposed conv with the channel
  count of the level it returns to); the decoder repeats the encoder's layers in reverse.
* Padding is symmetric (edge pixels repeated mirror-wise) at the bottom/right only, so the crop
  is a plain ``[:H, :W]`` and no artificial edge is created at the border.

Inputs: ``[image, quantized]``, both float32 ``[B, H, W, 3]`` in [-1, 1], any ``H, W >= 1``.
Output: E' ``[B, H, W, 3]`` in [-1, 1]. :func:`dither` then applies Eq. 5.

Issue 29 (not in the paper; off by default, so the shipped networks are unchanged): with only
stride-2 poolings and 2x2 stride-2 transposed convs, the network is translation-equivariant by multiples of
8 and has no other source of position, so on a flat region its E' is exactly periodic with a period that
divides 8: a dot lattice (the shipped Np = 16 network: peaks at the 4-px frequencies). Two options:

* ``noise_channels`` > 0: :class:`BlueNoise` concatenates a tiled void-and-cluster texture
  (``noise_period`` px, 256 by default) to ``[I, I']`` (``input_concat`` then has 6 + noise_channels
  channels). The texture is tiled from the top-left of the input, so tiles of a large image must start on
  multiples of the period (:func:`tile_alignment`, used by ``encode.tiled``).
* ``upsample="bilinear"`` or ``"nearest"``: ``up{i}`` is a 1x1 conv at the low resolution followed by
  :class:`Upsample2x` (``up{i}_resize``) instead of the transposed conv.

Inference (not in the paper): :func:`inference_model` folds every batch norm into its conv and,
on a CPU with native bfloat16 arithmetic, computes in bfloat16 (2.3x faster at 256x256, batch 8,
on this project's 2-core machine; E' moves by at most 0.004, half a grey level).
``GIFNETS_PRECISION=float32`` keeps float32.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from gif_pipeline.layers.folding import fold_batch_norm, inference_precision
from gif_pipeline.layers.unet import CropLike, PadToMultiple, Upsample2x, conv_bn_relu, symmetric_pad
from gif_pipeline.models.gifnets.config import DitherNetConfig
from gif_pipeline.quant.projection import hard_projection, soft_projection

__all__ = ["build_dither_net", "dither", "symmetric_pad", "PadToMultiple", "CropLike", "BlueNoise", "Upsample2x",
           "config_of", "tile_alignment", "with_noise_channels", "narrowed",
           "inference_model"]


@keras.saving.register_keras_serializable(package="gifnets")
class BlueNoise(layers.Layer):
    """``x [B, H, W, C] -> [B, H, W, channels]``: a ``period``-pixel blue-noise texture tiled from the top
    left (issue 29; :func:`gif_pipeline.layers.blue_noise.blue_noise_texture`), the same for every image.

    The texture is a non-trainable weight, so a saved network keeps the exact texture it was trained with
    (a new layer computes it, which takes ~20 s at period 256; a loaded one reads it from the file: its
    config says ``fill=False``). Builtin TFLite ops only (tile, strided slice, add).
    """

    def __init__(self, period: int = 64, channels: int = 1, fill: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.fill = bool(fill)
        if isinstance(period, bool) or not isinstance(period, int) or period < 4:
            raise ValueError(f"period must be an integer >= 4, got {period!r}")
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        self.period, self.channels = period, channels

    def build(self, input_shape):
        from gif_pipeline.layers.blue_noise import blue_noise_texture

        shape = (self.period, self.period, self.channels)
        initializer = (keras.initializers.Constant(blue_noise_texture(self.period, self.channels)) if self.fill
                       else "zeros")
        self.texture = self.add_weight(name="texture", shape=shape, trainable=False, initializer=initializer)

    def call(self, x):
        shape = tf.shape(x)
        reps = (shape[1] + self.period - 1) // self.period, (shape[2] + self.period - 1) // self.period
        texture = tf.cast(self.texture, x.dtype)
        tiled = tf.tile(texture, tf.stack([reps[0], reps[1], 1]))[:shape[1], :shape[2]]
        return tf.zeros_like(x[..., :1]) + tiled[None]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.channels)

    def get_config(self):
        # fill=False: a saved layer's texture comes back with its weights, not from blue_noise_texture.
        return {**super().get_config(), "period": self.period, "channels": self.channels, "fill": False}


def build_dither_net(config: DitherNetConfig | None = None, name: str = "dither_net") -> keras.Model:
    """The DitherNet U-Net (layer mapping in the module docstring) as a functional Keras model.

    Call it as ``model([image, quantized], training=...)`` with both in [-1, 1]; it returns E'.
    (Keras refuses a list mixing numpy arrays and tensors: pass both as one or the other.)
    """
    config = config if config is not None else DitherNetConfig()
    if not isinstance(config, DitherNetConfig):
        raise TypeError(f"config must be a DitherNetConfig, got {type(config).__name__}")
    momentum = config.batch_norm_momentum
    image = keras.Input((None, None, 3), name="image")
    quantized = keras.Input((None, None, 3), name="quantized")
    inputs = [image, quantized]
    if config.noise_channels:
        inputs.append(BlueNoise(config.noise_period, config.noise_channels, name="noise")(image))
    x = layers.Concatenate(axis=-1, name="input_concat")(inputs)
    x = PadToMultiple(config.size_multiple, name="pad")(x)

    skips = {}
    for i, channels in enumerate(config.block_channels):
        x = conv_bn_relu(x, channels, momentum, f"enc{i}")
        if i in config.pool_after:
            skips[i] = x
            x = layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
    for i, channels in enumerate(config.bottleneck_channels):
        x = conv_bn_relu(x, channels, momentum, f"bottleneck{i}")
    for i in reversed(range(len(config.block_channels))):
        channels = config.block_channels[i]
        if i in config.pool_after:
            if config.upsample == "transpose":
                x = layers.Conv2DTranspose(channels, 2, strides=2, kernel_initializer="he_normal", name=f"up{i}")(x)
            else:  # no fixed 2x2 pattern per level (issue 29): a 1x1 conv to the level's width, then a x2
                # resize (the two commute; the 1x1 conv at the low resolution is the cheaper order)
                x = layers.Conv2D(channels, 1, kernel_initializer="he_normal", name=f"up{i}")(x)
                x = Upsample2x(config.upsample, name=f"up{i}_resize")(x)
            x = layers.Concatenate(axis=-1, name=f"skip{i}")([x, skips[i]])
        x = conv_bn_relu(x, channels, momentum, f"dec{i}")
    # A small initial output keeps I + E' near I at the start of training (the paper gives no init).
    error = layers.Conv2D(3, 1, activation="tanh", name="error",
                          kernel_initializer=keras.initializers.VarianceScaling(0.1))(x)
    error = CropLike(name="crop")([error, image])
    return keras.Model([image, quantized], error, name=name)


def config_of(model: keras.Model) -> DitherNetConfig:
    """The :class:`DitherNetConfig` of a DitherNet built by :func:`build_dither_net`, read from its layers."""
    names = {layer.name: layer for layer in model.layers}

    def filters(prefix):
        out, i = [], 0
        while f"{prefix}{i}_conv" in names:
            out.append(int(names[f"{prefix}{i}_conv"].filters))
            i += 1
        return tuple(out)

    blocks = filters("enc")
    if not blocks or "error" not in names:
        raise ValueError(f"{model.name} is not a DitherNet (no enc0_conv or error layer)")
    bn = names["enc0_bn"]
    pools = tuple(i for i in range(len(blocks)) if f"pool{i}" in names)
    noise = names.get("noise")
    upsample = "transpose"
    if pools and f"up{pools[0]}_resize" in names:
        upsample = names[f"up{pools[0]}_resize"].interpolation
    extra = dict(noise_channels=int(noise.channels), noise_period=int(noise.period)) if noise is not None else {}
    return DitherNetConfig(block_channels=blocks, bottleneck_channels=filters("bottleneck"), pool_after=pools,
                           batch_norm_momentum=float(bn.momentum), upsample=upsample, **extra)


def with_noise_channels(model: keras.Model, noise_channels: int = 1, noise_period: int | None = None) -> keras.Model:
    """A copy of ``model`` (a trained DitherNet) that also reads ``noise_channels`` blue-noise channels, and
    gives the same E' as ``model`` until it is trained (issue 29: fine-tune the shipped networks with noise).

    Weight surgery: the new network has ``model``'s layout (:func:`config_of`) plus :class:`BlueNoise`; every
    weight is copied from ``model``, except the first conv's kernel, whose input channels grow from
    ``6 + k`` to ``6 + noise_channels`` (``k`` = ``model``'s noise channels): its old channels keep their
    values, the new ones start at zero, so the noise adds exactly 0 to ``enc0_conv``'s output. A network
    that already reads noise keeps its texture as the first channels (``noise_period`` must then be left out or equal its
    period); fewer channels than it has, or a different period, is an error.
    """
    import numpy as np

    old = config_of(model)
    period = old.noise_period if noise_period is None else int(noise_period)
    if old.noise_channels and period != old.noise_period:
        raise ValueError(f"{model.name} reads a {old.noise_period}-px texture; cannot change it to {period} px")
    if noise_channels < max(old.noise_channels, 1):
        raise ValueError(f"noise_channels must be >= {max(old.noise_channels, 1)} for {model.name} "
                         f"(it reads {old.noise_channels}), got {noise_channels}")
    new = build_dither_net(old.replace(noise_channels=int(noise_channels), noise_period=period), name=model.name)
    source = {layer.name: layer for layer in model.layers}
    for layer in new.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name == "noise":
            if "noise" in source:  # keep the texture the source network was trained with; new channels after it
                (texture,), (old_texture,) = weights, source["noise"].get_weights()
                layer.set_weights([np.concatenate([old_texture, texture[..., old_texture.shape[-1]:]], axis=-1)])
            continue
        old_weights = source[layer.name].get_weights()
        if layer.name == "enc0_conv":
            (kernel,), (old_kernel,) = weights, old_weights
            grown = np.zeros_like(kernel)
            grown[:, :, :old_kernel.shape[2]] = old_kernel
            old_weights = [grown]
        layer.set_weights(old_weights)
    return new


def narrowed(model: keras.Model, config: DitherNetConfig) -> keras.Model:
    """A narrower copy of a trained DitherNet (a start for distilling it into a faster network; not in the paper).

    ``config`` must have ``model``'s layout (poolings, up-sampling, noise input) with at most as many channels
    in every block and bottleneck layer. Weight surgery: every layer keeps the output channels of ``model``'s
    with the largest scale (for conv + batch norm, ``|gamma| / sqrt(var + eps)`` times the kernel's norm; for
    an up-sampling layer, its kernel's norm), in their original order, and every kernel keeps the input
    channels that its inputs kept (the skip concatenations included). The result is not ``model``'s function:
    it is a start that is much nearer to it than a random network.
    """
    import numpy as np

    old = config_of(model)
    layout = dict(pool_after=old.pool_after, upsample=old.upsample, noise_channels=old.noise_channels,
                  noise_period=old.noise_period)
    if any(getattr(config, k) != v for k, v in layout.items()) or \
            len(config.block_channels) != len(old.block_channels) or \
            len(config.bottleneck_channels) != len(old.bottleneck_channels):
        raise ValueError(f"config must have {model.name}'s layout {layout} and as many layers")
    wide = list(old.block_channels) + list(old.bottleneck_channels)
    thin = list(config.block_channels) + list(config.bottleneck_channels)
    if any(t > w for t, w in zip(thin, wide)):
        raise ValueError(f"config's channels {thin} must not exceed {model.name}'s {wide}")
    new = build_dither_net(config, name=model.name)
    src = {layer.name: layer for layer in model.layers}
    dst = {layer.name: layer for layer in new.layers}
    if "noise" in src:
        dst["noise"].set_weights(src["noise"].get_weights())

    def top(scores, n):
        return np.sort(np.argsort(-np.asarray(scores), kind="stable")[:n])

    def conv_bn(name, inputs, n):
        kernel, = src[f"{name}_conv"].get_weights()
        gamma, beta, mean, var = src[f"{name}_bn"].get_weights()
        eps = src[f"{name}_bn"].epsilon
        keep = top(np.abs(gamma) / np.sqrt(var + eps) * np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))), n)
        dst[f"{name}_conv"].set_weights([kernel[:, :, inputs][..., keep]])
        dst[f"{name}_bn"].set_weights([w[keep] for w in (gamma, beta, mean, var)])
        return keep

    keep = np.arange(6 + old.noise_channels)
    skips = {}
    for i, n in enumerate(config.block_channels):
        keep = conv_bn(f"enc{i}", keep, n)
        if i in config.pool_after:
            skips[i] = keep
    for i, n in enumerate(config.bottleneck_channels):
        keep = conv_bn(f"bottleneck{i}", keep, n)
    for i in reversed(range(len(config.block_channels))):
        n = config.block_channels[i]
        if i in config.pool_after:
            weights = src[f"up{i}"].get_weights()
            kernel, bias = weights
            if old.upsample == "transpose":  # kernel [2, 2, out, in]
                up = top(np.sqrt((kernel ** 2).sum(axis=(0, 1, 3))), n)
                dst[f"up{i}"].set_weights([kernel[:, :, up][:, :, :, keep], bias[up]])
            else:  # 1x1 conv, kernel [1, 1, in, out]
                up = top(np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))), n)
                dst[f"up{i}"].set_weights([kernel[:, :, keep][..., up], bias[up]])
            keep = np.concatenate([up, old.block_channels[i] + skips[i]])  # skip{i} = concat([up{i}, enc{i}])
        keep = conv_bn(f"dec{i}", keep, n)
    kernel, bias = src["error"].get_weights()
    dst["error"].set_weights([kernel[:, :, keep], bias])
    return new


def tile_alignment(model: keras.Model) -> int:
    """Offsets by which a DitherNet's E' moves with its input (tiles must start on multiples of this): the
    pooling grid (the padding multiple), and the blue-noise texture's period if it has one."""
    import math

    names = {layer.name: layer for layer in model.layers}
    align = int(names["pad"].multiple) if "pad" in names else 8
    if "noise" in names:
        align = math.lcm(align, int(names["noise"].period))
    return align


def inference_model(model: keras.Model, precision: str | None = None) -> keras.Model:
    """The DitherNet to run in ``gifnets encode``: batch norms folded (:func:`~gif_pipeline.layers.folding.fold_batch_norm`),
    in :func:`~gif_pipeline.layers.folding.inference_precision`."""
    return fold_batch_norm(model, inference_precision(precision))


def dither(image, palette, error, soft: bool, temperature: float = 1e-3, return_indices: bool = False):
    """Eq. 5: ``I_hat = Proj(I + E', P)``.

    Args:
      image: I, float ``[B, H, W, 3]`` (or ``[H, W, 3]``) in [-1, 1].
      palette: P, ``[B, K, 3]`` or ``[K, 3]`` in [-1, 1].
      error: E' from DitherNet, same shape as ``image``.
      soft: soft projection (Eq. 3, training; differentiable in I, E' and P) or hard projection
        (Eq. 1, inference; every pixel is exactly a palette colour).
      temperature: T of the soft projection.
      return_indices: with ``soft=False``, also return the int32 palette indices
        ``(indices, I_hat)``.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    error = tf.convert_to_tensor(error, tf.float32)
    if image.shape.is_fully_defined() and error.shape.is_fully_defined() and image.shape != error.shape:
        raise ValueError(f"image and error must have the same shape, got {image.shape} and {error.shape}")
    shifted = image + error
    if soft:
        if return_indices:
            raise ValueError("return_indices needs the hard projection (soft=False)")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        return soft_projection(shifted, palette, temperature)
    indices, dithered = hard_projection(shifted, palette)
    return (indices, dithered) if return_indices else dithered
