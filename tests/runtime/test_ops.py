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


def test_dither_input_steps_match_the_network_layers():
    """The symmetric padding and the blue-noise channels that the runtime builds for DitherNet's ``unet`` signature
    are the network's ``pad`` and ``noise`` layers."""
    import tensorflow as tf

    from gif_pipeline.layers.unet import PadToMultiple, _symmetric_indices
    from gif_pipeline.models.gifnets.dither_net import BlueNoise

    for n, after in ((5, 3), (8, 0), (3, 13), (1, 7)):
        np.testing.assert_array_equal(ops.symmetric_indices(n, 0, after), _symmetric_indices(n, 0, after).numpy())
    x = np.random.default_rng(2).uniform(-1, 1, (1, 45, 70, 3)).astype(np.float32)
    layer = BlueNoise(16, 2)
    noise = layer(tf.constant(x)).numpy()
    texture = layer.get_weights()[0]
    np.testing.assert_array_equal(ops.blue_noise(texture, np.arange(45), np.arange(70))[None], noise)
    # a window of the padded image: the noise at the padded rows/columns is the mirrored image's
    rows, cols = ops.symmetric_indices(45, 0, 3), ops.symmetric_indices(70, 0, 2)
    padded = PadToMultiple(8)(tf.constant(np.concatenate([x, noise], -1))).numpy()
    np.testing.assert_array_equal(np.concatenate([x[:, rows][:, :, cols], ops.blue_noise(texture, rows, cols)[None]], -1),
                                  padded)


@pytest.mark.parametrize("n,count,halo", [(800, 2, 48), (1200, 3, 48), (45, 1, 48), (75, 4, 16), (1000, 7, 64), (64, 9, 8)])
def test_tile_windows_cover_the_axis_with_one_window_size_and_the_halo(n, count, halo):
    tiles = ops.tile_windows(n, count, halo)
    n8 = n + -n % 8
    assert tiles[0][0] == 0 and tiles[-1][1] == n8 and all(a[1] == b[0] for a, b in zip(tiles, tiles[1:]))
    assert len({size for *_, size in tiles}) == 1
    for start, end, w0, size in tiles:
        assert start % 8 == 0 and w0 % 8 == 0 and 0 <= w0 and w0 + size <= n8
        assert w0 <= max(0, start - halo) and w0 + size >= min(n8, end + halo)  # the halo, where the axis has it


def test_tile_counts_keep_the_windows_within_the_budget_and_read_the_fewest_pixels():
    def area(h, w, counts, halo=48):
        wy, wx = ops.tile_windows(h, counts[0], halo), ops.tile_windows(w, counts[1], halo)
        return wy[0][3] * wx[0][3], len(wy) * len(wx) * wy[0][3] * wx[0][3]

    assert ops.tile_counts(800, 1200, 1 << 30, 48) == (1, 1)
    assert ops.tile_counts(800, 1200, 300_000, 48) == (2, 2)  # 4 windows of 448 x 648
    for h, w, budget in ((800, 1200, 300_000), (800, 1200, 200_000), (3000, 4000, 262_144), (90, 5000, 50_000)):
        counts = ops.tile_counts(h, w, budget, 48)
        window, total = area(h, w, counts)
        assert window <= budget
        assert all(area(h, w, (a, b))[0] > budget or area(h, w, (a, b))[1] >= total
                   for a in range(1, 12) for b in range(1, 12))
