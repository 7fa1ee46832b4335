"""PaletteNet (GIFnets §3.1, Eq. 2), its InceptionV2 / PointNet backbones and the uint8 <-> [-1, 1] helpers."""
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import checks  # noqa: E402
from gif_pipeline.layers import inception_v2
from gif_pipeline.layers.common import image_to_unit, palette_to_uint8, unit_to_uint8
from gif_pipeline.layers.pointnet import pointnet_backbone
from gif_pipeline.models.gifnets.config import PaletteNetConfig
from gif_pipeline.models.gifnets.palette_net import PaletteNet, build_palette_net
from gif_pipeline.quant.projection import quantization_loss

DATA = checks.FIXTURES

# TF-slim inception_v2_base's endpoint list, in order (research/slim/nets/inception_v2.py).
SLIM_ENDPOINTS = [
    "Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3",
    "Mixed_3b", "Mixed_3c", "Mixed_4a", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
    "Mixed_5a", "Mixed_5b", "Mixed_5c",
]
# Output stride of each endpoint (slim's comments: 224 -> 112, 56, 56, 56, 28, 28, 28, 14 x5, 7 x3).
SLIM_STRIDES = [2, 4, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16, 32, 32, 32]
# Channels of each endpoint at depth_multiplier 1 (slim's comments: 64, 64, 64, 192, 192, 256, 320, 576, 1024).
SLIM_CHANNELS = [64, 64, 64, 192, 192, 256, 320, 576, 576, 576, 576, 576, 1024, 1024, 1024]


def tiny(**overrides):
    values = dict(num_colors=8, depth_multiplier=0.125, min_depth=8, pointnet_widths=(16, 32),
                  batch_norm_momentum=0.9)
    values.update(overrides)
    return PaletteNetConfig(**values)


@pytest.fixture(scope="module")
def crops():
    """Six 32x32 crops of the sample images, in [-1, 1]."""
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(glob.glob(os.path.join(DATA, "*.png")))]
    assert len(images) >= 3
    batch = np.stack([im[:32, :32] for im in images[:3]] + [im[32:64, 32:64] for im in images[:3]])
    return image_to_unit(batch).numpy()


@pytest.fixture(scope="module")
def nets():
    keras.utils.set_random_seed(0)
    return {
        ("inception_v2", 4): build_palette_net(tiny(num_colors=4)),
        ("inception_v2", 16): build_palette_net(tiny(num_colors=16)),
        ("pointnet", 8): build_palette_net(tiny(backbone="pointnet")),
    }


# --- InceptionV2 backbone --------------------------------------------------------------------

def test_endpoints_follow_slim_names_strides_and_channels():
    assert list(inception_v2.ENDPOINTS) == SLIM_ENDPOINTS
    model = inception_v2.inception_v2_backbone(depth_multiplier=0.25, min_depth=8, return_endpoints=True)
    outputs = model(np.zeros((1, 64, 96, 3), np.float32))
    assert list(outputs) == SLIM_ENDPOINTS
    expected_channels = inception_v2.endpoint_channels(0.25, 8)
    for name, stride, full in zip(SLIM_ENDPOINTS, SLIM_STRIDES, SLIM_CHANNELS):
        assert outputs[name].shape[1:3] == (64 // stride, 96 // stride), name
        assert outputs[name].shape[-1] == expected_channels[name], name
        if name.startswith("Mixed"):  # concat of branches that were each scaled by depth()
            assert abs(expected_channels[name] - full * 0.25) <= 8 * 4, name
        else:
            assert expected_channels[name] == max(int(full * 0.25), 8), name
    # slim's conv count: 3 stem convs + 7 per inception module (8 of them) + 5 per grid reduction (2).
    convs = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.SeparableConv2D))]
    assert len(convs) == 3 + 8 * 7 + 2 * 5
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert {bn.name for bn in bns} == {f"{c.name}_BatchNorm" for c in convs}
    # Spot checks of the slim scope -> layer name mapping and strides.
    assert model.get_layer("Mixed_4a_Branch_1_Conv2d_1a_3x3").strides == (2, 2)
    assert model.get_layer("Mixed_5a_Branch_0_Conv2d_1a_3x3").strides == (2, 2)
    assert isinstance(model.get_layer("Mixed_5c_Branch_3_MaxPool_0a_3x3"), keras.layers.MaxPooling2D)
    assert isinstance(model.get_layer("Mixed_5b_Branch_3_AvgPool_0a_3x3"), keras.layers.AveragePooling2D)


