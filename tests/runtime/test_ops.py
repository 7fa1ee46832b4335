"""The runtime's numpy steps (gif_pipeline/runtime/ops.py) against the TensorFlow functions they replace."""
import numpy as np
import pytest

from gif_pipeline.runtime import ops


@pytest.mark.parametrize("shape", [(64, 64), (37, 90), (300, 200), (129, 128)])
def test_downscale_and_grid_pixels_match_tensorflow(shape):
    import tensorflow as tf

    from gif_pipeline.models.gifnets import graph
    from gif_pipeline.quant import palettes

    rgb = np.random.default_rng(0).integers(0, 256, (1, *shape, 3), dtype=np.uint8)
    x = ops.image_to_unit(rgb)
    for size in (0, 32, 128):
        np.testing.assert_allclose(ops.downscale_short_side(x, size),
                                   graph.downscale_short_side(tf.constant(x), size).numpy(), atol=2e-5)
    for count in (64 * 64, 128 * 128, 100):
        np.testing.assert_array_equal(ops.grid_pixels(x, count), palettes.grid_pixels(tf.constant(x), count).numpy())


def test_nearest_prune_and_tiles_match_tensorflow():
    import tensorflow as tf

    from gif_pipeline import encode
    from gif_pipeline.models.gifnets import graph
    from gif_pipeline.quant.projection import hard_projection

    rng = np.random.default_rng(1)
    x = ops.image_to_unit(rng.integers(0, 256, (1, 70, 90, 3), dtype=np.uint8))
    palette = rng.uniform(-1, 1, (1, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(ops.nearest_float(x, palette[0]), hard_projection(x, palette)[0].numpy())
    kept = ops.prune_palette(x, palette, 12)
    predict = lambda images, pixels: tf.constant(palette)  # noqa: E731
    net = type("Net", (), {"config": type("C", (), {"head": "dense", "input_size": 0})()})()
    want = graph.network_palettes(net, predict, tf.constant(x), 12, how="prune").numpy()
    np.testing.assert_array_equal(kept, want)
    fn = lambda t: t * 2.0  # noqa: E731
    np.testing.assert_array_equal(ops.tiled(fn, x, 16, 8), encode.tiled(fn, tf.constant(x), 16, 8).numpy())
    assert ops.palette_to_uint8(np.array([[-1.0, 0.0, 1.0]])).tolist() == [[0, 128, 255]]
