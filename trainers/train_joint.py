"""Stage 3: fine-tune PaletteNet and DitherNet together at a lower learning rate, loss Eq. 9.

    trainers/train_joint --np=16 --steps=20

Starts from the stage-1 and stage-2 outputs (or the shipped weights) and writes
``MODEL_DIR/palette_net.keras``, ``MODEL_DIR/dither_net.keras`` and ``config.json`` (default
MODEL_DIR: ``runs/joint_np{NP}``).
"""
from __future__ import annotations

import os

from absl import app, flags, logging

from gif_pipeline.errors import GifnetsError
from trainers import common, dither_stage

FLAGS = flags.FLAGS
dither_stage.define_flags("joint")
common.define_common_flags(default_model_dir=None, default_steps=1000, default_batch_size=4,
                           default_learning_rate=1e-5)


def main(argv):
    del argv
    dither_stage.check_np()
    from gif_pipeline import pretrained
    from gif_pipeline.models.gif_encoder import GIFEncoder

    model_dir = FLAGS.model_dir or os.path.join("runs", f"joint_np{FLAGS.np}")
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    losses = dither_stage.loss_config()
    try:
        strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
        with strategy.scope():
            palette_net, banding_net, sources = dither_stage.load_frozen_models(losses)
            dither_path = pretrained.find_model("dither", FLAGS.np, FLAGS.dither_model)
            logging.info("DitherNet: %s", dither_path)
            dither_net = pretrained.load("dither", FLAGS.np, dither_path)
            encoder = GIFEncoder(palette_net, dither_net, banding_net, loss_config=losses,
                                 temperature=FLAGS.temperature, stage="joint",
                                 perceptual=dither_stage.perceptual_model(losses))
            dither_stage.compile_encoder(encoder, FLAGS.learning_rate)
    except GifnetsError as e:
        raise SystemExit(f"train_joint: {e}")
    common.prepare_model_dir(model_dir, FLAGS.resume)
    train, val = common.build_inputs(augment="dither")
    history = dither_stage.train(encoder, train, val, model_dir)
    extra = {"loss": losses.to_dict(), "dither_model": dither_path, **sources}
    common.finish(dither_net, model_dir, "dither_net.keras", stage="joint",
                  model_config={"palette": palette_net.config.to_dict()}, history=history, extra=extra)
    common.save_model_atomically(palette_net, os.path.join(model_dir, "palette_net.keras"))


if __name__ == "__main__":
    app.run(main)
