"""The LiteRT runtime against the Keras float32 path, side by side (issue #24): same GIFs?

    python benchmarks/runtime_equivalence.py ../shared/data/val [--colors 16 32 64 128 256] [--no-vmaf]
    python benchmarks/runtime_equivalence.py ../shared/data/val --candidate DIR [--reference results/val]

Encodes every image of the folder with ``gifnets encode``'s defaults (palette ``net+kmeans``; DitherNet up to 64
colours, Floyd-Steinberg above) on both backends: ``tf`` in float32 (``GIFNETS_PRECISION=float32``, no XLA:
``GIFNETS_XLA=off``, as the CLI runs single images) and ``litert``. Prints one row per palette size: the share of
pixels with the same palette index, of pixels with the same decoded colour and of images with the same palette,
the mean PSNR / WSNR / VMAF of each backend and their largest per-image difference, GIF bytes, and the time per
image of each backend (warm).

``--candidate DIR``: a third column set, ``cand`` = LiteRT on the ``.tflite`` files of weights folder ``DIR`` (e.g.
float16 exports: ``python -m export.export_runtime --weights DIR --encode-precision float16``), with its tables
against ``tf``, against the shipped ``litert`` files and against ``--reference`` (a ``gifnets bench`` output folder's
``results.csv``, per image, the default mode's rows: ``net+kmeans:net`` up to 64 colours, ``net+kmeans:fs`` above).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
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

KEYS = ("psnr", "wsnr", "vmaf", "bytes", "ms")


@contextlib.contextmanager
def _weights(folder: str | None):
    saved = os.environ.get("GIFNETS_WEIGHTS")
    if folder:
        os.environ["GIFNETS_WEIGHTS"] = folder
    try:
        yield
    finally:
        if folder:
            if saved is None:
                os.environ.pop("GIFNETS_WEIGHTS", None)
            else:
                os.environ["GIFNETS_WEIGHTS"] = saved


def _reference(folder: str, root: str, files: list[str], n: int) -> dict | None:
    """Per-image PSNR / WSNR / VMAF / bytes of the default mode at ``n`` colours in ``folder/results.csv``."""
    path = os.path.join(folder, "results.csv")
    if not os.path.exists(path):
        return None
    method = "gifnets:net+kmeans:net" if n <= 64 else "gifnets:net+kmeans:fs"
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["method"] == method and int(r["colors"]) == n:
                rows[r["image"]] = r
    keys = [os.path.relpath(f, root) for f in files]
    if not all(k in rows for k in keys):
        return None
    return {"psnr": [float(rows[k]["psnr"]) for k in keys], "wsnr": [float(rows[k]["wsnr"]) for k in keys],
            "vmaf": [float(rows[k]["vmaf"]) if rows[k]["vmaf"] else np.nan for k in keys],
            "bytes": [float(rows[k]["gif_bytes"]) for k in keys], "ms": [float(rows[k]["ms"]) for k in keys]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("images")
    p.add_argument("--colors", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    p.add_argument("--no-vmaf", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="first N images only")
    p.add_argument("--candidate", metavar="DIR", default=None,
                   help="also LiteRT on the .tflite files of weights folder DIR ('cand')")
    p.add_argument("--reference", metavar="DIR", default="results/val",
                   help="with --candidate: a gifnets bench output folder to compare with (default: %(default)s)")
    args = p.parse_args(argv)
    files = find_images(args.images)[: args.limit or None]
    rgbs = [image_io.load_image(f).rgb for f in files]
    backends = {"tf": ("tf", None), "litert": ("litert", None)}
    if args.candidate:
        backends["cand"] = ("litert", os.path.abspath(args.candidate))
    for backend, folder in backends.values():  # warm up: load the networks, trace the TF functions
        with _weights(folder):
            encode.encode_image(rgbs[0], 16, backend=backend)
            encode.encode_image(rgbs[0], 256, backend=backend)
    print(f"{len(files)} images from {args.images}; tf = Keras float32 (no XLA), litert = the .tflite runtime"
          + (f", cand = LiteRT on {args.candidate}" if args.candidate else "") + "\n")
    pairs = [("tf", "litert")] + ([("tf", "cand"), ("litert", "cand")] if args.candidate else [])
    results = {}  # n -> (rows, outs)
    for n in args.colors:
        rows = {b: {k: [] for k in KEYS} for b in backends}
        outs = {b: [] for b in backends}
        for rgb in rgbs:
            for b, (backend, folder) in backends.items():
                with _weights(folder):
                    t = time.perf_counter()
                    r = encode.encode_image(rgb, n, backend=backend)
                    rows[b]["ms"].append(1000 * (time.perf_counter() - t))
                outs[b].append(r)
                rows[b]["psnr"].append(metrics.psnr(rgb, r.rgb))
                rows[b]["wsnr"].append(metrics.wsnr(rgb, r.rgb))
                rows[b]["bytes"].append(len(r.gif_bytes))
                if not args.no_vmaf:
                    from gif_pipeline.metrics import cambi

                    rows[b]["vmaf"].append(cambi.vmaf(rgb, r.rgb))
        if args.candidate:
            ref = _reference(args.reference, os.path.abspath(args.images), [os.path.abspath(f) for f in files], n)
            if ref is not None:
                rows["ref"] = ref
        results[n] = (rows, outs)
        print(f"(Np {n} done)", file=sys.stderr, flush=True)
    if args.candidate and all("ref" in results[n][0] for n in args.colors):
        pairs.append(("ref", "cand"))
    status = []
    for a, b in pairs:
        print(f"\n### {a} vs {b}\n")
        print(f"| Np | same index | same colour | same palette | PSNR {a} / {b} (max |d|) | WSNR {a} / {b} (max |d|) "
              f"| VMAF {a} / {b} (max |d|) | bytes {a} / {b} (max rel d) | ms {a} / {b} |")
        print("|---:|---:|---:|---:|---|---|---|---|---|")
        worst = {}
        for n in args.colors:
            rows, outs = results[n]
            if a in outs:
                same_idx = sum(int(np.sum(x.indices == y.indices)) for x, y in zip(outs[a], outs[b]))
                same_col = sum(int(np.sum(np.all(x.rgb == y.rgb, axis=-1))) for x, y in zip(outs[a], outs[b]))
                same_pal = sum(int(np.array_equal(x.palette, y.palette)) for x, y in zip(outs[a], outs[b]))
                total = sum(x.indices.size for x in outs[a])
                worst[(n, "index")] = same_idx / total
                head = f"{same_idx / total:.4%} | {same_col / total:.4%} | {same_pal}/{len(rgbs)}"
            else:
                head = "- | - | -"

            def cell(key, fmt, rel=False):
                x, y = np.asarray(rows[a][key], float), np.asarray(rows[b][key], float)
                if not len(x) or not len(y) or np.isnan(x).all():
                    return "-"
                d = np.nanmax(np.abs(y - x) / (x if rel else 1.0))
                worst[(n, key)] = float(d)
                return f"{fmt.format(np.nanmean(x))} / {fmt.format(y.mean())} ({d:.2%})" if rel else \
                    f"{fmt.format(np.nanmean(x))} / {fmt.format(y.mean())} ({d:.3f})"

            print(f"| {n} | {head} | {cell('psnr', '{:.3f}')} | {cell('wsnr', '{:.3f}')} | {cell('vmaf', '{:.2f}')} | "
                  f"{cell('bytes', '{:,.0f}', rel=True)} | {np.median(rows[a]['ms']):.0f} / "
                  f"{np.median(rows[b]['ms']):.0f} |", flush=True)
        bad = [f"Np={n} {k}: {v:.4g}" for (n, k), v in worst.items()
               if (k == "index" and v < 0.999) or (k in ("psnr", "wsnr") and v > 0.02) or (k == "vmaf" and v > 0.1)
               or (k == "bytes" and v > 0.005)]
        status.append(f"{a} vs {b}: " + ("all met" if not bad else "NOT met: " + "; ".join(bad)))
    print("\nTargets (>= 99.9 % same index; PSNR/WSNR within 0.02 dB, VMAF within 0.1, bytes within 0.5 %, per image):")
    for line in status:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
