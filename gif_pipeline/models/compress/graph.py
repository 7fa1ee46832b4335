"""The compression family's deployable graphs: ``compress`` (image -> symbols) and ``decompress`` (symbols -> image).

Both are ``tf.function``s with input signatures on :class:`CompressionGraph` (the pattern of tensorflow/compression's
models: the model owns its compress / decompress functions, and saving it is saving them). Everything between
raw pixels and the quantized code is inside them: padding to a multiple of 16 (mirror) and cropping back, the
[-1, 1] scaling, the keep map on the latent grid, the nearest centre, G, and the uint8 rounding. The entropy
coder (:mod:`.entropy`) and the file format (:mod:`.codec`) are the only Python around them: they work on the
integer symbols, so a phone that runs the TFLite decompress graph needs only a range decoder beside it.

* ``compress(image uint8 [B, H, W, 3], keep uint8 [B, H, W, 1])`` -> ``symbols`` uint8 [B, h, w, C] (indices 0..L-1
  of the centres; the centre index where not kept), ``keep`` uint8 [B, h, w, 1]; h, w = ceil(H / 16), ceil(W / 16).
* ``decompress(symbols uint8 [B, h, w, C], keep uint8 [B, h, w, 1], size int32 [2])`` -> ``image`` uint8
  [B, size[0], size[1], 3].
"""
from __future__ import annotations

import tensorflow as tf

from gif_pipeline.models.compress import quantizer
from gif_pipeline.models.compress.config import DOWNSAMPLING
from gif_pipeline.models.compress.model import latent_keep


def pad_to_multiple(x, multiple: int = DOWNSAMPLING, zeros: bool = False):
    """Mirror-pad [B, H, W, c] at the bottom and right to multiples of ``multiple`` (H, W > ``multiple``): the pad
    is the reversed rows / columns before the last, as ``tf.pad(mode="REFLECT")``, written with slices and a
    concatenation (TFLite's converter loses the rank of a MIRROR_PAD with dynamic paddings). ``zeros``: pad with
    zeros instead (the keep mask: the padding is never kept for its own sake)."""
    shape = tf.shape(x)
    pad_h, pad_w = (-shape[1]) % multiple, (-shape[2]) % multiple
    scale = 0.0 if zeros else 1.0
    x = tf.concat([x, scale * tf.reverse(x[:, shape[1] - 1 - pad_h:shape[1] - 1], axis=[1])], axis=1)
    return tf.concat([x, scale * tf.reverse(x[:, :, shape[2] - 1 - pad_w:shape[2] - 1], axis=[2])], axis=2)


class CompressionGraph(tf.Module):
    """The trained E and G of one :class:`~.model.Compressor`, as the two deployable functions."""

    def __init__(self, compressor, name: str = "compression"):
        super().__init__(name=name)
        self.compressor = compressor
        self.config = compressor.config
        c = self.config.channels
        self.compress = tf.function(self._compress, input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="image"),
            tf.TensorSpec([None, None, None, 1], tf.uint8, name="keep")])
        self.decompress = tf.function(self._decompress, input_signature=[
            tf.TensorSpec([None, None, None, c], tf.uint8, name="symbols"),
            tf.TensorSpec([None, None, None, 1], tf.uint8, name="keep"),
            tf.TensorSpec([2], tf.int32, name="size")])

    def _compress(self, image, keep):
        x = pad_to_multiple(tf.cast(image, tf.float32) / 127.5 - 1.0)
        k = latent_keep(pad_to_multiple(tf.cast(keep, tf.float32), zeros=True))
        w = self.compressor.encoder(x)
        # The centre index where not kept, as arithmetic (TFLite's SELECT takes no uint8).
        symbols = quantizer.symbols(w * k, self.config.num_centers)
        return {"symbols": symbols, "keep": tf.cast(k, tf.uint8)}

    def _decompress(self, symbols, keep, size):
        k = tf.cast(keep, tf.float32)
        w_hat = quantizer.centers_of(symbols, self.config.num_centers) * k
        x = self.compressor.decode(w_hat, k)
        x = tf.slice(x, [0, 0, 0, 0], tf.stack([-1, size[0], size[1], -1]))
        return {"image": tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)}

    def concrete_functions(self):
        return {"compress": self.compress.get_concrete_function(), "decompress": self.decompress.get_concrete_function()}


def export_module(graph: CompressionGraph) -> tf.Module:
    """A tf.Module that owns every variable the two functions read (a Keras model merely stored on a tf.Module
    is saved without its variables), with the functions as its signatures."""
    functions = graph.concrete_functions()
    module = tf.Module(name="gifnets_compression")
    seen, variables = set(), []
    for fn in functions.values():
        for v in fn.variables:
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    module.compression_variables = variables
    module.compress = graph.compress
    module.decompress = graph.decompress
    return module, functions


def save(graph: CompressionGraph, path: str) -> str:
    """SavedModel with the signatures ``compress`` and ``decompress`` (``serving_default`` is decompress)."""
    module, functions = export_module(graph)
    tf.saved_model.save(module, path, signatures={"compress": functions["compress"], "decompress": functions["decompress"],
                                                  "serving_default": functions["decompress"]})
    return path


def to_tflite(graph: CompressionGraph, which: str) -> bytes:
    """A TFLite model (float32, builtin ops only) of ``which`` ("compress" or "decompress")."""
    module, functions = export_module(graph)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([functions[which]], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()
