"""Frames -> animated GIF: palettes (global, per frame or mixed), temporal stability, changed rectangles.

:func:`encode_frames` (also :func:`gif_pipeline.encode.encode_frames`) reads frames one at a time from any iterable
(a generator works) and streams the GIF out through :class:`gif_pipeline.io.animation.AnimationWriter`.

Per frame:

1. **Temporal stability.** Each canvas pixel remembers the source value it was last written from (``ref``). A pixel
   whose source moved by at most ``threshold`` levels (max over R, G, B) since then is not written again: it keeps
   showing what it shows, through the frame's transparent index. Still areas stay still (no dither crawl), and the
   drift of a slow change is bounded by the threshold (it is measured from ``ref``, not from the previous frame).
   :func:`quality_settings` ties the threshold to ``quality`` (1-100).
2. **Palette** (``palette_mode``): ``global`` - one palette from the palette stage (default PaletteNet + k-means,
   :mod:`gif_pipeline.encode`) over a mosaic of sampled frames; ``frame`` - a new palette per frame, fitted to the
   rectangle that changed (up to :data:`HALF_PALETTE_MAX_QUALITY` only when the last one no longer fits it,
   :data:`FRAME_REFIT_RATIO`); ``mixed`` - the global palette, and a new local palette (kept for the following frames)
   only where the changed pixels' error on the current palette rises well above its error where it was fitted (a
   scene change); ``tiered`` - the first frame (and frames that change most of the canvas) on a 256-colour palette,
   every other frame's changed pixels on a small local table fitted to just those pixels (:data:`TIER_GLOBAL_COLORS`),
   as gifski writes at low quality. ``auto`` encodes the first :data:`TRIAL_FRAMES` frames in ``global``, ``mixed``
   and ``frame`` (not ``mixed`` at the low end: :data:`TRIAL_LOW_MODES`) and keeps the best by
   ``PSNR - BITS_DB * log2(bytes)`` (:data:`BITS_DB` dB per doubling of the file: the slope of gifski's curve); it
   never picks ``tiered``, which won PSNR per byte on one bench clip of five and VMAF per byte on none
   (docs/experiments/animation.md).
3. **Dither** the changed rectangle (``ed`` - error diffusion where the colour a pixel shows is one more candidate,
   the transparent index, :data:`ED_BG_BIAS`; ``none``; ``ordered`` - a blue-noise pattern dither whose mask is fixed
   to the canvas, so an unchanged pixel maps to the same index in every frame - ``fs`` or DitherNet), then mark as
   transparent every pixel that is not changed, or whose new colour equals the shown one; the frame stores the
   rectangle around what is left. Frames with nothing left are merged into the previous frame's delay.
   ``lossy`` replaces this step: :mod:`gif_pipeline.quant.lossy` chooses every index of the rectangle, the
   transparent one included, by squared error against the number of index changes along each row (what GIF's LZW
   pays for), a still pixel paying :data:`LOSSY_MU` to show another colour.

The palette holds ``colors - 1`` colours and the transparent index.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from gif_pipeline.errors import GifnetsError
from gif_pipeline.io import animation

PALETTE_MODES = ("auto", "global", "frame", "mixed", "tiered")
#: Frames ``palette_mode="auto"`` tries each mode on (the first ones of the clip).
TRIAL_FRAMES = 6
#: dB of PSNR one doubling of the file is worth when ``auto`` compares modes (gifski's q70 -> q90 in the issue:
#: +2.4 dB for 1.48x the bytes, ~4.2 dB per doubling).
BITS_DB = 4.0
#: Frames sampled for the global palette; with ``ed`` from :data:`KEEP_MIN_QUALITY` up, :data:`TOP_SAMPLES`
#: (``ed_samples`` of :func:`quality_settings`; :func:`sample_count`). Spread evenly over the clip when the frames are
#: a sequence (``encode_frames`` given a list; ``gifnets encode``'s first pass over a file), else the first ones: a
#: palette fitted to the first 16 of bikes' 60 frames left frame 30 on a pink cast (low-pass colour error 8.5 levels;
#: spread: 3.1) at q50 (docs/experiments/animation.md, 2026-12-07 third session).
GLOBAL_SAMPLES = 16
#: Frames sampled for ``ed``'s global palette from :data:`KEEP_MIN_QUALITY` up: on the first 60 frames of bigbuckbunny
#: at q90 with ``ed``, 60 sampled frames instead of 16 gave +0.7 VMAF for +0.2 % bytes (95.72 -> 96.43). Not without
#: dither: there it made ``auto`` pick per-frame palettes on carphone (+10 % bytes, +0.27 VMAF, slower)
#: (docs/experiments/animation.md, 2026-12-06 high end). Costs holding these frames (a 1080p frame is 6.2 MB) before
#: the first is written.
TOP_SAMPLES = 64
#: Frame rate of plain frames when no ``fps`` is given (gifski's default).
DEFAULT_FPS = 20.0
#: ``mixed`` fits a new palette when the changed pixels' mean squared error on the current palette exceeds
#: ``MIXED_RATIO`` times the error where that palette was fitted (plus :data:`MIXED_MIN_MSE`).
MIXED_RATIO = 2.0
MIXED_MIN_MSE = 4.0
#: ``keep_margin`` (:func:`quality_settings`) from this quality up (the 256-colour range).
KEEP_MIN_QUALITY = 85
KEEP_MARGIN = 1
#: ``dither="auto"`` is the error diffusion ``ed`` over the canvas (:mod:`gif_pipeline.quant.error_diffusion`,
#: :data:`ED_BG_BIAS`) at every quality, on half the quality's palette up to this ``quality`` (at least 16 colours),
#: on all of it above. On the first 60 frames of the bench clips (2026-12-07, docs/experiments/animation.md) it gave
#: the same or fewer bytes and more VMAF than the blue-noise ``ordered`` dither that was the default up to here (q50:
#: +2.0 to +3.5 VMAF on bikes, carphone, pan and zoom; q30: +0.5 to +5.4) and than no dither, which was the default
#: from q85 (q90: +0.2 to +0.4 VMAF on bikes and carphone, +0.4 to +0.9 on pan and zoom, with 3-4 % fewer bytes),
#: within gifski's time. Before the C kernel and the canvas candidate ``ed`` cost 1.2-4x gifski's time and was the
#: default only from q56 to q84 and, at both ends, where the palette left a large RMS error (bigbuckbunny).
HALF_PALETTE_MAX_QUALITY = 55
#: ``frame`` mode up to :data:`HALF_PALETTE_MAX_QUALITY`: a frame keeps the previous frame's palette unless the changed
#: pixels' mean squared error on it exceeds ``FRAME_REFIT_RATIO`` times the error where it was fitted; above that
#: quality every frame is refitted. A refit palette moves colours under pixels that did not need it, and at the low
#: end (``bits_db`` 20-28) those bytes cost more than the fit gains: on the first 60 frames of the five bench clips,
#: ``PSNR - bits_db * log2(bytes)`` rose on 5 of 5 at q30 and 4 of 5 at q50 (+0.1 to +3.7; pan q50 -0.2), with 1-9 %
#: fewer bytes and 3-16 tables instead of 48-60; at q70 it fell on 3 of 5. Not with ``lossy``: its run search wrote
#: 7-30 % more bytes for the same or less VMAF on the bench clips at q30 (docs/experiments/animation.md,
#: 2026-12-07 frame refit).
FRAME_REFIT_RATIO = 1.1
#: ... measured on the changed pixels of a grid over the rectangle with about this many points: all the changed pixels
#: (up to 8192) took 1.6 ms a frame on carphone, a quarter of the encode's time per frame.
REFIT_SAMPLE = 1024
#: ``ed``'s threshold floor is :data:`ED_MIN_THRESHOLD` up to this quality, :data:`ED_TOP_THRESHOLD` above it, so that
#: the top qualities spend more bytes for more VMAF (2026-12-06 high end).
ED_FLOOR_MAX_QUALITY = 95
ED_TOP_THRESHOLD = 1
#: At ``quality`` 100 ``ed`` has neither floor nor bias (a pixel is written wherever its source moved, and keeps the
#: colour it shows only where that is at least as close as the best palette colour): the most fidelity the knob buys.
#: On the first 60 frames of the bench clips (2026-12-07, with ED_CHROMA 0.25) it took bikes from 2.79 MB / VMAF 99.62
#: to 3.29 MB / 99.71 (ffmpeg's per-frame palettes: 3.62 MB / 99.68) and PSNR +0.1 to +1.5 dB on all five, at 13-23 %
#: more bytes and about twice the flicker of the bias-7, floor-1 setting (gifski q100's flicker is as high).
ED_MAX_QUALITY_EXACT = True
#: With ``dither="ed"`` a source pixel must move more than this many levels before it is written again (the floor of
#: ``threshold``): error diffusion puts a different pattern on a pixel that moved by a level or two, and that crawls.
#: On the first 60 frames of bigbuckbunny at q90 (threshold 1) a floor of 2 took flicker from 0.629 to 0.247 and the
#: file from 3.86 to 3.69 MB for 0.17 VMAF and 0.04 dB (docs/experiments/animation.md, 2026-12-06 error diffusion).
ED_MIN_THRESHOLD = 2
#: ``ed`` over the canvas: each changed pixel has one more candidate, the colour it shows now (written as the
#: transparent index), taken when its weighted squared distance to the pixel plus its error is at most the best palette
#: colour's plus this bias (:func:`gif_pipeline.quant.error_diffusion.error_diffusion_batch` ``background``), and the
#: error it then shows is diffused. The bias is ``ED_BG_BIAS`` up to ``ED_BIAS_KNEE`` and halves every
#: ``ED_BIAS_HALVING`` quality points above it (q90: 17, q100: 7), so the top qualities rewrite more. None: off (each
#: changed pixel is dithered alone and written where its colour changes). On the first 60 frames of the 5 bench clips
#: (2026-12-07): bigbuckbunny q50 VMAF 83.37 -> 86.26 at the same bytes; at q70 +0.2 to +0.8 VMAF with 0-5 % fewer
#: bytes on all 5; at q80 (bias 30) 3-15 % fewer bytes and +0.05 to +0.17 VMAF. Costs ~30 % of ``ed``'s time (the
#: frames' scans run one after the other).
ED_BG_BIAS = 40.0
ED_BIAS_KNEE = 80
ED_BIAS_HALVING = 8.0
#: ``ed`` in animations measures colour distance as ``dY^2 + ED_CHROMA * (dCb^2 + dCr^2)`` (BT.601,
#: :func:`gif_pipeline.quant.error_diffusion.luma_metric`), scaled so that a grey difference costs what it did under
#: the channel weights 0.5 : 1 : 0.45 (:data:`gif_pipeline.quant.dithering.ED_LUMA_SCALE`; so :data:`ED_BG_BIAS`
#: keeps its meaning). None: those weights.
#: Each pixel's luma stays closer and more of the error goes into the colour difference, which the eye resolves less
#: finely (and VMAF, on luma, not at all). gifski's frames showed the same trade (1.4-3 dB more luma PSNR than ours,
#: less chroma PSNR); its first frame's finest-scale VIF was what VMAF rewarded. On the first 60 frames of the 5
#: bench clips (2026-12-07, docs/experiments/animation.md), against those weights at q50/70/90/100: +0.02 to +3.27
#: VMAF for -2.6 % to +4.0 % bytes and 0.01-0.69 dB less RGB PSNR (0.15: up to +4.04 VMAF, -1.26 dB, +6.2 % bytes,
#: and more colour speckle; 0.25 kept).
#: The q50 bunny (32 colours) shows a little more colour speckle in grey fur at 3x zoom, none seen at 1x.
ED_CHROMA = 0.25
#: ``lossy=True`` (:func:`encode_frames`): the run search of :mod:`gif_pipeline.quant.lossy` chooses each frame's
#: indices, at a price per run break (squared 8-bit levels) of ``LOSSY_LAMBDA_Q50`` at ``quality`` 50, halving every
#: ``LOSSY_HALVING`` points above it (doubling below): 1000 at q50, ~165 at q70, ~27 at q90. On the first 60 frames of
#: bikes these gave 436 KB / VMAF 82.3 at q50 (gifski q50: 458 KB / 82.1) and 780 KB / 92.0 at q70 (gifski q70:
#: 968 KB / 91.1); on bigbuckbunny they lose to the default's dither (docs/experiments/animation.md, 2026-12-06 lossy).
LOSSY_LAMBDA_Q50 = 1000.0
LOSSY_HALVING = 7.7
#: ``lossy``'s price of rewriting a still pixel with another colour than it shows (squared 8-bit levels): without it
#: the search refreshes still pixels wherever that extends a run, and still areas flicker (bikes q50: flicker 0.336
#: with no price, 0.117 with 200, 0.04 when forbidden, which cost 7 VMAF).
LOSSY_MU = 200.0


def quality_settings(quality: int) -> dict:
    """``quality`` 1-100 -> the encoder's settings, each monotonic in it:

    * ``threshold``: levels a source pixel may move before it is written again (0 at q100, 1 at q90, 9 at q50, 20 at
      q1);
    * ``colors``: the palette size it allows (256 from q85 up, halving every 21 points: 128 from q64, 64 from q43, 32 from
      q22, 16 below; ``--colors`` caps it further). Fewer colours shrink every frame's codes; on bikes this beat
      large thresholds by 1-2 dB and 7-10 VMAF at the same bytes (docs/experiments/animation.md);
    * ``bits_db``: how many dB of PSNR ``palette_mode="auto"`` asks of a doubling of the file (4 at q90, more
      below, less above);
    * ``keep_margin``: without dither, from :data:`KEEP_MIN_QUALITY` up, a rewritten pixel keeps the colour it shows
      when that is within this many levels (max over R, G, B) as close to its new source as the new colour: noise
      around a palette colour's boundary no longer flips the pixel (flicker roughly halved at q90-100; same or more
      VMAF and more PSNR per byte there, less VMAF per byte at q70: docs/experiments/animation.md);
    * ``dither``: what ``dither="auto"`` is: ``ed``, exact error diffusion over the canvas (:data:`HALF_PALETTE_MAX_QUALITY`);
      ``ed_floor``: the least threshold with ``ed`` (:data:`ED_MIN_THRESHOLD` up to :data:`ED_FLOOR_MAX_QUALITY`,
      :data:`ED_TOP_THRESHOLD` above, 0 at q100: :data:`ED_MAX_QUALITY_EXACT`); ``ed_bias``: ``ed``'s preference for
      the colour a pixel shows (:data:`ED_BG_BIAS`, falling above :data:`ED_BIAS_KNEE`, 0 at q100); ``ed_samples``:
      frames sampled for the global palette with ``ed`` (:data:`GLOBAL_SAMPLES`, :data:`TOP_SAMPLES` from
      :data:`KEEP_MIN_QUALITY`; no dither:
      :data:`GLOBAL_SAMPLES`); ``dither_colors``: the palette size with ``ed`` or ``ordered`` (half of ``colors``, at
      least 16, up to :data:`HALF_PALETTE_MAX_QUALITY`; ``colors`` above). At gifski ``--quality 50``'s file sizes a
      dithered half palette gave +2 to +4 VMAF over no dither on 4 of the 5 bench clips (docs/experiments/animation.md,
      2026-12-06 dither); error diffusion over the canvas gains VMAF per byte at every quality (2026-12-07);
    * ``frame_refit``: with per-frame palettes, how much worse the last palette may fit before a frame gets a new one
      (:data:`FRAME_REFIT_RATIO` up to :data:`HALF_PALETTE_MAX_QUALITY`; 0 above: every frame).
    """
    if not 1 <= int(quality) <= 100:
        raise GifnetsError(f"--quality must be in 1..100, got {quality}")
    q = int(quality)
    threshold = int(round(((100 - q) / 99.0) ** 1.2 * 20))
    colors = 2 ** int(4 + 4 * min(1.0, (q - 1) / 84.0))
    bits_db = BITS_DB * (1.0 + (90 - q) / 10.0) if q < 90 else BITS_DB * max(0.25, 1.0 - (q - 90) / 13.3)
    half = q <= HALF_PALETTE_MAX_QUALITY
    exact = q == 100 and ED_MAX_QUALITY_EXACT
    return {"threshold": threshold, "colors": colors, "bits_db": bits_db, "dither": "ed",
            "dither_colors": max(16, colors // 2) if half else colors,
            "keep_margin": KEEP_MARGIN if q >= KEEP_MIN_QUALITY else 0, "lossy": 0.0,
            "ed_floor": ED_MIN_THRESHOLD if q <= ED_FLOOR_MAX_QUALITY else 0 if exact else ED_TOP_THRESHOLD,
            "ed_samples": TOP_SAMPLES if q >= KEEP_MIN_QUALITY else GLOBAL_SAMPLES,
            "ed_bias": None if ED_BG_BIAS is None else 0.0 if exact else
            ED_BG_BIAS * 2.0 ** (-max(0, q - ED_BIAS_KNEE) / ED_BIAS_HALVING),
            "lossy_lambda": LOSSY_LAMBDA_Q50 * 2.0 ** ((50 - q) / LOSSY_HALVING),
            "frame_refit": FRAME_REFIT_RATIO if half else 0.0}


def _resolved_dither(settings: dict, dither: str, palette_mode: str, lossy: bool | float) -> str:
    """The dither :func:`encode_frames` runs: none with ``lossy``; ``auto`` is the quality's (none on ``tiered``'s
    local tables: the ordered dither lost there)."""
    if lossy is not False:
        return "none"
    if dither == "auto":
        return "none" if palette_mode == "tiered" else settings["dither"]
    return dither


def _sample_count(settings: dict, dither: str) -> int:
    return settings["ed_samples"] if dither == "ed" else GLOBAL_SAMPLES


def sample_count(quality: int, dither: str = "auto", palette_mode: str = "auto", lossy: bool | float = False) -> int:
    """How many frames :func:`encode_frames` samples for its global palette at these settings (``sample_frames``)."""
    settings = quality_settings(quality)
    return _sample_count(settings, _resolved_dither(settings, dither, palette_mode, lossy))


def spread_samples(frames, n: int) -> list[np.ndarray]:
    """``n`` frames evenly spread over the sequence ``frames`` (arrays or ``(rgb, duration_ms)`` pairs), first and
    last included (:func:`gif_pipeline.io.sources.spread_indices`)."""
    from gif_pipeline.io import sources

    return [_as_frame(frames[i], i)[0] for i in sources.spread_indices(len(frames), n)]


def tier_local_colors(quality: int) -> int:
    """``palette_mode="tiered"``: the local tables' size (entries, with the transparent index) at ``quality``: half
    the palette :func:`quality_settings` gives, at least 16 (q50: 32, q70: 64)."""
    return max(16, quality_settings(quality)["colors"] // 2)


@dataclasses.dataclass
class AnimationResult:
    """What :func:`encode_frames` wrote and measured."""

    width: int
    height: int
    frames_in: int  # frames read
    frames_written: int  # GIF frames (unchanged frames merged; frames < 2/100 s apart dropped)
    bytes: int
    duration_s: float
    seconds: float
    psnr: float  # mean over input frames of the PSNR of the shown canvas against the frame
    palette_mode: str
    palettes: int  # colour tables written (global + local)
    methods: tuple[str, str]
    gif_bytes: bytes | None = None  # when no output was given
    lossy: float = 0.0  # the lossy search's price per run break (0: off)

    def stats(self) -> dict:
        return {"frames": self.frames_in, "gif_frames": self.frames_written, "bytes": self.bytes,
                "psnr": round(self.psnr, 3), "seconds": round(self.seconds, 3), "duration": round(self.duration_s, 3),
                "width": self.width, "height": self.height, "palette_mode": self.palette_mode,
                "palettes": self.palettes, "palette": self.methods[0], "dither": self.methods[1],
                "lossy": round(self.lossy, 1)}


def _psnr(mse: float) -> float:
    return 100.0 if mse <= 1e-10 else 10.0 * math.log10(255.0 ** 2 / mse)


def _as_frame(item, n: int) -> tuple[np.ndarray, float | None]:
    if isinstance(item, tuple):
        rgb, duration = item
    else:
        rgb, duration = item, None
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise GifnetsError(f"frame {n}: expected a uint8 [H, W, 3] image, got {rgb.dtype} {rgb.shape}")
    return rgb, duration


def _timed(frames: Iterable, fps: float | None) -> Iterator[tuple[np.ndarray, float, float]]:
    """(rgb, start s, duration s) of each frame: from ``(rgb, duration_ms)`` items, else ``1 / fps``."""
    t, shape = 0.0, None
    for n, item in enumerate(frames):
        rgb, duration_ms = _as_frame(item, n)
        shape = shape or rgb.shape
        if rgb.shape != shape:
            raise GifnetsError(f"frame {n} is {rgb.shape[1]}x{rgb.shape[0]}, frame 0 is {shape[1]}x{shape[0]}: all "
                               "frames of an animation must have the same size")
        if duration_ms is None or fps:
            d = 1.0 / (fps or DEFAULT_FPS)
        else:
            d = max(0.0, float(duration_ms)) / 1000.0
        yield rgb, t, d
        t += d


def _mosaic(samples: list[np.ndarray], cell: int = 160) -> np.ndarray:
    """Sampled frames downscaled (short side ``cell``) and tiled in a grid: one image for the palette network."""
    from PIL import Image

    from gif_pipeline.io import sources

    tiles = [sources.small_copy(rgb, cell) for rgb in samples]
    th, tw = tiles[0].shape[:2]
    tiles = [t if t.shape[:2] == (th, tw) else np.asarray(Image.fromarray(t).resize((tw, th), Image.BOX)) for t in tiles]
    cols = int(math.ceil(math.sqrt(len(tiles))))
    rows = int(math.ceil(len(tiles) / cols))
    out = np.zeros((rows * th, cols * tw, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = t
    if rows * cols > len(tiles):  # fill the empty cells with copies, so no black enters the palette
        for i in range(len(tiles), rows * cols):
            r, c = divmod(i, cols)
            out[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = tiles[i % len(tiles)]
    return out


def _bbox(mask: np.ndarray):
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _with_transparent(palette: np.ndarray) -> np.ndarray:
    """The colour table of ``palette`` with one more entry, index ``len(palette)``: the transparent one."""
    return np.concatenate([palette, np.zeros((1, 3), np.uint8)])


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float32).ravel()
    d -= b.ravel()
    return float(np.dot(d, d)) / d.size


def _mse_on(pixels: np.ndarray, palette: np.ndarray) -> float:
    from gif_pipeline.quant import dithering

    if len(pixels) == 0:
        return 0.0
    idx = dithering._nearest_rows(pixels, palette)
    return float(np.mean((pixels.astype(np.float32) - palette[idx].astype(np.float32)) ** 2))


class _NearestCache:
    """Exact nearest-colour indices (``dither="none"``) through a lookup table over packed RGB that fills as colours
    appear: video frames repeat most colours, so after the first frames few need the palette search. A palette met
    once (per-frame palettes) has its frame's distinct colours searched and looked up through the same table, whose
    other entries are then stale; when that palette comes again, a fresh zeroed table (pages mapped as colours touch
    them) gets those colours and fills from there. 32 MiB (uint16 per 24-bit colour: 1 + index, 0 = not known yet)."""

    def __init__(self):
        self.lut = None
        self.key = None
        self.filled = False  # the table holds only this palette's colours (else it holds stale entries)
        self.pending = None  # (packed colours, 1 + their indices) of the current palette before its table

    def __call__(self, rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
        from gif_pipeline.quant import dithering

        key = palette.tobytes()
        packed = dithering.pack_colours(rgb)
        if len(palette) < 2:
            return np.zeros(rgb.shape[:2], np.uint8)
        if self.lut is None:
            self.lut = np.zeros(1 << 24, np.uint16)
        if key != self.key:  # a palette seen once (per-frame palettes): its frame's distinct colours directly
            self.key, self.filled = key, False
            todo = dithering.distinct_packed(packed)
            found = dithering._nearest_rows(dithering.unpack_colours(todo), palette).astype(np.uint16) + 1
            self.lut[todo] = found
            self.pending = todo, found
            return (self.lut[packed] - 1).astype(np.uint8).reshape(rgb.shape[:2])
        if not self.filled:
            todo, found = self.pending
            self.lut = np.zeros(1 << 24, np.uint16)
            self.lut[todo] = found
            self.filled, self.pending = True, None
        found = self.lut[packed]
        missing = found == 0
        if missing.any():
            todo = dithering.distinct_packed(packed[missing])
            self.lut[todo] = dithering._nearest_rows(dithering.unpack_colours(todo), palette).astype(np.uint16) + 1
            found = self.lut[packed]
        return (found - 1).astype(np.uint8).reshape(rgb.shape[:2])


class _ErrorDiffusion:
    """``dither="ed"`` for frames: :func:`gif_pipeline.quant.error_diffusion.error_diffusion_batch` with the still
    images' settings (:data:`gif_pipeline.quant.dithering.ED_SETTINGS`) but no dither map, the scan down the columns
    when the frame is wider than tall (``H + 2 x 34`` wavefront steps instead of ``W + 2 x 34``;
    docs/experiments/animation.md, "ed for frames"), and with ``bg_bias`` the canvas as a candidate
    (:meth:`_Encoder._add_over_canvas`). Without the map the nearest colours only estimate the error budget, on a grid
    of pixels (:func:`gif_pipeline.quant.error_diffusion.dither_maps`)."""

    def __init__(self, bg_bias: float | None = None):
        from gif_pipeline.quant import dithering, error_diffusion

        self.bg_bias = bg_bias  # not None: the canvas is a candidate of each changed pixel, preferred by this much
        # the luma metric at every palette size (still images: up to 64 colours, dithering.ed_settings)
        weights = (dithering.ED_RGB_WEIGHTS if ED_CHROMA is None
                   else error_diffusion.luma_metric(ED_CHROMA, dithering.ED_LUMA_SCALE))
        # the still images' settings without their dither map (less diffusion on edges and texture): on the first 60
        # frames of the 5 bench clips at q70 (over the canvas) it cost 0.1-0.7 VMAF for 0.5-1.1 dB of PSNR at about
        # the same bytes, and 15-20 % of the encode time (docs/experiments/animation.md, 2026-12-07)
        self.settings = {**dithering.ED_SETTINGS, "dither_map": False, "channel_weights": weights}

    def __call__(self, rgb: np.ndarray, palette: np.ndarray, background=None, bg_bias=None, maps=None) -> np.ndarray:
        from gif_pipeline.quant import error_diffusion

        if len(palette) < 2 and background is None:
            return np.zeros(rgb.shape[:2], np.uint8)
        h, w = rgb.shape[:2]
        return error_diffusion.error_diffusion_batch(
            rgb[None], palette[None], columns=w > h, maps=maps,
            background=None if background is None else background[None],
            bg_bias=None if bg_bias is None else bg_bias[None], **self.settings)[0]

    def maps(self, crops: list, palettes: list) -> list:
        """Each crop's ``[(level, max_error)]`` (:func:`gif_pipeline.quant.error_diffusion.dither_maps`), on the
        kernel's threads where it is built."""
        from gif_pipeline.quant import error_diffusion

        def one(i):
            return error_diffusion.dither_maps(crops[i][None], palettes[i][None], **self.settings)

        if error_diffusion._kernel() is not None and error_diffusion.KERNEL_THREADS > 1 and len(crops) > 1:
            return list(error_diffusion._pool().map(one, range(len(crops))))
        return [one(i) for i in range(len(crops))]

    def batch(self, crops: list, palettes: list) -> list:
        """:meth:`__call__` of same-size crops on palettes of one size, in one call (the same indices)."""
        from gif_pipeline.quant import error_diffusion

        if len(palettes[0]) < 2:
            return [np.zeros(c.shape[:2], np.uint8) for c in crops]
        h, w = crops[0].shape[:2]
        return list(error_diffusion.error_diffusion_batch(np.stack(crops), np.stack(palettes), columns=w > h,
                                                          **self.settings))


