"""trainers/train_compression: the flag-free train() on tiny configs (MSE, then GAN from it), resume, presets."""
from __future__ import annotations

import json
import os

import pytest

tf = pytest.importorskip("tensorflow")


@pytest.mark.slow  # about a minute: tracing the GAN step (the in-process eager steps are in tests/models/compress)
def test_train_mse_then_gan_from_it(tmp_path):
    from gif_pipeline.models.compress.config import CompressionConfig, DiscriminatorConfig, LossConfig
    from trainers.train_compression import train

    x = tf.random.uniform([2, 32, 32, 3], -1, 1, seed=4)
    ds = tf.data.Dataset.from_tensors(x).repeat()
    strategy = tf.distribute.get_strategy()
    config, d_config = CompressionConfig.tiny(upsample="resize"), DiscriminatorConfig.tiny()
    mse_dir = str(tmp_path / "mse")
    path = train(strategy, config, d_config, LossConfig(mode="mse"), ds, ds, mse_dir, steps=2, learning_rate=1e-3,
                 d_learning_rate=1e-3, batch_size=2, checkpoint_every=1, validation_steps=1, verbose=0,
                 lr_schedule="cosine")
    record = json.load(open(os.path.join(mse_dir, "config.json")))
    assert os.path.exists(path) and record["loss"]["mode"] == "mse" and record["epochs_run"] == 2
    assert record["lr_schedule"] == "cosine"
    gan_dir = str(tmp_path / "gan")
    train(strategy, config, d_config, LossConfig(mode="gan", box_probability=0.5), ds, None, gan_dir, steps=2,
          learning_rate=1e-3, d_learning_rate=1e-3, batch_size=2, checkpoint_every=2, init_from=path, verbose=0)
    record = json.load(open(os.path.join(gan_dir, "config.json")))
    assert "d_loss" in record["final_metrics"] and record["vgg_term"] is False
    with pytest.raises(SystemExit, match="init_from"):
        train(strategy, config.replace(channels=4), d_config, LossConfig(mode="gan"), ds, None, str(tmp_path / "x"),
              steps=1, learning_rate=1e-3, d_learning_rate=1e-3, batch_size=2, checkpoint_every=1, init_from=path,
              verbose=0)


def test_presets_are_known_flags():
    from absl import flags

    import trainers.train_compression  # noqa: F401  (defines the flags)
    from gif_pipeline.models.compress.presets import TRAINING_PRESETS

    for name, values in TRAINING_PRESETS["train_compression"].items():
        unknown = [k for k in values if k not in flags.FLAGS]
        assert not unknown, f"preset {name}: unknown flags {unknown}"


def test_ship_loads_a_stopped_run_from_its_best_weights(tmp_path):
    """A run stopped before it finished has best.weights.h5 and config.json but no compressor.keras: the ship script
    rebuilds E and G from them (the same outputs as the trained compressor); without either file it refuses."""
    import keras
    import numpy as np

    from gif_pipeline.models.compress.config import CompressionConfig, LossConfig
    from gif_pipeline.models.compress.model import Compressor
    from gif_pipeline.models.compress.training import CompressionTrainer
    from trainers.ship_compression import load_run

    keras.utils.set_random_seed(7)
    config = CompressionConfig.tiny(upsample="resize", colour_shortcut=True)
    trainer = CompressionTrainer(Compressor(config), None, LossConfig(mode="mse"))
    x = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=5)
    trainer(x)
    trainer.save_weights(str(tmp_path / "best.weights.h5"))
    with open(tmp_path / "config.json", "w") as f:
        json.dump({"model": config.to_dict(), "running": True}, f)
    loaded = load_run(str(tmp_path))
    assert loaded.config == config
    np.testing.assert_array_equal(loaded(x)[0].numpy(), trainer.compressor(x)[0].numpy())
    os.remove(tmp_path / "best.weights.h5")
    with pytest.raises(SystemExit, match="best.weights.h5"):
        load_run(str(tmp_path))
