"""A minimal animated-image reader and writer on Pillow (and the imageio-ffmpeg binary for .mp4), for
``gifnets interpolate`` until the project's animated-GIF/video I/O (issue 25) replaces it. Only this module and
:mod:`gif_pipeline.cli.interpolate` use it.

* :func:`read_animation`: an animated GIF (or WebP/APNG) -> uint8 frames ``[N, H, W, 3]`` composited as a viewer
  shows them (Pillow applies the disposal methods), per-frame durations in ms and the loop count.
* :func:`write_animation`: frames + durations -> ``.gif``, ``.webp``, ``.mp4``, or a folder of PNGs named in
  frame order with zero-padded numbers. Written atomically: a temporary file (or folder) beside the target,
  renamed at the end; never over an input.
"""
from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import tempfile
from typing import Iterable

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from gif_pipeline.errors import GifnetsError, ImageLoadError, OutputExistsError
from gif_pipeline.io.files import _same_file, atomic_write

OUTPUT_KINDS = (".gif", ".webp", ".mp4")
DEFAULT_DURATION_MS = 100  # a frame without a duration (browsers show 0 and 10 ms GIF delays as 100 ms)


def read_animation(path: str, max_pixels: int = 1 << 31) -> tuple[np.ndarray, list[int], int]:
    """Frames (uint8 ``[N, H, W, 3]``, alpha flattened on black), durations (ms) and loop count (0: forever).

    ``max_pixels`` bounds N x H x W x 3 bytes held in memory: a longer clip is an :class:`ImageLoadError`
    that says so (nothing is read further)."""
    try:
        im = Image.open(path)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ImageLoadError(f"{path}: not an image ({e})") from None
    frames, durations = [], []
    with im:
        n = getattr(im, "n_frames", 1)
        w, h = im.size
        if n * w * h * 3 > max_pixels:
            raise ImageLoadError(f"{path}: {n} frames of {w}x{h} need {n * w * h * 3 / 2**30:.1f} GiB; too long to "
                                 "hold in memory (split it first)")
        loop = int(im.info.get("loop", 0) or 0)
        try:
            for frame in ImageSequence.Iterator(im):
                if frame.size != (w, h):
                    raise ImageLoadError(f"{path}: frames of different sizes ({w}x{h} and "
                                         f"{frame.size[0]}x{frame.size[1]})")
                rgba = frame.convert("RGBA")
                rgb = Image.new("RGB", rgba.size)
                rgb.paste(rgba, mask=rgba.getchannel("A"))
                frames.append(np.asarray(rgb))
                d = frame.info.get("duration", 0) or 0
                durations.append(int(d) if d >= 20 else DEFAULT_DURATION_MS)
        except (OSError, ValueError, EOFError) as e:  # truncated or corrupt data
            raise ImageLoadError(f"{path}: corrupt or truncated ({e})") from None
    return np.stack(frames), durations, loop


def split_durations(durations: Iterable[int], factor: int, quantum: int = 10) -> list[int]:
    """Each duration split into ``factor`` parts on a ``quantum``-ms grid (GIF delays are centiseconds): part k
    ends at the rounded exact time, so the total is the input's (to within one quantum) and no error builds up."""
    out, exact, written = [], 0.0, 0
    for d in durations:
        for _ in range(factor):
            exact += d / factor
            end = int(round(exact / quantum)) * quantum
            out.append(end - written)
            written = end
    return out


def _gif_bytes(frames, durations, loop) -> bytes:
    images = [Image.fromarray(f).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
              for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=list(durations), loop=loop,
                   disposal=1, optimize=False)
    return buf.getvalue()


def _webp_bytes(frames, durations, loop) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="WEBP", save_all=True, append_images=images[1:], duration=list(durations), loop=loop,
                   lossless=False, quality=90, method=4)
    return buf.getvalue()


