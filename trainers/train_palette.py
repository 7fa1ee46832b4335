"""Stage 1: train PaletteNet alone, self-supervised with Eq. 2 (GIFnets §3.1, supplement).

    trainers/train_palette --np=16 --steps=20
    python -m trainers.train_palette --np=16 --data=../shared/data/train --steps=20000

Writes ``MODEL_DIR/palette_net.keras`` and ``MODEL_DIR/config.json`` (default MODEL_DIR:
``runs/palette_np{NP}``). Adam at 1e-3, decayed by 0.8 every 100k steps (the supplement).
"""
from __future__ import annotations

import os

from absl import app, flags, logging

from trainers import common

FLAGS = flags.FLAGS
flags.DEFINE_integer("np", 16, "Palette size Np (2..256).")
flags.DEFINE_enum("backbone", "inception_v2", ["inception_v2", "pointnet"], "PaletteNet backbone.")
flags.DEFINE_float("depth_multiplier", 0.5, "InceptionV2 width multiplier (paper: 1.0).")
flags.DEFINE_integer("min_depth", 16, "InceptionV2 minimum channels.")
flags.DEFINE_integer("decay_steps", 100_000, "Learning-rate decay interval in steps (supplement: 100k).")
flags.DEFINE_float("decay_rate", 0.8, "Learning-rate decay factor (supplement: 0.8).")
flags.DEFINE_float("coverage_weight", 0.0, "Weight of the coverage term that revives unused palette colours "
                   "(not in the paper: 0). The shipped models use 0.1; see docs/experiments/gifnets.md.")
flags.DEFINE_enum("output", "direct", ["direct", "whitened"], "Palette output: the tanh output itself "
                  "(paper), or codes in the image's whitened colour space (see PaletteNetConfig).")
flags.DEFINE_enum("head", "dense", ["dense", "slots"], "Palette head: Dense(Np*3)+tanh on the pooled feature "
                  "(paper), or per-pixel soft assignment to Np slots whose colours are weighted pixel means "
                  "(not in the paper; see PaletteNetConfig).")
flags.DEFINE_integer("slot_hidden", 64, "Width of the slot head's per-pixel MLP (--head=slots).")
flags.DEFINE_list("nested_sizes", [], "Train these palette prefixes to be palettes on their own, e.g. "
                  "16,32,64,128,256 with --np=256: one network for every Np (not in the paper; see docs/experiments/gifnets.md).")
flags.DEFINE_integer("refine_rounds", 0, "Rounds of learned re-assignment that end the slot head (not in the "
                     "paper; see PaletteNetConfig.refine_rounds; --head=slots).")
flags.DEFINE_integer("loss_pixels", 0, "Pixels sampled per image for the training loss (0: all). Keeps "
                     "large --np affordable on a CPU (not in the paper).")
flags.DEFINE_string("init_from", None, "Start from this trained PaletteNet (.keras) of the same backbone and "
                    "width: its backbone, and its palette head too when head, Np and output match (a fine-tune); a "
                    "slot head of another Np gives its shared layers and first slots' logits. E.g. the shipped "
                    "Np=16 model when training another Np.")
flags.DEFINE_bool("freeze_backbone", False, "Train the palette head only: the backbone (from --init_from) keeps its "
                  "weights and batch-norm statistics, so heads for several Np can share one backbone "
                  "(see docs/experiments/gifnets.md).")
flags.DEFINE_float("clipnorm", 0.0, "Clip the global gradient norm to this (0: no clipping, as in the paper).")
common.define_common_flags(default_model_dir=None, default_steps=1000, default_batch_size=8,
                           default_learning_rate=1e-3)

WEIGHTS = "palette_net.keras"


def build_model(strategy):
    import keras

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import PaletteNet

    config = PaletteNetConfig(num_colors=FLAGS.np, backbone=FLAGS.backbone,
                              depth_multiplier=FLAGS.depth_multiplier, min_depth=FLAGS.min_depth,
                              coverage_weight=FLAGS.coverage_weight, input_size=FLAGS.image_size,
                              output=FLAGS.output, nested_sizes=tuple(int(k) for k in FLAGS.nested_sizes),
                              loss_pixels=FLAGS.loss_pixels, head=FLAGS.head, slot_hidden=FLAGS.slot_hidden,
                              refine_rounds=FLAGS.refine_rounds)
    with strategy.scope():
        model = PaletteNet(config)
        if FLAGS.init_from:
            init_from_palette_net(model, FLAGS.init_from)
        if FLAGS.freeze_backbone:
            model.backbone.trainable = False
        schedule = keras.optimizers.schedules.ExponentialDecay(
            FLAGS.learning_rate, FLAGS.decay_steps, FLAGS.decay_rate, staircase=True)
        model.compile(optimizer=keras.optimizers.Adam(schedule, global_clipnorm=FLAGS.clipnorm or None))
    return model


