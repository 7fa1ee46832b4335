"""The ``restore`` bench: GIF restoration (CCDNet) against classical smoothing on held-out photos.

Every photo is quantized by each encoder (:data:`ENCODERS`: Pillow median cut, libimagequant, ffmpeg palettegen,
k-means, gifnets) at each palette size, without and with dithering, and each GIF is restored by each method
(:data:`RESTORERS`: the GIF itself, Gaussian smoothing σ = 0.5 and 1.0, ffmpeg ``deband`` and ``gradfun``, and
CCDNet-1/2/3 routed by the dither classifier). PSNR and SSIM of the result against the original, the gain over
the input GIF, and the time of each restoration (image in memory -> image in memory, after a warm-up call).

Writes ``results.csv`` (one row per photo, encoder, Np, dither, method), ``summary.md`` and ``index.html``
(original | GIF | best classical | CCDNet-2 with zoomed crops) into ``--out``.

    python benchmarks/restore_bench.py ../shared/data/val --out results/restore
"""
from __future__ import annotations

import argparse
import csv
import html
import math
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ENCODERS = {  # name -> (plain peer, dithered peer); "own:..." are computed here
    "pillow-mediancut": ("pillow-mediancut:none", "pillow-mediancut:fs"),
    "libimagequant": ("libimagequant:d0", "libimagequant:d1"),
    "ffmpeg": ("ffmpeg:none", "ffmpeg:sierra2_4a"),
    "kmeans": ("kmeans-ref:none", "own:kmeans-fs"),
    "gifnets": ("own:gifnets-none", "own:gifnets-net"),
}
DEFAULT_COLORS = (16, 32, 64, 256)
CLASSICAL = ("gauss0.5", "gauss1.0", "deband", "gradfun")


def _own_encoder(name: str, rgb: np.ndarray, n: int) -> np.ndarray:
    from gif_pipeline.quant import dithering

    if name == "own:kmeans-fs":
        from gif_pipeline.eval.peers import KMEANS_REF_ITERATIONS
        from gif_pipeline.quant.palettes import kmeans

        palette = kmeans(rgb, n, iterations=KMEANS_REF_ITERATIONS)
        return palette[dithering.remap(rgb, palette, "fs")]
    from gif_pipeline.encode import encode_image

    dither = "none" if name == "own:gifnets-none" else "net"
    return encode_image(rgb, colors=n, palette="net+kmeans", dither=dither).decoded


def quantize(encoder: str, dithered: bool, rgb: np.ndarray, n: int) -> np.ndarray:
    """The decoded GIF of ``rgb`` by ``encoder`` at ``n`` colours."""
    name = ENCODERS[encoder][int(dithered)]
    if name.startswith("own:"):
        return _own_encoder(name, rgb, n)
    from gif_pipeline.eval import peers

    return peers.run_peer(name, rgb, n).decoded


def gaussian(rgb: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(rgb.astype(np.float32), sigma=(sigma, sigma, 0), mode="reflect")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def ffmpeg_filter(rgb: np.ndarray, vf: str) -> np.ndarray:
    """``rgb`` through an ffmpeg video filter chain (the imageio-ffmpeg binary), raw RGB in and out."""
    import imageio_ffmpeg

    h, w = rgb.shape[:2]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-i", "-", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(cmd, input=rgb.tobytes(), capture_output=True, check=False)
    if proc.returncode or len(proc.stdout) != rgb.nbytes:
        raise RuntimeError(f"ffmpeg {vf}: {proc.stderr.decode(errors='replace').strip()[-200:]}")
    return np.frombuffer(proc.stdout, np.uint8).reshape(rgb.shape).copy()


def _ccdnet(steps: int):
    def run(gif):
        from gif_pipeline import restore

        return restore.restore_image(gif, steps=steps).image
    return run


RESTORERS = {
    "gif": lambda g: g,
    "gauss0.5": lambda g: gaussian(g, 0.5),
    "gauss1.0": lambda g: gaussian(g, 1.0),
    "deband": lambda g: ffmpeg_filter(g, "format=gbrp,deband,format=rgb24"),
    "gradfun": lambda g: ffmpeg_filter(g, "format=yuv444p,gradfun,format=rgb24"),
    "ccdnet-1": _ccdnet(1),
    "ccdnet-2": _ccdnet(2),
    "ccdnet-3": _ccdnet(3),
}


def _find_images(folder: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".png", ".jpg", ".jpeg"))]
    return out