def _mp4(frames, durations, target: str, force: bool):
    """H.264 at a constant rate (the mean frame rate: an .mp4 keeps the clip's length, not per-frame delays).
    ``frames`` may be an iterator (streamed: one frame in memory at a time)."""
    import imageio_ffmpeg

    total = sum(durations) / 1000.0
    fps = len(durations) / total if total > 0 else 10.0
    frames = iter(frames)
    first = np.asarray(next(frames), np.uint8)
    h, w = first.shape[:2]
    parent = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".mp4", dir=parent)
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(tmp, (w + w % 2, h + h % 2), fps=fps, quality=8, macro_block_size=2,
                                             pix_fmt_out="yuv420p", ffmpeg_log_level="error")
        writer.send(None)
        for f in itertools.chain([first], frames):
            f = np.asarray(f, np.uint8)
            if h % 2 or w % 2:
                f = np.pad(f, [(0, h % 2), (0, w % 2), (0, 0)], mode="edge")
            writer.send(np.ascontiguousarray(f))
        writer.close()
        if os.path.lexists(target) and not force:
            raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except (OSError, subprocess.SubprocessError, RuntimeError) as e:
        raise GifnetsError(f"{target}: cannot write the video ({e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _folder(frames, count: int, target: str, force: bool):
    parent = os.path.dirname(os.path.abspath(target.rstrip(os.sep))) or "."
    if os.path.exists(target) and not os.path.isdir(target):
        raise OutputExistsError(f"{target}: exists and is not a folder")
    if os.path.isdir(target) and os.listdir(target) and not force:
        raise OutputExistsError(f"{target}: folder is not empty (use --force to replace it)")
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(target.rstrip(os.sep)) + ".", dir=parent)
    try:
        digits = max(4, len(str(count - 1)))
        for i, f in enumerate(frames):
            Image.fromarray(np.asarray(f, np.uint8)).save(os.path.join(tmp, f"{i:0{digits}d}.png"))
        os.chmod(tmp, 0o777 & ~_umask())
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as e:
        raise GifnetsError(f"{target}: cannot write the frames ({e.strerror or e})") from None
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_kind(target: str) -> str:
    """``.gif``, ``.webp``, ``.mp4``, or ``folder`` (no extension, or an existing folder)."""
    if os.path.isdir(target) or target.endswith(os.sep):
        return "folder"
    ext = os.path.splitext(target)[1].lower()
    if ext in OUTPUT_KINDS:
        return ext
    if not ext:
        return "folder"
    raise GifnetsError(f"{target}: cannot write {ext} (use .gif, .webp, .mp4 or a folder)")


def write_animation(target: str, frames, durations, loop: int = 0, *, force: bool = False, protect: Iterable = ()):
    """Write ``frames`` (uint8 ``[H, W, 3]`` each, one per duration in ms) to ``target`` (see the module).
    ``.mp4`` and folders take an iterator and stream it; ``.gif`` and ``.webp`` are built in memory."""
    if not len(durations):
        raise GifnetsError(f"{target}: no frames to write")
    for p in protect:
        if _same_file(target, os.fspath(p)):
            raise OutputExistsError(f"{target}: refusing to overwrite the input file {os.fspath(p)}")
    kind = output_kind(target)
    parent = os.path.dirname(os.path.abspath(target.rstrip(os.sep)))
    if not os.path.isdir(parent):
        raise GifnetsError(f"{target}: output folder {parent} does not exist")
    if kind == ".gif":
        frames = [np.asarray(f, np.uint8) for f in frames]
        atomic_write(target, _gif_bytes(frames, durations, loop), force=force, protect=protect)
    elif kind == ".webp":
        frames = [np.asarray(f, np.uint8) for f in frames]
        atomic_write(target, _webp_bytes(frames, durations, loop), force=force, protect=protect)
    elif kind == ".mp4":
        if os.path.lexists(target) and not force:
            raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
        _mp4(frames, durations, target, force)
    else:
        _folder(frames, len(durations), target, force)
    return kind
