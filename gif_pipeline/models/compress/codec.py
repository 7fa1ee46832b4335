"""The ``.gcz`` file format and the Python codec around :class:`~.graph.CompressionGraph` (not in the paper).

A file (version 1) is a small header and the range-coded symbols (:mod:`.entropy`)::

    b"GC"  version:u8  model_id:4 bytes  flags:u8  width:uvarint  height:uvarint  [keep region]  crc:u16  payload

* ``model_id``: the first 4 bytes of the SHA-256 of the model's weights (:func:`model_id`): a file decodes only
  with the weights that wrote it;
* ``flags``: bits 0-3 the latent channels C, bits 4-5 the keep region's kind (0 everything, 1 a box of latent
  cells: x, y, w, h as uvarints, 2 a bit map of the latent grid, packed), bit 6 the mode (1: GAN, 0: MSE);
* ``crc``: the low 16 bits of CRC-32 over every byte before it and the payload (a truncated or corrupted file is
  caught).

Every error of a file is a :class:`BitstreamError` (one line).
"""
from __future__ import annotations

import dataclasses
import hashlib
import zlib

import numpy as np

from gif_pipeline.errors import GifnetsError
from gif_pipeline.models.compress import entropy
from gif_pipeline.models.compress.config import DOWNSAMPLING

MAGIC = b"GC"
VERSION = 1
MIN_SIDE = DOWNSAMPLING
KEEP_ALL, KEEP_BOX, KEEP_MAP = 0, 1, 2


class BitstreamError(GifnetsError):
    """A .gcz file is truncated, corrupted, of another version, or for a model that is not installed."""


class KeepRegionError(GifnetsError):
    """A keep box or mask does not fit the image."""


def model_id(compressor) -> bytes:
    """4 bytes that identify a compressor's weights (and config)."""
    digest = hashlib.sha256(repr(sorted(compressor.config.to_dict().items())).encode())
    for w in compressor.get_weights():
        digest.update(np.ascontiguousarray(w, "<f4").tobytes())
    return digest.digest()[:4]


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise BitstreamError("truncated or corrupted header")
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, pos


@dataclasses.dataclass(frozen=True)
class Header:
    model_id: bytes
    channels: int
    gan: bool
    width: int
    height: int
    keep: np.ndarray  # [h, w] uint8, the latent keep grid
    payload: bytes

    @property
    def grid(self) -> tuple[int, int]:
        return -(-self.height // DOWNSAMPLING), -(-self.width // DOWNSAMPLING)


def _box_of(keep: np.ndarray):
    """(x, y, w, h) in cells when ``keep``'s ones are one rectangle, else None."""
    ys, xs = np.nonzero(keep)
    if len(ys) == 0:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    if keep[y0:y1, x0:x1].all() and len(ys) == (y1 - y0) * (x1 - x0):
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)
    return None


def write(model_id_: bytes, channels: int, gan: bool, width: int, height: int, keep: np.ndarray, payload: bytes) -> bytes:
    """Header + payload bytes (see the module docstring)."""
    if not 1 <= channels <= 15:
        raise ValueError(f"channels must be in 1..15, got {channels}")
    box = _box_of(keep)
    if keep.all():
        kind, region = KEEP_ALL, b""
    elif box is not None:
        kind, region = KEEP_BOX, b"".join(_uvarint(v) for v in box)
    else:
        kind, region = KEEP_MAP, np.packbits(keep.astype(bool).ravel()).tobytes()
    head = (MAGIC + bytes([VERSION]) + model_id_ + bytes([channels | kind << 4 | int(gan) << 6])
            + _uvarint(width) + _uvarint(height) + region)
    crc = zlib.crc32(head + payload) & 0xFFFF
    return head + crc.to_bytes(2, "little") + payload


