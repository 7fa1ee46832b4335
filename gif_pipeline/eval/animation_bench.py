"""``gifnets bench --task animation``: animated GIFs from clips, gifnets against gifski, ffmpeg and gifsicle.

On every clip (real clips trimmed to their first ``--frames`` frames, and synthetic pans / zooms over still photos),
in one process and one run:

* gifnets (:func:`gif_pipeline.animate.encode_frames`) at several ``--quality`` values;
* gifski (``--quality`` 50, 70, 90, 100; the npm package's binary, PNG frames in);
* ffmpeg two-pass: ``palettegen=stats_mode=diff`` + ``paletteuse=dither=sierra2_4a:diff_mode=rectangle``, and
  per-frame palettes (``stats_mode=single`` + ``paletteuse=new=1``);
* ``gifsicle -O3`` applied to each of them (same pixels, fewer bytes; its time is added to the tool's).

Each GIF is decoded (:func:`gif_pipeline.io.animation.composite_gif`) and sampled at the source's frame times
(:func:`gif_pipeline.metrics.video.frames_at`), then measured: mean PSNR over frames, VMAF over the clip (libvmaf),
flicker (:func:`gif_pipeline.metrics.video.flicker`), bytes and wall time (gifnets: frames in memory -> GIF bytes,
after a warm-up; peers: the tool's process on PNG frames on disk).

Outputs in ``--out``: per clip ``<clip>.csv``, ``<clip>.md``, ``<clip>_quality_vs_bytes.png`` (PSNR and VMAF vs
bytes); ``README.md`` (every table and the issue's targets checked per clip) and ``index.html`` (the GIFs side
by side, in ``html/``).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import glob
import html
import io
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np
from PIL import Image

from gif_pipeline.io import animation
from gif_pipeline.metrics import video as video_metrics

GIFNETS_QUALITIES = (10, 30, 50, 70, 80, 90, 97, 100)
GIFSKI_QUALITIES = (50, 70, 90, 100)
#: Real clips: (file in the clips folder, width to scale to or None). bigbuckbunny at 480x270 is the issue's clip.
REAL_CLIPS = (("bigbuckbunny.mp4", 480), ("bikes.mp4", 480), ("carphone_pristine.mp4", None))
#: Synthetic clips over the held-out photos: (name, photo, kind).
SYNTHETIC_CLIPS = (("pan", "mate-backgrounds/00003.png", "pan"), ("zoom", "python3-skimage/00013.png", "zoom"))


@dataclasses.dataclass
class Clip:
    name: str
    kind: str  # "real" or "synthetic"
    fps: float
    frames: list[np.ndarray]
    note: str
    lab: list[np.ndarray] | None = None  # the frames' video_metrics.blurred_lab, made by the first measure()


def gifski_exe() -> str | None:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for path in (os.environ.get("GIFSKI", ""), os.path.join(here, "node_modules/gifski/bin/debian/gifski"),
                 shutil.which("gifski") or ""):
        if path and os.path.exists(path):
            return path
    return None


def real_clip(path: str, width: int | None, frames: int) -> Clip:
    from gif_pipeline.io import video

    info = video.probe(path)
    size = video.output_size(info.width, info.height, width, None)
    rate = min(info.fps, video.MAX_FPS)
    out = []
    for rgb in video.iter_video(path, info, fps=rate, size=size, duration=(frames + 0.5) / rate):
        out.append(rgb.copy())
        if len(out) == frames:
            break
    name = os.path.splitext(os.path.basename(path))[0]
    return Clip(name, "real", rate, out, f"{os.path.basename(path)}: first {len(out)} frames at {rate:g} fps, "
                f"{size[0]}x{size[1]}")


def synthetic_clip(name: str, photo: str, kind: str, frames: int, fps: float = 25.0) -> Clip:
    """A pan (a 192x144 window sliding 1.3 px per frame, bicubic) or a zoom (1x -> 1.5x into the centre, 256x256)."""
    im = Image.open(photo).convert("RGB")
    w, h = im.size
    out = []
    for t in range(frames):
        if kind == "pan":
            x = 8 + 1.3 * t
            box = (x, 40, x + 192, 40 + 144)
            out.append(np.asarray(im.transform((192, 144), Image.EXTENT, box, Image.BICUBIC)))
        else:
            s = 1.0 + 0.5 * t / max(1, frames - 1)
            cw, ch = w / s, h / s
            box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
            out.append(np.asarray(im.transform((w, h), Image.EXTENT, box, Image.BICUBIC)))
    size = out[0].shape
    return Clip(name, "synthetic", fps, out, f"synthetic {kind} over {photo}: {frames} frames at {fps:g} fps, "
                f"{size[1]}x{size[0]}")


# ----------------------------------------------------------------------------
# Methods: each returns (gif bytes, seconds)


def _run(cmd: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    return time.perf_counter() - start


def gifnets_method(quality: int, **options) -> Callable:
    def run(clip: Clip, tmp: str):
        from gif_pipeline import animate

        start = time.perf_counter()
        result = animate.encode_frames(clip.frames, None, fps=clip.fps, quality=quality, **options)
        return result.gif_bytes, time.perf_counter() - start, f"{result.palette_mode}, {result.palettes} palettes"
    return run


def gifski_method(quality: int) -> Callable:
    def run(clip: Clip, tmp: str):
        out = os.path.join(tmp, f"gifski_{quality}.gif")
        pngs = sorted(glob.glob(os.path.join(tmp, "frames", "*.png")))
        h, w = clip.frames[0].shape[:2]
        seconds = _run([gifski_exe(), "--quiet", "--fps", f"{clip.fps:g}", "--quality", str(quality), "--width", str(w),
                        "--height", str(h), "-o", out, *pngs])
        with open(out, "rb") as f:
            return f.read(), seconds, ""
    return run


def ffmpeg_method(kind: str) -> Callable:
    def run(clip: Clip, tmp: str):
        from gif_pipeline.io import video

        out = os.path.join(tmp, f"ffmpeg_{kind}.gif")
        if kind == "diff":
            graph = ("[0:v]split[a][b];[a]palettegen=stats_mode=diff[p];"
                     "[b][p]paletteuse=dither=sierra2_4a:diff_mode=rectangle")
        else:
            graph = "[0:v]split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1"
        seconds = _run([video.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-framerate",
                        f"{clip.fps:g}", "-i", os.path.join(tmp, "frames", "%05d.png"), "-filter_complex", graph,
                        out])
        with open(out, "rb") as f:
            return f.read(), seconds, ""
    return run


#: gifnets with DitherNet (``--dither net``) at these qualities: its VMAF against no dither's (the default above
#: 64 colours).
GIFNETS_NET_QUALITIES = (90,)


#: gifnets with ``--dither none`` at these qualities: the default dithers (``ordered``, then error diffusion), which
#: costs PSNR for VMAF; this curve shows the other side.
GIFNETS_NODITHER_QUALITIES = (10, 30, 50, 70, 90, 100)

#: gifnets with ``--dither ed`` at these qualities. Since 2026-12-07 ``auto`` is ``ed`` at every quality, so this row
#: repeats the default's bytes (the equality is asserted in tests/io/test_animation.py, not here); it stays until
#: results/animation is re-run without it.
GIFNETS_ED_QUALITIES = (30,)

#: gifnets with ``--lossy`` (the run search of ``gif_pipeline.quant.lossy`` instead of a dither) at these qualities.
GIFNETS_LOSSY_QUALITIES = (30, 50, 70, 80, 90, 100)

#: gifnets with ``--palette-mode tiered`` (a 256-colour first frame, small local tables for the changed pixels) at
#: these qualities: the low and middle end, where gifski writes that way.
GIFNETS_TIERED_QUALITIES = (10, 30, 50, 70)


def method_table(qualities=GIFNETS_QUALITIES, net_qualities=GIFNETS_NET_QUALITIES,
                 nodither_qualities=GIFNETS_NODITHER_QUALITIES,
                 tiered_qualities=GIFNETS_TIERED_QUALITIES, ed_qualities=GIFNETS_ED_QUALITIES,
                 lossy_qualities=GIFNETS_LOSSY_QUALITIES) -> dict[str, tuple[str, Callable]]:
    methods = {f"gifnets q{q}": ("gifnets", gifnets_method(q)) for q in qualities}
    methods.update({f"gifnets-nodither q{q}": ("gifnets", gifnets_method(q, dither="none"))
                    for q in nodither_qualities})
    methods.update({f"gifnets-tiered q{q}": ("gifnets", gifnets_method(q, palette_mode="tiered"))
                    for q in tiered_qualities})
    methods.update({f"gifnets-dithernet q{q}": ("gifnets", gifnets_method(q, dither="net")) for q in net_qualities})
    methods.update({f"gifnets-ed q{q}": ("gifnets", gifnets_method(q, dither="ed")) for q in ed_qualities})
    methods.update({f"gifnets-lossy q{q}": ("gifnets", gifnets_method(q, lossy=True)) for q in lossy_qualities})
    if gifski_exe():
        methods.update({f"gifski q{q}": ("gifski", gifski_method(q)) for q in GIFSKI_QUALITIES})
    methods["ffmpeg diff"] = ("ffmpeg", ffmpeg_method("diff"))
    methods["ffmpeg per-frame"] = ("ffmpeg", ffmpeg_method("single"))
    return methods


def gifsicle_o3(data: bytes, tmp: str) -> tuple[bytes, float]:
    src, dst = os.path.join(tmp, "in_o3.gif"), os.path.join(tmp, "out_o3.gif")
    with open(src, "wb") as f:
        f.write(data)
    seconds = _run(["gifsicle", "-O3", "-o", dst, src])
    with open(dst, "rb") as f:
        return f.read(), seconds


def colour(clip: Clip, shown: list[np.ndarray]) -> float:
    """:func:`video_metrics.colour_error` of ``shown`` against the clip (its frames' side computed once a clip)."""
    if clip.lab is None:
        clip.lab = [video_metrics.blurred_lab(f, video_metrics.COLOUR_SIGMA) for f in clip.frames]
    return video_metrics.colour_error(clip.frames, shown, reference_lab=clip.lab)


def measure(clip: Clip, data: bytes, with_vmaf: bool, with_colour: bool = True) -> dict:
    frames, delays = animation.composite_gif(data)
    times = [i / clip.fps for i in range(len(clip.frames))]
    shown = video_metrics.frames_at(frames, delays, times)
    out = {"psnr": video_metrics.mean_psnr(clip.frames, shown), "flicker": video_metrics.flicker(clip.frames, shown),
           "colour": colour(clip, shown) if with_colour else math.nan,
           "gif_frames": len(frames), "gif_seconds": sum(delays) / 100.0,
           "vmaf": math.nan, "vmaf_neg": math.nan}
    if with_vmaf:
        scores = video_metrics.vmaf_scores(clip.frames, shown, models=("vmaf", "vmaf_neg"))
        out.update(vmaf=scores["vmaf"], vmaf_neg=scores["vmaf_neg"])
    return out, shown


# ----------------------------------------------------------------------------
# Reports

COLUMNS = ("method", "bytes", "psnr", "vmaf", "vmaf_neg", "colour", "flicker", "seconds", "gif_frames", "gif_seconds", "note")
HEADERS = {"method": "method", "bytes": "bytes", "psnr": "mean PSNR dB", "vmaf": "VMAF", "vmaf_neg": "VMAF NEG",
           "colour": "colour ΔE",
           "flicker": "flicker", "seconds": "time s", "gif_frames": "GIF frames", "gif_seconds": "GIF s", "note": "note"}


def _fmt(col, v):
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.2f}" if col != "flicker" else f"{v:.3f}"
    if col == "bytes":
        return f"{v:,}"
    return str(v)


