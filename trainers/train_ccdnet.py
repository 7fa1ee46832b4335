"""Train CCDNet (GIF2Video §4) on cached (GIF, original) pairs (trainers/make_gif_pairs).

    trainers/train_ccdnet --preset=cpu_plain_step1      # step 1: the U-Net on the GIF alone
    trainers/train_ccdnet --preset=cpu_plain_step2      # step 2: the shared update U-Net, step 1 frozen

Stage 1 trains ``I_1 = tanh(U_1(G))``. Stage 2 loads stage 1's network (``--step1_from``), freezes it, and
trains the update U-Net unrolled ``--unroll`` steps (the authors unroll 2 updates: CCDNet-3 in training), the
loss averaged over the unrolled steps (not step 1). Rerunning a killed command resumes from its checkpoint.
"""
from __future__ import annotations

import os

from absl import app, flags, logging

from trainers import common

FLAGS = flags.FLAGS
flags.DEFINE_float("width_multiplier", 0.25, "U-Net width (1.0: the paper's 64-128-256-512-512).")
flags.DEFINE_bool("residual", False, "Step 1 corrects the GIF (z_1 = atanh(G) + U_1(G)) instead of the paper's "
                  "I_1 = tanh(U_1(G)).")
flags.DEFINE_enum("stage", "1", ["1", "2"], "1: step-1 U-Net; 2: the update U-Net with step 1 frozen.")
flags.DEFINE_integer("unroll", 3, "Stage 2: CCDNet steps unrolled in training (2 or 3).")
flags.DEFINE_string("step1_from", None, "Stage 2: the stage-1 run's ccdnet.keras.")
flags.DEFINE_string("train_cache", None, "Training pairs (.npz from trainers/make_gif_pairs).")
flags.DEFINE_string("val_cache", None, "Validation pairs (.npz).")
flags.DEFINE_float("image_weight", 100.0, "Weight of L1(I, I_hat).")
flags.DEFINE_float("gradient_weight", 200.0, "Weight of L1(|grad I|, |grad I_hat|) (0: the paper's ablation).")
flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default).")
common.define_common_flags(default_model_dir=os.path.join("runs", "ccdnet"), default_steps=6000,
                           default_batch_size=16, default_learning_rate=1e-3)

WEIGHTS = "ccdnet.keras"


def psnr_metric(target, estimates):
    """PSNR (dB, images in [-1, 1]) of the last step's estimate."""
    import tensorflow as tf

    last = estimates[:, -1]
    mse = tf.reduce_mean(tf.square((target - last) * 0.5), axis=[1, 2, 3])
    return tf.reduce_mean(-10.0 * tf.math.log(tf.maximum(mse, 1e-10)) / tf.math.log(10.0))