def _crops(pending) -> list:
    """The changed rectangles (contiguous) of :attr:`_Encoder.pending`'s frames."""
    return [np.ascontiguousarray(rgb[y0:y1, x0:x1]) for rgb, _, (y0, y1, x0, x1), _, _, _ in pending]


def _copy_where(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """``dst[mask] = src[mask]`` for ``[h, w, 3]`` images and a ``[h, w]`` mask, without gathering the pixels (3x
    faster here than the masked assignment)."""
    np.copyto(dst, src, where=np.repeat(mask[..., None], 3, axis=2))


def _absmax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``max over R, G, B of |a - b|`` of uint8 ``[..., 3]`` images, uint8 (no wider copies)."""
    d = np.maximum(a, b)
    d -= np.minimum(a, b)
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])


#: ``dither="ordered"``: Knoll's candidates per colour and the error multiplier of
#: :mod:`gif_pipeline.quant.ordered`. A multiplier of 0.6 (a milder dither than 1.0's mean-preserving mix) gave fewer
#: bytes, +0.3 to +0.5 VMAF and +0.8 dB on 4 bench clips at q50 with 32 colours; 6 candidates were within 0.2 VMAF of
#: 8 at q50 on the 5 bench clips and ~25% faster (4: -0.9 VMAF on bigbuckbunny) (docs/experiments/animation.md).
ORDERED_CANDIDATES = 6
ORDERED_MULTIPLIER = 0.6

#: ``palette_mode="tiered"`` (:meth:`_Encoder._add_tiered`): the first frame (and frames that change more than
#: :data:`TIER_SCENE` of the canvas) on the large palette of ``TIER_GLOBAL_COLORS`` table entries (PaletteNet over
#: the sampled frames, as ``global``); every other frame's changed pixels on a local table of
#: :func:`tier_local_colors` entries fitted to just those pixels (Pillow's median cut of up to ``TIER_SAMPLE`` of them
#: + ``TIER_STEPS`` Lloyd steps in NumPy). ``TIER_LOCAL_COLORS`` overrides the quality's local size (benchmarks).
TIER_GLOBAL_COLORS = 256
TIER_SCENE = 0.5
TIER_SAMPLE = 4096
TIER_STEPS = 3
TIER_LOCAL_COLORS = None
#: ``tiered``: a changed pixel is rewritten only where its new colour is closer (squared error) to its source than
#: the colour it shows (on bikes q50, 32 entries: 872,166 B / 36.09 dB / VMAF 88.61 against 884,543 / 36.00 / 88.24
#: without this rule).
TIER_CLOSER = True


_SCAN = []
_WRITE = []
#: Jobs that may wait on the write thread (:meth:`_Encoder._submit`).
WRITE_QUEUE = 16


def _write_thread():
    """The thread that codes and writes frames behind the scans (:meth:`_Encoder._write`)."""
    if not _WRITE:
        from concurrent.futures import ThreadPoolExecutor

        _WRITE.append(ThreadPoolExecutor(1, thread_name_prefix="gifnets-write"))
    return _WRITE[0]


def _scan_thread():
    """The thread that runs :meth:`_Encoder.flush`'s scans over the canvas behind :meth:`_Encoder.add`."""
    if not _SCAN:
        from concurrent.futures import ThreadPoolExecutor

        _SCAN.append(ThreadPoolExecutor(1, thread_name_prefix="gifnets-scan"))
    return _SCAN[0]


class _Encoder:
    """The per-frame state of one animation (see the module docstring)."""

    def __init__(self, writer, colors, palette_stage, dither_stage, mode, threshold, global_palette):
        self.writer, self.n_fit = writer, colors - 1
        self.palette_stage, self.dither_stage, self.mode, self.threshold = palette_stage, dither_stage, mode, threshold
        self.global_palette = global_palette
        self.keep_margin = 0  # set by the caller: quality_settings' keep_margin, without dither only
        self.lossy = 0.0  # set by the caller: the lossy search's price per run break (encode_frames' lossy)
        self.refit = 0.0  # set by the caller: quality_settings' frame_refit (0: a new palette every frame)
        self.warm = False  # set by _stages' caller: warm starts are possible (LiteRT, net+kmeans)
        self.refine_models = {}  # palette size -> the runtime model of its warm starts
        self.palette = None  # uint8 [k, 3] (k <= colors - 1); index k is transparent
        self.fit_mse = 0.0
        self.canvas = self.ref = None
        self.tables = set()
        self.sq_error = []
        self.pending = []  # frames waiting for their dither (add, flush)
        self.job = None  # the batch of ``ed`` over the canvas on the scan thread (flush)
        self.writes = []  # the frames handed to the write thread (_write), not yet waited for
        # palette_mode="tiered": the local tables' size (colours, without the transparent index), their dither stage,
        # and a nearest-colour cache kept for the large palette
        self.n_local, self.local_dither, self.big_cache = None, None, None

    def _fit(self, rgb: np.ndarray, warm: bool = False) -> np.ndarray:
        """A palette for ``rgb``: the palette stage, or (``warm``, on the LiteRT runtime with ``net+kmeans``) the
        current palette refined by a few Lloyd steps on ``rgb``: 15x faster than the network and its 10 steps, and
        the colours stay where they were wherever the picture did."""
        if self.n_fit == 1:
            return np.rint(rgb.reshape(-1, 3).mean(0)).astype(np.uint8)[None]
        if warm and self.warm and self.palette is not None and len(self.palette) >= 2:
            from gif_pipeline.runtime import backend

            k = len(self.palette)
            if k not in self.refine_models:
                self.refine_models[k] = backend.refine_model(k)
            return backend.refine_palette(rgb, self.palette, *WARM_STEPS, model=self.refine_models[k])
        return self.palette_stage(rgb, self.n_fit)

    def _sample(self, pixels: np.ndarray, count: int = 8192) -> np.ndarray:
        if len(pixels) <= count:
            return pixels
        return pixels[np.linspace(0, len(pixels) - 1, count).astype(np.int64)]

    def _choose_palette(self, rgb, crop, sub_changed, first: bool):
        if self.mode == "global" or (self.mode == "mixed" and first):
            if self.palette is None:
                self.palette = self.global_palette
                self.fit_mse = _mse_on(self._sample(rgb.reshape(-1, 3)), self.palette)
            return
        if self.mode == "frame":
            if not self.refit:
                self.palette = self._fit(crop, warm=not first)
                return
            step = max(1, int(math.sqrt(sub_changed.size / REFIT_SAMPLE)))  # a grid: no pass over the whole crop
            sample = crop[::step, ::step][sub_changed[::step, ::step]]
            if not first and _mse_on(sample, self.palette) <= self.refit * self.fit_mse:
                return  # the palette still fits the changed pixels (FRAME_REFIT_RATIO)
            self.palette = self._fit(crop, warm=not first)
            self.fit_mse = _mse_on(sample, self.palette)
            return
        sample = self._sample(crop[sub_changed])
        mse = _mse_on(sample, self.palette)
        if mse > MIXED_RATIO * self.fit_mse + MIXED_MIN_MSE:
            palette = self._fit(crop)
            new_mse = _mse_on(sample, palette)
            if new_mse < mse:
                self.palette, self.fit_mse = palette, new_mse

    def _local_palette(self, pixels: np.ndarray) -> np.ndarray:
        """``tiered``: a table of at most ``n_local`` colours fitted to the changed pixels ``[N, 3]`` only: their
        own colours when there are that few, else a median cut of a sample refined by Lloyd steps."""
        from gif_pipeline.quant import classical, dithering

        k = self.n_local
        if k == 1:
            return np.rint(pixels.mean(0)).astype(np.uint8)[None]
        sample = self._sample(pixels, TIER_SAMPLE)
        if len(sample) == len(pixels):
            colours, _, _ = dithering.distinct_colours(sample)
            if len(colours) <= k:
                return colours
        centres = classical.median_cut(sample, k).astype(np.float32)
        points = sample.astype(np.float32)
        for _ in range(TIER_STEPS):
            a = dithering._nearest_rows(sample, np.clip(np.rint(centres), 0, 255).astype(np.uint8))
            n = np.bincount(a, minlength=len(centres)).astype(np.float32)
            sums = np.stack([np.bincount(a, points[:, c], minlength=len(centres)) for c in range(3)], 1)
            live = n > 0
            centres[live] = sums[live] / n[live, None]
        pal = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
        _, first = np.unique(pal, axis=0, return_index=True)
        return pal[np.sort(first)]

    def _changed(self, rgb: np.ndarray):
        """``(changed, box)``: the pixels whose source moved by more than ``threshold`` since they were last written
        (all of them on the first frame) and their bounding box; ``None`` when none did (nothing is written; the
        caller records the frame's error)."""
        h, w = rgb.shape[:2]
        if self.ref is None:
            return np.ones((h, w), bool), (0, h, 0, w)
        d = np.maximum(rgb, self.ref)
        d -= np.minimum(rgb, self.ref)
        changed = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]) > self.threshold
        box = _bbox(changed)
        if box is None:
            return None
        return changed, box

    def add(self, rgb: np.ndarray, t: float) -> None:
        """Encode one frame. With a dither stage that has ``batch`` (``ed``), frames wait in :attr:`pending` (up to
        :data:`DITHER_BATCH`) and are dithered together: what the encoder decides before dithering (changed pixels,
        palette, reference) does not read the dithered output, so the bytes are those of one frame at a time.
        :meth:`flush` finishes them (the callers do before reading the writer)."""
        if self.mode == "tiered":
            return self._add_tiered(rgb, t)
        first = self.ref is None
        found = self._changed(rgb)
        if found is None:
            self.flush()
            self._record_error(rgb)
            return
        changed, (y0, y1, x0, x1) = found
        crop = rgb[y0:y1, x0:x1]
        sub_changed = changed[y0:y1, x0:x1]
        self._choose_palette(rgb, crop, sub_changed, first)
        if self.lossy > 0:  # the search reads the canvas the previous frame left: not batched
            return self._add_lossy(rgb, t, (y0, y1, x0, x1), sub_changed, first, crop)
        # a changed pixel's source is its new reference, also where the shown colour stays the same
        if first:
            self.ref = rgb.copy()
        else:
            _copy_where(self.ref[y0:y1, x0:x1], crop, sub_changed)
        self.pending.append((rgb, t, (y0, y1, x0, x1), sub_changed, self.palette, first))
        if (not hasattr(self.dither_stage, "batch") or len(self.pending) >= DITHER_BATCH
                or sum(p[3].size for p in self.pending) >= DITHER_BATCH_PIXELS):
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Dither and write the :attr:`pending` frames (runs of the same crop size and palette size in one call).

        ``ed`` over the canvas: the frames' scans run on a background thread (:func:`_scan_thread`, one batch after the
        other) while :meth:`add` fits the next frames' palettes; they touch the canvas, the writer and the errors,
        which :meth:`add` does not read until it waits (``wait``, the default, and a frame with no change)."""
        pending, self.pending = self.pending, []
        if getattr(self.dither_stage, "bg_bias", None) is not None:
            crops = maps = None
            if pending:  # the dither maps read the frames and their palettes only: here, while the last batch scans
                crops = _crops(pending)
                maps = self.dither_stage.maps(crops, [p[4] for p in pending])
            self._wait_scan()  # the previous batch first (and its error, if it raised one)
            if pending:
                self.job = _scan_thread().submit(self._scan_over_canvas, pending, crops, maps)
            if wait:
                self._wait_scan()
                self._wait_writes()
            return
        start = 0
        while start < len(pending):
            end = start + 1
            shape, k = pending[start][3].shape, len(pending[start][4])
            if hasattr(self.dither_stage, "batch"):
                while end < len(pending) and pending[end][3].shape == shape and len(pending[end][4]) == k:
                    end += 1
            crops = _crops(pending[start:end])
            if end - start > 1:
                found = self.dither_stage.batch(crops, [p[4] for p in pending[start:end]])
            elif getattr(self.dither_stage, "positional", False):  # reads a mask fixed to the canvas
                y0, _, x0, _ = pending[start][2]
                found = [self.dither_stage(crops[0], pending[start][4], origin=(y0, x0))]
            else:
                found = [self.dither_stage(crops[0], pending[start][4])]
            for item, crop, indices in zip(pending[start:end], crops, found):
                self._finish(*item, crop, indices.astype(np.uint8))
            start = end
        if wait:
            self._wait_writes()

    def _wait_scan(self) -> None:
        """Wait for the scan thread's batch, if one runs (its error, if it raised one, is raised here)."""
        job, self.job = self.job, None
        if job is not None:
            job.result()

    def _wait_writes(self) -> None:
        """Wait for the frames handed to the write thread (:meth:`_write`); the first error raised there is raised
        here."""
        jobs, self.writes = self.writes, []
        for job in jobs:
            job.result()

    def _submit(self, fn, *args) -> None:
        """``fn(*args)`` on the write thread (:func:`_write_thread`, in order). At most :data:`WRITE_QUEUE` jobs wait
        there (each holds a frame's indices or a canvas copy): beyond that the oldest is waited for."""
        self.writes = [job for job in self.writes if not job.done() or job.exception() is not None]
        while len(self.writes) >= WRITE_QUEUE:
            self.writes.pop(0).result()
        self.writes.append(_write_thread().submit(fn, *args))

    def _write(self, *args) -> None:
        """``writer.add(*args)`` on the write thread: the LZW coding of a frame overlaps the next frame's scan.
        Whoever reads the writer waits first (:meth:`flush`)."""
        self._submit(self.writer.add, *args)

    def _record_error(self, rgb: np.ndarray) -> None:
        """The frame's squared error (the canvas against ``rgb``) into :attr:`sq_error`, computed on the write thread
        on a copy of the canvas (a copy costs a tenth of the error), in frame order: every frame's error goes this
        way, so the order holds whatever path encoded the frame."""
        snap = self.canvas.copy()
        self._submit(lambda: self.sq_error.append(_mse(snap, rgb)))

    def abandon(self) -> None:
        """Wait for the scan thread's batch and the write thread's frames, and drop their outcome (the encode failed
        elsewhere)."""
        self.pending = []
        for wait in (self._wait_scan, self._wait_writes):
            try:
                wait()
            except Exception:  # noqa: BLE001 - the caller's error is the one reported
                pass

    def _scan_over_canvas(self, pending, crops, maps) -> None:
        """:meth:`flush`'s batch of ``ed`` over the canvas (``crops``: the frames' rectangles, ``maps``: their
        dither maps, computed together): each frame's scan over the canvas the one before left."""
        for item, crop, m in zip(pending, crops, maps):
            if item[5]:  # the first frame: no canvas yet
                self._finish(*item, crop, self.dither_stage(crop, item[4], maps=m).astype(np.uint8))
            else:
                self._add_over_canvas(*item[:5], crop, m)

    def _add_over_canvas(self, rgb, t, box, sub_changed, pal, crop, maps) -> None:
        """``ed`` with the canvas as a candidate (:class:`_ErrorDiffusion` ``bg_bias``), from :meth:`_scan_over_canvas`: each
        changed pixel of the rectangle takes the transparent index where the colour it shows scores within the bias of
        the best palette colour, and the error it then shows is diffused; still pixels keep theirs (and diffuse it).
        Reads the canvas the previous frame left: the scans run one frame after the other (their dither maps,
        ``maps``, were computed together)."""
        y0, y1, x0, x1 = box
        old = self.canvas[y0:y1, x0:x1]
        bias = np.where(sub_changed, np.float32(self.dither_stage.bg_bias), np.float32(np.inf))
        found = self.dither_stage(crop, pal, old, bias, maps=maps)  # the canvas is not written while it scans
        took_palette = found != len(pal)  # _finish writes those whose colour differs from the canvas
        self._finish(rgb, t, box, took_palette, pal, False, crop, np.where(took_palette, found, np.uint8(0)))

    def _add_lossy(self, rgb, t, box, sub_changed, first, crop) -> None:
        """``lossy``: the indices of the frame's rectangle, transparent ones included, from the run/error search of
        :mod:`gif_pipeline.quant.lossy` (no dither); a still pixel it rewrites takes its source as its reference."""
        from gif_pipeline.quant import lossy

        y0, y1, x0, x1 = box
        pal = self.palette
        found = lossy.lossy_indices(np.ascontiguousarray(crop), pal, self.lossy,
                                    old=None if first else self.canvas[y0:y1, x0:x1],
                                    still=None if first else ~sub_changed, mu=LOSSY_MU)
        write = found != len(pal)
        if first:
            self.ref = rgb.copy()
        else:
            _copy_where(self.ref[y0:y1, x0:x1], crop, sub_changed | write)
        self._finish(rgb, t, box, sub_changed, pal, first, crop, found if first else np.where(write, found, np.uint8(0)),
                     write=write)

    def _finish(self, rgb, t, box, sub_changed, pal, first, crop, indices, write=None) -> None:
        """Write one frame's ``indices`` (``write``: the pixels to write, by default the changed ones whose shown
        colour changes)."""
        y0, y1, x0, x1 = box
        shown = np.take(pal, indices, axis=0)  # pal[indices], 7x faster here
        if write is None and first:
            write = sub_changed
        elif write is None:
            old = self.canvas[y0:y1, x0:x1]
            same = (shown[..., 0] == old[..., 0]) & (shown[..., 1] == old[..., 1]) & (shown[..., 2] == old[..., 2])
            if self.keep_margin > 0:  # the shown colour is nearly as close to the new source: keep it (less flicker)
                e_new = _absmax(shown, crop).astype(np.int16)
                e_new += self.keep_margin
                same |= _absmax(old, crop) <= e_new
            write = sub_changed & ~same
        table = _with_transparent(pal)
        if first:
            self.canvas = np.ascontiguousarray(shown)
            self._write(indices, table, t, (0, 0), None)
        else:
            _copy_where(self.canvas[y0:y1, x0:x1], shown, write)
            inner = _bbox(write)
            if inner is not None:
                a, b, c, d = inner
                transparent = len(pal)
                out = np.where(write[a:b, c:d], indices[a:b, c:d], np.uint8(transparent)).astype(np.uint8)
                self._write(out, table, t, (x0 + c, y0 + a), transparent)
        self.tables.add(pal.tobytes())
        self._record_error(rgb)

    def _add_tiered(self, rgb: np.ndarray, t: float) -> None:
        """``tiered``: the first frame and scene changes on the large palette (no dither), other frames' changed
        pixels on a local table fitted to them."""
        first = self.canvas is None
        h, w = rgb.shape[:2]
        found = self._changed(rgb)
        if found is None:
            self._record_error(rgb)
            return
        changed, (y0, y1, x0, x1) = found
        crop = rgb[y0:y1, x0:x1]
        sub_changed = changed[y0:y1, x0:x1]
        pixels = crop[sub_changed]
        big = first or len(pixels) > TIER_SCENE * h * w
        if big:
            pal = self.global_palette
        else:
            pal = self._local_palette(pixels)
        if first:
            indices = self.big_cache(np.ascontiguousarray(crop), pal)
            self.canvas, self.ref = pal[indices], rgb.copy()
            self._write(indices, _with_transparent(pal), t, (0, 0), None)
            self.tables.add(pal.tobytes())
            self._record_error(rgb)
            return
        # from here on, only the changed pixels (N of them) are looked at
        if not big and getattr(self.local_dither, "positional", False):
            idx = self.local_dither(np.ascontiguousarray(crop), pal, origin=(y0, x0))[sub_changed].astype(np.uint8)
        elif big:
            idx = self.big_cache(pixels[None], pal).reshape(-1)
        elif not isinstance(self.local_dither, _NearestCache):  # error diffusion over the rectangle
            idx = self.local_dither(np.ascontiguousarray(crop), pal)[sub_changed].astype(np.uint8)
        else:
            from gif_pipeline.quant import dithering

            idx = dithering._nearest_rows(pixels, pal) if len(pal) > 1 else np.zeros(len(pixels), np.uint8)
        canvas = self.canvas[y0:y1, x0:x1]
        new, old, src = pal[idx], canvas[sub_changed], pixels.astype(np.int32)
        if TIER_CLOSER:  # written only where the new colour is closer to the source than the shown one
            same = ((old - src) ** 2).sum(-1) <= ((new - src) ** 2).sum(-1)
        else:
            same = (new == old).all(-1)
        if self.keep_margin > 0:
            same |= np.abs(old - src).max(-1) <= np.abs(new - src).max(-1) + self.keep_margin
        keep = ~same
        self.ref[y0:y1, x0:x1][sub_changed] = pixels
        write = np.zeros(sub_changed.shape, bool)
        write[sub_changed] = keep
        canvas[write] = new[keep]
        inner = _bbox(write)
        if inner is not None:
            transparent = len(pal)
            full = np.full(sub_changed.shape, transparent, np.uint8)
            full[write] = idx[keep]
            a, b, c, d = inner
            table = _with_transparent(pal)
            self._write(np.ascontiguousarray(full[a:b, c:d]), table, t, (x0 + c, y0 + a), transparent)
        self.tables.add(pal.tobytes())
        self._record_error(rgb)


