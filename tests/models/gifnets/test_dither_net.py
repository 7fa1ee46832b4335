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


# ---------------------------------------------------------------- issue 29: blue-noise input, resize up-sampling

ISSUE29 = dict(noise_channels=2, noise_period=16, upsample="bilinear")


def test_issue29_defaults_are_the_paper_network():
    """The new fields default to the old network: no noise input, transposed-conv up-sampling, same weights."""
    from gif_pipeline.models.gifnets.dither_net import config_of

    config = DitherNetConfig()
    assert (config.noise_channels, config.upsample) == (0, "transpose")
    model = build_dither_net(DitherNetConfig.tiny())
    names = [layer.name for layer in model.layers]
    assert "noise" not in names and not any(n.endswith("_resize") for n in names)
    assert model.get_layer("input_concat").output.shape[-1] == 6
    assert config_of(model) == DitherNetConfig.tiny()


def test_issue29_shipped_weights_load_with_the_default_layout():
    """The shipped DitherNets are the paper's layout (the Np = 16 one plus a blue-noise channel since issue 29): they
    load, config_of reads them, and a fresh network of that config has the same weights, so the saved values are
    used unchanged."""
    from gif_pipeline.models.gifnets.dither_net import config_of
    from gif_pipeline.weights import registry

    for np_colors in registry.shipped_colors("dither"):
        shipped = registry.load("dither", np_colors, search_runs=False)
        config = config_of(shipped)
        # the Np = 16 network has a blue-noise input since issue 29 (2026-12-06): the paper's layout plus one channel
        assert config.upsample == "transpose" and (config.noise_channels, config.noise_period) in ((0, 256), (1, 256))
        fresh = build_dither_net(config.replace(noise_period=16) if config.noise_channels else config)  # faster texture
        shapes = [(v.path, v.shape) for v in shipped.weights]
        assert [(v.path, v.shape) for v in fresh.weights] == [(p, (16, 16, 1) if p.endswith("noise/texture") else s)
                                                              for p, s in shapes]


@pytest.mark.parametrize("overrides", [dict(noise_channels=1), dict(upsample="nearest"), dict(upsample="bilinear"),
                                       ISSUE29, dict(ISSUE29, noise_period=64, pool_after=(1, 3))])
def test_issue29_fields_round_trip_through_config_of_and_dict(overrides):
    from gif_pipeline.models.gifnets.dither_net import config_of

    config = DitherNetConfig.tiny(**overrides)
    assert config_of(build_dither_net(config)) == config
    assert DitherNetConfig.from_dict(config.to_dict()) == config


def test_issue29_bad_fields_raise():
    for bad in (dict(noise_channels=-1), dict(noise_period=12), dict(noise_period=0), dict(upsample="bicubic"),
                dict(noise_channels=True)):
        with pytest.raises(ValueError):
            DitherNetConfig(**bad)


def test_issue29_layers_and_shapes():
    model = build_dither_net(DitherNetConfig.tiny(**ISSUE29))
    assert model.get_layer("input_concat").output.shape[-1] == 8  # image, quantized, 2 noise channels
    assert not _layers_of(model, keras.layers.Conv2DTranspose)
    for level in (0, 2, 4):
        assert model.get_layer(f"up{level}").kernel_size == (1, 1)
        assert model.get_layer(f"up{level}_resize").interpolation == "bilinear"
    noise = model.get_layer("noise")
    assert not noise.trainable_weights and len(noise.non_trainable_weights) == 1
    for size in [(16, 16), (17, 23), (1, 3), (40, 70)]:
        image = _images((2, *size, 3), seed=1)
        error = model([image, np.round(image)], training=False).numpy()
        assert error.shape == (2, *size, 3) and np.all(np.abs(error) <= 1.0)


def test_issue29_blue_noise_layer_tiles_the_texture_from_the_top_left():
    from gif_pipeline.layers.blue_noise import blue_noise_texture
    from gif_pipeline.models.gifnets.dither_net import BlueNoise

    layer = BlueNoise(16, 2)
    out = layer(tf.zeros((3, 40, 21, 3))).numpy()
    texture = blue_noise_texture(16, 2)
    assert out.shape == (3, 40, 21, 2)
    np.testing.assert_array_equal(out[1], np.tile(texture, (3, 2, 1))[:40, :21])
    assert not np.array_equal(out[..., 0], out[..., 1])


