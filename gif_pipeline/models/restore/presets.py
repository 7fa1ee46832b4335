"""The restore family's presets: model sizes, the kinds of weight file it ships, and the training experiments.

``MODEL_PRESETS``: ``paper`` is GIF2Video's full width (64-128-256-512-512, 29.6 M parameters for CCDNet-2's two
U-Nets, 118 MB in float32 per model); ``cpu`` is the width this project trains on its 1-core budget.
``TRAINING_PRESETS``: flag values of ``trainers/train_ccdnet`` / ``train_gif_classifier`` (the command line wins).
"""
from __future__ import annotations

from gif_pipeline.models.gifnets.presets import WeightKind

MODEL_PRESETS = {
    "paper": {"width_multiplier": 1.0},
    "cpu": {"width_multiplier": 0.25},
}

WEIGHT_KINDS = {
    "ccdnet_plain": WeightKind(
        "ccdnet_plain", "ccdnet_plain.keras", "runs/ccdnet_plain_s2/ccdnet.keras",
        "trainers/train_ccdnet --preset=cpu_plain_step2", run_file="ccdnet.keras", title="CCDNet (plain GIFs)",
        per_np=False),
    "ccdnet_dithered": WeightKind(
        "ccdnet_dithered", "ccdnet_dithered.keras", "runs/ccdnet_dith_s2/ccdnet.keras",
        "trainers/train_ccdnet --preset=cpu_dithered_step2", run_file="ccdnet.keras",
        title="CCDNet (dithered GIFs)", per_np=False),
    "gif_classifier": WeightKind(
        "gif_classifier", "gif_classifier.keras", "runs/gif_classifier/gif_classifier.keras",
        "trainers/train_gif_classifier --preset=cpu", run_file="gif_classifier.keras", title="dither classifier",
        per_np=False),
    # The numpy dither router (gif_pipeline/models/restore/router.py): a JSON of fitted parameters; it routes
    # `gifnets restore --model auto` on both backends (the CNN classifier above stays available: restore.classify).
    "dither_router": WeightKind(
        "dither_router", "dither_router.json", "runs/router/dither_router.json",
        "trainers/fit_dither_router --preset=shipped", run_file="dither_router.json", title="dither router",
        per_np=False),
    # The LiteRT runtime models of `gifnets restore`, built from the .keras files above by one command.
    **{f"{kind}_tflite": WeightKind(
        f"{kind}_tflite", f"{kind}.tflite", f"gif_pipeline/weights/{kind}.tflite",
        "python -m export.export_runtime --kinds restore", title=f"{title} (LiteRT)", per_np=False)
       for kind, title in (("ccdnet_plain", "CCDNet (plain GIFs)"), ("ccdnet_dithered", "CCDNet (dithered GIFs)"),
                           ("gif_classifier", "dither classifier"))},
}

_CACHE = "runs/restore_cache"
_COMMON = dict(width_multiplier=0.25, residual=True, batch_size=16, learning_rate=1e-3, seed=1, checkpoint_every=250,
               validation_steps=25, threads=1)

TRAINING_PRESETS: dict[str, dict[str, dict]] = {
    "train_ccdnet": {
        # CPU default: crops of 64 px from 256-px quantized regions (trainers/make_gif_pairs), width 1/4. The shipped
        # models are these runs cut for time (docs/experiments/restore.md): step 1 killed after epoch 4 (1,000 of
        # 2,000 steps) and finished with --steps=1000; step 2 launched with --steps=500, killed after epoch 1 and
        # finished with --steps=250.
        "cpu_plain_step1": {**_COMMON, "stage": 1, "steps": 2000, "train_cache": f"{_CACHE}/plain_train.npz",
                            "val_cache": f"{_CACHE}/plain_val.npz", "model_dir": "runs/ccdnet_plain_s1"},
        "cpu_plain_step2": {**_COMMON, "stage": 2, "steps": 800, "unroll": 2, "train_cache": f"{_CACHE}/plain_train.npz",
                            "val_cache": f"{_CACHE}/plain_val.npz", "step1_from": "runs/ccdnet_plain_s1/ccdnet.keras",
                            "model_dir": "runs/ccdnet_plain_s2"},
        "cpu_dithered_step1": {**_COMMON, "stage": 1, "steps": 2000, "train_cache": f"{_CACHE}/dith_train.npz",
                               "val_cache": f"{_CACHE}/dith_val.npz", "model_dir": "runs/ccdnet_dith_s1"},
        "cpu_dithered_step2": {**_COMMON, "stage": 2, "steps": 800, "unroll": 2,
                               "train_cache": f"{_CACHE}/dith_train.npz", "val_cache": f"{_CACHE}/dith_val.npz",
                               "step1_from": "runs/ccdnet_dith_s1/ccdnet.keras", "model_dir": "runs/ccdnet_dith_s2"},
        # The paper's size and crops (GIF2Video §5: 256-px patches, batch 8, full width): a GPU run.
        "paper_step1": {"width_multiplier": 1.0, "batch_size": 8, "learning_rate": 2e-4, "stage": 1, "steps": 200000,
                        "seed": 1, "train_cache": f"{_CACHE}/plain_train_256.npz", "model_dir": "runs/ccdnet_paper_s1"},
    },
    # trainers/fit_dither_router on the GIF caches of trainers/make_router_gifs (docs/experiments/restore.md).
    "fit_dither_router": {
        # + the --mix=extra caches (DitherNet at 16-256 colours, ffmpeg bayer, pngquant, gifski, Bayer/FS pairs, grain),
        # the mean of 3 MLPs (seeds 1-3).
        "shipped": {"train_gifs": [f"runs/router/{s}_{k}of2.npz" for s in ("train", "grain_train", "extra_train")
                                   for k in (0, 1)],
                    "val_gifs": [f"runs/router/{s}_{k}of2.npz" for s in ("val", "grain_val", "extra_val") for k in (0, 1)],
                    "model": "mlp", "hidden": 8, "l2": 1e-3, "steps": 3000, "learning_rate": 0.01,
                    "transform": "signed_log100", "seed": 1, "ensemble": 3, "out": "runs/router/dither_router.json"},
    },
    "train_gif_classifier": {
        "cpu": {"width_multiplier": 0.5, "batch_size": 16, "learning_rate": 5e-4, "steps": 2000, "seed": 1,
                "checkpoint_every": 250, "validation_steps": 25, "threads": 1,
                "train_cache": [f"{_CACHE}/plain_train.npz", f"{_CACHE}/dith_train.npz"],
                "val_cache": [f"{_CACHE}/plain_val.npz", f"{_CACHE}/dith_val.npz"], "model_dir": "runs/gif_classifier"},
    },
}
