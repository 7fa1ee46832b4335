"""GIF89a files: palette indices + palette -> bytes, and back.

A GIF stores, per frame, an index map ``[H, W]`` into a colour table of ``2**n``
RGB entries (``n`` in 1..8). That is exactly the output of the GIFnets pipeline:
the palette of Eq. 1 and the indices of the hard projection ``argmin_k ||I - P_k||``.

Writing
    The LZW-compressed raster of every frame comes from Pillow's GIF writer (its C
    LZW encoder). The file around it (header, colour tables, extensions) is written
    here, because Pillow's own multi-frame writer rewrites frames: it may optimise or
    reorder palettes, crop frames to the changed rectangle, merge identical frames and
    add transparency. Here nothing is rewritten: palette entry ``k`` is written as
    entry ``k``, index ``i`` stays ``i``. Palettes whose size ``K`` is not a power of
    two are padded with black ``(0, 0, 0)`` entries up to the next power of two
    (at least 2). Every raster is decoded again right after encoding and compared,
    so an encoder that changed an index would raise instead of writing a wrong file.

Reading
    :func:`decode_gif` walks the GIF block structure itself and lets Pillow decode
    the LZW data of each frame on its own, so every frame comes back with its raw
    indices and its own colour table (Pillow's reader would composite later frames
    and convert them to RGB).

Durations are stored by GIF in hundredths of a second: ``duration_ms`` is rounded
to the nearest 10 ms.
"""
from __future__ import annotations

import dataclasses
import io
import os
import struct
from typing import Sequence

import numpy as np
from PIL import Image

from gif_pipeline.errors import GifnetsError, ImageLoadError

__all__ = [
    "Frame",
    "GifInfo",
    "atomic_write",
    "decode_gif",
    "decode_gif_rgb",
    "encode_animation",
    "encode_gif",
    "padded_palette_size",
    "read_gif_info",
]

MAX_SIDE = 65535  # GIF stores widths and heights as 16-bit integers
MAX_DELAY_MS = 65535 * 10

_TRAILER = b"\x3b"
_IMAGE = 0x2C
_EXTENSION = 0x21
_GRAPHIC_CONTROL = 0xF9
_COMMENT = 0xFE
_APPLICATION = 0xFF
_NETSCAPE = (b"NETSCAPE2.0", b"ANIMEXTS1.0")

# Disposal methods (GIF89a spec, section 23).
DISPOSE_NONE = 1  # leave the frame in place
DISPOSE_BACKGROUND = 2  # clear the frame's area before the next one


@dataclasses.dataclass
class Frame:
    """One decoded GIF frame.

    ``indices`` are the stored indices of the frame's rectangle (the whole canvas
    for files written by this module; other encoders may store a smaller rectangle
    at ``(left, top)``). ``palette`` is the frame's full colour table (local, else
    global), ``2**n`` entries: for a palette of ``K`` colours written by
    :func:`encode_gif`, ``palette[:K]`` is that palette and the rest is padding.
    """

    indices: np.ndarray  # uint8 [h, w]
    palette: np.ndarray  # uint8 [2**n, 3]
    duration_ms: int = 0
    transparent_index: int | None = None
    left: int = 0
    top: int = 0
    disposal: int = 0


@dataclasses.dataclass
class GifInfo:
    """File-level facts of a GIF: canvas size, loop count (None = no loop extension), comment."""

    version: str
    width: int
    height: int
    n_frames: int
    loop: int | None
    comment: bytes | None
    background_index: int


# ----------------------------------------------------------------------------
# Validation helpers


def padded_palette_size(k: int) -> int:
    """Number of entries of the GIF colour table that holds ``k`` colours: ``max(2, 2**ceil(log2 k))``."""
    if not 1 <= k <= 256:
        raise ValueError(f"a GIF palette has 1..256 colours, got {k}")
    return max(2, 1 << (k - 1).bit_length())


def _check_palette(palette, what: str = "palette") -> np.ndarray:
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f"{what} must have shape [K, 3], got {pal.shape}")
    if not 1 <= pal.shape[0] <= 256:
        raise ValueError(f"{what} must have 1..256 colours, got {pal.shape[0]}")
    if pal.dtype == np.bool_ or not np.issubdtype(pal.dtype, np.integer):
        raise ValueError(f"{what} must be an integer (uint8) array of 0..255 values, got dtype {pal.dtype}")
    if pal.size and (pal.min() < 0 or pal.max() > 255):
        raise ValueError(f"{what} values must be in 0..255, got {pal.min()}..{pal.max()}")
    return np.ascontiguousarray(pal, dtype=np.uint8)


