"""Build the LiteRT runtime models of ``gifnets encode`` and ``gifnets restore`` from the registry's ``.keras`` files
(issues #24, #26).

    python -m export.export_runtime                 # every kind in the shipped weights folder (gif_pipeline/weights/)
    python -m export.export_runtime --kinds restore # only the restore networks (after shipping new CCDNets/classifier)
    python -m export.export_runtime --weights DIR   # another weights folder (e.g. tiny test networks)

For every PaletteNet ``palette_np{N}.keras`` it writes ``palette_np{N}.tflite`` with these signatures
(batch 1, float32 in [-1, 1], dynamic sizes; builtin TFLite ops only):

* ``backbone``: ``image`` ``[1, h, w, 3]`` (the photo area-downscaled to the net's ``input_size``, by
  :func:`gif_pipeline.runtime.ops.downscale_short_side`) -> ``features`` ``[1, C]`` (batch norms folded);
* ``head{n}`` for every palette size the file serves: ``pixels`` ``[1, 1, N, 3]`` (the photo's own pixels,
  :func:`gif_pipeline.runtime.ops.grid_pixels`) and ``features`` -> ``palette`` ``[1, n, 3]``;
* ``refine``: ``net+kmeans``'s Lloyd steps and split-merge rounds
  (:func:`gif_pipeline.quant.palettes.refine_pixels`, the same TensorFlow code, as a graph whose step
  counts are inputs): ``coarse`` ``[1, Nc, 3]``, ``fine`` ``[1, Nf, 3]``, ``palette`` ``[1, K, 3]``,
  ``steps``, ``rounds``, ``fine_steps`` (int32) -> ``palette``.

For every DitherNet ``dither_np{N}.keras``: ``dither_np{N}.tflite`` with the signature ``unet``: ``x``
``[1, H, W, 6 + k]`` (image, projection and the network's ``k`` blue-noise channels, padded to multiples of 8) -> E'
(padded), batch norms folded, float32, every tensor's shape fixed by ``x``'s; a DitherNet with a blue-noise input
(issue 29) also has ``texture``: ``x`` ``[1]`` -> the texture ``[P, P, k]``. numpy builds, pads, tiles and crops
(:func:`gif_pipeline.runtime.backend.dither_error`; :func:`dither_signatures`).

Restore (``--kinds restore``; :func:`gif_pipeline.models.restore.graph.runtime_functions`), float16 weights unless
``--restore-precision float32`` (computed in float32; all float in [-1, 1], dynamic sizes, batch norms folded):

* ``ccdnet_plain.keras`` / ``ccdnet_dithered.keras`` -> ``.tflite`` with ``step1``: ``gif`` ``[1, H, W, 3]`` ->
  ``logits``, and ``update`` (a network with a trained update U-Net): ``logits``, ``gif``, ``palette`` ``[1, K, 3]``
  -> ``logits`` (one later step). CCDNet-k = ``step1``, ``k - 1`` updates, ``tanh``
  (:mod:`gif_pipeline.runtime.restore`); the output stays float for the consistency post-step. Checked for k = 1-3
  on 32-colour GIFs, plain and Floyd-Steinberg (:data:`RESTORED_OVER_1`, :data:`RESTORED_MAX`).
* ``gif_classifier.keras`` -> ``gif_classifier.tflite``: ``classify``: ``gif`` -> ``probability`` ``[1, 1]``.

Each file is checked against Keras on sample images (outputs within a tolerance) before it replaces the
old one, and recorded in the folder's ``registry.json`` (sha256, and the sha256 of the ``.keras`` file it
was built from: the runtime refuses a stale ``.tflite`` whose source changed). Run it again after a
``.keras`` file changes.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from gif_pipeline.errors import GifnetsError

log = logging.getLogger("gifnets.export")

#: Largest |TFLite - Keras| accepted in the check (palette colours and E' are in [-1, 1]); the heads' re-assignment
#: round (a softmax of 1000 x closeness) amplifies float rounding to ~5e-3 at 64-256 colours.
PALETTE_ATOL = 1e-2
#: Largest relative difference of the refined palettes' Eq. 2 error (TFLite vs TensorFlow) on the check photos.
REFINE_RTOL = 0.05
ERROR_ATOL = 2e-3
FEATURE_RTOL = 1e-3
#: Restore (CCDNet): the largest share of the restored uint8 values (after the consistency post-step) more than one
#: grey level from Keras's, and the largest difference. Float32 files agree within 1 level; float16 weights move the
#: logits by up to ~2 levels, and where that flips a pixel's nearest palette colour in a later step (a near-tie of
#: the palette projection) that pixel's update differs more: the trained CCDNets of 2026-12-06 had 2 levels on
#: 0.0014 % of the values, the tests' tiny random networks (large output convs) 10 levels on 0.018 %.
RESTORED_OVER_1 = 1e-3
RESTORED_MAX = 32.0
#: The dither classifier's P(dithered), LiteRT vs Keras.
PROBABILITY_ATOL = 1e-2
#: Every kind this command builds (``--kinds``; ``restore`` = the restore family's three).
KINDS = ("palette", "dither", "restore")
#: The command that rebuilds the restore family's runtime models only.
RESTORE_COMMAND = "python -m export.export_runtime --kinds restore"


class RuntimeExportError(GifnetsError):
    """A runtime model cannot be built or does not reproduce Keras."""


def _refine_graph(coarse, fine, palette, steps, rounds, fine_steps):
    """:func:`palettes.refine_pixels` with tensor step counts (one graph for every ``--kmeans-iterations``)."""
    import tensorflow as tf

    from gif_pipeline.quant import palettes as P

    big = 1 << 20
    cpix, fpix = coarse, fine  # [1, N, 3]
    palette = P._repeat(steps, lambda p: P._lloyd_update(cpix, p, big, True), palette)

    def one_round(palette, idx, dist):
        candidate = P._split_merge_candidate(cpix, palette, idx, dist, 0.1)
        candidate = P._repeat(2, lambda p: P._lloyd_update(cpix, p, big, True), candidate)
        new_idx, new_dist = P._assign_pixels(cpix, candidate, big)
        better = tf.reduce_sum(new_dist, -1) < tf.reduce_sum(dist, -1)
        return (tf.where(better[:, tf.newaxis, tf.newaxis], candidate, palette),
                tf.where(better[:, tf.newaxis], new_idx, idx), tf.where(better[:, tf.newaxis], new_dist, dist))

    palette, _, _ = P._repeat(rounds, one_round, palette, *P._assign_pixels(cpix, palette, big))
    return P._repeat(fine_steps, lambda p: P._lloyd_update(fpix, p, big, True), palette)


def palette_signatures(net) -> dict:
    """Signature name -> concrete function of PaletteNet ``net``'s runtime file (see the module docstring)."""
    import tensorflow as tf

    from gif_pipeline.layers.folding import fold_batch_norm

    backbone = fold_batch_norm(net.backbone, "float32")
    f32 = tf.float32
    fns = {}

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([1, None, None, 3], f32, name="image")])
    def features(image):
        return {"features": net.pooled_features(image, backbone=backbone)}

    fns["backbone"] = features.get_concrete_function()
    width = int(fns["backbone"].structured_outputs["features"].shape[-1])
    for n in net.served_colors:
        def head(pixels, feats, n=n):
            return {"palette": net.palette_head(pixels, feats, None if n == net.num_colors else n)}

        spec = [tf.TensorSpec([1, 1, None, 3], f32, name="pixels"), tf.TensorSpec([1, width], f32, name="features")]
        fns[f"head{n}"] = tf.function(head, autograph=False, input_signature=spec).get_concrete_function()
    i32 = tf.int32
    spec = [tf.TensorSpec([1, None, 3], f32, name="coarse"), tf.TensorSpec([1, None, 3], f32, name="fine"),
            tf.TensorSpec([1, None, 3], f32, name="palette"), tf.TensorSpec([], i32, name="steps"),
            tf.TensorSpec([], i32, name="rounds"), tf.TensorSpec([], i32, name="fine_steps")]
    fns["refine"] = tf.function(lambda *a: {"palette": _refine_graph(*a)}, autograph=False,
                                input_signature=spec).get_concrete_function()
    return fns


