"""Train the GAN image compressor (Agustsson et al., ICCV 2019) in two phases: the MSE baseline, then GC from it.

    trainers/train_compression --preset=mse_c4            # phase 1: E + G on lambda * MSE
    trainers/train_compression --preset=gan_c4            # phase 2: + multi-scale PatchGAN, from phase 1
    trainers/train_compression --mode=mse --steps=2       # on the package samples, for a check

Training crops: each image's short side resized to ``--resize``, then a random ``--crop_size``² crop and a random
flip. Writes ``MODEL_DIR/compressor.keras`` (E and G; the discriminator is kept in the checkpoints only) and
``config.json``. Rerunning the same command resumes an interrupted run.
"""
from __future__ import annotations

import os

from absl import app, flags, logging

from trainers import common

FLAGS = flags.FLAGS
flags.DEFINE_enum("mode", "mse", ["mse", "gan"], "mse: the MSE baseline (phase 1); gan: GC (phase 2).", allow_override=True)
flags.DEFINE_integer("channels", 4, "Latent channels C (paper: 2, 4, 8 -> 0.0181, 0.0363, 0.0726 bpp bound).",
                     allow_override=True)
flags.DEFINE_float("width_multiplier", 0.125, "Width multiplier of E and G (paper: 1.0).", allow_override=True)
flags.DEFINE_integer("residual_blocks", 6, "Residual blocks in G (paper: 9).", allow_override=True)
flags.DEFINE_enum("upsample", "transpose", ["transpose", "resize"],
                  "G's 2x upsampling: transpose (the paper's strided transposed convolutions) or resize (nearest 2x + "
                  "3x3 convolution: no checkerboard).", allow_override=True)
flags.DEFINE_bool("colour_shortcut", False, "G adds a 1x1 convolution of the code, upsampled 16x, before its tanh "
                  "(not in the paper).", allow_override=True)
flags.DEFINE_enum("generator_padding", "zeros", ["zeros", "symmetric"],
                  "How G's convolutions pad: zeros (drew a thin frame along image borders) or symmetric (mirrored "
                  "features, as pix2pixHD). --init_from may change it: the weights are the same.", allow_override=True)
flags.DEFINE_enum("lr_schedule", "constant", ["constant", "cosine"],
                  "E and G's learning rate over --steps: constant, or cosine decay to 5 % of it.", allow_override=True)
flags.DEFINE_bool("selective", True, "G reads the keep map (selective compression).", allow_override=True)
flags.DEFINE_integer("crop_size", 128, "Training crop (pixels, a multiple of 16).", allow_override=True)
flags.DEFINE_integer("resize", 256, "Resize each image's short side to this before cropping.",
                     allow_override=True)
flags.DEFINE_float("box_probability", 0.0, "Probability that a training image keeps only a random box (GC's RB).",
                   allow_override=True)
flags.DEFINE_float("mse_weight", 10.0, "lambda, the MSE weight (paper: 10).", allow_override=True)
flags.DEFINE_float("lowpass_weight", 0.0, "Weight of the MSE of 16x16 block means (not in the paper; 0: off).",
                   allow_override=True)
flags.DEFINE_float("gan_weight", 1.0, "LSGAN weight.",
                   allow_override=True)
flags.DEFINE_float("feature_matching_weight", 12.0, "Feature matching weight (paper setting: 12).", allow_override=True)
flags.DEFINE_string("vgg_weights", "", "A local Keras VGG19 (no top) weights file for the VGG term; empty: no VGG term.",
                    allow_override=True)
flags.DEFINE_float("vgg_weight", 12.0, "VGG term weight (with --vgg_weights).",
                   allow_override=True)
flags.DEFINE_float("d_learning_rate", 1e-4, "Discriminator learning rate (Adam, beta1 0.5).", allow_override=True)
flags.DEFINE_integer("d_scales", 2, "Discriminator scales (pix2pixHD: 2-3).", allow_override=True)
flags.DEFINE_float("d_width_multiplier", 0.25, "Discriminator width multiplier (paper: 1.0: C64-C128-C256-C512).",
                   allow_override=True)
flags.DEFINE_string("init_from", None, "Start E and G from this compressor (.keras), e.g. the MSE baseline for --mode=gan.",
                    allow_override=True)
flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default).", allow_override=True)
common.define_common_flags(default_model_dir=None, default_steps=4000, default_batch_size=8,
                           default_learning_rate=3e-4)

WEIGHTS = "compressor.keras"


def build_inputs(sources, crop_size: int, resize: int, batch_size: int, seed, cache: bool, validation: bool):
    """Random ``crop_size``² crops of images resized to short side ``resize`` (flipped), and centre val crops."""
    import tensorflow as tf

    from gif_pipeline.data import images as data

    config = data.DataConfig(image_size=resize, batch_size=batch_size, seed=seed, cache=cache)
    train = data.build_dataset(sources, config, split="train", augment="flip", batch=False)
    base = tf.constant([seed or 0, 0x51C0], tf.int64)

    def crop(index, image):
        s = tf.random.experimental.stateless_fold_in(base, index)
        return tf.image.stateless_random_crop(image, [crop_size, crop_size, 3], s)

    train = train.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    train = train.prefetch(2)
    val = None
    if validation:
        val = data.build_dataset(sources, config.replace(seed=seed or 0, batch_size=4), split="val", repeat=True,
                                 drop_remainder=True)
    return train, val


