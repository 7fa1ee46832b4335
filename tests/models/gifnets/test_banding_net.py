"""BandingNet (GIFnets §3.3): Algorithm 1's edge map, the network at any size, Eq. 7-8, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from gif_pipeline.models.gifnets.banding_net import (
    banding_edge_map,
    build_banding_net,
    degrade,
    luma,
    multiscale_banding_loss,
)
from gif_pipeline.models.gifnets.config import BandingNetConfig


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(0)
    return build_banding_net(BandingNetConfig.tiny())


def _unit(rgb01):
    return (2.0 * np.asarray(rgb01, np.float32) - 1.0)[np.newaxis]


def _step_gradient(h=32, w=64, colours=8, vertical=False):
    """A horizontal luma ramp quantised to ``colours`` grey levels: classic GIF banding."""
    ramp = np.round(np.linspace(0.0, 1.0, w) * (colours - 1)) / (colours - 1)
    grey = np.tile(ramp, (h, 1))
    if vertical:
        grey = grey.T
    return np.repeat(grey[..., None], 3, axis=-1)


def _true_edge(h=32, w=64, low=0.0, high=1.0):
    """Two large flat regions meeting at a high-contrast vertical edge."""
    grey = np.full((h, w), low)
    grey[:, w // 2:] = high
    return np.repeat(grey[..., None], 3, axis=-1)


def test_edge_map_marks_banding_steps_not_a_true_edge():
    """Algorithm 1's purpose: E marks the flat-step boundaries of a step gradient, stays ~0 on a
    strong edge between two large flat regions and is 0 inside flat regions."""
    band = _step_gradient()
    m_band, parts = banding_edge_map(_unit(band), return_parts=True)
    e_band = m_band.numpy()[0, ..., 1]
    steps = np.nonzero(np.diff(band[0, :, 0]))[0]  # column j: level changes between j and j+1
    assert len(steps) == 7
    step_cols = np.unique(np.concatenate([steps, steps + 1]))
    flat_cols = np.setdiff1d(np.arange(64), np.concatenate([steps - 1, steps, steps + 1, steps + 2]))
    assert np.all(e_band[:, step_cols] > 0.05)  # every step boundary, in every row
    assert np.all(e_band[:, flat_cols] < 1e-5)  # flat bands are unmarked
    assert np.all(parts["G"].numpy()[0, :, step_cols] < 1.0)  # 8-colour steps do not saturate G

    for low, high in [(0.0, 1.0), (0.2, 0.8), (1.0, 0.3)]:
        edge = _true_edge(low=low, high=high)
        m_edge, edge_parts = banding_edge_map(_unit(edge), return_parts=True)
        assert edge_parts["G"].numpy().max() > 2.0  # it is a strong gradient...
        assert m_edge.numpy()[0, ..., 1].max() < 1e-3  # ...that the map suppresses
    assert e_band.max() > 100 * m_edge.numpy()[0, ..., 1].max()


def test_edge_map_orientation_and_suppression_near_strong_edges():
    """Horizontal bands are marked too, and banding within 3 px of a true edge is suppressed."""
    e = banding_edge_map(_unit(_step_gradient(64, 32, vertical=True))).numpy()[0, ..., 1]
    assert np.all(e.max(axis=1)[np.nonzero(np.diff(_step_gradient(64, 32, vertical=True)[:, 0, 0]))[0]] > 0.05)
    image = _step_gradient(32, 64)
    image[:, 40:] = 0.0  # a dark region after the gradient: a strong edge at column 40
    e = banding_edge_map(_unit(image)).numpy()[0, ..., 1]
    assert np.all(e[:, 37:44] < 1e-6)  # inside the 7x7 window of the strong edge
    assert e[:, :30].max() > 0.05  # banding away from it is still marked


def test_edge_map_matches_a_numpy_reference():
    """Y (BT.601 on [0, 1]), Sobel magnitude, 7x7 dilation of min(G, 1), W = (1 - .)^2, E = W G."""
    rgb = np.random.default_rng(0).uniform(-1, 1, (2, 13, 19, 3)).astype(np.float32)
    m = banding_edge_map(rgb).numpy()
    y = ((rgb + 1) / 2) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(m[..., 0], y, atol=1e-6)
    np.testing.assert_allclose(luma(rgb).numpy()[..., 0], y, atol=1e-6)
    np.testing.assert_allclose(luma(rgb).numpy()[..., 0], tf.image.rgb_to_yuv((rgb + 1) / 2)[..., 0], atol=1e-5)
    for b in range(2):
        g = np.hypot(ndimage.sobel(y[b], axis=1, mode="nearest"), ndimage.sobel(y[b], axis=0, mode="nearest"))
        w = (1 - ndimage.maximum_filter(np.minimum(g, 1), 7, mode="nearest")) ** 2
        np.testing.assert_allclose(m[b, ..., 1], w * g, atol=1e-5)


def test_the_literal_box_sum_reading_would_mark_the_true_edge_instead():
    """Why the dilation reading: ((1 - ReLU(1 - G)) (*) ones(7x7))^2 * G with a box-sum
    convolution grows with G and marks the true edge far more than the banding steps."""
    def literal(rgb01):
        y = rgb01[..., 0]
        g = np.hypot(ndimage.sobel(y, axis=1, mode="nearest"), ndimage.sobel(y, axis=0, mode="nearest"))
        return (ndimage.uniform_filter(np.minimum(g, 1), 7, mode="constant") * 49) ** 2 * g
    assert literal(_true_edge()).max() > 10 * literal(_step_gradient()).max()


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (16, 16), (17, 23), (64, 48)])
def test_banding_net_scores_any_size_in_unit_interval(net, size):
    x = np.random.default_rng(1).uniform(-1, 1, (2, *size, 3)).astype(np.float32)
    z = net(x, training=False).numpy()
    assert z.shape == (2, 1)
    assert np.all((z >= 0) & (z <= 1))


def test_layer_mapping_and_ablation():
    model = build_banding_net(BandingNetConfig())
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 64, 64]
    pools = [l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]
    assert [(p.pool_size, p.strides) for p in pools] == [((4, 4), (4, 4))] * 4
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert [d.units for d in dense] == [256, 1]
    assert dense[-1].activation is keras.activations.sigmoid
    assert model.get_layer("edge_map").output.shape[-1] == 2
    # A 256x256 crop is pooled 256 -> 64 -> 16 -> 4 -> 1; a 16x16 one stops at 1x1.
    sub = keras.Model(model.input, [p.output for p in pools])
    assert [o.shape[1:3] for o in sub(np.zeros((1, 256, 256, 3), np.float32))] == [(64, 64), (16, 16), (4, 4), (1, 1)]
    assert [o.shape[1:3] for o in sub(np.zeros((1, 16, 16, 3), np.float32))] == [(4, 4), (1, 1), (1, 1), (1, 1)]
    ablation = build_banding_net(BandingNetConfig.tiny(use_edge_map=False))
    assert ablation.get_layer("edge_map").output.shape[-1] == 1
    assert ablation(np.zeros((1, 20, 20, 3), np.float32)).shape == (1, 1)


def test_degrade_keeps_shape_and_smooths():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, 17, 23, 3)).astype(np.float32)
    for factor in (1.5, 1.5 ** 4):
        y = degrade(x, factor).numpy()
        assert y.shape == x.shape
        assert np.abs(np.diff(y, axis=2)).mean() < np.abs(np.diff(x, axis=2)).mean()
    flat = np.full((1, 9, 9, 3), 0.25, np.float32)
    np.testing.assert_allclose(degrade(flat, 1.5 ** 3).numpy(), flat, atol=1e-6)
    with pytest.raises(ValueError):
        degrade(x, 0.5)


def test_multiscale_loss_is_eq8_and_differentiable(net):
    x = tf.Variable(np.random.default_rng(3).uniform(-1, 1, (2, 24, 20, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = multiscale_banding_loss(net, x, eta=1.5, scales=4)
    grad = tape.gradient(loss, x)
    want = sum(float(tf.reduce_mean(net(degrade(x, 1.5 ** k), training=False))) for k in range(1, 5))
    assert float(loss) == pytest.approx(want, rel=1e-5)
    assert grad is not None and np.all(np.isfinite(grad.numpy()))
    assert float(tf.reduce_max(tf.abs(grad))) > 0
    with pytest.raises(ValueError):
        multiscale_banding_loss(net, x, eta=1.0)


def test_keras_save_load_round_trip(net, tmp_path):
    path = tmp_path / "banding_net.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 17, 23, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), net(x).numpy())
    assert loaded.get_layer("edge_map").use_edge_map is True


def test_bad_inputs_raise(net):
    with pytest.raises(ValueError):
        banding_edge_map(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        banding_edge_map(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        BandingNetConfig(channels=())
