"""The LiteRT runtime against the Keras float32 path, side by side (issue #24): same GIFs?

    python benchmarks/runtime_equivalence.py ../shared/data/val [--colors 16 32 64 128 256] [--no-vmaf]

Encodes every image of the folder with ``gifnets encode``'s defaults (palette ``net+kmeans``; DitherNet up to 64
colours, Floyd-Steinberg above) on both backends: ``tf`` in float32 (``GIFNETS_PRECISION=float32``, no XLA:
``GIFNETS_XLA=off``, as the CLI runs single images) and ``litert``. Prints one row per palette size: the share of
pixels with the same palette index, of pixels with the same decoded colour and of images with the same palette,
the mean PSNR / WSNR / VMAF of each backend and their largest per-image difference, GIF bytes, and the time per
image of each backend (warm).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["GIFNETS_PRECISION"] = "float32"
os.environ["GIFNETS_XLA"] = "off"

import numpy as np  # noqa: E402

from gif_pipeline import encode  # noqa: E402
from gif_pipeline.eval.bench import find_images  # noqa: E402
from gif_pipeline.io import images as image_io  # noqa: E402
from gif_pipeline.metrics import image as metrics  # noqa: E402

BACKENDS = ("tf", "litert")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("images")
    p.add_argument("--colors", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    p.add_argument("--no-vmaf", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="first N images only")
    args = p.parse_args(argv)
    files = find_images(args.images)[: args.limit or None]
    rgbs = [image_io.load_image(f).rgb for f in files]
    for backend in BACKENDS:  # warm up: load the networks, trace the TF functions
        encode.encode_image(rgbs[0], 16, backend=backend)
        encode.encode_image(rgbs[0], 256, backend=backend)
    print(f"{len(files)} images from {args.images}; tf = Keras float32 (no XLA), litert = the .tflite runtime\n")
    print("| Np | same index | same colour | same palette | PSNR tf / litert (max |d|) | WSNR tf / litert (max |d|) "
          "| VMAF tf / litert (max |d|) | bytes tf / litert (max rel d) | ms tf / litert |")
    print("|---:|---:|---:|---:|---|---|---|---|---|")
    worst = {}
    for n in args.colors:
        same_idx = same_col = total = same_pal = 0
        rows = {b: {"psnr": [], "wsnr": [], "vmaf": [], "bytes": [], "ms": []} for b in BACKENDS}
        for rgb in rgbs:
            out = {}
            for b in BACKENDS:
                t = time.perf_counter()
                r = encode.encode_image(rgb, n, backend=b)
                rows[b]["ms"].append(1000 * (time.perf_counter() - t))
                out[b] = r
                rows[b]["psnr"].append(metrics.psnr(rgb, r.rgb))
                rows[b]["wsnr"].append(metrics.wsnr(rgb, r.rgb))
                rows[b]["bytes"].append(len(r.gif_bytes))
                if not args.no_vmaf:
                    from gif_pipeline.metrics import cambi

                    rows[b]["vmaf"].append(cambi.vmaf(rgb, r.rgb))
            a, b = out["tf"], out["litert"]
            same_idx += int(np.sum(a.indices == b.indices))
            same_col += int(np.sum(np.all(a.rgb == b.rgb, axis=-1)))
            same_pal += int(np.array_equal(a.palette, b.palette))
            total += a.indices.size

        def cell(key, fmt, rel=False):
            x, y = np.asarray(rows["tf"][key], float), np.asarray(rows["litert"][key], float)
            if not len(x):
                return "-"
            d = np.max(np.abs(y - x) / (x if rel else 1.0))
            worst[(n, key)] = float(d)
            return f"{fmt.format(x.mean())} / {fmt.format(y.mean())} ({d:.2%})" if rel else \
                f"{fmt.format(x.mean())} / {fmt.format(y.mean())} ({d:.3f})"

        worst[(n, "index")] = same_idx / total
        print(f"| {n} | {same_idx / total:.4%} | {same_col / total:.4%} | {same_pal}/{len(rgbs)} | "
              f"{cell('psnr', '{:.3f}')} | {cell('wsnr', '{:.3f}')} | {cell('vmaf', '{:.2f}')} | "
              f"{cell('bytes', '{:,.0f}', rel=True)} | {np.median(rows['tf']['ms']):.0f} / "
              f"{np.median(rows['litert']['ms']):.0f} |", flush=True)
    bad = [f"Np={n} {k}: {v:.4g}" for (n, k), v in worst.items()
           if (k == "index" and v < 0.999) or (k in ("psnr", "wsnr") and v > 0.02) or (k == "vmaf" and v > 0.1)
           or (k == "bytes" and v > 0.005)]
    print("\nTargets (>= 99.9 % same index; PSNR/WSNR within 0.02 dB, VMAF within 0.1, bytes within 0.5 %, per image): "
          + ("all met" if not bad else "NOT met: " + "; ".join(bad)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