def _load(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.uint8).copy()


def run(images_dir: str, out: str, colors=DEFAULT_COLORS, encoders=None, methods=None, limit: int = 0,
        html_colors: int = 32, log=print) -> list[dict]:
    from gif_pipeline.metrics import image as metrics

    encoders = list(encoders or ENCODERS)
    methods = list(methods or RESTORERS)
    files = _find_images(images_dir)[: limit or None]
    if not files:
        raise SystemExit(f"no images in {images_dir}")
    os.makedirs(out, exist_ok=True)
    rows, examples = [], []
    warm = _load(files[0])[:64, :64]
    for m in methods:  # warm-up: model loading and tracing are not timed
        RESTORERS[m](warm)
    start = time.time()
    for i, path in enumerate(files):
        rgb = _load(path)
        name = os.path.relpath(path, images_dir)
        for encoder in encoders:
            for n in colors:
                for dithered in (False, True):
                    try:
                        gif = quantize(encoder, dithered, rgb, n)
                    except Exception as e:  # an unavailable peer: say so once per row, go on
                        log(f"skip {encoder} dithered={dithered} n={n}: {e}")
                        continue
                    outputs = {}
                    for m in methods:
                        t = time.perf_counter()
                        restored = RESTORERS[m](gif)
                        seconds = time.perf_counter() - t
                        outputs[m] = restored
                        rows.append({"image": name, "encoder": encoder, "colors": n, "dithered": int(dithered),
                                     "method": m, "psnr": metrics.psnr(rgb, restored),
                                     "ssim": metrics.ssim(rgb, restored), "seconds": seconds})
                    if n == html_colors and encoder == "pillow-mediancut" and i < 4:
                        examples.append((name, n, dithered, rgb, outputs))
        log(f"restore bench: {i + 1}/{len(files)} images, {time.time() - start:.0f} s")
    base = {(r["image"], r["encoder"], r["colors"], r["dithered"]): r for r in rows if r["method"] == "gif"}
    for r in rows:
        b = base.get((r["image"], r["encoder"], r["colors"], r["dithered"]))
        r["gain_psnr"] = r["psnr"] - b["psnr"] if b else math.nan
        r["gain_ssim"] = r["ssim"] - b["ssim"] if b else math.nan
    _write_csv(os.path.join(out, "results.csv"), rows)
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary_markdown(rows, methods, encoders, colors, len(files)))
    if examples:
        _write_html(out, examples, rows)
    return rows


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def _mean(rows, key):
    v = [r[key] for r in rows if not math.isnan(r[key])]
    return float(np.mean(v)) if v else math.nan


