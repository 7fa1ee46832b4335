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

from trainers import common, restore_lib

FLAGS = flags.FLAGS
flags.DEFINE_float("width_multiplier", 0.25, "U-Net width (1.0: the paper's 64-128-256-512-512).", allow_override=True)
flags.DEFINE_bool("residual", False, "Step 1 corrects the GIF (z_1 = atanh(G) + U_1(G)) instead of the paper's "
                  "I_1 = tanh(U_1(G)).", allow_override=True)
flags.DEFINE_enum("stage", "1", ["1", "2"], "1: step-1 U-Net; 2: the update U-Net with step 1 frozen.", allow_override=True)
flags.DEFINE_integer("unroll", 3, "Stage 2: CCDNet steps unrolled in training (2 or 3).", allow_override=True)
flags.DEFINE_string("step1_from", None, "Stage 2: the stage-1 run's ccdnet.keras.", allow_override=True)
flags.DEFINE_string("train_cache", None, "Training pairs (.npz from trainers/make_gif_pairs).", allow_override=True)
flags.DEFINE_string("val_cache", None, "Validation pairs (.npz).", allow_override=True)
flags.DEFINE_float("image_weight", 100.0, "Weight of L1(I, I_hat).", allow_override=True)
flags.DEFINE_float("gradient_weight", 200.0, "Weight of L1(|grad I|, |grad I_hat|) (0: the paper's ablation).",
                   allow_override=True)
flags.DEFINE_float("adversarial_weight", 0.0, "Weight of the PatchGAN term (GIF2Video's optional adversarial loss; "
                   "the authors' 1). 0: off, the default (it lowers PSNR in the paper).", allow_override=True)
flags.DEFINE_float("discriminator_width", None, "The PatchGAN's width multiplier (1.0: 64-128-256-512); default: "
                   "the U-Net's --width_multiplier.", allow_override=True)
flags.DEFINE_float("d_learning_rate", 2e-4, "The PatchGAN's Adam learning rate (beta_1 0.5).", allow_override=True)
flags.DEFINE_string("init_from", None, "Start this stage's U-Net from a trained CCDNet's (.keras): a longer "
                    "second run of a finished one.", allow_override=True)
flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default).", allow_override=True)
common.define_common_flags(default_model_dir=os.path.join("runs", "ccdnet"), default_steps=6000,
                           default_batch_size=16, default_learning_rate=1e-3)

WEIGHTS = restore_lib.CCDNET_WEIGHTS


def main(argv):
    del argv
    from gif_pipeline.models.restore.presets import TRAINING_PRESETS

    common.apply_preset("train_ccdnet", TRAINING_PRESETS)
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    from gif_pipeline.data import gif_pairs
    from gif_pipeline.models.restore.config import CCDNetConfig, CCDNetLossConfig, DiscriminatorConfig

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
    loss_config = CCDNetLossConfig(image_weight=FLAGS.image_weight, gradient_weight=FLAGS.gradient_weight,
                                   adversarial_weight=FLAGS.adversarial_weight)
    discriminator_config = DiscriminatorConfig(
        width_multiplier=FLAGS.discriminator_width if FLAGS.discriminator_width else FLAGS.width_multiplier)
    logging.info("CCDNet stage %d: %s, %s", stage, config, loss_config)
    record = common.run_record(f"ccdnet_stage{stage}", WEIGHTS, config.to_dict())
    record["preset"] = FLAGS.preset
    record["init_from"] = FLAGS.init_from
    restore_lib.train_ccdnet(loop.get_strategy(FLAGS.strategy, FLAGS.tpu), config, loss_config, train_ds, val_ds,
          model_dir=FLAGS.model_dir, steps=FLAGS.steps, learning_rate=FLAGS.learning_rate, batch_size=FLAGS.batch_size,
          stage=stage, unroll=FLAGS.unroll, step1_from=FLAGS.step1_from, epochs=FLAGS.epochs,
          checkpoint_every=FLAGS.checkpoint_every, validation_steps=FLAGS.validation_steps, record=record,
          image_batch=image_batch, image_summary_every=FLAGS.image_summary_every, resume=FLAGS.resume,
          init_from=FLAGS.init_from, discriminator_config=discriminator_config,
          d_learning_rate=FLAGS.d_learning_rate)


if __name__ == "__main__":
    app.run(main)