def _check_indices(indices, k: int, what: str = "indices") -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 2:
        raise ValueError(f"{what} must have shape [H, W], got {idx.shape}")
    h, w = idx.shape
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"{what}: GIF images are 1..{MAX_SIDE} pixels on each side, got {w}x{h}")
    if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{what} must be an integer (uint8) array, got dtype {idx.dtype}")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= k:
        raise ValueError(f"{what} must be in 0..{k - 1} for a palette of {k} colours, got {lo}..{hi}")
    return np.ascontiguousarray(idx, dtype=np.uint8)


def _check_transparent_index(transparent_index, k: int) -> int | None:
    if transparent_index is None:
        return None
    if isinstance(transparent_index, (bool, np.bool_)) or not isinstance(transparent_index, (int, np.integer)):
        raise ValueError(f"transparent_index must be an int or None, got {transparent_index!r}")
    t = int(transparent_index)
    if not 0 <= t < k:
        raise ValueError(f"transparent_index must be in 0..{k - 1} for a palette of {k} colours, got {t}")
    return t


def _delay_cs(duration_ms) -> int:
    """Milliseconds -> GIF delay in hundredths of a second (rounded to nearest)."""
    try:
        ms = float(duration_ms)
    except (TypeError, ValueError):
        raise ValueError(f"durations must be numbers of milliseconds, got {duration_ms!r}") from None
    if not np.isfinite(ms) or ms < 0 or ms > MAX_DELAY_MS:
        raise ValueError(f"durations must be in 0..{MAX_DELAY_MS} ms, got {duration_ms!r}")
    return int(np.floor(ms / 10.0 + 0.5))


# ----------------------------------------------------------------------------
# Low-level writing


def _sub_blocks(payload: bytes) -> bytes:
    """GIF data sub-blocks (<=255 bytes each, length-prefixed) plus the 0 terminator."""
    out = bytearray()
    for i in range(0, len(payload), 255):
        chunk = payload[i:i + 255]
        out += bytes([len(chunk)]) + chunk
    out += b"\x00"
    return bytes(out)


def _color_table(palette: np.ndarray) -> tuple[bytes, int]:
    """Padded colour table bytes and its 3-bit size field (table has ``2**(field+1)`` entries)."""
    n = padded_palette_size(len(palette))
    table = np.zeros((n, 3), np.uint8)
    table[: len(palette)] = palette
    return table.tobytes(), n.bit_length() - 2


def _lzw_raster(indices: np.ndarray, table: bytes) -> bytes:
    """Pillow-encoded LZW raster (min-code-size byte, sub-blocks, terminator) for ``indices``.

    The image is saved as a single-frame, non-interlaced GIF with ``optimize=False``
    (so Pillow keeps the palette and the indices as they are) and the raster is cut
    out of Pillow's file. It is then decoded again and compared with ``indices``.
    """
    h, w = indices.shape
    im = Image.frombytes("P", (w, h), indices.tobytes())
    im.putpalette(table, "RGB")
    buf = io.BytesIO()
    im.save(buf, format="GIF", optimize=False, interlace=False)
    parsed = _parse_gif(buf.getvalue(), "<Pillow output>")
    if len(parsed.frames) != 1:
        raise GifnetsError(f"Pillow wrote {len(parsed.frames)} frames for one image")
    raw = parsed.frames[0]
    if (raw.left, raw.top, raw.width, raw.height, raw.interlaced) != (0, 0, w, h, False):
        raise GifnetsError("Pillow wrote an unexpected image rectangle")
    decoded = _decode_raster(raw.width, raw.height, False, table, raw.lzw, "<Pillow output>")
    if not np.array_equal(decoded, indices):
        raise GifnetsError("Pillow's GIF encoder changed palette indices (Pillow version incompatible?)")
    return raw.lzw


def _graphic_control(disposal: int, delay_cs: int, transparent_index: int | None) -> bytes:
    packed = (disposal & 0x07) << 2 | (1 if transparent_index is not None else 0)
    return bytes([_EXTENSION, _GRAPHIC_CONTROL, 4, packed]) + struct.pack("<H", delay_cs) + bytes(
        [transparent_index or 0, 0]
    )


