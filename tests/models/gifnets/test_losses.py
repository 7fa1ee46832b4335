"""GIFnets' losses (Eq. 6, Eq. 9), the supplement's weights and the optional perceptual term R."""
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import checks  # noqa: E402
from gif_pipeline.errors import MissingPrerequisiteError
from gif_pipeline.models.gifnets.banding_net import build_banding_net, multiscale_banding_loss
from gif_pipeline.models.gifnets.config import BandingNetConfig, DitherNetConfig, LossConfig
from gif_pipeline.models.gifnets.dither_net import build_dither_net, dither
from gif_pipeline.models.gifnets.losses import (
    CSFLoss,
    NimaScore,
    VGGFeatureLoss,
    dither_loss,
    make_perceptual_loss,
    total_loss,
    vif_loss,
    vif_scales,
)
from gif_pipeline.quant.projection import soft_projection


def _images(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


@pytest.fixture(scope="module")
def banding_net():
    keras.utils.set_random_seed(0)
    net = build_banding_net(BandingNetConfig.tiny())
    net.trainable = False
    return net


@pytest.fixture()
def batch():
    image, dithered, error, quantized = (_images((2, 12, 10, 3), seed) for seed in range(4))
    return image, dithered, error, quantized


# --- configs ---------------------------------------------------------------------------------

def test_for_num_colors_uses_the_supplements_weights():
    small = LossConfig.for_num_colors(16)
    assert (small.lam, small.gamma, small.delta, small.theta, small.beta) == (0.01, 0.3, 0.05, 0.0, 1.0)
    assert LossConfig.for_num_colors(64, "vgg16").theta == 0.001
    assert LossConfig.for_num_colors(64, "nima").theta == 0.0001
    big = LossConfig.for_num_colors(256, "vgg19")
    assert (big.lam, big.gamma, big.delta, big.theta) == (0.2, 0.3, 0.025, 0.001)
    assert LossConfig.for_num_colors(128).lam == 0.2
    for bad in (1, 257, 16.0):
        with pytest.raises(ValueError):
            LossConfig.for_num_colors(bad)
    with pytest.raises(ValueError):
        LossConfig.for_num_colors(16, "lpips")
    with pytest.raises(ValueError):
        LossConfig(lam=-1.0)
    with pytest.raises(ValueError):
        LossConfig(banding_eta=1.0)
    assert LossConfig.from_dict(big.to_dict()) == big


# --- Eq. 6 and Eq. 9 -------------------------------------------------------------------------

def test_dither_loss_is_eq6(batch):
    image, dithered, error, quantized = batch
    config = LossConfig(lam=0.7, gamma=0.3, delta=0.0, theta=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero-weight terms are simply not computed: no warning
        total, terms = dither_loss(image, dithered, error, quantized, config=config)
    l1_image = np.mean(np.abs(image - dithered))
    l1_error = np.mean(np.abs(error - (quantized - image)))
    assert float(terms["l1_image"]) == pytest.approx(l1_image, rel=1e-5)
    assert float(terms["l1_error"]) == pytest.approx(l1_error, rel=1e-5)
    assert float(total) == pytest.approx(0.7 * l1_image + 0.3 * l1_error, rel=1e-5)
    assert float(terms["banding"]) == float(terms["perceptual"]) == 0.0


def test_banding_term_uses_the_multiscale_loss(batch, banding_net):
    image, dithered, error, quantized = batch
    config = LossConfig(lam=0.0, gamma=0.0, delta=0.05, banding_eta=1.5, banding_scales=3)
    total, terms = dither_loss(image, dithered, error, quantized, banding_net=banding_net, config=config)
    want = float(multiscale_banding_loss(banding_net, dithered, 1.5, 3))
    assert float(terms["banding"]) == pytest.approx(want, rel=1e-5)
    assert 0 < want <= 3
    assert float(total) == pytest.approx(0.05 * want, rel=1e-5)


def test_missing_models_turn_their_terms_off_with_a_warning(batch):
    image, dithered, error, quantized = batch
    config = LossConfig(delta=0.05, theta=0.001, perceptual="vgg16")
    with pytest.warns(UserWarning, match="banding term") as record:
        total, terms = dither_loss(image, dithered, error, quantized, config=config)
    assert any("R(I, I_hat)" in str(w.message) for w in record)
    assert float(terms["banding"]) == float(terms["perceptual"]) == 0.0
    assert float(total) == pytest.approx(0.01 * float(terms["l1_image"]) + 0.3 * float(terms["l1_error"]), rel=1e-5)


def test_perceptual_term_is_weighted_by_theta(batch):
    image, dithered, error, quantized = batch
    config = LossConfig(lam=0.0, gamma=0.0, delta=0.0, theta=0.5)
    total, terms = dither_loss(image, dithered, error, quantized,
                               perceptual=lambda a, b: tf.reduce_mean(tf.square(a - b)) * 10.0, config=config)
    want = 10.0 * np.mean((image - dithered) ** 2)
    assert float(terms["perceptual"]) == pytest.approx(want, rel=1e-5)
    assert float(total) == pytest.approx(0.5 * want, rel=1e-5)


def test_vif_term_is_one_minus_vif_and_weighted(batch):
    image, dithered, error, quantized = batch
    config = LossConfig(lam=0.0, gamma=0.0, delta=0.0, theta=0.0, vif=2.0)
    total, terms = dither_loss(image, dithered, error, quantized, config=config)
    assert float(terms["vif"]) == pytest.approx(float(vif_loss(image, dithered)), rel=1e-6)
    assert float(total) == pytest.approx(2.0 * float(terms["vif"]), rel=1e-5)
    _, terms = dither_loss(image, dithered, error, quantized, config=config.replace(vif=0.0))
    assert float(terms["vif"]) == 0.0  # unweighted: not computed
    with pytest.raises(ValueError, match="vif"):
        LossConfig(vif=-1.0)


def _photo_unit(size=96):
    from PIL import Image

    rgb = np.asarray(Image.open(os.path.join(checks.FIXTURES, "retina_64.png")).convert("RGB")
                     .resize((size, size), Image.Resampling.BICUBIC))
    return rgb, rgb[None].astype(np.float32) / 127.5 - 1.0


def test_vif_is_one_for_the_image_itself_and_falls_with_noise():
    _, x = _photo_unit()
    np.testing.assert_allclose(vif_scales(x, x).numpy(), 1.0, atol=1e-3)
    rng = np.random.default_rng(0)
    mild, strong = (np.clip(x + rng.normal(0, s, x.shape), -1, 1).astype(np.float32) for s in (0.02, 0.1))
    v_mild, v_strong = vif_scales(x, mild).numpy()[0], vif_scales(x, strong).numpy()[0]
    assert np.all(v_strong < v_mild) and np.all(v_mild < 1.0)
    # Differentiable: the gradient reaches the distorted image.
    d = tf.Variable(strong)
    with tf.GradientTape() as tape:
        loss = vif_loss(x, d)
    grad = tape.gradient(loss, d).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def test_vif_scales_agree_with_libvmaf():
    from gif_pipeline.metrics import cambi

    rgb, x = _photo_unit()
    noisy = np.clip(rgb + np.random.default_rng(1).normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    try:
        features = cambi.libvmaf_metrics(noisy, rgb)
    except cambi.VmafError as e:
        pytest.skip(f"libvmaf unavailable: {e}")
    ours = vif_scales(x, noisy[None].astype(np.float32) / 127.5 - 1.0).numpy()[0]
    theirs = np.array([features[f"integer_vif_scale{k}"] for k in range(4)])
    np.testing.assert_allclose(ours, theirs, atol=0.03)
    assert np.all(theirs < 0.999)  # the noise is visible to both


def test_total_loss_is_eq9(batch):
    image, dithered, error, quantized = batch
    config = LossConfig(beta=2.0, delta=0.0)
    total, terms = total_loss(image, dithered, error, quantized, config=config)
    d_total, _ = dither_loss(image, dithered, error, quantized, config=config)
    l2 = np.mean((image - quantized) ** 2)
    assert float(terms["l2_palette"]) == pytest.approx(l2, rel=1e-5)
    assert float(total) == pytest.approx(2.0 * l2 + float(d_total), rel=1e-5)


def test_shape_mismatch_raises(batch):
    image, dithered, error, quantized = batch
    with pytest.raises(ValueError):
        dither_loss(image, dithered[:, :-1], error, quantized, config=LossConfig(delta=0.0))


def test_a_few_adam_steps_lower_the_loss(banding_net):
    """DitherNet + soft projection (Eq. 5) trained with Eq. 9 on one fixed batch."""
    keras.utils.set_random_seed(1)
    net = build_dither_net(DitherNetConfig.tiny())
    image = tf.constant(_images((2, 16, 16, 3), 10))
    palette = tf.constant(_images((2, 6, 3), 11))
    quantized = soft_projection(image, palette, 0.05)
    config = LossConfig.for_num_colors(16)
    optimizer = keras.optimizers.Adam(0.01)

    def loss_fn():
        error = net([image, quantized], training=True)
        dithered = dither(image, palette, error, soft=True, temperature=0.05)
        return total_loss(image, dithered, error, quantized, banding_net=banding_net, config=config)[0]

    def step():  # eager: tracing this graph costs far more than three steps on a small CPU
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply(grads, net.trainable_variables)
        return loss

    before = float(loss_fn())
    losses = [float(step()) for _ in range(3)]
    after = float(loss_fn())
    assert after < before - 1e-3, (before, losses, after)
    assert banding_net.trainable_variables == []  # the critic stays frozen


# --- perceptual term R -----------------------------------------------------------------------

def _tiny_vgg(input_shape):
    x = inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="block2_conv2")(x)
    return keras.Model(inputs, x, name="tiny_vgg")


def _tiny_nima_backbone(input_shape):
    x = inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="tiny_backbone")


def test_csf_loss_keeps_smooth_errors_and_discounts_fine_dither_noise():
    from gif_pipeline.metrics import image as metrics

    csf = CSFLoss()
    image = tf.zeros((1, 32, 32, 3))
    offset = tf.fill((1, 32, 32, 3), 0.1)  # a flat error: all at frequency 0, where the CSF is 1
    assert float(csf(image, offset)) == pytest.approx(0.01, rel=1e-4)
    checker = 0.1 * (2.0 * ((np.indices((32, 32)).sum(0) % 2)) - 1.0)  # the same energy at the highest frequency
    checker = tf.constant(np.repeat(checker[None, :, :, None], 3, -1), tf.float32)
    assert float(csf(image, checker)) < 0.01 * 0.05
    # It is WSNR's noise term: the same CSF on the same Fourier grid (here on one channel, RGB equal).
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (2, 24, 20)).astype(np.float32)
    weights = metrics.contrast_sensitivity((24, 20), csf.pixels_per_degree)
    expected = np.mean(np.abs(weights * np.fft.fft2(a - b)) ** 2) / (24 * 20)
    stack = lambda x: tf.constant(np.repeat(x[None, :, :, None], 3, -1))  # noqa: E731
    assert float(csf(stack(a), stack(b))) == pytest.approx(expected, rel=1e-4)
    assert isinstance(make_perceptual_loss("csf"), CSFLoss)
    assert LossConfig.for_num_colors(16, "csf").theta > 0


