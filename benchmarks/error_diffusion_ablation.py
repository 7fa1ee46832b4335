#!/usr/bin/env python
"""Settings of the error diffusion (``--dither ed``) side by side with Pillow's Floyd–Steinberg and libimagequant.

Every image gets gifnets' ``net+kmeans`` palette (cached per size in ``--cache``); each variant (a JSON object of
keyword arguments of :func:`gif_pipeline.quant.error_diffusion.error_diffusion`, or ``"fs"``, or ``"liq"`` for
libimagequant with dithering 1 and its own palette) maps the image onto it. Prints mean PSNR, WSNR (32.98 and 120
pixels per degree), GIF bytes, ms and, with ``--vmaf``, VMAF.

    python benchmarks/error_diffusion_ablation.py --colors 128,256 \\
        --variants '{"liq": "liq", "fs": "fs", "plain": {"attenuation": 1, "limit": false, "dither_map": false}}'
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "data", "val"))
    p.add_argument("--colors", default="128,256")
    p.add_argument("--variants", required=True, help="JSON object: name -> kwargs, \"fs\" or \"liq\"")
    p.add_argument("--vmaf", action="store_true")
    p.add_argument("--cache", default="/tmp/ed_ablation", help="folder for the cached palettes")
    args = p.parse_args(argv)
    try:
        variants = json.loads(args.variants)
        colors = [int(c) for c in args.colors.split(",")]
    except ValueError as e:
        p.error(str(e))

    import numpy as np

    from gif_pipeline import encode
    from gif_pipeline.eval import bench, peers
    from gif_pipeline.io import gif as gif_io
    from gif_pipeline.io.images import load_image
    from gif_pipeline.metrics import image as metrics
    from gif_pipeline.quant import dithering
    from gif_pipeline.quant import error_diffusion as ed

    images = [load_image(f, background=(255, 255, 255)).rgb for f in bench.find_images(args.images)]
    os.makedirs(args.cache, exist_ok=True)
    for n in colors:
        path = os.path.join(args.cache, f"palettes_{n}.npz")
        if os.path.exists(path):
            saved = np.load(path)
            palettes = [saved[f"p{i}"] for i in range(len(images))]
        else:
            palettes = [encode.PALETTE_STAGES["net+kmeans"](x, n, seed=0, iterations=None) for x in images]
            np.savez(path, **{f"p{i}": pal for i, pal in enumerate(palettes)})
        for name, kw in variants.items():
            rows = []
            for x, pal in zip(images, palettes):
                start = time.perf_counter()
                if kw == "liq":
                    r = peers.run_peer("libimagequant:d1", x, n)
                    out, size = r.rgb, len(r.gif_bytes)
                else:
                    idx = dithering.remap(x, pal, "fs") if kw == "fs" else ed.error_diffusion(x, pal, **kw)
                    out, size = pal[idx], len(gif_io.encode_gif(idx, pal))
                row = [metrics.psnr(x, out), metrics.wsnr(x, out), metrics.wsnr(x, out, pixels_per_deg=120.0), size,
                       (time.perf_counter() - start) * 1e3]
                if args.vmaf:
                    from gif_pipeline.metrics import cambi

                    row.append(cambi.vmaf(x, out))
                rows.append(row)
            m = np.mean(rows, axis=0)
            print(f"| {n} | {name} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:,.0f} | {m[4]:.1f} |"
                  + (f" {m[5]:.2f} |" if args.vmaf else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