def _write_gif(
    frames: Sequence[tuple[np.ndarray, np.ndarray]],
    delays_cs: Sequence[int] | None,
    loop: int | None,
    transparent_index: int | None,
    comment: bytes | None,
) -> bytes:
    """Assemble a GIF89a file. ``delays_cs=None`` means a still image (no timing extension)."""
    h, w = frames[0][0].shape
    global_table, global_size = _color_table(frames[0][1])
    background = transparent_index if transparent_index is not None else 0
    out = bytearray(b"GIF89a")
    # Logical screen descriptor: global table flag, colour resolution 8 bits, table size.
    out += struct.pack("<HHBBB", w, h, 0x80 | 0x70 | global_size, background, 0)
    out += global_table
    if loop is not None:
        out += bytes([_EXTENSION, _APPLICATION, 11]) + _NETSCAPE[0] + b"\x03\x01" + struct.pack("<H", loop) + b"\x00"
    if comment:
        out += bytes([_EXTENSION, _COMMENT]) + _sub_blocks(comment)
    disposal = DISPOSE_BACKGROUND if transparent_index is not None else DISPOSE_NONE
    for n, (indices, palette) in enumerate(frames):
        table, size = _color_table(palette)
        if delays_cs is not None or transparent_index is not None:
            delay = 0 if delays_cs is None else delays_cs[n]
            out += _graphic_control(disposal if delays_cs is not None else 0, delay, transparent_index)
        local = table != global_table
        out += struct.pack("<BHHHHB", _IMAGE, 0, 0, w, h, (0x80 | size) if local else 0)
        if local:
            out += table
        out += _lzw_raster(indices, table)
    out += _TRAILER
    return bytes(out)


def _comment_bytes(comment) -> bytes | None:
    if comment is None:
        return None
    if isinstance(comment, str):
        return comment.encode("utf-8")
    if isinstance(comment, (bytes, bytearray, memoryview)):
        return bytes(comment)
    raise ValueError(f"comment must be str or bytes, got {type(comment).__name__}")


# ----------------------------------------------------------------------------
# Public encoders


def encode_gif(indices, palette, transparent_index: int | None = None, comment: str | bytes | None = None) -> bytes:
    """Encode one image as GIF89a bytes.

    Args:
      indices: uint8 ``[H, W]`` palette indices, all ``< K`` (other integer dtypes are
        accepted if their values fit).
      palette: uint8 ``[K, 3]`` RGB colours, ``1 <= K <= 256``. Written as a global
        colour table padded with black to ``max(2, 2**ceil(log2 K))`` entries.
      transparent_index: palette index (``< K``) that viewers show as transparent.
      comment: text stored in a GIF comment extension (UTF-8 if ``str``).

    Decoding the result gives back ``indices`` exactly and ``palette`` as the first
    ``K`` colour-table entries.
    """
    pal = _check_palette(palette)
    idx = _check_indices(indices, len(pal))
    t = _check_transparent_index(transparent_index, len(pal))
    return _write_gif([(idx, pal)], None, None, t, _comment_bytes(comment))