#: Why ``dither="auto"`` is never Pillow's FS or DitherNet in animations (it is the exact error diffusion ``ed`` over
#: the canvas, with its threshold floor: :func:`quality_settings`), where stills use
#: DitherNet up to 16 colours and ``ed`` above (DitherNet per frame is 4-10x slower than the rest of the encoder, and both crawl):
#: on the first 60 frames of bigbuckbunny (480x270, q90, global palette; docs/experiments/animation.md) FS gave
#: 31.83 dB / 3.85 MB / flicker 0.336 / VMAF 94.6 against no dither's 34.66 dB / 3.43 MB / 0.187 / VMAF 92.1; DitherNet
#: (``--dither net``) 34.28 dB / 3.53 MB / 0.203 / VMAF 95.2, ten times slower. ``ed`` (threshold floor 2): 33.94 dB /
#: 3.69 MB / 0.247 / VMAF 95.7 (Pillow's FS takes a colour through a 6-bit cache, often not the nearest one).
ANIMATION_DITHER_NOTE = None


def _stages(colors: int, palette: str, dither: str, ed_bias: float | None = None):
    from gif_pipeline import encode

    n = colors - 1 if colors > 2 else colors
    palette = encode.resolve_palette(palette, n)
    if dither == "auto":  # encode_frames resolves auto by quality; no dither here (ANIMATION_DITHER_NOTE)
        dither = "none"
    if palette not in encode.PALETTE_STAGES:
        raise ValueError(f"unknown palette method {palette!r}; choose from {sorted(encode.PALETTE_STAGES) + ['auto']}")
    if dither not in encode.DITHER_STAGES:
        raise ValueError(f"unknown dither method {dither!r}; choose from {sorted(encode.DITHER_STAGES) + ['auto']}")
    stage = encode.PALETTE_STAGES[palette]
    if dither == "none":
        dither_stage = _NearestCache()
    elif dither == "ordered":  # the mask is fixed to the canvas: still pixels keep their indices
        from gif_pipeline.quant import ordered

        dither_stage = ordered.PatternDither(ORDERED_CANDIDATES, ORDERED_MULTIPLIER)
        dither_stage.positional = True
    elif dither == "ed":
        dither_stage = _ErrorDiffusion(ed_bias)
    else:
        dither_stage = encode.DITHER_STAGES[dither]
    return (lambda rgb, k: stage(rgb, k)), dither_stage, (palette, dither)