def read(data: bytes) -> Header:
    """Parse and check a file's bytes; BitstreamError on any problem."""
    if len(data) < 3 or data[:2] != MAGIC:
        raise BitstreamError("not a gifnets compressed image (wrong magic)")
    if data[2] != VERSION:
        raise BitstreamError(f"unsupported .gcz version {data[2]} (this gifnets reads version {VERSION})")
    if len(data) < 8:
        raise BitstreamError("truncated header")
    mid, flags = data[3:7], data[7]
    channels, kind, gan = flags & 0x0F, (flags >> 4) & 0x03, bool(flags >> 6 & 1)
    width, pos = _read_uvarint(data, 8)
    height, pos = _read_uvarint(data, pos)
    if channels == 0 or kind > KEEP_MAP or width < MIN_SIDE or height < MIN_SIDE or width > 1 << 16 or height > 1 << 16:
        raise BitstreamError("corrupted header")
    h, w = -(-height // DOWNSAMPLING), -(-width // DOWNSAMPLING)
    keep = np.ones((h, w), np.uint8)
    if kind == KEEP_BOX:
        box = []
        for _ in range(4):
            v, pos = _read_uvarint(data, pos)
            box.append(v)
        x0, y0, bw, bh = box
        if bw < 1 or bh < 1 or x0 + bw > w or y0 + bh > h:
            raise BitstreamError("corrupted header (keep box outside the image)")
        keep[:] = 0
        keep[y0:y0 + bh, x0:x0 + bw] = 1
    elif kind == KEEP_MAP:
        n = -(-(h * w) // 8)
        if pos + n > len(data):
            raise BitstreamError("truncated header")
        keep = np.unpackbits(np.frombuffer(data[pos:pos + n], np.uint8))[:h * w].reshape(h, w)
        pos += n
    if pos + 2 > len(data):
        raise BitstreamError("truncated header")
    crc = int.from_bytes(data[pos:pos + 2], "little")
    payload = data[pos + 2:]
    if zlib.crc32(data[:pos] + payload) & 0xFFFF != crc:
        raise BitstreamError("the file is truncated or corrupted (checksum mismatch)")
    return Header(mid, channels, gan, width, height, keep, payload)


def keep_mask(height: int, width: int, box=None, mask=None) -> np.ndarray:
    """The pixel keep mask [H, W] uint8 from a box (x, y, w, h in pixels) or a mask array (nonzero: keep)."""
    if box is not None and mask is not None:
        raise KeepRegionError("give a keep box or a mask, not both")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask.max(axis=-1)
        if mask.shape != (height, width):
            raise KeepRegionError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the image {width}x{height}")
        return (mask > 0).astype(np.uint8)
    out = np.ones((height, width), np.uint8)
    if box is not None:
        x, y, w, h = (int(v) for v in box)
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise KeepRegionError(f"keep box {x},{y},{w},{h} is not inside the {width}x{height} image")
        out[:] = 0
        out[y:y + h, x:x + w] = 1
    return out


@dataclasses.dataclass
class Stats:
    bytes: int
    bpp: float
    bound_bpp: float  # dim(w_hat) log2 L over the pixels (kept cells only)
    bound_full_bpp: float  # the paper's bound, every cell: C log2 L / 256
    ideal_bpp: float  # the entropy model's information content (no header, no coder overhead)
    kept_fraction: float


class Codec:
    """Compress uint8 RGB images to .gcz bytes and back with one compressor (any size >= 16 px)."""

    def __init__(self, compressor, gan: bool):
        from gif_pipeline.models.compress.graph import CompressionGraph

        self.compressor = compressor
        self.config = compressor.config
        self.gan = gan
        self.graph = CompressionGraph(compressor)
        self.id = model_id(compressor)
        self.prior = np.asarray(compressor.entropy_prior.numpy(), np.float64)

    def compress(self, rgb: np.ndarray, box=None, mask=None) -> tuple[bytes, Stats]:
        rgb = np.asarray(rgb, np.uint8)
        height, width = rgb.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise KeepRegionError(f"the image is {width}x{height}: compression needs at least {MIN_SIDE} px per side")
        keep_px = keep_mask(height, width, box, mask)
        out = self.graph.compress(rgb[None], keep_px[None, ..., None])
        symbols, keep = out["symbols"].numpy()[0], out["keep"].numpy()[0, ..., 0]
        payload = entropy.encode(symbols, keep, self.prior, self.config.num_centers)
        data = write(self.id, self.config.channels, self.gan, width, height, keep, payload)
        pixels = width * height
        per_symbol = np.log2(self.config.num_centers)
        stats = Stats(len(data), 8 * len(data) / pixels, float(keep.sum()) * self.config.channels * per_symbol / pixels,
                      self.config.bound_bpp(), entropy.ideal_bits(symbols, keep, self.prior, self.config.num_centers) / pixels,
                      float(keep.mean()))
        return data, stats

    def symbols_of(self, header: Header) -> np.ndarray:
        if header.model_id != self.id:
            raise BitstreamError(f"the file was written by model {header.model_id.hex()}, not this one ({self.id.hex()})")
        if header.channels != self.config.channels:
            raise BitstreamError(f"the file has C={header.channels}, the model C={self.config.channels}")
        try:
            return entropy.decode(header.payload, header.keep, self.prior, self.config.num_centers, self.config.channels)
        except (ValueError, RuntimeError, AssertionError) as e:
            raise BitstreamError(f"corrupted payload ({e})") from None

    def decompress(self, data: bytes | Header) -> np.ndarray:
        header = data if isinstance(data, Header) else read(data)
        symbols = self.symbols_of(header)
        out = self.graph.decompress(symbols[None], header.keep[None, ..., None].astype(np.uint8),
                                    np.array([header.height, header.width], np.int32))
        return out["image"].numpy()[0]


def fit_prior(compressor, images, keep_masks=None) -> np.ndarray:
    """Context counts [C, L, L, L] of a compressor's symbols over ``images`` (uint8 [H, W, 3]), plus one (Laplace);
    assign them to ``compressor.entropy_prior`` to ship them."""
    from gif_pipeline.models.compress.graph import CompressionGraph

    graph = CompressionGraph(compressor)
    c, n = compressor.config.channels, compressor.config.num_centers
    counts = np.ones((c, n, n, n), np.int64)
    for i, rgb in enumerate(images):
        keep_px = np.ones(rgb.shape[:2], np.uint8) if keep_masks is None else keep_masks[i]
        out = graph.compress(rgb[None], keep_px[None, ..., None])
        counts += entropy.context_counts(out["symbols"].numpy()[0], out["keep"].numpy()[0, ..., 0], n)
    return counts
