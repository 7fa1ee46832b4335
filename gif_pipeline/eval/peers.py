"""The GIF tools people already use ("peers"), wrapped so that they compare with gifnets.

Every peer maps a uint8 RGB image ``[H, W, 3]`` and a colour budget ``n`` (the paper's
``Np``) to a real GIF file and returns a :class:`PeerResult` with the GIF's bytes, the
RGB decoded back *from those bytes*, and the time it took.

Peers (names as in :data:`PEERS`):

* ``pillow-mediancut:none`` / ``pillow-mediancut:fs`` - Pillow's median cut
  (``Image.quantize(colors=n, method=MEDIANCUT)``, Heckbert 1982, the GIFnets paper's
  baseline); the ``fs`` variant remaps the image onto that palette with Pillow's
  Floyd-Steinberg error diffusion.
* ``kmeans-ref:none`` - Lloyd k-means in TF (:func:`gif_pipeline.quant.palettes.kmeans`,
  median-cut init, :data:`KMEANS_REF_ITERATIONS` iterations), nearest-colour mapping:
  the quality reference for palettes (it minimises Eq. 2's quantisation error directly).
  scikit-learn is not installed here, so the project's TF implementation is used.
* ``libimagequant:d0`` / ``libimagequant:d1`` - libimagequant (pngquant's library,
  through the ``imagequant`` wheel) with ``dithering_level`` 0.0 and 1.0.
* ``ffmpeg:none`` / ``ffmpeg:sierra2_4a`` / ``ffmpeg:bayer`` - ffmpeg's ``palettegen``
  (``max_colors=n:reserve_transparent=0:stats_mode=full``) + ``paletteuse`` with that
  dither, run by the ffmpeg binary of the ``imageio-ffmpeg`` wheel. The GIF is ffmpeg's
  own output, byte for byte (ffmpeg always writes a 256-entry colour table and 8-bit LZW
  codes, which makes its files larger at small ``n``; that is what its users get).
* ``pngquant:nofs`` / ``pngquant:fs`` - the ``pngquant`` command (``--nofs`` and its
  default dithering), when it is on ``PATH``. Its 8-bit PNG's indices and palette are
  written as a GIF.

All peers except ffmpeg produce ``(indices, palette)``; those are written with
:func:`gif_pipeline.io.gif.encode_gif`, the same writer gifnets uses, so GIF bytes compare
the palettes/index maps and not the writers.

Timing (``PeerResult.seconds``): wall-clock time from the RGB array in memory to the GIF
bytes in memory - palette + mapping + GIF (LZW) writing, for every peer and for gifnets'
:func:`gif_pipeline.encode.encode_image` alike. For the command-line peers (ffmpeg,
pngquant) it includes starting the process and piping the image in and the file out
(raw RGB for ffmpeg, an uncompressed-ish PNG for pngquant), which is the real cost of
calling them. Decoding the GIF back to RGB is not timed.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import shutil
import subprocess
import time
from typing import Callable

import numpy as np
from PIL import Image

from gif_pipeline.config import check_num_colors
from gif_pipeline.errors import GifnetsError
from gif_pipeline.io import gif as gif_io

__all__ = [
    "KMEANS_REF_ITERATIONS",
    "PEERS",
    "Peer",
    "PeerError",
    "PeerResult",
    "PeerUnavailableError",
    "available_peers",
    "count_colors",
    "run_peer",
]

#: Lloyd iterations of the k-means quality reference (more than the encoder's default).
KMEANS_REF_ITERATIONS = 20
#: Seconds before an external tool (ffmpeg, pngquant) is abandoned.
TOOL_TIMEOUT_S = 120


class PeerError(GifnetsError):
    """A peer tool failed or returned something that is not a valid n-colour image."""


class PeerUnavailableError(PeerError):
    """A peer cannot run on this machine (missing wheel or binary); the message says why."""


@dataclasses.dataclass
class PeerResult:
    """One peer's GIF for one image and colour budget.

    ``rgb`` is decoded from ``gif_bytes``. ``indices``/``palette`` are the index map and
    palette the peer produced (``None`` for ffmpeg, which writes the GIF itself).
    """

    name: str
    gif_bytes: bytes
    rgb: np.ndarray  # uint8 [H, W, 3]
    seconds: float
    indices: np.ndarray | None = None  # uint8 [H, W]
    palette: np.ndarray | None = None  # uint8 [K, 3]


@dataclasses.dataclass(frozen=True)
class Peer:
    """A named peer: ``encode(rgb, n) -> (gif_bytes, indices|None, palette|None)``.

    ``unavailable()`` returns ``None`` when the peer can run, else the reason it cannot.
    """

    name: str
    description: str
    encode: Callable[[np.ndarray, int], tuple[bytes, np.ndarray | None, np.ndarray | None]]
    unavailable: Callable[[], str | None]


# ----------------------------------------------------------------------------
# Helpers


def _check_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB image, got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def count_colors(rgb: np.ndarray) -> int:
    """Number of distinct RGB colours in a uint8 ``[H, W, 3]`` image."""
    from gif_pipeline.quant.dithering import pack_colours

    return int(np.unique(pack_colours(rgb)).size)


def _pil_indices_palette(im: Image.Image, n: int, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices and palette of a Pillow ``P`` image, palette cut to the entries in use."""
    if im.mode != "P":
        raise PeerError(f"{who} returned a {im.mode} image, expected a palette (P) image")
    indices = np.asarray(im, dtype=np.uint8)
    flat = im.getpalette("RGB") or []
    palette = np.asarray(flat, np.uint8).reshape(-1, 3)
    return _trim(indices, palette, n, who)


