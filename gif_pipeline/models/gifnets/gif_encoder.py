"""The differentiable GIF encoder (GIFnets Fig. 2): PaletteNet, projection, DitherNet, projection.

    P  = PaletteNet(I)                     §3.1
    I' = Proj(I, P)                        Eq. 1 (hard) / Eq. 3 (soft)
    E' = DitherNet(I, I')                  §3.2
    Î  = Proj(I + E', P)                   Eq. 5

``soft=True`` (the default in training) uses the soft projection with temperature T so that
gradients reach DitherNet and PaletteNet; ``soft=False`` is the real encoder (every pixel is a
palette colour, with its index). ``dither_net=None`` gives PaletteNet + nearest colour.

:class:`GIFEncoder` also carries the training step of stage 2 (``stage="dither"``: PaletteNet
frozen, loss Eq. 6) and stage 3 (``stage="joint"``: both trained, loss Eq. 9). BandingNet, when
given, is a frozen critic in both.

Two training options of stage 2, not in the paper: ``projection="straight_through"`` projects
hard in training too and passes the gradient through the projection unchanged (the soft
projection's gradient vanishes away from the decision boundaries at T = 0.001), and
``refine_palette=N`` refines the frozen PaletteNet's palette with ``N`` Lloyd steps first, so
that DitherNet trains on the palettes that ``--palette net+kmeans`` gives it at inference.
``palette_colors=N`` uses the first ``N`` colours of a nested PaletteNet, or its head for ``N`` colours
(``PaletteNetConfig.head_sizes``) (stage 2 only).

Distillation (stage 2, not in the paper): with ``teacher`` (a frozen trained DitherNet) and ``distill_weight`` > 0,
the loss adds ``distill_weight * L1(E', E'_teacher)``, the teacher's E' on the same I and I' (term ``distill``).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gif_pipeline.models.gifnets import losses
from gif_pipeline.models.gifnets.config import LossConfig
from gif_pipeline.quant import palettes
from gif_pipeline.quant.projection import hard_projection, soft_projection
from gif_pipeline.training.steps import LossTermsStep

STAGES = ("dither", "joint")
PROJECTIONS = ("soft", "straight_through")


class GIFEncoder(LossTermsStep, keras.Model):
    """Image ``[B, H, W, 3]`` in [-1, 1] -> dict of ``palette``, ``quantized`` (I'), ``error`` (E'),
    ``dithered`` (Î) and, in hard mode, ``indices`` (int32 ``[B, H, W]``)."""

    def __init__(self, palette_net, dither_net=None, banding_net=None, *, loss_config: LossConfig | None = None,
                 temperature: float = 1e-3, stage: str = "dither", perceptual=None, projection: str = "soft",
                 refine_palette: int = 0, palette_colors: int | None = None, teacher=None, distill_weight: float = 0.0,
                 name="gif_encoder", **kwargs):
        super().__init__(name=name, **kwargs)
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
        if isinstance(refine_palette, bool) or not isinstance(refine_palette, int) or refine_palette < 0:
            raise ValueError(f"refine_palette must be a non-negative integer, got {refine_palette!r}")
        if stage == "joint" and (projection != "soft" or refine_palette):
            raise ValueError("the joint stage trains PaletteNet through the soft projection: "
                             "projection='straight_through' and refine_palette are stage-2 options")
        if palette_colors is not None and (isinstance(palette_colors, bool) or not isinstance(palette_colors, int)
                                           or palette_colors < 2):
            raise ValueError(f"palette_colors must be an integer >= 2, got {palette_colors!r}")
        if stage == "joint" and palette_colors is not None:
            raise ValueError("the joint stage trains PaletteNet: cutting a nested PaletteNet's palette to its "
                             "first colours would train that prefix at the expense of the others")
        self.projection, self.refine_palette, self.palette_colors = projection, refine_palette, palette_colors
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.palette_net, self.dither_net, self.banding_net = palette_net, dither_net, banding_net
        self.loss_config = loss_config or LossConfig()
        self.temperature, self.stage, self.perceptual = temperature, stage, perceptual
        self.palette_net.trainable = stage == "joint"
        if banding_net is not None:
            banding_net.trainable = False
        if distill_weight < 0 or (distill_weight > 0) != (teacher is not None) or (teacher is not None and stage != "dither"):
            raise ValueError("distillation needs stage 'dither', a teacher DitherNet and distill_weight > 0, together")
        self.teacher, self.distill_weight = teacher, float(distill_weight)
        if teacher is not None:
            teacher.trainable = False
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("loss", "l1_image", "l1_error", "banding", "perceptual", "vif", "lattice", "stripes", "l2_palette")
                         + (("distill",) if teacher is not None else ())}

    def call(self, images, training=False, soft=None):
        soft = training if soft is None else soft
        train_palette = training and self.stage == "joint"
        if self.palette_colors in getattr(self.palette_net, "served_colors", ()):  # a head of its own
            palette = self.palette_net.palette(images, self.palette_colors, training=train_palette)
        else:
            palette = self.palette_net(images, training=train_palette)
        if self.palette_colors is not None:  # a nested PaletteNet's first colours are a smaller palette
            palette = palette[:, :self.palette_colors]
        if self.refine_palette:
            palette = tf.stop_gradient(palettes.lloyd_refine(images, palette, self.refine_palette))
        if soft and self.projection == "straight_through":
            def project(x):
                return None, x + tf.stop_gradient(hard_projection(x, palette)[1] - x)
        elif soft:
            def project(x):
                return None, soft_projection(x, palette, self.temperature)
        else:
            def project(x):
                return hard_projection(x, palette)
        indices, quantized = project(images)
        out = {"palette": palette, "quantized": quantized}
        if self.dither_net is None:
            error, dithered = tf.zeros_like(images), quantized
        else:
            error = self.dither_net([images, quantized], training=training)
            indices, dithered = project(images + error)
        out.update(error=error, dithered=dithered)
        if indices is not None:
            out["indices"] = indices
        return out

    def _loss(self, images, training):
        out = self(images, training=training, soft=True)
        args = (images, out["dithered"], out["error"], out["quantized"], self.banding_net, self.perceptual,
                self.loss_config)
        total, terms = (losses.total_loss if self.stage == "joint" else losses.dither_loss)(*args)
        if self.stage != "joint":
            terms = dict(terms, l2_palette=losses.l2(images, out["quantized"]))
        if self.teacher is not None:
            target = tf.stop_gradient(self.teacher([images, out["quantized"]], training=False))
            terms["distill"] = losses.l1(out["error"], target)
            total = total + self.distill_weight * terms["distill"]
        return total, terms

    def _step_inputs(self, data):
        return tf.cast(keras.utils.unpack_x_y_sample_weight(data)[0], tf.float32)
