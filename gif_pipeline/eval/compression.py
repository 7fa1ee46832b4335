"""``gifnets bench --task compression``: the GAN codec (issue #28) and its MSE baseline against JPEG, WebP, AVIF, HEIC
(pillow-heif, x265 intra: the nearest available stand-in for BPG) and JPEG XL (imagecodecs), on a folder of photos.

Every method writes a whole file (headers included) in memory and decodes it back; bpp = 8 * bytes / pixels.
Each classical codec runs at a grid of settings; its "lowest" row is its smallest file for each photo, and its
"matched" row the largest of its files that is no larger than the GAN codec's file for that photo, where one
exists. Metrics: PSNR (RGB), MS-SSIM (tf.image.ssim_multiscale, RGB, 5 scales) and VMAF (libvmaf 0.6.1 through
the imageio-ffmpeg binary). Writes ``results.csv``, ``summary.md``, ``bpp_vs_quality.png``, ``index.html`` (the
images side by side) and the decoded images into ``--out``.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import html
import io
import math
import os
import sys
import time

import numpy as np
from PIL import Image

#: Settings per classical codec, lowest quality first (quality; JPEG XL: butteraugli distance, larger is smaller).
GRIDS = {
    "jpeg": [1, 5, 10, 20, 40],
    "webp": [0, 5, 20, 50],
    "avif": [0, 10, 30, 50],
    "heic": [0, 10, 30, 50],
    "jxl": [25.0, 15.0, 8.0, 4.0, 2.0],
}
CODEC_NAMES = {"jpeg": "JPEG (Pillow)", "webp": "WebP (Pillow, method 6)", "avif": "AVIF (Pillow, speed 6)",
               "heic": "HEIC (pillow-heif, x265)", "jxl": "JPEG XL (imagecodecs, effort 7)"}


def encode_classical(codec: str, rgb: np.ndarray, setting) -> tuple[bytes, np.ndarray]:
    """(file bytes, decoded RGB) of one classical codec at one setting."""
    if codec == "jxl":
        import imagecodecs

        data = imagecodecs.jpegxl_encode(rgb, distance=float(setting), effort=7)
        return data, np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]
    if codec == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    fmt = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "heic": "HEIF"}[codec]
    kwargs = {"jpeg": {"quality": setting, "optimize": True}, "webp": {"quality": setting, "method": 6},
              "avif": {"quality": setting, "speed": 6}, "heic": {"quality": setting}}[codec]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kwargs)
    data = buf.getvalue()
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    import tensorflow as tf

    if min(a.shape[:2]) < 161:
        return float("nan")
    return float(tf.image.ssim_multiscale(tf.constant(a[None]), tf.constant(b[None]), 255)[0])


@dataclasses.dataclass
class Row:
    image: str
    method: str
    setting: str
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    vmaf: float
    encode_s: float
    decode_s: float


def list_images(folder: str) -> list[str]:
    out = []
    for root, _, files in os.walk(folder):
        out += [os.path.join(root, f) for f in files if f.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))]
    return sorted(out)


def measure(image, method, setting, data, ref, out, encode_s, decode_s, use_vmaf=True) -> Row:
    from gif_pipeline.metrics.cambi import vmaf
    from gif_pipeline.metrics.image import psnr

    pixels = ref.shape[0] * ref.shape[1]
    return Row(image, method, str(setting), len(data), 8 * len(data) / pixels, float(psnr(ref, out)), ms_ssim(ref, out),
               float(vmaf(ref, out)) if use_vmaf else float("nan"), encode_s, decode_s)


def _timed(fn, *a, **k):
    t = time.perf_counter()
    r = fn(*a, **k)
    return r, time.perf_counter() - t


def reference_gc(channels: dict) -> str | None:
    """Which GC model (of ``{method: C}``) the classical codecs are compared with: the one at C = 4 (issue #28's
    target is at 0.036 bpp, C = 4's bound), else the first."""
    return next((m for m, c in channels.items() if c == 4), next(iter(channels), None))


def run(folder, models: dict, out_dir: str, max_images: int = 0, html_examples: int = 6, use_vmaf: bool = True,
        codecs=tuple(GRIDS), progress: bool = True) -> list[Row]:
    """Run every method on every image of ``folder``; ``models`` maps a method name to a (Codec) object."""
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    files = list_images(folder)[: max_images or None]
    if not files:
        raise SystemExit(f"no images in {folder}")
    rows: list[Row] = []
    reference = reference_gc({m: c.config.channels for m, c in models.items() if c.gan})
    examples = {int(k * len(files) / html_examples) for k in range(html_examples)} if html_examples else set()
    for codec in models.values():  # warm-up: trace the graphs once
        warm = np.zeros((256, 256, 3), np.uint8)
        codec.decompress(codec.compress(warm)[0])
    for i, path in enumerate(files):
        name = os.path.relpath(path, folder)
        stem = name.replace(os.sep, "_").rsplit(".", 1)[0]
        ref = np.asarray(Image.open(path).convert("RGB"))
        decoded = {}
        for method, codec in models.items():
            (data, _), enc = _timed(codec.compress, ref)
            out, dec = _timed(codec.decompress, data)
            rows.append(measure(name, method, f"C={codec.config.channels}", data, ref, out, enc, dec, use_vmaf))
            decoded[method] = (out, rows[-1])
        gan_bytes = next((r.bytes for r in rows[::-1] if r.image == name and r.method == reference), None)
        for codec in codecs:
            results = []
            for setting in GRIDS[codec]:
                (data, out), enc = _timed(encode_classical, codec, ref, setting)
                results.append((len(data), setting, data, out, enc))
            lowest = min(results, key=lambda r: r[0])
            under = [r for r in results if gan_bytes is not None and r[0] <= gan_bytes]
            for label, pick in (("lowest", lowest), ("matched", max(under, key=lambda r: r[0]) if under else None)):
                if pick is None:
                    continue
                size, setting, data, out, enc = pick
                rows.append(measure(name, f"{codec}_{label}", setting, data, ref, out, enc, 0.0, use_vmaf))
                decoded[f"{codec}_{label}"] = (out, rows[-1])
            for size, setting, data, out, enc in results:  # the curve
                if setting != lowest[1]:
                    rows.append(measure(name, f"{codec}_curve", setting, data, ref, out, enc, 0.0, use_vmaf))
        if i in examples:  # the page's images only, spread over the folder (PNG, lossless: what each codec decoded)
            Image.fromarray(ref).save(os.path.join(out_dir, "images", f"{stem}_original.png"))
            for method, (out, _) in decoded.items():
                if not method.endswith("_matched"):
                    Image.fromarray(out).save(os.path.join(out_dir, "images", f"{stem}_{method}.png"))
        if progress:
            print(f"[{i + 1}/{len(files)}] {name}", file=sys.stderr)
    write_csv(rows, os.path.join(out_dir, "results.csv"))
    return rows


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f.name for f in dataclasses.fields(Row)])
        for r in rows:
            w.writerow([getattr(r, f.name) if not isinstance(getattr(r, f.name), float) else f"{getattr(r, f.name):.5g}"
                        for f in dataclasses.fields(Row)])