def test_final_endpoint_stops_the_graph_and_rejects_unknown_names():
    model = inception_v2.inception_v2_backbone(depth_multiplier=0.125, min_depth=8, final_endpoint="Mixed_4a")
    assert model.output.shape[-1] == inception_v2.endpoint_channels(0.125, 8)["Mixed_4a"]
    names = {l.name for l in model.layers}
    assert "Mixed_4a" in names and not any(n.startswith("Mixed_4b") for n in names)
    with pytest.raises(ValueError, match="final_endpoint"):
        inception_v2.inception_v2_backbone(final_endpoint="Mixed_6a")
    with pytest.raises(ValueError, match="depth_multiplier"):
        inception_v2.inception_v2_backbone(depth_multiplier=0.0)


def test_stem_is_slims_separable_conv_with_depthwise_multiplier_8_or_a_plain_conv():
    sep = inception_v2.inception_v2_backbone(final_endpoint="Conv2d_1a_7x7").get_layer("Conv2d_1a_7x7")
    assert isinstance(sep, keras.layers.SeparableConv2D)
    assert tuple(sep.depthwise_kernel.shape) == (7, 7, 3, 8)  # min(int(64 / 3), 8) = 8
    assert tuple(sep.pointwise_kernel.shape) == (1, 1, 24, 64)
    assert sep.strides == (2, 2)
    small = inception_v2.inception_v2_backbone(0.125, 8, final_endpoint="Conv2d_1a_7x7").get_layer("Conv2d_1a_7x7")
    assert tuple(small.depthwise_kernel.shape) == (7, 7, 3, 2)  # depth(64) = 8 -> min(int(8 / 3), 8) = 2
    plain = inception_v2.inception_v2_backbone(final_endpoint="Conv2d_1a_7x7", use_separable_conv=False)
    assert tuple(plain.get_layer("Conv2d_1a_7x7").kernel.shape) == (7, 7, 3, 64)


def test_full_width_backbone_has_about_slims_10_2m_parameters():
    model = inception_v2.inception_v2_backbone(depth_multiplier=1.0)
    params = model.count_params()  # weights + BN beta + BN moving statistics, as slim's variables
    assert abs(params - 10.2e6) / 10.2e6 < 0.10, params
    assert model.output.shape[-1] == 1024


# --- PaletteNet --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [("inception_v2", 4), ("inception_v2", 16), ("pointnet", 8)])
@pytest.mark.parametrize("size", [(17, 23), (32, 32), (64, 48)])
def test_palette_shape_and_range_at_any_size(nets, key, size):
    net = nets[key]
    images = np.random.default_rng(0).uniform(-1, 1, (2, *size, 3)).astype(np.float32)
    palette = net(images, training=False).numpy()
    assert palette.shape == (2, key[1], 3)
    assert np.all(np.isfinite(palette)) and np.all(np.abs(palette) <= 1.0)
    assert not np.allclose(palette[0], palette[1])  # depends on the image


def test_bad_inputs_raise(nets):
    net = nets[("inception_v2", 4)]
    with pytest.raises(ValueError):
        net(np.zeros((1, 16, 16, 4), np.float32))
    with pytest.raises(ValueError, match="float"):
        net(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="backbone"):
        tiny(backbone="resnet")
    with pytest.raises(ValueError, match="depth_multiplier"):
        tiny(depth_multiplier=0)
    with pytest.raises(ValueError, match="colours"):
        tiny(num_colors=1)


@pytest.mark.parametrize("key", [("inception_v2", 16), ("pointnet", 8)])
def test_eq2_gradients_reach_every_trainable_variable(nets, crops, key):
    net = nets[key]
    with tf.GradientTape() as tape:
        loss = quantization_loss(crops, net(crops, training=True))
    grads = tape.gradient(loss, net.trainable_variables)
    assert len(grads) == len(net.trainable_variables) > 0
    missing = [v.path for v, g in zip(net.trainable_variables, grads) if g is None or not np.any(g.numpy() != 0)]
    assert not missing


