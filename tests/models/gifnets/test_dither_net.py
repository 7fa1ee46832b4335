"""DitherNet (GIFnets §3.2, Eq. 5): layer layout, any-size padding/cropping, gradients, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import checks
from gif_pipeline.models.gifnets.config import DitherNetConfig
from gif_pipeline.models.gifnets.dither_net import build_dither_net, dither, symmetric_pad
from gif_pipeline.quant.projection import hard_projection


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(0)
    return build_dither_net(DitherNetConfig.tiny())


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _layers_of(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def test_layer_mapping_follows_the_paper():
    """Paper defaults: convs 16,32,32,64,64 | 512,512 | mirrored 64,64,32,32,16; 3 pools/ups; 1x1 tanh."""
    model = build_dither_net(DitherNetConfig())
    convs = [layer for layer in _layers_of(model, keras.layers.Conv2D) if layer.name != "error"]
    assert [c.filters for c in convs] == [16, 32, 32, 64, 64, 512, 512, 64, 64, 32, 32, 16]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert len(_layers_of(model, keras.layers.BatchNormalization)) == len(convs)
    pools = _layers_of(model, keras.layers.MaxPooling2D)
    assert [p.name for p in pools] == ["pool0", "pool2", "pool4"]
    assert all(p.pool_size == (2, 2) and p.strides == (2, 2) for p in pools)
    ups = _layers_of(model, keras.layers.Conv2DTranspose)
    assert [(u.filters, u.strides) for u in ups] == [(64, (2, 2)), (32, (2, 2)), (16, (2, 2))]
    # Each up-sampling is concatenated with the encoder output of the same level (skip connection).
    for level, channels in [(4, 64), (2, 32), (0, 16)]:
        skip = model.get_layer(f"skip{level}")
        assert skip.output.shape[-1] == 2 * channels
        inputs = skip._inbound_nodes[0].input_tensors
        assert any(t is model.get_layer(f"enc{level}_relu").output for t in inputs)
        assert any(t is model.get_layer(f"up{level}").output for t in inputs)
    final = model.get_layer("error")
    assert final.kernel_size == (1, 1) and final.filters == 3
    assert final.activation is keras.activations.tanh
    assert model.get_layer("input_concat").output.shape[-1] == 6


@pytest.mark.parametrize("size", [(16, 16), (17, 23), (24, 40), (1, 3)])
def test_any_size_gives_error_image_in_range(net, size):
    image = _images((2, *size, 3), seed=1)
    quantized = np.round(image)  # any [-1, 1] image will do as I'
    error = net([image, quantized], training=False)
    assert tuple(error.shape) == (2, *size, 3)
    assert np.all(np.abs(error.numpy()) <= 1.0)
    assert np.all(np.isfinite(error.numpy()))


def test_padding_is_symmetric_and_works_wider_than_the_image():
    x = np.arange(2 * 3 * 5 * 1, dtype=np.float32).reshape(2, 3, 5, 1)
    for pads in [(0, 5, 0, 3), (2, 1, 4, 0), (0, 9, 0, 12)]:  # the last is wider than the image
        got = symmetric_pad(x, *pads).numpy()
        want = np.pad(x, [(0, 0), pads[:2], pads[2:], (0, 0)], mode="symmetric")
        np.testing.assert_array_equal(got, want)


def test_crop_keeps_the_top_left_pixels():
    """The 17x23 result must be the top-left of the padded 24x24 computation, not a shifted window:
    a net run on the explicitly padded image gives the same values there (inference mode)."""
    keras.utils.set_random_seed(3)
    model = build_dither_net(DitherNetConfig.tiny())
    image = _images((1, 17, 23, 3), seed=2)
    quantized = np.sign(image)
    padded_i = symmetric_pad(image, 0, 7, 0, 1).numpy()
    padded_q = symmetric_pad(quantized, 0, 7, 0, 1).numpy()
    small = model([image, quantized], training=False).numpy()
    big = model([padded_i, padded_q], training=False).numpy()
    np.testing.assert_allclose(small, big[:, :17, :23], atol=1e-5)


def test_wrong_inputs_raise(net):
    with pytest.raises(ValueError):
        net([np.zeros((1, 8, 8, 4), np.float32), np.zeros((1, 8, 8, 3), np.float32)])
    with pytest.raises(ValueError):
        DitherNetConfig(pool_after=(2, 0))
    with pytest.raises(ValueError):
        DitherNetConfig(block_channels=(16, 0))
    with pytest.raises(ValueError):
        dither(np.zeros((1, 4, 4, 3)), np.zeros((2, 3)), np.zeros((1, 4, 5, 3)), soft=False)


def test_dither_hard_is_projection_of_shifted_image_and_soft_approaches_it():
    """Eq. 5: I_hat = Proj(I + E', P); hard output is made of palette colours only."""
    image = _images((2, 9, 11, 3), seed=4)
    error = 0.3 * _images((2, 9, 11, 3), seed=5)
    palette = _images((2, 6, 3), seed=6)
    indices, hard = dither(image, palette, error, soft=False, return_indices=True)
    want_idx, want = hard_projection(image + error, palette)
    np.testing.assert_array_equal(indices.numpy(), want_idx.numpy())
    np.testing.assert_allclose(hard.numpy(), want.numpy())
    np.testing.assert_allclose(hard.numpy(), np.take_along_axis(
        palette[:, None, None, :, :], indices.numpy()[..., None, None], axis=3)[..., 0, :])
    # Hard dithering differs from plain quantisation of I: E' moved some pixels to other colours.
    assert np.any(indices.numpy() != hard_projection(image, palette)[0].numpy())
    soft = dither(image, palette, error, soft=True, temperature=1e-4)
    assert np.mean(np.abs(soft.numpy() - hard.numpy()) < 1e-3) > 0.97


def test_gradients_reach_every_variable_through_the_soft_projection(net):
    """L1(I, Proj_soft(I + E', P)) alone (no direct E' term) trains every DitherNet variable."""
    image = tf.constant(_images((2, 16, 16, 3), seed=7))
    palette = tf.constant(_images((2, 8, 3), seed=8))
    quantized = hard_projection(image, palette)[1]
    with tf.GradientTape() as tape:
        error = net([image, quantized], training=True)
        dithered = dither(image, palette, error, soft=True, temperature=0.05)
        loss = tf.reduce_mean(tf.abs(image - dithered))
    grads = tape.gradient(loss, net.trainable_variables)
    assert len(grads) == len(net.trainable_variables) > 0
    for var, grad in zip(net.trainable_variables, grads):
        assert grad is not None, var.path
        assert np.all(np.isfinite(grad.numpy())), var.path
        assert float(tf.reduce_max(tf.abs(grad))) > 0, var.path


def test_keras_save_load_round_trip(net, tmp_path):
    image = _images((2, 17, 23, 3), seed=9)
    checks.save_load_round_trip(net, [image, np.sign(image)], tmp_path, "dither_net.keras")


def test_config_round_trips_through_dict():
    config = DitherNetConfig.tiny(pool_after=(1, 3))
    assert DitherNetConfig.from_dict(config.to_dict()) == config
    assert config.size_multiple == 4


def test_config_of_reads_the_layout_back():
    from gif_pipeline.models.gifnets.dither_net import config_of

    config = DitherNetConfig(block_channels=(4, 6, 8), bottleneck_channels=(10,), pool_after=(0, 2),
                             batch_norm_momentum=0.9)
    assert config_of(build_dither_net(config)) == config
    assert config_of(build_dither_net(DitherNetConfig.tiny())) == DitherNetConfig.tiny()
    with pytest.raises(ValueError, match="not a DitherNet"):
        config_of(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
