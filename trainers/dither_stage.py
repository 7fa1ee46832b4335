"""Stage 2 (``train_dither``) and stage 3 (``train_joint``): their flags, models, loss weights, image
summaries, and :func:`run`, the one entry point both scripts call with their stage's name."""
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
    flags.DEFINE_float("lattice_weight", 0.0, "Weight of the power of the luma error's 8-px-periodic component "
                       "(losses.lattice_energy; issue 29, not in the paper).")
    flags.DEFINE_float("stripe_weight", 0.0, "Weight of the power of the luma error's 2-px stripes "
                       "(losses.stripe_energy: sparse dot grids on every other row and column; not in the paper).")
    if "threads" not in FLAGS:
        flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default).",
                             allow_override=True)
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
        flags.DEFINE_integer("noise_period", 256, "Side of the blue-noise texture (a multiple of 8).")
        flags.DEFINE_enum("upsample", "transpose", ["transpose", "bilinear", "nearest"], "DitherNet decoder "
                          "up-sampling: the paper's 2x2 transposed conv, or a 1x1 conv and a x2 resize (issue 29).")
        flags.DEFINE_string("init_from", None, "Fine-tune: start from this trained DitherNet (.keras); its own "
                            "layout is used and --block_channels/--bottleneck_channels/--upsample are ignored. An "
                            "explicit --noise_channels above the file's adds blue-noise input channels "
                            "whose first-conv weights start at zero (dither_net.with_noise_channels: the same E' "
                            "until trained).")
        flags.DEFINE_string("narrow_from", None, "Start from this trained DitherNet cut to --block_channels/"
                            "--bottleneck_channels (dither_net.narrowed: each layer keeps its largest-scale "
                            "channels; not in the paper). Its layout (noise input, up-sampling) is kept.")
        flags.DEFINE_string("teacher", None, "Distil this trained DitherNet (.keras, frozen): adds "
                            "--distill_weight * L1(E', teacher's E') to the loss (not in the paper).")
        flags.DEFINE_float("distill_weight", 0.0, "Weight of the distillation term (with --teacher).")
    else:
        flags.DEFINE_string("dither_model", None, "Trained DitherNet (.keras). Default: the shipped weights for "
                            "--np, else runs/dither_np{NP}/dither_net.keras.")


def loss_config():
    from gif_pipeline.models.gifnets.config import LossConfig

    config = LossConfig.for_num_colors(FLAGS.np, FLAGS.perceptual)
    overrides = {k: getattr(FLAGS, k) for k in ("lam", "gamma", "delta", "theta", "beta", "vif")
                 if getattr(FLAGS, k) is not None}
    overrides["lattice"] = FLAGS.lattice_weight
    overrides["stripes"] = FLAGS.stripe_weight
    return config.replace(**overrides)


def load_frozen_models(config, allow_prefix: bool = False):
    """PaletteNet and (if delta > 0) BandingNet, loaded from their stage-1 outputs.

    With ``allow_prefix`` (stage 2), a nested PaletteNet of more than ``--np`` colours serves
    through its first ``--np`` colours, and a PaletteNet with a slot head for ``--np`` (``head_sizes``)
    through that head, as in ``gifnets encode``; they are the default when no network file for exactly
    ``--np`` is shipped or trained. Returns ``(palette_net, banding_net, record)``;
    ``record["palette_colors"]`` is ``--np`` when the palette is such a prefix or head, else None.
    """
    from gif_pipeline.errors import MissingPrerequisiteError
    from gif_pipeline.weights import registry

    try:
        palette_path = registry.find_model("palette", FLAGS.np, FLAGS.palette_model)
    except MissingPrerequisiteError:
        np_net, how = registry.palette_net_for(FLAGS.np)  # the shipped network `gifnets encode` uses for --np
        if not allow_prefix or how not in ("prefix", "exact"):
            raise
        palette_path = registry.shipped_path("palette", registry.palette_sizes().get(np_net, np_net))
        if not os.path.exists(palette_path):
            raise
    logging.info("PaletteNet: %s", palette_path)
    palette_net = registry.load("palette", FLAGS.np, palette_path)
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
        banding_path = registry.find_model("banding", explicit=FLAGS.banding_model)
        logging.info("BandingNet: %s", banding_path)
        banding_net = registry.load("banding", explicit=banding_path)
    else:
        logging.warning("--delta=0: training without the banding loss")
    return palette_net, banding_net, {"palette_model": palette_path, "palette_colors": palette_colors,
                                      "banding_model": banding_path if banding_net is not None else None}


def perceptual_model(config):
    if config.perceptual == "none" or config.theta == 0:
        return None
    from gif_pipeline.models.gifnets.losses import make_perceptual_loss

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

    from gif_pipeline.config import check_num_colors

    try:
        check_num_colors(FLAGS.np)
    except ValueError as e:
        raise app.UsageError(f"--np: {e}")


