#!/usr/bin/env python
"""Encoding throughput (images/s, 256x256) of gifnets' networks at batch 8 vs libimagequant, same run.

Every image of ``--images`` (short side resized to 256, centre crop) is encoded to a GIF at
``--colors``: by gifnets with :func:`gif_pipeline.encode.encode_batch` (the network palette,
``net+kmeans`` by default, and ``none`` or ``net`` dithering as one compiled TF call per batch,
then the GIF written; ``ed``: the batch's palettes, then the numpy error diffusion per image) and by
libimagequant (the ``imagequant`` wheel, one image at a time,
dithering 0 and 1, GIF written by the same writer). The first batch is a warm-up (graph tracing).
Rates are the median of ``--repeats`` passes; the ratio to libimagequant is the figure to quote,
as this machine is shared.

    python benchmarks/throughput.py [--images ../shared/data/val] [--colors 16] [--batch 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_crops(folder: str, size: int = 256, limit: int = 0) -> np.ndarray:
    from PIL import Image

    from gif_pipeline.data import images as data
    from gif_pipeline.io.images import load_image

    crops = []
    for path in data.list_image_files([folder])[: limit or None]:
        rgb = load_image(path, background=(255, 255, 255)).rgb
        h, w = rgb.shape[:2]
        s = size / min(h, w)
        im = Image.fromarray(rgb).resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BILINEAR)
        rgb = np.asarray(im)
        top, left = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
        crops.append(rgb[top:top + size, left:left + size])
    if not crops:
        raise SystemExit(f"no images in {folder}")
    return np.stack(crops)


def rate(fn, images: np.ndarray, batch: int, repeats: int) -> tuple[float, float]:
    """Median images/s of ``fn(batch_of_images)`` over the whole set, after one warm-up batch, and the median CPU
    milliseconds per image (the process's user + system time over all its threads: what a pass costs whatever the
    other jobs on the machine take, where the wall rate depends on the cores left to it)."""
    fn(images[:batch])
    rates, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(images), batch):
            fn(images[i:i + batch])
        rates.append(len(images) / (time.perf_counter() - start))
        cpu.append(1000.0 * (time.process_time() - start_cpu) / len(images))
    return statistics.median(rates), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="../shared/data/val", help="image folder (default: %(default)s)")
    parser.add_argument("--colors", default="16", help="comma-separated palette sizes (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=8, help="gifnets batch size (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the median is reported")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    parser.add_argument("--backends", default="tf", help="comma-separated gifnets backends, each a row set in the same "
                        "run: tf (one compiled call per batch), litert (the runtime: image by image, "
                        "$GIFNETS_BATCH_WORKERS at once, default one per CPU) (default: %(default)s)")
    parser.add_argument("--out", default=None, help="also write the table as Markdown here")
    args = parser.parse_args(argv)

    from gif_pipeline import encode
    from gif_pipeline.eval import peers
    from gif_pipeline.weights import registry

    images = load_crops(args.images, limit=args.limit)
    # Complete batches only, so that every call has the traced shape.
    images = images[: max(args.batch, len(images) // args.batch * args.batch)]
    lines = [f"Throughput on {len(images)} images of 256x256 from {args.images} (median of {args.repeats} passes, "
             f"images/s; gifnets at batch {args.batch}, libimagequant one image at a time; GIF writing included; "
             f"gifnets backends: {args.backends}).",
             "", "| colours | method | images/s | CPU ms/image | vs libimagequant d0 | vs libimagequant d1 |",
             "|---|---|---|---|---|---|"]
    for colors in (int(c) for c in args.colors.split(",")):
        liq = {level: rate(lambda b, lv=level: [peers.run_peer(f"libimagequant:d{lv}", rgb, colors) for rgb in b],
                           images, 1, args.repeats) for level in (0, 1)}
        rows = [(f"libimagequant d{lv}", r) for lv, r in liq.items()]
        backends = args.backends.split(",")
        for backend in backends:
            for palette in ("net", "net+kmeans"):
                for dither in ("none", "net", "ed"):
                    if encode.resolve_palette("auto", colors) != "net+kmeans" or (
                            dither == "net" and not any(c >= colors for c in registry.shipped_colors("dither"))):
                        continue  # no network installed for these colours (DitherNet: one trained for >= colours)
                    r = rate(lambda b, p=palette, d=dither, k=backend: encode.encode_batch(b, colors, p, d, backend=k),
                             images, args.batch, args.repeats)
                    label = f" ({backend})" if len(backends) > 1 else ""
                    rows.append((f"gifnets {palette} / {dither}{label}", r))
        for name, (r, ms) in rows:
            lines.append(f"| {colors} | {name} | {r:.1f} | {ms:.0f} | {r / liq[0][0]:.2f}x | {r / liq[1][0]:.2f}x |")
        print("\n".join(lines[-len(rows):]), flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:  # a report: replaced on every run, atomically
        from gif_pipeline.io import gif as gif_io

        gif_io.atomic_write(args.out, text.encode("utf-8"), force=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