def _mean(values):
    values = [v for v in values if not math.isnan(v) and not math.isinf(v)]
    return sum(values) / len(values) if values else float("nan")


def summarize(rows: list[Row], out_dir: str, decode_512: dict | None = None) -> str:
    methods = []
    for r in rows:
        if r.method not in methods and not r.method.endswith("_curve"):
            methods.append(r.method)
    gan = reference_gc({r.method: int(r.setting[2:]) for r in rows
                        if r.method.startswith("gc") and r.setting.startswith("C=")})
    gan_vmaf = {r.image: r.vmaf for r in rows if r.method == gan}
    lines = [f"| method | images | bpp | bytes | PSNR dB | MS-SSIM | VMAF | VMAF - {gan}'s (same photos) | bpp / {gan}'s |",
             "|---|---|---|---|---|---|---|---|---|"]
    gan_bpp = {r.image: r.bpp for r in rows if r.method == gan}
    for m in methods:
        sel = [r for r in rows if r.method == m]
        dv = _mean([r.vmaf - gan_vmaf[r.image] for r in sel if r.image in gan_vmaf])
        ratio = _mean([r.bpp / gan_bpp[r.image] for r in sel if r.image in gan_bpp])
        lines.append(f"| {m} | {len(sel)} | {_mean([r.bpp for r in sel]):.4f} | {_mean([r.bytes for r in sel]):.0f} | "
                     f"{_mean([r.psnr for r in sel]):.2f} | {_mean([r.ms_ssim for r in sel]):.4f} | "
                     f"{_mean([r.vmaf for r in sel]):.2f} | {dv:+.2f} | {ratio:.2f} |")
    wins = []
    if gan:
        for codec in ("webp", "avif"):
            pairs = [(gan_vmaf[r.image], r.vmaf) for r in rows if r.method == f"{codec}_lowest" and r.image in gan_vmaf]
            if pairs:
                won = sum(a >= b for a, b in pairs)
                wins.append(f"{gan}'s VMAF >= {codec.upper()}'s smallest file on {won} of {len(pairs)} photos")
    text = "\n".join(lines) + "\n\n" + "; ".join(wins) + "\n"
    if decode_512:
        text += "\nDecompress time of a 512x512 image (median of 5, after a warm-up): " + ", ".join(
            f"{k} {v:.2f} s" for k, v in decode_512.items()) + "\n"
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(text)
    plot(rows, out_dir, methods)
    return text


