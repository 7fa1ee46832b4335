"""Reusable checks that every model family's tests call: save/load round trip, batch-norm fold equivalence,
TFLite agreement with Keras, and mirrored (2 logical CPUs) equality with one device.

Each takes the model and inputs of the family's test and fails with a message that says what differed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The small sample photos of the tests (64x64 PNGs; tests/fixtures/LICENSE.txt).
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def _numpy(x):
    if isinstance(x, dict):
        return {k: _numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_numpy(v) for v in x]
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def save_load_round_trip(model, inputs, tmp_path, name: str = "model.keras"):
    """``model.save`` then ``keras.saving.load_model``: the same weights and bit-equal outputs on ``inputs``.
    Returns the loaded model."""
    import keras

    path = os.path.join(tmp_path, name)
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert [tuple(v.shape) for v in loaded.weights] == [tuple(v.shape) for v in model.weights]
    want, got = _numpy(model(inputs, training=False)), _numpy(loaded(inputs, training=False))
    np.testing.assert_array_equal(got, want, err_msg=f"{name}: the loaded model computes otherwise")
    return loaded


def fold_equivalent(model, inputs, atol: float = 2e-5, dtype: str = "float32"):
    """The model with its batch norms folded (:func:`gif_pipeline.layers.folding.fold_batch_norm`) has fewer
    batch norms and the same outputs within ``atol``. Returns the folded model."""
    import keras

    from gif_pipeline.layers.folding import fold_batch_norm

    def batch_norms(m):
        return [layer for layer in m.layers if isinstance(layer, keras.layers.BatchNormalization)]

    folded = fold_batch_norm(model, dtype)
    assert len(batch_norms(folded)) < len(batch_norms(model)), "nothing was folded"
    np.testing.assert_allclose(_numpy(folded(inputs, training=False)), _numpy(model(inputs, training=False)),
                               atol=atol, err_msg="the folded model computes otherwise")
    return folded


def tflite_matches(function, input_signature, inputs, atol: float = 1e-5, builtin_only: bool = True):
    """Convert ``function`` (a callable of tensors, traced with ``input_signature``) to TFLite and run it on
    LiteRT: builtin ops only (no Flex), outputs within ``atol`` of the TensorFlow ones. Returns the TFLite
    outputs in signature order."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    fn = tf.function(function, input_signature=input_signature, autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if builtin_only:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    details = interpreter.get_input_details()
    for d, x in zip(details, inputs):
        interpreter.resize_tensor_input(d["index"], np.shape(x))
    interpreter.allocate_tensors()
    for d, x in zip(details, inputs):
        interpreter.set_tensor(d["index"], np.asarray(x, d["dtype"]))
    interpreter.invoke()
    want = tf.nest.flatten(fn(*[tf.constant(x) for x in inputs]))
    got = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    assert len(got) == len(want)
    # TFLite orders outputs by name for dicts; match each TensorFlow output to the one of its shape and values.
    for w in want:
        w = w.numpy()
        assert any(g.shape == w.shape and np.allclose(g, w, atol=atol) for g in got), \
            f"no TFLite output equals the TensorFlow output of shape {w.shape} within {atol}"
    return got


def mirrored_losses(kind: str) -> dict:
    """Per-step losses of a few training steps of ``kind`` (tests/mirrored_check.py) on one device and under
    MirroredStrategy over 2 logical CPUs, in a fresh process; asserts they are equal and that it trained."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "mirrored_check.py"), kind], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    # Equal losses mean equal forward passes (synchronized batch norm) and equal updates (gradients scaled by the
    # replica count before tf.distribute sums them).
    np.testing.assert_allclose(result["mirrored"], result["default"], rtol=2e-4)
    assert len(set(np.round(result["default"], 6))) == len(result["default"])  # the model did train
    return result
