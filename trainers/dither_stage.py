"""Task code shared by stage 2 (``train_dither``) and stage 3 (``train_joint``): flags, models,
loss weights and image summaries. The trainers themselves are the short ``main`` functions."""
from __future__ import annotations

import os

from absl import flags, logging

from trainers import common

FLAGS = flags.FLAGS


def define_flags(stage: str):
    flags.DEFINE_integer("np", 16, "Palette size Np (2..256).")
    flags.DEFINE_string("palette_model", None, "Trained PaletteNet (.keras). Default: the shipped weights for "
                        "--np, else runs/palette_np{NP}/palette_net.keras.")
    flags.DEFINE_string("banding_model", None, "Trained BandingNet (.keras). Default: the shipped weights, else "
                        "runs/banding/banding_net.keras. Not needed with --delta=0.")
    flags.DEFINE_float("temperature", 1e-3, "Soft projection temperature T (paper: 0.001).")
    for name, doc in (("lam", "lambda, weight of L1(I, I_hat)"), ("gamma", "gamma, weight of L1(E', I' - I)"),
                      ("delta", "delta, weight of the banding loss B(I_hat)"),
                      ("theta", "theta, weight of the perceptual loss R"), ("beta", "beta, weight of L2(I, I')")):
        flags.DEFINE_float(name, None, f"Loss weight {doc}; default: the supplement's value for --np.")
    flags.DEFINE_float("vif", 0.0, "Weight of 1 - VIF, the visual information fidelity in VMAF (not in the paper).")
    flags.DEFINE_enum("perceptual", "none", ["none", "vgg16", "vgg19", "nima", "csf"], "Perceptual term R (Eq. 6); "
                      "csf (not in the paper) is the CSF-weighted error and needs no weights file.")
    flags.DEFINE_string("perceptual_weights", None, "Local weights file for --perceptual (nothing downloads).")
    flags.DEFINE_list("csf_pixels_per_degree", [], "--perceptual=csf: the mean of the CSF terms at these viewing "
                      "geometries (pixels per degree, e.g. 32.98,120; not in the paper). Empty: 32.98 (WSNR's).")
    flags.DEFINE_integer("decay_steps", 20_000, "Learning-rate decay interval (supplement: 20k).")
    flags.DEFINE_float("decay_rate", 0.96, "Learning-rate decay factor (supplement: 0.96).")
    flags.DEFINE_integer("patience", 3, "Early stopping: epochs without a better validation loss.")
    if stage == "dither":
        flags.DEFINE_enum("projection", "soft", ["soft", "straight_through"], "Training projection: the soft "
                          "one (Eq. 3, the paper) or the hard one with an identity gradient (not in the paper).")
        flags.DEFINE_integer("refine_palette", 0, "Lloyd steps on PaletteNet's palette before projecting, as "
                             "`--palette net+kmeans` does at inference (0: the paper's palette).")
        flags.DEFINE_list("block_channels", ["16", "32", "32", "64", "64"], "DitherNet U-Net block channels.")
        flags.DEFINE_list("bottleneck_channels", ["512", "512"], "DitherNet bottleneck channels.")
        flags.DEFINE_integer("noise_channels", 0, "DitherNet reads this many channels of a tiled blue-noise "
                             "texture besides [I, I'] (issue 29; not in the paper; 0: the paper's inputs).")
        flags.DEFINE_integer("noise_period", 64, "Side of the blue-noise texture (a multiple of 8).")
        flags.DEFINE_enum("upsample", "transpose", ["transpose", "bilinear", "nearest"], "DitherNet decoder "
                          "up-sampling: the paper's 2x2 transposed conv, or a x2 resize and a 3x3 conv (issue 29).")
        flags.DEFINE_string("init_from", None, "Fine-tune: start from this trained DitherNet (.keras); its own "
                            "layout is used and --block_channels/--bottleneck_channels/--noise_*/--upsample are ignored.")
    else:
        flags.DEFINE_string("dither_model", None, "Trained DitherNet (.keras). Default: the shipped weights for "
                            "--np, else runs/dither_np{NP}/dither_net.keras.")


def loss_config():
    from gif_pipeline.configs import LossConfig

    config = LossConfig.for_num_colors(FLAGS.np, FLAGS.perceptual)
    overrides = {k: getattr(FLAGS, k) for k in ("lam", "gamma", "delta", "theta", "beta", "vif")
                 if getattr(FLAGS, k) is not None}
    return config.replace(**overrides)


