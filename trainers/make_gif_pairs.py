"""Make a cache of (GIF, original) training pairs for trainers/train_ccdnet and train_gif_classifier.

  python -m trainers.make_gif_pairs --data=../shared/data/train --split=train --dithers=none \
      --regions=3000 --seed=1 --out=runs/restore_cache/plain_train.npz
"""
from __future__ import annotations

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("data", ["../shared/data/train"], "Photo folder(s).", allow_override=True)
flags.DEFINE_enum("split", "train", ["train", "val", "all"], "The stable 80/20 hash split of the files.", allow_override=True)
flags.DEFINE_list("palettes", None, "Palette methods (default: all of gif_pairs.PALETTE_METHODS).", allow_override=True)
flags.DEFINE_list("dithers", ["none"], "Dither methods (none, fs, bayer, dithernet).", allow_override=True)
flags.DEFINE_integer("regions", 3000, "Quantized regions (each gives --crops_per_region crops).", allow_override=True)
flags.DEFINE_integer("crop", 64, "Training crop size.", allow_override=True)
flags.DEFINE_integer("region", 256, "Quantized region size.", allow_override=True)
flags.DEFINE_integer("crops_per_region", 4, "Crops cut from each region.", allow_override=True)
flags.DEFINE_integer("min_colors", 16, "Smallest palette.", allow_override=True)
flags.DEFINE_integer("max_colors", 256, "Largest palette.", allow_override=True)
flags.DEFINE_integer("seed", 1, "Seed: pair i is a function of (seed, i).", allow_override=True)
flags.DEFINE_integer("threads", 1, "TensorFlow intra/inter-op threads (k-means, DitherNet).", allow_override=True)
flags.DEFINE_string("out", None, "Output .npz.", allow_override=True)
flags.mark_flag_as_required("out")


def main(argv):
    del argv
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    from gif_pipeline.data import gif_pairs
    from gif_pipeline.data.images import list_image_files, split_files

    files = split_files(list_image_files(FLAGS.data), FLAGS.split)
    config = gif_pairs.PairConfig(crop=FLAGS.crop, region=FLAGS.region, crops_per_region=FLAGS.crops_per_region,
                                  min_colors=FLAGS.min_colors, max_colors=FLAGS.max_colors,
                                  palettes=tuple(FLAGS.palettes or gif_pairs.PALETTE_METHODS),
                                  dithers=tuple(FLAGS.dithers), seed=FLAGS.seed)
    arrays = gif_pairs.build_cache(files, FLAGS.regions, config, FLAGS.out)
    print(f"wrote {FLAGS.out}: {len(arrays['gif'])} pairs from {len(files)} photos")


if __name__ == "__main__":
    app.run(main)
