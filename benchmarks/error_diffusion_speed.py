#!/usr/bin/env python
"""Time per image of ``--dither ed`` (gifnets' error diffusion, :mod:`gif_pipeline.quant.error_diffusion`) against
Pillow's Floyd–Steinberg (``fs``) and the exact nearest colour (``none``), at 256x256 (the val photos) and at a
larger size (each photo resized), with the wavefront over the whole image (one strip) and over strips.

Palettes are Pillow's median cut of each image; times are the fastest of ``--repeats`` runs, median over images,
as wall / CPU milliseconds (CPU: this process's time, which other jobs on a shared machine change less).

    python benchmarks/error_diffusion_speed.py [--images DIR] [--colors 16,64,256] [--count 8] [--repeats 3]
        [--large 1200x800]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_IMAGES = os.path.join(ROOT, "..", "shared", "data", "val")


def _best_ms(call, repeats: int) -> tuple[float, float]:
    """Fastest wall and fastest CPU (this process) milliseconds of ``repeats`` calls after a warm-up."""
    call()  # warm-up
    wall = cpu = math.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall * 1e3, cpu * 1e3


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return w, h


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=DEFAULT_IMAGES, help="image folder (default: ../shared/data/val)")
    p.add_argument("--colors", default="16,64,256", help="palette sizes (default: %(default)s)")
    p.add_argument("--count", type=int, default=8, help="first N images (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per image, fastest kept (default: %(default)s)")
    p.add_argument("--large", type=_size, default=(1200, 800), help="the larger size, WxH (default: 1200x800)")
    args = p.parse_args(argv)
    try:
        colors = [int(c) for c in args.colors.split(",")]
    except ValueError:
        p.error(f"--colors: expected comma-separated integers, got {args.colors!r}")
    if not colors or not all(2 <= c <= 256 for c in colors):
        p.error(f"--colors: every size must be in 2..256, got {args.colors!r}")
    if args.count < 1 or args.repeats < 1:
        p.error("--count and --repeats must be >= 1")

    import numpy as np
    from PIL import Image

    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.eval import bench
    from gif_pipeline.io.images import load_image
    from gif_pipeline.quant import dithering
    from gif_pipeline.quant.error_diffusion import error_diffusion

    try:
        files = bench.find_images(args.images)[:args.count]
    except GifnetsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not files:
        print(f"error: no images in {args.images}", file=sys.stderr)
        return 2
    one_strip = dict(dithering.ED_SETTINGS, strip_rows=1 << 30)
    methods = {"none": lambda rgb, pal: dithering.remap(rgb, pal, "none"),
               "fs (Pillow)": lambda rgb, pal: dithering.remap(rgb, pal, "fs"),
               "ed": lambda rgb, pal: dithering.remap(rgb, pal, "ed"),
               "ed, one strip": lambda rgb, pal: error_diffusion(rgb, pal, **one_strip)}
    print(f"Median over {len(files)} images of the fastest of {args.repeats} runs, ms per image (wall / CPU).\n")
    print("| size | colours | " + " | ".join(methods) + " |")
    print("|---|---:|" + "---:|" * len(methods))
    for size in ("256x256", "x".join(map(str, args.large))):
        times = {(n, m): [] for n in colors for m in methods}
        for path in files:
            rgb = load_image(path, background=(255, 255, 255)).rgb
            if size != "256x256":
                rgb = np.asarray(Image.fromarray(rgb).resize(args.large, Image.Resampling.BICUBIC))
            source = Image.fromarray(rgb)
            for n in colors:
                pal = np.asarray(source.quantize(n, method=Image.Quantize.MEDIANCUT).getpalette(), np.uint8)
                pal = pal.reshape(-1, 3)[:n]
                for m, fn in methods.items():
                    times[n, m].append(_best_ms(lambda: fn(rgb, pal), args.repeats))
        label = size if size != "256x256" else "256x256 (as stored)"
        for n in colors:
            cells = [f"{statistics.median(t[0] for t in times[n, m]):.1f} / {statistics.median(t[1] for t in times[n, m]):.1f}"
                     for m in methods]
            print(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