def encode_frames(
    frames: Iterable,
    output=None,
    *,
    fps: float | None = None,
    colors: int = 256,
    quality: int = 90,
    palette: str = "auto",
    dither: str = "auto",
    palette_mode: str = "auto",
    loop: int | None = 0,
    sample_frames: list[np.ndarray] | None = None,
    backend: str | None = None,
    force: bool = False,
    protect: Iterable = (),
    progress: Callable[[int], None] | None = None,
    verify: bool = True,
    lossy: bool | float = False,
) -> AnimationResult:
    """Encode ``frames`` as an animated GIF.

    Args:
      frames: an iterable (a generator works: frames are read one at a time) of uint8 ``[H, W, 3]`` frames, all the
        same size, or of ``(rgb, duration_ms)`` pairs.
      output: a path (written atomically: nothing appears there unless the whole clip encodes), a binary file
        object, or None (the bytes come back in ``AnimationResult.gif_bytes``).
      fps: frames per second of plain frames (default 20; overrides the pairs' durations). Frames that would start
        less than 2/100 s after the previous one are dropped (browsers show shorter delays as 1/10 s).
      colors: at most this table size, 2..256 (``colors - 1`` colours and the transparent index; ``quality`` may
        choose fewer).
      quality: 1..100, :func:`quality_settings`. palette, dither: the stages of :func:`gif_pipeline.encode.encode_image`
        (``dither="auto"``: ``ed`` over the canvas, on half the palette up to :data:`HALF_PALETTE_MAX_QUALITY`; with
        ``ed`` the threshold is at least :data:`ED_MIN_THRESHOLD` up to :data:`ED_FLOOR_MAX_QUALITY`).
      palette_mode: ``auto``, ``global``, ``frame`` or ``mixed`` (module docstring).
      loop: repeat count (0 = forever; None = played once). sample_frames: frames for the global palette (default:
        :func:`sample_count` frames spread over ``frames`` when it is a list, tuple or array, else the first ones:
        give a generator's palette frames from the whole clip here). progress: called with 1 after each frame.
      lossy: True - each frame's indices (transparent ones included) come from the run search of
        :mod:`gif_pipeline.quant.lossy` at the quality's price (:data:`LOSSY_LAMBDA_Q50`), instead of a dither; a
        number - that price. Smaller files for camera footage at the same VMAF; it bands smooth gradients where the
        default dithers (module docstring of :mod:`gif_pipeline.quant.lossy`). Not with a dither or ``tiered``.
    """
    from gif_pipeline import encode
    from gif_pipeline.config import check_num_colors

    check_num_colors(colors)
    if palette_mode not in PALETTE_MODES:
        raise GifnetsError(f"palette mode must be one of {', '.join(PALETTE_MODES)}, got {palette_mode!r}")
    if fps is not None and not fps > 0:
        raise GifnetsError(f"--fps must be > 0, got {fps}")
    settings = quality_settings(quality)
    if lossy is not False:
        lam = settings["lossy_lambda"] if lossy is True else float(lossy)
        if not lam >= 0:
            raise GifnetsError(f"lossy must be True, False or a price >= 0, got {lossy}")
        if dither not in ("auto", "none"):
            raise GifnetsError(f"--lossy chooses every pixel's index itself: it does not combine with --dither {dither}")
        if palette_mode == "tiered":
            raise GifnetsError("--lossy does not combine with --palette-mode tiered")
        # the lossy search refits every frame's palette (FRAME_REFIT_RATIO)
        settings = {**settings, "lossy": lam, "frame_refit": 0.0 if lam else settings["frame_refit"]}
    dither = _resolved_dither(settings, dither, palette_mode, lossy)
    if dither == "ed":
        settings = {**settings, "threshold": max(settings["threshold"], settings["ed_floor"])}
    if palette_mode == "tiered":  # colors: the local tables' size; the large palette's is big_colors
        settings = {**settings, "big_colors": min(colors, TIER_GLOBAL_COLORS)}
        colors = min(colors, TIER_LOCAL_COLORS or tier_local_colors(quality))
    else:
        colors = min(colors, settings["dither_colors"] if dither in ("ed", "ordered") else settings["colors"])
    token = encode._BACKEND.set(encode.resolve_backend(backend))
    try:
        return _encode_frames(frames, output, fps, colors, settings, palette, dither, palette_mode, loop,
                              sample_frames, force, protect, progress, verify)
    finally:
        encode._BACKEND.reset(token)


