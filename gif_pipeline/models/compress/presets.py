"""The compression family's presets: the kinds of weight file it ships, and the named training experiments.

``TRAINING_PRESETS["train_compression"]`` holds the flag values of ``trainers/train_compression --preset=NAME``
(flags given on the command line override them). Phase 1 is the MSE baseline, phase 2 GC, started from it.
"""
from __future__ import annotations

from gif_pipeline.models.gifnets.presets import WeightKind

WEIGHT_KINDS = {
    "compress_mse": WeightKind(
        "compress_mse", "compress_mse_c{np}.keras", "runs/compress_mse_c{np}/compressor.keras",
        "trainers/train_compression --mode=mse --channels={np}", run_file="compressor.keras",
        title="Compression MSE baseline", np_name="C"),
    "compress_gan": WeightKind(
        "compress_gan", "compress_gan_c{np}.keras", "runs/compress_gan_c{np}/compressor.keras",
        "trainers/train_compression --mode=gan --channels={np}", run_file="compressor.keras",
        title="Compression GAN (GC)", np_name="C"),
}

_CPU = dict(data=["../shared/data/train"], width_multiplier=0.125, residual_blocks=6, crop_size=128, resize=256,
            batch_size=8, cache=True, seed=1, checkpoint_every=200, validation_steps=3, threads=1)

TRAINING_PRESETS: dict[str, dict[str, dict]] = {
    "train_compression": {
        **{f"mse_c{c}": {**_CPU, "mode": "mse", "channels": c, "steps": 3000, "learning_rate": 3e-4,
                         "box_probability": 0.0, "model_dir": f"runs/compress_mse_c{c}"} for c in (2, 4, 8)},
        **{f"gan_c{c}": {**_CPU, "mode": "gan", "channels": c, "steps": 1500, "learning_rate": 1e-4,
                         "d_learning_rate": 1e-4, "box_probability": 0.5, "validation_steps": 0,
                         "init_from": f"runs/compress_mse_c{c}/compressor.keras",
                         "model_dir": f"runs/compress_gan_c{c}"} for c in (2, 4, 8)},
        # resize-convolution upsampling (no checkerboard), G's colour shortcut (the code's colours) and a cosine
        # learning rate; MSE, then GAN from it (docs/experiments/compress.md, 2026-12-07)
        **{f"mse_c{c}_sc": {**_CPU, "mode": "mse", "channels": c, "steps": 4500, "learning_rate": 5e-4,
                            "lr_schedule": "cosine", "upsample": "resize", "colour_shortcut": True,
                            "box_probability": 0.0, "threads": 2, "model_dir": f"runs/compress_mse_c{c}_sc"}
           for c in (2, 4, 8)},
        **{f"gan_c{c}_sc": {**_CPU, "mode": "gan", "channels": c, "steps": 1500, "learning_rate": 1e-4,
                            "d_learning_rate": 1e-4, "upsample": "resize", "colour_shortcut": True,
                            "box_probability": 0.5, "validation_steps": 0, "threads": 2,
                            "init_from": f"runs/compress_mse_c{c}_sc/compressor.keras",
                            "model_dir": f"runs/compress_gan_c{c}_sc"} for c in (2, 4, 8)},
        # G with symmetric padding (no frame along the borders), fine-tuned from the GC of the same C shipped before it
        # (its run: gan_c{c}_sc + the longer GAN phase in runs/compress_gan_c{c}_sc_long; docs/experiments/compress.md,
        # 2026-12-08)
        **{f"gan_c{c}_sym": {**_CPU, "mode": "gan", "channels": c, "steps": 800, "learning_rate": 1e-4,
                             "d_learning_rate": 1e-4, "upsample": "resize", "colour_shortcut": True,
                             "generator_padding": "symmetric", "box_probability": 0.5, "validation_steps": 0,
                             "init_from": f"runs/compress_gan_c{c}_sc_long/compressor.keras",
                             "model_dir": f"runs/compress_gan_c{c}_sym"} for c in (2, 4, 8)},
        # The paper's networks (widths 60...960, 9 residual blocks, 3 discriminator scales, 256^2 crops): a GPU run.
        "paper_gan_c4": {"data": ["../shared/data/train"], "mode": "gan", "channels": 4, "width_multiplier": 1.0,
                         "residual_blocks": 9, "d_width_multiplier": 1.0, "d_scales": 3, "crop_size": 256,
                         "resize": 256, "batch_size": 1, "learning_rate": 2e-4, "d_learning_rate": 2e-4,
                         "box_probability": 0.5, "steps": 150000, "model_dir": "runs/compress_paper_gan_c4"},
    },
}
