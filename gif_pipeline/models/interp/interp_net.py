"""The interpolation network of GIF2Video §4.2 (Super SloMo adapted to GIFs), in Keras 3.

Two U-Nets of the same shape (:func:`build_unet`, after the authors' ``UNet_flow``: double convs with LeakyReLU
0.1, no batch norm, average-pool downsampling, bilinear up-sampling, skips by concatenation):

1. the **flow U-Net** reads two frames and gives the flow to the other one (tanh, in units of ``max_flow``
   pixels); run on (0, 1) and (1, 0) with shared weights it gives F01 and F10;
2. for each time t the intermediate flows start as (Super SloMo Eq. 4)
   ``Ft0 = -(1-t) t F01 + t^2 F10`` and ``Ft1 = (1-t)^2 F01 - t (1-t) F10``;
   the **refinement U-Net** reads both frames, both frames warped by those flows and the flows, and gives
   refined flows and a visibility map V_t0 (V_t1 = 1 - V_t0);
3. the frame at t is ``((1-t) V_t0 g(I0, Ft0) + t V_t1 g(I1, Ft1)) / ((1-t) V_t0 + t V_t1)``, with ``g``
   the backward warp of :mod:`gif_pipeline.layers.warp`.

Any number of frames between two kept frames costs one flow pass and one refinement pass per frame
(:meth:`InterpNet.flows` once, :meth:`InterpNet.synthesize` per t).

Inputs are images in [-1, 1]: ``gif0``/``gif1`` (the GIF frames) and ``image0``/``image1`` (the frames to warp:
the GIF frames themselves, or the dequantized ones when a restoration network runs first); ``flow_input``
picks which pair the flow U-Net reads (the paper's parallel vs sequential variants).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from gif_pipeline.layers.warp import backward_warp
from gif_pipeline.models.interp import losses
from gif_pipeline.models.interp.config import InterpLossConfig, InterpNetConfig
from gif_pipeline.training.steps import LossTermsStep


@keras.saving.register_keras_serializable(package="gifnets")
class ResizeLike(layers.Layer):
    """Bilinear resize of ``x`` to the height and width of ``like`` (the U-Net's up-sampling to its skip)."""

    def call(self, inputs):
        x, like = inputs
        return tf.image.resize(x, tf.shape(like)[1:3], method="bilinear")

    def compute_output_shape(self, input_shapes):
        x, like = input_shapes
        return (x[0], like[1], like[2], x[3])


def _double_conv(x, width, kernel, leak, name):
    for i in (1, 2):
        x = layers.Conv2D(width, kernel, padding="same", name=f"{name}_conv{i}")(x)
        x = layers.LeakyReLU(leak, name=f"{name}_act{i}")(x)
    return x


def build_unet(config: InterpNetConfig, in_channels: int, out_channels: int, name: str) -> keras.Model:
    """The release's ``UNet_flow`` at ``config``'s widths: any input size (skips are matched by resizing)."""
    widths = config.widths()
    inputs = keras.Input((None, None, in_channels), name=f"{name}_input")
    x = _double_conv(inputs, widths[0], config.kernel(0), config.leak, f"{name}_down0")
    skips = [x]
    for level in range(1, config.levels):
        x = layers.AveragePooling2D(2, name=f"{name}_pool{level}")(x)
        x = _double_conv(x, widths[level], config.kernel(level), config.leak, f"{name}_down{level}")
        skips.append(x)
    for level in range(config.levels - 2, -1, -1):
        skip = skips[level]
        x = ResizeLike(name=f"{name}_up{level}")([x, skip])
        x = layers.Concatenate(name=f"{name}_cat{level}")([skip, x])
        x = _double_conv(x, widths[level], 3, config.leak, f"{name}_up{level}")
    outputs = layers.Conv2D(out_channels, 1, name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)


def intermediate_flows(f01, f10, t):
    """Super SloMo Eq. 4: the flows from time ``t`` to 0 and to 1, from F01 and F10 (``t`` broadcasts)."""
    ft0 = -(1.0 - t) * t * f01 + t * t * f10
    ft1 = (1.0 - t) * (1.0 - t) * f01 - t * (1.0 - t) * f10
    return ft0, ft1


def _time(t, like):
    """``t`` as ``[B, 1, 1, 1]`` float (from a scalar, ``[B]`` or ``[B, 1]``)."""
    t = tf.cast(t, like.dtype)
    t = tf.reshape(t, [-1, 1, 1, 1])
    return t + tf.zeros([tf.shape(like)[0], 1, 1, 1], like.dtype)


@keras.saving.register_keras_serializable(package="gifnets")
class InterpNet(LossTermsStep, keras.Model):
    """Flow U-Net + refinement U-Net with visibility maps; ``model.compile(optimizer=...); model.fit(ds)``
    trains it on dicts of :mod:`gif_pipeline.data.motion` (its own ``train_step``)."""

    def __init__(self, config: InterpNetConfig | None = None, loss_config: InterpLossConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config or InterpNetConfig()
        self.loss_config = loss_config or InterpLossConfig()
        self.flow_net = build_unet(self.config, 6, 2, "flow_net")
        self.refine_net = build_unet(self.config, 16, 5, "refine_net")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("loss", "reconstruction", "gradient", "warping", "smoothness", "psnr", "psnr_repeat")}

    # -------------------------------------------------------------------------------------------- inference
    def flows(self, frame0, frame1, training=False):
        """F01 and F10 (``[B, H, W, 2]``, units of ``max_flow``) from one batched pass of the flow U-Net."""
        pair = tf.concat([tf.concat([frame0, frame1], -1), tf.concat([frame1, frame0], -1)], 0)
        f = tf.tanh(self.flow_net(pair, training=training))
        f01, f10 = tf.split(f, 2, axis=0)
        return f01, f10

    def synthesize(self, image0, image1, f01, f10, t, training=False):
        """The frame at time ``t`` (and the flows and visibility behind it) from the flows of :meth:`flows`."""
        t = _time(t, image0)
        m = self.config.max_flow
        ft0_init, ft1_init = intermediate_flows(f01, f10, t)
        g0, g1 = backward_warp(image0, ft0_init * m), backward_warp(image1, ft1_init * m)
        r = self.refine_net(tf.concat([image0, image1, g0, g1, ft0_init, ft1_init], -1), training=training)
        d0, d1, v = r[..., 0:2], r[..., 2:4], r[..., 4:5]
        if self.config.refine == "residual":
            ft0, ft1 = ft0_init + tf.tanh(d0), ft1_init + tf.tanh(d1)
        else:
            ft0, ft1 = tf.tanh(d0), tf.tanh(d1)
        v0 = tf.sigmoid(v)
        w0, w1 = (1.0 - t) * v0, t * (1.0 - v0)
        frame = (w0 * backward_warp(image0, ft0 * m) + w1 * backward_warp(image1, ft1 * m)) / (w0 + w1 + 1e-8)
        return {"frame": frame, "ft0": ft0, "ft1": ft1, "vt0": v0, "ft0_init": ft0_init, "ft1_init": ft1_init}

    def call(self, inputs, training=False):
        """``inputs``: dict of ``gif0``, ``gif1``, ``image0``, ``image1`` (``[B, H, W, 3]`` in [-1, 1]; the images
        default to the GIF frames) and ``t`` (``[B]``); returns :meth:`synthesize`'s dict with ``f01``, ``f10``."""
        gif0, gif1 = inputs["gif0"], inputs["gif1"]
        image0, image1 = inputs.get("image0", gif0), inputs.get("image1", gif1)
        if self.config.flow_input == "gif":
            f01, f10 = self.flows(gif0, gif1, training=training)
        else:
            f01, f10 = self.flows(image0, image1, training=training)
        out = self.synthesize(image0, image1, f01, f10, inputs["t"], training=training)
        out.update(f01=f01, f10=f10)
        return out

    # ------------------------------------------------------------------------------------------- training
    def _loss(self, data, training):
        out = self(data, training=training)
        total, terms = losses.interp_losses(out, data["frame0"], data["frame1"], data["frame_t"],
                                            self.config.max_flow, self.loss_config)
        t = _time(data["t"], data["gif0"])
        repeat = tf.where(t < 0.5, data["gif0"], data["gif1"])  # the GIF: the nearest kept frame, repeated
        terms["psnr"] = _psnr(out["frame"], data["frame_t"])
        terms["psnr_repeat"] = _psnr(repeat, data["frame_t"])
        return total, terms

    # ------------------------------------------------------------------------------------------ saving
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "config": self.config.to_dict(),
                "loss_config": self.loss_config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        net = InterpNetConfig.from_dict(config.pop("config"))
        loss = InterpLossConfig.from_dict(config.pop("loss_config", {}))
        config.pop("dtype", None)
        return cls(net, loss, **config)


def _psnr(a, b):
    """Mean PSNR (dB) of images in [-1, 1], per example, after rounding to 8 bits as a file would."""
    a8 = tf.round(tf.clip_by_value((a + 1.0) * 127.5, 0.0, 255.0))
    b8 = tf.round(tf.clip_by_value((b + 1.0) * 127.5, 0.0, 255.0))
    mse = tf.reduce_mean(tf.square(a8 - b8), axis=[1, 2, 3])
    return tf.reduce_mean(10.0 * tf.math.log(255.0 ** 2 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0))


def build_interp_net(config: InterpNetConfig | None = None, loss_config: InterpLossConfig | None = None,
                     sample_size: int = 64) -> InterpNet:
    """An :class:`InterpNet` with its weights created (one call on a ``sample_size`` square)."""
    model = InterpNet(config, loss_config)
    z = tf.zeros([1, sample_size, sample_size, 3])
    model({"gif0": z, "gif1": z, "t": tf.constant([0.5])})
    return model
