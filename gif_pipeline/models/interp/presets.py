"""The interpolation family's presets: its kind of shipped file and its named training experiments.

``TRAINING_PRESETS["train_interp"]`` holds flag values of ``trainers/train_interp`` (flags given on the command
line override them): ``cpu`` is the CPU default that trains on this machine, ``paper`` the authors' width.
"""
from __future__ import annotations

from gif_pipeline.models.gifnets.presets import WeightKind

WEIGHT_KINDS = {
    "interp": WeightKind(
        "interp", "interp.keras", "runs/interp/interp_net.keras", "trainers/train_interp --preset=cpu",
        run_file="interp_net.keras", title="InterpNet", per_np=False),
}

_COMMON = dict(data=["../shared/data/train"], clips=["../shared/data/clips/bikes.mp4",
                                                     "../shared/data/clips/carphone_pristine.mp4"],
               val_data=["../shared/data/val"], image_size=128, seed=1, validation_steps=8, checkpoint_every=200,
               learning_rate=2e-4, clipnorm=1.0, threads=1)

TRAINING_PRESETS: dict[str, dict[str, dict]] = {
    "train_interp": {
        # A quarter of the authors' width (9.9 MB of float32 weights), 128-px crops, batch 4: a CPU run.
        "cpu": {**_COMMON, "width_multiplier": 0.25, "batch_size": 4, "steps": 3000, "model_dir": "runs/interp"},
        # The authors' width (ch = 32; 158 MB of float32 weights) and their crop and batch sizes; for a GPU.
        "paper": {**_COMMON, "width_multiplier": 1.0, "image_size": 256, "batch_size": 8, "steps": 200_000,
                  "learning_rate": 1e-4, "threads": 0, "model_dir": "runs/interp_paper"},
    },
}
