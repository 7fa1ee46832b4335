"""Does a PaletteNet use the image? Its palettes against one image-blind code, on held-out images.

    python benchmarks/palette_blind_code.py --model gif_pipeline/weights/palette_np16.keras
    python benchmarks/palette_blind_code.py --model gif_pipeline/weights/palette_np16.keras --colors 16,64,256

For every image the network reads it at its ``input_size`` as ``gifnets encode`` does. The "blind"
palette feeds the head the mean pooled feature of all the images instead of the image's own, so
the only things left that depend on the image are what the head reads from the pixels themselves:
the whitened output's colour mean and covariance (``output == "whitened"``), or the slot head's
per-pixel assignment (``head == "slots"``); the paper's direct head gives one fixed palette. If the
network's PSNR is not above the blind code's, it has learnt one codebook, not image-specific palettes
(docs/experiments/gifnets.md, PaletteNet). Prints a Markdown table
of mean PSNR (nearest colour, uint8 palettes) per palette size, with Pillow's median cut beside it.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a PaletteNet .keras file")
    p.add_argument("--images", default="../shared/data/val", help="held-out image folder (default: %(default)s)")
    p.add_argument("--colors", default="", help="palette sizes, comma-separated (default: the network's Np)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    args = p.parse_args(argv)

    import tensorflow as tf

    from gif_pipeline.data import images as data
    from gif_pipeline.io.images import load_image
    from gif_pipeline.layers.common import image_to_unit, palette_to_uint8
    from gif_pipeline.metrics.image import psnr
    from gif_pipeline.models.gifnets.graph import downscale_short_side
    from gif_pipeline.models.gifnets.palette_net import head_pixels
    from gif_pipeline.quant import dithering, palettes
    from gif_pipeline.weights import registry

    net = registry.load("palette", explicit=args.model)
    if net.pool is None:
        print("needs an InceptionV2 PaletteNet (PointNet has no pooled feature to average)", file=sys.stderr)
        return 2
    try:
        sizes = [int(c) for c in args.colors.split(",")] if args.colors else [net.num_colors]
    except ValueError:
        print(f"--colors: expected integers, got {args.colors}", file=sys.stderr)
        return 2
    heads = getattr(net, "served_colors", [net.num_colors])
    if any(not 2 <= c <= net.num_colors and c not in heads for c in sizes):
        print(f"--colors must be in 2..{net.num_colors} or one of {heads} for this network", file=sys.stderr)
        return 2
    paths = data.list_image_files([args.images])[: args.limit or None]
    if not paths:
        print(f"no images in {args.images}", file=sys.stderr)
        return 2
    images = [load_image(path, background=(255, 255, 255)).rgb for path in paths]
    inputs = [downscale_short_side(image_to_unit(rgb)[tf.newaxis], net.config.input_size) for rgb in images]
    pixels = [head_pixels(net, image_to_unit(rgb)[tf.newaxis]) for rgb in images]  # as gifnets encode
    features = [net.pooled_features(x) for x in inputs]
    blind_code = tf.reduce_mean(tf.concat(features, 0), 0, keepdims=True)

    rows = {c: [] for c in sizes}
    for rgb, x, pix in zip(images, inputs, pixels):
        for c in sizes:
            head = c if c in heads else None  # a head of its own, else the first c colours of the network's
            own = palette_to_uint8(net.palette(x, head, pixels=pix)[0])[:c]
            blind = palette_to_uint8(net.palette_head(x if pix is None else pix, blind_code, head)[0])[:c]
            scores = [psnr(rgb, pal[dithering.nearest(rgb, pal)]) for pal in (own, blind)]
            rows[c].append(scores + [psnr(rgb, (mc := palettes.median_cut(rgb, c))[dithering.nearest(rgb, mc)])])
    print(f"{os.path.basename(args.model)} on {len(images)} images of {args.images} (mean PSNR dB)\n")
    print("| colours | network | image-blind code | median cut |\n|---:|---:|---:|---:|")
    for c in sizes:
        net_db, blind_db, mc_db = np.mean(rows[c], axis=0)
        print(f"| {c} | {net_db:.2f} | {blind_db:.2f} | {mc_db:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