def test_make_perceptual_loss_without_weights_warns_and_is_off(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert make_perceptual_loss("none") is None
        assert make_perceptual_loss(LossConfig()) is None
    for kind in ("vgg16", "vgg19", "nima"):
        with pytest.warns(UserWarning, match="R is off"):
            assert make_perceptual_loss(kind, None) is None
    with pytest.raises(MissingPrerequisiteError, match="not found"):
        make_perceptual_loss("vgg16", tmp_path / "missing.weights.h5")
    with pytest.raises(ValueError):
        make_perceptual_loss("lpips", tmp_path / "x.h5")
    with pytest.raises(ValueError):
        VGGFeatureLoss(None)


def test_vgg_feature_loss_loads_local_weights(tmp_path):
    keras.utils.set_random_seed(2)
    original = _tiny_vgg((None, None, 3))
    path = tmp_path / "tiny_vgg.weights.h5"
    original.save_weights(path)
    loss = VGGFeatureLoss(path, layers=("block1_conv2", "block2_conv2"), backbone_fn=_tiny_vgg)
    for a, b in zip(loss.features.weights, original.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # loaded, not freshly initialised
    assert loss.features.trainable_weights == []

    image = tf.constant(_images((2, 12, 12, 3), 20))
    other = tf.Variable(_images((2, 12, 12, 3), 21))
    assert float(loss(image, image)) == 0.0
    with tf.GradientTape() as tape:
        r = loss(image, other)
    assert float(r) > 0
    grad = tape.gradient(r, other)
    assert np.all(np.isfinite(grad.numpy())) and float(tf.reduce_max(tf.abs(grad))) > 0
    # keras.applications' "caffe" preprocessing: RGB [0, 255] -> BGR minus the ImageNet means.
    white_red = tf.constant([[[[1.0, -1.0, -1.0]]]])
    np.testing.assert_allclose(VGGFeatureLoss.preprocess(white_red).numpy().ravel(),
                               [0 - 103.939, 0 - 116.779, 255 - 123.68], atol=1e-3)
    with pytest.raises(ValueError, match="unknown VGG layers"):
        VGGFeatureLoss(path, layers=("block5_conv3",), backbone_fn=_tiny_vgg)
    with pytest.raises(ValueError, match="cannot load"):
        VGGFeatureLoss(path, backbone_fn=lambda input_shape: _tiny_nima_backbone(input_shape),
                       layers=("tiny_backbone",))


def test_nima_score_loads_local_weights(tmp_path):
    keras.utils.set_random_seed(3)
    original = NimaScore.build(input_size=16, backbone_fn=_tiny_nima_backbone)
    path = tmp_path / "tiny_nima.weights.h5"
    original.save_weights(path)
    nima = NimaScore(path, input_size=16, backbone_fn=_tiny_nima_backbone)
    image = tf.constant(_images((3, 20, 24, 3), 30))
    np.testing.assert_allclose(nima.model(tf.image.resize(image, (16, 16))).numpy(),
                               original(tf.image.resize(image, (16, 16)), training=False).numpy(), rtol=1e-5)
    scores = nima.score(image).numpy()
    assert scores.shape == (3,) and np.all((scores >= 1) & (scores <= 10))
    assert float(nima(image, image)) == 0.0
    other = tf.Variable(_images((3, 20, 24, 3), 31))
    with tf.GradientTape() as tape:
        r = nima(image, other)
    grad = tape.gradient(r, other)
    assert float(r) == pytest.approx(float(tf.reduce_mean(nima.score(image) - nima.score(other))), rel=1e-5)
    assert np.all(np.isfinite(grad.numpy())) and float(tf.reduce_max(tf.abs(grad))) > 0
    with pytest.raises(ValueError):
        NimaScore(path, backbone="resnet")


def test_legacy_h5_weight_files_load(tmp_path):
    """Published VGG/NIMA weights are Keras 2 ``.h5`` files (topological layout); they load too."""
    h5py = pytest.importorskip("h5py")
    legacy = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")
    for model, make in [
        (_tiny_vgg((None, None, 3)),
         lambda p: VGGFeatureLoss(p, layers=("block2_conv2",), backbone_fn=_tiny_vgg).features),
        (NimaScore.build(input_size=16, backbone_fn=_tiny_nima_backbone),
         lambda p: NimaScore(p, input_size=16, backbone_fn=_tiny_nima_backbone).model),
    ]:
        path = tmp_path / f"{model.name}.h5"
        with h5py.File(path, "w") as f:
            legacy.save_weights_to_hdf5_group(f, model)
        for a, b in zip(make(path).weights, model.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_full_keras_applications_backbones_round_trip_their_weights(tmp_path):
    """The real VGG16 and MobileNet-NIMA, built with weights=None, saved and loaded back."""
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    vgg_path = tmp_path / "vgg16_notop.weights.h5"
    vgg.save_weights(vgg_path)
    loss = VGGFeatureLoss(vgg_path)
    for a, b in zip(loss.features.weights, vgg.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    image = tf.constant(_images((1, 32, 32, 3), 40))
    assert float(loss(image, image)) == 0.0 and float(loss(image, -image)) > 0

    nima_model = NimaScore.build("mobilenet", 224)
    nima_path = tmp_path / "nima_mobilenet.weights.h5"
    nima_model.save_weights(nima_path)
    nima = make_perceptual_loss("nima", nima_path)
    scores = nima.score(image).numpy()
    assert np.all((scores >= 1) & (scores <= 10))


def test_csf_loss_at_several_viewing_geometries_is_the_mean_of_the_terms():
    import tensorflow as tf

    from gif_pipeline.models.gifnets.losses import CSFLoss

    a = tf.random.uniform((2, 32, 24, 3), -1, 1, seed=1)
    b = a + tf.random.normal((2, 32, 24, 3), stddev=0.1, seed=2)
    one, other = float(CSFLoss(pixels_per_degree=(32.98,))(a, b)), float(CSFLoss(pixels_per_degree=(120.0,))(a, b))
    assert float(CSFLoss(pixels_per_degree=(32.98, 120.0))(a, b)) == pytest.approx((one + other) / 2, rel=1e-5)
    assert other < one  # at 120 px/deg the eye filters more of the high frequencies
    assert float(CSFLoss()(a, b)) == pytest.approx(one, rel=1e-3)  # the default is WSNR's 32.98
    with pytest.raises(ValueError):
        CSFLoss(pixels_per_degree=(0.0,))


def luma_error_power(image, dithered):
    """Per image, the power spectrum |FFT|^2 of the luma error of ``dithered`` against ``image`` (both in [-1, 1]),
    computed in float64 numpy: the independent side of the Parseval checks below."""
    from gif_pipeline.models.gifnets.banding_net import LUMA_WEIGHTS

    for b in range(image.shape[0]):
        error = ((dithered[b] + 1) / 2 - (image[b] + 1) / 2) @ np.asarray(LUMA_WEIGHTS, np.float64)
        yield np.abs(np.fft.fft2(error)) ** 2


def test_issue29_lattice_energy_is_the_error_power_at_the_lattice_tools_bins():
    """By Parseval, lattice_energy is the luma error's power at the 8-px grid frequencies the lattice tool scores
    (DC and the 2-px checkerboard/stripe bins left out), over (H * W)^2, for any error."""
    from gif_pipeline.models.gifnets.losses import lattice_energy

    rng = np.random.default_rng(0)
    image = rng.uniform(-0.8, 0.8, (2, 64, 48, 3)).astype(np.float32)
    dithered = np.clip(image + rng.normal(0, 0.2, image.shape), -1, 1).astype(np.float32)
    expected = []
    for power in luma_error_power(image, dithered):
        h, w = power.shape
        bins = [(ky * h // 8, kx * w // 8) for ky in range(8) for kx in range(8) if not (ky % 4 == 0 and kx % 4 == 0)]
        expected.append(sum(power[y, x] for y, x in bins) / (h * w) ** 2)
    assert float(lattice_energy(image, dithered)) == pytest.approx(np.mean(expected), rel=1e-4)


def test_issue29_lattice_energy_scores_a_periodic_error_high_and_noise_low():
    from gif_pipeline.models.gifnets.losses import lattice_energy

    rng = np.random.default_rng(1)
    image = np.full((1, 128, 128, 3), 0.1, np.float32)
    pattern = rng.choice([-0.1, 0.1], (8, 8))
    lattice = np.tile(pattern, (16, 16))[None, :, :, None]
    noise = rng.choice([-0.1, 0.1], (1, 128, 128, 1))  # same amplitude and variance, no period
    checker = 0.1 * np.where(np.add.outer(np.arange(128), np.arange(128)) % 2 == 0, 1.0, -1.0)[None, :, :, None]
    score = {name: float(lattice_energy(image, (image + e).astype(np.float32)))
             for name, e in (("lattice", lattice), ("noise", noise), ("checker", checker), ("offset", 0.05))}
    assert score["lattice"] > 100 * score["noise"] > 0
    assert score["lattice"] == pytest.approx(0.05 ** 2 * 60 / 64, rel=0.3)  # luma amplitude 0.05: a^2, 60 of 64 bins
    assert score["checker"] < 1e-12 and score["offset"] < 1e-12  # the 2-px checkerboard and DC are not a lattice
    with pytest.raises(ValueError, match="period"):
        lattice_energy(image, image, period=7)


def test_issue29_dither_loss_adds_the_weighted_lattice_term():
    from gif_pipeline.models.gifnets.losses import lattice_energy

    rng = np.random.default_rng(2)
    image = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    dithered = np.tile(rng.choice([-1.0, 1.0], (1, 8, 8, 3)), (1, 4, 4, 1)).astype(np.float32)
    zero = np.zeros_like(image)
    args = (image, dithered, zero, image)
    config = LossConfig(lam=0, gamma=0, delta=0, theta=0, vif=0, lattice=3.0)
    total, terms = dither_loss(*args, config=config)
    assert float(terms["lattice"]) == pytest.approx(float(lattice_energy(image, dithered)), rel=1e-6)
    assert float(terms["lattice"]) > 0
    assert float(total) == pytest.approx(3.0 * float(terms["lattice"]), rel=1e-5)
    assert float(dither_loss(*args, config=config.replace(lattice=0.0))[1]["lattice"]) == 0.0
    with pytest.raises(ValueError, match="lattice"):
        LossConfig(lattice=-1.0)


def test_stripe_energy_is_the_error_power_at_the_2px_stripe_bins_and_spares_the_checkerboard():
    """Parseval again: the luma error's power at (N/2, 0) and (0, N/2) over (H * W)^2; rows that alternate score
    a^2, a sparse dot grid on every other row and column scores, a 50 % checkerboard and DC do not."""
    from gif_pipeline.models.gifnets.losses import stripe_energy

    rng = np.random.default_rng(3)
    image = rng.uniform(-0.8, 0.8, (2, 32, 48, 3)).astype(np.float32)
    dithered = np.clip(image + rng.normal(0, 0.2, image.shape), -1, 1).astype(np.float32)
    expected = []
    for power in luma_error_power(image, dithered):
        h, w = power.shape
        expected.append((power[h // 2, 0] + power[0, w // 2]) / (h * w) ** 2)
    assert float(stripe_energy(image, dithered)) == pytest.approx(np.mean(expected), rel=1e-4)

    flat = np.full((1, 64, 64, 3), 0.1, np.float32)
    yy, xx = np.mgrid[:64, :64]
    score = {name: float(stripe_energy(flat, (flat + e[None, :, :, None]).astype(np.float32)))
             for name, e in (("rows", 0.1 * np.where(yy % 2 == 0, 1.0, -1.0)),
                             ("dots", 0.4 * ((yy % 2 == 0) & (xx % 2 == 0))),
                             ("checker", 0.1 * np.where((yy + xx) % 2 == 0, 1.0, -1.0)),
                             ("offset", np.full((64, 64), 0.05)))}
    assert score["rows"] == pytest.approx(0.05 ** 2, rel=1e-4)  # luma amplitude 0.05
    assert score["dots"] == pytest.approx(2 * 0.05 ** 2, rel=1e-4)  # a dot of 0.2 luma per 2 x 2 block: +-0.05 each way
    assert score["checker"] < 1e-12 and score["offset"] < 1e-12
    config = LossConfig(lam=0, gamma=0, delta=0, theta=0, vif=0, stripes=2.0)
    dots = (flat + 0.4 * ((yy % 2 == 0) & (xx % 2 == 0))[None, :, :, None]).astype(np.float32)
    total, terms = dither_loss(flat, dots, np.zeros_like(flat), flat, config=config)
    assert float(total) == pytest.approx(2.0 * score["dots"], rel=1e-5) and float(terms["lattice"]) == 0.0
    with pytest.raises(ValueError, match="stripes"):
        LossConfig(stripes=-1.0)
