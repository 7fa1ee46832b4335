#!/usr/bin/env python
"""Time per image of ``--dither none``'s exact nearest-colour mapping (``dithering.nearest``) against Pillow's
remapping onto the same palette (its 6-bit cache, not exact), with and without TensorFlow loaded.

Each setting runs in its own process that holds one image at a time, and the first image is reported
apart, because what the process has done before matters: before the mapping reused its buffers, glibc
mapped and trimmed memory for every chunk in a fresh process without TensorFlow (its first 256x256 photo at
256 colours: 64 ms, now 10 ms; docs/experiments/gifnets.md). Palettes are Pillow's median cut of each image.

    python benchmarks/remap_speed.py [--images DIR] [--colors 16,64,256] [--count 24] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_IMAGES = os.path.join(ROOT, "..", "shared", "data", "val")


def _worker(images_dir: str, colors: list[int], count: int, repeats: int, with_tf: bool) -> dict:
    """Per palette size, ms of ours and Pillow's mapping in this process: the first image's and the median image's."""
    if with_tf:
        import tensorflow  # noqa: F401  (what ``gifnets encode`` has loaded)
    import numpy as np
    from PIL import Image

    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.eval import bench
    from gif_pipeline.io.images import load_image
    from gif_pipeline.quant import dithering

    try:
        files = bench.find_images(images_dir)[:count]  # the bench's listing; data.list_image_files loads TensorFlow
    except GifnetsError as e:
        raise SystemExit(str(e)) from None
    if not files:
        raise SystemExit(f"no images in {images_dir}")
    runs = {n: ([], []) for n in colors}
    for path in files:  # one image held at a time, as in a script that encodes one photo
        rgb = load_image(path, background=(255, 255, 255)).rgb
        source = Image.fromarray(rgb)
        for n in colors:
            # Pillow's median cut directly: palettes.median_cut would load TensorFlow.
            palette = np.asarray(source.quantize(n, method=Image.Quantize.MEDIANCUT).getpalette(), np.uint8)
            palette = palette.reshape(-1, 3)[:n]

            def pillow_remap():  # a new palette image each time: Pillow caches lookups in it
                target = dithering._palette_image(palette)
                return np.asarray(source.quantize(palette=target, dither=Image.Dither.NONE))

            for times, call in zip(runs[n], (lambda: dithering.nearest(rgb, palette), pillow_remap)):
                call()  # warm-up
                best = math.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    call()
                    best = min(best, time.perf_counter() - start)
                times.append(best * 1e3)
    out = {n: {"ours": statistics.median(ours), "pillow": statistics.median(pillow), "ours_first": ours[0],
               "pillow_first": pillow[0], "images": len(files)} for n, (ours, pillow) in runs.items()}
    if ("tensorflow" in sys.modules) != with_tf:
        raise SystemExit(f"TensorFlow loaded: {'tensorflow' in sys.modules}, expected {with_tf}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=DEFAULT_IMAGES, help="image folder (default: ../shared/data/val)")
    p.add_argument("--colors", default="16,64,256", help="palette sizes (default: %(default)s)")
    p.add_argument("--count", type=int, default=24, help="first N images (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per image, fastest kept (default: %(default)s)")
    p.add_argument("--worker", choices=["plain", "tf"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        colors = [int(c) for c in args.colors.split(",")]
    except ValueError:
        raise SystemExit(f"--colors: expected integers separated by commas, got {args.colors!r}") from None
    if not all(2 <= c <= 256 for c in colors) or args.count < 1 or args.repeats < 1:
        raise SystemExit("--colors must be in 2..256, --count and --repeats at least 1")
    if args.worker:
        print(json.dumps(_worker(args.images, colors, args.count, args.repeats, args.worker == "tf")))
        return 0

    results = {}
    for setting in ("plain", "tf"):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        run = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", setting, "--images", args.images,
                              "--colors", args.colors, "--count", str(args.count), "--repeats", str(args.repeats)],
                             capture_output=True, text=True, env=env)
        if run.returncode:
            sys.stderr.write(run.stderr)
            return run.returncode
        results[setting] = {int(k): v for k, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}
    images = results["plain"][colors[0]]["images"]
    print(f"Nearest-colour mapping, ms per image on {images} images of {args.images} (fastest of {args.repeats} "
          f"runs each): the process's first image, and the median over all\n")
    print("| colours | setting | gifnets (exact), first / median | Pillow remap (6-bit cache), first / median "
          "| gifnets / Pillow, median |")
    print("|---:|---|---:|---:|---:|")
    for n in colors:
        for setting, label in (("plain", "TensorFlow not loaded"), ("tf", "TensorFlow loaded")):
            r = results[setting][n]
            print(f"| {n} | {label} | {r['ours_first']:.2f} / {r['ours']:.2f} | {r['pillow_first']:.2f} / "
                  f"{r['pillow']:.2f} | {r['ours'] / r['pillow']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
