"""Make BandingNet's labelled data: quantized crops scored by the banding teacher (GIFnets §3.3).

    trainers/make_banding_data                                  # ../shared/data/train if it exists
    trainers/make_banding_data --images=photos/ --gradients=500 --out=runs/banding_data

Writes TFRecord shards ``OUT/{train,val}-NNNNN.tfrecord`` and ``OUT/manifest.json``; see
:mod:`gif_pipeline.data.banding` for what an example is, how it is labelled (Floyd–Steinberg
targets are lowered by ``--fs_target_factor``) and how the train/val split is made (by source).
A rerun with the same flags skips the shards that exist. Then train with ``trainers/train_banding``.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
DEFAULT_IMAGES = os.path.join("..", "shared", "data", "train")

flags.DEFINE_multi_string("images", None, f"Photo folder(s), searched recursively. Default: {DEFAULT_IMAGES} "
                          "if it exists, else the sample images in the package.")
flags.DEFINE_string("out", os.path.join("runs", "banding_data"), "Output folder for the shards and manifest.")
flags.DEFINE_integer("crop_size", 256, "Side of the square crops (GIFnets: 256).")
flags.DEFINE_integer("crops_per_image", 2, "Random crops per photo.")
flags.DEFINE_integer("gradients", 300, "Synthetic smooth gradients (one crop each).")
flags.DEFINE_integer("quantizations", 2, "Palettes per crop, each applied with and without Floyd-Steinberg.")
flags.DEFINE_integer("np_min", 4, "Smallest palette size (log-uniform in [np_min, np_max]).")
flags.DEFINE_integer("np_max", 256, "Largest palette size.")
flags.DEFINE_float("kmeans_fraction", 0.25, "Share of palettes made by k-means instead of median cut.")
flags.DEFINE_float("original_fraction", 0.3, "Chance that a crop's unquantized version is added.")
flags.DEFINE_float("fs_target_factor", 0.5, "Target of a Floyd-Steinberg version = this x the teacher's score "
                   "(the paper lowers dithered targets; 0.5 is our choice, see gif_pipeline/data/banding.py).")
flags.DEFINE_float("val_fraction", 0.2, "Share of sources (photos/gradients) in the val split.")
flags.DEFINE_integer("crops_per_shard", 16, "Crops per TFRecord shard (the unit of caching).")
flags.DEFINE_integer("seed", 0, "Seed of every random choice; same seed and flags, same data.")
flags.DEFINE_integer("processes", 2, "Worker processes.")
flags.DEFINE_bool("overwrite", False, "Replace a data set made with other settings in --out.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")


def default_image_folders() -> list[str]:
    if os.path.isdir(DEFAULT_IMAGES):
        return [DEFAULT_IMAGES]
    from importlib import resources

    return [str(resources.files("gif_pipeline") / "samples")]


def main(argv):
    del argv
    from gif_pipeline.data import banding as banding_data

    folders = FLAGS.images or default_image_folders()
    try:
        config = banding_data.BandingDataConfig(
            crop_size=FLAGS.crop_size, crops_per_image=FLAGS.crops_per_image, gradients=FLAGS.gradients,
            quantizations_per_crop=FLAGS.quantizations, np_min=FLAGS.np_min, np_max=FLAGS.np_max,
            kmeans_fraction=FLAGS.kmeans_fraction, original_fraction=FLAGS.original_fraction,
            fs_target_factor=FLAGS.fs_target_factor, val_fraction=FLAGS.val_fraction,
            crops_per_shard=FLAGS.crops_per_shard, seed=FLAGS.seed)
        photos = banding_data.list_photos(folders)
        print(f"make_banding_data: {len(photos)} photos from {', '.join(folders)} + {config.gradients} gradients "
              f"-> {FLAGS.out}", file=sys.stderr)
        manifest = banding_data.make_banding_data(FLAGS.out, photos, config, processes=FLAGS.processes,
                                                  progress=FLAGS.progress, overwrite=FLAGS.overwrite)
    except banding_data.BandingDataError as e:
        raise SystemExit(f"make_banding_data: {e}")
    splits = manifest["splits"]
    print(f"make_banding_data: {splits['train']['examples']} train / {splits['val']['examples']} val examples "
          f"({manifest['shards']['cached']} of {manifest['shards']['total']} shards cached, "
          f"{manifest['seconds_this_run']:.1f} s) in {FLAGS.out}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
