"""The one deployable graph of the interpolation family: uint8 frames in, uint8 frames out.

:class:`InterpGraph` holds a trained :class:`InterpNet` and its ``tf.function``\\ s with fixed signatures:

* ``flows(frame0, frame1)`` -> ``f01``, ``f10`` (float, units of ``max_flow``): once per pair of kept frames;
* ``synthesize(frame0, frame1, f01, f10, t)`` -> ``frame`` (uint8): once per new frame;
* ``interpolate(frame0, frame1, t)`` -> ``frame``: both in one call (the SavedModel's ``serving_default`` and
  the TFLite file).

Frames are ``[1, H, W, 3]`` uint8 of any size: the graph pads them by mirroring to a multiple of
``2 ** (levels - 1)`` (MIRROR_PAD in TFLite) and crops the result, so the Python API, the SavedModel and the
TFLite file compute the same thing. The frames the network warps are the GIF frames themselves (``gif0`` =
``image0``); a restoration network (CCDNet, issue 26) would hand its frames to ``image0``/``image1``.
"""
from __future__ import annotations

import tensorflow as tf

_FRAME = tf.TensorSpec([1, None, None, 3], tf.uint8)
_FLOW = tf.TensorSpec([1, None, None, 2], tf.float32)
_T = tf.TensorSpec([1], tf.float32)


def _unit(frame):
    return tf.cast(frame, tf.float32) / 127.5 - 1.0


def _uint8(x):
    return tf.cast(tf.round(tf.clip_by_value((x + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


class InterpGraph(tf.Module):
    def __init__(self, model, name: str = "interp"):
        super().__init__(name=name)
        self.model = model
        self.multiple = model.config.multiple

    def concrete_functions(self, names=("serving_default", "flows", "synthesize")) -> dict:
        functions = {"serving_default": self.interpolate, "flows": self.flows, "synthesize": self.synthesize}
        return {name: functions[name].get_concrete_function() for name in names}

    def save(self, path: str) -> dict:
        """A SavedModel with ``serving_default`` (= ``interpolate``), ``flows`` and ``synthesize``.

        Keras 3 pitfall: a Keras model merely stored on a ``tf.Module`` is saved without its variables, so the
        module holds the ``tf.Variable``s its traced functions read."""
        signatures = self.hold_variables()
        tf.saved_model.save(self, path, signatures=signatures)
        return signatures

    def hold_variables(self, names=("serving_default", "flows", "synthesize")) -> dict:
        """Track the ``tf.Variable``s the traced functions read (for a SavedModel or a TFLite conversion of this
        module); returns the concrete functions."""
        signatures = self.concrete_functions(names)
        seen, held = set(), []
        for fn in signatures.values():
            for v in fn.variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    held.append(v)
        self.held_variables = held
        return signatures

    def tflite(self, signature: str = "serving_default") -> bytes:
        """The float32 TFLite model of one function (builtin ops only), converted from this module."""
        fn = self.hold_variables((signature,))[signature]
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], self)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()

    def _pad(self, x):
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        m = self.multiple
        ph, pw = (m - h % m) % m, (m - w % m) % m
        # SYMMETRIC padding needs pad < size; a tiny frame is edge-extended by repeating the mirror.
        padded = tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]], mode="SYMMETRIC")
        # TFLite's CONV_2D needs the rank and channels known; MLIR's shape inference of a MirrorPad with computed
        # paddings gives neither, so say them with a (free) reshape.
        padded = tf.reshape(padded, [1, h + ph, w + pw, x.shape[-1]])
        return padded, h, w

    @tf.function(input_signature=[_FRAME, _FRAME], autograph=False)
    def flows(self, frame0, frame1):
        a, _, _ = self._pad(_unit(frame0))
        b, _, _ = self._pad(_unit(frame1))
        f01, f10 = self.model.flows(a, b)
        return {"f01": f01, "f10": f10}

    @tf.function(input_signature=[_FRAME, _FRAME, _FLOW, _FLOW, _T], autograph=False)
    def synthesize(self, frame0, frame1, f01, f10, t):
        a, h, w = self._pad(_unit(frame0))
        b, _, _ = self._pad(_unit(frame1))
        out = self.model.synthesize(a, b, f01, f10, t)
        return {"frame": _uint8(out["frame"][:, :h, :w])}

    @tf.function(input_signature=[_FRAME, _FRAME, _T], autograph=False)
    def interpolate(self, frame0, frame1, t):
        a, h, w = self._pad(_unit(frame0))
        b, _, _ = self._pad(_unit(frame1))
        f01, f10 = self.model.flows(a, b)
        out = self.model.synthesize(a, b, f01, f10, t)
        return {"frame": _uint8(out["frame"][:, :h, :w])}


def tflite_bytes(saved_model_dir: str, signature: str = "serving_default") -> bytes:
    """The float32 TFLite model of one signature of :meth:`InterpGraph.save`'s SavedModel (builtin ops only)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()
