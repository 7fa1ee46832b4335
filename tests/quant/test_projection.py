"""Hard and soft palette projection (GIFnets Eq. 1-3)."""
import numpy as np
import pytest
import tensorflow as tf

from gif_pipeline.quant import projection


def _brute_force_indices(image, palette):
    d = ((image[..., None, :] - palette[None, None, :, :]) ** 2).sum(-1)
    return d.argmin(-1)


@pytest.mark.parametrize("shape,k", [((1, 1, 3), 2), ((7, 13, 3), 5), ((32, 17, 3), 256)])
def test_hard_projection_is_nearest_colour(shape, k):
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, shape).astype(np.float32)
    palette = rng.uniform(-1, 1, (k, 3)).astype(np.float32)
    indices, quantized = projection.hard_projection(image, palette)
    np.testing.assert_array_equal(indices.numpy(), _brute_force_indices(image, palette))
    np.testing.assert_allclose(quantized.numpy(), palette[indices.numpy()])


def test_hard_projection_batched_with_per_image_palettes_and_chunks():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (3, 19, 23, 3)).astype(np.float32)
    palette = rng.uniform(0, 1, (3, 16, 3)).astype(np.float32)
    full, _ = projection.hard_projection(image, palette)
    chunked, _ = projection.hard_projection(image, palette, max_elements=23 * 16 * 2)  # 2 rows of one image: 1 row of 3 a chunk
    np.testing.assert_array_equal(full.numpy(), chunked.numpy())
    for b in range(3):
        np.testing.assert_array_equal(full.numpy()[b], _brute_force_indices(image[b], palette[b]))


def test_hard_projection_dynamic_shapes_in_a_graph_match_eager():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 1, (2, 21, 11, 3)).astype(np.float32)
    palette = rng.uniform(0, 1, (2, 8, 3)).astype(np.float32)
    fn = tf.function(
        lambda i, p: projection.hard_projection(i, p, max_elements=11 * 8 * 3)[0],
        input_signature=[tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, 3])],
    )
    eager, _ = projection.hard_projection(image, palette)
    np.testing.assert_array_equal(fn(image, palette).numpy(), eager.numpy())


def test_hard_projection_chunks_in_a_graph_with_static_shapes_match_eager():
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 1, (2, 13, 7, 3)).astype(np.float32)
    palette = rng.uniform(0, 1, (2, 9, 3)).astype(np.float32)
    graph = tf.function(lambda i, p: projection.hard_projection(i, p, max_elements=2 * 7 * 9 * 3)[0])  # 3 rows a chunk
    out = graph(tf.constant(image), tf.constant(palette))
    assert out.shape == (2, 13, 7)
    np.testing.assert_array_equal(out.numpy(), projection.hard_projection(image, palette)[0].numpy())
    for b in range(2):
        np.testing.assert_array_equal(out.numpy()[b], _brute_force_indices(image[b], palette[b]))


def test_large_image_many_colours_stays_within_memory_budget():
    # 1024x1024 x 256 colours: a naive [N, K, 3] difference tensor would be 3 GiB of float32.
    image = tf.random.stateless_uniform([1024, 1024, 3], seed=[1, 2])
    palette = tf.random.stateless_uniform([256, 3], seed=[3, 4])
    indices, quantized = projection.hard_projection(image, palette)
    assert indices.shape == (1024, 1024) and quantized.shape == (1024, 1024, 3)
    row = 517
    np.testing.assert_array_equal(indices.numpy()[row], _brute_force_indices(image.numpy()[row:row + 1], palette.numpy())[0])