def test_issue29_void_and_cluster_is_a_deterministic_blue_noise_permutation():
    from gif_pipeline.layers.blue_noise import blue_noise_texture, void_and_cluster

    rank = void_and_cluster(32)
    assert sorted(rank.ravel().tolist()) == list(range(32 * 32))
    void_and_cluster.cache_clear()
    np.testing.assert_array_equal(void_and_cluster(32), rank)
    texture = blue_noise_texture(32)[..., 0]
    assert -1 < texture.min() < -0.99 and 0.99 < texture.max() < 1
    power = np.abs(np.fft.fft2(texture - texture.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32)))
    assert power[(f > 0) & (f < 0.15)].mean() < 0.05 * power[f > 0.35].mean()  # blue: little low-frequency power


def test_issue29_flat_image_error_is_periodic_only_without_noise():
    """The cause of issue 29: on a flat image, the paper's network (stride-2 poolings, no other source of
    position) gives an E' of period 8 whatever its weights; with the noise input it need not be."""
    keras.utils.set_random_seed(3)
    flat = np.full((1, 192, 192, 3), 0.3, np.float32)
    for overrides, periodic in ((dict(), True), (ISSUE29, False), (dict(noise_channels=1, noise_period=64), False)):
        model = build_dither_net(DitherNetConfig.tiny(**overrides))
        error = model([flat, flat], training=False).numpy()[0, 64:-64, 64:-64]  # beyond the border's reach
        shifted_by_8 = max(np.abs(error[8:] - error[:-8]).max(), np.abs(error[:, 8:] - error[:, :-8]).max())
        assert (shifted_by_8 < 1e-5) == periodic, (overrides, shifted_by_8)


def test_issue29_keras_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(4)
    net = build_dither_net(DitherNetConfig.tiny(**ISSUE29))
    path = tmp_path / "dither_net.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    image = _images((2, 17, 23, 3), seed=9)
    quantized = np.sign(image)
    np.testing.assert_array_equal(loaded([image, quantized], training=False).numpy(),
                                  net([image, quantized], training=False).numpy())
    assert [v.shape for v in loaded.weights] == [v.shape for v in net.weights]
    # the texture comes back from the file, not recomputed (fill=False in the saved config)
    assert net.get_layer("noise").fill and not loaded.get_layer("noise").fill
    np.testing.assert_array_equal(loaded.get_layer("noise").texture.numpy(), net.get_layer("noise").texture.numpy())


def test_issue29_folded_inference_model_matches():
    from gif_pipeline.models.gifnets.dither_net import inference_model

    keras.utils.set_random_seed(5)
    net = build_dither_net(DitherNetConfig.tiny(**ISSUE29))
    image = _images((2, 24, 40, 3), seed=2)
    quantized = np.sign(image)
    np.testing.assert_allclose(inference_model(net, "float32")([image, quantized]).numpy(),
                               net([image, quantized], training=False).numpy(), atol=2e-5)


