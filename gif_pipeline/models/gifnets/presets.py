"""GIFnets' presets: the kinds of weight file the family ships, and the named training experiments.

``WEIGHT_KINDS`` tells the weight registry (:mod:`gif_pipeline.weights.registry`) how a kind's files are
named, which trainer writes them and where, and how ``trainers/ship_model`` measures them.
``TRAINING_PRESETS`` names the experiments behind the shipped weights, as flag values of the trainer
(``trainers/train_dither --preset=shipped_np16``; flags given on the command line override them).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class WeightKind:
    """A kind of weight file: ``file`` and ``run_output`` are patterns with ``{np}``."""

    kind: str
    file: str  # shipped file name
    run_output: str  # the trainer's default output
    trainer: str  # the command that makes it
    run_file: str = ""  # the file a trainer's --model_dir holds (trainers/ship_model --run)
    title: str = ""  # the network's name in messages
    per_np: bool = True  # one file per palette size
    np_name: str = "Np"  # what {np} counts, in messages ("C" for the compressor's latent channels)
    compare: tuple[tuple[str, str], ...] = ()  # (palette, dither) modes ship_model measures, the network's first


WEIGHT_KINDS = {
    "palette": WeightKind(
        "palette", "palette_np{np}.keras", "runs/palette_np{np}/palette_net.keras", "trainers/train_palette --np={np}",
        run_file="palette_net.keras", title="PaletteNet",
        compare=(("net", "none"), ("net+kmeans", "none"), ("median-cut", "none"), ("kmeans", "none"))),
    "dither": WeightKind(
        "dither", "dither_np{np}.keras", "runs/dither_np{np}/dither_net.keras", "trainers/train_dither --np={np}",
        run_file="dither_net.keras", title="DitherNet",
        compare=(("kmeans", "net"), ("kmeans", "fs"), ("kmeans", "none"), ("median-cut", "net"), ("median-cut", "fs"))),
    "banding": WeightKind(
        "banding", "banding.keras", "runs/banding/banding_net.keras", "trainers/train_banding",
        run_file="banding_net.keras", title="BandingNet", per_np=False),
    # The LiteRT runtime models (issue #24), built from the .keras files above by one command.
    "palette_tflite": WeightKind(
        "palette_tflite", "palette_np{np}.tflite", "gif_pipeline/weights/palette_np{np}.tflite",
        "python -m export.export_runtime", title="PaletteNet (LiteRT)"),
    "dither_tflite": WeightKind(
        "dither_tflite", "dither_np{np}.tflite", "gif_pipeline/weights/dither_np{np}.tflite",
        "python -m export.export_runtime", title="DitherNet (LiteRT)"),
}


# ------------------------------------------------------------------------------------------- training presets
# Each shipped model is the last run of a chain of fine-tunes (docs/experiments/gifnets.md has the chain); a
# preset is that last run's flag values, as written in the model card's "Reproduce" line. Its --init_from /
# --init_weights name the chain's previous run.

_PALETTE_HEAD = dict(
    augment=True, backbone="inception_v2", batch_size=16, cache=True, checkpoint_every=250, clipnorm=1.0,
    coverage_weight=0.0, data=["../shared/data/train"], decay_rate=0.8, decay_steps=100000, depth_multiplier=0.5,
    freeze_backbone=True, head="slots", image_size=128, init_from="runs/palette_np16_d87e763.keras",
    learning_rate=0.001, loss_pixels=0, min_depth=16, mixed_precision=False, nested_sizes=[], output="direct",
    refine_rounds=1, seed=11, slot_hidden=64, validation_steps=6)

#: BandingNet's data: the shipped set (seed 0) and six more crops of every photo, each made by
#: `trainers/make_banding_data --crop_size=128 --crops_per_image=1 --gradients=200 --seed=S --out=DIR`.
_BANDING_DATA = ["runs/banding_data128"] + [f"runs/banding_data128_s{s}" for s in range(1, 7)]

_DITHER = dict(
    augment=True, batch_size=4, cache=True, checkpoint_every=100, data=["../shared/data/train"], decay_rate=0.96,
    decay_steps=20000, epochs=10, image_size=128, learning_rate=0.0002, mixed_precision=False, patience=0,
    perceptual="csf", projection="soft", refine_palette=10, steps=1000, temperature=0.001, validation_steps=6)

TRAINING_PRESETS: dict[str, dict[str, dict]] = {
    "train_palette": {
        # The Np = 16 network's own head with its re-assignment round (backbone frozen; palette_np16.md).
        "shipped_np16": {**_PALETTE_HEAD, "np": 16, "epochs": 3, "steps": 750, "model_dir": "runs/p16_reassign"},
        # Its extra slot heads, each on the frozen backbone; trainers/ship_model --add_heads joins them.
        **{f"shipped_np16_head{n}": {**_PALETTE_HEAD, "np": n, "epochs": 3 if n == 256 else 2,
                                     "steps": 750 if n == 256 else 500, "model_dir": f"runs/p{n}_reassign"}
           for n in (32, 64, 128, 256)},
    },
    "train_dither": {
        # The --vif=1.5 fine-tune of the Np = 16 DitherNet (shipped until issue 29; git show
        # 70a8665:gif_pipeline/weights/dither_np16.keras > runs/dither_np16_v2.keras).
        "np16_vif1.5": {**_DITHER, "np": 16, "seed": 2, "vif": 1.5, "init_from": "runs/d16_vif1.0/dither_net.keras",
                        "model_dir": "runs/d16_vif1.5_cont"},
        # Issue 29, from that network: a blue-noise input (zero weights at first) and the lattice term; two runs,
        # the second is the shipped Np = 16 DitherNet (dither_np16.md).
        "lattice_np16_a": {**_DITHER, "np": 16, "seed": 5, "vif": 1.5, "theta": 60.0,
                           "csf_pixels_per_degree": ["32.98", "120"], "noise_channels": 1, "lattice_weight": 2000.0,
                           "steps": 200, "epochs": 2, "threads": 1, "init_from": "runs/dither_np16_v2.keras",
                           "model_dir": "runs/d16_lat2000"},
        "shipped_np16": {**_DITHER, "np": 16, "seed": 6, "vif": 1.5, "theta": 60.0,
                         "csf_pixels_per_degree": ["32.98", "120"], "lattice_weight": 8000.0, "steps": 600,
                         "epochs": 6, "threads": 1, "init_from": "runs/d16_lat2000/dither_net.keras",
                         "model_dir": "runs/d16_lat8000"},
        # Issue 24 (LiteRT speed): a half-width Np = 16 DitherNet (1/4 of the multiply-adds) cut from the network
        # shipped_np16 trained (--narrow_from) and distilled from it (--teacher) with shipped_np16's own losses
        # (git show 2ef2428:gif_pipeline/weights/dither_np16.keras > runs/dither_np16_v3.keras; notebook
        # docs/experiments/gifnets.md, 2026-12-06, "a narrower 16-colour DitherNet").
        "narrow_np16_half": {**_DITHER, "np": 16, "seed": 7, "vif": 1.5, "theta": 60.0,
                             "csf_pixels_per_degree": ["32.98", "120"], "lattice_weight": 8000.0,
                             "block_channels": ["8", "16", "16", "32", "32"], "bottleneck_channels": ["64", "64"],
                             "narrow_from": "runs/dither_np16_v3.keras", "teacher": "runs/dither_np16_v3.keras",
                             "distill_weight": 10.0,
                             "learning_rate": 5e-4, "decay_steps": 1000, "decay_rate": 0.5, "steps": 3000,
                             "epochs": 10, "threads": 1, "model_dir": "runs/d16_half"},
        # The theta=300 fine-tune of the Np = 64 DitherNet (dither_np64.md).
        "shipped_np64": {**_DITHER, "np": 64, "seed": 4, "vif": 1.0, "delta": 0.15, "theta": 300.0,
                         "init_from": "runs/d64_v1_theta200/dither_net.keras", "model_dir": "runs/d64_v1_theta300"},
    },
    "train_banding": {
        # The BandingNet shipped until 2026-12-06: step 2 of its training, 1,000 steps from step 1's network.
        "shipped_2026_11_23": {"data": _BANDING_DATA[:1], "init_weights": "runs/banding/banding_net.keras", "steps": 1000,
                               "batch_size": 16,
                               "learning_rate": 5e-4, "lr_schedule": "cosine", "seed": 1, "model_dir": "runs/banding_ft"},
        # banding.md's chain since 2026-12-06: more crops of the same photos (seeds 1-6 of make_banding_data).
        "shipped_step1": {"data": _BANDING_DATA[:2], "init_weights": "runs/banding_ft/banding_net.keras", "steps": 3000,
                          "batch_size": 16, "learning_rate": 5e-4, "lr_schedule": "cosine", "seed": 2,
                          "checkpoint_every": 250, "validation_steps": 4, "threads": 1, "model_dir": "runs/banding_r1"},
        "shipped_step2": {"data": _BANDING_DATA[:5], "init_weights": "runs/banding_r1/banding_net.keras", "steps": 5000,
                          "batch_size": 16, "learning_rate": 3e-4, "lr_schedule": "cosine", "seed": 3,
                          "checkpoint_every": 250, "validation_steps": 0, "threads": 1, "model_dir": "runs/banding_r2"},
        "shipped": {"data": _BANDING_DATA, "init_weights": "runs/banding_r2/banding_net.keras", "steps": 6000,
                    "batch_size": 16, "learning_rate": 2e-4, "lr_schedule": "cosine", "seed": 4,
                    "checkpoint_every": 250, "validation_steps": 0, "threads": 1, "model_dir": "runs/banding_r3"},
    },
}
