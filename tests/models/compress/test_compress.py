"""The compression family (issue #28): config, quantizer, networks, losses, bitstream, graph, export. Tiny configs."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from gif_pipeline.models.compress import codec, entropy, losses, quantizer  # noqa: E402
from gif_pipeline.models.compress.config import CompressionConfig, DiscriminatorConfig, LossConfig  # noqa: E402
from gif_pipeline.models.compress.discriminator import Discriminator  # noqa: E402
from gif_pipeline.models.compress.graph import CompressionGraph, pad_to_multiple, to_tflite  # noqa: E402
from gif_pipeline.models.compress.model import Compressor  # noqa: E402
from tests import checks  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    import keras

    keras.utils.set_random_seed(3)
    return Compressor(CompressionConfig.tiny())


@pytest.fixture(scope="module")
def photo():
    return np.asarray(Image.open(os.path.join(checks.FIXTURES, "hopper_64.png")).convert("RGB"))


def test_config_round_trip_and_checks():
    assert CompressionConfig.paper().norm == "instance"
    for c in (CompressionConfig(), CompressionConfig.paper(), CompressionConfig.tiny(), CompressionConfig.tiny(norm="instance")):
        assert CompressionConfig.from_dict(c.to_dict()) == c
    assert CompressionConfig.paper().encoder_widths == (60, 120, 240, 480, 960)
    assert CompressionConfig.paper().generator_widths == (960, 480, 240, 120, 60)
    assert CompressionConfig.paper().residual_blocks == 9
    assert DiscriminatorConfig.paper().widths == (64, 128, 256, 512)
    assert LossConfig.from_dict(LossConfig().to_dict()) == LossConfig()
    for bad in ({"channels": 0}, {"num_centers": 4}, {"width_multiplier": 0.0}, {"residual_blocks": -1}):
        with pytest.raises(ValueError):
            CompressionConfig(**bad)
    with pytest.raises(ValueError):
        LossConfig(mode="vae")
    with pytest.raises(ValueError):
        CompressionConfig(norm="batch")
    with pytest.raises(ValueError):
        CompressionConfig(upsample="bilinear")
    resize = CompressionConfig(upsample="resize", colour_shortcut=True)
    assert CompressionConfig.from_dict(resize.to_dict()) == resize
    # weights saved before the field existed have the paper's transposed convolutions
    old = {k: v for k, v in CompressionConfig().to_dict().items()
           if k not in ("upsample", "colour_shortcut", "generator_padding")}
    assert CompressionConfig.from_dict(old) == CompressionConfig(upsample="transpose", colour_shortcut=False,
                                                                 generator_padding="zeros")
    with pytest.raises(ValueError, match="generator_padding"):
        CompressionConfig(generator_padding="reflect")


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_generator_upsampling_checkerboard(upsample):
    """A constant code: resize-convolution gives a flat image away from the borders; the transposed convolutions of
    the same widths give a period-2 pattern (the checkerboard the CPU models showed)."""
    import keras

    from gif_pipeline.models.compress.generator import build_generator

    keras.utils.set_random_seed(5)
    g = build_generator(CompressionConfig.tiny(upsample=upsample))
    kinds = {type(layer).__name__ for layer in g.layers}
    assert ("Conv2DTranspose" in kinds) == (upsample == "transpose")
    assert ("Upsample2x" in kinds) == (upsample == "resize")
    code = np.ones((1, 16, 16, g.input_shape[-1]), "float32")
    out = g(code).numpy()[0]
    assert out.shape == (256, 256, 3)
    inner = out[96:160, 96:160]  # beyond the zero padding's reach (3 code cells = 48 px, +18 px after upsampling)
    spread = float(np.abs(inner - inner.mean((0, 1))).max())
    if upsample == "resize":
        assert spread < 1e-4
    else:
        assert spread > 1e-3


@pytest.mark.parametrize("padding", ["zeros", "symmetric"])
def test_generator_padding_and_the_border_frame(padding):
    """A constant code: with zero padding G's output differs along the image borders (the thin frame the CPU GCs drew);
    with symmetric padding it is flat to the edge. The two G's have the same weights, so one fine-tunes into the other."""
    import keras

    from gif_pipeline.models.compress.generator import build_generator

    keras.utils.set_random_seed(5)
    config = CompressionConfig.tiny(upsample="resize", colour_shortcut=True, generator_padding=padding)
    g = build_generator(config)
    other = build_generator(config.replace(generator_padding="zeros" if padding == "symmetric" else "symmetric"))
    assert [w.shape for w in g.weights] == [w.shape for w in other.weights]
    other.set_weights(g.get_weights())
    code = np.full((1, 16, 16, g.input_shape[-1]), 0.5, "float32")
    out = g(code).numpy()[0]
    assert out.shape == (256, 256, 3)
    edge = float(np.abs(out - out[128, 128]).max())
    if padding == "symmetric":
        assert edge < 1e-5
        assert float(np.abs(other(code).numpy()[0] - out).max()) > 1e-3  # the same weights, zero padded: a frame
    else:
        assert edge > 1e-3
        assert float(np.abs(out[96:160, 96:160] - out[128, 128]).max()) < 1e-5  # flat beyond the padding's reach