def _depth_to_space_up():
    """A Keras layer: a 2x2 stride-2 transposed conv computed as a 1x1 conv to ``4 * filters`` channels and a
    depth-to-space (the same sums; TFLite: CONV_2D + DEPTH_TO_SPACE, whose output shapes follow from the input's)."""
    import keras
    import tensorflow as tf

    class DepthToSpaceUp(keras.layers.Layer):
        def __init__(self, filters: int, **kwargs):
            super().__init__(**kwargs)
            self.filters = int(filters)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(1, 1, input_shape[-1], 4 * self.filters), name="kernel")
            self.bias = self.add_weight(shape=(4 * self.filters,), name="bias")

        def call(self, x):
            return tf.nn.depth_to_space(tf.nn.conv2d(x, self.kernel, 1, "VALID") + self.bias, 2)

        def compute_output_shape(self, s):
            return (s[0], None if s[1] is None else 2 * s[1], None if s[2] is None else 2 * s[2], self.filters)

    return DepthToSpaceUp


def _unet_body(folded):
    """DitherNet ``folded``'s layers from its input padding to E' (before the crop), as a Keras model in which every
    tensor's shape follows from the input's: ``x`` [1, H, W, 6 + k] (the concatenated image, projection and blue-noise
    channels, H and W multiples of 8) -> E' [1, H, W, 3]. Each 2x2 stride-2 transposed conv becomes a 1x1 conv and a
    depth-to-space (:func:`_depth_to_space_up`): TFLite's TRANSPOSE_CONV takes its output size as a tensor computed
    from the input's shape, which made every later tensor "dynamic" for the interpreter (2026-12-06 notebook, "fast
    DitherNet on LiteRT": 1.6x the time and memory)."""
    import keras

    up_class = _depth_to_space_up()
    body = keras.Model(folded.get_layer("pad").output, folded.get_layer("error").output)

    def clone(layer):
        if (isinstance(layer, keras.layers.Conv2DTranspose) and tuple(layer.kernel_size) == (2, 2)
                and tuple(layer.strides) == (2, 2) and layer.padding == "valid"
                and layer.activation is keras.activations.linear):
            return up_class(layer.filters, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    new = keras.models.clone_model(body, clone_function=clone)
    for layer in new.layers:
        weights = body.get_layer(layer.name).get_weights()
        if isinstance(layer, up_class):  # kernel [2, 2, out, in] -> [1, 1, in, (a * 2 + b) * out + c]
            kernel = weights[0]
            bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[2], kernel.dtype)
            layer.set_weights([kernel.transpose(3, 0, 1, 2).reshape(1, 1, kernel.shape[3], 4 * kernel.shape[2]),
                               np.tile(bias, 4)])
        elif weights:
            layer.set_weights(weights)
    return new