def train(strategy, config, d_config, loss_config, train_ds, val_ds, model_dir: str, *, steps: int,
          learning_rate: float, d_learning_rate: float, batch_size: int, checkpoint_every: int, epochs=None,
          lr_schedule: str = "constant",
          validation_steps: int = 0, init_from: str | None = None, record: dict | None = None,
          image_summary_every: int = 0, verbose="auto"):
    """Build the compressor (and the discriminator in GAN mode), fit, save ``compressor.keras``; flag-free."""
    import keras

    from gif_pipeline.models.compress.discriminator import Discriminator
    from gif_pipeline.models.compress.model import Compressor
    from gif_pipeline.models.compress.training import CompressionTrainer
    from gif_pipeline.training import loop

    with strategy.scope():
        compressor = Compressor(config)
        if init_from:
            source = keras.saving.load_model(init_from, compile=False)
            if source.config.replace(selective=config.selective, generator_padding=config.generator_padding) != config:
                raise SystemExit(f"--init_from: {init_from} is a {source.config} compressor, not {config}")
            compressor.set_weights(source.get_weights())
            logging.info("E and G initialised from %s", init_from)
        disc = Discriminator(d_config) if loss_config.mode == "gan" else None
        model = CompressionTrainer(compressor, disc, loss_config, d_learning_rate=d_learning_rate)
        lr = learning_rate
        if lr_schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(lr, beta_1=0.5 if loss_config.mode == "gan" else 0.9))
    os.makedirs(model_dir, exist_ok=True)
    record = dict(record or {})
    record.update({"loss": loss_config.to_dict(), "discriminator": d_config.to_dict() if disc else None,
                   "vgg_term": bool(loss_config.vgg_weights), "lr_schedule": lr_schedule})
    loop.write_run_record(model_dir, {**record, "running": True})
    callbacks = []
    sample = next(iter(val_ds if val_ds is not None else train_ds))[:3]

    def images(batch):
        return {"original": (batch + 1) / 2, "reconstruction": (compressor(batch)[0] + 1) / 2}

    callbacks.append(loop.ImageSummaries(os.path.join(model_dir, "logs"), sample, images, image_summary_every))
    history = loop.fit(model, train_ds, model_dir=model_dir, steps=steps, epochs=epochs, batch_size=batch_size,
                       checkpoint_every=checkpoint_every, val_ds=val_ds, validation_steps=validation_steps,
                       extra_callbacks=callbacks, verbose=verbose)
    return loop.finish(compressor, model_dir, WEIGHTS, stage=f"compress_{loss_config.mode}", record=record,
                       history=history)


def main(argv):
    del argv
    from gif_pipeline.models.compress.presets import TRAINING_PRESETS

    common.apply_preset("train_compression", TRAINING_PRESETS)
    if FLAGS.crop_size % 16 or FLAGS.crop_size < 32:
        raise app.UsageError(f"--crop_size must be a multiple of 16 and >= 32, got {FLAGS.crop_size}")
    if FLAGS.resize < FLAGS.crop_size:
        raise app.UsageError(f"--resize ({FLAGS.resize}) must be >= --crop_size ({FLAGS.crop_size})")
    from gif_pipeline.models.compress.config import CompressionConfig, DiscriminatorConfig, LossConfig

    try:
        config = CompressionConfig(channels=FLAGS.channels, width_multiplier=FLAGS.width_multiplier,
                                   residual_blocks=FLAGS.residual_blocks, selective=FLAGS.selective,
                                   upsample=FLAGS.upsample, colour_shortcut=FLAGS.colour_shortcut,
                                   generator_padding=FLAGS.generator_padding)
        d_config = DiscriminatorConfig(scales=FLAGS.d_scales, width_multiplier=FLAGS.d_width_multiplier)
        loss_config = LossConfig(mode=FLAGS.mode, mse_weight=FLAGS.mse_weight, lowpass_weight=FLAGS.lowpass_weight,
                                 gan_weight=FLAGS.gan_weight,
                                 feature_matching_weight=FLAGS.feature_matching_weight, vgg_weight=FLAGS.vgg_weight,
                                 vgg_weights=FLAGS.vgg_weights, box_probability=FLAGS.box_probability)
    except ValueError as e:
        raise app.UsageError(str(e))
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"compress_{FLAGS.mode}_c{FLAGS.channels}")
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    common.prepare_model_dir(model_dir, FLAGS.resume)
    strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
    train_ds, val_ds = build_inputs(FLAGS.data or None, FLAGS.crop_size, FLAGS.resize, FLAGS.batch_size, FLAGS.seed,
                                    FLAGS.cache, FLAGS.validation_steps > 0)
    record = common.run_record(f"compress_{FLAGS.mode}", WEIGHTS, config.to_dict())
    record["preset"] = FLAGS.preset
    train(strategy, config, d_config, loss_config, train_ds, val_ds, model_dir, steps=FLAGS.steps,
          learning_rate=FLAGS.learning_rate, d_learning_rate=FLAGS.d_learning_rate, batch_size=FLAGS.batch_size,
          checkpoint_every=FLAGS.checkpoint_every, epochs=FLAGS.epochs, lr_schedule=FLAGS.lr_schedule,
          validation_steps=FLAGS.validation_steps,
          init_from=FLAGS.init_from, record=record, image_summary_every=FLAGS.image_summary_every)


if __name__ == "__main__":
    app.run(main)
