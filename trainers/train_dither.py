"""Stage 2: train DitherNet with PaletteNet (and BandingNet) frozen, loss Eq. 6 (GIFnets §3.2).

    trainers/train_dither --np=16 --steps=20

Adam at 1e-4 decayed by 0.96 every 20k steps, batch 4, T = 0.001 and the supplement's loss
weights for ``--np`` (all overridable). Writes ``MODEL_DIR/dither_net.keras`` and ``config.json``
(default MODEL_DIR: ``runs/dither_np{NP}``).
"""
from __future__ import annotations

from absl import app

from trainers import common, dither_stage

dither_stage.define_flags("dither")
common.define_common_flags(default_model_dir=None, default_steps=1000, default_batch_size=4,
                           default_learning_rate=1e-4)


def main(argv):
    del argv
    dither_stage.run("dither")


if __name__ == "__main__":
    app.run(main)
