"""GIFnets' deployable graph: image -> (palette, indices), the one computation behind every way of running it.

``gifnets encode`` (:func:`gif_pipeline.encode.encode_image`, stage by stage), the batch API
(:func:`gif_pipeline.encode.encode_batch`), the SavedModel for TF Serving and the TFLite files
(``export/``) all compute with these functions; :class:`EncoderGraph` holds the networks of one palette
size and owns the ``tf.function``s with input signatures that serving and TFLite export.

The computation (GIFnets Fig. 2 and Eq. 5):

1. PaletteNet reads the image area-downscaled to its ``input_size`` (:func:`downscale_short_side`); a
   slot head also reads the image's own pixels (:func:`palette_net.head_pixels`). A nested network gives
   its first ``n`` colours (``how="prefix"``); a larger one its ``n`` most used colours (``"prune"``).
2. ``net+kmeans``: ``refine`` Lloyd steps with split-merge moves on pixel samples
   (:func:`gif_pipeline.quant.palettes.refine_palette`).
3. The palette is rounded to the uint8 colours the GIF stores; DitherNet (batch norms folded) reads the
   image and its projection onto that palette and predicts E'; the indices are the nearest stored colour
   to ``I + E'``.
"""
from __future__ import annotations

import functools

import tensorflow as tf

from gif_pipeline.quant.projection import hard_projection, nearest

#: A larger PaletteNet cut to ``n`` colours keeps those most used on this many pixels (:func:`palettes.grid_pixels`).
PRUNE_GRID_PIXELS = 128 * 128
#: The name of the exported input (uint8 ``[B, H, W, 3]``) and signatures.
INPUT_NAME = "image"
SERVING_SIGNATURE = "serving_default"
DEBUG_SIGNATURE = "debug_float"


def _area_weights(n_in, n_out):
    """``[n_out, n_in]`` weights of an area (box) downscale of an axis: the overlap of output cell ``o``,
    ``[o * s, (o + 1) * s)`` with ``s = n_in / n_out``, with input pixel ``i``, over ``s``. Builtin ops only."""
    n_in_f, n_out_f = tf.cast(n_in, tf.float32), tf.cast(n_out, tf.float32)
    scale = n_in_f / n_out_f
    start = tf.range(n_out_f)[:, None] * scale
    pixel = tf.range(n_in_f)[None, :]
    overlap = tf.nn.relu(tf.minimum(start + scale, pixel + 1.0) - tf.maximum(start, pixel))
    return overlap / scale


def downscale_short_side(images, size: int, portable: bool = False):
    """Area-downscale float ``[B, H, W, 3]`` images so their short side is ``size`` (never upscales; 0: unchanged).

    With static shapes this is ``tf.image.resize(method="area")``; with dynamic ones, or ``portable`` (the
    exported graphs: TFLite has no area resize), the same box filter as two matrix products of builtin ops.
    """
    if not size:
        return images
    if images.shape[1] is not None and images.shape[2] is not None and not portable:
        h, w = int(images.shape[1]), int(images.shape[2])
        scale = size / min(h, w)
        if scale >= 1.0:
            return images
        return tf.image.resize(images, (max(1, round(h * scale)), max(1, round(w * scale))), method="area")
    hw = tf.shape(images)[1:3]
    scale = tf.minimum(1.0, tf.cast(size, tf.float32) / tf.cast(tf.reduce_min(hw), tf.float32))
    new = tf.maximum(1, tf.cast(tf.round(tf.cast(hw, tf.float32) * scale), tf.int32))
    rows, cols = _area_weights(hw[0], new[0]), _area_weights(hw[1], new[1])
    x = tf.transpose(images, [0, 3, 1, 2])  # [B, C, H, W]
    x = tf.matmul(tf.matmul(rows, x), cols, transpose_b=True)
    return tf.transpose(x, [0, 2, 3, 1])