def _encode_frames(frames, output, fps, colors, settings, palette, dither, palette_mode, loop, sample_frames, force,
                   protect, progress, verify):
    import io
    import itertools

    from gif_pipeline import encode
    from gif_pipeline.io import files

    start = time.perf_counter()
    palette_stage, dither_stage, methods = _stages(settings.get("big_colors", colors), palette, dither,
                                                   settings["ed_bias"])
    warm = methods[0] == "net+kmeans" and encode.current_backend() == "litert"
    keep_margin = settings["keep_margin"] if methods[1] == "none" else 0  # without dither only
    timed = _timed(frames, fps)
    kept = _drop_close(timed)
    # the first frames: auto's trial, and the global palette's sample when frames is a generator without sample_frames
    n_samples = _sample_count(settings, methods[1])
    if sample_frames is None and palette_mode != "frame" and isinstance(frames, (collections.abc.Sequence, np.ndarray)):
        sample_frames = spread_samples(frames, n_samples)
    head = list(itertools.islice(kept, TRIAL_FRAMES if sample_frames else max(TRIAL_FRAMES, n_samples)))
    if not head:
        raise GifnetsError("the animation has no frames")
    h, w = head[0][0].shape[:2]
    global_palette = None
    if palette_mode != "frame":
        n_global = settings["big_colors"] if palette_mode == "tiered" else colors

        samples = sample_frames if sample_frames else [f for f, _, _ in head[:n_samples]]
        global_palette = palette_stage(_mosaic(samples), n_global - 1 if n_global > 2 else n_global) \
            if n_global - 1 > 1 else np.rint(np.mean([s.reshape(-1, 3).mean(0) for s in samples], 0)).astype(np.uint8)[None]
    mode, trial = palette_mode, None
    if mode == "auto":
        mode, trial = _pick_mode(head[:TRIAL_FRAMES], colors, palette_stage, dither_stage, settings, global_palette,
                                 warm, keep_margin, loop=loop, verify=verify)

    def run(out):
        frames = itertools.chain(head, kept)
        end, count = 0.0, 0
        if trial is not None:  # the trial encoded the first frames at full size in this mode: carry on from there
            writer, enc, buf, done = trial
            out.write(buf.getvalue())
            writer.out = out
            for rgb, t, d in itertools.islice(frames, done):
                end, count = t + d, count + 1
                if progress:
                    progress(1)
        else:
            writer = animation.AnimationWriter(out, w, h, loop=loop, global_palette=None if mode == "frame" else
                                               _with_transparent(global_palette), verify=verify)
            enc = _new_encoder(writer, colors, palette_stage, dither_stage, mode, settings, global_palette, warm,
                               keep_margin)
        if mode == "tiered":
            enc.n_local, enc.big_cache = max(1, colors - 1), _NearestCache()
            enc.local_dither = dither_stage
        try:
            for rgb, t, d in frames:
                enc.add(rgb, t)
                end, count = t + d, count + 1
                if progress:
                    progress(1)
            enc.flush()
        except BaseException:
            enc.abandon()  # no scan may write behind the caller's clean-up (the atomic file's removal)
            raise
        writer.close(end)
        return writer, enc, end, count

    if output is None:
        buf = io.BytesIO()
        writer, enc, end, count = run(buf)
        data = buf.getvalue()
    elif hasattr(output, "write"):
        writer, enc, end, count = run(output)
        data = None
    else:
        with files.atomic_open(output, force=force, protect=protect) as f:
            writer, enc, end, count = run(f)
        data = None
    psnr = float(np.mean([_psnr(e) for e in enc.sq_error]))
    return AnimationResult(w, h, count, writer.frames_written, writer.bytes_written, end, time.perf_counter() - start,
                           psnr, mode, len(enc.tables), methods, data, settings["lossy"])