def dither_signatures(net) -> dict:
    """DitherNet ``net``'s runtime signatures, batch norms folded, float32:

    * ``unet``: ``x`` [1, H, W, 6 + k] -> ``error`` [1, H, W, 3]: E' of the concatenated image, projection and the
      network's ``k`` blue-noise channels (issue 29; none for k = 0), H and W multiples of 8 (the caller pads
      symmetrically at the bottom/right and crops, as the network's ``pad`` / ``crop`` layers do:
      :func:`gif_pipeline.runtime.backend.dither_error`). Every tensor's shape follows from ``x``'s, so one
      allocation serves all tiles of one size.
    * ``texture`` (k > 0): ``x`` [1] -> ``texture`` [P, P, k], the blue-noise texture the network tiles from the top
      left of the image. The runtime builds the noise channels itself, so tiles need only start on the 8-px grid.
    """
    import tensorflow as tf

    from gif_pipeline.layers.folding import fold_batch_norm

    folded = fold_batch_norm(net, "float32")
    body = _unet_body(folded)
    channels = int(body.inputs[0].shape[-1])
    spec = [tf.TensorSpec([1, None, None, channels], tf.float32, name="x")]
    fn = tf.function(lambda x: {"error": tf.cast(body(x, training=False), tf.float32)}, autograph=False,
                     input_signature=spec)
    signatures = {"unet": fn.get_concrete_function()}
    if "noise" in {layer.name for layer in folded.layers}:
        texture = tf.constant(np.asarray(folded.get_layer("noise").get_weights()[0], np.float32))
        signatures["texture"] = tf.function(
            lambda x: {"texture": texture + tf.reshape(x * 0.0, [])}, autograph=False,
            input_signature=[tf.TensorSpec([1], tf.float32, name="x")]).get_concrete_function()
    return signatures


