"""CCDNet (GIF2Video §4): compositional colour dequantization of a GIF ``G`` with palette ``C``.

* Step 1: ``z_1 = U_1(G)``, ``I_1 = tanh(z_1)`` (a U-Net on the GIF alone).
* Step t > 1: ``G_t = f_C(I_{t-1})`` (each pixel of the current estimate replaced by its nearest colour of the
  GIF's own palette; the same for plain and dithered GIFs, as the authors' release does), then one shared U-Net
  ``g`` reads ``[I_{t-1}, G, G_t, G - G_t]`` (12 channels) and updates the estimate.

Scaling (the issue's "mind the scaling"): the paper writes ``I_t = tanh(I_{t-1} + g(.))``; with ``I`` in
[-1, 1] that applies tanh twice to an unchanged estimate (``tanh(tanh(z)) != tanh(z)``), so a zero update would
shrink the image towards grey. Here the update adds to the pre-tanh value: ``z_t = z_{t-1} + g(.)``,
``I_t = tanh(z_t)``, i.e. the paper's form with ``I_{t-1}`` read as ``atanh(I_{t-1})``. A zero ``g`` leaves the
estimate unchanged, so step 2 starts from step 1's result.

Both U-Nets are :func:`gif_pipeline.layers.unet.unet` (5 levels, two conv+BN+ReLU per block, average pooling,
2x2 transposed convs) with a 1x1 output conv; inputs are padded to a multiple of 16 and cropped back.
Images are float ``[B, H, W, 3]`` in [-1, 1]; the palette is ``[B, K, 3]`` in [-1, 1] (pad a short palette
with copies of one of its colours: nearest-colour look-ups are unchanged).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from gif_pipeline.layers.unet import CropLike, PadToMultiple, unet
from gif_pipeline.models.restore.config import CCDNetConfig

__all__ = ["build_step_net", "build_ccdnet", "compose", "update_step", "PaletteProjection", "ResidualLogits", "parts",
           "config_of"]

#: The residual step 1 clips the GIF half a grey level inside [-1, 1] before atanh (|atanh| <= 3.1).
RESIDUAL_CLIP = 1.0 - 0.5 / 127.5


@keras.saving.register_keras_serializable(package="restore")
class ResidualLogits(layers.Layer):
    """``[gif, u] -> atanh(clip(gif)) + u``: the residual step 1 (``CCDNetConfig.residual``), so that
    ``tanh`` of it is the GIF itself when ``u = 0``."""

    def call(self, inputs):
        gif, u = inputs
        g = tf.clip_by_value(gif, -RESIDUAL_CLIP, RESIDUAL_CLIP)
        return 0.5 * tf.math.log((1.0 + g) / (1.0 - g)) + u

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


@keras.saving.register_keras_serializable(package="restore")
class PaletteProjection(layers.Layer):
    """``[image [B, H, W, 3], palette [B, K, 3]] -> f_C(image)``: each pixel's nearest palette colour.

    Squared distances as ``|c|^2 - 2 x.c`` (one batched matmul), ``tf.argmin`` (a builtin TFLite op) and a
    batched gather. No gradient flows to the image (the authors detach it too).
    """

    def call(self, inputs):
        image, palette = inputs
        image = tf.stop_gradient(image)
        shape = tf.shape(image)
        pixels = tf.reshape(image, [shape[0], -1, 3])
        norms = tf.expand_dims(tf.reduce_sum(tf.square(palette), axis=-1), 1)  # no new-axis slice: TFLite builtins
        scores = norms - 2.0 * tf.matmul(pixels, palette, transpose_b=True)
        index = tf.argmin(scores, axis=-1, output_type=tf.int32)
        nearest = tf.gather(palette, index, batch_dims=1)
        return tf.reshape(nearest, shape)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def build_step_net(config: CCDNetConfig, in_channels: int, name: str) -> keras.Model:
    """One CCDNet U-Net: ``[B, H, W, in_channels]`` -> ``[B, H, W, 3]`` (the pre-tanh output, any H, W). With
    ``config.residual`` the step-1 net (3 input channels) adds its output to ``atanh(G)`` (:class:`ResidualLogits`)."""
    x_in = keras.Input((None, None, in_channels), name=f"{name}_input")
    x = PadToMultiple(config.size_multiple, name=f"{name}_pad")(x_in)
    x = unet(x, config.level_channels, config.convs_per_level, config.batch_norm_momentum, name=name)
    # A corrective net (the residual step 1, every update step) starts at exactly "no change" (zero output conv);
    # the paper's step 1 starts near tanh(0) with a small output.
    corrective = in_channels != 3 or config.residual
    init = "zeros" if corrective else keras.initializers.VarianceScaling(0.1)
    x = layers.Conv2D(3, 1, name=f"{name}_out", kernel_initializer=init)(x)
    x = CropLike(name=f"{name}_crop")([x, x_in])
    if config.residual and in_channels == 3:
        x = ResidualLogits(name=f"{name}_residual")([x_in, x])
    return keras.Model(x_in, x, name=name)


def compose(step1: keras.Model, update: keras.Model | None, steps: int, name: str = "ccdnet",
            all_steps: bool = False) -> keras.Model:
    """CCDNet-``steps`` from its two U-Nets: ``[gif, palette] -> I_steps`` (or every ``I_t`` stacked on axis 1
    with ``all_steps``). ``update`` may be None only for ``steps == 1``."""
    if steps < 1 or steps > 3:
        raise ValueError(f"steps must be 1, 2 or 3, got {steps}")
    if steps > 1 and update is None:
        raise ValueError("CCDNet with more than one step needs the update U-Net")
    gif = keras.Input((None, None, 3), name="gif")
    palette = keras.Input((None, 3), name="palette")
    z = step1(gif)
    image = layers.Activation("tanh", name="estimate1")(z)
    estimates = [image]
    for t in range(2, steps + 1):
        z, image = update_step(update, z, image, gif, palette, t)
        estimates.append(image)
    if all_steps:
        out = StackSteps(name="steps")(estimates)
    else:
        out = image
    return keras.Model([gif, palette], out, name=name)


def update_step(update: keras.Model, z, image, gif, palette, t: int = 2):
    """One later step of CCDNet on Keras tensors: ``G_t = f_C(I_{t-1})``, ``z_t = z_{t-1} + g([I_{t-1}, G, G_t,
    G - G_t])``; returns ``(z_t, I_t = tanh(z_t))``. :func:`compose` unrolls it; the LiteRT runtime's ``update``
    signature (:func:`gif_pipeline.models.restore.graph.runtime_functions`) is one of it."""
    projected = PaletteProjection(name=f"project{t}")([image, palette])
    difference = layers.Subtract(name=f"difference{t}")([gif, projected])
    x = layers.Concatenate(axis=-1, name=f"update_input{t}")([image, gif, projected, difference])
    z = layers.Add(name=f"logits{t}")([z, update(x)])
    return z, layers.Activation("tanh", name=f"estimate{t}")(z)


@keras.saving.register_keras_serializable(package="restore")
class StackSteps(layers.Layer):
    """A list of ``[B, H, W, 3]`` estimates -> ``[B, n, H, W, 3]``."""

    def call(self, inputs):
        return tf.stack(list(inputs), axis=1)

    def compute_output_shape(self, input_shapes):
        first = input_shapes[0]
        return (first[0], len(input_shapes), *first[1:])


def build_ccdnet(config: CCDNetConfig | None = None, all_steps: bool = False) -> keras.Model:
    """A fresh CCDNet-``config.steps``: the step-1 U-Net (3 input channels) and the update U-Net (12)."""
    config = config if config is not None else CCDNetConfig()
    if not isinstance(config, CCDNetConfig):
        raise TypeError(f"config must be a CCDNetConfig, got {type(config).__name__}")
    step1 = build_step_net(config, 3, "step1")
    update = build_step_net(config, 12, "update") if config.steps > 1 else None
    return compose(step1, update, config.steps, all_steps=all_steps)


def parts(model: keras.Model) -> tuple[keras.Model, keras.Model | None]:
    """The ``(step1, update)`` U-Nets of a composed CCDNet (``update`` is None for a one-step network)."""
    names = {layer.name: layer for layer in model.layers}
    if "step1" not in names:
        raise ValueError(f"{model.name} is not a CCDNet (no step1 sub-network)")
    return names["step1"], names.get("update")


def config_of(model: keras.Model) -> CCDNetConfig:
    """The :class:`CCDNetConfig` of a composed CCDNet, read from its layers."""
    step1, update = parts(model)
    names = {layer.name: layer for layer in step1.layers}
    levels = 0
    while f"step1_enc{levels}_0_conv" in names:
        levels += 1
    convs = 0
    while f"step1_enc0_{convs}_conv" in names:
        convs += 1
    first = int(names["step1_enc0_0_conv"].filters)
    steps = sum(1 for layer in model.layers if layer.name.startswith("estimate"))
    return CCDNetConfig(width_multiplier=first / 64, levels=levels, convs_per_level=convs, steps=max(1, steps),
                        batch_norm_momentum=float(names["step1_enc0_0_bn"].momentum),
                        residual="step1_residual" in names)