def summary_markdown(rows, methods, encoders, colors, n_images) -> str:
    lines = [f"# restore bench ({n_images} held-out photos)", ""]
    for dithered in (0, 1):
        lines += [f"## {'dithered' if dithered else 'no dithering'}: mean PSNR (dB) / SSIM at 32 colours, per encoder",
                  "", "| method | " + " | ".join(encoders) + " | all |", "|---|" + "---|" * (len(encoders) + 1)]
        for m in methods:
            cells = []
            for e in encoders + ["all"]:
                sel = [r for r in rows if r["method"] == m and r["colors"] == 32 and r["dithered"] == dithered
                       and (e == "all" or r["encoder"] == e)]
                cells.append(f"{_mean(sel, 'psnr'):.2f} / {_mean(sel, 'ssim'):.3f}" if sel else "–")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    for m in [m for m in methods if m != "gif"]:
        lines += [f"## {m}: mean PSNR gain over the input GIF (dB), worst photo in brackets", "",
                  "| encoder | dither | " + " | ".join(f"Np={n}" for n in colors) + " |",
                  "|---|---|" + "---|" * len(colors)]
        for e in encoders:
            for dithered in (0, 1):
                cells = []
                for n in colors:
                    sel = [r for r in rows if r["method"] == m and r["encoder"] == e and r["colors"] == n
                           and r["dithered"] == dithered]
                    cells.append(f"{_mean(sel, 'gain_psnr'):+.2f} ({min(r['gain_psnr'] for r in sel):+.2f})"
                                 if sel else "–")
                lines.append(f"| {e} | {'yes' if dithered else 'no'} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## time per 256x256 image (s, mean)", "", "| method | seconds |", "|---|---|"]
    for m in methods:
        lines.append(f"| {m} | {_mean([r for r in rows if r['method'] == m], 'seconds'):.4f} |")
    return "\n".join(lines) + "\n"


def _png(path, rgb):
    Image.fromarray(rgb).save(path)


def _write_html(out, examples, rows):
    from gif_pipeline.eval.bench import smooth_crop_box

    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>gifnets restore bench</title>",
             "<style>body{font-family:sans-serif}td{text-align:center;font-size:12px;padding:3px}"
             "img{image-rendering:pixelated;display:block;margin:2px auto}</style></head><body>",
             "<h1>gifnets restore: original | GIF | best classical | CCDNet-2</h1>",
             "<p>Pillow median cut at 32 colours, plain and Floyd–Steinberg. Below each full image, a 4x "
             "nearest-neighbour enlargement of its smoothest gradient (64 px). "
             "<a href='summary.md'>summary.md</a>, <a href='results.csv'>results.csv</a></p>"]
    for k, (name, n, dithered, rgb, outputs) in enumerate(examples):
        key = lambda m: [r for r in rows if r["image"] == name and r["encoder"] == "pillow-mediancut"  # noqa: E731
                         and r["colors"] == n and r["dithered"] == int(dithered) and r["method"] == m][0]
        classical = [m for m in CLASSICAL if m in outputs]
        best = max(classical, key=lambda m: key(m)["psnr"]) if classical else None
        cells = [("original", rgb, "")] + [(m, outputs[m], f"{key(m)['psnr']:.2f} dB / {key(m)['ssim']:.3f}")
                                             for m in ["gif", best, "ccdnet-2"] if m in outputs]
        y, x = smooth_crop_box(rgb, 64)
        parts.append(f"<h2>{html.escape(name)}: {n} colours, {'Floyd–Steinberg' if dithered else 'no dither'}</h2>"
                     "<table><tr>")
        for label, img, caption in cells:
            stem = f"img/{k}_{label}"
            _png(os.path.join(out, stem + ".png"), img)
            crop = np.repeat(np.repeat(img[y:y + 64, x:x + 64], 4, 0), 4, 1)
            _png(os.path.join(out, stem + "_crop.png"), crop)
            parts.append(f"<td><b>{html.escape(label)}</b><img src='{stem}.png'><img src='{stem}_crop.png'>"
                         f"{html.escape(caption)}</td>")
        parts.append("</tr></table>")
    parts.append("</body></html>")
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as f:
        f.write("\n".join(parts))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("images", help="folder of held-out photos")
    p.add_argument("--out", required=True)
    p.add_argument("--colors", type=int, nargs="+", default=list(DEFAULT_COLORS))
    p.add_argument("--encoders", nargs="+", choices=list(ENCODERS), default=None)
    p.add_argument("--methods", nargs="+", choices=list(RESTORERS), default=None)
    p.add_argument("--limit", type=int, default=0, help="only the first N photos")
    args = p.parse_args(argv)
    run(args.images, args.out, args.colors, args.encoders, args.methods, args.limit,
        log=lambda s: print(s, file=sys.stderr, flush=True))
    return 0