def test_soft_projection_tends_to_hard_as_temperature_goes_to_zero():
    rng = np.random.default_rng(3)
    image = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    palette = rng.uniform(-1, 1, (2, 8, 3)).astype(np.float32)
    _, hard = projection.hard_projection(image, palette)
    errors = [float(tf.reduce_mean(tf.abs(projection.soft_projection(image, palette, t) - hard)))
              for t in (1.0, 1e-1, 1e-2, 1e-4)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-3


def test_soft_projection_gradients_reach_image_and_palette():
    rng = np.random.default_rng(4)
    image = tf.Variable(rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32))
    palette = tf.Variable(rng.uniform(-1, 1, (1, 4, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        out = projection.soft_projection(image, palette, temperature=0.1)
        loss = tf.reduce_mean(tf.square(out - 0.3))
    g_image, g_palette = tape.gradient(loss, [image, palette])
    assert g_image is not None and g_palette is not None
    assert float(tf.reduce_max(tf.abs(g_image))) > 0 and float(tf.reduce_max(tf.abs(g_palette))) > 0


def test_quantization_loss_matches_definition_and_trains_the_palette():
    rng = np.random.default_rng(5)
    image = rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    palette = tf.Variable(rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32))
    _, q = projection.hard_projection(image, palette)
    expected = np.mean(np.sum((image - q.numpy()) ** 2, -1))
    np.testing.assert_allclose(float(projection.quantization_loss(image, palette)), expected, rtol=1e-5)
    opt = tf.keras.optimizers.SGD(1.0)
    for _ in range(50):
        with tf.GradientTape() as tape:
            loss = projection.quantization_loss(image, palette)
        opt.apply_gradients([(tape.gradient(loss, palette), palette)])
    assert float(projection.quantization_loss(image, palette)) < 0.85 * expected


def test_mismatched_ranks_raise():
    with pytest.raises(ValueError):
        projection.hard_projection(np.zeros((4, 3), np.float32), np.zeros((2, 3), np.float32))


def test_nested_loss_is_the_mean_of_eq2_over_the_prefixes():
    rng = np.random.default_rng(3)
    image = tf.constant(rng.uniform(-1, 1, (2, 6, 5, 3)), tf.float32)
    palette = tf.constant(rng.uniform(-1, 1, (2, 8, 3)), tf.float32)
    expected = np.mean([float(projection.quantization_loss(image, palette[:, :k])) for k in (2, 4, 8)])
    assert float(projection.nested_quantization_loss(image, palette, (2, 4, 8))) == pytest.approx(expected, rel=1e-5)
    # A longer palette never quantizes worse: the prefixes' losses decrease.
    losses = [float(projection.quantization_loss(image, palette[:, :k])) for k in (2, 4, 8)]
    assert losses[0] >= losses[1] >= losses[2]


def test_sample_pixels_draws_pixels_of_each_image():
    rng = np.random.default_rng(4)
    image = tf.constant(rng.uniform(-1, 1, (2, 7, 9, 3)), tf.float32)
    sampled = projection.sample_pixels(image, 50, seed=1)
    assert sampled.shape == (2, 1, 50, 3)
    for b in range(2):
        flat = image[b].numpy().reshape(-1, 3)
        for pixel in sampled[b, 0].numpy():
            assert np.min(np.abs(flat - pixel).sum(-1)) < 1e-6


def test_nearest_matches_brute_force_distances():
    rng = np.random.default_rng(7)
    pixels = rng.uniform(-1, 1, (2, 500, 3)).astype(np.float32)
    palette = rng.uniform(-1, 1, (2, 37, 3)).astype(np.float32)
    brute = ((pixels[:, :, None].astype(np.float64) - palette[:, None]) ** 2).sum(-1)
    indices, distance = projection.nearest(tf.constant(pixels), tf.constant(palette))
    assert indices.dtype == tf.int32 and indices.shape == (2, 500)
    chosen = np.take_along_axis(brute, indices.numpy()[..., None], -1)[..., 0]
    np.testing.assert_allclose(chosen, brute.min(-1), atol=1e-5)  # the nearest colour (or a tie)
    np.testing.assert_allclose(distance.numpy(), brute.min(-1), atol=1e-5)