def _dither_net(stage: str):
    """Stage 2: a new DitherNet from the channel flags, or ``--init_from``'s; stage 3: the trained one.
    Returns ``(dither_net, config, record)``."""
    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.models.gifnets.config import DitherNetConfig
    from gif_pipeline.models.gifnets.dither_net import build_dither_net, config_of, with_noise_channels
    from gif_pipeline.weights import registry

    if stage == "joint":
        path = registry.find_model("dither", FLAGS.np, FLAGS.dither_model)
        logging.info("DitherNet: %s", path)
        return registry.load("dither", FLAGS.np, path), None, {"dither_model": path}
    if FLAGS.init_from:
        dither_net = registry.load("dither", FLAGS.np, FLAGS.init_from)
        origin = {"init_from": FLAGS.init_from}
        try:
            config = config_of(dither_net)
            if FLAGS["noise_channels"].present and FLAGS.noise_channels != config.noise_channels:
                period = FLAGS.noise_period if FLAGS["noise_period"].present else None  # else 256 or the file's
                dither_net = with_noise_channels(dither_net, FLAGS.noise_channels, period)
                logging.info("--init_from with --noise_channels=%d: %d blue-noise channel(s) added, zero weights",
                             FLAGS.noise_channels, FLAGS.noise_channels - config.noise_channels)
                origin["init_noise_channels_added"] = FLAGS.noise_channels - config.noise_channels
                config = config_of(dither_net)
            config = config.replace(temperature=FLAGS.temperature)
        except ValueError as e:
            raise GifnetsError(f"--init_from={FLAGS.init_from}: {e}") from None
        return dither_net, config, origin
    if FLAGS.narrow_from:
        from gif_pipeline.models.gifnets.dither_net import narrowed

        source = registry.load("dither", FLAGS.np, FLAGS.narrow_from)
        try:
            config = config_of(source).replace(block_channels=tuple(int(c) for c in FLAGS.block_channels),
                                               bottleneck_channels=tuple(int(c) for c in FLAGS.bottleneck_channels),
                                               temperature=FLAGS.temperature)
            return narrowed(source, config), config, {"narrow_from": FLAGS.narrow_from}
        except ValueError as e:
            raise GifnetsError(f"--narrow_from={FLAGS.narrow_from}: {e}") from None
    config = DitherNetConfig(block_channels=tuple(int(c) for c in FLAGS.block_channels),
                             bottleneck_channels=tuple(int(c) for c in FLAGS.bottleneck_channels),
                             temperature=FLAGS.temperature, noise_channels=FLAGS.noise_channels,
                             noise_period=FLAGS.noise_period, upsample=FLAGS.upsample)
    return build_dither_net(config), config, {}


def run(stage: str):
    """Train stage ``"dither"`` (DitherNet with PaletteNet and BandingNet frozen, Eq. 6) or ``"joint"``
    (PaletteNet and DitherNet together, Eq. 9) from the flags; write the run's files in ``--model_dir``."""
    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.models.gifnets.gif_encoder import GIFEncoder
    from gif_pipeline.training import loop
    from gif_pipeline.weights import registry

    common.apply_preset(f"train_{stage}")
    check_np()
    loop.limit_threads(FLAGS.threads)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"{stage}_np{FLAGS.np}")
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    losses = loss_config()
    try:
        strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
        with strategy.scope():
            palette_net, banding_net, sources = load_frozen_models(losses, allow_prefix=stage == "dither")
            dither_net, config, origin = _dither_net(stage)
            options = ({"projection": FLAGS.projection, "refine_palette": FLAGS.refine_palette,
                        "palette_colors": sources["palette_colors"]} if stage == "dither" else {})
            teacher = {}
            if stage == "dither" and (FLAGS.teacher or FLAGS.distill_weight):
                if not (FLAGS.teacher and FLAGS.distill_weight > 0):
                    raise GifnetsError("--teacher and --distill_weight > 0 go together")
                teacher = {"teacher": registry.load("dither", FLAGS.np, FLAGS.teacher),
                           "distill_weight": FLAGS.distill_weight}
                origin.update(teacher=FLAGS.teacher, distill_weight=FLAGS.distill_weight)
            encoder = GIFEncoder(palette_net, dither_net, banding_net, loss_config=losses,
                                 temperature=FLAGS.temperature, stage=stage, perceptual=perceptual_model(losses),
                                 **options, **teacher)
            compile_encoder(encoder, FLAGS.learning_rate)
    except GifnetsError as e:
        raise SystemExit(f"train_{stage}: {e}")
    common.prepare_model_dir(model_dir, FLAGS.resume)
    extra = {"loss": losses.to_dict(), **{k: v for k, v in options.items() if k != "palette_colors"}, **sources,
             **origin}
    model_config = config.to_dict() if config is not None else {"palette": palette_net.config.to_dict()}
    if stage == "dither":  # ship_model can evaluate an unfinished run from its record and best weights
        common.write_run_record(model_dir, {**common.run_record(stage, "dither_net.keras", model_config), **extra,
                                            "running": True})
    train_ds, val_ds = common.build_inputs(augment="dither")
    history = train(encoder, train_ds, val_ds, model_dir)
    common.finish(dither_net, model_dir, "dither_net.keras", stage=stage, model_config=model_config,
                  history=history, extra=extra)
    if stage == "joint":
        common.save_model_atomically(palette_net, os.path.join(model_dir, "palette_net.keras"))
