"""Stage 3: fine-tune PaletteNet and DitherNet together at a lower learning rate, loss Eq. 9.

    trainers/train_joint --np=16 --steps=20

Starts from the stage-1 and stage-2 outputs (or the shipped weights) and writes
``MODEL_DIR/palette_net.keras``, ``MODEL_DIR/dither_net.keras`` and ``config.json`` (default
MODEL_DIR: ``runs/joint_np{NP}``).
"""
from __future__ import annotations

from absl import app

from trainers import common, dither_stage

dither_stage.define_flags("joint")
common.define_common_flags(default_model_dir=None, default_steps=1000, default_batch_size=4,
                           default_learning_rate=1e-5)


def main(argv):
    del argv
    dither_stage.run("joint")


if __name__ == "__main__":
    app.run(main)