def table_md(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if c != "note"]
    lines = ["| " + " | ".join(HEADERS[c] for c in cols) + " |",
             "|---|" + "---:|" * (len(cols) - 1)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(c, r[c]) for c in cols) + " |")
    return "\n".join(lines)


def _interp(points: list[tuple[int, float]], size: float, beyond: str = "best") -> float | None:
    """gifnets' value at ``size`` bytes: log-linear between its points; above its largest file, its best point
    (``beyond="best"``: a smaller gifnets file does at least that) or its largest file's (``"nearest"``); below its
    smallest file: None (gifnets does not reach that size)."""
    pts = sorted(points)
    if not pts or size < pts[0][0]:
        return None
    if size >= pts[-1][0]:
        return max(v for _, v in pts) if beyond == "best" else pts[-1][1]
    for (b0, v0), (b1, v1) in zip(pts, pts[1:]):
        if b0 <= size <= b1:
            f = 0.0 if b1 == b0 else (math.log(size) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return v0 + f * (v1 - v0)
    return None


def _wins(rows: list[dict], families: dict[str, list[dict]], metric: str):
    """``(wins, total, (method, margin))``: the peer points below the best of ``families`` at their size, and the
    smallest margin."""
    wins, total, worst = 0, 0, None
    for r in rows:
        if r["method"].startswith("gifnets") or math.isnan(r.get(metric, math.nan)):
            continue
        total += 1
        values = [_interp([(g["bytes"], g[metric]) for g in fam if not math.isnan(g.get(metric, math.nan))], r["bytes"])
                  for fam in families.values()]
        values = [v for v in values if v is not None]
        v = max(values) if values else None
        margin = None if v is None else v - r[metric]
        if margin is not None and margin > 0:
            wins += 1
        if worst is None or margin is None or (worst[1] is not None and margin < worst[1]):
            worst = (r["method"], margin)
    return wins, total, worst


def _margin(m: float) -> str:
    """A margin with two decimals; three below 0.1, so that a near-tie does not read as -0.01 or +0.00."""
    return f"{m:+.2f}" if abs(m) >= 0.1 else f"{m:+.3f}"


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets on one clip, against the rows without gifsicle (and, for bytes, with it: best of both)."""
    gn = [r for r in rows if r["method"].startswith("gifnets") and "gifsicle" not in r["method"]]
    families: dict[str, list[dict]] = {}  # one curve per gifnets setting (default, DitherNet; each +gifsicle)
    for r in rows:
        if r["method"].startswith("gifnets"):
            families.setdefault(r["method"].split(" q")[0] + (" O3" if "gifsicle" in r["method"] else ""), []).append(r)
    lines = []
    for metric in ("psnr", "vmaf", "vmaf_neg"):
        wins, total, worst = _wins(rows, families, metric)
        if total == 0:  # not measured (--no-vmaf, or a CSV from before the NEG column)
            continue
        ok = wins == total
        desc = "n/a" if worst is None else (f"{worst[0]}: " + ("gifnets does not reach its size" if worst[1] is None
                                                                 else _margin(worst[1])))
        alone = []
        for name in ("gifnets", "gifnets-lossy"):  # the default, and --lossy, each on its own (and + gifsicle)
            own = {k: v for k, v in families.items() if k in (name, name + " O3")}
            if own:
                w, t, _ = _wins(rows, own, metric)
                alone.append(f"{'default' if name == 'gifnets' else '--lossy'} alone {w}/{t}")
        label = {"psnr": "PSNR", "vmaf": "VMAF", "vmaf_neg": "VMAF NEG"}[metric]
        extra = " (libvmaf's no-enhancement-gain model, beside the issue's VMAF)" if metric == "vmaf_neg" else ""
        lines.append(f"- {label} per byte above every peer point (gifski q50-100, ffmpeg, each also after "
                     f"gifsicle -O3){extra}: **{'met' if ok else 'not met'}** ({wins}/{total} points; smallest margin "
                     f"{desc}" + (f"; {', '.join(alone)}" if alone else "") + ")")
    ref = next((r for r in rows if r["method"] == "gifski q90"), None)
    default = [r for r in gn if r["method"].startswith("gifnets q")]
    if ref is not None:
        f = _interp([(r["bytes"], r["flicker"]) for r in default], ref["bytes"], beyond="nearest")
        lines.append(f"- flicker at gifski q90's size ({ref['bytes']:,} bytes; default gifnets, interpolated): gifnets "
                     f"{'n/a' if f is None else f'{f:.3f}'} vs gifski {ref['flicker']:.3f}: "
                     f"**{'met' if f is not None and f <= ref['flicker'] else 'not met'}**")
        for peer in ("gifski q50", "gifski q90"):
            pr = next((r for r in rows if r["method"] == peer), None)
            c = None if pr is None or "colour" not in pr else _interp(
                [(r["bytes"], r["colour"]) for r in default if not math.isnan(r.get("colour", math.nan))], pr["bytes"],
                beyond="nearest")
            if pr is not None and not math.isnan(pr.get("colour", math.nan)):
                ours = "n/a (its smallest file is larger)" if c is None else f"{c:.2f}"
                lines.append(f"- colour ΔE at {peer}'s size ({pr['bytes']:,} bytes; default gifnets, interpolated; "
                             f"lower is better, not an issue target): gifnets {ours} vs gifski {pr['colour']:.2f}")
        q90 = next((r for r in gn if r["method"] == "gifnets q90"), None)
        if q90:
            met = "met" if q90["seconds"] <= ref["seconds"] else "not met"
            lines.append(f"- speed: gifnets q90 {q90['seconds']:.2f} s vs gifski q90 {ref['seconds']:.2f} s "
                         f"({q90['seconds'] / ref['seconds']:.2f}x): **{met}**")
    return lines


def plot(rows: list[dict], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    groups = {}
    for r in rows:
        tool = r["method"].split()[0] + (" + gifsicle -O3" if "gifsicle" in r["method"] else "")
        groups.setdefault(tool, []).append(r)
    families = list(dict.fromkeys(tool.replace(" + gifsicle -O3", "") for tool in groups))
    colours = {f: plt.get_cmap("tab10")(i % 10) for i, f in enumerate(families)}  # a setting and its +gifsicle: one colour
    for ax, col in zip(axes, ("psnr", "vmaf")):
        for tool, rs in groups.items():
            pts = sorted((r["bytes"], r[col]) for r in rs if not math.isnan(r[col]))
            if not pts:
                continue
            family = tool.replace(" + gifsicle -O3", "")
            marker = "o" if tool.startswith("gifnets") else ("s" if tool.startswith("gifski") else "^")
            line = "" if tool.startswith("ffmpeg") else (":" if "gifsicle" in tool else "-")
            ax.plot(*zip(*pts), line + marker, color=colours[family], label=tool, markersize=4,
                    alpha=0.45 if "gifsicle" in tool else 1.0, linewidth=2.0 if family in ("gifnets", "gifski") else 1.2)
        ax.set_xscale("log")
        ax.set_xlabel("GIF bytes")
        ax.set_ylabel({"psnr": "mean PSNR (dB)", "vmaf": "VMAF"}[col])
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def html_page(clips: list[tuple[Clip, list[tuple[str, str, dict]]]], info: str) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>gifnets animation bench</title>",
             "<style>body{font-family:sans-serif;margin:1em} figure{display:inline-block;margin:4px;vertical-align:top}"
             " figcaption{font-size:12px;max-width:480px}</style>",
             "<h1>Animated GIFs side by side</h1>", f"<p>{html.escape(info)}</p>"]
    for clip, cells in clips:
        parts.append(f"<h2>{html.escape(clip.name)} ({clip.kind})</h2><p>{html.escape(clip.note)}</p>")
        for label, src, row in cells:
            colour = _fmt("colour", row.get("colour", math.nan)) if row else ""
            neg = _fmt("vmaf_neg", row.get("vmaf_neg", math.nan)) if row else ""
            cap = f"{label}" if not row else (f"{label}: {row['bytes']:,} bytes, PSNR {row['psnr']:.2f} dB, "
                                               f"VMAF {_fmt('vmaf', row['vmaf'])}" + (f" (NEG {neg})" if neg else "")
                                               + f", colour ΔE {colour}, flicker {row['flicker']:.3f}")
            parts.append(f"<figure><img src='{html.escape(src)}' alt='{html.escape(label)}'>"
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    return "\n".join(parts)


#: The methods whose GIFs the side-by-side page plays, in its order (peers side by side).
HTML_METHODS = ("gifnets q50", "gifski q50", "gifnets-lossy q50", "gifnets q90", "gifski q90", "ffmpeg diff")


def _page_file(clip: Clip, method: str | None = None) -> str:
    """Where the page's file of ``method`` (None: the clip's first frame) lives, relative to the output folder."""
    return os.path.join("html", f"{clip.name}_source.png" if method is None
                        else f"{clip.name}_{method.replace(' ', '_')}.gif")


def _page_cells(clip: Clip, rows: list[dict], out_dir: str, html_methods=HTML_METHODS) -> list:
    """The page's figures for one clip: its first frame, then each of ``html_methods`` whose GIF is in
    ``out_dir/html``."""
    cells = [("source (first frame, PNG)", _page_file(clip), {})]
    by = {r["method"]: r for r in rows}
    for name in html_methods:
        src = _page_file(clip, name)
        if name in by and os.path.exists(os.path.join(out_dir, src)):
            cells.append((name, src, by[name]))
    return cells


def run(clips: list[Clip], out_dir: str, methods: dict, vmaf: bool = True, gifsicle: bool = True,
        html_methods: tuple[str, ...] = HTML_METHODS, progress: bool = True) -> dict:
    os.makedirs(os.path.join(out_dir, "html"), exist_ok=True)
    all_rows, page = {}, []
    warm = clips[0]
    gifnets_method(90)(Clip(warm.name, warm.kind, warm.fps, warm.frames[:3], ""), "")  # networks loaded, traced
    for clip in clips:
        rows = []
        with tempfile.TemporaryDirectory(prefix="gifnets_anim_") as tmp:
            os.makedirs(os.path.join(tmp, "frames"))
            for i, rgb in enumerate(clip.frames):
                Image.fromarray(rgb).save(os.path.join(tmp, "frames", f"{i:05d}.png"), compress_level=1)
            Image.fromarray(clip.frames[0]).save(os.path.join(out_dir, _page_file(clip)))
            for name, (tool, fn) in methods.items():
                try:
                    data, seconds, note = fn(clip, tmp)
                except Exception as e:  # a peer that fails is reported, the bench goes on
                    print(f"{clip.name} {name}: failed: {e}", file=sys.stderr)
                    continue
                metrics, _ = measure(clip, data, vmaf)
                row = {"method": name, "bytes": len(data), "seconds": seconds, "note": note, **metrics}
                rows.append(row)
                if progress:
                    print(f"{clip.name:14s} {name:18s} {len(data):>10,} B  PSNR {metrics['psnr']:6.2f}  VMAF "
                          f"{metrics['vmaf']:6.2f}  NEG {metrics['vmaf_neg']:6.2f}  ΔE {metrics['colour']:.2f}  "
                          f"flicker {metrics['flicker']:.3f}  {seconds:6.2f} s", file=sys.stderr)
                if name in html_methods:
                    with open(os.path.join(out_dir, _page_file(clip, name)), "wb") as f:
                        f.write(data)
                if gifsicle and shutil.which("gifsicle"):
                    small, extra = gifsicle_o3(data, tmp)
                    m2, shown2 = measure(clip, small, False, with_colour=False)
                    same = abs(m2["psnr"] - metrics["psnr"]) <= 1e-9 and abs(m2["flicker"] - metrics["flicker"]) <= 1e-9
                    rows.append({**row, "method": name + " + gifsicle -O3", "bytes": len(small),
                                 "seconds": seconds + extra, "psnr": m2["psnr"], "flicker": m2["flicker"],
                                 "colour": row["colour"] if same else colour(clip, shown2),
                                 "note": "same pixels" if same else "gifsicle changed the pixels",
                                 "vmaf": row["vmaf"] if same else math.nan,
                                 "vmaf_neg": row["vmaf_neg"] if same else math.nan})
        all_rows[clip.name] = rows
        page.append((clip, _page_cells(clip, rows, out_dir, html_methods)))
        with open(os.path.join(out_dir, f"{clip.name}.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r[k] for k in COLUMNS})
        _write_clip_report(clip, rows, out_dir)
    info = _info()
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write(html_page(page, info))
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(summary_md(clips, all_rows, info))
    return all_rows


def _write_clip_report(clip: Clip, rows: list[dict], out_dir: str) -> None:
    with open(os.path.join(out_dir, f"{clip.name}.md"), "w") as f:
        f.write(f"# {clip.name} ({clip.kind})\n\n{clip.note}\n\n{table_md(rows)}\n\n" + "\n".join(targets(rows)) + "\n")
    with open(os.path.join(out_dir, f"{clip.name}_quality_vs_bytes.png"), "wb") as f:
        f.write(plot(rows, f"{clip.name} ({clip.kind}): {clip.note}"))


def report(clips: list[Clip], out_dir: str) -> None:
    """Tables, plots, README.md and the side-by-side page again from the CSVs and GIFs of a run (the README keeps
    the run's header line)."""
    all_rows, page = {}, []
    for clip in clips:
        with open(os.path.join(out_dir, f"{clip.name}.csv"), newline="") as f:
            rows = [{**r, "bytes": int(r["bytes"]), "gif_frames": int(r["gif_frames"]),
                     **{k: float(r[k]) if r.get(k, "") != "" else math.nan
                        for k in ("psnr", "vmaf", "vmaf_neg", "colour", "flicker", "seconds", "gif_seconds")}}
                    for r in csv.DictReader(f)]
        all_rows[clip.name] = rows
        page.append((clip, _page_cells(clip, rows, out_dir)))
        _write_clip_report(clip, rows, out_dir)
    readme = os.path.join(out_dir, "README.md")
    info = _info()
    if os.path.exists(readme):
        with open(readme) as f:
            text = f.read()
        start = text.find("(") + 1
        info = text[start:text.find(").", start)]
    with open(readme, "w") as f:
        f.write(summary_md(clips, all_rows, info))
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write(html_page(page, info))


def _info() -> str:
    from gif_pipeline.io import video

    versions = []
    if gifski_exe():
        versions.append(subprocess.run([gifski_exe(), "--version"], capture_output=True, text=True).stdout.strip())
    ff = subprocess.run([video.ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    versions.append(" ".join(ff.split()[:3]))
    if shutil.which("gifsicle"):
        versions.append(subprocess.run(["gifsicle", "--version"], capture_output=True, text=True).stdout.split("\n")[0])
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
            f"{os.cpu_count()} CPUs; " + "; ".join(versions))


def summary_md(clips, all_rows, info) -> str:
    out = ["# Animated GIFs: gifnets vs gifski, ffmpeg and gifsicle", "",
           f"One run of `gifnets bench --task animation` ({info}). Real clips are the first frames of "
           "`../shared/data/clips`; synthetic clips are pans and zooms over held-out photos of `../shared/data/val`. "
           "PSNR: mean over the source frames of the PSNR of the frame the GIF shows at that time; VMAF: libvmaf's "
           "default model over the clip; VMAF NEG: its no-enhancement-gain model (`vmaf_v0.6.1neg`, the one Netflix "
           "recommends for comparing codecs: the default model scores a frame sharpened past its source above the "
           "source itself), same pass; colour ΔE: mean CIEDE2000 between the source and the shown frames, both "
           f"blurred by a Gaussian of {video_metrics.COLOUR_SIGMA} px in linear light (dither dots merge, a colour "
           "cast or a missing hue stays: VMAF reads luma only; not an issue target); flicker: mean absolute change "
           "of the output between consecutive frames on "
           f"pixels whose source changed by less than {video_metrics.STILL_LEVELS} levels; time: wall seconds of the "
           "encode (gifnets: frames in memory to GIF bytes on the LiteRT runtime; peers: their process on PNG frames; "
           "gifsicle rows add gifsicle's time). gifnets points: `gifnets qN` is the default encoder "
           "(`--palette-mode auto`, `--dither auto`: the error diffusion `ed` over the canvas, on half the palette up to "
           "`--quality 55`) at `--quality N`, `gifnets-nodither qN` "
           "adds `--dither none`, `gifnets-ed qN` `--dither ed`, "
           "`gifnets-dithernet qN` adds `--dither net`, `gifnets-tiered qN` adds `--palette-mode tiered` (a 256-colour "
           "first frame, then local tables of half the quality's palette fitted to each frame's changed pixels, no "
           "dither), `gifnets-lossy qN` adds `--lossy` (each frame's indices from the search that trades squared error "
           "against run breaks, no dither); the targets compare each peer point with the best gifnets "
           "curve at its size (log-linear in bytes between one setting's points; above a curve's largest file, its "
           "best point). "
           "Per clip: CSV, table and plot files beside this one; [side-by-side page](index.html).", "",
           "## The issue's targets, per clip", ""]
    for clip in clips:
        out += [f"**{clip.name}** ({clip.kind})", "", *targets(all_rows[clip.name]), ""]
    for clip in clips:
        rows = all_rows[clip.name]
        out += [f"## {clip.name} ({clip.kind})", "", clip.note, "", table_md(rows), "", *targets(rows), "",
                f"![PSNR and VMAF vs bytes]({clip.name}_quality_vs_bytes.png)", ""]
    return "\n".join(out)


def load_clips(clips_dir: str, val_dir: str, frames: int, names=None) -> list[Clip]:
    clips = []
    for file, width in REAL_CLIPS:
        name = os.path.splitext(file)[0]
        if names and name not in names:
            continue
        path = os.path.join(clips_dir, file)
        if os.path.exists(path):
            clips.append(real_clip(path, width, frames))
    for name, photo, kind in SYNTHETIC_CLIPS:
        if names and name not in names:
            continue
        path = os.path.join(val_dir, photo)
        if os.path.exists(path):
            clips.append(synthetic_clip(name, path, kind, max(2, frames * 4 // 5)))
    return clips


def add_clip_arguments(p: argparse.ArgumentParser, qualities) -> None:
    """The bench's clip selection (``--clips --val --only --frames``, for :func:`load_clips`) and ``--qualities``:
    also the animation benchmark scripts'."""
    p.add_argument("--clips", default="../shared/data/clips", help="folder of the real clips (default: %(default)s)")
    p.add_argument("--val", default="../shared/data/val", help="photos for the synthetic clips (default: %(default)s)")
    p.add_argument("--only", nargs="+", default=None, metavar="CLIP", help="clip names to run (default: all)")
    p.add_argument("--frames", type=int, default=60, help="frames per real clip (synthetic: 4/5 of it)")
    p.add_argument("--qualities", type=int, nargs="+", default=list(qualities), help="gifnets --quality values")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_clip_arguments(p, GIFNETS_QUALITIES)
    p.add_argument("--net-qualities", type=int, nargs="*", default=list(GIFNETS_NET_QUALITIES),
                   help="gifnets --dither net at these --quality values")
    p.add_argument("--nodither-qualities", type=int, nargs="*", default=list(GIFNETS_NODITHER_QUALITIES),
                   help="gifnets --dither none at these --quality values")
    p.add_argument("--tiered-qualities", type=int, nargs="*", default=list(GIFNETS_TIERED_QUALITIES),
                   help="gifnets --palette-mode tiered at these --quality values")
    p.add_argument("--ed-qualities", type=int, nargs="*", default=list(GIFNETS_ED_QUALITIES),
                   help="gifnets --dither ed at these --quality values")
    p.add_argument("--lossy-qualities", type=int, nargs="*", default=list(GIFNETS_LOSSY_QUALITIES),
                   help="gifnets --lossy at these --quality values")
    p.add_argument("--out", default="results/animation", help="output folder (default: %(default)s)")
    p.add_argument("--no-vmaf", action="store_true")
    p.add_argument("--no-gifsicle", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report-only", action="store_true", help="rewrite the tables, plots and README from the CSVs "
                   "in --out (no encoding)")
    return p


def main(argv=None, prog: str = "gifnets bench --task animation") -> int:
    args = build_parser(prog).parse_args(argv)
    clips = load_clips(args.clips, args.val, args.frames, args.only)
    if not clips:
        print(f"{prog}: error: no clips found in {args.clips} or {args.val}", file=sys.stderr)
        return 2
    if not gifski_exe():
        print(f"{prog}: gifski not found (npm install gifski, or $GIFSKI): its rows are left out", file=sys.stderr)
    if args.report_only:
        report(clips, args.out)
        return 0
    methods = method_table(tuple(args.qualities), tuple(args.net_qualities), tuple(args.nodither_qualities),
                           tuple(args.tiered_qualities), tuple(args.ed_qualities), tuple(args.lossy_qualities))
    run(clips, args.out, methods, vmaf=not args.no_vmaf, gifsicle=not args.no_gifsicle, progress=not args.quiet)
    with open(os.path.join(args.out, "README.md")) as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
