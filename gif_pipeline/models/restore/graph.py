"""The restore family's deployable graph: (GIF frames, palette) -> restored frames, as uint8.

:class:`RestoreGraph` holds one CCDNet-k (its two U-Nets) and owns the ``tf.function`` with the input signature
that the SavedModel and the TFLite file export: ``serve(image uint8 [B, H, W, 3], palette uint8 [K, 3])`` ->
``{"restored": uint8 [B, H, W, 3]}`` (every frame of the batch shares the palette). Builtin TFLite ops only
(``tf.argmin`` for the palette projection). The Keras model's variables are tracked on the module (a Keras
model merely stored on a ``tf.Module`` would be saved without them).

:func:`runtime_functions` and :func:`classifier_function` are the concrete functions of the LiteRT runtime files
that ``gifnets restore`` runs (``python -m export.export_runtime --kinds restore``): float in, float out, one
CCDNet step per call, so that one file serves CCDNet-1, -2 and -3 and numpy applies the consistency post-step.
"""
from __future__ import annotations

import tensorflow as tf

from gif_pipeline.models.restore import ccdnet

SERVING_SIGNATURE = "serving_default"


class RestoreGraph(tf.Module):
    def __init__(self, model, steps: int = 2, name: str = "restore"):
        super().__init__(name=name)
        step1, update = ccdnet.parts(model)
        if steps > 1 and update is None:
            raise ValueError("this CCDNet has only step 1 trained")
        self.steps = int(steps)
        self.net = ccdnet.compose(step1, update, self.steps)
        self.tracked = list(self.net.variables)  # keep the weights in the SavedModel

    def restore_float(self, image, palette):
        """float ``[B, H, W, 3]`` and ``[K, 3]`` in [-1, 1] -> the restored float image in [-1, 1]."""
        image = tf.convert_to_tensor(image, tf.float32)
        palette = tf.convert_to_tensor(palette, tf.float32)
        batch = tf.shape(image)[0]
        palettes = tf.tile(tf.expand_dims(palette, 0), tf.stack([batch, 1, 1]))
        return self.net([image, palettes], training=False)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="image"),
                                  tf.TensorSpec([None, 3], tf.uint8, name="palette")])
    def serve(self, image, palette):
        x = tf.cast(image, tf.float32) / 127.5 - 1.0
        p = tf.cast(palette, tf.float32) / 127.5 - 1.0
        y = self.restore_float(x, p)
        restored = tf.cast(tf.clip_by_value(tf.round((y + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
        return {"restored": restored}


def save(graph: RestoreGraph, path: str) -> str:
    """SavedModel of ``graph.serve`` (``serving_default``): a plain module holding exactly the variables the traced
    function reads (as export/export_saved_model.py does), so that the TFLite converter freezes them to constants
    (saving the Keras-holding module itself left them as resource variables, unset in the TFLite file)."""
    concrete = graph.serve.get_concrete_function()
    module = tf.Module(name="restore")
    module.restore_variables = list({id(v): v for v in concrete.variables}.values())
    tf.saved_model.save(module, path, signatures={SERVING_SIGNATURE: concrete})
    return path


def to_tflite(saved_model_dir: str) -> bytes:
    """The float32 TFLite model of a SavedModel written by :func:`save` (builtin ops only)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SERVING_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _spec(channels, name, rank=4):
    return tf.TensorSpec([1] + [None] * (rank - 2) + [channels], tf.float32, name=name)


def _concrete(fn, signature, *keep):
    """The concrete function of ``fn`` holding ``keep`` (the folded Keras models): a concrete function refers to the
    variables it reads weakly, so without it they may be collected before the SavedModel is written."""
    concrete = tf.function(fn, autograph=False, input_signature=signature).get_concrete_function()
    concrete._gifnets_models = keep
    return concrete


def runtime_functions(model) -> dict:
    """The LiteRT runtime signatures of a CCDNet (batch norms folded; float32 ``[1, H, W, 3]`` in [-1, 1], any H, W):

    * ``step1``: ``gif`` -> ``logits`` ``z_1`` (``I_1 = tanh(z_1)``);
    * ``update`` (a network with a trained update U-Net): ``logits`` ``z_{t-1}``, ``gif``, ``palette`` ``[1, K, 3]``
      -> ``logits`` ``z_t``, one later step (:func:`ccdnet.update_step`).

    CCDNet-k is ``step1`` then ``k - 1`` calls of ``update``, and ``tanh`` of the last logits: the Keras network's
    :func:`ccdnet.compose` unrolled by the caller (:mod:`gif_pipeline.runtime.restore`)."""
    import keras

    from gif_pipeline.layers.folding import fold_batch_norm

    step1, update = ccdnet.parts(model)
    folded1 = fold_batch_norm(step1, "float32")
    fns = {"step1": _concrete(lambda gif: {"logits": folded1(gif, training=False)}, [_spec(3, "gif")], folded1)}
    if update is not None:
        folded = fold_batch_norm(update, "float32")
        z_in, gif_in = keras.Input((None, None, 3), name="logits"), keras.Input((None, None, 3), name="gif")
        palette_in = keras.Input((None, 3), name="palette")
        image = keras.layers.Activation("tanh", name="estimate1")(z_in)
        z, _ = ccdnet.update_step(folded, z_in, image, gif_in, palette_in)
        step = keras.Model([z_in, gif_in, palette_in], z, name="update_step")
        fns["update"] = _concrete(lambda logits, gif, palette: {"logits": step([logits, gif, palette], training=False)},
                                  [_spec(3, "logits"), _spec(3, "gif"), _spec(3, "palette", rank=3)], folded, step)
    return fns


def classifier_function(model) -> dict:
    """The dither classifier's LiteRT runtime signature ``classify``: ``gif`` float32 ``[1, H, W, 3]`` in [-1, 1] ->
    ``probability`` ``[1, 1]`` (P(dithered) = sigmoid of the logit; batch norms folded)."""
    from gif_pipeline.layers.folding import fold_batch_norm

    folded = fold_batch_norm(model, "float32")
    return {"classify": _concrete(lambda gif: {"probability": tf.sigmoid(folded(gif, training=False))},
                                  [_spec(3, "gif")], folded)}