def project_whole(image, palette):
    """Eq. 1 in one piece: ``(indices, quantized)`` for ``[B, H, W, 3]`` and ``[B, K, 3]``.

    Same result as :func:`hard_projection`, without its row chunking: for dynamic shapes that chunking is
    a ``tf.while_loop`` over a TensorArray, which TFLite's builtin ops cannot express. Memory is
    ``B*H*W*K`` floats, so this is for mobile-sized inputs.
    """
    shape = tf.shape(image)
    indices = tf.reshape(nearest(tf.reshape(image, [shape[0], -1, 3]), palette)[0], shape[:3])
    return indices, tf.gather(palette, indices, batch_dims=1)


def network_palettes(net, predict, images, n: int, refine: int = 0, how: str = "exact", refine_fn=None,
                     portable: bool = False):
    """Eq. 1's palettes ``[B, n, 3]`` (float, [-1, 1]) of ``images`` ``[B, H, W, 3]`` in [-1, 1].

    ``predict(images, pixels)`` is the PaletteNet ``net``'s inference forward pass
    (:func:`palette_net.inference_function`); ``how`` is how it gives ``n`` colours
    (:func:`gif_pipeline.weights.registry.palette_net_for`). ``refine`` Lloyd steps follow, by
    ``refine_fn(palette, images)`` if given (e.g. a compiled one), else :func:`palettes.refine_palette`.
    ``portable``: builtin TFLite ops only (:func:`downscale_short_side`).
    """
    from gif_pipeline.models.gifnets.palette_net import SLOT_PIXELS, head_pixels
    from gif_pipeline.quant import palettes

    # A slot head reads SLOT_PIXELS of the images' own pixels; a seed for Lloyd steps only as many as the first
    # steps read: the same PSNR after them, and a 256-slot head costs a quarter (docs/experiments/gifnets.md).
    pixels = head_pixels(net, images, palettes.REFINE_GRID_PIXELS[0] if refine else SLOT_PIXELS)
    palette = predict(downscale_short_side(images, getattr(net.config, "input_size", 0), portable), pixels)
    if how == "prefix":
        palette = palette[:, :n]
    elif how == "prune":  # each image's n most used colours, in the network's order
        indices, _ = hard_projection(palettes.grid_pixels(images, PRUNE_GRID_PIXELS)[:, :, tf.newaxis], palette)
        counts = tf.reduce_sum(tf.one_hot(indices, tf.shape(palette)[1]), axis=[1, 2])
        palette = tf.gather(palette, tf.sort(tf.math.top_k(counts, n).indices, axis=-1), batch_dims=1)
    elif how != "exact":
        raise ValueError(f"how must be exact, prefix or prune, got {how!r}")
    if refine:
        palette = refine_fn(palette, images) if refine_fn else palettes.refine_palette(images, palette, refine)
    return palette


def round_palette(palette):
    """Float palette in [-1, 1] -> the uint8 colours the GIF stores, ``round((p + 1) * 127.5)`` (half to even)."""
    return tf.cast(tf.round((tf.clip_by_value(palette, -1.0, 1.0) + 1.0) * 127.5), tf.uint8)


def dither_error(dither_net, images, palette, project=hard_projection):
    """DitherNet's error image E' = DitherNet(I, Proj(I, P)) (Eq. 5) for [-1, 1] inputs, in the images' dtype."""
    _, quantized = project(images, palette)
    return tf.cast(dither_net([images, quantized], training=False), images.dtype)


def dithered_indices(dither_net, images, palette, project=hard_projection):
    """Eq. 5: indices ``[B, H, W]`` of Proj(I + DitherNet(I, Proj(I, P)), P) for [-1, 1] inputs."""
    return project(images + dither_error(dither_net, images, palette, project), palette)[0]