def load_frozen_models(config, allow_prefix: bool = False):
    """PaletteNet and (if delta > 0) BandingNet, loaded from their stage-1 outputs.

    With ``allow_prefix`` (stage 2), a nested PaletteNet of more than ``--np`` colours serves
    through its first ``--np`` colours, and a PaletteNet with a slot head for ``--np`` (``head_sizes``)
    through that head, as in ``gifnets encode``; they are the default when no network file for exactly
    ``--np`` is shipped or trained. Returns ``(palette_net, banding_net, record)``;
    ``record["palette_colors"]`` is ``--np`` when the palette is such a prefix or head, else None.
    """
    from gif_pipeline import pretrained
    from gif_pipeline.errors import MissingPrerequisiteError

    try:
        palette_path = pretrained.find_model("palette", FLAGS.np, FLAGS.palette_model)
    except MissingPrerequisiteError:
        from gif_pipeline.encode import pick_palette_net

        np_net, how = pick_palette_net(FLAGS.np)  # the shipped network `gifnets encode` uses for --np
        if not allow_prefix or how not in ("prefix", "exact"):
            raise
        palette_path = pretrained.shipped_path("palette", pretrained.palette_sizes().get(np_net, np_net))
        if not os.path.exists(palette_path):
            raise
    logging.info("PaletteNet: %s", palette_path)
    palette_net = pretrained.load("palette", FLAGS.np, palette_path)
    palette_colors = None
    if FLAGS.np in getattr(palette_net, "served_colors", ()) and palette_net.num_colors != FLAGS.np:
        palette_colors = FLAGS.np
        logging.info("Using its slot head for %d colours", FLAGS.np)
    elif palette_net.num_colors != FLAGS.np:
        nested = tuple(getattr(palette_net.config, "nested_sizes", ()) or ())
        if not (allow_prefix and nested and palette_net.num_colors > FLAGS.np):
            raise SystemExit(f"{palette_path} predicts {palette_net.num_colors} colours, not --np={FLAGS.np}"
                             + (" (only stage 2 can use a nested PaletteNet's first colours)" if nested else ""))
        palette_colors = FLAGS.np
        logging.info("Using the first %d of its %d colours (nested sizes %s)", FLAGS.np, palette_net.num_colors,
                     nested)
    banding_net = None
    if config.delta > 0:
        banding_path = pretrained.find_model("banding", explicit=FLAGS.banding_model)
        logging.info("BandingNet: %s", banding_path)
        banding_net = pretrained.load("banding", explicit=banding_path)
    else:
        logging.warning("--delta=0: training without the banding loss")
    return palette_net, banding_net, {"palette_model": palette_path, "palette_colors": palette_colors,
                                      "banding_model": banding_path if banding_net is not None else None}


def perceptual_model(config):
    if config.perceptual == "none" or config.theta == 0:
        return None
    from gif_pipeline.losses import make_perceptual_loss

    if config.perceptual == "csf" and FLAGS.csf_pixels_per_degree:
        return make_perceptual_loss("csf", pixels_per_degree=tuple(float(p) for p in FLAGS.csf_pixels_per_degree))
    return make_perceptual_loss(config.perceptual, FLAGS.perceptual_weights)


def compile_encoder(encoder, learning_rate):
    import keras

    schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, FLAGS.decay_steps, FLAGS.decay_rate,
                                                           staircase=True)
    encoder.compile(optimizer=keras.optimizers.Adam(schedule))


def image_summaries(encoder):
    def make(batch):
        out = encoder(batch, training=False, soft=False)
        to01 = lambda x: (x + 1.0) / 2.0  # noqa: E731
        return {"original": to01(batch), "quantized": to01(out["quantized"]), "dithered": to01(out["dithered"]),
                "error": 0.5 + 0.5 * out["error"]}

    return make


def train(encoder, train_ds, val_ds, model_dir):
    import keras

    sample = next(iter(val_ds if val_ds is not None else train_ds))
    encoder(sample[:1], training=False)  # build it: BackupAndRestore needs a built model
    callbacks = [common.ImageSummaries(os.path.join(model_dir, "logs"), sample[:3], image_summaries(encoder),
                                       FLAGS.image_summary_every)]
    if val_ds is not None and FLAGS.patience:
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", patience=FLAGS.patience))
    return common.fit(encoder, train_ds, model_dir=model_dir, steps=FLAGS.steps, epochs=FLAGS.epochs,
                      batch_size=FLAGS.batch_size, checkpoint_every=FLAGS.checkpoint_every, val_ds=val_ds,
                      validation_steps=FLAGS.validation_steps, extra_callbacks=callbacks)


def check_np():
    from absl import app

    from gif_pipeline.configs import check_num_colors

    try:
        check_num_colors(FLAGS.np)
    except ValueError as e:
        raise app.UsageError(f"--np: {e}")
