"""Stage 2: train DitherNet with PaletteNet (and BandingNet) frozen, loss Eq. 6 (GIFnets §3.2).

    trainers/train_dither --np=16 --steps=20

Adam at 1e-4 decayed by 0.96 every 20k steps, batch 4, T = 0.001 and the supplement's loss
weights for ``--np`` (all overridable). Writes ``MODEL_DIR/dither_net.keras`` and ``config.json``
(default MODEL_DIR: ``runs/dither_np{NP}``).
"""
from __future__ import annotations

import os

from absl import app, flags

from gif_pipeline.errors import GifnetsError
from trainers import common, dither_stage

FLAGS = flags.FLAGS
dither_stage.define_flags("dither")
common.define_common_flags(default_model_dir=None, default_steps=1000, default_batch_size=4,
                           default_learning_rate=1e-4)


def main(argv):
    del argv
    dither_stage.check_np()
    from gif_pipeline.configs import DitherNetConfig
    from gif_pipeline.models.dither_net import build_dither_net, config_of
    from gif_pipeline.models.gif_encoder import GIFEncoder

    model_dir = FLAGS.model_dir or os.path.join("runs", f"dither_np{FLAGS.np}")
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    losses = dither_stage.loss_config()
    try:
        strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
        with strategy.scope():
            palette_net, banding_net, sources = dither_stage.load_frozen_models(losses, allow_prefix=True)
            if FLAGS.init_from:
                from gif_pipeline import pretrained

                dither_net = pretrained.load("dither", FLAGS.np, FLAGS.init_from)
                try:
                    config = config_of(dither_net).replace(temperature=FLAGS.temperature)
                except ValueError as e:
                    raise GifnetsError(f"--init_from={FLAGS.init_from}: {e}") from None
            else:
                config = DitherNetConfig(block_channels=tuple(int(c) for c in FLAGS.block_channels),
                                         bottleneck_channels=tuple(int(c) for c in FLAGS.bottleneck_channels),
                                         temperature=FLAGS.temperature, noise_channels=FLAGS.noise_channels,
                                         noise_period=FLAGS.noise_period, upsample=FLAGS.upsample)
                dither_net = build_dither_net(config)
            encoder = GIFEncoder(palette_net, dither_net, banding_net, loss_config=losses,
                                 temperature=FLAGS.temperature, stage="dither",
                                 perceptual=dither_stage.perceptual_model(losses), projection=FLAGS.projection,
                                 refine_palette=FLAGS.refine_palette, palette_colors=sources["palette_colors"])
            dither_stage.compile_encoder(encoder, FLAGS.learning_rate)
    except GifnetsError as e:
        raise SystemExit(f"train_dither: {e}")
    common.prepare_model_dir(model_dir, FLAGS.resume)
    extra = {"loss": losses.to_dict(), "projection": FLAGS.projection, "refine_palette": FLAGS.refine_palette,
             **sources, **({"init_from": FLAGS.init_from} if FLAGS.init_from else {})}
    common.write_run_record(model_dir, {**common.run_record("dither", "dither_net.keras", config.to_dict()),
                                        **extra, "running": True})
    train, val = common.build_inputs(augment="dither")
    history = dither_stage.train(encoder, train, val, model_dir)
    common.finish(dither_net, model_dir, "dither_net.keras", stage="dither", model_config=config.to_dict(),
                  history=history, extra=extra)


if __name__ == "__main__":
    app.run(main)
