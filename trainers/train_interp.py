"""Train the frame-interpolation network of GIF2Video §4.2 (a Super SloMo adaptation) on motion data.

    trainers/train_interp --preset=cpu                 # the CPU default (runs/interp)
    trainers/train_interp --preset=cpu --steps=2 --model_dir=/tmp/interp   # a smoke test
    trainers/train_interp --preset=paper               # the authors' width, for a GPU

Data (:mod:`gif_pipeline.data.motion`): synthetic motion from the photos of ``--data`` and windows of the real
clips of ``--clips`` (never the held-out ``bigbuckbunny.mp4``), kept frames quantized to 32-256 colours with
and without dither, at 1/2, 1/4, 1/8 of the frames kept. Validation: synthetic motion from ``--val_data``
photos at a fixed seed (the held-out clip is left for the bench, not model selection).

Writes ``MODEL_DIR/interp_net.keras`` and ``MODEL_DIR/config.json``; a killed run resumes when rerun.
Adam with global gradient-norm clipping (the release clips at 1.0).
"""
from __future__ import annotations

import os
import sys

from absl import app, flags, logging

from gif_pipeline.models.interp.config import FLOW_INPUTS
from trainers import common

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("clips", None, "Video clips (mp4) to train on besides --data's photos. Default: the "
                          "training clips of ../shared/data/clips if present.", allow_override=True)
flags.DEFINE_multi_string("val_data", None, "Photo folder(s) for the validation motion (fixed seed). Default: --data.",
                          allow_override=True)
flags.DEFINE_float("width_multiplier", 0.25, "Width x the authors' (ch = 32): 1.0 is the paper's network.", allow_override=True)
flags.DEFINE_integer("levels", 6, "U-Net levels (the release: 6).", allow_override=True)
flags.DEFINE_float("max_flow", 30.0, "Flow scale in pixels (the release's maxFlow).", allow_override=True)
flags.DEFINE_enum("flow_input", "gif", list(FLOW_INPUTS), "Frames the flow U-Net reads: the GIF's (parallel) or "
                  "the restored ones (sequential; the same without a restoration network).", allow_override=True)
flags.DEFINE_bool("restored_inputs", False, "Warp (and, with --flow_input=restored, read the flows off) the GIF "
                  "frames restored by the shipped CCDNet-2, as `gifnets restore --interpolate` does at use; else the "
                  "GIF frames themselves.", allow_override=True)
flags.DEFINE_enum("refine", "residual", ["residual", "absolute"], "Refinement U-Net output: a residual on the "
                  "initial intermediate flows (Super SloMo) or the flows themselves (the release).", allow_override=True)
for _name, _default, _doc in (("w_reconstruction", 0.5, "L1 of the interpolated frame"),
                              ("w_gradient", 0.5, "gradient L1"), ("w_warping", 0.5, "warping L1"),
                              ("w_smoothness", 1.0, "flow smoothness")):
    flags.DEFINE_float(_name, _default, f"Weight of the {_doc} (the release's value: {_default}).", allow_override=True)
flags.DEFINE_float("clipnorm", 1.0, "Clip the global gradient norm (the release: 1.0; 0: no clipping).", allow_override=True)
flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default). Keep 1 on "
                     "a shared machine.", allow_override=True)
flags.DEFINE_string("init_from", None, "Start from this trained InterpNet (.keras) of the same layout.", allow_override=True)
flags.DEFINE_integer("val_examples", 64, "Validation examples (fixed).", allow_override=True)
common.define_common_flags(default_model_dir="runs/interp", default_steps=6000, default_batch_size=4,
                           default_learning_rate=2e-4)

WEIGHTS = "interp_net.keras"


def image_summaries(model):
    def make(batch):
        out = model(batch, training=False)
        return {k: (v + 1) / 2 for k, v in (("gif0", batch["gif0"]), ("truth_t", batch["frame_t"]),
                                           ("interpolated_t", out["frame"]), ("gif1", batch["gif1"]))}
    return make


