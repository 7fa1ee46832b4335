"""Animated GIF files: a streaming writer (changed rectangles, transparency, timing) and a reader of composited frames.

Writing (:class:`AnimationWriter`)
    Frames are added one at a time and written to a binary file as they come, so a long clip never sits in memory.
    Each frame stores only its rectangle of the canvas (``rect``); pixels of the rectangle that show the previous
    frame hold the frame's transparent index. Every frame uses disposal 1 ("do not dispose"): the canvas keeps what
    the earlier frames drew, which is what makes unchanged pixels free. The first frame's palette (or the one given
    as ``global_palette``) is the global colour table; a frame with another palette gets a local table.

    Timing: frames carry their start time in seconds; a frame's delay is
    ``round(100 * t_next) - round(100 * t_this)`` hundredths of a second, so the rounding error never accumulates:
    every frame starts within half a hundredth of its true time and the clip's length is within one hundredth.
    A delay below 2/100 s is shown as 1/10 s by browsers, so :func:`keep_times` drops frames that would start less
    than 2/100 s after the previous one (the encoder calls it; the writer refuses such a delay).

Reading (:func:`iter_frames`)
    Any animated GIF, APNG or WebP (or a still image) as an iterator of ``(rgb uint8 [H, W, 3], duration_ms)``:
    the frames composited as a viewer shows them (Pillow applies disposal and blending), one at a time.
    :func:`composite_gif` is an independent compositor of the GIF block structure (:func:`gif.decode_gif`), used by
    the tests to check that Pillow, ffmpeg, gifsicle and this module agree.
"""
from __future__ import annotations

import io
import struct
from typing import BinaryIO, Iterator

import numpy as np

from gif_pipeline.errors import ImageLoadError
from gif_pipeline.io import gif as gif_io

__all__ = ["AnimationWriter", "MIN_DELAY_CS", "composite_gif", "iter_frames", "keep_times", "read_frames"]

#: Browsers show a delay of 0 or 1 hundredths as 10: the shortest delay written.
MIN_DELAY_CS = 2


def _cs(t: float) -> int:
    return int(np.floor(t * 100.0 + 0.5))


def keep_times(times, min_delay_cs: int = MIN_DELAY_CS) -> list[bool]:
    """Which frame start times (seconds, increasing) to keep so that kept frames start >= ``min_delay_cs`` apart
    on the 1/100 s grid (the first is always kept)."""
    keep, last = [], None
    for t in times:
        c = _cs(t)
        ok = last is None or c - last >= min_delay_cs
        keep.append(ok)
        if ok:
            last = c
    return keep