def convert(signatures: dict, float16: bool = False) -> bytes:
    """One multi-signature TFLite model (builtin ops only) from concrete functions, through a SavedModel.
    ``float16``: weights stored as float16 (TFLite's float16 quantization; computed in float32)."""
    import tensorflow as tf

    from export.export_saved_model import tracked_variables
    from export.export_tflite import non_builtin_ops

    module = tf.Module(name="gifnets_runtime")
    module.runtime_variables = tracked_variables(signatures.values())
    tmp = tempfile.mkdtemp(prefix=".tmp-runtime-")
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=list(signatures))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        try:
            data = converter.convert()
        except Exception as e:
            raise RuntimeExportError(f"TFLite conversion failed: {str(e).strip().splitlines()[-1][:500]}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bad = non_builtin_ops(data)
    if bad:
        raise RuntimeExportError(f"the runtime model needs non-builtin ops {bad}")
    return data


def _check_images(sizes=((128, 192), (200, 144))) -> list[np.ndarray]:
    """Small uint8 photos for the check: crops of the package samples (two shapes, to exercise dynamic sizes)."""
    from PIL import Image

    from gif_pipeline.weights import registry

    folder = os.path.join(os.path.dirname(os.path.dirname(registry.__file__)), "samples")
    names = sorted(f for f in os.listdir(folder) if f.endswith((".png", ".jpg")))
    out = []
    for i, (h, w) in enumerate(sizes):
        rgb = np.asarray(Image.open(os.path.join(folder, names[i % len(names)])).convert("RGB"))
        out.append(np.ascontiguousarray(rgb[:h, :w]))
    return out


def check_palette(net, data: bytes, images) -> dict:
    """LiteRT vs Keras for every signature of a palette file; returns the largest differences."""
    import tensorflow as tf

    from gif_pipeline.quant import palettes
    from gif_pipeline.runtime import ops
    from gif_pipeline.runtime.litert import Model

    model = Model(data, "check")
    worst = {"features": 0.0, "head": 0.0, "refine": 0.0}
    for rgb in images:
        x = ops.image_to_unit(rgb)[None]
        small = ops.downscale_short_side(x, int(getattr(net.config, "input_size", 0) or 0))
        lite = model.run("backbone", image=small)["features"]
        ref = net.pooled_features(tf.constant(small), backbone=None).numpy()
        worst["features"] = max(worst["features"], float(np.max(np.abs(lite - ref)) / (np.max(np.abs(ref)) + 1e-6)))
        pixels = ops.grid_pixels(x, 4096)[:, None]
        coarse, fine = ops.grid_pixels(x, 4096), ops.grid_pixels(x, 16384)
        for n in net.served_colors:
            got = model.run(f"head{n}", pixels=pixels, features=ref)["palette"]
            want = net.palette_head(tf.constant(pixels), tf.constant(ref), None if n == net.num_colors else n).numpy()
            worst["head"] = max(worst["head"], float(np.max(np.abs(got - want))))
            lite = model.run("refine", coarse=coarse, fine=fine, palette=want, steps=np.int32(4), rounds=np.int32(2),
                             fine_steps=np.int32(2))["palette"]
            keras_ = palettes.refine_pixels(tf.constant(coarse), tf.constant(fine), tf.constant(want), 10).numpy()
            # Colours that no pixel chose move to the worst-served pixels, and near-ties among those pick other
            # (equally bad) pixels in TFLite and TensorFlow; Eq. 2's error on the pixels is what must agree.
            errors = [float(np.mean(np.min(np.sum((fine[0][:, None] - p[0][None]) ** 2, -1), -1))) for p in (lite, keras_)]
            worst["refine"] = max(worst["refine"], abs(errors[0] - errors[1]) / max(errors[1], 1e-9))
    if worst["features"] > FEATURE_RTOL or worst["head"] > PALETTE_ATOL or worst["refine"] > REFINE_RTOL:
        raise RuntimeExportError(f"the palette runtime model does not reproduce Keras: {worst}")
    return worst


def check_dither(net, data: bytes, images) -> dict:
    import tensorflow as tf

    from gif_pipeline.layers.folding import fold_batch_norm
    from gif_pipeline.runtime import backend, ops
    from gif_pipeline.runtime.litert import Model

    model = Model(data, "check")
    folded = fold_batch_norm(net, "float32")
    worst = 0.0
    for rgb in images:
        x = ops.image_to_unit(rgb)[None]
        pal = np.unique(rgb.reshape(-1, 3)[:: max(1, rgb.size // 48)], axis=0)[:16]
        unit = pal.astype(np.float32) / 127.5 - 1.0
        quantized = unit[ops.nearest_float(x, unit)]
        want = tf.cast(folded([tf.constant(x), tf.constant(quantized)], training=False), tf.float32).numpy()
        # one piece, and in tiles of at most 64 x 64 pixels with their halo (the tiles' E' is the whole image's up to
        # float rounding: the halo is wider than the 45 px a pixel reaches)
        for budget in (1 << 30, 64 * 64):
            got = backend.dither_error(model, x, unit, budget)
            worst = max(worst, float(np.max(np.abs(got - want))))
    if worst > ERROR_ATOL:
        raise RuntimeExportError(f"the DitherNet runtime model does not reproduce Keras: max |diff| {worst}")
    return {"error": worst}


def _check_gifs(images, sizes=((96, 120), (72, 88))) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(gif uint8 [H, W, 3], palette uint8 [K, 3])`` of crops of the check photos (``sizes``: not multiples of the
    U-Net's 16-px grid) at 32 colours, plain and Floyd-Steinberg dithered (Pillow's median cut), as ``gifnets
    restore`` reads them."""
    from PIL import Image

    from gif_pipeline.restore import image_palette

    out = []
    for rgb, (h, w) in zip(images, sizes):
        rgb = np.ascontiguousarray(rgb[:h, :w])
        plain = Image.fromarray(rgb).quantize(32)
        dithered = Image.fromarray(rgb).quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG)
        for gif in (np.asarray(plain.convert("RGB")), np.asarray(dithered.convert("RGB"))):
            out.append((gif, image_palette(gif)[0]))
    return out


def _grey_levels(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) * 127.5


def check_ccdnet(net, data: bytes, gifs, which: str) -> dict:
    """LiteRT vs Keras for CCDNet-1/2/3 (CCDNet-1 only for a step-1 network) on ``gifs`` (:func:`_check_gifs`):
    the largest float difference in grey levels, and of the restored uint8 images after the consistency post-step
    (:func:`gif_pipeline.models.restore.consistency.make_consistent`, as ``gifnets restore`` runs it)."""
    from gif_pipeline.models.restore import ccdnet, consistency
    from gif_pipeline.runtime import restore as runtime_restore
    from gif_pipeline.runtime.litert import Model

    step1, update = ccdnet.parts(net)
    steps = 3 if update is not None else 1
    keras_net = ccdnet.compose(step1, update, steps, all_steps=True)
    lite = runtime_restore.ccdnet(Model(data, "check"), steps, all_steps=True)
    worst = {"float": 0.0, "restored": 0.0, "restored>1": 0.0}
    for gif, palette in gifs:
        x, unit = gif.astype(np.float32)[None] / 127.5 - 1.0, palette.astype(np.float32)[None] / 127.5 - 1.0
        want, got = np.asarray(keras_net([x, unit], training=False)), lite(x, unit)  # [1, steps, H, W, 3]
        worst["float"] = max(worst["float"], _grey_levels(got, want))
        for t in range(steps):
            restored = [np.clip(np.rint(consistency.make_consistent((o[0, t] + 1.0) * 127.5, gif, palette, which)),
                                0, 255) for o in (got, want)]
            diff = np.abs(restored[0] - restored[1])
            worst["restored"] = max(worst["restored"], float(diff.max()))
            worst["restored>1"] = max(worst["restored>1"], float(np.mean(diff > 1)))
    if worst["restored"] > RESTORED_MAX or worst["restored>1"] > RESTORED_OVER_1:
        raise RuntimeExportError(f"the {which} CCDNet runtime model does not reproduce Keras: {worst}")
    return worst


def check_classifier(net, data: bytes, gifs) -> dict:
    """LiteRT vs Keras P(dithered) of the dither classifier on ``gifs``."""
    import tensorflow as tf

    from gif_pipeline.runtime import restore as runtime_restore
    from gif_pipeline.runtime.litert import Model

    lite = runtime_restore.classifier(Model(data, "check"))
    worst = 0.0
    for gif, _ in gifs:
        x = gif.astype(np.float32)[None] / 127.5 - 1.0
        want = tf.sigmoid(net(tf.constant(x), training=False)).numpy()
        worst = max(worst, float(np.max(np.abs(lite(x) - want))))
    if worst > PROBABILITY_ATOL:
        raise RuntimeExportError(f"the dither classifier runtime model does not reproduce Keras: max |diff| {worst}")
    return {"probability": worst}


def _restore_runtime(kind: str, net, gifs, float16: bool) -> tuple[bytes, dict]:
    from gif_pipeline.models.restore import graph

    if kind == "gif_classifier":
        data = convert(graph.classifier_function(net), float16)
        return data, check_classifier(net, data, gifs)
    data = convert(graph.runtime_functions(net), float16)
    return data, check_ccdnet(net, data, gifs, kind.split("_", 1)[1])


def _kinds(names) -> tuple[str, ...]:
    """``restore`` stands for the restore family's three kinds."""
    from gif_pipeline.runtime.restore import KINDS as RESTORE

    out = []
    for name in names:
        for kind in RESTORE if name == "restore" else (name,):
            if kind not in ("palette", "dither", *RESTORE):
                raise RuntimeExportError(f"unknown kind {kind!r}; expected palette, dither, restore or one of {RESTORE}")
            if kind not in out:
                out.append(kind)
    return tuple(out)


def export_folder(folder: str | None = None, kinds=KINDS, record: bool = True,
                  restore_float16: bool = True, encode_float16: bool = False) -> list[str]:
    """Build and check the runtime model of every palette / dither / restore ``.keras`` file in ``folder``
    (default: the weights folder); write ``*.tflite`` beside them and record them in its registry. Returns the
    paths. ``restore_float16``: store the restore networks' weights as float16 (the encoder's stay float32)."""
    from gif_pipeline.io.files import atomic_write
    from gif_pipeline.weights import registry

    if folder:
        os.environ["GIFNETS_WEIGHTS"] = folder
    folder = registry.weights_dir()
    kinds = _kinds(kinds)
    images = _check_images()
    gifs = _check_gifs(images) if set(kinds) - {"palette", "dither"} else []
    written = []
    for kind in kinds:
        for entry in registry.entries(kind):
            start = time.perf_counter()
            source = registry.locate(entry.file)
            net = registry.load(kind, entry.np, source)
            if kind in ("palette", "dither"):
                sigs = palette_signatures(net) if kind == "palette" else dither_signatures(net)
                data = convert(sigs, encode_float16)
                check = (check_palette if kind == "palette" else check_dither)(net, data, images)
                runtime = registry.runtime_entry(entry, entry.file.rsplit(".", 1)[0] + ".tflite",
                                                 registry.file_config(source))
            else:
                data, check = _restore_runtime(kind, net, gifs, restore_float16)
                runtime = dataclasses.replace(registry.runtime_entry(entry, entry.file.rsplit(".", 1)[0] + ".tflite"),
                                              train=RESTORE_COMMAND, evaluate="python benchmarks/restore_speed.py")
            path = os.path.join(folder, runtime.file)
            atomic_write(path, data, force=True)
            if record and os.path.exists(os.path.join(folder, registry.MANIFEST)):
                registry.record(runtime, folder)
            log.info("wrote %s (%d bytes, %.1f s; max |LiteRT - Keras| %s)", path, len(data),
                     time.perf_counter() - start, {k: f"{v:.2e}" for k, v in check.items()})
            print(f"{path}: {len(data):,} bytes, checked against Keras ({', '.join(f'{k} {v:.1e}' for k, v in check.items())})")
            written.append(path)
    return written


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    p = argparse.ArgumentParser(prog="python -m export.export_runtime", description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=None, help="weights folder (default: $GIFNETS_WEIGHTS or gif_pipeline/weights)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="comma-separated: palette, dither, restore (= ccdnet_plain, ccdnet_dithered, gif_classifier) "
                   "or one of those three (default: %(default)s; a kind without a .keras file is skipped)")
    p.add_argument("--restore-precision", choices=("float16", "float32"), default="float16",
                   help="weight storage of the restore .tflite files (computation is float32; default: %(default)s)")
    p.add_argument("--encode-precision", choices=("float16", "float32"), default="float32",
                   help="weight storage of the palette / dither .tflite files (computation is float32; default: %(default)s)")
    args = p.parse_args(argv)
    try:
        export_folder(args.weights, tuple(k for k in args.kinds.split(",") if k),
                      restore_float16=args.restore_precision == "float16",
                      encode_float16=args.encode_precision == "float16")
    except GifnetsError as e:
        print(f"export_runtime: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
