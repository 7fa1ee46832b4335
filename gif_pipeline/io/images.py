"""Reading input images: any common format and mode -> uint8 ``[H, W, 3]`` RGB (+ alpha).

The GIFnets networks and the classical baselines work on 8-bit sRGB pixels
(``x / 127.5 - 1`` at the network input), so every input is brought to that form:

* EXIF orientation is applied (``PIL.ImageOps.exif_transpose``), as viewers do.
* Modes: ``1``, ``L``, ``LA``, ``P`` (with or without transparency), ``PA``, ``I;16*``
  and ``I`` (16-bit: scaled ``round(v * 255 / 65535)``, never clipped), ``F``, ``RGB``,
  ``RGBA``, ``RGBX``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``. Colour profiles are not
  applied (pixel values are taken as sRGB).
* Alpha becomes ``alpha_mask`` (True where ``alpha < alpha_threshold``; that is
  where the GIF gets its transparent index), or is composited onto ``background``.
* Animated files (GIF, APNG, WebP, multi-page TIFF): :func:`load_image` returns the
  first frame; :func:`load_frames` returns every frame.
* A pixel-count limit guards against decompression bombs: the size is read from
  the file header and checked before any pixel is decoded.
* Missing, empty, corrupt, truncated, non-image or too-large files raise
  :class:`ImageLoadError` with one line: ``"<file>: <reason>"``.
"""
from __future__ import annotations

import dataclasses
import io
import os
import stat
import threading
import warnings
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from gif_pipeline.errors import ImageLoadError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "READ_FORMATS",
    "LoadedFrames",
    "LoadedImage",
    "load_frames",
    "load_image",
    "load_image_array",
]

DEFAULT_MAX_PIXELS = 64_000_000

# Raster formats Pillow may open. Others (EPS, which runs Ghostscript; PDF; exotic
# scientific formats) are refused, as Pillow's docs advise for untrusted files.
READ_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP", "DIB", "PPM", "TGA", "ICO", "PCX", "QOI",
                "SGI", "AVIF", "JPEG2000")

_MAX_PIXELS_HINT = "raise the limit with --max-pixels"
_pillow_lock = threading.Lock()


@dataclasses.dataclass
class LoadedImage:
    """An input image as the encoder sees it.

    ``alpha_mask`` is None when no pixel is transparent (no alpha channel, all alpha
    ``>= alpha_threshold``, or composited onto a background). ``alpha`` keeps the raw
    8-bit alpha channel (None if the image has none).
    """

    rgb: np.ndarray  # uint8 [H, W, 3]
    alpha_mask: np.ndarray | None  # bool [H, W], True = transparent
    source_mode: str  # Pillow mode of the file ("RGB", "P", "I;16", ...), "array" for numpy input
    alpha: np.ndarray | None = None  # uint8 [H, W]


@dataclasses.dataclass
class LoadedFrames:
    """Every frame of an (animated) image; a still image gives one frame with duration 0."""

    frames: list[LoadedImage]
    durations_ms: list[int]
    loop: int | None  # Pillow's "loop" info (0 = forever), None if the file has none


# ----------------------------------------------------------------------------
# Argument checks


def _check_options(max_pixels, background, alpha_threshold):
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels <= 0:
            raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    if isinstance(alpha_threshold, bool) or not isinstance(alpha_threshold, (int, np.integer)) \
            or not 0 <= alpha_threshold <= 255:
        raise ValueError(f"alpha_threshold must be an int in 0..255, got {alpha_threshold!r}")
    if background is None:
        return None
    bg = np.asarray(background)
    if bg.shape != (3,) or not np.issubdtype(bg.dtype, np.integer) or bg.min() < 0 or bg.max() > 255:
        raise ValueError(f"background must be an (R, G, B) tuple of ints in 0..255, got {background!r}")
    return bg.astype(np.uint32)


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _error(name: str, reason: str) -> ImageLoadError:
    return ImageLoadError(f"{name.replace(chr(10), ' ')}: {_clean(reason)}")


# ----------------------------------------------------------------------------
# Opening safely


