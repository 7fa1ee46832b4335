"""The deployable graph (gif_pipeline/models/gifnets/graph.py): its dynamic-shape resize equals the area resize."""
import numpy as np
import pytest
import tensorflow as tf

import checks
from gif_pipeline.models.gifnets import graph


@pytest.mark.parametrize("hw,size", [((256, 256), 128), ((37, 50), 16), ((300, 200), 128), ((90, 61), 60)])
def test_dynamic_area_downscale_equals_tensorflows_area_resize(hw, size):
    images = tf.random.stateless_uniform([2, *hw, 3], seed=(1, 2), minval=-1.0, maxval=1.0)
    static = graph.downscale_short_side(images, size)
    dynamic = tf.function(lambda x: graph.downscale_short_side(x, size),
                          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])(images)
    assert dynamic.shape == static.shape
    np.testing.assert_allclose(dynamic.numpy(), static.numpy(), atol=1e-5)  # float32 rounding of fractional overlaps


def test_dynamic_area_downscale_converts_to_builtin_tflite_ops():
    image = np.random.default_rng(0).uniform(-1, 1, (1, 45, 33, 3)).astype(np.float32)
    (got,) = checks.tflite_matches(lambda x: graph.downscale_short_side(x, 16),
                                   [tf.TensorSpec([1, None, None, 3], tf.float32)], [image], atol=1e-5)
    np.testing.assert_allclose(got, tf.image.resize(image, (22, 16), method="area").numpy(), atol=1e-5)