def plot(rows, out_dir, methods):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("vmaf", "psnr")):
        for codec in GRIDS:
            pts = {}
            for r in rows:
                if r.method in (f"{codec}_lowest", f"{codec}_curve"):
                    pts.setdefault(r.setting, []).append((r.bpp, getattr(r, metric)))
            xy = sorted((_mean([p[0] for p in v]), _mean([p[1] for p in v])) for v in pts.values())
            if xy:
                ax.plot(*zip(*xy), marker="o", label=CODEC_NAMES[codec])
        for m in methods:
            if m.startswith("gc") or m.startswith("mse"):
                sel = [r for r in rows if r.method == m]
                ax.plot(_mean([r.bpp for r in sel]), _mean([getattr(r, metric) for r in sel]), marker="*", markersize=14,
                        linestyle="none", label=m)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel(metric.upper())
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "bpp_vs_quality.png"), dpi=110)


def page_columns(methods) -> list[str]:
    """The side-by-side page's columns: the learned models paired per C (``gc_c4`` beside ``mse_c4``, C ascending),
    then the classical codecs in their run order."""
    def learned(m):  # (C, 0 for GC / 1 for MSE), or None for another method
        kind, _, c = m.partition("_c")
        return (int(c), kind == "mse") if kind in ("gc", "mse") and c.isdigit() else None

    methods = list(dict.fromkeys(methods))
    paired = sorted((m for m in methods if learned(m)), key=learned)
    return paired + [m for m in methods if not learned(m)]