def test_pointnet_palette_ignores_pixel_order(nets, crops):
    net = nets[("pointnet", 8)]
    flat = crops.reshape(len(crops), -1, 3)
    perm = np.random.default_rng(3).permutation(flat.shape[1])
    shuffled = flat[:, perm].reshape(crops.shape)
    np.testing.assert_allclose(net(shuffled).numpy(), net(crops).numpy(), atol=1e-5)


def test_keras_save_load_round_trip(tmp_path, crops):
    keras.utils.set_random_seed(1)
    net = build_palette_net(tiny(num_colors=6, use_separable_conv=False))
    net(crops, training=True)  # moves the batch-norm moving statistics off their initial values
    net.compile(optimizer=keras.optimizers.Adam(2e-4))
    path = str(tmp_path / "palette_net.keras")
    net.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, PaletteNet)
    assert loaded.config == net.config
    # Loaded after other random draws, so a fresh initialisation could not match by chance.
    np.testing.assert_array_equal(loaded(crops).numpy(), net(crops).numpy())
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert np.isclose(float(loaded.optimizer.learning_rate), 2e-4)


def _fit_lowers_eq2(crops, config, optimizer, steps, run_eagerly):
    keras.utils.set_random_seed(0)
    net = build_palette_net(config)
    before = float(quantization_loss(crops, net(crops, training=True)))
    net.compile(optimizer=optimizer, run_eagerly=run_eagerly)
    dataset = tf.data.Dataset.from_tensors(crops).repeat(steps)  # self-supervised: images only
    history = net.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = float(quantization_loss(crops, net(crops, training=True)))
    assert after < 0.75 * before, (before, after)


def test_fit_lowers_eq2_inception(crops):
    # Eager: tracing the full InceptionV2 train step costs ~15 s of CPU; the graph path is
    # covered by the PointNet test below and by the slow test.
    _fit_lowers_eq2(crops, tiny(), keras.optimizers.SGD(0.03), steps=4, run_eagerly=True)


def test_fit_lowers_eq2_pointnet_in_graph_mode(crops):
    _fit_lowers_eq2(crops, tiny(backbone="pointnet"), keras.optimizers.Adam(1e-2), steps=6, run_eagerly=False)


@pytest.mark.slow
def test_fit_lowers_eq2_inception_in_graph_mode(crops):
    _fit_lowers_eq2(crops, tiny(), keras.optimizers.Adam(1e-3), steps=8, run_eagerly=False)


def test_fit_rejects_uint8_images():
    net = build_palette_net(tiny(backbone="pointnet"))
    net.compile(optimizer="adam", run_eagerly=True)
    with pytest.raises(ValueError, match="float"):
        net.fit(np.zeros((2, 8, 8, 3), np.uint8), verbose=0)


def test_predict_palette_returns_uint8(nets):
    rgb = np.asarray(Image.open(os.path.join(DATA, "hopper_64.png")).convert("RGB"))
    palette = nets[("inception_v2", 4)].predict_palette(rgb)
    assert palette.dtype == np.uint8 and palette.shape == (4, 3)


# --- helpers and config ------------------------------------------------------------------------