class _PillowGuard:
    """Pillow settings for one decode.

    * ``DecompressionBombWarning`` becomes an error (converted to ImageLoadError).
    * Pillow's own bomb limit is raised (never lowered, process-wide) to ``max_pixels``
      when the user allows larger images than Pillow would; our own check from the
      header is the real limit.
    * ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off so truncated files fail.
    """

    def __init__(self, max_pixels):
        self.max_pixels = max_pixels

    def __enter__(self):
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _pillow_lock:
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and (self.max_pixels is None or self.max_pixels > limit):
                Image.MAX_IMAGE_PIXELS = self.max_pixels
            self._restore_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
            if self._restore_truncated:
                ImageFile.LOAD_TRUNCATED_IMAGES = False
        return self

    def __exit__(self, *exc):
        if self._restore_truncated:
            ImageFile.LOAD_TRUNCATED_IMAGES = True
        self._warnings.__exit__(*exc)
        return False


def _formats() -> list[str]:
    Image.init()
    return [f for f in READ_FORMATS if f in Image.OPEN]


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<image bytes>"
    return str(getattr(source, "name", "<image stream>"))


def _open_stream(source, name: str):
    """A binary stream for ``source`` and whether we must close it; raise ImageLoadError for bad paths."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise _error(name, "empty data (0 bytes)")
        return io.BytesIO(bytes(source)), True
    if hasattr(source, "read"):
        return source, False
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")
    path = os.fspath(source)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise _error(name, "file not found") from None
    except OSError as e:
        raise _error(name, f"cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _error(name, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise _error(name, "not a regular file")
    if st.st_size == 0:
        raise _error(name, "empty file (0 bytes)")
    try:
        return open(path, "rb"), True
    except OSError as e:
        raise _error(name, f"cannot read ({e.strerror or e})") from None


def _too_large(name: str, w: int, h: int, max_pixels: int, frames: int = 1) -> ImageLoadError:
    what = f"{w}x{h} = {w * h:,} pixels" if frames == 1 else f"{frames} frames of {w}x{h} = {w * h * frames:,} pixels"
    return _error(name, f"image is {what}, over the limit of {max_pixels:,} pixels "
                        f"(decompression-bomb guard; {_MAX_PIXELS_HINT})")


def _decode(source, max_pixels, work: Callable[[Image.Image], object]):
    """Open ``source`` with Pillow, check its size from the header, then run ``work(im)``.

    ``work`` does the Pillow decoding (load/seek/convert); any exception Pillow raises
    there (OSError "image file is truncated", SyntaxError, ValueError, ...) means the
    file is corrupt and becomes one ImageLoadError line.
    """
    name = _source_name(source)
    stream, close = _open_stream(source, name)
    try:
        with _PillowGuard(max_pixels):
            try:
                im = Image.open(stream, formats=_formats())
            except UnidentifiedImageError:
                raise _error(name, "not an image, or not a supported format "
                                   f"({', '.join(_formats())})") from None
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise _error(name, f"image too large: {e} ({_MAX_PIXELS_HINT})") from None
            except Exception as e:
                raise _error(name, f"corrupt image header ({_clean(e) or type(e).__name__})") from None
            with im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise _error(name, f"image has no pixels ({w}x{h})")
                if max_pixels is not None and w * h > max_pixels:
                    raise _too_large(name, w, h, max_pixels)
                try:
                    return work(im)
                except ImageLoadError:
                    raise
                except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                    raise _error(name, f"image too large: {e} ({_MAX_PIXELS_HINT})") from None
                except Exception as e:  # noqa: BLE001 - every decoder failure is a bad file
                    reason = _clean(e) or type(e).__name__
                    if "truncated" in reason.lower():
                        raise _error(name, "truncated file: the image data ends early") from None
                    raise _error(name, f"corrupt or unreadable image ({reason})") from None
    finally:
        if close:
            stream.close()


def _oriented(im: Image.Image) -> Image.Image:
    """Fully decoded copy of the current frame, rotated/flipped by its EXIF orientation."""
    im.load()
    out = ImageOps.exif_transpose(im)
    return out if out is not im else im.copy()


# ----------------------------------------------------------------------------
# Mode conversion


def _scale16(a: np.ndarray) -> np.ndarray:
    """16-bit 0..65535 -> 8-bit 0..255 with rounding: ``round(v * 255 / 65535)``."""
    a = a.astype(np.uint32)
    return ((a * 255 + 32767) // 65535).astype(np.uint8)


def _float_to_u8(a: np.ndarray, name: str, strict: bool) -> np.ndarray:
    """Float pixels -> uint8.

    [0, 1] data is scaled by 255. With ``strict=False`` (mode-F files, whose range is not
    fixed) data in [0, 255] is taken as 8-bit values and any other range is stretched
    linearly from [min, max] to [0, 255].
    """
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise _error(name, "image contains NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0 and hi <= 1:
        v = a * 255.0
    elif strict:
        raise ValueError(f"float images must be in [0, 1], got values in [{lo:g}, {hi:g}]")
    elif lo >= 0 and hi <= 255:
        v = a
    else:
        v = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def _has_transparency(im: Image.Image) -> bool:
    return "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")


def _pil_to_rgb_alpha(im: Image.Image, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    mode = im.mode
    if mode in ("P", "PA", "RGBa"):
        im = im.convert("RGB") if mode == "P" and not _has_transparency(im) else im.convert("RGBA")
        mode = im.mode
    elif mode == "La":  # premultiplied grey + alpha
        im = im.convert("LA")
        mode = im.mode
    elif mode in ("L", "1", "RGB") and "transparency" in im.info:  # tRNS colour key (PNG)
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode == "RGB":
        return np.array(im, np.uint8), None
    if mode == "RGBA":
        a = np.array(im, np.uint8)
        return np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., 3])
    if mode in ("L", "1"):
        g = np.array(im.convert("L") if mode == "1" else im, np.uint8)
        return np.repeat(g[..., None], 3, axis=2), None
    if mode == "LA":
        a = np.array(im, np.uint8)
        return np.repeat(a[..., :1], 3, axis=2), np.ascontiguousarray(a[..., 1])
    if mode.startswith("I;16"):
        g = _scale16(np.asarray(im))
        return np.repeat(g[..., None], 3, axis=2), None
    if mode == "I":
        a = np.asarray(im, np.int64)
        if a.min() >= 0 and a.max() <= 65535:  # Pillow's mode for 16-bit data (PNG, PPM, TIFF)
            g = _scale16(a)
        else:  # genuinely 32-bit data: stretch [min, max] to [0, 255]
            g = _float_to_u8(a, name, strict=False)
        return np.repeat(g[..., None], 3, axis=2), None
    if mode == "F":
        g = _float_to_u8(np.asarray(im), name, strict=False)
        return np.repeat(g[..., None], 3, axis=2), None
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.array(im.convert("RGB"), np.uint8), None
    try:
        return _pil_to_rgb_alpha(im.convert("RGBA"), name)
    except ValueError as e:
        raise _error(name, f"unsupported image mode {mode!r} ({e})") from None


def _finish(rgb, alpha, source_mode, background, alpha_threshold) -> LoadedImage:
    if alpha is None:
        return LoadedImage(rgb, None, source_mode, None)
    if background is not None:
        a = alpha.astype(np.uint32)[..., None]
        out = (rgb.astype(np.uint32) * a + background * (255 - a) + 127) // 255
        return LoadedImage(out.astype(np.uint8), None, source_mode, alpha)
    mask = alpha < alpha_threshold
    return LoadedImage(rgb, mask if mask.any() else None, source_mode, alpha)


# ----------------------------------------------------------------------------
# Public API


def load_image(source, max_pixels: int | None = DEFAULT_MAX_PIXELS, background: Sequence[int] | None = None,
               alpha_threshold: int = 128) -> LoadedImage:
    """Load an image file as uint8 RGB (see the module docstring for modes and rules).

    Args:
      source: a path (also bytes or a binary file object).
      max_pixels: refuse images with more than this many pixels (None: no limit).
        Checked from the header before decoding.
      background: ``(R, G, B)``; if given, alpha is composited onto it and
        ``alpha_mask`` is None.
      alpha_threshold: pixels with alpha below this are transparent (``alpha_mask``).

    Animated files give their first frame. Raises :class:`ImageLoadError` (one line
    naming the file) for missing, empty, corrupt, truncated, non-image or too-large
    files, and ValueError for bad arguments.
    """
    bg = _check_options(max_pixels, background, alpha_threshold)
    name = _source_name(source)

    def work(im):
        im.seek(0)
        return im.mode, _oriented(im)

    mode, im = _decode(source, max_pixels, work)
    rgb, alpha = _pil_to_rgb_alpha(im, name)
    return _finish(rgb, alpha, mode, bg, alpha_threshold)


def load_frames(source, max_pixels: int | None = DEFAULT_MAX_PIXELS, background: Sequence[int] | None = None,
                alpha_threshold: int = 128) -> LoadedFrames:
    """Every frame of an animated GIF, APNG or WebP (a still image gives one frame).

    Frames are composited as a viewer shows them (Pillow applies disposal and
    blending), so each is a full ``[H, W, 3]`` picture. ``max_pixels`` limits the
    total over all frames.
    """
    bg = _check_options(max_pixels, background, alpha_threshold)
    name = _source_name(source)

    def work(im):
        w, h = im.size
        out, durations = [], []
        n_frames = getattr(im, "n_frames", 1)
        if max_pixels is not None and w * h * n_frames > max_pixels:
            raise _too_large(name, w, h, max_pixels, n_frames)
        for n in range(n_frames):
            im.seek(n)
            frame = _oriented(im)
            if frame.mode == "P":  # later frames may switch palettes: give each its own RGB(A) copy
                frame = frame.convert("RGBA" if _has_transparency(frame) else "RGB")
            out.append((im.mode, frame))
            durations.append(int(round(float(im.info.get("duration", 0) or 0))))
        return out, durations, im.info.get("loop")

    frames, durations, loop = _decode(source, max_pixels, work)
    loaded = []
    for mode, frame in frames:
        rgb, alpha = _pil_to_rgb_alpha(frame, name)
        loaded.append(_finish(rgb, alpha, mode, bg, alpha_threshold))
    return LoadedFrames(loaded, durations, None if loop is None else int(loop))


def load_image_array(image, background: Sequence[int] | None = None, alpha_threshold: int = 128) -> LoadedImage:
    """In-memory version of :func:`load_image` (no EXIF, no size limit).

    ``image`` is a PIL image (any mode above) or a numpy array ``[H, W]`` or
    ``[H, W, C]`` with C in 1..4 (grey, grey+alpha, RGB, RGBA) of dtype uint8,
    uint16 (16-bit, scaled), bool, or float in [0, 1].
    """
    bg = _check_options(None, background, alpha_threshold)
    if isinstance(image, Image.Image):
        image.load()
        rgb, alpha = _pil_to_rgb_alpha(image, "<PIL image>")
        return _finish(rgb, alpha, image.mode, bg, alpha_threshold)
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or not 1 <= a.shape[2] <= 4 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an image array [H, W] or [H, W, 1..4], got shape {np.shape(image)}")
    if a.dtype == np.uint8:
        u8 = a
    elif a.dtype == np.uint16:
        u8 = _scale16(a)
    elif a.dtype == np.bool_:
        u8 = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        u8 = _float_to_u8(a, "<array>", strict=True)
    else:
        raise ValueError(f"image arrays must be uint8, uint16, bool or float in [0, 1], got dtype {a.dtype}")
    colour = u8[..., :3] if u8.shape[2] >= 3 else np.repeat(u8[..., :1], 3, axis=2)
    alpha = u8[..., 3] if u8.shape[2] == 4 else (u8[..., 1] if u8.shape[2] == 2 else None)
    alpha = None if alpha is None else np.ascontiguousarray(alpha)
    return _finish(np.ascontiguousarray(colour), alpha, "array", bg, alpha_threshold)