def _new_encoder(writer, colors, palette_stage, dither_stage, mode, settings, global_palette, warm, keep_margin):
    """An :class:`_Encoder` set up from :func:`quality_settings` (threshold, lossy price, frame refit) and the caller's
    warm-start and keep-margin choices: the full encode and ``auto``'s trial make theirs the same way."""
    enc = _Encoder(writer, colors, palette_stage, dither_stage, mode, settings["threshold"], global_palette)
    enc.warm, enc.keep_margin = warm, keep_margin
    enc.lossy, enc.refit = settings["lossy"], settings["frame_refit"]
    return enc


def _drop_close(timed):
    """Frames that start at least 2/100 s after the previously kept one (the last one's duration absorbs the rest)."""
    last_cs = None
    pending = None
    for rgb, t, d in timed:
        c = int(np.floor(t * 100 + 0.5))
        if last_cs is not None and c - last_cs < animation.MIN_DELAY_CS:
            if pending is not None:  # extend the kept frame's end
                pending = (pending[0], pending[1], t + d - pending[1])
            continue
        if pending is not None:
            yield pending
        pending, last_cs = (rgb, t, d), c
    if pending is not None:
        yield pending


#: Lloyd steps of a warm-started palette (coarse steps, split-merge rounds, fine steps; ``frame`` mode after the first
#: frame): two coarse steps were ~25 ms on a 176x144 frame at 255 colours, against ~370 ms for the network's palette.
WARM_STEPS = (2, 0, 0)

