"""Side-by-side benchmark: gifnets' encoding modes against the peers, on a folder of images.

``gifnets bench DIR`` / ``python benchmarks/compare_peers.py DIR`` runs, in one process,
every method of :func:`method_table` (the gifnets modes of :data:`GIFNETS_MODES` that
:mod:`gif_pipeline.encode` supports, and the peers of :data:`gif_pipeline.eval.peers.PEERS`)
on every image of ``DIR`` (recursively) for every colour budget ``Np``, and measures:

* PSNR, SSIM and WSNR (:mod:`gif_pipeline.metrics.image`) of the decoded GIF against the input, WSNR at two
  viewing distances (32.98 and 120 pixels per degree);
* the lattice score of each method's dither (:mod:`gif_pipeline.metrics.lattice`: its periodic pattern on the
  8-pixel grid, from the error spectrum over all images of a size), in ``summary.md``;
* VMAF (libvmaf's default model) and CAMBI with ``max_log_contrast=5``
  (:mod:`gif_pipeline.metrics.cambi`; one ffmpeg run gives both; ``--no-vmaf`` turns them off;
  CAMBI needs the longer side >= 216 px and is left empty for smaller images);
* the banding score of gifnets' teacher metric (:func:`gif_pipeline.metrics.banding.banding_score`,
  0 = no visible banding) of the decoded GIF;
* GIF bytes, and milliseconds per image: RGB in memory -> GIF bytes in memory, i.e.
  palette + mapping + GIF writing, for gifnets and every peer alike (see
  :mod:`gif_pipeline.eval.peers`). With ``--timing-repeats R`` each encode runs R times and the
  fastest is kept (the machine may be shared). Every method is run once on the first
  image at every Np before timing starts (TF tracing, process caches).

Outputs in ``--out``: ``results.csv`` (one row per image, method and Np), ``summary.md``
(means over images, one table per Np, plus PSNR/WSNR overviews), ``quality_vs_np.png``,
``quality_vs_bytes.png`` and ``index.html`` (original | median-cut+FS | libimagequant |
gifnets, with nearest-neighbour zoomed crops of a smooth region, as in the paper's
Figs. 5 and 8, and each GIF's error spectrum); the page's images are files in ``html/`` next to it, linked by relative
paths, so it opens from disk without a server.

Adding a gifnets mode is one line in :data:`GIFNETS_MODES`; adding a peer is one entry in
:data:`gif_pipeline.eval.peers.PEERS`.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import fnmatch
import html
import io
import math
import os
import platform
import sys
import time
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from gif_pipeline.errors import GifnetsError, MissingPrerequisiteError, OutputExistsError
from gif_pipeline.eval import peers
from gif_pipeline.io import gif as gif_io
from gif_pipeline.io import images as image_io
from gif_pipeline.metrics import lattice

#: gifnets (palette stage, dither stage) pairs, in report order. Pairs whose stage
#: :mod:`gif_pipeline.encode` does not (yet) offer are skipped with the reason.
GIFNETS_MODES: tuple[tuple[str, str], ...] = (
    ("median-cut", "none"),
    ("median-cut", "fs"),
    ("octree", "none"),
    ("octree", "fs"),
    ("kmeans", "none"),
    ("kmeans", "fs"),
    ("net", "none"),  # PaletteNet alone
    ("net+kmeans", "none"),  # PaletteNet's palette seeding Lloyd iterations
    ("net", "fs"),
    ("net+kmeans", "fs"),
    ("median-cut", "net"),  # DitherNet on a classical palette
    ("net", "net"),  # PaletteNet + DitherNet
    ("net+kmeans", "net"),
    ("net+kmeans", "ed"),  # gifnets' error diffusion (issue 29)
    ("net+kmeans", "ordered"),  # the blue-noise pattern dither of animations (issue 25), on stills
)

DEFAULT_COLORS = (16, 32, 64, 128, 256)
#: Peers shown next to the original and gifnets on the HTML page (missing ones are left out).
HTML_PEERS = ("pillow-mediancut:fs", "libimagequant:d1")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".tga", ".qoi")
CAMBI_MAX_LOG_CONTRAST = 5
METRIC_COLUMNS = ("psnr", "ssim", "wsnr", "wsnr120", "vmaf", "cambi", "banding", "gif_bytes", "ms")
#: A second viewing distance for WSNR: 120 pixels per degree, a sharp phone screen at arm's length (the
#: default, 32.98, is a desktop monitor); dither patterns that the far viewer blurs away show here.
WSNR_NEAR_PPD = 120.0
#: Summary-only columns: measured over all the images of a method and Np together, not per image.
SET_COLUMNS = ("lattice",)
CSV_COLUMNS = ("image", "width", "height", "method", "kind", "colors", "colors_used") + METRIC_COLUMNS + ("error",)
#: Markdown formats of the summary columns.
_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "wsnr": "{:.2f}", "wsnr120": "{:.2f}", "vmaf": "{:.2f}",
            "cambi": "{:.3f}", "banding": "{:.3f}", "gif_bytes": "{:,.0f}", "ms": "{:.1f}", "lattice": "{:.1f}"}
_HEADERS = {"psnr": "PSNR dB", "ssim": "SSIM", "wsnr": "WSNR dB", "wsnr120": "WSNR@120 dB", "vmaf": "VMAF",
            "cambi": "CAMBI", "banding": "banding", "gif_bytes": "GIF bytes", "ms": "ms/image", "lattice": "lattice"}


class BenchError(GifnetsError, ValueError):
    """Bad benchmark arguments (no images, unknown method, ...)."""


@dataclasses.dataclass(frozen=True)
class Encoded:
    gif_bytes: bytes
    rgb: np.ndarray  # decoded from gif_bytes
    seconds: float


@dataclasses.dataclass(frozen=True)
class BenchMethod:
    """A named way to make a GIF: ``encode(rgb, n) -> Encoded``; ``unavailable()`` -> reason or None."""

    name: str
    kind: str  # "gifnets" or "peer"
    description: str
    encode: Callable[[np.ndarray, int], Encoded]
    unavailable: Callable[[], str | None]


@dataclasses.dataclass
class BenchReport:
    rows: list[dict]  # one per (image, method, Np), the CSV rows
    summary: list[dict]  # one per (method, Np): means over images
    skipped: dict[str, str]  # method -> reason
    files: dict[str, str]  # "csv", "summary", "plots...", "html" -> path
    images: list[str]


# ----------------------------------------------------------------------------
# Methods


def gifnets_method_name(palette: str, dither: str) -> str:
    return f"gifnets:{palette}:{dither}"


def _gifnets_method(palette: str, dither: str) -> BenchMethod:
    def encode_fn(rgb, n):
        from gif_pipeline import encode

        result = encode.encode_image(rgb, n, palette=palette, dither=dither)
        return Encoded(result.gif_bytes, gif_io.decode_gif_rgb(result.gif_bytes), result.seconds)

    def unavailable():
        try:
            from gif_pipeline import encode
        except ImportError as e:
            return f"gif_pipeline.encode not importable: {e}"
        if palette not in encode.PALETTE_STAGES:
            return f"encode has no palette stage {palette!r} yet"
        if dither not in encode.DITHER_STAGES:
            return f"encode has no dither stage {dither!r} yet"
        return None

    return BenchMethod(gifnets_method_name(palette, dither), "gifnets", f"gifnets palette={palette} dither={dither}",
                       encode_fn, unavailable)


def _peer_method(peer: peers.Peer) -> BenchMethod:
    def encode_fn(rgb, n):
        r = peers.run_peer(peer.name, rgb, n)
        return Encoded(r.gif_bytes, r.rgb, r.seconds)

    return BenchMethod(peer.name, "peer", peer.description, encode_fn, peer.unavailable)


def method_table() -> dict[str, BenchMethod]:
    """Every known method by name: gifnets modes first, then the peers."""
    table = {}
    for palette, dither in GIFNETS_MODES:
        m = _gifnets_method(palette, dither)
        table[m.name] = m
    for peer in peers.PEERS.values():
        table[peer.name] = _peer_method(peer)
    return table


def select_methods(patterns: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> list[BenchMethod]:
    """Methods whose names match any of ``patterns`` (fnmatch, e.g. ``gifnets:*``), minus ``exclude``."""
    table = method_table()
    names = list(table)
    if patterns:
        chosen = []
        for pat in patterns:
            hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                raise BenchError(f"no method matches {pat!r}; known methods: {', '.join(names)}")
            chosen += [h for h in hits if h not in chosen]
        names = [n for n in names if n in chosen]  # keep report order
    names = [n for n in names if not any(fnmatch.fnmatchcase(n, pat) for pat in exclude)]
    if not names:
        raise BenchError("no methods left to benchmark")
    return [table[n] for n in names]


# ----------------------------------------------------------------------------
# Images


def find_images(images_dir: str, exclude_dir: str | None = None) -> list[str]:
    """Image files under ``images_dir`` (recursively, sorted), ignoring ``exclude_dir``."""
    if not os.path.isdir(images_dir):
        raise BenchError(f"not a directory: {images_dir}")
    skip = os.path.realpath(exclude_dir) if exclude_dir else None
    found = []
    for root, dirs, files in os.walk(images_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (skip is None or os.path.realpath(os.path.join(root, d)) != skip))
        found += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found, key=lambda p: os.path.relpath(p, images_dir))


def smooth_crop_box(rgb: np.ndarray, size: int, min_range: float = 12.0) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the ``size`` x ``size`` window that is the smoothest gradient.

    A window's gradient energy ``E`` is the sum of squared horizontal and vertical luma
    differences (BT.601 luma). A smooth ramp of luma range ``R`` has ``E ~ R**2`` while
    texture or noise of the same range has ``E ~ size**2 * R**2``, so the window with the
    least ``E / R**2`` among those with ``R >= min_range`` is the smoothest visible
    gradient: where palette banding and dither noise show (the paper's Figs. 5 and 8).
    Windows with a smaller range are nearly flat and show nothing; if every window is,
    the one with the least ``E`` is returned.
    """
    h, w = rgb.shape[:2]
    size = min(size, h, w)
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    energy = np.zeros((h, w))
    energy[:, :-1] += np.diff(y, axis=1) ** 2
    energy[:-1, :] += np.diff(y, axis=0) ** 2
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    stride = max(1, size // 4)
    best, best_flat = None, None
    for top in sorted(set(range(0, h - size + 1, stride)) | {h - size}):
        for left in sorted(set(range(0, w - size + 1, stride)) | {w - size}):
            e = (integral[top + size, left + size] - integral[top, left + size]
                 - integral[top + size, left] + integral[top, left])
            window = y[top:top + size, left:left + size]
            luma_range = float(window.max() - window.min())
            if luma_range < min_range:
                if best_flat is None or e < best_flat[0]:
                    best_flat = (e, top, left)
            elif best is None or e / luma_range ** 2 < best[0]:
                best = (e / luma_range ** 2, top, left)
    chosen = best if best is not None else best_flat
    return chosen[1], chosen[2]


# ----------------------------------------------------------------------------
# Measuring


def measure_quality(ref: np.ndarray, dist: np.ndarray, with_vmaf: bool) -> dict:
    """The bench's quality numbers of ``dist`` against ``ref`` (uint8 ``[H, W, 3]``): PSNR, SSIM, WSNR (at 32.98
    and :data:`WSNR_NEAR_PPD` pixels per degree), the banding teacher's score and, ``with_vmaf``, VMAF and CAMBI
    (NaN where skipped or the image is too small for libvmaf). ``benchmarks/paper_tables.py`` uses it so that
    its numbers match the bench's."""
    from gif_pipeline.metrics import banding as banding_metric
    from gif_pipeline.metrics import image as metrics

    out = {"psnr": float(metrics.psnr(ref, dist)), "ssim": float(metrics.ssim(ref, dist)),
           "wsnr": float(metrics.wsnr(ref, dist)), "wsnr120": float(metrics.wsnr(ref, dist, pixels_per_deg=WSNR_NEAR_PPD)),
           "vmaf": math.nan, "cambi": math.nan,
           "banding": float(banding_metric.banding_score(dist))}
    if with_vmaf:
        from gif_pipeline.metrics import cambi

        if max(ref.shape[:2]) >= cambi.MIN_LONG_SIDE_CAMBI:
            out["vmaf"], out["cambi"] = cambi.vmaf_and_cambi(ref, dist, max_log_contrast=CAMBI_MAX_LOG_CONTRAST)
        elif min(ref.shape[:2]) >= cambi.MIN_SIDE_VMAF:
            out["vmaf"] = cambi.vmaf(ref, dist)
    return out


def _timed(method: BenchMethod, rgb: np.ndarray, n: int, repeats: int) -> Encoded:
    best = None
    for _ in range(repeats):
        enc = method.encode(rgb, n)
        if best is None or enc.seconds < best.seconds:
            best = enc
    return best


_UNAVAILABLE_ERRORS = (peers.PeerUnavailableError, MissingPrerequisiteError)


# ----------------------------------------------------------------------------
# Reports


def _mean(values) -> float:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else math.nan


def summarize(rows: list[dict], method_order: Sequence[str], colors: Sequence[int], lattice=None) -> list[dict]:
    """Mean of every metric over the images, per (method, Np), skipping failed rows; with a
    :class:`~gif_pipeline.metrics.lattice.LatticeAccumulator` of ``(method, Np)`` keys, the lattice score too."""
    out = []
    for n in colors:
        for name in method_order:
            sel = [r for r in rows if r["method"] == name and r["colors"] == n and not r["error"]]
            if not sel:
                continue
            entry = {"method": name, "kind": sel[0]["kind"], "colors": n, "images": len(sel)}
            for col in METRIC_COLUMNS:
                entry[col] = _mean(r[col] for r in sel)
            entry["lattice"] = lattice.score((name, n)) if lattice is not None else math.nan
            out.append(entry)
    return out


def _fmt(col: str, v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else _FORMATS[col].format(v)


def _summary_markdown(summary, colors, methods, skipped, failures, info) -> str:
    lines = ["# gifnets benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "Means over images. Time is RGB in memory -> GIF bytes in memory (palette + mapping + "
              "GIF writing), including process start-up for the command-line peers (ffmpeg, pngquant). "
              "Bytes are the GIF file sizes. CAMBI: lower is less banding (max_log_contrast=5). banding: "
              "gifnets' banding teacher (Algorithm 1, 0 = no visible banding) on the GIF. WSNR@120: WSNR at 120 "
              "pixels per degree (a phone at arm's length; WSNR: 32.98, a monitor). lattice: the dither's periodic "
              "pattern on the 8-pixel grid, from the error spectrum over all images (gif_pipeline/metrics/lattice.py; "
              "broadband noise ~1-4, a visible dot lattice tens).", ""]
    cols = [c for c in METRIC_COLUMNS + SET_COLUMNS if any(not math.isnan(s[c]) for s in summary)]
    for n in colors:
        block = [s for s in summary if s["colors"] == n]
        if not block:
            continue
        lines += [f"## Np = {n}", "", "| method | " + " | ".join(_HEADERS[c] for c in cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        lines += [f"| {s['method']} | " + " | ".join(_fmt(c, s[c]) for c in cols) + " |" for s in block]
        lines.append("")
    for col in ("psnr", "wsnr"):
        lines += [f"## {_HEADERS[col]} by Np", "", "| method | " + " | ".join(str(n) for n in colors) + " |",
                  "|---|" + "---:|" * len(colors)]
        for name in methods:
            cells = []
            for n in colors:
                hit = [s for s in summary if s["method"] == name and s["colors"] == n]
                cells.append(_fmt(col, hit[0][col]) if hit else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if skipped:
        lines += ["## Skipped methods", ""] + [f"- {k}: {v}" for k, v in skipped.items()] + [""]
    if failures:
        lines += ["## Failures", ""] + [f"- {f}" for f in failures] + [""]
    return "\n".join(lines)


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if isinstance(r[k], float) and math.isnan(r[k]) else
                             (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])) for k in CSV_COLUMNS})
    return buf.getvalue().encode()


def _plots(summary, colors, methods) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def style(name):
        kind = next(s["kind"] for s in summary if s["method"] == name)
        return dict(linestyle="-" if kind == "gifnets" else "--", marker="o" if kind == "gifnets" else "s",
                    markersize=3, linewidth=1.2)

    present = [m for m in methods if any(s["method"] == m for s in summary)]
    panels = [c for c in ("psnr", "wsnr", "ssim", "vmaf", "cambi", "banding")
              if any(not math.isnan(s[c]) for s in summary)]
    out = {}
    cmap = plt.get_cmap("tab20")
    colours = {m: cmap(i % 20) for i, m in enumerate(present)}

    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols + 3, 4 * nrows), squeeze=False)
    for ax, col in zip(axes.flat, panels):
        for m in present:
            pts = [(s["colors"], s[col]) for s in summary if s["method"] == m and not math.isnan(s[col])]
            if pts:
                ax.plot(*zip(*pts), label=m, color=colours[m], **style(m))
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(colors), [str(c) for c in colors])
        ax.set_xlabel("Np (palette size)")
        ax.set_ylabel(_HEADERS[col])
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.suptitle("Quality vs palette size (mean over images)")
    fig.tight_layout(rect=(0, 0, 1 - 2.6 / (5 * ncols + 3), 1))
    out["quality_vs_np.png"] = _png(fig, plt)

    qcols = [c for c in ("psnr", "wsnr") if c in panels]
    fig, axes = plt.subplots(1, len(qcols), figsize=(6 * len(qcols) + 3, 4.5), squeeze=False)
    for ax, col in zip(axes.flat, qcols):
        for m in present:
            pts = sorted((s["gif_bytes"], s[col]) for s in summary if s["method"] == m and not math.isnan(s[col]))
            if pts:
                ax.plot(*zip(*pts), label=m, color=colours[m], **style(m))
        ax.set_xscale("log")
        ax.set_xlabel("GIF bytes (mean over images; points are Np)")
        ax.set_ylabel(_HEADERS[col])
        ax.grid(True, alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.suptitle("Quality vs file size")
    fig.tight_layout(rect=(0, 0, 1 - 2.6 / (6 * len(qcols) + 3), 1))
    out["quality_vs_bytes.png"] = _png(fig, plt)
    return out


def _png(fig, plt) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


@dataclasses.dataclass
class _HtmlCell:
    label: str
    full: str  # relative path
    crop: str
    caption: str
    spectrum: str = ""  # relative path of the error spectrum's picture (none for the original)


def _html_page(examples: list[tuple[str, int, tuple, list[_HtmlCell]]], info: dict) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>gifnets benchmark: side by side</title>",
             "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
             "td{padding:4px;vertical-align:top;text-align:center;font-size:12px}"
             "img{image-rendering:pixelated;image-rendering:crisp-edges;display:block;margin:2px auto}"
             "th{font-size:13px}</style></head><body>",
             "<h1>gifnets benchmark: side by side</h1>",
             "<p>" + esc("; ".join(f"{k}: {v}" for k, v in info.items())) + "</p>",
             "<p>Each row: the full GIF, then a nearest-neighbour enlargement of the smoothest textured "
             "region (least gradient energy; red box on the original), where banding and dither noise show, "
             "and the power spectrum of the whole image's error (luma, DC in the middle, log scale from the "
             "median up 3 decades): broadband dither is an even haze, a periodic dot lattice a grid of bright "
             "points. "
             'Tables: <a href="summary.md">summary.md</a>, <a href="results.csv">results.csv</a>.</p>']
    for image, n, box, cells in examples:
        parts.append(f"<h2>{esc(image)} &mdash; Np = {n}</h2><table><tr>")
        parts += [f"<th>{esc(c.label)}</th>" for c in cells]
        parts.append("</tr><tr>")
        for c in cells:
            spectrum = (f'<img src="{esc(c.spectrum)}" alt="{esc(c.label)} error spectrum" title="error spectrum">'
                        if c.spectrum else "")
            parts.append(f'<td><img src="{esc(c.full)}" alt="{esc(c.label)}"><img src="{esc(c.crop)}" '
                         f'alt="{esc(c.label)} crop">{spectrum}<div>{esc(c.caption)}</div></td>')
        parts.append("</tr></table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _crop_zoom(rgb: np.ndarray, box: tuple[int, int, int], target: int = 256) -> np.ndarray:
    top, left, size = box
    crop = rgb[top:top + size, left:left + size]
    scale = max(1, target // size)
    return np.repeat(np.repeat(crop, scale, axis=0), scale, axis=1)


def _outline(rgb: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    top, left, size = box
    out = rgb.copy()
    red = np.array([255, 0, 0], np.uint8)
    bottom, right = top + size - 1, left + size - 1
    out[top, left:right + 1] = red
    out[bottom, left:right + 1] = red
    out[top:bottom + 1, left] = red
    out[top:bottom + 1, right] = red
    return out


# ----------------------------------------------------------------------------
# Runner


def _write(path: str, data: bytes, force: bool, written: list[str]) -> None:
    gif_io.atomic_write(path, data, force=force)
    written.append(path)


def run(images_dir: str, colors: Sequence[int] = DEFAULT_COLORS, methods: Sequence[str] | None = None,
        out_dir: str = "bench_out", max_images: int | None = None, html_examples: int = 4,
        vmaf: bool = True, exclude: Sequence[str] = (), html_colors: Sequence[int] | None = None,
        html_methods: Sequence[str] | None = None, timing_repeats: int = 1, warmup: bool = True,
        force: bool = False, progress: bool = True) -> BenchReport:
    """Run the benchmark and write its reports to ``out_dir`` (see the module docstring).

    ``methods`` are names or fnmatch patterns of :func:`method_table` (default: all);
    unavailable ones (no such encode stage yet, missing tool or model) are skipped and listed.
    ``html_colors``: the Np values shown on the HTML page (default: the smallest run).
    ``html_methods``: methods shown after the original (default: Pillow median-cut+FS,
    libimagequant dithered and, per Np, gifnets' default mode there: ``net+kmeans`` with DitherNet up to
    ``encode.DITHER_NET_MAX_COLORS``, with ``ed`` above). Existing report files are only
    replaced with ``force=True``.
    """
    from gif_pipeline.config import check_num_colors

    colors = sorted({check_num_colors(int(n)) for n in colors})
    if not colors:
        raise BenchError("no colour budgets given")
    if timing_repeats < 1:
        raise BenchError(f"timing_repeats must be >= 1, got {timing_repeats}")
    if max_images is not None and max_images < 1:
        raise BenchError(f"max_images must be >= 1, got {max_images}")
    if html_examples < 0:
        raise BenchError(f"html_examples must be >= 0, got {html_examples}")
    html_colors = [n for n in (html_colors or colors[:1]) if n in colors]
    chosen = select_methods(methods, exclude)
    files = find_images(images_dir, exclude_dir=out_dir)
    if max_images is not None:
        files = files[:max_images]
    if not files:
        raise BenchError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {images_dir}")
    report_names = ["results.csv", "summary.md", "index.html", "quality_vs_np.png", "quality_vs_bytes.png"]
    if not force:
        existing = [p for p in report_names if os.path.exists(os.path.join(out_dir, p))]
        if existing:
            raise OutputExistsError(f"{out_dir} already holds {', '.join(existing)} (use --force to replace)")
    os.makedirs(os.path.join(out_dir, "html"), exist_ok=True)

    skipped = {}
    active = []
    for m in chosen:
        reason = m.unavailable()
        if reason:
            skipped[m.name] = reason
        else:
            active.append(m)
    if not active:
        raise BenchError("none of the selected methods can run here: "
                         + "; ".join(f"{k}: {v}" for k, v in skipped.items()))

    html_default_for = None  # Np -> the gifnets column of the page when html_methods was not given
    if html_methods is None:
        # The trained pipeline (what `auto` picks where networks are installed: DitherNet up to
        # encode.DITHER_NET_MAX_COLORS, the error diffusion `ed` above), else any gifnets mode.
        from gif_pipeline import encode as _encode

        names = {m.name for m in active}
        net, ed = gifnets_method_name("net+kmeans", "net"), gifnets_method_name("net+kmeans", "ed")
        fallback = next((m.name for m in active if m.kind == "gifnets"), None)

        def html_default_for(n: int):
            want = net if n <= _encode.DITHER_NET_MAX_COLORS else ed
            return want if want in names else next((x for x in (net, ed) if x in names), fallback)

        html_methods = [*HTML_PEERS] + sorted({html_default_for(n) for n in html_colors} - {None},
                                              key=[net, ed, fallback].index)
    html_methods = [name for name in html_methods if any(m.name == name for m in active)]
    example_idx = set(np.linspace(0, len(files) - 1, min(html_examples, len(files))).round().astype(int).tolist()) \
        if html_examples else set()

    from tqdm import tqdm

    rows: list[dict] = []
    failures: list[str] = []
    examples = []
    lattice_scores = lattice.LatticeAccumulator()
    written: list[str] = []
    bar = tqdm(total=len(files) * len(colors) * len(active), file=sys.stderr, disable=not progress,
               unit="gif", dynamic_ncols=True)
    started = time.perf_counter()
    warmed = False
    try:
        for i, path in enumerate(files):
            rel = os.path.relpath(path, images_dir)
            try:
                rgb = image_io.load_image(path, background=(255, 255, 255)).rgb
            except GifnetsError as e:
                failures.append(f"{rel}: {e}")
                bar.update(len(colors) * len(active))
                continue
            if not warmed and warmup:
                bar.set_description("warm-up")
                for m in list(active):
                    for n in colors:
                        try:
                            m.encode(rgb, n)
                        except _UNAVAILABLE_ERRORS as e:
                            skipped[m.name] = str(e)
                            active.remove(m)
                            bar.total -= len(files) * len(colors)
                            break
                        except Exception:  # reported with the timed run below
                            pass
                warmed = True
            h, w = rgb.shape[:2]
            show = i in example_idx
            box = None
            if show:
                size = int(min(64, max(8, min(h, w) // 4)))
                box = (*smooth_crop_box(rgb, size), min(size, h, w))
                stem = _slug(os.path.splitext(rel)[0])
                orig_cell = ("original", f"html/{stem}.png", f"html/{stem}_crop.png")
                _write(os.path.join(out_dir, orig_cell[1]), _png_bytes(_outline(rgb, box)), True, written)
                _write(os.path.join(out_dir, orig_cell[2]), _png_bytes(_crop_zoom(rgb, box)), True, written)
            for n in colors:
                cells = []
                for m in active:
                    bar.set_description(f"{rel} Np={n} {m.name}"[-60:])
                    row = {"image": rel, "width": w, "height": h, "method": m.name, "kind": m.kind,
                           "colors": n, "colors_used": "", "error": ""}
                    row.update({c: math.nan for c in METRIC_COLUMNS})
                    try:
                        enc = _timed(m, rgb, n, timing_repeats)
                        row.update(measure_quality(rgb, enc.rgb, vmaf))
                        row["colors_used"] = peers.count_colors(enc.rgb)
                        row["gif_bytes"] = len(enc.gif_bytes)
                        row["ms"] = enc.seconds * 1000.0
                        lattice_scores.add((m.name, n), rgb, enc.rgb)
                    except Exception as e:  # one failing tool must not end a long run
                        row["error"] = f"{type(e).__name__}: {e}".replace("\n", " ")[:300]
                        failures.append(f"{rel} Np={n} {m.name}: {row['error']}")
                        enc = None
                    rows.append(row)
                    bar.update(1)
                    if (show and n in html_colors and enc is not None and m.name in html_methods
                            and (html_default_for is None or m.kind != "gifnets" or m.name == html_default_for(n))):
                        base = f"html/{stem}_np{n}_{_slug(m.name)}"
                        _write(os.path.join(out_dir, base + ".gif"), enc.gif_bytes, True, written)
                        _write(os.path.join(out_dir, base + "_crop.png"), _png_bytes(_crop_zoom(enc.rgb, box)),
                               True, written)
                        picture = lattice.spectrum_image(lattice.error_spectrum(rgb, enc.rgb))
                        _write(os.path.join(out_dir, base + "_spectrum.png"),
                               _png_bytes(np.repeat(picture[..., None], 3, axis=-1)), True, written)
                        cells.append(_HtmlCell(m.name, base + ".gif", base + "_crop.png",
                                               f"PSNR {row['psnr']:.2f} dB, WSNR {row['wsnr']:.2f} dB "
                                               f"(at 120 px/deg {row['wsnr120']:.2f}), {row['gif_bytes']:,} bytes",
                                               base + "_spectrum.png"))
                if show and n in html_colors:
                    cells.sort(key=lambda c: html_methods.index(c.label))
                    orig = _HtmlCell("original", orig_cell[1], orig_cell[2], f"{w}x{h}")
                    examples.append((rel, n, box, [orig] + cells))
    finally:
        bar.close()
    elapsed = time.perf_counter() - started

    method_order = [m.name for m in chosen]
    summary = summarize(rows, method_order, colors, lattice_scores)
    info = {
        "images": f"{len(files)} from {images_dir}",
        "Np": ", ".join(map(str, colors)),
        "VMAF/CAMBI": "on" if vmaf else "off (--no-vmaf)",
        "timing repeats": timing_repeats,
        "run time": f"{elapsed:.0f} s",
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "tools": _tool_versions(),
    }
    out = {}
    out["csv"] = os.path.join(out_dir, "results.csv")
    _write(out["csv"], _csv_bytes(rows), force, written)
    out["summary"] = os.path.join(out_dir, "summary.md")
    _write(out["summary"], _summary_markdown(summary, colors, method_order, skipped, failures, info).encode(),
           force, written)
    if summary:
        for fname, data in _plots(summary, colors, method_order).items():
            out[fname] = os.path.join(out_dir, fname)
            _write(out[fname], data, force, written)
    out["html"] = os.path.join(out_dir, "index.html")
    _write(out["html"], _html_page(examples, {k: info[k] for k in ("images", "date", "tools")}).encode(),
           force, written)
    return BenchReport(rows, summary, skipped, out, [os.path.relpath(f, images_dir) for f in files])


def _tool_versions() -> str:
    import PIL

    parts = [f"Pillow {PIL.__version__}"]
    try:
        from importlib.metadata import version

        parts.append(f"imagequant {version('imagequant')}")
        parts.append(f"imageio-ffmpeg {version('imageio-ffmpeg')}")
    except Exception:
        pass
    import shutil
    import subprocess

    exe = shutil.which("pngquant")
    if exe:
        try:
            v = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
            parts.append(f"pngquant {v.split()[0]}")
        except Exception:
            pass
    return ", ".join(parts)


# ----------------------------------------------------------------------------
# Command line


def build_parser(prog: str = "gifnets bench") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Compare gifnets with Pillow, k-means, libimagequant, ffmpeg "
                                "and pngquant on every image of a folder.")
    p.add_argument("images_dir", nargs="?", help="folder of images (searched recursively)")
    p.add_argument("--colors", type=int, nargs="+", default=list(DEFAULT_COLORS), metavar="NP",
                   help="palette sizes (default: %(default)s)")
    p.add_argument("--methods", nargs="+", metavar="NAME", help="methods or fnmatch patterns (default: all); "
                   "see --list")
    p.add_argument("--exclude", nargs="+", default=[], metavar="NAME", help="methods or patterns to leave out")
    p.add_argument("--out", default="bench_out", help="output folder (default: %(default)s)")
    p.add_argument("--max-images", type=int, default=None, help="use only the first N images")
    p.add_argument("--html-examples", type=int, default=4, help="images shown on index.html (default: %(default)s)")
    p.add_argument("--html-colors", type=int, nargs="+", default=None, metavar="NP",
                   help="Np shown on index.html (default: the smallest)")
    p.add_argument("--no-vmaf", action="store_true", help="skip VMAF and CAMBI (they call ffmpeg per image)")
    p.add_argument("--timing-repeats", type=int, default=1, help="encode each image R times, keep the fastest")
    p.add_argument("--force", action="store_true", help="replace existing reports in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the methods and whether they can run, then exit")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "gifnets bench") -> int:
    """``gifnets bench`` entry point; returns the exit code (0 ok, 2 bad input)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.list:
        for m in method_table().values():
            reason = m.unavailable()
            print(f"{m.name:28s} {m.description}" + (f"  [skipped: {reason}]" if reason else ""))
        return 0
    if args.images_dir is None:
        parser.error("the images folder is required")
    try:
        report = run(args.images_dir, colors=args.colors, methods=args.methods, out_dir=args.out,
                     max_images=args.max_images, html_examples=args.html_examples, vmaf=not args.no_vmaf,
                     exclude=args.exclude, html_colors=args.html_colors, timing_repeats=args.timing_repeats,
                     force=args.force, progress=not args.quiet)
    except GifnetsError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print_report(report)
    return 0


def print_report(report) -> None:
    """The summary table of a finished :func:`run` on stdout, the files it wrote on stderr."""
    with open(report.files["summary"], encoding="utf-8") as f:
        print(f.read())
    print("wrote " + ", ".join(report.files.values()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
