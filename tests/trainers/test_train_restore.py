"""trainers/train_ccdnet and train_gif_classifier: the flag-free train functions on tiny configs, and the scripts."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import checks
from gif_pipeline.data import gif_pairs


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    files = sorted(glob.glob(f"{checks.FIXTURES}/*_64.png"))
    config = gif_pairs.PairConfig(crop=16, region=32, crops_per_region=4, palettes=("median-cut", "octree"),
                                  dithers=("none", "fs"), seed=1)
    path = str(tmp_path_factory.mktemp("cache") / "pairs.npz")
    gif_pairs.build_cache(files, 6, config, path, log_every=0)
    return path


def test_ccdnet_stage1_then_stage2_with_step1_frozen(cache, tmp_path):
    import keras
    import tensorflow as tf

    from gif_pipeline.models.restore import ccdnet
    from gif_pipeline.models.restore.config import CCDNetConfig, CCDNetLossConfig
    from trainers.restore_lib import train_ccdnet as train

    keras.utils.set_random_seed(0)
    arrays = gif_pairs.load_cache(cache)
    ds = gif_pairs.cache_dataset(arrays, 4, seed=0)
    val = gif_pairs.cache_dataset(arrays, 4, seed=0, training=False).repeat()
    strategy = tf.distribute.get_strategy()
    s1 = train(strategy, CCDNetConfig.tiny(steps=1, residual=True), CCDNetLossConfig(), ds, val,
               model_dir=str(tmp_path / "s1"), steps=4, learning_rate=1e-3, batch_size=4, checkpoint_every=2,
               validation_steps=1, image_batch=next(iter(val)))
    record = json.load(open(tmp_path / "s1" / "config.json"))
    assert record["epochs_run"] == 2 and np.isfinite(record["final_metrics"]["loss"])
    step1_before = [w.copy() for w in ccdnet.parts(keras.saving.load_model(s1))[0].get_weights()]
    s2 = train(strategy, CCDNetConfig.tiny(steps=2), CCDNetLossConfig(), ds, None, model_dir=str(tmp_path / "s2"),
               steps=2, learning_rate=1e-3, batch_size=4, stage=2, unroll=2, step1_from=s1, checkpoint_every=2)
    model = keras.saving.load_model(s2)
    step1, update = ccdnet.parts(model)
    assert update is not None and ccdnet.config_of(model).residual
    for a, b in zip(step1_before, step1.get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen in stage 2 (batch-norm statistics too)
    assert any(np.abs(w).sum() > 0 for w in update.get_layer("update_out").get_weights()[:1])


def test_classifier_train_and_accuracy_report(cache, tmp_path):
    import keras
    import tensorflow as tf

    from gif_pipeline.models.restore.config import ClassifierConfig
    from trainers.restore_lib import train_classifier as train

    keras.utils.set_random_seed(0)
    arrays = gif_pairs.load_cache(cache)
    ds = gif_pairs.cache_dataset(arrays, 4, seed=0, label="dithered")
    path = train(tf.distribute.get_strategy(), ClassifierConfig.tiny(), ds, None, model_dir=str(tmp_path / "c"),
                 steps=3, learning_rate=1e-3, batch_size=4, checkpoint_every=3, val_arrays=arrays)
    accuracy = json.load(open(tmp_path / "c" / "config.json"))["validation_accuracy"]
    assert set(accuracy) >= {"all", "n", "none", "fs"} and accuracy["n"] == len(arrays["gif"])
    assert np.asarray(keras.saving.load_model(path)(arrays["gif"][:2].astype(np.float32) / 127.5 - 1)).shape == (2, 1)


@pytest.mark.slow
def test_train_ccdnet_script_with_a_preset(cache, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, os.path.join(checks.ROOT, "trainers", "train_ccdnet"), "--preset=cpu_plain_step1",
           f"--train_cache={cache}", f"--val_cache={cache}", "--steps=4", "--checkpoint_every=2",
           "--validation_steps=1", "--width_multiplier=0.0625", "--batch_size=4", f"--model_dir={tmp_path / 'run'}"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=checks.ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.load(open(tmp_path / "run" / "config.json"))
    assert record["preset"] == "cpu_plain_step1" and record["flags"]["residual"] is True
    assert record["model"]["width_multiplier"] == 0.0625
    r = subprocess.run([sys.executable, os.path.join(checks.ROOT, "trainers", "train_ccdnet"), "--preset=nope"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=checks.ROOT)
    assert r.returncode != 0 and "cpu_plain_step1" in r.stderr


@pytest.mark.slow  # the trainer's gates are tested fast in tests/models/restore/test_ccdnet_gan.py
def test_ccdnet_stage1_with_the_adversarial_loss(cache, tmp_path):
    import keras
    import tensorflow as tf

    from gif_pipeline.models.restore import ccdnet
    from gif_pipeline.models.restore.config import CCDNetConfig, CCDNetLossConfig, DiscriminatorConfig
    from trainers.restore_lib import train_ccdnet as train

    keras.utils.set_random_seed(0)
    arrays = gif_pairs.load_cache(cache)
    ds = gif_pairs.cache_dataset(arrays, 4, seed=0)
    val = gif_pairs.cache_dataset(arrays, 4, seed=0, training=False).repeat()
    path = train(tf.distribute.get_strategy(), CCDNetConfig.tiny(steps=1, residual=True),
                 CCDNetLossConfig(adversarial_weight=1.0), ds, val, model_dir=str(tmp_path / "gan"), steps=4,
                 learning_rate=1e-3, batch_size=4, checkpoint_every=2, validation_steps=1,
                 discriminator_config=DiscriminatorConfig.tiny())
    record = json.load(open(tmp_path / "gan" / "config.json"))
    assert record["loss"]["adversarial_weight"] == 1.0 and record["discriminator"]["layers"] == 2
    assert {"d_loss", "d_accuracy", "g_gan", "psnr_metric", "val_psnr_metric"} <= set(record["history"])
    model = keras.saving.load_model(path)  # the inference CCDNet alone: no discriminator in the file
    assert ccdnet.parts(model)[1] is None and not any("discriminator" in layer.name for layer in model.layers)
    gif = arrays["gif"][:1].astype(np.float32) / 127.5 - 1
    assert np.isfinite(np.asarray(model([gif, arrays["palette"][:1].astype(np.float32) / 127.5 - 1]))).all()
