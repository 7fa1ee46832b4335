"""The restore family's networks (GIF2Video CCDNet, dither classifier), losses and graph on tiny configs."""
import numpy as np
import pytest

import checks
from gif_pipeline.models.restore import ccdnet, classifier, losses
from gif_pipeline.models.restore.config import CCDNetConfig, CCDNetLossConfig, ClassifierConfig


def _inputs(h=20, w=27, k=6, seed=0):
    rng = np.random.default_rng(seed)
    palette = rng.uniform(-1, 1, (1, k, 3)).astype(np.float32)
    gif = palette[0][rng.integers(0, k, (h, w))][None]
    return gif, palette


def randomize_outputs(model, seed=0, scale=0.3):
    """Give the zero-initialized output convs (update U-Net, residual step 1) random weights, as training would."""
    rng = np.random.default_rng(seed)
    for net in ccdnet.parts(model):
        if net is not None:
            layer = net.get_layer(f"{net.name}_out")
            layer.kernel.assign(rng.normal(0, scale, layer.kernel.shape).astype(np.float32))
    return model


def test_configs_round_trip_and_reject_bad_values():
    for c in (CCDNetConfig(), CCDNetConfig.tiny(), CCDNetLossConfig(gradient_weight=0.0), ClassifierConfig.tiny()):
        assert type(c).from_dict(c.to_dict()) == c
    assert CCDNetConfig().level_channels == (64, 128, 256, 512, 512)
    assert CCDNetConfig(width_multiplier=0.25).level_channels == (16, 32, 64, 128, 128)
    for bad in (dict(steps=4), dict(steps=0), dict(width_multiplier=0), dict(levels=6), dict(convs_per_level=0)):
        with pytest.raises(ValueError):
            CCDNetConfig(**bad)
    with pytest.raises(ValueError):
        CCDNetLossConfig(image_weight=-1)
    with pytest.raises(ValueError):
        ClassifierConfig(channels=())


@pytest.mark.slow
def test_paper_width_layout_and_parameter_count():
    import keras

    model = ccdnet.build_ccdnet(CCDNetConfig())
    step1, update = ccdnet.parts(model)
    # UNet_simple(3, 3, ch=64) and UNet_simple(12, 3, ch=64), without the conv biases before batch norm
    assert step1.get_layer("step1_enc4_1_conv").filters == 512
    assert step1.get_layer("step1_dec0_1_conv").filters == 64
    assert update.input_shape[-1] == 12
    assert 29e6 < model.count_params() < 30e6
    assert all(isinstance(step1.get_layer(f"step1_pool{i}"), keras.layers.AveragePooling2D) for i in range(1, 5))