def train(strategy, config, loss_config, train_ds, val_ds, *, model_dir: str, steps: int, epochs: int | None,
          batch_size: int, checkpoint_every: int, validation_steps: int, learning_rate: float, clipnorm: float,
          record: dict, init_from: str | None = None, image_summary_every: int = 0, verbose="auto"):
    """Build the InterpNet under ``strategy``, fit it (resumable) and save it with ``config.json``; reads no flags.
    Returns the saved model's path."""
    import keras

    from gif_pipeline.models.interp.interp_net import build_interp_net
    from gif_pipeline.training import loop

    with strategy.scope():
        model = build_interp_net(config, loss_config)
        if init_from:
            source = keras.saving.load_model(init_from, compile=False)
            model.set_weights(source.get_weights())
            logging.info("Initialised from %s", init_from)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=clipnorm or None))
    loop.prepare_model_dir(model_dir, resume=True)
    loop.write_run_record(model_dir, {**record, "running": True})
    sample = next(iter(val_ds if val_ds is not None else train_ds))
    sample = {k: v[:3] for k, v in sample.items()}
    history = loop.fit(model, train_ds, model_dir=model_dir, steps=steps, epochs=epochs, batch_size=batch_size,
                       checkpoint_every=checkpoint_every, val_ds=val_ds, validation_steps=validation_steps,
                       extra_callbacks=[loop.ImageSummaries(os.path.join(model_dir, "logs"), sample,
                                                            image_summaries(model), image_summary_every)],
                       verbose=verbose)
    return loop.finish(model, model_dir, WEIGHTS, stage="interp", record=record, history=history,
                       extra={"loss": loss_config.to_dict()})


def main(argv):
    del argv
    from gif_pipeline.models.interp.presets import TRAINING_PRESETS

    common.apply_preset("train_interp", TRAINING_PRESETS)
    if FLAGS.threads < 0:
        raise app.UsageError(f"--threads must be >= 0, got {FLAGS.threads}")
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    from gif_pipeline.data import motion
    from gif_pipeline.models.interp.config import InterpLossConfig, InterpNetConfig

    try:
        config = InterpNetConfig(width_multiplier=FLAGS.width_multiplier, levels=FLAGS.levels, max_flow=FLAGS.max_flow,
                                 flow_input=FLAGS.flow_input, refine=FLAGS.refine)
        loss_config = InterpLossConfig(reconstruction=FLAGS.w_reconstruction, gradient=FLAGS.w_gradient,
                                       warping=FLAGS.w_warping, smoothness=FLAGS.w_smoothness)
        data_config = motion.MotionConfig(crop_size=FLAGS.image_size, batch_size=FLAGS.batch_size,
                                          seed=FLAGS.seed or 0, restored=FLAGS.restored_inputs)
    except ValueError as e:
        raise app.UsageError(str(e))
    photos = FLAGS.data or []
    clips = FLAGS.clips if FLAGS.clips is not None else motion.default_clips()
    if not photos and not clips:
        photos = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gif_pipeline", "samples")]
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
    try:
        train_ds = motion.build_dataset(photos, clips, data_config)
        val_ds = None
        if FLAGS.validation_steps:
            val_ds = motion.build_dataset(FLAGS.val_data or photos, [], data_config.replace(seed=10_000 + (FLAGS.seed or 0)),
                                          count=FLAGS.val_examples).repeat()
    except ValueError as e:
        raise app.UsageError(str(e))
    if not FLAGS.resume:
        common.prepare_model_dir(FLAGS.model_dir, resume=False)
    record = {**common.run_record("interp", WEIGHTS, config.to_dict()), "data_config": data_config.to_dict(),
              "clips": list(clips), "held_out_clip": motion.HELD_OUT_CLIP}
    train(strategy, config, loss_config, train_ds, val_ds, model_dir=FLAGS.model_dir, steps=FLAGS.steps,
          epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, checkpoint_every=FLAGS.checkpoint_every,
          validation_steps=FLAGS.validation_steps, learning_rate=FLAGS.learning_rate, clipnorm=FLAGS.clipnorm,
          record=record, init_from=FLAGS.init_from, image_summary_every=FLAGS.image_summary_every,
          verbose="auto" if sys.stdout.isatty() else 2)


if __name__ == "__main__":
    app.run(main)