def train(strategy, config, loss_config, train_ds, val_ds, *, model_dir: str, steps: int, learning_rate: float,
          batch_size: int, stage: int = 1, unroll: int = 3, step1_from: str | None = None, epochs=None,
          checkpoint_every: int = 250, validation_steps: int = 0, record: dict | None = None, image_batch=None,
          image_summary_every: int = 0, resume: bool = True):
    """Build and fit CCDNet's stage-``stage`` training model (no flags read); save ``ccdnet.keras`` and
    ``config.json`` in ``model_dir``; return its path."""
    import keras

    from gif_pipeline.models.restore import ccdnet
    from gif_pipeline.models.restore.losses import ccdnet_loss
    from gif_pipeline.training import loop

    loop.prepare_model_dir(model_dir, resume)
    with strategy.scope():
        if stage == 1:
            step1 = ccdnet.build_step_net(config, 3, "step1")
            model = ccdnet.compose(step1, None, 1, all_steps=True)
            first = 0
        else:
            if not step1_from:
                raise SystemExit("train_ccdnet: stage 2 needs --step1_from (the stage-1 run's ccdnet.keras)")
            step1, _ = ccdnet.parts(keras.saving.load_model(step1_from, compile=False))
            step1.trainable = False
            update = ccdnet.build_step_net(config, 12, "update")
            model = ccdnet.compose(step1, update, unroll, all_steps=True)
            first = 1
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=lambda y, p: ccdnet_loss(y, p, loss_config, first_step=first),
                      metrics=[psnr_metric])
    extra = []
    if image_batch is not None:
        def make_images(batch):
            inputs, target = batch
            out = model(inputs, training=False)
            return {"gif": (inputs["gif"] + 1) / 2, "restored": (out[:, -1] + 1) / 2, "original": (target + 1) / 2}

        extra.append(loop.ImageSummaries(os.path.join(model_dir, "logs"), image_batch, make_images,
                                         image_summary_every))
    history = loop.fit(model, train_ds, model_dir=model_dir, steps=steps, epochs=epochs, batch_size=batch_size,
                       checkpoint_every=checkpoint_every, val_ds=val_ds, validation_steps=validation_steps,
                       extra_callbacks=extra, verbose=2)
    record = record or loop.run_record(f"ccdnet_stage{stage}", WEIGHTS, config.to_dict(), {})
    # Save the inference network (uncompiled: CCDNet-1, or CCDNet-2 from a stage-2 run; the steps are chosen at
    # load time by recomposing its two U-Nets with ccdnet.compose).
    step1, update = ccdnet.parts(model)
    step1.trainable = True
    final = ccdnet.compose(step1, update, 1 if update is None else 2)
    return loop.finish(final, model_dir, WEIGHTS, stage=f"ccdnet stage {stage}", record=record, history=history,
                       extra={"loss": loss_config.to_dict()})


def main(argv):
    del argv
    from gif_pipeline.models.restore.presets import TRAINING_PRESETS

    common.apply_preset("train_ccdnet", TRAINING_PRESETS)
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    from gif_pipeline.data import gif_pairs
    from gif_pipeline.models.restore.config import CCDNetConfig, CCDNetLossConfig
    from gif_pipeline.training import loop

    if not FLAGS.train_cache:
        raise app.UsageError("--train_cache is required (make one with python -m trainers.make_gif_pairs)")
    seed = FLAGS.seed or 0
    train_ds = gif_pairs.cache_dataset(gif_pairs.load_cache(FLAGS.train_cache), FLAGS.batch_size, seed)
    val_ds, image_batch = None, None
    if FLAGS.val_cache and FLAGS.validation_steps:
        val_arrays = gif_pairs.load_cache(FLAGS.val_cache)
        val_ds = gif_pairs.cache_dataset(val_arrays, FLAGS.batch_size, seed, training=False).repeat()
        image_batch = next(iter(val_ds))
    stage = int(FLAGS.stage)
    config = CCDNetConfig(width_multiplier=FLAGS.width_multiplier, steps=FLAGS.unroll if stage == 2 else 1,
                          residual=FLAGS.residual)
    loss_config = CCDNetLossConfig(image_weight=FLAGS.image_weight, gradient_weight=FLAGS.gradient_weight)
    logging.info("CCDNet stage %d: %s, %s", stage, config, loss_config)
    record = common.run_record(f"ccdnet_stage{stage}", WEIGHTS, config.to_dict())
    record["preset"] = FLAGS.preset
    train(loop.get_strategy(FLAGS.strategy, FLAGS.tpu), config, loss_config, train_ds, val_ds,
          model_dir=FLAGS.model_dir, steps=FLAGS.steps, learning_rate=FLAGS.learning_rate, batch_size=FLAGS.batch_size,
          stage=stage, unroll=FLAGS.unroll, step1_from=FLAGS.step1_from, epochs=FLAGS.epochs,
          checkpoint_every=FLAGS.checkpoint_every, validation_steps=FLAGS.validation_steps, record=record,
          image_batch=image_batch, image_summary_every=FLAGS.image_summary_every, resume=FLAGS.resume)


if __name__ == "__main__":
    app.run(main)