def _trim(indices: np.ndarray, palette: np.ndarray, n: int, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Keep palette entries ``0..max(index)``; check the result uses at most ``n`` colours."""
    k = int(indices.max()) + 1
    if k > len(palette):
        raise PeerError(f"{who} produced index {k - 1} but its palette has only {len(palette)} entries")
    palette = np.ascontiguousarray(palette[:k])
    used = np.unique(indices).size
    if used > n:
        raise PeerError(f"{who} used {used} colours, more than the {n} asked for")
    if k > n:  # unused gaps in the palette: compact so that K <= n
        keep = np.unique(indices)
        remap = np.zeros(k, np.uint8)
        remap[keep] = np.arange(keep.size, dtype=np.uint8)
        indices, palette = remap[indices], palette[keep]
    return indices, palette


def _run_tool(cmd: list[str], data: bytes, who: str) -> bytes:
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise PeerError(f"{who} timed out after {TOOL_TIMEOUT_S} s") from e
    except OSError as e:
        raise PeerUnavailableError(f"{who} could not be started: {e}") from e
    if proc.returncode != 0 or not proc.stdout:
        tail = " | ".join(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:])
        raise PeerError(f"{who} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


# ----------------------------------------------------------------------------
# Pillow median cut


def _pillow_mediancut(rgb: np.ndarray, n: int, fs: bool):
    image = Image.fromarray(rgb, "RGB")
    quantized = image.quantize(colors=n, method=Image.Quantize.MEDIANCUT)
    if fs:  # remap onto the median-cut palette with Floyd-Steinberg error diffusion
        quantized = image.quantize(palette=quantized, dither=Image.Dither.FLOYDSTEINBERG)
    indices, palette = _pil_indices_palette(quantized, n, "Pillow median cut")
    return gif_io.encode_gif(indices, palette), indices, palette


# ----------------------------------------------------------------------------
# k-means quality reference (the project's TF Lloyd)


def _kmeans_ref(rgb: np.ndarray, n: int):
    from gif_pipeline.quant import dithering, palettes

    palette = palettes.kmeans(rgb, n, iterations=KMEANS_REF_ITERATIONS, init="median-cut", seed=0)
    indices = dithering.remap(rgb, palette, "none")
    indices, palette = _trim(indices, np.asarray(palette, np.uint8), n, "k-means")
    return gif_io.encode_gif(indices, palette), indices, palette


def _kmeans_unavailable() -> str | None:
    try:
        from gif_pipeline.quant import (
            dithering,  # noqa: F401
            palettes,  # noqa: F401
        )
    except ImportError as e:
        return f"gif_pipeline.quant.palettes/dithering not importable: {e}"
    return None


# ----------------------------------------------------------------------------
# libimagequant (imagequant wheel)


def _imagequant_unavailable() -> str | None:
    try:
        import imagequant  # noqa: F401
    except ImportError:
        return "the imagequant wheel is not installed (pip install imagequant)"
    return None


def _libimagequant(rgb: np.ndarray, n: int, dithering_level: float):
    import imagequant

    h, w = rgb.shape[:2]
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = rgb
    rgba[..., 3] = 255
    try:
        raw, flat = imagequant.quantize_raw_rgba_bytes(
            rgba.tobytes(), w, h, dithering_level=dithering_level, max_colors=n, min_quality=0, max_quality=100)
    except RuntimeError as e:
        raise PeerError(f"libimagequant failed: {e}") from e
    indices = np.frombuffer(raw, np.uint8).reshape(h, w)
    palette = np.asarray(flat, np.uint8).reshape(-1, 4)[:, :3]
    indices, palette = _trim(indices, palette, n, "libimagequant")
    return gif_io.encode_gif(indices, palette), indices, palette


# ----------------------------------------------------------------------------
# ffmpeg palettegen + paletteuse (imageio-ffmpeg binary)


@functools.lru_cache(maxsize=1)
def _ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # ImportError, or RuntimeError when the binary is missing
        return None


def _ffmpeg_unavailable() -> str | None:
    return None if _ffmpeg_exe() else "no ffmpeg binary (pip install imageio-ffmpeg)"


def _ffmpeg(rgb: np.ndarray, n: int, dither: str):
    exe = _ffmpeg_exe()
    if exe is None:
        raise PeerUnavailableError(_ffmpeg_unavailable())
    h, w = rgb.shape[:2]
    graph = (f"[0:v]split[a][b];[a]palettegen=max_colors={n}:reserve_transparent=0:stats_mode=full[p];"
             f"[b][p]paletteuse=dither={dither}")
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "pipe:0",
           "-filter_complex", graph, "-frames:v", "1", "-f", "gif", "pipe:1"]
    return _run_tool(cmd, rgb.tobytes(), f"ffmpeg paletteuse={dither}"), None, None


# ----------------------------------------------------------------------------
# pngquant (command line)


def _pngquant_unavailable() -> str | None:
    return None if shutil.which("pngquant") else "pngquant is not on PATH (apt-get install pngquant)"


def _pngquant(rgb: np.ndarray, n: int, fs: bool):
    exe = shutil.which("pngquant")
    if exe is None:
        raise PeerUnavailableError(_pngquant_unavailable())
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG", compress_level=1)
    cmd = [exe, "--force"] + ([] if fs else ["--nofs"]) + [str(n), "-"]
    png = _run_tool(cmd, buf.getvalue(), "pngquant")
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        if "transparency" in im.info:
            raise PeerError("pngquant wrote transparency for an opaque image")
        indices, palette = _pil_indices_palette(im, n, "pngquant")
    return gif_io.encode_gif(indices, palette), indices, palette


# ----------------------------------------------------------------------------
# Registry


def _peer(name, description, encode, unavailable=lambda: None) -> Peer:
    return Peer(name, description, encode, unavailable)


#: Every peer by name, in report order. Adding a peer is one entry here.
PEERS: dict[str, Peer] = {p.name: p for p in [
    _peer("pillow-mediancut:none", "Pillow median cut, nearest colour",
          lambda rgb, n: _pillow_mediancut(rgb, n, fs=False)),
    _peer("pillow-mediancut:fs", "Pillow median cut, Floyd-Steinberg",
          lambda rgb, n: _pillow_mediancut(rgb, n, fs=True)),
    _peer("kmeans-ref:none", f"k-means (TF Lloyd, {KMEANS_REF_ITERATIONS} it.), nearest colour",
          _kmeans_ref, _kmeans_unavailable),
    _peer("libimagequant:d0", "libimagequant, dithering_level=0",
          lambda rgb, n: _libimagequant(rgb, n, 0.0), _imagequant_unavailable),
    _peer("libimagequant:d1", "libimagequant, dithering_level=1",
          lambda rgb, n: _libimagequant(rgb, n, 1.0), _imagequant_unavailable),
    _peer("ffmpeg:none", "ffmpeg palettegen + paletteuse dither=none",
          lambda rgb, n: _ffmpeg(rgb, n, "none"), _ffmpeg_unavailable),
    _peer("ffmpeg:sierra2_4a", "ffmpeg palettegen + paletteuse dither=sierra2_4a",
          lambda rgb, n: _ffmpeg(rgb, n, "sierra2_4a"), _ffmpeg_unavailable),
    _peer("ffmpeg:bayer", "ffmpeg palettegen + paletteuse dither=bayer",
          lambda rgb, n: _ffmpeg(rgb, n, "bayer"), _ffmpeg_unavailable),
    _peer("pngquant:nofs", "pngquant --nofs", lambda rgb, n: _pngquant(rgb, n, fs=False), _pngquant_unavailable),
    _peer("pngquant:fs", "pngquant (default dithering)", lambda rgb, n: _pngquant(rgb, n, fs=True),
          _pngquant_unavailable),
]}


def available_peers(names=None) -> tuple[list[Peer], dict[str, str]]:
    """``(runnable peers, {skipped name: reason})`` for ``names`` (default: all, in order)."""
    names = list(PEERS) if names is None else list(names)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer(s) {unknown}; choose from {list(PEERS)}")
    ok, skipped = [], {}
    for name in names:
        reason = PEERS[name].unavailable()
        if reason is None:
            ok.append(PEERS[name])
        else:
            skipped[name] = reason
    return ok, skipped


def run_peer(name: str, rgb, colors: int) -> PeerResult:
    """Encode ``rgb`` with peer ``name`` using at most ``colors`` colours; time it; decode the GIF.

    Raises :class:`PeerUnavailableError` if the peer cannot run here, :class:`PeerError`
    if it fails or breaks the colour budget, ValueError for bad arguments.
    """
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; choose from {list(PEERS)}")
    check_num_colors(colors)
    rgb = _check_rgb(rgb)
    peer = PEERS[name]
    reason = peer.unavailable()
    if reason is not None:
        raise PeerUnavailableError(f"{name}: {reason}")
    start = time.perf_counter()
    gif_bytes, indices, palette = peer.encode(rgb, colors)
    seconds = time.perf_counter() - start
    try:
        decoded = gif_io.decode_gif_rgb(gif_bytes)
    except GifnetsError as e:
        raise PeerError(f"{name} wrote a GIF that does not decode: {e}") from e
    if decoded.shape != rgb.shape:
        raise PeerError(f"{name} wrote a {decoded.shape[1]}x{decoded.shape[0]} GIF for a "
                        f"{rgb.shape[1]}x{rgb.shape[0]} image")
    if indices is not None and not np.array_equal(decoded, palette[indices]):
        raise PeerError(f"{name}: the GIF does not decode to its own palette[indices]")
    distinct = count_colors(decoded)
    if distinct > colors:
        raise PeerError(f"{name} wrote a GIF with {distinct} distinct colours, more than {colors}")
    return PeerResult(name, gif_bytes, decoded, seconds, indices, palette)