def encode_animation(
    frames: Sequence[tuple[np.ndarray, np.ndarray]],
    durations_ms: int | float | Sequence[int | float],
    loop: int | None = 0,
    transparent_index: int | None = None,
) -> bytes:
    """Encode an animated GIF89a.

    Args:
      frames: ``(indices [H, W], palette [K, 3])`` pairs, all the same ``H, W``. Each
        frame keeps its own palette: the first frame's is the global colour table,
        any frame with a different (padded) palette gets a local colour table.
        Every frame covers the whole canvas; frames are never cropped or merged.
      durations_ms: one duration for all frames or one per frame, in milliseconds
        (stored in hundredths of a second, rounded to the nearest 10 ms).
      loop: NETSCAPE2.0 loop count, ``0`` = loop forever, ``None`` = no loop
        extension (played once).
      transparent_index: index shown as transparent in every frame (must be ``<`` every
        frame's ``K``). Frames then use disposal "restore to background" so that the
        transparent pixels of a frame do not show the previous frame.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("an animation needs at least one frame")
    checked = []
    for n, item in enumerate(frames):
        try:
            indices, palette = item
        except (TypeError, ValueError):
            raise ValueError(f"frame {n} must be an (indices, palette) pair") from None
        pal = _check_palette(palette, f"frame {n} palette")
        idx = _check_indices(indices, len(pal), f"frame {n} indices")
        if idx.shape != (checked[0][0].shape if checked else idx.shape):
            raise ValueError(f"frame {n} has shape {idx.shape}, but frame 0 has {checked[0][0].shape}")
        _check_transparent_index(transparent_index, len(pal))
        checked.append((idx, pal))
    if np.ndim(durations_ms) == 0:
        delays = [_delay_cs(durations_ms)] * len(checked)
    else:
        durations = list(durations_ms)
        if len(durations) != len(checked):
            raise ValueError(f"got {len(durations)} durations for {len(checked)} frames")
        delays = [_delay_cs(d) for d in durations]
    if loop is not None:
        if isinstance(loop, (bool, np.bool_)) or not isinstance(loop, (int, np.integer)) or not 0 <= loop <= 65535:
            raise ValueError(f"loop must be None or an int in 0..65535 (0 = forever), got {loop!r}")
        loop = int(loop)
    t = None if transparent_index is None else int(transparent_index)
    return _write_gif(checked, delays, loop, t, None)


# ----------------------------------------------------------------------------
# Parsing and decoding


@dataclasses.dataclass
class _RawFrame:
    left: int
    top: int
    width: int
    height: int
    interlaced: bool
    table: bytes | None  # local or global colour table in effect
    lzw: bytes  # min code size byte + sub-blocks + terminator
    delay_cs: int
    disposal: int
    transparent_index: int | None


@dataclasses.dataclass
class _RawGif:
    version: str
    width: int
    height: int
    background: int
    loop: int | None
    comment: bytes | None
    frames: list[_RawFrame]


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name = data, 0, name

    def fail(self, reason: str):
        raise ImageLoadError(f"{self.name}: {reason}")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            self.fail("truncated GIF (unexpected end of data)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def sub_blocks(self) -> list[bytes]:
        blocks = []
        while True:
            n = self.byte()
            if n == 0:
                return blocks
            blocks.append(self.take(n))


def _parse_gif(data: bytes, name: str) -> _RawGif:
    r = _Reader(data, name)
    if len(data) < 13 or data[:3] != b"GIF":
        r.fail("not a GIF file (no GIF signature)")
    version = r.take(6)[3:].decode("latin-1")
    width, height, packed, background, _aspect = struct.unpack("<HHBBB", r.take(7))
    global_table = r.take(3 << ((packed & 7) + 1)) if packed & 0x80 else None
    loop, comment, frames = None, None, []
    gce = None  # (disposal, delay_cs, transparent_index) for the next image
    while r.pos < len(data):
        kind = r.byte()
        if kind == _TRAILER[0]:
            break
        if kind == _EXTENSION:
            label = r.byte()
            blocks = r.sub_blocks()
            if label == _GRAPHIC_CONTROL and blocks and len(blocks[0]) >= 4:
                p, delay, t = blocks[0][0], struct.unpack("<H", blocks[0][1:3])[0], blocks[0][3]
                gce = ((p >> 2) & 7, delay, t if p & 1 else None)
            elif label == _APPLICATION and blocks and blocks[0] in _NETSCAPE:
                if len(blocks) > 1 and len(blocks[1]) >= 3 and blocks[1][0] == 1:
                    loop = struct.unpack("<H", blocks[1][1:3])[0]
            elif label == _COMMENT:
                comment = (comment or b"") + b"".join(blocks)
        elif kind == _IMAGE:
            left, top, w, h, p = struct.unpack("<HHHHB", r.take(9))
            table = r.take(3 << ((p & 7) + 1)) if p & 0x80 else global_table
            start = r.pos
            r.byte()  # LZW minimum code size
            r.sub_blocks()
            if w == 0 or h == 0:
                r.fail(f"frame {len(frames)} has an empty rectangle {w}x{h}")
            disposal, delay, t = gce or (0, 0, None)
            frames.append(_RawFrame(left, top, w, h, bool(p & 0x40), table, data[start:r.pos], delay, disposal, t))
            gce = None
        else:
            r.fail(f"corrupt GIF (unknown block 0x{kind:02x} at byte {r.pos - 1})")
    if not frames:
        r.fail("GIF contains no image")
    return _RawGif(version, width, height, background, loop, comment, frames)


def _decode_raster(w: int, h: int, interlaced: bool, table: bytes | None, lzw: bytes, name: str) -> np.ndarray:
    """Decode one frame's LZW raster with Pillow, as a standalone one-frame GIF."""
    if table:
        size = len(table) // 3
        lsd = struct.pack("<HHBBB", w, h, 0x80 | (size.bit_length() - 2), 0, 0) + table
    else:
        lsd = struct.pack("<HHBBB", w, h, 0, 0, 0)
    mini = b"GIF89a" + lsd + struct.pack("<BHHHHB", _IMAGE, 0, 0, w, h, 0x40 if interlaced else 0) + lzw + _TRAILER
    try:
        with Image.open(io.BytesIO(mini), formats=["GIF"]) as im:
            im.load()
            if im.mode not in ("P", "L") or im.size != (w, h):
                raise ImageLoadError(f"{name}: unexpected decoded frame {im.mode} {im.size}")
            return np.array(im, dtype=np.uint8)
    except ImageLoadError:
        raise
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, ... for corrupt data
        raise ImageLoadError(f"{name}: corrupt GIF image data ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _read_source(data_or_path) -> tuple[bytes, str]:
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return bytes(data_or_path), "<GIF bytes>"
    if isinstance(data_or_path, (str, os.PathLike)):
        name = os.fspath(data_or_path)
        try:
            with open(name, "rb") as f:
                return f.read(), name
        except FileNotFoundError:
            raise ImageLoadError(f"{name}: file not found") from None
        except IsADirectoryError:
            raise ImageLoadError(f"{name}: is a directory, not a GIF file") from None
        except OSError as e:
            raise ImageLoadError(f"{name}: cannot read ({e.strerror or e})") from None
    raise TypeError(f"expected GIF bytes or a path, got {type(data_or_path).__name__}")


def read_gif_info(data_or_path) -> GifInfo:
    """Header facts of a GIF (version, canvas size, frame count, loop count, comment)."""
    data, name = _read_source(data_or_path)
    g = _parse_gif(data, name)
    return GifInfo(g.version, g.width, g.height, len(g.frames), g.loop, g.comment, g.background)


def _frames(g: _RawGif, name: str, limit: int | None = None) -> list[Frame]:
    frames = []
    for raw in g.frames[:limit]:
        indices = _decode_raster(raw.width, raw.height, raw.interlaced, raw.table, raw.lzw, name)
        if raw.table:
            palette = np.frombuffer(raw.table, np.uint8).reshape(-1, 3).copy()
        else:  # no colour table at all: decoders conventionally use a grey ramp
            palette = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
        frames.append(Frame(indices, palette, raw.delay_cs * 10, raw.transparent_index, raw.left, raw.top,
                            raw.disposal))
    return frames


def decode_gif(data_or_path) -> list[Frame]:
    """Every frame of a GIF (bytes or path) with its raw indices and colour table.

    Frames are not composited: each :class:`Frame` holds what the file stores for it.
    Raises :class:`ImageLoadError` for missing, truncated or corrupt files.
    """
    data, name = _read_source(data_or_path)
    return _frames(_parse_gif(data, name), name)


def decode_gif_rgb(data_or_path) -> np.ndarray:
    """The first frame as uint8 ``[H, W, 3]`` RGB on the GIF's canvas: ``palette[indices]``.

    Transparent pixels keep their palette colour; canvas pixels the frame does not
    cover are black.
    """
    data, name = _read_source(data_or_path)
    g = _parse_gif(data, name)
    frame = _frames(g, name, limit=1)[0]
    full = np.zeros((256, 3), np.uint8)
    full[: len(frame.palette)] = frame.palette[:256]
    canvas = np.zeros((g.height, g.width, 3), np.uint8)
    h = max(0, min(frame.indices.shape[0], g.height - frame.top))
    w = max(0, min(frame.indices.shape[1], g.width - frame.left))
    canvas[frame.top:frame.top + h, frame.left:frame.left + w] = full[frame.indices[:h, :w]]
    return canvas


# Safe output lives in gif_pipeline.io.files; these names stay here for the Python API.
from gif_pipeline.io.files import atomic_write, plan_outputs  # noqa: E402,F401