class AnimationWriter:
    """Write an animated GIF89a frame by frame to ``out`` (a binary file object).

    ``add(indices, palette, time_s, rect, transparent_index)`` gives one frame: ``indices`` uint8 ``[h, w]`` of the
    rectangle ``rect = (left, top)`` (the whole canvas for the first frame), ``palette`` uint8 ``[K, 3]``,
    ``transparent_index`` (< the padded table size) for pixels that show the previous frame, and the frame's start
    time in seconds. ``close(end_s)`` writes the last delay (the clip ends at ``end_s``) and the trailer.
    ``loop``: NETSCAPE2.0 repeat count (0 = forever, ``None`` = no loop extension: played once).
    """

    def __init__(self, out: BinaryIO, width: int, height: int, loop: int | None = 0,
                 global_palette: np.ndarray | None = None, verify: bool = True):
        if not (1 <= width <= gif_io.MAX_SIDE and 1 <= height <= gif_io.MAX_SIDE):
            raise ValueError(f"GIF canvases are 1..{gif_io.MAX_SIDE} pixels on each side, got {width}x{height}")
        if loop is not None and not (isinstance(loop, (int, np.integer)) and 0 <= loop <= 65535):
            raise ValueError(f"loop must be None or an int in 0..65535 (0 = forever), got {loop!r}")
        self.out, self.width, self.height, self.loop, self.verify = out, width, height, loop, verify
        self.global_table = None if global_palette is None else gif_io._color_table(
            gif_io._check_palette(global_palette, "global palette"))
        self.pending = None  # (time_cs, header bytes without the GCE, lzw)
        self.frames_written = 0
        self.bytes_written = 0
        self.closed = False

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.bytes_written += len(data)

    def _header(self, palette: np.ndarray) -> None:
        if self.global_table is None:
            self.global_table = gif_io._color_table(palette)
        table, size = self.global_table
        out = bytearray(b"GIF89a")
        out += struct.pack("<HHBBB", self.width, self.height, 0x80 | 0x70 | size, 0, 0)
        out += table
        if self.loop is not None:
            out += bytes([0x21, 0xFF, 11]) + b"NETSCAPE2.0" + b"\x03\x01" + struct.pack("<H", int(self.loop)) + b"\x00"
        self._write(bytes(out))

    def add(self, indices: np.ndarray, palette: np.ndarray, time_s: float, rect: tuple[int, int] = (0, 0),
            transparent_index: int | None = None) -> None:
        if self.closed:
            raise ValueError("the writer is closed")
        pal = gif_io._check_palette(palette)
        table, size = gif_io._color_table(pal)
        idx = gif_io._check_indices(indices, len(table) // 3)
        left, top = (int(v) for v in rect)
        h, w = idx.shape
        if left < 0 or top < 0 or left + w > self.width or top + h > self.height:
            raise ValueError(f"frame rectangle {w}x{h} at ({left}, {top}) leaves the {self.width}x{self.height} canvas")
        if self.pending is None and self.frames_written == 0:
            if (left, top, w, h) != (0, 0, self.width, self.height):
                raise ValueError("the first frame must cover the whole canvas")
            self._header(pal)
        if transparent_index is not None and not 0 <= int(transparent_index) < len(table) // 3:
            raise ValueError(f"transparent_index {transparent_index} is outside the frame's colour table")
        local = table != self.global_table[0]
        descriptor = struct.pack("<BHHHHB", 0x2C, left, top, w, h, (0x80 | size) if local else 0)
        if local:
            descriptor += table
        lzw = gif_io._lzw_raster(idx, table) if self.verify else _lzw_fast(idx, table)
        self._flush(_cs(time_s))
        self.pending = (_cs(time_s), transparent_index, descriptor + lzw)

    def _flush(self, next_cs: int) -> None:
        if self.pending is None:
            return
        start, t, body = self.pending
        delay = next_cs - start
        if delay < MIN_DELAY_CS:
            raise ValueError(f"frame {self.frames_written} would last {delay}/100 s; frames must start at least "
                             f"{MIN_DELAY_CS}/100 s apart (drop frames with keep_times)")
        if delay > 65535:
            raise ValueError(f"frame {self.frames_written} would last {delay}/100 s (GIF allows 65535)")
        self._write(gif_io._graphic_control(gif_io.DISPOSE_NONE, delay, None if t is None else int(t)) + body)
        self.frames_written += 1
        self.pending = None

    def close(self, end_s: float) -> None:
        """Write the last frame (it lasts until ``end_s``) and the trailer."""
        if self.closed:
            return
        if self.pending is None:
            raise ValueError("an animation needs at least one frame")
        self._flush(max(_cs(end_s), self.pending[0] + MIN_DELAY_CS))
        self._write(b"\x3b")
        self.closed = True


def _lzw_fast(indices: np.ndarray, table: bytes) -> bytes:
    """The LZW raster of :func:`gif._lzw_raster` without decoding it again (Pillow's C encoder)."""
    from PIL import Image

    h, w = indices.shape
    im = Image.frombytes("P", (w, h), indices.tobytes())
    im.putpalette(table, "RGB")
    buf = io.BytesIO()
    im.save(buf, format="GIF", optimize=False, interlace=False)
    return gif_io._parse_gif(buf.getvalue(), "<Pillow output>").frames[0].lzw


# ----------------------------------------------------------------------------
# Reading


def iter_frames(source, max_pixels: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Composited frames of an animated GIF, APNG or WebP (or one frame of a still image), one at a time:
    ``(rgb uint8 [H, W, 3], duration_ms)``. Transparent pixels come out black (a GIF's canvas before any frame).

    ``max_pixels`` bounds one frame's pixels. Corrupt or truncated files raise :class:`ImageLoadError`."""
    from PIL import Image

    name = source if isinstance(source, str) else "<image>"
    try:
        im = Image.open(source)
    except FileNotFoundError:
        raise ImageLoadError(f"{name}: file not found") from None
    except Exception as e:
        raise ImageLoadError(f"{name}: not an image Pillow can read ({gif_io._one_line(e)})") from None
    with im:
        if max_pixels is not None and im.size[0] * im.size[1] > max_pixels:
            raise ImageLoadError(f"{name}: {im.size[0]}x{im.size[1]} is above --max-pixels {max_pixels}")
        n = getattr(im, "n_frames", 1)
        for i in range(n):
            try:
                im.seek(i)
                frame = im.convert("RGBA")
            except Exception as e:
                raise ImageLoadError(f"{name}: corrupt or truncated frame {i} ({gif_io._one_line(e)})") from None
            rgba = np.asarray(frame)
            rgb = np.where(rgba[..., 3:] >= 128, rgba[..., :3], 0).astype(np.uint8)
            yield rgb, int(round(float(im.info.get("duration", 0) or 0)))


def read_frames(source) -> tuple[list[np.ndarray], list[int]]:
    """:func:`iter_frames` as lists (small files: tests)."""
    frames, durations = [], []
    for rgb, d in iter_frames(source):
        frames.append(rgb)
        durations.append(d)
    return frames, durations


def frame_count(source) -> int:
    """Frames of an image file as Pillow counts them (1 for a still image); ImageLoadError if unreadable."""
    from PIL import Image

    try:
        with Image.open(source) as im:
            return int(getattr(im, "n_frames", 1))
    except FileNotFoundError:
        raise ImageLoadError(f"{source}: file not found") from None
    except Exception as e:
        raise ImageLoadError(f"{source}: not an image Pillow can read ({gif_io._one_line(e)})") from None


def composite_gif(data_or_path) -> tuple[list[np.ndarray], list[int]]:
    """Composite every frame of a GIF from its block structure: ``(frames rgb [H, W, 3], delays in 1/100 s)``.

    Disposal 0/1 keeps the frame, 2 clears its rectangle to black (transparent), 3 restores what was there before it;
    transparent pixels show the canvas. An independent decoder for the tests (Pillow's compositing is another)."""
    data, name = gif_io._read_source(data_or_path)
    g = gif_io._parse_gif(data, name)
    canvas = np.zeros((g.height, g.width, 3), np.uint8)
    frames, delays = [], []
    for f in gif_io._frames(g, name):
        before = canvas.copy() if f.disposal == 3 else None
        pal = np.zeros((256, 3), np.uint8)
        pal[: len(f.palette)] = f.palette[:256]
        h = max(0, min(f.indices.shape[0], g.height - f.top))
        w = max(0, min(f.indices.shape[1], g.width - f.left))
        ind = f.indices[:h, :w]
        region = canvas[f.top:f.top + h, f.left:f.left + w]
        opaque = np.ones(ind.shape, bool) if f.transparent_index is None else ind != f.transparent_index
        region[opaque] = pal[ind[opaque]]
        frames.append(canvas.copy())
        delays.append(f.duration_ms // 10)
        if f.disposal == 2:
            canvas[f.top:f.top + h, f.left:f.left + w] = 0
        elif f.disposal == 3:
            canvas = before
    return frames, delays
