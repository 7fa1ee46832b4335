"""The backward warp: exact on identity and integer flows, bilinear in between, border clamped, TFLite builtins."""
import numpy as np
import tensorflow as tf

import checks
from gif_pipeline.layers.warp import backward_warp


def _image(b=2, h=9, w=11, c=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (b, h, w, c)).astype(np.float32)


def test_identity_flow_gives_the_image_back_exactly():
    x = _image()
    np.testing.assert_array_equal(backward_warp(x, np.zeros(x.shape[:3] + (2,), np.float32)).numpy(), x)


def test_integer_flow_is_an_exact_shift_with_the_border_repeated():
    x = _image()
    flow = np.zeros(x.shape[:3] + (2,), np.float32)
    flow[..., 0], flow[..., 1] = 3, -2  # out[y, x] = in[y - 2, x + 3]
    got = backward_warp(x, flow).numpy()
    np.testing.assert_array_equal(got[:, 2:, :-3], x[:, :-2, 3:])
    np.testing.assert_array_equal(got[:, :2, :-3], np.repeat(x[:, :1, 3:], 2, axis=1))  # top rows clamp to row 0
    np.testing.assert_array_equal(got[:, 2:, -3:], np.repeat(x[:, :-2, -1:], 3, axis=2))  # right columns clamp


def test_half_pixel_flow_averages_neighbours_and_each_example_uses_its_own_flow():
    x = _image()
    flow = np.zeros(x.shape[:3] + (2,), np.float32)
    flow[0, ..., 0] = 0.5
    flow[1, ..., 1] = 0.25
    got = backward_warp(x, flow).numpy()
    np.testing.assert_allclose(got[0, :, :-1], (x[0, :, :-1] + x[0, :, 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(got[1, :-1], 0.75 * x[1, :-1] + 0.25 * x[1, 1:], atol=1e-6)


def test_gradients_reach_the_flow():
    x = tf.constant(_image())
    flow = tf.Variable(tf.fill(x.shape[:3] + (2,), 0.3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(backward_warp(x, flow))
    g = tape.gradient(loss, flow)
    assert g is not None and float(tf.reduce_sum(tf.abs(g))) > 0


def test_tflite_builtins_match_tensorflow():
    x = _image(1, 12, 10)
    flow = np.random.default_rng(1).uniform(-4, 4, (1, 12, 10, 2)).astype(np.float32)
    sig = [tf.TensorSpec([1, None, None, 3], tf.float32), tf.TensorSpec([1, None, None, 2], tf.float32)]
    checks.tflite_matches(backward_warp, sig, [x, flow], atol=1e-5)