@pytest.mark.parametrize("channels,bound", [(2, 0.0181), (4, 0.0363), (8, 0.0726)])
def test_rate_bound(channels, bound):
    # dim(w_hat) log2 L over W*H: C * (W/16) * (H/16) * log2 5 / (W * H)
    config = CompressionConfig(channels=channels)
    assert config.centers == (-2.0, -1.0, 0.0, 1.0, 2.0)
    assert round(config.bound_bpp(), 4) == bound
    w, h = 256, 256
    assert config.bound_bpp() == pytest.approx(channels * (w // 16) * (h // 16) * math.log2(5) / (w * h))


def test_colour_shortcut_is_a_linear_path_from_the_code():
    """With the shortcut, G's output before the tanh is its convolutions plus a 1 x 1 map of the code upsampled 16x:
    zeroing every other weight leaves exactly that path (a code cell's colour, bilinear between cells)."""
    from gif_pipeline.models.compress.generator import build_generator

    g = build_generator(CompressionConfig.tiny(colour_shortcut=True, upsample="resize"))
    plain = build_generator(CompressionConfig.tiny(upsample="resize"))
    assert len(g.weights) == len(plain.weights) + 2  # the 1 x 1 kernel and its bias
    for w in g.weights:
        if not w.path.startswith("shortcut_conv"):
            w.assign(np.zeros(w.shape, "float32"))
    conv = g.get_layer("shortcut_conv")
    kernel = np.zeros(conv.kernel.shape, "float32")
    kernel[0, 0, 0] = [0.5, -0.25, 0.0]  # code channel 0 -> R, G
    conv.kernel.assign(kernel)
    conv.bias.assign(np.array([0.0, 0.0, 0.1], "float32"))
    code = np.zeros((1, 4, 4, g.input_shape[-1]), "float32")
    code[0, :, :, 0] = 1.0  # a flat code: a flat image
    out = g(code).numpy()[0]
    assert out.shape == (64, 64, 3)
    np.testing.assert_allclose(out, np.broadcast_to(np.tanh([0.5, -0.25, 0.1]), out.shape), atol=1e-6)
    code[0, :2, :, 0] = -1.0  # top half -1, bottom half 1: a ramp between them, tanh of the linear map
    out = g(code).numpy()[0]
    np.testing.assert_allclose(out[0, 0], np.tanh([-0.5, 0.25, 0.1]), atol=1e-6)
    np.testing.assert_allclose(out[-1, 0], np.tanh([0.5, -0.25, 0.1]), atol=1e-6)
    assert np.all(np.diff(out[:, 5, 0]) >= -1e-7) and out[20:44, 5, 0].std() > 0.05


def test_quantizer_forward_is_nearest_centre_and_gradient_flows():
    w = tf.constant(np.random.default_rng(0).normal(0, 2, (4, 3, 3, 2)).astype("float32"))
    centers = np.arange(-2, 3, dtype="float32")
    nearest = centers[np.argmin(np.abs(w.numpy()[..., None] - centers), axis=-1)]
    with tf.GradientTape() as tape:
        tape.watch(w)
        w_hat = quantizer.quantize(w, 5)
        loss = tf.reduce_sum(w_hat * tf.range(w_hat.shape[-1], dtype=tf.float32) + tf.square(w_hat))
    np.testing.assert_array_equal(w_hat.numpy(), nearest)
    grad = tape.gradient(loss, w).numpy()
    assert np.isfinite(grad).all() and np.count_nonzero(grad) > grad.size // 2
    np.testing.assert_array_equal(quantizer.symbols(w, 5).numpy(), (nearest + 2).astype(np.uint8))
    np.testing.assert_array_equal(quantizer.centers_of(quantizer.symbols(w, 5), 5).numpy(), nearest)


def test_networks_shapes_and_save_load(tiny, tmp_path):
    import keras

    x = tf.random.uniform([2, 48, 32, 3], -1, 1, seed=1)
    x_hat, w_hat = Compressor(CompressionConfig.tiny(norm="instance"))(x)
    assert x_hat.shape == (2, 48, 32, 3)
    x_hat, w_hat = tiny(x)
    assert x_hat.shape == (2, 48, 32, 3) and w_hat.shape == (2, 3, 2, 2)
    assert set(np.unique(w_hat.numpy())) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    tiny.entropy_prior.assign(np.arange(tiny.entropy_prior.numpy().size, dtype="float32").reshape(tiny.entropy_prior.shape))
    path = os.path.join(tmp_path, "c.keras")
    tiny.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.config == tiny.config and codec.model_id(loaded) == codec.model_id(tiny)
    np.testing.assert_array_equal(loaded.entropy_prior.numpy(), tiny.entropy_prior.numpy())
    for got, want in zip(loaded(x), (x_hat, w_hat)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    tiny.entropy_prior.assign(np.ones(tiny.entropy_prior.shape, "float32"))
    d = Discriminator(DiscriminatorConfig.tiny())
    features = d(x)
    assert len(features) == 2 and len(features[0]) == 5 and features[1][-1].shape[1] < features[0][-1].shape[1]


def test_selective_compression_zeroes_the_code_outside_the_box(tiny):
    x = tf.random.uniform([1, 64, 64, 3], -1, 1, seed=2)
    keep = np.zeros([1, 4, 4, 1], np.float32)
    keep[:, 1:3, 1:3] = 1
    _, w_hat = tiny(x, tf.constant(keep))
    assert not w_hat.numpy()[keep[..., 0] == 0].any()
    from gif_pipeline.models.compress.training import random_boxes

    boxes = random_boxes(64, 8, 8, 0.5, 0.25, seed=1).numpy()
    boxed = boxes.reshape(64, -1).min(axis=1) == 0
    assert 10 < boxed.sum() < 54  # about half the images keep a box
    assert all(codec._box_of(b[..., 0]) is not None for b in boxes)  # each keep map is one rectangle


def test_losses():
    x = tf.zeros([1, 8, 8, 3])
    y = tf.ones([1, 8, 8, 3])
    keep = np.zeros([1, 8, 8, 1], np.float32)
    keep[:, :4] = 1
    assert float(losses.masked_mse(x, y * tf.constant(keep), keep)) == pytest.approx(1.0)
    assert float(losses.masked_mse(x, y * (1 - tf.constant(keep)), keep)) == pytest.approx(0.0)
    real = [[tf.ones([1, 2, 2, 1]), tf.ones([1, 2, 2, 1])]]
    fake = [[tf.zeros([1, 2, 2, 1]), tf.zeros([1, 2, 2, 1])]]
    assert float(losses.lsgan_generator(fake)) == 1.0 and float(losses.lsgan_generator(real)) == 0.0
    assert float(losses.lsgan_discriminator(real, fake)) == 0.0
    assert float(losses.lsgan_discriminator(fake, real)) == 1.0
    assert float(losses.feature_matching(real, fake)) == 1.0
    with pytest.raises(Exception, match="no such file"):
        losses.VGGLoss("/nonexistent/vgg19.h5")
    # block means: a zero-mean pattern inside each 16 x 16 cell costs nothing, an offset costs its square, and only
    # on the kept cells
    pattern = np.indices((32, 32)).sum(0) % 2 * 2 - 1.0  # +-1 checkerboard, mean 0 over any cell
    z = tf.zeros([1, 32, 32, 3])
    noisy = tf.constant(np.repeat(pattern[None, :, :, None], 3, -1), tf.float32) * 0.5
    cells = np.ones([1, 2, 2, 1], np.float32)
    assert float(losses.masked_mse(z, noisy, np.ones([1, 32, 32, 1], np.float32))) == pytest.approx(0.25)
    assert float(losses.block_mean_mse(z, noisy, cells)) == pytest.approx(0.0, abs=1e-9)
    shifted = noisy + tf.constant([0.2, 0.0, 0.0])
    assert float(losses.block_mean_mse(z, shifted, cells)) == pytest.approx(0.04 / 3, rel=1e-5)
    half = shifted * tf.constant(np.repeat(np.repeat(np.array([[1.0, 0.0], [1.0, 0.0]]), 16, 0), 16, 1)[None, :, :, None],
                                 tf.float32)
    kept = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)[None, :, :, None]  # only the cells where half is zero
    assert float(losses.block_mean_mse(z, half, kept)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        LossConfig(lowpass_weight=-1.0)


@pytest.mark.parametrize("mode", ["mse", pytest.param("gan", marks=pytest.mark.slow)])
def test_train_steps(mode):
    import keras

    from gif_pipeline.models.compress.training import CompressionTrainer

    x = tf.random.uniform([2, 32, 32, 3], -1, 1, seed=3)
    ds = tf.data.Dataset.from_tensors(x).repeat()
    model = CompressionTrainer(Compressor(CompressionConfig.tiny()), Discriminator(DiscriminatorConfig.tiny()),
                               LossConfig(mode=mode, box_probability=0.5, lowpass_weight=1.0))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # tracing the GAN step takes a minute
    before = [w.numpy().copy() for w in model.compressor.trainable_weights]
    history = model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert np.isfinite(logs["loss"]) and ("d_loss" in logs) == (mode == "gan") and logs["lowpass"] >= 0
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.compressor.trainable_weights))


def test_entropy_coder_round_trip_and_beats_uniform():
    rng = np.random.default_rng(0)
    symbols = np.clip(np.round(rng.normal(0, 0.7, (8, 12, 3))), -2, 2).astype(np.uint8) + 2
    keep = np.ones((8, 12), np.uint8)
    keep[2:5, 3:9] = 0
    prior = np.ones((3, 5, 5, 5)) + entropy.context_counts(symbols, keep, 5)
    data = entropy.encode(symbols, keep, prior, 5)
    decoded = entropy.decode(data, keep, prior, 5, 3)
    want = np.where(keep[..., None] > 0, symbols, 2)
    np.testing.assert_array_equal(decoded, want)
    assert 8 * len(data) < keep.sum() * 3 * math.log2(5)  # below the bound dim(w) log2 L
    assert 8 * len(data) <= entropy.ideal_bits(symbols, keep, prior, 5) + 64
    assert entropy.encode(symbols, keep, prior, 5) == data  # deterministic


def test_codec_round_trip_header_and_bad_files(tiny, photo):
    c = codec.Codec(tiny, gan=True)
    rgb = photo[:50, :37]  # not multiples of 16: padded and cropped back
    data, stats = c.compress(rgb, box=(0, 0, 20, 30))
    header = codec.read(data)
    assert (header.width, header.height, header.channels, header.gan) == (37, 50, 2, True)
    assert header.keep.shape == (4, 3) and header.keep.sum() == 4  # the cells the box touches
    assert stats.bytes == len(data) and stats.bpp == pytest.approx(8 * len(data) / (37 * 50))
    out = c.decompress(data)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, c.decompress(data))  # bit-exact
    # the same as the graph on the same symbols
    symbols = c.symbols_of(header)
    direct = c.graph.compress(rgb[None], codec.keep_mask(50, 37, box=(0, 0, 20, 30))[None, ..., None])
    np.testing.assert_array_equal(symbols, direct["symbols"].numpy()[0])
    mask = np.zeros((50, 37), np.uint8)
    mask[::20, ::20] = 255
    data_map, _ = c.compress(rgb, mask=mask)
    assert codec.read(data_map).keep.sum() == 6
    for bad, match in [(data[:5], "truncated"), (b"PK" + data[2:], "magic"), (data[:2] + b"\x09" + data[3:], "version"),
                       (data[:-1], "checksum"), (data[:-1] + bytes([data[-1] ^ 1]), "checksum")]:
        with pytest.raises(codec.BitstreamError, match=match):
            c.decompress(bad)
    other = codec.Codec(Compressor(CompressionConfig.tiny()), gan=True)
    with pytest.raises(codec.BitstreamError, match="written by model"):
        other.decompress(data)
    with pytest.raises(codec.KeepRegionError, match="not inside"):
        c.compress(rgb, box=(30, 0, 20, 10))
    with pytest.raises(codec.KeepRegionError, match="the mask is"):
        c.compress(rgb, mask=np.ones((10, 10)))
    with pytest.raises(codec.KeepRegionError, match="at least 16"):
        c.compress(rgb[:15])


