#!/usr/bin/env python
"""Cross-check the banding teacher against Netflix CAMBI (issue 4).

Every image is quantized with Pillow's median cut at Np in {8, 16, 32, 64, 128, 256} colours,
then remapped onto that palette without dithering and with Floyd-Steinberg. Each version is
scored by the teacher (:func:`gif_pipeline.metrics.banding.banding_score`) and by no-reference
CAMBI (``max_log_contrast=5``, :func:`gif_pipeline.metrics.cambi.cambi`). The script reports Spearman
correlations (overall and per dither setting), the mean scores per Np, whether both metrics
rank "no dither" as more banded than FS at Np 8 and 16, and the teacher's time per image.

Usage (from the repository root)::

    python benchmarks/banding_teacher_vs_cambi.py --images ../shared/data/val \
        --out results/banding_teacher_vs_cambi.md
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gif_pipeline.metrics import banding as banding_metric  # noqa: E402
from gif_pipeline.metrics import cambi as cambi_lib  # noqa: E402

PALETTE_SIZES = (8, 16, 32, 64, 128, 256)
DITHERS = {"none": Image.Dither.NONE, "fs": Image.Dither.FLOYDSTEINBERG}
LOW_NP = (8, 16)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def find_images(folder: str) -> list[str]:
    paths = []
    for root, _, files in os.walk(folder):
        paths += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(paths)


def quantize(rgb: np.ndarray, n: int, dither: str) -> np.ndarray:
    """Median-cut palette of ``n`` colours (computed without dithering), then remap."""
    image = Image.fromarray(rgb)
    palette = image.quantize(n, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return np.asarray(image.quantize(palette=palette, dither=DITHERS[dither]).convert("RGB"))


def spearman(a, b) -> float:
    rho = spearmanr(a, b).statistic
    return float(rho)


def run(image_paths: list[str]) -> tuple[list[dict], tuple[float, float]]:
    """Score every quantized version; return the rows and the teacher's mean (wall, CPU)
    seconds per image, scaled to 256x256 pixels (the teacher is linear in the pixel count)."""
    rows = []
    teacher_seconds = []
    for path in image_paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        if max(rgb.shape[:2]) < cambi_lib.MIN_LONG_SIDE_CAMBI:
            print(f"skipping {path}: smaller than CAMBI's minimum", file=sys.stderr)
            continue
        for n in PALETTE_SIZES:
            for dither in DITHERS:
                q = quantize(rgb, n, dither)
                wall, cpu = time.perf_counter(), time.process_time()
                teacher = banding_metric.banding_score(q)
                teacher_seconds.append((time.perf_counter() - wall, time.process_time() - cpu,
                                        q.shape[0] * q.shape[1]))
                rows.append({"image": path, "np": n, "dither": dither, "teacher": teacher,
                             "cambi": cambi_lib.cambi(q, max_log_contrast=5)})
        print(f"{os.path.basename(path)}: " + " ".join(
            f"{r['np']}{r['dither'][0]}={r['teacher']:.2f}/{r['cambi']:.1f}" for r in rows[-2 * len(PALETTE_SIZES):]),
            flush=True)
    scale = [(256 * 256) / px for _, _, px in teacher_seconds]
    wall = float(np.mean([t * f for (t, _, _), f in zip(teacher_seconds, scale)])) if scale else float("nan")
    cpu = float(np.mean([c * f for (_, c, _), f in zip(teacher_seconds, scale)])) if scale else float("nan")
    return rows, (wall, cpu)


def report(rows: list[dict], teacher_time: tuple[float, float], image_dir: str) -> str:
    teacher = np.array([r["teacher"] for r in rows])
    cambi = np.array([r["cambi"] for r in rows])
    nps = np.array([r["np"] for r in rows])
    dithers = np.array([r["dither"] for r in rows])
    n_images = len({r["image"] for r in rows})
    lines = [
        "# Banding teacher vs CAMBI",
        "",
        f"Images: {n_images} from `{image_dir}`; Np in {list(PALETTE_SIZES)}; median cut (Pillow), "
        "remapped without dithering ('none') and with Floyd-Steinberg ('fs'). "
        "Teacher: `gif_pipeline.metrics.banding.banding_score` in [0, 1]. "
        "CAMBI: libvmaf (imageio-ffmpeg), no-reference, `max_log_contrast=5`.",
        "",
        "## Spearman correlation (teacher vs CAMBI)",
        "",
        "| subset | n | Spearman rho |",
        "|---|---|---|",
        f"| all | {len(rows)} | {spearman(teacher, cambi):.3f} |",
    ]
    for d in DITHERS:
        m = dithers == d
        lines.append(f"| dither={d} | {m.sum()} | {spearman(teacher[m], cambi[m]):.3f} |")
    for n in PALETTE_SIZES:
        m = nps == n
        lines.append(f"| Np={n} (both dithers) | {m.sum()} | {spearman(teacher[m], cambi[m]):.3f} |")
    lines += ["", "## Mean scores per Np", "",
              "| Np | teacher none | teacher fs | CAMBI none | CAMBI fs |", "|---|---|---|---|---|"]
    for n in PALETTE_SIZES:
        cells = []
        for metric in (teacher, cambi):
            for d in DITHERS:
                cells.append(f"{metric[(nps == n) & (dithers == d)].mean():.3f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "## Is 'no dither' ranked as more banded than FS at low Np?", "",
              "| Np | metric | mean none | mean fs | none > fs (mean) | images with none > fs |",
              "|---|---|---|---|---|---|"]
    for n in LOW_NP:
        for name, metric in (("teacher", teacher), ("CAMBI", cambi)):
            none = metric[(nps == n) & (dithers == "none")]
            fs = metric[(nps == n) & (dithers == "fs")]
            lines.append(f"| {n} | {name} | {none.mean():.3f} | {fs.mean():.3f} | "
                         f"{'yes' if none.mean() > fs.mean() else 'NO'} | {(none > fs).sum()}/{len(none)} |")
    lines += ["", f"Teacher time per 256x256 image (mean over {len(rows)} calls): "
              f"{teacher_time[0] * 1000:.1f} ms wall, {teacher_time[1] * 1000:.1f} ms CPU "
              "(wall time depends on the machine's load).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="../shared/data/val", help="folder of images (recursive)")
    parser.add_argument("--out", default="results/banding_teacher_vs_cambi.md", help="Markdown report path")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images (0 = all)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.images):
        parser.error(f"--images {args.images!r} is not a folder")
    paths = find_images(args.images)
    if args.limit:
        paths = paths[:args.limit]
    if not paths:
        parser.error(f"no images found under {args.images!r}")
    rows, teacher_time = run(paths)
    if not rows:
        parser.error("no image was large enough for CAMBI")
    text = report(rows, teacher_time, args.images)
    print(text)
    out_dir = os.path.dirname(args.out)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