def test_uint8_unit_round_trip_and_palette_conversion():
    values = np.arange(256, dtype=np.uint8)
    rgb = np.stack([values, values[::-1], values], axis=-1).reshape(16, 16, 3)
    unit = image_to_unit(rgb).numpy()
    assert unit.dtype == np.float32 and unit.min() == -1.0 and unit.max() == 1.0
    np.testing.assert_array_equal(unit_to_uint8(unit), rgb)
    palette = np.array([[-1.5, -1.0, 0.0], [0.999, 1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(palette_to_uint8(palette), [[0, 0, 128], [255, 255, 255]])
    with pytest.raises(ValueError, match="uint8"):
        image_to_unit(unit)
    with pytest.raises(ValueError):
        palette_to_uint8(np.zeros((4,), np.float32))
    with pytest.raises(ValueError):
        unit_to_uint8(np.array([np.nan]))


def test_config_dict_round_trip():
    config = tiny(backbone="pointnet", pointnet_widths=(8, 16, 32))
    assert PaletteNetConfig.from_dict(config.to_dict()) == config
    small = PaletteNetConfig.tiny(num_colors=32)
    assert small.num_colors == 32 and small.depth_multiplier < 1
    net = PaletteNet.from_config(PaletteNet(config).get_config())
    assert net.config == config
    assert pointnet_backbone((8, 16, 32)).output.shape[-1] == 32


# --- whitened output and the coverage term (not in the paper; the shipped models use them) -------
def test_colour_statistics_match_numpy_mean_and_cholesky(crops):
    from gif_pipeline.models.gifnets.palette_net import colour_statistics

    mean, chol = colour_statistics(crops)
    for b in range(len(crops)):
        pixels = crops[b].reshape(-1, 3).astype(np.float64)
        cov = np.cov(pixels.T, bias=True) + 1e-4 * np.eye(3)
        np.testing.assert_allclose(mean[b].numpy(), pixels.mean(0), atol=1e-5)
        np.testing.assert_allclose(chol[b].numpy(), np.linalg.cholesky(cov), atol=1e-4)
    flat = np.full((1, 8, 8, 3), 0.3, np.float32)  # zero covariance stays finite (the ridge)
    assert np.all(np.isfinite(colour_statistics(flat)[1].numpy()))


def test_whitened_output_adapts_an_image_blind_code_to_each_image(crops):
    from gif_pipeline.models.gifnets.palette_net import unwhiten_palette

    z = tf.zeros([len(crops), 4, 3]) + tf.constant([[0.0, 0.0, 0.0], [0.3, 0, 0], [0, 0.3, 0], [0, 0, -0.3]])
    palette = unwhiten_palette(crops, z, scale=3.0).numpy()
    assert palette.min() >= -1 and palette.max() <= 1
    # The zero code is each image's mean colour, so the same code gives each image its own palette.
    np.testing.assert_allclose(palette[:, 0], crops.reshape(len(crops), -1, 3).mean(1), atol=1e-5)
    assert np.abs(palette[0] - palette[1]).max() > 0.05


def test_whitened_net_trains_round_trips_and_starts_closer_than_direct(tmp_path, crops):
    keras.utils.set_random_seed(0)
    direct = build_palette_net(tiny(backbone="pointnet"))
    keras.utils.set_random_seed(0)
    whitened = build_palette_net(tiny(backbone="pointnet", output="whitened", coverage_weight=0.1))
    loss_direct = float(quantization_loss(crops, direct(crops)))
    loss_whitened = float(quantization_loss(crops, whitened(crops)))
    assert loss_whitened < loss_direct, (loss_whitened, loss_direct)
    with tf.GradientTape() as tape:
        loss = whitened._loss(tf.constant(crops), training=True)
    grads = tape.gradient(loss, whitened.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    path = str(tmp_path / "whitened.keras")
    whitened.save(path)
    loaded = keras.models.load_model(path, compile=False)
    assert loaded.config.output == "whitened" and loaded.config.coverage_weight == 0.1
    np.testing.assert_allclose(loaded(crops).numpy(), whitened(crops).numpy(), atol=1e-6)


def test_coverage_loss_is_zero_on_image_colours_and_pulls_dead_colours_in(crops):
    from gif_pipeline.quant.projection import coverage_loss

    image = tf.constant(crops[:1])
    on_pixels = tf.reshape(image, [1, -1, 3])[:, :5]
    assert float(coverage_loss(image, on_pixels)) == pytest.approx(0.0, abs=1e-6)
    dead = tf.Variable(tf.concat([on_pixels, tf.fill([1, 1, 3], 5.0)], axis=1))  # far outside [-1, 1]
    assert float(coverage_loss(image, dead)) > 1.0
    with tf.GradientTape() as tape:
        eq2 = quantization_loss(image, dead)
    assert float(tf.reduce_sum(tf.abs(tape.gradient(eq2, dead)[0, -1]))) == 0.0  # Eq. 2 ignores it
    with tf.GradientTape() as tape:
        cov = coverage_loss(image, dead)
    assert float(tf.reduce_sum(tf.abs(tape.gradient(cov, dead)[0, -1]))) > 0.0


@pytest.mark.parametrize("bad", [dict(output="sorted"), dict(coverage_weight=-1.0), dict(input_size=-2),
                                 dict(whitened_scale=0.0), dict(loss_pixels=-1), dict(num_colors=8, nested_sizes=(4, 6)),
                                 dict(nested_sizes=(8, 4, 16)), dict(nested_sizes=(1, 16))])
def test_bad_new_config_values_raise(bad):
    with pytest.raises(ValueError):
        tiny(**bad)


def test_nested_net_trains_its_prefixes_as_palettes_on_sampled_pixels(tmp_path, crops):
    keras.utils.set_random_seed(7)
    # Momentum 0: inference uses the last batch's statistics, i.e. this batch's (it is the only one).
    net = PaletteNet(tiny(num_colors=16, nested_sizes=(4, 8, 16), loss_pixels=64, output="whitened",
                          batch_norm_momentum=0.0))
    net.compile(optimizer=keras.optimizers.Adam(3e-3))
    images = tf.constant(crops)

    def prefix_losses():
        palette = net(images, training=False)
        return [float(quantization_loss(images, palette[:, :k])) for k in (4, 8, 16)]

    before = prefix_losses()
    net.fit(images, epochs=20, batch_size=len(crops), verbose=0)
    after = prefix_losses()
    assert all(a < b for a, b in zip(after, before)), (before, after)
    net.save(tmp_path / "nested.keras")
    loaded = keras.saving.load_model(tmp_path / "nested.keras")
    assert loaded.config.nested_sizes == (4, 8, 16) and loaded.config.loss_pixels == 64


# --- the slot head (not in the paper) ------------------------------------------------------------

def test_whiten_pixels_matches_numpy_triangular_solve(crops):
    from gif_pipeline.models.gifnets.palette_net import whiten_pixels

    z = whiten_pixels(crops).numpy().reshape(len(crops), -1, 3)
    for zi, xi in zip(z, crops.reshape(len(crops), -1, 3).astype(np.float64)):
        centred = xi - xi.mean(0)
        chol = np.linalg.cholesky(centred.T @ centred / len(xi) + 1e-4 * np.eye(3))  # the same ridge
        np.testing.assert_allclose(zi, np.linalg.solve(chol, centred.T).T, atol=2e-3)
        np.testing.assert_allclose(zi.mean(0), 0.0, atol=1e-3)


def test_slot_means_are_softmax_weighted_pixel_means():
    from gif_pipeline.models.gifnets.palette_net import slot_means

    rng = np.random.default_rng(4)
    images = rng.uniform(-1, 1, (2, 5, 7, 3)).astype(np.float32)
    logits = rng.normal(0, 3, (2, 5, 7, 4)).astype(np.float32)
    got = slot_means(images, logits).numpy()
    for b in range(2):
        x = images[b].reshape(-1, 3).astype(np.float64)
        w = np.exp(logits[b].reshape(-1, 4))
        w /= w.sum(1, keepdims=True)
        expected = (w.T @ x + x.mean(0)) / (w.sum(0)[:, None] + 1.0)
        np.testing.assert_allclose(got[b], expected, atol=1e-5)


def test_slot_head_builds_colours_from_the_image_trains_and_round_trips(tmp_path, crops):
    keras.utils.set_random_seed(5)
    net = build_palette_net(tiny(num_colors=8, head="slots", slot_hidden=16))
    assert not hasattr(net, "palette_dense")
    palette = net(crops, training=False).numpy()
    assert palette.shape == (len(crops), 8, 3)
    # Weighted means of the pixels (plus the mean colour): inside each image's per-channel range.
    flat = crops.reshape(len(crops), -1, 3)
    assert np.all(palette >= flat.min(1)[:, None] - 1e-6) and np.all(palette <= flat.max(1)[:, None] + 1e-6)
    with tf.GradientTape() as tape:
        loss = quantization_loss(crops, net(crops, training=True))
    grads = tape.gradient(loss, net.trainable_variables)
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)
    _fit_lowers_eq2(crops, tiny(num_colors=8, head="slots", slot_hidden=16, backbone="pointnet"),
                    keras.optimizers.Adam(1e-2), steps=15, run_eagerly=False)
    net.save(tmp_path / "slots.keras")
    loaded = keras.saving.load_model(tmp_path / "slots.keras")
    assert loaded.config.head == "slots" and loaded.config.slot_hidden == 16
    np.testing.assert_array_equal(loaded(crops).numpy(), net(crops).numpy())


def test_nested_slot_head_blocks_come_from_softmaxes_over_their_prefix(crops):
    from gif_pipeline.models.gifnets.palette_net import slot_means, whiten_pixels

    keras.utils.set_random_seed(6)
    net = build_palette_net(tiny(num_colors=16, head="slots", slot_hidden=16, nested_sizes=(4, 8, 16)))
    palette = net(crops, training=False).numpy()
    features = net.pooled_features(crops)
    hidden = net.slot_pixel(tf.concat([crops, whiten_pixels(crops)], -1)) + net.slot_global(features)[:, None, None]
    logits = net.slot_logits(net.slot_mix(tf.nn.relu(hidden)))
    np.testing.assert_allclose(palette[:, :4], slot_means(crops, logits[..., :4]).numpy(), atol=1e-5)
    np.testing.assert_allclose(palette[:, 4:8], slot_means(crops, logits[..., :8]).numpy()[:, 4:8], atol=1e-5)
    np.testing.assert_allclose(palette[:, 8:], slot_means(crops, logits).numpy()[:, 8:], atol=1e-5)
    # The first 4 colours differ from what a softmax over all 16 slots would give them.
    assert not np.allclose(palette[:, :4], slot_means(crops, logits).numpy()[:, :4], atol=1e-3)


def test_slot_head_trains_on_sampled_pixels_and_infers_on_all(crops):
    keras.utils.set_random_seed(8)
    config = tiny(num_colors=16, head="slots", slot_hidden=16, nested_sizes=(4, 16), loss_pixels=128,
                  backbone="pointnet", batch_norm_momentum=0.0)
    net = build_palette_net(config)
    images = tf.constant(crops)
    net.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = [float(quantization_loss(images, net(images)[:, :k])) for k in (4, 16)]
    net.fit(images, epochs=15, batch_size=len(crops), verbose=0)
    after = [float(quantization_loss(images, net(images)[:, :k])) for k in (4, 16)]
    assert all(a < 0.9 * b for a, b in zip(after, before)), (before, after)
    # Inference reads every pixel: the same images give the same palette, call after call.
    np.testing.assert_array_equal(net(images).numpy(), net(images).numpy())


def test_extra_slot_heads_serve_their_sizes_from_one_backbone_and_round_trip(tmp_path, crops):
    net = PaletteNet(tiny(num_colors=8, head="slots", head_sizes=(4, 16), head_hidden=12))
    assert net.served_colors == [4, 8, 16]
    images = tf.constant(crops[:2])
    features = net.pooled_features(images)
    palettes = {n: net.palette(images, n) for n in (4, 8, 16)}
    assert {n: tuple(p.shape) for n, p in palettes.items()} == {n: (2, n, 3) for n in (4, 8, 16)}
    np.testing.assert_allclose(palettes[8], net(images), atol=1e-6)  # the network's own head
    # Each extra head is its own four layers of its width, softly assigning pixels to its slots.
    head = net.extra_heads[1]
    assert [w.shape for w in head.head_layers[-1].weights] == [(12, 16), (16,)]
    from gif_pipeline.models.gifnets.palette_net import slot_logits, slot_means

    np.testing.assert_allclose(palettes[16], slot_means(images, slot_logits(head.head_layers, images, features)),
                               atol=1e-6)
    assert not np.allclose(palettes[16][:, :8], palettes[8], atol=1e-3)  # not a prefix of another head
    with pytest.raises(ValueError, match="4, 8, 16 colours, not 32"):
        net.palette(images, 32)
    net.save(tmp_path / "heads.keras")
    loaded = keras.saving.load_model(tmp_path / "heads.keras", compile=False)
    for n in (4, 8, 16):
        np.testing.assert_allclose(loaded.palette(images, n), palettes[n], atol=1e-6)


@pytest.mark.parametrize("bad", [dict(head="mlp"), dict(head="slots", output="whitened"),
                                 dict(head="slots", slot_hidden=0), dict(head_sizes=(16,)),
                                 dict(head="slots", head_sizes=(8,)), dict(head="slots", head_sizes=(32, 16)),
                                 dict(head="slots", head_sizes=(300,)),
                                 dict(head="slots", head_sizes=(16,), head_hidden=-1),
                                 dict(head="slots", num_colors=32, nested_sizes=(16, 32), head_sizes=(64,)),
                                 dict(head="slots", refine_rounds=-1), dict(head="slots", refine_rounds=True),
                                 dict(refine_rounds=1),
                                 dict(head="slots", num_colors=32, nested_sizes=(16, 32), refine_rounds=1)])
def test_bad_slot_head_configs_raise(bad):
    with pytest.raises(ValueError):
        tiny(**bad)


def test_refinement_rounds_reassign_pixels_to_the_last_colours_learn_and_round_trip(tmp_path, crops):
    from gif_pipeline.models.gifnets.palette_net import slot_logits, slot_means

    keras.utils.set_random_seed(9)
    net = PaletteNet(tiny(num_colors=8, head="slots", slot_hidden=12, head_sizes=(16,), refine_rounds=2))
    images = tf.constant(crops[:2])
    features = net.pooled_features(images)
    # Each round: softmax over slots of prior * first logits - b * ||x - c||^2, then the weighted means.
    refine = net.slot_refine
    refine.prior.assign([0.5, -0.2])
    refine.log_b.assign(np.log([40.0, 200.0]))
    logits = slot_logits(net.head_layers, images, features).numpy().reshape(2, -1, 8).astype(np.float64)
    x = crops[:2].reshape(2, -1, 3).astype(np.float64)
    palette = slot_means(images, logits.astype(np.float32)).numpy().astype(np.float64)
    for prior, b in ((0.5, 40.0), (-0.2, 200.0)):
        z = prior * logits - b * ((x[:, :, None] - palette[:, None]) ** 2).sum(-1)
        w = np.exp(z - z.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        palette = (np.einsum("bnk,bnc->bkc", w, x) + x.mean(1)[:, None]) / (w.sum(1)[..., None] + 1.0)
    np.testing.assert_allclose(net(images).numpy(), palette, atol=2e-4)
    # At the start (prior 0, b = 1000) one round brings the quantization error down on these crops.
    fresh = PaletteNet(tiny(num_colors=8, head="slots", slot_hidden=12))
    refined = PaletteNet(tiny(num_colors=8, head="slots", slot_hidden=12, refine_rounds=1))
    refined.set_weights(fresh.get_weights() + refined.slot_refine.get_weights())
    assert float(quantization_loss(images, refined(images))) < 0.9 * float(quantization_loss(images, fresh(images)))
    # The rounds' weights learn with the rest, per head.
    with tf.GradientTape() as tape:
        loss = quantization_loss(images, net(images, training=True)) + quantization_loss(images, net.palette(images, 16))
    grads = dict(zip([v.path for v in net.trainable_variables], tape.gradient(loss, net.trainable_variables)))
    refines = [v for v in net.trainable_variables if "slot_refine" in v.path]
    assert len(refines) == 4 and all(np.any(grads[v.path].numpy() != 0) for v in refines)
    net.extra_heads[0].head_layers[4].log_b.assign([3.0, 4.0])
    net.save(tmp_path / "refine.keras")
    loaded = keras.saving.load_model(tmp_path / "refine.keras", compile=False)
    assert loaded.config.refine_rounds == 2
    np.testing.assert_array_equal(loaded.extra_heads[0].head_layers[4].log_b.numpy(), [3.0, 4.0])
    for n in (8, 16):
        np.testing.assert_allclose(loaded.palette(images, n), net.palette(images, n), atol=1e-6)