def init_from_palette_net(model, path):
    """Copy the PaletteNet at ``path`` into ``model``: the backbone (same backbone and width), and the
    palette head too when both have the same head, Np and output (then the run fine-tunes it). Two
    slot heads of another Np share all but the last layer's width: that is copied too, with the
    logits of the first min(Np) slots, so the new network's first colours start as the old one's."""
    import numpy as np

    from gif_pipeline.weights import registry

    source = registry.load("palette", explicit=path)
    if [w.shape for w in source.backbone.weights] != [w.shape for w in model.backbone.weights]:
        raise SystemExit(f"--init_from: {path} has a different backbone ({source.config.backbone}, depth multiplier "
                         f"{source.config.depth_multiplier}) than this run")
    model.backbone.set_weights(source.backbone.get_weights())

    def head(config):
        return config.num_colors, config.output, config.head, config.slot_hidden

    def copy(targets, sources):  # a slot head's refinement only if both have one of as many rounds
        for target, layer in zip(targets, sources):
            if [w.shape for w in target.weights] == [w.shape for w in layer.weights]:
                target.set_weights(layer.get_weights())

    extra = source.config.head_sizes
    if head(source.config) == head(model.config):
        copy(model.head_layers, source.head_layers)
        logging.info("Backbone and palette head initialised from %s", path)
    elif model.config.head == "slots" and model.num_colors in extra and \
            (source.config.head_hidden or source.config.slot_hidden) == model.config.slot_hidden:
        copy(model.head_layers, source.extra_heads[extra.index(model.num_colors)].head_layers)
        logging.info("Backbone and its %d-colour slot head initialised from %s", model.num_colors, path)
    elif head(source.config)[1:] == head(model.config)[1:] and model.config.head == "slots":
        copy(model.head_layers[:3] + model.head_layers[4:], source.head_layers[:3] + source.head_layers[4:])
        n = min(source.num_colors, model.num_colors)
        (kernel, bias), (old_kernel, old_bias) = model.slot_logits.get_weights(), source.slot_logits.get_weights()
        kernel, bias = np.array(kernel), np.array(bias)
        kernel[:, :n], bias[:n] = old_kernel[:, :n], old_bias[:n]
        model.slot_logits.set_weights([kernel, bias])
        logging.info("Backbone, slot head and the first %d slots' logits initialised from %s", n, path)
    else:
        logging.info("Backbone initialised from %s", path)


def image_summaries(model):
    from gif_pipeline.quant.projection import hard_projection

    def make(batch):
        _, quantized = hard_projection(batch, model(batch, training=False))
        return {"original": (batch + 1) / 2, "quantized": (quantized + 1) / 2}

    return make


def main(argv):
    del argv
    common.apply_preset("train_palette")
    try:
        from gif_pipeline.config import check_num_colors

        check_num_colors(FLAGS.np)
    except ValueError as e:
        raise app.UsageError(f"--np: {e}")
    try:
        sizes = tuple(int(k) for k in FLAGS.nested_sizes)
    except ValueError:
        raise app.UsageError(f"--nested_sizes: expected integers, got {','.join(FLAGS.nested_sizes)}")
    if sizes and (list(sizes) != sorted(set(sizes)) or sizes[0] < 2 or sizes[-1] != FLAGS.np):
        raise app.UsageError(f"--nested_sizes must be increasing, >= 2 and end with --np={FLAGS.np}, got "
                             f"{','.join(map(str, sizes))}")
    if FLAGS.freeze_backbone and not FLAGS.init_from:
        raise app.UsageError("--freeze_backbone needs --init_from (a trained backbone to keep)")
    if FLAGS.loss_pixels < 0:
        raise app.UsageError(f"--loss_pixels must be >= 0, got {FLAGS.loss_pixels}")
    model_dir = FLAGS.model_dir or os.path.join("runs", f"palette_np{FLAGS.np}")
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    common.prepare_model_dir(model_dir, FLAGS.resume)
    strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
    train, val = common.build_inputs(augment="palette")
    model = build_model(strategy)
    common.write_run_record(model_dir, {**common.run_record("palette", WEIGHTS, model.config.to_dict()),
                                        "running": True})
    sample = next(iter(val if val is not None else train))
    history = common.fit(model, train, model_dir=model_dir, steps=FLAGS.steps, epochs=FLAGS.epochs,
                         batch_size=FLAGS.batch_size, checkpoint_every=FLAGS.checkpoint_every, val_ds=val,
                         validation_steps=FLAGS.validation_steps,
                         extra_callbacks=[common.ImageSummaries(os.path.join(model_dir, "logs"), sample[:3],
                                                                image_summaries(model),
                                                                FLAGS.image_summary_every)])
    common.finish(model, model_dir, WEIGHTS, stage="palette", model_config=model.config.to_dict(),
                  history=history)


if __name__ == "__main__":
    app.run(main)