#: ``dither="ed"``: frames dithered in one call (:meth:`_Encoder.flush`): numpy's per-call cost of the wavefront
#: steps is paid once for all of them; ~25 % less time a frame on the 176x144 clips, ~7 % on 480x204
#: (docs/experiments/animation.md, "ed for frames").
DITHER_BATCH = 8
#: ... and at most about this many crop pixels: larger batches were slower again (480x270: 8 frames slower than 4; the
#: scores of one wavefront step no longer stay in the cache).
DITHER_BATCH_PIXELS = 400_000

#: Bytes of the NETSCAPE2.0 loop extension (``loop`` is not None): ``auto`` scores its trial with them.
LOOP_EXTENSION_BYTES = 19

#: ``auto`` at the low end (``frame_refit``, :data:`FRAME_REFIT_RATIO`; not ``lossy``) tries ``global`` and ``frame``
#: only: on the first 60 frames of the five bench clips at q30 and q50, ``mixed`` was never the best mode over the
#: whole clip (it tied ``global`` on 6 of 10; on bikes q30 it beat ``global`` but not ``frame``) and ``auto`` never
#: picked it, while its trial cost ~0.05 s of carphone's 0.5 s at q50 (a palette network call where it refits;
#: docs/experiments/animation.md, 2026-12-07 frame refit).
TRIAL_LOW_MODES = ("global", "frame")