def write_html(rows: list[Row], out_dir: str, examples: int, title: str):
    methods = page_columns(r.method for r in rows if not r.method.endswith(("_curve", "_matched")))
    images = [im for im in sorted({r.image for r in rows})
              if os.path.exists(os.path.join(out_dir, "images", im.replace(os.sep, "_").rsplit(".", 1)[0] + "_original.png"))]
    by = {(r.image, r.method): r for r in rows}
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:12px;background:#fafafa}td{vertical-align:top;padding:3px;"
             "font-size:12px;text-align:center}img{width:256px;height:auto;image-rendering:pixelated}"
             # the original stays in view while the wide table scrolls sideways
             "td:first-child,th:first-child{position:sticky;left:0;background:#fafafa;z-index:1}</style>",
             f"<h1>{html.escape(title)}</h1><p>Every image is the decoded file, shown at 1:1 (256 px). Caption: whole-file "
             "bits per pixel, PSNR, VMAF. The classical codecs are at their smallest file (lowest quality setting). "
             "<a href='summary.md'>summary.md</a> &middot; <a href='results.csv'>results.csv</a></p>",
             "<img src='bpp_vs_quality.png' style='width:900px'><table>"]
    parts.append("<tr><th>original</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in methods) + "</tr>")
    for image in images:
        stem = image.replace(os.sep, "_").rsplit(".", 1)[0]
        cells = [f"<td><img src='images/{stem}_original.png'><br>{html.escape(image)}</td>"]
        for m in methods:
            r = by.get((image, m))
            if r is None:
                cells.append("<td></td>")
                continue
            cells.append(f"<td><img src='images/{stem}_{m}.png'><br>{r.bpp:.3f} bpp ({r.bytes} B)<br>PSNR {r.psnr:.1f} "
                         f"&middot; VMAF {r.vmaf:.1f}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write("\n".join(parts))


def decode_time_512(models: dict, image: np.ndarray) -> dict:
    big = np.tile(image, (2, 2, 1))[:512, :512]
    out = {}
    for name, codec in models.items():
        data = codec.compress(big)[0]
        codec.decompress(data)
        times = sorted(_timed(codec.decompress, data)[1] for _ in range(5))
        out[name] = times[2]
    return out


def build_parser(prog="gifnets bench --task compression"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("images_dir", help="folder of held-out photos (e.g. ../shared/data/val)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH[:mse|gan]",
                   help="a compressor to run (repeatable), e.g. gc_c4=runs/compress_gan_c4/compressor.keras:gan; "
                   "default: every installed compress_gan / compress_mse model")
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--html-examples", type=int, default=6, help="photos on the side-by-side page (their PNGs are written)")
    p.add_argument("--no-vmaf", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: default)")
    return p


def installed_models() -> dict:
    from gif_pipeline.weights import registry

    out = {}
    for mode in ("gan", "mse"):
        for e in registry.entries(f"compress_{mode}"):
            out[f"{'gc' if mode == 'gan' else 'mse'}_c{e.np}"] = (registry.shipped_path(f"compress_{mode}", e.np), mode)
    return out


def main(argv=None, prog="gifnets bench --task compression") -> int:
    args = build_parser(prog).parse_args(argv)
    from gif_pipeline.training import loop

    loop.limit_threads(args.threads)
    from gif_pipeline.models.compress.codec import Codec
    from gif_pipeline.weights import registry

    specs = {}
    for text in args.model:
        name, _, rest = text.partition("=")
        path, _, mode = rest.rpartition(":") if rest.endswith((":gan", ":mse")) else (rest, "", "gan")
        specs[name] = (path, mode)
    specs = specs or installed_models()
    if not specs:
        print(f"{prog}: error: no compressor installed; pass --model NAME=PATH", file=sys.stderr)
        return 2
    # GC models first; the classical codecs' "matched" rows are matched to reference_gc's files.
    order = sorted(specs, key=lambda n: (not n.startswith("gc"), n))
    models = {n: Codec(registry.load(f"compress_{specs[n][1]}", explicit=specs[n][0]), gan=specs[n][1] == "gan")
              for n in order}
    rows = run(args.images_dir, models, args.out, args.max_images, args.html_examples, not args.no_vmaf)
    first = np.asarray(Image.open(list_images(args.images_dir)[0]).convert("RGB"))
    text = summarize(rows, args.out, decode_time_512(models, first))
    write_html(rows, args.out, args.html_examples, "gifnets compress: GAN codec vs JPEG, WebP, AVIF, HEIC, JPEG XL")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(prog="python -m gif_pipeline.eval.compression"))