def test_pad_is_reflect():
    x = np.random.default_rng(1).random((1, 35, 17, 2)).astype("float32")
    want = np.pad(x, ((0, 0), (0, 13), (0, 15), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(pad_to_multiple(tf.constant(x)).numpy(), want)


@pytest.mark.parametrize("upsample,shortcut,padding", [("transpose", False, "zeros"), ("resize", False, "zeros"),
                                                        ("resize", True, "zeros"), ("resize", True, "symmetric")])
def test_tflite_matches_keras(tiny, photo, upsample, shortcut, padding):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    if upsample == "resize":
        keras.utils.set_random_seed(6)
        tiny = Compressor(CompressionConfig.tiny(upsample="resize", colour_shortcut=shortcut,
                                                 generator_padding=padding))
    graph = CompressionGraph(tiny)
    rgb, keep = photo[None, :48, :40], np.ones((1, 48, 40, 1), np.uint8)
    want = graph.compress(rgb, keep)
    runner = Interpreter(model_content=to_tflite(graph, "compress")).get_signature_runner()
    got = runner(image=rgb, keep=keep)
    assert (got["symbols"] == want["symbols"].numpy()).mean() >= 0.999
    size = np.array([48, 40], np.int32)
    want_img = graph.decompress(want["symbols"], want["keep"], size)["image"].numpy()
    runner = Interpreter(model_content=to_tflite(graph, "decompress")).get_signature_runner()
    got_img = runner(symbols=want["symbols"].numpy(), keep=want["keep"].numpy(), size=size)["image"]
    assert got_img.shape == want_img.shape and np.abs(got_img.astype(int) - want_img).max() <= 1