class EncoderGraph:
    """The GIF encoder for one palette size: uint8 images ``[B, H, W, 3]`` -> palettes and indices.

    ``palette_net`` gives ``num_colors`` colours ``how`` (``exact``: its own head for them; ``prefix``: a
    nested network's first colours; ``prune``: its most used ones); ``refine`` Lloyd steps follow
    (``net+kmeans``; 0: ``net``); ``dither_net`` (batch norms folded or not) dithers, or None for the nearest
    colour. ``whole=True`` projects without row chunks (:func:`project_whole`: the dynamic-size TFLite
    graph); ``portable=True`` keeps to builtin TFLite ops (the exports). :meth:`outputs` is the computation;
    :meth:`concrete_functions` the signatures that are exported.
    """

    def __init__(self, palette_net, dither_net=None, num_colors: int = 16, refine: int = 0, how: str = "exact",
                 whole: bool = False, refine_fn=None, predict=None, portable: bool = False):
        from gif_pipeline.models.gifnets.palette_net import inference_function

        self.palette_net, self.dither_net, self.num_colors = palette_net, dither_net, num_colors
        self.refine, self.how, self.refine_fn, self.portable = int(refine), how, refine_fn, portable
        self.project = project_whole if whole else hard_projection
        head = num_colors if how == "exact" and num_colors in getattr(palette_net, "served_colors", ()) else None
        self.predict = predict or inference_function(palette_net, num_colors=head)

    def palettes(self, x):
        """Float palettes ``[B, n, 3]`` of ``x`` in [-1, 1]."""
        return network_palettes(self.palette_net, self.predict, x, self.num_colors, self.refine, self.how,
                                self.refine_fn, self.portable)

    def outputs(self, images) -> dict:
        """uint8 ``images`` -> ``indices`` uint8 ``[B, H, W]``, ``palette`` uint8 ``[B, n, 3]``, and the float
        ``palette_float``, ``error`` (E') and ``target`` (``I + E'``) in [-1, 1]."""
        x = tf.cast(images, tf.float32) / 127.5 - 1.0
        palette = self.palettes(x)
        palette_u8 = round_palette(palette)
        unit = tf.cast(palette_u8, tf.float32) / 127.5 - 1.0
        if self.dither_net is None:
            error, target = tf.zeros_like(x), x
        else:
            error = dither_error(self.dither_net, x, unit, self.project)
            target = x + error
        indices, _ = self.project(target, unit)
        return {"indices": tf.cast(indices, tf.uint8), "palette": palette_u8, "palette_float": palette,
                "error": error, "target": target}

    def serving_outputs(self, images) -> dict:
        """The served signature: ``indices`` and ``palette``."""
        out = self.outputs(images)
        return {"indices": out["indices"], "palette": out["palette"]}

    def debug_outputs(self, images) -> dict:
        """The float encoder: the float palette, E', and ``I + E'`` projected onto the float palette."""
        out = self.outputs(images)
        _, quantized = self.project(out["target"], out["palette_float"])
        return {"quantized": quantized, "error": out["error"], "palette": out["palette_float"]}

    def concrete_functions(self, input_shape=(None, None, None, 3), debug: bool = True) -> dict:
        """Signature name -> concrete function of the encoder for a uint8 ``input_shape`` input."""
        spec = tf.TensorSpec(list(input_shape), tf.uint8, name=INPUT_NAME)
        fns = {SERVING_SIGNATURE: self.serving_outputs}
        if debug:
            fns[DEBUG_SIGNATURE] = self.debug_outputs
        # No AutoGraph: the graph code has no tensor-dependent Python control flow, and AutoGraph slows tracing.
        return {name: tf.function(fn, autograph=False).get_concrete_function(spec) for name, fn in fns.items()}

    @functools.cached_property
    def batch_function(self):
        """:meth:`outputs` compiled for :func:`gif_pipeline.encode.encode_batch`: ``images -> (palette, indices)``.

        No ``reduce_retracing``: :func:`downscale_short_side` reads static shapes, so each batch shape gets
        its own trace (a relaxed ``[None, None, None, 3]`` trace failed on the second size)."""

        @tf.function(autograph=False)
        def run(images):
            out = self.outputs(images)
            return out["palette"], out["indices"]

        return run
