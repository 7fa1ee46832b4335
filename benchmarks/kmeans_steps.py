"""How many Lloyd steps should ``net+kmeans`` take? PSNR and time per step count, against libimagequant.

    python benchmarks/kmeans_steps.py
    python benchmarks/kmeans_steps.py --colors 128,256 --steps 15,12,10

Runs on the trainers' held-out split of ``--data`` (``data.split_files(..., "val")``), not on the val
folder the committed results are measured on, so choosing ``encode.KMEANS_REFINE_ITERATIONS`` here does
not tune it to them. Every image is a centre crop of ``--size`` pixels after scaling its short side to
it. Each method encodes the image to a GIF as ``gifnets encode --palette net+kmeans --dither none``
does (the installed PaletteNet, nearest-colour mapping, ``gif_io.encode_gif``); libimagequant (dithering
0) is timed the same way, interleaved image by image. Prints a Markdown table of mean PSNR (dB) and
mean milliseconds per image; the first two images of each method warm up and are not counted.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise SystemExit(f"{flag}: expected non-negative integers separated by commas, got {text!r}")
    return values


def centre_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` scaled (Lanczos) so its short side is ``size``, then its central ``size`` x ``size`` pixels."""
    from PIL import Image

    im = Image.fromarray(rgb)
    scale = size / min(im.size)
    im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))), Image.LANCZOS)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/train", help="image folder whose held-out split is used "
                   "(default: %(default)s)")
    p.add_argument("--count", type=int, default=40, help="use the first N held-out images (default: %(default)s)")
    p.add_argument("--size", type=int, default=256, help="centre-crop side in pixels (default: %(default)s)")
    p.add_argument("--colors", default="16,32,64,128,256", help="palette sizes (default: %(default)s)")
    p.add_argument("--steps", default="15,10", help="Lloyd step counts to compare (default: %(default)s)")
    args = p.parse_args(argv)
    sizes, steps = _ints(args.colors, "--colors"), _ints(args.steps, "--steps")
    if args.count < 1 or args.size < 16:
        raise SystemExit("--count must be >= 1 and --size >= 16")

    from gif_pipeline import encode
    from gif_pipeline.data import images as data
    from gif_pipeline.eval import peers
    from gif_pipeline.io import gif as gif_io
    from gif_pipeline.io.images import load_image
    from gif_pipeline.metrics.image import psnr
    from gif_pipeline.quant import dithering

    paths = data.split_files(data.list_image_files([args.data]), "val")[:args.count]
    if not paths:
        print(f"no images in {args.data}", file=sys.stderr)
        return 2
    images = [centre_crop(load_image(path, background=(255, 255, 255)).rgb, args.size) for path in paths]
    stage = encode.PALETTE_STAGES["net+kmeans"]
    liq, skipped = peers.available_peers(["libimagequant:d0"])

    def ours(k):
        def run(rgb, n):
            palette = stage(rgb, n, iterations=k)
            indices = dithering.nearest(rgb, palette)
            return gif_io.encode_gif(indices, palette), indices, palette
        return run

    methods = {f"{k} steps": ours(k) for k in steps}
    methods.update({"libimagequant d0": peer.encode for peer in liq})
    print(f"net+kmeans on {len(images)} held-out images of {args.data} ({args.size}x{args.size}; mean PSNR dB, "
          f"ms per image){'; skipped: ' + ', '.join(skipped.values()) if skipped else ''}\n")
    print("| colours | " + " | ".join(methods) + " |\n|---:|" + "---|" * len(methods))
    for n in sizes:
        scores = {name: ([], []) for name in methods}
        warm = images[:2]  # the first two warm up, then every image is timed
        for i, rgb in enumerate(warm + images):
            for name, run in methods.items():
                start = time.perf_counter()
                _, indices, palette = run(rgb, n)
                seconds = time.perf_counter() - start
                if i >= len(warm):
                    scores[name][0].append(psnr(rgb, np.asarray(palette)[np.asarray(indices)]))
                    scores[name][1].append(seconds)
        print(f"| {n} | " + " | ".join(f"{np.mean(db):.2f} dB, {1000 * np.mean(s):.1f} ms"
                                       for db, s in scores.values()) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
