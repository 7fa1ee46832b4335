#!/usr/bin/env python
"""The GIFnets paper's Tables 1 and 2, re-done on a folder of held-out images with our models.

* Table 1: PSNR (dB) of Pillow-style median cut vs PaletteNet palettes, nearest colour, per Np.
  Each ``--palette NAME=PATH`` is a PaletteNet (InceptionV2 or PointNet backbone); it is measured
  at every ``--colors`` it serves: its own Np, its extra slot heads' sizes (``head_sizes``), or any
  smaller Np for a nested network (its first Np colours). The network reads the image downscaled to
  its trained ``input_size`` (a slot head reads the image's own pixels, as in ``gifnets encode``), and
  its palette is used as predicted (no Lloyd refinement: that is ``--palette net+kmeans``).
* Table 2: DitherNets (``--dither NAME=PATH``, e.g. trained with and without the banding loss) on
  the same palettes (``--dither_palette``, default kmeans) at ``--dither_colors``, next to no
  dithering and Floyd-Steinberg: PSNR, SSIM, WSNR, VMAF (libvmaf in the imageio-ffmpeg binary; ``--no-vmaf``
  skips it) and the banding teacher's score.

    python benchmarks/paper_tables.py --palette inception=gif_pipeline/weights/palette_np16.keras \\
        --palette pointnet=runs/pointnet_slots/palette_np16.keras --dither with_banding=runs/a/dither_net.keras
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _named_paths(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"{flag}: expected NAME=PATH, got {item!r}")
        if not os.path.exists(path):
            raise SystemExit(f"{flag}: no model at {path}")
        out[name] = path
    return out


def net_palette(net, rgb: np.ndarray, n: int) -> np.ndarray | None:
    """uint8 palette of ``n`` colours from PaletteNet ``net``, or None if it does not serve ``n``."""
    from gif_pipeline.layers.common import image_to_unit, palette_to_uint8
    from gif_pipeline.models.gifnets.graph import downscale_short_side

    config = net.config
    heads = getattr(net, "served_colors", [config.num_colors])
    if n not in heads and not (config.nested_sizes and n < config.num_colors):
        return None
    from gif_pipeline.models.gifnets.palette_net import head_pixels

    full = image_to_unit(rgb)[None]
    image = downscale_short_side(full, config.input_size)
    return palette_to_uint8(net.palette(image, n, pixels=head_pixels(net, full))[0])


def table1(pictures, palette_nets: dict, colors: list[int]) -> list[str]:
    from gif_pipeline.metrics import image as metrics
    from gif_pipeline.quant import dithering, palettes

    lines = ["## Table 1: palette PSNR (dB), nearest colour", "",
             "| Np | median cut | " + " | ".join(palette_nets) + " |", "|---:|---:|" + "---:|" * len(palette_nets)]
    for n in colors:
        scores = []
        for rgb in pictures:
            pal = palettes.make_palette(rgb, n, "median-cut")
            scores.append(metrics.psnr(rgb, pal[dithering.remap(rgb, pal, "none")]))
        cells = [np.mean(scores)]
        for net in palette_nets.values():
            scores = []
            for rgb in pictures:
                pal = net_palette(net, rgb, n)
                if pal is None:
                    break
                scores.append(metrics.psnr(rgb, pal[dithering.remap(rgb, pal, "none")]))
            cells.append(np.mean(scores) if scores else None)
        lines.append(f"| {n} | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + " |")
        print(lines[-1], flush=True)
    return lines


def table2(pictures, dither_nets: dict, n: int, palette_method: str, with_vmaf: bool = True) -> list[str]:
    from gif_pipeline import encode
    from gif_pipeline.eval import bench
    from gif_pipeline.layers.common import image_to_unit
    from gif_pipeline.quant import dithering
    from gif_pipeline.quant.projection import hard_projection

    rows = {name: [] for name in ["none", "fs", *dither_nets]}
    for rgb in pictures:
        pal = encode.PALETTE_STAGES[palette_method](rgb, n)
        outs = {"none": dithering.remap(rgb, pal, "none"), "fs": dithering.remap(rgb, pal, "fs")}
        unit, image = pal.astype(np.float32) / 127.5 - 1.0, image_to_unit(rgb)[None]
        _, quantized = hard_projection(image, unit)
        for name, net in dither_nets.items():
            indices, _ = hard_projection(image + net([image, quantized], training=False), unit)
            outs[name] = indices.numpy()[0]
        for name, idx in outs.items():
            measured = bench.measure_quality(rgb, pal[idx], with_vmaf)
            rows[name].append([measured[k] for k in ("psnr", "ssim", "wsnr", "vmaf", "banding")])
    lines = [f"## Table 2: dithering at Np = {n} on {palette_method} palettes", "",
             "| dither | PSNR dB | SSIM | WSNR dB | VMAF | banding |", "|---|---:|---:|---:|---:|---:|"]
    for name, values in rows.items():
        values = np.array(values, dtype=np.float64)
        m = values.mean(axis=0)
        m[3] = np.nanmean(values[:, 3]) if with_vmaf else np.nan  # NaN for an image too small for VMAF
        vmaf = "–" if np.isnan(m[3]) else f"{m[3]:.2f}"
        lines.append(f"| {name} | {m[0]:.2f} | {m[1]:.4f} | {m[2]:.2f} | {vmaf} | {m[4]:.3f} |")
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default="../shared/data/val", help="held-out image folder (default: %(default)s)")
    p.add_argument("--palette", action="append", default=[], help="NAME=PATH of a PaletteNet (repeatable)")
    p.add_argument("--dither", action="append", default=[], help="NAME=PATH of a DitherNet (repeatable)")
    p.add_argument("--colors", default="16,32,64,128,256", help="Table 1 palette sizes (default: %(default)s)")
    p.add_argument("--dither_colors", type=int, default=16, help="Table 2 palette size (default: %(default)s)")
    p.add_argument("--dither_palette", default="kmeans", help="Table 2 palette method (default: %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    p.add_argument("--out", default=None, help="also write the tables as Markdown here")
    p.add_argument("--no-vmaf", action="store_true", help="Table 2 without VMAF (it calls ffmpeg per image)")
    args = p.parse_args(argv)
    palette_paths, dither_paths = _named_paths(args.palette, "--palette"), _named_paths(args.dither, "--dither")
    if not palette_paths and not dither_paths:
        raise SystemExit("give at least one --palette or --dither model")

    from gif_pipeline.data import images as data
    from gif_pipeline.io.images import load_image
    from gif_pipeline.weights import registry

    files = data.list_image_files([args.images])[: args.limit or None]
    if not files:
        raise SystemExit(f"no images in {args.images}")
    pictures = [load_image(f, background=(255, 255, 255)).rgb for f in files]
    lines = [f"# GIFnets Tables 1 and 2 on {len(files)} images of {args.images}", ""]
    if palette_paths:
        nets = {name: registry.load("palette", explicit=path) for name, path in palette_paths.items()}
        lines += table1(pictures, nets, [int(c) for c in args.colors.split(",")]) + [""]
        lines += [f"- {name}: `{path}`" for name, path in palette_paths.items()] + [""]
    if dither_paths:
        nets = {name: registry.load("dither", explicit=path) for name, path in dither_paths.items()}
        lines += table2(pictures, nets, args.dither_colors, args.dither_palette, not args.no_vmaf) + [""]
        lines += [f"- {name}: `{path}`" for name, path in dither_paths.items()] + [""]
    text = "\n".join(lines)
    if args.out:  # a report: replaced on every run, atomically
        from gif_pipeline.io import gif as gif_io

        gif_io.atomic_write(args.out, text.encode("utf-8"), force=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