def test_ccdnet_any_size_save_load_and_config_of(tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    config = CCDNetConfig.tiny(steps=3)
    model = randomize_outputs(ccdnet.build_ccdnet(config, all_steps=True))
    gif, palette = _inputs()
    out = np.asarray(model([gif, palette]))
    assert out.shape == (1, 3, 20, 27, 3) and np.all(np.abs(out) <= 1)
    assert len({float(np.abs(out[0, t]).sum()) for t in range(3)}) == 3  # every step changes the estimate
    checks.save_load_round_trip(model, [gif, palette], tmp_path)
    assert ccdnet.config_of(model) == config
    # one-pixel and odd sizes run (padding to the 4-px grid of 3 levels, cropped back)
    for h, w in ((1, 1), (5, 33)):
        g, p = _inputs(h, w)
        assert np.asarray(model([g, p])).shape == (1, 3, h, w, 3)


def test_palette_projection_is_the_nearest_palette_colour():
    gif, palette = _inputs(k=9, seed=4)
    image = np.random.default_rng(5).uniform(-1, 1, gif.shape).astype(np.float32)
    got = np.asarray(ccdnet.PaletteProjection()([image, palette]))
    d = ((image[0][:, :, None, :] - palette[0][None, None]) ** 2).sum(-1)
    np.testing.assert_allclose(got[0], palette[0][d.argmin(-1)], atol=1e-6)


def test_step_update_adds_before_tanh_and_residual_step1_starts_at_the_gif():
    """A fresh update U-Net (zero output conv) leaves step 1's estimate unchanged (the update adds to the pre-tanh
    values); a fresh residual step 1 returns the GIF itself (to half a grey level at 0 and 255)."""
    import keras

    keras.utils.set_random_seed(1)
    model = ccdnet.build_ccdnet(CCDNetConfig.tiny(), all_steps=True)
    gif, palette = _inputs()
    out = np.asarray(model([gif, palette]))
    np.testing.assert_allclose(out[0, 1], out[0, 0], atol=1e-6)
    assert np.abs(out[0, 0] - gif[0]).max() > 0.05  # the paper's step 1 starts elsewhere
    residual = ccdnet.build_ccdnet(CCDNetConfig.tiny(residual=True, steps=1))
    assert ccdnet.config_of(residual).residual
    edges = np.concatenate([gif, -np.ones_like(gif[:, :1]), np.ones_like(gif[:, :1])], axis=1)
    np.testing.assert_allclose(np.asarray(residual([edges, palette])), edges, atol=0.5 / 127.5 + 1e-6)
    randomize_outputs(model)
    out = np.asarray(model([gif, palette]))
    assert np.abs(out[0, 1] - out[0, 0]).max() > 1e-3


def test_losses_on_known_inputs():
    config = CCDNetLossConfig()
    target = np.zeros((2, 8, 8, 3), np.float32)
    assert float(losses.ccdnet_loss(target, target, config)) == 0.0
    # a constant offset: only the image term, 100 * 0.25
    np.testing.assert_allclose(float(losses.ccdnet_loss(target, target + 0.25, config)), 25.0, rtol=1e-6)
    # a horizontal ramp 0.1 per pixel vs flat: image L1 = mean(0.1 * x) over x = 0..7 = 0.35; gradient: 0.1 on
    # the horizontal differences, 0 on the vertical -> 0.5 * 0.1
    ramp = np.broadcast_to((0.1 * np.arange(8, dtype=np.float32))[None, None, :, None], target.shape)
    np.testing.assert_allclose(float(losses.image_loss(target, ramp)), 0.35, rtol=1e-5)
    np.testing.assert_allclose(float(losses.gradient_loss(target, ramp)), 0.05, rtol=1e-5)
    np.testing.assert_allclose(float(losses.ccdnet_loss(target, ramp, config)), 100 * 0.35 + 200 * 0.05, rtol=1e-5)
    # the mean over unfolded steps, and first_step skips the frozen step 1
    stacked = np.stack([target + 0.5, target + 0.1], axis=1)
    np.testing.assert_allclose(float(losses.ccdnet_loss(target, stacked, config)), 30.0, rtol=1e-5)
    np.testing.assert_allclose(float(losses.ccdnet_loss(target, stacked, config, first_step=1)), 10.0, rtol=1e-5)
    no_grad = CCDNetLossConfig(gradient_weight=0.0)
    np.testing.assert_allclose(float(losses.ccdnet_loss(target, ramp, no_grad)), 35.0, rtol=1e-5)
    # the classifier's BCE: a confident right answer costs ~0, a 0 logit log(2)
    np.testing.assert_allclose(float(losses.classifier_loss(np.array([[1.0]]), np.array([[0.0]]))), np.log(2), rtol=1e-6)
    assert float(losses.classifier_loss(np.array([[1.0], [0.0]]), np.array([[20.0], [-20.0]]))) < 1e-6


def test_classifier_and_gradient_maps(tmp_path):
    import keras

    x = np.zeros((1, 4, 4, 3), np.float32)
    x[0, :, 2:] = 1.0
    maps = np.asarray(classifier.GradientMaps()(x))
    assert maps.shape == (1, 4, 4, 9)
    assert np.all(maps[0, :, 1, 3:6] == 1.0) and maps[0, :, [0, 2, 3], 3:6].sum() == 0 and maps[..., 6:].sum() == 0
    keras.utils.set_random_seed(2)
    net = classifier.build_classifier(ClassifierConfig.tiny())
    gif, _ = _inputs(32, 24)
    assert np.asarray(net(gif)).shape == (1, 1)
    checks.save_load_round_trip(net, gif, tmp_path)


def test_graph_tflite_matches_keras(tmp_path):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from gif_pipeline.models.restore.graph import RestoreGraph, save, to_tflite

    keras.utils.set_random_seed(4)
    graph = RestoreGraph(ccdnet.build_ccdnet(CCDNetConfig.tiny()), steps=2)
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (7, 3)).astype(np.uint8)
    image = palette[rng.integers(0, 7, (2, 24, 20))]
    want = graph.restore_float(image.astype(np.float32) / 127.5 - 1, palette.astype(np.float32) / 127.5 - 1)
    got = checks.tflite_matches(lambda i, p: graph.restore_float(tf_float(i), tf_float(p)),
                                [tf_spec([None, None, None, 3]), tf_spec([None, 3])], [image, palette], atol=2e-5)
    np.testing.assert_allclose(got[0], np.asarray(want), atol=2e-5)
    served = np.asarray(graph.serve(image, palette)["restored"])
    np.testing.assert_array_equal(served, np.clip(np.rint((np.asarray(want) + 1) * 127.5), 0, 255).astype(np.uint8))
    # the exported files (SavedModel -> TFLite, as export/export_restore.py writes them) hold the weights
    randomize_outputs(graph.net)
    served = np.asarray(graph.serve(image, palette)["restored"]).astype(int)
    interpreter = Interpreter(model_content=to_tflite(save(graph, str(tmp_path / "sm"))))
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    for name, d in inputs.items():
        interpreter.resize_tensor_input(d["index"], image.shape if "image" in name else palette.shape)
    interpreter.allocate_tensors()
    for name, d in inputs.items():
        interpreter.set_tensor(d["index"], image if "image" in name else palette)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).astype(int)
    assert np.abs(got - served).max() <= 1


def tf_float(x):
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 127.5 - 1.0


def tf_spec(shape):
    import tensorflow as tf

    return tf.TensorSpec(shape, tf.uint8)
