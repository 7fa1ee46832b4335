"""Train the dither classifier (GIF2Video §6.1.1) on cached plain and dithered GIF crops (trainers/make_gif_pairs).

    trainers/train_gif_classifier --preset=cpu        # -> runs/gif_classifier/gif_classifier.keras

Label 1 = dithered (Floyd–Steinberg, Bayer, DitherNet), 0 = nearest colour; every palette method and size.
Binary cross-entropy, Adam with cosine decay; random flips and 90° rotations. At the end the accuracy on the
validation caches is written to config.json (per dither method).
"""
from __future__ import annotations

import os

from absl import app, flags

from trainers import common, restore_lib

FLAGS = flags.FLAGS
flags.DEFINE_float("width_multiplier", 0.25, "Classifier width (1.0: the paper's 64-128-256-256).", allow_override=True)
flags.DEFINE_multi_string("train_cache", None, "Training caches (.npz), plain and dithered.", allow_override=True)
flags.DEFINE_multi_string("val_cache", None, "Validation caches (.npz).", allow_override=True)
flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default).", allow_override=True)
common.define_common_flags(default_model_dir=os.path.join("runs", "gif_classifier"), default_steps=1500,
                           default_batch_size=16, default_learning_rate=1e-3)

WEIGHTS = restore_lib.CLASSIFIER_WEIGHTS


def main(argv):
    del argv
    from gif_pipeline.models.restore.presets import TRAINING_PRESETS

    common.apply_preset("train_gif_classifier", TRAINING_PRESETS)
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    from gif_pipeline.data import gif_pairs
    from gif_pipeline.models.restore.config import ClassifierConfig

    if not FLAGS.train_cache:
        raise app.UsageError("--train_cache is required (plain and dithered caches from trainers/make_gif_pairs)")
    seed = FLAGS.seed or 0
    train_arrays = restore_lib.merge([gif_pairs.load_cache(p) for p in FLAGS.train_cache])
    train_ds = gif_pairs.cache_dataset(train_arrays, FLAGS.batch_size, seed, label="dithered")
    val_ds = val_arrays = None
    if FLAGS.val_cache:
        val_arrays = restore_lib.merge([gif_pairs.load_cache(p) for p in FLAGS.val_cache])
        if FLAGS.validation_steps:
            val_ds = gif_pairs.cache_dataset(val_arrays, FLAGS.batch_size, seed, training=False,
                                             label="dithered").shuffle(len(val_arrays["gif"]), seed=0).repeat()
    config = ClassifierConfig(width_multiplier=FLAGS.width_multiplier)
    record = common.run_record("gif_classifier", WEIGHTS, config.to_dict())
    record["preset"] = FLAGS.preset
    restore_lib.train_classifier(
        loop.get_strategy(FLAGS.strategy, FLAGS.tpu), config, train_ds, val_ds, model_dir=FLAGS.model_dir,
        steps=FLAGS.steps, learning_rate=FLAGS.learning_rate, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
        checkpoint_every=FLAGS.checkpoint_every, validation_steps=FLAGS.validation_steps, record=record,
        resume=FLAGS.resume, val_arrays=val_arrays)


if __name__ == "__main__":
    app.run(main)