def _randomised(model, seed):
    """``model`` with every weight random (batch-norm variances positive), so no weight is left at its init."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights and layer.name != "noise":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if "variance" in v.path
                               else rng.normal(0, 0.3, w.shape).astype(w.dtype) for w, v in zip(weights, layer.weights)])
    return model


def test_issue29_with_noise_channels_gives_the_same_error_until_trained():
    """Weight surgery for fine-tuning a noise-free network with a blue-noise input: at init the new network's E'
    equals the old one's to float rounding (the noise's first-conv weights are zero), and the noise channel is wired in
    (non-zero weights change E' and break the 8-px periodicity on a flat image)."""
    from gif_pipeline.models.gifnets.dither_net import config_of, with_noise_channels

    old = _randomised(build_dither_net(DitherNetConfig.tiny()), 6)
    new = with_noise_channels(old, 1, 16)
    assert config_of(new) == DitherNetConfig.tiny(noise_channels=1, noise_period=16)
    kernel = new.get_layer("enc0_conv").kernel.numpy()
    assert kernel.shape[2] == 7 and not kernel[:, :, 6:].any()
    np.testing.assert_array_equal(kernel[:, :, :6], old.get_layer("enc0_conv").kernel.numpy())
    image = _images((2, 37, 50, 3), seed=3)
    flat = np.full((1, 64, 64, 3), 0.2, np.float32)
    for x in (image, flat):  # to float32 rounding: the first conv sums 7 channels instead of 6 (oneDNN's order)
        np.testing.assert_allclose(new([x, np.sign(x)], training=False).numpy(),
                                   old([x, np.sign(x)], training=False).numpy(), rtol=0, atol=1e-6)
    kernel[:, :, 6:] = np.random.default_rng(1).normal(0, 1.0, kernel[:, :, 6:].shape)
    new.get_layer("enc0_conv").kernel.assign(kernel)
    error = new([flat, flat], training=False).numpy()[0, 16:-16, 16:-16]
    assert np.abs(error[8:] - error[:-8]).max() > 1e-3  # no longer 8-periodic on a flat image
    # A second channel for a network that reads one already: its texture stays, E' stays.
    more = with_noise_channels(new, 2)
    np.testing.assert_array_equal(more.get_layer("noise").texture.numpy()[..., :1],
                                  new.get_layer("noise").texture.numpy())
    np.testing.assert_allclose(more([image, np.sign(image)], training=False).numpy(),
                               new([image, np.sign(image)], training=False).numpy(), rtol=0, atol=1e-6)
    for bad, says in ((dict(noise_channels=0), "noise_channels must be >= 1"),
                      (dict(noise_channels=2, noise_period=32), "cannot change it")):
        with pytest.raises(ValueError, match=says):
            with_noise_channels(new if "noise_period" in bad else old, **bad)


def _silence_dropped(model, keep_out):
    """Zero, in ``model``, every output channel of the layers in ``keep_out`` ({layer: kept channels}) that is not
    kept (batch norm gamma and beta; an up-sampling layer's kernel and bias), so that those channels output 0."""
    for name, keep in keep_out.items():
        drop = np.setdiff1d(np.arange(model.get_layer(f"{name}_bn" if not name.startswith("up") else name)
                                      .get_weights()[-1].shape[0]), keep)
        if name.startswith("up"):
            kernel, bias = model.get_layer(name).get_weights()
            if kernel.shape[:2] == (2, 2):  # transposed conv [2, 2, out, in]
                kernel[:, :, drop] = 0
            else:  # 1x1 conv [1, 1, in, out]
                kernel[..., drop] = 0
            bias[drop] = 0
            model.get_layer(name).set_weights([kernel, bias])
        else:
            gamma, beta, mean, var = model.get_layer(f"{name}_bn").get_weights()
            gamma[drop], beta[drop] = 0, 0
            model.get_layer(f"{name}_bn").set_weights([gamma, beta, mean, var])


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_narrowed_keeps_the_largest_channels_and_their_function(upsample):
    """Weight surgery for distilling into a narrower network: when the channels that ``narrowed`` drops output
    exactly zero in the source network, the narrow network computes the same E' (so every kept kernel slice, the
    skip concatenations' channel order included, is wired to the right inputs)."""
    from gif_pipeline.models.gifnets.dither_net import config_of, narrowed

    config = DitherNetConfig.tiny(noise_channels=1, noise_period=16, upsample=upsample)
    source = _randomised(build_dither_net(config), 8)
    rng = np.random.default_rng(2)
    thin = dict(block_channels=(2, 5, 3, 4, 6), bottleneck_channels=(9, 7))
    widths = {f"enc{i}": (w, n) for i, (w, n) in enumerate(zip(config.block_channels, thin["block_channels"]))}
    widths.update({f"bottleneck{i}": (w, n) for i, (w, n) in
                   enumerate(zip(config.bottleneck_channels, thin["bottleneck_channels"]))})
    widths.update({f"dec{i}": widths[f"enc{i}"] for i in range(5)})
    widths.update({f"up{i}": widths[f"enc{i}"] for i in config.pool_after})
    keep = {name: np.sort(rng.choice(w, n, replace=False)) for name, (w, n) in widths.items()}
    _silence_dropped(source, keep)
    narrow = narrowed(source, config.replace(**thin))
    assert config_of(narrow) == config.replace(**thin)
    np.testing.assert_array_equal(narrow.get_layer("enc0_bn").get_weights()[0],
                                  source.get_layer("enc0_bn").get_weights()[0][keep["enc0"]])
    image = _images((2, 24, 40, 3), seed=4)
    np.testing.assert_allclose(narrow([image, np.sign(image)], training=False).numpy(),
                               source([image, np.sign(image)], training=False).numpy(), atol=1e-5)
    # Same widths: an exact copy.
    same = narrowed(source, config)
    np.testing.assert_array_equal(same([image, np.sign(image)], training=False).numpy(),
                                  source([image, np.sign(image)], training=False).numpy())
    for bad, says in ((dict(block_channels=(5, 5, 3, 4, 6)), "must not exceed"),
                      (dict(upsample="nearest"), "layout"), (dict(bottleneck_channels=(4,)), "layers")):
        with pytest.raises(ValueError, match=says):
            narrowed(source, config.replace(**{**thin, **bad}))