#: ``auto``'s trial runs on frames downscaled (by an integer factor) to at most this short side: it compares the
#: modes' bytes and PSNR, which scale alike, at a fraction of the time.
TRIAL_SHORT_SIDE = 144


def _pick_mode(trial, colors, palette_stage, dither_stage, settings, global_palette, warm=False, keep_margin=0,
               loop: int | None = 0, verify: bool = True):
    """``(mode, state)``: the palette mode with the best ``PSNR - BITS_DB * log2(bytes)`` on the (downscaled) trial
    frames, and, when they were not downscaled, the winner's ``(writer, encoder, buffer, frames)`` after them: the
    writer (``loop``, ``verify`` as asked) has written the GIF's first frames to the buffer and the encoder carries
    on from there, with the same bytes as a fresh one fed the same frames (the dither stages' caches change speed,
    not results). ``state`` is None when the frames were downscaled."""
    import copy
    import io

    if len(trial) < 2:
        return "global", None
    h, w = trial[0][0].shape[:2]
    f = max(1, min(h, w) // TRIAL_SHORT_SIDE)
    frames = [(rgb if f == 1 else rgb[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f, 3).mean((1, 3))
               .round().astype(np.uint8), t) for rgb, t, _ in trial]
    def attempt(mode):
        buf = io.BytesIO()
        writer = animation.AnimationWriter(buf, frames[0][0].shape[1], frames[0][0].shape[0],
                                           loop=loop if f == 1 else 0, verify=verify and f == 1,
                                           global_palette=None if mode == "frame" else
                                           _with_transparent(global_palette))
        enc = _new_encoder(writer, colors, palette_stage, dither_stage, mode, settings, global_palette, warm,
                           keep_margin)
        for rgb, t in frames:
            enc.add(rgb, t)
        enc.flush()
        probe = copy.copy(writer)  # the file's size if it ended here (the writer itself goes on)
        probe.out = io.BytesIO()
        probe.close(trial[-1][1] + trial[-1][2])
        # scored as a looping file, whatever ``loop`` is (as when the trial writer always looped)
        size = probe.bytes_written + (LOOP_EXTENSION_BYTES if writer.loop is None else 0)
        score = float(np.mean([_psnr(e) for e in enc.sq_error])) - settings["bits_db"] * math.log2(max(1, size))
        return score, (writer, enc, buf, len(frames))

    if settings["frame_refit"]:
        # the low end (FRAME_REFIT_RATIO; not lossy): mixed was never the best mode there (TRIAL_LOW_MODES)
        tried = {mode: attempt(mode) for mode in TRIAL_LOW_MODES}
        best = max(TRIAL_LOW_MODES, key=lambda m: tried[m][0])  # ties: the first
        return best, tried[best][1] if f == 1 else None
    tried = {"mixed": attempt("mixed")}
    if tried["mixed"][1][1].palette is global_palette:
        # mixed kept the global palette on every trial frame: it did what global does, byte for byte (the first
        # frame of both takes the global palette and its fit error; global then never looks again). Its encoder,
        # set to global, is global's.
        score, (writer, enc, buf, n) = tried["mixed"]
        global_enc = copy.copy(enc)
        global_enc.mode = "global"
        tried["global"] = score, (writer, global_enc, buf, n)
    else:
        tried["global"] = attempt("global")
    tried["frame"] = attempt("frame")
    best, best_score, state = "global", -np.inf, None
    for mode in ("global", "mixed", "frame"):
        score, kept = tried[mode]
        if score > best_score:
            best, best_score = mode, score
            state = kept if f == 1 else None
    return best, state
