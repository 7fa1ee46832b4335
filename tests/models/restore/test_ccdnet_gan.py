"""CCDNet's optional adversarial loss: the PatchGAN, its input and losses, and the gated training step."""
import glob

import numpy as np
import pytest

import checks
from gif_pipeline.data import gif_pairs
from gif_pipeline.models.restore import ccdnet, discriminator, losses, training
from gif_pipeline.models.restore.config import CCDNetConfig, CCDNetLossConfig, DiscriminatorConfig


def test_discriminator_config_and_shapes():
    assert DiscriminatorConfig().channels == (64, 128, 256, 512)
    assert DiscriminatorConfig(width_multiplier=0.25, layers=4).channels == (16, 32, 64, 128, 128)
    c = DiscriminatorConfig.tiny()
    assert type(c).from_dict(c.to_dict()) == c
    for bad in (dict(width_multiplier=0), dict(layers=0)):
        with pytest.raises(ValueError):
            DiscriminatorConfig(**bad)
    with pytest.raises(ValueError):
        CCDNetLossConfig(adversarial_weight=-1)
    net = discriminator.build_discriminator(DiscriminatorConfig.tiny())
    # 4x4 convs, padding 1: two stride-2 (64 -> 32 -> 16, 48 -> 24 -> 12), then two stride-1 (-> 15 -> 14, -> 11 -> 10)
    x = np.zeros((2, 64, 48, discriminator.INPUT_CHANNELS), np.float32)
    assert tuple(net(x).shape) == (2, 14, 10, 1)


def test_discriminator_input_is_gif_image_and_forward_differences():
    rng = np.random.default_rng(0)
    gif = rng.uniform(-1, 1, (1, 5, 7, 3)).astype(np.float32)
    image = rng.uniform(-1, 1, (1, 5, 7, 3)).astype(np.float32)
    x = np.asarray(discriminator.discriminator_input(gif, image))
    assert x.shape == (1, 5, 7, 12)
    np.testing.assert_array_equal(x[..., :3], gif)
    np.testing.assert_array_equal(x[..., 3:6], image)
    np.testing.assert_allclose(x[0, :, 1:, 6:9], image[0, :, 1:] - image[0, :, :-1], atol=1e-6)
    np.testing.assert_allclose(x[0, 1:, :, 9:], image[0, 1:] - image[0, :-1], atol=1e-6)
    assert not x[0, :, 0, 6:9].any() and not x[0, 0, :, 9:].any()


def test_gan_losses_and_accuracy():
    zeros = np.zeros((2, 3, 3, 1), np.float32)
    np.testing.assert_allclose(float(losses.generator_gan_loss(zeros)), np.log(2), rtol=1e-6)
    np.testing.assert_allclose(float(losses.discriminator_gan_loss(zeros, zeros)), np.log(2), rtol=1e-6)
    real = np.array([[[[3.0], [-1.0]]]], np.float32)  # one of two real patches called real
    fake = np.array([[[[-2.0], [-5.0]]]], np.float32)  # both fakes called fake
    assert float(losses.discriminator_accuracy(real, fake)) == pytest.approx(0.75)
    # a confident, right discriminator: small loss; the generator's term large
    assert float(losses.discriminator_gan_loss(real * 0 + 9, fake * 0 - 9)) < 1e-3
    assert float(losses.generator_gan_loss(fake * 0 - 9)) > 8


def _trainer(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    step1 = ccdnet.build_step_net(CCDNetConfig.tiny(steps=1, residual=True), 3, "step1")
    model = ccdnet.compose(step1, None, 1, all_steps=True)
    trainer = training.CCDNetGANTrainer(model, discriminator.build_discriminator(DiscriminatorConfig.tiny()),
                                        CCDNetLossConfig(adversarial_weight=1.0))
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    return trainer


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    files = sorted(glob.glob(f"{checks.FIXTURES}/*_64.png"))
    config = gif_pairs.PairConfig(crop=16, region=32, crops_per_region=2, palettes=("median-cut",), dithers=("none",),
                                  seed=1)
    path = str(tmp_path_factory.mktemp("gan") / "pairs.npz")
    gif_pairs.build_cache(files, 4, config, path, log_every=0)
    return next(iter(gif_pairs.cache_dataset(gif_pairs.load_cache(path), 4, seed=0)))


@pytest.mark.parametrize("d_gate, g_gate, d_moves, g_moves", [
    (2.0, -1.0, True, True),  # both learn
    (-1.0, -1.0, False, True),  # the discriminator never learns (as when it calls >= 75 % right)
    (2.0, 2.0, True, False),  # CCDNet never learns (as when the discriminator calls <= 25 % right)
])
def test_training_step_gates(batch, monkeypatch, d_gate, g_gate, d_moves, g_moves):
    monkeypatch.setattr(training, "D_LEARNS_BELOW", d_gate)
    monkeypatch.setattr(training, "G_LEARNS_ABOVE", g_gate)
    trainer = _trainer()
    d_before = [np.array(w) for w in trainer.discriminator.trainable_weights]
    g_before = [np.array(w) for w in trainer.ccdnet.trainable_weights]
    logs = trainer.train_on_batch(*batch, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["d_updates"] == float(d_moves) and logs["g_updates"] == float(g_moves)
    d_changed = any(not np.array_equal(a, b) for a, b in zip(d_before, map(np.array, trainer.discriminator.trainable_weights)))
    g_changed = any(not np.array_equal(a, b) for a, b in zip(g_before, map(np.array, trainer.ccdnet.trainable_weights)))
    assert (d_changed, g_changed) == (d_moves, g_moves)
    assert 0.0 <= logs["d_accuracy"] <= 1.0


def test_trainer_needs_a_positive_adversarial_weight():
    step1 = ccdnet.build_step_net(CCDNetConfig.tiny(steps=1, residual=True), 3, "step1")
    with pytest.raises(ValueError, match="adversarial_weight"):
        training.CCDNetGANTrainer(ccdnet.compose(step1, None, 1, all_steps=True),
                                  discriminator.build_discriminator(DiscriminatorConfig.tiny()), CCDNetLossConfig())
